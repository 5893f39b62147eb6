"""Training the classifiers' networks: one network, a late-fusion pair, a seed ensemble, and
many of them at once on worker processes.

:func:`fit_model` trains one network on one split's training rows. Its validation part is carved
out of the *training portion* (grouped by speaker when groups are given,
:func:`validation_carve_out`); by default it is only scored (paper 2 trains 10 epochs without
early stopping); optional early stopping watches that part only and restores the best epoch;
seeds are fixed with ``keras.utils.set_random_seed``. The test clips of a split are never seen.
:func:`fit_networks` trains the networks of several models in one batch, one task per network
(joblib worker processes), and composes late-fusion pairs and ensembles;
:func:`fit_sequence_model` and :func:`fit_late_fusion` are one model of it.
:class:`mer_helpers.methods.models.SequenceClassifier` trains through it.
"""
from __future__ import annotations

import contextlib
import contextvars
import math
import os
from typing import Iterator, Sequence

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow is imported

from mer_helpers.core.progress import import_tensorflow_quietly  # noqa: E402

import_tensorflow_quietly()  # a worker process unpickling a network task: no TensorFlow start-up lines in the log

import keras  # noqa: E402

from mer_helpers.core.parallel import in_worker, map_clips  # noqa: E402
from mer_helpers.data.splits import validation_carve_out  # noqa: E402
from mer_helpers.methods.networks import (build_model, compose_ensemble, compose_late_fusion, runs_loop,  # noqa: E402
                                          set_threads)

#: what early stopping watches on the validation part: ``none`` trains every epoch (the
#: validation part is then only reported)
MONITORS = ("val_loss", "val_accuracy", "none")


# ----------------------------------------------------------------------------------------------
# Training
# ----------------------------------------------------------------------------------------------
def fit_model(model_name: str, X_train: np.ndarray, y_train, groups=None, validation_split: float = 0.2,
              epochs: int = 10, batch_size: int = 32, seed: int = 42, patience: int = 3,
              verbose: int = 0, eager_updates: int = 16, monitor: str = "none", reuse: bool = True,
              replay: bool = True, score_validation: bool = True, **build_kwargs) -> tuple[keras.Model, dict]:
    """Build and train ``model_name`` on ``(X_train (n, T, d), y_train (n,) int)``.

    A ``validation_split`` part of the training rows (whole speakers when ``groups`` is given)
    is held out and scored after every epoch. ``monitor="none"`` (default) trains all ``epochs``
    as paper 2's Algorithm 5 does (``model.fit(..., epochs=10, batch_size=32,
    validation_split=0.2)``, no early stopping); ``val_loss`` or ``val_accuracy`` stop early on
    that part (patience ``patience``, best epoch restored).
    When the whole run is at most ``eager_updates`` gradient updates (tiny folds, as on the
    committed sample) the model runs eagerly: tracing the training graph would cost more than
    the updates themselves; the arithmetic is the same.

    Tracing the training and validation steps of a new network costs about as much as a third
    of its whole fit on these small inputs. With ``reuse`` (default) this process keeps one
    traced twin per architecture and input shape (:func:`_runner`): the network is built from
    its seed as always, its state (weights, dropout seeds, fresh optimizer slots) is copied into
    the twin, the twin trains, and the trained state is copied back. The weights are the same
    to the last bit as a fresh network's (``tests/test_models.py``; the six-emotion run's
    predictions byte for byte); only the tracing is saved. With ``replay`` (default) the
    batches come from :func:`replayed_batches`: the ones Keras would draw from the arrays, with
    one ``tf.data`` iterator per fit instead of two per epoch (the same weights again). A BiLSTM
    whose steps run in TensorFlow's loop (more than :data:`~mer_helpers.methods.networks.UNROLL_STEPS` steps) is
    trained fresh: through a twin that had seen other batch sizes its outputs moved by up to
    1e-3 (``scripts/issue20_levers/README.md``, stop 22).

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
    reuse : bool, default=True
        Train through this process' traced twin of the architecture (same weights, no tracing).
    replay : bool, default=True
        Feed the batches through :func:`replayed_batches` (same weights, less time); ``False``:
        Keras' own ``fit`` of the arrays, the reference it is tested against.
    score_validation : bool, default=True
        Score the validation part after every epoch. ``False`` (:func:`curves_unread`): it is
        carved out all the same but not scored, unless early stopping watches it; the same
        weights, and a history without ``val_*`` curves.
    **build_kwargs
        Passed to :func:`build_model` (``n_classes``, ``units``, ``heads``, ``dropout``,
        ``learning_rate``).

    Returns
    -------
    model : keras.Model
    record : dict
        The Keras ``history`` (loss, accuracy, and val_loss, val_accuracy where the validation
        part is scored, per epoch), ``best_epoch`` (1-based), ``epochs_run``, the sizes of the
        two parts, the validation speakers, how the part was drawn and ``validation_scored``.
    """
    X_train = np.asarray(X_train, dtype=np.float32)
    y_train = np.asarray(y_train).astype(int)
    if X_train.ndim != 3:
        raise ValueError(f"fit_model: X_train must be (n, T, d), got {X_train.shape}")
    if len(X_train) != len(y_train):
        raise ValueError(f"fit_model: {len(X_train)} rows but {len(y_train)} labels")
    n_classes = int(build_kwargs.pop("n_classes", int(y_train.max()) + 1))
    fit_idx, val_idx, how = validation_carve_out(y_train, groups, validation_split, seed)
    steps_per_epoch = int(math.ceil(len(fit_idx) / int(batch_size)))
    eager = steps_per_epoch * int(epochs) <= int(eager_updates)
    reuse = reuse and not eager and not runs_loop(model_name, X_train.shape[1:])
    runner = _runner(model_name, X_train.shape[1:], n_classes, build_kwargs) if reuse else None
    keras.utils.set_random_seed(int(seed))
    model = build_model(model_name, X_train.shape[1:], n_classes, **build_kwargs)
    model.run_eagerly = eager
    if runner is not None:
        _load_state(runner, model)
    trainer = runner if runner is not None else model
    callbacks, val_data = [], None
    if monitor not in MONITORS:
        raise ValueError(f"monitor must be one of {MONITORS}, got {monitor!r}")
    if len(val_idx) and (score_validation or monitor != "none"):
        val_data = (X_train[val_idx], y_train[val_idx])
        if monitor != "none":
            callbacks.append(keras.callbacks.EarlyStopping(monitor=monitor, patience=int(patience),
                                                           restore_best_weights=True))
    if eager or not replay:
        hist = trainer.fit(X_train[fit_idx], y_train[fit_idx], validation_data=val_data, epochs=int(epochs),
                           batch_size=int(batch_size), shuffle=True, callbacks=callbacks, verbose=verbose)
    else:
        train, steps = replayed_batches(X_train[fit_idx], y_train[fit_idx], int(batch_size), shuffle=True)
        val, val_steps = replayed_batches(*val_data, int(batch_size)) if val_data is not None else (None, None)
        hist = trainer.fit(train, steps_per_epoch=steps, validation_data=val, validation_steps=val_steps,
                           epochs=int(epochs), shuffle=False, callbacks=callbacks, verbose=verbose)
    if runner is not None:
        for mine, trained in zip(model.variables, runner.variables):
            mine.assign(trained)
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
              "n_params": int(model.count_params()), "run_eagerly": bool(model.run_eagerly),
              "reused_graph": runner is not None, "validation_scored": val_data is not None}
    if groups is not None and len(val_idx):
        record["val_speakers"] = sorted({str(g) for g in np.asarray(groups)[val_idx]})
    return model, record


