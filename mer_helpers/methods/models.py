"""Training the papers' classifiers, and the classifier part of a saved model.

The networks are :mod:`mer_helpers.methods.networks`; how a feature vector or the clip's
frames become their input sequences is :mod:`mer_helpers.methods.sequencers`. Here:
:func:`fit_model` (one network on one split's training rows) and :class:`SequenceClassifier`
(the scikit-learn estimator: the fitted sequencer and networks, their one training loop and their
format on disk, ``classifiers/`` + ``bundle.json``).

Training (:func:`fit_model`): the validation part is carved out of the *training portion*
(grouped by speaker when groups are given, :func:`validation_carve_out`); by default it is only
scored (paper 2 trains 10 epochs without early stopping); optional early stopping watches that
part only and restores the best epoch; seeds are fixed with ``keras.utils.set_random_seed``.
The test clips of a split are never seen.
"""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Sequence

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted, validate_data

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow is imported

import keras  # noqa: E402

from mer_helpers.core.fileio import atomic_write, read_json, write_json  # noqa: E402
from mer_helpers.core.parallel import in_worker, map_clips  # noqa: E402
from mer_helpers.core.names import MAIN_MODEL  # noqa: E402
from mer_helpers.data.splits import validation_carve_out  # noqa: E402
from mer_helpers.methods.networks import (MODEL_NAMES, build_model, compose_ensemble, compose_late_fusion,  # noqa: E402
                                          predict_proba, set_threads)
from mer_helpers.methods.sequencers import TemporalSequencer, features_sequencer, load_sequencer  # noqa: E402

#: what early stopping watches on the validation part: ``none`` trains every epoch (the
#: validation part is then only reported)
MONITORS = ("val_loss", "val_accuracy", "none")


# ----------------------------------------------------------------------------------------------
# Training
# ----------------------------------------------------------------------------------------------
def fit_model(model_name: str, X_train: np.ndarray, y_train, groups=None, validation_split: float = 0.2,
              epochs: int = 10, batch_size: int = 32, seed: int = 42, patience: int = 3,
              verbose: int = 0, eager_updates: int = 16, monitor: str = "none",
              **build_kwargs) -> tuple[keras.Model, dict]:
    """Build and train ``model_name`` on ``(X_train (n, T, d), y_train (n,) int)``.

    A ``validation_split`` part of the training rows (whole speakers when ``groups`` is given)
    is held out and scored after every epoch. ``monitor="none"`` (default) trains all ``epochs``
    as paper 2's Algorithm 5 does (``model.fit(..., epochs=10, batch_size=32,
    validation_split=0.2)``, no early stopping); ``val_loss`` or ``val_accuracy`` stop early on
    that part (patience ``patience``, best epoch restored).
    When the whole run is at most ``eager_updates`` gradient updates (tiny folds, as on the
    committed sample) the model runs eagerly: tracing the training graph would cost more than
    the updates themselves; the arithmetic is the same.

    Parameters
    ----------
    model_name : str
        ``bilstm_sa``, ``bilstm`` or ``cnn``.
    X_train : ndarray of shape (n, T, d)
    y_train : array-like of shape (n,)
        Class indices.
    groups : array-like of shape (n,) or None
        Speakers, for the validation carve-out (:func:`validation_carve_out`).
    validation_split, epochs, batch_size, seed, patience : training settings.
    verbose : int, default=0
        Keras verbosity.
    eager_updates : int, default=16
        Run eagerly up to this many gradient updates.
    monitor : {"none", "val_loss", "val_accuracy"}
        What early stopping watches.
    **build_kwargs
        Passed to :func:`build_model` (``n_classes``, ``units``, ``heads``, ``dropout``,
        ``learning_rate``).

    Returns
    -------
    model : keras.Model
    record : dict
        The Keras ``history`` (loss, accuracy, val_loss, val_accuracy per epoch), ``best_epoch``
        (1-based), ``epochs_run``, the sizes of the two parts, the validation speakers and how the
        part was drawn.
    """
    X_train = np.asarray(X_train, dtype=np.float32)
    y_train = np.asarray(y_train).astype(int)
    if X_train.ndim != 3:
        raise ValueError(f"fit_model: X_train must be (n, T, d), got {X_train.shape}")
    if len(X_train) != len(y_train):
        raise ValueError(f"fit_model: {len(X_train)} rows but {len(y_train)} labels")
    n_classes = int(build_kwargs.pop("n_classes", int(y_train.max()) + 1))
    fit_idx, val_idx, how = validation_carve_out(y_train, groups, validation_split, seed)
    keras.utils.set_random_seed(int(seed))
    model = build_model(model_name, X_train.shape[1:], n_classes, **build_kwargs)
    steps_per_epoch = int(math.ceil(len(fit_idx) / int(batch_size)))
    model.run_eagerly = steps_per_epoch * int(epochs) <= int(eager_updates)
    callbacks, val_data = [], None
    if monitor not in MONITORS:
        raise ValueError(f"monitor must be one of {MONITORS}, got {monitor!r}")
    if len(val_idx):
        val_data = (X_train[val_idx], y_train[val_idx])
        if monitor != "none":
            callbacks.append(keras.callbacks.EarlyStopping(monitor=monitor, patience=int(patience),
                                                           restore_best_weights=True))
    hist = model.fit(X_train[fit_idx], y_train[fit_idx], validation_data=val_data, epochs=int(epochs),
                     batch_size=int(batch_size), shuffle=True, callbacks=callbacks, verbose=verbose)
    history = {k: [float(v) for v in vals] for k, vals in hist.history.items()}
    if monitor == "val_loss" and "val_loss" in history:
        best_epoch = int(np.argmin(history["val_loss"])) + 1
    elif monitor == "val_accuracy" and "val_accuracy" in history:
        best_epoch = int(np.argmax(history["val_accuracy"])) + 1
    else:
        best_epoch = len(history["loss"])
    record = {"model": model_name, "history": history, "epochs_run": len(history["loss"]),
              "n_updates": steps_per_epoch * len(history["loss"]),
              "best_epoch": best_epoch, "n_fit": int(len(fit_idx)), "n_val": int(len(val_idx)),
              "validation": how, "monitor": monitor, "seed": int(seed), "input_shape": list(X_train.shape[1:]),
              "n_params": int(model.count_params()), "run_eagerly": bool(model.run_eagerly)}
    if groups is not None and len(val_idx):
        record["val_speakers"] = sorted({str(g) for g in np.asarray(groups)[val_idx]})
    return model, record


