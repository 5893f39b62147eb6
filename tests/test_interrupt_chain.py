"""Ctrl-C for real: a terminal's Ctrl-C (SIGINT to the whole foreground process group) reaches a
`mer run` of the sample while notebook 01 sends its clips to the Dask workers. The run must say
one line on standard error (`mer: interrupted`, no traceback of the kernel, of ZMQ or of a
Dask worker), exit 130, leave no process and nothing half-written behind, and the same command
must then resume (00 skipped) and finish.

Slow: the chain is 00-01 (a fresh cache, so that 01 is still decoding clips when interrupted),
about 1-2 minutes on 2 cores.
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

from conftest import chain_env
from mer_helpers.chain.runner import REPO_ROOT

pytestmark = pytest.mark.slow
SAMPLE = REPO_ROOT / "data" / "sample"
CHAIN = ["00", "01"]


def _cmd(out: Path) -> list[str]:
    return [sys.executable, "-m", "mer_helpers", "run", "--dataset", "sample", "--out", str(out),
            "-p", "backbone_weights", "none", "--notebooks", *CHAIN]


def _sigint_default() -> None:  # a shell's background job may have been started with SIGINT ignored
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _descendants(pid: int) -> list:
    try:
        import psutil

        return psutil.Process(pid).children(recursive=True)
    except Exception:
        return []


def _clip_work_started(cache_dir: Path) -> bool:
    """True once 01 has written a clip's entry to the cache (any folder but 00's `probe/`)."""
    return any(p.is_file() for d in cache_dir.glob("*") if d.name != "probe" for p in d.rglob("*"))


def test_ctrl_c_prints_one_line_and_the_rerun_resumes(tmp_path):
    if not (SAMPLE / "labels.csv").exists():
        pytest.skip("data/sample/labels.csv is missing: build it with scripts/build_sample.py")
    out, cache_dir = tmp_path / "out", tmp_path / "cache"
    env = chain_env(MER_CACHE_DIR=str(cache_dir), MER_PROGRESS="plain", PYTHONUNBUFFERED="1")
    env.pop("MER_CACHE_LOG", None)
    log_out, log_err = tmp_path / "run1.out", tmp_path / "run1.err"
    with open(log_out, "w") as fo, open(log_err, "w") as fe:
        proc = subprocess.Popen(_cmd(out), cwd=REPO_ROOT, env=env, stdout=fo, stderr=fe,
                                start_new_session=True, preexec_fn=_sigint_default)
        kids = []
        try:
            deadline = time.monotonic() + 420
            while time.monotonic() < deadline and proc.poll() is None:
                if "01_audio_extraction.ipynb (preset" in log_out.read_text():
                    break
                time.sleep(0.2)
            assert proc.poll() is None, f"the run ended before 01 started:\n{log_out.read_text()}{log_err.read_text()}"
            # interrupt once 01's clips are on the workers: its first decoded clip is in the cache
            # (00 writes only `probe/`). Tied to the work, not the clock: 01 takes 8 s on a fast machine.
            while time.monotonic() < deadline and proc.poll() is None and not _clip_work_started(cache_dir):
                time.sleep(0.05)
            assert proc.poll() is None and "01_audio_extraction.ipynb done" not in log_out.read_text(), \
                f"01 ended before any clip of it was seen in the cache:\n{log_out.read_text()}"
            kids = _descendants(proc.pid)  # the workers, and the kernel (a session of its own)
            os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does
            rc = proc.wait(timeout=120)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=60)
    err = log_err.read_text()
    lines = err.splitlines()
    assert rc == 130, err[-3000:]
    assert "Traceback" not in err, err[-3000:]
    assert lines.count("mer: interrupted") == 1 and len(lines) < 5, err[-3000:]

    # nothing left running: the workers and the kernel went with the run
    time.sleep(2)
    alive = [k for k in kids if k.is_running() and k.status() != "zombie"]
    assert not alive, [(k.pid, " ".join(k.cmdline())[:120]) for k in alive]

    # nothing half-written: no temporary or empty file, 01 is not recorded as finished
    bad = [str(p) for root in (out, cache_dir) for p in root.rglob("*")
           if p.is_file() and (".tmp" in p.name or p.stat().st_size == 0)]
    assert not bad, bad
    for p in (out / "artifacts").rglob("*.json"):
        json.loads(p.read_text())
    recorded = json.loads((out / "artifacts" / "fingerprints.json").read_text())["notebooks"]
    assert sorted(recorded) == ["00_data.ipynb"]
    assert not (out / "metrics.json").exists()

    # the same command resumes after 00 and finishes
    p = subprocess.run(_cmd(out), cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=900,
                       preexec_fn=_sigint_default)
    text = p.stdout + p.stderr
    assert p.returncode == 0, text[-4000:]
    assert "[mer run] 00_data.ipynb skipped (unchanged)" in p.stdout, text[-3000:]
    assert "[mer run] 01_audio_extraction.ipynb done in" in p.stdout, text[-3000:]
    assert "Traceback" not in p.stderr and "KeyboardInterrupt" not in p.stderr, p.stderr[-3000:]
    recorded = json.loads((out / "artifacts" / "fingerprints.json").read_text())["notebooks"]
    assert sorted(recorded) == ["00_data.ipynb", "01_audio_extraction.ipynb"]
    assert (out / "metrics.json").is_file()
