"""Notebook 03 streams: the frames of at most one clip (one encoder group in ``shared`` mode) are
in memory at a time, and the streamed results equal the all-in-memory ones.

The frame loaders are instrumented: every array they hand out is followed with
``weakref.finalize``, so the tests count the clips whose frames are alive at each read.
"""
from __future__ import annotations

import weakref
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mer_helpers.methods import frames as fr
from mer_helpers.methods import summary as sm
from mer_helpers.methods import summary_files
from mer_helpers.stages import summary_images

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"
S = 16


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("MER_CACHE_DIR", str(tmp_path / "cache"))


class Alive:
    """Counts the arrays handed out that are still referenced somewhere."""

    def __init__(self):
        self.alive, self.peak, self.reads = 0, 0, []

    def follow(self, key, arr):
        self.reads.append(key)
        self.alive += 1
        self.peak = max(self.peak, self.alive)
        weakref.finalize(arr, self._gone)
        return arr

    def _gone(self):
        self.alive -= 1


# ----------------------------------------------------------------------------- the sampling pass

def test_sample_stream_holds_one_clip_and_matches_sample_clips(monkeypatch):
    labels = pd.read_csv(SAMPLE / "labels.csv").iloc[[0, 13, 26, 44]]  # 44: 2 of 7 frames without a face
    paths = [str(SAMPLE / p) if not Path(p).is_absolute() else p for p in labels["path"]]
    ids = labels["clip_id"].astype(str).tolist()
    ref, ref_report = fr.sample_clips(paths, 5, 32, True, n_jobs=1, dtype="uint8", progress=False, ids=ids,
                                      face_only=True)
    face_frames = ref  # face_only=True: what the grey thumbnails are made of
    every, every_report = fr.sample_clips(paths, 5, 32, True, n_jobs=1, dtype="uint8", progress=False, ids=ids)
    assert sum(map(len, ref)) < sum(map(len, every))  # the mask matters on these clips

    seen = Alive()
    real = fr._load_cached
    monkeypatch.setattr(fr, "_load_cached", lambda p, *a: (lambda t: (seen.follow(p, t[0]), *t[1:]))(real(p, *a)))
    got = fr.sample_stream(paths, ids, 5, 32, True, n_jobs=1, face_only=False, grey_size=8, progress=False)
    assert seen.peak == 1 and seen.alive == 0       # one clip at a time, none kept
    assert len(seen.reads) == 2 * len(paths)         # filled the cache, then read each clip once
    pd.testing.assert_frame_equal(got.report, every_report)
    np.testing.assert_array_equal(got.grey, fr.grey_means(face_frames, 8))
    assert got.grey.shape == (4, 64) and 0 < got.grey.min() and got.grey.max() < 1

    # the store reads on access and keeps nothing; its lengths need no read
    store = got.store
    n_reads = len(seen.reads)
    assert list(store) == ids and ids[1] in store and "nope" not in store and len(seen.reads) == n_reads
    assert store.lengths == dict(zip(ids, map(len, every)))
    for c, want in zip(ids, every):
        np.testing.assert_array_equal(store[c], want)
    assert seen.alive == 0 and len(seen.reads) == n_reads + len(ids)
    face_store = fr.sample_stream(paths, ids, 5, 32, True, n_jobs=1, face_only=True, grey_size=8,
                                  progress=False)
    pd.testing.assert_frame_equal(face_store.report, ref_report)
    assert face_store.store.lengths == dict(zip(ids, map(len, ref)))
    np.testing.assert_array_equal(face_store.store[ids[2]], ref[2])


# ----------------------------------------------------------------------------- the summary pass

class LazyFrames(Mapping):
    """Clip id -> frames, made afresh on every access (like a cache read) and followed."""

    def __init__(self, data, with_lengths=True):
        self._data, self.seen = data, Alive()
        self.lengths = {c: len(f) for c, f in data.items()} if with_lengths else None

    def __getitem__(self, c):
        return self.seen.follow(c, self._data[c].copy())

    def __contains__(self, c):
        return c in self._data

    def __iter__(self):
        return iter(self._data)

    def __len__(self):
        return len(self._data)


class Fitted(list):
    encoded: list


@pytest.fixture
def fake_cae(monkeypatch):
    """No TensorFlow: ``fit`` records its frames (and ``transform`` the size of each call in
    ``fitted.encoded``), the codes are a fixed subsample of the pixels."""
    fitted = Fitted()
    fitted.encoded = []

    def fit(self, X, y=None):
        fitted.append(np.array(X))
        self.history_, self.n_train_frames_ = [0.25], len(X)
        return self

    def transform(self, X):
        X = sm._to_float(sm._check_frames(X, self.frame_size))
        fitted.encoded.append(len(X))
        return X.reshape(len(X), -1)[:, ::29].copy()

    monkeypatch.setattr(sm.ConvAutoencoder, "fit", fit)
    monkeypatch.setattr(sm.ConvAutoencoder, "transform", transform)
    return fitted


def synthetic_clips(n=15, seed=0):
    rng = np.random.default_rng(seed)
    return {f"c{i:02d}": rng.integers(0, 256, (int(rng.integers(4, 8)), S, S, 3), dtype=np.uint8)
            for i in range(n)}


def files(root):
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(Path(root).rglob("*")) if p.is_file()}


