"""The score tables of the emotion RESULTS.md: categories (Table 3 layout), attributes (Table 2), prior pairs.

Each renderer takes the checked entries of :mod:`voxrecipes.metrics.emotion_inputs` and
returns Markdown lines: macro-F1 with its CI per system and set and the per-class F1 of
each set; CCC per attribute and their average, then each CCC with its CI; the macro-F1
of each (without, with the balanced prior) pair with its verdict. The plot of a table's
last row (:class:`Figure`) is copied next to RESULTS.md and linked from there.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from voxrecipes.labels import ATTRIBUTES
from voxrecipes.metrics.emotion_inputs import metrics_by_key, row_ids, system_names
from voxrecipes.metrics.results import Entry, markdown_header, markdown_row, relative_link

#: Column titles of the attributes, as in the paper's Table 2.
ATTRIBUTE_TITLES = {"valence": "Valence", "arousal": "Arousal", "dominance": "Dominance"}


def fmt_f1(value: float) -> str:
    """A macro-F1 or F1 as the tables write it (3 decimals)."""
    return f"{value:.3f}"


def fmt_ccc(value: float) -> str:
    """A CCC as the tables write it (4 decimals)."""
    return f"{value:.4f}"


def _with_ci(fmt, value: float, ci: Sequence[float] | None) -> str:
    return fmt(value) if not ci else f"{fmt(value)} [{fmt(ci[0])}, {fmt(ci[1])}]"


def f1_cell(metrics: dict | None) -> str:
    """``0.297 [0.262, 0.331]``, or ``-`` without an evaluation."""
    if metrics is None:
        return "-"
    return _with_ci(fmt_f1, metrics["macro_f1"], metrics.get("macro_f1_ci"))


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


def _index(entries: Sequence[Entry], columns: Sequence[str]
           ) -> tuple[list[str], dict[str, str], dict[tuple[str, str], dict], list[str]]:
    """A table's rows (systems), their ``#N`` ids, the metrics per (system, set), and its columns (sets it has)."""
    return (system_names(entries), row_ids(entries), metrics_by_key(entries),
            [s for s in columns if any(e.set == s for e in entries)])


def render_category_tables(entries: Sequence[Entry], columns: Sequence[str], out_dir: str | os.PathLike,
                           figure: Figure | None = None) -> list[str]:
    """Table 3 layout, per-class F1 per set and the confusion matrix of ``figure``."""
    systems, ids, by_key, columns = _index(entries, columns)
    lines = ["## Emotion categories: macro-F1 (Table 3 layout)", "",
             f"Macro-F1 with its 95% bootstrap confidence interval in brackets{_resamples_note(entries)}; "
             "`-`: not evaluated on that set.", ""]
    lines += markdown_header(["ID", "System", *columns])
    for name in systems:
        lines.append(markdown_row([ids[name], name, *(f1_cell(by_key.get((name, s))) for s in columns)]))
    lines += ["", "### Per-class F1"]
    for s in columns:
        in_set = [e for e in entries if e.set == s]
        classes: list[str] = []
        for e in in_set:
            classes += [c for c in e.metrics["classes"] if c not in classes]
        lines += ["", f"#### {s}", ""]
        lines += markdown_header(["ID", "System", *classes, "Utts"])
        for e in in_set:
            per_class = e.metrics["per_class_f1"]
            cells = [fmt_f1(per_class[c]) if per_class.get(c) is not None else "-" for c in classes]
            lines.append(markdown_row([ids[e.system], e.system, *cells, str(e.metrics.get("num_utts", "-"))]))
    return lines + _figure_lines(figure, ids, "category", out_dir)


def prior_verdict(without: float, with_prior: float) -> str:
    """``raised`` when the corrected macro-F1 is higher, else ``did not raise``."""
    return "raised" if with_prior > without else "did not raise"


def render_prior_lines(entries: Sequence[Entry], pairs: Sequence[tuple[str, str]], prior_set: str) -> list[str]:
    """One line per (without, with prior) pair: both macro-F1s on ``prior_set`` and the verdict."""
    ids = row_ids(entries)
    by_key = metrics_by_key(entries)
    lines = [f"## Prior correction ({prior_set})", "",
             f"Macro-F1 on {prior_set} without and with the balanced (uniform) prior; the verdict compares the "
             "unrounded values.", ""]
    for without, with_prior in pairs:
        a, b = by_key[(without, prior_set)]["macro_f1"], by_key[(with_prior, prior_set)]["macro_f1"]
        lines.append(f"- {ids[without]} {without} -> {ids[with_prior]} {with_prior}: macro-F1 {fmt_f1(a)} -> "
                     f"{fmt_f1(b)} ({b - a:+.3f}): the balanced prior {prior_verdict(a, b)} macro-F1")
    return lines


def render_attribute_tables(entries: Sequence[Entry], columns: Sequence[str], out_dir: str | os.PathLike,
                            figure: Figure | None = None) -> list[str]:
    """Table 2 layout (CCC points), the CCC [95% CI] table and the scatter plots of ``figure``."""
    systems, ids, by_key, columns = _index(entries, columns)
    titles = [*(ATTRIBUTE_TITLES[a] for a in ATTRIBUTES), "Average"]
    lines = ["## Emotion attributes: CCC (Table 2 layout)", "",
             "Concordance correlation coefficient of each attribute and their average (the mean of the three); "
             "`-`: not evaluated on that set. The 95% confidence intervals are in the next table.", ""]
    lines += markdown_header(["ID", "System", *(f"{s} {t}" for s in columns for t in titles)])
    for name in systems:
        cells = [ids[name], name]
        for s in columns:
            m = by_key.get((name, s))
            if m is None:
                cells += ["-"] * len(titles)
            else:
                cells += [fmt_ccc(m["ccc"][a]) for a in ATTRIBUTES] + [fmt_ccc(m["ccc_mean"])]
        lines.append(markdown_row(cells))
    lines += ["", "### CCC with 95% confidence intervals", "",
              f"Bootstrap percentile intervals over utterances{_resamples_note(entries)}; the Average's interval "
              "resamples the utterances jointly for the three attributes. Out of scale: predicted values outside "
              "the 1-7 label scale (kept, not clipped).", ""]
    lines += markdown_header(["ID", "System", "Set", "N", *titles, "Out of scale"])
    for name in systems:
        for s in columns:
            m = by_key.get((name, s))
            if m is None:
                continue
            cells = [_with_ci(fmt_ccc, m["ccc"][a], m["ccc_ci"][a]) for a in ATTRIBUTES]
            cells.append(_with_ci(fmt_ccc, m["ccc_mean"], m["ccc_mean_ci"]))
            lines.append(markdown_row([ids[name], name, s, str(m.get("num_utts", "-")), *cells,
                               str(m.get("num_predictions_outside_scale", "-"))]))
    return lines + _figure_lines(figure, ids, "attributes", out_dir)
