"""LPIPS through the unmodified ``lpips`` package, refusing to run without the real backbone weights.

``lpips.LPIPS`` silently falls back to nothing sensible: without network access torchvision raises a URLError deep
inside, and ``pnet_rand=True`` yields meaningless distances. So we check that the ImageNet backbone checkpoint is
on disk *before* building the model and raise a RestorationError that says how to get it otherwise.
"""
from __future__ import annotations

import contextlib
import io

import numpy as np

from restoration.errors import RestorationError
from restoration.metrics import lpips_assets


def lpips_available(net: str = "alex") -> tuple[bool, str]:
    """(available, reason) for LPIPS-``net`` without building anything."""
    try:
        import importlib.util

        if importlib.util.find_spec("lpips") is None:
            return False, "the lpips package is not installed"
    except (ImportError, ValueError):
        return False, "the lpips package is not installed"
    return lpips_assets.status(net)


class LPIPSMetric:
    """Learned perceptual distance (lower is closer) between two RGB uint8 images of the same size."""

    def __init__(self, net: str = "alex", device: str = "cpu") -> None:
        bb = lpips_assets.backbone(net)
        ok, reason = lpips_available(bb.lpips_name)
        if not ok:
            raise RestorationError(f"LPIPS-{bb.lpips_name} unavailable: {reason}")
        import torch
        import lpips

        self.net = bb.lpips_name
        self.device = torch.device(device)
        # lpips prints its set-up chatter and torchvision warns about the legacy `pretrained` argument.
        with contextlib.redirect_stdout(io.StringIO()):
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                try:
                    model = lpips.LPIPS(net=self.net, verbose=False)
                except Exception as exc:  # a corrupt/foreign checkpoint, or torchvision trying to download
                    raise RestorationError(f"LPIPS-{self.net} could not load its weights: {exc}") from exc
        self._model = model.to(self.device).eval()

    def to_tensor(self, img: np.ndarray):
        """HxWx3 uint8 RGB -> 1x3xHxW float in [-1, 1] (LPIPS's input convention)."""
        import torch

        arr = np.asarray(img)
        if arr.ndim == 2:
            arr = np.repeat(arr[:, :, None], 3, axis=2)
        if arr.ndim != 3 or arr.shape[2] != 3 or arr.dtype != np.uint8:
            raise RestorationError(f"LPIPS expects HxWx3 uint8 RGB images, got {arr.dtype} {arr.shape}")
        t = torch.from_numpy(np.ascontiguousarray(arr)).permute(2, 0, 1)[None].float()
        return (t / 127.5 - 1.0).to(self.device)

    def distance_tensor(self, a, b) -> float:
        """Distance between two Bx3xHxW tensors already scaled to [-1, 1]."""
        import torch

        with torch.no_grad():
            return float(self._model(a, b).mean())

    def __call__(self, img: np.ndarray, ref: np.ndarray) -> float:
        if np.shape(img) != np.shape(ref):
            raise RestorationError(f"LPIPS: image shape {np.shape(img)} differs from reference {np.shape(ref)}")
        return self.distance_tensor(self.to_tensor(img), self.to_tensor(ref))

    def __repr__(self) -> str:
        return f"LPIPSMetric(net={self.net!r}, device={str(self.device)!r})"
