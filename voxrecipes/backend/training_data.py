"""The labelled training embeddings every backend starts from.

Both backends (LDA + LR, PLDA) train on the utterances of a label file minus the
excluded classes (O and X in the emotion paper); every such utterance must have
an embedding, and the error names both files when one does not.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence

import numpy as np

from voxrecipes.errors import DataError
from voxrecipes.features.arkio import read_embeddings
from voxrecipes.labels import read_categories

logger = logging.getLogger(__name__)


def labelled_embeddings(embedding_scp: str | os.PathLike, labels_path: str | os.PathLike,
                        exclude: Sequence[str] = ()) -> tuple[list[str], np.ndarray, list[str], dict[str, int]]:
    """Return ``(utts, x, labels, excluded_counts)`` of the usable training utterances."""
    labels = read_categories(labels_path)
    keys, x = read_embeddings(embedding_scp)
    row = {k: i for i, k in enumerate(keys)}
    excluded = {c: 0 for c in exclude}
    use: list[str] = []
    for utt, label in labels.items():
        if label in excluded:
            excluded[label] += 1
            continue
        use.append(utt)
    missing = [u for u in use if u not in row]
    if missing:
        raise DataError(embedding_scp, None, f"{len(missing)} labelled utterances of {labels_path} have no "
                                             f"embedding here (first: '{missing[0]}')")
    unused = len(keys) - sum(1 for u in labels if u in row)
    if unused:
        logger.info("%d embeddings have no label in %s and are not used", unused, labels_path)
    logger.info("excluded classes: %s", ", ".join(f"{c}={n}" for c, n in excluded.items()) or "none")
    if not use:
        raise DataError(labels_path, None, "no training utterances left after excluding " + " ".join(exclude))
    return use, x[[row[u] for u in use]], [labels[u] for u in use], excluded
