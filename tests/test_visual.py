"""Backbone features (Algorithm 3): shape, batching + cache, weights handling, the branch."""
from __future__ import annotations

import time

import numpy as np
import pytest

from mer_helpers.methods import summary as sm
from mer_helpers.methods import visual as vis
from mer_helpers.methods import backbones
from mer_helpers.core.media import write_clip


@pytest.fixture(autouse=True)
def _env(tmp_path, monkeypatch):
    monkeypatch.setenv("MER_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "2")


def images(n, size=48, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, size, size, 3)).astype(np.uint8)


@pytest.mark.slow  # ResNet-50
def test_resnet50_features_shape_cache_and_dedup():
    ims = images(3)
    batch = [ims[0], ims[1], ims[2], ims[1]]                   # one image twice
    F, st = vis.backbone_features(batch, "resnet50", "none", seed=1, progress=False, return_stats=True)
    assert F.shape == (4, 2048) and F.dtype == np.float32 and np.isfinite(F).all()
    assert st.n_unique == 3 and st.n_computed == 3 and st.n_cached == 0
    np.testing.assert_array_equal(F[1], F[3])
    assert np.abs(F[0] - F[1]).max() > 1e-3                    # different images, different features
    F2, st2 = vis.backbone_features(batch[:3], "resnet50", "none", seed=1, progress=False, return_stats=True)
    assert st2.n_cached == 3 and st2.n_computed == 0
    np.testing.assert_allclose(F2, F[:3], rtol=1e-6)
    # random init is reproducible from the seed: a fresh model gives the same features
    backbones._build_cached.cache_clear()
    F3 = vis.backbone_features(batch[:1], "resnet50", "none", seed=1, use_cache=False, progress=False)
    np.testing.assert_allclose(F3[0], F[0], rtol=1e-4, atol=1e-4)


@pytest.mark.slow  # ResNet-50
def test_clip_features_sequences_and_mean():
    ims = images(5, seed=2)
    X, cols, seqs = vis.clip_features([ims[:3], ims[3:]], "resnet50", "none", progress=False)
    assert X.shape == (2, 2048) and [s.shape for s in seqs] == [(3, 2048), (2, 2048)]
    np.testing.assert_allclose(X[1], seqs[1].mean(axis=0), rtol=1e-6)
    assert cols[0] == "visual:resnet50_mean:0" and cols[-1] == "visual:resnet50_mean:2047"


def test_imagenet_offline_without_cache_explains(tmp_path, monkeypatch):
    home = tmp_path / "keras_home"
    home.mkdir()
    monkeypatch.setenv("KERAS_HOME", str(home))
    monkeypatch.setenv("MER_OFFLINE", "1")
    t0 = time.perf_counter()
    with pytest.raises(backbones.BackboneWeightsError) as e:
        vis.backbone_features(images(1), "resnet50", "imagenet", progress=False)
    assert time.perf_counter() - t0 < 10
    msg = str(e.value)
    assert backbones.BACKBONES["resnet50"].weights_url in msg
    assert str(home / "models" / "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5") in msg
    assert "-p backbone_weights none" in msg and "-p backbone_weights /path/to/" in msg
    assert not list(home.rglob("*.h5"))


def test_offline_detection_does_not_hang():
    t0 = time.perf_counter()
    assert backbones._reachable("https://10.255.255.1/weights.h5", timeout=0.5) is False
    assert time.perf_counter() - t0 < 2


def test_cached_imagenet_file_is_used_without_network(tmp_path, monkeypatch):
    home = tmp_path / "keras_home"
    target = home / "models" / backbones.BACKBONES["resnet50"].weights_file
    target.parent.mkdir(parents=True)
    target.write_bytes(b"placeholder")
    monkeypatch.setenv("KERAS_HOME", str(home))
    monkeypatch.setenv("MER_OFFLINE", "1")
    assert backbones.resolve_weights("resnet50", "imagenet") == str(target)


