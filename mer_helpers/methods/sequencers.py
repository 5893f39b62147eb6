"""From selected feature vectors or a clip's frames to the classifiers' input sequences.

How a selected feature vector becomes a sequence (:class:`FeatureSequencer`,
``sequence_mode="features"``): the standardised vector of the selected columns (in fused
order: audio columns first, then visual) is cut into ``steps`` consecutive blocks of
``d = ceil(n_selected / steps)`` values (zero-padded at the end; zero is the training mean after
standardisation), giving a ``(steps, d)`` sequence. Why: paper 2 feeds the selected features to
the BiLSTM but never says how a vector becomes a sequence. The usual ``reshape(n, 1, d)``
(one time step) makes self-attention degenerate (a softmax over one key is 1, so attention is
just the V projection); one feature per step with one channel makes an LSTM run over hundreds
or thousands of steps, slow on two CPU cores and hard to train. Blocks of consecutive columns
keep related features (same modality and stage) together, so attention can weigh audio blocks
against visual blocks, and cost stays small.

``sequence_mode="temporal"`` (:class:`TemporalSequencer`) uses the real sequences instead:
the per-frame audio bottleneck (T × 32) and the per-summary-image backbone features (k × 2048)
of each clip, both resampled (linear interpolation over time) to ``steps`` steps and
concatenated per step. Only the dimensions whose mean was selected are kept (the selected
column ``audio:ae_mean:3`` keeps dimension 3 of the audio frames); a modality with no selected
column is left out.

Fusion (``fusion``). ``early`` (the papers'): one model reads the selected audio and visual
columns together, as above. ``late``: the selected columns of each modality get their own
sequencer and their own model, each trained alone on the same training clips; the clip's
class probabilities are the mean of the two models' softmax outputs
(:class:`LateFusionSequencer`, :func:`compose_late_fusion`: one Keras model with two inputs,
saved and loaded as one file).
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Sequence

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from mer_helpers.core.fileio import save_npz

#: how the two modalities meet: one model on both (the papers') or one model each, probabilities averaged
FUSIONS = ("early", "late")


# ----------------------------------------------------------------------------------------------
# From feature vectors / temporal sequences to model inputs
# ----------------------------------------------------------------------------------------------
class _SavedSequencer:
    """The ``.npz`` file of every sequencer: ``mode`` (which class :func:`load_sequencer`
    rebuilds), ``steps``, then the class's fitted arrays (``_npz_arrays``)."""

    mode = ""

    def _npz_arrays(self) -> dict:
        raise NotImplementedError

    def save(self, path) -> Path:
        """Write the fitted sequencer to an ``.npz`` file (read back by :func:`load_sequencer`).

        Parameters
        ----------
        path : path-like

        Returns
        -------
        Path
        """

        return save_npz(path, mode=np.array(self.mode), steps=np.array(int(self.steps)), **self._npz_arrays())


class _StandardisingSequencer(_SavedSequencer):
    """What :class:`FeatureSequencer` and :class:`TemporalSequencer` share: a per-dimension
    standardisation (``mean_``, ``scale_``) learnt at ``fit`` and a ``(steps_, step_dim_)``
    output shape."""

    def _fit_scale(self, X: np.ndarray) -> None:
        """Set ``mean_`` and ``scale_`` (standard deviation, 1 where it is 0) from the rows of ``X``."""
        self.mean_ = X.mean(axis=0)
        sd = X.std(axis=0)
        self.scale_ = np.where(sd > 1e-12, sd, 1.0)

    @property
    def input_shape(self) -> tuple[int, int]:
        return (self.steps_, self.step_dim_)


