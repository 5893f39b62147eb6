"""Evaluation protocols → ``splits.json``.

Every protocol yields a list of splits ``{"name", "train", "test"}`` (clip ids) plus a
``final`` split that trains on every usable clip (for the model bundle only; it has no test
part and produces no reported number).

* ``speaker-cv``: grouped stratified k-fold on ``speaker``; every speaker on one side only.
* ``speaker-split``: one grouped 80/20 split.
* ``random-split``: stratified 80/20 on clips (the papers' protocol); speakers leak.
* ``official``: the dataset's own ``split`` column (MELD: train+dev → train, test → test).
* ``cross-corpus``: the ``domain`` column (two corpus pairs, see
  :func:`mer_helpers.data.datasets.load_cross_corpus`): one split ``cross`` that trains on every
  clip of domain ``train`` and tests on every clip of domain ``test``; ``final`` trains on the
  ``train`` domain only. No speaker may be in both domains.

Any number of classes works: the folds are stratified on the label, and a class that ends up
without a clip on one side of a split is reported (a warning) rather than hidden.
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedGroupKFold, StratifiedShuffleSplit

from mer_helpers.core.names import PROTOCOLS, SPEAKER_INDEPENDENT

#: the column of protocol ``cross-corpus`` and its two values
DOMAIN_COLUMN = "domain"
DOMAINS = ("train", "test")


def _cross_corpus(df: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Row indices of the ``train`` and ``test`` domains; one-line ``ValueError`` when unusable."""
    hint = ("with dataset paired pass a test corpus pair, e.g. -p test_speech savee -p test_faces "
            "oulu_casia")
    if DOMAIN_COLUMN not in df.columns:
        raise ValueError(f"protocol 'cross-corpus' needs a '{DOMAIN_COLUMN}' column (train/test) in "
                         f"labels.csv: {hint}")
    dom = df[DOMAIN_COLUMN].astype(str).str.strip().str.lower()
    other = sorted(set(dom) - set(DOMAINS))
    if other:
        raise ValueError(f"protocol 'cross-corpus': column '{DOMAIN_COLUMN}' holds {other}; "
                         f"allowed values: train, test")
    present = sorted(set(dom), key=DOMAINS.index)
    if len(present) < 2:
        only = present[0] if present else "none"
        raise ValueError(f"protocol 'cross-corpus' needs clips of two corpus pairs (domains train and "
                         f"test), found only domain {only!r} ({len(df)} clips): {hint}")
    tr = np.flatnonzero((dom == "train").to_numpy())
    te = np.flatnonzero((dom == "test").to_numpy())
    spk = df["speaker"].astype(str).to_numpy()
    shared = sorted(set(spk[tr]) & set(spk[te]))
    if shared:
        raise ValueError(f"protocol 'cross-corpus': {len(shared)} speaker(s) in both domains (e.g. "
                         f"{shared[0]}); the test pair needs another speech corpus")
    y = df["label"].astype(str).to_numpy()
    untrained = sorted(set(y[te]) - set(y[tr]))
    if untrained:
        raise ValueError(f"protocol 'cross-corpus': class(es) {untrained} have test clips but no "
                         "training clip; build both pairs with the same classes")
    return tr, te


