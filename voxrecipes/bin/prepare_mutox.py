"""Prepare a data dir from the MuTox TSV and its downloaded audio (labels Toxic / No_Violation).

Usage: python -m voxrecipes.bin.prepare_mutox --tsv mutox.tsv --audio_dir D --out_dir data/x
       [--audio_pattern '{id}.wav'] [--partition train|dev|devtest] [--languages eng spa ...] [--skip_incomplete]
"""

from __future__ import annotations

import argparse

from voxrecipes.cli import run
from voxrecipes.corpora import mutox


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--tsv", required=True, help="MuTox TSV (columns id, lang, partition, "
                                                     "audio_file_transcript, label or contains_toxicity)")
    parser.add_argument("--audio_dir", required=True, help="folder of the downloaded segments")
    parser.add_argument("--out_dir", required=True, help="data dir to write (replaced as a whole)")
    parser.add_argument("--audio_pattern", default="{id}.wav",
                        help="file name of a segment under --audio_dir; placeholders {id} {lang} {partition}")
    parser.add_argument("--partition", default=None, choices=list(mutox.PARTITIONS),
                        help="keep only this partition (default: all rows)")
    parser.add_argument("--languages", nargs="+", default=None,
                        help="keep only these languages (ISO 639-3 or 639-1; default: all)")
    parser.add_argument("--skip_incomplete", action="store_true",
                        help="leave out rows with an empty transcript or an undefined label instead of failing")
    return parser


def main(args: argparse.Namespace) -> None:
    mutox.prepare(args.tsv, args.audio_dir, args.out_dir, audio_pattern=args.audio_pattern,
                  partition=args.partition, languages=args.languages, skip_incomplete=args.skip_incomplete)


if __name__ == "__main__":
    run(main, get_parser())
