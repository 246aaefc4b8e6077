"""Write RESULTS.md from metrics.json files: environment header, macro-F1 [95% CI] / accuracy / N table,
per-class F1 table and links to the confusion plots. The text also goes to stdout.

Example::

    python -m voxrecipes.bin.make_results --title "mini_podcast emotion" \
        --entry stats_lda_lr=exp/backend/test1/metrics.json --out RESULTS.md
"""

from __future__ import annotations

import argparse

from voxrecipes.cli import run


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="make_results", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--title", required=True, help="first heading of RESULTS.md")
    parser.add_argument("--entry", action="append", default=[], metavar="NAME=METRICS_JSON",
                        help="a system name and the metrics.json of one evaluation set; repeat the option")
    parser.add_argument("--out", required=True, help="output Markdown file")
    return parser


def main(args: argparse.Namespace) -> None:
    from voxrecipes.metrics.results import make_results

    print(make_results(args.title, args.entry, args.out), end="")


if __name__ == "__main__":
    run(main, get_parser())
