"""Backbone features of summary images (paper 2, Algorithm 3) and the fitted visual branch.

Algorithm 3 resizes each summary image to 224 x 224, normalises it, and takes the output of a
pre-trained ResNet-50 without its classification layer: 2048 values per image. Here the
backbone is any entry of :data:`mer_helpers.methods.backbones.BACKBONES` (``resnet50``, ``mobilenet_v2``,
``efficientnet_b0``), built as ``keras.applications.<Net>(include_top=False, pooling="avg",
input_shape=(224, 224, 3))`` with the network's own ``preprocess_input``, and run **batched**
(large ``predict`` calls, not one per image). Notebook 04 streams: it describes each split a
chunk of clips at a time (:func:`stream_split_features`), and a row does not depend on how
the images were grouped into calls.

The networks and their weights (``backbone_weights``: ImageNet, a file, ``none``, FER2013) are
:mod:`mer_helpers.methods.backbones`.

Features are cached per image by the image's content, the backbone and the weights
(``$MER_CACHE_DIR/backbone``), so a summary image chosen in several splits is computed once.
"""
from __future__ import annotations

import functools
import io as _stdio
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

from mer_helpers.core import cache, fileio
from mer_helpers.core.parallel import map_clips
from mer_helpers.core.params import store_init_params
from mer_helpers.core.progress import import_tensorflow_quietly
from mer_helpers.methods.backbones import (
    FER2013_CLASSES, FER_BLOCK_SHAPE, BackboneWeightsError, backbone_spec, build_backbone, normalise_weights,
    preprocess_images, resolve_weights, weights_id, weights_label
)
from mer_helpers.methods.frames import sample_clips
from mer_helpers.methods.summary import SummaryImages

VISUAL_VERSION = "visual-v1"


# --------------------------------------------------------------------------- weights


# --------------------------------------------------------------------------- features

@dataclass
class FeatureStats:
    """What :func:`backbone_features` did: images asked for, unique images, cache hits,
    images computed, seconds spent in the network (and images/s of that part)."""

    n_images: int = 0
    n_unique: int = 0
    n_cached: int = 0
    n_computed: int = 0
    seconds: float = 0.0

    @property
    def images_per_s(self) -> float:
        return self.n_computed / self.seconds if self.seconds > 0 else float("nan")

    def add(self, other: "FeatureStats") -> "FeatureStats":
        """Add the counts and seconds of ``other`` (a later call of the same pass, made with the
        same ``seen`` set so no distinct image is counted twice) to these, in place."""
        self.n_images += other.n_images
        self.n_unique += other.n_unique
        self.n_cached += other.n_cached
        self.n_computed += other.n_computed
        self.seconds += other.seconds
        return self


def _feature_key(image: np.ndarray, backbone: str, wid: str) -> str:
    return cache.make_key("backbone", arrays=[image], version=VISUAL_VERSION, backbone=backbone,
                          weights=wid, size=backbone_spec(backbone).input_size)


def _raw_outputs(model, x: np.ndarray, batch_size: int, backbone: str) -> np.ndarray:
    """One ``predict`` call → one row per image: the pooled output, or for fer_xception the
    flattened block followed by the 7 scores (every ``backbone_layer`` is a slice of it).

    On CPU the kernels depend on the batch size: a batch of one image takes another path than
    any larger batch (outputs about 4e-6 apart), and on some processors (seen on an AMD EPYC) a
    batch of 2 differs from a batch of 32 by up to about 1e-2 in a ResNet-50 feature. A last,
    partial batch is therefore filled up to ``batch_size`` with copies of its last image, so that
    every image is computed in a batch of the same size and a row does not depend on how the
    images were grouped into calls (chunks of notebook 04, cache hits, `mer predict`)."""
    n = len(x)
    fill = (-n) % int(batch_size) if int(batch_size) > 1 else 0
    if fill:
        x = np.concatenate([x, np.repeat(x[-1:], fill, axis=0)])
    y = model.predict(x, batch_size=batch_size, verbose=0)
    if backbone_spec(backbone).module == "fer":
        block, logits = y
        y = np.concatenate([np.asarray(block).reshape(len(x), -1), np.asarray(logits)], axis=1)
    return np.asarray(y, dtype=np.float32)[:n]


