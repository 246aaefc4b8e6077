"""Label the ASR sentences with the text labeller and write the pseudo-labelled training manifest.

Reads --data (the sentence data dir of asr_sentences: segments, text, utt2lang), scores
its transcripts with --model_dir (a multi-label text classifier with its
``thresholds.json``, from train_text_classifier + tune_text_thresholds), and writes
--manifest in the format prepare_toxicity_manifest reads (voxrecipes.corpora.autolabel_manifest),
plus ``<manifest>.probs`` (the labeller's probabilities, a posteriors text file). A set
with fewer than --min_toxic toxic sentences is an error and nothing is written.

Example::

    python -m voxrecipes.bin.write_pseudo_manifest --data data/train_sentences \\
        --model_dir exp/text_labeller/model --manifest data/manifests/train_pseudo.tsv
"""

from __future__ import annotations

import argparse

from voxrecipes.cli import run


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="write_pseudo_manifest", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="sentence data dir (segments, text, utt2lang)")
    parser.add_argument("--model_dir", required=True, help="multi-label text labeller with thresholds.json")
    parser.add_argument("--manifest", required=True, help="manifest TSV to write")
    parser.add_argument("--min_toxic", type=int, default=1, help="fewer toxic sentences than this is an error")
    parser.add_argument("--batch_size", type=int, default=64, help="texts per forward pass")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    return parser


def main(args: argparse.Namespace) -> None:
    import logging

    from voxrecipes.corpora.autolabel_manifest import check_toxic, pseudo_rows, write_manifest
    from voxrecipes.data.datadir import DataDir
    from voxrecipes.data.posteriors import Posteriors, write_posteriors
    from voxrecipes.errors import ConfigError
    from voxrecipes.models.text_classifier import load_text_classifier
    from voxrecipes.tasks.text_classification import predict_texts
    from voxrecipes.tasks.toxicity_labeller import apply_thresholds, load_thresholds

    dd = DataDir.load(args.data)
    clf = load_text_classifier(args.model_dir, device=args.device)
    if clf.task != "multilabel":
        raise ConfigError(f"{args.model_dir} is a '{clf.task}' classifier; the labeller must be multilabel")
    classes = clf.output_names
    thresholds = load_thresholds(args.model_dir, classes)
    if dd.text is None:
        raise ConfigError(f"{args.data} has no text (run asr_sentences)")
    utts = dd.utts
    probs = predict_texts(clf, [dd.text[u] for u in utts], batch_size=args.batch_size)
    labels = dict(zip(utts, apply_thresholds(probs, classes, thresholds), strict=True))
    rows = pseudo_rows(dd, labels)
    check_toxic(rows, args.manifest, min_toxic=args.min_toxic)
    write_posteriors(args.manifest + ".probs", Posteriors(utts, classes, probs))
    write_manifest(args.manifest, rows)
    counts = {c: sum(c in r.labels for r in rows) for c in classes}
    logging.getLogger("write_pseudo_manifest").info("wrote %s: %d sentences, %s", args.manifest, len(rows),
                                                    " ".join(f"{c}={n}" for c, n in counts.items()))


if __name__ == "__main__":
    run(main, get_parser())
