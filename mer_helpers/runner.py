"""`mer run`: execute the numbered notebooks in order with papermill.

Executed notebooks go to ``OUT/notebooks``; the stages write ``OUT/artifacts`` and
``OUT/model``; at the end the metrics fragments of every stage, the run's parameters and the
wall time of each stage are merged into ``OUT/metrics.json``.
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

from mer_helpers import io

REPO_ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK_DIR = REPO_ROOT / "notebooks"

#: notebook number -> the ``timings_s`` entry its wall time is added to
STAGE_OF = {"00": "data", "01": "audio", "02": "audio", "03": "visual", "04": "visual",
            "05": "selection", "06": "classifiers", "07": "results"}


class NotebookFailed(RuntimeError):
    """A notebook of the chain raised; the message names the notebook and the cell."""


def chain_notebooks(notebook_dir: Path = NOTEBOOK_DIR, only: list[str] | None = None) -> list[Path]:
    """The numbered notebooks ``NN_*.ipynb`` in order (``only``: keep those numbers/names)."""
    nbs = sorted(p for p in notebook_dir.glob("[0-9][0-9]_*.ipynb"))
    if only:
        keep = {o.split("_")[0].zfill(2) for o in only}
        nbs = [p for p in nbs if p.name[:2] in keep]
    return nbs


def run_chain(dataset: str = "sample", out_dir: str | os.PathLike = "runs/sample",
              data_root: str | os.PathLike | None = None, protocol: str = "speaker-cv",
              params: dict[str, Any] | None = None, preset: str | None = None,
              only: list[str] | None = None, notebook_dir: Path | None = None, log=print) -> dict:
    """Run the chain; return the merged ``metrics.json`` dict. Raises :class:`NotebookFailed`."""
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    from mer_helpers.config import resolve

    out = Path(out_dir).resolve()
    try:
        preset_name, extra = resolve(dataset, preset, dict(params or {}))
        preset_problem = []
    except ValueError as e:  # unknown preset: reported with every other problem
        preset_name, extra, preset_problem = str(preset), dict(params or {}), [f"preset: {e}"]
    run_params = {"dataset": dataset, "out_dir": str(out), "protocol": protocol, **extra}
    if data_root is not None:
        run_params["data_root"] = str(Path(data_root).expanduser().resolve())
    notebook_dir = Path(notebook_dir or NOTEBOOK_DIR)
    notebooks = chain_notebooks(notebook_dir, only=only)
    if not notebooks:
        raise NotebookFailed(f"no numbered notebooks found in {notebook_dir}")
    declared = preflight(run_params, extra, notebook_dir, notebooks, problems=preset_problem)
    (out / "notebooks").mkdir(parents=True, exist_ok=True)
    io.artifacts_dir(out)
    io.write_json(out / "run.json", {"preset": preset_name, "parameters": run_params,
                                     "python": sys.version.split()[0]})
    timings: dict[str, float] = {}
    for nb in notebooks:
        target = out / "notebooks" / nb.name
        log(f"[mer run] {nb.name} (preset {preset_name}) ...")
        t0 = time.perf_counter()
        try:
            own = {k: v for k, v in run_params.items() if k in declared[nb.name]}  # no papermill warnings
            pm.execute_notebook(str(nb), str(target), parameters=own, cwd=str(notebook_dir),
                                kernel_name="python3", progress_bar=False, log_output=False,
                                report_mode=False)
        except PapermillExecutionError as e:
            raise NotebookFailed(
                f"notebook {nb.name} failed in cell {e.exec_count if e.exec_count else e.cell_index}"
                f" ({e.ename}: {e.evalue}); the executed copy with the traceback is {target}") from None
        dt = time.perf_counter() - t0
        timings[nb.stem] = round(dt, 2)
        log(f"[mer run] {nb.name} done in {dt:.1f} s")
    return finalize_metrics(out, dataset=dataset, protocol=protocol, timings=timings)


def preflight(run_params: dict[str, Any], extra: dict[str, Any], notebook_dir: Path,
              notebooks: list[Path], problems: list[str] = ()) -> dict[str, set[str]]:
    """The validation pass before notebook 00 (:mod:`mer_helpers.schema`): every parameter
    against its rule, names no notebook declares, and what the notebooks about to run need
    from the machine (data folder, FFmpeg, backbone weights). Raises
    :class:`~mer_helpers.schema.InvalidParameters` (a ``ValueError``) naming every problem;
    returns ``{notebook name: declared parameter names}`` of the whole chain."""
    from mer_helpers import schema

    declared, defaults = schema.chain_parameters(chain_notebooks(notebook_dir))
    known = set().union(*declared.values())
    unknown = sorted(set(extra) - known)
    first = list(problems)
    if unknown:
        first.append(f"unknown parameter(s) {unknown}: no notebook of the chain declares them "
                     f"(known: {', '.join(sorted(known))})")
    to_run = {p.name: declared[p.name] for p in notebooks}
    # effective values for the environment checks: defaults of the chain, then this run's values
    schema.validate(run_params, defaults, needs=schema.needs_of(to_run), extra=first)
    return declared


def stage_timings(per_notebook: dict[str, float]) -> dict[str, float]:
    """Per-notebook wall times → the ``timings_s`` of INTERFACE.md: one entry per stage
    (:data:`STAGE_OF`) and ``total``, their sum."""
    stages: dict[str, float] = {}
    for name, dt in sorted(per_notebook.items()):
        stage = STAGE_OF.get(name[:2], name)
        stages[stage] = round(stages.get(stage, 0.0) + float(dt), 2)
    stages["total"] = round(sum(v for k, v in stages.items()), 2)
    return stages


def finalize_metrics(out: Path, dataset: str, protocol: str, timings: dict[str, float]) -> dict:
    """Merge stage fragments into ``OUT/metrics.json``.

    ``timings``: wall time per notebook of this run. Notebooks not rerun keep their earlier
    time (``timings_s_notebooks`` of the previous ``metrics.json``), so after a partial re-run
    (``--notebooks 06 07``) each stage and ``total`` still describe the whole chain.
    """
    metrics: dict[str, Any] = {"dataset": dataset, "protocol": protocol}
    metrics.update(io.merge_fragments(out))
    old = out / "metrics.json"
    prev = io.read_json(old) if old.exists() else {}
    per_nb = {**prev.get("timings_s_notebooks", {}), **timings}
    stages = stage_timings(per_nb)
    # a metrics.json of an older runner has stage times only: keep those of stages not rerun
    legacy = prev.get("timings_s_legacy")
    if legacy is None and prev and "timings_s_notebooks" not in prev:
        legacy = {k: v for k, v in prev.get("timings_s", {}).items() if k != "total"}
    if legacy:
        stages.pop("total")
        stages = {**legacy, **stages}
        stages["total"] = round(sum(stages.values()), 2)
        metrics["timings_s_legacy"] = legacy
    metrics["timings_s"] = stages
    metrics["timings_s_notebooks"] = per_nb
    metrics.setdefault("skipped_clips", [])
    io.write_json(old, metrics)
    return metrics
