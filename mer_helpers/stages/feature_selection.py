"""Notebook 05 (feature selection): fused feature files per split, the Zebra selection, the comparison.

Writes each split's fused (and person-normalised, plain and skewed-reference) feature files,
fits :class:`mer_helpers.methods.selection.ZebraFeatureSelector` on the split's training rows
(:func:`fit_selector_on_split`, :func:`run_split`), compares it with k-best and random subsets
and writes the stage's fragment.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.preprocessing import StandardScaler

from mer_helpers.core import fileio
from mer_helpers.methods import person
from mer_helpers.methods.fusion import FUSED_FILE, PLAIN_FILE, SKEWED_FILE, load_fused, modality_counts, modality_index
from mer_helpers.methods.selection import ZebraFeatureSelector, make_fitness_classifier


def write_fused_split(artifacts: str | os.PathLike, split: str, labels: pd.DataFrame,
                      person_norm_audio: str = "none", person_norm_visual: str = "none"
                      ) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Fuse a split's audio and visual features (:func:`load_fused`), normalise them per person
    (:func:`mer_helpers.methods.person.normalize_fused`, a person = the ``speaker`` of ``labels.csv``,
    statistics from that person's clips of this file, never their labels) and write
    ``fused/<split>/features.npz``; with normalisation also the plain features to
    ``fused/<split>/plain.npz``.

    Parameters
    ----------
    artifacts, split : path-like, str
        The run's ``artifacts/`` and the split's name.
    labels : pandas.DataFrame
        ``labels.csv`` (``clip_id``, ``speaker``); its ``label`` column is not read.
    person_norm_audio, person_norm_visual : {"none", "center", "zscore"}

    Returns
    -------
    tuple
        ``(clip_ids, X, columns)`` as written to ``features.npz``.
    """
    artifacts = Path(artifacts)
    ids, X, cols = load_fused(artifacts, split)
    out = artifacts / "fused" / split
    if person.is_active(person_norm_audio, person_norm_visual):
        fileio.save_features(out / f"{PLAIN_FILE}.npz", ids, X, cols)
        X = person.normalize_fused(X, cols, person.persons_of(ids, labels), person_norm_audio,
                                   person_norm_visual).astype(X.dtype)
    else:  # files of an earlier run with normalisation
        for stale in (PLAIN_FILE, SKEWED_FILE):
            (out / f"{stale}.npz").unlink(missing_ok=True)
    fileio.save_features(out / f"{FUSED_FILE}.npz", ids, X, cols)
    return ids, X, cols


def write_skewed_split(artifacts: str | os.PathLike, split: Mapping, labels: pd.DataFrame,
                       person_norm_audio: str, person_norm_visual: str, n_emotions: int = 2,
                       seed: int = 42) -> Path | None:
    """The skewed-reference check's input: ``fused/<split>/skewed.npz``, the split's fused features
    with every **test** person normalised with statistics from the clips of only ``n_emotions``
    of their emotions (drawn at random per person), as the clips a real user brings may show few
    feelings; training persons as in ``features.npz``.

    An evaluation file, not an input of any fitted stage: to draw the subset it reads the test
    clips' labels, which is what the check is about. :func:`mer_helpers.stages.classifiers.run_split`
    predicts its test rows with the models trained on ``features.npz``.

    Parameters
    ----------
    artifacts : path-like
        The run's ``artifacts/``.
    split : Mapping
        An evaluation split (``name``, ``train``, ``test``).
    labels : pandas.DataFrame
        ``labels.csv`` (``clip_id``, ``label``, ``speaker``).
    person_norm_audio, person_norm_visual : {"none", "center", "zscore"}
        The run's modes.
    n_emotions : int, default=2
    seed : int, default=42

    Returns
    -------
    Path or None
        The file written; ``None`` (and no file) when the run does not normalise, the split has
        no test clips, or a person has clips on both sides (random-split: no test person to skew).
    """
    artifacts = Path(artifacts)
    path = artifacts / "fused" / str(split["name"]) / f"{SKEWED_FILE}.npz"
    path.unlink(missing_ok=True)
    ids, X, cols = load_fused(artifacts, str(split["name"]))
    who = person.persons_of(ids, labels)
    test = np.isin(ids.astype(str), [str(c) for c in split["test"]])
    if not person.is_active(person_norm_audio, person_norm_visual) or not test.any() \
            or set(who[test]) & set(who[~test]):
        return None
    label_of = dict(zip(labels["clip_id"].astype(str), labels["label"].astype(str)))
    y = np.array([label_of[str(c)] for c in ids])

    def pick(idx, rng):
        if not test[idx[0]]:
            return idx
        emotions = np.unique(y[idx])
        keep = rng.choice(emotions, size=min(n_emotions, len(emotions)), replace=False)
        return idx[np.isin(y[idx], keep)]

    stats = person.reference_statistics(X, who, person.subset_reference(who, pick, rng=seed))
    Z = person.normalize_fused(X, cols, who, person_norm_audio, person_norm_visual, stats=stats)
    return fileio.save_features(path, ids, Z, cols)


