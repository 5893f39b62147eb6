"""Seed-paper-2 style audio-visual clips from a speech corpus and a face corpus.

Paper 2 pairs emotional speech with face images of the same emotion. No audio-visual corpus
with many speakers is available here, so :func:`build_paired` does the pairing explicitly:

1. the speech corpus (RAVDESS speech, SAVEE or TESS naming) and the face corpus (KDEF,
   Oulu-CASIA or CK+48 naming) are recognised from their file names;
2. each speech speaker is mapped to one face subject, deterministically for the ``seed``:
   same gender where both are known, distinct subjects while there are enough, and only
   subjects that have images of every emotion the speaker utters (when there are such);
3. each utterance in the class set becomes ``out_dir/clips/<clip_id>.mp4``: its audio is the
   utterance (16 kHz mono, AAC), its video the mapped subject's real images of the same emotion
   (KDEF: all five head angles of both sessions, swept left → right → left; Oulu-CASIA, CK+48:
   every frame available), each held and cross-faded over the utterance's duration and
   letterboxed to a fixed frame size.

``speaker`` in ``labels.csv`` stays the speech speaker (the group key of speaker-independent
splits); ``subject`` is the face subject, so an evaluation can also keep faces on one side.

Defaults: 12 frames/s and 180x240 (3:4, the shape of KDEF's portraits and Oulu-CASIA's crops).
The images are still photographs, so a higher frame rate would only repeat frames: 12 fps
gives each KDEF image ~4 frames of a 3.5 s utterance (enough for a visible cross-fade) and the
chain's frame sampler (every 5th frame) still sees 8-9 frames per clip, about one per image;
240 px height keeps KDEF (381 px) at 0.63x, well above the 96 px the visual models use.
Together they keep a clip around 50-100 kB and a 480-clip build to a few minutes on 2 cores.
"""
from __future__ import annotations

import csv
import functools
import hashlib
import io
import json
import math
import os
import re
import warnings
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from mer_helpers.core.fileio import atomic_write, atomic_write_text, read_json, write_json
from mer_helpers.core.media import load_audio, probe, write_clip
from mer_helpers.core.parallel import map_clips
from mer_helpers.data.labels import KNOWN_EMOTIONS, RAVDESS_EMOTIONS, normalize_label, parse_classes

VERSION = "paired-1"
DEFAULT_FPS = 12.0
DEFAULT_SIZE = (180, 240)  # width, height
DEFAULT_FADE = 0.4         # fraction of each image's span spent cross-fading into the next
SR = 16000
LABEL_COLUMNS = ["clip_id", "path", "label", "speaker", "subject", "corpus"]
#: notebook 04's ``aux_faces``: ``none``, or ``unpaired`` (the face corpus's subjects no speaker is paired with,
#: :mod:`mer_helpers.methods.aux_faces`)
AUX_FACES = ("none", "unpaired")
AUDIO_EXT = (".wav", ".flac")
IMAGE_EXT = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff")


class LayoutError(ValueError):
    """A corpus folder matches none of the known naming schemes."""


# --------------------------------------------------------------------------------------------
# Emotion names
# --------------------------------------------------------------------------------------------



def canonical(label: str) -> str | None:
    """Project emotion name for a corpus spelling; the spellings are those of
    :data:`mer_helpers.data.labels.LABEL_SYNONYMS`.

    Parameters
    ----------
    label : str
        A corpus' emotion code or word.

    Returns
    -------
    str or None
        ``None`` if it is not an emotion.
    """
    name = normalize_label(label)
    return name if name in KNOWN_EMOTIONS else None


def _classes(classes: str | Iterable[str]) -> list[str]:
    """The class list (:func:`mer_helpers.data.labels.parse_classes`, the project's one parser)."""
    return parse_classes(classes)


# --------------------------------------------------------------------------------------------
# Corpus scanning
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Utterance:
    path: Path
    stem: str
    speaker: str          # e.g. ravdess_01, savee_DC, tess_OAF
    gender: str | None    # "F", "M" or None
    label: str            # canonical emotion


@dataclass
class FaceSubject:
    subject: str          # e.g. kdef_F07, oulu_P010, ckplus_S010
    gender: str | None
    images: dict[str, list[Path]] = field(default_factory=dict)  # emotion -> ordered images


