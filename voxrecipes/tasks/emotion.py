"""ESPnet task of the MSP-Podcast emotion models: data names, crops, augmentation, collation, model, metrics.

ESPnet's ``AbsTask`` gives the YAML config, DDP, AMP, gradient accumulation, resume,
n-best model selection, TensorBoard, the length-bucketing and the category-balanced
batch samplers (``--iterator_type category --batch_type catbel`` with the dump's
``category2utt``, used to finetune the attribute model on balanced data); this module
says what is emotion-specific:

- data names: ``speech`` (``sound``: the dumped 16 kHz wavs), ``category``
  (``text_int``: the index of the consensus class) for the category model,
  ``attributes`` (``text_float``: valence arousal dominance, 1-7) for the attribute model;
- preprocessing: each training utterance gets a random crop whose length is drawn
  from [``crop_min_seconds``, ``crop_max_seconds``] (2-4 s for categories, 3-4 s then
  6-8 s for attributes), at most the utterance; evaluation uses whole utterances (at
  most ``eval_max_seconds``);
- collation: waveforms padded into a batch, augmented in training
  (:class:`~voxrecipes.data.augment.WaveformAugmenter`: MUSAN noise, RIRs, speed
  perturbation of half the batches), then the encoder's input (Wav2Vec2-BERT's log-mel
  features, or Whisper's) with its mask;
- the model (``--backbone``): :class:`~voxrecipes.models.w2vbert_classifier.W2VBertEmotionModel`
  (LoRA on a pretrained ``--w2vbert_model`` or on a config-built ``--w2vbert_conf``; the
  paper's) or :class:`~voxrecipes.models.whisper_emotion.WhisperEmotionModel` (the same
  LoRA, pooling and head on a Whisper encoder: ``--whisper_model package:whisper_base`` or
  ``--whisper_conf``);
- validation: macro-F1 over ``--f1_classes`` (the 8 emotions; utterances labelled with
  other classes are left out) or the mean CCC, over the whole validation set, reported
  as ``valid/macro_f1`` or ``valid/ccc`` for ``--best_model_criterion``.

Reproducibility: ESPnet seeds Python's, numpy's and torch's RNGs with ``--seed`` before
building the model and with ``seed + epoch`` before each epoch; each data-loader worker
gets its torch seed from that state and its numpy seed from ``seed + epoch + worker id``,
so the crops (numpy) and the augmentation (torch, including the noise/RIR files drawn)
are a function of the seed. What the seed does not fix is the float arithmetic: the
order of the additions in CPU reductions follows torch's intra-op thread count, so the
same seed gives the same weights bit for bit only with the same ``--num_threads`` (the
recipes' job runner pins it to 1 per job), the same number of data-loader workers and
the same machine. ``--deterministic`` (default true) also makes torch choose
deterministic GPU kernels (``torch.use_deterministic_algorithms``).

The backbone's configuration is written into ``config.yaml`` (``encoder_config``) so
that :func:`~voxrecipes.tasks.emotion_inference.load_emotion_model` rebuilds the
trained model without the pretrained checkpoint it started from.
"""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Callable, Collection

import numpy as np
import torch
from espnet2.tasks.abs_task import AbsTask
from espnet2.utils.nested_dict_action import NestedDictAction
from espnet2.utils.types import float_or_none, int_or_none, str2bool, str_or_none

from voxrecipes.data.audio import SAMPLE_RATE
from voxrecipes.errors import ConfigError
from voxrecipes.labels import EMOTION_CLASSES, EMOTION_CODES
from voxrecipes.models.emotion_base import ATTRIBUTE_OUTPUTS, TASKS, EmotionModelBase, Frontend
from voxrecipes.models.w2vbert_classifier import DEFAULT_TARGET_MODULES as W2VBERT_TARGET_MODULES
from voxrecipes.models.w2vbert_classifier import W2VBertEmotionModel, W2VBertFrontend
from voxrecipes.tasks.emotion_model import EmotionESPnetModel
from voxrecipes.tasks.set_level_trainer import SetLevelTrainer

logger = logging.getLogger(__name__)

