"""make_emotion_results: exact Table 2/3 layouts, '-' cells, prior-correction verdicts, spec and input errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from voxrecipes.bin.make_emotion_results import get_parser, main
from voxrecipes.cli import run
from voxrecipes.errors import ConfigError, DataError
from voxrecipes.metrics.emotion_inputs import parse_prior_pair, parse_spec
from voxrecipes.metrics.emotion_results import make_emotion_results
from voxrecipes.metrics.emotion_tables import prior_verdict

ENV = {"date": "D", "git commit": "abc"}


def cat_metrics(tmp_path, system, set_name, f1, ci=(0.2, 0.3), per_class=None, png=True, num_bootstrap=1000):
    d = tmp_path / "exp" / system / set_name
    d.mkdir(parents=True)
    per_class = per_class or {"A": 0.5, "H": 0.25}
    (d / "metrics.json").write_text(json.dumps({
        "set": set_name, "classes": list(per_class), "num_utts": 120, "macro_f1": f1, "macro_f1_ci": list(ci),
        "accuracy": 0.5, "per_class_f1": per_class, "confusion_png": "confusion.png",
        "num_bootstrap": num_bootstrap}))
    if png:
        (d / "confusion.png").write_bytes(b"png")
    return f"{system}={set_name}={d / 'metrics.json'}"


def attr_metrics(tmp_path, system, set_name, ccc, png=False):
    d = tmp_path / "attr" / system / set_name
    d.mkdir(parents=True)
    names = ("valence", "arousal", "dominance")
    (d / "metrics.json").write_text(json.dumps({
        "set": set_name, "attributes": list(names), "num_utts": 300,
        "ccc": dict(zip(names, ccc)), "ccc_ci": {n: [v - 0.05, v + 0.05] for n, v in zip(names, ccc)},
        "ccc_mean": sum(ccc) / 3, "ccc_mean_ci": [sum(ccc) / 3 - 0.03, sum(ccc) / 3 + 0.03],
        "num_predictions_outside_scale": 2, "num_bootstrap": 1000, "scatter_png": "scatter.png"}))
    if png:
        (d / "scatter.png").write_bytes(b"png")
    return f"{system}={set_name}={d / 'metrics.json'}"


def test_category_table3_layout_exact(tmp_path):
    specs = [
        cat_metrics(tmp_path, "w2v", "dev_filt", 0.241, (0.221, 0.262)),
        cat_metrics(tmp_path, "w2v", "dev_bal", 0.169, (0.15, 0.19), png=False),
        cat_metrics(tmp_path, "w2v_prior", "dev_bal", 0.2974, (0.26, 0.33), per_class={"A": 0.4, "N": 0.1}),
        cat_metrics(tmp_path, "w2v_prior", "test1", 0.3, (0.28, 0.32)),
    ]
    text = make_emotion_results("emo", tmp_path / "RESULTS.md", category=specs, prior_pairs=["w2v=w2v_prior"],
                                sets=["dev_filt", "dev_bal", "test1"], env=ENV)
    assert text == (
        "# emo\n\n## Environment\n\n- date: D\n- git commit: abc\n\n"
        "## Emotion categories: macro-F1 (Table 3 layout)\n\n"
        "Macro-F1 with its 95% bootstrap confidence interval in brackets (1000 resamples); "
        "`-`: not evaluated on that set.\n\n"
        "| ID | System | dev_filt | dev_bal | test1 |\n|---|---|---|---|---|\n"
        "| #1 | w2v | 0.241 [0.221, 0.262] | 0.169 [0.150, 0.190] | - |\n"
        "| #2 | w2v_prior | - | 0.297 [0.260, 0.330] | 0.300 [0.280, 0.320] |\n\n"
        "### Per-class F1\n\n"
        "#### dev_filt\n\n| ID | System | A | H | Utts |\n|---|---|---|---|---|\n| #1 | w2v | 0.500 | 0.250 | 120 |\n\n"
        "#### dev_bal\n\n| ID | System | A | H | N | Utts |\n|---|---|---|---|---|---|\n"
        "| #1 | w2v | 0.500 | 0.250 | - | 120 |\n| #2 | w2v_prior | 0.400 | - | 0.100 | 120 |\n\n"
        "#### test1\n\n| ID | System | A | H | Utts |\n|---|---|---|---|---|\n"
        "| #2 | w2v_prior | 0.500 | 0.250 | 120 |\n\n"
        "### Confusion matrix\n\n![confusion of #2 w2v_prior on dev_bal](RESULTS_confusion_dev_bal.png)\n\n"
        "#2 w2v_prior on dev_bal. The evaluation stage writes this plot for every system and set next to its "
        "metrics.json under the experiment directory (here `exp/w2v_prior/dev_bal/confusion.png`); those files "
        "are not committed.\n\n"
        "## Prior correction (dev_bal)\n\n"
        "Macro-F1 on dev_bal without and with the balanced (uniform) prior; the verdict compares the unrounded "
        "values.\n\n"
        "- #1 w2v -> #2 w2v_prior: macro-F1 0.169 -> 0.297 (+0.128): the balanced prior raised macro-F1\n")
    assert (tmp_path / "RESULTS.md").read_text() == text
    assert "Table 2" not in text
    # RESULTS.md links only to files beside it: the plot it shows is copied there
    assert (tmp_path / "RESULTS_confusion_dev_bal.png").read_bytes() == b"png"
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == ["RESULTS.md", "RESULTS_confusion_dev_bal.png"]


def test_attribute_table2_layout_rows(tmp_path):
    specs = [attr_metrics(tmp_path, "w2v_attr", "dev_bal", (0.6063, 0.5442, 0.4430), png=True),
             attr_metrics(tmp_path, "fusion", "dev_bal", (0.6771, 0.5712, 0.4772)),
             attr_metrics(tmp_path, "fusion", "test1", (0.6362, 0.5417, 0.3655))]
    text = make_emotion_results("emo", tmp_path / "out" / "RESULTS.md", attributes=specs, env=ENV)
    lines = text.splitlines()
    assert "Table 3" not in text and "Prior correction" not in text
    header = lines.index("| ID | System | dev_bal Valence | dev_bal Arousal | dev_bal Dominance | dev_bal Average | "
                         "test1 Valence | test1 Arousal | test1 Dominance | test1 Average |")
    assert lines[header + 2] == "| #1 | w2v_attr | 0.6063 | 0.5442 | 0.4430 | 0.5312 | - | - | - | - |"
    assert lines[header + 3] == ("| #2 | fusion | 0.6771 | 0.5712 | 0.4772 | 0.5752 | 0.6362 | 0.5417 | 0.3655 | "
                                 "0.5145 |")
    detail = lines.index("| ID | System | Set | N | Valence | Arousal | Dominance | Average | Out of scale |")
    assert lines[detail + 2] == ("| #1 | w2v_attr | dev_bal | 300 | 0.6063 [0.5563, 0.6563] | 0.5442 [0.4942, 0.5942] "
                                 "| 0.4430 [0.3930, 0.4930] | 0.5312 [0.5012, 0.5612] | 2 |")
    assert lines[detail + 4].startswith("| #2 | fusion | test1 | 300 | 0.6362 [0.5862, 0.6862] |")
    # the last row (fusion) has no plot: the scatter plots shown are w2v_attr's on dev_bal, copied beside RESULTS.md
    assert "![scatter of #1 w2v_attr on dev_bal](RESULTS_scatter_dev_bal.png)" in lines
    assert "(here `../attr/w2v_attr/dev_bal/scatter.png`)" in text
    assert (tmp_path / "out" / "RESULTS_scatter_dev_bal.png").read_bytes() == b"png"
    assert all("](" not in line or "](RESULTS_" in line for line in lines)


@pytest.mark.parametrize("without, with_prior, verdict", [(0.169, 0.297, "raised"), (0.292, 0.273, "did not raise"),
                                                          (0.3, 0.3, "did not raise")])
def test_prior_line_verdict_from_numbers(tmp_path, without, with_prior, verdict):
    specs = [cat_metrics(tmp_path, "rob", "dev_filt", 0.9), cat_metrics(tmp_path, "rob", "dev_bal", without),
             cat_metrics(tmp_path, "rob_prior", "dev_bal", with_prior)]
    text = make_emotion_results("emo", tmp_path / "R.md", category=specs, prior_pairs=["rob=rob_prior"], env=ENV)
    line = [x for x in text.splitlines() if x.startswith("- #1 rob -> #2 rob_prior")]
    assert line == [f"- #1 rob -> #2 rob_prior: macro-F1 {without:.3f} -> {with_prior:.3f} "
                    f"({with_prior - without:+.3f}): the balanced prior {verdict} macro-F1"]
    assert prior_verdict(without, with_prior) == verdict


def test_prior_pair_on_other_set_and_unknown_system(tmp_path):
    specs = [cat_metrics(tmp_path, "a", "test1", 0.3), cat_metrics(tmp_path, "b", "test1", 0.2),
             cat_metrics(tmp_path, "a", "dev_bal", 0.1)]
    text = make_emotion_results("e", tmp_path / "R.md", category=specs, prior_pairs=["a=b"], prior_set="test1",
                                env=ENV)
    assert "- #1 a -> #2 b: macro-F1 0.300 -> 0.200 (-0.100): the balanced prior did not raise macro-F1" in text
    with pytest.raises(ConfigError, match="'b' has no --category entry for --prior_set dev_bal"):
        make_emotion_results("e", tmp_path / "R2.md", category=specs, prior_pairs=["a=b"], env=ENV)
    with pytest.raises(ConfigError, match="'c' is not a --category system"):
        make_emotion_results("e", tmp_path / "R2.md", category=specs, prior_pairs=["a=c"], prior_set="test1",
                             env=ENV)
    assert not (tmp_path / "R2.md").exists()


def test_column_order_follows_sets_and_first_appearance(tmp_path):
    specs = [cat_metrics(tmp_path, "a", "test1", 0.3), cat_metrics(tmp_path, "b", "dev_bal", 0.2)]
    text = make_emotion_results("e", tmp_path / "R.md", category=specs, env=ENV)
    assert "| ID | System | test1 | dev_bal |" in text and "| #2 | b | - | 0.200 [0.200, 0.300] |" in text
    text = make_emotion_results("e", tmp_path / "R.md", category=specs, sets=["dev_filt", "dev_bal", "test1"],
                                env=ENV)
    assert "| ID | System | dev_bal | test1 |" in text  # dev_filt has no entry: no empty column
    with pytest.raises(ConfigError, match="set 'test1' is not in --sets"):
        make_emotion_results("e", tmp_path / "R.md", category=specs, sets=["dev_bal"], env=ENV)


@pytest.mark.parametrize("spec", ["w2v=dev_bal", "w2v", "=dev_bal=m.json", "w2v==m.json", "a|b=dev=m.json"])
def test_bad_spec_is_config_error_naming_it(tmp_path, spec):
    with pytest.raises(ConfigError) as err:
        make_emotion_results("e", tmp_path / "R.md", category=[spec], env=ENV)
    assert f"'{spec}'" in str(err.value) and "--category" in str(err.value)
    with pytest.raises(ConfigError, match="--attributes"):
        parse_spec(spec, "--attributes")
    assert not (tmp_path / "R.md").exists()


def test_spec_path_may_contain_equals_and_bad_prior_pair():
    assert parse_spec("sys=dev_bal=exp/a=b/metrics.json") == ("sys", "dev_bal", Path("exp/a=b/metrics.json"))
    assert parse_prior_pair("a=b") == ("a", "b")
    for bad in ("a", "a=", "=b", "a=b=c"):
        with pytest.raises(ConfigError, match=f"got '{bad}'"):
            parse_prior_pair(bad)


def test_unreadable_metrics_are_data_errors(tmp_path):
    missing = tmp_path / "nope" / "metrics.json"
    with pytest.raises(DataError) as err:
        make_emotion_results("e", tmp_path / "R.md", category=[f"a=dev_bal={missing}"], env=ENV)
    assert str(err.value).startswith(f"{missing}: ")
    broken = tmp_path / "broken.json"
    broken.write_text("{\n  \"macro_f1\": 0.3,\n  oops\n}\n")
    with pytest.raises(DataError) as err:
        make_emotion_results("e", tmp_path / "R.md", attributes=[f"a=dev_bal={broken}"], env=ENV)
    assert str(err.value).startswith(f"{broken}:3: not valid JSON")
    wrong_kind = cat_metrics(tmp_path, "a", "dev_bal", 0.3)
    with pytest.raises(DataError, match="missing keys ccc, ccc_ci, ccc_mean, ccc_mean_ci"):
        make_emotion_results("e", tmp_path / "R.md", attributes=[wrong_kind], env=ENV)
    with pytest.raises(ConfigError, match="at least one"):
        make_emotion_results("e", tmp_path / "R.md", env=ENV)
    assert not (tmp_path / "R.md").exists()


def test_cli_prints_and_writes(tmp_path, capsys):
    cat = cat_metrics(tmp_path, "a", "dev_bal", 0.3)
    att = attr_metrics(tmp_path, "v", "dev_bal", (0.5, 0.4, 0.3))
    run(main, get_parser(), ["--title", "emo", "--category", cat, "--attributes", att, "--out",
                             str(tmp_path / "RESULTS.md")])
    out = capsys.readouterr().out
    assert out == (tmp_path / "RESULTS.md").read_text()
    assert "## Environment" in out and "- python: " in out and "| #1 | a | 0.300 [0.200, 0.300] |" in out
    assert "| #1 | v | 0.5000 | 0.4000 | 0.3000 | 0.4000 |" in out
    with pytest.raises(SystemExit) as exit_info:
        run(main, get_parser(), ["--title", "emo", "--category", "a=dev_bal", "--out", str(tmp_path / "X.md")])
    assert exit_info.value.code == 1
    assert "ERROR: --category must be NAME=SET=path/to/metrics.json" in capsys.readouterr().err


# ----------------------------------------------------------------------------------------------
# Fusion against single systems, text against speech, fusion weights

def fusion_section(text: str, heading: str) -> str:
    """The text from ``heading`` up to the next ``## `` section (or the end)."""
    start = text.index(heading)
    end = text.find("\n## ", start + 1)
    return text[start:] if end < 0 else text[start:end]


