"""Toxicity evaluation and results (metrics/toxicity.py, metrics/toxicity_results.py, bin/evaluate_toxicity.py,
bin/make_toxicity_results.py).

AP is checked against a hand computation (precision at the rank of each positive) and scikit-learn,
CIs against the shared bootstrap helper, tables byte for byte, CLIs for outputs and error lines.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pytest

from voxrecipes.data.datadir import write_data_dir
from voxrecipes.data.posteriors import Posteriors, write_posteriors
from voxrecipes.errors import ConfigError, DataError
from voxrecipes.metrics.bootstrap import Resamples, bootstrap_ci
from voxrecipes.metrics.ranking import fast_average_precision
from voxrecipes.metrics.toxicity import evaluate_toxicity, write_metrics
from voxrecipes.metrics.toxicity_results import relative_change, relative_changes, write_toxicity_results

CLASSES = ["Profanity", "Bullying", "Dating_Sexting", "Racist", "Other", "No_Violation"]
AP_CLASSES = ["Profanity", "Dating_Sexting", "Racist", "Bullying"]
NB = 100  # bootstrap resamples in tests (the recipes use 1000)


def hand_ap(y: np.ndarray, s: np.ndarray) -> float:
    """Mean over positives of the precision at the positive's rank (scores without ties)."""
    y = np.asarray(y, dtype=bool)[np.argsort(-np.asarray(s))]
    ranks = np.flatnonzero(y) + 1
    return float(np.mean(np.arange(1, len(ranks) + 1) / ranks))


def make_corpus(root, seed=0, n_en=40, n_de=20):
    """Data dir (en + de) and a scores file. No 'Other' positive anywhere, no 'Racist' positive in de."""
    rng = np.random.default_rng(seed)
    utts = [f"en{i:03d}" for i in range(n_en)] + [f"de{i:03d}" for i in range(n_de)]
    labels, langs = {}, {}
    for u in utts:
        langs[u] = u[:2]
        toxic = ["Profanity", "Bullying", "Dating_Sexting"] + (["Racist"] if u.startswith("en") else [])
        chosen = [c for c in toxic if rng.random() < 0.3]
        labels[u] = chosen or ["No_Violation"]
    write_data_dir(root / "data" / "test", wav_scp={u: f"/audio/{u}.wav" for u in utts}, utt2spk={u: u for u in utts},
                   utt2lang=langs, utt2labels=labels)
    order = sorted(utts)
    targets = np.array([[c in labels[u] for c in CLASSES] for u in order])
    scores = 1.0 / (1.0 + np.exp(-(1.2 * targets + rng.normal(0.0, 1.0, targets.shape))))
    write_posteriors(root / "scores.txt", Posteriors(order, CLASSES, scores), fmt="%.10f")
    return order, labels, langs, targets, np.round(scores, 10)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("tox")
    utts, labels, langs, targets, scores = make_corpus(root)
    metrics = evaluate_toxicity(root / "scores.txt", root / "data" / "test", num_bootstrap=NB, seed=0)
    return root, utts, labels, langs, targets, scores, metrics


def test_fast_ap_equals_sklearn_with_ties():
    from sklearn.metrics import average_precision_score

    rng = np.random.default_rng(1)
    for _ in range(20):
        y = rng.random((40, 3)) < 0.3
        s = np.round(rng.random((40, 3)), 1)  # many tied scores
        y[0] = True
        ref = [average_precision_score(y[:, k], s[:, k]) for k in range(3)]
        np.testing.assert_allclose(fast_average_precision(y, s), ref, rtol=1e-12)
    assert np.isnan(fast_average_precision(np.zeros((5, 1), bool), np.ones((5, 1))))[0]


