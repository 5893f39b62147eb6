"""Summary images of a clip (paper 2, Algorithm 2; paper 1, section 3.2.2).

Algorithm 2 trains a convolutional autoencoder on the sampled frames of a video (binary
cross-entropy, Adam, 50 epochs, batch 32), encodes every frame, clusters the codes with
k-means (``n_clusters``) and keeps, for each cluster, the frame nearest its centre: the
*summary images*. Paper 1 describes the same step as "key frame extraction ... like frame
averaging that produces composite images". Three modes:

``shared`` (default)
    one autoencoder per split, fitted on frames of that split's **training clips only**, then
    applied to every clip; k-means runs per clip on its own codes. One fit per split instead
    of one per clip.
``per_clip``
    the paper's literal reading: one autoencoder per clip, fitted on that clip's own frames
    (label-free, so the result does not depend on the split: computed once, reused by every
    split, cached by frame content).
``average``
    paper 1's frame-averaged composite: one image per clip, the mean of its sampled frames
    (``average_segments > 1``: the means of that many consecutive temporal segments).
``all`` (the ``strong`` preset)
    no selection: every sampled face frame is passed on, so the backbone sees each face the
    clip shows and the clip's feature is their mean. Nothing is trained, so it costs nothing
    per split; chosen for ``strong`` on inner training speakers (notebook 04).

Clips with fewer frames than ``n_clusters`` keep all their frames, padded to ``n_clusters``
images by repeating the frame nearest in time (reported as ``padded``).

Shapes: frames of one clip ``(n, S, S, 3)`` (uint8, or float in [0, 1]); summary images of
one clip ``(k, S, S, 3)`` uint8 (what Algorithm 2 saves after DENORMALIZE). Writing them as
PNGs with an index per split, and reading them back a chunk at a time, is
:mod:`mer_helpers.methods.summary_files`.
"""
from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

from mer_helpers.core import cache, fileio
from mer_helpers.core.params import store_init_params
from mer_helpers.core.progress import epoch_bar, progress

SUMMARY_MODES = ("shared", "per_clip", "average", "all")
#: bump when the autoencoder or the selection changes (invalidates cached per-clip selections)
SUMMARY_VERSION = "summary-v2"
#: frames encoded together by :meth:`ConvAutoencoder.iter_encode` (the group boundaries fix
#: which frames share a batch of the encoder, so they stay as they always were)
ENCODE_FRAMES = 2048


# --------------------------------------------------------------------------- helpers

def _to_float(frames: np.ndarray) -> np.ndarray:
    frames = np.asarray(frames)
    if frames.dtype == np.uint8:
        return frames.astype(np.float32) / np.float32(255.0)
    return frames.astype(np.float32, copy=False)


def to_uint8(frames: np.ndarray) -> np.ndarray:
    frames = np.asarray(frames)
    if frames.dtype == np.uint8:
        return frames
    return np.clip(np.rint(frames * 255.0), 0, 255).astype(np.uint8)


def _check_frames(frames: np.ndarray, frame_size: int | None, what: str = "clip") -> np.ndarray:
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"{what}: frames must be (n, S, S, 3), got shape {frames.shape}")
    if len(frames) == 0:
        raise ValueError(f"{what}: no frames (the clip has no readable video frame)")
    if frame_size is not None and frames.shape[1:3] != (frame_size, frame_size):
        raise ValueError(f"{what}: frames are {frames.shape[1]}x{frames.shape[2]}, the summary model "
                         f"expects {frame_size}x{frame_size} (frame_size)")
    return frames


def pad_indices(n: int, k: int) -> np.ndarray:
    """``k`` frame indices covering all ``n < k`` frames in time order, repeating the frame
    nearest in time: ``pad_indices(2, 3) -> [0, 0, 1]``, ``pad_indices(1, 3) -> [0, 0, 0]``.

    Parameters
    ----------
    n : int
        Frames available (at least 1).
    k : int
        Indices wanted.

    Returns
    -------
    numpy.ndarray
        ``k`` int indices into ``range(n)``.
    """
    if n < 1:
        raise ValueError("no frames to pad")
    return np.rint(np.linspace(0, n - 1, k)).astype(int)


