"""Generate a mini MuTox-format corpus with espeak-ng: the release TSV layout plus cut audio.

The stand-in for MuTox (see :mod:`voxrecipes.corpora.mutox` for the release format and its
sources), so that ``egs/mutox/tox1`` runs end to end exactly as on the release: five languages
(``eng spa fra deu por``), partitions ``train/dev/devtest`` (70/15/15 per language), a binary
annotation in ``contains_toxicity`` with ``label`` derived from it as the release does (1 only for
``Yes``; an undecided ``Cannot say`` row has ``label`` 0), and the warts of the real file: a few
undecided rows, a few rows whose audio was not downloaded (no file), a few rows without a
transcript, and a few ``yes`` in lower case.

Toxicity lives in the words only, as in the mini toxicity corpus whose phrase tables and voices
this reuses (:data:`voxrecipes.corpora.mini_toxicity.PHRASES` / ``VOICES``): a toxic clip carries
one mild real phrase of one toxic category (swearing, insults, flirting, exclusion, threats) among
neutral game-chat sentences; voice and prosody are drawn from a separate random stream that never
sees the label, so toxic and neutral clips sound alike.

Output layout::

    <out_dir>/mutox.tsv         the release's 15 columns, tab-separated, pandas-style quoting
    <out_dir>/audio/<id>.wav    one cut segment per row (16 kHz mono 16-bit), as the public loaders
                                name them; rows "without audio" have no file

``public_url_segment`` is ``https://mini-mutox.invalid/<lang>/<id>.wav 0 <end>`` with ``<end>``
in milliseconds for eng/spa and in 16 kHz samples for the other languages (the release's units).
The baseline score columns (``etox_result``, ``detoxify_score``, ``mutox_*_score``) and the
annotation details (``toxicity_types``, ``perlocutionary_effects``) are left empty: nothing here
computes them. All randomness comes from ``numpy.random.default_rng(seed)``.
"""

from __future__ import annotations

import csv
import io
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from voxrecipes.corpora.mini_toxicity import PHRASES, TOXIC_CLASSES, VOICES
from voxrecipes.corpora.mutox import MILLISECOND_LANGUAGES, OFFSET_SAMPLE_RATE
from voxrecipes.corpora.synth import Prosody, check_tools, run_parallel, synthesize
from voxrecipes.errors import ConfigError
from voxrecipes.fileio import atomic_dir

logger = logging.getLogger(__name__)

#: The release's columns, in its order (seamless_communication mutox/README.md).
COLUMNS = ["id", "lang", "partition", "public_url_segment", "audio_file_transcript", "contains_toxicity",
           "toxicity_types", "perlocutionary_effects", "label", "etox_result", "detoxify_score",
           "mutox_speech_score", "mutox_text_score", "mutox_zero_shot_speech_score", "mutox_zero_shot_text_score"]
#: MuTox language code -> the mini toxicity corpus's language (phrases and voices).
LANGUAGES = {"eng": "en", "spa": "es", "fra": "fr", "deu": "de", "por": "pt"}
PARTITION_FRACTIONS = {"train": 0.70, "dev": 0.15, "devtest": 0.15}
URL_PREFIX = "https://mini-mutox.invalid"
#: Neutral sentences per clip and their probabilities (clips of about 1-8 s).
SENTENCE_COUNTS = {1: 0.35, 2: 0.35, 3: 0.2, 4: 0.1}
MIN_SECONDS = 1.0


@dataclass
class Row:
    """One planned TSV row."""

    seg_id: str
    lang: str
    partition: str
    text: str
    toxic: bool
    voice: str
    prosody: Prosody
    annotation: str = ""      # contains_toxicity as written
    has_audio: bool = True
    transcript_kept: bool = True
    duration: float = 0.0


def _shares_count(share: float, n: int) -> int:
    """``round(share * n)``, at least 1 when ``share`` > 0."""
    return max(1, int(round(share * n))) if share > 0 else 0


