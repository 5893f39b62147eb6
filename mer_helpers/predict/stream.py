"""A long video as overlapping windows, decoded once, in memory that does not grow with its length.

:func:`iter_windows` cuts a video (or an audio file) into windows of ``window_s`` seconds every
``hop_s`` seconds and yields one :class:`Window` at a time: the window's audio (mono float32 at
``sr``) and its sampled face crops (every ``frame_interval``-th frame, ``frame_size`` pixels
square), the same material :mod:`mer_helpers.methods.audio` and :mod:`mer_helpers.methods.frames` read from a
whole clip.

Decoding. Two FFmpeg processes read the file once each, in parallel: one decodes only the audio
(``-vn -ac 1 -ar SR -acodec pcm_s16le -f s16le``: the same samples as
:func:`mer_helpers.core.media.extract_audio` followed by :func:`mer_helpers.methods.audio.read_wav`), the
other only the video (``-an``, rawvideo ``rgb24``), keeping decoded frames 0, k, 2k, ... with
FFmpeg's ``select`` filter exactly as :func:`mer_helpers.methods.frames.read_frames` samples a clip.
Frame ``n``'s time is ``n / fps`` (the stream's frame rate from :func:`mer_helpers.core.media.probe`;
a stream whose rate is unknown is first resampled to 25 fps by FFmpeg's ``fps`` filter). A
frame whose longer side exceeds :data:`MAX_SIDE` (720) pixels is downscaled inside FFmpeg
(``scale``, area averaging, after the display rotation and after ``select``, so only the kept
frames) so that its longer side is 720: fewer bytes piped and less work for the face detector
(on a 1280x720 clip about a fifth less CPU in all). The face is still far larger than the
crop (a face filling a third of a 720-pixel frame is 240 pixels wide; crops are 96), but the
crops of such a video are no longer bit-identical to those of ``read_frames``, which crops the
full-size frame; videos up to 720 pixels are passed at their own size and their crops are.
Both pipes are read hop by hop; only the current window's samples and face crops are kept (the
raw frame is dropped as soon as it is cropped), so memory is bounded by one window whatever the
video's length. FFmpeg's messages go to an anonymous temporary file (no pipe can fill up); the
processes start at the first ``next()`` and are killed when the generator is closed, garbage
collected, or stopped by an exception (``KeyboardInterrupt`` included).

Window grid (:func:`window_grid`). Windows start at 0, ``hop_s``, 2 ``hop_s``, ... as long as
``start + window_s <= duration + tol`` (``tol`` = 0.02 s, half a frame at 25 fps, absorbs
rounding in the container's duration). A video shorter than one window gives one window
``[0, duration]``. When the part after the last full window is longer than half a hop, one more
full-length window ends at the duration (``[duration - window_s, duration]``), so the end of the
video is covered without a short window. The duration is the container's (``probe``).

Face crops. With ``face_detect`` each sampled frame goes through
:class:`mer_helpers.methods.faces.FaceTracker` (same-shot reuse, tracking near the last face, full
search), then :func:`mer_helpers.methods.faces.crop_face`. A frame without its own detection is cropped
with the last face seen earlier in the video (a whole clip in ``read_frames`` uses the nearest
frame before *or after*; a stream cannot look ahead), or centred when no face was seen yet, and
gets ``face=False``.
"""
from __future__ import annotations

import collections
import math
import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from mer_helpers.core.media import MediaError, MediaInfo, ffmpeg_exe, probe
from mer_helpers.core.progress import progress as make_bar
from mer_helpers.methods.faces import FaceTracker, cascade, crop_face

#: frames whose longer side (after rotation) exceeds this are downscaled to it inside FFmpeg
MAX_SIDE = 720
#: frame rate assumed (and imposed with FFmpeg's ``fps`` filter) when a stream does not state one
FALLBACK_FPS = 25.0
#: seconds by which a full window may overrun the container's duration (see :func:`window_grid`)
GRID_TOL = 0.02


