"""Robustness suite: hostile-but-realistic inputs on the CLI, the Python API and the demo, one table of cases.

Contract for test modules of this folder (``test_*.py``):

- list the cases in a module-level ``CASES: list[Case]`` (``robust_cases.Case``: id, surface, problem, outcome)
  and parametrize the tests with ``@pytest.mark.parametrize("case", params(CASES))``;
- the module docstring's first line is the section title in ``docs/RELIABILITY.md``.

This conftest records the result of every case. With ``RESTORATION_RELIABILITY_DOC=PATH`` set (``make
reliability-doc``) the session writes the table of all cases and their results to PATH;
``test_reliability_doc.py`` checks that the committed ``docs/RELIABILITY.md`` lists exactly the cases defined.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
from robust_cases import CliResult, case_table, render_doc

import restoration  # noqa: F401  (compat hook before basicsr)

HERE = Path(__file__).resolve().parent
ENV_DOC = "RESTORATION_RELIABILITY_DOC"
_RESULTS: dict[str, str] = {}  # case id -> passed | skipped | FAILED
_NODES: dict[str, str] = {}  # test node id -> case id


def pytest_collection_modifyitems(session, config, items) -> None:
    for item in items:
        case = getattr(getattr(item, "callspec", None), "params", {}).get("case")
        if Path(item.path).parent == HERE and case is not None and hasattr(case, "id"):
            _NODES[item.nodeid] = case.id


def pytest_runtest_logreport(report) -> None:
    cid = _NODES.get(report.nodeid)
    if cid is None:
        return
    if report.when == "call" or (report.when == "setup" and not report.passed):
        state = "passed" if report.passed else ("skipped" if report.skipped else "FAILED")
        if _RESULTS.get(cid) != "FAILED":
            _RESULTS[cid] = state


def pytest_sessionfinish(session, exitstatus) -> None:
    target = os.environ.get(ENV_DOC)
    if not target:
        return
    Path(target).write_text(render_doc(case_table(), _RESULTS), encoding="utf-8")
    print(f"\nwrote {target}", file=sys.stderr)


# ----------------------------------------------------------------------------------------------- fixtures
@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread):
    yield


def _tiny_compact(seed: int, scale: int = 2):
    import torch
    from basicsr.archs.srvgg_arch import SRVGGNetCompact

    torch.manual_seed(seed)
    return SRVGGNetCompact(num_feat=4, num_conv=1, upscale=scale)


@pytest.fixture(scope="session")
def zoo(tmp_path_factory) -> Path:
    """A models folder: 'tiny' (x2, default) and a denoise pair 'tiny-general-x4v3' / 'tiny-general-wdn-x4v3'."""
    from restoration.inference.files import save_model, sha256_file

    root = tmp_path_factory.mktemp("robust-zoo")
    models = {}
    for name, seed, scale in (("tiny", 0, 2), ("tiny-general-x4v3", 1, 4), ("tiny-general-wdn-x4v3", 2, 4)):
        kwargs = dict(num_feat=4, num_conv=1, upscale=scale)
        path = save_model(_tiny_compact(seed, scale), root / f"{name}.safetensors", arch="SRVGGNetCompact",
                          arch_kwargs=kwargs, scale=scale, name=name)
        models[name] = {"file": path.name, "sha256": sha256_file(path), "arch": "SRVGGNetCompact", "scale": scale,
                        "description": "random weights for tests", "trained_on": "nothing", "metrics": {}}
    (root / "manifest.json").write_text(json.dumps({"schema": 1, "default": "tiny", "models": models}))
    return root


@pytest.fixture()
def env(zoo, monkeypatch, tmp_path_factory) -> Path:
    """The robustness zoo as the models folder; no user-imported models; default limits."""
    monkeypatch.setenv("RESTORATION_MODELS_DIR", str(zoo))
    monkeypatch.setenv("RESTORATION_USER_MODELS_DIR", str(tmp_path_factory.mktemp("no-user-models")))
    for var in ("RESTORATION_MAX_PIXELS", "RESTORATION_MAX_OUTPUT_PIXELS", "RESTORATION_DEBUG"):
        monkeypatch.delenv(var, raising=False)
    return zoo


@pytest.fixture()
def cli(capsys):
    """Run ``restoration ARGV`` in process; returns a CliResult (exit status, stdout, stderr)."""
    from restoration.cli import main

    def run(*argv: str) -> CliResult:
        capsys.readouterr()
        streams = (sys.stdout, sys.stderr)
        try:
            rc = main([str(a) for a in argv])
        except SystemExit as exc:  # argparse errors
            rc = exc.code if isinstance(exc.code, int) else 1
        finally:
            _forget_log_streams(streams)
        cap = capsys.readouterr()
        return CliResult(int(rc), cap.out, cap.err)

    return run


def _forget_log_streams(streams) -> None:
    """As if each run were its own process: drop log handlers bound to this run's (captured) stdout/stderr, which
    close with the test, and let BasicSR set its logger up again on the next run."""
    import logging

    loggers = [logging.getLogger()] + [lg for lg in logging.Logger.manager.loggerDict.values()
                                       if isinstance(lg, logging.Logger)]
    for lg in loggers:
        for h in list(lg.handlers):
            if type(h) is logging.StreamHandler and getattr(h, "stream", None) in streams:
                lg.removeHandler(h)
    basicsr_logger = sys.modules.get("basicsr.utils.logger")
    if basicsr_logger is not None and basicsr_logger.initialized_logger.pop("basicsr", None):
        lg = logging.getLogger("basicsr")  # back to an untouched logger (no log file, propagating, no level)
        for h in list(lg.handlers):
            lg.removeHandler(h)
            if isinstance(h, logging.FileHandler):
                h.close()
        lg.propagate = True
        lg.setLevel(logging.NOTSET)


@pytest.fixture()
def ctx(tmp_path, cli, env, monkeypatch, caplog):
    """What a case's ``run(t)`` gets: t.tmp, t.cli, t.zoo (RESTORATION_MODELS_DIR set), t.mp, t.caplog."""
    from types import SimpleNamespace

    monkeypatch.chdir(tmp_path)
    return SimpleNamespace(tmp=tmp_path, cli=cli, zoo=env, mp=monkeypatch, caplog=caplog)
