"""``load_checkpoint`` for training: each network takes its own entry of a BasicSR checkpoint."""
import pytest
import torch

from restoration.errors import RestorationError
from restoration.models.training_state import load_checkpoint


def _net(value: float) -> torch.nn.Module:
    net = torch.nn.Conv2d(1, 1, 1)
    with torch.no_grad():
        net.weight.fill_(value)
        net.bias.fill_(value)
    return net


def test_net_g_and_its_ema_take_params_and_params_ema(tmp_path):
    path = tmp_path / "net_g_10.pth"
    torch.save({"params": _net(1.0).state_dict(), "params_ema": _net(2.0).state_dict()}, path)
    net_g, net_g_ema = _net(0.0), _net(0.0)
    load_checkpoint(net_g, path, param_key="params")
    load_checkpoint(net_g_ema, path, param_key="params_ema")
    assert float(net_g.weight.detach()) == 1.0 and float(net_g_ema.weight.detach()) == 2.0


def test_absent_entry_falls_back_and_bare_dicts_load(tmp_path):
    only_plain, bare = tmp_path / "plain.pth", tmp_path / "bare.pth"
    torch.save({"params": {"module." + k: v for k, v in _net(3.0).state_dict().items()}}, only_plain)
    torch.save(_net(4.0).state_dict(), bare)
    net = _net(0.0)
    load_checkpoint(net, only_plain, param_key="params_ema")
    assert float(net.weight.detach()) == 3.0
    load_checkpoint(net, bare, param_key=None)
    assert float(net.weight.detach()) == 4.0


def test_weights_of_another_network_are_one_error(tmp_path):
    path = tmp_path / "other.pth"
    torch.save({"params": torch.nn.Linear(2, 2).state_dict()}, path)
    with pytest.raises(RestorationError, match="weights do not fit Conv2d"):
        load_checkpoint(_net(0.0), path)