class FeatureSequencer(_StandardisingSequencer, TransformerMixin, BaseEstimator):
    """Standardise selected feature vectors (fit on training rows) and fold them into ``(steps, d)``.

    ``fit(X)`` learns per-column mean and standard deviation (a ``StandardScaler``);
    ``transform(X)`` returns ``(n, steps_, step_dim_)`` float32 where ``step_dim_ =
    ceil(n_features / steps)`` and the last step is zero-padded. With fewer features than
    ``steps`` there is one feature per step.

    Parameters
    ----------
    steps : int, default=16
        Number of time steps of the output sequence (at most the number of features).

    Attributes
    ----------
    mean_, scale_ : ndarray of shape (n_features,)
        Training mean and standard deviation (1 where the deviation is 0).
    steps_, step_dim_ : int
        The sequence shape ``(steps_, step_dim_)``.

    Notes
    -----
    scikit-learn's ``check_estimator`` passes except two checks (``tests/test_estimators.py``,
    ``FEATURE_SEQUENCER_FAILS``, asserts exactly these): ``check_estimators_nan_inf`` (NaN and
    inf are passed through, as :func:`run_split` always did) and
    ``check_transformer_preserve_dtypes`` (the output is always float32, the Keras input).
    """

    mode = "features"

    def __init__(self, steps: int = 16):
        self.steps = steps

    def fit(self, X, y=None):
        """Learn the column means and standard deviations and the sequence shape.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Selected feature vectors of the training clips.
        y : ignored

        Returns
        -------
        self : FeatureSequencer
        """
        X = validate_data(self, X, dtype=np.float64, ensure_all_finite=False)
        self._fit_scale(X)
        self.n_features_in_ = X.shape[1]
        self.steps_ = max(1, min(int(self.steps), self.n_features_in_))
        self.step_dim_ = int(math.ceil(self.n_features_in_ / self.steps_))
        return self

    def transform(self, X) -> np.ndarray:
        """Standardise with the training mean and scale, zero-pad to ``steps_ * step_dim_`` columns, fold.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Feature vectors with the columns seen at :meth:`fit`, in the same order.

        Returns
        -------
        ndarray of shape (n_samples, steps_, step_dim_), float32
            Step ``t`` holds the standardised columns ``t * step_dim_`` to ``(t + 1) * step_dim_ - 1``.
        """
        check_is_fitted(self, "mean_")
        X = validate_data(self, X, dtype=np.float64, ensure_all_finite=False, reset=False)
        Z = (X - self.mean_) / self.scale_
        pad = self.steps_ * self.step_dim_ - self.n_features_in_
        if pad:
            Z = np.concatenate([Z, np.zeros((Z.shape[0], pad))], axis=1)
        return Z.reshape(Z.shape[0], self.steps_, self.step_dim_).astype(np.float32)

    def layout(self) -> dict:
        """The fitted sequence shape, for ``bundle.json`` and the notebooks.

        Returns
        -------
        dict
            ``mode``, ``steps``, ``step_dim``, ``n_features``, ``padding`` and ``how``.
        """
        return {"mode": self.mode, "steps": self.steps_, "step_dim": self.step_dim_,
                "n_features": self.n_features_in_,
                "padding": self.steps_ * self.step_dim_ - self.n_features_in_,
                "how": "standardised selected vector (fused order: audio then visual) cut into "
                       "`steps` consecutive blocks of `step_dim` columns, zero-padded"}

    def _npz_arrays(self) -> dict:
        return {"mean_": self.mean_, "scale_": self.scale_, "steps_": np.array(self.steps_),
                "step_dim_": np.array(self.step_dim_)}

    @classmethod
    def _from_npz(cls, z) -> "FeatureSequencer":
        self = cls(int(z["steps"]))
        self.mean_, self.scale_ = z["mean_"], z["scale_"]
        self.n_features_in_ = len(self.mean_)
        self.steps_, self.step_dim_ = int(z["steps_"]), int(z["step_dim_"])
        return self