_RE_RAVDESS = re.compile(r"^03-01-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)$")
_RE_SAVEE = re.compile(r"^(a|d|f|h|n|sa|su)(\d\d)$")
_RE_TESS = re.compile(r"^(OAF|YAF)_([A-Za-z]+)_([A-Za-z_]+)$", re.I)
_RE_KDEF = re.compile(r"^([AB])([FM])(\d\d)(AF|AN|DI|HA|NE|SA|SU)(FL|HL|S|HR|FR)$", re.I)
_RE_CK = re.compile(r"^(S\d{3})_(\d{3})_(\d{8})$", re.I)
_KDEF_ANGLES = ["FL", "HL", "S", "HR", "FR"]


def _files(root: Path, exts: Sequence[str]) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.suffix.lower() in exts and p.is_file()
                  and not p.name.startswith("."))


def scan_speech(speech_dir: str | os.PathLike) -> tuple[str, list[Utterance]]:
    """Recognise the speech corpus's naming and list its utterances (all emotions).

    Parameters
    ----------
    speech_dir : path-like
        A RAVDESS-speech, SAVEE or TESS folder.

    Returns
    -------
    tuple
        ``(corpus, utterances)`` with corpus ``ravdess_speech``, ``savee`` or ``tess``.
    """
    root = Path(speech_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"speech corpus {root}: folder not found")
    files = _files(root, AUDIO_EXT)
    found: dict[str, list[Utterance]] = {"ravdess_speech": [], "savee": [], "tess": []}
    for p in files:
        stem = p.stem
        m = _RE_RAVDESS.match(stem)
        if m and p.parent.name.lower().startswith("actor_"):
            emo, actor = m.group(1), int(m.group(5))
            if emo in RAVDESS_EMOTIONS:
                found["ravdess_speech"].append(Utterance(p, stem, f"ravdess_{actor:02d}",
                                                         "M" if actor % 2 else "F", RAVDESS_EMOTIONS[emo]))
            continue
        m = _RE_SAVEE.match(stem)
        if m and re.fullmatch(r"[A-Z]{2}", p.parent.name):
            found["savee"].append(Utterance(p, stem, f"savee_{p.parent.name}", "M", canonical(m.group(1))))
            continue
        m = _RE_TESS.match(stem)
        if m and canonical(m.group(3)):
            found["tess"].append(Utterance(p, stem, f"tess_{m.group(1).upper()}", "F", canonical(m.group(3))))
    corpus = max(found, key=lambda k: len(found[k]))
    if not found[corpus]:
        raise LayoutError(
            f"speech corpus {root}: no file matches a known naming ({len(files)} audio files found). "
            "Expected RAVDESS speech Actor_NN/03-01-EE-II-SS-RR-NN.(wav|flac), "
            "SAVEE SPK/<a|d|f|h|n|sa|su>NN.(wav|flac) or TESS (OAF|YAF)_word_emotion.(wav|flac)")
    return corpus, found[corpus]


