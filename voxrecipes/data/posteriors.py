"""Posterior files: a header that names the classes, then one row per utterance.

Format (text, UTF-8)::

    #classes A S H U F D C N
    utt001 0.10 0.05 ...
    utt002 ...

Rows are sorted by utterance id (C locale). Fusion and scoring stages read these
files from different systems, so the class list travels with the numbers.

The same format carries numbers that are not probabilities (attribute predictions on
the 1-7 scale, multi-label toxicity scores), so :func:`read_posteriors` only checks the
layout and finiteness. Stages whose arithmetic assumes class probabilities (fusion of
categories, the prior fix, macro-F1 evaluation) read through :func:`read_probabilities`,
which also requires every row to be a distribution: no negative value, and a sum within
``sum_tolerance`` of 1, unless the caller asks to ``renormalise`` (divide each row by its
sum). A file of scores (rows summing to 7) or of log-posteriors (negative values) is then
an error naming the file and line instead of a silently wrong fusion or prior fix.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from voxrecipes.data.table import c_sort_key
from voxrecipes.errors import DataError
from voxrecipes.fileio import atomic_write

HEADER = "#classes"
#: Default largest accepted ``|row sum - 1|`` of a probability row. write_posteriors keeps 6
#: significant digits, so a softmax row of K classes comes back off by at most about K * 5e-7;
#: 1e-3 also accepts probabilities written with 4 decimals, and no set of scores or
#: log-probabilities passes by accident.
DEFAULT_SUM_TOLERANCE = 1e-3


@dataclass
class Posteriors:
    """Utterance ids, class names and an (utterances x classes) matrix."""

    utts: list[str]
    classes: list[str]
    matrix: np.ndarray

    def __post_init__(self) -> None:
        self.matrix = np.asarray(self.matrix, dtype=np.float64)
        if self.matrix.shape != (len(self.utts), len(self.classes)):
            raise ValueError(f"matrix shape {self.matrix.shape} does not match "
                             f"{len(self.utts)} utterances x {len(self.classes)} classes")


def write_posteriors(path: str | os.PathLike, post: Posteriors, fmt: str = "%.6g") -> None:
    """Write ``post`` sorted by utterance id, atomically."""
    order = sorted(range(len(post.utts)), key=lambda i: c_sort_key(post.utts[i]))
    with atomic_write(path) as handle:
        handle.write(" ".join([HEADER, *post.classes]) + "\n")
        for i in order:
            handle.write(post.utts[i] + " " + " ".join(fmt % v for v in post.matrix[i]) + "\n")


def read_posteriors(path: str | os.PathLike) -> Posteriors:
    """Read a posteriors file, checking header, row lengths, ids and finiteness."""
    path = Path(path)
    if not path.is_file():
        raise DataError(path, None, "posteriors file not found")
    utts: list[str] = []
    rows: list[list[float]] = []
    with open(path, encoding="utf-8") as handle:
        header = handle.readline().split()
        if not header or header[0] != HEADER or len(header) < 2:
            raise DataError(path, 1, f"first line must be '{HEADER} <class> ...'")
        classes = header[1:]
        if len(set(classes)) != len(classes):
            raise DataError(path, 1, "duplicate class names in header")
        seen: set[str] = set()
        for lineno, line in enumerate(handle, start=2):
            parts = line.split()
            if not parts:
                raise DataError(path, lineno, "empty line")
            if len(parts) != len(classes) + 1:
                raise DataError(path, lineno, f"expected {len(classes)} values, found {len(parts) - 1}")
            if parts[0] in seen:
                raise DataError(path, lineno, f"duplicate utterance '{parts[0]}'")
            seen.add(parts[0])
            try:
                values = [float(v) for v in parts[1:]]
            except ValueError:
                raise DataError(path, lineno, "non-numeric value") from None
            if not all(math.isfinite(v) for v in values):
                raise DataError(path, lineno, "NaN or infinite value")
            utts.append(parts[0])
            rows.append(values)
    matrix = np.array(rows, dtype=np.float64).reshape(len(rows), len(classes))
    return Posteriors(utts, classes, matrix)


def read_probabilities(path: str | os.PathLike, *, sum_tolerance: float = DEFAULT_SUM_TOLERANCE,
                       renormalise: bool = False) -> Posteriors:
    """Read a posteriors file whose rows must be class probabilities.

    Every value must be non-negative and every row must sum to 1 within
    ``sum_tolerance``; otherwise :class:`DataError` names the file, the line, the
    utterance and the offending value or sum. With ``renormalise`` each row is divided
    by its sum instead (negative values and all-zero rows are still errors: no
    division makes them a distribution).
    """
    if not sum_tolerance >= 0:
        raise ValueError(f"sum_tolerance must be non-negative, got {sum_tolerance}")
    post = read_posteriors(path)
    matrix = post.matrix
    # read_posteriors keeps the file order: row i is line i + 2 (after the header)
    negative = np.argwhere(matrix < 0)
    if negative.size:
        row, col = (int(v) for v in negative[0])
        raise DataError(path, row + 2, f"negative value {matrix[row, col]:g} for class '{post.classes[col]}' of "
                                       f"'{post.utts[row]}': not a class probability (log-posteriors or scores? "
                                       "give probabilities)")
    sums = matrix.sum(axis=1)
    if renormalise:
        empty = np.flatnonzero(sums <= 0)
        if empty.size:
            row = int(empty[0])
            raise DataError(path, row + 2, f"the values of '{post.utts[row]}' are all zero; cannot renormalise")
        post.matrix = matrix / sums[:, None]
        return post
    bad = np.flatnonzero(np.abs(sums - 1.0) > sum_tolerance)
    if bad.size:
        row = int(bad[0])
        raise DataError(path, row + 2, f"the values of '{post.utts[row]}' sum to {sums[row]:.6g}, not 1 "
                                       f"(tolerance {sum_tolerance:g}; {bad.size} such rows): not class "
                                       "probabilities; pass --renormalise to divide each row by its sum")
    return post


def add_probability_arguments(parser) -> None:
    """Add ``--renormalise`` and ``--sum_tolerance`` to an entry point that reads class probabilities."""
    parser.add_argument("--renormalise", action="store_true",
                        help="divide each posteriors row by its sum instead of refusing rows that do not sum to 1 "
                             "(negative values are refused either way)")
    parser.add_argument("--sum_tolerance", type=float, default=DEFAULT_SUM_TOLERANCE,
                        help="largest accepted |row sum - 1| of a posteriors row (default: %(default)s; "
                             "write_posteriors' 6 significant digits stay far below it)")
