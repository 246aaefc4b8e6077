"""Fuse several systems' posteriors, tuned on Dev_bal (TalTech, Odyssey 2024, 3.3).

--method interpolation: grid search (step --step) of convex weights maximising macro-F1
on the tuning labels (ties: the first weight vector in grid order, i.e. the smallest
weight of the first system for two systems); with --task attributes, one weight vector
per attribute dimension maximising CCC (predictions in the posteriors format, header
'#classes valence arousal dominance', labels utt2attrs in the same column order).
--method logreg: multinomial logistic regression (L2, --C) on the concatenated
posteriors (--features log: their logs), trained on the tuning set; the model goes to <out_dir>/model/.

Writes, for every --apply set, <out_dir>/<OUT_NAME>/posteriors.txt (--task category) or
<out_dir>/<OUT_NAME>/attributes.txt (--task attributes: the file name of a single attribute
system, so that evaluate_attributes and write_submission --task attributes read a fused system
like any other), and <out_dir>/weights.json (chosen weights, grid step, tuning set and size,
tuning scores of each system and of the fusion; for logreg C, features and the model dir).
All inputs are checked before anything is written; category posteriors must be class
probabilities (non-negative rows summing to 1 within --sum_tolerance) unless --renormalise.

Example::

    python -m voxrecipes.bin.fuse_posteriors --method interpolation \\
        --tune exp/speech/dev_bal/posteriors.txt exp/text/dev_bal/posteriors.txt \\
        --tune_labels data/dev_bal/utt2category --out_dir exp/fusion_interp \\
        --apply test1=exp/speech/test1/posteriors.txt,exp/text/test1/posteriors.txt

    python -m voxrecipes.bin.fuse_posteriors --method interpolation --task attributes \\
        --tune exp/speech_attr/dev_bal/attributes.txt exp/text_attr/dev_bal/attributes.txt \\
        --tune_labels data/dev_bal/utt2attrs --out_dir exp/fusion_attr --system_names speech text \\
        --apply test1=exp/speech_attr/test1/attributes.txt,exp/text_attr/test1/attributes.txt
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from voxrecipes.cli import run
from voxrecipes.data.posteriors import add_probability_arguments

logger = logging.getLogger(__name__)

WEIGHTS_FILE = "weights.json"
#: File name of a fused set's output, per --task (the names single systems use).
OUTPUT_FILES = {"category": "posteriors.txt", "attributes": "attributes.txt"}
TIE_BREAK = "first maximum in grid order (numerators in ascending lexicographic order)"


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fuse_posteriors", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--method", choices=["interpolation", "logreg"], required=True, help="fusion method")
    parser.add_argument("--task", choices=["category", "attributes"], default="category",
                        help="category: macro-F1 on utt2category; attributes: per-dimension CCC on utt2attrs "
                             "(interpolation only)")
    parser.add_argument("--tune", nargs="+", required=True, help="each system's posteriors on the tuning set")
    parser.add_argument("--tune_labels", required=True, help="labels of the tuning set (data/dev_bal/utt2category)")
    parser.add_argument("--apply", nargs="*", default=[], metavar="OUT_NAME=SYS1,SYS2,...",
                        help="sets to fuse: the systems' posteriors files in the order of --tune")
    parser.add_argument("--out_dir", required=True,
                        help="where weights.json and <OUT_NAME>/posteriors.txt (category) or "
                             "<OUT_NAME>/attributes.txt (attributes) go")
    parser.add_argument("--system_names", nargs="*", default=None,
                        help="names of the systems in weights.json (default: the --tune paths)")
    parser.add_argument("--step", type=float, default=0.05, help="interpolation grid step (paper: 0.05)")
    parser.add_argument("--C", type=float, default=1.0, help="inverse L2 strength of the logreg fuser (paper: 1.0)")
    parser.add_argument("--features", choices=["prob", "log"], default="prob",
                        help="logreg input: the posteriors (default, the paper's) or log posteriors")
    add_probability_arguments(parser)
    return parser


def main(args: argparse.Namespace) -> None:
    import numpy as np

    from voxrecipes.data.posteriors import Posteriors, write_posteriors
    from voxrecipes.errors import ConfigError
    from voxrecipes.fileio import atomic_write
    from voxrecipes.fusion import interpolation
    from voxrecipes.fusion.align import align_systems, attribute_targets, category_targets, parse_apply_spec
    from voxrecipes.fusion.logreg import fit_logreg_fusion
    from voxrecipes.labels import ATTRIBUTES
    from voxrecipes.metrics.regression import ccc_per_dim

    if args.method == "logreg" and args.task == "attributes":
        raise ConfigError("--method logreg is for --task category; attributes are fused by interpolation")
    if args.renormalise and args.task == "attributes":
        raise ConfigError("--renormalise is for --task category: attribute predictions are not probabilities")
    names = list(args.system_names) if args.system_names else list(args.tune)
    if len(names) != len(args.tune) or len(set(names)) != len(names):
        raise ConfigError(f"--system_names needs {len(args.tune)} distinct names, got {names}")
    if args.method == "interpolation":
        interpolation.grid_size(args.step)

    # --- read and check every input before writing anything
    # Attribute columns are put in the order of utt2attrs (valence arousal dominance).
    attr_order = list(ATTRIBUTES) if args.task == "attributes" else None
    checks = {"probabilities": args.task == "category", "sum_tolerance": args.sum_tolerance,
              "renormalise": args.renormalise}
    utts, classes, tune_mats = align_systems(args.tune, classes=attr_order,
                                             classes_from=args.tune_labels if attr_order else None, **checks)
    applied = {}
    for spec in args.apply:
        name, files = parse_apply_spec(spec, len(args.tune))
        if name in applied or name == "model":
            raise ConfigError(f"--apply {spec}: output name '{name}' is repeated or reserved")
        set_utts, _, mats = align_systems(files, classes=classes, classes_from=args.tune[0], **checks)
        applied[name] = (set_utts, mats)

    out_dir = Path(args.out_dir)
    report = {"method": args.method, "task": args.task, "systems": names, "tune": list(args.tune),
              "tune_labels": args.tune_labels, "classes": classes, "num_tune": len(utts),
              "renormalised": bool(args.renormalise)}
    if args.task == "attributes":
        y = attribute_targets(args.tune_labels, utts, classes, args.tune[0])
        results = interpolation.tune_attributes(tune_mats, y, args.step)
        weights = np.stack([r.weights for r in results])
        fuse = lambda mats: interpolation.apply_per_dim(weights, mats)  # noqa: E731
        out_classes = classes
        report.update(step=args.step, tie_break=TIE_BREAK,
                      weights={d: dict(zip(names, map(float, r.weights))) for d, r in zip(classes, results)},
                      tune_ccc={"systems": {n: dict(zip(classes, map(float, ccc_per_dim(y, m))))
                                            for n, m in zip(names, tune_mats)},
                                "fused": {d: r.score for d, r in zip(classes, results)}})
    else:
        y = category_targets(args.tune_labels, utts, classes, args.tune[0])
        single = {n: interpolation.tuning_macro_f1(y, m) for n, m in zip(names, tune_mats)}
        if args.method == "interpolation":
            result = interpolation.tune_categories(tune_mats, y, args.step)
            fuse = lambda mats: interpolation.apply(result.weights, mats)  # noqa: E731
            out_classes, fused_f1 = classes, result.score
            report.update(step=args.step, tie_break=TIE_BREAK,
                          weights=dict(zip(names, map(float, result.weights))))
        else:
            model = fit_logreg_fusion(tune_mats, y, classes, names, C=args.C, features=args.features)
            fuse = model.predict_proba
            out_classes = model.classes
            y_fused = np.array([out_classes.index(classes[i]) for i in y])
            fused_f1 = interpolation.tuning_macro_f1(y_fused, fuse(tune_mats))
            model.save(out_dir / "model")
            report.update(step=None, weights=None, model_dir=str(out_dir / "model"), C=args.C,
                          features=args.features)
        report["tune_macro_f1"] = {"systems": single, "fused": fused_f1}
        logger.info("tuning macro-F1: %s; fused %.4f",
                    ", ".join(f"{n} {f:.4f}" for n, f in single.items()), fused_f1)

    outputs = {}
    for name, (set_utts, mats) in applied.items():
        path = out_dir / name / OUTPUT_FILES[args.task]
        write_posteriors(path, Posteriors(set_utts, out_classes, fuse(mats)))
        outputs[name] = str(path)
        logger.info("wrote %s (%d utterances)", path, len(set_utts))
    report["applied"] = outputs
    with atomic_write(out_dir / WEIGHTS_FILE) as handle:
        json.dump(report, handle, indent=2)
        handle.write("\n")
    logger.info("wrote %s", out_dir / WEIGHTS_FILE)


if __name__ == "__main__":
    run(main, get_parser())
