"""Prepare a data dir from a DeToxy annotation CSV and the rebuilt audio (labels Toxic / No_Violation).

Rows with an empty text or no audio file are left out and counted; the latter are listed in
--missing_list. See voxrecipes.corpora.detoxy for the format and its sources.

Usage: python -m voxrecipes.bin.prepare_detoxy --csv data/train.csv --audio_dir D --out_dir data/train
       [--audio_pattern '{FileName}.wav'] [--missing_list FILE]
"""

from __future__ import annotations

import argparse
import json
import logging

from voxrecipes.cli import run
from voxrecipes.corpora import detoxy


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--csv", required=True, help="a DeToxy CSV (train.csv, valid.csv, test.csv, trigger_test.csv)")
    parser.add_argument("--audio_dir", required=True, help="folder of the rebuilt clips")
    parser.add_argument("--out_dir", required=True, help="data dir to write (replaced as a whole)")
    parser.add_argument("--audio_pattern", default="{FileName}.wav",
                        help="file name of a row under --audio_dir; placeholders {FileName} {Dataset}")
    parser.add_argument("--missing_list", default=None,
                        help="where the rows without audio are listed (default: <out_dir>/missing_audio.txt)")
    return parser


def main(args: argparse.Namespace) -> None:
    counts = detoxy.prepare(args.csv, args.audio_dir, args.out_dir, audio_pattern=args.audio_pattern,
                            missing_list=args.missing_list)
    logging.getLogger(__name__).info("%s: %s", args.out_dir, json.dumps(counts, sort_keys=True))


if __name__ == "__main__":
    run(main, get_parser())
