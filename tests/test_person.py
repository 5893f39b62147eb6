"""mer_helpers.methods.person: per-person normalisation (the arithmetic, no label read, the inner-speaker
choice) and notebook 05's fused files with and without it."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mer_helpers.core import fileio
from mer_helpers.methods import person, tuning
from mer_helpers.stages import feature_selection


def _persons_data(rng, n_persons=6, per=12, d=5, offset=4.0):
    """Rows of ``n_persons`` people: a person offset (who they are) plus a class signal."""
    persons = np.repeat([f"p{i}" for i in range(n_persons)], per)
    y = np.tile(np.arange(3), n_persons * per // 3)
    X = rng.normal(size=(len(persons), d)) + rng.normal(scale=offset, size=(n_persons, d)).repeat(per, axis=0)
    X[:, 0] += 1.5 * y  # the emotion
    return X, persons, y


def test_normalize_center_and_zscore_per_column():
    rng = np.random.default_rng(0)
    X, persons, _ = _persons_data(rng)
    X[persons == "p1", 3] = 7.0  # constant for one person: centred, never divided by 0
    modes = ["zscore", "center", "none", "zscore", "center"]
    Z = person.normalize(X, persons, modes)
    for p in np.unique(persons):
        rows = Z[persons == p]
        np.testing.assert_allclose(rows[:, [0, 1, 3, 4]].mean(axis=0), 0, atol=1e-9)
        np.testing.assert_allclose(rows[:, 0].std(), 1, atol=1e-9)
        # centring keeps the person's spread
        np.testing.assert_allclose(rows[:, 1].std(), X[persons == p, 1].std(), atol=1e-9)
    np.testing.assert_array_equal(Z[:, 2], X[:, 2])
    np.testing.assert_array_equal(Z[persons == "p1", 3], 0.0)
    assert np.isfinite(Z).all()


def test_normalize_keeps_float32_and_checks_modes():
    X = np.arange(12, dtype=np.float32).reshape(4, 3)
    Z = person.normalize(X, ["a", "a", "b", "b"], ["center"] * 3)
    assert Z.dtype == np.float32
    np.testing.assert_allclose(Z, [[-1.5] * 3, [1.5] * 3, [-1.5] * 3, [1.5] * 3])
    with pytest.raises(ValueError, match="unknown mode"):
        person.normalize(X, ["a"] * 4, ["center", "scale", "none"])
    with pytest.raises(ValueError, match="3 columns"):
        person.normalize(X, ["a"] * 4, ["center"])
    with pytest.raises(ValueError, match="person_norm_visual"):
        person.column_modes(["audio:x"], "none", "z")


def test_normalize_fused_by_modality_and_reference_subset():
    cols = ["audio:m:0", "audio:m:1", "visual:b:0"]
    X = np.array([[1.0, 10, 100], [3, 30, 300], [5, 50, 500], [7, 70, 700]])
    persons = ["a", "a", "b", "b"]
    Z = person.normalize_fused(X, cols, persons, audio="zscore", visual="center")
    np.testing.assert_allclose(Z[:, 0], [-1, 1, -1, 1])
    np.testing.assert_allclose(Z[:, 2], [-100, 100, -100, 100])
    assert not person.is_active("none", "none")
    np.testing.assert_array_equal(person.normalize_fused(X, cols, persons), X)
    # a reference of one clip per person: that clip's values are the mean
    mask = person.subset_reference(persons, lambda idx, rng: idx[:1])
    stats = person.reference_statistics(X, persons, mask)
    Zr = person.normalize_fused(X, cols, persons, visual="center", stats=stats)
    np.testing.assert_allclose(Zr[:, 2], [0, 200, 0, 200])


def _write_split(artifacts, name, ids, Xa, Xv):
    fileio.save_features(artifacts / "audio" / name / "features.npz", ids, Xa,
                     [f"audio:m:{i}" for i in range(Xa.shape[1])])
    fileio.save_features(artifacts / "visual" / name / "features.npz", ids, Xv,
                     [f"visual:b:{i}" for i in range(Xv.shape[1])])


def test_fused_features_read_no_label(tmp_path):
    """Shuffling the labels within each person (or replacing them) leaves the features unchanged."""
    rng = np.random.default_rng(1)
    X, persons, y = _persons_data(rng, d=6)
    ids = [f"c{i:03d}" for i in range(len(X))]
    labels = pd.DataFrame({"clip_id": ids, "label": np.array(["happy", "sad", "surprise"])[y], "speaker": persons})
    _write_split(tmp_path, "fold0", ids, X[:, :3], X[:, 3:])
    _, Z, cols = feature_selection.write_fused_split(tmp_path, "fold0", labels, "zscore", "center")
    shuffled = labels.copy()
    shuffled["label"] = shuffled.groupby("speaker")["label"].transform(lambda s: s.sample(frac=1, random_state=3).to_numpy())
    assert (shuffled["label"] != labels["label"]).any()
    _, Z2, _ = feature_selection.write_fused_split(tmp_path, "fold0", shuffled, "zscore", "center")
    _, Z3, _ = feature_selection.write_fused_split(tmp_path, "fold0", labels.assign(label="happy"), "zscore", "center")
    np.testing.assert_array_equal(Z, Z2)
    np.testing.assert_array_equal(Z, Z3)
    # the files: normalised features.npz, plain plain.npz
    _, Zf, _ = fileio.load_features(tmp_path / "fused" / "fold0" / "features.npz")
    _, P, _ = fileio.load_features(tmp_path / "fused" / "fold0" / "plain.npz")
    np.testing.assert_array_equal(Zf, Z)
    np.testing.assert_allclose(P, X.astype(np.float32))
    assert not np.allclose(Zf, P)
    # without normalisation: no plain.npz (an old one is removed), features.npz is the plain fusion
    feature_selection.write_fused_split(tmp_path, "fold0", labels)
    assert not (tmp_path / "fused" / "fold0" / "plain.npz").exists()
    np.testing.assert_allclose(fileio.load_features(tmp_path / "fused" / "fold0" / "features.npz")[1], X.astype(np.float32))


def test_inner_table_prefers_normalisation_when_persons_dominate():
    """People far apart and an emotion signal inside each: on held-out inner speakers the
    normalised columns win; the modality without any person offset gains nothing."""
    rng = np.random.default_rng(2)
    X, persons, y = _persons_data(rng, n_persons=15, per=12, d=4, offset=6.0)
    Xv = rng.normal(size=(len(X), 3))
    Xv[:, 0] += 1.5 * y  # no person offset in the visual columns
    ids = np.array([f"c{i:03d}" for i in range(len(X))])
    labels = pd.DataFrame({"clip_id": ids, "label": np.array(["happy", "sad", "surprise"])[y], "speaker": persons})
    cols = [f"audio:m:{i}" for i in range(4)] + [f"visual:b:{i}" for i in range(3)]
    split = {"name": "fold0", "train": list(ids[persons != "p0"]), "test": list(ids[persons == "p0"])}
    table = tuning.inner_person_norm_table({"fold0": (ids, np.hstack([X, Xv]), cols)}, labels, [split])
    f1 = table.set_index("candidate")["f1_macro"]
    assert set(f1.index) == {f"{m} {n}" for m in ("audio", "visual") for n in person.PERSON_NORM}
    assert f1["audio zscore"] > f1["audio none"] + 0.2
    assert f1["audio center"] > f1["audio none"] + 0.2
    assert abs(f1["visual center"] - f1["visual none"]) < 0.15
    best = tuning.best_person_norm(table)
    assert best["audio"] in ("center", "zscore")
    assert tuning.best_person_norm(table.iloc[:0]) == {}
    # "inner" takes the table's mode; a run without an inner table falls back, saying which
    assert person.resolve_inner("inner", "none", best) == (best["audio"], "none")
    assert person.resolve_inner("inner", "inner", {}) == (person.INNER_FALLBACK["audio"],
                                                         person.INNER_FALLBACK["visual"])
    assert person.resolve_inner("center", "zscore", best) == ("center", "zscore")  # a mode asked for stays
    with pytest.raises(ValueError, match="person_norm_visual must be one of none, center, zscore, inner"):
        person.resolve_inner("inner", "whiten", best)


def test_best_person_norm_breaks_a_tie_with_the_usual_mode():
    rows = [("audio none", 0.5), ("audio center", 0.8), ("audio zscore", 0.7),
            ("visual none", 0.99), ("visual center", 0.99), ("visual zscore", 0.99)]
    table = pd.DataFrame([{"split": "fold0", "candidate": c, "f1_macro": f} for c, f in rows])
    assert tuning.best_person_norm(table) == {"audio": "center", "visual": person.INNER_FALLBACK["visual"]}
    no_usual = table[table.candidate != "visual center"]
    assert tuning.best_person_norm(no_usual)["visual"] == "none"  # the first tied mode when the usual one is out
