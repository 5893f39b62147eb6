"""`mer predict`, before any model is loaded: every input checked, every problem one line.

:func:`check_inputs` checks what needs no decoding (clip paths, the model bundle's files, the
labels file, the output path; :func:`_timeline_problems` the ``--timeline`` settings) and
:func:`check_clips` decodes every clip with the check `mer run` uses. Nothing here imports
TensorFlow, so a wrong argument is named in a second; the prediction itself is
:mod:`mer_helpers.predict.clips`.
"""
from __future__ import annotations

import functools
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import pandas as pd

from mer_helpers.core.fileio import read_json
from mer_helpers.core.media import MediaError
from mer_helpers.core.parallel import map_clips
from mer_helpers.data.labels import normalize_label
from mer_helpers.data.validate import clip_problems
from mer_helpers.predict.bundle import check_bundle
from mer_helpers.predict.timeline import HOP_S, WINDOW_S

VIDEO_EXTENSIONS = (".mp4", ".avi", ".flv", ".mkv")
_FFMPEG_PREFIX = re.compile(r"\[[^\]]*@ 0x[0-9a-f]+\]\s*")
#: columns a labels file for ``--labels`` needs (``path`` is optional)
LABEL_COLUMNS = ("clip_id", "label")


def find_clips(clips: Iterable[str]) -> tuple[list[Path], list[str]]:
    """Files as given; folders expanded (recursively, sorted) to their video files; every path
    that does not exist and every folder without clips named.

    Parameters
    ----------
    clips : iterable of str
        Clip files and folders.

    Returns
    -------
    paths : list of Path
    problems : list of str
        ``PATH: REASON`` lines.
    """
    out: list[Path] = []
    problems: list[str] = []
    for c in clips:
        p = Path(c)
        if p.is_dir():
            found = sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in VIDEO_EXTENSIONS)
            if not found:
                problems.append(f"{p}: folder holds no {'/'.join(VIDEO_EXTENSIONS)} clips")
            out.extend(found)
        elif p.is_file():
            out.append(p)
        else:
            problems.append(f"{p}: no such clip or folder")
    return out, problems


def expand_clips(clips: Iterable[str]) -> list[Path]:
    """:func:`find_clips`'s paths; its first problem (a path that does not exist, a folder
    without clips) raised as ``FileNotFoundError``."""
    paths, problems = find_clips(clips)
    if problems:
        raise FileNotFoundError(problems[0])
    return paths


def short_reason(error, path) -> str:
    """A short one-line reason: the first line of ``error`` without FFmpeg's ``[x @ 0x..]``
    prefixes and without a leading ``PATH:`` / ``clip NAME:`` (the line names the clip already)."""

    text = str(error).strip()
    if isinstance(error, BaseException) and not isinstance(error, MediaError):
        text = f"{type(error).__name__}: {text}" if text else type(error).__name__
    line = _FFMPEG_PREFIX.sub("", (text.splitlines() or [""])[0]).strip()
    for prefix in (f"{path}: ", f"clip {path}: ", f"clip {Path(path).name}: "):
        if line.startswith(prefix):
            line = line[len(prefix):]
    return line[:200] or "unknown error"


def check_clip(path, need_both: bool = True) -> str | None:
    """Why ``path`` cannot be predicted: the clip check of `mer run` too
    (:func:`mer_helpers.data.validate.clip_problems`): the whole clip is decoded, so an empty,
    non-media, stream-less, truncated or partly decodable file is named. Results are cached by
    the file's content (``$MER_CACHE_DIR/probe``).

    Parameters
    ----------
    path : path-like
    need_both : bool, default=True
        A missing audio or video stream is a problem (``False``: for a bundle with per-modality
        classifiers, which answers a clip with one stream by that modality alone).

    Returns
    -------
    str or None
        The one-line reason (several joined with ``"; "``), or ``None`` when the clip decodes
        whole and has a video and an audio stream (one of them with ``need_both=False``).
    """

    return "; ".join(clip_problems(path, need_both=need_both)) or None


def check_clips(paths: Sequence, n_jobs: int = 2, need_both: bool = True) -> dict[str, str]:
    """:func:`check_clip` over ``paths``, one task per clip (:func:`mer_helpers.core.parallel.map_clips`;
    without Dask ``n_jobs`` decodes at a time).

    Parameters
    ----------
    paths : sequence of path-like
    n_jobs : int, default=2
    need_both : bool, default=True
        See :func:`check_clip`.

    Returns
    -------
    dict
        ``{str(path): reason}`` for the bad clips, in the order of ``paths``.
    """

    reasons = map_clips(functools.partial(check_clip, need_both=need_both), list(paths), desc="checking clips", progress=False, n_jobs=n_jobs,
                        prefer="threads")
    return {str(p): r for p, r in zip(paths, reasons) if r is not None}


