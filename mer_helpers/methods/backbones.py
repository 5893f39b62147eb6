"""The visual backbones: which network, which weights, built once per process.

:data:`BACKBONES` lists the networks (``resnet50``, ``mobilenet_v2``, ``efficientnet_b0``: the
Keras applications without their classification layer, 224 x 224 input; ``fer_xception``: the
FER2013 mini-Xception, 64 x 64 grey input); :func:`build_backbone` builds one with its weights,
:func:`preprocess_images` prepares images for it. The features themselves are
:mod:`mer_helpers.methods.visual`.

Weights (``backbone_weights``):

``"imagenet"`` (default)
    the Keras ImageNet weights, from ``$KERAS_HOME/models/`` (``~/.keras/models/``) or
    downloaded there. Offline and not cached: :class:`BackboneWeightsError` says which file
    to fetch (URL), where to put it, and the alternatives.
a file path
    weights loaded from that ``.h5`` file (the "notop" file of the same network).
``"none"``
    random initialisation with a fixed seed (``seed``); features are then *not* comparable
    to the papers and every figure says "random-init".

``fer_xception`` (the ``strong`` preset) is a different kind of backbone: the mini-Xception of
Arriaga et al. (2017) trained on FER2013 face expressions (see :mod:`mer_helpers.core.weights`),
64 x 64 grey input scaled as ``(x / 255 - 0.5) * 2``. Its weights (``backbone_weights``
``fer2013``, or a path to the same ``.h5`` file) come from ``mer weights fetch fer_xception``.
Which of its layers becomes the feature vector is ``backbone_layer``:

``block``  the last 128-channel block, 4 x 4 x 128, flattened (2048 values);
``pool``   the same block averaged over its 4 x 4 positions (128);
``logits`` the 7 expression scores before the softmax.

FER2013's images were gathered from the web by keyword search, so an overlap with the faces
of a test corpus cannot be ruled out; the book says so wherever these features are used.
"""
from __future__ import annotations

import contextlib
import os
import random
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np

from mer_helpers.core import cache
from mer_helpers.core.weights import SOURCES, WeightsError, require

INPUT_SIZE = 224


@dataclass(frozen=True)
class BackboneSpec:
    """A ``keras.applications`` network: constructor and preprocessing names, output width,
    and the Keras file of its ImageNet weights without the top (name, URL, md5)."""

    constructor: str
    module: str
    dim: int
    weights_file: str
    weights_url: str | None
    weights_md5: str | None
    input_size: int = 224
    #: weights used when ``backbone_weights`` is not given: ``imagenet`` or ``fer2013``
    default_weights: str = "imagenet"
    #: ``backbone_layer`` -> output width (keras.applications networks: only ``avg``)
    layers: tuple = (("avg", 0),)

    def layer_name(self, layer: str | None) -> str:
        """The feature layer actually used: ``layer`` for a network with several (fer_xception),
        the one pooled output ``avg`` of a keras.applications network (``layer`` ignored)."""
        names = [n for n, _ in self.layers]
        if layer in (None, "") or names == ["avg"]:
            return names[0]
        if layer not in names:
            raise ValueError(f"backbone_layer {layer!r} is not one of {names}")
        return str(layer)

    def layer_dim(self, layer: str | None = None) -> int:
        """Output width of :meth:`layer_name` ``(layer)``."""
        return dict(self.layers)[self.layer_name(layer)] or self.dim


BACKBONES: dict[str, BackboneSpec] = {
    "resnet50": BackboneSpec(
        "ResNet50", "resnet50", 2048, "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5",
        "https://storage.googleapis.com/tensorflow/keras-applications/resnet/"
        "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5", "4d473c1dd8becc155b73f8504c6f6626"),
    "mobilenet_v2": BackboneSpec(
        "MobileNetV2", "mobilenet_v2", 1280, "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5",
        "https://storage.googleapis.com/tensorflow/keras-applications/mobilenet_v2/"
        "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5", None),
    "efficientnet_b0": BackboneSpec(
        "EfficientNetB0", "efficientnet", 1280, "efficientnetb0_notop.h5",
        "https://storage.googleapis.com/keras-applications/efficientnetb0_notop.h5",
        "50bc09e76180e00e4465e1a485ddc09d"),
    "fer_xception": BackboneSpec(
        "mini_xception", "fer", 2048, "fer_xception_emotion_model.hdf5", None, None, input_size=64,
        default_weights="fer2013", layers=(("block", 2048), ("pool", 128), ("logits", 7))),
}


