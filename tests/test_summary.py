"""Summary images (Algorithm 2): k-means picks, modes, padding, and the no-leak rule."""
from __future__ import annotations

import numpy as np
import pytest

from mer_helpers.methods import frames as fr
from mer_helpers.methods import summary as sm
from mer_helpers.methods import summary_files
from mer_helpers.core.media import write_clip
from mer_helpers.stages import summary_images

S = 32  # frame size for the tests (the autoencoder halves it three times)


@pytest.fixture(autouse=True)
def _env(tmp_path, monkeypatch):
    monkeypatch.setenv("MER_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "2")


def scene(n, background, square, seed, size=64):
    rng = np.random.default_rng(seed)
    x = np.empty((n, size, size, 3), np.uint8)
    x[...] = background
    x[:, size // 4:size * 5 // 8, size // 3:size * 2 // 3] = square
    noise = rng.integers(-6, 7, x.shape)
    return np.clip(x.astype(int) + noise, 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def two_scene_frames(tmp_path_factory):
    """A real video: 20 frames of a red scene, then 20 of a blue one; every 4th frame sampled."""
    d = tmp_path_factory.mktemp("clips")
    video = np.concatenate([scene(20, (200, 40, 40), (250, 250, 250), 0),
                            scene(20, (40, 40, 200), (0, 0, 0), 1)])
    path = write_clip(d / "two_scenes.mp4", video, fps=20, crf=18)
    return fr.read_frames(path, frame_interval=4, frame_size=S, face_detect=False)  # 10 frames


def is_red(img):
    img = np.asarray(img, dtype=float)
    return img[..., 0].mean() > img[..., 2].mean()


@pytest.mark.slow  # trains the convolutional autoencoder
@pytest.mark.parametrize("mode", ["shared", "per_clip"])
def test_two_scenes_one_frame_each(two_scene_frames, mode):
    frames = two_scene_frames
    assert len(frames) == 10 and is_red(frames[0]) and not is_red(frames[-1])
    model = sm.SummaryImages(mode, n_clusters=2, cae_epochs=3, frame_size=S, progress=False)
    (res,) = model.fit([frames]).select([frames])
    assert res.images.shape == (2, S, S, 3) and res.images.dtype == np.uint8
    assert res.indices[0] < 5 <= res.indices[1]            # one frame from each scene, in time order
    assert is_red(res.images[0]) and not is_red(res.images[1])
    np.testing.assert_array_equal(res.images[1], np.rint(frames[res.indices[1]] * 255).astype(np.uint8))


def test_kmeans_nearest_to_centre_and_static_shot():
    codes = np.array([[0.0], [0.1], [0.2], [10.0], [10.4], [10.5], [10.6]])
    idx, info = sm.kmeans_select(codes, 2)
    assert list(idx) == [1, 4] and not info["padded"]      # the medoid-like member of each cluster
    idx, info = sm.kmeans_select(np.zeros((6, 3)), 3)      # static shot: every code identical
    assert len(set(idx.tolist())) == 3 and info["n_distinct"] == 1


@pytest.mark.slow  # trains the convolutional autoencoder
def test_too_few_frames_are_padded():
    frames = [scene(2, (10, 10, 10), (90, 90, 90), 3, size=S)]
    for mode in ("shared", "per_clip"):
        m = sm.SummaryImages(mode, n_clusters=3, cae_epochs=1, frame_size=S, progress=False)
        (res,) = m.fit(frames).select(frames)
        assert list(res.indices) == [0, 0, 1] and res.padded and res.images.shape[0] == 3
    assert list(sm.pad_indices(1, 3)) == [0, 0, 0]


def test_average_mode_is_the_mean_of_frames():
    frames = np.stack([np.full((S, S, 3), v, np.uint8) for v in (0, 10, 20, 30, 40, 50)])
    (one,) = sm.SummaryImages("average", frame_size=S).fit([frames]).select([frames])
    assert one.images.shape == (1, S, S, 3) and np.all(one.images == 25)
    (two,) = sm.SummaryImages("average", average_segments=2, frame_size=S).select([frames])
    assert [int(im.mean()) for im in two.images] == [10, 40] and two.segments == [(0, 3), (3, 6)]


@pytest.mark.slow  # trains the convolutional autoencoder
def test_shared_autoencoder_never_sees_test_frames(monkeypatch):
    """Test clips are pure green; every frame given to the autoencoder's fit is recorded."""
    seen = []
    real_fit = sm.ConvAutoencoder.fit

    def spy(self, X, y=None):
        seen.append(np.array(X))
        return real_fit(self, X, y)

    monkeypatch.setattr(sm.ConvAutoencoder, "fit", spy)
    rng = np.random.default_rng(0)
    frames = {f"train{i}": rng.integers(0, 256, (5, S, S, 3)).astype(np.uint8) for i in range(4)}
    green = np.zeros((5, S, S, 3), np.uint8)
    green[..., 1] = 255
    frames.update({f"test{i}": green for i in range(2)})
    split = {"train": [f"train{i}" for i in range(4)], "test": ["test0", "test1"]}
    model, results = summary_images.fit_select_split(frames, split["train"], summary_mode="shared", n_clusters=2,
                                         cae_epochs=1, frame_size=S, cae_max_frames=None, progress=False)
    assert len(seen) == 1 and len(seen[0]) == 20                  # exactly the 4 x 5 training frames
    X = seen[0]
    assert not np.any((X[..., 1] > 0.99).all(axis=(1, 2)) & (X[..., 0] < 0.01).all(axis=(1, 2)))
    train = np.concatenate([frames[c] for c in split["train"]]).astype(np.float32) / 255
    assert all(np.any(np.all(np.isclose(train, x), axis=(1, 2, 3))) for x in X)
    assert set(results) == set(frames) and model.n_train_frames_ == 20
    # with a cap, the autoencoder trains on a random subset of the *training* frames only
    seen.clear()
    summary_images.fit_select_split(frames, split["train"], summary_mode="shared", n_clusters=2, cae_epochs=1,
                        frame_size=S, cae_max_frames=8, progress=False)
    assert len(seen[0]) == 8 and all(np.any(np.all(np.isclose(train, x), axis=(1, 2, 3))) for x in seen[0])


@pytest.mark.slow  # trains the convolutional autoencoder
def test_save_load_roundtrip(tmp_path, two_scene_frames):
    m = sm.SummaryImages("shared", n_clusters=3, cae_epochs=2, frame_size=S, progress=False).fit([two_scene_frames])
    a = m.select([two_scene_frames])[0]
    m.save(tmp_path / "summary")
    m2 = sm.SummaryImages.load(tmp_path / "summary")
    assert m2.get_params() == m.get_params() and m2.n_train_frames_ == 10
    b = m2.select([two_scene_frames])[0]
    np.testing.assert_array_equal(a.indices, b.indices)
    np.testing.assert_allclose(m.cae_.transform(two_scene_frames), m2.cae_.transform(two_scene_frames), atol=1e-5)
    with pytest.raises(FileNotFoundError, match="summary.json"):
        sm.SummaryImages.load(tmp_path / "elsewhere")


def test_write_and_read_summary(tmp_path, two_scene_frames):
    m = sm.SummaryImages("average", average_segments=2, frame_size=S)
    res = dict(zip(["c1", "c2"], m.select([two_scene_frames, two_scene_frames[:1]])))
    index = summary_files.write_summary(tmp_path, "fold0", res)
    assert list(index.columns[:3]) == ["clip_id", "k", "png"] and len(index) == 4
    assert bool(index.loc[index.clip_id == "c2", "padded"].all())
    idx2, images = summary_files.read_summary(tmp_path, "fold0")
    np.testing.assert_array_equal(images["c1"], res["c1"].images)   # PNG is lossless
    assert (tmp_path / "summary" / "fold0" / "index.csv").exists()
