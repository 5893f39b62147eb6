"""Content-keyed cache for expensive per-clip stages, verified on every read.

A key combines the *bytes* of the input files (not their names or dates) with the parameters
that change the result and a stage version string, so renaming a clip reuses its entry and
changing a parameter does not. A derived entry may name the keys it was computed from
(``make_key(..., inputs=[parent keys])``), so it changes whenever one of them does. The cache
folder is ``$MER_CACHE_DIR`` or ``~/.cache/mer-book``.

Reliability (:func:`cached_arrays`, :func:`cached_file`):

* every entry ``<key><suffix>`` has a sidecar ``<key><suffix>.sha256`` (JSON: ``sha256`` and
  ``size`` of the entry's bytes, ``stage``, ``key``, optional ``derived_from``), written
  atomically after the entry. A read checks size and checksum (hashed once per process per
  path, size and modification time); a damaged or truncated entry, or one without a valid
  sidecar, is discarded and recomputed.
* check-compute-write runs under an exclusive ``fcntl.flock`` on ``<key><suffix>.lock``, so two
  processes asking for the same entry compute it once: the second waits, then reads it.
* entries and sidecars are written to a temporary file and renamed (no torn writes).
* :func:`stats` counts, per stage and per process, ``hits`` (a verified entry served),
  ``misses`` (absent, computed) and ``rebuilt`` (present but damaged or unsealed, recomputed).
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import threading
from collections import defaultdict
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import numpy as np

from mer_helpers.io import _tmp_beside, atomic_write_text

try:  # POSIX; elsewhere entries are still verified and written atomically, just not locked
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None

SIDECAR_SUFFIX = ".sha256"
LOCK_SUFFIX = ".lock"

_STATS: dict[str, dict[str, int]] = defaultdict(lambda: {"hits": 0, "misses": 0, "rebuilt": 0})
_STATS_LOCK = threading.Lock()


def cache_root() -> Path:
    root = Path(os.environ.get("MER_CACHE_DIR") or Path.home() / ".cache" / "mer-book")
    root.mkdir(parents=True, exist_ok=True)
    return root


@lru_cache(maxsize=65536)
def _file_digest(path: str, size: int, mtime_ns: int) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def file_digest(path: str | os.PathLike) -> str:
    """SHA-256 of a file's bytes (memoised per path, size and modification time)."""
    st = os.stat(path)
    return _file_digest(str(Path(path).resolve()), st.st_size, st.st_mtime_ns)


def array_digest(a: np.ndarray) -> str:
    a = np.ascontiguousarray(a)
    h = hashlib.sha256(str((a.dtype.str, a.shape)).encode())
    h.update(a.tobytes())
    return h.hexdigest()


def make_key(stage: str, *, files: tuple | list = (), arrays: tuple | list = (),
             inputs: Iterable[str] = (), **params: Any) -> str:
    """Key for ``stage`` from file contents, array contents, the keys of the entries it is
    derived from (``inputs``) and JSON-able parameters. Without ``inputs`` the key is the same
    as that of earlier versions."""
    h = hashlib.sha256(stage.encode())
    for f in files:
        h.update(file_digest(f).encode())
    for a in arrays:
        h.update(array_digest(np.asarray(a)).encode())
    h.update(json.dumps(params, sort_keys=True, default=str).encode())
    parents = [str(k) for k in inputs]
    if parents:
        h.update(json.dumps({"inputs": parents}).encode())
    return h.hexdigest()[:32]


def entry_path(stage: str, key: str, suffix: str = ".npz") -> Path:
    d = cache_root() / stage / key[:2]
    d.mkdir(parents=True, exist_ok=True)
    return d / f"{key}{suffix}"


def sidecar_path(path: str | os.PathLike) -> Path:
    path = Path(path)
    return path.with_name(path.name + SIDECAR_SUFFIX)


# --------------------------------------------------------------------------- counters

def _count(stage: str, what: str) -> None:
    with _STATS_LOCK:
        _STATS[stage][what] += 1


def stats() -> dict[str, dict[str, int]]:
    """``{stage: {"hits", "misses", "rebuilt"}}`` of this process since :func:`reset_stats`.
    Work done in worker processes (joblib) is counted there, not here."""
    with _STATS_LOCK:
        return {k: dict(v) for k, v in _STATS.items()}


def reset_stats() -> None:
    with _STATS_LOCK:
        _STATS.clear()


