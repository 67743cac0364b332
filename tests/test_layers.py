"""Imports only go downward (DESIGN.md "Layout"): a package imports nothing from a layer above it."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "edgeseg"
# Lower number = lower layer. A module may import its own package and anything of a lower or equal rank.
RANK = {"errors": 0, "_lazy": 0, "_fs": 0, "_json": 0, "api": 4, "__init__": 0, "weights": 0, "data": 1, "runtime": 2, "profiles": 3,
        "calibration": 3, "models": 3, "bench": 4, "export": 4, "train": 4, "cli": 5, "__main__": 6}
# The one marked exception (DESIGN.md): the torch reference backend loads the models lazily, when chosen.
ALLOWED = {("edgeseg/runtime/backends/torch_ref.py", "models")}


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
