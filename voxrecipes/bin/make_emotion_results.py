"""Write the emotion recipe's RESULTS.md in the layout of the paper's tables: environment header;
Table 3 layout (categorical systems x evaluation sets, macro-F1 [95% CI], '-' where a system was not
evaluated), per-class F1 per set and confusion-matrix links; the prior-correction lines (macro-F1
without and with the balanced prior on --prior_set, and whether the prior raised it); Table 2 layout
(attribute systems, Valence / Arousal / Dominance / Average CCC per set) with a CCC [95% CI] table and
scatter-plot links. Either kind of system may be absent. The text also goes to stdout.

Example::

    python -m voxrecipes.bin.make_emotion_results --title "MSP-Podcast emotion" \\
        --sets dev_filt dev_bal test1 \\
        --category w2v_bert=dev_bal=exp/lr/dev_bal/eval_raw/metrics.json \\
        --category "w2v_bert + balanced prior=dev_bal=exp/lr/dev_bal/eval_prior/metrics.json" \\
        --attributes w2v_bert_attr=dev_bal=exp/attr/dev_bal/eval/metrics.json \\
        --prior_pair "w2v_bert=w2v_bert + balanced prior" --prior_set dev_bal --out RESULTS.md
"""

from __future__ import annotations

import argparse

from voxrecipes.cli import run


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="make_emotion_results", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--title", required=True, help="first heading of RESULTS.md")
    parser.add_argument("--category", action="append", default=[], metavar="NAME=SET=METRICS_JSON",
                        help="a categorical system, an evaluation set and its metrics.json (evaluate_classification); "
                             "repeat the option, rows keep the order of first appearance")
    parser.add_argument("--attributes", action="append", default=[], metavar="NAME=SET=METRICS_JSON",
                        help="an attribute system, an evaluation set and its metrics.json (evaluate_attributes); "
                             "repeat the option")
    parser.add_argument("--prior_pair", action="append", default=[], metavar="NAME_WITHOUT=NAME_WITH",
                        help="a categorical system without and the same system with the balanced prior; "
                             "repeat the option")
    parser.add_argument("--prior_set", default="dev_bal", help="set on which the prior pairs are compared")
    parser.add_argument("--sets", nargs="+", default=None,
                        help="evaluation sets in column order (default: order of first appearance)")
    parser.add_argument("--out", required=True, help="output Markdown file")
    return parser


def main(args: argparse.Namespace) -> None:
    from voxrecipes.metrics.emotion_results import make_emotion_results

    print(make_emotion_results(args.title, args.out, category=args.category, attributes=args.attributes,
                               prior_pairs=args.prior_pair, prior_set=args.prior_set, sets=args.sets), end="")


if __name__ == "__main__":
    run(main, get_parser())