def resample_sequence(seq: np.ndarray, length: int) -> np.ndarray:
    """Linear interpolation of a sequence onto evenly spaced steps.

    Parameters
    ----------
    seq : ndarray of shape (T, d) or (T,)
    length : int
        Number of output steps.

    Returns
    -------
    ndarray of shape (length, d), float64
    """
    seq = np.asarray(seq, dtype=np.float64)
    if seq.ndim == 1:
        seq = seq[:, None]
    if seq.shape[0] == 0:
        raise ValueError("resample_sequence: empty sequence")
    if seq.shape[0] == 1:
        return np.repeat(seq, length, axis=0)
    src = np.linspace(0.0, 1.0, seq.shape[0])
    dst = np.linspace(0.0, 1.0, length)
    return np.stack([np.interp(dst, src, seq[:, j]) for j in range(seq.shape[1])], axis=1)


def sequence_dims(selected_columns: Sequence[str], modality: str) -> list[int]:
    """Sequence dimensions named by selected columns ``"<modality>:<stage>:<index>"``.

    Parameters
    ----------
    selected_columns : sequence of str
    modality : str
        ``audio`` or ``visual``.

    Returns
    -------
    list of int
        Sorted, unique.
    """
    dims = set()
    for c in selected_columns:
        parts = str(c).split(":")
        if parts[0] == modality and parts[-1].isdigit():
            dims.add(int(parts[-1]))
    return sorted(dims)


class TemporalSequencer(_StandardisingSequencer, BaseEstimator):
    """Real temporal input: audio frames and summary-image features resampled to ``steps`` steps.

    ``fit(audio_seqs, visual_seqs)`` (lists of ``(T_i, 32)`` and ``(k_i, 2048)`` arrays of the
    training clips) learns per-dimension mean and standard deviation over all resampled steps;
    ``transform`` returns ``(n, steps, len(audio_dims) + len(visual_dims))`` float32.
    :func:`sequence_dims` derives the dimensions from the selected columns.

    Parameters
    ----------
    steps : int, default=16
        Number of time steps every sequence is resampled to.
    audio_dims, visual_dims : sequence of int or None, default=None
        Which dimensions of each modality's sequences to keep (``None``: all; ``[]``: drop
        the modality).

    Notes
    -----
    Not run through scikit-learn's ``check_estimator``: its input is two lists of
    variable-length ``(T_i, d)`` arrays, not one 2-D array, so no check's data fits
    (``tests/test_estimators.py`` checks ``get_params`` / ``clone`` and the fit/transform
    contract instead).
    """

    mode = "temporal"

    def __init__(self, steps: int = 16, audio_dims: Sequence[int] | None = None,
                 visual_dims: Sequence[int] | None = None):
        self.steps = steps
        self.audio_dims = audio_dims
        self.visual_dims = visual_dims

    @staticmethod
    def _dims(dims):
        return None if dims is None else [int(i) for i in dims]

    def _stack(self, audio_seqs, visual_seqs) -> np.ndarray:
        if len(audio_seqs) != len(visual_seqs):
            raise ValueError(f"TemporalSequencer: {len(audio_seqs)} audio but {len(visual_seqs)} visual sequences")
        out = []
        for a, v in zip(audio_seqs, visual_seqs):
            parts = []
            for seq, dims in ((a, self._dims(self.audio_dims)), (v, self._dims(self.visual_dims))):
                if dims is not None and len(dims) == 0:
                    continue
                r = resample_sequence(seq, int(self.steps))
                if dims is not None:
                    if max(dims) >= r.shape[1]:
                        raise ValueError(f"TemporalSequencer: dimension {max(dims)} asked, sequence has {r.shape[1]}")
                    r = r[:, dims]
                parts.append(r)
            if not parts:
                raise ValueError("TemporalSequencer: both modalities are dropped (no selected dimensions)")
            out.append(np.concatenate(parts, axis=1))
        return np.stack(out)

    def fit(self, audio_seqs, visual_seqs):
        """Learn the per-dimension mean and standard deviation over all resampled steps.

        Parameters
        ----------
        audio_seqs, visual_seqs : list of ndarray of shape (T_i, d)
            The training clips' audio and visual sequences, clip by clip.

        Returns
        -------
        self : TemporalSequencer
        """
        S = self._stack(audio_seqs, visual_seqs)
        self._fit_scale(S.reshape(-1, S.shape[-1]))
        self.steps_, self.step_dim_ = int(self.steps), S.shape[-1]
        return self

    def transform(self, audio_seqs, visual_seqs) -> np.ndarray:
        """Resample, keep the chosen dimensions, standardise.

        Parameters
        ----------
        audio_seqs, visual_seqs : list of ndarray of shape (T_i, d)

        Returns
        -------
        ndarray of shape (n_clips, steps, step_dim_), float32
        """
        check_is_fitted(self, "mean_")
        S = self._stack(audio_seqs, visual_seqs)
        return ((S - self.mean_) / self.scale_).astype(np.float32)

    def fit_transform(self, audio_seqs, visual_seqs):
        """:meth:`fit` then :meth:`transform` on the same sequences."""
        return self.fit(audio_seqs, visual_seqs).transform(audio_seqs, visual_seqs)

    def layout(self) -> dict:
        """The fitted sequence shape and kept dimensions (for ``bundle.json``)."""
        return {"mode": self.mode, "steps": self.steps_, "step_dim": self.step_dim_,
                "audio_dims": self._dims(self.audio_dims), "visual_dims": self._dims(self.visual_dims),
                "how": "audio bottleneck frames and summary-image features, each linearly "
                       "resampled to `steps` steps, selected dimensions concatenated per step, "
                       "standardised per dimension"}

    def _npz_arrays(self) -> dict:
        return {"mean_": self.mean_, "scale_": self.scale_,
                "audio_dims": np.array(json.dumps(self._dims(self.audio_dims))),
                "visual_dims": np.array(json.dumps(self._dims(self.visual_dims)))}

    @classmethod
    def _from_npz(cls, z) -> "TemporalSequencer":
        self = cls(int(z["steps"]), json.loads(str(z["audio_dims"])), json.loads(str(z["visual_dims"])))
        self.mean_, self.scale_ = z["mean_"], z["scale_"]
        self.steps_, self.step_dim_ = int(self.steps), len(self.mean_)
        return self


