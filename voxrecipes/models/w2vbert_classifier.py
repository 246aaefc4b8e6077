"""Wav2Vec2-BERT emotion model: LoRA-adapted backbone, attentive pooling, dense embedding, output head.

Follows section 3.1 of the TalTech Odyssey 2024 system: a ``transformers``
``Wav2Vec2BertModel`` adapted with ``peft`` LoRA (backbone frozen, only the adapters
train), attentive pooling over the frame outputs, a fully connected layer with ReLU
and BatchNorm whose output is the utterance *embedding* (what the LDA/LR and PLDA
backends use), then

* ``task="category"``: ``Linear(num_outputs)`` logits (10 classes: 8 emotions, O, X);
* ``task="attributes"``: ``tanh -> Linear(3)``, mapped onto the 1-7 annotation scale
  as ``4 + 3 * tanh(z)`` so that every prediction lies in [1, 7] and the loss (negative
  mean CCC) is computed against the raw 1-7 targets without any rescaling.

Saved directories hold ``config.json`` (metadata), ``adapter_config.json`` +
``adapter_model.safetensors`` (peft's adapter files), ``head.safetensors`` (pooling,
dense, BatchNorm statistics and output layer) and, only when the backbone was built
from a config rather than a pretrained path (tiny test and mini-recipe models with
random weights), ``backbone.safetensors`` so that the reload is exact. Nothing is
pickled; everything reloads through ``safetensors`` (weights-only by construction).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from peft import LoraConfig, get_peft_model, get_peft_model_state_dict, set_peft_model_state_dict
from safetensors.torch import load_file, save_file
from torch import nn
from transformers import SeamlessM4TFeatureExtractor, Wav2Vec2BertConfig, Wav2Vec2BertModel

from voxrecipes.errors import ConfigError, DataError
from voxrecipes.fileio import atomic_dir
from voxrecipes.models.attentive_pooling import AttentivePooling

#: Attention projections of ``Wav2Vec2BertSelfAttention`` (transformers 5.x module names).
DEFAULT_TARGET_MODULES = ("linear_q", "linear_k", "linear_v", "linear_out")
TASKS = ("category", "attributes")
ATTRIBUTE_MIN, ATTRIBUTE_MAX = 1.0, 7.0
FORMAT_VERSION = 1


def make_feature_extractor(sampling_rate: int = 16000) -> SeamlessM4TFeatureExtractor:
    """The log-mel feature extractor Wav2Vec2-BERT expects (80 mel bins, stride 2 -> 160-d), built offline."""
    return SeamlessM4TFeatureExtractor(feature_size=80, num_mel_bins=80, sampling_rate=sampling_rate, stride=2)


def w2vbert_features(extractor: SeamlessM4TFeatureExtractor, waves: list[np.ndarray],
                     normalize: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Wav2Vec2-BERT inputs ``(B, T, 160)`` and the frame mask ``(B, T)`` of a list of waveforms.

    ``normalize``: per-utterance mean and variance normalisation of each mel bin (the pretrained model's input;
    the model's ``normalize_features``).
    """
    out = extractor([np.asarray(w, dtype=np.float32) for w in waves], sampling_rate=extractor.sampling_rate,
                    padding=True, return_attention_mask=True, return_tensors="pt", do_normalize_per_mel_bins=normalize)
    return out["input_features"], out["attention_mask"]


