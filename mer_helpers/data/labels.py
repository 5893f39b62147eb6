"""Emotion names: the one home of the label vocabulary.

Every corpus spells its emotions its own way (MELD *joy*, RAVDESS code ``03``, CREMA-D ``HAP``,
KDEF ``HA`` ...). :func:`normalize_label` maps any of them to one canonical name, and
:func:`parse_classes` / :func:`resolve_classes` read the ``classes`` parameter of a run. Loaders
(:mod:`mer_helpers.data.datasets`, :mod:`mer_helpers.data.paired`), the parameter checks and the clip
checks all read these names from here.
"""
from __future__ import annotations

import re
from typing import Any, Iterable

from mer_helpers import DEFAULT_CLASSES

__all__ = ["LABEL_SYNONYMS", "LABEL_MAP", "KNOWN_EMOTIONS", "CORPUS_EMOTIONS", "RAVDESS_EMOTIONS",
           "CREMAD_EMOTIONS", "normalize_label", "parse_classes", "resolve_classes"]


#: canonical emotion -> spellings used by the corpora (matched case-insensitively):
#: MELD (joy, sadness, anger), RAVDESS (surprised, fearful), CREMA-D (HAP, SAD, ANG, ...),
#: SAVEE (h, sa, su, a, d, f, n), TESS (ps = pleasant surprise), KDEF (HA, SA, SU, AF, AN, DI, NE),
#: Oulu-CASIA (Happiness, Sadness, ...), MEAD (disgusted, surprised, ...).
LABEL_SYNONYMS: dict[str, tuple[str, ...]] = {
    "happy": ("happy", "happiness", "joy", "joyful", "ha", "h", "hap"),
    "sad": ("sad", "sadness", "sa"),
    "surprise": ("surprise", "surprised", "ps", "pleasant_surprise", "pleasant_surprised", "su", "sur"),
    "angry": ("angry", "anger", "ang", "an", "a"),
    "fear": ("fear", "fearful", "afraid", "fea", "af", "f"),
    "disgust": ("disgust", "disgusted", "dis", "di", "d"),
    "neutral": ("neutral", "neu", "ne", "n"),
    "calm": ("calm",),
    "contempt": ("contempt",),
}


LABEL_MAP: dict[str, str] = {s: canon for canon, syns in LABEL_SYNONYMS.items() for s in syns}


KNOWN_EMOTIONS: frozenset[str] = frozenset(LABEL_SYNONYMS)


#: the emotions each corpus has (after normalisation)
CORPUS_EMOTIONS = {
    "meld": ("angry", "disgust", "fear", "happy", "neutral", "sad", "surprise"),
    "ravdess": ("neutral", "calm", "happy", "sad", "angry", "fear", "disgust", "surprise"),
    "crema-d": ("angry", "disgust", "fear", "happy", "neutral", "sad"),
}


RAVDESS_EMOTIONS = {"01": "neutral", "02": "calm", "03": "happy", "04": "sad", "05": "angry",
                    "06": "fear", "07": "disgust", "08": "surprise"}


CREMAD_EMOTIONS = {"ANG": "angry", "DIS": "disgust", "FEA": "fear", "HAP": "happy",
                   "NEU": "neutral", "SAD": "sad"}


def normalize_label(label: Any) -> str:
    """Map a corpus' emotion spelling onto the project's names.

    ``"joy"``, ``"Happiness"``, ``"HA"``, ``"h"`` → ``"happy"``; ``"sadness"``, ``"SA"`` → ``"sad"``;
    ``"surprised"``, ``"ps"``, ``"SU"`` → ``"surprise"``; likewise angry, fear, disgust, neutral,
    calm.

    Parameters
    ----------
    label : object
        A corpus' label (text, or a missing value).

    Returns
    -------
    str
        The project's name; anything else stripped and lower-cased (so it stays recognisable
        in error messages); ``""`` for a missing value.
    """
    if label is None or (isinstance(label, float) and label != label):
        return ""
    text = str(label).strip()
    key = re.sub(r"[\s\-]+", "_", text.lower())
    return LABEL_MAP.get(key, text.lower())


def _class_items(value: Any) -> list[str]:
    """The raw names of a class list (see :func:`parse_classes`), not yet normalised."""
    if isinstance(value, str):
        text = value.strip()
        if text[:1] == "[" and text[-1:] == "]":  # "[angry, disgust]" passed as one text
            text = text[1:-1]
        items: list[str] = []
        for part in (p.strip().strip("'\"").strip() for p in text.split(",")):
            words = part.split()
            # "happy sad" (no comma) is two classes; "pleasant surprise" is one
            if len(words) > 1 and normalize_label(part) not in KNOWN_EMOTIONS \
                    and all(normalize_label(w) in KNOWN_EMOTIONS for w in words):
                items += words
            elif part:
                items.append(part)
        return items
    if isinstance(value, (list, tuple)):
        bad = [v for v in value if not isinstance(v, str) or not v.strip()]
        if bad:
            raise ValueError(f"classes = {list(value)!r}: every item must be an emotion name (text), "
                             f"got {bad[0]!r}")
        return [v.strip() for v in value]
    raise ValueError(f"classes = {value!r}: expected a list of emotion names or a text such as "
                     "'happy,sad,surprise'")


def parse_classes(value: Any = DEFAULT_CLASSES, min_classes: int = 2) -> list[str]:
    """The one parser of class lists: the loaders, the paired builder and the parameter schema
    all use it.

    Each name is normalised with :func:`normalize_label` (``joy`` → ``happy``, ``Sadness`` →
    ``sad``, ``surprised`` → ``surprise``, ``anger`` → ``angry``, ``fearful`` → ``fear``,
    ``disgusted`` → ``disgust``) and must then be one of :data:`KNOWN_EMOTIONS`.

    Parameters
    ----------
    value : str or sequence of str
        A list of names, or a text joined by commas (``"happy, sad"``, ``"[happy, sad]"``;
        without a comma, whitespace separates names: ``"happy sad"``).
    min_classes : int
        Fewest names accepted.

    Returns
    -------
    list of str
        The project's names, order kept.

    Raises
    ------
    ValueError
        One line, for an unknown name, a name listed twice (also as two spellings) or fewer
        than ``min_classes`` names.
    """
    items = _class_items(value)
    out: list[str] = []
    for c in items:
        n = normalize_label(c)
        if n not in KNOWN_EMOTIONS:
            raise ValueError(f"unknown class {c!r}: use emotion names ({', '.join(sorted(KNOWN_EMOTIONS))}) "
                             "or a corpus spelling of one (joy, sadness, surprised, anger, fearful, ...)")
        if n in out:
            raise ValueError(f"class {c!r} is listed twice (as {n!r}) in classes={items}")
        out.append(n)
    if not out:
        raise ValueError("classes is empty: give at least two emotions, e.g. [happy, sad, surprise]")
    if len(out) < min_classes:
        raise ValueError(f"classes = {out}: give at least {min_classes} distinct emotions, "
                         "e.g. [happy, sad, surprise]")
    return out


def resolve_classes(classes: str | Iterable[str] = DEFAULT_CLASSES) -> list[str]:
    """Normalise a class set; keeps order, refuses duplicates and unknown names.

    Parameters
    ----------
    classes : str or iterable of str
        ``"happy,sad"`` or a list.

    Returns
    -------
    list of str
        :func:`parse_classes` with at least two classes.
    """
    return parse_classes(classes)
