"""Emotion over time: a long video cut into overlapping windows, each one predicted by the bundle.

``mer predict MODEL VIDEO... --timeline`` (:func:`timeline_cli`) reads each video once, window
by window (:func:`mer_helpers.predict.stream.iter_windows`: :data:`WINDOW_S` = 3 s every
:data:`HOP_S` = 1 s by default), turns each window into the bundle's audio and visual feature
rows exactly as a clip of that length would be (:func:`_window_features`), and predicts them
with :meth:`mer_helpers.predict.emotion_model.EmotionModel.predict_rows`:

* **missing modalities** — a window whose loudest 32 ms frame is below
  :data:`mer_helpers.methods.audio.SILENCE_DBFS` (a pause, or no audio track) is answered by the face
  branch alone; a window in which the face detector found no face (when the bundle trusts its
  detector, :data:`mer_helpers.predict.emotion_model.FACE_RATE_TRUSTED`) by the speech branch alone; a
  window with neither gets a row with an empty ``y_pred`` and ``modalities = none``;
* **one person per video** — every window of a video is that video's person (or ``--person``
  for all videos), so a person-normalised bundle uses the video's own windows as the person's
  reference once at least ``min_person_clips`` windows carry the modality (about
  ``min_person_clips + 2`` seconds of video with the defaults), and ``answered_by`` says so;
  a shorter video is answered by the person-free classifiers;
* **memory** — only one window of samples and face crops is decoded at a time; what is kept per
  window is its feature rows (a few kB), so a 30-minute video (1,800 windows) holds about as
  much as one second of its decoded frames.

The output has one row per window: ``clip_id, start_s, end_s, y_pred, p_<class>...,
modalities, answered_by`` (:data:`COLUMNS`), and :func:`plot_timeline` draws the probabilities
over time (``--plot``).

Why windows of 3 s: the training clips are single utterances of 3-5 s (RAVDESS, SAVEE, the paired
clips), so a window of that length looks like what the classifiers learnt from; a 1 s hop gives a
reading every second. Both are parameters (``--window``, ``--hop``).
"""
from __future__ import annotations

import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from mer_helpers.core import exitcodes
from mer_helpers.core.fileio import atomic_write_text
from mer_helpers.core.media import MediaError, probe
from mer_helpers.core.progress import progress as bar_of
from mer_helpers.methods import audio as A
from mer_helpers.methods.speech_descriptors import signal_descriptors
from mer_helpers.predict.stream import iter_windows

#: default window length and hop, in seconds
WINDOW_S, HOP_S = 3.0, 1.0
#: windows featurised per batch (one backbone call for all their frames)
BATCH_WINDOWS = 64
#: a window with less audio than this (seconds) has no speech (the tail of a shorter track)
MIN_AUDIO_S = 0.5
#: what ``modalities`` says for a window with neither speech nor a face
NO_MODALITY = "none"
#: one thread computes a batch's MFCCs while this one runs the face network
_POOL = ThreadPoolExecutor(max_workers=1, thread_name_prefix="timeline-audio")


def columns(classes: Sequence[str]) -> list[str]:
    """The timeline's columns for a model's classes (``../shared/INTERFACE.md``)."""
    return ["clip_id", "start_s", "end_s", "y_pred", *(f"p_{c}" for c in classes), "modalities", "answered_by"]


COLUMNS = columns(["<class>"])


@dataclass
class VideoRows:
    """One video's windows as feature rows: times, audio rows (NaN: no speech), visual rows
    (NaN: no face)."""

    clip_id: str
    starts: list[float] = field(default_factory=list)
    ends: list[float] = field(default_factory=list)
    audio: list[np.ndarray] = field(default_factory=list)
    visual: list[np.ndarray] = field(default_factory=list)


