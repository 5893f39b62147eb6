"""The audio branch's front end: FFmpeg → WAV → spectral subtraction → peak normalisation →
MFCC (paper 2, Algorithm 1; paper 1, §3.2.1); the clip vectors made from the MFCCs (dense
autoencoder, statistics, eGeMAPS) are :mod:`mer_helpers.methods.audio_featurizer`.

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
4. :class:`mer_helpers.methods.audio_featurizer.AudioFeaturizer` — the clip vector, made of one or more feature sets
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

from mer_helpers.core import cache, cache_events, fileio, media
from mer_helpers.core.parallel import CHUNK_CLIPS, chunked, map_clips
from mer_helpers.core.progress import progress as _progress

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
        with cache_events.track() as events:
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


__all__ = [
    "FRONT_END_DEFAULTS", "COUNTS", "extract_wav", "read_wav", "spectral_subtraction",
    "preprocess", "trim_silence", "LATE_FRONT_END_DEFAULTS", "compute_mfcc", "front_end_params",
    "load_clean", "clip_mfcc", "extract_wavs", "extract_clips", "extract_to_npz", "extract_mfcc",
]
