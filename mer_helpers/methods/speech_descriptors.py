"""Clip-level speech descriptors: the ``descriptors`` feature set of the audio branch (issue 20).

Not the papers' method. Computed on the front end's pre-processed signal (the same spectral
subtraction, trimming and peak normalisation as the MFCC, :func:`mer_helpers.methods.audio.preprocess`),
144 values per clip, in this order:

* 64 log-mel bands (``n_fft``/``hop_length`` of the front end): mean and std over frames (128);
* pitch (YIN, :func:`yin_f0`, 60-500 Hz, 1024-sample frames) in semitones above 100 Hz, over the
  voiced frames (RMS within 20 dB of the clip's loudest frame): 10/25/50/75/90th percentiles,
  mean, std, and the voiced fraction (8);
* RMS energy in dB: 10/25/50/75/90th percentiles, mean and std (7);
* the duration of the pre-processed signal in seconds (1).

Measured before it entered the chain (``scripts/speech_descriptors.py``,
``scripts/issue20_levers/README.md``): on RAVDESS six emotions, speakers z-scored, MFCC statistics
alone 0.564 and with these descriptors 0.648 (speaker-grouped 5-fold, logistic regression).

Each clip's vector is cached by the clip's bytes and the front-end parameters, like its MFCC.
A signal already decoded (a timeline window) goes through :func:`signal_descriptors`.
"""
from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np

from mer_helpers.core import cache, media
from mer_helpers.methods import audio

#: Bump when a change alters cached descriptors.
DESCRIPTORS_VERSION = "descriptors-1"
N_MELS = 64
PITCH_RANGE_HZ = (60.0, 500.0)
PITCH_FRAME = 1024
VOICED_RMS_RATIO = 0.1  # frames within 20 dB of the loudest count as voiced
PERCENTILES = (10, 25, 50, 75, 90)

#: The column names (without the ``audio:`` prefix the featurizer adds), in the vector's order.
COLUMNS: tuple[str, ...] = (
    tuple(f"desc:logmel_mean:{i}" for i in range(N_MELS)) + tuple(f"desc:logmel_std:{i}" for i in range(N_MELS))
    + tuple(f"desc:pitch_p{q}" for q in PERCENTILES) + ("desc:pitch_mean", "desc:pitch_std", "desc:voiced_fraction")
    + tuple(f"desc:rms_db_p{q}" for q in PERCENTILES) + ("desc:rms_db_mean", "desc:rms_db_std", "desc:duration_s"))
N_DESCRIPTORS = len(COLUMNS)


def _summary(x: np.ndarray) -> np.ndarray:
    """Percentiles, mean and std of ``x`` (zeros for an empty ``x``)."""
    if not x.size:
        return np.zeros(len(PERCENTILES) + 2)
    return np.concatenate([np.percentile(x, PERCENTILES), [x.mean(), x.std()]])


