"""Notebook 03 (summary images): one split from sampled frames to k-means summary images.

:func:`run_split` fits the convolutional autoencoder of :mod:`mer_helpers.methods.summary` on the split's
training frames and writes every clip's summary images; the grid figure, the sampling line and
the stage report are what the notebook shows.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from mer_helpers.core import fileio
from mer_helpers.methods.summary import SummaryImages, SummaryResult
from mer_helpers.methods.summary_files import stream_summary


def fit_split(frames_by_id: Mapping[str, np.ndarray], train_ids: Iterable[str], **params) -> SummaryImages:
    """A :class:`SummaryImages` fitted on the frames of ``train_ids`` **only** (:meth:`SummaryImages.fit_ids`).

    Parameters
    ----------
    frames_by_id : Mapping
        Clip id -> its sampled frames (a lazy :class:`mer_helpers.methods.frames.FrameStore` is read
        only where the fit needs frames).
    train_ids : iterable of str
        The split's training clips (all must have frames).
    **params
        Parameters of :class:`SummaryImages`.

    Returns
    -------
    SummaryImages
    """
    train_ids = [str(c) for c in train_ids]
    missing = [c for c in train_ids if c not in frames_by_id]
    if missing:
        raise KeyError(f"no frames for training clips {missing[:5]}{' ...' if len(missing) > 5 else ''}")
    return SummaryImages(**params).fit_ids(frames_by_id, train_ids)


def fit_select_split(frames_by_id: Mapping[str, np.ndarray], train_ids: Iterable[str],
                     clip_ids: Iterable[str] | None = None, **params) -> tuple[SummaryImages, dict[str, SummaryResult]]:
    """Fit a :class:`SummaryImages` on the frames of ``train_ids`` **only** and summarise ``clip_ids``.

    Every clip's result (its images) is returned at once; :func:`run_split` streams instead.

    Parameters
    ----------
    frames_by_id : Mapping
        Clip id → its sampled frames.
    train_ids : iterable of str
        The split's training clips (all must have frames).
    clip_ids : iterable of str, optional
        Clips to summarise (default: every clip in ``frames_by_id``).
    **params
        Parameters of :class:`SummaryImages`.

    Returns
    -------
    tuple
        ``(model, {clip id: SummaryResult})``.
    """
    model = fit_split(frames_by_id, train_ids, **params)
    clip_ids = [str(c) for c in (clip_ids if clip_ids is not None else frames_by_id.keys())]
    results = model.iter_select((frames_by_id[c] for c in clip_ids), clip_ids=clip_ids)
    return model, dict(zip(clip_ids, results))


def grid_clips(clip_ids: Iterable[str], labels: Mapping[str, str], classes: Sequence[str],
               n_per_class: int = 3, seed: int = 0) -> list[tuple[str, str]]:
    """The clips :func:`plot_summary_grid` shows: ``n_per_class`` drawn at random per class.

    Known before any image is made, so a streaming pass can keep just these clips' images;
    :func:`plot_summary_grid` given only their images shows the same clips.

    Parameters
    ----------
    clip_ids : iterable of str
        The clips to draw from.
    labels : Mapping
        Clip id → class.
    classes : sequence of str
        Classes, in row order.
    n_per_class : int
        Clips per class.
    seed : int
        Seed of the draw.

    Returns
    -------
    list of tuple
        ``(class, clip id)`` rows.
    """
    rng = np.random.default_rng(seed)
    clip_ids = list(clip_ids)
    rows = []
    for c in classes:
        ids = sorted(i for i in clip_ids if labels.get(i) == c)
        if ids:
            pick = rng.choice(len(ids), size=min(n_per_class, len(ids)), replace=False)
            rows += [(c, ids[j]) for j in sorted(pick)]
    return rows


def plot_summary_grid(images: Mapping[str, np.ndarray], labels: Mapping[str, str], classes: Sequence[str],
                      n_per_class: int = 3, title: str = "", seed: int = 0):
    """A grid of summary images: ``n_per_class`` clips per emotion (rows), the ``k`` images of
    each clip side by side.

    Parameters
    ----------
    images : Mapping
        Clip id → ``(k, S, S, 3)`` uint8 (only those of :func:`grid_clips` are needed: the
        same clips are shown).
    labels : Mapping
        Clip id → class.
    classes : sequence of str
        Classes shown, in row order.
    n_per_class : int
        Clips drawn at random per class (:func:`grid_clips`).
    title : str
        Figure title.
    seed : int
        Seed of the draw.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    rows = grid_clips(images, labels, classes, n_per_class, seed)
    if not rows:
        raise ValueError("no clip of the given classes has summary images")
    k = max(len(images[i]) for _, i in rows)
    # constrained layout: the title keeps clear of the first row (tight_layout let them touch)
    fig, axes = plt.subplots(len(rows), k, figsize=(1.6 * k + 0.6, 1.6 * len(rows) + 0.5), squeeze=False,
                             layout="constrained")
    for (c, cid), row in zip(rows, axes):
        for j, ax in enumerate(row):
            ax.set_xticks([]), ax.set_yticks([])
            for sp in ax.spines.values():
                sp.set_visible(False)
            if j < len(images[cid]):
                ax.imshow(images[cid][j])
            if j == 0:
                ax.set_ylabel(f"{c}\n{cid[-14:]}", fontsize=7)
    fig.suptitle(title or "summary images per emotion", fontsize=10)
    return fig


