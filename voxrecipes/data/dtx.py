"""Chunk long recordings at silences found by the Opus codec's DTX (discontinuous transmission).

The toxicity paper splits voice-chat audio "into chunks using the Opus codec's DTX
extension": a VoIP encoder with DTX stops sending full packets while nobody speaks.
This module runs a real libopus encoder over the recording and reads its decisions.

Encoder (``opuslib`` 3 over the system's ``libopus0``; PyAV's libopus encoder did not
apply ``dtx`` here, see DESIGN.md): ``opus_encoder_create(16000 Hz, 1 channel,
OPUS_APPLICATION_VOIP)``, ``OPUS_SET_DTX(1)``, everything else at libopus's defaults
(automatic bitrate, complexity 9 or 10, in-band VAD), one ``opus_encode`` per 20 ms frame
(320 samples of 16-bit PCM; a last partial frame is zero-padded).

Rule:

1. a frame is *silent* when its packet has at most ``max_dtx_bytes`` bytes (DTX sends
   0-2 byte packets, or none, for frames it suppresses);
2. during DTX the encoder still sends one normal packet about every 400 ms to refresh
   the comfort noise: a run of at most ``keepalive_frames`` non-silent frames with
   silent frames on both sides is silent too;
3. the recording is cut at every silent run of at least ``min_gap`` seconds; a chunk
   spans its first to its last non-silent frame (frame boundaries, 20 ms resolution);
4. a chunk longer than ``max_chunk`` seconds is split at its longest inner silent run
   (any length), again until none is too long (a chunk with no inner silence is cut
   into equal parts); chunks shorter than ``min_chunk`` seconds are dropped. The paper's
   evaluation chunks are 1-60 s.

What the encoder does to the boundaries (measured on the generated sessions, see the
tests): a chunk starts within one or two frames of the speech onset, and ends about
0.2 s (clean) to 0.4 s (background noise at 30 dB SNR) after the speech, the VAD's
hangover. libopus learns the noise floor during the first seconds of a stream: in a
noisy recording the first 3-4 s are sent in full, so the first chunk may start at 0.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from voxrecipes.errors import ConfigError, DataError

logger = logging.getLogger(__name__)

SAMPLE_RATE = 16000
FRAME_SECONDS = 0.02
#: buffer handed to opus_encode for one packet (libopus recommends 4000 bytes)
MAX_PACKET_BYTES = 4000


@dataclass(frozen=True)
class DtxConfig:
    """The chunking rule's parameters (the recipe's ``conf/dtx.yaml``)."""

    max_dtx_bytes: int = 2
    keepalive_frames: int = 1
    min_gap: float = 0.5
    min_chunk: float = 1.0
    max_chunk: float = 60.0

    def validate(self) -> None:
        if self.max_dtx_bytes < 0 or self.keepalive_frames < 0:
            raise ConfigError("max_dtx_bytes and keepalive_frames must be >= 0")
        if self.min_gap < FRAME_SECONDS:
            raise ConfigError(f"min_gap must be at least one frame ({FRAME_SECONDS} s), got {self.min_gap}")
        if not 0 <= self.min_chunk < self.max_chunk:
            raise ConfigError(f"need 0 <= min_chunk < max_chunk, got {self.min_chunk} and {self.max_chunk}")


def opus_packet_sizes(pcm: np.ndarray, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Bytes of the Opus packet of every 20 ms frame of mono int16 ``pcm`` (DTX on, VOIP)."""
    import opuslib
    import opuslib.api.ctl as ctl
    import opuslib.api.encoder as encoder

    if pcm.dtype != np.int16 or pcm.ndim != 1:
        raise ValueError("pcm must be a 1-d int16 array")
    frame = int(round(FRAME_SECONDS * sample_rate))
    n_frames = -(-len(pcm) // frame)
    padded = np.zeros(n_frames * frame, dtype="<i2")
    padded[:len(pcm)] = pcm
    state = encoder.create_state(sample_rate, 1, opuslib.APPLICATION_VOIP)
    try:
        encoder.encoder_ctl(state, ctl.set_dtx, 1)
        data = padded.tobytes()
        step = frame * 2
        return np.array([len(encoder.encode(state, data[i * step:(i + 1) * step], frame, MAX_PACKET_BYTES))
                         for i in range(n_frames)], dtype=np.int64)
    finally:
        encoder.destroy(state)


def speech_mask(sizes: np.ndarray, cfg: DtxConfig) -> np.ndarray:
    """Rules 1-2: True for the frames DTX treats as speech."""
    speech = sizes > cfg.max_dtx_bytes
    if cfg.keepalive_frames > 0:
        for start, end in runs(speech, True):
            if end - start <= cfg.keepalive_frames and start > 0 and end < len(speech):
                speech[start:end] = False
    return speech


def runs(mask: np.ndarray, value: bool) -> list[tuple[int, int]]:
    """``[start, end)`` frame ranges where ``mask == value``."""
    m = np.concatenate([[False], mask == value, [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(m))
    return [(int(a), int(b)) for a, b in zip(edges[0::2], edges[1::2], strict=True)]


def _split_long(start: int, end: int, speech: np.ndarray, max_frames: int) -> list[tuple[int, int]]:
    """Rule 4: split ``[start, end)`` at its longest inner silence until every part fits ``max_frames``."""
    if end - start <= max_frames:
        return [(start, end)]
    gaps = runs(speech[start:end], False)
    if gaps:
        a, b = max(gaps, key=lambda g: (g[1] - g[0], -g[0]))
        return _split_long(start, start + a, speech, max_frames) + _split_long(start + b, end, speech, max_frames)
    parts = -(-(end - start) // max_frames)
    bounds = np.linspace(start, end, parts + 1).round().astype(int)
    return [(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]


def chunk_frames(speech: np.ndarray, cfg: DtxConfig) -> tuple[list[tuple[int, int]], int]:
    """Rules 3-4 on a speech mask: ``([start, end) frame ranges of the chunks], number dropped as too short)``."""
    min_gap = int(round(cfg.min_gap / FRAME_SECONDS))
    voiced = runs(speech, True)
    chunks: list[tuple[int, int]] = []
    for start, end in voiced:
        if chunks and start - chunks[-1][1] < min_gap:
            chunks[-1] = (chunks[-1][0], end)
        else:
            chunks.append((start, end))
    max_frames = int(np.floor(cfg.max_chunk / FRAME_SECONDS))
    split = [part for start, end in chunks for part in _split_long(start, end, speech, max_frames)]
    min_frames = cfg.min_chunk / FRAME_SECONDS
    kept = [(a, b) for a, b in split if b - a >= min_frames - 1e-9]
    return kept, len(split) - len(kept)


@dataclass
class DtxResult:
    """Chunks of one recording in seconds, and what the encoder did."""

    chunks: list[tuple[float, float]]
    dropped: int
    speech_seconds: float
    frames: int


def read_mono_16k(path: str | Path) -> np.ndarray:
    """A 16 kHz mono recording as int16; other rates, several channels or unreadable files are DataErrors."""
    import soundfile

    path = Path(path)
    try:
        info = soundfile.info(str(path))
    except Exception as err:  # soundfile raises its own types for missing, corrupt or unsupported files
        raise DataError(path, None, f"cannot read audio: {err}") from None
    if info.samplerate != SAMPLE_RATE:
        raise DataError(path, None, f"sample rate {info.samplerate} Hz; the Opus DTX segmenter needs {SAMPLE_RATE} "
                                    f"Hz (convert first, e.g. sox in.wav -r {SAMPLE_RATE} out.wav)")
    if info.channels != 1:
        raise DataError(path, None, f"{info.channels} channels; the segmenter needs mono (mix or pick a channel "
                                    "first, e.g. sox in.wav -c 1 out.wav)")
    pcm, _ = soundfile.read(str(path), dtype="int16")
    return pcm


def segment_recording(path: str | Path, cfg: DtxConfig) -> DtxResult:
    """Encode ``path`` with DTX and cut it into chunks (see the module docstring for the rule)."""
    cfg.validate()
    pcm = read_mono_16k(path)
    if len(pcm) < cfg.min_chunk * SAMPLE_RATE or len(pcm) == 0:
        raise DataError(path, None, f"{len(pcm) / SAMPLE_RATE:.2f} s of audio, shorter than the shortest chunk "
                                    f"(min_chunk {cfg.min_chunk} s)")
    sizes = opus_packet_sizes(pcm)
    speech = speech_mask(sizes, cfg)
    frames, dropped = chunk_frames(speech, cfg)
    duration = len(pcm) / SAMPLE_RATE
    chunks = [(round(a * FRAME_SECONDS, 3), round(min(b * FRAME_SECONDS, duration), 3)) for a, b in frames]
    return DtxResult(chunks=chunks, dropped=dropped, speech_seconds=float(speech.sum()) * FRAME_SECONDS,
                     frames=len(sizes))
