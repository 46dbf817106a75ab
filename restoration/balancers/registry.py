"""Gradient balancing across degradation tasks / task groups: the one hook the training model calls.

The model reduces its per-sample loss to per-key sums and counts (:func:`reduce_losses`; a key is a task
group or a bank task, see :func:`batch_keys`) and hands them to ``balancer.backward``. The balancer turns
them into *global* per-key mean losses, combines them and leaves the final gradient in ``.grad``.

Why the balancer owns the distributed sync: gradient-aggregation methods need the K per-key gradients of
the *global* batch before they combine them, which DDP's bucketed all-reduce of one summed gradient cannot
give. So ``net_g`` is not wrapped in DDP; the balancer all-reduces (SUM) the per-key loss sums and counts,
back-propagates each rank's share ``sum_k w_k * local_sum_k / global_count_k`` (or the per-key gradient
rows), and all-reduces the gradients, so every rank applies the same update as one process would on the
global batch.

Families (``type:``): ``mean`` (default, plain batch mean = Real-ESRGAN), loss weighting (one backward:
``ew uw dwa rlw gls gradnorm famo imtl_l``, in :mod:`restoration.balancers.weighting`) and gradient
aggregation on the K×d matrix of per-key gradients (``pcgrad cagrad mgda imtl_g nash_mtl aligned_mtl upgrad
gradvac graddrop``, in :mod:`restoration.balancers.gradient`; ``level: representation`` takes them w.r.t. the
input of the network's tail instead, :mod:`restoration.balancers.representation`).

Convention: run the forward pass inside ``with balancer.watch(net, keys):`` (a no-op except for gradient methods
at ``level: representation``) and call ``backward`` with zeroed gradients (like ``loss.backward()`` it
accumulates into ``.grad``).
"""
from __future__ import annotations

from restoration.balancers import famo, gradient, weighting
from restoration.balancers.base import (
    DEFAULT_MAX_TASKS,
    OVER_CHOICES,
    Balancer,
    MeanBalancer,
    all_reduce_,
    batch_keys,
    global_stats,
    log_scalars,
    num_keys_for,
    reduce_losses,
    sync_grads,
)
from restoration.errors import OptionError

__all__ = ["ALIASES", "DEFAULT_MAX_TASKS", "OVER_CHOICES", "Balancer", "MeanBalancer", "all_reduce_",
           "available_balancers", "batch_keys", "build_balancer", "global_stats", "log_scalars", "num_keys_for",
           "reduce_losses", "sync_grads"]


# ----------------------------------------------------------------------------------------------------------
# registry / factory
def _registry() -> dict[str, type[Balancer]]:
    classes = [MeanBalancer, *weighting.CLASSES, *famo.CLASSES, *gradient.CLASSES]
    return {c.TYPE: c for c in classes}


ALIASES = {"ls": "ew", "sum": "ew", "uncertainty": "uw", "imtl": "imtl_g", "imtlg": "imtl_g", "imtll": "imtl_l",
           "nashmtl": "nash_mtl", "nash": "nash_mtl", "alignedmtl": "aligned_mtl", "amtl": "aligned_mtl",
           "geometric_mean": "gls"}


def available_balancers() -> list[str]:
    """Names accepted by ``train.balancing.type``."""
    return sorted(_registry())


def build_balancer(opt: dict | None) -> Balancer:
    """Balancer from ``train.balancing`` (``None`` or no ``type`` -> ``mean``)."""
    if opt is not None and not isinstance(opt, dict):
        raise OptionError(f"train.balancing: must be a mapping like {{type: pcgrad, over: groups}}, got {opt!r}")
    name = str((opt or {}).get("type", "mean")).lower().replace("-", "_")
    name = ALIASES.get(name, name)
    reg = _registry()
    if name not in reg:
        raise OptionError(f"train.balancing.type: unknown balancer {name!r} (choose from {', '.join(sorted(reg))})")
    return reg[name](opt)
