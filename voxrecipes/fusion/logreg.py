"""Logistic-regression fusion of several systems' posteriors (TalTech, Odyssey 2024, 3.3.1).

A multinomial logistic regression (L2 penalty, ``C = 1.0`` as in the paper) is trained
on Dev_bal with the systems' posteriors, concatenated, as input features, and applied to
the other sets.

Features (``features``): by default the systems' POSTERIORS themselves, as the paper
says ("using the posteriors of the underlying models as input features"). ``"log"``
uses the log posteriors, ``log(max(p, floor))``, instead: a log-linear
(product-of-experts) combination that contains each single system exactly (unit weight
on its own log posteriors reproduces its softmax) and generalises the linear calibration
of log-likelihood scores (BOSARIS/FoCal). The floor (:data:`LOG_FLOOR`) keeps columns
with probability 0 (e.g. ``O``/``X`` after the prior fix) finite.

Measured (issue 14; W2V-BERT LDA/LR + LLaMA text posteriors of the mini recipe, both with
the balanced prior, tuned on Dev_bal's 78 utterances; macro-F1, paired bootstrap 95% CI
of log minus prob): the log fuser fits the tuning set better (Dev_bal 0.957 vs 0.741)
but generalises worse to the unseen speakers of Test1 (0.454 vs 0.638, CI [-0.275,
-0.090]) and Test2 (0.647 vs 0.745, [-0.190, -0.012]); on two synthetic complementary
8-class systems (300 tuning, 2000 test items) prob also wins (0.805 vs 0.779, [-0.041,
-0.010]). Log inputs span a much wider range, so C = 1 regularises them less. Hence
the paper's posteriors are the default.

Storage without pickle, by :mod:`voxrecipes.model_store`: ``fusion_lr.npz`` (``coef`` (K x F),
``intercept`` (K)) and ``fusion_lr.json`` (classes, systems, feature kind, floor, C, ...), the
JSON written last (format 1: the layout of the files written before the store, which still load).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from voxrecipes.errors import ConfigError, DataError
from voxrecipes.model_store import ModelFormat, load_model, save_model

MODEL_FILE = "fusion_lr.npz"
META_FILE = "fusion_lr.json"
#: Probability floor before the log (posteriors files are written with 6 significant digits).
LOG_FLOOR = 1e-8
FEATURES = ("prob", "log")
#: the paper's input: the posteriors themselves
DEFAULT_FEATURES = "prob"
MODEL_FORMAT = ModelFormat(kind="logreg_fusion", version=1, arrays_file=MODEL_FILE, meta_file=META_FILE,
                           title="LR fusion", writer="fuse_posteriors --method logreg", legacy_version=1)


def make_features(matrices: Sequence[np.ndarray], features: str = DEFAULT_FEATURES,
                  floor: float = LOG_FLOOR) -> np.ndarray:
    """Concatenate the systems' (n x K) posteriors into (n x S*K) features (raw posteriors or their logs)."""
    if features not in FEATURES:
        raise ConfigError(f"features must be one of {FEATURES}, got '{features}'")
    x = np.concatenate([np.asarray(m, dtype=np.float64) for m in matrices], axis=1)
    return np.log(np.maximum(x, floor)) if features == "log" else x


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax, numerically stable."""
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


@dataclass
class LogRegFusion:
    """A trained fuser: ``softmax(x @ coef.T + intercept)`` over :attr:`classes`."""

    classes: list[str]
    systems: list[str]
    coef: np.ndarray
    intercept: np.ndarray
    features: str = DEFAULT_FEATURES
    floor: float = LOG_FLOOR
    meta: dict = field(default_factory=dict)

    def predict_proba(self, matrices: Sequence[np.ndarray]) -> np.ndarray:
        """Fused (n x len(classes)) posteriors of the systems' posteriors (same order as in training)."""
        if len(matrices) != len(self.systems):
            raise ConfigError(f"{len(matrices)} systems given, the fuser was trained on {len(self.systems)}")
        x = make_features(matrices, self.features, self.floor)
        if x.shape[1] != self.coef.shape[1]:
            raise ConfigError(f"{x.shape[1]} input features, the fuser expects {self.coef.shape[1]}")
        return softmax(x @ self.coef.T + self.intercept)

    def save(self, out_dir: str | os.PathLike) -> None:
        """Write ``fusion_lr.npz`` and then ``fusion_lr.json`` (the 'done' marker) through the model store."""
        meta = dict(self.meta)
        meta.update(classes=list(self.classes), systems=list(self.systems), features=self.features,
                    floor=float(self.floor))
        save_model(out_dir, MODEL_FORMAT, {"coef": np.asarray(self.coef, dtype=np.float64),
                                           "intercept": np.asarray(self.intercept, dtype=np.float64)}, meta)

    @classmethod
    def load(cls, model_dir: str | os.PathLike) -> LogRegFusion:
        """Rebuild a fuser written by :meth:`save` (no pickle); errors name the file (:mod:`voxrecipes.model_store`)."""
        arrays, meta = load_model(model_dir, MODEL_FORMAT, ("coef", "intercept"))
        meta_path, npz_path = Path(model_dir) / META_FILE, Path(model_dir) / MODEL_FILE
        try:
            classes = [str(c) for c in meta.pop("classes")]
            systems = [str(s) for s in meta.pop("systems")]
            features = str(meta.pop("features"))
            floor = float(meta.pop("floor"))
        except (KeyError, TypeError, ValueError) as err:
            raise DataError(meta_path, None, f"not a fusion metadata file: {err}") from None
        coef, intercept = arrays["coef"], arrays["intercept"]
        if coef.ndim != 2 or coef.shape[0] != len(classes) or intercept.shape != (len(classes),):
            raise DataError(npz_path, None, f"coef {coef.shape} / intercept {intercept.shape} do not match "
                                            f"{len(classes)} classes in {meta_path}")
        return cls(classes=classes, systems=systems, coef=coef, intercept=intercept, features=features,
                   floor=floor, meta=meta)


