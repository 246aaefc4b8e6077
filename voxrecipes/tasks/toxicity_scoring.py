"""Chunked scoring of clips with a trained toxicity classifier (the paper's evaluation protocol).

A clip of 1-60 s is cut into 15 s chunks with a 15 s stride; chunks of many clips go
through the encoder together (a batch is ``batch_size`` chunks, whichever clips they
come from), and each clip's score for a class is the maximum of its chunks' sigmoid
outputs. The audio is streamed from the data directory in utterance order, so a test
set never has to fit in memory; within a window of ``SORT_WINDOW`` batches the chunks
are batched by length, so that a model with dynamic padding pads little (a clip's
scores do not depend on its batch: padding is masked out or, without dynamic padding,
every chunk is padded to the full input).
"""

from __future__ import annotations

import logging
import os

import numpy as np
import torch

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


@torch.no_grad()
def score_chunks(trained: TrainedClassifier, waveforms: list[np.ndarray], extractor=None,
                 precision: str = "fp32") -> np.ndarray:
    """Sigmoid scores ``(len(waveforms), classes)`` (float32) of chunks no longer than the model's input.

    ``precision``: ``fp32`` or ``bf16`` (autocast), as :func:`~voxrecipes.models.precision.resolve_precision` gives.
    """
    extractor = extractor or make_feature_extractor(trained.max_seconds, trained.num_mel_bins)
    features, lengths = extract_features(extractor, waveforms)
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
