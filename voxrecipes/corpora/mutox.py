"""Prepare a Kaldi data dir from the MuTox release TSV (Costa-jussà et al., 2024) and downloaded audio.

MuTox ships ``mutox.tsv`` (tab-separated, one header line, pandas-style quoting) that
points at public audio by URL and millisecond offsets (``public_url_segment``); users
download and cut the segments themselves. This reader relies on these columns only:

========================= ================================================================
``id``                    segment id (the audio file is found from it, see below)
``lang``                  language; ISO 639-3 as in the release (``eng``, ``spa`` ...) or
                          ISO 639-1; written to utt2lang as ISO 639-1
``partition``             ``train``, ``dev`` or ``devtest``; ``--partition`` keeps one
``audio_file_transcript`` the transcript (required non-empty unless ``--skip_incomplete``)
``label``                 binary toxicity, ``1``/``0`` (preferred when present and set)
``contains_toxicity``     ``Yes``/``No`` (any case); used when ``label`` is absent or empty;
                          ``Cannot say`` is undefined (an error unless ``--skip_incomplete``)
========================= ================================================================

Other columns (``public_url_segment``, ``toxicity_types``, scores ...) are ignored.
At least one of ``label`` and ``contains_toxicity`` must be present.

Audio: ``--audio_dir`` plus ``--audio_pattern`` (default ``{id}.wav``; the
placeholders ``{id}``, ``{lang}`` (as in the TSV) and ``{partition}`` are filled in),
e.g. ``{lang}_{id}.wav`` for downloads named that way.

Output: ``wav.scp`` (absolute paths), ``utt2spk``/``spk2utt`` (one speaker per
utterance: MuTox has no speaker ids), ``text``, ``utt2lang``, ``utt2labels`` with
``Toxic`` or ``No_Violation``, ``utt2dur``. Utterance ids are ``<lang>-<id>``.
Errors name the TSV's path and line: missing column, unknown label value, unknown
language, empty transcript, missing audio file, duplicate id.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from pathlib import Path

from voxrecipes.corpora.toxicity_manifest import Record, check_columns, header_columns, iter_rows, write_records
from voxrecipes.errors import ConfigError, DataError

logger = logging.getLogger(__name__)

TOXIC = "Toxic"
NON_TOXIC = "No_Violation"
REQUIRED_COLUMNS = ("id", "lang", "partition", "audio_file_transcript")
LABEL_COLUMNS = ("label", "contains_toxicity")
PARTITIONS = ("train", "dev", "devtest")
# The MuTox languages: ISO 639-3 (as written in the release) -> ISO 639-1.
ISO3_TO_ISO1 = {
    "eng": "en", "spa": "es", "fra": "fr", "deu": "de", "por": "pt", "arb": "ar", "ara": "ar", "ben": "bn",
    "cmn": "zh", "zho": "zh", "nld": "nl", "hin": "hi", "ind": "id", "ita": "it", "jpn": "ja", "kor": "ko",
    "rus": "ru", "swh": "sw", "swa": "sw", "tgl": "tl", "tha": "th", "tur": "tr", "urd": "ur", "vie": "vi",
    "bul": "bg", "cat": "ca", "ces": "cs", "dan": "da", "ell": "el", "est": "et", "pes": "fa", "fas": "fa",
    "fin": "fi", "heb": "he", "hun": "hu", "pol": "pl", "slk": "sk",
}
ISO1_CODES = frozenset(ISO3_TO_ISO1.values())


def language_code(value: str) -> str | None:
    """ISO 639-1 code of a MuTox ``lang`` value, or None when unknown."""
    code = value.strip().lower()
    if code in ISO1_CODES:
        return code
    return ISO3_TO_ISO1.get(code)


def toxicity_label(row: dict[str, str | None], path: Path, line: int) -> str | None:
    """``Toxic`` / ``No_Violation`` from ``label`` or ``contains_toxicity``; None when undefined."""
    raw = row.get("label")
    if raw:
        try:
            number = float(raw)
        except ValueError:
            raise DataError(path, line, f"unknown label value '{raw}'; expected 1 or 0") from None
        if number not in (0.0, 1.0):
            raise DataError(path, line, f"unknown label value '{raw}'; expected 1 or 0")
        return TOXIC if number == 1.0 else NON_TOXIC
    raw = (row.get("contains_toxicity") or "").strip().lower()
    if raw in ("yes", "true", "1"):
        return TOXIC
    if raw in ("no", "false", "0"):
        return NON_TOXIC
    if raw in ("cannot say", ""):
        return None
    raise DataError(path, line, f"unknown contains_toxicity value '{row.get('contains_toxicity')}'; "
                                "expected Yes, No or Cannot say")


def read_mutox(tsv: str | Path, audio_dir: str | Path, *, audio_pattern: str = "{id}.wav",
               partition: str | None = None, languages: Sequence[str] | None = None,
               skip_incomplete: bool = False) -> list[Record]:
    """Read and check the rows of ``tsv`` (optionally one partition and some languages)."""
    tsv = Path(tsv).resolve()
    audio_dir = Path(audio_dir).resolve()
    if partition is not None and partition not in PARTITIONS:
        raise ConfigError(f"--partition {partition}: expected one of {' '.join(PARTITIONS)}")
    wanted = None
    if languages:
        wanted = set()
        for lang in languages:
            code = language_code(lang)
            if code is None:
                raise ConfigError(f"--languages: unknown language code '{lang}'")
            wanted.add(code)
    if not tsv.is_file():
        raise DataError(tsv, None, "file not found")
    if not audio_dir.is_dir():
        raise DataError(audio_dir, None, "audio directory not found")
    columns = header_columns(tsv)
    if columns is None:
        raise DataError(tsv, 1, "expected a tab-separated file with a header line")
    check_columns(tsv, columns, REQUIRED_COLUMNS)
    if not any(c in columns for c in LABEL_COLUMNS):
        raise DataError(tsv, 1, f"missing column: need one of {' or '.join(LABEL_COLUMNS)}")
    records: list[Record] = []
    seen: dict[str, int] = {}
    skipped = 0
    for line, row in iter_rows(tsv):
        row_partition = row.get("partition") or ""
        if partition is not None and row_partition != partition:
            continue
        seg_id = row.get("id") or ""
        if not seg_id or re.search(r"\s", seg_id):
            raise DataError(tsv, line, f"id '{seg_id}' is empty or contains whitespace")
        lang = language_code(row.get("lang") or "")
        if lang is None:
            raise DataError(tsv, line, f"unknown language code '{row.get('lang')}'")
        if wanted is not None and lang not in wanted:
            continue
        label = toxicity_label(row, tsv, line)
        transcript = " ".join((row.get("audio_file_transcript") or "").split())
        if label is None or not transcript:
            if skip_incomplete:
                skipped += 1
                continue
            what = "undefined toxicity label (Cannot say or empty)" if label is None else "empty transcript"
            raise DataError(tsv, line, f"{what}; pass --skip_incomplete to leave such rows out")
        utt_id = f"{lang}-{seg_id}"
        if utt_id in seen:
            raise DataError(tsv, line, f"duplicate id {seg_id} (first on line {seen[utt_id]})")
        seen[utt_id] = line
        try:
            name = audio_pattern.format(id=seg_id, lang=row.get("lang") or "", partition=row_partition)
        except (KeyError, IndexError) as err:
            raise ConfigError(f"--audio_pattern {audio_pattern}: unknown placeholder {err}") from None
        audio = audio_dir / name
        if not audio.is_file():
            raise DataError(tsv, line, f"audio file {audio} of id {seg_id} not found")
        records.append(Record(line=line, utt_id=utt_id, audio=audio, start=None, end=None, language=lang,
                              transcript=transcript, labels=[label]))
    if skipped:
        logger.warning("%s: skipped %d rows without a transcript or a defined label", tsv, skipped)
    if not records:
        raise DataError(tsv, None, "no usable rows" + (f" in partition {partition}" if partition else ""))
    return records


def prepare(tsv: str | Path, audio_dir: str | Path, out_dir: str | Path, *, audio_pattern: str = "{id}.wav",
            partition: str | None = None, languages: Sequence[str] | None = None,
            skip_incomplete: bool = False) -> dict[str, int]:
    """Read the MuTox TSV and write the data dir ``out_dir``."""
    records = read_mutox(tsv, audio_dir, audio_pattern=audio_pattern, partition=partition, languages=languages,
                         skip_incomplete=skip_incomplete)
    counts = write_records(records, out_dir, Path(tsv).resolve())
    counts["toxic"] = sum(r.labels == [TOXIC] for r in records)
    return counts
