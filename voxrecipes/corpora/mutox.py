"""Prepare a Kaldi data dir from the MuTox release TSV (Costa-jussà et al., 2024) and the user's audio.

The release format, as established from public sources (no guessing; where they disagree it is said):

- Source 1, the release's own documentation: facebookresearch/seamless_communication,
  ``src/seamless_communication/cli/toxicity/mutox/README.md`` ("Dataset" section). The file is
  ``https://dl.fbaipublicfiles.com/seamless/datasets/mutox.tsv`` (MIT), tab-separated with one
  header line, and the README lists the columns below.
- Source 2, loaders that read that file: stanford-crfm/helm,
  ``src/helm/benchmark/scenarios/audio_language/mutox_scenario.py`` (``pd.read_csv(sep="\\t")``,
  ``public_url_segment.split()`` into 3 fields, ``label == 1`` as toxic, ``devtest`` as the test
  partition, 30 ``lang`` codes), and the inspect_ai MuTox evaluation by @ymerkli (its
  ``mutox/README.md``, ``mutox/constants.py``, ``mutox/dataset.py``; the index did not name the
  repository), which pins the file by SHA-256
  ``8d9864d443f756bc8966c150df3024987985ee000bd4c0119ace63084081b7df``.
- Source 3, a public cleaning script of the file (``get_mutox_init``: mutox.tsv -> mutox_init.tsv;
  the index did not name its repository):
  the release has rows without a transcript, rows whose ``contains_toxicity`` is ``Cannot say`` or
  ``Cannot Say``, a few lower-case ``yes`` and a few rows without a partition.

========================== ===========================================================================
``id``                     string id of the segment
``lang``                   3-letter language code: ``eng spa arb ben bul cat ces cmn dan deu ell est pes
                           fin fra heb hin hun ind ita nld pol por rus slk swh tgl tur urd vie`` (source
                           2; HELM writes ``fas`` for Western Persian, inspect_evals says the file has
                           ``pes``; both map to ``fa``). ISO 639-1 codes are accepted too.
``partition``              ``train``, ``dev`` or ``devtest`` (the test set; there is no ``test``)
``public_url_segment``     ``<url> <start> <end>``, separated by whitespace. The README says
                           ``url:start:end`` in milliseconds; every loader splits on whitespace, and
                           inspect_evals measured that the offsets are milliseconds for ``eng`` and
                           ``spa`` but **16 kHz sample counts for the other languages** (segment length
                           per transcript word, confirmed by cutting both ways). Used only with
                           ``--audio_layout sources``.
``audio_file_transcript``  ASR transcript of the segment (may be empty in the release)
``contains_toxicity``      the annotation: ``Yes`` / ``No`` / ``Cannot say`` (case varies)
``toxicity_types``,        annotation details (``toxicity_types`` ``,``-separated), not used
``perlocutionary_effects``
``label``                  ``1`` if ``contains_toxicity`` is ``Yes`` and ``0`` otherwise -- so an
                           undecided row has ``label`` 0; this reader therefore decides from
                           ``contains_toxicity`` and uses ``label`` only when that column is absent
``etox_result``,           baseline outputs (word-list matches, Detoxify probability, MuTox logits),
``detoxify_score``,        not used
``mutox_*_score``
========================== ===========================================================================

Not established: the exact form of ``id`` values (HELM and inspect_evals name the cut files
``<id>.mp3``; one script prefixes the language, which suggests ids may repeat across languages, so
utterance ids here are ``<lang>-<id>``), and whether other undecided spellings occur (``No
consensus`` is a value of the later group-annotation file, mutox_group_annotations/README.md in
source 1; it is treated as undecided too).

The audio is not in the release: users cut it from the public URLs. Two layouts of ``--audio_dir``:

- ``segments`` (default): one file per row, found with ``--audio_pattern`` (default ``{id}.wav``;
  placeholders ``{id}``, ``{lang}`` as in the TSV, ``{partition}``), as the loaders above write them;
- ``sources``: the downloaded source files, named by the last path component of the URL; the
  segment times come from ``public_url_segment`` (units as above; ``--offset_units`` overrides),
  and ``segments`` is written.

Rows are kept, dropped with a count, or rejected:

- dropped and counted (logged, and in the returned counts): undecided labels (``Cannot say``, empty
  ``contains_toxicity``), empty transcripts, rows without audio (also listed, one per line, in
  ``--missing_list``, default ``<out_dir>/missing_audio.txt``: ``id lang partition expected-path
  tsv-line``), with ``--partition`` the rows without one, with ``--unknown_language drop`` (or
  ``keep`` and a code that is not 2-8 letters) the rows of an unknown language;
- skipped without a count: rows of another partition (``--partition``) or language (``--languages``);
- rejected with the TSV's path and line (nothing is written): a missing column, an unknown
  ``contains_toxicity``/``label`` value, an unknown partition, an unknown language code (unless
  ``--unknown_language keep|drop``), a malformed ``public_url_segment`` in the ``sources`` layout, a
  duplicate id.

Output: ``wav.scp`` (absolute paths; ``segments`` in the sources layout), ``utt2spk``/``spk2utt``
(one speaker per utterance: MuTox has no speaker ids), ``text``, ``utt2lang`` (ISO 639-1),
``utt2labels`` with ``Toxic`` or ``No_Violation``, ``utt2dur``. A UTF-8 BOM and CRLF line ends are
accepted.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlparse

from voxrecipes.corpora.toxicity_manifest import Record, check_columns, header_columns, iter_rows, write_release_records
from voxrecipes.errors import ConfigError, DataError
from voxrecipes.labels import BINARY_TOXICITY_CLASSES, NO_VIOLATION, TOXIC

logger = logging.getLogger(__name__)

CLASSES = BINARY_TOXICITY_CLASSES
REQUIRED_COLUMNS = ("id", "lang", "partition", "audio_file_transcript")
LABEL_COLUMNS = ("contains_toxicity", "label")
PARTITIONS = ("train", "dev", "devtest")
YES = frozenset({"yes"})
NO = frozenset({"no"})
#: Annotations that give no label (dropped with a count).
UNDECIDED = frozenset({"cannot say", "no consensus", ""})
AUDIO_LAYOUTS = ("segments", "sources")
UNKNOWN_LANGUAGE_ACTIONS = ("error", "keep", "drop")
#: Languages whose ``public_url_segment`` offsets are milliseconds (inspect_evals' measurement);
#: the others count samples at :data:`OFFSET_SAMPLE_RATE`.
MILLISECOND_LANGUAGES = frozenset({"eng", "spa", "en", "es"})
OFFSET_SAMPLE_RATE = 16000
OFFSET_UNITS = ("auto", "ms", "samples")
# The MuTox languages (and the older lists' codes): ISO 639-3 as written in the release -> ISO 639-1.
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
    """``Toxic`` / ``No_Violation`` of a row; None when the annotation is undecided.

    ``contains_toxicity`` decides when the column exists (``label`` is 0 for undecided rows in
    the release); ``label`` (``1``/``0``) only when it does not.
    """
    if "contains_toxicity" in row:
        raw = (row.get("contains_toxicity") or "").strip()
        value = " ".join(raw.lower().split())
        if value in YES:
            return TOXIC
        if value in NO:
            return NO_VIOLATION
        if value in UNDECIDED:
            return None
        raise DataError(path, line, f"unknown contains_toxicity value '{raw}'; expected Yes, No or Cannot say")
    raw = (row.get("label") or "").strip()
    if raw == "":
        return None
    try:
        number = float(raw)
    except ValueError:
        raise DataError(path, line, f"unknown label value '{raw}'; expected 1 or 0") from None
    if number not in (0.0, 1.0):
        raise DataError(path, line, f"unknown label value '{raw}'; expected 1 or 0")
    return TOXIC if number == 1.0 else NO_VIOLATION


def parse_url_segment(value: str, lang: str, path: Path, line: int, units: str = "auto") -> tuple[str, float, float]:
    """``(source file name, start s, end s)`` of a ``public_url_segment`` value ``<url> <start> <end>``."""
    parts = (value or "").split()
    if len(parts) != 3:
        raise DataError(path, line, f"public_url_segment '{value}' is not '<url> <start> <end>'")
    url, raw_start, raw_end = parts
    try:
        start, end = float(raw_start), float(raw_end)
    except ValueError:
        raise DataError(path, line, f"public_url_segment '{value}': start and end must be numbers") from None
    if start < 0 or end <= start:
        raise DataError(path, line, f"public_url_segment '{value}': need 0 <= start < end")
    if units == "auto":
        units = "ms" if lang.strip().lower() in MILLISECOND_LANGUAGES else "samples"
    divisor = 1000.0 if units == "ms" else float(OFFSET_SAMPLE_RATE)
    name = PurePosixPath(unquote(urlparse(url).path)).name
    if not name:
        raise DataError(path, line, f"public_url_segment '{value}': the URL names no file")
    return name, start / divisor, end / divisor


@dataclass
class MutoxRows:
    """The kept records of a MuTox TSV and what was left out (counts, missing-audio rows)."""

    records: list[Record]
    dropped: Counter = field(default_factory=Counter)
    missing: list[str] = field(default_factory=list)


def read_mutox(tsv: str | Path, audio_dir: str | Path, *, audio_pattern: str = "{id}.wav",
               audio_layout: str = "segments", offset_units: str = "auto", partition: str | None = None,
               languages: Sequence[str] | None = None, unknown_language: str = "error") -> MutoxRows:
    """Read and check the rows of ``tsv`` (optionally one partition and some languages)."""
    tsv = Path(tsv).resolve()
    audio_dir = Path(audio_dir).resolve()
    if partition is not None and partition not in PARTITIONS:
        raise ConfigError(f"--partition {partition}: expected one of {' '.join(PARTITIONS)}")
    if audio_layout not in AUDIO_LAYOUTS:
        raise ConfigError(f"--audio_layout {audio_layout}: expected one of {' '.join(AUDIO_LAYOUTS)}")
    if offset_units not in OFFSET_UNITS:
        raise ConfigError(f"--offset_units {offset_units}: expected one of {' '.join(OFFSET_UNITS)}")
    if unknown_language not in UNKNOWN_LANGUAGE_ACTIONS:
        raise ConfigError(f"--unknown_language {unknown_language}: expected one of "
                          f"{' '.join(UNKNOWN_LANGUAGE_ACTIONS)}")
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
    check_columns(tsv, columns, REQUIRED_COLUMNS + (("public_url_segment",) if audio_layout == "sources" else ()))
    if not any(c in columns for c in LABEL_COLUMNS):
        raise DataError(tsv, 1, f"missing column: need one of {' or '.join(LABEL_COLUMNS)}")
    out = MutoxRows(records=[])
    seen: dict[str, int] = {}
    for line, row in iter_rows(tsv):
        row_partition = (row.get("partition") or "").strip()
        if row_partition and row_partition not in PARTITIONS:
            raise DataError(tsv, line, f"unknown partition '{row_partition}'; expected one of {' '.join(PARTITIONS)}")
        if partition is not None and row_partition != partition:
            if not row_partition:
                out.dropped["no partition"] += 1
            continue
        seg_id = (row.get("id") or "").strip()
        if not seg_id or re.search(r"\s", seg_id):
            raise DataError(tsv, line, f"id '{seg_id}' is empty or contains whitespace")
        raw_lang = (row.get("lang") or "").strip()
        lang = language_code(raw_lang)
        if lang is None:
            if unknown_language == "error":
                raise DataError(tsv, line, f"unknown language code '{raw_lang}'; known: "
                                           f"{' '.join(sorted(ISO3_TO_ISO1))} (or pass --unknown_language keep|drop)")
            if unknown_language == "drop" or not re.fullmatch(r"[A-Za-z]{2,8}", raw_lang):
                out.dropped["unknown language"] += 1
                continue
            lang = raw_lang.lower()
        if wanted is not None and lang not in wanted:
            continue
        utt_id = f"{lang}-{seg_id}"
        if utt_id in seen:
            raise DataError(tsv, line, f"duplicate id {seg_id} of language {raw_lang} (first on line {seen[utt_id]})")
        seen[utt_id] = line
        label = toxicity_label(row, tsv, line)
        if label is None:
            out.dropped["undecided label"] += 1
            continue
        transcript = " ".join((row.get("audio_file_transcript") or "").split())
        if not transcript:
            out.dropped["empty transcript"] += 1
            continue
        start = end = None
        if audio_layout == "sources":
            name, start, end = parse_url_segment(row.get("public_url_segment") or "", raw_lang, tsv, line,
                                                 offset_units)
        else:
            try:
                name = audio_pattern.format(id=seg_id, lang=raw_lang, partition=row_partition)
            except (KeyError, IndexError) as err:
                raise ConfigError(f"--audio_pattern {audio_pattern}: unknown placeholder {err}") from None
        audio = audio_dir / name
        if not audio.is_file():
            out.dropped["missing audio"] += 1
            out.missing.append(f"{seg_id}\t{raw_lang}\t{row_partition}\t{audio}\t{tsv}:{line}")
            continue
        out.records.append(Record(line=line, utt_id=utt_id, audio=audio, start=start, end=end, language=lang,
                                  transcript=transcript, labels=[label]))
    if out.dropped:
        logger.warning("%s: left out %s", tsv, ", ".join(f"{n} rows ({why})" for why, n in sorted(out.dropped.items())))
    if not out.records:
        raise DataError(tsv, None, "no usable rows" + (f" in partition {partition}" if partition else "")
                        + (f" (left out: {dict(out.dropped)})" if out.dropped else ""))
    return out


def prepare(tsv: str | Path, audio_dir: str | Path, out_dir: str | Path, *, audio_pattern: str = "{id}.wav",
            audio_layout: str = "segments", offset_units: str = "auto", partition: str | None = None,
            languages: Sequence[str] | None = None, unknown_language: str = "error",
            missing_list: str | Path | None = None) -> dict[str, int]:
    """Read the MuTox TSV and write the data dir ``out_dir`` and the list of rows without audio.

    Returns the counts of the data dir (``utterances`` ...), ``toxic``, and one ``dropped_<reason>``
    per reason rows were left out.
    """
    rows = read_mutox(tsv, audio_dir, audio_pattern=audio_pattern, audio_layout=audio_layout,
                      offset_units=offset_units, partition=partition, languages=languages,
                      unknown_language=unknown_language)
    return write_release_records(rows.records, out_dir, Path(tsv).resolve(), dropped=rows.dropped,
                                 missing=rows.missing, missing_list=missing_list)
