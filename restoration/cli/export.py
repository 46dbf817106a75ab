"""``restoration export``: turn a training checkpoint into a ``.safetensors`` model file with metadata."""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from restoration.errors import RestorationError

NAME = "export"
HELP = "write a .safetensors model file (with arch metadata) or an ONNX graph from a checkpoint or model file"
DESCRIPTION = (
    "Export net_g weights (params_ema if present, else params) to .safetensors. The architecture comes from the "
    "experiment's option file (found next to the checkpoint, or --opt), else from --arch/--arch-kwargs, else it is "
    "detected from the weight names. With --onnx the output is an ONNX graph instead (input/output N x C x H x W "
    "float in 0..1, dynamic sizes) for ONNX Runtime or chaiNNer, kept only when ONNX Runtime reproduces the torch "
    "output within 1/255."
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoint", required=True, help="experiments/NAME/models/net_g_X.pth (or any model file)")
    p.add_argument("--out", required=True, help="output .safetensors path (.onnx with --onnx)")
    p.add_argument("--onnx", action="store_true", help="write an ONNX graph (needs the [onnx] extra)")
    p.add_argument("--opt", default=None, help="training option file (default: the .yml in the experiment folder)")
    p.add_argument("--arch", default=None, help="architecture, when there is no option file (e.g. SRVGGNetCompact)")
    p.add_argument("--arch-kwargs", default=None, help='its arguments as JSON, e.g. \'{"num_feat": 64}\'')
    p.add_argument("--name", default=None, help="model name stored in the file (default: the output file name)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    p.add_argument("--register", action="store_true", help="add the file to the zoo manifest (it must be inside it)")
    p.add_argument("--default", action="store_true", help="with --register: make it the default model")
    p.add_argument("--description", default="", help="with --register: one line describing the model")
    p.add_argument("--trained-on", default="", help="with --register: what it was trained on")
    p.add_argument("--models-dir", default=None, help="zoo folder (default: $RESTORATION_MODELS_DIR or pretrained/)")


def find_options(checkpoint: Path) -> Path | None:
    """The options the run used: experiments/NAME/options_resolved.yml (after --force_yml overrides), else the one
    copied option file of an older experiment; the checkpoint lives in experiments/NAME/models/."""
    from restoration.options import RESOLVED_OPTIONS

    for folder in (checkpoint.parent.parent, checkpoint.parent):
        if (folder / RESOLVED_OPTIONS).is_file():
            return folder / RESOLVED_OPTIONS
        ymls = sorted(folder.glob("*.yml")) + sorted(folder.glob("*.yaml"))
        if len(ymls) == 1:
            return ymls[0]
    return None


def network_from_options(path: Path) -> tuple[str, dict, dict]:
    """(arch, kwargs, provenance) from an option file's ``network_g`` section (``_base_`` files merged in)."""
    from restoration.errors import OptionError
    from restoration.hashing import sha256_file
    from restoration.yaml_files import read_options

    try:
        digest = sha256_file(path)  # of the file as written; its _base_ files are named inside it
        opt = read_options(path)  # with its _base_ files merged in: a recipe often inherits its network
    except OSError as exc:
        raise RestorationError(f"cannot read option file {path}: {exc.strerror or exc}") from None
    except OptionError as exc:  # e.g. a !!python/object tag: safe loading refuses it, one line says why
        raise RestorationError(f"cannot read option file {path}: {str(exc).removeprefix(f'{path}: ')}") from None
    net = (opt or {}).get("network_g") if isinstance(opt, dict) else None
    if not isinstance(net, dict) or "type" not in net:
        raise RestorationError(f"{path}: no network_g.type in the option file")
    kwargs = {k: v for k, v in net.items() if k != "type"}
    prov = {"options_file": path.name, "options_sha256": digest,
            "experiment": str(opt.get("name", ""))}
    train = (opt.get("datasets") or {}).get("train") if isinstance(opt.get("datasets"), dict) else None
    if isinstance(train, dict) and train.get("name"):
        prov["train_dataset"] = str(train["name"])
    return net["type"], kwargs, prov


def _check_out(ckpt: Path, out: Path, args: argparse.Namespace) -> None:
    """Everything that can be refused before a byte is written: name, existing file, the zoo for --register."""
    from restoration.inference.zoo import models_dir, read_manifest

    want = ".onnx" if args.onnx else ".safetensors"
    if out.suffix.lower() != want:
        raise RestorationError(f"--out must end in {want}{' with --onnx' if args.onnx else ''}, got {out}")
    if args.onnx and args.register:
        raise RestorationError("--register takes .safetensors files; an ONNX graph is not a zoo model")
    if out.is_dir():
        raise RestorationError(f"--out {out} is a folder")
    if out.exists() and not args.overwrite:
        raise RestorationError(f"{out} exists; pass --overwrite to replace it")
    if out.resolve() == ckpt.resolve():
        raise RestorationError("--out must differ from --checkpoint")
    if (args.default or args.description or args.trained_on) and not args.register:
        raise RestorationError("--default, --description and --trained-on go with --register")
    if args.register:
        root = models_dir(args.models_dir)
        try:
            out.resolve().relative_to(root.resolve())
        except ValueError:
            raise RestorationError(f"--register: {out} is not inside the models folder {root} (write it there with "
                                   "--out, or pass --models-dir)") from None
        read_manifest(root)  # a broken manifest is refused now, not after the file is written


def run(args: argparse.Namespace) -> int:
    from restoration.inference.files import describe_weights, read_weights, save_model
    from restoration.inference.zoo import add_to_manifest

    ckpt, out = Path(args.checkpoint), Path(args.out)
    _check_out(ckpt, out, args)
    state, meta = read_weights(ckpt)
    extra: dict = {"checkpoint": ckpt.name}
    if m := re.search(r"_(\d+)\.\w+$", ckpt.name):
        extra["iteration"] = int(m.group(1))
    opt_path = Path(args.opt) if args.opt else (None if args.arch else find_options(ckpt))
    if args.opt and opt_path is not None and not opt_path.is_file():
        raise RestorationError(f"option file not found: {opt_path}")
    if opt_path is not None:
        arch, kwargs, prov = network_from_options(opt_path)
        extra.update(prov)
        source = f"option file {opt_path}"
    elif args.arch:
        try:
            kwargs = json.loads(args.arch_kwargs or "{}")
        except ValueError as exc:
            raise RestorationError(f"--arch-kwargs is not valid JSON: {exc}") from None
        arch, source = args.arch, "--arch"
    else:
        desc = describe_weights(state, meta, str(ckpt))
        arch, kwargs, source = desc.arch, desc.arch_kwargs, ("file metadata" if meta.get("arch") else "weight names")
        if meta.get("extra"):
            extra = {**json.loads(meta["extra"]), **extra}
    from restoration.inference.descriptor import ModelDescriptor

    desc = ModelDescriptor.create(arch, kwargs)
    name = args.name or out.stem
    if args.onnx:
        return _write_onnx(state, desc, out, name, extra)
    save_model(state, out, arch=desc.arch, arch_kwargs=desc.arch_kwargs, scale=desc.scale, name=name, extra=extra)
    print(f"wrote {out}: {desc.summary()} (architecture from {source})")
    if args.register:
        info = add_to_manifest(name, out, description=args.description, trained_on=args.trained_on,
                               make_default=args.default, models_dir_=args.models_dir)
        print(f"registered {info.name!r} in the zoo" + (" as the default" if info.default else ""), file=sys.stderr)
    return 0


def _write_onnx(state: dict, desc, out: Path, name: str, extra: dict) -> int:
    """Through a temporary .safetensors and ``load_model``: the same checks and wrappers (an output resize) as
    every other use of the weights."""
    import tempfile

    from restoration.inference.files import load_model, save_model
    from restoration.inference.onnx_export import export_onnx

    with tempfile.TemporaryDirectory(prefix="restoration-onnx-") as tmp:
        file = save_model(state, Path(tmp) / "model.safetensors", arch=desc.arch, arch_kwargs=desc.arch_kwargs,
                          scale=desc.scale, name=name, extra=extra)
        net, loaded = load_model(file, device="cpu")
    diff = export_onnx(net, out, loaded.in_channels, multiple=loaded.input_multiple)
    print(f"wrote {out}: {loaded.summary()} as ONNX (ONNX Runtime vs torch: max |diff| {diff:.1e})")
    return 0
