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

METRIC_NAMES = ("accuracy", "precision_weighted", "recall_weighted", "f1_weighted",
                "precision_macro", "recall_macro", "f1_macro")
#: The four metrics of paper 1 Table 1 / paper 2 fig. 11 (their precision/recall/F1 are weighted:
#: their recall equals their accuracy).
PAPER_METRICS = ("accuracy", "precision_weighted", "recall_weighted", "f1_weighted")
MODEL_LABELS = {"bilstm_sa": "BiLSTM-SA", "bilstm": "BiLSTM", "cnn": "CNN"}


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


# ----------------------------------------------------------------------------------------------
# Figures
# ----------------------------------------------------------------------------------------------
def _ax(ax, figsize=(4, 3.5)):
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=figsize)
    return ax


def plot_confusion(cm, classes: Sequence[str], title: str = "", normalize: bool = False, ax=None):
    """Heat map of a confusion matrix (counts, or row-normalised when ``normalize``).

    Parameters
    ----------
    cm : array-like
        ``(k, k)`` counts.
    classes : sequence of str
        Tick labels.
    title : str
        Axes title.
    normalize : bool
        Show (and print in the cells) row shares instead of counts.
    ax : matplotlib Axes, optional
        Where to draw; a new figure when ``None``.

    Returns
    -------
    matplotlib.axes.Axes
    """
    cm = np.asarray(cm, dtype=float)
    if normalize:
        rows = cm.sum(axis=1, keepdims=True)
        cm = np.divide(cm, rows, out=np.zeros_like(cm), where=rows > 0)
    n = len(classes)
    if cm.shape != (n, n):
        raise ValueError(f"plot_confusion: a {cm.shape} matrix for {n} classes {list(classes)}")
    import seaborn as sns

    ax = _ax(ax, confusion_size(n))  # grows with the class count
    cells = [[f"{v:.2f}" if normalize else f"{int(v)}" for v in row] for row in cm]
    # seaborn picks each number's colour (black or white) from the darkness of its cell
    sns.heatmap(cm, ax=ax, cmap="Blues", vmin=0, vmax=1 if normalize else max(cm.max(), 1), square=True,
                annot=np.array(cells), fmt="", annot_kws={"fontsize": 9 if n <= 5 else 7},
                linewidths=0.5, linecolor="white", xticklabels=list(classes), yticklabels=list(classes),
                cbar_kws={"fraction": 0.046, "pad": 0.04})
    ax.tick_params(axis="x", rotation=30 if n <= 4 else 45)
    ax.tick_params(axis="y", rotation=0)
    if n > 4:
        for t in ax.get_xticklabels():
            t.set_horizontalalignment("right")
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title, fontsize=9)
    return ax


def plot_roc(y_true, proba, classes: Sequence[str], title: str = "", ax=None):
    """One-vs-rest ROC curves of one model, AUC per class in the legend.

    Parameters
    ----------
    y_true : sequence
        Test labels.
    proba : numpy.ndarray
        ``(n, k)`` probabilities.
    classes : sequence of str
        Column order of ``proba``.
    title : str
        Axes title.
    ax : matplotlib Axes, optional
        Drawn into when given.

    Returns
    -------
    matplotlib.axes.Axes
    """
    ax = _ax(ax, (4, 4))
    for c, (fpr, tpr, a) in roc_curves(y_true, proba, classes).items():
        ax.plot(fpr, tpr, label=f"{c} (AUC {a:.3f})")
    ax.plot([0, 1], [0, 1], "k:", lw=0.8)
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8 if len(classes) <= 5 else 6, loc="lower right")
    return ax


