"""Sort a data directory and keep only the utterances every file has: ``fix_data_dir.py DIR``."""

from __future__ import annotations

import argparse

from voxrecipes.cli import run
from voxrecipes.data.manipulate import fix_data_dir


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Sort every file of a data directory, regenerate spk2utt and "
                                                 "drop the utterances some file lacks (in place, like Kaldi's).")
    parser.add_argument("data_dir", help="the data directory (rewritten in place)")
    return parser


def main(args: argparse.Namespace) -> None:
    result = fix_data_dir(args.data_dir)
    print(f"{args.data_dir}: kept {result.kept} utterances, dropped {result.dropped}")


if __name__ == "__main__":
    run(main, get_parser())
