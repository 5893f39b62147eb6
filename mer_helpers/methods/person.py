"""Per-person normalisation: remove who a person is from their features, keep what they feel.

Most of what separates two people's feature vectors is the people, not their emotions: a
voice's pitch and timbre, a face's shape. Speech-emotion work has long removed it with speaker
normalisation (each speaker's features z-scored with that speaker's own statistics), facial
expression work with subject-wise centring. Both use only the person's own *unlabelled* clips:
the statistics are means and standard deviations over every clip of the person, whatever they
express, at training time and at test time alike.

Three modes per modality (the fused columns ``audio:...`` and ``visual:...``):

* ``none``   — the feature as it is;
* ``center`` — minus the person's mean;
* ``zscore`` — minus the person's mean, divided by the person's standard deviation (a column
  that is constant for the person is only centred).

What it assumes: several clips of the same person at test time, spread over their emotions. A
person's mean taken from clips of one or two emotions only (a skewed reference) is pulled
towards those emotions; the book measures how much that costs. With fewer than
:data:`MIN_PERSON_CLIPS` clips a person has no reference, and the person-free model answers
(:class:`mer_helpers.predict.emotion_model.EmotionModel`).
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

#: the modes of ``person_norm_audio`` / ``person_norm_visual``
PERSON_NORM = ("none", "center", "zscore")
#: the parameter's values: a mode, or ``inner``: the mode that notebook 05's table of held-out
#: inner training speakers prefers for that modality in this run (:func:`resolve_inner`)
PERSON_NORM_CHOICES = PERSON_NORM + ("inner",)
#: what ``inner`` becomes when a run has too few training speakers to hold any out (the committed
#: sample): speaker z-scoring and subject centring, the field's usual choices, and what the
#: inner tables of the paired RAVDESS runs chose
INNER_FALLBACK = {"audio": "zscore", "visual": "center"}
#: the fewest clips of one person that make a reference (``min_person_clips``); fewer: the
#: person-free model answers. Notebook 05 shows, on inner training speakers, how the score grows
#: with the clips in a reference.
MIN_PERSON_CLIPS = 8
#: standard deviations below this are taken as 1 (the column is only centred for that person)
_EPS = 1e-6


def _check_mode(name: str, mode: str, allowed: Sequence[str] = PERSON_NORM) -> str:
    """``mode`` if it is one of ``allowed``, else a one-line ``ValueError`` naming ``name``."""
    if mode not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(allowed)}, got {mode!r}")
    return mode


def resolve_inner(audio: str, visual: str, best: Mapping[str, str]) -> tuple[str, str]:
    """The modes a run uses: ``inner`` replaced by ``best`` (the mode of each modality with the
    highest mean inner macro-F1, :func:`mer_helpers.methods.tuning.best_person_norm`), or by
    :data:`INNER_FALLBACK` where ``best`` has no entry for the modality.

    Parameters
    ----------
    audio, visual : {"none", "center", "zscore", "inner"}
    best : mapping
        ``{"audio": mode, "visual": mode}``, possibly empty.

    Returns
    -------
    (str, str)
        The audio and visual modes, each one of :data:`PERSON_NORM`.
    """
    out = []
    for name, modality, mode in (("person_norm_audio", "audio", audio), ("person_norm_visual", "visual", visual)):
        _check_mode(name, mode, PERSON_NORM_CHOICES)
        out.append(_check_mode(name, best.get(modality, INNER_FALLBACK[modality])) if mode == "inner" else mode)
    return out[0], out[1]


def is_active(audio: str = "none", visual: str = "none") -> bool:
    """Does either modality get normalised?"""
    return _check_mode("person_norm_audio", audio) != "none" or _check_mode("person_norm_visual", visual) != "none"


def column_modes(columns: Sequence[str], audio: str = "none", visual: str = "none") -> np.ndarray:
    """The mode of each fused column: ``audio`` for ``audio:...`` columns, ``visual`` for the others.

    Parameters
    ----------
    columns : sequence of str
        Fused column names (``audio:<name>`` then ``visual:<name>``).
    audio, visual : {"none", "center", "zscore"}

    Returns
    -------
    ndarray of str, shape (n_columns,)
    """
    _check_mode("person_norm_audio", audio)
    _check_mode("person_norm_visual", visual)
    return np.array([audio if str(c).startswith("audio:") else visual for c in columns], dtype=object)


def person_statistics(X: np.ndarray, persons: Sequence) -> dict:
    """Mean, standard deviation and clip count of each person's rows.

    Parameters
    ----------
    X : ndarray of shape (n_clips, d)
    persons : sequence of shape (n_clips,)
        The person of each row.

    Returns
    -------
    dict
        person → ``(mean (d,), std (d,), n_clips)``; float64.
    """
    X = np.asarray(X, dtype=np.float64)
    persons = np.asarray([str(p) for p in persons], dtype=object)
    if len(persons) != len(X):
        raise ValueError(f"person_statistics: {len(persons)} persons for {len(X)} rows")
    out = {}
    for p in dict.fromkeys(persons):
        rows = X[persons == p]
        out[p] = (rows.mean(axis=0), rows.std(axis=0), len(rows))
    return out


def normalize(X: np.ndarray, persons: Sequence, modes: Sequence[str],
              stats: Mapping | None = None) -> np.ndarray:
    """Normalise each row with its person's statistics, column by column as ``modes`` says.

    Parameters
    ----------
    X : ndarray of shape (n_clips, d)
    persons : sequence of shape (n_clips,)
        The person of each row.
    modes : sequence of str, shape (d,)
        ``none`` / ``center`` / ``zscore`` per column (:func:`column_modes`).
    stats : mapping or None
        person → ``(mean, std, n)`` (:func:`person_statistics`); ``None``: each person's
        statistics over their rows of ``X``. Given, it lets a reference come from other clips
        than the ones normalised (e.g. a subset of a person's clips).

    Returns
    -------
    ndarray of shape (n_clips, d)
        In ``X``'s float dtype (float32 stays float32); the columns with mode ``none`` are
        unchanged.
    """
    X = np.asarray(X)
    modes = np.asarray(modes, dtype=object)
    if modes.shape != (X.shape[1],):
        raise ValueError(f"normalize: {modes.size} modes for {X.shape[1]} columns")
    bad = sorted(set(modes) - set(PERSON_NORM))
    if bad:
        raise ValueError(f"normalize: unknown mode(s) {bad}; choose from {', '.join(PERSON_NORM)}")
    persons = np.asarray([str(p) for p in persons], dtype=object)
    stats = person_statistics(X, persons) if stats is None else stats
    centre, scale = modes != "none", modes == "zscore"
    out = X.astype(np.float64, copy=True)
    for p in dict.fromkeys(persons):
        if p not in stats:
            raise KeyError(f"normalize: no statistics for person {p!r}")
        mean, std, _ = stats[p]
        rows = persons == p
        out[np.ix_(rows, centre)] -= mean[centre]
        s = np.where(std[scale] > _EPS, std[scale], 1.0)
        out[np.ix_(rows, scale)] /= s
    return out.astype(X.dtype if np.issubdtype(X.dtype, np.floating) else np.float64)


def normalize_fused(X: np.ndarray, columns: Sequence[str], persons: Sequence, audio: str = "none",
                    visual: str = "none", stats: Mapping | None = None) -> np.ndarray:
    """:func:`normalize` of fused features with one mode per modality.

    Parameters
    ----------
    X : ndarray of shape (n_clips, d)
        Fused features (audio columns, then visual ones).
    columns : sequence of str
        Their names.
    persons : sequence of shape (n_clips,)
    audio, visual : {"none", "center", "zscore"}
    stats : mapping or None
        See :func:`normalize`.

    Returns
    -------
    ndarray of shape (n_clips, d)
    """
    if not is_active(audio, visual):
        return np.asarray(X).copy()
    return normalize(X, persons, column_modes(columns, audio, visual), stats=stats)


def persons_of(clip_ids: Sequence[str], labels) -> np.ndarray:
    """The person of each clip: the ``speaker`` column of ``labels.csv`` (paired clips: the
    speaker, paired with one face subject).

    Parameters
    ----------
    clip_ids : sequence of str
    labels : pandas.DataFrame
        ``labels.csv`` (``clip_id``, ``speaker``).

    Returns
    -------
    ndarray of str

    Raises
    ------
    KeyError
        A clip is not in ``labels`` (named).
    """
    speaker = dict(zip(labels["clip_id"].astype(str), labels["speaker"].astype(str)))
    missing = [str(c) for c in clip_ids if str(c) not in speaker]
    if missing:
        raise KeyError(f"labels.csv has no speaker for {len(missing)} clip(s), e.g. {missing[:3]}")
    return np.array([speaker[str(c)] for c in clip_ids], dtype=object)


def subset_reference(persons: Sequence, pick, rng: np.random.Generator | int = 0) -> np.ndarray:
    """A mask of the rows that make each person's reference, ``pick(rows_of_person, rng)`` choosing them.

    Parameters
    ----------
    persons : sequence of shape (n_clips,)
    pick : callable
        ``pick(indices, rng)`` → the indices (a subset of ``indices``) kept for that person.
    rng : numpy Generator or int

    Returns
    -------
    ndarray of bool, shape (n_clips,)
    """
    rng = np.random.default_rng(rng)
    persons = np.asarray([str(p) for p in persons], dtype=object)
    mask = np.zeros(len(persons), dtype=bool)
    for p in dict.fromkeys(persons):
        idx = np.flatnonzero(persons == p)
        mask[np.asarray(pick(idx, rng), dtype=int)] = True
    return mask


def reference_statistics(X: np.ndarray, persons: Sequence, mask: np.ndarray) -> dict:
    """:func:`person_statistics` of the rows in ``mask`` (each person's reference clips)."""
    persons = np.asarray([str(p) for p in persons], dtype=object)
    mask = np.asarray(mask, dtype=bool)
    return person_statistics(np.asarray(X)[mask], persons[mask])


__all__ = ["PERSON_NORM", "MIN_PERSON_CLIPS", "is_active", "column_modes", "person_statistics",
           "normalize", "normalize_fused", "persons_of", "subset_reference", "reference_statistics"]
