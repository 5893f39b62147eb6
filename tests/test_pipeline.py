"""The whole chain on the committed sample, end to end through the `mer` command line.

The run goes to ``runs/ci-sample`` (scripts/test.sh then re-executes its notebooks with nbval).
These tests are marked ``slow``: ``pytest -m "not slow"`` leaves them out.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from conftest import chain_env
from mer_helpers.chain.runner import REPO_ROOT, chain_notebooks

pytestmark = pytest.mark.slow
SAMPLE = REPO_ROOT / "data" / "sample"
RUN = REPO_ROOT / "runs" / "ci-sample"
MER = [sys.executable, "-m", "mer_helpers"]


def _mer(*args, check=True, **kw):
    env = chain_env(TF_CPP_MIN_LOG_LEVEL="2")  # Dask as users get it: a local cluster for the run
    proc = subprocess.run([*MER, *map(str, args)], capture_output=True, text=True, env=env, cwd=REPO_ROOT, **kw)
    if check and proc.returncode != 0:
        raise AssertionError(f"mer {' '.join(map(str, args))} failed ({proc.returncode}):\n"
                             f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


@pytest.fixture(scope="session")
def sample_run():
    if not (SAMPLE / "labels.csv").exists():
        pytest.skip("data/sample/labels.csv is missing: build it with scripts/build_sample.py")
    if RUN.exists():
        shutil.rmtree(RUN)
    _mer("run", "--dataset", "sample", "--out", RUN, "-p", "backbone_weights", "none")
    return RUN


def test_every_notebook_executed(sample_run):
    expected = [p.name for p in chain_notebooks()]
    assert len(expected) == 8, expected
    for name in expected:
        nb = json.loads((sample_run / "notebooks" / name).read_text())
        tagged = [c for c in nb["cells"] if "injected-parameters" in c.get("metadata", {}).get("tags", [])]
        assert tagged, f"{name}: papermill did not inject the run's parameters"
        errors = [o for c in nb["cells"] if c["cell_type"] == "code" for o in c.get("outputs", [])
                  if o.get("output_type") == "error"]
        assert not errors, f"{name}: {errors[0]['ename']}: {errors[0]['evalue']}"


def test_results_notebook_shows_the_reference_runs(sample_run):
    """With no ``compare_runs``, notebook 07 sets the book's reference runs (random split beside
    speaker-independent, each preset) below this run's protocol table, labelled as reference runs."""
    from mer_helpers.chain import book

    nb = json.loads((sample_run / "notebooks" / "07_results.ipynb").read_text())
    shown = "".join("".join(o.get("data", {}).get("text/markdown", "")) for c in nb["cells"]
                    if c["cell_type"] == "code" for o in c.get("outputs", []))
    assert "**Reference runs, not this run**" in shown
    strong = json.loads((book.REFERENCE_RUNS / "paired-strong" / "metrics.json").read_text())
    acc = 100 * strong["models"]["bilstm_sa"]["accuracy"]
    assert "| `strong` preset (reference runs) | BiLSTM-SA |" in shown and f"| {acc:.1f} ± " in shown


def test_metrics_json_follows_interface(sample_run):
    m = json.loads((sample_run / "metrics.json").read_text())
    labels = pd.read_csv(SAMPLE / "labels.csv")
    assert m["dataset"] == "sample" and m["protocol"] == "speaker-cv"
    assert m["classes"] == ["happy", "sad", "surprise"]
    assert m["n_clips"] == len(labels) and m["n_speakers"] == labels["speaker"].nunique()
    assert m["folds"] == min(3, labels["speaker"].nunique())  # the smoke preset asks for 3 folds
    assert m["backbone_weights"] == "none" and m["visual_backbone"] == "resnet50"
    f = m["features"]
    assert f["audio"] == 64 and f["visual"] == 2048 and f["total"] == f["audio"] + f["visual"]
    assert 0 < f["selected"] <= f["total"]
    for name in ("bilstm_sa", "bilstm", "cnn"):
        mm = m["models"][name]
        for key in ("accuracy", "accuracy_std", "precision_weighted", "recall_weighted", "f1_weighted",
                    "f1_macro", "f1_macro_std", "auc_ovr"):
            assert 0.0 <= mm[key] <= 1.0, (name, key, mm[key])
        conf = np.array(mm["confusion"])
        assert conf.shape == (3, 3) and conf.sum() == len(labels)  # every clip tested once across folds
        assert abs(np.trace(conf) / conf.sum() - mm["accuracy"]) < 0.1
    assert set(m["feature_selection"]) >= {"none", "kbest", "random", "zoa", "izoa"}
    assert set(m["ablation"]) >= {"audio_only", "visual_only", "fused"}
    assert m["skipped_clips"] == []
    t = m["timings_s"]
    assert all(t[k] > 0 for k in ("audio", "visual", "selection", "classifiers", "total"))
    assert abs(t["total"] - sum(v for k, v in t.items() if k != "total")) < 0.1
    pr = m["plain_references"]
    assert set(pr) == {"mfcc", "pixels", "early_fusion", "late_fusion"}
    assert all(0.0 <= v["f1_macro"] <= 1.0 and v["f1_macro_std"] >= 0.0 for v in pr.values())


def test_splits_keep_speakers_apart(sample_run):
    from mer_helpers.data import splits as sp

    s = json.loads((sample_run / "artifacts" / "splits.json").read_text())
    labels = pd.read_csv(sample_run / "artifacts" / "labels.csv")
    sp.check_speaker_independent(s, labels)


def test_predict_reproduces_final_model(sample_run, tmp_path):
    ref = pd.read_csv(sample_run / "artifacts" / "predictions" / "final_train.csv")
    labels = pd.read_csv(SAMPLE / "labels.csv")
    clips = [SAMPLE / p for p in labels["path"]]
    out = tmp_path / "pred.csv"
    # the smoke preset normalises per person: grouped by speaker (12 clips each, every clip of the
    # person, as in the run's final split) the person-normalised classifier answers every clip
    proc = _mer("predict", sample_run / "model", *clips, "--labels", SAMPLE / "labels.csv", "--out", out,
                "--person-column", "speaker")
    assert "48 clip(s) answered with their person's own statistics" in proc.stderr
    last = proc.stdout.strip().splitlines()[-1]
    assert last.startswith("accuracy=") and "f1_macro=" in last
    pred = pd.read_csv(out).set_index("clip_id")
    ref = ref.set_index("clip_id")
    common = ref.index.intersection(pred.index)
    assert len(common) == len(labels)
    pcols = [c for c in ref.columns if c.startswith("p_")]
    assert np.allclose(pred.loc[common, pcols].to_numpy(float), ref.loc[common, pcols].to_numpy(float), atol=1e-3)
    assert (pred.loc[common, "y_pred"] == ref.loc[common, "y_pred"]).all()


def test_book_builds_from_run(sample_run):
    _mer("book", "--from", sample_run)
    index = REPO_ROOT / "_build" / "html" / "index.html"
    assert index.exists()
    summary = (REPO_ROOT / "_build" / "html" / "book" / "run_summary.html").read_text()
    m = json.loads((sample_run / "metrics.json").read_text())
    assert "randomly initialised" in summary
    assert f"{100 * m['models']['bilstm_sa']['f1_macro']:.1f}" in summary
    env = json.loads((sample_run / "run.json").read_text())["environment"]  # what the numbers were computed on
    assert f"numpy {env['packages']['numpy']}" in summary and "ran on" in summary
