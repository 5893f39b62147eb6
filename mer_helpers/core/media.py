"""FFmpeg plumbing: locate the binary, probe a clip, extract audio, write a clip.

The system ``ffmpeg`` is used when it is on ``PATH``; otherwise the binary shipped in the
``imageio-ffmpeg`` wheel. ``ffprobe`` is optional: without it :func:`probe` reads the header
that ``ffmpeg -i`` prints.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np


class MediaError(RuntimeError):
    """A clip could not be read or written; the message names the file and the reason."""


@lru_cache(maxsize=1)
def ffmpeg_exe() -> str:
    """Path of the ``ffmpeg`` binary: ``$MER_FFMPEG``, then the system's, then imageio-ffmpeg's.

    Returns
    -------
    str
        The executable.

    Raises
    ------
    MediaError
        When there is no ffmpeg and imageio-ffmpeg is not installed.
    """
    exe = os.environ.get("MER_FFMPEG") or shutil.which("ffmpeg")
    if exe:
        return exe
    try:
        import imageio_ffmpeg
    except ImportError as e:  # pragma: no cover - dependency of the package
        raise MediaError("no ffmpeg on PATH and imageio-ffmpeg is not installed: "
                         "install ffmpeg or `pip install imageio-ffmpeg`") from e
    return imageio_ffmpeg.get_ffmpeg_exe()


@dataclass
class MediaInfo:
    """What a probe learnt about a clip. ``duration`` in seconds, ``fps`` frames/s; ``rotation``:
    the display rotation in degrees that FFmpeg applies when it decodes (``width`` and ``height``
    are the stored, unrotated size)."""

    path: str
    duration: float = 0.0
    has_video: bool = False
    has_audio: bool = False
    width: int = 0
    height: int = 0
    fps: float = 0.0
    audio_rate: int = 0
    audio_channels: int = 0
    errors: list[str] = field(default_factory=list)
    rotation: float = 0.0


_DUR = re.compile(r"Duration:\s*(\d+):(\d+):(\d+(?:\.\d+)?)")
_VID = re.compile(r"Stream #\S+.*?: Video: .*?(\d{2,5})x(\d{2,5})")
_FPS = re.compile(r"(\d+(?:\.\d+)?) (?:fps|tbr)")
_ROT = re.compile(r"(?:rotation of (-?\d+(?:\.\d+)?) degrees|^\s*rotate\s*:\s*(-?\d+))", re.I)
_AUD = re.compile(r"Stream #\S+.*?: Audio: .*?(\d+) Hz(?:, ([^,]+))?")


def probe(path: str | os.PathLike, decode: bool = False, timeout: float = 60) -> MediaInfo:
    """Read a clip's streams and duration with FFmpeg.

    With ``decode=True`` the whole file is also decoded (``-v error``), which catches truncated
    or corrupt streams whose header still looks fine; decode errors go to ``info.errors``.

    Parameters
    ----------
    path : path-like
        The clip (any container FFmpeg reads).
    decode : bool
        Also decode every stream (slower, finds damage past the header).
    timeout : float
        Seconds each FFmpeg call may take.

    Returns
    -------
    MediaInfo
        Streams, size, rate and duration; problems (missing, empty, unreadable) in ``errors``
        rather than raised.
    """
    path = str(path)
    info = MediaInfo(path=path)
    if not os.path.exists(path):
        info.errors.append("file not found")
        return info
    if os.path.getsize(path) == 0:
        info.errors.append("empty file (0 bytes)")
        return info
    proc = subprocess.run([ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", path],
                          capture_output=True, text=True, errors="replace", timeout=timeout)
    text = proc.stderr
    m = _DUR.search(text)
    if m:
        h, mi, s = m.groups()
        info.duration = int(h) * 3600 + int(mi) * 60 + float(s)
    for line in text.splitlines():
        mr = _ROT.search(line)
        if mr and info.has_video and not info.rotation:
            info.rotation = float(mr.group(1) or mr.group(2))
        if ": Video:" in line and "attached pic" not in line:
            info.has_video = True
            mv = re.search(r"(\d{2,5})x(\d{2,5})", line)
            if mv:
                info.width, info.height = int(mv.group(1)), int(mv.group(2))
            mf = _FPS.search(line)
            if mf:
                info.fps = float(mf.group(1))
        elif ": Audio:" in line:
            info.has_audio = True
            ma = re.search(r"(\d+) Hz(?:, ([^,]+))?", line)
            if ma:
                info.audio_rate = int(ma.group(1))
                layout = (ma.group(2) or "").strip()
                info.audio_channels = {"mono": 1, "stereo": 2}.get(layout, 0)
    if not (info.has_video or info.has_audio):
        reason = _first_error(text) or "no audio or video stream found"
        info.errors.append(reason)
        return info
    if decode:
        dec = subprocess.run([ffmpeg_exe(), "-hide_banner", "-nostdin", "-v", "error", "-i", path,
                              "-f", "null", "-"], capture_output=True, text=True, errors="replace",
                             timeout=timeout)
        msg = dec.stderr.strip()
        if dec.returncode != 0 or msg:
            info.errors.append("decode error: " + (_first_error(msg) or msg[:200] or f"exit {dec.returncode}"))
    return info


def _first_error(text: str) -> str:
    for line in text.splitlines():
        low = line.lower()
        if any(w in low for w in ("invalid data", "moov atom", "error", "could not", "no such file",
                                   "truncat", "corrupt", "end of file")):
            return line.strip()[:200]
    return ""


def run_ffmpeg(args: list[str], what: str, timeout: float = 600) -> None:
    """Run ``ffmpeg args...`` quietly (overwriting outputs).

    Parameters
    ----------
    args : list of str
        FFmpeg's arguments after the global options.
    what : str
        Named in the error message (e.g. ``clip a.mp4``).
    timeout : float
        Seconds before ``subprocess.TimeoutExpired``.

    Returns
    -------
    None

    Raises
    ------
    MediaError
        Naming ``what`` and the end of FFmpeg's stderr on a non-zero exit.
    """
    proc = subprocess.run([ffmpeg_exe(), "-hide_banner", "-nostdin", "-y", "-v", "error", *args],
                          capture_output=True, text=True, errors="replace", timeout=timeout)
    if proc.returncode != 0:
        raise MediaError(f"{what}: ffmpeg failed: {proc.stderr.strip()[-400:]}")


def extract_audio(path: str | os.PathLike, out_wav: str | os.PathLike, sr: int | None = 16000) -> Path:
    """Audio track of ``path`` → mono 16-bit WAV at ``sr`` Hz (``None``: keep the native rate).

    Parameters
    ----------
    path : path-like
        A video or audio clip.
    out_wav : path-like
        The WAV written (overwritten).
    sr : int or None
        Sample rate of the WAV.

    Returns
    -------
    pathlib.Path
        ``out_wav``.
    """
    args = ["-i", str(path), "-vn", "-ac", "1", "-acodec", "pcm_s16le"]
    if sr:
        args += ["-ar", str(int(sr))]
    run_ffmpeg(args + ["-f", "wav", str(out_wav)], what=f"clip {Path(path).name}")
    return Path(out_wav)


def load_audio(path: str | os.PathLike, sr: int | None = 16000) -> tuple[np.ndarray, int]:
    """Decode any audio or video file to a mono float32 signal in [-1, 1] and its rate.

    Parameters
    ----------
    path : path-like
        The clip to decode.
    sr : int or None
        Resample to this rate; ``None``: the file's own rate (16 kHz when it cannot be probed).

    Returns
    -------
    tuple
        ``(signal, sr)``: float32 ``(n,)`` and the rate in Hz.
    """
    if sr is None:
        sr = probe(path).audio_rate or 16000
    proc = subprocess.run([ffmpeg_exe(), "-hide_banner", "-nostdin", "-v", "error", "-i", str(path),
                           "-vn", "-ac", "1", "-ar", str(int(sr)), "-f", "f32le", "-"],
                          capture_output=True, timeout=600)
    if proc.returncode != 0:
        raise MediaError(f"clip {Path(path).name}: cannot decode audio: "
                         f"{proc.stderr.decode(errors='replace').strip()[-300:]}")
    return np.frombuffer(proc.stdout, dtype=np.float32).copy(), int(sr)


def write_clip(out_path: str | os.PathLike, frames: np.ndarray, fps: float,
               audio: np.ndarray | None = None, sr: int = 16000, crf: int = 28) -> Path:
    """Encode ``frames`` and an optional mono ``audio`` track into an H.264/AAC mp4.

    Parameters
    ----------
    out_path : path-like
        The mp4 (parent folders created).
    frames : numpy.ndarray
        ``(n, H, W, 3)`` uint8 RGB; H and W are cut to even numbers.
    fps : float
        Frame rate.
    audio : numpy.ndarray, optional
        Float samples in [-1, 1]; the clip ends with the shorter stream.
    sr : int
        Rate of ``audio``.
    crf : int
        x264 quality (lower: better, larger).

    Returns
    -------
    pathlib.Path
        ``out_path``.
    """
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"frames must be (n, H, W, 3) uint8, got {frames.shape} {frames.dtype}")
    n, h, w, _ = frames.shape
    h2, w2 = h - h % 2, w - w % 2
    frames = np.ascontiguousarray(frames[:, :h2, :w2])
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    import tempfile

    with tempfile.TemporaryDirectory() as td:
        raw = Path(td) / "video.rgb"
        frames.tofile(raw)
        args = ["-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w2}x{h2}", "-r", str(fps), "-i", str(raw)]
        if audio is not None:
            pcm = Path(td) / "audio.f32"
            np.asarray(audio, dtype=np.float32).tofile(pcm)
            args += ["-f", "f32le", "-ar", str(int(sr)), "-ac", "1", "-i", str(pcm)]
        args += ["-c:v", "libx264", "-preset", "veryfast", "-crf", str(crf), "-pix_fmt", "yuv420p"]
        if audio is not None:
            args += ["-c:a", "aac", "-b:a", "64k", "-shortest"]
        args += ["-movflags", "+faststart", str(out_path)]
        run_ffmpeg(args, what=f"writing {out_path.name}")
    return out_path
