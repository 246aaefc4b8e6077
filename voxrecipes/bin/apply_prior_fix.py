"""Move class posteriors from the training prior to a uniform target prior (TalTech, Odyssey 2024, 3.2):

    P'(y|x) = 1/Z * P_u(y) / P'(y) * P(y|x),

with P'(y) the relative class frequencies of --train_prior_from (labels outside the
posteriors' classes are ignored) and P_u uniform over the posteriors' classes, 0 for the
pseudo-classes (--pseudo_classes, default O X), which therefore never win.

Example::

    python -m voxrecipes.bin.apply_prior_fix --posteriors exp/text/test1/posteriors.txt \
        --train_prior_from data/train/utt2category --out exp/text_prior/test1/posteriors.txt
"""

from __future__ import annotations

import argparse
import logging

from voxrecipes.cli import run

logger = logging.getLogger(__name__)


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="apply_prior_fix", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--posteriors", required=True, help="input posteriors file ('#classes ...' header)")
    parser.add_argument("--train_prior_from", required=True,
                        help="utt2category of the data the model was trained on (its class frequencies are P'(y))")
    parser.add_argument("--out", required=True, help="output posteriors file (written atomically)")
    parser.add_argument("--pseudo_classes", nargs="*", default=["O", "X"],
                        help="classes with target prior 0 (default: O X, MSP-Podcast's Other and No-agreement)")
    return parser


def main(args: argparse.Namespace) -> None:
    from voxrecipes.backend.prior import empirical_prior, prior_fix, uniform_prior
    from voxrecipes.data.posteriors import Posteriors, read_posteriors, write_posteriors
    from voxrecipes.data.table import read_table
    from voxrecipes.errors import DataError

    post = read_posteriors(args.posteriors)
    labels = list(read_table(args.train_prior_from).values())
    try:
        train_prior = empirical_prior(labels, post.classes)
        target = uniform_prior(post.classes, args.pseudo_classes)
        fixed = prior_fix(post.matrix, train_prior, target)
    except ValueError as err:
        raise DataError(args.train_prior_from, None,
                        f"cannot fix the prior of {args.posteriors} ({' '.join(post.classes)}): {err}") from None
    ignored = sum(1 for label in labels if label not in set(post.classes))
    logger.info("training prior %s (%d labels outside the classes ignored); target %s",
                " ".join(f"{c}={p:.4f}" for c, p in zip(post.classes, train_prior)), ignored,
                " ".join(f"{c}={p:.4f}" for c, p in zip(post.classes, target)))
    write_posteriors(args.out, Posteriors(post.utts, post.classes, fixed))


if __name__ == "__main__":
    run(main, get_parser())
