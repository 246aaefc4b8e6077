"""Recipe test: the mini MSP-Podcast emotion recipe end to end at a small size.

As in SpeechBrain's recipe tests, the run must produce its expected files and a
metric above a floor. The recipe directory is made with the template's setup.sh
in a temporary place, then given the mini recipe's run.sh, local/ and conf/, so
the checked-in recipe directory stays clean.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RECIPE = ROOT / "egs" / "mini_podcast" / "emo1"
CLASSES = "A S H U F D C N".split()
# Chance macro-F1 over 8 classes is 0.125; the stats-embedding backend reaches
# about 0.3-0.4 on Test1 (speakers unseen in training).
MACRO_F1_FLOOR = 0.25


def make_recipe_copy(dest: Path) -> Path:
    subprocess.run([str(ROOT / "egs" / "TEMPLATE" / "emo1" / "setup.sh"), str(dest)], check=True,
                   capture_output=True)
    shutil.copy2(RECIPE / "run.sh", dest / "run.sh")
    shutil.rmtree(dest / "local")
    shutil.copytree(RECIPE / "local", dest / "local")
    shutil.rmtree(dest / "conf")
    shutil.copytree(RECIPE / "conf", dest / "conf")
    return dest


def run_recipe(recipe: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "MSP_PODCAST"}
    return subprocess.run(["./run.sh", *args], cwd=recipe, env=env, capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module")
def finished_recipe(tmp_path_factory) -> Path:
    recipe = make_recipe_copy(tmp_path_factory.mktemp("recipe") / "emo1")
    # The corpus at its default size: fewer voices leave too few training speakers
    # for speaker-independent results, and generation takes only ~20 s.
    proc = run_recipe(recipe, "--num_bootstrap", "200")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return recipe


@pytest.mark.recipe
def test_recipe_writes_expected_files(finished_recipe):
    recipe = finished_recipe
    for dset in ["train", "development", "test1", "test2", "test3", "dev_filt", "dev_bal"]:
        assert (recipe / "data" / dset / "wav.scp").is_file()
    dev_bal = (recipe / "data" / "dev_bal" / "utt2category").read_text().split()[1::2]
    assert set(dev_bal) <= set(CLASSES) and max(dev_bal.count(c) for c in CLASSES) == 10
    for dset in ["train", "dev_bal", "dev_filt", "test1", "test2"]:
        n_utts = len((recipe / "data" / dset / "utt2spk").read_text().splitlines())
        feats = (recipe / "dump" / "fbank" / dset / "feats.scp").read_text().splitlines()
        embs = (recipe / "dump" / "stats_embedding" / dset / "embedding.scp").read_text().splitlines()
        assert len(feats) == len(embs) == n_utts
    backend = recipe / "exp" / "backend_lda_lr"
    assert (backend / "model" / "model.npz").is_file()
    assert "./emo.sh --nj 2 --train_set train" in (backend / "run.sh.log").read_text()
    for dset in ["dev_bal", "dev_filt", "test1", "test2"]:
        for prior in ["train", "uniform"]:
            header = (backend / dset / f"posteriors_{prior}.txt").read_text().splitlines()[0]
            assert header.split()[0] == "#classes"
            assert (backend / dset / f"eval_{prior}" / "confusion.png").stat().st_size > 1000
    plda = recipe / "exp" / "backend_plda"
    assert (plda / "model" / "plda.npz").is_file()
    for dset in ["dev_bal", "dev_filt", "test1", "test2"]:
        assert (plda / dset / "eval_flat" / "metrics.json").is_file()
    results = (recipe / "RESULTS.md").read_text()
    assert "balanced prior" in results and "| dev_bal |" in results and "+ PLDA |" in results


@pytest.mark.recipe
@pytest.mark.parametrize("system", ["backend_lda_lr/test1/eval_uniform", "backend_plda/test1/eval_flat"])
def test_recipe_macro_f1_above_floor(finished_recipe, system):
    metrics = json.loads((finished_recipe / "exp" / system / "metrics.json").read_text())
    assert metrics["classes"] == CLASSES
    assert metrics["macro_f1"] > MACRO_F1_FLOOR
    low, high = metrics["macro_f1_ci"]
    assert low <= metrics["macro_f1"] <= high


@pytest.mark.recipe
def test_rerunning_a_finished_stage_is_safe(finished_recipe):
    before = (finished_recipe / "exp" / "backend_lda_lr" / "test1" / "posteriors_uniform.txt").read_text()
    proc = run_recipe(finished_recipe, "--stage", "5", "--stop_stage", "6")
    assert proc.returncode == 0, proc.stderr[-3000:]
    after = (finished_recipe / "exp" / "backend_lda_lr" / "test1" / "posteriors_uniform.txt").read_text()
    assert before == after


@pytest.mark.recipe
def test_corrupt_audio_stops_the_recipe_with_file_and_line(finished_recipe, tmp_path):
    recipe = finished_recipe
    wav_scp = (recipe / "data" / "test2" / "wav.scp").read_text().splitlines()
    key, path = wav_scp[2].split(maxsplit=1)
    saved = Path(path).read_bytes()
    try:
        Path(path).write_bytes(b"RIFF not a wav file")
        proc = run_recipe(recipe, "--stage", "2", "--stop_stage", "2", "--check_audio", "true")
        assert proc.returncode != 0
        assert "data/test2/wav.scp:3:" in proc.stdout + proc.stderr
    finally:
        Path(path).write_bytes(saved)
