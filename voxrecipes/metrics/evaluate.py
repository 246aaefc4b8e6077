"""Score a posteriors file against ``utt2category``: metrics.json and confusion.png.

The decision is the arg-max over the evaluated classes (``classes``, default the
posterior header), so a 10-class model can be scored on the 8 emotions. Utterances
whose true label is named for exclusion (``exclude``; default ``O``/``X``, MSP-Podcast's
pseudo-classes, where they are not evaluated classes) are dropped with a logged count,
unless ``keep_unknown``: then they stay and can only count as errors. Any other label
outside the evaluated classes (a typo such as ``Sad`` for ``S``) is an error naming the
label file and line: dropping it would silently score a smaller set.

The posteriors must be class probabilities (see
:func:`~voxrecipes.data.posteriors.read_probabilities`; ``renormalise`` divides each row
by its sum instead).
"""

from __future__ import annotations

import json
import logging
import os
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from voxrecipes.data.posteriors import DEFAULT_SUM_TOLERANCE
from voxrecipes.data.table import key_mismatch
from voxrecipes.errors import ConfigError, DataError
from voxrecipes.fileio import atomic_write
from voxrecipes.labels import PSEUDO_CLASSES, label_indices, label_lines, read_categories
from voxrecipes.metrics.bootstrap import bootstrap_ci
from voxrecipes.metrics.classification import accuracy, confusion, macro_f1, macro_f1_fast, per_class_f1

logger = logging.getLogger(__name__)

METRICS_FILE = "metrics.json"
CONFUSION_FILE = "confusion.png"


def align(post_utts: Sequence[str], labels: dict[str, str], posteriors_path: str | os.PathLike,
          labels_path: str | os.PathLike) -> None:
    """Raise :class:`DataError` naming both files unless both hold the same utterances."""
    message = key_mismatch(labels, post_utts, labels_path, posteriors_path)
    if message is not None:
        raise DataError(posteriors_path, None, message + "; score and label the same data directory")


def evaluate_classification(posteriors_path: str | os.PathLike, labels_path: str | os.PathLike,
                            out_dir: str | os.PathLike, *, classes: Sequence[str] | None = None,
                            num_bootstrap: int = 1000, seed: int = 0, keep_unknown: bool = False,
                            set_name: str | None = None, exclude: Sequence[str] | None = None,
                            sum_tolerance: float = DEFAULT_SUM_TOLERANCE, renormalise: bool = False) -> dict:
    """Compute the metrics, write ``metrics.json`` and ``confusion.png`` into ``out_dir``, return the dict.

    ``exclude`` names the labels whose utterances are left out (default: the pseudo-classes
    ``O X`` that are not among ``classes``); an explicit ``exclude`` that overlaps
    ``classes`` is a :class:`ConfigError`, any other unknown label a :class:`DataError`.
    """
    from voxrecipes.data.posteriors import read_probabilities
    from voxrecipes.metrics.plots import plot_confusion

    post = read_probabilities(posteriors_path, sum_tolerance=sum_tolerance, renormalise=renormalise)
    labels = read_categories(labels_path)
    align(post.utts, labels, posteriors_path, labels_path)
    classes = list(classes) if classes else list(post.classes)
    missing = [c for c in classes if c not in post.classes]
    if missing:
        raise ConfigError(f"--classes {' '.join(missing)} not in the header of {posteriors_path} "
                          f"({' '.join(post.classes)})")
    if exclude is None:
        excluded = {c for c in PSEUDO_CLASSES if c not in classes}
    else:
        excluded = set(exclude)
        both = [c for c in classes if c in excluded]
        if both:
            raise ConfigError(f"--exclude {' '.join(repr(c) for c in both)}: also evaluated classes "
                              f"({' '.join(classes)}); a label is either scored or excluded")
    columns = [post.classes.index(c) for c in classes]
    # the excluded labels are never evaluated classes (checked above); every other label must be one
    scored = {utt: label for utt, label in labels.items() if label not in excluded}
    positions = label_indices(scored, classes, labels_path, lines=label_lines(labels),
                              hint=f"; nor is it excluded ({' '.join(sorted(excluded)) or 'none'}): fix the label, "
                                   "or name it in --exclude to leave its utterances out")
    unknown = dict(Counter(label for label in labels.values() if label in excluded))

    y_true, y_pred = [], []
    decisions = post.matrix[:, columns].argmax(axis=1)
    for utt, decision in zip(post.utts, decisions):
        if utt in positions:
            y_true.append(positions[utt][0])
        elif keep_unknown:
            y_true.append(-1)
        else:
            continue
        y_pred.append(int(decision))
    if unknown:
        logger.info("%s %d utterances with labels outside the evaluated classes (%s)",
                    "kept" if keep_unknown else "excluded", sum(unknown.values()),
                    ", ".join(f"{c}={n}" for c, n in sorted(unknown.items())))
    if not y_true:
        raise DataError(labels_path, None, f"no utterance is labelled with one of the classes {' '.join(classes)}")
    y_true_a, y_pred_a = np.array(y_true), np.array(y_pred)
    k = len(classes)

    f1_point = macro_f1(y_true_a, y_pred_a, k)
    _, (f1_lo, f1_hi) = bootstrap_ci(lambda t, p: macro_f1_fast(t, p, k), y_pred_a, y_true_a,
                                     num_bootstrap=num_bootstrap, seed=seed)
    acc = accuracy(y_true_a, y_pred_a)
    _, (acc_lo, acc_hi) = bootstrap_ci(lambda t, p: float(np.mean(t == p)), y_pred_a, y_true_a,
                                       num_bootstrap=num_bootstrap, seed=seed)
    counts = confusion(y_true_a, y_pred_a, k)
    per_class = per_class_f1(y_true_a, y_pred_a, k)

    out_dir = Path(out_dir)
    metrics = {
        "set": set_name or out_dir.name,
        "classes": classes,
        "num_utts": int(y_true_a.size),
        "num_excluded": 0 if keep_unknown else int(sum(unknown.values())),
        "unknown_labels": {c: int(n) for c, n in sorted(unknown.items())},
        "macro_f1": f1_point,
        "macro_f1_ci": [f1_lo, f1_hi],
        "accuracy": acc,
        "accuracy_ci": [acc_lo, acc_hi],
        "per_class_f1": {c: float(v) for c, v in zip(classes, per_class)},
        "support": {c: int(n) for c, n in zip(classes, counts.sum(axis=1))},
        "confusion": counts.tolist(),
        "ci_level": 0.95,
        "num_bootstrap": int(num_bootstrap),
        "seed": int(seed),
        "confusion_png": CONFUSION_FILE,
        "posteriors": os.fspath(posteriors_path),
        "labels": os.fspath(labels_path),
        "excluded_labels": sorted(excluded),
        "renormalised": bool(renormalise),
    }
    plot_confusion(counts, classes, out_dir / CONFUSION_FILE,
                   title=f"{metrics['set']}: macro-F1 {f1_point:.3f}")
    with atomic_write(out_dir / METRICS_FILE) as handle:
        json.dump(metrics, handle, indent=2)
        handle.write("\n")
    logger.info("%s: macro-F1 %.4f [%.4f, %.4f], accuracy %.4f, N=%d -> %s", metrics["set"], f1_point, f1_lo, f1_hi,
                acc, y_true_a.size, out_dir / METRICS_FILE)
    return metrics
