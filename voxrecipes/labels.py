"""The label vocabulary of both recipes and the parsers of the label files, in one place.

Emotion (MSP-Podcast, the Odyssey 2024 challenge): eight primary categories, two
pseudo-categories that are in the labels but never a challenge answer, and three
attributes on a 1-7 scale. Toxicity (the text-injection paper): six multi-label
classes, four of which make up the mAP; MuTox and DeToxy: two binary classes. Every
module that needs one of these lists, or reads ``utt2category`` / ``utt2labels`` /
``utt2attrs``, imports it from here, so that a list or a reader is changed once
(tests/test_labels.py checks that no other module defines them).

The parsers take ``(value text, file path, line)`` and raise :class:`DataError` with the
file, line and reason (the data contract); :mod:`voxrecipes.data.datadir` uses them for
every line it reads. :func:`label_indices` is the one place where label names become
class positions (training targets, dumps, evaluation and fusion targets), so an unknown
label is reported the same way everywhere.

Of :mod:`voxrecipes.data` this module imports only the lowest layer (``table``): the
data layers above it (``values``, ``dump``) import it.
"""

from __future__ import annotations

import math
import os
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np

from voxrecipes.data.table import read_table
from voxrecipes.errors import ConfigError, DataError

# ---------------------------------------------------------------------------------- emotion
#: The eight MSP-Podcast primary emotions (anger, sadness, happiness, surprise, fear, disgust,
#: contempt, neutral), in the challenge's order: the classes of the macro-F1 and of the CSVs.
EMOTION_CLASSES = ("A", "S", "H", "U", "F", "D", "C", "N")
#: MSP-Podcast's pseudo-categories, "Other" and "No agreement": in the labels, trained on by the
#: speech model (paper sec. 3.1: 10 classes), left out of the backends, the text models and the CSVs.
PSEUDO_CLASSES = ("O", "X")
#: Every code of the EmoClass column: the emotion model's 10 training classes.
EMOTION_CODES = EMOTION_CLASSES + PSEUDO_CLASSES
#: The name of each code.
EMOTION_NAMES = {"A": "Angry", "S": "Sad", "H": "Happy", "U": "Surprise", "F": "Fear", "D": "Disgust",
                 "C": "Contempt", "N": "Neutral", "O": "Other", "X": "No agreement"}
#: The columns of ``utt2attrs`` (and of attribute predictions), in that order.
ATTRIBUTES = ("valence", "arousal", "dominance")
#: The scale of the valence/arousal/dominance attributes in ``utt2attrs``.
ATTR_RANGE = (1.0, 7.0)

# ---------------------------------------------------------------------------------- toxicity
#: The toxicity classes of the manifests and ``utt2labels``.
TOXICITY_CLASSES = ("Profanity", "Bullying", "Dating_Sexting", "Racist", "Other", "No_Violation")
#: The class of an utterance with no toxic label.
NO_VIOLATION = "No_Violation"
#: The toxic classes (every class but :data:`NO_VIOLATION`).
TOXIC_CLASSES = tuple(c for c in TOXICITY_CLASSES if c != NO_VIOLATION)
#: The four toxic classes the paper averages into mAP, in the column order of its Tables 2 and 3.
TOXIC_AP_CLASSES = ("Profanity", "Dating_Sexting", "Racist", "Bullying")
#: The toxic class of the binary corpora (MuTox, DeToxy).
TOXIC = "Toxic"
#: The classes of the binary corpora: toxic or not.
BINARY_TOXICITY_CLASSES = (TOXIC, NO_VIOLATION)


# ---------------------------------------------------------------------------------- line parsers
def parse_float(value: str, path: Path, line: int, what: str) -> float:
    """A finite number, or a DataError naming ``what``."""
    try:
        number = float(value)
    except ValueError:
        raise DataError(path, line, f"{what} is not a number: '{value}'") from None
    if not math.isfinite(number):
        raise DataError(path, line, f"{what} is not finite: '{value}'")
    return number


def parse_category(value: str, path: Path, line: int) -> str:
    """An ``utt2category`` value: exactly one class name."""
    fields = value.split()
    if len(fields) != 1:
        raise DataError(path, line, f"expected one class name, found {len(fields)} fields: '{value}'")
    return fields[0]


def parse_labels(value: str, path: Path, line: int) -> list[str]:
    """An ``utt2labels`` value: one or more distinct class names."""
    labels = value.split()
    if not labels:
        raise DataError(path, line, "no labels (an utterance without a class is written 'No-Violation' "
                                    "or similar, never an empty line)")
    seen: set[str] = set()
    for label in labels:
        if label in seen:
            raise DataError(path, line, f"label '{label}' repeated")
        seen.add(label)
    return labels


def parse_attrs(value: str, path: Path, line: int) -> tuple[float, float, float]:
    """An ``utt2attrs`` value: valence, arousal and dominance, each on the :data:`ATTR_RANGE` scale."""
    fields = value.split()
    if len(fields) != 3:
        raise DataError(path, line, f"expected 3 numbers (valence arousal dominance), found {len(fields)}")
    numbers = []
    for name, text in zip(ATTRIBUTES, fields):
        number = parse_float(text, path, line, name)
        if not ATTR_RANGE[0] <= number <= ATTR_RANGE[1]:
            raise DataError(path, line, f"{name} {text} outside the {ATTR_RANGE[0]:g}-{ATTR_RANGE[1]:g} scale")
        numbers.append(number)
    return (numbers[0], numbers[1], numbers[2])


