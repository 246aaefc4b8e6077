"""The toxicity training task: dump, crops, collation, data checks, an ESPnet training run, reload, scoring, DDP."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import kaldiio
import numpy as np
import pytest
import soundfile as sf
import torch
import yaml

from voxrecipes.data.datadir import write_data_dir
from voxrecipes.data.dump import dump_audio
from voxrecipes.errors import DataError
from voxrecipes.tasks.toxicity import ClipCrop, WhisperCollate

CLASSES = ["Profanity", "Bullying", "Dating_Sexting", "Racist", "Other", "No_Violation"]
SR = 16000
# Each toxic class is a tone; No_Violation clips are noise only. A clip can carry two tones.
TONES = {"Profanity": 300.0, "Bullying": 700.0, "Dating_Sexting": 1100.0, "Racist": 1900.0, "Other": 2600.0}


def make_data_dir(root: Path, name: str, n: int, seed: int, durations=(1.5, 4.0)) -> Path:
    rng = np.random.default_rng(seed)
    data = root / name
    (root / "audio").mkdir(parents=True, exist_ok=True)
    wav_scp, utt2spk, labels, text, lang = {}, {}, {}, {}, {}
    for i in range(n):
        utt = f"spk{i % 4}-{name}{i:03d}"
        k = i % 6
        chosen = [CLASSES[k]] if k < 5 else ["No_Violation"]
        if k < 5 and i % 7 == 0:
            chosen.append(CLASSES[(k + 2) % 5])
        dur = rng.uniform(*durations)
        t = np.arange(int(dur * SR)) / SR
        wave = 0.05 * rng.standard_normal(len(t))
        for c in chosen:
            if c in TONES:
                wave += 0.3 * np.sin(2 * np.pi * TONES[c] * t)
        path = root / "audio" / f"{utt}.wav"
        sf.write(path, wave.astype(np.float32), SR)
        wav_scp[utt], utt2spk[utt] = str(path), f"spk{i % 4}"
        labels[utt] = " ".join(sorted(set(chosen)))
        text[utt] = " ".join(chosen).lower().replace("_", " ")
        lang[utt] = ["en", "es"][i % 2]
    write_data_dir(data, wav_scp=wav_scp, utt2spk=utt2spk, utt2labels=labels, text=text, utt2lang=lang)
    return data


def test_dump_labels_shapes_and_min_seconds(tmp_path):
    data = make_data_dir(tmp_path, "train", 12, seed=0, durations=(0.5, 3.0))
    info = dump_audio(data, tmp_path / "dump", classes=CLASSES, min_seconds=1.0, progress=False)
    shapes = dict(line.split() for line in (tmp_path / "dump" / "speech_shape").read_text().splitlines())
    sources = dict(line.split() for line in (data / "wav.scp").read_text().splitlines())
    durations = {u: sf.info(p).frames for u, p in sources.items()}
    expected = {u: n for u, n in durations.items() if n >= SR}
    assert {u: int(n) for u, n in shapes.items()} == expected
    assert info["utterances"] == len(expected) and info["dropped_shorter_than_min_seconds"] == 12 - len(expected)
    labels = (data / "utt2labels").read_text().splitlines()
    rows = dict(line.split(maxsplit=1) for line in (tmp_path / "dump" / "labels").read_text().splitlines())
    for line in labels:
        utt, names = line.split(maxsplit=1)
        if utt in expected:
            vector = [float(v) for v in rows[utt].split()]
            assert vector == [1.0 if c in names.split() else 0.0 for c in CLASSES]
    # the dump is a valid data directory whose audio is the source's, as 16-bit PCM
    utt = sorted(expected)[0]
    dumped, rate = sf.read(tmp_path / "dump" / "data" / f"{utt}.wav")
    source, _ = sf.read(sources[utt])
    assert rate == SR and np.max(np.abs(dumped - source)) < 1e-4
    from voxrecipes.data.validate import validate_data_dir

    validate_data_dir(tmp_path / "dump")


def test_dump_unknown_label_names_file_and_line(tmp_path):
    data = make_data_dir(tmp_path, "train", 6, seed=0)
    lines = (data / "utt2labels").read_text().splitlines()
    lines[2] = lines[2].split()[0] + " Profanity Spam"
    (data / "utt2labels").write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"utt2labels:3: label 'Spam'"):
        dump_audio(data, tmp_path / "dump", classes=CLASSES, progress=False)
    assert not (tmp_path / "dump").exists() and not (tmp_path / "dump.tmp").exists()


def test_clip_crop_train_random_eval_start():
    speech = np.arange(20 * SR, dtype=np.float32)
    np.random.seed(0)
    starts = set()
    for _ in range(5):
        out = ClipCrop(15, train=True)("u", {"speech": speech.copy()})["speech"]
        assert len(out) == 15 * SR and out[-1] - out[0] == 15 * SR - 1
        starts.add(int(out[0]))
    assert len(starts) > 1
    out = ClipCrop(15, train=False)("u", {"speech": speech.copy()})["speech"]
    assert out[0] == 0 and len(out) == 15 * SR
    short = np.ones(SR, dtype=np.float32)
    assert len(ClipCrop(15, train=True)("u", {"speech": short})["speech"]) == SR
    with pytest.raises(ValueError, match="empty clip"):
        ClipCrop(15, train=True)("u", {"speech": np.zeros(0, dtype=np.float32)})


def test_collate_pads_to_15s_and_stacks():
    collate = WhisperCollate(15, 80)
    batch = [("a", {"speech": np.zeros(SR, np.float32), "labels": np.eye(6)[0], "text_emb": np.ones(4)}),
             ("b", {"speech": np.zeros(3 * SR, np.float32), "labels": np.eye(6)[5], "text_emb": np.zeros(4)})]
    utts, out = collate(batch)
    assert utts == ["a", "b"]
    assert out["input_features"].shape == (2, 80, 1500)
    assert out["feature_lengths"].tolist() == [100, 300]
    assert out["labels"].shape == (2, 6) and out["text_emb"].shape == (2, 4)
    del batch[1][1]["text_emb"]
    with pytest.raises(ValueError, match="'text_emb' missing for utterance b"):
        collate(batch)


def _train_cmd(tmp_path: Path, out: str, alpha: float, epochs: int, extra=()) -> list[str]:
    conf = {
        "whisper_conf": {"d_model": 32, "encoder_layers": 2, "encoder_attention_heads": 2, "encoder_ffn_dim": 64,
                         "num_mel_bins": 80},
        "max_seconds": 5, "proj_dim": 32, "alpha": alpha, "injection_loss": "contrastive",
        "optim": "adamw", "optim_conf": {"lr": 3e-3}, "warmup_ratio": 0.1, "batch_type": "sorted",
        "batch_size": 8, "max_epoch": epochs, "num_workers": 0, "num_att_plot": 0, "seed": 0,
        "best_model_criterion": [["valid", "mAP", "max"]], "keep_nbest_models": 1, "log_interval": 5,
    }
    (tmp_path / "train.yaml").write_text(yaml.safe_dump(conf))
    d = tmp_path / "dump"
    cmd = [sys.executable, "-m", "voxrecipes.bin.train_toxicity", "--config", str(tmp_path / "train.yaml"),
           "--output_dir", str(tmp_path / out), "--ngpu", "0",
           "--train_data_path_and_name_and_type", f"{d}/train/wav.scp,speech,sound",
           "--train_data_path_and_name_and_type", f"{d}/train/labels,labels,text_float",
           "--train_shape_file", f"{d}/train/speech_shape",
           "--valid_data_path_and_name_and_type", f"{d}/dev/wav.scp,speech,sound",
           "--valid_data_path_and_name_and_type", f"{d}/dev/labels,labels,text_float",
           "--valid_shape_file", f"{d}/dev/speech_shape", *extra]
    if alpha < 1:
        cmd += ["--train_data_path_and_name_and_type", f"{tmp_path}/text_emb.scp,text_emb,kaldi_ark"]
    return cmd


@pytest.fixture(scope="module")
def tone_dumps(tmp_path_factory):
    root = tmp_path_factory.mktemp("tones")
    for name, n, seed in (("train", 96, 0), ("dev", 36, 1)):
        data = make_data_dir(root, name, n, seed)
        dump_audio(data, root / "dump" / name, classes=CLASSES, progress=False)
    rng = np.random.default_rng(0)
    utts = [line.split()[0] for line in (root / "dump" / "train" / "wav.scp").read_text().splitlines()]
    with kaldiio.WriteHelper(f"ark,scp:{root}/text_emb.ark,{root}/text_emb.scp") as writer:
        for u in utts:
            writer(u, rng.standard_normal(12).astype(np.float32))
    return root


def _run(cmd, env_extra=None, timeout=600):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", **(env_extra or {})}
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)


def test_missing_text_embedding_names_both_files(tone_dumps, tmp_path):
    work = tmp_path
    shutil.copytree(tone_dumps / "dump", work / "dump")
    lines = (tone_dumps / "text_emb.scp").read_text().splitlines()
    (work / "text_emb.scp").write_text("\n".join(lines[1:]) + "\n")
    proc = _run(_train_cmd(work, "exp", alpha=0.5, epochs=1))
    assert proc.returncode == 1
    error = [line for line in proc.stderr.splitlines() if line.startswith("ERROR:")]
    assert len(error) == 1 and str(work / "text_emb.scp") in error[0] and "dump/train/wav.scp" in error[0]
    assert lines[0].split()[0] in error[0]
    assert not (work / "exp").exists()


def test_training_learns_tones_resumes_and_reloads(tone_dumps, tmp_path):
    from voxrecipes.metrics.ranking import mean_average_precision
    from voxrecipes.tasks.toxicity import load_classifier
    from voxrecipes.tasks.toxicity_scoring import score_data_dir

    shutil.copytree(tone_dumps / "dump", tmp_path / "dump")
    shutil.copy(tone_dumps / "text_emb.scp", tmp_path / "text_emb.scp")
    shutil.copy(tone_dumps / "text_emb.ark", tmp_path / "text_emb.ark")
    (tmp_path / "text_emb.scp").write_text((tone_dumps / "text_emb.scp").read_text().replace(
        str(tone_dumps / "text_emb.ark"), str(tmp_path / "text_emb.ark")))
    # one epoch, then a second run that resumes from the checkpoint and trains three more
    proc = _run(_train_cmd(tmp_path, "exp", alpha=0.9, epochs=1))
    assert proc.returncode == 0, proc.stderr[-3000:]
    proc = _run(_train_cmd(tmp_path, "exp", alpha=0.9, epochs=4, extra=("--resume", "true")))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "2/4epoch started" in proc.stderr and "1/4epoch started" not in proc.stderr
    assert "mAP=" in proc.stderr and "loss_text=" in proc.stderr
    assert ("optimizer: AdamW (lr 0.003), effective global batch 8 utterances per optimiser step = "
            "8 per device x accum_grad 1 x 1 device(s)") in proc.stderr
    exp = tmp_path / "exp"
    config = yaml.safe_load((exp / "config.yaml").read_text())
    assert config["text_dim"] == 12 and config["scheduler"] == "linearwarmupdecaylr"
    # 96 utterances / batch 8 = 12 steps per epoch, 4 epochs: warm-up over 10% of 48 steps
    assert config["scheduler_conf"] == {"warmup_steps": 5, "total_steps": 48}

    trained = load_classifier(exp)
    assert trained.classes == CLASSES and trained.max_seconds == 5
    # reload is exact: same weights as the checkpoint
    state = torch.load(exp / "valid.mAP.best.pth", weights_only=True)
    for name, tensor in trained.model.state_dict().items():
        torch.testing.assert_close(tensor, state[f"classifier.{name}"])
    scores = score_data_dir(trained, tone_dumps / "dump" / "dev", progress=False)
    labels = dict(line.split(maxsplit=1) for line in (tone_dumps / "dump" / "dev" / "labels").read_text().splitlines())
    targets = np.array([[float(v) for v in labels[u].split()] for u in scores.utts])
    toxic = [CLASSES.index(c) for c in ("Profanity", "Dating_Sexting", "Racist", "Bullying")]
    chance = targets[:, toxic].mean()
    assert mean_average_precision(targets, scores.matrix, toxic) > chance + 0.3


def test_torchrun_two_cpu_processes(tone_dumps, tmp_path):
    shutil.copytree(tone_dumps / "dump", tmp_path / "dump")
    (tmp_path / "text_emb.scp").write_text((tone_dumps / "text_emb.scp").read_text())
    cmd = _train_cmd(tmp_path, "exp", alpha=0.5, epochs=1, extra=("--dist_backend", "gloo"))
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29533",
                "-m"] + cmd[2:]
    proc = _run(torchrun)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (tmp_path / "exp" / "valid.mAP.best.pth").is_file()
    assert ":0/2]" in proc.stderr  # ESPnet tags rank 0's log lines with the world size: two processes
    # ESPnet's batch_size is the batch over all processes: each of the two gets 4 of the 8
    assert "effective global batch 8 utterances per optimiser step = 4 per device x accum_grad 1 x 2 device(s)" \
        in proc.stderr


def _tiny_model(alpha, loss="contrastive", layer=-1):
    from transformers import WhisperConfig

    from voxrecipes.models.whisper_classifier import WhisperTextInjectionClassifier, build_encoder
    from voxrecipes.tasks.toxicity_model import ToxicityESPnetModel

    torch.manual_seed(0)
    config = WhisperConfig(d_model=16, encoder_layers=2, encoder_attention_heads=2, encoder_ffn_dim=32,
                           num_mel_bins=80)
    classifier = WhisperTextInjectionClassifier(build_encoder(config, 2), num_classes=6, proj_dim=8, text_dim=5)
    return ToxicityESPnetModel(classifier, CLASSES, alpha=alpha, injection_loss=loss, injection_layer=layer)


@pytest.mark.parametrize("loss", ["mse", "contrastive"])
def test_model_loss_is_alpha_bce_plus_text_loss(loss):
    import torch.nn.functional as F

    model = _tiny_model(0.3, loss, layer=1).train()
    features, lengths = torch.randn(4, 80, 200), torch.tensor([200, 150, 90, 40])
    labels = torch.tensor(np.eye(6)[[0, 5, 2, 3]], dtype=torch.float32)
    text = torch.randn(4, 5)
    total, stats, weight = model(features, lengths, labels, text_emb=text)
    logits, x = model.classifier(features, lengths, injection_layer=1)
    bce = F.binary_cross_entropy_with_logits(logits, labels)
    if loss == "mse":
        l_text = ((x - text) ** 2).sum(dim=1).mean()
    else:
        sim = F.normalize(x, dim=1) @ F.normalize(text, dim=1).T  # tau = 1
        l_text = -(sim.diag() - torch.logsumexp(sim, dim=1)).mean()
    torch.testing.assert_close(total.reshape(()), 0.3 * bce + 0.7 * l_text)
    torch.testing.assert_close(stats["loss_cls"].reshape(()), bce.detach())
    assert int(weight) == 4
    # the baseline ignores text entirely; evaluation mode collects scores for the set-level mAP
    base = _tiny_model(1.0).eval()
    total, stats, _ = base(features, lengths, labels, text_emb=text)
    assert "loss_text" not in stats and len(base.collected) == 1
    assert base.collected[0][0].shape == (4, 6) and float(base.collected[0][0].max()) <= 1.0


def test_model_config_errors():
    from voxrecipes.errors import ConfigError

    with pytest.raises(ConfigError, match="injection_layer"):
        _tiny_model(0.5, layer=3)
    with pytest.raises(ConfigError, match="alpha"):
        _tiny_model(1.5)
    model = _tiny_model(0.5).train()
    with pytest.raises(ValueError, match="text_emb"):
        model(torch.randn(2, 80, 200), torch.tensor([200, 100]), torch.zeros(2, 6))


def test_head_lr_groups_and_warmup_decay_schedule():
    """--head_lr: the new layers in their own group; every group follows linear warm-up then decay of its own lr."""
    from types import SimpleNamespace

    from transformers import WhisperConfig

    from voxrecipes.errors import ConfigError
    from voxrecipes.models.whisper_classifier import WhisperTextInjectionClassifier, build_encoder
    from voxrecipes.tasks.toxicity import ToxicityTask, parameter_groups
    from voxrecipes.tasks.toxicity_model import ToxicityESPnetModel
    from voxrecipes.tasks.toxicity_schedule import LinearWarmupDecayLR

    config = WhisperConfig(d_model=16, encoder_layers=2, encoder_attention_heads=2, encoder_ffn_dim=32,
                           num_mel_bins=80)
    classifier = WhisperTextInjectionClassifier(build_encoder(config, 2), num_classes=6, proj_dim=8, text_dim=5,
                                                freeze_layers=1)
    model = ToxicityESPnetModel(classifier, CLASSES)
    args = SimpleNamespace(optim="adamw", optim_conf={"lr": 1e-4, "weight_decay": 0.1}, head_lr=1e-2)
    (optimizer,) = ToxicityTask.build_optimizers(args, model)
    encoder_group, head_group = optimizer.param_groups
    trainable = {id(p) for p in model.parameters() if p.requires_grad}
    assert {id(p) for g in optimizer.param_groups for p in g["params"]} == trainable
    assert {id(p) for p in head_group["params"]} == {id(p) for m in (classifier.projector, classifier.classifier,
                                                                      classifier.text_proj) for p in m.parameters()}
    assert (encoder_group["lr"], head_group["lr"], head_group["weight_decay"]) == (1e-4, 1e-2, 0.1)
    assert not any(id(p) in trainable for p in classifier.encoder.layers[0].parameters())
    # without --head_lr one lr for all
    assert [g["lr"] for g in parameter_groups(classifier, 3e-5, None)] == [3e-5, 3e-5]

    scheduler = LinearWarmupDecayLR(optimizer, warmup_steps=2, total_steps=6)
    factors = []
    for _ in range(6):  # the lr each of 6 optimizer steps uses
        factors.append([g["lr"] for g in optimizer.param_groups])
        optimizer.step()
        scheduler.step()
    expected = [0.5, 1.0, 0.75, 0.5, 0.25, 0.0]  # step k of 6: k/2 up to 2, then (6-k)/4
    np.testing.assert_allclose(np.array(factors), np.outer(expected, [1e-4, 1e-2]), rtol=1e-9, atol=1e-12)
    with pytest.raises(ConfigError, match="warmup_steps"):
        LinearWarmupDecayLR(optimizer, warmup_steps=6, total_steps=6)
    # resuming at step 3 on a longer schedule (more epochs): the new schedule from step 4 on
    state = scheduler.state_dict()
    longer = LinearWarmupDecayLR(optimizer, warmup_steps=2, total_steps=12)
    state["last_epoch"] = 3
    longer.load_state_dict(state)
    np.testing.assert_allclose([g["lr"] for g in optimizer.param_groups], np.array([1e-4, 1e-2]) * 8 / 10)
    # text injected into a frozen layer could not change the encoder: refused
    with pytest.raises(ConfigError, match="injection_layer 1 is frozen"):
        ToxicityESPnetModel(classifier, CLASSES, alpha=0.5, injection_layer=1)
    ToxicityESPnetModel(classifier, CLASSES, alpha=0.5, injection_layer=2)
    ToxicityESPnetModel(classifier, CLASSES, alpha=1.0, injection_layer=1)  # the baseline injects nothing


def test_scoring_with_dynamic_padding_does_not_depend_on_batching(tmp_path):
    """Length-sorted batches across clips give each clip the max over its chunks scored alone."""
    from transformers import WhisperConfig

    from voxrecipes.data.audio import SAMPLE_RATE, iter_audio
    from voxrecipes.data.chunking import chunk_bounds
    from voxrecipes.data.datadir import DataDir
    from voxrecipes.models.whisper_classifier import WhisperTextInjectionClassifier, build_encoder
    from voxrecipes.tasks.toxicity import TrainedClassifier
    from voxrecipes.tasks.toxicity_scoring import score_chunks, score_data_dir

    data = make_data_dir(tmp_path, "eval", 9, seed=4, durations=(0.5, 4.5))  # chunks of 2 s: 1-3 per clip
    torch.manual_seed(0)
    config = WhisperConfig(d_model=16, encoder_layers=2, encoder_attention_heads=2, encoder_ffn_dim=32,
                           num_mel_bins=80)
    model = WhisperTextInjectionClassifier(build_encoder(config, 2), num_classes=6, proj_dim=8, text_dim=5,
                                           dynamic_padding=True).eval()
    trained = TrainedClassifier(model, CLASSES, 2.0, 80, tmp_path / "none.pth")
    batched = score_data_dir(trained, data, batch_size=4, progress=False)
    expected = {}
    for utt, wave in iter_audio(DataDir.load(data), SAMPLE_RATE):
        chunks = [wave[a:b] for a, b in chunk_bounds(len(wave), SAMPLE_RATE, 2.0, 2.0)]
        expected[utt] = np.max(np.concatenate([score_chunks(trained, [c]) for c in chunks]), axis=0)
    assert batched.utts == sorted(expected) and batched.classes == CLASSES
    np.testing.assert_allclose(batched.matrix, np.stack([expected[u] for u in batched.utts]), atol=1e-4)
