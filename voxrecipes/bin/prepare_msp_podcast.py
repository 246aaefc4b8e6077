"""Prepare data dirs train/development/test1/test2/test3 from an MSP-Podcast release (or the mini corpus).

Usage: python -m voxrecipes.bin.prepare_msp_podcast --corpus_dir DIR --out_dir data
       [--splits train development ...] [--drop_classes O X] [--drop_from train]
       [--transcript_encoding utf-8] [--empty_transcript '<empty>']

The requested data dirs are built in DIR/.prepare_msp_podcast.tmp and renamed into
place together only when all of them are complete; a requested split the CSV no
longer has is removed.
"""

from __future__ import annotations

import argparse

from voxrecipes.cli import run
from voxrecipes.corpora import msp_podcast


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--corpus_dir", required=True, help="release root holding Audios/, Labels/, Transcripts/")
    parser.add_argument("--out_dir", required=True, help="parent of the data dirs to write")
    parser.add_argument("--splits", nargs="+", default=list(msp_podcast.SPLIT_DIRS.values()),
                        choices=list(msp_podcast.SPLIT_DIRS.values()), help="data dirs to write")
    parser.add_argument("--drop_classes", nargs="*", default=[], choices=list(msp_podcast.EMO_CODES),
                        help="EmoClass codes to leave out (e.g. O X) of the data dirs in --drop_from")
    parser.add_argument("--drop_from", nargs="+", default=["train"], choices=list(msp_podcast.SPLIT_DIRS.values()),
                        help="data dirs --drop_classes applies to")
    parser.add_argument("--audio_subdir", default="Audios", help="audio folder under --corpus_dir")
    parser.add_argument("--transcripts_subdir", default="Transcripts", help="transcript folder under --corpus_dir")
    parser.add_argument("--transcript_encoding", default="utf-8",
                        help="encoding of the transcript files (e.g. latin-1); bytes invalid in it are an error "
                             "naming the file and line, never replaced")
    parser.add_argument("--empty_transcript", default=msp_podcast.EMPTY_TRANSCRIPT,
                        help="what an empty transcript file becomes in text (the ASR stage's token for an empty "
                             "hypothesis); '' makes an empty transcript an error")
    return parser


def main(args: argparse.Namespace) -> None:
    msp_podcast.prepare(args.corpus_dir, args.out_dir, splits=args.splits, drop_classes=args.drop_classes,
                        drop_from=args.drop_from, audio_subdir=args.audio_subdir,
                        transcripts_subdir=args.transcripts_subdir, transcript_encoding=args.transcript_encoding,
                        empty_transcript=args.empty_transcript)


if __name__ == "__main__":
    run(main, get_parser())