def plot_metric_bars(summaries: Mapping[str, Mapping[str, float]], metrics: Sequence[str] = PAPER_METRICS,
                     title: str = "", ax=None, reference: Mapping[str, Mapping[str, float]] | None = None,
                     errors: Mapping[str, Mapping[str, float]] | None = None):
    """Grouped bars: one group per metric, one bar per model (paper 2 fig. 11).

    Parameters
    ----------
    summaries : Mapping
        Model → {metric → value}.
    metrics : sequence of str
        The groups, in order.
    title : str
        Axes title.
    ax : matplotlib Axes, optional
        Target axes (new figure otherwise).
    reference : Mapping, optional
        Papers' values per model (drawn as black ticks on the bars).
    errors : Mapping, optional
        Half-widths per model and metric (error bars).

    Returns
    -------
    matplotlib.axes.Axes
    """
    import seaborn as sns

    ax = _ax(ax, (7, 3.8))
    models = list(summaries)
    names = [k.replace("_weighted", " (w)") for k in metrics]
    long = pd.DataFrame([{"metric": name, "model": MODEL_LABELS.get(m, m), "value": summaries[m].get(k, np.nan)}
                         for m in models for k, name in zip(metrics, names)])
    # the values are given (means over splits), not raw rows: seaborn draws the bars, the
    # intervals are the half-widths passed in ``errors``
    sns.barplot(data=long, x="metric", y="value", hue="model", order=names,
                hue_order=[MODEL_LABELS.get(m, m) for m in models], errorbar=None, width=0.8, ax=ax)
    top = 0.0  # the highest bar or error-bar end: the axis reaches above it
    width = 0.8 / max(len(models), 1)
    for i, m in enumerate(models):
        vals = [summaries[m].get(k, np.nan) for k in metrics]
        centres = np.arange(len(metrics)) - 0.4 + width * (i + 0.5)  # seaborn's dodged bar centres
        err = [errors[m].get(k, np.nan) or np.nan for k in metrics] if errors and m in errors else None
        if err is not None:
            ax.errorbar(centres, vals, yerr=err, fmt="none", ecolor="k", elinewidth=1, capsize=3, zorder=3)
        ends = np.asarray(vals, dtype=float) + np.nan_to_num(np.asarray(err if err else 0.0, dtype=float))
        top = max(top, *(e for e in ends if np.isfinite(e)), 0.0)
        for x, v in zip(centres, vals):
            ax.text(x, 0.02, f"{v:.3f}", ha="center", va="bottom", fontsize=7, rotation=90, color="white")
        if reference and m in reference:
            ref = [reference[m].get(k, np.nan) for k in metrics]
            ax.scatter(centres, ref, marker="_", s=200, color="k", zorder=4,
                       label="papers' Table 1" if m == models[0] else None)
    ax.set_ylim(0, max(1.05, top + 0.02))
    ax.set_xlabel("")
    ax.set_ylabel("score")
    ax.set_title(title, fontsize=9)
    # below the axes: inside, it covered the tops of the bars and their error bars
    ax.legend(fontsize=8, ncol=min(len(models) + bool(reference), 4), loc="upper center",
              bbox_to_anchor=(0.5, -0.1), frameon=False)
    return ax


