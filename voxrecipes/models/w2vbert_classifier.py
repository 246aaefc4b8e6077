"""Wav2Vec2-BERT emotion model: LoRA-adapted backbone, attentive pooling, dense embedding, output head.

Follows section 3.1 of the TalTech Odyssey 2024 system: a ``transformers``
``Wav2Vec2BertModel`` adapted with ``peft`` LoRA (backbone frozen, only the adapters
train), attentive pooling over the frame outputs, a fully connected layer with ReLU
and BatchNorm whose output is the utterance *embedding*, then the category or attribute
head. Everything except the backbone (LoRA, pooling, head, save/load) is shared with the
Whisper backbone in :class:`~voxrecipes.models.emotion_base.EmotionModelBase`.

Saved directories: see :mod:`voxrecipes.models.emotion_base`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import torch
from transformers import SeamlessM4TFeatureExtractor, Wav2Vec2BertConfig, Wav2Vec2BertModel

from voxrecipes.models.emotion_base import (  # noqa: F401  (re-exported: the names callers import from here)
    ATTRIBUTE_MAX,
    ATTRIBUTE_MIN,
    FORMAT_VERSION,
    TASKS,
    EmotionModelBase,
    Frontend,
    adapter_state_dict,
)

#: Attention projections of ``Wav2Vec2BertSelfAttention`` (transformers 5.x module names).
DEFAULT_TARGET_MODULES = ("linear_q", "linear_k", "linear_v", "linear_out")


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


class W2VBertFrontend:
    """Waveforms -> Wav2Vec2-BERT features and frame mask (``extractor`` is the transformers feature extractor)."""

    def __init__(self, normalize_features: bool = True, sampling_rate: int = 16000):
        self.extractor = make_feature_extractor(sampling_rate)
        self.normalize_features = normalize_features

    def __call__(self, waves: list[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
        return w2vbert_features(self.extractor, waves, self.normalize_features)


class W2VBertEmotionModel(EmotionModelBase):
    """LoRA Wav2Vec2-BERT with attentive pooling and a dense embedding layer.

    Args:
        backbone_config_or_path: a ``Wav2Vec2BertConfig`` (random weights; tests, mini
            recipes), a config dict, or a model id / local directory for ``from_pretrained``.
        normalize_features: normalise each utterance's log-mel features per mel bin, as
            Wav2Vec2-BERT was pretrained (keep it for pretrained backbones). It removes
            loudness and the long-term spectrum, so a backbone trained from random weights
            (mini recipes) may do better without it. Stored with the model; the collate
            function and inference read it from here.
        the others: see :class:`~voxrecipes.models.emotion_base.EmotionModelBase`.
    """

    MODEL_NAME = "W2VBertEmotionModel"

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
        attribute_output: str = "linear",
    ):
        if isinstance(backbone_config_or_path, dict):
            backbone_config_or_path = Wav2Vec2BertConfig.from_dict(backbone_config_or_path)
        if isinstance(backbone_config_or_path, Wav2Vec2BertConfig):
            path = None
            backbone = Wav2Vec2BertModel(backbone_config_or_path)
        else:
            path = os.fspath(backbone_config_or_path)
            backbone = Wav2Vec2BertModel.from_pretrained(path)
        super().__init__(backbone, path, num_outputs=num_outputs, task=task, lora_r=lora_r, lora_alpha=lora_alpha,
                         lora_dropout=lora_dropout, target_modules=target_modules, embedding_dim=embedding_dim,
                         attention_dim=attention_dim, pooling_stats=pooling_stats, use_lora=use_lora,
                         attribute_output=attribute_output,
                         extra_hparams={"normalize_features": normalize_features})
        self.normalize_features = normalize_features

    @property
    def hidden_size(self) -> int:
        return self.backbone_config.hidden_size

    def frontend(self) -> W2VBertFrontend:
        return W2VBertFrontend(self.normalize_features)

    def frame_mask(self, attention_mask: torch.Tensor | None, num_frames: int) -> torch.Tensor | None:
        """The feature-level mask mapped onto the backbone's output frames (they differ only with an adapter)."""
        if attention_mask is None or attention_mask.shape[1] == num_frames:
            return attention_mask
        return self.base_model._get_feature_vector_attention_mask(num_frames, attention_mask)

    def encode(self, input_features: torch.Tensor, attention_mask: torch.Tensor | None = None
               ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``(B, T, 160)`` features + ``(B, T)`` mask -> frame outputs and their mask."""
        hidden = self.backbone(input_features=input_features, attention_mask=attention_mask).last_hidden_state
        return hidden, self.frame_mask(attention_mask, hidden.shape[1])

    @classmethod
    def _from_meta(cls, meta: dict, common: dict) -> W2VBertEmotionModel:
        source = meta["backbone_path"] or Wav2Vec2BertConfig.from_dict(meta["backbone_config"])
        return cls(source, normalize_features=bool(meta.get("normalize_features", True)), **common)
