"""Odyssey 2024 emotion challenge submission files from posteriors and a data directory.

Two tasks, one CSV each, rows sorted by ``FileName`` (C locale)::

    category:    FileName,EmoClass                 (arg-max over the challenge classes)
    attributes:  FileName,EmoAct,EmoVal,EmoDom     (from a 'valence arousal dominance' file)

``FileName`` is the basename of the utterance's audio in ``wav.scp`` (through
``segments`` when the directory has one), e.g. ``MSP-PODCAST_0001_0003.wav``:
utterance ids are ``<speaker>-<stem>``, so the id itself is not the challenge's name.
Every utterance of the data directory must have a row in the posteriors file; rows of
other utterances are ignored (and counted in the log).

The attribute columns are in the challenge's order, which is not ours: ``EmoAct`` is
arousal, ``EmoVal`` valence and ``EmoDom`` dominance. They are looked up by name in the
posteriors header, so any column order there works.
"""

from __future__ import annotations

import csv
import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from voxrecipes.data.datadir import DataDir
from voxrecipes.data.posteriors import Posteriors, read_posteriors
from voxrecipes.data.table import c_sort_key
from voxrecipes.errors import ConfigError, DataError
from voxrecipes.fileio import atomic_write
from voxrecipes.labels import EMOTION_CLASSES, PSEUDO_CLASSES

logger = logging.getLogger(__name__)

#: The eight classes of the challenge's categorical task (MSP-Podcast codes, in its order).
CHALLENGE_CLASSES = EMOTION_CLASSES
#: Codes that exist in MSP-Podcast labels but are never a challenge answer.
NON_CHALLENGE_CLASSES = PSEUDO_CLASSES
#: Header of each task's CSV.
CATEGORY_HEADER = ("FileName", "EmoClass")
ATTRIBUTE_HEADER = ("FileName", "EmoAct", "EmoVal", "EmoDom")
#: Posteriors column behind each attribute column of the CSV (challenge order: Act, Val, Dom).
ATTRIBUTE_COLUMNS = ("arousal", "valence", "dominance")
TASKS = ("category", "attributes")

_AUDIO_EXTENSIONS = (".wav", ".flac", ".mp3", ".ogg", ".sph", ".opus", ".m4a")


def _audio_path(value: str) -> str | None:
    """The audio file of a wav.scp value: the value itself, or the audio token of a ``... |`` command."""
    value = value.strip()
    if not value.endswith("|"):
        return value
    for token in value[:-1].split():
        if token.lower().endswith(_AUDIO_EXTENSIONS):
            return token
    return None


def utterance_file_names(dd: DataDir) -> dict[str, str]:
    """``utterance -> FileName`` (basename of its recording's audio), checking FileNames are unique."""
    names: dict[str, str] = {}
    owner: dict[str, str] = {}
    wav_path = dd.file_path("wav.scp")
    for utt in dd.utts:
        if dd.segments is not None and utt not in dd.segments:
            raise DataError(dd.file_path("segments"), None, f"utterance '{utt}' has no segment")
        rec = dd.recording_of(utt)[0]
        if rec not in dd.wav_scp:
            where = dd.file_path("segments") if dd.segments is not None else dd.file_path("utt2spk")
            raise DataError(where, dd.line_of("segments" if dd.segments is not None else "utt2spk", utt),
                            f"recording '{rec}' of utterance '{utt}' is not in {wav_path}")
        audio = _audio_path(dd.wav_scp[rec])
        if audio is None:
            raise DataError(wav_path, dd.line_of("wav.scp", rec),
                            f"cannot find an audio file name in the command of '{rec}'")
        name = os.path.basename(audio)
        if name in owner:
            raise DataError(wav_path, dd.line_of("wav.scp", rec),
                            f"utterances '{owner[name]}' and '{utt}' would both be submitted as '{name}'")
        owner[name] = utt
        names[utt] = name
    return names


