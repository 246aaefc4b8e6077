"""Average precision per class and mean AP for multi-label tasks (voice toxicity).

A class with no positive example has no defined AP; it is reported as NaN and left
out of the mean, and the caller chooses which classes enter mAP (the toxicity paper
averages over the four toxic classes). :func:`fast_average_precision` computes the same AP
vectorised over the columns, for the thousands of bootstrap resamples.
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


def fast_average_precision(y_true: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """AP of each column of (n x K) binary targets and scores, NaN without a positive; equal to scikit-learn's.

    Tied scores form one threshold, as in ``sklearn.metrics.average_precision_score``: AP is the
    sum over thresholds (descending) of recall gain x precision, i.e. the mean over positives of
    the precision at the end of the positive's tie group. Vectorised over the columns, because it
    runs once per bootstrap resample (scikit-learn's input checks would dominate).
    """
    y_true = np.asarray(y_true, dtype=bool)
    scores = np.asarray(scores, dtype=np.float64)
    if y_true.shape != scores.shape or y_true.ndim != 2:
        raise ValueError(f"targets {y_true.shape} and scores {scores.shape} must be equal (n x K) matrices")
    n, k = scores.shape
    order = np.argsort(-scores, axis=0, kind="stable")
    sorted_scores = np.take_along_axis(scores, order, axis=0)
    hits = np.take_along_axis(y_true, order, axis=0)
    tp = np.cumsum(hits, axis=0)
    is_end = np.ones((n, k), dtype=bool)  # last row of a group of tied scores
    is_end[:-1] = sorted_scores[:-1] != sorted_scores[1:]
    end = np.where(is_end, np.arange(n)[:, None], n)
    end = np.minimum.accumulate(end[::-1], axis=0)[::-1]  # end of each row's tie group
    precision = tp[end, np.arange(k)[None, :]] / (end + 1)
    num_pos = hits.sum(axis=0)
    ap = np.full(k, np.nan)
    defined = num_pos > 0
    ap[defined] = (hits * precision).sum(axis=0)[defined] / num_pos[defined]
    return ap
