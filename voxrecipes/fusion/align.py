"""Line up the posteriors (or attribute predictions) of several systems for fusion.

Fusion combines row ``i`` of every system, so the systems must score exactly the same
utterances and name the same classes in the same order. A silent mismatch (one system
scored ``dev`` and the other ``dev_bal``, or a text model with 8 classes next to a
speech model with 10) would fuse unrelated numbers, so :func:`align_systems` refuses it
and names both files and the first utterance or class where they differ.

Also here: reading the tuning labels against the aligned utterances, and parsing the
``OUT_NAME=SYS1,SYS2`` specs of ``fuse_posteriors --apply``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from voxrecipes.data.posteriors import read_posteriors
from voxrecipes.data.table import c_sort_key, read_table
from voxrecipes.errors import ConfigError, DataError


def _first_difference(a: Sequence[str], b: Sequence[str]) -> tuple[int, str | None, str | None]:
    """Index of the first position where ``a`` and ``b`` differ, with the two items (``None`` past an end)."""
    for i in range(max(len(a), len(b))):
        x = a[i] if i < len(a) else None
        y = b[i] if i < len(b) else None
        if x != y:
            return i, x, y
    return -1, None, None


def _utt_mismatch(ref_utts: Sequence[str], utts: Sequence[str], ref_path: str, path: str) -> str | None:
    """A message about the first utterance in one file and not the other, or ``None`` if the sets agree."""
    ref_set, other = set(ref_utts), set(utts)
    if ref_set == other:
        return None
    only_ref = sorted(ref_set - other, key=c_sort_key)
    only_other = sorted(other - ref_set, key=c_sort_key)
    parts = []
    if only_ref:
        parts.append(f"{len(only_ref)} utterances of {ref_path} are missing from {path} (first: '{only_ref[0]}')")
    if only_other:
        parts.append(f"{len(only_other)} utterances of {path} are missing from {ref_path} (first: '{only_other[0]}')")
    return "; ".join(parts)


def align_systems(paths: Sequence[str | os.PathLike]) -> tuple[list[str], list[str], list[np.ndarray]]:
    """Read posteriors files and return ``(utts, classes, matrices)`` with rows in the same utterance order.

    Every file must hold the same set of utterances and the same class list (names and
    order) as the first one; otherwise :class:`DataError` names both files and the first
    differing utterance or class. Rows are put in the order of the first file (C-sorted,
    as :func:`~voxrecipes.data.posteriors.write_posteriors` writes them).
    """
    if not paths:
        raise ConfigError("no posteriors files given")
    paths = [os.fspath(p) for p in paths]
    ref = read_posteriors(paths[0])
    utts, classes = list(ref.utts), list(ref.classes)
    matrices = [ref.matrix]
    for path in paths[1:]:
        post = read_posteriors(path)
        if list(post.classes) != classes:
            i, x, y = _first_difference(classes, post.classes)
            raise DataError(path, 1, f"class list differs from {paths[0]} at position {i + 1}: "
                                     f"'{y}' here, '{x}' there ({' '.join(post.classes)} vs {' '.join(classes)}); "
                                     "fuse systems that output the same classes in the same order")
        message = _utt_mismatch(utts, post.utts, paths[0], path)
        if message is not None:
            raise DataError(path, None, message + "; score the same data directory with every system")
        index = {u: i for i, u in enumerate(post.utts)}
        matrices.append(post.matrix[[index[u] for u in utts]])
    return utts, classes, matrices


def read_category_labels(path: str | os.PathLike, utts: Sequence[str], classes: Sequence[str],
                         posteriors_path: str | os.PathLike) -> np.ndarray:
    """Class indices (into ``classes``) of ``utts`` from an ``utt2category`` file.

    The label file must cover exactly the scored utterances, and every label must be one
    of ``classes``; errors name both the label file and ``posteriors_path``.
    """
    labels = read_table(path)
    message = _utt_mismatch(utts, list(labels), os.fspath(posteriors_path), os.fspath(path))
    if message is not None:
        raise DataError(path, None, message + "; tune on the labels of the scored data directory")
    index = {c: i for i, c in enumerate(classes)}
    unknown = sorted({labels[u] for u in utts if labels[u] not in index})
    if unknown:
        raise DataError(path, None, f"labels {' '.join(unknown)} are not classes of {posteriors_path} "
                                    f"({' '.join(classes)}); tune on a set with the systems' classes only (Dev_bal)")
    return np.array([index[labels[u]] for u in utts], dtype=np.int64)


def read_attribute_labels(path: str | os.PathLike, utts: Sequence[str], num_dims: int,
                          posteriors_path: str | os.PathLike) -> np.ndarray:
    """(utterances x dims) float matrix from an ``utt2attrs`` file, rows in the order of ``utts``."""
    labels = read_table(path)
    message = _utt_mismatch(utts, list(labels), os.fspath(posteriors_path), os.fspath(path))
    if message is not None:
        raise DataError(path, None, message + "; tune on the labels of the scored data directory")
    lines = {key: i for i, key in enumerate(labels, start=1)}
    rows = []
    for utt in utts:
        parts = labels[utt].split()
        line = lines[utt]
        if len(parts) != num_dims:
            raise DataError(path, line, f"expected {num_dims} values (as in {posteriors_path}), found {len(parts)}")
        try:
            rows.append([float(v) for v in parts])
        except ValueError:
            raise DataError(path, line, "non-numeric value") from None
    matrix = np.array(rows, dtype=np.float64).reshape(len(utts), num_dims)
    if not np.all(np.isfinite(matrix)):
        raise DataError(path, None, "NaN or infinite value")
    return matrix


def parse_apply_spec(spec: str, num_systems: int) -> tuple[str, list[str]]:
    """Split ``OUT_NAME=SYS1_X,SYS2_X,...`` into the name and the files (one per tuned system, same order)."""
    name, sep, rest = spec.partition("=")
    files = [f for f in rest.split(",") if f]
    if not sep or not name or "/" in name or name in (".", ".."):
        raise ConfigError(f"--apply {spec}: expected OUT_NAME=SYS1_POSTERIORS,SYS2_POSTERIORS,... "
                          "with a plain directory name before '='")
    if len(files) != num_systems:
        raise ConfigError(f"--apply {spec}: {len(files)} posteriors files for {num_systems} tuned systems; "
                          "give one per --tune file, in the same order")
    return name, files
