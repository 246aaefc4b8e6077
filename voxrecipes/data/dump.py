"""Dump a data directory into what ESPnet's data loader reads: one 16 kHz wav per utterance, shapes, label vectors.

ESPnet's ``sound`` loader opens plain audio files listed in a ``wav.scp``; it knows
neither Kaldi ``segments`` nor ``cmd |`` pipes. As ESPnet's own ``format_wav_scp.sh``
stage does, every utterance is decoded once (segments cut, pipes run, resampled to
16 kHz mono) and written as its own wav file. Next to the new ``wav.scp`` the dump has

- ``speech_shape``: ``utt num_samples``, the shape file ESPnet's length-bucketing
  batch samplers sort by;
- ``labels``: ``utt 0 1 0 0 0 0``, the multi-hot vector of ``utt2labels`` over the
  recipe's class list (ESPnet's ``text_float`` type), written only when a class list
  is given and the data directory has ``utt2labels``;
- ``category``: ``utt 3``, the index of ``utt2category``'s class in the recipe's
  category list (ESPnet's ``text_int`` type), and ``category2utt``, what ESPnet's
  category-balanced batch sampler (``--iterator_type category --batch_type catbel``)
  reads; written only when a category list is given and the directory has ``utt2category``;
- ``attributes``: ``utt valence arousal dominance`` (``text_float``) when the data
  directory has ``utt2attrs``;
- the data directory's own tables (``utt2spk``, ``text``, ``utt2lang``, ``utt2labels``,
  ...), restricted to the dumped utterances, so the dump is a valid data directory.

``min_seconds`` drops short utterances (the toxicity paper discards training audio
under 1 s); the number dropped is logged and written to ``dump_info.json``. The dump
directory appears only when complete.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from voxrecipes.data.audio import SAMPLE_RATE, iter_audio
from voxrecipes.data.datadir import DataDir
from voxrecipes.data.table import write_table
from voxrecipes.errors import DataError
from voxrecipes.fileio import atomic_dir
from voxrecipes.labels import label_indices

logger = logging.getLogger(__name__)

#: Tables copied (restricted to the kept utterances) from the source data directory.
COPIED_TABLES = ("text", "utt2lang", "utt2labels", "utt2category", "utt2attrs")


def _class_indices(dd: DataDir, name: str, classes: Sequence[str], option: str) -> dict[str, list[int]]:
    """``utt -> positions`` in ``classes`` of its ``name`` table's class names.

    Mapped by :func:`voxrecipes.labels.label_indices`: a missing table or utterance, or a
    name outside ``classes`` (given as ``option``), is a DataError at its file and line.
    """
    table = dd.table(name)
    path = dd.file_path(name)
    if table is None:
        raise DataError(path, None, f"file not found (needed for the targets of {option})")
    return label_indices(table, classes, path, utts=dd.utts, classes_from=option,
                         lines={utt: dd.line_of(name, utt) for utt in table})


def label_vectors(dd: DataDir, classes: Sequence[str]) -> dict[str, np.ndarray]:
    """``utt -> multi-hot float vector`` over ``classes``; a label outside ``classes`` is a DataError at its line."""
    out = {}
    for utt, indices in _class_indices(dd, "utt2labels", classes, "--classes").items():
        out[utt] = np.zeros(len(classes), dtype=np.float32)
        out[utt][indices] = 1.0
    return out


def category_indices(dd: DataDir, classes: Sequence[str]) -> dict[str, int]:
    """``utt -> index`` of its ``utt2category`` class in ``classes``; an unknown class is a DataError at its line."""
    return {utt: indices[0]
            for utt, indices in _class_indices(dd, "utt2category", classes, "--category_classes").items()}


def dump_audio(data_dir: str | os.PathLike, out_dir: str | os.PathLike, *, classes: Sequence[str] | None = None,
               category_classes: Sequence[str] | None = None, min_seconds: float = 0.0,
               sample_rate: int = SAMPLE_RATE, progress: bool = True) -> dict:
    """Write the dump of ``data_dir`` to ``out_dir`` (replaced atomically); return the summary written to JSON."""
    import soundfile as sf
    from tqdm import tqdm

    dd = DataDir.load(data_dir)
    vectors = label_vectors(dd, classes) if classes else None
    categories = category_indices(dd, category_classes) if category_classes and dd.utt2category is not None else None
    out_dir = Path(out_dir)
    min_samples = int(round(min_seconds * sample_rate))
    kept: dict[str, int] = {}
    dropped: list[str] = []
    with atomic_dir(out_dir) as tmp:
        audio_dir = tmp / "data"
        audio_dir.mkdir()
        for utt, samples in tqdm(iter_audio(dd, sample_rate), total=len(dd.utts), desc=f"dump {dd.path}",
                                 disable=not progress, mininterval=5):
            if len(samples) < min_samples:
                dropped.append(utt)
                continue
            sf.write(audio_dir / f"{utt}.wav", samples, sample_rate, subtype="PCM_16")
            kept[utt] = len(samples)
        if not kept:
            raise DataError(dd.file_path("wav.scp"), None, f"no utterance is at least {min_seconds} s long")
        final_audio = out_dir.resolve() / "data"
        sub = dd.select(kept)
        dumped = DataDir(path=None, wav_scp={u: str(final_audio / f"{u}.wav") for u in kept}, utt2spk=sub.utt2spk,
                         **{name: sub.table(name) for name in COPIED_TABLES})
        for name, table in dumped.to_tables().items():
            write_table(tmp / name, table)
        write_table(tmp / "speech_shape", {u: str(n) for u, n in kept.items()})
        if vectors is not None:
            write_table(tmp / "labels", {u: " ".join(f"{v:g}" for v in vectors[u]) for u in kept})
            (tmp / "classes.txt").write_text("".join(f"{c}\n" for c in classes), encoding="utf-8")
        if categories is not None:
            write_table(tmp / "category", {u: str(categories[u]) for u in kept})
            by_class: dict[str, list[str]] = {}
            for u in sorted(kept):
                by_class.setdefault(category_classes[categories[u]], []).append(u)
            write_table(tmp / "category2utt", {c: " ".join(us) for c, us in by_class.items()})
            (tmp / "category_classes.txt").write_text("".join(f"{c}\n" for c in category_classes), encoding="utf-8")
        if dd.utt2attrs is not None:
            write_table(tmp / "attributes", {u: " ".join(f"{v:g}" for v in dd.utt2attrs[u]) for u in kept})
        info = {"source": str(dd.path), "sample_rate": sample_rate, "utterances": len(kept),
                "dropped_shorter_than_min_seconds": len(dropped), "min_seconds": min_seconds,
                "seconds": round(sum(kept.values()) / sample_rate, 3), "classes": list(classes or []),
                "category_classes": list(category_classes) if categories is not None else []}
        (tmp / "dump_info.json").write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    if dropped:
        logger.info("%s: dropped %d utterances shorter than %g s (first: %s)", dd.path, len(dropped), min_seconds,
                    dropped[0])
    logger.info("dumped %d utterances (%.1f s) of %s to %s", len(kept), info["seconds"], dd.path, out_dir)
    return info
