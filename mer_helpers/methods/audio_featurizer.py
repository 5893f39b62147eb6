"""The audio clip vector: a dense autoencoder over MFCC frames, statistics over time, eGeMAPS.

:class:`AudioFeaturizer` turns the MFCC frames of :mod:`mer_helpers.methods.audio` into one
vector per clip, made of one or more feature sets (``audio_features``, joined with ``+``):
``ae`` (the papers': MinMax scaler + Dense 64-32-64 autoencoder fitted on a split's training
frames, statistics of the 32 bottleneck units), ``mfcc_stats`` (statistics over time of every
MFCC coefficient and its deltas; nothing fitted), ``descriptors`` (144 clip-level speech
descriptors: log-mel statistics, pitch and energy percentiles, duration;
:mod:`mer_helpers.methods.speech_descriptors`) and ``egemaps`` (openSMILE's 88 eGeMAPSv02
functionals, an optional extra under audEERING's research licence). Keras is imported lazily.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.preprocessing import MinMaxScaler

from mer_helpers.core import fileio
from mer_helpers.core.names import AUDIO_FEATURES, AUDIO_STAT_PRESETS as STAT_PRESETS
from mer_helpers.core.params import store_init_params
from mer_helpers.core.progress import epoch_bar
from mer_helpers.methods.audio import FRONT_END_DEFAULTS, extract_egemaps, extract_mfcc, front_end_params
from mer_helpers.methods.speech_descriptors import COLUMNS as DESCRIPTOR_COLUMNS, N_DESCRIPTORS, extract_descriptors

__all__ = ["STAT_PRESETS", "parse_audio_features", "parse_stats", "summarize", "mfcc_summary",
           "build_autoencoder", "AudioFeaturizer"]


def parse_audio_features(value: str | Sequence[str]) -> tuple[str, ...]:
    """The audio feature sets named by a notebook parameter.

    Parameters
    ----------
    value : str or sequence of str
        ``"ae"``, ``"mfcc_stats+egemaps"``, ``"ae,mfcc_stats"`` or a list.

    Returns
    -------
    tuple of str
        Set names in :data:`AUDIO_FEATURES` order.

    Raises
    ------
    ValueError
        Naming unknown names, or for an empty value.
    """
    if isinstance(value, str):
        names = [v.strip() for v in value.replace(",", "+").split("+") if v.strip()]
    else:
        names = [str(v).strip() for v in value]
    bad = [n for n in names if n not in AUDIO_FEATURES]
    if bad or not names:
        raise ValueError(f"audio_features {value!r}: unknown feature set(s) {bad}; use one or more of "
                         f"{', '.join(AUDIO_FEATURES)} joined by '+'")
    return tuple(n for n in AUDIO_FEATURES if n in names)


# ----------------------------------------------------------------------------- summaries
def parse_stats(stats: str | Sequence[str]) -> tuple[str, ...]:
    """The statistics named by ``audio_stats``.

    Statistics over time of each unit: ``mean``, ``std``, ``min``, ``max``, ``dmean`` (mean
    absolute frame-to-frame change), ``dstd`` (std of the frame-to-frame change).

    Parameters
    ----------
    stats : str or sequence of str
        ``"mean_std"`` / ``"full"`` (presets of :data:`STAT_PRESETS`), ``"mean,std,max"`` or a list.

    Returns
    -------
    tuple of str

    Raises
    ------
    ValueError
        For an unknown or empty statistic list.
    """
    if isinstance(stats, str):
        names = STAT_PRESETS.get(stats) or tuple(s.strip() for s in stats.split(",") if s.strip())
    else:
        names = tuple(str(s) for s in stats)
    bad = [s for s in names if s not in _STAT_FUNCS]
    if bad or not names:
        raise ValueError(f"audio_stats {stats!r}: unknown statistic(s) {bad}; use a preset "
                         f"{sorted(STAT_PRESETS)} or names from {sorted(_STAT_FUNCS)}")
    return names


def _diff(s: np.ndarray) -> np.ndarray:
    return np.diff(s, axis=0) if len(s) > 1 else np.zeros_like(s[:1])


_STAT_FUNCS = {
    "mean": lambda s: s.mean(axis=0),
    "std": lambda s: s.std(axis=0),
    "min": lambda s: s.min(axis=0),
    "max": lambda s: s.max(axis=0),
    "dmean": lambda s: np.abs(_diff(s)).mean(axis=0),
    "dstd": lambda s: _diff(s).std(axis=0),
}


def summarize(sequences: Sequence[np.ndarray], stats: str | Sequence[str] = "mean_std",
              prefix: str = "audio:ae", precision=np.float64) -> tuple[np.ndarray, list[str]]:
    """Fixed-length clip vectors from ``(T, d)`` sequences (the one home of the MFCC and
    bottleneck statistics: notebook 02, :class:`AudioFeaturizer`,
    :func:`mer_helpers.stages.results.plain_feature_references`).

    Parameters
    ----------
    sequences : sequence of numpy.ndarray
        One ``(T, d)`` array per clip (the same ``d`` for all).
    stats : str or sequence of str
        A preset of :data:`STAT_PRESETS` or statistic names (see :func:`parse_stats`).
    prefix : str
        Start of the column names.
    precision : numpy dtype
        What the statistics are computed in (float64; the plain-feature references of
        notebook 07 have always used the sequences' own float32, and keep it so that their
        numbers stay put).

    Returns
    -------
    tuple
        ``(X, columns)``: ``X (n, len(stats) * d)`` float32 and the names
        ``f"{prefix}_{stat}:{i}"`` (grouped by statistic).
    """
    names = parse_stats(stats)
    if not len(sequences):
        return np.zeros((0, 0), np.float32), []
    d = sequences[0].shape[1]
    columns = [f"{prefix}_{s}:{i}" for s in names for i in range(d)]
    X = np.zeros((len(sequences), len(columns)), dtype=np.float32)
    for j, seq in enumerate(sequences):
        seq = np.asarray(seq, dtype=precision)
        X[j] = np.concatenate([_STAT_FUNCS[s](seq) for s in names])
    return X, columns


def mfcc_summary(mfcc_list: Sequence[np.ndarray], precision=np.float64) -> tuple[np.ndarray, list[str]]:
    """The plain baseline: mean and std of each MFCC over time.

    Parameters
    ----------
    mfcc_list : sequence of numpy.ndarray
        One ``(T, n_mfcc)`` MFCC matrix per clip.
    precision : numpy dtype
        As for :func:`summarize`.

    Returns
    -------
    tuple
        ``(X, columns)`` with columns ``audio:mfcc_mean:i`` then ``audio:mfcc_std:i``.
    """
    return summarize(mfcc_list, "mean_std", prefix="audio:mfcc", precision=precision)


# ----------------------------------------------------------------------------- autoencoder
def build_autoencoder(n_inputs: int, hidden_units: int = 64, bottleneck_units: int = 32,
                      l2: float = 0.0, sparsity: float = 0.0):
    """Algorithm 1's dense autoencoder (compiled: Adam, MSE).

    Parameters
    ----------
    n_inputs : int
        Values per MFCC frame.
    hidden_units, bottleneck_units : int
        Widths of the hidden and bottleneck layers (ReLU).
    l2 : float
        Adds ``l2 * sum(W**2)`` of every kernel to the loss (weight decay).
    sparsity : float
        Adds ``sparsity * sum(|z|)`` of the bottleneck activations (λ L_reg in Algorithm 1).

    Returns
    -------
    tuple of keras.Model
        ``(autoencoder, encoder)``.
    """
    import keras
    from keras import layers, regularizers

    reg = regularizers.L2(l2) if l2 else None
    act = regularizers.L1(sparsity) if sparsity else None
    x = keras.Input(shape=(n_inputs,), name="mfcc_frame")
    h = layers.Dense(hidden_units, activation="relu", kernel_regularizer=reg, name="encoder_hidden")(x)
    z = layers.Dense(bottleneck_units, activation="relu", kernel_regularizer=reg,
                     activity_regularizer=act, name="bottleneck")(h)
    h2 = layers.Dense(hidden_units, activation="relu", kernel_regularizer=reg, name="decoder_hidden")(z)
    x_hat = layers.Dense(n_inputs, activation="sigmoid", kernel_regularizer=reg, name="reconstruction")(h2)
    autoencoder = keras.Model(x, x_hat, name="audio_autoencoder")
    autoencoder.compile(optimizer=keras.optimizers.Adam(), loss="mean_squared_error")
    encoder = keras.Model(x, z, name="audio_encoder")
    return autoencoder, encoder


def _apply(model, Z: np.ndarray, chunk: int = 65536) -> np.ndarray:
    """``model(Z)`` as float32 numpy, in chunks; a plain call instead of ``predict`` avoids the
    re-tracing that ``predict`` does for every new input length."""
    import keras

    out = [keras.ops.convert_to_numpy(model(Z[i:i + chunk], training=False))
           for i in range(0, len(Z), chunk)]
    return np.concatenate(out).astype(np.float32) if out else np.zeros((0, model.output_shape[-1]), np.float32)


class AudioFeaturizer(TransformerMixin, BaseEstimator):
    """The fitted audio branch of one split: MinMax scaler + dense autoencoder (+ front end).

    ``features`` chooses the feature sets (see the module docstring): ``"ae"`` (the papers'),
    ``"mfcc_stats"``, ``"egemaps"`` or a ``+`` combination. Without ``ae`` nothing is trained and
    the sequences returned are the (unscaled) MFCC frames.

    ``fit(mfcc_list)`` takes the ``(T, n_mfcc)`` MFCC matrices of the split's *training* clips,
    fits a ``MinMaxScaler`` (to [0, 1]) on their frames and trains Algorithm 1's autoencoder on
    them (MSE, Adam). The validation part (``validation_split`` of the training frames) is made
    of whole clips, so frames of one utterance are never on both sides of the early-look at the
    loss; with fewer than two clips it falls back to a random frame split.

    ``transform(mfcc_list)`` → ``X (n, len(stats) * bottleneck_units)`` float32, the summary of
    each clip's bottleneck sequence; :meth:`featurize` → ``(X, columns, sequences)`` also gives the
    column names and the sequences ``(T, bottleneck_units)``. Frames of unseen clips are scaled
    with the training min/max and clipped to [0, 1].

    The front-end parameters (``sr`` ... ``n_mels``) are stored so that
    :meth:`transform_paths` treats new clips exactly like the training clips.

    Parameters
    ----------
    hidden_units, bottleneck_units : int
        Widths of the autoencoder's hidden and bottleneck layers.
    epochs, batch_size, validation_split, l2, sparsity : training of the autoencoder.
    stats : str
        Statistics of each sequence (``mean_std`` ...; see :func:`parse_stats`).
    random_state : int
        Seed of the validation clips and of Keras.
    progress : bool
        Show a progress bar while training.
    sr, denoise, over_subtraction, spectral_floor, noise_percentile, n_mfcc, mfcc_deltas, n_fft, hop_length, n_mels, trim_db, peak_normalize :
        The front end (see :func:`clip_mfcc` and :func:`preprocess`).
    features : str
        Feature sets: ``ae``, ``mfcc_stats``, ``egemaps`` or a ``+`` combination.

    Attributes
    ----------
    columns_ : list of str
        The names of the output columns (learned in :meth:`fit`).

    Notes
    -----
    Not run through scikit-learn's ``check_estimator``: ``X`` is a list of variable-length
    ``(T_i, n_mfcc)`` MFCC matrices (one per clip; a single 2-D array is read as *one* clip),
    so every check that feeds a 2-D ``(n_samples, n_features)`` array gets one output row and
    fails on the sample count. ``tests/test_estimators.py`` checks ``get_params`` / ``clone``,
    ``fit`` returning ``self``, ``transform`` returning an array and the not-fitted error.
    """

    def __init__(self, hidden_units: int = 64, bottleneck_units: int = 32, epochs: int = 100,
                 batch_size: int = 256, validation_split: float = 0.2, l2: float = 0.0,
                 sparsity: float = 0.0, stats: str = "mean_std", random_state: int = 42,
                 progress: bool = True, sr: int | None = 16000, denoise: bool = True,
                 over_subtraction: float = 2.0, spectral_floor: float = 0.02,
                 noise_percentile: float = 10.0, n_mfcc: int = 13, mfcc_deltas: bool = False,
                 n_fft: int = 2048, hop_length: int = 512, n_mels: int = 128, features: str = "ae",
                 trim_db: float | None = None, peak_normalize: bool = True):
        store_init_params(self, locals())

    # -- helpers
    @staticmethod
    def _check_list(mfcc_list, n_features: int | None = None) -> list[np.ndarray]:
        if isinstance(mfcc_list, np.ndarray) and mfcc_list.ndim == 2:
            mfcc_list = [mfcc_list]
        out = []
        for i, m in enumerate(mfcc_list):
            m = np.asarray(m, dtype=np.float32)
            if m.ndim != 2 or m.shape[0] == 0:
                raise ValueError(f"clip #{i}: expected a (T>0, n_mfcc) MFCC matrix, got shape {m.shape}")
            if n_features is not None and m.shape[1] != n_features:
                raise ValueError(f"clip #{i}: has {m.shape[1]} MFCC coefficients, the featurizer was "
                                 f"fitted on {n_features}")
            out.append(m)
        return out

    def front_end(self) -> dict[str, Any]:
        """The extraction / MFCC parameters this featurizer expects.

        Returns
        -------
        dict
            The keyword arguments of :func:`clip_mfcc`.
        """
        return front_end_params(**{k: getattr(self, k) for k in FRONT_END_DEFAULTS})

    def _validation_mask(self, lengths: np.ndarray) -> np.ndarray:
        """Boolean mask over training frames: True = validation frame (whole clips)."""
        n = int(lengths.sum())
        mask = np.zeros(n, dtype=bool)
        vs = float(self.validation_split or 0.0)
        if vs <= 0:
            self.validation_clips_ = []
            return mask
        rng = np.random.default_rng(self.random_state)
        if len(lengths) >= 2:
            starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
            chosen, total = [], 0
            for i in rng.permutation(len(lengths)):
                if total >= vs * n or len(chosen) == len(lengths) - 1:
                    break
                chosen.append(int(i))
                mask[starts[i]:starts[i] + lengths[i]] = True
                total += int(lengths[i])
            self.validation_clips_ = sorted(chosen)
        else:
            mask[rng.permutation(n)[: int(round(vs * n))]] = True
            self.validation_clips_ = []
        return mask

    # -- estimator API
    def fit(self, X, y=None, groups=None):
        """Fit the scaler and the autoencoder on the frames of the training clips.

        Parameters
        ----------
        X : list of ndarray of shape (T_i, n_mfcc)
            MFCC matrices of the training clips.
        y, groups : ignored

        Returns
        -------
        self : AudioFeaturizer
        """
        import time

        import keras

        t0 = time.perf_counter()
        mfcc_list = self._check_list(X)
        if not mfcc_list:
            raise ValueError("AudioFeaturizer.fit: no training clips")
        frames = np.concatenate(mfcc_list, axis=0)
        lengths = np.array([len(m) for m in mfcc_list])
        self.n_features_in_ = frames.shape[1]
        self.n_train_clips_ = len(mfcc_list)
        self.n_train_frames_ = len(frames)
        self.feature_sets_ = parse_audio_features(self.features)
        self.scaler_ = MinMaxScaler(feature_range=(0, 1), clip=True).fit(frames)
        self.columns_ = self._columns()
        if "ae" not in self.feature_sets_:  # plain statistics: nothing to train
            self.history_, self.n_val_frames_, self.validation_clips_ = {}, 0, []
            self.encoder_ = self.autoencoder_ = None
            self.fit_seconds_ = round(time.perf_counter() - t0, 3)
            return self
        Z = self.scaler_.transform(frames).astype(np.float32)
        val = self._validation_mask(lengths)
        keras.utils.set_random_seed(int(self.random_state))
        self.autoencoder_, self.encoder_ = build_autoencoder(
            self.n_features_in_, int(self.hidden_units), int(self.bottleneck_units),
            l2=float(self.l2), sparsity=float(self.sparsity))
        Xtr, Xva = Z[~val], Z[val]
        h = self.autoencoder_.fit(
            Xtr, Xtr, epochs=int(self.epochs), batch_size=int(self.batch_size), shuffle=True,
            validation_data=(Xva, Xva) if len(Xva) else None, verbose=0,
            callbacks=[epoch_bar(int(self.epochs), "autoencoder", bool(self.progress))])
        self.history_ = {k: [float(v) for v in vals] for k, vals in h.history.items()}
        self.n_val_frames_ = int(val.sum())
        self.fit_seconds_ = round(time.perf_counter() - t0, 3)
        return self

    def describe_fit(self, seconds: float) -> str:
        """One line on the autoencoder's training (clips, frames, epochs, final losses).

        Parameters
        ----------
        seconds : float
            The training time to report.

        Returns
        -------
        str
            ``""`` when the feature sets train nothing.
        """
        h = getattr(self, "history_", {}) or {}
        if not h.get("loss"):
            return ""
        val = (h.get("val_loss") or [float("nan")])[-1]
        return (f"{self.n_train_clips_} train clips ({self.n_train_frames_} frames), {len(h['loss'])} epochs in "
                f"{seconds:.1f} s; loss {h['loss'][-1]:.4f}, val_loss {val:.4f}")

    @property
    def uses_ae(self) -> bool:
        return "ae" in parse_audio_features(self.features)

    def _check_fitted(self):
        if not hasattr(self, "scaler_"):
            raise RuntimeError("AudioFeaturizer is not fitted: call fit() or AudioFeaturizer.load()")

    def _scaled(self, mfcc_list) -> tuple[np.ndarray, np.ndarray]:
        mfcc_list = self._check_list(mfcc_list, self.n_features_in_)
        if not mfcc_list:
            return np.zeros((0, self.n_features_in_), np.float32), np.zeros(0, int)
        frames = np.concatenate(mfcc_list, axis=0)
        return self.scaler_.transform(frames).astype(np.float32), np.array([len(m) for m in mfcc_list])

    def encode(self, mfcc_list) -> list[np.ndarray]:
        """The bottleneck sequence of each clip.

        Parameters
        ----------
        mfcc_list : list of ndarray of shape (T_i, n_mfcc)

        Returns
        -------
        list of ndarray of shape (T_i, bottleneck_units), float32
        """
        self._check_fitted()
        if self.encoder_ is None:
            raise RuntimeError(f"AudioFeaturizer(features={self.features!r}) has no autoencoder to encode with")
        Z, lengths = self._scaled(mfcc_list)
        if not len(Z):
            return []
        codes = _apply(self.encoder_, Z)
        return np.split(codes, np.cumsum(lengths)[:-1])

    def transform(self, X, egemaps: np.ndarray | None = None, descriptors: np.ndarray | None = None) -> np.ndarray:
        """The clips' feature vectors.

        Parameters
        ----------
        X : list of ndarray of shape (T_i, n_mfcc)
            MFCC matrices, one per clip.
        egemaps : ndarray of shape (n_clips, 88) or None
            The clips' eGeMAPS functionals (needed when ``features`` includes ``egemaps``).
        descriptors : ndarray of shape (n_clips, 144) or None
            The clips' speech descriptors (needed when ``features`` includes ``descriptors``).

        Returns
        -------
        ndarray of shape (n_clips, len(columns_)), float32
        """
        return self.featurize(X, egemaps=egemaps, descriptors=descriptors)[0]

    def featurize(self, X, egemaps: np.ndarray | None = None,
                  descriptors: np.ndarray | None = None) -> tuple[np.ndarray, list[str], list[np.ndarray]]:
        """Feature vectors, their column names and the clips' sequences.

        Parameters
        ----------
        X : list of ndarray of shape (T_i, n_mfcc)
            MFCC matrices, one per clip.
        egemaps : ndarray of shape (n_clips, 88) or None
            The clips' eGeMAPS functionals (needed when ``features`` includes ``egemaps``;
            :meth:`transform_paths` computes them).
        descriptors : ndarray of shape (n_clips, 144) or None
            The clips' speech descriptors (needed when ``features`` includes ``descriptors``;
            :func:`mer_helpers.methods.speech_descriptors.extract_descriptors` computes them).

        Returns
        -------
        X : ndarray of shape (n_clips, d), float32
        columns : list of str
        sequences : list of ndarray
            The bottleneck codes ``(T_i, bottleneck_units)`` with ``ae``, else the MFCC frames.
        """
        self._check_fitted()
        sets = parse_audio_features(self.features)
        mfcc_list = self._check_list(X, self.n_features_in_)
        if not mfcc_list:
            return np.zeros((0, len(self.columns_)), np.float32), list(self.columns_), []
        parts, columns = [], []
        sequences = self.encode(mfcc_list) if "ae" in sets else mfcc_list
        if "ae" in sets:
            f, c = summarize(sequences, self.stats, prefix="audio:ae")
            parts.append(f), columns.extend(c)
        if "mfcc_stats" in sets:
            f, c = summarize(mfcc_list, self.stats, prefix="audio:mfcc")
            parts.append(f), columns.extend(c)
        for name, rows, width in (("egemaps", egemaps, 88), ("descriptors", descriptors, N_DESCRIPTORS)):
            if name not in sets:
                continue
            if rows is None or np.shape(rows) != (len(mfcc_list), width):
                raise ValueError(f"AudioFeaturizer.transform: features include {name}; pass {name}=(n, {width}) "
                                 "values of the same clips (transform_paths computes them)")
            parts.append(np.asarray(rows, np.float32))
            columns.extend(self._set_columns(name, width))
        return np.concatenate(parts, axis=1).astype(np.float32), columns, sequences

    @staticmethod
    def _set_columns(name: str, width: int) -> list[str]:
        """Column names of a clip-level set (``egemaps``, ``descriptors``)."""
        if name == "descriptors":
            return [f"audio:{c}" for c in DESCRIPTOR_COLUMNS]
        return [f"audio:{name}:{i}" for i in range(width)]

    def fit_transform(self, X, y=None, **fit_params):
        """:meth:`fit` then :meth:`transform` (an array; ``featurize`` gives the sequences too)."""
        return self.fit(X, y, **fit_params).transform(X)

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        """The output column names (``columns_``) as an array, as scikit-learn expects."""
        self._check_fitted()
        return np.asarray(self.columns_, dtype=object)

    def _columns(self) -> list[str]:
        sets = parse_audio_features(self.features)
        cols = []
        if "ae" in sets:
            cols += [f"audio:ae_{s}:{i}" for s in parse_stats(self.stats) for i in range(int(self.bottleneck_units))]
        if "mfcc_stats" in sets:
            d = getattr(self, "n_features_in_", None) or int(self.n_mfcc) * (3 if self.mfcc_deltas else 1)
            cols += [f"audio:mfcc_{s}:{i}" for s in parse_stats(self.stats) for i in range(d)]
        if "egemaps" in sets:
            cols += self._set_columns("egemaps", 88)
        if "descriptors" in sets:
            cols += self._set_columns("descriptors", N_DESCRIPTORS)
        return cols

    def reconstruction_error(self, X) -> np.ndarray:
        """Per-clip mean squared reconstruction error in the scaled [0, 1] space.

        Parameters
        ----------
        X : list of ndarray of shape (T_i, n_mfcc)

        Returns
        -------
        ndarray of shape (n_clips,)
        """
        self._check_fitted()
        Z, lengths = self._scaled(X)
        R = _apply(self.autoencoder_, Z)
        err = ((R - Z) ** 2).mean(axis=1)
        return np.array([e.mean() for e in np.split(err, np.cumsum(lengths)[:-1])])

    def reconstruction_r2(self, X) -> float:
        """Share of the variance of the scaled frames of ``X`` that the autoencoder reproduces:
        ``1 - sum((x - x_hat)^2) / sum((x - mean)^2)`` over all frames and coefficients.

        Parameters
        ----------
        X : list of ndarray of shape (T_i, n_mfcc)

        Returns
        -------
        float
            NaN without an autoencoder.
        """
        self._check_fitted()
        if self.autoencoder_ is None:
            return float("nan")
        Z, _ = self._scaled(X)
        R = _apply(self.autoencoder_, Z)
        return float(1.0 - ((R - Z) ** 2).sum() / ((Z - Z.mean(axis=0)) ** 2).sum())

    def transform_paths(self, paths, n_jobs: int = 1, progress: bool | None = None):
        """Extraction + pre-processing + MFCC (cached) + :meth:`featurize` for clip files.

        Parameters
        ----------
        paths : sequence of path-like
            Clip files.
        n_jobs : int
            Clips extracted at a time.
        progress : bool or None
            Progress bars (``None``: the ``progress`` parameter).

        Returns
        -------
        tuple
            ``(X (n, d) float32, columns, sequences)`` as :meth:`featurize`.
        """
        self._check_fitted()
        prog = self.progress if progress is None else progress
        paths = list(paths)
        mfcc = extract_mfcc(paths, n_jobs=n_jobs, progress=prog, **self.front_end())
        sets, ege, desc = parse_audio_features(self.features), None, None
        if "egemaps" in sets:
            ege = extract_egemaps(paths, sr=self.front_end()["sr"], n_jobs=n_jobs, progress=prog)[0]
        if "descriptors" in sets:
            desc = extract_descriptors(paths, n_jobs=n_jobs, progress=prog, **self.front_end())
        return self.featurize(mfcc, egemaps=ege, descriptors=desc)

    # -- persistence
    def save(self, directory: str | os.PathLike) -> Path:
        """Write ``config.json``, ``scaler.npz``, ``encoder.keras`` and ``autoencoder.keras``.

        Parameters
        ----------
        directory : path-like
            The audio branch's folder (created if missing); the two ``.keras`` files are left
            out when the features use no autoencoder.

        Returns
        -------
        Path
            ``directory``, for :meth:`load`.
        """
        self._check_fitted()
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        models = (("encoder.keras", self.encoder_), ("autoencoder.keras", self.autoencoder_))
        for name, model in (models if self.encoder_ is not None else ()):
            fileio.atomic_write(d / name, model.save, suffix=".keras")
        fileio.save_npz(d / "scaler.npz", data_min=self.scaler_.data_min_, data_max=self.scaler_.data_max_)
        fileio.write_json(d / "config.json", {
            "class": "AudioFeaturizer", "version": 1, "params": self.get_params(),
            "n_features_in": int(self.n_features_in_), "columns": self.columns_,
            "n_train_clips": int(self.n_train_clips_), "n_train_frames": int(self.n_train_frames_),
            "history": self.history_})
        return d

    @classmethod
    def load(cls, directory: str | os.PathLike) -> "AudioFeaturizer":
        """Rebuild a featurizer written by :meth:`save`: parameters and columns from ``config.json``,
        the min-max scaler from ``scaler.npz``, the Keras models when the features use them.

        Parameters
        ----------
        directory : path-like
            A folder written by :meth:`save` (in a run, ``model/audio``); a missing
            ``config.json`` raises ``FileNotFoundError`` naming what writes it.

        Returns
        -------
        AudioFeaturizer
            Fitted, ready for :meth:`featurize`.
        """
        import keras

        d = Path(directory)
        cfg = fileio.read_saved(d, "config.json", "AudioFeaturizer", "AudioFeaturizer.save, e.g. by notebook 02")
        self = cls(**cfg["params"])
        with np.load(d / "scaler.npz") as z:
            lo, hi = z["data_min"], z["data_max"]
        # fitting on the two extreme rows reproduces data_min_/data_max_ (hence min_/scale_)
        self.scaler_ = MinMaxScaler(feature_range=(0, 1), clip=True).fit(np.vstack([lo, hi]))
        self.encoder_ = self.autoencoder_ = None
        if self.uses_ae:
            self.encoder_ = keras.saving.load_model(d / "encoder.keras", compile=False)
            self.autoencoder_ = keras.saving.load_model(d / "autoencoder.keras", compile=False)
        self.n_features_in_ = int(cfg["n_features_in"])
        self.n_train_clips_ = int(cfg.get("n_train_clips", 0))
        self.n_train_frames_ = int(cfg.get("n_train_frames", 0))
        self.history_ = cfg.get("history", {})
        self.feature_sets_ = parse_audio_features(self.features)
        self.columns_ = [str(c) for c in cfg["columns"]] if "columns" in cfg else self._columns()
        return self
