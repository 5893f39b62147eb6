"""mer_helpers.predict.emotion_model.EmotionModel: the trained model as one object, fitted on the committed
sample (tiny settings: the object and its round trip are under test, not the accuracy). The
tests that fit are marked ``slow``."""
from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("keras")

from sklearn.pipeline import FeatureUnion, Pipeline  # noqa: E402

from mer_helpers.core import fileio  # noqa: E402
from mer_helpers.methods import models as M  # noqa: E402
from mer_helpers.predict import clips as P  # noqa: E402
from mer_helpers.methods.audio_featurizer import AudioFeaturizer  # noqa: E402
from mer_helpers.predict.emotion_model import EmotionModel  # noqa: E402
from mer_helpers.methods.selection import ZebraFeatureSelector  # noqa: E402
from mer_helpers.methods.summary import SummaryImages  # noqa: E402
from mer_helpers.methods.visual import VisualFeaturizer  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "data" / "sample"


def _sample(n_per_speaker: int = 3):
    lab = pd.read_csv(SAMPLE / "labels.csv", dtype=str)
    lab = lab.groupby("speaker", sort=True).head(n_per_speaker).reset_index(drop=True)
    paths = [str(SAMPLE / p) for p in lab["path"]]
    return paths, lab["label"].to_numpy(), lab["speaker"].to_numpy()


def _tiny_model(selector="zebra") -> EmotionModel:
    return EmotionModel(
        audio=AudioFeaturizer(epochs=2, batch_size=64, progress=False, random_state=0),
        visual=VisualFeaturizer(SummaryImages("average", frame_size=32, progress=False), frame_interval=10,
                                frame_size=32, face_detect=False, backbone="mobilenet_v2",
                                backbone_weights="none", seed=0),
        selector=(ZebraFeatureSelector(population=4, iterations=2, inner_cv=2, random_state=0)
                  if selector == "zebra" else selector),
        classifier=M.SequenceClassifier(model_names=["bilstm_sa", "cnn"], classes=["happy", "sad", "surprise"],
                                        steps=3, epochs=1, units=4, heads=2, validation_split=0.0, seed=0))


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    if len(list((SAMPLE / "clips").glob("*.mp4"))) < 6:
        pytest.skip("data/sample/clips holds too few clips")
    before = os.environ.get("MER_CACHE_DIR")
    os.environ["MER_CACHE_DIR"] = str(tmp_path_factory.mktemp("cache"))
    paths, y, groups = _sample()
    yield _tiny_model().fit(paths, y, groups=groups), paths, y
    if before is None:
        os.environ.pop("MER_CACHE_DIR", None)
    else:
        os.environ["MER_CACHE_DIR"] = before


@pytest.mark.slow  # about 45 s on two shared cores (MFCC, frames, backbone, Zebra, Keras)
def test_fit_builds_one_sklearn_pipeline(fitted):
    model, paths, y = fitted
    assert isinstance(model.pipeline_, Pipeline) and [n for n, _ in model.pipeline_.steps] == \
        ["features", "select", "classify"]
    assert isinstance(model.pipeline_["features"], FeatureUnion)
    assert isinstance(model.pipeline_["select"], ZebraFeatureSelector)
    assert model.classes_.tolist() == ["happy", "sad", "surprise"]
    p = model.predict_proba(paths)
    assert p.shape == (len(paths), 3) and np.allclose(p.sum(axis=1), 1, atol=1e-5)
    assert set(model.predict(paths)) <= set(model.classes_)
    # the pipeline's steps are the model: features -> selected columns -> the main model
    F = model.pipeline_["features"].transform(paths)
    assert F.shape[1] == len(model.columns_) and model.columns_[0].startswith("audio:")
    Z = model.pipeline_["select"].transform(F)
    np.testing.assert_array_equal(model.pipeline_["classify"].predict_proba(Z), p)


@pytest.mark.slow  # about 45 s on two shared cores (MFCC, frames, backbone, Zebra, Keras)
def test_save_load_round_trip_gives_identical_predictions(fitted, tmp_path):
    model, paths, _ = fitted
    model.save(tmp_path / "model")
    meta = fileio.read_json(tmp_path / "model" / "model.json")
    assert meta["format"] == "mer-emotion-model" and meta["select"] == "zebra"
    for part in ("audio", "visual", "selection/selection.json", "classifiers", "bundle.json"):
        assert (tmp_path / "model" / part).exists(), part
    back = EmotionModel.load(tmp_path / "model")
    np.testing.assert_array_equal(back.predict_proba(paths), model.predict_proba(paths))
    kept, probs, _, modalities = back.predict_proba_all(paths)
    _, probs0, _, _ = model.predict_proba_all(paths)
    assert set(modalities) == {"audio+visual"}  # no branches: both modalities, always
    assert kept == list(range(len(paths)))
    for name in ("bilstm_sa", "cnn"):
        np.testing.assert_array_equal(probs[name], probs0[name])
    # mer predict is the same object: same numbers
    df = P.predict_clips(tmp_path / "model", paths)
    np.testing.assert_array_equal(df[["p_happy", "p_sad", "p_surprise"]].to_numpy(), model.predict_proba(paths))
    assert df.columns[:3].tolist() == ["clip_id", "path", "y_pred"] and "cnn:p_sad" in df.columns


@pytest.mark.slow  # about 45 s on two shared cores (MFCC, frames, backbone, Zebra, Keras)
def test_passthrough_model_round_trip(fitted, tmp_path):
    model, paths, y = fitted
    clf = model.pipeline_["classify"]
    # the classifier of a passthrough model reads every fused column
    every = M.SequenceClassifier(model_names=["cnn"], classes=["happy", "sad", "surprise"], steps=3, epochs=1,
                                 validation_split=0.0, seed=0, columns=model.columns_)
    F = model.pipeline_["features"].transform(paths)
    every.fit(F, y)
    audio, visual = (s.featurizer_ for _, s in model.pipeline_["features"].transformer_list)
    whole = EmotionModel.from_parts(audio, visual, every, "passthrough")
    whole.save(tmp_path / "m")
    back = EmotionModel.load(tmp_path / "m")
    assert back.pipeline_["select"] == "passthrough"
    np.testing.assert_array_equal(back.predict_proba(paths), whole.predict_proba(paths))
    assert clf.classes_.tolist() == model.classes_.tolist()


def test_older_or_foreign_model_folder_is_refused_in_one_line(tmp_path):
    (tmp_path / "m").mkdir()
    fileio.write_json(tmp_path / "m" / "model.json", {"format": "something-else", "version": 9})
    with pytest.raises(ValueError, match="re-run `mer run`"):
        EmotionModel.load(tmp_path / "m")
    from mer_helpers.predict.bundle import BundleError

    with pytest.raises(BundleError) as e:  # every missing part named, before anything is read
        EmotionModel.load(tmp_path)
    assert [line.split(":")[0] for line in e.value.problems] == [
        str(tmp_path / p) for p in ("audio", "visual", "bundle.json", "classifiers/sequencer.npz")]
