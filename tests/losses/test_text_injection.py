"""Text-injection losses against direct numpy computations, and the all-rank gather under 2 gloo processes."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp

from voxrecipes.losses import combined_loss, contrastive_injection_loss, mse_injection_loss


def _np_contrastive(x: np.ndarray, y: np.ndarray, tau: float) -> float:
    """Eq. (5) written out with loops: -sum_n log(exp(sim(x_n,y_n)/tau) / sum_j exp(sim(x_n,y_j)/tau))."""
    total = 0.0
    for n in range(len(x)):
        sims = [float(x[n] @ y[j]) / (np.linalg.norm(x[n]) * np.linalg.norm(y[j])) for j in range(len(y))]
        denom = sum(math.exp(s / tau) for s in sims)
        total -= math.log(math.exp(sims[n] / tau) / denom)
    return total


def test_mse_matches_numpy():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(5, 7)), rng.normal(size=(5, 7))
    per = [float(np.sum((x[n] - y[n]) ** 2)) for n in range(5)]
    tx, ty = torch.tensor(x), torch.tensor(y)
    assert mse_injection_loss(tx, ty).item() == pytest.approx(np.mean(per), rel=1e-12)
    assert mse_injection_loss(tx, ty, reduction="sum").item() == pytest.approx(np.sum(per), rel=1e-12)


@pytest.mark.parametrize("tau", [1.0, 0.1])
def test_contrastive_matches_loop(tau):
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(6, 5)), rng.normal(size=(6, 5))
    expected = _np_contrastive(x, y, tau)
    got = contrastive_injection_loss(torch.tensor(x), torch.tensor(y), tau=tau)
    assert got.item() == pytest.approx(expected, rel=1e-10)
    got_mean = contrastive_injection_loss(torch.tensor(x), torch.tensor(y), tau=tau, reduction="mean")
    assert got_mean.item() == pytest.approx(expected / 6, rel=1e-10)


def test_contrastive_scale_invariant_and_minimal_when_aligned():
    y = torch.eye(4)
    aligned = contrastive_injection_loss(3.0 * y, y, tau=0.05)
    shuffled = contrastive_injection_loss(y[[1, 2, 3, 0]], y, tau=0.05)
    assert aligned.item() < 1e-6 < shuffled.item()


def test_combined_loss():
    l_cls, l_text = torch.tensor(2.0), torch.tensor(10.0)
    assert combined_loss(l_cls, l_text, 0.1).item() == pytest.approx(0.1 * 2 + 0.9 * 10)
    assert combined_loss(l_cls, torch.tensor(float("nan")), 1.0).item() == 2.0
    with pytest.raises(ValueError):
        combined_loss(l_cls, l_text, 1.5)


def test_bad_shapes_and_no_process_group():
    with pytest.raises(ValueError):
        contrastive_injection_loss(torch.zeros(3, 4), torch.zeros(3, 5))
    with pytest.raises(RuntimeError, match="process group"):
        contrastive_injection_loss(torch.randn(3, 4), torch.randn(3, 4), gather_all_ranks=True)


def _worker(rank: int, world: int, init_file: str, x: torch.Tensor, y: torch.Tensor, tau: float, out_dir: str,
            sizes: list[int]):
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        start, stop = sum(sizes[:rank]), sum(sizes[:rank + 1])
        for reduction in ("sum", "mean"):
            xl = x[start:stop].clone().requires_grad_(True)
            yl = y[start:stop].clone().requires_grad_(True)
            loss = contrastive_injection_loss(xl, yl, tau=tau, gather_all_ranks=True, reduction=reduction)
            # ESPnet's trainer weights a rank's mean loss by its share of the global batch (n_r / N).
            weight = 1.0 if reduction == "sum" else (stop - start) / x.shape[0]
            (loss * weight).backward()
            torch.save({"loss": loss.detach(), "gx": xl.grad, "gy": yl.grad}, f"{out_dir}/{reduction}_{rank}.pt")
    finally:
        dist.destroy_process_group()


@pytest.mark.parametrize("sizes", [[4, 4], [5, 3]])
def test_gather_all_ranks_gradients_equal_single_process(tmp_path, sizes):
    world, tau = 2, 0.5
    torch.manual_seed(0)
    x, y = torch.randn(8, 6, dtype=torch.float64), torch.randn(8, 6, dtype=torch.float64)
    mp.spawn(_worker, args=(world, str(tmp_path / "init"), x, y, tau, str(tmp_path), sizes), nprocs=world, join=True)
    for reduction in ("sum", "mean"):
        xs, ys = x.clone().requires_grad_(True), y.clone().requires_grad_(True)
        full = contrastive_injection_loss(xs, ys, tau=tau, reduction=reduction)
        full.backward()
        parts = [torch.load(tmp_path / f"{reduction}_{r}.pt", weights_only=True) for r in range(world)]
        gx = torch.cat([p["gx"] for p in parts])
        gy = torch.cat([p["gy"] for p in parts])
        # "sum": per-rank losses add up to the full-batch loss, and each rank's input gradient
        # (the gather's backward already summed the other ranks' terms) is the full-batch gradient.
        # "mean": a rank's mean over its n_r anchors, weighted by n_r / N as ESPnet's trainer does, gives
        # the full-batch mean's gradients however unevenly the batch is split.
        torch.testing.assert_close(gx, xs.grad)
        torch.testing.assert_close(gy, ys.grad)
        if reduction == "sum":
            torch.testing.assert_close(sum(p["loss"] for p in parts), full.detach())
        if reduction == "sum":
            grad_x_sum = gx
    # guard the test's power: rank 0 alone, without the other rank's negatives, gives a different gradient
    n0 = sizes[0]
    x0 = x[:n0].clone().requires_grad_(True)
    contrastive_injection_loss(x0, y[:n0], tau=tau).backward()
    assert not torch.allclose(x0.grad, grad_x_sum[:n0], atol=1e-3)
