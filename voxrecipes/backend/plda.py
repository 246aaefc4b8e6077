"""PLDA backend: class models scored with speechbrain's PLDA, posteriors in our utterance order.

Training: the embeddings are centred on the training mean and (optionally) length
normalised, then ``speechbrain.processing.PLDA_LDA.PLDA`` is trained with the class
labels as "speakers". Each class is enrolled by the average of its processed training
vectors. Scoring: ``fast_PLDA_scoring`` gives a (classes x test) matrix of
log-likelihood ratios, but in the *sorted* order of its model and segment ids, not
the order they were given in; this module maps rows and columns back by name, so the
result is in the input utterance order. Posteriors are the softmax over classes of the
LLRs (flat class prior).

The model is saved as ``.npz`` (loaded with ``allow_pickle=False``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from speechbrain.processing.PLDA_LDA import PLDA, Ndx, StatObject_SB, fast_PLDA_scoring

from voxrecipes.backend.lda_lr import softmax
from voxrecipes.data.posteriors import Posteriors
from voxrecipes.errors import DataError
from voxrecipes.fileio import atomic_write

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
#: Directions whose singular value is below this fraction of the largest are dropped before PLDA.
DEGENERATE_TOL = 1e-6


def _stat(ids: Sequence[str], models: Sequence[str], x: np.ndarray) -> StatObject_SB:
    n = len(ids)
    none = np.array([None] * n)
    return StatObject_SB(modelset=np.array(list(models), dtype="|O"), segset=np.array(list(ids), dtype="|O"),
                         start=none, stop=none, stat0=np.ones((n, 1)), stat1=np.asarray(x, dtype=np.float64))


def _check_matrix(x: np.ndarray, what: str) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] == 0:
        raise ValueError(f"{what} must be a non-empty (N, D) matrix, got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError(f"{what} contain NaN or inf values")
    return x


@dataclass
class PldaBackend:
    """A trained PLDA model with one enrolled model per class."""

    classes: list[str]
    center: np.ndarray  # (D,) training mean removed before everything
    length_norm: bool
    # PLDA parameters in the space of ``transform`` (dimension r: D, or the projection's width)
    mean: np.ndarray  # PLDA mean (r,)
    F: np.ndarray  # (r, rank) between-class loadings
    Sigma: np.ndarray  # (r, r) residual covariance
    class_models: np.ndarray  # (C, r) enrolment vectors, in the order of ``classes``
    projection: np.ndarray | None = None  # (D, r): onto the training data's non-degenerate subspace

    def transform(self, x: np.ndarray) -> np.ndarray:
        """Centring, projection and optional length normalisation applied before training and scoring."""
        x = np.asarray(x, dtype=np.float64) - self.center
        if self.projection is not None:
            x = x @ self.projection
        if self.length_norm:
            x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
        return x

    def score(self, x: np.ndarray, utts: Sequence[str]) -> np.ndarray:
        """LLR of each utterance (row, input order) against each class (column, ``classes`` order)."""
        x = _check_matrix(x, "embeddings")
        utts = list(utts)
        if len(utts) != x.shape[0]:
            raise ValueError(f"{len(utts)} utterance ids for {x.shape[0]} embeddings")
        if len(set(utts)) != len(utts):
            raise ValueError("utterance ids are not unique")
        if x.shape[1] != self.center.shape[0]:
            raise ValueError(f"embedding dimension {x.shape[1]} does not match the model's {self.center.shape[0]}")
        model_ids = np.array([f"class{i:04d}" for i in range(len(self.classes))], dtype="|O")
        enroll = _stat(list(model_ids), list(model_ids), self.class_models)
        test = _stat(utts, utts, self.transform(x))
        ndx = Ndx(models=model_ids, testsegs=np.array(utts, dtype="|O"))
        scores = fast_PLDA_scoring(enroll, test, ndx, self.mean, self.F, self.Sigma)
        # speechbrain returns rows/columns in its own (sorted) id order: map them back by name.
        row = {str(m): i for i, m in enumerate(scores.modelset)}
        col = {str(s): j for j, s in enumerate(scores.segset)}
        missing = [u for u in utts if u not in col] + [m for m in model_ids if m not in row]
        if missing:
            raise RuntimeError(f"speechbrain dropped trials for {missing[:3]}")
        mat = np.asarray(scores.scoremat)
        return mat[np.ix_([row[m] for m in model_ids], [col[u] for u in utts])].T

    def posteriors(self, x: np.ndarray, utts: Sequence[str]) -> Posteriors:
        """Softmax over classes of the LLRs (flat prior), rows in the input utterance order."""
        return Posteriors(utts=list(utts), classes=list(self.classes), matrix=softmax(self.score(x, utts)))

    def save(self, path: str | os.PathLike) -> None:
        """Write the model as ``.npz`` (plain arrays only; no pickle)."""
        with atomic_write(path, "wb") as handle:
            np.savez(handle, format_version=np.int64(FORMAT_VERSION), classes=np.array(self.classes, dtype=str),
                     center=self.center, length_norm=np.bool_(self.length_norm), mean=self.mean, F=self.F,
                     Sigma=self.Sigma, class_models=self.class_models,
                     **({} if self.projection is None else {"projection": self.projection}))

    @classmethod
    def load(cls, path: str | os.PathLike) -> PldaBackend:
        keys = ("format_version", "classes", "center", "length_norm", "mean", "F", "Sigma", "class_models")
        try:
            with np.load(path, allow_pickle=False) as data:
                missing = [k for k in keys if k not in data.files]
                if missing:
                    raise DataError(path, None, f"not a PLDA model file: missing arrays {missing}")
                arrays = {k: data[k] for k in keys}
                projection = data["projection"] if "projection" in data.files else None
        except (OSError, ValueError) as exc:
            raise DataError(path, None, f"cannot read PLDA model: {exc}") from exc
        if int(arrays["format_version"]) != FORMAT_VERSION:
            raise DataError(path, None, f"unsupported format_version {int(arrays['format_version'])}")
        return cls(classes=[str(c) for c in arrays["classes"]], center=arrays["center"],
                   length_norm=bool(arrays["length_norm"]), mean=arrays["mean"], F=arrays["F"],
                   Sigma=arrays["Sigma"], class_models=arrays["class_models"], projection=projection)


def fit_plda(x: np.ndarray, labels: Sequence[str], *, rank_f: int = 100, nb_iter: int = 10,
             length_norm: bool = True, classes: Sequence[str] | None = None) -> PldaBackend:
    """Train PLDA on ``(N, D)`` embeddings with class ``labels``; enrol one model per class.

    ``rank_f`` is capped at ``D``. ``classes`` fixes the column order (default: sorted labels).
    Utterances whose label is not in ``classes`` are left out of training.
    """
    x = _check_matrix(x, "training embeddings")
    labels = [str(lab) for lab in labels]
    if len(labels) != x.shape[0]:
        raise ValueError(f"{len(labels)} labels for {x.shape[0]} embeddings")
    classes = sorted(set(labels)) if classes is None else [str(c) for c in classes]
    keep = np.array([lab in set(classes) for lab in labels])
    x, labels = x[keep], [lab for lab, k in zip(labels, keep) if k]
    counts = {c: labels.count(c) for c in classes}
    absent = [c for c, n in counts.items() if n == 0]
    if absent:
        raise ValueError(f"classes without training data: {absent}")
    if len(classes) < 2:
        raise ValueError("PLDA needs at least 2 classes")
    center = x.mean(axis=0)
    # Embeddings can span fewer than D dimensions (e.g. ReLU units that never fire give
    # constant dimensions); PLDA's covariances are then singular. Keep the subspace the
    # training data spans, as a PCA step before PLDA would.
    _, sing, vt = np.linalg.svd(x - center, full_matrices=False)
    rank = int((sing > DEGENERATE_TOL * sing[0]).sum())  # 0 when every embedding is the same
    if rank == 0:
        raise ValueError("the training embeddings are all identical")
    projection = None
    if rank < x.shape[1]:
        projection = vt[:rank].T
        logger.info("PLDA: the training embeddings span %d of %d dimensions; projecting onto them", rank, x.shape[1])
    model = PldaBackend(classes=list(classes), center=center, length_norm=length_norm, mean=center,
                        F=np.empty((0, 0)), Sigma=np.empty((0, 0)), class_models=np.empty((0, 0)),
                        projection=projection)
    xt = model.transform(x)
    ids = [f"utt{i:08d}" for i in range(xt.shape[0])]
    plda = PLDA(rank_f=min(rank_f, xt.shape[1]), nb_iter=nb_iter)
    plda.plda(_stat(ids, labels, xt))
    lab = np.array(labels)
    model.mean, model.F, model.Sigma = np.asarray(plda.mean), np.asarray(plda.F), np.asarray(plda.Sigma)
    model.class_models = np.stack([xt[lab == c].mean(axis=0) for c in classes])
    return model
