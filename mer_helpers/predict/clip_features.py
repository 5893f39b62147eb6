"""Clip files to feature rows: the first steps of the saved model.

:class:`ClipAudioFeatures` and :class:`ClipVisualFeatures` wrap a fitted
:class:`~mer_helpers.methods.audio_featurizer.AudioFeaturizer` /
:class:`~mer_helpers.methods.visual.VisualFeaturizer` as scikit-learn transformers of clip
paths (the first two steps of :class:`~mer_helpers.predict.emotion_model.EmotionModel`);
:func:`featurize` reads one modality of many clips and names the ones it cannot read;
:func:`clip_rows` gives each clip's audio and visual rows, NaN where the clip has no voice or no
face (what a model with per-modality branches needs).
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.utils.validation import check_is_fitted

from mer_helpers.core.media import MediaError
from mer_helpers.data.validate import probe_clip
from mer_helpers.methods.audio import clip_has_speech, extract_mfcc
from mer_helpers.methods.audio_featurizer import AudioFeaturizer
from mer_helpers.methods.frames import sample_frames
from mer_helpers.methods.fusion import MODALITIES, modality_index

__all__ = ["ClipAudioFeatures", "ClipVisualFeatures", "clip_paths", "featurize", "clip_has_face"]


def clip_paths(X) -> list[str]:
    if isinstance(X, (str, Path)):
        X = [X]
    return [str(p) for p in X]


class _ClipFeatures(TransformerMixin, BaseEstimator):
    """Clip paths → one modality's feature vectors (see the two subclasses).

    Parameters
    ----------
    featurizer : AudioFeaturizer or VisualFeaturizer or None
        The modality's featurizer; :meth:`fit` fits a clone of it on the training clips.
    n_jobs : int, default=1
        Clips read at a time.

    Notes
    -----
    Not run through scikit-learn's ``check_estimator``: ``X`` is a list of clip files.
    """

    def __init__(self, featurizer=None, n_jobs: int = 1):
        self.featurizer = featurizer
        self.n_jobs = n_jobs

    @classmethod
    def fitted(cls, featurizer, n_jobs: int = 1):
        """The step around an already fitted (e.g. loaded) featurizer.

        Parameters
        ----------
        featurizer : AudioFeaturizer or VisualFeaturizer
            Fitted.
        n_jobs : int

        Returns
        -------
        the step, fitted
        """
        self = cls(featurizer, n_jobs)
        self.featurizer_ = featurizer
        return self

    def fit(self, X, y=None):
        """Fit a clone of ``featurizer`` on the training clips (``featurizer_``).

        Parameters
        ----------
        X : sequence of path-like
            Training clip files.
        y : ignored

        Returns
        -------
        self
        """
        self.featurizer_ = self._fit_clone(clip_paths(X))
        return self

    def transform(self, X) -> np.ndarray:
        """This modality's feature vectors of clip files (the first item of :meth:`featurize_paths`).

        Parameters
        ----------
        X : sequence of path-like
            Clip files (audio and video in one file, as the datasets ship them).

        Returns
        -------
        ndarray of shape (n_clips, d), float32
            One row per clip, columns as :meth:`get_feature_names_out`.
        """
        return self.featurize_paths(X)[0]

    def featurize_paths(self, X, n_jobs: int | None = None, **kwargs):
        """Feature vectors, column names and sequences of clip files.

        Parameters
        ----------
        X : sequence of path-like
        n_jobs : int or None
            Clips at a time (``None``: the ``n_jobs`` parameter).
        **kwargs
            Passed to the featurizer's ``transform_paths`` (``progress``).

        Returns
        -------
        tuple
            ``(X (n, d) float32, columns, sequences)``.
        """
        check_is_fitted(self, "featurizer_")
        return self.featurizer_.transform_paths(clip_paths(X), n_jobs=self.n_jobs if n_jobs is None else n_jobs,
                                                **kwargs)

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        """Output column names ``"<modality>:<stage>:<index>"``."""
        check_is_fitted(self, "featurizer_")
        f = self.featurizer_
        cols = getattr(f, "columns_", None)
        if cols is None:
            cols = f.columns
        return np.asarray(list(cols), dtype=object)


class ClipAudioFeatures(_ClipFeatures):
    """Clip paths → audio feature vectors: MFCC front end + :class:`mer_helpers.methods.audio_featurizer.AudioFeaturizer`.

    ``featurizer`` is an unfitted :class:`~mer_helpers.methods.audio_featurizer.AudioFeaturizer` (``None``: one with
    the default settings); ``n_jobs`` clips have their MFCCs extracted at a time. Parameters and
    notes: see ``_ClipFeatures``.
    """

    def _fit_clone(self, paths: list[str]):
        """MFCCs of ``paths`` with the clone's front-end settings, then the clone fitted on them."""

        feat = clone(self.featurizer) if self.featurizer is not None else AudioFeaturizer(progress=False)
        mfcc = extract_mfcc(paths, n_jobs=int(self.n_jobs), progress=False, **feat.front_end())
        return feat.fit(mfcc)


