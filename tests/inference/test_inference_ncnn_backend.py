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
    model = convert(*compact_graph(net.state_dict(), desc.arch_kwargs))
    assert (model.arch, model.arch_kwargs["act_type"], model.arch_kwargs["num_conv"]) == ("SRVGGNetCompact", act, 2)
    state = net.state_dict()
    assert set(model.state) == set(state)
    assert all(torch.equal(model.state[k], state[k]) for k in state)


def test_written_rrdb_graph_reads_back_to_the_same_network():
    net, desc = build_net("RRDBNet", **{**TINY["RRDBNet"], "num_block": 2})
    param, weights = rrdb_graph(net.state_dict(), desc.arch_kwargs)
    assert f" {FEAT} " in param  # where the runner hands over to the tail graph, run in strips
    model = convert(param, weights)
    assert (model.arch, model.arch_kwargs["num_block"], model.arch_kwargs["scale"]) == ("RRDBNet", 2, 4)
    state = net.state_dict()
    assert set(model.state) == set(state) and all(torch.equal(model.state[k], state[k]) for k in state)
    x2, x2_desc = build_net("RRDBNet", **{**TINY["RRDBNet"], "scale": 2})
    with pytest.raises(RestorationError, match="RRDBNet x2 .* is not supported"):
        rrdb_graph(x2.state_dict(), x2_desc.arch_kwargs)


@pytest.mark.parametrize("arch", ["SRVGGNetCompact", "RRDBNet"])
def test_weights_that_do_not_fit_are_refused_by_the_writer(arch):
    net, desc = build_net(arch, **TINY[arch])
    write = compact_graph if arch == "SRVGGNetCompact" else rrdb_graph
    state = net.state_dict()
    depth = "num_conv" if arch == "SRVGGNetCompact" else "num_block"
    with pytest.raises(RestorationError, match="the weights have no"):  # a network deeper than the weights
        write(state, {**desc.arch_kwargs, depth: desc.arch_kwargs[depth] + 1})
    with pytest.raises(RestorationError, match="tensors this architecture does not use"):
        write({**state, "extra.weight": torch.zeros(1)}, desc.arch_kwargs)
    first = "body.0.weight" if arch == "SRVGGNetCompact" else "conv_first.weight"
    with pytest.raises(RestorationError, match="do not fit its 3-channel input"):
        write({**state, first: torch.zeros(8, 4, 3, 3)}, desc.arch_kwargs)


@needs_ncnn
@pytest.mark.parametrize("arch", ["SRVGGNetCompact", "RRDBNet"])
def test_runner_computes_what_torch_computes(arch):
    net, desc = build_net(arch, init="default", **TINY[arch])
    runner = NcnnRunner(net.state_dict(), arch, desc.arch_kwargs, threads=1)
    for shape in ((20, 24), (13, 9), (20, 24)):  # windows of other shapes in turn, as at an image's border
        x = torch.rand(1, 3, *shape, generator=torch.Generator().manual_seed(sum(shape)))
        with torch.inference_mode():
            assert (net(x) - runner(x)).abs().max() < 1e-4


@needs_ncnn
@pytest.mark.parametrize(("arch", "trims"), [("SRVGGNetCompact", 0), ("RRDBNet", 2)])
def test_only_rrdbnet_windows_give_their_memory_back(arch, trims, monkeypatch):
    """An RRDBNet window's buffers go back to the system (the memory goal); a Compact window's stay for the next."""
    from restoration.inference import ncnn_backend

    calls = []
    monkeypatch.setattr(ncnn_backend, "release_freed_memory", lambda: calls.append(1))
    net, desc = build_net(arch, init="default", **TINY[arch])
    runner = NcnnRunner(net.state_dict(), arch, desc.arch_kwargs, threads=1)
    for _ in range(2):
        runner(torch.rand(1, 3, 12, 12, generator=torch.Generator().manual_seed(0)))
    assert len(calls) == trims


@needs_ncnn
@pytest.mark.parametrize("rows", [1, 3])
def test_rrdb_x4_end_in_strips_computes_what_one_pass_computes(rows, monkeypatch):
    from restoration.inference import ncnn_backend

    net, desc = build_net("RRDBNet", init="default", **TINY["RRDBNet"])
    runner = NcnnRunner(net.state_dict(), "RRDBNet", desc.arch_kwargs, threads=1)
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
def test_ncnn_backend_builds_no_torch_network_and_imports_no_basicsr(models_dir):
    """BasicSR's imports (torchvision, scipy) take 0.15 GB: the ncnn backend writes its graph from the weights."""
    import subprocess
    import sys

    code = ("import sys; from restoration.inference import Upscaler; import numpy as np; "
            f"up = Upscaler('tiny-x4', device='cpu', models_dir={str(models_dir)!r}, backend='ncnn', threads=1); "
            "out = up.upscale(np.zeros((8, 8, 3), np.uint8)); "
            "print(up.net is None, out.shape, sorted(m for m in sys.modules if m.split('.')[0] == 'basicsr'))")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split("\n")[-2] == "True (32, 32, 3) []"


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
def test_a_file_whose_weights_do_not_fit_its_metadata_is_refused_naming_it(tmp_path):
    import json

    from safetensors.torch import save_file

    net, desc = build_net("SRVGGNetCompact", **TINY["SRVGGNetCompact"])
    path = tmp_path / "liar.safetensors"  # says 3 body convolutions, holds 2
    save_file(net.state_dict(), str(path), metadata={"arch": "SRVGGNetCompact", "scale": "4",
                                                     "arch_kwargs": json.dumps({**desc.arch_kwargs, "num_conv": 3})})
    with pytest.raises(RestorationError, match=r"weights in .*liar.safetensors do not fit SRVGGNetCompact.*the weights"
                                               r" have no 'body.7.weight'"):
        Upscaler(str(path), device="cpu", backend="ncnn")


@needs_ncnn
def test_a_network_followed_by_a_resize_is_refused_by_the_ncnn_backend(tmp_path):
    from restoration.inference.files import save_model

    net, desc = build_net("SRVGGNetCompact", **TINY["SRVGGNetCompact"])
    path = save_model(net, tmp_path / "x2.safetensors", arch=desc.arch, arch_kwargs=desc.arch_kwargs, scale=4,
                      name="x2", metadata={"output_resize": '{"mode": "bicubic", "scale": 2}'})
    assert Upscaler(str(path), device="cpu", backend="auto").backend == "torch"
    with pytest.raises(RestorationError, match="does not run 'x2', a network followed by a resize"):
        Upscaler(str(path), device="cpu", backend="ncnn")


@needs_ncnn
def test_auto_backend_takes_ncnn_for_compact_models_on_the_cpu_only(models_dir, monkeypatch):
    assert Upscaler("tiny-x4", device="cpu", models_dir=models_dir, backend="auto").backend == "ncnn"
    assert Upscaler("tiny-x2", device="cpu", models_dir=models_dir, backend="auto").backend == "torch"  # MSRResNet
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "ncnn" else _find(name, *a))
    assert Upscaler("tiny-x4", device="cpu", models_dir=models_dir, backend="auto").backend == "torch"  # not installed


_find = importlib.util.find_spec
