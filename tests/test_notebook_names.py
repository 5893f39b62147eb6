"""Every name a notebook's code uses is defined or imported in that notebook (pyflakes over the
code cells, in order). A name lost in a merge (e.g. a module import) otherwise surfaces only
when the chain runs."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

pyflakes_api = pytest.importorskip("pyflakes.api", reason="pyflakes (the test extra) not installed")
from pyflakes import reporter as _reporter  # noqa: E402

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))
IPYTHON_NAMES = {"display", "get_ipython"}


def notebook_source(path: Path) -> str:
    cells = json.loads(path.read_text())["cells"]
    code = ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]
    lines = [ln for src in code for ln in src.splitlines() if not ln.lstrip().startswith(("%", "!"))]
    return "\n".join(lines) + "\n"


def undefined_names(source: str, filename: str) -> list[str]:
    import io

    out, err = io.StringIO(), io.StringIO()
    pyflakes_api.check(source, filename, _reporter.Reporter(out, err))
    found = [ln for ln in out.getvalue().splitlines() if "undefined name" in ln]
    return [ln for ln in found if not any(f"'{n}'" in ln for n in IPYTHON_NAMES)] + err.getvalue().splitlines()


def test_the_check_sees_a_missing_import():
    assert undefined_names("x = plots.plot_projection(1)\n", "nb") == ["nb:1:5: undefined name 'plots'"]
    assert undefined_names("from mer_helpers import plots\nplots.f()\ndisplay(1)\n", "nb") == []


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_uses_only_names_it_defines(path):
    assert undefined_names(notebook_source(path), path.name) == []


def rebound_imports(source: str) -> list[str]:
    """Names a notebook imports and then assigns (a parameter or a variable named like a module:
    the later binding silently replaces the earlier one)."""
    import ast

    tree = ast.parse(source)
    imported = {a.asname or a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))
                for a in n.names}
    assigned = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    assigned |= {n.arg for n in ast.walk(tree) if isinstance(n, ast.arg)}
    return sorted(imported & assigned)


def test_the_rebinding_check_sees_a_parameter_named_like_a_module():
    src = "audio_features = 'ae'\nfrom mer_helpers.methods import audio_featurizer\nx = audio_featurizer.summarize\n"
    assert rebound_imports(src) == []
    assert rebound_imports(src.replace("audio_featurizer", "audio_features")) == ["audio_features"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_never_rebinds_an_imported_name(path):
    assert rebound_imports(notebook_source(path)) == []


#: the longest code cell a notebook may have, its parameters cell included (issue 22): a longer one
#: belongs in the stage module, or its settings in a group (``schema.PARAMETER_GROUPS``)
MAX_CELL_LINES = 15


def test_code_cells_are_short():
    long = [f"{p.name} cell {i} ({n} lines)" for p in NOTEBOOKS
            for i, c in enumerate(json.loads(p.read_text())["cells"]) if c["cell_type"] == "code"
            for n in [len("".join(c["source"]).rstrip("\n").splitlines())] if n > MAX_CELL_LINES]
    assert not long, f"code cells over {MAX_CELL_LINES} lines: " + "; ".join(long)
