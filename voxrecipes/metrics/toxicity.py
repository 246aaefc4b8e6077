"""Evaluation and RESULTS.md of the voice-toxicity recipe (multi-label AP / mAP with bootstrap CIs).

The paper (Sections 4-5) reports, on the human-labelled test set, the average precision
(AP) of the four toxic classes Profanity, Dating & Sexting, Racist and Bullying, their
mean (mAP), 95% bootstrap confidence intervals from 1000 resamples computed with the
``confidence_intervals`` package, a per-language breakdown (Figure 2) and the relative
change of each ablation against the alpha=1 baseline (Tables 2 and 3).

:func:`evaluate_toxicity` scores one system: a scores file (``#classes`` header, one row
of per-class sigmoid probabilities per utterance; rows need not sum to 1) against the
``utt2labels`` (and ``utt2lang``) of a data directory. AP of every class of the header is
reported (NaN, written ``null``, for a class without a positive example), mAP over
``ap_classes`` (classes without a positive are left out and ``map_classes`` says which
entered). Every subset (all utterances, each language) gets one set of bootstrap
resamples shared by all its metrics, so the CIs of the classes and of mAP are paired;
the mAP CI is the percentile interval of mAP recomputed on each resample. A resample in
which a class has no positive leaves that class's AP undefined: such resamples are
left out of that class's interval and counted in ``ci_undefined_resamples``.

:func:`write_toxicity_results` turns several metrics.json files into RESULTS.md: the
Table 2/3 layout (label columns such as Loss and alpha, then AP [CI] per class, mAP and
the relative change of mAP against the baseline), a per-language table, test-set counts,
a Figure 2 style plot and one significance line per system.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from voxrecipes.errors import ConfigError, DataError
from voxrecipes.fileio import atomic_write
from voxrecipes.labels import TOXIC_AP_CLASSES
from voxrecipes.metrics.plots import save_png

logger = logging.getLogger(__name__)

METRICS_FILE = "metrics.json"
#: The four toxic classes the paper averages into mAP, in the column order of its Tables 2 and 3.
AP_CLASSES = TOXIC_AP_CLASSES
#: Languages in the order of the paper's Table 1; other languages follow in alphabetical order.
LANGUAGE_ORDER = ("en", "es", "fr", "de", "pt")
#: Names shown in tables and plots where the class name of the data files differs.
DISPLAY_NAMES = {"Dating_Sexting": "Dating & Sexting", "No_Violation": "No Violation"}
#: Keys every metrics.json written by :func:`evaluate_toxicity` has (checked when rendering).
REQUIRED_KEYS = ("classes", "ap_classes", "num_utts", "positives", "ap", "ap_ci", "map", "map_ci", "languages",
                 "per_language")


def display_name(name: str) -> str:
    """Class name as the paper's tables write it (``Dating_Sexting`` -> ``Dating & Sexting``)."""
    return DISPLAY_NAMES.get(name, name.replace("_", " "))


def order_languages(languages) -> list[str]:
    """Languages in the paper's order (en es fr de pt), then the others alphabetically."""
    languages = set(languages)
    known = [lang for lang in LANGUAGE_ORDER if lang in languages]
    return known + sorted(languages - set(known))


# ----------------------------------------------------------------------------------------------
# Metrics

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


