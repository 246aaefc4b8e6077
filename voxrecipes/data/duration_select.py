"""Keep the utterances of a data directory whose duration lies in ``[min_seconds, max_seconds]``.

The voice-toxicity paper (Section 4.2) selects training clips of 1 to 15 s (shorter
ones lack the context to judge toxicity; longer ones are not used, so a crop can never
cut the toxic sentence out and leave a wrong label) and evaluation clips of 1 to 60 s.
This is that selection for any Kaldi data directory: durations come from ``utt2dur``
(computed from segments or audio headers when the directory has none), the kept
utterances are written to a new directory together with ``duration_selection.json``
(the bounds, the counts and the ids of the excluded utterances; the kept ones are the
directory's), and the counts are
logged. Both bounds are inclusive; ``max_seconds=None`` keeps every long utterance.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from voxrecipes.data.datadir import DataDir
from voxrecipes.data.utt2dur import compute_utt2dur
from voxrecipes.errors import ConfigError, DataError
from voxrecipes.fileio import atomic_dir

logger = logging.getLogger(__name__)

#: The record written next to the selected data files.
RECORD_FILE = "duration_selection.json"


@dataclass
class DurationSelection:
    """What :func:`select_by_duration` kept and excluded (ids in sorted order)."""

    source: str
    min_seconds: float
    max_seconds: float | None
    kept: list[str] = field(default_factory=list)
    too_short: list[str] = field(default_factory=list)
    too_long: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One log line with the counts."""
        bounds = f"{self.min_seconds:g}-{self.max_seconds:g} s" if self.max_seconds is not None \
            else f">= {self.min_seconds:g} s"
        total = len(self.kept) + len(self.too_short) + len(self.too_long)
        return (f"{self.source}: kept {len(self.kept)} of {total} utterances of {bounds}; excluded "
                f"{len(self.too_short)} shorter than {self.min_seconds:g} s and {len(self.too_long)} longer than "
                f"{'any limit' if self.max_seconds is None else f'{self.max_seconds:g} s'}")


def partition_by_duration(durations: dict[str, float], min_seconds: float,
                          max_seconds: float | None) -> tuple[list[str], list[str], list[str]]:
    """Split utterance ids into (kept, too short, too long), each sorted; both bounds inclusive."""
    if min_seconds < 0:
        raise ConfigError(f"min_seconds must not be negative, got {min_seconds}")
    if max_seconds is not None and max_seconds < min_seconds:
        raise ConfigError(f"max_seconds ({max_seconds}) is below min_seconds ({min_seconds})")
    kept, short, long = [], [], []
    for utt in sorted(durations):
        dur = durations[utt]
        if dur < min_seconds:
            short.append(utt)
        elif max_seconds is not None and dur > max_seconds:
            long.append(utt)
        else:
            kept.append(utt)
    return kept, short, long


def select_by_duration(src: str | os.PathLike, dst: str | os.PathLike, *, min_seconds: float,
                       max_seconds: float | None) -> DurationSelection:
    """Write to ``dst`` (replaced as a whole) the utterances of ``src`` lasting ``min_seconds``..``max_seconds``.

    ``src`` is not changed, except that a missing ``utt2dur`` is computed and written
    there (as ``compute_utt2dur`` does). An empty selection is a :class:`DataError`
    naming ``src/utt2dur``, and nothing is written.
    """
    src, dst = Path(src), Path(dst)
    if src.resolve() == dst.resolve():
        raise ConfigError(f"select_by_duration: destination {dst} is the source directory")
    dd = DataDir.load(src)
    durations = dd.utt2dur
    if durations is None:
        durations = compute_utt2dur(dd)
    kept, short, long = partition_by_duration(durations, min_seconds, max_seconds)
    record = DurationSelection(str(src), min_seconds, max_seconds, kept, short, long)
    if not kept:
        raise DataError(src / "utt2dur", None, f"no utterance lasts between {min_seconds:g} and "
                        f"{max_seconds if max_seconds is not None else 'any'} s")
    with atomic_dir(dst) as tmp:
        dd.select(kept).write(tmp)
        summary = {k: v for k, v in asdict(record).items() if k != "kept"}  # the kept ids are the data dir's
        summary.update(num_kept=len(kept), num_too_short=len(short), num_too_long=len(long))
        (tmp / RECORD_FILE).write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
    logger.info("%s -> %s", record.summary(), dst)
    return record
