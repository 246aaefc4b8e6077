"""The MSP-Podcast emotion task: dump, crops, collation, metrics, data checks, ESPnet category and attribute runs.

Emotions are tones: each of the four emotion classes present (A S H N) has its own
pitch, O is another pitch and X (no agreement) mixes two emotion tones; valence,
arousal and dominance follow the class (so the attribute model can learn them from
the pitch). The class list is the paper's ``A S H U F D C N O X``, with U F D C absent.
The backbone is a one-layer Wav2Vec2-BERT with random weights; the ESPnet runs are
subprocesses (each spends most of its time importing ESPnet), the inference command
lines run in this process.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
import yaml

from voxrecipes.data.datadir import write_data_dir
from voxrecipes.data.dump import dump_audio
from voxrecipes.errors import ConfigError, DataError

SR = 16000
CLASSES = ["A", "S", "H", "U", "F", "D", "C", "N", "O", "X"]
F1_CLASSES = CLASSES[:8]
TONES = {"A": 300.0, "S": 650.0, "H": 1100.0, "N": 1800.0, "O": 2700.0}
X_TONES = (300.0, 1100.0)
# valence, arousal, dominance of each class (1-7 scale); utterances get +-0.3 around them
ATTRS = {"A": (2.5, 6.0, 5.5), "S": (2.0, 2.5, 2.5), "H": (6.0, 5.0, 4.5), "N": (4.0, 3.5, 4.0),
         "O": (4.0, 4.0, 4.0), "X": (3.5, 4.5, 4.0)}
# utterance i gets PATTERN[i % len(PATTERN)]: four emotions twice as often as O and X
PATTERN = ["A", "S", "H", "N", "A", "S", "H", "N", "O", "X"]
TINY_W2VBERT = {"hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 64,
                "output_hidden_size": 32, "conv_depthwise_kernel_size": 3, "mask_time_prob": 0.0, "layerdrop": 0.0}


def tone(category: str, seconds: float, rng: np.random.Generator) -> np.ndarray:
    """Bursts of the class's tone(s) (4-6 a second) alternating with bursts of broadband noise.

    The Wav2Vec2-BERT features are normalised per mel bin over time, which flattens a
    steady tone; with the noise in the gaps, the tone's bins rise when all the others
    fall, so every frame shows which bins are the tone's.
    """
    t = np.arange(int(round(seconds * SR))) / SR
    freqs = X_TONES if category == "X" else (TONES[category],)
    envelope = (np.sin(2 * np.pi * rng.uniform(4, 6) * t + rng.uniform(0, 2 * np.pi)) > -0.2).astype(float)
    wave = (0.003 + 0.05 * (1 - envelope)) * rng.standard_normal(len(t))
    for f in freqs:
        wave += envelope * rng.uniform(0.2, 0.4) * np.sin(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi))
    return wave.astype(np.float32)


def make_data_dir(root: Path, name: str, n: int, seed: int, durations=(1.5, 3.0)) -> Path:
    """``n`` tone utterances with wav.scp, utt2spk, spk2utt, utt2category and utt2attrs."""
    rng = np.random.default_rng(seed)
    data = root / name
    audio = root / "audio" / name
    audio.mkdir(parents=True, exist_ok=True)
    wav_scp, utt2spk, utt2category, utt2attrs = {}, {}, {}, {}
    for i in range(n):
        spk = f"spk{i % 3}"
        utt = f"{spk}-{name}{i:03d}"
        category = PATTERN[i % len(PATTERN)]
        path = audio / f"{utt}.wav"
        sf.write(path, tone(category, rng.uniform(*durations), rng), SR)
        wav_scp[utt], utt2spk[utt], utt2category[utt] = str(path), spk, category
        utt2attrs[utt] = tuple(np.clip(np.array(ATTRS[category]) + rng.uniform(-0.3, 0.3, 3), 1, 7).round(2))
    write_data_dir(data, wav_scp=wav_scp, utt2spk=utt2spk, utt2category=utt2category, utt2attrs=utt2attrs)
    return data


def read_pairs(path: Path) -> list[tuple[str, str]]:
    return [tuple(line.split(maxsplit=1)) for line in Path(path).read_text().splitlines()]


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


# ------------------------------------------------------------------------------------------------------------ dump

def test_dump_category_indices_category2utt_and_attributes(tmp_path):
    data = make_data_dir(tmp_path, "train", 12, seed=0)
    info = dump_audio(data, tmp_path / "dump", category_classes=CLASSES, progress=False)
    dump = tmp_path / "dump"
    source = read_pairs(data / "utt2category")
    # one line per utterance, in order, with the index of its class in CLASSES
    assert read_pairs(dump / "category") == [(u, str(CLASSES.index(c))) for u, c in source]
    assert {c for _, c in source} == {"A", "S", "H", "N", "O", "X"}
    by_class: dict[str, list[str]] = {}
    for u, c in source:
        by_class.setdefault(c, []).append(u)
    expected = sorted((c, " ".join(sorted(us))) for c, us in by_class.items())
    assert read_pairs(dump / "category2utt") == expected
    assert (dump / "category_classes.txt").read_text().split() == CLASSES
    assert info["category_classes"] == CLASSES
    # attributes: valence arousal dominance exactly as in utt2attrs
    assert (dump / "attributes").read_text() == (data / "utt2attrs").read_text()
    assert (dump / "utt2category").read_text() == (data / "utt2category").read_text()
    # without a category list there is no category file, but the attributes are still written
    dump_audio(data, tmp_path / "dump2", progress=False)
    assert not (tmp_path / "dump2" / "category").exists() and (tmp_path / "dump2" / "attributes").is_file()


def test_dump_unknown_category_names_file_and_line(tmp_path):
    data = make_data_dir(tmp_path, "train", 6, seed=0)
    lines = (data / "utt2category").read_text().splitlines()
    lines[3] = lines[3].split()[0] + " Q"
    (data / "utt2category").write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"utt2category:4: label 'Q' of '[^']*' is not one of the classes "
                                        r"of --category_classes") as err:
        dump_audio(data, tmp_path / "dump", category_classes=CLASSES, progress=False)
    assert err.value.path == str(data / "utt2category") and err.value.line == 4
    assert not (tmp_path / "dump").exists()


# ------------------------------------------------------------------------------------------------------ crops

def test_emotion_crop_train_eval_and_config():
    from voxrecipes.tasks.emotion import EmotionCrop

    speech = np.arange(5 * SR, dtype=np.float32)
    crop = EmotionCrop(2.0, 3.0, train=True)
    np.random.seed(0)
    lengths, starts = set(), set()
    for _ in range(30):
        out = crop("u", {"speech": speech.copy()})["speech"]
        assert 2 * SR <= len(out) <= 3 * SR
        assert out[-1] - out[0] == len(out) - 1 and 0 <= out[0] and out[-1] < 5 * SR  # a contiguous piece
        lengths.add(len(out))
        starts.add(int(out[0]))
    assert len(lengths) > 10 and len(starts) > 10
    # an utterance shorter than the longest crop: crops never exceed it
    medium = np.arange(int(2.5 * SR), dtype=np.float32)
    for _ in range(20):
        out = crop("u", {"speech": medium.copy()})["speech"]
        assert 2 * SR <= len(out) <= len(medium)
    # shorter than the shortest crop: used whole
    short = np.arange(SR, dtype=np.float32)
    np.testing.assert_array_equal(crop("u", {"speech": short.copy()})["speech"], short)
    # evaluation: the whole utterance, or its start up to eval_max_seconds
    np.testing.assert_array_equal(EmotionCrop(2.0, 3.0, train=False)("u", {"speech": speech.copy()})["speech"],
                                  speech)
    capped = EmotionCrop(2.0, 3.0, train=False, eval_max_seconds=4.0)("u", {"speech": speech.copy()})["speech"]
    np.testing.assert_array_equal(capped, speech[:4 * SR])
    with pytest.raises(ValueError, match="empty utterance"):
        crop("u", {"speech": np.zeros(0, np.float32)})
    for lo, hi in ((3.0, 2.0), (0.0, 2.0), (-1.0, 2.0)):
        with pytest.raises(ConfigError, match="crop_min_seconds"):
            EmotionCrop(lo, hi, train=True)


# ---------------------------------------------------------------------------------------------------- collation

@pytest.fixture(scope="module")
def noise_csvs(tmp_path_factory):
    from voxrecipes.corpora import synth_augment
    from voxrecipes.data.augment import make_audio_csv

    root = tmp_path_factory.mktemp("augment")
    synth_augment.generate(root, num_noises=4, num_rirs=3, seed=0)
    make_audio_csv(root / "musan" / "noise", root / "noise.csv", what="noise")
    make_audio_csv(root / "RIRS_NOISES" / "simulated_rirs", root / "rir.csv", what="RIR")
    return root / "noise.csv", root / "rir.csv"


def _batch(seconds=(1.5, 2.2, 3.0, 1.83)):
    rng = np.random.default_rng(3)
    cats = ["A", "N", "X", "H"]
    return [(f"u{i}", {"speech": tone(c, s, rng), "category": np.array([CLASSES.index(c)])})
            for i, (c, s) in enumerate(zip(cats, seconds))]


def test_collate_features_mask_and_targets():
    from voxrecipes.tasks.emotion import EmotionCollate

    collate = EmotionCollate()
    batch = _batch()
    utts, out = collate(batch)
    assert utts == ["u0", "u1", "u2", "u3"]
    feats, mask = out["input_features"], out["attention_mask"]
    # 10 ms frames stacked by 2: 160-d per 20 ms
    assert feats.shape[0] == 4 and feats.shape[2] == 160 and mask.shape == feats.shape[:2]
    for i, (_, d) in enumerate(batch):
        alone = collate.extractor(d["speech"], sampling_rate=SR, return_attention_mask=True, return_tensors="pt")
        frames = int(alone["attention_mask"].sum())
        assert int(mask[i].sum()) == frames and bool(mask[i, :frames].all())
        assert abs(frames - len(d["speech"]) / 320) <= 2
        torch.testing.assert_close(feats[i, :frames], alone["input_features"][0, :frames])
    assert int(mask[2].sum()) == feats.shape[1]  # the longest fills the batch
    assert out["category"].dtype == torch.int64
    assert out["category"].reshape(-1).tolist() == [0, 7, 9, 2]
    assert "attributes" not in out
    # attribute targets as (B, 3) floats
    with_attrs = [(u, {"speech": d["speech"], "attributes": np.array([1.5 + i, 4.0, 7.0])})
                  for i, (u, d) in enumerate(batch)]
    _, out = collate(with_attrs)
    assert out["attributes"].dtype == torch.float32 and out["attributes"].shape == (4, 3)
    assert out["attributes"][:, 0].tolist() == [1.5, 2.5, 3.5, 4.5]
    del batch[1][1]["category"]
    with pytest.raises(ValueError, match="'category' missing for utterance u1"):
        collate(batch)


def test_collate_with_augmenter(noise_csvs):
    from voxrecipes.data.augment import WaveformAugmenter
    from voxrecipes.tasks.emotion import EmotionCollate

    noise_csv, rir_csv = noise_csvs
    batch = _batch()
    _, clean = EmotionCollate()(batch)
    noisy = EmotionCollate(WaveformAugmenter(noise_csv=str(noise_csv), noise_prob=1.0, snr_low=0, snr_high=5,
                                             speed_prob=0.0, seed=0))
    _, out = noisy(batch)
    # same lengths, so the same mask, but other features
    torch.testing.assert_close(out["attention_mask"], clean["attention_mask"])
    for i in range(4):
        frames = int(clean["attention_mask"][i].sum())
        assert not torch.allclose(out["input_features"][i, :frames], clean["input_features"][i, :frames], atol=0.1)
    assert out["category"].reshape(-1).tolist() == clean["category"].reshape(-1).tolist()
    # reverb + 90% speed: every utterance is 100/90 longer, and the mask follows each new length
    slow = EmotionCollate(WaveformAugmenter(rir_csv=str(rir_csv), rir_prob=1.0, speed_prob=1.0, speeds=[90], seed=0))
    _, out = slow(batch)
    mask = out["attention_mask"]
    assert out["input_features"].shape[:2] == mask.shape and out["input_features"].shape[2] == 160
    for i, (_, d) in enumerate(batch):
        n = math.ceil(len(d["speech"]) * 100 / 90)
        alone = slow.extractor(np.zeros(n, np.float32), sampling_rate=SR, return_attention_mask=True)
        assert int(mask[i].sum()) == int(np.sum(alone["attention_mask"]))
        assert int(mask[i].sum()) > int(clean["attention_mask"][i].sum())


# ------------------------------------------------------------------------------------------------------ metrics

def _tiny_core(task="category"):
    from transformers import Wav2Vec2BertConfig

    from voxrecipes.models.w2vbert_classifier import W2VBertEmotionModel
    from voxrecipes.tasks.emotion_model import EmotionESPnetModel

    torch.manual_seed(0)
    model = W2VBertEmotionModel(Wav2Vec2BertConfig(**TINY_W2VBERT), num_outputs=len(CLASSES), task=task, lora_r=4,
                                lora_alpha=4, embedding_dim=16, attention_dim=16)
    return EmotionESPnetModel(model, CLASSES, F1_CLASSES)


def _ccc(x: np.ndarray, y: np.ndarray) -> float:
    """Lin's concordance correlation coefficient, with population moments."""
    return float(2 * np.cov(x, y, bias=True)[0, 1] / (x.var() + y.var() + (x.mean() - y.mean()) ** 2))


