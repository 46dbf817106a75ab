"""A job's torch threads: the cores it may use, fewer when other jobs already keep them busy; explicit counts win."""
from __future__ import annotations

import pytest

from restoration import job_threads as jt


@pytest.fixture()
def cores(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(jt, "available_cores", lambda: 4)
    monkeypatch.setattr("restoration.threads.available_cores", lambda: 4)

    def set_load(load: float) -> None:
        monkeypatch.setattr(jt.os, "getloadavg", lambda: (load, load, load))

    return set_load


@pytest.mark.parametrize("load, expected", [(0.1, 4), (1.9, 2), (3.5, 1), (9.0, 1)])
def test_auto_keeps_only_idle_cores(cores, load, expected):
    cores(load)
    n, why = jt.job_threads("auto")
    assert n == expected
    assert ("busy machine" in why) == (expected < 4)


def test_explicit_counts_are_kept_on_a_busy_machine(cores, monkeypatch):
    cores(9.0)
    assert jt.job_threads(3)[0] == 3
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    assert jt.job_threads("auto") == (2, "OMP_NUM_THREADS=2")


def test_local_ranks_share_the_idle_cores(cores):
    cores(2.0)  # 2 idle cores for 2 ranks: choose_threads gives each 2, the idle share is 1
    assert jt.job_threads("auto", local_ranks=2)[0] == 1


def test_no_load_average_leaves_the_choice(cores, monkeypatch):
    def none():
        raise OSError("no load average here")

    monkeypatch.setattr(jt.os, "getloadavg", none)
    assert jt.job_threads("auto")[0] == 4