def replayed_batches(X: np.ndarray, y: np.ndarray, batch_size: int, shuffle: bool = False):
    """The batches Keras' ``fit`` draws from the arrays ``(X, y)`` in one epoch, as an endless
    ``tf.data`` stream that replays them every epoch, and the number of batches per epoch.

    Given arrays, Keras 3 (``ArrayDataAdapter``) builds a ``tf.data`` pipeline and opens a fresh
    iterator of it at every epoch, for the training and for the validation part; with the global
    seed set (:func:`fit_model`), every fresh iterator draws the same permutation, so each epoch
    sees the same batches. Opening those iterators cost about a quarter of the Python thread's time
    in a fit of this project's size (``scripts/issue20_levers/README.md``, stop 24). Here the order
    is drawn once, by the same Keras pipeline run over row indices, and the rows are laid out in
    that order: ``fit(stream, steps_per_epoch=n)`` keeps one iterator for all epochs and trains on
    the same batches, to the last bit (``tests/test_models.py`` compares the weights with Keras'
    own ``fit`` of the arrays).
    """
    import tensorflow as tf
    from keras.src.trainers.data_adapters.array_data_adapter import ArrayDataAdapter

    n = len(X)
    if shuffle:
        rows = np.arange(n, dtype=np.int64)[:, None]
        batches = ArrayDataAdapter(rows, batch_size=batch_size, shuffle=True).get_tf_dataset()
        order = np.concatenate([b.numpy()[:, 0] for b in batches])
        X, y = X[order], y[order]
    stream = tf.data.Dataset.from_tensor_slices((X, y)).batch(batch_size).repeat()
    return stream, int(math.ceil(n / batch_size))


