"""Prepare a data dir from the MuTox TSV and the downloaded audio (labels Toxic / No_Violation).

Rows with an undecided label (Cannot say), an empty transcript or no audio are left out and
counted; the rows without audio are listed in --missing_list. See voxrecipes.corpora.mutox for
the release format and its sources.

Usage: python -m voxrecipes.bin.prepare_mutox --tsv mutox.tsv --audio_dir D --out_dir data/x
       [--partition train|dev|devtest] [--audio_layout segments|sources] [--audio_pattern '{id}.wav']
       [--languages eng spa ...] [--unknown_language error|keep|drop] [--missing_list FILE]
"""

from __future__ import annotations

import argparse
import json
import logging

from voxrecipes.cli import run
from voxrecipes.corpora import mutox


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--tsv", required=True, help="the MuTox release TSV (mutox.tsv)")
    parser.add_argument("--audio_dir", required=True, help="folder of the downloaded audio")
    parser.add_argument("--out_dir", required=True, help="data dir to write (replaced as a whole)")
    parser.add_argument("--partition", default=None, choices=list(mutox.PARTITIONS),
                        help="keep only this partition (default: all rows)")
    parser.add_argument("--audio_layout", default="segments", choices=list(mutox.AUDIO_LAYOUTS),
                        help="segments: one cut file per row (--audio_pattern); sources: the source files of "
                             "public_url_segment, named by the URL's last component, cut with a segments file")
    parser.add_argument("--audio_pattern", default="{id}.wav",
                        help="segments layout: file name of a row under --audio_dir; placeholders {id} {lang} "
                             "{partition}")
    parser.add_argument("--offset_units", default="auto", choices=list(mutox.OFFSET_UNITS),
                        help="sources layout: units of the public_url_segment offsets (auto: milliseconds for "
                             "eng/spa, 16 kHz samples for the other languages, as measured on the release)")
    parser.add_argument("--languages", nargs="+", default=None,
                        help="keep only these languages (ISO 639-3 or 639-1; default: all)")
    parser.add_argument("--unknown_language", default="error", choices=list(mutox.UNKNOWN_LANGUAGE_ACTIONS),
                        help="a lang code outside the known MuTox languages: fail at its line, keep it as "
                             "written (lower case), or drop the row (counted)")
    parser.add_argument("--missing_list", default=None,
                        help="where the rows without audio are listed (default: <out_dir>/missing_audio.txt)")
    return parser


def main(args: argparse.Namespace) -> None:
    counts = mutox.prepare(args.tsv, args.audio_dir, args.out_dir, audio_pattern=args.audio_pattern,
                           audio_layout=args.audio_layout, offset_units=args.offset_units, partition=args.partition,
                           languages=args.languages, unknown_language=args.unknown_language,
                           missing_list=args.missing_list)
    logging.getLogger(__name__).info("%s: %s", args.out_dir, json.dumps(counts, sort_keys=True))


if __name__ == "__main__":
    run(main, get_parser())
