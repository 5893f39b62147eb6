"""Artifact paths, atomic writes, file checksums and metrics fragments shared by every notebook.

Files written here get the mode a plain ``open(path, "w")`` would give them (``0666`` less the
process's umask; an existing file keeps its mode), not the ``0600`` of a temporary file.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import tempfile
import zipfile
from pathlib import Path
from typing import Any, Mapping

import numpy as np


def artifacts_dir(out_dir: str | os.PathLike) -> Path:
    """``OUT/artifacts`` (created if needed).

    Parameters
    ----------
    out_dir : path-like
        The run folder ``OUT``.

    Returns
    -------
    pathlib.Path
        The artifacts folder.
    """
    p = Path(out_dir) / "artifacts"
    p.mkdir(parents=True, exist_ok=True)
    return p


def model_dir(out_dir: str | os.PathLike, stage: str | None = None) -> Path:
    """``OUT/model[/stage]`` (created if needed): the bundle `mer predict` loads.

    Parameters
    ----------
    out_dir : path-like
        The run folder that holds the bundle.
    stage : str, optional
        A sub-folder of the bundle (e.g. ``audio``).

    Returns
    -------
    pathlib.Path
    """
    p = Path(out_dir) / "model"
    if stage:
        p = p / stage
    p.mkdir(parents=True, exist_ok=True)
    return p


def _current_umask() -> int:
    """The process's umask, read without changing it where Linux shows it (``/proc/self/status``);
    elsewhere set and restored once."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    old = os.umask(0o022)
    os.umask(old)
    return old


#: read once at import: changing the umask while threads create files is not safe
_UMASK = _current_umask()


