"""Shared pieces of the competition pipeline: per-task validation sets, PSNR-Y, and a compact fine-tune loop.

PSNR-Y is ``restoration.metrics.psnr`` (BasicSR definition, Y channel, crop_border 4) on uint8 images; validation
LQ images are synthesised once per task from a generator seeded by (seed, task id), so the frozen and fine-tuned
networks are scored on identical inputs.
"""
from __future__ import annotations

import copy
from typing import Callable, Sequence

import numpy as np
import torch

from restoration.degradations import DegradationTask, degrade
from restoration.metrics import psnr
from restoration.mtl.competition import task_seed
from restoration.mtl.competition_data import PatchSource


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """(B, 3, H, W) in [0, 1] → (B, H, W, 3) uint8, rounded like BasicSR's tensor2img."""
    return (x.detach().clamp(0, 1).mul(255).round().byte().permute(0, 2, 3, 1).cpu().numpy())


def validation_lq(val_gt: torch.Tensor, task: DegradationTask, seed: int, scale: int = 4) -> torch.Tensor:
    """The validation GT crops degraded with ``task`` (noise from a generator seeded by seed and task id)."""
    gen = torch.Generator(device=val_gt.device).manual_seed(task_seed(seed + 7919, task))
    return degrade(val_gt, [task] * val_gt.shape[0], generator=gen, scale=scale)


@torch.no_grad()
def psnr_y(net: torch.nn.Module, lq: torch.Tensor, gt_u8: np.ndarray, batch: int = 8, crop_border: int = 4) -> float:
    """Mean PSNR-Y of ``net(lq)`` against uint8 GT images."""
    was_training = net.training
    net.eval()
    outs = [net(lq[i:i + batch]) for i in range(0, lq.shape[0], batch)]
    net.train(was_training)
    sr = to_uint8(torch.cat(outs))
    return float(np.mean([psnr(a, b, crop_border=crop_border, y_channel=True) for a, b in zip(sr, gt_u8)]))


def finetune(base: torch.nn.Module, tasks: Sequence[DegradationTask], source: PatchSource, iters: int, *,
             batch_size: int, lr: float = 2e-4, betas: tuple[float, float] = (0.9, 0.99), seed: int = 0,
             progress: Callable[[int], None] | None = None) -> torch.nn.Module:
    """A copy of ``base`` fine-tuned with L1 + Adam on ``tasks`` (each sample draws one task uniformly).

    One generator seeded by ``seed`` drives task choice, crops and noise; the batch is degraded task by task.
    """
    net = copy.deepcopy(base)
    net.train()
    for p in net.parameters():
        p.requires_grad_(True)
    opt = torch.optim.Adam(net.parameters(), lr=lr, betas=betas)
    gen = torch.Generator(device=source.device).manual_seed(int(seed))
    tasks = list(tasks)
    for it in range(int(iters)):
        pick = torch.randint(0, len(tasks), (batch_size,), generator=gen, device=gen.device).tolist()
        lqs, gts = [], []
        for k in sorted(set(pick)):
            lq, gt = source.batch(tasks[k], pick.count(k), gen)
            lqs.append(lq)
            gts.append(gt)
        lq, gt = torch.cat(lqs), torch.cat(gts)
        loss = (net(lq) - gt).abs().mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if progress is not None:
            progress(it + 1)
    net.eval()
    for p in net.parameters():
        p.requires_grad_(False)
    return net
