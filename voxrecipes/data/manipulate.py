"""Kaldi's data-directory tools: fix, subset, split and combine.

* :func:`fix_data_dir` sorts every file and keeps only the utterances every file has
  (in place by default, like ``utils/fix_data_dir.sh``);
* :func:`subset_data_dir` keeps a list of utterances or speakers, the first N or a
  seeded random N;
* :func:`split_data_dir` writes ``<dir>/split<N>/<1..N>`` for parallel jobs
  (``JOB=1:N``), balanced, optionally keeping each speaker in one part;
* :func:`combine_data_dirs` concatenates directories with disjoint utterance ids.

Outputs are validated before they are written, and written atomically.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random as random_module
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import NamedTuple

from voxrecipes.data.datadir import DATA_FILES, OPTIONAL_PER_UTT_FILES, DataDir
from voxrecipes.data.table import iter_lines, sort_keys
from voxrecipes.errors import ConfigError, DataError
from voxrecipes.fileio import atomic_dir, atomic_write

logger = logging.getLogger(__name__)

#: File inside ``split<N>/`` recording how it was split ("utt" or "spk") and the sha256 of every data file
#: of the source and of the parts, from which a later call decides whether the split is still valid.
SPLIT_RECORD_FILE = ".split_source.json"


class FixResult(NamedTuple):
    """Utterances kept and dropped by :func:`fix_data_dir`."""

    kept: int
    dropped: int


def fix_data_dir(src: str | os.PathLike, dst: str | os.PathLike | None = None) -> FixResult:
    """Sort every file and keep only utterances present in all of them (and with audio).

    Writes into ``src`` itself unless ``dst`` is given; spk2utt is regenerated from
    utt2spk and wav.scp keeps only the recordings still used. Lines that cannot be
    parsed (duplicate keys, bad numbers) are still errors: they need a human.
    """
    src = Path(src)
    dd = DataDir.load(src, validate=False, check_sorted=False)
    keep = set(dd.utt2spk)
    reasons: list[str] = []
    for name in OPTIONAL_PER_UTT_FILES:
        table = dd.table(name)
        if table is None:
            continue
        missing = keep - set(table)
        if missing:
            reasons.append(f"{len(missing)} not in {name} (e.g. '{sort_keys(missing)[0]}')")
            keep -= missing
    if dd.segments is not None:
        no_audio = {u for u in keep if dd.segments[u][0] not in dd.wav_scp}
    else:
        no_audio = keep - set(dd.wav_scp)
    if no_audio:
        reasons.append(f"{len(no_audio)} without a wav.scp entry (e.g. '{sort_keys(no_audio)[0]}')")
        keep -= no_audio
    dropped = len(dd.utt2spk) - len(keep)
    if not keep:
        raise DataError(src, None, "no utterance is in every file: " + "; ".join(reasons))
    fixed = dd.select(keep)
    if dst is None:
        fixed.write(src)
    else:
        fixed.write(dst, replace=True)
    if dropped:
        logger.warning("%s: dropped %d of %d utterances: %s", src, dropped, len(dd.utt2spk), "; ".join(reasons))
    return FixResult(kept=len(keep), dropped=dropped)


def read_id_list(path: str | os.PathLike) -> list[str]:
    """First field of every non-empty line of ``path`` (an utterance or speaker list).

    A leading UTF-8 BOM is skipped; bytes that are not UTF-8 are a :class:`DataError` at their line.
    """
    return [line.split()[0] for _, line in iter_lines(path) if line.strip()]


def subset_data_dir(src: str | os.PathLike, dst: str | os.PathLike, *, utts: Iterable[str] | None = None,
                    speakers: Iterable[str] | None = None, first: int | None = None, random: int | None = None,
                    seed: int = 0) -> DataDir:
    """Write to ``dst`` the part of ``src`` chosen by exactly one of the selectors.

    ``utts``/``speakers``: ids to keep (ids not in ``src`` are skipped with a warning);
    ``first``: the first N utterances in sorted order; ``random``: N utterances drawn
    with ``random.Random(seed)``. Returns the written directory.
    """
    src, dst = Path(src), Path(dst)
    chosen = [name for name, value in (("utts", utts), ("speakers", speakers), ("first", first),
                                       ("random", random)) if value is not None]
    if len(chosen) != 1:
        raise ConfigError("subset_data_dir: give exactly one of utts, speakers, first, random "
                          f"(got {chosen or 'none'})")
    if src.resolve() == dst.resolve():
        raise ConfigError(f"subset_data_dir: destination {dst} is the source directory")
    dd = DataDir.load(src)
    all_utts = dd.utts
    if utts is not None or speakers is not None:
        wanted = list(utts if utts is not None else speakers)
        known = dd.utt2spk if utts is not None else dd.spk2utt
        unknown = [x for x in wanted if x not in known]
        if unknown:
            logger.warning("%s: %d of %d requested ids are not in %s (e.g. '%s')", src, len(unknown), len(wanted),
                           src, unknown[0])
        if utts is not None:
            keep = [u for u in wanted if u in known]
        else:
            keep = [u for spk in wanted if spk in known for u in dd.spk2utt[spk]]
    else:
        count = first if first is not None else random
        if count is None or count < 1:
            raise ConfigError(f"subset_data_dir: the number of utterances must be positive, got {count}")
        if count > len(all_utts):
            raise ConfigError(f"subset_data_dir: asked for {count} utterances but {src} has only {len(all_utts)}")
        keep = all_utts[:count] if first is not None else random_module.Random(seed).sample(all_utts, count)
    if not keep:
        raise DataError(src, None, "the selection is empty: none of the requested ids is in this directory")
    subset = dd.select(keep)
    subset.write(dst, replace=True)
    subset.path = dst
    logger.info("%s: %d of %d utterances from %s", dst, len(subset.utt2spk), len(all_utts), src)
    return subset


def _balanced_groups(dd: DataDir, num_splits: int, per_speaker: bool) -> list[list[str]]:
    if per_speaker:
        speakers = sort_keys(dd.spk2utt)
        if num_splits > len(speakers):
            raise DataError(dd.file_path("spk2utt"), None,
                            f"cannot split {len(speakers)} speakers into {num_splits} parts with --per_speaker")
        # Largest speakers first, each to the part with the fewest utterances so far.
        order = sorted(speakers, key=lambda s: -len(dd.spk2utt[s]))
        groups: list[list[str]] = [[] for _ in range(num_splits)]
        for spk in order:
            target = min(range(num_splits), key=lambda i: (len(groups[i]), i))
            groups[target].extend(dd.spk2utt[spk])
        return groups
    utts = dd.utts
    if num_splits > len(utts):
        raise DataError(dd.file_path("utt2spk"), None, f"cannot split {len(utts)} utterances into {num_splits} parts")
    base, extra = divmod(len(utts), num_splits)
    groups, begin = [], 0
    for i in range(num_splits):
        size = base + (1 if i < extra else 0)
        groups.append(utts[begin:begin + size])
        begin += size
    return groups


def _file_digests(directory: Path, prefix: str = "") -> dict[str, str]:
    """``prefix + name -> sha256`` of every data file present in ``directory``."""
    digests = {}
    for name in DATA_FILES:
        file = directory / name
        if file.is_file():
            with open(file, "rb") as handle:
                digests[prefix + name] = hashlib.file_digest(handle, "sha256").hexdigest()
    return digests


def _parts_digests(out: Path, num_splits: int) -> dict[str, str]:
    digests: dict[str, str] = {}
    for i in range(1, num_splits + 1):
        digests.update(_file_digests(out / str(i), prefix=f"{i}/"))
    return digests


def _split_record(mode: str, source: dict[str, str], parts: dict[str, str]) -> str:
    return json.dumps({"mode": mode, "source": source, "parts": parts}, indent=1, sort_keys=True) + "\n"


def _split_up_to_date(out: Path, num_splits: int, mode: str, source: dict[str, str]) -> bool:
    """Whether ``out`` was split the same way from data files with these contents, and is intact.

    Freshness is decided from content (sha256 of every data file of the source and of
    the parts), not from mtimes: ``rsync -a`` or ``cp -p`` bring changed files with old
    mtimes, and a removed source file leaves nothing newer behind.
    """
    record = out / SPLIT_RECORD_FILE
    if not record.is_file():
        return False
    try:
        want = json.loads(record.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return False
    return want == json.loads(_split_record(mode, source, _parts_digests(out, num_splits)))


def split_data_dir(src: str | os.PathLike, num_splits: int, *, per_speaker: bool = False) -> list[Path]:
    """Write ``src/split<N>/<1..N>`` and return those paths (Kaldi's ``splitN/JOB`` layout).

    Parts differ in size by at most one utterance (``per_speaker``: speakers are
    distributed largest first onto the smallest part). A split made the same way from
    data files with the same content (checksums in ``splitN/.split_source.json``), whose
    parts are unchanged, is reused as it is; anything else is split again.
    """
    src = Path(src)
    if num_splits < 1:
        raise ConfigError(f"split_data_dir: the number of parts must be positive, got {num_splits}")
    out = src / f"split{num_splits}"
    parts = [out / str(i) for i in range(1, num_splits + 1)]
    mode = "spk" if per_speaker else "utt"
    source = _file_digests(src)  # before reading: a change made meanwhile makes the next run split again
    if _split_up_to_date(out, num_splits, mode, source):
        logger.info("%s is up to date (same source content); reusing it", out)
        return parts
    dd = DataDir.load(src)
    groups = _balanced_groups(dd, num_splits, per_speaker)
    with atomic_dir(out) as tmp:
        for i, group in enumerate(groups, start=1):
            dd.select(group).write(tmp / str(i), replace=True)
        with atomic_write(tmp / SPLIT_RECORD_FILE) as handle:
            handle.write(_split_record(mode, source, _parts_digests(tmp, num_splits)))
    logger.info("%s: %d parts of %d-%d utterances", out, num_splits, min(map(len, groups)), max(map(len, groups)))
    return parts


def combine_data_dirs(dst: str | os.PathLike, srcs: Sequence[str | os.PathLike]) -> DataDir:
    """Concatenate the data directories ``srcs`` into ``dst``.

    Utterance ids must be unique across sources (an error names both directories);
    a recording may appear in several sources only with the same wav.scp value.
    Optional files are kept only when every source has them, except ``segments``:
    sources without segments get whole-recording segments from their ``utt2dur``.
    """
    dst = Path(dst)
    srcs = [Path(s) for s in srcs]
    if not srcs:
        raise ConfigError("combine_data_dirs: no source directories")
    if any(s.resolve() == dst.resolve() for s in srcs):
        raise ConfigError(f"combine_data_dirs: destination {dst} is also a source")
    dds = [DataDir.load(s) for s in srcs]
    owner: dict[str, Path] = {}
    rec_owner: dict[str, tuple[Path, str]] = {}
    for src, dd in zip(srcs, dds):
        for utt in dd.utts:
            if utt in owner:
                raise DataError(src / "utt2spk", dd.line_of("utt2spk", utt),
                                f"utterance '{utt}' is in both {owner[utt]} and {src}; utterance ids must be unique "
                                "across the combined directories (prefix them with a corpus or speaker name)")
            owner[utt] = src
        for rec, value in dd.wav_scp.items():
            if rec in rec_owner and rec_owner[rec][1] != value:
                raise DataError(src / "wav.scp", dd.line_of("wav.scp", rec),
                                f"recording '{rec}' is also in {rec_owner[rec][0]} with a different value")
            rec_owner.setdefault(rec, (src, value))
    merged: dict[str, dict | None] = {"wav.scp": {}, "utt2spk": {}}
    for name in OPTIONAL_PER_UTT_FILES:
        have = [dd.table(name) is not None for dd in dds]
        if all(have):
            merged[name] = {}
        elif any(have) and name != "segments":
            logger.warning("combine_data_dirs: dropping %s: only %d of %d sources have it", name, sum(have), len(dds))
    if any(dd.segments is not None for dd in dds):
        merged["segments"] = {}
    for src, dd in zip(srcs, dds):
        merged["wav.scp"].update(dd.wav_scp)
        merged["utt2spk"].update(dd.utt2spk)
        for name in OPTIONAL_PER_UTT_FILES:
            if merged.get(name) is None:
                continue
            table = dd.table(name)
            if name == "segments" and table is None:
                if dd.utt2dur is None:
                    raise DataError(src / "segments", None,
                                    "other sources have segments; this one needs segments or utt2dur "
                                    "(utils/compute_utt2dur.sh) to be combined with them")
                table = {utt: (utt, 0.0, dd.utt2dur[utt]) for utt in dd.utt2spk}
            merged[name].update(table)
    combined = DataDir(path=dst, wav_scp=merged["wav.scp"], utt2spk=merged["utt2spk"],
                       **{name: merged.get(name) for name in OPTIONAL_PER_UTT_FILES})
    combined.write(dst, replace=True)
    logger.info("%s: %d utterances from %d directories", dst, len(combined.utt2spk), len(srcs))
    return combined
