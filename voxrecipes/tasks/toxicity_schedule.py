"""The paper's learning-rate schedule (linear warm-up over 10% of the steps, then linear decay) for several lrs.

ESPnet's ``piecewiselinearwarmuplr`` interpolates absolute learning rates, so every
parameter group would get the same one. Training a pretrained encoder with new layers
on top on a small budget wants a higher learning rate for the new layers (the heads)
than for the pretrained ones; :class:`LinearWarmupDecayLR` scales each group's own
initial lr by the same factor instead::

    factor(step) = step / warmup_steps                                 (step < warmup_steps)
                 = (total_steps - step) / (total_steps - warmup_steps)  (then, down to 0)

It is a batch-step scheduler for ESPnet's trainer and is registered under the name
``linearwarmupdecaylr`` in ESPnet's scheduler choices when this module is imported
(:mod:`voxrecipes.tasks.toxicity` imports it before building its parser).
"""

from __future__ import annotations

import torch
from espnet2.schedulers.abs_scheduler import AbsBatchStepScheduler
from torch.optim.lr_scheduler import LRScheduler

from voxrecipes.errors import ConfigError

#: the name ``--scheduler`` takes
SCHEDULER_NAME = "linearwarmupdecaylr"


def warmup_decay_factor(step: int, warmup_steps: int, total_steps: int) -> float:
    """The lr multiplier after ``step`` optimizer steps (0 at step 0, 1 at the end of warm-up, 0 at the end)."""
    if step < warmup_steps:
        return step / warmup_steps
    return max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))


class LinearWarmupDecayLR(LRScheduler, AbsBatchStepScheduler):
    """Every group's lr = its initial lr x :func:`warmup_decay_factor` (stepped once per optimizer step)."""

    def __init__(self, optimizer: torch.optim.Optimizer, warmup_steps: int, total_steps: int,
                 last_epoch: int = -1):
        if not 1 <= warmup_steps < total_steps:
            raise ConfigError(f"linearwarmupdecaylr needs 1 <= warmup_steps < total_steps, got warmup_steps="
                              f"{warmup_steps}, total_steps={total_steps}")
        self.warmup_steps = int(warmup_steps)
        self.total_steps = int(total_steps)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        # last_epoch counts the steps taken; the lr set now is the one of the next step (1-based, as ESPnet's)
        factor = warmup_decay_factor(self.last_epoch + 1, self.warmup_steps, self.total_steps)
        return [base * factor for base in self.base_lrs]

    def step(self, epoch: int | None = None) -> None:  # AbsBatchStepScheduler's signature
        super().step()

    def state_dict(self) -> dict:
        return {"last_epoch": self.last_epoch, "base_lrs": list(self.base_lrs)}

    def load_state_dict(self, state: dict) -> None:
        """Resume at the saved step on *this* run's schedule (a resumed run may train more epochs).

        The warm-up and total steps come from the resumed run's config, not the checkpoint,
        so that raising ``max_epoch`` stretches the decay instead of leaving the lr at 0.
        The optimizer's lrs (loaded before the scheduler by ESPnet) are set for the next step.
        """
        self.last_epoch = int(state["last_epoch"])
        self.base_lrs = list(state["base_lrs"])
        lrs = self.get_lr()
        for group, lr in zip(self.optimizer.param_groups, lrs, strict=True):
            group["lr"] = lr
        self._last_lr = lrs


def register() -> None:
    """Add :class:`LinearWarmupDecayLR` to ESPnet's scheduler choices (idempotent)."""
    from espnet2.tasks import abs_task

    abs_task.scheduler_classes.setdefault(SCHEDULER_NAME, LinearWarmupDecayLR)
