"""Score utterance embeddings with a trained LDA + logistic-regression backend; write posteriors.

Example::

    python -m voxrecipes.bin.score_lda_lr --model_dir exp/backend --embedding_scp exp/emb/test1.scp \
        --out exp/backend/test1/posteriors.txt --prior uniform
"""

from __future__ import annotations

import argparse

from voxrecipes.cli import run


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="score_lda_lr", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model_dir", required=True, help="directory written by train_lda_lr")
    parser.add_argument("--embedding_scp", required=True, help="scp of utterance embedding vectors")
    parser.add_argument("--out", required=True, help="posteriors file ('#classes ...' header)")
    parser.add_argument("--prior", choices=["uniform", "train"], default="uniform",
                        help="uniform: prior-corrected softmax biases (paper); train: biases as trained")
    return parser


def main(args: argparse.Namespace) -> None:
    from voxrecipes.backend.lda_lr import score_backend

    score_backend(args.model_dir, args.embedding_scp, args.out, prior=args.prior)


if __name__ == "__main__":
    run(main, get_parser())
