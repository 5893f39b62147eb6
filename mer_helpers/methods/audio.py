"""The audio branch: FFmpeg → WAV → spectral subtraction → peak normalisation → MFCC → dense
autoencoder (paper 2, Algorithm 1; paper 1, §3.2.1).

Stages and shapes
-----------------
1. :func:`extract_wav` — the clip's audio track as mono 16-bit WAV at ``sr`` Hz (``None``: the
   native rate), cached by clip content and ``sr``.
2. :func:`preprocess` — :func:`spectral_subtraction` (noise magnitude spectrum estimated from the
   quietest frames of the clip), optionally silence trimming (``trim_db``, off by default), then
   peak normalisation (``librosa.util.normalize``; ``peak_normalize=False`` skips it).
3. :func:`compute_mfcc` — frame-level MFCC matrix of shape ``(T, n_mfcc)`` (``(T, 3 n_mfcc)``
   with deltas); one frame every ``hop_length`` samples (10 ms at 16 kHz by default).
   :func:`extract_clips` / :func:`extract_mfcc` run 1-3 over many clips (Dask tasks,
   :mod:`mer_helpers.core.parallel`; progress bar) and cache each clip's result by content and parameters.
4. :class:`AudioFeaturizer` — the clip vector, made of one or more feature sets
   (``audio_features``, joined with ``+``):

   ``ae`` (the papers', the ``paper`` preset)
       MinMax scaler to [0, 1] + Dense(64) → Dense(32) → Dense(64) → Dense(n_mfcc, sigmoid)
       autoencoder fitted on the *training* frames of one split; a clip becomes its bottleneck
       sequence ``(T, 32)`` and statistics over time of the 32 units (``mean_std`` → 64 values
       ``audio:ae_mean:i``, ``audio:ae_std:i``).
   ``mfcc_stats`` (the ``strong`` preset, with ``n_mfcc=40`` and ``mfcc_deltas=True``)
       statistics over time (``audio_stats``: ``mean_std``, or ``full`` = mean, std, min, max
       and the mean and std of the frame-to-frame change) of every MFCC coefficient and its
       Δ, ΔΔ: ``audio:mfcc_mean:i``, ``audio:mfcc_std:i`` ...; nothing is fitted.
   ``egemaps`` (optional extra ``pip install 'mer-book[egemaps]'``)
       the 88 eGeMAPSv02 functionals of openSMILE (Eyben et al. 2016) through the ``opensmile``
       package, ``audio:egemaps:<name>``. openSMILE is distributed under audEERING's research
       licence (free for research and education, not for commercial use); it is not installed
       by default.

Keras/TensorFlow is imported lazily, so the extraction workers never load it.
"""
from __future__ import annotations

import collections
import functools
import os
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.preprocessing import MinMaxScaler

from mer_helpers.core import cache, fileio, media
from mer_helpers.core.names import AUDIO_FEATURES, AUDIO_STAT_PRESETS as STAT_PRESETS
from mer_helpers.core.parallel import CHUNK_CLIPS, chunked, map_clips
from mer_helpers.core.params import store_init_params
from mer_helpers.core.progress import epoch_bar  # noqa: E402
from mer_helpers.core.progress import progress as _progress  # noqa: E402

#: Bump when a change alters cached WAV / MFCC results.
WAV_VERSION = "wav-1"
MFCC_VERSION = "mfcc-1"

#: Front-end defaults (the notebooks' parameters). The papers' own values, where they give
#: them: ``sr=None`` (librosa.load(sr=None)), ``n_mfcc=13`` and librosa's defaults
#: ``n_fft=2048, hop_length=512, n_mels=128``; over-subtraction, floor and the noise estimate
#: are not given by either paper.
FRONT_END_DEFAULTS: dict[str, Any] = dict(
    sr=16000, denoise=True, over_subtraction=2.0, spectral_floor=0.02, noise_percentile=10.0,
    n_mfcc=13, mfcc_deltas=False, n_fft=2048, hop_length=512, n_mels=128,
    trim_db=None, peak_normalize=True,
)

#: Front-end parameters added after the first cached results: they enter a cache key only when
#: they differ from these values, so the keys (and cached MFCC) of every earlier setting stay put.
LATE_FRONT_END_DEFAULTS: dict[str, Any] = dict(trim_db=None, peak_normalize=True)

#: A clip or window whose loudest 32 ms frame is quieter than this (dB relative to full scale)
#: holds no speech (:func:`has_speech`): its emotion is left to the face. Speech in the corpora
#: used here peaks between -30 and 0 dBFS; digital silence and a muted track sit far below.
SILENCE_DBFS = -50.0

#: The feature sets :class:`AudioFeaturizer` can build (``audio_features``).
EGEMAPS_VERSION = "egemaps-1"


def parse_audio_features(value: str | Sequence[str]) -> tuple[str, ...]:
    """The audio feature sets named by a notebook parameter.

    Parameters
    ----------
    value : str or sequence of str
        ``"ae"``, ``"mfcc_stats+egemaps"``, ``"ae,mfcc_stats"`` or a list.

    Returns
    -------
    tuple of str
        Set names in :data:`AUDIO_FEATURES` order.

    Raises
    ------
    ValueError
        Naming unknown names, or for an empty value.
    """
    if isinstance(value, str):
        names = [v.strip() for v in value.replace(",", "+").split("+") if v.strip()]
    else:
        names = [str(v).strip() for v in value]
    bad = [n for n in names if n not in AUDIO_FEATURES]
    if bad or not names:
        raise ValueError(f"audio_features {value!r}: unknown feature set(s) {bad}; use one or more of "
                         f"{', '.join(AUDIO_FEATURES)} joined by '+'")
    return tuple(n for n in AUDIO_FEATURES if n in names)


def egemaps_available() -> bool:
    """Is the optional ``opensmile`` package installed?

    Returns
    -------
    bool
    """
    import importlib.util

    return importlib.util.find_spec("opensmile") is not None


@functools.lru_cache(maxsize=1)
def _smile():
    import opensmile

    return opensmile.Smile(feature_set=opensmile.FeatureSet.eGeMAPSv02,
                           feature_level=opensmile.FeatureLevel.Functionals)


