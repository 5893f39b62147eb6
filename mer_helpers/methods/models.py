"""The three classifiers of the papers, the way their inputs become sequences, and training.

Models (Keras 3 functional API; the layer names read like paper 1's equations 4-9):

* :func:`build_bilstm_sa` — ``Bidirectional(LSTM)`` returning the whole sequence
  ``X ∈ R^{T×d}`` (d = 2·units) → multi-head scaled dot-product self-attention written out:
  ``Q = XW^Q``, ``K = XW^K``, ``V = XW^V`` (eq. 4-6, one d×d projection each, split into h
  heads of d_k = d/h columns), ``Head_i = softmax(Q_i K_iᵀ / √d_k) V_i`` (eq. 7, the custom
  layer :class:`ScaledDotProductAttention`), ``R = Concat(Head_1..h) W^O`` (eq. 8), and
  ``S = LayerNorm(X + R)`` (eq. 9) → mean over time → dropout → dense softmax.
  This is a custom layer, not ``keras.layers.MultiHeadAttention``, so that every matrix of the
  equations is a named layer (``Q_eq4_XWq`` ... ``S_eq9_layernorm``) and the attention map can
  be read back (:func:`attention_weights`).
* :func:`build_bilstm` — the same BiLSTM, pooling and classifier without the attention block,
  so the comparison isolates what the attention adds.
* :func:`build_cnn` — two ``Conv1D`` blocks → pooling → dense softmax.

All are compiled with Adam and sparse categorical cross-entropy (paper 2, Algorithm 5).

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

Training (:func:`fit_model`): the validation part is carved out of the *training portion*
(grouped by speaker when groups are given, :func:`validation_carve_out`); by default it is only
scored (paper 2 trains 10 epochs without early stopping); optional early stopping watches that
part only and restores the best epoch; seeds are fixed with ``keras.utils.set_random_seed``.
The test clips of a split are never seen.
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import logging  # noqa: E402

import keras  # noqa: E402
from keras import layers, ops  # noqa: E402
from sklearn.utils.validation import check_is_fitted, validate_data  # noqa: E402

from mer_helpers.core.fileio import atomic_write, read_json, save_npz, write_json
from mer_helpers.core.names import MAIN_MODEL, MODELS
from mer_helpers.data.splits import validation_carve_out

logging.getLogger("tensorflow").setLevel(logging.ERROR)  # retracing notices on tiny folds

MODEL_NAMES = MODELS
#: what early stopping watches on the validation part: ``none`` trains every epoch (the
#: validation part is then only reported)
MONITORS = ("val_loss", "val_accuracy", "none")
#: how the two modalities meet: one model on both (the papers') or one model each, probabilities averaged
FUSIONS = ("early", "late")


# ----------------------------------------------------------------------------------------------
# Layers and models
# ----------------------------------------------------------------------------------------------
@keras.saving.register_keras_serializable(package="mer")
class ScaledDotProductAttention(layers.Layer):
    """Paper 1 eq. 7 for h heads: ``Head_i = softmax(Q_i K_iᵀ / √d_k) V_i``, heads concatenated.

    Inputs ``[Q, K, V]``, each ``(batch, T, d)`` (the outputs of the eq. 4-6 projections);
    ``d`` must be divisible by ``heads``; ``d_k = d / heads``. Output ``(batch, T, d)``: the
    heads side by side (``Concat(Head_1, ..., Head_h)``), ready for ``W^O`` (eq. 8).
    """

    def __init__(self, heads: int = 4, **kwargs):
        super().__init__(**kwargs)
        self.heads = int(heads)

    def build(self, input_shape):
        d = input_shape[0][-1]
        if d is None or d % self.heads:
            raise ValueError(f"ScaledDotProductAttention: model width d={d} is not divisible by heads={self.heads}")
        self.d_k = d // self.heads

    def _split(self, x):
        # (b, T, d) -> (b, h, T, d_k)
        b, t = ops.shape(x)[0], ops.shape(x)[1]
        x = ops.reshape(x, (b, t, self.heads, self.d_k))
        return ops.transpose(x, (0, 2, 1, 3))

    def scores(self, q, k):
        """``softmax(Q_i K_iᵀ / √d_k)`` for every head: ``(b, h, T, T)``."""
        qh, kh = self._split(q), self._split(k)
        logits = ops.matmul(qh, ops.transpose(kh, (0, 1, 3, 2))) / math.sqrt(self.d_k)
        return ops.softmax(logits, axis=-1)

    def call(self, inputs):
        q, k, v = inputs
        a = self.scores(q, k)
        heads = ops.matmul(a, self._split(v))  # (b, h, T, d_k)
        heads = ops.transpose(heads, (0, 2, 1, 3))  # (b, T, h, d_k)
        b, t = ops.shape(heads)[0], ops.shape(heads)[1]
        return ops.reshape(heads, (b, t, self.heads * self.d_k))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[2])

    def get_config(self):
        return {**super().get_config(), "heads": self.heads}


def _compile(model: keras.Model, learning_rate: float = 1e-3) -> keras.Model:
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"],
                  jit_compile=False)  # XLA compilation costs more than it saves on these tiny CPU runs
    return model


def predict_proba(model: keras.Model, X, batch_size: int = 512) -> np.ndarray:
    """Softmax outputs of a Keras model, by calling it in inference mode batch by batch.

    Cheaper than ``model.predict`` for the few hundred clips of a fold: nothing to trace.

    Parameters
    ----------
    model : keras.Model
    X : ndarray of shape (n, T, d), or a list of them
        The model input; a list for a model with several inputs (late fusion).
    batch_size : int, default=512

    Returns
    -------
    ndarray of shape (n, n_classes), float32
    """
    parts = [np.asarray(x, dtype=np.float32) for x in X] if isinstance(X, (list, tuple)) else None
    n = len(parts[0]) if parts is not None else len(X)
    if parts is None:
        X = np.asarray(X, dtype=np.float32)
    if n == 0:
        return np.zeros((0, int(model.output_shape[-1])), dtype=np.float32)
    batch = (lambda i: [p[i:i + batch_size] for p in parts]) if parts is not None else (lambda i: X[i:i + batch_size])
    return np.concatenate([np.asarray(model(batch(i), training=False)) for i in range(0, n, batch_size)])


def compose_late_fusion(audio_model: keras.Model, visual_model: keras.Model, name: str) -> keras.Model:
    """One model with two inputs whose output is the mean of two trained models' softmax outputs.

    Nothing new is trained.

    Parameters
    ----------
    audio_model, visual_model : keras.Model
        The trained models of each modality (renamed ``<name>_audio`` / ``<name>_visual``).
    name : str
        The model name (``bilstm_sa`` ...).

    Returns
    -------
    keras.Model
        Inputs ``[audio_sequence, visual_sequence]``, output the mean softmax.
    """
    a_in = keras.Input(shape=audio_model.input_shape[1:], name="audio_sequence")
    v_in = keras.Input(shape=visual_model.input_shape[1:], name="visual_sequence")
    audio_model.name, visual_model.name = f"{name}_audio", f"{name}_visual"
    out = layers.Average(name="late_fusion_mean")([audio_model(a_in), visual_model(v_in)])
    return keras.Model([a_in, v_in], out, name=f"{name}_late")


def _sequence_input(input_shape):
    """The models' input layer ``input_sequence`` of shape ``(T, d_in)`` (checked: both >= 1)."""
    shape = tuple(int(s) for s in input_shape)
    if len(shape) != 2 or min(shape) < 1:
        raise ValueError(f"input_shape must be (T, d) with T, d >= 1, got {input_shape}")
    return keras.Input(shape=shape, name="input_sequence")


