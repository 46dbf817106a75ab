"""No import cycles between the modules of ``restoration``, counting function-local imports too.

A function-local import hides a cycle from Python until the function runs, and then it works or not depending on
which module was imported first. This test reads every module with ``ast``, collects its first-party imports
(top level, inside functions and classes; not under ``if TYPE_CHECKING:``), builds the module graph and fails on
any strongly connected component that is not listed in ALLOWED_CYCLES.

Edges: ``import a.b`` -> ``a.b``; ``from a import b`` -> ``a.b`` when that is a module, else ``a``. The implicit
import of parent packages is not an edge (every submodule would otherwise form a cycle with its package). Modules
loaded by a computed name are edges of the loader too (:func:`dynamic_targets`): the plugin discovery of
``restoration.cli`` and ``restoration.cli.tasks``, the ``*_arch``/``*_model``/``*_dataset`` scans of
``restoration._scan`` and the registry modules ``restoration.register`` imports.
"""
from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "restoration"

# Known cycles still to be removed (none today); an entry must go once its cycle is gone
# (test_allowed_cycles_still_exist says when).
ALLOWED_CYCLES: set[frozenset[str]] = set()


def _modules() -> dict[str, tuple[Path, bool]]:
    """Dotted module name -> (file, is a package)."""
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        is_pkg = parts[-1] == "__init__"
        out[".".join(parts[:-1] if is_pkg else parts)] = (path, is_pkg)
    return out


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    """Every import statement that can run, at any depth; the body of ``if TYPE_CHECKING:`` is skipped."""
    found: list[ast.Import | ast.ImportFrom] = []
    todo = [tree]
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.append(node)
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            todo.extend(node.orelse)
            continue
        todo.extend(ast.iter_child_nodes(node))
    return found


def _resolve(name: str, modules: dict) -> str | None:
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def _call_name(node: ast.Call) -> str:
    func = node.func
    return func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""


def _package_of(arg: ast.expr, mod: str) -> str | None:
    """The constant package an import name starts with: ``"a.b"``/``__name__`` or the text before the first field of
    ``f"a.b.{x}"``/``f"{__name__}.{x}"``; ``None`` when it is computed."""
    parts = arg.values if isinstance(arg, ast.JoinedStr) else [arg]
    text = ""
    for part in parts:
        value = part.value if isinstance(part, ast.FormattedValue) else part
        if isinstance(value, ast.Constant) and isinstance(value.value, str):
            text += value.value
        elif isinstance(value, ast.Name) and value.id == "__name__":
            text += mod
        else:
            break
    return text.rstrip(".") if isinstance(arg, ast.JoinedStr) and text.endswith(".") else text or None


def dynamic_targets(mod: str, tree: ast.AST, modules: dict) -> dict[str, int]:
    """Modules ``mod`` imports by a name computed at run time -> line of the loading call.

    - ``importlib.import_module(f"pkg.{name}")`` (plugin discovery): every direct submodule of ``pkg``. The loader
      may pick fewer; a superset can only show more cycles, never hide one.
    - ``import_modules(pkg, "_suffix")`` (``restoration._scan``): the submodules of ``pkg`` whose name ends so.
    - ``importlib.import_module(name)``, ``name`` a variable: the first-party module names written as strings in
      the same module (a table such as ``restoration._REGISTRY_MODULES``).
    """
    found: dict[str, int] = {}

    def children(pkg: str | None, suffix: str = "") -> list[str]:
        return [m for m in modules if pkg and m.rpartition(".")[0] == pkg and m.endswith(suffix)]

    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not node.args:
            continue
        name, arg = _call_name(node), node.args[0]
        targets: list[str] = []
        if name == "import_module" and isinstance(arg, ast.JoinedStr):
            targets = children(_package_of(arg, mod))
        elif name == "import_modules" and len(node.args) == 2 and isinstance(node.args[1], ast.Constant):
            targets = children(_package_of(arg, mod), str(node.args[1].value))
        elif name == "import_module" and isinstance(arg, ast.Name):
            targets = [c.value for c in ast.walk(tree) if isinstance(c, ast.Constant) and c.value in modules]
        for target in targets:
            if target != mod:
                found.setdefault(target, node.lineno)
    return found


