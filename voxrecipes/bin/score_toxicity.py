"""Score a data directory with a trained toxicity classifier: 15 s chunks, 15 s stride, max over chunks.

Writes a scores file in the posteriors format (``#classes Profanity ...`` header, one
row of per-class sigmoid scores per utterance; rows do not sum to 1) that
``evaluate_toxicity`` reads. Inference is audio only: transcripts are not used.

Example::

    python -m voxrecipes.bin.score_toxicity --model_dir exp/tox_contrastive --data data/test \\
        --out exp/tox_contrastive/decode_test/scores.txt
"""

from __future__ import annotations

import argparse

from voxrecipes.cli import run
from voxrecipes.models.precision import add_precision_argument


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="score_toxicity", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model_dir", required=True, help="training output directory (config.yaml + checkpoint)")
    parser.add_argument("--checkpoint", default="valid.mAP.best.pth", help="checkpoint file inside --model_dir")
    parser.add_argument("--data", required=True, help="data directory to score")
    parser.add_argument("--out", required=True, help="scores file to write")
    parser.add_argument("--chunk_seconds", type=float, default=None, help="chunk length (default: model input, 15)")
    parser.add_argument("--stride_seconds", type=float, default=None, help="chunk stride (default: chunk length)")
    parser.add_argument("--batch_size", type=int, default=16, help="chunks per forward pass, across clips")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    add_precision_argument(parser)
    parser.add_argument("--bf16", dest="precision", action="store_const", const="bf16",
                        help="same as --precision bf16 (kept for old command lines)")
    parser.add_argument("--no_progress", action="store_true", help="no progress bar")
    return parser


def main(args: argparse.Namespace) -> None:
    from voxrecipes.data.posteriors import write_posteriors
    from voxrecipes.tasks.toxicity import load_classifier
    from voxrecipes.tasks.toxicity_scoring import score_data_dir

    trained = load_classifier(args.model_dir, args.checkpoint, device=args.device)
    scores = score_data_dir(trained, args.data, chunk_s=args.chunk_seconds, stride_s=args.stride_seconds,
                            batch_size=args.batch_size, precision=args.precision, progress=not args.no_progress)
    write_posteriors(args.out, scores)


if __name__ == "__main__":
    run(main, get_parser())
