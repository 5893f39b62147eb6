"""Print the ``-p KEY VALUE`` arguments of the best network setting of a tuning table (issue 20, lever 1).

Reads ``OUT/artifacts/tuning/NAME.csv`` of ``scripts/tune_classifiers.py``; the winner is the
candidate (logistic-regression rows excluded) with the highest mean inner macro-F1 over splits,
ties broken by the smaller std. Grid keys map onto notebook 06's parameters (``columns`` ->
``classifier_columns``). Chosen from the inner table only, before any test fold is scored.

    python scripts/pick_inner_winner.py /tmp/six-tune/artifacts/tuning/bilstm_sa_grid.csv --model bilstm_sa
"""
import argparse
import sys

import pandas as pd

RENAME = {"columns": "classifier_columns"}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("csv")
    ap.add_argument("--model", default="bilstm_sa")
    a = ap.parse_args(argv)
    df = pd.read_csv(a.csv)
    df = df[(df["model"] == a.model) & ~df["candidate"].str.startswith("logistic regression")]
    s = df.groupby("candidate")["f1_macro"].agg(["mean", "std"]).sort_values(["mean", "std"], ascending=[False, True])
    best = s.index[0]
    print(f"winner on inner speakers: {best} (mean {s['mean'].iloc[0]:.4f}, std {s['std'].iloc[0]:.4f})",
          file=sys.stderr)
    args = []
    for kv in best.split(", "):
        k, v = kv.split("=", 1)
        args += ["-p", RENAME.get(k, k), v]
    print(" ".join(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
