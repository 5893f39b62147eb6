"""mer_helpers.predict.stream: the window grid, windows that match whole-clip decoding, bounded memory,
subprocesses killed on early exit; scripts/make_timeline_video.py on the shared data."""
from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mer_helpers.methods import frames as fr
from mer_helpers.predict import stream as st
from mer_helpers.methods.audio import read_wav
from mer_helpers.core.media import MediaError, extract_audio, ffmpeg_exe, probe, write_clip

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
MEAD = DATA / "video" / "mead_silent"

FPS, SR = 10, 16000


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("MER_CACHE_DIR", str(tmp_path / "cache"))


def textured_clip(path, seconds=4.6, h=32, w=48, audio=True, seed=0):
    """Frames that differ from each other (a grey level per frame plus a fixed texture) and noise
    audio: any decoding or indexing slip shows."""
    rng = np.random.default_rng(seed)
    n = int(round(seconds * FPS))
    texture = rng.integers(0, 60, (h, w, 3))
    video = (np.arange(n)[:, None, None, None] * 4 + texture[None]).clip(0, 255).astype(np.uint8)
    sound = (0.2 * rng.standard_normal(int(seconds * SR))).astype(np.float32) if audio else None
    return write_clip(path, video, fps=FPS, audio=sound, sr=SR, crf=10)


# --------------------------------------------------------------------------- the grid

def test_window_grid():
    g = st.window_grid(10.0, 3.0, 1.0)
    assert g == [(float(i), float(i + 3)) for i in range(8)]                   # 7-10 ends at the end
    assert st.window_grid(3.76) == [(0.0, 3.0), (0.76, 3.76)]                  # tail 0.76 > hop / 2
    assert st.window_grid(3.3) == [(0.0, 3.0)]                                  # tail 0.3 <= hop / 2
    assert st.window_grid(10.6)[-1] == (7.6, 10.6) and len(st.window_grid(10.6)) == 9
    assert st.window_grid(2.0) == [(0.0, 2.0)]                                  # shorter than a window
    assert st.window_grid(3.0) == [(0.0, 3.0)] and st.window_grid(2.99) == [(0.0, 3.0)]  # tolerance
    assert st.window_grid(4.0, 3.0, 0.5) == [(0.0, 3.0), (0.5, 3.5), (1.0, 4.0)]
    long = st.window_grid(1800.08, 3.0, 0.1)
    assert len(long) == 17972 and long[-1] == (1797.1, 1800.1)        # ends within tol
    assert all(s == round(i * 0.1, 6) for i, (s, _) in enumerate(long))        # no float drift
    assert st.window_grid(0.0) == [] and st.window_grid(-1.0) == []
    with pytest.raises(ValueError):
        st.window_grid(5.0, 0.0, 1.0)
    with pytest.raises(ValueError):
        st.window_grid(5.0, 3.0, -1.0)


# --------------------------------------------------------------------------- same as whole-clip decoding

def test_windows_match_whole_clip_audio_and_frames(tmp_path):
    path = textured_clip(tmp_path / "clip.mp4")
    info = probe(path)
    k, size = 3, 16
    windows = list(st.iter_windows(path, window_s=2.0, hop_s=1.0, sr=SR, frame_interval=k, frame_size=size,
                                   face_detect=False))
    grid = st.window_grid(info.duration, 2.0, 1.0)
    assert [(w.start_s, w.end_s) for w in windows] == grid and len(windows) >= 3
    assert [w.index for w in windows] == list(range(len(grid)))
    y, sr = read_wav(extract_audio(path, tmp_path / "clip.wav", sr=SR))
    whole, finfo = fr.read_frames(path, frame_interval=k, frame_size=size, face_detect=False, return_info=True)
    whole = np.rint(whole * 255).astype(np.uint8)
    times = np.arange(len(whole)) * k / FPS
    for w in windows:
        a0, a1 = int(round(w.start_s * SR)), int(round(w.end_s * SR))
        np.testing.assert_array_equal(w.audio, y[a0:a1])
        assert w.audio.dtype == np.float32
        idx = np.flatnonzero((times >= w.start_s) & (times < w.end_s))
        assert len(idx) > 0
        np.testing.assert_array_equal(w.frames, whole[idx])
        np.testing.assert_allclose(w.frame_times, times[idx])
        assert w.frames.dtype == np.uint8 and w.frames.shape[1:] == (size, size, 3)
        assert w.face.dtype == bool and not w.face.any()
    assert finfo.backend == "opencv"


