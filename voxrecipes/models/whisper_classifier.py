"""Whisper encoder -> projection -> masked mean pooling -> multi-label classifier, with a text-injection head.

The voice-toxicity model of the paper (Section 3.3/3.4): a (pretrained) Whisper encoder,
a linear projection, mean pooling over the clip's valid frames and a linear classifier
trained with BCE. For text injection the hidden state of encoder layer i goes through its
own projection ``text_proj`` to the text-embedding size and is mean pooled: that is the
paper's ``x = MeanPool(h_proj(l_i(s)))``, aligned with the transcript embedding y by a loss
of :mod:`voxrecipes.losses.text_injection`.

Inputs are 15 s by default, not Whisper's 30 s: the encoder is rebuilt with
``max_source_positions = max_seconds * 50`` and keeps the first rows of the pretrained
position table, so no clip pays for 30 s of attention. transformers' ``WhisperEncoder``
accepts exactly ``2 * max_source_positions`` mel frames and ignores attention masks, so
padding frames still take part in self-attention; they are only excluded from the pooled
mean. With ``dynamic_padding`` the classifier runs the encoder's modules itself on the
batch's longest clip with the padding masked out of attention (a 5 s clip costs a third
of a 15 s one), though not out of the convolutions, so a clip's output still depends on
its batch (measured: see :class:`WhisperTextInjectionClassifier`); ``freeze_layers``
keeps the lower layers pretrained and fixed.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn
from transformers import WhisperConfig, WhisperFeatureExtractor
from transformers.models.whisper.modeling_whisper import WhisperEncoder

from voxrecipes.errors import ConfigError
from voxrecipes.models.pooling import masked_mean

#: encoder positions per second of audio: 100 mel frames/s, halved by conv2's stride 2
POSITIONS_PER_SECOND = 50
#: mel frames per second (hop 160 at 16 kHz)
MEL_FRAMES_PER_SECOND = 100


def _positions(max_seconds: float) -> int:
    positions = max_seconds * POSITIONS_PER_SECOND
    if positions <= 0 or int(positions) != positions:
        raise ConfigError(f"max_seconds must be a positive multiple of 0.02 s, got {max_seconds}")
    return int(positions)


def build_encoder(config_or_path: WhisperConfig | str | os.PathLike, max_seconds: float = 15) -> WhisperEncoder:
    """A transformers ``WhisperEncoder`` for inputs of ``max_seconds`` (``max_seconds * 50`` positions).

    - ``WhisperConfig``: random weights (sinusoidal position table, as Whisper's init),
      ``max_source_positions`` overridden; the config passed in is not modified.
    - a model id or local directory: the pretrained encoder is loaded at its own size (1500
      positions for OpenAI checkpoints) and copied into an encoder of ``max_seconds``
      whose position table is the first ``max_seconds * 50`` rows of the pretrained one
      (``embed_positions`` is an ``nn.Embedding`` in transformers 5.x, frozen).
    """
    positions = _positions(max_seconds)
    if isinstance(config_or_path, WhisperConfig):
        config = copy.deepcopy(config_or_path)
        config.max_source_positions = positions
        return WhisperEncoder(config)
    from transformers import WhisperForAudioClassification

    # WhisperForAudioClassification holds exactly the encoder (+ a head we drop) and maps
    # the "model.encoder.*" keys of WhisperModel / WhisperForConditionalGeneration checkpoints.
    full = WhisperForAudioClassification.from_pretrained(config_or_path).encoder
    table = full.embed_positions.weight
    if positions > table.shape[0]:
        raise ConfigError(
            f"max_seconds={max_seconds} needs {positions} positions but {config_or_path} has only {table.shape[0]}"
        )
    config = copy.deepcopy(full.config)
    config.max_source_positions = positions
    encoder = WhisperEncoder(config)
    state = full.state_dict()
    state["embed_positions.weight"] = table[:positions].clone()
    encoder.load_state_dict(state)
    encoder.embed_positions.requires_grad_(False)
    return encoder


def make_feature_extractor(
    max_seconds: float = 15, num_mel_bins: int = 80, sampling_rate: int = 16000
) -> WhisperFeatureExtractor:
    """Whisper's log-mel front end (n_fft 400, hop 160) padding/truncating to ``max_seconds`` instead of 30 s."""
    if sampling_rate != 16000:
        raise ConfigError(f"Whisper features need 16 kHz audio, got sampling_rate={sampling_rate}")
    _positions(max_seconds)
    return WhisperFeatureExtractor(
        feature_size=num_mel_bins, sampling_rate=sampling_rate, hop_length=160, chunk_length=int(max_seconds),
        n_fft=400, padding_value=0.0,
    )


def extract_features(
    extractor: WhisperFeatureExtractor, waveforms: Sequence[np.ndarray]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mono 16 kHz waveforms -> (``(B, n_mels, max_seconds*100)`` log-mel features, ``(B,)`` valid mel frames).

    Clips longer than the extractor's length are truncated (chunk them first with
    :mod:`voxrecipes.data.chunking`); an empty clip is an error.
    """
    for i, w in enumerate(waveforms):
        if np.asarray(w).ndim != 1 or len(w) == 0:
            raise ValueError(f"waveform {i} must be a non-empty 1-D array, got shape {np.asarray(w).shape}")
    out = extractor(
        [np.asarray(w, dtype=np.float32) for w in waveforms], sampling_rate=extractor.sampling_rate,
        padding="max_length", truncation=True, return_attention_mask=True, return_tensors="pt",
    )
    return out["input_features"], out["attention_mask"].sum(dim=1).long()


def encoder_lengths(feature_lengths: torch.Tensor, max_positions: int) -> torch.Tensor:
    """Valid encoder frames for ``feature_lengths`` mel frames: conv2 (kernel 3, stride 2, pad 1) gives ceil(n/2)."""
    return ((torch.as_tensor(feature_lengths) + 1) // 2).clamp(min=1, max=max_positions)


def conv_front_end(encoder: WhisperEncoder, features: torch.Tensor,
                   mel_lengths: torch.Tensor | None = None) -> torch.Tensor:
    """Whisper's convolutional front end, ``(B, n_mels, T)`` -> ``(B, T / 2, d_model)`` (``T`` even).

    With ``mel_lengths`` (``(B,)`` valid mel frames) the padding is zeroed before conv1 and
    between conv1 and conv2, so that the kernel-3 convolutions read zeros past a clip's
    end, exactly as their own zero padding does when the clip is alone: a clip's output
    then does not depend on the batch it is in. Without it the padding's log-mel frames
    are read (transformers' ``WhisperEncoder`` does this).
    """
    if mel_lengths is None:
        x = nn.functional.gelu(encoder.conv1(features))
        return nn.functional.gelu(encoder.conv2(x)).permute(0, 2, 1)
    frames = features.shape[-1]
    valid = (torch.arange(frames, device=features.device)[None, :]
             < torch.as_tensor(mel_lengths, device=features.device)[:, None])[:, None, :]
    x = nn.functional.gelu(encoder.conv1(features * valid.to(features.dtype)))
    x = x * valid.to(x.dtype)
    return nn.functional.gelu(encoder.conv2(x)).permute(0, 2, 1)


def _key_padding_bias(lengths: torch.Tensor, positions: int, dtype: torch.dtype) -> torch.Tensor:
    """``(B, 1, 1, positions)`` additive attention bias: 0 on valid frames, the dtype's minimum on padding."""
    valid = torch.arange(positions, device=lengths.device)[None, :] < lengths[:, None]
    bias = torch.zeros(valid.shape, dtype=dtype, device=lengths.device)
    bias.masked_fill_(~valid, torch.finfo(dtype).min)
    return bias[:, None, None, :]


class WhisperTextInjectionClassifier(nn.Module):
    """Whisper encoder -> Linear(d_model, proj_dim) -> masked mean -> Linear(proj_dim, num_classes).

    ``text_proj`` (Linear(d_model, text_dim)) is the injection head ``h_proj`` of the
    paper; it is used only in training, when ``forward`` gets an ``injection_layer``.

    Two speed levers (both off by default, the paper's setting), and the masking that
    makes the first one batch-independent:

    - ``dynamic_padding``: the encoder runs on the batch's longest clip instead of the
      full ``max_seconds`` (positions ``0..T-1`` of the position table, as for a clip
      padded to ``max_seconds``), and padding frames are masked out of self-attention.
      A 5 s clip costs a third of a 15 s one. The convolutional front end is not masked:
      conv1 and conv2 (kernel 3) read the padding's log-mel frames next to a clip's last
      frames (conv zero padding when the clip is alone), and attention carries the
      difference to every position. So a clip's output depends on what it is batched
      with. Measured on the mini toxicity model (pretrained Whisper-base encoder, 90 test
      clips; ``bench/bench_batch_dependence.py``, BENCHMARKS.md): the recipe's scoring (16
      length-sorted chunks per batch) against one chunk per batch differs by up to 0.064
      in a sigmoid score (median 0.0063 per clip) with the mask off, 1.5e-6 with it on;
      on a tiny random encoder by about 1e-5. :class:`~voxrecipes.models.whisper_emotion.WhisperEmotionModel`
      pads with zeros and zeroes the padding between the convolutions, which leaves float
      rounding only (3e-7 on Whisper-base). ``mask_conv_padding`` does the same here
      (:func:`conv_front_end`): the padding is zeroed before and between the
      convolutions, and a clip's output is that of the clip alone, whatever its batch.
      It changes what the front end computes near a clip's end, so it is part of the
      saved config too (off for models trained before it existed). The encoder's outputs on a short clip differ
      from the padded run's (there, the padding takes part in attention), so a model is
      trained and scored in the same mode (it is part of the saved config).
    - ``freeze_layers`` = k: the convolutional front end and the first k transformer
      layers keep their (pretrained) weights; only the layers above, the final
      LayerNorm and the heads train. The frozen part runs without autograd.
    """

    def __init__(self, encoder: WhisperEncoder, num_classes: int = 6, proj_dim: int = 256, text_dim: int = 1024,
                 *, dynamic_padding: bool = False, freeze_layers: int = 0, mask_conv_padding: bool = False):
        super().__init__()
        d_model = encoder.config.d_model
        self.encoder = encoder
        self.projector = nn.Linear(d_model, proj_dim)
        self.classifier = nn.Linear(proj_dim, num_classes)
        self.text_proj = nn.Linear(d_model, text_dim)
        if not 0 <= freeze_layers <= self.num_layers:
            raise ConfigError(f"freeze_layers must lie in 0..{self.num_layers} (the encoder's layers), "
                              f"got {freeze_layers}")
        self.dynamic_padding = bool(dynamic_padding)
        if mask_conv_padding and not self.dynamic_padding:
            raise ConfigError("mask_conv_padding needs dynamic_padding (without it every clip is padded to "
                              "max_seconds and the padding is part of the input)")
        self.mask_conv_padding = bool(mask_conv_padding)
        self.freeze_layers = int(freeze_layers)
        if self.freeze_layers:
            for module in (encoder.conv1, encoder.conv2, *encoder.layers[: self.freeze_layers]):
                module.requires_grad_(False)

    @property
    def num_layers(self) -> int:
        return self.encoder.config.encoder_layers

    def encode(self, input_features: torch.Tensor, feature_lengths: torch.Tensor
               ) -> tuple[list[torch.Tensor], torch.Tensor]:
        """Hidden states ``[embeddings, layer 1, ..., layer L]`` (the last after the final LayerNorm) and valid frames.

        Without ``dynamic_padding`` this is transformers' ``WhisperEncoder`` on the padded
        input (every frame attends to every frame); with it, the input is cut to the
        batch's longest clip and padding is masked out of attention.
        """
        enc = self.encoder
        frames = input_features.shape[-1]
        if not self.dynamic_padding:
            out = enc(input_features, output_hidden_states=True)
            hidden = list(out.hidden_states)
            hidden[-1] = out.last_hidden_state
            return hidden, encoder_lengths(feature_lengths, hidden[-1].shape[1]).to(hidden[-1].device)
        if frames != 2 * enc.config.max_source_positions:
            raise ValueError(f"expected {2 * enc.config.max_source_positions} mel frames (max_seconds), got {frames}")
        lengths = torch.as_tensor(feature_lengths, device=input_features.device).clamp(min=1, max=frames)
        used = int(lengths.max())
        used += used % 2  # conv2 has stride 2: keep whole output frames
        positions = used // 2
        valid = encoder_lengths(lengths, positions)
        frozen = self.freeze_layers
        with torch.set_grad_enabled(torch.is_grad_enabled() and not frozen):
            mel_mask = lengths if self.mask_conv_padding else None
            x = conv_front_end(enc, input_features[:, :, :used], mel_mask)
            x = x + enc.embed_positions.weight[:positions]
            x = nn.functional.dropout(x, p=enc.dropout, training=self.training)
        bias = _key_padding_bias(valid, positions, x.dtype)
        hidden = [x]
        for index, layer in enumerate(enc.layers):
            with torch.set_grad_enabled(torch.is_grad_enabled() and index >= frozen):
                x = layer(x, bias)
                x = x[0] if isinstance(x, tuple) else x
            hidden.append(x)
        hidden[-1] = enc.layer_norm(x)
        return hidden, valid

    def forward(
        self, input_features: torch.Tensor, feature_lengths: torch.Tensor, injection_layer: int | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Return ``(logits (B, num_classes), x (B, text_dim) or None)``.

        ``feature_lengths`` counts the valid mel frames of each clip. ``injection_layer``:
        ``None`` (inference, no text head), ``-1`` the encoder's final output (after its
        final LayerNorm, what the classifier sees), or ``1..num_layers`` the output of that
        transformer layer (the last one is the same as -1).
        """
        need_hidden = injection_layer is not None
        if need_hidden and not (injection_layer == -1 or 1 <= injection_layer <= self.num_layers):
            raise ConfigError(f"injection_layer must be -1 or 1..{self.num_layers}, got {injection_layer}")
        hidden_states, lengths = self.encode(input_features, feature_lengths)
        last = hidden_states[-1]
        pooled = masked_mean(self.projector(last), lengths=lengths)
        logits = self.classifier(pooled)
        if not need_hidden:
            return logits, None
        # hidden_states = (embeddings, layer 1, ..., layer L); the last entry is the final LayerNorm's output.
        hidden = last if injection_layer == -1 else hidden_states[injection_layer]
        return logits, masked_mean(self.text_proj(hidden), lengths=lengths)
