"""Prepare a Kaldi data dir from a voice-toxicity manifest (TSV or JSONL).

This is the format a user hands over for their own data (and the one
:mod:`voxrecipes.corpora.mini_toxicity` writes). A TSV has one header line and
tab-separated fields (standard CSV quoting is understood, so pandas-written files
work); a JSONL file (``.jsonl``/``.json``, or content starting with ``{``) has one
object per line with the same keys. Columns:

============ ======== ==========================================================
utt_id       required unique id without whitespace
audio        required audio file; relative paths are relative to the manifest
start, end   optional seconds into ``audio``; both empty (or absent/null) for the
                      whole file; ``end > start``
language     required ISO 639-1 code, one of ``--languages`` (default en es fr de pt)
transcript   required non-empty text (used for text injection; never at inference)
labels       required ``;``-separated class names from ``--classes`` (a JSON list
                      works too); ``No_Violation`` only alone
speaker      optional speaker id; without it every utterance is its own speaker
split        optional; with ``--split NAME`` only rows of that split are kept
============ ======== ==========================================================

Output: ``wav.scp`` (absolute paths; keyed by utterance, or by recording when any
row uses start/end, in which case ``segments`` is written for every row),
``utt2spk``/``spk2utt``, ``text``, ``utt2lang``, ``utt2labels`` (space-separated),
``utt2dur``. With a speaker, the utterance id is ``<speaker>-<utt_id>`` so that it
sorts under its speaker.

Every bad row raises :class:`DataError` with the manifest's path and line: missing
column (named), unknown label, empty transcript, ``end <= start`` (or past the end of
the audio), missing audio file, unknown language code, duplicate utterance id.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import soundfile

from voxrecipes.data.table import read_text
from voxrecipes.errors import ConfigError, DataError
from voxrecipes.fileio import atomic_write
from voxrecipes.labels import NO_VIOLATION, TOXIC, TOXICITY_CLASSES

logger = logging.getLogger(__name__)

CLASSES = TOXICITY_CLASSES
LANGUAGES = ("en", "es", "fr", "de", "pt")
REQUIRED_COLUMNS = ("utt_id", "audio", "language", "transcript", "labels")
# Slack for end times written with rounding (seconds).
END_TOLERANCE = 0.01


@dataclass
class Record:
    """One checked utterance of a manifest."""

    line: int
    utt_id: str
    audio: Path
    start: float | None
    end: float | None
    language: str
    transcript: str
    labels: list[str]
    speaker: str | None = None


def iter_rows(path: str | Path) -> Iterator[tuple[int, dict[str, str | None]]]:
    """Yield ``(line, row)`` of a TSV or JSONL manifest; values are stripped strings or None.

    The file is decoded as UTF-8 first (a BOM skipped), so that bytes that are not UTF-8
    are a :class:`DataError` at their line rather than a ``UnicodeDecodeError``.
    """
    path = Path(path)
    text = read_text(path)
    jsonl = path.suffix in (".jsonl", ".json") or text[:1] == "{"
    with io.StringIO(text, newline="") as handle:
        if jsonl:
            for line, raw in enumerate(handle, start=1):
                if not raw.strip():
                    continue
                try:
                    obj = json.loads(raw)
                except json.JSONDecodeError as err:
                    raise DataError(path, line, f"invalid JSON: {err.msg}") from None
                if not isinstance(obj, dict):
                    raise DataError(path, line, "expected a JSON object")
                row: dict[str, str | None] = {}
                for key, value in obj.items():
                    if value is None:
                        row[key] = None
                    elif isinstance(value, list):
                        row[key] = ";".join(str(v) for v in value)
                    else:
                        row[key] = str(value).strip()
                yield line, row
            return
        reader = csv.reader(handle, delimiter="\t")
        header = next(reader, None)
        if header is None:
            raise DataError(path, 1, "empty file, expected a header line")
        header = [h.strip() for h in header]
        for fields in reader:
            line = reader.line_num
            if not fields or all(not f.strip() for f in fields):
                continue
            if len(fields) != len(header):
                raise DataError(path, line, f"{len(fields)} tab-separated fields, header has {len(header)}")
            yield line, {key: value.strip() for key, value in zip(header, fields, strict=True)}


def header_columns(path: str | Path) -> list[str] | None:
    """Column names of a TSV manifest (None for JSONL, whose keys are checked per row)."""
    path = Path(path)
    with io.StringIO(read_text(path), newline="") as handle:
        first = handle.readline()
    if path.suffix in (".jsonl", ".json") or first.startswith("{"):
        return None
    return [h.strip() for h in next(csv.reader([first.rstrip("\r\n")], delimiter="\t"), [])]


def check_columns(path: Path, columns: Sequence[str], required: Sequence[str], line: int = 1) -> None:
    """Raise a :class:`DataError` naming every required column that ``columns`` lack."""
    missing = [c for c in required if c not in columns]
    if missing:
        raise DataError(path, line, f"missing column(s) {', '.join(missing)}; required: {', '.join(required)}")


def parse_labels(value: str, classes: Sequence[str], path: Path, line: int) -> list[str]:
    """``;``-separated labels, checked against ``classes``; No_Violation only alone."""
    labels: list[str] = []
    for name in (v.strip() for v in value.split(";")):
        if not name:
            continue
        if name not in classes:
            raise DataError(path, line, f"unknown label '{name}'; known: {' '.join(classes)}")
        if name not in labels:
            labels.append(name)
    if not labels:
        raise DataError(path, line, "empty labels")
    if NO_VIOLATION in labels and len(labels) > 1:
        raise DataError(path, line, f"{NO_VIOLATION} combined with {' '.join(x for x in labels if x != NO_VIOLATION)}")
    return labels


def _seconds(value: str | None, name: str, path: Path, line: int) -> float | None:
    if value is None or value == "":
        return None
    try:
        number = float(value)
    except ValueError:
        raise DataError(path, line, f"{name} '{value}' is not a number of seconds") from None
    if not math.isfinite(number) or number < 0:
        raise DataError(path, line, f"{name} {value} must be a finite number >= 0")
    return number


def audio_duration(audio: Path, path: Path, line: int) -> float:
    """Duration from the audio header; unreadable or empty audio is a :class:`DataError` at ``path:line``."""
    try:
        info = soundfile.info(str(audio))
    except Exception as err:  # soundfile raises its own types for corrupt or unsupported files
        raise DataError(path, line, f"cannot read audio {audio}: {err}") from None
    if info.frames == 0:
        raise DataError(path, line, f"audio {audio} is empty")
    return info.frames / info.samplerate


def read_manifest(path: str | Path, *, classes: Sequence[str] = CLASSES, languages: Sequence[str] = LANGUAGES,
                  split: str | None = None) -> list[Record]:
    """Read and check a manifest; see the module docstring for the format."""
    path = Path(path).resolve()
    if not path.is_file():
        raise DataError(path, None, "file not found")
    columns = header_columns(path)
    if columns is not None:
        check_columns(path, columns, REQUIRED_COLUMNS)
        if split is not None and "split" not in columns:
            raise ConfigError(f"--split {split} given but {path} has no 'split' column")
    records: list[Record] = []
    seen: dict[str, int] = {}
    for line, row in iter_rows(path):
        if columns is None:
            check_columns(path, list(row), REQUIRED_COLUMNS, line)
        if split is not None and (row.get("split") or "") != split:
            continue
        utt_id = row["utt_id"] or ""
        if not utt_id or re.search(r"\s", utt_id):
            raise DataError(path, line, f"utt_id '{utt_id}' is empty or contains whitespace")
        if utt_id in seen:
            raise DataError(path, line, f"duplicate utt_id {utt_id} (first on line {seen[utt_id]})")
        seen[utt_id] = line
        language = row["language"] or ""
        if language not in languages:
            raise DataError(path, line, f"unknown language code '{language}'; expected one of {' '.join(languages)}")
        transcript = " ".join((row["transcript"] or "").split())
        if not transcript:
            raise DataError(path, line, "empty transcript")
        labels = parse_labels(row["labels"] or "", classes, path, line)
        audio_value = row["audio"] or ""
        if not audio_value:
            raise DataError(path, line, "empty audio path")
        audio = Path(audio_value)
        if not audio.is_absolute():
            audio = (path.parent / audio).resolve()
        if not audio.is_file():
            raise DataError(path, line, f"audio file {audio} not found")
        start = _seconds(row.get("start"), "start", path, line)
        end = _seconds(row.get("end"), "end", path, line)
        if (start is None) != (end is None):
            raise DataError(path, line, "give both start and end, or neither for the whole file")
        if start is not None and end is not None and end <= start:
            raise DataError(path, line, f"end {end:g} <= start {start:g}")
        speaker = row.get("speaker") or None
        if speaker is not None and re.search(r"\s", speaker):
            raise DataError(path, line, f"speaker '{speaker}' contains whitespace")
        records.append(Record(line=line, utt_id=utt_id, audio=audio, start=start, end=end, language=language,
                              transcript=transcript, labels=labels, speaker=speaker))
    if not records:
        raise DataError(path, None, "no utterances" + (f" of split {split}" if split else ""))
    return records


def _recording_ids(audios: Sequence[Path]) -> dict[Path, str]:
    """A unique, whitespace-free recording id for every distinct audio file."""
    ids: dict[Path, str] = {}
    used: set[str] = set()
    for audio in sorted(set(audios)):
        base = re.sub(r"[^A-Za-z0-9_.-]", "_", audio.stem) or "rec"
        rec, n = base, 1
        while rec in used:
            n += 1
            rec = f"{base}_{n}"
        used.add(rec)
        ids[audio] = rec
    return ids


def write_records(records: Sequence[Record], out_dir: str | Path, manifest: str | Path) -> dict[str, int]:
    """Write the data dir of checked ``records`` (read from ``manifest``, named in errors); return counts."""
    from voxrecipes.data.datadir import write_data_dir
    from voxrecipes.data.validate import validate_data_dir

    manifest = Path(manifest)
    durations: dict[Path, float] = {}
    for r in records:
        if r.audio not in durations:
            durations[r.audio] = audio_duration(r.audio, manifest, r.line)
        if r.end is not None and r.end > durations[r.audio] + END_TOLERANCE:
            raise DataError(manifest, r.line, f"end {r.end:g} is past the end of {r.audio} "
                                              f"({durations[r.audio]:.3f} s)")
    use_segments = any(r.start is not None for r in records)
    rec_ids = _recording_ids([r.audio for r in records]) if use_segments else {}
    wav_scp: dict[str, str] = {}
    segments: dict[str, tuple[str, float, float]] = {}
    utt2spk, text, utt2lang, utt2labels, utt2dur = {}, {}, {}, {}, {}
    for r in records:
        if r.speaker and not r.utt_id.startswith(r.speaker + "-"):
            utt = f"{r.speaker}-{r.utt_id}"
        else:
            utt = r.utt_id
        if utt in utt2spk:
            raise DataError(manifest, r.line, f"utterance id {utt} (speaker + utt_id) is not unique")
        utt2spk[utt] = r.speaker or utt
        file_duration = durations[r.audio]
        if use_segments:
            rec = rec_ids[r.audio]
            wav_scp[rec] = str(r.audio)
            start = r.start if r.start is not None else 0.0
            end = min(r.end, file_duration) if r.end is not None else file_duration
            segments[utt] = (rec, start, end)
            utt2dur[utt] = end - start
        else:
            wav_scp[utt] = str(r.audio)
            utt2dur[utt] = file_duration
        text[utt] = r.transcript
        utt2lang[utt] = r.language
        utt2labels[utt] = list(r.labels)
    out_dir = Path(out_dir)
    write_data_dir(out_dir, wav_scp=wav_scp, utt2spk=utt2spk, text=text, utt2lang=utt2lang,
                   segments=segments or None, utt2labels=utt2labels, utt2dur=utt2dur)
    validate_data_dir(out_dir)
    counts = {"utterances": len(records), "recordings": len(wav_scp), "segments": len(segments),
              "speakers": len(set(utt2spk.values()))}
    logger.info("wrote %s: %s", out_dir, ", ".join(f"{v} {k}" for k, v in counts.items()))
    return counts


def write_release_records(records: Sequence[Record], out_dir: str | Path, source: str | Path, *,
                          dropped: Mapping[str, int], missing: Sequence[str],
                          missing_list: str | Path | None = None) -> dict[str, int]:
    """Write the data dir of a release's kept ``records`` and the list of its rows without audio.

    Shared by the MuTox and DeToxy readers. ``missing`` lines go to ``missing_list`` (default
    ``<out_dir>/missing_audio.txt``, written even when empty). Returns the counts of
    :func:`write_records`, ``toxic``, and one ``dropped_<reason>`` per entry of ``dropped``.
    """
    counts = write_records(records, out_dir, source)
    missing_path = Path(missing_list) if missing_list is not None else Path(out_dir) / "missing_audio.txt"
    with atomic_write(missing_path) as handle:
        handle.write("".join(f"{entry}\n" for entry in missing))
    if missing:
        logger.warning("%d rows without audio listed in %s", len(missing), missing_path)
    counts["toxic"] = sum(r.labels == [TOXIC] for r in records)
    for why, n in dropped.items():
        counts["dropped_" + why.replace(" ", "_")] = n
    return counts


def prepare(manifest: str | Path, out_dir: str | Path, *, classes: Sequence[str] = CLASSES,
            languages: Sequence[str] = LANGUAGES, split: str | None = None) -> dict[str, int]:
    """Read ``manifest`` and write its data dir to ``out_dir``."""
    if not classes:
        raise ConfigError("--classes must name at least one class")
    records = read_manifest(manifest, classes=classes, languages=languages, split=split)
    return write_records(records, out_dir, Path(manifest).resolve())
