"""ncnn as a CPU backend of :class:`restoration.inference.Upscaler` for SRVGGNetCompact and RRDBNet x4 models.

PyTorch runs 3x3 convolutions on the CPU through oneDNN's direct kernels, as Real-ESRGAN's own inference does;
ncnn (the runtime of realesrgan-ncnn-vulkan, installed by ``make assets``) uses Winograd and packed kernels that do
fewer multiplications, 1.5-2x torch's throughput on this project's benchmark machine (``docs/BENCHMARKS.md``).
The network is written as an ncnn graph in float32, in the layout of Real-ESRGAN's released graphs (which
:mod:`restoration.inference.ncnn` reads back to the same state dict), and run window by window by the
Upscaler's tiling, in float32 (fp16/bf16 storage and arithmetic off): outputs stay within 1/255 of torch's.
"""
from __future__ import annotations

import struct
import tempfile
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from restoration.errors import RestorationError
from restoration.heap import release_freed_memory
from restoration.inference.ncnn_format import FP32_TAG, MAGIC

ARCHS = ("SRVGGNetCompact", "RRDBNet")
FEAT = "feat"  # the RRDBNet trunk's output features (input size), where its upsampling end starts
TAIL_MARGIN = 2  # rows of FEAT the upsampling end's four convolutions read beyond a strip, each side
TAIL_STRIP_BYTES = 16 << 20  # one float32 blob of the upsampling end at x4 resolution, for a strip of FEAT rows


class WeightsMismatch(RestorationError):
    """The state dict does not fit the architecture it is written as (the caller names the file)."""


def _f32(t) -> bytes:
    return np.ascontiguousarray(t.detach().cpu().float().numpy(), dtype="<f4").tobytes()


class _Graph:
    """An ncnn graph being written from a state dict: layers in order, their weights, and a Split wherever a blob
    feeds several layers (ncnn's rule). It tracks each blob's channels and the weights it took, so weights that do
    not fit the architecture are refused here rather than by ncnn at run time."""

    def __init__(self, state: Mapping[str, Any], in_channels: int) -> None:
        self.layers: list[tuple[str, str, list[str], list[str], str]] = [("Input", "input", [], ["data"], "")]
        self.weights = bytearray()
        self.state, self.used = state, set()
        self.channels = {"data": int(in_channels)}

    def tensor(self, key: str):
        if key not in self.state:
            raise WeightsMismatch(f"the weights have no {key!r}")
        self.used.add(key)
        return self.state[key]

    def add(self, kind: str, inputs: list[str], params: str = "", out: str | None = None,
            channels: int | None = None) -> str:
        name = f"{kind.lower()}{len(self.layers)}"
        blob = out or f"b{len(self.layers)}"
        self.layers.append((kind, name, list(inputs), [blob], params))
        self.channels[blob] = self.channels[inputs[0]] if channels is None else channels
        return blob

    def conv(self, blob: str, prefix: str, leaky: float | None = None, out: str | None = None) -> str:
        weight, bias = self.tensor(f"{prefix}.weight"), self.tensor(f"{prefix}.bias")
        if len(weight.shape) != 4 or weight.shape[2] != weight.shape[3] or weight.shape[2] % 2 == 0:
            raise WeightsMismatch(f"{prefix}.weight {list(weight.shape)} is not a square odd convolution kernel")
        cout, cin, k, _ = (int(n) for n in weight.shape)
        if cin != self.channels[blob] or tuple(bias.shape) != (cout,):
            raise WeightsMismatch(f"{prefix}: weight {list(weight.shape)}, bias {list(bias.shape)} do not fit "
                                   f"its {self.channels[blob]}-channel input")
        act = "" if leaky is None else f" 9=2 -23310=1,{leaky:e}"  # leaky ReLU fused into the convolution
        self.weights += struct.pack("<I", FP32_TAG) + _f32(weight) + _f32(bias)
        return self.add("Convolution", [blob], f"0={cout} 1={k} 4={k // 2} 5=1 6={cout * cin * k * k}{act}", out,
                        cout)

    def concat(self, blobs: list[str]) -> str:
        return self.add("Concat", blobs, "0=0", channels=sum(self.channels[b] for b in blobs))

    def check_all_used(self) -> None:
        unused = sorted(set(self.state) - self.used)
        if unused:
            raise WeightsMismatch(f"the weights hold tensors this architecture does not use: {', '.join(unused[:3])}")

    def text(self) -> str:
        uses: dict[str, int] = {}
        for _, _, inputs, _, _ in self.layers:
            for b in inputs:
                uses[b] = uses.get(b, 0) + 1
        lines, taken = [], dict.fromkeys(uses, 0)
        for kind, name, inputs, outputs, params in self.layers:
            renamed = []
            for b in inputs:  # the k-th consumer of a shared blob reads the k-th output of its Split
                renamed.append(f"{b}_s{taken[b]}" if uses[b] > 1 else b)
                taken[b] += 1
            lines.append(" ".join([kind, name, str(len(inputs)), str(len(outputs)), *renamed, *outputs, params]))
            for b in outputs:
                if uses.get(b, 0) > 1:
                    splits = [f"{b}_s{k}" for k in range(uses[b])]
                    lines.append(" ".join(["Split", f"split_{b}", "1", str(len(splits)), b, *splits]))
        blobs = {b for ln in lines for b in ln.split()[4:4 + sum(map(int, ln.split()[2:4]))]}
        return "\n".join([str(MAGIC), f"{len(lines)} {len(blobs)}", *(ln.rstrip() for ln in lines)]) + "\n"