#: FER2013's expression order (the outputs of ``fer_xception``)
FER2013_CLASSES = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")


FER_BLOCK_SHAPE = (4, 4, 128)


class BackboneWeightsError(RuntimeError):
    """The requested backbone weights cannot be found or fetched; the message says what to do."""


def backbone_spec(backbone: str) -> BackboneSpec:
    """The :class:`BackboneSpec` of a backbone name (case-insensitive).

    Parameters
    ----------
    backbone : str
        A key of :data:`BACKBONES`.

    Returns
    -------
    BackboneSpec
    """
    try:
        return BACKBONES[str(backbone).lower()]
    except KeyError:
        raise ValueError(f"unknown backbone {backbone!r}; choose one of {sorted(BACKBONES)}") from None


def keras_home() -> Path:
    """``$KERAS_HOME`` (read now, not at import) or ``~/.keras`` (``/tmp/.keras`` when the
    home folder is not writable), as Keras resolves it.

    Returns
    -------
    pathlib.Path
    """
    env = os.environ.get("KERAS_HOME")
    if env:
        return Path(env).expanduser()
    home = Path.home()
    return (home if os.access(home, os.W_OK) else Path("/tmp")) / ".keras"


def normalise_weights(weights) -> str:
    if weights is None:
        return "none"
    w = str(weights).strip()
    if w.lower() in ("none", "null", "random", "random-init", ""):
        return "none"
    if w.lower() in ("imagenet", "fer2013"):
        return w.lower()
    return w


def default_weights(backbone: str) -> str:
    """The weights a backbone uses unless told otherwise.

    Parameters
    ----------
    backbone : str
        ``resnet50``, ``fer_xception``, ... (any of :data:`BACKBONES`).

    Returns
    -------
    str
        ``imagenet`` or ``fer2013``.
    """
    return backbone_spec(backbone).default_weights


def weights_label(weights) -> str:
    """Short text for figure titles.

    Parameters
    ----------
    weights : str or path-like
        ``imagenet``, ``fer2013``, ``none`` or a weights file.

    Returns
    -------
    str
        ``ImageNet``, ``FER2013``, ``random-init`` or ``weights <file name>``.
    """
    w = normalise_weights(weights)
    if w == "none":
        return "random-init"
    if w == "imagenet":
        return "ImageNet"
    if w == "fer2013":
        return "FER2013"
    return f"weights {Path(w).name}"


def weights_id(backbone: str, weights, seed: int = 42) -> str:
    """Identifier of the exact weights (part of the feature cache key).

    Parameters
    ----------
    backbone : str
        The network.
    weights : str or path-like
        What the user asked for (see :func:`resolve_weights`).
    seed : int
        Part of the id when the weights are random (``none``).

    Returns
    -------
    str
        ``imagenet``, ``fer2013:<checksum>``, ``none:seed=42`` or ``file:<digest of the file>``.
    """
    w = normalise_weights(weights)
    if w == "none":
        return f"none:seed={int(seed)}"
    if w == "imagenet":
        return "imagenet"
    if w == "fer2013":

        return f"fer2013:{SOURCES['fer_xception'].sha256[:32]}"
    p = Path(w).expanduser()
    if not p.exists():
        raise BackboneWeightsError(f"backbone {backbone}: weights file {p} not found "
                                   "(backbone_weights must be 'imagenet', 'none' or an existing .h5 file)")
    return f"file:{cache.file_digest(p)[:32]}"


def _reachable(url: str, timeout: float) -> bool:
    """Does an HTTPS ``HEAD`` of ``url`` succeed within ``timeout`` seconds (DNS included)?

    A bare TCP connect is not enough: sandboxes and proxies accept connections to any
    address. The request runs in a daemon thread so a hanging resolver cannot block us.
    ``MER_OFFLINE=1`` answers ``False`` at once.
    """
    if os.environ.get("MER_OFFLINE", "").strip().lower() in ("1", "true", "yes"):
        return False
    import urllib.request

    result = {"ok": False}

    def probe():
        try:
            req = urllib.request.Request(url, method="HEAD")
            with urllib.request.urlopen(req, timeout=timeout) as r:
                result["ok"] = 200 <= getattr(r, "status", 200) < 400
        except Exception:
            pass

    t = threading.Thread(target=probe, daemon=True)
    t.start()
    t.join(timeout)
    return result["ok"]