def test_fusion_check_categories_exact(tmp_path):
    specs = [cat_metrics(tmp_path, "speech", "dev_bal", 0.297), cat_metrics(tmp_path, "text", "dev_bal", 0.311),
             cat_metrics(tmp_path, "fusion", "dev_bal", 0.354),
             # test1: fusion below speech, above text
             cat_metrics(tmp_path, "speech", "test1", 0.30), cat_metrics(tmp_path, "text", "test1", 0.28),
             cat_metrics(tmp_path, "fusion", "test1", 0.29),
             # test2: text not evaluated, fusion above speech
             cat_metrics(tmp_path, "speech", "test2", 0.25), cat_metrics(tmp_path, "fusion", "test2", 0.26),
             # dev_filt: a tie is not a win
             cat_metrics(tmp_path, "speech", "dev_filt", 0.3), cat_metrics(tmp_path, "text", "dev_filt", 0.2),
             cat_metrics(tmp_path, "fusion", "dev_filt", 0.3),
             # test3: only the single systems
             cat_metrics(tmp_path, "speech", "test3", 0.1), cat_metrics(tmp_path, "text", "test3", 0.1)]
    text = make_emotion_results("emo", tmp_path / "R.md", category=specs, fusion_checks=["fusion=speech,text"],
                                check_sets=["dev_bal", "test1", "test2", "dev_filt", "test3", "test9"], env=ENV)
    assert fusion_section(text, "## Fusion against single systems") == (
        "## Fusion against single systems\n\n"
        "Whether each fused system beats each of its single systems on dev_bal, test1, test2, dev_filt, test3 and "
        "test9: categorical systems compare macro-F1, attribute systems the mean CCC of valence, arousal and "
        "dominance; a fused system beats a single system when its unrounded score is strictly higher.\n\n"
        "### Categories: #3 fusion (macro-F1)\n\n"
        "- dev_bal: #3 fusion 0.354 vs #1 speech 0.297: beats (+0.057); vs #2 text 0.311: beats (+0.043). "
        "Verdict: beats every single system\n"
        "- test1: #3 fusion 0.290 vs #1 speech 0.300: does not beat (-0.010); vs #2 text 0.280: beats (+0.010). "
        "Verdict: does not beat every single system (not #1 speech)\n"
        "- test2: #3 fusion 0.260 vs #1 speech 0.250: beats (+0.010); vs #2 text: not evaluated. "
        "Verdict: beats every evaluated single system (#2 text not evaluated)\n"
        "- dev_filt: #3 fusion 0.300 vs #1 speech 0.300: does not beat (+0.000); vs #2 text 0.200: beats (+0.100). "
        "Verdict: does not beat every single system (not #1 speech)\n"
        "- test3: not evaluated (no metrics for #3 fusion)\n"
        "- test9: not evaluated (no metrics for #3 fusion)\n")
    assert text.endswith("- test9: not evaluated (no metrics for #3 fusion)\n")
    assert "Text and speech" not in text and "Fusion weights" not in text


def test_fusion_check_attributes_and_modality_exact(tmp_path):
    att = [attr_metrics(tmp_path, "speech_attr", "dev_bal", (0.6295, 0.5712, 0.4772)),
           attr_metrics(tmp_path, "text_attr", "dev_bal", (0.5932, 0.2634, 0.2532)),
           attr_metrics(tmp_path, "fusion_attr", "dev_bal", (0.6771, 0.5712, 0.4772)),
           attr_metrics(tmp_path, "speech_attr", "test1", (0.50, 0.60, 0.40)),
           attr_metrics(tmp_path, "text_attr", "test1", (0.70, 0.60, 0.20)),
           attr_metrics(tmp_path, "fusion_attr", "test1", (0.70, 0.55, 0.35))]
    cat = [cat_metrics(tmp_path, "speech", "dev_bal", 0.3)]  # a categorical table next to it
    text = make_emotion_results("emo", tmp_path / "R.md", category=cat, attributes=att,
                                fusion_checks=["fusion_attr=speech_attr,text_attr"],
                                modality_checks=["text_attr=speech_attr"], env=ENV)
    assert fusion_section(text, "## Fusion against single systems").splitlines()[4:] == [
        "### Attributes: #3 fusion_attr (mean CCC)", "",
        "- dev_bal: #3 fusion_attr 0.5752 vs #1 speech_attr 0.5593: beats (+0.0159); vs #2 text_attr 0.3699: "
        "beats (+0.2052). Verdict: beats every single system",
        "- test1: #3 fusion_attr 0.5333 vs #1 speech_attr 0.5000: beats (+0.0333); vs #2 text_attr 0.5000: "
        "beats (+0.0333). Verdict: beats every single system"]
    assert fusion_section(text, "## Text and speech by attribute") == (
        "## Text and speech by attribute\n\n"
        "Whether the text system leads on valence and the speech system on arousal on dev_bal and test1 (CCC); "
        "a system leads when its unrounded CCC is strictly higher.\n\n"
        "### Attributes: #2 text_attr (text) vs #1 speech_attr (speech)\n\n"
        "- dev_bal: valence CCC text 0.5932 vs speech 0.6295: text does not lead (-0.0363); "
        "arousal CCC speech 0.5712 vs text 0.2634: speech leads (+0.3078)\n"
        "- test1: valence CCC text 0.7000 vs speech 0.5000: text leads (+0.2000); "
        "arousal CCC speech 0.6000 vs text 0.6000: speech does not lead (+0.0000)\n")
    # a check set without the metrics of one of the two systems
    text = make_emotion_results("emo", tmp_path / "R.md", attributes=att[:3] + att[4:5],
                                modality_checks=["text_attr=speech_attr"], check_sets=["test1"], env=ENV)
    assert text.endswith("### Attributes: #2 text_attr (text) vs #1 speech_attr (speech)\n\n"
                         "- test1: not evaluated (no metrics for #1 speech_attr)\n")


