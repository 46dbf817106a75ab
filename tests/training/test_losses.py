"""Pixel losses: each type is the per-sample formula it names, and a wrong type is one clear OptionError."""
import pytest
import torch

from restoration.errors import OptionError
from restoration.training.losses import PixelLoss, pixel_loss_per_sample


def _pair():
    g = torch.Generator().manual_seed(0)
    return torch.rand(3, 3, 8, 8, generator=g), torch.rand(3, 3, 8, 8, generator=g)


def test_l1mse_is_l1_plus_weighted_mse_per_sample():
    out, gt = _pair()
    l1 = pixel_loss_per_sample(out, gt, {"type": "L1Loss"})
    mse = pixel_loss_per_sample(out, gt, {"type": "MSELoss"})
    mixed = pixel_loss_per_sample(out, gt, {"type": "L1MSELoss", "mse_weight": 10.0, "loss_weight": 0.5})
    assert mixed.shape == (3,)
    torch.testing.assert_close(mixed, 0.5 * (l1 + 10.0 * mse))


def test_l1mse_pulls_small_errors_like_l1_and_large_ones_like_mse():
    target = torch.zeros(1, 1, 1, 2)
    out = torch.tensor([[[[0.01, 0.2]]]], requires_grad=True)
    pixel_loss_per_sample(out, target, {"type": "L1MSELoss", "mse_weight": 10.0}).sum().backward()
    assert out.grad is not None
    small, large = out.grad.flatten().tolist()
    assert small == pytest.approx((1 + 10 * 2 * 0.01) / 2)  # mostly the L1 term
    assert large == pytest.approx((1 + 10 * 2 * 0.2) / 2)  # the MSE term dominates


def test_unknown_pixel_loss_is_refused_by_name():
    with pytest.raises(OptionError, match="train.pixel_opt.type: 'L2Loss'"):
        PixelLoss({"type": "L2Loss"})


@pytest.mark.parametrize("bad", ["10", -1.0, True])
def test_a_bad_mse_weight_is_refused_by_name(bad):
    with pytest.raises(OptionError, match="train.pixel_opt.mse_weight: a number >= 0"):
        PixelLoss({"type": "L1MSELoss", "mse_weight": bad})