def test_validation_metric_macro_f1_and_ccc():
    from sklearn.metrics import f1_score

    from voxrecipes.tasks.emotion import validation_metric

    rng = np.random.default_rng(0)
    core = _tiny_core()
    n = 60
    targets = rng.integers(0, 10, n)
    targets[:8] = [8, 9, 8, 9, 0, 1, 2, 7]  # O and X present
    outputs = rng.random((n, 10))
    # O/X columns often win the full arg-max: they must not count as predictions
    outputs[::3, 8] = 5.0
    outputs[1::3, 9] = 5.0
    # the reference: drop O/X utterances, arg-max among the 8 emotion columns, sklearn macro-F1 over the 8
    keep = targets < 8
    expected = f1_score(targets[keep], outputs[keep, :8].argmax(1), labels=list(range(8)), average="macro",
                        zero_division=0)
    got = validation_metric(core, outputs, targets)
    assert set(got) == {"macro_f1"}
    assert got["macro_f1"] == pytest.approx(expected, abs=1e-12)
    naive = f1_score(np.where(keep, targets, -1), outputs.argmax(1), labels=list(range(8)), average="macro",
                     zero_division=0)
    assert abs(naive - expected) > 1e-3  # the test would notice O/X predictions being counted
    # perfect predictions of the kept utterances give 1 over the classes present... and 0 for absent ones
    perfect = np.eye(10)[targets] + 0.0
    present = len(set(targets[keep].tolist()))
    assert validation_metric(core, perfect, targets)["macro_f1"] == pytest.approx(present / 8)
    assert math.isnan(validation_metric(core, outputs[:2], np.array([8, 9]))["macro_f1"])

    attr_core = _tiny_core("attributes")
    truth = rng.uniform(1, 7, (n, 3))
    pred = np.clip(truth + rng.normal(0, 1.0, (n, 3)) + [0.5, -0.3, 0.0], 1, 7)
    expected = np.mean([_ccc(truth[:, k], pred[:, k]) for k in range(3)])
    got = validation_metric(attr_core, pred, truth)
    assert set(got) == {"ccc"} and got["ccc"] == pytest.approx(expected, abs=1e-10)
    assert 0.3 < got["ccc"] < 0.95
    assert math.isnan(validation_metric(attr_core, pred[:1], truth[:1])["ccc"])