def select_layer(raw: np.ndarray, backbone: str, layer: str | None = None) -> np.ndarray:
    """The ``backbone_layer`` columns of :func:`_raw_outputs` rows (see the module docstring).

    Parameters
    ----------
    raw : numpy.ndarray
        Raw output rows of one backbone.
    backbone : str
        The network (only ``fer_xception`` has several layers).
    layer : str, optional
        ``block``, ``pool``, ``logits`` or ``raw`` (everything); ``None``: the default layer.

    Returns
    -------
    numpy.ndarray
        The layer's columns (``pool``: the block averaged over positions).
    """
    spec = backbone_spec(backbone)
    if spec.module != "fer" or layer == "raw":  # "raw": every layer, for comparing them
        return raw
    name = spec.layer_name(layer)
    nb = int(np.prod(FER_BLOCK_SHAPE))
    if name == "block":
        return raw[:, :nb]
    if name == "pool":
        return raw[:, :nb].reshape(len(raw), -1, FER_BLOCK_SHAPE[-1]).mean(axis=1)
    return raw[:, nb:]


def _predict_raw(images: np.ndarray, backbone: str, weights: str, seed: int, batch_size: int) -> np.ndarray:
    """The network part of :func:`_features_task`: uint8 images -> raw output rows (:func:`_raw_outputs`)."""

    import_tensorflow_quietly()  # a Dask worker: no TensorFlow start-up lines in the run's output
    model = build_backbone(backbone, weights, seed)  # once per process
    return _raw_outputs(model, preprocess_images(images, backbone), batch_size, backbone)


def _features_task(job: tuple[list[str], np.ndarray], backbone: str, weights: str, seed: int,
                   batch_size: int, use_cache: bool) -> np.ndarray:
    """One task of :func:`backbone_features`: ``job = (cache keys, uint8 images)`` → the raw
    outputs ``(n, raw_dim)`` float32, each stored in the cache under its key. ``weights``: a
    weights file resolved by the caller, or ``none``."""
    keys, images = job
    y = _predict_raw(images, backbone, weights, seed, batch_size)
    if use_cache:
        for k, v in zip(keys, y):  # written, renamed into place and sealed under the entry's lock
            buf = _stdio.BytesIO()
            np.save(buf, v)
            cache.store("backbone", k, ".npy", lambda tmp, b=buf.getvalue(): tmp.write_bytes(b))
    return y