def resolve_weights(backbone: str = "resnet50", weights="imagenet", timeout: float = 3.0) -> str | None:
    """Path of the weights file to load (``None`` for random initialisation).

    ``imagenet``: the cached Keras file if present; otherwise it is downloaded when the
    weights host answers within ``timeout`` s, and a :class:`BackboneWeightsError` explaining
    where to put the file is raised when it does not (or ``MER_OFFLINE=1``).

    Parameters
    ----------
    backbone : str
        The network.
    weights : str or path-like
        ``imagenet``, ``fer2013``, ``none`` or a file.
    timeout : float
        Seconds the weights host has to answer.

    Returns
    -------
    str or None
        An absolute path, or ``None`` for ``none``.
    """
    spec = backbone_spec(backbone)
    w = normalise_weights(weights)
    if spec.default_weights == "fer2013":
        return _resolve_fer_weights(backbone, w)
    if w == "fer2013":
        raise BackboneWeightsError(f"backbone {backbone}: backbone_weights fer2013 belongs to fer_xception; "
                                   "use imagenet, none or a weights file")
    if w == "none":
        return None
    if w != "imagenet":
        p = Path(w).expanduser()
        if not p.is_file():
            raise BackboneWeightsError(
                f"backbone {backbone}: weights file {p} not found. Pass the path of the Keras "
                f"'notop' weights of {spec.constructor} (e.g. {spec.weights_file}), "
                "or -p backbone_weights imagenet / none.")
        return str(p.resolve())
    target = keras_home() / "models" / spec.weights_file
    if target.is_file() and target.stat().st_size > 0:
        return str(target)
    if not _reachable(spec.weights_url, timeout):
        raise BackboneWeightsError(
            f"backbone {backbone}: the ImageNet weights are not in the Keras cache and cannot be "
            f"downloaded (no network: {urlsplit(spec.weights_url).hostname} could not be reached within "
            f"{timeout:g} s).\n"
            f"  Fetch this file on a machine with internet access:\n"
            f"    {spec.weights_url}\n"
            f"  and put it here (KERAS_HOME={keras_home()}):\n"
            f"    {target}\n"
            f"  or pass a local copy:   -p backbone_weights /path/to/{spec.weights_file}\n"
            f"  or use random weights:  -p backbone_weights none   "
            f"(random-init features: results are then NOT comparable to the papers)")
    import keras

    return keras.utils.get_file(spec.weights_file, spec.weights_url, cache_subdir="models",
                                cache_dir=str(keras_home()), file_hash=spec.weights_md5)


def _resolve_fer_weights(backbone: str, w: str) -> str:
    """``fer2013``: the verified file of ``mer weights fetch fer_xception``; or a path to it."""

    if w == "fer2013":
        try:
            return str(require("fer_xception"))
        except WeightsError as e:
            raise BackboneWeightsError(f"backbone {backbone}: {e}") from None
    if w in ("none", "imagenet"):
        raise BackboneWeightsError(
            f"backbone {backbone}: backbone_weights {w!r} is not available for this network; use fer2013 "
            "(after `mer weights fetch fer_xception`) or the path of its .hdf5 file")
    p = Path(w).expanduser()
    if not p.is_file():
        raise BackboneWeightsError(f"backbone {backbone}: weights file {p} not found; use fer2013 "
                                   "(after `mer weights fetch fer_xception`) or an existing .hdf5 file")
    return str(p.resolve())


def _build_fer(weights_path: str):
    """The FER2013 mini-Xception with two outputs: the last 128-channel block (4 x 4 x 128)
    and the 7 expression scores before the softmax."""
    import keras

    try:
        net = keras.models.load_model(weights_path, compile=False)
    except (ValueError, OSError) as e:
        raise BackboneWeightsError(f"backbone fer_xception: cannot load {weights_path}: {e}") from e
    adds = [layer for layer in net.layers if isinstance(layer, keras.layers.Add)]
    # ... -> last residual Add (the block) -> Conv2D(7) -> GlobalAveragePooling (scores) -> softmax
    block, logits = (adds[-1].output if adds else None), net.layers[-2].output
    if block is None:
        raise BackboneWeightsError(f"backbone fer_xception: {weights_path} has no residual block")
    if tuple(block.shape[1:]) != FER_BLOCK_SHAPE or tuple(logits.shape[1:]) != (len(FER2013_CLASSES),):
        raise BackboneWeightsError(f"backbone fer_xception: {weights_path} is not the FER2013 mini-Xception "
                                   f"(block {tuple(block.shape[1:])}, scores {tuple(logits.shape[1:])})")
    return keras.Model(net.inputs, [block, logits], name="fer_xception")


