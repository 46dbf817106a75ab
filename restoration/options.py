"""Training option files: load, apply ``--force_yml`` overrides, and validate everything before any work starts.

BasicSR reads option files without checking them: a typo in a key is ignored, ``lr: 2e-4`` arrives as the
string "2e-4" (PyYAML follows YAML 1.1) and only fails deep inside the optimiser, a missing dataset folder
fails after the experiment folder was created. Here every key of the known sections is checked against a
schema, types are checked, and the files an option names must exist. Each problem raises one
:class:`OptionError` naming the key path (``train.optim_g.lr``). Overrides are parsed as YAML values, never
executed. The returned dict is a fresh copy: callers may keep the loaded file unchanged.
"""
from __future__ import annotations

import copy
import inspect
import os
from pathlib import Path
from typing import Any, Mapping, Sequence

import yaml

from restoration.errors import OptionError, RestorationError
from restoration.yaml_files import read_yaml  # noqa: F401  (also re-exported: callers import it from here)

OFFLINE = "offline"  # dataroot_gt value: the photos installed packages ship (restoration.data.offline_photos)

# ---------------------------------------------------------------------------------------------- schema
# A spec is a type name, a tuple of accepted names, or a dict of sub-specs. "*" in a dict = extra keys allowed
# (their values are checked elsewhere, e.g. network kwargs against the arch's signature).
INT, FLOAT, BOOL, STR, LIST, DICT, ANY, NONE = "int", "float", "bool", "str", "list", "dict", "any", "none"
NUMS = "list[float]"

_LOSS = {"type": STR, "loss_weight": FLOAT, "reduction": STR, "*": ANY}
_TASKS = {"mode": STR, "bank": (STR, NONE), "group_weights": (NUMS, NONE), "seed": (INT, NONE)}
_TRAIN_DATA = {
    "name": STR, "type": STR, "dataroot_gt": (STR, LIST), "meta_info": (STR, NONE), "io_backend": {"type": STR, "*": ANY},
    "filename_tmpl": STR, "gt_size": INT, "use_hflip": BOOL, "use_rot": BOOL, "offline_val_count": INT,
    "batch_size_per_gpu": INT, "num_worker_per_gpu": INT, "dataset_enlarge_ratio": INT, "prefetch_mode": (STR, NONE),
    "pin_memory": BOOL, "persistent_workers": BOOL, "tasks": _TASKS, "phase": STR, "scale": INT, "cache_images": BOOL,
}
_VAL_DATA = {
    "name": STR, "type": STR, "dataroot_gt": (STR, LIST), "dataroot_lq": STR, "meta_info": (STR, NONE),
    "io_backend": {"type": STR, "*": ANY}, "filename_tmpl": STR, "offline_val_count": INT, "crop_size": (INT, NONE),
    "tasks": {"bank": (STR, NONE), "num_tasks": INT, "seed": INT}, "phase": STR, "scale": INT,
}
SCHEMA: dict[str, Any] = {
    "name": STR, "model_type": STR, "scale": INT, "num_gpu": (INT, STR), "manual_seed": (INT, NONE),
    "is_train": BOOL, "dist": BOOL, "rank": INT, "world_size": INT, "auto_resume": BOOL, "root_path": STR,
    "find_unused_parameters": BOOL, "num_threads": (INT, STR),
    # Real-ESRGAN model-level keys
    "queue_size": INT, "gt_usm": BOOL, "l1_gt_usm": BOOL, "percep_gt_usm": BOOL, "gan_gt_usm": BOOL,
    "usm": {"radius": INT, "weight": FLOAT, "threshold": FLOAT},
    "degradation": ({"*": ANY}, NONE),  # checked by DegradationSpace.from_opt
    "datasets": {"*": ANY},     # checked per phase below
    "network_g": {"type": STR, "*": ANY},
    "network_d": {"type": STR, "*": ANY},
    "path": {"pretrain_network_g": (STR, NONE), "param_key_g": STR, "strict_load_g": BOOL, "resume_state": (STR, NONE),
             "pretrain_network_d": (STR, NONE), "param_key_d": STR, "strict_load_d": BOOL, "experiments_root": STR,
             "models": STR, "training_states": STR, "log": STR, "visualization": STR, "root": STR},
    "train": {
        "ema_decay": FLOAT, "total_iter": INT, "warmup_iter": INT, "net_d_iters": INT, "net_d_init_iters": INT,
        "optim_g": {"type": STR, "lr": FLOAT, "weight_decay": FLOAT, "betas": NUMS, "momentum": FLOAT, "eps": FLOAT},
        "optim_d": {"type": STR, "lr": FLOAT, "weight_decay": FLOAT, "betas": NUMS, "momentum": FLOAT, "eps": FLOAT},
        "scheduler": {"type": STR, "milestones": "list[int]", "gamma": FLOAT, "periods": "list[int]",
                      "restart_weights": NUMS, "restarts": "list[int]", "eta_min": FLOAT},
        "pixel_opt": (_LOSS, NONE), "perceptual_opt": (_LOSS, NONE), "gan_opt": (_LOSS, NONE),
        "distill_opt": ({"*": ANY}, NONE),  # checked by restoration.losses.distill
        "balancing": ({"*": ANY}, NONE),  # checked by build_balancer
    },
    "val": {"val_freq": INT, "save_img": BOOL, "suffix": (STR, NONE), "pbar": BOOL,
            "metrics": {"*": {"type": STR, "crop_border": INT, "test_y_channel": BOOL, "better": STR}}},
    "logger": {"print_freq": INT, "save_checkpoint_freq": INT, "use_tb_logger": BOOL,
               "wandb": {"project": (STR, NONE), "resume_id": (STR, NONE)}, "task_loss_limit": INT},
    "dist_params": {"backend": STR, "port": INT, "timeout_s": INT},
}
REQUIRED = ("name", "model_type", "scale", "datasets", "network_g", "train")
OUR_DATASETS = ("GTImageDataset", "DegradedValDataset")
_STRING_NUM_HINT = "PyYAML reads 2e-4 as a string: write !!float 2e-4 or 0.0002"


