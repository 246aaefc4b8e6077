"""The text toxicity labeller of the automatic labelling pipeline: per-class thresholds and pseudo-labels.

The labeller is a multi-label text classifier (``task: multilabel`` of
:mod:`voxrecipes.tasks.text_classification`; the paper: DistilBERT) whose sigmoid outputs
become labels by one threshold per class. The thresholds are tuned on a labelled dev
split (the F1-optimal value of each class on a grid) and saved with the model, in
``<model_dir>/thresholds.json``::

    {"classes": [...the model's outputs...], "thresholds": {"Profanity": 0.35, ...},
     "dev_f1": {...}, "dev_positives": {...}, "tuned_on": "<labels file>", "grid_step": 0.05}

A sentence gets every toxic class whose probability reaches its threshold, or
``No_Violation`` alone when none does (the manifest's rule); the ``No_Violation`` output
itself only takes part in training.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from voxrecipes.errors import ConfigError, DataError
from voxrecipes.labels import NO_VIOLATION

THRESHOLDS_FILE = "thresholds.json"


def threshold_grid(step: float) -> np.ndarray:
    """Candidate thresholds ``step, 2 step, ... < 1``."""
    if not 0 < step < 1:
        raise ConfigError(f"the threshold grid step must be in (0, 1), got {step}")
    return np.round(np.arange(step, 1.0 - 1e-9, step), 6)


def f1_score(pred: np.ndarray, truth: np.ndarray) -> float:
    """F1 of boolean predictions against boolean truth (0 when both are empty)."""
    tp = float(np.sum(pred & truth))
    denom = float(np.sum(pred) + np.sum(truth))
    return 2.0 * tp / denom if denom else 0.0


def tune_thresholds(probs: np.ndarray, targets: np.ndarray, classes: Sequence[str],
                    step: float = 0.05) -> tuple[dict[str, float], dict[str, float]]:
    """Per class the grid threshold of best F1 on (probs, targets); ties go to the lowest threshold.

    A class without positives in ``targets`` keeps 0.5 (logged by the caller through its F1 of 0).
    Returns ``(thresholds, f1 at the threshold)``.
    """
    probs, targets = np.asarray(probs, dtype=np.float64), np.asarray(targets) > 0.5
    if probs.shape != targets.shape or probs.shape[1] != len(classes):
        raise ValueError(f"probs {probs.shape}, targets {targets.shape} and {len(classes)} classes disagree")
    grid = threshold_grid(step)
    thresholds, scores = {}, {}
    for c, name in enumerate(classes):
        if not targets[:, c].any():
            thresholds[name], scores[name] = 0.5, 0.0
            continue
        f1s = [f1_score(probs[:, c] >= t, targets[:, c]) for t in grid]
        best = int(np.argmax(f1s))
        thresholds[name], scores[name] = float(grid[best]), float(f1s[best])
    return thresholds, scores


def save_thresholds(model_dir: str | os.PathLike, classes: Sequence[str], thresholds: dict[str, float], *,
                    dev_f1: dict[str, float], dev_positives: dict[str, int], tuned_on: str, step: float) -> Path:
    """Write ``<model_dir>/thresholds.json`` atomically; return its path."""
    from voxrecipes.fileio import atomic_write

    path = Path(model_dir) / THRESHOLDS_FILE
    record = {"classes": list(classes), "thresholds": {c: thresholds[c] for c in classes},
              "dev_f1": {c: round(dev_f1[c], 6) for c in classes}, "dev_positives": dev_positives,
              "tuned_on": tuned_on, "grid_step": step}
    with atomic_write(path) as handle:
        json.dump(record, handle, indent=2)
        handle.write("\n")
    return path


def load_thresholds(model_dir: str | os.PathLike, classes: Sequence[str]) -> dict[str, float]:
    """Thresholds of the model whose outputs are ``classes``; missing, foreign or bad files are DataErrors."""
    path = Path(model_dir) / THRESHOLDS_FILE
    if not path.is_file():
        raise DataError(path, None, "file not found: tune the thresholds first (tune_text_thresholds)")
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        saved, values = record["classes"], record["thresholds"]
    except (ValueError, KeyError, TypeError) as err:
        raise DataError(path, None, f"not a thresholds file ({err})") from None
    if list(saved) != list(classes):
        raise DataError(path, None, f"thresholds for classes {' '.join(saved)}, but the model outputs "
                                    f"{' '.join(classes)}: tune them again for this model")
    out = {}
    for name in classes:
        value = values.get(name) if isinstance(values, dict) else None
        if not isinstance(value, int | float) or isinstance(value, bool) or not 0.0 <= value <= 1.0:
            raise DataError(path, None, f"threshold of {name} must be a number in [0, 1], got {value!r}")
        out[name] = float(value)
    return out


def apply_thresholds(probs: np.ndarray, classes: Sequence[str], thresholds: dict[str, float]) -> list[list[str]]:
    """Labels of every row: toxic classes at or above their threshold, else ``[No_Violation]``."""
    probs = np.asarray(probs, dtype=np.float64)
    toxic = [c for c, name in enumerate(classes) if name != NO_VIOLATION]
    out = []
    for row in probs:
        labels = [classes[c] for c in toxic if row[c] >= thresholds[classes[c]]]
        out.append(labels or [NO_VIOLATION])
    return out
