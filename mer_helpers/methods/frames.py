"""Frame sampling for the visual branch (paper 2, Algorithm 2, lines 1-12 and 19-24).

Every ``frame_interval``-th frame of a clip is read (OpenCV ``cv2.VideoCapture``; an FFmpeg
pipe when OpenCV cannot open the file), optionally cropped to the face (OpenCV Haar cascade),
resized to a ``frame_size`` x ``frame_size`` square and scaled to RGB float32 in [0, 1].

Face crop. The cascade runs on each sampled frame; the largest face wins and is cropped as a
square with a 15 % margin on each side. A frame where no face is found takes the box of the
nearest frame of the same clip that had one (*carried*); a clip where no frame had a face is
centre-cropped (*centre*). Both fallbacks are counted per clip (:class:`FrameInfo`) so that a
notebook can report them. A frame that looks like the frame analysed just before it (mean
absolute difference of 32x32 grey thumbnails below 2 grey levels: a static shot) reuses that
detection instead of running the cascade again. The per-frame detection and the crop are
:mod:`mer_helpers.methods.faces`, which :mod:`mer_helpers.predict.stream` uses on long videos too.

Face-only frames (``face_only=True``). Summary images should show a face the detector could
read. Where a clip sweeps head poses (the paired KDEF clips turn from full left profile to full
right profile) the frontal cascade finds the face only in the frontal and near-frontal frames,
and k-means over all frames then spends clusters on profiles. With ``face_only`` only the
sampled frames where a face was detected in that very frame are passed on (``n_kept``); a clip
without any detection keeps all its frames (and is counted as centre-cropped).

Why 96 pixels by default: the papers leave the target size open (``target size`` is an input
of Algorithm 2). 96 x 96 keeps the eyes, brows and mouth of a face crop clearly readable, is
divisible by 8 (the autoencoder halves the size three times) and costs about 5x less per
autoencoder epoch than 224 x 224. The ResNet stage resizes summary images to 224 x 224 anyway.

Results are cached by the clip's bytes and the parameters (``$MER_CACHE_DIR/frames``), stored
as uint8 so a cached and a fresh read give identical arrays.
"""
from __future__ import annotations

import functools
import os
import subprocess
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np

from mer_helpers.core import cache, fileio
from mer_helpers.core.media import MediaError, ffmpeg_exe, probe
from mer_helpers.core.parallel import map_clips
from mer_helpers.methods.faces import FaceTracker, cascade, crop_face

if TYPE_CHECKING:
    import pandas as pd

#: bump when the sampling/cropping code changes what it returns (invalidates the cache)
FRAMES_VERSION = "frames-v3"


@dataclass
class FrameInfo:
    """What happened to one clip: frames decoded and sampled, and how each sample was cropped.

    ``n_face``: frames where a face was detected (``n_tracked`` of them near the previous
    frame's face, see :func:`detect_face_near`); ``n_carried``: frames that took the box of
    the nearest frame with a face; ``n_centre``: frames centre-cropped (no face anywhere in the
    clip, or ``face_detect=False``); ``backend``: ``opencv`` or ``ffmpeg``.
    """

    path: str
    n_decoded: int = 0
    n_frames: int = 0
    n_face: int = 0
    n_carried: int = 0
    n_centre: int = 0
    n_kept: int = 0
    backend: str = ""
    n_tracked: int = 0

    @property
    def face_fallback(self) -> bool:
        """True when at least one sampled frame was not cropped around its own detected face."""
        return self.n_carried + self.n_centre > 0


# --------------------------------------------------------------------------- face detection


# --------------------------------------------------------------------------- decoding

def _read_opencv(path: str, frame_interval: int) -> tuple[list[np.ndarray], int]:
    import cv2

    cap = cv2.VideoCapture(path)
    if not cap.isOpened():
        return [], 0
    frames: list[np.ndarray] = []
    count = 0
    try:
        while True:
            ok = cap.grab()
            if not ok:
                break
            if count % frame_interval == 0:
                ok, bgr = cap.retrieve()
                if ok and bgr is not None:
                    frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
            count += 1
    finally:
        cap.release()
    return frames, count


