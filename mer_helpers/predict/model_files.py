"""The model folder on disk (``OUT/model/``): what :class:`~mer_helpers.predict.emotion_model.EmotionModel`
writes and reads, part by part.

Layout::

    model.json                 format, version, classes, the selection kind, person normalisation, branches
    checksums.json             every file's digest (mer_helpers.predict.bundle names a damaged one)
    audio/  visual/            the fitted featurizers (AudioFeaturizer, VisualFeaturizer)
    selection/selection.json   the Zebra selection (absent when the classifier reads every column)
    classifiers/ + bundle.json the classifier (SequenceClassifier)
    person_free/               its twin without per-person normalisation (a normalising model only)
    branches/<modality>[_person_free]/   one classifier per modality (clips without a voice or a face)

Each notebook of a run fits one part (02, 03-04, 05, 06); notebook 06 assembles the whole model
from the folder (:meth:`EmotionModel.from_dir`) and saves it. The functions here do the reading
and writing; the estimator and its predictions are :mod:`mer_helpers.predict.emotion_model`.
"""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Sequence

import numpy as np

from mer_helpers.core.fileio import read_json, write_checksums, write_json
from mer_helpers.methods.audio_featurizer import AudioFeaturizer
from mer_helpers.methods.fusion import MODALITIES
from mer_helpers.methods.models import SequenceClassifier
from mer_helpers.methods.selection import ZebraFeatureSelector, selected_columns, selection_record
from mer_helpers.methods.visual import VisualFeaturizer

MODEL_FORMAT = "mer-emotion-model"
MODEL_VERSION = 1
#: the folder of the person-free classifier inside a model bundle
PERSON_FREE_DIR = "person_free"
#: the folder of the per-modality classifiers inside a model bundle: ``branches/audio/``,
#: ``branches/visual/`` (and ``branches/<modality>_person_free/`` for a person-normalised model)
BRANCHES_DIR = "branches"


def check_format(model_dir) -> None:
    """Refuse, in one line, a ``model.json`` of another format or of a newer version.

    Parameters
    ----------
    model_dir : path-like

    Raises
    ------
    ValueError
    """
    meta_path = Path(model_dir) / "model.json"
    if meta_path.exists():
        meta = read_json(meta_path)
        if meta.get("format") != MODEL_FORMAT or int(meta.get("version", 0)) > MODEL_VERSION:
            raise ValueError(f"{meta_path}: not a {MODEL_FORMAT} v{MODEL_VERSION} model; "
                             "re-run `mer run` to rebuild it")


def load_featurizers(model_dir: Path) -> tuple[AudioFeaturizer, VisualFeaturizer]:
    """The fitted featurizers of ``audio/`` and ``visual/``.

    Raises
    ------
    FileNotFoundError
        A folder is missing.
    """
    for sub in MODALITIES:
        if not (model_dir / sub).is_dir():
            raise FileNotFoundError(f"{model_dir / sub}: missing from the model bundle")
    return AudioFeaturizer.load(model_dir / "audio"), VisualFeaturizer.load(model_dir / "visual")


def selection_step(model_dir: Path, classifier: SequenceClassifier, audio, visual, select: str | None):
    """The selection step of a model folder and the fused columns it selects from.

    Parameters
    ----------
    model_dir : Path
    classifier : SequenceClassifier
        Fitted; its ``columns_`` are the selected columns.
    audio, visual : the fitted featurizers
    select : {"zebra", "passthrough"} or None
        ``None``: as ``model.json`` says; for folders without one, as the classifier's recorded
        ``columns`` parameter says.

    Returns
    -------
    selector : ZebraFeatureSelector or "passthrough"
    columns : list of str
        The fused columns.
    record : dict or None
        ``selection/selection.json``.
    """
    selected = list(classifier.columns_)
    every = list(getattr(audio, "columns_", None) or []) + list(getattr(visual, "columns", None) or [])
    meta_path = model_dir / "model.json"
    if select is not None:
        if select not in ("zebra", "passthrough"):
            raise ValueError(f"select must be 'zebra' or 'passthrough', got {select!r}")
        kind = select
    elif meta_path.exists():
        kind = read_json(meta_path).get("select", "zebra")
    else:  # bundles written before model.json: the classifier's parameters say
        kind = "passthrough" if classifier.parameters_.get(
            "columns", "all" if selected == every else "selected") == "all" else "zebra"
    sel_path = model_dir / "selection" / "selection.json"
    record = read_json(sel_path) if sel_path.exists() else None
    if kind == "passthrough":
        return "passthrough", every or selected, record
    if record is None:
        raise FileNotFoundError(f"{sel_path}: missing; the model bundle has no feature selection")
    columns = [str(c) for c in record["columns"]] if "columns" in record else every
    chosen = selected_columns(record, sel_path, columns)
    if chosen != selected:
        raise ValueError(f"{sel_path}: selected columns differ from {model_dir / 'bundle.json'}; "
                         "the bundle is inconsistent")
    missing = sorted(set(chosen) - set(columns))
    if missing:
        raise ValueError(f"{sel_path}: {len(missing)} selected columns are not among the featurizers' "
                         f"columns (first: {missing[:3]}); the bundle is inconsistent")
    return fitted_selector(columns, chosen, record), columns, record


