import json
import os

import numpy as np
import pytest
import torch
from tiny_models import TINY, build_net

from restoration.errors import RestorationError
from restoration.inference import Upscaler, detect_arch, load_model, read_weights, save_model

VARIANTS = [
    ("SRVGGNetCompact", TINY["SRVGGNetCompact"]),
    ("SRVGGNetCompact", dict(TINY["SRVGGNetCompact"], upscale=2, num_conv=3)),
    ("MSRResNet", TINY["MSRResNet"]),
    ("MSRResNet", dict(TINY["MSRResNet"], upscale=3)),
    ("MSRResNet", dict(TINY["MSRResNet"], upscale=4)),
    ("RRDBNet", TINY["RRDBNet"]),
    ("RRDBNet", dict(TINY["RRDBNet"], scale=2)),
    ("RRDBNet", dict(TINY["RRDBNet"], scale=1)),
]


def _x():
    return torch.rand(1, 3, 12, 16, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("arch,kwargs", VARIANTS)
def test_export_load_round_trip_identical(tmp_path, arch, kwargs):
    net, desc = build_net(arch, **kwargs)
    path = save_model(net, tmp_path / "m.safetensors", arch=arch, arch_kwargs=kwargs, scale=desc.scale, name="m",
                      extra={"options_sha256": "abc"})
    loaded, d2 = load_model(path)
    assert (d2.arch, d2.arch_kwargs, d2.scale, d2.name) == (arch, desc.arch_kwargs, desc.scale, "m")
    assert d2.extra == {"options_sha256": "abc"}
    with torch.no_grad():
        assert torch.equal(loaded(_x()), net(_x()))


@pytest.mark.parametrize("arch,kwargs", VARIANTS)
def test_detect_arch_from_plain_state_dict(arch, kwargs):
    net, desc = build_net(arch, **kwargs)
    found = detect_arch(net.state_dict())
    assert (found.arch, found.arch_kwargs, found.scale) == (arch, desc.arch_kwargs, desc.scale)


def test_basicsr_pth_prefers_params_ema(tmp_path):
    ema, _ = build_net("SRVGGNetCompact", **TINY["SRVGGNetCompact"])
    plain = build_net("SRVGGNetCompact", **TINY["SRVGGNetCompact"])[0]
    with torch.no_grad():
        for p in plain.parameters():
            p.add_(1.0)
    path = tmp_path / "net_g_1000.pth"
    torch.save({"params": plain.state_dict(), "params_ema": ema.state_dict()}, path)
    net, desc = load_model(path)
    assert desc.arch == "SRVGGNetCompact" and desc.scale == 4 and desc.name == "net_g_1000"
    with torch.no_grad():
        assert torch.equal(net(_x()), ema(_x()))


@pytest.mark.parametrize("wrap", ["params", "plain", "module"])
def test_other_pth_layouts_load(tmp_path, wrap):
    ref, _ = build_net("MSRResNet", **TINY["MSRResNet"])
    state = ref.state_dict()
    obj = {"params": state} if wrap == "params" else (
        state if wrap == "plain" else {f"module.{k}": v for k, v in state.items()})
    torch.save(obj, tmp_path / "w.pth")
    net, _ = load_model(tmp_path / "w.pth")
    with torch.no_grad():
        assert torch.equal(net(_x()), ref(_x()))


class _Evil:
    def __reduce__(self):
        return (os.mkdir, (os.environ["EVIL_MARKER"],))


def test_pickle_that_runs_code_is_refused(tmp_path, monkeypatch):
    marker = tmp_path / "pwned"
    monkeypatch.setenv("EVIL_MARKER", str(marker))
    path = tmp_path / "evil.pth"
    torch.save({"params_ema": {"x": torch.zeros(1)}, "payload": _Evil()}, path)
    with pytest.raises(RestorationError, match=r"refused to load .*evil\.pth.*pickled objects"):
        load_model(path)
    assert not marker.exists()
    with pytest.raises(RestorationError, match="refused"):
        Upscaler(str(path))
    assert not marker.exists()


def test_weights_for_another_arch_are_refused(tmp_path):
    from safetensors.torch import save_file

    net, _ = build_net("SRVGGNetCompact", **TINY["SRVGGNetCompact"])
    meta = {"arch": "MSRResNet", "arch_kwargs": json.dumps(TINY["MSRResNet"]), "scale": "2"}
    save_file(net.state_dict(), str(tmp_path / "lie.safetensors"), metadata=meta)
    with pytest.raises(RestorationError, match=r"do not fit MSRResNet.*missing keys"):
        load_model(tmp_path / "lie.safetensors")
    meta = {"arch": "SRVGGNetCompact", "arch_kwargs": json.dumps(dict(TINY["SRVGGNetCompact"], num_feat=16)),
            "scale": "4"}
    save_file(net.state_dict(), str(tmp_path / "shape.safetensors"), metadata=meta)
    with pytest.raises(RestorationError, match=r"do not fit SRVGGNetCompact.*body\.0\.weight: file \[\d+, 3, 3, 3\] vs "
                                                r"network \[16, 3, 3, 3\].*\(\+\d+ more\)$"):
        load_model(tmp_path / "shape.safetensors")
    with pytest.raises(RestorationError, match="do not fit"):
        save_model(net, tmp_path / "x.safetensors", arch="RRDBNet", arch_kwargs=TINY["RRDBNet"], scale=4, name="x")


def test_unknown_weights_and_broken_files(tmp_path):
    torch.save({"params": {"encoder.weight": torch.zeros(2, 2)}}, tmp_path / "odd.pth")
    (tmp_path / "text.pth").write_text("hello")
    with pytest.raises(RestorationError, match="cannot tell the architecture.*encoder.weight"):
        load_model(tmp_path / "odd.pth")
    (tmp_path / "junk.safetensors").write_bytes(b"\x00" * 64)
    with pytest.raises(RestorationError, match="not a valid safetensors"):
        read_weights(tmp_path / "junk.safetensors")
    (tmp_path / "junk.pth").write_bytes(b"not a zip")
    with pytest.raises(RestorationError, match="not a readable PyTorch checkpoint"):
        read_weights(tmp_path / "junk.pth")
    good = tmp_path / "good.pth"
    torch.save({"params": build_net("MSRResNet", **TINY["MSRResNet"])[0].state_dict()}, good)
    (tmp_path / "cut.pth").write_bytes(good.read_bytes()[:300])
    with pytest.raises(RestorationError, match="not a readable PyTorch checkpoint"):
        read_weights(tmp_path / "cut.pth")
    (tmp_path / "empty.pth").write_bytes(b"")
    with pytest.raises(RestorationError, match="empty"):
        read_weights(tmp_path / "empty.pth")
    with pytest.raises(RestorationError, match="unsupported architecture 'SwinIR'"):
        save_model({}, tmp_path / "a.safetensors", arch="SwinIR", arch_kwargs={}, scale=4, name="a")


def test_compact_without_prelu_needs_metadata():
    net, _ = build_net("SRVGGNetCompact", **dict(TINY["SRVGGNetCompact"], act_type="leakyrelu"))
    with pytest.raises(RestorationError, match="relu and leaky-relu"):
        detect_arch(net.state_dict())


# spandrel has no MSRResNet; the two architectures it knows must give our outputs from our files.
@pytest.mark.parametrize("arch,kwargs", [v for v in VARIANTS if v[0] != "MSRResNet"])
def test_spandrel_loads_our_safetensors(tmp_path, arch, kwargs):
    spandrel = pytest.importorskip("spandrel")
    if arch == "RRDBNet":
        kwargs = dict(kwargs, num_grow_ch=32)  # spandrel assumes the standard growth channels
    net, desc = build_net(arch, **kwargs)
    if arch == "RRDBNet":  # random RRDB weights give outputs in the thousands, where float rounding (3e-6 relative,
        with torch.no_grad():  # e.g. channels-last vs contiguous) reaches whole 1/255 steps; keep them image-like
            net.conv_last.weight.mul_(1e-3)
    path = save_model(net, tmp_path / "m.safetensors", arch=arch, arch_kwargs=kwargs, scale=desc.scale, name="m")
    model = spandrel.ModelLoader().load_from_file(str(path))
    assert model.scale == desc.scale
    model.model.eval()
    ours, _ = load_model(path)
    x = torch.rand(1, 3, 16, 20, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        a, b = ours(x), model.model(x)
    assert a.shape == b.shape
    assert float((a - b).abs().max()) < 1e-5
    # and through the whole pipeline: our Upscaler output equals spandrel's, quantised
    img = (x[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    up = Upscaler(str(path), device="cpu")
    with torch.no_grad():
        ref = model(torch.from_numpy(img).permute(2, 0, 1)[None].float() / 255)
    ref = (ref[0].clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy()
    assert np.abs(up.upscale(img).astype(int) - ref).max() <= 1
