"""Held: unsafe files for training that were already refused (pickles as pretrained weights or training state,
Python tags in option files), kept as cases so they stay refused.

``restoration train`` runs as a subprocess here: BasicSR binds its logger to the first stderr it sees, so
in-process runs would leave a handler on a closed capture stream for the tests that follow.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import cv2
import pytest
import yaml
from robust_cases import Case, CliResult, evil_pickle, params, snapshot


def train(work: Path, *args: str) -> CliResult:
    proc = subprocess.run([sys.executable, "-m", "restoration", "train", *args], cwd=work, capture_output=True,
                          text=True, timeout=600, env={**os.environ, "OMP_NUM_THREADS": "1"})
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture()
def work(tmp_path, photos, monkeypatch) -> Path:
    """The current folder: gt/ with 3 photo crops and opt.yml, a 4-iteration CPU run (test_training_cases.tiny)."""
    from test_training_cases import tiny

    gt = tmp_path / "gt"
    gt.mkdir()
    for name, img in list(photos.items())[:3]:
        h, w = img.shape[:2]
        cv2.imwrite(str(gt / f"{name}.png"), img[h // 2 - 24:h // 2 + 24, w // 2 - 24:w // 2 + 24, ::-1])
    (tmp_path / "opt.yml").write_text(yaml.safe_dump(tiny(gt)))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def pretrain_pickle(work):
    evil = evil_pickle(work / "evil.pth")
    opt = yaml.safe_load((work / "opt.yml").read_text())
    opt["path"] = {"pretrain_network_g": str(evil), "strict_load_g": True}
    (work / "opt.yml").write_text(yaml.safe_dump(opt))
    r = train(work, "-opt", "opt.yml")
    assert r.rc != 0 and "Traceback" not in r.err, r.err
    assert "evil.pth" in r.err and ("refused" in r.err or "weights_only" in r.err or "not a readable" in r.err), r.err
    assert not list(work.glob("experiments/*/models/*.pth"))


def resume_pickle(work):
    assert train(work, "-opt", "opt.yml", "--force_yml", "train:total_iter=2").rc == 0
    states = work / "experiments" / "t" / "training_states"
    latest = max(states.glob("*.state"), key=lambda p: int(p.stem))
    evil_pickle(latest)
    r = train(work, "-opt", "opt.yml", "--auto_resume")
    assert r.rc != 0 and "Traceback" not in r.err, r.err
    assert latest.name in r.err, r.err


def option_python_tag(work):
    payload = "pwn: !!python/object/apply:os.system ['touch pwned']\n"
    (work / "opt.yml").write_text((work / "opt.yml").read_text() + payload)
    before = snapshot(work)
    r = train(work, "-opt", "opt.yml")
    assert r.rc != 0 and "Traceback" not in r.err and "opt.yml" in r.err, r.err
    assert snapshot(work) == before and not (work / "pwned").exists()


CASES = [
    Case("train-pretrain-pickle", "CLI", "path.pretrain_network_g naming a .pth whose pickle calls a function",
         "refused (weights only): one error line naming the file; nothing trained", pretrain_pickle),
    Case("train-resume-pickle", "CLI", "--auto_resume with a training state whose pickle calls a function",
         "refused: one error line naming the state file", resume_pickle),
    Case("train-option-python-tag", "CLI", "an option file holding a !!python/object/apply tag",
         "refused by the safe YAML loader; nothing created, the tag never runs", option_python_tag),
]


@pytest.mark.slow  # about 15 s a case: a fresh interpreter and a short training run
@pytest.mark.parametrize("case", params(CASES))
def test_case(case, work):
    case.run(work)
