"""ESPnet task of the voice-toxicity classifier: data names, crops, collation, model building, validation mAP.

ESPnet's ``AbsTask`` gives the YAML config, DDP (torchrun or ESPnet's launcher), AMP,
gradient accumulation, resume, n-best model selection, TensorBoard and the
length-bucketing batch samplers; this module says what is toxicity-specific:

- data names: ``speech`` (``sound``: the dumped 16 kHz wavs), ``labels``
  (``text_float``: multi-hot vectors over ``--classes``) and, for text injection,
  ``text_emb`` (``kaldi_ark``: transcript embeddings computed once by
  ``extract_text_embeddings``);
- preprocessing: training clips longer than ``--max_seconds`` get a random crop of
  that length (a new one each epoch), evaluation clips their first ``--max_seconds``
  (the real recipe's data preparation excludes training clips over 15 s instead, as the
  paper does: ``voxrecipes.data.duration_select``);
- the optimiser (``--optim adam``: the paper's coupled weight decay; ``adamw``: decoupled),
  logged with the effective global batch (:func:`effective_batch`);
- collation: Whisper log-mel features padded to ``--max_seconds`` (not 30 s) with the
  number of valid frames, so pooling can ignore the padding;
- the model (:class:`~voxrecipes.tasks.toxicity_model.ToxicityESPnetModel`) from a
  pretrained Whisper (``--whisper_model``, a model id or local directory) or from a
  config (``--whisper_conf``, random weights; the mini recipe);
- validation: the mAP over ``--ap_classes`` of the whole validation set, reported
  as ``valid/mAP`` for ``--best_model_criterion``.

The encoder's full configuration is written into the experiment's ``config.yaml``
(``encoder_config``), so :func:`load_classifier` rebuilds the trained model without
the pretrained checkpoint it started from.
"""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from espnet2.tasks.abs_task import AbsTask
from espnet2.utils.nested_dict_action import NestedDictAction
from espnet2.utils.types import float_or_none, int_or_none, str2bool, str_or_none

from voxrecipes.data.audio import SAMPLE_RATE
from voxrecipes.errors import ConfigError
from voxrecipes.labels import TOXIC_AP_CLASSES, TOXICITY_CLASSES
from voxrecipes.models.whisper_classifier import (
    WhisperTextInjectionClassifier,
    build_encoder,
    extract_features,
    make_feature_extractor,
)
from voxrecipes.tasks.set_level_trainer import SetLevelTrainer
from voxrecipes.tasks.toxicity_model import CONTRASTIVE_REDUCTIONS, INJECTION_LOSSES, ToxicityESPnetModel
from voxrecipes.tasks.toxicity_schedule import register as _register_scheduler

_register_scheduler()  # --scheduler linearwarmupdecaylr (per-group lrs), before any parser is built

logger = logging.getLogger(__name__)

#: the defaults of --classes and --ap_classes: the paper's six classes and its four mAP classes
CLASSES = TOXICITY_CLASSES
AP_CLASSES = TOXIC_AP_CLASSES


