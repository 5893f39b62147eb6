"""The cost caps that keep stages linear in the number of clips (issue 12)."""
import time

import numpy as np

from mer_helpers.methods.selection import ZebraFeatureSelector, fitness_rows


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


def _bench_module():
    from synthetic import load_script

    return load_script("bench_scale")


def test_bench_analysis_projects_per_clip_linearly_and_fits_along_their_slope(tmp_path):
    from mer_helpers.chain import book

    b = _bench_module()
    runs = {"strong": {str(n): {"audio": {"seconds": n / 10, "peak_mb": 100.0, "cpu_s": n / 5},
                                "backbone": {"seconds": n / 100, "peak_mb": 100.0, "cpu_s": n / 50},
                                "selection": {"seconds": min(n, 2000) / 100, "peak_mb": 50.0},
                                "classifier": {"seconds": n / 100, "peak_mb": 50.0}}
                       for n in (500, 2000, 8000)}}
    res = {"runs": runs, "mean_clip_s": b.MELD_MEAN_S, "hd_factor": 2.0, "sizes": [500, 2000, 8000]}
    table = b.analyse(res)["strong"]
    assert abs(table["audio"]["growth"] - 1.0) < 1e-9 and abs(table["audio"]["cost_ratio"] - 1.0) < 1e-9
    assert abs(table["audio"]["meld_s"] - 1370.8) < 1e-6          # 0.1 s a clip, same clip length
    assert abs(table["selection"]["meld_s"] - 20.0) < 1e-9        # capped: flat from 2,000 to 8,000
    assert abs(table["classifier"]["meld_s"] - 137.08) < 1e-6     # linear
    chain = res["chain"]["strong"]
    assert abs(table["backbone"]["meld_s"] - 137.08) < 1e-6       # per clip, not scaled by the decode factor
    # the backbone runs once per split (2 with the official protocol, 6 with 5-fold speaker-cv)
    assert abs(chain["official"] - (1370.8 + 2 * 137.08 + 7 * 20.0 + 13 * 137.08)) < 1e-6
    assert abs(chain["speaker-cv"] - (1370.8 + 6 * 137.08 + 15 * 20.0 + 53 * 137.08)) < 1e-6
    assert b.runs_per_chain("paper", "summary", True, "speaker-cv") == 6
    assert b.runs_per_chain("strong", "summary", True, "speaker-cv") == 1  # reused: every split has the same images
    res["table"] = {"strong": table}
    (tmp_path / "bench.json").write_text(__import__("json").dumps(res))
    md = book.scale_markdown(tmp_path / "bench.json")
    assert "| audio | 50.0 | 200.0 | 800.0 | 10.0 |" in md and "**59 min**" in md  # 3567 s
