"""The npz+JSON model store: a round trip of each model kind (identical scores), old files, and the errors."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from voxrecipes.backend.lda_lr import LdaLrModel, fit_lda_lr
from voxrecipes.backend.plda import PldaBackend, fit_plda
from voxrecipes.errors import DataError
from voxrecipes.fusion.logreg import LogRegFusion, fit_logreg_fusion
from voxrecipes.model_store import ModelFormat, load_model, save_model

CLASSES = ["A", "H", "N", "S"]
FMT = ModelFormat(kind="toy", version=3, arrays_file="toy.npz", meta_file="toy.json", title="toy", writer="make_toy")


def problem(n_per_class: int, seed: int, dim: int = 6) -> tuple[np.ndarray, list[str]]:
    """Gaussian classes with fixed means (seed 42) and ``seed``-dependent noise."""
    means = np.random.default_rng(42).normal(0, 3, size=(len(CLASSES), dim))
    rng = np.random.default_rng(seed)
    x = np.vstack([means[k] + rng.normal(size=(n_per_class, dim)) for k in range(len(CLASSES))])
    return x, [c for c in CLASSES for _ in range(n_per_class)]


@pytest.fixture(scope="module")
def data():
    return problem(30, seed=0), problem(10, seed=1)


def one_hot_posteriors(labels: list[str], seed: int) -> np.ndarray:
    """Noisy posteriors that favour each label (a fusion input)."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(len(labels), len(CLASSES))) + 2.0 * np.eye(len(CLASSES))[[CLASSES.index(c)
                                                                                         for c in labels]]
    e = np.exp(logits)
    return e / e.sum(axis=1, keepdims=True)


#: How each kind of model is loaded and what it scores on test embeddings ``x``.
LOADERS = {"lda_lr": (LdaLrModel, lambda m, x: m.predict_proba(x, prior="train")),
           "plda": (PldaBackend, lambda m, x: m.score(x, [f"u{i}" for i in range(len(x))])),
           "fusion": (LogRegFusion, lambda m, x: m.predict_proba([one_hot_posteriors(["A"] * len(x), 3),
                                                                  one_hot_posteriors(["S"] * len(x), 4)]))}


@pytest.fixture(scope="module")
def models(data, tmp_path_factory):
    """One fitted model of each kind, saved under ``root/<kind>``: ``(root, {kind: model})``."""
    (x, y), _ = data
    fitted = {"lda_lr": fit_lda_lr(x, y, lda_dim=3), "plda": fit_plda(x, y, rank_f=3, nb_iter=3),
              "fusion": fit_logreg_fusion([one_hot_posteriors(y, 1), one_hot_posteriors(y, 2)],
                                          np.array([CLASSES.index(c) for c in y]), CLASSES, ["a", "b"])}
    fitted["plda"].meta["rank_f"] = 3
    root = tmp_path_factory.mktemp("models")
    for kind, model in fitted.items():
        model.save(root / kind)
    return root, fitted


@pytest.mark.parametrize("kind", ["lda_lr", "plda", "fusion"])
def test_round_trip_gives_identical_scores(models, data, kind):
    root, fitted = models
    cls, score = LOADERS[kind]
    loaded = cls.load(root / kind)
    _, (x_test, _) = data
    np.testing.assert_array_equal(score(loaded, x_test), score(fitted[kind], x_test))
    assert loaded.classes == fitted[kind].classes
    assert {k: v for k, v in loaded.meta.items() if k != "classes"} == fitted[kind].meta
    meta_file = {"lda_lr": "classes.json", "plda": "classes.json", "fusion": "fusion_lr.json"}[kind]
    record = json.loads((root / kind / meta_file).read_text())
    assert (record["model_kind"], record["format_version"]) == {"lda_lr": ("lda_lr", 1), "plda": ("plda", 2),
                                                                "fusion": ("logreg_fusion", 1)}[kind]


@pytest.mark.parametrize(("kind", "meta_file"), [("lda_lr", "classes.json"), ("fusion", "fusion_lr.json")])
def test_files_from_before_the_store_still_load(models, data, tmp_path, kind, meta_file):
    """LDA/LR and fusion kept their layout: a JSON without model_kind/format_version is format 1."""
    root, fitted = models
    shutil.copytree(root / kind, tmp_path / kind)
    record = json.loads((tmp_path / kind / meta_file).read_text())
    del record["model_kind"], record["format_version"]
    (tmp_path / kind / meta_file).write_text(json.dumps(record))
    cls, score = LOADERS[kind]
    _, (x_test, _) = data
    np.testing.assert_array_equal(score(cls.load(tmp_path / kind), x_test), score(fitted[kind], x_test))


