"""Evaluate class posteriors against utt2category: macro-F1 with a bootstrap 95% CI, per-class F1,
accuracy and a confusion-matrix plot. Writes <out_dir>/metrics.json and <out_dir>/confusion.png.

Utterances labelled with a class of --exclude (default: O X where they are not evaluated)
are left out; any other label that is not an evaluated class is an error naming the label
file and line (a typo must not shrink the scored set silently). The posteriors must be
class probabilities (rows non-negative, summing to 1 within --sum_tolerance) unless
--renormalise.

Example::

    python -m voxrecipes.bin.evaluate_classification --posteriors exp/backend/test1/posteriors.txt \
        --labels data/test1/utt2category --out_dir exp/backend/test1 --classes A S H U F D C N
"""

from __future__ import annotations

import argparse

from voxrecipes.cli import run
from voxrecipes.data.posteriors import add_probability_arguments


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="evaluate_classification", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--posteriors", required=True, help="posteriors file ('#classes ...' header)")
    parser.add_argument("--labels", required=True, help="utt2category with the same utterances")
    parser.add_argument("--out_dir", required=True, help="where metrics.json and confusion.png go")
    parser.add_argument("--classes", nargs="*", default=None,
                        help="evaluated classes and their order (default: the posterior header); "
                             "the decision is the arg-max over these columns")
    parser.add_argument("--num_bootstrap", type=int, default=1000, help="bootstrap resamples for the 95%% CI")
    parser.add_argument("--seed", type=int, default=0, help="seed of the bootstrap resampling")
    parser.add_argument("--exclude", nargs="*", default=None,
                        help="labels whose utterances are left out of the scoring (default: O X, MSP-Podcast's "
                             "Other and No-agreement, unless they are evaluated classes); any other label outside "
                             "the evaluated classes is an error")
    parser.add_argument("--keep_unknown", action="store_true",
                        help="keep the utterances of --exclude labels (they count as errors); "
                             "default: drop them and log the count")
    parser.add_argument("--set_name", default=None, help="name of the evaluation set (default: out_dir's name)")
    add_probability_arguments(parser)
    return parser


def main(args: argparse.Namespace) -> None:
    from voxrecipes.metrics.evaluate import evaluate_classification

    evaluate_classification(args.posteriors, args.labels, args.out_dir, classes=args.classes,
                            num_bootstrap=args.num_bootstrap, seed=args.seed, keep_unknown=args.keep_unknown,
                            set_name=args.set_name, exclude=args.exclude, sum_tolerance=args.sum_tolerance,
                            renormalise=args.renormalise)


if __name__ == "__main__":
    run(main, get_parser())
