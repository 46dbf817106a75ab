"""Write small ncnn models (.param + .bin) of BasicSR networks, the way an ONNX-to-ncnn export lays them out.

Written independently of ``restoration.inference.ncnn`` from the format description, so the converter is checked
against files it did not produce (and, when the ``ncnn`` package is installed, against ncnn running them).
A plain module, not conftest.py: test files import it by name.
"""
from __future__ import annotations

import struct
from collections import Counter
from pathlib import Path

import numpy as np

FP16_TAG = 0x01306B47


class NcnnWriter:
    """Collects layers and weights; ``save`` inserts Split layers for blobs read more than once, as ncnn expects."""

    def __init__(self, fp16: bool = True, bias: bool = True) -> None:
        self.fp16, self.bias = fp16, bias
        self.layers: list[list] = []  # [type, name, inputs, outputs, params]
        self.data = bytearray()
        self.count = 0

    def _blob(self) -> str:
        self.count += 1
        return str(self.count)

    def add(self, kind: str, inputs: list[str], params: str = "", out: str | None = None) -> str:
        out = out or self._blob()
        self.layers.append([kind, f"{kind}_{len(self.layers)}", list(inputs), [out], params])
        return out

    def conv(self, conv, inp: str, act: str | None = None, slope: float = 0.0, out: str | None = None) -> str:
        """A torch Conv2d (3x3, stride 1, pad 1); ``act`` 'relu' or 'lrelu' fuses the activation (9=1 / 9=2)."""
        w = conv.weight.detach().numpy()
        o, i, k, _ = w.shape
        params = f"0={o} 1={k} 4={k // 2} 5={int(self.bias)} 6={w.size}"
        if act == "relu":
            params += " 9=1"
        elif act == "lrelu":
            params += f" 9=2 -23310=1,{slope:e}"
        if self.fp16:
            self.data += struct.pack("<I", FP16_TAG) + w.astype("<f2").tobytes()
            self.data += b"\0" * ((-w.size * 2) % 4)
        else:
            self.data += struct.pack("<I", 0) + w.astype("<f4").tobytes()
        if self.bias:
            self.data += conv.bias.detach().numpy().astype("<f4").tobytes()
        return self.add("Convolution", [inp], params, out)

    def prelu(self, module, inp: str) -> str:
        slopes = module.weight.detach().numpy().astype("<f4")
        self.data += slopes.tobytes()
        return self.add("PReLU", [inp], f"0={slopes.size}")

    def text(self) -> str:
        uses = Counter(b for layer in self.layers for b in layer[2])
        out, seen = [], Counter()

        def rename(b: str) -> str:  # the k-th reader of a shared blob reads the k-th output of its Split
            if uses[b] == 1:
                return b
            seen[b] += 1
            return f"{b}_splitncnn_{seen[b] - 1}"

        for kind, name, inputs, outputs, params in self.layers:
            inputs = [rename(b) for b in inputs]
            out.append([kind, name, inputs, outputs, params])
            for b in outputs:
                if uses[b] > 1:
                    out.append(["Split", f"splitncnn_{b}", [b], [f"{b}_splitncnn_{i}" for i in range(uses[b])], ""])
        blobs = {b for layer in out for b in layer[3]}
        lines = ["7767517", f"{len(out)} {len(blobs)}"]
        for kind, name, inputs, outputs, params in out:
            lines.append(f"{kind:<24} {name:<24} {len(inputs)} {len(outputs)} {' '.join(inputs + outputs)} {params}"
                         .rstrip())
        return "\n".join(lines) + "\n"

    def save(self, path: Path) -> tuple[Path, Path]:
        param, binf = Path(path).with_suffix(".param"), Path(path).with_suffix(".bin")
        param.write_text(self.text())
        binf.write_bytes(bytes(self.data))
        return param, binf


