"""RESULTS.md of the MSP-Podcast emotion recipe, in the layout of the paper's Tables 2 and 3.

Inputs are ``NAME=SET=path/to/metrics.json`` specs: categorical systems scored by
:func:`voxrecipes.metrics.evaluate.evaluate_classification` and attribute systems scored
by :func:`voxrecipes.metrics.attributes.evaluate_attributes`. The page holds:

* an environment header (:func:`voxrecipes.metrics.results.environment`);
* Table 3 layout: one row per categorical system (in the order given), one column per
  evaluation set, cells ``macro-F1 [95% CI]``, ``-`` where a system was not evaluated
  on a set; then per set a per-class F1 table, and the confusion matrix of the last row
  (the recipe's fused system) on the prior set;
* Table 2 layout: one row per attribute system, for each set the columns Valence,
  Arousal, Dominance and Average (CCC); a second table gives each CCC with its 95% CI,
  N and the count of predictions outside the 1-7 scale; the last row's scatter plots;
* prior correction: for each pair (system without prior, system with the balanced
  prior) the two macro-F1s on one set (default ``dev_bal``) and whether the prior
  raised macro-F1, decided on the unrounded values (equal counts as "did not raise");
* fusion against single systems (``FUSED=SYS1,SYS2,...`` checks): per check set
  (default ``dev_bal`` and ``test1``), whether the fused system beats each listed single
  system (macro-F1 for categorical systems, mean CCC for attribute systems; the names
  must all be systems of one of the two tables);
* text against speech (``TEXT=SPEECH`` attribute systems): per check set, whether text
  leads on valence and speech on arousal (CCC);
* fusion weights: for each ``NAME=weights.json`` written by ``fuse_posteriors``, the
  chosen interpolation weights (per attribute for attributes) with the tuning set, its
  size and the tuning scores, or the logistic-regression fuser's C, features and training
  set;
* ASR word error rate (``SET=wer.json`` specs, written by the ASR stage when a set has a
  reference transcript): one row per set (in the order given) with the WER in percent,
  substitutions, deletions, insertions, reference words, utterances, empty hypotheses
  and the ASR model and backend, plus the text normalisation the files record.

RESULTS.md links only to files next to it (the committed results): the two plots are copied
beside it as ``RESULTS_confusion_<set>.png`` and ``RESULTS_scatter_<set>.png``; the other
files it names (every system's plots, weights.json, wer.json) stay under the experiment
directory and appear as plain paths.

Every verdict compares the unrounded values and is strict (equal is "does not beat" /
"does not lead"); a check set without the needed metrics reads "not evaluated".

Columns follow ``sets`` when given (a spec naming another set is an error), else the
order in which sets first appear in the specs; each table shows only the sets that at
least one of its systems was evaluated on.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from voxrecipes.errors import ConfigError, DataError
from voxrecipes.fileio import atomic_write
from voxrecipes.labels import ATTRIBUTES
from voxrecipes.metrics.results import Entry, environment, header_lines, load_metrics, relative_link

logger = logging.getLogger(__name__)

#: Keys a categorical metrics.json must have (written by evaluate_classification).
CATEGORY_KEYS = ("macro_f1", "macro_f1_ci", "classes", "per_class_f1")
#: Keys an attribute metrics.json must have (written by evaluate_attributes).
ATTRIBUTE_KEYS = ("ccc", "ccc_ci", "ccc_mean", "ccc_mean_ci")
#: Column titles of the attributes, as in the paper's Table 2.
ATTRIBUTE_TITLES = {"valence": "Valence", "arousal": "Arousal", "dominance": "Dominance"}
DEFAULT_PRIOR_SET = "dev_bal"
#: Sets on which fusion and modality verdicts are given by default (the issue's Dev_bal and Test1).
DEFAULT_CHECK_SETS = ("dev_bal", "test1")
#: Keys every weights.json of fuse_posteriors has, and those of each method.
WEIGHTS_KEYS = ("method", "task", "systems", "tune_labels", "num_tune")
WEIGHTS_METHOD_KEYS = {"interpolation": ("weights", "step"), "logreg": ("C", "features")}


# ----------------------------------------------------------------------------------------------
# Specs and inputs

def parse_spec(spec: str, option: str = "--category") -> tuple[str, str, Path]:
    """Split ``NAME=SET=path/to/metrics.json`` (the path may contain ``=``)."""
    parts = spec.split("=", 2)
    if len(parts) != 3 or not all(p.strip() for p in parts) or any("|" in p for p in parts[:2]):
        raise ConfigError(f"{option} must be NAME=SET=path/to/metrics.json (NAME and SET without '=' or '|'), "
                          f"got '{spec}'")
    return parts[0].strip(), parts[1].strip(), Path(parts[2])


def parse_prior_pair(spec: str) -> tuple[str, str]:
    """Split ``NAME_WITHOUT=NAME_WITH`` (system without the prior correction, system with it)."""
    without, sep, with_prior = spec.partition("=")
    if not sep or not without.strip() or not with_prior.strip() or "=" in with_prior:
        raise ConfigError(f"--prior_pair must be NAME_WITHOUT_PRIOR=NAME_WITH_PRIOR, got '{spec}'")
    return without.strip(), with_prior.strip()


def parse_fusion_check(spec: str) -> tuple[str, list[str]]:
    """Split ``FUSED_NAME=SYS1,SYS2,...`` (a fused system and the single systems it should beat)."""
    fused, sep, rest = spec.partition("=")
    singles = [s.strip() for s in rest.split(",")]
    fused = fused.strip()
    if not sep or not fused or "=" in rest or not rest.strip() or not all(singles):
        raise ConfigError(f"--fusion_check must be FUSED_NAME=SYS1,SYS2,... (names without '=' or ','), "
                          f"got '{spec}'")
    if fused in singles or len(set(singles)) != len(singles):
        raise ConfigError(f"--fusion_check '{spec}': the single systems must be distinct and differ from "
                          f"the fused system '{fused}'")
    return fused, singles


def parse_modality_check(spec: str) -> tuple[str, str]:
    """Split ``TEXT_ATTR_NAME=SPEECH_ATTR_NAME`` (two attribute systems)."""
    text, sep, speech = spec.partition("=")
    text, speech = text.strip(), speech.strip()
    if not sep or not text or not speech or "=" in speech:
        raise ConfigError(f"--modality_check must be TEXT_ATTR_NAME=SPEECH_ATTR_NAME, got '{spec}'")
    if text == speech:
        raise ConfigError(f"--modality_check '{spec}': the text and the speech system must differ")
    return text, speech


def parse_weights_spec(spec: str) -> tuple[str, Path]:
    """Split ``NAME=path/to/weights.json`` (the path may contain ``=``)."""
    name, sep, path = spec.partition("=")
    if not sep or not name.strip() or not path.strip():
        raise ConfigError(f"--fusion_weights must be NAME=path/to/weights.json, got '{spec}'")
    return name.strip(), Path(path)


def load_weights(path: str | os.PathLike) -> dict:
    """Read a weights.json of ``fuse_posteriors`` and check the keys the Fusion weights section uses."""
    report = load_metrics(path, WEIGHTS_KEYS, "fuse_posteriors")
    path = Path(path)
    method, task = report["method"], report["task"]
    if method not in WEIGHTS_METHOD_KEYS or task not in ("category", "attributes"):
        raise DataError(path, None, f"unknown method '{method}' or task '{task}'; written by fuse_posteriors?")
    missing = [k for k in WEIGHTS_METHOD_KEYS[method] if k not in report]
    if missing:
        raise DataError(path, None, f"missing keys {', '.join(missing)} of --method {method}; "
                                    "written by fuse_posteriors?")
    systems = report["systems"]
    if not isinstance(systems, list) or not systems:
        raise DataError(path, None, "'systems' must be a non-empty list of names")
    if method == "interpolation":
        weights = report["weights"]
        rows = list(weights.values()) if task == "attributes" and isinstance(weights, dict) else [weights]
        if not all(isinstance(r, dict) and set(r) == set(systems) for r in rows):
            raise DataError(path, None, f"'weights' must give a weight to each of {', '.join(systems)}"
                                        f"{' per attribute' if task == 'attributes' else ''}")
    return report


def _load_entries(items: Sequence[tuple[str, str, Path, str]], option: str, required: Sequence[str],
                  writer: str) -> list[Entry]:
    """Read the metrics of each ``(name, set, metrics.json, what gave it)``; ``what`` goes into the errors."""
    entries: list[Entry] = []
    seen: dict[tuple[str, str], str] = {}
    for name, set_name, path, spec in items:
        if (name, set_name) in seen:
            raise ConfigError(f"{option} '{spec}': system '{name}' on set '{set_name}' was already given "
                              f"('{seen[(name, set_name)]}')")
        seen[(name, set_name)] = spec
        metrics = load_metrics(path, required, writer)
        if option == "--attributes":
            absent = [a for a in ATTRIBUTES if a not in metrics["ccc"] or a not in metrics["ccc_ci"]]
            if absent:
                raise DataError(path, None, f"no CCC for {' '.join(absent)}; written by {writer}?")
        recorded = metrics.get("set")
        if recorded and recorded != set_name:
            logger.warning("%s '%s': the metrics file says set '%s'", option, spec, recorded)
        entries.append(Entry(name, set_name, metrics, path))
    return entries


def _distinct(names: Sequence[str], option: str) -> list[str]:
    """``names`` stripped; ConfigError if one is listed twice."""
    names = [n.strip() for n in names]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ConfigError(f"{option} lists {' '.join(dupes)} more than once")
    return names


def _column_sets(sets: Sequence[str] | None, groups: Sequence[tuple[str, Sequence[Entry]]]) -> list[str]:
    """Column order: ``sets`` (checked to cover every entry) or the order of first appearance."""
    if sets:
        sets = _distinct(sets, "--sets")
        for option, entries in groups:
            for e in entries:
                if e.set not in sets:
                    raise ConfigError(f"{option} {e.system}={e.set}={e.path}: set '{e.set}' is not in --sets "
                                      f"({' '.join(sets)})")
        return sets
    order: list[str] = []
    for _, entries in groups:
        for e in entries:
            if e.set not in order:
                order.append(e.set)
    return order


def _systems(entries: Sequence[Entry]) -> list[str]:
    names: list[str] = []
    for e in entries:
        if e.system not in names:
            names.append(e.system)
    return names


def _ids(entries: Sequence[Entry]) -> dict[str, str]:
    """``#1``, ``#2`` ... per system, in row order (the IDs of one table)."""
    return {name: f"#{i}" for i, name in enumerate(_systems(entries), start=1)}


