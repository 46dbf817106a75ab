import logging

import numpy as np
import pytest
import torch
from tiny_models import TINY, build_net

import restoration
from restoration.errors import RestorationError
from restoration.inference import Upscaler, save_model


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    net, desc = build_net("SRVGGNetCompact", **TINY["SRVGGNetCompact"])
    path = tmp_path_factory.mktemp("m") / "tiny.safetensors"
    return save_model(net, path, arch=desc.arch, arch_kwargs=desc.arch_kwargs, scale=desc.scale, name="tiny")


def _run_net(up, planes):
    x = torch.from_numpy(planes.transpose(2, 0, 1).astype(np.float32) / 255)[None]
    with torch.no_grad():
        y = up.net(x)[0].clamp(0, 1).mul(255).round().byte()
    return y.permute(1, 2, 0).numpy()


def test_rgb_matches_a_direct_network_pass(model_file, rgb):
    up = Upscaler(model_file, device="cpu")
    out = up.upscale(rgb)
    assert out.shape == (rgb.shape[0] * 4, rgb.shape[1] * 4, 3) and out.dtype == np.uint8
    assert np.abs(out.astype(int) - _run_net(up, rgb)).max() <= 1
    assert up.scale == 4 and up.descriptor.arch == "SRVGGNetCompact" and up.name == "tiny"


def test_gray_stays_gray(model_file, rgb):
    gray = rgb[:, :, 1].copy()
    out = Upscaler(model_file, device="cpu").upscale(gray)
    assert out.shape == (gray.shape[0] * 4, gray.shape[1] * 4) and out.dtype == np.uint8


def test_rgba_alpha_upscaled_separately(model_file, rgb):
    alpha = np.zeros(rgb.shape[:2], np.uint8)
    alpha[5:15, 8:20] = 255
    rgba = np.dstack([rgb, alpha])
    for mode in ("model", "resize"):
        up = Upscaler(model_file, device="cpu", alpha=mode)
        out = up.upscale(rgba)
        assert out.shape == (rgb.shape[0] * 4, rgb.shape[1] * 4, 4)
        np.testing.assert_array_equal(out[:, :, :3], up.upscale(rgb))  # colour unaffected by alpha
        if mode == "model":  # alpha goes through the network as a gray image
            np.testing.assert_array_equal(out[:, :, 3], up.upscale(alpha))
        else:
            assert out[30:50, 40:70, 3].min() == 255 and out[:10, :10, 3].max() == 0
    assert Upscaler(model_file, alpha="model").count_tiles(rgba) == 2
    opaque = np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])
    up = Upscaler(model_file)
    assert up.count_tiles(opaque) == 1
    out = up.upscale(opaque)
    assert (out[:, :, 3] == 255).all() and np.array_equal(out[:, :, :3], up.upscale(rgb))


def test_16bit_in_16bit_out(model_file, rgb):
    img16 = rgb.astype(np.uint16) * 257
    up = Upscaler(model_file, device="cpu")
    out = up.upscale(img16)
    assert out.dtype == np.uint16
    assert np.abs(out.astype(int) / 257 - up.upscale(rgb).astype(int)).max() <= 1.5


def test_arbitrary_outscale(model_file, rgb):
    up = Upscaler(model_file, device="cpu")
    h, w = rgb.shape[:2]
    assert up.upscale(rgb, outscale=3.5).shape == (round(h * 3.5), round(w * 3.5), 3)
    assert up.upscale(rgb, outscale=2).shape == (h * 2, w * 2, 3)
    assert up.upscale(rgb[:, :, 0], outscale=6).shape == (h * 6, w * 6)
    with pytest.raises(RestorationError, match="outscale"):
        up.upscale(rgb, outscale=0)


def test_tiled_upscaler_progress(model_file, rgb):
    up = Upscaler(model_file, device="cpu", tile=8)
    calls = []
    out = up.upscale(rgb, progress=lambda d, t: calls.append((d, t)))
    assert calls[-1] == (12, 12) and len(calls) == 12  # 3 x 4 tiles of 8 px on 23 x 31
    assert np.abs(out.astype(int) - Upscaler(model_file).upscale(rgb)).max() <= 1


