"""Fisher LDA from class scatter statistics: scikit-learn's svd-solver LDA without the N x D SVD.

``sklearn.discriminant_analysis.LinearDiscriminantAnalysis(solver="svd")`` whitens the
within-class scatter with an SVD of the (N x D) class-centred data, then takes the
principal directions of the whitened class means. Both steps only need second-order
statistics: the Gram matrix of the data, the class counts and the class sums. This
module computes those in one pass (one (D x D) covariance product and one (C x N) by
(N x D) product) and repeats sklearn's two steps on (D x D) and (C x r) matrices, with
sklearn's rank thresholds. The result is sklearn's projection up to the sign of each
output direction, which the logistic regression that follows does not see (its L2
penalty is invariant to sign flips); tests/backend/test_lda_lr_fit.py checks both.

At 100,000 x 256 embeddings on 2 busy shared cores (2026-12-01), sklearn's LDA fit took
17 s with one BLAS thread and 54 s with two; the scatter statistics took 3.7 s.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from voxrecipes.backend.threads import SMALL_MATRIX_THREADS, blas_threads

#: sklearn's ``LinearDiscriminantAnalysis(tol=1e-4)``: singular values (square roots of
#: the eigenvalues used here) below it count as zero when whitening the within-class scatter.
SVD_TOL = 1e-4


@dataclass
class ClassScatter:
    """Second-order statistics of labelled vectors: what LDA needs from the N rows."""

    counts: np.ndarray  # (C,) vectors per class
    sums: np.ndarray  # (C, D) sum of each class's vectors
    gram: np.ndarray  # (D, D) sum of outer products of all vectors

    def scaled(self, scale: np.ndarray) -> ClassScatter:
        """The statistics of the vectors divided elementwise by ``scale`` (D,)."""
        return ClassScatter(counts=self.counts, sums=self.sums / scale, gram=self.gram / np.outer(scale, scale))


def class_scatter(x: np.ndarray, index: np.ndarray, num_classes: int) -> ClassScatter:
    """Counts, sums and Gram matrix of ``x`` (N, D) with class ``index`` (N,) in ``range(num_classes)``.

    ``x`` should be centred (e.g. on its mean): the within-class scatter is the Gram
    matrix minus the class-mean term, which loses precision when the vectors sit far
    from the origin compared to their spread.
    """
    n = x.shape[0]
    onehot = np.zeros((num_classes, n), dtype=x.dtype)
    onehot[index, np.arange(n)] = 1
    gram = x.T @ x  # numpy computes A'A as a symmetric rank-k update
    return ClassScatter(counts=np.bincount(index, minlength=num_classes).astype(np.float64),
                        sums=np.asarray(onehot @ x, dtype=np.float64), gram=np.asarray(gram, dtype=np.float64))


def lda_from_scatter(stats: ClassScatter, n_components: int, tol: float = SVD_TOL) -> tuple[np.ndarray, np.ndarray]:
    """``(xbar, scalings)`` of sklearn's svd-solver LDA (empirical priors) from ``stats``.

    The projection of a vector ``z`` is ``(z - xbar) @ scalings``; ``scalings`` has
    ``min(n_components, rank of the between-class scatter)`` columns. Step 1 whitens the
    within-class covariance (scatter divided by N, as scikit-learn 1.9 does; standardised by
    the within-class standard deviations, directions with eigenvalue <= tol**2 dropped, as sklearn drops singular
    values <= tol); step 2 rotates onto the principal axes of the whitened class means
    (weighted by sqrt(n_k / (C - 1)); axes with singular value <= tol x the largest dropped).
    """
    counts = stats.counts
    n, num_classes = counts.sum(), counts.size
    means = stats.sums / counts[:, None]
    xbar = (counts / n) @ means
    with blas_threads(SMALL_MATRIX_THREADS):
        within = stats.gram - (means.T * counts) @ means
        within = (within + within.T) / 2
        std = np.sqrt(np.clip(np.diag(within), 0, None) / n)
        std[std == 0] = 1.0
        evals, evecs = np.linalg.eigh(within / n / np.outer(std, std))
        keep = evals > tol ** 2
        if not keep.any():
            raise ValueError("the within-class scatter is zero: every vector equals its class mean")
        whiten = (evecs[:, keep] / std[:, None]) / np.sqrt(evals[keep])
        weighted = (np.sqrt(counts / (num_classes - 1))[:, None] * (means - xbar)) @ whiten
        _, sing, vt = np.linalg.svd(weighted, full_matrices=False)
        rank = int((sing > tol * sing[0]).sum()) if sing.size and sing[0] > 0 else 0
        if rank == 0:
            raise ValueError("the class means are all equal: LDA has no discriminant direction")
        scalings = whiten @ vt[:rank].T
    return xbar, scalings[:, :n_components]
