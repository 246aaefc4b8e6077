"""What the RESULTS.md writers share: the environment header, the checked JSON reader
(metrics.json, weights.json), links relative to RESULTS.md, Markdown table rows, one
evaluated entry, and the recipe's hand-written notes appended at the end.

The writers themselves are :mod:`voxrecipes.metrics.emotion_results` and
:mod:`voxrecipes.metrics.toxicity_results`.
"""

from __future__ import annotations

import datetime
import os
import platform
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from voxrecipes.errors import DataError
from voxrecipes.jsonio import read_json_object


@dataclass
class Entry:
    """One system evaluated on one set."""

    system: str
    set: str
    metrics: dict
    path: Path


def load_metrics(path: str | os.PathLike, required: Sequence[str], writer: str) -> dict:
    """Read a JSON object (metrics.json, weights.json) and check it has ``required`` keys.

    Any problem is a :class:`DataError` naming the file (and the line of a JSON syntax
    error) and ``writer``, the stage that should have written it.
    """
    path = Path(path)
    metrics = read_json_object(path, f"file not found; run {writer} first",
                               f"expected a JSON object; written by {writer}?")
    missing = [k for k in required if k not in metrics]
    if missing:
        raise DataError(path, None, f"missing keys {', '.join(missing)}; written by {writer}?")
    return metrics


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


def header_lines(title: str, env: dict[str, str]) -> list[str]:
    """The start of every RESULTS.md: ``# title`` and the ``## Environment`` list."""
    return [f"# {title}", "", "## Environment", "", *(f"- {key}: {value}" for key, value in env.items())]


def relative_link(path: str | os.PathLike, out_dir: str | os.PathLike) -> str:
    """``path`` relative to ``out_dir`` (the directory of RESULTS.md), with ``/`` separators."""
    return Path(os.path.relpath(os.path.abspath(path), os.path.abspath(out_dir))).as_posix()


def markdown_row(cells: Sequence[str]) -> str:
    """One Markdown table row: ``| a | b |``."""
    return "| " + " | ".join(cells) + " |"


def markdown_header(cells: Sequence[str]) -> list[str]:
    """A Markdown table's header row and its ``|---|`` separator."""
    return [markdown_row(cells), "|" + "---|" * len(cells)]


def read_notes(path: str | os.PathLike | None) -> str:
    """The recipe's hand-written notes (Markdown) to end RESULTS.md with, or ``""`` without a file.

    The notes live in a committed file of the recipe (e.g. ``local/RESULTS_notes.md``) and the
    results stage appends them, so that a rerun writes the same RESULTS.md, notes included.
    A missing, empty or non-UTF-8 file is a :class:`DataError`, raised before anything is written.
    """
    if path is None:
        return ""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError(path, None, "notes file not found") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise DataError(path, raw[:err.start].count(b"\n") + 1,
                        f"notes are not UTF-8 text ({err.reason} at byte {err.start})") from None
    if not text.strip():
        raise DataError(path, None, "notes file is empty")
    return "\n" + text.rstrip("\n") + "\n"
