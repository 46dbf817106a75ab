"""A controlled loss for checking balancer updates against their formulas by hand."""
from __future__ import annotations

import torch

from restoration.balancers.registry import reduce_losses


def controlled(balancer, values: list[float], keys: list[int], K: int):
    """theta = 1 (per key), sample loss = theta[key] * v: L_k = mean v over key k, dL_k/dtheta_k = L_k."""
    theta = torch.nn.Parameter(torch.ones(K, dtype=torch.float64))
    k = torch.tensor(keys)
    per = theta[k] * torch.tensor(values, dtype=torch.float64)
    sums, counts = reduce_losses(per, k, K)
    info = balancer.backward(sums, counts, [theta])
    return info, theta.grad
