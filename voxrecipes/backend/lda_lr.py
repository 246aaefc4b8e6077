"""LDA + multinomial logistic regression backend with a uniform-prior correction.

The TalTech Odyssey 2024 system (section 3.1) classifies utterance embeddings with
feature normalisation -> LDA (15 dimensions) -> logistic regression, trained without
the ``X``/``O`` pseudo-classes, and then "post-processed the trained logistic
regression model to use uniform prior over the 8 emotion categories, by
appropriately modifying the biases of the softmax layer".

The correction used here: a discriminatively trained softmax has logits
``z_k = log p(x|k) + log pi_k + const``, where ``pi_k`` is the class prior the model
saw. We take ``pi_k`` to be the relative class frequency of the training data (the
maximum-likelihood estimate of that prior; the paper does not say more) and set

    b'_k = b_k - log(pi_k) + log(1/K),

so that the model's implicit prior becomes uniform. This equals
:func:`voxrecipes.backend.prior.prior_fix` with a uniform target prior applied to the
uncorrected posteriors. Both sets of biases are stored, so that scoring can choose
``--prior uniform`` (corrected) or ``--prior train`` (as trained).

The model is stored without pickle by :mod:`voxrecipes.model_store`: ``model.npz`` with the
affine maps and ``classes.json`` with the metadata (format 1: the layout of the files written
before the store, which therefore still load); :meth:`LdaLrModel.load` rebuilds the pipeline
in numpy and reproduces scikit-learn's ``predict_proba``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from voxrecipes.backend.prior import bias_shift, empirical_prior
from voxrecipes.backend.threads import DEFAULT_BLAS_THREADS, SMALL_MATRIX_THREADS, blas_threads
from voxrecipes.errors import ConfigError, DataError
from voxrecipes.model_store import ModelFormat, load_model, save_model

logger = logging.getLogger(__name__)

#: Default smallest number of training utterances of a class (``train_lda_lr --min_class_count``).
#: A class seen once or twice is far more likely a label typo (``Sad`` for ``S``) than a class
#: a backend can learn, and without ``--classes`` it would silently become an output class;
#: 3 still admits the rare classes of the smallest generated corpora.
DEFAULT_MIN_CLASS_COUNT = 3
#: LDA variants (``train_lda_lr --lda_kind``): 'kaldi' keeps every requested dimension
#: (paper: LDA to 15 dimensions with 8 classes), 'sklearn' stops at K - 1.
LDA_KINDS = ("kaldi", "sklearn")
DEFAULT_LDA_KIND = "kaldi"
MODEL_FILE = "model.npz"
META_FILE = "classes.json"
ARRAYS = ("scaler_mean", "scaler_scale", "lda_xbar", "lda_scalings", "lr_coef", "lr_intercept",
          "lr_intercept_uniform", "train_prior", "train_counts")
MODEL_FORMAT = ModelFormat(kind="lda_lr", version=1, arrays_file=MODEL_FILE, meta_file=META_FILE,
                           title="LDA/LR backend", writer="train_lda_lr", legacy_version=1)


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax, computed as scikit-learn does (max subtracted); ``-inf`` logits give 0."""
    logits = np.asarray(logits, dtype=np.float64)
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