def fit_selector_on_split(X, clip_ids, labels: pd.DataFrame, split: dict,
                          selector: ZebraFeatureSelector | None = None, **params) -> ZebraFeatureSelector:
    """Fit a (clone of) ``selector`` — or ``ZebraFeatureSelector(**params)`` — on the split's
    training rows only, with ``groups`` = the ``speaker`` column of ``labels``.

    Test rows are never passed to ``fit``.

    Parameters
    ----------
    X : array-like
        Every clip's fused features, rows in ``clip_ids`` order.
    clip_ids : sequence
        Row ids of ``X``.
    labels : pandas.DataFrame
        ``labels.csv`` (``clip_id``, ``label``, ``speaker``).
    split : dict
        The evaluation split.
    selector : ZebraFeatureSelector, optional
        Cloned before fitting; ``None``: built from ``params``.
    **params
        Parameters of a new :class:`ZebraFeatureSelector`.

    Returns
    -------
    ZebraFeatureSelector
        The fitted selector.
    """
    sel = clone(selector).set_params(**params) if selector is not None else ZebraFeatureSelector(**params)
    tr, _ = split_rows(clip_ids, split)
    lab = labels.set_index(labels["clip_id"].astype(str))
    ids = [str(clip_ids[i]) for i in tr]
    missing = [c for c in ids if c not in lab.index]
    if missing:
        raise KeyError(f"labels.csv: {len(missing)} training clips of split {split['name']} are not listed (e.g. {missing[:3]})")
    y = lab.loc[ids, "label"].astype(str).to_numpy()
    groups = lab.loc[ids, "speaker"].astype(str).to_numpy()
    return sel.fit(np.asarray(X)[tr], y, groups=groups)


def save_selection(path: str | os.PathLike, record: dict) -> Path:
    """Write a :func:`selection_record` dict as ``selection.json`` (atomically).

    Parameters
    ----------
    path : path-like
        Usually ``artifacts/selection/<split>/selection.json``.
    record : dict
        From :func:`selection_record`.

    Returns
    -------
    pathlib.Path
    """
    return fileio.write_json(path, record)


def run_split(X, clip_ids, labels: pd.DataFrame, split: dict, variants: Sequence[str],
              random_state: int = 42, **params) -> dict[str, ZebraFeatureSelector]:
    """Fit each selector variant on one split's training clips (:func:`fit_selector_on_split`).

    Parameters
    ----------
    X : ndarray
        Fused features of every clip, rows in ``clip_ids`` order.
    clip_ids : sequence of str
    labels : DataFrame
        ``labels.csv`` (``clip_id``, ``label``, ``speaker``).
    split : dict
        One entry of ``splits.json``.
    variants : sequence of str
        ``izoa``, ``zoa``; fitted in this order.
    random_state : int
        Seed of every variant.
    **params
        Further :class:`ZebraFeatureSelector` arguments.

    Returns
    -------
    dict
        Variant -> fitted selector.

    Raises
    ------
    AssertionError
        A selector saw another number of rows than the split's training clips.
    """
    out = {}
    for v in variants:
        s = fit_selector_on_split(X, clip_ids, labels, split, variant=v, random_state=random_state, **params)
        assert s.n_samples_fit_ == len(split["train"]), "the selector saw rows outside the training part"
        out[v] = s
    return out


def fit_table(fitted: Mapping[tuple, ZebraFeatureSelector], fused: Mapping[str, tuple]) -> pd.DataFrame:
    """One row per (split, variant): columns kept (by modality), fitness, inner-CV accuracy, effort.

    Parameters
    ----------
    fitted : mapping
        ``(split, variant)`` -> fitted selector.
    fused : mapping
        Split -> ``(clip_ids, X, columns)``.

    Returns
    -------
    DataFrame
        Indexed by ``split`` and ``variant``.
    """
    return pd.DataFrame([{"split": name, "variant": v, "kept": int(s.support_.sum()),
                          **{m: c for m, c in modality_counts(fused[name][2], s.support_).items() if m != "total"},
                          "fitness": round(s.best_fitness_, 4), "inner-CV accuracy": round(s.best_score_, 3),
                          "iterations": s.n_iterations_, "evaluations": s.n_evaluations_,
                          "time (s)": round(s.fit_time_, 1)}
                         for (name, v), s in fitted.items()]).set_index(["split", "variant"])


