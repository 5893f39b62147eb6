"""Feature selection with ZOA / IZOA over the fused audio + visual columns.

Paper 2 (§3.5, §4.2, Algorithm 4) and paper 1 (§3.4) concatenate each clip's audio and visual
feature vectors and keep a subset of the columns chosen by an "Improved Zebra Optimization
Algorithm" (IZOA). This module provides

* the concatenation itself, with a readable name per column (``"<modality>:<stage>:<index>"``,
  audio columns first), is :mod:`mer_helpers.methods.fusion`;
* :class:`ZebraFeatureSelector`: a scikit-learn ``SelectorMixin`` running either the original
  Zebra Optimization Algorithm (``variant="zoa"``, Trojovská, Dehghani & Trojovský 2022,
  IEEE Access 10:49445) or the improvement described in paper 2 (``variant="izoa"``);
* Mantegna's Lévy-stable steps that IZOA uses are :mod:`mer_helpers.methods.levy`;
* :func:`selection_record` / :func:`load_selection`: a fitted selection as it is written to
  ``selection.json``; notebook 05's own code (one split, the baselines it is compared with) is
  :mod:`mer_helpers.stages.feature_selection`.

Fitness (to be minimised) of a feature mask ``S`` over all features ``F``::

    fitness(S) = alpha * (1 - accuracy(S)) + (1 - alpha) * |S| / |F|

where ``accuracy`` is the mean accuracy of a fast classifier (k-NN with k = 5 by default) under
an *inner* cross-validation on the rows passed to :meth:`ZebraFeatureSelector.fit` only
(grouped by speaker when ``groups`` is given). Every inner fold standardises with statistics of
its own inner-training rows, so no row of an inner test fold and no row outside ``fit``'s data
influences a fitness value.
"""
from __future__ import annotations

import contextlib
import hashlib
import math
import os
import time
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
from sklearn.base import BaseEstimator, clone
from sklearn.feature_selection import SelectorMixin
from sklearn.model_selection import GroupKFold, StratifiedGroupKFold, StratifiedKFold
from sklearn.preprocessing import LabelEncoder, StandardScaler
from sklearn.utils.validation import check_is_fitted, validate_data

from mer_helpers.core import fileio, parallel
from mer_helpers.core.progress import progress
from mer_helpers.methods.fusion import modality_counts
from mer_helpers.methods.levy import levy_flight

__all__ = ["ZebraFeatureSelector", "make_fitness_classifier", "selection_record", "selected_columns", "load_selection", "escape_move"]


# --------------------------------------------------------------------------------------------
# Fitness evaluation
# --------------------------------------------------------------------------------------------

def escape_move(P: np.ndarray, r: np.ndarray, t: int, T: int, radius: float = 0.01) -> np.ndarray:
    """ZOA's strategy S1 (escape from lions, paper 1 Eq. 5): ``P + R (2r - 1)(1 - t/T) P``.

    Parameters
    ----------
    P : numpy.ndarray
        Positions ``(N, d)``.
    r : numpy.ndarray
        Uniform random numbers in [0, 1), the shape of ``P``.
    t, T : int
        The iteration (1-based) and the number of iterations.
    radius : float
        ``R``: each coordinate moves by at most ``radius`` times itself.

    Returns
    -------
    numpy.ndarray
        The moved positions (a new array).
    """
    return P + radius * (2 * r - 1) * (1 - t / T) * P


def make_fitness_classifier(name: str | BaseEstimator):
    """The classifier inside the selector's fitness.

    Every classifier is applied to standardised columns (the scaler is fitted on the inner
    training rows of each fold).

    Parameters
    ----------
    name : str or estimator
        ``"knn"`` (5-NN, Euclidean, evaluated by a fast NumPy path), ``"logreg"``
        (``LogisticRegression(max_iter=1000)``), ``"lda"`` (SVD solver), or an estimator
        returned as it is.

    Returns
    -------
    estimator or None
        ``None`` for ``"knn"`` (the fast path), else a scikit-learn estimator to clone per evaluation.

    Raises
    ------
    ValueError
        For an unknown name.
    """
    if not isinstance(name, str):
        return name
    key = name.lower()
    if key == "knn":
        return None
    if key == "logreg":
        from sklearn.linear_model import LogisticRegression
        return LogisticRegression(max_iter=1000)
    if key == "lda":
        from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

        # SVD solver: works with more columns than rows (the usual case here) and is ~100x
        # faster than the shrinkage (lsqr + Ledoit-Wolf) solver at 300 rows x 1000 columns.
        return LinearDiscriminantAnalysis(solver="svd")
    raise ValueError(f"unknown fitness_classifier {name!r}; use 'knn', 'logreg', 'lda' or an estimator")


