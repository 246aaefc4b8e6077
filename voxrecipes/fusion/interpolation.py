"""Linear interpolation fusion with weights found by grid search (TalTech, Odyssey 2024, 3.3).

The fused output is the convex combination ``sum_s w_s * P_s`` of the systems' posteriors
(or attribute predictions). The paper searches the interpolation coefficient of two
systems on ``[0, 1]`` with step 0.05 on Dev_bal, maximising macro-F1 for the categories
and, for the attributes, one coefficient per dimension maximising CCC. Here any number
of systems is allowed: the grid is every weight vector whose entries are multiples of
``step`` and sum to 1 (for two systems ``w_1 in {0, 0.05, ..., 1}``, ``w_2 = 1 - w_1``).

Grid order and ties: weight vectors are enumerated with the integer numerators
``(k_1, ..., k_S)`` in ascending lexicographic order, so for two systems ``w_1`` goes up
from 0 to 1. Among weight vectors with the same (maximal) score the FIRST in that order
wins; for two systems that is the smallest weight of the first system. Being explicit
about ties keeps the choice reproducible across runs and machines.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from voxrecipes.errors import ConfigError
from voxrecipes.metrics.regression import ccc

#: Grid step of the paper.
DEFAULT_STEP = 0.05


def grid_size(step: float) -> int:
    """Number of grid intervals ``N = 1 / step``; ``step`` must divide 1 (0.05 -> 20)."""
    if not 0 < step <= 1:
        raise ConfigError(f"grid step {step} must be in (0, 1]")
    n = int(round(1.0 / step))
    if abs(n * step - 1.0) > 1e-9:
        raise ConfigError(f"grid step {step} does not divide 1 (use e.g. 0.05, 0.1, 0.25)")
    return n


def simplex_grid(num_systems: int, step: float = DEFAULT_STEP) -> np.ndarray:
    """(G x S) matrix of all weight vectors on the grid, in ascending lexicographic order of the numerators."""
    if num_systems < 1:
        raise ConfigError("need at least one system")
    n = grid_size(step)
    rows: list[list[int]] = []

    def extend(prefix: list[int], left: int, slots: int) -> None:
        if slots == 1:
            rows.append(prefix + [left])
            return
        for k in range(left + 1):
            extend(prefix + [k], left - k, slots - 1)

    extend([], n, num_systems)
    return np.array(rows, dtype=np.float64) / n


def apply(weights: Sequence[float] | np.ndarray, matrices: Sequence[np.ndarray]) -> np.ndarray:
    """``sum_s weights[s] * matrices[s]``; the weights must be non-negative and sum to 1.

    Convex weights keep each fused posterior row a distribution when the inputs are.
    """
    weights = np.asarray(weights, dtype=np.float64).reshape(-1)
    if weights.size != len(matrices):
        raise ConfigError(f"{weights.size} weights for {len(matrices)} systems")
    if np.any(weights < 0) or abs(weights.sum() - 1.0) > 1e-6:
        raise ConfigError(f"weights {weights.tolist()} must be non-negative and sum to 1")
    shapes = {np.shape(m) for m in matrices}
    if len(shapes) != 1:
        raise ConfigError(f"systems' matrices differ in shape: {sorted(shapes)}")
    fused = np.zeros(np.shape(matrices[0]), dtype=np.float64)
    for w, m in zip(weights, matrices):
        fused += w * np.asarray(m, dtype=np.float64)
    return fused


def tuning_macro_f1(y_true: np.ndarray, post: np.ndarray) -> float:
    """Macro-F1 of the arg-max decisions of ``post`` against class indices ``y_true``.

    The average runs over the classes that occur in ``y_true`` (the eight emotions of
    Dev_bal even when the posteriors also have ``O``/``X`` columns); a decision for any
    other column is an error. Equal to scikit-learn's ``f1_score(average='macro',
    labels=<classes in y_true>)``.
    """
    y_true = np.asarray(y_true, dtype=np.int64)
    num_classes = post.shape[1]
    y_pred = np.asarray(post, dtype=np.float64).argmax(axis=1)
    tp = np.bincount(y_true[y_true == y_pred], minlength=num_classes)
    pred_count = np.bincount(y_pred, minlength=num_classes)
    true_count = np.bincount(y_true, minlength=num_classes)
    present = true_count > 0
    if not present.any():
        raise ValueError("no tuning labels")
    denom = pred_count + true_count
    f1 = np.divide(2.0 * tp, denom, out=np.zeros(num_classes), where=denom > 0)
    return float(f1[present].mean())


@dataclass
class GridResult:
    """Chosen weights, their score, and the score of every grid point (in grid order)."""

    weights: np.ndarray
    score: float
    grid: np.ndarray
    scores: np.ndarray


def _best(grid: np.ndarray, scores: np.ndarray) -> GridResult:
    best = int(np.argmax(scores))  # first maximum = first in grid order
    return GridResult(weights=grid[best].copy(), score=float(scores[best]), grid=grid, scores=scores)


def tune_categories(matrices: Sequence[np.ndarray], y_true: np.ndarray, step: float = DEFAULT_STEP) -> GridResult:
    """Grid-search the weights that maximise :func:`tuning_macro_f1` of the fused posteriors."""
    grid = simplex_grid(len(matrices), step)
    stack = np.stack([np.asarray(m, dtype=np.float64) for m in matrices])  # (S, n, K)
    scores = np.array([tuning_macro_f1(y_true, np.tensordot(w, stack, axes=1)) for w in grid])
    return _best(grid, scores)


def tune_attributes(matrices: Sequence[np.ndarray], y_true: np.ndarray,
                    step: float = DEFAULT_STEP) -> list[GridResult]:
    """One grid search per attribute dimension (column), each maximising the CCC of that dimension.

    ``matrices`` are the systems' (utterances x dims) predictions and ``y_true`` the
    reference of the same shape. Returns one :class:`GridResult` per dimension.
    """
    stack = np.stack([np.asarray(m, dtype=np.float64) for m in matrices])  # (S, n, D)
    y_true = np.asarray(y_true, dtype=np.float64)
    if y_true.shape != stack.shape[1:]:
        raise ValueError(f"reference shape {y_true.shape} does not match predictions {stack.shape[1:]}")
    grid = simplex_grid(len(matrices), step)
    results = []
    for dim in range(y_true.shape[1]):
        column = stack[:, :, dim]  # (S, n)
        scores = np.array([ccc(y_true[:, dim], w @ column) for w in grid])
        results.append(_best(grid, scores))
    return results


def apply_per_dim(weights: np.ndarray, matrices: Sequence[np.ndarray]) -> np.ndarray:
    """Fuse attribute predictions with one weight vector per dimension: ``weights`` is (dims x systems)."""
    weights = np.asarray(weights, dtype=np.float64)
    stack = np.stack([np.asarray(m, dtype=np.float64) for m in matrices])  # (S, n, D)
    if weights.shape != (stack.shape[2], stack.shape[0]):
        raise ConfigError(f"weights of shape {weights.shape} for {stack.shape[2]} dims x {stack.shape[0]} systems")
    return np.stack([apply(weights[d], list(stack[:, :, d])) for d in range(stack.shape[2])], axis=1)