def _mean_history(records: Sequence[dict]) -> dict[str, list[float]]:
    """The mean training curve of several records: every key all of them have, over the epochs
    all of them ran (early stopping can end them at different epochs)."""
    n = min(len(r["history"]["loss"]) for r in records)
    return {k: [float(np.mean([r["history"][k][e] for r in records])) for e in range(n)]
            for k in records[0]["history"] if all(k in r["history"] for r in records)}


def fit_late_fusion(model_name: str, X_train: Sequence[np.ndarray], y_train, **kwargs) -> tuple[keras.Model, dict]:
    """Late fusion: :func:`fit_model` once per modality, then :func:`compose_late_fusion`.

    Parameters
    ----------
    model_name : str
    X_train : list of two ndarrays
        ``[audio, visual]`` inputs of :class:`LateFusionSequencer`.
    y_train : array-like of shape (n,)
    **kwargs
        Passed to :func:`fit_networks` (``n_jobs``) and :func:`fit_model`.

    Returns
    -------
    model : keras.Model
    record : dict
        ``history`` is the mean of the two models' curves; each model's own record is under
        ``late_fusion``.
    """
    if not isinstance(X_train, (list, tuple)) or len(X_train) != 2:
        raise ValueError("fit_late_fusion: X_train must be the [audio, visual] pair")
    n_jobs = kwargs.pop("n_jobs", 1)
    return fit_networks([(model_name, list(X_train), y_train, kwargs)], n_jobs=n_jobs)[0]


