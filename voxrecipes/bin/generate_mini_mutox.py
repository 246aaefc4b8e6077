"""Generate a mini MuTox-format corpus (mutox.tsv in the release layout + audio/<id>.wav) with espeak-ng.

Usage: python -m voxrecipes.bin.generate_mini_mutox --out_dir DIR [--seed 0] [--num_utts 600] [--nj 2]
       [--toxic_share 0.35] [--undecided_share 0.03] [--missing_share 0.03] [--no_transcript_share 0.01]
"""

from __future__ import annotations

import argparse
import json
import logging
import time

from voxrecipes.cli import run
from voxrecipes.corpora import mini_mutox


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--out_dir", required=True, help="corpus root to create (replaced as a whole)")
    parser.add_argument("--seed", type=int, default=0, help="random seed; the same seed gives the same corpus")
    parser.add_argument("--num_utts", type=int, default=600, help="TSV rows over all languages and partitions")
    parser.add_argument("--nj", type=int, default=2, help="parallel synthesis jobs")
    parser.add_argument("--toxic_share", type=float, default=0.35,
                        help="share of toxic rows (the release: 2-24%% per language in devtest; more here so that "
                             "a small corpus has positives in every language and partition)")
    parser.add_argument("--undecided_share", type=float, default=0.03, help="share of 'Cannot say' rows")
    parser.add_argument("--missing_share", type=float, default=0.03, help="share of rows without an audio file")
    parser.add_argument("--no_transcript_share", type=float, default=0.01, help="share of rows without a transcript")
    return parser


def main(args: argparse.Namespace) -> None:
    begin = time.time()
    stats = mini_mutox.generate(args.out_dir, seed=args.seed, num_utts=args.num_utts, nj=args.nj,
                                toxic_share=args.toxic_share, undecided_share=args.undecided_share,
                                missing_share=args.missing_share, no_transcript_share=args.no_transcript_share)
    logging.getLogger(__name__).info("generated %s in %.1f s: %s", args.out_dir, time.time() - begin,
                                     json.dumps(stats))


if __name__ == "__main__":
    run(main, get_parser())
