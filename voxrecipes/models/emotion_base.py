"""What every emotion model shares, whatever its speech encoder: LoRA, attentive pooling, dense embedding, head.

The TalTech Odyssey 2024 system (section 3.1) adapts a pretrained speech encoder with
``peft`` LoRA on its attention projections (the encoder is frozen; only the adapters
train), pools the encoder's frame outputs with attentive pooling, and puts a fully
connected layer with ReLU and BatchNorm on top whose output is the utterance
*embedding* (what the LDA/LR and PLDA backends use). Then

* ``task="category"``: ``Linear(num_outputs)`` logits (10 classes: 8 emotions, O, X);
* ``task="attributes"``: the softmax is replaced by ``tanh`` followed by ``Linear(3)``
  (valence, arousal, dominance). ``attribute_output="linear"`` is exactly that (the
  paper); its bias starts at the middle of the 1-7 rating scale so that the first
  predictions are on the scale. ``attribute_output="bounded"`` maps the linear output
  onto the scale as ``4 + 3 * tanh(z)`` so that every prediction lies in [1, 7] (ours;
  models saved before the option existed are bounded).

:class:`EmotionModelBase` holds all of that; a subclass only builds its encoder, says how
to run it on a batch (:meth:`EmotionModelBase.encode`) and how waveforms become its
input (:meth:`EmotionModelBase.frontend`). Two exist: Wav2Vec2-BERT
(:mod:`voxrecipes.models.w2vbert_classifier`, the paper's) and the Whisper encoder
(:mod:`voxrecipes.models.whisper_emotion`).

Saved directories hold ``config.json`` (metadata: which model class, its
hyperparameters, the backbone source), ``adapter_config.json`` +
``adapter_model.safetensors`` (peft's adapter files), ``head.safetensors`` (pooling,
dense, BatchNorm statistics and output layer) and, when the backbone was built from a
config rather than a pretrained source (tests, exports of trained models) or is trained
whole, ``backbone.safetensors`` so that the reload is exact. Nothing is pickled;
everything reloads through ``safetensors`` (weights-only by construction).
"""

from __future__ import annotations

import importlib
import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch
from peft import LoraConfig, get_peft_model, get_peft_model_state_dict, set_peft_model_state_dict
from safetensors.torch import load_file, save_file
from torch import nn

from voxrecipes.errors import ConfigError, DataError
from voxrecipes.fileio import atomic_dir
from voxrecipes.labels import ATTR_RANGE
from voxrecipes.models.attentive_pooling import AttentivePooling

TASKS = ("category", "attributes")
#: ``linear``: the paper's tanh -> Linear(3); ``bounded``: 4 + 3 * tanh(Linear(3)), always on the 1-7 scale.
ATTRIBUTE_OUTPUTS = ("linear", "bounded")
ATTRIBUTE_MIN, ATTRIBUTE_MAX = ATTR_RANGE
FORMAT_VERSION = 1
#: ``config.json`` "model" -> module defining that class (imported when a directory of that kind is loaded)
MODEL_MODULES = {
    "W2VBertEmotionModel": "voxrecipes.models.w2vbert_classifier",
    "WhisperEmotionModel": "voxrecipes.models.whisper_emotion",
}
#: hyperparameters every saved model has, passed back to the constructor on reload
COMMON_HPARAMS = ("num_outputs", "task", "lora_r", "lora_alpha", "lora_dropout", "target_modules", "embedding_dim",
                  "attention_dim", "pooling_stats")

#: a front end: 16 kHz waveforms -> (encoder input batch, (B, T) mask of valid input frames)
Frontend = Callable[[list[np.ndarray]], tuple[torch.Tensor, torch.Tensor]]