def _pooled_softmax(x_in, x, n_classes: int, dropout: float, learning_rate: float, name: str) -> keras.Model:
    """The head all three models share: mean over time → dropout → softmax; the model compiled."""
    z = layers.GlobalAveragePooling1D(name="mean_over_time")(x)
    z = layers.Dropout(dropout, name="dropout")(z)
    out = layers.Dense(n_classes, activation="softmax", name="softmax_classifier")(z)
    return _compile(keras.Model(x_in, out, name=name), learning_rate)


def build_bilstm_sa(input_shape: Sequence[int], n_classes: int, units: int = 64, heads: int = 4,
                    dropout: float = 0.3, learning_rate: float = 1e-3) -> keras.Model:
    """BiLSTM + multi-head self-attention (paper 1 eq. 4-9) + mean pooling + softmax; compiled.

    The BiLSTM returns ``X ∈ R^{T×d}`` with d = 2·units; the attention has ``heads`` heads of
    ``d_k = d / heads`` (64 units, 4 heads → d = 128, d_k = 32).

    Parameters
    ----------
    input_shape : (int, int)
        ``(T, d_in)``.
    n_classes : int
    units : int, default=64
        LSTM units per direction.
    heads : int, default=4
        Attention heads (``2 * units`` must be divisible by it).
    dropout : float, default=0.3
    learning_rate : float, default=1e-3
        Adam's learning rate.

    Returns
    -------
    keras.Model
        Compiled (Adam, sparse categorical cross-entropy).
    """
    d = 2 * int(units)
    if d % int(heads):
        raise ValueError(f"build_bilstm_sa: d = 2*units = {d} is not divisible by heads = {heads}")
    x_in = _sequence_input(input_shape)
    x = layers.Bidirectional(layers.LSTM(units, return_sequences=True), name="X_bilstm")(x_in)
    q = layers.Dense(d, use_bias=False, name="Q_eq4_XWq")(x)
    k = layers.Dense(d, use_bias=False, name="K_eq5_XWk")(x)
    v = layers.Dense(d, use_bias=False, name="V_eq6_XWv")(x)
    heads_out = ScaledDotProductAttention(heads, name="heads_eq7_softmax_QKt_sqrt_dk_V")([q, k, v])
    r = layers.Dense(d, use_bias=False, name="R_eq8_concat_heads_WO")(heads_out)
    r = layers.Dropout(dropout, name="R_dropout")(r)
    s = layers.Add(name="residual_X_plus_R")([x, r])
    s = layers.LayerNormalization(name="S_eq9_layernorm")(s)
    return _pooled_softmax(x_in, s, n_classes, dropout, learning_rate, "bilstm_sa")


