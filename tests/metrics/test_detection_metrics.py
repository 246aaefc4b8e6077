"""Binary detection metrics (metrics/detection.py) against scikit-learn computed directly; their place in
evaluate_toxicity's metrics.json, the threshold hand-over from dev to test in the CLI, and the RESULTS.md section."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, f1_score, precision_score, recall_score, roc_auc_score

from voxrecipes.data.datadir import write_data_dir
from voxrecipes.data.posteriors import Posteriors, write_posteriors
from voxrecipes.errors import DataError
from voxrecipes.metrics.bootstrap import Resamples
from voxrecipes.metrics.detection import METRICS, fast_metrics, point_metrics, tune_threshold
from voxrecipes.metrics.toxicity import evaluate_toxicity, write_metrics
from voxrecipes.metrics.toxicity_results import write_toxicity_results

CLASSES = ["Toxic", "No_Violation"]
NB = 100


def sklearn_metrics(y, s, t) -> list[float]:
    pred = s >= t
    return [roc_auc_score(y, s), average_precision_score(y, s), precision_score(y, pred), recall_score(y, pred),
            f1_score(y, pred)]


def test_fast_metrics_equal_sklearn_with_ties():
    rng = np.random.default_rng(0)
    y = rng.random((30, 50)) < 0.3
    y[:, 0], y[:, 1] = True, False
    s = np.round(rng.random((30, 50)) + 0.3 * y, 1)  # many ties
    got = fast_metrics(y, s, 0.6)
    ref = np.array([sklearn_metrics(y[b], s[b], 0.6) for b in range(30)])
    np.testing.assert_allclose(got, ref, rtol=1e-12)
    np.testing.assert_allclose([point_metrics(y[b], s[b], 0.6)[m] for m in METRICS for b in [3]],
                               ref[3], rtol=1e-12)


def test_undefined_metrics_are_nan():
    y = np.zeros((1, 6), bool)
    s = np.linspace(0, 1, 6)[None]
    auc, ap, precision, recall, f1 = fast_metrics(y, s, 0.5)[0]
    assert np.isnan(auc) and np.isnan(ap) and np.isnan(recall) and precision == 0.0 and f1 == 0.0
    assert np.isnan(fast_metrics(np.ones((1, 6), bool), s, 2.0)[0][2])  # no detection: precision undefined


def test_tuned_threshold_maximises_f1():
    rng = np.random.default_rng(1)
    y = rng.random(80) < 0.3
    s = np.round(rng.random(80) + 0.4 * y, 2)
    t = tune_threshold(y, s)
    best = max(f1_score(y, s >= c) for c in np.unique(s))
    assert f1_score(y, s >= t) == pytest.approx(best, abs=1e-12)
    with pytest.raises(DataError, match="no positive"):
        tune_threshold(np.zeros(5, bool), s[:5])


def make_set(root, name, seed, n_en=50, n_es=30):
    rng = np.random.default_rng(seed)
    utts = sorted([f"en{i:03d}" for i in range(n_en)] + [f"es{i:03d}" for i in range(n_es)])
    toxic = {u: bool(rng.random() < 0.3) for u in utts}
    write_data_dir(root / name, wav_scp={u: f"/a/{u}.wav" for u in utts}, utt2spk={u: u for u in utts},
                   utt2lang={u: u[:2] for u in utts},
                   utt2labels={u: ["Toxic" if toxic[u] else "No_Violation"] for u in utts})
    y = np.array([toxic[u] for u in utts])
    p = np.round(1 / (1 + np.exp(-(1.5 * y + rng.normal(0, 1, len(y))))), 8)
    write_posteriors(root / f"{name}.txt", Posteriors(utts, CLASSES, np.stack([p, 1 - p], axis=1)), fmt="%.8f")
    return utts, y, p


@pytest.fixture(scope="module")
def sets(tmp_path_factory):
    root = tmp_path_factory.mktemp("det")
    return root, make_set(root, "dev", 0), make_set(root, "test", 1)


def test_evaluate_toxicity_detection_against_sklearn(sets):
    root, dev, test = sets
    m_dev = evaluate_toxicity(root / "dev.txt", root / "dev", ap_classes=["Toxic"], num_bootstrap=NB,
                              detection_class="Toxic")
    t = m_dev["detection"]["threshold"]
    assert t == tune_threshold(dev[1], dev[2])
    m = evaluate_toxicity(root / "test.txt", root / "test", ap_classes=["Toxic"], num_bootstrap=NB,
                          detection_class="Toxic", threshold=t, threshold_source="dev")
    det = m["detection"]
    utts, y, p = test
    np.testing.assert_allclose([det[k] for k in METRICS], sklearn_metrics(y, p, t), rtol=1e-12)
    assert det["ap"] == pytest.approx(m["ap"]["Toxic"], rel=1e-12)
    for lang in ("en", "es"):
        rows = np.array([u.startswith(lang) for u in utts])
        np.testing.assert_allclose([det["per_language"][lang][k] for k in METRICS],
                                   sklearn_metrics(y[rows], p[rows], t), rtol=1e-12)
    # the CI of each metric: percentiles of the metric recomputed (by sklearn here) on the shared resamples
    idx = Resamples(len(y), NB, 0).indices
    aucs = [roc_auc_score(y[i], p[i]) for i in idx]
    low, high = Resamples.interval(np.array(aucs), 5.0)[0]
    assert det["auc_ci"] == pytest.approx([low, high], rel=1e-12)
    assert det["num_utts"] == len(y) and det["positives"] == int(y.sum()) and det["threshold_source"] == "dev"
    json.dumps(m, allow_nan=False)


def test_cli_threshold_from_dev_and_results_section(sets, tmp_path):
    root, dev, test = sets
    from voxrecipes.bin import evaluate_toxicity as cli

    base = ["--ap_classes", "Toxic", "--num_bootstrap", str(NB), "--detection_class", "Toxic"]
    cli.main(cli.get_parser().parse_args(base + ["--scores", str(root / "dev.txt"), "--data", str(root / "dev"),
                                                 "--out_dir", str(tmp_path / "dev")]))
    cli.main(cli.get_parser().parse_args(base + ["--scores", str(root / "test.txt"), "--data", str(root / "test"),
                                                 "--out_dir", str(tmp_path / "test"),
                                                 "--threshold_from", str(tmp_path / "dev")]))
    dev_m = json.loads((tmp_path / "dev" / "metrics.json").read_text())
    test_m = json.loads((tmp_path / "test" / "metrics.json").read_text())
    assert test_m["detection"]["threshold"] == dev_m["detection"]["threshold"]
    assert str(tmp_path / "dev" / "metrics.json") in test_m["detection"]["threshold_source"]
    text = write_toxicity_results("MuTox", [("Baseline;1", tmp_path / "test")], "Loss;alpha", "Baseline;1",
                                  tmp_path / "RESULTS.md", env={"host": "x"})
    assert "## Binary detection of Toxic (MuTox metrics)" in text
    d = test_m["detection"]
    row = (f"| Baseline | 1 | {d['threshold']:.4f} | {d['num_utts']} | {d['positives']} | {d['detections']} | "
           f"{100 * d['auc']:.2f} [{100 * d['auc_ci'][0]:.2f}, {100 * d['auc_ci'][1]:.2f}] |")
    assert row in text
    assert "| es | 30 |" in text
    # without --detection_class the document has no such section (the 6-class recipes are unchanged)
    plain = evaluate_toxicity(root / "test.txt", root / "test", ap_classes=["Toxic"], num_bootstrap=NB)
    assert "detection" not in plain
    write_metrics(plain, tmp_path / "plain")
    text = write_toxicity_results("MuTox", [("Baseline;1", tmp_path / "plain")], "Loss;alpha", "Baseline;1",
                                  tmp_path / "PLAIN.md", env={"host": "x"})
    assert "Binary detection" not in text


def test_cli_errors(sets, tmp_path):
    from voxrecipes.bin import evaluate_toxicity as cli
    from voxrecipes.errors import ConfigError

    root, _, _ = sets
    argv = ["--ap_classes", "Toxic", "--scores", str(root / "test.txt"), "--data", str(root / "test"), "--out_dir",
            str(tmp_path / "o")]
    with pytest.raises(ConfigError, match="--detection_class Racist is not a class"):
        cli.main(cli.get_parser().parse_args(argv + ["--detection_class", "Racist"]))
    with pytest.raises(DataError, match="metrics file not found"):
        cli.main(cli.get_parser().parse_args(argv + ["--detection_class", "Toxic", "--threshold_from",
                                                      str(tmp_path / "none")]))
    with pytest.raises(ConfigError, match="need --detection_class"):
        cli.main(cli.get_parser().parse_args(argv + ["--threshold", "0.5"]))
    assert not (tmp_path / "o").exists()
