"""`mer predict`: apply a trained model bundle (``OUT/model/``) to new clips.

The bundle holds every fitted step of the ``final`` split (all clips of the run):

* ``audio/`` — :class:`mer_helpers.audio.AudioFeaturizer` (extraction, denoising, MFCC, autoencoder);
* ``visual/`` — :class:`mer_helpers.visual.VisualFeaturizer` (frames, summary images, backbone);
* ``selection/selection.json`` — the selected fused columns;
* ``classifiers/`` + ``bundle.json`` — :class:`mer_helpers.models.ClassifierBundle` (scaler,
  sequence layout, the three Keras models).

:func:`predict_clips` runs the chain on clip files; :func:`predict_cli` is the command.
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

import numpy as np
import pandas as pd

VIDEO_EXTENSIONS = (".mp4", ".avi", ".flv", ".mkv")
ON_BAD_INPUT = ("stop", "skip")
#: exit status of ``mer predict --on-bad-input skip`` when some clips could not be read
EXIT_SOME_FAILED = 3
_FFMPEG_PREFIX = re.compile(r"\[[^\]]*@ 0x[0-9a-f]+\]\s*")


def expand_clips(clips: Iterable[str]) -> list[Path]:
    """Files as given; folders expanded (recursively, sorted) to their video files."""
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
    """Why ``path`` cannot be predicted, from a quick FFmpeg header probe (nothing is decoded),
    or ``None`` when it is a media file with a video and an audio stream. Damage further into
    the file shows up during feature extraction instead."""
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
    without Dask ``n_jobs`` probes at a time): ``{str(path): reason}`` for the bad clips, in the
    order of ``paths``."""
    from mer_helpers.parallel import map_clips

    reasons = map_clips(check_clip, list(paths), desc="checking clips", progress=False, n_jobs=n_jobs,
                        prefer="threads")
    return {str(p): r for p, r in zip(paths, reasons) if r is not None}


def _transform(featurizer, paths: list[str], n_jobs: int, failed: dict[str, str] | None):
    """``featurizer.transform_paths(paths)`` plus the indices of the clips it covers.

    With ``failed`` (a dict) a batch that raises is retried clip by clip: the clips that fail
    go to ``failed[path] = reason`` and the others' features are returned. When every clip fails
    and not all with a :class:`~mer_helpers.media.MediaError` (a clip problem), the batch's
    error is raised: it is probably not about the clips (e.g. missing weights).
    """
    from mer_helpers.media import MediaError

    try:
        X, columns, seqs = featurizer.transform_paths(paths, n_jobs=n_jobs)
        return X, columns, seqs, list(range(len(paths)))
    except Exception as batch_error:
        if failed is None:
            raise
        kept, rows, seqs, errors, columns = [], [], [], {}, None
        for i, p in enumerate(paths):
            try:
                Xi, columns, si = featurizer.transform_paths([p], n_jobs=1, progress=False)
            except Exception as e:
                errors[p] = e
                continue
            kept.append(i)
            rows.append(np.asarray(Xi)[0])
            seqs.extend(si)
        if not kept and not all(isinstance(e, MediaError) for e in errors.values()):
            raise batch_error
        failed.update({p: _reason(e, p) for p, e in errors.items()})
        X = np.stack(rows) if rows else None
        return X, columns, seqs, kept


def _read_selection(model_dir: Path) -> list[str]:
    from mer_helpers.io import read_json

    path = model_dir / "selection" / "selection.json"
    if not path.exists():
        raise FileNotFoundError(f"{path}: missing; the model bundle has no feature selection")
    sel = read_json(path)
    if "selected" in sel:
        return [str(c) for c in sel["selected"]]
    if "columns" in sel and "support" in sel:
        return [str(c) for c, s in zip(sel["columns"], sel["support"]) if s]
    raise ValueError(f"{path}: needs 'selected' or 'columns' + 'support'")


