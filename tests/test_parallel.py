"""mer_helpers.core.parallel without a cluster (MER_DASK_SCHEDULER=none, as conftest sets for unit
tests); the same functions on a real LocalCluster are in tests/test_dask.py."""
from __future__ import annotations

import functools
import os
import socket
import time

import pytest

from mer_helpers.core import media, parallel


def _square_or_fail(x):
    if x == 3:
        raise media.MediaError("clip three.mp4: no audio stream")
    return x * x


def _cache_dir(_):
    return os.environ["MER_CACHE_DIR"]


@pytest.mark.parametrize("value, expected", [
    ("tcp://h:8786", "tcp://h:8786"), ("  tcp://h:8786 ", "tcp://h:8786"), ("none", None),
    ("OFF", None), ("", None)])
def test_scheduler_address_argument(value, expected):
    assert parallel.scheduler_address(value) == expected


def test_scheduler_address_reads_the_environment(monkeypatch):
    monkeypatch.setenv("MER_DASK_SCHEDULER", "tcp://10.0.0.1:8786")
    assert parallel.scheduler_address() == "tcp://10.0.0.1:8786"
    assert parallel.scheduler_address("none") is None  # the argument wins
    monkeypatch.delenv("MER_DASK_SCHEDULER")
    assert parallel.scheduler_address() is None


def test_no_client_and_no_joblib_backend_when_dask_is_off(monkeypatch):
    monkeypatch.setenv("MER_DASK_SCHEDULER", "none")
    assert parallel.get_client() is None and parallel.current_client() is None
    with parallel.joblib_backend() as client:
        assert client is None


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_map_clips_without_dask_keeps_order_and_cache(n_jobs, isolated_cache):
    assert parallel.map_clips(_square_or_fail, [5, 1, 4], desc="t", progress=False, n_jobs=n_jobs) == [25, 1, 16]
    assert parallel.map_clips(_cache_dir, [0, 1], desc="t", progress=False, n_jobs=n_jobs) == [str(isolated_cache)] * 2
    assert parallel.map_clips(_square_or_fail, [], desc="t", progress=False, n_jobs=n_jobs) == []


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_map_clips_error_names_the_clip(n_jobs):
    with pytest.raises(media.MediaError, match=r"^clip three\.mp4: no audio stream$"):
        parallel.map_clips(_square_or_fail, [1, 2, 3, 4], desc="t", progress=False, n_jobs=n_jobs)


def test_session_none_sets_and_restores_the_variable(monkeypatch):
    monkeypatch.setenv("MER_DASK_SCHEDULER", "tcp://previous:1")
    with parallel.session("none") as address:
        assert address is None and os.environ["MER_DASK_SCHEDULER"] == "none"
    assert os.environ["MER_DASK_SCHEDULER"] == "tcp://previous:1"


def test_session_with_an_unreachable_scheduler_fails_fast_naming_it(monkeypatch):
    monkeypatch.setattr(parallel, "CONNECT_TIMEOUT", "2s")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    address = f"tcp://127.0.0.1:{port}"
    t0 = time.perf_counter()
    with pytest.raises(parallel.SchedulerUnreachable) as e:
        with parallel.session(address):
            pytest.fail("the body must not run")
    assert time.perf_counter() - t0 < 15
    msg = str(e.value)
    assert msg.startswith(f"cannot reach the Dask scheduler {address} (") and "--scheduler none" in msg
    assert "\n" not in msg
    assert os.environ["MER_DASK_SCHEDULER"] == "none"  # conftest's value, restored
