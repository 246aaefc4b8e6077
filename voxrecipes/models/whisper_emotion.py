"""Whisper-encoder emotion model: the W2V-BERT model's LoRA, pooling and head on a (pretrained) Whisper encoder.

The backbone is a transformers ``WhisperEncoder`` built by the toxicity model's
:func:`~voxrecipes.models.whisper_classifier.build_encoder` (from a ``WhisperConfig``
with random weights, or from a pretrained directory / ``package:whisper_base``, keeping
the first ``max_seconds * 50`` rows of the position table). LoRA goes on the attention
projections (``q_proj``, ``k_proj``, ``v_proj``, ``out_proj``), as on W2V-BERT's; the
attentive pooling, FC-ReLU-BatchNorm embedding and the heads are those of
:class:`~voxrecipes.models.emotion_base.EmotionModelBase`.

Emotion crops last 2-4 s, so the encoder runs only on the positions the batch needs
(``ceil(frames / 2)`` of its longest clip), never on Whisper's 30 s (or a 15 s) window:
transformers' ``WhisperEncoder.forward`` only accepts exactly ``2 * max_source_positions``
mel frames, so :meth:`WhisperEmotionModel.encode` runs the encoder's own modules (convs,
position table, layers with the LoRA adapters, final LayerNorm) on the cut input, with
the padding frames masked out of self-attention and zeroed between the two convolutions.
An utterance's output therefore does not depend on what it is batched with (up to float
rounding).

The front end (:class:`WhisperFrontend`) computes Whisper's log-mel features of each
waveform on its own length (the feature extractor's per-utterance dynamic-range clamp
sees only the utterance) and pads the batch with zeros; the mask counts mel frames.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn
from transformers import WhisperConfig
from transformers.models.whisper.modeling_whisper import WhisperEncoder

from voxrecipes.errors import ConfigError
from voxrecipes.models.emotion_base import EmotionModelBase
from voxrecipes.models.whisper_classifier import (
    MEL_FRAMES_PER_SECOND,
    POSITIONS_PER_SECOND,
    _key_padding_bias,
    build_encoder,
    conv_front_end,
    encoder_lengths,
    make_feature_extractor,
)

#: Attention projections of ``WhisperAttention`` (transformers 5.x module names).
DEFAULT_TARGET_MODULES = ("q_proj", "k_proj", "v_proj", "out_proj")
#: Whisper's own window: the position table of the pretrained checkpoints has 1500 rows (30 s).
DEFAULT_MAX_SECONDS = 30.0


class WhisperFrontend:
    """Waveforms -> ``(B, n_mels, T)`` Whisper log-mel features (each on its own length, zero padded) + ``(B, T)`` mask.

    Waveforms longer than ``max_seconds`` are cut to it (the encoder's position table ends there).
    """

    def __init__(self, num_mel_bins: int = 80, max_seconds: float = DEFAULT_MAX_SECONDS, sampling_rate: int = 16000):
        self.extractor = make_feature_extractor(max_seconds, num_mel_bins, sampling_rate)
        self.max_samples = int(round(max_seconds * sampling_rate))
        self.max_frames = int(round(max_seconds * MEL_FRAMES_PER_SECOND))

    def __call__(self, waves: Sequence[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
        feats = []
        for i, wave in enumerate(waves):
            wave = np.asarray(wave, dtype=np.float32)
            if wave.ndim != 1 or len(wave) == 0:
                raise ValueError(f"waveform {i} must be a non-empty 1-D array, got shape {wave.shape}")
            out = self.extractor(wave[:self.max_samples], sampling_rate=self.extractor.sampling_rate,
                                 padding="longest", truncation=False, return_tensors="np")
            feats.append(out["input_features"][0][:, :self.max_frames])
        lengths = [max(f.shape[1], 1) for f in feats]
        batch = np.zeros((len(feats), feats[0].shape[0], max(lengths)), dtype=np.float32)
        mask = np.zeros((len(feats), max(lengths)), dtype=np.int64)
        for i, f in enumerate(feats):
            batch[i, :, :f.shape[1]] = f
            mask[i, :lengths[i]] = 1
        return torch.from_numpy(batch), torch.from_numpy(mask)


class WhisperEmotionModel(EmotionModelBase):
    """LoRA Whisper encoder with attentive pooling and a dense embedding layer.

    Args:
        backbone_config_or_path: a ``WhisperConfig`` or config dict (random weights; tests),
            or a model id / local directory / ``package:whisper_base`` (pretrained, resolved by
            :func:`~voxrecipes.models.model_paths.resolve_model_path`).
        max_seconds: size of the encoder's position table (``max_seconds * 50`` rows); longer
            inputs are cut by the front end. Only the positions a batch needs are computed.
        the others: see :class:`~voxrecipes.models.emotion_base.EmotionModelBase`.
    """

    MODEL_NAME = "WhisperEmotionModel"

    def __init__(
        self,
        backbone_config_or_path: WhisperConfig | dict | str | os.PathLike,
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
        max_seconds: float = DEFAULT_MAX_SECONDS,
        attribute_output: str = "linear",
    ):
        if isinstance(backbone_config_or_path, dict):
            backbone_config_or_path = WhisperConfig.from_dict(backbone_config_or_path)
        if isinstance(backbone_config_or_path, WhisperConfig):
            path = None
            encoder = build_encoder(backbone_config_or_path, max_seconds)
        else:
            from voxrecipes.models.model_paths import resolve_model_path

            path = os.fspath(backbone_config_or_path)
            encoder = build_encoder(resolve_model_path(path, what="Whisper speech-encoder"), max_seconds)
        super().__init__(encoder, path, num_outputs=num_outputs, task=task, lora_r=lora_r, lora_alpha=lora_alpha,
                         lora_dropout=lora_dropout, target_modules=target_modules, embedding_dim=embedding_dim,
                         attention_dim=attention_dim, pooling_stats=pooling_stats, use_lora=use_lora,
                         attribute_output=attribute_output, extra_hparams={"max_seconds": float(max_seconds)})
        self.max_seconds = float(max_seconds)

    @property
    def hidden_size(self) -> int:
        return self.backbone_config.d_model

    @property
    def max_positions(self) -> int:
        return self.backbone_config.max_source_positions

    def frontend(self) -> WhisperFrontend:
        return WhisperFrontend(self.backbone_config.num_mel_bins, self.max_seconds)

    def encode(self, input_features: torch.Tensor, attention_mask: torch.Tensor | None = None
               ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(B, n_mels, T)`` log-mels + ``(B, T)`` mel-frame mask -> ``(B, ceil(T/2), d_model)`` and its mask."""
        enc: WhisperEncoder = self.base_model
        batch, _, frames = input_features.shape
        if frames > 2 * self.max_positions:
            raise ValueError(f"{frames} mel frames exceed the encoder's {2 * self.max_positions} "
                             f"({self.max_seconds:g} s); cut the input (the front end does)")
        if attention_mask is None:
            lengths = torch.full((batch,), frames, dtype=torch.long, device=input_features.device)
        else:
            lengths = attention_mask.to(input_features.device).long().sum(-1).clamp(min=1)
        if frames % 2:  # conv2 has stride 2: keep whole output frames
            input_features = nn.functional.pad(input_features, (0, 1))
        # The padding zeroed before conv1 and conv2, as their own zero padding does for a clip alone.
        x = conv_front_end(enc, input_features, lengths)
        positions = x.shape[1]
        x = x + enc.embed_positions.weight[:positions].to(x.dtype)
        x = nn.functional.dropout(x, p=enc.dropout, training=self.training)
        valid = encoder_lengths(lengths, positions)
        bias = _key_padding_bias(valid, positions, x.dtype)
        for layer in enc.layers:
            x = layer(x, bias)
            x = x[0] if isinstance(x, tuple) else x
        x = enc.layer_norm(x)
        mask = torch.arange(positions, device=x.device)[None, :] < valid[:, None]
        return x, mask

    def _backbone_config_dict(self) -> dict:
        return self.backbone_config.to_diff_dict()

    @classmethod
    def _from_meta(cls, meta: dict, common: dict) -> WhisperEmotionModel:
        source = meta["backbone_path"] or WhisperConfig.from_dict(meta["backbone_config"])
        return cls(source, max_seconds=float(meta.get("max_seconds", DEFAULT_MAX_SECONDS)), **common)


def max_seconds_of_config(config: WhisperConfig) -> float:
    """The input length a (saved) encoder config was built for: its position table over 50 positions a second."""
    seconds = config.max_source_positions / POSITIONS_PER_SECOND
    if seconds <= 0:
        raise ConfigError(f"bad max_source_positions {config.max_source_positions}")
    return float(seconds)