def build_bilstm(input_shape: Sequence[int], n_classes: int, units: int = 64, dropout: float = 0.3,
                 learning_rate: float = 1e-3, **_ignored) -> keras.Model:
    """BiLSTM baseline: the same BiLSTM, pooling and classifier as :func:`build_bilstm_sa`, no attention.

    Parameters
    ----------
    input_shape : (int, int)
        ``(T, d_in)``: steps and features per step of the sequencer's output.
    n_classes : int
    units : int, default=64
        LSTM units per direction (the pooled vector has ``2 * units``).
    dropout : float, default=0.3
        Dropout rate before the softmax layer.
    learning_rate : float, default=1e-3
    **_ignored
        Other builders' arguments (``heads``), ignored.

    Returns
    -------
    keras.Model
        Compiled, named ``bilstm``.
    """
    x_in = _sequence_input(input_shape)
    x = layers.Bidirectional(layers.LSTM(units, return_sequences=True), name="X_bilstm")(x_in)
    return _pooled_softmax(x_in, x, n_classes, dropout, learning_rate, "bilstm")


def build_cnn(input_shape: Sequence[int], n_classes: int, filters: int = 64, kernel_size: int = 3,
              dropout: float = 0.3, learning_rate: float = 1e-3, **_ignored) -> keras.Model:
    """CNN baseline: Conv1D(filters)-MaxPool → Conv1D(2·filters) → global mean → dropout → softmax.

    Parameters
    ----------
    input_shape : (int, int)
        ``(T, d_in)``; the max-pooling halves ``T`` (rounding up).
    n_classes : int
    filters : int, default=64
        Filters of the first convolution (the second has twice as many).
    kernel_size : int, default=3
        Width in steps of both convolutions ("same" padding).
    dropout : float, default=0.3
    learning_rate : float, default=1e-3
    **_ignored
        Other builders' arguments (``units``, ``heads``), ignored.

    Returns
    -------
    keras.Model
        Compiled, named ``cnn``.
    """
    x_in = _sequence_input(input_shape)
    x = layers.Conv1D(filters, kernel_size, padding="same", activation="relu", name="conv1")(x_in)
    x = layers.MaxPooling1D(2, padding="same", name="maxpool1")(x)
    x = layers.Conv1D(2 * filters, kernel_size, padding="same", activation="relu", name="conv2")(x)
    return _pooled_softmax(x_in, x, n_classes, dropout, learning_rate, "cnn")


BUILDERS: dict[str, Callable[..., keras.Model]] = {
    "bilstm_sa": build_bilstm_sa, "bilstm": build_bilstm, "cnn": build_cnn}


def build_model(model_name: str, input_shape: Sequence[int], n_classes: int, **kwargs) -> keras.Model:
    """Build one of :data:`MODEL_NAMES` by name.

    Parameters
    ----------
    model_name : str
        ``bilstm_sa``, ``bilstm`` or ``cnn``.
    input_shape : (int, int)
    n_classes : int
    **kwargs
        Passed to the builder (``heads`` / ``units`` are dropped where the model has none).

    Returns
    -------
    keras.Model
        Compiled.
    """
    if model_name not in BUILDERS:
        raise ValueError(f"unknown model {model_name!r}; choose one of {list(BUILDERS)}")
    if model_name != "bilstm_sa":
        kwargs.pop("heads", None)
    if model_name == "cnn":
        kwargs.pop("units", None)
    return BUILDERS[model_name](input_shape, n_classes, **kwargs)


