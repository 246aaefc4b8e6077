"""Score attribute predictions against ``utt2attrs``: CCC per attribute and their mean, with 95% CIs.

The emotion paper (Table 2) reports the concordance correlation coefficient (CCC) of
valence, arousal and dominance and their average. Predictions are a ``#classes`` text
file (:mod:`voxrecipes.data.posteriors`) whose header names the attributes, e.g.
``#classes valence arousal dominance``, values on the 1-7 scale of the labels; the
columns are looked up by name, so any column order works. Labels are ``utt2attrs``
(``<utt> <valence> <arousal> <dominance>``, each on the 1-7 scale).

Every labelled utterance must have a prediction; predictions of unlabelled utterances
are ignored (and counted). Predictions outside the 1-7 scale are kept as they are and
counted per attribute in ``metrics.json`` (a model with a linear output may overshoot),
so the CCC is that of the raw outputs.

CIs are 95% bootstrap percentile intervals over utterances, drawn once with the
``confidence_intervals`` package (the same resamples as
:func:`voxrecipes.metrics.bootstrap.bootstrap_ci` for the same ``seed``) and shared by
all metrics: on each resample the three CCCs are recomputed and the mean's value is
the mean of those three, so the mean's CI resamples utterances jointly over the
attributes.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from voxrecipes.errors import ConfigError, DataError
from voxrecipes.fileio import atomic_write
from voxrecipes.labels import ATTR_RANGE, ATTRIBUTES, read_attribute_table
from voxrecipes.metrics.regression import ccc_per_dim

logger = logging.getLogger(__name__)

METRICS_FILE = "metrics.json"
SCATTER_FILE = "scatter.png"


def _columns(classes: Sequence[str], path: str | os.PathLike) -> list[int]:
    """Index in the header of each of :data:`ATTRIBUTES`; DataError naming the file if one is absent."""
    absent = [a for a in ATTRIBUTES if a not in classes]
    if absent:
        raise DataError(path, 1, f"header has no column for {' '.join(absent)} (it has: {' '.join(classes)}); "
                                 f"expected '#classes {' '.join(ATTRIBUTES)}' in any order")
    return [list(classes).index(a) for a in ATTRIBUTES]


def _rows(pred_utts: Sequence[str], label_utts: Sequence[str], predictions_path: str | os.PathLike,
          labels_path: str | os.PathLike) -> np.ndarray:
    """Row of each labelled utterance in the predictions; DataError naming both files if one is missing."""
    index = {u: i for i, u in enumerate(pred_utts)}
    missing = [u for u in label_utts if u not in index]
    if missing:
        raise DataError(predictions_path, None,
                        f"{len(missing)} utterances of {os.fspath(labels_path)} have no prediction in "
                        f"{os.fspath(predictions_path)} (first: '{missing[0]}'); predict every labelled utterance")
    return np.array([index[u] for u in label_utts], dtype=np.int64)


def _mean_ccc(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """The three CCCs and their mean, as one vector (the bootstrap metric)."""
    per_dim = ccc_per_dim(y_true, y_pred)
    return np.append(per_dim, per_dim.mean())


def plot_attribute_scatter(y_true: np.ndarray, y_pred: np.ndarray, cccs: Sequence[float],
                           path: str | os.PathLike, title: str = "") -> None:
    """PNG with one panel per attribute: predicted against true value, the y = x line, CCC in the title."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from voxrecipes.metrics.plots import save_png

    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    low = min(ATTR_RANGE[0], float(y_pred.min())) - 0.2
    high = max(ATTR_RANGE[1], float(y_pred.max())) + 0.2
    fig, axes = plt.subplots(1, len(ATTRIBUTES), figsize=(3.4 * len(ATTRIBUTES), 3.9), dpi=100, squeeze=False,
                             layout="constrained")
    try:
        for j, (ax, name) in enumerate(zip(axes.flat, ATTRIBUTES)):
            ax.scatter(y_true[:, j], y_pred[:, j], s=6, alpha=0.4, color=f"C{j}", linewidths=0)
            ax.plot([low, high], [low, high], color="gray", linewidth=0.8, linestyle="--")
            ax.axhspan(ATTR_RANGE[0], ATTR_RANGE[1], color="gray", alpha=0.06)
            ax.set_xlim(low, high)
            ax.set_ylim(low, high)
            ax.set_aspect("equal")
            ax.set_xlabel("true")
            ax.set_ylabel("predicted")
            ax.set_title(f"{name}: CCC {cccs[j]:.3f}")
        if title:
            fig.suptitle(title)
    except BaseException:
        plt.close(fig)
        raise
    save_png(fig, path)


