"""Distributed set-up for training: gloo on CPU, NCCL on CUDA, from torchrun's environment variables.

BasicSR's ``init_dist`` always picks NCCL and calls ``torch.cuda.set_device``, so it cannot run on a CPU
machine; this module replaces it (and only it). Rank and world size are then read back with BasicSR's own
``get_dist_info``, so the rest of BasicSR (loggers, ``master_only``) keeps working.
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import timedelta

import torch
import torch.distributed as dist

from restoration.errors import OptionError

_TORCHRUN_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


def pick_backend(device_type: str) -> str:
    """NCCL for CUDA devices (when torch has it), gloo otherwise."""
    if device_type == "cuda" and dist.is_nccl_available():
        return "nccl"
    return "gloo"


def init_distributed(device_type: str, backend: str | None = None, timeout_s: int = 1800) -> tuple[int, int]:
    """Join the process group torchrun set up; return (rank, world_size).

    ``device_type`` is "cuda" or "cpu": with CUDA each process uses GPU ``LOCAL_RANK``.
    """
    missing = [v for v in _TORCHRUN_VARS if v not in os.environ]
    if missing:
        raise OptionError(
            f"--launcher pytorch needs torchrun's environment ({', '.join(missing)} not set): start with "
            "`torchrun --nproc_per_node N -m restoration.train -opt FILE.yml --launcher pytorch`")
    if dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    local_rank = int(os.environ["LOCAL_RANK"])
    if device_type == "cuda":
        torch.cuda.set_device(local_rank % max(torch.cuda.device_count(), 1))
    backend = backend or pick_backend(device_type)
    dist.init_process_group(backend=backend, timeout=timedelta(seconds=timeout_s))
    return dist.get_rank(), dist.get_world_size()


def is_distributed() -> bool:
    """True when a process group with more than one process is running."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def broadcast_module(module: torch.nn.Module, src: int = 0) -> None:
    """Copy parameters and buffers of ``module`` from rank ``src`` to every rank (no-op in one process)."""
    if not is_distributed():
        return
    with torch.no_grad():
        for t in list(module.parameters()) + list(module.buffers()):
            dist.broadcast(t.data, src=src)


def all_reduce_grads(params: Sequence[torch.Tensor], average: bool = False) -> None:
    """SUM (or mean) of ``.grad`` over ranks through one flat buffer; a missing grad counts as zeros."""
    if not is_distributed():
        return
    params = [p for p in params if p.requires_grad]
    grads = []
    for p in params:
        if p.grad is None:
            p.grad = torch.zeros_like(p)
        grads.append(p.grad)
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat, op=dist.ReduceOp.SUM)
    if average:
        flat /= dist.get_world_size()
    offset = 0
    for p, g in zip(params, grads):
        n = p.numel()
        g.copy_(flat[offset:offset + n].view_as(p))
        offset += n


def all_reduce_mean_grads(params: list[torch.nn.Parameter]) -> None:
    """Average ``.grad`` over ranks (for networks outside the balancer, e.g. the discriminator)."""
    all_reduce_grads(params, average=True)


def all_reduce_mean(values: torch.Tensor) -> torch.Tensor:
    """Mean of a tensor over ranks (for logging); returns a new tensor."""
    out = values.detach().clone()
    if is_distributed():
        dist.all_reduce(out, op=dist.ReduceOp.SUM)
        out /= dist.get_world_size()
    return out


def barrier() -> None:
    if is_distributed():
        dist.barrier()


def destroy() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
