"""`mer predict`: apply a trained model (``OUT/model/``) to new clips.

The model is one object, :class:`mer_helpers.pipeline.EmotionModel` (featurizers → Zebra
selection → Keras classifiers, fitted on the ``final`` split: all clips of the run); this module
loads it (:meth:`~mer_helpers.pipeline.EmotionModel.load`) and asks it for predictions
(:meth:`~mer_helpers.pipeline.EmotionModel.predict_frame`); what is left here is the command:
finding the clips, naming bad ones, writing the table, scoring against labels.

:func:`predict_clips` predicts clip files; :func:`predict_cli` is the command.
A clip that cannot be read is named in one line ``mer predict: CLIP: REASON``: :func:`check_clip`
catches empty, non-media and stream-less files up front (a header probe, no decoding); a clip
that fails later, during feature extraction, is found by retrying the batch clip by clip.
"""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Iterable, Sequence

import pandas as pd

VIDEO_EXTENSIONS = (".mp4", ".avi", ".flv", ".mkv")
ON_BAD_INPUT = ("stop", "skip")
#: exit status of ``mer predict --on-bad-input skip`` when some clips could not be read
EXIT_SOME_FAILED = 3
_FFMPEG_PREFIX = re.compile(r"\[[^\]]*@ 0x[0-9a-f]+\]\s*")


def expand_clips(clips: Iterable[str]) -> list[Path]:
    """Files as given; folders expanded (recursively, sorted) to their video files.

    Parameters
    ----------
    clips : iterable of str
        Clip files and folders.

    Returns
    -------
    list of Path

    Raises
    ------
    FileNotFoundError
        A path does not exist, or a folder holds no clip.
    """
    out: list[Path] = []
    for c in clips:
        p = Path(c)
        if p.is_dir():
            found = sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in VIDEO_EXTENSIONS)
            if not found:
                raise FileNotFoundError(f"{p}: folder holds no {'/'.join(VIDEO_EXTENSIONS)} clips")
            out.extend(found)
        elif p.is_file():
            out.append(p)
        else:
            raise FileNotFoundError(f"{p}: no such clip or folder")
    return out


def _reason(error, path) -> str:
    """A short one-line reason: the first line of ``error`` without FFmpeg's ``[x @ 0x..]``
    prefixes and without a leading ``PATH:`` / ``clip NAME:`` (the line names the clip already)."""
    from mer_helpers.media import MediaError

    text = str(error).strip()
    if isinstance(error, BaseException) and not isinstance(error, MediaError):
        text = f"{type(error).__name__}: {text}" if text else type(error).__name__
    line = _FFMPEG_PREFIX.sub("", (text.splitlines() or [""])[0]).strip()
    for prefix in (f"{path}: ", f"clip {path}: ", f"clip {Path(path).name}: "):
        if line.startswith(prefix):
            line = line[len(prefix):]
    return line[:200] or "unknown error"


def check_clip(path) -> str | None:
    """Why ``path`` cannot be predicted, from a quick FFmpeg header probe (nothing is decoded).

    Damage further into the file shows up during feature extraction instead.

    Parameters
    ----------
    path : path-like

    Returns
    -------
    str or None
        The one-line reason, or ``None`` when it is a media file with a video and an audio stream.
    """
    from mer_helpers.media import MediaError, probe

    try:
        info = probe(path, timeout=60)
    except (MediaError, OSError, subprocess.SubprocessError) as e:
        return f"not a readable video ({_reason(e, path)})"
    if info.errors:
        first = info.errors[0]
        if first.startswith("empty file"):
            return "empty file (0 bytes)"
        if first == "file not found":
            return first
        return f"not a readable video (ffmpeg: {_reason(first, path)})"
    if not info.has_video:
        return "no video stream"
    if not info.has_audio:
        return "no audio stream"
    return None


