"""The model zoo: ``pretrained/manifest.json`` maps names to weight files with their checksum and provenance.

Manifest format (schema 1)::

    {"schema": 1, "default": "NAME" | null,
     "models": {"NAME": {"file": "NAME.safetensors", "sha256": "...", "arch": "SRVGGNetCompact", "scale": 4,
                         "description": "...", "trained_on": "...", "metrics": {"...": 0.0}}}}

The folder is ``$RESTORATION_MODELS_DIR`` when set, otherwise ``pretrained/`` next to the package.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from restoration.errors import RestorationError

MANIFEST = "manifest.json"
ENV_DIR = "RESTORATION_MODELS_DIR"
MODEL_SUFFIXES = (".safetensors", ".pth", ".pt", ".ckpt")


@dataclass
class ModelInfo:
    """One manifest entry; ``path`` is the absolute weight file."""

    name: str
    file: str
    path: Path
    sha256: str
    arch: str
    scale: int
    description: str = ""
    trained_on: str = ""
    metrics: dict[str, Any] = field(default_factory=dict)
    default: bool = False


def models_dir(models_dir: str | os.PathLike | None = None) -> Path:
    """Where the manifest lives: the argument, else ``$RESTORATION_MODELS_DIR``, else ``<repo>/pretrained``."""
    if models_dir is not None:
        return Path(models_dir)
    env = os.environ.get(ENV_DIR)
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / "pretrained"


def read_manifest(models_dir_: str | os.PathLike | None = None) -> dict:
    """The manifest as a dict (an empty zoo when the file does not exist); RestorationError when malformed."""
    path = models_dir(models_dir_) / MANIFEST
    if not path.is_file():
        return {"schema": 1, "default": None, "models": {}}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise RestorationError(f"cannot read model manifest {path}: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("models", {}), dict):
        raise RestorationError(f"model manifest {path}: expected an object with a 'models' object")
    data.setdefault("models", {})
    data.setdefault("default", None)
    return data


def list_models(models_dir_: str | os.PathLike | None = None) -> list[ModelInfo]:
    """The models of the manifest, default first, then by name."""
    root = models_dir(models_dir_)
    data = read_manifest(root)
    out = []
    for name, entry in data["models"].items():
        try:
            out.append(ModelInfo(
                name=name,
                file=entry["file"],
                path=(root / entry["file"]).resolve(),
                sha256=str(entry.get("sha256", "")),
                arch=str(entry.get("arch", "")),
                scale=int(entry.get("scale", 0)),
                description=str(entry.get("description", "")),
                trained_on=str(entry.get("trained_on", "")),
                metrics=dict(entry.get("metrics", {})),
                default=(name == data["default"]),
            ))
        except (KeyError, TypeError, ValueError) as exc:
            raise RestorationError(f"model manifest {root / MANIFEST}: bad entry models.{name} ({exc})") from None
    out.sort(key=lambda m: (not m.default, m.name))
    return out


def default_model(models_dir_: str | os.PathLike | None = None) -> ModelInfo:
    """The manifest's default model, or a RestorationError saying none is installed."""
    models = list_models(models_dir_)
    for info in models:
        if info.default:
            return info
    root = models_dir(models_dir_)
    known = ", ".join(m.name for m in models) or "none"
    where = (f"manifest {root / MANIFEST} marks none" if (root / MANIFEST).is_file()
             else f"there is no {root / MANIFEST}")
    raise RestorationError(
        f"no default model is installed ({where}; installed models: {known}); "
        "pass a model name (-n) or a weight file (--model-path)"
    )


def _looks_like_path(value: str) -> bool:
    return os.sep in value or "/" in value or value.lower().endswith(MODEL_SUFFIXES) or Path(value).is_file()


def resolve_model(model: str | os.PathLike | None, models_dir_: str | os.PathLike | None = None,
                  verify: bool = True) -> tuple[Path, ModelInfo | None]:
    """A model argument (None = default, a zoo name or a file path) -> (weight file, manifest entry or None)."""
    if model is None:
        info = default_model(models_dir_)
    elif isinstance(model, Path) or _looks_like_path(str(model)):
        path = Path(model)
        if not path.is_file():
            raise RestorationError(f"model file not found: {path}")
        return path, None
    else:
        models = list_models(models_dir_)
        by_name = {m.name: m for m in models}
        if str(model) not in by_name:
            known = ", ".join(by_name) or "none installed"
            raise RestorationError(f"unknown model name {model!r}; known models: {known}")
        info = by_name[str(model)]
    if not info.path.is_file():
        raise RestorationError(f"model {info.name!r}: weight file {info.path} is missing")
    if verify and info.sha256:
        from restoration.inference.files import sha256_file

        digest = sha256_file(info.path)
        if digest != info.sha256:
            raise RestorationError(
                f"model {info.name!r}: {info.path} has sha256 {digest[:12]}..., manifest says {info.sha256[:12]}... "
                "(corrupt or replaced file)"
            )
    return info.path, info


def add_to_manifest(name: str, path: str | os.PathLike, *, description: str = "", trained_on: str = "",
                    metrics: dict | None = None, make_default: bool = False,
                    models_dir_: str | os.PathLike | None = None) -> ModelInfo:
    """Register a weight file already inside the models folder (used by ``restoration export --register``)."""
    from restoration.inference.files import describe_weights, read_weights, sha256_file

    root = models_dir(models_dir_)
    path = Path(path).resolve()
    try:
        rel = path.relative_to(root.resolve())
    except ValueError:
        raise RestorationError(f"{path} is not inside the models folder {root}") from None
    state, meta = read_weights(path)
    desc = describe_weights(state, meta, str(path))
    data = read_manifest(root)
    data["models"][name] = {
        "file": rel.as_posix(),
        "sha256": sha256_file(path),
        "arch": desc.arch,
        "arch_kwargs": desc.arch_kwargs,
        "scale": desc.scale,
        "description": description,
        "trained_on": trained_on,
        "metrics": metrics or {},
    }
    if make_default:
        data["default"] = name
    data["schema"] = 1
    tmp = root / (MANIFEST + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    os.replace(tmp, root / MANIFEST)
    return next(m for m in list_models(root) if m.name == name)
