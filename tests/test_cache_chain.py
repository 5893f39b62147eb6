"""Every cache entry is sealed and derived entries are keyed on their inputs (issue 13), checked
on single entries (fast) and on the real chain (slow: partial runs of the committed sample).

Slow part, about 2 minutes on 2 cores: one ``mer run --notebooks 00 01 02`` (shared by the
damage and determinism tests), a forced rerun of 01, two concurrent ``--notebooks 00 01`` runs
on one empty cache and a second ``00 01 02`` run into another folder with another cache.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mer_helpers.core import cache, cache_events
from mer_helpers.chain.runner import REPO_ROOT

SAMPLE = REPO_ROOT / "data" / "sample"
MER = [sys.executable, "-m", "mer_helpers"]
#: keys holding wall times: the only values allowed to differ between two runs with one seed
TIMING_KEYS = {"timings_s", "seconds", "fit_seconds", "encode_seconds", "wall_s", "finished"}


# ------------------------------------------------------------------------------ fast: entries

@pytest.fixture
def fresh(isolated_cache):
    cache_events.reset_stats()
    yield isolated_cache
    cache_events.reset_stats()


def _wav_key(clip: Path, sr=16000) -> str:
    from mer_helpers.methods.audio import WAV_VERSION

    return cache.make_key("audio_wav", files=[clip], sr=sr, version=WAV_VERSION)


def test_mfcc_is_keyed_on_its_wav_and_never_reads_a_damaged_one(fresh, tmp_path, tiny_clip_factory):
    from mer_helpers.methods import audio

    clip = tiny_clip_factory(tmp_path / "c.mp4", seconds=1.0)
    first = audio.clip_mfcc(clip)
    assert not first["cached"] and first["rebuilt"] == 0
    assert audio.clip_mfcc(clip)["cached"]
    wav = cache.entry_path("audio_wav", _wav_key(clip), ".wav")
    [mfcc_entry] = list((fresh / "audio_mfcc").rglob("*.npz"))
    side = json.loads(cache.sidecar_path(mfcc_entry).read_text())
    assert side["derived_from"] == [_wav_key(clip)] and cache.verify_entry(wav)
    p = audio.front_end_params()
    # trim_db and peak_normalize at their defaults are left out of the key: caches made before
    # the two parameters existed stay valid
    assert p["trim_db"] is None and p["peak_normalize"] is True
    old = {k: v for k, v in p.items() if k not in ("trim_db", "peak_normalize")}
    assert mfcc_entry.name == cache.make_key("audio_mfcc", version=audio.MFCC_VERSION,
                                             inputs=[_wav_key(clip)], **old) + ".npz"
    assert mfcc_entry.name == audio.mfcc_key(_wav_key(clip), **p) + ".npz"
    good_wav = wav.read_bytes()
    # the reported bug: the WAV cut in half (header intact) and the MFCC entry missing
    wav.write_bytes(good_wav[:44 + (len(good_wav) - 44) // 2])
    cache.discard(mfcc_entry)
    again = audio.clip_mfcc(clip)
    assert not again["cached"] and again["rebuilt"] == 1          # the WAV, rebuilt before use
    assert wav.read_bytes() == good_wav and np.array_equal(again["mfcc"], first["mfcc"])
    # a truncated MFCC entry: rebuilt, counted, not reported as a cache hit
    raw = mfcc_entry.read_bytes()
    mfcc_entry.write_bytes(raw[: len(raw) // 2])
    r = audio.clip_mfcc(clip)
    assert not r["cached"] and r["rebuilt"] == 1 and np.array_equal(r["mfcc"], first["mfcc"])
    assert cache_events.stats()["audio_mfcc"] == {"hits": 1, "misses": 2, "rebuilt": 1}
    assert cache_events.stats()["audio_wav"]["rebuilt"] == 1


def test_probe_entries_are_sealed(fresh, tmp_path, tiny_clip_factory):
    from mer_helpers.data.validate import probe_clip

    clip = tiny_clip_factory(tmp_path / "a.mp4")
    info = probe_clip(clip)
    [entry] = list((fresh / "probe").rglob("*.json"))
    assert cache.verify_entry(entry) and probe_clip(clip) == info
    entry.write_text(json.dumps(dict(json.loads(entry.read_text()), has_audio=False)))  # unsealed edit
    assert probe_clip(clip) == info and cache.verify_entry(entry)
    assert cache_events.stats()["probe"] == {"hits": 1, "misses": 1, "rebuilt": 1}


def test_backbone_entries_are_sealed(fresh, monkeypatch):
    from mer_helpers.methods import visual as vis

    class Model:  # stands in for the network: one row per image, its mean pixel
        calls = 0

        def predict(self, x, batch_size=32, verbose=0):
            Model.calls += len(x)
            return np.repeat(x.reshape(len(x), -1).mean(axis=1, keepdims=True), 2048, axis=1)

    monkeypatch.setattr(vis, "build_backbone", lambda *a, **k: Model())
    monkeypatch.setattr(vis, "preprocess_images", lambda x, backbone: x.astype(np.float32))
    imgs = np.stack([np.full((8, 8, 3), v, np.uint8) for v in (10, 20, 30)])
    F, st = vis.backbone_features(imgs, "resnet50", "none", progress=False, return_stats=True)
    entries = sorted((fresh / "backbone").rglob("*.npy"))
    assert st.n_computed == 3 and len(entries) == 3 and all(cache.verify_entry(e) for e in entries)
    entries[0].write_bytes(entries[0].read_bytes()[:100])               # truncated
    F2, st2 = vis.backbone_features(imgs, "resnet50", "none", progress=False, return_stats=True)
    # every call is a whole batch (a partial one filled up with copies): 32 rows, then 32 again
    # for the one image recomputed
    assert (st2.n_cached, st2.n_computed, Model.calls) == (2, 1, 64) and np.array_equal(F, F2)
    assert cache_events.stats()["backbone"] == {"hits": 2, "misses": 3, "rebuilt": 1}
    assert all(cache.verify_entry(e) for e in entries)


def test_folder_entries_are_sealed(fresh):
    root = fresh / "paired" / "k1"
    (root / "clips").mkdir(parents=True)
    (root / "clips" / "a.mp4").write_bytes(b"a" * 100)
    (root / "labels.csv").write_text("clip_id\na\n")
    assert cache.check_tree(root, "paired") == "rebuilt"  # present but never sealed
    cache.seal_tree(root, "paired")
    assert cache.check_tree(root, "paired") == "hit"
    (root / "clips" / "a.mp4").write_bytes(b"a" * 50)
    assert cache.check_tree(root, "paired") == "rebuilt" and not (root / "clips" / "a.mp4").exists()
    assert cache.check_tree(fresh / "paired" / "k2", "paired") == "miss"


def test_log_locks_and_stale_temporaries(fresh, tmp_path, monkeypatch):
    log = tmp_path / "cache.log"
    monkeypatch.setenv("MER_CACHE_LOG", str(log))
    k = cache.make_key("s", p=1)
    path = cache.entry_path("s", k, ".npz")
    stale = path.with_name(f".{path.name}.x1y2.tmp.npz")  # left by a writer that was killed
    stale.write_bytes(b"half")
    with cache_events.track() as events:
        cache.cached_arrays("s", k, lambda: {"x": np.arange(3)})
        cache.cached_arrays("s", k, lambda: {"x": np.arange(3)})
    assert [e for _, _, e in events] == ["miss", "hit"] and not stale.exists()
    assert [(e["stage"], e["key"], e["event"]) for e in cache_events.read_log(log)] == [("s", k, "miss"), ("s", k, "hit")]
    assert not [p for p in fresh.rglob("*") if p.is_file() and p.stat().st_size == 0]  # lock files too


# ------------------------------------------------------------------------------ slow: the chain

def _env(cache_dir: Path, **extra) -> dict:
    env = dict(os.environ, MER_CACHE_DIR=str(cache_dir), TF_CPP_MIN_LOG_LEVEL="3", MER_PROGRESS="plain",
               PYTHONUNBUFFERED="1")
    env.pop("MER_CACHE_LOG", None)
    env.update({k: str(v) for k, v in extra.items()})
    return env


def _cmd(out: Path, *notebooks: str, force: bool = False) -> list[str]:
    return [*MER, "run", "--dataset", "sample", "--out", str(out), "-p", "backbone_weights", "none",
            "-p", "n_jobs", "2", "--notebooks", *notebooks, *(["--force"] if force else [])]


def _mer(out: Path, *notebooks: str, cache_dir: Path, force: bool = False, **env) -> str:
    t0 = time.perf_counter()
    p = subprocess.run(_cmd(out, *notebooks, force=force), capture_output=True, text=True, cwd=REPO_ROOT,
                       env=_env(cache_dir, **env), timeout=600)
    assert p.returncode == 0, f"mer run failed ({p.returncode}):\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}"
    print(f"mer run --notebooks {' '.join(notebooks)}: {time.perf_counter() - t0:.1f} s")
    return p.stdout + p.stderr


def _without_timings(obj):
    if isinstance(obj, dict):
        return {k: _without_timings(v) for k, v in obj.items() if k not in TIMING_KEYS}
    if isinstance(obj, list):
        return [_without_timings(v) for v in obj]
    return obj


def _clean_files(*roots: Path) -> list[str]:
    """Temporary or zero-byte files under ``roots`` (there should be none)."""
    bad = []
    for root in roots:
        for p in root.rglob("*"):
            if p.is_file() and (".tmp" in p.name or p.stat().st_size == 0):
                bad.append(str(p))
    return bad


@pytest.fixture(scope="module")
def chain02(tmp_path_factory):
    """``mer run --notebooks 00 01 02`` of the sample into OUT with its own empty cache; the
    artifacts are copied aside at once (the damage test reruns 01 into OUT)."""
    if not (SAMPLE / "labels.csv").exists():
        pytest.skip("data/sample/labels.csv is missing: build it with scripts/build_sample.py")
    d = tmp_path_factory.mktemp("chain02")
    out, c = d / "out", d / "cache"
    _mer(out, "00", "01", "02", cache_dir=c)
    shutil.copytree(out / "artifacts", d / "artifacts_first")
    return {"out": out, "cache": c, "first": d / "artifacts_first", "dir": d}


@pytest.mark.slow
def test_damaged_wav_and_mfcc_are_rebuilt_and_reported(chain02):
    out, c = chain02["out"], chain02["cache"]
    art = out / "artifacts"
    ext = json.loads((art / "audio" / "extraction.json").read_text())
    assert ext["n_rebuilt"] == 0 and ext["n_from_cache"] == 0
    labels = pd.read_csv(art / "labels.csv", dtype={"clip_id": str})
    clip_id, clip = labels["clip_id"][0], Path(labels["path"][0])
    old = os.environ.get("MER_CACHE_DIR")
    os.environ["MER_CACHE_DIR"] = str(c)
    try:
        wav_key = _wav_key(clip, ext["parameters"]["sr"])
        wav = cache.entry_path("audio_wav", wav_key, ".wav")
        from mer_helpers.methods import audio

        npz = cache.entry_path("audio_mfcc", audio.mfcc_key(wav_key, **ext["parameters"]), ".npz")
    finally:
        os.environ.pop("MER_CACHE_DIR") if old is None else os.environ.__setitem__("MER_CACHE_DIR", old)
    assert cache.verify_entry(wav) and cache.verify_entry(npz)
    good_wav = wav.read_bytes()
    wav.write_bytes(good_wav[:44 + (len(good_wav) - 44) // 2])     # header kept, samples cut in half
    raw = npz.read_bytes()
    npz.write_bytes(raw[: len(raw) // 2])
    before = np.load(chain02["first"] / "audio" / "mfcc.npz")
    _mer(out, "01", cache_dir=c, force=True)
    ext = json.loads((art / "audio" / "extraction.json").read_text())
    assert ext["n_rebuilt"] == 2 and ext["n_from_cache"] == ext["n_clips"] - 1, ext
    assert wav.read_bytes() == good_wav and cache.verify_entry(wav) and cache.verify_entry(npz)
    after = np.load(art / "audio" / "mfcc.npz")
    assert sorted(after.files) == sorted(before.files)
    assert np.array_equal(after[clip_id], before[clip_id])
    assert all(np.array_equal(after[k], before[k]) for k in before.files)
    assert not _clean_files(out, c)


@pytest.mark.slow
def test_two_concurrent_runs_compute_every_entry_once(tmp_path):
    if not (SAMPLE / "labels.csv").exists():
        pytest.skip("data/sample/labels.csv is missing")
    c, log = tmp_path / "cache", tmp_path / "cache.log"
    c.mkdir()
    env = _env(c, MER_CACHE_LOG=log)
    outs = [tmp_path / "a", tmp_path / "b"]
    t0 = time.perf_counter()
    procs = [subprocess.Popen(_cmd(o, "00", "01"), cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True) for o in outs]
    logs = [p.communicate(timeout=600)[0] for p in procs]
    print(f"two concurrent mer run --notebooks 00 01: {time.perf_counter() - t0:.1f} s")
    assert [p.returncode for p in procs] == [0, 0], "\n".join(x[-3000:] for x in logs)
    events = cache_events.read_log(log)
    computed = Counter((e["stage"], e["key"]) for e in events if e["event"] in ("miss", "rebuilt"))
    assert events and not [e for e in events if e["event"] == "rebuilt"]
    twice = {k: n for k, n in computed.items() if n != 1}
    assert not twice, f"computed more than once: {twice}"
    assert len({e["pid"] for e in events}) >= 2  # both runs (and their workers) used the cache
    stages = Counter(s for s, _ in computed)
    n = len(pd.read_csv(SAMPLE / "labels.csv"))
    assert stages["audio_wav"] == n and stages["audio_mfcc"] == n and stages["probe"] >= n, stages
    # every sealed entry on disk was computed, once
    on_disk = {(p.relative_to(c).parts[0], p.name.split(".")[0]) for p in c.rglob("*")
               if p.is_file() and not p.name.endswith((cache.SIDECAR_SUFFIX, cache.LOCK_SUFFIX))}
    assert on_disk == set(computed)
    a, b = (np.load(o / "artifacts" / "audio" / "mfcc.npz") for o in outs)
    assert sorted(a.files) == sorted(b.files) and len(a.files) == n
    assert all(np.array_equal(a[k], b[k]) for k in a.files)
    assert not _clean_files(*outs, c)


@pytest.mark.slow
def test_same_seed_gives_identical_artifacts_00_02(chain02):
    """Notebooks 00-02 twice, other folders, other caches: every array identical, every JSON
    identical apart from its timing keys (see book/developers.md, "Determinism")."""
    first = chain02["first"]
    out2 = chain02["dir"] / "out2"
    _mer(out2, "00", "01", "02", cache_dir=chain02["dir"] / "cache2")
    second = out2 / "artifacts"
    files = sorted(p.relative_to(first) for p in first.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(second) for p in second.rglob("*") if p.is_file())
    splits = [p.parent.name for p in files if p.name == "features.npz"]
    assert "final" in splits and len(splits) >= 2
    for rel in files:
        a, b = first / rel, second / rel
        if rel.name == "fingerprints.json":
            continue  # fingerprints are equal, the times of the runs are not
        if rel.suffix == ".npz":
            with np.load(a) as za, np.load(b) as zb:
                assert za.files == zb.files, rel
                for k in za.files:
                    assert np.array_equal(za[k], zb[k]), f"{rel}: array {k} differs"
            assert a.read_bytes() == b.read_bytes(), rel  # np.savez writes fixed zip dates
        elif rel.suffix == ".json":
            assert _without_timings(json.loads(a.read_text())) == _without_timings(json.loads(b.read_text())), rel
        else:
            assert a.read_bytes() == b.read_bytes(), rel
    fa = json.loads((first / "fingerprints.json").read_text())["notebooks"]
    fb = json.loads((second / "fingerprints.json").read_text())["notebooks"]
    assert {k: v["fingerprint"] for k, v in fa.items()} != {}  # recorded
    assert sorted(fa) == sorted(fb)