def test_model_collects_outputs_only_in_eval():
    from voxrecipes.tasks.emotion import EmotionCollate

    core = _tiny_core()
    _, out = EmotionCollate()(_batch())
    core.train()
    loss, stats, weight = core(**out)
    assert core.collected == [] and int(weight) == 4 and float(loss) > 0
    core.eval()
    with torch.no_grad():
        core(**out)
    probs, target = core.collected[0]
    assert probs.shape == (4, 10) and torch.allclose(probs.sum(1), torch.ones(4))
    assert target.tolist() == [0, 7, 9, 2]


# ------------------------------------------------------------------------------------------ ESPnet training runs

def _run(cmd, timeout=300):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1",
           "TOKENIZERS_PARALLELISM": "false"}
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)


@pytest.fixture(scope="module")
def tone_dumps(tmp_path_factory):
    root = tmp_path_factory.mktemp("emotones")
    for name, n, seed in (("train", 40, 0), ("dev", 20, 1)):
        data = make_data_dir(root, name, n, seed)
        dump_audio(data, root / "dump" / name, category_classes=CLASSES, progress=False)
    return root


def _conf(path: Path, **overrides) -> Path:
    conf = {
        "model_task": "category", "w2vbert_conf": TINY_W2VBERT, "use_lora": True, "lora_r": 4, "lora_alpha": 4,
        "lora_dropout": 0.0, "embedding_dim": 16, "attention_dim": 16, "crop_min_seconds": 1.0,
        "crop_max_seconds": 2.0, "optim": "adam", "optim_conf": {"lr": 0.01}, "batch_type": "sorted",
        "batch_size": 4, "max_epoch": 5, "num_workers": 0, "num_att_plot": 0, "seed": 0, "log_interval": 100,
        "best_model_criterion": [["valid", "macro_f1", "max"], ["train", "loss", "max"]], "keep_nbest_models": 1,
        "use_tensorboard": False, "use_matplotlib": False,
    }
    conf.update(overrides)
    path.write_text(yaml.safe_dump(conf))
    return path


