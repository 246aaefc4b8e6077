"""Prepare Kaldi data dirs from an MSP-Podcast release (1.11 layout) or the generated mini corpus.

Input (``corpus_dir``)::

    Audios/<FileName>                     the segments (FileName includes ``.wav``)
    Labels/labels_consensus.csv           FileName,EmoClass,EmoAct,EmoVal,EmoDom,SpkrID,Gender,Split_Set
    Transcripts/<FileName stem>.txt       optional, one transcript per segment

Output: one data dir per split, ``train development test1 test2 test3``, each with
``wav.scp`` (absolute paths), ``utt2spk``/``spk2utt``, ``utt2dur``, ``text`` when every
segment of the split has a non-empty transcript, and for labelled splits
``utt2category`` (EmoClass code) and ``utt2attrs`` (``valence arousal dominance``, i.e.
EmoVal EmoAct EmoDom -- note the order differs from the CSV's). Test3 is the
unlabelled evaluation set: nothing label-like is written for it, whatever the CSV holds.

Utterance ids are ``<speaker>-<FileName stem>`` so that they sort under their
speaker (Kaldi's utt2spk/spk2utt rule); a known ``SpkrID`` 127 becomes speaker
``msp0127``. An ``Unknown`` SpkrID does not name one person, so each such utterance
is its own speaker (``unk-<stem>``) rather than pooling strangers into a fake speaker
whose statistics (e.g. speaker normalisation) would be wrong.

Every problem with the CSV raises :class:`DataError` with the file and line: a
missing column (named), an unknown Split_Set, an unknown EmoClass, an attribute that
is not a number in [1, 7], a labelled row with empty labels, a duplicate FileName,
a FileName whose audio file is missing.
"""

from __future__ import annotations

import csv
import logging
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import soundfile

from voxrecipes.errors import ConfigError, DataError

logger = logging.getLogger(__name__)

REQUIRED_COLUMNS = ["FileName", "EmoClass", "EmoAct", "EmoVal", "EmoDom", "SpkrID", "Split_Set"]
EMO_CODES = ("A", "S", "H", "U", "F", "D", "C", "N", "O", "X")
# Split_Set value -> data dir name.
SPLIT_DIRS = {"Train": "train", "Development": "development", "Test1": "test1", "Test2": "test2",
              "Test3": "test3"}
UNLABELLED_SPLITS = {"Test3"}
ATTR_RANGE = (1.0, 7.0)


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
    with open(path, encoding="utf-8-sig", newline="") as handle:
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
    """Duration from the audio header; an unreadable file is a :class:`DataError` at the CSV line."""
    try:
        info = soundfile.info(str(audio))
    except Exception as err:  # soundfile raises its own error types for corrupt files
        raise DataError(csv_path, line, f"cannot read audio {audio}: {err}") from None
    if info.frames == 0:
        raise DataError(csv_path, line, f"audio {audio} is empty")
    return info.frames / info.samplerate


def read_transcript(corpus_dir: Path, file_name: str, subdir: str = "Transcripts") -> str | None:
    """The one-line transcript of ``file_name`` or None when absent or empty."""
    path = corpus_dir / subdir / (Path(file_name).stem + ".txt")
    if not path.is_file():
        return None
    text = " ".join(path.read_text(encoding="utf-8", errors="replace").split())
    return text or None


def prepare(corpus_dir: str | Path, out_dir: str | Path, *, splits: Sequence[str] | None = None,
            drop_classes: Sequence[str] = (), drop_from: Sequence[str] = ("train",),
            audio_subdir: str = "Audios", transcripts_subdir: str = "Transcripts") -> dict[str, int]:
    """Write one data dir per requested split under ``out_dir``; return utterances per dir.

    ``splits`` are data dir names (``train development test1 test2 test3``; default all).
    ``drop_classes`` (e.g. ``O X``) are removed from the data dirs named in ``drop_from``.
    """
    from voxrecipes.data.datadir import write_data_dir
    from voxrecipes.data.validate import validate_data_dir

    corpus_dir = Path(corpus_dir).resolve()
    wanted = list(SPLIT_DIRS.values()) if not splits else list(splits)
    unknown = [s for s in wanted if s not in SPLIT_DIRS.values()]
    if unknown:
        raise ConfigError(f"unknown split(s) {' '.join(unknown)}; choose from {' '.join(SPLIT_DIRS.values())}")
    bad_codes = [c for c in drop_classes if c not in EMO_CODES]
    if bad_codes:
        raise ConfigError(f"--drop_classes {' '.join(bad_codes)} not EmoClass codes ({' '.join(EMO_CODES)})")
    segments = read_labels(corpus_dir, audio_subdir=audio_subdir)
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
        texts = {s.utt_id: read_transcript(corpus_dir, s.file_name, transcripts_subdir) for s in rows}
        missing_text = [u for u, t in texts.items() if t is None]
        text = None
        if not missing_text:
            text = {u: t for u, t in texts.items() if t is not None}
        elif len(missing_text) < len(rows):
            logger.warning("%s: %d of %d segments have no transcript under %s/; no text file written",
                           name, len(missing_text), len(rows), transcripts_subdir)
        labelled = split not in UNLABELLED_SPLITS
        utt2category = {s.utt_id: s.emo_class for s in rows} if labelled else None
        utt2attrs = {s.utt_id: s.attrs for s in rows} if labelled else None
        target = Path(out_dir) / name
        write_data_dir(target, wav_scp=wav_scp, utt2spk=utt2spk, text=text, utt2category=utt2category,
                       utt2attrs=utt2attrs, utt2dur=utt2dur)
        validate_data_dir(target)
        counts[name] = len(rows)
        logger.info("wrote %s: %d utterances, %d speakers%s", target, len(rows), len(set(utt2spk.values())),
                    "" if labelled else " (unlabelled)")
    return counts
