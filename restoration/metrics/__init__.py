"""Image quality metrics: PSNR/SSIM (BasicSR definitions, Y channel) and LPIPS with real weights only.

Importing this package loads numpy only; cv2 loads with SSIM, torch and lpips with ``LPIPSMetric``.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from restoration.metrics.psnr_ssim import psnr, rgb_to_y, ssim

if TYPE_CHECKING:  # resolved lazily by __getattr__ (they import torch)
    from restoration.metrics.lpips_metric import LPIPSMetric, build_lpips, lpips_available

__all__ = ["LPIPSMetric", "build_lpips", "lpips_available", "psnr", "rgb_to_y", "ssim"]


def __getattr__(name: str) -> Any:
    if name in ("LPIPSMetric", "build_lpips", "lpips_available"):
        from restoration.metrics import lpips_metric

        return getattr(lpips_metric, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