# --------------------------------------------------------------------------- sidecars

def write_sidecar(path: str | os.PathLike, stage: str | None = None, key: str | None = None,
                  derived_from: Iterable[str] | None = None) -> Path:
    """Seal the entry ``path``: write ``<path>.sha256`` (atomically) with its size and checksum."""
    path = Path(path)
    st = os.stat(path)
    record = {"sha256": _file_digest(str(path.resolve()), st.st_size, st.st_mtime_ns),
              "size": st.st_size, "stage": stage, "key": key}
    if derived_from:
        record["derived_from"] = [str(k) for k in derived_from]
    return atomic_write_text(sidecar_path(path), json.dumps(record, sort_keys=True))


def read_sidecar(path: str | os.PathLike) -> dict | None:
    """The sidecar record of entry ``path``, or ``None`` when it is missing or unreadable."""
    try:
        rec = json.loads(sidecar_path(path).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(rec, dict) or not isinstance(rec.get("sha256"), str) or not isinstance(rec.get("size"), int):
        return None
    return rec


def verify_entry(path: str | os.PathLike) -> bool:
    """Does entry ``path`` exist with a valid sidecar whose size and SHA-256 match its bytes?

    The checksum is computed once per process per (path, size, modification time)."""
    path = Path(path)
    try:
        st = os.stat(path)
    except OSError:
        return False
    rec = read_sidecar(path)
    if rec is None or rec["size"] != st.st_size:
        return False
    try:
        return _file_digest(str(path.resolve()), st.st_size, st.st_mtime_ns) == rec["sha256"]
    except OSError:
        return False


def discard(path: str | os.PathLike) -> None:
    """Remove an entry and its sidecar (not its lock file)."""
    path = Path(path)
    path.unlink(missing_ok=True)
    sidecar_path(path).unlink(missing_ok=True)


@contextlib.contextmanager
def entry_lock(path: str | os.PathLike) -> Iterator[None]:
    """Exclusive lock on ``<path>.lock`` (``fcntl.flock``; blocks until free). The lock file
    stays: removing it would let a third process lock a different file."""
    path = Path(path)
    if fcntl is None:  # pragma: no cover
        yield
        return
    lock = path.with_name(path.name + LOCK_SUFFIX)
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _cached(stage: str, key: str, path: Path, read: Callable[[Path], Any], make: Callable[[], Any],
            derived_from: Iterable[str] | None) -> Any:
    """Serve a verified entry, or (under the entry's lock) discard a bad one and make it."""
    if verify_entry(path):
        try:
            value = read(path)
            _count(stage, "hits")
            return value
        except Exception:  # checksum fine but unreadable (e.g. written by a broken writer)
            pass
    with entry_lock(path):
        if verify_entry(path):  # made by another process while we waited
            try:
                value = read(path)
                _count(stage, "hits")
                return value
            except Exception:
                pass
        damaged = path.exists() or sidecar_path(path).exists()
        discard(path)
        value = make()
        write_sidecar(path, stage, key, derived_from)
        _count(stage, "rebuilt" if damaged else "misses")
        return value


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def cached_arrays(stage: str, key: str, compute: Callable[[], dict[str, np.ndarray]], *,
                  derived_from: Iterable[str] | None = None) -> dict[str, np.ndarray]:
    """Return the arrays stored under ``(stage, key)``, computing and storing them if absent
    (or damaged). ``derived_from``: keys of the entries they were computed from (recorded in
    the sidecar)."""
    path = entry_path(stage, key, ".npz")

    def make():
        arrays = compute()
        tmp = _tmp_beside(path, suffix=".npz")
        try:
            np.savez(tmp, **arrays)
            os.replace(tmp, path)
        finally:
            if tmp.exists():
                tmp.unlink()
        return arrays

    return _cached(stage, key, path, _read_npz, make, derived_from)


def cached_file(stage: str, key: str, suffix: str, produce: Callable[[Path], None], *,
                derived_from: Iterable[str] | None = None) -> Path:
    """Path of a cached file; ``produce(tmp_path)`` writes it when absent or damaged (then it
    is renamed into place and sealed)."""
    path = entry_path(stage, key, suffix)

    def make():
        tmp = _tmp_beside(path, suffix=suffix)
        try:
            produce(tmp)
            os.replace(tmp, path)
        finally:
            if tmp.exists():
                tmp.unlink()
        return path

    return _cached(stage, key, path, lambda p: p, make, derived_from)