def write_weights(tmp_path, name: str, report: dict) -> str:
    path = tmp_path / name / "weights.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(report))
    return str(path)


def test_fusion_weights_section_exact(tmp_path):
    cat = [cat_metrics(tmp_path, n, "dev_bal", f) for n, f in
           (("speech", 0.297), ("text", 0.311), ("fusion_interp", 0.354), ("fusion_lr", 0.381))]
    att = [attr_metrics(tmp_path, n, "dev_bal", c) for n, c in
           (("speech_attr", (0.6295, 0.5712, 0.4772)), ("text_attr", (0.5932, 0.2634, 0.2532)),
            ("fusion_attr", (0.6771, 0.5712, 0.4772)))]
    common = {"tune_labels": "data/dev_bal/utt2category", "num_tune": 2400, "classes": ["A", "H"],
              "tune": ["exp/speech/dev_bal/posteriors.txt", "exp/text/dev_bal/posteriors.txt"]}
    interp = write_weights(tmp_path, "fusion/fusion_interp", {
        "method": "interpolation", "task": "category", "systems": ["speech", "text"], **common, "step": 0.05,
        "tie_break": "first", "weights": {"speech": 0.55, "text": 0.45},
        "tune_macro_f1": {"systems": {"speech": 0.2974, "text": 0.3111}, "fused": 0.3541}, "applied": {}})
    logreg = write_weights(tmp_path, "fusion/fusion_lr", {
        "method": "logreg", "task": "category", "systems": ["speech", "text"], **common, "step": None,
        "weights": None, "model_dir": "exp/fusion_lr/model", "C": 1.0, "features": "log",
        "tune_macro_f1": {"systems": {"speech": 0.2974, "text": 0.3111}, "fused": 0.381}, "applied": {}})
    attr = write_weights(tmp_path, "fusion/fusion_attr", {
        "method": "interpolation", "task": "attributes", "systems": ["speech_attr", "text_attr"],
        "tune": [], "tune_labels": "data/dev_bal/utt2attrs", "num_tune": 300,
        "classes": ["valence", "arousal", "dominance"], "step": 0.05, "tie_break": "first",
        "weights": {"valence": {"speech_attr": 0.45, "text_attr": 0.55},
                    "arousal": {"speech_attr": 1.0, "text_attr": 0.0},
                    "dominance": {"speech_attr": 1.0, "text_attr": 0.0}},
        "tune_ccc": {"systems": {"speech_attr": {"valence": 0.6295, "arousal": 0.5712, "dominance": 0.4772},
                                 "text_attr": {"valence": 0.5932, "arousal": 0.2634, "dominance": 0.2532}},
                     "fused": {"valence": 0.6771, "arousal": 0.5712, "dominance": 0.4772}},
        "applied": {}})
    text = make_emotion_results("emo", tmp_path / "RESULTS.md", category=cat, attributes=att, env=ENV,
                                fusion_weights=[f"fusion_interp={interp}", f"fusion_lr={logreg}",
                                                f"fusion_attr={attr}"])
    assert fusion_section(text, "## Fusion weights") == (
        "## Fusion weights\n\n"
        "Chosen by fuse_posteriors on the tuning set, as recorded in its weights.json. A fused system's "
        "scores on its own tuning set, and on sets that contain it (Dev_filt, Development), are optimistic "
        "(for the logistic regression they include its training data); "
        "the other sets are the fair comparison.\n\n"
        "### Categories: #3 fusion_interp\n\n"
        "- interpolation of the posteriors, grid step 0.05, tuned on 2400 utterances of data/dev_bal/utt2category "
        "(macro-F1)\n"
        "- weights: speech 0.55, text 0.45\n"
        "- tuning macro-F1: speech 0.297, text 0.311, fused 0.354\n"
        "- file: `fusion/fusion_interp/weights.json`\n\n"
        "### Categories: #4 fusion_lr\n\n"
        "- multinomial logistic regression, C=1.0, features log posteriors of speech and text (concatenated), "
        "trained on 2400 utterances of data/dev_bal/utt2category\n"
        "- macro-F1 on its training data: speech 0.297, text 0.311, fused 0.381\n"
        "- file: `fusion/fusion_lr/weights.json`\n\n"
        "### Attributes: #3 fusion_attr\n\n"
        "- interpolation of the attribute predictions, one weight vector per attribute, grid step 0.05, tuned on "
        "300 utterances of data/dev_bal/utt2attrs (CCC of each attribute)\n\n"
        "| Attribute | Weight speech_attr | Weight text_attr | Tuning CCC speech_attr | Tuning CCC text_attr | "
        "Tuning CCC fused |\n|---|---|---|---|---|---|\n"
        "| Valence | 0.45 | 0.55 | 0.6295 | 0.5932 | 0.6771 |\n"
        "| Arousal | 1.00 | 0.00 | 0.5712 | 0.2634 | 0.5712 |\n"
        "| Dominance | 1.00 | 0.00 | 0.4772 | 0.2532 | 0.4772 |\n\n"
        "- file: `fusion/fusion_attr/weights.json`\n")
    assert text.endswith("- file: `fusion/fusion_attr/weights.json`\n")