def attention_weights(model: keras.Model, X: np.ndarray) -> np.ndarray:
    """The attention map of a :func:`build_bilstm_sa` model.

    Parameters
    ----------
    model : keras.Model
        Built by :func:`build_bilstm_sa`.
    X : ndarray of shape (n, T, d_in)

    Returns
    -------
    ndarray of shape (n, heads, T, T)
        Rows sum to 1.
    """
    att = next(l for l in model.layers if isinstance(l, ScaledDotProductAttention))
    probe = keras.Model(model.input, [model.get_layer("Q_eq4_XWq").output, model.get_layer("K_eq5_XWk").output])
    q, k = probe(np.asarray(X, dtype=np.float32), training=False)
    return np.asarray(att.scores(q, k))


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


# ----------------------------------------------------------------------------------------------
# Training
# ----------------------------------------------------------------------------------------------
def fit_model(model_name: str, X_train: np.ndarray, y_train, groups=None, validation_split: float = 0.2,
              epochs: int = 10, batch_size: int = 32, seed: int = 42, patience: int = 3,
              verbose: int = 0, eager_updates: int = 16, monitor: str = "none",
              **build_kwargs) -> tuple[keras.Model, dict]:
    """Build and train ``model_name`` on ``(X_train (n, T, d), y_train (n,) int)``.

    A ``validation_split`` part of the training rows (whole speakers when ``groups`` is given)
    is held out and scored after every epoch. ``monitor="none"`` (default) trains all ``epochs``
    as paper 2's Algorithm 5 does (``model.fit(..., epochs=10, batch_size=32,
    validation_split=0.2)``, no early stopping); ``val_loss`` or ``val_accuracy`` stop early on
    that part (patience ``patience``, best epoch restored).
    When the whole run is at most ``eager_updates`` gradient updates (tiny folds, as on the
    committed sample) the model runs eagerly: tracing the training graph would cost more than
    the updates themselves; the arithmetic is the same.

    Parameters
    ----------
    model_name : str
        ``bilstm_sa``, ``bilstm`` or ``cnn``.
    X_train : ndarray of shape (n, T, d)
    y_train : array-like of shape (n,)
        Class indices.
    groups : array-like of shape (n,) or None
        Speakers, for the validation carve-out (:func:`validation_carve_out`).
    validation_split, epochs, batch_size, seed, patience : training settings.
    verbose : int, default=0
        Keras verbosity.
    eager_updates : int, default=16
        Run eagerly up to this many gradient updates.
    monitor : {"none", "val_loss", "val_accuracy"}
        What early stopping watches.
    **build_kwargs
        Passed to :func:`build_model` (``n_classes``, ``units``, ``heads``, ``dropout``,
        ``learning_rate``).

    Returns
    -------
    model : keras.Model
    record : dict
        The Keras ``history`` (loss, accuracy, val_loss, val_accuracy per epoch), ``best_epoch``
        (1-based), ``epochs_run``, the sizes of the two parts, the validation speakers and how the
        part was drawn.
    """
    X_train = np.asarray(X_train, dtype=np.float32)
    y_train = np.asarray(y_train).astype(int)
    if X_train.ndim != 3:
        raise ValueError(f"fit_model: X_train must be (n, T, d), got {X_train.shape}")
    if len(X_train) != len(y_train):
        raise ValueError(f"fit_model: {len(X_train)} rows but {len(y_train)} labels")
    n_classes = int(build_kwargs.pop("n_classes", int(y_train.max()) + 1))
    fit_idx, val_idx, how = validation_carve_out(y_train, groups, validation_split, seed)
    keras.utils.set_random_seed(int(seed))
    model = build_model(model_name, X_train.shape[1:], n_classes, **build_kwargs)
    steps_per_epoch = int(math.ceil(len(fit_idx) / int(batch_size)))
    model.run_eagerly = steps_per_epoch * int(epochs) <= int(eager_updates)
    callbacks, val_data = [], None
    if monitor not in MONITORS:
        raise ValueError(f"monitor must be one of {MONITORS}, got {monitor!r}")
    if len(val_idx):
        val_data = (X_train[val_idx], y_train[val_idx])
        if monitor != "none":
            callbacks.append(keras.callbacks.EarlyStopping(monitor=monitor, patience=int(patience),
                                                           restore_best_weights=True))
    hist = model.fit(X_train[fit_idx], y_train[fit_idx], validation_data=val_data, epochs=int(epochs),
                     batch_size=int(batch_size), shuffle=True, callbacks=callbacks, verbose=verbose)
    history = {k: [float(v) for v in vals] for k, vals in hist.history.items()}
    if monitor == "val_loss" and "val_loss" in history:
        best_epoch = int(np.argmin(history["val_loss"])) + 1
    elif monitor == "val_accuracy" and "val_accuracy" in history:
        best_epoch = int(np.argmax(history["val_accuracy"])) + 1
    else:
        best_epoch = len(history["loss"])
    record = {"model": model_name, "history": history, "epochs_run": len(history["loss"]),
              "n_updates": steps_per_epoch * len(history["loss"]),
              "best_epoch": best_epoch, "n_fit": int(len(fit_idx)), "n_val": int(len(val_idx)),
              "validation": how, "monitor": monitor, "seed": int(seed), "input_shape": list(X_train.shape[1:]),
              "n_params": int(model.count_params()), "run_eagerly": bool(model.run_eagerly)}
    if groups is not None and len(val_idx):
        record["val_speakers"] = sorted({str(g) for g in np.asarray(groups)[val_idx]})
    return model, record


