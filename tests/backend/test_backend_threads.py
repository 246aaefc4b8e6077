"""The backends' BLAS thread limit: applied inside, lifted outside, and not changing the numbers."""

from __future__ import annotations

import numpy as np
import pytest
from threadpoolctl import threadpool_info

from voxrecipes.backend.lda_lr import fit_lda_lr
from voxrecipes.backend.plda import fit_plda
from voxrecipes.backend.threads import blas_threads


def blas_thread_counts():
    return [info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas"]


def test_limit_applies_inside_only():
    before = blas_thread_counts()
    with blas_threads(1):
        assert set(blas_thread_counts()) == {1}
    assert blas_thread_counts() == before
    with blas_threads(0), blas_threads(None):
        assert blas_thread_counts() == before
    with pytest.raises(ValueError, match="blas_threads must be >= 0"):
        blas_threads(-2)


def test_thread_count_does_not_change_the_models():
    rng = np.random.default_rng(0)
    labels = np.repeat(["a", "b", "c"], 100)
    x = rng.normal(size=(300, 24)) + np.repeat(rng.normal(0, 1, (3, 24)), 100, axis=0)
    utts = [f"u{i}" for i in range(300)]
    one, default = fit_plda(x, labels, rank_f=5, threads=1), fit_plda(x, labels, rank_f=5, threads=None)
    np.testing.assert_allclose(one.score(x, utts, threads=1), default.score(x, utts, threads=None), atol=1e-9)
    lda_one, lda_default = fit_lda_lr(x, labels, threads=1), fit_lda_lr(x, labels, threads=None)
    np.testing.assert_allclose(lda_one.predict_proba(x), lda_default.predict_proba(x), atol=1e-9)
