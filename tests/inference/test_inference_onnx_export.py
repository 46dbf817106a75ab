"""``restoration export --onnx``: ONNX Runtime runs the graph at other sizes than the export's within 1/255."""
import numpy as np
import pytest
import torch
from tiny_models import TINY, build_net

from restoration.cli import main
from restoration.inference import save_model

pytest.importorskip("onnxruntime", reason="the [onnx] extra (make setup installs it)")


@pytest.mark.parametrize("arch", ["SRVGGNetCompact", "RRDBNet"])
def test_export_onnx_runs_in_onnxruntime_within_one_step(arch, tmp_path, capsys):
    import onnxruntime as ort

    net, desc = build_net(arch, init="default", **TINY[arch])
    src = save_model(net, tmp_path / "m.safetensors", arch=desc.arch, arch_kwargs=desc.arch_kwargs,
                     scale=desc.scale, name="tiny")
    out = tmp_path / "m.onnx"
    assert main(["export", "--checkpoint", str(src), "--out", str(out), "--onnx"]) == 0
    assert "as ONNX" in capsys.readouterr().out and not list(tmp_path.glob("*.part"))
    x = np.random.default_rng(0).random((2, 3, 20, 28), dtype=np.float32)  # batch 2, another size than the export
    (y,) = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"]).run(["output"], {"input": x})
    with torch.no_grad():
        ref = net(torch.from_numpy(x)).numpy()
    assert y.shape == ref.shape == (2, 3, 20 * desc.scale, 28 * desc.scale)
    assert np.abs(y - ref).max() <= 1 / 255


def test_export_onnx_refuses_wrong_names(tmp_path, capsys):
    net, desc = build_net("SRVGGNetCompact", **TINY["SRVGGNetCompact"])
    src = save_model(net, tmp_path / "m.safetensors", arch=desc.arch, arch_kwargs=desc.arch_kwargs,
                     scale=desc.scale, name="tiny")
    assert main(["export", "--checkpoint", str(src), "--out", str(tmp_path / "m.safetensors2"), "--onnx"]) == 2
    assert "must end in .onnx" in capsys.readouterr().err
    assert main(["export", "--checkpoint", str(src), "--out", str(tmp_path / "m.onnx"), "--onnx", "--register"]) == 2
    assert "not a zoo model" in capsys.readouterr().err
