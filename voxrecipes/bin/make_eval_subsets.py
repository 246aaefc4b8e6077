"""Write the emotion paper's evaluation subsets of a development set as data dirs.

``python -m voxrecipes.bin.make_eval_subsets --data data/development --filt_dir data/dev_filt
--bal_dir data/dev_bal [--per_class 300] [--seed 0]``

Dev_filt drops the training-only classes O and X; Dev_bal draws up to
``--per_class`` utterances of each of the 8 primary classes (300 in the paper),
seeded. Both are written with every file of the source (audio, text, labels).
"""

from __future__ import annotations

import argparse
import logging
from collections import Counter

from voxrecipes.cli import run
from voxrecipes.data.balance import PRIMARY_CLASSES, balanced_subset, filter_classes
from voxrecipes.data.datadir import DataDir
from voxrecipes.data.manipulate import subset_data_dir
from voxrecipes.errors import DataError
from voxrecipes.labels import PSEUDO_CLASSES

logger = logging.getLogger(__name__)


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="make_eval_subsets", description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="development data dir with utt2category")
    parser.add_argument("--filt_dir", required=True, help="output data dir of Dev_filt")
    parser.add_argument("--bal_dir", required=True, help="output data dir of Dev_bal")
    parser.add_argument("--per_class", type=int, default=300, help="utterances per primary class in Dev_bal")
    parser.add_argument("--classes", nargs="+", default=list(PRIMARY_CLASSES), help="primary classes")
    parser.add_argument("--drop", nargs="*", default=list(PSEUDO_CLASSES),
                        help="classes left out of Dev_filt (default: the pseudo-classes O X)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the Dev_bal draw")
    return parser


def main(args: argparse.Namespace) -> None:
    dd = DataDir.load(args.data)
    if dd.utt2category is None:
        raise DataError(f"{args.data}/utt2category", None, "file not found: the subsets need category labels")
    filt = filter_classes(dd.utt2category, drop=args.drop)
    bal = balanced_subset(dd.utt2category, per_class=args.per_class, classes=args.classes, seed=args.seed)
    subset_data_dir(args.data, args.filt_dir, utts=list(filt))
    subset_data_dir(args.data, args.bal_dir, utts=list(bal))
    counts = Counter(bal.values())
    logger.info("%s: %d utterances; %s: %d utterances (%s)", args.filt_dir, len(filt), args.bal_dir, len(bal),
                " ".join(f"{c}={counts.get(c, 0)}" for c in args.classes))


if __name__ == "__main__":
    run(main, get_parser())
