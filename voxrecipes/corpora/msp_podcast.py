"""Prepare Kaldi data dirs from an MSP-Podcast release (1.11 layout) or the generated mini corpus.

Input (``corpus_dir``)::

    Audios/<FileName>                     the segments (FileName includes ``.wav``)
    Labels/labels_consensus.csv           FileName,EmoClass,EmoAct,EmoVal,EmoDom,SpkrID,Gender,Split_Set
    Transcripts/<FileName stem>.txt       optional, one transcript per segment

Output: one data dir per split, ``train development test1 test2 test3``, each with
``wav.scp`` (absolute paths), ``utt2spk``/``spk2utt``, ``utt2dur``, ``text`` when the
split's segments have transcripts, and for labelled splits ``utt2category`` (EmoClass
code) and ``utt2attrs`` (``valence arousal dominance``, i.e. EmoVal EmoAct EmoDom --
note the order differs from the CSV's). Test3 is the unlabelled evaluation set: nothing
label-like is written for it, whatever the CSV holds.

Transcripts: a split gets ``text`` when every segment has a transcript file, and none
when no segment has one (the recipe's ASR stage then transcribes it); a split where
only some files are missing is an error naming the first missing file. A transcript
file that is empty (silence, nothing recognised) is written as the placeholder
:data:`EMPTY_TRANSCRIPT` (``<empty>``, the ASR stage's token for the same case; the data
contract forbids empty transcripts) and counted in a warning; ``empty_transcript=""``
(``--empty_transcript ''``) makes it an error instead. Transcripts are read as UTF-8
(a leading BOM is skipped); bytes that are not UTF-8 are an error naming the file and
line, never silently replaced: a release in another encoding is read with
``transcript_encoding`` (``--transcript_encoding latin-1``).

The output is written as a whole: every split is built and validated in
``<out_dir>/.prepare_msp_podcast.tmp/`` first, and only when all of them are complete
are they renamed into place, so that an error or a kill never leaves splits from two
CSV versions side by side. A requested split that no longer has rows in the CSV is
removed, so that none stays behind from an earlier run; other directories in
``out_dir`` (``dev_bal`` ...) are not touched.

Utterance ids are ``<speaker>-<FileName stem>`` so that they sort under their
speaker (Kaldi's utt2spk/spk2utt rule); a known ``SpkrID`` 127 becomes speaker
``msp0127``. An ``Unknown`` SpkrID does not name one person, so each such utterance
is its own speaker (``unk-<stem>``) rather than pooling strangers into a fake speaker
whose statistics (e.g. speaker normalisation) would be wrong.

Every problem with the CSV raises :class:`DataError` with the file and line: a
missing column (named), an unknown Split_Set, an unknown EmoClass, an attribute that
is not a number in [1, 7], a labelled row with empty labels, a duplicate FileName,
a FileName whose audio file is missing, unreadable, empty, or (float files) holds a
NaN or inf sample, and bytes that are not UTF-8.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import io
import logging
import math
import os
import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import soundfile

from voxrecipes.data.audio import non_finite_message, scan_file_non_finite
from voxrecipes.data.table import decode_text, read_text
from voxrecipes.errors import ConfigError, DataError
from voxrecipes.labels import ATTR_RANGE, EMOTION_CODES

logger = logging.getLogger(__name__)

REQUIRED_COLUMNS = ["FileName", "EmoClass", "EmoAct", "EmoVal", "EmoDom", "SpkrID", "Split_Set"]
EMO_CODES = EMOTION_CODES
# Split_Set value -> data dir name.
SPLIT_DIRS = {"Train": "train", "Development": "development", "Test1": "test1", "Test2": "test2",
              "Test3": "test3"}
UNLABELLED_SPLITS = {"Test3"}
#: What an empty transcript file becomes in ``text``: the token the ASR stage writes for an empty
#: hypothesis (``voxrecipes.models.asr.DEFAULT_EMPTY_PLACEHOLDER``), so the text models see one token for both.
EMPTY_TRANSCRIPT = "<empty>"
#: Where the data dirs are built under ``out_dir`` before they are renamed into place.
STAGING_DIR = ".prepare_msp_podcast.tmp"
_ENCODING_HINT = ("; if the release's transcripts use another encoding, give it with --transcript_encoding "
                  "(e.g. latin-1)")


@dataclass
class Segment:
    """One CSV row, checked."""

    line: int
    file_name: str
    utt_id: str
    speaker: str
    split: str
    emo_class: str | None
    attrs: tuple[float, float, float] | None  # valence, arousal, dominance
    audio: Path


def speaker_id(spkr: str, stem: str) -> str:
    """Kaldi speaker id for a ``SpkrID`` value; ``Unknown`` (or empty) gives a per-utterance speaker."""
    if spkr == "" or spkr.lower() == "unknown":
        return f"unk-{stem}"
    if spkr.isdigit():
        return f"msp{int(spkr):04d}"
    return "msp-" + re.sub(r"[^A-Za-z0-9_.]", "_", spkr)


def _attribute(value: str, name: str, path: Path, line: int) -> float:
    try:
        number = float(value)
    except ValueError:
        raise DataError(path, line, f"{name} '{value}' is not a number") from None
    if not math.isfinite(number) or not ATTR_RANGE[0] <= number <= ATTR_RANGE[1]:
        raise DataError(path, line, f"{name} {value} outside [{ATTR_RANGE[0]:g}, {ATTR_RANGE[1]:g}]")
    return number


def read_labels(corpus_dir: str | Path, *, audio_subdir: str = "Audios",
                labels_csv: str = "Labels/labels_consensus.csv") -> list[Segment]:
    """Read and check ``labels_consensus.csv``; every audio file must exist."""
    corpus_dir = Path(corpus_dir).resolve()
    path = corpus_dir / labels_csv
    audio_dir = corpus_dir / audio_subdir
    if not path.is_file():
        raise DataError(path, None, "file not found; is --corpus_dir the root of an MSP-Podcast release?")
    if not audio_dir.is_dir():
        raise DataError(audio_dir, None, "audio directory not found")
    segments: list[Segment] = []
    seen: dict[str, int] = {}
    with io.StringIO(read_text(path), newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None:
            raise DataError(path, 1, "empty file, expected a header line")
        header = [h.strip() for h in header]
        missing = [c for c in REQUIRED_COLUMNS if c not in header]
        if missing:
            raise DataError(path, 1, f"missing column(s) {', '.join(missing)} in header; expected "
                                     f"{','.join(REQUIRED_COLUMNS)} (Gender optional)")
        col = {name: header.index(name) for name in REQUIRED_COLUMNS}
        for row in reader:
            line = reader.line_num
            if not row or all(not c.strip() for c in row):
                continue
            if len(row) != len(header):
                raise DataError(path, line, f"{len(row)} fields, header has {len(header)}")
            get = {name: row[i].strip() for name, i in col.items()}
            file_name, split = get["FileName"], get["Split_Set"]
            if not file_name:
                raise DataError(path, line, "empty FileName")
            if file_name in seen:
                raise DataError(path, line, f"duplicate FileName {file_name} (first on line {seen[file_name]})")
            seen[file_name] = line
            if split not in SPLIT_DIRS:
                raise DataError(path, line, f"unknown Split_Set '{split}'; expected one of {', '.join(SPLIT_DIRS)}")
            stem = Path(file_name).stem
            emo_class: str | None = None
            attrs: tuple[float, float, float] | None = None
            if split not in UNLABELLED_SPLITS:
                emo_class = get["EmoClass"]
                if emo_class not in EMO_CODES:
                    what = "empty EmoClass in a labelled split" if not emo_class else f"unknown EmoClass '{emo_class}'"
                    raise DataError(path, line, f"{what}; expected one of {' '.join(EMO_CODES)}")
                attrs = (_attribute(get["EmoVal"], "EmoVal", path, line),
                         _attribute(get["EmoAct"], "EmoAct", path, line),
                         _attribute(get["EmoDom"], "EmoDom", path, line))
            audio = audio_dir / file_name
            if not audio.is_file():
                raise DataError(path, line, f"audio file {audio} of FileName {file_name} not found")
            spk = speaker_id(get["SpkrID"], stem)
            utt_id = spk if spk.startswith("unk-") else f"{spk}-{stem}"
            segments.append(Segment(line=line, file_name=file_name, utt_id=utt_id, speaker=spk, split=split,
                                    emo_class=emo_class, attrs=attrs, audio=audio))
    if not segments:
        raise DataError(path, None, "no rows")
    return segments


def audio_duration(audio: Path, line: int, csv_path: Path) -> float:
    """Duration from the audio header; an unreadable or empty file, or a float file with a NaN or
    inf sample, is a :class:`DataError` at the CSV line."""
    try:
        info = soundfile.info(str(audio))
        non_finite = scan_file_non_finite(audio)
    except Exception as err:  # soundfile raises its own error types for corrupt files
        raise DataError(csv_path, line, f"cannot read audio {audio}: {err}") from None
    if info.frames == 0:
        raise DataError(csv_path, line, f"audio {audio} is empty")
    if non_finite is not None:
        raise DataError(csv_path, line, non_finite_message(*non_finite, f"audio {audio}"))
    return info.frames / info.samplerate


def transcript_path(corpus_dir: Path, file_name: str, subdir: str = "Transcripts") -> Path:
    """Where the release keeps the transcript of ``file_name``."""
    return corpus_dir / subdir / (Path(file_name).stem + ".txt")


def read_transcript(path: Path, encoding: str = "utf-8") -> str | None:
    """The transcript in ``path`` on one line (``""`` when the file is empty), or None when there is no file.

    Bytes that are not valid in ``encoding`` are a :class:`DataError` naming the file and line.
    """
    if not path.is_file():
        return None
    return " ".join(decode_text(path.read_bytes(), path, encoding=encoding, hint=_ENCODING_HINT).split())


def split_transcripts(rows: Sequence[Segment], corpus_dir: Path, split: str, *, subdir: str = "Transcripts",
                      encoding: str = "utf-8", empty: str = EMPTY_TRANSCRIPT) -> dict[str, str] | None:
    """The ``text`` table of one split, or None when none of its segments has a transcript file.

    Some files missing is a :class:`DataError` naming the first; an empty transcript becomes
    ``empty`` (a warning counts them), or is a :class:`DataError` when ``empty`` is blank.
    """
    texts: dict[str, str] = {}
    missing: list[Path] = []
    empties: list[Path] = []
    for s in rows:
        path = transcript_path(corpus_dir, s.file_name, subdir)
        text = read_transcript(path, encoding)
        if text is None:
            missing.append(path)
        elif not text:
            empties.append(path)
        texts[s.utt_id] = text or ""
    if len(missing) == len(rows):
        logger.info("%s: no transcripts under %s/; no text file (the ASR stage can make one)", split, subdir)
        return None
    if missing:
        raise DataError(missing[0], None, f"transcript not found ({len(missing)} of {len(rows)} segments of {split} "
                                          "have none while the others have one, and a text file must cover every "
                                          "segment); to prepare without the release's transcripts, point "
                                          "--transcripts_subdir at a folder that does not exist")
    if empties:
        if not empty:
            raise DataError(empties[0], None, f"empty transcript ({len(empties)} in {split}); give "
                                              f"--empty_transcript TEXT (e.g. {EMPTY_TRANSCRIPT}) to write a "
                                              "placeholder for them")
        logger.warning("%s: %d empty transcript(s) written as '%s' (first: %s)", split, len(empties), empty,
                       empties[0])
        texts = {utt: text or empty for utt, text in texts.items()}
    return texts


def prepare(corpus_dir: str | Path, out_dir: str | Path, *, splits: Sequence[str] | None = None,
            drop_classes: Sequence[str] = (), drop_from: Sequence[str] = ("train",),
            audio_subdir: str = "Audios", transcripts_subdir: str = "Transcripts",
            transcript_encoding: str = "utf-8", empty_transcript: str = EMPTY_TRANSCRIPT) -> dict[str, int]:
    """Write one data dir per requested split under ``out_dir``, all or nothing; return utterances per dir.

    ``splits`` are data dir names (``train development test1 test2 test3``; default all).
    ``drop_classes`` (e.g. ``O X``) are removed from the data dirs named in ``drop_from``.
    ``transcript_encoding`` and ``empty_transcript``: see the module docstring.
    """
    corpus_dir = Path(corpus_dir).resolve()
    wanted = list(SPLIT_DIRS.values()) if not splits else list(splits)
    unknown = [s for s in wanted if s not in SPLIT_DIRS.values()]
    if unknown:
        raise ConfigError(f"unknown split(s) {' '.join(unknown)}; choose from {' '.join(SPLIT_DIRS.values())}")
    bad_codes = [c for c in drop_classes if c not in EMO_CODES]
    if bad_codes:
        raise ConfigError(f"--drop_classes {' '.join(bad_codes)} not EmoClass codes ({' '.join(EMO_CODES)})")
    try:
        codecs.lookup(transcript_encoding)
    except LookupError:
        raise ConfigError(f"--transcript_encoding {transcript_encoding}: unknown encoding") from None
    empty_transcript = " ".join(empty_transcript.split())
    segments = read_labels(corpus_dir, audio_subdir=audio_subdir)
    out_dir = Path(out_dir)
    created = not out_dir.exists()
    stage = out_dir / STAGING_DIR
    if stage.exists():
        shutil.rmtree(stage)  # left by a killed run
    stage.mkdir(parents=True)
    try:
        counts = _build_splits(segments, corpus_dir, stage, wanted, drop_classes, drop_from, transcripts_subdir,
                               transcript_encoding, empty_transcript)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        if created:
            with contextlib.suppress(OSError):
                out_dir.rmdir()  # only if empty: nothing of a failed first run stays behind
        raise
    _swap_in(stage, out_dir, wanted, counts)
    return counts


def _swap_in(stage: Path, out_dir: Path, wanted: Sequence[str], counts: dict[str, int]) -> None:
    """Rename the complete splits from ``stage`` into ``out_dir``; remove requested splits that have no rows.

    Everything was built and validated before: only renames happen here, so a kill can
    at worst leave a split missing (a later stage then fails loudly), never splits of two
    CSV versions; the next run starts from a clean stage.
    """
    old = stage / ".old"
    old.mkdir()
    for name in wanted:
        target = out_dir / name
        if target.exists():
            os.replace(target, old / name)
        if name in counts:
            os.replace(stage / name, target)
            logger.info("wrote %s (%d utterances)", target, counts[name])
        elif (old / name).exists():
            logger.warning("removed %s of an earlier run: the CSV has no rows for it now", target)
    shutil.rmtree(stage)


def _build_splits(segments: list[Segment], corpus_dir: Path, stage: Path, wanted: Sequence[str],
                  drop_classes: Sequence[str], drop_from: Sequence[str], transcripts_subdir: str,
                  transcript_encoding: str, empty_transcript: str) -> dict[str, int]:
    """Write and validate every requested split's data dir under ``stage``; return utterances per dir."""
    from voxrecipes.data.datadir import write_data_dir
    from voxrecipes.data.validate import validate_data_dir

    counts: dict[str, int] = {}
    for split, name in SPLIT_DIRS.items():
        if name not in wanted:
            continue
        rows = [s for s in segments if s.split == split]
        if name in drop_from and drop_classes:
            before = len(rows)
            rows = [s for s in rows if s.emo_class not in drop_classes]
            logger.info("%s: dropped %d segments of class %s", name, before - len(rows), " ".join(drop_classes))
        if not rows:
            logger.warning("split %s has no segments; %s not written", split, name)
            continue
        wav_scp = {s.utt_id: str(s.audio) for s in rows}
        utt2spk = {s.utt_id: s.speaker for s in rows}
        utt2dur = {s.utt_id: audio_duration(s.audio, s.line, corpus_dir / "Labels/labels_consensus.csv")
                   for s in rows}
        text = split_transcripts(rows, corpus_dir, split, subdir=transcripts_subdir, encoding=transcript_encoding,
                                 empty=empty_transcript)
        labelled = split not in UNLABELLED_SPLITS
        utt2category = {s.utt_id: s.emo_class for s in rows} if labelled else None
        utt2attrs = {s.utt_id: s.attrs for s in rows} if labelled else None
        target = stage / name
        write_data_dir(target, wav_scp=wav_scp, utt2spk=utt2spk, text=text, utt2category=utt2category,
                       utt2attrs=utt2attrs, utt2dur=utt2dur)
        validate_data_dir(target)
        counts[name] = len(rows)
        logger.info("prepared %s: %d utterances, %d speakers%s", name, len(rows), len(set(utt2spk.values())),
                    "" if labelled else " (unlabelled)")
    return counts
