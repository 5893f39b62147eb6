"""Frame sampling: which frames are read, cropping fallbacks, caching, parallel runs."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from mer_helpers.methods import frames as fr
from mer_helpers.methods import faces as fc
from mer_helpers.core.media import write_clip

KDEF_FACE = Path(__file__).resolve().parents[2] / "shared" / "data" / "kdef" / "AF01" / "AF01HAS.jpg"


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("MER_CACHE_DIR", str(tmp_path / "cache"))


def grey_ramp_clip(path, n=23, step=10, h=48, w=64):
    """Frame t is a flat grey image of level step * t: the level tells which frame was read."""
    levels = np.arange(n) * step
    video = np.repeat(levels[:, None, None, None], h * w * 3, axis=1).reshape(n, h, w, 3)
    return write_clip(path, video.astype(np.uint8), fps=10, crf=12), levels


def test_every_fifth_frame_of_23(tmp_path):
    path, levels = grey_ramp_clip(tmp_path / "ramp.mp4")
    out, info = fr.read_frames(path, frame_interval=5, frame_size=32, face_detect=False, return_info=True)
    assert out.shape == (5, 32, 32, 3) and out.dtype == np.float32
    assert 0.0 <= out.min() and out.max() <= 1.0
    assert info.n_decoded == 23 and info.n_frames == 5
    # frames 0, 5, 10, 15, 20 were read (grey 0, 50, 100, 150, 200), not 1, 6, ... or 4, 9, ...
    np.testing.assert_allclose(out.mean(axis=(1, 2, 3)) * 255, levels[::5], atol=4)
    assert info.n_centre == 5 and info.n_face == 0 and info.face_fallback


def test_interval_one_and_ffmpeg_fallback_agree(tmp_path):
    path, levels = grey_ramp_clip(tmp_path / "ramp.mp4", n=7)
    raw_cv, n_cv = fr._read_opencv(str(path), 3)
    raw_ff, _ = fr._read_ffmpeg(str(path), 3)
    assert len(raw_cv) == len(raw_ff) == 3 and n_cv == 7
    for a, b in zip(raw_cv, raw_ff):
        assert abs(float(a.mean()) - float(b.mean())) < 3
    assert len(fr.read_frames(path, frame_interval=1, frame_size=16, face_detect=False)) == 7


def test_unreadable_clip_names_the_file(tmp_path):
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"not a video at all")
    with pytest.raises(Exception, match="broken.mp4"):
        fr.read_frames(bad, face_detect=False)


def test_square_box():
    assert fc.square_box(None, 100, 200) == (50, 0, 100)          # centre square
    x0, y0, side = fc.square_box((90, 40, 20, 20), 100, 200, margin=0.5)
    assert side == 40 and (x0, y0) == (80, 30)                    # centred on the face, enlarged
    x0, y0, side = fc.square_box((0, 0, 30, 30), 100, 200, margin=0.5)
    assert (x0, y0, side) == (0, 0, 60)                           # pushed inside the image


def test_cache_and_parallel_match_sequential(tmp_path):
    a, _ = grey_ramp_clip(tmp_path / "a.mp4", n=12)
    b, _ = grey_ramp_clip(tmp_path / "b.mp4", n=8, step=20)
    seq, rep = fr.sample_clips([a, b], 4, 16, False, n_jobs=1, progress=False, ids=["a", "b"])
    assert [len(x) for x in seq] == [3, 2] and list(rep["clip_id"]) == ["a", "b"]
    assert len(list((Path(os.environ["MER_CACHE_DIR"]) / "frames").rglob("*.npz"))) == 2
    par, rep2 = fr.sample_clips([b, a], 4, 16, False, n_jobs=2, progress=False, dtype="uint8")
    assert par[0].dtype == np.uint8
    np.testing.assert_array_equal(par[1], np.rint(seq[0] * 255).astype(np.uint8))
    np.testing.assert_array_equal(par[0], np.rint(seq[1] * 255).astype(np.uint8))
    assert list(rep2["n_frames"]) == [2, 3]


def test_missing_cascade_explains(monkeypatch, tmp_path):
    monkeypatch.setattr(fc, "haar_cascade_path", lambda: tmp_path / "nope" / "haarcascade_frontalface_default.xml")
    fc.cascade.cache_clear()
    try:
        with pytest.raises(FileNotFoundError, match="face_detect false"):
            fc.cascade()
    finally:
        fc.cascade.cache_clear()


def test_cascade_ships_with_opencv():
    assert fc.haar_cascade_path().exists()


@pytest.mark.shared_data
@pytest.mark.skipif(not KDEF_FACE.exists(), reason=f"needs a real face photo: {KDEF_FACE}")
def test_face_crop_and_carried_fallback(tmp_path):
    import cv2

    face = cv2.cvtColor(cv2.imread(str(KDEF_FACE)), cv2.COLOR_BGR2RGB)
    h, w = face.shape[0] - face.shape[0] % 2, face.shape[1] - face.shape[1] % 2
    face = face[:h, :w]
    blank = np.full_like(face, 128)
    video = np.stack([face] * 4 + [blank] * 4)
    path = write_clip(tmp_path / "face.mp4", video, fps=10, crf=18)
    out, info = fr.read_frames(path, frame_interval=1, frame_size=48, face_detect=True, return_info=True)
    assert info.n_frames == 8
    assert info.n_face == 4 and info.n_carried == 4 and info.n_centre == 0
    # a face crop is tighter than the whole photo: the crop of frame 0 differs from a centre crop
    centre = fr.read_frames(path, frame_interval=1, frame_size=48, face_detect=False)
    assert np.abs(out[0] - centre[0]).mean() > 0.02
    # face_only keeps the four frames with their own detection, read fresh or from the cache
    kept, kinfo = fr.read_frames(path, frame_interval=1, frame_size=48, face_detect=True, return_info=True,
                                 face_only=True)
    assert len(kept) == 4 and kinfo.n_kept == 4
    np.testing.assert_array_equal(kept, out[:4])
    cached, cinfo = fr.sample_frames(path, 1, 48, True, return_info=True, face_only=True)
    np.testing.assert_array_equal(cached, kept)
    assert cinfo.n_kept == 4 and fr.sample_frames(path, 1, 48, True).shape[0] == 8


def test_face_only_keeps_all_frames_without_detection(tmp_path):
    video = np.full((6, 32, 32, 3), 90, dtype=np.uint8)
    path = write_clip(tmp_path / "blank.mp4", video, fps=10)
    out, info = fr.read_frames(path, frame_interval=1, frame_size=16, face_detect=True, return_info=True,
                               face_only=True)
    assert len(out) == 6 and info.n_kept == 6 and info.n_centre == 6


VIDEO = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "video" / "mead_silent"


@pytest.mark.shared_data
@pytest.mark.skipif(not VIDEO.is_dir(), reason="../shared/data/video/mead_silent absent")
def test_real_face_video_is_tracked_on_every_sampled_frame():
    """Real video of a moving, talking face: the face is found on every sampled frame, most of
    them by tracking around the previous frame's box, and the crop follows the face."""
    clip = sorted(VIDEO.glob("*_happy_*.mp4"))[0]
    out, info, own = fr._read_frames_uint8(str(clip), 5, 96, True)
    assert info.n_frames >= 15 and own.all() and info.n_carried == 0 and info.n_centre == 0
    assert info.n_tracked >= info.n_frames // 2
    full = [fc.detect_face(f) for f in fr._read_opencv(str(clip), 5)[0][:5]]
    assert all(b is not None for b in full)


