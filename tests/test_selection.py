"""Tests of mer_helpers.methods.selection: fusion, Lévy flights, ZOA / IZOA feature selection."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.datasets import make_classification
from sklearn.model_selection import GroupKFold
from sklearn.neighbors import KNeighborsClassifier

from mer_helpers.core import fileio
from mer_helpers.methods import selection as sel
from mer_helpers.methods import fusion, levy
from mer_helpers.methods.selection import ZebraFeatureSelector
from mer_helpers.stages import feature_selection
from synthetic import make_synthetic_artifacts

REPO = Path(__file__).resolve().parent.parent


# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------

class Recorder(ClassifierMixin, BaseEstimator):
    """Nearest-centroid classifier that records every matrix it is given (class-level log)."""

    log: list = []

    def fit(self, X, y):
        Recorder.log.append(("fit", np.array(X, copy=True)))
        self.classes_ = np.unique(y)
        self.centroids_ = np.stack([X[y == c].mean(0) for c in self.classes_])
        return self

    def predict(self, X):
        Recorder.log.append(("predict", np.array(X, copy=True)))
        d = ((X[:, None, :] - self.centroids_[None]) ** 2).sum(-1)
        return self.classes_[d.argmin(1)]


def informative_data(n=240, n_noise=300, n_informative=10, class_sep=3.0, seed=0):
    """10 informative columns (the first ones) among 300 noise columns, 10 speakers."""
    X, y = make_classification(n_samples=n, n_features=n_informative + n_noise, n_informative=n_informative,
                               n_redundant=0, n_repeated=0, n_classes=3, n_clusters_per_class=1,
                               class_sep=class_sep, shuffle=False, random_state=seed)
    perm = np.random.default_rng(seed).permutation(n)
    groups = np.repeat(np.arange(10), n // 10)
    return X[perm], y[perm], groups


# ---------------------------------------------------------------------------------------------
# fusion
# ---------------------------------------------------------------------------------------------

def test_fuse_concatenates_audio_first_with_named_columns():
    A = np.arange(6, dtype=float).reshape(2, 3)
    V = -np.arange(4, dtype=float).reshape(2, 2)
    X, cols = fusion.fuse(A, [f"audio:ae_mean:{i}" for i in range(3)], V, ["resnet50_mean:0", "resnet50_mean:1"])
    assert X.dtype == np.float32 and X.shape == (2, 5)
    np.testing.assert_array_equal(X[:, :3], A)
    np.testing.assert_array_equal(X[:, 3:], V)
    assert cols == ["audio:ae_mean:0", "audio:ae_mean:1", "audio:ae_mean:2",
                    "visual:resnet50_mean:0", "visual:resnet50_mean:1"]
    assert fusion.modality_counts(cols, [True, False, False, True, True]) == {"audio": 1, "visual": 2, "total": 3}
    with pytest.raises(ValueError, match="audio has 2 clips but visual has 1"):
        fusion.fuse(A, None, V[:1], None)


def test_load_fused_aligns_by_clip_id_and_names_the_files(tmp_path):
    art = tmp_path / "artifacts"
    ids = np.array(["c0", "c1", "c2"])
    A = np.array([[0.0], [1.0], [2.0]])
    V = np.array([[10.0, 11.0], [20.0, 21.0], [0.0, 1.0]])       # rows for c1, c2, c0
    fileio.save_features(art / "audio" / "fold0" / "features.npz", ids, A, ["audio:ae_mean:0"])
    fileio.save_features(art / "visual" / "fold0" / "features.npz", ["c1", "c2", "c0"], V,
                     ["visual:resnet50_mean:0", "visual:resnet50_mean:1"])
    got_ids, X, cols = fusion.load_fused(art, "fold0")
    assert list(got_ids) == ["c0", "c1", "c2"]
    np.testing.assert_array_equal(X, [[0, 0, 1], [1, 10, 11], [2, 20, 21]])
    assert cols[0] == "audio:ae_mean:0" and cols[-1] == "visual:resnet50_mean:1"
    fileio.save_features(art / "visual" / "fold0" / "features.npz", ["c1", "c2"], V[:2],
                     ["visual:resnet50_mean:0", "visual:resnet50_mean:1"])
    with pytest.raises(ValueError, match=r"visual/fold0/features.npz.*only in audio \(e.g. \['c0'\]\)"):
        fusion.load_fused(art, "fold0")
    with pytest.warns(UserWarning):
        ids2, X2, _ = fusion.load_fused(art, "fold0", how="inner")
    assert list(ids2) == ["c1", "c2"] and X2[0, 1] == 10
    with pytest.raises(FileNotFoundError, match="visual/fold1/features.npz"):
        fileio.save_features(art / "audio" / "fold1" / "features.npz", ids, A, ["audio:ae_mean:0"])
        fusion.load_fused(art, "fold1")


# ---------------------------------------------------------------------------------------------
# Lévy flights
# ---------------------------------------------------------------------------------------------

def test_mantegna_sigma_matches_the_formula_value():
    assert levy.mantegna_sigma(1.5) == pytest.approx(0.696574, abs=1e-5)
    assert levy.mantegna_sigma(1.0) == pytest.approx(1.0, abs=1e-12)   # Γ(2) sin(π/2) / (Γ(1) · 1 · 2^0) = 1


def test_levy_steps_have_the_heavy_tail_of_a_stable_law_with_index_1_5():
    steps = levy.levy_flight(200_000, lam=1.5, scale=0.01, rng=0)
    assert abs(np.median(steps)) < 0.001                        # symmetric around 0
    assert 0.004 < np.median(np.abs(steps)) < 0.02               # the scale s = 0.01 sets the bulk
    robust = np.median(np.abs(steps)) / 0.6745                   # σ of a Gaussian with the same median |x|
    frac = np.mean(np.abs(steps) > 5 * robust)
    gauss_frac = 2 * stats.norm.sf(5)                            # 5.7e-7 for a Gaussian
    assert frac > 1e4 * gauss_frac                               # heavy tail: percents, not 1e-7
    assert stats.kurtosis(steps) > 100                           # Gaussian: 0; infinite-variance law: huge
    assert levy.hill_tail_index(steps, k=1000) == pytest.approx(1.5, abs=0.2)
    # The same index holds at another scale (the tail exponent does not depend on s).
    assert levy.hill_tail_index(levy.levy_flight(200_000, 1.5, 1.0, rng=1), k=1000) == pytest.approx(1.5, abs=0.2)
    # A Gaussian sample has no power-law tail: its Hill "index" is far larger.
    assert levy.hill_tail_index(np.random.default_rng(0).normal(size=200_000), k=1000) > 5


# ---------------------------------------------------------------------------------------------
# the selector
# ---------------------------------------------------------------------------------------------

def test_izoa_keeps_informative_columns_and_beats_a_random_subset_on_held_out_speakers():
    X, y, groups = informative_data()
    tr, te = np.flatnonzero(groups < 8), np.flatnonzero(groups >= 8)
    s = ZebraFeatureSelector(variant="izoa", population=10, iterations=20, inner_cv=3,
                             random_state=0).fit(X[tr], y[tr], groups[tr])
    sup = s.get_support()
    k = int(sup.sum())
    assert 1 <= k < X.shape[1]
    assert sup[:10].sum() >= 6, f"kept only {sup[:10].sum()} of 10 informative columns"
    assert s.history_[-1] < s.history_[0]                                   # the search improved
    assert all(b <= a for a, b in zip(s.history_, s.history_[1:]))          # elitist: never worse
    f1 = feature_selection.evaluate_support(X, y, tr, te, sup)["f1_macro"]
    f1_random = np.mean([feature_selection.evaluate_support(X, y, tr, te, feature_selection.random_support(X.shape[1], k, i))["f1_macro"]
                         for i in range(10)])
    assert f1 > f1_random + 0.05, (f1, f1_random)
    assert s.transform(X).shape == (len(X), k)


@pytest.mark.slow  # many scikit-learn k-NN fits
def test_fast_knn_path_equals_scikit_learn_knn():
    X, y, groups = informative_data(n=120, n_noise=40)
    kw = dict(variant="izoa", population=6, iterations=3, inner_cv=GroupKFold(3), random_state=3)
    fast = ZebraFeatureSelector(fitness_classifier="knn", **kw).fit(X, y, groups)
    ref = ZebraFeatureSelector(fitness_classifier=KNeighborsClassifier(n_neighbors=5), **kw).fit(X, y, groups)
    np.testing.assert_array_equal(fast.support_, ref.support_)
    assert fast.best_score_ == pytest.approx(ref.best_score_, abs=1e-12)
    np.testing.assert_allclose(fast.history_, ref.history_, atol=1e-12)


@pytest.mark.parametrize("variant", ["zoa", "izoa"])
def test_fit_is_repeatable_for_a_fixed_random_state(variant):
    X, y, groups = informative_data(n=90, n_noise=30)
    kw = dict(variant=variant, population=6, iterations=4, inner_cv=3)
    a = ZebraFeatureSelector(random_state=7, **kw).fit(X, y, groups)
    b = ZebraFeatureSelector(random_state=7, n_jobs=2, **kw).fit(X, y, groups)   # threads change nothing
    c = ZebraFeatureSelector(random_state=8, **kw).fit(X, y, groups)
    np.testing.assert_array_equal(a.support_, b.support_)
    np.testing.assert_array_equal(a.best_position_, b.best_position_)
    assert a.history_ == b.history_ and a.n_evaluations_ == b.n_evaluations_
    assert not np.array_equal(a.best_position_, c.best_position_)


def test_memo_prevents_recomputing_a_mask_seen_before():
    X, y, groups = informative_data(n=60, n_noise=2, n_informative=4)       # 6 columns: 63 possible masks
    Recorder.log.clear()
    s = ZebraFeatureSelector(variant="izoa", population=10, iterations=20, inner_cv=3,
                             fitness_classifier=Recorder(), random_state=0).fit(X, y, groups)
    n_fits = sum(1 for kind, _ in Recorder.log if kind == "fit")
    assert n_fits == s.n_evaluations_ * s.n_inner_splits_                  # one fit per fold per new mask
    assert s.n_evaluations_ <= 2 ** 6 - 1
    assert s.n_evaluations_ <= s.population * (s.iterations + 1)
    assert s.n_fitness_calls_ > 3 * s.n_evaluations_                       # many requests answered by the memo
    shapes = {a.shape[1] for kind, a in Recorder.log if kind == "fit"}
    assert len(shapes) > 1                                                # different subsets were tried


def test_max_evaluations_caps_distinct_evaluations():
    X, y, groups = informative_data(n=90, n_noise=30)
    s = ZebraFeatureSelector(variant="zoa", population=8, iterations=50, inner_cv=3, max_evaluations=40,
                             random_state=0).fit(X, y, groups)
    assert 8 <= s.n_evaluations_ <= 40
    assert s.n_iterations_ < 50
    assert len(s.history_) == s.n_iterations_ + 1 == len(s.history_evaluations_)
    assert s.history_evaluations_[-1] <= 40


def test_n_features_to_select_keeps_exactly_k_columns():
    X, y, groups = informative_data(n=90, n_noise=30)
    s = ZebraFeatureSelector(variant="izoa", population=6, iterations=3, inner_cv=3, n_features_to_select=7,
                             random_state=0).fit(X, y, groups)
    assert s.support_.sum() == 7
    expected = 0.99 * (1 - s.best_score_) + 0.01 * 7 / X.shape[1]
    assert s.best_fitness_ == pytest.approx(expected)
    top = np.argsort(-s.best_position_)[:7]
    assert set(np.flatnonzero(s.support_)) == set(top)


def test_zoa_escape_move_is_s1_and_never_changes_a_mask_with_the_sign_threshold():
    # S1 = P + R (2r - 1)(1 - t/T) P, the function the selector calls.
    P = np.array([[2.0, -1.0, 0.5]])
    r = np.array([[1.0, 0.0, 0.5]])                 # 2r - 1 = +1, -1, 0
    np.testing.assert_allclose(sel.escape_move(P, r, 0, 10, 0.01), [[2.02, -0.99, 0.5]])
    np.testing.assert_allclose(sel.escape_move(P, r, 5, 10, 0.01), [[2.01, -0.995, 0.5]])  # half the radius
    np.testing.assert_allclose(sel.escape_move(P, r, 5, 10, 0.1), [[2.1, -0.95, 0.5]])
    np.testing.assert_array_equal(sel.escape_move(P, r, 10, 10, 0.01), P)   # last iteration: no move
    # Documented consequence of R = 0.01: S1 scales coordinates by at most 1 %, so no sign flips.
    rng = np.random.default_rng(0)
    P = rng.uniform(-4, 4, (50, 30))
    moved = sel.escape_move(P, rng.random(P.shape), 1, 30, 0.01)
    assert not np.array_equal(moved, P)
    assert np.all(np.abs(moved - P) <= 0.01 * np.abs(P) + 1e-12)
    s = ZebraFeatureSelector()
    np.testing.assert_array_equal(s._masks(P), s._masks(moved))


# ---------------------------------------------------------------------------------------------
# the notebook's per-split helper: no test row reaches the fitness function
# ---------------------------------------------------------------------------------------------

def test_test_rows_of_a_split_never_reach_the_fitness_function(tmp_path):
    art = make_synthetic_artifacts(tmp_path, n_speakers=6, clips_per_class=4, n_audio=8, n_visual=16,
                                   n_folds=3, seed=0)
    labels = pd.read_csv(art / "labels.csv")
    splits = fileio.read_json(art / "splits.json")
    split = splits["splits"][0]
    ids, X, columns = fusion.load_fused(art, split["name"])
    tr, te = feature_selection.split_rows(ids, split)
    X = X.copy()
    X[te] = 1e6                                      # sentinel: every test row is the same constant vector
    Recorder.log.clear()
    s = feature_selection.fit_selector_on_split(X, ids, labels, split, variant="izoa", population=4, iterations=2,
                                  inner_cv=3, fitness_classifier=Recorder(), random_state=0)
    assert s.n_samples_fit_ == len(split["train"])
    assert Recorder.log, "the fitness classifier was never called"
    pairs = list(zip(Recorder.log[::2], Recorder.log[1::2]))
    for (k1, a_fit), (k2, a_pred) in pairs:
        assert (k1, k2) == ("fit", "predict")
        # One inner fold: its two parts together are exactly the training rows of the split.
        assert len(a_fit) + len(a_pred) == len(split["train"])
        for a in (a_fit, a_pred):
            # A raw sentinel would show as ~1e6; standardised together with training rows, the
            # sentinel rows would stay identical to each other (any per-column affine map keeps them so).
            assert np.abs(a).max() < 1e3, "a sentinel (test) row reached the fitness classifier"
            assert len(np.unique(np.round(a, 6), axis=0)) == len(a), "identical (sentinel) rows reached fitness"


def test_inner_folds_are_grouped_by_speaker():
    X, y, groups = informative_data(n=120, n_noise=5, n_informative=4)
    X = X.copy()
    X[:, 0] = groups                                 # the speaker id as column 0
    Recorder.log.clear()
    s = ZebraFeatureSelector(variant="zoa", population=4, iterations=0, inner_cv=4,
                             n_features_to_select=X.shape[1], fitness_classifier=Recorder(),
                             random_state=0).fit(X, y, groups)
    assert s.n_inner_splits_ == 4
    for (_, a_fit), (_, a_pred) in zip(Recorder.log[::2], Recorder.log[1::2]):
        # The scaler of each inner fold is fitted on that fold's training rows only.
        np.testing.assert_allclose(a_fit.mean(0), 0, atol=1e-4)
        np.testing.assert_allclose(a_fit.std(0), 1, atol=1e-3)
        # column 0 is standardised with the fold's training statistics (a monotone map):
        # equal values = same speaker.
        assert not set(np.round(a_fit[:, 0], 6)) & set(np.round(a_pred[:, 0], 6))


def test_selection_record_roundtrip(tmp_path):
    X, y, groups = informative_data(n=90, n_noise=30)
    cols = [f"audio:ae_mean:{i}" for i in range(8)] + [f"visual:resnet50_mean:{i}" for i in range(32)]
    s = ZebraFeatureSelector(population=4, iterations=2, inner_cv=3, random_state=0).fit(X, y, groups)
    rec = sel.selection_record(s, cols, split="fold0")
    p = feature_selection.save_selection(tmp_path / "selection" / "fold0" / "selection.json", rec)
    back = sel.load_selection(p)
    np.testing.assert_array_equal(back["support"], s.support_)
    assert back["selected"] == [c for c, k in zip(cols, s.support_) if k]
    assert back["counts"]["selected"]["audio"] == int(s.support_[:8].sum())
    assert back["counts"]["selected"]["visual"] == int(s.support_[8:].sum())
    assert back["counts"]["all"] == {"audio": 8, "visual": 32, "total": 40}
    assert len(back["history"]) == s.n_iterations_ + 1
    json.dumps(back["params"])                      # JSON-clean
    with pytest.raises(FileNotFoundError, match="missing.*05_feature_selection"):
        sel.load_selection(tmp_path / "nope.json")


def test_best_fitness_curve_steps_between_iteration_ends():
    c = feature_selection.best_fitness_curve([0.5, 0.4, 0.3], [10, 25, 40], [5, 10, 24, 25, 39, 40, 60])
    assert np.isnan(c[0])
    np.testing.assert_allclose(c[1:], [0.5, 0.5, 0.4, 0.4, 0.3, 0.3])


def test_kbest_and_random_supports_have_k_columns():
    X, y, _ = informative_data(n=90, n_noise=30)
    kb = feature_selection.kbest_support(X, y, 5, random_state=0)
    assert kb.sum() == 5 and kb[:10].sum() >= 4      # mutual information finds informative columns
    np.testing.assert_array_equal(feature_selection.kbest_support(X, y, 5, random_state=0, n_jobs=2), kb)
    r = feature_selection.random_support(40, 5, random_state=0)
    assert r.sum() == 5 and not np.array_equal(r, feature_selection.random_support(40, 5, random_state=1))


@pytest.mark.slow
def test_notebook_05_runs_on_synthetic_artifacts(tmp_path):
    pm = pytest.importorskip("papermill")
    nb = REPO / "notebooks" / "05_feature_selection.ipynb"
    if not nb.exists():
        pytest.skip(f"{nb} not found")
    make_synthetic_artifacts(tmp_path, n_speakers=6, n_visual=64, n_folds=3, seed=1)
    pm.execute_notebook(str(nb), str(tmp_path / "05.ipynb"), cwd=str(nb.parent), kernel_name="python3",
                        parameters={"out_dir": str(tmp_path), "population": 5, "iterations": 3,
                                    "selection_seeds": 2}, progress_bar=False)
    frag = fileio.read_json(tmp_path / "artifacts" / "metrics" / "05_selection.json")
    assert set(frag["feature_selection"]) == {"none", "kbest", "random", "zoa", "izoa"}
    assert frag["features"]["total"] == 64 + 64
    splits = fileio.read_json(tmp_path / "artifacts" / "splits.json")
    for sp in splits["splits"]:
        rec = sel.load_selection(tmp_path / "artifacts" / "selection" / sp["name"] / "selection.json")
        assert rec["n_train"] == len(sp["train"])
        ids, X, cols = fileio.load_features(tmp_path / "artifacts" / "fused" / sp["name"] / "features.npz")
        assert list(cols) == rec["columns"]
    final = sel.load_selection(tmp_path / "model" / "selection" / "selection.json")
    assert final["split"] == "final" and frag["features"]["selected"] == int(final["support"].sum())


def test_selector_passes_scikit_learn_estimator_checks():
    import warnings

    from sklearn.utils.estimator_checks import check_estimator

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_estimator(ZebraFeatureSelector(population=3, iterations=1, inner_cv=2, random_state=0))


def test_selected_columns_reads_every_layout_of_a_record():
    """One reader of a selection record for notebook 06 and the model folder: ``selected``, or
    ``support`` over the record's ``columns`` (or the columns given for an older record)."""
    assert sel.selected_columns({"selected": ["a:x:1"], "support": [False]}, "f") == ["a:x:1"]
    assert sel.selected_columns({"columns": ["a", "b", "c"], "support": [True, False, True]}, "f") == ["a", "c"]
    assert sel.selected_columns({"support": [False, True]}, "f", columns=["a", "b"]) == ["b"]
    for bad in ({"support": [True]}, {"columns": ["a"]}):
        with pytest.raises(ValueError, match=r"^sel.json: needs 'selected' or 'columns' \+ 'support'$"):
            sel.selected_columns(bad, "sel.json")