@pytest.mark.slow  # builds a MobileNetV2
def test_local_weights_file_and_missing_file(tmp_path):
    import keras

    backbones._build_cached.cache_clear()
    keras.utils.set_random_seed(7)
    net = keras.applications.MobileNetV2(include_top=False, weights=None, pooling="avg", input_shape=(224, 224, 3))
    path = tmp_path / "mine.weights.h5"
    net.save_weights(str(path))
    x = images(2, size=224, seed=3)
    expected = net.predict(backbones.preprocess_images(x, "mobilenet_v2"), verbose=0)
    F = vis.backbone_features(x, "mobilenet_v2", str(path), progress=False)
    assert F.shape == (2, 1280)
    np.testing.assert_allclose(F, expected, rtol=1e-4, atol=1e-12)
    assert backbones.weights_id("mobilenet_v2", str(path)).startswith("file:")
    with pytest.raises(backbones.BackboneWeightsError, match="missing.h5"):
        backbones.resolve_weights("resnet50", str(tmp_path / "missing.h5"))
    with pytest.raises(ValueError, match="unknown backbone"):
        backbones.backbone_spec("vgg99")


def test_weights_labels():
    assert backbones.weights_label("none") == "random-init" and backbones.weights_label(None) == "random-init"
    assert backbones.weights_label("imagenet") == "ImageNet"
    assert backbones.weights_id("resnet50", "none", seed=3) == "none:seed=3"


@pytest.mark.slow  # ResNet-50
def test_featurizer_paths_save_load(tmp_path):
    rng = np.random.default_rng(0)
    clips = []
    for i in range(2):
        v = rng.integers(0, 256, (6, 40, 40, 3)).astype(np.uint8)
        clips.append(write_clip(tmp_path / f"c{i}.mp4", v, fps=10))
    f = vis.VisualFeaturizer(sm.SummaryImages("average", frame_size=32), frame_interval=2, frame_size=32,
                             face_detect=False, backbone="resnet50", backbone_weights="none", seed=5)
    X, cols, seqs = f.transform_paths(clips, progress=False)
    assert X.shape == (2, 2048) and len(cols) == 2048 and [s.shape for s in seqs] == [(1, 2048)] * 2
    f.save(tmp_path / "visual")
    meta = (tmp_path / "visual" / "visual.json").read_text()
    assert '"backbone_weights": "none"' in meta and "random-init" in meta
    assert not list((tmp_path / "visual").rglob("*.h5"))        # the backbone weights are not stored
    g = vis.VisualFeaturizer.load(tmp_path / "visual")
    X2, _, _ = g.transform_paths(clips, progress=False)
    np.testing.assert_allclose(X2, X, rtol=1e-6)


def test_pixel_baseline_is_the_mean_grey_image():
    import cv2

    clips = [images(3, size=40, seed=7), images(1, size=40, seed=8)]
    X = vis.pixel_baseline(clips, size=8)
    assert X.shape == (2, 64) and X.dtype == np.float32
    want = [np.mean([cv2.resize(cv2.cvtColor(im, cv2.COLOR_RGB2GRAY), (8, 8), interpolation=cv2.INTER_AREA) / 255.0
                     for im in clip], axis=0).ravel() for clip in clips]
    np.testing.assert_allclose(vis.pixel_baseline(clips, size=8, dtype=np.float64), want, rtol=0, atol=1e-12)
    assert 0.0 <= X.min() and X.max() <= 1.0


@pytest.mark.slow  # ResNet-50
def test_features_do_not_depend_on_the_grouping():
    """An image's row is the same alone, in a pair or in a batch of 32 + 1 (notebook 04 streams in chunks)."""
    ims = images(33, seed=3)
    F = vis.backbone_features(ims, "resnet50", "none", use_cache=False, progress=False)
    alone = vis.backbone_features(ims[32:], "resnet50", "none", use_cache=False, progress=False)
    pair = vis.backbone_features(ims[:2], "resnet50", "none", use_cache=False, progress=False)
    assert np.array_equal(alone[0], F[32]) and np.array_equal(pair, F[:2])
