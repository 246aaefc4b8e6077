"""``pooling: mean``: the masked mean of the last hidden states feeds the head.

Checked against an independent computation (each sentence alone through the backbone,
numpy mean and matrix product), for padding invariance, through export -> load (full
fine-tuning and LoRA), and through the Trainer stage CLI on a tiny multi-label set.
Tiny BERT (bidirectional: padding matters unless masked) and LLaMA models built from
configs with the word tokenizer of test_text_classifier.py; a few seconds of CPU.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from voxrecipes.cli import run
from voxrecipes.errors import ConfigError
from voxrecipes.models.text_classifier import (
    META_FILE,
    TextClassifier,
    TextClassifierConfig,
    build_text_classifier,
    export_text_classifier,
    head_name,
    load_text_classifier,
)
from voxrecipes.models.text_classifier.mean_pooling import WEIGHTS_FILE, MeanPoolClassifier, masked_mean
from voxrecipes.tasks.text_classification import predict_texts

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def _helpers():
    path = Path(__file__).resolve().parent / "test_text_classifier.py"
    spec = importlib.util.spec_from_file_location("_text_classifier_test_helpers_pooling", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


H = _helpers()
TINY = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
        "max_position_embeddings": 64}
ML_CLASSES = ["A", "S", "H", "No"]


def multilabel_split(root: Path, n: int, seed: int) -> Path:
    """``text`` + ``utt2labels``: 0-2 of the keyword classes A, S, H per sentence (``No`` when none)."""
    rng = np.random.default_rng(seed)
    root.mkdir()
    rows = []
    for i in range(n):
        labels = sorted({str(c) for c in rng.choice(ML_CLASSES[:3], size=int(rng.integers(0, 3)))})
        words = list(rng.choice(H.FILLER, size=int(rng.integers(2, 6))))
        for c in labels:
            words.insert(int(rng.integers(0, len(words) + 1)), str(rng.choice(H.KEYWORDS[c])))
        rows.append((f"u{i:04d}", " ".join(words), labels or ["No"]))
    (root / "text").write_text("".join(f"{u} {t}\n" for u, t, _ in rows))
    (root / "utt2labels").write_text("".join(f"{u} {' '.join(ls)}\n" for u, _, ls in rows))
    return root


def multilabel_config(path: Path, tokenizer_dir: Path, *, epochs: int, **training_args) -> Path:
    """A mean-pooled tiny BERT, fully fine-tuned, multi-label over ML_CLASSES, as a stage config file."""
    cfg = mean_config(tokenizer_dir, "bert", use_lora=False, task="multilabel", classes=ML_CLASSES).to_dict()
    cfg["training_args"].update(num_train_epochs=epochs, per_device_train_batch_size=8, learning_rate=0.003,
                                **training_args)
    cfg["training_args"].pop("logging_strategy", None)
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def train_cli(config: Path, train: Path, dev: Path, out: Path) -> None:
    from voxrecipes.bin import train_text_classifier

    run(train_text_classifier.main, train_text_classifier.get_parser(),
        ["--config", str(config), "--train_text", str(train / "text"), "--train_labels", str(train / "utt2labels"),
         "--valid_text", str(dev / "text"), "--valid_labels", str(dev / "utt2labels"), "--out_dir", str(out),
         "--no_progress"])


SHORT = "happy day"
LONG = "the day was really quite a bit so alarming and then we found it"


def mean_config(tokenizer_dir: Path, model_type: str, *, use_lora: bool, **overrides) -> TextClassifierConfig:
    lora = {"r": 4, "alpha": 8, "dropout": 0.0, "target_modules": None} if use_lora else {}
    overrides.setdefault("pooling", "mean")
    return H.tiny_config(tokenizer_dir, model_config={"model_type": model_type, **TINY}, use_lora=use_lora,
                         lora=lora, **overrides)


@pytest.fixture(scope="module")
def tokenizer_dir(tmp_path_factory) -> Path:
    return H.make_word_tokenizer(tmp_path_factory.mktemp("tok"))


def as_classifier(model, tokenizer, cfg: TextClassifierConfig) -> TextClassifier:
    return TextClassifier(model=model, tokenizer=tokenizer,
                          meta={"task": cfg.task, "output_names": cfg.output_names, "max_length": cfg.max_length})


def test_masked_mean_matches_a_loop():
    rng = np.random.default_rng(0)
    hidden = rng.normal(size=(3, 5, 4))
    lengths = [5, 2, 1]
    mask = np.array([[1] * n + [0] * (5 - n) for n in lengths])
    got = masked_mean(torch.tensor(hidden), torch.tensor(mask)).numpy()
    for row, n in enumerate(lengths):
        assert np.allclose(got[row], hidden[row, :n].mean(axis=0), atol=1e-12)
    assert np.allclose(masked_mean(torch.tensor(hidden), None).numpy(), hidden.mean(axis=1))


@pytest.mark.parametrize("model_type", ["bert", "llama"])
def test_logits_are_the_head_on_the_masked_mean(tokenizer_dir, model_type):
    """Each sentence alone through the bare backbone, averaged and multiplied out in numpy, gives the logits
    of the padded batch."""
    cfg = mean_config(tokenizer_dir, model_type, use_lora=False)
    model, tokenizer = build_text_classifier(cfg)
    assert isinstance(model, MeanPoolClassifier) and head_name(model) == "classifier"
    model.eval()
    batch = tokenizer([SHORT, LONG], padding=True, return_tensors="pt")
    assert int(batch["attention_mask"].sum(dim=1).min()) < batch["attention_mask"].shape[1]  # really padded
    with torch.inference_mode():
        logits = model(**batch).logits.numpy()
        pooled = model.pooled(**batch).numpy()
        weight = model.classifier.weight.numpy().astype(np.float64)
        bias = model.classifier.bias.numpy().astype(np.float64)
        if model_type == "bert":  # BERT's tokenizers also return token types: taken, and all-zero ones change nothing
            typed = model(**batch, token_type_ids=torch.zeros_like(batch["input_ids"])).logits.numpy()
            assert np.allclose(typed, logits, atol=1e-6)
        for row, text in enumerate([SHORT, LONG]):
            ids = torch.tensor([tokenizer(text)["input_ids"]])
            hidden = model.backbone(input_ids=ids).last_hidden_state[0].numpy().astype(np.float64)
            mean = hidden.mean(axis=0)
            assert np.allclose(pooled[row], mean, atol=1e-5)
            assert np.allclose(logits[row], weight @ mean + bias, atol=1e-5)


@pytest.mark.parametrize("model_type,use_lora", [("bert", False), ("bert", True), ("llama", True)])
def test_padding_does_not_change_a_sentence(tokenizer_dir, model_type, use_lora):
    cfg = mean_config(tokenizer_dir, model_type, use_lora=use_lora)
    model, tokenizer = build_text_classifier(cfg)
    model.eval()
    clf = as_classifier(model, tokenizer, cfg)
    alone = predict_texts(clf, [SHORT])
    batched = predict_texts(clf, [SHORT, LONG], batch_size=2)
    assert np.allclose(alone[0], batched[0], atol=1e-5)
    # without the mask the pads would count: the unmasked mean of the padded row differs
    batch = tokenizer([SHORT, LONG], padding=True, return_tensors="pt")
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    with torch.inference_mode():
        hidden = base.backbone(**batch).last_hidden_state
    assert not torch.allclose(masked_mean(hidden, batch["attention_mask"])[0], hidden[0].mean(dim=0), atol=1e-4)


@pytest.mark.parametrize("use_lora", [False, True])
def test_export_load_gives_identical_outputs(tokenizer_dir, tmp_path, use_lora):
    cfg = mean_config(tokenizer_dir, "bert", use_lora=use_lora)
    base_dir = tmp_path / "base" if use_lora else None
    model, tokenizer = build_text_classifier(cfg, base_dir=base_dir)
    with torch.no_grad():  # a head unlike a fresh one: the export must carry the trained weights
        head = model.get_base_model().classifier.modules_to_save.default if use_lora else model.classifier
        head.weight.normal_(std=1.0)
        if use_lora:
            for name, param in model.named_parameters():
                if "lora_B" in name:
                    param.normal_(std=0.5)
    model.eval()
    out = tmp_path / "model"
    export_text_classifier(model, tokenizer, cfg, out, base_dir=base_dir)
    meta = json.loads((out / META_FILE).read_text())
    assert meta["pooling"] == "mean"
    if use_lora:
        assert (out / "adapter_model.safetensors").is_file() and (out / "base" / WEIGHTS_FILE).is_file()
    else:
        assert (out / WEIGHTS_FILE).is_file() and not (out / "model.safetensors").exists()
    reloaded = load_text_classifier(out)
    texts = [SHORT, LONG, "nasty ridiculous day", ""]
    expected = predict_texts(as_classifier(model, tokenizer, cfg), texts, batch_size=3)
    got = predict_texts(reloaded, texts, batch_size=2)
    assert np.allclose(expected, got, atol=1e-6)
    fresh = predict_texts(as_classifier(*build_text_classifier(cfg, base_dir=None), cfg), texts)
    assert not np.allclose(fresh, got, atol=1e-3)  # the trained weights, not a fresh head, came back


def test_pooling_option_is_validated(tokenizer_dir):
    with pytest.raises(ConfigError, match="pooling must be one of cls, mean"):
        H.tiny_config(tokenizer_dir, pooling="max")
    quant = {"load_in_4bit": True}
    with pytest.raises(ConfigError, match="pooling: mean is not supported with a 4-bit"):
        TextClassifierConfig.from_dict({"task": "category", "model_name_or_path": "x", "use_lora": True,
                                        "lora": {"r": 4, "alpha": 4, "dropout": 0.0}, "quantization": quant,
                                        "pooling": "mean"})
    assert H.tiny_config(tokenizer_dir).pooling == "cls"  # the default: the model's own head


def test_trainer_stage_learns_multilabel(tmp_path, tokenizer_dir):
    """The train_text_classifier CLI (Trainer, best epoch by dev mAP, export) with a mean-pooled BERT learns a
    keyword-carried multi-label task well above chance; the export reloads to the same dev mAP."""
    from sklearn.metrics import average_precision_score

    from voxrecipes.tasks.text_classification import read_multilabel_labels, read_transcripts

    classes = ML_CLASSES
    train, dev = multilabel_split(tmp_path / "train", 120, 3), multilabel_split(tmp_path / "dev", 60, 4)
    config = multilabel_config(tmp_path / "cfg.yaml", tokenizer_dir, epochs=12)
    out = tmp_path / "exp"
    train_cli(config, train, dev, out)
    summary = json.loads((out / "valid_metrics.json").read_text())
    clf = load_text_classifier(out / "model")
    assert clf.meta["pooling"] == "mean" and isinstance(clf.model, MeanPoolClassifier)
    texts, labels = read_transcripts(dev / "text"), read_multilabel_labels(dev / "utt2labels", classes)
    targets = np.asarray([labels[u] for u in labels])
    probs = predict_texts(clf, [texts[u] for u in labels])
    aps = [average_precision_score(targets[:, c], probs[:, c]) for c in range(len(classes))]
    chance = targets.mean(axis=0)
    assert np.mean(aps) == pytest.approx(summary["best"], abs=1e-6)  # the export is the kept epoch
    assert np.mean(aps) > 0.9 and np.all(np.asarray(aps) > chance + 0.3), (aps, chance)
    # the inference stage writes the same per-class probabilities, under their own name
    from voxrecipes.bin import infer_text_classifier
    from voxrecipes.data.posteriors import read_posteriors

    run(infer_text_classifier.main, infer_text_classifier.get_parser(),
        ["--model_dir", str(out / "model"), "--text", str(dev / "text"), "--out_dir", str(tmp_path / "scores"),
         "--no_progress", "--precision", "fp32"])
    assert not (tmp_path / "scores" / "attributes.txt").exists()
    written = read_posteriors(tmp_path / "scores" / "probabilities.txt")
    assert written.classes == classes and written.utts == sorted(labels)
    assert np.allclose(written.matrix, probs, atol=1e-5)


@pytest.mark.parametrize("model_type,pooling,use_lora", [("bert", "mean", False), ("bert", "mean", True),
                                                         ("llama", "cls", True)])
def test_head_learning_rate_is_its_own_group_under_the_schedule(tokenizer_dir, tmp_path, model_type, pooling,
                                                                 use_lora):
    """``head_learning_rate``: the head's trainable tensors (and only they) train at that rate; the scheduler
    scales both groups alike."""
    from voxrecipes.tasks.text_classification import HEAD_GROUP, build_training_args, make_trainer_class

    cfg = mean_config(tokenizer_dir, model_type, use_lora=use_lora, pooling=pooling, head_learning_rate=0.05)
    model, _ = build_text_classifier(cfg, base_dir=tmp_path / "base" if use_lora else None)
    args = build_training_args(cfg, tmp_path / "trainer", device="cpu", progress=False)
    args.eval_strategy = args.save_strategy = "no"
    args.load_best_model_at_end = False
    trainer = make_trainer_class()(model=model, args=args, task=cfg.task, head_learning_rate=cfg.head_learning_rate)
    optimizer = trainer.create_optimizer()
    assert trainer.create_optimizer() is optimizer  # called again: not split twice
    head = "score" if model_type == "llama" else "classifier"
    trainable = {id(p): n for n, p in model.named_parameters() if p.requires_grad}
    head_ids = {i for i, n in trainable.items() if head in n.split(".")}
    grouped = {True: [], False: []}
    for group in optimizer.param_groups:
        grouped[bool(group.get(HEAD_GROUP))] += [id(p) for p in group["params"]]
        assert group["lr"] == (0.05 if group.get(HEAD_GROUP) else args.learning_rate)
    assert head_ids and set(grouped[True]) == head_ids
    assert sorted(grouped[True] + grouped[False]) == sorted(trainable)  # every trainable tensor exactly once
    scheduler = trainer.create_scheduler(num_training_steps=10, optimizer=optimizer)
    for _ in range(4):
        optimizer.step()
        scheduler.step()
    rates = {bool(g.get(HEAD_GROUP)): g["lr"] for g in optimizer.param_groups if g["params"]}
    assert rates[True] < 0.05 and rates[True] / rates[False] == pytest.approx(0.05 / args.learning_rate)
    with pytest.raises(ConfigError, match="head_learning_rate must be a positive number"):
        mean_config(tokenizer_dir, model_type, use_lora=use_lora, head_learning_rate="2e-2")


def test_export_from_before_the_option_loads_with_the_models_own_head(tokenizer_dir, tmp_path):
    """An export whose text_classifier.json has no 'pooling' (written before the option) is the model's own head."""
    cfg = H.tiny_config(tokenizer_dir, use_lora=False, lora={})
    model, tokenizer = build_text_classifier(cfg)
    model.eval()
    export_text_classifier(model, tokenizer, cfg, tmp_path / "model")
    meta_path = tmp_path / "model" / META_FILE
    meta = json.loads(meta_path.read_text())
    assert meta.pop("pooling") == "cls"
    meta_path.write_text(json.dumps(meta))
    reloaded = load_text_classifier(tmp_path / "model")
    assert not isinstance(reloaded.model, MeanPoolClassifier)
    texts = [SHORT, LONG]
    assert np.allclose(predict_texts(as_classifier(model, tokenizer, cfg), texts), predict_texts(reloaded, texts),
                       atol=1e-6)


