"""Evaluation of the voice-toxicity recipe: multi-label AP / mAP with bootstrap CIs, into metrics.json.

The paper (Sections 4-5) reports, on the human-labelled test set, the average precision
(AP) of the four toxic classes Profanity, Dating & Sexting, Racist and Bullying, their
mean (mAP), 95% bootstrap confidence intervals from 1000 resamples computed with the
``confidence_intervals`` package, and a per-language breakdown (Figure 2).

:func:`evaluate_toxicity` scores one system: a scores file (``#classes`` header, one row
of per-class sigmoid probabilities per utterance; rows need not sum to 1) against the
``utt2labels`` (and ``utt2lang``) of a data directory. AP of every class of the header is
reported (NaN, written ``null``, for a class without a positive example), mAP over
``ap_classes`` (classes without a positive are left out and ``map_classes`` says which
entered). Every subset (all utterances, each language) gets one set of bootstrap
resamples (:class:`voxrecipes.metrics.bootstrap.Resamples`) shared by all its metrics, so
the CIs of the classes and of mAP are paired; the mAP CI is the percentile interval of mAP
recomputed on each resample. A resample in which a class has no positive leaves that
class's AP undefined: such resamples are left out of that class's interval and counted in
``ci_undefined_resamples``.

RESULTS.md (Tables 2 and 3, relative changes, plots) is written from several metrics.json
files by :mod:`voxrecipes.metrics.toxicity_results`.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from voxrecipes.data.table import missing_keys
from voxrecipes.errors import ConfigError, DataError
from voxrecipes.fileio import atomic_write
from voxrecipes.labels import TOXIC_AP_CLASSES, label_indices
from voxrecipes.metrics.bootstrap import Resamples
from voxrecipes.metrics.ranking import average_precision, fast_average_precision

logger = logging.getLogger(__name__)

METRICS_FILE = "metrics.json"
#: The four toxic classes the paper averages into mAP, in the column order of its Tables 2 and 3.
AP_CLASSES = TOXIC_AP_CLASSES
#: Languages in the order of the paper's Table 1; other languages follow in alphabetical order.
LANGUAGE_ORDER = ("en", "es", "fr", "de", "pt")
#: Keys every metrics.json written by :func:`evaluate_toxicity` has (checked when rendering).
REQUIRED_KEYS = ("classes", "ap_classes", "num_utts", "positives", "ap", "ap_ci", "map", "map_ci", "languages",
                 "per_language")


def order_languages(languages) -> list[str]:
    """Languages in the paper's order (en es fr de pt), then the others alphabetically."""
    languages = set(languages)
    known = [lang for lang in LANGUAGE_ORDER if lang in languages]
    return known + sorted(languages - set(known))


def percent(value: float | None) -> str:
    """A metric in [0, 1] as a percentage with 2 decimals (``0.938`` -> ``93.80``); ``n/a`` without a value."""
    return "n/a" if value is None else f"{100.0 * value:.2f}"


# ----------------------------------------------------------------------------------------------
# Metrics

def json_number(value: float | None) -> float | None:
    """NaN -> None, so that metrics.json holds ``null`` (JSON has no NaN)."""
    return None if value is None or math.isnan(value) else float(value)