class LateFusionSequencer(_SavedSequencer, TransformerMixin, BaseEstimator):
    """Late fusion inputs: the selected columns of each modality, standardised and folded by a
    :class:`FeatureSequencer` of their own. ``transform(X)`` → ``[audio (n, T_a, d_a), visual
    (n, T_v, d_v)]``.

    Parameters
    ----------
    steps : int, default=16
        Steps of each modality's sequence.
    audio_idx, visual_idx : sequence of int
        Positions of each modality's columns in ``X`` (both must be non-empty at ``fit``).

    Notes
    -----
    Not run through scikit-learn's ``check_estimator``: ``transform`` returns a list of two
    3-D arrays (one input per Keras branch), and ``fit`` needs column positions that match
    ``X``, which the checks' generated data do not have (``tests/test_estimators.py`` checks
    ``get_params`` / ``clone`` and the fit/transform contract instead).
    """

    mode = "late"

    def __init__(self, steps: int = 16, audio_idx: Sequence[int] = (), visual_idx: Sequence[int] = ()):
        self.steps = steps
        self.audio_idx = audio_idx
        self.visual_idx = visual_idx

    @classmethod
    def from_columns(cls, steps: int, columns: Sequence[str]) -> "LateFusionSequencer":
        """The sequencer for fused columns ``"<modality>:<stage>:<index>"`` in the order of ``X``."""
        mod = [str(c).split(":")[0] for c in columns]
        return cls(steps, [i for i, m in enumerate(mod) if m == "audio"], [i for i, m in enumerate(mod) if m == "visual"])

    def _idx(self) -> tuple[list[int], list[int]]:
        a, v = [int(i) for i in self.audio_idx], [int(i) for i in self.visual_idx]
        if not a or not v:
            raise ValueError("late fusion needs selected columns of both modalities "
                             f"({len(a)} audio, {len(v)} visual)")
        return a, v

    def fit(self, X, y=None):
        """Fit one :class:`FeatureSequencer` per modality.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : ignored

        Returns
        -------
        self : LateFusionSequencer
        """
        a, v = self._idx()
        X = np.asarray(X, dtype=np.float64)
        self.audio_ = FeatureSequencer(int(self.steps)).fit(X[:, a])
        self.visual_ = FeatureSequencer(int(self.steps)).fit(X[:, v])
        self.n_features_in_ = X.shape[1]
        return self

    @property
    def input_shape(self) -> list[tuple[int, int]]:
        return [self.audio_.input_shape, self.visual_.input_shape]

    def transform(self, X) -> list[np.ndarray]:
        """The two model inputs.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        list of two ndarrays
            ``[audio (n, T_a, d_a), visual (n, T_v, d_v)]``, float32.
        """
        check_is_fitted(self, "audio_")
        a, v = self._idx()
        X = np.asarray(X, dtype=np.float64)
        return [self.audio_.transform(X[:, a]), self.visual_.transform(X[:, v])]

    def layout(self) -> dict:
        """Both modalities' sequence shapes (for ``bundle.json``)."""
        return {"mode": self.mode, "audio": self.audio_.layout(), "visual": self.visual_.layout(),
                "how": "each modality's selected columns standardised and cut into `steps` blocks; "
                       "one model per modality, softmax outputs averaged"}

    def _npz_arrays(self) -> dict:
        a, v = self._idx()
        arrays = {"audio_idx": np.array(a), "visual_idx": np.array(v)}
        for tag, sq in (("a", self.audio_), ("v", self.visual_)):
            arrays.update({f"{tag}_{k}": x for k, x in sq._npz_arrays().items()})
        return arrays

    @classmethod
    def _from_npz(cls, z) -> "LateFusionSequencer":
        self = cls(int(z["steps"]), z["audio_idx"].tolist(), z["visual_idx"].tolist())
        for tag, attr in (("a", "audio_"), ("v", "visual_")):
            sq = FeatureSequencer(int(self.steps))
            sq.mean_, sq.scale_ = z[f"{tag}_mean_"], z[f"{tag}_scale_"]
            sq.n_features_in_ = len(sq.mean_)
            sq.steps_, sq.step_dim_ = int(z[f"{tag}_steps_"]), int(z[f"{tag}_step_dim_"])
            setattr(self, attr, sq)
        self.n_features_in_ = len(self.audio_idx) + len(self.visual_idx)
        return self


