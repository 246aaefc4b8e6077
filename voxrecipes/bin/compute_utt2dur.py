"""Write DIR/utt2dur (seconds per utterance): ``compute_utt2dur.py DIR``."""

from __future__ import annotations

import argparse

from voxrecipes.cli import run
from voxrecipes.data.utt2dur import compute_utt2dur


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Compute utterance durations from segments, audio headers, "
                                                 "or by decoding (pipes), and write DIR/utt2dur.")
    parser.add_argument("data_dir", help="the data directory")
    return parser


def main(args: argparse.Namespace) -> None:
    durations = compute_utt2dur(args.data_dir)
    print(f"{args.data_dir}/utt2dur: {len(durations)} utterances, {sum(durations.values()):.1f} s in total")


if __name__ == "__main__":
    run(main, get_parser())
