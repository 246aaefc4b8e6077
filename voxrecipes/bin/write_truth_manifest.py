"""Write a manifest of a data dir's segments labelled from the generated sessions' truth.

For the evaluation set (the DTX chunks of the test sessions: the paper's human-labelled
1-60 s segments, transcripts from the truth) and for the comparison with training on
true labels (the ASR sentences, --transcripts data keeps the ASR words). A truth sentence
counts for a segment when --min_overlap of it lies inside (voxrecipes.corpora.autolabel_manifest).

Example::

    python -m voxrecipes.bin.write_truth_manifest --data data/test_chunks \\
        --truth downloads/mini_sessions/truth/sentences.tsv --manifest data/manifests/test.tsv
"""

from __future__ import annotations

import argparse

from voxrecipes.cli import run


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="write_truth_manifest", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="data dir with segments (recording id = session name)")
    parser.add_argument("--truth", required=True, help="truth/sentences.tsv of the generated sessions")
    parser.add_argument("--manifest", required=True, help="manifest TSV to write")
    parser.add_argument("--min_overlap", type=float, default=0.5,
                        help="share of a truth sentence inside a segment for its labels to count")
    parser.add_argument("--transcripts", default="truth", choices=["truth", "data"],
                        help="transcript column: the truth's text or the data dir's text")
    parser.add_argument("--min_toxic", type=int, default=1, help="fewer toxic segments than this is an error")
    return parser


def main(args: argparse.Namespace) -> None:
    import logging

    from voxrecipes.corpora.autolabel_manifest import check_toxic, truth_rows, write_manifest
    from voxrecipes.data.datadir import DataDir
    from voxrecipes.errors import ConfigError
    from voxrecipes.labels import NO_VIOLATION

    if not 0 < args.min_overlap <= 1:
        raise ConfigError(f"--min_overlap must be in (0, 1], got {args.min_overlap}")
    rows = truth_rows(DataDir.load(args.data), args.truth, min_overlap=args.min_overlap,
                      transcripts=args.transcripts)
    check_toxic(rows, args.manifest, min_toxic=args.min_toxic)
    write_manifest(args.manifest, rows)
    logging.getLogger("write_truth_manifest").info("wrote %s: %d segments, %d toxic", args.manifest, len(rows),
                                                   sum(r.labels != [NO_VIOLATION] for r in rows))


if __name__ == "__main__":
    run(main, get_parser())
