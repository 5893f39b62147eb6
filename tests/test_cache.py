"""The content cache verifies what it serves and computes each entry once across processes."""
from __future__ import annotations

import json
import multiprocessing as mp
import os
import time
from pathlib import Path

import numpy as np
import pytest

from mer_helpers.core import cache, cache_events


@pytest.fixture(autouse=True)
def _fresh(isolated_cache):
    cache_events.reset_stats()
    yield isolated_cache
    cache_events.reset_stats()


def _arrays_counter():
    calls = []

    def compute():
        calls.append(1)
        return {"x": np.arange(1000, dtype=np.float64), "name": np.array("clip")}

    return calls, compute


def test_entries_get_a_sidecar_and_hits_are_counted():
    calls, compute = _arrays_counter()
    k = cache.make_key("s", p=1)
    a = cache.cached_arrays("s", k, compute, derived_from=["parent0"])
    b = cache.cached_arrays("s", k, compute)
    assert len(calls) == 1 and np.array_equal(a["x"], b["x"]) and str(b["name"]) == "clip"
    path = cache.entry_path("s", k, ".npz")
    rec = json.loads(cache.sidecar_path(path).read_text())
    assert rec["size"] == path.stat().st_size and len(rec["sha256"]) == 64
    assert rec["derived_from"] == ["parent0"] and rec["key"] == k
    assert cache_events.stats() == {"s": {"hits": 1, "misses": 1, "rebuilt": 0}}


def test_truncated_npz_entry_is_rebuilt_and_counted():
    calls, compute = _arrays_counter()
    k = cache.make_key("s", p=2)
    cache.cached_arrays("s", k, compute)
    path = cache.entry_path("s", k, ".npz")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    r = cache.cached_arrays("s", k, compute)
    assert len(calls) == 2 and np.array_equal(r["x"], np.arange(1000))
    assert cache.verify_entry(path) and path.stat().st_size == len(data)
    # same size, one byte flipped: the checksum catches it
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    path.write_bytes(bytes(raw))
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 10_000_000))  # a new mtime, as any rewrite has
    cache.cached_arrays("s", k, compute)
    assert len(calls) == 3
    assert cache_events.stats()["s"] == {"hits": 0, "misses": 1, "rebuilt": 2}


def test_truncated_file_entry_is_rebuilt_and_counted():
    made = []

    def produce(tmp: Path):
        made.append(1)
        tmp.write_bytes(b"RIFF" + bytes(range(256)) * 8)

    k = cache.make_key("wav", p=1)
    p1 = cache.cached_file("wav", k, ".wav", produce)
    good = p1.read_bytes()
    assert cache.cached_file("wav", k, ".wav", produce) == p1 and len(made) == 1
    p1.write_bytes(good[:100])
    p2 = cache.cached_file("wav", k, ".wav", produce)
    assert p2 == p1 and p2.read_bytes() == good and len(made) == 2
    assert cache_events.stats()["wav"] == {"hits": 1, "misses": 1, "rebuilt": 1}


def test_entry_without_sidecar_is_rebuilt():
    calls, compute = _arrays_counter()
    k = cache.make_key("s", p=3)
    path = cache.entry_path("s", k, ".npz")
    np.savez(path, x=np.zeros(3))  # an entry of an older version: no sidecar
    r = cache.cached_arrays("s", k, compute)
    assert len(calls) == 1 and r["x"].shape == (1000,) and cache.verify_entry(path)
    assert cache_events.stats()["s"]["rebuilt"] == 1
    # a sidecar that is not JSON counts as missing
    cache.sidecar_path(path).write_text("not json")
    cache.cached_arrays("s", k, compute)
    assert len(calls) == 2 and cache_events.stats()["s"]["rebuilt"] == 2


def test_make_key_inputs_change_the_key_and_default_is_unchanged():
    base = cache.make_key("derived", p=1)
    assert cache.make_key("derived", p=1, inputs=[]) == base
    k1 = cache.make_key("derived", p=1, inputs=["a" * 32])
    k2 = cache.make_key("derived", p=1, inputs=["b" * 32])
    assert len({base, k1, k2}) == 3


def _worker(cache_dir: str, log: str, barrier) -> None:
    os.environ["MER_CACHE_DIR"] = cache_dir
    from mer_helpers.core import cache as c

    def compute():
        with open(log, "a") as f:
            f.write(f"{os.getpid()}\n")
        time.sleep(1.0)
        return {"x": np.arange(10)}

    barrier.wait(timeout=60)
    r = c.cached_arrays("shared", "ab" * 16, compute)
    assert np.array_equal(r["x"], np.arange(10))


def test_two_processes_compute_one_entry_once(isolated_cache, tmp_path):
    ctx = mp.get_context("spawn")
    log = tmp_path / "computed.log"
    barrier = ctx.Barrier(2)
    procs = [ctx.Process(target=_worker, args=(str(isolated_cache), str(log), barrier)) for _ in range(2)]
    t0 = time.perf_counter()
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0, 0]
    assert len(log.read_text().splitlines()) == 1, log.read_text()
    assert time.perf_counter() - t0 < 60
    assert cache.verify_entry(cache.entry_path("shared", "ab" * 16, ".npz"))
