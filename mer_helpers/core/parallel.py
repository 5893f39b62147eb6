"""Per-clip parallelism on ``dask.distributed``: the one place where clips are spread over cores.

Every stage whose work is one independent job per clip (FFmpeg extraction, denoise + MFCC,
eGeMAPS, frame sampling and face crops, backbone features, building paired clips) calls
:func:`map_clips`. Where the work runs:

``MER_DASK_SCHEDULER`` unset (the default)
    a :class:`distributed.LocalCluster` (2 worker processes, 1 thread each) started on first
    use, once per process. ``mer run`` starts one for the whole chain (:func:`session`) and
    hands its address to the notebook kernels, so the workers (and the models they built) live
    for the whole run.
``MER_DASK_SCHEDULER=tcp://HOST:8786`` (``mer run --scheduler tcp://HOST:8786``)
    an existing Dask cluster: ``dask scheduler`` + ``dask worker`` processes, dask-jobqueue on
    a batch system, Kubernetes, ... The workers must see the clips and ``$MER_CACHE_DIR`` at
    the same paths as the client (a shared filesystem, as HPC clusters have).
``MER_DASK_SCHEDULER=none`` (``--scheduler none``)
    no Dask: the work runs in this process (``n_jobs=1``) or in ``n_jobs`` joblib worker
    processes. For debugging, and what the fast unit tests use.

The workers write their results to the same content-keyed cache (:mod:`mer_helpers.core.cache`) as
a run without Dask, so a run on a cluster and a run on a laptop produce the same artifacts.
scikit-learn / joblib parallel loops run on the same cluster inside :func:`joblib_backend`.
"""
from __future__ import annotations

import contextlib
import functools
import logging
import os
import threading
from typing import Any, Callable, Iterable, Iterator, Sequence

from mer_helpers.core import cache
from mer_helpers.core.progress import progress as progress_bar

#: environment variable naming the scheduler (``none``/``off``: no Dask)
ENV = "MER_DASK_SCHEDULER"
#: values of :data:`ENV` / ``--scheduler`` that turn Dask off
DISABLED = ("none", "off")
#: the default local cluster: worker processes, threads per worker
LOCAL_WORKERS = 2
CONNECT_TIMEOUT = "10s"
#: Dask settings of the local cluster that cost CPU while it waits: each worker's statistical
#: profiler (a sample every 10 ms, for the dashboard's profile page) and every server's event-loop
#: check every 20 ms. ``mer run`` keeps the cluster for the whole chain, and notebooks 06-07 do
#: not use it: idle, it took 3.4 s of CPU per 30 s with Dask's defaults and 1.1 s with these
#: (``scripts/issue20_levers/README.md``, stop 25), time taken from the networks' two cores.
QUIET_CLUSTER = {"distributed.worker.profile.enabled": False, "distributed.admin.tick.interval": "1s"}
#: clips per chunk of the stages that stream (notebooks 01, 03, 04): what one chunk holds in
#: memory at a time, whatever the number of clips
CHUNK_CLIPS = 256

_LOCK = threading.Lock()
_CLIENTS: dict[str, Any] = {}   # address -> Client (one per address per process)
_LOCAL: dict[str, Any] = {}     # "cluster" -> the LocalCluster this process started lazily


class SchedulerUnreachable(RuntimeError):
    """The Dask scheduler named by ``--scheduler`` / ``MER_DASK_SCHEDULER`` cannot be reached."""


def _disabled(value: str | None) -> bool:
    return value is not None and value.strip().lower() in DISABLED


def scheduler_address(scheduler: str | None = None) -> str | None:
    """The Dask scheduler to use.

    Parameters
    ----------
    scheduler : str, optional
        An address such as ``tcp://HOST:8786``, or ``none`` / ``off``. When ``None``, the
        environment variable ``MER_DASK_SCHEDULER`` is read instead.

    Returns
    -------
    str or None
        The address; ``None`` when Dask is turned off (``none``/``off``) or no address is
        given (then :func:`get_client` starts a local cluster).
    """
    value = scheduler if scheduler is not None else os.environ.get(ENV)
    if value is None or not value.strip() or _disabled(value):
        return None
    return value.strip()


def in_worker() -> bool:
    """Whether this code runs inside a Dask worker task (nested maps then run in place)."""
    try:
        from distributed import get_worker

        get_worker()
        return True
    except (ImportError, ValueError):
        return False


