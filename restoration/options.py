"""Training option files: load, apply ``--force_yml`` overrides, and validate everything before any work starts.

BasicSR reads option files without checking them: a typo in a key is ignored, ``lr: 2e-4`` arrives as the
string "2e-4" (PyYAML follows YAML 1.1) and only fails deep inside the optimiser, a missing dataset folder
fails after the experiment folder was created. Here every key of the known sections is checked against a
schema (:mod:`restoration.schema.train`, one pydantic model per section), types are checked (a string is never a
number), and the files an option names must exist. Each problem raises one :class:`OptionError` naming the key
path (``train.optim_g.lr``). A file may inherit from others (``_base_: cpu_tiny.yml``, see
:func:`restoration.yaml_files.read_options`). Overrides are parsed as YAML values, never executed. The returned
dict is a fresh copy of the merged file: BasicSR functions consume it as it is.
"""
from __future__ import annotations

import copy
import inspect
import os
from pathlib import Path
from typing import Mapping, Sequence

import yaml

from restoration.errors import OptionError, RestorationError
from restoration.yaml_files import read_options, read_yaml  # noqa: F401  (re-exported: callers import them here)

OFFLINE = "offline"  # dataroot_gt value: the photos installed packages ship (restoration.data.offline_photos)


def apply_overrides(opt: dict, overrides: Sequence[str] | None) -> dict:
    """``key:sub=value`` (BasicSR's --force_yml syntax; ``.`` also separates keys); the value is parsed as YAML."""
    for item in overrides or ():
        if "=" not in item:
            raise OptionError(f"--force_yml {item!r}: expected KEY=VALUE, e.g. train:ema_decay=0.999")
        key, raw = item.split("=", 1)
        parts = [p for p in key.replace(".", ":").split(":") if p]
        if not parts:
            raise OptionError(f"--force_yml {item!r}: empty key")
        try:
            value = yaml.safe_load(raw)
        except yaml.YAMLError:
            value = raw
        node = opt
        for p in parts[:-1]:
            if not isinstance(node.get(p), dict):
                node[p] = {}
            node = node[p]
        node[parts[-1]] = value
    return opt


def _resolve(path: str, base: Path) -> Path:
    p = Path(os.path.expanduser(path))
    return p if p.is_absolute() else base / p


def _check_file(value: str | None, key: str, base: Path, folder: bool = False) -> None:
    if value is None:
        return
    p = _resolve(value, base)
    ok = p.is_dir() if folder else p.exists()
    if not ok:
        raise OptionError(f"{key}: {'folder' if folder else 'file'} {p} does not exist")


def _check_dataset(phase: str, d: Mapping, base: Path) -> None:
    """The dataset type is registered and the folders and files it names exist (its keys: the schema)."""
    from basicsr.utils.registry import DATASET_REGISTRY

    from restoration.schema.train import OUR_DATASETS

    key = f"datasets.{phase}"
    dtype = d["type"]
    if dtype not in DATASET_REGISTRY:
        raise OptionError(f"{key}.type: unknown dataset type {dtype!r}")
    roots = d.get("dataroot_gt")
    for i, root in enumerate(roots if isinstance(roots, list) else [roots] if roots is not None else []):
        if root == OFFLINE and dtype in OUR_DATASETS:
            continue
        sub = f"{key}.dataroot_gt" + (f"[{i}]" if isinstance(roots, list) else "")
        _check_file(root, sub, base, folder=True)  # a folder for disk and lmdb alike
    if d.get("dataroot_lq") is not None:
        _check_file(d["dataroot_lq"], f"{key}.dataroot_lq", base, folder=True)
    if d.get("meta_info") is not None:
        _check_file(d["meta_info"], f"{key}.meta_info", base)
    tasks = d.get("tasks") or {}
    if isinstance(tasks, Mapping) and tasks.get("bank"):
        banks = tasks["bank"] if isinstance(tasks["bank"], list) else [tasks["bank"]]
        for k, bank in enumerate(banks):
            _check_file(bank, f"{key}.tasks.bank" + (f"[{k}]" if len(banks) > 1 else ""), base)


def _check_network(key: str, net: Mapping) -> None:
    from restoration.models.nets import arch_class

    if "type" not in net:
        raise OptionError(f"{key}.type: missing (e.g. SRVGGNetCompact)")
    cls = arch_class(net["type"])
    if cls is None:
        raise OptionError(f"{key}.type: unknown architecture {net['type']!r}")
    params = inspect.signature(cls).parameters
    if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
        for k in net:
            if k != "type" and k not in params:
                known = ", ".join(p for p in params if p != "self")
                raise OptionError(f"{key}.{k}: not an argument of {net['type']} (arguments: {known})")


