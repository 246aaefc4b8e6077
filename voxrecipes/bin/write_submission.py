"""Write an Odyssey 2024 emotion challenge submission CSV from a posteriors file.

category:   header ``FileName,EmoClass``, the arg-max over --classes (O and X are never predicted).
attributes: header ``FileName,EmoAct,EmoVal,EmoDom`` from a posteriors-format file whose header is
            ``#classes valence arousal dominance`` (EmoAct = arousal, EmoVal = valence, EmoDom = dominance).

FileName is the basename of each utterance's audio in <data>/wav.scp (through <data>/segments when
present); rows are sorted by FileName. Every utterance of the data directory must be in the posteriors.

Example::

    python -m voxrecipes.bin.write_submission --posteriors exp/backend/test3/posteriors.txt \
        --data data/test3 --out exp/backend/test3/submission.csv --task category --classes A S H U F D C N
"""

from __future__ import annotations

import argparse

from voxrecipes.cli import run
from voxrecipes.metrics.submission import CHALLENGE_CLASSES, TASKS


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="write_submission", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--posteriors", required=True, help="posteriors file ('#classes ...' header)")
    parser.add_argument("--data", required=True, help="data directory of the submitted set (wav.scp, utt2spk)")
    parser.add_argument("--out", required=True, help="CSV file to write")
    parser.add_argument("--task", choices=TASKS, default="category", help="challenge task (default: category)")
    parser.add_argument("--classes", nargs="+", default=list(CHALLENGE_CLASSES),
                        help="category task: classes the arg-max runs over, in tie-break order "
                             "(default: the challenge's A S H U F D C N)")
    parser.add_argument("--float_format", default="%.6g", help="attributes task: printf format of the values")
    return parser


def main(args: argparse.Namespace) -> None:
    from voxrecipes.metrics.submission import write_submission

    write_submission(args.posteriors, args.data, args.out, task=args.task, classes=args.classes,
                     float_format=args.float_format)


if __name__ == "__main__":
    run(main, get_parser())
