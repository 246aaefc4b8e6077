"""Text-injection losses of the voice-toxicity paper (Section 3.4).

x = MeanPool(h_proj(l_i(s))) is the mean-pooled, projected output of speech-encoder
layer i; y is the frozen text encoder's embedding of the transcript. Both losses pull
x towards y during training only; inference is audio only.

- :func:`mse_injection_loss` -- eq. (4), ``||x - y||^2``.
- :func:`contrastive_injection_loss` -- eq. (5), the multi-class N-pair loss (Sohn 2016)
  with cosine similarity and temperature tau; negatives are the batch's other
  transcripts and, optionally, those of every rank under ``torch.distributed``.
- :func:`combined_loss` -- eq. (1), ``alpha * L_cls + (1 - alpha) * L_text``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

_REDUCTIONS = ("sum", "mean")


def _check_pair(x: torch.Tensor, y: torch.Tensor) -> None:
    if x.dim() != 2 or y.dim() != 2 or x.shape != y.shape:
        raise ValueError(f"x and y must both be (N, D) with the same shape, got {tuple(x.shape)} and {tuple(y.shape)}")
    if x.shape[0] == 0:
        raise ValueError("empty batch")


def mse_injection_loss(x: torch.Tensor, y: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Eq. (4): the squared Euclidean distance ``||x_n - y_n||^2`` per example.

    The per-example value sums over the embedding dimension (a norm, not
    ``torch.nn.MSELoss``'s element mean); ``reduction`` ``"mean"`` (default) averages over
    the N examples of the batch, ``"sum"`` adds them up.
    """
    _check_pair(x, y)
    if reduction not in _REDUCTIONS:
        raise ValueError(f"reduction must be one of {_REDUCTIONS}, got {reduction!r}")
    per_example = (x - y).pow(2).sum(dim=-1)
    return per_example.mean() if reduction == "mean" else per_example.sum()


class _GatherWithGrad(torch.autograd.Function):
    """All-gather of rows along dim 0 whose backward hands each rank the sum over ranks of its slice's gradients.

    Ranks may hold different numbers of rows (the last batch of an epoch seldom splits
    evenly): each rank pads to the largest count for the collective and the padding is
    cut out again, so the result is the plain concatenation in rank order.
    ``torch.distributed.nn.functional.all_gather`` is not used: it is deprecated in torch
    2.12, needs equal sizes and, on gloo, implements its backward with ``all_to_all``,
    which aborts the process for float64 tensors; an ``all_reduce`` of the (small, N x D)
    gradient works for every backend and dtype.
    """

    @staticmethod
    def forward(ctx, t: torch.Tensor, sizes: list[int]) -> torch.Tensor:
        import torch.distributed as dist

        rank, most = dist.get_rank(), max(sizes)
        padded = torch.zeros((most, *t.shape[1:]), dtype=t.dtype, device=t.device)
        padded[:t.shape[0]] = t
        parts = [torch.empty_like(padded) for _ in sizes]
        dist.all_gather(parts, padded)
        ctx.start = sum(sizes[:rank])
        ctx.rows = sizes[rank]
        return torch.cat([p[:n] for p, n in zip(parts, sizes)], dim=0)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        import torch.distributed as dist

        grad = grad.contiguous().clone()
        dist.all_reduce(grad, op=dist.ReduceOp.SUM)
        return grad[ctx.start:ctx.start + ctx.rows], None


def _gather_with_grad(t: torch.Tensor) -> tuple[torch.Tensor, int]:
    """Concatenate ``t`` from all ranks (rank order) keeping the autograd graph; return it and this rank's offset.

    The backward sums the gradients every rank computed for a rank's slice and hands the
    sum back to that rank, so a negative drawn on another rank still trains the model
    that produced it.
    """
    import torch.distributed as dist

    counts = [torch.zeros(1, dtype=torch.long, device=t.device) for _ in range(dist.get_world_size())]
    dist.all_gather(counts, torch.tensor([t.shape[0]], device=t.device))
    sizes = [int(c) for c in counts]
    return _GatherWithGrad.apply(t, sizes), sum(sizes[:dist.get_rank()])


def contrastive_injection_loss(
    x: torch.Tensor,
    y: torch.Tensor,
    tau: float = 1.0,
    gather_all_ranks: bool = False,
    reduction: str = "sum",
) -> torch.Tensor:
    """Eq. (5), the multi-class N-pair contrastive loss with cosine similarity.

    ``L = - sum_{(s,t)} log( exp(sim(x, y)/tau) / sum_{t_j in A} exp(sim(x, y(t_j))/tau) )``
    with ``sim(a, b) = a^T b / (||a|| ||b||)`` and ``A`` the set of all transcripts of the
    batch (the pair's own transcript and the N-1 others). Row n of the similarity matrix
    ``S[n, j] = sim(x_n, y_j) / tau`` is scored by cross-entropy with target ``n`` (the
    diagonal). Speech is the anchor and transcripts the candidates, as in the paper; the
    loss is not symmetrised.

    ``reduction="sum"`` (default) is the paper's ``sum_{(s,t)}``; ``"mean"`` divides by
    the number of anchors on this rank.

    ``gather_all_ranks=True`` (under an initialised ``torch.distributed``) gathers the
    transcripts y of every rank with gradients, so each local x is contrasted with the
    N*world_size transcripts of the global batch. Only y has to be gathered: x appears
    only as the anchor of its own row, so rows of other ranks never involve this rank's
    x except through y, whose gradient the gather routes back. Scaling: each rank's loss
    covers its own anchors only; the sum over ranks of the ``"sum"`` losses is the
    single-process loss on the concatenated batch, and the gradient w.r.t. a rank's own
    inputs (after the gather's backward sums the other ranks' contributions) equals the
    single-process gradient of those rows. With ``"mean"``, weighting each rank's loss by
    its share of the global batch (``n_r / N``, what ESPnet's trainer does with the weight
    a model returns) gives the single-process mean-loss gradients, also when the batch
    splits unevenly over the ranks.
    """
    _check_pair(x, y)
    if reduction not in _REDUCTIONS:
        raise ValueError(f"reduction must be one of {_REDUCTIONS}, got {reduction!r}")
    if not tau > 0:
        raise ValueError(f"tau must be positive, got {tau}")
    offset = 0
    candidates = y
    if gather_all_ranks:
        import torch.distributed as dist

        if not (dist.is_available() and dist.is_initialized()):
            raise RuntimeError("gather_all_ranks=True needs an initialised torch.distributed process group")
        if dist.get_world_size() > 1:
            candidates, offset = _gather_with_grad(y)
    xn = F.normalize(x, dim=-1)
    yn = F.normalize(candidates, dim=-1)
    logits = xn @ yn.t() / tau
    targets = torch.arange(x.shape[0], device=x.device) + offset
    return F.cross_entropy(logits, targets, reduction=reduction)


def combined_loss(l_cls: torch.Tensor, l_text: torch.Tensor, alpha: float) -> torch.Tensor:
    """Eq. (1): ``alpha * l_cls + (1 - alpha) * l_text``; ``alpha = 1`` is the audio-only baseline."""
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must lie in [0, 1], got {alpha}")
    if alpha == 1.0:
        return l_cls  # the baseline needs no text (and a NaN in l_text must not leak in)
    return alpha * l_cls + (1.0 - alpha) * l_text