def subset_metrics(targets: np.ndarray, scores: np.ndarray, classes: Sequence[str], ap_classes: Sequence[str], *,
                   num_bootstrap: int, seed: int, alpha: float) -> dict:
    """Counts, AP per class and mAP over ``ap_classes`` with bootstrap CIs, for one set of utterances."""
    targets = np.asarray(targets, dtype=bool)
    ap = average_precision(targets.astype(np.int64), scores)
    positives = targets.sum(axis=0)
    columns = [list(classes).index(c) for c in ap_classes]
    map_columns = [k for k in columns if positives[k] > 0]
    boot = Resamples(targets.shape[0], num_bootstrap, seed).values(fast_average_precision, scores, targets)
    ap_ci: dict[str, list[float] | None] = {}
    undefined: dict[str, int] = {}
    for k, name in enumerate(classes):
        ci, n_undef = (None, 0) if positives[k] == 0 else Resamples.interval(boot[:, k], alpha)
        ap_ci[name] = None if ci is None else list(ci)
        if n_undef:
            undefined[name] = n_undef
    map_point, map_ci = math.nan, None
    if map_columns:
        map_point = float(np.mean(ap[map_columns]))
        # mAP of each resample: the mean of that resample's defined APs (as for the point estimate)
        sub = boot[:, map_columns]
        counts = np.isfinite(sub).sum(axis=1)
        boot_map = np.divide(np.nansum(sub, axis=1), counts, out=np.full(len(sub), np.nan), where=counts > 0)
        ci, n_undef = Resamples.interval(boot_map, alpha)
        map_ci = None if ci is None else list(ci)
        if n_undef:
            undefined["mAP"] = n_undef
    return {
        "num_utts": int(targets.shape[0]),
        "positives": {c: int(n) for c, n in zip(classes, positives)},
        "ap": {c: json_number(v) for c, v in zip(classes, ap)},
        "ap_ci": ap_ci,
        "map": json_number(map_point),
        "map_ci": map_ci,
        "map_classes": [classes[k] for k in map_columns],
        "ci_undefined_resamples": undefined,
    }


def load_targets(scores_path: str | os.PathLike, data_dir: str | os.PathLike
                 ) -> tuple[list[str], list[str], np.ndarray, np.ndarray, dict[str, str] | None, int]:
    """Read and align the inputs: ``(utts, classes, targets, scores, utt2lang or None, extra rows)``.

    Rows follow the data directory's utterance order; every labelled utterance needs a
    score row, every label must be a class of the scores header.
    """
    from voxrecipes.data.datadir import DataDir
    from voxrecipes.data.posteriors import read_posteriors

    data_dir = Path(data_dir)
    post = read_posteriors(scores_path)
    dd = DataDir.load(data_dir)
    labels_path = dd.file_path("utt2labels")
    if dd.utt2labels is None:
        raise DataError(labels_path, None, "file not found; the toxicity evaluation needs the reference labels")
    utts = [u for u in dd.utts if u in dd.utt2labels]
    row_of = {u: i for i, u in enumerate(post.utts)}
    missing = missing_keys(utts, row_of, labels_path, scores_path)
    if missing is not None:
        raise DataError(scores_path, None, f"{missing}; score the whole data directory")
    columns = label_indices(dd.utt2labels, post.classes, labels_path, utts=utts, classes_from=scores_path,
                            lines={utt: dd.line_of("utt2labels", utt) for utt in utts})
    targets = np.zeros((len(utts), len(post.classes)), dtype=bool)
    for i, utt in enumerate(utts):
        targets[i, columns[utt]] = True
    scores = post.matrix[[row_of[u] for u in utts]]
    extra = len(post.utts) - len(utts)
    if extra:
        labelled = set(utts)
        first = next(u for u in post.utts if u not in labelled)
        logger.info("ignored %d rows of %s without a label in %s (first: '%s')", extra, scores_path, labels_path,
                    first)
    return utts, list(post.classes), targets, scores, dd.utt2lang, extra