@dataclass
class LdaLrModel:
    """The fitted affine pipeline: standardise, LDA projection, softmax regression."""

    classes: list[str]
    scaler_mean: np.ndarray
    scaler_scale: np.ndarray
    lda_xbar: np.ndarray
    lda_scalings: np.ndarray
    lr_coef: np.ndarray
    lr_intercept: np.ndarray
    lr_intercept_uniform: np.ndarray
    train_prior: np.ndarray
    train_counts: np.ndarray
    meta: dict = field(default_factory=dict)

    # ------------------------------------------------------------------ inference
    def project(self, x: np.ndarray) -> np.ndarray:
        """Standardise and LDA-project embeddings (n x dim) to (n x lda_dim)."""
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.scaler_mean.size:
            raise ValueError(f"expected (n x {self.scaler_mean.size}) embeddings, got {x.shape}")
        # ((x - mean) / scale - xbar) @ scalings as one product: no (n x dim) temporaries
        weights = self.lda_scalings / self.scaler_scale[:, None]
        return x @ weights - (self.scaler_mean @ weights + self.lda_xbar @ self.lda_scalings)

    def logits(self, x: np.ndarray, prior: str = "uniform") -> np.ndarray:
        """Softmax inputs; ``prior`` 'uniform' uses the corrected biases, 'train' the trained ones."""
        if prior not in ("uniform", "train"):
            raise ValueError(f"prior must be 'uniform' or 'train', not {prior!r}")
        intercept = self.lr_intercept_uniform if prior == "uniform" else self.lr_intercept
        return self.project(x) @ self.lr_coef.T + intercept

    def predict_proba(self, x: np.ndarray, prior: str = "uniform") -> np.ndarray:
        """Class posteriors (n x K) in the order of :attr:`classes`."""
        return softmax(self.logits(x, prior))

    # ------------------------------------------------------------------ storage
    def save(self, out_dir: str | os.PathLike) -> None:
        """Write ``model.npz`` and ``classes.json`` (the latter last, as the 'done' marker) through the model store."""
        meta = dict(self.meta)
        meta["classes"] = list(self.classes)
        save_model(out_dir, MODEL_FORMAT, {name: np.asarray(getattr(self, name), dtype=np.float64) for name in ARRAYS},
                   meta)

    @classmethod
    def load(cls, model_dir: str | os.PathLike) -> LdaLrModel:
        """Rebuild a model written by :meth:`save` (no pickle); errors name the file (:mod:`voxrecipes.model_store`)."""
        arrays, meta = load_model(model_dir, MODEL_FORMAT, ARRAYS)
        meta_path, npz_path = Path(model_dir) / META_FILE, Path(model_dir) / MODEL_FILE
        classes = meta.get("classes")
        if not isinstance(classes, list) or not all(isinstance(c, str) for c in classes):
            raise DataError(meta_path, None, "not a backend metadata file: 'classes' must be a list of class names")
        if arrays["lr_coef"].shape[0] != len(classes):
            raise DataError(npz_path, None, f"{arrays['lr_coef'].shape[0]} output rows for {len(classes)} classes "
                                            f"in {meta_path}")
        return cls(classes=list(classes), meta=meta, **arrays)