def fit_sequence_model(model_name: str, X_seq, y_train, ensemble: int = 1, seed: int = 42, n_jobs: int = 1,
                       **kwargs) -> tuple[keras.Model, dict]:
    """:func:`fit_model`, or :func:`fit_late_fusion` for the ``[audio, visual]`` pair of a
    :class:`LateFusionSequencer`; with ``ensemble`` > 1, that many networks with the seeds
    ``seed``, ``seed + 1``, ... (each with its own validation speakers when a part is held out),
    composed into one model whose output is the mean of their softmax outputs
    (:func:`compose_ensemble`). One model of :func:`fit_networks`.

    Parameters
    ----------
    model_name : str
    X_seq : ndarray of shape (n, T, d), or a list of two
    y_train : array-like of shape (n,)
    ensemble : int, default=1
        Networks trained (the papers train one).
    seed : int, default=42
        The (first) network's seed.
    n_jobs : int, default=1
        Worker processes for the networks (:func:`fit_networks`).
    **kwargs
        Passed to :func:`fit_model`.

    Returns
    -------
    model : keras.Model
    record : dict
        With ``ensemble`` > 1: ``history`` is the members' mean curve (over the epochs all of them
        ran) and each member's own record is under ``ensemble``.
    """
    return fit_networks([(model_name, X_seq, y_train, {**kwargs, "ensemble": ensemble, "seed": seed})],
                        n_jobs=n_jobs)[0]


#: :func:`fit_model`'s own keywords; the others build the network (:func:`build_model`)
_FIT_KEYWORDS = ("groups", "validation_split", "epochs", "batch_size", "patience", "verbose", "eager_updates",
                 "monitor")


def fit_networks(specs: Sequence[tuple], n_jobs: int = 1, progress=None) -> list[tuple[keras.Model, dict]]:
    """Train several models in one batch: :func:`fit_sequence_model` for each spec, with every
    network of every spec (each ensemble member, each half of a late-fusion pair) one task.

    With ``n_jobs`` > 1 the tasks are spread over worker processes
    (:func:`mer_helpers.core.parallel.map_clips`: the run's Dask cluster when one is in use, else
    ``n_jobs`` joblib processes); each worker trains with one TensorFlow thread and sends back the
    weights, and the network is rebuilt here. These networks are small: one fit keeps about one
    core busy, so two fits side by side take about the time of one. ``n_jobs=1``: one after the
    other in this process. The seeds are the same either way.

    Parameters
    ----------
    specs : sequence of (model_name, X_seq, y, kwargs)
        ``X_seq`` an ndarray ``(n, T, d)`` or the ``[audio, visual]`` pair of late fusion;
        ``kwargs`` those of :func:`fit_sequence_model` (``ensemble``, ``seed``) and
        :func:`fit_model`.
    n_jobs : int, default=1
        Worker processes (``1``: none).
    progress : progress bar or None
        Advanced by one per spec's worth of finished networks.

    Returns
    -------
    list of (keras.Model, dict)
        One per spec, in order, as :func:`fit_sequence_model` returns.
    """
    jobs, plans = [], []
    for model_name, X_seq, y, kwargs in specs:
        kwargs = dict(kwargs)
        ensemble, seed = int(kwargs.pop("ensemble", 1)), int(kwargs.pop("seed", 42))
        if ensemble < 1:
            raise ValueError(f"ensemble must be >= 1, got {ensemble}")
        parts = list(X_seq) if isinstance(X_seq, (list, tuple)) else [X_seq]
        if len(parts) not in (1, 2):
            raise ValueError(f"{model_name}: one input, or the [audio, visual] pair of late fusion; got {len(parts)}")
        plans.append((model_name, ensemble, len(parts), seed))
        jobs += [{"model_name": model_name, "X": np.asarray(x, dtype=np.float32), "y": np.asarray(y).astype(int),
                  "seed": seed + k, "kwargs": kwargs, "pid": os.getpid()} for k in range(ensemble) for x in parts]
    fitted = iter(_run_network_jobs(jobs, n_jobs, _SpecBar(progress, len(jobs), len(specs))))
    out = []
    for model_name, ensemble, n_parts, seed in plans:
        members = [_late_fusion(model_name, next(fitted), next(fitted)) if n_parts == 2 else next(fitted)
                   for _ in range(ensemble)]
        out.append(members[0] if ensemble == 1 else _ensemble(model_name, members, seed))
    return out


class _SpecBar:
    """A progress bar's adapter for :func:`fit_networks`: networks finish, the bar counts specs."""

    def __init__(self, bar, n_networks: int, n_specs: int):
        self.bar, self.n_networks, self.n_specs, self.done, self.shown = bar, n_networks, n_specs, 0, 0

    def update(self, n: int = 1) -> None:
        self.done += n
        target = self.done * self.n_specs // max(self.n_networks, 1)
        if self.bar is not None and target > self.shown:
            self.bar.update(target - self.shown)
        self.shown = max(self.shown, target)