def _window_features(model, windows: Sequence, trust_face: bool) -> tuple[np.ndarray, np.ndarray]:
    """The audio and visual feature rows of a batch of windows, NaN where a modality is missing.

    Parameters
    ----------
    model : mer_helpers.predict.emotion_model.EmotionModel
        Its fitted featurizers are used (the audio front end, the summary model and backbone).
    windows : sequence of mer_helpers.predict.stream.Window
    trust_face : bool
        A window without any frame with its own detected face has no face.

    Returns
    -------
    A : ndarray of shape (n, n_audio_columns)
    V : ndarray of shape (n, n_visual_columns)
    """
    audio, visual = (step.featurizer_ for _, step in model.pipeline_["features"].transformer_list)
    fe = audio.front_end()
    n = len(windows)
    A_rows = np.full((n, len(model.modality_index("audio"))), np.nan, np.float32)
    V_rows = np.full((n, len(model.modality_index("visual"))), np.nan, np.float32)
    speech = [i for i, w in enumerate(windows) if w.audio is not None and len(w.audio) >= MIN_AUDIO_S * fe["sr"]
              and A.has_speech(w.audio)]
    faces = [i for i, w in enumerate(windows) if w.frames is not None and len(w.frames)
             and (not trust_face or bool(np.any(w.face)))]
    # the audio front end (NumPy/SciPy, much of it outside the GIL) in a thread beside the backbone
    mfcc = _POOL.submit(lambda: [A.signal_mfcc(windows[i].audio, fe["sr"], fe) for i in speech])
    desc = _POOL.submit(lambda: np.stack([signal_descriptors(windows[i].audio, fe["sr"], fe) for i in speech])
                        if speech and "descriptors" in audio.feature_sets_ else None)
    if faces:  # frames shared by overlapping windows go through the network once; nothing is cached
        V_rows[faces] = visual.transform_frames([windows[i].frames for i in faces], progress=False,
                                                use_cache=False, local=True)[0]
    if speech:
        A_rows[speech] = audio.featurize(mfcc.result(), descriptors=desc.result())[0]
    return A_rows, V_rows


def _video_rows(model, path, window_s: float = WINDOW_S, hop_s: float = HOP_S, progress=None) -> VideoRows:
    """Decode one video window by window and keep each window's feature rows.

    Parameters
    ----------
    model : mer_helpers.predict.emotion_model.EmotionModel
    path : path-like
    window_s, hop_s : float
    progress : callable or progress bar or None
        Given the seconds of media read (:func:`mer_helpers.predict.stream.iter_windows`).

    Returns
    -------
    VideoRows
    """
    _, visual = (step.featurizer_ for _, step in model.pipeline_["features"].transformer_list)
    fe = model.pipeline_["features"].transformer_list[0][1].featurizer_.front_end()
    trust = model.face_absence_trusted and bool(visual.face_detect)
    out, batch = VideoRows(Path(path).stem), []

    def flush():
        a, v = _window_features(model, batch, trust)
        out.audio.extend(a), out.visual.extend(v)
        out.starts.extend(w.start_s for w in batch), out.ends.extend(w.end_s for w in batch)
        batch.clear()

    for w in iter_windows(path, window_s, hop_s, sr=fe["sr"], frame_interval=int(visual.frame_interval),
                          frame_size=int(visual.frame_size), face_detect=bool(visual.face_detect),
                          progress=progress):
        batch.append(w)
        if len(batch) >= BATCH_WINDOWS:
            flush()
    if batch:
        flush()
    return out


