"""Notebook 06 (classifiers): every model on every split, the ablation, the final bundle's parts.

:func:`run_split` trains the BiLSTM-SA, BiLSTM and CNN of :mod:`mer_helpers.methods.models` on one
split's training rows and predicts its test rows; :func:`run_eval_splits` does every evaluation
split, :func:`run_ablation` the modality and selection variants, :func:`fit_branches` the
per-modality classifiers of the bundle, :func:`inner_classifier_table` the settings table on
inner training speakers, :func:`metrics_fragment` the stage's part of ``metrics.json``.
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

from mer_helpers.core.fileio import load_features, load_sequences, read_fragment, read_json, write_json  # noqa: E402
from mer_helpers.methods.evaluation import (  # noqa: E402
    classification_metrics, logreg_per_split, mean_over_splits, save_predictions
)
from mer_helpers.methods.models import (  # noqa: E402
    MAIN_MODEL, MODEL_NAMES, TRAINING_SETTINGS, SequenceClassifier, fit_classifiers
)
from mer_helpers.methods.networks import predict_proba  # noqa: E402
from mer_helpers.methods.selection import selected_columns  # noqa: E402
from mer_helpers.methods.sequencers import LateFusionSequencer, features_sequencer, sequence_dims  # noqa: E402
from mer_helpers.methods.tuning import inner_splits, logreg_f1, positions  # noqa: E402

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


def _load_split_features(artifacts: Path, split: Mapping, columns: str, source: str = "features"):
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
              ensemble: int = 1, n_jobs: int = 1) -> SplitResult:
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
        See :func:`fit_model` and :func:`features_sequencer`.
    ensemble : int, default=1
        Networks per model, softmax outputs averaged (:func:`fit_sequence_model`).
    keep_models : bool, default=False
        Keep the fitted classifier in the result (``classifier``; else its networks are freed).
    progress : progress bar or None
        Updated once per model.
    source : {"features", "plain"}, default="features"
        Which fused file (see :func:`_load_split_features`): ``plain`` trains on the features
        without per-person normalisation.
    parameters : mapping or None
        What the classifier records as its training parameters in ``bundle.json`` (notebook 06:
        the run's settings, protocol and dataset); ``None``: the estimator's own.
    n_jobs : int, default=1
        Worker processes for the networks (:func:`mer_helpers.methods.models.fit_networks`);
        :func:`run_splits` trains several splits' networks in one batch.

    Returns
    -------
    SplitResult
    """
    job = dict(split=split, model_names=model_names, columns=columns, sequence_mode=sequence_mode, steps=steps,
               epochs=epochs, batch_size=batch_size, validation_split=validation_split, seed=seed, units=units,
               heads=heads, dropout=dropout, patience=patience, keep_models=keep_models,
               learning_rate=learning_rate, monitor=monitor, fusion=fusion, source=source, parameters=parameters,
               ensemble=ensemble)
    return run_splits(artifacts, [job], labels, classes, progress=progress, n_jobs=n_jobs)[0]


def run_splits(artifacts, jobs: Sequence[Mapping[str, Any]], labels, classes: Sequence[str], progress=None,
               n_jobs: int = 1) -> list[SplitResult]:
    """:func:`run_split` for several jobs, the networks of all of them trained in one batch.

    With two workers (``n_jobs=2``, or the run's Dask cluster) the networks of every split and
    variant keep both busy (:func:`mer_helpers.methods.models.fit_classifiers`). Each job's
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
        Worker processes for the networks.

    Returns
    -------
    list of SplitResult
        One per job, in order.
    """
    artifacts = Path(artifacts)
    lab = labels.set_index(labels["clip_id"].astype(str))
    preps = [_prepare_split(artifacts, lab, classes, **job) for job in jobs]
    batch = [p for p in preps if p.sequence_mode == "features"]
    fit_classifiers([(p.clf, p.X[p.tr], p.y_lab[p.tr], p.groups) for p in batch], n_jobs=n_jobs, progress=progress)
    for p in preps:
        if p.sequence_mode == "temporal":
            p.clf.n_jobs = n_jobs
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