def _read_ffmpeg(path: str, frame_interval: int) -> tuple[list[np.ndarray], int]:
    info = probe(path)
    if not info.has_video or not (info.width and info.height):
        raise MediaError(f"clip {Path(path).name}: no video stream"
                         + (f" ({'; '.join(info.errors)})" if info.errors else ""))
    w, h = info.width, info.height
    vf = f"select=not(mod(n\\,{int(frame_interval)}))"
    proc = subprocess.run([ffmpeg_exe(), "-hide_banner", "-nostdin", "-v", "error", "-i", path,
                           "-vf", vf, "-fps_mode", "passthrough", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
                          capture_output=True, timeout=600)
    if proc.returncode != 0:
        raise MediaError(f"clip {Path(path).name}: FFmpeg could not decode the video: "
                         f"{proc.stderr.decode(errors='replace').strip()[-300:]}")
    data = np.frombuffer(proc.stdout, dtype=np.uint8)
    if data.size % (w * h * 3):
        w, h = h, w  # rotated stream: ffmpeg auto-rotates
        if data.size % (w * h * 3):
            raise MediaError(f"clip {Path(path).name}: FFmpeg returned {data.size} bytes, not a whole "
                             f"number of {info.width}x{info.height} RGB frames")
    frames = list(data.reshape(-1, h, w, 3))
    return frames, len(frames) * int(frame_interval)


def read_frames(path: str | os.PathLike, frame_interval: int = 5, frame_size: int = 96,
                face_detect: bool = True, return_info: bool = False, face_only: bool = False):
    """Every ``frame_interval``-th frame of ``path`` (frames 0, k, 2k, ...), cropped and resized.

    Not cached: see :func:`sample_frames`.

    Parameters
    ----------
    path : path-like
        The video clip.
    frame_interval : int
        Keep one frame in ``frame_interval``.
    frame_size : int
        Side of the square frames returned.
    face_detect : bool
        Crop around the detected (and tracked) face; ``False``: centre crop.
    return_info : bool
        Also return a :class:`FrameInfo`.
    face_only : bool
        Keep only the frames with their own detected face (see the module notes).

    Returns
    -------
    numpy.ndarray or tuple
        ``(n_frames, frame_size, frame_size, 3)`` float32 RGB in [0, 1] (multiples of 1/255:
        frames are quantised to uint8 like the cache stores them); with ``return_info``
        ``(frames, info)``.
    """
    frames_u8, info, own = _read_frames_uint8(str(path), int(frame_interval), int(frame_size), bool(face_detect))
    frames_u8 = _keep(frames_u8, own, info, face_only)
    out = frames_u8.astype(np.float32) / np.float32(255.0)
    return (out, info) if return_info else out


def _keep(frames_u8: np.ndarray, own: np.ndarray, info: FrameInfo, face_only: bool) -> np.ndarray:
    """Apply ``face_only`` (frames with their own detection, when the clip has any) and set
    ``info.n_kept``."""
    if face_only and own.any():
        frames_u8 = frames_u8[own]
    info.n_kept = int(len(frames_u8))
    return frames_u8


def _read_frames_uint8(path: str, frame_interval: int, frame_size: int,
                       face_detect: bool) -> tuple[np.ndarray, FrameInfo, np.ndarray]:
    """Frames (uint8), what happened to them, and a per-frame mask: face detected in that frame."""
    if frame_interval < 1:
        raise ValueError(f"frame_interval must be >= 1, got {frame_interval}")
    if frame_size < 8:
        raise ValueError(f"frame_size must be >= 8 pixels, got {frame_size}")
    if not os.path.exists(path):
        raise MediaError(f"clip {Path(path).name}: file not found ({path})")
    info = FrameInfo(path=path)
    raw, n_dec = _read_opencv(path, frame_interval)
    info.backend = "opencv"
    if not raw:
        raw, n_dec = _read_ffmpeg(path, frame_interval)
        info.backend = "ffmpeg"
    if not raw:
        raise MediaError(f"clip {Path(path).name}: no video frames could be read (OpenCV and FFmpeg)")
    info.n_decoded, info.n_frames = n_dec, len(raw)

    out, own = _crop_frames(raw, frame_size, face_detect, info)
    return out, info, own


def _crop_frames(raw: Sequence[np.ndarray], frame_size: int, face_detect: bool,
                 info: FrameInfo) -> tuple[np.ndarray, np.ndarray]:
    """Crop a clip's sampled frames (:class:`FaceTracker`, then :func:`crop_face`), counting in
    ``info`` (``n_face``, ``n_tracked``, ``n_carried``, ``n_centre``); also the mask of frames with
    their own detection. A frame without one takes the box of the *nearest* frame of the clip that
    had one (before or after it), which a whole clip in memory allows."""
    boxes: list[tuple[int, int, int, int] | None] = [None] * len(raw)
    if face_detect:
        tracker = FaceTracker()
        for i, f in enumerate(raw):
            box, own = tracker.step(f)
            boxes[i] = box if own else None
        info.n_tracked += tracker.n_tracked
    found = [i for i, b in enumerate(boxes) if b is not None]
    out = np.empty((len(raw), frame_size, frame_size, 3), dtype=np.uint8)
    for i, frame in enumerate(raw):
        if boxes[i] is not None:
            info.n_face += 1
            box = boxes[i]
        elif found:
            info.n_carried += 1
            box = boxes[min(found, key=lambda j: abs(j - i))]
        else:
            info.n_centre += 1
            box = None
        out[i] = crop_face(frame, box, frame_size)
    own = np.array([b is not None for b in boxes], dtype=bool)
    return out, own


def crop_images(raw: Sequence[np.ndarray], frame_size: int = 96, face_detect: bool = True,
                face_only: bool = False) -> np.ndarray:
    """Frames already decoded (e.g. still images letterboxed into a clip's frame) cropped and kept
    exactly as :func:`sample_frames` crops and keeps a clip's sampled frames:
    ``(n, frame_size, frame_size, 3)`` uint8."""
    info = FrameInfo(path="")
    out, own = _crop_frames(list(raw), int(frame_size), bool(face_detect), info)
    return _keep(out, own, info, bool(face_only))


# --------------------------------------------------------------------------- cached, one task per clip

def _cache_key(path: str, frame_interval: int, frame_size: int, face_detect: bool) -> str:
    return cache.make_key("frames", files=[path], version=FRAMES_VERSION, frame_interval=int(frame_interval),
                          frame_size=int(frame_size), face_detect=bool(face_detect))


def _load_cached(path: str, frame_interval: int, frame_size: int,
                 face_detect: bool) -> tuple[np.ndarray, np.ndarray, FrameInfo]:
    """One clip from the frame cache (sampled and stored first on a miss): all its sampled
    uint8 frames, the mask of frames with their own detected face, and its :class:`FrameInfo`."""
    import cv2

    cv2.setNumThreads(1)
    key = _cache_key(path, frame_interval, frame_size, face_detect)

    def compute():
        fr, inf, own = _read_frames_uint8(path, frame_interval, frame_size, face_detect)
        counts = np.array([inf.n_decoded, inf.n_frames, inf.n_face, inf.n_carried, inf.n_centre, inf.n_tracked])
        return {"frames": fr, "counts": counts, "backend": np.array(inf.backend), "face": own}

    arrays = cache.cached_arrays("frames", key, compute)
    c = [int(v) for v in arrays["counts"]]
    info = FrameInfo(path=path, n_decoded=c[0], n_frames=c[1], n_face=c[2], n_carried=c[3],
                     n_centre=c[4], backend=str(arrays["backend"]), n_tracked=c[5] if len(c) > 5 else 0)
    return arrays["frames"], np.asarray(arrays["face"], bool), info


def _sample_cached(path: str, frame_interval: int, frame_size: int, face_detect: bool,
                   face_only: bool = False) -> tuple[np.ndarray, FrameInfo]:
    frames_u8, own, info = _load_cached(path, frame_interval, frame_size, face_detect)
    return _keep(frames_u8, own, info, face_only), info


def _sample_to_cache(path: str, args: tuple[int, int, bool]) -> FrameInfo:
    """One task of :func:`sample_clips`: sample ``path`` into the frame cache, return its info."""
    return _sample_cached(path, *args)[1]


def sample_frames(path: str | os.PathLike, frame_interval: int = 5, frame_size: int = 96,
                  face_detect: bool = True, dtype: str = "float32", return_info: bool = False,
                  face_only: bool = False):
    """Cached :func:`read_frames`, keyed by the clip's bytes and the three crop parameters
    (``face_only`` is applied after the cache, so both settings share one entry).

    Parameters
    ----------
    path : path-like
        The video clip.
    frame_interval, frame_size, face_detect : int, int, bool
        As for :func:`read_frames`; they make the cache key.
    dtype : {"float32", "uint8"}
        float32 in [0, 1] or the cached uint8 values.
    return_info : bool
        Also return the :class:`FrameInfo`.
    face_only : bool
        Keep only frames with their own detected face.

    Returns
    -------
    numpy.ndarray or tuple
        ``(n_frames, S, S, 3)`` frames, or ``(frames, info)``.
    """
    fr, info = _sample_cached(str(path), int(frame_interval), int(frame_size), bool(face_detect), bool(face_only))
    fr = _as_dtype(fr, dtype)
    return (fr, info) if return_info else fr


def _as_dtype(frames_u8: np.ndarray, dtype: str) -> np.ndarray:
    if dtype == "uint8":
        return frames_u8
    if dtype == "float32":
        return frames_u8.astype(np.float32) / np.float32(255.0)
    raise ValueError(f"dtype must be 'float32' or 'uint8', got {dtype!r}")


def _fill_cache(paths: list[str], args: tuple[int, int, bool], n_jobs: int, progress: bool) -> None:
    """Sample every clip into the frame cache, one task per clip (:func:`mer_helpers.core.parallel.map_clips`);
    the tasks return only the small :class:`FrameInfo`."""

    if args[2]:
        cascade()  # fail early, in this process, with the explanatory message
    map_clips(functools.partial(_sample_to_cache, args=args), paths, desc="frames",
              progress=progress, n_jobs=n_jobs)


def _report(infos: Sequence[FrameInfo], ids: Sequence[str] | None):
    """One :class:`FrameInfo` row per clip (column ``clip_id`` first when ``ids`` is given)."""
    import pandas as pd

    report = pd.DataFrame([asdict(inf) for inf in infos])
    if ids is not None:
        report.insert(0, "clip_id", [str(c) for c in ids])
    return report


def sample_clips(paths: Sequence[str | os.PathLike], frame_interval: int = 5, frame_size: int = 96,
                 face_detect: bool = True, n_jobs: int = 2, dtype: str = "float32",
                 progress: bool = True, ids: Sequence[str] | None = None, face_only: bool = False):
    """:func:`sample_frames` for many clips, one task per clip (:func:`mer_helpers.core.parallel.map_clips`:
    Dask workers, or ``n_jobs`` processes without Dask), with progress.

    Returns ``(frames, report)``: a list with one ``(n_i, S, S, 3)`` array per clip (in the
    order of ``paths``) and a DataFrame with one :class:`FrameInfo` row per clip (column
    ``clip_id`` when ``ids`` is given). Use ``dtype="uint8"`` to keep many clips in memory
    (4x smaller); :mod:`mer_helpers.methods.summary` accepts both. ``face_only``: see :func:`read_frames`.
    Every clip's frames are in memory at once: for a whole corpus use :func:`sample_stream`.
    """
    paths = [str(p) for p in paths]
    args = (int(frame_interval), int(frame_size), bool(face_detect))
    # the tasks (Dask workers, or here) decode, crop and write the cache; the frames are then
    # read back from the cache here
    _fill_cache(paths, args, n_jobs, progress)
    results = [_sample_cached(p, *args, bool(face_only)) for p in paths]
    frames = [_as_dtype(fr, dtype) for fr, _ in results]
    return frames, _report([inf for _, inf in results], ids)


def face_rate(artifacts: str | os.PathLike, clip_ids: Sequence[str]) -> dict:
    """The share of ``clip_ids`` in which the face detector found a face, from the frame report
    notebook 03 writes (``summary/frames.csv``).

    Parameters
    ----------
    artifacts : path-like
        ``OUT/artifacts``.
    clip_ids : sequence of str

    Returns
    -------
    dict
        ``{"clips_with_face": float, "n_clips": int}`` (``clips_with_face`` is ``None`` when no
        clip is in the report).
    """
    import pandas as pd

    report = pd.read_csv(Path(artifacts) / "summary" / "frames.csv", dtype={"clip_id": str})
    rows = report[report["clip_id"].isin({str(c) for c in clip_ids})]
    rate = float((rows["n_face"] > 0).mean()) if len(rows) else None
    return {"clips_with_face": rate, "n_clips": int(len(rows))}


class FrameStore(Mapping):
    """Clip id -> its sampled uint8 frames, read from the frame cache on each access.

    Nothing is kept in memory but the clips' paths and frame counts, so passing it where a
    ``{clip id: frames}`` dict is expected streams the clips one at a time (each access is a
    cache read; a clip missing from the cache is sampled again). Made by :func:`sample_stream`.

    Parameters
    ----------
    paths : mapping
        Clip id -> clip path, in the order of iteration.
    frame_interval, frame_size, face_detect : int, int, bool
        The sampling parameters (the cache key).
    face_only : bool
        Return only the frames with their own detected face (see :func:`read_frames`).
    lengths : mapping, optional
        Clip id -> number of frames returned (``n_kept`` of the report): lets a consumer plan
        without reading frames (:func:`mer_helpers.methods.summary.clip_lengths`).
    """

    def __init__(self, paths: Mapping[str, str], frame_interval: int, frame_size: int, face_detect: bool,
                 face_only: bool = False, lengths: Mapping[str, int] | None = None):
        self._paths = {str(c): str(p) for c, p in paths.items()}
        self._args = (int(frame_interval), int(frame_size), bool(face_detect), bool(face_only))
        self.lengths = None if lengths is None else {str(c): int(n) for c, n in lengths.items()}

    def __getitem__(self, clip_id: str) -> np.ndarray:
        return _sample_cached(self._paths[str(clip_id)], *self._args)[0]

    def __contains__(self, clip_id) -> bool:  # Mapping's default would read the clip
        return str(clip_id) in self._paths

    def __iter__(self):
        return iter(self._paths)

    def __len__(self) -> int:
        return len(self._paths)


@dataclass
class SampledClips:
    """What :func:`sample_stream` keeps: small per clip."""

    report: pd.DataFrame  # one FrameInfo row per clip, clip_id first
    grey: np.ndarray  # (n_clips, grey_size ** 2) float64: grey_means of each clip's face-only frames
    store: FrameStore  # clip id -> frames, read from the cache on access


def _stream_one(path: str, args: tuple[int, int, bool], face_only: bool, grey_size: int) -> tuple[FrameInfo, np.ndarray]:
    """One clip of :func:`sample_stream`: its info (``n_kept`` for ``face_only``) and grey thumbnail
    mean; its frames are dropped on return."""
    frames_u8, own, info = _load_cached(path, *args)
    grey = grey_means([_keep(frames_u8, own, FrameInfo(path), True)], grey_size)[0]
    _keep(frames_u8, own, info, face_only)
    return info, grey


def sample_stream(paths: Sequence[str | os.PathLike], ids: Sequence[str], frame_interval: int = 5,
                  frame_size: int = 96, face_detect: bool = True, n_jobs: int = 2, face_only: bool = False,
                  grey_size: int = 32, progress: bool = True) -> SampledClips:
    """:func:`sample_clips` for a whole corpus: the frames stream through the cache, one clip at a time.

    The clips are sampled into the frame cache (one task per clip, as :func:`sample_clips`);
    then each clip is read back once, its :class:`FrameInfo` row and the :func:`grey_means` of
    its face-only frames are kept, and its frames are dropped. Later passes read the frames
    again from the cache through the returned :class:`FrameStore`. Memory: a report row and
    ``grey_size ** 2`` float64 values (8 KB at 32) per clip, never the frames of more than one clip.

    Parameters
    ----------
    paths : sequence of path
        The clips.
    ids : sequence of str
        One id per clip (the report's ``clip_id`` and the store's keys).
    frame_interval, frame_size, face_detect : int, int, bool
        As for :func:`read_frames`.
    n_jobs : int
        Worker processes without Dask.
    face_only : bool
        What the store returns and the report's ``n_kept`` count (the grey thumbnails always use
        the face-only frames).
    grey_size : int
        Side of the grey thumbnails (:func:`write_grey_pixels`).
    progress : bool
        Show the sampling progress bar.

    Returns
    -------
    SampledClips
        ``report`` (as :func:`sample_clips`' with ``ids``), ``grey`` and ``store``; the same
        values as :func:`sample_clips` and :func:`grey_means` over all clips at once.
    """
    paths, ids = [str(p) for p in paths], [str(c) for c in ids]
    if len(paths) != len(ids):
        raise ValueError(f"{len(paths)} paths but {len(ids)} ids")
    args = (int(frame_interval), int(frame_size), bool(face_detect))
    _fill_cache(paths, args, n_jobs, progress)
    infos, grey = [], np.empty((len(paths), int(grey_size) ** 2))
    for i, p in enumerate(paths):
        info, grey[i] = _stream_one(p, args, bool(face_only), int(grey_size))
        infos.append(info)
    report = _report(infos, ids)
    store = FrameStore(dict(zip(ids, paths)), *args, face_only=bool(face_only),
                       lengths=dict(zip(ids, report["n_kept"])))
    return SampledClips(report, grey, store)


# --------------------------------------------------------------------------- notebooks 00 and 03

def frames_at(path: str | os.PathLike, fractions: Sequence[float] = (0.1, 0.5, 0.9)) -> list[np.ndarray | None]:
    """Full-size RGB frames of ``path`` at the given fractions of its length (for figures).

    Parameters
    ----------
    path : path
        A video clip.
    fractions : sequence of float
        Positions in [0, 1]; frame ``min(n - 1, int(f * n))`` of the ``n`` decoded frames.

    Returns
    -------
    list
        One ``(H, W, 3)`` uint8 RGB array per fraction, or None each when no frame decodes.

    Notes
    -----
    Two passes with OpenCV: the first counts the frames (``grab`` only; the container's frame
    count can be wrong), the second converts only the frames wanted, so a long clip is never
    held in memory.
    """
    import cv2

    def frames_of(want=None):
        cap = cv2.VideoCapture(str(path))
        got, count = {}, 0
        try:
            while cap.isOpened() and cap.grab():
                if want is not None and count in want:
                    ok, bgr = cap.retrieve()
                    got[count] = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB) if ok and bgr is not None else None
                count += 1
        finally:
            cap.release()
        return got, count

    _, n = frames_of()
    index = [min(n - 1, int(f * n)) for f in fractions]
    got = frames_of(set(index))[0] if n else {}
    return [got.get(i) for i in index]