def test_half_ignored_on_cpu_with_a_message(model_file, caplog):
    with caplog.at_level(logging.WARNING, logger="restoration.inference"):
        up = Upscaler(model_file, device="cpu", half=True)
    assert up.half is False and next(up.net.parameters()).dtype == torch.float32
    assert "only used on CUDA" in caplog.text


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-CUDA message")
def test_cuda_requested_without_cuda(model_file):
    with pytest.raises(RestorationError, match="CUDA is not available"):
        Upscaler(model_file, device="cuda")


def test_bad_arrays_refused(model_file):
    up = Upscaler(model_file)
    with pytest.raises(RestorationError, match="uint8 or uint16"):
        up.upscale(np.zeros((4, 4, 3), np.float32))
    with pytest.raises(RestorationError, match="shape"):
        up.upscale(np.zeros((4, 4, 5), np.uint8))
    with pytest.raises(RestorationError, match="tile"):
        Upscaler(model_file, tile=-1)


def test_top_level_lazy_export(model_file):
    assert restoration.Upscaler is Upscaler


def test_single_channel_model_on_rgb(tmp_path, rgb):
    net, desc = build_net("SRVGGNetCompact", **dict(TINY["SRVGGNetCompact"], num_in_ch=1, num_out_ch=1))
    path = save_model(net, tmp_path / "g.safetensors", arch=desc.arch, arch_kwargs=desc.arch_kwargs,
                      scale=desc.scale, name="g")
    up = Upscaler(path)
    assert up.upscale(rgb).shape == (92, 124, 3)
    assert up.upscale(rgb[:, :, 0]).shape == (92, 124)


def test_output_pixel_limit_checked_before_any_pass(model_file, monkeypatch):
    from restoration.inference.upscaler import ENV_MAX_OUTPUT_PIXELS, max_output_pixels_limit

    up = Upscaler(str(model_file), device="cpu", max_output_pixels=5000)
    calls = []
    monkeypatch.setattr(up, "net", lambda x: calls.append(x) or x)
    with pytest.raises(RestorationError, match=r"output too large: 20x20 x4 = 80x80 = 6,400 pixels, over the limit "
                                               r"of 5,000 output pixels"):
        up.upscale(np.zeros((20, 20, 3), np.uint8))
    with pytest.raises(RestorationError, match=r"\(80x80 at the model's x4\)"):  # the intermediate counts
        up.upscale(np.zeros((20, 20, 3), np.uint8), outscale=2)
    assert calls == []
    monkeypatch.setenv(ENV_MAX_OUTPUT_PIXELS, "0")
    assert max_output_pixels_limit() == 0  # 0 = no limit
    monkeypatch.setenv(ENV_MAX_OUTPUT_PIXELS, "lots")
    with pytest.raises(RestorationError, match="is not a number"):
        max_output_pixels_limit()
    with pytest.raises(RestorationError, match=">= 0"):
        max_output_pixels_limit(-1)


def test_denoise_partner_names():
    from restoration.inference.upscaler import denoise_partner

    names = ["realesr-general-x4v3", "realesr-general-wdn-x4v3", "realesrgan-x4plus"]
    assert denoise_partner("realesr-general-x4v3", names) == ("realesr-general-x4v3", "realesr-general-wdn-x4v3")
    assert denoise_partner("realesr-general-wdn-x4v3", names) == ("realesr-general-x4v3", "realesr-general-wdn-x4v3")
    assert denoise_partner("realesrgan-x4plus", names) is None
    assert denoise_partner("realesr-general-x4v3", names[:1]) is None


def test_denoise_strength_interpolates_the_twins(tmp_path):
    import json

    from restoration.inference.files import load_model, sha256_file

    entries = {}
    for name, factor in (("m-general-x4v3", 1.0), ("m-general-wdn-x4v3", -0.5)):
        net, desc = build_net("SRVGGNetCompact", **TINY["SRVGGNetCompact"])
        with torch.no_grad():  # two different sets of weights
            for p in net.parameters():
                p.mul_(factor)
        path = save_model(net, tmp_path / f"{name}.safetensors", arch=desc.arch, arch_kwargs=desc.arch_kwargs,
                          scale=desc.scale, name=name)
        entries[name] = {"file": path.name, "sha256": sha256_file(path), "arch": desc.arch, "scale": desc.scale}
    (tmp_path / "manifest.json").write_text(json.dumps({"schema": 1, "default": "m-general-x4v3", "models": entries}))
    up = Upscaler(None, device="cpu", models_dir=tmp_path, denoise_strength=0.25)
    a = load_model("m-general-x4v3", models_dir=tmp_path)[0].state_dict()
    b = load_model("m-general-wdn-x4v3", models_dir=tmp_path)[0].state_dict()
    assert not torch.equal(a["body.0.weight"], b["body.0.weight"])
    for k, v in up.net.state_dict().items():
        torch.testing.assert_close(v, 0.25 * a[k] + 0.75 * b[k])
    assert up.name == "m-general-x4v3 (denoise 0.25)"
    with pytest.raises(RestorationError, match=r"denoise strength must be in \[0, 1\]"):
        Upscaler(None, device="cpu", models_dir=tmp_path, denoise_strength=2)


