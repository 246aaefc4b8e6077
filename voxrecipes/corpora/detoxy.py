"""Prepare a Kaldi data dir from a DeToxy annotation CSV (Ghosh et al., 2022) and the rebuilt audio.

The release format, from its repository (github.com/Sreyan88/Toxicity-Detection-in-Spoken-Utterances):

- ``README.md`` ("Description of the .csv files"): ``data/train.csv``, ``valid.csv``, ``test.csv``
  and ``trigger_test.csv``, with the columns ``Dataset`` (source corpus: CMU-MOSEI, CMU-MOSI, Common
  Voice, IEMOCAP, LJ Speech, MELD, MSP-Improv, MSP-Podcast, Social-IQ, SwitchBoard, VCTK),
  ``FileName`` (the audio file's name, without extension), ``text`` (the utterance), ``label2a``
  (toxic 1, non-toxic 0), ``Starting``/``Ending`` (seconds in the source file, "only used to segment
  data"; empty for the corpora that need no segmentation).
- The files themselves: comma-separated, one header line ``Dataset,FileName,text,label2a,Starting,Ending``,
  standard CSV quoting (``""`` inside quoted text).
- ``data/metadata.csv`` and ``data prep/Final DeToxy-B Audio Prep.ipynb``: the audio is not
  distributed (the README's link is the placeholder "some zenodo link"); users rebuild it from the
  source corpora with the notebook, which converts everything to wav, cuts the segmented corpora
  and copies all clips into one flat folder as ``<FileName>.wav``.

Not established: the exact names the notebook gives some corpora's clips (e.g. VCTK's
``_mic1`` suffix); ``--audio_pattern`` (placeholders ``{FileName}`` and ``{Dataset}``) adapts.

Rows with an empty text or without an audio file are left out and counted; the latter are listed
in ``--missing_list`` (default ``<out_dir>/missing_audio.txt``). An unknown label, a missing column
or a duplicate utterance is a :class:`DataError` with the CSV's path and line, and nothing is
written. Output: ``wav.scp``, ``utt2spk``/``spk2utt`` (one speaker per utterance), ``text``,
``utt2lang`` (``en``: DeToxy is English), ``utt2labels`` (``Toxic`` or ``No_Violation``),
``utt2dur``; utterance ids are ``<dataset>-<FileName>`` with characters outside ``[A-Za-z0-9_.-]``
replaced by ``_``.
"""

from __future__ import annotations

import csv
import io
import logging
import re
from collections import Counter
from pathlib import Path

from voxrecipes.corpora.toxicity_manifest import Record, check_columns, write_release_records
from voxrecipes.data.table import read_text
from voxrecipes.errors import ConfigError, DataError
from voxrecipes.labels import NO_VIOLATION, TOXIC

logger = logging.getLogger(__name__)

REQUIRED_COLUMNS = ("Dataset", "FileName", "text", "label2a")
LANGUAGE = "en"
SPLITS = ("train", "valid", "test", "trigger_test")


def _slug(value: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", value.strip())


def prepare(csv_path: str | Path, audio_dir: str | Path, out_dir: str | Path, *,
            audio_pattern: str = "{FileName}.wav", missing_list: str | Path | None = None) -> dict[str, int]:
    """Read one DeToxy CSV and write the data dir ``out_dir``; return its counts and the dropped rows."""
    csv_path = Path(csv_path).resolve()
    audio_dir = Path(audio_dir).resolve()
    if not audio_dir.is_dir():
        raise DataError(audio_dir, None, "audio directory not found")
    with io.StringIO(read_text(csv_path), newline="") as handle:
        reader = csv.reader(handle)
        header = [h.strip() for h in next(reader, [])]
        if not header:
            raise DataError(csv_path, 1, "empty file, expected a header line")
        check_columns(csv_path, header, REQUIRED_COLUMNS)
        records: list[Record] = []
        seen: dict[str, int] = {}
        dropped: Counter = Counter()
        missing: list[str] = []
        for fields in reader:
            line = reader.line_num
            if not fields or all(not f.strip() for f in fields):
                continue
            if len(fields) != len(header):
                raise DataError(csv_path, line, f"{len(fields)} comma-separated fields, header has {len(header)}")
            row = dict(zip(header, fields, strict=True))
            dataset, name = row["Dataset"].strip(), row["FileName"].strip()
            if not dataset or not name:
                raise DataError(csv_path, line, "empty Dataset or FileName")
            utt = f"{_slug(dataset)}-{_slug(name)}"
            if utt in seen:
                raise DataError(csv_path, line, f"duplicate utterance {dataset}/{name} (first on line {seen[utt]})")
            seen[utt] = line
            raw = row["label2a"].strip()
            if raw not in ("0", "1", "0.0", "1.0"):
                raise DataError(csv_path, line, f"unknown label2a value '{raw}'; expected 1 (toxic) or 0")
            text = " ".join(row["text"].split())
            if not text:
                dropped["empty text"] += 1
                continue
            try:
                audio = audio_dir / audio_pattern.format(FileName=name, Dataset=dataset)
            except (KeyError, IndexError) as err:
                raise ConfigError(f"--audio_pattern {audio_pattern}: unknown placeholder {err}") from None
            if not audio.is_file():
                dropped["missing audio"] += 1
                missing.append(f"{dataset}\t{name}\t{audio}\t{csv_path}:{line}")
                continue
            records.append(Record(line=line, utt_id=utt, audio=audio, start=None, end=None, language=LANGUAGE,
                                  transcript=text, labels=[TOXIC if float(raw) == 1.0 else NO_VIOLATION]))
    if dropped:
        logger.warning("%s: left out %s", csv_path,
                       ", ".join(f"{n} rows ({why})" for why, n in sorted(dropped.items())))
    if not records:
        raise DataError(csv_path, None, f"no usable rows (left out: {dict(dropped)})")
    return write_release_records(records, out_dir, csv_path, dropped=dropped, missing=missing,
                                 missing_list=missing_list)
