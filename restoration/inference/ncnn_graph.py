"""Recognise BasicSR architectures in an ncnn graph by comparing expressions, not layer lists.

Every blob of the graph becomes a node of a hash-consed expression table: ``("conv", shape..., input)``,
``("relu", slope, x)``, ``("sum", ((coef, x), ...))`` and so on, so equal sub-expressions get equal ids no matter
how the exporter named or ordered layers, fused activations into convolutions or split blobs. The same table
then receives the expression BasicSR's ``forward`` computes for candidate arguments (read off the graph's
convolutions); the graph is that architecture exactly when both output ids coincide. The shared ids also pair
each ncnn Convolution/PReLU with its BasicSR parameter name.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from restoration.errors import RestorationError
from restoration.inference.ncnn_format import NcnnLayer, conv_spec

INTERP_MODES = {1: "nearest", 2: "bilinear", 3: "bicubic"}
FUSED_ACTIVATIONS = {0: None, 1: "relu", 2: "leakyrelu"}
OUTPUT_RESIZE_MODES = ("bicubic",)  # checked against ncnn's own output (tests/inference/test_inference_ncnn.py)


class Expressions:
    """A hash-consing table: ``table(op, *args)`` returns the id of that node, the same id for the same node."""

    def __init__(self) -> None:
        self._ids: dict[tuple, int] = {}
        self.nodes: list[tuple] = []

    def __call__(self, *key: Any) -> int:
        found = self._ids.get(key)
        if found is None:
            found = self._ids[key] = len(self.nodes)
            self.nodes.append(key)
        return found

    def total(self, terms: list[tuple[float, int]]) -> int:
        """A weighted sum; addition commutes, so terms are sorted."""
        return self("sum", tuple(sorted((round(float(c), 6), x) for c, x in terms)))

    def cat(self, xs: list[int]) -> int:
        return xs[0] if len(xs) == 1 else self("cat", tuple(xs))

    def conv(self, out_ch: int, in_ch: int, x: int, kernel: int = 3) -> int:
        """The convolutions of both archs: k x k, stride 1, 'same' zero padding, no dilation."""
        p = kernel // 2
        return self("conv", out_ch, in_ch, (kernel, kernel), (1, 1), (p, p, p, p), (1, 1), x)

    def act(self, kind: str | None, x: int) -> int:
        if kind is None:
            return x
        return self("relu", {"relu": 0.0, "leakyrelu": 0.1, "lrelu0.2": 0.2}[kind], x) if kind != "prelu" \
            else self("prelu", x)


@dataclass
class Recognised:
    """What the graph is: BasicSR arch + kwargs, which ncnn layer holds which parameter, and the graph's extras."""

    arch: str
    kwargs: dict[str, Any]
    params: dict[str, tuple[str, str]]  # BasicSR module name -> (ncnn layer name, "conv" | "prelu")
    output_resize: dict[str, Any] | None
    input_range: float


def _fail(layer: NcnnLayer, source: str, what: str) -> RestorationError:
    return RestorationError(f"{source} line {layer.line} ({layer.type} {layer.name}): {what}")


def graph_expression(layers: list[NcnnLayer], e: Expressions, source: str) -> tuple[int, dict[int, tuple[str, str]]]:
    """The output's node id, and for every Convolution/PReLU node the layer that holds its weights."""
    blobs: dict[str, int] = {}
    owners: dict[int, tuple[str, str]] = {}
    consumed: set[str] = set()
    if sum(layer.type == "Input" for layer in layers) != 1:
        raise RestorationError(f"{source}: the graph must have exactly one Input layer")
    for layer in layers:
        missing = [b for b in layer.inputs if b not in blobs]
        if missing:
            raise _fail(layer, source, f"reads blob {missing[0]!r} before any layer writes it")
        xs = [blobs[b] for b in layer.inputs]
        consumed.update(layer.inputs)
        ys = _evaluate(layer, xs, e, owners, source)
        if len(ys) == 1 and len(layer.outputs) > 1 and layer.type == "Split":
            ys = ys * len(layer.outputs)
        if len(ys) != len(layer.outputs):
            raise _fail(layer, source, f"expected {len(ys)} output blob(s), got {len(layer.outputs)}")
        blobs.update(zip(layer.outputs, ys))
    ends = [b for layer in layers for b in layer.outputs if b not in consumed]
    if len(ends) != 1:
        raise RestorationError(f"{source}: the graph must have one output blob, it has {len(ends)} "
                               f"({', '.join(ends[:4])})")
    return blobs[ends[0]], owners


