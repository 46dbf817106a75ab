"""Step A job options: the fast recipe is derived from the faithful one unless the option file says otherwise."""
from __future__ import annotations

import pytest

import restoration  # noqa: F401

pytest.importorskip("torch")

from restoration.errors import OptionError  # noqa: E402
from restoration.mtl.probe_run import probe_config  # noqa: E402


def test_fast_recipe_takes_a_fifth_of_the_steps_at_the_faithful_lr():
    opt = {"probe": {"iters": 100, "window": 10, "lr": 3e-4, "eval_batch": 48, "measure": "holdout"}}
    faithful, fast = probe_config(opt, fast=False), probe_config(opt, fast=True)
    assert (faithful.iters, faithful.window) == (100, 10)
    assert (fast.iters, fast.window, fast.lr, fast.eval_batch) == (20, 1, 3e-4, 48)
    assert fast.cost() * 5 < faithful.cost()


def test_fast_block_overrides_and_is_checked():
    opt = {"probe": {"iters": 12, "window": 3}, "fast": {"iters": 8, "tune_last": 2}}
    fast = probe_config(opt, fast=True)
    assert (fast.iters, fast.window, fast.tune_last) == (8, 1, 2)
    assert probe_config({"probe": {"iters": 3, "window": 1}}, fast=True).iters == 1
    with pytest.raises(OptionError, match="fast: unknown key"):
        probe_config({"probe": {}, "fast": {"tune_lats": 2}}, fast=True)
