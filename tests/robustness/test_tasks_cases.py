"""Task banks and the degradation commands: hand-edited values, unwritable outputs, unsafe YAML."""
from __future__ import annotations

import errno
import json
import math

import pytest
from robust_cases import Case, fail_creates, fail_writes, leftovers, params, snapshot, write_png

from restoration.errors import RestorationError


def _bank(t, edit=None, keep_id=False):
    """A 3-task bank file; ``edit(task_dict)`` changes task 0 (its id is removed unless keep_id)."""
    from restoration.degradations import TaskBank

    d = TaskBank.sample(3, seed=0).to_dict()
    if edit is not None:
        edit(d["tasks"][0])
        if not keep_id:
            d["tasks"][0].pop("id")
    path = t.tmp / "bank.json"
    path.write_text(json.dumps(d))  # json writes NaN/Infinity literals, as a hand edit could
    return path


def _degrade(t, bank):
    hr = t.tmp / "hr.png"
    if not hr.exists():
        write_png(hr, (64, 64, 3))
    return t.cli("tasks", "degrade", "--bank", bank, "--task", "0", "-i", hr, "-o", t.tmp / "lq.png")


def bad_value(edit, *needles):
    def run(t):
        r = _degrade(t, _bank(t, edit))
        r.one_error_line("tasks", "bank.json", "tasks[0]", *needles)
        assert not (t.tmp / "lq.png").exists()
    return run


def _set(path, value):
    def edit(task):
        node = task
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
    return edit


def id_mismatch(t):
    line = _degrade(t, _bank(t, _set(("jpeg1",), 50.0), keep_id=True)).one_error_line(
        "tasks", "does not match its parameters")
    assert "remove the id field" in line


def api_task_nan(t):
    from restoration.degradations import DegradationTask, TaskBank

    d = TaskBank.sample(1, seed=0)[0].to_dict()
    d["noise1"]["level"] = math.nan
    with pytest.raises(RestorationError, match=r"noise1.level: must be a finite number"):
        DegradationTask.from_dict(d)


def api_task_kernel_nan(t):
    import dataclasses

    from restoration.degradations import TaskBank

    task = TaskBank.sample(1, seed=0)[0]
    blur = task.blur1
    bad = dataclasses.replace(blur, sigma_x=math.nan, sigma_y=math.nan) if blur.kind != "sinc" else \
        dataclasses.replace(blur, omega=math.nan)
    with pytest.raises(RestorationError, match=r"blur1\.(sigma_x|omega)"):
        dataclasses.replace(task, blur1=bad)


def api_resize_huge(t):
    from restoration.degradations.task import Resize

    with pytest.raises(RestorationError, match=r"resize scale must be a number in \[0.01, 4.0\], got 1000000.0"):
        Resize("up", 1e6, "bilinear")


def bank_not_json(t):
    path = t.tmp / "bank.json"
    path.write_text('{"format": "restoration.task_bank", "tasks": [')
    _degrade(t, path).one_error_line("tasks", "not valid JSON")


def bank_missing(t):
    _degrade(t, t.tmp / "nope.json").one_error_line("tasks", "nope.json", "does not exist")


def sample_disk_full(t):
    fail_writes(t.mp)
    t.cli("tasks", "sample", "--num", "5", "--out", t.tmp / "bank.json").one_error_line(
        "tasks", "bank.json", "No space left on device")
    assert list(t.tmp.iterdir()) == []  # no .tmp left behind


def sample_read_only(t):
    fail_creates(t.mp, errno.EROFS)
    t.cli("tasks", "sample", "--num", "5", "--out", t.tmp / "b" / "bank.json").one_error_line(
        "tasks", "Read-only file system")
    assert leftovers(t.tmp) == []


def sample_disk_full_keeps_old(t):
    out = t.tmp / "bank.json"
    out.write_text("old bank")
    fail_writes(t.mp)
    t.cli("tasks", "sample", "--num", "5", "--out", out, "--overwrite").one_error_line("tasks", "No space left")
    assert out.read_text() == "old bank" and leftovers(t.tmp) == []


def degrade_read_only(t):
    bank = _bank(t)
    write_png(t.tmp / "hr.png", (64, 64, 3))
    fail_creates(t.mp, errno.EACCES)
    _degrade(t, bank).one_error_line("tasks", "lq.png", "Permission denied")
    assert not (t.tmp / "lq.png").exists() and leftovers(t.tmp) == []


def show_disk_full(t):
    bank = _bank(t)
    hr = write_png(t.tmp / "hr.png", (64, 64, 3))
    fail_writes(t.mp)
    t.cli("tasks", "show", "--bank", bank, "-i", hr, "--out", t.tmp / "sheet.png", "--num", "2", "--tile", "32") \
        .one_error_line("tasks", "sheet.png", "No space left on device")
    assert not (t.tmp / "sheet.png").exists() and leftovers(t.tmp) == []


def sample_existing(t):
    out = t.tmp / "bank.json"
    out.write_text("keep")
    t.cli("tasks", "sample", "--num", "3", "--out", out).one_error_line("tasks", "already exists", "--overwrite")
    assert out.read_text() == "keep"


def degrade_output_folder(t):
    bank = _bank(t)
    hr = write_png(t.tmp / "hr.png", (64, 64, 3))
    (t.tmp / "lq").mkdir()
    t.cli("tasks", "degrade", "--bank", bank, "--task", "0", "-i", hr, "-o", t.tmp / "lq").one_error_line(
        "tasks", "is a folder")


def degrade_output_gif(t):
    bank = _bank(t)
    hr = write_png(t.tmp / "hr.png", (64, 64, 3))
    t.cli("tasks", "degrade", "--bank", bank, "--task", "0", "-i", hr, "-o", t.tmp / "lq.gif").one_error_line(
        "tasks", "GIF output is not supported")


