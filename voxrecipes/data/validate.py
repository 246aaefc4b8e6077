"""Validation of Kaldi data directories: Kaldi's rules plus ours for label files.

Per-line rules (sorted unique keys, numbers where numbers belong, attributes on the
1-7 scale, non-empty transcripts ...) are checked while parsing
(:mod:`voxrecipes.data.datadir`); this module adds the rules that span files:
utt2spk against spk2utt, the key sets of the per-utterance files, segments against
wav.scp, label names against a class list, and (on request) the audio itself.
Every problem is a :class:`~voxrecipes.errors.DataError` naming file and line.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from voxrecipes.data.datadir import OPTIONAL_PER_UTT_FILES, DataDir, derive_spk2utt, sort_keys
from voxrecipes.errors import DataError

REQUIRED_FILES = ("wav.scp", "utt2spk", "spk2utt")
_FIX_HINT = "run utils/fix_data_dir.sh to keep only the utterances every file has"


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
    dd = DataDir.load(path, validate=False)
    check_data_dir(dd, classes=classes)
    if check_audio:
        check_audio_files(dd)


def check_data_dir(dd: DataDir, *, classes: Sequence[str] | None = None) -> None:
    """Check the cross-file rules on a parsed directory (see module docstring)."""
    utt2spk_path = dd.file_path("utt2spk")
    if not dd.utt2spk:
        raise DataError(utt2spk_path, None, "no utterances")
    _check_spk2utt(dd)
    utts = set(dd.utt2spk)
    for name in OPTIONAL_PER_UTT_FILES:
        table = dd.table(name)
        if table is None:
            continue
        _check_same_keys(dd, name, table, utts)
    _check_recordings(dd)
    if classes is not None:
        check_classes(dd, classes)


def _check_spk2utt(dd: DataDir) -> None:
    path = dd.file_path("spk2utt")
    expected = derive_spk2utt(dd.utt2spk)
    for spk, utts in dd.spk2utt.items():
        line = dd.line_of("spk2utt", spk)
        if spk not in expected:
            raise DataError(path, line, f"speaker '{spk}' has no utterance in utt2spk; utt2spk and spk2utt disagree, "
                                        "run utils/fix_data_dir.sh")
        want = set(expected[spk])
        for utt in utts:
            if utt not in want:
                said = dd.utt2spk.get(utt)
                where = f"utt2spk gives speaker '{said}'" if said is not None else "it is not in utt2spk"
                raise DataError(path, line, f"utterance '{utt}' listed for speaker '{spk}' but {where}")
        have = set(utts)
        for utt in expected[spk]:
            if utt not in have:
                raise DataError(path, line, f"utterance '{utt}' of speaker '{spk}' in utt2spk "
                                            f"(line {dd.line_of('utt2spk', utt)}) is missing from this line")
    for spk in expected:
        if spk not in dd.spk2utt:
            utt = expected[spk][0]
            raise DataError(path, None, f"speaker '{spk}' of utt2spk (line {dd.line_of('utt2spk', utt)}) "
                                        "has no line here; run utils/fix_data_dir.sh")


def _check_same_keys(dd: DataDir, name: str, table: dict, utts: set[str]) -> None:
    path = dd.file_path(name)
    for key in table:
        if key not in utts:
            raise DataError(path, dd.line_of(name, key), f"utterance '{key}' is not in utt2spk; {_FIX_HINT}")
    if len(table) != len(utts):
        for utt in dd.utts:
            if utt not in table:
                raise DataError(path, None, f"utterance '{utt}' of utt2spk (line {dd.line_of('utt2spk', utt)}) "
                                            f"is missing here; {_FIX_HINT}")


def _check_recordings(dd: DataDir) -> None:
    wav_path = dd.file_path("wav.scp")
    if dd.segments is not None:
        for utt, (rec, _, _) in dd.segments.items():
            if rec not in dd.wav_scp:
                raise DataError(dd.file_path("segments"), dd.line_of("segments", utt),
                                f"recording '{rec}' of utterance '{utt}' is not in wav.scp")
        return
    utts = set(dd.utt2spk)
    for rec in dd.wav_scp:
        if rec not in utts:
            raise DataError(wav_path, dd.line_of("wav.scp", rec),
                            f"recording '{rec}' has no utterance in utt2spk (without a segments file recording ids "
                            f"are utterance ids); {_FIX_HINT}")
    if len(dd.wav_scp) != len(utts):
        for utt in dd.utts:
            if utt not in dd.wav_scp:
                raise DataError(wav_path, None, f"utterance '{utt}' of utt2spk (line {dd.line_of('utt2spk', utt)}) "
                                                f"has no wav.scp entry and there is no segments file; {_FIX_HINT}")


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
    import soundfile as sf

    from voxrecipes.data.audio import is_pipe, non_finite_message, scan_file_non_finite

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
