"""Notebook 02 (audio autoencoder): one split from MFCC frames to clip features, its checks and fragment.

:func:`run_split` fits :class:`mer_helpers.methods.audio_featurizer.AudioFeaturizer` on a split's training clips
and writes the split's feature table; :func:`sanity_check` compares it with the plain MFCC
statistics yardstick on the same split; :func:`metrics_fragment` is the stage's part of
``metrics.json``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from mer_helpers.core import fileio
from mer_helpers.methods import audio, speech_descriptors, tuning
from mer_helpers.methods.audio_featurizer import (
    STAT_PRESETS, AudioFeaturizer, mfcc_summary, parse_audio_features, summarize
)
from mer_helpers.methods.evaluation import logreg_per_split


# ----------------------------------------------------------------------------- per split
def fit_transform_split(mfcc: Mapping[str, np.ndarray], split: Mapping[str, Any],
                        egemaps: Mapping[str, np.ndarray] | None = None,
                        descriptors: Mapping[str, np.ndarray] | None = None, **params: Any):
    """Fit an :class:`AudioFeaturizer` on the ``train`` clips of ``split`` only, encode every clip.

    Parameters
    ----------
    mfcc : mapping
        Clip id → (T, n_mfcc) (the content of ``audio/mfcc.npz``).
    split : mapping
        One entry of ``splits.json``.
    egemaps : mapping or None
        Clip id → (88,) functionals (``audio/egemaps.npz``), needed when ``features`` includes
        ``egemaps``.
    descriptors : mapping or None
        Clip id → (144,) speech descriptors, needed when ``features`` includes ``descriptors``.
    **params
        :class:`AudioFeaturizer` parameters (:func:`featurizer_params` maps the notebooks' names).

    Returns
    -------
    tuple
        ``(featurizer, clip_ids, X, columns, sequences)``, clip ids in the order of ``mfcc``.

    Raises
    ------
    KeyError
        A split clip is missing from ``mfcc`` (named).
    TypeError
        A parameter is not an :class:`AudioFeaturizer` parameter (named).
    """
    missing = [c for c in list(split["train"]) + list(split.get("test", [])) if c not in mfcc]
    if missing:
        raise KeyError(f"split {split.get('name')}: {len(missing)} clip(s) have no MFCC in "
                       f"audio/mfcc.npz (rerun notebook 01): {missing[:5]}")
    known = set(AudioFeaturizer().get_params())
    unknown = sorted(set(params) - known)
    if unknown:
        raise TypeError(f"fit_transform_split: unknown AudioFeaturizer parameter(s) {unknown} "
                        "(see audio.featurizer_params for the notebooks' names)")
    feat = AudioFeaturizer(**params)
    feat.fit([mfcc[c] for c in split["train"]])
    clip_ids = list(mfcc)
    ege = np.stack([egemaps[c] for c in clip_ids]) if egemaps is not None else None
    desc = np.stack([descriptors[c] for c in clip_ids]) if descriptors is not None else None
    X, columns, sequences = feat.featurize([mfcc[c] for c in clip_ids], egemaps=ege, descriptors=desc)
    return feat, clip_ids, X, columns, sequences


def clip_level_sets(paths: Sequence, clip_ids: Sequence[str], sets: Sequence[str], front_end: Mapping[str, Any],
                    n_jobs: int = 2) -> tuple[dict | None, dict | None]:
    """The clip-level feature sets that ``sets`` names, computed (and cached) per clip.

    Parameters
    ----------
    paths, clip_ids : sequence
        The clips and their ids (``labels.csv``).
    sets : sequence of str
        The run's audio feature sets (:func:`~mer_helpers.methods.audio_featurizer.parse_audio_features`).
    front_end : mapping
        The front-end parameters of notebook 01 (``audio/extraction.json``).
    n_jobs : int

    Returns
    -------
    tuple
        ``(egemaps, descriptors)``: clip id -> vector, or ``None`` for a set not asked for.
    """
    egemaps = descriptors = None
    if "egemaps" in sets:  # optional extra (openSMILE, audEERING research licence)
        E, _ = audio.extract_egemaps(paths, sr=front_end["sr"], n_jobs=n_jobs)
        egemaps = dict(zip(clip_ids, E))
    if "descriptors" in sets:  # log-mel statistics, pitch and energy percentiles, duration
        descriptors = dict(zip(clip_ids, speech_descriptors.extract_descriptors(paths, n_jobs=n_jobs, **front_end)))
    return egemaps, descriptors


def featurizer_params(**notebook_params: Any) -> dict[str, Any]:
    """Map the notebooks' parameter names (``ae_epochs``, ``audio_stats``, ``seed`` ...) to
    :class:`AudioFeaturizer` arguments; unknown names are ignored.

    Parameters
    ----------
    **notebook_params
        The notebook's parameters.

    Returns
    -------
    dict
        :class:`AudioFeaturizer` keyword arguments.
    """
    rename = {"ae_epochs": "epochs", "ae_batch_size": "batch_size", "ae_validation_split": "validation_split",
              "ae_l2": "l2", "ae_sparsity": "sparsity", "audio_stats": "stats", "seed": "random_state",
              "audio_features": "features"}
    known = set(AudioFeaturizer().get_params())
    out = {}
    for k, v in notebook_params.items():
        k2 = rename.get(k, k)
        if k2 in known:
            out[k2] = v
    return out


def plot_histories(histories: Mapping[str, Mapping[str, list]], title: str = "Autoencoder reconstruction loss"):
    """Training (solid) and validation (dashed) MSE per epoch, one colour per split; the legend
    (one entry per split, plus the two line styles) sits below the axes.

    Parameters
    ----------
    histories : Mapping
        Split name → ``{"loss": [...], "val_loss": [...]}`` (``val_loss`` optional).
    title : str
        Axes title.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.ticker import MaxNLocator

    fig, ax = plt.subplots(figsize=(8.5, 4.2))
    handles, has_val = [], False
    for i, (name, h) in enumerate(histories.items()):
        c = f"C{i % 10}"
        ax.plot(np.arange(1, len(h["loss"]) + 1), h["loss"], color=c)
        if h.get("val_loss"):
            ax.plot(np.arange(1, len(h["val_loss"]) + 1), h["val_loss"], color=c, ls="--")
            has_val = True
        handles.append(Line2D([], [], color=c, lw=2.5, label=name))
    handles.append(Line2D([], [], color="k", label="training frames"))
    if has_val:
        handles.append(Line2D([], [], color="k", ls="--", label="validation frames"))
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True, steps=[1, 2, 5, 10]))  # whole epochs
    ax.set_ylabel("MSE (MinMax-scaled MFCC)")
    ax.set_yscale("log")
    ax.set_title(title)
    ax.grid(alpha=0.3, which="both")
    ax.legend(handles=handles, fontsize=9.5, loc="upper center", bbox_to_anchor=(0.5, -0.16),
              ncol=min(len(handles), 4), frameon=False)
    fig.tight_layout()
    return fig


