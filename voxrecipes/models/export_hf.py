"""Export a trained voice-toxicity model as a Hugging Face ``WhisperForAudioClassification`` directory.

:func:`export_hf` writes ``config.json`` + ``model.safetensors`` (the model) and
``preprocessor_config.json`` (the ``WhisperFeatureExtractor`` with ``chunk_length`` =
the model's input length, 15 s), so that plain ``transformers`` loads them with
``WhisperForAudioClassification.from_pretrained(dir)`` and
``AutoFeatureExtractor.from_pretrained(dir)``; no voxrecipes code is needed to load.
The config is multi-label (``problem_type="multi_label_classification"``, scores are
``sigmoid(logits)``, one per class in ``id2label`` order), ``classifier_proj_size`` is
the projector's width, ``max_source_positions`` the encoder's (750 for 15 s) and
``use_weighted_layer_sum`` is False. Weights map one to one (``encoder.*``,
``projector.*``, ``classifier.*``); the text-injection head ``text_proj`` is used only
in training and is not exported. The mapped weights are loaded with ``strict=True``
before saving, and the saved directory is reloaded and compared tensor by tensor
before it is renamed into place, so a missing, unexpected or altered weight is an error
and never a silently re-initialised layer. Nothing is pickled.

Pooling, and how HF scores agree with ours
------------------------------------------
Both models run the encoder on the same input: features padded to the full 15 s, and
every frame, padding included, takes part in self-attention (``WhisperEncoder``
accepts exactly ``2 * max_source_positions`` mel frames and ignores attention masks).
They differ only in the pooling after the projector:

- ours (:class:`~voxrecipes.models.whisper_classifier.WhisperTextInjectionClassifier`)
  averages the ``ceil(valid_mel_frames / 2)`` valid encoder frames;
- ``WhisperForAudioClassification.forward`` (transformers 5.x) takes
  ``self.projector(hidden_states).mean(dim=1)``: a plain mean over all 750 frames,
  padding included.

Hence:

1. A clip of 15 s or longer (truncated to 15 s, as every full chunk of the 15 s-stride
   evaluation) has no padding, and the plain HF call
   ``model(extractor(wave, sampling_rate=16000, return_tensors="pt").input_features)``
   scores it exactly as ours (same weights, same operations; differences are float
   rounding, below 1e-5 in the tests).
2. A shorter clip (any clip under 15 s, the last chunk of a long recording) is NOT
   scored the same by the plain HF call: the padding frames are averaged in, with a
   weight of ``1 - valid/750``. The size of the error depends on the trained weights and
   the clip; on the tiny random model of the tests the probabilities of 3 s and 9.7 s
   clips move by more than 1e-3 (asserted there), and :func:`measure_agreement`
   measures it for any exported model (the export CLI logs it on noise probes).
3. :func:`score_with_hf` scores any clip exactly as ours using only the loaded HF
   objects and public transformers API: it runs ``model.encoder`` on the padded
   features, keeps the first ``ceil(valid_mel_frames / 2)`` frames (the valid count
   comes from the extractor's ``return_attention_mask=True``), and hands them to
   ``model(encoder_outputs=...)``, whose mean over the frames it is given is then the
   mean over the valid frames. A deployment without voxrecipes can copy its few lines.

No choice of exported weights can make the plain call agree on short clips: the padding
weight depends on the clip length, and the encoder output on padding frames is not
zero. ``config.json`` carries a ``voxrecipes_pooling`` note that says so.

Models trained with dynamic padding
-----------------------------------
A model trained with ``dynamic_padding`` never saw padding in self-attention: its
encoder ran on the batch's longest clip with the padding masked out of attention, though
not out of the convolutions, so a clip scored in a batch differs from the clip scored
alone (its own frames, positions ``0..T-1``), which is how :func:`score_with_hf` scores it
(measured in :class:`~voxrecipes.models.whisper_classifier.WhisperTextInjectionClassifier`).
The export records this as ``voxrecipes_dynamic_padding: true`` in ``config.json``, and
:func:`score_with_hf` then crops each clip's features to its valid frames (rounded up to
even, as ours) and runs the HF encoder's own modules (``conv1``, ``conv2``,
``embed_positions``, ``layers``, ``layer_norm``) on them: ``WhisperEncoder.forward``
itself refuses any input shorter than ``2 * max_source_positions`` frames. Clips of the
full length are scored the same way by the plain call. A model trained with
``mask_conv_padding`` (``voxrecipes_mask_conv_padding: true``) has the frames past the
clip zeroed before and between the convolutions there, as in training.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from transformers import WhisperConfig, WhisperFeatureExtractor, WhisperForAudioClassification
from transformers.modeling_outputs import BaseModelOutput
from transformers.models.whisper.modeling_whisper import WhisperEncoder

from voxrecipes.errors import ConfigError
from voxrecipes.fileio import atomic_dir
from voxrecipes.models.whisper_classifier import (
    POSITIONS_PER_SECOND,
    WhisperTextInjectionClassifier,
    conv_front_end,
    extract_features,
    make_feature_extractor,
)

log = logging.getLogger(__name__)

PROBLEM_TYPE = "multi_label_classification"
#: prefixes of our state dict that are exported unchanged, and the training-only one that is dropped
EXPORTED_PREFIXES = ("encoder.", "projector.", "classifier.")
TRAINING_ONLY_PREFIXES = ("text_proj.",)
POOLING_NOTE = (
    "voxrecipes trained this model with a mean over the valid (non-padding) encoder frames. "
    "WhisperForAudioClassification.forward averages all frames, padding included: it gives the same scores "
    "only for clips of chunk_length seconds or longer. Score shorter clips with "
    "voxrecipes.models.export_hf.score_with_hf (encoder -> keep the first ceil(valid_mel_frames/2) frames -> "
    "model(encoder_outputs=...))."
)
DYNAMIC_POOLING_NOTE = (
    "voxrecipes trained this model with dynamic padding: the encoder ran on each clip's own frames "
    "(padding masked out of self-attention) and the output was averaged over the valid frames. "
    "WhisperForAudioClassification.forward pads to chunk_length and lets the padding attend: it gives the same "
    "scores only for clips of chunk_length seconds or longer. Score shorter clips with "
    "voxrecipes.models.export_hf.score_with_hf (features cropped to the clip's frames -> the encoder's modules -> "
    "model(encoder_outputs=...))."
)
#: config.json key saying that the model was trained (and must be scored) with dynamic padding
DYNAMIC_PADDING_KEY = "voxrecipes_dynamic_padding"
#: config.json key saying that the padding is zeroed around the convolutions (see the module docstring)
MASK_CONV_PADDING_KEY = "voxrecipes_mask_conv_padding"


def _check_model(model: object, class_names: Sequence[str]) -> None:
    if not isinstance(model, WhisperTextInjectionClassifier):
        raise ConfigError(f"export needs a WhisperTextInjectionClassifier, got {type(model).__name__}")
    encoder = model.encoder
    if not isinstance(encoder, WhisperEncoder) or not isinstance(getattr(encoder, "config", None), WhisperConfig):
        raise ConfigError(f"the model's encoder must be a transformers WhisperEncoder with a WhisperConfig, "
                          f"got {type(encoder).__name__}")
    for name in ("projector", "classifier"):
        if not isinstance(getattr(model, name, None), torch.nn.Linear):
            raise ConfigError(f"the model's {name} must be a torch.nn.Linear, got {type(getattr(model, name, None))}")
    d_model = encoder.config.d_model
    if model.projector.in_features != d_model:
        raise ConfigError(f"projector takes {model.projector.in_features} inputs but the encoder's d_model is "
                          f"{d_model}")
    if model.classifier.in_features != model.projector.out_features:
        raise ConfigError(f"classifier takes {model.classifier.in_features} inputs but the projector gives "
                          f"{model.projector.out_features}")
    names = list(class_names)
    if model.classifier.out_features != len(names):
        raise ConfigError(f"the classifier has {model.classifier.out_features} outputs but {len(names)} class names "
                          f"were given: {names}")
    if len(set(names)) != len(names) or any(not isinstance(n, str) or not n or any(c.isspace() for c in n)
                                              for n in names):
        raise ConfigError(f"class names must be unique non-empty strings without spaces, got {names}")
    positions = encoder.config.max_source_positions
    if encoder.embed_positions.weight.shape[0] != positions:
        raise ConfigError(f"the encoder's position table has {encoder.embed_positions.weight.shape[0]} rows but its "
                          f"config says max_source_positions={positions}")
    if positions % POSITIONS_PER_SECOND:
        raise ConfigError(f"max_source_positions={positions} is not a whole number of seconds "
                          f"({POSITIONS_PER_SECOND} positions/s); the feature extractor's chunk_length must be an int")


def hf_config(model: WhisperTextInjectionClassifier, class_names: Sequence[str]) -> WhisperConfig:
    """The ``WhisperConfig`` of the exported ``WhisperForAudioClassification`` (multi-label, our sizes)."""
    _check_model(model, class_names)
    config = WhisperConfig.from_dict(model.encoder.config.to_dict())
    names = list(class_names)
    config.num_labels = len(names)
    config.id2label = dict(enumerate(names))
    config.label2id = {name: i for i, name in enumerate(names)}
    config.problem_type = PROBLEM_TYPE
    config.classifier_proj_size = model.projector.out_features
    config.use_weighted_layer_sum = False
    config.max_source_positions = model.encoder.config.max_source_positions
    config.architectures = ["WhisperForAudioClassification"]
    dynamic = bool(getattr(model, "dynamic_padding", False))
    config.voxrecipes_pooling = DYNAMIC_POOLING_NOTE if dynamic else POOLING_NOTE
    setattr(config, DYNAMIC_PADDING_KEY, dynamic)
    setattr(config, MASK_CONV_PADDING_KEY, bool(getattr(model, "mask_conv_padding", False)))
    return config


def map_state_dict(model: WhisperTextInjectionClassifier) -> dict[str, torch.Tensor]:
    """Our state dict -> ``WhisperForAudioClassification``'s: same names, ``text_proj.*`` dropped (CPU copies)."""
    mapped = {}
    for key, value in model.state_dict().items():
        if key.startswith(TRAINING_ONLY_PREFIXES):
            continue
        if not key.startswith(EXPORTED_PREFIXES):
            raise ConfigError(f"unexpected weight {key!r} in the model: only {EXPORTED_PREFIXES} are exported and "
                              f"{TRAINING_ONLY_PREFIXES} dropped")
        mapped[key] = value.detach().to("cpu", copy=True).contiguous()
    return mapped