def clip_egemaps(path: str | os.PathLike, sr: int | None = 16000) -> tuple[np.ndarray, list[str]]:
    """The 88 eGeMAPSv02 functionals of one clip's audio track (openSMILE), cached by the
    clip's content. Needs the optional ``opensmile`` package (audEERING's research licence).

    Parameters
    ----------
    path : path-like
        A clip with an audio track.
    sr : int or None
        Rate the track is decoded at.

    Returns
    -------
    tuple
        ``(x, names)``: float32 ``(88,)`` and the functionals' names.
    """
    if not egemaps_available():
        raise ImportError("audio_features egemaps needs the optional opensmile package "
                          "(audEERING research licence): pip install 'mer-book[egemaps]'")
    path = Path(path)
    key = cache.make_key("audio_egemaps", files=[path], version=EGEMAPS_VERSION, sr=sr)

    def compute() -> dict[str, np.ndarray]:
        y, rate = read_wav(extract_wav(path, sr))
        df = _smile().process_signal(y, rate)
        return {"x": df.to_numpy(dtype=np.float64)[0], "names": np.asarray(list(df.columns))}

    a = cache.cached_arrays("audio_egemaps", key, compute)
    return np.asarray(a["x"], dtype=np.float32), [str(n) for n in a["names"]]


def extract_egemaps(paths: Iterable, sr: int | None = 16000, n_jobs: int = 2,
                    progress: bool = True) -> tuple[np.ndarray, list[str]]:
    """:func:`clip_egemaps` over many clips: ``(X (n, 88) float32, columns audio:egemaps:<name>)``."""
    out = _map(functools.partial(clip_egemaps, sr=sr), list(paths), n_jobs, "eGeMAPS", progress)
    if not out:
        return np.zeros((0, 88), np.float32), []
    return np.stack([x for x, _ in out]), [f"audio:egemaps:{n}" for n in out[0][1]]


#: In-process counters of work actually done (cache misses); tests and notebooks read them.
COUNTS: collections.Counter = collections.Counter()


# ----------------------------------------------------------------------------- extraction
def extract_wav(path: str | os.PathLike, sr: int | None = 16000) -> Path:
    """Cached mono 16-bit WAV of ``path``'s audio track at ``sr`` Hz (``None``: native rate).

    The cache key is the clip's bytes and ``sr``; raises :class:`mer_helpers.core.media.MediaError`
    naming the clip when FFmpeg cannot read an audio stream.
    """
    path = Path(path)
    if not path.exists():
        raise media.MediaError(f"clip {path}: file not found")
    key = cache.make_key("audio_wav", files=[path], sr=sr, version=WAV_VERSION)

    def produce(tmp: Path) -> None:
        COUNTS["wav"] += 1
        media.extract_audio(path, tmp, sr=sr)

    return cache.cached_file("audio_wav", key, ".wav", produce)


def read_wav(path: str | os.PathLike) -> tuple[np.ndarray, int]:
    """Read a WAV file as a float32 mono signal in [-1, 1] and its sample rate.

    Parameters
    ----------
    path : path-like
        The WAV (several channels are averaged).

    Returns
    -------
    tuple
        ``(y, sr)``.
    """
    import soundfile as sf

    y, sr = sf.read(str(path), dtype="float32", always_2d=True)
    return np.ascontiguousarray(y.mean(axis=1)), int(sr)


def loudest_dbfs(y: np.ndarray, frame: int = 512, hop: int = 256) -> float:
    """The RMS level of the loudest frame of ``y``, in dB relative to full scale.

    Parameters
    ----------
    y : numpy.ndarray
        Mono signal in [-1, 1].
    frame, hop : int
        Frame length and hop, in samples (512 = 32 ms at 16 kHz).

    Returns
    -------
    float
        ``-inf`` for an empty or all-zero signal.
    """
    y = np.asarray(y, dtype=np.float64)
    if y.size == 0:
        return float("-inf")
    if y.size < frame:
        y = np.pad(y, (0, frame - y.size))
    n = 1 + (y.size - frame) // hop
    frames = np.lib.stride_tricks.as_strided(y, (n, frame), (y.strides[0] * hop, y.strides[0]), writeable=False)
    peak = float(np.sqrt((frames ** 2).mean(axis=1)).max())
    return 20.0 * np.log10(peak) if peak > 0 else float("-inf")


def has_speech(y: np.ndarray, threshold_dbfs: float = SILENCE_DBFS) -> bool:
    """Is ``y`` louder than silence (:data:`SILENCE_DBFS`) anywhere? A level test, not a voice
    detector: steady background noise above the threshold counts as sound."""
    return loudest_dbfs(y) >= threshold_dbfs


def clip_has_speech(path: str | os.PathLike, sr: int | None = 16000) -> bool:
    """:func:`has_speech` of a clip's audio track (the cached WAV of :func:`extract_wav`)."""
    return has_speech(read_wav(extract_wav(path, sr))[0])


# ----------------------------------------------------------------------------- pre-processing
def spectral_subtraction(y: np.ndarray, n_fft: int = 512, hop_length: int = 160,
                         over_subtraction: float = 2.0, spectral_floor: float = 0.02,
                         noise_percentile: float = 10.0) -> np.ndarray:
    """Magnitude spectral subtraction (Boll 1979, with Berouti et al.'s over-subtraction/floor).

    ``|S|`` is the STFT magnitude (Hann window ``n_fft``, hop ``hop_length``). The noise
    spectrum ``N(f)`` is the mean magnitude of the frames whose energy is at or below the
    ``noise_percentile``-th percentile of frame energy (the quietest frames of the clip). The
    clean magnitude is ``max(|S| - over_subtraction * N, spectral_floor * N)``; the noisy phase is
    kept and the signal rebuilt by inverse STFT with the input's length. A stationary component
    present in every frame (hum, a constant tone) counts as noise and is removed too.

    Parameters
    ----------
    y : numpy.ndarray
        Mono signal.
    n_fft, hop_length : int
        STFT window and hop, in samples.
    over_subtraction : float
        Multiple of the noise spectrum taken off.
    spectral_floor : float
        Least magnitude kept, as a fraction of the noise spectrum.
    noise_percentile : float
        Frames at or below this energy percentile estimate the noise.

    Returns
    -------
    numpy.ndarray
        float32, the length of ``y`` (an empty signal is returned as it is).
    """
    import librosa

    y = np.asarray(y, dtype=np.float32)
    if y.size == 0:
        return y
    S = librosa.stft(y, n_fft=n_fft, hop_length=hop_length)
    mag, phase = np.abs(S), np.angle(S)
    energy = (mag ** 2).sum(axis=0)
    quiet = energy <= np.percentile(energy, noise_percentile)
    noise = mag[:, quiet].mean(axis=1, keepdims=True)
    clean = np.maximum(mag - over_subtraction * noise, spectral_floor * noise)
    out = librosa.istft(clean * np.exp(1j * phase), hop_length=hop_length, n_fft=n_fft, length=len(y))
    return out.astype(np.float32)


