"""restoration: real-world image super-resolution as multi-task learning.

Importing this package is cheap: no torch, no basicsr. Heavy pieces load on first use
(:func:`register`, :class:`Upscaler`, the CLI subcommands).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from restoration import _compat

__version__ = "0.1.0"
__all__ = ["__version__", "register", "RestorationError", "Upscaler"]

_compat.install_hook()  # torchvision (pulled in by basicsr/lpips) must see the compat fix first

from restoration.errors import RestorationError  # noqa: E402  (light module)

_REGISTERED = False
# Modules whose import registers classes into BasicSR's registries (archs, datasets, models, losses).
_REGISTRY_MODULES = (
    "restoration.archs",
    "restoration.data",
    "restoration.models",
    "restoration.metrics.lpips_val",
)


def register() -> None:
    """Register this package's archs, datasets and models into BasicSR's registries, exactly once.

    BasicSR only scans its own folders, so training code calls this before building anything.
    Calling it again does nothing.
    """
    global _REGISTERED
    if _REGISTERED:
        return
    import importlib

    for name in _REGISTRY_MODULES:
        importlib.import_module(name)
    _REGISTERED = True


if TYPE_CHECKING:
    from restoration.inference import Upscaler  # at run time: the lazy module __getattr__ below


def __getattr__(name: str):
    if name == "Upscaler":  # lazy: pulls torch in only when used
        from restoration.inference import Upscaler

        return Upscaler
    raise AttributeError(f"module 'restoration' has no attribute {name!r}")
