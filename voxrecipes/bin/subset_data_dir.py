"""Copy part of a data directory.

``subset_data_dir.py --utt_list F | --spk_list F | --first N | --random N SRC DST``
"""

from __future__ import annotations

import argparse

from voxrecipes.cli import run
from voxrecipes.data.manipulate import read_id_list, subset_data_dir


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Write the chosen utterances of SRC into DST.")
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--utt_list", help="file whose first column lists the utterances to keep")
    group.add_argument("--spk_list", help="file whose first column lists the speakers to keep")
    group.add_argument("--first", type=int, help="keep the first N utterances (sorted order)")
    group.add_argument("--random", type=int, help="keep N utterances drawn at random (see --seed)")
    parser.add_argument("--seed", type=int, default=0, help="random seed for --random")
    parser.add_argument("src", help="source data directory")
    parser.add_argument("dst", help="destination data directory (replaced)")
    return parser


def main(args: argparse.Namespace) -> None:
    subset = subset_data_dir(args.src, args.dst,
                             utts=read_id_list(args.utt_list) if args.utt_list else None,
                             speakers=read_id_list(args.spk_list) if args.spk_list else None,
                             first=args.first, random=args.random, seed=args.seed)
    print(f"{args.dst}: {len(subset.utt2spk)} utterances, {len(subset.spk2utt)} speakers from {args.src}")


if __name__ == "__main__":
    run(main, get_parser())
