"""Resume for real: `mer run` of the sample is killed (SIGKILL, its whole process group) as soon
as notebook 03 starts; the same command then skips 00-02 and finishes the chain.

Slow. To keep CI short the chain is 00-04 by default (00-02 run, 03 is killed, then 03 and the
notebook after it run: about 2 minutes on 2 cores); ``MER_RESUME_CHAIN=all`` runs the whole
chain (about 4 minutes) and also checks the final model metrics. Instead of a second,
uninterrupted run to compare with, it checks that the artifacts of 00-02 are the same bytes
(and modification times) before and after the restart, i.e. they were not re-executed, and that
the rest completed; that two runs with one seed give the same artifacts is checked by
tests/test_cache_chain.py.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mer_helpers.chain.runner import REPO_ROOT, chain_notebooks

pytestmark = pytest.mark.slow
SAMPLE = REPO_ROOT / "data" / "sample"


#: notebook numbers of the chain to run, or "all"
CHAIN = os.environ.get("MER_RESUME_CHAIN", "00 01 02 03 04").split()


def _cmd(out: Path) -> list[str]:
    only = [] if CHAIN == ["all"] else ["--notebooks", *CHAIN]
    return [sys.executable, "-m", "mer_helpers", "run", "--dataset", "sample", "--out", str(out),
            "-p", "backbone_weights", "none", "-p", "n_jobs", "2", *only]


def _snapshot(root: Path) -> dict[str, tuple[bytes, int]]:
    return {str(p.relative_to(root)): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(root.rglob("*")) if p.is_file()}


def _kill_tree(proc: subprocess.Popen) -> None:
    """SIGKILL the run's process group, and its descendants that left the group (Jupyter starts
    each kernel in a session of its own), each by its id."""
    try:
        import psutil

        kids = psutil.Process(proc.pid).children(recursive=True)
    except Exception:  # psutil missing or the run already gone: the group is all we know
        kids = []
    os.killpg(os.getpgid(proc.pid), signal.SIGKILL)
    for k in kids:
        try:
            k.kill()
        except Exception:
            pass
    proc.wait(timeout=60)
    for k in kids:
        try:
            k.wait(timeout=30)
        except Exception:
            pass


def test_killed_run_resumes_after_the_last_finished_notebook(tmp_path):
    if not (SAMPLE / "labels.csv").exists():
        pytest.skip("data/sample/labels.csv is missing: build it with scripts/build_sample.py")
    out, cache_dir = tmp_path / "out", tmp_path / "cache"
    env = dict(os.environ, MER_CACHE_DIR=str(cache_dir), TF_CPP_MIN_LOG_LEVEL="3", MER_PROGRESS="plain",
               PYTHONUNBUFFERED="1")
    env.pop("MER_CACHE_LOG", None)
    names = [p.name for p in chain_notebooks(only=None if CHAIN == ["all"] else CHAIN)]
    first, nb03 = names[:3], names[3]
    assert nb03.startswith("03_")

    t0 = time.perf_counter()
    log1 = tmp_path / "run1.log"
    with open(log1, "w") as f:
        proc = subprocess.Popen(_cmd(out), cwd=REPO_ROOT, env=env, stdout=f, stderr=subprocess.STDOUT,
                                start_new_session=True)
        try:
            deadline = time.monotonic() + 420
            while time.monotonic() < deadline and proc.poll() is None:
                if (out / "notebooks" / nb03).exists() or f"{nb03} (preset" in log1.read_text():
                    break
                time.sleep(0.2)
            assert proc.poll() is None, f"the run ended before 03 started:\n{log1.read_text()[-3000:]}"
            assert time.monotonic() < deadline, "03 did not start within 7 minutes"
        finally:
            if proc.poll() is None:
                _kill_tree(proc)
    t_kill = time.perf_counter() - t0
    text1 = log1.read_text()
    assert all(f"{n} done in" in text1 for n in first) and f"{nb03} done in" not in text1, text1[-3000:]
    assert not (out / "metrics.json").exists()
    recorded = json.loads((out / "artifacts" / "fingerprints.json").read_text())["notebooks"]
    assert sorted(recorded) == first  # 03 was started, so it is not recorded as finished
    kept = {"artifacts": _snapshot(out / "artifacts"), "model": _snapshot(out / "model"),
            "notebooks": {k: v for k, v in _snapshot(out / "notebooks").items() if k in first}}
    kept["artifacts"].pop("fingerprints.json")

    t1 = time.perf_counter()
    p = subprocess.run(_cmd(out), cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=900)
    t_resume = time.perf_counter() - t1
    text2 = p.stdout + p.stderr
    print(f"killed after {t_kill:.1f} s (at the start of {nb03}); the resumed run took {t_resume:.1f} s")
    assert p.returncode == 0, text2[-4000:]
    for n in first:
        assert f"[mer run] {n} skipped (unchanged)" in text2, text2[-3000:]
        assert f"[mer run] {n} (preset" not in text2
    for n in names[3:]:
        assert f"[mer run] {n} done in" in text2, text2[-3000:]

    # 00-02 were not re-executed: their artifacts and executed notebooks are the same files
    after = {"artifacts": _snapshot(out / "artifacts"), "model": _snapshot(out / "model"),
             "notebooks": _snapshot(out / "notebooks")}
    for part, files in kept.items():
        for rel, (data, mtime) in files.items():
            assert rel in after[part], f"{part}/{rel} disappeared"
            assert after[part][rel] == (data, mtime), f"{part}/{rel} was rewritten"
    recorded = json.loads((out / "artifacts" / "fingerprints.json").read_text())["notebooks"]
    assert sorted(recorded) == names

    # 03 and the rest completed: every executed notebook without an error, and the metrics
    for n in names:
        nb = json.loads((out / "notebooks" / n).read_text())
        errors = [o for c in nb["cells"] if c["cell_type"] == "code" for o in c.get("outputs", [])
                  if o.get("output_type") == "error"]
        assert not errors, f"{n}: {errors[0]['ename']}: {errors[0]['evalue']}"
    m = json.loads((out / "metrics.json").read_text())
    # the skipped notebooks keep their wall times (from fingerprints.json: the killed run wrote
    # no metrics.json)
    assert set(m["timings_s_notebooks"]) == {n[:-len(".ipynb")] for n in names}
    assert all(v > 0 for v in m["timings_s_notebooks"].values())
    if any(n.startswith("06_") for n in names):
        for name in ("bilstm_sa", "bilstm", "cnn"):
            assert 0.0 <= m["models"][name]["f1_macro"] <= 1.0
            assert m["models"][name]["confusion"]

    # nothing half-written left behind: no temporary or zero-byte file in OUT or the cache
    bad = [str(p) for root in (out, cache_dir) for p in root.rglob("*")
           if p.is_file() and (".tmp" in p.name or p.stat().st_size == 0)]
    assert not bad, bad
