"""Stages that stream their clips in chunks: one chunk in memory, the same files as all at once."""
from __future__ import annotations

import numpy as np
import pytest

from mer_helpers.core import fileio, media, parallel
from mer_helpers.methods import audio


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    d = tmp_path / "cache"
    monkeypatch.setenv("MER_CACHE_DIR", str(d))
    monkeypatch.setenv(parallel.ENV, "none")
    return d


def _clips(tmp_path, n):
    out = []
    for i in range(n):
        sr, secs = 16000, 0.6 + 0.1 * i
        t = np.arange(int(sr * secs)) / sr
        tone = (0.4 * np.sin(2 * np.pi * (200 + 60 * i) * t)).astype(np.float32)
        frames = np.full((int(secs * 10), 16, 16, 3), 100 + i, dtype=np.uint8)
        out.append(media.write_clip(tmp_path / f"c{i}.mp4", frames, fps=10, audio=tone, sr=sr))
    return out


def test_chunked_slices():
    assert [list(c) for c in parallel.chunked(list(range(7)), 3)] == [[0, 1, 2], [3, 4, 5], [6]]
    assert list(parallel.chunked([], 3)) == []
    assert [list(c) for c in parallel.chunked([1, 2], 0)] == [[1], [2]]  # at least one per slice


def test_extract_to_npz_streams_and_matches_all_at_once(tmp_path, cache_dir, monkeypatch):
    paths = _clips(tmp_path, 5)
    ids = [f"id{i}" for i in range(5)]
    whole = audio.extract_clips(paths, n_jobs=1, progress=False, n_mfcc=13)
    seen = []
    real = audio.extract_clips

    def spy(part, **kw):
        seen.append(len(part))
        return real(part, **kw)

    monkeypatch.setattr(audio, "extract_clips", spy)
    recs = audio.extract_to_npz(paths, ids, tmp_path / "mfcc.npz", n_jobs=1, progress=False, chunk=2, n_mfcc=13)
    assert seen == [2, 2, 1]  # never more than one chunk of matrices at a time
    got = fileio.load_sequences(tmp_path / "mfcc.npz")
    assert list(got) == ids
    for cid, w, r in zip(ids, whole, recs):
        np.testing.assert_array_equal(got[cid], w["mfcc"])
        assert "mfcc" not in r
        assert (r["n_frames"], r["n_coefficients"]) == w["mfcc"].shape
        assert r["sr"] == w["sr"] and r["duration_s"] == w["duration_s"]
    assert len({r["n_frames"] for r in recs}) == 5  # the clips differ in length
    # the same file content as the one-shot writer, and a subset read by key
    fileio.save_sequences(tmp_path / "once.npz", {c: w["mfcc"] for c, w in zip(ids, whole)})
    once = fileio.load_sequences(tmp_path / "once.npz", keys=["id3", "id1"])
    assert list(once) == ["id3", "id1"]
    np.testing.assert_array_equal(once["id3"], got["id3"])
    with pytest.raises(ValueError, match="3 clip ids"):
        audio.extract_to_npz(paths, ids[:3], tmp_path / "x.npz", n_jobs=1, progress=False)
