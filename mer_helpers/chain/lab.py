"""`mer lab`: the numbered notebooks in JupyterLab, on a run folder.

The repository's notebooks carry the papers' values as their defaults and
``out_dir = "../runs/sample"``; executed as they stand they would recompute a run's artifacts
with other settings (and the ImageNet weights, which need the network). So ``mer lab --from
OUT`` works on copies: :func:`prepare` writes ``OUT/lab/NN_*.ipynb``, one per notebook of the
chain, without outputs, each with papermill's ``injected-parameters`` cell after its
``parameters`` cell, as ``mer run`` executes it: the run's own values (``OUT/run.json``, only
the names that notebook declares) and ``out_dir = ".."``. A kernel starts in its notebook's
folder, so ``..`` is ``OUT`` wherever the run folder lies, and *Run All Cells* recomputes that
stage of that run from its artifacts (the same bytes for the same seed, see the developer
guide's "Determinism") and shows its tables and figures. The other files of the run
(``OUT/notebooks`` as executed by ``mer run``, ``OUT/artifacts``, ``metrics.json``) are in the
file browser beside them.

A copy that is already there is kept (it may hold your edits); ``reset=True`` (``mer lab
--reset``) writes every copy afresh from the repository's notebooks.

Progress bars: a kernel of JupyterLab draws them as widgets (:mod:`mer_helpers.core.progress`,
mode ``widget``) unless ``MER_PROGRESS`` says otherwise in the environment ``mer lab`` starts in.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

from mer_helpers.chain import schema
from mer_helpers.chain.runner import NOTEBOOK_DIR, REPO_ROOT, chain_notebooks
from mer_helpers.core import fileio

#: the folder of a run that holds the JupyterLab copies
LAB_DIR = "lab"
#: where ``mer lab`` looks without ``--from``: what ``bash scripts/run.sh`` writes
DEFAULT_RUN = REPO_ROOT / "runs" / "sample"


class NotARunFolder(ValueError):
    """The folder given to ``mer lab --from`` is not a finished ``mer run`` folder."""


def _check_run_folder(out: str | os.PathLike) -> Path:
    """``out`` resolved, after checking that ``mer run`` wrote it: ``run.json`` and at least
    one executed notebook ``notebooks/NN_*.ipynb``. Raises :class:`NotARunFolder` (one line)."""
    out = Path(out).expanduser().resolve()
    hint = f"run `mer run --out {out}` first (`bash scripts/run.sh` writes runs/sample)"
    if not out.is_dir():
        raise NotARunFolder(f"{out}: no such folder; {hint}")
    if not chain_notebooks(out / "notebooks"):
        raise NotARunFolder(f"{out} has no executed notebooks (notebooks/NN_*.ipynb): not a `mer run` folder; {hint}")
    if not (out / "run.json").is_file():
        raise NotARunFolder(f"{out} has no run.json (the parameters of its run); {hint}")
    return out


def _lab_parameters(run_params: dict, declared: set[str], defaults: dict) -> dict:
    """The values injected into one notebook's copy: the run's parameters that the notebook
    declares (as :func:`mer_helpers.chain.schema.notebook_values` gives them to ``mer run``), and
    ``out_dir = ".."`` (the run folder, seen from ``OUT/lab``)."""
    params = schema.notebook_values(run_params, declared, defaults)
    if "out_dir" in declared:
        params["out_dir"] = ".."
    return params


def prepare(out: str | os.PathLike, reset: bool = False, notebook_dir: Path = NOTEBOOK_DIR,
            log=print) -> Path:
    """Write ``OUT/lab/NN_*.ipynb`` (see the module docstring); return ``OUT/lab``.

    ``reset``: overwrite copies that are already there. Raises :class:`NotARunFolder` when
    ``out`` is not a ``mer run`` folder.
    """
    import nbformat
    from papermill.iorw import load_notebook_node
    from papermill.parameterize import parameterize_notebook


    out = _check_run_folder(out)
    run_params = fileio.read_json(out / "run.json").get("parameters", {})
    chain = chain_notebooks(notebook_dir)
    if not chain:
        raise NotARunFolder(f"no numbered notebooks in {notebook_dir}")
    declared, defaults = schema.chain_parameters(chain)
    lab = out / LAB_DIR
    lab.mkdir(exist_ok=True)
    written, kept = [], []
    for src in chain:
        target = lab / src.name
        if target.exists() and not reset:
            kept.append(src.name)
            continue
        nb = load_notebook_node(str(src))  # every cell with a tags list, as papermill expects
        nb = parameterize_notebook(nb, _lab_parameters(run_params, declared[src.name], defaults), kernel_name="python3",
                                   language="python")
        for cell in nb.cells:
            if not cell.metadata.get("tags", True):
                del cell.metadata["tags"]
            if cell.cell_type == "code":  # committed without outputs; make sure
                cell.outputs, cell.execution_count = [], None
        fileio.atomic_write_text(target, nbformat.writes(nb))
        written.append(src.name)
    if written:
        log(f"[mer lab] {len(written)} notebook(s) in {lab} with the parameters of {out.name}/run.json")
    if kept:
        log(f"[mer lab] kept the {len(kept)} copies already in {lab} (they may hold edits; --reset writes them afresh)")
    return lab


def lab_command(out: Path, port: int | None = None, browser: bool = True, extra: list[str] = ()) -> list[str]:
    """The ``jupyter lab`` command line: server root ``OUT``, opened on ``OUT/lab``; as root
    (containers, CI) with ``--allow-root``, which JupyterLab otherwise refuses."""
    cmd = [sys.executable, "-m", "jupyterlab", f"--ServerApp.root_dir={out}",
           f"--LabApp.default_url=/lab/tree/{LAB_DIR}"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")
    if port is not None:
        cmd.append(f"--ServerApp.port={port}")
    if not browser:
        cmd.append("--no-browser")
    return cmd + list(extra)


def launch(out: str | os.PathLike | None = None, port: int | None = None, browser: bool = True,
           reset: bool = False, extra: list[str] = (), dry_run: bool = False, log=print) -> list[str]:
    """Prepare ``OUT/lab`` and replace this process with JupyterLab (``dry_run``: print the
    command and return it instead)."""
    import importlib.util

    out = _check_run_folder(out if out is not None else DEFAULT_RUN)
    if importlib.util.find_spec("jupyterlab") is None:
        raise RuntimeError("JupyterLab is not installed: pip install -e \".[book]\" (bash scripts/setup.sh does)")
    prepare(out, reset=reset, log=log)
    cmd = lab_command(out, port=port, browser=browser, extra=extra)
    if dry_run:
        log(" ".join(cmd))
        return cmd
    log(f"[mer lab] JupyterLab on {out} (open {LAB_DIR}/NN_*.ipynb, then Run > Run All Cells; Ctrl-C stops it)")
    sys.stdout.flush()
    sys.stderr.flush()
    env = dict(os.environ)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.execve(sys.executable, cmd, env)
    return cmd  # pragma: no cover (not reached)
