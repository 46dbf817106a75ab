"""Step B grouping (iterative and one-shot), the grouped task bank, the report, and option-file checks."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

import restoration  # noqa: F401

torch = pytest.importorskip("torch")

from restoration.competition.grouping import bin_by_pis  # noqa: E402
from restoration.competition.options import load_task_options  # noqa: E402
from restoration.degradations import TaskBank  # noqa: E402
from restoration.errors import OptionError, RestorationError  # noqa: E402


def _experiment(tmp_path: Path, group: dict) -> Path:
    from basicsr.archs.srvgg_arch import SRVGGNetCompact

    from restoration.inference import save_model

    torch.manual_seed(0)
    kwargs = dict(num_in_ch=3, num_out_ch=3, num_feat=4, num_conv=2, upscale=4, act_type="prelu")
    save_model(SRVGGNetCompact(**kwargs), tmp_path / "base.safetensors", arch="SRVGGNetCompact", arch_kwargs=kwargs,
               scale=4, name="tiny")
    opt = {
        "name": "tiny", "model": str(tmp_path / "base.safetensors"), "device": "cpu",
        "bank": {"path": str(tmp_path / "bank.json"),
                 "sample": {"num_tasks": 5, "seed": 2, "space": {"kernel_range": [7, 9]}}},
        "output": str(tmp_path / "exp"), "gt": {"val_count": 2},
        "probe": {"iters": 3, "window": 2, "batch_size": 2, "patch_size": 16, "degrade_size": 40, "lr": 1e-3},
        "select": {"ratio": 0.6},
        "group": {"iters": 3, "batch_size": 2, "patch_size": 16, "degrade_size": 40, "val_size": 48,
                  "val_per_image": 1, "lr": 1e-3, **group},
    }
    path = tmp_path / "tiny.yml"
    path.write_text(yaml.safe_dump(opt))
    return path


def test_bin_by_pis_uses_half_open_bins():
    pis = {0: 0.9, 1: 0.8, 2: 0.5, 3: 0.1, 4: 0.61}
    assert bin_by_pis(pis, [0.8, 0.6, 0.4, 0.2]) == [[0], [1, 4], [2], []]


def test_iterative_grouping_writes_bank_and_report(tmp_path):
    from restoration.competition.grouping_run import run_group_job
    from restoration.competition.probe_run import run_probe_job
    from restoration.competition.report import write_report

    # threshold 1e9: nobody qualifies, no group; -1e9: every remaining task joins the second group
    opt = load_task_options(_experiment(tmp_path, {"mode": "iterative", "thresholds": [1e9, -1e9]}))
    with pytest.raises(RestorationError, match="finish the probe"):
        run_group_job(opt)
    probe = run_probe_job(opt)["summary"]
    res = run_group_job(opt)
    unsat = probe["unsatisfactory"]
    assert len(unsat) == 3
    bank = TaskBank.load(res["bank"])
    assert bank.groups == {"G2": unsat}
    comp = bank.meta["competition"]
    assert comp["probe"]["unsatisfactory"] == unsat and len(comp["probe"]["indicator"]) == 5
    assert [r["group"] for r in comp["group"]["rounds"]] == [None, "G2"]
    pis = dict((i, v) for i, v in comp["group"]["pis"])
    assert sorted(pis) == unsat and all(abs(v) < 20 for v in pis.values())
    assert len({round(v, 9) for v in pis.values()}) > 1   # real, task-dependent PSNR gains
    with pytest.raises(RestorationError, match="--overwrite"):
        run_group_job(opt)

    paths = write_report(res["bank"], tmp_path / "report")
    assert paths["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    summary = json.loads(paths["json"].read_text())
    assert summary["unsatisfactory"] == 3 and summary["groups"]["G2"]["size"] == 3
    assert summary["groups"]["ungrouped"]["size"] == 0
    assert "| G2 | 3 |" in paths["md"].read_text()
    with pytest.raises(RestorationError, match="--overwrite"):
        write_report(res["bank"], tmp_path / "report")


def test_one_shot_grouping_bins_by_pis(tmp_path):
    from restoration.competition.grouping_run import run_group_job
    from restoration.competition.probe_run import run_probe_job

    opt = load_task_options(_experiment(tmp_path, {"mode": "one_shot", "thresholds": [0.0, -1e9]}))
    run_probe_job(opt)
    bank = TaskBank.load(run_group_job(opt)["bank"])
    pis = {i: v for i, v in bank.meta["competition"]["group"]["pis"]}
    expected = bin_by_pis(pis, [0.0, -1e9])
    assert bank.groups == {f"G{k + 1}": m for k, m in enumerate(expected) if m}
    assert sum(len(m) for m in bank.groups.values()) == 3


def test_report_refuses_a_bank_without_results(tmp_path):
    from restoration.competition.report import write_report

    path = TaskBank.sample(3, seed=0).save(tmp_path / "plain.json")
    with pytest.raises(RestorationError, match="tasks group"):
        write_report(path, tmp_path / "out")


def test_option_errors_name_the_key(tmp_path):
    path = _experiment(tmp_path, {"mode": "iterative"})
    opt = yaml.safe_load(path.read_text())
    bad = [({"group": {**opt["group"], "mode": "pairs"}}, "group.mode"),
           ({"group": {**opt["group"], "thresholds": [0.2, 0.8]}}, "group.thresholds"),
           ({"select": {"ratio": 1.5}}, "select.ratio"),
           ({"gt": {"folders": "x"}}, r"gt\.folders: unknown key"),
           ({"probes": {}}, "unknown key")]
    for change, msg in bad:
        p = tmp_path / "bad.yml"
        p.write_text(yaml.safe_dump({**opt, **change}))
        with pytest.raises(OptionError, match=msg):
            load_task_options(p)
    for name in ("probe_cpu_tiny.yml", "group_cpu_tiny.yml", "probe_rrdb_paper.yml", "group_rrdb_paper.yml"):
        shipped = yaml.safe_load((Path(__file__).parents[2] / "options" / "tasks" / name).read_text())
        shipped["bank"] = {"path": str(tmp_path / "b.json"), "sample": {"num_tasks": 2}}  # paths of a real run
        p = tmp_path / name
        p.write_text(yaml.safe_dump(shipped))
        loaded = load_task_options(p)
        assert loaded["select"]["ratio"] == 0.4
