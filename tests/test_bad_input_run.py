"""`mer run` on a folder with bad clips: stop names each one; skip lists them in metrics.json."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from mer_helpers.core.media import write_clip
from mer_helpers.chain.runner import REPO_ROOT


@pytest.fixture(scope="module")
def bad_folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("bad_folder")
    rng = np.random.default_rng(0)
    rows = []
    for s in range(3):
        for label in ("happy", "sad", "surprise"):
            cid = f"s{s}_{label}"
            frames = (rng.random((8, 32, 32, 3)) * 255).astype(np.uint8)
            write_clip(root / f"{cid}.mp4", frames, 8, audio=0.1 * rng.standard_normal(8000).astype(np.float32), sr=8000)
            rows.append((cid, f"{cid}.mp4", label, f"spk{s}"))
    good = (root / "s0_happy.mp4").read_bytes()
    (root / "truncated.mp4").write_bytes(good[: len(good) // 3])
    (root / "empty.mp4").write_bytes(b"")
    write_clip(root / "silent.mp4", (rng.random((8, 32, 32, 3)) * 255).astype(np.uint8), 8)  # no audio stream
    rows += [("truncated", "truncated.mp4", "sad", "spk0"), ("empty", "empty.mp4", "happy", "spk1"),
             ("silent", "silent.mp4", "surprise", "spk2"), ("angry_one", "s1_sad.mp4", "angry", "spk1")]
    pd.DataFrame(rows, columns=["clip_id", "path", "label", "speaker"]).to_csv(root / "labels.csv", index=False)
    return root


def _run(folder, out, mode):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    return subprocess.run([sys.executable, "-m", "mer_helpers", "run", "--dataset", "folder", "--data-root", str(folder),
                           "--out", str(out), "--notebooks", "00", "-p", "on_bad_input", mode],
                          capture_output=True, text=True, env=env, cwd=REPO_ROOT)


BAD = {"truncated", "empty", "silent", "angry_one"}


@pytest.mark.slow  # subprocess `mer run`
def test_stop_names_every_bad_clip(bad_folder, tmp_path):
    proc = _run(bad_folder, tmp_path / "out", "stop")
    assert proc.returncode == 2  # bad clips in stop mode, as `mer predict`
    msg = proc.stderr + proc.stdout
    assert "00_data.ipynb" in msg
    for cid in BAD:
        assert f"clip {cid} (" in proc.stderr, f"{cid} not named on stderr"
    assert "clip truncated (truncated.mp4): corrupt or truncated: " in proc.stderr
    nb = (tmp_path / "out" / "notebooks" / "00_data.ipynb").read_text()
    for cid in BAD:
        assert cid in nb, f"{cid} not named in the error"


@pytest.mark.slow  # subprocess `mer run` through the chain
def test_skip_lists_bad_clips_in_metrics(bad_folder, tmp_path):
    proc = _run(bad_folder, tmp_path / "out", "skip")
    assert proc.returncode == 3, proc.stderr[-2000:]  # done, some clips skipped
    m = json.loads((tmp_path / "out" / "metrics.json").read_text())
    skipped = {s["clip_id"]: s["reason"] for s in m["skipped_clips"]}
    assert set(skipped) == BAD
    assert "audio" in skipped["silent"].lower()
    assert m["n_clips"] == 9
    labels = pd.read_csv(tmp_path / "out" / "artifacts" / "labels.csv")
    assert not set(labels["clip_id"]) & BAD
