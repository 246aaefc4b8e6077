"""Line up the posteriors (or attribute predictions) of several systems for fusion.

Fusion combines row ``i`` and column ``k`` of every system, so the systems must score
exactly the same utterances and name the same classes. Rows and columns are put in the
first file's order (a speech backend writes its classes sorted, a text model in its
config's order: both are fine). A silent mismatch (one system scored ``dev`` and the
other ``dev_bal``, or a text model with 8 classes next to a speech model with 10) would
fuse unrelated numbers, so :func:`align_systems` refuses it and names both files and
the first utterance or class where they differ.

Category posteriors are read with :func:`~voxrecipes.data.posteriors.read_probabilities`
(``probabilities=True``): a system whose rows are scores or log-posteriors would shift the
tuned weights without any sign of it. Attribute predictions are not probabilities and are
read as plain matrices.

Also here: the tuning targets of the aligned utterances, from label files read by
:mod:`voxrecipes.labels`, and parsing the ``OUT_NAME=SYS1,SYS2`` specs of
``fuse_posteriors --apply``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from voxrecipes.data.posteriors import DEFAULT_SUM_TOLERANCE, Posteriors, read_posteriors, read_probabilities
from voxrecipes.data.table import key_mismatch
from voxrecipes.errors import ConfigError, DataError
from voxrecipes.labels import ATTRIBUTES, class_index, label_indices, read_attribute_table, read_categories


def _read(path: str, probabilities: bool, sum_tolerance: float, renormalise: bool) -> Posteriors:
    if probabilities:
        return read_probabilities(path, sum_tolerance=sum_tolerance, renormalise=renormalise)
    return read_posteriors(path)


def align_systems(paths: Sequence[str | os.PathLike], classes: Sequence[str] | None = None,
                  classes_from: str | os.PathLike | None = None, *, probabilities: bool = False,
                  sum_tolerance: float = DEFAULT_SUM_TOLERANCE,
                  renormalise: bool = False) -> tuple[list[str], list[str], list[np.ndarray]]:
    """Read posteriors files and return ``(utts, classes, matrices)`` with rows and columns in one order.

    Every file must hold the same set of utterances and the same set of classes as the
    first one (or as ``classes``, read from ``classes_from``, when given); otherwise
    :class:`DataError` names both files and the first differing utterance or class.
    Rows are put in the order of the first file (C-sorted, as
    :func:`~voxrecipes.data.posteriors.write_posteriors` writes them), columns in the
    order of ``classes`` or of the first file. With ``probabilities`` every row must be a
    distribution (see :func:`~voxrecipes.data.posteriors.read_probabilities`, which also
    explains ``sum_tolerance`` and ``renormalise``).
    """
    if not paths:
        raise ConfigError("no posteriors files given")
    paths = [os.fspath(p) for p in paths]
    ref = _read(paths[0], probabilities, sum_tolerance, renormalise)
    utts = list(ref.utts)
    ref_path = os.fspath(classes_from) if classes_from is not None else paths[0]
    classes = list(classes) if classes is not None else list(ref.classes)
    matrices = []
    for n, path in enumerate(paths):
        post = ref if n == 0 else _read(path, probabilities, sum_tolerance, renormalise)
        # read_posteriors refuses repeated class names, so equal sets mean the same classes
        if set(post.classes) != set(classes):
            only_here = " ".join(repr(c) for c in post.classes if c not in classes)
            only_there = " ".join(repr(c) for c in classes if c not in post.classes)
            detail = "; ".join(part for part in (only_here and f"only here: {only_here}",
                                                 only_there and f"only there: {only_there}") if part)
            raise DataError(path, 1, f"classes differ from those of {ref_path} ({detail}; "
                                     f"{' '.join(post.classes)} vs {' '.join(classes)}); "
                                     "fuse systems that output the same classes")
        message = key_mismatch(utts, post.utts, paths[0], path)
        if message is not None:
            raise DataError(path, None, message + "; score the same data directory with every system")
        rows = {u: i for i, u in enumerate(post.utts)}
        columns = class_index(post.classes)
        matrices.append(post.matrix[np.ix_([rows[u] for u in utts], [columns[c] for c in classes])])
    return utts, classes, matrices


def category_targets(path: str | os.PathLike, utts: Sequence[str], classes: Sequence[str],
                     posteriors_path: str | os.PathLike) -> np.ndarray:
    """Class indices (into ``classes``) of ``utts`` from an ``utt2category`` file (read by :mod:`voxrecipes.labels`).

    The label file must cover exactly the scored utterances, and every label must be one
    of ``classes``; errors name both the label file and ``posteriors_path``.
    """
    labels = read_categories(path)
    message = key_mismatch(utts, list(labels), os.fspath(posteriors_path), os.fspath(path))
    if message is not None:
        raise DataError(path, None, message + "; tune on the labels of the scored data directory")
    positions = label_indices(labels, classes, path, utts=utts, classes_from=posteriors_path,
                              hint="; tune on a set with the systems' classes only (Dev_bal)")
    return np.array([positions[u][0] for u in utts], dtype=np.int64)


def attribute_targets(path: str | os.PathLike, utts: Sequence[str], columns: Sequence[str],
                      posteriors_path: str | os.PathLike) -> np.ndarray:
    """(utterances x columns) matrix of ``utt2attrs`` (read by :mod:`voxrecipes.labels`), rows in the order of ``utts``.

    ``columns`` are the attribute names of the predictions (valence arousal dominance, in
    any order); the label file must cover exactly the scored utterances.
    """
    unknown = [c for c in columns if c not in ATTRIBUTES]
    if unknown:
        raise DataError(posteriors_path, 1, f"columns {' '.join(unknown)} are not attributes of {path} "
                                            f"({' '.join(ATTRIBUTES)})")
    label_utts, values = read_attribute_table(path)
    message = key_mismatch(utts, label_utts, os.fspath(posteriors_path), os.fspath(path))
    if message is not None:
        raise DataError(path, None, message + "; tune on the labels of the scored data directory")
    row = {u: i for i, u in enumerate(label_utts)}
    return values[np.ix_([row[u] for u in utts], [ATTRIBUTES.index(c) for c in columns])]


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
