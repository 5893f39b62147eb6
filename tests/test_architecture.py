"""The package's import direction: stages -> library -> core, no cycles, no hidden imports.

Read from the source with :mod:`ast` (nothing is imported), so the test is fast and names the
file and line of every break:

* no import cycle among ``mer_helpers``' modules (module-level imports);
* one way down: a module imports only from its own layer or the layers below it
  (:data:`LAYERS`: stages and chain on top, then predict, methods, data, core); so no library
  module imports :mod:`mer_helpers.stages` (the notebooks' own code sits on top);
* no import of the package's own modules inside a function, except in the command-line entry
  point (``cli.py``), where lazy imports keep ``mer --help`` fast;
* no module is longer than 700 lines (:data:`MAX_LINES`); split one along its seams first.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "mer_helpers"
#: the subpackages, top to bottom; a module may import its own layer and the layers below
LAYERS = ["stages", "chain", "predict", "methods", "data", "core"]
#: modules allowed to import the package's own modules inside functions
LAZY_OK = {"mer_helpers.cli"}
MAX_LINES = 700


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _targets(node: ast.Import | ast.ImportFrom, here: str, modules: set[str], pkg: str) -> list[str]:
    """The package's modules an import statement loads (``from pkg import mod`` counts as ``pkg.mod``)."""
    if isinstance(node, ast.Import):
        names = [a.name for a in node.names]
    else:
        if node.level:
            base = here.split(".")
            base = base[:len(base) - node.level + (1 if here in _packages(modules) else 0)]
            mod = ".".join(base + ([node.module] if node.module else []))
        else:
            mod = node.module or ""
        names = [f"{mod}.{a.name}" if f"{mod}.{a.name}" in modules else mod for a in node.names]
    return [n for n in names if n == pkg or n.startswith(pkg + ".")]


def _packages(modules: set[str]) -> set[str]:
    return {m for m in modules if any(o.startswith(m + ".") for o in modules)}


def scan(root: Path) -> tuple[dict[str, set[str]], list[str], dict[str, int]]:
    """(module -> modules it imports at module level, function-local own imports, line counts)."""
    pkg = root.name
    files = {module_name(root, p): p for p in sorted(root.rglob("*.py"))}
    modules = set(files)
    graph: dict[str, set[str]] = {m: set() for m in modules}
    local: list[str] = []
    sizes = {}
    for mod, path in files.items():
        text = path.read_text()
        sizes[mod] = text.count("\n") + 1
        tree = ast.parse(text)
        for node in tree.body:
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                graph[mod].update(t for t in _targets(node, mod, modules, pkg) if t != mod and t != pkg)
        for fn in ast.walk(tree):
            if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)) and mod not in LAZY_OK:
                for node in ast.walk(fn):
                    if isinstance(node, (ast.Import, ast.ImportFrom)) and _targets(node, mod, modules, pkg):
                        local.append(f"{path.relative_to(root.parent)}:{node.lineno} ({fn.name})")
    return graph, sorted(set(local)), sizes


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a path ``[a, b, ..., a]``, or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> list[str] | None:
        state[m] = 1
        stack.append(m)
        for n in sorted(graph.get(m, ())):
            if state.get(n) == 1:
                return stack[stack.index(n):] + [n]
            if n not in state and (found := visit(n)):
                return found
        stack.pop()
        state[m] = 2
        return None

    for m in sorted(graph):
        if m not in state and (found := visit(m)):
            return found
    return None


GRAPH, LOCAL, SIZES = scan(PACKAGE)


def test_no_import_cycle():
    cycle = find_cycle(GRAPH)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def layer(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 2 and parts[1] in LAYERS else None


def test_every_module_sits_in_a_layer():
    loose = sorted(m for m in GRAPH if layer(m) is None and m.count(".") >= 1
                   and m.rsplit(".", 1)[1] not in LAYERS and m not in LAZY_OK | {"mer_helpers.__main__"})
    assert not loose, "modules outside the layers: " + ", ".join(loose)


def test_imports_go_one_way_down():
    up = sorted(f"{m} ({layer(m)}) imports {t} ({layer(t)})" for m, ts in GRAPH.items() for t in ts
                if layer(m) and layer(t) and LAYERS.index(layer(t)) < LAYERS.index(layer(m)))
    assert not up, "imports that go up a layer: " + "; ".join(up)


def test_the_library_never_imports_a_stage():
    up = sorted(f"{m} imports {t}" for m, ts in GRAPH.items() for t in ts
                if t.startswith("mer_helpers.stages") and not m.startswith("mer_helpers.stages") and m not in LAZY_OK)
    assert not up, "library modules importing the notebooks' stage code: " + "; ".join(up)


def test_no_function_local_import_of_the_package():
    assert not LOCAL, ("imports of mer_helpers inside functions (import at the top; only cli.py may be lazy): "
                       + "; ".join(LOCAL))


def test_module_sizes():
    over = [f"{m}: {n} lines" for m, n in sorted(SIZES.items()) if n > MAX_LINES]
    assert not over, f"modules over {MAX_LINES} lines (split them along their seams): " + "; ".join(over)


def test_every_stage_module_is_imported_by_its_notebook():
    notebooks = {p.stem.split("_", 1)[1]: p.read_text() for p in (PACKAGE.parent / "notebooks").glob("*.ipynb")}
    stages = sorted(m.rsplit(".", 1)[1] for m in GRAPH if m.startswith("mer_helpers.stages."))
    assert stages, "no stage modules found"
    for s in stages:
        assert s in notebooks, f"stages/{s}.py has no notebook NN_{s}.ipynb"
        assert f"from mer_helpers.stages import {s}" in notebooks[s], f"NN_{s}.ipynb does not import its stage module"


# ------------------------------------------------------------------- the checks catch what they claim

def _package(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "pkg"
    for name, text in {"__init__.py": "", **files}.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def test_scan_finds_a_cycle_a_lazy_import_and_an_upward_import(tmp_path):
    root = _package(tmp_path, {
        "a.py": "from pkg import b\n",
        "b.py": "from pkg.c import f\n",
        "c.py": "def f():\n    from pkg import a\n    return a\n",
        "d.py": "from . import a\nfrom .stages import s\n",
        "stages/__init__.py": "", "stages/s.py": "from pkg import a\n",
    })
    graph, local, _ = scan(root)
    assert graph["pkg.a"] == {"pkg.b"} and graph["pkg.b"] == {"pkg.c"}
    assert graph["pkg.d"] == {"pkg.a", "pkg.stages.s"} and graph["pkg.stages.s"] == {"pkg.a"}
    assert find_cycle(graph) is None  # c's import is inside a function: not a module-level cycle...
    assert local == ["pkg/c.py:2 (f)"]  # ...but it is reported as a hidden import
    (root / "c.py").write_text("from pkg import a\n")
    assert find_cycle(scan(root)[0]) == ["pkg.a", "pkg.b", "pkg.c", "pkg.a"]


@pytest.mark.parametrize("stmt, expected", [
    ("from pkg.stages import s", {"pkg.stages.s"}),
    ("from .. import a", {"pkg.a"}),
    ("import pkg.a", {"pkg.a"}),
    ("import os", set()),
])
def test_targets_resolve_relative_and_absolute_forms(tmp_path, stmt, expected):
    root = _package(tmp_path, {"a.py": "", "stages/__init__.py": "", "stages/s.py": "",
                               "stages/t.py": stmt + "\n"})
    assert scan(root)[0]["pkg.stages.t"] == expected
