"""Evaluate multi-label toxicity scores against a data directory: AP per class, mAP over the toxic classes,
95% bootstrap CIs (resamples of utterances), the same per language (utt2lang) and the counts.
Writes <out_dir>/metrics.json (atomically; nothing is written when an input is bad).

The scores file has the header '#classes <c1> <c2> ...' and one row of per-class (sigmoid)
probabilities per utterance; every utterance of <data>/utt2labels needs a row, extra rows are
ignored (and counted).

Example::

    python -m voxrecipes.bin.evaluate_toxicity --scores exp/whisper_contrastive/test/scores.txt \\
        --data data/test --out_dir exp/whisper_contrastive/test \\
        --ap_classes Profanity Dating_Sexting Racist Bullying --num_bootstrap 1000 --seed 0
"""

from __future__ import annotations

import argparse

from voxrecipes.cli import run
from voxrecipes.labels import TOXIC_AP_CLASSES


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="evaluate_toxicity", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scores", required=True, help="scores file ('#classes ...' header, one row per utterance)")
    parser.add_argument("--data", required=True, help="data directory with utt2labels (and utt2lang for the "
                                                      "per-language breakdown)")
    parser.add_argument("--out_dir", required=True, help="where metrics.json goes")
    parser.add_argument("--ap_classes", nargs="+", default=list(TOXIC_AP_CLASSES),
                        help="classes averaged into mAP, in table order (default: the paper's four toxic classes)")
    parser.add_argument("--num_bootstrap", type=int, default=1000, help="bootstrap resamples for the CIs")
    parser.add_argument("--seed", type=int, default=0, help="seed of the bootstrap resampling")
    parser.add_argument("--alpha", type=float, default=5.0,
                        help="the CI spans the alpha/2 to 100-alpha/2 percentiles (5: a 95%% CI)")
    parser.add_argument("--set_name", default=None, help="name of the evaluation set (default: the data dir's name)")
    parser.add_argument("--detection_class", default=None,
                        help="also the binary detection metrics of this class (AUC, and precision/recall/F1 at a "
                             "threshold; MuTox): the threshold is tuned on this set for the highest F1, unless "
                             "--threshold_from or --threshold gives it")
    parser.add_argument("--threshold_from", default=None,
                        help="metrics.json (or its directory) of the validation set, whose tuned threshold is used")
    parser.add_argument("--threshold", type=float, default=None, help="the detection threshold itself")
    return parser


def threshold_of(path: str) -> tuple[float, str]:
    """The detection threshold (and its description) recorded in a metrics.json by --detection_class."""
    from pathlib import Path

    from voxrecipes.errors import DataError
    from voxrecipes.jsonio import read_json_object
    from voxrecipes.metrics.toxicity import METRICS_FILE

    file = Path(path)
    if file.is_dir():
        file = file / METRICS_FILE
    det = read_json_object(file, "metrics file not found; evaluate the validation set first",
                           "expected a JSON object (a metrics.json of evaluate_toxicity)").get("detection")
    if not isinstance(det, dict) or "threshold" not in det:
        raise DataError(file, None, "no detection threshold; evaluate it with --detection_class")
    return float(det["threshold"]), f"from {file} ({det.get('threshold_source', 'given')})"


def main(args: argparse.Namespace) -> None:
    from voxrecipes.errors import ConfigError
    from voxrecipes.metrics.toxicity import evaluate_toxicity, write_metrics

    threshold, source = args.threshold, None
    if args.threshold_from is not None:
        if threshold is not None:
            raise ConfigError("give --threshold or --threshold_from, not both")
        threshold, source = threshold_of(args.threshold_from)
    if threshold is not None and args.detection_class is None:
        raise ConfigError("--threshold/--threshold_from need --detection_class")
    metrics = evaluate_toxicity(args.scores, args.data, ap_classes=args.ap_classes, num_bootstrap=args.num_bootstrap,
                                seed=args.seed, alpha=args.alpha, set_name=args.set_name,
                                detection_class=args.detection_class, threshold=threshold, threshold_source=source)
    write_metrics(metrics, args.out_dir)


if __name__ == "__main__":
    run(main, get_parser())