@dataclass
class AudioSplitResult:
    """What :func:`run_split` returns for one split of ``splits.json``."""

    split: str
    featurizer: Any  # the fitted AudioFeaturizer
    clip_ids: list
    X: np.ndarray  # (n_clips, width) summary features, rows in ``clip_ids`` order
    columns: list
    info: dict  # the row of notebook 02's per-split table (also in history.json)
    alt_features: dict = field(default_factory=dict)  # stats preset -> (clip_ids, X), autoencoder only
    seconds: float = 0.0

    @property
    def history(self) -> dict:
        return self.featurizer.history_


def run_split(artifacts, split: Mapping[str, Any], mfcc: Mapping[str, np.ndarray],
              egemaps: Mapping[str, np.ndarray] | None = None,
              descriptors: Mapping[str, np.ndarray] | None = None, **params: Any) -> AudioSplitResult:
    """Fit the audio featurizer on one split's training clips, encode every clip, write the split's artifacts.

    Shaped like :func:`mer_helpers.stages.classifiers.run_split`: notebook 02 calls it once per split.

    Parameters
    ----------
    artifacts : path
        ``OUT/artifacts``; writes ``audio/<split>/features.npz``, ``sequences.npz`` and
        ``history.json`` (the training curve and ``info``).
    split : mapping
        One entry of ``splits.json`` (``name``, ``train``, ``test``).
    mfcc : mapping
        Clip id -> (T, n_mfcc) MFCC matrix (``audio/mfcc.npz``), in ``labels.csv`` order.
    egemaps : mapping, optional
        Clip id -> eGeMAPS functionals, when ``features`` includes ``egemaps``.
    descriptors : mapping, optional
        Clip id -> speech descriptors, when ``features`` includes ``descriptors``.
    **params
        :class:`AudioFeaturizer` arguments (:func:`featurizer_params` plus the front end).

    Returns
    -------
    AudioSplitResult
        The fitted featurizer, the features of every clip, ``info`` (training clips and frames,
        validation frames, dead bottleneck units on training frames, reconstruction R² on the
        test clips, or on the training clips for a split without test clips, and timings) and,
        with the autoencoder, the summary of every :data:`STAT_PRESETS` entry.
    """
    import time

    name = str(split["name"])
    uses_ae = "ae" in parse_audio_features(params.get("features", "ae"))
    t0 = time.perf_counter()
    feat, clip_ids, X, columns, seqs = fit_transform_split(mfcc, split, egemaps=egemaps,
                                                                descriptors=descriptors, **params)
    t_total = time.perf_counter() - t0
    out = Path(artifacts) / "audio" / name
    out.mkdir(parents=True, exist_ok=True)
    fileio.save_features(out / "features.npz", clip_ids, X, columns)
    fileio.save_sequences(out / "sequences.npz", dict(zip(clip_ids, seqs)))
    train = set(split["train"])
    codes = np.concatenate([s for cid, s in zip(clip_ids, seqs) if cid in train])
    r2 = feat.reconstruction_r2([mfcc[c] for c in (split["test"] or split["train"])])
    info = {"n_train_clips": feat.n_train_clips_, "n_train_frames": feat.n_train_frames_,
            "n_val_frames": feat.n_val_frames_, "validation": "whole training clips",
            "dead_units": int((codes.max(axis=0) <= 0).sum()) if uses_ae else None, "seconds": round(t_total, 2),
            "reconstruction_r2": round(r2, 4), "fit_seconds": feat.fit_seconds_,
            "encode_seconds": round(t_total - feat.fit_seconds_, 2)}
    fileio.write_json(out / "history.json", {**feat.history_, **info})
    alt = {st: (clip_ids, summarize(seqs, st)[0]) for st in STAT_PRESETS} if uses_ae else {}
    return AudioSplitResult(name, feat, clip_ids, X, list(columns), info, alt, t_total)