def trim_silence(y: np.ndarray, top_db: float) -> np.ndarray:
    """Leading and trailing silence cut off: ``librosa.effects.trim(y, top_db=top_db)`` (frames
    more than ``top_db`` dB below the clip's loudest frame; librosa's 2048-sample frames, hop 512).

    Parameters
    ----------
    y : numpy.ndarray
        Mono signal.
    top_db : float
        Threshold below the loudest frame, in dB.

    Returns
    -------
    numpy.ndarray
        The trimmed signal; ``y`` itself when it is empty, silent or trimming would leave nothing.
    """
    import librosa

    y = np.asarray(y, dtype=np.float32)
    if not y.size or not np.any(y):
        return y
    out = librosa.effects.trim(y, top_db=float(top_db))[0]
    return out if out.size else y


def preprocess(y: np.ndarray, denoise: bool = True, n_fft: int = 512, hop_length: int = 160,
               over_subtraction: float = 2.0, spectral_floor: float = 0.02,
               noise_percentile: float = 10.0, trim_db: float | None = None,
               peak_normalize: bool = True) -> np.ndarray:
    """Spectral subtraction (unless ``denoise=False``), silence trimming (``trim_db``), then peak
    normalisation to max |y| = 1 (unless ``peak_normalize=False``).

    The defaults are the papers' front end (no trimming, peak normalisation). Trimming comes
    after the subtraction, whose noise estimate needs the quiet frames the trim would remove.

    Parameters
    ----------
    y : numpy.ndarray
        Mono signal.
    denoise : bool
        Apply :func:`spectral_subtraction` first.
    n_fft, hop_length, over_subtraction, spectral_floor, noise_percentile
        Passed to :func:`spectral_subtraction`.
    trim_db : float, optional
        Cut leading and trailing silence more than ``trim_db`` dB below the loudest frame
        (:func:`trim_silence`); ``None``: keep the whole clip.
    peak_normalize : bool
        Scale to max |y| = 1 (``librosa.util.normalize``); ``False`` keeps the recorded level
        (MFCC c0 then carries it).

    Returns
    -------
    numpy.ndarray
        float32 signal (a silent one stays zeros).
    """
    import librosa

    y = np.asarray(y, dtype=np.float32)
    if denoise:
        y = spectral_subtraction(y, n_fft=n_fft, hop_length=hop_length, over_subtraction=over_subtraction,
                                 spectral_floor=spectral_floor, noise_percentile=noise_percentile)
    if trim_db is not None:
        y = trim_silence(y, trim_db)
    if peak_normalize and y.size and np.any(y):
        y = librosa.util.normalize(y)
    return y.astype(np.float32)


def compute_mfcc(y: np.ndarray, sr: int, n_mfcc: int = 13, n_fft: int = 512, hop_length: int = 160,
                 n_mels: int = 40, deltas: bool = False) -> np.ndarray:
    """Frame-level MFCC.

    ``T = 1 + len(y) // hop_length`` (centred frames). ``n_mels=40`` rather than librosa's 128:
    with a 512-point FFT at 16 kHz, 128 mel bands leave empty filters at low frequencies.

    Parameters
    ----------
    y : numpy.ndarray
        Mono signal.
    sr : int
        Its rate.
    n_mfcc : int
        Coefficients per frame.
    n_fft, hop_length : int
        Analysis window and hop, in samples.
    n_mels : int
        Mel bands.
    deltas : bool
        Append Δ and ΔΔ.

    Returns
    -------
    numpy.ndarray
        ``(T, n_mfcc)`` float32 (``(T, 3 n_mfcc)`` with deltas).
    """
    import librosa

    m = librosa.feature.mfcc(y=np.asarray(y, dtype=np.float32), sr=sr, n_mfcc=n_mfcc, n_fft=n_fft,
                             hop_length=hop_length, n_mels=n_mels)
    if deltas:
        width = min(9, m.shape[1] if m.shape[1] % 2 else m.shape[1] - 1)
        if width >= 3:
            d1 = librosa.feature.delta(m, width=width, order=1)
            d2 = librosa.feature.delta(m, width=width, order=2)
        else:  # too few frames for a delta window
            d1 = d2 = np.zeros_like(m)
        m = np.concatenate([m, d1, d2], axis=0)
    return np.ascontiguousarray(m.T, dtype=np.float32)


def front_end_params(**params: Any) -> dict[str, Any]:
    """The front-end parameters: :data:`FRONT_END_DEFAULTS` updated with the known keys of
    ``params`` (unknown keys, e.g. every other notebook parameter, are ignored).

    Parameters
    ----------
    **params
        Notebook parameters.

    Returns
    -------
    dict
    """
    out = dict(FRONT_END_DEFAULTS)
    out.update({k: v for k, v in params.items() if k in FRONT_END_DEFAULTS})
    if out["sr"] is not None:
        out["sr"] = int(out["sr"])
    for k in ("n_mfcc", "n_fft", "hop_length", "n_mels"):
        out[k] = int(out[k])
    for k in ("over_subtraction", "spectral_floor", "noise_percentile"):
        out[k] = float(out[k])
    out["denoise"], out["mfcc_deltas"] = bool(out["denoise"]), bool(out["mfcc_deltas"])
    out["trim_db"] = None if out["trim_db"] is None else float(out["trim_db"])
    out["peak_normalize"] = bool(out["peak_normalize"])
    return out


def mfcc_key(wav_key: str, **params: Any) -> str:
    """The cache key of a clip's MFCC entry: its WAV entry's key and the front-end parameters,
    without the :data:`LATE_FRONT_END_DEFAULTS` parameters that are at their default (so caches
    made before those parameters existed stay valid).

    Parameters
    ----------
    wav_key : str
        The key of the clip's WAV entry.
    **params
        Front-end parameters (:func:`front_end_params`).

    Returns
    -------
    str
    """
    p = front_end_params(**params)
    p = {k: v for k, v in p.items() if not (k in LATE_FRONT_END_DEFAULTS and v == LATE_FRONT_END_DEFAULTS[k])}
    return cache.make_key("audio_mfcc", version=MFCC_VERSION, inputs=[wav_key], **p)


def load_clean(path: str | os.PathLike, **params: Any) -> tuple[np.ndarray, np.ndarray, int]:
    """The raw and pre-processed signals of one clip (for figures; not cached).

    Parameters
    ----------
    path : path-like
        The clip.
    **params
        Front-end parameters (see :func:`front_end_params`).

    Returns
    -------
    tuple
        ``(raw, preprocessed, sr)``.
    """
    p = front_end_params(**params)
    y, sr = read_wav(extract_wav(path, p["sr"]))
    clean = _preprocess_with(y, p)
    return y, clean, sr


def _preprocess_with(y: np.ndarray, p: dict[str, Any]) -> np.ndarray:
    """:func:`preprocess` with the front-end parameters ``p`` (:func:`front_end_params`)."""
    return preprocess(y, denoise=p["denoise"], n_fft=p["n_fft"], hop_length=p["hop_length"],
                      over_subtraction=p["over_subtraction"], spectral_floor=p["spectral_floor"],
                      noise_percentile=p["noise_percentile"], trim_db=p["trim_db"],
                      peak_normalize=p["peak_normalize"])