def _train_cmd(dump: Path, conf: Path, out: Path, target=("category", "text_int"), extra=()) -> list[str]:
    name, kind = target
    return [sys.executable, "-m", "voxrecipes.bin.train_emotion", "--config", str(conf), "--output_dir", str(out),
            "--ngpu", "0",
            "--train_data_path_and_name_and_type", f"{dump}/train/wav.scp,speech,sound",
            "--train_data_path_and_name_and_type", f"{dump}/train/{name},{name},{kind}",
            "--train_shape_file", f"{dump}/train/speech_shape",
            "--valid_data_path_and_name_and_type", f"{dump}/dev/wav.scp,speech,sound",
            "--valid_data_path_and_name_and_type", f"{dump}/dev/{name},{name},{kind}",
            "--valid_shape_file", f"{dump}/dev/speech_shape", *extra]


def test_short_training_utterance_is_an_error(tone_dumps, tmp_path):
    dump = tone_dumps / "dump"
    shapes = read_pairs(dump / "train" / "speech_shape")
    lineno, utt = next((k, u) for k, (u, n) in enumerate(shapes, 1) if int(n) < 2 * SR)
    out = tmp_path / "exp"
    proc = _run(_train_cmd(dump, _conf(tmp_path / "conf.yaml"), out,
                           extra=("--crop_min_seconds", "2.0", "--crop_max_seconds", "3.0")))
    assert proc.returncode == 1, proc.stderr[-2000:]
    errors = [line for line in proc.stderr.splitlines() if line.startswith("ERROR:")]
    assert len(errors) == 1, proc.stderr[-2000:]
    assert f"{dump}/train/speech_shape:{lineno}:" in errors[0] and f"'{utt}'" in errors[0]
    assert "Traceback" not in proc.stderr and not out.exists()