#: traced twins of :func:`fit_model`, one per architecture and input shape, in this process
_RUNNERS: dict[tuple, keras.Model] = {}
_MAX_RUNNERS = 12


def _runner(model_name: str, input_shape, n_classes: int, build_kwargs: dict) -> keras.Model:
    """This process' twin of the network :func:`fit_model` is about to build, built on first use
    (its own weights do not matter: they are overwritten before every fit)."""
    key = (model_name, tuple(int(s) for s in input_shape), int(n_classes), repr(sorted(build_kwargs.items())))
    if key not in _RUNNERS:
        if len(_RUNNERS) >= _MAX_RUNNERS:
            _RUNNERS.pop(next(iter(_RUNNERS)))
        _RUNNERS[key] = build_model(model_name, input_shape, n_classes, **build_kwargs)
    return _RUNNERS[key]


def _load_state(runner: keras.Model, model: keras.Model) -> None:
    """Make ``runner`` start where the freshly built ``model`` would: its weights, its layers'
    random-seed states and a fresh optimizer (slots at zero, step 0, the same learning rate)."""
    model.optimizer.build(model.trainable_variables)
    if not runner.optimizer.built:
        runner.optimizer.build(runner.trainable_variables)
    pairs = list(zip(runner.variables, model.variables)) + list(zip(runner.optimizer.variables,
                                                                     model.optimizer.variables))
    if (len(runner.variables) != len(model.variables)
            or len(runner.optimizer.variables) != len(model.optimizer.variables)
            or any(tuple(a.shape) != tuple(b.shape) for a, b in pairs)):
        raise RuntimeError(f"the traced twin of {model.name} does not match the network built")
    for twin, fresh in pairs:
        twin.assign(fresh)


def clear_runners() -> None:
    """Forget this process' traced twins (:func:`fit_model` traces again on next use)."""
    _RUNNERS.clear()


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
                 "monitor", "reuse", "replay", "score_validation")


