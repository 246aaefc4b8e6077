"""Metrics against sklearn and hand computations; evaluate_classification formats; the RESULTS.md header."""

from __future__ import annotations

import json

import numpy as np
import pytest

from voxrecipes.data.posteriors import Posteriors, write_posteriors
from voxrecipes.data.table import write_table
from voxrecipes.errors import ConfigError, DataError
from voxrecipes.metrics.bootstrap import bootstrap_ci
from voxrecipes.metrics.classification import accuracy, confusion, macro_f1, macro_f1_fast, per_class_f1
from voxrecipes.metrics.evaluate import evaluate_classification
from voxrecipes.metrics.ranking import average_precision, mean_average_precision
from voxrecipes.metrics.regression import ccc, ccc_per_dim

Y_TRUE = np.array([0, 0, 0, 1, 1, 2])
Y_PRED = np.array([0, 0, 1, 1, 2, 2])


def test_macro_f1_hand_computed_three_classes():
    # class 0: TP 2 FP 0 FN 1 -> 4/5; class 1: TP 1 FP 1 FN 1 -> 2/4; class 2: TP 1 FP 1 FN 0 -> 2/3
    np.testing.assert_allclose(per_class_f1(Y_TRUE, Y_PRED, 3), [0.8, 0.5, 2 / 3])
    assert macro_f1(Y_TRUE, Y_PRED, 3) == pytest.approx((0.8 + 0.5 + 2 / 3) / 3)
    assert macro_f1_fast(Y_TRUE, Y_PRED, 3) == pytest.approx((0.8 + 0.5 + 2 / 3) / 3)
    assert accuracy(Y_TRUE, Y_PRED) == pytest.approx(4 / 6)
    assert confusion(Y_TRUE, Y_PRED, 3).tolist() == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]


def test_macro_f1_against_sklearn_random():
    from sklearn.metrics import f1_score

    rng = np.random.default_rng(0)
    for _ in range(20):
        t = rng.integers(-1, 5, size=50)  # -1: a label outside the evaluated classes
        p = rng.integers(0, 5, size=50)
        ref = f1_score(t, p, labels=list(range(5)), average="macro", zero_division=0)
        assert macro_f1(t, p, 5) == pytest.approx(ref)
        assert macro_f1_fast(t, p, 5) == pytest.approx(ref)


def test_bootstrap_ci_contains_estimate_and_narrows():
    metric = lambda t, p: macro_f1_fast(t, p, 3)  # noqa: E731
    widths = []
    for reps in (10, 100):
        t, p = np.tile(Y_TRUE, reps), np.tile(Y_PRED, reps)
        center, (lo, hi) = bootstrap_ci(metric, p, t, num_bootstrap=300, seed=0)
        assert center == pytest.approx(macro_f1(t, p, 3))
        assert lo <= center <= hi
        widths.append(hi - lo)
    assert widths[1] < widths[0] / 2
    t, p = np.tile(Y_TRUE, 10), np.tile(Y_PRED, 10)
    assert bootstrap_ci(metric, p, t, num_bootstrap=100, seed=3) == bootstrap_ci(metric, p, t, num_bootstrap=100,
                                                                               seed=3)
    assert bootstrap_ci(metric, p, t, num_bootstrap=100, seed=3) != bootstrap_ci(metric, p, t, num_bootstrap=100,
                                                                               seed=4)


def test_ccc_hand_computed():
    # means 2, 8/3; variances 2/3, 8/9; covariance 2/3 -> 2 * 2/3 / (2/3 + 8/9 + 4/9) = 2/3
    assert ccc([1, 2, 3], [2, 2, 4]) == pytest.approx(2 / 3)
    assert ccc([1, 2, 3], [1, 2, 3]) == pytest.approx(1.0)
    assert ccc([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    np.testing.assert_allclose(ccc_per_dim(np.array([[1, 1], [2, 2], [3, 3]]), np.array([[2, 1], [2, 2], [4, 3]])),
                               [2 / 3, 1.0])


def test_average_precision_against_hand():
    y = np.array([[1, 0], [0, 0], [1, 0], [0, 1]])
    s = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.9], [0.1, 0.8]])
    # class 0 ranking: + - + -  -> AP = (1/1 + 2/3) / 2 ; class 1: top score 0.9 negative -> AP 1/2
    np.testing.assert_allclose(average_precision(y, s), [(1 + 2 / 3) / 2, 0.5])
    assert mean_average_precision(y, s) == pytest.approx(((1 + 2 / 3) / 2 + 0.5) / 2)


