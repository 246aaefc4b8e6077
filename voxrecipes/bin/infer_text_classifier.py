"""Score Kaldi transcripts with an exported text emotion classifier (train_text_classifier's model/).

For each --text file (a Kaldi ``text``: ``<utt> <words...>``; an utterance with no words
is scored as the empty string) writes into the matching --out_dir:

- ``posteriors.txt`` for a category model: softmax posteriors, header
  ``#classes A S H U F D C N`` in the config's class order;
- ``attributes.txt`` for an attribute model: header ``#classes valence arousal dominance``,
  values on the scale of the training labels;
- ``probabilities.txt`` for a multi-label model: one sigmoid probability per class, header
  ``#classes`` in the config's class order;

one row per utterance of the text file, sorted by utterance id (C locale), written
atomically. Posteriors are written as the model gives them; the paper's uniform-prior
fix is its own stage (``voxrecipes.bin.apply_prior_fix``). The model is loaded once for
all files.

Example::

    python -m voxrecipes.bin.infer_text_classifier --model_dir exp/text_llama_category/model \\
        --text data/dev_bal/text data/test1/text \\
        --out_dir exp/text_llama_category/dev_bal exp/text_llama_category/test1
"""

from __future__ import annotations

import argparse

from voxrecipes.cli import run
from voxrecipes.models.precision import add_precision_argument


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="infer_text_classifier", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model_dir", required=True, help="the model/ directory written by train_text_classifier")
    parser.add_argument("--text", required=True, nargs="+", help="Kaldi text files to score")
    parser.add_argument("--out_dir", required=True, nargs="+", help="output directories, one per --text")
    parser.add_argument("--batch_size", type=int, default=32, help="utterances per forward pass")
    parser.add_argument("--device", default="cpu", help="torch device (cpu, cuda, auto)")
    add_precision_argument(parser)
    parser.add_argument("--no_progress", action="store_true", help="no progress bar")
    return parser


def main(args: argparse.Namespace) -> None:
    import logging
    import os
    from pathlib import Path

    from voxrecipes.data.posteriors import write_posteriors
    from voxrecipes.errors import ConfigError
    from voxrecipes.models.precision import autocast, resolve_precision
    from voxrecipes.models.text_classifier import load_text_classifier
    from voxrecipes.tasks.text_classification import score_text_file

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    logger = logging.getLogger(__name__)
    if len(args.text) != len(args.out_dir):
        raise ConfigError(f"{len(args.text)} --text files but {len(args.out_dir)} --out_dir")
    clf = load_text_classifier(args.model_dir, device=args.device)
    name = {"category": "posteriors.txt", "multilabel": "probabilities.txt"}.get(clf.task, "attributes.txt")
    precision = resolve_precision(args.precision, clf.device)
    for text, out in zip(args.text, args.out_dir):
        with autocast(precision, clf.device):  # posteriors come out in float32 either way
            post = score_text_file(clf, text, batch_size=args.batch_size, progress=not args.no_progress)
        write_posteriors(Path(out) / name, post)
        logger.info("%s: %d utterances -> %s", text, len(post.utts), Path(out) / name)


if __name__ == "__main__":
    run(main, get_parser())
