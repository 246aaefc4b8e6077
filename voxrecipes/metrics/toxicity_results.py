"""RESULTS.md of the voice-toxicity recipe from the metrics.json files of :mod:`voxrecipes.metrics.toxicity`.

The paper reports the AP of the toxic classes and their mAP with 95% bootstrap CIs
(Tables 2 and 3: one row per ablation), the relative change of each ablation against the
alpha=1 baseline, and a per-language breakdown (Figure 2).

:func:`write_toxicity_results` turns several metrics.json files into RESULTS.md: the
Table 2/3 layout (label columns such as Loss and alpha, then AP [CI] per class, mAP and
the relative change of mAP against the baseline), a per-language table, test-set counts,
the binary detection section when the metrics have one (:mod:`voxrecipes.metrics.detection`),
a Figure 2 style plot and one significance line per system.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from voxrecipes.errors import ConfigError, DataError
from voxrecipes.fileio import atomic_write
from voxrecipes.metrics.plots import save_png
from voxrecipes.metrics.results import environment, load_metrics, markdown_header, markdown_row, read_notes
from voxrecipes.metrics.toxicity import METRICS_FILE, REQUIRED_KEYS, order_languages, percent

#: Names shown in tables and plots where the class name of the data files differs.
DISPLAY_NAMES = {"Dating_Sexting": "Dating & Sexting", "No_Violation": "No Violation"}


def display_name(name: str) -> str:
    """Class name as the paper's tables write it (``Dating_Sexting`` -> ``Dating & Sexting``)."""
    return DISPLAY_NAMES.get(name, name.replace("_", " "))


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


def format_cell(value: float | None, ci: Sequence[float] | None) -> str:
    """``93.80 [92.10, 95.30]`` (percent, 2 decimals); ``n/a`` without a value."""
    if value is None:
        return "n/a"
    return percent(value) if ci is None else f"{percent(value)} [{percent(ci[0])}, {percent(ci[1])}]"


def format_change(change: float | None) -> str:
    """``+8.06%`` / ``-1.20%``; ``n/a`` when undefined."""
    return "n/a" if change is None else f"{change:+.2f}%"


def _metric(metrics: dict, name: str) -> tuple[float | None, list[float] | None]:
    """Point and CI of class ``name`` or of ``mAP`` in a metrics (or per-language) dict."""
    if name == "mAP":
        return metrics.get("map"), metrics.get("map_ci")
    return metrics.get("ap", {}).get(name), metrics.get("ap_ci", {}).get(name)


def render_main_table(systems: Sequence[System], label_columns: Sequence[str], baseline: System,
                      ap_classes: Sequence[str]) -> list[str]:
    """Table 2/3: label columns, AP [CI] per class, mAP [CI] and rel. Δ mAP against ``baseline``."""
    header = [*label_columns, *(display_name(c) for c in ap_classes), "mAP", "rel. Δ mAP"]
    lines = markdown_header(header)
    for s in systems:
        cells = [*s.fields]
        cells += [format_cell(*_metric(s.metrics, name)) for name in (*ap_classes, "mAP")]
        cells.append("(baseline)" if s is baseline else format_change(relative_change(s.metrics.get("map"),
                                                                                        baseline.metrics.get("map"))))
        lines.append(markdown_row(cells))
    return lines


def render_language_table(systems: Sequence[System], label_columns: Sequence[str], baseline: System,
                          ap_classes: Sequence[str], languages: Sequence[str]) -> list[str]:
    """Language x class: each language's baseline row, then every system with its relative change."""
    header = ["Language", "N", *label_columns, *(display_name(c) for c in ap_classes), "mAP"]
    lines = markdown_header(header)
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
            lines.append(markdown_row(cells))
    return lines


def render_counts_table(metrics: dict, classes: Sequence[str], languages: Sequence[str]) -> list[str]:
    """Utterances and positives per class, per language and in all (from one metrics.json)."""
    header = ["Language", "N", *(display_name(c) for c in classes)]
    lines = markdown_header(header)
    subsets = [(lang, metrics["per_language"][lang]) for lang in languages if lang in metrics["per_language"]]
    for name, sub in [*subsets, ("all", metrics)]:
        lines.append(markdown_row([name, str(sub["num_utts"]), *(str(sub["positives"].get(c, 0)) for c in classes)]))
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
    """Read one metrics.json (or ``<dir>/metrics.json``) written by ``evaluate_toxicity``."""
    path = Path(path)
    if path.is_dir():
        path = path / METRICS_FILE
    if not path.is_file():
        raise DataError(path, None, "metrics file not found; run the evaluate_toxicity stage first")
    return System(tuple(fields), load_metrics(path, REQUIRED_KEYS, "evaluate_toxicity"), path)


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
                     f"above the baseline mAP {percent(base_map)}: {verdict}")
    return "\n".join(lines) + "\n"


def _fields(label: str | Sequence[str]) -> tuple[str, ...]:
    parts = label.split(";") if isinstance(label, str) else list(label)
    return tuple(p.strip() for p in parts)


def write_toxicity_results(title: str, systems: Sequence[tuple[Sequence[str] | str, str | os.PathLike]],
                           label_columns: Sequence[str] | str, baseline_label: Sequence[str] | str,
                           out_md: str | os.PathLike, plot_png: str | os.PathLike | None = None,
                           env: dict[str, str] | None = None, notes: str | os.PathLike | None = None) -> str:
    """Write RESULTS.md (and the plot) for ``systems`` = ``[(label fields, metrics.json or its dir), ...]``.

    ``label_columns`` and label fields may be given as ``;``-separated strings; ``notes``: a
    Markdown file appended at the end (:func:`~voxrecipes.metrics.results.read_notes`).
    Everything is read and checked before anything is written; both files are written atomically.
    """
    columns = _fields(label_columns)
    notes_text = read_notes(notes)
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
                                   plot_link) + notes_text
    if plot_png is not None:
        plot_toxicity(loaded, [", ".join(s.fields) for s in loaded], baseline, list(baseline.metrics["ap_classes"]),
                      plot_png)
    with atomic_write(out_md) as handle:
        handle.write(text)
    return text

