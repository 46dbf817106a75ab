"""The balancer interface and the per-key loss plumbing every balancing method shares: key reduction, global
statistics under DDP, gradient sync, :class:`Balancer` and the plain :class:`MeanBalancer`.

Kept apart from :mod:`restoration.balancers.registry` (the factory) so the method modules import their base without
importing the factory that imports them. Read the factory's docstring for the conventions.
"""
from __future__ import annotations

import contextlib
from typing import Any, Sequence

import torch
from torch import Tensor

from restoration.dist import all_reduce_grads, is_distributed
from restoration.errors import OptionError

OVER_CHOICES = ("groups", "tasks")
DEFAULT_MAX_TASKS = 16


# ----------------------------------------------------------------------------------------------------------
# keys and per-key reduction
def reduce_losses(per_sample: Tensor, keys: Tensor, num_keys: int) -> tuple[Tensor, Tensor]:
    """Per-key loss sums (differentiable) and sample counts, from a ``[B]`` loss and ``[B]`` long keys."""
    if per_sample.dim() != 1 or keys.shape != per_sample.shape:
        raise ValueError(f"per_sample and keys must both be [B]; got {tuple(per_sample.shape)} and {tuple(keys.shape)}")
    keys = keys.to(device=per_sample.device, dtype=torch.long)
    if keys.numel() and (int(keys.min()) < 0 or int(keys.max()) >= num_keys):
        raise ValueError(f"keys must lie in 0..{num_keys - 1}; got {int(keys.min())}..{int(keys.max())}")
    sums = torch.zeros(num_keys, dtype=per_sample.dtype, device=per_sample.device).scatter_add(0, keys, per_sample)
    counts = torch.bincount(keys, minlength=num_keys)
    return sums, counts


def num_keys_for(over: str, num_bank_tasks: int, num_bank_groups: int) -> int:
    """K for a sampler: ``groups`` -> 1 + number of bank groups (key 0 = G0 random space);
    ``tasks`` -> number of bank tasks + 1 (the last key, K-1, collects every fresh random-space sample)."""
    if over == "groups":
        return 1 + num_bank_groups
    if over == "tasks":
        return num_bank_tasks + 1
    raise OptionError(f"train.balancing.over: must be one of {OVER_CHOICES}, got {over!r}")


def batch_keys(task: Tensor, group: Tensor, over: str, num_bank_tasks: int) -> Tensor:
    """Keys of a batch from the dataset's ``task`` (bank index, -1 = G0) and ``group`` (0 = G0) fields."""
    if over == "groups":
        return group.long()
    if over == "tasks":
        task = task.long()
        return torch.where(task < 0, torch.full_like(task, num_bank_tasks), task)
    raise OptionError(f"train.balancing.over: must be one of {OVER_CHOICES}, got {over!r}")


# ----------------------------------------------------------------------------------------------------------
# torch.distributed helpers (no-ops in a single process)
def global_stats(sums: Tensor, counts: Tensor) -> tuple[Tensor, Tensor]:
    """Detached per-key loss sums and counts over all ranks (one all-reduce of a [2, K] buffer)."""
    buf = torch.stack([sums.detach().to(torch.float64), counts.detach().to(device=sums.device, dtype=torch.float64)])
    if is_distributed():
        import torch.distributed as dist

        dist.all_reduce(buf, op=dist.ReduceOp.SUM)
    return buf[0].to(sums.dtype), buf[1]


def all_reduce_(t: Tensor) -> Tensor:
    """In-place SUM all-reduce when distributed."""
    if is_distributed():
        import torch.distributed as dist

        dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t


def sync_grads(params: Sequence[Tensor]) -> None:
    """SUM all-reduce of the ``.grad`` of ``params`` through one flat buffer (missing grads count as 0)."""
    all_reduce_grads(list(params))


