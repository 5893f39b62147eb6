"""The classifier part of the model: the papers' classifiers as one scikit-learn estimator.

The networks are :mod:`mer_helpers.methods.networks`; how a feature vector or the clip's
frames become their input sequences is :mod:`mer_helpers.methods.sequencers`; how the networks
are trained (one, a late-fusion pair, a seed ensemble, many at once on worker processes) is
:mod:`mer_helpers.methods.training`. Here:
:class:`SequenceClassifier` (the fitted sequencer and networks, their one training loop and
their format on disk, ``classifiers/`` + ``bundle.json``) and :func:`fit_classifiers` (several
classifiers' networks in one batch).
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Sequence

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted, validate_data

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow is imported

from mer_helpers.methods.training import append_rows, fit_networks  # noqa: E402  (imports TensorFlow quietly)

import keras  # noqa: E402

from mer_helpers.core.fileio import atomic_write, read_json, write_json  # noqa: E402
from mer_helpers.core.names import MAIN_MODEL, MODALITY_DROPOUT  # noqa: E402
from mer_helpers.methods.fusion import modality_index  # noqa: E402
from mer_helpers.methods.networks import MODEL_NAMES, predict_proba  # noqa: E402
from mer_helpers.methods.sequencers import TemporalSequencer, features_sequencer, load_sequencer  # noqa: E402

#: what Keras says, once per network, loading a network trained in a worker process: the network
#: was rebuilt here from its weights (:func:`mer_helpers.methods.training.fit_networks`) and saved
#: with an optimizer that never took a step. A bundle only predicts; no optimizer state is lost.
_OPTIMIZER_NOT_SAVED = r"Skipping variable loading for optimizer"


def load_network(path) -> keras.Model:
    """A network of a bundle (``classifiers/<model>.keras``), uncompiled, for prediction; without
    Keras' warning about the optimizer state a network trained in a worker never saved."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_OPTIMIZER_NOT_SAVED, category=UserWarning)
        return keras.models.load_model(path, compile=False)

# ----------------------------------------------------------------------------------------------
# The classifier: sequencer + networks, one estimator, one training loop, one format on disk
# ----------------------------------------------------------------------------------------------
#: the parameters of :class:`SequenceClassifier` handed to :func:`~mer_helpers.methods.training.fit_sequence_model` as they are
TRAINING_SETTINGS = ("validation_split", "epochs", "batch_size", "seed", "patience", "units", "heads", "dropout",
                     "learning_rate", "monitor", "ensemble")