def _evaluate(layer: NcnnLayer, xs: list[int], e: Expressions, owners: dict, source: str) -> list[int]:
    t = layer.type
    if t == "Input":
        return [e("input")]
    if t == "Split":
        return [xs[0]]
    if len(xs) < 1:
        raise _fail(layer, source, "has no input")
    if t == "Convolution":
        s = conv_spec(layer, source)
        node = e("conv", s.out_ch, s.in_ch, s.kernel, s.stride, s.pad, s.dilation, xs[0])
        if node in owners:
            raise _fail(layer, source, f"computes the same as layer {owners[node][0]}")
        owners[node] = (layer.name, "conv")
        kind = int(layer.get(9))
        if kind not in FUSED_ACTIVATIONS:
            raise _fail(layer, source, f"fused activation type {kind} is not supported (only none, ReLU, leaky ReLU)")
        if kind == 1:
            return [e("relu", 0.0, node)]
        if kind == 2:
            return [e("relu", round(float(layer.get(10, [0.0])[0]), 6), node)]
        return [node]
    if t == "PReLU":
        node = e("prelu", xs[0])
        owners[node] = (layer.name, "prelu")
        return [node]
    if t == "ReLU":
        return [e("relu", round(float(layer.get(0, 0.0)), 6), xs[0])]
    if t == "Concat":
        if int(layer.get(0)) != 0:
            raise _fail(layer, source, "concatenation along an axis other than channels is not supported")
        return [e.cat(xs)]
    if t == "Eltwise":
        if int(layer.get(0, 1)) != 1:
            raise _fail(layer, source, f"Eltwise operation {layer.get(0)} is not supported (only SUM, 0=1)")
        coeffs = layer.get(1, None) or [1.0] * len(xs)
        if len(coeffs) != len(xs):
            raise _fail(layer, source, f"{len(coeffs)} coefficients for {len(xs)} inputs")
        return [e.total(list(zip(coeffs, xs)))]
    if t == "BinaryOp":
        return [_binary(layer, xs, e, source)]
    if t == "Interp":
        mode = INTERP_MODES.get(int(layer.get(0)))
        hs, ws = float(layer.get(1, 1.0)), float(layer.get(2, 1.0))
        if mode is None or layer.get(3) or layer.get(4) or layer.get(5) or hs != ws:
            raise _fail(layer, source, "only nearest/bilinear/bicubic resizing by one factor for both axes is "
                                       "supported (no fixed output size)")
        return [e("resize", mode, round(hs, 6), int(layer.get(6)), xs[0])]
    if t == "PixelShuffle":
        if int(layer.get(1)) != 0:
            raise _fail(layer, source, "PixelShuffle mode 1 (DCR channel order) is not supported")
        return [e("pixel_shuffle", int(layer.get(0, 1)), xs[0])]
    raise _fail(layer, source, "unsupported layer type")  # parse_param refuses these first


