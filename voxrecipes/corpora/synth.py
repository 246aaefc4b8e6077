"""Speech synthesis with espeak-ng and sox for the generated mini corpora.

The mini corpora stand in for licensed corpora: their audio must be real speech
whose prosody (speed, pitch, loudness, pauses) and words the generators control.
espeak-ng gives exactly those knobs (``-s`` words per minute, ``-p`` pitch 0-99,
``-a`` amplitude 0-200, ``-g`` extra gap between words in units of 10 ms) and is
deterministic; sox converts its 22050 Hz output to 16 kHz mono 16-bit without
dither (``-D``), so that the same inputs give byte-identical files.

Jobs run as parallel subprocesses from a thread pool (:func:`run_parallel`): the
work is in the child processes, so threads are enough and nothing is pickled.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np
import soundfile

from voxrecipes.errors import ConfigError

SAMPLE_RATE = 16000
ESPEAK = "espeak-ng"
SOX = "sox"

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class Prosody:
    """espeak-ng prosody controls: words/minute, pitch 0-99, amplitude 0-200, word gap (10 ms units)."""

    speed: int = 175
    pitch: int = 50
    amplitude: int = 100
    gap: int = 0

    def clipped(self) -> Prosody:
        """The same prosody with every value inside the range espeak-ng accepts."""
        return Prosody(speed=int(min(max(self.speed, 80), 450)), pitch=int(min(max(self.pitch, 0), 99)),
                       amplitude=int(min(max(self.amplitude, 10), 200)), gap=int(min(max(self.gap, 0), 30)))


def check_tools() -> None:
    """Raise :class:`ConfigError` when espeak-ng or sox is not on the PATH."""
    for tool in (ESPEAK, SOX):
        if shutil.which(tool) is None:
            raise ConfigError(f"'{tool}' not found on PATH; install it (tools/ installs espeak-ng and sox)")


def _run(cmd: Sequence[str], stdin: str | None = None) -> None:
    proc = subprocess.run(list(cmd), input=stdin, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"command failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stderr.strip()}")


def synthesize(text: str, voice: str, prosody: Prosody, out_path: str | Path, *,
               min_duration: float = 0.0, sample_rate: int = SAMPLE_RATE) -> float:
    """Speak ``text`` with ``voice`` into a 16-bit mono wav at ``sample_rate``; return its duration.

    A result shorter than ``min_duration`` seconds is padded with trailing silence.
    """
    out_path = Path(out_path)
    p = prosody.clipped()
    with tempfile.TemporaryDirectory(prefix="voxsynth.") as tmp:
        raw = Path(tmp) / "raw.wav"
        _run([ESPEAK, "-v", voice, "-s", str(p.speed), "-p", str(p.pitch), "-a", str(p.amplitude),
              "-g", str(p.gap), "-w", str(raw)], stdin=text)
        info = soundfile.info(str(raw))
        raw_duration = info.frames / info.samplerate
        effects: list[str] = []
        if raw_duration < min_duration:
            effects = ["pad", "0", f"{min_duration - raw_duration + 0.05:.3f}"]
        _run([SOX, "-D", "-V1", str(raw), "-r", str(sample_rate), "-b", "16", "-c", "1", "-e", "signed-integer",
              str(out_path), *effects])
    return wav_duration(out_path)


def wav_duration(path: str | Path) -> float:
    """Duration in seconds read from the audio file header."""
    info = soundfile.info(str(path))
    return info.frames / info.samplerate


def concatenate(pieces: Sequence[str | Path], out_path: str | Path, *, gaps: Sequence[float],
                sample_rate: int = SAMPLE_RATE) -> list[tuple[float, float]]:
    """Join wav ``pieces`` with ``gaps[i]`` seconds of silence before piece i; return (start, end) of each."""
    chunks: list[np.ndarray] = []
    spans: list[tuple[float, float]] = []
    position = 0
    for piece, gap in zip(pieces, gaps, strict=True):
        silence = np.zeros(int(round(gap * sample_rate)), dtype=np.int16)
        audio, rate = soundfile.read(str(piece), dtype="int16")
        if rate != sample_rate:
            raise RuntimeError(f"{piece}: sample rate {rate}, expected {sample_rate}")
        chunks.extend([silence, audio])
        position += len(silence)
        spans.append((position / sample_rate, (position + len(audio)) / sample_rate))
        position += len(audio)
    chunks.append(np.zeros(int(0.3 * sample_rate), dtype=np.int16))
    soundfile.write(str(out_path), np.concatenate(chunks), sample_rate, subtype="PCM_16")
    return spans


def run_parallel(func: Callable[[T], R], jobs: Iterable[T], nj: int) -> list[R]:
    """Apply ``func`` to every job with ``nj`` workers; results in job order."""
    jobs = list(jobs)
    if nj <= 1:
        return [func(job) for job in jobs]
    with ThreadPoolExecutor(max_workers=nj) as pool:
        return list(pool.map(func, jobs))
