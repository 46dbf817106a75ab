"""Deepening a Compact network keeps its function; wrong weights or networks are one clear error."""
import pytest
import torch
from basicsr.archs.srvgg_arch import SRVGGNetCompact

from restoration.errors import RestorationError
from restoration.models.deepen import body_layers, deepen_compact_state
from restoration.models.training_state import load_checkpoint


def parent(num_conv: int = 3, act_type: str = "prelu") -> SRVGGNetCompact:
    torch.manual_seed(0)
    net = SRVGGNetCompact(3, 3, num_feat=8, num_conv=num_conv, upscale=4, act_type=act_type)
    for m in net.modules():
        if isinstance(m, torch.nn.PReLU):
            m.weight.data.uniform_(0.0, 0.5)  # not the default 0.25 everywhere: each layer distinct
    return net.eval()


@pytest.mark.parametrize("act_type", ["prelu", "relu"])
@pytest.mark.parametrize("num_conv", [3, 4, 7, 12])
def test_deepened_network_computes_the_same_output(act_type, num_conv):
    small = parent(3, act_type)
    deep = SRVGGNetCompact(3, 3, num_feat=8, num_conv=num_conv, upscale=4, act_type=act_type).eval()
    deep.load_state_dict(deepen_compact_state(small.state_dict(), num_conv, act_type))
    x = torch.rand(1, 3, 12, 12, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert torch.allclose(small(x), deep(x), atol=1e-6)
    assert body_layers(deep.state_dict()) == 2 * num_conv + 3


def test_parent_convolutions_are_spread_over_the_depth():
    small = parent(2)
    state = deepen_compact_state(small.state_dict(), 4)
    assert torch.equal(state["body.2.weight"], small.state_dict()["body.2.weight"])  # new conv 0 = parent 0
    assert torch.equal(state["body.6.weight"], small.state_dict()["body.4.weight"])  # new conv 2 = parent 1
    centre = state["body.4.weight"][:, :, 1, 1]
    assert torch.equal(centre, torch.eye(8)) and state["body.4.weight"].abs().sum() == 8


def test_shallower_target_and_foreign_weights_are_refused():
    with pytest.raises(RestorationError, match="fewer than the weights' 3"):
        deepen_compact_state(parent(3).state_dict(), 2)
    with pytest.raises(RestorationError, match="not an SRVGGNetCompact"):
        deepen_compact_state({"conv_first.weight": torch.zeros(1)}, 8)
    with pytest.raises(RestorationError, match="leakyrelu"):
        deepen_compact_state(parent(3, "leakyrelu").state_dict(), 8, "leakyrelu")


def test_load_checkpoint_deepens_a_saved_parent(tmp_path):
    small = parent(2)
    path = tmp_path / "small.pth"
    torch.save({"params_ema": small.state_dict()}, path)
    deep = SRVGGNetCompact(3, 3, num_feat=8, num_conv=6, upscale=4).eval()
    load_checkpoint(deep, path, strict=True, param_key="params_ema", deepen=True)
    x = torch.rand(1, 3, 8, 8, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        assert torch.allclose(small(x), deep(x), atol=1e-6)
    with pytest.raises(RestorationError, match="not an SRVGGNetCompact"):
        load_checkpoint(torch.nn.Conv2d(3, 3, 3), path, deepen=True)