#: ``OUT/artifacts/<this>``: each clip's face-only frames as mean grey thumbnails (notebook 03),
#: the pixel features of :func:`mer_helpers.stages.results.plain_feature_references`
GREY_PIXELS = "summary/grey_pixels.npz"


def grey_means(clips: Sequence[np.ndarray], size: int = 32) -> np.ndarray:
    """Each clip's frames as ``size`` x ``size`` grey pixels in [0, 1], averaged over the clip.

    Parameters
    ----------
    clips : sequence of arrays
        One ``(n_i, S, S, 3)`` uint8 RGB array per clip (as :func:`sample_clips` returns them).
    size : int
        Side of the thumbnail (``cv2.INTER_AREA`` resize).

    Returns
    -------
    ndarray
        ``(n_clips, size * size)`` float64.
    """
    import cv2

    return np.array([np.mean([cv2.resize(cv2.cvtColor(f, cv2.COLOR_RGB2GRAY), (size, size),
                                         interpolation=cv2.INTER_AREA).ravel() / 255.0 for f in clip], axis=0)
                     for clip in clips])


def write_grey_pixels(artifacts: str | os.PathLike, clip_ids: Sequence[str], X: np.ndarray,
                      size: int = 32) -> Path:
    """Write :data:`GREY_PIXELS` under ``artifacts``: each clip's face-only frames as :func:`grey_means`
    (``SampledClips.grey`` of :func:`sample_stream`, or ``grey_means(clips, size)``).

    Parameters
    ----------
    artifacts : path
        ``OUT/artifacts``.
    clip_ids : sequence of str
        One id per row of ``X``.
    X : ndarray
        ``(n_clips, size * size)``: :func:`grey_means` of each clip's face-only frames.
    size : int
        Thumbnail side.

    Returns
    -------
    Path
        The file written.
    """

    return fileio.save_npz(Path(artifacts) / GREY_PIXELS, clip_ids=np.asarray([str(c) for c in clip_ids]),
                       X=np.asarray(X), size=np.int64(size))


