"""Checks of training options beyond their schema: the objects they describe, each built once.

Names, types and numeric ranges are the schema's (:mod:`restoration.schema.train`). What only the object itself
can refuse is checked here, before a run creates its experiment folder: the balancer, the network (built on the
``meta`` device: no memory, no time), optimisers and schedulers are constructed once from their options. Each
problem is one :class:`OptionError` naming the key.
"""
from __future__ import annotations

import copy
from typing import Any, Mapping

from restoration.errors import OptionError


def _first_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def check_network(key: str, net_opt: Mapping) -> None:
    """Build the network on the meta device: argument values it refuses fail here, not after the folder exists."""
    import torch

    from restoration.models.nets import build_net

    try:
        with torch.device("meta"):
            build_net(dict(net_opt))
    except NotImplementedError:
        pass  # an operation the meta device does not support: the real build will tell
    except (TypeError, ValueError, AssertionError, KeyError, ZeroDivisionError, RuntimeError) as exc:
        if isinstance(exc, RuntimeError) and "meta" in str(exc).lower():
            return
        raise OptionError(f"{key}: cannot build {net_opt.get('type')}: {_first_line(exc)}") from None


def check_optimizer(key: str, optim_opt: Mapping | None, scheduler_opt: Mapping | None) -> None:
    """Construct the optimiser (and the scheduler on it) for one dummy parameter."""
    import torch

    from restoration.training.optim import build_optimizer, build_scheduler

    try:
        optimizer = build_optimizer(dict(optim_opt or {}), [torch.zeros(1, requires_grad=True)], key)
    except (TypeError, ValueError) as exc:
        kind = (optim_opt or {}).get("type")
        raise OptionError(f"{key}: {kind} refuses these options: {_first_line(exc)}") from None
    if scheduler_opt is None:
        return
    try:
        build_scheduler(optimizer, dict(scheduler_opt))
    except (TypeError, ValueError, AssertionError) as exc:
        stype = scheduler_opt.get("type")
        raise OptionError(f"train.scheduler: {stype} refuses these options: {_first_line(exc)}") from None


def check_balancer(balancing: Any) -> None:
    """Build the balancer once (an unknown ``type`` or a bad argument fails before any work)."""
    from restoration.balancers.registry import build_balancer

    try:
        build_balancer(copy.deepcopy(balancing))
    except OptionError:
        raise
    except (TypeError, ValueError, KeyError) as exc:
        raise OptionError(f"train.balancing: {_first_line(exc)}") from None


def check_objects(opt: Mapping) -> None:
    """Networks, optimisers, scheduler and balancer, each built once from its options."""
    check_network("network_g", opt["network_g"])
    if opt.get("network_d"):
        check_network("network_d", opt["network_d"])
    train = opt["train"]
    check_optimizer("train.optim_g", train.get("optim_g"), train.get("scheduler"))
    if opt.get("network_d") and train.get("optim_d") is not None:
        check_optimizer("train.optim_d", train.get("optim_d"), None)
    check_balancer(train.get("balancing"))


# Where released weights come from, for the error when an option names one that is not there.
RELEASES = "https://github.com/xinntao/Real-ESRGAN/releases"
RELEASED_URLS = {
    "RealESRNet_x4plus.pth": f"{RELEASES}/download/v0.1.1/RealESRNet_x4plus.pth",
    "RealESRGAN_x4plus.pth": f"{RELEASES}/download/v0.1.0/RealESRGAN_x4plus.pth",
}


def missing_weights_hint(path: str) -> str:
    """What to do about a missing weight file: Real-ESRGAN's release for its names, else where ours come from."""
    from pathlib import Path

    name = Path(path).name
    if name in RELEASED_URLS:
        return (f"download it from Real-ESRGAN's releases ({RELEASED_URLS[name]}) to {path}; the ncnn models "
                "(realesrgan-x4plus, ...) are imported with `make assets` or `restoration models import`")
    if name.lower().startswith(("realesr", "realesrgan")):
        return (f"download it from Real-ESRGAN's releases ({RELEASES}) to {path}, or import the ncnn models "
                "with `make assets` / `restoration models import`")
    return "train it first, or point the option at an existing file"
