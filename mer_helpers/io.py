"""Artifact paths, atomic writes and metrics fragments shared by every notebook."""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Mapping

import numpy as np


def artifacts_dir(out_dir: str | os.PathLike) -> Path:
    """``OUT/artifacts`` (created if needed)."""
    p = Path(out_dir) / "artifacts"
    p.mkdir(parents=True, exist_ok=True)
    return p


def model_dir(out_dir: str | os.PathLike, stage: str | None = None) -> Path:
    """``OUT/model[/stage]`` (created if needed): the bundle `mer predict` loads."""
    p = Path(out_dir) / "model"
    if stage:
        p = p / stage
    p.mkdir(parents=True, exist_ok=True)
    return p


def _tmp_beside(path: Path, suffix: str = "") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="." + path.name + ".", suffix=".tmp" + suffix, dir=path.parent)
    os.close(fd)
    return Path(tmp)


def atomic_write(path: str | os.PathLike, write, suffix: str = "") -> Path:
    """The one write-to-a-temporary-then-rename of the package: ``write(tmp)`` fills a temporary
    file beside ``path`` (named ``.<name>.<random>.tmp<suffix>``, so writers that look at the
    suffix, such as ``np.savez`` or Keras, still work), which is then renamed onto ``path``.
    A reader never sees a half-written file; a failed write leaves nothing behind."""
    path = Path(path)
    tmp = _tmp_beside(path, suffix=suffix)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file and a rename."""
    return atomic_write(path, lambda tmp: tmp.write_bytes(data))


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


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
    return atomic_write_text(path, json.dumps(obj, indent=2, default=_json_default) + "\n")


def read_json(path: str | os.PathLike) -> Any:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def read_saved(directory: str | os.PathLike, filename: str, what: str, written_by: str) -> Any:
    """The JSON description of a saved component (``directory/filename``), or a
    ``FileNotFoundError`` that says what should be there and what writes it."""
    path = Path(directory) / filename
    if not path.exists():
        raise FileNotFoundError(f"{path}: no saved {what} here (expected {filename} written by {written_by})")
    return read_json(path)


def save_npz(path: str | os.PathLike, **arrays: Any) -> Path:
    """``np.savez_compressed`` written atomically (the temporary name keeps the .npz suffix)."""
    return atomic_write(path, lambda tmp: np.savez_compressed(tmp, **arrays), suffix=".npz")


def save_features(path: str | os.PathLike, clip_ids, X, columns) -> Path:
    """Write the ``features.npz`` of the artifact contract (clip_ids, X float32, columns)."""
    X = np.asarray(X, dtype=np.float32)
    clip_ids = np.asarray([str(c) for c in clip_ids])
    columns = np.asarray([str(c) for c in columns])
    if X.shape != (len(clip_ids), len(columns)):
        raise ValueError(f"{path}: X has shape {X.shape}, expected ({len(clip_ids)}, {len(columns)})")
    return save_npz(path, clip_ids=clip_ids, X=X, columns=columns)


def load_features(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Read a ``features.npz``: returns ``(clip_ids, X, columns)``."""
    with np.load(path, allow_pickle=False) as z:
        return z["clip_ids"].astype(str), z["X"].astype(np.float32), z["columns"].astype(str)


def save_sequences(path: str | os.PathLike, sequences: Mapping[str, np.ndarray]) -> Path:
    """Write a ``sequences.npz``: one (T, d) float32 array per clip id."""
    return save_npz(path, **{str(k): np.asarray(v, dtype=np.float32) for k, v in sequences.items()})


def load_sequences(path: str | os.PathLike) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def fragments_dir(out_dir: str | os.PathLike) -> Path:
    p = artifacts_dir(out_dir) / "metrics"
    p.mkdir(parents=True, exist_ok=True)
    return p


def write_fragment(out_dir: str | os.PathLike, stage: str, data: Mapping[str, Any]) -> Path:
    """Record a stage's contribution to ``metrics.json``; merged by the runner."""
    return write_json(fragments_dir(out_dir) / f"{stage}.json", dict(data))


def merge_fragments(out_dir: str | os.PathLike) -> dict:
    """Deep-merge every fragment (in file-name order) into one dict."""
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
