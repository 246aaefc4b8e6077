"""Cut DTX chunks into sentences at the ASR's segment boundaries (the paper's 1-15 s training segments).

The toxicity paper breaks "the audio chunks into sentences as determined by the ASR
model output"; training segments "span from 1 to 15 seconds ... Audio less than 1 second
is discarded". Whisper's segments (with timestamps, ``segments.jsonl`` of the
``transcribe`` stage) are the sentences here, turned into 1-15 s segments by this rule,
applied to each chunk on its own (a sentence never crosses a chunk boundary):

1. segments with no words are dropped; times are clipped to the chunk;
2. **split**: a segment longer than ``max_seconds`` is cut into ``ceil(d / max_seconds)``
   equal parts, its words shared out in proportion (part k gets words
   ``round(k W / n)`` to ``round((k + 1) W / n)``; Whisper gives no word times here);
3. **merge**: the shortest sentence under ``min_seconds`` is merged with the neighbour
   in its chunk across the smaller silence (the other one when that would exceed
   ``max_seconds``), texts joined in time order; a sentence that no neighbour can take
   is dropped. Repeated until every sentence is ``min_seconds`` to ``max_seconds``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from voxrecipes.errors import ConfigError


@dataclass
class Span:
    """A sentence: ``start``/``end`` seconds (relative to its chunk) and its words."""

    start: float
    end: float
    text: str

    @property
    def duration(self) -> float:
        return self.end - self.start


def split_long(span: Span, max_seconds: float) -> list[Span]:
    """Rule 2: equal parts of at most ``max_seconds``, words in proportion (parts without words dropped)."""
    if span.duration <= max_seconds:
        return [span]
    parts = math.ceil(span.duration / max_seconds - 1e-9)
    words = span.text.split()
    step = span.duration / parts
    out = []
    for k in range(parts):
        chunk_words = words[round(k * len(words) / parts):round((k + 1) * len(words) / parts)]
        if chunk_words:
            out.append(Span(span.start + k * step, span.start + (k + 1) * step, " ".join(chunk_words)))
    return out


def merge_short(spans: list[Span], min_seconds: float, max_seconds: float) -> tuple[list[Span], int]:
    """Rule 3 on the time-ordered sentences of one chunk: ``(sentences, number dropped)``."""
    spans = list(spans)
    dropped = 0
    while True:
        short = [i for i, s in enumerate(spans) if s.duration < min_seconds]
        if not short:
            return spans, dropped
        i = min(short, key=lambda k: (spans[k].duration, k))
        options = []
        for j in (i - 1, i + 1):
            if 0 <= j < len(spans):
                a, b = sorted((i, j))
                gap = spans[b].start - spans[a].end
                if spans[b].end - spans[a].start <= max_seconds:
                    options.append((gap, a, b))
        if not options:
            spans.pop(i)
            dropped += 1
            continue
        _, a, b = min(options)
        spans[a:b + 1] = [Span(spans[a].start, spans[b].end, f"{spans[a].text} {spans[b].text}")]


def chunk_sentences(segments: list[dict], chunk_seconds: float, *, min_seconds: float = 1.0,
                    max_seconds: float = 15.0) -> tuple[list[Span], int]:
    """Sentences of one chunk from its Whisper segments (``start``/``end``/``text``): ``(sentences, dropped)``."""
    if not 0 < min_seconds < max_seconds:
        raise ConfigError(f"need 0 < min_seconds < max_seconds, got {min_seconds} and {max_seconds}")
    spans: list[Span] = []
    for seg in sorted(segments, key=lambda s: (s["start"], s["end"])):
        text = " ".join(str(seg["text"]).split())
        start, end = max(0.0, float(seg["start"])), min(chunk_seconds, float(seg["end"]))
        if not text or end <= start:
            continue
        spans.extend(split_long(Span(start, end, text), max_seconds))
    return merge_short(spans, min_seconds, max_seconds)