def _prepare_split(artifacts: Path, lab: pd.DataFrame, classes: Sequence[str], split: Mapping,
                   model_names: Sequence[str] = MODEL_NAMES, columns: str = "selected",
                   sequence_mode: str = "features", steps: int = 16, fusion: str = "early", source: str = "features",
                   keep_models: bool = False, parameters: Mapping[str, Any] | None = None,
                   **training) -> _PreparedSplit:
    if sequence_mode not in ("features", "temporal"):
        raise ValueError(f"unknown sequence_mode {sequence_mode!r} (features or temporal)")
    name = str(split["name"])
    ids, X, cols, use, tr, te = _load_split_features(artifacts, split, columns, source)
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
    else:
        if isinstance(features_sequencer(use, steps, fusion), LateFusionSequencer):
            raise ValueError("fusion='late' needs sequence_mode='features'")
        sa = load_sequences(artifacts / "audio" / name / "sequences.npz")
        sv = load_sequences(artifacts / "visual" / name / "sequences.npz")
        prep.sequences = lambda idx: ([sa[c] for c in ids[idx]], [sv[c] for c in ids[idx]])
    return prep


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


def settings(training: Mapping[str, Any], early_stopping: Mapping[str, Any], network: Mapping[str, Any],
             seed: int, fusion: str) -> dict:
    """Notebook 06's grouped parameters (``training``, ``early_stopping``, ``network``; see
    :data:`mer_helpers.chain.schema.PARAMETER_GROUPS`) as the keyword arguments of
    :func:`run_split`, in the order ``bundle.json`` records them.

    Returns
    -------
    dict
        ``sequence_mode, steps, epochs, batch_size, validation_split, seed, units, heads, dropout,
        patience, learning_rate, monitor, fusion, ensemble``.
    """
    return dict(sequence_mode=network["sequence_mode"], steps=network["seq_steps"], epochs=training["epochs"],
                batch_size=training["batch_size"], validation_split=training["validation_split"], seed=seed,
                units=network["units"], heads=network["heads"], dropout=network["dropout"],
                patience=early_stopping["patience"], learning_rate=training["learning_rate"],
                monitor=early_stopping["monitor"], fusion=fusion, ensemble=training["ensemble"])


def upstream_settings(out_dir) -> dict:
    """What earlier stages of the run decided and notebook 06 only reads: the dataset and
    protocol (``00_data``), the backbone weights (``04_visual``) and the per-person normalisation
    (``05_selection``), from their metrics fragments (:func:`~mer_helpers.core.fileio.read_fragment`,
    which names a missing one). So 06 cannot disagree with the stages that made its inputs.

    Parameters
    ----------
    out_dir : path-like
        The run folder.

    Returns
    -------
    dict
        ``dataset``, ``protocol``, ``backbone_weights``, ``person_norm_audio``, ``person_norm_visual``.

    Raises
    ------
    FileNotFoundError
        ``model/audio`` or ``model/visual`` (notebooks 02 and 04) is missing: the bundle written at
        the end of notebook 06 needs them, so this fails before any training, not after it.
    """
    for part, nb in (("audio", "02_audio_autoencoder"), ("visual", "04_resnet_features")):
        d = Path(out_dir) / "model" / part
        if not (d.is_dir() and any(d.iterdir())):
            raise FileNotFoundError(f"{d}: missing (written by notebook {nb}); the model bundle of notebook 06 "
                                    f"needs it: rerun {nb}, or copy the whole run folder, model/ included")
    data, visual, sel = (read_fragment(out_dir, n) for n in ("00_data", "04_visual", "05_selection"))
    norm = sel.get("person_norm") or {}
    return {"dataset": data["dataset"], "protocol": data["protocol"],
            "backbone_weights": str(visual.get("backbone_weights", "imagenet")),
            "person_norm_audio": norm.get("audio", "none"), "person_norm_visual": norm.get("visual", "none")}