@dataclass
class SummarySplitResult:
    """What :func:`run_split` returns for one split: small per clip (no frames, no images but
    those asked for)."""

    split: str
    model: SummaryImages
    info: dict  # the row of notebook 03's per-split table
    table: pd.DataFrame | None = None  # results_table of every clip
    images: dict = field(default_factory=dict)  # clip id -> (k, S, S, 3) uint8, the clips kept


def run_split(artifacts: str | os.PathLike, split: Mapping, frames_by_id: Mapping[str, np.ndarray],
              reuse: SummarySplitResult | None = None, keep: Iterable[str] = (), **params) -> SummarySplitResult:
    """Fit the summary-image model on one split's training clips, summarise every clip, write the images.

    Shaped like :func:`mer_helpers.stages.classifiers.run_split`: notebook 03 calls it once per split.
    Streams: the fit reads only the training clips it draws frames from
    (:meth:`SummaryImages.fit_ids`), then each clip is read, summarised and written in turn
    (:meth:`SummaryImages.iter_select`, :func:`stream_summary`); with a lazy
    :class:`mer_helpers.methods.frames.FrameStore` the memory does not grow with the number of clips
    but for a :func:`results_table` row and a few index rows per clip.

    Parameters
    ----------
    artifacts : path
        ``OUT/artifacts``; writes ``summary/<split>/`` (:func:`write_summary`).
    split : mapping
        One entry of ``splits.json``.
    frames_by_id : mapping
        Clip id -> sampled frames (every clip of the run), read once per clip.
    reuse : SummarySplitResult, optional
        The result of an earlier split to write again instead of fitting: modes that fit
        nothing per split (``per_clip``, ``average``, ``all``) compute once and reuse (its
        index is copied; the PNGs are already there).
    keep : iterable of str
        Clips whose summary images are returned (``images``; e.g. :func:`grid_clips`).
    **params
        :class:`SummaryImages` arguments.

    Returns
    -------
    SummarySplitResult
        The model, ``info`` (training clips, CAE training frames, its final loss, images
        written, seconds), the per-clip ``table`` and the kept ``images``.
    """
    import time

    name = str(split["name"])
    t0 = time.perf_counter()
    art = Path(artifacts)
    if reuse is None:
        model = fit_split(frames_by_id, split["train"], **params)
        ids = [str(c) for c in frames_by_id]
        results = model.iter_select((frames_by_id[c] for c in ids), clip_ids=ids)
        index, table, images = stream_summary(art, name, zip(ids, results), keep=keep)
        n_images = len(index)
        del index
    else:
        model, table, images, n_images = reuse.model, reuse.table, reuse.images, reuse.info["images"]
        src = art / "summary" / reuse.split / "index.csv"
        fileio.atomic_write_bytes(art / "summary" / name / "index.csv", src.read_bytes())
    seconds = time.perf_counter() - t0
    cae = getattr(model, "cae_", None)
    info = {"train_clips": len(split["train"]), "cae_train_frames": int(model.n_train_frames_),
            "final_loss": round(cae.history_[-1], 4) if cae is not None else None,
            "images": n_images, "seconds": round(seconds, 1)}
    return SummarySplitResult(name, model, info, table, images)