def test_video_without_audio_and_audio_without_video(tmp_path, tiny_clip_factory):
    silent = textured_clip(tmp_path / "silent.mp4", seconds=3.8, audio=False)
    ws = list(st.iter_windows(silent, face_detect=False, frame_size=8, frame_interval=2))
    assert len(ws) == 2 and all(w.audio is None and w.frames is not None for w in ws)
    voice = tiny_clip_factory(seconds=1.2, video=False)
    ws = list(st.iter_windows(voice))
    assert len(ws) == 1 and ws[0].frames is None and ws[0].face is None and ws[0].frame_times is None
    assert ws[0].start_s == 0.0 and abs(ws[0].end_s - probe(voice).duration) < 1e-6
    y, _ = read_wav(extract_audio(voice, tmp_path / "v.wav"))
    np.testing.assert_array_equal(ws[0].audio, y[:int(round(ws[0].end_s * SR))])


def test_errors_name_the_file(tmp_path):
    with pytest.raises(MediaError, match="nothere.mp4.*not found"):
        st.iter_windows(tmp_path / "nothere.mp4")
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"no media in here" * 100)
    with pytest.raises(MediaError, match="junk.mp4: neither an audio nor a video stream"):
        st.iter_windows(junk)
    with pytest.raises(ValueError):
        st.iter_windows(junk, hop_s=0)


def test_rotated_and_downscaled_video(tmp_path, monkeypatch):
    """The frame size piped is the displayed one: rotation swaps the sides; a side over MAX_SIDE
    is scaled down inside FFmpeg. A wrong size would end in a partial-frame error."""
    src = textured_clip(tmp_path / "wide.mp4", seconds=2.0, h=32, w=64, audio=False)
    rot = tmp_path / "rot.mp4"
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-display_rotation", "90", "-i", str(src), "-c", "copy",
                    str(rot)], check=True)
    assert abs(probe(rot).rotation) == 90
    r = st._VideoReader(str(rot), probe(rot), 2, 16, False, "rot.mp4")
    try:
        assert (r.width, r.height) == (32, 64)
    finally:
        r.pipe.close()
    (w,) = st.iter_windows(rot, face_detect=False, frame_size=16, frame_interval=2)
    assert w.frames.shape == (10, 16, 16, 3)
    monkeypatch.setattr(st, "MAX_SIDE", 40)
    r = st._VideoReader(str(src), probe(src), 2, 16, False, "wide.mp4")
    try:
        assert (r.width, r.height) == (40, 20)
    finally:
        r.pipe.close()
    (w,) = st.iter_windows(src, face_detect=False, frame_size=16, frame_interval=2)
    assert w.frames.shape == (10, 16, 16, 3)


# --------------------------------------------------------------------------- streaming behaviour

def test_memory_holds_one_window(tmp_path):
    """At every window, the readers hold at most one window (plus one hop of audio and one frame)."""
    path = textured_clip(tmp_path / "clip.mp4", seconds=8.0)
    gen = st.iter_windows(path, window_s=2.0, hop_s=0.5, frame_interval=1, frame_size=8, face_detect=False)
    n = 0
    for w in gen:
        loc = gen.gi_frame.f_locals
        assert len(loc["audio"].buf) <= int(2.0 * SR) + 1
        assert len(loc["video"].kept) <= 2.0 * FPS + 1
        n += 1
    assert n == len(st.window_grid(probe(path).duration, 2.0, 0.5)) > 10