class SequenceClassifier(ClassifierMixin, BaseEstimator):
    """The classifier step of the model as a scikit-learn classifier: sequencer + Keras networks.

    ``fit(X, y)`` fits the sequencer (:func:`features_sequencer`: scaler + folding into
    ``(steps, d)``) on ``X`` and trains every network of ``model_names`` with
    :func:`~mer_helpers.methods.training.fit_sequence_model`; :meth:`fit_sequences` does the same for per-clip sequences
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
        see :func:`~mer_helpers.methods.training.fit_model`.
    ensemble : int, default=1
        Networks trained per model (seeds ``seed``, ``seed + 1``, ...), their softmax outputs
        averaged in one Keras model (:func:`~mer_helpers.methods.training.fit_sequence_model`).
    modality_dropout : {"none", "both", "alternate"}, default="none"
        A model reading both modalities at once (early fusion) also trains on copies of its
        training clips with one modality at its training mean (:func:`modality_copies`), so it
        learns to answer from either modality alone, as late fusion's halves do. ``"both"``: every
        clip twice more, speech blanked and faces blanked (3n rows); ``"alternate"``: every clip
        once more, speech blanked on every other clip and faces on the rest (2n rows). ``True`` and
        ``False`` (bundles written before the modes) read as ``"both"`` and ``"none"``. Nothing
        changes for late fusion or a model of one modality.
    n_jobs : int, default=1
        Cores that train the networks side by side (:func:`~mer_helpers.methods.training.fit_networks`); not a
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
        Network name → training record (:func:`~mer_helpers.methods.training.fit_model`); only after a fit in this session.

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
                 monitor: str = "none", ensemble: int = 1, modality_dropout: str | bool = "none",
                 n_jobs: int = 1):
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
        self.modality_dropout = modality_dropout
        self.n_jobs = n_jobs

    # -- training -------------------------------------------------------------------------------
    def fit(self, X, y, groups=None, progress=None, visual_extra=None):
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
        visual_extra : tuple or None, default=None
            ``(X_visual (m, n_visual_columns), y (m,), groups (m,) or None)``: rows of faces only
            (faces of people outside the run, :mod:`mer_helpers.methods.aux_faces`), their columns
            the visual ones of ``columns`` in order; how each kind of model trains on them:
            :meth:`_with_visual_extra`. The sequencer is fitted on ``X`` alone (with
            ``modality_dropout``: and its copies).

        Returns
        -------
        self : SequenceClassifier
        """
        return fit_classifiers([(self, X, y, groups, visual_extra)], n_jobs=self.n_jobs, progress=progress)[0]

    def _plan_fit(self, X, y, groups, visual_extra=None) -> dict:
        """Fit the sequencer on ``X``; what is left to train (:meth:`_plan`)."""
        X, y = validate_data(self, X, y, dtype=np.float64, ensure_all_finite=False)
        columns = ([str(c) for c in self.columns] if self.columns is not None
                   else [f"feature:{i}" for i in range(X.shape[1])])
        if len(columns) != X.shape[1]:
            raise ValueError(f"SequenceClassifier.fit: {len(columns)} column names for {X.shape[1]} columns")
        seq = features_sequencer(columns, self.steps, self.fusion)
        mode = modality_dropout_mode(self.modality_dropout)
        if mode != "none" and seq.mode != "late":
            X, y, groups = modality_copies(X, y, groups, columns, mode)
        seq = seq.fit(X)
        plan = self._plan(seq, seq.transform(X), y, columns, groups)
        return plan if visual_extra is None else self._with_visual_extra(plan, seq, X, columns, visual_extra)

    def _with_visual_extra(self, plan: dict, seq, X: np.ndarray, columns: list[str], visual_extra) -> dict:
        """Add rows that have only faces (faces of people outside the run) to the training rows: the
        face half of late fusion trains on them; a model reading both modalities at once gets them
        with every audio column at its training mean (0 once scaled: no evidence from the voice); a
        model of faces alone gets them as they are. The sequencer stays fitted on ``X`` alone."""
        vis = modality_index(columns, "visual")
        Xe, ye, ge = visual_extra
        Xe = np.asarray(Xe, dtype=np.float64)
        if not len(vis):
            raise ValueError("SequenceClassifier.fit: visual_extra (rows of faces) needs visual columns")
        if Xe.ndim != 2 or Xe.shape[1] != len(vis) or len(Xe) != len(ye):
            raise ValueError(f"SequenceClassifier.fit: visual_extra has shape {Xe.shape} and {len(ye)} labels; "
                             f"expected (m, {len(vis)}) visual columns")
        y_e = _class_indices(ye, plan["classes"], "visual_extra labels")
        if seq.mode == "late":
            extra = (seq.visual_.transform(Xe), y_e, ge)
            plan["specs"] = [(m, Xs, yy, {**kw, "visual_extra": extra}) for m, Xs, yy, kw in plan["specs"]]
            return plan
        full = np.repeat(X.mean(axis=0, keepdims=True), len(Xe), axis=0)
        full[:, vis] = Xe
        extra = (seq.transform(full), y_e, ge)
        plan["specs"] = [(m, *append_rows(Xs, yy, kw, extra)) for m, Xs, yy, kw in plan["specs"]]
        return plan

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
        y_idx = _class_indices(y, classes, "labels")
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
            networks[name] = load_network(p)
        return cls.from_fitted(meta["classes"], meta["selected_columns"], load_sequencer(seq_path), networks,
                               meta.get("parameters", {}), main_model=meta.get("main_model", MAIN_MODEL))


def modality_dropout_mode(value) -> str:
    """``modality_dropout`` as one of :data:`MODALITY_DROPOUT`; ``True`` / ``False`` (the setting
    before it had forms, in older bundles) read as ``"both"`` / ``"none"``."""
    if isinstance(value, bool):
        return "both" if value else "none"
    if value not in MODALITY_DROPOUT:
        raise ValueError(f"SequenceClassifier: modality_dropout = {value!r}: allowed: {', '.join(MODALITY_DROPOUT)}")
    return str(value)