def stage_report(settings: Mapping, frame_report, split_info: Mapping[str, Mapping], frame_seconds: float,
                 face_detect: bool = True) -> dict:
    """``summary/summary.json`` of notebook 03: its settings, frame counts and fallbacks, splits, timings.

    Parameters
    ----------
    settings : mapping
        The notebook's parameters that made the images (``frame_interval`` ... ``seed``) and
        ``images_per_clip``; written first, in the order given.
    frame_report : DataFrame
        The report of :func:`mer_helpers.methods.frames.sample_clips`, merged with the ``padded`` column
        of :func:`results_table` (``clip_id``, ``n_frames``, ``n_face``, ``n_carried``, ``n_centre``).
    split_info : mapping
        Split name -> ``info`` of :func:`run_split`.
    frame_seconds : float
        Wall time of the frame sampling.
    face_detect : bool
        Whether faces were detected (else ``clips_without_face`` is None).

    Returns
    -------
    dict
    """
    r = frame_report
    return {
        **settings,
        "n_clips": int(len(r)), "n_frames": int(r["n_frames"].sum()),
        "clips_too_few_frames": r.loc[r["padded"].fillna(False).astype(bool), "clip_id"].tolist(),
        "face_fallback": {"clips": int(((r["n_carried"] + r["n_centre"]) > 0).sum()),
                          "frames_carried": int(r["n_carried"].sum()), "frames_centre": int(r["n_centre"].sum()),
                          "clips_without_face": int((r["n_face"] == 0).sum()) if face_detect else None},
        "splits": dict(split_info),
        "timings_s": {"frames": round(frame_seconds, 2),
                      "summary": round(sum(v["seconds"] for v in split_info.values()), 2)},
    }


def describe_sampling(report, seconds: float, face_detect: bool, face_only: bool) -> str:
    """What :func:`sample_clips` did, in a few lines (notebook 03).

    Parameters
    ----------
    report : DataFrame
        The report of :func:`sample_clips` (``n_frames``, ``n_face``, ``n_carried``, ``n_centre``, ``n_kept``).
    seconds : float
        Wall time of the sampling.
    face_detect, face_only : bool
        The settings it ran with.

    Returns
    -------
    str
    """
    n, n_sampled = len(report), int(report["n_frames"].sum())
    lines = [f"{n_sampled} frames from {n} clips in {seconds:.1f} s "
             f"({100 * seconds / max(1, n):.1f} s per 100 clips); "
             f"frames per clip: min {report['n_frames'].min()}, median {report['n_frames'].median():.0f}, "
             f"max {report['n_frames'].max()}"]
    if face_detect:
        tot = report[["n_face", "n_carried", "n_centre"]].sum()
        lines.append(f"face crops: {tot['n_face']} frames with a detected face, {tot['n_carried']} carried from the "
                     f"nearest detected frame, {tot['n_centre']} centre-cropped")
    if face_only:
        lines.append(f"face_only: {int(report['n_kept'].sum())} of {n_sampled} frames passed on to the summary step")
    return "\n".join(lines)