def linear_reference_split(artifacts, split: Mapping, labels, classes: Sequence[str], columns: str = "selected",
                           C: float = 1.0, seed: int = 42, source: str = "features"):
    """A reference, not one of the papers' models: standardised multinomial logistic regression
    (:func:`mer_helpers.methods.evaluation.logreg_per_split`, ``C`` = 1, at most 2000 iterations) on the
    same columns and training clips as :func:`run_split`.

    It tells apart "the features carry little signal" (the reference is low too) from "the
    network does not extract the signal with this little data" (the reference is higher).

    Parameters
    ----------
    artifacts : path
        The run's ``artifacts/`` (``fused/<split>/features.npz``, ``selection/<split>/selection.json``).
    split : Mapping
        One evaluation split (``name``, ``train``, ``test``).
    labels : pandas.DataFrame
        ``labels.csv`` (``clip_id``, ``label``).
    classes : sequence of str
        The class order of the ``p_<class>`` columns.
    columns : str
        Which fused columns (see :func:`choose_columns`).
    C : float
        Inverse regularisation strength (the papers' models have none to match).
    seed : int
        ``random_state``, unused by the lbfgs solver; kept for a solver that uses it.
    source : {"features", "plain"}
        Which fused file (:func:`_load_split_features`).

    Returns
    -------
    pandas.DataFrame
        The prediction frame ``clip_id, split, y_true, y_pred, p_<class>`` of the split's test clips.
    """

    ids, X, cols, use, tr, te = _load_split_features(Path(artifacts), split, columns, source)
    pos = {c: i for i, c in enumerate(cols)}
    Xs = X[:, [pos[c] for c in use]].astype(np.float64)
    label_of = dict(zip(labels["clip_id"].astype(str), labels["label"].astype(str)))
    return logreg_per_split((ids, Xs), label_of, [split], classes=classes, seed=seed, C=C, max_iter=2000,
                            predictions=True)[1]


# ----------------------------------------------------------------------------------------------
# Notebook 06: every evaluation split, the ablation, the metrics fragment
# ----------------------------------------------------------------------------------------------
def run_eval_splits(artifacts, eval_splits: Sequence[Mapping], labels, classes: Sequence[str],
                    model_names: Sequence[str] = MODEL_NAMES, columns: str = "selected", progress=None,
                    n_jobs: int = 1, **kwargs) -> tuple[dict, dict]:
    """:func:`run_split` on every evaluation split (one batch, :func:`run_splits`), with the files
    notebook 06 keeps.

    Writes ``histories/<split>/<model>.json`` (the training record) after each split and
    ``predictions/<model>.csv`` (all splits' test predictions) at the end; with per-person
    normalisation and a ``fused/<split>/skewed.npz``, also
    ``predictions/skewed_reference/<model>.csv`` (the same models on the test clips normalised
    with a skewed reference).

    Parameters
    ----------
    artifacts : path-like
        ``OUT/artifacts``.
    eval_splits : sequence of mapping
        The evaluation splits of ``splits.json``, in the order they are trained.
    labels : pandas.DataFrame
        ``labels.csv``.
    classes : sequence of str
        The class order of the outputs.
    model_names : sequence of str, default=MODEL_NAMES
    columns : str, default="selected"
        Which fused columns the models read (:func:`choose_columns`).
    progress : progress bar or None
        Advanced once per trained model.
    n_jobs : int, default=1
        Worker processes for the networks.
    **kwargs
        The rest of :func:`run_split`'s settings (``sequence_mode``, ``steps``, ``epochs``, ...).

    Returns
    -------
    frames : dict
        Model name -> list of prediction frames, one per split in the order of ``eval_splits``.
    records : dict
        Split name -> {model name -> training record}.
    """

    artifacts = Path(artifacts)
    frames: dict[str, list] = {m: [] for m in model_names}
    skewed: dict[str, list] = {m: [] for m in model_names}
    records: dict[str, dict] = {}
    results = run_splits(artifacts, [dict(split=s, model_names=model_names, columns=columns, **kwargs)
                                     for s in eval_splits], labels, classes, progress=progress, n_jobs=n_jobs)
    for s, r in zip(eval_splits, results):
        for m in model_names:
            frames[m].append(r.predictions[m])
            if m in r.skewed:
                skewed[m].append(r.skewed[m])
            write_json(artifacts / "histories" / s["name"] / f"{m}.json", r.records[m])
        records[s["name"]] = r.records
    for m in model_names:
        save_predictions(artifacts / "predictions" / f"{m}.csv", frames[m])
        if skewed[m]:
            save_predictions(artifacts / "predictions" / "skewed_reference" / f"{m}.csv", skewed[m])
    return frames, records


