"""Recipe test: the mini MSP-Podcast emotion recipe end to end (LoRA Wav2Vec2-BERT, backends, attributes, text, fusion).

As in SpeechBrain's recipe tests, the run must produce its expected files and a
metric above a floor. The recipe directory is made with the template's setup.sh
in a temporary place, then given the mini recipe's run.sh, local/ and conf/, so
the checked-in recipe directory stays clean. One run of the recipe is shared by
every test of this module; the tests that rerun stages do it in that same copy.

Two sizes, chosen with pytest's ``--recipe-size`` (tests/conftest.py):

- ``test`` (``make test``): every stage of the recipe on the same generated corpus (48
  voices: the speakers are what makes the results speaker-independent), with the
  test-size configs of ``conf/test/`` (fewer epochs; conf/test files differ from the
  recipe's only there, which ``test_test_configs_differ_only_in_epochs`` checks), the
  LLaMA text model only, and the corpus transcripts instead of ASR;
- ``full`` (``make test-recipes``): the recipe exactly as ``make demo`` runs it (its
  configs, both text models, Whisper ASR of every set), with the floors of the
  reference run.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
RECIPE = ROOT / "egs" / "mini_podcast" / "emo1"
CLASSES = "A S H U F D C N".split()
CHANCE_MACRO_F1 = 1 / len(CLASSES)
#: conf/test/<name> -> the keys (dotted) in which it may differ from conf/<name>
TEST_CONFIG_KEYS = {
    "train_emotion_category.yaml": {"max_epoch"},
    "train_emotion_attributes.yaml": {"max_epoch"},
    "train_emotion_attributes_finetune.yaml": {"max_epoch"},
    "train_text_llama_category.yaml": {"training_args.num_train_epochs"},
    "train_text_llama_attributes.yaml": {"training_args.num_train_epochs"},
}

# What each size runs, and the floors its metrics must beat. Chance macro-F1 over 8
# classes is 0.125. Arousal follows speed and loudness in the generated corpus, so audio
# must predict it; the transcripts carry category-flavoured adjectives and
# valence-bearing words, so text must predict categories and valence.
SIZES = {
    "test": {
        # The evaluation sets Dev_bal (the tuning set) and Test1 of the recipe's four: every stage
        # runs, with half the evaluation work (stage 15 evaluates every system and set in one
        # process). The corpus keeps its size: with 10 instead of 19 utterances per voice the
        # attribute model's arousal CCC (0.20) and the stats baseline (0.16 on Test1) fell to their floors.
        "args": ["--test_sets", "test1",
                 "--category_config", "conf/test/train_emotion_category.yaml",
                 "--attribute_config", "conf/test/train_emotion_attributes.yaml",
                 "--attribute_finetune_config", "conf/test/train_emotion_attributes_finetune.yaml",
                 "--text_conf_dir", "conf/test",
                 # The recipe transcribes every set with Whisper-base (run.sh: --asr_all_sets
                 # true), which alone would take minutes here; the test copies the corpus
                 # transcripts instead (stage 11's other branch). tests/models/test_asr.py
                 # tests the ASR; `make test-recipes` runs the recipe's own ASR.
                 "--asr_all_sets", "false"],
        # The LLaMA slot only: the RoBERTa slot (a packaged MiniLM fully finetuned) runs the same
        # stages and took 4.6 of the text side's 6.3 minutes; tests/models/test_text_classifier.py
        # builds and scores every mini text config.
        "text_models": ["llama"],
        "asr": False,
        "timeout": 1800,  # seconds for the whole run: 18 minutes on the busy shared machine
        "sets": ["dev_bal", "test1"],
        # Measured with these options (2026-12-02, two runs: 2 and 4 category epochs, both keeping
        # epoch 2): W2V-BERT mean over Dev_bal and Test1 0.31 (LDA/LR), 0.33 (balanced prior),
        # 0.29 (PLDA); Dev_bal arousal CCC 0.23 after the 2 epochs of the first attribute pass and
        # 0.55 after finetuning with the paper's linear head, 0.47 and 0.66 with the bounded head of
        # de32a2e; LLaMA text macro-F1 0.53-0.58, valence CCC 0.88; stats 0.3-0.4 (full corpus).
        "w2vbert_mean_macro_f1": 0.22,  # mean over the evaluation sets, each system
        "arousal_ccc": {"emotion_attributes": 0.15, "emotion_attributes_ft": 0.3},
        "text_macro_f1": 0.35,
        "text_valence_ccc": 0.5,
        "stats_macro_f1": 0.25,
    },
    "full": {
        "args": [],
        "text_models": ["llama", "roberta"],
        "asr": True,
        "timeout": 3 * 3600,  # the demo's 18 minutes and ASR, on a machine that may be busy
        "sets": ["dev_bal", "dev_filt", "test1", "test2"],
        # Reference run (RESULTS.md): W2V-BERT 0.39 (LDA/LR), 0.40 (balanced prior), 0.32 (PLDA);
        # the stats embeddings 0.3-0.4 on Test1; text 0.52-0.61 on dev_bal and test1, valence 0.88.
        "w2vbert_mean_macro_f1": 0.27,
        "arousal_ccc": {"emotion_attributes": 0.2, "emotion_attributes_ft": 0.2},
        "text_macro_f1": 0.35,
        "text_valence_ccc": 0.5,
        "stats_macro_f1": 0.25,
    },
}


def make_recipe_copy(dest: Path) -> Path:
    subprocess.run([str(ROOT / "egs" / "TEMPLATE" / "emo1" / "setup.sh"), str(dest)], check=True,
                   capture_output=True)
    shutil.copy2(RECIPE / "run.sh", dest / "run.sh")
    shutil.rmtree(dest / "local")
    shutil.copytree(RECIPE / "local", dest / "local")
    shutil.rmtree(dest / "conf")
    shutil.copytree(RECIPE / "conf", dest / "conf")
    return dest


def run_recipe(recipe: Path, *args: str, timeout: int = 1800) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "MSP_PODCAST"}
    return subprocess.run(["./run.sh", *args], cwd=recipe, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def size(recipe_size) -> dict:
    return SIZES[recipe_size]


def size_args(size: dict) -> list[str]:
    """The run.sh options of a size (repeated on every rerun, so that reruns see the same configs)."""
    return [*size["args"], "--text_models", " ".join(size["text_models"])]


@pytest.fixture(scope="module")
def finished_recipe(tmp_path_factory, size) -> Path:
    recipe = make_recipe_copy(tmp_path_factory.mktemp("recipe") / "emo1")
    proc = run_recipe(recipe, "--num_bootstrap", "200", *size_args(size), timeout=size["timeout"])
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return recipe


def _utts(path: Path) -> list[str]:
    return [line.split()[0] for line in path.read_text().splitlines() if line.strip()]


def _flatten(cfg: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in cfg.items():
        if isinstance(value, dict):
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


@pytest.mark.parametrize("name", sorted(TEST_CONFIG_KEYS))
def test_test_configs_differ_only_in_epochs(name):
    """conf/test/ is the recipe's conf/ with fewer epochs: the recipe test tests the recipe's models."""
    full = _flatten(yaml.safe_load((RECIPE / "conf" / name).read_text()))
    small = _flatten(yaml.safe_load((RECIPE / "conf" / "test" / name).read_text()))
    differ = {k for k in full.keys() | small.keys() if full.get(k, "<missing>") != small.get(k, "<missing>")}
    assert differ == TEST_CONFIG_KEYS[name]
    assert all(0 < small[k] < full[k] for k in differ)
    assert sorted(p.name for p in (RECIPE / "conf" / "test").glob("*.yaml")) == sorted(TEST_CONFIG_KEYS)


@pytest.mark.recipe
def test_recipe_writes_expected_files(finished_recipe, size):
    recipe = finished_recipe
    for dset in ["train", "development", "test1", "test2", "test3", "dev_filt", "dev_bal"]:
        assert (recipe / "data" / dset / "wav.scp").is_file()
    dev_bal = (recipe / "data" / "dev_bal" / "utt2category").read_text().split()[1::2]
    assert set(dev_bal) <= set(CLASSES) and max(dev_bal.count(c) for c in CLASSES) == 10
    header = (recipe / "dump" / "augment" / "noise.csv").read_text().splitlines()[0]
    assert header == "ID,duration,wav,wav_format,wav_opts"
    assert (recipe / "dump" / "augment" / "rir.csv").is_file()
    export = recipe / "exp" / "emotion_category" / "export"
    for name in ("config.json", "adapter_model.safetensors", "head.safetensors", "backbone.safetensors"):
        assert (export / name).is_file(), name
    assert json.loads((export / "config.json").read_text())["metadata"]["output_names"] == CLASSES + ["O", "X"]
    for dset in ["train", *size["sets"], "test3"]:
        utts = _utts(recipe / "data" / dset / "utt2spk")
        assert _utts(recipe / "dump" / "w2vbert_embedding" / dset / "embedding.scp") == utts
    backend = recipe / "exp" / "backend_lda_lr"
    assert (backend / "model" / "model.npz").is_file()
    assert "./emo.sh --nj 2 --attribute_bn_reestimate true --train_set train" in (backend / "run.sh.log").read_text()
    for dset in size["sets"]:
        for prior in ["train", "uniform"]:
            header = (backend / dset / f"posteriors_{prior}.txt").read_text().splitlines()[0]
            assert header.split()[0] == "#classes"
            assert (backend / dset / f"eval_{prior}" / "confusion.png").stat().st_size > 1000
        assert (recipe / "exp" / "backend_plda" / dset / "eval_flat" / "metrics.json").is_file()
    results = (recipe / "RESULTS.md").read_text()
    assert "Table 3 layout" in results and "Table 2 layout" in results
    assert "W2V-BERT + LDA/LR + balanced prior" in results and "W2V-BERT + PLDA" in results
    assert "finetuning on balanced data" in results
    # run.sh's --results_notes: the recipe's hand-written notes close RESULTS.md, as written in local/
    notes = (recipe / "local" / "RESULTS_notes.md").read_text()
    assert results.endswith("\n\n" + notes.rstrip("\n") + "\n")
    assert "the balanced prior raised macro-F1" in results or "the balanced prior did not raise macro-F1" in results


@pytest.mark.recipe
def test_test3_submission_files(finished_recipe):
    out = finished_recipe / "exp" / "submission" / "test3"
    n_utts = len(_utts(finished_recipe / "data" / "test3" / "utt2spk"))
    categories = (out / "categories.csv").read_text().splitlines()
    assert categories[0] == "FileName,EmoClass" and len(categories) == n_utts + 1
    assert all(row.split(",")[1] in CLASSES for row in categories[1:])
    attributes = (out / "attributes.csv").read_text().splitlines()
    assert attributes[0] == "FileName,EmoAct,EmoVal,EmoDom" and len(attributes) == n_utts + 1
    values = [float(v) for row in attributes[1:] for v in row.split(",")[1:]]
    assert min(values) >= 1.0 and max(values) <= 7.0


@pytest.mark.recipe
@pytest.mark.parametrize("system", ["backend_lda_lr/{}/eval_train", "backend_lda_lr/{}/eval_uniform",
                                    "backend_plda/{}/eval_flat"])
def test_recipe_macro_f1_above_floor(finished_recipe, size, system):
    values = []
    for dset in size["sets"]:
        metrics = json.loads((finished_recipe / "exp" / system.format(dset) / "metrics.json").read_text())
        assert metrics["classes"] == CLASSES
        low, high = metrics["macro_f1_ci"]
        assert low <= metrics["macro_f1"] <= high
        assert metrics["macro_f1"] > CHANCE_MACRO_F1, dset
        values.append(metrics["macro_f1"])
    assert sum(values) / len(values) > size["w2vbert_mean_macro_f1"], values


@pytest.mark.recipe
@pytest.mark.parametrize("model", ["emotion_attributes", "emotion_attributes_ft"])
def test_attribute_models_predict_arousal(finished_recipe, size, model):
    metrics = json.loads((finished_recipe / "exp" / model / "dev_bal" / "eval" / "metrics.json").read_text())
    assert metrics["ccc"]["arousal"] > size["arousal_ccc"][model]
    lines = (finished_recipe / "exp" / model / "test1" / "attributes.txt").read_text().splitlines()
    assert lines[0] == "#classes valence arousal dominance"
    values = [float(v) for line in lines[1:] for v in line.split()[1:]]
    assert min(values) >= 1.0 and max(values) <= 7.0


@pytest.mark.recipe
def test_text_side_files(finished_recipe, size):
    recipe = finished_recipe
    for dset in ["train", *size["sets"], "test3"]:
        text = recipe / "dump" / "text" / dset / "text"
        if size["asr"]:  # the recipe's ASR transcribed every set; the file names the ASR system
            assert _utts(text) == _utts(recipe / "data" / dset / "utt2spk")
            assert (recipe / "dump" / "text" / dset / "asr_model").read_text().strip()
        else:  # every mini set has corpus transcripts: without --asr_all_sets the stage copies them
            assert text.read_text() == (recipe / "data" / dset / "text").read_text()
    for model in size["text_models"]:
        exp = recipe / "exp" / f"text_{model}_category"
        assert (exp / "model").is_dir() and "train_text_classifier" in (exp / "train.log").read_text()
        for dset in [*size["sets"], "test3"]:
            utts = _utts(recipe / "data" / dset / "utt2spk")
            for prior in ["train", "uniform"]:
                lines = (exp / dset / f"posteriors_{prior}.txt").read_text().splitlines()
                assert lines[0] == "#classes " + " ".join(CLASSES)
                assert [line.split()[0] for line in lines[1:]] == utts
            raw = (exp / dset / "posteriors_train.txt").read_text()
            assert raw != (exp / dset / "posteriors_uniform.txt").read_text()
        lines = (recipe / "exp" / f"text_{model}_attributes" / "test1" / "attributes.txt").read_text().splitlines()
        assert lines[0] == "#classes valence arousal dominance"


@pytest.mark.recipe
def test_text_models_learn_from_transcripts(finished_recipe, size):
    for model in size["text_models"]:
        for dset in ["dev_bal", "test1"]:
            for prior in ["train", "uniform"]:
                path = finished_recipe / "exp" / f"text_{model}_category" / dset / f"eval_{prior}" / "metrics.json"
                assert json.loads(path.read_text())["macro_f1"] > size["text_macro_f1"], (model, dset, prior)
        metrics = json.loads((finished_recipe / "exp" / f"text_{model}_attributes" / "dev_bal" / "eval" /
                              "metrics.json").read_text())
        assert metrics["ccc"]["valence"] > size["text_valence_ccc"], model


@pytest.mark.recipe
def test_fusion_outputs_and_report(finished_recipe, size):
    recipe = finished_recipe
    exp = recipe / "exp"

    def macro_f1(system: str, dset: str) -> float:
        return json.loads((exp / system.format(dset) / "metrics.json").read_text())["macro_f1"]

    # On the tuning set the grid contains each single system (weights 0 and 1), so the
    # interpolation is at least as good as the best of them there.
    singles = [macro_f1("backend_lda_lr/{}/eval_uniform", "dev_bal"),
               macro_f1("text_llama_category/{}/eval_uniform", "dev_bal")]
    assert macro_f1("fusion_interpolation/{}/eval", "dev_bal") >= max(singles) - 1e-9
    weights = json.loads((exp / "fusion_interpolation" / "weights.json").read_text())
    assert weights["systems"] == ["backend_lda_lr/uniform", "text_llama_category/uniform"]
    assert abs(sum(weights["weights"].values()) - 1.0) < 1e-9
    assert (exp / "fusion_logreg" / "model").is_dir()
    for dset in [*size["sets"], "test3"]:
        utts = _utts(recipe / "data" / dset / "utt2spk")
        for method in ["interpolation", "logreg"]:
            assert _utts(exp / f"fusion_{method}" / dset / "posteriors.txt")[1:] == utts
        assert _utts(exp / "fusion_attributes" / dset / "attributes.txt")[1:] == utts
    attr_weights = json.loads((exp / "fusion_attributes" / "weights.json").read_text())
    assert set(attr_weights["weights"]) == {"valence", "arousal", "dominance"}
    results = (recipe / "RESULTS.md").read_text()
    for name in ["LLaMA text + balanced prior", "## Fusion weights", "Fusion: interpolation per attribute ("]:
        assert name in results, name
    # Which modality leads on which attribute is measured, not built in: the verdict must be
    # there for each check set, whichever way it goes (the test size's speech model, 4 epochs
    # in all, did not lead on arousal; the demo's did).
    for dset in ["dev_bal", "test1"]:
        assert re.search(rf"^- {dset}: valence CCC text .*: text (leads|does not lead) .*; arousal CCC speech "
                         r".*: speech (leads|does not lead) ", results, re.M), dset
    # The fusions name the RESULTS.md IDs of the systems they fuse: the LDA/LR with the
    # balanced prior (#2) and the first text model with the prior fix (#5).
    for name in ["Fusion: interpolation (#2 + #5)", "Fusion: logreg (#2 + #5)"]:
        assert name in results, name


@pytest.mark.recipe
def test_rerunning_finished_stages_is_safe(finished_recipe, size):
    before = (finished_recipe / "exp" / "backend_lda_lr" / "test1" / "posteriors_uniform.txt").read_text()
    proc = run_recipe(finished_recipe, "--stage", "5", "--stop_stage", "5", *size_args(size))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "exp/emotion_category/export exists, skipped" in proc.stdout + proc.stderr
    proc = run_recipe(finished_recipe, "--stage", "7", "--stop_stage", "8", *size_args(size))
    assert proc.returncode == 0, proc.stderr[-3000:]
    proc = run_recipe(finished_recipe, "--stage", "11", "--stop_stage", "12", *size_args(size))
    assert proc.returncode == 0, proc.stderr[-3000:]
    if size["asr"]:
        assert "dump/text/test1/text was transcribed by" in proc.stdout + proc.stderr
    else:
        assert "data/test1/text (the corpus transcripts) -> dump/text/test1/text" in proc.stdout + proc.stderr
    assert "exp/text_llama_attributes/model exists, skipped" in proc.stdout + proc.stderr
    after = (finished_recipe / "exp" / "backend_lda_lr" / "test1" / "posteriors_uniform.txt").read_text()
    assert before == after


@pytest.mark.recipe
def test_stats_embedding_baseline(finished_recipe, size):
    """The log-mel statistics path of the same stages (3, 6-8, 15), on the same data dirs and two sets."""
    proc = run_recipe(finished_recipe, "--embedding_type", "stats", "--stage", "3", "--stop_stage", "15",
                      "--dumpdir", "dump_stats", "--expdir", "exp_stats", "--num_bootstrap", "50",
                      "--test_sets", "test1", "--submission_sets", "", "--text_models", "")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    for system in ("backend_lda_lr/test1/eval_uniform", "backend_plda/test1/eval_flat"):
        metrics = json.loads((finished_recipe / "exp_stats" / system / "metrics.json").read_text())
        assert metrics["macro_f1"] > size["stats_macro_f1"]
    assert not (finished_recipe / "exp_stats" / "emotion_attributes").exists()


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
