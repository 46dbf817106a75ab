"""Fixtures shared by the competition tests."""
import pytest


@pytest.fixture(autouse=True)
def _one_thread(request):
    """Competition tests run tiny tensors on one thread (see ``one_torch_thread``). Not the balancing tests: their
    DDP test compares against spawned processes that keep torch's default."""
    if request.module.__name__.split(".")[-1].startswith("test_competition"):
        request.getfixturevalue("one_torch_thread")
    yield