def _knn_accuracy(Xtr, ytr, Xte, yte, cols, n_classes, k=5):
    """Accuracy of a k-NN classifier (Euclidean, uniform votes, ties to the lowest class index,
    as scikit-learn's ``KNeighborsClassifier``) trained on ``Xtr[:, cols]``."""
    A = Xte[:, cols]
    B = Xtr[:, cols]
    d2 = (A * A).sum(1)[:, None] + (B * B).sum(1)[None, :] - 2.0 * (A @ B.T)
    k = min(k, B.shape[0])
    if k < B.shape[0]:
        nn = np.argpartition(d2, k - 1, axis=1)[:, :k]
    else:
        nn = np.broadcast_to(np.arange(k), (A.shape[0], k))
    votes = ytr[nn]
    counts = np.stack([(votes == c).sum(1) for c in range(n_classes)], axis=1)
    return float(np.mean(counts.argmax(1) == yte))


def _accuracies(masks: np.ndarray, estimator, k: int, n_classes: int, *arrays: np.ndarray) -> list[float]:
    """Mean inner-CV accuracy of each row of ``masks``; ``arrays``: ``Xtr, ytr, Xte, yte`` of
    each fold, flat (top-level arguments, so that joblib's Dask backend scatters them)."""
    folds = [arrays[i:i + 4] for i in range(0, len(arrays), 4)]
    out = []
    for mask in masks:
        cols = np.flatnonzero(mask)
        accs = []
        for Xtr, ytr, Xte, yte in folds:
            if estimator is None:
                accs.append(_knn_accuracy(Xtr, ytr, Xte, yte, cols, n_classes, k))
            else:
                est = clone(estimator).fit(Xtr[:, cols], ytr)
                accs.append(float(np.mean(est.predict(Xte[:, cols]) == yte)))
        out.append(float(np.mean(accs)))
    return out


