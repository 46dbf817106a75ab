"""Rules for the package's own code that keep errors visible: no bare ``except:`` and no swallowed
``except Exception: pass`` anywhere under ``restoration/``."""
from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "restoration"


def _swallows(handler: ast.ExceptHandler) -> bool:
    broad = isinstance(handler.type, ast.Name) and handler.type.id in ("Exception", "BaseException")
    if isinstance(handler.type, ast.Tuple):
        broad = any(isinstance(e, ast.Name) and e.id in ("Exception", "BaseException") for e in handler.type.elts)
    only_pass = all(isinstance(s, ast.Pass) or (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))
                    for s in handler.body)
    return broad and only_pass


def test_no_bare_except_and_no_swallowed_exception():
    bad = []
    files = sorted(PACKAGE.rglob("*.py"))
    assert files
    for path in files:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.ExceptHandler):
                rel = f"{path.relative_to(PACKAGE.parent)}:{node.lineno}"
                if node.type is None:
                    bad.append(f"{rel}: bare except:")
                elif _swallows(node):
                    bad.append(f"{rel}: except Exception: pass")
    assert not bad, "\n".join(bad)


def test_the_rule_catches_both_forms():
    for src, expected in (("try:\n    x()\nexcept:\n    y()\n", True),
                          ("try:\n    x()\nexcept Exception:\n    pass\n", True),
                          ("try:\n    x()\nexcept (ValueError, Exception):\n    ...\n", True),
                          ("try:\n    x()\nexcept Exception:\n    log()\n", False),
                          ("try:\n    x()\nexcept OSError:\n    pass\n", False)):
        handler = next(n for n in ast.walk(ast.parse(src)) if isinstance(n, ast.ExceptHandler))
        assert (handler.type is None or _swallows(handler)) is expected, src