def evaluate_attributes(predictions_path: str | os.PathLike, labels_path: str | os.PathLike,
                        out_dir: str | os.PathLike, *, num_bootstrap: int = 1000, seed: int = 0,
                        set_name: str = "") -> dict:
    """Compute the CCCs, write ``metrics.json`` and ``scatter.png`` into ``out_dir``, return the metrics dict.

    Everything is read and checked before anything is written; both files are written atomically.
    """
    from voxrecipes.data.posteriors import read_posteriors
    from voxrecipes.metrics.bootstrap import Resamples

    if num_bootstrap < 1:
        raise ConfigError(f"--num_bootstrap must be positive, got {num_bootstrap}")
    post = read_posteriors(predictions_path)
    columns = _columns(post.classes, predictions_path)
    utts, y_true = read_attribute_table(labels_path)
    if not utts:
        raise DataError(labels_path, None, "no labelled utterance")
    rows = _rows(post.utts, utts, predictions_path, labels_path)
    ignored = len(post.utts) - len(utts)
    if ignored:
        logger.info("ignored %d predictions of %s for utterances without a label in %s", ignored,
                    os.fspath(predictions_path), os.fspath(labels_path))
    y_pred = post.matrix[np.ix_(rows, columns)]

    point = _mean_ccc(y_true, y_pred)
    resamples = Resamples(len(utts), num_bootstrap, seed)
    boot = resamples.values(_mean_ccc, y_pred, y_true)
    cis = []
    for k in range(point.size):
        ci, _ = Resamples.interval(boot[:, k], 5.0)
        cis.append([float(ci[0]), float(ci[1])])

    outside = ((y_pred < ATTR_RANGE[0]) | (y_pred > ATTR_RANGE[1])).sum(axis=0)
    if outside.any():
        logger.warning("%s: predictions outside the %g-%g scale: %s", os.fspath(predictions_path), *ATTR_RANGE,
                       ", ".join(f"{a}={int(n)}" for a, n in zip(ATTRIBUTES, outside)))

    out_dir = Path(out_dir)
    metrics = {
        "set": set_name or out_dir.name,
        "attributes": list(ATTRIBUTES),
        "num_utts": len(utts),
        "num_ignored_predictions": int(ignored),
        "ccc": {a: float(point[j]) for j, a in enumerate(ATTRIBUTES)},
        "ccc_ci": {a: cis[j] for j, a in enumerate(ATTRIBUTES)},
        "ccc_mean": float(point[-1]),
        "ccc_mean_ci": cis[-1],
        "predictions_outside_scale": {a: int(n) for a, n in zip(ATTRIBUTES, outside)},
        "num_predictions_outside_scale": int(outside.sum()),
        "scale": list(ATTR_RANGE),
        "mean_true": {a: float(v) for a, v in zip(ATTRIBUTES, y_true.mean(axis=0))},
        "mean_predicted": {a: float(v) for a, v in zip(ATTRIBUTES, y_pred.mean(axis=0))},
        "ci_level": 0.95,
        "num_bootstrap": int(num_bootstrap),
        "seed": int(seed),
        "scatter_png": SCATTER_FILE,
        "predictions": os.fspath(predictions_path),
        "labels": os.fspath(labels_path),
    }
    text = json.dumps(metrics, indent=2, allow_nan=False)
    plot_attribute_scatter(y_true, y_pred, point[:-1], out_dir / SCATTER_FILE,
                           title=f"{metrics['set']}: mean CCC {point[-1]:.3f} (N={len(utts)})")
    with atomic_write(out_dir / METRICS_FILE) as handle:
        handle.write(text + "\n")
    logger.info("%s: CCC valence %.4f arousal %.4f dominance %.4f mean %.4f [%.4f, %.4f], N=%d -> %s",
                metrics["set"], *point, *cis[-1], len(utts), out_dir / METRICS_FILE)
    return metrics
