"""Choose classifier settings on validation speakers only (nested inside each training portion).

For every evaluation split of a finished run (``OUT/artifacts``), the split's *training* clips
are cut once more by whole speakers (:func:`mer_helpers.methods.tuning.inner_split`): each setting of
the grid is fitted on the rest and scored on those held-out training speakers
(:func:`mer_helpers.stages.classifiers.inner_classifier_table`, the same code notebook 06 runs for its own
table). The split's test clips are never read. The table (macro-F1 per setting, mean and std
over splits) is written to ``OUT/artifacts/tuning/<name>.csv``; pick a setting from it, then
rerun notebooks 06-07 with ``-p``.

    python scripts/tune_classifiers.py runs/paired --models bilstm_sa --logreg \
        --grid '{"columns": ["selected", "all"], "fusion": ["early", "late"], "epochs": [10, 30]}'
"""
from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path

import pandas as pd


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("run_dir", help="a finished run folder (OUT) whose artifacts to tune on")
    ap.add_argument("--models", default="bilstm_sa", help="comma-separated model names")
    ap.add_argument("--grid", default='{"learning_rate": [0.001, 0.003]}',
                    help="JSON: parameter -> list of values (columns, fusion, epochs, batch_size, learning_rate, "
                         "seq_steps, units, heads, dropout, patience, monitor, validation_split)")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--logreg", action="store_true", help="also score a logistic regression on the same inner split")
    ap.add_argument("--out-name", default="classifiers", help="table name: OUT/artifacts/tuning/NAME.csv")
    ap.add_argument("--threads", type=int, default=2, help="TensorFlow threads (intra- and inter-op)")
    a = ap.parse_args(argv)

    from mer_helpers.core import fileio
    from mer_helpers.data.splits import evaluation_splits
    from mer_helpers.methods import networks
    from mer_helpers.stages.classifiers import CLASSIFIER_SETTINGS, inner_classifier_table

    networks.set_threads(a.threads)
    art = Path(a.run_dir) / "artifacts"
    labels = pd.read_csv(art / "labels.csv", dtype={"clip_id": str, "speaker": str})
    splits = fileio.read_json(art / "splits.json")
    grid = json.loads(a.grid)
    unknown = sorted(set(grid) - set(CLASSIFIER_SETTINGS))
    if unknown:
        ap.error(f"unknown grid parameter(s) {unknown}; known: {sorted(CLASSIFIER_SETTINGS)}")
    keys = sorted(grid)
    candidates = {", ".join(f"{k}={v}" for k, v in zip(keys, vals)): dict(zip(keys, vals))
                  for vals in itertools.product(*(grid[k] for k in keys))}
    tables = []
    for m in a.models.split(","):
        t = inner_classifier_table(art, evaluation_splits(splits), labels, list(splits["classes"]), candidates,
                                   model=m, seed=a.seed, logreg=a.logreg and m == a.models.split(",")[0])
        tables.append(t.assign(model=m))
    df = pd.concat(tables, ignore_index=True)
    summary = (df.groupby(["model", "candidate"])["f1_macro"].agg(["mean", "std", "count"])
               .sort_values("mean", ascending=False))
    (art / "tuning").mkdir(exist_ok=True)
    df.to_csv(art / "tuning" / f"{a.out_name}.csv", index=False)
    print(summary.round(3).to_string())
    return 0


if __name__ == "__main__":
    sys.exit(main())
