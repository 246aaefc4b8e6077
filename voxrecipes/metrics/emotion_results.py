"""RESULTS.md of the MSP-Podcast emotion recipe, in the layout of the paper's Tables 2 and 3.

Inputs are ``NAME=SET=path/to/metrics.json`` specs: categorical systems scored by
:func:`voxrecipes.metrics.evaluate.evaluate_classification` and attribute systems scored
by :func:`voxrecipes.metrics.attributes.evaluate_attributes`. The page holds:

* an environment header (:func:`voxrecipes.metrics.results.environment`);
* Table 3 layout: one row per categorical system (in the order given), one column per
  evaluation set, cells ``macro-F1 [95% CI]``, ``-`` where a system was not evaluated
  on a set; then per set a per-class F1 table, and a table of links to the
  confusion-matrix plots (paths relative to RESULTS.md);
* Table 2 layout: one row per attribute system, for each set the columns Valence,
  Arousal, Dominance and Average (CCC); a second table gives each CCC with its 95% CI,
  N and the count of predictions outside the 1-7 scale; links to the scatter plots;
* prior correction: for each pair (system without prior, system with the balanced
  prior) the two macro-F1s on one set (default ``dev_bal``) and whether the prior
  raised macro-F1, decided on the unrounded values (equal counts as "did not raise").

Columns follow ``sets`` when given (a spec naming another set is an error), else the
order in which sets first appear in the specs; each table shows only the sets that at
least one of its systems was evaluated on.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path

from voxrecipes.errors import ConfigError, DataError
from voxrecipes.fileio import atomic_write
from voxrecipes.metrics.attributes import ATTRIBUTES
from voxrecipes.metrics.results import Entry

logger = logging.getLogger(__name__)

#: Keys a categorical metrics.json must have (written by evaluate_classification).
CATEGORY_KEYS = ("macro_f1", "macro_f1_ci", "classes", "per_class_f1")
#: Keys an attribute metrics.json must have (written by evaluate_attributes).
ATTRIBUTE_KEYS = ("ccc", "ccc_ci", "ccc_mean", "ccc_mean_ci")
#: Column titles of the attributes, as in the paper's Table 2.
ATTRIBUTE_TITLES = {"valence": "Valence", "arousal": "Arousal", "dominance": "Dominance"}
DEFAULT_PRIOR_SET = "dev_bal"


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


def load_metrics(path: str | os.PathLike, required: Sequence[str], writer: str) -> dict:
    """Read one metrics.json and check it has ``required`` keys; DataError naming the file otherwise."""
    path = Path(path)
    if not path.is_file():
        raise DataError(path, None, f"metrics file not found; run {writer} first")
    try:
        metrics = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise DataError(path, err.lineno, f"not valid JSON: {err.msg}") from None
    except (OSError, UnicodeDecodeError) as err:
        raise DataError(path, None, f"cannot read: {err}") from None
    if not isinstance(metrics, dict):
        raise DataError(path, None, f"expected a JSON object; written by {writer}?")
    missing = [k for k in required if k not in metrics]
    if missing:
        raise DataError(path, None, f"missing keys {', '.join(missing)}; written by {writer}?")
    return metrics


def _load_entries(specs: Sequence[str], option: str, required: Sequence[str], writer: str) -> list[Entry]:
    entries: list[Entry] = []
    seen: dict[tuple[str, str], str] = {}
    for spec in specs:
        name, set_name, path = parse_spec(spec, option)
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


def _column_sets(sets: Sequence[str] | None, groups: Sequence[tuple[str, Sequence[Entry]]]) -> list[str]:
    """Column order: ``sets`` (checked to cover every entry) or the order of first appearance."""
    if sets:
        sets = [s.strip() for s in sets]
        dupes = sorted({s for s in sets if sets.count(s) > 1})
        if dupes:
            raise ConfigError(f"--sets lists {' '.join(dupes)} more than once")
        for option, entries in groups:
            for e in entries:
                if e.set not in sets:
                    raise ConfigError(f"{option} {e.system}={e.set}={e.path}: set '{e.set}' is not in --sets "
                                      f"({' '.join(sets)})")
        return list(sets)
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


def _link(entry: Entry, key: str, default: str, out_dir: str | os.PathLike) -> str | None:
    png = entry.path.parent / entry.metrics.get(key, default)
    if not png.is_file():
        return None
    return Path(os.path.relpath(os.path.abspath(png), os.path.abspath(out_dir))).as_posix()


def _links_table(entries: Sequence[Entry], ids: dict[str, str], columns: Sequence[str], key: str, default: str,
                 label: str, out_dir: str | os.PathLike) -> list[str]:
    """ID | System | one link per set (``-`` without a plot); empty when no plot exists."""
    by_key = {(e.system, e.set): e for e in entries}
    rows, any_link = [], False
    for name in _systems(entries):
        cells = [ids[name], name]
        for s in columns:
            e = by_key.get((name, s))
            link = None if e is None else _link(e, key, default, out_dir)
            any_link |= link is not None
            cells.append("-" if link is None else f"[{label}]({link})")
        rows.append(_row(cells))
    return _header(["ID", "System", *columns]) + rows if any_link else []


def render_category_tables(entries: Sequence[Entry], columns: Sequence[str], out_dir: str | os.PathLike) -> list[str]:
    """Table 3 layout, per-class F1 per set and the confusion-matrix links."""
    systems = _systems(entries)
    ids = {name: f"#{i}" for i, name in enumerate(systems, start=1)}
    by_key = {(e.system, e.set): e.metrics for e in entries}
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
    links = _links_table(entries, ids, columns, "confusion_png", "confusion.png", "confusion", out_dir)
    if links:
        lines += ["", "### Confusion matrices", ""] + links
    return lines


def prior_verdict(without: float, with_prior: float) -> str:
    """``raised`` when the corrected macro-F1 is higher, else ``did not raise``."""
    return "raised" if with_prior > without else "did not raise"


def render_prior_lines(entries: Sequence[Entry], pairs: Sequence[tuple[str, str]], prior_set: str) -> list[str]:
    """One line per (without, with prior) pair: both macro-F1s on ``prior_set`` and the verdict."""
    systems = _systems(entries)
    ids = {name: f"#{i}" for i, name in enumerate(systems, start=1)}
    by_key = {(e.system, e.set): e.metrics for e in entries}
    lines = [f"## Prior correction ({prior_set})", "",
             f"Macro-F1 on {prior_set} without and with the balanced (uniform) prior; the verdict compares the "
             "unrounded values.", ""]
    for without, with_prior in pairs:
        a, b = by_key[(without, prior_set)]["macro_f1"], by_key[(with_prior, prior_set)]["macro_f1"]
        lines.append(f"- {ids[without]} {without} -> {ids[with_prior]} {with_prior}: macro-F1 {_f1(a)} -> {_f1(b)} "
                     f"({b - a:+.3f}): the balanced prior {prior_verdict(a, b)} macro-F1")
    return lines


def render_attribute_tables(entries: Sequence[Entry], columns: Sequence[str],
                            out_dir: str | os.PathLike) -> list[str]:
    """Table 2 layout (CCC points), the CCC [95% CI] table and the scatter-plot links."""
    systems = _systems(entries)
    ids = {name: f"#{i}" for i, name in enumerate(systems, start=1)}
    by_key = {(e.system, e.set): e.metrics for e in entries}
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
    links = _links_table(entries, ids, columns, "scatter_png", "scatter.png", "scatter", out_dir)
    if links:
        lines += ["", "### Scatter plots", ""] + links
    return lines


def render_emotion_results(title: str, category: Sequence[Entry], attributes: Sequence[Entry],
                           prior_pairs: Sequence[tuple[str, str]], prior_set: str, columns: Sequence[str],
                           env: dict[str, str], out_dir: str | os.PathLike) -> str:
    """The whole RESULTS.md text; links are relative to ``out_dir``."""
    lines = [f"# {title}", "", "## Environment", ""]
    lines += [f"- {key}: {value}" for key, value in env.items()]
    if category:
        lines += [""] + render_category_tables(category, columns, out_dir)
    if prior_pairs:
        lines += [""] + render_prior_lines(category, prior_pairs, prior_set)
    if attributes:
        lines += [""] + render_attribute_tables(attributes, columns, out_dir)
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


def make_emotion_results(title: str, out: str | os.PathLike, *, category: Sequence[str] = (),
                         attributes: Sequence[str] = (), prior_pairs: Sequence[str] = (),
                         prior_set: str = DEFAULT_PRIOR_SET, sets: Sequence[str] | None = None,
                         env: dict[str, str] | None = None) -> str:
    """Build RESULTS.md from ``NAME=SET=metrics.json`` specs, write it atomically and return the text.

    ``prior_pairs`` are ``NAME_WITHOUT=NAME_WITH`` specs over the categorical systems.
    Everything is read and checked before anything is written.
    """
    from voxrecipes.metrics.results import environment

    if not category and not attributes:
        raise ConfigError("give at least one --category or --attributes NAME=SET=path/to/metrics.json")
    cat = _load_entries(category, "--category", CATEGORY_KEYS, "evaluate_classification")
    att = _load_entries(attributes, "--attributes", ATTRIBUTE_KEYS, "evaluate_attributes")
    pairs = [parse_prior_pair(p) for p in prior_pairs]
    _check_pairs(pairs, cat, prior_set)
    columns = _column_sets(sets, [("--category", cat), ("--attributes", att)])
    out = Path(out)
    text = render_emotion_results(title, cat, att, pairs, prior_set, columns,
                                  env if env is not None else environment(), out.parent)
    with atomic_write(out) as handle:
        handle.write(text)
    return text