def to_hf_model(model: WhisperTextInjectionClassifier, class_names: Sequence[str]) -> WhisperForAudioClassification:
    """An in-memory ``WhisperForAudioClassification`` with our weights (loaded with ``strict=True``), in eval mode."""
    config = hf_config(model, class_names)
    state = map_state_dict(model)
    dtype = next(iter(state.values())).dtype
    hf = WhisperForAudioClassification(config).to(dtype)
    try:
        hf.load_state_dict(state, strict=True)
    except RuntimeError as err:  # missing / unexpected keys or shape mismatches
        raise ConfigError(f"the model's weights do not fit WhisperForAudioClassification: {err}") from err
    return hf.eval()


def _check_extractor(extractor: WhisperFeatureExtractor, config: WhisperConfig) -> None:
    frames = 2 * config.max_source_positions
    if not isinstance(extractor, WhisperFeatureExtractor):
        raise ConfigError(f"feature_extractor must be a WhisperFeatureExtractor, got {type(extractor).__name__}")
    if extractor.nb_max_frames != frames or extractor.feature_size != config.num_mel_bins:
        raise ConfigError(f"the feature extractor gives {extractor.feature_size} x {extractor.nb_max_frames} features "
                          f"but the model needs {config.num_mel_bins} x {frames}")


