"""Reading model weights: ``.safetensors`` with our metadata, BasicSR/Real-ESRGAN ``.pth`` checkpoints, and what
architecture they hold. No torch at import, and nothing here builds a network (:mod:`files` does).

Weights are never unpickled as arbitrary objects: ``.pth`` files go through ``torch.load(weights_only=True)``,
which refuses a pickle that would run code. When a file carries no metadata, the architecture and its
arguments are read from the state-dict key names and tensor shapes (BasicSR naming).
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any, Mapping

from restoration.checkpoints import INFERENCE_KEYS, unwrap_state_dict
from restoration.errors import RestorationError
from restoration.inference.descriptor import ARCHS, ModelDescriptor

SAFETENSORS_EXT = (".safetensors",)
PTH_EXT = (".pth", ".pt", ".ckpt", ".bin")
CHECKPOINT_KEYS = INFERENCE_KEYS  # the name earlier versions exported


def _max_index(state: Mapping[str, Any], prefix: str) -> int:
    pat = re.compile(rf"^{re.escape(prefix)}\.(\d+)\.")
    nums = [int(m.group(1)) for k in state if (m := pat.match(k))]
    return max(nums) if nums else -1


def detect_arch(state: Mapping[str, Any], source: str = "the file") -> ModelDescriptor:
    """Infer arch and kwargs from BasicSR key names and shapes (plain ``.pth`` files carry nothing else)."""
    if "conv_first.weight" in state and "conv_body.weight" in state and "body.0.rdb1.conv1.weight" in state:
        w_first = state["conv_first.weight"]
        num_feat = int(w_first.shape[0])
        num_out = int(state["conv_last.weight"].shape[0])
        in_flat = int(w_first.shape[1])
        # RRDBNet pixel-unshuffles the input for x2 (4x channels) and x1 (16x channels).
        scale = {1: 4, 4: 2, 16: 1}.get(in_flat // num_out if in_flat % num_out == 0 else 0, 4)
        num_in = in_flat // {4: 1, 2: 4, 1: 16}[scale]
        kwargs = dict(
            num_in_ch=num_in, num_out_ch=num_out, scale=scale, num_feat=num_feat,
            num_block=_max_index(state, "body") + 1, num_grow_ch=int(state["body.0.rdb1.conv1.weight"].shape[0]),
        )
        return ModelDescriptor.create("RRDBNet", kwargs)
    if "conv_first.weight" in state and "conv_hr.weight" in state and "upconv1.weight" in state:
        num_feat = int(state["conv_first.weight"].shape[0])
        if "upconv2.weight" in state:
            scale = 4
        else:
            scale = int(round((int(state["upconv1.weight"].shape[0]) / num_feat) ** 0.5))
        kwargs = dict(
            num_in_ch=int(state["conv_first.weight"].shape[1]), num_out_ch=int(state["conv_last.weight"].shape[0]),
            num_feat=num_feat, num_block=_max_index(state, "body") + 1, upscale=scale,
        )
        return ModelDescriptor.create("MSRResNet", kwargs)
    if "body.0.weight" in state and not any(k.startswith("conv_first") for k in state):
        last = _max_index(state, "body")
        num_in = int(state["body.0.weight"].shape[1])
        num_feat = int(state["body.0.weight"].shape[0])
        if "body.1.weight" not in state:
            raise RestorationError(
                f"{source}: looks like SRVGGNetCompact without PReLU weights; relu and leaky-relu variants cannot be "
                "told apart from the weights alone: save it as .safetensors with its arch options "
                "(restoration export --opt)"
            )
        num_conv = (last - 2) // 2
        out_flat = int(state[f"body.{last}.weight"].shape[0])
        num_out = num_in
        scale = int(round((out_flat / num_out) ** 0.5))
        if scale * scale * num_out != out_flat:
            raise RestorationError(
                f"{source}: SRVGGNetCompact last conv has {out_flat} channels, not num_out_ch*scale^2")
        kwargs = dict(num_in_ch=num_in, num_out_ch=num_out, num_feat=num_feat, num_conv=num_conv, upscale=scale,
                      act_type="prelu")
        return ModelDescriptor.create("SRVGGNetCompact", kwargs)
    keys = ", ".join(list(state)[:5])
    raise RestorationError(
        f"cannot tell the architecture of {source} from its weights (first keys: {keys}); "
        f"supported: {', '.join(ARCHS)}"
    )


def read_weights(path: str | os.PathLike) -> tuple[dict, dict[str, str]]:
    """Return (state_dict on CPU, metadata). Refuses anything that is not plain tensors."""
    path = Path(path)
    if not path.is_file():
        raise RestorationError(f"model file not found: {path}")
    if path.stat().st_size == 0:
        raise RestorationError(f"model file is empty: {path}")
    if path.suffix.lower() in SAFETENSORS_EXT:
        from safetensors import SafetensorError, safe_open
        from safetensors.torch import load_file

        try:
            with safe_open(str(path), framework="pt") as f:
                meta = dict(f.metadata() or {})
            state = load_file(str(path), device="cpu")
        except (SafetensorError, OSError, ValueError) as exc:
            raise RestorationError(f"{path} is not a valid safetensors file: {exc}") from None
        check_finite(state, path)
        return state, meta
    import pickle
    import zipfile

    import torch

    with open(path, "rb") as f:
        head = f.read(2)
    if not zipfile.is_zipfile(path) and not head.startswith(b"\x80"):  # zip (torch.save) or legacy pickle
        raise RestorationError(f"{path} is not a readable PyTorch checkpoint (neither a torch zip file nor a pickle)")
    try:
        obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
        why = next((ln for ln in lines if "GLOBAL" in ln or "Unsupported" in ln), lines[-1] if lines else "")
        raise RestorationError(
            f"refused to load {path}: it contains pickled objects other than tensors, which could run code; "
            f"only weights are loaded (torch.load weights_only=True): {why[:200]}"
        ) from None
    except (RuntimeError, EOFError, OSError, ValueError, zipfile.BadZipFile) as exc:
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise RestorationError(f"{path} is not a readable PyTorch checkpoint: {first}") from None
    state = unwrap_state_dict(obj, str(path), INFERENCE_KEYS)  # inference: the EMA weights first
    check_finite(state, path)
    return state, {}


def check_finite(state: Mapping[str, Any], source: str | os.PathLike) -> None:
    """Refuse weights holding NaN or Inf: they run without error and give black or garbage images."""
    import torch

    for key, value in state.items():
        if isinstance(value, torch.Tensor) and value.is_floating_point() and not bool(torch.isfinite(value).all()):
            what = "NaN" if bool(torch.isnan(value).any()) else "Inf"
            raise RestorationError(f"{source}: tensor {key!r} holds {what} values; these weights are unusable "
                                   "(a diverged or corrupted training run?)")


def describe_weights(state: Mapping[str, Any], meta: Mapping[str, str], source: str) -> ModelDescriptor:
    """The descriptor from metadata when present, otherwise from the keys."""
    if meta.get("arch"):
        try:
            kwargs = json.loads(meta.get("arch_kwargs", "{}"))
            scale = int(meta["scale"]) if meta.get("scale") else None
        except (ValueError, TypeError) as exc:
            raise RestorationError(f"{source}: bad model metadata ({exc})") from None
        extra = {}
        if meta.get("extra"):
            try:
                extra = json.loads(meta["extra"])
            except ValueError:
                extra = {}
        desc = ModelDescriptor.create(meta["arch"], kwargs, scale, name=meta.get("name", ""), path=source, extra=extra)
        if meta.get("output_resize"):
            from restoration.inference.output_resize import parse_output_resize

            resize = parse_output_resize(meta["output_resize"], desc.scale, source)
            desc.extra["output_resize"] = resize
            desc.scale = resize["scale"]
        return desc
    desc = detect_arch(state, source)
    desc.path = source
    return desc