def test_missing_category_names_both_files(tone_dumps, tmp_path, capsys):
    from voxrecipes.bin import train_emotion

    dump = tmp_path / "dump"
    shutil.copytree(tone_dumps / "dump", dump)
    lines = (dump / "dev" / "category").read_text().splitlines()
    (dump / "dev" / "category").write_text("\n".join(lines[:2] + lines[3:]) + "\n")
    out = tmp_path / "exp"
    with pytest.raises(SystemExit) as exit_info:
        train_emotion.main(_train_cmd(dump, _conf(tmp_path / "conf.yaml"), out)[3:])
    assert exit_info.value.code == 1
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("ERROR:")]
    assert len(errors) == 1
    assert f"{dump}/dev/category" in errors[0] and f"{dump}/dev/wav.scp" in errors[0]
    assert f"'{lines[2].split()[0]}'" in errors[0]
    assert not out.exists()


def _valid_values(stderr: str, key: str) -> list[float]:
    """``key`` of each epoch's ``[valid]`` results, from ESPnet's log."""
    values = []
    for line in stderr.splitlines():
        if "epoch results:" in line and "[valid]" in line:
            match = re.search(rf"\[valid\].*?\b{key}=([-0-9.e+na]+)", line)
            if match:
                values.append(float(match.group(1)))
    return values


def _split_backbone(state: dict) -> tuple[dict, dict]:
    frozen = {k: v for k, v in state.items() if k.startswith("model.backbone.") and "lora_" not in k}
    lora = {k: v for k, v in state.items() if k.startswith("model.backbone.") and ("lora_A" in k or "lora_B" in k)}
    return frozen, lora


@pytest.fixture(scope="module")
def category_run(tone_dumps, noise_csvs):
    root = tone_dumps
    noise_csv, rir_csv = noise_csvs
    conf = _conf(root / "category.yaml", noise_csv=str(noise_csv), rir_csv=str(rir_csv),
                 augmentation={"noise_prob": 0.3, "rir_prob": 0.3, "snr_low": 10, "snr_high": 20,
                               "speed_prob": 0.5, "speeds": [90, 100, 110]})
    proc = _run(_train_cmd(root / "dump", conf, root / "exp_category"))
    assert proc.returncode == 0, proc.stderr[-4000:]
    return root / "exp_category", proc.stderr


def test_category_training_learns_tones_with_frozen_backbone(category_run, tone_dumps):
    exp, stderr = category_run
    f1s = _valid_values(stderr, "macro_f1")
    assert len(f1s) == 5, stderr[-3000:]
    # 4 emotion classes present of the 8 of the macro-F1: 0.5 is perfect, chance is about 0.125
    assert max(f1s) > 0.35, f1s
    config = yaml.safe_load((exp / "config.yaml").read_text())
    assert config["encoder_config"]["hidden_size"] == 32 and config["noise_csv"]
    best = (exp / "valid.macro_f1.best.pth").resolve()
    assert best.name != "1epoch.pth" and (exp / "1epoch.pth").is_file()
    first = torch.load(exp / "1epoch.pth", weights_only=True)
    last = torch.load(best, weights_only=True)
    frozen_first, lora_first = _split_backbone(first)
    frozen_last, lora_last = _split_backbone(last)
    assert len(frozen_first) > 10 and len(lora_first) == 8  # q, k, v, out of one layer, A and B each
    assert frozen_first.keys() == frozen_last.keys()
    for key in frozen_first:
        assert torch.equal(frozen_first[key], frozen_last[key]), key
    assert any(not torch.equal(lora_first[k], lora_last[k]) for k in lora_first)
    assert not torch.equal(first["model.dense.weight"], last["model.dense.weight"])


