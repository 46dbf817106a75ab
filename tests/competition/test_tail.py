"""The frozen prefix / tuned tail split of a network (the cached probe): exact, and training only the tail."""
from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from basicsr.archs.rrdbnet_arch import RRDBNet  # noqa: E402
from basicsr.archs.srvgg_arch import SRVGGNetCompact  # noqa: E402

from restoration.competition.probe import tuned_names  # noqa: E402
from restoration.competition.tail import CachedTail, split_frozen  # noqa: E402


def _nets():
    torch.manual_seed(0)
    return [SRVGGNetCompact(num_feat=8, num_conv=3, upscale=4).eval(),
            RRDBNet(3, 3, num_feat=8, num_block=1, num_grow_ch=4, scale=4).eval()]


@pytest.mark.parametrize("k", [1, 2, 4])
def test_prefix_then_tail_is_the_network_to_the_bit(k):
    x = torch.rand(2, 3, 12, 12, generator=torch.Generator().manual_seed(1))
    for net in _nets():
        prefix, tail = split_frozen(net, tuned_names(net, k))
        with torch.no_grad():
            assert torch.equal(tail(*prefix(x)), net(x))
        tail_params = {id(p) for p in tail.parameters()}
        assert all(id(p) in tail_params for n, p in net.named_parameters() if n in tuned_names(net, k))


def test_compact_tail_reads_the_body_output_and_the_upsampled_input():
    net = _nets()[0]
    prefix, _ = split_frozen(net, tuned_names(net, 1))
    with torch.no_grad():
        shapes = [tuple(v.shape) for v in prefix(torch.rand(1, 3, 10, 10))]
    assert shapes == [(1, 8, 10, 10), (1, 3, 40, 40)]


def test_cached_tail_indexes_its_pairs_and_trains_only_the_tuned_layers():
    net = _nets()[0]
    tuned = tuned_names(net, 1)
    for n, p in net.named_parameters():
        p.requires_grad_(n in tuned)
    cached = CachedTail(net, tuned)
    a, b = torch.rand(3, 3, 8, 8), torch.rand(2, 3, 8, 8)
    assert cached.add(a).tolist() == [0, 1, 2] and cached.add(b).tolist() == [3, 4]
    out = cached(torch.tensor([4, 0]))
    with torch.no_grad():
        assert torch.equal(out.detach(), net(torch.stack([b[1], a[0]])))
    out.square().mean().backward()
    grads = {n for n, p in net.named_parameters() if p.grad is not None}
    assert grads == tuned


def test_a_network_without_tuned_layers_is_refused():
    with pytest.raises(ValueError, match="no operation depends on a tuned parameter"):
        split_frozen(_nets()[0], set())