def check_clips(paths: Sequence, n_jobs: int = 4) -> dict[str, str]:
    """:func:`check_clip` over ``paths``, one task per clip (:func:`mer_helpers.parallel.map_clips`;
    without Dask ``n_jobs`` probes at a time).

    Parameters
    ----------
    paths : sequence of path-like
    n_jobs : int, default=4

    Returns
    -------
    dict
        ``{str(path): reason}`` for the bad clips, in the order of ``paths``.
    """
    from mer_helpers.parallel import map_clips

    reasons = map_clips(check_clip, list(paths), desc="checking clips", progress=False, n_jobs=n_jobs,
                        prefer="threads")
    return {str(p): r for p, r in zip(paths, reasons) if r is not None}


def predict_clips(model, paths: Sequence, n_jobs: int = 1,
                  failed: dict[str, str] | None = None, persons: Sequence | None = None) -> pd.DataFrame:
    """Predict clips with a trained model.

    Parameters
    ----------
    model : path-like or mer_helpers.pipeline.EmotionModel
        The model folder (``OUT/model/``) or the loaded model.
    paths : sequence of path-like
        Clip files.
    n_jobs : int
        Clips decoded at a time.
    failed : dict or None
        ``None``: a clip whose features cannot be extracted raises. A dict: such a clip is left
        out of the result and ``failed[str(path)]`` holds the one-line reason.
    persons : sequence or None
        The person of each clip (``None`` entries: unknown): a person-normalised model uses the
        statistics of a person with at least ``min_person_clips`` clips here
        (:meth:`mer_helpers.pipeline.EmotionModel.predict_proba_all`).

    Returns
    -------
    pandas.DataFrame
        ``clip_id, path, y_pred, p_<class>...`` (main model, BiLSTM-SA), then ``<model>:y_pred,
        <model>:p_<class>...`` for every model, then ``person`` and ``answered_by``
        (``person`` or ``person-free``); ``clip_id`` is the file name without extension; rows
        keep the order of ``paths``.
    """
    from mer_helpers.pipeline import EmotionModel

    paths = [Path(p) for p in paths]
    if not paths:
        raise ValueError("predict_clips: no clips given")
    if not isinstance(model, EmotionModel):
        model = EmotionModel.load(model)
    errors: dict | None = None if failed is None else {}
    kept, df = model.predict_frame([str(p) for p in paths], n_jobs=n_jobs, errors=errors, persons=persons)
    if errors:
        failed.update({p: _reason(e, p) for p, e in errors.items()})
    df.insert(1, "path", [str(paths[i].resolve()) for i in kept])
    return df


def persons_from_labels(paths: Sequence, labels_path, column: str) -> list[str | None]:
    """The person of each clip from a column of a ``labels.csv`` (matched by resolved path, then
    by ``clip_id`` = file stem); ``None`` for a clip the file does not list.

    Parameters
    ----------
    paths : sequence of path-like
    labels_path : path-like
        A ``labels.csv`` with ``clip_id`` (and optionally ``path``) and ``column``.
    column : str
        The person column, e.g. ``speaker``.

    Returns
    -------
    list

    Raises
    ------
    FileNotFoundError, ValueError
        No such file; no such column (the message lists the file's columns).
    """
    labels_path = Path(labels_path)
    if not labels_path.exists():
        raise FileNotFoundError(f"{labels_path}: labels file not found")
    lab = pd.read_csv(labels_path, dtype=str, keep_default_na=False)
    if column not in lab.columns or "clip_id" not in lab.columns:
        raise ValueError(f"{labels_path}: --person-column {column!r} needs columns clip_id and {column} "
                         f"(it has {', '.join(lab.columns)})")
    by_id = dict(zip(lab["clip_id"], lab[column]))
    by_path = {}
    if "path" in lab.columns:
        for p, who in zip(lab["path"], lab[column]):
            q = Path(p) if Path(p).is_absolute() else labels_path.parent / p
            by_path[str(q.resolve())] = who
    out = []
    for p in paths:
        who = by_path.get(str(Path(p).resolve()), by_id.get(Path(p).stem))
        out.append(who if who not in (None, "") else None)
    return out


