"""ESPnet's trainer with a validation metric computed over the whole validation set.

ESPnet averages per-batch statistics, which is right for losses but not for AP,
macro-F1 or CCC: the metric of a set is not the mean of its batches' metrics. Models
used with this trainer keep each evaluation batch's ``(outputs, targets)`` in a
``collected`` list (only when not training); after ESPnet's validation loop the trainer
concatenates them, gathers them from every DDP rank, and reports the values of
:meth:`SetLevelTrainer.set_metrics` (e.g. ``valid/mAP``, ``valid/macro_f1``) for
``--best_model_criterion``.
"""

from __future__ import annotations

import numpy as np
import torch
from espnet2.train.trainer import Trainer


class SetLevelTrainer(Trainer):
    """Subclasses say which numbers to report from the whole set's outputs and targets."""

    @classmethod
    def set_metrics(cls, model, outputs: np.ndarray, targets: np.ndarray) -> dict[str, float]:
        raise NotImplementedError

    @classmethod
    def validate_one_epoch(cls, model, iterator, reporter, options, distributed_option) -> None:
        core = model.module if hasattr(model, "module") else model
        core.collected = []
        super().validate_one_epoch(model, iterator, reporter, options, distributed_option)
        if not core.collected:
            return
        outputs = torch.cat([o for o, _ in core.collected]).numpy()
        targets = torch.cat([t for _, t in core.collected]).numpy()
        core.collected = []
        if distributed_option.distributed:
            import torch.distributed as dist

            parts: list = [None] * dist.get_world_size()
            dist.all_gather_object(parts, (outputs, targets))
            outputs = np.concatenate([p[0] for p in parts])
            targets = np.concatenate([p[1] for p in parts])
        reporter.register(cls.set_metrics(core, outputs, targets))
        reporter.next()