def plot_history(records: Mapping[str, Mapping], title: str = "", axes=None):
    """Training curves: loss and accuracy (solid: fit part, dashed: validation part) per model.

    One colour per model; one legend for both panels, below them (a figure legend: the saved
    image, ``bbox_inches="tight"`` as in notebooks, includes it).

    Parameters
    ----------
    records : Mapping
        Label → a training record of :func:`mer_helpers.models.fit_model` (or its ``history`` dict).
    title : str
        Figure title.
    axes : pair of matplotlib Axes, optional
        Loss and accuracy panels; a new 1 x 2 figure when ``None``.

    Returns
    -------
    array of matplotlib Axes
        The two panels.
    """
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.ticker import MaxNLocator

    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(9, 4))  # the book shows ~9 inches at full size
    handles, has_val = [], False
    for i, (label, rec) in enumerate(records.items()):
        h = rec.get("history", rec)
        color = f"C{i}"
        for ax, key in zip(axes, ("loss", "accuracy")):
            ep = np.arange(1, len(h[key]) + 1)
            ax.plot(ep, h[key], color=color, lw=1.8)
            if f"val_{key}" in h:
                ax.plot(ep, h[f"val_{key}"], color=color, ls="--", lw=1.8)
                has_val = True
        handles.append(Line2D([], [], color=color, lw=2.5, label=label))
    handles.append(Line2D([], [], color="k", lw=1.8, label="fit part"))
    if has_val:
        handles.append(Line2D([], [], color="k", lw=1.8, ls="--", label="validation part"))
    for ax, key in zip(axes, ("loss", "accuracy")):
        ax.set_xlabel("epoch", fontsize=11.5)
        ax.set_ylabel(key, fontsize=11.5)
        ax.tick_params(labelsize=10.5)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, steps=[1, 2, 5, 10]))  # whole epochs
        ax.grid(alpha=0.3)
    fig = axes[0].figure
    fig.legend(handles=handles, fontsize=10.5, loc="upper center", bbox_to_anchor=(0.5, 0.0),
               ncol=len(handles), frameon=False)
    fig.suptitle(title, fontsize=11)
    return axes


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
    from mer_helpers.io import atomic_write_text

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
# The papers' numbers and the facts of a run (for the comparison in 07_results)
# ----------------------------------------------------------------------------------------------
#: Paper 1 Table 1 = paper 2 Table 2 (MELD, happy/sad/surprise, random 80/20 split, ImageNet ResNet-50).
PAPER_TABLE1 = {
    "bilstm_sa": {"accuracy": 0.89834, "precision_weighted": 0.89833, "recall_weighted": 0.898, "f1_weighted": 0.898},
    "bilstm": {"accuracy": 0.85151, "precision_weighted": 0.85165, "recall_weighted": 0.85151, "f1_weighted": 0.85152},
    "cnn": {"accuracy": 0.8687, "precision_weighted": 0.86877, "recall_weighted": 0.8687, "f1_weighted": 0.86867},
}
#: Paper 2 §5.1: ROC AUC of the three models.
PAPER2_AUC = {"bilstm_sa": 0.98, "bilstm": 0.93, "cnn": 0.928}
#: Paper 2 §5.1, BiLSTM-SA confusion matrix as given in the text (rows true, columns predicted;
#: order happy, sad, surprise).
PAPER2_CONFUSION_BILSTM_SA = [[1284, 131, 34], [136, 1284, 13], [24, 5, 463]]
#: MELD utterances per label, train / dev / test (the published distribution, Poria et al. 2019;
#: github.com/declare-lab/MELD).
MELD_COUNTS = {"happy": (1743, 163, 402), "sad": (683, 111, 208), "surprise": (1205, 150, 281)}


#: the papers' class set (Table 1, the confusion matrix above)
PAPER_CLASSES = ("happy", "sad", "surprise")


def paper_comparison_note(classes: Sequence[str], protocol: str | None = None) -> str:
    """Why a run's numbers cannot be set beside the papers' one to one.

    Parameters
    ----------
    classes : sequence of str
        The run's classes (another class set changes chance level 1/k).
    protocol : str, optional
        The run's protocol (``cross-corpus`` is named).

    Returns
    -------
    str
        The note; ``""`` when nothing stands out beyond the protocol and data differences
        discussed in 07_results.
    """
    notes = []
    if sorted(classes) != sorted(PAPER_CLASSES):
        notes.append(f"this run has {len(classes)} classes ({', '.join(classes)}; chance "
                     f"{1 / max(len(classes), 1):.3f}), the papers 3 (happy, sad, surprise; chance 0.333)")
    if protocol == "cross-corpus":
        notes.append("cross-corpus: trained on one corpus pair and tested on another, a harder test "
                     "than any within-corpus split")
    return "; ".join(notes)


def confusion_size(n_classes: int) -> tuple[float, float]:
    """Width and height (inches) of one confusion-matrix panel for ``n_classes`` classes.

    Parameters
    ----------
    n_classes : int
        Rows of the matrix.

    Returns
    -------
    tuple of float
    """
    return max(4.2, 0.55 * n_classes + 1.8), max(3.5, 0.5 * n_classes + 1.5)


def papers_table() -> pd.DataFrame:
    """The papers' Table 1 (rows = models, columns = the four metrics) plus paper 2's AUC.

    Returns
    -------
    pandas.DataFrame
    """
    df = pd.DataFrame(PAPER_TABLE1).T
    df["auc_ovr"] = pd.Series(PAPER2_AUC)
    df.index = [MODEL_LABELS[m] for m in df.index]
    return df


