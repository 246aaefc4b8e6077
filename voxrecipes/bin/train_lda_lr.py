"""Train the LDA + logistic-regression backend on utterance embeddings (with uniform-prior correction).

StandardScaler -> LDA(lda_dim) -> multinomial logistic regression (--lda_kind kaldi keeps
lda_dim directions even beyond K-1, as Kaldi's ivector-compute-lda; sklearn stops at K-1); the corrected
softmax biases b'_k = b_k - log(pi_k) + log(1/K) (pi_k: training class frequency) are stored
next to the trained ones. Writes <out_dir>/model.npz and <out_dir>/classes.json (no pickle).
The class set found in the labels is logged; a class with fewer than --min_class_count
training utterances is an error naming the label file and line (most often a typo, which
would otherwise become a class of its own when --classes is not given).

Example::

    python -m voxrecipes.bin.train_lda_lr --embedding_scp exp/emb/train.scp \
        --labels data/train/utt2category --exclude O X --lda_dim 15 --out_dir exp/backend
"""

from __future__ import annotations

import argparse

from voxrecipes.backend.lda_lr import DEFAULT_LDA_KIND, DEFAULT_MIN_CLASS_COUNT, LDA_KINDS
from voxrecipes.cli import run


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="train_lda_lr", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--embedding_scp", required=True, help="scp of utterance embedding vectors")
    parser.add_argument("--labels", required=True, help="utt2category of the training utterances")
    parser.add_argument("--exclude", nargs="*", default=[], help="classes left out of training (e.g. O X)")
    parser.add_argument("--classes", nargs="*", default=None,
                        help="output class order (default: sorted names); must equal the training classes")
    parser.add_argument("--lda_dim", type=int, default=15, help="LDA dimension; paper: 15")
    parser.add_argument("--lda_kind", choices=LDA_KINDS, default=DEFAULT_LDA_KIND,
                        help="kaldi: keep lda_dim directions even beyond K-1 (the extra ones have ~0 between-class "
                             "variance), as Kaldi's ivector-compute-lda; sklearn: at most K-1 (default: %(default)s)")
    parser.add_argument("--C", type=float, default=1.0, help="inverse L2 regularisation of the logistic regression")
    parser.add_argument("--max_iter", type=int, default=1000, help="lbfgs iterations of the logistic regression")
    parser.add_argument("--min_class_count", type=int, default=DEFAULT_MIN_CLASS_COUNT,
                        help="smallest number of training utterances of a class (default: %(default)s); a rarer "
                             "class is an error, most often a label typo; 1 accepts any class")
    parser.add_argument("--out_dir", required=True, help="model directory")
    return parser


def main(args: argparse.Namespace) -> None:
    from voxrecipes.backend.lda_lr import train_backend

    train_backend(args.embedding_scp, args.labels, args.out_dir, exclude=args.exclude, lda_dim=args.lda_dim,
                  C=args.C, max_iter=args.max_iter, classes=args.classes or None,
                  min_class_count=args.min_class_count, lda_kind=args.lda_kind)


if __name__ == "__main__":
    run(main, get_parser())
