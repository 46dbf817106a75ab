"""Checkpoint I/O of the training models (the per-sample losses are in :mod:`restoration.training.losses`).

Weights and training states are read with ``torch.load(weights_only=True)`` (never arbitrary unpickling);
training states hold only tensors, numbers, strings, lists and dicts (plus BasicSR's scheduler Counter, allowed
explicitly).
"""
from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import torch
from basicsr.utils import get_root_logger

from restoration.checkpoints import chosen_key, training_keys, unwrap_state_dict
from restoration.errors import OptionError, RestorationError


def safe_load(path: str | os.PathLike) -> dict:
    """``torch.load`` restricted to plain data; a pickle with code is refused with a clear error."""
    try:
        with torch.serialization.safe_globals([Counter]):
            return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise OptionError(f"{path} does not exist") from None
    except Exception as exc:  # noqa: BLE001 - unpickling errors come in many types
        if Path(path).is_file() and Path(path).stat().st_size == 0:
            raise RestorationError(f"cannot load {path}: the file is empty (0 bytes); delete it to resume from "
                                   "the previous checkpoint") from None
        lines = str(exc).strip().splitlines()
        why = lines[0] if lines else type(exc).__name__
        raise RestorationError(f"cannot load {path} safely (weights_only): {why}") from None


def load_checkpoint(net: torch.nn.Module, path: str | os.PathLike, strict: bool = True,
                    param_key: str | None = "params", deepen: bool = False) -> None:
    """Load BasicSR-style weights (``{params, params_ema}`` or a bare state dict; ``.safetensors`` too) into one
    training network: the ``param_key`` entry (``params`` for net_g, ``params_ema`` for net_g_ema), else the plain
    weights, as BasicSR (:func:`restoration.checkpoints.training_keys`)."""
    prefer = training_keys(param_key)
    if str(path).endswith(".safetensors"):
        from safetensors.torch import load_file

        raw = load_file(str(path))
    else:
        raw = safe_load(path)
    used = chosen_key(raw, prefer) or "state dict"
    state = unwrap_state_dict(raw, str(path), prefer)
    if deepen:
        from restoration.models.deepen import deepen_compact_state

        num_conv = getattr(net, "num_conv", None)  # an SRVGGNetCompact's constructor argument, kept on the module
        if not isinstance(num_conv, int):
            raise RestorationError(f"path.deepen_g: network_g is a {type(net).__name__}, not an SRVGGNetCompact")
        state = deepen_compact_state(state, num_conv, str(getattr(net, "act_type", "prelu")))
        used += f", deepened to {num_conv} convs"
    try:
        missing, unexpected = net.load_state_dict(state, strict=False)
    except RuntimeError as exc:  # shapes differ: torch raises even with strict=False
        sizes = [ln.strip() for ln in str(exc).splitlines() if "size mismatch" in ln]
        raise RestorationError(f"{path}: weights do not fit {type(net).__name__} ({'; '.join(sizes[:2]) or exc}); "
                               "check network_g") from None
    if strict and (missing or unexpected):
        raise RestorationError(f"{path}: weights do not fit {type(net).__name__} (missing {missing[:3]}, "
                               f"unexpected {unexpected[:3]}); check network_g or set path.strict_load_g: false")
    get_root_logger().info(f"Loaded {type(net).__name__} from {path} [{used}]")


def save_atomic(obj, path: str | os.PathLike) -> Path:
    """``torch.save`` through :func:`restoration.atomic.atomic_path`: a crash or a full disk never leaves a truncated
    file under the final name (the previous checkpoint stays intact), the temp file is removed, and the failure is
    one :class:`RestorationError` line (no silent retries as in BasicSR)."""
    from restoration.atomic import atomic_path

    path = Path(path)
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)
    return path


def save_network(model, net, net_label: str, current_iter: int, param_key="params") -> Path:
    """BasicSR's ``save_network`` (same file names and keys), written atomically; errors are not retried silently."""
    label = "latest" if current_iter == -1 else current_iter
    nets = net if isinstance(net, list) else [net]
    keys = param_key if isinstance(param_key, list) else [param_key]
    if len(nets) != len(keys):
        raise ValueError("save_network: one param_key per network")
    save_dict = {}
    for net_, key in zip(nets, keys):
        state = model.get_bare_model(net_).state_dict()
        save_dict[key] = {(k[7:] if k.startswith("module.") else k): v.cpu() for k, v in state.items()}
    return save_atomic(save_dict, Path(model.opt["path"]["models"]) / f"{net_label}_{label}.pth")


def save_training_state(model, epoch: int, current_iter: int) -> Path:
    """BasicSR's state (epoch, iter, optimisers, schedulers) plus ``extra`` (balancer, RNG, sampler, queue)."""
    state = {"epoch": epoch, "iter": current_iter,
             "optimizers": [o.state_dict() for o in model.optimizers],
             "schedulers": [s.state_dict() for s in model.schedulers],
             "extra": model.extra_training_state()}
    path = Path(model.opt["path"]["training_states"]) / f"{current_iter}.state"
    return save_atomic(state, path)