def run_context(out_dir) -> dict:
    """Facts of a run folder that explain its numbers: dataset, protocol, clips, speakers,
    speakers shared between training and test parts, backbone weights, epochs, preset.

    Parameters
    ----------
    out_dir : path-like
        A finished (or partly finished) run.

    Returns
    -------
    dict
        Only the facts found in the run's files.
    """
    from mer_helpers.io import merge_fragments, read_json
    from mer_helpers.splits import describe_splits

    out = Path(out_dir)
    a = out / "artifacts"
    frag = merge_fragments(out) if (a / "metrics").is_dir() else {}
    run = read_json(out / "run.json") if (out / "run.json").exists() else {}
    params = run.get("parameters", {})
    ctx = {"dataset": frag.get("dataset", params.get("dataset")), "preset": run.get("preset"),
           "backbone_weights": str(frag.get("backbone_weights", params.get("backbone_weights", "imagenet"))),
           "visual_backbone": frag.get("visual_backbone", params.get("backbone", "resnet50")),
           "epochs": frag.get("classifiers", {}).get("epochs", params.get("epochs")),
           "validation": frag.get("classifiers", {}).get("validation"),
           "early_stopping": frag.get("classifiers", {}).get("early_stopping"),
           "features": frag.get("features"), "sanity": frag.get("sanity")}
    if (a / "splits.json").exists() and (a / "labels.csv").exists():
        sp = read_json(a / "splits.json")
        lab = pd.read_csv(a / "labels.csv", dtype=str)
        ev_splits = [s for s in sp["splits"] if s["name"] != "final"]
        table = describe_splits(sp, lab)
        shared = [int(table.at[s["name"], "shared speakers"]) for s in ev_splits]
        test_clips = sum(len(s["test"]) for s in ev_splits)
        ctx.update(protocol=sp["protocol"], n_splits=len(ev_splits), n_clips=len(lab),
                   n_speakers=lab["speaker"].nunique(), test_clips=test_clips,
                   shared_speakers_per_split=shared,
                   class_counts=lab["label"].value_counts().to_dict())
    updates = {}
    for h in sorted((a / "histories").glob("*/*.json")) if (a / "histories").is_dir() else []:
        if h.parent.name == "final":
            continue
        rec = read_json(h)
        if "n_updates" in rec:
            updates.setdefault(h.stem, []).append(rec["n_updates"])
    if updates:
        ctx["gradient_updates_per_fit"] = {m: int(np.median(v)) for m, v in updates.items()}
    return ctx


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


def plain_feature_references(out_dir, size: int = 32, pixels: np.ndarray | None = None) -> dict:
    """Plain-feature references on the run's own evaluation splits (not the papers' method).

    A standardised logistic regression (:func:`logreg_per_split`), fitted on each split's
    training clips only, on ``mfcc`` (each clip's MFCC mean + std, ``audio/mfcc.npz``,
    :func:`mer_helpers.audio.mfcc_summary`), ``pixels`` (the mean of the clip's face-only frames
    as ``size`` x ``size`` grey pixels, written by notebook 03 as
    :data:`mer_helpers.frames.GREY_PIXELS`), ``early_fusion`` (both concatenated) and
    ``late_fusion`` (the two models' probabilities averaged). Reads ``OUT/artifacts`` only.

    Parameters
    ----------
    out_dir : path
        A run folder with ``artifacts/`` written by notebooks 00-03.
    size : int
        Side of the grey-pixel image.
    pixels : numpy.ndarray, optional
        One row per clip of ``labels.csv`` (e.g. :func:`grey_pixels_from_clips` for another
        ``size``), used instead of the file.

    Returns
    -------
    dict
        ``{name: {f1_macro, f1_macro_std, per_split}}`` for ``mfcc``, ``pixels``,
        ``early_fusion`` and ``late_fusion``: how far simple features get on the same clips
        and folds, to set beside the chain's numbers.
    """
    from sklearn.metrics import f1_score

    from mer_helpers import frames, io
    from mer_helpers.audio import mfcc_summary
    from mer_helpers.splits import evaluation_splits

    art = Path(out_dir) / "artifacts"
    labels = pd.read_csv(art / "labels.csv", dtype={"clip_id": str, "speaker": str})
    splits = io.read_json(art / "splits.json")
    classes = list(splits["classes"])
    ids = labels["clip_id"].tolist()
    label_of = dict(zip(ids, labels["label"].astype(str)))
    mf = np.load(art / "audio" / "mfcc.npz", allow_pickle=True)
    A = mfcc_summary([mf[c] for c in ids], precision=np.float32)[0]  # float32 as these numbers always were
    V = frames.load_grey_pixels(art, ids, size) if pixels is None else np.asarray(pixels)
    ev = [s for s in evaluation_splits(splits) if len(s.get("test", ()))]
    scores, probs = {}, {}
    for name, X in (("mfcc", A), ("pixels", V), ("early_fusion", np.c_[A, V])):
        table, preds = logreg_per_split((ids, X), label_of, ev, classes=classes, seed=None, predictions=True)
        scores[name] = table["f1_macro"].tolist()
        probs[name] = proba_matrix(preds, classes)
    y = np.array([classes.index(label_of[c]) for s in ev for c in s["test"]])
    late = (probs["mfcc"] + probs["pixels"]) / 2
    cuts = np.cumsum([len(s["test"]) for s in ev])[:-1]
    scores["late_fusion"] = [float(f1_score(yt, lt.argmax(1), average="macro", labels=range(len(classes))))
                             for yt, lt in zip(np.split(y, cuts), np.split(late, cuts))]
    return {k: {"f1_macro": float(np.mean(v)), "f1_macro_std": float(np.std(v)), "per_split": v}
            for k, v in scores.items()}


