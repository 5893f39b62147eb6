"""Metrics, uncertainty, significance and figures — all computed from prediction files.

A prediction file (``artifacts/predictions/<model>.csv``) has one row per test clip of each
evaluation split: ``clip_id, split, y_true, y_pred, p_<class>...`` (class names as labels).

* :func:`metrics_from_confusion` / :func:`classification_metrics` — accuracy, precision,
  recall and F1 (weighted and macro; paper 1 §3.7, paper 2 §4.6); a class never predicted has
  precision 0 (scikit-learn's ``zero_division=0``).
* :func:`per_class_report`, :func:`confusion` (counts or row-normalised),
  :func:`roc_curves` / :func:`auc_ovr` (one-vs-rest).
* :func:`bootstrap_ci` — percentile bootstrap interval, resampling clips (or whole speakers
  with ``groups``).
* :func:`mcnemar` — McNemar's test on the clips two models disagree on (exact binomial for
  fewer than 25 discordant clips, else χ² with continuity correction).
* :func:`summarize_model` — the ``metrics.json`` entry of one model: accuracy and macro-F1 as
  mean ± (population) std over the evaluation splits, the rest pooled over all test clips
  (:func:`format_mean_std` prints them; one split, e.g. ``cross-corpus``, has no spread).

Every function works for any number of classes (the class list is an argument; nothing
assumes the papers' three emotions except the papers' own numbers at the end).
* ``plot_*`` — confusion matrices, ROC curves, the grouped bar chart of paper 2 fig. 11,
  training curves.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from mer_helpers.core.fileio import atomic_write_text

METRIC_NAMES = ("accuracy", "precision_weighted", "recall_weighted", "f1_weighted",
                "precision_macro", "recall_macro", "f1_macro")
#: The four metrics of paper 1 Table 1 / paper 2 fig. 11 (their precision/recall/F1 are weighted:
#: their recall equals their accuracy).
PAPER_METRICS = ("accuracy", "precision_weighted", "recall_weighted", "f1_weighted")


# ----------------------------------------------------------------------------------------------
# Reading prediction files
# ----------------------------------------------------------------------------------------------
def load_predictions(path, classes: Sequence[str] | None = None) -> pd.DataFrame:
    """Read a ``predictions/<model>.csv``; checks the columns (errors name the file).

    Parameters
    ----------
    path : path-like
        The prediction file.
    classes : sequence of str, optional
        When given, every ``p_<class>`` column must be there and ``y_true`` must stay inside
        the class set.

    Returns
    -------
    pandas.DataFrame
        ``clip_id, split, y_true, y_pred`` as text, plus the probability columns.

    Raises
    ------
    FileNotFoundError, ValueError
        Missing file (notebook 06 has not run) or missing columns / unknown labels.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: prediction file not found (has 06_classifiers run?)")
    df = pd.read_csv(path, dtype={"clip_id": str, "split": str, "y_true": str, "y_pred": str})
    need = {"clip_id", "split", "y_true", "y_pred"}
    if not need <= set(df.columns):
        raise ValueError(f"{path}: missing columns {sorted(need - set(df.columns))}")
    if classes is not None:
        miss = [f"p_{c}" for c in classes if f"p_{c}" not in df.columns]
        if miss:
            raise ValueError(f"{path}: missing probability columns {miss}")
        bad = sorted(set(df["y_true"]) - set(classes))
        if bad:
            raise ValueError(f"{path}: y_true has labels outside the class set {list(classes)}: {bad}")
    return df


def proba_matrix(df: pd.DataFrame, classes: Sequence[str]) -> np.ndarray:
    """The ``p_<class>`` columns as an ``(n, n_classes)`` array in ``classes`` order.

    Parameters
    ----------
    df : pandas.DataFrame
        A prediction frame.
    classes : sequence of str
        Column order of the result.

    Returns
    -------
    numpy.ndarray
        float64 probabilities.
    """
    return df[[f"p_{c}" for c in classes]].to_numpy(dtype=float)


# ----------------------------------------------------------------------------------------------
# Point metrics
# ----------------------------------------------------------------------------------------------
def _encode(y, classes: Sequence[str]) -> np.ndarray:
    index = {str(c): i for i, c in enumerate(classes)}
    try:
        return np.array([index[str(v)] for v in y], dtype=int)
    except KeyError as e:
        raise ValueError(f"label {e.args[0]!r} is not in the class set {list(classes)}") from None


