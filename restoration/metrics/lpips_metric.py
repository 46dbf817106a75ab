"""LPIPS through the unmodified ``lpips`` package, refusing to run without the real backbone weights.

``lpips.LPIPS`` would download its ImageNet trunk through torchvision into the shared torch hub cache, and with
``pnet_rand=True`` it yields meaningless distances. So :func:`build_lpips` checks that the backbone weights are on
disk first (:mod:`restoration.metrics.lpips_assets`: our own cache, or torchvision's own download), builds the
model with a random trunk (no download; the linear heads ship inside the lpips package) and loads the real trunk
weights into it, strictly.
"""
from __future__ import annotations

import contextlib
import importlib.util
import io
import warnings
from typing import TYPE_CHECKING

import numpy as np

from restoration.errors import RestorationError
from restoration.metrics import lpips_assets

if TYPE_CHECKING:
    import torch


def lpips_available(net: str = "alex") -> tuple[bool, str]:
    """(available, reason) for LPIPS-``net`` without building anything."""
    try:
        if importlib.util.find_spec("lpips") is None:
            return False, "the lpips package is not installed"
    except (ImportError, ValueError):
        return False, "the lpips package is not installed"
    return lpips_assets.status(net)


def _trunk_state(trunk: torch.nn.Module, features: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """lpips keeps torchvision's ``features[i]`` as ``slice<n>.<i>``: rename the feature weights to match."""
    state = {}
    for slice_name, block in trunk.named_children():
        for index, layer in block.named_children():
            for param, _ in layer.named_parameters(recurse=False):
                state[f"{slice_name}.{index}.{param}"] = features[f"features.{index}.{param}"]
    return state


def build_lpips(net: str = "alex") -> torch.nn.Module:
    """``lpips.LPIPS`` (v0.1 heads) with the real ImageNet trunk for ``net``, in eval mode, trunk frozen."""
    bb = lpips_assets.backbone(net)
    ok, reason = lpips_available(bb.lpips_name)
    if not ok:
        raise RestorationError(f"LPIPS-{bb.lpips_name} unavailable: {reason}")
    try:
        features = lpips_assets.feature_state(bb.lpips_name)  # before building: a bad file fails fast
    except RestorationError as exc:
        raise RestorationError(f"LPIPS-{bb.lpips_name} could not load its weights: {exc}") from None
    import lpips

    # lpips prints its set-up chatter and torchvision warns about the legacy `pretrained` argument.
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = lpips.LPIPS(pretrained=True, net=bb.lpips_name, pnet_rand=True, verbose=False)
    try:
        model.net.load_state_dict(_trunk_state(model.net, features), strict=True)
    except (KeyError, RuntimeError) as exc:  # an lpips release that slices the trunk differently
        raise RestorationError(f"LPIPS-{bb.lpips_name}: backbone weights do not fit lpips' trunk ({exc})") from None
    for p in model.net.parameters():
        p.requires_grad_(False)
    return model.eval()


class LPIPSMetric:
    """Learned perceptual distance (lower is closer) between two RGB uint8 images of the same size."""

    def __init__(self, net: str = "alex", device: str = "cpu") -> None:
        import torch

        self.net = lpips_assets.backbone(net).lpips_name
        self.device = torch.device(device)
        self._model = build_lpips(self.net).to(self.device)

    def to_tensor(self, img: np.ndarray) -> torch.Tensor:
        """HxWx3 uint8 RGB -> 1x3xHxW float in [-1, 1] (LPIPS's input convention)."""
        import torch

        arr = np.asarray(img)
        if arr.ndim == 2:
            arr = np.repeat(arr[:, :, None], 3, axis=2)
        if arr.ndim != 3 or arr.shape[2] != 3 or arr.dtype != np.uint8:
            raise RestorationError(f"LPIPS expects HxWx3 uint8 RGB images, got {arr.dtype} {arr.shape}")
        t = torch.from_numpy(np.ascontiguousarray(arr)).permute(2, 0, 1)[None].float()
        return (t / 127.5 - 1.0).to(self.device)

    def distance_tensor(self, a: torch.Tensor, b: torch.Tensor) -> float:
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
