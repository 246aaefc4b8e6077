"""Evaluate attribute predictions against utt2attrs: CCC of valence, arousal and dominance and their mean,
each with a bootstrap 95% CI, and a predicted-vs-true scatter plot. Writes <out_dir>/metrics.json and
<out_dir>/scatter.png.

The predictions file has the posteriors format with a header naming the attributes
('#classes valence arousal dominance', any column order), values on the 1-7 scale; every
utterance of --labels needs a row, rows of other utterances are ignored. Predictions outside
1-7 are counted in metrics.json, not clipped.

Example::

    python -m voxrecipes.bin.evaluate_attributes --predictions exp/attr/dev_bal/attributes.txt \
        --labels data/dev_bal/utt2attrs --out_dir exp/attr/dev_bal/eval --set_name dev_bal
"""

from __future__ import annotations

import argparse

from voxrecipes.cli import run


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="evaluate_attributes", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--predictions", required=True,
                        help="attribute predictions ('#classes valence arousal dominance' header, any order)")
    parser.add_argument("--labels", required=True, help="utt2attrs (valence arousal dominance, 1-7)")
    parser.add_argument("--out_dir", required=True, help="where metrics.json and scatter.png go")
    parser.add_argument("--num_bootstrap", type=int, default=1000, help="bootstrap resamples for the 95%% CIs")
    parser.add_argument("--seed", type=int, default=0, help="seed of the bootstrap resampling")
    parser.add_argument("--set_name", default="", help="name of the evaluation set (default: out_dir's name)")
    return parser


def main(args: argparse.Namespace) -> None:
    from voxrecipes.metrics.attributes import evaluate_attributes

    evaluate_attributes(args.predictions, args.labels, args.out_dir, num_bootstrap=args.num_bootstrap,
                        seed=args.seed, set_name=args.set_name)


if __name__ == "__main__":
    run(main, get_parser())