def _is(value: Any, kind: str) -> bool:
    if kind == ANY:
        return True
    if kind == NONE:
        return value is None
    if kind == BOOL:
        return isinstance(value, bool)
    if kind == INT:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == FLOAT:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == STR:
        return isinstance(value, str)
    if kind == LIST:
        return isinstance(value, (list, tuple))
    if kind == DICT:
        return isinstance(value, Mapping)
    if kind.startswith("list["):
        inner = kind[5:-1]
        return isinstance(value, (list, tuple)) and all(_is(v, inner) for v in value)
    raise AssertionError(kind)


def _describe(value: Any) -> str:
    if isinstance(value, str):
        return f"the string {value!r}"
    return f"{type(value).__name__} {value!r}"


def check(value: Any, spec: Any, path: str) -> None:
    """Raise OptionError when ``value`` does not fit ``spec`` (see SCHEMA)."""
    options = spec if isinstance(spec, tuple) else (spec,)
    dict_specs = [s for s in options if isinstance(s, dict)]
    if dict_specs and isinstance(value, Mapping):
        sub = dict_specs[0]
        for key, v in value.items():
            if key in sub:
                check(v, sub[key], f"{path}.{key}" if path else str(key))
            elif "*" in sub:
                check(v, sub["*"], f"{path}.{key}" if path else str(key))
            else:
                known = ", ".join(sorted(k for k in sub if k != "*"))
                where = path or "top level"
                raise OptionError(f"{path + '.' if path else ''}{key}: unknown option (known keys at {where}: {known})")
        return
    kinds = [s for s in options if not isinstance(s, dict)]
    if any(_is(value, k) for k in kinds):
        return
    wanted = " or ".join(["mapping"] * bool(dict_specs) + [k for k in kinds])
    hint = f" ({_STRING_NUM_HINT})" if isinstance(value, str) and any("float" in k or k == INT for k in kinds) else ""
    raise OptionError(f"{path}: expected {wanted}, got {_describe(value)}{hint}")