def predict_clips(model_dir, paths: Sequence, n_jobs: int = 1,
                  failed: dict[str, str] | None = None) -> pd.DataFrame:
    """Predict clips with a model bundle.

    Returns a DataFrame ``clip_id, path, y_pred, p_<class>...`` (main model, BiLSTM-SA), then
    ``<model>:y_pred, <model>:p_<class>...`` for every model of the bundle. ``clip_id`` is the
    file name without extension. A clip whose features cannot be extracted raises, unless
    ``failed`` is a dict: then the clip is left out of the result and ``failed[str(path)]``
    holds the reason (rows keep the order of ``paths``).
    """
    from mer_helpers.audio import AudioFeaturizer
    from mer_helpers.models import ClassifierBundle
    from mer_helpers.selection import fuse
    from mer_helpers.visual import VisualFeaturizer

    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        raise FileNotFoundError(f"{model_dir}: model folder not found")
    paths = [Path(p) for p in paths]
    if not paths:
        raise ValueError("predict_clips: no clips given")
    bundle = ClassifierBundle.load(model_dir)
    for sub in ("audio", "visual"):
        if not (model_dir / sub).is_dir():
            raise FileNotFoundError(f"{model_dir / sub}: missing from the model bundle")
    audio = AudioFeaturizer.load(model_dir / "audio")
    visual = VisualFeaturizer.load(model_dir / "visual")
    # the classifiers read the zebra selection (the papers') or every fused column (strong preset)
    every = list(bundle.selected_columns) == list(getattr(audio, "columns_", [])) + list(getattr(visual, "columns", []))
    if bundle.params.get("columns", "all" if every else "selected") != "all":
        if list(_read_selection(model_dir)) != list(bundle.selected_columns):
            raise ValueError(f"{model_dir / 'selection' / 'selection.json'}: selected columns differ from "
                             f"{model_dir / 'bundle.json'}; the bundle is inconsistent")
    str_paths = [str(p) for p in paths]
    Xa, ca, seq_a, kept = _transform(audio, str_paths, n_jobs, failed)
    if kept:
        Xv, cv, seq_v, kept_v = _transform(visual, [str_paths[i] for i in kept], n_jobs, failed)
        if len(kept_v) < len(kept):  # some clips failed in the visual branch only
            Xa, seq_a, kept = Xa[kept_v], [seq_a[j] for j in kept_v], [kept[j] for j in kept_v]
    if not kept:
        return pd.DataFrame(columns=["clip_id", "path", "y_pred", *(f"p_{c}" for c in bundle.classes)])
    X, columns = fuse(Xa, ca, Xv, cv)
    X_seq = bundle.inputs(X, columns, audio_sequences=seq_a, visual_sequences=seq_v)
    df = bundle.predict_frame([paths[i].stem for i in kept], X_seq)
    df.insert(1, "path", [str(paths[i].resolve()) for i in kept])
    return df


def score_against_labels(pred: pd.DataFrame, labels_path, classes: Sequence[str]) -> tuple[float, float, int]:
    """Accuracy and macro-F1 of ``pred`` (main model) against a ``labels.csv``.

    Clips are matched by resolved path first, then by ``clip_id`` = file stem. Returns
    ``(accuracy, f1_macro, n_matched)``; raises if no clip matches.
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
                on_bad_input: str = "stop") -> int:
    """The ``mer predict`` command: predict, write the CSV (``out``) or print it, and with
    ``labels`` end with the line ``accuracy=A f1_macro=F``. Returns the exit status.

    Every clip is probed first; each bad one gets one stderr line ``mer predict: CLIP: REASON``.
    ``on_bad_input="stop"``: any bad clip → status 2, nothing written. ``"skip"``: the other
    clips are predicted, the bad ones are rows with an empty ``y_pred`` and the reason in the
    ``error`` column, the score covers the predicted clips, and the status is 3.
    """
    from mer_helpers.io import atomic_write_text, read_json

    if on_bad_input not in ON_BAD_INPUT:
        raise ValueError(f"on_bad_input must be one of {ON_BAD_INPUT}, got {on_bad_input!r}")
    try:
        paths = expand_clips(clips)
        if not Path(model_dir).is_dir():
            raise FileNotFoundError(f"{model_dir}: model folder not found")
    except FileNotFoundError as e:
        print(f"mer predict: {e}", file=sys.stderr)
        return 2
    failed = check_clips(paths)
    reported: set[str] = set()
    _report(failed, reported)
    if failed and on_bad_input == "stop":
        return 2
    good = [p for p in paths if str(p) not in failed]
    try:
        pred = predict_clips(model_dir, good, n_jobs=n_jobs, failed=failed) if good else None
    except (FileNotFoundError, ValueError) as e:
        print(f"mer predict: {e}", file=sys.stderr)
        return 2
    _report(failed, reported)
    if failed and on_bad_input == "stop":
        return 2
    if pred is None:  # every clip failed the up-front check
        pred = pd.DataFrame(columns=["clip_id", "path", "y_pred"])
    table = _with_failures(pred, paths, failed) if on_bad_input == "skip" else pred
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
        classes = read_json(Path(model_dir) / "bundle.json")["classes"]
        try:
            acc, f1, n = score_against_labels(pred, labels, classes)
        except (FileNotFoundError, ValueError) as e:
            print(f"mer predict: {e}", file=sys.stderr)
            return 2
        if n < len(pred):
            print(f"[mer predict] scored {n} of {len(pred)} clips (the others are not in {labels})")
        sys.stdout.flush()
        print(f"accuracy={acc:.4f} f1_macro={f1:.4f}")
    return status