def scan_faces(faces_dir: str | os.PathLike) -> tuple[str, dict[str, FaceSubject]]:
    """Recognise the face corpus's naming and list each subject's images per emotion.

    Image order: KDEF session A full-left → full-right, then session B back (a smooth sweep);
    Oulu-CASIA and CK+48 in frame order.

    Parameters
    ----------
    faces_dir : path-like
        A KDEF, Oulu-CASIA or CK+48 folder.

    Returns
    -------
    tuple
        ``(corpus, {subject: FaceSubject})`` with corpus ``kdef``, ``oulu_casia`` or ``ckplus48``.
    """
    root = Path(faces_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"face corpus {root}: folder not found")
    files = _files(root, IMAGE_EXT)
    kdef: dict[str, list] = defaultdict(list)
    oulu: dict[str, list] = defaultdict(list)
    ck: dict[str, list] = defaultdict(list)
    for p in files:
        m = _RE_KDEF.match(p.stem)
        if m:
            sess, g, nn, emo, ang = (x.upper() for x in m.groups())
            lab = canonical({"AF": "afraid"}.get(emo, emo))
            kdef[f"kdef_{g}{nn}"].append((lab, sess, ang, p, g))
            continue
        lab = canonical(p.parent.name)
        if lab and re.fullmatch(r"P\d{3}", p.parent.parent.name, re.I) and re.fullmatch(r"\d+", p.stem):
            oulu[f"oulu_{p.parent.parent.name.upper()}"].append((lab, int(p.stem), p))
            continue
        m = _RE_CK.match(p.stem)
        if lab and m:
            ck[f"ckplus_{m.group(1).upper()}"].append((lab, p.stem, p))
    counts = {"kdef": sum(map(len, kdef.values())), "oulu_casia": sum(map(len, oulu.values())),
              "ckplus48": sum(map(len, ck.values()))}
    corpus = max(counts, key=counts.get)
    if counts[corpus] == 0:
        raise LayoutError(
            f"face corpus {root}: no image matches a known naming ({len(files)} images found). "
            "Expected KDEF <S><G><NN>/<S><G><NN><EE><ANG>.jpg, Oulu-CASIA P###/<Emotion>/NNN.jpeg "
            "or CK+48 <emotion>/S###_###_########.png")
    subjects: dict[str, FaceSubject] = {}
    if corpus == "kdef":
        for sid, items in kdef.items():
            s = FaceSubject(sid, items[0][4])
            for lab in sorted({i[0] for i in items}):
                order = []
                for sess in ("A", "B"):
                    angles = _KDEF_ANGLES if sess == "A" else _KDEF_ANGLES[::-1]
                    for ang in angles:
                        order += [i[3] for i in items if i[0] == lab and i[1] == sess and i[2] == ang]
                s.images[lab] = order
            subjects[sid] = s
    else:
        src = oulu if corpus == "oulu_casia" else ck
        for sid, items in src.items():
            s = FaceSubject(sid, None)
            for lab in sorted({i[0] for i in items}):
                s.images[lab] = [i[2] for i in sorted((i for i in items if i[0] == lab), key=lambda i: i[1])]
            subjects[sid] = s
    return corpus, dict(sorted(subjects.items()))


# --------------------------------------------------------------------------------------------
# Speaker -> subject mapping
# --------------------------------------------------------------------------------------------

def map_speakers(speakers: dict[str, tuple[str | None, set[str]]], subjects: dict[str, FaceSubject],
                 seed: int = 0) -> dict[str, str]:
    """Map each speaker to one face subject, deterministically for ``seed``.

    Rules, in order of priority: a subject must have images of every emotion the speaker needs
    (if any subject does; else the one covering most); same gender where both are known; a
    subject not yet used (distinct subjects while there are enough), else the least used one.
    Ties are broken by a seeded shuffle of the subjects.

    Parameters
    ----------
    speakers : dict
        ``{speaker: (gender or None, emotions the speaker utters)}``.
    subjects : dict
        ``{subject: FaceSubject}`` of :func:`scan_faces`.
    seed : int
        Seed of the tie-breaking shuffle.

    Returns
    -------
    dict
        Speaker → subject, sorted by speaker.
    """
    rng = np.random.default_rng(seed)
    names = sorted(subjects)
    order = {s: i for i, s in enumerate(rng.permutation(names).tolist())}
    used: dict[str, int] = defaultdict(int)
    mapping: dict[str, str] = {}
    # speakers needing the most emotions first, then by a seeded order (not alphabetical, so
    # the first subjects do not always go to the same speakers)
    sp_order = rng.permutation(sorted(speakers)).tolist()
    sp_order.sort(key=lambda s: -len(speakers[s][1]))
    for sp in sp_order:
        gender, needed = speakers[sp]
        cover = {s: len(needed & set(subjects[s].images)) for s in names}
        best_cover = max(cover.values()) if cover else 0
        cands = [s for s in names if cover[s] == best_cover]
        same = [s for s in cands if gender is None or subjects[s].gender in (None, gender)]
        if not same:
            warnings.warn(f"speaker {sp} ({gender}): no face subject of the same gender covers "
                          f"{sorted(needed)}; using one of another gender")
            same = cands
        exact = [s for s in same if gender is not None and subjects[s].gender == gender]
        pool = exact or same
        if not any(used[s] == 0 for s in pool) and any(used[s] == 0 for s in same):
            pool = same  # an unused subject of unknown gender beats reusing a same-gender one
        pick = min(pool, key=lambda s: (used[s], order[s]))
        mapping[sp] = pick
        used[pick] += 1
    return dict(sorted(mapping.items()))


# --------------------------------------------------------------------------------------------
# Frames
# --------------------------------------------------------------------------------------------