class EmotionModelBase(nn.Module):
    """Speech encoder (LoRA-adapted) -> attentive pooling -> Linear + ReLU + BatchNorm (embedding) -> head.

    Subclasses set :attr:`MODEL_NAME`, build the encoder and call this constructor with it,
    and implement :meth:`encode`, :meth:`frontend`, :meth:`_backbone_config_dict` and
    :meth:`_from_meta`.

    Args:
        backbone: the transformers encoder (without adapters).
        backbone_path: its pretrained source as the user named it (None: built from a config).
        num_outputs: classes for ``task="category"`` (ignored for attributes, which have 3).
        task: ``"category"`` or ``"attributes"``.
        lora_r, lora_alpha, lora_dropout, target_modules: the peft LoRA configuration.
        use_lora: ``False`` trains the whole backbone instead (no adapters); it is then always saved.
        embedding_dim: size of the first dense layer (the embedding).
        attention_dim: hidden size of the attentive-pooling scorer.
        pooling_stats: append the attention-weighted standard deviation to the pooled mean.
        attribute_output: ``"linear"`` (paper) or ``"bounded"`` (ours), see the module docstring.
        extra_hparams: the subclass's own hyperparameters, saved with the model.
    """

    MODEL_NAME: ClassVar[str] = ""

    def __init__(self, backbone: nn.Module, backbone_path: str | None, *, num_outputs: int, task: str,
                 lora_r: int, lora_alpha: float, lora_dropout: float, target_modules: Sequence[str],
                 embedding_dim: int, attention_dim: int, pooling_stats: bool, use_lora: bool,
                 attribute_output: str = "linear", extra_hparams: dict | None = None):
        super().__init__()
        if task not in TASKS:
            raise ConfigError(f"task must be one of {TASKS}, got {task!r}")
        if task == "category" and num_outputs < 2:
            raise ConfigError(f"a category model needs at least 2 outputs, got {num_outputs}")
        if attribute_output not in ATTRIBUTE_OUTPUTS:
            raise ConfigError(f"attribute_output must be one of {ATTRIBUTE_OUTPUTS}, got {attribute_output!r}")
        self.backbone_path = backbone_path
        self.backbone_config = backbone.config
        self.task = task
        self.num_outputs = num_outputs if task == "category" else 3
        self.use_lora = use_lora
        self.attribute_output = attribute_output
        self.hparams = {
            "num_outputs": num_outputs, "task": task, "lora_r": lora_r, "lora_alpha": lora_alpha,
            "lora_dropout": lora_dropout, "target_modules": list(target_modules), "embedding_dim": embedding_dim,
            "attention_dim": attention_dim, "pooling_stats": pooling_stats, "use_lora": use_lora,
            "attribute_output": attribute_output, **(extra_hparams or {}),
        }
        if use_lora:
            lora = LoraConfig(r=lora_r, lora_alpha=lora_alpha, lora_dropout=lora_dropout,
                              target_modules=list(target_modules), bias="none")
            # get_peft_model freezes every backbone parameter; only the lora_A/lora_B matrices train.
            self.backbone = get_peft_model(backbone, lora)
        else:
            self.backbone = backbone
        self.pooling = AttentivePooling(self.hidden_size, attention_dim=attention_dim, stats=pooling_stats)
        self.dense = nn.Linear(self.pooling.output_dim, embedding_dim)
        self.relu = nn.ReLU()
        self.batchnorm = nn.BatchNorm1d(embedding_dim)
        self.output = nn.Linear(embedding_dim, self.num_outputs)
        if task == "attributes" and attribute_output == "linear":
            with torch.no_grad():  # start on the scale: the CCC loss also penalises a shifted mean
                self.output.bias.fill_((ATTRIBUTE_MAX + ATTRIBUTE_MIN) / 2)

    # ------------------------------------------------------------ subclass API
    @property
    def hidden_size(self) -> int:
        """Size of the encoder's frame outputs (what the pooling gets)."""
        raise NotImplementedError

    def encode(self, input_features: torch.Tensor, attention_mask: torch.Tensor | None
               ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Encoder frame outputs ``(B, T', H)`` and their ``(B, T')`` mask (None: all valid)."""
        raise NotImplementedError

    def frontend(self) -> Frontend:
        """The waveform -> encoder input function that this model was trained with."""
        raise NotImplementedError

    def _backbone_config_dict(self) -> dict:
        """The backbone config as saved in ``config.json`` (enough to rebuild it with random weights)."""
        return self.backbone_config.to_dict()

    @classmethod
    def _from_meta(cls, meta: dict, common: dict) -> EmotionModelBase:
        """Rebuild an untrained model of the saved ``meta`` (``common``: the :data:`COMMON_HPARAMS` kwargs)."""
        raise NotImplementedError

    # ------------------------------------------------------------------ forward
    @property
    def base_model(self) -> nn.Module:
        """The transformers backbone without the peft wrapper (adapters stay injected in its layers)."""
        return self.backbone.get_base_model() if self.use_lora else self.backbone

    def forward(self, input_features: torch.Tensor, attention_mask: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """Encoder input + ``(B, T)`` mask -> (outputs, embedding ``(B, E)``).

        Outputs are logits ``(B, C)`` for categories, or ``(B, 3)`` attributes.
        """
        hidden, mask = self.encode(input_features, attention_mask)
        pooled = self.pooling(hidden, mask)
        embedding = self.batchnorm(self.relu(self.dense(pooled)))
        if self.task == "category":
            return self.output(embedding), embedding
        z = self.output(torch.tanh(embedding))
        if self.attribute_output == "linear":
            return z, embedding
        mid = (ATTRIBUTE_MAX + ATTRIBUTE_MIN) / 2
        half = (ATTRIBUTE_MAX - ATTRIBUTE_MIN) / 2
        return mid + half * torch.tanh(z), embedding

    # ------------------------------------------------------------- parameters
    def head_modules(self) -> dict[str, nn.Module]:
        return {"pooling": self.pooling, "dense": self.dense, "batchnorm": self.batchnorm, "output": self.output}

    def head_state_dict(self) -> dict[str, torch.Tensor]:
        out = {}
        for name, module in self.head_modules().items():
            for key, value in module.state_dict().items():
                out[f"{name}.{key}"] = value.detach().cpu().contiguous()
        return out

    def trainable_parameter_names(self) -> list[str]:
        return [n for n, p in self.named_parameters() if p.requires_grad]

    # -------------------------------------------------------------- save/load
    def save_pretrained(self, directory: str | os.PathLike, metadata: dict | None = None) -> None:
        """Write adapters, head and metadata (and a config-built backbone) atomically to ``directory``.

        ``metadata`` (JSON-serialisable, e.g. the class names) is stored under that key in ``config.json``.
        """
        with atomic_dir(directory) as tmp:
            if self.use_lora:
                self.backbone.save_pretrained(tmp)
            save_file(self.head_state_dict(), os.fspath(tmp / "head.safetensors"))
            meta = {
                "format_version": FORMAT_VERSION,
                "model": self.MODEL_NAME,
                "backbone_path": self.backbone_path,
                "backbone_config": None if self.backbone_path else self._backbone_config_dict(),
                **self.hparams,
                "metadata": metadata or {},
            }
            if self.backbone_path is None or not self.use_lora:
                base = self.base_model.state_dict()
                weights = {k: v.detach().cpu().contiguous() for k, v in base.items() if "lora_" not in k}
                save_file(weights, os.fspath(tmp / "backbone.safetensors"))
            (tmp / "config.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n", encoding="utf-8")

    @classmethod
    def from_pretrained(cls, directory: str | os.PathLike) -> EmotionModelBase:
        """Rebuild a model saved with :meth:`save_pretrained` (safetensors only, no pickle).

        Called on :class:`EmotionModelBase` it loads any kind (``config.json`` names it);
        called on a subclass, a directory of another kind is an error.
        """
        directory = Path(directory)
        config_path = directory / "config.json"
        for name in ("config.json", "head.safetensors"):
            if not (directory / name).is_file():
                raise DataError(directory / name, None, "missing; not a directory written by save_pretrained")
        try:
            meta = json.loads(config_path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise DataError(config_path, exc.lineno, f"invalid JSON: {exc.msg}") from exc
        kind = meta.get("model")
        if kind not in MODEL_MODULES or (cls.MODEL_NAME and kind != cls.MODEL_NAME):
            expected = cls.MODEL_NAME or " or ".join(MODEL_MODULES)
            raise DataError(config_path, None, f"not a {expected} config (model={kind!r})")
        model_cls = getattr(importlib.import_module(MODEL_MODULES[kind]), kind)
        use_lora = bool(meta.get("use_lora", True))
        if use_lora and not (directory / "adapter_model.safetensors").is_file():
            raise DataError(directory / "adapter_model.safetensors", None,
                            "missing; not a directory written by save_pretrained")
        try:
            common = {k: meta[k] for k in COMMON_HPARAMS}
        except KeyError as exc:
            raise DataError(config_path, None, f"missing hyperparameter {exc}") from None
        # Models saved before attribute_output existed were bounded to the 1-7 scale.
        common.update(use_lora=use_lora, attribute_output=meta.get("attribute_output", "bounded"))
        model = model_cls._from_meta(meta, common)
        if meta["backbone_path"] is None or not use_lora:
            weights_path = directory / "backbone.safetensors"
            if not weights_path.is_file():
                raise DataError(weights_path, None, "missing; a config-built backbone must be saved with the model")
            missing, unexpected = model.base_model.load_state_dict(load_file(weights_path), strict=False)
            missing = [k for k in missing if "lora_" not in k]
            if missing or unexpected:
                raise DataError(weights_path, None, f"weights do not match the config: missing {missing[:3]}, "
                                f"unexpected {unexpected[:3]}")
        if use_lora:
            adapters = load_file(directory / "adapter_model.safetensors")
            result = set_peft_model_state_dict(model.backbone, adapters)
            if getattr(result, "unexpected_keys", None):
                raise DataError(directory / "adapter_model.safetensors", None,
                                f"unexpected adapter weights {result.unexpected_keys[:3]}")
        head = load_file(directory / "head.safetensors")
        for name, module in model.head_modules().items():
            prefix = name + "."
            part = {k[len(prefix):]: v for k, v in head.items() if k.startswith(prefix)}
            try:
                module.load_state_dict(part, strict=True)
            except RuntimeError as exc:
                raise DataError(directory / "head.safetensors", None, f"head '{name}' does not match: {exc}") from exc
        return model


def adapter_state_dict(model: EmotionModelBase) -> dict[str, torch.Tensor]:
    """The LoRA weights only (what peft writes to ``adapter_model.safetensors``)."""
    return get_peft_model_state_dict(model.backbone)
