"""Choosing settings on inner training speakers only (the ``strong`` preset's evidence).

Every evaluation split of a run has training clips and test clips. To choose a setting
(which audio features, which backbone layer, how the classifier is trained) without ever
looking at a test clip, each split's *training* clips are cut once more by whole speakers
(:func:`inner_split`: about 1 in 5 training speakers held out, stratified by class). A setting
is fitted on the inner-fit speakers and scored (macro-F1) on the held-out inner speakers; the
table over splits is the evidence the book shows. The test clips are not read.

Cost: one extra fit per setting and split, on 80 % of the training clips.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from mer_helpers.data.splits import validation_carve_out
from mer_helpers.methods import person
from mer_helpers.methods.evaluation import logreg_per_split


def inner_split(split: Mapping, labels: pd.DataFrame, seed: int = 42,
                fraction: float = 0.2) -> tuple[list[str], list[str], str]:
    """``(fit_ids, val_ids, how)``: the training clips of ``split`` cut by whole speakers.

    Uses the same rule as the classifiers' validation part
    (:func:`mer_helpers.data.splits.validation_carve_out`), so "inner speakers" mean the same thing
    everywhere. Never looks at ``split["test"]``.

    Parameters
    ----------
    split : Mapping
        An evaluation split (``name``, ``train``).
    labels : pandas.DataFrame
        ``labels.csv`` with ``clip_id``, ``label`` and ``speaker``.
    seed : int
        Seed of the speaker draw.
    fraction : float
        Share of the training speakers held out (about ``1 / fraction`` inner folds).

    Returns
    -------
    tuple
        ``(fit_ids, val_ids, how)``: two lists of clip ids and the carve-out's description.

    Raises
    ------
    ValueError
        When the split has too few training speakers to hold whole speakers out.
    """

    train = [str(c) for c in split["train"]]
    lab = labels.set_index(labels["clip_id"].astype(str))
    y = lab.loc[train, "label"].astype(str).to_numpy()
    g = lab.loc[train, "speaker"].astype(str).to_numpy()
    fit_idx, val_idx, how = validation_carve_out(y, g, fraction, seed)
    if not how.startswith("grouped"):
        raise ValueError(f"split {split.get('name')}: {len(np.unique(g))} training speakers, too few to hold "
                         f"out whole speakers for {max(2, int(round(1.0 / fraction)))} inner folds")
    return [train[i] for i in fit_idx], [train[i] for i in val_idx], how


def inner_splits(splits: Sequence[Mapping], labels: pd.DataFrame, seed: int = 42):
    """Yield ``(split, fit_ids, val_ids)`` for each split that can be cut by whole speakers
    (:func:`inner_split`); a split with too few training speakers (the committed sample) is
    left out: there is nothing to choose on there."""
    for sp in splits:
        try:
            fit_ids, val_ids, _ = inner_split(sp, labels, seed)
        except ValueError:
            continue
        yield sp, fit_ids, val_ids


def positions(ids: Sequence, wanted: Sequence[str]) -> np.ndarray:
    """Row positions of the clip ids ``wanted`` in ``ids``."""
    pos = {str(c): i for i, c in enumerate(ids)}
    return np.array([pos[str(c)] for c in wanted], dtype=int)


def logreg_f1(X_fit: np.ndarray, y_fit, X_val: np.ndarray, y_val, C: float = 1.0, seed: int = 42) -> float:
    """Macro-F1 of a standardised multinomial logistic regression fitted on ``X_fit`` only
    (:func:`mer_helpers.methods.evaluation.logreg_per_split` on one fit/validation split, features as
    float64, at most 3000 iterations).

    Parameters
    ----------
    X_fit, X_val : numpy.ndarray
        Fitting and validation rows.
    y_fit, y_val : sequence
        Their labels.
    C, seed : float, int
        Passed to :func:`~mer_helpers.methods.evaluation.logreg_per_split`.

    Returns
    -------
    float
        Macro-F1 on the validation rows (over the classes present in them or predicted).
    """

    X = np.concatenate([np.asarray(X_fit, np.float64), np.asarray(X_val, np.float64)])
    ids = [str(i) for i in range(len(X))]
    n = len(X_fit)
    label_of = dict(zip(ids, list(np.asarray(y_fit)) + list(np.asarray(y_val))))
    table = logreg_per_split((ids, X), label_of, [{"name": "inner", "train": ids[:n], "test": ids[n:]}],
                             C=C, seed=seed, max_iter=3000)
    return float(table["f1_macro"].iloc[0]) if len(table) else float("nan")


def inner_logreg_table(feature_sets: Mapping[str, Mapping[str, Mapping[str, np.ndarray]]],
                       labels: pd.DataFrame, splits: Sequence[Mapping], seed: int = 42) -> pd.DataFrame:
    """Inner-speaker macro-F1 of a logistic regression for each candidate feature set.

    Splits with too few training speakers to hold some out are left out (the table may be empty).

    Parameters
    ----------
    feature_sets : Mapping
        Candidate name → split name → {clip id → vector} (a split's own features, e.g. of an
        autoencoder fitted on that split's training clips).
    labels : pandas.DataFrame
        ``labels.csv`` (``clip_id``, ``label``, ``speaker``).
    splits : sequence of Mapping
        The evaluation splits whose training clips are cut by :func:`inner_split`.
    seed : int
        For the inner cut and the model.

    Returns
    -------
    pandas.DataFrame
        One row per (split, candidate): ``split, candidate, f1_macro, n_fit, n_val``, the F1 on
        the split's held-out inner speakers.
    """
    y_of = dict(zip(labels["clip_id"].astype(str), labels["label"].astype(str)))
    rows = []
    for sp, fit_ids, val_ids in inner_splits(splits, labels, seed):
        for name, by_split in feature_sets.items():
            vec = by_split[sp["name"]]
            f1 = logreg_f1(np.stack([vec[c] for c in fit_ids]), [y_of[c] for c in fit_ids],
                           np.stack([vec[c] for c in val_ids]), [y_of[c] for c in val_ids], seed=seed)
            rows.append({"split": sp["name"], "candidate": name, "f1_macro": f1,
                         "n_fit": len(fit_ids), "n_val": len(val_ids)})
    return pd.DataFrame(rows)


def mean_by_candidate(table: pd.DataFrame | None) -> dict | None:
    """Mean inner macro-F1 per candidate (4 decimals), for a metrics fragment.

    Parameters
    ----------
    table : pandas.DataFrame or None
        A table of :func:`inner_logreg_table` or :func:`inner_classifier_table`.

    Returns
    -------
    dict or None
        Candidate → mean macro-F1; ``None`` when no table could be made (too few training speakers).
    """
    if table is None or table.empty:
        return None
    return table.groupby("candidate")["f1_macro"].mean().round(4).to_dict()


def summarize_candidates(table: pd.DataFrame, chosen: str | None = None) -> pd.DataFrame:
    """Mean and std over splits per candidate, best first; ``chosen`` is marked.

    Parameters
    ----------
    table : pandas.DataFrame
        Rows ``split, candidate, f1_macro`` (an inner table).
    chosen : str, optional
        The candidate the run uses: a ``used`` column marks it.

    Returns
    -------
    pandas.DataFrame
        Indexed by candidate: ``inner macro-F1, std, splits`` (3 decimals) [, ``used``].
    """
    if table.empty:
        return pd.DataFrame(columns=["inner macro-F1", "std", "splits"])
    out = (table.groupby("candidate")["f1_macro"].agg(["mean", "std", "count"])
           .sort_values("mean", ascending=False).round(3))
    out.columns = ["inner macro-F1", "std", "splits"]
    if chosen is not None:
        out["used"] = ["yes" if c == chosen else "" for c in out.index]
    return out


def inner_person_norm_table(plain: Mapping[str, tuple], labels: pd.DataFrame, splits: Sequence[Mapping],
                            seed: int = 42) -> pd.DataFrame:
    """Inner-speaker macro-F1 of each modality's columns under each per-person normalisation.

    For every evaluation split and modality, a logistic regression (:func:`logreg_f1`) reads the
    modality's fused columns with ``none`` / ``center`` / ``zscore``
    (:func:`mer_helpers.methods.person.normalize`); each person's statistics come from that person's
    clips in the file, never their labels. Fitted on the inner-fit speakers, scored on the
    held-out inner speakers (:func:`inner_split`); the test clips are not read.

    Parameters
    ----------
    plain : Mapping
        Split name → ``(clip_ids, X, columns)``: the fused features without normalisation.
    labels : pandas.DataFrame
        ``labels.csv`` (``clip_id``, ``label``, ``speaker``).
    splits : sequence of Mapping
        The evaluation splits.
    seed : int

    Returns
    -------
    pandas.DataFrame
        Rows ``split, candidate, f1_macro, n_fit, n_val``; candidates ``"<modality> <mode>"``.
    """
    frames = []
    for modality in ("audio", "visual"):
        for mode in person.PERSON_NORM:
            cand = {}
            for sp in splits:
                ids, X, cols = plain[sp["name"]]
                keep = np.array([str(c).startswith(modality + ":") for c in cols])
                if not keep.any():
                    break
                Xn = person.normalize(X[:, keep], person.persons_of(ids, labels), [mode] * int(keep.sum()))
                cand[sp["name"]] = dict(zip([str(c) for c in ids], Xn))
            if len(cand) == len(splits):
                frames.append(inner_logreg_table({f"{modality} {mode}": cand}, labels, splits, seed=seed))
    frames = [f for f in frames if len(f)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=["split", "candidate", "f1_macro", "n_fit", "n_val"])


def best_person_norm(table: pd.DataFrame) -> dict[str, str]:
    """The mode with the highest mean inner macro-F1 for each modality of
    :func:`inner_person_norm_table` (``{}`` for an empty table). Where modes tie (faces that
    every mode classifies alike, say), the field's usual mode of
    :data:`mer_helpers.methods.person.INNER_FALLBACK` if it is among them.

    Parameters
    ----------
    table : pandas.DataFrame

    Returns
    -------
    dict
        ``{"audio": mode, "visual": mode}`` (the modalities present).
    """
    if table is None or table.empty:
        return {}
    mean = table.groupby("candidate")["f1_macro"].mean().round(6)
    out = {}
    for modality in dict.fromkeys(str(c).split(" ", 1)[0] for c in mean.index):
        modes = {str(c).split(" ", 1)[1]: f1 for c, f1 in mean.items() if str(c).startswith(modality + " ")}
        best = max(modes.values())
        tied = [m for m in modes if modes[m] == best]
        fallback = person.INNER_FALLBACK.get(modality)
        out[modality] = fallback if fallback in tied else tied[0]
    return out


def inner_reference_size_table(plain: Mapping[str, tuple], labels: pd.DataFrame, splits: Sequence[Mapping],
                               audio: str, visual: str, sizes: Sequence[int] = (1, 2, 4, 8, 16),
                               seed: int = 42) -> pd.DataFrame:
    """How many clips a person's reference needs, on inner training speakers.

    For every evaluation split: a logistic regression (:func:`logreg_f1`) is fitted on the
    inner-fit speakers' person-normalised features (each person's statistics over all their
    clips) and scored on the held-out inner speakers, whose statistics come from only ``k``
    of their clips drawn at random (every held-out clip is normalised with them). The row
    ``person-free`` is the same model on plain features: the answer a person without a
    reference gets. The test clips are not read.

    Parameters
    ----------
    plain, labels, splits :
        As for :func:`inner_person_norm_table`.
    audio, visual : {"none", "center", "zscore"}
        The run's modes.
    sizes : sequence of int
        Reference sizes ``k`` (a person with fewer clips uses all of them).
    seed : int

    Returns
    -------
    pandas.DataFrame
        Rows ``split, candidate, f1_macro, n_fit, n_val``; candidates ``person-free``,
        ``k clips`` for each size and ``all clips``.
    """
    y_of = dict(zip(labels["clip_id"].astype(str), labels["label"].astype(str)))
    rows = []
    for sp, fit_ids, val_ids in inner_splits(splits, labels, seed):
        ids, X, cols = plain[sp["name"]]
        fi, vi = positions(ids, fit_ids), positions(ids, val_ids)
        yf, yv = [y_of[c] for c in fit_ids], [y_of[c] for c in val_ids]
        who_f, who_v = person.persons_of(fit_ids, labels), person.persons_of(val_ids, labels)
        Xf = person.normalize_fused(X[fi], cols, who_f, audio, visual)
        n = dict(n_fit=len(fi), n_val=len(vi))
        rows.append({"split": sp["name"], "candidate": "person-free", **n,
                     "f1_macro": logreg_f1(X[fi], yf, X[vi], yv, seed=seed)})
        for k in [*sizes, None]:
            mask = person.subset_reference(who_v, lambda idx, rng: idx if k is None or len(idx) <= k
                                           else rng.choice(idx, size=k, replace=False), rng=seed)
            stats = person.reference_statistics(X[vi], who_v, mask)
            Xv = person.normalize_fused(X[vi], cols, who_v, audio, visual, stats=stats)
            rows.append({"split": sp["name"], "candidate": "all clips" if k is None else f"{k} clips", **n,
                         "f1_macro": logreg_f1(Xf, yf, Xv, yv, seed=seed)})
    return pd.DataFrame(rows, columns=["split", "candidate", "f1_macro", "n_fit", "n_val"])


def smallest_reference(table: pd.DataFrame) -> int | None:
    """The fewest clips (``"k clips"`` rows of :func:`inner_reference_size_table`) whose mean
    inner macro-F1 reaches the person-free model's; ``None`` when no size does or the table is
    empty."""
    if table is None or table.empty:
        return None
    mean = table.groupby("candidate")["f1_macro"].mean()
    free = mean.get("person-free")
    sizes = sorted(int(c.split()[0]) for c in mean.index if c.endswith(" clips") and c[0].isdigit())
    return next((k for k in sizes if mean[f"{k} clips"] >= free), None)


__all__ = [
    "inner_split", "inner_splits", "positions", "logreg_f1", "inner_logreg_table", "inner_person_norm_table", "best_person_norm",
    "inner_reference_size_table", "smallest_reference", "mean_by_candidate", "summarize_candidates"
]
