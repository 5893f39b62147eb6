"""`mer run`: execute the numbered notebooks in order with papermill.

Executed notebooks go to ``OUT/notebooks``; the stages write ``OUT/artifacts`` and
``OUT/model``; at the end the metrics fragments of every stage, the run's parameters and the
wall time of each stage are merged into ``OUT/metrics.json``.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import signal
import threading
import time
import weakref
from pathlib import Path
from typing import Any, Iterator

from mer_helpers.chain import schema
from mer_helpers.chain.config import resolve
from mer_helpers.core import environment, fileio, parallel

REPO_ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK_DIR = REPO_ROOT / "notebooks"

#: notebook number -> the ``timings_s`` entry its wall time is added to
_STAGE_OF = {"00": "data", "01": "audio", "02": "audio", "03": "visual", "04": "visual",
            "05": "selection", "06": "classifiers", "07": "results"}


#: kernel options for the chain: no kernel-application log lines (the "running over TCP without
#: encryption" notice, and the "[IPKernelApp] ERROR | KeyboardInterrupt caught in kernel" that
#: jupyter_client's shutdown, which interrupts the idle kernel before asking it to stop, makes
#: it log; a cell's error still reaches papermill as its error message), and no capture of the
#: kernel's file-descriptor output (ipykernel's fd watcher can raise "Event loop is closed" at
#: shutdown, ipython/ipykernel#1155; C libraries' lines then reach the console)
_KERNEL_ARGS = ["--IPKernelApp.log_level=CRITICAL", "--IPKernelApp.capture_fd_output=False"]


#: the kernel managers of the chain's kernels started in this process (:func:`_kernel_manager_class`)
_KERNELS: "weakref.WeakSet[Any]" = weakref.WeakSet()


def _kernel_manager_class():
    """jupyter_client's ``AsyncKernelManager`` that records each kernel it starts in
    :data:`_KERNELS`, so that an interrupted run can stop them (:func:`_stop_kernels`):
    papermill keeps its kernel manager to itself, and a ``KeyboardInterrupt`` raised inside its
    event loop leaves nbclient's own clean-up unrun."""
    from jupyter_client.manager import AsyncKernelManager

    class ChainKernelManager(AsyncKernelManager):
        async def start_kernel(self, **kw):
            await super().start_kernel(**kw)
            _KERNELS.add(self)

    return ChainKernelManager


def _stop_kernels(timeout: float = 10.0) -> None:
    """Kill every kernel of :data:`_KERNELS` that still runs, with whatever it started: Jupyter
    starts each kernel in a session of its own, so a terminal's Ctrl-C does not reach it, and
    it is killed here (SIGKILL to its process group) before the Dask cluster it uses goes away,
    which it would otherwise report with tracebacks on the console. What a killed kernel was
    writing is a temporary file (:func:`mer_helpers.core.fileio.atomic_write`), not a torn result. Its
    connection file is removed."""
    for km in list(_KERNELS):
        proc = getattr(getattr(km, "provisioner", None), "process", None)
        if proc is not None and proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)  # its own session: group id == its pid
            except OSError:
                proc.kill()
            try:
                proc.wait(timeout)
            except Exception:
                pass
        try:
            km.cleanup_connection_file()
        except Exception:
            pass
        _KERNELS.discard(km)


@contextlib.contextmanager
def _kernels_stopped_on_interrupt() -> Iterator[None]:
    """On ``KeyboardInterrupt`` inside: further Ctrl-C is ignored (a second one would only tear
    the take-down half-way; :func:`_sigint_restored` restores it) and the kernels are killed
    (:func:`_stop_kernels`); the interrupt then propagates."""
    try:
        yield
    except KeyboardInterrupt:
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, signal.SIG_IGN)
        _stop_kernels()
        _quiet_dead_kernel_tasks()
        raise


def _drop_dead_kernel_task(record: logging.LogRecord) -> bool:
    """A filter of the ``asyncio`` logger: drop the report of a task that ended with nbclient's
    ``DeadKernelError``; keep every other record."""
    exc = record.exc_info[1] if record.exc_info else None
    return type(exc).__name__ != "DeadKernelError"


def _quiet_dead_kernel_tasks() -> None:
    """nbclient's cell task, left behind by an interrupt, ends with the kernel :func:`_stop_kernels`
    killed; asyncio would report it ("Task exception was never retrieved", with a traceback) when
    the task is collected. Only that report is dropped; the filter is added once."""
    log = logging.getLogger("asyncio")
    if _drop_dead_kernel_task not in log.filters:
        log.addFilter(_drop_dead_kernel_task)


