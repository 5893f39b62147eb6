"""Issue 20, stop 18: does it matter where notebook 06's networks are trained?

Trains notebook 06's BiLSTM-SA (``--preset strong``: three networks, seeds 42-44, two blocks,
every fused column) on the five folds of a finished run, with ``classifiers.run_eval_splits``,
and prints its macro-F1 and how many test predictions agree with the run's own:

``--where here``       one after the other in this process (two TensorFlow threads);
``--where processes``  two joblib worker processes (what notebook 06 does);
``--where dask``       as tasks on a local Dask cluster (what notebook 06 did for a while).

``--repeat 6`` instead trains one network six times with one seed (on the fold's first 700
clips, 600 columns, 3 epochs) where asked and prints each final training loss: identical
fits give identical losses, or they do not.

    python scripts/issue20_levers/where_trained.py /work/runs/six-par --where dask
    python scripts/issue20_levers/where_trained.py /work/runs/six-par --where dask --repeat 6
"""
from __future__ import annotations

import argparse
import os
import shutil
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def _dask_runner(jobs, n_jobs, bar):
    """training._run_network_jobs as it was: one task per network on the Dask cluster."""
    from mer_helpers.core.parallel import map_clips
    from mer_helpers.methods import training

    done = map_clips(training._fit_job, jobs, desc="networks", unit="network", n_jobs=n_jobs, bar=bar)
    return [(training._rebuild(j, w), r) for j, (w, r) in zip(jobs, done)]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("run", type=Path)
    ap.add_argument("--where", choices=("here", "processes", "dask"), default="processes")
    ap.add_argument("--repeat", type=int, default=0)
    a = ap.parse_args(argv)
    os.environ["MER_DASK_SCHEDULER"] = "none"
    if a.where == "dask":
        os.environ.pop("MER_DASK_SCHEDULER")
    import numpy as np
    import pandas as pd

    from mer_helpers.core import fileio, parallel
    from mer_helpers.data.splits import evaluation_splits
    from mer_helpers.methods import evaluation as ev, networks, training
    from mer_helpers.stages import classifiers

    networks.set_threads(2)
    if a.where == "dask":
        training._run_network_jobs = _dask_runner
    n_jobs = 1 if a.where == "here" else 2
    src = a.run / "artifacts"
    with parallel.session() if a.where == "dask" else parallel.session("none"):
        if a.repeat:
            ids, X, _ = fileio.load_features(src / "fused" / "fold0" / "features.npz")
            X = ((X - X.mean(0)) / (X.std(0) + 1e-6))[:700, :600].reshape(700, 2, 300).astype("float32")
            lab = pd.read_csv(src / "labels.csv", dtype=str).set_index("clip_id").loc[ids[:700]]
            kw = dict(seed=42, groups=lab["speaker"].to_numpy(), n_classes=6, units=32, heads=4, epochs=3)
            y = pd.Categorical(lab["label"]).codes
            out = training.fit_networks([("bilstm_sa", X, y, kw)] * a.repeat, n_jobs=n_jobs)
            print(f"{a.where}: final training loss of {a.repeat} identical fits:",
                  [round(r["history"]["loss"][-1], 4) for _, r in out])
            return 0
        with tempfile.TemporaryDirectory() as tmp:
            A = Path(tmp) / "artifacts"
            shutil.copytree(src, A, ignore=shutil.ignore_patterns("predictions", "histories"))
            labels = pd.read_csv(A / "labels.csv", dtype={"clip_id": str, "speaker": str})
            splits = fileio.read_json(A / "splits.json")
            classes = list(splits["classes"])
            common = classifiers.settings(
                {"epochs": 10, "batch_size": 32, "learning_rate": 0.001, "validation_split": 0.2, "ensemble": 3},
                {"monitor": "none", "patience": 3},
                {"sequence_mode": "features", "seq_steps": 2, "units": 64, "heads": 4, "dropout": 0.3}, 42, "early")
            frames, _ = classifiers.run_eval_splits(A, evaluation_splits(splits), labels, classes, ["bilstm_sa"],
                                                    columns="all", n_jobs=n_jobs, **common)
    df = pd.concat(frames["bilstm_sa"])
    run = pd.read_csv(src / "predictions" / "bilstm_sa.csv", dtype={"clip_id": str})
    both = df.merge(run, on="clip_id")
    print(f"{a.where}: BiLSTM-SA macro-F1 {ev.mean_over_splits(df, classes, 'f1_macro'):.4f} "
          f"(the run's: {ev.mean_over_splits(run, classes, 'f1_macro'):.4f}); "
          f"same prediction as the run on {np.mean(both.y_pred_x == both.y_pred_y):.1%} of the clips")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
