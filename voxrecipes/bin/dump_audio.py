"""Dump a data directory for ESPnet's data loader: one 16 kHz wav per utterance, speech_shape, label vectors.

Segments are cut and ``cmd |`` pipes run once here, so training reads plain wav files
(ESPnet's ``sound`` type). With --classes, ``labels`` holds each utterance's multi-hot
vector over the classes (ESPnet's ``text_float`` type). With --category_classes,
``category`` holds the index of each utterance's ``utt2category`` class (``text_int``)
and ``category2utt`` the lists ESPnet's category-balanced sampler reads; ``attributes``
(``text_float``: valence arousal dominance) is written whenever ``utt2attrs`` exists. --min_seconds drops short
utterances (the toxicity paper discards training audio under 1 s).

Example::

    python -m voxrecipes.bin.dump_audio --data data/train --out_dir dump/raw/train \\
        --classes Profanity Bullying Dating_Sexting Racist Other No_Violation --min_seconds 1
"""

from __future__ import annotations

import argparse

from voxrecipes.cli import run


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dump_audio", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="source data directory")
    parser.add_argument("--out_dir", required=True, help="dump directory to write (replaced when complete)")
    parser.add_argument("--classes", nargs="+", default=None,
                        help="class list of the multi-hot 'labels' file (needs utt2labels); none: no labels file")
    parser.add_argument("--category_classes", nargs="+", default=None,
                        help="class list of the 'category' index file (from utt2category, when present)")
    parser.add_argument("--min_seconds", type=float, default=0.0, help="drop utterances shorter than this")
    parser.add_argument("--sample_rate", type=int, default=16000, help="sample rate of the dumped audio")
    parser.add_argument("--no_progress", action="store_true", help="no progress bar")
    return parser


def main(args: argparse.Namespace) -> None:
    from voxrecipes.data.dump import dump_audio

    dump_audio(args.data, args.out_dir, classes=args.classes, category_classes=args.category_classes,
               min_seconds=args.min_seconds,
               sample_rate=args.sample_rate, progress=not args.no_progress)


if __name__ == "__main__":
    run(main, get_parser())