# --------------------------------------------------------------------------- autoencoder

def build_cae(frame_size: int = 96, filters: int = 16, latent_filters: int = 8, seed: int = 42):
    """Convolutional autoencoder of Algorithm 2.

    Encoder: Conv2D(filters, 3, stride 2) → MaxPool 2 → Conv2D(latent_filters, 3) → MaxPool 2,
    i.e. ``S → S/2 → S/4 → S/8``; the code of a frame is the flattened ``(S/8, S/8,
    latent_filters)`` map (1152 values for S = 96). Decoder: three Conv2DTranspose (stride 2)
    back to ``(S, S, 3)`` with a sigmoid output (pixels in [0, 1], binary cross-entropy).
    The first layer is strided (rather than a full-resolution convolution + pooling) to keep
    the autoencoder cheap on CPU: it trains ~4x faster at the same code size.

    Parameters
    ----------
    frame_size : int
        ``S``, a multiple of 8.
    filters : int
        Channels of the first convolution.
    latent_filters : int
        Channels of the code map.
    seed : int
        Seed of the initial weights.

    Returns
    -------
    tuple of keras.Model
        ``(autoencoder, encoder)``, not compiled.
    """
    import keras
    from keras import layers

    if frame_size % 8:
        raise ValueError(f"frame_size must be a multiple of 8 for the autoencoder, got {frame_size}")
    keras.utils.set_random_seed(int(seed))
    inp = keras.Input((frame_size, frame_size, 3), name="frame")
    x = layers.Conv2D(filters, 3, strides=2, padding="same", activation="relu", name="enc_conv1")(inp)
    x = layers.MaxPooling2D(2, name="enc_pool1")(x)
    x = layers.Conv2D(latent_filters, 3, padding="same", activation="relu", name="enc_conv2")(x)
    code = layers.MaxPooling2D(2, name="code")(x)
    x = layers.Conv2DTranspose(filters, 3, strides=2, padding="same", activation="relu", name="dec_up1")(code)
    x = layers.Conv2DTranspose(filters, 3, strides=2, padding="same", activation="relu", name="dec_up2")(x)
    out = layers.Conv2DTranspose(3, 3, strides=2, padding="same", activation="sigmoid", name="reconstruction")(x)
    autoencoder = keras.Model(inp, out, name="cae")
    encoder = keras.Model(inp, layers.Flatten(name="latent")(code), name="cae_encoder")
    return autoencoder, encoder


def _compile(autoencoder) -> None:
    import keras

    autoencoder.compile(optimizer=keras.optimizers.Adam(), loss="binary_crossentropy")