def training_table(records: Mapping[str, Mapping[str, dict]], frames: Mapping[str, Sequence],
                   classes: Sequence[str]):
    """One row per split and model: how the training went and the test accuracy.

    Parameters
    ----------
    records : mapping
        Split name -> {model -> training record} (:func:`run_eval_splits`), splits in the
        order of each model's list in ``frames``.
    frames : mapping
        Model -> list of per-split prediction frames (``y_true``, ``y_pred``).
    classes : sequence of str

    Returns
    -------
    pandas.DataFrame
        Indexed by ``(split, model)``: epochs run, best epoch, weight updates, fit / validation
        clips, validation speakers, test accuracy; rounded to 3 decimals.
    """
    rows = []
    for i, (s, recs) in enumerate(records.items()):
        for m, rec in recs.items():
            pred = frames[m][i]
            rows.append({"split": s, "model": m, "epochs run": rec["epochs_run"], "best epoch": rec["best_epoch"],
                         "updates": rec["n_updates"], "fit / val clips": f"{rec['n_fit']} / {rec['n_val']}",
                         "val speakers": len(rec.get("val_speakers", [])),
                         "test accuracy": classification_metrics(pred["y_true"], pred["y_pred"], classes)["accuracy"]})
    return pd.DataFrame(rows).set_index(["split", "model"]).round(3)


#: the ablation variant that reads the fused features without per-person normalisation
NO_PERSON_NORM = "fused_no_person_norm"


def fit_branches(artifacts, split: Mapping, labels, classes: Sequence[str], params: Mapping[str, Any],
                 sources: Sequence[str] = ("features",), model_name: str = MAIN_MODEL, progress=None,
                 n_jobs: int = 1, **kwargs) -> dict[str, dict[str, SequenceClassifier]]:
    """One classifier per modality on ``split``'s training clips, every column of that modality:
    what a bundle uses for clips without a voice or without a face.

    Parameters
    ----------
    artifacts : path-like
        ``OUT/artifacts``.
    split : mapping
        Usually the ``final`` split.
    labels : pandas.DataFrame
    classes : sequence of str
    params : mapping
        Recorded in each ``bundle.json`` (with ``columns`` set to the modality).
    sources : sequence of str, default=("features",)
        The fused files to train on (``plain`` too for the person-free twins).
    model_name, progress, n_jobs, **kwargs
        As for :func:`run_ablation` (the model, a bar advanced per model, worker processes,
        :func:`run_split`'s settings).

    Returns
    -------
    dict
        modality → {source → SequenceClassifier}.
    """
    pairs = [(modality, src) for modality in ("audio", "visual") for src in sources]
    results = run_splits(artifacts, [dict(split=split, model_names=[model_name], columns=modality, keep_models=True,
                                          source=src, parameters={**params, "columns": modality}, **kwargs)
                                     for modality, src in pairs], labels, classes, progress=progress, n_jobs=n_jobs)
    out: dict[str, dict[str, SequenceClassifier]] = {}
    for (modality, src), r in zip(pairs, results):
        out.setdefault(modality, {})[src] = r.classifier
    return out


def ablation_variants(classifier_columns: str = "selected", person_norm: bool = False) -> dict[str, str]:
    """The ablation's inputs: variant name -> column set (:func:`choose_columns`).

    ``audio_only`` / ``visual_only`` read every column of one modality, ``fused`` the run's own
    columns, and the fourth variant the other fused set (``fused_no_selection`` when the run
    reads the selection, ``fused_selected`` when it reads every column). With ``person_norm``
    a fifth, :data:`NO_PERSON_NORM`, reads the run's columns of the plain (not person-normalised)
    features (:func:`run_ablation` trains it on ``fused/<split>/plain.npz``).

    Parameters
    ----------
    classifier_columns : str, default="selected"
        The run's column set: ``selected`` or ``all``.
    person_norm : bool, default=False
        Whether the run normalises per person.

    Returns
    -------
    dict
        In the order the ablation trains them.
    """
    other = ("fused_selected", "selected") if classifier_columns == "all" else ("fused_no_selection", "all")
    out = {"audio_only": "audio", "visual_only": "visual", "fused": classifier_columns, other[0]: other[1]}
    if person_norm:
        out[NO_PERSON_NORM] = classifier_columns
    return out


