"""Distillation from a cached teacher: extra samples with a teacher output, and L1 to that output.

``train.distill_opt`` (GAN stage)::

    distill_opt:
      loss_weight: 1.0          # weight of mean |output - teacher| per cached sample
      per_batch: 2              # cached samples appended to every training batch
      teacher: realesrgan-x4plus  # zoo name or weight file of the teacher (x scale of the recipe)
      num_samples: 2048         # size of the cache
      seed: 0                   # the cache's own draw of patches and tasks
      cache_dir: .cache/distill # where restoration.data.distill_cache writes and training reads it
      targets: gt               # or teacher: the teacher output is also the cached samples' gt_usm target
      context: 0                # LQ px of the degraded image the teacher sees around each patch
      tasks: space              # or dataset: the training dataset's task draw (its bank share) for the patches

Each iteration appends ``per_batch`` cached (LQ, GT, teacher) samples, chosen by a generator seeded with the
run's seed and the batch's first sample position (a resumed run draws the same ones). They are ordinary training
samples (pixel, perceptual and GAN losses against their GT, the task and group labels stored in the cache) plus the
distillation term, which is zero for the samples synthesised on the fly. ``l_distill`` in the log is that term's
batch mean (its share of ``l_g_total``). That L1 term is small beside the perceptual loss (which dominates a GAN
step); with ``targets: teacher`` the cached samples' sharpened target (``gt_usm``: pixel and perceptual losses) is
the teacher's output instead of the sharpened GT, while the discriminator keeps the real GT.
"""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import torch

from restoration.errors import OptionError


def check_distill_opt(d: Any) -> dict:
    """``train.distill_opt`` checked against its schema (restoration.schema.distill), defaults filled in; one
    OptionError naming the key."""
    from restoration.schema.base import check
    from restoration.schema.distill import Distill

    if d is None:
        raise OptionError("train.distill_opt: missing")
    return check(Distill, d, "train.distill_opt").model_dump()


class DistillTarget:
    """The loaded cache of a recipe, the per-batch draw and the per-sample distillation loss."""

    def __init__(self, opt: Mapping, cache: Any, device: torch.device, usm=None) -> None:
        """``opt``: the training options; ``cache``: their loaded cache (restoration.data.distill_cache)."""
        d = check_distill_opt(opt["train"].get("distill_opt"))
        self.weight, self.per_batch = float(d["loss_weight"]), int(d["per_batch"])
        self.seed = int(opt.get("manual_seed") or 0)
        self.device, self.usm, self.cache = device, usm, cache
        self.teacher_targets = d["targets"] == "teacher"

    def append(self, batch: dict, position: int) -> dict:
        """``batch`` (lq, gt, gt_usm, task, group) with ``per_batch`` cached samples appended, plus ``teacher``
        (zeros where there is none) and ``from_cache`` (bool per sample)."""
        extra = self.cache.draw(np.random.default_rng([self.seed, int(position), 0xD157]), self.per_batch, self.device)
        n, k = batch["lq"].shape[0], extra["lq"].shape[0]
        if self.teacher_targets:
            gt_usm = extra["teacher"]
        else:
            gt_usm = self.usm(extra["gt"]) if self.usm is not None else extra["gt"]
        out = {"lq": torch.cat([batch["lq"], extra["lq"]]), "gt": torch.cat([batch["gt"], extra["gt"]]),
               "gt_usm": torch.cat([batch["gt_usm"], gt_usm]),
               "task": torch.cat([batch["task"], extra["task"]]), "group": torch.cat([batch["group"], extra["group"]]),
               "teacher": torch.cat([torch.zeros_like(batch["gt"]), extra["teacher"]])}
        out["from_cache"] = torch.arange(n + k, device=self.device) >= n
        return out

    def loss(self, output: torch.Tensor, teacher: torch.Tensor, from_cache: torch.Tensor) -> torch.Tensor:
        """Per-sample ``weight * mean |output - teacher|`` for cached samples, 0 for the others ``[B]``."""
        per = (output - teacher).abs().flatten(1).mean(1)
        return per * from_cache.to(per.dtype) * self.weight
