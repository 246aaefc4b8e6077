"""LDA + LR backend: numpy reload equals sklearn, prior correction against closed forms."""

from __future__ import annotations

import json

import numpy as np
import pytest

from voxrecipes.backend.lda_lr import LdaLrModel, fit_lda_lr, score_backend, train_backend
from voxrecipes.backend.prior import prior_fix, uniform_prior
from voxrecipes.data.posteriors import read_posteriors
from voxrecipes.data.table import write_table
from voxrecipes.errors import DataError
from voxrecipes.features.arkio import write_ark_scp


def gaussian_problem(counts: dict[str, int], dim: int = 20, sep: float = 1.2, seed: int = 0,
                     noise_seed: int | None = None):
    """Classes with unit-variance Gaussian embeddings around means drawn with ``seed``; ``counts`` per class.

    ``noise_seed`` draws a new sample of the same classes (same means).
    """
    rng = np.random.default_rng(seed)
    means = {c: rng.normal(0, sep, size=dim) for c in sorted(counts)}
    noise = rng if noise_seed is None else np.random.default_rng(noise_seed)
    xs, ys = [], []
    for c, n in counts.items():
        xs.append(means[c] + noise.normal(size=(n, dim)))
        ys += [c] * n
    return np.vstack(xs), ys


IMBALANCED = {"A": 600, "H": 300, "N": 60, "S": 30}


def test_numpy_reload_equals_fitted_model(tmp_path):
    """Save/load reproduces the fitted model; the fit itself is checked against sklearn in test_lda_lr_fit.py."""
    x, y = gaussian_problem(IMBALANCED)
    model = fit_lda_lr(x, y, lda_dim=15, classes=["S", "H", "A", "N"])
    assert model.lda_scalings.shape[1] == 15  # kaldi: every requested dimension (K-1 = 3 discriminant)
    model.save(tmp_path / "m")
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["classes.json", "model.npz"]
    np.load(tmp_path / "m" / "model.npz", allow_pickle=False)  # no pickled objects inside
    loaded = LdaLrModel.load(tmp_path / "m")
    assert loaded.classes == ["S", "H", "A", "N"]
    x_test, _ = gaussian_problem(IMBALANCED, noise_seed=1)
    for prior in ("train", "uniform"):
        np.testing.assert_array_equal(loaded.predict_proba(x_test, prior=prior), model.predict_proba(x_test, prior))