def _by_key(entries: Sequence[Entry]) -> dict[tuple[str, str], dict]:
    """The metrics of each ``(system, set)``."""
    return {(e.system, e.set): e.metrics for e in entries}


# ----------------------------------------------------------------------------------------------
# Rendering

def _row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _header(cells: Sequence[str]) -> list[str]:
    return [_row(cells), "|" + "---|" * len(cells)]


def _f1(value: float) -> str:
    return f"{value:.3f}"


def _ccc(value: float) -> str:
    return f"{value:.4f}"


def _with_ci(fmt, value: float, ci: Sequence[float] | None) -> str:
    return fmt(value) if not ci else f"{fmt(value)} [{fmt(ci[0])}, {fmt(ci[1])}]"


def f1_cell(metrics: dict | None) -> str:
    """``0.297 [0.262, 0.331]``, or ``-`` without an evaluation."""
    if metrics is None:
        return "-"
    return _with_ci(_f1, metrics["macro_f1"], metrics.get("macro_f1_ci"))


def _resamples_note(entries: Sequence[Entry]) -> str:
    counts = sorted({int(e.metrics["num_bootstrap"]) for e in entries if "num_bootstrap" in e.metrics})
    if not counts:
        return ""
    return f" ({'/'.join(str(c) for c in counts)} resamples)"


