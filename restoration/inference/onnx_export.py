"""ONNX export of a model (for ONNX Runtime deployments and tools such as chaiNNer) and its parity check.

The graph takes ``input``: N x C x H x W float32 RGB (or gray) in 0..1, and returns ``output``: N x C x sH x sW in the
same range (not clamped, like the torch network); batch, height and width are dynamic. The file is checked before
it is kept: ONNX Runtime's CPU output on a test input must match the torch network's within ``PARITY`` (1/255).
"""
from __future__ import annotations

import os
from pathlib import Path

from restoration.errors import RestorationError

OPSET = 17
PARITY = 1.0 / 255.0
PARITY_SIZE = 48  # px of the check input: not the export size, so the dynamic axes are checked too


def _need(module: str) -> None:
    import importlib.util

    if importlib.util.find_spec(module) is None:
        raise RestorationError(f"ONNX export needs the {module} package: pip install the project's [onnx] extra "
                               "(onnx, onnxruntime)")


def export_onnx(net, path: str | os.PathLike, in_channels: int, *, multiple: int = 1) -> float:
    """Write ``net`` (a float32 torch module) to ``path`` as ONNX and return the max |difference| between ONNX
    Runtime's and torch's output on a seeded random input; RestorationError when it exceeds ``PARITY``."""
    _need("onnx")
    _need("onnxruntime")
    import torch

    path = Path(path)
    net = net.eval().float().to(memory_format=torch.contiguous_format)
    side = -(-64 // multiple) * multiple
    example = torch.rand(1, in_channels, side, side, generator=torch.Generator().manual_seed(0))
    axes = {0: "batch", 2: "height", 3: "width"}
    tmp = path.with_name(path.name + ".part")
    try:
        with torch.no_grad():
            torch.onnx.export(net, (example,), str(tmp), input_names=["input"], output_names=["output"],
                              dynamic_axes={"input": axes, "output": axes}, opset_version=OPSET, dynamo=False)
        diff = check_parity(net, tmp, in_channels, multiple)
        if diff > PARITY:
            raise RestorationError(f"the ONNX graph differs from the torch network by {diff:.2e} (> 1/255): not kept")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return diff


def check_parity(net, path: str | os.PathLike, in_channels: int, multiple: int = 1) -> float:
    """max |ONNX Runtime CPU output - torch output| on a seeded random input of another size than the export's."""
    import numpy as np
    import onnxruntime as ort
    import torch

    h = -(-PARITY_SIZE // multiple) * multiple
    w = h + 2 * multiple * 4
    x = torch.rand(1, in_channels, h, w, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ref = net(x).numpy()
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (out,) = session.run(["output"], {"input": x.numpy()})
    out = np.asarray(out)  # a dense output (onnxruntime types run()'s outputs as any OrtValue kind)
    if out.shape != ref.shape:
        raise RestorationError(f"the ONNX graph returns {out.shape} for {tuple(x.shape)}; torch returns {ref.shape}")
    return float(np.abs(out - ref).max())


__all__ = ["OPSET", "PARITY", "check_parity", "export_onnx"]