def backbone_features(images: Sequence[np.ndarray] | np.ndarray, backbone: str = "resnet50",
                      weights="imagenet", seed: int = 42, batch_size: int = 32, chunk: int = 256,
                      use_cache: bool = True, progress: bool = True, return_stats: bool = False,
                      layer: str | None = None, seen: set | None = None, local: bool = False):
    """Backbone features of many images: ``(n, dim)`` float32 (2048 for ResNet-50; for
    fer_xception the width of ``layer``, see :func:`select_layer`).

    ``images``: uint8 RGB images (any size; resized to the network's input). Identical images are
    computed once; with ``use_cache`` each result is stored under its content key, so later
    calls (other splits, other runs) reuse it. The missing images are split into chunks of at
    most ``chunk`` images (``predict`` with ``batch_size``), one task each on the Dask workers
    (:func:`mer_helpers.core.parallel.map_clips`), or all here through one model without Dask.

    ``seen``: for a pass made of several calls (notebook 04's chunks), the cache keys of the
    images already counted by earlier calls, updated in place. An image whose key is in it
    counts in ``n_images`` (and, if it is computed again, in ``n_computed``) but not as distinct
    or cached, so the stats of the calls added up (:meth:`FeatureStats.add`) are those of one
    call over all the images, as long as the cache is on.

    ``local``: compute the missing images here, in one call, without Dask (a timeline's small
    batches, where starting workers would cost more than the network).
    """
    backbone = str(backbone).lower()
    spec = backbone_spec(backbone)
    wid = weights_id(backbone, weights, seed)
    imgs = [np.ascontiguousarray(np.asarray(im)) for im in images]
    for i, im in enumerate(imgs):
        if im.dtype != np.uint8:
            imgs[i] = np.clip(np.rint(im * 255.0), 0, 255).astype(np.uint8)
    keys = [_feature_key(im, backbone, wid) for im in imgs]
    stats = FeatureStats(n_images=len(imgs))
    uniq: dict[str, int] = {}
    for i, k in enumerate(keys):
        uniq.setdefault(k, i)
    fresh = {k for k in uniq if seen is None or k not in seen}  # first met in this pass
    stats.n_unique = len(fresh)
    feats: dict[str, np.ndarray] = {}
    todo: list[str] = []
    for k in uniq:
        if use_cache:  # a verified (sealed) entry, else discarded and counted as a miss/rebuilt
            hit, v = cache.lookup("backbone", k, ".npy", lambda p: np.load(p, allow_pickle=False))
            if hit:
                feats[k] = np.asarray(v, dtype=np.float32)
                continue
        todo.append(k)
    stats.n_cached = len(fresh) - sum(k in fresh for k in todo)
    if seen is not None:
        seen.update(uniq)
    if todo:

        # one task per chunk of images (clip after clip): a Dask worker builds the network once
        # per process (``_build_cached``) and writes each result to the content-keyed cache;
        # without Dask the chunks run here, through one model. Weights are resolved here, so
        # every worker loads the same file.
        path = resolve_weights(backbone, weights)
        size = max(int(batch_size), min(int(chunk), -(-len(todo) // 8)))
        parts = [todo[s:s + size] for s in range(0, len(todo), size)]
        t0 = time.perf_counter()
        task = functools.partial(_features_task, backbone=backbone, weights=path or "none", seed=int(seed),
                                 batch_size=int(batch_size), use_cache=use_cache)
        if local:
            parts = [todo]
            ys = [task((todo, np.stack([imgs[uniq[k]] for k in todo])))]
        else:
            ys = map_clips(task, [(part, np.stack([imgs[uniq[k]] for k in part])) for part in parts],
                           desc=f"{backbone} ({weights_label(weights)})", unit="chunk", progress=progress,
                           n_jobs=1)
        for part, y in zip(parts, ys):
            feats.update(zip(part, y))
        stats.seconds = time.perf_counter() - t0
        stats.n_computed = len(todo)
    raw_dim = spec.dim + (len(FER2013_CLASSES) if spec.module == "fer" else 0)
    out = np.stack([feats[k] for k in keys]) if keys else np.zeros((0, raw_dim), np.float32)
    out = select_layer(out, backbone, layer)
    return (out, stats) if return_stats else out


def feature_columns(backbone: str = "resnet50", dim: int | None = None, layer: str | None = None) -> list[str]:
    """Column names of the visual features.

    Parameters
    ----------
    backbone : str
        The network.
    dim : int, optional
        Columns (default: the layer's width).
    layer : str, optional
        ``fer_xception``'s layer.

    Returns
    -------
    list of str
        ``visual:<backbone>_mean:<i>`` (fer_xception: ``visual:fer_xception_<layer>:<i>``).
    """
    spec = backbone_spec(backbone)
    d = dim or spec.layer_dim(layer)
    tag = "mean" if spec.module != "fer" else spec.layer_name(layer)
    return [f"visual:{backbone}_{tag}:{i}" for i in range(d)]


def clip_features(images_per_clip: Sequence[np.ndarray], backbone: str = "resnet50", weights="imagenet",
                  seed: int = 42, batch_size: int = 32, progress: bool = True, return_stats: bool = False,
                  layer: str | None = None, use_cache: bool = True, local: bool = False):
    """Per clip: the sequence of its summary images' features ``(k, dim)`` and their mean.

    All images of all clips go through :func:`backbone_features` in one batched pass.

    Parameters
    ----------
    images_per_clip : sequence of numpy.ndarray
        Per clip, its ``k >= 1`` images.
    backbone : str
        The network.
    weights : str or path-like
        As for :func:`resolve_weights`.
    seed : int
        Draws random weights (``weights="none"``).
    batch_size : int
        Images per forward pass.
    progress : bool
        Show a progress bar.
    return_stats : bool
        Also return :func:`backbone_features`' timing and cache statistics.
    layer : str, optional
        ``fer_xception``'s layer.
    use_cache, local : bool
        See :func:`backbone_features`.

    Returns
    -------
    tuple
        ``(X (n_clips, dim) float32, columns, sequences)`` [, ``stats``].
    """
    counts = [len(x) for x in images_per_clip]
    if any(c == 0 for c in counts):
        raise ValueError("every clip needs at least one summary image")
    flat = [im for x in images_per_clip for im in x]
    F, stats = backbone_features(flat, backbone, weights, seed, batch_size=batch_size, progress=progress,
                                 return_stats=True, layer=layer, use_cache=use_cache, local=local)
    seqs, pos = [], 0
    for c in counts:
        seqs.append(F[pos:pos + c].astype(np.float32))
        pos += c
    dim = backbone_spec(backbone).layer_dim(layer)
    X = np.stack([s.mean(axis=0) for s in seqs]).astype(np.float32) if seqs else np.zeros((0, dim), np.float32)
    out = (X, feature_columns(backbone, dim, layer), seqs)
    return (*out, stats) if return_stats else out


# --------------------------------------------------------------------------- the fitted branch

class VisualFeaturizer(TransformerMixin, BaseEstimator):
    """The visual branch of one split: frame sampling → summary images → backbone features.

    ``fit(frames_list)`` fits (a clone of) ``summary`` on the training clips' frames (only the
    ``shared`` summary mode learns anything; the backbone is pretrained or random-init, never
    trained here). A ``summary`` that is already fitted (e.g. loaded from notebook 03) can be
    used without ``fit``. ``transform(frames_list)`` → ``X (n, dim)`` float32;
    :meth:`transform_frames` / :meth:`transform_paths` give ``(X, columns, sequences)``.
    ``save`` stores the parameters, the summary model and the *weights spec* (``imagenet``,
    ``none`` or a path; never the backbone weights themselves); ``load`` rebuilds it.

    Parameters
    ----------
    summary : mer_helpers.methods.summary.SummaryImages
        The summary-image model (fitted, or fitted by :meth:`fit`).
    frame_interval, frame_size, face_detect, face_only : frame sampling (see
        :func:`mer_helpers.methods.frames.sample_clips`).
    backbone : str
        ``resnet50``, ``mobilenet_v2``, ``fer_xception`` ...
    backbone_weights : str
        ``imagenet``, ``none``, ``fer2013`` or a weights file.
    backbone_batch_size : int
        Images per backbone call.
    seed : int
        Seed of a random-init backbone.
    backbone_layer : str or None
        The backbone output read (``None``: the backbone's default).

    Notes
    -----
    Not run through scikit-learn's ``check_estimator``: ``X`` is a list of per-clip frame stacks
    ``(T_i, S, S, 3)`` and the output width is fixed by the backbone, so no check's 2-D data
    fits. ``tests/test_estimators.py`` checks ``get_params`` / ``clone``, ``fit`` returning
    ``self`` and ``transform`` returning an array instead.
    """

    def __init__(self, summary=None, frame_interval: int = 5, frame_size: int = 96, face_detect: bool = True,
                 backbone: str = "resnet50", backbone_weights="imagenet", backbone_batch_size: int = 32,
                 seed: int = 42, face_only: bool = False, backbone_layer: str | None = None):
        store_init_params(self, locals())

    # the parameters as used (normalised); ``get_params`` keeps them as given
    @property
    def _backbone(self) -> str:
        return str(self.backbone).lower()

    @property
    def _weights(self) -> str:
        return normalise_weights(self.backbone_weights)

    @property
    def _layer(self) -> str:
        return backbone_spec(self._backbone).layer_name(self.backbone_layer)

    @property
    def summary_model(self):
        """The fitted summary model: ``summary_`` after :meth:`fit`, else ``summary``."""
        model = getattr(self, "summary_", None)
        model = self.summary if model is None else model
        if model is None:
            raise RuntimeError("VisualFeaturizer has no summary model: pass summary=SummaryImages(...)")
        return model

    @property
    def columns(self) -> list[str]:
        """The output column names ``visual:<backbone>_<tag>:<i>``."""
        return feature_columns(self._backbone, layer=self._layer)

    def fit(self, X, y=None):
        """Fit a clone of ``summary`` on the training clips' frames.

        Parameters
        ----------
        X : list of ndarray of shape (T_i, S, S, 3)
            Sampled frames of the training clips.
        y : ignored

        Returns
        -------
        self : VisualFeaturizer
        """
        from sklearn.base import clone

        if self.summary is None:
            raise ValueError("VisualFeaturizer.fit: summary=SummaryImages(...) is needed")
        self.summary_ = clone(self.summary).fit(X)
        self.columns_ = self.columns
        return self

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        """The output column names as an array, as scikit-learn expects."""
        return np.asarray(self.columns, dtype=object)

    def transform(self, X) -> np.ndarray:
        """Feature vectors of clips given as sampled frames.

        Parameters
        ----------
        X : list of ndarray of shape (T_i, S, S, 3)

        Returns
        -------
        ndarray of shape (n_clips, dim), float32
        """
        return self.transform_frames(X, progress=False)[0]

    def transform_images(self, images_per_clip: Sequence[np.ndarray], progress: bool = True, **kwargs):
        """Summary images per clip → features: the backbone's features of each image (layer
        ``backbone_layer``) and their mean over the clip's images.

        Parameters
        ----------
        images_per_clip : list of ndarray of shape (k_i, S, S, 3)
            The summary images of each clip (e.g. from :meth:`SummaryImages.transform`).
        progress : bool
            Show a progress bar over the backbone's batches.
        **kwargs
            ``use_cache``, ``local``: see :func:`backbone_features`.

        Returns
        -------
        tuple
            ``(X (n, dim) float32, columns, sequences [(k_i, dim)])``: per clip the mean image
            feature, the column names, and the features of each image.
        """
        return clip_features(images_per_clip, self._backbone, self._weights, int(self.seed),
                             int(self.backbone_batch_size), progress=progress, layer=self._layer, **kwargs)

    def transform_frames(self, frames_list: Sequence[np.ndarray], progress: bool = True, **kwargs):
        """Sampled frames per clip → summary images (the fitted summary model) → features.

        Parameters
        ----------
        frames_list : list of ndarray of shape (T_i, S, S, 3)
            Frames as :meth:`sample_frames` returns them.
        progress : bool
            Passed to :meth:`transform_images`.
        **kwargs
            Passed to :meth:`transform_images` (``use_cache``, ``local``).

        Returns
        -------
        tuple
            What :meth:`transform_images` returns for the clips' summary images.
        """
        images = self.summary_model.transform(frames_list)
        return self.transform_images(images, progress=progress, **kwargs)

    def sample_frames(self, paths: Iterable[str | os.PathLike], n_jobs: int = 1, progress: bool = True):
        """The frames this featurizer reads from clip files (:func:`mer_helpers.methods.frames.sample_clips`).

        Parameters
        ----------
        paths : sequence of path-like
        n_jobs : int
        progress : bool

        Returns
        -------
        list of ndarray of shape (T_i, S, S, 3), uint8
        """

        frames, _ = sample_clips(list(paths), int(self.frame_interval), int(self.frame_size), bool(self.face_detect),
                                 n_jobs=n_jobs, dtype="uint8", progress=progress, face_only=bool(self.face_only))
        return frames

    def transform_paths(self, paths: Iterable[str | os.PathLike], n_jobs: int = 1, progress: bool = True):
        """Clip files → features.

        Parameters
        ----------
        paths : sequence of path-like
        n_jobs : int
            Clips decoded at a time.
        progress : bool

        Returns
        -------
        tuple
            ``(X (n, dim) float32, columns, sequences list of (k_i, dim))``.
        """
        return self.transform_frames(self.sample_frames(paths, n_jobs, progress), progress=progress)

    def save(self, directory: str | os.PathLike) -> Path:
        """Write ``visual.json`` and the summary model (``summary/``).

        The backbone is not saved: ``visual.json`` names it and its weights (with
        :func:`weights_id`, which :meth:`load` checks for a weights file).

        Parameters
        ----------
        directory : path-like
            The visual branch's folder (created if missing).

        Returns
        -------
        Path
            ``directory``, for :meth:`load`.
        """
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        self.summary_model.save(d / "summary")
        spec = backbone_spec(self._backbone)
        meta = {"version": VISUAL_VERSION, "frame_interval": int(self.frame_interval),
                "frame_size": int(self.frame_size),
                "face_detect": bool(self.face_detect), "face_only": bool(self.face_only), "backbone": self._backbone,
                "backbone_weights": self._weights,
                "weights_id": weights_id(self._backbone, self._weights, int(self.seed)),
                "weights_label": weights_label(self._weights),
                "weights_url": spec.weights_url if self._weights == "imagenet" else None,
                "backbone_batch_size": int(self.backbone_batch_size), "seed": int(self.seed),
                "backbone_layer": self._layer, "dim": spec.layer_dim(self._layer),
                "columns": f"{self.columns[0].rsplit(':', 1)[0]}:0..{len(self.columns) - 1}"}
        fileio.write_json(d / "visual.json", meta)
        return d

    @classmethod
    def load(cls, directory: str | os.PathLike) -> "VisualFeaturizer":
        """Rebuild a featurizer written by :meth:`save`: its settings from ``visual.json``, the
        summary model from ``summary/``; the backbone is built again from its name and weights.

        Parameters
        ----------
        directory : path-like
            A folder written by :meth:`save` (in a run, ``model/visual``).

        Returns
        -------
        VisualFeaturizer
            Fitted (``summary_`` is the saved summary model).

        Raises
        ------
        BackboneWeightsError
            The weights file has changed since the featurizer was saved.
        """

        d = Path(directory)
        path = d / "visual.json"
        m = fileio.read_saved(d, "visual.json", "visual branch", "VisualFeaturizer.save, e.g. by notebook 04")
        summary = SummaryImages.load(d / "summary")
        obj = cls(summary, m["frame_interval"], m["frame_size"], m["face_detect"],
                  m["backbone"], m["backbone_weights"], m.get("backbone_batch_size", 32), m.get("seed", 42),
                  face_only=m.get("face_only", False), backbone_layer=m.get("backbone_layer"))
        obj.summary_ = summary
        obj.columns_ = obj.columns
        if obj._weights not in ("imagenet", "none", "fer2013"):
            wid = weights_id(obj._backbone, obj._weights, int(obj.seed))
            if wid != m.get("weights_id"):
                raise BackboneWeightsError(f"{path}: the weights file {m['backbone_weights']} has changed since "
                                           "the model was saved (content hash differs)")
        return obj


# --------------------------------------------------------------------------- checks and figures

def pixel_baseline(images_per_clip: Sequence[np.ndarray], size: int = 24, dtype=np.float32) -> np.ndarray:
    """A plain comparator: each clip's images as ``size`` x ``size`` grey pixels, averaged over
    its images and scaled to [0, 1]; the one grey-pixel feature (notebook 04 on summary images,
    :func:`mer_helpers.stages.results.plain_feature_references` on sampled frames).

    Parameters
    ----------
    images_per_clip : sequence of arrays
        Per clip, its RGB images (``(n, H, W, 3)`` or a list of ``(H, W, 3)``), uint8 values.
    size : int
        Side of the grey image.
    dtype : numpy dtype
        Of the result.

    Returns
    -------
    numpy.ndarray
        ``(n_clips, size * size)``.
    """
    import cv2

    out = []
    for ims in images_per_clip:
        g = [cv2.resize(cv2.cvtColor(np.asarray(im, np.uint8), cv2.COLOR_RGB2GRAY), (size, size),
                        interpolation=cv2.INTER_AREA) for im in ims]
        out.append(np.mean(g, axis=0).ravel() / 255.0)
    return np.asarray(out, dtype=dtype)