def fit_lda_lr(x: np.ndarray, labels: Sequence[str], *, lda_dim: int = 15, C: float = 1.0, max_iter: int = 1000,
               classes: Sequence[str] | None = None, threads: int | None = DEFAULT_BLAS_THREADS,
               lda_kind: str = DEFAULT_LDA_KIND) -> LdaLrModel:
    """Fit standardisation -> LDA(lda_dim) -> LogisticRegression on (x, labels).

    ``lda_kind`` 'kaldi' keeps ``lda_dim`` directions, beyond K - 1 if asked, as Kaldi's
    ``ivector-compute-lda`` (the extra ones have ~zero between-class variance; capped only by
    the rank of the within-class scatter); 'sklearn' keeps min(lda_dim, K - 1), scikit-learn's
    limit. The first K - 1 directions of both span the same subspace. The log says how
    many were kept and why.

    ``classes`` fixes the output order (default: sorted class names); it must equal the
    set of labels. The result is what scikit-learn's ``StandardScaler``,
    ``LinearDiscriminantAnalysis(solver="svd")`` and ``LogisticRegression`` (lbfgs, L2)
    fit (tests/backend/test_lda_lr_fit.py), computed so that it scales to 100k+ embeddings:
    one centred float64 copy of ``x``, the LDA from its scatter statistics
    (:mod:`voxrecipes.backend.lda_scatter`, no N x D SVD), and the logistic regression
    warm-started from the LDA's own Gaussian classifier on one BLAS thread (its products
    are N x lda_dim, too thin for threads to pay on shared cores). ``threads``: BLAS
    threads of the products over the N embeddings (:mod:`voxrecipes.backend.threads`).
    """
    from sklearn.linear_model import LogisticRegression

    from voxrecipes.backend.lda_scatter import class_scatter, kaldi_lda_from_scatter, lda_from_scatter

    labels = np.asarray([str(lab) for lab in labels])
    names, index = np.unique(labels, return_inverse=True)
    present = [str(c) for c in names]
    order = list(classes) if classes is not None else present
    if sorted(order) != present:
        raise ValueError(f"classes {order} do not match the training labels {present}")
    num_classes = len(order)
    if num_classes < 2:
        raise ValueError(f"need at least 2 classes to train, found {present}")
    if lda_kind not in LDA_KINDS:
        raise ValueError(f"lda_kind must be one of {', '.join(LDA_KINDS)}, not {lda_kind!r}")
    if lda_dim < 1:
        raise ValueError(f"lda_dim must be at least 1, not {lda_dim}")
    index = index.reshape(-1)

    # StandardScaler: mean and population standard deviation, 1 for a constant dimension
    centred = np.array(x, dtype=np.float64)  # the one (N, D) copy
    if centred.ndim != 2 or centred.shape[0] != labels.shape[0]:
        raise ValueError(f"expected ({labels.shape[0]} x dim) embeddings for {labels.shape[0]} labels, "
                         f"got {centred.shape}")
    if not np.isfinite(centred).all():
        raise ValueError("training embeddings contain NaN or inf values")
    mean = centred.mean(axis=0)
    centred -= mean
    with blas_threads(threads):
        stats = class_scatter(centred, index, len(present))
        scale = np.sqrt(np.diag(stats.gram) / centred.shape[0])
        scale[scale == 0] = 1.0
        if lda_kind == "kaldi":
            lda = kaldi_lda_from_scatter(stats.scaled(scale), lda_dim)
            xbar, scalings = lda.xbar, lda.scalings
            lda_info = {"lda_between_variance": [float(v) for v in lda.between],
                        "lda_discriminant_dims": lda.discriminant}
            why = (f"{lda.discriminant} with between-class variance (the K-1 = {num_classes - 1} discriminant "
                   f"directions), {scalings.shape[1] - lda.discriminant} more with ~0 between-class variance, as "
                   "Kaldi's ivector-compute-lda keeps"
                   + (f"; capped at the rank of the within-class scatter, {lda.available}"
                      if lda.available < lda_dim else ""))
        else:
            xbar, scalings = lda_from_scatter(stats.scaled(scale), max(1, min(lda_dim, num_classes - 1)))
            lda_info = {}
            why = (f"lda_kind sklearn keeps at most K-1 = {num_classes - 1} for {num_classes} classes"
                   if scalings.shape[1] < lda_dim else "as requested")
        logger.info("LDA (%s): kept %d of the %d dimensions asked for: %s", lda_kind, scalings.shape[1], lda_dim, why)
        projected = centred @ (scalings / scale[:, None]) - xbar @ scalings  # as LdaLrModel.project
    del centred

    # Warm start: LDA's Gaussian classifier in the projected space (within-class covariance I)
    counts_sorted = stats.counts
    class_means = (stats.sums / counts_sorted[:, None] / scale - xbar) @ scalings
    init_coef = class_means
    init_intercept = -0.5 * (class_means ** 2).sum(axis=1) + np.log(counts_sorted / counts_sorted.sum())
    lr = LogisticRegression(C=C, max_iter=max_iter, warm_start=True)
    if num_classes == 2:  # sklearn's binary model is one logit: class 1 against class 0
        lr.coef_, lr.intercept_ = (init_coef[1] - init_coef[0])[None, :], init_intercept[1:] - init_intercept[:1]
    else:
        lr.coef_ = init_coef - init_coef.mean(axis=0)
        lr.intercept_ = init_intercept - init_intercept.mean()
    with blas_threads(SMALL_MATRIX_THREADS):
        lr.fit(projected, index)

    perm = [present.index(c) for c in order]  # lr.classes_ are 0..K-1 in ``present`` order
    if num_classes == 2:  # sklearn stores one row for 2 classes: sigmoid(z) == softmax([0, z])
        coef = np.vstack([np.zeros_like(lr.coef_[0]), lr.coef_[0]])
        intercept = np.array([0.0, lr.intercept_[0]])
    else:
        coef, intercept = lr.coef_, lr.intercept_
    coef, intercept = coef[perm], intercept[perm]

    counts = counts_sorted[perm]
    train_prior = empirical_prior(labels.tolist(), order)
    uniform = np.full(num_classes, 1.0 / num_classes)
    return LdaLrModel(
        classes=order,
        scaler_mean=mean, scaler_scale=scale,
        lda_xbar=xbar, lda_scalings=scalings,
        lr_coef=np.array(coef, dtype=np.float64), lr_intercept=np.array(intercept, dtype=np.float64),
        lr_intercept_uniform=bias_shift(intercept, train_prior, uniform),
        train_prior=train_prior, train_counts=counts,
        meta={"lda_dim": int(projected.shape[1]), "lda_dim_requested": int(lda_dim), "lda_kind": lda_kind,
              **lda_info, "C": float(C),
              "embedding_dim": int(mean.shape[0]), "num_train": int(labels.shape[0]),
              "lr_iterations": int(np.max(lr.n_iter_)),
              "train_counts": {c: int(n) for c, n in zip(order, counts)},
              "prior_correction": "b'_k = b_k - log(pi_k) + log(1/K), pi_k = training class frequency"},
    )


