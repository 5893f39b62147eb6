"""The papers' three classifiers as Keras networks.

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
"""
from __future__ import annotations

import math
import os
from typing import Callable, Sequence

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import logging  # noqa: E402

import keras  # noqa: E402
from keras import layers, ops  # noqa: E402

from mer_helpers.core.names import MODELS  # noqa: E402

logging.getLogger("tensorflow").setLevel(logging.ERROR)  # retracing notices on tiny folds

MODEL_NAMES = MODELS


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


def compose_ensemble(models: Sequence[keras.Model], name: str) -> keras.Model:
    """One model whose output is the mean of the softmax outputs of ``models``, trained alike
    on the same inputs with different seeds (an ensemble of seeds). Nothing new is trained.

    Parameters
    ----------
    models : sequence of keras.Model
        At least two trained models with the same inputs (one sequence, or the
        ``[audio, visual]`` pair of a late-fusion model); renamed ``<name>_seed<k>``.
    name : str
        The model name (``bilstm_sa`` ...).

    Returns
    -------
    keras.Model
        The same inputs as each member, output the mean softmax.
    """
    models = list(models)
    if len(models) < 2:
        raise ValueError(f"compose_ensemble: needs at least two models, got {len(models)}")
    inputs = [keras.Input(shape=t.shape[1:], name=t.name.split(":")[0]) for t in models[0].inputs]
    feed = inputs if len(inputs) > 1 else inputs[0]
    for k, m in enumerate(models):
        m.name = f"{name}_seed{k}"
    out = layers.Average(name="ensemble_mean")([m(feed) for m in models])
    return keras.Model(feed, out, name=f"{name}_ensemble")


def _sequence_input(input_shape):
    """The models' input layer ``input_sequence`` of shape ``(T, d_in)`` (checked: both >= 1)."""
    shape = tuple(int(s) for s in input_shape)
    if len(shape) != 2 or min(shape) < 1:
        raise ValueError(f"input_shape must be (T, d) with T, d >= 1, got {input_shape}")
    return keras.Input(shape=shape, name="input_sequence")


#: sequences of at most this many steps run the LSTM as straight-line code, not a loop
UNROLL_STEPS = 2


def _bilstm(x_in, units: int):
    """The BiLSTM of both recurrent models (``X_bilstm``), returning every step. A sequence of
    at most :data:`UNROLL_STEPS` steps (the ``strong`` preset's two blocks) is unrolled: the same
    arithmetic (to the last bit here at two steps; ``tests/test_models.py``), and about a quarter
    faster per epoch on a CPU than TensorFlow's loop."""
    unroll = int(x_in.shape[1]) <= UNROLL_STEPS
    return layers.Bidirectional(layers.LSTM(units, return_sequences=True, unroll=unroll), name="X_bilstm")(x_in)


def runs_loop(model_name: str, input_shape) -> bool:
    """Whether ``model_name`` on inputs of ``input_shape`` ``(T, d)`` runs a recurrent loop
    (a BiLSTM over more than :data:`UNROLL_STEPS` steps) rather than straight-line code."""
    return model_name in ("bilstm_sa", "bilstm") and int(input_shape[0]) > UNROLL_STEPS


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
    x = _bilstm(x_in, units)
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
    x = _bilstm(x_in, units)
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


BUILDERS: dict[str, Callable[..., keras.Model]] = {
    "bilstm_sa": build_bilstm_sa, "bilstm": build_bilstm, "cnn": build_cnn}


def set_threads(n_jobs: int = 2) -> None:
    """Limit TensorFlow to ``n_jobs`` threads (no effect once TensorFlow has started running ops).

    Parameters
    ----------
    n_jobs : int, default=2

    Returns
    -------
    None
    """
    try:
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(int(n_jobs))
        tf.config.threading.set_inter_op_parallelism_threads(max(1, int(n_jobs)))
    except (RuntimeError, ImportError, ValueError):
        pass
