"""Test helpers (not part of the package): synthetic artifacts for notebook 05's helpers, the
mouth region of the sample's rendered faces, and the scripts of ``scripts/`` as modules.

Imported by the tests as ``from synthetic import ...`` (pytest puts ``tests/`` on ``sys.path``).
"""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from mer_helpers.core import fileio


def make_synthetic_artifacts(out_dir: str | os.PathLike, n_speakers: int = 6, clips_per_class: int = 4,
                             classes: Sequence[str] = ("happy", "sad", "surprise"), n_audio: int = 64,
                             n_visual: int = 256, n_informative: tuple[int, int] = (4, 8),
                             protocol: str = "speaker-cv", n_folds: int = 3, seed: int = 0) -> Path:
    """Write a synthetic ``OUT/artifacts`` for testing notebook 05's helpers.

    ``labels.csv``, ``splits.json`` (via :func:`mer_helpers.data.splits.make_splits`) and, for every
    split, ``audio/<split>/features.npz`` (``audio:ae_mean:i``) and
    ``visual/<split>/features.npz`` (``visual:resnet50_mean:i``), and the metrics fragments of
    notebooks 00 and 04 that later notebooks read (``00_data``: dataset, protocol;
    ``04_visual``: backbone weights ``none``). The first
    ``n_informative[0]`` audio and ``n_informative[1]`` visual columns carry the class (a
    class-dependent mean shift); every column also has a speaker offset; the rest is noise.
    Returns the artifacts folder. Not real data: for development and tests only.
    """
    from mer_helpers.data.splits import make_splits

    rng = np.random.default_rng(seed)
    art = fileio.artifacts_dir(out_dir)
    rows = []
    for s in range(n_speakers):
        for c in classes:
            for u in range(clips_per_class):
                cid = f"syn_spk{s:02d}_{c}_{u}"
                rows.append({"clip_id": cid, "path": str(art / "clips" / f"{cid}.mp4"), "label": c,
                             "speaker": f"spk{s:02d}"})
    labels = pd.DataFrame(rows)
    fileio.atomic_write_text(art / "labels.csv", labels.to_csv(index=False))
    splits = make_splits(labels, protocol=protocol, n_folds=n_folds, seed=seed)
    fileio.write_json(art / "splits.json", splits)
    n = len(labels)
    yi = pd.Categorical(labels["label"], categories=list(classes)).codes
    spk = pd.Categorical(labels["speaker"]).codes

    def block(d, k):
        centres = rng.normal(0, 1.5, (len(classes), k))
        offsets = rng.normal(0, 0.5, (n_speakers, d))
        X = rng.normal(0, 1, (n, d)) + offsets[spk]
        X[:, :k] += centres[yi]
        return X.astype(np.float32)

    A, V = block(n_audio, n_informative[0]), block(n_visual, n_informative[1])
    ids = labels["clip_id"].to_numpy()
    for sp in splits["splits"]:
        fileio.save_features(art / "audio" / sp["name"] / "features.npz", ids, A,
                         [f"audio:ae_mean:{i}" for i in range(n_audio)])
        fileio.save_features(art / "visual" / sp["name"] / "features.npz", ids, V,
                         [f"visual:resnet50_mean:{i}" for i in range(n_visual)])
    fileio.write_fragment(out_dir, "00_data", {"dataset": "synthetic", "protocol": protocol,
                                               "classes": list(classes), "n_clips": n, "n_speakers": n_speakers})
    fileio.write_fragment(out_dir, "04_visual", {"visual_backbone": "resnet50", "backbone_weights": "none"})
    return art


def mouth_box(size: int, identity_params: Mapping[str, Any]) -> tuple[int, int, int, int]:
    """``(y0, y1, x0, x1)`` of the region around the mouth for an upright face (for tests and
    figures); the head motion moves the face by at most a few pixels."""
    a, b = identity_params["face_w"] * size, identity_params["face_h"] * size
    cx, cy = 0.5 * size, 0.47 * size
    return (int(cy + 0.28 * b), int(min(size, cy + 0.85 * b)), int(cx - 0.62 * a), int(cx + 0.62 * a))


def load_script(name: str):
    """``scripts/<name>.py`` imported as a module (the scripts are not a package)."""
    path = Path(__file__).resolve().parents[1] / "scripts" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod
