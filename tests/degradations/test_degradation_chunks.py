import pytest
import torch
from torch.nn import functional as F

from restoration.degradations import chunks
from restoration.degradations.chunks import map_rows


@pytest.mark.parametrize("n", [1, 4, 5, 12])
def test_map_rows_gives_what_one_pass_gives(n, monkeypatch):
    """Rows cut into chunks of 4 (the last one shorter) and written into one output: the same values, shape and
    dtype as one pass, for several aligned inputs and for an op that changes the size of each row."""
    monkeypatch.setattr(chunks, "CHUNK", 4)
    g = torch.Generator().manual_seed(n)
    x, y = torch.rand(n, 3, 10, 7, generator=g), torch.rand(n, 1, 10, 7, generator=g)
    fn = lambda a, b: F.interpolate(a * b + 1, scale_factor=0.7, mode="bilinear")  # noqa: E731
    out = map_rows(fn, x, y)
    ref = fn(x, y)
    assert out.shape == ref.shape and out.dtype == ref.dtype
    assert torch.equal(out, ref)


def test_map_rows_calls_the_op_once_per_chunk(monkeypatch):
    monkeypatch.setattr(chunks, "CHUNK", 4)
    seen: list[int] = []
    x = torch.arange(10.0).view(10, 1)
    out = map_rows(lambda a: seen.append(a.shape[0]) or a * 2, x)
    assert seen == [4, 4, 2]
    assert torch.equal(out, x * 2)
    seen.clear()
    map_rows(lambda a: seen.append(a.shape[0]) or a, x, rows=3)
    assert seen == [3, 3, 3, 1]