def fit_late_fusion(model_name: str, X_train: Sequence[np.ndarray], y_train, **kwargs) -> tuple[keras.Model, dict]:
    """Late fusion: :func:`fit_model` once per modality, then :func:`compose_late_fusion`.

    Parameters
    ----------
    model_name : str
    X_train : list of two ndarrays
        ``[audio, visual]`` inputs of :class:`LateFusionSequencer`.
    y_train : array-like of shape (n,)
    **kwargs
        Passed to :func:`fit_model`.

    Returns
    -------
    model : keras.Model
    record : dict
        ``history`` is the mean of the two models' curves; each model's own record is under
        ``late_fusion``.
    """
    (ma, ra), (mv, rv) = (fit_model(model_name, x, y_train, **kwargs) for x in X_train)
    model = compose_late_fusion(ma, mv, model_name)
    hist = {k: [float((a + b) / 2) for a, b in zip(ra["history"][k], rv["history"][k])]
            for k in ra["history"] if k in rv["history"]}
    rec = {**rv, "history": hist, "n_params": int(model.count_params()), "fusion": "late",
           "input_shape": [ra["input_shape"], rv["input_shape"]],
           "late_fusion": {"audio": ra, "visual": rv}}
    return model, rec


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


def fit_sequence_model(model_name: str, X_seq, y_train, **kwargs) -> tuple[keras.Model, dict]:
    """:func:`fit_model`, or :func:`fit_late_fusion` for the ``[audio, visual]`` pair of a
    :class:`LateFusionSequencer`.

    Parameters
    ----------
    model_name : str
    X_seq : ndarray of shape (n, T, d), or a list of two
    y_train : array-like of shape (n,)
    **kwargs
        Passed on.

    Returns
    -------
    model : keras.Model
    record : dict
    """
    fit = fit_late_fusion if isinstance(X_seq, list) else fit_model
    return fit(model_name, X_seq, y_train, **kwargs)