def run_ablation(artifacts, eval_splits: Sequence[Mapping], labels, classes: Sequence[str],
                 variants: Mapping[str, str], fused=None, model_name: str = MAIN_MODEL, progress=None,
                 n_jobs: int = 1, **kwargs) -> dict[str, float]:
    """The ablation: ``model_name`` on each variant's columns, every evaluation split (one batch,
    :func:`run_splits`).

    Each variant's predictions go to ``predictions/ablation/<variant>.csv``.

    Parameters
    ----------
    artifacts : path-like
        ``OUT/artifacts``.
    eval_splits : sequence of mapping
    labels : pandas.DataFrame
    classes : sequence of str
    variants : mapping
        Variant -> column set, as :func:`ablation_variants` gives.
    fused : pandas.DataFrame or None
        The predictions of the main run when they are the ``fused`` variant (same model, same
        columns, same settings): reused instead of trained again. ``None``: train it.
    model_name : str, default="bilstm_sa"
    progress : progress bar or None
        Advanced once per trained model.
    n_jobs : int, default=1
        Worker processes for the networks.
    **kwargs
        :func:`run_split`'s settings.

    Returns
    -------
    dict
        Variant -> macro-F1, the mean over the splits.
    """
    artifacts = Path(artifacts)
    trained = [key for key in variants if not (key == "fused" and fused is not None)]
    jobs = [dict(split=s, model_names=[model_name], columns=variants[key],
                 source="plain" if key == NO_PERSON_NORM else "features", **kwargs)
            for key in trained for s in eval_splits]
    results = iter(run_splits(artifacts, jobs, labels, classes, progress=progress, n_jobs=n_jobs))
    per_variant = {key: pd.concat([next(results).predictions[model_name] for _ in eval_splits], ignore_index=True)
                   for key in trained}
    f1 = {}
    for key in variants:
        df = per_variant.get(key, fused)
        save_predictions(artifacts / "predictions" / "ablation" / f"{key}.csv", df)
        f1[key] = mean_over_splits(df, classes, "f1_macro")
    return f1


def metrics_fragment(ablation_f1: Mapping[str, float], reference_f1: float, columns_read: str,
                     records: Mapping[str, Mapping[str, dict]], settings: Mapping[str, Any],
                     sequence_layout: dict, inner_f1: Mapping | None, variants: Mapping[str, str],
                     total_seconds: float) -> dict:
    """The ``06_classifiers`` metrics fragment of notebook 06.

    Parameters
    ----------
    ablation_f1 : mapping
        Variant -> macro-F1 (:func:`run_ablation`; empty when the ablation is off).
    reference_f1 : float
        Macro-F1 of the logistic-regression reference (:func:`linear_reference_split`).
    columns_read : str
        What the reference read, in words.
    records : mapping
        Split name -> {model -> training record} of the evaluation splits.
    settings : mapping
        ``models``, ``columns``, ``sequence_mode``, ``fusion``, ``epochs``, ``batch_size``,
        ``validation_split``, ``monitor``, ``units``, ``heads``, ``dropout``, ``patience``,
        ``seed``, ``learning_rate``, ``ensemble``.
    sequence_layout : dict
        ``layout()`` of the final fit's sequencer.
    inner_f1 : mapping or None
        Inner-speaker macro-F1 per candidate (``None``: not run).
    variants : mapping
        The ablation's variant -> column set.
    total_seconds : float
        Wall time of the notebook so far.

    Returns
    -------
    dict
        ``ablation``, ``reference`` and ``classifiers`` (the settings, the validation methods
        used, the early-stopping rule in words, ``n_eval_splits`` and ``wall_s``).
    """
    s = settings
    monitor = s["monitor"]
    return {
        "ablation": ablation_f1,
        "reference": {"logreg_f1_macro": reference_f1,
                      "what": f"standardised logistic regression (C=1) on {columns_read}, same splits; not a paper model"},
        "classifiers": {"models": list(s["models"]), "sequence_mode": s["sequence_mode"],
                        "sequence_layout": sequence_layout, "fusion": s["fusion"], "columns": s["columns"],
                        "inner_f1_macro": inner_f1,
                        "epochs": s["epochs"], "batch_size": s["batch_size"], "validation_split": s["validation_split"],
                        "validation": sorted({rec["validation"] for recs in records.values() for rec in recs.values()}),
                        "early_stopping": ("none (paper 2, Algorithm 5)" if monitor == "none" else
                                           f"{monitor} on the validation part of the training portion, best epoch restored"),
                        "units": s["units"], "heads": s["heads"], "dropout": s["dropout"], "patience": s["patience"],
                        "seed": s["seed"], "learning_rate": s["learning_rate"], "ensemble": s["ensemble"],
                        "ablation_columns": dict(variants),
                        "n_eval_splits": len(records), "wall_s": round(total_seconds, 1)},
    }


