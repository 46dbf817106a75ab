"""Degradation tasks: the Real-ESRGAN second-order space as sampleable, replayable records, and batched synthesis.

``DegradationSpace`` samples ``DegradationTask`` records (numpy only); ``TaskBank`` stores a list of them with named
groups as JSON; ``degrade`` turns GT tensors into LQ tensors with torch. Importing this package does not import
torch: ``degrade`` loads on first use.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from restoration.degradations.bank import TaskBank
from restoration.degradations.kernels import BLUR_TYPES, KERNEL_KINDS, Kernel, kernel_array
from restoration.degradations.space import DegradationSpace
from restoration.degradations.task import DegradationTask, Noise, Resize

if TYPE_CHECKING:  # resolved lazily by __getattr__ (it imports torch)
    from restoration.degradations.pipeline import degrade

__all__ = [
    "BLUR_TYPES",
    "KERNEL_KINDS",
    "DegradationSpace",
    "DegradationTask",
    "Kernel",
    "Noise",
    "Resize",
    "TaskBank",
    "degrade",
    "kernel_array",
]


def __getattr__(name: str) -> Any:
    if name == "degrade":
        from restoration.degradations.pipeline import degrade

        return degrade
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
