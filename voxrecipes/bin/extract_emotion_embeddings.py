"""Embeddings and outputs of an exported emotion model for every utterance of a data directory.

Writes into ``--out_dir``:

- ``embedding.ark`` / ``embedding.scp``: the output of the first dense layer after the
  attentive pooling (what the LDA/LR and PLDA backends are trained on);
- ``posteriors.txt`` (category model: softmax over the training classes) or
  ``attributes.txt`` (attribute model: ``#classes valence arousal dominance`` on the
  1-7 scale), in the posteriors format the evaluation, fusion and submission stages read.

Whole utterances are used (at most --max_seconds), batched by length. Several data
directories can be given with as many output directories: the model is loaded once.

Example::

    python -m voxrecipes.bin.extract_emotion_embeddings --model_dir exp/emotion_category/export \\
        --data dump/raw/test1 --out_dir dump/w2vbert_embedding/test1
"""

from __future__ import annotations

import argparse

from voxrecipes.cli import run
from voxrecipes.models.precision import add_precision_argument


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="extract_emotion_embeddings", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model_dir", required=True, help="directory written by export_emotion_model")
    parser.add_argument("--data", required=True, nargs="+", help="data (or dump) directories to process")
    parser.add_argument("--out_dir", required=True, nargs="+", help="output directories, one per --data")
    parser.add_argument("--batch_size", type=int, default=16, help="utterances per forward pass")
    parser.add_argument("--max_seconds", type=float, default=None, help="use at most this much of each utterance")
    parser.add_argument("--device", default="cpu", help="torch device (cpu, cuda)")
    add_precision_argument(parser)
    parser.add_argument("--no_embeddings", action="store_true", help="write only the outputs, not embedding.scp")
    parser.add_argument("--no_progress", action="store_true", help="no progress bar")
    return parser


def main(args: argparse.Namespace) -> None:
    from pathlib import Path

    from voxrecipes.data.posteriors import Posteriors, write_posteriors
    from voxrecipes.errors import ConfigError
    from voxrecipes.features.arkio import write_ark_scp
    from voxrecipes.tasks.emotion_inference import infer_data_dir, load_exported

    if len(args.data) != len(args.out_dir):
        raise ConfigError(f"{len(args.data)} --data directories but {len(args.out_dir)} --out_dir")
    inference = load_exported(args.model_dir, device=args.device)
    name = "posteriors.txt" if inference.task == "category" else "attributes.txt"
    for data, out in zip(args.data, args.out_dir):
        utts, outputs, embeddings = infer_data_dir(inference, data, batch_size=args.batch_size,
                                                   max_seconds=args.max_seconds, precision=args.precision,
                                                   progress=not args.no_progress)
        out_dir = Path(out)
        out_dir.mkdir(parents=True, exist_ok=True)
        write_posteriors(out_dir / name, Posteriors(utts, inference.output_names, outputs))
        if not args.no_embeddings:
            write_ark_scp(out_dir / "embedding", zip(utts, embeddings))


if __name__ == "__main__":
    run(main, get_parser())
