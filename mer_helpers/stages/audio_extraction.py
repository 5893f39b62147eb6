"""Notebook 01 (audio extraction): the denoising figure, the MFCC examples, the stage record.

The extraction itself (FFmpeg, spectral subtraction, MFCCs, the cache) is
:mod:`mer_helpers.methods.audio`; this module only shows and records what it did.
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from mer_helpers.core import cache_events


# ----------------------------------------------------------------------------- figures
def plot_denoising(raw: np.ndarray, clean: np.ndarray, sr: int, title: str = "", n_fft: int = 512,
                   hop_length: int = 160):
    """2 x 2 figure: waveform and log-magnitude spectrogram before (left) and after (right)
    pre-processing (spectral subtraction + peak normalisation).

    Parameters
    ----------
    raw, clean : numpy.ndarray
        The signals of :func:`load_clean`.
    sr : int
        Their rate.
    title : str
        Figure title.
    n_fft, hop_length : int
        Of the spectrograms.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import librosa
    import librosa.display
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(11, 6), sharex="col", layout="constrained")
    for col, (y, name) in enumerate(((raw, "before"), (clean, "after"))):
        t = np.arange(len(y)) / sr
        axes[0, col].plot(t, y, lw=0.5)
        axes[0, col].set_title(f"{name}: waveform")
        axes[0, col].set_ylabel("amplitude")
        S = librosa.amplitude_to_db(np.abs(librosa.stft(y, n_fft=n_fft, hop_length=hop_length)) + 1e-10,
                                    ref=np.max, top_db=80)
        img = librosa.display.specshow(S, sr=sr, hop_length=hop_length, x_axis="time", y_axis="hz",
                                       ax=axes[1, col], cmap="magma")
        axes[1, col].set_title(f"{name}: spectrogram")
    fig.colorbar(img, ax=axes[1, :], format="%+2.0f dB", shrink=0.8, label="dB re max")
    fig.suptitle(title)
    return fig


def plot_mfcc_examples(examples, mfcc: Mapping[str, np.ndarray], sr: Mapping[str, int], hop_length: int = 160):
    """MFCC matrices of a few clips side by side, on one colour scale (notebook 01).

    The scale is the 99th percentile of ``|value|`` of coefficients 1.. of the clips shown
    (coefficient 0, the log energy, is far larger and would wash the others out; its values
    beyond the scale show at the ends of the colour map).

    Parameters
    ----------
    examples : DataFrame
        Rows of ``labels.csv`` (``clip_id``, ``label``).
    mfcc : mapping
        Clip id -> its ``(T, d)`` MFCC matrix (e.g. :func:`mer_helpers.core.fileio.load_sequences` of
        the examples only).
    sr : mapping
        Clip id -> its sample rate.
    hop_length : int
        Hop of the MFCC frames in samples (the time axis).

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    # constrained layout and two-line titles (label, then clip id): long clip ids overlapped side by side
    fig, axes = plt.subplots(1, len(examples), figsize=(3.2 * len(examples) + 1, 3.6), squeeze=False,
                             layout="constrained")  # ~10 inches for three: the book shrinks wider images
    mats = [np.asarray(mfcc[r.clip_id]) for r in examples.itertuples()]
    lim = max(float(np.percentile(np.abs(m[:, 1:] if m.shape[1] > 1 else m), 99)) for m in mats) or 1.0
    for ax, row, m in zip(axes[0], examples.itertuples(), mats):
        im = ax.imshow(m.T, aspect="auto", origin="lower", cmap="coolwarm", vmin=-lim, vmax=lim,
                       extent=[0, m.shape[0] * hop_length / sr[row.clip_id], 0, m.shape[1]])
        ax.set_title(f"{row.label}\n{row.clip_id}", fontsize=9)
        ax.set_xlabel("time (s)")
        ax.set_ylabel("MFCC index")
    fig.colorbar(im, ax=axes[0].tolist(), shrink=0.8, extend="both", label="MFCC value")
    return fig


def extraction_record(front: Mapping[str, Any], clips: Sequence[Mapping[str, Any]], table,
                      extract_seconds: float, mfcc_seconds: float) -> dict:
    """``audio/extraction.json`` of notebook 01: the front end, counts, cache use and timings.

    Cache entries found damaged and rebuilt are the WAVs checked by :func:`extract_wavs`
    (threads of this process) plus those of :func:`extract_clips`, which its worker processes
    report per clip (when it ran in this process, ``n_jobs=1``, this process' counters hold them all).

    Parameters
    ----------
    front : mapping
        :func:`front_end_params` of the run.
    clips : sequence of mapping
        :func:`extract_to_npz` (or :func:`extract_clips`) records (``cached``, ``rebuilt``).
    table : DataFrame
        ``audio/clips.csv`` (``n_frames``, ``duration_s``).
    extract_seconds, mfcc_seconds : float
        Wall times of the WAV extraction and of pre-processing + MFCC.

    Returns
    -------
    dict
    """
    here = cache_events.stats()
    in_kernel = any(here.get("audio_mfcc", {}).values())
    n_rebuilt = here.get("audio_wav", {}).get("rebuilt", 0) + (
        here.get("audio_mfcc", {}).get("rebuilt", 0) if in_kernel else sum(c["rebuilt"] for c in clips))
    return {"parameters": front, "n_clips": len(clips), "n_from_cache": sum(c["cached"] for c in clips),
            "n_rebuilt": int(n_rebuilt), "n_frames_total": int(table["n_frames"].sum()),
            "duration_s_total": float(table["duration_s"].sum()),
            "timings_s": {"extraction": round(extract_seconds, 3), "preprocess_mfcc": round(mfcc_seconds, 3)}}
