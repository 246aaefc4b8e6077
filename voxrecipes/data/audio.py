"""Audio of a data directory: wav.scp entries (paths or ``cmd |`` pipes) and segments.

A wav.scp value is either a path soundfile can open, or a shell command ending in
``|`` that writes a wav file to stdout (``sox in.flac -t wav - |``), as in Kaldi.
Audio comes back as float32 mono at the requested sample rate; every failure is a
:class:`~voxrecipes.errors.DataError` that names wav.scp (or segments) and the line.
Float wav files can hold NaN or inf samples, which a 16-bit dump would turn into
full-scale clicks and a model into NaN losses: every decode rejects them.
"""

from __future__ import annotations

import io
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from voxrecipes.data.datadir import DataDir
from voxrecipes.errors import DataError

SAMPLE_RATE = 16000
#: How much of a failing command's stderr goes into the error message.
STDERR_TAIL_CHARS = 500
#: soundfile subtypes that store samples as floats, the only ones that can hold NaN or inf.
FLOAT_SUBTYPES = ("FLOAT", "DOUBLE")
#: Frames read at a time when a float file is scanned for non-finite samples.
SCAN_BLOCK_FRAMES = 1 << 16


def is_pipe(value: str) -> bool:
    """Whether a wav.scp value is a ``command |`` pipe."""
    return value.rstrip().endswith("|")


def _to_mono(samples: np.ndarray) -> np.ndarray:
    if samples.ndim == 2:
        samples = samples.mean(axis=1)
    return np.ascontiguousarray(samples, dtype=np.float32)


def first_non_finite(samples: np.ndarray) -> int | None:
    """Index of the first frame (row of a ``frames x channels`` array) holding NaN or inf, or ``None``."""
    finite = np.isfinite(samples)
    if finite.all():
        return None
    bad_frames = ~finite.all(axis=1) if finite.ndim == 2 else ~finite
    return int(np.argmax(bad_frames))


def non_finite_message(frame: int, rate: int, source: str) -> str:
    """The reason text of a non-finite sample error (shared by every reader, so messages agree)."""
    return f"non-finite sample (NaN or inf) at sample {frame} ({frame / rate:.3f} s) of {source}"


def scan_file_non_finite(path: str | os.PathLike) -> tuple[int, int] | None:
    """``(frame, sample rate)`` of the first NaN/inf sample of an audio file, or ``None``.

    Only float subtypes (:data:`FLOAT_SUBTYPES`) can hold such values; other files are
    not decoded. The file is read in blocks, so long recordings need little memory.
    Decoding errors propagate (callers report them with their own file and line).
    """
    import soundfile as sf

    with sf.SoundFile(os.fspath(path)) as handle:
        if handle.subtype not in FLOAT_SUBTYPES:
            return None
        offset = 0
        for block in handle.blocks(blocksize=SCAN_BLOCK_FRAMES, dtype="float64", always_2d=True):
            bad = first_non_finite(block)
            if bad is not None:
                return offset + bad, int(handle.samplerate)
            offset += len(block)
    return None


def read_wav_scp_entry(value: str, *, path_for_errors: str | os.PathLike | None = None,
                       lineno: int | None = None) -> tuple[np.ndarray, int]:
    """Decode one wav.scp value into ``(float32 mono samples, sample rate)``.

    A pipe is run with ``bash -o pipefail``; a non-zero exit or output that is not
    audio raises :class:`DataError` with the tail of the command's stderr. A NaN or
    inf sample is a :class:`DataError` too.
    """
    import soundfile as sf

    value = value.strip()
    if is_pipe(value):
        command = value[:-1].strip()
        proc = subprocess.run(["bash", "-o", "pipefail", "-c", command], capture_output=True, check=False)
        tail = proc.stderr.decode("utf-8", errors="replace").strip()[-STDERR_TAIL_CHARS:]
        if proc.returncode != 0:
            raise DataError(path_for_errors, lineno,
                            f"command '{command}' failed with exit status {proc.returncode}: {tail or '(no stderr)'}")
        try:
            samples, rate = sf.read(io.BytesIO(proc.stdout), dtype="float32", always_2d=True)
        except Exception as err:  # noqa: BLE001 - libsndfile raises several types
            raise DataError(path_for_errors, lineno, f"command '{command}' did not write readable audio "
                                                     f"({len(proc.stdout)} bytes): {err}; stderr: {tail}") from None
    else:
        if not os.path.isfile(value):
            raise DataError(path_for_errors, lineno, f"audio file not found: {value}")
        try:
            samples, rate = sf.read(value, dtype="float32", always_2d=True)
        except Exception as err:  # noqa: BLE001
            raise DataError(path_for_errors, lineno, f"cannot read audio file {value}: {err}") from None
    bad = first_non_finite(samples)
    if bad is not None:
        source = f"the output of '{value[:-1].strip()}'" if is_pipe(value) else value
        raise DataError(path_for_errors, lineno, non_finite_message(bad, int(rate), source))
    return _to_mono(samples), int(rate)


