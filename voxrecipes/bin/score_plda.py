"""Score utterance embeddings with a trained PLDA backend into a posteriors file.

Posteriors are the softmax over classes of the PLDA log-likelihood ratios (flat
prior), rows sorted by utterance id, with the ``#classes`` header.

Example::

    python -m voxrecipes.bin.score_plda --model_dir exp/backend_plda/model \
        --embedding_scp dump/emb/test1/embedding.scp --out exp/backend_plda/test1/posteriors_flat.txt
"""

from __future__ import annotations

import argparse

from voxrecipes.backend.threads import DEFAULT_BLAS_THREADS
from voxrecipes.cli import run


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="score_plda", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model_dir", required=True, help="directory written by train_plda")
    parser.add_argument("--embedding_scp", required=True, help="scp of the embeddings to score")
    parser.add_argument("--out", required=True, help="posteriors file to write")
    parser.add_argument("--blas_threads", type=int, default=DEFAULT_BLAS_THREADS,
                        help="BLAS threads (0: the library's default); one is fastest on shared cores")
    return parser


def main(args: argparse.Namespace) -> None:
    from voxrecipes.backend.plda_stage import score_plda_backend

    score_plda_backend(args.model_dir, args.embedding_scp, args.out, threads=args.blas_threads)


if __name__ == "__main__":
    run(main, get_parser())