def _fit_job(job: dict):
    """One network of :func:`fit_networks`. In another process (a worker) it trains with one thread
    and returns the weights, the model staying behind; here it returns the model."""
    elsewhere = job["pid"] != os.getpid()
    if elsewhere:
        set_threads(1)  # no effect where TensorFlow already ran in this worker
    model, record = fit_model(job["model_name"], job["X"], job["y"], seed=job["seed"], **job["kwargs"])
    if not elsewhere:
        return model, record
    weights = model.get_weights()
    model = None
    keras.backend.clear_session()  # a long-lived worker does not pile up graphs
    return weights, record


def _rebuild(job: dict, weights: list) -> keras.Model:
    """The network of ``job`` with the weights a worker trained (:func:`_fit_job`)."""
    build = {k: v for k, v in job["kwargs"].items() if k not in _FIT_KEYWORDS}
    n_classes = int(build.pop("n_classes", int(job["y"].max()) + 1))
    model = build_model(job["model_name"], job["X"].shape[1:], n_classes, **build)
    model.set_weights(weights)
    return model


def _run_network_jobs(jobs: list[dict], n_jobs: int, bar) -> list[tuple[keras.Model, dict]]:
    if int(n_jobs) <= 1 or len(jobs) <= 1 or in_worker():
        out = []
        for job in jobs:
            out.append(_fit_job(job))
            bar.update()
        return out
    done = map_clips(_fit_job, jobs, desc="networks", unit="network", n_jobs=int(n_jobs), bar=bar)
    return [(w, rec) if isinstance(w, keras.Model) else (_rebuild(job, w), rec) for job, (w, rec) in zip(jobs, done)]


def _late_fusion(model_name: str, audio: tuple, visual: tuple) -> tuple[keras.Model, dict]:
    (ma, ra), (mv, rv) = audio, visual
    model = compose_late_fusion(ma, mv, model_name)
    rec = {**rv, "history": _mean_history([ra, rv]), "n_params": int(model.count_params()), "fusion": "late",
           "input_shape": [ra["input_shape"], rv["input_shape"]],
           "late_fusion": {"audio": ra, "visual": rv}}
    return model, rec


def _ensemble(model_name: str, members: Sequence[tuple], seed: int) -> tuple[keras.Model, dict]:
    model = compose_ensemble([m for m, _ in members], model_name)
    recs = [r for _, r in members]
    rec = {**recs[0], "history": _mean_history(recs), "n_params": int(model.count_params()), "seed": int(seed),
           "n_updates": int(sum(r["n_updates"] for r in recs)), "ensemble": recs}
    return model, rec


# ----------------------------------------------------------------------------------------------
# The classifier: sequencer + networks, one estimator, one training loop, one format on disk
# ----------------------------------------------------------------------------------------------
#: the parameters of :class:`SequenceClassifier` handed to :func:`fit_sequence_model` as they are
TRAINING_SETTINGS = ("validation_split", "epochs", "batch_size", "seed", "patience", "units", "heads", "dropout",
                     "learning_rate", "monitor", "ensemble")