@contextlib.contextmanager
def _own_python_random(seed: int | None):
    """Keras draws the seed of every initializer from Python's global ``random``
    (``keras.src.random.seed_generator.make_default_seed``). In a Dask worker other threads
    (the worker's event loop) draw from it too, so a random-init network would depend on their
    timing. Inside this block Keras draws from a private ``random.Random(seed)`` instead: the
    very sequence ``keras.utils.set_random_seed(seed)`` gives an undisturbed process, so the
    same seed gives the same network in a worker and in a notebook. ``None``: no change."""
    try:
        from keras.src.random import seed_generator
    except ImportError:  # another Keras layout: keep its behaviour
        seed_generator = None
    if seed is None or not hasattr(seed_generator, "python_random"):
        yield
        return
    with _OWN_RANDOM_LOCK:
        old = seed_generator.python_random
        seed_generator.python_random = random.Random(seed)
        try:
            yield
        finally:
            seed_generator.python_random = old


_OWN_RANDOM_LOCK = threading.Lock()


@lru_cache(maxsize=4)
def _build_cached(backbone: str, weights_path: str | None, seed: int, wid: str):
    import keras

    spec = backbone_spec(backbone)
    if spec.module == "fer":
        return _build_fer(weights_path)
    ctor = getattr(keras.applications, spec.constructor)
    if weights_path is None:
        keras.utils.set_random_seed(int(seed))
    try:
        with _own_python_random(int(seed) if weights_path is None else None):
            return ctor(include_top=False, weights=weights_path, pooling="avg",
                        input_shape=(INPUT_SIZE, INPUT_SIZE, 3))
    except (ValueError, OSError) as e:
        raise BackboneWeightsError(f"backbone {backbone}: cannot load weights from {weights_path}: {e}. "
                                   f"The file must be the 'notop' weights of {spec.constructor} "
                                   f"({spec.weights_file}).") from e


def build_backbone(backbone: str = "resnet50", weights="imagenet", seed: int = 42):
    """``keras.applications`` model without top, global average pooling, 224x224x3 input.

    One model per (backbone, weights) per process. Random weights (``"none"``) are drawn with
    ``keras.utils.set_random_seed(seed)`` so the same seed gives the same network anywhere.

    Parameters
    ----------
    backbone : str
        The keras.applications network to build.
    weights : str or path-like
        As for :func:`resolve_weights`.
    seed : int
        Seed of random weights.

    Returns
    -------
    keras.Model
    """
    backbone = str(backbone).lower()
    path = resolve_weights(backbone, weights)
    return _build_cached(backbone, path, int(seed), weights_id(backbone, weights, seed))


def preprocess_images(images: np.ndarray, backbone: str = "resnet50") -> np.ndarray:
    """RGB images → the network's input, float32.

    keras.applications networks: resized to 224x224 and passed through the network's
    ``preprocess_input`` → (n, 224, 224, 3). ``fer_xception``: grey, 64x64, scaled as
    ``(x / 255 - 0.5) * 2`` → (n, 64, 64, 1), as the network was trained.

    Parameters
    ----------
    images : numpy.ndarray
        ``(n, h, w, 3)`` uint8 (or [0, 1] float) RGB.
    backbone : str
        Which network's input.

    Returns
    -------
    numpy.ndarray
    """
    import cv2
    import keras

    spec = backbone_spec(backbone)
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"images must be (n, h, w, 3), got {images.shape}")
    if images.dtype != np.uint8:
        images = np.clip(np.rint(images * 255.0), 0, 255).astype(np.uint8)
    size, grey = spec.input_size, spec.module == "fer"
    out = np.empty((len(images), size, size, 1 if grey else 3), dtype=np.float32)
    for i, im in enumerate(images):
        if grey:
            im = cv2.cvtColor(im, cv2.COLOR_RGB2GRAY)
        if im.shape[:2] != (size, size):
            interp = cv2.INTER_AREA if im.shape[0] > size else cv2.INTER_LINEAR
            im = cv2.resize(im, (size, size), interpolation=interp)
        out[i] = im.reshape(size, size, -1)
    if grey:
        return (out / 255.0 - 0.5) * 2.0
    module = getattr(keras.applications, spec.module)
    return np.asarray(module.preprocess_input(out), dtype=np.float32)
