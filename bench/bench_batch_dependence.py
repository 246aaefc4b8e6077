"""Does a toxicity clip's score depend on the clips it is batched with? (issue 14 review, ``mask_conv_padding``)

Scores one trained dynamic-padding model's test set twice, the recipe's way (``batch_size`` length-sorted
chunks per forward pass) and one chunk per pass, and reports the largest and median per-clip difference of
the sigmoid scores. It does so with the model's ``mask_conv_padding`` switched on and off on the *same*
weights, so the difference between the two rows is the masking alone (fp32, so that bf16 rounding does
not blur it). Usage (a finished mini toxicity run)::

    PYTHONPATH=. OMP_NUM_THREADS=2 tools/venv/bin/python bench/bench_batch_dependence.py \\
        --exp_dir egs/mini_toxicity/tox1/exp/train_baseline --data egs/mini_toxicity/tox1/data/test
"""

from __future__ import annotations

import argparse

import numpy as np

from voxrecipes.tasks.toxicity import load_classifier
from voxrecipes.tasks.toxicity_scoring import score_data_dir


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--exp_dir", required=True, help="a train_toxicity directory trained with dynamic padding")
    parser.add_argument("--data", required=True, help="data directory to score")
    parser.add_argument("--batch_size", type=int, default=16, help="the recipe's chunks per forward pass")
    args = parser.parse_args()
    trained = load_classifier(args.exp_dir)
    if not trained.model.dynamic_padding:
        raise SystemExit(f"{args.exp_dir}: not a dynamic-padding model; its scores cannot depend on the batch")
    print("| mask_conv_padding | clips | max abs diff | median per clip | clips above 1e-3 |\n|---|---|---|---|---|")
    for mask in (False, True):
        trained.model.mask_conv_padding = mask
        batched = score_data_dir(trained, args.data, batch_size=args.batch_size, precision="fp32", progress=False)
        alone = score_data_dir(trained, args.data, batch_size=1, precision="fp32", progress=False)
        per_clip = np.abs(batched.matrix - alone.matrix).max(axis=1)
        print(f"| {mask} | {len(per_clip)} | {per_clip.max():.2g} | {np.median(per_clip):.2g} | "
              f"{int((per_clip > 1e-3).sum())} |")


if __name__ == "__main__":
    main()