class W2VBertEmotionModel(nn.Module):
    """LoRA Wav2Vec2-BERT with attentive pooling and a dense embedding layer.

    Args:
        backbone_config_or_path: a ``Wav2Vec2BertConfig`` (random weights; tests, mini
            recipes), a config dict, or a model id / local directory for ``from_pretrained``.
        num_outputs: classes for ``task="category"`` (ignored for attributes, which have 3).
        task: ``"category"`` or ``"attributes"``.
        lora_r, lora_alpha, lora_dropout, target_modules: the peft LoRA configuration.
        normalize_features: normalise each utterance's log-mel features per mel bin, as
            Wav2Vec2-BERT was pretrained (keep it for pretrained backbones). It removes
            loudness and the long-term spectrum, so a backbone trained from random weights
            (mini recipes) may do better without it. Stored with the model; the collate
            function and inference read it from here.
        use_lora: ``False`` trains the whole backbone instead (no adapters; the
            comparison the LoRA benchmark makes); the backbone is then always saved.
        embedding_dim: size of the first dense layer (the embedding).
        attention_dim: hidden size of the attentive-pooling scorer.
        pooling_stats: append the attention-weighted standard deviation to the pooled mean.
    """

    def __init__(
        self,
        backbone_config_or_path: Wav2Vec2BertConfig | dict | str | os.PathLike,
        num_outputs: int = 10,
        task: str = "category",
        lora_r: int = 32,
        lora_alpha: int = 32,
        lora_dropout: float = 0.05,
        target_modules: Sequence[str] = DEFAULT_TARGET_MODULES,
        embedding_dim: int = 256,
        attention_dim: int = 128,
        pooling_stats: bool = False,
        use_lora: bool = True,
        normalize_features: bool = True,
    ):
        super().__init__()
        if task not in TASKS:
            raise ConfigError(f"task must be one of {TASKS}, got {task!r}")
        if task == "category" and num_outputs < 2:
            raise ConfigError(f"a category model needs at least 2 outputs, got {num_outputs}")
        if isinstance(backbone_config_or_path, dict):
            backbone_config_or_path = Wav2Vec2BertConfig.from_dict(backbone_config_or_path)
        if isinstance(backbone_config_or_path, Wav2Vec2BertConfig):
            self.backbone_path = None
            backbone = Wav2Vec2BertModel(backbone_config_or_path)
        else:
            self.backbone_path = os.fspath(backbone_config_or_path)
            backbone = Wav2Vec2BertModel.from_pretrained(self.backbone_path)
        self.backbone_config = backbone.config
        self.task = task
        self.num_outputs = num_outputs if task == "category" else 3
        self.hparams = {
            "num_outputs": num_outputs,
            "task": task,
            "lora_r": lora_r,
            "lora_alpha": lora_alpha,
            "lora_dropout": lora_dropout,
            "target_modules": list(target_modules),
            "embedding_dim": embedding_dim,
            "attention_dim": attention_dim,
            "pooling_stats": pooling_stats,
            "use_lora": use_lora,
            "normalize_features": normalize_features,
        }
        self.normalize_features = normalize_features
        self.use_lora = use_lora
        if use_lora:
            lora = LoraConfig(r=lora_r, lora_alpha=lora_alpha, lora_dropout=lora_dropout,
                              target_modules=list(target_modules), bias="none")
            # get_peft_model freezes every backbone parameter; only the lora_A/lora_B matrices train.
            self.backbone = get_peft_model(backbone, lora)
        else:
            self.backbone = backbone
        hidden = backbone.config.hidden_size
        self.pooling = AttentivePooling(hidden, attention_dim=attention_dim, stats=pooling_stats)
        self.dense = nn.Linear(self.pooling.output_dim, embedding_dim)
        self.relu = nn.ReLU()
        self.batchnorm = nn.BatchNorm1d(embedding_dim)
        self.output = nn.Linear(embedding_dim, self.num_outputs)

    @property
    def base_model(self) -> Wav2Vec2BertModel:
        """The transformers backbone without the peft wrapper."""
        return self.backbone.get_base_model() if self.use_lora else self.backbone

    # ------------------------------------------------------------------ forward
    def frame_mask(self, attention_mask: torch.Tensor | None, num_frames: int) -> torch.Tensor | None:
        """The feature-level mask mapped onto the backbone's output frames (they differ only with an adapter)."""
        if attention_mask is None or attention_mask.shape[1] == num_frames:
            return attention_mask
        return self.base_model._get_feature_vector_attention_mask(num_frames, attention_mask)

    def forward(
        self, input_features: torch.Tensor, attention_mask: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(B, T, 160)`` features + ``(B, T)`` mask -> (outputs, embedding ``(B, E)``).

        Outputs are logits ``(B, C)`` for categories, or ``(B, 3)`` attributes in [1, 7].
        """
        hidden = self.backbone(input_features=input_features, attention_mask=attention_mask).last_hidden_state
        mask = self.frame_mask(attention_mask, hidden.shape[1])
        pooled = self.pooling(hidden, mask)
        embedding = self.batchnorm(self.relu(self.dense(pooled)))
        if self.task == "category":
            return self.output(embedding), embedding
        z = self.output(torch.tanh(embedding))
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
                "model": "W2VBertEmotionModel",
                "backbone_path": self.backbone_path,
                "backbone_config": None if self.backbone_path else self.backbone_config.to_dict(),
                **self.hparams,
                "metadata": metadata or {},
            }
            if self.backbone_path is None or not self.use_lora:
                base = self.base_model.state_dict()
                weights = {k: v.detach().cpu().contiguous() for k, v in base.items() if "lora_" not in k}
                save_file(weights, os.fspath(tmp / "backbone.safetensors"))
            (tmp / "config.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n", encoding="utf-8")

    @classmethod
    def from_pretrained(cls, directory: str | os.PathLike) -> W2VBertEmotionModel:
        """Rebuild a model saved with :meth:`save_pretrained` (safetensors only, no pickle)."""
        directory = Path(directory)
        config_path = directory / "config.json"
        for name in ("config.json", "head.safetensors"):
            if not (directory / name).is_file():
                raise DataError(directory / name, None, "missing; not a directory written by save_pretrained")
        try:
            meta = json.loads(config_path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise DataError(config_path, exc.lineno, f"invalid JSON: {exc.msg}") from exc
        use_lora = bool(meta.get("use_lora", True))
        if use_lora and not (directory / "adapter_model.safetensors").is_file():
            raise DataError(directory / "adapter_model.safetensors", None,
                            "missing; not a directory written by save_pretrained")
        if meta.get("model") != "W2VBertEmotionModel":
            raise DataError(config_path, None, f"not a W2VBertEmotionModel config (model={meta.get('model')!r})")
        source = meta["backbone_path"] or Wav2Vec2BertConfig.from_dict(meta["backbone_config"])
        model = cls(source, **{k: meta[k] for k in (
            "num_outputs", "task", "lora_r", "lora_alpha", "lora_dropout", "target_modules",
            "embedding_dim", "attention_dim", "pooling_stats")}, use_lora=use_lora,
            normalize_features=bool(meta.get("normalize_features", True)))
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


def adapter_state_dict(model: W2VBertEmotionModel) -> dict[str, torch.Tensor]:
    """The LoRA weights only (what peft writes to ``adapter_model.safetensors``)."""
    return get_peft_model_state_dict(model.backbone)
