import subprocess
import sys

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
    out = _run("import sys, restoration; print(sorted(m for m in ('torch','basicsr','gradio','lpips') if m in sys.modules))")
    assert out.strip() == "[]"
    assert restoration.__version__
