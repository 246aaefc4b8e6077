"""Tune one threshold per class of a multi-label text labeller on a labelled dev split; save it with the model.

Scores --text with the exported model (--model_dir, from train_text_classifier with
``task: multilabel``), picks per class the threshold of best F1 against --labels
(``utt2labels``) on a grid of --step, and writes ``<model_dir>/thresholds.json``
(voxrecipes.tasks.toxicity_labeller). Every labelled utterance needs a transcript.

Example::

    python -m voxrecipes.bin.tune_text_thresholds --model_dir exp/text_labeller/model \\
        --text data/text_labeller/dev/text --labels data/text_labeller/dev/utt2labels
"""

from __future__ import annotations

import argparse

from voxrecipes.cli import run


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tune_text_thresholds", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model_dir", required=True, help="exported multi-label text classifier")
    parser.add_argument("--text", required=True, help="Kaldi text of the dev split")
    parser.add_argument("--labels", required=True, help="utt2labels of the dev split")
    parser.add_argument("--step", type=float, default=0.05, help="grid step of the candidate thresholds")
    parser.add_argument("--batch_size", type=int, default=64, help="texts per forward pass")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    return parser


def main(args: argparse.Namespace) -> None:
    import logging

    import numpy as np

    from voxrecipes.errors import ConfigError, DataError
    from voxrecipes.models.text_classifier import load_text_classifier
    from voxrecipes.tasks.text_classification import predict_texts, read_multilabel_labels, read_transcripts
    from voxrecipes.tasks.toxicity_labeller import save_thresholds, tune_thresholds

    clf = load_text_classifier(args.model_dir, device=args.device)
    if clf.task != "multilabel":
        raise ConfigError(f"{args.model_dir} is a '{clf.task}' classifier; thresholds need a multilabel one")
    classes = clf.output_names
    labels = read_multilabel_labels(args.labels, classes)
    texts = read_transcripts(args.text)
    missing = [u for u in labels if u not in texts]
    if missing:
        raise DataError(args.text, None, f"{len(missing)} utterances of {args.labels} have no transcript "
                                         f"(first: {missing[0]})")
    utts = list(labels)
    probs = predict_texts(clf, [texts[u] for u in utts], batch_size=args.batch_size)
    targets = np.asarray([labels[u] for u in utts])
    thresholds, f1 = tune_thresholds(probs, targets, classes, args.step)
    positives = {c: int(n) for c, n in zip(classes, targets.sum(axis=0), strict=True)}
    path = save_thresholds(args.model_dir, classes, thresholds, dev_f1=f1, dev_positives=positives,
                           tuned_on=str(args.labels), step=args.step)
    logging.getLogger("tune_text_thresholds").info(
        "wrote %s: %s", path, ", ".join(f"{c} {thresholds[c]:.2f} (F1 {f1[c]:.3f}, {positives[c]} positives)"
                                        for c in classes))


if __name__ == "__main__":
    run(main, get_parser())
