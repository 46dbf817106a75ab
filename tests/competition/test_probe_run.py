"""Step A job options: the fast recipe is derived from the faithful one unless the option file says otherwise."""
from __future__ import annotations

import pytest

import restoration  # noqa: F401

pytest.importorskip("torch")

from restoration.competition.probe_run import probe_config  # noqa: E402
from restoration.errors import OptionError  # noqa: E402


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
    with pytest.raises(OptionError, match=r"fast\.tune_lats: unknown key \(known keys: "):
        probe_config({"probe": {}, "fast": {"tune_lats": 2}}, fast=True)


def test_progress_prints_lines_with_rate_and_eta_when_not_on_a_terminal(monkeypatch):
    """In a log file (not a TTY) the probe/group progress is a readable line per period, not a redrawn bar."""
    import io
    import re

    from restoration.cli._tasks_competition import _bar
    from restoration.progress import Progress

    out = io.StringIO()
    bar = Progress("probe shard 0/1", 10, initial=2, unit="task", stream=out, every=0)
    for _ in range(3):
        bar.update(1)
    bar.close()
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("probe shard 0/1: 2/10 tasks (20%)") and "started" in lines[0]
    assert len(lines) == 5 and "\r" not in out.getvalue()
    assert re.search(r"5/10 tasks \(50%\), [\d.e+-]+ tasks/s, ETA \d+:\d\d:\d\d", lines[-1]), lines[-1]
    quiet = io.StringIO()
    bar = Progress("group", 100, stream=quiet, every=3600)  # between periods: only the first and last lines
    bar.set(50)
    bar.close()
    assert len(quiet.getvalue().splitlines()) == 2
    monkeypatch.setenv("RESTORATION_PROGRESS_EVERY", "7")
    assert _bar("x", 3).every == 7.0 and _bar("x", 3).bar is None  # pytest's stderr is not a terminal


def test_missing_released_model_names_where_to_get_it(tmp_path):
    from restoration.competition.probe_run import load_base

    with pytest.raises(OptionError, match=r"model: .*RealESRNet_x4plus\.pth does not exist: download it from "
                                          r"Real-ESRGAN's releases .*v0\.1\.1.*`restoration models import`"):
        load_base(str(tmp_path / "pretrained/RealESRNet_x4plus.pth"), "cpu")
