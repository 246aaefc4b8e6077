"""make_emotion_results: exact Table 2/3 layouts, '-' cells, prior-correction verdicts, spec and input errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from voxrecipes.bin.make_emotion_results import get_parser, main
from voxrecipes.cli import run
from voxrecipes.errors import ConfigError, DataError
from voxrecipes.metrics.emotion_results import make_emotion_results, parse_prior_pair, parse_spec, prior_verdict

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
        "### Confusion matrices\n\n| ID | System | dev_filt | dev_bal | test1 |\n|---|---|---|---|---|\n"
        "| #1 | w2v | [confusion](exp/w2v/dev_filt/confusion.png) | - | - |\n"
        "| #2 | w2v_prior | - | [confusion](exp/w2v_prior/dev_bal/confusion.png) | "
        "[confusion](exp/w2v_prior/test1/confusion.png) |\n\n"
        "## Prior correction (dev_bal)\n\n"
        "Macro-F1 on dev_bal without and with the balanced (uniform) prior; the verdict compares the unrounded "
        "values.\n\n"
        "- #1 w2v -> #2 w2v_prior: macro-F1 0.169 -> 0.297 (+0.128): the balanced prior raised macro-F1\n")
    assert (tmp_path / "RESULTS.md").read_text() == text
    assert "Table 2" not in text


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
    assert "| #1 | w2v_attr | [scatter](../attr/w2v_attr/dev_bal/scatter.png) | - |" in lines


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