class ConvAutoencoder(TransformerMixin, BaseEstimator):
    """The autoencoder of Algorithm 2 as a scikit-learn transformer.

    ``fit(X)`` trains on frames ``X`` (n, S, S, 3) (uint8 or float in [0, 1]);
    ``transform(X)`` returns the codes (n, S/8 * S/8 * 8) float32. ``history_`` holds the
    loss per epoch.
    """

    def __init__(self, frame_size: int = 96, epochs: int = 50, batch_size: int = 32,
                 random_state: int = 42, progress: bool = False):
        self.frame_size = frame_size
        self.epochs = epochs
        self.batch_size = batch_size
        self.random_state = random_state
        self.progress = progress

    def _build(self, compile: bool = True):
        self.autoencoder_, self.encoder_ = build_cae(self.frame_size, seed=self.random_state)
        if compile:
            _compile(self.autoencoder_)

    def fit(self, X, y=None):
        import keras

        X = _to_float(_check_frames(X, self.frame_size, "autoencoder training set"))
        self._build()
        keras.utils.set_random_seed(int(self.random_state))
        cb = [epoch_bar(int(self.epochs), "autoencoder")] if self.progress else []
        h = self.autoencoder_.fit(X, X, epochs=int(self.epochs), batch_size=int(self.batch_size),
                                  shuffle=True, verbose=0, callbacks=cb)
        self.history_ = [float(v) for v in h.history.get("loss", [])]
        self.n_train_frames_ = int(len(X))
        return self

    def transform(self, X) -> np.ndarray:
        X = _to_float(_check_frames(X, self.frame_size))
        # direct calls, not predict(): a new encoder per split would retrace predict each time
        parts = [np.asarray(self.encoder_(X[i:i + 256], training=False)) for i in range(0, len(X), 256)]
        return np.concatenate(parts).astype(np.float32, copy=False)

    def encode_many(self, frames_list: Sequence[np.ndarray], chunk: int | None = None) -> list[np.ndarray]:
        """Codes of many clips with few large ``predict`` calls (not one call per clip)."""
        return [codes for _, codes in self.iter_encode(frames_list, chunk)]

    def iter_encode(self, frames_iter: Iterable[np.ndarray], chunk: int | None = None):
        """``(frames, codes)`` of each clip of ``frames_iter``, in order, as the clips stream in.

        Clips are gathered until they hold ``chunk`` frames (default :data:`ENCODE_FRAMES`) and
        encoded together, so at most one such group (plus one clip) is in memory; the groups,
        and so the codes, do not depend on how the clips are produced.

        Parameters
        ----------
        frames_iter : iterable of arrays
            One ``(n_i, S, S, 3)`` array per clip (a generator reading them one at a time is fine).
        chunk : int, optional
            Frames per group.

        Yields
        ------
        tuple
            ``(frames, codes)`` of one clip.
        """
        chunk = ENCODE_FRAMES if chunk is None else int(chunk)
        group: list[np.ndarray] = []
        size = 0
        for fr in frames_iter:
            group.append(_check_frames(fr, self.frame_size))
            size += len(group[-1])
            if size >= chunk:
                yield from self._encode_group(group)
                group, size = [], 0
        yield from self._encode_group(group)

    def _encode_group(self, group: list[np.ndarray]):
        if not group:
            return
        codes = self.transform(np.concatenate([_to_float(g) for g in group]))
        pos = 0
        for g in group:
            yield g, codes[pos:pos + len(g)]
            pos += len(g)

    def save(self, path: str | os.PathLike) -> Path:
        """Weights only (``*.weights.h5``); the architecture is rebuilt from the parameters."""
        return fileio.atomic_write(path, lambda tmp: self.autoencoder_.save_weights(str(tmp)), suffix=".weights.h5")

    def load_weights(self, path: str | os.PathLike) -> "ConvAutoencoder":
        self._build(compile=False)  # inference only: no optimiser state to restore
        self.autoencoder_.load_weights(str(path))
        return self


class _PerClipTrainer:
    """One model object trained afresh for each clip: weights and optimiser state are reset
    to the same initial values before every clip, so a clip's result does not depend on the
    order of clips (and no model is rebuilt or recompiled per clip)."""

    def __init__(self, frame_size: int, epochs: int, batch_size: int, seed: int):
        self.cae = ConvAutoencoder(frame_size, epochs, batch_size, seed)
        self.cae._build()
        ae = self.cae.autoencoder_
        ae.optimizer.build(ae.trainable_variables)
        self.w0 = ae.get_weights()
        self.o0 = [np.array(v.numpy()) for v in ae.optimizer.variables]

    def codes(self, frames: np.ndarray) -> np.ndarray:
        import keras

        ae = self.cae.autoencoder_
        ae.set_weights(self.w0)
        for v, x0 in zip(ae.optimizer.variables, self.o0):
            v.assign(x0)
        keras.utils.set_random_seed(int(self.cae.random_state))
        X = _to_float(frames)
        # the same updates as fit(shuffle=True), without fit's per-epoch set-up, which costs
        # more than the few frames of one clip (one batch per epoch)
        rng = np.random.default_rng(int(self.cae.random_state))
        bs = int(self.cae.batch_size)
        for _ in range(int(self.cae.epochs)):
            order = rng.permutation(len(X))
            for s in range(0, len(X), bs):
                batch = X[order[s:s + bs]]
                ae.train_on_batch(batch, batch)
        return self.cae.transform(X)


