"""One checkpoint unwrapper; the caller says which entry wins (inference: EMA first; training: each network's own)."""
import pytest
import torch

from restoration.checkpoints import INFERENCE_KEYS, TRAINING_KEYS, chosen_key, training_keys, unwrap_state_dict
from restoration.errors import RestorationError

EMA, PLAIN = {"w": torch.ones(1)}, {"w": torch.zeros(1)}
BOTH = {"params": PLAIN, "params_ema": EMA, "iter": 7}


def test_inference_takes_the_ema_weights_like_real_esrgan():
    assert float(unwrap_state_dict(BOTH, "ckpt", INFERENCE_KEYS)["w"]) == 1.0
    assert float(unwrap_state_dict({"params": PLAIN}, "ckpt", INFERENCE_KEYS)["w"]) == 0.0  # no EMA saved


def test_training_keeps_both_networks_weights():
    """net_g resumes from ``params`` and net_g_ema from ``params_ema`` of the same file."""
    assert training_keys("params")[0] == "params" and training_keys("params_ema")[0] == "params_ema"
    assert float(unwrap_state_dict(BOTH, "ckpt", training_keys("params"))["w"]) == 0.0
    assert float(unwrap_state_dict(BOTH, "ckpt", training_keys("params_ema"))["w"]) == 1.0
    assert float(unwrap_state_dict(BOTH, "ckpt", TRAINING_KEYS)["w"]) == 0.0


def test_missing_entry_falls_back_to_the_plain_weights():
    assert chosen_key({"params": PLAIN}, training_keys("params_ema")) == "params"
    assert chosen_key({"params_ema": EMA}, training_keys("params")) == "params_ema"
    assert sorted(training_keys("params_ema")) == sorted(TRAINING_KEYS)


def test_bare_state_dict_when_no_key_is_given():
    assert training_keys(None) == ()
    assert chosen_key(PLAIN, ()) is None
    assert float(unwrap_state_dict(PLAIN, "ckpt", ())["w"]) == 0.0
    with pytest.raises(RestorationError, match="ckpt holds no state dict"):
        unwrap_state_dict({"params": PLAIN}, "ckpt", ())


def test_nested_wrappers_and_module_prefix():
    inner = {"module.conv.weight": torch.ones(2), "module.conv.bias": torch.zeros(2)}
    assert set(unwrap_state_dict({"state_dict": {"model": inner}}, "x", INFERENCE_KEYS)) == {"conv.weight",
                                                                                            "conv.bias"}


def test_no_tensors_is_an_error_naming_the_file():
    with pytest.raises(RestorationError, match="x holds no state dict \\(expected params_ema, params or"):
        unwrap_state_dict({"params": {"a": 1}}, "x", INFERENCE_KEYS)
