"""The model zoo: shipped models (``pretrained/manifest.json``) and the user's imported ones, by name.

Manifest format (schema 1), the same in both folders::

    {"schema": 1, "default": "NAME" | null,
     "models": {"NAME": {"file": "NAME.safetensors", "sha256": "...", "arch": "SRVGGNetCompact", "scale": 4,
                         "description": "...", "trained_on": "...", "metrics": {"...": 0.0},
                         "source": "...", "licence": "...", "source_sha256": "..."}}}

Shipped models live in ``$RESTORATION_MODELS_DIR`` when set, otherwise in ``pretrained/`` (installed as the package
data ``restoration/pretrained/``; next to the package in a source checkout).
Imported models (``restoration models import``, ``make assets``) live in the user's models folder,
``$RESTORATION_USER_MODELS_DIR`` or ``${XDG_CACHE_HOME:-~/.cache}/restoration/models``, never in the repository.
The user folder's ``default`` overrides the shipped default. Real-ESRGAN's own model names are accepted as aliases.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from restoration.errors import RestorationError
from restoration.hashing import sha256_file
from restoration.inference.weights import describe_weights, read_weights

MANIFEST = "manifest.json"
ENV_DIR = "RESTORATION_MODELS_DIR"
ENV_USER_DIR = "RESTORATION_USER_MODELS_DIR"
MODEL_SUFFIXES = (".safetensors", ".pth", ".pt", ".ckpt")
SHIPPED, IMPORTED = "shipped", "imported"
# Real-ESRGAN's names (its inference script's -n values) -> the names `make assets` registers them under.
ALIASES = {
    "RealESRGAN_x4plus": "realesrgan-x4plus",
    "RealESRGAN_x4plus_anime_6B": "realesrgan-x4plus-anime-6b",
    "realesr-animevideov3": "realesr-animevideov3-x4",
}


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
    origin: str = SHIPPED       # "shipped" (pretrained/) or "imported" (the user's models folder)
    source: str = ""            # where imported weights came from
    licence: str = ""
    source_sha256: str = ""     # of the files they were converted from (re-imports of the same files are skipped)


def models_dir(models_dir: str | os.PathLike | None = None) -> Path:
    """Where the manifest lives: the argument, else ``$RESTORATION_MODELS_DIR``, else the shipped models.

    Those are the package data ``restoration/pretrained/`` in a wheel or ``pip install .`` (setup.py maps the
    repository's ``pretrained/`` there), and ``<repo>/pretrained`` in a source checkout or an editable install."""
    if models_dir is not None:
        return Path(models_dir)
    env = os.environ.get(ENV_DIR)
    if env:
        return Path(env)
    package = Path(__file__).resolve().parents[1]
    installed = package / "pretrained"
    if (installed / MANIFEST).is_file():
        return installed
    return package.parent / "pretrained"


def user_models_dir(user_dir: str | os.PathLike | None = None) -> Path:
    """The user's models folder: the argument, else ``$RESTORATION_USER_MODELS_DIR``, else
    ``${XDG_CACHE_HOME:-~/.cache}/restoration/models``."""
    if user_dir is not None:
        return Path(user_dir)
    env = os.environ.get(ENV_USER_DIR)
    if env:
        return Path(env).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "restoration" / "models"


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


def _entries(root: Path, origin: str) -> tuple[list[ModelInfo], str | None]:
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
                origin=origin,
                source=str(entry.get("source", "")),
                licence=str(entry.get("licence", "")),
                source_sha256=str(entry.get("source_sha256", "")),
            ))
        except (KeyError, TypeError, ValueError) as exc:
            raise RestorationError(f"model manifest {root / MANIFEST}: bad entry models.{name} ({exc})") from None
    return out, data.get("default")


def list_models(models_dir_: str | os.PathLike | None = None, user_dir: str | os.PathLike | None = None,
                include_user: bool = True) -> list[ModelInfo]:
    """Shipped and imported models, default first, then shipped, then imported, each by name.

    An imported model never hides a shipped one of the same name (``restoration models import`` refuses such
    names). The user folder's default wins over the shipped one when it names a listed model."""
    shipped, shipped_default = _entries(models_dir(models_dir_), SHIPPED)
    imported, user_default = _entries(user_models_dir(user_dir), IMPORTED) if include_user else ([], None)
    taken = {m.name for m in shipped}
    out = shipped + [m for m in imported if m.name not in taken]
    names = {m.name for m in out}
    default = user_default if user_default in names else shipped_default
    for m in out:
        m.default = m.name == default
    out.sort(key=lambda m: (not m.default, m.origin != SHIPPED, m.name))
    return out


