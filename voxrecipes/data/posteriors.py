"""Posterior files: a header that names the classes, then one row per utterance.

Format (text, UTF-8)::

    #classes A S H U F D C N
    utt001 0.10 0.05 ...
    utt002 ...

Rows are sorted by utterance id (C locale). Fusion and scoring stages read these
files from different systems, so the class list travels with the numbers.
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
