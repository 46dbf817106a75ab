"""Fixtures shared by the competition tests."""
import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread(request):
    """Competition tests run tiny tensors: one thread avoids oversubscription on a shared machine.

    Only for those tests: the balancing DDP test compares against spawned processes that keep torch's default.
    """
    if not request.module.__name__.split(".")[-1].startswith("test_competition"):
        yield
        return
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