def _binary(layer: NcnnLayer, xs: list[int], e: Expressions, source: str) -> int:
    op, b = int(layer.get(0)), float(layer.get(2, 0.0))
    if layer.get(1) or len(xs) == 1:  # with a scalar
        if op == 2:
            return e("scale", round(b, 9), xs[0])
        if op == 3 and b != 0:
            return e("scale", round(1.0 / b, 9), xs[0])
        raise _fail(layer, source, f"scalar operation {op} is not supported (only multiply and divide)")
    if len(xs) == 2 and op in (0, 1):
        return e.total([(1.0, xs[0]), (1.0 if op == 0 else -1.0, xs[1])])
    raise _fail(layer, source, f"BinaryOp {op} on {len(xs)} blobs is not supported (only add and subtract)")


# -------------------------------------------------------------------------------------------------------------
# BasicSR's forward passes, written in the same expression language. Each returns (output id, owners).

Owners = dict[int, tuple[str, str]]


def expect_compact(e: Expressions, x: int, num_in_ch: int, num_out_ch: int, num_feat: int, num_conv: int,
                   upscale: int, act_type: str) -> tuple[int, Owners]:
    """``basicsr.archs.srvgg_arch.SRVGGNetCompact.forward``: body convs with activations, pixel shuffle,
    plus the nearest-upsampled input."""
    owners: Owners = {}
    out, index = x, 0
    for i in range(num_conv + 1):
        node = e.conv(num_feat, num_in_ch if i == 0 else num_feat, out)
        owners[node] = (f"body.{index}", "conv")
        out = e.act(act_type, node)
        if act_type == "prelu":
            owners[out] = (f"body.{index + 1}", "prelu")
        index += 2
    node = e.conv(num_out_ch * upscale * upscale, num_feat, out)
    owners[node] = (f"body.{index}", "conv")
    up = e("pixel_shuffle", upscale, node)
    base = e("resize", "nearest", float(upscale), 0, x)
    return e.total([(1.0, up), (1.0, base)]), owners


def expect_rrdb(e: Expressions, x: int, num_in_ch: int, num_out_ch: int, num_feat: int, num_block: int,
                num_grow_ch: int) -> tuple[int, Owners]:
    """``basicsr.archs.rrdbnet_arch.RRDBNet.forward`` at scale 4 (x2/x1 pixel-unshuffle their input first)."""
    owners: Owners = {}

    def conv(name: str, out_ch: int, in_ch: int, inp: int, lrelu: bool = False) -> int:
        node = e.conv(out_ch, in_ch, inp)
        owners[node] = (name, "conv")
        return e.act("lrelu0.2", node) if lrelu else node

    feat = conv("conv_first", num_feat, num_in_ch, x)
    y = feat
    for b in range(num_block):
        block_in = y
        for r in (1, 2, 3):
            xs = [y]
            for j in range(1, 5):
                xs.append(conv(f"body.{b}.rdb{r}.conv{j}", num_grow_ch, num_feat + (j - 1) * num_grow_ch,
                               e.cat(xs), lrelu=True))
            c5 = conv(f"body.{b}.rdb{r}.conv5", num_feat, num_feat + 4 * num_grow_ch, e.cat(xs))
            y = e.total([(0.2, c5), (1.0, y)])
        y = e.total([(0.2, y), (1.0, block_in)])
    feat = e.total([(1.0, feat), (1.0, conv("conv_body", num_feat, num_feat, y))])
    for name in ("conv_up1", "conv_up2"):
        feat = conv(name, num_feat, num_feat, e("resize", "nearest", 2.0, 0, feat), lrelu=True)
    hr = conv("conv_hr", num_feat, num_feat, feat, lrelu=True)
    return conv("conv_last", num_out_ch, num_feat, hr), owners


