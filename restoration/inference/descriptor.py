"""What a model file is: architecture, its constructor arguments and the scale, in one typed record.

The three supported architectures are BasicSR's own classes, used unchanged so that our state dicts keep
BasicSR's key names and other tools (spandrel, chaiNNer, Real-ESRGAN scripts) load our files.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any

from restoration.errors import RestorationError

# arch name -> (module, class, name of the scale argument in its constructor, accepted kwargs)
ARCHS: dict[str, tuple[str, str, str, tuple[str, ...]]] = {
    "SRVGGNetCompact": (
        "basicsr.archs.srvgg_arch", "SRVGGNetCompact", "upscale",
        ("num_in_ch", "num_out_ch", "num_feat", "num_conv", "upscale", "act_type"),
    ),
    "MSRResNet": (
        "basicsr.archs.srresnet_arch", "MSRResNet", "upscale",
        ("num_in_ch", "num_out_ch", "num_feat", "num_block", "upscale"),
    ),
    "RRDBNet": (
        "basicsr.archs.rrdbnet_arch", "RRDBNet", "scale",
        ("num_in_ch", "num_out_ch", "scale", "num_feat", "num_block", "num_grow_ch"),
    ),
}

# The constructors' defaults (RRDBNet has none for the channel counts; 3 is what every released model uses).
DEFAULTS: dict[str, dict[str, Any]] = {
    "SRVGGNetCompact": {"num_in_ch": 3, "num_out_ch": 3, "num_feat": 64, "num_conv": 16, "act_type": "prelu"},
    "MSRResNet": {"num_in_ch": 3, "num_out_ch": 3, "num_feat": 64, "num_block": 16},
    "RRDBNet": {"num_in_ch": 3, "num_out_ch": 3, "num_feat": 64, "num_block": 23, "num_grow_ch": 32},
}


def canonical_arch(name: str) -> str:
    """Accept registry spellings (``SRVGGNetCompact_basicsr``, any case) and return the canonical name."""
    base = name.split("_basicsr")[0]
    for known in ARCHS:
        if known.lower() == base.lower():
            return known
    raise RestorationError(f"unsupported architecture {name!r}; supported: {', '.join(ARCHS)}")


@dataclass
class ModelDescriptor:
    """Everything needed to rebuild a network and use it: the arch, its kwargs, the scale and where it came from."""

    arch: str
    arch_kwargs: dict[str, Any]
    scale: int
    name: str = ""
    path: str = ""
    in_channels: int = 3
    out_channels: int = 3
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def create(cls, arch: str, arch_kwargs: dict[str, Any], scale: int | None = None, **rest: Any) -> "ModelDescriptor":
        """Normalise the arch name, check the kwargs and make the scale agree with the kwargs."""
        arch = canonical_arch(arch)
        _, _, scale_key, allowed = ARCHS[arch]
        kwargs = {k: v for k, v in dict(arch_kwargs).items() if k != "type"}
        unknown = sorted(set(kwargs) - set(allowed))
        if unknown:
            raise RestorationError(
                f"{arch} does not take argument(s) {', '.join(unknown)}; it takes {', '.join(allowed)}")
        if scale is None:
            scale = int(kwargs.get(scale_key, 4))
        if scale_key in kwargs and int(kwargs[scale_key]) != int(scale):
            raise RestorationError(f"scale {scale} disagrees with {arch} argument {scale_key}={kwargs[scale_key]}")
        kwargs[scale_key] = int(scale)
        for key, value in DEFAULTS[arch].items():  # spelled out, so a file states every argument
            kwargs.setdefault(key, value)
        return cls(
            arch=arch,
            arch_kwargs=kwargs,
            scale=int(scale),
            in_channels=int(kwargs.get("num_in_ch", 3)),
            out_channels=int(kwargs.get("num_out_ch", 3)),
            **rest,
        )

    @property
    def input_multiple(self) -> int:
        """Input sides must be divisible by this (RRDBNet pixel-unshuffles its input for x2 and x1)."""
        if self.arch == "RRDBNet":
            return {2: 2, 1: 4}.get(self.scale, 1)
        return 1

    def build(self):
        """A freshly initialised network of this architecture (BasicSR class, BasicSR key names).

        The torchvision compat hook basicsr needs is in place already: importing this module ran
        ``restoration/__init__.py``."""
        module, cls_name, _, _ = ARCHS[self.arch]
        cls = getattr(importlib.import_module(module), cls_name)
        try:
            return cls(**self.arch_kwargs)
        except (TypeError, ValueError) as exc:
            raise RestorationError(f"cannot build {self.arch}({self.arch_kwargs}): {exc}") from None

    def summary(self) -> str:
        """One line for logs and ``restoration models``."""
        kw = ", ".join(f"{k}={v}" for k, v in sorted(self.arch_kwargs.items()))
        return f"{self.arch}({kw}) x{self.scale}"
