"""Imports only go downward (DESIGN.md "Layout"): a package imports nothing from a layer above it."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "edgeseg"
# Lower number = lower layer. A module may import its own package and anything of a lower or equal rank.
RANK = {"errors": 0, "_lazy": 0, "_fs": 0, "_json": 0, "_uri": 0, "api": 4, "__init__": 0, "weights": 0, "data": 1, "bundle": 1,
        "runtime": 2, "profiles": 3, "calibration": 3, "models": 3, "bench": 4, "batching": 4, "export": 4, "train": 4, "cli": 5, "__main__": 6}
# The one marked exception (DESIGN.md): the torch reference backend loads the models lazily, when chosen.
ALLOWED = {("edgeseg/runtime/engines/backends/torch_ref.py", "models")}


def imports(path: Path) -> list[tuple[int, str]]:
    """(line, edgeseg subpackage) of every edgeseg import in a file, lazy ones inside functions included."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] if node.module != "edgeseg" else [f"edgeseg.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        found += [(node.lineno, n.split(".")[1]) for n in names if n.startswith("edgeseg.")]
    return found


def upward_imports() -> list[str]:
    bad = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent).as_posix()
        layer = path.relative_to(PACKAGE).parts[0].removesuffix(".py")
        for line, target in imports(path):
            target_rank = RANK.get(target, RANK["__init__"] if target in ("__version__",) else None)
            if target_rank is None:
                bad.append(f"{rel}:{line}: imports edgeseg.{target}, which has no layer in this test's RANK")
            elif target != layer and target_rank > RANK[layer] and (rel, target) not in ALLOWED:
                bad.append(f"{rel}:{line}: {layer} (layer {RANK[layer]}) imports {target} (layer {target_rank})")
    return bad


def test_every_package_has_a_layer():
    packages = {p.name.removesuffix(".py") for p in PACKAGE.iterdir() if p.suffix == ".py" or (p / "__init__.py").is_file()}
    assert packages - set(RANK) == set()


def test_imports_only_go_downward():
    assert upward_imports() == []


def test_the_walk_sees_lazy_imports(tmp_path):
    # the check must be able to fail: a function-level upward import is found
    f = tmp_path / "m.py"
    f.write_text("def f():\n    from edgeseg.cli.main import main\n")
    assert imports(f) == [(2, "cli")]


# Inside the runtime the sub-packages are layers too (edgeseg/runtime/__init__.py): lower imports nothing higher.
RUNTIME_RANK = {"__init__": 0, "operating_point": 0, "engines": 1, "engine": 1, "motion": 1, "fusion": 2, "io": 3,
                "pipeline": 4}


def runtime_upward_imports() -> list[str]:
    bad = []
    runtime = PACKAGE / "runtime"
    for path in sorted(runtime.rglob("*.py")):
        layer = path.relative_to(runtime).parts[0].removesuffix(".py")
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("edgeseg.runtime."):
                target = node.module.split(".")[2]
            elif isinstance(node, ast.ImportFrom) and node.module == "edgeseg.runtime":
                target = node.names[0].name
            else:
                continue
            if RUNTIME_RANK[target] > RUNTIME_RANK[layer]:
                bad.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno}: runtime.{layer} imports runtime.{target}")
    return bad


def test_runtime_subpackages_form_layers():
    assert set(RUNTIME_RANK) == {p.name.removesuffix(".py") for p in (PACKAGE / "runtime").iterdir()
                                  if p.suffix == ".py" or (p / "__init__.py").is_file()}
    assert runtime_upward_imports() == []


def import_graph() -> dict[str, set[str]]:
    """edgeseg module -> the edgeseg modules it imports, lazy and TYPE_CHECKING imports included."""
    modules = {".".join(p.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(".__init__"): p
               for p in PACKAGE.rglob("*.py")}

    def owner(name: str) -> str:  # the module a dotted name lives in (a name imported from a module: the module)
        while name not in modules and "." in name:
            name = name.rsplit(".", 1)[0]
        return name
    graph = {}
    for name, path in modules.items():
        deps = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 and node.module.startswith("edgeseg"):
                deps |= {owner(f"{node.module}.{a.name}") for a in node.names}
            elif isinstance(node, ast.Import):
                deps |= {owner(a.name) for a in node.names if a.name.startswith("edgeseg")}
        graph[name] = deps - {name, "edgeseg"}
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every group of modules that import each other, directly or around a loop (Tarjan's components > 1)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while not group or group[-1] != v:
                group.append(stack.pop())
            if len(group) > 1:
                found.append(sorted(group))
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_import_circles():
    assert circles(import_graph()) == []


def test_the_circle_check_can_fail():
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
