"""Pooling over time that ignores padding frames.

Batches of variable-length clips are padded to a common length; a plain ``x.mean(1)``
would average the padding in and make a clip's embedding depend on what it was batched
with. :func:`masked_mean` averages only the valid frames of each sequence.
"""

from __future__ import annotations

import torch


def lengths_to_mask(lengths: torch.Tensor, max_len: int) -> torch.Tensor:
    """``(B,)`` integer lengths -> ``(B, max_len)`` boolean mask, True on valid frames."""
    lengths = torch.as_tensor(lengths)
    if lengths.dim() != 1:
        raise ValueError(f"lengths must be 1-D (B,), got shape {tuple(lengths.shape)}")
    if bool((lengths < 1).any()):
        raise ValueError(f"every sequence needs at least one valid frame, got lengths {lengths.tolist()}")
    if bool((lengths > max_len).any()):
        raise ValueError(f"lengths {lengths.tolist()} exceed the padded length {max_len}")
    positions = torch.arange(max_len, device=lengths.device)
    return positions.unsqueeze(0) < lengths.unsqueeze(1)


def masked_mean(
    x: torch.Tensor, lengths: torch.Tensor | None = None, mask: torch.Tensor | None = None
) -> torch.Tensor:
    """Mean of ``x`` ``(B, T, D)`` over the valid frames of each sequence -> ``(B, D)``.

    Give exactly one of ``lengths`` ``(B,)`` (frames ``0..lengths[b]-1`` are valid) or
    ``mask`` ``(B, T)`` (True/1 on valid frames). Padding frames contribute nothing,
    neither to the sum nor to the count.
    """
    if x.dim() != 3:
        raise ValueError(f"x must be (B, T, D), got shape {tuple(x.shape)}")
    if (lengths is None) == (mask is None):
        raise ValueError("give exactly one of lengths or mask")
    if mask is None:
        mask = lengths_to_mask(torch.as_tensor(lengths, device=x.device), x.shape[1])
    mask = torch.as_tensor(mask, device=x.device)
    if mask.shape != x.shape[:2]:
        raise ValueError(f"mask shape {tuple(mask.shape)} does not match x's (B, T) {tuple(x.shape[:2])}")
    weights = mask.to(x.dtype).unsqueeze(-1)
    counts = weights.sum(dim=1)
    if bool((counts == 0).any()):
        raise ValueError("a sequence has no valid frame in the mask")
    return (x * weights).sum(dim=1) / counts