@pytest.mark.parametrize("mode", ["shared", "average", "all"])
def test_run_split_streams_and_writes_what_the_in_memory_path_writes(tmp_path, monkeypatch, fake_cae, mode):
    monkeypatch.setattr(sm, "ENCODE_FRAMES", 10)  # an encoder group: 2-3 clips of 4-7 frames
    data = synthetic_clips()
    ids = list(data)
    split = {"name": "fold0", "train": ids[:9], "test": ids[9:]}
    params = dict(summary_mode=mode, n_clusters=2, frame_size=S, cae_max_frames=12, average_segments=2,
                  progress=False)
    keep = ["c03", "c11"]

    # all in memory: every clip's frames and results at once (the code before streaming)
    model = sm.SummaryImages(**params).fit([data[c] for c in split["train"]])
    ref = dict(zip(ids, model.select([data[c] for c in ids], clip_ids=ids)))
    ref_index = summary_files.write_summary(tmp_path / "ref", "fold0", ref)
    ref_fit, ref_encoded = list(fake_cae), fake_cae.encoded
    fake_cae.clear()
    fake_cae.encoded = []

    lazy = LazyFrames(data)
    got = summary_images.run_split(tmp_path / "got", split, lazy, keep=keep, **params)
    assert files(tmp_path / "got") == files(tmp_path / "ref")        # every PNG and index.csv, bytewise
    pd.testing.assert_frame_equal(got.table, summary_files.results_table(ref))
    assert set(got.images) == set(keep) and all(np.array_equal(got.images[c], ref[c].images) for c in keep)
    assert got.info["images"] == len(ref_index) == sum(len(r.images) for r in ref.values())
    kept = len(keep) if mode == "all" else 0  # "all": the kept images are the clips' frames themselves
    assert lazy.seen.alive == kept
    reads = lazy.seen.reads
    if mode == "shared":
        assert len(fake_cae) == 1 and np.array_equal(fake_cae[0], ref_fit[0])
        # the encoder groups of the code before streaming: clips gathered until >= 10 frames
        groups, size = [], 0
        for c in ids:
            size += len(data[c])
            if size >= 10:
                groups, size = groups + [size], 0
        assert fake_cae.encoded == ref_encoded == groups + ([size] if size else [])
        # the draw of the code before streaming: (clip, frame) pairs of all training frames
        pairs = np.array([(c, j) for c, n in enumerate(len(data[i]) for i in split["train"]) for j in range(n)])
        pick = np.sort(np.random.default_rng(42).choice(len(pairs), size=12, replace=False))
        want = np.stack([data[split["train"][c]][j] for c, j in pairs[pick]]).astype(np.float32) / 255
        assert np.array_equal(fake_cae[0], want) and got.info["cae_train_frames"] == 12
        drawn = sorted({split["train"][c] for c in pairs[pick, 0]})
        fit_reads, reads = reads[:len(drawn)], reads[len(drawn):]
        assert fit_reads == drawn                      # the fit read only the clips it drew from, once each
        assert lazy.seen.peak <= 4                     # one encoder group (<= 3 clips) and the next clip
    else:  # the clip being read and the one just summarised (its name is rebound after the read)
        assert lazy.seen.peak == 2 + kept and got.info["cae_train_frames"] == 0
    assert reads == ids                                # then each clip once, in order


def test_reused_split_copies_the_index(tmp_path):
    data = synthetic_clips(6)
    lazy = LazyFrames(data, with_lengths=False)
    ids = list(data)
    first = summary_images.run_split(tmp_path, {"name": "fold0", "train": ids[:4]}, lazy, summary_mode="average",
                         frame_size=S, progress=False)
    n_reads = len(lazy.seen.reads)
    again = summary_images.run_split(tmp_path, {"name": "final", "train": ids}, lazy, reuse=first, summary_mode="average",
                         frame_size=S, progress=False)
    assert len(lazy.seen.reads) == n_reads                           # nothing read again
    index = tmp_path / "summary" / "{}" / "index.csv"
    assert Path(str(index).format("final")).read_bytes() == Path(str(index).format("fold0")).read_bytes()
    assert again.info["train_clips"] == 6 and again.info["images"] == 6 and again.table is first.table


def test_fit_ids_without_lengths_reads_each_training_clip_for_its_length(fake_cae):
    data = synthetic_clips(5)
    lazy = LazyFrames(data, with_lengths=False)
    m = sm.SummaryImages("shared", frame_size=S, cae_max_frames=None, progress=False).fit_ids(lazy, ["c01", "c03"])
    assert lazy.seen.reads == ["c01", "c03", "c01", "c03"] and lazy.seen.peak == 1
    assert m.n_train_frames_ == len(data["c01"]) + len(data["c03"]) and m.n_train_clips_ == 2


def test_grid_clips_are_the_clips_the_grid_shows():
    import matplotlib

    matplotlib.use("Agg")
    data = synthetic_clips(12)
    labels = {c: ("happy", "sad", "angry")[i % 3] for i, c in enumerate(data)}
    rows = summary_images.grid_clips(data, labels, ["sad", "happy"], n_per_class=2, seed=3)
    assert [c for c, _ in rows] == ["sad", "sad", "happy", "happy"] and all(labels[i] == c for c, i in rows)
    kept = {i: data[i][:2] for _, i in rows}
    shown = [[ax.get_ylabel() for ax in fig.axes if ax.get_ylabel()]
             for fig in (summary_images.plot_summary_grid({c: f[:2] for c, f in data.items()}, labels, ["sad", "happy"], 2, seed=3),
                         summary_images.plot_summary_grid(kept, labels, ["sad", "happy"], 2, seed=3))]
    assert shown[0] == shown[1] == [f"{c}\n{i}" for c, i in rows]