def test_bias_shift_equals_closed_form_and_prior_fix():
    x, y = gaussian_problem(IMBALANCED)
    model = fit_lda_lr(x, y)
    counts = np.array([IMBALANCED[c] for c in model.classes], dtype=float)
    pi = counts / counts.sum()
    np.testing.assert_allclose(model.train_prior, pi)
    np.testing.assert_allclose(model.lr_intercept_uniform, model.lr_intercept - np.log(pi) + np.log(1 / 4))
    p_train = model.predict_proba(x, prior="train")
    p_uniform = model.predict_proba(x, prior="uniform")
    closed = (p_train / pi) / (p_train / pi).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(p_uniform, closed, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(prior_fix(p_train, pi, np.full(4, 0.25)), p_uniform, rtol=1e-10, atol=1e-14)


def test_uniform_prior_raises_balanced_macro_f1():
    from sklearn.metrics import f1_score

    x, y = gaussian_problem(IMBALANCED, sep=0.6)
    model = fit_lda_lr(x, y)
    x_bal, y_bal = gaussian_problem({c: 300 for c in IMBALANCED}, sep=0.6, noise_seed=7)
    f1 = {}
    for prior in ("train", "uniform"):
        pred = np.array(model.classes)[model.predict_proba(x_bal, prior=prior).argmax(axis=1)]
        f1[prior] = f1_score(y_bal, pred, average="macro")
    assert f1["uniform"] > f1["train"] + 0.03, f1


def test_prior_fix_zeroes_pseudo_classes():
    classes = ["A", "S", "H", "U", "F", "D", "C", "N", "O", "X"]
    target = uniform_prior(classes)
    np.testing.assert_allclose(target[:8], 1 / 8)
    assert target[8] == 0 and target[9] == 0
    rng = np.random.default_rng(0)
    post = rng.dirichlet(np.ones(10), size=5)
    train = rng.dirichlet(np.ones(10))
    fixed = prior_fix(post, train, target)
    assert np.all(fixed[:, 8:] == 0)
    np.testing.assert_allclose(fixed.sum(axis=1), 1.0)
    w = post[:, :8] / train[:8]
    np.testing.assert_allclose(fixed[:, :8], w / w.sum(axis=1, keepdims=True))


def test_train_and_score_cli_path(tmp_path):
    x, y = gaussian_problem({"A": 40, "H": 30, "N": 20, "O": 10})
    utts = [f"u{i:03d}" for i in range(len(y))]
    write_ark_scp(tmp_path / "emb", zip(utts, x.astype(np.float32)))
    write_table(tmp_path / "utt2category", dict(zip(utts, y)))
    model = train_backend(tmp_path / "emb.scp", tmp_path / "utt2category", tmp_path / "backend", exclude=["O", "X"])
    assert model.classes == ["A", "H", "N"]
    meta = json.loads((tmp_path / "backend" / "classes.json").read_text())
    assert meta["classes"] == ["A", "H", "N"] and meta["excluded"] == {"O": 10, "X": 0}
    score_backend(tmp_path / "backend", tmp_path / "emb.scp", tmp_path / "post.txt", prior="uniform")
    post = read_posteriors(tmp_path / "post.txt")
    assert post.classes == ["A", "H", "N"] and post.utts == utts
    np.testing.assert_allclose(post.matrix, model.predict_proba(x.astype(np.float32)), rtol=1e-5, atol=1e-6)


def test_train_missing_embedding_names_both_files(tmp_path):
    x, y = gaussian_problem({"A": 5, "H": 5})
    utts = [f"u{i:02d}" for i in range(10)]
    write_ark_scp(tmp_path / "emb", zip(utts[:-1], x[:-1].astype(np.float32)))
    write_table(tmp_path / "utt2category", dict(zip(utts, y)))
    with pytest.raises(DataError, match=r"emb\.scp: 1 labelled utterances of .*utt2category have no embedding"):
        train_backend(tmp_path / "emb.scp", tmp_path / "utt2category", tmp_path / "b")


def test_rare_class_is_refused_naming_it_and_its_line(tmp_path, capsys):
    """A typo ('Sad' for 'S') without --classes used to become an 11th class of one utterance."""
    from voxrecipes.bin import train_lda_lr
    from voxrecipes.cli import run

    x, y = gaussian_problem({"A": 20, "H": 20, "S": 20})
    utts = [f"u{i:03d}" for i in range(len(y))]
    y[44] = "Sad"  # line 45 of utt2category
    write_ark_scp(tmp_path / "emb", zip(utts, x.astype(np.float32)))
    write_table(tmp_path / "utt2category", dict(zip(utts, y)))
    base = ["--embedding_scp", str(tmp_path / "emb.scp"), "--labels", str(tmp_path / "utt2category")]
    with pytest.raises(DataError) as err:
        train_backend(tmp_path / "emb.scp", tmp_path / "utt2category", tmp_path / "b")
    message = str(err.value)
    assert message.startswith(f"{tmp_path / 'utt2category'}:45: ") and "'Sad'" in message
    assert "--min_class_count" in message and "1 " in message
    assert not (tmp_path / "b").exists()
    # the entry point: exit 1, and the class set it found in the log
    with pytest.raises(SystemExit) as exc:
        run(train_lda_lr.main, train_lda_lr.get_parser(), [*base, "--out_dir", str(tmp_path / "b")])
    assert exc.value.code == 1
    err = capsys.readouterr().err
    assert "training classes found in" in err and "A=20 H=20 S=19 Sad=1" in err
    assert len([line for line in err.splitlines() if line.startswith("ERROR:")]) == 1
    # told otherwise, it trains the class
    model = train_backend(tmp_path / "emb.scp", tmp_path / "utt2category", tmp_path / "b", min_class_count=1)
    assert model.classes == ["A", "H", "S", "Sad"]
    run(train_lda_lr.main, train_lda_lr.get_parser(),
        [*base, "--out_dir", str(tmp_path / "c"), "--exclude", "Sad", "--min_class_count", "19"])
    assert json.loads((tmp_path / "c" / "classes.json").read_text())["classes"] == ["A", "H", "S"]
    with pytest.raises(DataError, match=r"'S' has 19 training utterances"):
        train_backend(tmp_path / "emb.scp", tmp_path / "utt2category", tmp_path / "d", exclude=["Sad"],
                      min_class_count=20)


def test_cli_config_lda_kind(tmp_path, capsys):
    """conf/lda_lr.yaml's lda_kind reaches the fit; a bad value is a config error, not a label-file error."""
    from voxrecipes.bin import train_lda_lr
    from voxrecipes.cli import run

    x, y = gaussian_problem({"A": 40, "H": 30, "N": 20})
    utts = [f"u{i:03d}" for i in range(len(y))]
    write_ark_scp(tmp_path / "emb", zip(utts, x.astype(np.float32)))
    write_table(tmp_path / "utt2category", dict(zip(utts, y)))
    base = ["--embedding_scp", str(tmp_path / "emb.scp"), "--labels", str(tmp_path / "utt2category")]
    for kind, dims in (("sklearn", 2), ("kaldi", 15)):
        (tmp_path / f"{kind}.yaml").write_text(f"lda_dim: 15\nlda_kind: {kind}\n")
        run(train_lda_lr.main, train_lda_lr.get_parser(),
            [*base, "--config", str(tmp_path / f"{kind}.yaml"), "--out_dir", str(tmp_path / kind)])
        meta = json.loads((tmp_path / kind / "classes.json").read_text())
        assert (meta["lda_kind"], meta["lda_dim"]) == (kind, dims)
    (tmp_path / "bad.yaml").write_text("lda_kind: svd\n")
    with pytest.raises(SystemExit):
        run(train_lda_lr.main, train_lda_lr.get_parser(),
            [*base, "--config", str(tmp_path / "bad.yaml"), "--out_dir", str(tmp_path / "bad")])
    assert "lda_kind must be one of kaldi, sklearn, not 'svd'" in capsys.readouterr().err
    assert not (tmp_path / "bad").exists()