def predict_videos(model, videos: Sequence[VideoRows], persons: Sequence[str | None] | None = None) -> list[pd.DataFrame]:
    """The timeline tables of videos from their feature rows, predicted together so that videos
    of the same person share one reference.

    Parameters
    ----------
    model : mer_helpers.predict.emotion_model.EmotionModel
    videos : sequence of VideoRows
    persons : sequence or None
        The person of each video (``None`` entries, or ``None``: each video is its own person).

    Returns
    -------
    list of pandas.DataFrame
        Per video, :func:`columns` of the model's classes, one row per window.
    """
    classes = [str(c) for c in model.classes_]
    sizes = [len(v.starts) for v in videos]
    n = sum(sizes)
    probs = np.full((n, len(classes)), np.nan)
    modalities, answered = np.full(n, NO_MODALITY, dtype=object), np.full(n, "", dtype=object)
    if n:
        Am = np.concatenate([np.asarray(v.audio, np.float32).reshape(len(v.starts), -1) for v in videos if v.starts])
        Vm = np.concatenate([np.asarray(v.visual, np.float32).reshape(len(v.starts), -1) for v in videos if v.starts])
        who = np.repeat([str((persons[i] if persons is not None else None) or v.clip_id)
                         for i, v in enumerate(videos)], sizes)
        has_a, has_v = ~np.isnan(Am).any(axis=1), ~np.isnan(Vm).any(axis=1)
        ok = (has_a | has_v) if model.has_branches else (has_a & has_v)  # an older bundle needs both
        if ok.any():
            p, answered[ok], modalities[ok] = model.predict_rows(Am[ok], Vm[ok], list(who[ok]))
            probs[ok] = p[model.model_names[0]]
    tables, pos = [], 0
    for v, k in zip(videos, sizes):
        t = pd.DataFrame({"clip_id": [v.clip_id] * k, "start_s": np.round(v.starts, 3), "end_s": np.round(v.ends, 3)})
        part = probs[pos:pos + k]
        t["y_pred"] = ["" if np.isnan(r).any() else classes[int(np.argmax(r))] for r in part]
        for j, c in enumerate(classes):
            t[f"p_{c}"] = part[:, j]
        t["modalities"], t["answered_by"] = modalities[pos:pos + k], answered[pos:pos + k]
        tables.append(t[columns(classes)])
        pos += k
    return tables


def describe(table: pd.DataFrame, min_person_clips: int | None) -> str:
    """One line per video: windows, which modalities answered, and whether the video's own
    windows were the person's reference."""
    counts = table["modalities"].value_counts()
    parts = [f"{int(counts[m])} {label}" for m, label in (("audio+visual", "fused"), ("visual", "face only"),
                                                          ("audio", "voice only"), (NO_MODALITY, "neither"))
             if counts.get(m, 0)]
    ref = int((table["answered_by"] == "person").sum())
    who = (f"; {ref} normalised with the video's own windows as the person's reference"
           if ref else (f"; person-free model (fewer than {min_person_clips} windows to make a reference)"
                        if min_person_clips else ""))
    return f"{table['clip_id'].iloc[0]}: {len(table)} windows ({', '.join(parts)}){who}"


