"""Early fusion: a clip's audio and visual feature vectors side by side, each column named.

:func:`fuse` concatenates the two modalities' rows of the same clips (audio columns first) and
names every column ``"<modality>:<stage>:<index>"``, so a selection or a figure can say what it
kept; :func:`load_fused` reads a split's two feature files and fuses them;
:func:`column_modality` / :func:`modality_counts` read the names back.
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from mer_helpers.core import fileio

__all__ = ["MODALITIES", "fuse", "load_fused", "column_modality", "modality_index", "modality_counts", "FUSED_FILE", "PLAIN_FILE",
           "SKEWED_FILE"]


MODALITIES = ("audio", "visual")


def _checked_columns(columns: Sequence[str] | None, d: int, modality: str) -> list[str]:
    """Column names ``"<modality>:<stage>:<index>"``; names without the modality get it as prefix."""
    if columns is None:
        return [f"{modality}:feature:{i}" for i in range(d)]
    cols = [str(c) for c in columns]
    if len(cols) != d:
        raise ValueError(f"{modality} features: {d} columns in X but {len(cols)} column names")
    out = []
    for i, c in enumerate(cols):
        if not c.startswith(modality + ":"):
            c = f"{modality}:{c}" if ":" in c else f"{modality}:{c}:{i}"
        out.append(c)
    return out


def fuse(audio_X, audio_columns, visual_X, visual_columns) -> tuple[np.ndarray, list[str]]:
    """Concatenate audio and visual summaries clip by clip (feature-level fusion).

    Parameters
    ----------
    audio_X : array (n, d_a); visual_X : array (n, d_v) — the same n clips in the same order.
    audio_columns, visual_columns : column names ``"<modality>:<stage>:<index>"`` (``None``:
        generated as ``audio:feature:i`` / ``visual:feature:i``).

    Returns
    -------
    X : float32 array (n, d_a + d_v), audio columns first; columns : list of d_a + d_v names.
    """
    A = np.asarray(audio_X, dtype=np.float32)
    V = np.asarray(visual_X, dtype=np.float32)
    if A.ndim != 2 or V.ndim != 2:
        raise ValueError(f"fuse: expected 2-D arrays, got audio {A.shape} and visual {V.shape}")
    if A.shape[0] != V.shape[0]:
        raise ValueError(f"fuse: audio has {A.shape[0]} clips but visual has {V.shape[0]}")
    cols = _checked_columns(audio_columns, A.shape[1], "audio") + \
        _checked_columns(visual_columns, V.shape[1], "visual")
    if len(set(cols)) != len(cols):
        dup = pd.Series(cols)[pd.Series(cols).duplicated()].tolist()[:5]
        raise ValueError(f"fuse: duplicated column names, e.g. {dup}")
    return np.concatenate([A, V], axis=1), cols


def load_fused(artifacts: str | os.PathLike, split: str, how: str = "strict"
               ) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Load ``audio/<split>/features.npz`` and ``visual/<split>/features.npz``, align by clip id, fuse.

    Rows follow the audio file's order.

    Parameters
    ----------
    artifacts : path-like
        The run's ``artifacts/``.
    split : str
        The split's name (its folder under ``audio/`` and ``visual/``).
    how : {"strict", "inner"}
        ``strict`` raises if the two files do not hold the same clips; ``inner`` keeps the
        clips present in both (with a warning).

    Returns
    -------
    tuple
        ``(clip_ids, X, columns)``: the audio columns, then the visual ones.
    """
    artifacts = Path(artifacts)
    pa = artifacts / "audio" / split / "features.npz"
    pv = artifacts / "visual" / split / "features.npz"
    for p in (pa, pv):
        if not p.exists():
            raise FileNotFoundError(f"{p}: missing; run the stage that writes it first "
                                    f"({'02_audio_autoencoder' if 'audio' in p.parts else '04_resnet_features'})")
    ids_a, Xa, cols_a = fileio.load_features(pa)
    ids_v, Xv, cols_v = fileio.load_features(pv)
    for p, ids in ((pa, ids_a), (pv, ids_v)):
        if len(set(ids)) != len(ids):
            raise ValueError(f"{p}: duplicated clip ids")
    pos_v = {c: i for i, c in enumerate(ids_v)}
    only_a = [str(c) for c in ids_a if c not in pos_v]
    only_v = sorted(str(c) for c in set(ids_v) - set(ids_a))
    if only_a or only_v:
        msg = (f"{pa} and {pv} do not hold the same clips: {len(only_a)} only in audio "
               f"(e.g. {only_a[:3]}), {len(only_v)} only in visual (e.g. {only_v[:3]})")
        if how != "inner":
            raise ValueError(msg)
        warnings.warn(msg + "; keeping the clips present in both", stacklevel=2)
    keep = [i for i, c in enumerate(ids_a) if c in pos_v]
    ids = ids_a[keep]
    X, cols = fuse(Xa[keep], cols_a, Xv[[pos_v[c] for c in ids]], cols_v)
    return ids, X, cols


#: the fused features every fitted stage reads (person-normalised when the run normalises)
FUSED_FILE = "features"


#: the same clips without per-person normalisation (written only when the run normalises): the
#: person-free model of the bundle and the "no person normalisation" ablation read it
PLAIN_FILE = "plain"


#: an evaluation file: the test persons normalised with a skewed reference (:func:`write_skewed_split`)
SKEWED_FILE = "skewed"


def column_modality(columns: Iterable[str]) -> np.ndarray:
    """The modality (text before the first ``:``) of every column name.

    Parameters
    ----------
    columns : iterable of str
        Names such as ``audio:ae_mean:3``.

    Returns
    -------
    numpy.ndarray
        One modality name per column.
    """
    return np.asarray([str(c).split(":", 1)[0] for c in columns])


def modality_index(columns: Sequence[str], modality: str) -> np.ndarray:
    """Positions of one modality's columns (names ``"<modality>:..."``) among ``columns``.

    Parameters
    ----------
    columns : sequence of str
    modality : str
        ``audio`` or ``visual``.

    Returns
    -------
    ndarray of int
    """
    return np.array([j for j, c in enumerate(columns) if str(c).startswith(f"{modality}:")], dtype=int)


def modality_counts(columns: Sequence[str], support=None) -> dict[str, int]:
    """Number of (selected, when ``support`` is given) columns per modality, plus ``total``.

    Parameters
    ----------
    columns : sequence of str
        The fused column names.
    support : array-like of bool, optional
        The selection mask; ``None`` counts every column.

    Returns
    -------
    dict
        ``audio``, ``visual`` (always present), any other modality, and ``total``.
    """
    mod = column_modality(columns)
    sup = np.ones(len(mod), bool) if support is None else np.asarray(support, bool)
    out = {m: int(np.sum(sup & (mod == m))) for m in dict.fromkeys(list(MODALITIES) + sorted(set(mod)))}
    out["total"] = int(sup.sum())
    return out