def fit_logreg_fusion(matrices: Sequence[np.ndarray], y_true: np.ndarray, classes: Sequence[str],
                      systems: Sequence[str], *, C: float = 1.0, features: str = DEFAULT_FEATURES,
                      max_iter: int = 1000,
                      return_sklearn: bool = False):
    """Train the fuser on the tuning set: ``y_true`` are indices into ``classes`` (the posteriors' header).

    Only classes that occur in ``y_true`` can be learned; the fuser outputs those, in
    header order (Dev_bal: the eight emotions, without ``O``/``X``).
    """
    from sklearn.linear_model import LogisticRegression

    y_true = np.asarray(y_true, dtype=np.int64)
    present = sorted(set(y_true.tolist()))
    if len(present) < 2:
        raise ValueError(f"need at least 2 classes in the tuning labels, found {len(present)}")
    x = make_features(matrices, features)
    lr = LogisticRegression(C=C, max_iter=max_iter).fit(x, y_true)
    if lr.coef_.shape[0] == 1:  # binary: sklearn keeps one row; sigmoid(z) == softmax([0, z])
        coef = np.vstack([np.zeros_like(lr.coef_[0]), lr.coef_[0]])
        intercept = np.array([0.0, lr.intercept_[0]])
    else:
        coef, intercept = lr.coef_, lr.intercept_
    order = [int(c) for c in lr.classes_]  # ascending class indices == header order
    model = LogRegFusion(classes=[classes[i] for i in order], systems=list(systems),
                         coef=np.array(coef, dtype=np.float64), intercept=np.array(intercept, dtype=np.float64),
                         features=features,
                         meta={"C": float(C), "penalty": "l2", "num_train": int(x.shape[0]),
                               "num_features": int(x.shape[1]), "input_classes": list(classes)})
    if return_sklearn:
        return model, lr
    return model
