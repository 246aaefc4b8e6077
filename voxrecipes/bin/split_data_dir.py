"""Split a data directory for N parallel jobs: ``split_data_dir.py [--per_speaker] DIR N`` -> DIR/splitN/{1..N}."""

from __future__ import annotations

import argparse

from voxrecipes.cli import run
from voxrecipes.data.manipulate import split_data_dir


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Write DIR/splitN/1 .. DIR/splitN/N, balanced by utterance count; "
                                                 "an up-to-date split is reused.")
    parser.add_argument("--per_speaker", action="store_true", help="keep all utterances of a speaker in one part")
    parser.add_argument("data_dir", help="the data directory")
    parser.add_argument("num_splits", type=int, help="number of parts")
    return parser


def main(args: argparse.Namespace) -> None:
    parts = split_data_dir(args.data_dir, args.num_splits, per_speaker=args.per_speaker)
    print(f"{parts[0].parent}: {len(parts)} parts")


if __name__ == "__main__":
    run(main, get_parser())