def test_detect_face_near_needs_the_face_near_the_box():
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, (120, 160, 3)).astype(np.uint8)   # noise: no face anywhere
    assert fc.detect_face_near(frame, (40, 30, 50, 50)) is None
    assert fc.detect_face_near(frame, (150, 110, 8, 8)) is None     # window too small to search


def _reference_crops(raw, frame_size, face_detect, info):
    """The per-frame detection and crop loop of ``_read_frames_uint8`` before :class:`FaceTracker`
    and :func:`crop_face` were taken out of it (verbatim), to check the refactor changes nothing."""
    import cv2

    boxes = [None] * len(raw)
    if face_detect:
        last_thumb, last_box, tracked = None, None, None
        for i, f in enumerate(raw):
            thumb = cv2.resize(cv2.cvtColor(f, cv2.COLOR_RGB2GRAY), (32, 32),
                               interpolation=cv2.INTER_AREA).astype(np.float32)
            if last_thumb is not None and float(np.mean(np.abs(thumb - last_thumb))) < fc._SAME_SHOT:
                boxes[i] = last_box  # same picture as the frame just analysed
                continue
            box = fc.detect_face_near(f, tracked) if tracked is not None else None
            if box is not None:
                info.n_tracked += 1
            else:
                box = fc.detect_face(f)
            boxes[i] = last_box = box
            tracked = box or tracked  # keep following the last face seen
            last_thumb = thumb
    found = [i for i, b in enumerate(boxes) if b is not None]
    out = np.empty((len(raw), frame_size, frame_size, 3), dtype=np.uint8)
    for i, frame in enumerate(raw):
        h, w = frame.shape[:2]
        if boxes[i] is not None:
            info.n_face += 1
            box = boxes[i]
        elif found:
            info.n_carried += 1
            box = boxes[min(found, key=lambda j: abs(j - i))]
        else:
            info.n_centre += 1
            box = None
        x0, y0, side = fc.square_box(box, h, w)
        crop = frame[y0:y0 + side, x0:x0 + side]
        interp = cv2.INTER_AREA if side >= frame_size else cv2.INTER_LINEAR
        out[i] = cv2.resize(crop, (frame_size, frame_size), interpolation=interp)
    own = np.array([b is not None for b in boxes], dtype=bool)
    return out, own


