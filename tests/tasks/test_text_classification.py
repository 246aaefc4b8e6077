"""The text-classifier stages: data checks, CCC training, the train/infer CLIs, output formats, rerun and resume."""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from voxrecipes.bin import infer_text_classifier, train_text_classifier
from voxrecipes.cli import run
from voxrecipes.data.posteriors import read_posteriors
from voxrecipes.errors import DataError
from voxrecipes.losses.ccc import neg_mean_ccc_loss
from voxrecipes.metrics.regression import ccc
from voxrecipes.models.text_classifier import load_text_classifier
from voxrecipes.tasks.text_classification import TextLabelDataset, load_examples, make_trainer_class

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def _model_test_helpers():
    """The tiny-model helpers of tests/models/test_text_classifier.py, loaded by path (tests/ is no package)."""
    path = Path(__file__).resolve().parents[1] / "models" / "test_text_classifier.py"
    spec = importlib.util.spec_from_file_location("_text_classifier_test_helpers", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_helpers = _model_test_helpers()
CLASSES = _helpers.CLASSES
make_word_tokenizer, separable_corpus = _helpers.make_word_tokenizer, _helpers.separable_corpus
tiny_config, write_corpus = _helpers.tiny_config, _helpers.write_corpus

#: valence of each keyword's class: the words carry valence
VALENCE = {"A": 2.0, "S": 2.5, "H": 6.0, "U": 4.5, "F": 2.5, "D": 1.5, "C": 2.0, "N": 4.0}


@pytest.fixture(scope="module")
def tokenizer_dir(tmp_path_factory) -> Path:
    return make_word_tokenizer(tmp_path_factory.mktemp("tok"))


def write_config(path: Path, tokenizer_dir: Path, **overrides) -> Path:
    cfg = tiny_config(tokenizer_dir, **overrides).to_dict()
    cfg["training_args"].pop("logging_strategy", None)
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def write_attrs(root: Path, corpus: dict[str, tuple[str, str]], seed: int) -> Path:
    rng = np.random.default_rng(seed)
    lines = []
    for utt in sorted(corpus, key=lambda u: u.encode()):
        v, a, d = np.clip([VALENCE[corpus[utt][1]] + rng.normal(0, 0.3), 4 + rng.normal(0, 1),
                           4 + rng.normal(0, 1)], 1.0, 7.0)  # utt2attrs is on the 1-7 scale
        lines.append(f"{utt} {v:.2f} {a:.2f} {d:.2f}\n")
    (root / "utt2attrs").write_text("".join(lines))
    return root / "utt2attrs"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus")
    train_c, valid_c = separable_corpus(16, seed=1), separable_corpus(5, seed=2)
    # O and X utterances are in the label file but are not trained on
    extra = {"s1-O-000": "O", "s1-X-000": "X"}
    train = write_corpus(root / "train", {**train_c, "s1-O-000": ("the day was so", "O"),
                                          "s1-X-000": ("it was a bit", "X")})
    (train / "utt2category").write_text("".join(
        f"{u} {({**{k: v[1] for k, v in train_c.items()}, **extra})[u]}\n"
        for u in sorted(list(train_c) + list(extra), key=lambda u: u.encode())))
    valid = write_corpus(root / "valid", valid_c)
    write_attrs(train, train_c | {"s1-O-000": ("", "N"), "s1-X-000": ("", "N")}, seed=3)
    write_attrs(valid, valid_c, seed=4)
    return {"train": train, "valid": valid, "valid_corpus": valid_c}


def test_missing_transcript_names_both_files(tmp_path, tokenizer_dir, corpus):
    text = tmp_path / "text"
    lines = (corpus["train"] / "text").read_text().splitlines(keepends=True)
    text.write_text("".join(lines[3:]))
    cfg = tiny_config(tokenizer_dir)
    with pytest.raises(DataError) as err:
        load_examples(text, corpus["train"] / "utt2category", cfg)
    message = str(err.value)
    assert str(text) in message and str(corpus["train"] / "utt2category") in message
    assert "3 labelled utterances" in message


def test_unknown_class_names_file_and_line(tmp_path, tokenizer_dir, corpus):
    labels = tmp_path / "utt2category"
    lines = (corpus["train"] / "utt2category").read_text().splitlines(keepends=True)
    utt = lines[4].split()[0]
    lines[4] = f"{utt} Z\n"
    labels.write_text("".join(lines))
    with pytest.raises(DataError, match="label 'Z' of '[^']*' is not one of the classes") as err:
        load_examples(corpus["train"] / "text", labels, tiny_config(tokenizer_dir))
    assert err.value.path == str(labels) and err.value.line == 5


def test_bad_attribute_line(tmp_path, tokenizer_dir, corpus):
    labels = tmp_path / "utt2attrs"
    lines = (corpus["train"] / "utt2attrs").read_text().splitlines(keepends=True)
    lines[2] = lines[2].split()[0] + " 3.0 nan 4.0\n"
    labels.write_text("".join(lines))
    with pytest.raises(DataError, match="not finite") as err:
        load_examples(corpus["train"] / "text", labels, tiny_config(tokenizer_dir, task="attributes", classes=None))
    assert err.value.line == 3


def test_pseudo_classes_dropped_and_logged(tokenizer_dir, corpus, caplog):
    with caplog.at_level(logging.INFO):
        examples = load_examples(corpus["train"] / "text", corpus["train"] / "utt2category", tiny_config(tokenizer_dir))
    assert len(examples) == 16 * len(CLASSES)
    assert not any(e.utt.startswith(("s1-O", "s1-X")) for e in examples)
    assert "dropped 2 utterances labelled O x1, X x1" in caplog.text


def test_attribute_model_trains_with_ccc(tmp_path, tokenizer_dir, corpus):
    """The Trainer subclass uses -mean CCC for attributes; 3 outputs; valence is learnt from the words."""
    from transformers import DataCollatorWithPadding

    from voxrecipes.models.text_classifier import build_text_classifier
    from voxrecipes.tasks.text_classification import build_training_args, target_stats

    cfg = tiny_config(tokenizer_dir, task="attributes", classes=None)
    cfg.training_args.update({"num_train_epochs": 8, "learning_rate": 0.01})
    model, tokenizer = build_text_classifier(cfg)
    assert model.config.problem_type == "regression" and model.config.num_labels == 3
    examples = load_examples(corpus["train"] / "text", corpus["train"] / "utt2attrs", cfg)
    stats = target_stats(examples)
    dataset = TextLabelDataset(examples, tokenizer, cfg.max_length, cfg.task, np.array(stats["mean"]),
                               np.array(stats["std"]))
    args = build_training_args(cfg, tmp_path / "trainer", device="cpu", progress=False)
    args.eval_strategy = args.save_strategy = "no"
    args.load_best_model_at_end = False
    collate = DataCollatorWithPadding(tokenizer)
    trainer = make_trainer_class()(model=model, args=args, train_dataset=dataset, data_collator=collate,
                                   task=cfg.task)
    batch = collate([dataset[i] for i in range(8)])
    assert batch["labels"].dtype == torch.float32 and batch["labels"].shape == (8, 3)
    loss = trainer.compute_loss(model, batch)
    with torch.no_grad():
        expected = neg_mean_ccc_loss(model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
                                     .logits.float(), batch["labels"])
    assert torch.allclose(loss.detach(), expected, atol=1e-5)
    trainer.train()
    model.eval()
    with torch.no_grad():
        full = collate([dataset[i] for i in range(len(dataset))])
        pred = model(input_ids=full["input_ids"], attention_mask=full["attention_mask"]).logits
    assert pred.shape == (len(dataset), 3)
    assert ccc(full["labels"][:, 0].numpy(), pred[:, 0].numpy()) > 0.5


def _train_cli(config: Path, corpus: dict, out_dir: Path, labels: str = "utt2category", *extra: str) -> None:
    run(train_text_classifier.main, train_text_classifier.get_parser(),
        ["--config", str(config), "--train_text", str(corpus["train"] / "text"),
         "--train_labels", str(corpus["train"] / labels), "--valid_text", str(corpus["valid"] / "text"),
         "--valid_labels", str(corpus["valid"] / labels), "--out_dir", str(out_dir), "--no_progress", *extra])


def test_stage_learns_above_chance_writes_posteriors_and_skips_rerun(tmp_path, tokenizer_dir, corpus):
    config = write_config(tmp_path / "conf.yaml", tokenizer_dir,
                          training_args={"learning_rate": 0.01, "per_device_train_batch_size": 16,
                                         "num_train_epochs": 6, "save_total_limit": 1})
    exp = tmp_path / "exp"
    _train_cli(config, corpus, exp)
    model_dir = exp / "model"
    assert (model_dir / "text_classifier.json").is_file() and (model_dir / "adapter_model.safetensors").is_file()
    assert (exp / "config.yaml").read_text() == config.read_text()
    assert list((exp / "trainer").glob("checkpoint-*"))
    log = (exp / "train.log").read_text()
    assert "epoch 1/6: valid" in log and "macro_f1=" in log and "epoch 6/6: valid" in log
    summary = json.loads((exp / "valid_metrics.json").read_text())
    assert summary["metric"] == "macro_f1" and len(summary["epochs"]) == 6
    assert summary["best"] > 0.5  # chance: 1/8

    # inference on a text file with an empty transcript and an utterance not in any label file
    text = tmp_path / "score" / "text"
    text.parent.mkdir()
    valid_lines = (corpus["valid"] / "text").read_text().splitlines()
    text.write_text("\n".join(["a-empty"] + valid_lines + ["zz-unlabelled happy day"]) + "\n")
    run(infer_text_classifier.main, infer_text_classifier.get_parser(),
        ["--model_dir", str(model_dir), "--text", str(text), str(corpus["valid"] / "text"),
         "--out_dir", str(tmp_path / "out1"), str(tmp_path / "out2"), "--batch_size", "5", "--no_progress"])
    raw = (tmp_path / "out1" / "posteriors.txt").read_text().splitlines()
    assert raw[0] == "#classes A S H U F D C N"
    utts = [line.split()[0] for line in raw[1:]]
    assert utts == sorted(utts, key=lambda u: u.encode()) and len(utts) == len(valid_lines) + 2
    assert utts[0] == "a-empty" and utts[-1] == "zz-unlabelled"
    post = read_posteriors(tmp_path / "out1" / "posteriors.txt")
    assert np.allclose(post.matrix.sum(axis=1), 1.0, atol=1e-4)
    dev = read_posteriors(tmp_path / "out2" / "posteriors.txt")
    from sklearn.metrics import f1_score

    ref = [corpus["valid_corpus"][u][1] for u in dev.utts]
    hyp = [dev.classes[i] for i in dev.matrix.argmax(axis=1)]
    assert f1_score(ref, hyp, average="macro") == pytest.approx(summary["best"], abs=1e-6)

    # a finished stage is not redone
    stamp = (model_dir / "text_classifier.json").stat().st_mtime_ns
    _train_cli(config, corpus, exp)  # run() resets the root logger: read the stage's own log file
    assert "is complete: skipping training" in (exp / "train.log").read_text()
    assert (model_dir / "text_classifier.json").stat().st_mtime_ns == stamp


def test_stage_resumes_from_last_checkpoint(tmp_path, tokenizer_dir, corpus):
    config = write_config(tmp_path / "conf.yaml", tokenizer_dir,
                          training_args={"learning_rate": 0.01, "per_device_train_batch_size": 32,
                                         "num_train_epochs": 3, "save_total_limit": 3})
    exp = tmp_path / "exp"
    _train_cli(config, corpus, exp)
    # simulate a kill during epoch 3: no export, no epoch-3 checkpoint
    checkpoints = sorted((exp / "trainer").glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))
    assert len(checkpoints) == 3
    shutil.rmtree(exp / "model")
    shutil.rmtree(checkpoints[-1])
    _train_cli(config, corpus, exp)
    assert f"resuming from {checkpoints[1]}" in (exp / "train.log").read_text()
    assert (exp / "model" / "text_classifier.json").is_file()
    summary = json.loads((exp / "valid_metrics.json").read_text())
    assert summary["resumed_from"] == str(checkpoints[1]) and summary["epochs"][-1]["epoch"] == 3
    # another config on top of these checkpoints is refused
    shutil.rmtree(exp / "model")
    other = write_config(tmp_path / "other.yaml", tokenizer_dir, max_length=16)
    with pytest.raises(SystemExit):
        _train_cli(other, corpus, exp)


