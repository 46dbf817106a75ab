"""ncnn as a CPU backend of :class:`restoration.inference.Upscaler` for SRVGGNetCompact models.

PyTorch runs 3x3 convolutions on the CPU through oneDNN's direct kernels, as Real-ESRGAN's own inference does;
ncnn (the runtime of realesrgan-ncnn-vulkan, installed by ``make assets``) uses Winograd and packed kernels that do
fewer multiplications, about twice the throughput on this project's benchmark machine (``docs/BENCHMARKS.md``).
The network is written as an ncnn graph in float32, in the layout of Real-ESRGAN's released animevideov3 graph
(which :mod:`restoration.inference.ncnn` reads back to the same state dict), and run window by window by the
Upscaler's tiling, in float32 (fp16/bf16 storage and arithmetic off): outputs stay within 1/255 of torch's.
"""
from __future__ import annotations

import struct
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from restoration.errors import RestorationError
from restoration.inference.ncnn_format import FP32_TAG, MAGIC

ARCHS = ("SRVGGNetCompact",)


def _f32(t) -> bytes:
    return np.ascontiguousarray(t.detach().cpu().float().numpy(), dtype="<f4").tobytes()


def compact_graph(net) -> tuple[str, bytes]:
    """(``.param`` text, ``.bin`` bytes) of a BasicSR ``SRVGGNetCompact`` (PReLU, ReLU or LeakyReLU 0.1)."""
    import torch

    convs = [m for m in net.body if isinstance(m, torch.nn.Conv2d)]
    acts = [m for m in net.body if not isinstance(m, torch.nn.Conv2d)]
    if not convs or len(acts) != len(convs) - 1:
        raise RestorationError("ncnn backend: not an SRVGGNetCompact body (convolution, activation, ..., convolution)")
    lines: list[str] = ["Input data 0 1 data", "Split split_data 1 2 data data_up data_net"]
    weights = bytearray()
    blob = "data_net"
    for i, conv in enumerate(convs):
        out = f"conv{i}"
        cout, cin, kh, kw = conv.weight.shape
        if kh != kw or conv.padding != (kh // 2, kw // 2) or conv.stride != (1, 1) or conv.bias is None:
            raise RestorationError(f"ncnn backend: convolution {i} is not a square 'same' convolution with bias")
        lines.append(f"Convolution conv{i} 1 1 {blob} {out} 0={cout} 1={kw} 4={kw // 2} 5=1 6={cout * cin * kh * kw}")
        weights += struct.pack("<I", FP32_TAG) + _f32(conv.weight) + _f32(conv.bias)
        blob = out
        if i < len(acts):
            act, out = acts[i], f"act{i}"
            if isinstance(act, torch.nn.PReLU):
                lines.append(f"PReLU prelu{i} 1 1 {blob} {out} 0={act.weight.numel()}")
                weights += _f32(act.weight)
            elif isinstance(act, torch.nn.LeakyReLU):
                lines.append(f"ReLU relu{i} 1 1 {blob} {out} 0={act.negative_slope:e}")
            elif isinstance(act, torch.nn.ReLU):
                lines.append(f"ReLU relu{i} 1 1 {blob} {out}")
            else:
                raise RestorationError(f"ncnn backend: activation {type(act).__name__} is not supported")
            blob = out
    up = int(net.upscale)
    lines += [f"PixelShuffle shuffle 1 1 {blob} shuffled 0={up}",
              f"Interp upsample 1 1 data_up base 0=1 1={float(up):e} 2={float(up):e}",
              "BinaryOp add 2 1 shuffled base output 0=0"]
    blobs = {b for ln in lines for b in ln.split()[4:4 + sum(map(int, ln.split()[2:4]))]}
    return "\n".join([str(MAGIC), f"{len(lines)} {len(blobs)}", *lines]) + "\n", bytes(weights)


class NcnnRunner:
    """A callable like the torch network (1 x C x H x W float in 0..1 -> 1 x C x sH x sW) that runs its ncnn graph on
    the CPU in float32 with ``threads`` threads. One ncnn extractor per call: safe to share between callers."""

    def __init__(self, net: Any, arch: str, threads: int) -> None:
        try:
            import ncnn
        except ImportError:
            raise RestorationError("the ncnn backend needs the ncnn package (`make assets` installs it, or "
                                   "`pip install ncnn`)") from None
        if arch not in ARCHS:
            raise RestorationError(f"the ncnn backend runs {', '.join(ARCHS)} models; this one is {arch}")
        param, weights = compact_graph(net)
        self.net = ncnn.Net()
        opt = self.net.opt
        opt.use_vulkan_compute = False
        opt.num_threads = max(1, int(threads))
        for name in ("use_fp16_storage", "use_fp16_packed", "use_fp16_arithmetic", "use_bf16_storage",
                     "use_bf16_packed"):
            setattr(opt, name, False)
        with tempfile.TemporaryDirectory(prefix="restoration-ncnn-") as tmp:
            (Path(tmp) / "m.param").write_text(param)
            (Path(tmp) / "m.bin").write_bytes(weights)
            if self.net.load_param(str(Path(tmp) / "m.param")) or self.net.load_model(str(Path(tmp) / "m.bin")):
                raise RestorationError("ncnn could not load the graph written for this model")
        self._mat = ncnn.Mat

    def __call__(self, x):
        import torch

        arr = np.ascontiguousarray(x[0].detach().float().cpu().numpy())
        ex = self.net.create_extractor()
        ex.input("data", self._mat(arr))
        ret, out = ex.extract("output")
        if ret:
            raise RestorationError(f"ncnn failed on a {tuple(x.shape)} window (code {ret})")
        return torch.from_numpy(np.array(out))[None].to(x.device)


__all__ = ["ARCHS", "NcnnRunner", "compact_graph"]