def test_early_close_kills_ffmpeg(tmp_path, monkeypatch):
    path = textured_clip(tmp_path / "clip.mp4", seconds=6.0)
    started = []
    real_popen = subprocess.Popen

    def recording_popen(args, *rest, **kwargs):
        p = real_popen(args, *rest, **kwargs)
        if "-nostats" in args:  # the decoders, not probe's ffmpeg -i
            started.append(p)
        return p

    monkeypatch.setattr(st.subprocess, "Popen", recording_popen)
    gen = st.iter_windows(path, face_detect=False, frame_interval=1)
    assert started == []                                    # nothing runs before the first next()
    next(gen)
    assert len(started) == 2 and all(p.poll() is None for p in started)  # both still decoding
    gen.close()
    assert all(p.returncode is not None for p in started)
    assert all(p.stdout.closed for p in started)

    started.clear()
    with pytest.raises(KeyboardInterrupt):
        for w in st.iter_windows(path, face_detect=False, frame_interval=1):
            raise KeyboardInterrupt
    # the loop's generator is dropped with the frame: CPython closes it at once
    assert len(started) == 2 and all(p.returncode is not None for p in started)


def test_progress_reports_media_seconds(tmp_path):
    path = textured_clip(tmp_path / "clip.mp4", seconds=4.6)
    seen = []
    ws = list(st.iter_windows(path, face_detect=False, progress=seen.append))
    assert len(seen) == len(ws) and abs(sum(seen) - ws[-1].end_s) < 1e-9 and seen[0] == 3.0

    class Bar:
        n = 0.0

        def update(self, d):
            self.n += d

    bar = Bar()
    list(st.iter_windows(path, face_detect=False, progress=bar))
    assert abs(bar.n - ws[-1].end_s) < 1e-9
    list(st.iter_windows(path, face_detect=False, progress=True))  # a bar of mer_helpers.core.progress
    with pytest.raises(TypeError):
        list(st.iter_windows(path, face_detect=False, progress=3))


# --------------------------------------------------------------------------- real faces

@pytest.mark.shared_data
@pytest.mark.skipif(not MEAD.is_dir(), reason=f"../shared/data/video/mead_silent absent (looked in {MEAD})")
def test_face_crops_match_read_frames_on_real_video():
    """A real MEAD clip: the same frames have their own face as in read_frames, with the same crops."""
    clip = sorted(MEAD.glob("*_sad_*.mp4"))[0]
    whole, info, own = fr._read_frames_uint8(str(clip), 5, 96, True)
    windows = list(st.iter_windows(clip, frame_interval=5, frame_size=96))
    fps = probe(clip).fps
    for w in windows:
        idx = np.rint(w.frame_times * fps / 5).astype(int)
        np.testing.assert_array_equal(w.face, own[idx])
        np.testing.assert_array_equal(w.frames, whole[idx])
    assert sum(int(w.face.sum()) for w in windows) >= 15


@pytest.mark.shared_data
@pytest.mark.skipif(not (MEAD.is_dir() and (DATA / "savee").is_dir()),
                    reason=f"../shared/data with video/mead_silent and savee absent (looked in {DATA})")
def test_make_timeline_video(tmp_path):
    out = tmp_path / "tl"
    subprocess.run([sys.executable, str(REPO / "scripts" / "make_timeline_video.py"), "--data-root", str(DATA),
                    "--out", str(out), "--segment-s", "5", "--minutes", "0.5"], check=True, cwd=REPO,
                   capture_output=True)
    rows = list(csv.DictReader(open(out / "segments.csv")))
    assert [r["label"] for r in rows] == ["happy", "sad", "surprise"]
    assert [(float(r["start_s"]), float(r["end_s"])) for r in rows] == [(0, 5), (5, 10), (10, 15)]
    assert {r["clip_id"] for r in rows} == {"M030_DC_segments"}
    seg = probe(out / "M030_DC_segments.mp4")
    assert seg.has_audio and seg.has_video and abs(seg.duration - 15) < 0.1 and seg.fps == 25
    long = probe(out / "M030_DC_segments_0.5min.mp4")
    assert abs(long.duration - 30) < 0.2 and long.fps == 25      # no gaps at the loop joins
    long_rows = list(csv.DictReader(open(out / "segments_0.5min.csv")))
    assert [r["label"] for r in long_rows[:4]] == ["happy", "sad", "surprise", "happy"]
    assert float(long_rows[-1]["end_s"]) <= long.duration + 1e-6