def test_attribute_stage_writes_attributes_txt(tmp_path, tokenizer_dir, corpus):
    config = write_config(tmp_path / "conf.yaml", tokenizer_dir, task="attributes", classes=None,
                          training_args={"learning_rate": 0.01, "per_device_train_batch_size": 16,
                                         "num_train_epochs": 4, "save_total_limit": 1})
    exp = tmp_path / "exp"
    _train_cli(config, corpus, exp, "utt2attrs")
    summary = json.loads((exp / "valid_metrics.json").read_text())
    assert summary["metric"] == "ccc_mean" and summary["epochs"][0]["ccc_valence"] is not None
    run(infer_text_classifier.main, infer_text_classifier.get_parser(),
        ["--model_dir", str(exp / "model"), "--text", str(corpus["valid"] / "text"),
         "--out_dir", str(tmp_path / "out"), "--no_progress"])
    lines = (tmp_path / "out" / "attributes.txt").read_text().splitlines()
    assert lines[0] == "#classes valence arousal dominance"
    attrs = read_posteriors(tmp_path / "out" / "attributes.txt")
    assert attrs.matrix.shape == (5 * len(CLASSES), 3)
    # on the labels' scale (1-7), not the standardised one, and valence follows the words
    assert 1.0 < attrs.matrix[:, 0].mean() < 7.0
    ref = np.array([VALENCE[corpus["valid_corpus"][u][1]] for u in attrs.utts])
    assert ccc(ref, attrs.matrix[:, 0]) > 0.3
    clf = load_text_classifier(exp / "model")
    assert clf.meta["target_mean"] is not None and clf.task == "attributes"
