"""The one place that turns a device name from the user (CLI flag, option file, demo) into a torch device string."""
from __future__ import annotations

from restoration.errors import RestorationError


def resolve_device(device: str | None = "auto") -> str:
    """``auto`` (or empty) -> ``cuda`` when available, else ``cpu``; an explicit CUDA request without CUDA, or a
    name torch does not know, is a :class:`RestorationError` naming the device (one line in the CLI)."""
    import torch

    device = (device or "auto").strip().lower()
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise RestorationError(f"device {device!r} requested but CUDA is not available here (use --device cpu or auto)")
    try:
        torch.device(device)
    except (RuntimeError, ValueError):
        raise RestorationError(f"unknown device {device!r} (auto, cpu, cuda, cuda:N)") from None
    return device
