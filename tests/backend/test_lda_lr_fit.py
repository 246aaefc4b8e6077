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
from voxrecipes.backend.lda_scatter import class_scatter, kaldi_lda_from_scatter, lda_from_scatter

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
    model = fit_lda_lr(x, labels, lda_kind="sklearn")
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
    model = fit_lda_lr(x, labels, classes=sorted(set(labels))[::-1], lda_kind="sklearn")
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


@pytest.mark.parametrize(("counts", "degenerate"), [((400, 250, 120, 60, 300, 90, 150, 200), False),
                                                    ((200, 200, 150), True)])
def test_kaldi_lda_first_k_minus_1_directions_span_sklearns(counts, degenerate):
    """Kaldi-style LDA to 15 dims: 15 outputs, the first K-1 are sklearn's LDA (up to sign), the rest carry no class."""
    x, labels = overlapping_classes(counts, dim=20, seed=4, degenerate=degenerate)
    k = len(counts)
    model = fit_lda_lr(x, labels, lda_dim=15, lda_kind="kaldi")
    ours = model.project(x)
    assert ours.shape == (len(x), 15)
    theirs = sklearn_direct(x, labels, n_components=k - 1)[:-1].transform(x)
    # same subspace: the least-squares fit of sklearn's projection from our first K-1 columns is exact
    coef, *_ = np.linalg.lstsq(ours[:, :k - 1], theirs, rcond=None)
    np.testing.assert_allclose(ours[:, :k - 1] @ coef, theirs, atol=1e-8 * np.abs(theirs).max())
    # distinct eigenvalues: each direction equals sklearn's up to sign
    signs = np.sign((ours[:, :k - 1] * theirs).sum(axis=0))
    np.testing.assert_allclose(ours[:, :k - 1] * signs, theirs, atol=1e-8 * np.abs(theirs).max())
    # within-class covariance I over all 15; class means differ only in the first K-1
    index = np.unique(labels, return_inverse=True)[1]
    means = np.stack([ours[index == c].mean(axis=0) for c in range(k)])
    within = sum(((ours[index == c] - means[c]).T @ (ours[index == c] - means[c])) for c in range(k)) / len(x)
    np.testing.assert_allclose(within, np.eye(15), atol=1e-8)
    assert np.abs(means[:, k - 1:]).max() < 1e-8
    assert np.abs(means[:, :k - 1]).max() > 0.1
    between = np.asarray(model.meta["lda_between_variance"])
    assert between.shape == (15,) and model.meta["lda_discriminant_dims"] == k - 1
    assert np.all(between[:k - 1] > 1e-3) and np.all(np.abs(between[k - 1:]) < 1e-10)
    assert model.meta["lda_dim"] == 15 and model.meta["lda_kind"] == "kaldi"


def test_kaldi_lda_against_scipy_generalized_eigenproblem():
    """Full-rank within-class scatter: the directions are scipy's eigh(B, W) top eigenvectors, W-normalised."""
    from scipy.linalg import eigh

    x, labels = overlapping_classes((300, 200, 250, 150), dim=6, seed=5)
    names, index = np.unique(labels, return_inverse=True)
    centred = x - x.mean(axis=0)
    lda = kaldi_lda_from_scatter(class_scatter(centred, index, len(names)), 5)
    n = len(x)
    means = np.stack([centred[index == c].mean(axis=0) for c in range(len(names))])
    counts = np.bincount(index)
    within = sum((centred[index == c] - means[c]).T @ (centred[index == c] - means[c]) for c in range(len(names))) / n
    between = (means.T * counts) @ means / (len(names) - 1)
    evals, evecs = eigh(between, within)
    ref = evecs[:, ::-1][:, :5]
    np.testing.assert_allclose(lda.between[:3], evals[::-1][:3], rtol=1e-8)
    signs = np.sign((lda.scalings[:, :3] * ref[:, :3]).sum(axis=0))
    np.testing.assert_allclose(lda.scalings[:, :3] * signs, ref[:, :3], rtol=1e-6, atol=1e-10)
    assert lda.discriminant == 3 and lda.scalings.shape == (6, 5)
    # the two extra directions lie in B's null space: W-orthonormal, B-null
    extra = lda.scalings[:, 3:]
    np.testing.assert_allclose(extra.T @ within @ extra, np.eye(2), atol=1e-10)
    assert np.abs(extra.T @ between @ extra).max() < 1e-10


def test_lda_dims_log_line(caplog):
    x, labels = overlapping_classes((100, 120, 80), dim=10, seed=6)
    with caplog.at_level("INFO", logger="voxrecipes.backend.lda_lr"):
        fit_lda_lr(x, labels, lda_dim=15, lda_kind="kaldi")
        fit_lda_lr(x, labels, lda_dim=15, lda_kind="sklearn")
        fit_lda_lr(x, labels, lda_dim=1, lda_kind="sklearn")
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("LDA")]
    assert lines == [
        "LDA (kaldi): kept 10 of the 15 dimensions asked for: 2 with between-class variance (the K-1 = 2 "
        "discriminant directions), 8 more with ~0 between-class variance, as Kaldi's ivector-compute-lda keeps; "
        "capped at the rank of the within-class scatter, 10",
        "LDA (sklearn): kept 2 of the 15 dimensions asked for: lda_kind sklearn keeps at most K-1 = 2 for 3 classes",
        "LDA (sklearn): kept 1 of the 1 dimensions asked for: as requested",
    ]
    with pytest.raises(ValueError, match="lda_kind must be one of kaldi, sklearn, not 'plda'"):
        fit_lda_lr(x, labels, lda_kind="plda")
    with pytest.raises(ValueError, match="lda_dim must be at least 1"):
        fit_lda_lr(x, labels, lda_dim=0)