class Resamples:
    """One seeded set of bootstrap resamples of ``n`` samples, drawn by ``confidence_intervals``.

    The sets are the ones :func:`voxrecipes.metrics.bootstrap.bootstrap_ci` uses for the same
    ``n``, ``num_bootstrap`` and ``seed`` (samples put in a ``default_rng(seed)`` order, resample
    ``i`` drawn by ``get_bootstrap_indices`` with ``random_state=i``). They are drawn once and
    every metric of a subset is computed on them (paired CIs, and the package's index drawing,
    the slow part, runs once). Unlike ``bootstrap_ci``, resamples where a metric is undefined
    (NaN) are left out of its percentile interval instead of turning it into NaN.
    """

    def __init__(self, n: int, num_bootstrap: int, seed: int):
        from confidence_intervals import get_bootstrap_indices

        if n < 1:
            raise ValueError("no samples")
        order = np.random.default_rng(seed).permutation(n)
        self.indices = [order[get_bootstrap_indices(n, random_state=i)] for i in range(num_bootstrap)]

    def values(self, metric: Callable[[np.ndarray, np.ndarray], np.ndarray], scores: np.ndarray,
               targets: np.ndarray) -> np.ndarray:
        """``metric(targets, scores)`` of each resample, stacked (one row per resample)."""
        scores, targets = np.asarray(scores), np.asarray(targets)
        return np.array([metric(targets[idx], scores[idx]) for idx in self.indices], dtype=np.float64)

    @staticmethod
    def interval(values: np.ndarray, alpha: float) -> tuple[tuple[float, float] | None, int]:
        """``((low, high) or None, number of undefined values)``: the percentile interval of the defined values."""
        from confidence_intervals import get_conf_int

        values = np.asarray(values, dtype=np.float64)
        defined = values[np.isfinite(values)]
        undefined = int(values.size - defined.size)
        if defined.size == 0:
            return None, undefined
        low, high = get_conf_int(defined, alpha=alpha)
        return (float(low), float(high)), undefined


def _num(value: float) -> float | None:
    """NaN -> None, so that metrics.json holds ``null`` (JSON has no NaN)."""
    return None if value is None or math.isnan(value) else float(value)


def subset_metrics(targets: np.ndarray, scores: np.ndarray, classes: Sequence[str], ap_classes: Sequence[str], *,
                   num_bootstrap: int, seed: int, alpha: float) -> dict:
    """Counts, AP per class and mAP over ``ap_classes`` with bootstrap CIs, for one set of utterances."""
    from voxrecipes.metrics.ranking import average_precision

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
        "ap": {c: _num(v) for c, v in zip(classes, ap)},
        "ap_ci": ap_ci,
        "map": _num(map_point),
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
    missing = [u for u in utts if u not in row_of]
    if missing:
        raise DataError(scores_path, None, f"{len(missing)} utterances of {labels_path} have no scores in "
                                           f"{scores_path} (first: '{missing[0]}'); score the whole data directory")
    column = {c: k for k, c in enumerate(post.classes)}
    targets = np.zeros((len(utts), len(post.classes)), dtype=bool)
    for i, utt in enumerate(utts):
        for label in dd.utt2labels[utt]:
            if label not in column:
                raise DataError(labels_path, dd.line_of("utt2labels", utt),
                                f"label '{label}' of utterance '{utt}' is not a class of {scores_path} "
                                f"({' '.join(post.classes)})")
            targets[i, column[label]] = True
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
    logger.info("%s: mAP %s [%s], N=%d, languages: %s", metrics["set"], _pct(metrics["map"]),
                "n/a" if ci is None else f"{_pct(ci[0])}, {_pct(ci[1])}", metrics["num_utts"],
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


# ----------------------------------------------------------------------------------------------
# Relative change

def relative_change(system: float | None, baseline: float | None) -> float | None:
    """``(system - baseline) / baseline * 100``; None when either is missing or the baseline is 0."""
    if system is None or baseline is None or baseline == 0:
        return None
    return (system - baseline) / baseline * 100.0


def relative_changes(system: dict, baseline: dict, language: str | None = None) -> dict:
    """Relative change (percent) of every class's AP (``ap``) and of mAP (``map``), overall or for ``language``."""
    if language is not None:
        system = system.get("per_language", {}).get(language, {})
        baseline = baseline.get("per_language", {}).get(language, {})
    sys_ap, base_ap = system.get("ap", {}), baseline.get("ap", {})
    return {"ap": {c: relative_change(sys_ap.get(c), base_ap.get(c)) for c in base_ap},
            "map": relative_change(system.get("map"), baseline.get("map"))}


# ----------------------------------------------------------------------------------------------
# Rendering

@dataclass
class System:
    """One row of a results table: its label fields (Loss, alpha ...) and its metrics.json."""

    fields: tuple[str, ...]
    metrics: dict
    path: Path

    def label(self, columns: Sequence[str]) -> str:
        """``Loss=MSE, alpha=0.1`` for the text; tables show the fields in their own columns."""
        return ", ".join(f"{c}={f}" for c, f in zip(columns, self.fields))


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100.0 * value:.2f}"