# ----------------------------------------------------------------------------------------------------------
# base class
class Balancer:
    """Combines per-key losses into one gradient. Subclasses set ``TYPE`` and ``DEFAULTS`` (their options)."""

    TYPE = "base"
    DEFAULTS: dict[str, Any] = {}
    CHOICES: dict[str, tuple] = {"reduction": ("mean", "sum"), "scale_mode": ("min", "median", "rmse"),
                                 "layer": ("last", "all"), "rescale": (0, 1, 2)}
    needs_after_step = False

    def __init__(self, opt: dict | None = None) -> None:
        from restoration.schema.balancing import check_balancing

        # the caller's dict is never changed; types, choices and unknown keys are checked by the schema
        self.opt = check_balancing(self.TYPE, dict(opt or {}), {"over": "groups", **self.DEFAULTS},
                                   {"over": OVER_CHOICES, **self.CHOICES})
        self.over = str(self.opt["over"])

    # -- main entry -------------------------------------------------------------------------------------
    def watch(self, net: torch.nn.Module, keys: Tensor | None = None) -> contextlib.AbstractContextManager:
        """Context for the network's forward pass (``keys``: per-sample key of this rank's batch). Only gradient
        methods at ``level: representation`` use it, to record the representation; for the rest it does nothing."""
        return contextlib.nullcontext()

    def backward(self, sums: Tensor, counts: Tensor, shared_params: Sequence[Tensor]) -> dict:
        """Write the combined gradient of the global per-key mean losses into ``.grad``; return logging info."""
        raise NotImplementedError

    def after_step_samples(self, batch_size: int) -> Tensor:
        """Which samples of this step's batch the post-step hook needs re-evaluated (default: all of them)."""
        return torch.arange(batch_size)

    def after_step(self, sums_after: Tensor, counts_after: Tensor, sums_before: Tensor | None = None,
                   counts_before: Tensor | None = None) -> None:
        """Post-step hook (FAMO): per-key sums/counts of the samples ``after_step_samples`` named, re-evaluated
        with the updated net, and (optionally) the same samples' losses from the step itself."""

    # -- state ----------------------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        return {"type": self.TYPE}

    def load_state_dict(self, d: dict) -> None:
        if d.get("type", self.TYPE) != self.TYPE:
            raise OptionError(f"train.balancing.type: resume state is for {d.get('type')!r}, not {self.TYPE!r}")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.opt})"

    # -- helpers -------------------------------------------------------------------------------------------
    @staticmethod
    def _means(sums: Tensor, counts: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Global (sums, counts) -> (mean losses [K] detached, global counts [K], present mask [K])."""
        gsum, gcnt = global_stats(sums, counts)
        present = gcnt > 0
        losses = torch.where(present, gsum / gcnt.clamp_min(1).to(gsum.dtype), torch.zeros_like(gsum))
        return losses, gcnt.to(sums.dtype), present


class MeanBalancer(Balancer):
    """Plain batch mean over all samples (Real-ESRGAN): weights = counts / total. Bit-identical to
    ``per_sample.mean().backward()`` in one process."""

    TYPE = "mean"

    def backward(self, sums: Tensor, counts: Tensor, shared_params: Sequence[Tensor]) -> dict:
        losses, gcnt, present = self._means(sums, counts)
        total = gcnt.sum()
        (sums.sum() / total).backward()
        sync_grads(shared_params)
        return {"weights": gcnt / total, "losses": losses, "counts": gcnt}


def log_scalars(info: dict, names: Sequence[str] | None = None, prefix: str = "balancing/") -> dict[str, float]:
    """Flatten a ``backward`` info dict into scalars for tensorboard: per-key weights and gradient norms
    (named by ``names``, e.g. group names; keys with no sample are skipped) and the conflict summary
    (``cos_mean_neg`` = mean over key pairs of min(cos, 0), ``cos_min``, ``conflict_frac``, ``update_norm``)."""
    out: dict[str, float] = {}
    counts = info.get("counts")
    for field, tag in (("weights", "w"), ("grad_norms", "grad_norm")):
        vals = info.get(field)
        if vals is None:
            continue
        for k, v in enumerate(vals.tolist()):
            if (counts is None or float(counts[k]) > 0) and v == v:  # skip absent keys and NaN (undefined)
                out[f"{prefix}{tag}/{names[k] if names is not None and k < len(names) else k}"] = float(v)
    for key in ("cos_mean_neg", "cos_min", "conflict_frac", "update_norm"):
        if key in info:
            out[prefix + key] = float(info[key])
    return out
