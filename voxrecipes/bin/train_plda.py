"""Train the PLDA backend on utterance embeddings: one class model per emotion.

PLDA is generative, so its posteriors do not carry the training prior (the
emotion paper's post-evaluation system, row #9 of Table 3). Writes
<out_dir>/plda.npz and <out_dir>/classes.json.

Example::

    python -m voxrecipes.bin.train_plda --embedding_scp dump/emb/train/embedding.scp \
        --labels data/train/utt2category --exclude O X --out_dir exp/backend_plda/model
"""

from __future__ import annotations

import argparse

from voxrecipes.backend.threads import DEFAULT_BLAS_THREADS
from voxrecipes.cli import run


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="train_plda", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--embedding_scp", required=True, help="scp of utterance embedding vectors")
    parser.add_argument("--labels", required=True, help="utt2category of the training utterances")
    parser.add_argument("--exclude", nargs="*", default=[], help="classes left out of training (e.g. O X)")
    parser.add_argument("--rank_f", type=int, default=100, help="rank of the class subspace (capped at the dim)")
    parser.add_argument("--nb_iter", type=int, default=10, help="EM iterations")
    parser.add_argument("--out_dir", required=True, help="model directory")
    parser.add_argument("--blas_threads", type=int, default=DEFAULT_BLAS_THREADS,
                        help="BLAS threads (0: the library's default); one is fastest on shared cores")
    return parser


def main(args: argparse.Namespace) -> None:
    from voxrecipes.backend.plda_stage import train_plda_backend

    train_plda_backend(args.embedding_scp, args.labels, args.out_dir, exclude=args.exclude, rank_f=args.rank_f,
                       nb_iter=args.nb_iter, threads=args.blas_threads)


if __name__ == "__main__":
    run(main, get_parser())
