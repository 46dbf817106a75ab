"""Per-sample training losses: every loss here returns one value per sample (``[B]``), so the balancer can reduce
it per task or group. A loss object is called as ``loss(output, batch) -> (per_sample, parts)``: ``parts`` holds
the detached components the log shows."""
from __future__ import annotations

from collections import OrderedDict
from typing import Protocol

import torch
import torch.nn.functional as F
from torch import Tensor

from restoration.errors import OptionError
from restoration.training.batch import Batch

PIXEL_LOSSES = ("L1Loss", "MSELoss", "CharbonnierLoss", "L1MSELoss", "PSNRLoss")
PSNR_CEILING_DB = 100.0  # PSNRLoss counts the dB a sample falls short of this


class PerSampleLoss(Protocol):
    def __call__(self, output: Tensor, batch: Batch) -> tuple[Tensor, OrderedDict[str, Tensor]]: ...


def pixel_loss_per_sample(out: Tensor, target: Tensor, loss_opt: dict) -> Tensor:
    """Per-sample pixel loss ``[B]`` (mean over C, H, W) times ``loss_weight``: L1Loss, MSELoss, CharbonnierLoss, or
    L1MSELoss = |d| + ``mse_weight`` d^2, which keeps L1's constant pull on small errors (a clean photo's fine detail)
    while large errors (texture the input cannot carry) are pulled toward their mean, as MSE does.

    With ``mse_pool: k`` (> 1) the squared term is taken on the means of the error over k x k blocks: L1 aims at the
    per-pixel median, which on a skewed texture (bright needles on a dark floor) makes the whole region darker than
    the photo; the pooled term corrects that local brightness toward the mean, and leaves the detail inside a block,
    whose block mean is zero, to L1.

    PSNRLoss is each sample's PSNR deficit, 10 log10(1 + MSE / 1e-10) = 100 dB - PSNR (the mean PSNR over inputs is
    what the tables report): within a sample it aims at the mean, as MSE does, and across samples it weighs each by
    1 / MSE, so a near-clean input's last dB counts as much as a heavily degraded one's, where plain MSE lets the
    large errors of heavy degradations outweigh them. Positive, so loss-ratio balancers (DWA, GradNorm) apply."""
    kind = loss_opt.get("type", "L1Loss")
    weight = float(loss_opt.get("loss_weight", 1.0))
    if kind == "L1Loss":
        d = (out - target).abs()
    elif kind == "MSELoss":
        d = (out - target) ** 2
    elif kind == "L1MSELoss":
        diff = out - target
        pool = mse_pool(loss_opt)
        if pool == 1:
            d = diff.abs() + mse_weight(loss_opt) * diff ** 2
        else:  # two means over C, H, W, one per term
            if pool > min(diff.shape[-2:]):
                raise OptionError(f"train.pixel_opt.mse_pool: {pool} is larger than the network's output "
                                  f"({diff.shape[-2]}x{diff.shape[-1]} px)")
            low = F.avg_pool2d(diff, pool)
            return (diff.abs().flatten(1).mean(1) + mse_weight(loss_opt) * (low ** 2).flatten(1).mean(1)) * weight
    elif kind == "PSNRLoss":
        mse = ((out - target) ** 2).flatten(1).mean(1)
        return 10 * torch.log10(1 + mse * 10 ** (PSNR_CEILING_DB / 10)) * weight
    elif kind == "CharbonnierLoss":
        d = torch.sqrt((out - target) ** 2 + float(loss_opt.get("eps", 1e-12)))
    else:
        raise OptionError(f"train.pixel_opt.type: {kind!r} is not supported ({', '.join(PIXEL_LOSSES)})")
    return d.flatten(1).mean(1) * weight


def mse_weight(loss_opt: dict) -> float:
    """``mse_weight`` of an L1MSELoss (default 1): a number >= 0, else one OptionError naming the key."""
    value = loss_opt.get("mse_weight", 1.0)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise OptionError(f"train.pixel_opt.mse_weight: a number >= 0, got {value!r}")
    return float(value)


def mse_pool(loss_opt: dict) -> int:
    """``mse_pool`` of an L1MSELoss (default 1: per pixel): an integer >= 1, else one OptionError naming the key."""
    value = loss_opt.get("mse_pool", 1)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise OptionError(f"train.pixel_opt.mse_pool: an integer >= 1, got {value!r}")
    return value


def gan_loss_per_sample(pred: Tensor, target_is_real: bool, gan_type: str, is_disc: bool = False) -> Tensor:
    """Per-sample GAN loss ``[B]`` (mean over the discriminator's output map), as BasicSR's GANLoss."""
    pred = pred.flatten(1)
    if gan_type == "hinge" and is_disc:
        return F.relu(1 - pred).mean(1) if target_is_real else F.relu(1 + pred).mean(1)
    if gan_type == "vanilla":
        target = torch.ones_like(pred) if target_is_real else torch.zeros_like(pred)
        return F.binary_cross_entropy_with_logits(pred, target, reduction="none").mean(1)
    if gan_type == "lsgan":
        return ((pred - float(target_is_real)) ** 2).mean(1)
    if gan_type == "hinge":  # generator side: -D(x)
        return -pred.mean(1)
    raise OptionError(f"train.gan_opt.gan_type: {gan_type!r} is not supported (vanilla, lsgan, hinge)")


class PixelLoss:
    """``train.pixel_opt`` as a per-sample loss against ``batch.gt`` (or ``gt_usm``); logged as ``name``."""

    def __init__(self, opt: dict | None = None, target: str = "gt", name: str = "l_pix") -> None:
        self.opt = dict(opt or {"type": "L1Loss", "loss_weight": 1.0})
        if self.opt.get("type", "L1Loss") not in PIXEL_LOSSES:
            raise OptionError(f"train.pixel_opt.type: {self.opt['type']!r} is not supported "
                              f"({', '.join(PIXEL_LOSSES)})")
        if self.opt.get("type") == "L1MSELoss":
            mse_weight(self.opt)
            mse_pool(self.opt)
        self.target, self.name = target, name

    def __call__(self, output: Tensor, batch: Batch) -> tuple[Tensor, OrderedDict[str, Tensor]]:
        loss = pixel_loss_per_sample(output, batch.target(self.target), self.opt)
        return loss, OrderedDict([(self.name, loss.detach())])

    def __repr__(self) -> str:
        return f"PixelLoss({self.opt}, target={self.target!r})"
