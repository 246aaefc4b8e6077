"""Prepare a data dir from a voice-toxicity manifest (TSV or JSONL; see voxrecipes.corpora.toxicity_manifest).

Usage: python -m voxrecipes.bin.prepare_toxicity_manifest --manifest F --out_dir data/x
       [--classes Profanity Bullying ...] [--languages en es fr de pt] [--split NAME]
"""

from __future__ import annotations

import argparse

from voxrecipes.cli import run
from voxrecipes.corpora import toxicity_manifest


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--manifest", required=True, help="manifest file (.tsv, or .jsonl with the same keys)")
    parser.add_argument("--out_dir", required=True, help="data dir to write (replaced as a whole)")
    parser.add_argument("--classes", nargs="+", default=list(toxicity_manifest.CLASSES),
                        help="known class names; any other label is an error")
    parser.add_argument("--languages", nargs="+", default=list(toxicity_manifest.LANGUAGES),
                        help="accepted ISO 639-1 language codes")
    parser.add_argument("--split", default=None, help="keep only rows whose 'split' column has this value")
    return parser


def main(args: argparse.Namespace) -> None:
    toxicity_manifest.prepare(args.manifest, args.out_dir, classes=args.classes, languages=args.languages,
                              split=args.split)


if __name__ == "__main__":
    run(main, get_parser())
