"""The system registry: stages record systems in exp/*/system.json; listing, names and RESULTS.md come from it.

The RESULTS.md the registry builds must equal the one built from the NAME=SET=PATH specs that
emo.sh wrote before the registry (its names, prior pairs, fusion and modality checks, weights),
on an exp/ laid out as the recipe lays it out.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from voxrecipes.bin import list_systems, make_emotion_results, register_system
from voxrecipes.cli import run
from voxrecipes.errors import ConfigError, DataError
from voxrecipes.metrics.emotion_registry import results_from_registry
from voxrecipes.metrics.emotion_results import make_emotion_results as from_specs
from voxrecipes.registry import DISPLAY_NAMES, scan, table_ids

ENV = {"date": "D", "git commit": "abc"}
SETS = ["dev_bal", "test1"]
INFER = [*SETS, "test3"]
NAMES = ("valence", "arousal", "dominance")

#: (dir, kind, role, type, variant, position, output pattern, extra register_system options)
SYSTEMS = [
    ("backend_lda_lr", "category", "speech", "lda_lr", "train", 1, "{set}/posteriors_train.txt", []),
    ("backend_lda_lr", "category", "speech", "lda_lr", "uniform", 2, "{set}/posteriors_uniform.txt", []),
    ("backend_plda", "category", "speech", "plda", "flat", 3, "{set}/posteriors_flat.txt", []),
    ("text_llama_category", "category", "text", "text", "train", 1, "{set}/posteriors_train.txt",
     ["--text_model", "llama"]),
    ("text_llama_category", "category", "text", "text", "uniform", 1, "{set}/posteriors_uniform.txt",
     ["--text_model", "llama"]),
    ("fusion_interpolation", "category", "fusion", "interpolation", "", 1, "{set}/posteriors.txt",
     ["--fused_from", "backend_lda_lr/uniform", "text_llama_category/uniform", "--weights", "weights.json"]),
    ("fusion_logreg", "category", "fusion", "logreg", "", 2, "{set}/posteriors.txt",
     ["--fused_from", "backend_lda_lr/uniform", "text_llama_category/uniform", "--weights", "weights.json"]),
    ("emotion_attributes", "attributes", "speech", "emotion_attributes", "", 1, "{set}/attributes.txt", []),
    ("emotion_attributes_ft", "attributes", "speech", "emotion_attributes_ft", "", 2, "{set}/attributes.txt", []),
    ("text_llama_attributes", "attributes", "text", "text", "", 1, "{set}/attributes.txt",
     ["--text_model", "llama"]),
    ("fusion_attributes", "attributes", "fusion", "interpolation", "", 1, "{set}/attributes.txt",
     ["--fused_from", "emotion_attributes_ft", "text_llama_attributes", "--weights", "weights.json"]),
]


def _metrics(kind: str, seed: float) -> dict:
    if kind == "category":
        per_class = {"A": 0.3 + seed / 10, "H": 0.2 + seed / 20}
        return {"classes": list(per_class), "num_utts": 120, "macro_f1": 0.2 + seed / 10,
                "macro_f1_ci": [0.15 + seed / 10, 0.25 + seed / 10], "per_class_f1": per_class,
                "confusion_png": "confusion.png", "num_bootstrap": 200}
    ccc = [0.1 + seed / 10, 0.3 - seed / 20, 0.2]
    return {"attributes": list(NAMES), "num_utts": 300, "ccc": dict(zip(NAMES, ccc)),
            "ccc_ci": {n: [v - 0.05, v + 0.05] for n, v in zip(NAMES, ccc)}, "ccc_mean": sum(ccc) / 3,
            "ccc_mean_ci": [sum(ccc) / 3 - 0.03, sum(ccc) / 3 + 0.03], "num_predictions_outside_scale": 0,
            "num_bootstrap": 200, "scatter_png": "scatter.png"}


def _weights(method: str, task: str, systems: list[str]) -> dict:
    report = {"method": method, "task": task, "systems": systems, "tune_labels": "data/dev_bal/utt2category",
              "num_tune": 80}
    if method == "logreg":
        return {**report, "C": 1.0, "features": "log"}
    weights = {systems[0]: 0.4, systems[1]: 0.6}
    return {**report, "step": 0.05, "weights": {n: weights for n in NAMES} if task == "attributes" else weights}


@pytest.fixture(scope="module")
def exp(tmp_path_factory) -> Path:
    """An exp/ as the recipe leaves it: outputs, registrations (through the CLI) and evaluations."""
    exp = tmp_path_factory.mktemp("recipe") / "exp"
    for n, (dir_name, kind, role, type_, variant, position, pattern, extra) in enumerate(SYSTEMS):
        for set_name in INFER:
            out = exp / dir_name / pattern.replace("{set}", set_name)
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text("#classes A H\n")
            if set_name in SETS:
                eval_dir = exp / dir_name / set_name / (f"eval_{variant}" if variant else "eval")
                eval_dir.mkdir(parents=True, exist_ok=True)
                (eval_dir / "metrics.json").write_text(json.dumps({"set": set_name, **_metrics(kind, n / 11)}))
        if role == "fusion":
            members = extra[1:3]
            (exp / dir_name / "weights.json").write_text(json.dumps(_weights(type_, kind, members)))
        run(register_system.main, register_system.get_parser(),
            ["--exp_dir", str(exp), "--dir", dir_name, "--variant", variant, "--kind", kind, "--role", role,
             "--type", type_, "--position", str(position), "--sets", *INFER, "--output_pattern", pattern,
             "--embedding_type", "w2vbert", *extra])
    return exp


def _old_emo_sh_specs(exp: Path) -> dict:
    """What emo.sh passed to make_emotion_results before the registry, for this exp/ (names written out)."""
    cat = [("W2V-BERT + LDA/LR", "backend_lda_lr", "eval_train"),
           ("W2V-BERT + LDA/LR + balanced prior", "backend_lda_lr", "eval_uniform"),
           ("W2V-BERT + PLDA", "backend_plda", "eval_flat"),
           ("LLaMA text", "text_llama_category", "eval_train"),
           ("LLaMA text + balanced prior", "text_llama_category", "eval_uniform"),
           ("Fusion: interpolation (#2 + #5)", "fusion_interpolation", "eval"),
           ("Fusion: logreg (#2 + #5)", "fusion_logreg", "eval")]
    att = [("W2V-BERT", "emotion_attributes"), ("W2V-BERT + finetuning on balanced data", "emotion_attributes_ft"),
           ("LLaMA text", "text_llama_attributes"), ("Fusion: interpolation per attribute (#2 + #3)",
                                                     "fusion_attributes")]
    return {
        "category": [f"{name}={s}={exp / d / s / e / 'metrics.json'}" for name, d, e in cat for s in SETS],
        "attributes": [f"{name}={s}={exp / d / s / 'eval' / 'metrics.json'}" for name, d in att for s in SETS],
        "prior_pairs": ["W2V-BERT + LDA/LR=W2V-BERT + LDA/LR + balanced prior",
                        "LLaMA text=LLaMA text + balanced prior"],
        "fusion_checks": ["Fusion: interpolation (#2 + #5)=W2V-BERT + LDA/LR + balanced prior,"
                          "LLaMA text + balanced prior",
                          "Fusion: logreg (#2 + #5)=W2V-BERT + LDA/LR + balanced prior,LLaMA text + balanced prior",
                          "Fusion: interpolation per attribute (#2 + #3)=W2V-BERT + finetuning on balanced data,"
                          "LLaMA text"],
        "modality_checks": ["LLaMA text=W2V-BERT + finetuning on balanced data"],
        "fusion_weights": [f"Fusion: interpolation (#2 + #5)={exp / 'fusion_interpolation' / 'weights.json'}",
                           f"Fusion: logreg (#2 + #5)={exp / 'fusion_logreg' / 'weights.json'}",
                           "Fusion: interpolation per attribute (#2 + #3)="
                           f"{exp / 'fusion_attributes' / 'weights.json'}"],
    }


def test_registry_results_equal_the_old_spec_results(exp):
    out = exp.parent / "RESULTS.md"
    old = from_specs("emo", exp.parent / "RESULTS_old.md", sets=SETS, prior_set="dev_bal", check_sets=SETS,
                     env=ENV, **_old_emo_sh_specs(exp))
    new = results_from_registry("emo", out, exp, SETS, prior_set="dev_bal", check_sets=SETS, env=ENV)
    assert new == old
    assert "| #5 | LLaMA text + balanced prior |" in new and "Fusion: logreg (#2 + #5)" in new
    assert out.read_text() == new


def test_scan_order_ids_and_files(exp):
    systems = scan(exp)
    assert [s.id for s in systems] == [
        "backend_lda_lr/train", "backend_lda_lr/uniform", "backend_plda/flat", "text_llama_category/train",
        "text_llama_category/uniform", "fusion_interpolation", "fusion_logreg", "emotion_attributes",
        "emotion_attributes_ft", "text_llama_attributes", "fusion_attributes"]
    ids = table_ids(systems)
    assert ids["fusion_logreg"] == "#7" and ids["fusion_attributes"] == "#4"
    record = json.loads((exp / "backend_lda_lr" / "system.json").read_text())
    assert record["format"] == 1 and [r["id"] for r in record["systems"]] == ["backend_lda_lr/train",
                                                                               "backend_lda_lr/uniform"]
    assert record["systems"][1]["outputs"]["test3"] == "test3/posteriors_uniform.txt"
    assert record["systems"][1]["embedding"] == "W2V-BERT"


def test_renaming_a_row_is_one_table_entry(exp, monkeypatch):
    monkeypatch.setitem(DISPLAY_NAMES, ("category", "plda", "flat"), "{embedding} + Gaussian PLDA")
    text = results_from_registry("emo", exp.parent / "RESULTS_renamed.md", exp, SETS, env=ENV, check_sets=SETS)
    assert "| #3 | W2V-BERT + Gaussian PLDA |" in text and "W2V-BERT + PLDA" not in text


def test_list_systems_cli(exp, capsys):
    run(list_systems.main, list_systems.get_parser(), ["--exp_dir", str(exp), "--sets", "test1", "--kind",
                                                       "attributes"])
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split("\t") == ["emotion_attributes", "attributes", "test1",
                                    str(exp / "emotion_attributes" / "test1" / "attributes.txt"),
                                    str(exp / "emotion_attributes" / "test1" / "eval")]
    assert len(lines) == 4
    run(list_systems.main, list_systems.get_parser(),
        ["--exp_dir", str(exp), "--ids", "text_llama_category/uniform", "backend_lda_lr/uniform", "--sets", "test3",
         "--field", "output"])
    assert capsys.readouterr().out.splitlines() == [
        str(exp / "text_llama_category" / "test3" / "posteriors_uniform.txt"),
        str(exp / "backend_lda_lr" / "test3" / "posteriors_uniform.txt")]
    with pytest.raises(SystemExit) as exit_info:
        run(list_systems.main, list_systems.get_parser(),
            ["--exp_dir", str(exp), "--ids", "backend_lda_lr/flat", "--sets", "test1"])
    assert exit_info.value.code == 1
    assert "no system backend_lda_lr/flat registered under" in capsys.readouterr().err


def test_make_emotion_results_cli_with_exp_dir(exp, capsys):
    out = exp.parent / "RESULTS_cli.md"
    run(make_emotion_results.main, make_emotion_results.get_parser(),
        ["--title", "emo", "--exp_dir", str(exp), "--sets", *SETS, "--check_sets", *SETS, "--out", str(out)])
    assert "| #9 | Fusion: logreg (#2 + #5) |" not in out.read_text()  # the category table has 7 rows
    assert "| #7 | Fusion: logreg (#2 + #5) |" in out.read_text()
    with pytest.raises(SystemExit):
        run(make_emotion_results.main, make_emotion_results.get_parser(),
            ["--title", "emo", "--exp_dir", str(exp), "--sets", *SETS, "--category", "a=b=c", "--out", str(out)])
    assert "--exp_dir takes the systems from the registry; drop --category" in capsys.readouterr().err


def test_register_refuses_missing_outputs_and_bad_files(tmp_path, exp):
    with pytest.raises(SystemExit):
        run(register_system.main, register_system.get_parser(),
            ["--exp_dir", str(tmp_path), "--dir", "backend_x", "--kind", "category", "--role", "speech",
             "--type", "x", "--sets", "dev_bal", "--output_pattern", "{set}/posteriors.txt"])
    assert not (tmp_path / "backend_x" / "system.json").exists()
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "system.json").write_text("{\"systems\": 3}")
    with pytest.raises(DataError, match=r"broken/system.json: not a system registry file"):
        scan(tmp_path)
    with pytest.raises(ConfigError, match="no system registered under"):
        results_from_registry("emo", tmp_path / "R.md", tmp_path / "empty", SETS)
