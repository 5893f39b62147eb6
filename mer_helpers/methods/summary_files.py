"""Summary images on disk: one PNG per image, an index per split, read back a chunk at a time.

:func:`write_summary` / :func:`stream_summary` write a split's images (an identical PNG is not
rewritten, so splits share them) and ``summary/<split>/index.csv``; :func:`read_summary_index`
and :func:`iter_summary_chunks` read them back for the backbone (notebook 04) without holding
every image; :func:`results_table` is the per-clip table notebook 03 shows.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, Mapping

import numpy as np
import pandas as pd

from mer_helpers.core import fileio
from mer_helpers.methods.summary import SummaryResult, to_uint8

__all__ = ["image_name", "write_png", "read_png", "write_summary", "stream_summary", "read_summary",
           "read_summary_index", "iter_summary_chunks", "results_table"]


def image_name(clip_id: str, result: SummaryResult, j: int) -> str:
    """File name of summary image ``j`` of a clip.

    Parameters
    ----------
    clip_id : str
        The clip (characters outside ``[A-Za-z0-9-_.+]`` become ``_``).
    result : SummaryResult
        The clip's summary.
    j : int
        Which of its images.

    Returns
    -------
    str
        ``<clip>_f<frame>.png`` for a selected frame (the same frame chosen in two splits is one
        file), ``<clip>_avg<j>of<k>.png`` for an average.
    """
    safe = "".join(ch if ch.isalnum() or ch in "-_.+" else "_" for ch in str(clip_id))
    if result.indices[j] >= 0:
        return f"{safe}_f{int(result.indices[j]):04d}.png"
    return f"{safe}_avg{j}of{len(result.indices)}.png"


def write_png(path: str | os.PathLike, image_rgb: np.ndarray) -> Path:
    """Write an RGB image as a PNG, atomically.

    Parameters
    ----------
    path : path-like
        The PNG file.
    image_rgb : numpy.ndarray
        ``(H, W, 3)`` RGB, uint8 or float in [0, 1].

    Returns
    -------
    pathlib.Path
    """
    import cv2

    ok, buf = cv2.imencode(".png", cv2.cvtColor(to_uint8(image_rgb), cv2.COLOR_RGB2BGR))
    if not ok:
        raise OSError(f"{path}: PNG encoding failed")
    return fileio.atomic_write_bytes(path, buf.tobytes())


def read_png(path: str | os.PathLike) -> np.ndarray:
    """RGB uint8 image of a PNG (raises naming the file when it cannot be read).

    Parameters
    ----------
    path : path-like
        The image file (e.g. under ``artifacts/summary/images/``).

    Returns
    -------
    numpy.ndarray
        ``(H, W, 3)`` uint8 RGB.
    """
    import cv2

    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise FileNotFoundError(f"{path}: summary image missing or unreadable")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def write_summary(artifacts: str | os.PathLike, split: str, results: Mapping[str, SummaryResult],
                  image_dir: str = "summary/images"):
    """Write a split's summary images and its index.

    PNGs go into ``ARTIFACTS/image_dir`` (shared by all splits; an identical file is not
    rewritten) and the index into ``ARTIFACTS/summary/<split>/index.csv``.

    Parameters
    ----------
    artifacts : path-like
        The run's ``artifacts/``.
    split : str
        The split's name.
    results : Mapping
        Clip id → :class:`SummaryResult`.
    image_dir : str
        Folder of the PNGs, relative to ``artifacts``.

    Returns
    -------
    pandas.DataFrame
        The index: ``clip_id, k, png, frame_index, n_frames, padded`` (``png`` relative to
        ``ARTIFACTS``).
    """
    return stream_summary(artifacts, split, results.items(), image_dir=image_dir)[0]


_INDEX_COLUMNS = ["clip_id", "k", "png", "frame_index", "n_frames", "padded"]


def stream_summary(artifacts: str | os.PathLike, split: str, results: Iterable[tuple[str, SummaryResult]],
                   keep: Iterable[str] = (), image_dir: str = "summary/images"):
    """:func:`write_summary` as the results stream in: each clip's PNGs are written and its
    images dropped; only small per-clip records are kept.

    Parameters
    ----------
    artifacts : path-like
        The run's ``artifacts/``.
    split : str
        The split's name (``summary/<split>/index.csv``).
    results : iterable of (str, SummaryResult)
        ``(clip id, result)`` pairs, e.g. ``zip(ids, model.iter_select(...))``.
    keep : iterable of str
        Clips whose images are kept (for a figure).
    image_dir : str
        Folder of the PNGs, relative to ``artifacts``.

    Returns
    -------
    tuple
        ``(index, table, images)``: the index DataFrame written, :func:`results_table` of all
        clips, and ``{clip id: (k, S, S, 3) uint8}`` of the ``keep`` clips.
    """

    art = Path(artifacts)
    keep = {str(c) for c in keep}
    cols: dict[str, list] = {c: [] for c in _INDEX_COLUMNS}
    rows, images = [], {}
    for cid, r in results:
        for j in range(len(r.images)):
            rel = f"{image_dir}/{image_name(cid, r, j)}"
            dest = art / rel
            if not dest.exists() or not np.array_equal(read_png(dest), r.images[j]):
                write_png(dest, r.images[j])
            for c, v in zip(_INDEX_COLUMNS, (cid, j, rel, int(r.indices[j]), int(r.n_frames), bool(r.padded))):
                cols[c].append(v)
        rows.append(_table_row(cid, r))
        if cid in keep:
            images[cid] = r.images
    index = pd.DataFrame(cols, columns=_INDEX_COLUMNS)
    out = art / "summary" / split / "index.csv"
    out.parent.mkdir(parents=True, exist_ok=True)
    fileio.atomic_write_text(out, index.to_csv(index=False))
    return index, pd.DataFrame(rows), images


def read_summary(artifacts: str | os.PathLike, split: str):
    """Read the summary images of ``summary/<split>/``.

    Parameters
    ----------
    artifacts : path-like
        The run's ``artifacts/``, as notebook 03 wrote it.
    split : str
        Whose ``index.csv`` is read.

    Returns
    -------
    tuple
        ``(index DataFrame, {clip_id: (k, S, S, 3) uint8})``.
    """
    index = read_summary_index(artifacts, split)
    images: dict[str, np.ndarray] = {}
    for part in iter_summary_chunks(artifacts, index, chunk=None):
        images.update(part)
    return index, images


def read_summary_index(artifacts: str | os.PathLike, split: str):
    """The index of a split's summary images (``summary/<split>/index.csv``) without any image:
    what :func:`iter_summary_chunks` reads the PNGs from.

    Parameters
    ----------
    artifacts : path-like
        ``OUT/artifacts`` (notebook 03's output).
    split : str
        The split's name.

    Returns
    -------
    pandas.DataFrame
        ``clip_id`` (text), ``k``, ``png`` (relative to ``artifacts``), ...
    """

    path = Path(artifacts) / "summary" / split / "index.csv"
    if not path.exists():
        raise FileNotFoundError(f"{path}: no summary images for split {split!r}; run notebook "
                                "03_summary_images first")
    return pd.read_csv(path, dtype={"clip_id": str})


def iter_summary_chunks(artifacts: str | os.PathLike, index, clip_ids: Iterable[str] | None = None,
                        chunk: int | None = 256):
    """Yield a split's summary images a chunk of clips at a time, reading only that chunk's PNGs.

    Parameters
    ----------
    artifacts : path-like
        The run's ``artifacts/``.
    index : pandas.DataFrame
        The split's index (:func:`read_summary_index`), read once by the caller.
    clip_ids : iterable of str, optional
        The clips, in the order wanted (each must be in ``index``); default: every clip of the
        index, sorted (the order of :func:`read_summary`).
    chunk : int or None
        Most clips per chunk; ``None``: one chunk with every clip.

    Yields
    ------
    dict
        ``{clip_id: (k, S, S, 3) uint8}`` of at most ``chunk`` clips, images in ``k`` order.
    """
    art = Path(artifacts)
    pngs = {str(cid): list(g["png"]) for cid, g in index.sort_values(["clip_id", "k"]).groupby("clip_id", sort=False)}
    ids = list(pngs) if clip_ids is None else [str(c) for c in clip_ids]
    step = max(1, int(chunk)) if chunk else max(1, len(ids))
    for s in range(0, len(ids), step):
        yield {cid: np.stack([read_png(art / p) for p in pngs[cid]]) for cid in ids[s:s + step]}


def results_table(results: Mapping[str, SummaryResult]):
    """One row per clip: ``clip_id, n_frames, k, frame_indices, padded, n_distinct``.

    Parameters
    ----------
    results : Mapping
        Clip id → :class:`SummaryResult`.

    Returns
    -------
    pandas.DataFrame
        ``frame_indices`` as text (segments ``a-b`` for averaged images).
    """

    return pd.DataFrame([_table_row(c, r) for c, r in results.items()])


def _table_row(c: str, r: SummaryResult) -> dict:
    """The :func:`results_table` row of one clip."""
    return {"clip_id": c, "n_frames": r.n_frames, "k": len(r.images),
            "frame_indices": " ".join(str(int(i)) for i in r.indices) if r.indices.min() >= 0
            else " ".join(f"{a}-{b - 1}" for a, b in r.segments),
            "padded": r.padded, "n_distinct": r.n_distinct}
