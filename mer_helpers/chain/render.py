"""A small deterministic cartoon-face renderer for the committed sample.

The committed sample (``data/sample``) may only contain material whose terms allow
redistribution. RAVDESS speech does; no face corpus available to the project does. So the
sample's faces are drawn here with OpenCV: an oval face with hair, eyes, brows, nose and
mouth whose shapes follow the emotion, per-identity variation (face shape, skin tone, hair
colour and style, eye spacing and size, mouth width, background) and a little head motion.

The renderer is pure: the same ``(emotion, identity, t, size, mouth_open)`` always gives the
same image, bit for bit; randomness enters only through :func:`random_identity` and the
generator it is given.

Emotion cues (the action units a human would read):

* ``happy``: corners of the mouth up, lips parted showing teeth, raised cheeks that push the
  lower lids up (a narrower eye), brows relaxed;
* ``sad``: corners of the mouth down, inner ends of the brows raised and pulled together,
  drooping upper lids;
* ``surprise``: open round mouth, brows high and arched, eyes wide (white above the iris).

``neutral``, ``angry``, ``fear`` and ``disgust`` are drawn as well, so other class sets can be
smoke-tested. The sample is for smoke tests only: these faces say nothing about how a model
does on real faces.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import cv2
import numpy as np

#: Expression parameters per emotion (units are fractions of the face's half-height/width).
#: mouth_curve > 0 lifts the corners; mouth_open opens the lips; mouth_round makes an "O";
#: brow_inner / brow_outer raise the two ends of each brow; eye_open scales the lid opening;
#: cheek raises the cheeks (happy); teeth shows the upper teeth.
EXPRESSIONS: dict[str, dict[str, float]] = {
    "neutral": dict(mouth_curve=0.0, mouth_open=0.0, mouth_width=1.0, mouth_round=0.0,
                    brow_inner=0.0, brow_outer=0.0, eye_open=1.0, cheek=0.0, teeth=0.0, nose_wrinkle=0.0),
    "happy": dict(mouth_curve=1.0, mouth_open=0.35, mouth_width=1.18, mouth_round=0.0,
                  brow_inner=0.15, brow_outer=0.15, eye_open=0.62, cheek=1.0, teeth=1.0, nose_wrinkle=0.0),
    "sad": dict(mouth_curve=-0.85, mouth_open=0.0, mouth_width=0.9, mouth_round=0.0,
                brow_inner=0.9, brow_outer=-0.35, eye_open=0.5, cheek=0.0, teeth=0.0, nose_wrinkle=0.0),
    "surprise": dict(mouth_curve=0.0, mouth_open=1.0, mouth_width=0.62, mouth_round=1.0,
                     brow_inner=1.0, brow_outer=1.0, eye_open=1.45, cheek=0.0, teeth=0.0, nose_wrinkle=0.0),
    "angry": dict(mouth_curve=-0.3, mouth_open=0.0, mouth_width=0.85, mouth_round=0.0,
                  brow_inner=-0.9, brow_outer=0.3, eye_open=0.8, cheek=0.0, teeth=0.0, nose_wrinkle=0.3),
    "fear": dict(mouth_curve=-0.3, mouth_open=0.45, mouth_width=1.15, mouth_round=0.0,
                 brow_inner=1.0, brow_outer=0.4, eye_open=1.4, cheek=0.0, teeth=0.5, nose_wrinkle=0.0),
    "disgust": dict(mouth_curve=-0.5, mouth_open=0.15, mouth_width=0.95, mouth_round=0.0,
                    brow_inner=-0.5, brow_outer=0.0, eye_open=0.65, cheek=0.5, teeth=0.6, nose_wrinkle=1.0),
}

#: Other spellings used by the corpora.
ALIASES = {"surprised": "surprise", "ps": "surprise", "joy": "happy", "happiness": "happy",
           "sadness": "sad", "anger": "angry", "fearful": "fear", "calm": "neutral"}

_SKIN = np.array([[255, 224, 196], [241, 194, 160], [224, 172, 130], [198, 140, 100],
                  [160, 105, 70], [120, 78, 52], [90, 58, 40]], dtype=float)
_HAIR = np.array([[25, 20, 18], [60, 40, 25], [105, 70, 40], [200, 165, 100],
                  [150, 70, 35], [160, 160, 160]], dtype=float)
_SS = 2  # supersampling factor (draw at 2x, downsample with area averaging = anti-aliasing)


def canonical_emotion(emotion: str) -> str:
    """Map a corpus spelling onto a key of :data:`EXPRESSIONS` (``ValueError`` if unknown)."""
    e = str(emotion).strip().lower()
    e = ALIASES.get(e, e)
    if e not in EXPRESSIONS:
        raise ValueError(f"render_face: unknown emotion {emotion!r}; known: {sorted(EXPRESSIONS)}")
    return e


def random_identity(rng: np.random.Generator | int | None = None, gender: str | None = None) -> dict[str, Any]:
    """Draw one face identity (a JSON-serialisable dict of shape, colour and motion parameters).

    ``gender`` ("F"/"M"/None) only changes the odds of long hair and of a beard-shadow-free jaw;
    it is a rendering choice, not a claim about the speaker.
    """
    rng = np.random.default_rng(rng)
    t = rng.uniform(0, len(_SKIN) - 1)
    i = int(t)
    skin = _SKIN[i] * (1 - (t - i)) + _SKIN[min(i + 1, len(_SKIN) - 1)] * (t - i)
    hair = _HAIR[rng.integers(len(_HAIR))] * rng.uniform(0.85, 1.1)
    p_long = {"F": 0.8, "M": 0.1}.get(str(gender).upper()[:1], 0.45)
    bg = rng.uniform(150, 235, size=3)
    shirt = rng.uniform(30, 200, size=3)
    return {
        "face_w": float(rng.uniform(0.25, 0.31)),   # half-width / image size
        "face_h": float(rng.uniform(0.33, 0.39)),   # half-height / image size
        "jaw": float(rng.uniform(0.75, 1.0)),       # 1 = oval, smaller = narrower chin
        "skin": [float(x) for x in np.clip(skin, 0, 255)],
        "hair": [float(x) for x in np.clip(hair, 0, 255)],
        "hair_long": bool(rng.uniform() < p_long),
        "hair_volume": float(rng.uniform(0.04, 0.12)),
        "fringe": float(rng.uniform(0.0, 1.0)),
        "eye_spacing": float(rng.uniform(0.34, 0.46)),  # eye centre offset / face half-width
        "eye_size": float(rng.uniform(0.85, 1.2)),
        "iris": [float(x) for x in rng.choice([[70, 45, 25], [40, 90, 140], [60, 110, 60], [30, 25, 20]])],
        "brow_thick": float(rng.uniform(0.7, 1.4)),
        "mouth_w": float(rng.uniform(0.85, 1.15)),
        "nose_len": float(rng.uniform(0.85, 1.15)),
        "bg": [float(x) for x in bg],
        "shirt": [float(x) for x in shirt],
        "motion_phase": [float(x) for x in rng.uniform(0, 2 * math.pi, size=4)],
        "motion_freq": [float(x) for x in rng.uniform(0.15, 0.45, size=4)],
        "motion_amp": float(rng.uniform(0.6, 1.0)),
    }


def _bezier(p0, p1, p2, n: int = 24) -> np.ndarray:
    t = np.linspace(0.0, 1.0, n)[:, None]
    p0, p1, p2 = (np.asarray(p, dtype=float) for p in (p0, p1, p2))
    return (1 - t) ** 2 * p0 + 2 * (1 - t) * t * p1 + t ** 2 * p2


def _pts(a: np.ndarray, shift: int) -> np.ndarray:
    return np.round(np.asarray(a) * (1 << shift)).astype(np.int32).reshape(-1, 1, 2)


def _col(c) -> tuple[int, int, int]:
    return tuple(int(round(float(x))) for x in c)


def _expression(emotion: str, t: float, intensity: float) -> dict[str, float]:
    """Expression at time ``t``: it builds up from neutral over the first ~0.4 s."""
    target = EXPRESSIONS[canonical_emotion(emotion)]
    ramp = 1.0 if t is None else min(1.0, 0.35 + 0.65 * max(0.0, float(t)) / 0.4)
    k = float(np.clip(intensity, 0.0, 1.5)) * ramp
    base = EXPRESSIONS["neutral"]
    return {key: base[key] + k * (target[key] - base[key]) for key in target}


def render_face(emotion: str, identity_params: Mapping[str, Any], t: float = 0.0, size: int = 128,
                mouth_open: float = 0.0, intensity: float = 1.0) -> np.ndarray:
    """Draw one frame: a ``(size, size, 3)`` uint8 RGB image of ``identity_params`` showing
    ``emotion`` at time ``t`` (seconds; drives the head motion and the onset of the expression).

    ``mouth_open`` in [0, 1] opens the jaw a little more (e.g. the utterance's loudness at that
    frame), ``intensity`` scales the expression (1 = full).
    """
    idp = dict(identity_params)
    ex = _expression(emotion, t, intensity)
    S = int(size) * _SS
    shift = 4  # sub-pixel precision for OpenCV drawing
    img = np.empty((S, S, 3), dtype=np.uint8)
    img[:] = _col(idp["bg"])
    aa = cv2.LINE_AA

    cx, cy = 0.5 * S, 0.47 * S
    a, b = idp["face_w"] * S, idp["face_h"] * S
    skin = np.asarray(idp["skin"], float)
    hair = _col(idp["hair"])
    dark = _col(skin * 0.72)

    def ell(center, axes, angle, color, thick=-1, a0=0, a1=360):
        cv2.ellipse(img, (int(round(center[0] * 16)), int(round(center[1] * 16))),
                    (max(1, int(round(axes[0] * 16))), max(1, int(round(axes[1] * 16)))),
                    angle, a0, a1, color, thick, aa, shift)

    def poly(points, color, closed=True, thick=-1):
        p = _pts(points, shift)
        if thick < 0:
            cv2.fillPoly(img, [p], color, aa, shift)
        else:
            cv2.polylines(img, [p], closed, color, max(1, int(round(thick))), aa, shift)

    # shoulders and neck
    ell((cx, S * 1.08), (S * 0.42, S * 0.22), 0, _col(idp["shirt"]))
    poly([(cx - 0.38 * a, cy + 0.6 * b), (cx + 0.38 * a, cy + 0.6 * b),
          (cx + 0.45 * a, S * 0.93), (cx - 0.45 * a, S * 0.93)], _col(skin * 0.85))
    # hair behind the head
    vol = idp["hair_volume"] * S
    if idp["hair_long"]:
        poly([(cx - a - vol, cy - 0.2 * b), (cx + a + vol, cy - 0.2 * b),
              (cx + a + 0.6 * vol, cy + 1.05 * b), (cx - a - 0.6 * vol, cy + 1.05 * b)], hair)
    ell((cx, cy - 0.12 * b), (a + vol, b * 0.95 + vol * 0.6), 0, hair)
    # ears
    ey = cy - 0.05 * b
    for s in (-1, 1):
        ell((cx + s * a * 0.98, ey + 0.05 * b), (0.14 * a, 0.2 * b), 0, _col(skin * 0.92))
    # face: upper half an ellipse, lower half narrowed towards the chin by `jaw`
    ang = np.linspace(0, 2 * math.pi, 96, endpoint=False)
    xs, ys = np.cos(ang), np.sin(ang)
    narrow = np.where(ys > 0, 1 - (1 - idp["jaw"]) * ys ** 2, 1.0)
    poly(np.stack([cx + a * xs * narrow, cy + b * ys], 1), _col(skin))
    # hair over the top of the head, down to a hairline (lower with a fringe)
    fr = idp["fringe"]
    hc, ha, hb = cy - 0.12 * b, a + vol, b * 0.95 + vol * 0.6
    top = np.linspace(math.pi, 2 * math.pi, 48)
    arc = np.stack([cx + ha * np.cos(top), hc + hb * np.sin(top)], 1)
    side = cy - (0.3 + 0.1 * (1 - fr)) * b
    hairline = _bezier((cx + ha, side), (cx + 0.1 * a * (fr - 0.5), cy - (1.15 - 0.55 * fr) * b), (cx - ha, side))
    poly(np.concatenate([arc, hairline]), hair)
    # cheeks (raised and slightly flushed when happy)
    if ex["cheek"] > 0.05:
        blush = _col(skin * (1 - 0.12 * ex["cheek"]) + np.array([255, 90, 90]) * 0.12 * ex["cheek"])
        for s in (-1, 1):
            ell((cx + s * 0.52 * a, cy + (0.18 - 0.08 * ex["cheek"]) * b), (0.22 * a, 0.12 * b), 0, blush)

    # eyes
    esp, esz = idp["eye_spacing"] * a, idp["eye_size"]
    ew, eh = 0.2 * a * esz, 0.085 * b * esz
    ey = cy - 0.15 * b
    open_ = ex["eye_open"]
    iris = _col(idp["iris"])
    for s in (-1, 1):
        ex_c = cx + s * esp
        h_up = eh * open_                          # upper lid height above the eye line
        h_lo = eh * (0.8 - 0.45 * ex["cheek"])     # lower lid, pushed up by raised cheeks
        upper = _bezier((ex_c - ew, ey), (ex_c, ey - 2 * h_up), (ex_c + ew, ey))
        lower = _bezier((ex_c + ew, ey), (ex_c, ey + 2 * h_lo), (ex_c - ew, ey))
        eye_poly = np.concatenate([upper, lower])
        mask = np.zeros(img.shape[:2], np.uint8)
        cv2.fillPoly(mask, [_pts(eye_poly, shift)], 255, aa, shift)
        layer = img.copy()
        layer[:] = (245, 245, 240)
        r = 0.55 * ew
        cv2.circle(layer, (int(ex_c * 16), int((ey + 0.1 * eh) * 16)), int(r * 16), iris, -1, aa, shift)
        cv2.circle(layer, (int(ex_c * 16), int((ey + 0.1 * eh) * 16)), int(0.45 * r * 16), (15, 12, 10), -1, aa, shift)
        cv2.circle(layer, (int((ex_c + 0.3 * r) * 16), int((ey - 0.25 * r) * 16)), int(0.18 * r * 16),
                   (255, 255, 255), -1, aa, shift)
        m = (mask.astype(np.float32) / 255.0)[..., None]
        img[:] = (img * (1 - m) + layer * m).astype(np.uint8)
        poly(upper, (40, 30, 25), closed=False, thick=max(1, 0.018 * S))
        poly(lower, dark, closed=False, thick=max(1, 0.008 * S))

    # brows: inner end near the nose, outer end near the temple
    bt = idp["brow_thick"] * 0.022 * S
    by = ey - 0.2 * b
    for s in (-1, 1):
        inner = (cx + s * (esp - 0.75 * ew), by - ex["brow_inner"] * 0.12 * b)
        outer = (cx + s * (esp + 1.15 * ew), by - ex["brow_outer"] * 0.1 * b + 0.02 * b)
        mid_raise = 0.06 * b + 0.05 * b * max(ex["brow_outer"], 0) * max(ex["brow_inner"], 0)
        mid = ((inner[0] + outer[0]) / 2, min(inner[1], outer[1]) - mid_raise)
        poly(_bezier(inner, mid, outer), hair if idp["hair"][0] < 180 else (90, 70, 50),
             closed=False, thick=bt)

    # nose
    nl = idp["nose_len"]
    ny0, ny1 = ey + 0.08 * b, cy + 0.22 * b * nl
    poly(_bezier((cx - 0.02 * a, ny0), (cx - 0.1 * a, (ny0 + ny1) / 2), (cx - 0.04 * a, ny1)), dark,
         closed=False, thick=0.01 * S)
    poly(_bezier((cx - 0.14 * a, ny1 - 0.02 * b), (cx, ny1 + 0.06 * b), (cx + 0.14 * a, ny1 - 0.02 * b)), dark,
         closed=False, thick=0.012 * S)
    if ex["nose_wrinkle"] > 0.1:
        for s in (-1, 1):
            poly(_bezier((cx + s * 0.1 * a, ny0 + 0.05 * b), (cx + s * 0.16 * a, ny0 + 0.1 * b),
                         (cx + s * 0.1 * a, ny0 + 0.15 * b)), dark, closed=False, thick=0.008 * S)

    # mouth
    my = cy + 0.5 * b
    mw = 0.36 * a * idp["mouth_w"] * ex["mouth_width"]
    curve = ex["mouth_curve"] * 0.12 * b
    opening = (ex["mouth_open"] + 0.35 * float(np.clip(mouth_open, 0, 1))) * 0.2 * b
    lip = _col(np.array([185.0, 60.0, 70.0]) * 0.6 + skin * 0.4)
    cavity = (70, 20, 25)
    if ex["mouth_round"] > 0.5:
        rh = 0.1 * b + opening * 0.9
        ell((cx, my + 0.03 * b), (mw, rh), 0, lip)
        ell((cx, my + 0.03 * b), (mw * 0.72, rh * 0.75), 0, cavity)
    else:
        left, right = (cx - mw, my - curve), (cx + mw, my - curve)
        upper = _bezier(left, (cx, my + 0.4 * curve - 0.3 * opening), right)
        lower = _bezier(right, (cx, my + 0.4 * curve + 1.6 * opening + 0.02 * b), left)
        if opening > 0.01 * b:
            poly(np.concatenate([upper, lower]), cavity)
            if ex["teeth"] > 0.2:
                tu = _bezier(left, (cx, my + 0.4 * curve - 0.3 * opening), right)
                tl = _bezier(right, (cx, my + 0.4 * curve + 0.9 * opening), left)
                poly(np.concatenate([tu, tl]), (240, 238, 230))
            poly(np.concatenate([upper, lower]), lip, thick=0.018 * S)
        else:
            poly(upper, lip, closed=False, thick=0.028 * S)
        # creases at the corners when the mouth is curved
        if abs(curve) > 0.04 * b:
            sg = float(np.sign(curve))
            for s_, c in ((-1, left), (1, right)):
                poly(_bezier((c[0] + s_ * 0.02 * a, c[1] - 0.05 * b * sg), (c[0] + s_ * 0.06 * a, c[1]),
                             (c[0] + s_ * 0.02 * a, c[1] + 0.03 * b * sg)), dark, closed=False, thick=0.006 * S)

    # head motion: small rotation (degrees) and translation (fraction of size) over t
    ph, fq, amp = idp["motion_phase"], idp["motion_freq"], idp["motion_amp"]
    tt = float(t or 0.0)
    rot = amp * 4.0 * math.sin(2 * math.pi * fq[0] * tt + ph[0])
    dx = amp * 0.025 * S * math.sin(2 * math.pi * fq[1] * tt + ph[1])
    dy = amp * 0.015 * S * math.sin(2 * math.pi * fq[2] * tt + ph[2])
    scale = 1.0 + amp * 0.02 * math.sin(2 * math.pi * fq[3] * tt + ph[3])
    M = cv2.getRotationMatrix2D((cx, cy + 0.6 * b), rot, scale)
    M[:, 2] += (dx, dy)
    img = cv2.warpAffine(img, M, (S, S), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                         borderValue=_col(idp["bg"]))
    return cv2.resize(img, (int(size), int(size)), interpolation=cv2.INTER_AREA)


def render_sequence(emotion: str, identity_params: Mapping[str, Any], n_frames: int, fps: float,
                    size: int = 128, envelope: np.ndarray | None = None, intensity: float = 1.0) -> np.ndarray:
    """``n_frames`` frames at ``fps`` as a ``(n, size, size, 3)`` uint8 array; ``envelope``
    (one value in [0, 1] per frame, e.g. the audio's loudness) moves the jaw."""
    env = np.zeros(n_frames) if envelope is None else np.asarray(envelope, float)
    return np.stack([render_face(emotion, identity_params, i / fps, size,
                                 mouth_open=float(env[i]) if i < len(env) else 0.0, intensity=intensity)
                     for i in range(n_frames)])


def audio_envelope(audio: np.ndarray, sr: int, n_frames: int, fps: float) -> np.ndarray:
    """Loudness per video frame in [0, 1] (RMS over the frame's span, divided by the clip's
    95th percentile), to drive :func:`render_sequence`'s jaw."""
    audio = np.asarray(audio, dtype=np.float32)
    hop = sr / fps
    rms = np.zeros(n_frames, dtype=np.float64)
    for i in range(n_frames):
        seg = audio[int(i * hop): int((i + 1) * hop)]
        rms[i] = float(np.sqrt(np.mean(seg.astype(np.float64) ** 2))) if len(seg) else 0.0
    ref = np.percentile(rms, 95) if n_frames else 0.0
    if ref <= 1e-8:
        return np.zeros(n_frames)
    env = np.clip(rms / ref, 0, 1)
    env[env < 0.15] = 0.0  # silence keeps the mouth at rest
    return env
