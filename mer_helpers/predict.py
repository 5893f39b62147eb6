"""`mer predict`: apply a trained model bundle (``OUT/model/``) to new clips.

The bundle holds every fitted step of the ``final`` split (all clips of the run):

* ``audio/`` — :class:`mer_helpers.audio.AudioFeaturizer` (extraction, denoising, MFCC, autoencoder);
* ``visual/`` — :class:`mer_helpers.visual.VisualFeaturizer` (frames, summary images, backbone);
* ``selection/selection.json`` — the selected fused columns;
* ``classifiers/`` + ``bundle.json`` — :class:`mer_helpers.models.ClassifierBundle` (scaler,
  sequence layout, the three Keras models).

:func:`predict_clips` runs the chain on clip files; :func:`predict_cli` is the command.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Iterable, Sequence

import pandas as pd

VIDEO_EXTENSIONS = (".mp4", ".avi", ".flv", ".mkv")


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


def predict_clips(model_dir, paths: Sequence, n_jobs: int = 1) -> pd.DataFrame:
    """Predict clips with a model bundle.

    Returns a DataFrame ``clip_id, path, y_pred, p_<class>...`` (main model, BiLSTM-SA), then
    ``<model>:y_pred, <model>:p_<class>...`` for every model of the bundle. ``clip_id`` is the
    file name without extension.
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
    selected = _read_selection(model_dir)
    if list(selected) != list(bundle.selected_columns):
        raise ValueError(f"{model_dir / 'selection' / 'selection.json'}: selected columns differ from "
                         f"{model_dir / 'bundle.json'}; the bundle is inconsistent")
    for sub in ("audio", "visual"):
        if not (model_dir / sub).is_dir():
            raise FileNotFoundError(f"{model_dir / sub}: missing from the model bundle")
    audio = AudioFeaturizer.load(model_dir / "audio")
    visual = VisualFeaturizer.load(model_dir / "visual")
    str_paths = [str(p) for p in paths]
    Xa, ca, seq_a = audio.transform_paths(str_paths, n_jobs=n_jobs)
    Xv, cv, seq_v = visual.transform_paths(str_paths, n_jobs=n_jobs)
    X, columns = fuse(Xa, ca, Xv, cv)
    X_seq = bundle.inputs(X, columns, audio_sequences=seq_a, visual_sequences=seq_v)
    df = bundle.predict_frame([p.stem for p in paths], X_seq)
    df.insert(1, "path", [str(p.resolve()) for p in paths])
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


def predict_cli(model_dir, clips: Sequence[str], labels=None, out=None, n_jobs: int = 1) -> int:
    """The ``mer predict`` command: predict, write the CSV (``out``) or print it, and with
    ``labels`` end with the line ``accuracy=A f1_macro=F``. Returns the exit status."""
    from mer_helpers.io import atomic_write_text, read_json

    try:
        paths = expand_clips(clips)
        pred = predict_clips(model_dir, paths, n_jobs=n_jobs)
    except (FileNotFoundError, ValueError) as e:
        print(f"mer predict: {e}", file=sys.stderr)
        return 2
    csv = pred.to_csv(index=False, float_format="%.6f")
    if out:
        atomic_write_text(out, csv)
        print(f"[mer predict] {len(pred)} clips -> {out}")
    else:
        sys.stdout.write(csv)
    if labels:
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
    return 0