#: the training settings a classifier candidate may override (names of notebook 06's parameters)
CLASSIFIER_SETTINGS = dict(columns="selected", fusion="early", epochs=10, batch_size=32, learning_rate=1e-3,
                           seq_steps=4, units=64, heads=4, dropout=0.3, patience=3, monitor="none",
                           validation_split=0.2, ensemble=1)


def inner_classifier_table(artifacts, splits: Sequence[Mapping], labels: pd.DataFrame, classes: Sequence[str],
                           candidates: Mapping[str, Mapping], model: str = "bilstm_sa", seed: int = 42,
                           logreg: bool = True, progress=None, n_jobs: int = 1) -> pd.DataFrame:
    """Inner-speaker macro-F1 of classifier settings (the evidence behind notebook 06's choices).

    For each split, the training clips are cut by :func:`inner_split`; each candidate trains
    ``model`` on the inner-fit speakers exactly as :func:`mer_helpers.stages.classifiers.run_split` would
    (same sequencer, fusion and training) and is scored on the held-out inner speakers. The
    test clips of a split are never read.

    Parameters
    ----------
    artifacts : path-like
        The run's ``artifacts/`` (fused features and selections of notebook 05).
    splits : sequence of Mapping
        The evaluation splits.
    labels : pandas.DataFrame
        ``labels.csv`` (``clip_id``, ``label``, ``speaker``).
    classes : sequence of str
        The class order.
    candidates : Mapping
        Candidate name → overrides of :data:`CLASSIFIER_SETTINGS`.
    model : str
        The network trained for every candidate (``bilstm_sa``, ``bilstm``, ``cnn``).
    seed : int
        For the inner cut, the networks and the logistic regression.
    logreg : bool
        Also score a standardised logistic regression (:func:`logreg_f1`) on each candidate's
        column set, once per column set.
    progress : object, optional
        A bar with ``update(1)``, called after each network fit.
    n_jobs : int, default=1
        Worker processes: every candidate's network on every split is trained in one batch
        (:func:`mer_helpers.methods.models.fit_classifiers`).

    Returns
    -------
    pandas.DataFrame
        One row per (split, candidate): ``split, candidate, f1_macro, n_fit, n_val``.
    """
    from sklearn.metrics import f1_score

    artifacts = Path(artifacts)
    lab = labels.set_index(labels["clip_id"].astype(str))
    rows, fits, scored = [], [], []  # scored: (row, held-out rows, their classes) of each network
    for sp, fit_ids, val_ids in inner_splits(splits, labels, seed):
        ids, X, cols, selected, _, _ = _load_split_features(artifacts, sp, "selected")
        fi, vi = positions(ids, fit_ids), positions(ids, val_ids)
        y = np.array([list(classes).index(str(lab.at[c, "label"])) for c in ids])
        g = lab.loc[list(ids), "speaker"].astype(str).to_numpy()
        pos = {c: i for i, c in enumerate(cols)}
        seen_cols = set()
        for name, over in candidates.items():
            st = {**CLASSIFIER_SETTINGS, **dict(over)}
            use = choose_columns(cols, selected, st["columns"])
            Xs = X[:, [pos[c] for c in use]]
            if logreg and st["columns"] not in seen_cols:
                seen_cols.add(st["columns"])
                rows.append({"split": sp["name"], "candidate": f"logistic regression ({st['columns']} columns)",
                             "f1_macro": logreg_f1(Xs[fi], y[fi], Xs[vi], y[vi], seed=seed),
                             "n_fit": len(fi), "n_val": len(vi)})
            training = {k: st[k] for k in TRAINING_SETTINGS if k != "seed"}  # the seed is this function's
            clf = SequenceClassifier(model_names=[model], classes=list(classes), columns=use, steps=st["seq_steps"],
                                     fusion=st["fusion"], seed=seed, **training)
            fits.append((clf, Xs[fi], np.asarray(classes, dtype=object)[y[fi]], g[fi]))
            rows.append({"split": sp["name"], "candidate": name, "f1_macro": None, "n_fit": len(fi), "n_val": len(vi)})
            scored.append((rows[-1], Xs[vi], y[vi]))
    for clf, (row, X_val, y_val) in zip(fit_classifiers(fits, n_jobs=n_jobs, progress=progress), scored):
        row["f1_macro"] = float(f1_score(y_val, clf.predict_proba(X_val).argmax(axis=1), average="macro"))
    fits = scored = clf = None
    keras.backend.clear_session()
    return pd.DataFrame(rows)