def make_splits(labels: pd.DataFrame, protocol: str = "speaker-cv", n_folds: int = 5,
                seed: int = 42, test_size: float = 0.2) -> dict:
    """Build the ``splits.json`` dict for ``labels``.

    Every protocol adds a last split ``final`` (no test clips) that trains the bundle; a class
    missing on one side of a split gives a ``UserWarning``.

    Parameters
    ----------
    labels : pandas.DataFrame
        ``clip_id, label, speaker`` [, ``split`` for ``official``, ``domain`` for ``cross-corpus``].
    protocol : str
        One of :data:`PROTOCOLS`: ``speaker-cv`` (stratified group k-fold over speakers),
        ``speaker-split`` (one speaker-disjoint cut), ``random-split`` (stratified, speakers
        leak), ``cross-corpus`` (train on one pair, test on the other) or ``official``.
    n_folds : int
        Folds of ``speaker-cv`` (at most the number of speakers).
    seed : int
        Seed of the fold draw.
    test_size : float
        Test share of ``speaker-split`` and ``random-split``.

    Returns
    -------
    dict
        ``protocol, classes, n_clips, n_speakers, seed, splits`` (each split ``name, train,
        test``) [, ``domains`` for ``cross-corpus``].

    Raises
    ------
    ValueError
        For an unknown protocol or labels the protocol cannot split.
    """
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}; choose one of {PROTOCOLS}")
    df = labels.reset_index(drop=True)
    ids = df["clip_id"].astype(str).to_numpy()
    y = df["label"].astype(str).to_numpy()
    groups = df["speaker"].astype(str).to_numpy()
    n_speakers = len(np.unique(groups))
    splits: list[dict] = []
    final_train = None
    if protocol == "speaker-cv":
        k = min(int(n_folds), n_speakers)
        if k < 2:
            raise ValueError(f"speaker-cv needs at least 2 speakers, found {n_speakers}")
        cv = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
        for i, (tr, te) in enumerate(cv.split(ids, y, groups)):
            splits.append({"name": f"fold{i}", "train": ids[tr].tolist(), "test": ids[te].tolist()})
    elif protocol == "speaker-split":
        if n_speakers < 2:
            raise ValueError(f"speaker-split needs at least 2 speakers, found {n_speakers}")
        k = max(2, int(round(1 / test_size)))
        k = min(k, n_speakers)
        cv = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
        tr, te = next(cv.split(ids, y, groups))
        splits.append({"name": "split", "train": ids[tr].tolist(), "test": ids[te].tolist()})
    elif protocol == "random-split":
        counts = pd.Series(y).value_counts()
        if (counts < 2).any():
            raise ValueError(f"random-split needs at least 2 clips of every class; "
                             f"{', '.join(f'{c}: {n}' for c, n in counts[counts < 2].items())}")
        ss = StratifiedShuffleSplit(n_splits=1, test_size=test_size, random_state=seed)
        tr, te = next(ss.split(ids, y))
        splits.append({"name": "split", "train": ids[tr].tolist(), "test": ids[te].tolist()})
    elif protocol == "cross-corpus":
        tr, te = _cross_corpus(df)
        splits.append({"name": "cross", "train": ids[tr].tolist(), "test": ids[te].tolist()})
        final_train = sorted(ids[tr].tolist())  # the test pair never trains the bundle
    else:  # official
        if "split" not in df.columns or df["split"].isna().all():
            raise ValueError("protocol 'official' needs a 'split' column (train/dev/test) in labels.csv")
        s = df["split"].astype(str).str.lower()
        tr = np.flatnonzero(s.isin(["train", "dev", "val", "validation"]).to_numpy())
        te = np.flatnonzero((s == "test").to_numpy())
        if len(te) == 0:
            raise ValueError("protocol 'official': no clip has split == 'test'")
        splits.append({"name": "official", "train": ids[tr].tolist(), "test": ids[te].tolist()})
    _warn_missing_classes(splits, dict(zip(ids, y)), sorted(set(y)))
    if final_train is None:
        final_train = sorted(set().union(*[set(s["train"]) | set(s["test"]) for s in splits]))
    splits.append({"name": "final", "train": final_train, "test": []})
    out = {"protocol": protocol, "classes": sorted(set(y)), "n_clips": len(ids),
           "n_speakers": n_speakers, "seed": seed, "splits": splits}
    if protocol == "cross-corpus":
        dom = df[DOMAIN_COLUMN].astype(str).str.strip().str.lower()
        out["domains"] = {d: {"n_clips": int((dom == d).sum()),
                              "n_speakers": int(df.loc[dom == d, "speaker"].nunique()),
                              "corpus": (sorted(df.loc[dom == d, "corpus"].astype(str).unique())
                                         if "corpus" in df.columns else [])} for d in DOMAINS}
    return out


def _warn_missing_classes(splits: list[dict], label_of: dict, classes: list[str]) -> None:
    """Warn (once, listing each case) when a class has no clip on one side of a split."""
    gaps = []
    for s in splits:
        for side in ("train", "test"):
            have = {label_of[c] for c in s[side]}
            gaps += [f"{s['name']} {side}: no {c}" for c in classes if c not in have]
    if gaps:
        warnings.warn(f"{len(gaps)} split side(s) lack a class ({'; '.join(gaps[:6])}"
                      f"{'; ...' if len(gaps) > 6 else ''}): too few speakers or clips of that class "
                      "for this protocol", UserWarning, stacklevel=3)


def evaluation_splits(splits: dict) -> list[dict]:
    """The splits that produce reported numbers (all but ``final``).

    Parameters
    ----------
    splits : dict
        A ``splits.json`` dict of :func:`make_splits`.

    Returns
    -------
    list of dict
    """
    return [s for s in splits["splits"] if s["name"] != "final"]


