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

``import torchvision`` or ``import basicsr`` *before* ``restoration`` would still crash, so ``make setup`` also
writes a start-up file into the environment's site-packages (:func:`install_pth`): a ``.pth`` line that puts a
tiny finder on ``sys.meta_path``. It imports nothing at start-up; on the first ``import torchvision`` it imports
this module and calls :func:`apply` (a no-op where the compiled ops load).
"""
from __future__ import annotations

import importlib.abc
import os
import sys
from pathlib import Path

_state: dict[str, object] = {"applied": None, "library": None, "busy": False}


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
    if _state["applied"] is not None or _state.get("busy"):
        # busy: finding torchvision's folder below goes through the import hooks, which call apply() again
        return bool(_state["applied"])
    _state["busy"] = True
    try:
        uninstall_hook()
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
    finally:
        _state["busy"] = False


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


# ------------------------------------------------------------------------------------------ start-up (.pth) hook
PTH_NAME = "restoration-torchvision-compat.pth"
# Runs in every interpreter of the environment, so it only defines a finder: no import of restoration or torch
# until torchvision is imported. An uninstalled restoration leaves torchvision as it was (ImportError is ignored).
_PTH_CODE = """\
class _RestorationTorchvisionCompat:
    def find_spec(self, name, path=None, target=None):
        if name == "torchvision":
            import sys
            if self in sys.meta_path:
                sys.meta_path.remove(self)
            try:
                import restoration._compat as compat
            except ImportError:
                return None
            compat.apply()
        return None
import sys
sys.meta_path.insert(0, _RestorationTorchvisionCompat())
"""


def pth_line() -> str:
    """The one line of the start-up file (``site`` executes ``.pth`` lines that start with ``import``)."""
    return f"import sys; exec({_PTH_CODE!r})\n"


def install_pth(site_dir: str | os.PathLike | None = None) -> Path:
    """Write the start-up file into ``site_dir`` (default: this interpreter's site-packages); returns its path."""
    if site_dir is None:
        import sysconfig

        site_dir = sysconfig.get_paths()["purelib"]
    path = Path(site_dir) / PTH_NAME
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(pth_line(), encoding="utf-8")
    os.replace(tmp, path)
    return path
