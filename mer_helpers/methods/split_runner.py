"""Notebook 06's experiment driver: one split of ``splits.json``, from artifact files to predictions.

:func:`run_split` trains the BiLSTM-SA, BiLSTM and CNN of :mod:`mer_helpers.methods.models` on one
split's training rows and predicts its test rows; :func:`run_splits` does several such jobs with
the networks of all of them trained in one batch (two at a time on two cores).
Notebook 06 builds its sections on them (:mod:`mer_helpers.stages.classifiers`).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow is imported (as methods.models does)

import keras  # noqa: E402

from mer_helpers.core.fileio import load_features, load_sequences, read_json  # noqa: E402
from mer_helpers.methods.fusion import modality_index  # noqa: E402
from mer_helpers.methods.models import MODEL_NAMES, SequenceClassifier, fit_classifiers  # noqa: E402
from mer_helpers.methods.networks import predict_proba  # noqa: E402
from mer_helpers.methods.selection import selected_columns  # noqa: E402
from mer_helpers.methods.sequencers import LateFusionSequencer, features_sequencer, sequence_dims  # noqa: E402

# ----------------------------------------------------------------------------------------------
# Experiment driver: one split of splits.json, from artifact files to predictions
# ----------------------------------------------------------------------------------------------
COLUMN_SETS = ("selected", "all", "audio", "visual")


def read_selected(path) -> list[str]:
    """The selected column names of a ``selection.json``.

    Parameters
    ----------
    path : path-like

    Returns
    -------
    list of str
        From ``selected``, or ``columns`` + ``support``.

    Raises
    ------
    FileNotFoundError, ValueError
        Missing file; neither layout; nothing selected.
    """

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: missing (has 05_feature_selection run for this split?)")
    cols = selected_columns(read_json(path), path)
    if not cols:
        raise ValueError(f"{path}: no column is selected")
    return cols


def choose_columns(columns: Sequence[str], selected: Sequence[str], which: str = "selected") -> list[str]:
    """Column names for a column set.

    Parameters
    ----------
    columns : sequence of str
        The fused columns.
    selected : sequence of str
        The split's selection.
    which : {"selected", "all", "audio", "visual"}, default="selected"
        ``selected`` (the split's selection), ``all`` (no selection), ``audio`` / ``visual``
        (every column of that modality, no selection).

    Returns
    -------
    list of str
    """
    columns = [str(c) for c in columns]
    if which == "selected":
        missing = sorted(set(selected) - set(columns))
        if missing:
            raise ValueError(f"{len(missing)} selected columns are not in the fused features (first: {missing[:3]})")
        return list(selected)
    if which == "all":
        return columns
    if which in ("audio", "visual"):
        out = [c for c in columns if c.split(":")[0] == which]
        if not out:
            raise ValueError(f"no {which} column in the fused features")
        return out
    raise ValueError(f"unknown column set {which!r}; choose one of {COLUMN_SETS}")


@dataclass
class SplitResult:
    """What :func:`run_split` returns for one split."""

    split: str
    predictions: dict  # model -> DataFrame clip_id, split, y_true, y_pred, p_<class>
    records: dict  # model -> training record
    sequencer: Any
    columns: list[str]
    n_train: int
    n_test: int
    #: the test clips again, normalised with a skewed reference (``fused/<split>/skewed.npz``,
    #: see :func:`mer_helpers.stages.feature_selection.write_skewed_split`): model -> prediction frame
    skewed: dict = field(default_factory=dict)
    #: the fitted classifier (``keep_models=True``; else ``None``, its networks freed)
    classifier: SequenceClassifier | None = None


def load_split_features(artifacts: Path, split: Mapping, columns: str, source: str = "features"):
    """``fused/<split>/<source>.npz`` with the columns to use (see :func:`choose_columns`) and the
    row indices of the split's training and test clips: ``(ids, X, cols, use, tr, te)``.
    ``source``: ``features`` (what the run's stages read, person-normalised when the run
    normalises) or ``plain`` (the same clips without per-person normalisation)."""

    name = str(split["name"])
    fpath = artifacts / "fused" / name / f"{source}.npz"
    if not fpath.exists():
        raise FileNotFoundError(f"{fpath}: missing (has 05_feature_selection run"
                                + (" with person_norm_audio / person_norm_visual?)" if source == "plain" else "?)"))
    ids, X, cols = load_features(fpath)
    use = choose_columns(cols, read_selected(artifacts / "selection" / name / "selection.json"), columns)
    row = {c: i for i, c in enumerate(ids)}
    missing = [c for c in list(split["train"]) + list(split["test"]) if c not in row]
    if missing:
        raise ValueError(f"{fpath}: {len(missing)} clips of split {name!r} have no features (first: {missing[:3]})")
    tr = np.array([row[c] for c in split["train"]], dtype=int)
    te = np.array([row[c] for c in split["test"]], dtype=int)
    return ids, X, cols, use, tr, te


def run_split(artifacts, split: Mapping, labels, classes: Sequence[str], model_names: Sequence[str] = MODEL_NAMES,
              columns: str = "selected", sequence_mode: str = "features", steps: int = 16, epochs: int = 10,
              batch_size: int = 32, validation_split: float = 0.2, seed: int = 42, units: int = 64,
              heads: int = 4, dropout: float = 0.3, patience: int = 3, keep_models: bool = False,
              progress=None, learning_rate: float = 1e-3, monitor: str = "none",
              fusion: str = "early", source: str = "features", parameters: Mapping[str, Any] | None = None,
              ensemble: int = 1, n_jobs: int = 1, aux_faces: bool = False,
              modality_dropout: str = "none") -> SplitResult:
    """Train ``model_names`` on the training clips of ``split`` and predict its test clips.

    Reads ``fused/<split>/features.npz`` and ``selection/<split>/selection.json`` (and in
    ``temporal`` mode ``audio/<split>/sequences.npz``, ``visual/<split>/sequences.npz``) from
    ``artifacts``. ``fusion="late"`` (features mode): one model per modality, probabilities
    averaged (see the module docstring); a column set with one modality only falls back to early.
    The scaler (inside the sequencer) and every model see the split's training rows only; the
    validation part for early stopping is carved out of them, grouped by the ``speaker`` column
    of ``labels``.

    Parameters
    ----------
    artifacts : path-like
        ``OUT/artifacts``.
    split : mapping
        One entry of ``splits.json`` (``name``, ``train``, ``test``).
    labels : pandas.DataFrame
        ``labels.csv`` (``clip_id``, ``label``, ``speaker``).
    classes : sequence of str
        The class order of the outputs.
    model_names : sequence of str, default=MODEL_NAMES
    columns : {"selected", "all", "audio", "visual"}, default="selected"
        See :func:`choose_columns`.
    sequence_mode : {"features", "temporal"}, default="features"
    steps, epochs, batch_size, validation_split, seed, units, heads, dropout, patience, learning_rate, monitor, fusion :
        See :func:`mer_helpers.methods.training.fit_model` and :func:`features_sequencer`.
    ensemble : int, default=1
        Networks per model, softmax outputs averaged (:func:`mer_helpers.methods.training.fit_sequence_model`).
    modality_dropout : {"none", "both", "alternate"}, default="none"
        A model of both modalities (early fusion) also trains on copies of the training clips with
        one modality at the training mean (:func:`mer_helpers.methods.models.modality_copies`).
    keep_models : bool, default=False
        Keep the fitted classifier in the result (``classifier``; else its networks are freed).
    progress : progress bar or None
        Updated once per model.
    source : {"features", "plain"}, default="features"
        Which fused file (see :func:`load_split_features`): ``plain`` trains on the features
        without per-person normalisation.
    parameters : mapping or None
        What the classifier records as its training parameters in ``bundle.json`` (notebook 06:
        the run's settings, protocol and dataset); ``None``: the estimator's own.
    n_jobs : int, default=1
        Cores that train the networks (:func:`mer_helpers.methods.training.fit_networks`);
        :func:`run_splits` trains several splits' networks in one batch.
    aux_faces : bool, default=False
        Every classifier that reads faces also trains on ``fused/aux/<source>.npz`` (faces of people
        outside the run, notebook 05; :func:`load_aux_faces`; how: :meth:`SequenceClassifier._with_visual_extra`).
        Ignored by one that reads speech alone and in temporal mode.

    Returns
    -------
    SplitResult
    """
    job = dict(split=split, model_names=model_names, columns=columns, sequence_mode=sequence_mode, steps=steps,
               epochs=epochs, batch_size=batch_size, validation_split=validation_split, seed=seed, units=units,
               heads=heads, dropout=dropout, patience=patience, keep_models=keep_models,
               learning_rate=learning_rate, monitor=monitor, fusion=fusion, source=source, parameters=parameters,
               ensemble=ensemble, aux_faces=aux_faces, modality_dropout=modality_dropout)
    return run_splits(artifacts, [job], labels, classes, progress=progress, n_jobs=n_jobs)[0]


def run_splits(artifacts, jobs: Sequence[Mapping[str, Any]], labels, classes: Sequence[str], progress=None,
               n_jobs: int = 1) -> list[SplitResult]:
    """:func:`run_split` for several jobs, the networks of all of them trained in one batch.

    With ``n_jobs=2`` (three worker processes) the networks of every split and
    variant keep both cores busy (:func:`mer_helpers.methods.models.fit_classifiers`). Each job's
    result is what :func:`run_split` would give on its own.

    Parameters
    ----------
    artifacts : path-like
        ``OUT/artifacts``.
    jobs : sequence of mapping
        :func:`run_split`'s keyword arguments for each job, ``split`` included.
    labels : pandas.DataFrame
    classes : sequence of str
    progress : progress bar or None
        Advanced once per model of each job.
    n_jobs : int, default=1
        Cores that train the networks.

    Returns
    -------
    list of SplitResult
        One per job, in order.
    """
    artifacts = Path(artifacts)
    lab = labels.set_index(labels["clip_id"].astype(str))
    preps = [_prepare_split(artifacts, lab, classes, n_jobs=n_jobs, **job) for job in jobs]
    batch = [p for p in preps if p.sequence_mode == "features"]
    fit_classifiers([(p.clf, p.X[p.tr], p.y_lab[p.tr], p.groups, p.visual_extra) for p in batch], n_jobs=n_jobs,
                    progress=progress)
    for p in preps:
        if p.sequence_mode == "temporal":
            p.clf.fit_sequences(*p.sequences(p.tr), p.y_lab[p.tr], groups=p.groups, progress=progress,
                                audio_dims=sequence_dims(p.use, "audio") if p.columns != "visual" else [],
                                visual_dims=sequence_dims(p.use, "visual") if p.columns != "audio" else [])
    results = [_finish_split(artifacts, p, classes) for p in preps]
    if not all(p.keep_models for p in preps):
        preps = batch = None  # the networks go before the session is cleared
        keras.backend.clear_session()
    return results


@dataclass
class _PreparedSplit:
    """One job of :func:`run_splits` between reading its inputs and training."""

    name: str
    ids: np.ndarray
    X: np.ndarray | None  # features mode: the chosen columns of every clip of the split
    y_lab: np.ndarray
    y_all: np.ndarray
    tr: np.ndarray
    te: np.ndarray
    cols: list[str]  # every column of the fused file
    use: list[str]
    groups: np.ndarray | None
    clf: SequenceClassifier
    columns: str
    source: str
    sequence_mode: str
    keep_models: bool
    parameters: Mapping[str, Any] | None
    sequences: Any = None  # temporal mode: row indices -> (audio sequences, visual sequences)
    visual_extra: tuple | None = None  # aux_faces: (X, labels, subjects) of faces outside the run


def _prepare_split(artifacts: Path, lab: pd.DataFrame, classes: Sequence[str], split: Mapping,
                   model_names: Sequence[str] = MODEL_NAMES, columns: str = "selected",
                   sequence_mode: str = "features", steps: int = 16, fusion: str = "early", source: str = "features",
                   keep_models: bool = False, parameters: Mapping[str, Any] | None = None,
                   aux_faces: bool = False, **training) -> _PreparedSplit:
    if sequence_mode not in ("features", "temporal"):
        raise ValueError(f"unknown sequence_mode {sequence_mode!r} (features or temporal)")
    name = str(split["name"])
    ids, X, cols, use, tr, te = load_split_features(artifacts, split, columns, source)
    y_lab = np.array([str(lab.at[c, "label"]) for c in ids], dtype=object)
    cls_index = {c: i for i, c in enumerate(classes)}
    groups = lab.loc[list(ids[tr]), "speaker"].astype(str).to_numpy() if "speaker" in lab.columns else None
    clf = SequenceClassifier(model_names=list(model_names), classes=list(classes), columns=use, steps=steps,
                             fusion=fusion, **training)
    prep = _PreparedSplit(name, ids, None, y_lab, np.array([cls_index[v] for v in y_lab]), tr, te, list(cols), use,
                          groups, clf, columns, source, sequence_mode, keep_models, parameters)
    if sequence_mode == "features":
        col_pos = {c: i for i, c in enumerate(cols)}
        prep.X = X[:, [col_pos[c] for c in use]]
        prep.visual_extra = load_aux_faces(artifacts, use, source) if aux_faces else None
    else:
        if isinstance(features_sequencer(use, steps, fusion), LateFusionSequencer):
            raise ValueError("fusion='late' needs sequence_mode='features'")
        sa = load_sequences(artifacts / "audio" / name / "sequences.npz")
        sv = load_sequences(artifacts / "visual" / name / "sequences.npz")
        prep.sequences = lambda idx: ([sa[c] for c in ids[idx]], [sv[c] for c in ids[idx]])
    return prep


def load_aux_faces(artifacts, columns: Sequence[str], source: str = "features") -> tuple | None:
    """``fused/aux/<source>.npz`` (notebook 05) as ``visual_extra`` of :meth:`SequenceClassifier.fit`
    for a classifier reading ``columns``: ``(X with its visual columns, labels, subjects)``, or
    ``None`` when it reads no visual column."""
    visual_columns = [str(columns[j]) for j in modality_index(columns, "visual")]
    if not visual_columns:
        return None
    path = Path(artifacts) / "fused" / "aux" / f"{source}.npz"
    if not path.exists():
        raise FileNotFoundError(f"{path}: missing (aux_faces asks for it: has 05_feature_selection run after 04 "
                                "with aux_faces 'unpaired'?)")
    ids, X, cols = load_features(path)
    pos = {c: i for i, c in enumerate(cols)}
    missing = [c for c in visual_columns if c not in pos]
    if missing:
        raise ValueError(f"{path}: {len(missing)} of the classifier's visual columns are missing (first: {missing[:3]})")
    samples = pd.read_csv(Path(artifacts) / "visual" / "aux" / "samples.csv").set_index("sample_id")
    return (X[:, [pos[c] for c in visual_columns]], samples.loc[list(ids), "label"].astype(str).to_numpy(),
            samples.loc[list(ids), "subject"].astype(str).to_numpy())


def _finish_split(artifacts: Path, p: _PreparedSplit, classes: Sequence[str]) -> SplitResult:
    """Predict the test clips (and their skewed-reference twins) of a trained job."""
    clf, te, X_skew = p.clf, p.te, None
    if p.sequence_mode == "features":
        X_te = clf.sequencer_.transform(p.X[te]) if len(te) else None
        skew_path = artifacts / "fused" / p.name / "skewed.npz"
        if p.source == "features" and len(te) and skew_path.exists():
            ids_k, X_k, cols_k = load_features(skew_path)
            if list(ids_k) != list(p.ids) or list(cols_k) != p.cols:
                raise ValueError(f"{skew_path}: not the clips and columns of {p.name}'s features.npz")
            col_pos = {c: i for i, c in enumerate(cols_k)}
            X_skew = clf.sequencer_.transform(X_k[te][:, [col_pos[c] for c in p.use]])
    else:
        X_te = clf.sequencer_.transform(*p.sequences(te)) if len(te) else None
    if p.parameters is not None:
        clf.set_record(p.parameters)
    preds, skewed = {}, {}
    for m, net in clf.networks_.items():
        clf.records_[m].update(split=p.name, columns=p.columns, sequence_layout=clf.sequencer_.layout())
        if len(te):
            preds[m] = _prediction_frame(predict_proba(net, X_te), p.ids[te], p.name, p.y_all[te], classes)
        if X_skew is not None:
            skewed[m] = _prediction_frame(predict_proba(net, X_skew), p.ids[te], p.name, p.y_all[te], classes)
    return SplitResult(p.name, preds, clf.records_, clf.sequencer_, p.use, len(p.tr), len(te), skewed,
                       clf if p.keep_models else None)


def _prediction_frame(p: np.ndarray, clip_ids, split: str, y_idx, classes: Sequence[str]):
    """``clip_id, split, y_true, y_pred, p_<class>...`` of one split's test clips."""
    df = pd.DataFrame({"clip_id": clip_ids, "split": split, "y_true": [classes[i] for i in y_idx],
                       "y_pred": [classes[i] for i in p.argmax(axis=1)]})
    for j, c in enumerate(classes):
        df[f"p_{c}"] = p[:, j]
    return df