# --------------------------------------------------------------------------- k-means selection

def kmeans_select(codes: np.ndarray, n_clusters: int = 3, random_state: int = 42,
                  n_init: int = 10) -> tuple[np.ndarray, dict]:
    """Algorithm 2, lines 29-36: k-means on the codes of one clip's frames, then for each
    cluster the member frame nearest its centre.

    With fewer frames than clusters every frame is kept and padded (:func:`pad_indices`). When
    the codes have fewer distinct values than clusters (a static shot), k-means leaves some
    clusters empty; each empty cluster then takes the not-yet-chosen frame nearest its centre.

    Parameters
    ----------
    codes : numpy.ndarray
        One code per frame (flattened).
    n_clusters : int
        Summary images per clip.
    random_state, n_init : int
        Passed to ``KMeans``.

    Returns
    -------
    tuple
        ``(indices, info)``: ``n_clusters`` frame indices in time order, and
        ``{"padded": bool, "n_distinct": int}``.
    """
    from sklearn.cluster import KMeans

    codes = np.asarray(codes, dtype=np.float64).reshape(len(codes), -1)
    n = len(codes)
    k = int(n_clusters)
    if n == 0:
        raise ValueError("no frames to select from")
    n_distinct = len(np.unique(codes, axis=0))
    if n < k:
        return pad_indices(n, k), {"padded": True, "n_distinct": n_distinct}
    if n == k:
        return np.arange(n), {"padded": False, "n_distinct": n_distinct}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning on static shots (handled below)
        km = KMeans(n_clusters=k, n_init=n_init, random_state=random_state).fit(codes)
    chosen: list[int] = []
    for c in range(k):
        d = np.linalg.norm(codes - km.cluster_centers_[c], axis=1)
        members = np.flatnonzero(km.labels_ == c)
        if len(members):
            idx = int(members[np.argmin(d[members])])
        else:
            d[chosen] = np.inf
            idx = int(np.argmin(d))
        chosen.append(idx)
    return np.sort(np.array(chosen, dtype=int)), {"padded": False, "n_distinct": n_distinct}


# --------------------------------------------------------------------------- summary images

@dataclass
class SummaryResult:
    """The summary of one clip: ``images`` (k, S, S, 3) uint8; ``indices`` the sampled-frame
    index of each image (-1 for averages); ``segments`` (start, stop) frame ranges of averages."""

    images: np.ndarray
    indices: np.ndarray
    n_frames: int
    padded: bool = False
    n_distinct: int = 0
    segments: list = field(default_factory=list)


