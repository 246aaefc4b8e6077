"""Concatenate data directories: ``combine_data_dirs.py DST SRC1 SRC2 ...``."""

from __future__ import annotations

import argparse

from voxrecipes.cli import run
from voxrecipes.data.manipulate import combine_data_dirs


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Combine data directories with disjoint utterance ids into DST; "
                                                 "optional files are kept when every source has them.")
    parser.add_argument("dst", help="destination data directory (replaced)")
    parser.add_argument("srcs", nargs="+", help="source data directories")
    return parser


def main(args: argparse.Namespace) -> None:
    combined = combine_data_dirs(args.dst, args.srcs)
    print(f"{args.dst}: {len(combined.utt2spk)} utterances from {len(args.srcs)} directories "
          f"(files: {' '.join(combined.present_files())})")


if __name__ == "__main__":
    run(main, get_parser())
