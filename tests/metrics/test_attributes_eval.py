"""evaluate_attributes: CCC against an independent numpy computation, CIs, alignment and input errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from voxrecipes.bin.evaluate_attributes import get_parser, main
from voxrecipes.cli import run
from voxrecipes.data.posteriors import Posteriors, write_posteriors
from voxrecipes.data.table import write_table
from voxrecipes.errors import ConfigError, DataError
from voxrecipes.metrics.attributes import evaluate_attributes
from voxrecipes.metrics.bootstrap import bootstrap_ci

NAMES = ("valence", "arousal", "dominance")


def ref_ccc(x: np.ndarray, y: np.ndarray) -> float:
    """Lin's CCC written out: 2 cov / (var_x + var_y + (mean_x - mean_y)^2), population (1/N) moments."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    mx, my = x.sum() / x.size, y.sum() / y.size
    cov = np.sum((x - mx) * (y - my)) / x.size
    var_x, var_y = np.sum((x - mx) ** 2) / x.size, np.sum((y - my) ** 2) / y.size
    return float(2 * cov / (var_x + var_y + (mx - my) ** 2))


def make_data(n: int = 60, seed: int = 0) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Labels (valence arousal dominance) on 1-7 and predictions of clearly different quality per attribute."""
    rng = np.random.default_rng(seed)
    utts = [f"utt{i:03d}" for i in range(n)]
    true = np.round(rng.uniform(1, 7, size=(n, 3)), 1)
    pred = np.empty_like(true)
    pred[:, 0] = true[:, 0] + rng.normal(0, 0.3, n)  # valence: good
    pred[:, 1] = 0.5 * true[:, 1] + 2.0 + rng.normal(0, 1.0, n)  # arousal: shrunk and noisy
    pred[:, 2] = 4.0 + rng.normal(0, 1.0, n)  # dominance: unrelated
    return utts, true, np.clip(pred, 1.0, 7.0)


def write_inputs(tmp_path, utts, true, pred, order=(2, 0, 1), extra=()):
    """utt2attrs (fixed column order) and predictions whose header lists the attributes in ``order``."""
    write_table(tmp_path / "utt2attrs", {u: " ".join(f"{v:.1f}" for v in row) for u, row in zip(utts, true)})
    rows = [pred[:, list(order)]]
    all_utts = list(utts) + [u for u, _ in extra]
    if extra:
        rows.append(np.array([[v[k] for k in order] for _, v in extra]))
    write_posteriors(tmp_path / "pred.txt", Posteriors(all_utts, [NAMES[k] for k in order], np.vstack(rows)),
                     fmt="%.10g")
    return tmp_path / "pred.txt", tmp_path / "utt2attrs"


def test_ccc_equals_numpy_formula_columns_by_name(tmp_path):
    utts, true, pred = make_data()
    # header 'dominance valence arousal', plus two predictions of unlabelled utterances
    pred_path, labels_path = write_inputs(tmp_path, utts, true, pred, order=(2, 0, 1),
                                          extra=[("zz1", (7, 1, 7)), ("zz2", (1, 7, 1))])
    m = evaluate_attributes(pred_path, labels_path, tmp_path / "dev_bal", num_bootstrap=200, seed=1)
    expected = {name: ref_ccc(true[:, j], pred[:, j]) for j, name in enumerate(NAMES)}
    assert expected["valence"] > 0.8 and expected["arousal"] < 0.7 and abs(expected["dominance"]) < 0.3
    for name in NAMES:
        assert m["ccc"][name] == pytest.approx(expected[name], abs=1e-9)
    assert m["ccc_mean"] == pytest.approx(np.mean(list(expected.values())), abs=1e-9)
    assert m["num_utts"] == 60 and m["num_ignored_predictions"] == 2 and m["set"] == "dev_bal"
    assert m["attributes"] == list(NAMES) and m["num_bootstrap"] == 200 and m["seed"] == 1
    assert m["num_predictions_outside_scale"] == 0
    lo, hi = m["ccc_mean_ci"]
    assert lo < m["ccc_mean"] < hi
    for name in NAMES:
        assert m["ccc_ci"][name][0] <= m["ccc"][name] <= m["ccc_ci"][name][1]
    assert m["ccc_ci"]["valence"][0] > m["ccc_ci"]["dominance"][1]
    assert json.loads((tmp_path / "dev_bal" / "metrics.json").read_text()) == m
    assert (tmp_path / "dev_bal" / "scatter.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_mean_ci_resamples_utterances_jointly(tmp_path):
    """The mean's CI is the percentile interval of the mean of the three CCCs on shared resamples."""
    utts, true, pred = make_data(n=40, seed=3)
    pred_path, labels_path = write_inputs(tmp_path, utts, true, pred, order=(0, 1, 2))
    m = evaluate_attributes(pred_path, labels_path, tmp_path / "o", num_bootstrap=100, seed=7, set_name="test1")
    assert m["set"] == "test1"

    def mean_ccc(t, p):
        return float(np.mean([ref_ccc(t[:, j], p[:, j]) for j in range(3)]))

    center, (lo, hi) = bootstrap_ci(mean_ccc, pred, true, num_bootstrap=100, seed=7)
    assert center == pytest.approx(m["ccc_mean"], abs=1e-9)
    assert m["ccc_mean_ci"] == pytest.approx([lo, hi], abs=1e-9)
    _, (vlo, vhi) = bootstrap_ci(lambda t, p: ref_ccc(t[:, 0], p[:, 0]), pred, true, num_bootstrap=100, seed=7)
    assert m["ccc_ci"]["valence"] == pytest.approx([vlo, vhi], abs=1e-9)
    again = evaluate_attributes(pred_path, labels_path, tmp_path / "o2", num_bootstrap=100, seed=7)
    assert again["ccc_mean_ci"] == m["ccc_mean_ci"]