def plot_timeline(tables: Sequence[pd.DataFrame], classes: Sequence[str], out=None, title: str = "",
                  segments: pd.DataFrame | None = None):
    """Class probabilities over time, one panel per video, with each window's predicted class as
    a strip of ticks above the curves and the windows answered by one modality (or none) as grey
    ticks below.

    Long videos stay readable: the time axis is in minutes past 2 minutes, and the curves are
    smoothed with a centred running mean over about 1 % of the windows (at least 1) while the
    strip shows each window's own prediction.

    Parameters
    ----------
    tables : sequence of pandas.DataFrame
        :func:`predict_videos` tables.
    classes : sequence of str
    out : path-like or None
        Write the figure there.
    title : str
    segments : pandas.DataFrame or None
        Known segments (``clip_id, start_s, end_s, label``), drawn as light bands.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib

    if out is not None:
        matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    colors = dict(zip(classes, plt.get_cmap("tab10").colors))
    fig, axes = plt.subplots(len(tables), 1, figsize=(11, 2.8 * len(tables) + 0.5), squeeze=False)
    for ax, t in zip(axes[:, 0], tables):
        mid = ((t["start_s"] + t["end_s"]) / 2).to_numpy()
        scale = 60.0 if len(mid) and mid.max() > 120 else 1.0
        x = mid / scale
        if segments is not None:
            for _, seg in segments[segments["clip_id"] == t["clip_id"].iloc[0]].iterrows():
                ax.axvspan(seg["start_s"] / scale, seg["end_s"] / scale, color=colors.get(seg["label"], "0.9"),
                           alpha=0.12, lw=0)
        k = max(1, len(t) // 100)
        for c in classes:
            ax.plot(x, t[f"p_{c}"].rolling(k, center=True, min_periods=1).mean(), color=colors[c], lw=1.4, label=c)
            hit = (t["y_pred"] == c).to_numpy()
            ax.scatter(x[hit], np.full(hit.sum(), 1.07), color=colors[c], marker="|", s=50)
        alone = t["modalities"].isin(["audio", "visual", NO_MODALITY]).to_numpy()
        ax.scatter(x[alone], np.full(alone.sum(), -0.06), color="0.45", marker="|", s=40)
        ax.set_ylim(-0.11, 1.12)
        ax.set_yticks([0, 0.5, 1])
        ax.set_ylabel("probability")
        ax.set_xlabel("time (min)" if scale == 60 else "time (s)")
        ax.set_title(str(t["clip_id"].iloc[0]) if len(t) else "", fontsize=9, loc="left")
    axes[0, 0].legend(loc="lower right", ncol=len(classes), fontsize=8, frameon=False, bbox_to_anchor=(1, 1.0))
    fig.suptitle(title or "Emotion over time: ticks on top = each window's class; grey ticks below = "
                 "one modality answered (or none)", fontsize=9)
    fig.tight_layout()
    if out is not None:
        fig.savefig(out, dpi=110)
    return fig


def timeline_cli(model, paths: Sequence[Path], out=None, window_s: float = WINDOW_S, hop_s: float = HOP_S,
                 plot=None, person: str | None = None, persons: Sequence | None = None,
                 on_bad_input: str = "stop", say=None, log=None) -> int:
    """The ``--timeline`` mode of ``mer predict``: every video, window by window, then the CSV.

    Parameters
    ----------
    model : mer_helpers.predict.emotion_model.EmotionModel
    paths : sequence of Path
        The videos (already checked by :func:`mer_helpers.predict.inputs.check_inputs`).
    out : path-like or None
        The CSV (``None``: standard output).
    window_s, hop_s : float
    plot : path-like or None
        A PNG of :func:`plot_timeline`.
    person : str or None
        Every video is this person's (their windows pooled); default: each video its own person.
    persons : sequence or None
        The person of each video (``--person-column``); ``None`` entries: the video itself.
    on_bad_input : {"stop", "skip"}
        A video that cannot be read stops the command (status 2) or is named and skipped
        (status 3).
    say, log : callable
        Problem lines and progress lines (standard error).

    Returns
    -------
    int
        The exit status (:mod:`mer_helpers.core.exitcodes`).
    """

    say = say or (lambda line: print(f"mer predict: {line}", file=sys.stderr))
    log = log or (lambda line: print(f"[mer predict] {line}", file=sys.stderr))
    classes = [str(c) for c in model.classes_]
    total = sum(probe(p).duration for p in paths)
    norm = getattr(model, "person_norm_", None)
    rows, failed = [], 0
    with bar_of(total=round(total, 1), desc="timeline", unit="s") as bar:
        for i, p in enumerate(paths):
            try:
                rows.append((_video_rows(model, p, window_s, hop_s, progress=bar.update), i))
            except MediaError as e:
                say(f"{p}: {str(e).splitlines()[0]}")
                failed += 1
                if on_bad_input == "stop":
                    return exitcodes.BAD_CLIPS
    who = [person or (persons[i] if persons is not None and persons[i] else None) for _, i in rows]
    tables = [t for t in predict_videos(model, [r for r, _ in rows], who) if len(t)]
    for t in tables:
        log(describe(t, norm["min_person_clips"] if norm else None))
    table = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(columns=columns(classes))
    csv = table.to_csv(index=False, float_format="%.6f")
    if out:
        atomic_write_text(out, csv)
        log(f"{len(table)} windows of {len(tables)} videos -> {out}")
    else:
        sys.stdout.write(csv)
    if plot and tables:
        plot_timeline(tables, classes, out=plot)
        log(f"figure -> {plot}")
    return exitcodes.SKIPPED if failed else exitcodes.OK


__all__ = ["WINDOW_S", "HOP_S", "COLUMNS", "columns", "VideoRows",
           "predict_videos", "describe", "plot_timeline", "timeline_cli"]