def space_python_tag(t):
    space = t.tmp / "space.yml"
    space.write_text("noise_range: !!python/object/apply:os.system ['touch pwned']\n")
    before = snapshot(t.tmp)
    t.cli("tasks", "sample", "--num", "3", "--out", t.tmp / "b.json", "--space", space).one_error_line("tasks")
    assert snapshot(t.tmp) == before


def show_crop_tiny(t):
    bank = _bank(t)
    hr = write_png(t.tmp / "hr.png", (64, 64, 3))
    t.cli("tasks", "show", "--bank", bank, "-i", hr, "--out", t.tmp / "s.png", "--crop", "1").one_error_line(
        "tasks", "--crop", "at least 32")


def sample_num_zero(t):
    t.cli("tasks", "sample", "--num", "0", "--out", t.tmp / "b.json").one_error_line("tasks", "--num")
    assert not (t.tmp / "b.json").exists()


def force_alias(t):
    out = t.tmp / "b.json"
    out.write_text("old")
    r = t.cli("tasks", "sample", "--num", "2", "--out", out, "--force")
    assert r.rc == 0 and "--force is deprecated; use --overwrite" in r.err and out.read_text() != "old"


NAN = float("nan")
CASES = [
    Case("bank-nan-sigma", "CLI", "a bank task with blur1.sigma_x NaN and its id removed (as the id message said)",
         "refused at load: one line naming the file, the task and the field", bad_value(
             _set(("blur1", "sigma_x"), NAN), "blur1")),
    Case("bank-resize-1e6", "CLI", "a bank task with resize1.scale 1e6 (id removed)",
         "refused: resize scale must be in [0.01, 4]", bad_value(_set(("resize1", "scale"), 1e6), "resize scale")),
    Case("bank-resize-zero", "CLI", "a bank task with resize2.scale 0", "refused: out of range",
         bad_value(_set(("resize2", "scale"), 0.0), "resize scale")),
    Case("bank-noise-inf", "CLI", "a bank task with noise2.level Infinity", "refused: expected a finite number",
         bad_value(_set(("noise2", "level"), float("inf")), "noise2.level")),
    Case("bank-noise-huge", "CLI", "a bank task with noise1.level 1e9", "refused: noise level in [0, 255]",
         bad_value(_set(("noise1", "level"), 1e9), "noise level")),
    Case("bank-kernel-size-huge", "CLI", "a bank task with a 100001-px blur kernel", "refused: over the maximum of 63",
         bad_value(_set(("blur1", "size"), 100001), "kernel size")),
    Case("bank-jpeg-out-of-range", "CLI", "a bank task with jpeg2 quality 200", "refused: quality in [1, 100]",
         bad_value(_set(("jpeg2",), 200.0), "jpeg2")),
    Case("bank-mode-unknown", "CLI", "a bank task with resize mode 'lanczos9'", "refused, listing the modes",
         bad_value(_set(("resize1", "mode"), "lanczos9"), "area")),
    Case("bank-id-mismatch", "CLI", "a bank task edited but keeping its old id",
         "refused: the id does not match its parameters", id_mismatch),
    Case("api-task-nan", "API", "DegradationTask.from_dict() with a NaN noise level",
         "RestorationError naming the field", api_task_nan),
    Case("api-task-kernel-nan", "API", "a DegradationTask built in Python with a NaN kernel sigma",
         "RestorationError naming the kernel field", api_task_kernel_nan),
    Case("api-resize-huge", "API", "Resize('up', 1e6, ...)", "RestorationError naming the range", api_resize_huge),
    Case("bank-not-json", "CLI", "a truncated bank file", "one line: not valid JSON, with the line", bank_not_json),
    Case("bank-missing", "CLI", "a bank path that does not exist", "one line naming it", bank_missing),
    Case("tasks-sample-disk-full", "CLI", "tasks sample on a full disk",
         "one line naming the file and the reason; no .tmp left (was a traceback and a .tmp file)", sample_disk_full),
    Case("tasks-sample-read-only", "CLI", "tasks sample into a read-only file system", "one line; nothing written",
         sample_read_only),
    Case("tasks-sample-disk-full-keeps-old", "CLI", "tasks sample --overwrite on a full disk",
         "the previous bank is intact", sample_disk_full_keeps_old),
    Case("tasks-degrade-read-only", "CLI", "tasks degrade into a folder without write permission",
         "one line naming the output (was a traceback)", degrade_read_only),
    Case("tasks-show-disk-full", "CLI", "tasks show on a full disk", "one line; no partial sheet", show_disk_full),
    Case("tasks-sample-existing", "CLI", "tasks sample over an existing file", "refused, pointing to --overwrite",
         sample_existing),
    Case("tasks-degrade-output-folder", "CLI", "tasks degrade -o an existing folder", "refused before any work",
         degrade_output_folder),
    Case("tasks-degrade-output-gif", "CLI", "tasks degrade -o lq.gif", "refused before any work",
         degrade_output_gif),
    Case("tasks-space-python-tag", "CLI", "tasks sample --space with a !!python tag",
         "refused by the safe YAML loader; nothing written, the tag never runs", space_python_tag),
    Case("tasks-show-crop-tiny", "CLI", "tasks show --crop 1", "refused: --crop must be 0 or at least 32 px",
         show_crop_tiny),
    Case("tasks-sample-num-zero", "CLI", "tasks sample --num 0", "refused", sample_num_zero),
    Case("tasks-force-alias", "CLI", "tasks sample --force (the old flag)",
         "still replaces the file, with a deprecation warning pointing to --overwrite", force_alias),
]


@pytest.mark.parametrize("case", params(CASES))
def test_case(case, ctx):
    case.run(ctx)