def letterbox(img: np.ndarray, size: tuple[int, int], fill: int = 0) -> np.ndarray:
    """Fit ``img`` inside ``size`` keeping its aspect ratio; pad with ``fill``.

    Parameters
    ----------
    img : numpy.ndarray
        ``(H, W)`` or ``(H, W, 3)``.
    size : tuple of int
        ``(width, height)`` of the result.
    fill : int
        Grey level of the padding.

    Returns
    -------
    numpy.ndarray
        ``(height, width, 3)`` uint8 RGB.
    """
    import cv2

    W, H = int(size[0]), int(size[1])
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    h, w = img.shape[:2]
    k = min(W / w, H / h)
    nw, nh = max(1, round(w * k)), max(1, round(h * k))
    interp = cv2.INTER_AREA if k < 1 else cv2.INTER_CUBIC
    small = cv2.resize(img, (nw, nh), interpolation=interp)
    out = np.full((H, W, 3), fill, dtype=np.uint8)
    y0, x0 = (H - nh) // 2, (W - nw) // 2
    out[y0:y0 + nh, x0:x0 + nw] = small
    return out


def read_image(path: str | os.PathLike) -> np.ndarray:
    """An image file as uint8 RGB (grey images are repeated to 3 channels).

    Parameters
    ----------
    path : path-like
        Any format OpenCV reads.

    Returns
    -------
    numpy.ndarray
        ``(H, W, 3)`` uint8.
    """
    import cv2

    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise ValueError(f"face image {path}: cannot be read (missing or not an image)")
    if img.dtype != np.uint8:
        img = cv2.convertScaleAbs(img, alpha=255.0 / max(1, int(img.max())))
    if img.ndim == 2:
        return np.repeat(img[..., None], 3, axis=2)
    if img.shape[2] == 4:
        img = img[..., :3]
    return np.ascontiguousarray(img[..., ::-1])


def slideshow(images: Sequence[np.ndarray], n_frames: int, fade: float = DEFAULT_FADE) -> np.ndarray:
    """Spread ``images`` evenly over ``n_frames``: each is held for its share of the time and
    cross-faded into the next over the last ``fade`` of its share (a smoothstep).

    Parameters
    ----------
    images : sequence of numpy.ndarray
        Each ``(H, W, 3)`` uint8, all the same size.
    n_frames : int
        Frames of the result.
    fade : float
        Share of each image's time spent fading into the next.

    Returns
    -------
    numpy.ndarray
        ``(n_frames, H, W, 3)`` uint8.
    """
    imgs = [np.asarray(i, dtype=np.float32) for i in images]
    k = len(imgs)
    if k == 0:
        raise ValueError("slideshow: no images")
    out = np.empty((n_frames,) + imgs[0].shape, dtype=np.uint8)
    fade = float(np.clip(fade, 0.0, 1.0))
    for i in range(n_frames):
        q = (i + 0.5) / n_frames * k  # position in image units
        idx = min(int(q), k - 1)
        frac = q - idx
        w = 0.0
        if idx < k - 1 and fade > 0 and frac > 1 - fade:
            x = (frac - (1 - fade)) / fade
            w = x * x * (3 - 2 * x)
        frame = imgs[idx] if w == 0 else (1 - w) * imgs[idx] + w * imgs[idx + 1]
        out[i] = np.clip(np.rint(frame), 0, 255).astype(np.uint8)
    return out


# --------------------------------------------------------------------------------------------
# Building
# --------------------------------------------------------------------------------------------

def _clip_key(utt: Utterance, images: Sequence[Path], subject: str, fps: float, size, fade: float, crf: int) -> str:
    st = utt.path.stat()
    h = hashlib.sha256()
    h.update(json.dumps([VERSION, utt.path.name, st.st_size, subject, [p.name for p in images],
                         fps, list(size), fade, crf]).encode())
    for p in images:
        h.update(str(p.stat().st_size).encode())
    return h.hexdigest()[:20]


def _duration(path: Path) -> float:
    try:
        import soundfile as sf

        info = sf.info(str(path))
        return info.frames / info.samplerate
    except Exception:

        a, sr = load_audio(path, sr=SR)
        return len(a) / sr


def _clip_ok(path: Path, expected: float, tol: float = 0.3) -> bool:

    if not path.is_file() or path.stat().st_size == 0:
        return False
    info = probe(path)
    return not info.errors and info.has_audio and info.has_video and abs(info.duration - expected) <= tol