def test_fusion_weights_from_fuse_posteriors(tmp_path):
    """The section reads the keys fuse_posteriors really writes (interpolation, logreg, attributes)."""
    import numpy as np

    from voxrecipes.bin import fuse_posteriors
    from voxrecipes.data.posteriors import Posteriors, write_posteriors
    from voxrecipes.data.table import write_table

    rng = np.random.default_rng(0)
    utts = [f"u{i:03d}" for i in range(40)]
    y = np.arange(40) % 2
    files = []
    for k, sharp in enumerate((2.0, 1.0)):
        p = 1 / (1 + np.exp(-sharp * (2 * y - 1) - rng.normal(0, 1.5, 40)))
        files.append(tmp_path / f"sys{k}.txt")
        write_posteriors(files[-1], Posteriors(utts, ["A", "H"], np.column_stack([1 - p, p])))
    write_table(tmp_path / "utt2category", {u: "AH"[c] for u, c in zip(utts, y)})
    attrs = rng.uniform(1, 7, size=(40, 3))
    afiles = []
    for k in range(2):
        afiles.append(tmp_path / f"attr{k}.txt")
        pred = attrs + rng.normal(0, 1 + k, size=attrs.shape)
        write_posteriors(afiles[-1], Posteriors(utts, ["valence", "arousal", "dominance"], pred))
    write_table(tmp_path / "utt2attrs", {u: " ".join(f"{v:.4f}" for v in r) for u, r in zip(utts, attrs)})
    base = ["--system_names", "speech", "text", "--tune_labels"]
    for out, extra in (("fi", ["--method", "interpolation", "--tune", *map(str, files)]),
                       ("fl", ["--method", "logreg", "--tune", *map(str, files)]),
                       ("fa", ["--method", "interpolation", "--task", "attributes", "--tune", *map(str, afiles)])):
        labels = tmp_path / ("utt2attrs" if out == "fa" else "utt2category")
        run(fuse_posteriors.main, fuse_posteriors.get_parser(),
            [*extra, *base, str(labels), "--out_dir", str(tmp_path / out)])
    cat = [cat_metrics(tmp_path, n, "dev_bal", 0.3) for n in ("speech", "text", "fi", "fl")]
    att = [attr_metrics(tmp_path, n, "dev_bal", (0.5, 0.4, 0.3)) for n in ("speech", "text", "fa")]
    text = make_emotion_results("emo", tmp_path / "R.md", category=cat, attributes=att, env=ENV,
                                fusion_weights=[f"{n}={tmp_path / n / 'weights.json'}" for n in ("fi", "fl", "fa")])
    lines = fusion_section(text, "## Fusion weights").splitlines()
    fi = json.loads((tmp_path / "fi" / "weights.json").read_text())
    fl = json.loads((tmp_path / "fl" / "weights.json").read_text())
    fa = json.loads((tmp_path / "fa" / "weights.json").read_text())
    assert (f"- interpolation of the posteriors, grid step 0.05, tuned on 40 utterances of "
            f"{tmp_path / 'utt2category'} (macro-F1)") in lines
    assert f"- weights: speech {fi['weights']['speech']:.2f}, text {fi['weights']['text']:.2f}" in lines
    single = fi["tune_macro_f1"]["systems"]
    assert (f"- tuning macro-F1: speech {single['speech']:.3f}, text {single['text']:.3f}, "
            f"fused {fi['tune_macro_f1']['fused']:.3f}") in lines
    assert ("- multinomial logistic regression, C=1.0, features posteriors of speech and text (concatenated), "
            f"trained on 40 utterances of {tmp_path / 'utt2category'}") in lines
    assert f"- macro-F1 on its training data: speech {single['speech']:.3f}, text {single['text']:.3f}, " \
           f"fused {fl['tune_macro_f1']['fused']:.3f}" in lines
    w, c = fa["weights"]["valence"], fa["tune_ccc"]
    assert (f"| Valence | {w['speech']:.2f} | {w['text']:.2f} | {c['systems']['speech']['valence']:.4f} | "
            f"{c['systems']['text']['valence']:.4f} | {c['fused']['valence']:.4f} |") in lines
    assert "### Attributes: #3 fa" in lines and "- file: `fa/weights.json`" in lines


