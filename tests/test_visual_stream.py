"""Notebook 04 streams: each split is read and described a chunk of clips at a time, and what it
writes and keeps does not depend on the chunk size (issue "Scale: MELD-sized corpora").

The network is replaced by a cheap deterministic function of each image (``_predict_raw``), so
these tests need no TensorFlow; everything else (cache, dedup, stats, PNGs, writers) is real."""
from __future__ import annotations

import zipfile

import numpy as np
import pandas as pd
import pytest

from mer_helpers.core import fileio
from mer_helpers.methods import summary_files
from mer_helpers.methods import visual as vis
from mer_helpers.methods import backbones
from mer_helpers.stages import resnet_features

S = 16  # summary image side
RAW = backbones.backbone_spec("fer_xception").dim + len(backbones.FER2013_CLASSES)  # block (2048) + 7 scores


def fake_raw(images) -> np.ndarray:
    """A stand-in for the network: one float32 row of width RAW per image, from its pixels."""
    x = np.asarray(images, dtype=np.float64).reshape(len(images), -1)
    w = np.random.default_rng(7).normal(size=(x.shape[1], RAW)) / 255.0
    return np.sin(x @ w).astype(np.float32)


@pytest.fixture
def predicted(monkeypatch, tmp_path):
    """Fake network and weights; returns the list of image counts of each network call."""
    calls = []

    def predict(images, backbone, weights, seed, batch_size):
        calls.append(len(images))
        return fake_raw(images)

    monkeypatch.setattr(vis, "_predict_raw", predict)
    monkeypatch.setattr(vis, "resolve_weights", lambda backbone, weights: None)
    monkeypatch.setenv("MER_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("MER_DASK_SCHEDULER", "none")
    return calls


def write_run(art, seed=0):
    """Two splits of 7 clips (1-3 images each) whose PNGs repeat: an image shared by two clips
    of a split, and ``final`` re-using fold0's images for 4 clips. Returns (clip order, images)
    with images[split][clip] the (k, S, S, 3) arrays written."""
    rng = np.random.default_rng(seed)
    order = ["c5", "c1", "c3", "c0", "c6", "c2", "c4"]  # labels.csv order, not sorted
    pool = rng.integers(0, 256, (12, S, S, 3), dtype=np.uint8)
    ks = {"c0": 1, "c1": 3, "c2": 2, "c3": 1, "c4": 3, "c5": 2, "c6": 2}
    images = {"fold0": {}, "final": {}}
    n = 0
    for c in sorted(ks):
        images["fold0"][c] = pool[[(n + j) % 11 for j in range(ks[c])]]
        n += ks[c]
    images["fold0"]["c6"][1] = images["fold0"]["c0"][0]  # the same image in two clips
    for i, c in enumerate(sorted(ks)):
        images["final"][c] = images["fold0"][c] if i < 4 else np.roll(images["fold0"][c], 1, axis=1)
    for split, by_clip in images.items():
        rows = []
        for c, ims in by_clip.items():
            for j, im in enumerate(ims):
                rel = f"summary/images/{split}_{c}_{j}.png"
                summary_files.write_png(art / rel, im)
                rows.append({"clip_id": c, "k": j, "png": rel})
        rows = rows[::-1]  # the reader orders by clip and k itself
        (art / "summary" / split).mkdir(parents=True, exist_ok=True)
        pd.DataFrame(rows).to_csv(art / "summary" / split / "index.csv", index=False)
    return order, images


def stream(art, order, chunk, layer="pool"):
    stats, seen = vis.FeatureStats(), set()
    kept = {split: resnet_features.stream_split_features(art, split, order, "fer_xception", "fer2013", layer, stats=stats,
                                             seen=seen, layer_means=True, chunk=chunk, progress=False)
            for split in ("fold0", "final")}
    return kept, stats


def test_stream_reads_and_computes_one_chunk_at_a_time(tmp_path, predicted, monkeypatch):
    art = tmp_path / "artifacts"
    order, images = write_run(art)
    seen_by_backbone, pngs_read = [], [0]
    real_bf, real_png = vis.backbone_features, summary_files.read_png

    def backbone_features(ims, *a, **kw):
        seen_by_backbone.append((len(ims), pngs_read[0]))
        pngs_read[0] = 0
        return real_bf(ims, *a, **kw)

    def read_png(path):
        pngs_read[0] += 1
        return real_png(path)

    monkeypatch.setattr(resnet_features, "backbone_features", backbone_features)
    monkeypatch.setattr(summary_files, "read_png", read_png)
    kept, stats = stream(art, order, chunk=2)
    k = [len(images["fold0"][c]) for c in order]  # same k in both splits
    per_chunk = [sum(k[s:s + 2]) for s in range(0, len(order), 2)]  # [5, 2, 4, 3]
    # each backbone call gets exactly one chunk's images, and only that chunk's PNGs were read before it
    assert seen_by_backbone == [(n, n) for n in per_chunk] * 2
    assert max(predicted) <= 5 and sum(predicted) == stats.n_computed
    assert kept["fold0"].clip_ids == order and kept["final"].X.shape == (7, 128)


def test_stream_outputs_do_not_depend_on_the_chunk(tmp_path, predicted, monkeypatch):
    out = {}
    for chunk in (2, 3, 100):  # 100 > 7 clips: the whole split in one chunk, as before streaming
        monkeypatch.setenv("MER_CACHE_DIR", str(tmp_path / f"cache{chunk}"))
        art = tmp_path / f"run{chunk}" / "artifacts"
        order, images = write_run(art)
        kept, stats = stream(art, order, chunk)
        files = {split: (fileio.load_features(art / "visual" / split / "features.npz"),
                         fileio.load_sequences(art / "visual" / split / "sequences.npz")) for split in kept}
        out[chunk] = kept, stats, files
    ref_kept, ref_stats, ref_files = out[100]
    for chunk in (2, 3):
        kept, stats, files = out[chunk]
        assert (stats.n_images, stats.n_unique, stats.n_cached, stats.n_computed) == \
               (ref_stats.n_images, ref_stats.n_unique, ref_stats.n_cached, ref_stats.n_computed)
        for split in kept:
            a, b = kept[split], ref_kept[split]
            assert a.clip_ids == b.clip_ids
            for x, y in [(a.X, b.X), (a.pixels, b.pixels)] + [(a.layer_means[n], b.layer_means[n]) for n in b.layer_means]:
                assert x.dtype == y.dtype and np.array_equal(x, y)  # bitwise
            (ids, X, cols), seqs = files[split]
            (ids0, X0, cols0), seqs0 = ref_files[split]
            assert list(ids) == list(ids0) and np.array_equal(X, X0) and list(cols) == list(cols0)
            assert list(seqs) == list(seqs0) and all(np.array_equal(seqs[c], seqs0[c]) for c in seqs0)
    # and the values are the right ones: the layer of each image, in k order, and its mean
    n_images = sum(len(v) for by_clip in images.values() for v in by_clip.values())
    distinct = {im.tobytes() for by_clip in images.values() for v in by_clip.values() for im in v}
    assert ref_stats.n_images == n_images == 28 and ref_stats.n_unique == len(distinct) < n_images
    assert ref_stats.n_computed == len(distinct) and ref_stats.n_cached == 0
    (ids, X, cols), seqs = ref_files["final"]
    raw = fake_raw(images["final"]["c6"])
    pool = vis.select_layer(raw, "fer_xception", "pool")
    np.testing.assert_allclose(seqs["c6"], pool, rtol=1e-6)
    np.testing.assert_allclose(X[list(ids).index("c6")], pool.mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(ref_kept["final"].layer_means["logits"][order.index("c6")], raw[:, -7:].mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(ref_kept["final"].layer_means["block"][order.index("c6")], raw[:, :2048].mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(ref_kept["fold0"].pixels[1], vis.pixel_baseline([images["fold0"]["c1"]])[0])
    assert list(ids) == order and cols[0] == "visual:fer_xception_pool:0" and len(cols) == 128


def test_stream_stats_add_up_like_one_call(tmp_path, predicted):
    art = tmp_path / "artifacts"
    order, images = write_run(art)
    _, first = stream(art, order, chunk=2)
    _, again = stream(art, order, chunk=3)  # same cache: everything is found there
    assert (again.n_images, again.n_unique, again.n_cached, again.n_computed) == (28, first.n_unique, first.n_unique, 0)
    st = vis.FeatureStats(1, 1, 0, 1, 0.5).add(vis.FeatureStats(2, 1, 1, 0, 0.25))
    assert (st.n_images, st.n_unique, st.n_cached, st.n_computed, st.seconds) == (3, 2, 1, 1, 0.75)
    assert st.images_per_s == pytest.approx(1 / 0.75)


def test_a_split_with_the_same_summary_images_is_not_read_again(tmp_path, predicted, monkeypatch):
    """summary_mode "all": every split has the same summary index; with ``done`` a later split's
    files are linked to the first one's, its PNGs are not read, and stats count as before."""
    art = tmp_path / "artifacts"
    order, images = write_run(art)
    index = pd.read_csv(art / "summary" / "fold0" / "index.csv")
    (art / "summary" / "fold1").mkdir()
    index.sample(frac=1.0, random_state=0).to_csv(art / "summary" / "fold1" / "index.csv", index=False)  # row order
    _, plain = stream(art, order, chunk=3)  # fold0 and final, no `done`
    pngs, real_png = [0], summary_files.read_png

    def read_png(path):
        pngs[0] += 1
        return real_png(path)

    monkeypatch.setattr(summary_files, "read_png", read_png)
    stats, seen, done = vis.FeatureStats(), set(), {}
    kept, read = {}, {}
    for split in ("fold0", "fold1", "final"):
        pngs[0] = 0
        kept[split] = resnet_features.stream_split_features(art, split, order, "fer_xception", "fer2013", "pool",
                                                            stats=stats, seen=seen, layer_means=True, chunk=3,
                                                            progress=False, done=done)
        read[split] = pngs[0]
    assert read == {"fold0": 14, "fold1": 0, "final": 14}  # final has other images: read and described
    assert kept["fold1"] is kept["fold0"] and kept["final"] is not kept["fold0"]
    for name in ("features.npz", "sequences.npz"):
        assert (art / "visual" / "fold1" / name).read_bytes() == (art / "visual" / "fold0" / name).read_bytes()
    assert stats.n_images == plain.n_images + 14 and stats.n_unique == plain.n_unique
    assert stats.n_computed == 0 and stats.n_cached == plain.n_unique  # the cache of the first pass
    fileio.save_features(art / "visual" / "fold0" / "features.npz", ["x"], np.zeros((1, 2)), ["a", "b"])
    assert fileio.load_features(art / "visual" / "fold1" / "features.npz")[0].tolist() == order  # not rewritten


def test_stream_missing_clip_names_the_index(tmp_path, predicted):
    art = tmp_path / "artifacts"
    order, _ = write_run(art)
    with pytest.raises(KeyError, match="no summary images for 1 clip"):
        resnet_features.stream_split_features(art, "fold0", order + ["zz"], "fer_xception", "fer2013", "pool", progress=False)
    assert not (art / "visual" / "fold0" / "features.npz").exists()


def test_summary_chunks_match_read_summary(tmp_path):
    art = tmp_path / "artifacts"
    order, images = write_run(art)
    index, whole = summary_files.read_summary(art, "fold0")
    assert list(whole) == sorted(order) and len(index) == 14
    parts = list(summary_files.iter_summary_chunks(art, summary_files.read_summary_index(art, "fold0"), order, chunk=3))
    assert [list(p) for p in parts] == [order[:3], order[3:6], order[6:]]
    for p in parts:
        for c, ims in p.items():
            assert ims.dtype == np.uint8 and np.array_equal(ims, images["fold0"][c]) and np.array_equal(ims, whole[c])
    with pytest.raises(FileNotFoundError, match="run notebook"):
        summary_files.read_summary_index(art, "fold9")


def test_sequence_writer_is_an_npz(tmp_path):
    rng = np.random.default_rng(0)
    seqs = {"b": rng.normal(size=(3, 4)), "a": rng.normal(size=(1, 4)).astype(np.float32)}
    with fileio.SequenceWriter(tmp_path / "s.npz") as w:
        for c, v in seqs.items():
            w.add(c, v)
    np.savez_compressed(tmp_path / "ref.npz", **{c: np.asarray(v, np.float32) for c, v in seqs.items()})
    got, ref = fileio.load_sequences(tmp_path / "s.npz"), fileio.load_sequences(tmp_path / "ref.npz")
    assert list(got) == ["b", "a"] == list(ref)
    assert all(got[c].dtype == np.float32 and np.array_equal(got[c], ref[c]) for c in ref)
    with pytest.raises(ValueError, match="written twice"):
        with fileio.SequenceWriter(tmp_path / "t.npz") as w:
            w.add("a", seqs["a"])
            w.add("a", seqs["a"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ref.npz", "s.npz"]  # nothing half-written left
    with zipfile.ZipFile(tmp_path / "s.npz") as z:  # stored: float frames hardly deflate, and deflating is slow
        assert {i.compress_type for i in z.infolist()} == {zipfile.ZIP_STORED}


def test_a_partial_last_batch_is_filled_up():
    """CPU kernels depend on the batch size: _raw_outputs sends whole batches only (a partial last
    batch is filled with copies of its last image, dropped from the result)."""
    got = []

    class Model:
        def predict(self, x, batch_size, verbose):
            got.append(len(x))
            return x.reshape(len(x), -1)[:, :5] * 2.0

    x = np.arange(33 * 4 * 6, dtype=np.float32).reshape(33, 4, 2, 3)
    for n, sent in [(33, 64), (32, 32), (1, 32), (2, 32), (65, 96)]:
        y = vis._raw_outputs(Model(), x[:n] if n <= 33 else np.concatenate([x, x[:32]]), 32, "resnet50")
        assert got[-1] == sent and y.shape == (n, 5) and y.dtype == np.float32
    np.testing.assert_array_equal(y[-2:], x[30:32].reshape(2, -1)[:, :5] * 2.0)  # the padded copy is dropped
