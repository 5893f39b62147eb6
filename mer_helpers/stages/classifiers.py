"""Notebook 06 (classifiers): every model on every split, the ablation, the final bundle's parts.

One split, from artifact files to predictions, is :mod:`mer_helpers.methods.split_runner`
(:func:`run_split`, :func:`run_splits`, reachable from here too); :func:`run_eval_splits` does
every evaluation split, :func:`run_ablation` the modality and selection variants, :func:`fit_branches` the
per-modality classifiers of the bundle, :func:`inner_classifier_table` the settings table on
inner training speakers, :func:`metrics_fragment` the stage's part of ``metrics.json``.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow is imported (as methods.models does)

import keras  # noqa: E402

from mer_helpers.core.fileio import read_fragment, write_json  # noqa: E402
from mer_helpers.methods.evaluation import (  # noqa: E402
    classification_metrics, logreg_per_split, mean_over_splits, save_predictions
)
from mer_helpers.methods.models import (  # noqa: E402
    MAIN_MODEL, MODEL_NAMES, TRAINING_SETTINGS, SequenceClassifier, fit_classifiers
)
from mer_helpers.methods.training import curves_unread  # noqa: E402
from mer_helpers.methods.tuning import inner_splits, logreg_f1, positions  # noqa: E402
from mer_helpers.methods.split_runner import (  # noqa: E402, F401  (run_split, read_selected, SplitResult: notebook 06's too)
    SplitResult, choose_columns, load_aux_faces, load_split_features, read_selected, run_split, run_splits
)

def settings(training: Mapping[str, Any], early_stopping: Mapping[str, Any], network: Mapping[str, Any],
             seed: int, fusion: str) -> dict:
    """Notebook 06's grouped parameters (``training``, ``early_stopping``, ``network``; see
    :data:`mer_helpers.chain.schema.PARAMETER_GROUPS`) as the keyword arguments of
    :func:`run_split`, in the order ``bundle.json`` records them.

    Returns
    -------
    dict
        ``sequence_mode, steps, epochs, batch_size, validation_split, seed, units, heads, dropout,
        patience, learning_rate, monitor, fusion, ensemble, modality_dropout``.
    """
    return dict(sequence_mode=network["sequence_mode"], steps=network["seq_steps"], epochs=training["epochs"],
                batch_size=training["batch_size"], validation_split=training["validation_split"], seed=seed,
                units=network["units"], heads=network["heads"], dropout=network["dropout"],
                patience=early_stopping["patience"], learning_rate=training["learning_rate"],
                monitor=early_stopping["monitor"], fusion=fusion, ensemble=training["ensemble"],
                modality_dropout=training["modality_dropout"])


def inner_candidates(common: Mapping[str, Any], columns: str, fusion: str) -> dict[str, dict]:
    """Notebook 06's inner-speaker candidates, one network each: selected or all columns, early or
    late fusion; when notebook 05 wrote faces of people outside the run (``common["aux_faces"]``)
    every candidate trains on them too, and the run's columns are also tried without them, with
    either fusion. The run's own settings are marked ``(this run)``.

    Returns
    -------
    dict
        Candidate name → :func:`inner_classifier_table` settings.
    """
    aux = bool(common.get("aux_faces"))
    combos = [(c, f, aux) for c in ("selected", "all") for f in ("early", "late")]
    combos += [(columns, f, False) for f in ("early", "late")] if aux else []
    out = {}
    for c, f, a in combos:
        name = f"{c} columns, {f} fusion" + (" + faces outside the run" if a else "")
        this = " (this run)" if (c, f, a) == (columns, fusion, aux) else ""
        out[name + this] = {**common, "columns": c, "fusion": f, "seq_steps": common["steps"], "ensemble": 1,
                            "aux_faces": a}
    return out


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
        ``dataset``, ``protocol``, ``backbone_weights``, ``person_norm_audio``, ``person_norm_visual``,
        ``aux_faces`` (05 wrote faces of people outside the run, ``fused/aux``: every classifier that
        reads faces trains on them too).

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
            "person_norm_audio": norm.get("audio", "none"), "person_norm_visual": norm.get("visual", "none"),
            "aux_faces": bool((sel.get("aux_faces") or {}).get("n_samples"))}


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
        Which fused file (:func:`load_split_features`).

    Returns
    -------
    pandas.DataFrame
        The prediction frame ``clip_id, split, y_true, y_pred, p_<class>`` of the split's test clips.
    """

    ids, X, cols, use, tr, te = load_split_features(Path(artifacts), split, columns, source)
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
        Cores that train the networks.
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
        Cores that train the networks.
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
    with curves_unread():  # only the predictions are kept
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
        ``seed``, ``learning_rate``, ``ensemble``, ``modality_dropout``.
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
                        "modality_dropout": s["modality_dropout"],
                        "ablation_columns": dict(variants),
                        "n_eval_splits": len(records), "wall_s": round(total_seconds, 1)},
    }


#: the training settings a classifier candidate may override (names of notebook 06's parameters)
CLASSIFIER_SETTINGS = dict(columns="selected", fusion="early", epochs=10, batch_size=32, learning_rate=1e-3,
                           seq_steps=4, units=64, heads=4, dropout=0.3, patience=3, monitor="none",
                           validation_split=0.2, ensemble=1, modality_dropout="none")


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
        Cores: every candidate's network on every split is trained in one batch
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
        ids, X, cols, selected, _, _ = load_split_features(artifacts, sp, "selected")
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
                                     fusion=st["fusion"], seed=seed, modality_dropout=st["modality_dropout"],
                                     **training)
            extra = load_aux_faces(artifacts, use) if st.get("aux_faces") else None  # faces outside the run
            fits.append((clf, Xs[fi], np.asarray(classes, dtype=object)[y[fi]], g[fi], extra))
            rows.append({"split": sp["name"], "candidate": name, "f1_macro": None, "n_fit": len(fi), "n_val": len(vi)})
            scored.append((rows[-1], Xs[vi], y[vi]))
    with curves_unread():  # each network is scored on its held-out inner speakers, not by its curves
        fitted = fit_classifiers(fits, n_jobs=n_jobs, progress=progress)
    for clf, (row, X_val, y_val) in zip(fitted, scored):
        row["f1_macro"] = float(f1_score(y_val, clf.predict_proba(X_val).argmax(axis=1), average="macro"))
    fits = scored = clf = fitted = None
    keras.backend.clear_session()
    return pd.DataFrame(rows)


