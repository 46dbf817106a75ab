"""Fixtures shared by the competition tests."""
import pytest


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread):
    """Competition tests run tiny tensors on one thread (see ``one_torch_thread``). The balancing tests do not: their
    DDP test compares against spawned processes that keep torch's default."""
    yield
