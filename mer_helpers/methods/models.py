"""Training the papers' classifiers, and the classifier part of a saved model.

The networks are :mod:`mer_helpers.methods.networks`; how a feature vector or the clip's
frames become their input sequences is :mod:`mer_helpers.methods.sequencers`. Here:
:func:`fit_model` (one network on one split's training rows), :class:`ClassifierBundle` (the
fitted sequencer and networks on disk) and :class:`SequenceClassifier` (the scikit-learn
estimator around them that the saved model uses).

Training (:func:`fit_model`): the validation part is carved out of the *training portion*
(grouped by speaker when groups are given, :func:`validation_carve_out`); by default it is only
scored (paper 2 trains 10 epochs without early stopping); optional early stopping watches that
part only and restores the best epoch; seeds are fixed with ``keras.utils.set_random_seed``.
The test clips of a split are never seen.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted, validate_data

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow is imported

import keras  # noqa: E402

from mer_helpers.core.fileio import atomic_write, read_json, write_json  # noqa: E402
from mer_helpers.core.names import MAIN_MODEL, MODELS  # noqa: E402
from mer_helpers.data.splits import validation_carve_out  # noqa: E402
from mer_helpers.methods.networks import build_model, compose_late_fusion, predict_proba  # noqa: E402
from mer_helpers.methods.sequencers import features_sequencer, load_sequencer  # noqa: E402

MODEL_NAMES = MODELS
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


def fit_late_fusion(model_name: str, X_train: Sequence[np.ndarray], y_train, **kwargs) -> tuple[keras.Model, dict]:
    """Late fusion: :func:`fit_model` once per modality, then :func:`compose_late_fusion`.

    Parameters
    ----------
    model_name : str
    X_train : list of two ndarrays
        ``[audio, visual]`` inputs of :class:`LateFusionSequencer`.
    y_train : array-like of shape (n,)
    **kwargs
        Passed to :func:`fit_model`.

    Returns
    -------
    model : keras.Model
    record : dict
        ``history`` is the mean of the two models' curves; each model's own record is under
        ``late_fusion``.
    """
    (ma, ra), (mv, rv) = (fit_model(model_name, x, y_train, **kwargs) for x in X_train)
    model = compose_late_fusion(ma, mv, model_name)
    hist = {k: [float((a + b) / 2) for a, b in zip(ra["history"][k], rv["history"][k])]
            for k in ra["history"] if k in rv["history"]}
    rec = {**rv, "history": hist, "n_params": int(model.count_params()), "fusion": "late",
           "input_shape": [ra["input_shape"], rv["input_shape"]],
           "late_fusion": {"audio": ra, "visual": rv}}
    return model, rec


def fit_sequence_model(model_name: str, X_seq, y_train, **kwargs) -> tuple[keras.Model, dict]:
    """:func:`fit_model`, or :func:`fit_late_fusion` for the ``[audio, visual]`` pair of a
    :class:`LateFusionSequencer`.

    Parameters
    ----------
    model_name : str
    X_seq : ndarray of shape (n, T, d), or a list of two
    y_train : array-like of shape (n,)
    **kwargs
        Passed on.

    Returns
    -------
    model : keras.Model
    record : dict
    """
    fit = fit_late_fusion if isinstance(X_seq, list) else fit_model
    return fit(model_name, X_seq, y_train, **kwargs)


# ----------------------------------------------------------------------------------------------
# The classifier part of the model bundle
# ----------------------------------------------------------------------------------------------
@dataclass
class ClassifierBundle:
    """Fitted classifiers of the ``final`` split: what ``OUT/model/classifiers/`` + ``bundle.json`` hold.

    ``selected_columns``: the fused columns (``"<modality>:<stage>:<index>"``) the models read,
    in order; ``sequencer``: the fitted :class:`FeatureSequencer` / :class:`TemporalSequencer`;
    ``models``: name → compiled Keras model; ``params``: the training parameters (for the record).
    """

    classes: list[str]
    selected_columns: list[str]
    sequencer: Any
    models: dict[str, keras.Model]
    params: dict = field(default_factory=dict)
    main_model: str = MAIN_MODEL

    # -- inputs -------------------------------------------------------------------------------
    def inputs(self, X_fused=None, columns=None, audio_sequences=None, visual_sequences=None):
        """Model input from fused features (``features`` mode) or sequences (``temporal``).

        Parameters
        ----------
        X_fused : array-like of shape (n, n_columns) or None
        columns : sequence of str or None
            Names of ``X_fused``'s columns; the selected ones are taken by name.
        audio_sequences, visual_sequences : list of ndarray or None
            Needed in temporal mode.

        Returns
        -------
        ndarray of shape (n, T, d), or a list of two (late fusion)
        """
        if self.sequencer.mode == "temporal":
            if audio_sequences is None or visual_sequences is None:
                raise ValueError("this bundle uses sequence_mode='temporal': audio and visual sequences are needed")
            return self.sequencer.transform(audio_sequences, visual_sequences)
        columns = [str(c) for c in columns]
        pos = {c: i for i, c in enumerate(columns)}
        missing = [c for c in self.selected_columns if c not in pos]
        if missing:
            raise ValueError(f"{len(missing)} selected columns are missing from the fused features "
                             f"(first: {missing[:3]}); the featurizers do not match this bundle")
        X = np.asarray(X_fused, dtype=np.float64)[:, [pos[c] for c in self.selected_columns]]
        return self.sequencer.transform(X)

    def predict_proba(self, X_seq: np.ndarray) -> dict[str, np.ndarray]:
        """Class probabilities of every model.

        Parameters
        ----------
        X_seq : ndarray of shape (n, T, d), or a list of two
            Model inputs (:meth:`inputs`).

        Returns
        -------
        dict
            Model name → ndarray of shape (n, n_classes).
        """
        return {name: predict_proba(m, X_seq) for name, m in self.models.items()}

    def predict_frame(self, clip_ids, X_seq: np.ndarray):
        """Every model's predictions as a table.

        Parameters
        ----------
        clip_ids : sequence of str
        X_seq : ndarray or list of ndarrays
            Model inputs (:meth:`inputs`).

        Returns
        -------
        pandas.DataFrame
            ``clip_id, y_pred, p_<class>...`` (main model) then ``<model>:y_pred, <model>:p_<class>``.
        """
        import pandas as pd

        probs = self.predict_proba(X_seq)
        df = pd.DataFrame({"clip_id": [str(c) for c in clip_ids]})
        order = [self.main_model] + [m for m in self.models if m != self.main_model]
        main = probs[self.main_model]
        df["y_pred"] = [self.classes[i] for i in main.argmax(axis=1)]
        for j, c in enumerate(self.classes):
            df[f"p_{c}"] = main[:, j]
        for name in order:
            p = probs[name]
            df[f"{name}:y_pred"] = [self.classes[i] for i in p.argmax(axis=1)]
            for j, c in enumerate(self.classes):
                df[f"{name}:p_{c}"] = p[:, j]
        return df

    # -- persistence ----------------------------------------------------------------------------
    def save(self, model_dir, extra: dict | None = None) -> Path:
        """Write ``model_dir/classifiers/{<model>.keras, sequencer.npz}`` and ``model_dir/bundle.json``.

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

        model_dir = Path(model_dir)
        cdir = model_dir / "classifiers"
        cdir.mkdir(parents=True, exist_ok=True)
        self.sequencer.save(cdir / "sequencer.npz")
        for name, m in self.models.items():
            atomic_write(cdir / f"{name}.keras", m.save, suffix=".keras")
        meta = {"classes": list(self.classes), "models": list(self.models), "main_model": self.main_model,
                "selected_columns": list(self.selected_columns), "sequence_layout": self.sequencer.layout(),
                "parameters": dict(self.params), **(extra or {})}
        return write_json(model_dir / "bundle.json", meta)

    @classmethod
    def load(cls, model_dir) -> "ClassifierBundle":
        """Read what :meth:`save` wrote.

        Parameters
        ----------
        model_dir : path-like

        Returns
        -------
        ClassifierBundle

        Raises
        ------
        FileNotFoundError
            ``bundle.json``, the sequencer or a listed model is missing.
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
        models = {}
        for name in meta["models"]:
            p = cdir / f"{name}.keras"
            if not p.exists():
                raise FileNotFoundError(f"{p}: model {name!r} listed in {meta_path} is missing")
            models[name] = keras.models.load_model(p, compile=False)
        return cls(classes=list(meta["classes"]), selected_columns=list(meta["selected_columns"]),
                   sequencer=load_sequencer(seq_path), models=models, params=meta.get("parameters", {}),
                   main_model=meta.get("main_model", MAIN_MODEL))


class SequenceClassifier(ClassifierMixin, BaseEstimator):
    """The classifier step of the model as a scikit-learn classifier: sequencer + Keras models.

    ``fit(X, y)`` does what :func:`run_split` does for one split, on arrays: fits the sequencer
    (:func:`features_sequencer`: scaler + folding into ``(steps, d)``) on ``X`` and trains every
    model of ``model_names`` with :func:`fit_sequence_model` (same arguments, same seeds, so the
    same weights). ``predict_proba`` gives the main model's softmax outputs;
    :meth:`predict_proba_all` every model's. The fitted state is a :class:`ClassifierBundle`
    (``bundle_``), which is what :meth:`save` / :meth:`load` write and read
    (``classifiers/`` + ``bundle.json``).

    Parameters
    ----------
    model_names : sequence of str, default=MODEL_NAMES
        The models to train (``bilstm_sa``, ``bilstm``, ``cnn``).
    main_model : str, default="bilstm_sa"
        The model behind :meth:`predict_proba` / :meth:`predict` (the first of ``model_names``
        when it is not one of them).
    classes : sequence of str or None, default=None
        The class order of the models' outputs (the run's class list); ``None``: the sorted
        labels of ``y``.
    columns : sequence of str or None, default=None
        Names of the columns of ``X`` (``"<modality>:<stage>:<index>"``); late fusion reads the
        modality from them. ``None``: ``feature:<i>``.
    steps, fusion : see :func:`features_sequencer`.
    epochs, batch_size, validation_split, seed, units, heads, dropout, patience, learning_rate, monitor :
        see :func:`fit_model`.

    Notes
    -----
    ``sequence_mode="temporal"`` has no place here: its input is per-clip sequences, not a
    2-D array; a temporal bundle is made by :func:`run_split` and wrapped with
    :meth:`from_bundle`. scikit-learn's ``check_estimator`` passes except
    ``check_estimators_nan_inf``: NaN and inf are passed through to the Keras models, as
    :class:`FeatureSequencer` does (``tests/test_estimators.py``, ``SEQUENCE_CLASSIFIER_FAILS``,
    asserts exactly this).
    """

    def __init__(self, model_names: Sequence[str] = MODEL_NAMES, main_model: str = MAIN_MODEL,
                 classes: Sequence[str] | None = None, columns: Sequence[str] | None = None,
                 steps: int = 16, fusion: str = "early", epochs: int = 10, batch_size: int = 32,
                 validation_split: float = 0.2, seed: int = 42, units: int = 64, heads: int = 4,
                 dropout: float = 0.3, patience: int = 3, learning_rate: float = 1e-3,
                 monitor: str = "none"):
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

    def fit(self, X, y, groups=None):
        """Fit the sequencer and train every model.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Feature vectors (the selected fused columns) of the training clips.
        y : array-like of shape (n_samples,)
            Class labels.
        groups : array-like of shape (n_samples,) or None, default=None
            Speakers: the validation part is carved out by whole speakers
            (:func:`validation_carve_out`).

        Returns
        -------
        self : SequenceClassifier
        """
        from sklearn.utils.multiclass import check_classification_targets

        X, y = validate_data(self, X, y, dtype=np.float64, ensure_all_finite=False)
        check_classification_targets(y)
        classes = np.asarray(list(self.classes) if self.classes is not None else np.unique(y))
        pos = {c: i for i, c in enumerate(classes.tolist())}
        unknown = sorted({str(v) for v in y.tolist() if v not in pos})
        if unknown:
            raise ValueError(f"SequenceClassifier.fit: labels {unknown} are not in classes {classes.tolist()}")
        y_idx = np.array([pos[v] for v in y.tolist()], dtype=int)
        columns = ([str(c) for c in self.columns] if self.columns is not None
                   else [f"feature:{i}" for i in range(X.shape[1])])
        if len(columns) != X.shape[1]:
            raise ValueError(f"SequenceClassifier.fit: {len(columns)} column names for {X.shape[1]} columns")
        seq = features_sequencer(columns, self.steps, self.fusion).fit(X)
        X_seq = seq.transform(X)
        fit_kw = dict(groups=groups, validation_split=self.validation_split, epochs=self.epochs,
                      batch_size=self.batch_size, seed=self.seed, patience=self.patience,
                      n_classes=len(classes), units=self.units, heads=self.heads, dropout=self.dropout,
                      learning_rate=self.learning_rate, monitor=self.monitor)
        models, self.records_ = {}, {}
        for m in self.model_names:
            models[m], self.records_[m] = fit_sequence_model(m, X_seq, y_idx, **fit_kw)
        self._set_bundle(ClassifierBundle([str(c) for c in classes], columns, seq, models,
                                          params={k: v for k, v in self.get_params().items()
                                                  if k not in ("classes", "columns", "model_names")},
                                          main_model=self.main_model if self.main_model in models else
                                          next(iter(models))))
        self.classes_ = classes
        return self

    def _set_bundle(self, bundle: "ClassifierBundle") -> "SequenceClassifier":
        self.bundle_ = bundle
        self.classes_ = np.asarray(bundle.classes)
        if not hasattr(self, "n_features_in_"):
            self.n_features_in_ = len(bundle.selected_columns)
        return self

    @classmethod
    def from_bundle(cls, bundle: "ClassifierBundle", **params) -> "SequenceClassifier":
        """A fitted classifier around an existing :class:`ClassifierBundle` (e.g. the ``final``
        split of :func:`run_split`, as notebook 06 makes it); nothing is retrained.

        Parameters
        ----------
        bundle : ClassifierBundle
        **params
            Training parameters to record (``steps``, ``epochs`` ...; unknown names are ignored).

        Returns
        -------
        SequenceClassifier
        """
        known = set(cls().get_params())
        own = {k: v for k, v in {**bundle.params, **params}.items() if k in known}
        self = cls(**{**own, "model_names": list(bundle.models), "main_model": bundle.main_model,
                      "classes": list(bundle.classes), "columns": list(bundle.selected_columns)})
        return self._set_bundle(bundle)

    @property
    def sequence_mode(self) -> str:
        """``features``, ``late`` or ``temporal``: the fitted sequencer's mode."""
        check_is_fitted(self, "bundle_")
        return self.bundle_.sequencer.mode

    def _inputs(self, X):
        check_is_fitted(self, "bundle_")
        if self.sequence_mode == "temporal":
            raise ValueError("this classifier reads temporal sequences: use predict_proba_sequences")
        X = validate_data(self, X, dtype=np.float64, ensure_all_finite=False, reset=False)
        return self.bundle_.sequencer.transform(X)

    def predict_proba_all(self, X) -> dict[str, np.ndarray]:
        """Every model's class probabilities.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        dict
            Model name → ndarray of shape (n_samples, n_classes).
        """
        return self.bundle_.predict_proba(self._inputs(X))

    def predict_proba_sequences(self, audio_sequences, visual_sequences) -> dict[str, np.ndarray]:
        """Every model's class probabilities for a temporal classifier.

        Parameters
        ----------
        audio_sequences, visual_sequences : list of ndarray of shape (T_i, d)

        Returns
        -------
        dict
            Model name → ndarray of shape (n_clips, n_classes).
        """
        check_is_fitted(self, "bundle_")
        return self.bundle_.predict_proba(self.bundle_.inputs(audio_sequences=audio_sequences,
                                                              visual_sequences=visual_sequences))

    def predict_proba(self, X) -> np.ndarray:
        """The main model's class probabilities.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Feature vectors with the columns of :meth:`fit` (``columns``), in the same order.

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
            Softmax outputs of ``bundle_.main_model``, columns in the order of ``classes_``.
        """
        X_seq = self._inputs(X)  # checks that the classifier is fitted
        return predict_proba(self.bundle_.models[self.bundle_.main_model], X_seq)

    def predict(self, X) -> np.ndarray:
        """The main model's predicted classes: the most probable class of :meth:`predict_proba`.

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

    def save(self, model_dir, extra: dict | None = None) -> Path:
        """Write the fitted ``bundle_``: :meth:`ClassifierBundle.save` does the writing.

        Parameters
        ----------
        model_dir : path-like
            The model folder that receives ``classifiers/`` and ``bundle.json``.
        extra : dict or None
            Handed on to :meth:`ClassifierBundle.save` (entries added to ``bundle.json``).

        Returns
        -------
        Path
            ``model_dir/bundle.json``.
        """
        check_is_fitted(self, "bundle_")
        return self.bundle_.save(model_dir, extra=extra)

    @classmethod
    def load(cls, model_dir) -> "SequenceClassifier":
        """A fitted classifier around the bundle that :meth:`save` wrote
        (:meth:`ClassifierBundle.load`, then :meth:`from_bundle`).

        Parameters
        ----------
        model_dir : path-like
            A model folder holding ``bundle.json`` and ``classifiers/``.

        Returns
        -------
        SequenceClassifier
            Fitted; ``load`` raises what :meth:`ClassifierBundle.load` raises when a file is missing.
        """
        return cls.from_bundle(ClassifierBundle.load(model_dir))