def fit_networks(specs: Sequence[tuple], n_jobs: int = 1, progress=None) -> list[tuple[keras.Model, dict]]:
    """Train several models in one batch: :func:`fit_sequence_model` for each spec, with every
    network of every spec (each ensemble member, each half of a late-fusion pair) one task.

    With ``n_jobs`` > 1 (cores) the tasks are spread over :func:`network_workers` joblib worker
    processes on this machine (not the run's Dask cluster, see :func:`_run_network_jobs`); each
    worker trains with one TensorFlow thread and sends back the weights, and the network is
    rebuilt here. ``n_jobs=1``: one after the other in this process. The weights are the same
    either way (``tests/test_models.py``).

    Parameters
    ----------
    specs : sequence of (model_name, X_seq, y, kwargs)
        ``X_seq`` an ndarray ``(n, T, d)`` or the ``[audio, visual]`` pair of late fusion;
        ``kwargs`` those of :func:`fit_sequence_model` (``ensemble``, ``seed``) and
        :func:`fit_model`, and for late fusion ``visual_extra``: auxiliary rows only the face
        half trains on (:func:`append_rows`; :mod:`mer_helpers.methods.aux_faces`).
    n_jobs : int, default=1
        Cores to keep busy (``1``: no worker process).
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
        parts, y = [np.asarray(x, dtype=np.float32) for x in parts], np.asarray(y).astype(int)  # shared by members
        extra = kwargs.pop("visual_extra", None)
        halves = [(x, y, kwargs) for x in parts]
        if extra is not None:
            if len(parts) != 2:
                raise ValueError(f"{model_name}: visual_extra (auxiliary face rows) needs late fusion")
            halves[1] = append_rows(parts[1], y, kwargs, extra)
        if _CURVES_UNREAD.get():
            halves = [(x, yy, {"score_validation": False, **kw}) for x, yy, kw in halves]
        jobs += [{"model_name": model_name, "X": x, "y": yy, "seed": seed + k, "kwargs": kw, "pid": os.getpid()}
                 for k in range(ensemble) for x, yy, kw in halves]
    fitted = iter(_run_network_jobs(jobs, n_jobs, _SpecBar(progress, len(jobs), len(specs))))
    out = []
    for model_name, ensemble, n_parts, seed in plans:
        members = [_late_fusion(model_name, next(fitted), next(fitted)) if n_parts == 2 else next(fitted)
                   for _ in range(ensemble)]
        out.append(members[0] if ensemble == 1 else _ensemble(model_name, members, seed))
    return out


_CURVES_UNREAD = contextvars.ContextVar("curves_unread", default=False)


@contextlib.contextmanager
def curves_unread() -> Iterator[None]:
    """Inside, the networks :func:`fit_networks` trains do not score their validation part after
    each epoch (``fit_model(score_validation=False)``), unless early stopping watches it.

    For callers that read a fit's predictions and never its training curves (notebook 06's
    ablation and inner-speaker table). The validation part is carved out as always and never
    trained on, so the weights are the same; scoring it was about a tenth of a fit.
    """
    token = _CURVES_UNREAD.set(True)
    try:
        yield
    finally:
        _CURVES_UNREAD.reset(token)


def append_rows(X: np.ndarray, y: np.ndarray, kwargs: dict, extra: tuple) -> tuple[np.ndarray, np.ndarray, dict]:
    """Training rows with extra ones appended (faces of people outside the run): ``extra = (X (m, T, d),
    y (m,) class indices, groups (m,) or None)``; their groups (face subjects) join the speakers in
    ``kwargs["groups"]``, so the validation carve-out draws whole people of either kind."""
    Xe, ye, ge = extra
    Xe, ye = np.asarray(Xe, dtype=np.float32), np.asarray(ye).astype(int)
    if Xe.shape[1:] != X.shape[1:] or len(Xe) != len(ye):
        raise ValueError(f"visual_extra: rows of shape {Xe.shape[1:]} ({len(ye)} labels) for an input "
                         f"of shape {X.shape[1:]}")
    kw = dict(kwargs)
    if kw.get("groups") is not None:
        ge = [f"aux:{i}" for i in range(len(ye))] if ge is None else ge
        kw["groups"] = np.concatenate([np.asarray(kw["groups"]).astype(str), np.asarray(ge).astype(str)])
    return np.concatenate([X, Xe]), np.concatenate([y, ye]), kw


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
        _keep_worker()
    model, record = fit_model(job["model_name"], job["X"], job["y"], seed=job["seed"], **job["kwargs"])
    if not elsewhere:
        return model, record
    weights = model.get_weights()
    model = None
    keras.backend.clear_session()  # a long-lived worker does not pile up graphs
    return weights, record


#: how much a network worker's memory may grow before joblib's loky restarts it as leaking
WORKER_GROWTH = 2 * 1024 ** 3


def _keep_worker() -> None:
    """Let this worker grow by :data:`WORKER_GROWTH` before loky takes it for a leak.

    loky restarts a worker whose resident memory grew by 300 MB since its first task. A network
    worker grows on purpose (its traced twins, at most ``_MAX_RUNNERS``), and a new worker pays
    TensorFlow's start and every trace again: notebook 06 of the six-emotion run lost its two
    workers four times (``scripts/issue20_levers/README.md``, stop 24). A larger growth is still
    taken for a leak.
    """
    try:
        from joblib.externals.loky import process_executor
    except ImportError:
        return
    if isinstance(getattr(process_executor, "_MAX_MEMORY_LEAK_SIZE", None), int):
        process_executor._MAX_MEMORY_LEAK_SIZE = max(process_executor._MAX_MEMORY_LEAK_SIZE, WORKER_GROWTH)


def _rebuild(job: dict, weights: list) -> keras.Model:
    """The network of ``job`` with the weights a worker trained (:func:`_fit_job`)."""
    build = {k: v for k, v in job["kwargs"].items() if k not in _FIT_KEYWORDS}
    n_classes = int(build.pop("n_classes", int(job["y"].max()) + 1))
    model = build_model(job["model_name"], job["X"].shape[1:], n_classes, **build)
    model.set_weights(weights)
    return model


def network_workers(n_jobs: int) -> int:
    """Worker processes that keep ``n_jobs`` cores busy training networks: one more than the cores
    (``n_jobs`` > 1), one process (this one) for ``n_jobs=1``.

    A fit limited to one TensorFlow thread still runs on two, Python's and TensorFlow's, which
    hand every step to each other; with one such process per core each core idles about a
    quarter of the time, and a third process on two cores fills it: 18 networks of the
    six-emotion size trained in 100 s against 124 s (``scripts/issue20_levers/README.md``, stop 24).
    """
    return 1 if int(n_jobs) <= 1 else int(n_jobs) + 1


def _run_network_jobs(jobs: list[dict], n_jobs: int, bar) -> list[tuple[keras.Model, dict]]:
    """Each job in this process, or in :func:`network_workers` joblib worker processes for ``n_jobs``
    cores (:func:`mer_helpers.core.parallel.map_clips` with ``dask=False``). Not on the Dask cluster: a
    network trained in a Dask worker's task thread does not always come out the same as the same
    network trained again (``scripts/issue20_levers/where_trained.py --repeat 6``), while a
    process's main thread gives the same weights every time, here or in a joblib worker."""
    done = map_clips(_fit_job, jobs, desc="networks", unit="network", n_jobs=1 if in_worker() else
                     network_workers(n_jobs), bar=bar, dask=False)
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
