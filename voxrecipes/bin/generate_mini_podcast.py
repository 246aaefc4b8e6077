"""Generate the mini MSP-Podcast corpus (release layout) with espeak-ng and sox.

Usage: python -m voxrecipes.bin.generate_mini_podcast --out_dir DIR [--seed 0] [--num_speakers N]
       [--utts_per_speaker N] [--nj 2]
"""

from __future__ import annotations

import argparse
import json
import logging
import time

from voxrecipes.cli import run
from voxrecipes.corpora import mini_podcast


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--out_dir", required=True, help="corpus root to create (replaced as a whole)")
    parser.add_argument("--seed", type=int, default=0, help="random seed; the same seed gives the same corpus")
    parser.add_argument("--num_speakers", type=int, default=mini_podcast.DEFAULT_NUM_SPEAKERS,
                        help="number of speakers (espeak-ng voices), >= 5")
    parser.add_argument("--utts_per_speaker", type=int, default=mini_podcast.DEFAULT_UTTS_PER_SPEAKER,
                        help="segments per speaker")
    parser.add_argument("--nj", type=int, default=2, help="parallel synthesis jobs")
    return parser


def main(args: argparse.Namespace) -> None:
    begin = time.time()
    stats = mini_podcast.generate(args.out_dir, seed=args.seed, num_speakers=args.num_speakers,
                                  utts_per_speaker=args.utts_per_speaker, nj=args.nj)
    logging.getLogger(__name__).info("generated %s in %.1f s: %s", args.out_dir, time.time() - begin,
                                     json.dumps(stats))


if __name__ == "__main__":
    run(main, get_parser())