def build_clip(utt: Utterance, images: Sequence[Path], out_path: str | os.PathLike, fps: float = DEFAULT_FPS,
               size: tuple[int, int] = DEFAULT_SIZE, fade: float = DEFAULT_FADE, crf: int = 28) -> float:
    """Write one clip atomically: ``utt``'s audio (16 kHz mono) + a slideshow of ``images``.

    Parameters
    ----------
    utt : Utterance
        The speech utterance.
    images : sequence of pathlib.Path
        The face subject's images of the utterance's emotion.
    out_path : path-like
        The mp4.
    fps : float
        Frame rate of the video.
    size : tuple of int
        ``(width, height)`` of the frames (images are letterboxed).
    fade : float
        As for :func:`slideshow`.
    crf : int
        x264 quality.

    Returns
    -------
    float
        The utterance's duration in seconds.
    """

    out_path = Path(out_path)
    audio, sr = load_audio(utt.path, sr=SR)
    if len(audio) == 0:
        raise ValueError(f"utterance {utt.path}: no audio samples")
    duration = len(audio) / sr
    n_frames = max(1, math.ceil(duration * fps))
    frames = slideshow([letterbox(read_image(p), size) for p in images], n_frames, fade)
    atomic_write(out_path, lambda tmp: write_clip(tmp, frames, fps, audio=audio, sr=sr, crf=crf), suffix=".mp4")
    return duration


def _interleave(utts: list[Utterance]) -> list[Utterance]:
    """Round-robin over speakers (then emotions), so a ``limit`` covers several of each."""
    by_sp: dict[str, list[Utterance]] = defaultdict(list)
    for u in utts:
        by_sp[u.speaker].append(u)
    queues = []
    for j, sp in enumerate(sorted(by_sp)):
        by_lab: dict[str, list[Utterance]] = defaultdict(list)
        for u in by_sp[sp]:
            by_lab[u.label].append(u)
        labs = sorted(by_lab)
        labs = labs[j % len(labs):] + labs[: j % len(labs)]  # each speaker starts elsewhere
        q = []
        for i in range(max(len(v) for v in by_lab.values())):
            q += [by_lab[l][i] for l in labs if i < len(by_lab[l])]
        queues.append(q)
    out = []
    for i in range(max(len(q) for q in queues)):
        out += [q[i] for q in queues if i < len(q)]
    return out


@dataclass
class PairingPlan:
    """What :func:`build_paired` would build, before any clip is made (see :func:`plan_paired`)."""
    speech_corpus: str
    face_corpus: str
    classes: list[str]
    utterances: list[Utterance]                    # the utterances that become clips, sorted
    speakers: dict[str, tuple[str | None, set[str]]]
    subjects: dict[str, FaceSubject]
    mapping: dict[str, str]                        # speaker -> face subject
    dropped: list[Utterance]                       # their subject has no image of the emotion

    def counts(self) -> dict:
        """``n_clips``, ``n_speakers``, ``n_subjects``, ``per_class`` and ``dropped``."""
        per_class = {c: sum(u.label == c for u in self.utterances) for c in self.classes}
        return {"speech_corpus": self.speech_corpus, "face_corpus": self.face_corpus,
                "classes": list(self.classes), "n_clips": len(self.utterances),
                "n_speakers": len({u.speaker for u in self.utterances}),
                "n_subjects": len({self.mapping[u.speaker] for u in self.utterances}),
                "per_class": per_class, "dropped": len(self.dropped)}