def test_ap_and_map_against_hand_computation(corpus):
    _, _, _, _, targets, scores, m = corpus
    for k, c in enumerate(CLASSES):
        if c == "Other":
            continue
        assert m["ap"][c] == pytest.approx(hand_ap(targets[:, k], scores[:, k]), rel=1e-9)
    expected_map = np.mean([hand_ap(targets[:, CLASSES.index(c)], scores[:, CLASSES.index(c)]) for c in AP_CLASSES])
    assert m["map"] == pytest.approx(expected_map, rel=1e-9)
    assert m["ap_classes"] == AP_CLASSES and m["map_classes"] == AP_CLASSES and m["classes"] == CLASSES
    # a class without a positive has no AP and no CI; it is never averaged
    assert m["positives"]["Other"] == 0 and m["ap"]["Other"] is None and m["ap_ci"]["Other"] is None


def test_per_language_counts_and_missing_class(corpus):
    _, utts, labels, langs, targets, scores, m = corpus
    assert m["languages"] == ["en", "de"]  # the paper's order, not alphabetical
    assert m["num_utts"] == 60 and m["num_extra_scores"] == 0
    for lang in ("en", "de"):
        sub = m["per_language"][lang]
        mine = [u for u in utts if langs[u] == lang]
        assert sub["num_utts"] == len(mine)
        assert sub["positives"] == {c: sum(c in labels[u] for u in mine) for c in CLASSES}
    de = m["per_language"]["de"]
    assert de["positives"]["Racist"] == 0 and de["ap"]["Racist"] is None and de["ap_ci"]["Racist"] is None
    assert de["map_classes"] == ["Profanity", "Dating_Sexting", "Bullying"]
    rows = np.array([langs[u] == "de" for u in utts])
    cols = [CLASSES.index(c) for c in de["map_classes"]]
    assert de["map"] == pytest.approx(np.mean([hand_ap(targets[rows, k], scores[rows, k]) for k in cols]))
    assert sum(m["per_language"][g]["positives"]["Profanity"] for g in ("en", "de")) == m["positives"]["Profanity"]


def test_confidence_intervals(corpus, tmp_path):
    root, _, _, _, targets, scores, m = corpus
    subsets = [m] + list(m["per_language"].values())
    for sub in subsets:
        for c, ci in sub["ap_ci"].items():
            if sub["ap"][c] is None:
                continue
            assert ci[0] <= sub["ap"][c] <= ci[1] and ci[0] < ci[1]
        assert sub["map_ci"][0] <= sub["map"] <= sub["map_ci"][1]
    # mAP's CI is the bootstrap of mAP, narrower than the AP CIs it averages
    assert m["map_ci"][1] - m["map_ci"][0] < min(m["ap_ci"][c][1] - m["ap_ci"][c][0] for c in AP_CLASSES)
    again = evaluate_toxicity(root / "scores.txt", root / "data" / "test", num_bootstrap=NB, seed=0)
    assert again == m
    other = evaluate_toxicity(root / "scores.txt", root / "data" / "test", num_bootstrap=NB, seed=1)
    assert other["map"] == m["map"] and other["ap"] == m["ap"]
    assert other["map_ci"] != m["map_ci"]
    assert m["num_bootstrap"] == NB and m["ci_level"] == pytest.approx(0.95)
    # the resample sets are those of the shared bootstrap_ci helper (same seed, same package draws)
    k = CLASSES.index("No_Violation")
    metric = lambda t, s: fast_average_precision(t[:, None], s[:, None])[0]  # noqa: E731
    _, ref = bootstrap_ci(metric, scores[:, k], targets[:, k], num_bootstrap=NB, seed=0)
    ci, undefined = Resamples.interval(Resamples(len(scores), NB, 0).values(metric, scores[:, k], targets[:, k]), 5.0)
    assert undefined == 0 and ci == pytest.approx(ref, rel=1e-12)
    assert m["ap_ci"]["No_Violation"] == pytest.approx(list(ref), rel=1e-12)