@pytest.mark.parametrize("option, spec, match", [
    ("fusion_checks", "fus", "--fusion_check must be FUSED_NAME=SYS1,SYS2,..."),
    ("fusion_checks", "fus=", "--fusion_check must be"),
    ("fusion_checks", "=a,b", "--fusion_check must be"),
    ("fusion_checks", "fus=a,,b", "--fusion_check must be"),
    ("fusion_checks", "fus=a=b", "--fusion_check must be"),
    ("fusion_checks", "fus=fus,a", "must be distinct and differ from the fused system 'fus'"),
    ("fusion_checks", "fus=a,a", "must be distinct"),
    ("modality_checks", "t", "--modality_check must be TEXT_ATTR_NAME=SPEECH_ATTR_NAME"),
    ("modality_checks", "t=", "--modality_check must be"),
    ("modality_checks", "=s", "--modality_check must be"),
    ("modality_checks", "t=s=x", "--modality_check must be"),
    ("modality_checks", "t=t", "the text and the speech system must differ"),
    ("fusion_weights", "fus", "--fusion_weights must be NAME=path/to/weights.json"),
    ("fusion_weights", "fus=", "--fusion_weights must be"),
    ("fusion_weights", "=w.json", "--fusion_weights must be"),
])
def test_bad_check_specs_are_config_errors(tmp_path, option, spec, match):
    cat = [cat_metrics(tmp_path, n, "dev_bal", 0.3) for n in ("a", "b", "fus")]
    with pytest.raises(ConfigError, match=match) as err:
        make_emotion_results("e", tmp_path / "R.md", category=cat, env=ENV, **{option: [spec]})
    assert f"'{spec}'" in str(err.value)
    assert not (tmp_path / "R.md").exists()


