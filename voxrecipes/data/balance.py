"""Evaluation subsets of the emotion recipe: Dev_filt and Dev_bal.

* Dev_filt: the development set without the training-only classes O (other) and X
  (no agreement).
* Dev_bal: up to ``per_class`` (300 in the paper) randomly drawn utterances of each of
  the 8 primary classes, all of a class when the corpus has fewer; the draw is
  deterministic given the seed and independent of the input's order, and the result
  is sorted by utterance id (C locale), as every Kaldi table is.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from voxrecipes.data.table import c_sort_key
from voxrecipes.labels import EMOTION_CLASSES, PSEUDO_CLASSES

#: The 8 primary MSP-Podcast emotion classes (anger, sadness, happiness, surprise, fear, disgust, contempt, neutral).
PRIMARY_CLASSES = EMOTION_CLASSES


def filter_classes(utt2category: Mapping[str, str], drop: Sequence[str] = PSEUDO_CLASSES) -> dict[str, str]:
    """Dev_filt: the utterances whose class is not in ``drop``, sorted by id."""
    dropped = set(drop)
    return {u: utt2category[u] for u in sorted(utt2category, key=c_sort_key) if utt2category[u] not in dropped}


def balanced_subset(
    utt2category: Mapping[str, str], per_class: int = 300, classes: Sequence[str] = PRIMARY_CLASSES, seed: int = 0
) -> dict[str, str]:
    """Dev_bal: ``min(per_class, available)`` random utterances of each class in ``classes``, sorted by id.

    Utterances of other classes are left out. Each class is drawn with its own generator
    seeded by ``(seed, class index)``, from the class's ids in sorted order, so the subset
    depends only on the seed and the set of (id, class) pairs.
    """
    if per_class < 1:
        raise ValueError(f"per_class must be >= 1, got {per_class}")
    classes = list(classes)
    if len(set(classes)) != len(classes):
        raise ValueError(f"classes repeat: {classes}")
    chosen: list[str] = []
    for k, cls in enumerate(classes):
        ids = sorted((u for u, c in utt2category.items() if c == cls), key=c_sort_key)
        if len(ids) <= per_class:
            chosen += ids
            continue
        rng = np.random.default_rng([seed, k])
        picks = rng.choice(len(ids), size=per_class, replace=False)
        chosen += [ids[i] for i in picks]
    return {u: utt2category[u] for u in sorted(chosen, key=c_sort_key)}
