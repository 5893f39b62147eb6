"""Shared pytest fixtures.

``tiny_clip_factory`` (session): writes small valid clips with ``mer_helpers.core.media.write_clip``.
``isolated_cache``: points ``$MER_CACHE_DIR`` at a fresh temporary folder for one test.

Dask: unit tests run their per-clip work without Dask (``MER_DASK_SCHEDULER=none``, set here
for this process and every ``mer`` subprocess) so that they do not each start a cluster. The
scheduler the user had (unset: a local cluster per run) is kept in ``MER_TEST_CHAIN_SCHEDULER``
for the tests that run the chain as users do (``tests/test_pipeline.py``: :func:`chain_env`)
or start their own cluster (``tests/test_dask.py``).
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("MER_TEST_CHAIN_SCHEDULER", os.environ.get("MER_DASK_SCHEDULER", ""))
os.environ["MER_DASK_SCHEDULER"] = "none"


def chain_env(**extra: str) -> dict[str, str]:
    """The environment for a ``mer run`` that uses Dask as a user's would: the user's
    ``MER_DASK_SCHEDULER``, or none set (a local cluster for the run)."""
    env = dict(os.environ, **extra)
    user = os.environ.get("MER_TEST_CHAIN_SCHEDULER", "")
    if user:
        env["MER_DASK_SCHEDULER"] = user
    else:
        env.pop("MER_DASK_SCHEDULER", None)
    return env


def _frames(seconds: float, fps: float, size: int, color: tuple[int, int, int]) -> np.ndarray:
    """A bright square moving over a coloured background: (n, size, size, 3) uint8 RGB."""
    n = max(1, int(round(seconds * fps)))
    frames = np.empty((n, size, size, 3), dtype=np.uint8)
    frames[:] = np.asarray(color, dtype=np.uint8)
    s = max(2, size // 4)
    for i in range(n):
        x = int((size - s) * i / max(1, n - 1))
        frames[i, size // 2 - s // 2: size // 2 + s // 2, x: x + s] = 255
    return frames


def _tone(seconds: float, sr: int, freq: float) -> np.ndarray:
    t = np.arange(int(round(seconds * sr))) / sr
    return (0.3 * np.sin(2 * np.pi * freq * t) * np.hanning(len(t))).astype(np.float32)


@pytest.fixture(scope="session")
def tiny_clip_factory(tmp_path_factory):
    """``make(dest=None, *, seconds=0.6, fps=10, size=32, audio=True, video=True, freq=440.0,
    color=(200, 120, 80), sr=16000) -> Path``.

    Writes a small H.264/AAC mp4 (about 10 kB, ~0.2 s to encode): a square moving over a
    ``color`` background and a ``freq`` Hz tone. ``video=False`` gives an audio-only mp4,
    ``audio=False`` a video-only one. Clips with the same parameters are encoded once per test
    session; with ``dest`` the clip is copied there (parent folders created) and ``dest``
    returned, otherwise the path of the shared copy (do not modify it) is returned.
    """
    from mer_helpers.core import media

    store = tmp_path_factory.mktemp("tiny_clips")
    made: dict[tuple, Path] = {}

    def make(dest=None, *, seconds: float = 0.6, fps: float = 10, size: int = 32, audio: bool = True,
             video: bool = True, freq: float = 440.0, color=(200, 120, 80), sr: int = 16000) -> Path:
        if not (audio or video):
            raise ValueError("a clip needs audio or video")
        key = (round(seconds, 4), fps, size, audio, video, round(freq, 3), tuple(color), sr)
        if key not in made:
            out = store / f"clip{len(made):04d}.mp4"
            if video:
                media.write_clip(out, _frames(seconds, fps, size, tuple(color)), fps,
                                 _tone(seconds, sr, freq) if audio else None, sr)
            else:
                with tempfile.TemporaryDirectory() as td:
                    pcm = Path(td) / "a.f32"
                    _tone(seconds, sr, freq).tofile(pcm)
                    media.run_ffmpeg(["-f", "f32le", "-ar", str(sr), "-ac", "1", "-i", str(pcm),
                                      "-c:a", "aac", "-b:a", "64k", str(out)], what=f"writing {out.name}")
            made[key] = out
        src = made[key]
        if dest is None:
            return src
        dest = Path(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dest)
        return dest

    return make


@pytest.fixture
def isolated_cache(tmp_path, monkeypatch):
    """A fresh ``$MER_CACHE_DIR`` for one test (returned as a Path)."""
    d = tmp_path / "mer-cache"
    d.mkdir()
    monkeypatch.setenv("MER_CACHE_DIR", str(d))
    return d