#: Per table: the metrics key naming its plot, the plot's default file name, and what it shows.
PLOTS = {"category": ("confusion_png", "confusion.png", "confusion"),
         "attributes": ("scatter_png", "scatter.png", "scatter")}


@dataclass
class Figure:
    """A plot copied next to RESULTS.md (which links only to files beside it)."""

    entry: Entry  # the system and set it shows
    source: Path  # the plot the evaluation stage wrote under exp/
    name: str  # its file name next to RESULTS.md: RESULTS_<confusion|scatter>_<set>.png


def pick_figure(entries: Sequence[Entry], kind: str, figure_set: str, columns: Sequence[str]) -> Figure | None:
    """The plot of the table's last row (the recipe's fused system) on ``figure_set``, or on the first set.

    Rows without a plot on that set are passed over; None when no row has one.
    """
    key, default, label = PLOTS[kind]
    in_table = [s for s in columns if any(e.set == s for e in entries)]
    if not in_table:
        return None
    set_name = figure_set if figure_set in in_table else in_table[0]
    for e in reversed(entries):
        png = e.path.parent / e.metrics.get(key, default)
        if e.set == set_name and png.is_file():
            return Figure(e, png, f"RESULTS_{label}_{set_name}.png")
    return None


def _figure_lines(figure: Figure | None, ids: dict[str, str], kind: str, out_dir: str | os.PathLike) -> list[str]:
    """The copied plot, with what it shows and where the other plots are (under exp/, not committed)."""
    if figure is None:
        return []
    label = PLOTS[kind][2]
    title = {"confusion": "Confusion matrix", "scatter": "Scatter plots"}[label]
    e = figure.entry
    return ["", f"### {title}", "",
            f"![{label} of {ids[e.system]} {e.system} on {e.set}]({figure.name})", "",
            f"{ids[e.system]} {e.system} on {e.set}. The evaluation stage writes this plot for every system and "
            f"set next to its metrics.json under the experiment directory (here "
            f"`{relative_link(figure.source, out_dir)}`); those files are not committed."]


def render_category_tables(entries: Sequence[Entry], columns: Sequence[str], out_dir: str | os.PathLike,
                           figure: Figure | None = None) -> list[str]:
    """Table 3 layout, per-class F1 per set and the confusion matrix of ``figure``."""
    systems = _systems(entries)
    ids = _ids(entries)
    by_key = _by_key(entries)
    columns = [s for s in columns if any(e.set == s for e in entries)]
    lines = ["## Emotion categories: macro-F1 (Table 3 layout)", "",
             f"Macro-F1 with its 95% bootstrap confidence interval in brackets{_resamples_note(entries)}; "
             "`-`: not evaluated on that set.", ""]
    lines += _header(["ID", "System", *columns])
    for name in systems:
        lines.append(_row([ids[name], name, *(f1_cell(by_key.get((name, s))) for s in columns)]))
    lines += ["", "### Per-class F1"]
    for s in columns:
        in_set = [e for e in entries if e.set == s]
        classes: list[str] = []
        for e in in_set:
            classes += [c for c in e.metrics["classes"] if c not in classes]
        lines += ["", f"#### {s}", ""]
        lines += _header(["ID", "System", *classes, "Utts"])
        for e in in_set:
            per_class = e.metrics["per_class_f1"]
            cells = [_f1(per_class[c]) if per_class.get(c) is not None else "-" for c in classes]
            lines.append(_row([ids[e.system], e.system, *cells, str(e.metrics.get("num_utts", "-"))]))
    return lines + _figure_lines(figure, ids, "category", out_dir)