def _extract(argv: list[str]) -> None:
    """The extract_emotion_embeddings command line, run in this process (its imports are already loaded here)."""
    from voxrecipes.bin import extract_emotion_embeddings
    from voxrecipes.cli import run

    run(extract_emotion_embeddings.main, extract_emotion_embeddings.get_parser(), [*argv, "--no_progress"])


def test_category_export_extract_and_reload(category_run, tone_dumps, tmp_path):
    from voxrecipes.data.posteriors import read_posteriors
    from voxrecipes.features.arkio import read_scp
    from voxrecipes.tasks.emotion import EmotionCollate
    from voxrecipes.tasks.emotion_inference import (
        export_emotion_model,
        infer_data_dir,
        load_emotion_model,
        load_exported,
    )

    exp, stderr = category_run
    export = export_emotion_model(exp, "valid.macro_f1.best.pth", tmp_path / "export")
    trained = load_emotion_model(exp, "valid.macro_f1.best.pth")
    exported = load_exported(export)
    assert exported.output_names == CLASSES == trained.output_names and exported.task == "category"
    _, batch = EmotionCollate()(_batch())
    with torch.no_grad():
        a = trained.model(batch["input_features"], batch["attention_mask"])
        b = exported.model(batch["input_features"], batch["attention_mask"])
    for x, y in zip(a, b):
        torch.testing.assert_close(x, y, atol=1e-6, rtol=0)

    dev = tone_dumps / "dump" / "dev"
    out = tmp_path / "emb"
    # fp32: compared exactly with the library's fp32 default and the trainer's validation (bf16: test_precision.py)
    _extract(["--model_dir", str(export), "--data", str(dev), "--out_dir", str(out), "--batch_size", "8",
              "--precision", "fp32"])
    lines = (out / "posteriors.txt").read_text().splitlines()
    assert lines[0] == "#classes A S H U F D C N O X"
    dev_utts = [u for u, _ in read_pairs(dev / "wav.scp")]
    post = read_posteriors(out / "posteriors.txt")
    assert post.utts == dev_utts and post.classes == CLASSES
    np.testing.assert_allclose(post.matrix.sum(1), 1.0, atol=1e-4)
    utts, outputs, embeddings = infer_data_dir(exported, dev, batch_size=8, progress=False)
    assert utts == dev_utts
    np.testing.assert_allclose(post.matrix, outputs, atol=1e-5)
    scp = read_scp(out / "embedding.scp")
    assert list(scp) == dev_utts
    np.testing.assert_allclose(np.stack([np.asarray(v).reshape(-1) for v in scp.values()]), embeddings,
                               atol=1e-5)
    # the trainer's whole-set validation macro-F1 of the best epoch is that of these posteriors
    from sklearn.metrics import f1_score

    truth = [CLASSES.index(c) for _, c in read_pairs(dev / "utt2category")]
    emo = [i for i, t in enumerate(truth) if t < 8]
    f1 = f1_score([truth[i] for i in emo], post.matrix[emo, :8].argmax(1), labels=list(range(8)), average="macro",
                  zero_division=0)
    assert f1 == pytest.approx(max(_valid_values(stderr, "macro_f1")), abs=1e-3)


def test_attribute_run_balanced_batches_init_param(category_run, tone_dumps, tmp_path):
    from voxrecipes.tasks.emotion_inference import export_emotion_model

    exp_category, _ = category_run
    dump = tone_dumps / "dump"
    init = f"{exp_category / 'valid.macro_f1.best.pth'}:::model.output"
    conf = _conf(tmp_path / "attributes.yaml", model_task="attributes", seed=1, max_epoch=3, batch_size=6,
                 crop_min_seconds=1.5, crop_max_seconds=2.5,
                 best_model_criterion=[["valid", "ccc", "max"]])
    exp = tmp_path / "exp_attributes"
    proc = _run(_train_cmd(dump, conf, exp, target=("attributes", "text_float"),
                           extra=("--iterator_type", "category", "--batch_type", "catbel",
                                  "--valid_iterator_type", "sequence", "--valid_batch_type", "sorted",
                                  "--init_param", init)))
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "CategoryBalancedSampler" in proc.stderr, proc.stderr[-3000:]
    cccs = _valid_values(proc.stderr, "ccc")
    assert len(cccs) == 3, proc.stderr[-3000:]
    # started from the category model, the attributes (which follow the class) are soon predicted
    assert max(cccs) > 0.3, cccs
    # seed 1 builds another random backbone: finding the category model's frozen weights shows --init_param worked
    best = torch.load(exp / "valid.ccc.best.pth", weights_only=True)
    source = torch.load(exp_category / "valid.macro_f1.best.pth", weights_only=True)
    frozen_best, _ = _split_backbone(best)
    frozen_source, _ = _split_backbone(source)
    for key in frozen_source:
        assert torch.equal(frozen_best[key], frozen_source[key]), key
    assert best["model.output.weight"].shape == (3, 16)

    export = export_emotion_model(exp, "valid.ccc.best.pth", tmp_path / "export")
    out = tmp_path / "emb"
    _extract(["--model_dir", str(export), "--data", str(dump / "dev"), "--out_dir", str(out), "--no_embeddings",
              "--precision", "fp32"])  # fp32: compared with the trainer's validation CCC
    lines = (out / "attributes.txt").read_text().splitlines()
    assert lines[0] == "#classes valence arousal dominance"
    assert not (out / "embedding.scp").exists()
    values = np.array([[float(v) for v in line.split()[1:]] for line in lines[1:]])
    assert values.shape == (20, 3) and (values >= 1).all() and (values <= 7).all()
    assert [line.split()[0] for line in lines[1:]] == [u for u, _ in read_pairs(dump / "dev" / "wav.scp")]
    # the trainer's whole-set validation CCC of the best epoch is that of these predictions
    truth = np.array([[float(v) for v in row.split()] for _, row in read_pairs(dump / "dev" / "attributes")])
    ccc = np.mean([_ccc(truth[:, k], values[:, k]) for k in range(3)])
    assert ccc == pytest.approx(max(cccs), abs=2e-3)


