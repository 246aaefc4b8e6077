"""Binary detection metrics of one class, as MuTox reports them: ROC AUC, and precision, recall and F1
at a decision threshold tuned on the development set, next to AP; with bootstrap CIs, per language.

MuTox (Costa-jussà et al., 2024) compares classifiers by ROC AUC and by precision and recall at an
operating point. Here the operating point is the threshold that maximises F1 on the validation set
(# ours: the paper does not say how its point was chosen); the test sets are scored at that same
threshold, so their precision/recall/F1 are honest held-out numbers. A score at or above the
threshold is a detection.

Point estimates come from scikit-learn (``roc_auc_score``, ``average_precision_score``,
``precision_recall_fscore_support``). The bootstrap recomputes each metric on every resample of
:class:`voxrecipes.metrics.bootstrap.Resamples` (the resample sets of
:func:`~voxrecipes.metrics.bootstrap.bootstrap_ci` for the same size and seed) with vectorised
versions that equal scikit-learn's (tested): AUC from average ranks (the Mann-Whitney statistic),
AP from :func:`voxrecipes.metrics.ranking.fast_average_precision`, precision/recall/F1 from counts.
A metric that is undefined on a resample (AUC without a positive or a negative, precision without
a detection ...) is NaN there and left out of its interval; its count is reported.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from voxrecipes.errors import DataError

METRICS = ("auc", "ap", "precision", "recall", "f1")
DISPLAY = {"auc": "AUC", "ap": "AP", "precision": "Precision", "recall": "Recall", "f1": "F1"}


def tune_threshold(y_true: np.ndarray, scores: np.ndarray) -> float:
    """The score threshold (``score >= t`` is a detection) with the highest F1; ties go to the highest threshold."""
    from sklearn.metrics import precision_recall_curve

    y_true = np.asarray(y_true, dtype=bool)
    if not y_true.any():
        raise DataError(None, None, "cannot tune a detection threshold: the set has no positive example")
    precision, recall, thresholds = precision_recall_curve(y_true, np.asarray(scores, dtype=np.float64))
    precision, recall = precision[:-1], recall[:-1]  # the last point has no threshold
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(denom), where=denom > 0)
    return float(thresholds[np.flatnonzero(f1 == f1.max())[-1]])


def point_metrics(y_true: np.ndarray, scores: np.ndarray, threshold: float) -> dict[str, float]:
    """AUC, AP, precision, recall and F1 (at ``threshold``) by scikit-learn; NaN where undefined."""
    from sklearn.metrics import average_precision_score, precision_recall_fscore_support, roc_auc_score

    y_true = np.asarray(y_true, dtype=bool)
    scores = np.asarray(scores, dtype=np.float64)
    both = y_true.any() and not y_true.all()
    auc = float(roc_auc_score(y_true, scores)) if both else math.nan
    ap = float(average_precision_score(y_true, scores)) if y_true.any() else math.nan
    pred = scores >= threshold
    p, r, f, _ = precision_recall_fscore_support(y_true, pred, average="binary", zero_division=np.nan)
    return {"auc": auc, "ap": ap, "precision": float(p), "recall": float(r), "f1": float(f)}


def fast_metrics(y_true: np.ndarray, scores: np.ndarray, threshold: float) -> np.ndarray:
    """The :data:`METRICS` of each row of (B x n) targets and scores: a (B x 5) matrix, NaN where undefined."""
    from scipy.stats import rankdata

    from voxrecipes.metrics.ranking import fast_average_precision

    y_true = np.asarray(y_true, dtype=bool)
    scores = np.asarray(scores, dtype=np.float64)
    if y_true.shape != scores.shape or y_true.ndim != 2:
        raise ValueError(f"targets {y_true.shape} and scores {scores.shape} must be equal (B x n) matrices")
    n_pos = y_true.sum(axis=1).astype(np.float64)
    n_neg = y_true.shape[1] - n_pos
    ranks = rankdata(scores, method="average", axis=1)
    u = (ranks * y_true).sum(axis=1) - n_pos * (n_pos + 1) / 2
    with np.errstate(invalid="ignore", divide="ignore"):
        auc = np.where((n_pos > 0) & (n_neg > 0), u / (n_pos * n_neg), np.nan)
        ap = fast_average_precision(y_true.T, scores.T)
        pred = scores >= threshold
        tp = (pred & y_true).sum(axis=1).astype(np.float64)
        fp = (pred & ~y_true).sum(axis=1)
        fn = (~pred & y_true).sum(axis=1)
        precision = np.where(tp + fp > 0, tp / (tp + fp), np.nan)
        recall = np.where(n_pos > 0, tp / n_pos, np.nan)
        f1 = np.where(2 * tp + fp + fn > 0, 2 * tp / (2 * tp + fp + fn), np.nan)
    return np.stack([auc, ap, precision, recall, f1], axis=1)


def detection_subset(y_true: np.ndarray, scores: np.ndarray, threshold: float, *, num_bootstrap: int, seed: int,
                     alpha: float) -> dict:
    """Counts, the point value and the ``100 - alpha`` % bootstrap CI of every metric, for one set of utterances."""
    from voxrecipes.metrics.bootstrap import Resamples
    from voxrecipes.metrics.toxicity import json_number

    y_true = np.asarray(y_true, dtype=bool)
    scores = np.asarray(scores, dtype=np.float64)
    point = point_metrics(y_true, scores, threshold)
    idx = np.stack(Resamples(len(y_true), num_bootstrap, seed).indices)
    boot = fast_metrics(y_true[idx], scores[idx], threshold)
    out: dict = {"num_utts": int(len(y_true)), "positives": int(y_true.sum()),
                 "detections": int((scores >= threshold).sum()), "ci_undefined_resamples": {}}
    for k, name in enumerate(METRICS):
        out[name] = json_number(point[name])
        ci, n_undef = (None, 0) if out[name] is None else Resamples.interval(boot[:, k], alpha)
        out[f"{name}_ci"] = None if ci is None else list(ci)
        if n_undef:
            out["ci_undefined_resamples"][name] = n_undef
    return out


def evaluate_detection(y_true: np.ndarray, scores: np.ndarray, languages: Sequence[str] | None, *, name: str,
                       threshold: float | None, threshold_source: str | None, num_bootstrap: int, seed: int,
                       alpha: float) -> dict:
    """Detection metrics of class ``name`` overall and per language; the threshold is tuned here when None."""
    from voxrecipes.metrics.toxicity import order_languages

    y_true = np.asarray(y_true, dtype=bool)
    scores = np.asarray(scores, dtype=np.float64)
    if threshold is None:
        threshold = tune_threshold(y_true, scores)
        threshold_source = "tuned on this set (max F1)"
    kwargs = {"num_bootstrap": num_bootstrap, "seed": seed, "alpha": alpha}
    result = {"class": name, "threshold": float(threshold), "threshold_source": threshold_source or "given",
              **detection_subset(y_true, scores, threshold, **kwargs), "per_language": {}}
    if languages is not None:
        langs = np.asarray(list(languages))
        for lang in order_languages(set(langs.tolist())):
            rows = np.flatnonzero(langs == lang)
            result["per_language"][lang] = detection_subset(y_true[rows], scores[rows], threshold, **kwargs)
    return result


# ----------------------------------------------------------------------------------------------
# Rendering (called by voxrecipes.metrics.toxicity_results.render_toxicity_results when metrics.json has it)

def _cell(sub: dict, name: str) -> str:
    from voxrecipes.metrics.toxicity_results import format_cell

    return format_cell(sub.get(name), sub.get(f"{name}_ci"))


def render_detection(systems: Sequence, label_columns: Sequence[str], baseline, level: int) -> list[str]:
    """The "Binary detection" section: one table over all utterances, one per language (Markdown lines)."""
    from voxrecipes.metrics.results import markdown_header, markdown_row
    from voxrecipes.metrics.toxicity import order_languages

    det = baseline.metrics["detection"]
    lines = ["", f"## Binary detection of {det['class']} (MuTox metrics)", "",
             f"ROC AUC, AP, and precision, recall and F1 at the decision threshold of each system (a score at "
             f"or above it is a detection; tuned for the highest F1 on the validation set), in percent, with the "
             f"{level}% bootstrap confidence interval in brackets.", ""]
    header = [*label_columns, "Threshold", "N", "Positives", "Detections", *(DISPLAY[m] for m in METRICS)]
    lines += markdown_header(header)
    for s in systems:
        d = s.metrics.get("detection")
        if d is None:
            continue
        cells = [*s.fields, f"{d['threshold']:.4f}", str(d["num_utts"]), str(d["positives"]), str(d["detections"]),
                 *(_cell(d, m) for m in METRICS)]
        lines.append(markdown_row(cells))
    languages = order_languages({lang for s in systems for lang in (s.metrics.get("detection") or {})
                                 .get("per_language", {})})
    if languages:
        lines += ["", "Per language (the same threshold in every language):", ""]
        header = ["Language", "N", "Positives", *label_columns, *(DISPLAY[m] for m in METRICS)]
        lines += markdown_header(header)
        ordered = [baseline] + [s for s in systems if s is not baseline]
        for lang in languages:
            for s in ordered:
                sub = (s.metrics.get("detection") or {}).get("per_language", {}).get(lang)
                if sub is None:
                    continue
                cells = [lang, str(sub["num_utts"]), str(sub["positives"]), *s.fields,
                         *(_cell(sub, m) for m in METRICS)]
                lines.append(markdown_row(cells))
    return lines
