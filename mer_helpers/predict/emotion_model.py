"""The trained model as one scikit-learn object: clip files in, class probabilities out.

:class:`EmotionModel` holds a fitted :class:`sklearn.pipeline.Pipeline` of three steps::

    clip paths ─features─▶ [audio | visual] (n, d_a+d_v) ─select─▶ (n, k) ─classify─▶ p (n, C)

* ``features`` — a :class:`~sklearn.pipeline.FeatureUnion` of :class:`ClipAudioFeatures`
  (:class:`mer_helpers.methods.audio_featurizer.AudioFeaturizer`: extraction, denoising, MFCC, autoencoder) and
  :class:`ClipVisualFeatures` (:class:`mer_helpers.methods.visual.VisualFeaturizer`: frames, summary
  images, backbone), each a transformer from clip paths to a float32 array;
* ``select`` — the Zebra selector (:class:`mer_helpers.methods.selection.ZebraFeatureSelector`), or
  ``"passthrough"`` when the classifiers read every fused column (the ``strong`` preset);
* ``classify`` — :class:`mer_helpers.methods.models.SequenceClassifier` (sequencer + the Keras models).

``fit(paths, y, groups)`` fits the steps in that order, each on the output of the previous one;
``predict_proba`` / ``predict`` run the pipeline; :meth:`EmotionModel.save` writes the folder
``OUT/model/`` (its layout: :mod:`mer_helpers.predict.model_files`) and :meth:`EmotionModel.load`
checks the files against ``checksums.json`` (:mod:`mer_helpers.predict.bundle`), then reads it
back as one object. In a run the steps are fitted by different notebooks (02, 03-04, 05, 06);
notebook 06 assembles them with :meth:`EmotionModel.from_dir` and saves the whole model.

``sequence_mode="temporal"`` classifiers read per-clip sequences, which an array pipeline cannot
carry: for them :meth:`EmotionModel.predict_proba_all` takes the sequences from the featurizers
directly (``predict_proba`` works the same way; ``fit`` supports the ``features`` mode only).

Per-person normalisation (:mod:`mer_helpers.methods.person`): a model trained on person-normalised
features (``person_norm_``: the mode of each modality and ``min_person_clips``) also carries a
*person-free* classifier (``person_free_``, trained in the same run on the same clips without
normalisation, saved in ``person_free/``). Given the person of each clip, a person with at least
``min_person_clips`` clips among those predicted is normalised with the statistics of those
clips and answered by the main classifier; a clip without a person, or of a person with fewer
clips, is answered by the person-free classifier. Every prediction says which one answered.

Clips that lack a voice or a face (issue 24): a bundle may also carry one classifier per
modality (``branches_``, trained in the same run on the same clips, each reading every column of
its modality; with per-person normalisation a person-free one each too). A clip without an audio
track or whose audio is silent (:func:`mer_helpers.methods.audio.has_speech`) is answered by the visual
branch, one without a video track or without any detected face (when the bundle's training clips
had detected faces, :data:`FACE_RATE_TRUSTED`) by the audio branch; a clip with neither is an
error. The ``modalities`` column of a prediction says which answered. :meth:`EmotionModel.predict_rows`
is the core that clips and the windows of a timeline (:mod:`mer_helpers.predict.timeline`) share.

`mer predict` (:mod:`mer_helpers.predict.clips`) is a thin call on this object:
:meth:`EmotionModel.load`, then :meth:`EmotionModel.predict_frame`, which can leave out clips that
fail during feature extraction (a failed batch is retried clip by clip).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.utils.validation import check_is_fitted

from mer_helpers.core.fileio import read_json
from mer_helpers.methods import person
from mer_helpers.methods.fusion import MODALITIES, fuse, modality_index
from mer_helpers.methods.models import SequenceClassifier
from mer_helpers.predict import model_files
from mer_helpers.predict.bundle import verify_bundle
from mer_helpers.predict.clip_features import (
    ClipAudioFeatures, ClipVisualFeatures, check_columns, clip_paths, clip_rows, featurize
)

#: what the ``answered_by`` column of a prediction says
ANSWERED_PERSON, ANSWERED_PERSON_FREE = "person", "person-free"
#: what the ``modalities`` column of a prediction says: which branches answered
BOTH, AUDIO_ONLY, VISUAL_ONLY = "audio+visual", "audio", "visual"
#: a bundle treats "no face detected" as "no face" only when at least this share of its training
#: clips had a detected face: the Haar detector found a face in every KDEF clip of the paired
#: corpus, but in 85 % of the cross-corpus clips, 36 % of the Oulu-CASIA crops and half of the
#: sample's drawn faces, and where it often misses, its silence says nothing about a new clip
FACE_RATE_TRUSTED = 0.9


class EmotionModel(ClassifierMixin, BaseEstimator):
    """Clip files → emotion probabilities: featurizers, Zebra selector and Keras classifier in one
    fitted :class:`~sklearn.pipeline.Pipeline` (see the module docstring).

    Parameters
    ----------
    audio : AudioFeaturizer
        The audio featurizer to fit (a clone is fitted).
    visual : VisualFeaturizer
        The visual featurizer to fit (its summary model is fitted on a clone).
    selector : ZebraFeatureSelector or "passthrough" or None, default=None
        The feature selector (``None`` / ``"passthrough"``: every fused column).
    classifier : SequenceClassifier or None, default=None
        The classifier (``None``: ``SequenceClassifier()``).
    n_jobs : int, default=1
        Clips decoded at a time.

    Attributes
    ----------
    pipeline_ : sklearn.pipeline.Pipeline
        ``features`` → ``select`` → ``classify``, fitted.
    columns_ : list of str
        The fused column names the featurizers produce (audio first, then visual).
    classes_ : ndarray of str
        The classes, in the order of the probability columns.

    Notes
    -----
    Not run through scikit-learn's ``check_estimator``: ``X`` is a list of clip files, which the
    checks' generated arrays are not.
    """

    def __init__(self, audio=None, visual=None, selector=None, classifier=None, n_jobs: int = 1):
        self.audio = audio
        self.visual = visual
        self.selector = selector
        self.classifier = classifier
        self.n_jobs = n_jobs

    # -- building -------------------------------------------------------------------------------
    def _assemble(self, features: FeatureUnion, select, classify, columns: Sequence[str]) -> "EmotionModel":
        self.pipeline_ = Pipeline([("features", features), ("select", select), ("classify", classify)])
        self.columns_ = [str(c) for c in columns]
        self.classes_ = np.asarray(classify.classes_)
        if not hasattr(self, "person_norm_"):
            self.person_norm_, self.person_free_ = None, None
        if not hasattr(self, "branches_"):
            self.branches_, self.branches_free_, self.faces_ = None, None, None
        return self

    def with_person_norm(self, audio: str, visual: str, min_person_clips: int = person.MIN_PERSON_CLIPS,
                         person_free=None) -> "EmotionModel":
        """Declare that the classifier reads person-normalised features (see the module docstring).

        Parameters
        ----------
        audio, visual : {"none", "center", "zscore"}
            The modes the classifier was trained with (:func:`mer_helpers.methods.person.normalize_fused`).
        min_person_clips : int
            The fewest clips of one person that make a reference.
        person_free : SequenceClassifier or None
            The fitted classifier on the same columns without normalisation; needed when either
            mode is not ``none``.

        Returns
        -------
        self
        """
        if not person.is_active(audio, visual):
            self.person_norm_, self.person_free_ = None, None
            return self
        if person_free is None:
            raise ValueError("with_person_norm: a person-normalised model needs its person-free classifier")
        if int(min_person_clips) < 2:
            raise ValueError(f"min_person_clips must be at least 2, got {min_person_clips}")
        self.person_norm_ = {"audio": audio, "visual": visual, "min_person_clips": int(min_person_clips)}
        self.person_free_ = person_free
        return self

    def with_branches(self, branches: Mapping[str, Any], person_free: Mapping[str, Any] | None = None,
                      faces: Mapping[str, Any] | None = None) -> "EmotionModel":
        """Add the per-modality classifiers that answer clips without a voice or a face.

        Parameters
        ----------
        branches : mapping
            ``{"audio": SequenceClassifier, "visual": SequenceClassifier}``, each fitted on every
            column of its modality (person-normalised like the main classifier).
        person_free : mapping or None
            The same without normalisation; needed when the model normalises per person.
        faces : mapping or None
            ``{"clips_with_face": float, "n_clips": int}``: the share of the training clips in
            which the face detector found a face (:func:`mer_helpers.methods.frames.face_rate`); at
            least :data:`FACE_RATE_TRUSTED`, "no face detected" in a new clip is read as "no
            face" (``None``: never).

        Returns
        -------
        self
        """
        missing = [m for m in MODALITIES if m not in branches]
        if missing:
            raise ValueError(f"with_branches: no classifier for {', '.join(missing)}")
        for m, clf in branches.items():
            own = [self.columns_[j] for j in modality_index(self.columns_, m)]
            if clf.columns_ != own:
                raise ValueError(f"with_branches: the {m} classifier does not read the model's {m} columns")
        if getattr(self, "person_norm_", None) and not person_free:
            raise ValueError("with_branches: a person-normalised model needs person-free branches too")
        self.branches_ = {m: branches[m] for m in MODALITIES}
        self.branches_free_ = {m: person_free[m] for m in MODALITIES} if self.person_norm_ else None
        self.faces_ = dict(faces) if faces else None
        return self

    @property
    def has_branches(self) -> bool:
        """Can the model answer a clip that lacks a voice or a face?"""
        return bool(getattr(self, "branches_", None))

    @property
    def face_absence_trusted(self) -> bool:
        """Is "no face detected in the clip" read as "no face" (the audio branch answers)?"""
        faces = getattr(self, "faces_", None) or {}
        return float(faces.get("clips_with_face") or 0.0) >= FACE_RATE_TRUSTED

    def fit(self, X, y, groups=None):
        """Fit the featurizers, the selector and the classifier, in that order.

        Parameters
        ----------
        X : sequence of path-like
            Training clip files.
        y : array-like of shape (n_clips,)
            Their labels.
        groups : array-like of shape (n_clips,) or None
            Their speakers (the selector's inner folds and the classifier's validation part
            hold whole speakers).

        Returns
        -------
        self : EmotionModel
        """

        paths = clip_paths(X)
        y = np.asarray(y)
        features = FeatureUnion([("audio", ClipAudioFeatures(self.audio, self.n_jobs)),
                                 ("visual", ClipVisualFeatures(self.visual, self.n_jobs))],
                                verbose_feature_names_out=False)
        F = features.fit_transform(paths)
        columns = [str(c) for c in features.get_feature_names_out()]
        if self.selector is None or (isinstance(self.selector, str) and self.selector == "passthrough"):
            select, Z, kept = "passthrough", F, columns
        else:
            select = clone(self.selector)
            Z = select.fit_transform(F, y, groups=groups)
            kept = [c for c, s in zip(columns, select.get_support()) if s]
        clf = clone(self.classifier) if self.classifier is not None else SequenceClassifier()
        clf.set_params(columns=kept).fit(Z, y, groups=groups)
        return self._assemble(features, select, clf, columns)

    @classmethod
    def from_parts(cls, audio, visual, classifier, selector="passthrough", columns: Sequence[str] | None = None,
                   selection_record: dict | None = None, n_jobs: int = 1) -> "EmotionModel":
        """The model from already fitted parts (each notebook of a run fits one).

        Parameters
        ----------
        audio : AudioFeaturizer
            Fitted.
        visual : VisualFeaturizer
            Fitted (or with a fitted summary model).
        classifier : SequenceClassifier
            Fitted.
        selector : ZebraFeatureSelector or "passthrough"
            Fitted selector over ``columns``, or ``"passthrough"``.
        columns : sequence of str or None
            The fused column names (``None``: the featurizers' ``columns_`` / ``columns``).
        selection_record : dict or None
            The ``selection.json`` the selector came from (written back by :meth:`save`).
        n_jobs : int

        Returns
        -------
        EmotionModel
        """
        features = FeatureUnion([("audio", ClipAudioFeatures.fitted(audio, n_jobs)),
                                 ("visual", ClipVisualFeatures.fitted(visual, n_jobs))],
                                verbose_feature_names_out=False)
        if columns is None:
            columns = [str(c) for c in features.get_feature_names_out()]
        self = cls(audio, visual, selector, classifier, n_jobs)
        self.selection_record_ = selection_record
        return self._assemble(features, selector, classifier, columns)

    @classmethod
    def from_dir(cls, model_dir, classifier=None, select: str | None = None, n_jobs: int = 1) -> "EmotionModel":
        """Assemble the model from a model folder: the featurizers (``audio/``, ``visual/``), the
        selection (``selection/selection.json``) and the classifier (``classifiers/`` +
        ``bundle.json``, or ``classifier`` when given, e.g. the one notebook 06 just fitted).

        Parameters
        ----------
        model_dir : path-like
        classifier : SequenceClassifier or None
        select : {"zebra", "passthrough"} or None
            Whether the classifier reads the Zebra selection or every fused column (``None``:
            as ``model.json`` says; for folders without one, as the classifier's ``columns``
            parameter says).
        n_jobs : int

        Returns
        -------
        EmotionModel

        Raises
        ------
        FileNotFoundError
            A part is missing.
        ValueError
            The selection and the classifier disagree on the columns.
        """

        model_dir = Path(model_dir)
        if not model_dir.is_dir():
            raise FileNotFoundError(f"{model_dir}: model folder not found")
        clf = classifier if classifier is not None else SequenceClassifier.load(model_dir)
        audio, visual = model_files.load_featurizers(model_dir)
        selector, columns, record = model_files.selection_step(model_dir, clf, audio, visual, select)
        model = cls.from_parts(audio, visual, clf, selector, columns=columns, selection_record=record, n_jobs=n_jobs)
        meta_path = model_dir / "model.json"
        if classifier is not None or not meta_path.exists():
            return model  # a classifier handed in (notebook 06 assembling a new model) brings its own parts
        meta = read_json(meta_path)
        norm = meta.get("person_norm")
        if norm:
            model.with_person_norm(norm["audio"], norm["visual"], norm["min_person_clips"],
                                   model_files.load_person_free(model_dir))
        if meta.get("branches"):
            model.with_branches(*model_files.load_branches(model_dir, bool(norm)), faces=meta.get("faces"))
        return model

    # -- persistence ----------------------------------------------------------------------------
    def save(self, model_dir, extra: dict | None = None) -> Path:
        """Write the whole model to ``model_dir`` (see the module docstring for the layout).

        Parameters
        ----------
        model_dir : path-like
        extra : dict or None
            More entries for ``bundle.json`` (e.g. ``n_train_clips``).

        Returns
        -------
        Path
            ``model_dir``.
        """

        check_is_fitted(self, "pipeline_")
        return model_files.write_model(self, model_dir, extra)

    @classmethod
    def load(cls, model_dir, n_jobs: int = 1) -> "EmotionModel":
        """Read a model written by :meth:`save` (or by a run: ``OUT/model/``).

        Parameters
        ----------
        model_dir : path-like
        n_jobs : int
            Clips decoded at a time when predicting.

        Returns
        -------
        EmotionModel

        Raises
        ------
        mer_helpers.predict.bundle.BundleError
            A file listed in ``checksums.json`` is missing or changed (or, for a bundle saved
            without checksums, a needed file is missing or unreadable); one line per file.
        """

        model_files.check_format(model_dir)
        verify_bundle(model_dir)
        return cls.from_dir(model_dir, n_jobs=n_jobs)

    # -- prediction -----------------------------------------------------------------------------
    @property
    def sequence_mode(self) -> str:
        """The classifier's sequencer mode (``features``, ``late`` or ``temporal``)."""
        check_is_fitted(self, "pipeline_")
        return self.pipeline_["classify"].sequence_mode

    @property
    def model_names(self) -> list[str]:
        """The classifier's models, the main one first."""
        return self.pipeline_["classify"].model_order

    def predict_proba_all(self, X, n_jobs: int | None = None, errors: dict | None = None,
                          persons: Sequence | None = None):
        """Every model's class probabilities for clip files.

        Parameters
        ----------
        X : sequence of path-like
            Clip files.
        n_jobs : int or None
            Clips decoded at a time (``None``: the ``n_jobs`` parameter).
        errors : dict or None
            ``None``: a clip that fails raises. A dict: failing clips are left out and
            ``errors[path] = exception`` (a failed batch is retried clip by clip). With branches
            a clip with neither speech nor a face fails this way.
        persons : sequence or None
            The person of each clip (``None`` entries: unknown). Used by a person-normalised
            model (see the module docstring); ``None``: every clip is a stranger.

        Returns
        -------
        kept : list of int
            Positions (in ``X``) of the clips predicted.
        probabilities : dict
            Model name → ndarray of shape (len(kept), n_classes); NaN rows for a model that did
            not answer a clip (the other models of a clip that one branch answered).
        answered : ndarray of str, shape (len(kept),)
            Per clip :data:`ANSWERED_PERSON` (normalised with the person's statistics) or
            :data:`ANSWERED_PERSON_FREE`.
        modalities : ndarray of str, shape (len(kept),)
            Per clip :data:`BOTH`, :data:`AUDIO_ONLY` or :data:`VISUAL_ONLY`.
        """
        check_is_fitted(self, "pipeline_")
        paths = clip_paths(X)
        if persons is not None and len(persons) != len(paths):
            raise ValueError(f"predict_proba_all: {len(persons)} persons for {len(paths)} clips")
        n_jobs = int(self.n_jobs if n_jobs is None else n_jobs)
        audio, visual = (step for _, step in self.pipeline_["features"].transformer_list)
        clf = self.pipeline_["classify"]
        if clf.sequence_mode == "temporal" or not self.has_branches:
            return self._predict_both(paths, audio, visual, n_jobs, errors, persons)
        A, V, kept = clip_rows(paths, audio, visual, self.columns_, self.face_absence_trusted, n_jobs, errors)
        if not kept:
            return [], {}, np.array([], dtype=object), np.array([], dtype=object)
        probs, answered, modalities = self.predict_rows(A, V, None if persons is None else [persons[i] for i in kept])
        return kept, probs, answered, modalities

    def _predict_both(self, paths, audio, visual, n_jobs, errors, persons):
        """:meth:`predict_proba_all` of a model without branches (or temporal): every clip needs
        both modalities."""
        Xa, ca, seq_a, kept = featurize(audio, paths, n_jobs, errors)
        if kept:
            Xv, cv, seq_v, kept_v = featurize(visual, [paths[i] for i in kept], n_jobs, errors)
            if len(kept_v) < len(kept):  # some clips failed in the visual branch only
                Xa, seq_a, kept = Xa[kept_v], [seq_a[j] for j in kept_v], [kept[j] for j in kept_v]
        if not kept:
            return [], {}, np.array([], dtype=object), np.array([], dtype=object)
        both = np.full(len(kept), BOTH, dtype=object)
        clf = self.pipeline_["classify"]
        if clf.sequence_mode == "temporal":
            return kept, clf.predict_proba_sequences(seq_a, seq_v), np.full(len(kept), ANSWERED_PERSON_FREE, object), both

        F, columns = fuse(Xa, ca, Xv, cv)
        check_columns(columns, self.columns_)
        probs, answered = self.predict_features_by_person(F, None if persons is None else [persons[i] for i in kept])
        return kept, probs, answered, both

    def modality_index(self, modality: str) -> np.ndarray:
        """Positions of one modality's columns among ``columns_``."""
        return modality_index(self.columns_, modality)

    def reference_persons(self, persons: Sequence | None, n: int, present: np.ndarray | None = None) -> np.ndarray:
        """Which of ``n`` clips have a person with a reference: at least ``min_person_clips``
        clips of the same (known) person among them (among those with ``present`` True, when
        given: the clips that carry the modality). Always all False for a model without
        per-person normalisation.

        Parameters
        ----------
        persons : sequence or None
            The person of each clip (``None`` / ``""`` / NaN entries: unknown).
        n : int
            The number of clips.
        present : ndarray of bool or None
            Count only these clips (and only they get a reference).

        Returns
        -------
        ndarray of bool, shape (n,)
        """
        norm = getattr(self, "person_norm_", None)
        if not norm or persons is None:
            return np.zeros(n, dtype=bool)
        names = np.array(["" if p is None or (isinstance(p, float) and p != p) else str(p) for p in persons],
                         dtype=object)
        present = np.ones(n, dtype=bool) if present is None else np.asarray(present, dtype=bool)
        counts = pd.Series(names[present]).value_counts()
        return np.array([ok and p != "" and counts.get(p, 0) >= norm["min_person_clips"]
                         for p, ok in zip(names, present)], dtype=bool)

    def predict_features_by_person(self, F, persons: Sequence | None = None):
        """Every model's probabilities from fused features, each clip answered by the main
        classifier on person-normalised features (when its person has a reference, see
        :meth:`reference_persons`) or by the person-free classifier.

        Parameters
        ----------
        F : ndarray of shape (n_clips, n_columns)
            Plain fused features (``columns_``).
        persons : sequence or None
            The person of each row.

        Returns
        -------
        probabilities : dict
            Model name → ndarray of shape (n_clips, n_classes).
        answered : ndarray of str, shape (n_clips,)
        """
        F = np.asarray(F)
        probs, answered, _ = self._answer(F[:, self.modality_index("audio")], F[:, self.modality_index("visual")],
                                          np.ones(len(F), bool), np.ones(len(F), bool), persons)
        return probs, answered

    def predict_rows(self, A, V, persons: Sequence | None = None):
        """Every model's probabilities from per-modality feature rows, a row of NaN meaning that
        modality is missing: both present → the fused classifier; one → that modality's branch.

        Each person's statistics (person-normalised models) come from the rows of that person
        that carry the modality; a person with fewer than ``min_person_clips`` such rows, or a
        row without a person, is answered by the person-free classifier (a fused row needs a
        reference in both modalities).

        Parameters
        ----------
        A : ndarray of shape (n, n_audio_columns)
            Audio rows (the model's ``audio:`` columns, plain), NaN where there is no speech.
        V : ndarray of shape (n, n_visual_columns)
            Visual rows, NaN where there is no face.
        persons : sequence or None
            The person of each row (e.g. every window of one video: one person).

        Returns
        -------
        probabilities : dict
            Model name → ndarray (n, n_classes); NaN rows where that model did not answer.
        answered : ndarray of str, shape (n,)
            :data:`ANSWERED_PERSON` or :data:`ANSWERED_PERSON_FREE`.
        modalities : ndarray of str, shape (n,)
            :data:`BOTH`, :data:`AUDIO_ONLY` or :data:`VISUAL_ONLY`.

        Raises
        ------
        ValueError
            A row has neither modality, or one modality is missing and the model has no branches.
        """
        A, V = np.asarray(A, dtype=np.float32), np.asarray(V, dtype=np.float32)
        has_a, has_v = ~np.isnan(A).any(axis=1), ~np.isnan(V).any(axis=1)
        if not (has_a | has_v).all():
            raise ValueError(f"predict_rows: {int((~(has_a | has_v)).sum())} rows have neither speech nor a face")
        if not (has_a & has_v).all() and not self.has_branches:
            raise ValueError("this model has no per-modality classifiers (bundles saved before they existed): "
                             "it needs both speech and a face; rebuild the bundle with `mer run`")
        return self._answer(A, V, has_a, has_v, persons)

    def _answer(self, A, V, has_a, has_v, persons):
        """:meth:`predict_rows` once the inputs are checked."""
        n, norm = len(A), getattr(self, "person_norm_", None)
        ref_a, ref_v = self.reference_persons(persons, n, has_a), self.reference_persons(persons, n, has_v)
        An, Vn = A.copy(), V.copy()
        for rows, out, ref, mode in ((A, An, ref_a, "audio"), (V, Vn, ref_v, "visual")):
            if ref.any() and norm[mode] != "none":
                who = [str(persons[i]) for i in np.flatnonzero(ref)]
                out[ref] = person.normalize(rows[ref], who, [norm[mode]] * rows.shape[1]).astype(np.float32)
        both, head = has_a & has_v, self.pipeline_[1:-1]
        free = self.person_free_ if norm else self.pipeline_["classify"]
        groups = [(both & ref_a & ref_v, self.pipeline_["classify"], lambda m: head.transform(np.hstack([An[m], Vn[m]]))),
                  (both & ~(ref_a & ref_v), free, lambda m: head.transform(np.hstack([A[m], V[m]])))]
        if self.has_branches:
            b_free = self.branches_free_ if norm else self.branches_
            groups += [(has_a & ~has_v & ref_a, self.branches_["audio"], lambda m: An[m]),
                       (has_a & ~has_v & ~ref_a, b_free["audio"], lambda m: A[m]),
                       (has_v & ~has_a & ref_v, self.branches_["visual"], lambda m: Vn[m]),
                       (has_v & ~has_a & ~ref_v, b_free["visual"], lambda m: V[m])]
        probs: dict[str, np.ndarray] = {}
        for mask, clf, rows in groups:
            if mask.any():
                for name, p in clf.predict_proba_all(rows(mask)).items():
                    probs.setdefault(name, np.full((n, p.shape[1]), np.nan, dtype=np.float64))[mask] = p
        answered = np.where(((both & ref_a & ref_v) | (~both & has_a & ref_a) | (~both & has_v & ref_v)),
                            ANSWERED_PERSON, ANSWERED_PERSON_FREE).astype(object)
        modalities = np.where(both, BOTH, np.where(has_a, AUDIO_ONLY, VISUAL_ONLY)).astype(object)
        return probs, answered, modalities

    def predict_proba(self, X) -> np.ndarray:
        """The main model's class probabilities, from clip files through the whole pipeline.

        Parameters
        ----------
        X : sequence of path-like
            Clip files; a clip that fails raises (:meth:`predict_frame` can leave it out instead).

        Returns
        -------
        ndarray of shape (n_clips, n_classes)
            Columns in the order of ``classes_``.
        """
        check_is_fitted(self, "pipeline_")
        if self.sequence_mode == "temporal":
            return self.predict_proba_all(X)[1][self.model_names[0]]
        if getattr(self, "person_norm_", None):  # every clip a stranger: the person-free classifier
            return self.predict_proba_all(X)[1][self.model_names[0]]
        return self.pipeline_.predict_proba(clip_paths(X))

    def predict(self, X) -> np.ndarray:
        """The main model's classes: the most probable class of :meth:`predict_proba`.

        Parameters
        ----------
        X : sequence of path-like
            As for :meth:`predict_proba`.

        Returns
        -------
        ndarray of shape (n_clips,)
            Labels taken from ``classes_``.
        """
        return self.classes_[self.predict_proba(X).argmax(axis=1)]

    def prediction_frame(self, clip_ids: Sequence[str], probabilities: dict) -> pd.DataFrame:
        """The table ``mer predict`` writes, from :meth:`predict_proba_all`'s probabilities.

        Parameters
        ----------
        clip_ids : sequence of str
        probabilities : dict
            Model name → ndarray of shape (n, n_classes).

        Returns
        -------
        pandas.DataFrame
            ``clip_id, y_pred, p_<class>...`` (main model), then ``<model>:y_pred,
            <model>:p_<class>...`` for every model (the main one first).
        """
        classes = [str(c) for c in self.classes_]
        df = pd.DataFrame({"clip_id": [str(c) for c in clip_ids]})
        if not len(df):
            return pd.DataFrame(columns=["clip_id", "y_pred", *(f"p_{c}" for c in classes)])
        def winners(p):  # "" where the model did not answer (a row of NaN)
            return ["" if np.isnan(r).any() else classes[int(np.argmax(r))] for r in p]

        main = probabilities[self.model_names[0]]
        df["y_pred"] = winners(main)
        for j, c in enumerate(classes):
            df[f"p_{c}"] = main[:, j]
        for name in self.model_names:
            p = probabilities.get(name, np.full_like(main, np.nan))
            df[f"{name}:y_pred"] = winners(p)
            for j, c in enumerate(classes):
                df[f"{name}:p_{c}"] = p[:, j]
        return df

    def predict_frame(self, X, n_jobs: int | None = None, errors: dict | None = None,
                      persons: Sequence | None = None) -> tuple[list[int], pd.DataFrame]:
        """:meth:`predict_proba_all` as the ``mer predict`` table (``clip_id`` = file stem).

        Parameters
        ----------
        X : sequence of path-like
        n_jobs : int or None
        errors : dict or None
        persons : sequence or None
            See :meth:`predict_proba_all`.

        Returns
        -------
        kept : list of int
            Positions (in ``X``) of the rows.
        table : pandas.DataFrame
            See :meth:`prediction_frame`, then ``person`` (empty: unknown), ``answered_by``
            (``person``: normalised with the person's own statistics; ``person-free``) and
            ``modalities`` (``audio+visual``, ``audio`` or ``visual``: which branches answered).
        """
        paths = clip_paths(X)
        kept, probs, answered, modalities = self.predict_proba_all(paths, n_jobs=n_jobs, errors=errors,
                                                                   persons=persons)
        df = self.prediction_frame([Path(paths[i]).stem for i in kept], probs)
        df["person"] = ["" if persons is None or persons[i] is None else str(persons[i]) for i in kept]
        df["answered_by"] = list(answered)
        df["modalities"] = list(modalities)
        return kept, df

    def predict_features(self, X_fused, columns: Sequence[str] | None = None, audio_sequences=None,
                         visual_sequences=None) -> dict:
        """Every model's probabilities from features already extracted (``fused/<split>/features.npz``
        of a run, or the sequences in temporal mode): the ``select`` and ``classify`` steps only.

        Parameters
        ----------
        X_fused : array-like of shape (n_clips, n_columns)
        columns : sequence of str or None
            Names of ``X_fused``'s columns (checked against ``columns_``).
        audio_sequences, visual_sequences : list of ndarray or None
            Needed in temporal mode.

        Returns
        -------
        dict
            Model name → ndarray of shape (n_clips, n_classes).
        """
        check_is_fitted(self, "pipeline_")
        clf = self.pipeline_["classify"]
        if clf.sequence_mode == "temporal":
            return clf.predict_proba_sequences(audio_sequences, visual_sequences)
        if columns is not None and [str(c) for c in columns] != self.columns_:
            raise ValueError("predict_features: the columns differ from the model's fused columns")
        return clf.predict_proba_all(self.pipeline_[1:-1].transform(np.asarray(X_fused)))


__all__ = ["EmotionModel"]