def test_unknown_names_in_checks_are_config_errors(tmp_path):
    cat = [cat_metrics(tmp_path, n, "dev_bal", 0.3) for n in ("a", "b", "fus")]
    att = [attr_metrics(tmp_path, n, "dev_bal", (0.5, 0.4, 0.3)) for n in ("va", "vb", "vfus")]
    kw = {"category": cat, "attributes": att, "env": ENV}
    out = tmp_path / "R.md"

    def fails(match: str, **options) -> None:
        with pytest.raises(ConfigError, match=match):
            make_emotion_results("e", out, **kw, **options)
        assert not out.exists()

    fails(r"--fusion_check zz=a,b: 'zz' is neither a --category system \(a, b, fus\) nor an --attributes system "
          r"\(va, vb, vfus\)", fusion_checks=["zz=a,b"])
    fails("--fusion_check fus=a,zz: 'zz' is not a --category system like 'fus' \\(a, b, fus\\)",
          fusion_checks=["fus=a,zz"])
    # a check may not mix the tables
    fails("--fusion_check vfus=va,b: 'b' is not a --attributes system like 'vfus'", fusion_checks=["vfus=va,b"])
    fails("'zz' is not an --attributes system \\(va, vb, vfus\\)", modality_checks=["zz=va"])
    fails("--modality_check va=a: 'a' is not an --attributes system", modality_checks=["va=a"])
    fails("--check_sets lists dev_bal more than once", fusion_checks=["fus=a,b"], check_sets=["dev_bal", "dev_bal"])
    fails("--check_sets needs at least one set", modality_checks=["va=vb"], check_sets=[])
    # names in both tables are ambiguous
    both = [cat_metrics(tmp_path / "x", n, "dev_bal", 0.3) for n in ("va", "vb", "vfus")]
    with pytest.raises(ConfigError, match="both --category and --attributes systems"):
        make_emotion_results("e", out, category=both, attributes=att, env=ENV, fusion_checks=["vfus=va,vb"])
    # ... unless only one table holds all of them
    text = make_emotion_results("e", out, category=both[:1] + cat, attributes=att, env=ENV,
                                fusion_checks=["vfus=va,vb"], check_sets=["dev_bal"])
    assert "### Attributes: #3 vfus (mean CCC)" in text
    out.unlink()

    weights = write_weights(tmp_path, "w", {"method": "interpolation", "task": "category", "systems": ["a", "b"],
                                            "tune_labels": "l", "num_tune": 3, "step": 0.05,
                                            "weights": {"a": 0.5, "b": 0.5}})
    fails("--fusion_weights zz=.*: 'zz' is not a --category system \\(a, b, fus\\)",
          fusion_weights=[f"zz={weights}"])
    fails("'vfus' is not a --category system .*is a --task category fusion", fusion_weights=[f"vfus={weights}"])
    fails("weights for 'fus' were already given", fusion_weights=[f"fus={weights}", f"fus={weights}"])