def final_losses(histories: Mapping[str, Mapping[str, list]]) -> dict[str, dict[str, float | None]]:
    """Last training and validation loss of each split's history (splits without a history left out).

    Parameters
    ----------
    histories : mapping
        Split name -> Keras-style history (``loss``, optionally ``val_loss``).

    Returns
    -------
    dict
        Split name -> ``{"loss": float, "val_loss": float or None}``.
    """
    return {n: {"loss": h["loss"][-1], "val_loss": (h.get("val_loss") or [None])[-1]}
            for n, h in histories.items() if h}


@dataclass
class AudioSanity:
    """The logistic-regression check of notebook 02 (see :func:`sanity_check`)."""

    per_fold: Any  # DataFrame: evaluation split x candidate, macro-F1
    widths: dict  # candidate -> number of values
    used: str  # the candidate this run uses

    @property
    def f1(self) -> float:
        return float(self.per_fold[self.used].mean())

    @property
    def f1_std(self) -> float:
        return float(self.per_fold[self.used].std(ddof=0))

    @property
    def baseline_f1(self) -> float:
        return float(self.per_fold[BASELINE].mean())

    def summary(self):
        """Mean and std of macro-F1 over the folds, and the width, per candidate (a DataFrame)."""
        import pandas as pd

        return pd.DataFrame({"f1_macro_mean": self.per_fold.mean(), "f1_macro_std": self.per_fold.std(ddof=0),
                             "n_values": pd.Series(self.widths)})

    def verdict(self, audio_stats: str) -> str:
        """Two lines: this run's summary against the MFCC mean + std baseline."""
        wins = int((self.per_fold[self.used] > self.per_fold[BASELINE]).sum())
        return (f"audio summary ({audio_stats}): macro-F1 {self.f1:.3f} ± {self.f1_std:.3f}; "
                f"MFCC mean+std baseline: {self.baseline_f1:.3f}\n"
                f"the autoencoder summary {'beats' if self.f1 > self.baseline_f1 else 'does not beat'} the baseline "
                f"on average ({self.f1 - self.baseline_f1:+.3f}); better on {wins} of {len(self.per_fold)} folds")


#: the name of the plain MFCC mean + std row of :func:`sanity_check`
BASELINE = "MFCC mean+std (baseline)"