# ---------------------------------------------------------------------------------------------- loading
def _yaml_load(path: Path) -> dict:
    data = read_yaml(path)
    if not isinstance(data, dict):
        raise OptionError(f"{path}: expected a mapping of options at the top level")
    return data


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


def _check_dataset(phase: str, d: Any, base: Path) -> None:
    from basicsr.utils.registry import DATASET_REGISTRY

    key = f"datasets.{phase}"
    if not isinstance(d, Mapping):
        raise OptionError(f"{key}: expected a mapping")
    if "type" not in d:
        raise OptionError(f"{key}.type: missing (e.g. GTImageDataset)")
    dtype = d["type"]
    if dtype not in DATASET_REGISTRY:
        raise OptionError(f"{key}.type: unknown dataset type {dtype!r}")
    if dtype in OUR_DATASETS:
        check(d, _TRAIN_DATA if phase == "train" else _VAL_DATA, key)
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
        _check_file(tasks["bank"], f"{key}.tasks.bank", base)
    if phase == "train":
        for req in ("batch_size_per_gpu", "gt_size"):
            if dtype in OUR_DATASETS and req not in d:
                raise OptionError(f"{key}.{req}: missing")


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
    """Schema, types, files and cross-checks; raises OptionError. Needs BasicSR registries (imports them)."""
    import restoration

    restoration.register()
    from basicsr.utils.registry import MODEL_REGISTRY

    for key in REQUIRED:
        if key not in opt:
            raise OptionError(f"{key}: missing")
    check(opt, SCHEMA, "")
    from restoration.options_checks import check_name, check_numbers, check_objects

    check_name(opt["name"])
    check_numbers(opt)
    if opt["model_type"] not in MODEL_REGISTRY:
        raise OptionError(f"model_type: unknown model {opt['model_type']!r}")
    num_gpu = opt.get("num_gpu", "auto")
    if isinstance(num_gpu, str) and num_gpu != "auto":
        raise OptionError(f"num_gpu: expected an integer or 'auto', got {num_gpu!r}")
    threads = opt.get("num_threads", "auto")
    if (isinstance(threads, str) and threads != "auto") or (isinstance(threads, int) and threads < 1):
        raise OptionError(f"num_threads: expected a positive integer or 'auto', got {threads!r}")
    if "train" not in opt["datasets"]:
        raise OptionError("datasets.train: missing")
    for phase, d in opt["datasets"].items():
        if phase != "train" and not phase.startswith("val"):
            raise OptionError(f"datasets.{phase}: phase must be 'train' or start with 'val'")
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
    train = opt["train"]
    for req in ("total_iter", "optim_g"):
        if req not in train:
            raise OptionError(f"train.{req}: missing")
    if opt.get("degradation") is not None:
        from restoration.degradations import DegradationSpace

        try:
            DegradationSpace.from_opt(dict(opt["degradation"]))
        except OptionError as exc:
            raise OptionError(f"degradation: {exc}") from None
    train_data = opt["datasets"]["train"]
    if train_data.get("type") == "GTImageDataset" and "gt_size" in train_data:
        _check_gt_size(int(train_data["gt_size"]), int(opt["scale"]), opt.get("degradation"))
    if train.get("distill_opt") is not None:
        from restoration.losses.distill import check_distill_opt

        check_distill_opt(train["distill_opt"])
    if opt.get("val") and opt["val"].get("val_freq") is None:
        raise OptionError("val.val_freq: missing")
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
    opt = apply_overrides(copy.deepcopy(_yaml_load(path)), overrides)
    try:
        _weights_by_name(opt, Path(base) if base is not None else Path.cwd())
        validate(opt, Path(base) if base is not None else Path.cwd())
    except OptionError as exc:
        raise OptionError(f"{path}: {exc}") from None
    return opt