def check_class_counts(utts: Sequence[str], labels: Sequence[str], labels_path: str | os.PathLike,
                       min_count: int) -> dict[str, int]:
    """Log the class set found in the training labels; refuse a class with fewer than ``min_count`` utterances.

    Returns ``class -> count`` (sorted by class). The error names the label file and the
    line of the rare class's first utterance, since that class is most often a typo.
    """
    from voxrecipes.labels import label_lines, read_categories

    counts: dict[str, int] = {}
    for label in labels:
        counts[label] = counts.get(label, 0) + 1
    counts = dict(sorted(counts.items()))
    logger.info("training classes found in %s: %s", os.fspath(labels_path),
                " ".join(f"{c}={n}" for c, n in counts.items()))
    rare = [c for c, n in counts.items() if n < min_count]
    if rare:
        first = rare[0]
        utt = next(u for u, label in zip(utts, labels) if label == first)
        line = label_lines(read_categories(labels_path))[utt]
        others = "".join(f", '{c}' ({counts[c]})" for c in rare[1:])
        raise DataError(labels_path, line, f"class '{first}' has {counts[first]} training "
                                           f"utterance{'s' if counts[first] != 1 else ''} (first: '{utt}'), fewer "
                                           f"than --min_class_count {min_count}{others and '; also' + others[1:]}; "
                                           "a typo? fix the label, leave the class out with --exclude, or lower "
                                           "--min_class_count")
    return counts


def train_backend(embedding_scp: str | os.PathLike, labels_path: str | os.PathLike, out_dir: str | os.PathLike, *,
                  exclude: Sequence[str] = (), lda_dim: int = 15, C: float = 1.0, max_iter: int = 1000,
                  classes: Sequence[str] | None = None, lda_kind: str = DEFAULT_LDA_KIND,
                  min_class_count: int = DEFAULT_MIN_CLASS_COUNT) -> LdaLrModel:
    """Train on the labelled utterances of ``labels_path`` (minus ``exclude`` classes) and save.

    Every training class needs at least ``min_class_count`` utterances (see
    :func:`check_class_counts`).
    """
    from voxrecipes.backend.training_data import labelled_embeddings

    if lda_kind not in LDA_KINDS:  # a --config value is not checked against argparse's choices
        raise ConfigError(f"lda_kind must be one of {', '.join(LDA_KINDS)}, not {lda_kind!r}")
    use, train_x, train_y, excluded = labelled_embeddings(embedding_scp, labels_path, exclude)
    check_class_counts(use, train_y, labels_path, min_class_count)
    try:
        model = fit_lda_lr(train_x, train_y, lda_dim=lda_dim, C=C, max_iter=max_iter, classes=classes,
                           lda_kind=lda_kind)
    except ValueError as err:
        raise DataError(labels_path, None, str(err)) from None
    model.meta.update({"embedding_scp": os.fspath(embedding_scp), "labels": os.fspath(labels_path),
                       "excluded": {c: n for c, n in excluded.items()}})
    model.save(out_dir)
    logger.info("trained LDA(%d) + LR on %d utterances, %d classes (%s); priors %s; saved to %s",
                model.meta["lda_dim"], len(use), len(model.classes), " ".join(model.classes),
                " ".join(f"{c}={p:.3f}" for c, p in zip(model.classes, model.train_prior)), os.fspath(out_dir))
    return model


def score_backend(model_dir: str | os.PathLike, embedding_scp: str | os.PathLike, out: str | os.PathLike,
                  prior: str = "uniform") -> None:
    """Write posteriors of every embedding in ``embedding_scp`` with the class header."""
    from voxrecipes.data.posteriors import Posteriors, write_posteriors
    from voxrecipes.features.arkio import read_embeddings

    model = LdaLrModel.load(model_dir)
    keys, x = read_embeddings(embedding_scp)
    if x.shape[1] != model.scaler_mean.size:
        raise DataError(embedding_scp, None, f"embedding dimension {x.shape[1]} but the model in {model_dir} "
                                             f"expects {model.scaler_mean.size}")
    post = model.predict_proba(x, prior=prior)
    write_posteriors(out, Posteriors(keys, model.classes, post))
    logger.info("scored %d utterances with %s (prior: %s) -> %s", len(keys), os.fspath(model_dir), prior,
                os.fspath(out))
