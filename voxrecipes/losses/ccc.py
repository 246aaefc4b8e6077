"""Concordance correlation coefficient as a differentiable training loss.

The attribute model of the emotion recipe is trained with the negative mean CCC of
the batch over valence, arousal and dominance. Moments are population (1/N) moments,
matching :func:`voxrecipes.metrics.regression.ccc`, the numpy metric used to score.
"""

from __future__ import annotations

import torch


def ccc(pred: torch.Tensor, target: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """CCC per dimension of ``(B,)`` or ``(B, D)`` tensors -> scalar or ``(D,)``.

    ``eps`` keeps the denominator away from zero when both columns are constant and
    equal (a batch of one, for instance); it does not change the value otherwise.
    """
    if pred.shape != target.shape:
        raise ValueError(f"pred and target shapes differ: {tuple(pred.shape)} vs {tuple(target.shape)}")
    if pred.dim() not in (1, 2) or pred.shape[0] < 1:
        raise ValueError(f"need (B,) or (B, D) tensors with B >= 1, got {tuple(pred.shape)}")
    target = target.to(pred.dtype)
    mp, mt = pred.mean(dim=0), target.mean(dim=0)
    dp, dt = pred - mp, target - mt
    cov = (dp * dt).mean(dim=0)
    var_p = (dp * dp).mean(dim=0)
    var_t = (dt * dt).mean(dim=0)
    return 2.0 * cov / (var_p + var_t + (mp - mt) ** 2 + eps)


def neg_mean_ccc_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``-mean_d CCC_d`` of ``(B, 3)`` predictions and targets (valence, arousal, dominance order free)."""
    if pred.dim() != 2:
        raise ValueError(f"pred must be (B, D), got {tuple(pred.shape)}")
    if pred.shape[0] < 2:
        raise ValueError(f"CCC of a batch needs at least 2 items, got {pred.shape[0]}")
    return -ccc(pred, target).mean()