def yin_f0(y: np.ndarray, sr: int, fmin: float = PITCH_RANGE_HZ[0], fmax: float = PITCH_RANGE_HZ[1],
           frame_length: int = PITCH_FRAME, hop_length: int = 160, threshold: float = 0.1,
           chunk_frames: int = 2048) -> np.ndarray:
    """Fundamental frequency per frame by YIN (de Cheveigné & Kawahara 2002), in plain NumPy.

    Centred frames (``1 + len(y) // hop_length``). Per frame: the difference function over lags
    ``sr/fmax .. sr/fmin`` (autocorrelation by FFT), its cumulative-mean normalisation, and the
    first local minimum below ``threshold`` (else the global minimum). ``librosa.yin`` does the
    same, but its Numba local-minimum kernel crashes with the Numba/NumPy pinned here. Frames go
    ``chunk_frames`` at a time, so memory stays about 50 MB however long the signal is.

    Returns
    -------
    numpy.ndarray
        ``(n_frames,)`` float64, Hz.
    """
    min_lag, max_lag = int(np.floor(sr / fmax)), int(np.ceil(sr / fmin))
    win = frame_length - max_lag
    if win <= 0:
        raise ValueError(f"yin_f0: frame_length {frame_length} must exceed the longest lag {max_lag}")
    pad = np.pad(np.asarray(y, np.float64), frame_length // 2)
    if len(pad) < frame_length:
        pad = np.pad(pad, (0, frame_length - len(pad)))
    starts = hop_length * np.arange(1 + (len(pad) - frame_length) // hop_length)
    lags = np.arange(max_lag + 1)
    n = 1 << int(np.ceil(np.log2(frame_length + win)))
    f0 = np.empty(len(starts))
    for a in range(0, len(starts), chunk_frames):
        x = pad[starts[a:a + chunk_frames, None] + np.arange(frame_length)]   # (frames, frame_length)
        r = np.fft.irfft(np.fft.rfft(x, n) * np.conj(np.fft.rfft(x[:, :win], n)), n)[:, : max_lag + 1]
        sq = np.concatenate([np.zeros((len(x), 1)), np.cumsum(x ** 2, axis=1)], axis=1)
        energy = sq[:, lags + win] - sq[:, lags]                    # sum of x_j^2 for j in [tau, tau + win)
        d = np.maximum(energy[:, :1] + energy - 2 * r, 0.0)
        cmnd = np.ones_like(d)
        cmnd[:, 1:] = d[:, 1:] * lags[1:] / np.maximum(np.cumsum(d[:, 1:], axis=1), 1e-12)
        c = cmnd[:, min_lag: max_lag + 1]
        dips = np.zeros_like(c, dtype=bool)
        dips[:, :-1] = (c[:, :-1] < threshold) & (c[:, :-1] <= c[:, 1:])
        f0[a:a + chunk_frames] = sr / (min_lag + np.where(dips.any(axis=1), dips.argmax(axis=1), c.argmin(axis=1)))
    return f0


def descriptors_of_clean(y: np.ndarray, sr: int, n_fft: int = 512, hop_length: int = 160) -> np.ndarray:
    """The :data:`N_DESCRIPTORS` descriptors of an already pre-processed mono signal.

    Parameters
    ----------
    y : numpy.ndarray
        Mono signal after the front end's :func:`~mer_helpers.methods.audio.preprocess`.
    sr : int
    n_fft, hop_length : int
        Frames of the log-mel bands and the RMS energy.

    Returns
    -------
    numpy.ndarray
        ``(N_DESCRIPTORS,)`` float32, finite (a silent signal gives zeros for pitch).
    """
    import librosa

    y = np.asarray(y, dtype=np.float32)
    duration = len(y) / sr
    if len(y) < PITCH_FRAME:  # too short for one pitch frame: pad with silence
        y = np.pad(y, (0, PITCH_FRAME - len(y)))
    mel = librosa.power_to_db(librosa.feature.melspectrogram(y=y, sr=sr, n_fft=n_fft, hop_length=hop_length,
                                                             n_mels=N_MELS))
    rms_db = librosa.amplitude_to_db(librosa.feature.rms(y=y, frame_length=n_fft, hop_length=hop_length)[0] + 1e-10)
    f0 = yin_f0(y, sr, hop_length=hop_length)
    r = librosa.feature.rms(y=y, frame_length=PITCH_FRAME, hop_length=hop_length)[0][: len(f0)]
    voiced = r > VOICED_RMS_RATIO * r.max() if r.size and r.max() > 0 else np.zeros(len(r), bool)
    semitones = 12 * np.log2(f0[: len(voiced)][voiced] / 100.0)
    out = np.concatenate([mel.mean(1), mel.std(1), _summary(semitones), [voiced.mean() if voiced.size else 0.0],
                          _summary(rms_db), [duration]])
    return np.nan_to_num(out, nan=0.0, posinf=0.0, neginf=0.0).astype(np.float32)


def signal_descriptors(y: np.ndarray, sr: int, params: Mapping[str, Any] | None = None) -> np.ndarray:
    """The front end's pre-processing on a decoded signal, then :func:`descriptors_of_clean`:
    what :func:`mer_helpers.methods.audio.signal_mfcc` is to the MFCCs, with the same arguments
    (``params``: the front-end parameters; the signal's rate is ``sr``).

    Returns
    -------
    numpy.ndarray
        ``(N_DESCRIPTORS,)`` float32.
    """
    p = audio.front_end_params(**(params or {}))
    return descriptors_of_clean(audio._preprocess_with(y, p), sr, n_fft=p["n_fft"], hop_length=p["hop_length"])


def clip_descriptors(path: str | os.PathLike, **params: Any) -> np.ndarray:
    """:func:`signal_descriptors` of one clip's audio track, cached by its bytes and the front end.

    Parameters
    ----------
    path : path-like
        A video or audio clip.
    **params
        Notebook parameters; the front-end ones are used.

    Returns
    -------
    numpy.ndarray
        ``(N_DESCRIPTORS,)`` float32.

    Raises
    ------
    mer_helpers.core.media.MediaError
        The clip is missing, its audio track is empty, or the computation failed (clip named).
    """
    p = audio.front_end_params(**params)
    path = Path(path)
    if not path.exists():
        raise media.MediaError(f"clip {path}: file not found")
    key = cache.make_key("audio_descriptors", files=[path], version=DESCRIPTORS_VERSION, **p)

    def compute() -> dict[str, np.ndarray]:
        y, sr = audio.read_wav(audio.extract_wav(path, p["sr"]))
        if y.size == 0:
            raise media.MediaError(f"clip {path.name}: the audio track is empty")
        return {"x": signal_descriptors(y, sr, p)}

    try:
        return np.asarray(cache.cached_arrays("audio_descriptors", key, compute)["x"], dtype=np.float32)
    except media.MediaError:
        raise
    except Exception as e:  # name the clip in every failure
        raise media.MediaError(f"clip {path.name}: speech descriptors failed: {type(e).__name__}: {e}") from e


def extract_descriptors(paths: Iterable, n_jobs: int = 2, progress: bool = True, **params: Any) -> np.ndarray:
    """:func:`clip_descriptors` over many clips, in order (Dask tasks or ``n_jobs`` processes).

    Returns
    -------
    numpy.ndarray
        ``(n_clips, N_DESCRIPTORS)`` float32.
    """
    p = audio.front_end_params(**params)
    rows = audio._map(functools.partial(clip_descriptors, **p), list(paths), n_jobs, "speech descriptors", progress)
    return np.stack(rows) if rows else np.zeros((0, N_DESCRIPTORS), np.float32)
