#!/usr/bin/env bash
# Issue 20, lever 1: rerun notebooks 06-07 on a copy of six-base with the BiLSTM-SA setting that
# won on inner training speakers (scripts/pick_inner_winner.py), BiLSTM-SA only, one thread.
# usage: scripts/issue20_lever1_test.sh /tmp/six-tune bilstm_sa_grid
set -euo pipefail
OUT=${1:-/tmp/six-tune}; NAME=${2:-bilstm_sa_grid}
PY=${PY:-/work/main/.venv/bin/python}
WIN=$($PY scripts/pick_inner_winner.py "$OUT/artifacts/tuning/$NAME.csv" --model bilstm_sa)
echo "winning setting: $WIN"
set -x
time $PY -m mer_helpers run --dataset paired --data-root /work/shared/data --out "$OUT" --preset strong \
  -p faces oulu_casia -p classes "[angry, disgust, fear, happy, sad, surprise]" -p trim_db null \
  $WIN -p n_jobs 1 -p models "[bilstm_sa]" -p ablation false -p inner_tuning false \
  --scheduler none --notebooks 06_classifiers 07_results