@contextlib.contextmanager
def _sigint_restored() -> Iterator[None]:
    """The SIGINT handler on entry is the one on exit (in the main thread)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    handler = signal.getsignal(signal.SIGINT)
    try:
        yield
    finally:
        if handler is not None:
            signal.signal(signal.SIGINT, handler)


class NotebookFailed(RuntimeError):
    """A notebook of the chain raised; the message names the notebook and the cell, ``ename``
    the exception's class name (``BadInputError``: unusable clips in stop mode)."""

    def __init__(self, message: str, ename: str | None = None):
        super().__init__(message)
        self.ename = ename


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
              only: list[str] | None = None, notebook_dir: Path | None = None, log=print,
              force: bool = False, scheduler: str | None = None) -> dict:
    """Run the chain; return the merged ``metrics.json`` dict. Raises :class:`NotebookFailed`,
    or :class:`~mer_helpers.chain.schema.InvalidParameters` (a ``ValueError``) before any notebook
    runs when a setting is wrong.

    Resume: a notebook whose fingerprint (:func:`fingerprints`) equals the one recorded in
    ``OUT/artifacts/fingerprints.json`` after its last successful run, and whose executed copy
    is in ``OUT/notebooks``, is skipped (its earlier wall time is kept), up to the first
    notebook that must run: from there on every notebook runs. ``force`` reruns all.

    ``scheduler``: where the per-clip work runs (:func:`mer_helpers.core.parallel.session`): an
    existing Dask scheduler's address (``tcp://HOST:8786``), ``"none"`` for no Dask, or
    ``None``: ``$MER_DASK_SCHEDULER``, else a local cluster started for this run and closed
    at its end. Raises :class:`~mer_helpers.core.parallel.SchedulerUnreachable` before any notebook
    runs when the address cannot be reached.
    """
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError


    out = Path(out_dir).resolve()
    try:
        preset_name, extra = resolve(dataset, preset, dict(params or {}))
        preset_problem = []
    except ValueError as e:  # unknown preset: reported with every other problem
        preset_name, extra, preset_problem = str(preset), dict(params or {}), [f"preset: {e}"]
    run_params = {"dataset": dataset, "out_dir": str(out), "protocol": protocol, **extra}
    if data_root is not None:
        run_params["data_root"] = str(Path(data_root).expanduser().resolve())
    if isinstance(run_params.get("compare_runs"), list):  # the kernels run in notebooks/, not here
        run_params["compare_runs"] = [str(Path(str(r)).expanduser().resolve()) for r in run_params["compare_runs"]]
    notebook_dir = Path(notebook_dir or NOTEBOOK_DIR)
    notebooks = chain_notebooks(notebook_dir, only=only)
    if not notebooks:
        raise NotebookFailed(f"no numbered notebooks found in {notebook_dir}")
    chain = chain_notebooks(notebook_dir)
    declared, defaults = schema.chain_parameters(chain)
    own = {nb.name: schema.notebook_values(run_params, declared[nb.name], defaults) for nb in chain}
    fps = fingerprints(chain, own)
    fp_file = out / "artifacts" / _FINGERPRINTS
    recorded = _read_fingerprints(fp_file)
    skip: set[str] = set()  # unchanged notebooks up to the first that must run; all after it run
    for nb in [] if force else notebooks:
        if recorded.get(nb.name, {}).get("fingerprint") != fps[nb.name] or not (out / "notebooks" / nb.name).is_file():
            break
        skip.add(nb.name)
    preflight(run_params, extra, notebook_dir, [nb for nb in notebooks if nb.name not in skip],
              problems=preset_problem, chain=(declared, defaults))
    (out / "notebooks").mkdir(parents=True, exist_ok=True)
    fileio.artifacts_dir(out)
    env = environment.describe()  # "python" stays at the top level too, where earlier runs have it
    fileio.write_json(out / "run.json", {"preset": preset_name, "parameters": run_params, "python": env["python"],
                                     "environment": env})
    timings: dict[str, float] = {}
    if all(nb.name in skip for nb in notebooks):
        scheduler = "none"  # nothing runs: no cluster to start
    # Ctrl-C: the kernel is killed first, then the cluster closed (the session), further Ctrl-C
    # ignored meanwhile; the notebook that was running keeps no fingerprint: a rerun redoes it
    with _sigint_restored(), parallel.session(scheduler) as address, _kernels_stopped_on_interrupt():
        if address:
            log(f"[mer run] per-clip work on the Dask scheduler {address}")
        for nb in notebooks:
            target = out / "notebooks" / nb.name
            if nb.name in skip:
                log(f"[mer run] {nb.name} skipped (unchanged)")
                wall = recorded[nb.name].get("wall_s")
                if isinstance(wall, (int, float)):  # kept also when no metrics.json was written (killed run)
                    timings[nb.stem] = float(wall)
                continue
            log(f"[mer run] {nb.name} (preset {preset_name}) ...")
            # this notebook and every later one are no longer known to be up to date (also when
            # this one fails part-way, or a later one is not among ``only``)
            later = {p.name for p in chain if p.name >= nb.name}
            recorded = {k: v for k, v in recorded.items() if k not in later}
            _write_fingerprints(fp_file, recorded)
            t0 = time.perf_counter()
            try:
                pm.execute_notebook(str(nb), str(target), parameters=own[nb.name], cwd=str(notebook_dir),
                                    extra_arguments=_KERNEL_ARGS, kernel_manager_class=_kernel_manager_class(),
                                    kernel_name="python3", progress_bar=False, log_output=False,
                                    report_mode=False)  # own: only declared names, no papermill warnings
            except PapermillExecutionError as e:
                raise NotebookFailed(
                    f"notebook {nb.name} failed in cell {e.exec_count if e.exec_count else e.cell_index}"
                    f" ({e.ename}: {e.evalue}); the executed copy with the traceback is {target}",
                    ename=e.ename) from None
            dt = time.perf_counter() - t0
            timings[nb.stem] = round(dt, 2)
            recorded[nb.name] = {"fingerprint": fps[nb.name], "wall_s": round(dt, 2),
                                 "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
            _write_fingerprints(fp_file, recorded)
            log(f"[mer run] {nb.name} done in {dt:.1f} s")
    return finalize_metrics(out, dataset=dataset, protocol=protocol, timings=timings)


def preflight(run_params: dict[str, Any], extra: dict[str, Any], notebook_dir: Path,
              notebooks: list[Path], problems: list[str] = (),
              chain: tuple[dict[str, set[str]], dict[str, Any]] | None = None) -> dict[str, set[str]]:
    """The validation pass before notebook 00 (:mod:`mer_helpers.chain.schema`): every parameter
    against its rule, names no notebook declares, and what ``notebooks`` (those about to run)
    need from the machine (data folder, FFmpeg, backbone weights). Raises
    :class:`~mer_helpers.chain.schema.InvalidParameters` (a ``ValueError``) naming every problem
    (``problems`` first); returns ``{notebook name: declared parameter names}`` of the whole
    chain. ``chain``: the ``(declared, defaults)`` of :func:`schema.chain_parameters`, if known."""

    declared, defaults = chain or schema.chain_parameters(chain_notebooks(notebook_dir))
    known = schema.chain_names(declared)
    unknown = sorted(set(extra) - known)
    first = list(problems)
    if unknown:
        first.append(f"unknown parameter(s) {unknown}: no notebook of the chain declares them "
                     f"(known: {', '.join(sorted(known))})")
    to_run = {p.name: declared[p.name] for p in notebooks}
    # effective values for the environment checks: defaults of the chain, then this run's values
    schema.validate(run_params, defaults, needs=schema.needs_of(to_run), extra=first)
    return declared


# --------------------------------------------------------------------------- resume

#: ``OUT/artifacts/<this>``: the fingerprint of each notebook's last successful run
_FINGERPRINTS = "fingerprints.json"
_PACKAGE_DIR = Path(__file__).resolve().parents[1]


def _package_digest(package_dir: Path = _PACKAGE_DIR) -> str:
    """SHA-256 over the names and bytes of the helper package's ``.py`` files."""
    h = hashlib.sha256()
    for p in sorted(package_dir.rglob("*.py")):
        if "__pycache__" in p.parts:
            continue
        h.update(p.relative_to(package_dir).as_posix().encode() + b"\0")
        h.update(hashlib.sha256(p.read_bytes()).digest())
    return h.hexdigest()


def fingerprints(chain: list[Path], params: dict[str, dict[str, Any]],
                 package: str | None = None) -> dict[str, str]:
    """``{notebook name: fingerprint}`` for the whole chain, in order: SHA-256 over the
    notebook file's bytes, the parameters passed to it, the helper package's source
    (:func:`_package_digest`) and the fingerprints of the notebooks before it, so a change
    anywhere reruns that notebook and every later one. Data files are not part of it: after
    changing a corpus in place, rerun with ``force`` (``mer run --force``)."""
    package = package or _package_digest()
    out: dict[str, str] = {}
    before: list[str] = []
    for nb in chain:
        h = hashlib.sha256(b"mer-run-fingerprint-v1\0")
        h.update(hashlib.sha256(Path(nb).read_bytes()).digest())
        h.update(json.dumps(params.get(nb.name, {}), sort_keys=True, default=str).encode())
        h.update(package.encode())
        h.update(json.dumps(before).encode())
        out[nb.name] = h.hexdigest()
        before.append(out[nb.name])
    return out


def _read_fingerprints(path: Path) -> dict[str, dict]:
    try:
        data = fileio.read_json(path)
        nbs = data.get("notebooks", {}) if isinstance(data, dict) else {}
        return {k: v for k, v in nbs.items() if isinstance(v, dict)}
    except (OSError, ValueError):
        return {}


def _write_fingerprints(path: Path, recorded: dict[str, dict]) -> None:
    fileio.write_json(path, {"version": 1, "notebooks": dict(sorted(recorded.items()))})


def stage_timings(per_notebook: dict[str, float]) -> dict[str, float]:
    """Per-notebook wall times → the ``timings_s`` of INTERFACE.md: one entry per stage
    (:data:`_STAGE_OF`) and ``total``, their sum."""
    stages: dict[str, float] = {}
    for name, dt in sorted(per_notebook.items()):
        stage = _STAGE_OF.get(name[:2], name)
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
    if (out / "run.json").exists():  # INTERFACE.md: metrics.json carries the preset at its top level
        metrics["preset"] = fileio.read_json(out / "run.json").get("preset")
    metrics.update(fileio.merge_fragments(out))
    old = out / "metrics.json"
    prev = fileio.read_json(old) if old.exists() else {}
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
    fileio.write_json(old, metrics)
    return metrics