class SummaryImages(BaseEstimator):
    """Algorithm 2 (``summary_mode`` shared | per_clip | average) as an estimator.

    ``fit(frames_list)`` fits the shared autoencoder on the frames of the given (training)
    clips; it does nothing in the other two modes, which fit nothing across clips.
    ``select(frames_list)`` → one :class:`SummaryResult` per clip; ``transform(frames_list)``
    → one ``(k, S, S, 3)`` uint8 array per clip. ``cae_max_frames`` caps the number of frames
    the shared autoencoder is trained on (drawn at random, with ``random_state``, from all
    training frames; ``None`` = all); ``average_segments`` is the number of images per clip in
    ``average`` mode.
    """

    def __init__(self, summary_mode: str = "shared", n_clusters: int = 3, cae_epochs: int = 50,
                 cae_batch_size: int = 32, frame_size: int = 96, cae_max_frames: int | None = 512,
                 average_segments: int = 1, n_init: int = 10, random_state: int = 42,
                 progress: bool = True):
        store_init_params(self, locals())

    # -- properties
    @property
    def n_images(self) -> int:
        """Images per clip: ``n_clusters`` (``average_segments`` in average mode; 0 in ``all``
        mode, where each clip keeps its own number of frames)."""
        if self.summary_mode == "all":
            return 0
        return int(self.average_segments if self.summary_mode == "average" else self.n_clusters)

    def _check_mode(self) -> None:
        if self.summary_mode not in SUMMARY_MODES:
            raise ValueError(f"summary_mode must be one of {SUMMARY_MODES}, got {self.summary_mode!r}")

    # -- fit
    def fit(self, frames_list: Sequence[np.ndarray], y=None) -> "SummaryImages":
        """Fit on the frames of the training clips (only ``shared`` learns anything)."""
        self._check_mode()
        frames_list = [_check_frames(f, self.frame_size, f"training clip {i}") for i, f in enumerate(frames_list)]
        return self._fit(np.array([len(f) for f in frames_list], dtype=int), frames_list.__getitem__,
                         [f"training clip {i}" for i in range(len(frames_list))])

    def fit_ids(self, frames_by_id: Mapping[str, np.ndarray], train_ids: Iterable[str]) -> "SummaryImages":
        """:meth:`fit` on the clips ``train_ids`` of ``frames_by_id``, reading only the clips it needs.

        The same model as ``fit([frames_by_id[c] for c in train_ids])``: the training frames are
        drawn from the clips' frame counts (:func:`clip_lengths`), then only the clips holding a
        drawn frame are read, one at a time (at most ``cae_max_frames`` frames are kept; all
        training frames when it is ``None``). Modes other than ``shared`` read nothing.

        Parameters
        ----------
        frames_by_id : Mapping
            Clip id -> frames, e.g. a lazy :class:`mer_helpers.methods.frames.FrameStore`.
        train_ids : iterable of str
            The training clips.

        Returns
        -------
        SummaryImages
            ``self``, fitted.
        """
        self._check_mode()
        ids = [str(c) for c in train_ids]
        lengths = clip_lengths(frames_by_id, ids) if self.summary_mode == "shared" else np.zeros(len(ids), int)
        return self._fit(lengths, lambda c: frames_by_id[ids[c]], [f"training clip {c}" for c in ids])

    def _fit(self, lengths: np.ndarray, get, names: Sequence[str]) -> "SummaryImages":
        """Fit from the training clips' frame counts; ``get(c)`` reads clip ``c`` (only those drawn)."""
        self.n_train_clips_ = len(lengths)
        self.cae_ = None
        if self.summary_mode != "shared":
            self.n_train_frames_ = 0
            return self
        if not len(lengths):
            raise ValueError("summary_mode='shared' needs at least one training clip to fit the autoencoder")
        if (lengths < 1).any():
            raise ValueError(f"{names[int(np.argmin(lengths))]}: no frames (the clip has no readable video frame)")
        pairs = self.training_frames(lengths)
        X = np.empty((len(pairs), self.frame_size, self.frame_size, 3), np.float32)
        starts = np.flatnonzero(np.r_[True, pairs[1:, 0] != pairs[:-1, 0]])
        for a, b in zip(starts, np.r_[starts[1:], len(pairs)]):  # each clip drawn from is read once
            c = int(pairs[a, 0])
            X[a:b] = _to_float(_check_frames(get(c), self.frame_size, names[c])[pairs[a:b, 1]])
        self.cae_ = ConvAutoencoder(self.frame_size, self.cae_epochs, self.cae_batch_size,
                                    self.random_state, progress=self.progress).fit(X)
        self.n_train_frames_ = int(len(X))
        return self

    def training_frames(self, lengths: Sequence[int]) -> np.ndarray:
        """The ``(clip, frame)`` pairs the shared autoencoder trains on, from the training clips'
        frame counts: every frame, or ``cae_max_frames`` of them drawn at random (``random_state``).

        Parameters
        ----------
        lengths : sequence of int
            Frames of each training clip, in order.

        Returns
        -------
        ndarray
            ``(n, 2)`` int: clip position and frame index, sorted.
        """
        lengths = np.asarray(lengths, dtype=int)
        total = int(lengths.sum())
        clip = np.repeat(np.arange(len(lengths)), lengths)
        pairs = np.stack([clip, np.arange(total) - np.repeat(np.cumsum(lengths) - lengths, lengths)], axis=1)
        if self.cae_max_frames is not None and total > int(self.cae_max_frames):
            rng = np.random.default_rng(self.random_state)
            pick = np.sort(rng.choice(total, size=int(self.cae_max_frames), replace=False))
            pairs = pairs[pick]
        return pairs

    # -- select / transform
    def select(self, frames_list: Sequence[np.ndarray], clip_ids: Sequence[str] | None = None) -> list[SummaryResult]:
        """One :class:`SummaryResult` per clip (in order)."""
        return list(self.iter_select(frames_list, clip_ids))

    def iter_select(self, frames_iter: Iterable[np.ndarray], clip_ids: Sequence[str] | None = None):
        """:meth:`select` as the clips stream in: one :class:`SummaryResult` per clip, in order.

        Only one clip's frames (``shared``: one encoder group, :meth:`ConvAutoencoder.iter_encode`)
        are held at a time; the results are those of :meth:`select`.

        Parameters
        ----------
        frames_iter : iterable of arrays
            One clip's frames at a time (e.g. a generator reading them from the cache).
        clip_ids : sequence of str, optional
            The clips' ids (error messages, progress).

        Yields
        ------
        SummaryResult
        """

        self._check_mode()
        names = [str(c) for c in clip_ids] if clip_ids is not None else None
        named = (_check_frames(f, self.frame_size, names[i] if names else f"clip {i}")
                 for i, f in enumerate(frames_iter))
        k = self.n_images
        if self.summary_mode == "average":
            yield from (self._average(f) for f in named)
            return
        if self.summary_mode == "all":
            yield from (SummaryResult(to_uint8(f), np.arange(len(f)), len(f), False, len(f)) for f in named)
            return
        if self.summary_mode == "shared":
            if getattr(self, "cae_", None) is None:
                raise RuntimeError("SummaryImages(summary_mode='shared') is not fitted: call fit() on the "
                                   "training clips' frames first")
            for f, c in self.cae_.iter_encode(named):
                idx, info = kmeans_select(c, k, self.random_state, self.n_init)
                yield SummaryResult(to_uint8(f[idx]), idx, len(f), info["padded"], info["n_distinct"])
            return
        # per_clip: one autoencoder per clip, cached by frame content
        trainer = None
        total = len(names) if names else (len(frames_iter) if hasattr(frames_iter, "__len__") else None)
        for f in progress(named, total=total, desc="per-clip autoencoders", unit="clip", disable=not self.progress):
            u8 = to_uint8(f)
            key = cache.make_key("summary_per_clip", arrays=[u8], version=SUMMARY_VERSION, k=k,
                                 epochs=int(self.cae_epochs), batch=int(self.cae_batch_size),
                                 seed=int(self.random_state), n_init=int(self.n_init))

            def compute(u8=u8):
                nonlocal trainer
                if len(u8) <= k:  # nothing to learn: all frames are kept
                    idx, info = kmeans_select(np.zeros((len(u8), 1)), k)
                    return {"indices": idx, "padded": np.array(info["padded"]), "n_distinct": np.array(len(u8))}
                if trainer is None:
                    trainer = _PerClipTrainer(self.frame_size, self.cae_epochs, self.cae_batch_size, self.random_state)
                idx, info = kmeans_select(trainer.codes(u8), k, self.random_state, self.n_init)
                return {"indices": idx, "padded": np.array(info["padded"]), "n_distinct": np.array(info["n_distinct"])}

            r = cache.cached_arrays("summary_per_clip", key, compute)
            idx = r["indices"].astype(int)
            yield SummaryResult(u8[idx], idx, len(u8), bool(r["padded"]), int(r["n_distinct"]))

    def _average(self, frames: np.ndarray) -> SummaryResult:
        n, s = len(frames), int(self.average_segments)
        if s < 1:
            raise ValueError(f"average_segments must be >= 1, got {s}")
        fl = _to_float(frames)
        if n < s:
            idx = pad_indices(n, s)
            segs = [(int(i), int(i) + 1) for i in idx]
        else:
            bounds = np.linspace(0, n, s + 1).round().astype(int)
            segs = [(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:])]
        imgs = np.stack([fl[a:b].mean(axis=0) for a, b in segs])
        return SummaryResult(to_uint8(imgs), np.full(s, -1), n, n < s, 0, segs)

    def transform(self, frames_list: Sequence[np.ndarray]) -> list[np.ndarray]:
        """One ``(k, S, S, 3)`` uint8 array of summary images per clip."""
        return [r.images for r in self.select(frames_list)]

    # -- persistence
    def save(self, directory: str | os.PathLike) -> Path:
        """``summary.json`` (parameters and training facts) and, in shared mode, the autoencoder
        weights ``cae.weights.h5``."""
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        meta = {"version": SUMMARY_VERSION, "params": self.get_params(),
                "n_train_clips": getattr(self, "n_train_clips_", 0),
                "n_train_frames": getattr(self, "n_train_frames_", 0)}
        cae = getattr(self, "cae_", None)
        if cae is not None:
            cae.save(d / "cae.weights.h5")
            meta["cae_loss"] = cae.history_
        fileio.write_json(d / "summary.json", meta)
        return d

    @classmethod
    def load(cls, directory: str | os.PathLike) -> "SummaryImages":
        d = Path(directory)
        meta = fileio.read_saved(d, "summary.json", "summary-image model", "SummaryImages.save, e.g. by notebook 03")
        obj = cls(**meta["params"])
        obj.n_train_clips_ = meta.get("n_train_clips", 0)
        obj.n_train_frames_ = meta.get("n_train_frames", 0)
        obj.cae_ = None
        if obj.summary_mode == "shared":
            w = d / "cae.weights.h5"
            if not w.exists():
                raise FileNotFoundError(f"{w}: shared summary model without its autoencoder weights")
            obj.cae_ = ConvAutoencoder(obj.frame_size, obj.cae_epochs, obj.cae_batch_size,
                                       obj.random_state).load_weights(w)
            obj.cae_.history_ = meta.get("cae_loss", [])
        return obj


# --------------------------------------------------------------------------- split helpers


# --------------------------------------------------------------------------- reports and figures


# --------------------------------------------------------------------------- notebook 03: one split, the report


def clip_lengths(frames_by_id: Mapping[str, np.ndarray], ids: Sequence[str]) -> np.ndarray:
    """Frames of each clip of ``ids``: from ``frames_by_id.lengths`` when it has them (a
    :class:`mer_helpers.methods.frames.FrameStore`; nothing is read), else ``len(frames_by_id[c])``.

    Parameters
    ----------
    frames_by_id : Mapping
        Clip id -> frames.
    ids : sequence of str
        The clips.

    Returns
    -------
    ndarray
        One int per clip.
    """
    known = getattr(frames_by_id, "lengths", None)
    if known is not None:
        return np.array([int(known[str(c)]) for c in ids], dtype=int)
    return np.array([len(frames_by_id[c]) for c in ids], dtype=int)