def evaluate_toxicity(scores_path: str | os.PathLike, data_dir: str | os.PathLike, *,
                      ap_classes: Sequence[str] = AP_CLASSES, num_bootstrap: int = 1000, seed: int = 0,
                      alpha: float = 5.0, set_name: str | None = None, detection_class: str | None = None,
                      threshold: float | None = None, threshold_source: str | None = None) -> dict:
    """Per-class AP, mAP over ``ap_classes``, their ``100 - alpha`` % bootstrap CIs, overall and per language.

    With ``detection_class``, also the binary detection metrics of that class under ``detection``
    (:mod:`voxrecipes.metrics.detection`: AUC, AP, precision/recall/F1 at ``threshold``, tuned on
    this set when None). Returns a JSON-serialisable dict (NaN written as ``None``); see the module
    docstring.
    """
    if num_bootstrap < 1:
        raise ConfigError(f"--num_bootstrap must be at least 1, got {num_bootstrap}")
    if not 0 < alpha < 100:
        raise ConfigError(f"alpha must be between 0 and 100 (percent), got {alpha}")
    utts, classes, targets, scores, utt2lang, extra = load_targets(scores_path, data_dir)
    ap_classes = list(ap_classes)
    unknown = [c for c in ap_classes if c not in classes]
    if unknown or not ap_classes or len(set(ap_classes)) != len(ap_classes):
        raise ConfigError(f"--ap_classes must be distinct classes of the header of {scores_path} "
                          f"({' '.join(classes)}); got {' '.join(ap_classes) or 'none'}")
    kwargs = {"num_bootstrap": num_bootstrap, "seed": seed, "alpha": alpha}
    overall = subset_metrics(targets, scores, classes, ap_classes, **kwargs)
    per_language: dict[str, dict] = {}
    languages: list[str] = []
    if utt2lang is None:
        logger.info("%s has no utt2lang: no per-language breakdown", data_dir)
    else:
        langs = np.array([utt2lang[u] for u in utts])
        languages = order_languages(set(langs.tolist()))
        for lang in languages:
            rows = np.flatnonzero(langs == lang)
            per_language[lang] = subset_metrics(targets[rows], scores[rows], classes, ap_classes, **kwargs)
    metrics = {
        "task": "toxicity",
        "set": set_name or Path(data_dir).name,
        "scores": os.fspath(scores_path),
        "data": os.fspath(data_dir),
        "classes": classes,
        "ap_classes": ap_classes,
        "num_extra_scores": int(extra),
        **overall,
        "languages": languages,
        "per_language": per_language,
        **_detection(detection_class, classes, targets, scores, [utt2lang[u] for u in utts] if utt2lang else None,
                     threshold, threshold_source, kwargs, scores_path),
        "ci_level": 1.0 - alpha / 100.0,
        "num_bootstrap": int(num_bootstrap),
        "seed": int(seed),
        "alpha": float(alpha),
    }
    ci = metrics["map_ci"]
    logger.info("%s: mAP %s [%s], N=%d, languages: %s", metrics["set"], percent(metrics["map"]),
                "n/a" if ci is None else f"{percent(ci[0])}, {percent(ci[1])}", metrics["num_utts"],
                " ".join(languages) or "none")
    return metrics


def _detection(name: str | None, classes: list[str], targets: np.ndarray, scores: np.ndarray,
               languages: list[str] | None, threshold: float | None, source: str | None, kwargs: dict,
               scores_path: str | os.PathLike) -> dict:
    """``{"detection": ...}`` for class ``name`` (nothing without one)."""
    if name is None:
        return {}
    from voxrecipes.metrics.detection import evaluate_detection

    if name not in classes:
        raise ConfigError(f"--detection_class {name} is not a class of {scores_path} ({' '.join(classes)})")
    k = classes.index(name)
    if threshold is None and not targets[:, k].any():
        raise DataError(scores_path, None, f"cannot tune a threshold for {name}: no utterance of the set has it")
    return {"detection": evaluate_detection(targets[:, k], scores[:, k], languages, name=name, threshold=threshold,
                                            threshold_source=source, **kwargs)}


def write_metrics(metrics: dict, out_dir: str | os.PathLike) -> Path:
    """Write ``<out_dir>/metrics.json`` atomically (strict JSON: a NaN left anywhere is an error)."""
    path = Path(out_dir) / METRICS_FILE
    text = json.dumps(metrics, indent=2, allow_nan=False)
    with atomic_write(path) as handle:
        handle.write(text + "\n")
    return path

