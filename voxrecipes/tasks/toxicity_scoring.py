"""Chunked scoring of clips with a trained toxicity classifier (the paper's evaluation protocol).

A clip of 1-60 s is cut into 15 s chunks with a 15 s stride; chunks of many clips go
through the encoder together (a batch is ``batch_size`` chunks, whichever clips they
come from), and each clip's score for a class is the maximum of its chunks' sigmoid
outputs. The audio is streamed from the data directory in utterance order, so a test
set never has to fit in memory; within a window of ``SORT_WINDOW`` batches the chunks
are batched by length, so that a model with dynamic padding pads little. Without dynamic
padding every chunk is padded to the full input and its scores do not depend on its
batch; with it they do (by up to 0.06-0.12 in a sigmoid score on the mini models: BENCHMARKS.md), because the
encoder's convolutions read the padding next to a chunk's end (measured in
:class:`~voxrecipes.models.whisper_classifier.WhisperTextInjectionClassifier`), unless the
model was trained with ``mask_conv_padding`` (the mini recipes' configs), which zeroes it.

With a dynamic-padding model the log-mel features are also computed only up to the
batch's longest chunk (plus :data:`EDGE_SAMPLES`) instead of the full input: on a
batch of 3 s chunks, Whisper's front end on 15 s of zeros cost several times the
forward pass of a small model. The encoder reads only the frames up to the longest
chunk, and those frames are the same either way (see :func:`chunk_features`).
"""

from __future__ import annotations

import logging
import os

import numpy as np
import torch
import torch.nn.functional as F

from voxrecipes.data.audio import SAMPLE_RATE, iter_audio
from voxrecipes.data.chunking import batch_chunks, max_aggregate
from voxrecipes.data.datadir import DataDir
from voxrecipes.data.posteriors import Posteriors
from voxrecipes.errors import ConfigError
from voxrecipes.models.precision import autocast, resolve_precision
from voxrecipes.models.whisper_classifier import extract_features, make_feature_extractor
from voxrecipes.tasks.toxicity import TrainedClassifier

logger = logging.getLogger(__name__)

#: chunks are sorted by length within windows of this many batches before batching
SORT_WINDOW = 16
#: zero samples kept after a batch's longest chunk when its features are computed to that length only: an
#: STFT frame (n_fft 400, hop 160, centred) reads 200 samples after its centre, and the encoder reads one
#: frame past the longest chunk (conv2's stride 2 rounds the frames up to even), so 200 + 2 * 160 = 520
#: samples make every frame it reads the same as with padding to the full input; ours: 640 (4 hops), a margin.
EDGE_SAMPLES = 640


def chunk_features(trained: TrainedClassifier, extractor, waveforms: list[np.ndarray]
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """Log-mel features ``(B, n_mels, max_seconds * 100)`` and valid mel frames ``(B,)`` of chunks for ``trained``.

    A model without dynamic padding attends to the padding, so its chunks are padded to
    the full input, as in training. A model with dynamic padding reads only the frames
    up to the batch's longest chunk, so the features are computed on the waveforms padded
    to that length plus :data:`EDGE_SAMPLES` (every frame the encoder reads sees the
    same samples, and Whisper's per-clip normalisation (the clip's maximum) is not
    changed by padding zeros), and zero-filled beyond it to the input size the model
    checks. The result equals the full computation on every frame the model reads.
    """
    if not getattr(trained.model, "dynamic_padding", False):
        return extract_features(extractor, waveforms)
    for i, w in enumerate(waveforms):
        if np.asarray(w).ndim != 1 or len(w) == 0:
            raise ValueError(f"waveform {i} must be a non-empty 1-D array, got shape {np.asarray(w).shape}")
    samples = min(extractor.n_samples, max(len(w) for w in waveforms) + EDGE_SAMPLES)
    out = extractor([np.asarray(w, dtype=np.float32) for w in waveforms], sampling_rate=extractor.sampling_rate,
                    padding="max_length", max_length=samples, truncation=True, return_attention_mask=True,
                    return_tensors="pt")
    features = out["input_features"]
    features = F.pad(features, (0, extractor.nb_max_frames - features.shape[-1]))
    return features, out["attention_mask"].sum(dim=1).long()


@torch.no_grad()
def score_chunks(trained: TrainedClassifier, waveforms: list[np.ndarray], extractor=None,
                 precision: str = "fp32") -> np.ndarray:
    """Sigmoid scores ``(len(waveforms), classes)`` (float32) of chunks no longer than the model's input.

    ``precision``: ``fp32`` or ``bf16`` (autocast), as :func:`~voxrecipes.models.precision.resolve_precision` gives.
    """
    extractor = extractor or make_feature_extractor(trained.max_seconds, trained.num_mel_bins)
    features, lengths = chunk_features(trained, extractor, waveforms)
    device = next(trained.model.parameters()).device
    with autocast(precision, device):
        logits, _ = trained.model(features.to(device), lengths.to(device))
    return torch.sigmoid(logits.float()).cpu().numpy()


def score_data_dir(trained: TrainedClassifier, data_dir: str | os.PathLike, *, chunk_s: float | None = None,
                   stride_s: float | None = None, batch_size: int = 16, precision: str = "fp32",
                   progress: bool = True) -> Posteriors:
    """Per-clip max-over-chunks scores of every utterance of ``data_dir`` (rows in utterance order).

    ``precision``: ``fp32``, ``bf16`` or ``auto`` (bf16 where the device runs it natively; logged).
    """
    from tqdm import tqdm

    chunk_s = trained.max_seconds if chunk_s is None else chunk_s
    stride_s = chunk_s if stride_s is None else stride_s
    if chunk_s > trained.max_seconds:
        raise ConfigError(f"--chunk_seconds {chunk_s} exceeds the model's input length {trained.max_seconds} s")
    dd = DataDir.load(data_dir)
    precision = resolve_precision(precision, next(trained.model.parameters()).device)
    extractor = make_feature_extractor(trained.max_seconds, trained.num_mel_bins)
    scores: dict[str, np.ndarray] = {}
    num_chunks = 0
    bar = tqdm(total=len(dd.utts), desc=f"score {dd.path}", disable=not progress, mininterval=5, unit="clip")
    windows = batch_chunks(iter_audio(dd, SAMPLE_RATE), SAMPLE_RATE, chunk_s, stride_s, batch_size * SORT_WINDOW)
    for window, window_owners in windows:
        order = np.argsort([len(w) for w in window], kind="stable")
        for begin in range(0, len(order), batch_size):
            picked = order[begin:begin + batch_size]
            waves = [window[i] for i in picked]
            owners = [window_owners[i] for i in picked]
            for utt, row in max_aggregate(score_chunks(trained, waves, extractor, precision), owners).items():
                if utt not in scores:
                    bar.update(1)
                scores[utt] = row if utt not in scores else np.maximum(scores[utt], row)
            num_chunks += len(waves)
    bar.close()
    utts = dd.utts
    logger.info("scored %d clips (%d chunks of <= %g s, stride %g s) of %s", len(utts), num_chunks, chunk_s,
                stride_s, dd.path)
    return Posteriors(utts, trained.classes, np.stack([scores[u] for u in utts]))
