"""The cost caps that keep stages linear in the number of clips (issue 12)."""
import time

import numpy as np

from mer_helpers.selection import ZebraFeatureSelector, fitness_rows


def test_fitness_rows_is_stratified_capped_and_seeded():
    y = np.repeat([0, 1, 2], [600, 300, 100])
    rows = fitness_rows(y, 200, seed=3)
    assert len(rows) == 200 and np.all(np.diff(rows) > 0)
    assert np.bincount(y[rows]).tolist() == [120, 60, 20]  # each class keeps its share
    assert np.array_equal(rows, fitness_rows(y, 200, seed=3))
    assert not np.array_equal(rows, fitness_rows(y, 200, seed=4))
    assert fitness_rows(y, 1000, seed=3) is None and fitness_rows(y, None, seed=3) is None


def _fit_seconds(n, cap):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, 40))
    y = rng.integers(0, 3, n)
    zs = ZebraFeatureSelector("izoa", population=6, iterations=3, random_state=0, max_fitness_rows=cap)
    t0 = time.perf_counter()
    zs.fit(X, y, groups=np.arange(n) % 20)
    return time.perf_counter() - t0, zs


def test_capped_selection_sees_cap_rows_and_uncapped_below_cap_is_unchanged():
    _, capped = _fit_seconds(900, 300)
    assert capped.n_fitness_rows_ == 300 and capped.n_samples_fit_ == 900
    # below the cap the search is the uncapped one, draw for draw
    _, a = _fit_seconds(250, 300)
    _, b = _fit_seconds(250, None)
    assert a.n_fitness_rows_ == 250
    assert np.array_equal(a.support_, b.support_) and a.best_fitness_ == b.best_fitness_