def test_plda_format_1_is_refused_with_a_retrain_message(models, tmp_path):
    """Format 1 kept classes in plda.npz and no version in classes.json (the layout changed: version 2)."""
    _, fitted = models
    old = tmp_path / "old"
    old.mkdir()
    model = fitted["plda"]
    np.savez(old / "plda.npz", format_version=np.int64(1), classes=np.array(model.classes), center=model.center,
             length_norm=np.bool_(True), mean=model.mean, F=model.F, Sigma=model.Sigma,
             class_models=model.class_models)
    (old / "classes.json").write_text(json.dumps({"classes": model.classes, "rank_f": 3}))
    with pytest.raises(DataError, match=r"old/classes\.json: no model_kind/format_version: a model written before "
                                        r"format 2 of the PLDA files, which is not read any more; retrain it with "
                                        r"train_plda"):
        PldaBackend.load(old)


def test_wrong_kind_and_version(models, tmp_path):
    root, _ = models
    shutil.copytree(root / "lda_lr", tmp_path / "m")
    (tmp_path / "m" / "plda.npz").write_bytes((tmp_path / "m" / "model.npz").read_bytes())
    with pytest.raises(DataError, match=r"m/classes\.json: model_kind is 'lda_lr', not 'plda': this is not a PLDA "
                                        r"model \(written by train_plda\)"):
        PldaBackend.load(tmp_path / "m")
    record = json.loads((tmp_path / "m" / "classes.json").read_text())
    record["format_version"] = 7
    (tmp_path / "m" / "classes.json").write_text(json.dumps(record))
    with pytest.raises(DataError, match=r"LDA/LR backend model of format_version 7; this version of voxrecipes "
                                        r"reads 1 only: retrain it with train_lda_lr"):
        LdaLrModel.load(tmp_path / "m")


def test_missing_and_broken_files(tmp_path):
    arrays = {"w": np.arange(6.0).reshape(2, 3), "n": np.array([1, 2])}
    save_model(tmp_path / "m", FMT, arrays, {"classes": ["x", "y"], "model_kind": "ignored"})
    loaded, meta = load_model(tmp_path / "m", FMT, ["w"], optional=["n", "absent"])
    assert meta == {"classes": ["x", "y"]} and sorted(loaded) == ["n", "w"]
    np.testing.assert_array_equal(loaded["n"], [1, 2])
    assert json.loads((tmp_path / "m" / "toy.json").read_text())["model_kind"] == "toy"

    with pytest.raises(DataError, match=r"none/toy\.json: toy model not found; run make_toy first"):
        load_model(tmp_path / "none", FMT, ["w"])
    with pytest.raises(DataError, match=r"m/toy\.npz: not a toy model: missing arrays v"):
        load_model(tmp_path / "m", FMT, ["w", "v"])
    (tmp_path / "m" / "toy.npz").unlink()
    with pytest.raises(DataError, match=r"m/toy\.npz: toy model arrays not found next to toy\.json"):
        load_model(tmp_path / "m", FMT, ["w"])
    (tmp_path / "m" / "toy.npz").write_bytes(b"not a zip")
    with pytest.raises(DataError, match=r"m/toy\.npz: cannot read the toy model arrays"):
        load_model(tmp_path / "m", FMT, ["w"])
    np.savez(tmp_path / "m" / "toy.npz", w=np.array([{"a": 1}], dtype=object))  # needs pickle to read
    with pytest.raises(DataError, match=r"m/toy\.npz: cannot read the toy model arrays"):
        load_model(tmp_path / "m", FMT, ["w"])
    (tmp_path / "m" / "toy.json").write_text('{"model_kind": "toy",\n "format_version": 3,,}')
    with pytest.raises(DataError, match=r"m/toy\.json:2: not valid JSON"):
        load_model(tmp_path / "m", FMT, ["w"])
    (tmp_path / "m" / "toy.json").write_text("[1, 2]")
    with pytest.raises(DataError, match=r"expected a JSON object"):
        load_model(tmp_path / "m", FMT, ["w"])
    with pytest.raises(ValueError, match="array 'names' has dtype <U1"):
        save_model(tmp_path / "s", FMT, {"names": np.array(["a"])}, {})
    assert not (tmp_path / "s" / "toy.json").exists()
