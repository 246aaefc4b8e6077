"""Generate the mini multilingual voice-toxicity corpus (audio + manifest_{train,dev,test}.tsv).

Usage: python -m voxrecipes.bin.generate_mini_toxicity --out_dir DIR [--seed 0] [--num_utts 400] [--nj 2]
       [--phrases_per_class N] [--mark_triggers]
"""

from __future__ import annotations

import argparse
import json
import logging
import time

from voxrecipes.cli import run
from voxrecipes.corpora import mini_toxicity


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--out_dir", required=True, help="corpus root to create (replaced as a whole)")
    parser.add_argument("--seed", type=int, default=0, help="random seed; the same seed gives the same corpus")
    parser.add_argument("--num_utts", type=int, default=400, help="utterances over all languages and splits")
    parser.add_argument("--nj", type=int, default=2, help="parallel synthesis jobs")
    parser.add_argument("--phrases_per_class", type=int, default=None,
                        help="trigger phrases per class and language (default: all 6)")
    parser.add_argument("--mark_triggers", action="store_true",
                        help="speak trigger sentences with their class's pitch, speed and voice variant (an acoustic "
                             "shortcut a tiny model trained from scratch learns in minutes; off: words only)")
    return parser


def main(args: argparse.Namespace) -> None:
    begin = time.time()
    stats = mini_toxicity.generate(args.out_dir, seed=args.seed, num_utts=args.num_utts, nj=args.nj,
                                  phrases_per_class=args.phrases_per_class, mark_triggers=args.mark_triggers)
    logging.getLogger(__name__).info("generated %s in %.1f s: %s", args.out_dir, time.time() - begin,
                                     json.dumps(stats))


if __name__ == "__main__":
    run(main, get_parser())
