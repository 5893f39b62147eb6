"""Probe every clip before any work starts and decide what to do with the bad ones.

A clip is unusable when its file is missing, empty, unreadable, corrupt or truncated (the
whole file is decoded, so a cut-off file whose header still looks fine is caught), has no
audio stream, has no video stream, lasts zero seconds, carries a label outside the run's class
set, or repeats a ``clip_id`` already used by an earlier row. With ``on_bad_input="stop"``
(the default) :func:`validate_clips` raises :class:`BadInputError` listing every bad clip and
its reason; with ``"skip"`` it returns the good rows and the list of skipped clips, which the
notebooks write to ``skipped.json`` and ``metrics.json["skipped_clips"]``.

Probe results are cached by the clip's content (``$MER_CACHE_DIR/probe``), so a re-run only
hashes the files.
"""
from __future__ import annotations

import functools
import os
import re
import subprocess
from dataclasses import asdict
from pathlib import Path
from typing import Sequence

import pandas as pd

from mer_helpers import DEFAULT_CLASSES
from mer_helpers.core import cache, media
from mer_helpers.core.names import ON_BAD_INPUT
from mer_helpers.core.parallel import map_clips
from mer_helpers.data.labels import normalize_label, resolve_classes

#: bump when the probe or the checks change, so cached probe results are recomputed
PROBE_VERSION = "2"  # 2: errors no longer start with the probed path


class BadInputError(ValueError):
    """Some clips are unusable; ``.skipped`` lists ``{"clip_id", "path", "reason"}`` for each."""

    def __init__(self, skipped: list[dict], n_total: int):
        self.skipped = skipped
        self.n_total = n_total
        lines = [f"{len(skipped)} of {n_total} clips are unusable (on_bad_input='stop'):"]
        lines += [f"  clip {s['clip_id']} ({Path(s['path']).name}): {s['reason']}" for s in skipped]
        lines.append("Fix or remove these clips, or re-run with `-p on_bad_input skip` to leave them "
                     "out (they are then listed in metrics.json[\"skipped_clips\"]).")
        super().__init__("\n".join(lines))


_ADDR = re.compile(r"\[[^\]]*@ 0x[0-9a-f]+\]\s*")


def _clean(msg: str, path=None) -> str:
    """Drop FFmpeg's ``[component @ 0x55...]`` prefixes (they change from run to run) and a
    ``PATH:`` (the caller names the clip; a result cached by content is shared by copies)."""
    msg = _ADDR.sub("", msg).strip()
    return msg.replace(f"{path}: ", "") if path is not None else msg


def probe_clip(path: str | os.PathLike, decode: bool = True, use_cache: bool = True) -> dict:
    """``mer_helpers.core.media.probe`` as a dict (duration s, has_audio, has_video, width, height,
    fps, audio_rate, errors), cached by the file's content. Missing/empty files are not cached."""

    path = Path(path)
    if not path.is_file() or path.stat().st_size == 0:
        info = asdict(media.probe(path, decode=decode))
        info["errors"] = [_clean(e, path) for e in info["errors"]]
        return info

    def compute() -> dict:
        info = asdict(media.probe(path, decode=decode))
        info["errors"] = [_clean(e, path) for e in info["errors"]]
        info.pop("path", None)
        return info

    if not use_cache:
        info = compute()
    else:
        key = cache.make_key("probe", files=[path], decode=bool(decode), version=PROBE_VERSION)
        info = dict(cache.cached_json("probe", key, compute))  # sealed; a damaged entry is re-probed
    info["path"] = str(path)
    return info


def problems(info: dict, need_both: bool = True) -> list[str]:
    """Reasons a probed clip is unusable (empty list: the clip is fine); with ``need_both=False``
    a clip with one of the two streams is fine (a bundle with per-modality classifiers)."""
    errors = list(info.get("errors") or [])
    has_a, has_v = bool(info.get("has_audio")), bool(info.get("has_video"))
    if errors and errors[0] == "file not found":
        return ["missing file (not found on disk)"]
    if errors and errors[0].startswith("empty file"):
        return ["zero-byte file (empty)"]
    if not has_a and not has_v:
        if errors == ["no audio or video stream found"] and not info.get("duration"):
            return ["zero duration: the file holds no audio or video samples"]
        return ["unreadable: not a media file or corrupt (" + "; ".join(errors or ["no streams"]) + ")"]
    out = []
    for e in errors:
        if e.startswith("decode error"):
            out.append("corrupt or truncated: " + e)
        else:
            out.append("unreadable: " + e)
    if not has_a and need_both:
        out.append("no audio stream")
    if not has_v and need_both:
        out.append("no video stream")
    if not info.get("duration") or float(info["duration"]) <= 0:
        out.append("zero duration")
    return out


