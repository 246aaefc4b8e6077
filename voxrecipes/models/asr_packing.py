"""Packing short utterances into one Whisper window, and giving each utterance its words back.

Whisper's encoder always sees a 30 s window: an utterance of 3 s decoded alone costs a
full 30 s encoder pass, ten times its audio. An ASR stage over many short utterances
(the mini MSP-Podcast's last 1.5-6 s) spends most of its time encoding padding. Packed,
several utterances of one language share a window, laid end to end with a short silence
between them, and are decoded once; each decoded word carries a timestamp (Whisper's
cross-attention alignment, faster-whisper's ``word_timestamps``), and a word goes back to
the utterance whose stretch of the window holds it (:func:`assign_words`).

This module is the model-free part: which utterances share a window
(:func:`pack_windows`), where each lies in it (:func:`window_spans`), and which utterance
a word belongs to (:func:`assign_words`). The decoding is
:class:`voxrecipes.models.asr_faster_whisper.FasterWhisperTranscriber` (``pack_seconds``).
"""

from __future__ import annotations

from collections.abc import Sequence


def pack_windows(durations: Sequence[float], max_seconds: float, gap_seconds: float) -> list[list[int]]:
    """Indices of ``durations`` grouped into windows of at most ``max_seconds``, in input order.

    Greedy: an utterance joins the current window when the window, with ``gap_seconds``
    of silence before the newcomer, still fits in ``max_seconds``; otherwise it opens a
    new window. An utterance longer than ``max_seconds`` is a window of its own. Every
    index appears exactly once.
    """
    if max_seconds <= 0:
        raise ValueError(f"max_seconds must be > 0, got {max_seconds}")
    if gap_seconds < 0:
        raise ValueError(f"gap_seconds must be >= 0, got {gap_seconds}")
    windows: list[list[int]] = []
    used = 0.0
    for index, duration in enumerate(durations):
        if windows and used + gap_seconds + duration <= max_seconds:
            windows[-1].append(index)
            used += gap_seconds + duration
        else:
            windows.append([index])
            used = float(duration)
    return windows


def window_spans(durations: Sequence[float], gap_seconds: float, start: float = 0.0) -> list[tuple[float, float]]:
    """``(start, end)`` in seconds of each utterance of a window laid out from ``start`` with gaps between them."""
    spans = []
    position = start
    for i, duration in enumerate(durations):
        if i:
            position += gap_seconds
        spans.append((position, position + duration))
        position += duration
    return spans


def assign_words(words: Sequence[tuple[float, float]], spans: Sequence[tuple[float, float]]) -> list[int]:
    """The utterance (index into ``spans``) of each word ``(start, end)``; all times on the window's clock.

    A word belongs to the utterance whose span holds the word's midpoint; a midpoint in a
    gap (or outside every span: timestamps are approximate, about one Whisper frame of
    20 ms at best) goes to the nearest span, the earlier one on a tie.
    """
    if not spans:
        raise ValueError("no spans to assign words to")
    owners = []
    for start, end in words:
        mid = 0.5 * (float(start) + float(end))
        best, best_distance = 0, float("inf")
        for i, (lo, hi) in enumerate(spans):
            distance = 0.0 if lo <= mid <= hi else min(abs(mid - lo), abs(mid - hi))
            if distance < best_distance:
                best, best_distance = i, distance
        owners.append(best)
    return owners