def sanity_check(mfcc: Mapping[str, np.ndarray], results: Mapping[str, AudioSplitResult],
                 labels: Mapping[str, str], eval_splits: Sequence[Mapping[str, Any]],
                 audio_features: str = "ae", audio_stats: str = "mean_std", seed: int = 0) -> AudioSanity:
    """Speaker-independent logistic regression
    (:func:`mer_helpers.methods.evaluation.logreg_per_split`, at most 5000 iterations) on candidate audio summaries.

    Candidates: the MFCC mean + std baseline, the MFCC ``full`` statistics, with the autoencoder
    every :data:`STAT_PRESETS` summary of the same bottleneck sequences and, when the run uses
    something else, the run's own features. The one the run uses is marked ``(used)``.

    Parameters
    ----------
    mfcc : mapping
        Clip id -> (T, n_mfcc) MFCC matrix.
    results : mapping
        Split name -> :class:`AudioSplitResult` of :func:`run_split` (``final`` is skipped).
    labels : mapping
        Clip id -> label.
    eval_splits : sequence
        The evaluation splits (not ``final``).
    audio_features, audio_stats : str
        Notebook 02's parameters of the same names.
    seed : int
        ``random_state`` of the logistic regressions.

    Returns
    -------
    AudioSanity
        Per-fold macro-F1 of each candidate, their widths and the name of the one used.
    """
    import pandas as pd


    sets = parse_audio_features(audio_features)
    rows, widths = {}, {}

    def score(name, feats):
        rows[name] = logreg_per_split(feats, labels, eval_splits, seed=seed, max_iter=5000)
        widths[name] = (feats if isinstance(feats, tuple) else next(iter(feats.values())))[1].shape[1]

    ids_all = list(mfcc)
    score(BASELINE, (ids_all, mfcc_summary([mfcc[c] for c in ids_all])[0]))
    score("MFCC full stats", (ids_all, summarize([mfcc[c] for c in ids_all], "full", prefix="audio:mfcc")[0]))
    for st in (STAT_PRESETS if "ae" in sets else ()):
        score(f"AE {st}" + (" (used)" if st == audio_stats and sets == ("ae",) else ""),
              {n: r.alt_features[st] for n, r in results.items() if n != "final"})
    if sets != ("ae",) or audio_stats not in STAT_PRESETS:
        score(f"{' + '.join(sets)} (used)", {n: (r.clip_ids, r.X) for n, r in results.items() if n != "final"})
    per_fold = pd.DataFrame({k: v.set_index("split")["f1_macro"] for k, v in rows.items()})
    return AudioSanity(per_fold, widths, [k for k in rows if k.endswith("(used)")][0])


def metrics_fragment(results: Mapping[str, AudioSplitResult], extraction: Mapping[str, Any],
                     sanity: AudioSanity | None, inner_table=None, n_mfcc: int = 13,
                     audio_features: str = "ae", audio_stats: str = "mean_std", ae_epochs: int = 100) -> dict:
    """The ``02_audio`` metrics fragment of notebook 02.

    Parameters
    ----------
    results : mapping
        Split name -> :class:`AudioSplitResult` (every split, ``final`` included).
    extraction : mapping
        ``audio/extraction.json`` of notebook 01 (its ``timings_s`` are carried over).
    sanity : AudioSanity or None
        :func:`sanity_check`, None without evaluation splits.
    inner_table : DataFrame, optional
        :func:`mer_helpers.methods.tuning.inner_logreg_table` of the audio candidates.
    n_mfcc : int
        Columns of the MFCC matrices (with deltas, when notebook 01 added them).
    audio_features, audio_stats, ae_epochs
        Notebook 02's parameters of the same names.

    Returns
    -------
    dict
        ``features.audio`` (width), ``audio`` (settings, losses, dead units, R², timings),
        ``sanity`` (macro-F1 of the run's summary and of the MFCC baseline) and ``tuning``.
    """

    sets = parse_audio_features(audio_features)
    uses_ae = "ae" in sets
    info = {n: r.info for n, r in results.items()}
    losses = final_losses({n: r.history for n, r in results.items()})
    last = list(results.values())[-1]
    timings = dict(extraction.get("timings_s", {}))
    timings["ae_fit"] = round(sum(i["fit_seconds"] for i in info.values()), 2)
    timings["ae_encode"] = round(sum(i["encode_seconds"] for i in info.values()), 2)
    return {
        "features": {"audio": int(last.X.shape[1])},
        "audio": {"features": "+".join(sets), "stats": audio_stats, "n_mfcc": int(n_mfcc),
                  "bottleneck": 32 if uses_ae else None, "ae_epochs": int(ae_epochs) if uses_ae else None,
                  "final_loss": {n: v["loss"] for n, v in losses.items()},
                  "final_val_loss": {n: v["val_loss"] for n, v in losses.items()},
                  "dead_units": {n: i["dead_units"] for n, i in info.items()},
                  "reconstruction_r2": {n: i["reconstruction_r2"] for n, i in info.items()},
                  "timings_s": timings},
        "sanity": {"audio_logreg_f1_macro": sanity.f1 if sanity else None,
                   "audio_logreg_f1_macro_std": sanity.f1_std if sanity else None,
                   "mfcc_baseline_logreg_f1_macro": sanity.baseline_f1 if sanity else None},
        "tuning": {"audio_inner_f1_macro": tuning.mean_by_candidate(inner_table)},
    }
