"""Checks of training options beyond their schema: names, numeric ranges, and the objects they describe.

Everything a run would otherwise find out only after creating its experiment folder, building its data and its
network is checked here first: the experiment name must stay inside ``experiments/``, numbers must be finite and in
range (``lr: .nan``, ``batch_size_per_gpu: 0`` or ``total_iter: -1`` would crash or silently save an untrained
model), and the balancer, network (built on the ``meta`` device: no memory, no time), optimisers and schedulers are
constructed once from their options. Each problem is one :class:`OptionError` naming the key.
"""
from __future__ import annotations

import copy
import math
from typing import Any, Iterator, Mapping

from restoration.errors import OptionError

# (key path, lowest, highest, lowest excluded, highest excluded); None = unbounded; "*" matches any key.
RANGES: tuple[tuple[str, float | None, float | None, bool, bool], ...] = (
    ("scale", 1, None, False, False),
    ("num_gpu", 0, None, False, False),
    ("manual_seed", 0, 2 ** 32 - 1, False, False),
    ("queue_size", 0, None, False, False),
    ("datasets.*.batch_size_per_gpu", 1, None, False, False),
    ("datasets.*.num_worker_per_gpu", 0, None, False, False),
    ("datasets.*.gt_size", 1, None, False, False),
    ("datasets.*.dataset_enlarge_ratio", 1, None, False, False),
    ("datasets.*.crop_size", 1, None, False, False),
    ("datasets.*.offline_val_count", 0, None, False, False),
    ("datasets.*.tasks.num_tasks", 1, None, False, False),
    ("train.total_iter", 1, None, False, False),
    ("train.ema_decay", 0, 1, False, True),
    ("train.net_d_iters", 1, None, False, False),
    ("train.net_d_init_iters", 0, None, False, False),
    ("train.optim_g.lr", 0, None, True, False),
    ("train.optim_d.lr", 0, None, True, False),
    ("train.scheduler.gamma", 0, None, True, False),
    ("train.*.loss_weight", 0, None, False, False),
    ("val.val_freq", 1, None, False, False),
    ("val.metrics.*.crop_border", 0, None, False, False),
    ("logger.print_freq", 1, None, False, False),
    ("logger.save_checkpoint_freq", 1, None, False, False),
    ("logger.task_loss_limit", 0, None, False, False),
)


def check_name(name: Any) -> None:
    """The experiment name is one folder name under ``experiments/``: never empty, never a path."""
    if not isinstance(name, str) or not name.strip():
        raise OptionError(f"name: must be a non-empty folder name (it becomes experiments/<name>), got {name!r}")
    if name != name.strip() or name in (".", "..") or any(c in name for c in "/\\\0"):
        raise OptionError(f"name: {name!r} is not a plain folder name (no '/', '\\', '..', leading or trailing "
                          "spaces): the experiment must stay inside experiments/")


def _walk(node: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    yield path, node
    if isinstance(node, Mapping):
        for k, v in node.items():
            yield from _walk(v, f"{path}.{k}" if path else str(k))
    elif isinstance(node, (list, tuple)):
        for i, v in enumerate(node):
            yield from _walk(v, f"{path}[{i}]")


def _matches(path: str, pattern: str) -> bool:
    parts, pats = path.split("."), pattern.split(".")
    return len(parts) == len(pats) and all(p == q or q == "*" for p, q in zip(parts, pats))


def check_numbers(opt: Mapping) -> None:
    """Every number is finite; the numbers of :data:`RANGES` are in range."""
    for path, value in _walk(opt):
        if isinstance(value, float) and not math.isfinite(value):
            raise OptionError(f"{path}: must be a finite number, got {value}")
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            continue
        for pattern, lo, hi, lo_open, hi_open in RANGES:
            if not _matches(path, pattern):
                continue
            low_bad = lo is not None and (value <= lo if lo_open else value < lo)
            high_bad = hi is not None and (value >= hi if hi_open else value > hi)
            if low_bad or high_bad:
                lo_txt = "" if lo is None else f"{'>' if lo_open else '>='} {lo}"
                hi_txt = "" if hi is None else f"{'<' if hi_open else '<='} {hi}"
                raise OptionError(f"{path}: must be {' and '.join(t for t in (lo_txt, hi_txt) if t)}, got {value}")


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
    from basicsr.models import lr_scheduler

    from restoration.models.realsr_mtl_model import OPTIMIZERS

    kw = dict(optim_opt or {})
    kind = kw.pop("type", None)
    if kind not in OPTIMIZERS:
        raise OptionError(f"{key}.type: unknown optimiser {kind!r} (choose from {', '.join(OPTIMIZERS)})")
    try:
        optimizer = OPTIMIZERS[kind]([torch.zeros(1, requires_grad=True)], **kw)
    except (TypeError, ValueError) as exc:
        raise OptionError(f"{key}: {kind} refuses these options: {_first_line(exc)}") from None
    if scheduler_opt is None:
        return
    sched = dict(scheduler_opt)
    stype = sched.pop("type", None)
    classes = {"MultiStepLR": lr_scheduler.MultiStepRestartLR, "MultiStepRestartLR": lr_scheduler.MultiStepRestartLR,
               "CosineAnnealingRestartLR": lr_scheduler.CosineAnnealingRestartLR}
    if stype not in classes:
        raise OptionError(f"train.scheduler.type: unknown scheduler {stype!r} (choose from {', '.join(classes)})")
    try:
        classes[stype](optimizer, **sched)
    except (TypeError, ValueError, AssertionError) as exc:
        raise OptionError(f"train.scheduler: {stype} refuses these options: {_first_line(exc)}") from None


def check_balancer(balancing: Any) -> None:
    """Build the balancer once (an unknown ``type`` or a bad argument fails before any work)."""
    from restoration.mtl.balancing import build_balancer

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