def duplicate_clips(paths: Sequence[Path]) -> list[str]:
    """One line per clip id that would be predicted twice: the same file given twice, or two
    files with the same name (the clip id is the file name without extension) in two folders.

    Parameters
    ----------
    paths : sequence of Path

    Returns
    -------
    list of str
    """
    by_file: dict[str, list[Path]] = {}
    by_id: dict[str, list[Path]] = {}
    for p in paths:
        by_file.setdefault(str(p.resolve()), []).append(p)
    for f, given in by_file.items():
        by_id.setdefault(Path(f).stem, []).append(given[0])
    out = [f"{given[0]}: given {len(given)} times" + (f" (as {', '.join(map(str, given))})"
                                                      if len(set(map(str, given))) > 1 else "")
           for given in by_file.values() if len(given) > 1]
    out += [f"{files[0]}: clip id {cid!r} is also the name of {', '.join(map(str, files[1:]))}; clip ids are "
            "file names without extension, so rename one or predict the folders one at a time"
            for cid, files in by_id.items() if len(files) > 1]
    return out


def read_labels(path) -> tuple[pd.DataFrame | None, list[str]]:
    """Read a labels file for ``--labels`` and say everything wrong with it that the model is
    not needed for (see :func:`label_problems` for the classes).

    Parameters
    ----------
    path : path-like
        A CSV with columns ``clip_id`` and ``label`` (UTF-8), optionally ``path`` (relative
        to the file's folder or absolute) and others (kept).

    Returns
    -------
    labels : pandas.DataFrame or None
        Every column as text, values stripped, ``label`` normalised
        (:func:`mer_helpers.data.labels.normalize_label`); ``None`` when the file cannot be read as
        such a table.
    problems : list of str
        ``PATH: REASON`` lines: missing, a folder, empty, not UTF-8, not a CSV, a column
        missing, empty clip ids or labels, a clip id listed twice.
    """
    import io as _io


    path = Path(path)
    need = ",".join(LABEL_COLUMNS) + "[,path]"
    if not path.exists():
        return None, [f"{path}: labels file not found"]
    if path.is_dir():
        return None, [f"{path}: is a folder; --labels needs a CSV file ({need})"]
    try:
        raw = path.read_bytes()
    except OSError as e:
        return None, [f"{path}: cannot be read ({e.strerror or e})"]
    if not raw.strip():
        return None, [f"{path}: empty file; a labels CSV needs a header {need} and one row per clip"]
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        return None, [f"{path}: not UTF-8 text (byte 0x{raw[e.start]:02x} at position {e.start}); "
                      "save it as UTF-8"]
    try:
        lab = pd.read_csv(_io.StringIO(text), dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as e:
        return None, [f"{path}: not a CSV table ({(str(e).strip().splitlines() or [''])[0][:160]})"]
    lab.columns = [str(c).strip() for c in lab.columns]
    missing = [c for c in LABEL_COLUMNS if c not in lab.columns]
    if missing:
        return None, [f"{path}: no {' or '.join(repr(c) for c in missing)} column (columns: "
                      f"{', '.join(lab.columns) or 'none'}); a labels CSV needs {need}"]
    lab = lab.apply(lambda col: col.str.strip())
    problems = []
    if not len(lab):
        problems.append(f"{path}: no rows under the header")
    for col in LABEL_COLUMNS:
        rows = [i + 2 for i, v in enumerate(lab[col]) if v == ""]
        if rows:
            problems.append(f"{path}: {len(rows)} row(s) with an empty {col} (line {_lines(rows)})")
    ids = lab.loc[lab["clip_id"] != "", "clip_id"]
    twice = ids[ids.duplicated(keep=False)]
    if len(twice):
        where = [f"{cid!r} (lines {_lines([i + 2 for i in idx])})"
                 for cid, idx in twice.groupby(twice, sort=False).groups.items()]
        problems.append(f"{path}: clip_id listed more than once: {', '.join(where[:5])}"
                        + (f" and {len(where) - 5} more" if len(where) > 5 else ""))
    lab["label"] = [normalize_label(v) if v != "" else "" for v in lab["label"]]
    return lab, problems


def _lines(rows: list[int], at_most: int = 8) -> str:
    shown = ", ".join(map(str, rows[:at_most]))
    return shown + (f", ... ({len(rows)} in all)" if len(rows) > at_most else "")


def label_problems(labels: pd.DataFrame, path, classes: Sequence[str]) -> list[str]:
    """The labels of :func:`read_labels`'s table that are not among the model's classes, in one line.

    Parameters
    ----------
    labels : pandas.DataFrame
    path : path-like
        The labels file (named in the line).
    classes : sequence of str
        The model's classes.

    Returns
    -------
    list of str
    """
    classes = [str(c) for c in classes]
    outside = labels.loc[~labels["label"].isin(classes) & (labels["label"] != ""), "label"]
    if not len(outside):
        return []
    where = [f"{lab!r} (line {_lines([i + 2 for i in idx], 3)})"
             for lab, idx in outside.groupby(outside, sort=True).groups.items()]
    return [f"{path}: label(s) not among the model's classes {classes}: {', '.join(where)}"]


def match_labels(labels: pd.DataFrame, labels_path, paths: Sequence, clip_ids: Sequence[str],
                 column: str = "label") -> list[str | None]:
    """The label (or another ``column``, e.g. the person) of each clip: by resolved ``path`` first
    (relative paths are relative to the labels file's folder), then by ``clip_id`` = file stem;
    ``None`` when it is not listed (or its value is empty).

    Parameters
    ----------
    labels : pandas.DataFrame
        :func:`read_labels`'s table.
    labels_path : path-like
    paths : sequence of path-like
    clip_ids : sequence of str
    column : str, default="label"

    Returns
    -------
    list of str or None
    """
    by_id = dict(zip(labels["clip_id"], labels[column]))
    by_path = {}
    if "path" in labels.columns:
        base = Path(labels_path).parent
        for p, lab in zip(labels["path"], labels[column]):
            if p:
                by_path[str((Path(p) if Path(p).is_absolute() else base / p).resolve())] = lab
    found = [by_path.get(str(Path(p).resolve()), by_id.get(c)) for p, c in zip(paths, clip_ids)]
    return [v if v not in (None, "") else None for v in found]


def output_problems(out, inputs: Sequence = ()) -> list[str]:
    """Why the predictions CSV cannot be written to ``out`` (checked before any clip is decoded).

    Parameters
    ----------
    out : path-like
        The ``--out`` path.
    inputs : sequence of path-like
        Files the command reads (the labels file, the clips): ``out`` must not be one of them.

    Returns
    -------
    list of str
    """
    out = Path(out)
    if out.is_dir():
        return [f"{out}: is a folder; --out needs a file name (e.g. {out / 'predictions.csv'})"]
    if str(out).endswith(os.sep):
        return [f"{out}: --out needs a file name, not a folder"]
    target = str(out.resolve())
    if any(str(Path(p).resolve()) == target for p in inputs):
        return [f"{out}: is one of the inputs (labels file or clip); it would be overwritten, "
                "choose another --out"]
    parent = out.resolve().parent
    existing = parent
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        return [f"{out}: cannot be created: {existing} is a file, not a folder"]
    if not os.access(existing, os.W_OK | os.X_OK):
        return [f"{out}: cannot be written: no permission to write in {existing}"]
    return []


def bundle_has_branches(model_dir) -> bool:
    """Does the bundle's ``model.json`` list per-modality classifiers (clips with one stream are
    then answered), read without loading the model?"""

    try:
        return bool(read_json(Path(model_dir) / "model.json").get("branches"))
    except (OSError, ValueError, AttributeError):
        return False


def _bundle_classes(model_dir) -> list[str] | None:
    """The classes a bundle's ``bundle.json`` lists, without loading the model (``None``: unreadable)."""

    try:
        classes = read_json(Path(model_dir) / "bundle.json").get("classes")
    except (OSError, ValueError, AttributeError):
        return None
    return [str(c) for c in classes] if isinstance(classes, list) else None


@dataclass
class Inputs:
    """What :func:`check_inputs` found: the clip files, the labels table (or ``None``), the
    model's classes, the bundle's note (a bundle without checksums) and the problems."""

    paths: list[Path] = field(default_factory=list)
    labels: pd.DataFrame | None = None
    classes: list[str] | None = None
    note: str | None = None
    persons: list[str | None] | None = None
    problems: list[str] = field(default_factory=list)


def check_inputs(model_dir, clips: Sequence[str], labels=None, out=None, person_column: str | None = None,
                 person: str | None = None) -> Inputs:
    """Every input of `mer predict` that can be checked without decoding a clip, all at once.

    Parameters
    ----------
    model_dir : path-like
        The model bundle (:func:`mer_helpers.predict.bundle.check_bundle`).
    clips : sequence of str
        Clip files and folders (:func:`find_clips`, :func:`duplicate_clips`).
    labels : path-like or None
        The labels file (:func:`read_labels`, :func:`label_problems`; it must list at least one
        of the clips).
    out : path-like or None
        The output CSV (:func:`output_problems`).
    person_column : str or None
        A column of ``labels`` naming each clip's person (``persons``; needs ``labels``).
    person : str or None
        Every clip is this person's.

    Returns
    -------
    Inputs
        ``problems``: one ``FILE: REASON`` line per problem, in the order clips, bundle,
        labels, person, output (empty: go on); ``persons``: the person of each clip or ``None``.
    """

    res = Inputs()
    res.paths, problems = find_clips(clips)
    problems += duplicate_clips(res.paths)
    bundle_problems, res.note = check_bundle(model_dir)
    problems += bundle_problems
    res.classes = _bundle_classes(model_dir)
    if labels is not None:
        res.labels, label_lines = read_labels(labels)
        problems += label_lines
        if res.labels is not None:
            if res.classes is not None:
                problems += label_problems(res.labels, labels, res.classes)
            truth = match_labels(res.labels, labels, res.paths, [p.stem for p in res.paths])
            if res.paths and len(res.labels) and all(t is None for t in truth):
                problems.append(f"{labels}: none of the {len(res.paths)} clips is listed (matched by path, "
                                "then by clip_id = file name without extension)")
    problems += _person_problems(res, labels, person_column, person)
    if out:
        problems += output_problems(out, inputs=[p for p in [labels, *res.paths] if p])
    res.problems = problems
    return res


def _person_problems(res: Inputs, labels, person_column: str | None, person: str | None) -> list[str]:
    """Fill ``res.persons`` from ``--person-column`` / ``--person``; the problem lines."""
    if person_column and person:
        return ["give --person-column or --person, not both"]
    if person:
        res.persons = [str(person)] * len(res.paths)
    elif person_column:
        if labels is None:
            return [f"--person-column {person_column!r} needs --labels (the file that holds the column)"]
        if res.labels is None:
            return []  # the labels file's own problem is already said
        if person_column not in res.labels.columns:
            return [f"{labels}: no {person_column!r} column for --person-column (columns: "
                    f"{', '.join(res.labels.columns)})"]
        res.persons = match_labels(res.labels, labels, res.paths, [p.stem for p in res.paths], column=person_column)
    return []


def describe_persons(table: pd.DataFrame, min_person_clips: int | None) -> str:
    """One line: how many clips the person-normalised and the person-free model answered, and
    which persons had fewer than ``min_person_clips`` clips (empty for a model without
    per-person normalisation)."""
    if not min_person_clips or "answered_by" not in table.columns or not len(table):
        return ""
    n_person = int((table["answered_by"] == "person").sum())
    line = (f"{n_person} clip(s) answered with their person's own statistics, "
            f"{len(table) - n_person} by the person-free model")
    few = table.loc[(table["answered_by"] != "person") & (table["person"] != ""), "person"].unique()
    if len(few):
        line += (f" (fewer than {min_person_clips} clips: {', '.join(map(str, few[:5]))}"
                 + (", ..." if len(few) > 5 else "") + ")")
    return line


def say(line: str) -> None:
    """A problem line of the command, ``mer predict: ...``, on standard error."""
    print(f"mer predict: {line}", file=sys.stderr)


def _timeline_problems(timeline: dict, labels, out) -> list[str]:
    """The ``--timeline`` settings checked before anything is decoded (one line each)."""

    window = WINDOW_S if timeline.get("window_s") is None else float(timeline["window_s"])
    hop = HOP_S if timeline.get("hop_s") is None else float(timeline["hop_s"])
    problems = []
    if not 0.5 <= window <= 60:
        problems.append(f"--window {window:g}: a window must last 0.5 to 60 seconds")
    if not 0 < hop <= window:
        problems.append(f"--hop {hop:g}: the hop must be above 0 and at most the window ({window:g} s)")
    if labels:
        problems.append("--labels scores whole clips; a timeline has no labels per window (leave out --labels)")
    plot = timeline.get("plot")
    if plot and Path(plot).suffix.lower() not in (".png", ".svg", ".pdf"):
        problems.append(f"{plot}: --plot writes a .png, .svg or .pdf figure")
    elif plot:
        problems += output_problems(plot)
    timeline.update(window_s=window, hop_s=hop)
    return problems


def checked_inputs(model_dir, clips: Sequence[str], labels=None, out=None, person_column: str | None = None,
                   person: str | None = None, timeline: dict | None = None) -> Inputs:
    """:func:`check_inputs`, plus :func:`_timeline_problems` with ``timeline``; every problem is
    said on standard error (``mer predict: ...``). Imports no TensorFlow: the command runs it
    before it loads anything heavy."""
    inputs = check_inputs(model_dir, clips, labels=labels, out=out, person_column=person_column, person=person)
    if timeline is not None:
        inputs.problems += _timeline_problems(timeline, labels, out)
    for line in inputs.problems:
        say(line)
    return inputs
