"""Validation pairs made once, deterministically: held-out GT images degraded with fixed tasks.

Image i gets task ``i % num_tasks``; the tasks come from a bank file (``tasks.bank``: its first ``num_tasks``) or
are sampled from the default Real-ESRGAN space with ``tasks.seed``; the noise of image i comes from a generator
seeded with ``tasks.seed + i``. So every validation of every run sees the same LQ images and PSNR/SSIM curves
are comparable across runs. ``crop_size`` (optional) keeps a centre crop to bound validation time.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from basicsr.utils.registry import DATASET_REGISTRY
from torch.utils import data as tdata

from restoration.data.gt_image_dataset import ImageSource


def centre_crop(img, size: int | None, scale: int):
    """Centre crop to ``size`` (when given), then crop to a multiple of ``scale``."""
    h, w = img.shape[:2]
    if size:
        th, tw = min(h, size), min(w, size)
        top, left = (h - th) // 2, (w - tw) // 2
        img = img[top:top + th, left:left + tw]
        h, w = th, tw
    return img[: h - h % scale, : w - w % scale]


@DATASET_REGISTRY.register()  # pyright: ignore[reportOptionalCall]  # basicsr's Registry.register() is untyped
class DegradedValDataset(tdata.Dataset):
    """Items: ``lq``, ``gt`` (3, H, W) float RGB, ``lq_path``/``gt_path`` (the GT path), ``task_id``."""

    def __init__(self, opt: dict[str, Any]) -> None:
        super().__init__()
        from restoration.degradations import DegradationSpace, TaskBank, degrade

        self.opt = opt
        scale = int(opt.get("scale", 4))
        source = ImageSource(opt, "val")
        tasks_opt = dict(opt.get("tasks") or {})
        seed = int(tasks_opt.get("seed", 0))
        n = int(tasks_opt.get("num_tasks", 4))
        if tasks_opt.get("bank"):
            tasks = TaskBank.load(tasks_opt["bank"]).tasks[:n]
        else:
            tasks = DegradationSpace.from_opt(None).sample_many(n, seed)
        self.items = []
        for i, path in enumerate(source.paths):
            img = centre_crop(source.read(i), opt.get("crop_size"), scale)
            gt = torch.from_numpy(img.transpose(2, 0, 1).copy())
            task = tasks[i % len(tasks)]
            gen = torch.Generator().manual_seed(seed + i)
            lq = degrade(gt[None], [task], generator=gen, scale=scale)[0]
            self.items.append({"lq": lq, "gt": gt, "lq_path": str(path), "gt_path": str(path),
                               "task_id": task.task_id, "name": Path(path).stem})

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict:
        return dict(self.items[index])
