"""Notebook 04 (backbone features): one split from summary images to visual feature rows.

:func:`stream_split_features` streams a split's summary images through the backbone of
:mod:`mer_helpers.methods.visual`; the timing probe, the zero-shot check of the face network, the
pixel-yardstick sanity check and the stage's ``metrics.json`` fragment are here.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from mer_helpers.core import fileio
from mer_helpers.core.parallel import CHUNK_CLIPS
from mer_helpers.data.labels import normalize_label
from mer_helpers.data.paired import AUX_FACES
from mer_helpers.methods import aux_faces as aux, summary_files, tuning
from mer_helpers.methods.backbones import (
    FER2013_CLASSES, backbone_spec, build_backbone, normalise_weights, weights_label
)
from mer_helpers.methods.evaluation import logreg_per_split
from mer_helpers.methods.visual import (
    FeatureStats, backbone_features, feature_columns, pixel_baseline, select_layer
)


def benchmark_predict(backbone: str = "resnet50", weights="none", seed: int = 42, n_images: int = 64,
                      batch_size: int = 32) -> float:
    """Images/s of a bare batched ``model.predict`` on random images of the network's input
    size (after one warm-up batch): the ceiling that :func:`backbone_features` can be compared with.

    Parameters
    ----------
    backbone : str
        The network.
    weights : str
        As for :func:`resolve_weights`.
    seed : int
        For the random weights and the random test images.
    n_images, batch_size : int
        Images timed, and per batch.

    Returns
    -------
    float
    """
    model = build_backbone(backbone, weights, seed)
    size = backbone_spec(backbone).input_size
    channels = 1 if backbone_spec(backbone).module == "fer" else 3
    x = np.random.default_rng(0).uniform(0, 255, (int(n_images), size, size, channels)).astype(np.float32)
    model.predict(x[:batch_size], batch_size=batch_size, verbose=0)
    t0 = time.perf_counter()
    model.predict(x, batch_size=batch_size, verbose=0)
    return n_images / (time.perf_counter() - t0)


def zero_shot_scores(logits_by_clip: dict, label_of: dict) -> dict | None:
    """Zero-shot use of ``fer_xception``: each clip's predicted class is the run class whose
    FER2013 score (``backbone_layer="logits"``, averaged over the clip's images) is highest.

    Nothing is fitted, so scoring every clip is fair.

    Parameters
    ----------
    logits_by_clip : dict
        Clip id → its mean FER2013 logits.
    label_of : dict
        Clip id → run class.

    Returns
    -------
    dict or None
        ``accuracy, f1_macro, n_clips, mapping``; ``None`` when a run class has no FER2013
        counterpart (e.g. ``calm``).
    """
    from sklearn.metrics import accuracy_score, f1_score


    classes = sorted({str(v) for v in label_of.values()})
    fer = {c: normalize_label(c) for c in classes}  # the project's names are FER2013's
    if any(f not in FER2013_CLASSES for f in fer.values()):
        return None
    cols = [FER2013_CLASSES.index(fer[c]) for c in classes]
    ids = [c for c in logits_by_clip if c in label_of]
    S = np.stack([np.asarray(logits_by_clip[c])[cols] for c in ids])
    y_true = [label_of[c] for c in ids]
    y_pred = [classes[i] for i in S.argmax(axis=1)]
    return {"accuracy": float(accuracy_score(y_true, y_pred)),
            "f1_macro": float(f1_score(y_true, y_pred, average="macro")),
            "n_clips": len(ids), "mapping": fer}


@dataclass
class SplitFeatures:
    """What notebook 04 keeps of one split after :func:`stream_split_features`: per clip a few
    rows, never its images nor the features of each image.

    Attributes
    ----------
    clip_ids : list of str
        In ``labels.csv`` order.
    X : numpy.ndarray
        ``(n_clips, dim)`` float32: the mean over each clip's images of the chosen layer.
    pixels : numpy.ndarray
        ``(n_clips, 576)`` float32: 24 x 24 grey pixels (:func:`pixel_baseline`).
    layer_means : dict
        Layer name -> ``(n_clips, width)`` float32 clip means of every ``fer_xception`` layer
        (empty unless asked for); the chosen layer's is ``X`` itself.
    """

    clip_ids: list
    X: np.ndarray
    pixels: np.ndarray
    layer_means: dict


def stream_split_features(artifacts, split: str, clip_order: Sequence[str], backbone: str, weights,
                          layer: str | None = None, *, seed: int = 42, batch_size: int = 32,
                          stats: FeatureStats | None = None, seen: set | None = None,
                          layer_means: bool = False, chunk: int = CHUNK_CLIPS,
                          progress: bool = True, done: dict | None = None) -> SplitFeatures:
    """Compute and write one split's visual features a chunk of clips at a time (notebook 04).

    For each chunk of at most ``chunk`` clips: its summary PNGs are read
    (:func:`mer_helpers.methods.summary_files.iter_summary_chunks`), the backbone describes their images
    (:func:`backbone_features`, cached by content), each clip's sequence is appended to
    ``visual/<split>/sequences.npz`` (:class:`mer_helpers.core.fileio.SequenceWriter`) and only its
    mean row, its grey-pixel row and (``layer_means``) its per-layer means are kept. Images
    and per-image features are thus held for one chunk at a time. At the end
    ``visual/<split>/features.npz`` is written.

    Parameters
    ----------
    artifacts : path
        ``OUT/artifacts`` (reads ``summary/<split>/``, writes ``visual/<split>/``).
    split : str
        Split name.
    clip_order : sequence of str
        Every clip id of ``labels.csv``, in its order (the order of the rows written).
    backbone, weights, layer
        As for :func:`backbone_features` (``layer``: the layer of the features written).
    seed, batch_size : int
        Of the backbone.
    stats : FeatureStats, optional
        Incremented with the stats of every chunk (:meth:`FeatureStats.add`).
    seen : set, optional
        Cache keys met by earlier chunks and splits of the pass (see :func:`backbone_features`).
    layer_means : bool
        Also keep the clip means of every layer of ``fer_xception`` (the layer table).
    chunk : int
        Most clips per chunk.
    progress : bool
        Progress of the backbone's computations.
    done : dict, optional
        Splits already written in this pass, updated in place: what their features depend on (the
        summary index of the clips, the backbone and its settings) -> ``(split, result)``. A split
        with the same summary images as an earlier one (``summary_mode="all"``: every split) is not
        read again: its two files are linked to (or copied from) that split's and its result is
        that split's (``stats`` counts its images, as met before).

    Returns
    -------
    SplitFeatures

    Raises
    ------
    KeyError
        A clip of ``clip_order`` without summary images in this split.
    """

    artifacts = Path(artifacts)
    index = summary_files.read_summary_index(artifacts, split)
    have = set(index["clip_id"].astype(str))
    clip_ids = [str(c) for c in clip_order]
    missing = sorted(set(clip_ids) - have)
    if missing:
        raise KeyError(f"{artifacts / 'summary' / split / 'index.csv'}: no summary images for {len(missing)} clip(s), "
                       f"e.g. {missing[:3]}; rerun notebook 03")
    if not clip_ids:
        raise ValueError(f"split {split!r}: no clip to describe")
    chosen = backbone_spec(backbone).layer_name(layer)
    layers = [m for m, _ in backbone_spec(backbone).layers if m != chosen] if layer_means else []
    n, i, X, pixels, means = len(clip_ids), 0, None, None, {}
    out = artifacts / "visual" / split
    if done is not None:  # what this split's features depend on
        rows = index[index["clip_id"].astype(str).isin(set(clip_ids))]
        same = repr((clip_ids, sorted(zip(rows["clip_id"].astype(str), rows["k"].astype(int), rows["png"].astype(str))),
                     backbone, str(weights), chosen, int(seed), int(batch_size), bool(layer_means)))
    if done is not None and same in done:
        first, result = done[same]
        for name in ("features.npz", "sequences.npz"):
            fileio.link_or_copy(artifacts / "visual" / first / name, out / name)
        if stats is not None:
            stats.add(FeatureStats(n_images=len(rows)))
        return result
    with fileio.SequenceWriter(out / "sequences.npz") as sequences:
        for images in summary_files.iter_summary_chunks(artifacts, index, clip_ids, chunk):
            raw, st = backbone_features([im for ims in images.values() for im in ims], backbone, weights,
                                        seed=seed, batch_size=batch_size, return_stats=True, layer="raw",
                                        seen=seen, progress=progress)
            if stats is not None:
                stats.add(st)
            F, P, start = select_layer(raw, backbone, layer), pixel_baseline(list(images.values())), 0
            if X is None:  # the kept rows, allocated once their widths are known
                X, pixels = np.empty((n, F.shape[1]), np.float32), np.empty((n, P.shape[1]), np.float32)
                means = {m: np.empty((n, select_layer(raw[:1], backbone, m).shape[1]), np.float32) for m in layers}
            pixels[i:i + len(images)] = P
            for cid, ims in images.items():
                at = np.arange(start, start + len(ims))
                start += len(ims)
                sequences.add(cid, F[at])
                X[i] = F[at].mean(axis=0)
                for m in layers:
                    means[m][i] = select_layer(raw[at], backbone, m).mean(axis=0)
                i += 1
    fileio.save_features(out / "features.npz", clip_ids, X, feature_columns(backbone, X.shape[1], layer))
    if layer_means:
        means[chosen] = X  # the same values (each clip's mean of the chosen layer), not a copy
    result = SplitFeatures(clip_ids, X, pixels, {m: means[m] for m, _ in backbone_spec(backbone).layers if m in means})
    if done is not None:
        done[same] = (split, result)
    return result


def sanity_check(features: Mapping[str, tuple], pixels: Mapping[str, tuple], labels: Mapping[str, str],
                 eval_splits: Sequence[dict], name: str, seed: int = 42):
    """Logistic regression per evaluation split on the visual features and on 24 x 24 grey pixels.

    Parameters
    ----------
    features : mapping
        Split -> ``(clip_ids, X)`` (:attr:`SplitFeatures.X`).
    pixels : mapping
        Split -> ``(clip_ids, grey pixels)`` (:attr:`SplitFeatures.pixels`).
    labels : mapping
        Clip id -> label.
    eval_splits : sequence of dict
        The evaluation splits.
    name : str
        Column label of the features (e.g. ``"resnet50 (random-init)"``).
    seed : int
        ``random_state`` of the regressions.

    Returns
    -------
    pandas.DataFrame
        Macro-F1 per split (columns ``name`` and ``"grey pixels 24x24"``).
    """
    import pandas as pd


    per_fold = pd.DataFrame({
        name: logreg_per_split(features, labels, eval_splits, seed=seed).set_index("split")["f1_macro"],
        "grey pixels 24x24": logreg_per_split(pixels, labels, eval_splits, seed=seed).set_index("split")["f1_macro"],
    })
    return per_fold


def metrics_fragment(made: Mapping, stats: FeatureStats, backbone: str, backbone_weights, layer: str, dim: int,
                     sanity: Mapping[str, float], zero_shot: Mapping | None, bare_images_per_s: float,
                     backbone_seconds: float, layer_table=None) -> dict:
    """The ``04_visual`` metrics fragment of notebook 04.

    Parameters
    ----------
    made : mapping
        ``summary/summary.json`` of notebook 03.
    stats : FeatureStats
        Of :func:`backbone_features`.
    backbone, backbone_weights, layer : str
        The backbone, its weights (as given) and the layer the features come from.
    dim : int
        Width of the clip features.
    sanity : mapping
        ``visual_logreg_f1_macro``, ``visual_logreg_f1_macro_std``, ``pixels_logreg_f1_macro``.
    zero_shot : mapping or None
        :func:`zero_shot_scores`.
    bare_images_per_s : float
        :func:`benchmark_predict` (NaN when skipped).
    backbone_seconds : float
        Wall time of the feature pass.
    layer_table : DataFrame, optional
        :func:`mer_helpers.methods.tuning.inner_logreg_table` of the layer candidates.

    Returns
    -------
    dict
    """

    bare = bare_images_per_s
    return {
        "visual_backbone": backbone,
        "backbone_weights": normalise_weights(backbone_weights),
        "features": {"visual": int(dim)},
        "sanity": dict(sanity),
        "visual": {"summary_mode": made["summary_mode"], "images_per_clip": made["images_per_clip"],
                   "frame_interval": made["frame_interval"], "frame_size": made["frame_size"],
                   "face_detect": made["face_detect"], "face_only": made.get("face_only", False),
                   "weights_label": weights_label(backbone_weights), "backbone_layer": layer, "zero_shot": zero_shot,
                   "clips_too_few_frames": len(made["clips_too_few_frames"]), "face_fallback": made["face_fallback"],
                   "images": {"total": stats.n_images, "distinct": stats.n_unique, "cached": stats.n_cached,
                              "computed": stats.n_computed},
                   "images_per_s": round(stats.images_per_s, 2) if stats.n_computed else None,
                   "bare_predict_images_per_s": round(bare, 2) if bare == bare else None,
                   "timings_s": {**made.get("timings_s", {}), "backbone": round(backbone_seconds, 2)}},
        "tuning": {"visual_inner_f1_macro": tuning.mean_by_candidate(layer_table)},
    }


def write_aux_faces(artifacts, aux_faces: str, dataset: str, data_root, faces: str, labels, made: Mapping,
                    backbone: str, backbone_weights, layer: str, seed: int = 42, batch_size: int = 32) -> dict:
    """Notebook 04's auxiliary faces: ``visual/aux/features.npz`` and ``visual/aux/samples.csv``.

    With ``aux_faces="unpaired"`` on a paired run, every (subject, emotion) of the face corpus
    ``data_root/faces`` (the *training* pair's under ``cross-corpus``) whose subject is not one of
    the run's (``labels.csv``'s ``subject``) becomes one row, described as the clips' frames are
    (:mod:`mer_helpers.methods.aux_faces`). Otherwise the files are removed.

    Returns
    -------
    dict
        ``aux_faces`` (asked), ``n_samples``, ``n_subjects``, ``subjects_in_run`` (0: checked) and,
        when nothing was written, ``why``.
    """
    out = Path(artifacts) / "visual" / "aux"
    for stale in ("features.npz", "samples.csv"):
        (out / stale).unlink(missing_ok=True)
    if aux_faces not in AUX_FACES:
        raise ValueError(f"aux_faces must be one of {AUX_FACES}, got {aux_faces!r}")
    info = {"aux_faces": aux_faces, "n_samples": 0, "n_subjects": 0}
    if aux_faces == "none":
        return {**info, "why": "not asked"}
    if dataset != "paired" or "subject" not in labels.columns:
        return {**info, "why": f"dataset {dataset!r} is not paired: no face corpus with unpaired subjects"}
    if made["summary_mode"] != "all":
        raise ValueError(f"aux_faces={aux_faces!r} needs summary_mode 'all' (the clip features are then the mean "
                         f"over its face images); this run's is {made['summary_mode']!r}")
    faces_dir = Path(str(data_root)) / str(faces)
    samples = aux.auxiliary_samples(faces_dir, labels["subject"].astype(str).unique(), sorted(labels["label"].unique()))
    if not samples:
        return {**info, "why": f"{faces_dir}: every subject is in the run"}
    X = aux.sample_features(samples, made["frame_size"], made["face_detect"], made.get("face_only", False), backbone,
                            backbone_weights, layer=layer, seed=seed, batch_size=batch_size)
    table = aux.as_frame(samples)
    table.insert(0, "sample_id", [f"aux_{s.subject}_{s.label}" for s in samples])
    fileio.save_features(out / "features.npz", table["sample_id"].to_numpy(), X,
                         feature_columns(backbone, X.shape[1], layer))
    fileio.atomic_write_text(out / "samples.csv", table.to_csv(index=False))
    overlap = len(set(table["subject"]) & set(labels["subject"].astype(str)))
    return {**info, "n_samples": len(table), "n_subjects": int(table["subject"].nunique()), "subjects_in_run": overlap}