def export_hf(
    model: WhisperTextInjectionClassifier,
    class_names: Sequence[str],
    out_dir: str | os.PathLike,
    feature_extractor: WhisperFeatureExtractor | None = None,
) -> Path:
    """Write ``out_dir`` (config.json, model.safetensors, preprocessor_config.json); return its path.

    ``feature_extractor`` defaults to :func:`make_feature_extractor` for the encoder's
    length and mel bins (what training used). The directory is written atomically and
    only after a reload of what was saved matched the model weight for weight.
    """
    hf = to_hf_model(model, class_names)
    config = hf.config
    if feature_extractor is None:
        feature_extractor = make_feature_extractor(config.max_source_positions // POSITIONS_PER_SECOND,
                                                   num_mel_bins=config.num_mel_bins)
    _check_extractor(feature_extractor, config)
    expected = hf.state_dict()
    with atomic_dir(out_dir) as tmp:
        hf.save_pretrained(tmp)
        feature_extractor.save_pretrained(tmp)
        _verify_saved(tmp, expected)
    out = Path(out_dir)
    log.info("exported %s (%d classes: %s, %d s inputs) to %s", type(hf).__name__, config.num_labels,
             " ".join(config.id2label[i] for i in range(config.num_labels)),
             config.max_source_positions // POSITIONS_PER_SECOND, out)
    return out


def _verify_saved(directory: Path, expected: dict[str, torch.Tensor]) -> None:
    """Reload ``directory`` with plain transformers; every weight must be there, loaded, and equal."""
    reloaded, info = WhisperForAudioClassification.from_pretrained(directory, output_loading_info=True)
    problems = {k: sorted(info.get(k) or ()) for k in ("missing_keys", "unexpected_keys", "mismatched_keys")}
    problems = {k: v for k, v in problems.items() if v}
    if problems:
        raise ConfigError(f"the exported model does not reload cleanly: {problems}")
    state = reloaded.state_dict()
    differ = [k for k, v in expected.items() if k not in state or not torch.equal(state[k], v)]
    if differ or set(state) != set(expected):
        keys = differ or sorted(set(state) ^ set(expected))
        raise ConfigError(f"the reloaded export differs from the model in {keys}")
    bad = sorted(p.name for p in directory.rglob("*") if p.is_file() and p.suffix not in (".json", ".safetensors"))
    if bad:
        raise ConfigError(f"the export wrote files other than .json/.safetensors: {bad}")


def _as_list(waveforms: np.ndarray | Sequence[np.ndarray]) -> tuple[list[np.ndarray], bool]:
    if isinstance(waveforms, np.ndarray) and waveforms.ndim == 1:
        return [waveforms], True
    return [np.asarray(w, dtype=np.float32) for w in waveforms], False


@torch.no_grad()
def score_with_hf(
    model: WhisperForAudioClassification,
    extractor: WhisperFeatureExtractor,
    waveform: np.ndarray | Sequence[np.ndarray],
) -> torch.Tensor:
    """Sigmoid scores of the HF model, pooled over the valid frames only, as voxrecipes scores them.

    ``waveform``: one mono 16 kHz clip (1-D array) -> ``(num_labels,)``, or a sequence of
    clips -> ``(B, num_labels)``. Clips longer than the extractor's ``chunk_length`` are
    truncated (chunk them first). Uses only public transformers API: see the module
    docstring for why the plain ``model(input_features)`` call differs on short clips.
    A model exported with ``voxrecipes_dynamic_padding: true`` in its config runs the
    encoder on each clip's own frames (:func:`encode_cropped`), as it was trained.
    """
    clips, single = _as_list(waveform)
    for i, clip in enumerate(clips):
        if np.asarray(clip).ndim != 1 or len(clip) == 0:
            raise ValueError(f"waveform {i} must be a non-empty 1-D array, got shape {np.asarray(clip).shape}")
    inputs = extractor([np.asarray(c, dtype=np.float32) for c in clips], sampling_rate=extractor.sampling_rate,
                       padding="max_length", truncation=True, return_attention_mask=True, return_tensors="pt")
    param = next(model.parameters())
    features = inputs["input_features"].to(param.device, param.dtype)
    valid_mel = inputs["attention_mask"].sum(dim=1)
    if getattr(model.config, DYNAMIC_PADDING_KEY, False):
        masked = bool(getattr(model.config, MASK_CONV_PADDING_KEY, False))
        hidden = [encode_cropped(model.encoder, features[b:b + 1], int(n), mask_conv_padding=masked)
                  for b, n in enumerate(valid_mel.tolist())]
    else:
        full = model.encoder(features).last_hidden_state
        valid = (valid_mel + 1) // 2  # conv2 (kernel 3, stride 2, padding 1): ceil(frames / 2) outputs
        hidden = [full[b:b + 1, : int(n)] for b, n in enumerate(valid.tolist())]
    logits = [model(encoder_outputs=BaseModelOutput(last_hidden_state=h)).logits[0] for h in hidden]
    probs = torch.sigmoid(torch.stack(logits))
    return probs[0] if single else probs


def encode_cropped(encoder: WhisperEncoder, features: torch.Tensor, mel_frames: int, *,
                   mask_conv_padding: bool = False) -> torch.Tensor:
    """The encoder's output ``(1, ceil(mel_frames / 2), d_model)`` on one clip's own frames, without padding.

    ``features``: ``(1, n_mels, frames)`` padded log-mel features; the first ``mel_frames``
    (rounded up to even, so that conv2's stride-2 outputs are whole) are used, with
    positions ``0..T-1`` of the position table: what a dynamic-padding model computes for
    the clip (its padding masked out). ``WhisperEncoder.forward`` accepts only the full
    length, so its modules are called in its order.
    """
    used = min(mel_frames + mel_frames % 2, features.shape[-1])
    mel_lengths = torch.tensor([mel_frames], device=features.device) if mask_conv_padding else None
    x = conv_front_end(encoder, features[:, :, :used], mel_lengths)
    x = x + encoder.embed_positions.weight[: x.shape[1]]
    for layer in encoder.layers:
        x = layer(x, None)
        x = x[0] if isinstance(x, tuple) else x
    return encoder.layer_norm(x)


@torch.no_grad()
def score_plain_hf(
    model: WhisperForAudioClassification,
    extractor: WhisperFeatureExtractor,
    waveform: np.ndarray | Sequence[np.ndarray],
) -> torch.Tensor:
    """Sigmoid scores of the plain HF call ``model(input_features)`` (pooling over padding too); shapes as above."""
    clips, single = _as_list(waveform)
    inputs = extractor(clips, sampling_rate=extractor.sampling_rate, padding="max_length", truncation=True,
                       return_tensors="pt")
    param = next(model.parameters())
    probs = torch.sigmoid(model(inputs["input_features"].to(param.device, param.dtype)).logits)
    return probs[0] if single else probs


@torch.no_grad()
def score_ours(
    model: WhisperTextInjectionClassifier, extractor: WhisperFeatureExtractor, waveforms: Sequence[np.ndarray]
) -> torch.Tensor:
    """Sigmoid scores of our own inference (masked mean over valid frames), ``(B, num_classes)``."""
    features, lengths = extract_features(extractor, list(waveforms))
    param = next(model.parameters())
    was_training = model.training
    model.eval()
    try:
        logits, _ = model(features.to(param.device, param.dtype), lengths.to(param.device))
    finally:
        model.train(was_training)
    return torch.sigmoid(logits)


def measure_agreement(
    ours: WhisperTextInjectionClassifier,
    hf: WhisperForAudioClassification,
    extractor: WhisperFeatureExtractor,
    waveforms: Sequence[np.ndarray],
) -> list[dict[str, float]]:
    """Per clip: its seconds, and the max |probability difference| to ours of the plain HF call and of score_with_hf."""
    mine = score_ours(ours, extractor, waveforms).cpu()
    plain = score_plain_hf(hf, extractor, list(waveforms)).cpu()
    fixed = score_with_hf(hf, extractor, list(waveforms)).cpu()
    rate = extractor.sampling_rate
    return [{"seconds": len(w) / rate,
             "plain_hf_max_abs_diff": float((plain[i] - mine[i]).abs().max()),
             "score_with_hf_max_abs_diff": float((fixed[i] - mine[i]).abs().max())}
            for i, w in enumerate(waveforms)]


def probe_waveforms(seconds: Sequence[float], sampling_rate: int = 16000, seed: int = 0) -> list[np.ndarray]:
    """Reproducible noise clips of the given lengths (probes for :func:`measure_agreement`)."""
    rng = np.random.default_rng(seed)
    return [(0.1 * rng.standard_normal(max(1, round(s * sampling_rate)))).astype(np.float32) for s in seconds]

