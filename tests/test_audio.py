"""Fast unit tests of the audio branch (mer_helpers.methods.audio) on inputs made here."""
from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pytest

from mer_helpers.core import cache, media
from mer_helpers.methods import audio
from mer_helpers.methods import audio_featurizer
from mer_helpers.stages import audio_autoencoder


def _tone(sr: float, seconds: float, freq: float = 440.0, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(round(sr * seconds))) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _clip(path, seconds=1.5, sr=44100, freq=440.0, fps=10):
    frames = np.full((int(round(seconds * fps)), 16, 16, 3), 128, dtype=np.uint8)
    return media.write_clip(path, frames, fps=fps, audio=_tone(sr, seconds, freq), sr=sr)


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    d = tmp_path / "cache"
    monkeypatch.setenv("MER_CACHE_DIR", str(d))
    return d


# ----------------------------------------------------------------------------- extraction
def test_extraction_gives_requested_rate_and_duration(tmp_path, cache_dir):
    clip = _clip(tmp_path / "tone.mp4", seconds=1.5, sr=44100)
    y, sr = audio.read_wav(audio.extract_wav(clip, sr=16000))
    assert sr == 16000
    assert y.ndim == 1
    assert abs(len(y) / sr - 1.5) < 0.05, len(y) / sr
    # the tone survives the AAC round trip: its frequency dominates the spectrum
    spec = np.abs(np.fft.rfft(y))
    assert abs(np.argmax(spec) * sr / len(y) - 440.0) < 5
    # sr=None keeps the native rate
    y2, sr2 = audio.read_wav(audio.extract_wav(clip, sr=None))
    assert sr2 == 44100 and abs(len(y2) / sr2 - 1.5) < 0.05


def test_extraction_error_names_the_clip(tmp_path, cache_dir):
    bad = tmp_path / "broken_clip.mp4"
    bad.write_bytes(b"not a video at all")
    with pytest.raises(media.MediaError, match="broken_clip.mp4"):
        audio.clip_mfcc(bad)


