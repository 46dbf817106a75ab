"""One checkpoint unwrapper for inference (EMA first) and training (plain weights first)."""
import pytest
import torch

from restoration.errors import RestorationError
from restoration.inference import files
from restoration.inference.weights import INFERENCE_KEYS, TRAINING_KEYS, unwrap_state_dict


def test_precedence_is_chosen_by_the_caller():
    ema, plain = {"w": torch.ones(1)}, {"w": torch.zeros(1)}
    ckpt = {"params": plain, "params_ema": ema, "iter": 7}
    assert float(unwrap_state_dict(ckpt, "ckpt")["w"]) == 1.0  # inference: EMA weights
    assert float(unwrap_state_dict(ckpt, "ckpt", TRAINING_KEYS)["w"]) == 0.0  # resuming: the trained ones
    assert float(unwrap_state_dict({"params": plain}, "ckpt", INFERENCE_KEYS)["w"]) == 0.0


def test_nested_wrappers_and_module_prefix():
    inner = {"module.conv.weight": torch.ones(2), "module.conv.bias": torch.zeros(2)}
    assert set(unwrap_state_dict({"state_dict": {"model": inner}}, "x")) == {"conv.weight", "conv.bias"}


def test_no_tensors_is_an_error():
    with pytest.raises(RestorationError, match="x holds no state dict"):
        unwrap_state_dict({"params": {"a": 1}}, "x")


def test_files_keeps_its_public_names():
    for name in files.__all__:
        assert hasattr(files, name), name
    assert files.CHECKPOINT_KEYS == INFERENCE_KEYS
