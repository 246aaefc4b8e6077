"""The same seed gives the same emotion model, bit for bit (issue 13: "the same seed does not give the same numbers").

Two short trainings of a tiny Wav2Vec2-BERT run with what the mini recipe uses that draws
random numbers: random crops, MUSAN-style noise, RIRs and speed perturbation in the
collate function, LoRA dropout, one data-loader worker process, shuffled batches, and
Python's per-process hash seed (set apart on purpose). Every tensor of every saved epoch
must be equal. The two runs are subprocesses started together (ESPnet's import dominates
their time: about 10 s of CPU each).
"""

from __future__ import annotations

import os
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

SR = 16000
CLASSES = ["A", "S", "H", "U", "F", "D", "C", "N", "O", "X"]
PITCH = {"A": 300.0, "S": 650.0, "H": 1100.0, "N": 1800.0}


def _data_dir(root: Path, name: str, n: int, seed: int) -> Path:
    """``n`` utterances of 1.2-2 s: a class tone in noise bursts, so that training has something to learn."""
    rng = np.random.default_rng(seed)
    wav_scp, utt2spk, utt2category = {}, {}, {}
    for i in range(n):
        category = "ASHN"[i % 4]
        utt = f"spk{i % 2}-{name}{i:02d}"
        t = np.arange(int(rng.uniform(1.2, 2.0) * SR)) / SR
        wave = 0.3 * np.sin(2 * np.pi * PITCH[category] * t) + 0.05 * rng.standard_normal(t.size)
        path = root / "audio" / f"{utt}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, wave.astype(np.float32), SR)
        wav_scp[utt], utt2spk[utt], utt2category[utt] = str(path), f"spk{i % 2}", category
    write_data_dir(root / name, wav_scp=wav_scp, utt2spk=utt2spk, utt2category=utt2category)
    return root / name


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two trainings with seed 0 (and different hash seeds), started at the same time; their output dirs."""
    from voxrecipes.corpora import synth_augment
    from voxrecipes.data.augment import make_audio_csv

    root = tmp_path_factory.mktemp("repro")
    for name, n, seed in (("train", 12, 0), ("dev", 4, 1)):
        dump_audio(_data_dir(root, name, n, seed), root / "dump" / name, category_classes=CLASSES, progress=False)
    synth_augment.generate(root / "augment", num_noises=3, num_rirs=3, seed=0)
    make_audio_csv(root / "augment" / "musan" / "noise", root / "noise.csv", what="noise")
    make_audio_csv(root / "augment" / "RIRS_NOISES" / "simulated_rirs", root / "rir.csv", what="RIR")
    conf = {
        "model_task": "category", "use_lora": True, "lora_r": 4, "lora_alpha": 4, "lora_dropout": 0.1,
        "w2vbert_conf": {"hidden_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2,
                         "intermediate_size": 32, "output_hidden_size": 16, "conv_depthwise_kernel_size": 3,
                         "mask_time_prob": 0.0, "layerdrop": 0.0},
        "embedding_dim": 8, "attention_dim": 8, "pooling_stats": True, "normalize_features": False,
        "crop_min_seconds": 0.8, "crop_max_seconds": 1.5,
        # as in egs/mini_podcast/emo1/conf/train_emotion_category.yaml, with every augmentation likelier
        "augmentation": {"noise_prob": 0.5, "rir_prob": 0.5, "snr_low": 10.0, "snr_high": 25.0,
                         "speed_prob": 0.5, "speeds": [90, 110]},
        "noise_csv": str(root / "noise.csv"), "rir_csv": str(root / "rir.csv"),
        "optim": "adam", "optim_conf": {"lr": 0.01}, "batch_type": "sorted", "batch_size": 4, "max_epoch": 2,
        "num_workers": 1, "num_threads": 1, "num_att_plot": 0, "log_interval": 100, "keep_nbest_models": 2,
        "best_model_criterion": [["valid", "macro_f1", "max"]], "use_tensorboard": False,
        "use_matplotlib": False,
    }
    (root / "conf.yaml").write_text(yaml.safe_dump(conf))
    dump = root / "dump"
    procs = {}
    for name, hash_seed in (("a", "1"), ("b", "2")):
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "PYTHONHASHSEED": hash_seed}
        cmd = [sys.executable, "-m", "voxrecipes.bin.train_emotion", "--config", str(root / "conf.yaml"),
               "--output_dir", str(root / name), "--ngpu", "0", "--seed", "0",
               "--train_data_path_and_name_and_type", f"{dump}/train/wav.scp,speech,sound",
               "--train_data_path_and_name_and_type", f"{dump}/train/category,category,text_int",
               "--train_shape_file", f"{dump}/train/speech_shape",
               "--valid_data_path_and_name_and_type", f"{dump}/dev/wav.scp,speech,sound",
               "--valid_data_path_and_name_and_type", f"{dump}/dev/category,category,text_int",
               "--valid_shape_file", f"{dump}/dev/speech_shape"]
        procs[name] = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    for name, proc in procs.items():
        log, _ = proc.communicate(timeout=300)
        assert proc.returncode == 0, log[-3000:]
        (root / name / "stdout.log").write_text(log)
    return {name: root / name for name in procs}


def _states(exp: Path) -> dict[str, dict[str, torch.Tensor]]:
    return {f"{epoch}epoch": torch.load(exp / f"{epoch}epoch.pth", weights_only=True) for epoch in (1, 2)}


def test_same_seed_same_weights_bit_for_bit(runs):
    a, b = _states(runs["a"]), _states(runs["b"])
    for epoch in a:
        assert a[epoch].keys() == b[epoch].keys()
        differ = [k for k in a[epoch] if not torch.equal(a[epoch][k], b[epoch][k])]
        assert not differ, f"{epoch}: {len(differ)} tensors differ, first {differ[:3]}"
    # training moved the trained weights (so equality is not that of untouched initial weights)
    assert not torch.equal(a["1epoch"]["model.dense.weight"], a["2epoch"]["model.dense.weight"])
    # what the weights depend on besides the seed is in the log
    log = (runs["a"] / "stdout.log").read_text()
    assert "seed 0, torch intra-op threads 1, data-loader workers 1, deterministic algorithms True" in log
