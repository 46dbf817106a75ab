"""int8: the first and last convolutions stay float32, and pixel-unshuffle models run on windows of any size."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from basicsr.archs.rrdbnet_arch import RRDBNet
from basicsr.archs.srvgg_arch import SRVGGNetCompact
from tiny_models import TINY, build_net

from restoration.inference import Upscaler, save_model
from restoration.inference.quantize import float_ends


def test_float_ends_are_the_first_and_last_convolutions():
    compact = SRVGGNetCompact(num_feat=4, num_conv=3, upscale=4)
    convs = [n for n, m in compact.named_modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 5 and float_ends(compact) == sorted([convs[0], convs[-1]])
    rrdb = RRDBNet(num_in_ch=3, num_out_ch=3, num_feat=4, num_block=1, num_grow_ch=4)
    assert float_ends(rrdb) == ["conv_first", "conv_last"]
    assert float_ends(torch.nn.Sequential(torch.nn.ReLU())) == []


@pytest.mark.slow
@pytest.mark.parametrize("scale", [2, 1])
def test_int8_runs_pixel_unshuffle_models_on_windows_of_any_size(tmp_path, scale):
    """RRDBNet x2 / x1 unshuffle its input by 2 / 4: the export declares height and width as multiples of that, and
    the tiling pads every window (the border ones are smaller) to one; int8 must still match float32's picture."""
    pytest.importorskip("torchao", reason="the [int8] extra")
    kw = dict(TINY["RRDBNet"], scale=scale)
    net, desc = build_net("RRDBNet", init="default", **kw)
    path = save_model(net, tmp_path / "rrdb.safetensors", arch=desc.arch, arch_kwargs=desc.arch_kwargs,
                      scale=desc.scale, name="rrdb")
    rng = np.random.default_rng(0)
    img = cv2.GaussianBlur(rng.integers(0, 256, (37, 50, 3), dtype=np.uint8), (5, 5), 0)
    calibration = [cv2.GaussianBlur(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8), (5, 5), 0)]
    f32 = Upscaler(path, device="cpu", tile=16, tile_pad=3).upscale(img).astype(int)
    i8 = Upscaler(path, device="cpu", tile=16, tile_pad=3, int8=True, calibration=calibration).upscale(img)
    assert i8.shape == f32.shape == (37 * scale, 50 * scale, 3)
    assert np.abs(f32 - i8.astype(int)).mean() <= 3  # int8 rounding, not a different picture