class ClipVisualFeatures(_ClipFeatures):
    """Clip paths → visual feature vectors: frame sampling + :class:`mer_helpers.methods.visual.VisualFeaturizer`.

    ``featurizer`` is required: a :class:`~mer_helpers.methods.visual.VisualFeaturizer` whose summary model
    may be unfitted or fitted (fitting refits a clone's summary model on the training clips' frames);
    ``n_jobs`` clips are decoded at a time. Parameters and notes: see ``_ClipFeatures``.
    """

    def _fit_clone(self, paths: list[str]):
        """The clone's frames of ``paths``, then its summary model fitted on them."""
        if self.featurizer is None:
            raise ValueError("ClipVisualFeatures needs featurizer=VisualFeaturizer(...)")
        feat = clone(self.featurizer)
        return feat.fit(feat.sample_frames(paths, n_jobs=int(self.n_jobs), progress=False))


def featurize(step: _ClipFeatures, paths: list[str], n_jobs: int, errors: dict | None):
    """``step.featurize_paths(paths)`` plus the indices of the clips it covers.

    With ``errors`` (a dict) a batch that raises is retried clip by clip: the clips that fail go
    to ``errors[path] = exception`` and the others' features are returned. When every clip fails
    and not all with a :class:`~mer_helpers.core.media.MediaError` (a clip problem), the batch's error
    is raised: it is probably not about the clips (e.g. missing weights).
    """

    try:
        X, columns, seqs = step.featurize_paths(paths, n_jobs=n_jobs)
        return X, columns, seqs, list(range(len(paths)))
    except Exception as batch_error:
        if errors is None:
            raise
        kept, rows, seqs, failed, columns = [], [], [], {}, None
        for i, p in enumerate(paths):
            try:
                Xi, columns, si = step.featurize_paths([p], n_jobs=1, progress=False)
            except Exception as e:
                failed[p] = e
                continue
            kept.append(i)
            rows.append(np.asarray(Xi)[0])
            seqs.extend(si)
        if not kept and not all(isinstance(e, MediaError) for e in failed.values()):
            raise batch_error
        errors.update(failed)
        X = np.stack(rows) if rows else None
        return X, columns, seqs, kept


def clip_has_face(path: str, visual) -> bool:
    """Did the visual featurizer's face detector find a face in any sampled frame of the clip?
    (The frame cache holds the answer once the clip's frames were sampled.)"""

    if not bool(visual.face_detect):
        return True
    _, info = sample_frames(path, int(visual.frame_interval), int(visual.frame_size), True, dtype="uint8",
                            return_info=True)
    return info.n_face > 0


def check_columns(columns: Sequence[str], expected: Sequence[str]) -> None:
    """Refuse, in one line, featurizer columns that are not a model's fused columns.

    Parameters
    ----------
    columns : sequence of str
        What the featurizers gave.
    expected : sequence of str
        The model's ``columns_``.

    Raises
    ------
    ValueError
    """
    if list(columns) != list(expected):
        first = next((c for c, e in zip(columns, expected) if c != e), "-")
        raise ValueError(f"the featurizers give {len(columns)} columns, the model expects {len(expected)} "
                         f"(first difference near {first}); the featurizers do not match this model")


def clip_rows(paths: list[str], audio, visual, columns: Sequence[str], face_absence_trusted: bool, n_jobs: int,
              errors: dict | None):
    """Each clip's audio row (NaN: no audio track, or silent) and visual row (NaN: no video
    track, or no face detected where that is trusted), and the positions of the clips kept
    (those with at least one of the two; the others go to ``errors`` or raise).

    Parameters
    ----------
    paths : list of str
    audio, visual : ClipAudioFeatures, ClipVisualFeatures
        Fitted steps.
    columns : sequence of str
        The model's fused columns (``audio:`` ones first).
    face_absence_trusted : bool
        Read "no face detected" as "no face" (the audio branch answers).
    n_jobs : int
    errors : dict or None
        ``None``: a failing clip raises; a dict: it is left out and recorded there.

    Returns
    -------
    A : ndarray of shape (n_kept, n_audio_columns)
    V : ndarray of shape (n_kept, n_visual_columns)
    kept : list of int
    """
    streams = [probe_clip(p, decode=False) for p in paths]
    ia, iv = (modality_index(columns, m) for m in MODALITIES)
    n = len(paths)
    A, V = np.full((n, len(ia)), np.nan, np.float32), np.full((n, len(iv)), np.nan, np.float32)
    failed: dict = {}
    for rows, idx, step, has in ((A, ia, audio, "has_audio"), (V, iv, visual, "has_video")):
        todo = [i for i, s in enumerate(streams) if s.get(has) and paths[i] not in failed]
        if not todo:
            continue
        X, cols, _, kept = featurize(step, [paths[i] for i in todo], n_jobs, failed)
        if kept:
            if list(cols) != [columns[j] for j in idx]:
                check_columns(list(cols), columns)
            rows[[todo[j] for j in kept]] = X
    fe, vf = audio.featurizer_.front_end(), visual.featurizer_
    for i, p in enumerate(paths):
        if p in failed:
            continue
        if not np.isnan(A[i, 0]) and not clip_has_speech(p, fe["sr"]):
            A[i] = np.nan
        if not np.isnan(V[i, 0]) and face_absence_trusted and not clip_has_face(p, vf):
            V[i] = np.nan
        if np.isnan(A[i, 0]) and np.isnan(V[i, 0]):
            failed[p] = MediaError(f"clip {Path(p).name}: neither speech nor a face found "
                                   "(no audio track or silence, and no video track or no face detected)")
    if failed and errors is None:
        raise next(iter(failed.values()))
    if errors is not None:
        errors.update(failed)
    kept = [i for i, p in enumerate(paths) if p not in failed]
    return A[kept], V[kept], kept
