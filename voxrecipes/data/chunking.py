"""Chunked evaluation: cut clips into fixed windows, batch windows of many clips, max-aggregate scores.

The toxicity paper scores 1-60 s clips on 15 s chunks with a 15 s stride and keeps, per
class, the maximum probability over a clip's chunks. Batching chunks across clips keeps
the encoder busy instead of running one short clip at a time.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence

import numpy as np


def chunk_bounds(num_samples: int, sr: int, chunk_s: float = 15, stride_s: float = 15) -> list[tuple[int, int]]:
    """Sample ranges ``[start, end)`` of the chunks of a ``num_samples`` clip.

    Chunks start at ``0, stride, 2*stride, ...`` and are ``chunk_s`` long; the last one is
    cut at the clip's end and kept however short (a clip shorter than a chunk gives one
    chunk). No chunk starts once a previous chunk has reached the end of the clip.
    """
    chunk, stride = int(round(chunk_s * sr)), int(round(stride_s * sr))
    if num_samples <= 0:
        raise ValueError(f"cannot chunk an empty clip (num_samples={num_samples})")
    if chunk <= 0 or stride <= 0:
        raise ValueError(f"chunk_s and stride_s must be positive, got {chunk_s}, {stride_s}")
    bounds = []
    start = 0
    while True:
        end = min(start + chunk, num_samples)
        bounds.append((start, end))
        if end >= num_samples:
            return bounds
        start += stride


def batch_chunks(
    clips: Mapping[str, np.ndarray] | Iterable[tuple[str, np.ndarray]], sr: int, chunk_s: float = 15,
    stride_s: float = 15, batch_size: int = 8
) -> Iterator[tuple[list[np.ndarray], list[tuple[str, int]]]]:
    """Yield ``(waveforms, owners)`` batches of up to ``batch_size`` chunks taken across clips.

    ``clips`` is a mapping (visited in sorted utterance-id order) or an iterable of
    ``(utt, waveform)`` pairs (visited as they come, so a whole test set never has to be
    in memory, e.g. :func:`voxrecipes.data.audio.iter_audio`). Chunks come in time order;
    ``owners[k] = (utt, chunk_index)`` names the clip and chunk of ``waveforms[k]`` (a view
    into the clip's 1-D array). A batch may mix chunks of several clips.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    waves: list[np.ndarray] = []
    owners: list[tuple[str, int]] = []
    pairs = ((utt, clips[utt]) for utt in sorted(clips)) if isinstance(clips, Mapping) else clips
    for utt, wav in pairs:
        wav = np.asarray(wav)
        if wav.ndim != 1:
            raise ValueError(f"{utt}: expected a mono 1-D waveform, got shape {wav.shape}")
        if len(wav) == 0:
            raise ValueError(f"{utt}: empty clip, nothing to score")
        for k, (start, end) in enumerate(chunk_bounds(len(wav), sr, chunk_s, stride_s)):
            waves.append(wav[start:end])
            owners.append((utt, k))
            if len(waves) == batch_size:
                yield waves, owners
                waves, owners = [], []
    if waves:
        yield waves, owners


def max_aggregate(chunk_scores: np.ndarray, owners: Sequence[tuple[str, int] | str]) -> dict[str, np.ndarray]:
    """Per clip and class, the maximum score over the clip's chunks.

    ``chunk_scores`` is ``(num_chunks, num_classes)``; ``owners[k]`` is ``(utt, chunk_index)``
    (as :func:`batch_chunks` yields) or just ``utt``. Returns ``{utt: (num_classes,) array}``.
    """
    scores = np.asarray(chunk_scores)
    if scores.ndim != 2 or scores.shape[0] != len(owners):
        raise ValueError(f"chunk_scores must be (len(owners)={len(owners)}, C), got shape {scores.shape}")
    out: dict[str, np.ndarray] = {}
    for row, owner in zip(scores, owners):
        utt = owner if isinstance(owner, str) else owner[0]
        out[utt] = row.copy() if utt not in out else np.maximum(out[utt], row)
    return out
