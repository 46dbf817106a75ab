"""What one optimiser step consumes (:class:`Batch`) and what it reports (:class:`StepResult`)."""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

import torch
from torch import Tensor


@dataclass
class Batch:
    """Training pairs of one step. ``keys`` ([B] long, 0..K-1) say which task or group each sample counts for;
    None means one key for all. ``gt_usm`` is the sharpened GT of the GAN recipes (None: not used); ``extra`` holds
    further per-sample tensors a loss reads (e.g. a distillation teacher's output)."""

    lq: Tensor
    gt: Tensor
    keys: Tensor | None = None
    gt_usm: Tensor | None = None
    extra: dict[str, Tensor] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.lq.shape[0])

    def key_tensor(self) -> Tensor:
        """``keys``, or zeros (every sample in key 0)."""
        if self.keys is not None:
            return self.keys
        return torch.zeros(len(self), dtype=torch.long, device=self.lq.device)

    def target(self, name: str = "gt") -> Tensor:
        """``gt`` or ``gt_usm`` (the plain GT when no sharpened one was made)."""
        if name == "gt_usm" and self.gt_usm is not None:
            return self.gt_usm
        if name not in ("gt", "gt_usm"):
            raise ValueError(f"unknown target {name!r} (gt, gt_usm)")
        return self.gt

    def select(self, idx: Tensor) -> "Batch":
        """The samples ``idx`` (for a balancer's post-step re-evaluation)."""
        return Batch(self.lq[idx], self.gt[idx], None if self.keys is None else self.keys[idx],
                     None if self.gt_usm is None else self.gt_usm[idx], {k: v[idx] for k, v in self.extra.items()})


@dataclass
class StepResult:
    """One step's outcome: the network output (for a following discriminator step), the per-sample loss and its
    components (detached), the keys, the per-key loss sums and sample counts (detached, this process only) and the
    balancer's info dict (weights, ...)."""

    output: Tensor
    per_sample: Tensor
    keys: Tensor
    sums: Tensor
    counts: Tensor
    parts: OrderedDict[str, Tensor] = field(default_factory=OrderedDict)
    info: dict = field(default_factory=dict)

    def key_means(self) -> Tensor:
        """Mean loss per key ([K]; NaN for a key without samples)."""
        return self.sums / self.counts.to(self.sums.dtype)

    @property
    def loss(self) -> float:
        """Mean loss over the batch: the float32 sum divided on the host, as the training log computes it (a host
        sync: read it only when logging)."""
        return float(self.per_sample.sum()) / self.per_sample.numel()
