"""Faces of people outside the run (``aux_faces``): which subjects, how their rows are made and
normalised, and that only the face half of late fusion trains on them."""
from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest
from PIL import Image

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from mer_helpers.core import fileio  # noqa: E402
from mer_helpers.methods import aux_faces, networks  # noqa: E402
from mer_helpers.methods import models as M  # noqa: E402
from mer_helpers.methods import training as T  # noqa: E402
from mer_helpers.stages import classifiers, feature_selection, resnet_features  # noqa: E402

FOLDERS = {"Happiness": "happy", "Sadness": "sad", "Surprise": "surprise", "Anger": "angry"}


def oulu_like(root, subjects=("P001", "P002", "P003", "P004"), n_images=2):
    """An Oulu-CASIA layout ``P###/<Emotion>/NNN.jpeg`` of small grey-gradient images."""
    for k, sid in enumerate(subjects):
        for e, folder in enumerate(FOLDERS):
            d = root / sid / folder
            d.mkdir(parents=True)
            for i in range(n_images):
                a = np.full((70, 50, 3), 40 * e + 10 * k + i, dtype=np.uint8)
                Image.fromarray(a).save(d / f"{i + 1:03d}.jpeg")
    return root


def test_auxiliary_samples_leave_out_the_run_subjects_and_other_emotions(tmp_path):
    root = oulu_like(tmp_path / "oulu")
    s = aux_faces.auxiliary_samples(root, exclude=["oulu_P002", "oulu_P004"], classes=["happy", "sad", "surprise"])
    assert [(x.subject, x.label) for x in s] == [(sub, lab) for sub in ("oulu_P001", "oulu_P003")
                                                 for lab in ("happy", "sad", "surprise")]
    assert all(len(x.paths) == 2 and x.paths[0].endswith("001.jpeg") for x in s)
    frames = aux_faces.sample_frames(s[0], frame_size=32, face_detect=False)
    assert frames.shape == (2, 32, 32, 3) and frames.dtype == np.uint8
    # letterboxed into the paired clips' 3:4 frame, then the centre square: the image fills it
    assert frames[0, 16, 16, 0] == 40 * 0 + 10 * 0 + 0 and frames[1, 16, 16, 0] == 1


def test_stage_04_writes_one_row_per_unpaired_subject_and_emotion(tmp_path):
    root = oulu_like(tmp_path / "data" / "oulu")
    labels = pd.DataFrame({"clip_id": ["c1", "c2"], "label": ["happy", "sad"], "speaker": ["ravdess_01"] * 2,
                           "subject": ["oulu_P001"] * 2})
    made = {"summary_mode": "all", "frame_size": 32, "face_detect": False, "face_only": False}
    A = fileio.artifacts_dir(tmp_path / "run")
    info = resnet_features.write_aux_faces(A, "unpaired", "paired", root.parent, "oulu", labels, made,
                                           "mobilenet_v2", "none", None)
    assert info == {"aux_faces": "unpaired", "n_samples": 6, "n_subjects": 3, "subjects_in_run": 0}
    ids, X, cols = fileio.load_features(A / "visual" / "aux" / "features.npz")
    table = pd.read_csv(A / "visual" / "aux" / "samples.csv")
    assert list(ids) == table.sample_id.tolist() and X.shape == (6, len(cols)) and "oulu_P001" not in set(table.subject)
    assert set(table.label) == {"happy", "sad"} and (table.n_images == 2).all()
    # not asked, or not a paired run: nothing written, stale files gone, and the reason said
    assert resnet_features.write_aux_faces(A, "none", "paired", root.parent, "oulu", labels, made, "mobilenet_v2",
                                           "none", None)["why"] == "not asked"
    assert not (A / "visual" / "aux" / "features.npz").exists()
    assert "not paired" in resnet_features.write_aux_faces(A, "unpaired", "sample", root.parent, "oulu", labels, made,
                                                           "mobilenet_v2", "none", None)["why"]
    with pytest.raises(ValueError, match="summary_mode 'all'"):
        resnet_features.write_aux_faces(A, "unpaired", "paired", root.parent, "oulu", labels,
                                        {**made, "summary_mode": "kmeans"}, "mobilenet_v2", "none", None)


