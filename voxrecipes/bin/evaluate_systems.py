"""Evaluate every system registered under an experiment directory on every set, in one process.

For each system (exp/*/system.json, RESULTS.md row order; see voxrecipes.bin.list_systems)
and each --sets set it has an output for: a category system's posteriors are scored
against <data_root>/<set>/utt2category exactly as voxrecipes.bin.evaluate_classification
scores them (--classes, --num_bootstrap, --seed; metrics.json and confusion.png), an
attribute system's predictions against <data_root>/<set>/utt2attrs as
voxrecipes.bin.evaluate_attributes does (metrics.json and scatter.png), each into the
system's evaluation directory for the set. The outputs are those of one process per
system and set (the recipes' stage 15 before); one process pays the imports (scikit-learn,
SciPy, matplotlib: about 1.5 s each) once instead of once per evaluation.

Example::

    python -m voxrecipes.bin.evaluate_systems --exp_dir exp --sets dev_bal dev_filt test1 \
        --classes A S H U F D C N --num_bootstrap 1000 --seed 0
"""

from __future__ import annotations

import argparse

from voxrecipes.cli import run


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="evaluate_systems", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--exp_dir", required=True, help="the recipe's experiment directory (systems registered)")
    parser.add_argument("--sets", nargs="+", required=True, help="sets to evaluate (systems without one skip it)")
    parser.add_argument("--data_root", default="data", help="where <set>/utt2category and <set>/utt2attrs are")
    parser.add_argument("--classes", nargs="*", default=None,
                        help="category systems: evaluated classes and their order (default: each posterior header)")
    parser.add_argument("--num_bootstrap", type=int, default=1000, help="bootstrap resamples for the 95%% CIs")
    parser.add_argument("--seed", type=int, default=0, help="seed of the bootstrap resampling")
    return parser


def main(args: argparse.Namespace) -> None:
    import logging
    from pathlib import Path

    from voxrecipes.metrics.attributes import evaluate_attributes
    from voxrecipes.metrics.evaluate import evaluate_classification
    from voxrecipes.registry import scan

    logger = logging.getLogger("evaluate_systems")
    data_root = Path(args.data_root)
    count = 0
    for system in scan(args.exp_dir):
        for set_name in args.sets:
            if set_name not in system.outputs:
                continue
            output, eval_dir = system.output(set_name), system.eval_dir(set_name)
            if system.kind == "category":
                evaluate_classification(output, data_root / set_name / "utt2category", eval_dir,
                                        classes=args.classes, num_bootstrap=args.num_bootstrap, seed=args.seed,
                                        set_name=set_name)
            else:
                evaluate_attributes(output, data_root / set_name / "utt2attrs", eval_dir,
                                    num_bootstrap=args.num_bootstrap, seed=args.seed, set_name=set_name)
            count += 1
    logger.info("evaluated %d system outputs of %s on %s", count, args.exp_dir, " ".join(args.sets))


if __name__ == "__main__":
    run(main, get_parser())