def clip_problems(path: str | os.PathLike, decode: bool = True, use_cache: bool = True,
                  need_both: bool = True) -> list[str]:
    """The one clip check of `mer run` (:func:`validate_clips`) and `mer predict`
    (:func:`mer_helpers.predict.inputs.check_clip`): :func:`problems` of :func:`probe_clip`, which with
    ``decode=True`` decodes every stream, so a truncated or partly decodable clip whose header
    looks fine is named ("corrupt or truncated: ..."). An FFmpeg time-out or an OS error is a
    problem too.

    Parameters
    ----------
    path : path-like
    decode : bool, default=True
    use_cache : bool, default=True
        Reuse the probe of a file with the same content.
    need_both : bool, default=True
        See :func:`problems`.

    Returns
    -------
    list of str
        Reasons (empty: the clip is usable).
    """
    try:
        return problems(probe_clip(path, decode=decode, use_cache=use_cache), need_both=need_both)
    except subprocess.TimeoutExpired:
        return ["unreadable: FFmpeg timed out while probing"]
    except OSError as e:
        return [f"unreadable: {e}"]


def validate_clips(labels: pd.DataFrame, classes: Sequence[str] = DEFAULT_CLASSES,
                   on_bad_input: str = "stop", n_jobs: int = 2, decode: bool = True,
                   use_cache: bool = True, progress: bool = True) -> tuple[pd.DataFrame, list[dict]]:
    """Probe every clip of ``labels`` (columns clip_id, path, label, speaker).

    Returns ``(good_labels, skipped)``: the usable rows (index reset) and one
    ``{"clip_id", "path", "reason"}`` per unusable row (several reasons joined with ``"; "``).
    ``on_bad_input="stop"`` raises :class:`BadInputError` naming every bad clip instead when
    there is any. One task per clip (:func:`mer_helpers.core.parallel.map_clips`; without Dask
    ``n_jobs`` FFmpeg probes at a time, threads: each probe is a subprocess).
    """

    if on_bad_input not in ON_BAD_INPUT:
        raise ValueError(f"on_bad_input must be one of {ON_BAD_INPUT}, got {on_bad_input!r}")
    missing_cols = [c for c in ("clip_id", "path", "label", "speaker") if c not in labels.columns]
    if missing_cols:
        raise ValueError(f"labels table lacks column(s) {missing_cols}; found {list(labels.columns)}")
    cls = resolve_classes(classes)
    df = labels.reset_index(drop=True).copy()
    df["clip_id"] = df["clip_id"].astype(str)
    reasons: list[list[str]] = [[] for _ in range(len(df))]

    first_row: dict[str, int] = {}
    for i, (cid, path) in enumerate(zip(df["clip_id"], df["path"])):
        if cid.strip() in ("", "nan", "None"):
            reasons[i].append("empty clip_id")
        elif cid in first_row:
            j = first_row[cid]
            reasons[i].append(f"duplicate clip_id (also used by row {j + 1}: {Path(str(df['path'][j])).name})")
        else:
            first_row[cid] = i
    for i, lab in enumerate(df["label"]):
        norm = normalize_label(lab)
        if norm not in cls:
            shown = "" if norm == "" else repr(str(lab).strip())
            reasons[i].append(f"unknown label {shown or '(empty)'} (classes: {', '.join(cls)})")
    for i, spk in enumerate(df["speaker"]):
        if pd.isna(spk) or str(spk).strip() in ("", "nan"):
            reasons[i].append("no speaker")

    paths = [str(p) for p in df["path"]]
    uniq = sorted(set(paths))

    found = dict(zip(uniq, map_clips(functools.partial(clip_problems, decode=decode, use_cache=use_cache),
                                     uniq, desc="probing clips", progress=progress, n_jobs=n_jobs,
                                     prefer="threads")))
    for i, p in enumerate(paths):
        reasons[i] = found[p] + reasons[i]

    bad = [i for i, r in enumerate(reasons) if r]
    skipped = [{"clip_id": df["clip_id"][i], "path": paths[i], "reason": "; ".join(reasons[i])} for i in bad]
    if skipped and on_bad_input == "stop":
        raise BadInputError(skipped, len(df))
    good = df.drop(index=bad).reset_index(drop=True)
    good["label"] = [normalize_label(v) for v in good["label"]]
    good.attrs = dict(labels.attrs)
    return good, skipped


__all__ = ["validate_clips", "clip_problems", "probe_clip", "problems", "BadInputError", "ON_BAD_INPUT"]
