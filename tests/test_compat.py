import subprocess
import sys
from pathlib import Path

import pytest

import restoration
from restoration import _compat


def _run(code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout


def test_torchvision_imports_after_restoration():
    out = _run("import restoration, torchvision, basicsr, lpips, kornia; import torchvision.models as m; print('ok')")
    assert out.strip().endswith("ok")


def test_fix_is_applied_only_when_compiled_ops_do_not_load():
    code = (
        "import restoration, torchvision\n"
        "from restoration import _compat\n"
        "print(_compat._state['applied'], _compat._compiled_ops_load())\n"
    )
    applied, ops_load = _run(code).split()
    # exactly one of them: either torchvision's own ops load, or the fix stepped in
    assert applied != ops_load


def test_fallback_nms_matches_greedy_definition():
    import torch

    boxes = torch.tensor([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30], [0, 0, 9, 9.0]])
    scores = torch.tensor([0.9, 0.8, 0.7, 0.95])
    keep = _compat._nms(boxes, scores, 0.5)
    # box 3 (best score) suppresses box 0 (IoU 81/100) and box 1 (IoU 64/117); box 2 is disjoint
    assert keep.tolist() == [3, 2]


def test_apply_is_a_noop_when_ops_load(monkeypatch):
    monkeypatch.setitem(_compat._state, "applied", None)
    monkeypatch.setitem(_compat._state, "library", None)
    monkeypatch.setattr(_compat, "_compiled_ops_load", lambda: True)
    monkeypatch.delitem(sys.modules, "torchvision", raising=False)
    assert _compat.apply() is False
    assert _compat._state["library"] is None


def test_import_restoration_is_light():
    out = _run("import sys, restoration; "
               "print(sorted(m for m in ('torch','basicsr','gradio','lpips') if m in sys.modules))")
    assert out.strip() == "[]"
    assert restoration.__version__


@pytest.mark.parametrize("imports", ["torchvision, basicsr", "basicsr", "restoration, torchvision",
                                     "restoration; import importlib.util; importlib.util.find_spec('torchvision'); "
                                     "import torchvision, lpips"])
def test_start_up_line_fixes_torchvision_in_any_import_order(tmp_path, imports):
    """The .pth line alone (no other start-up file: -S) makes the imports work, whatever comes first."""
    import sysconfig

    root = Path(__file__).resolve().parents[1]
    code = ("import sys; sys.path.append({sp!r})\n{line}"
            "import {imports}\nimport torchvision.models\nprint('restoration._compat' in sys.modules)\n")
    line = _compat.pth_line()
    assert line.startswith("import ") and line.count("\n") == 1  # site executes one 'import' line
    sp = sysconfig.get_paths()["purelib"]
    out = subprocess.run([sys.executable, "-S", "-c", code.format(sp=sp, line=line, imports=imports)], cwd=root,
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split()[-1] == "True"


def test_without_the_line_torchvision_first_fails_only_where_ops_do_not_load(tmp_path):
    import sysconfig

    sp = sysconfig.get_paths()["purelib"]
    bare = subprocess.run([sys.executable, "-S", "-c", f"import sys; sys.path.append({sp!r}); import torchvision"],
                          cwd=tmp_path, capture_output=True, text=True)
    ops_load = _run("import restoration; from restoration import _compat; print(_compat._compiled_ops_load())")
    assert (bare.returncode == 0) == (ops_load.strip() == "True")  # the line is what fixed it


def test_start_up_line_imports_nothing_until_torchvision():
    code = f"{_compat.pth_line()}import sys; print(sorted(m for m in ('torch', 'restoration') if m in sys.modules))"
    assert subprocess.run([sys.executable, "-S", "-c", code], capture_output=True, text=True,
                          check=True).stdout.strip() == "[]"


def test_installed_venv_imports_torchvision_and_basicsr_first(tmp_path):
    """`make setup` installs the start-up file: any Python of the venv imports torchvision/basicsr directly."""
    import sysconfig

    installed = Path(sysconfig.get_paths()["purelib"]) / _compat.PTH_NAME
    assert installed.is_file(), f"{installed} missing: run `make setup`"
    assert installed.read_text() == _compat.pth_line(), "stale start-up file: run `make setup`"
    out = subprocess.run([sys.executable, "-c", "import torchvision, basicsr; print('ok')"], cwd=tmp_path,
                         capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]


def test_install_pth_writes_the_line(tmp_path):
    path = _compat.install_pth(tmp_path)
    assert path == tmp_path / _compat.PTH_NAME and path.read_text() == _compat.pth_line()
    assert sorted(p.name for p in tmp_path.iterdir()) == [_compat.PTH_NAME]