class SequenceClassifier(ClassifierMixin, BaseEstimator):
    """The classifier step of the model as a scikit-learn classifier: sequencer + Keras networks.

    ``fit(X, y)`` fits the sequencer (:func:`features_sequencer`: scaler + folding into
    ``(steps, d)``) on ``X`` and trains every network of ``model_names`` with
    :func:`fit_sequence_model`; :meth:`fit_sequences` does the same for per-clip sequences
    (``sequence_mode="temporal"``, :class:`TemporalSequencer`). Both go through one training
    loop, which the chain's notebook 06, the inner-speaker tables and this estimator share.
    ``predict_proba`` gives the main network's softmax outputs, :meth:`predict_proba_all` every
    network's. :meth:`save` / :meth:`load` write and read ``classifiers/`` + ``bundle.json``,
    the format that ``mer predict`` loads.

    Parameters
    ----------
    model_names : sequence of str, default=MODEL_NAMES
        The networks to train (``bilstm_sa``, ``bilstm``, ``cnn``).
    main_model : str, default="bilstm_sa"
        The network behind :meth:`predict_proba` / :meth:`predict` (the first of ``model_names``
        when it is not one of them).
    classes : sequence of str or None, default=None
        The class order of the networks' outputs (the run's class list); ``None``: the sorted
        labels of ``y``.
    columns : sequence of str or None, default=None
        Names of the columns of ``X`` (``"<modality>:<stage>:<index>"``); late fusion reads the
        modality from them. ``None``: ``feature:<i>``.
    steps, fusion : see :func:`features_sequencer`.
    epochs, batch_size, validation_split, seed, units, heads, dropout, patience, learning_rate, monitor :
        see :func:`fit_model`.
    ensemble : int, default=1
        Networks trained per model (seeds ``seed``, ``seed + 1``, ...), their softmax outputs
        averaged in one Keras model (:func:`fit_sequence_model`).
    n_jobs : int, default=1
        Worker processes that train the networks side by side (:func:`fit_networks`); not a
        training setting, so not recorded in ``bundle.json``. :func:`fit_classifiers` trains
        several classifiers in one batch.

    Attributes
    ----------
    classes_ : ndarray of str
    columns_ : list of str
        The columns the classifier reads, in order (``selected_columns`` of ``bundle.json``).
    sequencer_ : FeatureSequencer, LateFusionSequencer or TemporalSequencer
    networks_ : dict
        Network name → fitted ``keras.Model``.
    main_model_ : str
    parameters_ : dict
        The training parameters recorded in ``bundle.json``.
    records_ : dict
        Network name → training record (:func:`fit_model`); only after a fit in this session.

    Notes
    -----
    scikit-learn's ``check_estimator`` passes except ``check_estimators_nan_inf``: NaN and inf
    are passed through to the Keras networks, as :class:`FeatureSequencer` does
    (``tests/test_estimators.py``, ``SEQUENCE_CLASSIFIER_FAILS``, asserts exactly this).
    """

    def __init__(self, model_names: Sequence[str] = MODEL_NAMES, main_model: str = MAIN_MODEL,
                 classes: Sequence[str] | None = None, columns: Sequence[str] | None = None,
                 steps: int = 16, fusion: str = "early", epochs: int = 10, batch_size: int = 32,
                 validation_split: float = 0.2, seed: int = 42, units: int = 64, heads: int = 4,
                 dropout: float = 0.3, patience: int = 3, learning_rate: float = 1e-3,
                 monitor: str = "none", ensemble: int = 1, n_jobs: int = 1):
        self.model_names = model_names
        self.main_model = main_model
        self.classes = classes
        self.columns = columns
        self.steps = steps
        self.fusion = fusion
        self.epochs = epochs
        self.batch_size = batch_size
        self.validation_split = validation_split
        self.seed = seed
        self.units = units
        self.heads = heads
        self.dropout = dropout
        self.patience = patience
        self.learning_rate = learning_rate
        self.monitor = monitor
        self.ensemble = ensemble
        self.n_jobs = n_jobs

    # -- training -------------------------------------------------------------------------------
    def fit(self, X, y, groups=None, progress=None):
        """Fit the sequencer and train every network.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Feature vectors (the selected fused columns) of the training clips.
        y : array-like of shape (n_samples,)
            Class labels.
        groups : array-like of shape (n_samples,) or None, default=None
            Speakers: the validation part is carved out by whole speakers
            (:func:`validation_carve_out`).
        progress : progress bar or None, default=None
            Advanced once per network trained.

        Returns
        -------
        self : SequenceClassifier
        """
        return fit_classifiers([(self, X, y, groups)], n_jobs=self.n_jobs, progress=progress)[0]

    def _plan_fit(self, X, y, groups) -> dict:
        """Fit the sequencer on ``X``; what is left to train (:meth:`_plan`)."""
        X, y = validate_data(self, X, y, dtype=np.float64, ensure_all_finite=False)
        columns = ([str(c) for c in self.columns] if self.columns is not None
                   else [f"feature:{i}" for i in range(X.shape[1])])
        if len(columns) != X.shape[1]:
            raise ValueError(f"SequenceClassifier.fit: {len(columns)} column names for {X.shape[1]} columns")
        seq = features_sequencer(columns, self.steps, self.fusion).fit(X)
        return self._plan(seq, seq.transform(X), y, columns, groups)

    def fit_sequences(self, audio_sequences, visual_sequences, y, groups=None, audio_dims=None,
                      visual_dims=None, progress=None):
        """:meth:`fit` for per-clip sequences (``sequence_mode="temporal"``).

        Parameters
        ----------
        audio_sequences, visual_sequences : list of ndarray of shape (T_i, d)
            One per training clip.
        y : array-like of shape (n_clips,)
        groups : array-like or None
            As for :meth:`fit`.
        audio_dims, visual_dims : sequence of int or None
            The dimensions of each modality's sequences to keep (:class:`TemporalSequencer`).
        progress : progress bar or None

        Returns
        -------
        self : SequenceClassifier
        """
        seq = TemporalSequencer(self.steps, audio_dims, visual_dims).fit(audio_sequences, visual_sequences)
        columns = [str(c) for c in self.columns] if self.columns is not None else []
        return self._train(seq, seq.transform(audio_sequences, visual_sequences), np.asarray(y), columns,
                           groups, progress)

    def _train(self, seq, X_seq, y, columns, groups, progress):
        """The training loop: every network of ``model_names`` on the sequencer's output."""
        plan = self._plan(seq, X_seq, y, columns, groups)
        return self._finish(plan, fit_networks(plan["specs"], n_jobs=self.n_jobs, progress=progress))

    def _plan(self, seq, X_seq, y, columns, groups) -> dict:
        """The classes, and one :func:`fit_networks` spec per network of ``model_names``."""
        from sklearn.utils.multiclass import check_classification_targets

        check_classification_targets(y)
        classes = np.asarray(list(self.classes) if self.classes is not None else np.unique(y))
        pos = {c: i for i, c in enumerate(classes.tolist())}
        unknown = sorted({str(v) for v in y.tolist() if v not in pos})
        if unknown:
            raise ValueError(f"SequenceClassifier.fit: labels {unknown} are not in classes {classes.tolist()}")
        y_idx = np.array([pos[v] for v in y.tolist()], dtype=int)
        fit_kw = {k: getattr(self, k) for k in TRAINING_SETTINGS}
        specs = [(m, X_seq, y_idx, {**fit_kw, "groups": groups, "n_classes": len(classes)}) for m in self.model_names]
        return {"classes": classes, "columns": columns, "sequencer": seq, "specs": specs}

    def _finish(self, plan: dict, fitted: Sequence[tuple]) -> "SequenceClassifier":
        """The fitted state from :meth:`_plan` and the networks :func:`fit_networks` trained."""
        networks = {m: net for m, (net, _) in zip(self.model_names, fitted)}
        self.records_ = {m: rec for m, (_, rec) in zip(self.model_names, fitted)}
        params = {k: v for k, v in self.get_params().items()
                  if k not in ("classes", "columns", "model_names", "n_jobs")}
        return self._set_fitted(plan["classes"], plan["columns"], plan["sequencer"], networks, params)

    def _set_fitted(self, classes, columns, sequencer, networks: dict, parameters: dict) -> "SequenceClassifier":
        self.classes_ = np.asarray(classes)
        self.columns_ = [str(c) for c in columns]
        self.sequencer_ = sequencer
        self.networks_ = dict(networks)
        self.main_model_ = self.main_model if self.main_model in networks else next(iter(networks))
        self.parameters_ = dict(parameters)
        if sequencer.mode != "temporal" and not hasattr(self, "n_features_in_"):
            self.n_features_in_ = len(self.columns_)
        return self

    @classmethod
    def from_fitted(cls, classes: Sequence[str], columns: Sequence[str], sequencer, networks: dict,
                    parameters: dict | None = None, main_model: str = MAIN_MODEL) -> "SequenceClassifier":
        """A fitted classifier from a fitted sequencer and trained networks (nothing is trained).

        Parameters
        ----------
        classes : sequence of str
            The class order of the networks' outputs.
        columns : sequence of str
            The columns the sequencer reads, in order.
        sequencer : FeatureSequencer, LateFusionSequencer or TemporalSequencer
            Fitted.
        networks : dict
            Network name → ``keras.Model``.
        parameters : dict or None
            Training parameters to record (the estimator's own are taken from it; other
            entries, such as ``columns`` or ``protocol``, are only written to ``bundle.json``).
        main_model : str, default="bilstm_sa"

        Returns
        -------
        SequenceClassifier
        """
        parameters = dict(parameters or {})
        known = set(cls().get_params())
        own = {k: v for k, v in parameters.items() if k in known}
        self = cls(**{**own, "model_names": list(networks), "main_model": main_model,
                      "classes": [str(c) for c in classes], "columns": [str(c) for c in columns]})
        return self._set_fitted(classes, columns, sequencer, networks, parameters)

    def set_record(self, parameters: dict) -> "SequenceClassifier":
        """Replace the training parameters that :meth:`save` writes to ``bundle.json`` (for
        example the run's settings with its protocol and dataset); the fitted state is unchanged.

        Parameters
        ----------
        parameters : dict

        Returns
        -------
        self
        """
        check_is_fitted(self, "networks_")
        self.parameters_ = dict(parameters)
        return self

    # -- prediction -----------------------------------------------------------------------------
    @property
    def sequence_mode(self) -> str:
        """``features``, ``late`` or ``temporal``: the fitted sequencer's mode."""
        check_is_fitted(self, "sequencer_")
        return self.sequencer_.mode

    @property
    def model_order(self) -> list[str]:
        """The fitted networks, the main one first."""
        check_is_fitted(self, "networks_")
        return [self.main_model_] + [m for m in self.networks_ if m != self.main_model_]

    def inputs(self, X_fused=None, columns=None, audio_sequences=None, visual_sequences=None):
        """The networks' input from fused features taken by column name (``features`` mode) or
        from sequences (``temporal``).

        Parameters
        ----------
        X_fused : array-like of shape (n, n_columns) or None
        columns : sequence of str or None
            Names of ``X_fused``'s columns; :attr:`columns_` are taken by name.
        audio_sequences, visual_sequences : list of ndarray or None
            Needed in temporal mode.

        Returns
        -------
        ndarray of shape (n, T, d), or a list of two (late fusion)
        """
        if self.sequence_mode == "temporal":
            if audio_sequences is None or visual_sequences is None:
                raise ValueError("this classifier uses sequence_mode='temporal': audio and visual sequences are needed")
            return self.sequencer_.transform(audio_sequences, visual_sequences)
        pos = {str(c): i for i, c in enumerate(columns)}
        missing = [c for c in self.columns_ if c not in pos]
        if missing:
            raise ValueError(f"{len(missing)} selected columns are missing from the fused features "
                             f"(first: {missing[:3]}); the featurizers do not match this classifier")
        return self.sequencer_.transform(np.asarray(X_fused, dtype=np.float64)[:, [pos[c] for c in self.columns_]])

    def proba_from_inputs(self, X_seq) -> dict[str, np.ndarray]:
        """Every network's class probabilities from network inputs (:meth:`inputs`).

        Parameters
        ----------
        X_seq : ndarray of shape (n, T, d), or a list of two

        Returns
        -------
        dict
            Network name → ndarray of shape (n, n_classes).
        """
        check_is_fitted(self, "networks_")
        return {name: predict_proba(m, X_seq) for name, m in self.networks_.items()}

    def _inputs(self, X):
        check_is_fitted(self, "sequencer_")
        if self.sequence_mode == "temporal":
            raise ValueError("this classifier reads temporal sequences: use predict_proba_sequences")
        X = validate_data(self, X, dtype=np.float64, ensure_all_finite=False, reset=False)
        return self.sequencer_.transform(X)

    def predict_proba_all(self, X) -> dict[str, np.ndarray]:
        """Every network's class probabilities.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        dict
            Network name → ndarray of shape (n_samples, n_classes).
        """
        return self.proba_from_inputs(self._inputs(X))

    def predict_proba_sequences(self, audio_sequences, visual_sequences) -> dict[str, np.ndarray]:
        """Every network's class probabilities for a temporal classifier.

        Parameters
        ----------
        audio_sequences, visual_sequences : list of ndarray of shape (T_i, d)

        Returns
        -------
        dict
            Network name → ndarray of shape (n_clips, n_classes).
        """
        return self.proba_from_inputs(self.inputs(audio_sequences=audio_sequences, visual_sequences=visual_sequences))

    def predict_proba(self, X) -> np.ndarray:
        """The main network's class probabilities.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Feature vectors with the columns of :meth:`fit` (``columns``), in the same order.

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
            Softmax outputs of ``main_model_``, columns in the order of ``classes_``.
        """
        X_seq = self._inputs(X)  # checks that the classifier is fitted
        return predict_proba(self.networks_[self.main_model_], X_seq)

    def predict(self, X) -> np.ndarray:
        """The main network's predicted classes: the most probable class of :meth:`predict_proba`.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            As for :meth:`predict_proba`.

        Returns
        -------
        ndarray of shape (n_samples,)
            Labels taken from ``classes_``.
        """
        p = self.predict_proba(X)
        return self.classes_[p.argmax(axis=1)]

    # -- persistence ----------------------------------------------------------------------------
    def save(self, model_dir, extra: dict | None = None) -> Path:
        """Write ``model_dir/classifiers/{<network>.keras, sequencer.npz}`` and ``model_dir/bundle.json``.

        Parameters
        ----------
        model_dir : path-like
        extra : dict or None
            More entries for ``bundle.json``.

        Returns
        -------
        Path
            The ``bundle.json`` written.
        """
        check_is_fitted(self, "networks_")
        model_dir = Path(model_dir)
        cdir = model_dir / "classifiers"
        cdir.mkdir(parents=True, exist_ok=True)
        self.sequencer_.save(cdir / "sequencer.npz")
        for name, m in self.networks_.items():
            atomic_write(cdir / f"{name}.keras", m.save, suffix=".keras")
        meta = {"classes": [str(c) for c in self.classes_.tolist()], "models": list(self.networks_), "main_model": self.main_model_,
                "selected_columns": list(self.columns_), "sequence_layout": self.sequencer_.layout(),
                "parameters": dict(self.parameters_), **(extra or {})}
        return write_json(model_dir / "bundle.json", meta)

    @classmethod
    def load(cls, model_dir) -> "SequenceClassifier":
        """The fitted classifier that :meth:`save` wrote.

        Parameters
        ----------
        model_dir : path-like
            A model folder holding ``bundle.json`` and ``classifiers/``.

        Returns
        -------
        SequenceClassifier

        Raises
        ------
        FileNotFoundError
            ``bundle.json``, the sequencer or a listed network is missing.
        """
        model_dir = Path(model_dir)
        meta_path = model_dir / "bundle.json"
        if not meta_path.exists():
            raise FileNotFoundError(f"{meta_path}: no bundle.json; is {model_dir} the model/ folder of a run?")
        meta = read_json(meta_path)
        cdir = model_dir / "classifiers"
        seq_path = cdir / "sequencer.npz"
        if not seq_path.exists():
            raise FileNotFoundError(f"{seq_path}: missing (the classifiers stage did not finish?)")
        networks = {}
        for name in meta["models"]:
            p = cdir / f"{name}.keras"
            if not p.exists():
                raise FileNotFoundError(f"{p}: model {name!r} listed in {meta_path} is missing")
            networks[name] = keras.models.load_model(p, compile=False)
        return cls.from_fitted(meta["classes"], meta["selected_columns"], load_sequencer(seq_path), networks,
                               meta.get("parameters", {}), main_model=meta.get("main_model", MAIN_MODEL))


def fit_classifiers(fits: Sequence[tuple], n_jobs: int = 1, progress=None) -> list[SequenceClassifier]:
    """:meth:`SequenceClassifier.fit` for several classifiers, their networks trained in one batch
    (:func:`fit_networks`): with two workers, the networks of every split and variant keep both
    busy, where one classifier's three alone would leave one idle half the time.

    Parameters
    ----------
    fits : sequence of (SequenceClassifier, X, y, groups)
        What each classifier's ``fit(X, y, groups=groups)`` would get.
    n_jobs : int, default=1
        Worker processes (:func:`fit_networks`).
    progress : progress bar or None
        Advanced once per network of ``model_names`` (all its ensemble members trained).

    Returns
    -------
    list of SequenceClassifier
        The classifiers, fitted, in order.
    """
    plans = [clf._plan_fit(X, y, groups) for clf, X, y, groups in fits]
    fitted = fit_networks([spec for plan in plans for spec in plan["specs"]], n_jobs=n_jobs, progress=progress)
    out, k = [], 0
    for (clf, *_), plan in zip(fits, plans):
        out.append(clf._finish(plan, fitted[k:k + len(plan["specs"])]))
        k += len(plan["specs"])
    return out