def write_eval_inputs(tmp_path, labels: dict[str, str], classes=("A", "H", "N")):
    rng = np.random.default_rng(0)
    utts = sorted(labels)
    post = rng.dirichlet(np.ones(len(classes)), size=len(utts))
    for i, u in enumerate(utts):  # make most decisions right
        if labels[u] in classes and i % 3:
            post[i] = 0.05
            post[i, classes.index(labels[u])] = 0.9
    write_posteriors(tmp_path / "post.txt", Posteriors(utts, list(classes), post))
    write_table(tmp_path / "utt2category", labels)
    return post


def test_evaluate_classification_outputs(tmp_path):
    labels = {f"u{i:02d}": "AHNO"[i % 4] for i in range(40)}
    post = write_eval_inputs(tmp_path, labels)
    m = evaluate_classification(tmp_path / "post.txt", tmp_path / "utt2category", tmp_path / "test1",
                                num_bootstrap=200)
    assert set(m) >= {"macro_f1", "macro_f1_ci", "per_class_f1", "accuracy", "num_utts", "classes", "confusion"}
    assert m["classes"] == ["A", "H", "N"] and m["num_utts"] == 30 and m["num_excluded"] == 10
    kept = [i for i, u in enumerate(sorted(labels)) if labels[u] != "O"]
    t = np.array(["AHN".index(labels[sorted(labels)[i]]) for i in kept])
    p = post[kept].argmax(axis=1)
    assert m["macro_f1"] == pytest.approx(macro_f1(t, p, 3))
    assert m["macro_f1_ci"][0] <= m["macro_f1"] <= m["macro_f1_ci"][1]
    assert json.loads((tmp_path / "test1" / "metrics.json").read_text()) == m
    assert (tmp_path / "test1" / "confusion.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    kept_all = evaluate_classification(tmp_path / "post.txt", tmp_path / "utt2category", tmp_path / "k",
                                       num_bootstrap=50, keep_unknown=True)
    assert kept_all["num_utts"] == 40 and kept_all["accuracy"] < m["accuracy"]


def test_evaluate_mismatch_names_both_files(tmp_path):
    labels = {f"u{i:02d}": "AHN"[i % 3] for i in range(9)}
    write_eval_inputs(tmp_path, labels)
    write_table(tmp_path / "utt2category", {**labels, "zz": "A"})
    with pytest.raises(DataError) as err:
        evaluate_classification(tmp_path / "post.txt", tmp_path / "utt2category", tmp_path / "o")
    assert "post.txt" in str(err.value) and "utt2category" in str(err.value) and "'zz'" in str(err.value)
    assert not (tmp_path / "o").exists()


def test_make_results_environment_header(tmp_path):
    from voxrecipes.metrics.results import environment

    env = environment()
    assert set(env) == {"date", "git commit", "python", "torch", "scikit-learn", "host CPUs"}


def test_evaluate_cli_mismatch_exits_1_naming_both_files(tmp_path):
    import subprocess
    import sys

    labels = {f"u{i:02d}": "AHN"[i % 3] for i in range(6)}
    write_eval_inputs(tmp_path, labels)
    write_table(tmp_path / "utt2category", {k: v for k, v in labels.items() if k != "u03"})
    proc = subprocess.run([sys.executable, "-m", "voxrecipes.bin.evaluate_classification", "--posteriors",
                           str(tmp_path / "post.txt"), "--labels", str(tmp_path / "utt2category"), "--out_dir",
                           str(tmp_path / "o")], capture_output=True, text=True)
    assert proc.returncode == 1
    error = [line for line in proc.stderr.splitlines() if line.startswith("ERROR:")]
    assert len(error) == 1 and "post.txt" in error[0] and "utt2category" in error[0] and "'u03'" in error[0]