#: the column sets :func:`compare_methods` scores
METHODS = ("none", "kbest", "random", "zoa", "izoa")


def compare_methods(fused: Mapping[str, tuple], eval_splits: Sequence[dict], fitted: Mapping[tuple, Any],
                    label_of: pd.Series, classifier: str = "knn", random_state: int = 42,
                    methods: Sequence[str] = METHODS, n_jobs: int = 1) -> pd.DataFrame:
    """Score each column set with the fast classifier on every evaluation split's test clips.

    ``none``: every column; ``kbest``: the ANOVA F best as many columns as IZOA kept; ``random``:
    as many columns at random (seed ``random_state + i`` on split ``i``); ``zoa``, ``izoa``: the
    fitted selectors' columns.

    Parameters
    ----------
    fused : mapping
        Split -> ``(clip_ids, X, columns)``.
    eval_splits : sequence of dict
        The evaluation splits.
    fitted : mapping
        ``(split, variant)`` -> fitted selector (``zoa`` and ``izoa`` of every evaluation split).
    label_of : Series
        Label by clip id.
    classifier : str
        The fitness classifier (:func:`evaluate_support`).
    random_state : int
        Seed of ``kbest`` and of ``random``.
    methods : sequence of str
        Which of :data:`METHODS`.
    n_jobs : int, default=1
        Processes for ``kbest``'s mutual-information estimate (the same mask for any value).

    Returns
    -------
    DataFrame
        One row per split and method: the scores of :func:`evaluate_support`, ``audio`` and ``visual`` counts.
    """
    rows = []
    for i, sp in enumerate(eval_splits):
        ids, X, columns = fused[sp["name"]]
        tr, te = split_rows(ids, sp)
        y = label_of.loc[list(ids)].to_numpy()
        k = int(fitted[sp["name"], "izoa"].support_.sum())
        supports = {"none": None,
                    "kbest": kbest_support(X[tr], y[tr], k, random_state=random_state, n_jobs=n_jobs),
                    "random": random_support(X.shape[1], k, random_state=random_state + i),
                    "zoa": fitted[sp["name"], "zoa"].support_,
                    "izoa": fitted[sp["name"], "izoa"].support_}
        for m in methods:
            r = evaluate_support(X, y, tr, te, supports[m], classifier=classifier)
            c = modality_counts(columns, supports[m])
            rows.append({"split": sp["name"], "method": m, **r, "audio": c["audio"], "visual": c["visual"]})
    return pd.DataFrame(rows)


