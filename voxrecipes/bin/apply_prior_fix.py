"""Move class posteriors from the training prior to a uniform target prior (TalTech, Odyssey 2024, 3.2):

    P'(y|x) = 1/Z * P_u(y) / P'(y) * P(y|x),

with P'(y) the relative class frequencies of --train_prior_from (labels outside the
posteriors' classes are ignored) and P_u uniform over the posteriors' classes, 0 for the
pseudo-classes (--pseudo_classes, default O X), which therefore never win. The input rows
must be class probabilities (non-negative, summing to 1 within --sum_tolerance) unless
--renormalise; a class without any training label is an error that names it and the
labels that were ignored (a typo such as 'Sad' for 'S' shows there).

Example::

    python -m voxrecipes.bin.apply_prior_fix --posteriors exp/text/test1/posteriors.txt \
        --train_prior_from data/train/utt2category --out exp/text_prior/test1/posteriors.txt
"""

from __future__ import annotations

import argparse
import logging

from voxrecipes.cli import run
from voxrecipes.data.posteriors import add_probability_arguments
from voxrecipes.labels import PSEUDO_CLASSES

logger = logging.getLogger(__name__)


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="apply_prior_fix", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--posteriors", required=True, help="input posteriors file ('#classes ...' header)")
    parser.add_argument("--train_prior_from", required=True,
                        help="utt2category of the data the model was trained on (its class frequencies are P'(y))")
    parser.add_argument("--out", required=True, help="output posteriors file (written atomically)")
    parser.add_argument("--pseudo_classes", nargs="*", default=list(PSEUDO_CLASSES),
                        help="classes with target prior 0 (default: O X, MSP-Podcast's Other and No-agreement)")
    add_probability_arguments(parser)
    return parser


def main(args: argparse.Namespace) -> None:
    from collections import Counter

    from voxrecipes.backend.prior import empirical_prior, prior_fix, uniform_prior
    from voxrecipes.data.posteriors import Posteriors, read_probabilities, write_posteriors
    from voxrecipes.errors import DataError
    from voxrecipes.labels import read_categories

    post = read_probabilities(args.posteriors, sum_tolerance=args.sum_tolerance, renormalise=args.renormalise)
    labels = list(read_categories(args.train_prior_from).values())
    known = set(post.classes)
    ignored = Counter(label for label in labels if label not in known)
    ignored_text = ", ".join(f"{c}={n}" for c, n in sorted(ignored.items())) or "none"
    try:
        train_prior = empirical_prior(labels, post.classes)
        target = uniform_prior(post.classes, args.pseudo_classes)
        fixed = prior_fix(post.matrix, train_prior, target, post.classes)
    except ValueError as err:
        raise DataError(args.train_prior_from, None,
                        f"cannot fix the prior of {args.posteriors} ({' '.join(post.classes)}): {err}; "
                        f"labels here outside those classes were ignored: {ignored_text} (a typo? fix the labels, "
                        "or give a class without training data target prior 0 with --pseudo_classes)") from None
    logger.info("training prior %s (labels outside the classes ignored: %s); target %s",
                " ".join(f"{c}={p:.4f}" for c, p in zip(post.classes, train_prior)), ignored_text,
                " ".join(f"{c}={p:.4f}" for c, p in zip(post.classes, target)))
    write_posteriors(args.out, Posteriors(post.utts, post.classes, fixed))


if __name__ == "__main__":
    run(main, get_parser())
