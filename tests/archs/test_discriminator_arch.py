"""Our U-Net SN discriminator: per-pixel output, Real-ESRGAN state-dict keys, same outputs as BasicSR's copy."""
from __future__ import annotations

import torch

import restoration

restoration.register()
from basicsr.utils.registry import ARCH_REGISTRY  # noqa: E402

from restoration.archs.discriminator_arch import UNetDiscriminatorSNMTL  # noqa: E402
from restoration.models.nets import build_net  # noqa: E402


def test_output_map_and_odd_sizes():
    d = UNetDiscriminatorSNMTL(3, 8)
    assert d(torch.rand(2, 3, 32, 40)).shape == (2, 1, 32, 40)
    assert d(torch.rand(1, 3, 36, 38)).shape == (1, 1, 36, 38)  # sizes not divisible by 8 work too


def test_same_keys_and_outputs_as_the_reference_layout():
    ours = build_net({"type": "UNetDiscriminatorSN", "num_in_ch": 3, "num_feat": 8, "skip_connection": True})
    assert isinstance(ours, UNetDiscriminatorSNMTL)
    ref = ARCH_REGISTRY._obj_map["UNetDiscriminatorSN_basicsr"](3, 8, True)
    assert sorted(ours.state_dict()) == sorted(ref.state_dict())
    ours.load_state_dict(ref.state_dict())
    ours.eval(), ref.eval()
    x = torch.rand(2, 3, 32, 32)
    torch.testing.assert_close(ours(x), ref(x))
