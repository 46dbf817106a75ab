"""Thread choice: explicit counts and OMP_NUM_THREADS win; auto shares the cores among ranks and data workers."""
import pytest
import torch

from restoration import threads


def test_explicit_and_env_win(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert threads.choose_threads(5)[0] == 5
    assert threads.choose_threads("auto") == (3, "OMP_NUM_THREADS=3")
    with pytest.raises(ValueError):
        threads.choose_threads(0)


def test_auto_divides_cores(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(threads, "available_cores", lambda: 8)
    assert threads.choose_threads("auto")[0] == 8
    assert threads.choose_threads("auto", local_ranks=2)[0] == 4
    assert threads.choose_threads("auto", local_ranks=2, workers=1)[0] == 3
    assert threads.choose_threads("auto", workers=20)[0] == 1


def test_torch_threads_restores():
    before = torch.get_num_threads()
    with threads.torch_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
