"""mer_helpers.methods.evaluation: metrics against scikit-learn, bootstrap, McNemar, summaries, figures."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

from mer_helpers.methods import evaluation as ev
from mer_helpers.methods import papers
from mer_helpers.methods import plots

CLASSES = ["happy", "sad", "surprise"]


def fixed_labels():
    """A fixed confusion: rows true (happy, sad, surprise) = [[5, 2, 1], [1, 3, 0], [2, 0, 6]]."""
    cm = [[5, 2, 1], [1, 3, 0], [2, 0, 6]]
    t, p = [], []
    for i, row in enumerate(cm):
        for j, n in enumerate(row):
            t += [CLASSES[i]] * n
            p += [CLASSES[j]] * n
    return np.array(t), np.array(p), np.array(cm)


def test_metrics_match_sklearn_on_fixed_confusion():
    t, p, cm = fixed_labels()
    np.testing.assert_array_equal(ev.confusion(t, p, CLASSES), cm)
    np.testing.assert_allclose(ev.confusion(t, p, CLASSES, normalize=True).sum(axis=1), 1.0)
    m = ev.classification_metrics(t, p, CLASSES)
    assert m["accuracy"] == pytest.approx(14 / 20)
    assert m["accuracy"] == pytest.approx(skm.accuracy_score(t, p))
    for avg in ("weighted", "macro"):
        assert m[f"precision_{avg}"] == pytest.approx(skm.precision_score(t, p, average=avg))
        assert m[f"recall_{avg}"] == pytest.approx(skm.recall_score(t, p, average=avg))
        assert m[f"f1_{avg}"] == pytest.approx(skm.f1_score(t, p, average=avg))
    rep = ev.per_class_report(t, p, CLASSES)
    np.testing.assert_allclose(rep["f1"], skm.f1_score(t, p, average=None, labels=CLASSES))
    assert rep.loc["sad", "precision"] == pytest.approx(3 / 5)
    assert rep["support"].tolist() == [8, 4, 8]


def test_metrics_when_a_class_is_never_predicted():
    t = np.array(["happy", "sad", "surprise", "sad", "happy", "surprise"])
    p = np.array(["happy", "happy", "surprise", "happy", "happy", "happy"])
    m = ev.classification_metrics(t, p, CLASSES)
    for avg in ("weighted", "macro"):
        assert m[f"precision_{avg}"] == pytest.approx(skm.precision_score(t, p, average=avg, zero_division=0))
        assert m[f"f1_{avg}"] == pytest.approx(skm.f1_score(t, p, average=avg, zero_division=0))


def test_auc_matches_sklearn_ovr_macro():
    rng = np.random.default_rng(0)
    t = rng.choice(CLASSES, 60)
    proba = rng.dirichlet(np.ones(3), 60)
    proba[np.arange(60), [CLASSES.index(c) for c in t]] += 0.3
    proba /= proba.sum(1, keepdims=True)
    expected = skm.roc_auc_score([CLASSES.index(c) for c in t], proba, multi_class="ovr", average="macro")
    assert ev.auc_ovr(t, proba, CLASSES) == pytest.approx(expected)
    curves = ev.roc_curves(t, proba, CLASSES)
    assert set(curves) == set(CLASSES)


def test_bootstrap_interval_hand_checkable():
    t = np.array(["happy"] * 100)
    assert ev.bootstrap_ci(t, t, CLASSES, "accuracy", 200) == (1.0, 1.0)
    # 80 of 100 right: the binomial standard error is 0.04, so the 95 % interval is about 0.80 ± 0.08
    p = t.copy()
    p[:20] = "sad"
    lo, hi = ev.bootstrap_ci(t, p, CLASSES, "accuracy", 2000, seed=1)
    assert lo == pytest.approx(0.72, abs=0.025) and hi == pytest.approx(0.88, abs=0.025)
    # clustered errors: resampling whole speakers widens the interval
    groups = np.repeat(np.arange(10), 10)  # speaker 0 and 1 are all wrong
    glo, ghi = ev.bootstrap_ci(t, p, CLASSES, "accuracy", 2000, seed=1, groups=groups)
    assert ghi - glo > 1.5 * (hi - lo)


def test_mcnemar_exact_and_chi2_hand_values():
    t = np.array(["happy"] * 40)
    # b = 8 (A right, B wrong), c = 2 (A wrong, B right): exact p = 2 * P(X <= 2 | 10, 1/2) = 112/1024
    a = np.array(["happy"] * 8 + ["sad"] * 2 + ["happy"] * 30)
    b = np.array(["sad"] * 8 + ["happy"] * 2 + ["happy"] * 30)
    r = ev.mcnemar(t, a, b)
    assert (r["b"], r["c"], r["method"]) == (8, 2, "exact")
    assert r["p_value"] == pytest.approx(112 / 1024)
    # b = 30, c = 10: chi2 = (|30 - 10| - 1)^2 / 40 = 9.025, p = 0.002663
    t = np.array(["happy"] * 40)
    a = np.array(["happy"] * 30 + ["sad"] * 10)
    b = np.array(["sad"] * 30 + ["happy"] * 10)
    r = ev.mcnemar(t, a, b)
    assert r["method"] == "chi2" and r["statistic"] == pytest.approx(9.025)
    assert r["p_value"] == pytest.approx(0.0026633, rel=1e-3)
    assert ev.mcnemar(t, a, a)["p_value"] == 1.0


def prediction_frame():
    rng = np.random.default_rng(2)
    rows = []
    for s, acc in (("fold0", 0.9), ("fold1", 0.5)):
        for i in range(20):
            y = CLASSES[i % 3]
            pred = y if i < acc * 20 else CLASSES[(i + 1) % 3]
            pr = rng.dirichlet(np.ones(3))
            pr[CLASSES.index(pred)] += 1
            pr /= pr.sum()
            rows.append({"clip_id": f"{s}_{i}", "split": s, "y_true": y, "y_pred": pred,
                         **{f"p_{c}": pr[j] for j, c in enumerate(CLASSES)}})
    return pd.DataFrame(rows)


def test_summarize_model_folds_and_pooled(tmp_path):
    df = prediction_frame()
    path = ev.save_predictions(tmp_path / "predictions" / "m.csv", [df[df.split == "fold0"], df[df.split == "fold1"]])
    back = ev.load_predictions(path, CLASSES)
    s = ev.summarize_model(back, CLASSES, bootstrap=100, seed=0)
    for k in ("accuracy", "accuracy_std", "precision_weighted", "recall_weighted", "f1_weighted", "f1_macro",
              "f1_macro_std", "auc_ovr", "confusion", "ci95"):
        assert k in s
    assert s["accuracy"] == pytest.approx(0.7)  # mean of 0.9 and 0.5
    assert s["accuracy_std"] == pytest.approx(0.2)  # population std
    assert s["recall_weighted"] == pytest.approx(skm.recall_score(df.y_true, df.y_pred, average="weighted"))
    assert np.sum(s["confusion"]) == 40
    lo, hi = s["ci95"]["accuracy"]
    assert lo <= 0.7 <= hi
    assert ev.mean_std([0.5]) == (0.5, 0.0)
    with pytest.raises(ValueError, match="missing columns"):
        pd.DataFrame({"clip_id": ["a"]}).to_csv(tmp_path / "bad.csv", index=False)
        ev.load_predictions(tmp_path / "bad.csv")
    mc = ev.pairwise_mcnemar({"a": df, "b": df.assign(y_pred=df.y_true)})
    assert mc.loc[0, "b"] == 0 and mc.loc[0, "c"] == int((df.y_pred != df.y_true).sum())


def test_paper_table_consistent_with_paper2_confusion():
    m = ev.metrics_from_confusion(np.array(papers.PAPER2_CONFUSION_BILSTM_SA))
    assert m["accuracy"] == pytest.approx(papers.PAPER_TABLE1["bilstm_sa"]["accuracy"], abs=5e-6)
    assert m["f1_weighted"] == pytest.approx(papers.PAPER_TABLE1["bilstm_sa"]["f1_weighted"], abs=5e-4)


def test_plots_draw():
    df = prediction_frame()
    s = {"bilstm_sa": ev.summarize_model(df, CLASSES, bootstrap=0)}
    cm = np.asarray(s["bilstm_sa"]["confusion"])
    ax = plots.plot_confusion(cm, CLASSES, "t", normalize=True)
    rows = cm / cm.sum(axis=1, keepdims=True)
    assert [t.get_text() for t in ax.texts] == [f"{v:.2f}" for v in rows.ravel()]  # row by row
    assert [t.get_text() for t in ax.get_yticklabels()] == CLASSES
    ax = plots.plot_confusion(cm, CLASSES, "t")
    assert [t.get_text() for t in ax.texts] == [str(int(v)) for v in cm.ravel()]
    ax = plots.plot_roc(df.y_true, ev.proba_matrix(df, CLASSES), CLASSES, "roc")
    assert len(ax.lines) == 4
    two = {"bilstm_sa": s["bilstm_sa"], "cnn": {k: v / 2 for k, v in s["bilstm_sa"].items() if k in ev.PAPER_METRICS}}
    ax = plots.plot_metric_bars(two, reference=papers.PAPER_TABLE1, errors={"bilstm_sa": {"accuracy": 0.05}})
    bars = [c for c in ax.containers if type(c).__name__ == "BarContainer"]
    assert [[r.get_height() for r in c] for c in bars] == [[m[k] for k in ev.PAPER_METRICS] for m in two.values()]
    # the intervals and the papers' ticks sit on the bars' centres
    (err,) = [c for c in ax.containers if type(c).__name__ == "ErrorbarContainer"]
    xs = list(err.lines[2][0].get_segments()[0][:, 0])
    assert xs == pytest.approx([bars[0][0].get_x() + bars[0][0].get_width() / 2] * 2)
    assert list(err.lines[2][0].get_segments()[0][:, 1]) == pytest.approx([two["bilstm_sa"]["accuracy"] - 0.05, two["bilstm_sa"]["accuracy"] + 0.05])
    ticks = np.asarray(ax.collections[-1].get_offsets())  # the cnn's papers' values
    assert list(ticks[:, 0]) == pytest.approx([r.get_x() + r.get_width() / 2 for r in bars[1]])
    assert list(ticks[:, 1]) == pytest.approx([papers.PAPER_TABLE1["cnn"][k] for k in ev.PAPER_METRICS])
    axes = plots.plot_history({"m": {"history": {"loss": [1, 0.5], "val_loss": [1, 0.8], "accuracy": [0.3, 0.6],
                                              "val_accuracy": [0.3, 0.4]}}})
    assert len(axes[0].lines) == 2


# ----------------------------------------------------------------------------------------------
# logreg_per_split: the one linear yardstick
# ----------------------------------------------------------------------------------------------
def _two_class_clips(seed=0, n=40):
    rng = np.random.default_rng(seed)
    ids = [f"c{i}" for i in range(n)]
    y = {c: ("happy" if i % 2 else "sad") for i, c in enumerate(ids)}
    X = np.array([[1.0 if y[c] == "happy" else -1.0, 0.0] for c in ids]) + 0.1 * rng.normal(size=(n, 2))
    return ids, y, X, rng


def test_logreg_per_split_scores_test_clips_only_and_skips_empty_test_parts():
    ids, y, X, rng = _two_class_clips()
    splits = [{"name": "fold0", "train": ids[:30], "test": ids[30:]},
              {"name": "final", "train": ids, "test": []}]
    df = ev.logreg_per_split((ids, X), y, splits)
    assert list(df["split"]) == ["fold0"] and df["n_train"].iloc[0] == 30 and df["n_test"].iloc[0] == 10
    assert df["f1_macro"].iloc[0] == 1.0 and df["accuracy"].iloc[0] == 1.0
    # label-permuted features score at chance, not 1.0
    Xp = X.copy()
    Xp[:, 0] = rng.permutation(Xp[:, 0])
    assert ev.logreg_per_split((ids, Xp), y, splits)["f1_macro"].iloc[0] < 1.0
    # features per split: each split reads its own (clip_ids, X)
    per_split = {"fold0": (ids[::-1], Xp[::-1]), "final": (ids, X)}
    assert ev.logreg_per_split(per_split, y, splits)["f1_macro"].iloc[0] < 1.0


def test_logreg_per_split_with_classes_counts_absent_classes_and_returns_probabilities():
    ids, y, X, _ = _two_class_clips()
    splits = [{"name": "fold0", "train": ids[:30], "test": ids[30:]}]
    classes = ["happy", "sad", "surprise"]             # surprise: no clip at all
    scores, preds = ev.logreg_per_split((ids, X), y, splits, classes=classes, predictions=True)
    assert scores["f1_macro"].iloc[0] == pytest.approx(2 / 3)   # (1 + 1 + 0) / 3
    assert list(preds.columns) == ["clip_id", "split", "y_true", "y_pred", "p_happy", "p_sad", "p_surprise"]
    assert list(preds["clip_id"]) == ids[30:] and set(preds["split"]) == {"fold0"}
    assert (preds["y_true"] == preds["y_pred"]).all()
    P = ev.proba_matrix(preds, classes)
    np.testing.assert_allclose(P.sum(axis=1), 1.0)
    assert (P[:, 2] == 0).all()                        # never seen in training
    # without classes: macro-F1 over the classes present
    assert ev.logreg_per_split((ids, X), y, splits)["f1_macro"].iloc[0] == 1.0


def test_logreg_per_split_matches_a_direct_fit():
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import f1_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(3)
    ids = [f"c{i}" for i in range(60)]
    y = {c: ["happy", "sad", "angry"][i % 3] for i, c in enumerate(ids)}
    X = rng.normal(size=(60, 5)) + np.array([[["happy", "sad", "angry"].index(y[c])] * 5 for c in ids]) * 0.4
    split = {"name": "fold0", "train": ids[:45], "test": ids[45:]}
    clf = make_pipeline(StandardScaler(), LogisticRegression(C=0.5, max_iter=50)).fit(X[:45], [y[c] for c in ids[:45]])
    want = f1_score([y[c] for c in ids[45:]], clf.predict(X[45:]), average="macro")
    got = ev.logreg_per_split((ids, X), y, [split], C=0.5, max_iter=50)["f1_macro"].iloc[0]
    assert got == want