def _candidates(layers: list[NcnnLayer], source: str) -> list[tuple[str, dict[str, Any], Callable]]:
    """Argument sets read off the graph's convolutions; each is verified by expression equality."""
    convs = [conv_spec(layer, source) for layer in layers if layer.type == "Convolution"]
    if len(convs) < 2:
        return []
    first, last, n = convs[0], convs[-1], len(convs)
    out: list[tuple[str, dict[str, Any], Callable]] = []
    if n >= 21 and (n - 6) % 15 == 0:  # 15 per block + first, body, up1, up2, hr, last
        kw = dict(num_in_ch=first.in_ch, num_out_ch=last.out_ch, num_feat=first.out_ch, num_block=(n - 6) // 15,
                  num_grow_ch=convs[1].out_ch)
        out.append(("RRDBNet", dict(kw, scale=4), lambda e, x, kw=kw: expect_rrdb(e, x, **kw)))
    for layer in layers:
        if layer.type == "PixelShuffle":
            r = int(layer.get(0, 1))
            if r >= 1 and last.out_ch % (r * r) == 0:
                for act in ("prelu", "relu", "leakyrelu"):
                    kw = dict(num_in_ch=first.in_ch, num_out_ch=last.out_ch // (r * r), num_feat=first.out_ch,
                              num_conv=n - 2, upscale=r, act_type=act)
                    out.append(("SRVGGNetCompact", kw, lambda e, x, kw=kw: expect_compact(e, x, **kw)))
            break
    return out


def _peel(e: Expressions, out: int, source: str) -> tuple[int, int, dict[str, Any] | None, float]:
    """Strip what surrounds the network: a final down-resize, and an input/output scaling pair that cancels."""
    resize = None
    node = e.nodes[out]
    if node[0] == "resize" and node[2] < 1.0:
        if node[1] not in OUTPUT_RESIZE_MODES or node[3]:
            raise RestorationError(f"{source}: the output is resized with {node[1]} interpolation"
                                   f"{' (align corners)' if node[3] else ''}; only bicubic is supported")
        resize, out = {"mode": node[1], "factor": node[2]}, node[4]
    post = 1.0
    if e.nodes[out][0] == "scale":
        post, out = e.nodes[out][1], e.nodes[out][2]
    inp = e("input")
    pre_nodes = [i for i, n in enumerate(e.nodes) if n[0] == "scale" and n[2] == inp]
    pre = e.nodes[pre_nodes[0]][1] if len(pre_nodes) == 1 else 1.0
    core_in = pre_nodes[0] if len(pre_nodes) == 1 else inp
    if abs(pre * post - 1.0) > 1e-6:
        raise RestorationError(f"{source}: the graph scales its input by {pre:g} and its output by {post:g}; only a "
                               "normalisation that cancels (e.g. x1/255 in, x255 out) is supported")
    return out, core_in, resize, 1.0 / pre


def recognise(layers: list[NcnnLayer], source: str) -> Recognised:
    """Which BasicSR architecture (with which arguments) the graph computes; RestorationError when none."""
    e = Expressions()
    out, owners = graph_expression(layers, e, source)
    core_out, core_in, resize, input_range = _peel(e, out, source)
    for arch, kwargs, build in _candidates(layers, source):
        expected, names = build(e, core_in)
        if expected != core_out:
            continue
        params = {name: owners[node] for node, (name, _kind) in names.items() if node in owners}
        if len(params) != len(names):
            continue
        scale = int(kwargs["scale"] if "scale" in kwargs else kwargs["upscale"])
        output_resize = None
        if resize is not None:
            final = scale * resize["factor"]
            if abs(final - round(final)) > 1e-6 or round(final) < 1:
                raise RestorationError(f"{source}: x{scale} followed by a x{resize['factor']:g} resize is not an "
                                       "integer scale")
            output_resize = {"mode": resize["mode"], "scale": int(round(final))}
        return Recognised(arch, kwargs, params, output_resize, input_range)
    kinds = sorted({layer.type for layer in layers})
    n_conv = sum(layer.type == "Convolution" for layer in layers)
    raise RestorationError(
        f"{source}: the graph ({n_conv} convolutions; layers {', '.join(kinds)}) is neither BasicSR's RRDBNet (x4) "
        "nor SRVGGNetCompact"
    )