def test_killed_training_resumes_to_the_same_model(tmp_path, tokenizer_dir):
    """Full fine-tuning of a mean-pooled model (the Trainer checkpoints its state dict, not a transformers
    model): killed during the last epoch, the stage resumes from the last checkpoint and exports the model an
    uninterrupted run exports."""
    train, dev = multilabel_split(tmp_path / "train", 48, 5), multilabel_split(tmp_path / "dev", 24, 6)
    config = multilabel_config(tmp_path / "cfg.yaml", tokenizer_dir, epochs=3, save_total_limit=3)
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    train_cli(config, train, dev, whole)
    train_cli(config, train, dev, killed)
    checkpoints = sorted((killed / "trainer").glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))
    assert len(checkpoints) == 3
    shutil.rmtree(killed / "model")
    shutil.rmtree(checkpoints[-1])
    train_cli(config, train, dev, killed)
    summary = json.loads((killed / "valid_metrics.json").read_text())
    assert summary["resumed_from"] == str(checkpoints[1])
    texts = [line.split(" ", 1)[1] for line in (dev / "text").read_text().splitlines()]
    expected = predict_texts(load_text_classifier(whole / "model"), texts)
    got = predict_texts(load_text_classifier(killed / "model"), texts)
    assert np.allclose(expected, got, atol=1e-5)
