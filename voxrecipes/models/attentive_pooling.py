"""Attentive (statistics) pooling over time that gives padding frames zero weight.

The emotion model aggregates the frame outputs of its speech encoder with attentive
pooling: a small network scores every frame, a softmax over the *valid* frames turns
the scores into weights, and the pooled vector is the weighted mean (and, with
``stats=True``, the weighted standard deviation appended, as in attentive statistics
pooling). Padding frames are masked out before the softmax, so a clip pools to the
same vector whatever it was batched with.
"""

from __future__ import annotations

import torch
from torch import nn


class AttentivePooling(nn.Module):
    """``(B, T, D)`` frames + ``(B, T)`` mask -> ``(B, D)`` (or ``(B, 2D)`` with ``stats``).

    Args:
        input_dim: D, the frame dimension.
        attention_dim: hidden size of the frame-scoring network ``v^T tanh(W h + b)``.
        stats: append the attention-weighted standard deviation to the weighted mean.
    """

    def __init__(self, input_dim: int, attention_dim: int = 128, stats: bool = False, eps: float = 1e-6):
        super().__init__()
        self.input_dim = input_dim
        self.stats = stats
        self.eps = eps
        self.attention = nn.Sequential(nn.Linear(input_dim, attention_dim), nn.Tanh(), nn.Linear(attention_dim, 1))

    @property
    def output_dim(self) -> int:
        return 2 * self.input_dim if self.stats else self.input_dim

    def weights(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Attention weights ``(B, T)``: zero on padding, summing to 1 over each sequence's valid frames."""
        if x.dim() != 3 or x.shape[-1] != self.input_dim:
            raise ValueError(f"x must be (B, T, {self.input_dim}), got shape {tuple(x.shape)}")
        scores = self.attention(x).squeeze(-1)
        if mask is None:
            return torch.softmax(scores, dim=1)
        mask = torch.as_tensor(mask, device=x.device).bool()
        if mask.shape != x.shape[:2]:
            raise ValueError(f"mask shape {tuple(mask.shape)} does not match x's (B, T) {tuple(x.shape[:2])}")
        if bool((~mask.any(dim=1)).any()):
            raise ValueError("a sequence has no valid frame in the mask")
        scores = scores.masked_fill(~mask, float("-inf"))
        weights = torch.softmax(scores, dim=1)
        return weights.masked_fill(~mask, 0.0)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        w = self.weights(x, mask).unsqueeze(-1)
        # zero the padding frames too, so that inf/NaN padding cannot leak through 0 * x
        if mask is not None:
            x = x.masked_fill(~torch.as_tensor(mask, device=x.device).bool().unsqueeze(-1), 0.0)
        mean = (w * x).sum(dim=1)
        if not self.stats:
            return mean
        var = (w * x * x).sum(dim=1) - mean * mean
        std = torch.sqrt(var.clamp(min=self.eps))
        return torch.cat([mean, std], dim=-1)