class ClipCrop:
    """Preprocessing: at most ``max_seconds`` of each clip, a random window in training, the start otherwise."""

    def __init__(self, max_seconds: float, train: bool, sample_rate: int = SAMPLE_RATE):
        self.max_samples = int(round(max_seconds * sample_rate))
        self.train = train

    def __call__(self, uid: str, data: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        speech = np.asarray(data["speech"])
        if speech.ndim != 1:
            raise ValueError(f"{uid}: expected mono audio, got shape {speech.shape}")
        if len(speech) == 0:
            raise ValueError(f"{uid}: empty clip")
        if len(speech) > self.max_samples:
            # np.random: ESPnet seeds it per epoch and per DataLoader worker, so crops are reproducible.
            start = np.random.randint(0, len(speech) - self.max_samples + 1) if self.train else 0
            speech = speech[start:start + self.max_samples]
        data["speech"] = speech
        return data


class WhisperCollate:
    """Batch of ``(utt, {speech, labels[, text_emb]})`` -> Whisper features padded to ``max_seconds``."""

    def __init__(self, max_seconds: float, num_mel_bins: int):
        self.max_seconds = max_seconds
        self.num_mel_bins = num_mel_bins
        self.extractor = make_feature_extractor(max_seconds, num_mel_bins)

    def __call__(self, data: Collection[tuple[str, dict[str, np.ndarray]]]) -> tuple[list[str], dict]:
        utts = [uid for uid, _ in data]
        items = [d for _, d in data]
        features, lengths = extract_features(self.extractor, [d["speech"] for d in items])
        batch: dict[str, torch.Tensor] = {"input_features": features, "feature_lengths": lengths}
        for name in ("labels", "text_emb"):
            present = [name in d for d in items]
            if any(present):
                if not all(present):
                    missing = utts[present.index(False)]
                    raise ValueError(f"'{name}' missing for utterance {missing}")
                batch[name] = torch.from_numpy(np.stack([np.asarray(d[name], dtype=np.float32) for d in items]))
        return utts, batch


def _whisper_config(args: argparse.Namespace):
    from transformers import WhisperConfig

    return WhisperConfig(**(getattr(args, "encoder_config", None) or args.whisper_conf or {}))


def whisper_model_path(spec: str) -> str:
    """``--whisper_model`` as ``from_pretrained`` takes it: a local dir, a model id, or ``package:whisper_base``."""
    from voxrecipes.models.model_paths import resolve_model_path

    return resolve_model_path(spec, what="speech encoder")


def build_classifier(args: argparse.Namespace) -> WhisperTextInjectionClassifier:
    """The classifier of ``args``: saved encoder config, else pretrained ``whisper_model``, else ``whisper_conf``."""
    if getattr(args, "encoder_config", None) or not args.whisper_model:
        encoder = build_encoder(_whisper_config(args), max_seconds=args.max_seconds)
    else:
        encoder = build_encoder(whisper_model_path(args.whisper_model), max_seconds=args.max_seconds)
    if args.text_dim is None:
        raise ConfigError("--text_dim is not set (the dimension of the transcript embeddings)")
    return WhisperTextInjectionClassifier(encoder, num_classes=len(args.classes), proj_dim=args.proj_dim,
                                          text_dim=args.text_dim,
                                          dynamic_padding=bool(getattr(args, "dynamic_padding", False)),
                                          freeze_layers=int(getattr(args, "freeze_layers", 0) or 0),
                                          mask_conv_padding=bool(getattr(args, "mask_conv_padding", False)))


#: the layers a toxicity model adds on top of the encoder (trained from scratch)
HEAD_MODULES = ("projector", "classifier", "text_proj")


def parameter_groups(classifier: WhisperTextInjectionClassifier, lr: float,
                     head_lr: float | None) -> list[dict]:
    """Optimizer groups of the trainable parameters: the encoder at ``lr``, the new heads at ``head_lr``."""
    encoder = [p for p in classifier.encoder.parameters() if p.requires_grad]
    heads = [p for name in HEAD_MODULES for p in getattr(classifier, name).parameters() if p.requires_grad]
    groups = [{"params": encoder, "lr": lr}] if encoder else []
    groups.append({"params": heads, "lr": lr if head_lr is None else head_lr})
    return groups


class ToxicityTrainer(SetLevelTrainer):
    """ESPnet's trainer with the validation mAP computed over the whole validation set."""

    @classmethod
    def set_metrics(cls, model, outputs: np.ndarray, targets: np.ndarray) -> dict[str, float]:
        from voxrecipes.metrics.ranking import mean_average_precision

        columns = [model.classes.index(c) for c in model.ap_classes]
        try:
            value = mean_average_precision(targets, outputs, columns)
        except ValueError:  # no positive of any mAP class in the validation set
            value = float("nan")
        return {"mAP": value}


class ToxicityTask(AbsTask):
    """Multi-label voice-toxicity classification with a Whisper encoder and text injection."""

    num_optimizers: int = 1
    class_choices_list: list = []
    trainer = ToxicityTrainer

    @classmethod
    def add_task_arguments(cls, parser: argparse.ArgumentParser) -> None:
        group = parser.add_argument_group(description="Toxicity task related")
        group.add_argument("--classes", nargs="+", default=list(CLASSES),
                           help="output classes, in the order of the 'labels' vectors")
        group.add_argument("--ap_classes", nargs="+", default=list(AP_CLASSES),
                           help="classes whose mean AP is the validation criterion 'mAP'")
        group.add_argument("--whisper_model", type=str_or_none, default=None,
                           help="pretrained Whisper (model id, local directory, or package:whisper_base); "
                                "none: --whisper_conf")
        group.add_argument("--whisper_conf", action=NestedDictAction, default={},
                           help="WhisperConfig keyword arguments of a randomly initialised encoder")
        group.add_argument("--encoder_config", action=NestedDictAction, default={},
                           help="set by training: the full encoder config, so a trained model rebuilds offline")
        group.add_argument("--max_seconds", type=float, default=15.0,
                           help="encoder input length in seconds (Whisper's own is 30)")
        group.add_argument("--proj_dim", type=int, default=256, help="size of the projection before pooling")
        group.add_argument("--text_dim", type=int_or_none, default=None,
                           help="size of the transcript embeddings (1024 for multilingual-e5-large)")
        group.add_argument("--alpha", type=float, default=1.0,
                           help="L = alpha L_cls + (1 - alpha) L_text; 1 is the audio-only baseline")
        group.add_argument("--injection_loss", choices=INJECTION_LOSSES, default="contrastive",
                           help="text-injection loss")
        group.add_argument("--tau", type=float, default=1.0, help="temperature of the contrastive loss")
        group.add_argument("--contrastive_reduction", choices=CONTRASTIVE_REDUCTIONS, default="mean",
                           help="contrastive loss over the batch: sum (the paper's eq. 5; scales with the "
                                "per-device batch against alpha) or mean (divided by the batch size)")
        group.add_argument("--injection_layer", type=int, default=-1,
                           help="encoder layer whose output is aligned with the text (-1: the last)")
        group.add_argument("--gather_all_ranks", type=str2bool, default=True,
                           help="contrastive negatives from the transcripts of every rank")
        group.add_argument("--warmup_ratio", type=float_or_none, default=None,
                           help="linear warm-up over this fraction of all steps, then linear decay to 0 "
                                "(sets --scheduler linearwarmupdecaylr; needs optim_conf.lr)")
        group.add_argument("--head_lr", type=float_or_none, default=None,
                           help="learning rate of the new layers (projector, classifier, text_proj); "
                                "none: optim_conf.lr, as the encoder (the paper)")
        group.add_argument("--freeze_layers", type=int, default=0,
                           help="keep the encoder's front end and its first N transformer layers fixed "
                                "(0: full finetuning, the paper)")
        group.add_argument("--dynamic_padding", type=str2bool, default=False,
                           help="run the encoder on the batch's longest clip, padding masked out of attention, "
                                "instead of on --max_seconds for every clip (the model is scored the same way)")
        group.add_argument("--mask_conv_padding", type=str2bool, default=False,
                           help="with --dynamic_padding: zero the padding before and between the encoder's "
                                "convolutions, so that a clip's scores do not depend on its batch (false: the "
                                "convolutions read the padding's log-mel frames next to a clip's end, as models "
                                "trained before this option did)")

    @classmethod
    def build_optimizers(cls, args: argparse.Namespace, model: torch.nn.Module) -> list[torch.optim.Optimizer]:
        """ESPnet's optimizer over the trainable parameters only, with ``--head_lr`` for the new layers."""
        from espnet2.tasks.abs_task import optim_classes

        optim_class = optim_classes.get(args.optim)
        if optim_class is None:
            raise ConfigError(f"--optim must be one of {', '.join(optim_classes)}, got {args.optim}")
        conf = dict(args.optim_conf or {})
        if "lr" not in conf:
            raise ConfigError("optim_conf.lr is not set")
        lr = float(conf.pop("lr"))
        optimizer = optim_class(parameter_groups(model.classifier, lr, args.head_lr), **conf)
        settings = ", ".join(f"{k} {v}" for k, v in {"lr": lr, "head_lr": args.head_lr, **conf}.items()
                             if v is not None)
        batch = effective_batch(args, _world_size()) if getattr(args, "batch_type", None) else "batch not configured"
        logger.info("optimizer: %s (%s), %s", optim_class.__name__, settings, batch)
        return [optimizer]

    @classmethod
    def build_collate_fn(cls, args: argparse.Namespace, train: bool) -> Callable:
        return WhisperCollate(args.max_seconds, _num_mel_bins(args))

    @classmethod
    def build_preprocess_fn(cls, args: argparse.Namespace, train: bool) -> Callable | None:
        return ClipCrop(args.max_seconds, train)

    @classmethod
    def required_data_names(cls, train: bool = True, inference: bool = False) -> tuple[str, ...]:
        return ("speech",) if inference else ("speech", "labels")

    @classmethod
    def optional_data_names(cls, train: bool = True, inference: bool = False) -> tuple[str, ...]:
        return ("text_emb",)

    @classmethod
    def build_model(cls, args: argparse.Namespace) -> ToxicityESPnetModel:
        classifier = build_classifier(args)
        # Recorded in config.yaml (dumped after build_model) so that inference needs no pretrained checkpoint.
        args.encoder_config = classifier.encoder.config.to_diff_dict()
        model = ToxicityESPnetModel(classifier, args.classes, alpha=args.alpha, injection_loss=args.injection_loss,
                                    tau=args.tau, injection_layer=args.injection_layer,
                                    gather_all_ranks=args.gather_all_ranks, ap_classes=args.ap_classes,
                                    contrastive_reduction=getattr(args, "contrastive_reduction", "mean"))
        return model


def _world_size() -> int:
    """Processes of the running training (1 without torch.distributed)."""
    import torch.distributed as dist

    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def effective_batch(args: argparse.Namespace, world_size: int) -> str:
    """The utterances per optimiser step, as a log line: global batch x ``accum_grad`` and what each process gets.

    ESPnet's ``--batch_size`` is the batch of all processes together (each rank takes
    every ``world_size``-th utterance of it), so the global batch per optimiser step is
    ``batch_size x accum_grad`` whatever the number of GPUs, and the per-device batch is
    ``batch_size / world_size``. The paper's 8 per device x 4 accumulation x 8 GPUs = 256
    is ``--batch_size 64 --accum_grad 4 --ngpu 8``. Batch types that fill batches by
    length (``numel``, ``length``) have no fixed utterance count; the line says so.
    """
    accum = int(args.accum_grad)
    if args.batch_type in ("unsorted", "sorted", "folded"):
        batch = int(args.batch_size)
        per_device = batch / world_size
        upto = "up to " if args.batch_type == "folded" else ""
        return (f"effective global batch {upto}{batch * accum} utterances per optimiser step = "
                f"{per_device:g} per device x accum_grad {accum} x {world_size} device(s) "
                f"(batch_size {batch} is the batch over all devices)")
    return (f"effective global batch: batch_bins {args.batch_bins} ({args.batch_type}: a variable number of "
            f"utterances) x accum_grad {accum}, split over {world_size} device(s)")


def _num_mel_bins(args: argparse.Namespace) -> int:
    """Mel bins the encoder expects (80, or 128 for large-v3) without building it."""
    from transformers import WhisperConfig

    if getattr(args, "encoder_config", None) or not args.whisper_model:
        return int(_whisper_config(args).num_mel_bins)
    return int(WhisperConfig.from_pretrained(whisper_model_path(args.whisper_model)).num_mel_bins)


@dataclass
class TrainedClassifier:
    """A trained classifier ready for inference and what it needs to score audio."""

    model: WhisperTextInjectionClassifier
    classes: list[str]
    max_seconds: float
    num_mel_bins: int
    checkpoint: Path


def load_classifier(exp_dir: str | os.PathLike, checkpoint: str = "valid.mAP.best.pth",
                    device: str = "cpu") -> TrainedClassifier:
    """Rebuild the classifier of a training directory (its ``config.yaml``) and load ``checkpoint`` weights-only."""
    from voxrecipes.tasks.trained_model import load_trained

    classifier, args, path = load_trained(exp_dir, checkpoint, build_classifier, prefix="classifier.",
                                          program="train_toxicity", device=device)
    return TrainedClassifier(classifier, list(args.classes), float(args.max_seconds),
                             int(classifier.encoder.config.num_mel_bins), path)