def describe_persons(table: pd.DataFrame, min_person_clips: int | None) -> str:
    """One line: how many clips each model answered, and which persons had too few clips."""
    if "answered_by" not in table.columns or not len(table):
        return ""
    n_person = int((table["answered_by"] == "person").sum())
    line = f"[mer predict] {n_person} clip(s) answered with their person's own statistics, " \
           f"{len(table) - n_person} by the person-free model"
    if min_person_clips:
        few = table.loc[(table["answered_by"] != "person") & (table["person"] != ""), "person"].unique()
        if len(few):
            line += f" (fewer than {min_person_clips} clips: {', '.join(map(str, few[:5]))}" \
                    + (", ..." if len(few) > 5 else "") + ")"
    return line


def score_against_labels(pred: pd.DataFrame, labels_path, classes: Sequence[str]) -> tuple[float, float, int]:
    """Accuracy and macro-F1 of ``pred`` (main model) against a ``labels.csv``.

    Clips are matched by resolved path first, then by ``clip_id`` = file stem.

    Parameters
    ----------
    pred : pandas.DataFrame
        :func:`predict_clips`'s table.
    labels_path : path-like
        A ``labels.csv`` (``clip_id``, ``label``, optional ``path``).
    classes : sequence of str
        The model's classes.

    Returns
    -------
    accuracy, f1_macro : float
    n_matched : int

    Raises
    ------
    FileNotFoundError, ValueError
        No such file; missing columns; no clip matches; labels outside ``classes``.
    """
    from mer_helpers.evaluation import classification_metrics

    labels_path = Path(labels_path)
    if not labels_path.exists():
        raise FileNotFoundError(f"{labels_path}: labels file not found")
    lab = pd.read_csv(labels_path, dtype=str)
    if not {"clip_id", "label"} <= set(lab.columns):
        raise ValueError(f"{labels_path}: needs columns clip_id and label")
    by_path, by_id = {}, dict(zip(lab["clip_id"], lab["label"]))
    if "path" in lab.columns:
        for p, l in zip(lab["path"], lab["label"]):
            q = Path(p) if Path(p).is_absolute() else labels_path.parent / p
            by_path[str(q.resolve())] = l
    truth = [by_path.get(str(Path(p).resolve()), by_id.get(c)) for p, c in zip(pred["path"], pred["clip_id"])]
    keep = [t is not None for t in truth]
    if not any(keep):
        raise ValueError(f"{labels_path}: none of the {len(pred)} clips is listed (matched by path and clip_id)")
    y_true = [t for t in truth if t is not None]
    outside = sorted(set(y_true) - set(classes))
    if outside:
        raise ValueError(f"{labels_path}: labels {outside} are not in the model's classes {list(classes)}")
    y_pred = pred.loc[keep, "y_pred"].tolist()
    m = classification_metrics(y_true, y_pred, classes)
    return m["accuracy"], m["f1_macro"], len(y_true)


def _report(failed: dict[str, str], done: set[str]) -> None:
    """One stderr line per bad clip not reported yet."""
    for path, reason in failed.items():
        if path not in done:
            print(f"mer predict: {path}: {reason}", file=sys.stderr)
            done.add(path)


def _with_failures(pred: pd.DataFrame, paths: list[Path], failed: dict[str, str]) -> pd.DataFrame:
    """``pred`` plus one row per failed clip (empty predictions), in the order of ``paths``, and
    an ``error`` column (empty for predicted clips)."""
    pos = [i for i, p in enumerate(paths) if str(p) not in failed]  # the rows of pred, in order
    bad = [i for i, p in enumerate(paths) if str(p) in failed]
    good = pred.assign(error="", _pos=pos)
    rows = pd.DataFrame({"clip_id": [paths[i].stem for i in bad],
                         "path": [str(paths[i].resolve()) for i in bad],
                         "error": [failed[str(paths[i])] for i in bad], "_pos": bad})
    frames = [f for f in (good, rows) if len(f)]
    table = pd.concat(frames, ignore_index=True) if frames else good
    table = table.sort_values("_pos", kind="stable").drop(columns="_pos").reset_index(drop=True)
    return table.reindex(columns=[c for c in pred.columns if c != "error"] + ["error"])


