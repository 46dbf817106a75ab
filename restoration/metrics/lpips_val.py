"""LPIPS-alex as a validation metric of training option files (``val.metrics.lpips: {type: calculate_lpips_alex,
better: lower}``), registered in BasicSR's metric registry.

BasicSR's validation hands every metric the output and the GT as uint8 BGR images; the network is built once per
process (real AlexNet weights only, :mod:`restoration.metrics.lpips_metric`) and runs on the CPU. AlexNet is the
judged metric: it is measured here, never trained on.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from basicsr.utils.registry import METRIC_REGISTRY

from restoration.errors import RestorationError

_MODELS: dict[str, Any] = {}
METRIC_TYPES = ("calculate_lpips_alex",)
MIN_SIZE = 32


def check_available() -> None:
    """Raise before training starts when LPIPS-alex cannot run (its weights come from `make assets`)."""
    from restoration.metrics.lpips_metric import lpips_available

    ok, reason = lpips_available("alex")
    if not ok:
        raise RestorationError(f"val.metrics: LPIPS-alex unavailable ({reason}); run `make assets` or drop the metric")


@METRIC_REGISTRY.register()  # pyright: ignore[reportOptionalCall]  # basicsr's Registry.register() is untyped
def calculate_lpips_alex(img: np.ndarray, img2: np.ndarray, crop_border: int = 0, **_: Any) -> float:
    """LPIPS-alex distance (lower is closer) between two HxWx3 uint8 BGR images, ``crop_border`` px cut off."""
    from restoration.metrics.lpips_metric import LPIPSMetric

    if "alex" not in _MODELS:
        _MODELS["alex"] = LPIPSMetric("alex", "cpu")
    if crop_border:
        img, img2 = img[crop_border:-crop_border, crop_border:-crop_border], img2[crop_border:-crop_border,
                                                                                  crop_border:-crop_border]
    if min(img.shape[:2]) < MIN_SIZE:  # AlexNet's strides leave nothing of a smaller image
        raise RestorationError(f"LPIPS-alex needs images of at least {MIN_SIZE} px after crop_border, got "
                               f"{img.shape[1]}x{img.shape[0]} (use a larger val crop_size)")
    return _MODELS["alex"](np.ascontiguousarray(img[:, :, ::-1]), np.ascontiguousarray(img2[:, :, ::-1]))
