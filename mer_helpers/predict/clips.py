"""`mer predict`: apply a trained model (``OUT/model/``) to new clips.

The model is one object, :class:`mer_helpers.predict.emotion_model.EmotionModel` (featurizers → Zebra
selection → Keras classifiers, fitted on the ``final`` split: all clips of the run); this module
loads it (:meth:`~mer_helpers.predict.emotion_model.EmotionModel.load`) and asks it for predictions
(:meth:`~mer_helpers.predict.emotion_model.EmotionModel.predict_frame`); what is left here is the command:
checking what it is given, finding the clips, naming bad ones, writing the table, scoring
against labels.

The command works in this order, and stops at the first step that finds a problem:

1. :func:`mer_helpers.predict.inputs.check_inputs`: every input that needs no decoding — the clip paths (missing, an
   empty folder, a clip id given twice), the model bundle (:func:`mer_helpers.predict.bundle.check_bundle`:
   files against their checksums), the labels file (:func:`mer_helpers.predict.inputs.read_labels`: readable UTF-8 CSV,
   columns, labels in the model's classes, no clip id twice, lists some clip) and the output
   path. Every problem is one line ``mer predict: FILE: REASON``; exit status 1.
2. :func:`mer_helpers.predict.inputs.check_clips`: every clip decoded by the check `mer run` uses too
   (:func:`mer_helpers.data.validate.clip_problems`), so an empty, non-media, stream-less, truncated or
   partly decodable clip is named ``mer predict: CLIP: REASON``; stop: exit status 2; skip: an
   ``error`` row. A clip that fails later, during feature extraction, is found by retrying the
   batch clip by clip.
3. The model is loaded, the clips predicted, the CSV written (or printed: standard output then
   holds only the CSV and, with labels, the score line; log lines go to standard error).

Exit statuses: :mod:`mer_helpers.core.exitcodes`.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Sequence

import pandas as pd

from mer_helpers.core import exitcodes
from mer_helpers.core.fileio import atomic_write_text
from mer_helpers.core.names import ON_BAD_INPUT
from mer_helpers.core.progress import import_tensorflow_quietly
from mer_helpers.data.validate import clip_problems
from mer_helpers.methods.evaluation import classification_metrics
from mer_helpers.predict.bundle import REBUILD, BundleError
from mer_helpers.predict.emotion_model import EmotionModel
from mer_helpers.predict.inputs import (
    Inputs, bundle_has_branches, check_clips, checked_inputs, describe_persons, label_problems, match_labels,
    read_labels, say, short_reason
)
from mer_helpers.predict.timeline import timeline_cli

#: exit status of ``mer predict --on-bad-input skip`` when some clips could not be read
EXIT_SOME_FAILED = exitcodes.SKIPPED


def _describe_modalities(table: pd.DataFrame) -> str:
    """One line on the clips that one modality answered alone (empty when both answered every clip)."""
    if "modalities" not in table.columns or not len(table):
        return ""
    counts = table["modalities"].value_counts()
    alone = {m: int(counts.get(m, 0)) for m in ("visual", "audio")}
    if not any(alone.values()):
        return ""
    parts = [f"{n} by the face alone (no speech)" for m, n in alone.items() if m == "visual" and n] + \
            [f"{n} by the voice alone (no face)" for m, n in alone.items() if m == "audio" and n]
    return f"{len(table)} clips: " + ", ".join(parts) + " (column modalities)"


def predict_clips(model, paths: Sequence, n_jobs: int = 1,
                  failed: dict[str, str] | None = None, persons: Sequence | None = None) -> pd.DataFrame:
    """Predict clips with a trained model.

    Parameters
    ----------
    model : path-like or mer_helpers.predict.emotion_model.EmotionModel
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
        (:meth:`mer_helpers.predict.emotion_model.EmotionModel.predict_proba_all`).

    Returns
    -------
    pandas.DataFrame
        ``clip_id, path, y_pred, p_<class>...`` (main model, BiLSTM-SA), then ``<model>:y_pred,
        <model>:p_<class>...`` for every model, then ``person`` and ``answered_by``
        (``person`` or ``person-free``); ``clip_id`` is the file name without extension; rows
        keep the order of ``paths``.
    """

    paths = [Path(p) for p in paths]
    if not paths:
        raise ValueError("predict_clips: no clips given")
    if not isinstance(model, EmotionModel):
        model = EmotionModel.load(model)
    errors: dict | None = None if failed is None else {}
    kept, df = model.predict_frame([str(p) for p in paths], n_jobs=n_jobs, errors=errors, persons=persons)
    if errors:
        failed.update({p: short_reason(e, p) for p, e in errors.items()})
    df.insert(1, "path", [str(paths[i].resolve()) for i in kept])
    return df


def _score_against_labels(pred: pd.DataFrame, labels, classes: Sequence[str]) -> tuple[float, float, int]:
    """Accuracy and macro-F1 of ``pred`` (main model) against a labels file.

    Clips are matched by resolved path first, then by ``clip_id`` = file stem (:func:`match_labels`).

    Parameters
    ----------
    pred : pandas.DataFrame
        :func:`predict_clips`'s table.
    labels : path-like or tuple
        A labels CSV (read with :func:`read_labels`), or ``(table, path)`` already read.
    classes : sequence of str
        The model's classes.

    Returns
    -------
    accuracy, f1_macro : float
    n_matched : int

    Raises
    ------
    FileNotFoundError, ValueError
        No such file; an unreadable table; labels outside ``classes``; no clip matches. The
        message names the file.
    """

    if isinstance(labels, tuple):
        lab, labels_path = labels
        problems = []
    else:
        labels_path = Path(labels)
        lab, problems = read_labels(labels_path)
        if lab is not None:
            problems += label_problems(lab, labels_path, classes)
    if problems:
        err = FileNotFoundError if problems[0].endswith("labels file not found") else ValueError
        raise err("\n".join(problems))
    truth = match_labels(lab, labels_path, pred["path"], pred["clip_id"])
    keep = [t is not None for t in truth]
    if not any(keep):
        raise ValueError(f"{labels_path}: none of the {len(pred)} clips is listed (matched by path and clip_id)")
    y_true = [t for t in truth if t is not None]
    y_pred = pred.loc[keep, "y_pred"].tolist()
    m = classification_metrics(y_true, y_pred, classes)
    return m["accuracy"], m["f1_macro"], len(y_true)


def _log(line: str) -> None:
    """A progress line, ``[mer predict] ...``, on standard error (standard output holds the CSV
    and the score line only)."""
    print(f"[mer predict] {line}", file=sys.stderr)


def _report(failed: dict[str, str], done: set[str]) -> None:
    """One stderr line per bad clip not reported yet."""
    for path, reason in failed.items():
        if path not in done:
            say(f"{path}: {reason}")
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


def _load_model(model_dir):
    """The bundle as an :class:`~mer_helpers.predict.emotion_model.EmotionModel`, or the problem lines."""

    import_tensorflow_quietly()  # no TensorFlow start-up lines in the command's output
    try:
        return EmotionModel.load(model_dir), []
    except BundleError as e:
        return None, e.problems
    except Exception as e:  # a bundle without checksums that passed the structural check
        first = (str(e).strip().splitlines() or [""])[0][:300]
        if first.startswith(str(model_dir)):
            return None, [first]
        return None, [f"{model_dir}: cannot load the model bundle ({type(e).__name__}: {first}); {REBUILD}"]


def _streams_problem(path) -> str | None:
    """Why a video cannot be read as a timeline, from its header only (a long video is not
    decoded twice: damage further in is named when the window reaches it)."""

    return "; ".join(clip_problems(path, decode=False, need_both=False)) or None


def _timeline(model_dir, inputs: Inputs, timeline: dict, out, on_bad_input: str) -> int:
    """``mer predict --timeline`` once the inputs passed: header check of each video, the model,
    then :func:`mer_helpers.predict.timeline.timeline_cli`."""

    bad = {str(p): r for p in inputs.paths if (r := _streams_problem(p))}
    for p, r in bad.items():
        say(f"{p}: {r}")
    if bad and on_bad_input == "stop":
        return exitcodes.BAD_CLIPS
    keep = [i for i, p in enumerate(inputs.paths) if str(p) not in bad]
    model, problems = _load_model(model_dir)
    for line in problems:
        say(line)
    if problems:
        return exitcodes.INPUT_ERROR
    persons = None if inputs.persons is None else [inputs.persons[i] for i in keep]
    status = timeline_cli(model, [inputs.paths[i] for i in keep], out=out, window_s=timeline["window_s"],
                          hop_s=timeline["hop_s"], plot=timeline.get("plot"), persons=persons,
                          on_bad_input=on_bad_input, say=say, log=_log)
    return exitcodes.SKIPPED if bad and status == exitcodes.OK else status


def predict_cli(model_dir, clips: Sequence[str], labels=None, out=None, n_jobs: int = 1,
                on_bad_input: str = "stop", person_column: str | None = None, person: str | None = None,
                timeline: dict | None = None, checked: Inputs | None = None) -> int:
    """The ``mer predict`` command: check the inputs, check the clips, predict, write the CSV
    (``out``) or print it, and with ``labels`` end with the line ``accuracy=A f1_macro=F``.

    The steps and their exit statuses are in the module docstring; each problem is one stderr
    line ``mer predict: FILE: REASON``. ``on_bad_input="stop"``: any bad clip → status 2,
    nothing written. ``"skip"``: the other clips are predicted, the bad ones are rows with an
    empty ``y_pred`` and the reason in the ``error`` column, the score covers the predicted
    clips, and the status is 3.

    Parameters
    ----------
    model_dir : path-like
        The model folder (``OUT/model/``), loaded with
        :meth:`mer_helpers.predict.emotion_model.EmotionModel.load`.
    clips : sequence of str
        Clip files and folders.
    labels : path-like or None
        A labels CSV to score against (:func:`read_labels`).
    out : path-like or None
        Where to write the CSV (``None``: standard output, which then holds only the CSV and
        the score line).
    n_jobs : int, default=1
    on_bad_input : {"stop", "skip"}, default="stop"
    person_column : str or None
        A column of ``labels`` naming each clip's person (e.g. ``speaker``).
    person : str or None
        All clips are this one person's.
    timeline : dict or None
        ``{"window_s", "hop_s", "plot"}``: one row per window of each video
        (:func:`mer_helpers.predict.timeline.timeline_cli`) instead of one per clip.

    Returns
    -------
    int
        The exit status (:mod:`mer_helpers.core.exitcodes`): 0 done; 1 an input problem (nothing
        decoded); 2 a bad clip in stop mode (nothing written); 3 skip mode, some clips unreadable.
    """

    if on_bad_input not in ON_BAD_INPUT:
        raise ValueError(f"on_bad_input must be one of {ON_BAD_INPUT}, got {on_bad_input!r}")
    inputs = checked if checked is not None else checked_inputs(
        model_dir, clips, labels=labels, out=out, person_column=person_column, person=person, timeline=timeline)
    if inputs.problems:
        return exitcodes.INPUT_ERROR
    if inputs.note:
        say(f"note: {inputs.note}")
    paths = inputs.paths
    if timeline is not None:
        return _timeline(model_dir, inputs, timeline, out, on_bad_input)
    failed = check_clips(paths, need_both=not bundle_has_branches(model_dir))
    reported: set[str] = set()
    _report(failed, reported)
    if failed and on_bad_input == "stop":
        return exitcodes.BAD_CLIPS
    good = [p for p in paths if str(p) not in failed]
    who = None if inputs.persons is None else [w for p, w in zip(paths, inputs.persons) if str(p) not in failed]
    model, problems = _load_model(model_dir)
    for line in problems:
        say(line)
    if problems:
        return exitcodes.INPUT_ERROR
    try:
        pred = predict_clips(model, good, n_jobs=n_jobs, failed=failed, persons=who) if good else None
    except ValueError as e:  # e.g. the featurizers do not match the classifier
        say(f"{model_dir}: {(str(e).strip().splitlines() or [''])[0]}")
        return exitcodes.INPUT_ERROR
    _report(failed, reported)
    if failed and on_bad_input == "stop":
        return exitcodes.BAD_CLIPS
    if pred is None:  # every clip failed the up-front check
        pred = pd.DataFrame(columns=["clip_id", "path", "y_pred"])
    table = _with_failures(pred, paths, failed) if on_bad_input == "skip" else pred
    norm = getattr(model, "person_norm_", None)
    said = describe_persons(pred, norm["min_person_clips"] if norm else None)
    if said:
        _log(said)
    said = _describe_modalities(pred)
    if said:
        _log(said)
    csv = table.to_csv(index=False, float_format="%.6f")
    if out:
        atomic_write_text(out, csv)
        _log(f"{len(pred)} clips" + (f" ({len(failed)} unreadable)" if failed else "") + f" -> {out}")
    else:
        sys.stdout.write(csv)
    status = exitcodes.SKIPPED if failed else exitcodes.OK
    if labels:
        if not len(pred):
            sys.stdout.flush()
            print("accuracy=nan f1_macro=nan")
            return status
        acc, f1, n = _score_against_labels(pred, (inputs.labels, Path(labels)), [str(c) for c in model.classes_])
        if n < len(pred):
            _log(f"scored {n} of {len(pred)} clips (the others are not in {labels})")
        sys.stdout.flush()
        print(f"accuracy={acc:.4f} f1_macro={f1:.4f}")
    return status