def _check_gt_size(gt_size: int, scale: int, degradation: Mapping | None) -> None:
    """The Real-ESRGAN chain blurs the image again after a first resize (down to 0.15x by default): the patch
    must leave more than half a kernel at every blur step, or synthesis fails mid-training."""
    import math

    from restoration.degradations import DegradationSpace

    space = DegradationSpace.from_opt(dict(degradation) if degradation else None)
    half = space.max_kernel_size() // 2
    after_first = math.floor(gt_size * min(space.resize_range[0], 1.0))
    if gt_size <= half or (space.second_blur_prob > 0 and after_first <= half) or \
            (space.final_sinc_prob > 0 and gt_size // scale <= half):
        need = max(half + 1, math.ceil((half + 1) / min(space.resize_range[0], 1.0)), (half + 1) * scale)
        raise OptionError(f"datasets.train.gt_size: {gt_size} px is too small for the degradation space (the first "
                          f"resize down to {space.resize_range[0]}x leaves {after_first} px, the {2 * half + 1}-tap "
                          f"blur needs more than {half}); use gt_size >= {need} or smaller kernels (kernel_range)")


def validate(opt: dict, base: Path) -> None:
    """Schema, files and cross-checks; raises OptionError. Needs BasicSR registries (imports them)."""
    import restoration

    restoration.register()
    from basicsr.utils.registry import MODEL_REGISTRY

    from restoration.options_checks import check_objects
    from restoration.schema.base import check
    from restoration.schema.train import TrainOptions

    check(TrainOptions, opt)
    if opt["model_type"] not in MODEL_REGISTRY:
        raise OptionError(f"model_type: unknown model {opt['model_type']!r}")
    for phase, d in opt["datasets"].items():
        _check_dataset(phase, d, base)
    _check_network("network_g", opt["network_g"])
    if opt.get("network_d"):
        _check_network("network_d", opt["network_d"])
    paths = opt.get("path") or {}
    for k in ("pretrain_network_g", "pretrain_network_d", "resume_state"):
        if paths.get(k) is not None and not _resolve(paths[k], base).exists():
            from restoration.options_checks import missing_weights_hint

            hint = "" if k == "resume_state" else f": {missing_weights_hint(str(_resolve(paths[k], base)))}"
            raise OptionError(f"path.{k}: file {_resolve(paths[k], base)} does not exist{hint}")
    train_data = opt["datasets"]["train"]
    if train_data["type"] == "GTImageDataset":
        _check_gt_size(train_data["gt_size"], opt["scale"], opt.get("degradation"))
    check_objects(opt)


# ---------------------------------------------------------------------------------------------- resolved copy
RESOLVED_OPTIONS = "options_resolved.yml"  # in experiments/<name>/: the options the run started with
_RUNTIME_KEYS = ("is_train", "dist", "rank", "world_size", "auto_resume", "root_path")
_RUNTIME_PATHS = ("experiments_root", "models", "training_states", "log", "visualization")


def resolved_options(opt: Mapping) -> dict:
    """The options after ``--force_yml`` overrides, without the fields a run adds (rank, experiment paths)."""
    out = {k: copy.deepcopy(v) for k, v in opt.items() if k not in _RUNTIME_KEYS}
    paths = {k: v for k, v in (out.get("path") or {}).items() if k not in _RUNTIME_PATHS}
    if paths:
        out["path"] = paths
    else:
        out.pop("path", None)
    return out


def write_resolved(opt: Mapping, folder: str | os.PathLike) -> Path:
    """Write :func:`resolved_options` to ``folder/options_resolved.yml`` (temp file + rename)."""
    path = Path(folder) / RESOLVED_OPTIONS
    tmp = path.with_name(path.name + ".tmp")
    header = "# Options of this run after --force_yml overrides (restoration export reads network_g from here).\n"
    tmp.write_text(header + yaml.safe_dump(resolved_options(opt), sort_keys=False), encoding="utf-8")
    os.replace(tmp, path)
    return path


def _weights_by_name(opt: dict, base: Path) -> None:
    """``path.pretrain_network_g/d`` may name a model of the zoo (``realesr-animevideov3-x4``, a Real-ESRGAN
    name of an imported model): it is replaced by that model's weight file, so option files need no cache paths."""
    paths = opt.get("path")
    if not isinstance(paths, dict):
        return
    for key in ("pretrain_network_g", "pretrain_network_d"):
        value = paths.get(key)
        if not isinstance(value, str) or any(c in value for c in "/\\") or Path(value).suffix:
            continue
        if _resolve(value, base).exists():
            continue
        from restoration.inference.zoo import resolve_model

        try:
            paths[key] = str(resolve_model(value)[0])
        except RestorationError as exc:
            raise OptionError(f"path.{key}: {value!r} is neither a file nor an installed model ({exc}); "
                              "`make assets` imports the released Real-ESRGAN models") from None


def load_options(path: str | os.PathLike, overrides: Sequence[str] | None = None,
                 base: str | os.PathLike | None = None) -> dict:
    """Read, override and validate a training option file; relative paths are resolved against ``base``
    (default: the current directory, as BasicSR does). Returns a new dict."""
    path = Path(path)
    opt = apply_overrides(copy.deepcopy(read_options(path)), overrides)
    try:
        _weights_by_name(opt, Path(base) if base is not None else Path.cwd())
        validate(opt, Path(base) if base is not None else Path.cwd())
    except OptionError as exc:
        raise OptionError(f"{path}: {exc}") from None
    return opt
