"""`restoration tasks sample | degrade | show`: files, byte-identical replays, contact sheet, one-line errors."""
from __future__ import annotations

import json
import subprocess
import sys

import cv2
import numpy as np
import pytest

from restoration.cli import main
from restoration.degradations import TaskBank


@pytest.fixture(scope="module")
def work(tmp_path_factory, photos):
    root = tmp_path_factory.mktemp("tasks_cli")
    img = next(iter(photos.values()))[:96, :128]
    hr = root / "hr.png"
    cv2.imwrite(str(hr), np.ascontiguousarray(img[:, :, ::-1]))
    bank = root / "bank.json"
    assert main(["tasks", "sample", "--num", "40", "--seed", "0", "--out", str(bank)]) == 0
    return root, hr, bank


def test_sample_writes_a_reproducible_bank(work, tmp_path):
    _, _, bank = work
    loaded = TaskBank.load(bank)
    assert len(loaded) == 40 and loaded.tasks == TaskBank.sample(40, seed=0).tasks
    again = tmp_path / "again.json"
    assert main(["tasks", "sample", "--num", "40", "--seed", "0", "--out", str(again)]) == 0
    assert again.read_bytes() == bank.read_bytes()


def test_degrade_twice_same_seed_gives_identical_png(work, tmp_path, capsys):
    _, hr, bank = work
    a, b, c, d = (tmp_path / f"{n}.png" for n in "abcd")
    tid = TaskBank.load(bank)[3].task_id
    assert main(["tasks", "degrade", "--bank", str(bank), "--task", "3", "-i", str(hr), "-o", str(a)]) == 0
    assert f"[{tid[:8]}]" in capsys.readouterr().out
    # second run in a fresh interpreter, and addressing the task by id
    subprocess.run([sys.executable, "-m", "restoration", "tasks", "degrade", "--bank", str(bank), "--task", tid,
                    "-i", str(hr), "-o", str(b)], check=True, capture_output=True)
    assert a.read_bytes() == b.read_bytes()
    lq = cv2.imread(str(a))
    assert lq.shape == (24, 32, 3)
    assert main(["tasks", "degrade", "--bank", str(bank), "--task", "4", "-i", str(hr), "-o", str(c)]) == 0
    assert main(["tasks", "degrade", "--bank", str(bank), "--task", "3", "-i", str(hr), "-o", str(d),
                 "--seed", "1"]) == 0
    assert c.read_bytes() != a.read_bytes()  # another task
    assert d.read_bytes() != a.read_bytes()  # another noise realisation


def test_show_writes_a_labelled_sheet(work, tmp_path):
    _, hr, bank = work
    sheet = tmp_path / "sheet.png"
    assert main(["tasks", "show", "--bank", str(bank), "-i", str(hr), "--out", str(sheet), "--num", "8",
                 "--tile", "64"]) == 0
    img = cv2.imread(str(sheet))
    assert img.shape == (3 * 64 + 4 * 4, 3 * 64 + 4 * 4, 3)  # GT + 8 tasks on a 3x3 grid
    label_strip = img[4:4 + 18, 4 + 64 + 4:4 + 2 * 64 + 4]
    assert (label_strip > 200).any() and (label_strip < 30).any()  # white text on the black label band
    grouped = TaskBank.load(bank).with_groups({"G1": [5, 9]})
    gpath = tmp_path / "grouped.json"
    grouped.save(gpath)
    assert main(["tasks", "show", "--bank", str(gpath), "-i", str(hr), "--out", str(tmp_path / "g.png"),
                 "--group", "G1", "--tile", "64"]) == 0
    assert cv2.imread(str(tmp_path / "g.png")).shape[1] == 2 * 64 + 3 * 4


def _error(argv, capsys) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "Traceback" not in err
    return err


def test_errors_exit_2_with_one_line(work, tmp_path, capsys):
    root, hr, bank = work
    bad = tmp_path / "bad.json"
    doc = json.loads(bank.read_text())
    doc["version"] = 7
    bad.write_text(json.dumps(doc))
    out = str(tmp_path / "x.png")
    assert "unsupported task bank version 7" in _error(
        ["tasks", "degrade", "--bank", str(bad), "--task", "0", "-i", str(hr), "-o", out], capsys)
    assert "no task with id" in _error(
        ["tasks", "degrade", "--bank", str(bank), "--task", "zzzzzz", "-i", str(hr), "-o", out], capsys)
    assert "already exists" in _error(
        ["tasks", "sample", "--num", "3", "--out", str(bank)], capsys)
    space = tmp_path / "space.yml"
    for text, message in (("noise_range: [30, 1]\n", "noise_range: range is reversed"),
                          ("kernel_list: [iso, box]\nkernel_prob: [0.5, 0.5]\n",
                           "kernel_list[1]: must be one of 'iso', "),
                          ("resize_prob: [0.5, 0.5, 0.5]\n", "probabilities must sum to 1")):
        space.write_text(text)
        assert message in _error(
            ["tasks", "sample", "--num", "3", "--out", str(tmp_path / "b.json"), "--space", str(space)], capsys)
    tiny = tmp_path / "tiny.png"
    cv2.imwrite(str(tiny), np.zeros((8, 8, 3), np.uint8))
    assert "too small" in _error(
        ["tasks", "degrade", "--bank", str(bank), "--task", "0", "-i", str(tiny), "-o", out], capsys)
    assert not (tmp_path / "x.png").exists()


def test_overwrite_is_the_flag_and_force_a_deprecated_alias(work, tmp_path, capsys):
    _, hr, bank = work
    out = tmp_path / "b.json"
    assert main(["tasks", "sample", "--num", "2", "--out", str(out)]) == 0
    assert "pass --overwrite" in _error(["tasks", "sample", "--num", "3", "--out", str(out)], capsys)
    assert main(["tasks", "sample", "--num", "3", "--out", str(out), "--overwrite"]) == 0
    assert len(TaskBank.load(out)) == 3
    capsys.readouterr()
    assert main(["tasks", "sample", "--num", "4", "--out", str(out), "--force"]) == 0
    assert "--force is deprecated; use --overwrite" in capsys.readouterr().err and len(TaskBank.load(out)) == 4
    lq = tmp_path / "lq.png"
    for _ in range(2):
        assert main(["tasks", "degrade", "--bank", str(bank), "--task", "0", "-i", str(hr), "-o", str(lq),
                     "--overwrite"]) == 0
    from restoration.cli import build_parser

    capsys.readouterr()
    with pytest.raises(SystemExit):
        main(["tasks", "sample", "--help"])
    help_text = capsys.readouterr().out
    assert "--overwrite" in help_text and "--force" not in help_text
    sub = build_parser().parse_args(["tasks", "show", "--bank", "b", "-i", "x", "--out", "y", "--force"])
    assert sub.overwrite is True
