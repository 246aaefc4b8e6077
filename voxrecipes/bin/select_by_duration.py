"""Keep the utterances of a data directory that last between --min_seconds and --max_seconds (both inclusive).

Writes DST (replaced as a whole) with the kept utterances and ``duration_selection.json``
(bounds, counts, the ids excluded as too short or too long), and logs the counts.
Durations come from SRC/utt2dur (computed and written there when missing). The
toxicity paper's selection: training 1-15 s, evaluation 1-60 s.

Example::

    python -m voxrecipes.bin.select_by_duration --min_seconds 1 --max_seconds 15 data/train_all data/train
"""

from __future__ import annotations

import argparse

from voxrecipes.cli import run


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="select_by_duration", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--min_seconds", type=float, required=True, help="drop utterances shorter than this")
    parser.add_argument("--max_seconds", type=float, default=None,
                        help="drop utterances longer than this (default: no upper limit)")
    parser.add_argument("src", help="source data directory")
    parser.add_argument("dst", help="destination data directory (replaced)")
    return parser


def main(args: argparse.Namespace) -> None:
    from voxrecipes.data.duration_select import select_by_duration

    select_by_duration(args.src, args.dst, min_seconds=args.min_seconds, max_seconds=args.max_seconds)


if __name__ == "__main__":
    run(main, get_parser())