def test_evaluate_label_typo_is_an_error_not_an_exclusion(tmp_path):
    """'Sad' typed for 'S' used to be dropped like O/X; only the labels named for exclusion are dropped."""
    labels = {f"u{i:02d}": "AHNOX"[i % 5] for i in range(20)}
    labels["u07"] = "Hap"  # line 8 of utt2category
    write_eval_inputs(tmp_path, labels)
    with pytest.raises(DataError) as err:
        evaluate_classification(tmp_path / "post.txt", tmp_path / "utt2category", tmp_path / "o", num_bootstrap=10)
    message = str(err.value)
    assert message.startswith(f"{tmp_path / 'utt2category'}:8: ") and "'Hap'" in message and "'u07'" in message
    assert "--exclude" in message and not (tmp_path / "o").exists()
    # naming it for exclusion drops it with O and X (the default exclusions)
    m = evaluate_classification(tmp_path / "post.txt", tmp_path / "utt2category", tmp_path / "o", num_bootstrap=10,
                                exclude=["O", "X", "Hap"])
    assert m["num_utts"] == 11 and m["num_excluded"] == 9
    assert m["unknown_labels"] == {"Hap": 1, "O": 4, "X": 4}
    # an explicit exclusion cannot also be an evaluated class
    with pytest.raises(ConfigError, match="'A'"):
        evaluate_classification(tmp_path / "post.txt", tmp_path / "utt2category", tmp_path / "o2", exclude=["A"])


def test_evaluate_default_exclusion_keeps_evaluated_pseudo_classes(tmp_path):
    """With O among the evaluated classes (the header's), O utterances are scored, not excluded."""
    labels = {f"u{i:02d}": "AHO"[i % 3] for i in range(12)}
    write_eval_inputs(tmp_path, labels, classes=("A", "H", "O"))
    m = evaluate_classification(tmp_path / "post.txt", tmp_path / "utt2category", tmp_path / "o", num_bootstrap=10)
    assert m["classes"] == ["A", "H", "O"] and m["num_utts"] == 12 and m["num_excluded"] == 0


def test_evaluate_refuses_posteriors_that_are_not_probabilities(tmp_path):
    labels = {f"u{i:02d}": "AHN"[i % 3] for i in range(6)}
    write_eval_inputs(tmp_path, labels)
    lines = (tmp_path / "post.txt").read_text().splitlines()
    utt, *values = lines[3].split()
    lines[3] = " ".join([utt, *(f"{7 * float(v):g}" for v in values)])
    (tmp_path / "post.txt").write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"post\.txt:4: .*sum to 7"):
        evaluate_classification(tmp_path / "post.txt", tmp_path / "utt2category", tmp_path / "o", num_bootstrap=10)
    m = evaluate_classification(tmp_path / "post.txt", tmp_path / "utt2category", tmp_path / "o", num_bootstrap=10,
                                renormalise=True)
    assert m["num_utts"] == 6


def test_evaluate_cli_label_typo_exits_1(tmp_path, capsys):
    from voxrecipes.bin import evaluate_classification as cli
    from voxrecipes.cli import run

    labels = {f"u{i:02d}": "AHN"[i % 3] for i in range(6)}
    labels["u02"] = "Sad"
    write_eval_inputs(tmp_path, labels)
    argv = ["--posteriors", str(tmp_path / "post.txt"), "--labels", str(tmp_path / "utt2category"),
            "--out_dir", str(tmp_path / "o"), "--num_bootstrap", "10"]
    with pytest.raises(SystemExit) as exc:
        run(cli.main, cli.get_parser(), argv)
    assert exc.value.code == 1
    error = [line for line in capsys.readouterr().err.splitlines() if line.startswith("ERROR:")]
    assert len(error) == 1 and f"{tmp_path / 'utt2category'}:3:" in error[0] and "'Sad'" in error[0]
    assert not (tmp_path / "o").exists()
    run(cli.main, cli.get_parser(), [*argv, "--exclude", "O", "X", "Sad"])
    assert json.loads((tmp_path / "o" / "metrics.json").read_text())["unknown_labels"] == {"Sad": 1}
