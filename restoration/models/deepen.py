"""Start a deeper SRVGGNetCompact from a trained shallower one, computing the same function (Net2DeeperNet).

Training a 32-conv Compact from scratch costs the hours its 16-conv parent already took. Inserting body layers
that are exact identities (a 3x3 convolution with a centred identity kernel, followed by a PReLU of slope 1, or a
ReLU after a ReLU) gives a network whose output equals the parent's to rounding, so fine-tuning starts where the
parent is and only has to spend the added capacity (``path.deepen_g: true``).
"""
from __future__ import annotations

import torch

from restoration.errors import RestorationError


def body_layers(state: dict[str, torch.Tensor]) -> int:
    """The number of ``body.N`` modules of an SRVGGNetCompact state dict (0 when it holds none)."""
    idx = {int(k.split(".")[1]) for k in state if k.startswith("body.") and k.split(".")[1].isdigit()}
    return max(idx) + 1 if idx else 0


def identity_conv(num_feat: int, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Weight and bias of a 3x3 convolution that returns its input."""
    weight = torch.zeros(num_feat, num_feat, 3, 3, dtype=like.dtype)
    weight[torch.arange(num_feat), torch.arange(num_feat), 1, 1] = 1
    return weight, torch.zeros(num_feat, dtype=like.dtype)


def deepen_compact_state(state: dict[str, torch.Tensor], num_conv: int, act_type: str = "prelu"
                         ) -> dict[str, torch.Tensor]:
    """The state dict of an SRVGGNetCompact with ``num_conv`` body convolutions made from ``state`` (fewer ones):
    the parent's convolutions keep their order, spread evenly, with identity layers between them."""
    if act_type not in ("prelu", "relu"):
        raise RestorationError(f"deepen_g: act_type {act_type!r} has no identity activation (prelu or relu)")
    n_body = body_layers(state)
    old = (n_body - 3) // 2  # body: first conv, act, num_conv x (conv, act), last conv
    if n_body < 3 or n_body != 2 * old + 3 or "body.0.weight" not in state:
        raise RestorationError("deepen_g: the weights are not an SRVGGNetCompact's (body.N keys)")
    if num_conv < old:
        raise RestorationError(f"deepen_g: network_g has {num_conv} convs, fewer than the weights' {old}")
    num_feat = state["body.0.weight"].shape[0]
    out: dict[str, torch.Tensor] = {k: v for k, v in state.items() if k.startswith(("body.0.", "body.1."))}
    first = {}  # parent conv -> the first new conv placed at its share of the depth
    for i in range(num_conv if old else 0):
        first.setdefault(i * old // num_conv, i)
    taken = {new: p for p, new in first.items()}  # new conv -> parent conv; the others are identities
    for i in range(num_conv):
        conv, act = 2 + 2 * i, 3 + 2 * i
        if i in taken:
            p = taken[i]
            for suffix, value in state.items():
                for src, dst in ((2 + 2 * p, conv), (3 + 2 * p, act)):
                    if suffix.startswith(f"body.{src}."):
                        out[f"body.{dst}." + suffix.split(".", 2)[2]] = value
        else:
            out[f"body.{conv}.weight"], out[f"body.{conv}.bias"] = identity_conv(num_feat, state["body.0.weight"])
            if act_type == "prelu":
                out[f"body.{act}.weight"] = torch.ones(num_feat, dtype=state["body.0.weight"].dtype)
    last = 2 + 2 * old
    for suffix in ("weight", "bias"):
        out[f"body.{2 + 2 * num_conv}.{suffix}"] = state[f"body.{last}.{suffix}"]
    return out
