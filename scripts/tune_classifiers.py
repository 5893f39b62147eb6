"""Choose classifier settings on validation speakers only (nested inside each training portion).

For every evaluation split of a finished run (``OUT/artifacts``), the split's *training* clips
are cut once more by :func:`mer_helpers.models.validation_carve_out` (whole speakers, 1 of 5
folds): the model is fitted on the rest (which carves its own early-stopping part out of it)
and scored on those held-out training speakers. The split's test clips are never read. The
table (macro-F1 per setting, mean and std over splits) is written to
``OUT/artifacts/tuning/classifiers.csv``; pick a setting from it, then rerun notebooks 06-07
with ``-p``.

    python scripts/tune_classifiers.py runs/paired --models bilstm_sa \
        --grid '{"learning_rate": [0.001, 0.003], "seq_steps": [8, 16]}'
"""
from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("run_dir")
    ap.add_argument("--models", default="bilstm_sa", help="comma-separated model names")
    ap.add_argument("--grid", default='{"learning_rate": [0.001, 0.003]}',
                    help="JSON: parameter -> list of values (epochs, batch_size, learning_rate, seq_steps, "
                         "units, heads, dropout, patience, monitor, validation_split, fusion)")
    ap.add_argument("--columns", default="selected")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--logreg", action="store_true", help="also score a logistic regression on the same inner split")
    ap.add_argument("--out-name", default="classifiers", help="table name: OUT/artifacts/tuning/NAME.csv")
    a = ap.parse_args(argv)

    from sklearn.metrics import f1_score

    from mer_helpers import io
    from mer_helpers import models as M
    from mer_helpers.splits import evaluation_splits
    from mer_helpers.tuning import logreg_f1

    M.set_threads(2)
    out = Path(a.run_dir)
    art = out / "artifacts"
    labels = pd.read_csv(art / "labels.csv", dtype={"clip_id": str, "speaker": str})
    splits = io.read_json(art / "splits.json")
    classes = list(splits["classes"])
    lab = labels.set_index("clip_id")
    base = dict(epochs=10, batch_size=32, learning_rate=1e-3, seq_steps=4, units=64, heads=4, dropout=0.3,
                patience=3, monitor="none", validation_split=0.2, fusion="early")
    grid = json.loads(a.grid)
    keys = sorted(grid)
    settings = [dict(base, **dict(zip(keys, vals))) for vals in itertools.product(*(grid[k] for k in keys))]
    rows = []
    for s in evaluation_splits(splits):
        ids, X, cols, use, tr, _te = M._load_split_features(art, s, a.columns)  # _te is never used
        pos = {c: i for i, c in enumerate(cols)}
        Xs = X[:, [pos[c] for c in use]][tr]
        y = np.array([classes.index(lab.at[c, "label"]) for c in ids[tr]])
        g = lab.loc[list(ids[tr]), "speaker"].astype(str).to_numpy()
        inner_fit, inner_val, how = M.validation_carve_out(y, g, 0.2, a.seed)
        if a.logreg:  # the linear reference on the same inner speakers
            rows.append({**base, **{k: "-" for k in keys}, "model": "logreg", "split": s["name"],
                         "n_fit": len(inner_fit), "n_val": len(inner_val), "best_epoch": None, "seconds": None,
                         "val_f1_macro": logreg_f1(Xs[inner_fit], y[inner_fit], Xs[inner_val], y[inner_val],
                                                   seed=a.seed)})
        for st in settings:
            late = st["fusion"] == "late"
            seq = (M.LateFusionSequencer.from_columns(st["seq_steps"], use) if late
                   else M.FeatureSequencer(st["seq_steps"])).fit(Xs[inner_fit])
            for m in a.models.split(","):
                t0 = time.perf_counter()
                fit = M.fit_late_fusion if late else M.fit_model
                model, rec = fit(m, seq.transform(Xs[inner_fit]), y[inner_fit], groups=g[inner_fit],
                                 epochs=st["epochs"], batch_size=st["batch_size"], seed=a.seed,
                                 patience=st["patience"], n_classes=len(classes), units=st["units"],
                                 heads=st["heads"], dropout=st["dropout"],
                                 learning_rate=st["learning_rate"], monitor=st["monitor"],
                                 validation_split=st["validation_split"])
                p = M.predict_proba(model, seq.transform(Xs[inner_val])).argmax(1)
                rows.append({**st, "model": m, "split": s["name"], "n_fit": len(inner_fit), "n_val": len(inner_val),
                             "val_f1_macro": f1_score(y[inner_val], p, average="macro"),
                             "best_epoch": rec["best_epoch"], "seconds": round(time.perf_counter() - t0, 1)})
                M.keras.backend.clear_session()
                print(json.dumps({k: rows[-1][k] for k in keys + ["model", "split", "val_f1_macro", "best_epoch"]}),
                      flush=True)
    df = pd.DataFrame(rows)
    summary = (df.groupby(keys + ["model"])["val_f1_macro"].agg(["mean", "std", "count"])
               .sort_values("mean", ascending=False))
    (art / "tuning").mkdir(exist_ok=True)
    df.to_csv(art / "tuning" / f"{a.out_name}.csv", index=False)
    print(summary.round(3).to_string())
    return 0


if __name__ == "__main__":
    sys.exit(main())