@dataclass
class Window:
    """One window of a video (:func:`iter_windows`).

    Attributes
    ----------
    index : int
        0, 1, 2, ... in time order.
    start_s, end_s : float
        The window's span in seconds; it holds audio samples ``round(start_s * sr)`` up to (not
        including) ``round(end_s * sr)`` and the sampled frames whose time is in ``[start_s, end_s)``.
    audio : numpy.ndarray or None
        ``(n,)`` float32 mono in [-1, 1) (int16 / 32768); ``None`` when the file has no audio
        stream. Shorter than the window where the audio track ends before it.
    frames : numpy.ndarray or None
        ``(k, S, S, 3)`` uint8 RGB face crops (``S = frame_size``); ``None`` when the file has
        no video stream.
    face : numpy.ndarray or None
        ``(k,)`` bool: the frame has its own face detection (False: crop carried from the last
        face seen, centred, or ``face_detect=False``); ``None`` without a video stream.
    frame_times : numpy.ndarray or None
        ``(k,)`` float64: each frame's time in seconds (``n / fps``); ``None`` without video.
    """

    index: int
    start_s: float
    end_s: float
    audio: np.ndarray | None
    frames: np.ndarray | None
    face: np.ndarray | None
    frame_times: np.ndarray | None = None


def window_grid(duration: float, window_s: float = 3.0, hop_s: float = 1.0,
                tol: float = GRID_TOL) -> list[tuple[float, float]]:
    """The windows ``(start, end)`` in seconds that cover a video of ``duration`` seconds.

    Starts 0, ``hop_s``, 2 ``hop_s``, ... while ``start + window_s <= duration + tol``; a
    video shorter than one window gives ``[(0, duration)]``; when what follows the last full
    window is longer than ``hop_s / 2``, a last window ``(duration - window_s, duration)``.
    Times are rounded to the microsecond.

    Parameters
    ----------
    duration : float
        Length of the video (s); nothing (``[]``) when it is not positive.
    window_s, hop_s : float
        Window length and the step between window starts (s), both > 0.
    tol : float
        How far (s) a full window may end past ``duration``.

    Returns
    -------
    list of tuple
        ``(start_s, end_s)`` in time order.
    """
    if not (window_s > 0 and hop_s > 0):
        raise ValueError(f"window_s and hop_s must be > 0, got {window_s} and {hop_s}")
    if not duration > 0:
        return []
    n = int(math.floor((duration + tol - window_s) / hop_s + 1e-9)) + 1
    if n <= 0:
        return [(0.0, round(float(duration), 6))]
    grid = [(round(i * hop_s, 6), round(i * hop_s + window_s, 6)) for i in range(n)]
    if duration - grid[-1][1] > hop_s / 2:
        grid.append((round(duration - window_s, 6), round(float(duration), 6)))
    return grid


# --------------------------------------------------------------------------- readers

class _Pipe:
    """One FFmpeg process writing raw samples or frames to stdout, messages to a temporary file."""

    def __init__(self, args: list[str], what: str):
        self.what = what
        self.err = tempfile.TemporaryFile()
        self.proc = subprocess.Popen([ffmpeg_exe(), "-hide_banner", "-nostdin", "-nostats", "-v", "error", *args],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=self.err,
                                     bufsize=1 << 20)
        self.eof = False

    def read(self, nbytes: int) -> bytes:
        """Up to ``nbytes`` (fewer only at the end of the stream; then checks FFmpeg's exit)."""
        data = self.proc.stdout.read(nbytes) if nbytes > 0 else b""
        if len(data) < nbytes:
            self.eof = True
            rc = self.proc.wait()
            if rc != 0:
                raise MediaError(f"{self.what}: FFmpeg failed (exit {rc}): {self._stderr_tail()}")
        return data

    def _stderr_tail(self) -> str:
        self.err.seek(0)
        text = self.err.read().decode(errors="replace").strip()
        return " / ".join(text.splitlines()[-3:])[-300:] or "no message"

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self.err.close()


