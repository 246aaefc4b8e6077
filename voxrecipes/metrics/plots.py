"""Confusion-matrix figure: rows normalised to recall, raw counts annotated."""

from __future__ import annotations

import io
import os
from collections.abc import Sequence

import numpy as np

from voxrecipes.fileio import atomic_write


def plot_confusion(counts: np.ndarray, classes: Sequence[str], path: str | os.PathLike, title: str = "") -> None:
    """Write a PNG of the row-normalised confusion matrix with counts in each cell (Agg backend)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    counts = np.asarray(counts)
    rows = counts.sum(axis=1, keepdims=True)
    norm = np.divide(counts, rows, out=np.zeros(counts.shape), where=rows > 0)
    k = len(classes)
    fig, ax = plt.subplots(figsize=(1.0 + 0.6 * k, 0.8 + 0.6 * k), dpi=100)
    try:
        ax.imshow(norm, cmap="Blues", vmin=0.0, vmax=1.0)
        ax.set_xticks(range(k), labels=list(classes))
        ax.set_yticks(range(k), labels=list(classes))
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        if title:
            ax.set_title(title)
        for i in range(k):
            for j in range(k):
                ax.text(j, i, f"{int(counts[i, j])}\n{norm[i, j]:.2f}", ha="center", va="center", fontsize=7,
                        color="white" if norm[i, j] > 0.5 else "black")
        fig.tight_layout()
    except BaseException:
        plt.close(fig)
        raise
    save_png(fig, path)


def save_png(fig, path: str | os.PathLike) -> None:
    """Render ``fig`` as PNG, close it, and write the bytes atomically (never a half-written image)."""
    import matplotlib.pyplot as plt

    try:
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png")
    finally:
        plt.close(fig)
    with atomic_write(path, mode="wb") as handle:
        handle.write(buffer.getvalue())
