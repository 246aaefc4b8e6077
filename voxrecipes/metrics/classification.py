"""Single-label classification metrics: macro-F1, per-class F1, accuracy, confusion matrix.

Labels and predictions are integer class indices ``0..K-1`` (``-1`` for a true label
outside the class list, which can only count as an error). The reported numbers come
from scikit-learn; :func:`macro_f1_fast` is a vectorised equivalent used inside the
bootstrap, where scikit-learn's input checks would dominate the run time.
"""

from __future__ import annotations

import numpy as np


def confusion(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    """(K x K) counts, rows true class, columns predicted class (true labels < 0 are dropped)."""
    y_true = np.asarray(y_true, dtype=np.int64)
    y_pred = np.asarray(y_pred, dtype=np.int64)
    keep = y_true >= 0
    flat = y_true[keep] * num_classes + y_pred[keep]
    return np.bincount(flat, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def per_class_f1(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    """F1 of each class (scikit-learn, ``zero_division=0``)."""
    from sklearn.metrics import f1_score

    return np.asarray(f1_score(y_true, y_pred, labels=list(range(num_classes)), average=None, zero_division=0),
                      dtype=np.float64)


def macro_f1(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> float:
    """Unweighted mean of the per-class F1 over all ``num_classes`` classes."""
    return float(per_class_f1(y_true, y_pred, num_classes).mean())


def accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Fraction of exact matches (a true label of -1 never matches)."""
    y_true = np.asarray(y_true)
    if y_true.size == 0:
        raise ValueError("no samples")
    return float(np.mean(y_true == np.asarray(y_pred)))


def macro_f1_fast(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> float:
    """Numpy macro-F1 equal to :func:`macro_f1`: F1_k = 2 TP / (2 TP + FP + FN), 0 when undefined."""
    y_true = np.asarray(y_true, dtype=np.int64)
    y_pred = np.asarray(y_pred, dtype=np.int64)
    tp = np.bincount(y_pred[y_true == y_pred], minlength=num_classes)[:num_classes]
    pred_count = np.bincount(y_pred, minlength=num_classes)[:num_classes]
    true_count = np.bincount(y_true[y_true >= 0], minlength=num_classes)[:num_classes]
    denom = pred_count + true_count
    f1 = np.divide(2.0 * tp, denom, out=np.zeros(num_classes), where=denom > 0)
    return float(f1.mean())