def test_undefined_resamples_are_left_out():
    # one positive in 30: about a third of the resamples hold no positive (AP undefined)
    y = np.zeros((30, 1), bool)
    y[3] = True
    s = np.linspace(0, 1, 30)[:, None]
    vals = Resamples(30, 200, 0).values(fast_average_precision, s, y)[:, 0]
    ci, undefined = Resamples.interval(vals, 5.0)
    assert 0 < undefined == int(np.isnan(vals).sum()) < 200
    assert ci is not None and all(math.isfinite(v) for v in ci)


def test_extra_rows_ignored_and_counted(corpus, tmp_path):
    root, utts, _, _, _, scores, m = corpus
    extra = Posteriors(utts + ["zz_extra"], CLASSES, np.vstack([scores, np.full((1, 6), 0.5)]))
    write_posteriors(tmp_path / "scores.txt", extra, fmt="%.10f")
    m2 = evaluate_toxicity(tmp_path / "scores.txt", root / "data" / "test", num_bootstrap=NB, seed=0)
    assert m2["num_extra_scores"] == 1
    assert m2["ap"] == m["ap"] and m2["map_ci"] == m["map_ci"]


def test_metrics_json_is_strict_json(corpus, tmp_path):
    *_, m = corpus
    path = write_metrics(m, tmp_path / "out")
    def refuse(name):
        raise AssertionError(f"non-standard JSON constant {name}")
    assert json.loads(path.read_text(), parse_constant=refuse) == m
    assert set(m) >= {"task", "set", "classes", "ap_classes", "num_utts", "num_extra_scores", "positives", "ap",
                      "ap_ci", "map", "map_ci", "map_classes", "languages", "per_language", "ci_level",
                      "num_bootstrap", "seed", "alpha", "ci_undefined_resamples"}
    with pytest.raises(ValueError):
        write_metrics({"ap": math.nan}, tmp_path / "bad")
    assert not (tmp_path / "bad" / "metrics.json").exists()


def test_missing_scores_names_both_files(corpus, tmp_path):
    root, utts, _, _, _, scores, _ = corpus
    write_posteriors(tmp_path / "scores.txt", Posteriors(utts[1:], CLASSES, scores[1:]))
    with pytest.raises(DataError) as err:
        evaluate_toxicity(tmp_path / "scores.txt", root / "data" / "test", num_bootstrap=NB)
    text = str(err.value)
    assert str(tmp_path / "scores.txt") in text and str(root / "data" / "test" / "utt2labels") in text
    assert f"(first: '{utts[0]}')" in text and "1 utterances" in text


def test_unknown_label_names_file_and_line(corpus, tmp_path):
    root, utts, _, _, _, scores, _ = corpus
    classes = [c if c != "Bullying" else "Harassment" for c in CLASSES]
    write_posteriors(tmp_path / "scores.txt", Posteriors(utts, classes, scores))
    labels = (root / "data" / "test" / "utt2labels").read_text().splitlines()
    line = next(i for i, text in enumerate(labels, start=1) if "Bullying" in text.split()[1:])
    with pytest.raises(DataError) as err:
        evaluate_toxicity(tmp_path / "scores.txt", root / "data" / "test", num_bootstrap=NB)
    assert str(err.value).startswith(f"{root / 'data' / 'test' / 'utt2labels'}:{line}: label 'Bullying'")
    with pytest.raises(ConfigError, match="ap_classes"):
        evaluate_toxicity(root / "scores.txt", root / "data" / "test", ap_classes=["Profanity", "Spam"])


