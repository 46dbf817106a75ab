"""The frozen part of a network computed once: the probe's cut for ``tune_last`` on a fixed pool of pairs.

A probe that fine-tunes only the last layers still pays a whole forward pass at every step, which costs about as
much as the steps save (at a converged Compact base, a ``tune_last`` recipe was only 1.7x cheaper). When the pairs
a task trains on are fixed (``pool``), everything that does not depend on a tuned parameter is the same at every
step: :func:`split_frozen` traces the network (torch.fx) and cuts it there, :class:`CachedTail` computes the
frozen values of a set of pairs once and runs only the tuned tail at each step. The split is exact: prefix then
tail gives the network's output to the last bit on the same device.
"""
from __future__ import annotations

import torch
from torch import Tensor, fx


def _tuned_node(node: fx.Node, tuned: set[str], marked: set[fx.Node]) -> bool:
    """Whether ``node`` reads a tuned parameter, directly or through an input."""
    if any(a in marked for a in node.all_input_nodes):
        return True
    if node.op == "get_attr":
        return str(node.target) in tuned
    if node.op == "call_module":
        prefix = str(node.target) + "."
        return any(n.startswith(prefix) for n in tuned)
    return False


def split_frozen(net: torch.nn.Module, tuned: set[str]) -> tuple[fx.GraphModule, fx.GraphModule]:
    """``(prefix, tail)``: ``prefix(x)`` returns the tuple of frozen values the tuned part reads, and
    ``tail(*values)`` the network's output. Both share ``net``'s modules (the tail trains its parameters)."""
    gm = fx.symbolic_trace(net)
    marked: set[fx.Node] = set()
    nodes = list(gm.graph.nodes)
    for node in nodes:
        if node.op not in ("placeholder", "output") and _tuned_node(node, tuned, marked):
            marked.add(node)
    if not marked:
        raise ValueError("split_frozen: no operation depends on a tuned parameter")
    output = nodes[-1]
    boundary = [n for n in nodes if n not in marked and n.op != "output"
                and any(u in marked or u is output for u in n.users)]
    prefix_graph, env = fx.Graph(), {}
    for node in nodes:
        if node not in marked and node.op != "output":
            env[node] = prefix_graph.node_copy(node, lambda n: env[n])
    prefix_graph.output(tuple(env[n] for n in boundary))
    tail_graph, tenv = fx.Graph(), {}
    for i, node in enumerate(boundary):
        tenv[node] = tail_graph.placeholder(f"frozen_{i}")
    for node in nodes:
        if node in marked or node.op == "output":
            tenv[node] = tail_graph.node_copy(node, lambda n: tenv[n])
    return fx.GraphModule(gm, prefix_graph), fx.GraphModule(gm, tail_graph)


class CachedTail(torch.nn.Module):
    """The tuned tail of a network over pairs whose frozen values are computed once (:meth:`add`). Its input is a
    tensor of indices into those pairs (a :class:`~restoration.training.Batch` whose ``lq`` holds the indices), so a
    :class:`~restoration.training.TrainStep` trains it like any network."""

    def __init__(self, net: torch.nn.Module, tuned: set[str]) -> None:
        super().__init__()
        self.prefix, self.tail = split_frozen(net, tuned)
        self.cache: list[Tensor] = []

    @torch.no_grad()
    def add(self, lq: Tensor) -> Tensor:
        """Compute the frozen values of ``lq`` and return the indices that stand for its pairs."""
        values = self.prefix(lq)
        start = self.cache[0].shape[0] if self.cache else 0
        self.cache = list(values) if not self.cache else [torch.cat([c, v]) for c, v in zip(self.cache, values)]
        return torch.arange(start, start + lq.shape[0], device=lq.device)

    def forward(self, idx: Tensor) -> Tensor:
        return self.tail(*[c[idx] for c in self.cache])