class _Fitness:
    """Memoised fitness of feature masks on precomputed, standardised inner folds."""

    def __init__(self, folds, n_classes, alpha, estimator, k=5, n_jobs=None, max_evaluations=None):
        self.folds = folds
        self.n_classes = n_classes
        self.alpha = float(alpha)
        self.estimator = estimator
        self.k = k
        self.n_jobs = n_jobs
        self.max_evaluations = max_evaluations
        self.memo: dict[bytes, tuple[float, float]] = {}
        self.n_calls = 0          # fitness requests, memo hits included
        self.eval_seconds = 0.0   # time spent in classifier evaluations

    @staticmethod
    def key(mask: np.ndarray) -> bytes:
        return hashlib.blake2b(np.packbits(mask).tobytes(), digest_size=16).digest()

    @property
    def remaining(self) -> float:
        if self.max_evaluations is None:
            return math.inf
        return self.max_evaluations - len(self.memo)

    def accuracy(self, mask: np.ndarray) -> float:
        return _accuracies(np.asarray(mask, bool)[None], self.estimator, self.k, self.n_classes, *self.arrays)[0]

    @property
    def arrays(self) -> list[np.ndarray]:
        """The folds' arrays, flat: what each parallel evaluation needs (sent once to Dask)."""
        return [a for fold in self.folds for a in fold]

    def __call__(self, masks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Fitness and accuracy of each row of ``masks`` (bool (m, d)).

        Masks seen before come from the memo. When ``max_evaluations`` distinct masks have been
        evaluated, the remaining new masks get fitness ``inf`` (never accepted).
        """
        masks = np.asarray(masks, bool)
        self.n_calls += len(masks)
        keys = [self.key(m) for m in masks]
        todo: dict[bytes, int] = {}
        for i, kk in enumerate(keys):
            if kk not in self.memo and kk not in todo and len(todo) < self.remaining:
                todo[kk] = i
        if todo:
            t0 = time.perf_counter()
            idx = list(todo.values())
            n_jobs = 1 if self.n_jobs is None else int(self.n_jobs)
            args = (self.estimator, self.k, self.n_classes, *self.arrays)
            if n_jobs == 1 or len(idx) == 1:
                accs = _accuracies(masks[idx], *args)
            else:
                from joblib import Parallel, delayed, effective_n_jobs
                nj = min(effective_n_jobs(n_jobs), len(idx))
                chunks = np.array_split(np.asarray(idx), nj)
                # Threads: the NumPy / BLAS work releases the GIL and the folds are shared, not
                # copied; inside parallel.joblib_backend (fit) the chunks go to the Dask workers.
                res = Parallel(n_jobs=nj, prefer="threads")(delayed(_accuracies)(masks[c], *args) for c in chunks)
                accs = [a for r in res for a in r]
            self.eval_seconds += time.perf_counter() - t0
            d = masks.shape[1]
            for kk, i, acc in zip(todo, idx, accs):
                fit = self.alpha * (1.0 - acc) + (1.0 - self.alpha) * masks[i].sum() / d
                self.memo[kk] = (float(fit), float(acc))
        fit = np.array([self.memo[kk][0] if kk in self.memo else np.inf for kk in keys])
        acc = np.array([self.memo[kk][1] if kk in self.memo else np.nan for kk in keys])
        return fit, acc


# --------------------------------------------------------------------------------------------
# The estimator
# --------------------------------------------------------------------------------------------

def fitness_rows(y: np.ndarray, cap: int | None, seed: int) -> np.ndarray | None:
    """Row indices (sorted) of a class-stratified random subset of at most ``cap`` rows of
    ``y``, or ``None`` when ``cap`` is ``None`` or ``len(y) <= cap``.

    Parameters
    ----------
    y : array of shape (n,)
        Integer class labels.
    cap : int or None
        Largest number of rows to keep.
    seed : int
        Seed of the draw (the same seed gives the same rows).

    Returns
    -------
    numpy.ndarray or None
        Each class keeps its share of the rows (rounded down, at least one row a class).
    """
    n = len(y)
    if cap is None or n <= int(cap):
        return None
    rng = np.random.default_rng([seed, 7])
    classes, counts = np.unique(y, return_counts=True)
    quota = np.maximum(1, np.floor(counts * int(cap) / n).astype(int))
    keep = [rng.choice(np.flatnonzero(y == c), size=min(q, m), replace=False)
            for c, q, m in zip(classes, quota, counts)]
    return np.sort(np.concatenate(keep))


class ZebraFeatureSelector(SelectorMixin, BaseEstimator):
    r"""Wrapper feature selection with the Zebra Optimization Algorithm (ZOA) or paper 2's IZOA.

    Each zebra is a position ``x`` in the box ``[-bound, bound]^d`` (``d`` = number of columns).
    A position becomes a feature mask through the S-shaped (sigmoid) transfer function
    ``T(x) = 1 / (1 + exp(-x))``: column ``j`` is kept when ``T(x_j) > 0.5``, i.e. ``x_j > 0``;
    with ``n_features_to_select = k`` the ``k`` columns with the largest ``T(x_j)`` are kept.
    *Why sigmoid, deterministic:* a deterministic rule makes the fitness a function of the
    position (needed for the greedy replacement of ZOA to mean anything, and for the memo);
    the S-shape puts the decision boundary at the centre of the box, so a uniform initial
    population keeps about half of the columns and the ZOA moves, which contract positions
    towards 0 when ``I = 2``, make bits easy to flip instead of biasing them towards
    "dropped" (what a V-shaped ``|tanh x|`` rule would do). At least one column is always kept
    (the largest position, if every ``x_j <= 0``).

    Fitness (minimised): ``alpha * (1 - acc) + (1 - alpha) * |S| / d``, where ``acc`` is the
    mean accuracy of ``fitness_classifier`` over an inner cross-validation on the rows given
    to :meth:`fit` only: ``StratifiedGroupKFold`` on ``groups`` (speakers) when given, else
    ``StratifiedKFold``; ``inner_cv`` folds (clipped to the number of groups). Columns are
    standardised inside each inner fold with the statistics of its inner-training rows
    (computed once per fold; standardising all columns then slicing equals standardising the
    slice). A mask seen before is looked up in a memo keyed by a hash of its packed bits.

    ``variant="zoa"`` — Trojovská, Dehghani & Trojovský (2022), per iteration ``t = 1..T``:

    * pioneer zebra ``PZ`` = best member of the population;
    * phase 1, foraging (Eq. 3): ``x_new = x + r ⊙ (PZ - I x)``, ``r ~ U(0,1)^d``,
      ``I = round(1 + U(0,1)) ∈ {1, 2}`` drawn per zebra;
    * phase 2, defence (Eq. 5), for each zebra with probability ``Ps`` = 0.5 strategy S1
      (escape from lions) ``x_new = x + R (2r - 1)(1 - t/T) x`` with ``R = escape_radius``
      = 0.01, otherwise S2 (herd moves toward the attacked zebra ``AZ``, a random member)
      ``x_new = x + r ⊙ (AZ - I x)``;
    * after each phase, greedy replacement (Eqs. 4 and 6): ``x ← x_new`` only if its fitness
      is strictly lower. Positions are clipped to the box.

    ``variant="izoa"`` — paper 2 §3.5 and Algorithm 4 (Evaluate fitness, SelectBestIndividuals,
    UpdatePositions, ApplyMutationAndCrossover, UpdateBestSolution), per iteration:

    * phase 1, Lévy-flight exploration (Eq. 13): ``x_new = PZ + L ⊙ (PZ - I x)``, with ``L``
      Mantegna Lévy steps (Eqs. 14-15, λ = ``levy_lambda`` = 1.5, s = ``levy_scale`` = 0.01);
    * phase 2, revised exploitation (S1 with probability ``Ps``, as in ZOA; otherwise the
      revised move guided by both the pioneer and the attacked zebra)
      ``x_new = x + r1 ⊙ (PZ - I x) + r2 ⊙ (AZ - I x)``;
    * mutation and crossover: uniform crossover with the pioneer (each coordinate taken from
      ``PZ`` with probability ``crossover_rate``), then random-reset mutation (each coordinate
      redrawn uniformly in the box with probability ``mutation_rate``, default ``1/d``, at
      least one coordinate per zebra);
    * greedy replacement after each of the three steps, and the pioneer (best solution) is
      updated after each of them.

    Choices made where the sources are vague or disagree (documented in the notebook too):

    1. ZOA ``R``: the paper says 0.01, the authors' MATLAB code uses 0.1; we use the paper's
       0.01. With the sign-threshold transfer, S1 multiplies each coordinate by a factor in
       ``[0.99, 1.01]``, so it never flips a bit: S1 is inert in mask space (its masks come
       from the memo at no cost and are rejected by the strict greedy rule). It does change
       the ranking used with ``n_features_to_select``.
    2. ``Ps``: the authors' code draws one ``Ps`` per iteration (the whole herd uses S1 or
       S2); Eq. 5 is written per zebra, so we draw it per zebra. ``AZ`` is one random zebra
       per iteration (the herd defends one attacked member), drawn after phase 1.
    3. Greedy replacement: the paper's Eqs. 4/6 use a strict ``<``, the code ``<=``. We use
       ``<``: with ``<=`` equal-fitness copies of the pioneer (same mask) would replace the
       herd and destroy its diversity.
    4. IZOA Eq. 13 is garbled in the paper's text; we read it as the pioneer plus a Lévy step
       proportional to ``(PZ - I x)`` (the symbols the text defines: PZ, the Lévy function,
       I and x). Eq. 14's "w and k random in [0, 1]" is Mantegna's pair of normal variates.
    5. IZOA's revised phase-2 equation is missing from the text; only its symbols are listed
       (r, I, PZ, AZ, x). We use ``x + r1 ⊙ (PZ - I x) + r2 ⊙ (AZ - I x)`` (ZOA's S2 plus a
       pull toward the pioneer) and keep S1 unchanged.
    6. "Mutation and crossover" and "SelectBestIndividuals" are named in Algorithm 4 without
       details: SelectBestIndividuals = choosing the pioneer; mutation/crossover as above
       (a genetic operator pair rather than DE's difference vectors, which vanish once the
       herd gathers around the pioneer).
    7. The initial population is uniform in the box (paper: "initialises a population of
       possible feature subsets").
    8. Budget: ``max_evaluations`` caps the number of *distinct* masks evaluated (the costly
       part); requests answered by the memo are free. When the cap is reached, unevaluated
       candidates are rejected and the search stops at the end of the current step.

    Parameters
    ----------
    variant : {"izoa", "zoa"}
    population, iterations : herd size N and number of iterations T.
    n_features_to_select : int or None — keep exactly this many columns (top-k positions).
    alpha : weight of the error term in the fitness (0.99).
    fitness_classifier : "knn" (5-NN, fast NumPy path), "logreg", "lda" or an estimator.
    inner_cv : int (folds) or a CV splitter with ``split(X, y, groups)``.
    max_evaluations : int or None — cap on distinct masks evaluated.
    max_fitness_rows : int or None — the fitness sees at most this many training rows (a
        class-stratified random subset, drawn from ``random_state``; ``None`` = all). A 5-NN
        fitness costs O(n²) per evaluation, so without a cap the search grows with the square
        of the training clips; with it, its cost stops growing once ``n`` passes the cap.
        The default (2,000) is far above the paired runs' 384 training clips, which are
        therefore unaffected; for MELD-sized corpora see the book's "Scale" page.
    bound : half-width of the search box.
    ps, escape_radius : ZOA's strategy probability ``Ps`` and S1 radius ``R``.
    levy_lambda, levy_scale : IZOA's Lévy index λ and step scale s.
    crossover_rate, mutation_rate : IZOA's genetic operators (``mutation_rate=None`` → 1/d).
    random_state : int, ``numpy.random.Generator`` or None.
    n_jobs : parallel fitness evaluations of a population (joblib threads; joblib's Dask
        backend when a Dask cluster is in use, :func:`mer_helpers.core.parallel.joblib_backend`).
    progress : show a progress bar over iterations (:func:`mer_helpers.core.progress.progress`).

    Attributes
    ----------
    support_ : bool (d,) — the best mask found.
    best_position_ : float (d,) — its position.
    best_fitness_, best_score_ : its fitness and inner-CV accuracy.
    history_ : list of best fitness values; entry 0 is the initial population, entry t the
        best after iteration t.
    history_evaluations_ : distinct evaluations used at each entry of ``history_``.
    n_evaluations_ : distinct masks evaluated; n_fitness_calls_ : requests incl. memo hits.
    n_iterations_ : iterations completed (fewer than ``iterations`` if the budget ran out).
    n_inner_splits_ : folds of the inner CV; n_samples_fit_ : rows seen by :meth:`fit`;
    n_fitness_rows_ : rows the fitness saw (``max_fitness_rows``).
    fit_time_ : seconds in :meth:`fit`; time_per_evaluation_ : classifier time per distinct
        mask (seconds).
    """

    def __init__(self, variant: str = "izoa", population: int = 20, iterations: int = 30,
                 n_features_to_select: int | None = None, alpha: float = 0.99,
                 fitness_classifier: Any = "knn", inner_cv: Any = 5,
                 max_evaluations: int | None = None, max_fitness_rows: int | None = 2000,
                 bound: float = 4.0, ps: float = 0.5,
                 escape_radius: float = 0.01, levy_lambda: float = 1.5, levy_scale: float = 0.01,
                 crossover_rate: float = 0.5, mutation_rate: float | None = None,
                 random_state: Any = None, n_jobs: int | None = None, progress: bool = False):
        self.variant = variant
        self.population = population
        self.iterations = iterations
        self.n_features_to_select = n_features_to_select
        self.alpha = alpha
        self.fitness_classifier = fitness_classifier
        self.inner_cv = inner_cv
        self.max_evaluations = max_evaluations
        self.max_fitness_rows = max_fitness_rows
        self.bound = bound
        self.ps = ps
        self.escape_radius = escape_radius
        self.levy_lambda = levy_lambda
        self.levy_scale = levy_scale
        self.crossover_rate = crossover_rate
        self.mutation_rate = mutation_rate
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.progress = progress

    # ---- helpers -------------------------------------------------------------------------

    def _masks(self, P: np.ndarray) -> np.ndarray:
        """Positions (m, d) → masks (m, d) through the sigmoid transfer function."""
        k = self.n_features_to_select
        if k is not None:
            k = int(k)
            top = np.argpartition(-P, k - 1, axis=1)[:, :k]
            M = np.zeros(P.shape, bool)
            np.put_along_axis(M, top, True, axis=1)
            return M
        M = 1.0 / (1.0 + np.exp(-P)) > 0.5
        empty = ~M.any(1)
        if empty.any():
            M[np.flatnonzero(empty), P[empty].argmax(1)] = True
        return M

    def _inner_splits(self, X, y, groups, seed):
        cv = self.inner_cv
        if not isinstance(cv, (int, np.integer)):
            return list(cv.split(X, y, groups))
        n = int(cv)
        if groups is not None:
            n_groups = len(np.unique(groups))
            n = min(n, n_groups)
            if n < 2:
                raise ValueError(f"inner CV needs at least 2 groups (speakers) in the training rows, found {n_groups}")
            min_class = np.bincount(y).min()
            if min_class >= n:
                splitter = StratifiedGroupKFold(n_splits=n, shuffle=True, random_state=seed)
            else:
                splitter = GroupKFold(n_splits=n)
            return list(splitter.split(X, y, groups))
        n = min(n, int(np.bincount(y).min()))
        if n < 2:
            raise ValueError("inner CV needs at least 2 training rows of every class")
        return list(StratifiedKFold(n_splits=n, shuffle=True, random_state=seed).split(X, y))

    # ---- fit -------------------------------------------------------------------------------

    def fit(self, X, y, groups=None):
        """Search the best mask on ``X`` (n, d), labels ``y`` and optional ``groups`` (speakers).

        Only these rows are used (pass the training part of the outer split). BLAS runs one
        thread per worker during the search (many small products: extra BLAS threads only
        contend with each other); parallelism comes from ``n_jobs``: threads, or the Dask
        cluster's workers when one is in use (:func:`mer_helpers.core.parallel.joblib_backend`).
        """
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=1, user_api="blas"), contextlib.ExitStack() as stack:
            return self._fit(X, y, groups, stack)

    def _fit(self, X, y, groups, stack: contextlib.ExitStack):
        t_start = time.perf_counter()
        if self.variant not in ("zoa", "izoa"):
            raise ValueError(f"variant must be 'zoa' or 'izoa', got {self.variant!r}")
        # Dense, finite, 2-D, at least 2 rows; sets n_features_in_ (and feature_names_in_).
        X, y = validate_data(self, X, y, dtype=np.float64, ensure_min_samples=2)
        n, d = X.shape
        self.n_samples_fit_ = n
        self.label_encoder_ = LabelEncoder().fit(y)
        yi = self.label_encoder_.transform(y)
        self.classes_ = self.label_encoder_.classes_
        if groups is not None:
            groups = np.asarray(groups)
            if len(groups) != n:
                raise ValueError(f"X has {n} rows but groups has {len(groups)}")
        N, T = int(self.population), int(self.iterations)
        if N < 2 or T < 0:
            raise ValueError("population must be >= 2 and iterations >= 0")
        k = self.n_features_to_select
        if k is not None and not 1 <= int(k) <= d:
            raise ValueError(f"n_features_to_select must be in [1, {d}], got {k}")
        if self.max_evaluations is not None and self.max_evaluations < N:
            raise ValueError(f"max_evaluations ({self.max_evaluations}) must be >= population ({N})")

        rng = np.random.default_rng(self.random_state)
        seed = int(rng.integers(2**31 - 1))
        rows = fitness_rows(yi, self.max_fitness_rows, seed)
        if rows is not None:
            X, yi = X[rows], yi[rows]
            groups = None if groups is None else groups[rows]
        self.n_fitness_rows_ = len(yi)
        splits = self._inner_splits(X, yi, groups, seed)
        self.n_inner_splits_ = len(splits)
        dtype = np.float32
        folds = []
        for tr, te in splits:
            sc = StandardScaler().fit(X[tr])
            folds.append((np.ascontiguousarray(sc.transform(X[tr]), dtype=dtype), yi[tr],
                          np.ascontiguousarray(sc.transform(X[te]), dtype=dtype), yi[te]))
        fitness = _Fitness(folds, len(self.classes_), self.alpha,
                           make_fitness_classifier(self.fitness_classifier),
                           n_jobs=self.n_jobs, max_evaluations=self.max_evaluations)
        if self.n_jobs not in (None, 1):  # on the Dask cluster when one is in use; folds sent once
            stack.enter_context(parallel.joblib_backend(scatter=fitness.arrays))

        lo, hi = -float(self.bound), float(self.bound)
        P = rng.uniform(lo, hi, (N, d))
        F, A = fitness(self._masks(P))
        history = [float(F.min())]
        hist_eval = [len(fitness.memo)]

        def greedy(cand):
            nonlocal P, F, A
            cand = np.clip(cand, lo, hi)
            Fc, Ac = fitness(self._masks(cand))
            better = Fc < F          # strict, as the paper's Eqs. 4 and 6
            P[better], F[better], A[better] = cand[better], Fc[better], Ac[better]

        def pioneer():
            return P[int(np.argmin(F))].copy()

        pm = self.mutation_rate if self.mutation_rate is not None else 1.0 / d
        it = range(1, T + 1)
        if self.progress:
            it = progress(it, desc=f"{self.variant.upper()} selection", leave=False)
        n_done = 0
        for t in it:
            if fitness.remaining <= 0:
                break
            PZ = pioneer()
            I = rng.integers(1, 3, size=(N, 1)).astype(float)   # round(1 + rand) ∈ {1, 2}
            if self.variant == "zoa":
                # Phase 1: foraging toward the pioneer zebra (Eq. 3).
                greedy(P + rng.random((N, d)) * (PZ - I * P))
            else:
                # Phase 1: Lévy-flight exploration around the pioneer (paper 2, Eq. 13).
                L = levy_flight((N, d), self.levy_lambda, self.levy_scale, rng)
                greedy(PZ + L * (PZ - I * P))
                PZ = pioneer()                                  # best-solution update
            # Phase 2: defence against predators (Eq. 5 / paper 2's revised exploitation).
            AZ = P[int(rng.integers(N))].copy()
            use_s1 = rng.random(N) <= self.ps
            r = rng.random((N, d))
            I = rng.integers(1, 3, size=(N, 1)).astype(float)
            s1 = escape_move(P, r, t, T, self.escape_radius)
            if self.variant == "zoa":
                s2 = P + r * (AZ - I * P)
            else:
                s2 = P + r * (PZ - I * P) + rng.random((N, d)) * (AZ - I * P)
            greedy(np.where(use_s1[:, None], s1, s2))
            if self.variant == "izoa" and fitness.remaining > 0:
                PZ = pioneer()
                # Mutation and crossover (Algorithm 4, ApplyMutationAndCrossover).
                cross = rng.random((N, d)) < self.crossover_rate
                trial = np.where(cross, PZ, P)
                mut = rng.random((N, d)) < pm
                mut[np.arange(N), rng.integers(d, size=N)] = True
                trial = np.where(mut, rng.uniform(lo, hi, (N, d)), trial)
                greedy(trial)                                   # then UpdateBestSolution
            n_done = t
            history.append(float(F.min()))
            hist_eval.append(len(fitness.memo))

        b = int(np.argmin(F))
        self.best_position_ = P[b].copy()
        self.support_ = self._masks(P[b:b + 1])[0]
        self.best_fitness_ = float(F[b])
        self.best_score_ = float(A[b])
        self.history_ = history
        self.history_evaluations_ = hist_eval
        self.n_iterations_ = n_done
        self.n_evaluations_ = len(fitness.memo)
        self.n_fitness_calls_ = fitness.n_calls
        self.evaluation_time_ = fitness.eval_seconds
        self.time_per_evaluation_ = fitness.eval_seconds / max(1, len(fitness.memo))
        self.fit_time_ = time.perf_counter() - t_start
        return self

    def _get_support_mask(self):
        check_is_fitted(self, "support_")
        return self.support_


# --------------------------------------------------------------------------------------------
# A fitted selection on disk (selection.json)
# --------------------------------------------------------------------------------------------


def selection_record(selector: ZebraFeatureSelector, columns: Sequence[str], split: str | None = None,
                     **extra) -> dict:
    """The ``selection.json`` dict: columns, support, selected names, counts by modality, fitness, history.

    Parameters
    ----------
    selector : ZebraFeatureSelector
        A fitted selector.
    columns : sequence of str
        The names of the columns it selected from.
    split : str, optional
        Recorded as ``split``.
    **extra
        Further entries, added last.

    Returns
    -------
    dict
        JSON-ready (parameters that are not plain values are stored as their ``repr``).
    """
    sup = np.asarray(selector.get_support(), bool)
    columns = [str(c) for c in columns]
    rec = {
        "split": split,
        "variant": selector.variant,
        "columns": columns,
        "support": [bool(s) for s in sup],
        "selected": [c for c, s in zip(columns, sup) if s],
        "counts": {"all": modality_counts(columns), "selected": modality_counts(columns, sup)},
        "best_fitness": selector.best_fitness_,
        "best_score": selector.best_score_,
        "history": selector.history_,
        "history_evaluations": selector.history_evaluations_,
        "n_evaluations": selector.n_evaluations_,
        "n_fitness_calls": selector.n_fitness_calls_,
        "n_iterations": selector.n_iterations_,
        "fit_time_s": selector.fit_time_,
        "time_per_evaluation_s": selector.time_per_evaluation_,
        "params": {k: (v if isinstance(v, (int, float, str, bool, type(None))) else repr(v))
                   for k, v in selector.get_params().items()},
    }
    rec.update(extra)
    return rec


def selected_columns(record: Mapping[str, Any], where, columns: Sequence[str] | None = None) -> list[str]:
    """The selected column names of a ``selection.json`` record: its ``selected`` list, or the
    columns whose ``support`` flag is set (the record's own ``columns``, else ``columns``).

    Parameters
    ----------
    record : mapping
        What :func:`selection_record` makes (or an older record with ``columns`` + ``support`` only).
    where : path-like or str
        Named in the error.
    columns : sequence of str or None
        The columns ``support`` refers to when the record lists none.

    Returns
    -------
    list of str

    Raises
    ------
    ValueError
        Neither ``selected`` nor ``support`` with its columns.
    """
    if "selected" in record:
        return [str(c) for c in record["selected"]]
    columns = record.get("columns", columns)
    if "support" not in record or columns is None:
        raise ValueError(f"{where}: needs 'selected' or 'columns' + 'support'")
    return [str(c) for c, s in zip(columns, record["support"]) if s]


def load_selection(path: str | os.PathLike) -> dict:
    """Read a ``selection.json``; ``support`` comes back as a bool array. Errors name the file.

    Parameters
    ----------
    path : path-like
        A file written by :func:`mer_helpers.stages.feature_selection.save_selection`.

    Returns
    -------
    dict
        The record, ``support`` as a numpy bool array.

    Raises
    ------
    FileNotFoundError, ValueError
        Missing file (notebook 05 has not run), missing entries, or support and columns of
        different lengths.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: missing; run notebook 05_feature_selection first")
    rec = fileio.read_json(path)
    for key in ("columns", "support", "selected"):
        if key not in rec:
            raise ValueError(f"{path}: no {key!r} entry")
    rec["support"] = np.asarray(rec["support"], bool)
    if len(rec["support"]) != len(rec["columns"]):
        raise ValueError(f"{path}: {len(rec['support'])} support flags for {len(rec['columns'])} columns")
    return rec


