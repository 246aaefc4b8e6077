"""RESULTS.md: an environment header and Markdown tables built from metrics.json files.

Each entry is ``NAME=path/to/metrics.json`` (written by
:func:`voxrecipes.metrics.evaluate.evaluate_classification`); the evaluation set is the
file's ``set`` field (else its directory name), so one system evaluated on several sets
gives one row per set. Confusion plots are linked by paths relative to RESULTS.md.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from voxrecipes.errors import ConfigError, DataError
from voxrecipes.fileio import atomic_write


@dataclass
class Entry:
    """One system evaluated on one set."""

    system: str
    set: str
    metrics: dict
    path: Path


def parse_entry(spec: str) -> tuple[str, Path]:
    """Split ``NAME=PATH``."""
    name, sep, path = spec.partition("=")
    if not sep or not name or not path:
        raise ConfigError(f"--entry must be NAME=path/to/metrics.json, got '{spec}'")
    return name, Path(path)


def load_entry(name: str, path: Path) -> Entry:
    """Read one metrics.json and check the keys the tables need."""
    if not path.is_file():
        raise DataError(path, None, "metrics file not found")
    try:
        metrics = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise DataError(path, err.lineno, f"not valid JSON: {err.msg}") from None
    missing = [k for k in ("macro_f1", "macro_f1_ci", "accuracy", "num_utts", "classes", "per_class_f1")
               if k not in metrics]
    if missing:
        raise DataError(path, None, f"missing keys {', '.join(missing)}; written by evaluate_classification?")
    return Entry(name, str(metrics.get("set") or path.parent.name), metrics, path)


def environment() -> dict[str, str]:
    """Date, git commit, library versions and CPU count of the machine writing RESULTS.md."""
    env = {"date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")}
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
        env["git commit"] = commit.stdout.strip() if commit.returncode == 0 and commit.stdout.strip() else "none"
    except (OSError, subprocess.SubprocessError):
        env["git commit"] = "none"
    env["python"] = platform.python_version()
    for label, module in (("torch", "torch"), ("scikit-learn", "sklearn")):
        try:
            env[label] = __import__(module).__version__
        except Exception:  # an absent or broken install is reported, not fatal
            env[label] = "not installed"
    env["host CPUs"] = str(os.cpu_count())
    return env


def _f(value: float) -> str:
    return f"{value:.3f}"


def render_results(title: str, entries: Sequence[Entry], env: dict[str, str], out_dir: str | os.PathLike) -> str:
    """The whole RESULTS.md text; links are relative to ``out_dir``."""
    lines = [f"# {title}", "", "## Environment", ""]
    lines += [f"- {key}: {value}" for key, value in env.items()]
    lines += ["", "## Macro-F1", "", "| System | Set | Macro-F1 [95% CI] | Accuracy | N |", "|---|---|---|---|---|"]
    for e in entries:
        lo, hi = e.metrics["macro_f1_ci"]
        lines.append(f"| {e.system} | {e.set} | {_f(e.metrics['macro_f1'])} [{_f(lo)}, {_f(hi)}] | "
                     f"{_f(e.metrics['accuracy'])} | {e.metrics['num_utts']} |")
    classes: list[str] = []
    for e in entries:
        classes += [c for c in e.metrics["classes"] if c not in classes]
    lines += ["", "## Per-class F1", "", "| System | Set | " + " | ".join(classes) + " |",
              "|---|---|" + "---|" * len(classes)]
    for e in entries:
        cells = [_f(e.metrics["per_class_f1"][c]) if c in e.metrics["per_class_f1"] else "-" for c in classes]
        lines.append(f"| {e.system} | {e.set} | " + " | ".join(cells) + " |")
    links = []
    for e in entries:
        png = e.path.parent / e.metrics.get("confusion_png", "confusion.png")
        if png.is_file():
            rel = os.path.relpath(os.path.abspath(png), os.path.abspath(out_dir))
            links.append(f"- {e.system} / {e.set}: [confusion matrix]({Path(rel).as_posix()})")
    if links:
        lines += ["", "## Confusion matrices", ""] + links
    return "\n".join(lines) + "\n"


def make_results(title: str, specs: Sequence[str], out: str | os.PathLike, env: dict[str, str] | None = None) -> str:
    """Build RESULTS.md from ``NAME=metrics.json`` specs, write it atomically and return the text."""
    if not specs:
        raise ConfigError("give at least one --entry NAME=path/to/metrics.json")
    entries = [load_entry(*parse_entry(s)) for s in specs]
    out = Path(out)
    text = render_results(title, entries, env if env is not None else environment(), out.parent)
    with atomic_write(out) as handle:
        handle.write(text)
    return text