def confusion(y_true, y_pred, classes: Sequence[str], normalize: bool = False) -> np.ndarray:
    """Confusion matrix, rows = true class, columns = predicted.

    Parameters
    ----------
    y_true, y_pred : sequence
        Class names (each in ``classes``).
    classes : sequence of str
        Row and column order.
    normalize : bool
        Divide each row by its count (rows sum to 1; an empty row stays 0).

    Returns
    -------
    numpy.ndarray
        ``(k, k)`` counts (int) or shares (float).
    """
    c = len(classes)
    t, p = _encode(y_true, classes), _encode(y_pred, classes)
    cm = np.bincount(t * c + p, minlength=c * c).reshape(c, c)
    if normalize:
        rows = cm.sum(axis=1, keepdims=True)
        return np.divide(cm, rows, out=np.zeros(cm.shape, dtype=float), where=rows > 0)
    return cm


def metrics_from_confusion(cm: np.ndarray) -> dict[str, float]:
    """Accuracy and precision/recall/F1 (weighted by support, and macro) from a count matrix.

    Precision of a class never predicted (and F1 where precision + recall = 0) count as 0,
    like scikit-learn with ``zero_division=0``; macro averages run over the classes present in
    ``y_true`` or ``y_pred`` (scikit-learn's behaviour when ``labels`` is not given).

    Parameters
    ----------
    cm : numpy.ndarray
        ``(k, k)`` counts, rows = true class.

    Returns
    -------
    dict
        One float per name of :data:`METRIC_NAMES`.
    """
    cm = np.asarray(cm, dtype=float)
    tp = np.diag(cm)
    support = cm.sum(axis=1)
    predicted = cm.sum(axis=0)
    n = cm.sum()
    prec = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    rec = np.divide(tp, support, out=np.zeros_like(tp), where=support > 0)
    denom = prec + rec
    f1 = np.divide(2 * prec * rec, denom, out=np.zeros_like(tp), where=denom > 0)
    present = (support > 0) | (predicted > 0)
    w = support / n if n else np.zeros_like(support)
    return {
        "accuracy": float(tp.sum() / n) if n else float("nan"),
        "precision_weighted": float((prec * w).sum()),
        "recall_weighted": float((rec * w).sum()),
        "f1_weighted": float((f1 * w).sum()),
        "precision_macro": float(prec[present].mean()) if present.any() else 0.0,
        "recall_macro": float(rec[present].mean()) if present.any() else 0.0,
        "f1_macro": float(f1[present].mean()) if present.any() else 0.0,
    }


def classification_metrics(y_true, y_pred, classes: Sequence[str]) -> dict[str, float]:
    """:data:`METRIC_NAMES` for label vectors (class names or anything in ``classes``).

    Parameters
    ----------
    y_true, y_pred : sequence
        True and predicted labels of the same clips.
    classes : sequence of str
        The class set.

    Returns
    -------
    dict
        As :func:`metrics_from_confusion`.
    """
    return metrics_from_confusion(confusion(y_true, y_pred, classes))


def per_class_report(y_true, y_pred, classes: Sequence[str]) -> pd.DataFrame:
    """Precision, recall, F1 and support per class.

    Parameters
    ----------
    y_true, y_pred : sequence
        Labels of the test clips.
    classes : sequence of str
        Rows of the report, in this order.

    Returns
    -------
    pandas.DataFrame
        Index ``class``; columns ``precision, recall, f1, support``.
    """
    cm = confusion(y_true, y_pred, classes).astype(float)
    tp, support, predicted = np.diag(cm), cm.sum(axis=1), cm.sum(axis=0)
    prec = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    rec = np.divide(tp, support, out=np.zeros_like(tp), where=support > 0)
    f1 = np.divide(2 * prec * rec, prec + rec, out=np.zeros_like(tp), where=(prec + rec) > 0)
    return pd.DataFrame({"precision": prec, "recall": rec, "f1": f1, "support": support.astype(int)},
                        index=pd.Index(list(classes), name="class"))


