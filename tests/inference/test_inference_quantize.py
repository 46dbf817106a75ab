"""int8 keeps the first and last convolutions in float32 (most of int8's PSNR loss, little of its time)."""
from __future__ import annotations

import torch
from basicsr.archs.rrdbnet_arch import RRDBNet
from basicsr.archs.srvgg_arch import SRVGGNetCompact

from restoration.inference.quantize import float_ends


def test_float_ends_are_the_first_and_last_convolutions():
    compact = SRVGGNetCompact(num_feat=4, num_conv=3, upscale=4)
    convs = [n for n, m in compact.named_modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 5 and float_ends(compact) == sorted([convs[0], convs[-1]])
    rrdb = RRDBNet(num_in_ch=3, num_out_ch=3, num_feat=4, num_block=1, num_grow_ch=4)
    assert float_ends(rrdb) == ["conv_first", "conv_last"]
    assert float_ends(torch.nn.Sequential(torch.nn.ReLU())) == []
