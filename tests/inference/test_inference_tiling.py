import logging

import numpy as np
import pytest
import torch
from tiny_models import build_net

from restoration.errors import RestorationError
from restoration.inference.tiling import tile_grid, tiles_for, upscale_tiled

# Receptive fields wider than the default 16 px padding, so the test says something about the default.
DEEP = {
    "SRVGGNetCompact": dict(num_feat=8, num_conv=16, upscale=4),   # 18 convs: radius 18 px
    "MSRResNet": dict(num_feat=8, num_block=8, upscale=2),         # 16 body convs + 4: radius ~20 px
    "RRDBNet-x2": dict(num_feat=8, num_block=1, num_grow_ch=4, scale=2),  # pixel-unshuffled input
}
# (kwargs, padding that covers the receptive field)
SHALLOW = {
    "SRVGGNetCompact": (dict(num_feat=8, num_conv=2, upscale=4), 16),  # radius 4
    "MSRResNet-x3": (dict(num_feat=8, num_block=1, upscale=3), 16),      # radius ~5
    "RRDBNet-x2": (dict(num_feat=8, num_block=1, num_grow_ch=4, scale=2), 40),  # 17 convs on a half-res grid
}
SIZES = [(37, 53), (64, 64), (29, 90)]


def _img(h, w, dtype=np.uint8, seed=0):
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, (h // 4 + 2, w // 4 + 2, 3)).astype(np.float32)
    import cv2

    smooth = cv2.resize(base, (w, h), interpolation=cv2.INTER_CUBIC)  # photo-like, not pure noise
    img = np.clip(smooth + rng.normal(0, 8, smooth.shape), 0, 255)
    return (img * 257).astype(np.uint16) if dtype == np.uint16 else img.astype(np.uint8)


@pytest.mark.parametrize("name", list(DEEP))
def test_tiled_equals_untiled_with_default_padding(name):
    """Receptive field wider than the padding, the archs' own initialisation (a freshly built model)."""
    arch = name.split("-")[0]
    net, desc = build_net(arch, init="default", **DEEP[name])
    for (h, w), tile in zip(SIZES, (16, 24, 32)):
        img = _img(h, w)
        whole, _ = upscale_tiled(net, img, desc.scale, tile=0, multiple=desc.input_multiple)
        tiled, used = upscale_tiled(net, img, desc.scale, tile=tile, multiple=desc.input_multiple)
        assert h % tile or w % tile  # at least one side not divisible by the tile
        assert tiled.shape == whole.shape == (h * desc.scale, w * desc.scale, 3)
        diff = np.abs(tiled.astype(int) - whole.astype(int)).max()
        assert diff <= 1, (name, h, w, tile, diff)


@pytest.mark.parametrize("name", list(SHALLOW))
def test_tiling_is_exact_when_receptive_field_fits_the_padding(name):
    """Strong random weights: any stitching error (offsets, crops, borders) would show at full amplitude."""
    arch = name.split("-")[0]
    kwargs, pad = SHALLOW[name]
    net, desc = build_net(arch, **kwargs)
    for (h, w), tile in zip(SIZES, (16, 24, 32)):
        img = _img(h, w)
        whole, _ = upscale_tiled(net, img, desc.scale, tile=0, multiple=desc.input_multiple)
        tiled, _ = upscale_tiled(net, img, desc.scale, tile=tile, tile_pad=pad, multiple=desc.input_multiple)
        assert np.abs(tiled.astype(int) - whole.astype(int)).max() <= 1, (name, h, w, tile)
        assert whole.std() > 5  # a real picture, not a saturated constant


def test_tiled_equals_untiled_16bit():
    net, desc = build_net("SRVGGNetCompact", init="default", **DEEP["SRVGGNetCompact"])
    img = _img(33, 41, np.uint16)
    whole, _ = upscale_tiled(net, img, desc.scale, tile=0)
    tiled, _ = upscale_tiled(net, img, desc.scale, tile=20)
    assert tiled.dtype == np.uint16
    assert np.abs(tiled.astype(int) - whole.astype(int)).max() <= 257  # 1/255 of the 16-bit range


def test_small_padding_is_visibly_worse():
    """The padding matters: without it tile seams differ from the whole-image pass."""
    net, desc = build_net("SRVGGNetCompact", **DEEP["SRVGGNetCompact"])
    img = _img(37, 53)
    whole, _ = upscale_tiled(net, img, desc.scale, tile=0)
    seams, _ = upscale_tiled(net, img, desc.scale, tile=16, tile_pad=0)
    assert np.abs(seams.astype(int) - whole.astype(int)).max() > 1


def test_grid_covers_image_once():
    for h, w, t in [(37, 53, 16), (64, 64, 32), (5, 7, 100), (10, 10, 0)]:
        cover = np.zeros((h, w), int)
        for y0, y1, x0, x1 in tile_grid(h, w, t):
            cover[y0:y1, x0:x1] += 1
        assert (cover == 1).all()
        assert len(tile_grid(h, w, t)) == tiles_for(h, w, t)


class _OOMNet(torch.nn.Module):
    """Nearest x2 upscaling that runs out of memory above a pixel budget, like a small GPU."""

    def __init__(self, budget: int):
        super().__init__()
        self.budget = budget
        self.calls: list[tuple[int, int]] = []

    def forward(self, x):
        self.calls.append(tuple(x.shape[-2:]))
        if x.shape[-1] * x.shape[-2] > self.budget:
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return torch.nn.functional.interpolate(x, scale_factor=2, mode="nearest")


def test_out_of_memory_halves_the_tile_and_logs(caplog):
    img = _img(40, 60)
    net = _OOMNet(budget=48 * 48)
    with caplog.at_level(logging.WARNING, logger="restoration.inference"):
        out, used = upscale_tiled(net, img, 2, tile=64, tile_pad=4)
    assert used == 32  # 64 -> 32 (+8 padding = 40 px fits the 48x48 budget)
    np.testing.assert_array_equal(out, img.repeat(2, 0).repeat(2, 1))
    assert "out of memory" in caplog.text and "retrying with tile 32" in caplog.text
    with caplog.at_level(logging.WARNING, logger="restoration.inference"):
        out, used = upscale_tiled(_OOMNet(budget=40 * 40), img, 2, tile=0, tile_pad=4)
    assert used == 30 and "whole image" in caplog.text


def test_out_of_memory_gives_up_below_minimum():
    with pytest.raises(RestorationError, match="out of memory"):
        upscale_tiled(_OOMNet(budget=10), _img(40, 40), 2, tile=32)


def test_other_errors_are_not_swallowed():
    class Broken(torch.nn.Module):
        def forward(self, x):
            raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        upscale_tiled(Broken(), _img(8, 8), 2, tile=4)


def test_progress_reports_every_tile():
    net = _OOMNet(budget=10**9)
    seen = []
    upscale_tiled(net, _img(40, 60), 2, tile=16, progress=lambda d, t: seen.append((d, t)))
    assert seen == [(i, 12) for i in range(1, 13)]
    assert max(h * w for h, w in net.calls) <= (16 + 32) ** 2  # never more than one padded tile at once


def test_windows_stop_at_the_border():
    """A window is the tile plus its padding inside the image (no more work than Real-ESRGAN's tiling), and the
    windows give the image a whole pass gives."""
    net = _OOMNet(budget=10**9)
    img = _img(40, 70)
    out, _ = upscale_tiled(net, img, 2, tile=16, tile_pad=8)
    heights, widths = {h for h, _ in net.calls}, {w for _, w in net.calls}
    assert heights == {24, 32, 16} and widths == {24, 32, 30, 14}, net.calls  # 40 x 70 px, tiles of 16, pad 8
    np.testing.assert_array_equal(out, img.repeat(2, 0).repeat(2, 1))