def signal_mfcc(y: np.ndarray, sr: int, params: Mapping[str, Any] | None = None) -> np.ndarray:
    """The front end on a signal already decoded: :func:`preprocess` then :func:`compute_mfcc`
    (what :func:`clip_mfcc` does to a clip's WAV; a timeline window's samples go the same way).

    Parameters
    ----------
    y : numpy.ndarray
        Mono signal at ``sr`` Hz.
    sr : int
    params : mapping or None
        Front-end parameters (:func:`front_end_params`; its ``sr`` is not used: the signal's is ``sr``).

    Returns
    -------
    numpy.ndarray
        ``(T, n_mfcc)`` float32 (``3 n_mfcc`` columns with deltas).
    """
    p = front_end_params(**(params or {}))
    clean = _preprocess_with(y, p)
    return compute_mfcc(clean, sr, n_mfcc=p["n_mfcc"], n_fft=p["n_fft"], hop_length=p["hop_length"],
                        n_mels=p["n_mels"], deltas=p["mfcc_deltas"])


def clip_mfcc(path: str | os.PathLike, **params: Any) -> dict[str, Any]:
    """Extraction + pre-processing + MFCC of one clip, cached by its content and the parameters.

    The MFCC entry is derived from the clip's WAV entry: its key includes the WAV entry's key
    (``make_key(..., inputs=[wav_key])``) and, when it must be computed, the WAV is read only
    once :func:`extract_wav` has verified it (a damaged WAV is rebuilt first).

    Parameters
    ----------
    path : path-like
        A video or audio clip (its bytes make the cache key).
    **params
        Notebook parameters; the front-end ones (:func:`front_end_params`) are used.

    Returns
    -------
    dict
        ``{"mfcc": (T, d) float32, "duration_s": float, "sr": int, "cached": bool,
        "rebuilt": int}``: ``cached`` is true only for a verified cache hit; ``rebuilt``: how many
        entries of this clip (WAV, MFCC) were found damaged and rebuilt by this call.
    """
    p = front_end_params(**params)
    path = Path(path)
    if not path.exists():
        raise media.MediaError(f"clip {path}: file not found")
    # the key extract_wav gives the clip's WAV entry (it covers the clip's bytes and ``sr``)
    wav_key = cache.make_key("audio_wav", files=[path], sr=p["sr"], version=WAV_VERSION)
    key = mfcc_key(wav_key, **p)

    def compute() -> dict[str, np.ndarray]:
        COUNTS["mfcc"] += 1
        wav = extract_wav(path, p["sr"])  # verified (size + SHA-256), rebuilt when damaged
        if not cache.verify_entry(wav):
            raise media.MediaError(f"clip {path.name}: the cached WAV {wav} failed verification")
        y, sr = read_wav(wav)
        if y.size == 0:
            raise media.MediaError(f"clip {path.name}: the audio track is empty")
        m = signal_mfcc(y, sr, p)
        if not np.all(np.isfinite(m)):
            raise media.MediaError(f"clip {path.name}: MFCC has non-finite values")
        return {"mfcc": m, "duration_s": np.float64(len(y) / sr), "sr": np.int64(sr)}

    try:
        with cache.track() as events:
            a = cache.cached_arrays("audio_mfcc", key, compute, derived_from=[wav_key])
    except media.MediaError:
        raise
    except Exception as e:  # name the clip in every failure
        raise media.MediaError(f"clip {path.name}: audio front end failed: {type(e).__name__}: {e}") from e
    cached = ("audio_mfcc", key, "hit") in events
    rebuilt = sum(ev == "rebuilt" for _, _, ev in events)
    return {"mfcc": np.asarray(a["mfcc"], dtype=np.float32), "duration_s": float(a["duration_s"]),
            "sr": int(a["sr"]), "cached": cached, "rebuilt": int(rebuilt)}


def _map(fn, items: Sequence, n_jobs: int, desc: str, progress: bool, prefer: str = "processes", bar=None) -> list:
    """``[fn(x) for x in items]`` in order, through :func:`mer_helpers.core.parallel.map_clips`
    (Dask tasks, or the no-Dask fallback of ``n_jobs`` joblib workers)."""

    return map_clips(fn, items, desc=desc, progress=progress, n_jobs=n_jobs, prefer=prefer, bar=bar)


def extract_wavs(paths: Iterable, sr: int | None = 16000, n_jobs: int = 2, progress: bool = True) -> list[Path]:
    """:func:`extract_wav` over many clips (FFmpeg only), in order (Dask tasks; without Dask,
    ``n_jobs`` threads)."""
    return _map(functools.partial(extract_wav, sr=sr), list(paths), n_jobs, "FFmpeg → WAV", progress,
                prefer="threads")


def extract_clips(paths: Iterable, n_jobs: int = 2, progress: bool = True, bar=None, **params: Any) -> list[dict]:
    """:func:`clip_mfcc` over many clips (Dask tasks, see :mod:`mer_helpers.core.parallel`; without
    Dask ``n_jobs`` processes), with a progress bar (or advancing ``bar``), in order."""
    p = front_end_params(**params)
    return _map(functools.partial(clip_mfcc, **p), list(paths), n_jobs, "denoise + MFCC", progress, bar=bar)


def extract_to_npz(paths: Sequence, clip_ids: Sequence[str], path, n_jobs: int = 2, progress: bool = True,
                   chunk: int | None = None, **params: Any) -> list[dict]:
    """Denoise + MFCC of many clips, streamed into one ``sequences.npz`` chunk by chunk.

    The clips go through :func:`extract_clips` :data:`~mer_helpers.core.parallel.CHUNK_CLIPS` at a
    time; each chunk's MFCC matrices are written to ``path`` (:class:`~mer_helpers.core.fileio.SequenceWriter`,
    one entry per clip id, in order) and dropped before the next chunk starts, so memory holds one
    chunk of matrices whatever the number of clips. The file is the one :func:`mer_helpers.core.fileio.save_sequences`
    writes for the same matrices.

    Parameters
    ----------
    paths : sequence
        Clip files.
    clip_ids : sequence of str
        One id per clip: the keys in ``path``.
    path : path-like
        The ``sequences.npz`` to write (replaced only once every clip is done).
    n_jobs : int
        Workers of the no-Dask fallback.
    progress : bool
        One progress bar over all chunks.
    chunk : int, optional
        Clips per chunk (default :data:`~mer_helpers.core.parallel.CHUNK_CLIPS`).
    **params
        :func:`front_end_params`.

    Returns
    -------
    list of dict
        Per clip, in order: the :func:`clip_mfcc` record without its ``mfcc`` matrix
        (``duration_s``, ``sr``, ``cached``, ``rebuilt``), plus ``n_frames`` and ``n_coefficients``.

    Raises
    ------
    ValueError
        When ``paths`` and ``clip_ids`` differ in length.
    """

    paths, clip_ids = list(paths), [str(c) for c in clip_ids]
    if len(paths) != len(clip_ids):
        raise ValueError(f"extract_to_npz: {len(paths)} paths but {len(clip_ids)} clip ids")
    size = chunk or CHUNK_CLIPS
    records: list[dict] = []
    bar = _progress(total=len(paths), desc="denoise + MFCC", unit="clip", disable=not progress, leave=False)
    try:
        with fileio.SequenceWriter(path) as out:
            for part, ids in zip(chunked(paths, size), chunked(clip_ids, size)):
                for cid, r in zip(ids, extract_clips(part, n_jobs=n_jobs, progress=progress, bar=bar, **params)):
                    m = r.pop("mfcc")
                    out.add(cid, m)
                    records.append({**r, "n_frames": int(m.shape[0]), "n_coefficients": int(m.shape[1])})
    finally:
        bar.close()
    return records