def roc_curves(y_true, proba: np.ndarray, classes: Sequence[str]) -> dict[str, tuple[np.ndarray, np.ndarray, float]]:
    """One-vs-rest ROC per class.

    Parameters
    ----------
    y_true : sequence
        True class names.
    proba : numpy.ndarray
        ``(n, k)`` probabilities in ``classes`` order.
    classes : sequence of str
        The class order of ``proba``.

    Returns
    -------
    dict
        ``{class: (fpr, tpr, auc)}``; classes with no positive or no negative clip are left out.
    """
    from sklearn.metrics import auc, roc_curve

    t = _encode(y_true, classes)
    proba = np.asarray(proba, dtype=float)
    out = {}
    for j, c in enumerate(classes):
        pos = t == j
        if pos.all() or not pos.any():
            continue
        fpr, tpr, _ = roc_curve(pos.astype(int), proba[:, j])
        out[str(c)] = (fpr, tpr, float(auc(fpr, tpr)))
    return out


def auc_ovr(y_true, proba: np.ndarray, classes: Sequence[str]) -> float:
    """Macro-average one-vs-rest ROC AUC over the classes that have positives and negatives.

    Parameters
    ----------
    y_true : sequence
        Class names of the clips.
    proba : numpy.ndarray
        Their ``(n, k)`` probabilities.
    classes : sequence of str
        Column order of ``proba``.

    Returns
    -------
    float
        NaN when no class has both positives and negatives.
    """
    curves = roc_curves(y_true, proba, classes)
    return float(np.mean([a for _, _, a in curves.values()])) if curves else float("nan")


