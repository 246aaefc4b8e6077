"""Validate a Kaldi data directory: ``validate_data_dir.py DIR [--check_audio] [--classes A B ...]``."""

from __future__ import annotations

import argparse

from voxrecipes.cli import run
from voxrecipes.data.datadir import DataDir
from voxrecipes.data.validate import validate_data_dir


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Check a data directory against Kaldi's rules and ours "
                                                 "(sorted unique keys, files that agree, label files).")
    parser.add_argument("data_dir", help="the data directory")
    parser.add_argument("--check_audio", action="store_true",
                        help="also open every wav.scp entry that is a path (float files are read in full: "
                             "no NaN or inf)")
    parser.add_argument("--classes", nargs="+", default=None, help="allowed names in utt2labels/utt2category")
    parser.add_argument("--require", nargs="+", default=[], help="optional files that must be present (text ...)")
    return parser


def main(args: argparse.Namespace) -> None:
    validate_data_dir(args.data_dir, check_audio=args.check_audio, require=args.require, classes=args.classes)
    dd = DataDir.load(args.data_dir, validate=False)
    print(f"{args.data_dir}: OK ({len(dd.utt2spk)} utterances, {len(dd.spk2utt)} speakers, "
          f"files: {' '.join(dd.present_files())})")


if __name__ == "__main__":
    run(main, get_parser())