def test_stage_05_normalises_each_auxiliary_subject_with_its_own_rows(tmp_path):
    A = fileio.artifacts_dir(tmp_path)
    rng = np.random.default_rng(0)
    cols = [f"visual:fer_xception_block:{i}" for i in range(3)]
    table = pd.DataFrame({"sample_id": [f"s{i}" for i in range(6)], "subject": ["a"] * 3 + ["b"] * 3,
                          "label": ["happy", "sad", "surprise"] * 2, "n_images": 3})
    X = rng.normal(size=(6, 3)) + np.repeat([[5.0], [-5.0]], 3, axis=0)
    fileio.save_features(A / "visual" / "aux" / "features.npz", table.sample_id, X, cols)
    fileio.atomic_write_text(A / "visual" / "aux" / "samples.csv", table.to_csv(index=False))
    fused = ["audio:mfcc_mean:0"] + cols
    assert feature_selection.write_aux_faces(A, fused, "center") == 6
    _, Xc, _ = fileio.load_features(A / "fused" / "aux" / "features.npz")
    np.testing.assert_allclose(Xc[:3].mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(Xc[3:].mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(fileio.load_features(A / "fused" / "aux" / "plain.npz")[1], X, rtol=1e-6)
    # the same rows with their labels shuffled within a subject: the same normalised rows
    table.assign(label=table.label[::-1].to_numpy()).to_csv(A / "visual" / "aux" / "samples.csv", index=False)
    feature_selection.write_aux_faces(A, fused, "center")
    np.testing.assert_allclose(fileio.load_features(A / "fused" / "aux" / "features.npz")[1], Xc)
    with pytest.raises(ValueError, match="visual columns"):
        feature_selection.write_aux_faces(A, fused[:-1], "center")
    (A / "visual" / "aux" / "features.npz").unlink()
    assert feature_selection.write_aux_faces(A, fused, "center") == 0
    assert not (A / "fused" / "aux" / "features.npz").exists()  # stale rows never reach a later run


def _late_task(rng, n=48, m=30):
    cols = [f"audio:mfcc_mean:{i}" for i in range(4)] + [f"visual:fer_xception_block:{i}" for i in range(4)]
    y = np.array(["a", "b", "c"])[np.arange(n) % 3]
    X = rng.normal(size=(n, len(cols)))
    X[:, 0] += 2 * (np.arange(n) % 3)
    ye = np.array(["a", "b", "c"])[np.arange(m) % 3]
    Xe = rng.normal(size=(m, 4))
    Xe[:, 1] += 3 * (np.arange(m) % 3)  # the auxiliary faces carry the class in column 1
    return cols, X, y, np.repeat(np.arange(8), n // 8).astype(str), Xe, ye, np.repeat(np.arange(6), m // 6).astype(str)


@pytest.mark.slow  # trains late-fusion pairs
def test_only_the_face_half_of_late_fusion_trains_on_the_auxiliary_rows():
    cols, X, y, g, Xe, ye, ge = _late_task(np.random.default_rng(0))
    kw = dict(model_names=["bilstm_sa"], columns=cols, steps=2, fusion="late", epochs=2, units=8, heads=2, seed=3)
    plain = M.SequenceClassifier(**kw).fit(X, y, groups=g)
    extra = M.SequenceClassifier(**kw).fit(X, y, groups=g, visual_extra=(Xe, ye, ge))
    again = M.SequenceClassifier(**kw).fit(X, y, groups=g, visual_extra=(Xe, ye, ge))
    halves, halves0 = extra.records_["bilstm_sa"]["late_fusion"], plain.records_["bilstm_sa"]["late_fusion"]
    assert halves["audio"]["n_fit"] + halves["audio"]["n_val"] == len(X)
    assert halves["visual"]["n_fit"] + halves["visual"]["n_val"] == len(X) + len(Xe)
    assert halves0["visual"]["n_fit"] + halves0["visual"]["n_val"] == len(X)
    # the sequencer (scaler) is the training clips' only; the audio half is the same network
    np.testing.assert_allclose(extra.sequencer_.visual_.mean_, plain.sequencer_.visual_.mean_)
    Xa, Xv = extra.sequencer_.transform(X)
    np.testing.assert_allclose(networks.predict_proba(extra.networks_["bilstm_sa"].get_layer("bilstm_sa_audio"), Xa),
                               networks.predict_proba(plain.networks_["bilstm_sa"].get_layer("bilstm_sa_audio"), Xa),
                               atol=1e-6)
    assert not np.allclose(extra.predict_proba(X), plain.predict_proba(X))
    np.testing.assert_allclose(extra.predict_proba(X), again.predict_proba(X), atol=1e-6)


def test_early_fusion_and_face_models_get_the_rows_with_the_voice_at_its_training_mean():
    cols, X, y, g, Xe, ye, ge = _late_task(np.random.default_rng(2))
    kw = dict(model_names=["cnn"], classes=["a", "b", "c"], steps=2, epochs=1, units=8)
    plan = M.SequenceClassifier(columns=cols, **kw)._plan_fit(X, y, g, (Xe, ye, ge))
    _, Xs, yy, fit_kw = plan["specs"][0]
    assert Xs.shape == (len(X) + len(Xe), 2, 4) and yy.tolist()[len(X):] == [{"a": 0, "b": 1, "c": 2}[v] for v in ye]
    np.testing.assert_allclose(Xs[len(X):, 0], 0, atol=1e-9)  # step 0 = the 4 audio columns, scaled: no voice
    np.testing.assert_allclose(Xs[len(X):, 1], plan["sequencer"].transform(np.hstack([X[:len(Xe), :4], Xe]))[:, 1])
    assert list(fit_kw["groups"][len(X):]) == list(ge) and len(fit_kw["groups"]) == len(Xs)
    np.testing.assert_allclose(plan["sequencer"].mean_, X.mean(0))  # the scaler: the clips only
    # a model of faces alone takes the rows as they are
    faces = M.SequenceClassifier(columns=cols[4:], **kw)._plan_fit(X[:, 4:], y, g, (Xe, ye, None))
    assert faces["specs"][0][1].shape[0] == len(X) + len(Xe)
    assert faces["specs"][0][3]["groups"][-1] == f"aux:{len(Xe) - 1}"  # no subject given: one group per row


def test_auxiliary_rows_are_refused_where_no_model_reads_faces():
    cols, X, y, g, Xe, ye, ge = _late_task(np.random.default_rng(1))
    kw = dict(model_names=["cnn"], steps=2, epochs=1, units=8)
    with pytest.raises(ValueError, match="needs visual columns"):
        M.SequenceClassifier(columns=cols[:4], **kw).fit(X[:, :4], y, groups=g, visual_extra=(Xe, ye, ge))
    with pytest.raises(ValueError, match="visual columns"):
        M.SequenceClassifier(columns=cols, **kw, fusion="late").fit(X, y, visual_extra=(Xe[:, :3], ye, ge))
    with pytest.raises(ValueError, match="not in the classes"):
        M.SequenceClassifier(columns=cols, **kw, fusion="late").fit(X, y, visual_extra=(Xe, np.where(ye == "a", "z", ye), ge))
    with pytest.raises(ValueError, match="needs late fusion"):
        T.fit_networks([("cnn", np.zeros((6, 2, 2)), np.arange(6) % 3,
                         {"visual_extra": (np.zeros((3, 2, 2)), np.arange(3), None)})])


def test_inner_candidates_try_the_run_columns_without_the_outside_faces_too():
    common = {"steps": 2, "aux_faces": True, "epochs": 1}
    c = classifiers.inner_candidates(common, "all", "early")
    assert len(c) == 6 and sum(k.endswith("(this run)") for k in c) == 1
    assert c["all columns, early fusion + faces outside the run (this run)"]["aux_faces"] is True
    assert c["all columns, late fusion"]["aux_faces"] is False and "selected columns, late fusion" not in c
    assert all(v["ensemble"] == 1 and v["seq_steps"] == 2 for v in c.values())
    plain = classifiers.inner_candidates({**common, "aux_faces": False}, "selected", "late")
    assert sorted(plain) == ["all columns, early fusion", "all columns, late fusion", "selected columns, early fusion",
                             "selected columns, late fusion (this run)"]
