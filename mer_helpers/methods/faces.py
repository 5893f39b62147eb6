"""Finding the face in a frame: OpenCV's Haar cascade, tracking between frames, the square crop.

The cascade runs on a frame scaled to at most 240 pixels a side; the largest face wins and is
cropped as a square with a 15 % margin on each side (:func:`square_box`, :func:`crop_face`).
:class:`FaceTracker` runs it over a clip's frames in order: a frame that looks like the one
analysed just before (a static shot) reuses that detection, and once a face is found it is
looked for near its last place first (:func:`detect_face_near`). Frame sampling
(:mod:`mer_helpers.methods.frames`) and long videos (:mod:`mer_helpers.predict.stream`) both use it.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

FACE_MARGIN = 0.15
_DETECT_MAX_SIDE = 240
#: tracking (:func:`detect_face_near`): the face is scaled to about this many pixels wide
_TRACK_FACE_PX = 48.0
#: a sampled frame whose 32x32 grey thumbnail differs from the last detected one by less than
#: this mean absolute grey level reuses that detection (static shots: one detection per shot)
_SAME_SHOT = 2.0

__all__ = ["FACE_MARGIN", "haar_cascade_path", "cascade", "detect_face", "detect_face_near", "square_box",
           "crop_face", "FaceTracker"]


def haar_cascade_path() -> Path:
    """Path of OpenCV's frontal-face Haar cascade (shipped in opencv-python-headless < 5).

    Returns
    -------
    pathlib.Path
        ``haarcascade_frontalface_default.xml`` in ``cv2.data.haarcascades`` (not checked to exist).

    Raises
    ------
    FileNotFoundError
        When this OpenCV build has no ``cv2.data.haarcascades`` folder.
    """
    import cv2

    base = getattr(getattr(cv2, "data", None), "haarcascades", None)
    if not base:
        raise FileNotFoundError(
            "OpenCV has no cv2.data.haarcascades folder (the Haar cascade files ship with the "
            "opencv-python-headless<5 wheel): reinstall it with `pip install "
            "'opencv-python-headless<5'`, or run with -p face_detect false (centre crop).")
    return Path(base) / "haarcascade_frontalface_default.xml"


@lru_cache(maxsize=1)
def cascade():
    import cv2

    path = haar_cascade_path()
    if not path.exists():
        raise FileNotFoundError(
            f"face detection: the Haar cascade file {path} is missing (it ships with the "
            "opencv-python-headless<5 wheel): reinstall it, or run with -p face_detect false "
            "(centre crop instead of face crop).")
    clf = cv2.CascadeClassifier(str(path))
    if clf.empty():
        raise RuntimeError(f"face detection: OpenCV could not load the Haar cascade {path} "
                           "(corrupt file?); reinstall opencv-python-headless<5 or use -p face_detect false")
    return clf


def detect_face(frame_rgb: np.ndarray) -> tuple[int, int, int, int] | None:
    """Largest frontal face in an RGB uint8 frame, searched over the whole frame.

    The frame is shrunk so its longer side is at most 240 pixels; faces smaller
    than 15 % of the shorter side (at least 20 pixels) are ignored.

    Parameters
    ----------
    frame_rgb : numpy.ndarray
        ``(H, W, 3)`` uint8 RGB.

    Returns
    -------
    tuple of int or None
        ``(x, y, w, h)`` in the frame's pixels, or ``None`` when no face is found.
    """
    h, w = frame_rgb.shape[:2]
    scale = min(1.0, _DETECT_MAX_SIDE / max(h, w))
    grey = _grey(frame_rgb, scale)
    min_side = max(20, int(0.15 * min(grey.shape[:2])))
    return _largest_face(grey, scale, (0, 0), min_side)


def _grey(rgb: np.ndarray, scale: float) -> np.ndarray:
    """Grey copy of ``rgb`` shrunk by ``scale`` (<= 1), as the cascade reads it."""
    import cv2

    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    if scale < 1.0:
        h, w = grey.shape
        grey = cv2.resize(grey, (max(1, int(round(w * scale))), max(1, int(round(h * scale)))),
                          interpolation=cv2.INTER_AREA)
    return grey


def _largest_face(grey: np.ndarray, scale: float, origin: tuple[int, int], min_side: int,
                  max_side: int | None = None) -> tuple[int, int, int, int] | None:
    """The cascade's largest face in ``grey`` (a region at ``origin`` of the frame, shrunk by
    ``scale``), as ``(x, y, w, h)`` in frame pixels; ``None`` when there is none."""
    import cv2

    kw = {"maxSize": (max_side, max_side)} if max_side else {}
    faces = cascade().detectMultiScale(cv2.equalizeHist(grey), scaleFactor=1.1, minNeighbors=5,
                                        minSize=(min_side, min_side), **kw)
    if len(faces) == 0:
        return None
    x, y, fw, fh = max(faces, key=lambda f: f[2] * f[3])
    return (int(origin[0] + x / scale), int(origin[1] + y / scale), int(fw / scale), int(fh / scale))


def detect_face_near(frame_rgb: np.ndarray, box: tuple[int, int, int, int],
                     search: float = 0.5) -> tuple[int, int, int, int] | None:
    """Track a face: look for it only around ``box`` (the previous frame's face), at a size
    between 0.7 and 1.4 times it.

    The search window is ``box`` grown by ``search`` times its size on each side and scaled so
    the face is about 48 pixels wide: a handful of cascade scales over a small image instead of
    the whole frame (about 5-10x cheaper).

    Parameters
    ----------
    frame_rgb : numpy.ndarray
        ``(H, W, 3)`` uint8 RGB.
    box : tuple of int
        The previous face ``(x, y, w, h)``.
    search : float
        Margin of the search window, in face sizes.

    Returns
    -------
    tuple of int or None
        The face ``(x, y, w, h)`` in frame pixels; ``None`` when it is not there (the caller
        then searches the whole frame).
    """
    H, W = frame_rgb.shape[:2]
    x, y, bw, bh = box
    side = max(bw, bh)
    x0, y0 = max(0, int(x - search * side)), max(0, int(y - search * side))
    x1, y1 = min(W, int(x + bw + search * side)), min(H, int(y + bh + search * side))
    if x1 - x0 < 24 or y1 - y0 < 24:
        return None
    scale = min(1.0, _TRACK_FACE_PX / float(side))
    roi = _grey(frame_rgb[y0:y1, x0:x1], scale)
    lo, hi = max(20, int(0.7 * side * scale)), max(21, int(1.4 * side * scale))
    return _largest_face(roi, scale, (x0, y0), lo, hi)


def square_box(box: tuple[int, int, int, int] | None, height: int, width: int,
               margin: float = FACE_MARGIN) -> tuple[int, int, int]:
    """Square crop ``(x0, y0, side)`` inside a ``height`` x ``width`` image.

    Parameters
    ----------
    box : tuple of int or None
        A face ``(x, y, w, h)``; ``None``: the largest centred square.
    height, width : int
        The image's size.
    margin : float
        Added on each side of the face, as a fraction of its larger side.

    Returns
    -------
    tuple of int
        ``(x0, y0, side)``, the square kept inside the image.
    """
    if box is None:
        side = min(height, width)
        return (width - side) // 2, (height - side) // 2, side
    x, y, w, h = box
    cx, cy = x + w / 2.0, y + h / 2.0
    side = int(round(max(w, h) * (1 + 2 * margin)))
    side = max(1, min(side, height, width))
    x0 = int(round(cx - side / 2.0))
    y0 = int(round(cy - side / 2.0))
    x0 = min(max(0, x0), width - side)
    y0 = min(max(0, y0), height - side)
    return x0, y0, side


def crop_face(frame: np.ndarray, box: tuple[int, int, int, int] | None, frame_size: int) -> np.ndarray:
    """The square around ``box`` (:func:`square_box`, 15 % margin; ``None``: the centre square)
    resized to ``frame_size`` x ``frame_size`` (``INTER_AREA`` when shrinking, else ``INTER_LINEAR``).

    Parameters
    ----------
    frame : numpy.ndarray
        ``(H, W, 3)`` uint8 RGB.
    box : tuple of int or None
        A face ``(x, y, w, h)`` in the frame's pixels.
    frame_size : int
        Side of the crop returned.

    Returns
    -------
    numpy.ndarray
        ``(frame_size, frame_size, 3)`` uint8.
    """
    import cv2

    h, w = frame.shape[:2]
    x0, y0, side = square_box(box, h, w)
    crop = frame[y0:y0 + side, x0:x0 + side]
    interp = cv2.INTER_AREA if side >= frame_size else cv2.INTER_LINEAR
    return cv2.resize(crop, (frame_size, frame_size), interpolation=interp)


class FaceTracker:
    """The face of one shot after another: feed the sampled frames of a video in order to :meth:`step`.

    Per frame: when its 32x32 grey thumbnail differs from that of the frame last analysed by
    less than ``_SAME_SHOT`` grey levels (a static shot) that frame's result is reused (no
    cascade); otherwise the face is looked for around the last face seen
    (:func:`detect_face_near`, counted in ``n_tracked``) and, failing that, over the whole
    frame (:func:`detect_face`).

    Attributes
    ----------
    last_seen : tuple of int or None
        The last face found, in any earlier frame (``None`` until one is found).
    n_tracked : int
        Frames whose face was found by tracking.
    n_detected : int
        Frames where the cascade ran (tracking or a full search); the others reused a result.
    """

    def __init__(self):
        self.last_seen: tuple[int, int, int, int] | None = None
        self.n_tracked = 0
        self.n_detected = 0
        self._thumb: np.ndarray | None = None
        self._box: tuple[int, int, int, int] | None = None  # result of the frame last analysed

    def step(self, frame_rgb: np.ndarray) -> tuple[tuple[int, int, int, int] | None, bool]:
        """The box for the next frame, and whether it is the frame's own detection.

        Parameters
        ----------
        frame_rgb : numpy.ndarray
            ``(H, W, 3)`` uint8 RGB, the next sampled frame of the video.

        Returns
        -------
        tuple
            ``(box, own)``: ``own`` is True when a face was found in this frame (or in the frame
            of the same static shot analysed just before); then ``box`` is that face. Otherwise
            ``box`` is :attr:`last_seen` (``None`` when no face was seen yet) and ``own`` False.
        """
        import cv2

        thumb = cv2.resize(cv2.cvtColor(frame_rgb, cv2.COLOR_RGB2GRAY), (32, 32),
                           interpolation=cv2.INTER_AREA).astype(np.float32)
        if self._thumb is not None and float(np.mean(np.abs(thumb - self._thumb))) < _SAME_SHOT:
            box = self._box  # same picture as the frame just analysed
        else:
            self.n_detected += 1
            box = detect_face_near(frame_rgb, self.last_seen) if self.last_seen is not None else None
            if box is not None:
                self.n_tracked += 1
            else:
                box = detect_face(frame_rgb)
            self._box = box
            self.last_seen = box or self.last_seen  # keep following the last face seen
            self._thumb = thumb
        if box is not None:
            return box, True
        return self.last_seen, False