# --------------------------------------------------------------------------- notebook 07

def grey_pixels_from_clips(out_dir, size: int = 32, progress: bool = False) -> np.ndarray:
    """The ``pixels`` of :func:`plain_feature_references` for another thumbnail ``size``, from the clips.

    Reads the clips of ``labels.csv`` (frames as notebook 03 sampled them, face-only, from the
    frame cache), so it is for scripts, not for the notebooks, which read
    :data:`mer_helpers.frames.GREY_PIXELS`.

    Parameters
    ----------
    out_dir : path
        A run folder with ``artifacts/labels.csv`` and ``artifacts/summary/summary.json``.
    size : int
        Thumbnail side.
    progress : bool
        Show a progress bar while sampling frames.

    Returns
    -------
    ndarray
        ``(n_clips, size * size)`` float64, rows in ``labels.csv`` order.
    """
    from mer_helpers import frames, io

    art = Path(out_dir) / "artifacts"
    labels = pd.read_csv(art / "labels.csv", dtype={"clip_id": str, "speaker": str})
    made = io.read_json(art / "summary" / "summary.json")
    fr, _ = frames.sample_clips(labels["path"].tolist(), made["frame_interval"], made["frame_size"],
                                made["face_detect"], dtype="uint8", face_only=True, progress=progress)
    return frames.grey_means(fr, size)


def _reference_label() -> str:
    return "logistic regression (reference)"


def run_rows(name: str, metrics: Mapping, models: Sequence[str] = tuple(MODEL_LABELS)) -> list[dict]:
    """Rows of :func:`compare_runs` for one run: one per model, and the logistic-regression reference.

    Parameters
    ----------
    name : str
        The run's label (its folder name).
    metrics : mapping
        Its ``metrics.json`` (``protocol``, ``models``, ``reference.logreg_f1_macro``).
    models : sequence of str
        Model keys to take from ``metrics["models"]`` (those missing are skipped).

    Returns
    -------
    list of dict
        ``run, protocol, model, accuracy, accuracy_std, f1_macro``.
    """
    rows = []
    for m in models:
        s = metrics.get("models", {}).get(m)
        if s:
            rows.append({"run": name, "protocol": metrics.get("protocol"), "model": MODEL_LABELS.get(m, m),
                         "accuracy": s["accuracy"], "accuracy_std": s.get("accuracy_std"), "f1_macro": s["f1_macro"]})
    ref = (metrics.get("reference") or {}).get("logreg_f1_macro")
    if ref is not None:
        rows.append({"run": name, "protocol": metrics.get("protocol"), "model": _reference_label(),
                     "accuracy": None, "accuracy_std": None, "f1_macro": ref})
    return rows


