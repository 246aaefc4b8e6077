"""Manifests of the automatic labelling pipeline: pseudo-labelled sentences and truth-labelled segments.

Both are written in the format :mod:`voxrecipes.corpora.toxicity_manifest` reads (UTF-8,
tab-separated, one header line)::

    utt_id  audio  start  end  language  transcript  labels  speaker

``audio`` is the absolute path of the long recording, ``start``/``end`` the segment in it
(seconds), ``speaker`` the recording (voice chat does not say who spoke), ``labels``
``;``-separated classes.

- **pseudo**: the sentences of the ASR stage with the text labeller's labels (the
  paper's training data);
- **truth**: any segments (the DTX chunks of the test sessions: the paper's
  "human-labelled" evaluation set; or the same sentences, for the comparison with
  training on true labels) labelled from the generator's truth. A truth sentence counts
  for a segment when at least ``min_overlap`` of its duration lies inside the segment;
  the segment's labels are the toxic labels of the sentences that count, or
  ``No_Violation``.

Nothing is written when a check fails: no segment at all, or no toxic segment in the
whole set (a toxicity model cannot be trained or evaluated on it; each recording without
a toxic segment is logged).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from voxrecipes.errors import DataError
from voxrecipes.labels import NO_VIOLATION

logger = logging.getLogger(__name__)

COLUMNS = ["utt_id", "audio", "start", "end", "language", "transcript", "labels", "speaker"]


@dataclass
class Row:
    utt_id: str
    audio: str
    start: float
    end: float
    language: str
    transcript: str
    labels: list[str]
    speaker: str


def check_toxic(rows: Sequence[Row], what: str, *, min_toxic: int = 1) -> None:
    """Log recordings without a toxic row; raise when the whole set has fewer than ``min_toxic`` toxic rows."""
    per_rec: dict[str, int] = {}
    for r in rows:
        per_rec[r.speaker] = per_rec.get(r.speaker, 0) + (r.labels != [NO_VIOLATION])
    clean = sorted(rec for rec, n in per_rec.items() if n == 0)
    if clean:
        logger.info("%s: %d of %d recordings have no toxic segment: %s", what, len(clean), len(per_rec),
                    " ".join(clean))
    toxic = sum(per_rec.values())
    if toxic < min_toxic:
        raise DataError(what, None, f"{toxic} toxic segments of {len(rows)} (at least {min_toxic} needed): "
                                    "a toxicity model cannot be trained or evaluated on it; check the labeller's "
                                    "thresholds or the recordings")


def write_manifest(path: str | os.PathLike, rows: Sequence[Row]) -> None:
    """Write ``rows`` (sorted by utt_id) atomically; an empty set is an error."""
    from voxrecipes.fileio import atomic_write

    if not rows:
        raise DataError(path, None, "no segments to write")
    with atomic_write(path) as handle:
        handle.write("\t".join(COLUMNS) + "\n")
        for r in sorted(rows, key=lambda r: r.utt_id):
            fields = [r.utt_id, r.audio, f"{r.start:.3f}", f"{r.end:.3f}", r.language, r.transcript,
                      ";".join(r.labels), r.speaker]
            if any("\t" in f or "\n" in f for f in fields):
                raise DataError(path, None, f"a field of {r.utt_id} contains a tab or newline")
            handle.write("\t".join(fields) + "\n")


def truth_for_segment(truth: Sequence, start: float, end: float, min_overlap: float) -> list:
    """The truth sentences (of one recording) with at least ``min_overlap`` of their duration in [start, end]."""
    out = []
    for s in truth:
        overlap = min(end, s.end) - max(start, s.start)
        if overlap > 0 and overlap >= min_overlap * (s.end - s.start):
            out.append(s)
    return out


def union_labels(sentences: Sequence) -> list[str]:
    """Toxic labels of ``sentences`` in the order of the class list, or ``[No_Violation]``."""
    from voxrecipes.corpora.toxicity_manifest import CLASSES

    found = {lab for s in sentences for lab in s.labels if lab != NO_VIOLATION}
    return [c for c in CLASSES if c in found] or [NO_VIOLATION]


def truth_rows(dd, truth_path: str | os.PathLike, *, min_overlap: float = 0.5,
               transcripts: str = "truth") -> list[Row]:
    """Rows of every segment of data dir ``dd`` labelled from the truth (recording id = session name).

    ``transcripts``: ``truth`` (the spoken text of the sentences that count) or ``data``
    (the data dir's ``text``, e.g. the ASR words). A segment with no truth sentence is
    skipped (logged); a recording absent from the truth is a DataError.
    """
    from voxrecipes.corpora.mini_sessions import read_truth

    if dd.segments is None:
        raise DataError(dd.file_path("wav.scp"), None, "the data dir has no segments file")
    if transcripts not in ("truth", "data"):
        raise ValueError(f"transcripts must be truth or data, got {transcripts}")
    if transcripts == "data" and dd.text is None:
        raise DataError(dd.file_path("text"), None, "file not found (transcripts=data)")
    by_session: dict[str, list] = {}
    for s in read_truth(truth_path):
        by_session.setdefault(s.session, []).append(s)
    rows, skipped = [], 0
    for utt in dd.utts:
        rec, start, end = dd.segments[utt]
        if rec not in by_session:
            raise DataError(truth_path, None, f"recording '{rec}' of {dd.file_path('segments')} is not in the truth")
        members = truth_for_segment(by_session[rec], start, end, min_overlap)
        if not members:
            skipped += 1
            continue
        text = " ".join(s.text for s in members) if transcripts == "truth" else dd.text[utt]
        rows.append(Row(utt, str(Path(dd.wav_scp[rec]).resolve()), start, end, members[0].language, text,
                        union_labels(members), rec))
    if skipped:
        logger.info("%d of %d segments of %s hold no truth sentence (noise, or only a sentence's edge): skipped",
                    skipped, len(dd.utts), dd.path)
    return rows


def pseudo_rows(dd, labels: dict[str, list[str]]) -> list[Row]:
    """Rows of the sentence data dir ``dd`` (segments, text, utt2lang) with the labeller's ``labels``."""
    for name in ("segments", "text", "utt2lang"):
        if getattr(dd, name) is None:
            raise DataError(dd.file_path(name), None, "file not found (the ASR sentence stage writes it)")
    rows = []
    for utt in dd.utts:
        rec, start, end = dd.segments[utt]
        rows.append(Row(utt, str(Path(dd.wav_scp[rec]).resolve()), start, end, dd.utt2lang[utt], dd.text[utt],
                        labels[utt], rec))
    return rows
