"""``utt2dur``: the duration of every utterance in seconds.

Durations come from segments when there are segments, else from the audio header
(soundfile's ``info``, no decoding) for plain paths, else by decoding (pipes).
Length-bucketed batching and chunking read this file instead of the audio.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from voxrecipes.data.audio import is_pipe, read_wav_scp_entry
from voxrecipes.data.datadir import DataDir
from voxrecipes.data.table import write_table
from voxrecipes.errors import DataError

#: Durations are written with this many decimals (a sample at 16 kHz is 62.5 us).
DECIMALS = 6

logger = logging.getLogger(__name__)


def recording_duration(dd: DataDir, rec: str) -> float:
    """Duration of recording ``rec`` in seconds (header only when possible)."""
    import soundfile as sf

    value = dd.wav_scp[rec]
    wav_path, line = dd.file_path("wav.scp"), dd.line_of("wav.scp", rec)
    if not is_pipe(value):
        if not os.path.isfile(value.strip()):
            raise DataError(wav_path, line, f"audio file not found: {value}")
        try:
            info = sf.info(value.strip())
            if info.frames > 0 and info.samplerate > 0:
                return info.frames / info.samplerate
        except Exception:  # noqa: BLE001 - unknown length in the header: decode below
            pass
    samples, rate = read_wav_scp_entry(value, path_for_errors=wav_path, lineno=line)
    return len(samples) / rate


def compute_utt2dur(data_dir: DataDir | str | os.PathLike) -> dict[str, float]:
    """Compute, write (``<dir>/utt2dur``) and return utterance durations in seconds.

    Zero-length audio is an error naming the wav.scp line.
    """
    dd = data_dir if isinstance(data_dir, DataDir) else DataDir.load(Path(data_dir))
    if dd.path is None:
        raise ValueError("compute_utt2dur needs a DataDir with a path to write utt2dur into")
    durations: dict[str, float] = {}
    if dd.segments is not None:
        for utt in dd.utts:
            _, start, end = dd.segments[utt]
            durations[utt] = round(end - start, DECIMALS)
    else:
        for utt in dd.utts:
            dur = round(recording_duration(dd, utt), DECIMALS)
            if dur <= 0:
                raise DataError(dd.file_path("wav.scp"), dd.line_of("wav.scp", utt), f"zero-length audio for '{utt}'")
            durations[utt] = dur
    write_table(dd.path / "utt2dur", {utt: f"{d:.{DECIMALS}f}".rstrip("0").rstrip(".") for utt, d in durations.items()})
    dd.utt2dur = durations
    dd.lines.pop("utt2dur", None)
    logger.info("%s: %d utterances, %.1f s in total", dd.path / "utt2dur", len(durations), sum(durations.values()))
    return durations
