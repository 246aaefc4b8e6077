"""Validation of a Kaldi data directory on disk, as ``utils/validate_data_dir.sh`` asks it.

Every directory that is loaded or written already obeys the per-line rules (sorted
unique keys, numbers where numbers belong, attributes on the 1-7 scale, non-empty
transcripts ...: :mod:`voxrecipes.data.values`) and the rules that span files (utt2spk
against spk2utt, the key sets of the per-utterance files, segments against wav.scp:
:mod:`voxrecipes.data.datadir`). This module adds what a stage may ask on top: the
files it needs, label names from its class list, and (on request) audio that decodes.
Every problem is a :class:`~voxrecipes.errors.DataError` naming file and line.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from voxrecipes.data.audio import is_pipe, non_finite_message, scan_file_non_finite
from voxrecipes.data.datadir import DataDir
from voxrecipes.data.table import sort_keys
from voxrecipes.errors import DataError

REQUIRED_FILES = ("wav.scp", "utt2spk", "spk2utt")


def validate_data_dir(path: str | os.PathLike, *, check_audio: bool = False, require: Iterable[str] = (),
                      classes: Sequence[str] | None = None) -> None:
    """Raise :class:`DataError` (file, line, reason) for the first problem in data dir ``path``.

    ``require`` names optional files that must be present here (``text``, ``utt2labels`` ...);
    ``classes`` is the list the names in ``utt2labels``/``utt2category`` must come from;
    ``check_audio`` opens every wav.scp entry that is a plain path.
    """
    path = Path(path)
    if not path.is_dir():
        raise DataError(path, None, "data directory not found")
    for name in (*REQUIRED_FILES, *require):
        if not (path / name).is_file():
            hint = "; utils/fix_data_dir.sh creates it from utt2spk" if name == "spk2utt" else ""
            raise DataError(path / name, None, f"file not found{hint}")
    dd = DataDir.load(path)  # with the cross-file rules (check_data_dir)
    if classes is not None:
        check_classes(dd, classes)
    if check_audio:
        check_audio_files(dd)


def check_classes(dd: DataDir, classes: Sequence[str]) -> None:
    """Every name in ``utt2labels`` and ``utt2category`` must be one of ``classes``."""
    known = set(classes)
    shown = " ".join(classes)
    for name in ("utt2labels", "utt2category"):
        table = dd.table(name)
        if table is None:
            continue
        for utt in sort_keys(table):
            labels = table[utt] if name == "utt2labels" else [table[utt]]
            for label in labels:
                if label not in known:
                    raise DataError(dd.file_path(name), dd.line_of(name, utt),
                                    f"unknown label '{label}' for utterance '{utt}'; known classes: {shown}")


def check_audio_files(dd: DataDir) -> None:
    """Open every plain-path wav.scp entry (pipes are not run): it must exist, decode and be non-empty.

    A float file (the only kind that can hold NaN or inf) is read in full and must have
    finite samples only; integer PCM files are only opened. With segments, a segment
    must start inside its recording.
    """
    import soundfile as sf  # imported here, as in voxrecipes.data.audio: only audio checks need libsndfile

    durations: dict[str, float] = {}
    wav_path = dd.file_path("wav.scp")
    for rec in sort_keys(dd.wav_scp):
        value = dd.wav_scp[rec]
        line = dd.line_of("wav.scp", rec)
        if is_pipe(value):
            continue
        if not os.path.isfile(value):
            raise DataError(wav_path, line, f"audio file of '{rec}' not found: {value}")
        try:
            info = sf.info(value)
            with sf.SoundFile(value) as handle:
                handle.read(frames=min(1024, max(info.frames, 1)), dtype="float32")
            non_finite = scan_file_non_finite(value)
        except Exception as err:  # noqa: BLE001 - libsndfile raises several types
            raise DataError(wav_path, line, f"cannot read audio file of '{rec}' ({value}): {err}") from None
        if info.frames <= 0:
            raise DataError(wav_path, line, f"audio file of '{rec}' has zero length: {value}")
        if non_finite is not None:
            raise DataError(wav_path, line, non_finite_message(*non_finite, f"the audio file of '{rec}' ({value})"))
        durations[rec] = info.frames / info.samplerate
    if dd.segments is not None:
        for utt in sort_keys(dd.segments):
            rec, start, _ = dd.segments[utt]
            if rec in durations and start >= durations[rec]:
                raise DataError(dd.file_path("segments"), dd.line_of("segments", utt),
                                f"segment '{utt}' starts at {start} s, after the end of recording '{rec}' "
                                f"({durations[rec]:.3f} s)")
