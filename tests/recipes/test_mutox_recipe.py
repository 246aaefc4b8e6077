"""Recipe test: egs/mutox/tox1 end to end on a small generated MuTox-format corpus (generation to RESULTS.md).

The tiny random-init encoder (conf/train_toxicity_tiny.yaml), one system with contrastive text injection
(named as the baseline, so that one training covers stages 4-9), two epochs. It checks that every stage
runs with the recipe's binary classes (Toxic / No_Violation from run.sh, nothing 6-class), that the
undecided and audio-less rows of the TSV are left out and listed, and that the MuTox metrics (AUC, P/R/F1
at the dev-tuned threshold, per language, CIs) reach metrics.json and RESULTS.md. How well a model learns
is not tested here (the tiny encoder is far too small to learn words in seconds); the reference run with
the pretrained encoder is the recipe's RESULTS.md.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RECIPE = ROOT / "egs" / "mutox" / "tox1"
ARGS = ("--local_data_opts", "--mini true --num_utts 80 --seed 0", "--train_config", "conf/train_toxicity_tiny.yaml",
        "--systems", "injection:alpha=0.1,injection_loss=contrastive", "--baseline", "injection",
        "--train_args", "--max_epoch 2", "--num_bootstrap", "50")


@pytest.fixture(scope="module")
def finished_recipe(tmp_path_factory) -> Path:
    if shutil.which("espeak-ng") is None or shutil.which("sox") is None:
        pytest.skip("espeak-ng and sox are needed")
    recipe = tmp_path_factory.mktemp("mutox") / "tox1"
    shutil.copytree(RECIPE, recipe, symlinks=True, ignore=shutil.ignore_patterns("data", "exp", "dump", "downloads"))
    for link in ("tox.sh", "path.sh", "cmd.sh", "db.sh", "utils", "ablation.sh"):
        (recipe / link).unlink()
        (recipe / link).symlink_to((RECIPE / link).resolve())
    env = {k: v for k, v in os.environ.items() if k not in ("MUTOX_TSV", "MUTOX_AUDIO")}
    env["OMP_NUM_THREADS"] = "1"  # make test runs two halves side by side, one core each
    proc = subprocess.run(["./run.sh", *ARGS], cwd=recipe, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    return recipe


@pytest.mark.recipe
def test_data_and_scores(finished_recipe):
    recipe = finished_recipe
    tsv = (recipe / "downloads" / "mini_mutox" / "mutox.tsv").read_text(encoding="utf-8").splitlines()
    missing = sum(len((recipe / "data" / p / "missing_audio.txt").read_text().splitlines())
                  for p in ("train", "dev", "devtest"))
    kept = sum(len((recipe / "data" / p / "utt2spk").read_text().splitlines()) for p in ("train", "dev", "devtest"))
    undecided = sum("\tCannot say\t" in line.replace("Cannot Say", "Cannot say") for line in tsv)
    assert missing >= 1 and undecided >= 1 and kept <= len(tsv) - 1 - missing - undecided
    labels = {line.split()[1] for line in (recipe / "data" / "train" / "utt2labels").read_text().splitlines()}
    assert labels == {"Toxic", "No_Violation"}
    assert (recipe / "dump" / "text_emb" / "train" / "text_emb.scp").is_file()
    for system in ("injection",):
        exp = recipe / "exp" / f"train_{system}"
        scores = (exp / "decode_devtest" / "scores.txt").read_text().splitlines()
        assert scores[0] == "#classes Toxic No_Violation"
        assert len(scores) - 1 == len((recipe / "data" / "devtest" / "utt2spk").read_text().splitlines())
        hf = json.loads((exp / "hf" / "config.json").read_text())
        assert sorted(hf["id2label"].values()) == ["No_Violation", "Toxic"]


@pytest.mark.recipe
def test_mutox_metrics_and_results(finished_recipe):
    recipe = finished_recipe
    for system in ("injection",):
        dev = json.loads((recipe / "exp" / f"train_{system}" / "decode_dev" / "eval" / "metrics.json").read_text())
        test = json.loads((recipe / "exp" / f"train_{system}" / "decode_devtest" / "eval" / "metrics.json")
                          .read_text())
        assert test["classes"] == ["Toxic", "No_Violation"] and test["ap_classes"] == ["Toxic"]
        det = test["detection"]
        assert det["threshold"] == dev["detection"]["threshold"] and "decode_dev" in det["threshold_source"]
        assert set(det["per_language"]) == {"en", "es", "fr", "de", "pt"}
        assert det["ap"] == pytest.approx(test["ap"]["Toxic"])
        for name in ("auc", "ap", "f1"):
            if det[name] is not None and det[f"{name}_ci"] is not None:
                low, high = det[f"{name}_ci"]
                assert 0.0 <= low <= high <= 1.0
    results = (recipe / "RESULTS.md").read_text()
    assert "## Binary detection of Toxic (MuTox metrics)" in results
    assert "| Contrastive | 0.1 |" in results
    for header in ("AUC", "Precision", "Recall", "F1"):
        assert f"| {header} " in results