def compare_runs(run_dirs: Sequence, models: Sequence[str] = tuple(MODEL_LABELS),
                 current: tuple | None = None) -> pd.DataFrame:
    """The headline numbers of several runs side by side (e.g. the same clips under two protocols).

    Only the runs named are read: nothing is looked up next to them.

    Parameters
    ----------
    run_dirs : sequence of path
        Finished run folders (each with a ``metrics.json``).
    models : sequence of str
        Model keys (``bilstm_sa``, ``bilstm``, ``cnn``).
    current : (path, mapping), optional
        The run being written (notebook 07) and its metrics so far (``protocol``, ``models``,
        ``reference``): it comes first and its ``metrics.json`` on disk is not read. A run folder
        that is also in ``run_dirs`` is taken once.

    Returns
    -------
    DataFrame
        One row per run and model (:func:`run_rows`), runs in the order given.

    Raises
    ------
    FileNotFoundError
        A run folder of ``run_dirs`` without ``metrics.json``.
    """
    from mer_helpers.io import read_json

    here = Path(current[0]).resolve() if current is not None else None
    rows: list[dict] = []
    for r in dict.fromkeys(([here] if here else []) + [Path(d).resolve() for d in run_dirs]):
        if r == here:
            rows += run_rows(r.name, current[1], models)
            continue
        if not (r / "metrics.json").is_file():
            raise FileNotFoundError(f"{r}: no metrics.json (compare_runs needs finished `mer run` folders)")
        rows += run_rows(r.name, read_json(r / "metrics.json"), models)
    return pd.DataFrame(rows, columns=["run", "protocol", "model", "accuracy", "accuracy_std", "f1_macro"])


def protocol_gap_hint(dataset: str, data_root, out_dir, protocol: str | None, backbone_weights: str) -> str:
    """Markdown: the two commands that add the other protocol's run to notebook 07's comparison.

    Parameters
    ----------
    dataset, data_root, out_dir, protocol, backbone_weights
        This run's settings.

    Returns
    -------
    str
    """
    other = "speaker-cv" if protocol == "random-split" else "random-split"
    here = Path(out_dir).resolve()
    twin = here.parent / f"{here.name}-{other}"
    root = f" --data-root {data_root}" if dataset != "sample" else ""
    return (f"Only one protocol is available here. To measure the gap, run the chain again on the same clips "
            f"with the `{other}` protocol and list that run folder in `compare_runs`:\n\n"
            f"```\nmer run --dataset {dataset}{root} --protocol {other} --out {twin} "
            f"-p backbone_weights {backbone_weights}\n"
            f"mer run --dataset {dataset}{root} --out {out_dir} --notebooks 07 -p compare_runs \"['{twin}']\"\n```")


def beside_papers(summary: Mapping[str, Mapping], models: Sequence[str]) -> pd.DataFrame:
    """This run's metrics beside the papers' Table 1 (and paper 2's AUC), one column per model.

    Parameters
    ----------
    summary : mapping
        Model -> :func:`summarize_model` of this run.
    models : sequence of str
        Models to show (those not in the papers' table are left out).

    Returns
    -------
    DataFrame
    """
    paper = papers_table()
    out = {}
    for m in models:
        lab, s = MODEL_LABELS[m], summary[m]
        if lab not in paper.index:
            continue
        p = paper.loc[lab]
        out[lab] = {
            "papers: accuracy": p["accuracy"],
            "ours: accuracy (mean ± std)": format_mean_std(s["accuracy"], s["accuracy_std"], s["n_splits"]),
            "difference (accuracy)": round(s["accuracy"] - p["accuracy"], 3),
            "papers: precision (w)": p["precision_weighted"], "ours: precision (w)": round(s["precision_weighted"], 3),
            "papers: recall (w)": p["recall_weighted"], "ours: recall (w)": round(s["recall_weighted"], 3),
            "papers: F1 (w)": p["f1_weighted"], "ours: F1 (w)": round(s["f1_weighted"], 3),
            "paper 2: AUC": p["auc_ovr"], "ours: AUC (OvR)": round(s["auc_ovr"], 3),
            "ours: macro-F1 (mean ± std)": format_mean_std(s["f1_macro"], s["f1_macro_std"], s["n_splits"]),
        }
    return pd.DataFrame(out)