def test_passes_count_colour_and_alpha(model_file):
    up = Upscaler(str(model_file), device="cpu", tile=4)
    rgba = np.zeros((8, 10, 4), np.uint8)
    rgba[0, 0, 3] = 255  # a non-uniform alpha goes through the model too
    assert up.passes(rgba) == 2 and up.count_tiles(rgba) == 2 * 6
    rgba[:, :, 3] = 255
    assert up.passes(rgba) == 1


def test_default_tile_follows_model_size():
    """tile=None: whole images for small networks, tiles for large ones (RRDBNet x4plus size) on CPU and GPU."""
    from restoration.inference.upscaler import LARGE_MODEL_PARAMS, default_tile

    small, large = 600_000, 16_700_000  # SRVGGNetCompact 64/16, RRDBNet x4plus
    assert default_tile(small, "cpu") == 0 and default_tile(LARGE_MODEL_PARAMS - 1, "cpu") == 0
    assert default_tile(large, "cpu") == 128 and default_tile(large, "cuda:0") == 512


class _OutOfMemoryAbove:
    """The upscaler's network, out of memory above a pixel budget (like a small GPU)."""

    def __init__(self, net, budget: int):
        self.net, self.budget, self.calls = net, budget, []

    def __call__(self, x):
        self.calls.append(tuple(x.shape[-2:]))
        if x.shape[-1] * x.shape[-2] > self.budget:
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return self.net(x)


def test_out_of_memory_fallback_does_not_change_the_shared_upscaler(model_file, rgb, caplog):
    rgb = np.tile(rgb, (2, 2, 1))  # 46 x 62: the whole image and 31 px tiles over budget, 15 px tiles under
    up = Upscaler(model_file, device="cpu", tile=0, tile_pad=8)
    whole = up.upscale(rgb)
    up.runner = oom = _OutOfMemoryAbove(up.net, budget=40 * 40)
    with caplog.at_level(logging.WARNING, logger="restoration.inference"):
        out = up.upscale(rgb)
    assert "out of memory" in caplog.text and up.tile == 0  # the retry's tile belongs to that call only
    assert np.abs(out.astype(int) - whole).max() <= 1
    oom.calls.clear()
    up.upscale(rgb)
    assert oom.calls[0] == rgb.shape[:2]  # the next call starts again from the whole image


def test_per_call_tile(model_file, rgb):
    up = Upscaler(model_file, device="cpu", tile=0)
    calls = []
    tiled = up.upscale(rgb, tile=8, progress=lambda d, t: calls.append((d, t)))
    assert up.tile == 0 and calls[-1] == (12, 12)  # 3 x 4 tiles of 8 px on 23 x 31
    assert np.abs(tiled.astype(int) - up.upscale(rgb)).max() <= 1
    with pytest.raises(RestorationError, match="tile"):
        up.upscale(rgb, tile=-1)


def test_network_runs_channels_last(model_file):
    up = Upscaler(model_file, device="cpu")
    conv = next(m for m in up.net.modules() if isinstance(m, torch.nn.Conv2d))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)


def test_threads_are_set_while_upscaling_and_restored(model_file, rgb):
    seen = []
    up = Upscaler(model_file, device="cpu", threads=1)
    up.runner = lambda x: seen.append(torch.get_num_threads()) or up.net(x)
    before = torch.get_num_threads()
    up.upscale(rgb)
    assert seen == [1] and torch.get_num_threads() == before
    with pytest.raises(RestorationError, match="threads"):
        Upscaler(model_file, device="cpu", threads=0)


def test_half_without_cuda_runs_float32(model_file):
    up = Upscaler(model_file, device="cpu", half=True)
    assert up.half is False and next(up.net.parameters()).dtype == torch.float32
