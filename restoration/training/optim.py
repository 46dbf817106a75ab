"""Optimisers and learning-rate schedulers by ``type`` name, and the exponential moving average of a network's
weights."""
from __future__ import annotations

from collections.abc import Iterable

import torch

from restoration.errors import OptionError

OPTIMIZERS = {"Adam": torch.optim.Adam, "AdamW": torch.optim.AdamW, "SGD": torch.optim.SGD,
              "Adamax": torch.optim.Adamax, "RMSprop": torch.optim.RMSprop}


def build_optimizer(optim_opt: dict, params: Iterable[torch.Tensor], where: str = "train.optim_*") \
        -> torch.optim.Optimizer:
    """``{type: Adam, lr: ..., ...}`` -> optimiser over ``params``; the option dict is not changed."""
    kw = dict(optim_opt)
    kind = kw.pop("type", None)
    if kind not in OPTIMIZERS:
        raise OptionError(f"{where}.type: unknown optimiser {kind!r} (choose from {', '.join(OPTIMIZERS)})")
    return OPTIMIZERS[kind](params, **kw)


def build_scheduler(optimizer: torch.optim.Optimizer, scheduler_opt: dict) -> torch.optim.lr_scheduler.LRScheduler:
    """``{type: CosineAnnealingRestartLR, periods: [...], ...}`` -> scheduler on ``optimizer``. A key set to ``~``
    is left out, so a file that inherits another's MultiStepLR can switch to a cosine schedule by unsetting
    ``milestones`` and ``gamma``."""
    from basicsr.models import lr_scheduler  # here, not at module level: basicsr's import is slow

    kw = {k: v for k, v in scheduler_opt.items() if v is not None}
    kind = kw.pop("type", None)
    classes = {"MultiStepLR": lr_scheduler.MultiStepRestartLR, "MultiStepRestartLR": lr_scheduler.MultiStepRestartLR,
               "CosineAnnealingRestartLR": lr_scheduler.CosineAnnealingRestartLR}
    if kind not in classes:
        raise OptionError(f"train.scheduler.type: unknown scheduler {kind!r} (choose from {', '.join(classes)})")
    return classes[kind](optimizer, **kw)


def adam(params: Iterable[torch.Tensor], lr: float, betas: tuple[float, float] = (0.9, 0.99)) -> torch.optim.Adam:
    """The fine-tunes' optimiser (RealESRNet's betas)."""
    return torch.optim.Adam(list(params), lr=lr, betas=tuple(float(b) for b in betas))  # type: ignore[arg-type]


class Ema:
    """``average <- decay * average + (1 - decay) * net``, over the parameters (BasicSR's ``model_ema``; buffers
    are not averaged). ``decay=0`` copies the network."""

    def __init__(self, net: torch.nn.Module, average: torch.nn.Module, decay: float) -> None:
        self.net, self.average, self.decay = net, average, float(decay)

    @torch.no_grad()
    def update(self, decay: float | None = None) -> None:
        d = self.decay if decay is None else float(decay)
        avg = dict(self.average.named_parameters())
        for k, p in _bare(self.net).named_parameters():
            avg[k].mul_(d).add_(p.detach(), alpha=1 - d)


def _bare(net: torch.nn.Module) -> torch.nn.Module:
    return net.module if isinstance(net, (torch.nn.DataParallel, torch.nn.parallel.DistributedDataParallel)) else net