def plan_paired(speech_dir: str | os.PathLike, faces_dir: str | os.PathLike,
                classes: str | Sequence[str] = ("happy", "sad", "surprise"), seed: int = 0) -> PairingPlan:
    """Scan both corpora, keep the utterances of ``classes`` and map speakers to face subjects,
    exactly as :func:`build_paired` does, without writing anything (a dry count:
    ``plan_paired(...).counts()``).

    Parameters
    ----------
    speech_dir, faces_dir : path-like
        The two corpora.
    classes : str or sequence of str
        The classes to pair (see :func:`mer_helpers.data.labels.parse_classes`).
    seed : int
        Seed of the speaker → subject mapping.

    Returns
    -------
    PairingPlan

    Raises
    ------
    ValueError
        When the speech corpus has no utterance, or the face corpus no image, of a requested class.
    """
    cls = _classes(classes)
    speech_corpus, utts = scan_speech(speech_dir)
    face_corpus, subjects = scan_faces(faces_dir)
    have = sorted({u.label for u in utts})
    utts = [u for u in utts if u.label in cls]
    missing = [c for c in cls if not any(c in s.images for s in subjects.values())]
    if missing:
        raise ValueError(f"face corpus {faces_dir} ({face_corpus}): no image of {missing}; "
                         f"it has {sorted({l for s in subjects.values() for l in s.images})}")
    no_speech = [c for c in cls if not any(u.label == c for u in utts)]
    if no_speech:
        raise ValueError(f"speech corpus {speech_dir} ({speech_corpus}): no utterance of {no_speech}; "
                         f"it has {have}")

    speakers: dict[str, tuple[str | None, set[str]]] = {}
    for u in utts:
        g, labs = speakers.get(u.speaker, (u.gender, set()))
        labs.add(u.label)
        speakers[u.speaker] = (g, labs)
    mapping = map_speakers(speakers, subjects, seed)
    n_faces = len(set(mapping.values()))
    if n_faces < len(mapping):
        full = sum(set(cls) <= set(s.images) for s in subjects.values())
        warnings.warn(f"{len(mapping)} speakers share {n_faces} face subject(s) of {face_corpus} (only {full} "
                      f"subject(s) have images of all of {cls}): the same face is paired with several "
                      "speakers, so speaker-independent splits are not face-independent", UserWarning,
                      stacklevel=2)

    todo, dropped = [], []
    for u in sorted(utts, key=lambda u: (u.speaker, u.stem)):
        (todo if u.label in subjects[mapping[u.speaker]].images else dropped).append(u)
    return PairingPlan(speech_corpus, face_corpus, cls, todo, speakers, subjects, mapping, dropped)


def count_paired(speech_dir: str | os.PathLike, faces_dir: str | os.PathLike,
                 classes: str | Sequence[str] = ("happy", "sad", "surprise"), seed: int = 0) -> dict:
    """The dry count of a paired build: clips, speakers, face subjects, clips per class.

    Parameters
    ----------
    speech_dir, faces_dir : path-like
        Speech and face corpora, as for :func:`plan_paired`.
    classes : str or sequence of str
        Requested classes.
    seed : int
        Mapping seed.

    Returns
    -------
    dict
    """
    return plan_paired(speech_dir, faces_dir, classes, seed).counts()


def _build_job(job: tuple, fps: float, size: tuple[int, int], fade: float, crf: int) -> str:
    """One task of :func:`build_paired`: ``job = (utterance, images, target, same key)`` →
    ``"reused"`` (the clip is there and probes fine) or ``"built"``."""
    u, images, target, same_key = job
    if same_key and _clip_ok(target, _duration(u.path)):
        return "reused"
    build_clip(u, images, target, fps=fps, size=size, fade=fade, crf=crf)
    return "built"


