"""Figures of the methods' results, in one place (as ``librosa.display``).

* :func:`plot_projection` — 2-D PCA (or t-SNE) of standardised clip vectors, one colour per
  class (notebook 02 on the audio summary, notebook 04 on the visual features).
* :func:`plot_clip_examples` — a few frames and the waveform of example clips (notebook 00).
* :func:`plot_confusion`, :func:`plot_roc`, :func:`plot_metric_bars` — the evaluation's
  confusion matrices, ROC curves and metric bars with intervals (notebook 07).
* :func:`plot_history` — the classifiers' training curves, fit and validation parts (notebook 06).

Stage-specific figures (a notebook's own grid or curve) live in its stage module.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from mer_helpers.core.media import load_audio
from mer_helpers.core.names import MODEL_LABELS
from mer_helpers.methods.evaluation import PAPER_METRICS, roc_curves
from mer_helpers.methods.frames import frames_at


def plot_projection(X: np.ndarray, y: Sequence[str], title: str = "", method: str = "pca", seed: int = 0,
                    ax=None):
    """2-D PCA (or t-SNE) of standardised clip vectors, coloured by label.

    Parameters
    ----------
    X : array-like
        ``(n_clips, d)`` clip vectors; standardised here.
    y : sequence of str
        The label of each row (the legend counts the clips per label).
    title : str
        Axes title.
    method : {"pca", "tsne"}
        PCA (axes labelled with the explained variance) or t-SNE.
    seed : int
        ``random_state`` of the projection.
    ax : matplotlib Axes, optional
        Where to draw; a new figure when ``None``.

    Returns
    -------
    matplotlib.figure.Figure
        The figure that holds the axes.
    """
    import matplotlib.pyplot as plt
    from sklearn.decomposition import PCA
    from sklearn.preprocessing import StandardScaler

    Xs = StandardScaler().fit_transform(np.asarray(X, dtype=np.float64))
    if method == "tsne":
        from sklearn.manifold import TSNE

        P = TSNE(n_components=2, random_state=seed, perplexity=min(30, max(2, len(Xs) // 4))).fit_transform(Xs)
        axes_names = ("t-SNE 1", "t-SNE 2")
    elif method == "pca":
        pca = PCA(n_components=2, random_state=seed).fit(Xs)
        P = pca.transform(Xs)
        r = pca.explained_variance_ratio_
        axes_names = (f"PC1 ({r[0]:.0%})", f"PC2 ({r[1]:.0%})")
    else:
        raise ValueError(f"method {method!r}: expected 'pca' or 'tsne'")
    y = np.asarray([str(v) for v in y])
    if ax is None:
        _, ax = plt.subplots(figsize=(6.5, 4.5))
    for i, lab in enumerate(sorted(set(y))):
        sel = y == lab
        ax.scatter(P[sel, 0], P[sel, 1], s=18, alpha=0.8, color=f"C{i % 10}", label=f"{lab} ({int(sel.sum())})")
    ax.set_xlabel(axes_names[0])
    ax.set_ylabel(axes_names[1])
    ax.set_title(title, fontsize=10)
    # outside the axes: inside, it hid points
    ax.legend(fontsize=9, loc="upper left", bbox_to_anchor=(1.02, 1), frameon=False, markerscale=1.5)
    ax.figure.tight_layout()
    return ax.figure


__all__ = ["plot_projection", "plot_clip_examples", "plot_confusion", "plot_roc", "plot_metric_bars", "confusion_size"]


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


def plot_clip_examples(examples, fractions: Sequence[float] = (0.1, 0.5, 0.9), sr: int = 16000):
    """One row per clip: frames at ``fractions`` of its length (:func:`frames_at`) and its waveform.

    Parameters
    ----------
    examples : sequence of mapping
        Rows of ``labels.csv`` (``path``, ``label``, ``clip_id``, ``speaker``).
    fractions : sequence of float
        Where to take the frames.
    sr : int
        Sampling rate the audio track is decoded at (FFmpeg).

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt


    k = len(fractions)
    fig, axes = plt.subplots(len(examples), k + 1, figsize=(11, 2.3 * len(examples)), squeeze=False,
                             gridspec_kw={"width_ratios": [1] * k + [2.5]})
    for row, ex in zip(axes, examples):
        for ax, img, frac in zip(row[:k], frames_at(ex["path"], fractions), fractions):
            if img is not None:
                ax.imshow(img)
            ax.set_title(f"{ex['label']} @ {int(frac * 100)} %", fontsize=9)
            ax.axis("off")
        y, sr_ = load_audio(ex["path"], sr=sr)
        peak = float(np.abs(y).max()) if len(y) else 1.0
        row[k].plot(np.arange(len(y)) / sr_, y, lw=0.5, color="tab:gray")
        row[k].set(title=f"{ex['clip_id']} (speaker {ex['speaker']})", xlabel="time (s)",
                   ylabel=f"amplitude (peak {peak:.2f})", ylim=(-1.1 * peak - 1e-6, 1.1 * peak + 1e-6))
        row[k].title.set_fontsize(9)
    fig.tight_layout()
    return fig


def plot_history(records: Mapping[str, Mapping], title: str = "", axes=None):
    """Training curves: loss and accuracy (solid: fit part, dashed: validation part) per model.

    One colour per model; one legend for both panels, below them (a figure legend: the saved
    image, ``bbox_inches="tight"`` as in notebooks, includes it).

    Parameters
    ----------
    records : Mapping
        Label → a training record of :func:`mer_helpers.methods.training.fit_model` (or its ``history`` dict).
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
