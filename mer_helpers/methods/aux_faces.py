"""Faces of people outside the run: more training data for every model that reads faces.

A paired run shows each speaker with one face subject, so its face side learns from as many
faces as the run has speakers (20 of Oulu-CASIA's 61 subjects on the six-emotion run). The face
corpus's other subjects are never in any test fold: their images are fair training data for a
model that reads faces alone. Each of their (subject, emotion) image sets becomes one
*auxiliary sample*, described exactly as a paired clip's frames are (letterboxed to the clip's
frame, the same face crop, the same backbone and layer, the mean over the images), so its row
sits in the clips' visual feature space.

A row has a face and no voice: the face half of late fusion and a model of faces alone train on
it as it is, a model of both modalities (early fusion) with every speech column at its training
mean (:meth:`mer_helpers.methods.models.SequenceClassifier._with_visual_extra`). The subjects are
the *training* face corpus's: under ``cross-corpus`` the test corpora are never read.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd

from mer_helpers.data.paired import DEFAULT_SIZE, read_image, letterbox, scan_faces
from mer_helpers.methods.frames import crop_images
from mer_helpers.methods.visual import backbone_features


@dataclass(frozen=True)
class AuxSample:
    subject: str                # e.g. oulu_P011
    label: str                  # canonical emotion
    paths: tuple[str, ...]      # the subject's images of that emotion, in order


def auxiliary_samples(faces_dir: str | os.PathLike, exclude: Sequence[str], classes: Sequence[str]) -> list[AuxSample]:
    """One sample per (subject, emotion of ``classes``) of the face corpus's subjects not in ``exclude``.

    Parameters
    ----------
    faces_dir : path-like
        A KDEF, Oulu-CASIA or CK+48 folder (:func:`mer_helpers.data.paired.scan_faces`).
    exclude : sequence of str
        Subjects that must not be used (the run's own face subjects, ``labels.csv``'s ``subject``).
    classes : sequence of str
        The run's classes; other emotions are skipped.

    Returns
    -------
    list of AuxSample
        Sorted by subject, then emotion.
    """
    _, subjects = scan_faces(faces_dir)
    skip, keep = set(map(str, exclude)), set(classes)
    return [AuxSample(sid, lab, tuple(str(p) for p in paths))
            for sid, s in subjects.items() if sid not in skip
            for lab, paths in sorted(s.images.items()) if lab in keep and paths]


def sample_frames(sample: AuxSample, frame_size: int = 96, face_detect: bool = True, face_only: bool = False,
                  size: tuple[int, int] = DEFAULT_SIZE) -> np.ndarray:
    """The sample's images as a paired clip's sampled frames: letterboxed to ``size`` (the paired
    clips' frame), then cropped as :func:`mer_helpers.methods.frames.sample_frames` crops a clip's
    frames. ``(n_images, frame_size, frame_size, 3)`` uint8."""
    return crop_images([letterbox(read_image(p), size) for p in sample.paths], frame_size, face_detect, face_only)


def sample_features(samples: Sequence[AuxSample], frame_size: int = 96, face_detect: bool = True,
                    face_only: bool = False, backbone: str = "fer_xception", backbone_weights="fer2013",
                    layer: str | None = None, seed: int = 42, batch_size: int = 32) -> np.ndarray:
    """Each sample's mean backbone features over its cropped images, ``(n_samples, dim)`` float32
    (the clip features of summary mode ``all``); content-cached like the clips' images."""
    stacks = [sample_frames(s, frame_size, face_detect, face_only) for s in samples]
    if not stacks:
        return np.zeros((0, 0), np.float32)
    F = backbone_features(np.concatenate(stacks), backbone=backbone, weights=backbone_weights, seed=seed,
                          batch_size=batch_size, layer=layer, progress=False)
    ends = np.cumsum([len(s) for s in stacks])
    return np.stack([F[e - len(s):e].mean(0) for s, e in zip(stacks, ends)]).astype(np.float32)


def as_frame(samples: Sequence[AuxSample]) -> pd.DataFrame:
    """``subject``, ``label`` and ``n_images`` of each sample."""
    return pd.DataFrame({"subject": [s.subject for s in samples], "label": [s.label for s in samples],
                         "n_images": [len(s.paths) for s in samples]})