# ----------------------------------------------------------------------------------------------
# The classifier part of the model bundle
# ----------------------------------------------------------------------------------------------
@dataclass
class ClassifierBundle:
    """Fitted classifiers of the ``final`` split: what ``OUT/model/classifiers/`` + ``bundle.json`` hold.

    ``selected_columns``: the fused columns (``"<modality>:<stage>:<index>"``) the models read,
    in order; ``sequencer``: the fitted :class:`FeatureSequencer` / :class:`TemporalSequencer`;
    ``models``: name → compiled Keras model; ``params``: the training parameters (for the record).
    """

    classes: list[str]
    selected_columns: list[str]
    sequencer: Any
    models: dict[str, keras.Model]
    params: dict = field(default_factory=dict)
    main_model: str = MAIN_MODEL

    # -- inputs -------------------------------------------------------------------------------
    def inputs(self, X_fused=None, columns=None, audio_sequences=None, visual_sequences=None):
        """Model input from fused features (``features`` mode) or sequences (``temporal``).

        Parameters
        ----------
        X_fused : array-like of shape (n, n_columns) or None
        columns : sequence of str or None
            Names of ``X_fused``'s columns; the selected ones are taken by name.
        audio_sequences, visual_sequences : list of ndarray or None
            Needed in temporal mode.

        Returns
        -------
        ndarray of shape (n, T, d), or a list of two (late fusion)
        """
        if self.sequencer.mode == "temporal":
            if audio_sequences is None or visual_sequences is None:
                raise ValueError("this bundle uses sequence_mode='temporal': audio and visual sequences are needed")
            return self.sequencer.transform(audio_sequences, visual_sequences)
        columns = [str(c) for c in columns]
        pos = {c: i for i, c in enumerate(columns)}
        missing = [c for c in self.selected_columns if c not in pos]
        if missing:
            raise ValueError(f"{len(missing)} selected columns are missing from the fused features "
                             f"(first: {missing[:3]}); the featurizers do not match this bundle")
        X = np.asarray(X_fused, dtype=np.float64)[:, [pos[c] for c in self.selected_columns]]
        return self.sequencer.transform(X)

    def predict_proba(self, X_seq: np.ndarray) -> dict[str, np.ndarray]:
        """Class probabilities of every model.

        Parameters
        ----------
        X_seq : ndarray of shape (n, T, d), or a list of two
            Model inputs (:meth:`inputs`).

        Returns
        -------
        dict
            Model name → ndarray of shape (n, n_classes).
        """
        return {name: predict_proba(m, X_seq) for name, m in self.models.items()}

    def predict_frame(self, clip_ids, X_seq: np.ndarray):
        """Every model's predictions as a table.

        Parameters
        ----------
        clip_ids : sequence of str
        X_seq : ndarray or list of ndarrays
            Model inputs (:meth:`inputs`).

        Returns
        -------
        pandas.DataFrame
            ``clip_id, y_pred, p_<class>...`` (main model) then ``<model>:y_pred, <model>:p_<class>``.
        """
        import pandas as pd

        probs = self.predict_proba(X_seq)
        df = pd.DataFrame({"clip_id": [str(c) for c in clip_ids]})
        order = [self.main_model] + [m for m in self.models if m != self.main_model]
        main = probs[self.main_model]
        df["y_pred"] = [self.classes[i] for i in main.argmax(axis=1)]
        for j, c in enumerate(self.classes):
            df[f"p_{c}"] = main[:, j]
        for name in order:
            p = probs[name]
            df[f"{name}:y_pred"] = [self.classes[i] for i in p.argmax(axis=1)]
            for j, c in enumerate(self.classes):
                df[f"{name}:p_{c}"] = p[:, j]
        return df

    # -- persistence ----------------------------------------------------------------------------
    def save(self, model_dir, extra: dict | None = None) -> Path:
        """Write ``model_dir/classifiers/{<model>.keras, sequencer.npz}`` and ``model_dir/bundle.json``.

        Parameters
        ----------
        model_dir : path-like
        extra : dict or None
            More entries for ``bundle.json``.

        Returns
        -------
        Path
            The ``bundle.json`` written.
        """

        model_dir = Path(model_dir)
        cdir = model_dir / "classifiers"
        cdir.mkdir(parents=True, exist_ok=True)
        self.sequencer.save(cdir / "sequencer.npz")
        for name, m in self.models.items():
            atomic_write(cdir / f"{name}.keras", m.save, suffix=".keras")
        meta = {"classes": list(self.classes), "models": list(self.models), "main_model": self.main_model,
                "selected_columns": list(self.selected_columns), "sequence_layout": self.sequencer.layout(),
                "parameters": dict(self.params), **(extra or {})}
        return write_json(model_dir / "bundle.json", meta)

    @classmethod
    def load(cls, model_dir) -> "ClassifierBundle":
        """Read what :meth:`save` wrote.

        Parameters
        ----------
        model_dir : path-like

        Returns
        -------
        ClassifierBundle

        Raises
        ------
        FileNotFoundError
            ``bundle.json``, the sequencer or a listed model is missing.
        """

        model_dir = Path(model_dir)
        meta_path = model_dir / "bundle.json"
        if not meta_path.exists():
            raise FileNotFoundError(f"{meta_path}: no bundle.json; is {model_dir} the model/ folder of a run?")
        meta = read_json(meta_path)
        cdir = model_dir / "classifiers"
        seq_path = cdir / "sequencer.npz"
        if not seq_path.exists():
            raise FileNotFoundError(f"{seq_path}: missing (the classifiers stage did not finish?)")
        models = {}
        for name in meta["models"]:
            p = cdir / f"{name}.keras"
            if not p.exists():
                raise FileNotFoundError(f"{p}: model {name!r} listed in {meta_path} is missing")
            models[name] = keras.models.load_model(p, compile=False)
        return cls(classes=list(meta["classes"]), selected_columns=list(meta["selected_columns"]),
                   sequencer=load_sequencer(seq_path), models=models, params=meta.get("parameters", {}),
                   main_model=meta.get("main_model", MAIN_MODEL))