def load_grey_pixels(artifacts: str | os.PathLike, clip_ids: Sequence[str], size: int = 32) -> np.ndarray:
    """Read :data:`GREY_PIXELS`: the rows of ``clip_ids``, in that order.

    Parameters
    ----------
    artifacts : path
        ``OUT/artifacts``.
    clip_ids : sequence of str
        The clips wanted.
    size : int
        The thumbnail side expected.

    Returns
    -------
    ndarray
        ``(len(clip_ids), size * size)`` float64.

    Raises
    ------
    FileNotFoundError
        The file is missing (written by notebook 03).
    ValueError
        Another thumbnail size, or a clip without a row.
    """
    path = Path(artifacts) / GREY_PIXELS
    if not path.exists():
        raise FileNotFoundError(f"{path}: not found; it is written by notebook 03 (rerun 03 onwards)")
    with np.load(path, allow_pickle=False) as z:
        ids, X, stored = z["clip_ids"].astype(str), z["X"], int(z["size"])
    if stored != size:
        raise ValueError(f"{path}: {stored} x {stored} thumbnails, not {size} x {size}")
    row = {c: i for i, c in enumerate(ids)}
    missing = [c for c in clip_ids if str(c) not in row]
    if missing:
        raise ValueError(f"{path}: no row for {len(missing)} clip(s), e.g. {missing[:3]}; rerun notebook 03")
    return X[[row[str(c)] for c in clip_ids]]
