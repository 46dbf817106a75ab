"""Shared pieces of the competition pipeline: per-task validation sets, PSNR-Y, and the joint fine-tune.

PSNR-Y is ``restoration.metrics.psnr`` (BasicSR definition, Y channel, crop_border 4) on uint8 images; validation
LQ images are synthesised once per task from a generator seeded by (seed, task id), so the frozen and fine-tuned
networks are scored on identical inputs.
"""
from __future__ import annotations

import copy
from typing import Callable, Sequence

import numpy as np
import torch

from restoration.competition.data import PatchSource
from restoration.competition.probe import task_seed
from restoration.degradations import DegradationTask, degrade
from restoration.metrics import psnr
from restoration.training import TrainStep
from restoration.training.sources import MixedTaskSource


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


def finetune_step(base: torch.nn.Module, tasks: Sequence[DegradationTask], source: PatchSource, *, batch_size: int,
                  lr: float = 2e-4, betas: tuple[float, float] = (0.9, 0.99), seed: int = 0
                  ) -> tuple[TrainStep, MixedTaskSource]:
    """A trainable copy of ``base`` in an L1 + Adam :class:`TrainStep` (batch mean), and its batches: each sample
    draws one of ``tasks`` uniformly, one generator seeded by ``seed`` drives task choice, crops and noise."""
    net = copy.deepcopy(base)
    net.train()
    for p in net.parameters():
        p.requires_grad_(True)
    tasks = list(tasks)
    return (TrainStep.adam(net, lr, betas, num_keys=len(tasks)),
            MixedTaskSource(source, tasks, batch_size, seed))


def finetune(base: torch.nn.Module, tasks: Sequence[DegradationTask], source: PatchSource, iters: int, *,
             batch_size: int, lr: float = 2e-4, betas: tuple[float, float] = (0.9, 0.99), seed: int = 0,
             progress: Callable[[int], None] | None = None) -> torch.nn.Module:
    """A copy of ``base`` fine-tuned for ``iters`` steps of :func:`finetune_step`, frozen and in eval mode."""
    step, batches = finetune_step(base, tasks, source, batch_size=batch_size, lr=lr, betas=betas, seed=seed)
    step.run(batches, iters, on_step=None if progress is None else lambda t, _: progress(t + 1))
    net = step.net.eval()
    for p in net.parameters():
        p.requires_grad_(False)
    return net