# ------------------------------------------------------------------------------------------------ full finetune

def test_without_lora_backbone_trains_and_round_trips(tmp_path):
    from voxrecipes.models.w2vbert_classifier import W2VBertEmotionModel
    from voxrecipes.tasks.emotion import EmotionCollate, EmotionTask, build_emotion_model

    args = EmotionTask.get_parser().parse_args(["--use_lora", "false", "--lora_r", "4", "--lora_alpha", "4",
                                                 "--embedding_dim", "16", "--attention_dim", "16"])
    args.w2vbert_conf = dict(TINY_W2VBERT)
    torch.manual_seed(0)
    model = build_emotion_model(args)
    assert model.use_lora is False and model.num_outputs == 10
    backbone = dict(model.backbone.named_parameters())
    assert backbone and all(p.requires_grad for p in backbone.values())
    assert not any("lora_" in n for n in model.state_dict())
    trainable = set(model.trainable_parameter_names())
    assert {f"backbone.{n}" for n in backbone} <= trainable
    # a training step moves the backbone
    _, batch = EmotionCollate()(_batch())
    model.train()
    before = {n: p.detach().clone() for n, p in backbone.items()}
    logits, _ = model(batch["input_features"], batch["attention_mask"])
    torch.nn.functional.cross_entropy(logits, batch["category"].reshape(-1)).backward()
    torch.optim.SGD(model.parameters(), lr=0.1).step()
    assert any(not torch.equal(before[n], p) for n, p in backbone.items())
    model.eval()
    model.save_pretrained(tmp_path / "full", metadata={"output_names": CLASSES})
    assert (tmp_path / "full" / "backbone.safetensors").is_file()
    assert not (tmp_path / "full" / "adapter_model.safetensors").exists()
    again = W2VBertEmotionModel.from_pretrained(tmp_path / "full").eval()
    assert again.use_lora is False
    with torch.no_grad():
        a = model(batch["input_features"], batch["attention_mask"])
        b = again(batch["input_features"], batch["attention_mask"])
    for x, y in zip(a, b):
        torch.testing.assert_close(x, y, atol=0, rtol=0)


# ------------------------------------------------------------------------------------------------ Whisper backbone

# init_std 0.2 (Whisper's is 0.02): with the default, the random convolutions' outputs are ~300 times smaller than
# the position table, and the tones barely show in the frames (each utterance's mean frame differs by 0.003).
TINY_WHISPER = {"d_model": 32, "encoder_layers": 1, "encoder_attention_heads": 2, "encoder_ffn_dim": 64,
                "decoder_layers": 1, "decoder_attention_heads": 2, "decoder_ffn_dim": 64, "num_mel_bins": 80,
                "vocab_size": 100, "dropout": 0.0, "pad_token_id": 0, "bos_token_id": 1, "eos_token_id": 2,
                "decoder_start_token_id": 3, "init_std": 0.2}