# ----------------------------------------------------------------------------- pre-processing
def _band_power(y, sr, lo, hi, n_fft=512):
    import librosa

    P = np.abs(librosa.stft(y, n_fft=n_fft, hop_length=n_fft // 4)) ** 2
    f = librosa.fft_frequencies(sr=sr, n_fft=n_fft)
    return P[(f >= lo) & (f <= hi)].mean(axis=0)  # per frame


def test_spectral_subtraction_lowers_noise_keeps_tone():
    sr = 16000
    rng = np.random.default_rng(0)
    n = 2 * sr
    noise = 0.05 * rng.standard_normal(n).astype(np.float32)
    tone = np.zeros(n, np.float32)
    tone[sr // 2: 3 * sr // 2] = _tone(sr, 1.0, freq=1000.0, amp=0.5)  # tone only in the middle second
    y = tone + noise
    out = audio.spectral_subtraction(y, n_fft=512, hop_length=160, over_subtraction=2.0,
                                     spectral_floor=0.02, noise_percentile=10)
    assert out.shape == y.shape and out.dtype == np.float32
    mid = slice(int(0.75 * sr / 128), int(1.25 * sr / 128))  # frames (hop 128) well inside the tone
    tone_before = _band_power(y, sr, 950, 1050)[mid].mean()
    tone_after = _band_power(out, sr, 950, 1050)[mid].mean()
    noise_before = _band_power(y, sr, 3000, 7000).mean()
    noise_after = _band_power(out, sr, 3000, 7000).mean()
    assert 10 * np.log10(noise_before / noise_after) > 10, (noise_before, noise_after)   # > 10 dB less noise
    assert abs(10 * np.log10(tone_after / tone_before)) < 1.0, (tone_before, tone_after)  # tone within 1 dB
    # SNR in the tone region improves
    assert tone_after / noise_after > 10 * tone_before / noise_before


def test_preprocess_peak_normalises_and_can_skip_denoising():
    y = _tone(16000, 0.5, amp=0.2) + 0.01 * np.random.default_rng(1).standard_normal(8000).astype(np.float32)
    raw = audio.preprocess(y, denoise=False)
    assert np.isclose(np.abs(raw).max(), 1.0)
    np.testing.assert_allclose(raw, y / np.abs(y).max(), rtol=1e-5, atol=1e-6)  # only normalised
    den = audio.preprocess(y, denoise=True)
    assert np.isclose(np.abs(den).max(), 1.0) and not np.allclose(den, raw)


def test_mfcc_shape_and_deltas():
    y = _tone(16000, 1.0)
    m = audio.compute_mfcc(y, 16000, n_mfcc=13, hop_length=160)
    assert m.shape == (1 + 16000 // 160, 13) and m.dtype == np.float32
    md = audio.compute_mfcc(y, 16000, n_mfcc=13, hop_length=160, deltas=True)
    assert md.shape == (m.shape[0], 39)
    np.testing.assert_allclose(md[:, :13], m, rtol=1e-5, atol=1e-4)


# ----------------------------------------------------------------------------- cache
def test_features_identical_on_rerun_from_cache(tmp_path, cache_dir):
    clip = _clip(tmp_path / "c.mp4", seconds=1.0, sr=16000, freq=300)
    before = audio.COUNTS["mfcc"]
    first = audio.clip_mfcc(clip, n_mfcc=13)
    assert audio.COUNTS["mfcc"] == before + 1 and not first["cached"]
    entries = list((cache_dir / "audio_mfcc").rglob("*.npz"))
    assert len(entries) == 1
    mtime = entries[0].stat().st_mtime_ns
    again = audio.extract_clips([clip], n_jobs=1, progress=False, n_mfcc=13)[0]
    assert again["cached"] and audio.COUNTS["mfcc"] == before + 1  # nothing recomputed
    assert entries[0].stat().st_mtime_ns == mtime                   # the same file was read
    np.testing.assert_array_equal(again["mfcc"], first["mfcc"])
    assert again["sr"] == 16000 and abs(again["duration_s"] - 1.0) < 0.05
    # a renamed copy (same bytes) hits the cache; a parameter change does not
    copy = tmp_path / "renamed.mp4"
    copy.write_bytes(clip.read_bytes())
    assert audio.clip_mfcc(copy, n_mfcc=13)["cached"]
    other = audio.clip_mfcc(clip, n_mfcc=20)
    assert not other["cached"] and other["mfcc"].shape[1] == 20
    assert audio.COUNTS["mfcc"] == before + 2


# ----------------------------------------------------------------------------- autoencoder
def _synthetic_mfcc(n_clips, rng, offset=0.0, n_mfcc=13):
    """Clips whose frames live on a 3-D manifold (learnable), shifted by ``offset``."""
    mix = rng.normal(size=(3, n_mfcc))
    out = []
    for _ in range(n_clips):
        T = int(rng.integers(30, 60))
        latent = np.cumsum(rng.normal(scale=0.3, size=(T, 3)), axis=0)
        out.append((np.tanh(latent) @ mix + offset).astype(np.float32))
    return out


@pytest.fixture(scope="module")
def fitted():
    rng = np.random.default_rng(0)
    train = _synthetic_mfcc(16, rng)
    feat = audio_featurizer.AudioFeaturizer(epochs=15, batch_size=32, validation_split=0.2, progress=False,
                                 random_state=0).fit(train)
    return feat, train


@pytest.mark.slow  # trains the audio autoencoder (module fixture)
def test_autoencoder_architecture_and_loss_falls(fitted):
    feat, train = fitted
    assert feat.encoder_.output_shape == (None, 32)
    sizes = [l.units for l in feat.autoencoder_.layers if hasattr(l, "units")]
    assert sizes == [64, 32, 64, 13]
    assert feat.autoencoder_.layers[-1].activation.__name__ == "sigmoid"
    loss = feat.history_["loss"]
    assert len(loss) == 15 and loss[-1] < 0.7 * loss[0], loss
    assert feat.history_["val_loss"][-1] < feat.history_["val_loss"][0]
    # validation is made of whole clips holding about 20 % of the frames
    assert feat.validation_clips_ and 0.15 < feat.n_val_frames_ / feat.n_train_frames_ < 0.45
    X, columns, seqs = feat.featurize(train[:3])
    assert X.shape == (3, 64) and X.dtype == np.float32
    assert columns[:2] == ["audio:ae_mean:0", "audio:ae_mean:1"] and columns[32] == "audio:ae_std:0"
    assert [s.shape for s in seqs] == [(len(m), 32) for m in train[:3]]
    np.testing.assert_allclose(X[0, :32], seqs[0].mean(0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(X[0, 32:], seqs[0].std(0), rtol=1e-4, atol=1e-6)


@pytest.mark.slow  # uses the trained autoencoder fixture
def test_featurizer_save_load_roundtrip(fitted, tmp_path):
    feat, train = fitted
    feat.save(tmp_path / "audio")
    back = audio_featurizer.AudioFeaturizer.load(tmp_path / "audio")
    X1, c1, s1 = feat.featurize(train[:2])
    X2, c2, s2 = back.featurize(train[:2])
    assert c1 == c2
    np.testing.assert_allclose(X1, X2, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(back.scaler_.data_max_, feat.scaler_.data_max_)
    assert back.get_params() == feat.get_params()


@pytest.mark.slow  # trains the audio autoencoder
def test_autoencoder_never_sees_test_clips(monkeypatch):
    rng = np.random.default_rng(1)
    ids = [f"c{i}" for i in range(8)]
    mfcc = dict(zip(ids, _synthetic_mfcc(8, rng)))
    for c in ("c6", "c7"):  # test clips carry extreme values a leak would reveal
        mfcc[c] = mfcc[c] + 1000.0
    split = {"name": "fold0", "train": ids[:6], "test": ["c6", "c7"]}
    seen = []
    orig_fit = audio_featurizer.AudioFeaturizer.fit

    def spy(self, X, y=None, groups=None):
        seen.append([np.asarray(m) for m in X])
        return orig_fit(self, X, y, groups)

    monkeypatch.setattr(audio_featurizer.AudioFeaturizer, "fit", spy)
    feat, clip_ids, X, columns, seqs = audio_autoencoder.fit_transform_split(
        mfcc, split, epochs=2, batch_size=64, progress=False, random_state=0)
    train_frames = np.concatenate([mfcc[c] for c in split["train"]])
    np.testing.assert_array_equal(feat.scaler_.data_max_, train_frames.max(0))
    np.testing.assert_array_equal(feat.scaler_.data_min_, train_frames.min(0))
    assert len(seen) == 1 and len(seen[0]) == 6 and max(m.max() for m in seen[0]) < 100
    assert feat.n_train_frames_ == len(train_frames)
    # every clip is encoded, test clips included (scaled with the train min/max, clipped)
    assert clip_ids == ids and X.shape == (8, 64) and np.isfinite(X).all()
    assert feat._scaled([mfcc["c6"]])[0].max() <= 1.0


def test_split_with_unknown_clip_is_named():
    mfcc = {"a": np.zeros((5, 13), np.float32)}
    with pytest.raises(KeyError, match="ghost"):
        audio_autoencoder.fit_transform_split(mfcc, {"name": "fold0", "train": ["a", "ghost"], "test": []})


# ----------------------------------------------------------------------------- summaries, sanity
def test_summary_statistics_values():
    seq = np.array([[0.0, 1.0], [2.0, 1.0], [4.0, 4.0]], np.float32)
    X, cols = audio_featurizer.summarize([seq], "full")
    assert cols == [f"audio:ae_{s}:{i}" for s in ("mean", "std", "min", "max", "dmean", "dstd") for i in (0, 1)]
    np.testing.assert_allclose(X[0], [2, 2, np.std([0, 2, 4]), np.std([1, 1, 4]), 0, 1, 4, 4, 2, 1.5, 0, 1.5],
                               rtol=1e-6)
    assert audio_featurizer.parse_stats("mean,max") == ("mean", "max")
    with pytest.raises(ValueError, match="kurtosis"):
        audio_featurizer.parse_stats("mean,kurtosis")


def test_featurizer_params_maps_notebook_names():
    p = audio_autoencoder.featurizer_params(ae_epochs=3, ae_l2=1e-4, audio_stats="full", seed=7, n_mfcc=20,
                                frame_interval=5)
    assert p == {"epochs": 3, "l2": 1e-4, "stats": "full", "random_state": 7, "n_mfcc": 20}


def test_summarize_in_float32_is_the_sequences_own_mean_and_std():
    # the plain-feature references of notebook 07 keep their float32 statistics (results.plain_feature_references)
    rng = np.random.default_rng(4)
    seqs = [rng.normal(0, 50, (int(n), 13)).astype(np.float32) for n in (7, 40, 123)]
    X32, cols = audio_featurizer.summarize(seqs, "mean_std", prefix="audio:mfcc", precision=np.float32)
    np.testing.assert_array_equal(X32, np.array([np.r_[s.mean(0), s.std(0)] for s in seqs]))
    X64, cols64 = audio_featurizer.mfcc_summary(seqs)
    assert cols == cols64 and X64.dtype == np.float32
    np.testing.assert_allclose(X64, X32, rtol=1e-5, atol=1e-5)


# ----------------------------------------------------------------------------- trim_db, peak_normalize
def test_trim_and_level_options_default_to_the_papers_front_end():
    """The new options are off by default: same signal, same front end, same MFCC cache key."""
    rng = np.random.default_rng(0)
    y = np.concatenate([np.zeros(8000, np.float32), _tone(16000, 1.0), np.zeros(8000, np.float32)])
    y = y + 0.001 * rng.standard_normal(y.size).astype(np.float32)
    np.testing.assert_array_equal(audio.preprocess(y), audio.preprocess(y, trim_db=None, peak_normalize=True))
    p = audio.front_end_params()
    assert p["trim_db"] is None and p["peak_normalize"] is True
    old = {k: v for k, v in p.items() if k not in audio.LATE_FRONT_END_DEFAULTS}
    key = cache.make_key("audio_mfcc", version=audio.MFCC_VERSION, inputs=["w"], **old)
    assert audio.mfcc_key("w", **p) == key  # earlier cache keys are unchanged
    assert audio.mfcc_key("w", **{**p, "trim_db": None, "peak_normalize": True}) == key
    assert audio.mfcc_key("w", **{**p, "trim_db": 30}) == cache.make_key(
        "audio_mfcc", version=audio.MFCC_VERSION, inputs=["w"], **old, trim_db=30.0)
    assert audio.mfcc_key("w", **{**p, "peak_normalize": False}) not in (key, audio.mfcc_key("w", **{**p, "trim_db": 30}))


def test_trim_db_cuts_leading_and_trailing_silence():
    sr = 16000
    y = np.concatenate([np.zeros(sr, np.float32), _tone(sr, 1.0), np.zeros(sr, np.float32)])
    out = audio.preprocess(y, denoise=False, trim_db=30)
    assert abs(len(out) - sr) <= 2048, len(out)  # within one librosa trim frame of the tone
    assert len(audio.preprocess(y, denoise=False)) == len(y)
    silent = np.zeros(sr, np.float32)
    assert len(audio.preprocess(silent, denoise=False, trim_db=30)) == sr  # nothing to trim to


def test_peak_normalize_false_keeps_the_level():
    y = _tone(16000, 0.5, amp=0.1)
    np.testing.assert_allclose(np.abs(audio.preprocess(y, denoise=False)).max(), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(audio.preprocess(y, denoise=False, peak_normalize=False), y)


def test_trim_db_changes_the_mfcc_cache_entry(tmp_path, cache_dir):
    clip = _clip(tmp_path / "tone.mp4", seconds=1.5, sr=16000)
    plain = audio.clip_mfcc(clip, n_fft=512, hop_length=160, n_mels=40)
    trimmed = audio.clip_mfcc(clip, n_fft=512, hop_length=160, n_mels=40, trim_db=30)
    assert not trimmed["cached"]
    assert audio.clip_mfcc(clip, n_fft=512, hop_length=160, n_mels=40)["cached"]
    assert trimmed["mfcc"].shape[0] <= plain["mfcc"].shape[0]