class _AudioReader:
    """The audio track as int16 samples, read window by window; keeps only the current window."""

    def __init__(self, path: str, sr: int, name: str):
        self.sr = sr
        self.pipe = _Pipe(["-i", path, "-vn", "-sn", "-dn", "-ac", "1", "-ar", str(sr), "-acodec", "pcm_s16le",
                           "-f", "s16le", "-"], f"{name}: audio")
        self.buf = np.zeros(0, dtype=np.int16)
        self.buf_start = 0  # sample index of buf[0]

    def span(self, start_s: float, end_s: float) -> np.ndarray:
        a0, a1 = int(round(start_s * self.sr)), int(round(end_s * self.sr))
        drop = min(max(0, a0 - self.buf_start), len(self.buf))
        self.buf, self.buf_start = self.buf[drop:], self.buf_start + drop
        have = self.buf_start + len(self.buf)
        if have < a1 and not self.pipe.eof:
            data = self.pipe.read(2 * (a1 - have))
            data = data[:len(data) - len(data) % 2]
            self.buf = np.concatenate([self.buf, np.frombuffer(data, dtype="<i2")])
        lo, hi = max(0, a0 - self.buf_start), max(0, a1 - self.buf_start)
        return self.buf[lo:hi].astype(np.float32) / np.float32(32768.0)


