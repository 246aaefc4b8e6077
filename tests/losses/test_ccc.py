import numpy as np
import pytest
import torch

from voxrecipes.losses.ccc import ccc, neg_mean_ccc_loss
from voxrecipes.metrics.regression import ccc_per_dim


def test_ccc_matches_numpy_reference():
    rng = np.random.default_rng(0)
    t = rng.uniform(1, 7, size=(50, 3))
    p = 0.6 * t + rng.normal(0, 0.8, size=(50, 3)) + 0.3
    got = ccc(torch.tensor(p, dtype=torch.float64), torch.tensor(t, dtype=torch.float64)).numpy()
    np.testing.assert_allclose(got, ccc_per_dim(t, p), rtol=1e-6)


def test_ccc_direct_formula_and_identity():
    x = torch.tensor([1.0, 2.0, 3.0, 4.0])
    y = torch.tensor([2.0, 2.0, 4.0, 5.0])
    mx, my = x.mean(), y.mean()
    cov = ((x - mx) * (y - my)).mean()
    expected = 2 * cov / (x.var(unbiased=False) + y.var(unbiased=False) + (mx - my) ** 2)
    assert torch.allclose(ccc(y, x), expected, atol=1e-6)
    assert torch.allclose(ccc(x, x), torch.tensor(1.0), atol=1e-6)
    assert torch.allclose(ccc(5 - x, x), torch.tensor(-1.0), atol=1e-6)  # same mean, mirrored


def test_loss_value_and_gradients_flow():
    torch.manual_seed(0)
    target = torch.rand(16, 3) * 6 + 1
    pred = torch.randn(16, 3, requires_grad=True)
    loss = neg_mean_ccc_loss(pred, target)
    expected = -ccc_per_dim(target.numpy(), pred.detach().numpy()).mean()
    assert abs(loss.item() - expected) < 1e-5
    loss.backward()
    assert pred.grad is not None and torch.isfinite(pred.grad).all() and pred.grad.abs().sum() > 0
    # a gradient step raises the CCC
    with torch.no_grad():
        stepped = pred - 0.5 * pred.grad
    assert neg_mean_ccc_loss(stepped, target) < loss


def test_bad_shapes():
    with pytest.raises(ValueError, match="differ"):
        ccc(torch.zeros(4, 3), torch.zeros(4, 2))
    with pytest.raises(ValueError, match="at least 2"):
        neg_mean_ccc_loss(torch.zeros(1, 3), torch.zeros(1, 3))