def test_relative_change_formula():
    assert relative_change(0.6156, 0.5815) == pytest.approx((0.6156 - 0.5815) / 0.5815 * 100)
    assert relative_change(0.5, 0.625) == pytest.approx(-20.0)
    assert relative_change(None, 0.5) is None and relative_change(0.5, None) is None
    assert relative_change(0.5, 0.0) is None
    sys_m = {"ap": {"Racist": 0.7725, "Other": None}, "map": 0.6284,
             "per_language": {"de": {"ap": {"Racist": 0.6}, "map": 0.5}}}
    base_m = {"ap": {"Racist": 0.6626, "Other": None}, "map": 0.5815,
              "per_language": {"de": {"ap": {"Racist": 0.5}, "map": 0.4}}}
    rel = relative_changes(sys_m, base_m)
    assert rel["ap"]["Racist"] == pytest.approx((0.7725 - 0.6626) / 0.6626 * 100) and rel["ap"]["Other"] is None
    assert rel["map"] == pytest.approx((0.6284 - 0.5815) / 0.5815 * 100)
    assert relative_changes(sys_m, base_m, "de") == {"ap": {"Racist": pytest.approx(20.0)}, "map": pytest.approx(25.0)}


LANG_SCALE = {"en": (0.9, 70), "de": (0.8, 30)}  # per-language AP = overall AP x scale; N


def fake_metrics(ap: dict, map_value: float, half_width: float = 0.01, languages=("en", "de")) -> dict:
    """A metrics.json in evaluate_toxicity's layout with chosen numbers."""
    def block(scale: float, n: int) -> dict:
        aps = {c: (None if v is None else round(v * scale, 6)) for c, v in ap.items()}
        return {"num_utts": n, "positives": {c: (0 if v is None else 10) for c, v in ap.items()}, "ap": aps,
                "ap_ci": {c: (None if v is None else [v - half_width, v + half_width]) for c, v in aps.items()},
                "map": round(map_value * scale, 6),
                "map_ci": [round(map_value * scale, 6) - half_width / 2, round(map_value * scale, 6) + half_width / 2]}
    return {"task": "toxicity", "classes": list(ap), "ap_classes": AP_CLASSES, **block(1.0, 100),
            "languages": list(languages), "per_language": {lang: block(*LANG_SCALE[lang]) for lang in languages},
            "ci_level": 0.95, "num_bootstrap": 1000, "seed": 0, "alpha": 5.0}


TABLE2 = {  # the paper's Table 2 (AP as fractions)
    ("Baseline", "1"): ({"Profanity": 0.9380, "Bullying": 0.3715, "Dating_Sexting": 0.3539, "Racist": 0.6626,
                         "Other": None, "No_Violation": 0.95}, 0.5815),
    ("MSE", "0.1"): ({"Profanity": 0.9473, "Bullying": 0.4067, "Dating_Sexting": 0.3719, "Racist": 0.7365,
                      "Other": None, "No_Violation": 0.95}, 0.6156),
    ("Contrastive", "0.9"): ({"Profanity": 0.9341, "Bullying": 0.3820, "Dating_Sexting": 0.3535, "Racist": 0.7387,
                              "Other": None, "No_Violation": 0.95}, 0.6021),
}


def write_table2(tmp_path, half_widths=(0.01, 0.01, 0.05)) -> list:
    systems = []
    for (fields, (ap, map_value)), hw in zip(TABLE2.items(), half_widths):
        d = tmp_path / "exp" / "_".join(fields) / "test"
        d.mkdir(parents=True)
        (d / "metrics.json").write_text(json.dumps(fake_metrics(ap, map_value, hw)))
        systems.append((";".join(fields), d if fields[0] != "MSE" else d / "metrics.json"))
    return systems