def plot_convergence(runs: Mapping[str, Sequence[ZebraFeatureSelector]], grid, title: str = ""):
    """Best fitness against distinct evaluations: mean over seeds, band from min to max.

    Parameters
    ----------
    runs : mapping
        ``zoa`` / ``izoa`` -> selectors fitted with different seeds on the same clips.
    grid : array
        Evaluation counts to draw at (:func:`best_fitness_curve`).
    title : str

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    for v, color in (("zoa", "tab:orange"), ("izoa", "tab:red")):
        c = np.array([best_fitness_curve(r.history_, r.history_evaluations_, grid) for r in runs[v]])
        ax.plot(grid, np.nanmean(c, 0), color=color, label=f"{v.upper()} (mean of {len(c)} seeds)")
        ax.fill_between(grid, np.nanmin(c, 0), np.nanmax(c, 0), color=color, alpha=0.2)
    ax.set(xlabel="distinct fitness evaluations", ylabel="best fitness (lower is better)", title=title)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=9, frameon=False)  # outside: it hid the bands
    return fig


def metrics_fragment(fitted: Mapping[tuple, ZebraFeatureSelector], fused: Mapping[str, tuple], summary: pd.DataFrame,
                     settings: Mapping[str, Any], final_fitness: Mapping[str, list], ms_per_evaluation: Mapping[str, float],
                     folds: int, total_seconds: float, methods: Sequence[str] = METHODS) -> dict:
    """The ``05_selection`` metrics fragment of notebook 05.

    Parameters
    ----------
    fitted : mapping
        ``(split, variant)`` -> fitted selector (``("final", settings["selector"])`` included).
    fused : mapping
        Split -> ``(clip_ids, X, columns)``.
    summary : DataFrame
        Mean and std over folds of :func:`compare_methods` per method (columns ``(metric, "mean"|"std")``).
    settings : mapping
        ``selector``, ``fitness_classifier``, ``population``, ``iterations``, ``alpha``, ``budget``.
    final_fitness : mapping
        Variant -> best fitness of each seed of the convergence runs.
    ms_per_evaluation : mapping
        Variant -> milliseconds per fitness evaluation.
    folds : int
        Number of evaluation splits.
    total_seconds : float
        Wall time of the notebook so far.
    methods : sequence of str
        The methods of ``summary``.

    Returns
    -------
    dict
        ``features``, ``feature_selection`` (mean macro-F1 per method), ``feature_selection_detail``, ``timings``.
    """
    n_all = modality_counts(fused["final"][2])
    final_sel = fitted["final", settings["selector"]]
    return {
        "features": {"audio": n_all["audio"], "visual": n_all["visual"], "total": n_all["total"],
                     "selected": int(final_sel.support_.sum())},
        "feature_selection": {m: round(float(summary.loc[m, ("f1_macro", "mean")]), 4) for m in methods},
        "feature_selection_detail": {
            "metric": "f1_macro",
            "scored_by": f"fast fitness classifier ({settings['fitness_classifier']}), not the BiLSTM-SA",
            "selector": settings["selector"], "budget_evaluations": settings["budget"],
            "population": settings["population"], "iterations": settings["iterations"], "alpha": settings["alpha"],
            "folds": folds,
            "f1_macro_std": {m: round(float(summary.loc[m, ("f1_macro", "std")]), 4) for m in methods},
            "n_features_mean": {m: round(float(summary.loc[m, ("n_features", "mean")]), 1) for m in methods},
            "final_counts": modality_counts(fused["final"][2], final_sel.support_),
            "convergence_final_fitness": dict(final_fitness),
        },
        "timings": {"selection": {
            "total_s": round(total_seconds, 2),
            "fit_s": {f"{n}/{v}": round(s.fit_time_, 2) for (n, v), s in fitted.items()},
            "ms_per_evaluation": {v: round(ms, 2) for v, ms in ms_per_evaluation.items()},
            "n_evaluations": {f"{n}/{v}": s.n_evaluations_ for (n, v), s in fitted.items()},
        }},
    }


def _rows(clip_ids: Sequence[str], wanted: Sequence[str], what: str) -> np.ndarray:
    pos = {c: i for i, c in enumerate(clip_ids)}
    missing = [str(c) for c in wanted if c not in pos]
    if missing:
        raise KeyError(f"{what}: {len(missing)} clip ids of the split have no features (e.g. {missing[:3]})")
    return np.asarray([pos[c] for c in wanted], dtype=int)


def split_rows(clip_ids, split: dict) -> tuple[np.ndarray, np.ndarray]:
    """Row indices (into ``clip_ids``) of the split's ``train`` and ``test`` clips.

    Parameters
    ----------
    clip_ids : sequence
        The row order of a feature matrix.
    split : dict
        ``name``, ``train`` [, ``test``].

    Returns
    -------
    tuple of numpy.ndarray
        ``(train_rows, test_rows)``; a clip missing from ``clip_ids`` raises ``KeyError``.
    """
    clip_ids = [str(c) for c in clip_ids]
    return (_rows(clip_ids, split["train"], f"split {split['name']} train"),
            _rows(clip_ids, split.get("test", []), f"split {split['name']} test"))


def evaluate_support(X, y, train_idx, test_idx, support=None, classifier="knn") -> dict:
    """Train a classifier on ``X[train_idx][:, support]`` (standardised on the training rows)
    and score it on ``X[test_idx]``.

    Parameters
    ----------
    X : array-like
        ``(n, d)`` features.
    y : array-like
        Labels.
    train_idx, test_idx : array-like of int
        Rows to fit on and to score.
    support : array-like of bool, optional
        Columns used; ``None``: all.
    classifier : str or estimator
        As for :func:`make_fitness_classifier` (``knn``: scikit-learn's 5-NN).

    Returns
    -------
    dict
        ``{"f1_macro", "accuracy", "n_features"}``.
    """
    from sklearn.metrics import accuracy_score, f1_score
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline

    X = np.asarray(X)
    y = np.asarray(y)
    sup = np.ones(X.shape[1], bool) if support is None else np.asarray(support, bool)
    est = make_fitness_classifier(classifier)
    est = KNeighborsClassifier(n_neighbors=5) if est is None else clone(est)
    model = make_pipeline(StandardScaler(), est).fit(X[train_idx][:, sup], y[train_idx])
    pred = model.predict(X[test_idx][:, sup])
    return {"f1_macro": float(f1_score(y[test_idx], pred, average="macro")),
            "accuracy": float(accuracy_score(y[test_idx], pred)), "n_features": int(sup.sum())}


def kbest_support(X_train, y_train, k: int, random_state=0, n_jobs: int = 1) -> np.ndarray:
    """Mask of the ``k`` columns with the highest mutual information with the label (training rows only).

    Parameters
    ----------
    X_train, y_train : array-like
        The training rows and their labels.
    k : int
        Columns kept.
    random_state : int
        Seed of the mutual-information estimate.
    n_jobs : int, default=1
        Processes for the estimate, one column per task (the noise it adds is drawn before, so
        the mask does not depend on it).

    Returns
    -------
    numpy.ndarray
        Bool mask over the columns.
    """
    from functools import partial

    from sklearn.feature_selection import SelectKBest, mutual_info_classif

    score = partial(mutual_info_classif, random_state=random_state, n_jobs=int(n_jobs))
    return SelectKBest(score, k=int(k)).fit(np.asarray(X_train), np.asarray(y_train)).get_support()


def random_support(n_features: int, k: int, random_state=0) -> np.ndarray:
    """A uniformly random mask with exactly ``k`` columns.

    Parameters
    ----------
    n_features : int
        Length of the mask.
    k : int
        ``True`` entries.
    random_state : int or None
        Seed of ``numpy.random.default_rng``.

    Returns
    -------
    numpy.ndarray
    """
    rng = np.random.default_rng(random_state)
    m = np.zeros(int(n_features), bool)
    m[rng.choice(int(n_features), size=int(k), replace=False)] = True
    return m


def best_fitness_curve(history: Sequence[float], history_evaluations: Sequence[int], grid) -> np.ndarray:
    """Best fitness reached after ``e`` distinct evaluations, for every ``e`` in ``grid``.

    Between two iteration ends the curve holds the earlier value; before the first entry it is
    NaN. Curves of runs with different evaluations per iteration (ZOA: 2 steps, IZOA: 3) become
    comparable.

    Parameters
    ----------
    history : sequence of float
        A fitted selector's ``history_`` (best fitness at the end of each iteration).
    history_evaluations : sequence of int
        Its ``history_evaluations_`` (distinct evaluations done by then).
    grid : array-like
        Evaluation counts to read the curve at.

    Returns
    -------
    numpy.ndarray
        One value per grid point.
    """
    h = np.asarray(history, float)
    e = np.asarray(history_evaluations, float)
    idx = np.searchsorted(e, np.asarray(grid, float), side="right") - 1
    out = np.where(idx >= 0, h[np.clip(idx, 0, len(h) - 1)], np.nan)
    return out


def write_aux_faces(artifacts: str | os.PathLike, columns: Sequence[str], person_norm_visual: str = "none") -> int:
    """Notebook 05's auxiliary faces (notebook 04's ``visual/aux``): ``fused/aux/features.npz``,
    each subject's rows normalised as the run's face columns are (``person_norm_visual``, the
    subject's own rows, no label read), and ``fused/aux/plain.npz`` (not normalised) when the run
    normalises; their columns must be the visual ones of ``columns`` (the fused columns). Stale
    files go when there is no auxiliary face. Returns the number of rows written."""
    artifacts = Path(artifacts)
    out = artifacts / "fused" / "aux"
    for stale in (FUSED_FILE, PLAIN_FILE):
        (out / f"{stale}.npz").unlink(missing_ok=True)
    src = artifacts / "visual" / "aux" / "features.npz"
    if not src.exists():
        return 0
    ids, X, cols = fileio.load_features(src)
    visual = [str(columns[j]) for j in modality_index(columns, "visual")]
    if list(cols) != visual:
        raise ValueError(f"{src}: its {len(cols)} columns are not the run's {len(visual)} visual columns")
    samples = pd.read_csv(artifacts / "visual" / "aux" / "samples.csv").set_index("sample_id")
    if person.is_active("none", person_norm_visual):
        fileio.save_features(out / f"{PLAIN_FILE}.npz", ids, X, cols)
        X = person.normalize(X, samples.loc[list(ids), "subject"].to_numpy(), [person_norm_visual] * X.shape[1])
    fileio.save_features(out / f"{FUSED_FILE}.npz", ids, X.astype(np.float32), cols)
    return len(ids)
