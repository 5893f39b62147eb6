"""What the content-keyed cache (:mod:`mer_helpers.core.cache`) did: its counters and event log.

Every read of an entry is one event, ``hit`` (a verified entry served), ``miss`` (absent,
computed) or ``rebuilt`` (present but damaged or unsealed, recomputed), recorded three ways:

* :func:`stats`: per stage and per process, since :func:`reset_stats`;
* :func:`track`: the events of the current thread inside a ``with`` block (what one call did);
* ``$MER_CACHE_LOG``: when set to a file, every event of every process is appended to it as one
  JSON line (``pid``, ``stage``, ``key``, ``event``), so work done across processes can be
  counted (:func:`read_log`).
"""
from __future__ import annotations

import contextlib
import json
import os
import threading
from collections import defaultdict
from pathlib import Path
from typing import Iterator

_STATS: dict[str, dict[str, int]] = defaultdict(lambda: {"hits": 0, "misses": 0, "rebuilt": 0})
_STATS_LOCK = threading.Lock()
_TRACK = threading.local()
#: event name (:func:`track`, ``$MER_CACHE_LOG``) -> counter name (:func:`stats`)
EVENTS = {"hit": "hits", "miss": "misses", "rebuilt": "rebuilt"}
_EVENT_OF = {v: k for k, v in EVENTS.items()}


def count(stage: str, what: str, key: str | None = None) -> None:
    """Record one event (``what``: a counter name of :data:`EVENTS`): the per-process counters,
    the current thread's :func:`track` lists and the ``$MER_CACHE_LOG`` file."""
    with _STATS_LOCK:
        _STATS[stage][what] += 1
    event = _EVENT_OF[what]
    for events in getattr(_TRACK, "stack", ()):
        events.append((stage, key, event))
    log = os.environ.get("MER_CACHE_LOG")
    if log:
        line = json.dumps({"pid": os.getpid(), "stage": stage, "key": key, "event": event}) + "\n"
        try:  # one write() on an O_APPEND descriptor: lines of concurrent processes do not mix
            fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
            try:
                os.write(fd, line.encode())
            finally:
                os.close(fd)
        except OSError:
            pass


@contextlib.contextmanager
def track() -> Iterator[list[tuple[str, str | None, str]]]:
    """Collect the cache events of the current thread inside the ``with`` block.

    Blocks may be nested; work done in other processes is not seen (see ``$MER_CACHE_LOG``).

    Yields
    ------
    list of tuple
        ``(stage, key, event)``, event ``hit`` (verified entry served), ``miss`` or ``rebuilt``,
        filled while the block runs.
    """
    events: list[tuple[str, str | None, str]] = []
    stack = getattr(_TRACK, "stack", None)
    if stack is None:
        stack = _TRACK.stack = []
    stack.append(events)
    try:
        yield events
    finally:
        stack.remove(events)


def read_log(path: str | os.PathLike) -> list[dict]:
    """The events of a ``$MER_CACHE_LOG`` file (unreadable lines skipped).

    Parameters
    ----------
    path : path-like
        The log (JSON lines); a missing file gives no events.

    Returns
    -------
    list of dict
    """
    out = []
    try:
        lines = Path(path).read_text().splitlines()
    except OSError:
        return out
    for ln in lines:
        try:
            out.append(json.loads(ln))
        except ValueError:
            continue
    return out


def stats() -> dict[str, dict[str, int]]:
    """Cache counts of this process since :func:`reset_stats`.

    Work done in worker processes (joblib) is counted there, not here.

    Returns
    -------
    dict
        ``{stage: {"hits", "misses", "rebuilt"}}``.
    """
    with _STATS_LOCK:
        return {k: dict(v) for k, v in _STATS.items()}


def reset_stats() -> None:
    """Set the counts of :func:`stats` back to nothing.

    Returns
    -------
    None
    """
    with _STATS_LOCK:
        _STATS.clear()