def load_sequencer(path) -> FeatureSequencer | TemporalSequencer | LateFusionSequencer:
    """Load a sequencer written by its ``save(path)``.

    Parameters
    ----------
    path : path-like
        A ``sequencer.npz``.

    Returns
    -------
    FeatureSequencer or TemporalSequencer or LateFusionSequencer
    """
    with np.load(path, allow_pickle=False) as z:
        mode = str(z["mode"])
        if mode == "late":
            return LateFusionSequencer._from_npz(z)
        if mode == "features":
            return FeatureSequencer._from_npz(z)
        if mode == "temporal":
            return TemporalSequencer._from_npz(z)
    raise ValueError(f"{path}: unknown sequencer mode {mode!r}")


def features_sequencer(columns: Sequence[str], steps: int, fusion: str = "early"):
    """The (unfitted) sequencer of selected feature vectors.

    Parameters
    ----------
    columns : sequence of str
        The selected column names (the modality is their prefix).
    steps : int
    fusion : {"early", "late"}, default="early"

    Returns
    -------
    FeatureSequencer or LateFusionSequencer
        A :class:`FeatureSequencer` for early fusion, a :class:`LateFusionSequencer` for late
        fusion (early when ``columns`` hold one modality only).
    """
    if fusion not in FUSIONS:
        raise ValueError(f"fusion must be one of {FUSIONS}, got {fusion!r}")
    if fusion == "late" and len({str(c).split(":")[0] for c in columns}) == 2:
        return LateFusionSequencer.from_columns(steps, columns)
    return FeatureSequencer(steps)