def default_model(models_dir_: str | os.PathLike | None = None,
                  user_dir: str | os.PathLike | None = None) -> ModelInfo:
    """The user's default model, else the shipped manifest's, or a RestorationError saying none is installed."""
    models = list_models(models_dir_, user_dir)
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


def find_model(name: str, models_dir_: str | os.PathLike | None = None,
               user_dir: str | os.PathLike | None = None) -> ModelInfo:
    """A listed model by name or by Real-ESRGAN's name for it; RestorationError naming what is installed."""
    models = list_models(models_dir_, user_dir)
    by_name = {m.name: m for m in models}
    if name in by_name:
        return by_name[name]
    target = ALIASES.get(name)
    if target in by_name:
        return by_name[target]
    if target is not None:
        raise RestorationError(f"model {name!r} (Real-ESRGAN's name for {target!r}) is not installed: run "
                               "`make assets` or `restoration models import-released`")
    known = ", ".join(by_name) or "none installed"
    raise RestorationError(f"unknown model name {name!r}; known models: {known}")


def resolve_model(model: str | os.PathLike | None, models_dir_: str | os.PathLike | None = None,
                  verify: bool = True, user_dir: str | os.PathLike | None = None) -> tuple[Path, ModelInfo | None]:
    """A model argument (None = default, a zoo name, an alias or a file path) -> (weight file, entry or None)."""
    if model is None:
        info = default_model(models_dir_, user_dir)
    elif isinstance(model, Path) or _looks_like_path(str(model)):
        path = Path(model)
        if not path.is_file():
            raise RestorationError(f"model file not found: {path}")
        return path, None
    else:
        info = find_model(str(model), models_dir_, user_dir)
    if not info.path.is_file():
        raise RestorationError(f"model {info.name!r}: weight file {info.path} is missing")
    if verify and info.sha256:
        digest = sha256_file(info.path)
        if digest != info.sha256:
            raise RestorationError(
                f"model {info.name!r}: {info.path} has sha256 {digest[:12]}..., manifest says {info.sha256[:12]}... "
                "(corrupt or replaced file" + ("; import it again" if info.origin == IMPORTED else "") + ")"
            )
    return info.path, info


def _inside(path: str | os.PathLike, root: Path, what: str) -> tuple[Path, Path]:
    """``path`` resolved and relative to ``root``; a file outside it is refused (manifests hold relative names)."""
    path = Path(path).resolve()
    try:
        return path, path.relative_to(root.resolve())
    except ValueError:
        raise RestorationError(f"{path} is not inside {what} {root}") from None


def add_to_manifest(name: str, path: str | os.PathLike, *, description: str = "", trained_on: str = "",
                    metrics: dict | None = None, make_default: bool = False,
                    models_dir_: str | os.PathLike | None = None) -> ModelInfo:
    """Register a weight file already inside the models folder (used by ``restoration export --register``)."""
    root = models_dir(models_dir_)
    path, rel = _inside(path, root, "the models folder")
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
    write_manifest(root, data)
    return next(m for m in list_models(root) if m.name == name)


def write_manifest(root: str | os.PathLike, data: dict) -> Path:
    """Replace ``root/manifest.json`` atomically (a temporary file renamed over it): readers never see half a file."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    data["schema"] = 1
    tmp = root / f".{MANIFEST}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    os.replace(tmp, root / MANIFEST)
    return root / MANIFEST


def register_imported(name: str, path: str | os.PathLike, entry: dict[str, Any], *, make_default: bool = False,
                      user_dir: str | os.PathLike | None = None) -> ModelInfo:
    """Point the user folder's entry ``name`` at ``path`` (a file already written inside that folder).

    The manifest swap is the commit: until it happens the old entry and its file stay valid; afterwards the
    previous file of that entry, if different, is removed."""
    root = user_models_dir(user_dir)
    path, rel = _inside(path, root, "the user models folder")
    data = read_manifest(root)
    old = data["models"].get(name, {}).get("file")
    data["models"][name] = {"file": rel.as_posix(), **{k: v for k, v in entry.items() if k != "file"}}
    if make_default:
        data["default"] = name
    write_manifest(root, data)
    if old and old != rel.as_posix() and not any(e.get("file") == old for e in data["models"].values()):
        (root / old).unlink(missing_ok=True)
    return next(m for m in list_models(user_dir=root) if m.name == name and m.origin == IMPORTED)


def set_user_default(name: str | None, models_dir_: str | os.PathLike | None = None,
                     user_dir: str | os.PathLike | None = None) -> ModelInfo | None:
    """Make ``name`` (shipped, imported or an alias) the user's default; None goes back to the shipped default."""
    root = user_models_dir(user_dir)
    info = None if name is None else find_model(name, models_dir_, root)
    data = read_manifest(root)
    data["default"] = None if info is None else info.name
    write_manifest(root, data)
    return info
