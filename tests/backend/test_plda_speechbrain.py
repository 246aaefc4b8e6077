"""The numpy PLDA against SpeechBrain's PLDA, which it replaced (issue 16): same model, same scores.

SpeechBrain is called directly here, as the old backend called it: ``PLDA.plda`` on the
processed training vectors with the class labels as models, then ``fast_PLDA_scoring``
of the class enrolment vectors against the processed test vectors (its score matrix is
in sorted-id order; it is mapped back by name). Both are float64 and do the same
arithmetic in a different order, so the tolerance is a rounding one: scores agree to
1e-8 (absolute, on LLRs of magnitude 1-100; measured: about 1e-12).
"""

from __future__ import annotations

import numpy as np
import pytest
from speechbrain.processing.PLDA_LDA import PLDA, Ndx, StatObject_SB, fast_PLDA_scoring

from voxrecipes.backend.plda import SpldaParams, fit_plda, splda_llr

TOLERANCE = 1e-8


def stats(ids, models, x):
    n = len(ids)
    none = np.array([None] * n)
    return StatObject_SB(modelset=np.array(list(models), dtype="|O"), segset=np.array(list(ids), dtype="|O"),
                         start=none, stop=none, stat0=np.ones((n, 1)), stat1=np.asarray(x, dtype=np.float64))


def speechbrain_scores(enrol, test, params):
    """(N, C) scores from SpeechBrain's fast_PLDA_scoring, rows and columns in the given order."""
    models = [f"m{i:03d}" for i in range(len(enrol))]
    segs = [f"s{j:05d}" for j in range(len(test))][::-1]  # sorted order != input order
    ndx = Ndx(models=np.array(models, dtype="|O"), testsegs=np.array(segs, dtype="|O"))
    out = fast_PLDA_scoring(stats(models, models, enrol), stats(segs, segs, test), ndx, params.mean, params.F,
                            params.Sigma)
    row = {str(m): i for i, m in enumerate(out.modelset)}
    col = {str(s): j for j, s in enumerate(out.segset)}
    return np.asarray(out.scoremat)[np.ix_([row[m] for m in models], [col[s] for s in segs])].T


def class_data(counts, dim, seed, spread=1.5, constant_dims=0):
    """Gaussian classes with unequal sizes (the E-step depends on each class's count)."""
    rng = np.random.default_rng(seed)
    means = np.random.default_rng(1000 + dim).normal(0, spread, size=(len(counts), dim))
    x = np.vstack([means[k] + rng.normal(size=(n, dim)) for k, n in enumerate(counts)])
    labels = [f"c{k}" for k, n in enumerate(counts) for _ in range(n)]
    if constant_dims:
        x = np.hstack([x, np.full((len(x), constant_dims), 0.25)])
    return x, labels


@pytest.mark.parametrize(("counts", "dim", "rank_f", "nb_iter", "length_norm", "constant_dims"), [
    ((120, 80, 45, 200, 60), 16, 10, 10, True, 0),  # rank above the number of classes
    ((300, 40, 90), 12, 2, 6, False, 0),  # rank below it, no length normalisation
    ((70, 70, 70, 70), 10, 6, 4, True, 3),  # constant dimensions projected out first
])
def test_training_and_scores_match_speechbrain(counts, dim, rank_f, nb_iter, length_norm, constant_dims):
    x, labels = class_data(counts, dim, seed=0, constant_dims=constant_dims)
    model = fit_plda(x, labels, rank_f=rank_f, nb_iter=nb_iter, length_norm=length_norm)
    assert (model.projection is not None) == bool(constant_dims)
    processed = model.transform(x)  # what the old backend handed to speechbrain
    reference = PLDA(rank_f=rank_f, nb_iter=nb_iter)
    reference.plda(stats([f"u{i:05d}" for i in range(len(x))], labels, processed))
    # F is identified up to an orthogonal rotation of the latent space; F F' and Sigma are not
    np.testing.assert_allclose(model.mean, reference.mean, atol=1e-12)
    np.testing.assert_allclose(model.F @ model.F.T, reference.F @ reference.F.T, atol=1e-9)
    np.testing.assert_allclose(model.Sigma, reference.Sigma, atol=1e-9)

    x_test, _ = class_data(counts, dim, seed=1, constant_dims=constant_dims)
    utts = [f"t{i:05d}" for i in range(len(x_test))]
    ours = model.score(x_test, utts)
    theirs = speechbrain_scores(model.class_models, model.transform(x_test),
                                SpldaParams(np.asarray(reference.mean), np.asarray(reference.F),
                                            np.asarray(reference.Sigma)))
    assert ours.shape == (len(x_test), len(counts))
    assert np.abs(theirs).max() > 1.0  # the scores are not all near zero
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=TOLERANCE * max(1.0, np.abs(theirs).max()))
    np.testing.assert_array_equal(ours.argmax(axis=1), theirs.argmax(axis=1))


def test_llr_of_any_parameters_matches_speechbrain():
    """Scoring alone, on parameters that did not come from training (an old model file's)."""
    rng = np.random.default_rng(5)
    dim, rank = 9, 4
    a = rng.normal(size=(dim, dim))
    params = SpldaParams(mean=rng.normal(size=dim), F=rng.normal(size=(dim, rank)), Sigma=a @ a.T + np.eye(dim))
    enrol, test = rng.normal(size=(6, dim)), rng.normal(size=(50, dim))
    theirs = speechbrain_scores(enrol, test, params)
    np.testing.assert_allclose(splda_llr(enrol, test, params), theirs, rtol=0,
                               atol=TOLERANCE * max(1.0, np.abs(theirs).max()))