def test_missing_prediction_names_both_files(tmp_path):
    utts, true, pred = make_data(n=10)
    write_inputs(tmp_path, utts, true, pred)
    write_posteriors(tmp_path / "pred.txt", Posteriors(utts[:3] + utts[5:], list(NAMES),
                                                       np.vstack([pred[:3], pred[5:]])))
    with pytest.raises(DataError) as err:
        evaluate_attributes(tmp_path / "pred.txt", tmp_path / "utt2attrs", tmp_path / "out", num_bootstrap=10)
    text = str(err.value)
    assert str(tmp_path / "pred.txt") in text and str(tmp_path / "utt2attrs") in text
    assert "2 utterances" in text and "'utt003'" in text
    assert not (tmp_path / "out").exists()


def test_missing_column_is_error_naming_the_file(tmp_path):
    utts, true, pred = make_data(n=5)
    write_inputs(tmp_path, utts, true, pred)
    write_posteriors(tmp_path / "pred.txt", Posteriors(utts, ["valence", "arousal", "Dominance"], pred))
    with pytest.raises(DataError) as err:
        evaluate_attributes(tmp_path / "pred.txt", tmp_path / "utt2attrs", tmp_path / "out", num_bootstrap=10)
    assert str(err.value).startswith(f"{tmp_path / 'pred.txt'}:1: ") and "no column for dominance" in str(err.value)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("bad, reason", [("u2 4 7.5 3", "arousal 7.5 outside the 1-7 scale"),
                                         ("u2 0.9 4 3", "valence 0.9 outside the 1-7 scale"),
                                         ("u2 4 4", "expected 3 numbers")])
def test_bad_label_is_error_at_its_line(tmp_path, bad, reason):
    (tmp_path / "utt2attrs").write_text(f"u1 4 4 4\n{bad}\nu3 2 2 2\n")
    write_posteriors(tmp_path / "pred.txt", Posteriors(["u1", "u2", "u3"], list(NAMES), np.full((3, 3), 4.0)))
    with pytest.raises(DataError) as err:
        evaluate_attributes(tmp_path / "pred.txt", tmp_path / "utt2attrs", tmp_path / "out", num_bootstrap=10)
    assert str(err.value).startswith(f"{tmp_path / 'utt2attrs'}:2: ") and reason in str(err.value)


def test_predictions_outside_scale_counted_not_fatal(tmp_path, caplog):
    utts, true, pred = make_data(n=30)
    pred = pred.copy()
    pred[0, 0], pred[1, 0], pred[2, 2] = 0.2, 7.8, -1.0
    pred_path, labels_path = write_inputs(tmp_path, utts, true, pred, order=(1, 2, 0))
    m = evaluate_attributes(pred_path, labels_path, tmp_path / "o", num_bootstrap=20)
    assert m["predictions_outside_scale"] == {"valence": 2, "arousal": 0, "dominance": 1}
    assert m["num_predictions_outside_scale"] == 3
    assert m["ccc"]["valence"] == pytest.approx(ref_ccc(true[:, 0], pred[:, 0]), abs=1e-9)  # not clipped
    assert "outside the 1-7 scale" in caplog.text


def test_cli_writes_metrics_and_reports_errors(tmp_path, capsys):
    utts, true, pred = make_data(n=20)
    pred_path, labels_path = write_inputs(tmp_path, utts, true, pred)
    run(main, get_parser(), ["--predictions", str(pred_path), "--labels", str(labels_path), "--out_dir",
                             str(tmp_path / "eval"), "--num_bootstrap", "20", "--set_name", "dev_bal"])
    assert json.loads((tmp_path / "eval" / "metrics.json").read_text())["set"] == "dev_bal"
    (tmp_path / "utt2attrs").write_text("utt000 4 4 4\nutt001 4 9 4\n")
    with pytest.raises(SystemExit) as exit_info:
        run(main, get_parser(), ["--predictions", str(pred_path), "--labels", str(labels_path), "--out_dir",
                                 str(tmp_path / "eval2")])
    assert exit_info.value.code == 1
    assert f"{labels_path}:2: arousal 9 outside" in capsys.readouterr().err
    with pytest.raises(ConfigError):
        evaluate_attributes(pred_path, labels_path, tmp_path / "eval3", num_bootstrap=0)
