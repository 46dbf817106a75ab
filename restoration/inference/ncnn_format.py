"""The ncnn file format: ``.param`` layers and ``.bin`` weights, read into plain layers and arrays; no graph
meaning (that is :mod:`restoration.inference.ncnn_graph`) and no conversion (:mod:`restoration.inference.ncnn`).

Format facts used here: ``.param`` is text (magic 7767517, layer and blob counts, one layer per line:
``TYPE NAME n_in n_out inputs... outputs... key=value...``; keys <= -23300 are arrays ``count,v1,v2...``).
``.bin`` holds, in layer order, each Convolution's weights after a 4-byte storage tag (0x01306B47: fp16 padded
to 4 bytes, 0: fp32) in torch's ``[out][in][kh][kw]`` order, then its bias as raw fp32 when ``5=1``; PReLU
slopes are raw fp32. The released graphs contain no pixel normalisation: they take RGB in 0..1 and return
0..1, our convention (a graph that multiplies its input by 1/255 and its output by 255 is accepted too).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
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