def _connect(address: str):
    from distributed import Client

    try:
        return Client(address, timeout=CONNECT_TIMEOUT, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as e:
        raise SchedulerUnreachable(
            f"cannot reach the Dask scheduler {address} ({type(e).__name__}: "
            f"{str(e).strip().splitlines()[0] if str(e).strip() else 'no answer'}); start it, "
            f"or run without a cluster: --scheduler none (MER_DASK_SCHEDULER=none)") from None


def start_local_cluster(n_workers: int = LOCAL_WORKERS):
    """A :class:`distributed.LocalCluster` of ``n_workers`` processes with one thread each, its
    scheduler and dashboard on free ports (several runs may share a machine), no worker logs
    below critical (a failing clip is reported by the caller, a lost worker by Dask's error),
    and workers that do not die of a Ctrl-C meant for the process that started them
    (:func:`_sigint_blocked`; they stop when the cluster is closed). Its servers and workers
    take :data:`QUIET_CLUSTER`'s settings (no profiler, a slow event-loop check).

    Parameters
    ----------
    n_workers : int
        Worker processes.

    Returns
    -------
    distributed.LocalCluster
        The running cluster (``.scheduler_address``, ``.close()``).
    """
    import dask
    from distributed import LocalCluster

    with _sigint_blocked(), dask.config.set(QUIET_CLUSTER):  # the nannies hand it to the workers they start
        return LocalCluster(n_workers=int(n_workers), threads_per_worker=1, processes=True,
                            dashboard_address=":0", silence_logs=logging.CRITICAL)


@contextlib.contextmanager
def _sigint_blocked() -> Iterator[None]:
    """Start a cluster deaf to Ctrl-C: SIGINT is ignored in this process while inside, and the
    worker processes spawned meanwhile inherit that (a Python handler would not survive their
    ``exec``), so they keep ignoring it. A terminal's Ctrl-C goes to the whole process group;
    without this each worker dies of it with a ``KeyboardInterrupt`` traceback of its own, while
    the run that started them shuts them down anyway (``mer run``: one line, the cluster closed
    in order). A Ctrl-C during the few seconds inside is lost. Only in the main thread (the
    only one that may set signal handlers); a worker a nanny restarts later does not ignore it."""
    import signal

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)


def get_client():
    """The Dask client per-clip work is sent to, or ``None`` for no Dask.

    ``MER_DASK_SCHEDULER`` set to an address: a client connected to it (once per process,
    cached); unset: a :func:`start_local_cluster` started lazily once per process; ``none`` /
    ``off``, or called inside a Dask worker: ``None``.

    Returns
    -------
    distributed.Client or None

    Raises
    ------
    SchedulerUnreachable
        The address cannot be reached within 10 s.
    """
    raw = os.environ.get(ENV)
    if _disabled(raw) or in_worker():
        return None
    address = scheduler_address(raw)
    with _LOCK:
        if address is None:  # the "LocalCluster by default"
            cluster = _LOCAL.get("cluster")
            if cluster is None or cluster.status.name in ("closed", "closing", "failed"):
                cluster = _LOCAL["cluster"] = start_local_cluster()
            address = cluster.scheduler_address
        client = _CLIENTS.get(address)
        if client is None or client.status in ("closed", "closing"):
            client = _CLIENTS[address] = _connect(address)
        return client


def chunked(items: Sequence, size: int = CHUNK_CLIPS) -> Iterator[Sequence]:
    """Consecutive slices of ``items`` of at most ``size`` (the last may be shorter).

    Parameters
    ----------
    items : sequence
    size : int
        Items per slice (at least 1).

    Yields
    ------
    sequence
    """
    size = max(1, int(size))
    for i in range(0, len(items), size):
        yield items[i:i + size]


def _task(fn: Callable, cache_dir: str, item):
    """Run ``fn(item)`` in a worker: the client's cache folder, and no nested cluster."""
    os.environ["MER_CACHE_DIR"] = cache_dir  # long-lived workers may predate the client's setting
    os.environ[ENV] = "none"
    return fn(item)


def map_clips(fn: Callable, items: Iterable, *, desc: str, progress: bool = True, n_jobs: int = 2,
              unit: str = "clip", prefer: str = "processes", bar=None, dask: bool = True) -> list:
    """``[fn(x) for x in items]``, in order, one task per item, with a progress bar.

    With a Dask client (:func:`get_client`) the items are submitted as tasks
    (``client.map(..., pure=False)``) and the bar follows ``as_completed``; each task first
    sets ``MER_CACHE_DIR`` to this process's cache folder, so the workers read and write the
    same content-keyed cache. Without one (``MER_DASK_SCHEDULER=none``) they run here
    (``n_jobs=1``) or in ``n_jobs`` joblib workers. A single item, or a call inside a Dask
    task, always runs here, in this process.

    Parameters
    ----------
    fn : callable
        A picklable function of one item (a module-level function or a
        :func:`functools.partial` of one). Its errors propagate unchanged (a
        :class:`~mer_helpers.core.media.MediaError` names the clip); the remaining tasks are cancelled.
    items : iterable
        The items, usually clip paths.
    desc : str
        Label of the progress bar.
    progress : bool
        Show the progress bar.
    n_jobs : int
        Worker processes of the no-Dask fallback (``1``: everything in this process); the
        Dask cluster's size is set where it is started.
    unit : str
        Unit of the progress bar.
    prefer : {"processes", "threads"}
        joblib workers of the no-Dask fallback (``threads`` for work that waits on a subprocess).
    bar : progress bar, optional
        An open bar to advance (one per item) instead of a new one: a stage that streams its
        clips chunk by chunk shows one bar over all its chunks. It is left open.
    dask : bool
        ``False``: never the Dask cluster, always this process or ``n_jobs`` joblib processes, for
        work that must run in a process's main thread (the networks of
        :func:`mer_helpers.methods.training.fit_networks`).

    Returns
    -------
    list
        ``fn(x)`` for every item, in the order of ``items``.
    """

    items = list(items)
    own = bar is None
    if own:
        bar = progress_bar(total=len(items), desc=desc, unit=unit, disable=not progress, leave=False)
    try:
        client = None if not dask or len(items) <= 1 or in_worker() else get_client()
        if client is None and (int(n_jobs) == 1 or len(items) <= 1):
            out = []
            for x in items:
                out.append(fn(x))
                bar.update()
            return out
        work = functools.partial(_task, fn, str(cache.cache_root()))
        if client is None:
            from joblib import Parallel, delayed

            out = []
            for r in Parallel(n_jobs=int(n_jobs), prefer=prefer, return_as="generator")(
                    delayed(work)(x) for x in items):
                out.append(r)
                bar.update()
            return out
        return _dask_map(client, work, items, bar)
    finally:
        if own:
            bar.close()


