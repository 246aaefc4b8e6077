"""Prior correction of class posteriors (TalTech, Odyssey 2024, sections 3.1 and 3.2).

A classifier trained on imbalanced data learns the training class prior ``P'(y)``;
when the evaluation data has a different prior ``P_u(y)`` (uniform over the eight
emotions in MSP-Podcast Test), Bayes' rule gives the "fixed" posterior

    P_fixed(y|x) = 1/Z * P_u(y) / P'(y) * P(y|x).

Pseudo-classes (``O``/``X``) get target prior 0, so they never win. For a softmax
model the same correction is a shift of the output biases,
``b'_k = b_k - log P'(k) + log P_u(k)`` (see :mod:`voxrecipes.backend.lda_lr`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from voxrecipes.labels import PSEUDO_CLASSES  # MSP-Podcast pseudo-categories: "Other" and "No agreement"


def uniform_prior(classes: Sequence[str], pseudo: Sequence[str] = PSEUDO_CLASSES) -> np.ndarray:
    """Uniform prior over ``classes``, with probability 0 for the pseudo-classes among them."""
    mask = np.array([c not in set(pseudo) for c in classes], dtype=np.float64)
    if mask.sum() == 0:
        raise ValueError(f"no real classes among {list(classes)}")
    return mask / mask.sum()


def empirical_prior(labels: Sequence[str], classes: Sequence[str]) -> np.ndarray:
    """Relative frequency of each of ``classes`` in ``labels`` (labels outside are ignored)."""
    index = {c: i for i, c in enumerate(classes)}
    counts = np.zeros(len(classes))
    for label in labels:
        if label in index:
            counts[index[label]] += 1
    if counts.sum() == 0:
        raise ValueError("no labels among the classes")
    return counts / counts.sum()


def prior_fix(post: np.ndarray, train_prior: np.ndarray, target_prior: np.ndarray,
              classes: Sequence[str] | None = None) -> np.ndarray:
    """Re-weight posteriors from ``train_prior`` to ``target_prior`` and renormalise each row.

    ``post`` is (utterances x classes) class probabilities; the priors are vectors over
    the same classes (named by ``classes`` in error messages). A class with target prior 0
    gets posterior 0. A class with training prior 0 but a positive target prior is an
    error: the correction would divide by 0.
    """
    post = np.asarray(post, dtype=np.float64)
    train_prior = np.asarray(train_prior, dtype=np.float64).reshape(-1)
    target_prior = np.asarray(target_prior, dtype=np.float64).reshape(-1)
    if post.ndim != 2 or post.shape[1] != train_prior.size or train_prior.size != target_prior.size:
        raise ValueError(f"shapes do not agree: posteriors {post.shape}, train prior {train_prior.shape}, "
                         f"target prior {target_prior.shape}")
    if np.any(train_prior < 0) or np.any(target_prior < 0):
        raise ValueError("priors must be non-negative")
    unseen = np.flatnonzero((train_prior == 0) & (target_prior > 0))
    if unseen.size:
        names = [classes[k] for k in unseen] if classes is not None else [str(k) for k in unseen]
        raise ValueError(f"class{'es' if unseen.size > 1 else ''} {' '.join(repr(n) for n in names)} "
                         f"{'have' if unseen.size > 1 else 'has'} training prior 0 but a positive target prior")
    weight = np.divide(target_prior, train_prior, out=np.zeros_like(target_prior), where=train_prior > 0)
    fixed = post * weight[None, :]
    total = fixed.sum(axis=1, keepdims=True)
    if np.any(total <= 0):
        raise ValueError("a row has no probability mass left after the prior fix")
    return fixed / total


def bias_shift(intercept: np.ndarray, train_prior: np.ndarray, target_prior: np.ndarray) -> np.ndarray:
    """Softmax biases with the implicit prior moved from ``train_prior`` to ``target_prior``.

    ``b'_k = b_k - log train_prior_k + log target_prior_k`` (``-inf`` where the target is 0),
    which equals :func:`prior_fix` applied to the softmax output.
    """
    intercept = np.asarray(intercept, dtype=np.float64)
    train_prior = np.asarray(train_prior, dtype=np.float64)
    target_prior = np.asarray(target_prior, dtype=np.float64)
    if np.any(train_prior <= 0):
        raise ValueError("training prior must be positive for every class of a trained model")
    with np.errstate(divide="ignore"):
        return intercept - np.log(train_prior) + np.log(target_prior)
