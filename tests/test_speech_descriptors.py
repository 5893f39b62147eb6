"""The ``descriptors`` audio feature set: what the 144 values measure, and how they travel."""
from __future__ import annotations

import numpy as np
import pytest

from mer_helpers.methods import audio_featurizer
from mer_helpers.methods import speech_descriptors as SD

SR = 16000


def _tone(hz: float, seconds: float = 1.0, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    return (amp * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def _col(name: str) -> int:
    return SD.COLUMNS.index(name)


def test_pitch_duration_and_energy_of_tones():
    low, high = SD.descriptors_of_clean(_tone(200), SR), SD.descriptors_of_clean(_tone(400, 1.5, 0.05), SR)
    assert low.shape == (SD.N_DESCRIPTORS,) == (144,) and len(SD.COLUMNS) == 144
    # semitones above 100 Hz: 200 Hz is one octave (12), 400 Hz two (24)
    assert low[_col("desc:pitch_p50")] == pytest.approx(12.0, abs=0.3)
    assert high[_col("desc:pitch_p50")] == pytest.approx(24.0, abs=0.3)
    assert low[_col("desc:pitch_std")] < 0.5 and low[_col("desc:voiced_fraction")] > 0.9
    assert low[_col("desc:duration_s")] == pytest.approx(1.0) and high[_col("desc:duration_s")] == pytest.approx(1.5)
    # 0.05 against 0.5 amplitude: 20 dB quieter
    assert low[_col("desc:rms_db_p50")] - high[_col("desc:rms_db_p50")] == pytest.approx(20.0, abs=0.5)


def test_yin_goes_through_long_signals_in_chunks_with_the_same_answer():
    t = np.arange(3 * SR) / SR
    y = np.sin(2 * np.pi * (150 + 50 * t) * t).astype(np.float32)  # a glide: every frame differs
    whole = SD.yin_f0(y, SR)
    np.testing.assert_array_equal(SD.yin_f0(y, SR, chunk_frames=7), whole)
    assert len(whole) == 1 + len(y) // 160 and 140 < whole[0] < 160 and whole[-1] > 400


def test_silence_and_a_very_short_signal_stay_finite():
    silent = SD.descriptors_of_clean(np.zeros(SR // 2, np.float32), SR)
    assert np.all(np.isfinite(silent)) and silent[_col("desc:voiced_fraction")] == 0.0
    assert silent[_col("desc:pitch_p50")] == 0.0 and silent[_col("desc:duration_s")] == pytest.approx(0.5)
    short = SD.descriptors_of_clean(_tone(300, 0.03), SR)
    assert np.all(np.isfinite(short)) and short[_col("desc:duration_s")] == pytest.approx(0.03)


def test_signal_descriptors_go_through_the_front_end():
    y = _tone(250) * 0.1
    frames = {"n_fft": 512, "hop_length": 160, "denoise": False}
    plain = SD.signal_descriptors(y, SR, {**frames, "peak_normalize": False})
    peak = SD.signal_descriptors(y, SR, {**frames, "peak_normalize": True})
    np.testing.assert_allclose(plain, SD.descriptors_of_clean(y, SR), rtol=1e-5)
    # peak normalisation scales 0.05 to 1: every energy percentile rises by the same 26 dB
    gain = peak[_col("desc:rms_db_p10"):_col("desc:rms_db_mean")] - plain[_col("desc:rms_db_p10"):_col("desc:rms_db_mean")]
    np.testing.assert_allclose(gain, 20 * np.log10(1 / 0.05), atol=0.1)


def test_featurizer_joins_descriptors_and_refuses_to_go_without_them(tmp_path):
    rng = np.random.default_rng(0)
    mf = [rng.normal(size=(n, 13)).astype(np.float32) for n in (20, 31, 25)]
    desc = rng.normal(size=(3, 144)).astype(np.float32)
    f = audio_featurizer.AudioFeaturizer(features="descriptors+mfcc_stats", n_mfcc=13).fit(mf)
    X, cols, _ = f.featurize(mf, descriptors=desc)
    assert X.shape == (3, 26 + 144) and cols == f.columns_
    assert cols[26] == "audio:desc:logmel_mean:0" and cols[-1] == "audio:desc:duration_s"
    np.testing.assert_array_equal(X[:, 26:], desc)
    with pytest.raises(ValueError, match="descriptors"):
        f.transform(mf)
    with pytest.raises(ValueError, match="descriptors"):
        f.transform(mf, descriptors=desc[:2])
    g = audio_featurizer.AudioFeaturizer.load(f.save(tmp_path / "audio"))
    assert g.columns_ == f.columns_
    np.testing.assert_array_equal(g.transform(mf, descriptors=desc), X)


def test_clip_descriptors_are_cached_by_content(tmp_path, isolated_cache):
    import soundfile as sf

    path = tmp_path / "tone.wav"
    sf.write(path, _tone(200), SR)
    first = SD.clip_descriptors(path, denoise=False, trim_db=None)
    again = SD.clip_descriptors(path, denoise=False, trim_db=None)
    np.testing.assert_array_equal(first, again)
    assert any(isolated_cache.rglob("*audio_descriptors*")) or any("descriptors" in str(p) for p in isolated_cache.rglob("*"))
    assert first[_col("desc:pitch_p50")] == pytest.approx(12.0, abs=0.3)
    rows = SD.extract_descriptors([path, path], n_jobs=1, progress=False, denoise=False, trim_db=None)
    assert rows.shape == (2, 144)
    np.testing.assert_array_equal(rows[1], first)


def test_transform_paths_computes_the_descriptors_of_real_clips_and_survives_save_load(tmp_path, isolated_cache):
    from pathlib import Path

    clips = sorted((Path(__file__).resolve().parents[1] / "data" / "sample" / "clips").glob("*.mp4"))[:2]
    if len(clips) < 2:
        pytest.skip("data/sample/clips holds fewer than 2 clips")
    front = dict(n_mfcc=13, n_fft=512, hop_length=160, denoise=False, trim_db=30)
    f = audio_featurizer.AudioFeaturizer(features="mfcc_stats+descriptors", progress=False, **front)
    f.fit(audio_featurizer.extract_mfcc(clips, n_jobs=1, progress=False, **f.front_end()))
    X, cols, _ = f.transform_paths(clips, n_jobs=1, progress=False)  # what mer predict calls
    direct = SD.extract_descriptors(clips, n_jobs=1, progress=False, **f.front_end())
    np.testing.assert_array_equal(X[:, cols.index("audio:desc:logmel_mean:0"):], direct)
    assert np.all(direct[:, _col("desc:duration_s")] > 0.3)  # the sample clips hold seconds of speech
    g = audio_featurizer.AudioFeaturizer.load(f.save(tmp_path / "audio"))
    np.testing.assert_array_equal(g.transform_paths(clips, n_jobs=1, progress=False)[0], X)