def test_whisper_backbone_trains_exports_and_extracts(tone_dumps, tmp_path):
    """backbone: whisper through ESPnet: LoRA adapters train, the backbone stays, export/reload/extract agree."""
    from voxrecipes.features.arkio import read_scp
    from voxrecipes.models.whisper_emotion import WhisperEmotionModel
    from voxrecipes.tasks.emotion_inference import (
        export_emotion_model,
        infer_data_dir,
        load_emotion_model,
        load_exported,
    )

    dump = tone_dumps / "dump"
    conf = _conf(tmp_path / "whisper.yaml", backbone="whisper", w2vbert_conf={}, whisper_conf=TINY_WHISPER,
                 whisper_max_seconds=4.0, max_epoch=3)
    exp = tmp_path / "exp_whisper"
    proc = _run(_train_cmd(dump, conf, exp))
    assert proc.returncode == 0, proc.stderr[-4000:]
    f1s = _valid_values(proc.stderr, "macro_f1")
    assert len(f1s) == 3 and max(f1s) > 0.35, f1s  # perfect: 0.5 (4 of the 8 classes present); chance 0.125
    config = yaml.safe_load((exp / "config.yaml").read_text())
    assert config["backbone"] == "whisper" and config["encoder_config"]["max_source_positions"] == 200
    first = torch.load(exp / "1epoch.pth", weights_only=True)
    best = torch.load(exp / "valid.macro_f1.best.pth", weights_only=True)
    frozen_first, lora_first = _split_backbone(first)
    frozen_best, lora_best = _split_backbone(best)
    assert {k.split(".lora_")[0].rsplit(".", 1)[-1] for k in lora_first} == {"q_proj", "k_proj", "v_proj", "out_proj"}
    for key in frozen_first:
        assert torch.equal(frozen_first[key], frozen_best[key]), key

    export = export_emotion_model(exp, "valid.macro_f1.best.pth", tmp_path / "export")
    exported = load_exported(export)
    trained = load_emotion_model(exp, "valid.macro_f1.best.pth")
    assert isinstance(exported.model, WhisperEmotionModel) and exported.output_names == CLASSES
    dev = dump / "dev"
    _, a_out, a_emb = infer_data_dir(trained, dev, batch_size=8, progress=False)
    utts, b_out, b_emb = infer_data_dir(exported, dev, batch_size=3, progress=False)
    np.testing.assert_allclose(b_emb, a_emb, rtol=0, atol=1e-5)
    np.testing.assert_allclose(b_out, a_out, rtol=0, atol=1e-6)
    out = tmp_path / "emb"
    _extract(["--model_dir", str(export), "--data", str(dev), "--out_dir", str(out), "--batch_size", "5",
              "--precision", "fp32"])  # fp32: compared with the library's fp32 default
    scp = read_scp(out / "embedding.scp")
    assert list(scp) == utts
    np.testing.assert_allclose(np.stack([np.asarray(v).reshape(-1) for v in scp.values()]), b_emb, atol=1e-5)


def test_export_reestimates_batchnorm_statistics(category_run, tone_dumps, tmp_path):
    """--bn_data: the running statistics become the exact mean and variance of the data's pre-BN activations."""
    import json

    from voxrecipes.bin import export_emotion_model as export_bin
    from voxrecipes.cli import run
    from voxrecipes.tasks.emotion_inference import infer_data_dir, load_emotion_model, load_exported

    exp, _ = category_run
    train = tone_dumps / "dump" / "train"
    out = tmp_path / "export_bn"
    run(export_bin.main, export_bin.get_parser(),
        ["--exp_dir", str(exp), "--checkpoint", "valid.macro_f1.best.pth", "--out_dir", str(out),
         "--bn_data", str(train), "--batch_size", "7"])
    meta = json.loads((out / "config.json").read_text())["metadata"]["batchnorm_statistics"]
    assert meta == {"data": str(train), "utterances": 40}
    # reference: the dense + ReLU outputs of every training utterance, one by one, with the trained model
    trained = load_emotion_model(exp, "valid.macro_f1.best.pth")
    frontend = trained.model.frontend()
    from voxrecipes.data.audio import iter_audio
    from voxrecipes.data.datadir import DataDir

    rows = []
    with torch.no_grad():
        for _, wave in iter_audio(DataDir.load(train), SR):
            hidden, mask = trained.model.encode(*frontend([wave]))
            rows.append(trained.model.relu(trained.model.dense(trained.model.pooling(hidden, mask)))[0].double())
    ref = torch.stack(rows)
    bn = load_exported(out).model.batchnorm
    torch.testing.assert_close(bn.running_mean.double(), ref.mean(0), rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(bn.running_var.double(), ref.var(0), rtol=1e-3, atol=1e-5)
    assert not torch.allclose(trained.model.batchnorm.running_mean.double(), ref.mean(0), atol=1e-3)
    # so the exported model's embeddings of those utterances are normalised: mean beta over the set
    _, _, emb = infer_data_dir(load_exported(out), train, batch_size=8, progress=False)
    np.testing.assert_allclose(emb.mean(0), bn.bias.detach().numpy(), atol=1e-4)