def test_results_tables_exact(tmp_path):
    systems = write_table2(tmp_path)
    text = write_toxicity_results("voice toxicity", systems, "Loss;alpha", "Baseline;1", tmp_path / "RESULTS.md",
                                  env={"date": "D", "git commit": "abc"})
    assert (tmp_path / "RESULTS.md").read_text() == text
    lines = text.splitlines()
    assert lines[:7] == ["# voice toxicity", "", "## Environment", "", "- date: D", "- git commit: abc", ""]
    header = "| Loss | alpha | Profanity | Dating & Sexting | Racist | Bullying | mAP | rel. Δ mAP |"
    i = lines.index(header)
    assert lines[i + 1] == "|---|---|---|---|---|---|---|---|"
    assert lines[i + 2] == ("| Baseline | 1 | 93.80 [92.80, 94.80] | 35.39 [34.39, 36.39] | 66.26 [65.26, 67.26] | "
                            "37.15 [36.15, 38.15] | 58.15 [57.65, 58.65] | (baseline) |")
    assert lines[i + 3].encode() == (b"| MSE | 0.1 | 94.73 [93.73, 95.73] | 37.19 [36.19, 38.19] | "
                                     b"73.65 [72.65, 74.65] | 40.67 [39.67, 41.67] | 61.56 [61.06, 62.06] | "
                                     b"+5.86% |")
    assert lines[i + 4].endswith("| 60.21 [57.71, 62.71] | +3.54% |")
    # per-language rows: baseline, then each system with its change in the same language
    j = lines.index("| Language | N | Loss | alpha | Profanity | Dating & Sexting | Racist | Bullying | mAP |")
    assert lines[j + 2].startswith("| en | 70 | Baseline | 1 | 84.42 [83.42, 85.42] |")
    assert lines[j + 5] == ("| de | 30 | Baseline | 1 | 75.04 [74.04, 76.04] | 28.31 [27.31, 29.31] | "
                            "53.01 [52.01, 54.01] | 29.72 [28.72, 30.72] | 46.52 [46.02, 47.02] |")
    assert lines[j + 6] == ("| de | 30 | MSE | 0.1 | 75.78 [74.78, 76.78] (+0.99%) | 29.75 [28.75, 30.75] (+5.09%) | "
                            "58.92 [57.92, 59.92] (+11.15%) | 32.54 [31.54, 33.54] (+9.48%) | "
                            "49.25 [48.75, 49.75] (+5.86%) |")
    assert "| de | 30 | 10 | 10 | 10 | 10 | 0 | 10 |" in lines and "| all | 100 | 10 | 10 | 10 | 10 | 0 | 10 |" in lines
    assert "## Against the baseline" in lines
    assert lines[-2:] == [
        "- Loss=MSE, alpha=0.1: mAP 61.56 [61.06, 62.06]; 95% CI entirely above the baseline mAP 58.15: yes",
        "- Loss=Contrastive, alpha=0.9: mAP 60.21 [57.71, 62.71]; 95% CI entirely above the baseline mAP 58.15: no"]
    assert "## Figure" not in text


def test_results_end_with_the_notes_file(tmp_path):
    systems = write_table2(tmp_path)
    notes = tmp_path / "notes.md"
    notes.write_text("## How it went\n\nBy hand.\n", encoding="utf-8")
    env = {"date": "D", "git commit": "abc"}
    plain = write_toxicity_results("t", systems, "Loss;alpha", "Baseline;1", tmp_path / "plain.md", env=env)
    text = write_toxicity_results("t", systems, "Loss;alpha", "Baseline;1", tmp_path / "RESULTS.md", env=env,
                                  notes=notes)
    assert text == plain + "\n## How it went\n\nBy hand.\n" == (tmp_path / "RESULTS.md").read_text()
    with pytest.raises(DataError, match="nowhere.md: notes file not found"):
        write_toxicity_results("t", systems, "Loss;alpha", "Baseline;1", tmp_path / "X.md", env=env,
                               notes=tmp_path / "nowhere.md")
    assert not (tmp_path / "X.md").exists()