def extract_mfcc(paths: Iterable, n_jobs: int = 2, progress: bool = True, **params: Any) -> list[np.ndarray]:
    """The ``(T, d)`` MFCC matrices of many clips, in order (see :func:`extract_clips`)."""
    return [r["mfcc"] for r in extract_clips(paths, n_jobs=n_jobs, progress=progress, **params)]


# ----------------------------------------------------------------------------- summaries
def parse_stats(stats: str | Sequence[str]) -> tuple[str, ...]:
    """The statistics named by ``audio_stats``.

    Statistics over time of each unit: ``mean``, ``std``, ``min``, ``max``, ``dmean`` (mean
    absolute frame-to-frame change), ``dstd`` (std of the frame-to-frame change).

    Parameters
    ----------
    stats : str or sequence of str
        ``"mean_std"`` / ``"full"`` (presets of :data:`STAT_PRESETS`), ``"mean,std,max"`` or a list.

    Returns
    -------
    tuple of str

    Raises
    ------
    ValueError
        For an unknown or empty statistic list.
    """
    if isinstance(stats, str):
        names = STAT_PRESETS.get(stats) or tuple(s.strip() for s in stats.split(",") if s.strip())
    else:
        names = tuple(str(s) for s in stats)
    bad = [s for s in names if s not in _STAT_FUNCS]
    if bad or not names:
        raise ValueError(f"audio_stats {stats!r}: unknown statistic(s) {bad}; use a preset "
                         f"{sorted(STAT_PRESETS)} or names from {sorted(_STAT_FUNCS)}")
    return names


def _diff(s: np.ndarray) -> np.ndarray:
    return np.diff(s, axis=0) if len(s) > 1 else np.zeros_like(s[:1])


_STAT_FUNCS = {
    "mean": lambda s: s.mean(axis=0),
    "std": lambda s: s.std(axis=0),
    "min": lambda s: s.min(axis=0),
    "max": lambda s: s.max(axis=0),
    "dmean": lambda s: np.abs(_diff(s)).mean(axis=0),
    "dstd": lambda s: _diff(s).std(axis=0),
}


def summarize(sequences: Sequence[np.ndarray], stats: str | Sequence[str] = "mean_std",
              prefix: str = "audio:ae", precision=np.float64) -> tuple[np.ndarray, list[str]]:
    """Fixed-length clip vectors from ``(T, d)`` sequences (the one home of the MFCC and
    bottleneck statistics: notebook 02, :class:`AudioFeaturizer`,
    :func:`mer_helpers.methods.evaluation.plain_feature_references`).

    Parameters
    ----------
    sequences : sequence of numpy.ndarray
        One ``(T, d)`` array per clip (the same ``d`` for all).
    stats : str or sequence of str
        A preset of :data:`STAT_PRESETS` or statistic names (see :func:`parse_stats`).
    prefix : str
        Start of the column names.
    precision : numpy dtype
        What the statistics are computed in (float64; the plain-feature references of
        notebook 07 have always used the sequences' own float32, and keep it so that their
        numbers stay put).

    Returns
    -------
    tuple
        ``(X, columns)``: ``X (n, len(stats) * d)`` float32 and the names
        ``f"{prefix}_{stat}:{i}"`` (grouped by statistic).
    """
    names = parse_stats(stats)
    if not len(sequences):
        return np.zeros((0, 0), np.float32), []
    d = sequences[0].shape[1]
    columns = [f"{prefix}_{s}:{i}" for s in names for i in range(d)]
    X = np.zeros((len(sequences), len(columns)), dtype=np.float32)
    for j, seq in enumerate(sequences):
        seq = np.asarray(seq, dtype=precision)
        X[j] = np.concatenate([_STAT_FUNCS[s](seq) for s in names])
    return X, columns


def mfcc_summary(mfcc_list: Sequence[np.ndarray], precision=np.float64) -> tuple[np.ndarray, list[str]]:
    """The plain baseline: mean and std of each MFCC over time.

    Parameters
    ----------
    mfcc_list : sequence of numpy.ndarray
        One ``(T, n_mfcc)`` MFCC matrix per clip.
    precision : numpy dtype
        As for :func:`summarize`.

    Returns
    -------
    tuple
        ``(X, columns)`` with columns ``audio:mfcc_mean:i`` then ``audio:mfcc_std:i``.
    """
    return summarize(mfcc_list, "mean_std", prefix="audio:mfcc", precision=precision)


# ----------------------------------------------------------------------------- autoencoder
def build_autoencoder(n_inputs: int, hidden_units: int = 64, bottleneck_units: int = 32,
                      l2: float = 0.0, sparsity: float = 0.0):
    """Algorithm 1's dense autoencoder (compiled: Adam, MSE).

    Parameters
    ----------
    n_inputs : int
        Values per MFCC frame.
    hidden_units, bottleneck_units : int
        Widths of the hidden and bottleneck layers (ReLU).
    l2 : float
        Adds ``l2 * sum(W**2)`` of every kernel to the loss (weight decay).
    sparsity : float
        Adds ``sparsity * sum(|z|)`` of the bottleneck activations (λ L_reg in Algorithm 1).

    Returns
    -------
    tuple of keras.Model
        ``(autoencoder, encoder)``.
    """
    import keras
    from keras import layers, regularizers

    reg = regularizers.L2(l2) if l2 else None
    act = regularizers.L1(sparsity) if sparsity else None
    x = keras.Input(shape=(n_inputs,), name="mfcc_frame")
    h = layers.Dense(hidden_units, activation="relu", kernel_regularizer=reg, name="encoder_hidden")(x)
    z = layers.Dense(bottleneck_units, activation="relu", kernel_regularizer=reg,
                     activity_regularizer=act, name="bottleneck")(h)
    h2 = layers.Dense(hidden_units, activation="relu", kernel_regularizer=reg, name="decoder_hidden")(z)
    x_hat = layers.Dense(n_inputs, activation="sigmoid", kernel_regularizer=reg, name="reconstruction")(h2)
    autoencoder = keras.Model(x, x_hat, name="audio_autoencoder")
    autoencoder.compile(optimizer=keras.optimizers.Adam(), loss="mean_squared_error")
    encoder = keras.Model(x, z, name="audio_encoder")
    return autoencoder, encoder