# ---------------------------------------------------------------------------------- file readers
def read_categories(path: str | os.PathLike) -> dict[str, str]:
    """``utt2category`` -> ``{utt: class name}`` in file order; a line without exactly one name is a DataError.

    The class names are not checked against a list here: the backends learn the classes
    they find, the evaluation and the fusion check them against a posteriors header.
    """
    path = Path(path)
    table = read_table(path)  # rejects empty values, duplicate and unsorted ids
    return {utt: parse_category(value, path, lineno) for lineno, (utt, value) in enumerate(table.items(), start=1)}


def label_lines(table: Mapping[str, object]) -> dict[str, int]:
    """The line of each utterance of a table read here (one utterance per line, in file order), for errors."""
    return {utt: lineno for lineno, utt in enumerate(table, start=1)}


def read_attribute_table(path: str | os.PathLike) -> tuple[list[str], np.ndarray]:
    """Utterance ids and the (utterances x 3) valence/arousal/dominance matrix of a ``utt2attrs`` file.

    Each line goes through :func:`parse_attrs`, so a bad line (not three numbers, not
    finite, outside the 1-7 scale) is a :class:`DataError` at its file and line.
    """
    path = Path(path)
    table = read_table(path)
    utts = list(table)
    rows = [parse_attrs(value, path, lineno) for lineno, value in enumerate(table.values(), start=1)]
    return utts, np.array(rows, dtype=np.float64).reshape(len(utts), len(ATTRIBUTES))


def read_multilabels(path: str | os.PathLike) -> dict[str, list[str]]:
    """``utt2labels`` -> ``{utt: [class names]}`` in file order; each line goes through :func:`parse_labels`."""
    path = Path(path)
    table = read_table(path)
    return {utt: parse_labels(value, path, lineno) for lineno, (utt, value) in enumerate(table.items(), start=1)}


# ---------------------------------------------------------------------------------- class indices
def class_index(classes: Sequence[str]) -> dict[str, int]:
    """``{class name: position}`` in ``classes``; a name listed twice is a ConfigError (two columns, one class)."""
    index = {name: position for position, name in enumerate(classes)}
    if len(index) != len(classes):
        repeated = sorted(name for name, count in Counter(classes).items() if count > 1)
        raise ConfigError(f"class names listed twice: {' '.join(repeated)} (in {' '.join(classes)})")
    return index


def label_indices(labels: Mapping[str, str | Sequence[str]], classes: Sequence[str], path: str | os.PathLike, *,
                  utts: Iterable[str] | None = None, lines: Mapping[str, int | None] | None = None,
                  classes_from: str | os.PathLike | None = None, hint: str = "") -> dict[str, list[int]]:
    """``{utt: positions in classes}`` of the class name(s) of each utterance of ``utts`` (default: all of ``labels``).

    ``labels`` is a label table as read from ``path``: one name per utterance
    (``utt2category``) or a list of names (``utt2labels``). An utterance of ``utts`` that
    ``labels`` lacks, or a name that is not in ``classes``, is a :class:`DataError` at
    ``path`` and the line of the first one (``lines``, default the table's own order:
    right for a table read here), which names the utterance, where the classes come from
    (``classes_from``, e.g. a posteriors file), every unknown name, and ``hint``. This is
    the one place where label names become class positions: the multi-hot targets, the
    category indices, the evaluation and the fusion targets all go through it.
    """
    index = class_index(classes)
    line_of = label_lines(labels) if lines is None else lines
    out: dict[str, list[int]] = {}
    unknown: dict[str, str] = {}  # first utterance of each unknown name, in table order
    for utt in labels if utts is None else utts:
        if utt not in labels:
            raise DataError(path, None, f"utterance '{utt}' has no line here")
        value = labels[utt]
        names = [value] if isinstance(value, str) else list(value)
        for name in names:
            if name not in index:
                unknown.setdefault(name, utt)
        out[utt] = [index[name] for name in names if name in index]
    if unknown:
        name, utt = next(iter(unknown.items()))
        source = f" of {os.fspath(classes_from)}" if classes_from is not None else ""
        raise DataError(path, line_of.get(utt),
                        f"label '{name}' of '{utt}' is not one of the classes{source} ({' '.join(classes)}; "
                        f"unknown labels here: {' '.join(repr(n) for n in unknown)}){hint}")
    return out


def read_category_labels(path: str | os.PathLike, classes: Sequence[str],
                         ignore: Sequence[str]) -> tuple[dict[str, int], dict[str, int]]:
    """``utt2category`` -> ``({utt: class index}, {ignored class: count})``; an unknown code is a DataError."""
    categories = read_categories(path)
    index = class_index(classes)
    dropped = dict(Counter(code for code in categories.values() if code not in index and code in ignore))
    kept = {utt: code for utt, code in categories.items() if code not in dropped}
    positions = label_indices(kept, classes, path, lines=label_lines(categories),
                              hint=f"; labels not trained on (dropped): {' '.join(ignore) or 'none'}")
    return {utt: position for utt, (position,) in positions.items()}, dropped


def read_multilabel_labels(path: str | os.PathLike, classes: Sequence[str]) -> dict[str, list[float]]:
    """``utt2labels`` (space-separated class names) -> ``{utt: multi-hot}``; unknown names are DataErrors."""
    labels: dict[str, list[float]] = {}
    for utt, positions in label_indices(read_multilabels(path), classes, path).items():
        hot = [0.0] * len(classes)
        for position in positions:
            hot[position] = 1.0
        labels[utt] = hot
    return labels


def read_attribute_labels(path: str | os.PathLike) -> dict[str, list[float]]:
    """``utt2attrs`` (``valence arousal dominance``, 1-7) -> ``{utt: [v, a, d]}``; bad lines are DataErrors."""
    utts, values = read_attribute_table(path)
    return dict(zip(utts, values.tolist()))