def plan_rows(seed: int, num_utts: int, toxic_share: float, undecided_share: float, missing_share: float,
              no_transcript_share: float) -> list[Row]:
    """Every row (language, partition, words, voice, prosody, annotation, audio present) from ``seed``."""
    for name, share in (("--toxic_share", toxic_share), ("--undecided_share", undecided_share),
                        ("--missing_share", missing_share), ("--no_transcript_share", no_transcript_share)):
        if not 0.0 <= share < 1.0:
            raise ConfigError(f"{name} must be in [0, 1), got {share}")
    if num_utts < 3 * len(LANGUAGES):
        raise ConfigError(f"--num_utts must be at least {3 * len(LANGUAGES)} (a row per language and partition)")
    rng = np.random.default_rng(seed)
    voice_rng = np.random.default_rng([seed, 2])  # never sees the labels
    counts = list(SENTENCE_COUNTS)
    probs = np.array([SENTENCE_COUNTS[c] for c in counts])
    probs = probs / probs.sum()
    rows: list[Row] = []
    for li, (lang, short) in enumerate(LANGUAGES.items()):
        n = num_utts // len(LANGUAGES) + (1 if li < num_utts % len(LANGUAGES) else 0)
        n_dev = max(1, round(PARTITION_FRACTIONS["dev"] * n))
        n_test = max(1, round(PARTITION_FRACTIONS["devtest"] * n))
        parts = ["train"] * (n - n_dev - n_test) + ["dev"] * n_dev + ["devtest"] * n_test
        phrases = PHRASES[short]
        for part in (parts[i] for i in rng.permutation(n)):
            n_sent = int(rng.choice(counts, p=probs))
            sentences = [str(s) for s in rng.choice(phrases["No_Violation"], size=n_sent, replace=False)]
            toxic = bool(rng.random() < toxic_share)
            if toxic:
                category = str(rng.choice(TOXIC_CLASSES))
                pos = int(rng.integers(n_sent))
                trigger = str(rng.choice(phrases[category]))
                sentences[pos] = trigger if rng.random() < 0.5 else f"{sentences[pos]}, {trigger}"
            voice = str(voice_rng.choice(VOICES[short]))
            prosody = Prosody(speed=int(voice_rng.integers(150, 200)), pitch=int(voice_rng.integers(35, 65)),
                              amplitude=int(voice_rng.integers(80, 130)), gap=int(voice_rng.integers(0, 3)))
            rows.append(Row(seg_id="", lang=lang, partition=part, text=". ".join(sentences) + ".", toxic=toxic,
                            voice=voice, prosody=prosody, annotation="Yes" if toxic else "No"))
    order = rng.permutation(len(rows))
    rows = [rows[i] for i in order]
    for k, r in enumerate(rows):
        r.seg_id = f"{100001 + k}"
    # The release's warts, each on its own random rows.
    picks = rng.permutation(len(rows))
    n_und = _shares_count(undecided_share, len(rows))
    n_miss = _shares_count(missing_share, len(rows))
    n_empty = _shares_count(no_transcript_share, len(rows))
    for i in picks[:n_und]:
        rows[i].annotation = "Cannot say" if rng.random() < 0.7 else "Cannot Say"
    for i in picks[n_und:n_und + n_miss]:
        rows[i].has_audio = False
    for i in picks[n_und + n_miss:n_und + n_miss + n_empty]:
        rows[i].transcript_kept = False
    toxic_rows = [i for i in picks[n_und + n_miss + n_empty:] if rows[i].annotation == "Yes"]
    for i in toxic_rows[:max(1, len(toxic_rows) // 20)]:
        rows[i].annotation = "yes"
    return rows


def _synthesize(job: tuple[Row, Path]) -> float:
    row, out = job
    return synthesize(row.text, row.voice, row.prosody, out, min_duration=MIN_SECONDS)


def _offset(seconds: float, lang: str) -> int:
    """Seconds in the release's offset unit of ``lang`` (ms for eng/spa, 16 kHz samples otherwise)."""
    return int(round(seconds * (1000 if lang in MILLISECOND_LANGUAGES else OFFSET_SAMPLE_RATE)))


def tsv_text(rows: list[Row]) -> str:
    """The TSV of ``rows`` (header and one line per row, in id order)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter="\t", lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(COLUMNS)
    for r in sorted(rows, key=lambda r: r.seg_id):
        transcript = r.text.rstrip(".").lower() if r.transcript_kept else ""
        url = f"{URL_PREFIX}/{r.lang}/{r.seg_id}.wav 0 {_offset(r.duration, r.lang)}"
        label = "1" if r.annotation.lower() == "yes" else "0"
        writer.writerow([r.seg_id, r.lang, r.partition, url, transcript, r.annotation, "", "", label,
                         "", "", "", "", "", ""])
    return buffer.getvalue()


def generate(out_dir: str | Path, *, seed: int = 0, num_utts: int = 600, nj: int = 2, toxic_share: float = 0.35,
             undecided_share: float = 0.03, missing_share: float = 0.03, no_transcript_share: float = 0.01) -> dict:
    """Write the mini MuTox corpus to ``out_dir`` (atomically); return its statistics."""
    check_tools()
    rows = plan_rows(seed, num_utts, toxic_share, undecided_share, missing_share, no_transcript_share)
    logger.info("synthesizing %d segments with %d jobs", len(rows), nj)
    out_dir = Path(out_dir)
    with atomic_dir(out_dir) as tmp:
        (tmp / "audio").mkdir()
        jobs = [(r, tmp / "audio" / f"{r.seg_id}.wav") for r in rows]
        for r, duration in zip(rows, run_parallel(_synthesize, jobs, nj), strict=True):
            r.duration = duration
        for r in rows:
            if not r.has_audio:
                (tmp / "audio" / f"{r.seg_id}.wav").unlink()
        (tmp / "mutox.tsv").write_text(tsv_text(rows), encoding="utf-8")
    return corpus_stats(rows)


def corpus_stats(rows: list[Row]) -> dict:
    """Counts per partition and language, of the warts, and durations."""
    stats: dict = {"rows": len(rows), "per_partition": {}}
    for part in PARTITION_FRACTIONS:
        members = [r for r in rows if r.partition == part]
        stats["per_partition"][part] = {
            "total": len(members), "toxic": sum(r.annotation.lower() == "yes" for r in members),
            "languages": {lang: sum(r.lang == lang for r in members) for lang in LANGUAGES}}
    stats["undecided"] = sum(r.annotation.lower() == "cannot say" for r in rows)
    stats["without_audio"] = sum(not r.has_audio for r in rows)
    stats["without_transcript"] = sum(not r.transcript_kept for r in rows)
    durations = [r.duration for r in rows]
    stats["total_duration_s"] = round(float(sum(durations)), 2)
    stats["max_duration_s"] = round(float(max(durations)), 3)
    return stats
