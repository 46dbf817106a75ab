"""A network followed by a fixed resize of its output.

ncnn's ``realesr-animevideov3-x2`` and ``-x3`` are the x4 network followed by a bicubic downscale (x0.5, x0.75) inside
the graph. Keeping the x4 weights untouched and the resize as metadata (``output_resize`` in the model file) lets
the same weights serve every scale and keeps the state dict BasicSR's. Tools that ignore the metadata see the x4 net.
"""
from __future__ import annotations

import json
from typing import Any

import torch
import torch.nn.functional as F

from restoration.errors import RestorationError

MODES = ("bicubic",)


def parse_output_resize(text: str, net_scale: int, source: str) -> dict[str, Any]:
    """``{"mode": "bicubic", "scale": N}`` from a model file's metadata; N is the final, integer scale."""
    try:
        data = json.loads(text)
        mode, scale = str(data["mode"]), int(data["scale"])
    except (ValueError, TypeError, KeyError) as exc:
        raise RestorationError(f"{source}: bad output_resize metadata {text!r} ({exc})") from None
    if mode not in MODES or not 1 <= scale <= 16:
        raise RestorationError(f"{source}: output_resize {mode} x{scale} is not supported (bicubic, x1..x16)")
    return {"mode": mode, "scale": scale, "net_scale": int(net_scale)}


class OutputResize(torch.nn.Module):
    """``net`` (x ``net_scale``) then resizing to ``scale`` x the input size, as ncnn's Interp layer does (no
    antialiasing, half-pixel centres, clamped borders: what ``F.interpolate(align_corners=False)`` computes)."""

    def __init__(self, net: torch.nn.Module, mode: str, scale: int, net_scale: int) -> None:
        super().__init__()
        self.net, self.mode, self.scale, self.net_scale = net, mode, int(scale), int(net_scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.net(x)
        size = (x.shape[-2] * self.scale, x.shape[-1] * self.scale)
        return F.interpolate(y, size=size, mode=self.mode, align_corners=False)
