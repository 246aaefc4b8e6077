"""Fusion: system alignment, interpolation grid search, logistic-regression fusion, the prior-fix stage."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.metrics import f1_score

from voxrecipes.bin import apply_prior_fix, fuse_posteriors
from voxrecipes.cli import run
from voxrecipes.data.posteriors import Posteriors, read_posteriors, write_posteriors
from voxrecipes.data.table import write_table
from voxrecipes.errors import ConfigError, DataError
from voxrecipes.fusion import interpolation
from voxrecipes.fusion.align import align_systems, attribute_targets, category_targets
from voxrecipes.fusion.logreg import LogRegFusion, fit_logreg_fusion, make_features
from voxrecipes.metrics.regression import ccc


def two_class_pair(copies: int = 5):
    """Two systems over classes (P, Q) whose mixture is uniquely best at weight 0.45 of system 1.

    Fused P(Q) = b + w (a - b). Utterances of kind 1 (label Q) are right only for w > 0.425,
    kind 2 (label P) only for w < 0.475; the rest are right for every w. On the 0.05 grid
    only w = 0.45 gets both kinds right.
    """
    rows1, rows2, labels = [], [], []

    def add(a: float, b: float, label: int, n: int) -> None:
        for _ in range(n):
            rows1.append([1 - a, a])
            rows2.append([1 - b, b])
            labels.append(label)

    t1, t2 = 0.425, 0.475
    add(0.9, (0.5 - 0.9 * t1) / (1 - t1), 1, copies)   # right iff w > 0.425
    add(0.9, (0.5 - 0.9 * t2) / (1 - t2), 0, copies)   # right iff w < 0.475
    add(0.8, 0.8, 1, 4 * copies)                         # always right
    add(0.2, 0.2, 0, 4 * copies)
    return np.array(rows1), np.array(rows2), np.array(labels)


def complementary_problem(n_per_class: int, seed: int):
    """Four classes (g, h): system 1 knows the group g only, system 2 the inner bit h only."""
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(4), n_per_class)
    g, h = y // 2, y % 2

    def system(bit: np.ndarray, sharp: float) -> tuple[np.ndarray, np.ndarray]:
        # noisy evidence for the known bit, pure noise about the other one
        logit_bit = sharp * (2 * bit - 1) + rng.normal(0, 1.0, size=bit.size)
        logit_other = rng.normal(0, 0.3, size=bit.size)
        return logit_bit, logit_other

    lg, lh_noise = system(g, 2.5)
    lh, lg_noise = system(h, 2.5)
    classes_g = np.array([0, 0, 1, 1])
    classes_h = np.array([0, 1, 0, 1])
    z1 = np.outer(lg, 2 * classes_g - 1) + np.outer(lh_noise, 2 * classes_h - 1)
    z2 = np.outer(lh, 2 * classes_h - 1) + np.outer(lg_noise, 2 * classes_g - 1)
    soft = lambda z: np.exp(z - z.max(1, keepdims=True)) / np.exp(z - z.max(1, keepdims=True)).sum(1, keepdims=True)  # noqa: E731
    return soft(z1), soft(z2), y


def write_set(tmp_path, name: str, classes, matrices, labels=None, utts=None):
    """Write one posteriors file per system (``<name>/sysK.txt``) and optionally utt2category."""
    n = len(matrices[0])
    utts = utts or [f"utt{i:04d}" for i in range(n)]
    paths = []
    for k, m in enumerate(matrices, start=1):
        path = tmp_path / name / f"sys{k}.txt"
        write_posteriors(path, Posteriors(utts, list(classes), m))
        paths.append(str(path))
    label_path = None
    if labels is not None:
        label_path = tmp_path / name / "utt2category"
        write_table(label_path, {u: classes[int(c)] for u, c in zip(utts, labels)})
    return paths, str(label_path) if label_path else None


# ----------------------------------------------------------------------------- interpolation
def test_simplex_grid_order_and_size():
    grid = interpolation.simplex_grid(2, 0.05)
    assert grid.shape == (21, 2)
    np.testing.assert_allclose(grid[:, 0], np.arange(21) / 20)
    np.testing.assert_allclose(grid.sum(1), 1.0)
    grid3 = interpolation.simplex_grid(3, 0.05)
    assert grid3.shape == (231, 3)  # C(22, 2)
    np.testing.assert_allclose(grid3.sum(1), 1.0)
    assert grid3[0].tolist() == [0.0, 0.0, 1.0] and grid3[-1].tolist() == [1.0, 0.0, 0.0]
    assert len({tuple(r) for r in np.round(grid3 * 20).astype(int).tolist()}) == 231
    with pytest.raises(Exception, match="does not divide 1"):
        interpolation.simplex_grid(2, 0.3)


def test_grid_recovers_known_weight():
    p1, p2, y = two_class_pair()
    result = interpolation.tune_categories([p1, p2], y, 0.05)
    assert result.weights.tolist() == pytest.approx([0.45, 0.55])
    best = int(np.argmax(result.scores))
    assert np.isclose(result.grid[best, 0], 0.45)
    assert np.all(np.delete(result.scores, best) < result.scores[best])  # uniquely best
    assert result.score == pytest.approx(1.0)
    # the score of every grid point agrees with scikit-learn
    for w, s in zip(result.grid, result.scores):
        fused = interpolation.apply(w, [p1, p2])
        assert s == pytest.approx(f1_score(y, fused.argmax(1), average="macro"))


def test_ties_pick_first_in_grid_order_and_three_systems():
    p1, p2, y = two_class_pair()
    # identical systems: every weight ties, the first grid point (w1 = 0) wins
    assert interpolation.tune_categories([p1, p1], y).weights.tolist() == [0.0, 1.0]
    # a third, useless system (uniform posteriors) next to the pair: still 0.45 / 0.55 / 0
    uniform = np.full_like(p1, 0.5)
    result = interpolation.tune_categories([uniform, p1, p2], y)
    assert result.score == pytest.approx(1.0)
    assert result.weights[1] / (result.weights[1] + result.weights[2]) == pytest.approx(0.45)


def test_apply_rows_sum_to_one_and_checks():
    p1, p2, _ = complementary_problem(10, 0)
    fused = interpolation.apply([0.3, 0.7], [p1, p2])
    np.testing.assert_allclose(fused, 0.3 * p1 + 0.7 * p2)
    np.testing.assert_allclose(fused.sum(1), 1.0)
    with pytest.raises(Exception, match="sum to 1"):
        interpolation.apply([0.3, 0.6], [p1, p2])


def test_per_dimension_weights_maximise_ccc():
    rng = np.random.default_rng(0)
    y = rng.normal(4, 1, size=(200, 3))
    s1 = np.column_stack([y[:, 0], rng.normal(4, 1, 200), 0.5 * y[:, 2] + 0.5 * rng.normal(4, 1, 200)])
    s2 = np.column_stack([rng.normal(4, 1, 200), y[:, 1], 0.5 * y[:, 2] + 0.5 * rng.normal(4, 1, 200)])
    results = interpolation.tune_attributes([s1, s2], y, 0.05)
    assert results[0].weights.tolist() == [1.0, 0.0] and results[0].score == pytest.approx(1.0)
    assert results[1].weights.tolist() == [0.0, 1.0] and results[1].score == pytest.approx(1.0)
    w = results[2].weights
    assert 0 < w[0] < 1  # both noisy halves help
    assert results[2].score == pytest.approx(ccc(y[:, 2], w[0] * s1[:, 2] + w[1] * s2[:, 2]))
    assert results[2].score >= max(ccc(y[:, 2], s1[:, 2]), ccc(y[:, 2], s2[:, 2]))
    weights = np.stack([r.weights for r in results])
    fused = interpolation.apply_per_dim(weights, [s1, s2])
    np.testing.assert_allclose(fused[:, 0], y[:, 0])
    np.testing.assert_allclose(fused[:, 1], y[:, 1])


# ----------------------------------------------------------------------------- logistic regression
def test_logreg_beats_single_systems_and_reloads(tmp_path):
    t1, t2, ty = complementary_problem(150, seed=1)
    e1, e2, ey = complementary_problem(150, seed=2)
    classes = ["A", "S", "H", "N"]
    model, lr = fit_logreg_fusion([t1, t2], ty, classes, ["audio", "text"], return_sklearn=True)
    assert model.classes == classes
    assert lr.C == 1.0
    fused = model.predict_proba([e1, e2])
    np.testing.assert_allclose(fused.sum(1), 1.0)
    f_fused = f1_score(ey, fused.argmax(1), average="macro")
    f_single = [f1_score(ey, p.argmax(1), average="macro") for p in (e1, e2)]
    assert f_fused > max(f_single) + 0.2, (f_fused, f_single)
    # numpy reimplementation and the reloaded model equal scikit-learn
    ref = lr.predict_proba(make_features([e1, e2]))
    np.testing.assert_allclose(fused, ref, atol=1e-12)
    model.save(tmp_path / "m")
    assert not list(tmp_path.glob("m/*.pkl"))
    with np.load(tmp_path / "m" / "fusion_lr.npz", allow_pickle=False) as data:
        assert set(data.files) == {"coef", "intercept"}
    meta = json.loads((tmp_path / "m" / "fusion_lr.json").read_text())
    assert meta["classes"] == classes and meta["systems"] == ["audio", "text"] and meta["features"] == "prob"
    loaded = LogRegFusion.load(tmp_path / "m")
    np.testing.assert_allclose(loaded.predict_proba([e1, e2]), ref, atol=1e-12)


def test_logreg_default_inputs_are_the_posteriors_as_in_the_paper():
    """Paper: 'the posteriors of the underlying models as input features', L2, C = 1.0; log posteriors optional."""
    from sklearn.linear_model import LogisticRegression

    t1, t2, ty = complementary_problem(120, seed=5)
    e1, e2, _ = complementary_problem(40, seed=6)
    model = fit_logreg_fusion([t1, t2], ty, list("ASHN"), ["a", "b"])
    assert model.features == "prob" and model.meta["C"] == 1.0 and model.meta["penalty"] == "l2"
    # the reference: scikit-learn on the concatenated raw posteriors, computed here independently
    ref = LogisticRegression(C=1.0, max_iter=1000).fit(np.hstack([t1, t2]), ty)
    np.testing.assert_allclose(model.coef, ref.coef_, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(model.predict_proba([e1, e2]), ref.predict_proba(np.hstack([e1, e2])), atol=1e-10)
    logged = fit_logreg_fusion([t1, t2], ty, list("ASHN"), ["a", "b"], features="log")
    ref_log = LogisticRegression(C=1.0, max_iter=1000).fit(np.log(np.maximum(np.hstack([t1, t2]), 1e-8)), ty)
    np.testing.assert_allclose(logged.coef, ref_log.coef_, rtol=1e-6, atol=1e-8)
    assert not np.allclose(logged.predict_proba([e1, e2]), model.predict_proba([e1, e2]), atol=1e-3)
    with pytest.raises(ConfigError, match="features"):
        fit_logreg_fusion([t1, t2], ty, list("ASHN"), ["a", "b"], features="logit")


def test_logreg_binary_and_absent_classes():
    p1, p2, y = two_class_pair()
    # 3 posterior columns, the third never labelled: the fuser outputs the 2 learned classes
    pad = lambda p: np.column_stack([p * 0.99, np.full(len(p), 0.01)])  # noqa: E731
    model, lr = fit_logreg_fusion([pad(p1), pad(p2)], y, ["P", "Q", "X"], ["a", "b"], return_sklearn=True)
    assert model.classes == ["P", "Q"] and model.coef.shape == (2, 6)
    np.testing.assert_allclose(model.predict_proba([pad(p1), pad(p2)]),
                               lr.predict_proba(make_features([pad(p1), pad(p2)])), atol=1e-12)


# ----------------------------------------------------------------------------- alignment errors
def test_align_reorders_and_rejects_mismatches(tmp_path):
    p1, p2, _ = complementary_problem(5, 0)
    utts = [f"u{i:02d}" for i in range(20)]
    (a,), _ = write_set(tmp_path, "a", "ASHN", [p1], utts=utts)
    (b,), _ = write_set(tmp_path, "b", "ASHN", [p2], utts=utts)
    got_utts, classes, mats = align_systems([a, b])
    assert got_utts == utts and classes == list("ASHN")
    np.testing.assert_allclose(mats[1], read_posteriors(b).matrix, atol=1e-6)

    (c,), _ = write_set(tmp_path, "c", "ASHN", [p2[:-1]], utts=utts[:-1])
    with pytest.raises(DataError) as err:
        align_systems([a, c])
    assert a in str(err.value) and c in str(err.value) and "'u19'" in str(err.value)

    # the same classes in another order: columns are put in the first file's order
    (d,), _ = write_set(tmp_path, "d", "ASNH", [p2[:, [0, 1, 3, 2]]], utts=utts)
    _, classes, mats = align_systems([a, d])
    assert classes == list("ASHN")
    np.testing.assert_allclose(mats[1], read_posteriors(b).matrix, atol=1e-6)
    # another class set is refused
    (e,), _ = write_set(tmp_path, "e", "ASHX", [p2], utts=utts)
    with pytest.raises(DataError) as err:
        align_systems([a, e])
    msg = str(err.value)
    assert a in msg and e in msg and "'X'" in msg and "'N'" in msg


def test_bin_mismatch_exit_1_error_line(tmp_path, error_line):
    p1, p2, y = complementary_problem(5, 0)
    tune, labels = write_set(tmp_path, "dev_bal", "ASHN", [p1, p2], labels=y)
    utts = [f"utt{i:04d}" for i in range(20)]
    other_utts = utts[:-1] + ["zzz"]
    (bad,), _ = write_set(tmp_path, "bad", "ASHN", [p2], utts=other_utts)
    out = tmp_path / "fusion"
    with pytest.raises(SystemExit) as exc:
        run(fuse_posteriors.main, fuse_posteriors.get_parser(),
            ["--method", "interpolation", "--tune", tune[0], bad, "--tune_labels", labels, "--out_dir", str(out)])
    assert exc.value.code == 1
    line = error_line()
    assert tune[0] in line and bad in line and "'utt0019'" in line
    assert not out.exists()

    (wrong_classes,), _ = write_set(tmp_path, "wc", ["A", "S", "H", "X"], [p2])
    with pytest.raises(SystemExit) as exc:
        run(fuse_posteriors.main, fuse_posteriors.get_parser(),
            ["--method", "logreg", "--tune", tune[0], wrong_classes, "--tune_labels", labels,
             "--out_dir", str(out)])
    assert exc.value.code == 1
    line = error_line()
    assert tune[0] in line and wrong_classes in line and "'X'" in line
    assert not out.exists()


# ----------------------------------------------------------------------------- the stage
def test_fuse_posteriors_interpolation_weights_json(tmp_path):
    p1, p2, y = two_class_pair()
    tune, labels = write_set(tmp_path, "dev_bal", "PQ", [p1, p2], labels=y)
    e1, e2, _ = two_class_pair(copies=2)
    test, _ = write_set(tmp_path, "test1", "PQ", [e1, e2])
    out = tmp_path / "fusion"
    run(fuse_posteriors.main, fuse_posteriors.get_parser(),
        ["--method", "interpolation", "--tune", *tune, "--tune_labels", labels, "--out_dir", str(out),
         "--system_names", "audio", "text", "--apply", f"test1={test[0]},{test[1]}"])
    report = json.loads((out / "weights.json").read_text())
    assert report["method"] == "interpolation" and report["step"] == 0.05
    assert report["weights"] == pytest.approx({"audio": 0.45, "text": 0.55})
    assert report["systems"] == ["audio", "text"] and report["classes"] == ["P", "Q"]
    exp_single = {n: f1_score(y, p.argmax(1), average="macro") for n, p in (("audio", p1), ("text", p2))}
    assert report["tune_macro_f1"]["systems"] == pytest.approx(exp_single)
    assert report["tune_macro_f1"]["fused"] == pytest.approx(1.0)
    assert report["applied"] == {"test1": str(out / "test1" / "posteriors.txt")}
    fused = read_posteriors(out / "test1" / "posteriors.txt")
    assert fused.classes == ["P", "Q"]
    np.testing.assert_allclose(fused.matrix.sum(1), 1.0, atol=1e-5)
    np.testing.assert_allclose(fused.matrix, 0.45 * read_posteriors(test[0]).matrix
                               + 0.55 * read_posteriors(test[1]).matrix, atol=1e-5)


def test_fuse_posteriors_logreg_stage(tmp_path):
    t1, t2, ty = complementary_problem(100, seed=3)
    e1, e2, ey = complementary_problem(100, seed=4)
    tune, labels = write_set(tmp_path, "dev_bal", "ASHN", [t1, t2], labels=ty)
    test, _ = write_set(tmp_path, "test1", "ASHN", [e1, e2])
    out = tmp_path / "lr"
    run(fuse_posteriors.main, fuse_posteriors.get_parser(),
        ["--method", "logreg", "--tune", *tune, "--tune_labels", labels, "--out_dir", str(out),
         "--apply", f"test1={test[0]},{test[1]}"])
    report = json.loads((out / "weights.json").read_text())
    assert report["C"] == 1.0 and report["model_dir"] == str(out / "model")
    assert report["tune_macro_f1"]["fused"] > max(report["tune_macro_f1"]["systems"].values()) + 0.2
    fused = read_posteriors(out / "test1" / "posteriors.txt")
    np.testing.assert_allclose(fused.matrix.sum(1), 1.0, atol=1e-5)
    model = LogRegFusion.load(out / "model")
    ref = model.predict_proba([read_posteriors(p).matrix for p in test])
    np.testing.assert_allclose(fused.matrix, ref, atol=1e-5)
    assert f1_score(ey, fused.matrix.argmax(1), average="macro") > max(
        f1_score(ey, p.argmax(1), average="macro") for p in (e1, e2))


def test_fuse_posteriors_attributes_stage(tmp_path):
    rng = np.random.default_rng(5)
    y = rng.uniform(1, 7, size=(60, 3))
    s1 = np.column_stack([y[:, 0], rng.uniform(1, 7, 60), rng.uniform(1, 7, 60)])
    s2 = np.column_stack([rng.uniform(1, 7, 60), y[:, 1], y[:, 2]])
    utts = [f"utt{i:04d}" for i in range(60)]
    tune, _ = write_set(tmp_path, "dev_bal", ["valence", "arousal", "dominance"], [s1, s2], utts=utts)
    write_table(tmp_path / "utt2attrs", {u: " ".join(f"{v:.6f}" for v in row) for u, row in zip(utts, y)})
    out = tmp_path / "attr"
    run(fuse_posteriors.main, fuse_posteriors.get_parser(),
        ["--method", "interpolation", "--task", "attributes", "--tune", *tune, "--tune_labels",
         str(tmp_path / "utt2attrs"), "--out_dir", str(out), "--system_names", "text", "audio",
         "--apply", f"dev_bal={tune[0]},{tune[1]}"])
    report = json.loads((out / "weights.json").read_text())
    assert report["weights"]["valence"] == {"text": 1.0, "audio": 0.0}
    assert report["weights"]["arousal"] == {"text": 0.0, "audio": 1.0}
    assert report["tune_ccc"]["fused"]["valence"] == pytest.approx(1.0, abs=1e-6)
    assert report["task"] == "attributes" and report["num_tune"] == 60
    # the fused attributes carry the file name of a single attribute system
    assert report["applied"] == {"dev_bal": str(out / "dev_bal" / "attributes.txt")}
    assert not (out / "dev_bal" / "posteriors.txt").exists()
    fused = read_posteriors(out / "dev_bal" / "attributes.txt")
    assert fused.classes == ["valence", "arousal", "dominance"] and fused.utts == utts
    np.testing.assert_allclose(fused.matrix[:, :2], y[:, :2], atol=1e-4)


def test_fuse_posteriors_three_systems(tmp_path):
    # interpolation: a useless third system (uniform posteriors) next to the constructed pair
    p1, p2, y = two_class_pair()
    uniform = np.full_like(p1, 0.5)
    tune, labels = write_set(tmp_path, "dev_bal", "PQ", [uniform, p1, p2], labels=y)
    out = tmp_path / "interp3"
    run(fuse_posteriors.main, fuse_posteriors.get_parser(),
        ["--method", "interpolation", "--tune", *tune, "--tune_labels", labels, "--out_dir", str(out),
         "--system_names", "flat", "audio", "text", "--apply", "dev_bal=" + ",".join(tune)])
    report = json.loads((out / "weights.json").read_text())
    w = report["weights"]
    assert list(w) == ["flat", "audio", "text"] and sum(w.values()) == pytest.approx(1.0)
    assert w["audio"] / (w["audio"] + w["text"]) == pytest.approx(0.45)
    assert report["tune_macro_f1"]["fused"] == pytest.approx(1.0)
    expected = sum(w[n] * read_posteriors(t).matrix for n, t in zip(w, tune))
    np.testing.assert_allclose(read_posteriors(out / "dev_bal" / "posteriors.txt").matrix, expected, atol=1e-5)

    # logistic regression on three systems: 3 x K input features
    t1, t2, ty = complementary_problem(100, seed=6)
    t3 = np.random.default_rng(7).dirichlet(np.ones(4), size=len(ty))
    tune, labels = write_set(tmp_path, "dev_bal_lr", "ASHN", [t1, t2, t3], labels=ty)
    out = tmp_path / "lr3"
    run(fuse_posteriors.main, fuse_posteriors.get_parser(),
        ["--method", "logreg", "--tune", *tune, "--tune_labels", labels, "--out_dir", str(out),
         "--apply", "dev_bal=" + ",".join(tune)])
    report = json.loads((out / "weights.json").read_text())
    assert report["systems"] == tune and report["num_tune"] == len(ty)
    assert report["tune_macro_f1"]["fused"] > max(report["tune_macro_f1"]["systems"].values()) + 0.2
    model = LogRegFusion.load(out / "model")
    assert model.coef.shape == (4, 12) and model.systems == tune

    # attributes: one weight vector over three systems per dimension
    rng = np.random.default_rng(8)
    ya = rng.uniform(1, 7, size=(50, 3))
    noise = lambda: rng.uniform(1, 7, 50)  # noqa: E731
    s1 = np.column_stack([ya[:, 0], noise(), noise()])
    s2 = np.column_stack([noise(), ya[:, 1], noise()])
    s3 = np.column_stack([noise(), noise(), ya[:, 2]])
    utts = [f"utt{i:04d}" for i in range(50)]
    tune, _ = write_set(tmp_path, "dev_bal_attr", ["valence", "arousal", "dominance"], [s1, s2, s3], utts=utts)
    write_table(tmp_path / "utt2attrs", {u: " ".join(f"{v:.6f}" for v in row) for u, row in zip(utts, ya)})
    out = tmp_path / "attr3"
    run(fuse_posteriors.main, fuse_posteriors.get_parser(),
        ["--method", "interpolation", "--task", "attributes", "--tune", *tune, "--tune_labels",
         str(tmp_path / "utt2attrs"), "--out_dir", str(out), "--system_names", "a", "b", "c",
         "--apply", "dev_bal=" + ",".join(tune)])
    report = json.loads((out / "weights.json").read_text())
    assert report["weights"] == {"valence": {"a": 1.0, "b": 0.0, "c": 0.0},
                                 "arousal": {"a": 0.0, "b": 1.0, "c": 0.0},
                                 "dominance": {"a": 0.0, "b": 0.0, "c": 1.0}}
    np.testing.assert_allclose(read_posteriors(out / "dev_bal" / "attributes.txt").matrix, ya, atol=1e-4)


def test_bad_apply_sets_and_labels_name_both_files(tmp_path, error_line):
    p1, p2, y = complementary_problem(5, 0)
    tune, labels = write_set(tmp_path, "dev_bal", "ASHN", [p1, p2], labels=y)
    utts = [f"utt{i:04d}" for i in range(20)]
    out = tmp_path / "fusion"
    base = ["--method", "interpolation", "--tune", *tune, "--out_dir", str(out)]

    def fails(*extra: str) -> str:
        with pytest.raises(SystemExit) as exc:
            run(fuse_posteriors.main, fuse_posteriors.get_parser(), [*base, *extra])
        assert exc.value.code == 1
        assert not out.exists()  # nothing written, not even weights.json
        return error_line()

    # an --apply set whose two systems scored different utterances
    (a,), _ = write_set(tmp_path, "test1_a", "ASHN", [p1], utts=utts)
    (b,), _ = write_set(tmp_path, "test1_b", "ASHN", [p2[1:]], utts=utts[1:])
    line = fails("--tune_labels", labels, "--apply", f"test1={a},{b}")
    assert a in line and b in line and "'utt0000'" in line
    # an --apply set whose classes differ from the tuning posteriors
    (c,), _ = write_set(tmp_path, "test1_c", "ASHX", [p1], utts=utts)
    (d,), _ = write_set(tmp_path, "test1_d", "ASHX", [p2], utts=utts)
    line = fails("--tune_labels", labels, "--apply", f"test1={c},{d}")
    assert c in line and tune[0] in line and "A S H X" in line and "A S H N" in line
    # tuning labels for other utterances than the posteriors
    write_table(tmp_path / "short_labels", {u: "A" for u in utts[:-1]})
    line = fails("--tune_labels", str(tmp_path / "short_labels"))
    assert str(tmp_path / "short_labels") in line and tune[0] in line and "'utt0019'" in line
    # attribute predictions that are not valence, arousal and dominance
    ya = np.random.default_rng(0).uniform(1, 7, size=(20, 3))
    (va,), _ = write_set(tmp_path, "att_a", ["valence", "arousal", "dominance"], [ya], utts=utts)
    (vb,), _ = write_set(tmp_path, "att_b", ["valence", "arousal", "power"], [ya], utts=utts)
    write_table(tmp_path / "utt2attrs", {u: "4 4 4" for u in utts})
    with pytest.raises(SystemExit):
        run(fuse_posteriors.main, fuse_posteriors.get_parser(),
            ["--method", "interpolation", "--task", "attributes", "--tune", va, vb, "--tune_labels",
             str(tmp_path / "utt2attrs"), "--out_dir", str(out)])
    line = error_line()
    assert vb in line and str(tmp_path / "utt2attrs") in line and "'power'" in line
    assert not out.exists()


def test_attribute_columns_in_another_order_are_aligned_to_utt2attrs(tmp_path):
    """A system writing arousal first is fused column by column with one writing valence first."""
    utts = [f"utt{i:04d}" for i in range(30)]
    rng = np.random.default_rng(1)
    truth = rng.uniform(1, 7, size=(30, 3))
    good = truth + rng.normal(0, 0.3, size=truth.shape)
    noisy = truth + rng.normal(0, 2.0, size=truth.shape)
    (va,), _ = write_set(tmp_path, "att_a", ["valence", "arousal", "dominance"], [noisy], utts=utts)
    (vb,), _ = write_set(tmp_path, "att_b", ["arousal", "valence", "dominance"], [good[:, [1, 0, 2]]], utts=utts)
    write_table(tmp_path / "utt2attrs", {u: " ".join(f"{v:.4f}" for v in row) for u, row in zip(utts, truth)})
    out = tmp_path / "fused"
    run(fuse_posteriors.main, fuse_posteriors.get_parser(),
        ["--method", "interpolation", "--task", "attributes", "--tune", va, vb, "--tune_labels",
         str(tmp_path / "utt2attrs"), "--out_dir", str(out), "--apply", f"dev={va},{vb}"])
    report = json.loads((out / "weights.json").read_text())
    # the accurate system gets most of the weight on every attribute, arousal included
    for dim in ["valence", "arousal", "dominance"]:
        assert report["weights"][dim][vb] > 0.5, dim
    fused = read_posteriors(out / "dev" / "attributes.txt")
    assert fused.classes == ["valence", "arousal", "dominance"]


# ----------------------------------------------------------------------------- prior fix stage
def test_apply_prior_fix_closed_form(tmp_path, error_line):
    classes = ["A", "H", "N", "X"]
    rng = np.random.default_rng(0)
    post = rng.dirichlet(np.ones(4), size=6)
    utts = [f"u{i}" for i in range(6)]
    src = tmp_path / "post.txt"
    write_posteriors(src, Posteriors(utts, classes, post))
    train = {f"t{i:02d}": c for i, c in enumerate(["A"] * 2 + ["H"] * 3 + ["N"] * 10 + ["X"] * 4 + ["O"] * 1)}
    write_table(tmp_path / "utt2category", train)
    out = tmp_path / "fixed.txt"
    run(apply_prior_fix.main, apply_prior_fix.get_parser(),
        ["--posteriors", str(src), "--train_prior_from", str(tmp_path / "utt2category"), "--out", str(out)])
    stored = read_posteriors(src).matrix
    pi = np.array([2, 3, 10, 4]) / 19.0  # O is not a class of the posteriors: ignored
    u = np.array([1 / 3, 1 / 3, 1 / 3, 0.0])
    expected = stored * u / pi
    expected /= expected.sum(1, keepdims=True)
    got = read_posteriors(out)
    assert got.classes == classes and got.utts == utts
    np.testing.assert_allclose(got.matrix, expected, atol=1e-5)
    assert np.all(got.matrix[:, 3] == 0)

    # a class the training data never saw cannot be moved to a positive target prior
    write_table(tmp_path / "bad", {"t1": "A", "t2": "H", "t3": "X"})
    with pytest.raises(SystemExit) as exc:
        run(apply_prior_fix.main, apply_prior_fix.get_parser(),
            ["--posteriors", str(src), "--train_prior_from", str(tmp_path / "bad"), "--out", str(tmp_path / "o2")])
    assert exc.value.code == 1
    line = error_line()
    assert str(tmp_path / "bad") in line and str(src) in line
    assert not (tmp_path / "o2").exists()


# ----------------------------------------------------------------------------- inputs that are not probabilities
def test_fusion_refuses_posteriors_that_are_not_probabilities(tmp_path, error_line):
    """Scores summing to 7 would move the tuned weight; negative values would fuse log-posteriors."""
    p1, p2, y = two_class_pair()
    utts = [f"utt{i:04d}" for i in range(len(y))]
    tune, labels = write_set(tmp_path, "dev_bal", "PQ", [p1, p2], labels=y)
    (scaled,), _ = write_set(tmp_path, "scaled", "PQ", [7 * p2], utts=utts)
    out = tmp_path / "fusion"
    base = ["--method", "interpolation", "--tune_labels", labels, "--out_dir", str(out)]
    for method in ("interpolation", "logreg"):
        with pytest.raises(SystemExit) as exc:
            run(fuse_posteriors.main, fuse_posteriors.get_parser(),
                [*base, "--method", method, "--tune", tune[0], scaled])
        assert exc.value.code == 1
        line = error_line()
        assert f"{scaled}:2:" in line and "sum to 7" in line and "'utt0000'" in line
        assert not out.exists()
    # an --apply file with a negative value (log-posteriors), named with its line
    logs = np.log(p2)
    (logp,), _ = write_set(tmp_path, "test1", "PQ", [logs], utts=utts)
    with pytest.raises(SystemExit):
        run(fuse_posteriors.main, fuse_posteriors.get_parser(),
            [*base, "--tune", *tune, "--apply", f"test1={tune[0]},{logp}"])
    line = error_line()
    assert f"{logp}:2:" in line and "negative" in line
    assert not out.exists()
    # --renormalise: the scaled system fuses as the normalised one, with the same weights
    run(fuse_posteriors.main, fuse_posteriors.get_parser(),
        [*base, "--tune", tune[0], scaled, "--renormalise", "--system_names", "audio", "text"])
    report = json.loads((out / "weights.json").read_text())
    assert report["weights"] == pytest.approx({"audio": 0.45, "text": 0.55})


def test_attribute_fusion_reads_values_outside_zero_one(tmp_path, error_line):
    """Attribute predictions (1-7 scale, rows summing to about 12) are not probabilities and still fuse."""
    utts = [f"utt{i:04d}" for i in range(20)]
    truth = np.random.default_rng(2).uniform(1, 7, size=(20, 3))
    dims = ["valence", "arousal", "dominance"]
    (va,), _ = write_set(tmp_path, "att_a", dims, [truth], utts=utts)
    (vb,), _ = write_set(tmp_path, "att_b", dims, [8 - truth], utts=utts)
    write_table(tmp_path / "utt2attrs", {u: " ".join(f"{v:.6f}" for v in row) for u, row in zip(utts, truth)})
    out = tmp_path / "fused"
    run(fuse_posteriors.main, fuse_posteriors.get_parser(),
        ["--method", "interpolation", "--task", "attributes", "--tune", va, vb, "--tune_labels",
         str(tmp_path / "utt2attrs"), "--out_dir", str(out), "--apply", f"dev={va},{vb}"])
    report = json.loads((out / "weights.json").read_text())
    assert all(report["weights"][d] == {va: 1.0, vb: 0.0} for d in dims)
    with pytest.raises(SystemExit):  # --renormalise has no meaning for attributes
        run(fuse_posteriors.main, fuse_posteriors.get_parser(),
            ["--method", "interpolation", "--task", "attributes", "--tune", va, vb, "--tune_labels",
             str(tmp_path / "utt2attrs"), "--out_dir", str(tmp_path / "o2"), "--renormalise"])
    assert "--renormalise" in error_line()


def test_apply_prior_fix_refuses_non_probabilities(tmp_path, error_line):
    """Rows summing to 7 or holding negative values would come out as 'probabilities' of -0.227 and 1.227."""
    classes = ["A", "H", "N"]
    write_table(tmp_path / "utt2category", {"t1": "A", "t2": "H", "t3": "H", "t4": "N"})
    bad_rows = {"sum7": np.array([[1.0, 2.0, 4.0], [2.0, 2.0, 3.0]]),
                "negative": np.array([[0.5, 0.25, 0.25], [-0.3, 0.8, 0.5]])}
    for name, matrix in bad_rows.items():
        src = tmp_path / f"{name}.txt"
        write_posteriors(src, Posteriors(["u1", "u2"], classes, matrix))
        out = tmp_path / f"{name}_fixed.txt"
        argv = ["--posteriors", str(src), "--train_prior_from", str(tmp_path / "utt2category"), "--out", str(out)]
        with pytest.raises(SystemExit) as exc:
            run(apply_prior_fix.main, apply_prior_fix.get_parser(), argv)
        assert exc.value.code == 1
        line = error_line()
        assert f"{src}:{2 if name == 'sum7' else 3}:" in line
        assert not out.exists()
    # --renormalise accepts the scaled rows and gives what the normalised rows give
    src = tmp_path / "sum7.txt"
    run(apply_prior_fix.main, apply_prior_fix.get_parser(),
        ["--posteriors", str(src), "--train_prior_from", str(tmp_path / "utt2category"),
         "--out", str(tmp_path / "renorm.txt"), "--renormalise"])
    got = read_posteriors(tmp_path / "renorm.txt").matrix
    rows = bad_rows["sum7"] / bad_rows["sum7"].sum(1, keepdims=True)
    expected = rows / np.array([0.25, 0.5, 0.25])
    np.testing.assert_allclose(got, expected / expected.sum(1, keepdims=True), atol=1e-5)
    assert got.min() >= 0


def test_apply_prior_fix_zero_prior_names_class_and_ignored_labels(tmp_path, error_line):
    classes = ["A", "S", "H", "N", "X"]
    src = tmp_path / "post.txt"
    write_posteriors(src, Posteriors(["u1"], classes, np.full((1, 5), 0.2)))
    # 'Sad' typed for 'S': S has no training label, and 'Sad' (and 'O') were ignored
    train = {"t1": "A", "t2": "Sad", "t3": "H", "t4": "Sad", "t5": "N", "t6": "O", "t7": "X"}
    write_table(tmp_path / "utt2category", train)
    with pytest.raises(SystemExit) as exc:
        run(apply_prior_fix.main, apply_prior_fix.get_parser(),
            ["--posteriors", str(src), "--train_prior_from", str(tmp_path / "utt2category"),
             "--out", str(tmp_path / "o.txt")])
    assert exc.value.code == 1
    line = error_line()
    assert str(tmp_path / "utt2category") in line and "'S'" in line
    assert "Sad=2" in line and "O=1" in line
    assert not (tmp_path / "o.txt").exists()


def test_tuning_label_outside_the_classes_names_its_line(tmp_path, error_line):
    p1, p2, y = two_class_pair(copies=1)
    tune, labels = write_set(tmp_path, "dev_bal", "PQ", [p1, p2], labels=y)
    lines = open(labels).read().splitlines()
    lines[4] = lines[4].split()[0] + " Qq"  # a typo on line 5
    open(labels, "w").write("\n".join(lines) + "\n")
    with pytest.raises(SystemExit):
        run(fuse_posteriors.main, fuse_posteriors.get_parser(),
            ["--method", "interpolation", "--tune", *tune, "--tune_labels", labels, "--out_dir", str(tmp_path / "f")])
    line = error_line()
    assert f"{labels}:5:" in line and "'Qq'" in line and tune[0] in line
    assert not (tmp_path / "f").exists()


def test_tuning_targets_come_from_the_label_module(tmp_path):
    """utt2attrs columns follow the predictions' names; labels.py's checks (1-7 scale, one class) apply."""
    write_table(tmp_path / "utt2attrs", {"u1": "1 2 3", "u2": "7 6.5 4"})
    y = attribute_targets(tmp_path / "utt2attrs", ["u2", "u1"], ["dominance", "valence", "arousal"], "p.txt")
    np.testing.assert_array_equal(y, [[4, 7, 6.5], [3, 1, 2]])
    with pytest.raises(DataError, match=r"p\.txt:1: columns power are not attributes of"):
        attribute_targets(tmp_path / "utt2attrs", ["u1", "u2"], ["valence", "power"], "p.txt")
    write_table(tmp_path / "utt2attrs", {"u1": "1 2 3", "u2": "7 7.5 4"})
    with pytest.raises(DataError, match=r"utt2attrs:2: arousal 7.5 outside the 1-7 scale"):
        attribute_targets(tmp_path / "utt2attrs", ["u1", "u2"], ["valence", "arousal", "dominance"], "p.txt")
    write_table(tmp_path / "utt2category", {"u1": "A", "u2": "S N"})
    with pytest.raises(DataError, match=r"utt2category:2: expected one class name"):
        category_targets(tmp_path / "utt2category", ["u1", "u2"], list("ASHN"), "p.txt")
    write_table(tmp_path / "utt2category", {"u1": "A", "u2": "X", "u3": "N"})
    with pytest.raises(DataError, match=r"utt2category:2: label 'X' of 'u2' is not one of the classes of p\.txt "
                                        r"\(A S H N; unknown labels here: 'X'\); tune on"):
        category_targets(tmp_path / "utt2category", ["u1", "u2", "u3"], list("ASHN"), "p.txt")
    write_table(tmp_path / "utt2category", {"u1": "A", "u2": "S", "u3": "N"})
    np.testing.assert_array_equal(category_targets(tmp_path / "utt2category", ["u3", "u1", "u2"], list("ASHN"),
                                                   "p.txt"), [3, 0, 1])
