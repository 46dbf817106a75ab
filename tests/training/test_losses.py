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


def test_pooled_l1mse_squares_the_block_means_of_the_error():
    out, gt = _pair()
    l1 = pixel_loss_per_sample(out, gt, {"type": "L1Loss"})
    pooled = pixel_loss_per_sample(out, gt, {"type": "L1MSELoss", "mse_weight": 30.0, "mse_pool": 4})
    block_means = (out - gt).reshape(3, 3, 2, 4, 2, 4).mean((3, 5))
    torch.testing.assert_close(pooled, l1 + 30.0 * (block_means ** 2).flatten(1).mean(1))


def test_pooled_l1mse_corrects_an_offset_and_leaves_zero_mean_detail_to_l1():
    target = torch.zeros(1, 1, 4, 4)
    checker = (torch.arange(4)[:, None] + torch.arange(4)[None]) % 2 * 0.4 - 0.2  # block mean 0
    grads = []
    for error in (checker, checker + 0.1):
        out = error.reshape(1, 1, 4, 4).clone().requires_grad_(True)
        pixel_loss_per_sample(out, target, {"type": "L1MSELoss", "mse_weight": 10.0, "mse_pool": 4}).sum().backward()
        assert out.grad is not None
        grads.append(out.grad)
    torch.testing.assert_close(grads[0], torch.sign(checker).reshape(1, 1, 4, 4) / 16)  # L1 alone
    # the offset of 0.1 adds the same pull to every pixel: 2 * 10 * 0.1 / 16
    torch.testing.assert_close(grads[1] - grads[0], torch.full((1, 1, 4, 4), 2 * 10 * 0.1 / 16))


@pytest.mark.parametrize("bad", [0, 2.0, "8", True])
def test_a_bad_mse_pool_is_refused_by_name(bad):
    with pytest.raises(OptionError, match="train.pixel_opt.mse_pool: an integer >= 1"):
        PixelLoss({"type": "L1MSELoss", "mse_pool": bad})


def test_a_pool_larger_than_the_output_is_refused_by_name():
    out, gt = _pair()  # 8 x 8 px
    with pytest.raises(OptionError, match=r"train.pixel_opt.mse_pool: 16 is larger than the network's output \(8x8"):
        pixel_loss_per_sample(out, gt, {"type": "L1MSELoss", "mse_pool": 16})


def test_unknown_pixel_loss_is_refused_by_name():
    with pytest.raises(OptionError, match="train.pixel_opt.type: 'L2Loss'"):
        PixelLoss({"type": "L2Loss"})


@pytest.mark.parametrize("bad", ["10", -1.0, True])
def test_a_bad_mse_weight_is_refused_by_name(bad):
    with pytest.raises(OptionError, match="train.pixel_opt.mse_weight: a number >= 0"):
        PixelLoss({"type": "L1MSELoss", "mse_weight": bad})


def test_psnr_loss_is_each_samples_shortfall_from_100_db():
    out, gt = _pair()
    mse = ((out - gt) ** 2).flatten(1).mean(1)
    loss = pixel_loss_per_sample(out, gt, {"type": "PSNRLoss", "loss_weight": 0.5})
    assert loss.shape == (3,)
    assert bool((loss > 0).all())
    torch.testing.assert_close(loss, 0.5 * (100 + 10 * torch.log10(mse)), rtol=1e-6, atol=1e-4)


def test_psnr_loss_weighs_each_sample_by_its_inverse_mse():
    """Each sample's MSE gradient divided by its MSE: an error ten times smaller (MSE 100 times smaller) pulls ten
    times harder, not ten times less as with MSE, so one dB is worth the same on every sample."""
    target = torch.zeros(2, 1, 1, 1)
    out = torch.tensor([0.01, 0.1]).reshape(2, 1, 1, 1).requires_grad_(True)
    pixel_loss_per_sample(out, target, {"type": "PSNRLoss"}).sum().backward()
    assert out.grad is not None
    near, far = out.grad.flatten().tolist()
    assert near == pytest.approx(10 / torch.log(torch.tensor(10.0)).item() * 2 / 0.01, rel=1e-4)
    assert near / far == pytest.approx(10.0, rel=1e-4)