def compact_graph(state: Mapping[str, Any], kw: Mapping[str, Any]) -> tuple[str, bytes]:
    """(``.param`` text, ``.bin`` bytes) of a BasicSR ``SRVGGNetCompact`` state dict (``kw``: its constructor
    arguments; PReLU, ReLU or LeakyReLU 0.1): convolutions at ``body.0, 2, ..``, activations between them."""
    num_conv, act_type, up = int(kw["num_conv"]), str(kw.get("act_type", "prelu")), int(kw["upscale"])
    if act_type not in ("prelu", "relu", "leakyrelu"):
        raise RestorationError(f"ncnn backend: activation {act_type!r} is not supported")
    g = _Graph(state, int(kw.get("num_in_ch", 3)))
    blob = "data"
    for i in range(num_conv + 2):
        blob = g.conv(blob, f"body.{2 * i}")
        if i == num_conv + 1:
            break
        if act_type == "prelu":
            slopes = g.tensor(f"body.{2 * i + 1}.weight")
            if tuple(slopes.shape) != (g.channels[blob],):
                raise WeightsMismatch(f"body.{2 * i + 1}.weight {list(slopes.shape)} does not fit "
                                       f"{g.channels[blob]} channels")
            blob = g.add("PReLU", [blob], f"0={slopes.shape[0]}")
            g.weights += _f32(slopes)
        else:
            blob = g.add("ReLU", [blob], "0=1.000000e-01" if act_type == "leakyrelu" else "")
    if g.channels[blob] != int(kw.get("num_out_ch", 3)) * up * up:
        raise WeightsMismatch(f"the last convolution has {g.channels[blob]} channels, not {up}x{up} per output one")
    g.check_all_used()
    shuffled = g.add("PixelShuffle", [blob], f"0={up}", channels=g.channels[blob] // (up * up))
    base = g.add("Interp", ["data"], f"0=1 1={float(up):e} 2={float(up):e}")
    g.add("BinaryOp", [shuffled, base], "0=0", out="output")
    return g.text(), bytes(g.weights)


def rrdb_graph(state: Mapping[str, Any], kw: Mapping[str, Any]) -> tuple[str, bytes]:
    """(``.param`` text, ``.bin`` bytes) of a BasicSR ``RRDBNet`` state dict at x4 (Real-ESRGAN x4plus and its kin;
    ``kw``: its constructor arguments), in the layout of the released x4plus graph: leaky ReLUs fused into their
    convolutions, residual scalings in Eltwise. The blob ``FEAT`` is the trunk's output, where
    :func:`rrdb_tail_graph` takes over."""
    if int(kw["scale"]) != 4:
        raise RestorationError(f"ncnn backend: RRDBNet x{kw['scale']} (pixel-unshuffled input) is not supported; x4 is")
    g = _Graph(state, int(kw.get("num_in_ch", 3)))
    feat = g.conv("data", "conv_first")
    h = feat
    for b in range(int(kw["num_block"])):
        rrdb_in = h
        for r in (1, 2, 3):
            xs = [h]
            for c in (1, 2, 3, 4):
                cat = xs[0] if len(xs) == 1 else g.concat(xs)
                xs.append(g.conv(cat, f"body.{b}.rdb{r}.conv{c}", leaky=0.2))
            x5 = g.conv(g.concat(xs), f"body.{b}.rdb{r}.conv5")
            h = g.add("Eltwise", [x5, xs[0]], "0=1 -23301=2,2.000000e-01,1.000000e+00")  # x5 * 0.2 + x
        h = g.add("Eltwise", [h, rrdb_in], "0=1 -23301=2,2.000000e-01,1.000000e+00")
    _tail(g, g.add("BinaryOp", [feat, g.conv(h, "conv_body")], "0=0", out=FEAT))
    g.check_all_used()
    return g.text(), bytes(g.weights)


def _tail(g: _Graph, feat: str) -> None:
    feat = g.conv(g.add("Interp", [feat], "0=1 1=2.000000e+00 2=2.000000e+00"), "conv_up1", leaky=0.2)
    feat = g.conv(g.add("Interp", [feat], "0=1 1=2.000000e+00 2=2.000000e+00"), "conv_up2", leaky=0.2)
    g.conv(g.conv(feat, "conv_hr", leaky=0.2), "conv_last", out="output")


def rrdb_tail_graph(state: Mapping[str, Any], kw: Mapping[str, Any]) -> tuple[str, bytes]:
    """The upsampling end of an RRDBNet (nearest x2, conv_up1, nearest x2, conv_up2, conv_hr, conv_last) as a graph of
    its own, from the ``FEAT`` features: :class:`NcnnRunner` runs it on strips of rows, since on a whole 160 px window
    its blobs and im2col workspace at x2 and x4 resolution took 0.5-0.6 GB. An output row depends on the rows of
    ``FEAT`` up to 2 above and 1 below its own."""
    g = _Graph(state, int(kw.get("num_feat", 64)))
    _tail(g, "data")
    return g.text(), bytes(g.weights)


WRITERS = {"SRVGGNetCompact": compact_graph, "RRDBNet": rrdb_graph}


class NcnnRunner:
    """A callable like the torch network (1 x C x H x W float in 0..1 -> 1 x C x sH x sW) that runs the ncnn graph of a
    state dict (``arch`` with constructor arguments ``kw``; no torch network is built, nor BasicSR imported) on
    the CPU in float32 with ``threads`` threads. One ncnn extractor and one pair of memory pools per call: safe to share
    between callers, and windows of other shapes (at the image border) never leave unusable chunks in a pool that
    lives as long as the model (the net's own pools grew x4plus to 3 GB over a 1024 px image). An RRDBNet's
    upsampling end runs on strips of rows (:func:`rrdb_tail_graph`), the same sums on less memory."""

    def __init__(self, state: Mapping[str, Any], arch: str, kw: Mapping[str, Any], threads: int) -> None:
        try:
            import ncnn
        except ImportError:
            raise RestorationError("the ncnn backend needs the ncnn package (`make assets` installs it, or "
                                   "`pip install ncnn`)") from None
        if arch not in ARCHS:
            raise RestorationError(f"the ncnn backend runs {', '.join(ARCHS)} models; this one is {arch}")
        self._ncnn: Any = ncnn  # a compiled module without stubs
        self.net = self._load(*WRITERS[arch](state, kw), threads)
        self.tail = self._load(*rrdb_tail_graph(state, kw), threads) if arch == "RRDBNet" else None

    def _load(self, param: str, weights: bytes, threads: int) -> Any:
        net = self._ncnn.Net()
        opt = net.opt
        opt.use_vulkan_compute = False
        opt.num_threads = max(1, int(threads))
        for name in ("use_fp16_storage", "use_fp16_packed", "use_fp16_arithmetic", "use_bf16_storage",
                     "use_bf16_packed"):
            setattr(opt, name, False)
        with tempfile.TemporaryDirectory(prefix="restoration-ncnn-") as tmp:
            (Path(tmp) / "m.param").write_text(param)
            (Path(tmp) / "m.bin").write_bytes(weights)
            if net.load_param(str(Path(tmp) / "m.param")) or net.load_model(str(Path(tmp) / "m.bin")):
                raise RestorationError("ncnn could not load the graph written for this model")
        return net

    def _run(self, net: Any, arr: np.ndarray, blob: str) -> np.ndarray:
        """``blob`` of ``net`` for the C x H x W float32 input ``arr``, with pools that are emptied on return."""
        blobs, workspace = self._ncnn.UnlockedPoolAllocator(), self._ncnn.PoolAllocator()
        ex = net.create_extractor()
        ex.set_blob_allocator(blobs)
        ex.set_workspace_allocator(workspace)
        arr = np.ascontiguousarray(arr)  # held while ncnn reads it: a Mat made from an array does not copy it
        ex.input("data", self._ncnn.Mat(arr))
        ret, out = ex.extract(blob)
        if ret:
            raise RestorationError(f"ncnn failed on a {arr.shape[1]} x {arr.shape[2]} window (code {ret})")
        result = np.array(out)
        del out, ex  # every Mat goes back to the pools before they are emptied
        blobs.clear()
        workspace.clear()
        return result

    def _tail_strips(self, feat: np.ndarray) -> np.ndarray:
        """The upsampling end on strips of ``feat``'s rows, each read with ``TAIL_MARGIN`` rows of context either
        side; every output row comes from a strip that holds all the rows it depends on, as one pass would."""
        c, h, w = feat.shape
        rows = max(1, TAIL_STRIP_BYTES // (16 * w * c * 4))  # a x4 blob of 4 * rows x 4 * w x c float32
        out = None
        for top in range(0, h, rows):
            lo, hi = max(0, top - TAIL_MARGIN), min(h, top + rows + TAIL_MARGIN)
            part = self._run(self.tail, feat[:, lo:hi], "output")
            if out is None:
                out = np.empty((part.shape[0], 4 * h, 4 * w), dtype=np.float32)
            keep = min(rows, h - top)
            out[:, 4 * top:4 * (top + keep)] = part[:, 4 * (top - lo):4 * (top - lo + keep)]
        assert out is not None
        return out

    def __call__(self, x):
        import torch

        arr = x[0].detach().float().cpu().numpy()
        if self.tail is None:
            # a Compact window's freed buffers are reused by the next window instead of faulting their pages in
            # again, which made the backend as fast as Real-ESRGAN's released graph (docs/BENCHMARKS.md)
            result = self._run(self.net, arr, "output")
        else:
            result = self._tail_strips(self._run(self.net, arr, FEAT))
            # an RRDBNet window's buffers (0.35 GB) go back to the system, for the memory goal: a 1024 px x4plus
            # upscale peaked at 1.02 GB when they were kept
            release_freed_memory()
        return torch.from_numpy(result)[None].to(x.device)


__all__ = ["ARCHS", "NcnnRunner", "compact_graph", "rrdb_graph", "rrdb_tail_graph"]