class _VideoReader:
    """Every ``frame_interval``-th frame, cropped as it arrives; keeps only the current window's crops."""

    def __init__(self, path: str, info: MediaInfo, frame_interval: int, frame_size: int, face_detect: bool,
                 name: str):

        w, h = info.width, info.height
        if round(info.rotation) % 180 == 90:
            w, h = h, w
        filters = []
        self.fps = float(info.fps) if info.fps and info.fps > 0 else FALLBACK_FPS
        if not (info.fps and info.fps > 0):
            filters.append(f"fps={FALLBACK_FPS:g}")
        filters.append(f"select=not(mod(n\\,{int(frame_interval)}))")
        if max(w, h) > MAX_SIDE:
            f = MAX_SIDE / max(w, h)
            w, h = max(1, int(round(w * f))), max(1, int(round(h * f)))
            filters.append(f"scale={w}:{h}:flags=area")
        self.width, self.height, self.k = w, h, int(frame_interval)
        self.nbytes = w * h * 3
        self.frame_size, self.tracker = int(frame_size), (FaceTracker() if face_detect else None)
        self.pipe = _Pipe(["-i", path, "-an", "-sn", "-dn", "-vf", ",".join(filters), "-fps_mode", "passthrough",
                           "-f", "rawvideo", "-pix_fmt", "rgb24", "-"], f"{name}: video")
        self.kept: collections.deque = collections.deque()  # (time, crop, own) of the current window on
        self.n_read = 0
        self.name = name

    def _next(self) -> bool:

        data = self.pipe.read(self.nbytes)
        if len(data) < self.nbytes:
            if data:
                raise MediaError(f"{self.name}: FFmpeg returned a partial frame ({len(data)} of {self.nbytes} "
                                 f"bytes of a {self.width}x{self.height} RGB frame)")
            return False
        frame = np.frombuffer(data, dtype=np.uint8).reshape(self.height, self.width, 3)
        box, own = self.tracker.step(frame) if self.tracker is not None else (None, False)
        t = self.n_read * self.k / self.fps
        self.kept.append((t, crop_face(frame, box, self.frame_size), bool(own)))
        self.n_read += 1
        return True

    def span(self, start_s: float, end_s: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        while self.kept and self.kept[0][0] < start_s:
            self.kept.popleft()
        while not self.pipe.eof and (not self.kept or self.kept[-1][0] < end_s):
            if not self._next():
                break
        inside = [item for item in self.kept if start_s <= item[0] < end_s]
        S = self.frame_size
        frames = np.stack([c for _, c, _ in inside]) if inside else np.zeros((0, S, S, 3), np.uint8)
        return (frames, np.array([o for _, _, o in inside], dtype=bool),
                np.array([t for t, _, _ in inside], dtype=np.float64))


# --------------------------------------------------------------------------- progress

def _progress_fn(progress: Any, total: float, name: str) -> tuple[Callable[[float], None] | None, Any]:
    """``(update, bar to close or None)`` for the ``progress`` argument of :func:`iter_windows`."""
    if progress is None or progress is False:
        return None, None
    if progress is True:

        bar = make_bar(total=round(float(total), 2), desc=name, unit="s", mininterval=1.0)
        return bar.update, bar
    if hasattr(progress, "update"):
        return progress.update, None
    if callable(progress):
        return progress, None
    raise TypeError(f"progress must be None, a bool, a tqdm-like object or a callable, got {type(progress).__name__}")


# --------------------------------------------------------------------------- the windows

def iter_windows(path: str | os.PathLike, window_s: float = 3.0, hop_s: float = 1.0, sr: int = 16000,
                 frame_interval: int = 5, frame_size: int = 96, face_detect: bool = True,
                 progress: Any = None) -> Iterator[Window]:
    """The windows of a video (or audio file), one at a time, decoding it once (see the module notes).

    Parameters
    ----------
    path : path-like
        Any file FFmpeg reads with an audio stream, a video stream, or both.
    window_s, hop_s : float
        Window length and step (s): defaults 3 s every 1 s; the grid is :func:`window_grid`.
    sr : int
        Audio sampling rate (Hz).
    frame_interval : int
        Keep decoded frames 0, k, 2k, ... (as :func:`mer_helpers.methods.frames.read_frames`).
    frame_size : int
        Side of the square face crops.
    face_detect : bool
        Crop around the tracked face; ``False``: centre crops, ``face`` all False.
    progress : None, bool, tqdm-like or callable
        Told the seconds of media processed after each window: an object's ``update(seconds)``
        (a tqdm bar) or ``progress(seconds)``, both with the seconds since the last call;
        ``True``: a bar of :func:`mer_helpers.core.progress.progress` (total = the duration), closed
        at the end; ``None``/``False``: nothing.

    Returns
    -------
    iterator of Window
        A generator; the file is probed now (errors raised here), FFmpeg starts at the first
        ``next()``. Close it (``generator.close()``, ``contextlib.closing``) to stop early.

    Raises
    ------
    ValueError
        Bad parameters.
    MediaError
        Naming the file: not found, unreadable, neither an audio nor a video stream, unknown
        duration; later, while iterating, when FFmpeg fails.
    """
    window_s, hop_s = float(window_s), float(hop_s)
    if not (window_s > 0 and hop_s > 0):
        raise ValueError(f"window_s and hop_s must be > 0, got {window_s} and {hop_s}")
    if int(sr) < 1 or int(frame_interval) < 1 or int(frame_size) < 8:
        raise ValueError(f"need sr >= 1, frame_interval >= 1, frame_size >= 8; got {sr}, {frame_interval}, {frame_size}")
    path = str(path)
    name = Path(path).name
    if not os.path.exists(path):
        raise MediaError(f"video {name}: file not found ({path})")
    info = probe(path)
    if not (info.has_audio or info.has_video):
        raise MediaError(f"video {name}: neither an audio nor a video stream"
                         + (f" ({'; '.join(info.errors)})" if info.errors else ""))
    if info.has_video and not (info.width and info.height):
        raise MediaError(f"video {name}: the video stream's frame size could not be read")
    if not info.duration > 0:
        raise MediaError(f"video {name}: duration unknown (the container states none)")
    if face_detect and info.has_video:

        cascade()  # fail now, with the explanatory message, rather than at the first frame
    grid = window_grid(info.duration, window_s, hop_s)
    return _windows(path, info, grid, int(sr), int(frame_interval), int(frame_size), bool(face_detect),
                    progress, name)


def _windows(path: str, info: MediaInfo, grid: list[tuple[float, float]], sr: int, frame_interval: int,
             frame_size: int, face_detect: bool, progress: Any, name: str) -> Iterator[Window]:
    update, bar = None, None
    audio = video = None
    try:
        update, bar = _progress_fn(progress, info.duration, name)
        audio = _AudioReader(path, sr, name) if info.has_audio else None
        video = (_VideoReader(path, info, frame_interval, frame_size, face_detect, name)
                 if info.has_video else None)
        done = 0.0
        for index, (start, end) in enumerate(grid):
            a = audio.span(start, end) if audio is not None else None
            frames, face, times = video.span(start, end) if video is not None else (None, None, None)
            if update is not None and end > done:
                update(end - done)
                done = end
            yield Window(index, start, end, a, frames, face, times)
    finally:
        for reader in (audio, video):
            if reader is not None:
                reader.pipe.close()
        if bar is not None:
            bar.close()