def import_graph() -> dict[str, dict[str, int]]:
    """module -> {imported first-party module: line of the first such import}."""
    modules = _modules()
    graph: dict[str, dict[str, int]] = {}
    for mod, (path, is_pkg) in modules.items():
        package = mod if is_pkg else mod.rpartition(".")[0]
        edges: dict[str, int] = {}
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node in _imports(tree):
            targets: list[str | None] = []
            if isinstance(node, ast.Import):
                targets = [_resolve(a.name, modules) for a in node.names if a.name.split(".")[0] == "restoration"]
            else:
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                    source = ".".join(base + ([node.module] if node.module else []))
                else:
                    source = node.module or ""
                if source.split(".")[0] != "restoration":
                    continue
                for alias in node.names:
                    full = f"{source}.{alias.name}"
                    targets.append(full if full in modules else _resolve(source, modules))
            for target in targets:
                if target and target != mod:
                    edges.setdefault(target, node.lineno)
        for target, line in dynamic_targets(mod, tree, modules).items():
            edges.setdefault(target, line)
        graph[mod] = edges
    return graph


def cycles(graph: dict[str, dict[str, int]]) -> list[frozenset[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[frozenset[str]] = []
    counter = 0
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(graph[root]))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(graph[child])))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                comp = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    comp.add(member)
                    if member == node:
                        break
                if len(comp) > 1:
                    out.append(frozenset(comp))
    return out


def _describe(comp: frozenset[str], graph: dict[str, dict[str, int]]) -> str:
    lines = [" <-> ".join(sorted(comp))]
    for mod in sorted(comp):
        for target, line in sorted(graph[mod].items()):
            if target in comp:
                lines.append(f"    {mod} (line {line}) imports {target}")
    return "\n".join(lines)


def test_graph_sees_function_local_imports():
    graph = import_graph()
    assert "restoration.inference" in graph["restoration"]  # the lazy Upscaler in restoration.__getattr__
    assert "restoration.metrics.lpips_metric" in graph["restoration.metrics"]  # the lazy LPIPS names
    assert "restoration.errors" in graph["restoration.inference.zoo"]


def test_graph_sees_modules_loaded_by_name():
    graph = import_graph()
    assert "restoration.cli._tasks_competition" in graph["restoration.cli.tasks"]  # plugin discovery
    assert "restoration.cli.train" in graph["restoration.cli"]  # the subcommand modules
    assert "restoration.models.realsr_mtl_model" in graph["restoration.models"]  # restoration._scan
    assert "restoration.metrics.lpips_val" in graph["restoration"]  # restoration.register


def test_no_import_cycles():
    graph = import_graph()
    found = cycles(graph)
    for comp in found:
        print(("allowed, to be removed: " if comp in ALLOWED_CYCLES else "NEW: ") + _describe(comp, graph))
    new = [comp for comp in found if comp not in ALLOWED_CYCLES]
    assert not new, "import cycles:\n" + "\n".join(_describe(comp, graph) for comp in new)


def test_allowed_cycles_still_exist():
    """A cycle that has been removed must leave ALLOWED_CYCLES, so it cannot come back unnoticed."""
    found = set(cycles(import_graph()))
    stale = [sorted(comp) for comp in ALLOWED_CYCLES if comp not in found]
    assert not stale, f"remove from ALLOWED_CYCLES (no longer cycles): {stale}"


def test_cycle_finder_on_a_known_graph():
    graph = {"a": {"b": 1}, "b": {"c": 1}, "c": {"a": 1, "d": 1}, "d": {}, "e": {"e": 1}}
    assert cycles(graph) == [frozenset("abc")]
    deep: dict[str, dict[str, int]] = defaultdict(dict)
    for i in range(5000):  # no recursion limit on long chains
        deep[f"m{i}"] = {f"m{i + 1}": 1}
    deep["m5000"] = {"m0": 1}
    assert cycles(dict(deep)) == [frozenset(deep)]