def modality_copies(X: np.ndarray, y, groups, columns: Sequence[str],
                    mode: str = "both") -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Modality dropout as fixed copies (after ModDrop, Neverova et al. 2016): the training rows,
    then copies of them with every audio or every visual column at the rows' mean (0 once scaled:
    no evidence from that modality). The labels and groups (speakers) repeat, so a validation
    carve-out by speaker takes a clip and its copies together. With ``both`` the column means are
    unchanged; with ``alternate`` each mean moves towards that of the rows whose modality was kept.
    Rows of one modality only are returned as they are.

    Parameters
    ----------
    X : ndarray of shape (n, n_columns)
    y : array-like of shape (n,)
    groups : array-like of shape (n,) or None
    columns : sequence of str
        ``"<modality>:<stage>:<index>"`` names of ``X``'s columns.
    mode : {"both", "alternate"}, default="both"
        ``both``: each row once with its audio at the mean, then each once with its visual columns
        at the mean (3n rows). ``alternate``: one copy of each row, rows 0, 2, 4, ... with their
        audio at the mean, rows 1, 3, 5, ... with their visual columns at the mean (2n rows).

    Returns
    -------
    tuple
        ``(X (3n, 2n or n, n_columns), y, groups)``.
    """
    forms = [m for m in MODALITY_DROPOUT if m != "none"]
    if mode not in forms:  # checked first: a bad mode is named even where there is nothing to blank
        raise ValueError(f"modality_copies: mode = {mode!r}: allowed: {', '.join(forms)}")
    X = np.asarray(X, dtype=np.float64)
    parts = [modality_index(columns, m) for m in ("audio", "visual")]
    if not all(len(p) for p in parts):
        return X, np.asarray(y), groups
    mean, copies = X.mean(axis=0), [X]
    if mode == "both":
        for idx in parts:
            copies.append(X.copy())
            copies[-1][:, idx] = mean[idx]
    else:
        copies.append(X.copy())
        for start, idx in enumerate(parts):  # audio blanked on rows 0, 2, ...; faces on rows 1, 3, ...
            copies[-1][start::2, idx] = mean[idx]
    k = len(copies)
    g = None if groups is None else np.tile(np.asarray(groups), k)
    return np.concatenate(copies), np.tile(np.asarray(y), k), g


def _class_indices(y, classes, what: str) -> np.ndarray:
    """The position of each label of ``y`` in ``classes``; a one-line ``ValueError`` naming the
    labels that are not there (``what``: which labels, for the message)."""
    pos = {c: i for i, c in enumerate(np.asarray(classes).tolist())}
    y = np.asarray(y).tolist()
    unknown = sorted({str(v) for v in y if v not in pos})
    if unknown:
        raise ValueError(f"SequenceClassifier.fit: {what} {unknown} are not in the classes {list(pos)}")
    return np.array([pos[v] for v in y], dtype=int)


def fit_classifiers(fits: Sequence[tuple], n_jobs: int = 1, progress=None) -> list[SequenceClassifier]:
    """:meth:`SequenceClassifier.fit` for several classifiers, their networks trained in one batch
    (:func:`~mer_helpers.methods.training.fit_networks`): with two workers, the networks of every split and variant keep both
    busy, where one classifier's three alone would leave one idle half the time.

    Parameters
    ----------
    fits : sequence of (SequenceClassifier, X, y, groups) or (..., visual_extra)
        What each classifier's ``fit(X, y, groups=groups, visual_extra=visual_extra)`` would get.
    n_jobs : int, default=1
        Cores (:func:`~mer_helpers.methods.training.fit_networks`).
    progress : progress bar or None
        Advanced once per network of ``model_names`` (all its ensemble members trained).

    Returns
    -------
    list of SequenceClassifier
        The classifiers, fitted, in order.
    """
    plans = [fit[0]._plan_fit(*fit[1:]) for fit in fits]
    fitted = fit_networks([spec for plan in plans for spec in plan["specs"]], n_jobs=n_jobs, progress=progress)
    out, k = [], 0
    for (clf, *_), plan in zip(fits, plans):
        out.append(clf._finish(plan, fitted[k:k + len(plan["specs"])]))
        k += len(plan["specs"])
    return out