def test_bad_weights_json_is_data_error(tmp_path):
    cat = [cat_metrics(tmp_path, n, "dev_bal", 0.3) for n in ("a", "b", "fus")]
    good = {"method": "interpolation", "task": "category", "systems": ["a", "b"], "tune_labels": "l",
            "num_tune": 3, "step": 0.05, "weights": {"a": 0.5, "b": 0.5}}
    cases = [({k: v for k, v in good.items() if k != "num_tune"}, "missing keys num_tune"),
             ({**good, "method": "vote"}, "unknown method 'vote'"),
             ({**good, "method": "logreg"}, "missing keys C, features of --method logreg"),
             ({**good, "weights": {"a": 1.0}}, "'weights' must give a weight to each of a, b"),
             ({**good, "task": "attributes"}, "'weights' must give a weight to each of a, b per attribute"),
             ({**good, "systems": []}, "'systems' must be a non-empty list")]
    for i, (report, match) in enumerate(cases):
        path = write_weights(tmp_path, f"w{i}", report)
        with pytest.raises(DataError, match=match) as err:
            make_emotion_results("e", tmp_path / "R.md", category=cat, env=ENV, fusion_weights=[f"fus={path}"])
        assert str(err.value).startswith(f"{path}: ")
    missing = tmp_path / "none" / "weights.json"
    with pytest.raises(DataError, match="not found; run fuse_posteriors first"):
        make_emotion_results("e", tmp_path / "R.md", category=cat, env=ENV, fusion_weights=[f"fus={missing}"])
    assert not (tmp_path / "R.md").exists()


def test_cli_fusion_options(tmp_path, capsys):
    cat = [cat_metrics(tmp_path, n, s, f) for n, s, f in
           (("a", "dev_bal", 0.3), ("b", "dev_bal", 0.2), ("fus", "dev_bal", 0.4), ("fus", "test2", 0.1))]
    att = [attr_metrics(tmp_path, n, "test1", c) for n, c in (("t", (0.6, 0.2, 0.2)), ("s", (0.5, 0.5, 0.4)))]
    weights = write_weights(tmp_path, "w", {"method": "logreg", "task": "category", "systems": ["a", "b"],
                                            "tune_labels": "data/dev_bal/utt2category", "num_tune": 3, "C": 0.5,
                                            "features": "prob"})
    args = ["--title", "emo", "--out", str(tmp_path / "RESULTS.md")]
    for c in cat:
        args += ["--category", c]
    for a in att:
        args += ["--attributes", a]
    run(main, get_parser(), [*args, "--fusion_check", "fus=a,b", "--modality_check", "t=s",
                             "--fusion_weights", f"fus={weights}"])
    out = capsys.readouterr().out
    assert out == (tmp_path / "RESULTS.md").read_text()
    assert ("- dev_bal: #3 fus 0.400 vs #1 a 0.300: beats (+0.100); vs #2 b 0.200: beats (+0.200). "
            "Verdict: beats every single system\n- test1: not evaluated (no metrics for #3 fus)\n") in out
    assert "- dev_bal: not evaluated (no metrics for #1 t, #2 s)\n- test1: valence CCC text 0.6000" in out
    assert ("- multinomial logistic regression, C=0.5, features posteriors of a and b (concatenated), trained on 3 "
            "utterances of data/dev_bal/utt2category\n- file: `w/weights.json`\n") in out
    run(main, get_parser(), [*args, "--fusion_check", "fus=a,b", "--check_sets", "test2"])
    out = capsys.readouterr().out
    assert "on test2: categorical systems" in out and "- test2: not evaluated (no metrics for #1 a, #2 b)\n" in out
    with pytest.raises(SystemExit) as exit_info:
        run(main, get_parser(), [*args, "--fusion_check", "fus=a,zz"])
    assert exit_info.value.code == 1
    assert "ERROR: --fusion_check fus=a,zz: 'zz' is not a --category system like 'fus'" in capsys.readouterr().err


def test_notes_are_appended_verbatim_and_a_bad_notes_file_writes_nothing(tmp_path, capsys):
    cat = cat_metrics(tmp_path, "a", "dev_bal", 0.3)
    notes = tmp_path / "RESULTS_notes.md"
    notes.write_text("## Notes\n\nWritten by hand: *why* #1 wins.\n\n\n", encoding="utf-8")
    base = ["--title", "emo", "--category", cat, "--out"]
    run(main, get_parser(), [*base, str(tmp_path / "plain.md")])
    run(main, get_parser(), [*base, str(tmp_path / "RESULTS.md"), "--notes", str(notes)])
    plain = (tmp_path / "plain.md").read_text()
    with_notes = (tmp_path / "RESULTS.md").read_text()
    def undated(text: str) -> list[str]:
        return [line for line in text.splitlines() if not line.startswith("- date: ")]

    assert undated(with_notes) == undated(plain) + ["", "## Notes", "", "Written by hand: *why* #1 wins."]
    assert with_notes.endswith("wins.\n")
    capsys.readouterr()
    for bad, message in ((tmp_path / "missing.md", ": notes file not found"),
                         (tmp_path / "empty.md", ": notes file is empty"),
                         (tmp_path / "latin1.md", ":1: notes are not UTF-8 text")):
        if bad.name == "empty.md":
            bad.write_text(" \n")
        elif bad.name == "latin1.md":
            bad.write_bytes("caf\xe9".encode("latin-1"))
        with pytest.raises(SystemExit):
            run(main, get_parser(), [*base, str(tmp_path / "NEW.md"), "--notes", str(bad)])
        assert f"{bad}{message}" in capsys.readouterr().err
        assert not (tmp_path / "NEW.md").exists()