def _dask_map(client, work: Callable, items: Sequence, bar) -> list:
    from distributed import as_completed

    futures = client.map(work, items, pure=False)
    index = {f.key: i for i, f in enumerate(futures)}
    out: list = [None] * len(items)
    try:
        for fut in as_completed(futures, loop=client.loop):
            out[index[fut.key]] = fut.result()  # re-raises the task's exception, message intact
            fut.release()
            bar.update()
    finally:
        client.cancel([f for f in futures if not f.done()])
    return out


@contextlib.contextmanager
def session(scheduler: str | None = None, n_workers: int = LOCAL_WORKERS) -> Iterator[str | None]:
    """The Dask cluster of one ``mer run``, exported to the notebook kernels.

    Sets ``MER_DASK_SCHEDULER`` for the duration (kernels started inside inherit it) and
    restores it afterwards.

    Parameters
    ----------
    scheduler : str, optional
        ``tcp://HOST:PORT`` of an existing scheduler (checked to be reachable first),
        ``none`` / ``off`` for no Dask, or ``None``: ``MER_DASK_SCHEDULER`` if set, else a
        :class:`~distributed.LocalCluster` of ``n_workers`` processes started here and
        closed on exit.
    n_workers : int
        Workers of the local cluster.

    Yields
    ------
    str or None
        The scheduler address in use, ``None`` without Dask.

    Raises
    ------
    SchedulerUnreachable
        ``scheduler`` cannot be reached.
    """
    value = scheduler if scheduler is not None else os.environ.get(ENV)
    old = os.environ.get(ENV)
    cluster = None
    try:
        if _disabled(value):
            os.environ[ENV] = "none"
            yield None
            return
        address = scheduler_address(value)
        if address is None:
            cluster = start_local_cluster(n_workers)
            address = cluster.scheduler_address
        else:
            _connect(address).close()  # fail within seconds, naming the address
        os.environ[ENV] = address
        yield address
    finally:
        if old is None:
            os.environ.pop(ENV, None)
        else:
            os.environ[ENV] = old
        if cluster is not None:
            for addr in [a for a in _CLIENTS if a == cluster.scheduler_address]:
                _CLIENTS.pop(addr).close()
            cluster.close()


def current_client():
    """The Dask client already in use in this process, without starting anything: a client for
    ``MER_DASK_SCHEDULER``'s address, or one of the local cluster :func:`get_client` started;
    ``None`` when Dask is off, inside a worker, or no cluster is running yet.

    Returns
    -------
    distributed.Client or None
    """
    raw = os.environ.get(ENV)
    if _disabled(raw) or in_worker():
        return None
    if scheduler_address(raw) is None and _LOCAL.get("cluster") is None:
        return None
    return get_client()


@contextlib.contextmanager
def joblib_backend(**backend_kwargs) -> Iterator[Any]:
    """Run joblib (and so scikit-learn's ``n_jobs``) on the Dask cluster while inside.

    When a cluster is in use (:func:`current_client`: ``MER_DASK_SCHEDULER`` names one, as in
    every notebook of ``mer run``), ``joblib.parallel_config(backend="dask", ...)``: every
    ``joblib.Parallel`` in the block sends its batches to the cluster's workers. Otherwise a
    no-op (yields ``None``): no cluster is started only for this.

    Parameters
    ----------
    **backend_kwargs
        Passed to joblib's Dask backend, e.g. ``scatter=[X, y]`` (arrays sent to the workers
        once for the whole block instead of once per ``Parallel`` call).

    Yields
    ------
    distributed.Client or None
        The client in use.
    """
    client = current_client()
    if client is None:
        yield None
        return
    from joblib import parallel_config

    with parallel_config(backend="dask", client=client, **backend_kwargs):
        yield client