def predict_cli(model_dir, clips: Sequence[str], labels=None, out=None, n_jobs: int = 1,
                on_bad_input: str = "stop", person_column: str | None = None, person: str | None = None) -> int:
    """The ``mer predict`` command: predict, write the CSV (``out``) or print it, and with
    ``labels`` end with the line ``accuracy=A f1_macro=F``.

    Every clip is probed first; each bad one gets one stderr line ``mer predict: CLIP: REASON``.
    ``on_bad_input="stop"``: any bad clip → status 2, nothing written. ``"skip"``: the other
    clips are predicted, the bad ones are rows with an empty ``y_pred`` and the reason in the
    ``error`` column, the score covers the predicted clips, and the status is 3.

    Parameters
    ----------
    model_dir : path-like
        The model folder (``OUT/model/``), loaded with
        :meth:`mer_helpers.pipeline.EmotionModel.load`.
    clips : sequence of str
        Clip files and folders.
    labels : path-like or None
        A ``labels.csv`` to score against.
    out : path-like or None
        Where to write the CSV (``None``: standard output).
    n_jobs : int, default=1
    on_bad_input : {"stop", "skip"}, default="stop"
    person_column : str or None
        A column of ``labels`` naming each clip's person (e.g. ``speaker``).
    person : str or None
        All clips are this one person's.

    Returns
    -------
    int
        The exit status: 0, 2 (error, or a bad clip in stop mode) or 3 (skip mode, some clips
        unreadable).
    """
    from mer_helpers.io import atomic_write_text
    from mer_helpers.pipeline import EmotionModel

    if on_bad_input not in ON_BAD_INPUT:
        raise ValueError(f"on_bad_input must be one of {ON_BAD_INPUT}, got {on_bad_input!r}")
    try:
        paths = expand_clips(clips)
        if not Path(model_dir).is_dir():
            raise FileNotFoundError(f"{model_dir}: model folder not found")
        if person_column and person:
            raise ValueError("give --person-column or --person, not both")
        if person_column and not labels:
            raise ValueError("--person-column needs --labels (the file that holds the column)")
        persons = (persons_from_labels(paths, labels, person_column) if person_column
                   else [str(person)] * len(paths) if person else None)
    except (FileNotFoundError, ValueError) as e:
        print(f"mer predict: {e}", file=sys.stderr)
        return 2
    failed = check_clips(paths)
    reported: set[str] = set()
    _report(failed, reported)
    if failed and on_bad_input == "stop":
        return 2
    good = [p for p in paths if str(p) not in failed]
    who = None if persons is None else [w for p, w in zip(paths, persons) if str(p) not in failed]
    try:
        model = EmotionModel.load(model_dir) if good else None
        pred = predict_clips(model, good, n_jobs=n_jobs, failed=failed, persons=who) if good else None
    except (FileNotFoundError, ValueError) as e:
        print(f"mer predict: {e}", file=sys.stderr)
        return 2
    _report(failed, reported)
    if failed and on_bad_input == "stop":
        return 2
    if pred is None:  # every clip failed the up-front check
        pred = pd.DataFrame(columns=["clip_id", "path", "y_pred"])
    table = _with_failures(pred, paths, failed) if on_bad_input == "skip" else pred
    norm = getattr(model, "person_norm_", None)
    said = describe_persons(pred, norm["min_person_clips"] if norm else None) if norm else ""
    if said:
        print(said, file=sys.stderr)
    csv = table.to_csv(index=False, float_format="%.6f")
    if out:
        atomic_write_text(out, csv)
        print(f"[mer predict] {len(pred)} clips" + (f" ({len(failed)} unreadable)" if failed else "") + f" -> {out}")
    else:
        sys.stdout.write(csv)
    status = EXIT_SOME_FAILED if failed else 0
    if labels:
        if not len(pred):
            sys.stdout.flush()
            print("accuracy=nan f1_macro=nan")
            return status
        try:
            acc, f1, n = score_against_labels(pred, labels, [str(c) for c in model.classes_])
        except (FileNotFoundError, ValueError) as e:
            print(f"mer predict: {e}", file=sys.stderr)
            return 2
        if n < len(pred):
            print(f"[mer predict] scored {n} of {len(pred)} clips (the others are not in {labels})")
        sys.stdout.flush()
        print(f"accuracy={acc:.4f} f1_macro={f1:.4f}")
    return status