def resample(samples: np.ndarray, orig_rate: int, new_rate: int) -> np.ndarray:
    """Band-limited resampling with torchaudio (identity when the rates agree)."""
    if orig_rate == new_rate:
        return samples
    import torch
    import torchaudio.functional as AF

    out = AF.resample(torch.from_numpy(np.ascontiguousarray(samples)), orig_rate, new_rate)
    return out.numpy().astype(np.float32, copy=False)


def _cut(dd: DataDir, utt: str, samples: np.ndarray, rate: int, sample_rate: int) -> np.ndarray:
    """Cut ``utt``'s segment out of its recording, resample, reject zero length."""
    _, start, end = dd.recording_of(utt)
    if dd.segments is not None:
        total = len(samples)
        first = int(round(start * rate))
        last = min(int(round(end * rate)), total)
        samples = samples[first:last]
        if len(samples) == 0:
            raise DataError(dd.file_path("segments"), dd.line_of("segments", utt),
                            f"segment '{utt}' ({start}-{end} s) is empty: its recording lasts "
                            f"{total / rate:.3f} s")
    if len(samples) == 0:
        raise DataError(dd.file_path("wav.scp"), dd.line_of("wav.scp", utt), f"zero-length audio for '{utt}'")
    return resample(samples, rate, sample_rate)


def _read_recording(dd: DataDir, rec: str) -> tuple[np.ndarray, int]:
    if rec not in dd.wav_scp:
        raise DataError(dd.file_path("wav.scp"), None, f"recording '{rec}' not found")
    return read_wav_scp_entry(dd.wav_scp[rec], path_for_errors=dd.file_path("wav.scp"),
                              lineno=dd.line_of("wav.scp", rec))


def load_audio(dd: DataDir, utt: str, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Samples of utterance ``utt`` (its segment if any), float32 mono at ``sample_rate``."""
    if utt not in dd.utt2spk:
        raise DataError(dd.file_path("utt2spk"), None, f"utterance '{utt}' not found")
    rec, _, _ = dd.recording_of(utt)
    samples, rate = _read_recording(dd, rec)
    return _cut(dd, utt, samples, rate, sample_rate)


def iter_audio(data_dir: DataDir | str | os.PathLike,
               sample_rate: int = SAMPLE_RATE) -> Iterator[tuple[str, np.ndarray]]:
    """Yield ``(utt, samples)`` in utterance order, decoding each recording once per run of segments.

    Only the current recording is kept in memory: segments of one recording that
    follow each other in utterance order (the usual ``<rec>-<start>`` naming) share one decode.
    """
    dd = data_dir if isinstance(data_dir, DataDir) else DataDir.load(Path(data_dir))
    cached_rec: str | None = None
    cached: tuple[np.ndarray, int] | None = None
    for utt in dd.utts:
        rec, _, _ = dd.recording_of(utt)
        if rec != cached_rec:
            cached = None  # free the previous recording before decoding the next one
            cached = _read_recording(dd, rec)
            cached_rec = rec
        samples, rate = cached
        yield utt, _cut(dd, utt, samples, rate, sample_rate)
