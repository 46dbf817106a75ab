"""Unwrapping BasicSR / Real-ESRGAN checkpoints (``{"params": ..., "params_ema": ...}``, DataParallel prefixes,
nested ``state_dict``/``model`` wrappers) into a plain state dict, for inference and for training alike.

Which entry wins is the caller's decision, passed explicitly: a BasicSR checkpoint of a model trained with EMA
holds both the trained weights (``params``) and their moving average (``params_ema``). Inference wants the average
(:data:`INFERENCE_KEYS`, as Real-ESRGAN's inference script); training wants each network's own entry (``params``
for ``net_g``, ``params_ema`` for ``net_g_ema``: both are kept, see :func:`training_keys`).
No torch at import.
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

from restoration.errors import RestorationError

INFERENCE_KEYS = ("params_ema", "params", "state_dict", "model")
TRAINING_KEYS = ("params", "params_ema", "state_dict", "model")


def training_keys(param_key: str | None) -> tuple[str, ...]:
    """The precedence for loading one training network from ``param_key`` (BasicSR's ``param_key_g``): that entry,
    then the plain weights (BasicSR falls back to ``params`` when the asked entry is absent); None: the file must
    be a bare state dict."""
    if param_key is None:
        return ()
    return (param_key,) + tuple(k for k in TRAINING_KEYS if k != param_key)


def chosen_key(obj: Any, prefer: Sequence[str]) -> str | None:
    """The top-level entry of ``obj`` that :func:`unwrap_state_dict` takes with this precedence (None: top level)."""
    if isinstance(obj, Mapping):
        return next((key for key in prefer if isinstance(obj.get(key), Mapping)), None)
    return None


def unwrap_state_dict(obj: Any, source: str, prefer: Sequence[str]) -> dict:
    """The tensors of a loaded checkpoint: the first entry of ``prefer`` holding a mapping (recursively), else the
    top-level tensors; a ``module.`` prefix (DataParallel/DDP) is removed. ``source`` names the file in errors."""
    import torch

    if isinstance(obj, Mapping):
        key = chosen_key(obj, prefer)
        if key is not None:
            return unwrap_state_dict(obj[key], source, prefer)
        state = {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}
        if state:
            if all(k.startswith("module.") for k in state):
                state = {k[len("module."):]: v for k, v in state.items()}
            return state
    wanted = ", ".join(prefer[:2]) + " or " if prefer else ""
    raise RestorationError(f"{source} holds no state dict (expected {wanted}tensors at the top level)")
