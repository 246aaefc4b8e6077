"""Statistics embeddings: per-utterance mean and standard deviation of each feature bin.

A simple fixed-size utterance representation (``2 * bins`` values: the means, then
the population standard deviations over frames) for the LDA + logistic-regression
backend when no neural embedding extractor is available, e.g. in the mini recipes.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator

import numpy as np

from voxrecipes.errors import DataError
from voxrecipes.features.arkio import iter_scp, write_ark_scp

logger = logging.getLogger(__name__)


def stats_embedding(feats: np.ndarray) -> np.ndarray:
    """Concatenate the per-bin mean and standard deviation (ddof=0) over frames, float32."""
    feats = np.asarray(feats, dtype=np.float64)
    return np.concatenate([feats.mean(axis=0), feats.std(axis=0)]).astype(np.float32)


def extract_stats_embeddings(feats_scp: str | os.PathLike, out_prefix: str | os.PathLike) -> int:
    """Write the statistics embedding of every entry of ``feats_scp`` to ``<out_prefix>.ark/.scp``."""

    def items() -> Iterator[tuple[str, np.ndarray]]:
        for lineno, (utt, feats) in enumerate(iter_scp(feats_scp), start=1):
            if feats.ndim != 2 or feats.shape[0] < 1:
                raise DataError(feats_scp, lineno, f"'{utt}' is not a (frames x bins) matrix: shape {feats.shape}")
            yield utt, stats_embedding(feats)

    count = write_ark_scp(out_prefix, items())
    if count == 0:
        raise DataError(feats_scp, None, "no entries")
    logger.info("wrote %d statistics embeddings to %s.scp", count, os.fspath(out_prefix))
    return count
