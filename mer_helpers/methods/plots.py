"""Figures shared by the stages.

* :func:`plot_projection` — 2-D PCA (or t-SNE) of standardised clip vectors, one colour per
  class (notebook 02 on the audio summary, notebook 04 on the visual features).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np


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


__all__ = ["plot_projection"]
