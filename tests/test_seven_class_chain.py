"""Seven emotions (MELD's label names) through the whole chain, on tiny generated clips.

The committed sample has three classes; this run checks that nothing in notebooks 00-07 (figures,
metrics, the model bundle) assumes three. The clips are small synthetic videos (a moving square
and a tone whose pitch and colour depend on the emotion), four speakers, one clip per speaker and
emotion, two speaker folds, the smoke preset: it checks plumbing, not recognition.
"""
from __future__ import annotations

import csv
import json
import os
import subprocess
import sys

import pytest

from mer_helpers.chain.runner import REPO_ROOT

pytestmark = pytest.mark.slow
MELD_EMOTIONS = ["anger", "disgust", "fear", "joy", "neutral", "sadness", "surprise"]
#: the chain's names for them (labels.parse_classes maps MELD's spellings)
SEVEN = ["angry", "disgust", "fear", "happy", "neutral", "sad", "surprise"]


def test_seven_meld_classes_through_the_chain(tmp_path, tiny_clip_factory):
    data = tmp_path / "meld7"
    rows = []
    for s in range(4):
        for k, emo in enumerate(MELD_EMOTIONS):
            cid = f"s{s}_{emo}"
            tiny_clip_factory(data / "clips" / f"{cid}.mp4", freq=220.0 + 90 * k + 7 * s,
                              color=(30 * k, 200 - 20 * k, 60 + 10 * s))
            rows.append({"clip_id": cid, "path": f"clips/{cid}.mp4", "label": emo, "speaker": f"s{s}"})
    with open(data / "labels.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    out = tmp_path / "run"
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", MER_PROGRESS="plain", MER_CACHE_DIR=str(tmp_path / "cache"))
    proc = subprocess.run([sys.executable, "-m", "mer_helpers", "run", "--dataset", "folder", "--data-root", str(data),
                           "--out", str(out), "--preset", "smoke", "-p", "backbone_weights", "none",
                           "-p", "classes", ",".join(MELD_EMOTIONS), "-p", "n_folds", "2",
                           "-p", "ablation", "false", "-p", "bootstrap", "50"],
                          capture_output=True, text=True, env=env, cwd=REPO_ROOT, timeout=1500)
    assert proc.returncode == 0, proc.stderr[-3000:]
    m = json.loads((out / "metrics.json").read_text())
    assert m["classes"] == SEVEN and m["n_clips"] == 28
    for name in ("bilstm_sa", "bilstm", "cnn"):
        cm = m["models"][name]["confusion"]
        assert len(cm) == 7 and all(len(r) == 7 for r in cm) and sum(map(sum, cm)) == 28
        assert 0.0 <= m["models"][name]["f1_macro"] <= 1.0
    bundle = json.loads((out / "model" / "bundle.json").read_text())
    assert bundle["classes"] == SEVEN