class SequenceClassifier(ClassifierMixin, BaseEstimator):
    """The classifier step of the model as a scikit-learn classifier: sequencer + Keras models.

    ``fit(X, y)`` does what :func:`run_split` does for one split, on arrays: fits the sequencer
    (:func:`features_sequencer`: scaler + folding into ``(steps, d)``) on ``X`` and trains every
    model of ``model_names`` with :func:`fit_sequence_model` (same arguments, same seeds, so the
    same weights). ``predict_proba`` gives the main model's softmax outputs;
    :meth:`predict_proba_all` every model's. The fitted state is a :class:`ClassifierBundle`
    (``bundle_``), which is what :meth:`save` / :meth:`load` write and read
    (``classifiers/`` + ``bundle.json``).

    Parameters
    ----------
    model_names : sequence of str, default=MODEL_NAMES
        The models to train (``bilstm_sa``, ``bilstm``, ``cnn``).
    main_model : str, default="bilstm_sa"
        The model behind :meth:`predict_proba` / :meth:`predict` (the first of ``model_names``
        when it is not one of them).
    classes : sequence of str or None, default=None
        The class order of the models' outputs (the run's class list); ``None``: the sorted
        labels of ``y``.
    columns : sequence of str or None, default=None
        Names of the columns of ``X`` (``"<modality>:<stage>:<index>"``); late fusion reads the
        modality from them. ``None``: ``feature:<i>``.
    steps, fusion : see :func:`features_sequencer`.
    epochs, batch_size, validation_split, seed, units, heads, dropout, patience, learning_rate, monitor :
        see :func:`fit_model`.

    Notes
    -----
    ``sequence_mode="temporal"`` has no place here: its input is per-clip sequences, not a
    2-D array; a temporal bundle is made by :func:`run_split` and wrapped with
    :meth:`from_bundle`. scikit-learn's ``check_estimator`` passes except
    ``check_estimators_nan_inf``: NaN and inf are passed through to the Keras models, as
    :class:`FeatureSequencer` does (``tests/test_estimators.py``, ``SEQUENCE_CLASSIFIER_FAILS``,
    asserts exactly this).
    """

    def __init__(self, model_names: Sequence[str] = MODEL_NAMES, main_model: str = MAIN_MODEL,
                 classes: Sequence[str] | None = None, columns: Sequence[str] | None = None,
                 steps: int = 16, fusion: str = "early", epochs: int = 10, batch_size: int = 32,
                 validation_split: float = 0.2, seed: int = 42, units: int = 64, heads: int = 4,
                 dropout: float = 0.3, patience: int = 3, learning_rate: float = 1e-3,
                 monitor: str = "none"):
        self.model_names = model_names
        self.main_model = main_model
        self.classes = classes
        self.columns = columns
        self.steps = steps
        self.fusion = fusion
        self.epochs = epochs
        self.batch_size = batch_size
        self.validation_split = validation_split
        self.seed = seed
        self.units = units
        self.heads = heads
        self.dropout = dropout
        self.patience = patience
        self.learning_rate = learning_rate
        self.monitor = monitor

    def fit(self, X, y, groups=None):
        """Fit the sequencer and train every model.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Feature vectors (the selected fused columns) of the training clips.
        y : array-like of shape (n_samples,)
            Class labels.
        groups : array-like of shape (n_samples,) or None, default=None
            Speakers: the validation part is carved out by whole speakers
            (:func:`validation_carve_out`).

        Returns
        -------
        self : SequenceClassifier
        """
        from sklearn.utils.multiclass import check_classification_targets

        X, y = validate_data(self, X, y, dtype=np.float64, ensure_all_finite=False)
        check_classification_targets(y)
        classes = np.asarray(list(self.classes) if self.classes is not None else np.unique(y))
        pos = {c: i for i, c in enumerate(classes.tolist())}
        unknown = sorted({str(v) for v in y.tolist() if v not in pos})
        if unknown:
            raise ValueError(f"SequenceClassifier.fit: labels {unknown} are not in classes {classes.tolist()}")
        y_idx = np.array([pos[v] for v in y.tolist()], dtype=int)
        columns = ([str(c) for c in self.columns] if self.columns is not None
                   else [f"feature:{i}" for i in range(X.shape[1])])
        if len(columns) != X.shape[1]:
            raise ValueError(f"SequenceClassifier.fit: {len(columns)} column names for {X.shape[1]} columns")
        seq = features_sequencer(columns, self.steps, self.fusion).fit(X)
        X_seq = seq.transform(X)
        fit_kw = dict(groups=groups, validation_split=self.validation_split, epochs=self.epochs,
                      batch_size=self.batch_size, seed=self.seed, patience=self.patience,
                      n_classes=len(classes), units=self.units, heads=self.heads, dropout=self.dropout,
                      learning_rate=self.learning_rate, monitor=self.monitor)
        models, self.records_ = {}, {}
        for m in self.model_names:
            models[m], self.records_[m] = fit_sequence_model(m, X_seq, y_idx, **fit_kw)
        self._set_bundle(ClassifierBundle([str(c) for c in classes], columns, seq, models,
                                          params={k: v for k, v in self.get_params().items()
                                                  if k not in ("classes", "columns", "model_names")},
                                          main_model=self.main_model if self.main_model in models else
                                          next(iter(models))))
        self.classes_ = classes
        return self

    def _set_bundle(self, bundle: "ClassifierBundle") -> "SequenceClassifier":
        self.bundle_ = bundle
        self.classes_ = np.asarray(bundle.classes)
        if not hasattr(self, "n_features_in_"):
            self.n_features_in_ = len(bundle.selected_columns)
        return self

    @classmethod
    def from_bundle(cls, bundle: "ClassifierBundle", **params) -> "SequenceClassifier":
        """A fitted classifier around an existing :class:`ClassifierBundle` (e.g. the ``final``
        split of :func:`run_split`, as notebook 06 makes it); nothing is retrained.

        Parameters
        ----------
        bundle : ClassifierBundle
        **params
            Training parameters to record (``steps``, ``epochs`` ...; unknown names are ignored).

        Returns
        -------
        SequenceClassifier
        """
        known = set(cls().get_params())
        own = {k: v for k, v in {**bundle.params, **params}.items() if k in known}
        self = cls(**{**own, "model_names": list(bundle.models), "main_model": bundle.main_model,
                      "classes": list(bundle.classes), "columns": list(bundle.selected_columns)})
        return self._set_bundle(bundle)

    @property
    def sequence_mode(self) -> str:
        """``features``, ``late`` or ``temporal``: the fitted sequencer's mode."""
        check_is_fitted(self, "bundle_")
        return self.bundle_.sequencer.mode

    def _inputs(self, X):
        check_is_fitted(self, "bundle_")
        if self.sequence_mode == "temporal":
            raise ValueError("this classifier reads temporal sequences: use predict_proba_sequences")
        X = validate_data(self, X, dtype=np.float64, ensure_all_finite=False, reset=False)
        return self.bundle_.sequencer.transform(X)

    def predict_proba_all(self, X) -> dict[str, np.ndarray]:
        """Every model's class probabilities.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        dict
            Model name → ndarray of shape (n_samples, n_classes).
        """
        return self.bundle_.predict_proba(self._inputs(X))

    def predict_proba_sequences(self, audio_sequences, visual_sequences) -> dict[str, np.ndarray]:
        """Every model's class probabilities for a temporal classifier.

        Parameters
        ----------
        audio_sequences, visual_sequences : list of ndarray of shape (T_i, d)

        Returns
        -------
        dict
            Model name → ndarray of shape (n_clips, n_classes).
        """
        check_is_fitted(self, "bundle_")
        return self.bundle_.predict_proba(self.bundle_.inputs(audio_sequences=audio_sequences,
                                                              visual_sequences=visual_sequences))

    def predict_proba(self, X) -> np.ndarray:
        """The main model's class probabilities.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Feature vectors with the columns of :meth:`fit` (``columns``), in the same order.

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
            Softmax outputs of ``bundle_.main_model``, columns in the order of ``classes_``.
        """
        X_seq = self._inputs(X)  # checks that the classifier is fitted
        return predict_proba(self.bundle_.models[self.bundle_.main_model], X_seq)

    def predict(self, X) -> np.ndarray:
        """The main model's predicted classes: the most probable class of :meth:`predict_proba`.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            As for :meth:`predict_proba`.

        Returns
        -------
        ndarray of shape (n_samples,)
            Labels taken from ``classes_``.
        """
        p = self.predict_proba(X)
        return self.classes_[p.argmax(axis=1)]

    def save(self, model_dir, extra: dict | None = None) -> Path:
        """Write the fitted ``bundle_``: :meth:`ClassifierBundle.save` does the writing.

        Parameters
        ----------
        model_dir : path-like
            The model folder that receives ``classifiers/`` and ``bundle.json``.
        extra : dict or None
            Handed on to :meth:`ClassifierBundle.save` (entries added to ``bundle.json``).

        Returns
        -------
        Path
            ``model_dir/bundle.json``.
        """
        check_is_fitted(self, "bundle_")
        return self.bundle_.save(model_dir, extra=extra)

    @classmethod
    def load(cls, model_dir) -> "SequenceClassifier":
        """A fitted classifier around the bundle that :meth:`save` wrote
        (:meth:`ClassifierBundle.load`, then :meth:`from_bundle`).

        Parameters
        ----------
        model_dir : path-like
            A model folder holding ``bundle.json`` and ``classifiers/``.

        Returns
        -------
        SequenceClassifier
            Fitted; ``load`` raises what :meth:`ClassifierBundle.load` raises when a file is missing.
        """
        return cls.from_bundle(ClassifierBundle.load(model_dir))