def build_paired(speech_dir: str | os.PathLike, faces_dir: str | os.PathLike, out_dir: str | os.PathLike,
                 classes: str | Sequence[str] = ("happy", "sad", "surprise"), seed: int = 0, n_jobs: int = 2,
                 limit: int | None = None, fps: float = DEFAULT_FPS, size: int | tuple[int, int] = DEFAULT_SIZE,
                 fade: float = DEFAULT_FADE, crf: int = 28, verbose: bool = True) -> pd.DataFrame:
    """Build paired audio-visual clips and ``out_dir/labels.csv``; return the labels.

    ``speech_dir``: RAVDESS speech, SAVEE or TESS layout; ``faces_dir``: KDEF, Oulu-CASIA or
    CK+48 layout (detected from the file names). ``classes``: emotion names (a list or
    ``"happy,sad,surprise"``). ``fps`` frames/s and ``size`` = (width, height) in pixels (an int
    for a square) of the video; ``fade`` the fraction of each image's time spent cross-fading;
    ``crf`` the H.264 quality. ``limit``: build only that many clips (spread over speakers and
    emotions) for trials. Each clip is one task (:func:`mer_helpers.core.parallel.map_clips`: Dask
    workers; without Dask ``n_jobs`` clips at a time).

    Writes ``out_dir/clips/<clip_id>.mp4`` (clip_id = ``<speaker>_<file stem>``),
    ``out_dir/labels.csv`` (``clip_id,path,label,speaker,subject,corpus``, ``path`` relative to
    ``out_dir``), ``out_dir/mapping.csv`` (speaker → subject) and ``out_dir/build.json`` (the
    parameters and a key per clip). Idempotent: a clip whose key is unchanged and whose file
    probes fine (audio + video, the utterance's duration) is reused. Returns the rows of
    ``labels.csv`` as a DataFrame (paths relative to ``out_dir``), in a fixed order.
    """

    cls = _classes(classes)
    size = (int(size), int(size)) if np.isscalar(size) else (int(size[0]), int(size[1]))
    size = (size[0] - size[0] % 2, size[1] - size[1] % 2)
    out_dir = Path(out_dir)
    clips_dir = out_dir / "clips"
    clips_dir.mkdir(parents=True, exist_ok=True)
    for stale in clips_dir.glob(".*.tmp.mp4"):  # left by an interrupted build
        stale.unlink(missing_ok=True)

    plan = plan_paired(speech_dir, faces_dir, cls, seed=seed)
    speech_corpus, face_corpus = plan.speech_corpus, plan.face_corpus
    subjects, speakers, mapping = plan.subjects, plan.speakers, plan.mapping
    todo, dropped = plan.utterances, plan.dropped
    if dropped:
        warnings.warn(f"{len(dropped)} utterance(s) dropped: their speaker's face subject has no "
                      f"image of that emotion (e.g. {dropped[0].path.name} -> {mapping[dropped[0].speaker]})")
    if limit is not None:
        todo = sorted(_interleave(todo)[: int(limit)], key=lambda u: (u.speaker, u.stem))

    corpus = f"{speech_corpus}+{face_corpus}"
    old = {}
    build_json = out_dir / "build.json"
    if build_json.is_file():
        try:
            old = read_json(build_json).get("clips", {})
        except Exception:
            old = {}

    jobs, rows, keys = [], [], {}
    for u in todo:
        subj = subjects[mapping[u.speaker]]
        clip_id = f"{u.speaker}_{u.stem}"
        rel = f"clips/{clip_id}.mp4"
        images = subj.images[u.label]
        key = _clip_key(u, images, subj.subject, fps, size, fade, crf)
        keys[clip_id] = key
        rows.append({"clip_id": clip_id, "path": rel, "label": u.label, "speaker": u.speaker,
                     "subject": subj.subject, "corpus": corpus})
        jobs.append((u, images, out_dir / rel, old.get(clip_id) == key))

    results = map_clips(functools.partial(_build_job, fps=fps, size=size, fade=fade, crf=crf), jobs,
                        desc=f"paired clips ({speech_corpus} + {face_corpus})", progress=verbose,
                        n_jobs=n_jobs)

    df = pd.DataFrame(rows, columns=LABEL_COLUMNS)
    buf = io.StringIO()
    df.to_csv(buf, index=False, lineterminator="\n")
    atomic_write_text(out_dir / "labels.csv", buf.getvalue())
    n_utt = defaultdict(int)
    for u in todo:
        n_utt[u.speaker] += 1
    mbuf = io.StringIO()
    w = csv.writer(mbuf, lineterminator="\n")
    w.writerow(["speaker", "speaker_gender", "subject", "subject_gender", "n_clips"])
    for sp, sid in mapping.items():
        w.writerow([sp, speakers[sp][0] or "", sid, subjects[sid].gender or "", n_utt.get(sp, 0)])
    atomic_write_text(out_dir / "mapping.csv", mbuf.getvalue())
    write_json(build_json, {"version": VERSION, "speech": str(Path(speech_dir).resolve()),
                            "faces": str(Path(faces_dir).resolve()), "speech_corpus": speech_corpus,
                            "face_corpus": face_corpus, "classes": cls, "seed": int(seed), "fps": fps,
                            "size": list(size), "fade": fade, "crf": crf, "limit": limit,
                            "clips": {**old, **keys}})
    if verbose:
        built = sum(r == "built" for r in results)
        print(f"[paired] {len(df)} clips ({built} built, {len(df) - built} reused), "
              f"{df['speaker'].nunique()} speakers -> {df['subject'].nunique()} subjects, {out_dir}")
    df.attrs["mapping"] = mapping
    df.attrs["dropped"] = [str(u.path) for u in dropped]
    return df
