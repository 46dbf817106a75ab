"""Model files: build a network from a weight file or a zoo name, and write ``.safetensors`` with our metadata.

Reading and describing weights lives in :mod:`restoration.inference.weights` (re-exported here), so the model zoo
can check and register files without importing this module, which resolves zoo names.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from restoration._version import __version__
from restoration.atomic import atomic_path
from restoration.checkpoints import INFERENCE_KEYS, TRAINING_KEYS, unwrap_state_dict
from restoration.errors import RestorationError
from restoration.hashing import sha256_file
from restoration.inference.descriptor import ARCHS, ModelDescriptor, canonical_arch
from restoration.inference.weights import (
    CHECKPOINT_KEYS,
    PTH_EXT,
    SAFETENSORS_EXT,
    check_finite,
    describe_weights,
    detect_arch,
    read_weights,
)
from restoration.inference.zoo import resolve_model


def shape_mismatches(net, state: dict) -> str:
    """The tensors whose shapes differ, each as ``key: file [..] vs network [..]`` (at most 3, then a count), so a
    size mismatch reads whole instead of as torch's message cut to a length."""
    own = net.state_dict()
    bad = [f"{k}: file {list(v.shape)} vs network {list(own[k].shape)}" for k, v in state.items()
           if k in own and hasattr(v, "shape") and tuple(v.shape) != tuple(own[k].shape)]
    more = f" (+{len(bad) - 3} more)" if len(bad) > 3 else ""
    return "; ".join(bad[:3]) + more if bad else "shapes differ"


def read_model(path_or_name: str | os.PathLike | None, models_dir: str | os.PathLike | None = None
               ) -> tuple[dict, ModelDescriptor]:
    """The weights of a model file (or a zoo name; None: the default model) and what they are, without building a
    network (no BasicSR import: the ncnn backend writes its graph from the state dict)."""
    path, info = resolve_model(path_or_name, models_dir)
    state, meta = read_weights(path)
    desc = describe_weights(state, meta, str(path))
    if info is not None:
        desc.name = info.name
    elif not desc.name:
        desc.name = Path(path).stem
    return state, desc


def build_model(state: dict, desc: ModelDescriptor, device: str = "cpu"):
    """The network of ``desc`` holding ``state``, in eval mode without gradients; weights that do not fit are one
    error naming the keys or shapes."""
    net = desc.build()
    try:
        result = net.load_state_dict(state, strict=False)
    except RuntimeError:  # shape mismatches
        raise RestorationError(f"weights in {desc.path} do not fit {desc.summary()}: {shape_mismatches(net, state)}") \
            from None
    if result.missing_keys or result.unexpected_keys:
        miss = ", ".join(result.missing_keys[:3])
        extra = ", ".join(result.unexpected_keys[:3])
        raise RestorationError(
            f"weights in {desc.path} do not fit {desc.summary()}: missing keys [{miss}], unexpected keys [{extra}]"
        )
    if desc.extra.get("output_resize"):  # e.g. ncnn's realesr-animevideov3-x2: the x4 net, then a bicubic resize
        from restoration.inference.output_resize import OutputResize

        net = OutputResize(net, **desc.extra["output_resize"])
    net.eval()
    for p in net.parameters():
        p.requires_grad_(False)
    return net.to(device)


def load_model(path_or_name: str | os.PathLike | None, device: str = "cpu",
               models_dir: str | os.PathLike | None = None):
    """Build the network from a model file (or a zoo name; None: the default model) in eval mode. Returns
    ``(net, ModelDescriptor)``."""
    state, desc = read_model(path_or_name, models_dir)
    return build_model(state, desc, device), desc


def save_model(
    net_or_state_dict: Any,
    path: str | os.PathLike,
    *,
    arch: str,
    arch_kwargs: dict,
    scale: int,
    name: str,
    extra: dict | None = None,
    metadata: dict[str, str] | None = None,
) -> Path:
    """Write ``.safetensors`` with metadata (arch, arch_kwargs as JSON, scale, name, extra as JSON).

    The tensors keep BasicSR key names, so tools that ignore our metadata still recognise the model.
    ``metadata`` adds string entries (imported models: ``source``, ``licence``, ``output_resize``).
    """
    import torch
    from safetensors.torch import save_file

    desc = ModelDescriptor.create(arch, arch_kwargs, scale, name=name)
    state = net_or_state_dict.state_dict() if hasattr(net_or_state_dict, "state_dict") else dict(net_or_state_dict)
    state = {k: v.detach().to("cpu").contiguous() for k, v in state.items() if isinstance(v, torch.Tensor)}
    # Fail early if the weights do not fit the declared architecture.
    net = desc.build()
    try:
        check = net.load_state_dict(state, strict=False)
    except RuntimeError:
        raise RestorationError(f"weights do not fit {desc.summary()}: {shape_mismatches(net, state)}") from None
    if check.missing_keys or check.unexpected_keys:
        raise RestorationError(
            f"weights do not fit {desc.summary()}: missing [{', '.join(check.missing_keys[:3])}], "
            f"unexpected [{', '.join(check.unexpected_keys[:3])}]"
        )
    path = Path(path)
    if path.suffix.lower() not in SAFETENSORS_EXT:
        raise RestorationError(f"model files are written as .safetensors, got {path.name}")
    meta = {
        "format": "pt",
        "arch": desc.arch,
        "arch_kwargs": json.dumps(desc.arch_kwargs, sort_keys=True),
        "scale": str(desc.scale),
        "name": name,
        "restoration_version": __version__,
        "extra": json.dumps(extra or {}, sort_keys=True),
    }
    for key, value in (metadata or {}).items():
        if key in meta or not isinstance(value, str):
            raise RestorationError(f"metadata entry {key!r} is reserved or not a string")
        meta[key] = value
    check_finite(state, name or path)
    with atomic_path(path) as tmp:  # a full disk or a read-only folder never leaves a partial file behind
        save_file(state, str(tmp), metadata=meta)
    return path


__all__ = ["ARCHS", "CHECKPOINT_KEYS", "INFERENCE_KEYS", "PTH_EXT", "SAFETENSORS_EXT", "TRAINING_KEYS",
           "build_model", "canonical_arch", "check_finite", "describe_weights", "detect_arch", "load_model",
           "read_model", "read_weights",
           "save_model", "sha256_file", "unwrap_state_dict"]
