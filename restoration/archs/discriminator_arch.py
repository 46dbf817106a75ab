"""U-Net discriminator with spectral normalisation (the Real-ESRGAN GAN-stage discriminator), registered as
``UNetDiscriminatorSNMTL`` so it does not clash with BasicSR's own copy.

It returns a per-pixel realness map (same size as the input), which gives the generator local feedback; the
parameter names match Real-ESRGAN's ``UNetDiscriminatorSN`` (conv0..conv9, spectral-norm ``weight_orig``), so
its discriminator checkpoints load. Option files may use either name: ``UNetDiscriminatorSN`` resolves to this
class too (restoration.models.nets).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from basicsr.utils.registry import ARCH_REGISTRY
from torch import nn
from torch.nn.utils import spectral_norm


def _sn_conv(cin: int, cout: int, k: int, stride: int = 1, pad: int = 1) -> nn.Module:
    return spectral_norm(nn.Conv2d(cin, cout, k, stride, pad, bias=False))


@ARCH_REGISTRY.register()  # pyright: ignore[reportOptionalCall]  # basicsr's Registry.register() is untyped
class UNetDiscriminatorSNMTL(nn.Module):
    """Encoder (3 stride-2 convs) / decoder (bilinear x2 + conv, optional skips) / 3-conv head, all SN."""

    def __init__(self, num_in_ch: int = 3, num_feat: int = 64, skip_connection: bool = True) -> None:
        super().__init__()
        f = num_feat
        self.skip_connection = skip_connection
        self.conv0 = nn.Conv2d(num_in_ch, f, 3, 1, 1)
        self.conv1 = _sn_conv(f, f * 2, 4, 2, 1)
        self.conv2 = _sn_conv(f * 2, f * 4, 4, 2, 1)
        self.conv3 = _sn_conv(f * 4, f * 8, 4, 2, 1)
        self.conv4 = _sn_conv(f * 8, f * 4, 3)
        self.conv5 = _sn_conv(f * 4, f * 2, 3)
        self.conv6 = _sn_conv(f * 2, f, 3)
        self.conv7 = _sn_conv(f, f, 3)
        self.conv8 = _sn_conv(f, f, 3)
        self.conv9 = nn.Conv2d(f, 1, 3, 1, 1)

    @staticmethod
    def _act(x: torch.Tensor) -> torch.Tensor:
        return F.leaky_relu(x, negative_slope=0.2, inplace=True)

    def _up(self, x: torch.Tensor, conv: nn.Module, skip: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
        x = self._act(conv(x))
        return x + skip if self.skip_connection else x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x0 = self._act(self.conv0(x))
        x1 = self._act(self.conv1(x0))
        x2 = self._act(self.conv2(x1))
        x3 = self._act(self.conv3(x2))
        x4 = self._up(x3, self.conv4, x2)
        x5 = self._up(x4, self.conv5, x1)
        x6 = self._up(x5, self.conv6, x0)
        out = self._act(self.conv7(x6))
        out = self._act(self.conv8(out))
        return self.conv9(out)
