"""Compatibility fix for torchvision builds whose compiled ops cannot load.

PyPI's torchvision 0.28.0 is built against CUDA torch. On CPU-only torch its ``_C.so`` fails to load, and
``import torchvision`` then dies in ``_meta_registrations`` with "operator torchvision::nms does not exist".
basicsr and lpips import torchvision at import time, so nothing in this project would import.

The fix defines the two operator schemas torchvision registers fake kernels for (``nms``, ``qnms``), with a
pure-torch NMS kernel, *only* when ``_C.so`` does not load. On a machine where the compiled ops load (a
matching CUDA or CPU build) it does nothing. It is installed as an import hook so that ``import restoration``
does not import torch; the fix runs right before the first ``import torchvision``.

After the fix: models, transforms and ``roi_align`` work; ``torchvision.io`` codecs and
``deform_conv2d`` do not (this project reads images with OpenCV).
"""
from __future__ import annotations

import importlib.abc
import os
import sys

_state: dict[str, object] = {"applied": None, "library": None}


def _compiled_ops_load() -> bool:
    """True when torchvision's ``_C`` extension loads (then torchvision needs no help)."""
    import torch

    from restoration._packages import package_dir

    folder = package_dir("torchvision")
    if folder is None:
        return True  # no torchvision: nothing to fix
    libs = [f for f in os.listdir(folder) if f.startswith("_C.") and f.endswith((".so", ".pyd", ".dylib"))]
    if not libs:
        return False
    try:
        torch.ops.load_library(os.path.join(folder, libs[0]))
    except (OSError, ImportError, RuntimeError):
        return False
    return True


def _nms(dets, scores, iou_threshold: float):
    """Greedy NMS in plain torch (the reference algorithm of ``torchvision.ops.nms``)."""
    import torch

    order = torch.argsort(scores, descending=True)
    x1, y1, x2, y2 = dets.unbind(1)
    area = (x2 - x1).clamp(min=0) * (y2 - y1).clamp(min=0)
    keep: list[int] = []
    alive = torch.ones(len(order), dtype=torch.bool)
    for rank, i in enumerate(order.tolist()):
        if not alive[rank]:
            continue
        keep.append(i)
        rest = order[rank + 1 :]
        w = (torch.minimum(x2[i], x2[rest]) - torch.maximum(x1[i], x1[rest])).clamp(min=0)
        h = (torch.minimum(y2[i], y2[rest]) - torch.maximum(y1[i], y1[rest])).clamp(min=0)
        inter = w * h
        iou = inter / (area[i] + area[rest] - inter)
        alive[rank + 1 :] &= iou <= iou_threshold
    return torch.tensor(keep, dtype=torch.long, device=dets.device)


def apply() -> bool:
    """Apply the fix if torchvision needs it. Returns True when the schemas were defined. Idempotent."""
    if _state["applied"] is not None:
        return bool(_state["applied"])
    if "torchvision" in sys.modules or _compiled_ops_load():
        _state["applied"] = False
        return False
    import torch

    lib = torch.library.Library("torchvision", "DEF")
    for name in ("nms", "qnms"):
        lib.define(f"{name}(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
        lib.impl(name, _nms, "CompositeExplicitAutograd")
    _state["library"] = lib  # keep the registration alive for the life of the process
    _state["applied"] = True
    return True


class _TorchvisionHook(importlib.abc.MetaPathFinder):
    """Runs :func:`apply` right before the first ``import torchvision``, then steps aside."""

    def find_spec(self, fullname, path=None, target=None):  # noqa: D401 - importlib protocol
        if fullname == "torchvision":
            uninstall_hook()
            apply()
        return None


_hook = _TorchvisionHook()


def install_hook() -> None:
    if "torchvision" not in sys.modules and _hook not in sys.meta_path:
        sys.meta_path.insert(0, _hook)


def uninstall_hook() -> None:
    if _hook in sys.meta_path:
        sys.meta_path.remove(_hook)