def _rows_of(post: Posteriors, utts: Sequence[str], posteriors_path: os.PathLike | str,
             data_dir: os.PathLike | str) -> np.ndarray:
    """Row index in ``post`` of every utterance of ``utts`` (DataError naming both inputs if one lacks a row)."""
    index = {u: i for i, u in enumerate(post.utts)}
    missing = [u for u in utts if u not in index]
    if missing:
        raise DataError(posteriors_path, None,
                        f"{len(missing)} utterances of {Path(data_dir) / 'utt2spk'} have no row here "
                        f"(first: '{missing[0]}'); score every utterance of the data directory")
    extra = len(post.utts) - len(utts)
    if extra:
        logger.info("%d rows of %s are not utterances of %s and are not submitted", extra, posteriors_path, data_dir)
    return np.array([index[u] for u in utts], dtype=int)


def _columns(post: Posteriors, wanted: Sequence[str], posteriors_path: os.PathLike | str) -> list[int]:
    absent = [c for c in wanted if c not in post.classes]
    if absent:
        raise DataError(posteriors_path, 1, f"header has no column for {' '.join(absent)} "
                                            f"(it has: {' '.join(post.classes)})")
    return [post.classes.index(c) for c in wanted]


def check_classes(classes: Sequence[str]) -> list[str]:
    """The categorical task's class list: non-empty, unique, and without O or X."""
    classes = [str(c) for c in classes]
    if not classes:
        raise ConfigError("--classes: at least one class is needed")
    if len(set(classes)) != len(classes):
        raise ConfigError(f"--classes: duplicate class names in {' '.join(classes)}")
    bad = [c for c in classes if c in NON_CHALLENGE_CLASSES]
    if bad:
        raise ConfigError(f"--classes: {' '.join(bad)} are not challenge classes and are never predicted")
    return classes


def submission_rows(post: Posteriors, dd: DataDir, *, task: str = "category",
                    classes: Sequence[str] = CHALLENGE_CLASSES, posteriors_path: os.PathLike | str = "posteriors",
                    float_format: str = "%.6g") -> tuple[tuple[str, ...], list[list[str]]]:
    """The CSV header and rows (sorted by FileName) of one task.

    ``category``: the arg-max over ``classes`` (ties go to the earlier class in ``classes``).
    ``attributes``: the arousal, valence and dominance columns, formatted with ``float_format``.
    """
    if task not in TASKS:
        raise ConfigError(f"--task must be one of {', '.join(TASKS)}, got '{task}'")
    data_dir = dd.path if dd.path is not None else "data directory"
    names = utterance_file_names(dd)
    utts = list(names)
    rows = _rows_of(post, utts, posteriors_path, data_dir)
    out: list[list[str]] = []
    if task == "category":
        classes = check_classes(classes)
        cols = _columns(post, classes, posteriors_path)
        best = post.matrix[np.ix_(rows, cols)].argmax(axis=1)
        out = [[names[u], classes[int(k)]] for u, k in zip(utts, best)]
        header = CATEGORY_HEADER
    else:
        cols = _columns(post, ATTRIBUTE_COLUMNS, posteriors_path)
        values = post.matrix[np.ix_(rows, cols)]
        out = [[names[u], *(float_format % v for v in vals)] for u, vals in zip(utts, values)]
        header = ATTRIBUTE_HEADER
    out.sort(key=lambda row: c_sort_key(row[0]))
    return header, out


def write_submission(posteriors_path: str | os.PathLike, data_dir: str | os.PathLike, out: str | os.PathLike, *,
                     task: str = "category", classes: Sequence[str] = CHALLENGE_CLASSES,
                     float_format: str = "%.6g") -> int:
    """Write the challenge CSV of ``data_dir``'s utterances atomically; return the number of rows."""
    post = read_posteriors(posteriors_path)
    dd = DataDir.load(data_dir, validate=False)
    header, rows = submission_rows(post, dd, task=task, classes=classes, posteriors_path=posteriors_path,
                                   float_format=float_format)
    with atomic_write(out) as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
    logger.info("wrote %d %s rows to %s", len(rows), task, os.fspath(out))
    return len(rows)