def format_cell(value: float | None, ci: Sequence[float] | None) -> str:
    """``93.80 [92.10, 95.30]`` (percent, 2 decimals); ``n/a`` without a value."""
    if value is None:
        return "n/a"
    return _pct(value) if ci is None else f"{_pct(value)} [{_pct(ci[0])}, {_pct(ci[1])}]"


def format_change(change: float | None) -> str:
    """``+8.06%`` / ``-1.20%``; ``n/a`` when undefined."""
    return "n/a" if change is None else f"{change:+.2f}%"


def _metric(metrics: dict, name: str) -> tuple[float | None, list[float] | None]:
    """Point and CI of class ``name`` or of ``mAP`` in a metrics (or per-language) dict."""
    if name == "mAP":
        return metrics.get("map"), metrics.get("map_ci")
    return metrics.get("ap", {}).get(name), metrics.get("ap_ci", {}).get(name)


def _row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def render_main_table(systems: Sequence[System], label_columns: Sequence[str], baseline: System,
                      ap_classes: Sequence[str]) -> list[str]:
    """Table 2/3: label columns, AP [CI] per class, mAP [CI] and rel. Δ mAP against ``baseline``."""
    header = [*label_columns, *(display_name(c) for c in ap_classes), "mAP", "rel. Δ mAP"]
    lines = [_row(header), "|" + "---|" * len(header)]
    for s in systems:
        cells = [*s.fields]
        cells += [format_cell(*_metric(s.metrics, name)) for name in (*ap_classes, "mAP")]
        cells.append("(baseline)" if s is baseline else format_change(relative_change(s.metrics.get("map"),
                                                                                        baseline.metrics.get("map"))))
        lines.append(_row(cells))
    return lines


def render_language_table(systems: Sequence[System], label_columns: Sequence[str], baseline: System,
                          ap_classes: Sequence[str], languages: Sequence[str]) -> list[str]:
    """Language x class: each language's baseline row, then every system with its relative change."""
    header = ["Language", "N", *label_columns, *(display_name(c) for c in ap_classes), "mAP"]
    lines = [_row(header), "|" + "---|" * len(header)]
    ordered = [baseline] + [s for s in systems if s is not baseline]
    for lang in languages:
        base = baseline.metrics.get("per_language", {}).get(lang, {})
        for s in ordered:
            sub = s.metrics.get("per_language", {}).get(lang)
            if sub is None:
                continue
            cells = [lang, str(sub.get("num_utts", "n/a")), *s.fields]
            for name in (*ap_classes, "mAP"):
                value, ci = _metric(sub, name)
                cell = format_cell(value, ci)
                if s is not baseline and value is not None:
                    cell += f" ({format_change(relative_change(value, _metric(base, name)[0]))})"
                cells.append(cell)
            lines.append(_row(cells))
    return lines


def render_counts_table(metrics: dict, classes: Sequence[str], languages: Sequence[str]) -> list[str]:
    """Utterances and positives per class, per language and in all (from one metrics.json)."""
    header = ["Language", "N", *(display_name(c) for c in classes)]
    lines = [_row(header), "|" + "---|" * len(header)]
    subsets = [(lang, metrics["per_language"][lang]) for lang in languages if lang in metrics["per_language"]]
    for name, sub in [*subsets, ("all", metrics)]:
        lines.append(_row([name, str(sub["num_utts"]), *(str(sub["positives"].get(c, 0)) for c in classes)]))
    return lines