def compact_graph(net, kwargs: dict, w: NcnnWriter, fused: bool = False, output_resize: float | None = None,
                  normalise: bool = False) -> NcnnWriter:
    """SRVGGNetCompact's forward as ncnn layers (PReLU layers, fused or separate ReLU / leaky ReLU)."""
    x = w.add("Input", [], "", out="data")
    if normalise:  # a graph that takes 0..255 and returns 0..255
        x = w.add("BinaryOp", [x], f"0=2 1=1 2={1 / 255:e}")
    act = kwargs["act_type"]
    body = list(net.body)
    y = x
    for i in range(0, len(body) - 1, 2):
        if act == "prelu":
            y = w.prelu(body[i + 1], w.conv(body[i], y))
        elif fused:
            y = w.conv(body[i], y, "relu" if act == "relu" else "lrelu", 0.1)
        else:
            y = w.add("ReLU", [w.conv(body[i], y)], "" if act == "relu" else f"0={0.1:e}")
    r = kwargs["upscale"]
    y = w.add("PixelShuffle", [w.conv(body[-1], y)], f"0={r}")
    base = w.add("Interp", [x], f"0=1 1={float(r):e} 2={float(r):e}")
    y = w.add("BinaryOp", [y, base], "0=0")
    if normalise:
        y = w.add("BinaryOp", [y], f"0=2 1=1 2={255.0:e}")
    if output_resize:
        y = w.add("Interp", [y], f"0=3 1={output_resize:e} 2={output_resize:e}")
    w.layers[-1][3] = ["output"]
    return w


def rrdb_graph(net, w: NcnnWriter) -> NcnnWriter:
    """RRDBNet x4's forward as ncnn layers: Concat for the dense connections, Eltwise for the 0.2 residuals."""
    x = w.add("Input", [], "", out="data")
    feat = w.conv(net.conv_first, x)
    y = feat
    for block in net.body:
        block_in = y
        for rdb in (block.rdb1, block.rdb2, block.rdb3):
            xs = [y]
            for conv in (rdb.conv1, rdb.conv2, rdb.conv3, rdb.conv4):
                inp = xs[0] if len(xs) == 1 else w.add("Concat", xs, "0=0")
                xs.append(w.conv(conv, inp, "lrelu", 0.2))
            c5 = w.conv(rdb.conv5, w.add("Concat", xs, "0=0"))
            y = w.add("Eltwise", [c5, y], f"0=1 -23301=2,{0.2:e},{1.0:e}")
        y = w.add("Eltwise", [y, block_in], f"0=1 -23301=2,{0.2:e},{1.0:e}")
    feat = w.add("BinaryOp", [feat, w.conv(net.conv_body, y)], "0=0")
    for conv in (net.conv_up1, net.conv_up2):
        feat = w.conv(conv, w.add("Interp", [feat], f"0=1 1={2.0:e} 2={2.0:e}"), "lrelu", 0.2)
    w.conv(net.conv_last, w.conv(net.conv_hr, feat, "lrelu", 0.2), out="output")
    return w


def run_ncnn(param: Path, binf: Path, x: np.ndarray, threads: int = 1) -> np.ndarray:
    """ncnn's own CPU output (Vulkan off, fp32 storage and arithmetic) for a C x H x W float input."""
    import ncnn

    net = ncnn.Net()
    net.opt.use_vulkan_compute = False
    net.opt.num_threads = threads
    for opt in ("use_fp16_storage", "use_fp16_packed", "use_fp16_arithmetic", "use_bf16_storage", "use_bf16_packed"):
        setattr(net.opt, opt, False)  # the reference is the model itself, not ncnn's reduced-precision path
    assert net.load_param(str(param)) == 0 and net.load_model(str(binf)) == 0
    arr = np.ascontiguousarray(x, dtype=np.float32)
    mat = ncnn.Mat(arr)  # wraps arr's memory: keep arr alive until extraction
    ex = net.create_extractor()
    assert ex.input("data", mat) == 0
    ret, out = ex.extract("output")
    assert ret == 0
    result = np.array(out).copy()
    del ex, net
    return result
