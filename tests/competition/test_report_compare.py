"""tasks report --model: bicubic vs each model PSNR-Y per group, a crop grid per group, a warning below bicubic."""
from __future__ import annotations

import json

import pytest

import restoration  # noqa: F401

torch = pytest.importorskip("torch")

SPACE = {"kernel_range": [7, 9], "second_blur_prob": 0.0, "final_sinc_prob": 0.0}


@pytest.fixture()
def grouped_bank(tmp_path):
    from restoration.degradations import TaskBank

    bank = TaskBank.sample(6, seed=0, space=SPACE).with_groups({"G1": [0, 1], "G2": [2]})
    bank.meta["competition"] = {
        "probe": {"indicator": [0.9, 0.91, 0.95, 0.97, 1.0, 1.0], "unsatisfactory": [0, 1, 2, 3], "ratio": 0.6,
                  "recipe": "faithful"},
        "group": {"mode": "iterative", "thresholds": [0.1, 0.0], "iters": 3,
                  "pis": [[0, 0.2], [1, 0.15], [2, 0.05], [3, -0.1]]}}
    return bank.save(tmp_path / "bank_grouped.json")


def _model(path, seed: int):
    from basicsr.archs.srvgg_arch import SRVGGNetCompact

    from restoration.inference import save_model

    torch.manual_seed(seed)
    kwargs = dict(num_in_ch=3, num_out_ch=3, num_feat=4, num_conv=1, upscale=4, act_type="prelu")
    return save_model(SRVGGNetCompact(**kwargs), path, arch="SRVGGNetCompact", arch_kwargs=kwargs, scale=4,
                      name=path.stem)


def test_report_compares_models_with_bicubic_per_group(tmp_path, grouped_bank, capsys, one_torch_thread):
    from restoration.cli import main

    a, b = _model(tmp_path / "a.safetensors", 0), _model(tmp_path / "b.safetensors", 1)
    out = tmp_path / "report"
    argv = ["tasks", "report", "--bank", str(grouped_bank), "--out", str(out), "--model", f"baseline={a}",
            "--model", f"tg={b}", "--val-size", "64", "--tasks-per-group", "2", "--device", "cpu"]
    assert main(argv) == 0
    err = capsys.readouterr().err
    comp = json.loads((out / "report.json").read_text())["comparison"]
    assert list(comp["groups"]) == ["G0", "G1", "G2", "ungrouped"]
    assert comp["methods"] == ["bicubic", "baseline", "tg"]
    for group, row in comp["groups"].items():
        assert row["tasks"] >= 1 and all(isinstance(row[m], float) for m in comp["methods"])
        assert (out / f"crops_{group}.png").stat().st_size > 1000
    md = (out / "report.md").read_text()
    assert "| group | tasks | bicubic | baseline | tg |" in md and "![G1](crops_G1.png)" in md
    # random untrained networks are far below bicubic: one plain warning line per model and group
    warn = [ln for ln in err.splitlines() if ln.startswith("warning: ")]
    assert len(warn) == len(comp["below_bicubic"]) == 8 and "baseline is below bicubic on G0" in warn[0]
    assert main(argv + ["--resume"]) == 0  # up to date: the warnings are repeated, nothing is recomputed
    again = capsys.readouterr()
    assert "up to date" in again.out and again.err.count("warning: ") == 8


def test_report_model_argument_errors(tmp_path, grouped_bank, capsys):
    from restoration.cli import main

    out = str(tmp_path / "r")
    assert main(["tasks", "report", "--bank", str(grouped_bank), "--out", out, "--model", "x=missing.pth"]) == 2
    assert "--model x: model file not found: missing.pth" in capsys.readouterr().err
    assert main(["tasks", "report", "--bank", str(grouped_bank), "--out", out, "--model", "bicubic=a.pth"]) == 2
    assert "taken" in capsys.readouterr().err
