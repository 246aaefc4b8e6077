"""Per-utterance mean and standard deviation of each feature bin (2 x bins values) as an ark/scp pair.

Example::

    python -m voxrecipes.bin.extract_stats_embeddings --feats_scp exp/fbank/feats_train.scp \
        --out_prefix exp/embeddings/stats_train
"""

from __future__ import annotations

import argparse

from voxrecipes.cli import run


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="extract_stats_embeddings", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--feats_scp", required=True, help="scp of (frames x bins) feature matrices")
    parser.add_argument("--out_prefix", required=True, help="writes <out_prefix>.ark and <out_prefix>.scp")
    return parser


def main(args: argparse.Namespace) -> None:
    from voxrecipes.features.stats import extract_stats_embeddings

    extract_stats_embeddings(args.feats_scp, args.out_prefix)


if __name__ == "__main__":
    run(main, get_parser())
