"""Train the voice-toxicity classifier (Whisper encoder, BCE, optional text injection) with ESPnet's trainer.

Every ESPnet training option works (``--config conf/train_toxicity.yaml``, ``--ngpu``,
``--resume``, ``--use_amp``, ``--batch_type``, ...; ``--print_config`` lists them).
Before handing over to ESPnet this entry point checks the data: every training and
validation utterance must have a label vector and, when ``alpha < 1``, a transcript
embedding; a missing one is an error naming both files. It also fills in
``--text_dim`` from the embeddings and, with ``--warmup_ratio``, the linear warm-up /
linear decay schedule over the run's number of optimiser steps.

Example (one process; for several, launch with ``torchrun --nproc_per_node N`` and
add ``--dist_backend gloo`` on CPUs)::

    python -m voxrecipes.bin.train_toxicity --config conf/train_toxicity.yaml --output_dir exp/tox_contrastive \\
        --train_data_path_and_name_and_type dump/raw/train/wav.scp,speech,sound \\
        --train_data_path_and_name_and_type dump/raw/train/labels,labels,text_float \\
        --train_data_path_and_name_and_type dump/text_emb/train/text_emb.scp,text_emb,kaldi_ark \\
        --train_shape_file dump/raw/train/speech_shape \\
        --valid_data_path_and_name_and_type dump/raw/dev/wav.scp,speech,sound \\
        --valid_data_path_and_name_and_type dump/raw/dev/labels,labels,text_float \\
        --valid_shape_file dump/raw/dev/speech_shape
"""

from __future__ import annotations

import argparse
import logging
import math
import sys
from collections.abc import Sequence

from voxrecipes.errors import ConfigError, DataError, VoxError
from voxrecipes.tasks.data_checks import check_covers, data_paths, table_keys

logger = logging.getLogger(__name__)


def check_data(entries: Sequence[Sequence[str]], need_text: bool, phase: str) -> dict[str, str]:
    """Check that every utterance of the speech list is in every other list; return ``name -> path``."""
    paths = data_paths(entries, ("speech", "labels"), phase)
    if need_text and phase == "train" and "text_emb" not in paths:
        raise ConfigError("alpha < 1 needs the transcript embeddings: add "
                          "--train_data_path_and_name_and_type <text_emb.scp>,text_emb,kaldi_ark")
    for name in paths:
        if name != "speech":
            check_covers(paths, name, "transcript embedding" if name == "text_emb" else name)
    return paths


def text_dim_of(scp: str) -> int:
    """Dimension of the first vector of an embeddings scp."""
    import kaldiio

    with open(scp, encoding="utf-8") as handle:
        first = handle.readline().split(maxsplit=1)
    if len(first) != 2:
        raise DataError(scp, 1, "expected '<utt> <ark>:<offset>'")
    vector = kaldiio.load_mat(first[1].strip())
    return int(vector.shape[-1])


def linear_warmup_schedule(args: argparse.Namespace, num_train: int) -> dict:
    """linearwarmupdecaylr steps: every group's lr rises from 0 over warmup_ratio of the steps, then falls to 0."""
    lr = (args.optim_conf or {}).get("lr")
    if lr is None:
        raise ConfigError("--warmup_ratio needs optim_conf.lr")
    if not 0 < args.warmup_ratio < 1:
        raise ConfigError(f"--warmup_ratio must lie in (0, 1), got {args.warmup_ratio}")
    if args.num_iters_per_epoch:
        batches = args.num_iters_per_epoch
    elif args.batch_type in ("unsorted", "sorted", "folded"):
        batches = math.ceil(num_train / args.batch_size)
    else:
        raise ConfigError("--warmup_ratio needs batch_type unsorted/sorted/folded or --num_iters_per_epoch "
                          "(the number of steps must be known before training)")
    # Under DDP ESPnet splits each batch over the ranks, so the step count does not depend on the world size.
    total = max(1, args.max_epoch * math.ceil(batches / args.accum_grad))
    warmup = max(1, round(args.warmup_ratio * total))
    return {"warmup_steps": warmup, "total_steps": max(total, warmup + 1)}


def main(cmd: Sequence[str] | None = None) -> None:
    from voxrecipes.tasks.toxicity import ToxicityTask

    parser = ToxicityTask.get_parser()
    parser.prog = "train_toxicity"
    parser.description = __doc__
    args = parser.parse_args(cmd)
    try:
        need_text = args.alpha < 1.0
        paths = check_data(args.train_data_path_and_name_and_type, need_text, "train")
        check_data(args.valid_data_path_and_name_and_type, False, "valid")
        if args.text_dim is None:
            args.text_dim = text_dim_of(paths["text_emb"]) if "text_emb" in paths else 1024
        if args.warmup_ratio is not None:
            args.scheduler = "linearwarmupdecaylr"  # voxrecipes.tasks.toxicity_schedule: per-group lrs
            args.scheduler_conf = linear_warmup_schedule(args, len(table_keys(paths["speech"])))
        ToxicityTask.main(args=args)
    except VoxError as err:
        print(f"ERROR: {err}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