# ----------------------------------------------------------------------------------------------
# Uncertainty and significance
# ----------------------------------------------------------------------------------------------
def bootstrap_ci(y_true, y_pred, classes: Sequence[str], metric: str | Callable = "accuracy",
                 n_boot: int = 1000, seed: int = 42, level: float = 0.95,
                 groups=None) -> tuple[float, float]:
    """Percentile bootstrap interval of ``metric`` over test clips.

    Each of ``n_boot`` resamples draws clips with replacement (same number as the test set);
    with ``groups`` (e.g. speakers) whole groups are drawn instead, which respects that clips of
    one speaker are not independent.

    Parameters
    ----------
    y_true, y_pred : sequence
        Labels of the pooled test clips.
    classes : sequence of str
        The class set.
    metric : str or callable
        A key of :data:`METRIC_NAMES` or ``f(y_true_idx, y_pred_idx) -> float`` on
        integer-coded labels.
    n_boot : int
        Resamples.
    seed : int
        Seed of the draws.
    level : float
        Coverage of the interval.
    groups : sequence, optional
        Group of each clip; whole groups are resampled.

    Returns
    -------
    tuple of float
        ``(low, high)``.
    """
    t, p = _encode(y_true, classes), _encode(y_pred, classes)
    n, c = len(t), len(classes)
    if n == 0:
        return (float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    if groups is not None:
        g = np.asarray(groups).astype(str)
        uniq = np.unique(g)
        members = [np.flatnonzero(g == u) for u in uniq]
    stats = np.empty(int(n_boot))
    for b in range(int(n_boot)):
        if groups is None:
            idx = rng.integers(0, n, n)
        else:
            idx = np.concatenate([members[i] for i in rng.integers(0, len(uniq), len(uniq))])
        if callable(metric):
            stats[b] = metric(t[idx], p[idx])
        else:
            cm = np.bincount(t[idx] * c + p[idx], minlength=c * c).reshape(c, c)
            stats[b] = metrics_from_confusion(cm)[metric]
    alpha = (1 - level) / 2
    return (float(np.quantile(stats, alpha)), float(np.quantile(stats, 1 - alpha)))


def mcnemar(y_true, pred_a, pred_b, method: str = "auto") -> dict:
    """McNemar's test of two models' predictions on the same clips.

    ``b`` = clips A gets right and B wrong, ``c`` = the reverse.

    Parameters
    ----------
    y_true : sequence
        The clips' classes.
    pred_a, pred_b : sequence
        The two models' predictions, same order.
    method : {"auto", "exact", "chi2"}
        ``exact``: two-sided binomial test of b against Binomial(b + c, 1/2); ``chi2``: χ²
        with continuity correction, (|b - c| - 1)² / (b + c), 1 degree of freedom; ``auto``:
        exact when b + c < 25.

    Returns
    -------
    dict
        ``{"b", "c", "statistic", "p_value", "method"}``.
    """
    from scipy import stats

    t, a, bb = (np.asarray(v).astype(str) for v in (y_true, pred_a, pred_b))
    if not (len(t) == len(a) == len(bb)):
        raise ValueError(f"mcnemar: lengths differ ({len(t)}, {len(a)}, {len(bb)})")
    ra, rb = a == t, bb == t
    b = int(np.sum(ra & ~rb))
    c = int(np.sum(~ra & rb))
    m = method if method != "auto" else ("exact" if b + c < 25 else "chi2")
    if b + c == 0:
        return {"b": b, "c": c, "statistic": 0.0, "p_value": 1.0, "method": m}
    if m == "exact":
        p = min(1.0, 2.0 * stats.binom.cdf(min(b, c), b + c, 0.5))
        stat = float(min(b, c))
    elif m == "chi2":
        stat = (abs(b - c) - 1.0) ** 2 / (b + c)
        p = float(stats.chi2.sf(stat, 1))
    else:
        raise ValueError(f"mcnemar: unknown method {method!r} (auto, exact, chi2)")
    return {"b": b, "c": c, "statistic": float(stat), "p_value": float(p), "method": m}


def mean_std(values) -> tuple[float, float]:
    """Mean and population standard deviation (ddof=0; 0 for a single split).

    Parameters
    ----------
    values : sequence of float
        One value per split.

    Returns
    -------
    tuple of float
        ``(mean, std)``.
    """
    v = np.asarray(list(values), dtype=float)
    return (float(v.mean()), float(v.std())) if len(v) else (float("nan"), float("nan"))


def format_mean_std(mean: float, std: float | None = None, n_splits: int | None = None,
                    digits: int = 3) -> str:
    """``"0.812 ± 0.034"``; one split has no spread to report (a missing mean gives ``"n/a"``).

    Parameters
    ----------
    mean : float
        The value.
    std : float, optional
        Its spread; missing or NaN: not shown.
    n_splits : int, optional
        ``1`` (e.g. ``cross-corpus``, ``speaker-split``) gives ``"0.812 (1 split)"``.
    digits : int
        Decimals.

    Returns
    -------
    str
    """
    if mean is None or (isinstance(mean, float) and mean != mean):
        return "n/a"
    head = f"{mean:.{digits}f}"
    if n_splits == 1:
        return f"{head} (1 split)"
    if std is None or std != std:
        return head
    return f"{head} ± {std:.{digits}f}"


# ----------------------------------------------------------------------------------------------
# Per-model summaries
# ----------------------------------------------------------------------------------------------
def fold_metrics(df: pd.DataFrame, classes: Sequence[str]) -> pd.DataFrame:
    """One row of :data:`METRIC_NAMES` per evaluation split.

    Parameters
    ----------
    df : pandas.DataFrame
        A prediction frame (``split, y_true, y_pred``).
    classes : sequence of str
        The class set.

    Returns
    -------
    pandas.DataFrame
        Index = split name (in the frame's order).
    """
    rows = {s: classification_metrics(g["y_true"], g["y_pred"], classes) for s, g in df.groupby("split", sort=False)}
    out = pd.DataFrame.from_dict(rows, orient="index")
    out.index.name = "split"
    return out


def summarize_model(df: pd.DataFrame, classes: Sequence[str], bootstrap: int = 1000, seed: int = 42,
                    groups=None) -> dict:
    """The ``metrics.json`` entry of one model from its prediction rows.

    ``accuracy`` / ``f1_macro`` are means over the evaluation splits with ``*_std`` their
    population std; precision/recall/F1 weighted, AUC and the confusion matrix are pooled over
    all test clips.

    Parameters
    ----------
    df : pandas.DataFrame
        The model's prediction frame.
    classes : sequence of str
        The class order.
    bootstrap : int
        Resamples of the intervals (0: none).
    seed : int
        Seed of the resamples.
    groups : sequence, optional
        Speaker of each row: adds ``ci95_speakers`` (whole speakers resampled).

    Returns
    -------
    dict
        Metrics, ``auc_ovr`` (NaN without probability columns), ``confusion``, ``pooled``,
        ``per_split`` and, with ``bootstrap``, ``ci95`` (intervals of accuracy and macro-F1 over clips).
    """
    folds = fold_metrics(df, classes)
    acc_m, acc_s = mean_std(folds["accuracy"])
    f1_m, f1_s = mean_std(folds["f1_macro"])
    pooled = classification_metrics(df["y_true"], df["y_pred"], classes)
    cm = confusion(df["y_true"], df["y_pred"], classes)
    has_p = all(f"p_{c}" in df.columns for c in classes)
    out = {
        "accuracy": acc_m, "accuracy_std": acc_s,
        "precision_weighted": pooled["precision_weighted"], "recall_weighted": pooled["recall_weighted"],
        "f1_weighted": pooled["f1_weighted"], "f1_macro": f1_m, "f1_macro_std": f1_s,
        "auc_ovr": auc_ovr(df["y_true"], proba_matrix(df, classes), classes) if has_p else float("nan"),
        "confusion": cm.tolist(),
        "precision_macro": pooled["precision_macro"], "recall_macro": pooled["recall_macro"],
        "pooled": {"accuracy": pooled["accuracy"], "f1_macro": pooled["f1_macro"]},
        "n_clips": int(len(df)), "n_splits": int(len(folds)),
        "per_split": {s: {"accuracy": float(r["accuracy"]), "f1_macro": float(r["f1_macro"])}
                      for s, r in folds.iterrows()},
    }
    if bootstrap and bootstrap > 0:
        out["ci95"] = {m: list(bootstrap_ci(df["y_true"], df["y_pred"], classes, m, bootstrap, seed))
                       for m in ("accuracy", "f1_macro")}
        out["ci95"]["n_boot"] = int(bootstrap)
        out["ci95"]["resampled"] = "clips"
        if groups is not None:
            out["ci95_speakers"] = {m: list(bootstrap_ci(df["y_true"], df["y_pred"], classes, m, bootstrap,
                                                         seed, groups=groups))
                                    for m in ("accuracy", "f1_macro")}
    return out


def pairwise_mcnemar(preds: Mapping[str, pd.DataFrame], method: str = "auto") -> pd.DataFrame:
    """McNemar's test for every pair of models, on the clips both predicted (joined on clip_id + split).

    Parameters
    ----------
    preds : Mapping
        Model name → prediction frame.
    method : str
        As for :func:`mcnemar`.

    Returns
    -------
    pandas.DataFrame
        One row per pair: ``model_a, model_b, n`` and :func:`mcnemar`'s entries.
    """
    names = list(preds)
    rows = []
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            j = preds[a].merge(preds[b], on=["clip_id", "split"], suffixes=("_a", "_b"))
            r = mcnemar(j["y_true_a"], j["y_pred_a"], j["y_pred_b"], method)
            rows.append({"model_a": a, "model_b": b, "n": len(j), **r})
    return pd.DataFrame(rows)


def rounded(obj, digits: int = 3):
    """A copy of ``obj`` with every float rounded for display.

    NaN and infinities stay as they are. For what a notebook shows; what it writes keeps full
    precision.

    Parameters
    ----------
    obj : object
        Dicts, lists, tuples, DataFrames nested as they come, or a number.
    digits : int
        Decimals, or significant digits for values too small for that (a loss of 4.8e-05 stays
        4.8e-05, not 0.0).

    Returns
    -------
    object
        Same structure as ``obj``.
    """
    if isinstance(obj, dict):
        return {k: rounded(v, digits) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(rounded(v, digits) for v in obj)
    if isinstance(obj, pd.DataFrame):
        return obj.apply(lambda col: col.map(lambda v: rounded(v, digits)) if col.dtype == object else
                         (col.map(lambda v: rounded(v, digits)) if col.dtype.kind == "f" else col))
    if isinstance(obj, (float, np.floating)) and not isinstance(obj, bool):
        v = float(obj)
        if not np.isfinite(v) or v == 0:
            return v
        return float(f"{v:.{digits}g}") if abs(v) < 10 ** -(digits - 1) else round(v, digits)
    return obj


# ----------------------------------------------------------------------------------------------
# Writing prediction files
# ----------------------------------------------------------------------------------------------
def save_predictions(path, frames) -> Path:
    """Concatenate prediction frames (one per split) and write the CSV atomically.

    Parameters
    ----------
    path : path-like
        ``artifacts/predictions/<model>.csv``.
    frames : sequence of pandas.DataFrame
        The per-split prediction frames.

    Returns
    -------
    pathlib.Path
    """

    df = pd.concat(list(frames), ignore_index=True) if not isinstance(frames, pd.DataFrame) else frames
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, df.to_csv(index=False, float_format="%.6f"))
    return path


def mean_over_splits(df: pd.DataFrame, classes: Sequence[str], metric: str = "f1_macro") -> float:
    """Mean of ``metric`` over the evaluation splits of a prediction frame.

    Parameters
    ----------
    df : pandas.DataFrame
        Rows of every split.
    classes : sequence of str
        The class set.
    metric : str
        A name of :data:`METRIC_NAMES`.

    Returns
    -------
    float
    """
    return float(fold_metrics(df, classes)[metric].mean())


# ----------------------------------------------------------------------------------------------
# A linear yardstick per split
# ----------------------------------------------------------------------------------------------
def logreg_per_split(features, labels: Mapping, splits: Sequence[Mapping], *, classes: Sequence[str] | None = None,
                     seed: int | None = 42, C: float = 1.0, max_iter: int = 3000, predictions: bool = False):
    """A standardised logistic regression fitted on each split's training clips and scored on
    its test clips: the one linear yardstick of the chain (notebooks 02, 04, 06, 07, tuning).

    The scaler and the model see the split's training clips only. A split without test clips
    is skipped. Features are used in the dtype given (cast to float64 before calling where a
    caller wants that).

    Parameters
    ----------
    features : tuple or Mapping
        One ``(clip_ids, X)`` used for every split (features that fit nothing, e.g. MFCC
        mean + std), or split name → ``(clip_ids, X)`` (features fitted per split).
    labels : Mapping
        Clip id → class name.
    splits : sequence of Mapping
        Splits with ``name``, ``train`` and ``test`` (clip ids).
    classes : sequence of str, optional
        The class order. Given: the model is fitted on class indices, ``y_pred`` is the arg-max
        of the probabilities, macro-F1 averages over *all* classes (a class absent from a test
        part counts 0) and ``predictions`` has ``p_<class>`` columns. ``None``: the model is
        fitted on the names, ``y_pred`` is ``predict`` and macro-F1 averages over the classes
        present in ``y_true`` or ``y_pred``.
    seed : int or None
        ``random_state`` of the model (the lbfgs solver does not use it).
    C : float
        Inverse regularisation strength.
    max_iter : int
        Most lbfgs iterations (the callers keep their own: 5000 in notebook 02, 2000 for the
        classifiers' reference, 3000 elsewhere).
    predictions : bool
        Also return the predictions of every test clip.

    Returns
    -------
    pandas.DataFrame or tuple of two DataFrames
        One row per scored split: ``split, n_train, n_test, f1_macro, accuracy``. With
        ``predictions``: ``(scores, preds)``, ``preds`` with ``clip_id, split, y_true, y_pred``
        (and ``p_<class>`` when ``classes`` is given), the test clips of each split in order.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, f1_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    classes = None if classes is None else [str(c) for c in classes]
    encode = (lambda c: c) if classes is None else {c: i for i, c in enumerate(classes)}.__getitem__
    rows, frames = [], []
    for s in splits:
        if not len(s.get("test", ())):
            continue
        ids, X = features if isinstance(features, tuple) else features[s["name"]]
        X = np.asarray(X)
        pos = {str(c): i for i, c in enumerate(ids)}
        tr = [pos[str(c)] for c in s["train"]]
        te = [pos[str(c)] for c in s["test"]]
        y_tr = np.array([encode(labels[c]) for c in s["train"]])
        y_te = np.array([encode(labels[c]) for c in s["test"]])
        clf = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=max_iter, random_state=seed))
        clf.fit(X[tr], y_tr)
        if classes is None:
            pred, f1_labels, p = clf.predict(X[te]), None, None
        else:
            p = np.zeros((len(te), len(classes)))
            p[:, clf.classes_] = clf.predict_proba(X[te])
            pred, f1_labels = p.argmax(axis=1), range(len(classes))
        rows.append({"split": s["name"], "n_train": len(tr), "n_test": len(te),
                     "f1_macro": float(f1_score(y_te, pred, average="macro", labels=f1_labels)),
                     "accuracy": float(accuracy_score(y_te, pred))})
        if predictions:
            name = (lambda v: v) if classes is None else classes.__getitem__
            df = pd.DataFrame({"clip_id": [str(c) for c in s["test"]], "split": str(s["name"]),
                               "y_true": [name(v) for v in y_te], "y_pred": [name(v) for v in pred]})
            for j, c in enumerate(classes or ()):
                df[f"p_{c}"] = p[:, j]
            frames.append(df)
    scores = pd.DataFrame(rows, columns=["split", "n_train", "n_test", "f1_macro", "accuracy"])
    if not predictions:
        return scores
    cols = ["clip_id", "split", "y_true", "y_pred"] + [f"p_{c}" for c in classes or ()]
    return scores, (pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=cols))


# --------------------------------------------------------------------------- notebook 07


