"""Training and inference of the text emotion classifier with transformers' Trainer (+ peft LoRA).

TalTech Odyssey 2024, section 3.2: a sequence classifier on transcripts, cross-entropy
over the 8 primary emotions (``O`` and ``X`` are not trained on) or a 3-output
regression trained with the negative mean CCC of the batch. This module holds what the
``train_text_classifier`` / ``infer_text_classifier`` stages need:

- :func:`load_examples` -- ``(utt, text, label)`` from a Kaldi ``text`` and a label file
  (``utt2category`` or ``utt2attrs``), validated: an unknown class or a bad attribute line
  is a :class:`DataError` naming the file and line; a labelled utterance without a
  transcript is a :class:`DataError` naming both files; pseudo-classes are dropped (and
  counted in the log).
- :class:`TextLabelDataset` -- tokenised once (truncated at ``max_length``); batches are
  right-padded with the pad token by transformers' ``DataCollatorWithPadding``.
- :class:`TextClassifierTrainer` -- ``Trainer`` whose ``compute_loss`` is the negative
  mean CCC for attributes (the model's own cross-entropy for categories);
  :func:`make_compute_metrics` -- macro-F1 over the classes / mean CCC, used to keep the
  best epoch on the validation set.
- :func:`train_text_classifier` -- the whole stage: build, train (resuming from the last
  checkpoint in ``<out_dir>/trainer``), export ``<out_dir>/model`` atomically.
- :func:`predict_texts` / :func:`score_text_file` -- batched inference with a progress bar:
  softmax posteriors (categories) or attributes on the labels' scale.

Attribute targets are standardised with the training mean and deviation (``normalize_targets``,
ours): the CCC is unchanged by the same affine map of predictions and targets, and a
freshly initialised head starts near the standardised targets; the export records the
map and inference undoes it.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from voxrecipes.data.table import read_table
from voxrecipes.errors import ConfigError, DataError
from voxrecipes.labels import (
    ATTR_RANGE,
    ATTRIBUTES,
    read_attribute_labels,
    read_category_labels,
    read_multilabel_labels,
)
from voxrecipes.models.text_classifier import META_FILE, TextClassifier, TextClassifierConfig
from voxrecipes.models.text_encoder import pick_device

logger = logging.getLogger(__name__)

MODEL_SUBDIR = "model"
TRAINER_SUBDIR = "trainer"
BASE_SUBDIR = "base_model"
CONFIG_COPY = "config.yaml"
METRICS_FILE = "valid_metrics.json"
#: TrainingArguments we set ourselves (the config may not)
RESERVED_ARGS = ("output_dir", "label_names", "remove_unused_columns", "metric_for_best_model", "greater_is_better",
                 "use_cpu")
#: our defaults for TrainingArguments (the config's ``training_args`` wins)
DEFAULT_ARGS: dict[str, Any] = {
    "optim": "adamw_torch", "eval_strategy": "epoch", "save_strategy": "epoch", "logging_strategy": "epoch",
    "load_best_model_at_end": True, "save_total_limit": 2, "report_to": "none", "dataloader_num_workers": 0,
}


# ----------------------------------------------------------------------------------------------
# Data


@dataclass
class Example:
    utt: str
    text: str
    label: Any  # class index (category) or [valence, arousal, dominance]


def read_transcripts(path: str | os.PathLike) -> dict[str, str]:
    """A Kaldi ``text`` file (sorted, unique ids); an utterance with no words has the empty transcript."""
    return read_table(path, allow_empty_value=True)


def load_examples(text_path: str | os.PathLike, labels_path: str | os.PathLike,
                  cfg: TextClassifierConfig) -> list[Example]:
    """Labelled utterances with their transcripts, in sorted-utterance order.

    Every labelled utterance (after dropping ``cfg.ignore_classes``) must have a
    transcript: otherwise a :class:`DataError` naming both files and the first missing
    utterance. Transcripts without a label are ignored (counted in the log).
    """
    texts = read_transcripts(text_path)
    if cfg.task == "category":
        labels, dropped = read_category_labels(labels_path, cfg.classes, cfg.ignore_classes)
        if dropped:
            logger.info("%s: dropped %d utterances labelled %s (not trained on)", labels_path,
                        sum(dropped.values()), ", ".join(f"{c} x{n}" for c, n in sorted(dropped.items())))
    elif cfg.task == "multilabel":
        labels = read_multilabel_labels(labels_path, cfg.classes)
    else:
        labels = read_attribute_labels(labels_path)
    missing = [utt for utt in labels if utt not in texts]
    if missing:
        raise DataError(text_path, None, f"{len(missing)} labelled utterances of {labels_path} have no transcript "
                                         f"here (first: '{missing[0]}')")
    unlabelled = len(texts) - sum(1 for utt in texts if utt in labels)
    if unlabelled:
        logger.info("%s: %d transcripts without a (trainable) label in %s are not used", text_path, unlabelled,
                    labels_path)
    if not labels:
        raise DataError(labels_path, None, "no trainable labels")
    return [Example(utt, texts[utt], labels[utt]) for utt in labels]


def encode_texts(tokenizer: Any, texts: Sequence[str], max_length: int) -> list[list[int]]:
    """Token ids of each text (special tokens added, truncated at ``max_length``); never empty."""
    encoded = tokenizer(list(texts), truncation=True, max_length=max_length, padding=False)["input_ids"]
    filler = next(t for t in (tokenizer.eos_token_id, tokenizer.pad_token_id) if t is not None)
    return [list(ids) if len(ids) else [filler] for ids in encoded]


class TextLabelDataset:
    """A torch map-style dataset of tokenised transcripts and their targets."""

    def __init__(self, examples: Sequence[Example], tokenizer: Any, max_length: int, task: str,
                 target_mean: np.ndarray | None = None, target_std: np.ndarray | None = None) -> None:
        self.utts = [e.utt for e in examples]
        self.input_ids = encode_texts(tokenizer, [e.text for e in examples], max_length)
        if task == "category":
            self.labels: list[Any] = [int(e.label) for e in examples]
        elif task == "multilabel":
            self.labels = [[float(v) for v in e.label] for e in examples]
        else:
            values = np.asarray([e.label for e in examples], dtype=np.float64)
            if target_mean is not None:
                values = (values - target_mean) / target_std
            self.labels = [row.astype(np.float32).tolist() for row in values]
        truncated = sum(1 for ids in self.input_ids if len(ids) >= max_length)
        if truncated:
            logger.info("%d of %d transcripts truncated at max_length=%d tokens", truncated, len(self.input_ids),
                        max_length)

    def __len__(self) -> int:
        return len(self.input_ids)

    def __getitem__(self, i: int) -> dict[str, Any]:
        return {"input_ids": self.input_ids[i], "labels": self.labels[i]}


def target_stats(examples: Sequence[Example]) -> dict[str, list[float]]:
    """Mean and deviation (floored at 1e-3) of the attribute targets."""
    values = np.asarray([e.label for e in examples], dtype=np.float64)
    return {"mean": values.mean(axis=0).tolist(), "std": np.maximum(values.std(axis=0), 1e-3).tolist()}


# ----------------------------------------------------------------------------------------------
# Trainer pieces


def _logits(outputs: Any) -> Any:
    return outputs["logits"] if isinstance(outputs, dict) else outputs[0]


#: marks the optimizer's parameter group of the head (:func:`split_head_group`)
HEAD_GROUP = "voxrecipes_head"


def split_head_group(optimizer: Any, model: Any, learning_rate: float) -> int:
    """Move the trainable parameters of the classification head into their own parameter group(s) with
    ``learning_rate`` (weight decay as before); returns how many tensors moved. Done once, before any
    step and before the scheduler is made, so that the schedule scales both rates alike."""
    from voxrecipes.models.text_classifier import head_name

    if any(group.get(HEAD_GROUP) for group in optimizer.param_groups):
        return 0
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    head = head_name(base)
    ids = {id(p) for name, p in model.named_parameters() if p.requires_grad and head in name.split(".")}
    if not ids:
        raise ConfigError(f"head_learning_rate: the model has no trainable parameters under '{head}'")
    moved = []
    for group in optimizer.param_groups:
        params = [p for p in group["params"] if id(p) in ids]
        if params:
            group["params"] = [p for p in group["params"] if id(p) not in ids]
            moved.append({**{k: v for k, v in group.items() if k != "params"}, "params": params,
                          "lr": learning_rate, HEAD_GROUP: True})
    for group in moved:
        optimizer.add_param_group(group)
    count = sum(len(g["params"]) for g in moved)
    logger.info("head '%s': %d parameter tensors at learning rate %g", head, count, learning_rate)
    return count


def make_trainer_class() -> type:
    """``TextClassifierTrainer``: defined lazily so that importing this module does not import transformers."""
    from transformers import Trainer

    from voxrecipes.losses.ccc import neg_mean_ccc_loss

    class TextClassifierTrainer(Trainer):
        """Trainer whose loss is the negative mean CCC for attributes, the model's CE (categories) or BCE
        (multilabel: ``problem_type`` multi_label_classification) otherwise; with ``head_learning_rate``
        the head trains at its own rate."""

        def __init__(self, *args: Any, task: str = "category", head_learning_rate: float | None = None,
                     **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.task = task
            self.head_learning_rate = head_learning_rate

        def create_optimizer(self, model: Any = None) -> Any:
            optimizer = super().create_optimizer(model)
            if self.head_learning_rate is not None:
                split_head_group(optimizer, self.model if model is None else model, self.head_learning_rate)
            return optimizer

        def compute_loss(self, model: Any, inputs: dict, return_outputs: bool = False,
                         num_items_in_batch: Any = None) -> Any:
            if self.task != "attributes":
                return super().compute_loss(model, inputs, return_outputs=return_outputs,
                                            num_items_in_batch=num_items_in_batch)
            model_inputs = {k: v for k, v in inputs.items() if k != "labels"}
            outputs = model(**model_inputs)
            pred = _logits(outputs).float()
            labels = inputs["labels"].to(pred.device, pred.dtype)
            if pred.shape[0] < 2:  # the CCC of one item is undefined: no gradient from this batch
                loss = pred.sum() * 0.0
            else:
                loss = neg_mean_ccc_loss(pred, labels)
            return (loss, outputs) if return_outputs else loss

    return TextClassifierTrainer


def make_compute_metrics(task: str, num_classes: int) -> Any:
    """``compute_metrics`` for the Trainer: ``macro_f1`` (+ ``accuracy``) or ``ccc_mean`` (+ per attribute)."""

    def compute(eval_pred: Any) -> dict[str, float]:
        preds, labels = eval_pred.predictions, eval_pred.label_ids
        if isinstance(preds, (tuple, list)):
            preds = preds[0]
        preds = np.asarray(preds, dtype=np.float64)
        labels = np.asarray(labels)
        if task == "category":
            from voxrecipes.metrics.classification import accuracy, macro_f1

            hyp, ref = preds.argmax(axis=1), labels.astype(np.int64)
            return {"macro_f1": macro_f1(ref, hyp, num_classes), "accuracy": accuracy(ref, hyp)}
        if task == "multilabel":
            from sklearn.metrics import average_precision_score

            aps = [average_precision_score(labels[:, c], preds[:, c]) for c in range(labels.shape[1])
                   if 0 < labels[:, c].sum() < len(labels)]
            return {"mAP": float(np.mean(aps)) if aps else 0.0}
        from voxrecipes.metrics.regression import ccc_per_dim

        cccs = ccc_per_dim(labels, preds)
        values = {f"ccc_{name}": float(value) for name, value in zip(ATTRIBUTES, cccs)}
        values["ccc_mean"] = float(cccs.mean())
        return values

    return compute


def best_metric_name(task: str) -> str:
    return {"category": "macro_f1", "multilabel": "mAP"}.get(task, "ccc_mean")


def make_epoch_logger() -> Any:
    from transformers import TrainerCallback

    class EpochLogger(TrainerCallback):
        """One log line per validation: the epoch and every metric."""

        def on_evaluate(self, args: Any, state: Any, control: Any, metrics: dict | None = None, **kwargs: Any) -> None:
            metrics = metrics or {}
            shown = " ".join(f"{k.removeprefix('eval_')}={v:.4f}" for k, v in sorted(metrics.items())
                             if isinstance(v, float) and k != "epoch" and not k.endswith(("runtime", "per_second")))
            logger.info("epoch %.0f/%s: valid %s", state.epoch or 0, args.num_train_epochs, shown)

    return EpochLogger()


def build_training_args(cfg: TextClassifierConfig, output_dir: str | os.PathLike, *, device: str = "cpu",
                        progress: bool = True) -> Any:
    """``TrainingArguments`` from the config's ``training_args`` over our defaults.

    bf16 is used only on CUDA (asked for on CPU: turned off, logged). Numbers written like
    ``2e-5`` are strings in YAML 1.1 and are rejected with a hint.
    """
    from transformers import TrainingArguments

    values = dict(DEFAULT_ARGS)
    user = dict(cfg.training_args)
    reserved = sorted(set(user) & set(RESERVED_ARGS))
    if reserved:
        raise ConfigError(f"training_args: {', '.join(reserved)} are set by the stage, not the config")
    for key, value in user.items():
        if isinstance(value, str):
            try:
                float(value)
            except ValueError:
                continue
            raise ConfigError(f"training_args.{key}: {value!r} is a string (YAML 1.1 reads numbers like 2e-5 as "
                              "strings); write it as 0.00002 or 2.0e-5")
    values.update(user)
    values.setdefault("seed", cfg.seed)
    if values.get("bf16") and not device.startswith("cuda"):
        logger.info("bf16 asked for, but training runs on %s: using float32", device)
        values["bf16"] = False
    if not progress:
        values["disable_tqdm"] = True
    values.update({"output_dir": os.fspath(output_dir), "label_names": ["labels"], "remove_unused_columns": False,
                   "metric_for_best_model": best_metric_name(cfg.task), "greater_is_better": True,
                   "use_cpu": device == "cpu"})
    try:
        return TrainingArguments(**values)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"training_args: {err}") from None


# ----------------------------------------------------------------------------------------------
# The training stage


def _same_config(path: Path, cfg: TextClassifierConfig) -> bool:
    import yaml

    try:
        with open(path, encoding="utf-8") as handle:
            return TextClassifierConfig.from_dict(yaml.safe_load(handle) or {}).to_dict() == cfg.to_dict()
    except (OSError, ValueError, yaml.YAMLError, ConfigError):
        return False


def train_text_classifier(cfg: TextClassifierConfig, *, train_text: str, train_labels: str, valid_text: str,
                          valid_labels: str, out_dir: str | os.PathLike, config_path: str | None = None,
                          device: str | None = "cpu", progress: bool = True, overwrite: bool = False) -> dict:
    """Train on (train_text, train_labels), keep the best epoch on the validation set, export ``out_dir/model``.

    A finished ``out_dir/model`` is left alone (returns its summary) unless ``overwrite``;
    ``overwrite`` also discards ``out_dir/trainer``. Checkpoints in ``out_dir/trainer`` from
    a killed run of the same config are resumed from the last one; a different config
    there is a :class:`ConfigError` (use ``overwrite``). Returns a summary dict (also in
    ``out_dir/valid_metrics.json``).
    """
    from transformers.trainer_utils import get_last_checkpoint

    from voxrecipes.models.text_classifier import (
        build_text_classifier,
        check_quantization_available,
        export_text_classifier,
    )

    out_dir = Path(out_dir)
    model_dir, trainer_dir = out_dir / MODEL_SUBDIR, out_dir / TRAINER_SUBDIR
    config_copy = out_dir / CONFIG_COPY
    if (model_dir / META_FILE).is_file() and not overwrite:
        logger.info("%s is complete: skipping training (use --overwrite to retrain)", model_dir)
        metrics = out_dir / METRICS_FILE
        return json.loads(metrics.read_text(encoding="utf-8")) if metrics.is_file() else {}
    if overwrite:
        for path in (model_dir, trainer_dir):
            if path.exists():
                logger.info("--overwrite: removing %s", path)
                shutil.rmtree(path)
    device = pick_device(device)
    check_quantization_available(cfg.quantization)
    args = build_training_args(cfg, trainer_dir, device=device, progress=progress)  # bad values fail before any write
    last = get_last_checkpoint(str(trainer_dir)) if trainer_dir.is_dir() else None
    if last is not None and not _same_config(config_copy, cfg):
        raise ConfigError(f"{trainer_dir} holds checkpoints of a training with another config ({config_copy}); "
                          "use --overwrite to start again")
    if last is None and trainer_dir.is_dir():
        shutil.rmtree(trainer_dir)  # no checkpoint yet: nothing to resume (a config-built base is made again)
    out_dir.mkdir(parents=True, exist_ok=True)
    import yaml

    from voxrecipes.fileio import atomic_write

    with atomic_write(config_copy) as handle:
        if config_path is not None:
            handle.write(Path(config_path).read_text(encoding="utf-8"))
        else:
            yaml.safe_dump(cfg.to_dict(), handle, sort_keys=False)

    train_examples = load_examples(train_text, train_labels, cfg)
    valid_examples = load_examples(valid_text, valid_labels, cfg)
    stats = target_stats(train_examples) if cfg.task == "attributes" and cfg.normalize_targets else None
    class_counts = None
    if cfg.task == "category":
        counts = np.bincount([e.label for e in train_examples], minlength=len(cfg.classes))
        class_counts = {c: int(n) for c, n in zip(cfg.classes, counts)}
        logger.info("training classes: %s", " ".join(f"{c}={n}" for c, n in class_counts.items()))
    elif cfg.task == "multilabel":
        counts = np.asarray([e.label for e in train_examples]).sum(axis=0)
        class_counts = {c: int(n) for c, n in zip(cfg.classes, counts)}
        logger.info("training positives per class: %s", " ".join(f"{c}={n}" for c, n in class_counts.items()))
    if class_counts:
        empty = [c for c, n in class_counts.items() if n == 0]
        if empty:
            logger.warning("no training utterance of class(es) %s", ", ".join(empty))

    trainer_dir.mkdir(parents=True, exist_ok=True)
    base_dir = trainer_dir / BASE_SUBDIR if cfg.model_config is not None and cfg.use_lora else None
    model, tokenizer = build_text_classifier(cfg, base_dir=base_dir)
    if hasattr(model.config, "use_cache"):
        model.config.use_cache = False
    mean = np.asarray(stats["mean"]) if stats else None
    std = np.asarray(stats["std"]) if stats else None
    train_set = TextLabelDataset(train_examples, tokenizer, cfg.max_length, cfg.task, mean, std)
    valid_set = TextLabelDataset(valid_examples, tokenizer, cfg.max_length, cfg.task, mean, std)
    logger.info("%d training and %d validation utterances; device %s", len(train_set), len(valid_set), device)

    from transformers import DataCollatorWithPadding

    trainer_class = make_trainer_class()
    trainer = trainer_class(model=model, args=args, train_dataset=train_set, eval_dataset=valid_set,
                            data_collator=DataCollatorWithPadding(tokenizer),
                            compute_metrics=make_compute_metrics(cfg.task, len(cfg.output_names)),
                            callbacks=[make_epoch_logger()], task=cfg.task,
                            head_learning_rate=cfg.head_learning_rate)
    if last is not None:
        logger.info("resuming from %s", last)
    start = time.time()
    trainer.train(resume_from_checkpoint=last)
    seconds = time.time() - start
    metric = best_metric_name(cfg.task)
    history = [{k.removeprefix("eval_"): v for k, v in entry.items()} for entry in trainer.state.log_history
               if f"eval_{metric}" in entry]
    best = trainer.state.best_metric
    logger.info("best valid %s %.4f (%s); training took %.1f s", metric, best if best is not None else float("nan"),
                trainer.state.best_model_checkpoint, seconds)
    summary = {"metric": metric, "best": best, "best_checkpoint": trainer.state.best_model_checkpoint,
               "train_seconds": round(seconds, 1), "resumed_from": last, "epochs": history}
    trained = trainer.model
    trained.eval()
    export_text_classifier(trained, tokenizer, cfg, model_dir, class_counts=class_counts, target_stats=stats,
                           base_dir=base_dir, extra_meta={"valid_" + metric: best})
    with atomic_write(out_dir / METRICS_FILE) as handle:
        json.dump(summary, handle, indent=2)
        handle.write("\n")
    logger.info("wrote %s", model_dir)
    return summary


# ----------------------------------------------------------------------------------------------
# Inference


def predict_texts(clf: TextClassifier, texts: Sequence[str], *, batch_size: int = 32,
                  progress: bool = False) -> np.ndarray:
    """``(N, C)`` softmax posteriors (category), per-class sigmoid probabilities (multilabel) or ``(N, 3)``
    attributes on the labels' scale, in input order.

    Texts are batched by token length (less padding); an empty text is scored as the
    empty string (its special tokens, or the EOS/pad token alone).
    """
    import torch
    from tqdm import tqdm
    from transformers import DataCollatorWithPadding

    if batch_size < 1:
        raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
    collate = DataCollatorWithPadding(clf.tokenizer)
    ids = encode_texts(clf.tokenizer, texts, clf.max_length)
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
    out = np.zeros((len(ids), len(clf.output_names)), dtype=np.float64)
    device = clf.device
    with torch.inference_mode(), tqdm(total=len(ids), disable=not progress, unit="utt") as bar:
        for start in range(0, len(order), batch_size):
            rows = order[start:start + batch_size]
            batch = collate([{"input_ids": ids[i]} for i in rows]).to(device)
            logits = _logits(clf.model(**batch)).float()
            if clf.task == "category":
                values = torch.softmax(logits, dim=-1)
            elif clf.task == "multilabel":
                values = torch.sigmoid(logits)
            else:
                values = logits
            out[rows] = values.cpu().numpy().astype(np.float64)
            bar.update(len(rows))
    if clf.task == "attributes" and clf.meta.get("target_mean") is not None:
        out = out * np.asarray(clf.meta["target_std"]) + np.asarray(clf.meta["target_mean"])
    if clf.task == "attributes":
        # The regression head is unbounded; the labels (and the speech model's outputs) lie in
        # [1, 7], and the challenge CSV must too, so predictions are clipped to that scale.
        out = np.clip(out, *ATTR_RANGE)
    return out


def score_text_file(clf: TextClassifier, text_path: str | os.PathLike, *, batch_size: int = 32,
                    progress: bool = False) -> Any:
    """:class:`Posteriors` of every utterance of a Kaldi ``text`` file (classes = the model's outputs)."""
    from voxrecipes.data.posteriors import Posteriors

    texts = read_transcripts(text_path)
    if not texts:
        raise DataError(text_path, None, "no utterances")
    utts = list(texts)
    values = predict_texts(clf, [texts[u] for u in utts], batch_size=batch_size, progress=progress)
    return Posteriors(utts, clf.output_names, values)