def run_facts(ctx: Mapping, summary: Mapping[str, Mapping], reference_f1: float | None = None) -> pd.DataFrame:
    """What separates this run from the papers' setting, factor by factor (notebook 07).

    Parameters
    ----------
    ctx : mapping
        :func:`run_context` of the run.
    summary : mapping
        Model -> :func:`summarize_model`.
    reference_f1 : float, optional
        Macro-F1 of the logistic regression on the selected columns (``predictions/reference/logreg.csv``).

    Returns
    -------
    DataFrame
        Indexed by factor; columns ``papers`` and ``this run``.
    """
    random_init = ctx["backbone_weights"] == "none"
    facts = [
        ("protocol", "random 80/20 split of samples (speakers and near-duplicates leak)",
         f"{ctx.get('protocol')}: {ctx.get('n_splits')} evaluation split(s); speakers in both training and test: "
         f"{ctx.get('shared_speakers_per_split', [])}"),
        ("data", "MELD (TV series, spontaneous speech), 3,374 test samples",
         f"{ctx.get('dataset')}: {ctx.get('n_clips')} clips, {ctx.get('n_speakers')} speakers, classes {ctx.get('class_counts')}"),
        ("visual backbone weights", "ImageNet (transfer learning)",
         ("none: random-init ResNet, its features carry no learned visual knowledge" if random_init
          else str(ctx["backbone_weights"]))),
        ("classifier training", "10 epochs, batch 32, validation_split 0.2 (Algorithm 5): about 3,400 "
         "gradient updates (3,374 test samples = 20 % → ~10,800 fit samples / 32 × 10)",
         f"{ctx.get('epochs')} epochs (preset {ctx.get('preset')}); early stopping: {ctx.get('early_stopping')}; validation part of the "
         f"training portion: {ctx.get('validation')}; median gradient updates per fit: {ctx.get('gradient_updates_per_fit')}"),
        ("features", "not stated", str(ctx.get("features"))),
    ]
    if reference_f1 is not None:
        facts.append(("features vs classifier", "not examined",
                      f"logistic regression on the same selected columns and splits: macro-F1 "
                      f"{reference_f1:.3f} vs BiLSTM-SA {summary['bilstm_sa']['f1_macro']:.3f}"
                      if "bilstm_sa" in summary else ""))
    if ctx.get("sanity"):
        facts.append(("signal per modality", "not reported (no ablation)",
                      "linear probes of earlier stages (macro-F1): " + ", ".join(
                          f"{k.replace('_f1_macro', '')} {v:.2f}" for k, v in ctx["sanity"].items() if k.endswith("f1_macro"))))
    return pd.DataFrame(facts, columns=["factor", "papers", "this run"]).set_index("factor")


#: the per-model entries of the ``07_results`` fragment
FRAGMENT_KEYS = ("accuracy", "accuracy_std", "precision_weighted", "recall_weighted", "f1_weighted", "f1_macro",
                 "f1_macro_std", "auc_ovr", "confusion", "ci95", "ci95_speakers", "precision_macro", "recall_macro",
                 "pooled", "n_clips", "n_splits", "per_split")


def results_fragment(splits: Mapping, summary: Mapping[str, Mapping], mcnemar_table: pd.DataFrame,
                     plain: Mapping[str, Mapping], models: Sequence[str]) -> dict:
    """The ``07_results`` metrics fragment.

    Parameters
    ----------
    splits : mapping
        ``splits.json``.
    summary : mapping
        Model -> :func:`summarize_model`.
    mcnemar_table : DataFrame
        :func:`pairwise_mcnemar`.
    plain : mapping
        :func:`plain_feature_references`.
    models : sequence of str
        The models of the run.

    Returns
    -------
    dict
        ``folds``, ``models`` (the :data:`FRAGMENT_KEYS` of each), ``significance`` and ``plain_references``.
    """
    return {"folds": len([s for s in splits["splits"] if s["name"] != "final"]),
            "models": {m: {k: summary[m][k] for k in FRAGMENT_KEYS if k in summary[m]} for m in models},
            "significance": {"mcnemar": mcnemar_table.to_dict(orient="records")},
            "plain_references": {k: {"f1_macro": v["f1_macro"], "f1_macro_std": v["f1_macro_std"]}
                                 for k, v in plain.items()}}
