"""The sample's face renderer: deterministic, emotion-dependent, identity-dependent."""
import numpy as np
import pytest

from mer_helpers.chain.render import (audio_envelope, canonical_emotion, random_identity,
                                render_face, render_sequence)
from synthetic import mouth_box

SIZE = 96


@pytest.fixture(scope="module")
def ident():
    return random_identity(np.random.default_rng(3))


def test_output_shape_dtype(ident):
    img = render_face("happy", ident, t=0.7, size=SIZE)
    assert img.shape == (SIZE, SIZE, 3) and img.dtype == np.uint8
    assert img.std() > 10  # not a blank canvas


def test_deterministic(ident):
    a = render_face("sad", ident, t=1.3, size=SIZE, mouth_open=0.4)
    b = render_face("sad", dict(ident), t=1.3, size=SIZE, mouth_open=0.4)
    assert np.array_equal(a, b)
    assert random_identity(np.random.default_rng(7)) == random_identity(np.random.default_rng(7))
    assert random_identity(np.random.default_rng(7)) != random_identity(np.random.default_rng(8))


def _mouth(emotion, ident, t=1.0):
    y0, y1, x0, x1 = mouth_box(SIZE, ident)
    return render_face(emotion, ident, t=t, size=SIZE)[y0:y1, x0:x1].astype(float)


def _mouth_shape(region):
    """(width, height, corner drop) of the red (lip/cavity) pixels in a mouth region: corner drop is
    the mean row of the mouth's outer fifths minus that of its middle fifth (> 0: corners down)."""
    region = region[: int(0.75 * len(region))]  # the lips, not the jaw line below them
    skin = np.median(region.reshape(-1, 3), axis=0)
    redness = region[..., 0] - region[..., 1]
    mask = redness > (skin[0] - skin[1]) + 20  # lips and mouth cavity, not skin creases or nose
    rows, cols = np.nonzero(mask)
    c0, c1 = cols.min(), cols.max()
    w = c1 - c0 + 1
    edge = (cols < c0 + w / 5) | (cols > c1 - w / 5)
    mid = np.abs(cols - (c0 + c1) / 2) <= max(1.0, w / 10)
    return w, rows.max() - rows.min() + 1, rows[edge].mean() - rows[mid].mean()


@pytest.mark.parametrize("seed", [0, 3, 10])
def test_emotions_change_the_mouth_region(seed):
    ident = random_identity(np.random.default_rng(seed))
    regions = {e: _mouth(e, ident) for e in ("neutral", "happy", "sad", "surprise")}
    for e1 in regions:
        for e2 in regions:
            if e1 < e2:
                assert np.abs(regions[e1] - regions[e2]).mean() > 0.5, (e1, e2)
    shape = {e: _mouth_shape(r) for e, r in regions.items()}
    # happy: corners up; sad: corners down; neutral in between
    assert shape["happy"][2] < shape["neutral"][2] < shape["sad"][2], shape
    assert shape["happy"][2] < -1 and shape["sad"][2] > 1, shape
    # happy is the widest mouth; surprise is the tallest and narrower than happy
    assert shape["happy"][0] > shape["sad"][0] and shape["happy"][0] > shape["surprise"][0], shape
    assert shape["surprise"][1] > max(shape[e][1] for e in ("neutral", "happy", "sad")), shape
    # the surprised open mouth is darker (open cavity) than the closed sad mouth
    assert regions["surprise"].mean() < regions["sad"].mean() - 3


def test_same_emotion_differs_less_than_other_emotions(ident):
    # head motion changes the frame a little; a different emotion changes the mouth more
    same = np.abs(_mouth("happy", ident, 1.0) - _mouth("happy", ident, 1.1)).mean()
    other = np.abs(_mouth("happy", ident, 1.0) - _mouth("surprise", ident, 1.0)).mean()
    assert other > 2 * same


def test_identities_differ():
    imgs = [render_face("neutral", random_identity(np.random.default_rng(s)), 0.0, SIZE).astype(float)
            for s in range(4)]
    for i in range(4):
        for j in range(i + 1, 4):
            assert np.abs(imgs[i] - imgs[j]).mean() > 5


def test_head_moves_over_time(ident):
    frames = render_sequence("neutral", ident, n_frames=20, fps=10, size=SIZE)
    assert frames.shape == (20, SIZE, SIZE, 3)
    assert np.abs(frames[0].astype(float) - frames[15].astype(float)).mean() > 0.5


def test_envelope_opens_the_jaw(ident):
    sr, fps = 16000, 10
    audio = np.zeros(sr, np.float32)
    audio[sr // 2:] = 0.5 * np.sin(np.arange(sr // 2) * 0.3)
    env = audio_envelope(audio, sr, 10, fps)
    assert env[:5].max() == 0 and env[5:].min() > 0.9
    closed = render_face("neutral", ident, 1.0, SIZE, mouth_open=0.0)
    opened = render_face("neutral", ident, 1.0, SIZE, mouth_open=1.0)
    y0, y1, x0, x1 = mouth_box(SIZE, ident)
    assert opened[y0:y1, x0:x1].mean() < closed[y0:y1, x0:x1].mean()


def test_aliases_and_unknown():
    assert canonical_emotion("surprised") == "surprise" and canonical_emotion("ps") == "surprise"
    with pytest.raises(ValueError, match="unknown emotion"):
        render_face("bored", random_identity(0), 0.0, SIZE)


def test_committed_sample_is_complete():
    """data/sample: 4 speakers x 3 emotions x 4 clips, relative paths, both streams."""
    from pathlib import Path

    import pandas as pd

    from mer_helpers.core.media import probe

    root = Path(__file__).resolve().parents[1] / "data" / "sample"
    df = pd.read_csv(root / "labels.csv", dtype=str)
    assert list(df.columns) == ["clip_id", "path", "label", "speaker", "subject", "corpus"]
    assert df["clip_id"].is_unique
    counts = df.groupby(["speaker", "label"]).size()
    assert len(counts) == 12 and set(counts) == {4}
    assert set(df["label"]) == {"happy", "sad", "surprise"}
    assert all(not Path(p).is_absolute() and (root / p).is_file() for p in df["path"])
    for p in df["path"].iloc[::16]:
        info = probe(root / p)
        assert info.has_audio and info.has_video and 2.5 < info.duration < 6, info
    assert "CC BY-NC-SA 4.0" in (root / "README.md").read_text()
    assert "smoke tests" in (root / "README.md").read_text()
    assert sum(f.stat().st_size for f in root.rglob("*") if f.is_file()) < 4e6