@pytest.mark.shared_data
@pytest.mark.skipif(not VIDEO.is_dir(), reason="../shared/data/video/mead_silent absent")
def test_face_tracker_refactor_gives_the_same_crops_on_real_video():
    """FaceTracker + crop_face give bit-identical crops, masks and counts to the loop they came
    from, on a real MEAD clip made harder: blank frames (carried boxes), a repeated frame (same
    shot, no cascade), a frame shifted sideways (tracking fails, full search), a small frame
    (upscaled crop), and the clip read whole through _read_frames_uint8."""
    clip = sorted(VIDEO.glob("*_surprised_*.mp4"))[0]
    raw = fr._read_opencv(str(clip), 5)[0]
    blank = np.full_like(raw[0], 120)
    shifted = np.roll(raw[3], 90, axis=1)
    mixed = [blank, blank] + raw[:4] + [raw[3], shifted, blank] + raw[4:9] + [blank, np.ascontiguousarray(raw[9][::3, ::3])]
    mixed = [np.ascontiguousarray(f) for f in mixed]
    for size, detect in ((96, True), (48, True), (96, False)):
        new_info, ref_info = fr.FrameInfo("x"), fr.FrameInfo("x")
        new, own = fr._crop_frames(mixed, size, detect, new_info)
        ref, ref_own = _reference_crops(mixed, size, detect, ref_info)
        np.testing.assert_array_equal(new, ref)
        np.testing.assert_array_equal(own, ref_own)
        assert new_info == ref_info
    assert ref_info.n_centre == len(mixed)
    new_info = fr.FrameInfo("x")
    fr._crop_frames(mixed, 96, True, new_info)
    assert new_info.n_carried >= 3 and new_info.n_face >= 10 and new_info.n_tracked >= 5
    out, info, own = fr._read_frames_uint8(str(clip), 5, 96, True)
    ref_info = fr.FrameInfo(str(clip), n_decoded=info.n_decoded, n_frames=info.n_frames, backend=info.backend)
    ref, ref_own = _reference_crops(raw, 96, True, ref_info)
    np.testing.assert_array_equal(out, ref)
    np.testing.assert_array_equal(own, ref_own)
    assert info == ref_info


def test_face_tracker_reuses_a_static_shot_and_reports_the_last_face(monkeypatch):
    """Same shot: the cascade runs once; a frame without a face gets the last face seen, own=False."""
    calls = []
    faces = iter([(10, 10, 20, 20), None])
    monkeypatch.setattr(fc, "detect_face", lambda f: calls.append("full") or next(faces))
    monkeypatch.setattr(fc, "detect_face_near", lambda f, box: calls.append("near") or None)
    still = np.full((64, 64, 3), 100, np.uint8)
    other = np.full((64, 64, 3), 200, np.uint8)
    t = fc.FaceTracker()
    assert t.step(still) == ((10, 10, 20, 20), True)
    assert t.step(still) == ((10, 10, 20, 20), True)        # same shot: reused, no cascade
    assert calls == ["full"]
    assert t.step(other) == ((10, 10, 20, 20), False)       # tracking and full search fail
    assert calls == ["full", "near", "full"] and t.n_detected == 2 and t.n_tracked == 0
    assert fc.crop_face(other, None, 16).shape == (16, 16, 3)
