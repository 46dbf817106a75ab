"""Network construction by ``type`` name, resolving BasicSR's ``_basicsr`` registry spellings quietly.

BasicSR registers some of its classes as ``<Name>_basicsr`` (SRVGGNetCompact, UNetDiscriminatorSN) and its
``Registry.get`` prints a line when it falls back to that spelling; option files keep the plain names.
"""
from __future__ import annotations

import copy

import torch

# Plain names that resolve to this package's own implementation.
ALIASES = {"UNetDiscriminatorSN": "UNetDiscriminatorSNMTL"}


def registry_name(registry, name: str) -> str | None:
    """The key under which ``name`` is registered (``name`` or ``name_basicsr``), or None."""
    if name in ALIASES and ALIASES[name] in registry:
        return ALIASES[name]
    if name in registry:
        return name
    if f"{name}_basicsr" in registry:
        return f"{name}_basicsr"
    return None


def arch_class(name: str):
    from basicsr.utils.registry import ARCH_REGISTRY

    key = registry_name(ARCH_REGISTRY, name)
    return None if key is None else ARCH_REGISTRY._obj_map[key]


def build_net(net_opt: dict) -> torch.nn.Module:
    """Instantiate ``{type: Name, **kwargs}`` without changing the option dict."""
    net_opt = copy.deepcopy(dict(net_opt))
    name = net_opt.pop("type")
    cls = arch_class(name)
    if cls is None:
        raise TypeError(f"{name!r} is not a registered network type")
    return cls(**net_opt)
