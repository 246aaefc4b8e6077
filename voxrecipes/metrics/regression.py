"""Concordance correlation coefficient (CCC), the attribute metric of the emotion challenge.

CCC = 2 cov(x, y) / (var(x) + var(y) + (mean(x) - mean(y))^2), with population
(1/N) moments, as in Lin (1989) and the MSP-Podcast challenge scorer.
"""

from __future__ import annotations

import numpy as np


def ccc(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Concordance correlation coefficient of two equal-length vectors."""
    x = np.asarray(y_true, dtype=np.float64).reshape(-1)
    y = np.asarray(y_pred, dtype=np.float64).reshape(-1)
    if x.size != y.size or x.size == 0:
        raise ValueError(f"need two non-empty vectors of equal length, got {x.size} and {y.size}")
    mx, my = x.mean(), y.mean()
    cov = np.mean((x - mx) * (y - my))
    denom = x.var() + y.var() + (mx - my) ** 2
    if denom == 0:
        return 1.0 if np.array_equal(x, y) else 0.0
    return float(2.0 * cov / denom)


def ccc_per_dim(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """CCC of each column of two (n x d) matrices (e.g. valence, arousal, dominance)."""
    y_true = np.asarray(y_true, dtype=np.float64)
    y_pred = np.asarray(y_pred, dtype=np.float64)
    if y_true.shape != y_pred.shape or y_true.ndim != 2:
        raise ValueError(f"shapes differ or are not 2-D: {y_true.shape} vs {y_pred.shape}")
    return np.array([ccc(y_true[:, j], y_pred[:, j]) for j in range(y_true.shape[1])])
