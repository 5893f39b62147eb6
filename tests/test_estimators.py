"""The package's estimators against scikit-learn's conventions.

Estimators whose input is a 2-D array run the whole of ``check_estimator``; the checks each one
is known to fail are listed here with the reason (also in its docstring), and the test asserts
that exactly those fail. Estimators whose input is not a 2-D array (lists of variable-length
MFCC matrices, frame stacks, sequences, clip files) cannot be fed the checks' data; they get the
checks that need no data (parameters, ``clone``) and their fit/transform contract by hand.
"""
from __future__ import annotations

import os
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pytest

pytest.importorskip("keras")

from sklearn.base import clone  # noqa: E402
from sklearn.exceptions import NotFittedError  # noqa: E402
from sklearn.utils.estimator_checks import (  # noqa: E402
    check_estimator, check_get_params_invariance, check_no_attributes_set_in_init,
    check_parameters_default_constructible, check_set_params)

from mer_helpers.methods import models as M  # noqa: E402
from mer_helpers.methods import sequencers  # noqa: E402
from mer_helpers.methods.audio_featurizer import AudioFeaturizer  # noqa: E402
from mer_helpers.predict.emotion_model import EmotionModel  # noqa: E402
from mer_helpers.predict.clip_features import ClipAudioFeatures, ClipVisualFeatures  # noqa: E402
from mer_helpers.methods.selection import ZebraFeatureSelector  # noqa: E402
from mer_helpers.methods.summary import SummaryImages  # noqa: E402
from mer_helpers.methods.visual import VisualFeaturizer  # noqa: E402

#: check → why FeatureSequencer fails it
FEATURE_SEQUENCER_FAILS = {
    "check_estimators_nan_inf": "NaN / inf are passed through to the sequences (run_split never rejected "
                                "them; rejecting now could change what a run does)",
    "check_transformer_preserve_dtypes": "the output is always float32: it is the Keras models' input",
}
#: check → why SequenceClassifier fails it
SEQUENCE_CLASSIFIER_FAILS = {
    "check_estimators_nan_inf": "NaN / inf are passed through to the Keras models, as FeatureSequencer does",
}


def _failed(estimator) -> set[str]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = check_estimator(estimator, on_fail=None)
    return {r["check_name"] for r in results if r["status"] == "failed"}


def test_feature_sequencer_check_estimator():
    assert _failed(sequencers.FeatureSequencer(steps=2)) == set(FEATURE_SEQUENCER_FAILS)


def test_zebra_selector_check_estimator():
    assert _failed(ZebraFeatureSelector(population=4, iterations=2, inner_cv=2, random_state=0)) == set()


@pytest.mark.slow  # about a minute: each of the ~55 checks trains a small Keras model
def test_sequence_classifier_check_estimator():
    clf = M.SequenceClassifier(model_names=["cnn"], steps=2, epochs=1, units=4, validation_split=0.0, seed=0)
    assert _failed(clf) == set(SEQUENCE_CLASSIFIER_FAILS)


def _visual():
    return VisualFeaturizer(SummaryImages("average", frame_size=32, progress=False), frame_interval=10,
                            frame_size=32, face_detect=False, backbone="mobilenet_v2", backbone_weights="none",
                            seed=0)


LIST_INPUT = {
    "AudioFeaturizer": lambda: AudioFeaturizer(features="mfcc_stats", progress=False),
    "VisualFeaturizer": _visual,
    "TemporalSequencer": lambda: sequencers.TemporalSequencer(4, [0, 1], [2]),
    "LateFusionSequencer": lambda: sequencers.LateFusionSequencer(2, [0, 1], [2, 3]),
    "ClipAudioFeatures": lambda: ClipAudioFeatures(AudioFeaturizer(progress=False)),
    "ClipVisualFeatures": lambda: ClipVisualFeatures(_visual()),
    "EmotionModel": lambda: EmotionModel(AudioFeaturizer(progress=False), _visual()),
}


@pytest.mark.parametrize("name", sorted(LIST_INPUT))
def test_list_input_estimators_follow_the_parameter_conventions(name):
    est = LIST_INPUT[name]()
    check_parameters_default_constructible(name, est)
    check_no_attributes_set_in_init(name, est)
    check_get_params_invariance(name, est)
    check_set_params(name, est)
    again = clone(est)
    assert type(again) is type(est) and again.get_params(deep=False).keys() == est.get_params(deep=False).keys()


def test_audio_featurizer_transform_returns_an_array_and_learns_columns():
    rng = np.random.default_rng(0)
    mf = [rng.normal(size=(n, 13)).astype(np.float32) for n in (20, 31, 17)]
    f = AudioFeaturizer(features="mfcc_stats", progress=False)
    assert not hasattr(f, "columns_")
    with pytest.raises(RuntimeError, match="not fitted"):
        f.transform(mf)
    assert f.fit(mf) is f
    X = f.transform(mf)
    assert isinstance(X, np.ndarray) and X.shape == (3, 26) and len(f.columns_) == 26
    X2, cols, seqs = f.featurize(mf)
    np.testing.assert_array_equal(X, X2)
    assert cols == f.columns_ == list(f.get_feature_names_out()) and len(seqs) == 3
    np.testing.assert_array_equal(f.fit_transform(mf), X)


def test_fit_transform_split_names_unknown_parameters():
    from mer_helpers.stages.audio_autoencoder import fit_transform_split

    mfcc = {c: np.ones((5, 13), np.float32) for c in "ab"}
    with pytest.raises(TypeError, match=r"\['ae_epochs', 'bogus'\]"):
        fit_transform_split(mfcc, {"name": "s", "train": ["a"], "test": ["b"]}, ae_epochs=3, bogus=1)


def test_visual_featurizer_fit_transform_returns_an_array():
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 255, size=(n, 32, 32, 3), dtype=np.uint8) for n in (4, 6)]
    v = _visual()
    assert v.fit(frames) is v and v.summary_ is not v.summary
    X = v.transform(frames)
    assert isinstance(X, np.ndarray) and X.shape == (2, len(v.columns)) and X.dtype == np.float32
    np.testing.assert_array_equal(X, v.transform_frames(frames, progress=False)[0])


def test_sequencers_fit_transform_and_not_fitted():
    rng = np.random.default_rng(0)
    a = [rng.normal(size=(n, 3)) for n in (5, 7, 4)]
    v = [rng.normal(size=(n, 4)) for n in (2, 3, 3)]
    t = sequencers.TemporalSequencer(4, [0, 1], [2])
    with pytest.raises(NotFittedError):
        t.transform(a, v)
    assert t.fit(a, v) is t and t.transform(a, v).shape == (3, 4, 3)
    X = rng.normal(size=(6, 4))
    late = sequencers.LateFusionSequencer(2, [0, 1], [2, 3])
    with pytest.raises(NotFittedError):
        late.transform(X)
    Xa, Xv = late.fit(X).transform(X)
    assert Xa.shape == (6, 2, 1) and Xv.shape == (6, 2, 1)