def describe_splits(splits: dict, labels: pd.DataFrame, classes=None, frames=None) -> pd.DataFrame:
    """One row per split (``final`` too): clips and speakers on each side, speakers shared,
    test clips per class and, for ``cross-corpus``, the corpus of each side.

    Parameters
    ----------
    splits : dict
        ``splits.json``.
    labels : DataFrame
        ``labels.csv`` (``clip_id``, ``speaker``, ``label``; ``corpus`` for cross-corpus runs).
    classes : sequence of str, optional
        Columns ``test <class>``; default ``splits["classes"]``.
    frames : mapping, optional
        Clip id -> number of frames (e.g. MFCC frames): adds the column ``train frames``.

    Returns
    -------
    DataFrame
        Indexed by split name.
    """
    classes = list(classes) if classes is not None else list(splits["classes"])
    ids = labels["clip_id"].astype(str)
    speaker_of = dict(zip(ids, labels["speaker"].astype(str)))
    label_of = dict(zip(ids, labels["label"].astype(str)))
    corpus_of = dict(zip(ids, labels["corpus"].astype(str))) if "corpus" in labels.columns else {}
    rows = []
    for s in splits["splits"]:
        tr_spk = {speaker_of[c] for c in s["train"]}
        te_spk = {speaker_of[c] for c in s["test"]}
        row = {"split": s["name"], "train clips": len(s["train"]), "test clips": len(s["test"]),
               "train speakers": len(tr_spk), "test speakers": len(te_spk),
               "shared speakers": len(tr_spk & te_spk)}
        if frames is not None:
            row["train frames"] = sum(frames[c] for c in s["train"])
        if splits.get("protocol") == "cross-corpus" and corpus_of:
            row["train corpus"] = ", ".join(sorted({corpus_of[c] for c in s["train"]}))
            row["test corpus"] = ", ".join(sorted({corpus_of[c] for c in s["test"]}))
        for c in classes:
            row[f"test {c}"] = sum(label_of[i] == c for i in s["test"])
        rows.append(row)
    return pd.DataFrame(rows).set_index("split")


def check_speaker_independent(splits: dict, labels: pd.DataFrame) -> None:
    """Raise if a speaker is on both sides of any split.

    Not checked for ``random-split`` (the papers' protocol lets speakers leak by design) nor for
    ``official`` (MELD's own split shares the main characters between train and test).

    Parameters
    ----------
    splits : dict
        The ``splits.json`` dict (its ``protocol`` decides whether anything is checked).
    labels : pandas.DataFrame
        ``labels.csv`` with ``clip_id`` and ``speaker``.

    Returns
    -------
    None

    Raises
    ------
    AssertionError
        Naming the split and the speakers found on both sides.
    """
    if splits["protocol"] not in SPEAKER_INDEPENDENT:
        return
    spk = dict(zip(labels["clip_id"].astype(str), labels["speaker"].astype(str)))
    for s in evaluation_splits(splits):
        both = {spk[c] for c in s["train"]} & {spk[c] for c in s["test"]}
        if both:
            raise AssertionError(f"split {s['name']}: speakers on both sides: {sorted(both)}")


# ----------------------------------------------------------------------------------------------
# Inside one split's training portion: the validation part for early stopping and inner tables
# ----------------------------------------------------------------------------------------------
def validation_carve_out(y, groups=None, validation_split: float = 0.2,
                         seed: int = 42) -> tuple[np.ndarray, np.ndarray, str]:
    """Split the *training portion* into fit and validation row indices.

    With ``groups`` (speakers) the validation part holds whole speakers (stratified grouped
    k-fold with k = round(1 / validation_split), first fold), so early stopping is judged on
    unseen speakers as the test is. With fewer than k training speakers (one speaker would be
    far more than ``validation_split`` of the data) or without groups: a stratified random part.
    Either way only training clips of the split are involved.

    Parameters
    ----------
    y : array-like of shape (n,)
        Labels of the training rows.
    groups : array-like of shape (n,) or None
        Their speakers.
    validation_split : float, default=0.2
        Share held out; ``<= 0`` gives an empty validation part.
    seed : int, default=42

    Returns
    -------
    fit_idx, val_idx : ndarray of int
    how : str
        How the part was drawn (for the record).
    """
    from sklearn.model_selection import ShuffleSplit, StratifiedGroupKFold, StratifiedShuffleSplit

    y = np.asarray(y)
    n = len(y)
    idx = np.arange(n)
    if validation_split <= 0 or n < 4:
        return idx, idx[:0], "none"
    if groups is not None:
        g = np.asarray(groups).astype(str)
        n_groups = len(np.unique(g))
        k = max(2, int(round(1.0 / validation_split)))
        if n_groups >= k:
            cv = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
            fit_idx, val_idx = next(cv.split(idx, y, g))
            return fit_idx, val_idx, f"grouped (whole speakers, 1 of {k} folds)"
        note = f"random (stratified; only {n_groups} training speakers, too few to hold out whole speakers)"
    else:
        note = "random (stratified; no speaker groups)"
    _, counts = np.unique(y, return_counts=True)
    n_val = max(1, int(round(validation_split * n)))
    if counts.min() >= 2 and n_val >= len(counts):
        ss = StratifiedShuffleSplit(n_splits=1, test_size=n_val, random_state=seed)
        fit_idx, val_idx = next(ss.split(idx, y))
    else:
        fit_idx, val_idx = next(ShuffleSplit(n_splits=1, test_size=n_val, random_state=seed).split(idx))
    return fit_idx, val_idx, note
