"""The scalable LDA + LR fit (issue 16) against scikit-learn called directly.

The LDA comes from scatter statistics instead of sklearn's N x D SVD: its projection
must equal ``StandardScaler -> LinearDiscriminantAnalysis(solver="svd")`` up to the
sign of each direction, to rounding (float64 input). The logistic regression is
sklearn's, warm-started from the LDA's Gaussian classifier: it must land on the same
optimum as sklearn's cold start, within lbfgs's default tolerance, measured against a
reference solved to tol 1e-10 (probabilities within 1e-3).
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from voxrecipes.backend.lda_lr import fit_lda_lr
from voxrecipes.backend.lda_scatter import class_scatter, lda_from_scatter

PROBABILITY_TOLERANCE = 1e-3


def overlapping_classes(counts, dim, seed, spread=0.35, degenerate=False):
    """Gaussian classes that overlap (accuracy well below 1, so the LR optimum is well defined).

    ``degenerate`` adds a constant column and a column that is the sum of two others,
    the cases where LDA's within-class scatter is singular.
    """
    rng = np.random.default_rng(seed)
    means = np.random.default_rng(99).normal(0, spread, size=(len(counts), dim))
    x = np.vstack([means[k] + rng.normal(size=(n, dim)) for k, n in enumerate(counts)])
    labels = np.array([f"k{k}" for k, n in enumerate(counts) for _ in range(n)])
    if degenerate:
        x = np.hstack([x, np.full((len(x), 1), 3.0), x[:, :1] + x[:, 1:2]])
    return x, labels


def sklearn_direct(x, labels, n_components, tol=1e-4):
    return make_pipeline(StandardScaler(), LinearDiscriminantAnalysis(n_components=n_components, solver="svd"),
                         LogisticRegression(C=1.0, max_iter=10000, tol=tol)).fit(x, labels)


@pytest.mark.parametrize(("counts", "degenerate"), [((400, 250, 120, 60, 300), False), ((300, 90), False),
                                                    ((200, 200, 150), True)])
def test_projection_equals_sklearn_svd_lda_up_to_sign(counts, degenerate):
    x, labels = overlapping_classes(counts, dim=14, seed=0, degenerate=degenerate)
    model = fit_lda_lr(x, labels)
    pipe = sklearn_direct(x, labels, n_components=len(counts) - 1)
    ours, theirs = model.project(x), pipe[:-1].transform(x)
    assert ours.shape == theirs.shape == (len(x), len(counts) - 1)
    signs = np.sign((ours * theirs).sum(axis=0))
    np.testing.assert_allclose(ours * signs, theirs, rtol=0, atol=1e-9 * np.abs(theirs).max())
    np.testing.assert_allclose(model.scaler_scale, pipe[0].scale_, rtol=1e-12)


@pytest.mark.parametrize("counts", [(400, 250, 120, 60, 300), (300, 90)])
def test_posteriors_reach_sklearns_optimum(counts):
    x, labels = overlapping_classes(counts, dim=14, seed=1)
    x_test, _ = overlapping_classes(counts, dim=14, seed=2)
    model = fit_lda_lr(x, labels, classes=sorted(set(labels))[::-1])
    order = [sorted(set(labels)).index(c) for c in model.classes]
    tight = sklearn_direct(x, labels, len(counts) - 1, tol=1e-10).predict_proba(x_test)[:, order]
    default = sklearn_direct(x, labels, len(counts) - 1).predict_proba(x_test)[:, order]
    ours = model.predict_proba(x_test, prior="train")
    accuracy = (tight.argmax(axis=1) == np.repeat(np.arange(len(counts))[np.argsort(order)], counts)).mean()
    assert accuracy < 0.95  # overlapping classes: the optimum is not at infinity
    assert np.abs(default - tight).max() < PROBABILITY_TOLERANCE  # what sklearn's own default reaches
    assert np.abs(ours - tight).max() < PROBABILITY_TOLERANCE
    assert (ours.argmax(axis=1) == tight.argmax(axis=1)).mean() > 0.99


def test_scatter_statistics_against_direct_sums():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(50, 4))
    index = rng.integers(0, 3, 50)
    stats = class_scatter(x, index, 3)
    np.testing.assert_array_equal(stats.counts, np.bincount(index, minlength=3))
    np.testing.assert_allclose(stats.sums, np.stack([x[index == k].sum(axis=0) for k in range(3)]))
    np.testing.assert_allclose(stats.gram, sum(np.outer(row, row) for row in x))
    scaled = stats.scaled(np.array([1.0, 2.0, 4.0, 0.5]))
    np.testing.assert_allclose(scaled.gram, (x / [1, 2, 4, 0.5]).T @ (x / [1, 2, 4, 0.5]))


def test_bad_input():
    x, labels = overlapping_classes((20, 20), dim=5, seed=0)
    with pytest.raises(ValueError, match="40 labels"):
        fit_lda_lr(x[:-1], labels)
    with pytest.raises(ValueError, match="at least 2 classes"):
        fit_lda_lr(x, ["a"] * len(x))
    x_nan = x.copy()
    x_nan[3, 2] = np.nan
    with pytest.raises(ValueError, match="NaN or inf"):
        fit_lda_lr(x_nan, labels)
    same = np.repeat(x[:1], len(x), axis=0)
    with pytest.raises(ValueError, match="within-class scatter is zero"):
        lda_from_scatter(class_scatter(same - same.mean(axis=0), np.arange(len(x)) % 2, 2), 1)