def fitted_selector(columns: Sequence[str], selected: Sequence[str], record: dict | None = None):
    """A :class:`~mer_helpers.methods.selection.ZebraFeatureSelector` whose support is ``selected``
    (in the order of ``columns``), as notebook 05 chose it."""
    chosen = set(selected)
    if [c for c in columns if c in chosen] != list(selected):
        raise ValueError("the selected columns are not in the order of the fused columns")
    sel = ZebraFeatureSelector()
    if record and record.get("variant"):
        sel.set_params(variant=record["variant"])
    sel.support_ = np.array([c in chosen for c in columns], dtype=bool)
    sel.n_features_in_ = len(columns)
    return sel


def load_person_free(model_dir: Path) -> SequenceClassifier:
    """The person-free classifier of a person-normalising model (``person_free/``)."""
    free_dir = model_dir / PERSON_FREE_DIR
    if not (free_dir / "bundle.json").exists():
        raise FileNotFoundError(f"{free_dir}: missing from the model bundle (its person-free classifier); "
                                "rebuild the bundle with `mer run`")
    return SequenceClassifier.load(free_dir)


def load_branches(model_dir: Path, person_free: bool) -> tuple[dict, dict | None]:
    """The per-modality classifiers of a bundle (``branches/``), and their person-free twins."""

    def load(name: str):
        d = model_dir / BRANCHES_DIR / name
        if not (d / "bundle.json").exists():
            raise FileNotFoundError(f"{d}: missing from the model bundle (model.json lists branches); "
                                    "rebuild the bundle with `mer run`")
        return SequenceClassifier.load(d)

    own = {m: load(m) for m in MODALITIES}
    return own, ({m: load(f"{m}_{PERSON_FREE_DIR}") for m in MODALITIES} if person_free else None)


def write_model(model, model_dir, extra: dict | None = None) -> Path:
    """Write a fitted :class:`~mer_helpers.predict.emotion_model.EmotionModel` to ``model_dir``
    (the layout above), ``checksums.json`` last.

    Parameters
    ----------
    model : EmotionModel
        Fitted.
    model_dir : path-like
    extra : dict or None
        More entries for each ``bundle.json`` (e.g. ``n_train_clips``).

    Returns
    -------
    Path
        ``model_dir``.
    """
    model_dir = Path(model_dir)
    audio, visual = (step.featurizer_ for _, step in model.pipeline_["features"].transformer_list)
    audio.save(model_dir / "audio")
    visual.save(model_dir / "visual")
    select = model.pipeline_["select"]
    record = getattr(model, "selection_record_", None)
    if record is None and not isinstance(select, str):
        record = selection_record(select, model.columns_, split="final") if hasattr(select, "best_fitness_") \
            else {"columns": model.columns_, "support": [bool(s) for s in select.get_support()],
                  "selected": [c for c, s in zip(model.columns_, select.get_support()) if s]}
    if record is not None:
        write_json(model_dir / "selection" / "selection.json", record)
    clf = model.pipeline_["classify"]
    clf.save(model_dir, extra=extra)
    norm = getattr(model, "person_norm_", None)
    if norm:
        model.person_free_.save(model_dir / PERSON_FREE_DIR, extra={**(extra or {}), "person_norm": "none"})
    elif (model_dir / PERSON_FREE_DIR).exists():  # from an earlier run that normalised
        shutil.rmtree(model_dir / PERSON_FREE_DIR)
    if (model_dir / BRANCHES_DIR).exists():  # from an earlier run
        shutil.rmtree(model_dir / BRANCHES_DIR)
    if model.has_branches:
        for m in MODALITIES:
            model.branches_[m].save(model_dir / BRANCHES_DIR / m, extra={**(extra or {}), "modality": m})
            if norm:
                model.branches_free_[m].save(model_dir / BRANCHES_DIR / f"{m}_{PERSON_FREE_DIR}",
                                             extra={**(extra or {}), "modality": m, "person_norm": "none"})
    write_json(model_dir / "model.json", {
        "person_norm": norm,
        "branches": list(MODALITIES) if model.has_branches else None,
        "faces": getattr(model, "faces_", None),
        "format": MODEL_FORMAT, "version": MODEL_VERSION, "classes": [str(c) for c in model.classes_],
        "select": "passthrough" if isinstance(select, str) else "zebra",
        "sequence_mode": clf.sequence_mode, "n_columns": len(model.columns_),
        "steps": {"features": "audio/ (AudioFeaturizer) + visual/ (VisualFeaturizer), fused audio first",
                  "select": "selection/selection.json" if not isinstance(select, str) else "every fused column",
                  "classify": "classifiers/ + bundle.json (SequenceClassifier)"
                  + (f"; {PERSON_FREE_DIR}/: the person-free classifier" if norm else "")
                  + (f"; {BRANCHES_DIR}/: one classifier per modality" if model.has_branches else "")}})
    write_checksums(model_dir)  # every file of the folder, for EmotionModel.load to name a damaged one
    return model_dir