def prior_verdict(without: float, with_prior: float) -> str:
    """``raised`` when the corrected macro-F1 is higher, else ``did not raise``."""
    return "raised" if with_prior > without else "did not raise"


def render_prior_lines(entries: Sequence[Entry], pairs: Sequence[tuple[str, str]], prior_set: str) -> list[str]:
    """One line per (without, with prior) pair: both macro-F1s on ``prior_set`` and the verdict."""
    ids = _ids(entries)
    by_key = _by_key(entries)
    lines = [f"## Prior correction ({prior_set})", "",
             f"Macro-F1 on {prior_set} without and with the balanced (uniform) prior; the verdict compares the "
             "unrounded values.", ""]
    for without, with_prior in pairs:
        a, b = by_key[(without, prior_set)]["macro_f1"], by_key[(with_prior, prior_set)]["macro_f1"]
        lines.append(f"- {ids[without]} {without} -> {ids[with_prior]} {with_prior}: macro-F1 {_f1(a)} -> {_f1(b)} "
                     f"({b - a:+.3f}): the balanced prior {prior_verdict(a, b)} macro-F1")
    return lines


def render_attribute_tables(entries: Sequence[Entry], columns: Sequence[str], out_dir: str | os.PathLike,
                            figure: Figure | None = None) -> list[str]:
    """Table 2 layout (CCC points), the CCC [95% CI] table and the scatter plots of ``figure``."""
    systems = _systems(entries)
    ids = _ids(entries)
    by_key = _by_key(entries)
    columns = [s for s in columns if any(e.set == s for e in entries)]
    titles = [*(ATTRIBUTE_TITLES[a] for a in ATTRIBUTES), "Average"]
    lines = ["## Emotion attributes: CCC (Table 2 layout)", "",
             "Concordance correlation coefficient of each attribute and their average (the mean of the three); "
             "`-`: not evaluated on that set. The 95% confidence intervals are in the next table.", ""]
    lines += _header(["ID", "System", *(f"{s} {t}" for s in columns for t in titles)])
    for name in systems:
        cells = [ids[name], name]
        for s in columns:
            m = by_key.get((name, s))
            if m is None:
                cells += ["-"] * len(titles)
            else:
                cells += [_ccc(m["ccc"][a]) for a in ATTRIBUTES] + [_ccc(m["ccc_mean"])]
        lines.append(_row(cells))
    lines += ["", "### CCC with 95% confidence intervals", "",
              f"Bootstrap percentile intervals over utterances{_resamples_note(entries)}; the Average's interval "
              "resamples the utterances jointly for the three attributes. Out of scale: predicted values outside "
              "the 1-7 label scale (kept, not clipped).", ""]
    lines += _header(["ID", "System", "Set", "N", *titles, "Out of scale"])
    for name in systems:
        for s in columns:
            m = by_key.get((name, s))
            if m is None:
                continue
            cells = [_with_ci(_ccc, m["ccc"][a], m["ccc_ci"][a]) for a in ATTRIBUTES]
            cells.append(_with_ci(_ccc, m["ccc_mean"], m["ccc_mean_ci"]))
            lines.append(_row([ids[name], name, s, str(m.get("num_utts", "-")), *cells,
                               str(m.get("num_predictions_outside_scale", "-"))]))
    return lines + _figure_lines(figure, ids, "attributes", out_dir)


# ----------------------------------------------------------------------------------------------
# Verdicts: fusion against single systems, text against speech; the fusion weights

#: Per table: the option that fills it, the score a fusion check compares, its key and its format.
KINDS = {"category": ("--category", "macro-F1", "macro_f1", 3),
         "attributes": ("--attributes", "mean CCC", "ccc_mean", 4)}
#: Subsection prefix per table (the ``#N`` ids are those of that table's rows).
KIND_TITLES = {"category": "Categories", "attributes": "Attributes"}


def _num(value: float, digits: int) -> str:
    return f"{value:.{digits}f}"


def _diff(value: float, digits: int) -> str:
    return f"{value:+.{digits}f}"


def _and(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def render_fusion_checks(checks: Sequence[tuple[str, str, list[str]]], tables: dict[str, Sequence[Entry]],
                         check_sets: Sequence[str]) -> list[str]:
    """Per ``(kind, fused, singles)`` check and check set: does the fused score strictly beat each single one?"""
    lines = ["## Fusion against single systems", "",
             f"Whether each fused system beats each of its single systems on {_and(list(check_sets))}: "
             "categorical systems compare macro-F1, attribute systems the mean CCC of valence, arousal and "
             "dominance; a fused system beats a single system when its unrounded score is strictly higher."]
    for kind, fused, singles in checks:
        _, score_name, key, digits = KINDS[kind]
        entries = tables[kind]
        ids = _ids(entries)
        by_key = _by_key(entries)
        lines += ["", f"### {KIND_TITLES[kind]}: {ids[fused]} {fused} ({score_name})", ""]
        for s in check_sets:
            fused_metrics = by_key.get((fused, s))
            missing = [f"{ids[n]} {n}" for n in singles if (n, s) not in by_key]
            if fused_metrics is None or len(missing) == len(singles):
                absent = [f"{ids[fused]} {fused}"] if fused_metrics is None else missing
                lines.append(f"- {s}: not evaluated (no metrics for {', '.join(absent)})")
                continue
            f = fused_metrics[key]
            clauses, not_beaten = [], []
            for n in singles:
                m = by_key.get((n, s))
                if m is None:
                    clauses.append(f"vs {ids[n]} {n}: not evaluated")
                    continue
                beats = f > m[key]
                if not beats:
                    not_beaten.append(f"{ids[n]} {n}")
                clauses.append(f"vs {ids[n]} {n} {_num(m[key], digits)}: {'beats' if beats else 'does not beat'} "
                               f"({_diff(f - m[key], digits)})")
            if not_beaten:
                verdict = f"does not beat every single system (not {', '.join(not_beaten)})"
            elif missing:
                verdict = f"beats every evaluated single system ({', '.join(missing)} not evaluated)"
            else:
                verdict = "beats every single system"
            lines.append(f"- {s}: {ids[fused]} {fused} {_num(f, digits)} {'; '.join(clauses)}. Verdict: {verdict}")
    return lines


def render_modality_checks(pairs: Sequence[tuple[str, str]], entries: Sequence[Entry],
                           check_sets: Sequence[str]) -> list[str]:
    """Per ``(text, speech)`` attribute pair and check set: text leads on valence? speech leads on arousal?"""
    ids = _ids(entries)
    by_key = _by_key(entries)
    lines = ["## Text and speech by attribute", "",
             f"Whether the text system leads on valence and the speech system on arousal on "
             f"{_and(list(check_sets))} (CCC); a system leads when its unrounded CCC is strictly higher."]
    for text, speech in pairs:
        lines += ["", f"### Attributes: {ids[text]} {text} (text) vs {ids[speech]} {speech} (speech)", ""]
        for s in check_sets:
            absent = [f"{ids[n]} {n}" for n in (text, speech) if (n, s) not in by_key]
            if absent:
                lines.append(f"- {s}: not evaluated (no metrics for {', '.join(absent)})")
                continue
            t, sp = by_key[(text, s)]["ccc"], by_key[(speech, s)]["ccc"]
            val = t["valence"] - sp["valence"]
            aro = sp["arousal"] - t["arousal"]
            lines.append(f"- {s}: valence CCC text {_ccc(t['valence'])} vs speech {_ccc(sp['valence'])}: "
                         f"text {'leads' if val > 0 else 'does not lead'} ({_diff(val, 4)}); "
                         f"arousal CCC speech {_ccc(sp['arousal'])} vs text {_ccc(t['arousal'])}: "
                         f"speech {'leads' if aro > 0 else 'does not lead'} ({_diff(aro, 4)})")
    return lines


def _weight_digits(step) -> int:
    """Decimals that show every grid weight exactly (0.05 -> 2, 0.025 -> 3), at least 2, at most 6."""
    try:
        text = f"{float(step):.6f}".rstrip("0")
    except (TypeError, ValueError):
        return 2
    return max(2, len(text.split(".")[1]))


def _scores_line(label: str, scores: dict | None, digits: int) -> list[str]:
    if not isinstance(scores, dict) or not isinstance(scores.get("systems"), dict) or "fused" not in scores:
        return []
    parts = [f"{n} {_num(v, digits)}" for n, v in scores["systems"].items()]
    parts.append(f"fused {_num(scores['fused'], digits)}")
    return [f"- {label}: {', '.join(parts)}"]


def render_fusion_weights(items: Sequence[tuple[str, str, dict, Path]], ids: dict[str, dict[str, str]],
                          out_dir: str | os.PathLike) -> list[str]:
    """The Fusion weights section: one subsection per ``(name, kind, weights.json report, path)``."""
    lines = ["## Fusion weights", "",
             "Chosen by fuse_posteriors on the tuning set, as recorded in its weights.json. A fused system's "
             "scores on its own tuning set, and on sets that contain it (Dev_filt, Development), are optimistic "
             "(for the logistic regression they include its training data); "
             "the other sets are the fair comparison."]
    for name, kind, report, path in items:
        systems = [str(n) for n in report["systems"]]
        tuned_on = f"{report['num_tune']} utterances of {report['tune_labels']}"
        where = relative_link(path, out_dir)
        lines += ["", f"### {KIND_TITLES[kind]}: {ids[kind][name]} {name}", ""]
        if report["method"] == "logreg":
            kind_of = "log posteriors" if report["features"] == "log" else "posteriors"
            lines.append(f"- multinomial logistic regression, C={float(report['C'])}, features {kind_of} of "
                         f"{_and(systems)} (concatenated), trained on {tuned_on}")
            lines += _scores_line("macro-F1 on its training data", report.get("tune_macro_f1"), 3)
        elif kind == "category":
            weights = report["weights"]
            digits = _weight_digits(report["step"])
            lines.append(f"- interpolation of the posteriors, grid step {report['step']}, tuned on {tuned_on} "
                         "(macro-F1)")
            lines.append(f"- weights: {', '.join(f'{n} {_num(weights[n], digits)}' for n in systems)}")
            lines += _scores_line("tuning macro-F1", report.get("tune_macro_f1"), 3)
        else:
            weights = report["weights"]
            digits = _weight_digits(report["step"])
            tune = report.get("tune_ccc") if isinstance(report.get("tune_ccc"), dict) else {}
            single = tune.get("systems") if isinstance(tune.get("systems"), dict) else {}
            fused = tune.get("fused") if isinstance(tune.get("fused"), dict) else {}
            with_ccc = all(isinstance(single.get(n), dict) for n in systems) and bool(fused)
            lines.append(f"- interpolation of the attribute predictions, one weight vector per attribute, grid step "
                         f"{report['step']}, tuned on {tuned_on} (CCC of each attribute)")
            lines.append("")
            head = ["Attribute", *(f"Weight {n}" for n in systems)]
            if with_ccc:
                head += [*(f"Tuning CCC {n}" for n in systems), "Tuning CCC fused"]
            lines += _header(head)
            for d in weights:  # one weight vector per attribute, in fuse_posteriors' column order
                cells = [ATTRIBUTE_TITLES.get(d, d), *(_num(weights[d][n], digits) for n in systems)]
                if with_ccc:
                    cells += [_ccc(single[n][d]) if d in single[n] else "-" for n in systems]
                    cells.append(_ccc(fused[d]) if d in fused else "-")
                lines.append(_row(cells))
            lines.append("")
        lines.append(f"- file: `{where}`")
    return lines


def render_emotion_results(title: str, category: Sequence[Entry], attributes: Sequence[Entry],
                           prior_pairs: Sequence[tuple[str, str]], prior_set: str, columns: Sequence[str],
                           env: dict[str, str], out_dir: str | os.PathLike, *,
                           fusion_checks: Sequence[tuple[str, str, list[str]]] = (),
                           modality_checks: Sequence[tuple[str, str]] = (),
                           fusion_weights: Sequence[tuple[str, str, dict, Path]] = (),
                           check_sets: Sequence[str] = DEFAULT_CHECK_SETS,
                           wers: Sequence[tuple[str, dict, Path]] = (),
                           figures: dict[str, Figure | None] | None = None) -> str:
    """The whole RESULTS.md text; paths are relative to ``out_dir``, links only to the ``figures`` beside it.

    ``fusion_checks`` are resolved ``(kind, fused, singles)`` triples (kind: ``category`` or
    ``attributes``), ``fusion_weights`` ``(name, kind, weights.json report, path)``, ``wers``
    ``(set, wer.json report, path)``.
    """
    lines = header_lines(title, env)
    figures = figures or {}
    if category:
        lines += [""] + render_category_tables(category, columns, out_dir, figures.get("category"))
    if prior_pairs:
        lines += [""] + render_prior_lines(category, prior_pairs, prior_set)
    if attributes:
        lines += [""] + render_attribute_tables(attributes, columns, out_dir, figures.get("attributes"))
    tables = {"category": category, "attributes": attributes}
    if fusion_checks:
        lines += [""] + render_fusion_checks(fusion_checks, tables, check_sets)
    if modality_checks:
        lines += [""] + render_modality_checks(modality_checks, attributes, check_sets)
    if fusion_weights:
        ids = {kind: _ids(entries) for kind, entries in tables.items()}
        lines += [""] + render_fusion_weights(fusion_weights, ids, out_dir)
    if wers:
        lines += [""] + render_wer_table(wers, out_dir)
    return "\n".join(lines) + "\n"


def _check_pairs(pairs: Sequence[tuple[str, str]], category: Sequence[Entry], prior_set: str) -> None:
    if pairs and not category:
        raise ConfigError("--prior_pair needs --category entries")
    systems = _systems(category)
    evaluated = {(e.system, e.set) for e in category}
    for without, with_prior in pairs:
        for name in (without, with_prior):
            if name not in systems:
                raise ConfigError(f"--prior_pair {without}={with_prior}: '{name}' is not a --category system "
                                  f"({', '.join(systems)})")
            if (name, prior_set) not in evaluated:
                raise ConfigError(f"--prior_pair {without}={with_prior}: '{name}' has no --category entry for "
                                  f"--prior_set {prior_set}")


def _resolve_fusion_checks(checks: Sequence[tuple[str, list[str]]], category: Sequence[Entry],
                           attributes: Sequence[Entry]) -> list[tuple[str, str, list[str]]]:
    """``(kind, fused, singles)`` per ``(fused, singles)``: the table (category or attributes) holding all its names."""
    tables = {kind: _systems(entries) for kind, entries in (("category", category), ("attributes", attributes))}
    resolved = []
    for fused, singles in checks:
        spec = f"{fused}={','.join(singles)}"
        kinds = [k for k, names in tables.items() if fused in names]
        if not kinds:
            raise ConfigError(f"--fusion_check {spec}: '{fused}' is neither a --category system "
                              f"({', '.join(tables['category']) or 'none'}) nor an --attributes system "
                              f"({', '.join(tables['attributes']) or 'none'})")
        fitting = [k for k in kinds if all(n in tables[k] for n in singles)]
        if not fitting:
            kind = kinds[0]
            unknown = next(n for n in singles if n not in tables[kind])
            raise ConfigError(f"--fusion_check {spec}: '{unknown}' is not a {KINDS[kind][0]} system like "
                              f"'{fused}' ({', '.join(tables[kind])})")
        if len(fitting) > 1:
            raise ConfigError(f"--fusion_check {spec}: the names are both --category and --attributes systems; "
                              "give the categorical and the attribute systems different names")
        resolved.append((fitting[0], fused, singles))
    return resolved


def _resolve_modality_checks(checks: Sequence[tuple[str, str]], attributes: Sequence[Entry]) -> list[tuple[str, str]]:
    systems = _systems(attributes)
    pairs = []
    for text, speech in checks:
        spec = f"{text}={speech}"
        for name in (text, speech):
            if name not in systems:
                raise ConfigError(f"--modality_check {spec}: '{name}' is not an --attributes system "
                                  f"({', '.join(systems) or 'none'})")
        pairs.append((text, speech))
    return pairs


def _load_fusion_weights(named: Sequence[tuple[str, Path]], category: Sequence[Entry],
                         attributes: Sequence[Entry]) -> list[tuple[str, str, dict, Path]]:
    tables = {"category": _systems(category), "attributes": _systems(attributes)}
    items, seen = [], set()
    for name, path in named:
        spec = f"{name}={path}"
        if name in seen:
            raise ConfigError(f"--fusion_weights {spec}: weights for '{name}' were already given")
        seen.add(name)
        report = load_weights(path)
        kind = report["task"]
        if name not in tables[kind]:
            raise ConfigError(f"--fusion_weights {spec}: '{name}' is not a {KINDS[kind][0]} system "
                              f"({', '.join(tables[kind]) or 'none'}), and {path} is a --task {kind} fusion")
        items.append((name, kind, report, path))
    return items


def parse_wer_spec(spec: str) -> tuple[str, Path]:
    """Split ``SET=path/to/wer.json`` (the path may contain ``=``)."""
    set_name, sep, path = spec.partition("=")
    if not sep or not set_name.strip() or not path.strip() or "|" in set_name:
        raise ConfigError(f"--wer must be SET=path/to/wer.json (SET without '=' or '|'), got '{spec}'")
    return set_name.strip(), Path(path)


def _load_wers(specs: Sequence[str]) -> list[tuple[str, dict, Path]]:
    from voxrecipes.metrics.wer import load_wer

    items: list[tuple[str, dict, Path]] = []
    for spec in specs:
        set_name, path = parse_wer_spec(spec)
        if any(name == set_name for name, _, _ in items):
            raise ConfigError(f"--wer {spec}: a WER for set '{set_name}' was already given")
        items.append((set_name, load_wer(path), path))
    return items


def render_wer_table(items: Sequence[tuple[str, dict, Path]], out_dir: str | os.PathLike) -> list[str]:
    """The "ASR transcripts" section: one row per set, WER in percent with its counts, model and backend."""
    lines = ["## ASR transcripts: word error rate", "",
             "The text systems are trained and scored on these ASR transcripts; the WER compares them with the "
             "corpus transcripts (corpus-level: (S + D + I) / reference words; empty hypotheses are scored as "
             "empty).", ""]
    lines += _header(["set", "WER (%)", "substitutions", "deletions", "insertions", "reference words", "utterances",
                      "empty hypotheses", "ASR model (backend)", "file"])
    for set_name, report, path in items:
        model = f"{report.get('model', '?')} ({report.get('backend', '?')})"
        lines.append(_row([set_name, f"{100 * report['wer']:.2f}", *(str(int(report[k])) for k in (
            "substitutions", "deletions", "insertions", "ref_words", "utts", "empty_hypotheses")), model,
            f"`{relative_link(path, out_dir)}`"]))
    normalizations = sorted({str(report["normalization"]) for _, report, _ in items})
    lines += ["", f"Text normalisation before scoring: {'; '.join(normalizations)}."]
    return lines


def _check_sets(check_sets: Sequence[str]) -> list[str]:
    names = _distinct(check_sets, "--check_sets")
    if not names or not all(names):
        raise ConfigError("--check_sets needs at least one set name")
    return names


def make_emotion_results(title: str, out: str | os.PathLike, *, category: Sequence[str] = (),
                         attributes: Sequence[str] = (), prior_pairs: Sequence[str] = (),
                         prior_set: str = DEFAULT_PRIOR_SET, sets: Sequence[str] | None = None,
                         fusion_checks: Sequence[str] = (), modality_checks: Sequence[str] = (),
                         fusion_weights: Sequence[str] = (), check_sets: Sequence[str] = DEFAULT_CHECK_SETS,
                         wers: Sequence[str] = (), env: dict[str, str] | None = None) -> str:
    """Build RESULTS.md from ``NAME=SET=metrics.json`` specs, write it atomically and return the text.

    ``prior_pairs`` are ``NAME_WITHOUT=NAME_WITH`` specs over the categorical systems;
    ``fusion_checks`` ``FUSED=SYS1,SYS2,...`` over the systems of one table;
    ``modality_checks`` ``TEXT=SPEECH`` over the attribute systems; ``fusion_weights``
    ``NAME=weights.json`` of fused systems; ``wers`` ``SET=wer.json`` of the ASR stage.
    The verdicts are given on ``check_sets``.
    Everything is read and checked before anything is written.
    """
    if not category and not attributes:
        raise ConfigError("give at least one --category or --attributes NAME=SET=path/to/metrics.json")
    return build_emotion_results(
        title, out,
        category=[(*parse_spec(spec, "--category"), spec) for spec in category],
        attributes=[(*parse_spec(spec, "--attributes"), spec) for spec in attributes],
        prior_pairs=[parse_prior_pair(p) for p in prior_pairs], prior_set=prior_set, sets=sets,
        fusion_checks=[parse_fusion_check(c) for c in fusion_checks],
        modality_checks=[parse_modality_check(c) for c in modality_checks],
        fusion_weights=[parse_weights_spec(w) for w in fusion_weights], check_sets=check_sets, wers=wers, env=env)


def build_emotion_results(title: str, out: str | os.PathLike, *,
                          category: Sequence[tuple[str, str, Path, str]] = (),
                          attributes: Sequence[tuple[str, str, Path, str]] = (),
                          prior_pairs: Sequence[tuple[str, str]] = (), prior_set: str = DEFAULT_PRIOR_SET,
                          sets: Sequence[str] | None = None, fusion_checks: Sequence[tuple[str, list[str]]] = (),
                          modality_checks: Sequence[tuple[str, str]] = (),
                          fusion_weights: Sequence[tuple[str, Path]] = (),
                          check_sets: Sequence[str] = DEFAULT_CHECK_SETS, wers: Sequence[str] = (),
                          env: dict[str, str] | None = None) -> str:
    """RESULTS.md from parsed inputs: ``(name, set, metrics.json, source)`` entries, name pairs and checks.

    The common core of :func:`make_emotion_results` (command-line specs) and
    :func:`voxrecipes.metrics.emotion_registry.results_from_registry` (the system registry).
    Everything is read and checked before anything is written.
    """
    if not category and not attributes:
        raise ConfigError("no categorical or attribute system to report")
    cat = _load_entries(category, "--category", CATEGORY_KEYS, "evaluate_classification")
    att = _load_entries(attributes, "--attributes", ATTRIBUTE_KEYS, "evaluate_attributes")
    pairs = list(prior_pairs)
    _check_pairs(pairs, cat, prior_set)
    columns = _column_sets(sets, [("--category", cat), ("--attributes", att)])
    checks = _resolve_fusion_checks(fusion_checks, cat, att)
    modality = _resolve_modality_checks(modality_checks, att)
    check_set_names = _check_sets(check_sets) if checks or modality else list(check_sets)
    weights = _load_fusion_weights(fusion_weights, cat, att)
    wer_items = _load_wers(wers)
    out = Path(out)
    figures = {"category": pick_figure(cat, "category", prior_set, columns),
               "attributes": pick_figure(att, "attributes", prior_set, columns)}
    text = render_emotion_results(title, cat, att, pairs, prior_set, columns,
                                  env if env is not None else environment(), out.parent,
                                  fusion_checks=checks, modality_checks=modality, fusion_weights=weights,
                                  check_sets=check_set_names, wers=wer_items, figures=figures)
    for figure in figures.values():
        if figure is not None:
            with atomic_write(out.parent / figure.name, mode="wb") as handle:
                handle.write(figure.source.read_bytes())
    with atomic_write(out) as handle:
        handle.write(text)
    return text
