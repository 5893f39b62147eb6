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
* every read is counted (``hit``, ``miss`` or ``rebuilt``; per process, per thread and, with
  ``$MER_CACHE_LOG`` set, across processes): :mod:`mer_helpers.core.cache_events`.
* entries written in batches (:func:`lookup` + :func:`store`, e.g. the backbone features),
  JSON entries (:func:`cached_json`) and whole folders (:func:`check_tree` + :func:`seal_tree`)
  are sealed and verified the same way.
* a temporary file left by a writer that was killed is removed by the next writer of that
  entry (under the entry's lock).
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import numpy as np

from mer_helpers.core.cache_events import count
from mer_helpers.core.fileio import atomic_write, atomic_write_text, file_sha256, tree_checksums

try:  # POSIX; elsewhere entries are still verified and written atomically, just not locked
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None

SIDECAR_SUFFIX = ".sha256"
LOCK_SUFFIX = ".lock"



def cache_root() -> Path:
    """The cache folder: ``$MER_CACHE_DIR`` or ``~/.cache/mer-book`` (created if needed).

    Returns
    -------
    pathlib.Path
    """
    root = Path(os.environ.get("MER_CACHE_DIR") or Path.home() / ".cache" / "mer-book")
    root.mkdir(parents=True, exist_ok=True)
    return root


@lru_cache(maxsize=65536)
def _file_digest(path: str, size: int, mtime_ns: int) -> str:
    return file_sha256(path)


def file_digest(path: str | os.PathLike) -> str:
    """SHA-256 of a file's bytes (memoised per path, size and modification time).

    Parameters
    ----------
    path : path-like
        The file to hash.

    Returns
    -------
    str
        Hex digest.
    """
    st = os.stat(path)
    return _file_digest(str(Path(path).resolve()), st.st_size, st.st_mtime_ns)


def array_digest(a: np.ndarray) -> str:
    """SHA-256 of an array's dtype, shape and bytes (C order).

    Parameters
    ----------
    a : numpy.ndarray
        Any array.

    Returns
    -------
    str
        Hex digest.
    """
    a = np.ascontiguousarray(a)
    h = hashlib.sha256(str((a.dtype.str, a.shape)).encode())
    h.update(a.tobytes())
    return h.hexdigest()


def make_key(stage: str, *, files: tuple | list = (), arrays: tuple | list = (),
             inputs: Iterable[str] = (), **params: Any) -> str:
    """Key for ``stage`` from file contents, array contents, the keys of the entries it is
    derived from (``inputs``) and JSON-able parameters.

    Parameters
    ----------
    stage : str
        The cache's sub-folder (part of the key).
    files : sequence of path-like
        Files whose bytes the entry depends on.
    arrays : sequence of numpy.ndarray
        Arrays whose contents it depends on.
    inputs : iterable of str
        Keys of the entries it is derived from; without them the key is the same as that of
        earlier versions.
    **params
        JSON-able parameters.

    Returns
    -------
    str
        32 hex characters.
    """
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
    """Where entry ``(stage, key)`` lives: ``<root>/<stage>/<key[:2]>/<key><suffix>`` (folder created).

    Parameters
    ----------
    stage : str
        The stage's folder.
    key : str
        From :func:`make_key`.
    suffix : str
        Ending of the file name.

    Returns
    -------
    pathlib.Path
    """
    d = cache_root() / stage / key[:2]
    d.mkdir(parents=True, exist_ok=True)
    return d / f"{key}{suffix}"


def sidecar_path(path: str | os.PathLike) -> Path:
    """The sidecar of an entry: ``<path>.sha256``.

    Parameters
    ----------
    path : path-like
        A cache entry (file or folder).

    Returns
    -------
    pathlib.Path
    """
    path = Path(path)
    return path.with_name(path.name + SIDECAR_SUFFIX)


# --------------------------------------------------------------------------- sidecars

def write_sidecar(path: str | os.PathLike, stage: str | None = None, key: str | None = None,
                  derived_from: Iterable[str] | None = None) -> Path:
    """Seal the entry ``path``: write ``<path>.sha256`` (atomically) with its size and checksum.

    Parameters
    ----------
    path : path-like
        The entry, complete.
    stage, key : str, optional
        Recorded in the sidecar.
    derived_from : iterable of str, optional
        Keys of the entries it was computed from (recorded).

    Returns
    -------
    pathlib.Path
        The sidecar.
    """
    path = Path(path)
    st = os.stat(path)
    record = {"sha256": _file_digest(str(path.resolve()), st.st_size, st.st_mtime_ns),
              "size": st.st_size, "stage": stage, "key": key}
    if derived_from:
        record["derived_from"] = [str(k) for k in derived_from]
    return atomic_write_text(sidecar_path(path), json.dumps(record, sort_keys=True))


def _read_sidecar(path: str | os.PathLike) -> dict | None:
    """The sidecar record of entry ``path``.

    Parameters
    ----------
    path : path-like
        The entry (not the sidecar).

    Returns
    -------
    dict or None
        ``None`` when the sidecar is missing or unreadable.
    """
    try:
        rec = json.loads(sidecar_path(path).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(rec, dict) or not isinstance(rec.get("sha256"), str) or not isinstance(rec.get("size"), int):
        return None
    return rec


def verify_entry(path: str | os.PathLike) -> bool:
    """Does entry ``path`` exist with a valid sidecar whose size and SHA-256 match its bytes?

    The checksum is computed once per process per (path, size, modification time).

    Parameters
    ----------
    path : path-like
        The entry file.

    Returns
    -------
    bool
    """
    path = Path(path)
    try:
        st = os.stat(path)
    except OSError:
        return False
    rec = _read_sidecar(path)
    if rec is None or rec["size"] != st.st_size:
        return False
    try:
        return _file_digest(str(path.resolve()), st.st_size, st.st_mtime_ns) == rec["sha256"]
    except OSError:
        return False


def discard(path: str | os.PathLike) -> None:
    """Remove an entry and its sidecar (not its lock file).

    Parameters
    ----------
    path : path-like
        The entry; missing files are ignored.

    Returns
    -------
    None
    """
    path = Path(path)
    path.unlink(missing_ok=True)
    sidecar_path(path).unlink(missing_ok=True)


@contextlib.contextmanager
def entry_lock(path: str | os.PathLike) -> Iterator[None]:
    """Exclusive lock on ``<path>.lock`` (``fcntl.flock``; blocks until free), as a ``with`` block.

    The lock file stays: removing it would let a third process lock a different file.

    Parameters
    ----------
    path : path-like
        The entry to lock.

    Yields
    ------
    None
    """
    path = Path(path)
    if fcntl is None:  # pragma: no cover
        yield
        return
    lock = path.with_name(path.name + LOCK_SUFFIX)
    lock.parent.mkdir(parents=True, exist_ok=True)
    try:  # the first process writes one line, so that no zero-byte file is left in the cache
        fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o666)
        os.write(fd, f"lock of {path.name}\n".encode())
    except FileExistsError:
        fd = os.open(lock, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _remove_stale_temporaries(path: str | os.PathLike) -> int:
    """Remove the temporary files of entry ``path`` and of its sidecar (``.<name>.*.tmp*``, see
    :func:`mer_helpers.core.fileio.atomic_write`) left by a writer that was killed.

    Call it holding the entry's lock: only the lock holder writes them.

    Parameters
    ----------
    path : path-like
        The entry.

    Returns
    -------
    int
        How many were removed.
    """
    path = Path(path)
    n = 0
    for name in (path.name, sidecar_path(path).name):
        for tmp in path.parent.glob(f".{_glob_escape(name)}.*.tmp*"):
            try:
                if tmp.is_dir():
                    continue
                tmp.unlink()
                n += 1
            except OSError:
                pass
    return n


def _glob_escape(name: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in name)


def _cached(stage: str, key: str, path: Path, read: Callable[[Path], Any], make: Callable[[], Any],
            derived_from: Iterable[str] | None) -> Any:
    """Serve a verified entry, or (under the entry's lock) discard a bad one and make it."""
    if verify_entry(path):
        try:
            value = read(path)
            count(stage, "hits", key)
            return value
        except Exception:  # checksum fine but unreadable (e.g. written by a broken writer)
            pass
    with entry_lock(path):
        if verify_entry(path):  # made by another process while we waited
            try:
                value = read(path)
                count(stage, "hits", key)
                return value
            except Exception:
                pass
        damaged = path.exists() or sidecar_path(path).exists()
        discard(path)
        _remove_stale_temporaries(path)
        value = make()
        write_sidecar(path, stage, key, derived_from)
        count(stage, "rebuilt" if damaged else "misses", key)
        return value


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def cached_arrays(stage: str, key: str, compute: Callable[[], dict[str, np.ndarray]], *,
                  derived_from: Iterable[str] | None = None) -> dict[str, np.ndarray]:
    """The arrays stored under ``(stage, key)``, computed and stored if absent (or damaged).

    Parameters
    ----------
    stage, key : str
        The entry.
    compute : callable
        ``compute() -> {name: array}``, called on a miss.
    derived_from : iterable of str, optional
        Keys of the entries they were computed from (recorded in the sidecar).

    Returns
    -------
    dict
        Name → array.
    """
    path = entry_path(stage, key, ".npz")

    def make():
        arrays = compute()
        atomic_write(path, lambda tmp: np.savez(tmp, **arrays), suffix=".npz")
        return arrays

    return _cached(stage, key, path, _read_npz, make, derived_from)


def cached_file(stage: str, key: str, suffix: str, produce: Callable[[Path], None], *,
                derived_from: Iterable[str] | None = None) -> Path:
    """Path of a cached file; ``produce(tmp_path)`` writes it when absent or damaged (then it
    is renamed into place and sealed).

    Parameters
    ----------
    stage, key : str
        Which entry.
    suffix : str
        Ending of its file name.
    produce : callable
        ``produce(tmp_path)``.
    derived_from : iterable of str, optional
        Recorded in its sidecar.

    Returns
    -------
    pathlib.Path
    """
    path = entry_path(stage, key, suffix)

    def make():
        return atomic_write(path, produce, suffix=suffix)

    return _cached(stage, key, path, lambda p: p, make, derived_from)


def cached_json(stage: str, key: str, compute: Callable[[], Any], *,
                derived_from: Iterable[str] | None = None) -> Any:
    """Like :func:`cached_arrays` for a JSON-able value (stored as ``<key>.json``).

    Parameters
    ----------
    stage, key : str
        Entry names.
    compute : callable
        ``compute() -> value``.
    derived_from : iterable of str, optional
        The source entries' keys.

    Returns
    -------
    object
        The value as a later hit returns it (tuples become lists, ...).
    """
    path = entry_path(stage, key, ".json")

    def make():
        value = compute()
        atomic_write_text(path, json.dumps(value))
        return json.loads(path.read_text())  # what a later hit returns (tuples -> lists, ...)

    return _cached(stage, key, path, lambda p: json.loads(p.read_text()), make, derived_from)


# --------------------------------------------------------------------------- batch writers

def lookup(stage: str, key: str, suffix: str, read: Callable[[Path], Any]) -> tuple[bool, Any]:
    """For writers that compute many entries at once (:func:`store` afterwards).

    A damaged or unsealed entry is discarded and counted ``rebuilt``, an absent one ``misses``:
    the caller is expected to compute and :func:`store` it.

    Parameters
    ----------
    stage, key, suffix : str
        The entry's file.
    read : callable
        ``read(path) -> value`` for a verified entry.

    Returns
    -------
    tuple
        ``(True, value)`` for a verified entry (counted as a hit), else ``(False, None)``.
    """
    path = entry_path(stage, key, suffix)

    def verified_read() -> tuple[bool, Any]:
        if verify_entry(path):
            try:
                value = read(path)
                count(stage, "hits", key)
                return True, value
            except Exception:
                pass
        return False, None

    found = verified_read()
    if found[0]:
        return found
    damaged = path.exists() or sidecar_path(path).exists()
    if damaged:
        with entry_lock(path):
            found = verified_read()  # rewritten by another process meanwhile?
            if found[0]:
                return found
            discard(path)
    count(stage, "rebuilt" if damaged else "misses", key)
    return False, None


def store(stage: str, key: str, suffix: str, write: Callable[[Path], None], *,
          derived_from: Iterable[str] | None = None) -> Path:
    """Write and seal entry ``(stage, key)`` under the entry's lock.

    ``write(tmp_path)`` writes the bytes, then they are renamed into place and the sidecar
    written. An entry that another process sealed meanwhile is kept (same key, same content).

    Parameters
    ----------
    stage, key, suffix : str
        The entry's file.
    write : callable
        ``write(tmp_path)``.
    derived_from : iterable of str, optional
        Keys recorded in the sidecar.

    Returns
    -------
    pathlib.Path
        The entry.
    """
    path = entry_path(stage, key, suffix)
    with entry_lock(path):
        if verify_entry(path):
            return path
        _remove_stale_temporaries(path)
        atomic_write(path, write, suffix=suffix)
        write_sidecar(path, stage, key, derived_from)
    return path


# --------------------------------------------------------------------------- folder entries

def _tree_files(root: Path) -> dict[str, dict[str, Any]]:
    return tree_checksums(root, digest=file_digest)  # memoised digests; hidden files left out


def seal_tree(root: str | os.PathLike, stage: str | None = None, key: str | None = None) -> Path:
    """Seal a folder entry: ``<root>.sha256`` lists the size and SHA-256 of every file under it
    (hidden files left out); its own ``sha256``/``size`` are over that list and the total size.

    Parameters
    ----------
    root : path-like
        The folder, complete.
    stage, key : str, optional
        Recorded in the seal.

    Returns
    -------
    pathlib.Path
        The seal file.
    """
    root = Path(root)
    files = _tree_files(root)
    listing = json.dumps(files, sort_keys=True).encode()
    record = {"sha256": hashlib.sha256(listing).hexdigest(), "size": sum(f["size"] for f in files.values()),
              "stage": stage, "key": key, "files": files}
    return atomic_write_text(sidecar_path(root), json.dumps(record, sort_keys=True))


def check_tree(root: str | os.PathLike, stage: str, key: str | None = None) -> str:
    """Check a folder entry against its :func:`seal_tree` record, before the caller (re)builds
    or reuses it, holding :func:`entry_lock` on ``root``.

    Parameters
    ----------
    root : path-like
        The folder entry.
    stage : str
        Counted under this stage.
    key : str, optional
        Recorded with the event.

    Returns
    -------
    str
        ``"hit"`` (every sealed file is there with its checksum), ``"miss"`` (no folder) or
        ``"rebuilt"`` (no valid seal, or damaged files: those are deleted so the caller's
        builder makes them again; files the seal does not list are left to the builder).
    """
    root = Path(root)
    rec = _read_sidecar(root)
    if not root.is_dir():
        count(stage, "misses", key)
        return "miss"
    files = rec.get("files") if rec else None
    if not isinstance(files, dict):
        count(stage, "rebuilt", key)
        return "rebuilt"
    bad = 0
    for rel, want in files.items():
        p = root / rel
        try:
            st = p.stat()
            ok = (st.st_size == want.get("size") and
                  _file_digest(str(p.resolve()), st.st_size, st.st_mtime_ns) == want.get("sha256"))
        except OSError:
            ok = False
        if not ok:
            bad += 1
            p.unlink(missing_ok=True)
    what = "rebuilt" if bad else "hits"
    count(stage, what, key)
    return "rebuilt" if bad else "hit"