def _publish(tmp: Path, path: Path) -> None:
    """Rename the finished temporary ``tmp`` onto ``path``, first giving it ``path``'s mode when
    ``path`` exists, else ``0666`` less the umask (``mkstemp`` creates ``0600`` files)."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError:
        mode = 0o666 & ~_UMASK
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def _tmp_beside(path: Path, suffix: str = "") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="." + path.name + ".", suffix=".tmp" + suffix, dir=path.parent)
    os.close(fd)
    return Path(tmp)


def atomic_write(path: str | os.PathLike, write, suffix: str = "") -> Path:
    """The one write-to-a-temporary-then-rename of the package: ``write(tmp)`` fills a temporary
    file beside ``path`` (named ``.<name>.<random>.tmp<suffix>``, so writers that look at the
    suffix, such as ``np.savez`` or Keras, still work), which is then renamed onto ``path``.
    A reader never sees a half-written file; a failed write leaves nothing behind.

    Parameters
    ----------
    path : path-like
        The final file (parent folders are created).
    write : callable
        ``write(tmp: Path)``; whatever it raises is raised again after the temporary file is removed.
    suffix : str
        Ending of the temporary name (``".npz"``, ``".keras"``, ...).

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    path = Path(path)
    tmp = _tmp_beside(path, suffix=suffix)
    try:
        write(tmp)
        _publish(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` through :func:`atomic_write`.

    Parameters
    ----------
    path : path-like
        The file to replace (or create).
    data : bytes
        Its whole new content.

    Returns
    -------
    pathlib.Path
        ``path``, complete.
    """
    return atomic_write(path, lambda tmp: tmp.write_bytes(data))


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` as UTF-8 to ``path`` through :func:`atomic_write`.

    Parameters
    ----------
    path : path-like
        Target file.
    text : str
        Encoded as UTF-8, no newline added.

    Returns
    -------
    pathlib.Path
    """
    return atomic_write_bytes(path, text.encode("utf-8"))


def file_sha256(path: str | os.PathLike) -> str:
    """SHA-256 of a file's bytes, read in 1 MiB blocks.

    Parameters
    ----------
    path : path-like

    Returns
    -------
    str
        Hex digest.
    """
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def tree_checksums(root: str | os.PathLike, digest=None, skip: tuple[str, ...] = ()) -> dict[str, dict[str, Any]]:
    """``{relative posix path: {"sha256", "size"}}`` of every file under ``root``, sorted; hidden
    files (temporary files of writers) and the relative paths in ``skip`` are left out.

    Parameters
    ----------
    root : path-like
        A folder.
    digest : callable or None
        ``digest(path) -> hex`` (default :func:`file_sha256`).
    skip : tuple of str
        Relative paths not listed.

    Returns
    -------
    dict
    """
    root = Path(root)
    digest = digest or file_sha256
    files = {}
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        if p.is_file() and not p.name.startswith(".") and rel not in skip:
            files[rel] = {"sha256": digest(p), "size": p.stat().st_size}
    return files


#: the file a checksummed folder (a model bundle) lists its files in
CHECKSUMS_FILE = "checksums.json"
CHECKSUMS_FORMAT = "mer-checksums"


def write_checksums(root: str | os.PathLike) -> Path:
    """List the size and SHA-256 of every file under ``root`` in ``root/checksums.json``, so that
    :func:`verify_checksums` can later name a file that went missing or changed.

    Parameters
    ----------
    root : path-like
        The folder, complete (e.g. a model bundle just saved).

    Returns
    -------
    pathlib.Path
        The ``checksums.json`` written.
    """
    root = Path(root)
    files = tree_checksums(root, skip=(CHECKSUMS_FILE,))
    return write_json(root / CHECKSUMS_FILE, {"format": CHECKSUMS_FORMAT, "version": 1, "files": files})


def verify_checksums(root: str | os.PathLike) -> list[tuple[Path, str]] | None:
    """Check the files under ``root`` against ``root/checksums.json``.

    Parameters
    ----------
    root : path-like

    Returns
    -------
    list of (Path, str) or None
        ``None`` when there is no ``checksums.json`` (a folder written before checksums were
        kept); else one ``(file, reason)`` per listed file that is missing or whose size or
        SHA-256 differs, or for ``checksums.json`` itself when it cannot be read (empty: all fine).
    """
    root = Path(root)
    listing = root / CHECKSUMS_FILE
    if not listing.exists():
        return None
    try:
        rec = read_json(listing)
        files = rec["files"]
        if rec.get("format") != CHECKSUMS_FORMAT or not isinstance(files, dict):
            raise ValueError(f"not a {CHECKSUMS_FORMAT} file")
        items = [(str(rel), int(want["size"]), str(want["sha256"])) for rel, want in files.items()]
    except (OSError, ValueError, KeyError, TypeError) as e:
        return [(listing, f"cannot be read ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})")]
    out = []
    for rel, size, sha in items:
        p = root / rel
        if not p.is_file():
            out.append((p, "missing (listed in checksums.json)"))
        elif p.stat().st_size != size:
            out.append((p, f"damaged: {p.stat().st_size} bytes, {size} when it was saved"))
        elif file_sha256(p) != sha:
            out.append((p, "damaged: its SHA-256 differs from the one written when it was saved"))
    return out


def _json_default(o: Any):
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, np.bool_):
        return bool(o)
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Write ``obj`` as indented JSON (numpy scalars and arrays, paths converted) atomically.

    Parameters
    ----------
    path : path-like
    obj : object
        Anything :func:`json.dumps` takes after the conversions.

    Returns
    -------
    pathlib.Path
    """
    return atomic_write_text(path, json.dumps(obj, indent=2, default=_json_default) + "\n")


def read_json(path: str | os.PathLike) -> Any:
    """Read a UTF-8 JSON file.

    Parameters
    ----------
    path : path-like
        A file written by :func:`write_json` or any JSON text.

    Returns
    -------
    object
        What the file holds.
    """
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def read_saved(directory: str | os.PathLike, filename: str, what: str, written_by: str) -> Any:
    """The JSON description of a saved component (``directory/filename``), or a
    ``FileNotFoundError`` that says what should be there and what writes it.

    Parameters
    ----------
    directory : path-like
        The component's folder.
    filename : str
        Its JSON file (e.g. ``config.json``).
    what, written_by : str
        For the error message: what the component is and what writes it.

    Returns
    -------
    object
        The parsed JSON.
    """
    path = Path(directory) / filename
    if not path.exists():
        raise FileNotFoundError(f"{path}: no saved {what} here (expected {filename} written by {written_by})")
    return read_json(path)


def link_or_copy(src: str | os.PathLike, dst: str | os.PathLike) -> Path:
    """``dst`` with the content of ``src``: a hard link (no time, no space), or a copy where the
    file system refuses one; published atomically as :func:`atomic_write` does. Safe for the
    run's artifacts: they are always replaced by a rename, never rewritten in place, so a later
    write of either name leaves the other as it was.

    Parameters
    ----------
    src, dst : path-like

    Returns
    -------
    pathlib.Path
        ``dst``.
    """
    src = Path(src)

    def put(tmp: Path) -> None:
        tmp.unlink()
        try:
            os.link(src, tmp)
        except OSError:
            shutil.copyfile(src, tmp)

    return atomic_write(dst, put, suffix=Path(dst).suffix)


def save_npz(path: str | os.PathLike, **arrays: Any) -> Path:
    """``np.savez`` written atomically (the temporary name keeps the .npz suffix).

    Not deflated: float features shrink by a quarter at most (a fused ``features.npz`` of the
    six-emotion run to 0.74 of its size), and deflating is slow (see :class:`SequenceWriter`).

    Parameters
    ----------
    path : path-like
    **arrays : array-like
        Name → array, as for ``np.savez``.

    Returns
    -------
    pathlib.Path
    """
    return atomic_write(path, lambda tmp: np.savez(tmp, **arrays), suffix=".npz")


def save_features(path: str | os.PathLike, clip_ids, X, columns) -> Path:
    """Write the ``features.npz`` of the artifact contract (clip_ids, X float32, columns).

    Parameters
    ----------
    path : path-like
    clip_ids : sequence
        One id per row (stored as text).
    X : array-like
        ``(n_clips, n_columns)``; stored as float32.
    columns : sequence
        Column names (stored as text).

    Returns
    -------
    pathlib.Path

    Raises
    ------
    ValueError
        When ``X``'s shape does not match the ids and the columns.
    """
    X = np.asarray(X, dtype=np.float32)
    clip_ids = np.asarray([str(c) for c in clip_ids])
    columns = np.asarray([str(c) for c in columns])
    if X.shape != (len(clip_ids), len(columns)):
        raise ValueError(f"{path}: X has shape {X.shape}, expected ({len(clip_ids)}, {len(columns)})")
    return save_npz(path, clip_ids=clip_ids, X=X, columns=columns)


def load_features(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Read a ``features.npz`` written by :func:`save_features`.

    Parameters
    ----------
    path : path-like
        E.g. ``artifacts/audio/fold0/features.npz``.

    Returns
    -------
    tuple of numpy.ndarray
        ``(clip_ids, X, columns)``: text, float32 ``(n, d)``, text.
    """
    with np.load(path, allow_pickle=False) as z:
        return z["clip_ids"].astype(str), z["X"].astype(np.float32), z["columns"].astype(str)


def save_sequences(path: str | os.PathLike, sequences: Mapping[str, np.ndarray]) -> Path:
    """Write a ``sequences.npz``: one (T, d) float32 array per clip id.

    Parameters
    ----------
    path : path-like
        The ``sequences.npz`` to write.
    sequences : Mapping
        Clip id → ``(T, d)`` array (``T`` may differ between clips).

    Returns
    -------
    pathlib.Path
    """
    with SequenceWriter(path) as w:
        for k, v in sequences.items():
            w.add(k, v)
    return Path(path)


class SequenceWriter:
    """Write a ``sequences.npz`` one clip at a time, so that a stage streaming its clips in
    chunks never holds them all (:func:`save_sequences` writes through it too).

    The file is what ``np.savez`` writes (a zip of ``<key>.npy``, stored, not deflated: MFCC
    frames shrink by 8 %, face features by 21 %, and deflating an 88 MB ``sequences.npz`` took
    3.0 s against 0.2 s), filled in a temporary file beside ``path`` and renamed onto it when the
    block ends without an error; after an error nothing is left behind, as with :func:`atomic_write`.

    Parameters
    ----------
    path : path-like
        The ``sequences.npz`` to write.

    Examples
    --------
    >>> with SequenceWriter(tmp_path / "mfcc.npz") as w:  # doctest: +SKIP
    ...     for cid, seq in stream:
    ...         w.add(cid, seq)
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self._seen: set[str] = set()
        self._tmp = _tmp_beside(self.path, suffix=".npz")
        self._zip = zipfile.ZipFile(self._tmp, "w", compression=zipfile.ZIP_STORED, allowZip64=True)

    def add(self, key: str, sequence) -> None:
        """Append one ``(T, d)`` array (stored as float32) under ``key``.

        Raises
        ------
        ValueError
            When ``key`` was already written.
        """
        key = str(key)
        if key in self._seen:
            raise ValueError(f"{self.path}: {key!r} written twice")
        self._seen.add(key)
        with self._zip.open(key + ".npy", "w", force_zip64=True) as f:
            np.lib.format.write_array(f, np.asarray(sequence, dtype=np.float32), allow_pickle=False)

    def __enter__(self) -> "SequenceWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self._zip.close()
        if exc_type is None:
            _publish(self._tmp, self.path)
        elif self._tmp.exists():
            self._tmp.unlink()


def load_sequences(path: str | os.PathLike, keys=None) -> dict[str, np.ndarray]:
    """Read a ``sequences.npz`` written by :func:`save_sequences` (or a :class:`SequenceWriter`).

    Parameters
    ----------
    path : path-like
        A file written by :func:`save_sequences` (one array per clip).
    keys : iterable of str, optional
        Read only these clips (the others are not read); default: all, in file order.

    Returns
    -------
    dict
        Clip id → ``(T, d)`` float32 array.
    """
    with np.load(path, allow_pickle=False) as z:
        keys = z.files if keys is None else [str(k) for k in keys]
        return {k: z[k] for k in keys}


def fragments_dir(out_dir: str | os.PathLike) -> Path:
    """``OUT/artifacts/metrics`` (created if needed): where the stages put their metrics fragments.

    Parameters
    ----------
    out_dir : path-like
        The run folder whose fragments folder is wanted.

    Returns
    -------
    pathlib.Path
    """
    p = artifacts_dir(out_dir) / "metrics"
    p.mkdir(parents=True, exist_ok=True)
    return p


def write_fragment(out_dir: str | os.PathLike, stage: str, data: Mapping[str, Any]) -> Path:
    """Record a stage's contribution to ``metrics.json``; merged by the runner.

    Parameters
    ----------
    out_dir : path-like
        The run folder.
    stage : str
        The fragment's name (``metrics/<stage>.json``).
    data : Mapping
        The stage's entries.

    Returns
    -------
    pathlib.Path
    """
    return write_json(fragments_dir(out_dir) / f"{stage}.json", dict(data))


def read_fragment(out_dir: str | os.PathLike, stage: str) -> dict:
    """One stage's metrics fragment (``OUT/artifacts/metrics/<stage>.json``), what
    :func:`write_fragment` wrote: how a later notebook reads what an earlier one decided.

    Parameters
    ----------
    out_dir : path-like
        The run folder.
    stage : str
        The fragment's name (``00_data``, ``04_visual``, ``05_selection``, ...).

    Returns
    -------
    dict

    Raises
    ------
    FileNotFoundError
        The stage has not written it yet (one line naming the file).
    """
    path = fragments_dir(out_dir) / f"{stage}.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing; run the notebook that writes the {stage!r} fragment first")
    return read_json(path)


def merge_fragments(out_dir: str | os.PathLike) -> dict:
    """Deep-merge every fragment (in file-name order) into one dict.

    Parameters
    ----------
    out_dir : path-like
        The run whose ``artifacts/metrics/*.json`` are merged.

    Returns
    -------
    dict
        Nested mappings are merged key by key; a later fragment wins on a plain value.
    """
    merged: dict = {}
    for p in sorted(fragments_dir(out_dir).glob("*.json")):
        _deep_update(merged, read_json(p))
    return merged


def _deep_update(dst: dict, src: Mapping) -> dict:
    for k, v in src.items():
        if isinstance(v, Mapping) and isinstance(dst.get(k), dict):
            _deep_update(dst[k], v)
        else:
            dst[k] = v
    return dst
