"""Inference reads the EMA weights of a BasicSR checkpoint; the names files.py exports stay."""
import torch

from restoration.checkpoints import INFERENCE_KEYS
from restoration.inference import files
from restoration.inference.weights import read_weights


def test_read_weights_prefers_params_ema(tmp_path):
    path = tmp_path / "net_g_5.pth"
    torch.save({"params": {"w": torch.zeros(1)}, "params_ema": {"w": torch.ones(1)}, "iter": 5}, path)
    state, meta = read_weights(path)
    assert float(state["w"]) == 1.0 and meta == {}


def test_files_keeps_its_public_names():
    for name in files.__all__:
        assert hasattr(files, name), name
    assert files.CHECKPOINT_KEYS == INFERENCE_KEYS