def _apply(model, Z: np.ndarray, chunk: int = 65536) -> np.ndarray:
    """``model(Z)`` as float32 numpy, in chunks; a plain call instead of ``predict`` avoids the
    re-tracing that ``predict`` does for every new input length."""
    import keras

    out = [keras.ops.convert_to_numpy(model(Z[i:i + chunk], training=False))
           for i in range(0, len(Z), chunk)]
    return np.concatenate(out).astype(np.float32) if out else np.zeros((0, model.output_shape[-1]), np.float32)


class AudioFeaturizer(TransformerMixin, BaseEstimator):
    """The fitted audio branch of one split: MinMax scaler + dense autoencoder (+ front end).

    ``features`` chooses the feature sets (see the module docstring): ``"ae"`` (the papers'),
    ``"mfcc_stats"``, ``"egemaps"`` or a ``+`` combination. Without ``ae`` nothing is trained and
    the sequences returned are the (unscaled) MFCC frames.

    ``fit(mfcc_list)`` takes the ``(T, n_mfcc)`` MFCC matrices of the split's *training* clips,
    fits a ``MinMaxScaler`` (to [0, 1]) on their frames and trains Algorithm 1's autoencoder on
    them (MSE, Adam). The validation part (``validation_split`` of the training frames) is made
    of whole clips, so frames of one utterance are never on both sides of the early-look at the
    loss; with fewer than two clips it falls back to a random frame split.

    ``transform(mfcc_list)`` → ``X (n, len(stats) * bottleneck_units)`` float32, the summary of
    each clip's bottleneck sequence; :meth:`featurize` → ``(X, columns, sequences)`` also gives the
    column names and the sequences ``(T, bottleneck_units)``. Frames of unseen clips are scaled
    with the training min/max and clipped to [0, 1].

    The front-end parameters (``sr`` ... ``n_mels``) are stored so that
    :meth:`transform_paths` treats new clips exactly like the training clips.

    Parameters
    ----------
    hidden_units, bottleneck_units : int
        Widths of the autoencoder's hidden and bottleneck layers.
    epochs, batch_size, validation_split, l2, sparsity : training of the autoencoder.
    stats : str
        Statistics of each sequence (``mean_std`` ...; see :func:`parse_stats`).
    random_state : int
        Seed of the validation clips and of Keras.
    progress : bool
        Show a progress bar while training.
    sr, denoise, over_subtraction, spectral_floor, noise_percentile, n_mfcc, mfcc_deltas, n_fft, hop_length, n_mels, trim_db, peak_normalize :
        The front end (see :func:`clip_mfcc` and :func:`preprocess`).
    features : str
        Feature sets: ``ae``, ``mfcc_stats``, ``egemaps`` or a ``+`` combination.

    Attributes
    ----------
    columns_ : list of str
        The names of the output columns (learned in :meth:`fit`).

    Notes
    -----
    Not run through scikit-learn's ``check_estimator``: ``X`` is a list of variable-length
    ``(T_i, n_mfcc)`` MFCC matrices (one per clip; a single 2-D array is read as *one* clip),
    so every check that feeds a 2-D ``(n_samples, n_features)`` array gets one output row and
    fails on the sample count. ``tests/test_estimators.py`` checks ``get_params`` / ``clone``,
    ``fit`` returning ``self``, ``transform`` returning an array and the not-fitted error.
    """

    def __init__(self, hidden_units: int = 64, bottleneck_units: int = 32, epochs: int = 100,
                 batch_size: int = 256, validation_split: float = 0.2, l2: float = 0.0,
                 sparsity: float = 0.0, stats: str = "mean_std", random_state: int = 42,
                 progress: bool = True, sr: int | None = 16000, denoise: bool = True,
                 over_subtraction: float = 2.0, spectral_floor: float = 0.02,
                 noise_percentile: float = 10.0, n_mfcc: int = 13, mfcc_deltas: bool = False,
                 n_fft: int = 2048, hop_length: int = 512, n_mels: int = 128, features: str = "ae",
                 trim_db: float | None = None, peak_normalize: bool = True):
        store_init_params(self, locals())

    # -- helpers
    @staticmethod
    def _check_list(mfcc_list, n_features: int | None = None) -> list[np.ndarray]:
        if isinstance(mfcc_list, np.ndarray) and mfcc_list.ndim == 2:
            mfcc_list = [mfcc_list]
        out = []
        for i, m in enumerate(mfcc_list):
            m = np.asarray(m, dtype=np.float32)
            if m.ndim != 2 or m.shape[0] == 0:
                raise ValueError(f"clip #{i}: expected a (T>0, n_mfcc) MFCC matrix, got shape {m.shape}")
            if n_features is not None and m.shape[1] != n_features:
                raise ValueError(f"clip #{i}: has {m.shape[1]} MFCC coefficients, the featurizer was "
                                 f"fitted on {n_features}")
            out.append(m)
        return out

    def front_end(self) -> dict[str, Any]:
        """The extraction / MFCC parameters this featurizer expects.

        Returns
        -------
        dict
            The keyword arguments of :func:`clip_mfcc`.
        """
        return front_end_params(**{k: getattr(self, k) for k in FRONT_END_DEFAULTS})

    def _validation_mask(self, lengths: np.ndarray) -> np.ndarray:
        """Boolean mask over training frames: True = validation frame (whole clips)."""
        n = int(lengths.sum())
        mask = np.zeros(n, dtype=bool)
        vs = float(self.validation_split or 0.0)
        if vs <= 0:
            self.validation_clips_ = []
            return mask
        rng = np.random.default_rng(self.random_state)
        if len(lengths) >= 2:
            starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
            chosen, total = [], 0
            for i in rng.permutation(len(lengths)):
                if total >= vs * n or len(chosen) == len(lengths) - 1:
                    break
                chosen.append(int(i))
                mask[starts[i]:starts[i] + lengths[i]] = True
                total += int(lengths[i])
            self.validation_clips_ = sorted(chosen)
        else:
            mask[rng.permutation(n)[: int(round(vs * n))]] = True
            self.validation_clips_ = []
        return mask

    # -- estimator API
    def fit(self, X, y=None, groups=None):
        """Fit the scaler and the autoencoder on the frames of the training clips.

        Parameters
        ----------
        X : list of ndarray of shape (T_i, n_mfcc)
            MFCC matrices of the training clips.
        y, groups : ignored

        Returns
        -------
        self : AudioFeaturizer
        """
        import time

        import keras

        t0 = time.perf_counter()
        mfcc_list = self._check_list(X)
        if not mfcc_list:
            raise ValueError("AudioFeaturizer.fit: no training clips")
        frames = np.concatenate(mfcc_list, axis=0)
        lengths = np.array([len(m) for m in mfcc_list])
        self.n_features_in_ = frames.shape[1]
        self.n_train_clips_ = len(mfcc_list)
        self.n_train_frames_ = len(frames)
        self.feature_sets_ = parse_audio_features(self.features)
        self.scaler_ = MinMaxScaler(feature_range=(0, 1), clip=True).fit(frames)
        self.columns_ = self._columns()
        if "ae" not in self.feature_sets_:  # plain statistics: nothing to train
            self.history_, self.n_val_frames_, self.validation_clips_ = {}, 0, []
            self.encoder_ = self.autoencoder_ = None
            self.fit_seconds_ = round(time.perf_counter() - t0, 3)
            return self
        Z = self.scaler_.transform(frames).astype(np.float32)
        val = self._validation_mask(lengths)
        keras.utils.set_random_seed(int(self.random_state))
        self.autoencoder_, self.encoder_ = build_autoencoder(
            self.n_features_in_, int(self.hidden_units), int(self.bottleneck_units),
            l2=float(self.l2), sparsity=float(self.sparsity))
        Xtr, Xva = Z[~val], Z[val]
        h = self.autoencoder_.fit(
            Xtr, Xtr, epochs=int(self.epochs), batch_size=int(self.batch_size), shuffle=True,
            validation_data=(Xva, Xva) if len(Xva) else None, verbose=0,
            callbacks=[epoch_bar(int(self.epochs), "autoencoder", bool(self.progress))])
        self.history_ = {k: [float(v) for v in vals] for k, vals in h.history.items()}
        self.n_val_frames_ = int(val.sum())
        self.fit_seconds_ = round(time.perf_counter() - t0, 3)
        return self

    def describe_fit(self, seconds: float) -> str:
        """One line on the autoencoder's training (clips, frames, epochs, final losses).

        Parameters
        ----------
        seconds : float
            The training time to report.

        Returns
        -------
        str
            ``""`` when the feature sets train nothing.
        """
        h = getattr(self, "history_", {}) or {}
        if not h.get("loss"):
            return ""
        val = (h.get("val_loss") or [float("nan")])[-1]
        return (f"{self.n_train_clips_} train clips ({self.n_train_frames_} frames), {len(h['loss'])} epochs in "
                f"{seconds:.1f} s; loss {h['loss'][-1]:.4f}, val_loss {val:.4f}")

    @property
    def uses_ae(self) -> bool:
        return "ae" in parse_audio_features(self.features)

    def _check_fitted(self):
        if not hasattr(self, "scaler_"):
            raise RuntimeError("AudioFeaturizer is not fitted: call fit() or AudioFeaturizer.load()")

    def _scaled(self, mfcc_list) -> tuple[np.ndarray, np.ndarray]:
        mfcc_list = self._check_list(mfcc_list, self.n_features_in_)
        if not mfcc_list:
            return np.zeros((0, self.n_features_in_), np.float32), np.zeros(0, int)
        frames = np.concatenate(mfcc_list, axis=0)
        return self.scaler_.transform(frames).astype(np.float32), np.array([len(m) for m in mfcc_list])

    def encode(self, mfcc_list) -> list[np.ndarray]:
        """The bottleneck sequence of each clip.

        Parameters
        ----------
        mfcc_list : list of ndarray of shape (T_i, n_mfcc)

        Returns
        -------
        list of ndarray of shape (T_i, bottleneck_units), float32
        """
        self._check_fitted()
        if self.encoder_ is None:
            raise RuntimeError(f"AudioFeaturizer(features={self.features!r}) has no autoencoder to encode with")
        Z, lengths = self._scaled(mfcc_list)
        if not len(Z):
            return []
        codes = _apply(self.encoder_, Z)
        return np.split(codes, np.cumsum(lengths)[:-1])

    def transform(self, X, egemaps: np.ndarray | None = None) -> np.ndarray:
        """The clips' feature vectors.

        Parameters
        ----------
        X : list of ndarray of shape (T_i, n_mfcc)
            MFCC matrices, one per clip.
        egemaps : ndarray of shape (n_clips, 88) or None
            The clips' eGeMAPS functionals (needed when ``features`` includes ``egemaps``).

        Returns
        -------
        ndarray of shape (n_clips, len(columns_)), float32
        """
        return self.featurize(X, egemaps=egemaps)[0]

    def featurize(self, X, egemaps: np.ndarray | None = None) -> tuple[np.ndarray, list[str], list[np.ndarray]]:
        """Feature vectors, their column names and the clips' sequences.

        Parameters
        ----------
        X : list of ndarray of shape (T_i, n_mfcc)
            MFCC matrices, one per clip.
        egemaps : ndarray of shape (n_clips, 88) or None
            The clips' eGeMAPS functionals (needed when ``features`` includes ``egemaps``;
            :meth:`transform_paths` computes them).

        Returns
        -------
        X : ndarray of shape (n_clips, d), float32
        columns : list of str
        sequences : list of ndarray
            The bottleneck codes ``(T_i, bottleneck_units)`` with ``ae``, else the MFCC frames.
        """
        self._check_fitted()
        sets = parse_audio_features(self.features)
        mfcc_list = self._check_list(X, self.n_features_in_)
        if not mfcc_list:
            return np.zeros((0, len(self.columns_)), np.float32), list(self.columns_), []
        parts, columns = [], []
        sequences = self.encode(mfcc_list) if "ae" in sets else mfcc_list
        if "ae" in sets:
            f, c = summarize(sequences, self.stats, prefix="audio:ae")
            parts.append(f), columns.extend(c)
        if "mfcc_stats" in sets:
            f, c = summarize(mfcc_list, self.stats, prefix="audio:mfcc")
            parts.append(f), columns.extend(c)
        if "egemaps" in sets:
            if egemaps is None or len(egemaps) != len(mfcc_list):
                raise ValueError("AudioFeaturizer.transform: features include egemaps; pass egemaps=(n, 88) "
                                 "functionals of the same clips (transform_paths computes them)")
            parts.append(np.asarray(egemaps, np.float32))
            columns.extend(f"audio:egemaps:{i}" for i in range(np.shape(egemaps)[1]))
        return np.concatenate(parts, axis=1).astype(np.float32), columns, sequences

    def fit_transform(self, X, y=None, **fit_params):
        """:meth:`fit` then :meth:`transform` (an array; ``featurize`` gives the sequences too)."""
        return self.fit(X, y, **fit_params).transform(X)

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        """The output column names (``columns_``) as an array, as scikit-learn expects."""
        self._check_fitted()
        return np.asarray(self.columns_, dtype=object)

    def _columns(self) -> list[str]:
        sets = parse_audio_features(self.features)
        cols = []
        if "ae" in sets:
            cols += [f"audio:ae_{s}:{i}" for s in parse_stats(self.stats) for i in range(int(self.bottleneck_units))]
        if "mfcc_stats" in sets:
            d = getattr(self, "n_features_in_", None) or int(self.n_mfcc) * (3 if self.mfcc_deltas else 1)
            cols += [f"audio:mfcc_{s}:{i}" for s in parse_stats(self.stats) for i in range(d)]
        if "egemaps" in sets:
            cols += [f"audio:egemaps:{i}" for i in range(88)]
        return cols

    def reconstruction_error(self, X) -> np.ndarray:
        """Per-clip mean squared reconstruction error in the scaled [0, 1] space.

        Parameters
        ----------
        X : list of ndarray of shape (T_i, n_mfcc)

        Returns
        -------
        ndarray of shape (n_clips,)
        """
        self._check_fitted()
        Z, lengths = self._scaled(X)
        R = _apply(self.autoencoder_, Z)
        err = ((R - Z) ** 2).mean(axis=1)
        return np.array([e.mean() for e in np.split(err, np.cumsum(lengths)[:-1])])

    def reconstruction_r2(self, X) -> float:
        """Share of the variance of the scaled frames of ``X`` that the autoencoder reproduces:
        ``1 - sum((x - x_hat)^2) / sum((x - mean)^2)`` over all frames and coefficients.

        Parameters
        ----------
        X : list of ndarray of shape (T_i, n_mfcc)

        Returns
        -------
        float
            NaN without an autoencoder.
        """
        self._check_fitted()
        if self.autoencoder_ is None:
            return float("nan")
        Z, _ = self._scaled(X)
        R = _apply(self.autoencoder_, Z)
        return float(1.0 - ((R - Z) ** 2).sum() / ((Z - Z.mean(axis=0)) ** 2).sum())

    def transform_paths(self, paths, n_jobs: int = 1, progress: bool | None = None):
        """Extraction + pre-processing + MFCC (cached) + :meth:`featurize` for clip files.

        Parameters
        ----------
        paths : sequence of path-like
            Clip files.
        n_jobs : int
            Clips extracted at a time.
        progress : bool or None
            Progress bars (``None``: the ``progress`` parameter).

        Returns
        -------
        tuple
            ``(X (n, d) float32, columns, sequences)`` as :meth:`featurize`.
        """
        self._check_fitted()
        prog = self.progress if progress is None else progress
        paths = list(paths)
        mfcc = extract_mfcc(paths, n_jobs=n_jobs, progress=prog, **self.front_end())
        ege = None
        if "egemaps" in parse_audio_features(self.features):
            ege = extract_egemaps(paths, sr=self.front_end()["sr"], n_jobs=n_jobs, progress=prog)[0]
        return self.featurize(mfcc, egemaps=ege)

    # -- persistence
    def save(self, directory: str | os.PathLike) -> Path:
        """Write ``config.json``, ``scaler.npz``, ``encoder.keras`` and ``autoencoder.keras``.

        Parameters
        ----------
        directory : path-like
            The audio branch's folder (created if missing); the two ``.keras`` files are left
            out when the features use no autoencoder.

        Returns
        -------
        Path
            ``directory``, for :meth:`load`.
        """
        self._check_fitted()
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        models = (("encoder.keras", self.encoder_), ("autoencoder.keras", self.autoencoder_))
        for name, model in (models if self.encoder_ is not None else ()):
            fileio.atomic_write(d / name, model.save, suffix=".keras")
        fileio.save_npz(d / "scaler.npz", data_min=self.scaler_.data_min_, data_max=self.scaler_.data_max_)
        fileio.write_json(d / "config.json", {
            "class": "AudioFeaturizer", "version": 1, "params": self.get_params(),
            "n_features_in": int(self.n_features_in_), "columns": self.columns_,
            "n_train_clips": int(self.n_train_clips_), "n_train_frames": int(self.n_train_frames_),
            "history": self.history_})
        return d

    @classmethod
    def load(cls, directory: str | os.PathLike) -> "AudioFeaturizer":
        """Rebuild a featurizer written by :meth:`save`: parameters and columns from ``config.json``,
        the min-max scaler from ``scaler.npz``, the Keras models when the features use them.

        Parameters
        ----------
        directory : path-like
            A folder written by :meth:`save` (in a run, ``model/audio``); a missing
            ``config.json`` raises ``FileNotFoundError`` naming what writes it.

        Returns
        -------
        AudioFeaturizer
            Fitted, ready for :meth:`featurize`.
        """
        import keras

        d = Path(directory)
        cfg = fileio.read_saved(d, "config.json", "AudioFeaturizer", "AudioFeaturizer.save, e.g. by notebook 02")
        self = cls(**cfg["params"])
        with np.load(d / "scaler.npz") as z:
            lo, hi = z["data_min"], z["data_max"]
        # fitting on the two extreme rows reproduces data_min_/data_max_ (hence min_/scale_)
        self.scaler_ = MinMaxScaler(feature_range=(0, 1), clip=True).fit(np.vstack([lo, hi]))
        self.encoder_ = self.autoencoder_ = None
        if self.uses_ae:
            self.encoder_ = keras.saving.load_model(d / "encoder.keras", compile=False)
            self.autoencoder_ = keras.saving.load_model(d / "autoencoder.keras", compile=False)
        self.n_features_in_ = int(cfg["n_features_in"])
        self.n_train_clips_ = int(cfg.get("n_train_clips", 0))
        self.n_train_frames_ = int(cfg.get("n_train_frames", 0))
        self.history_ = cfg.get("history", {})
        self.feature_sets_ = parse_audio_features(self.features)
        self.columns_ = [str(c) for c in cfg["columns"]] if "columns" in cfg else self._columns()
        return self


__all__ = [
    "FRONT_END_DEFAULTS", "STAT_PRESETS", "COUNTS", "extract_wav", "read_wav", "spectral_subtraction",
    "preprocess", "trim_silence", "LATE_FRONT_END_DEFAULTS", "compute_mfcc", "front_end_params",
    "load_clean", "clip_mfcc", "extract_wavs", "extract_clips", "extract_to_npz", "extract_mfcc",
    "parse_stats", "summarize", "mfcc_summary", "build_autoencoder", "AudioFeaturizer"
]
