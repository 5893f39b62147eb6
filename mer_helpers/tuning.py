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


def inner_split(split: Mapping, labels: pd.DataFrame, seed: int = 42,
                fraction: float = 0.2) -> tuple[list[str], list[str], str]:
    """``(fit_ids, val_ids, how)``: the training clips of ``split`` cut by whole speakers.

    Uses the same rule as the classifiers' validation part
    (:func:`mer_helpers.models.validation_carve_out`), so "inner speakers" mean the same thing
    everywhere. Never looks at ``split["test"]``.
    """
    from sklearn.model_selection import StratifiedGroupKFold

    train = [str(c) for c in split["train"]]
    lab = labels.set_index(labels["clip_id"].astype(str))
    y = lab.loc[train, "label"].astype(str).to_numpy()
    g = lab.loc[train, "speaker"].astype(str).to_numpy()
    k = max(2, int(round(1.0 / fraction)))
    if len(np.unique(g)) < k:
        raise ValueError(f"split {split.get('name')}: {len(np.unique(g))} training speakers, too few to hold "
                         f"out whole speakers for {k} inner folds")
    fit_idx, val_idx = next(StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed).split(train, y, g))
    return ([train[i] for i in fit_idx], [train[i] for i in val_idx],
            f"whole speakers, 1 of {k} inner folds of the training part")


def logreg_f1(X_fit: np.ndarray, y_fit, X_val: np.ndarray, y_val, C: float = 1.0, seed: int = 42) -> float:
    """Macro-F1 of a standardised multinomial logistic regression fitted on ``X_fit`` only."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import f1_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    clf = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=3000, random_state=seed))
    clf.fit(np.asarray(X_fit, np.float64), np.asarray(y_fit))
    return float(f1_score(np.asarray(y_val), clf.predict(np.asarray(X_val, np.float64)), average="macro"))


def inner_logreg_table(feature_sets: Mapping[str, Mapping[str, Mapping[str, np.ndarray]]],
                       labels: pd.DataFrame, splits: Sequence[Mapping], seed: int = 42) -> pd.DataFrame:
    """Inner-speaker macro-F1 of a logistic regression for each candidate feature set.

    ``feature_sets``: candidate name → split name → {clip id → vector} (a split's own features,
    e.g. of an autoencoder fitted on that split's training clips). Returns one row per
    (split, candidate) with ``f1_macro`` on the split's held-out inner speakers; splits with
    too few training speakers to hold some out are left out (the table may be empty).
    """
    y_of = dict(zip(labels["clip_id"].astype(str), labels["label"].astype(str)))
    rows = []
    for sp in splits:
        try:
            fit_ids, val_ids, _ = inner_split(sp, labels, seed)
        except ValueError:  # too few training speakers (the committed sample): nothing to choose on
            continue
        for name, by_split in feature_sets.items():
            vec = by_split[sp["name"]]
            f1 = logreg_f1(np.stack([vec[c] for c in fit_ids]), [y_of[c] for c in fit_ids],
                           np.stack([vec[c] for c in val_ids]), [y_of[c] for c in val_ids], seed=seed)
            rows.append({"split": sp["name"], "candidate": name, "f1_macro": f1,
                         "n_fit": len(fit_ids), "n_val": len(val_ids)})
    return pd.DataFrame(rows)


def summarize_candidates(table: pd.DataFrame, chosen: str | None = None) -> pd.DataFrame:
    """Mean and std over splits per candidate, best first; ``chosen`` is marked."""
    if table.empty:
        return pd.DataFrame(columns=["inner macro-F1", "std", "splits"])
    out = (table.groupby("candidate")["f1_macro"].agg(["mean", "std", "count"])
           .sort_values("mean", ascending=False).round(3))
    out.columns = ["inner macro-F1", "std", "splits"]
    if chosen is not None:
        out["used"] = ["yes" if c == chosen else "" for c in out.index]
    return out


__all__ = ["inner_split", "logreg_f1", "inner_logreg_table", "summarize_candidates"]
