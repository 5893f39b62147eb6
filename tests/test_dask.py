"""The per-clip notebooks of the sample chain on a real Dask ``LocalCluster`` (2 worker
processes) give the same artifacts as a run without Dask.

Notebooks 00 (data), 01 (audio extraction), 03 (frame sampling, face crops, summary images)
and 04 (backbone features) run twice with separate caches: once with
``scheduler=cluster.scheduler_address``, once with ``scheduler="none"``. Marked ``slow``.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import pytest

from mer_helpers.core import cache_events, media, parallel
from mer_helpers.methods import selection
from mer_helpers.chain.runner import REPO_ROOT, run_chain

pytestmark = pytest.mark.slow
SAMPLE = REPO_ROOT / "data" / "sample"
#: the notebooks whose work is per clip (02 fits the audio autoencoder in the kernel: not needed)
NOTEBOOKS = ["00", "01", "03", "04"]
#: JSON keys that hold wall times or run-specific values, not results
VOLATILE = {"timings_s", "seconds", "images_per_s", "wall_s", "finished", "fit_time_s", "out_dir"}


def _strip(obj):
    if isinstance(obj, dict):
        return {k: _strip(v) for k, v in obj.items()
                if k not in VOLATILE and not k.endswith("_s") and not k.startswith("t_")}
    if isinstance(obj, list):
        return [_strip(v) for v in obj]
    return obj


def _run(out: Path, cache_dir: Path, scheduler: str, monkeypatch) -> float:
    monkeypatch.setenv("MER_CACHE_DIR", str(cache_dir))
    t0 = time.perf_counter()
    # the smoke preset with 2 folds and 1 autoencoder epoch: the per-clip work is the whole
    # sample's all the same, the fits done in the kernel (not what is tested here) are cheaper
    run_chain("sample", out, params={"backbone_weights": "none", "n_folds": 2, "cae_epochs": 1},
              only=NOTEBOOKS, scheduler=scheduler, log=lambda *a: None)
    return time.perf_counter() - t0


#: cache stages whose entries per-clip tasks look up and compute (backbone entries are looked up
#: by the kernel, which logs their misses, and computed in chunks on the workers)
PER_CLIP = {"audio_wav", "audio_mfcc", "frames"}


def test_sample_chain_on_a_local_cluster_equals_a_run_without_dask(tmp_path, monkeypatch):
    if not (SAMPLE / "labels.csv").exists():
        pytest.skip("data/sample/labels.csv is missing")
    log = tmp_path / "cache-events.jsonl"
    monkeypatch.setenv("MER_CACHE_LOG", str(log))  # inherited by the workers and the kernels
    cluster = parallel.start_local_cluster(n_workers=2)
    try:
        address = cluster.scheduler_address
        client = parallel._connect(address)
        worker_pids = set(client.run(os.getpid).values())
        quiet = client.run(lambda dask_worker: ("profile" in dask_worker.periodic_callbacks, dask_worker._tick_interval))
        assert set(quiet.values()) == {(False, 1.0)}  # no profiler, a slow event-loop check: cheap while idle
        client.close()
        t_dask = _run(tmp_path / "dask", tmp_path / "cache-dask", address, monkeypatch)
    finally:
        cluster.close()
    n_dask_events = len(cache_events.read_log(log))
    t_none = _run(tmp_path / "none", tmp_path / "cache-none", "none", monkeypatch)
    print(f"\n[test_dask] on the LocalCluster {t_dask:.1f} s, without Dask {t_none:.1f} s")

    # every per-clip entry of the Dask run was computed by the cluster's two workers; the run
    # without Dask computed its own in other processes (kernels, joblib workers)
    events = cache_events.read_log(log)
    made = [e for e in events[:n_dask_events] if e["event"] == "miss" and e["stage"] in PER_CLIP]
    assert {e["stage"] for e in made} == PER_CLIP
    assert {e["pid"] for e in made} <= worker_pids and len(worker_pids) == 2
    assert not {e["pid"] for e in events[n_dask_events:]} & worker_pids

    a, b = tmp_path / "dask" / "artifacts", tmp_path / "none" / "artifacts"
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    assert {f.suffix for f in files} >= {".npz", ".png", ".csv", ".json"}
    for rel in files:
        if rel.name == "fingerprints.json":
            continue  # wall times and finishing times of the notebooks
        x, y = a / rel, b / rel
        if rel.suffix == ".npz":
            with np.load(x, allow_pickle=False) as fx, np.load(y, allow_pickle=False) as fy:
                assert sorted(fx.files) == sorted(fy.files), rel
                for k in fx.files:
                    u, v = fx[k], fy[k]
                    assert u.shape == v.shape and u.dtype == v.dtype, (rel, k)
                    if u.dtype.kind == "f":
                        # backbone features: the same chunks of images go through the network
                        # in another process (Dask workers run with OMP_NUM_THREADS=1, and
                        # oneDNN may pick other kernels), so the last bits may differ (bitwise
                        # equal where this was written); a different network, e.g. random init
                        # drawn differently in a worker, differs by whole units
                        np.testing.assert_allclose(u, v, rtol=1e-5, atol=1e-5, err_msg=f"{rel}:{k}")
                    else:
                        assert np.array_equal(u, v), (rel, k)
        elif rel.suffix == ".json":
            assert _strip(json.loads(x.read_text())) == _strip(json.loads(y.read_text())), rel
        else:  # ids, labels, csv tables, summary images
            assert x.read_bytes() == y.read_bytes(), rel


def _cache_and_pid(x):
    if x == "bad.mp4":
        raise media.MediaError("clip bad.mp4: file not found")
    return x, os.environ["MER_CACHE_DIR"], os.environ[parallel.ENV], os.getpid()


def _search(X, y, groups):
    sel = selection.ZebraFeatureSelector(population=6, iterations=3, random_state=0, n_jobs=2)
    return sel.fit(X, y, groups)


def test_map_clips_and_joblib_backend_on_a_local_cluster(tmp_path, monkeypatch):
    """Tasks run in the workers, in order, with the client's cache folder and no nested
    cluster; a failing clip is named; the selector's joblib loop runs there with equal results."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 12))
    y = np.repeat([0, 1], 20)
    X[y == 1, :3] += 2.0
    groups = np.tile(np.arange(8), 5)
    monkeypatch.setenv("MER_DASK_SCHEDULER", "none")
    expected = _search(X, y, groups)

    cluster = parallel.start_local_cluster(n_workers=2)
    try:
        monkeypatch.setenv("MER_DASK_SCHEDULER", cluster.scheduler_address)
        monkeypatch.setenv("MER_CACHE_DIR", str(tmp_path / "client-cache"))  # set after the workers started
        client = parallel.get_client()
        assert client is parallel.get_client()  # one client per process
        worker_pids = set(client.run(os.getpid).values())
        items = [f"c{i}.mp4" for i in range(7)]
        out = parallel.map_clips(_cache_and_pid, items, desc="t", progress=False, n_jobs=1)
        assert [o[0] for o in out] == items
        assert {o[1] for o in out} == {str(tmp_path / "client-cache")}
        assert {o[2] for o in out} == {"none"}
        assert {o[3] for o in out} <= worker_pids and os.getpid() not in worker_pids
        with pytest.raises(media.MediaError, match=r"^clip bad\.mp4: file not found$"):
            parallel.map_clips(_cache_and_pid, ["a.mp4", "bad.mp4", "c.mp4"], desc="t", progress=False)
        with parallel.joblib_backend() as c:
            assert c is client
        got = _search(X, y, groups)
    finally:
        for addr in list(parallel._CLIENTS):
            parallel._CLIENTS.pop(addr).close()
        cluster.close()
    assert np.array_equal(got.support_, expected.support_)
    assert got.history_ == expected.history_