def test_results_config_errors_write_nothing(tmp_path):
    systems = write_table2(tmp_path)
    out = tmp_path / "RESULTS.md"
    with pytest.raises(ConfigError, match="has 1 label fields but there are 2 label columns"):
        write_toxicity_results("t", systems + [("Contrastive", systems[0][1])], "Loss;alpha", "Baseline;1", out,
                               plot_png=tmp_path / "fig.png", env={})
    with pytest.raises(ConfigError, match="baseline 'Baseline;0.5' is none of the systems"):
        write_toxicity_results("t", systems, "Loss;alpha", "Baseline;0.5", out, plot_png=tmp_path / "fig.png", env={})
    with pytest.raises(DataError, match="metrics file not found"):
        write_toxicity_results("t", systems + [("MSE;0.5", tmp_path / "nowhere")], "Loss;alpha", "Baseline;1", out,
                               plot_png=tmp_path / "fig.png", env={})
    assert not out.exists() and not (tmp_path / "fig.png").exists()


def run_cli(module: str, *args, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", module, *map(str, args)], capture_output=True, text=True, cwd=cwd,
                          timeout=300)


def test_evaluate_cli_writes_metrics_and_fails_cleanly(corpus, tmp_path):
    root, utts, _, _, _, scores, m = corpus
    out = tmp_path / "exp" / "test"
    res = run_cli("voxrecipes.bin.evaluate_toxicity", "--scores", root / "scores.txt", "--data",
                  root / "data" / "test", "--out_dir", out, "--num_bootstrap", NB, "--seed", 0)
    assert res.returncode == 0, res.stderr
    written = json.loads((out / "metrics.json").read_text())
    assert written["map"] == m["map"] and written["map_ci"] == m["map_ci"] and written["per_language"].keys() == {
        "en", "de"}
    # an utterance without scores: exit 1, one ERROR line naming both files, no output directory
    write_posteriors(tmp_path / "short.txt", Posteriors(utts[:-1], CLASSES, scores[:-1]))
    bad_out = tmp_path / "exp" / "bad"
    res = run_cli("voxrecipes.bin.evaluate_toxicity", "--scores", tmp_path / "short.txt", "--data",
                  root / "data" / "test", "--out_dir", bad_out, "--num_bootstrap", NB)
    assert res.returncode == 1
    errors = [line for line in res.stderr.splitlines() if line.startswith("ERROR:")]
    assert len(errors) == 1 and "Traceback" not in res.stderr
    assert str(tmp_path / "short.txt") in errors[0] and str(root / "data" / "test" / "utt2labels") in errors[0]
    assert f"'{utts[-1]}'" in errors[0]
    assert not bad_out.exists()


def test_make_results_cli_with_plot(tmp_path):
    systems = write_table2(tmp_path)
    args = ["--title", "Table 2", "--label_columns", "Loss;alpha", "--baseline", "Baseline;1",
            "--out", "RESULTS.md", "--plot", "plots/figure2.png"]
    for fields, path in systems:
        args += ["--system", f"{fields}={path}"]
    res = run_cli("voxrecipes.bin.make_toxicity_results", *args, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    text = (tmp_path / "RESULTS.md").read_text()
    assert res.stdout == text
    assert "![AP per language with 95% CIs](plots/figure2.png)" in text
    assert (tmp_path / "plots" / "figure2.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # Table 3 layout from the same command; a field-count mismatch is one ERROR line and no output
    bad = ["--title", "Table 3", "--label_columns", "Layer;Loss", "--baseline", "12;Contrastive", "--out", "T3.md",
           "--system", "12;Contrastive=" + str(systems[0][1]), "--system", "6=" + str(systems[1][1])]
    res = run_cli("voxrecipes.bin.make_toxicity_results", *bad, cwd=tmp_path)
    assert res.returncode == 1
    errors = [line for line in res.stderr.splitlines() if line.startswith("ERROR:")]
    assert errors == ["ERROR: system '6' has 1 label fields but there are 2 label columns (Layer;Loss)"]
    assert not (tmp_path / "T3.md").exists()


def test_help_has_example():
    res = run_cli("voxrecipes.bin.evaluate_toxicity", "--help")
    assert res.returncode == 0 and "python -m voxrecipes.bin.evaluate_toxicity --scores" in res.stdout