def plot_toxicity(systems: Sequence[System], labels: Sequence[str], baseline: System, ap_classes: Sequence[str],
                  path: str | os.PathLike) -> None:
    """Figure 2 style PNG: a panel per class and mAP, x = languages, one bar per system with its 95% CI."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ordered = [baseline] + [s for s in systems if s is not baseline]
    names = {id(s): lab for s, lab in zip(systems, labels)}
    languages = order_languages({lang for s in systems for lang in s.metrics.get("per_language", {})})
    groups = languages or ["all"]
    panels = [*ap_classes, "mAP"]
    ncols = min(3, len(panels))
    nrows = math.ceil(len(panels) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.2 * ncols, 3.2 * nrows), dpi=100, squeeze=False)
    width = 0.8 / len(ordered)
    try:
        for ax, name in zip(axes.flat, panels):
            for j, s in enumerate(ordered):
                xs, ys, lo, hi = [], [], [], []
                for g, lang in enumerate(groups):
                    sub = s.metrics if lang == "all" and not languages else s.metrics.get("per_language", {}).get(lang)
                    value, ci = _metric(sub or {}, name)
                    if value is None:
                        continue
                    xs.append(g - 0.4 + width * (j + 0.5))
                    ys.append(100.0 * value)
                    lo.append(max(0.0, 100.0 * (value - ci[0])) if ci else 0.0)
                    hi.append(max(0.0, 100.0 * (ci[1] - value)) if ci else 0.0)
                ax.bar(xs, ys, width=width, yerr=[lo, hi], capsize=2, color=f"C{j}", label=names[id(s)])
            ax.set_title("mAP" if name == "mAP" else display_name(name))
            ax.set_xticks(range(len(groups)), labels=groups)
            ax.set_ylabel("AP (%)")
            ax.set_ylim(0, 100)
        for ax in list(axes.flat)[len(panels):]:
            ax.axis("off")
        handles, legend_labels = axes.flat[0].get_legend_handles_labels()
        fig.legend(handles, legend_labels, loc="lower center", ncol=min(len(ordered), 4), fontsize=8)
        fig.tight_layout(rect=(0, 0.08, 1, 1))
    except BaseException:
        plt.close(fig)
        raise
    save_png(fig, path)


def load_system(fields: Sequence[str], path: str | os.PathLike) -> System:
    """Read one metrics.json (or ``<dir>/metrics.json``) written by :func:`evaluate_toxicity`."""
    path = Path(path)
    if path.is_dir():
        path = path / METRICS_FILE
    if not path.is_file():
        raise DataError(path, None, "metrics file not found; run the evaluate_toxicity stage first")
    try:
        metrics = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise DataError(path, err.lineno, f"not valid JSON: {err.msg}") from None
    missing = [k for k in REQUIRED_KEYS if not isinstance(metrics, dict) or k not in metrics]
    if missing:
        raise DataError(path, None, f"missing keys {', '.join(missing)}; written by evaluate_toxicity?")
    return System(tuple(fields), metrics, path)


def render_toxicity_results(title: str, systems: Sequence[System], label_columns: Sequence[str], baseline: System,
                            env: dict[str, str], plot_link: str | None = None) -> str:
    """The whole RESULTS.md text."""
    ap_classes = list(baseline.metrics["ap_classes"])
    m = baseline.metrics
    level = round(100 * m.get("ci_level", 0.95))
    lines = [f"# {title}", "", "## Environment", ""]
    lines += [f"- {key}: {value}" for key, value in env.items()]
    lines += ["", "## Average precision (%)", "",
              f"AP per class and mAP over {', '.join(display_name(c) for c in ap_classes)}, in percent, with the "
              f"{level}% bootstrap confidence interval ({m.get('num_bootstrap', 'n/a')} resamples) in brackets; "
              f"rel. Δ mAP = (mAP - baseline mAP) / baseline mAP x 100 against {baseline.label(label_columns)}.", ""]
    lines += render_main_table(systems, label_columns, baseline, ap_classes)
    languages = order_languages({lang for s in systems for lang in s.metrics.get("per_language", {})})
    if languages:
        lines += ["", "## Per language", "",
                  f"AP (%) [{level}% CI] per language; in parentheses the relative change against the baseline "
                  "in the same language.", ""]
        lines += render_language_table(systems, label_columns, baseline, ap_classes, languages)
    lines += ["", f"## Test-set counts ({baseline.label(label_columns)})", "",
              "Utterances (N) and positives per class.", ""]
    lines += render_counts_table(m, m["classes"], order_languages(m.get("per_language", {})))
    if "detection" in m:
        from voxrecipes.metrics.detection import render_detection

        lines += render_detection(systems, label_columns, baseline, level)
    if plot_link:
        lines += ["", "## Figure", "", f"![AP per language with {level}% CIs]({plot_link})"]
    lines += ["", "## Against the baseline", ""]
    base_map = m.get("map")
    for s in systems:
        if s is baseline:
            continue
        ci = s.metrics.get("map_ci")
        if ci is None or base_map is None:
            verdict = "cannot tell (mAP or its CI undefined)"
        else:
            verdict = "yes" if ci[0] > base_map else "no"
        lines.append(f"- {s.label(label_columns)}: mAP {format_cell(s.metrics.get('map'), ci)}; {level}% CI entirely "
                     f"above the baseline mAP {_pct(base_map)}: {verdict}")
    return "\n".join(lines) + "\n"


def _fields(label: str | Sequence[str]) -> tuple[str, ...]:
    parts = label.split(";") if isinstance(label, str) else list(label)
    return tuple(p.strip() for p in parts)


def write_toxicity_results(title: str, systems: Sequence[tuple[Sequence[str] | str, str | os.PathLike]],
                           label_columns: Sequence[str] | str, baseline_label: Sequence[str] | str,
                           out_md: str | os.PathLike, plot_png: str | os.PathLike | None = None,
                           env: dict[str, str] | None = None) -> str:
    """Write RESULTS.md (and the plot) for ``systems`` = ``[(label fields, metrics.json or its dir), ...]``.

    ``label_columns`` and label fields may be given as ``;``-separated strings. Everything is
    read and checked before anything is written; both files are written atomically.
    """
    from voxrecipes.metrics.results import environment

    columns = _fields(label_columns)
    if not systems:
        raise ConfigError("give at least one system")
    loaded: list[System] = []
    for fields, path in systems:
        fields = _fields(fields)
        if len(fields) != len(columns):
            raise ConfigError(f"system '{';'.join(fields)}' has {len(fields)} label fields but there are "
                              f"{len(columns)} label columns ({';'.join(columns)})")
        if any(s.fields == fields for s in loaded):
            raise ConfigError(f"two systems are labelled '{';'.join(fields)}'")
        loaded.append(load_system(fields, path))
    wanted = _fields(baseline_label)
    matches = [s for s in loaded if s.fields == wanted]
    if not matches:
        raise ConfigError(f"baseline '{';'.join(wanted)}' is none of the systems "
                          f"({', '.join(';'.join(s.fields) for s in loaded)})")
    baseline = matches[0]
    out_md = Path(out_md)
    plot_link = None
    if plot_png is not None:
        rel = os.path.relpath(os.path.abspath(plot_png), os.path.abspath(out_md.parent))
        plot_link = Path(rel).as_posix()
    text = render_toxicity_results(title, loaded, columns, baseline, env if env is not None else environment(),
                                   plot_link)
    if plot_png is not None:
        plot_toxicity(loaded, [", ".join(s.fields) for s in loaded], baseline, list(baseline.metrics["ap_classes"]),
                      plot_png)
    with atomic_write(out_md) as handle:
        handle.write(text)
    return text