#: The 10 training classes of the paper: 8 emotions, O (other) and X (no agreement).
CLASSES = EMOTION_CODES
#: The classes of the challenge's macro-F1.
F1_CLASSES = EMOTION_CLASSES
#: Speech encoders of the emotion model (``--backbone``): the paper's Wav2Vec2-BERT, or a Whisper encoder.
BACKBONES = ("w2vbert", "whisper")
#: cuBLAS workspace setting that ``torch.use_deterministic_algorithms`` needs on CUDA >= 10.2.
CUBLAS_WORKSPACE_CONFIG = ":4096:8"


class EmotionCrop:
    """Preprocessing: a random crop of random length in training, the whole utterance (capped) otherwise."""

    def __init__(self, min_seconds: float, max_seconds: float, train: bool, eval_max_seconds: float | None = None,
                 sample_rate: int = SAMPLE_RATE):
        if not 0 < min_seconds <= max_seconds:
            raise ConfigError(f"need 0 < crop_min_seconds <= crop_max_seconds, got {min_seconds}, {max_seconds}")
        self.min_samples = int(round(min_seconds * sample_rate))
        self.max_samples = int(round(max_seconds * sample_rate))
        self.eval_max = None if eval_max_seconds is None else int(round(eval_max_seconds * sample_rate))
        self.train = train

    def __call__(self, uid: str, data: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        speech = np.asarray(data["speech"])
        if speech.ndim != 1:
            raise ValueError(f"{uid}: expected mono audio, got shape {speech.shape}")
        if len(speech) == 0:
            raise ValueError(f"{uid}: empty utterance")
        if self.train:
            # np.random: ESPnet seeds it per epoch and per DataLoader worker, so crops are reproducible.
            length = min(len(speech), np.random.randint(self.min_samples, self.max_samples + 1))
            start = np.random.randint(0, len(speech) - length + 1)
            speech = speech[start:start + length]
        elif self.eval_max is not None:
            speech = speech[:self.eval_max]
        data["speech"] = speech
        return data


def pad_waveforms(waves: list[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    """``(B, T_max)`` zero-padded float batch and the ``(B,)`` lengths in samples."""
    from torch.nn.utils.rnn import pad_sequence

    lengths = torch.tensor([len(w) for w in waves], dtype=torch.long)
    return pad_sequence([torch.as_tensor(w, dtype=torch.float32) for w in waves], batch_first=True), lengths


class EmotionCollate:
    """Batch of ``(utt, {speech, category | attributes})`` -> augmented waveforms -> features and targets.

    ``frontend`` turns the waveforms into the encoder's input and mask (default: Wav2Vec2-BERT's
    features, normalised per mel bin when ``normalize_features``).
    """

    def __init__(self, augmenter=None, normalize_features: bool = True, frontend: Frontend | None = None):
        self.frontend = frontend or W2VBertFrontend(normalize_features, SAMPLE_RATE)
        # the transformers feature extractor behind the front end
        self.extractor = getattr(self.frontend, "extractor", None)
        self.augmenter = augmenter

    def __call__(self, data: Collection[tuple[str, dict[str, np.ndarray]]]) -> tuple[list[str], dict]:
        utts = [uid for uid, _ in data]
        items = [d for _, d in data]
        waves = [np.asarray(d["speech"], dtype=np.float32) for d in items]
        if self.augmenter is not None:
            batch, lengths = self.augmenter(*pad_waveforms(waves))
            waves = [batch[i, :int(n)].numpy() for i, n in enumerate(lengths)]
        features, mask = self.frontend(waves)
        out: dict[str, torch.Tensor] = {"input_features": features, "attention_mask": mask}
        for name, dtype in (("category", np.int64), ("attributes", np.float32)):
            present = [name in d for d in items]
            if any(present):
                if not all(present):
                    raise ValueError(f"'{name}' missing for utterance {utts[present.index(False)]}")
                out[name] = torch.from_numpy(np.stack([np.asarray(d[name], dtype=dtype).reshape(-1) for d in items]))
        return utts, out


def build_emotion_model(args: argparse.Namespace) -> EmotionModelBase:
    """The model of ``args`` (``--backbone``): saved ``encoder_config``, else the pretrained model, else the conf.

    W2V-BERT: ``w2vbert_model`` / ``w2vbert_conf``; Whisper: ``whisper_model`` / ``whisper_conf``.
    """
    backbone = getattr(args, "backbone", "w2vbert") or "w2vbert"
    if backbone not in BACKBONES:
        raise ConfigError(f"backbone must be one of {BACKBONES}, got {backbone!r}")
    saved = getattr(args, "encoder_config", None)
    common = dict(
        num_outputs=len(args.classes), task=args.model_task, lora_r=args.lora_r, lora_alpha=args.lora_alpha,
        lora_dropout=args.lora_dropout, target_modules=default_target_modules(args), embedding_dim=args.embedding_dim,
        attention_dim=args.attention_dim, pooling_stats=args.pooling_stats, use_lora=args.use_lora,
        # configs written before the option existed trained bounded attribute outputs
        attribute_output=getattr(args, "attribute_output", "bounded"))
    if backbone == "whisper":
        from transformers import WhisperConfig

        from voxrecipes.models.whisper_emotion import WhisperEmotionModel, max_seconds_of_config

        if saved:
            config = WhisperConfig(**saved)
            return WhisperEmotionModel(config, max_seconds=max_seconds_of_config(config), **common)
        if args.whisper_model:
            source = args.whisper_model
        elif args.whisper_conf:
            source = WhisperConfig(**args.whisper_conf)
        else:
            raise ConfigError("backbone whisper needs --whisper_model (e.g. package:whisper_base) or --whisper_conf")
        return WhisperEmotionModel(source, max_seconds=args.whisper_max_seconds, **common)
    from transformers import Wav2Vec2BertConfig

    if saved or not args.w2vbert_model:
        source = Wav2Vec2BertConfig(**(saved or args.w2vbert_conf or {}))
    else:
        source = args.w2vbert_model
    return W2VBertEmotionModel(source, normalize_features=args.normalize_features, **common)


def default_target_modules(args: argparse.Namespace) -> list[str]:
    """``--target_modules``, or the attention projections of the ``--backbone`` when not given."""
    if getattr(args, "target_modules", None):
        return list(args.target_modules)
    if getattr(args, "backbone", "w2vbert") == "whisper":
        from voxrecipes.models.whisper_emotion import DEFAULT_TARGET_MODULES

        return list(DEFAULT_TARGET_MODULES)
    return list(W2VBERT_TARGET_MODULES)


def make_frontend(args: argparse.Namespace) -> Frontend:
    """The collate function's waveform -> encoder-input function of ``args`` (built after the model).

    Whisper's mel-bin count and input length come from the encoder config that
    :meth:`EmotionTask.build_model` recorded (80 bins for base, 128 for large-v3).
    """
    if getattr(args, "backbone", "w2vbert") != "whisper":
        return W2VBertFrontend(args.normalize_features, SAMPLE_RATE)
    from transformers import WhisperConfig

    from voxrecipes.models.whisper_emotion import WhisperFrontend, max_seconds_of_config

    conf = getattr(args, "encoder_config", None) or args.whisper_conf or {}
    if not conf:
        raise ConfigError("the Whisper front end needs the encoder config (build the model first)")
    config = WhisperConfig(**conf)
    return WhisperFrontend(config.num_mel_bins, max_seconds_of_config(config))


def validation_metric(core: EmotionESPnetModel, outputs: np.ndarray, targets: np.ndarray) -> dict[str, float]:
    """Macro-F1 over ``f1_classes`` (arg-max among them) or the mean CCC of the whole validation set."""
    if core.task == "category":
        from voxrecipes.metrics.classification import macro_f1

        columns = [core.classes.index(c) for c in core.f1_classes]
        position = {col: k for k, col in enumerate(columns)}
        keep = np.isin(targets, columns)
        if not keep.any():
            return {"macro_f1": float("nan")}
        y_true = np.array([position[int(t)] for t in targets[keep]])
        y_pred = outputs[keep][:, columns].argmax(axis=1)
        return {"macro_f1": macro_f1(y_true, y_pred, len(columns))}
    from voxrecipes.metrics.regression import ccc_per_dim

    if len(targets) < 2:
        return {"ccc": float("nan")}
    return {"ccc": float(np.mean(ccc_per_dim(targets, outputs)))}


class EmotionTrainer(SetLevelTrainer):
    """ESPnet's trainer with the validation macro-F1 / CCC computed over the whole validation set."""

    @classmethod
    def set_metrics(cls, model, outputs: np.ndarray, targets: np.ndarray) -> dict[str, float]:
        return validation_metric(model, outputs, targets)


class EmotionTask(AbsTask):
    """Utterance-level emotion categories or attributes with a LoRA-adapted Wav2Vec2-BERT or Whisper encoder."""

    num_optimizers: int = 1
    class_choices_list: list = []
    trainer = EmotionTrainer

    @classmethod
    def add_task_arguments(cls, parser: argparse.ArgumentParser) -> None:
        group = parser.add_argument_group(description="Emotion task related")
        group.add_argument("--model_task", choices=TASKS, default="category",
                           help="category: CE over --classes; attributes: valence/arousal/dominance with -CCC")
        group.add_argument("--classes", nargs="+", default=list(CLASSES),
                           help="output classes, in the order of the 'category' indices")
        group.add_argument("--f1_classes", nargs="+", default=list(F1_CLASSES),
                           help="classes of the validation macro-F1 'macro_f1'")
        group.add_argument("--backbone", choices=BACKBONES, default="w2vbert",
                           help="speech encoder: w2vbert (the paper's Wav2Vec2-BERT) or whisper (a Whisper encoder, "
                                "with the same LoRA, pooling and head)")
        group.add_argument("--w2vbert_model", type=str_or_none, default=None,
                           help="pretrained Wav2Vec2-BERT (model id or local directory); none: --w2vbert_conf")
        group.add_argument("--w2vbert_conf", action=NestedDictAction, default={},
                           help="Wav2Vec2BertConfig keyword arguments of a randomly initialised backbone")
        group.add_argument("--whisper_model", type=str_or_none, default=None,
                           help="backbone whisper: pretrained Whisper (package:whisper_base, a model id or a local "
                                "transformers directory); none: --whisper_conf")
        group.add_argument("--whisper_conf", action=NestedDictAction, default={},
                           help="backbone whisper: WhisperConfig keyword arguments of a randomly initialised encoder")
        group.add_argument("--whisper_max_seconds", type=float, default=30.0,
                           help="backbone whisper: length of the encoder's position table; longer inputs are cut "
                                "(each batch only computes the positions its longest clip needs)")
        group.add_argument("--encoder_config", action=NestedDictAction, default={},
                           help="set by training: the full backbone config, so a trained model rebuilds offline")
        group.add_argument("--use_lora", type=str2bool, default=True,
                           help="LoRA adapters on a frozen backbone; false: train the whole backbone")
        group.add_argument("--lora_r", type=int, default=32, help="LoRA rank")
        group.add_argument("--lora_alpha", type=float, default=32, help="LoRA alpha")
        group.add_argument("--lora_dropout", type=float, default=0.05, help="LoRA dropout")
        group.add_argument("--target_modules", nargs="+", default=None,
                           help="backbone modules that get adapters (default: the backbone's attention projections, "
                                f"w2vbert: {' '.join(W2VBERT_TARGET_MODULES)}; whisper: q_proj k_proj v_proj out_proj)")
        group.add_argument("--embedding_dim", type=int, default=256, help="size of the dense layer (the embedding)")
        group.add_argument("--attention_dim", type=int, default=128, help="hidden size of the attentive pooling")
        group.add_argument("--pooling_stats", type=str2bool, default=False,
                           help="append the attention-weighted standard deviation to the pooled mean")
        group.add_argument("--normalize_features", type=str2bool, default=True,
                           help="per-utterance, per-mel-bin normalisation of the features (Wav2Vec2-BERT's "
                                "pretraining input; a backbone trained from random weights may do without)")
        group.add_argument("--attribute_output", choices=ATTRIBUTE_OUTPUTS, default="linear",
                           help="attribute head after tanh: linear (the paper: Linear(3)) or bounded "
                                "(4 + 3 tanh(Linear(3)), always on the 1-7 scale)")
        group.add_argument("--crop_min_seconds", type=float, default=2.0, help="shortest random training crop")
        group.add_argument("--crop_max_seconds", type=float, default=4.0, help="longest random training crop")
        group.add_argument("--min_utterance_seconds", type=float_or_none, default=None,
                           help="training utterances shorter than this are an error (default: crop_min_seconds); "
                                "shorter ones that are allowed are used whole")
        group.add_argument("--eval_max_seconds", type=float_or_none, default=None,
                           help="validation uses at most this much of each utterance (none: all of it)")
        group.add_argument("--augmentation", action=NestedDictAction, default={},
                           help="WaveformAugmenter options (probabilities, SNRs, speeds); empty: no augmentation")
        group.add_argument("--noise_csv", type=str_or_none, default=None,
                           help="noise list written by make_augment_csvs (MUSAN point-source noises)")
        group.add_argument("--rir_csv", type=str_or_none, default=None,
                           help="room impulse response list written by make_augment_csvs")
        group.add_argument("--num_threads", type=int_or_none, default=None,
                           help="torch intra-op threads of the training process (none: torch's default, which "
                                "follows OMP_NUM_THREADS); the same seed gives the same weights only with the same "
                                "thread count")
        group.add_argument("--deterministic", type=str2bool, default=True,
                           help="torch.use_deterministic_algorithms (warn-only): deterministic GPU kernels, "
                                "so that a GPU run repeats too")

    @classmethod
    def main_worker(cls, args: argparse.Namespace) -> None:
        """Fix what the seed alone does not (threads, kernel choice), log it, then train as ESPnet does."""
        if args.num_threads is not None:
            if args.num_threads < 1:
                raise ConfigError(f"--num_threads must be positive, got {args.num_threads}")
            torch.set_num_threads(args.num_threads)
        if args.deterministic:
            # cuBLAS reads this when it starts: it must be set before the first CUDA matmul.
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", CUBLAS_WORKSPACE_CONFIG)
            torch.use_deterministic_algorithms(True, warn_only=True)
        super().main_worker(args)

    @classmethod
    def build_augmenter(cls, args: argparse.Namespace):
        """The training augmenter of ``args``, or None when neither options nor lists are given."""
        conf = dict(args.augmentation or {})
        if not conf and not args.noise_csv and not args.rir_csv:
            return None
        from voxrecipes.data.augment import WaveformAugmenter

        if args.noise_csv:
            conf["noise_csv"] = args.noise_csv
        if args.rir_csv:
            conf["rir_csv"] = args.rir_csv
        return WaveformAugmenter.from_config(conf)

    @classmethod
    def build_collate_fn(cls, args: argparse.Namespace, train: bool) -> Callable:
        return EmotionCollate(cls.build_augmenter(args) if train else None, frontend=make_frontend(args))

    @classmethod
    def build_preprocess_fn(cls, args: argparse.Namespace, train: bool) -> Callable | None:
        return EmotionCrop(args.crop_min_seconds, args.crop_max_seconds, train, args.eval_max_seconds)

    @classmethod
    def required_data_names(cls, train: bool = True, inference: bool = False) -> tuple[str, ...]:
        return ("speech",)

    @classmethod
    def optional_data_names(cls, train: bool = True, inference: bool = False) -> tuple[str, ...]:
        return ("category", "attributes")

    @classmethod
    def build_model(cls, args: argparse.Namespace) -> EmotionESPnetModel:
        # Logged here, after ESPnet has set up logging: what the weights depend on besides the seed.
        logger.info("seed %d, torch intra-op threads %d, data-loader workers %d, deterministic algorithms %s",
                    getattr(args, "seed", 0), torch.get_num_threads(), getattr(args, "num_workers", 0),
                    getattr(args, "deterministic", False))
        model = build_emotion_model(args)
        # Recorded in config.yaml (dumped after build_model) so that inference needs no pretrained checkpoint.
        args.encoder_config = model.backbone_config.to_diff_dict()
        return EmotionESPnetModel(model, args.classes, args.f1_classes)
