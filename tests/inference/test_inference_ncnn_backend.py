"""The ncnn backend: the graphs written for SRVGGNetCompact and RRDBNet read back to the same weights and run within
1/255 of torch (through the Upscaler's tiling too); anything it cannot run is refused in one line."""
from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import torch
from tiny_models import TINY, build_net

from restoration.cli import main
from restoration.errors import RestorationError
from restoration.inference import Upscaler
from restoration.inference.ncnn import convert
from restoration.inference.ncnn_backend import FEAT, NcnnRunner, compact_graph, rrdb_graph

needs_ncnn = pytest.mark.skipif(importlib.util.find_spec("ncnn") is None,
                                reason="the ncnn package is not installed (make assets)")


@pytest.mark.parametrize("act", ["prelu", "relu", "leakyrelu"])
def test_written_graph_reads_back_to_the_same_network(act):
    net, desc = build_net("SRVGGNetCompact", **{**TINY["SRVGGNetCompact"], "act_type": act})
    model = convert(*compact_graph(net))
    assert (model.arch, model.arch_kwargs["act_type"], model.arch_kwargs["num_conv"]) == ("SRVGGNetCompact", act, 2)
    state = net.state_dict()
    assert set(model.state) == set(state)
    assert all(torch.equal(model.state[k], state[k]) for k in state)


def test_written_rrdb_graph_reads_back_to_the_same_network():
    net, _ = build_net("RRDBNet", **{**TINY["RRDBNet"], "num_block": 2})
    param, weights = rrdb_graph(net)
    assert f" {FEAT} " in param  # where the runner hands over to the tail graph, run in strips
    model = convert(param, weights)
    assert (model.arch, model.arch_kwargs["num_block"], model.arch_kwargs["scale"]) == ("RRDBNet", 2, 4)
    state = net.state_dict()
    assert set(model.state) == set(state) and all(torch.equal(model.state[k], state[k]) for k in state)
    x2, _ = build_net("RRDBNet", **{**TINY["RRDBNet"], "scale": 2})
    with pytest.raises(RestorationError, match="RRDBNet x2 .* is not supported"):
        rrdb_graph(x2)


@needs_ncnn
@pytest.mark.parametrize("arch", ["SRVGGNetCompact", "RRDBNet"])
def test_runner_computes_what_torch_computes(arch):
    net, _ = build_net(arch, init="default", **TINY[arch])
    runner = NcnnRunner(net, arch, threads=1)
    for shape in ((20, 24), (13, 9), (20, 24)):  # windows of other shapes in turn, as at an image's border
        x = torch.rand(1, 3, *shape, generator=torch.Generator().manual_seed(sum(shape)))
        with torch.inference_mode():
            assert (net(x) - runner(x)).abs().max() < 1e-4


@needs_ncnn
@pytest.mark.parametrize("rows", [1, 3])
def test_rrdb_x4_end_in_strips_computes_what_one_pass_computes(rows, monkeypatch):
    from restoration.inference import ncnn_backend

    net, _ = build_net("RRDBNet", init="default", **TINY["RRDBNet"])
    runner = NcnnRunner(net, "RRDBNet", threads=1)
    x = torch.rand(1, 3, 11, 14, generator=torch.Generator().manual_seed(3))
    whole = runner(x)  # 11 rows of FEAT: one strip
    feat_bytes = 16 * 14 * net.conv_up1.out_channels * 4  # one row of FEAT as a x4 blob
    monkeypatch.setattr(ncnn_backend, "TAIL_STRIP_BYTES", rows * feat_bytes)
    strips = runner(x)
    assert strips.shape == whole.shape == (1, 3, 44, 56)
    assert (strips - whole).abs().max() < 1e-5
    with torch.inference_mode():
        assert (net(x) - strips).abs().max() < 1e-4


@needs_ncnn
def test_ncnn_backend_matches_torch_within_one_level(models_dir, rgb):
    img = np.tile(rgb, (2, 2, 1))  # 46 x 62 in tiles of 16: border and inner windows
    ref = Upscaler("tiny-x4", device="cpu", tile=16, models_dir=models_dir).upscale(img)
    up = Upscaler("tiny-x4", device="cpu", tile=16, models_dir=models_dir, backend="ncnn", threads=1)
    out = up.upscale(img)
    assert "ncnn" in repr(up) and out.shape == ref.shape == (184, 248, 3)
    assert np.abs(out.astype(int) - ref).max() <= 1
    assert np.abs(up.upscale(img, tile=0).astype(int) - ref).max() <= 1  # the whole image in one window


@needs_ncnn
def test_cli_backend_flag(models_dir, rgb, tmp_path, monkeypatch, capsys):
    from restoration.inference.io import write_image

    monkeypatch.setenv("RESTORATION_MODELS_DIR", str(models_dir))
    src = write_image(tmp_path / "a.png", rgb)
    assert main(["upscale", "-i", str(src), "-o", str(tmp_path / "o.png"), "--backend", "ncnn", "-q"]) == 0
    assert "with ncnn" in capsys.readouterr().out and (tmp_path / "o.png").is_file()


def test_what_ncnn_cannot_run_is_refused_in_one_line(models_dir):
    with pytest.raises(RestorationError, match="backend must be one of auto, torch, ncnn"):
        Upscaler("tiny-x4", device="cpu", models_dir=models_dir, backend="onnx")
    if importlib.util.find_spec("ncnn") is None:
        return
    with pytest.raises(RestorationError, match="runs SRVGGNetCompact, RRDBNet models; this one is MSRResNet"):
        Upscaler("tiny-x2", device="cpu", models_dir=models_dir, backend="ncnn")


@needs_ncnn
def test_auto_backend_takes_ncnn_for_compact_models_on_the_cpu_only(models_dir, monkeypatch):
    assert Upscaler("tiny-x4", device="cpu", models_dir=models_dir, backend="auto").backend == "ncnn"
    assert Upscaler("tiny-x2", device="cpu", models_dir=models_dir, backend="auto").backend == "torch"  # MSRResNet
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "ncnn" else _find(name, *a))
    assert Upscaler("tiny-x4", device="cpu", models_dir=models_dir, backend="auto").backend == "torch"  # not installed


_find = importlib.util.find_spec
