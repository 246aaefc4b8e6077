"""Average precision per class and mean AP for multi-label tasks (voice toxicity).

A class with no positive example has no defined AP; it is reported as NaN and left
out of the mean, and the caller chooses which classes enter mAP (the toxicity paper
averages over the four toxic classes).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def average_precision(y_true: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """AP of each column of (n x K) binary targets and scores (scikit-learn); NaN without positives."""
    from sklearn.metrics import average_precision_score

    y_true = np.asarray(y_true)
    scores = np.asarray(scores, dtype=np.float64)
    if y_true.shape != scores.shape or y_true.ndim != 2:
        raise ValueError(f"targets {y_true.shape} and scores {scores.shape} must be equal (n x K) matrices")
    out = np.full(y_true.shape[1], np.nan)
    for k in range(y_true.shape[1]):
        if y_true[:, k].sum() > 0:
            out[k] = average_precision_score(y_true[:, k], scores[:, k])
    return out


def mean_average_precision(y_true: np.ndarray, scores: np.ndarray, columns: Sequence[int] | None = None) -> float:
    """Mean of the defined per-class APs over ``columns`` (default: all)."""
    ap = average_precision(y_true, scores)
    if columns is not None:
        ap = ap[list(columns)]
    if np.all(np.isnan(ap)):
        raise ValueError("no class with a positive example")
    return float(np.nanmean(ap))
