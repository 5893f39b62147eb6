"""Richer speech descriptors as a representation lever (issue 20, lever 2). Not the papers' method.

Standalone: reads the 16 kHz FLAC files directly (no ``mer_helpers``). Per clip, after
``librosa.effects.trim(top_db=30)``:

* ``mfcc``: 40 MFCC (``n_fft=512, hop_length=160``, librosa's default 128 mel bands, as the
  issue's yardstick) + delta + delta-delta, mean and std over frames (240 values);
* ``extra``: 64 log-mel bands (same frames) mean and std (128), pitch from ``librosa.pyin``
  (or ``yin`` with ``--pitch yin``; 60-500 Hz, ``frame_length=1024``) as semitones: 10/25/50/75/90th
  percentiles, mean, std and voiced fraction (8), RMS energy in dB: 10/25/50/75/90th percentiles,
  mean and std (7), and the trimmed duration in seconds (1): 144 values.

Every row is a standardised logistic regression (``StandardScaler`` + ``LogisticRegression
(C=1, max_iter=5000)``), macro-F1:

(a) RAVDESS speech actors 01-20, six emotions (angry, disgust, fear, happy, sad, surprise),
    speaker-grouped 5-fold (``GroupKFold``), mean and std over folds;
(b) cross-corpus, three classes (happy, sad, surprise): fitted on every RAVDESS clip of the three
    classes, scored on SAVEE's four speakers.

``plain`` = the features as they are; ``z/speaker`` = each speaker's columns z-scored over that
speaker's own clips in the experiment (no labels used; the statistics of a test speaker come from
that speaker's unlabelled clips, as ``person_norm_audio=zscore`` in the chain).

Per-clip features are cached in ``--cache`` (one ``.npz`` per corpus), so reruns only refit.

    OMP_NUM_THREADS=1 python scripts/speech_descriptors.py --data /work/shared/data \\
        --cache /tmp/speech_desc --out scripts/speech_descriptors_table.md
"""
from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np

SR = 16000
N_FFT, HOP = 512, 160
RAVDESS = {"05": "angry", "07": "disgust", "06": "fear", "03": "happy", "04": "sad", "08": "surprise"}
SAVEE = {"a": "angry", "d": "disgust", "f": "fear", "h": "happy", "sa": "sad", "su": "surprise"}
SIX = ("angry", "disgust", "fear", "happy", "sad", "surprise")
THREE = ("happy", "sad", "surprise")
PCT = (10, 25, 50, 75, 90)


def clips(data: Path, corpus: str):
    """``(path, speaker, label)`` for every clip of the six emotions in ``corpus``."""
    out = []
    if corpus == "ravdess":
        for p in sorted((data / "ravdess_speech").glob("Actor_*/*.flac")):
            parts = p.stem.split("-")
            if parts[2] in RAVDESS:
                out.append((p, parts[6], RAVDESS[parts[2]]))
    else:
        for p in sorted((data / "savee").glob("*/*.flac")):
            code = p.stem.rstrip("0123456789")
            if code in SAVEE:
                out.append((p, p.parent.name, SAVEE[code]))
    return out


def features(path: Path, pitch: str = "pyin"):
    """``(mfcc_part, extra_part)`` of one clip (see the module docstring)."""
    import librosa
    import soundfile as sf

    y, sr = sf.read(str(path), dtype="float32", always_2d=False)
    if y.ndim > 1:
        y = y.mean(axis=1)
    assert sr == SR, (path, sr)
    y, _ = librosa.effects.trim(y, top_db=30)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # empty mel filters of 128 bands at n_fft=512
        m = librosa.feature.mfcc(y=y, sr=sr, n_mfcc=40, n_fft=N_FFT, hop_length=HOP)
    d1 = librosa.feature.delta(m, order=1)
    d2 = librosa.feature.delta(m, order=2)
    mf = np.concatenate([m, d1, d2])
    mfcc_part = np.concatenate([mf.mean(1), mf.std(1)])

    mel = librosa.power_to_db(librosa.feature.melspectrogram(y=y, sr=sr, n_fft=N_FFT, hop_length=HOP, n_mels=64))
    rms = librosa.amplitude_to_db(librosa.feature.rms(y=y, frame_length=N_FFT, hop_length=HOP)[0] + 1e-10)
    if pitch == "pyin":
        f0, voiced, _ = librosa.pyin(y, fmin=60, fmax=500, sr=sr, frame_length=1024, hop_length=HOP)
        f0 = f0[voiced & np.isfinite(f0)]
        vfrac = float(np.mean(voiced))
    else:
        f0 = librosa.yin(y, fmin=60, fmax=500, sr=sr, frame_length=1024, hop_length=HOP)
        r = librosa.feature.rms(y=y, frame_length=1024, hop_length=HOP)[0][: len(f0)]
        keep = r > 0.1 * r.max()  # crude voicing: frames within 20 dB of the loudest
        f0 = f0[: len(keep)][keep]
        vfrac = float(np.mean(keep))
    st = 12 * np.log2(f0 / 100.0) if len(f0) else np.zeros(1)
    pitch_part = np.concatenate([np.percentile(st, PCT), [st.mean(), st.std(), vfrac]])
    rms_part = np.concatenate([np.percentile(rms, PCT), [rms.mean(), rms.std()]])
    extra = np.concatenate([mel.mean(1), mel.std(1), pitch_part, rms_part, [len(y) / sr]])
    return mfcc_part.astype(np.float32), extra.astype(np.float32)


def load(data: Path, corpus: str, cache: Path, pitch: str):
    """Cached per-clip matrices ``(mfcc, extra, speakers, labels, names)`` of ``corpus``."""
    f = cache / (f"{corpus}_{pitch}.npz" if N_FFT == 512 else f"{corpus}_{pitch}_nfft{N_FFT}.npz")
    if f.exists():
        z = np.load(f, allow_pickle=False)
        return z["mfcc"], z["extra"], z["speaker"], z["label"], z["name"]
    rows = clips(data, corpus)
    t0 = time.perf_counter()
    M, E = [], []
    for i, (p, _, _) in enumerate(rows):
        a, b = features(p, pitch)
        M.append(a)
        E.append(b)
        if (i + 1) % 100 == 0:
            print(f"  {corpus}: {i + 1}/{len(rows)} clips, {time.perf_counter() - t0:.0f} s", flush=True)
    print(f"{corpus}: {len(rows)} clips in {time.perf_counter() - t0:.0f} s", flush=True)
    cache.mkdir(parents=True, exist_ok=True)
    out = dict(mfcc=np.stack(M), extra=np.stack(E), speaker=np.array([r[1] for r in rows]),
               label=np.array([r[2] for r in rows]), name=np.array([r[0].stem for r in rows]))
    np.savez(f, **out)
    return out["mfcc"], out["extra"], out["speaker"], out["label"], out["name"]


def zscore_per_speaker(X: np.ndarray, spk: np.ndarray) -> np.ndarray:
    """Each speaker's columns z-scored over that speaker's rows (no labels read)."""
    X = X.astype(np.float64).copy()
    for s in np.unique(spk):
        i = spk == s
        X[i] = (X[i] - X[i].mean(0)) / (X[i].std(0) + 1e-8)
    return X


def logreg():
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=5000))


def grouped_cv(X, y, g, k=5):
    from sklearn.metrics import f1_score
    from sklearn.model_selection import GroupKFold

    f1 = []
    for tr, te in GroupKFold(n_splits=k).split(X, y, g):
        m = logreg().fit(X[tr], y[tr])
        f1.append(f1_score(y[te], m.predict(X[te]), average="macro"))
    return float(np.mean(f1)), float(np.std(f1))


def cross(Xtr, ytr, Xte, yte):
    from sklearn.metrics import f1_score

    m = logreg().fit(Xtr, ytr)
    return float(f1_score(yte, m.predict(Xte), average="macro"))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default="/work/shared/data")
    ap.add_argument("--cache", default="/tmp/speech_desc")
    ap.add_argument("--pitch", choices=["pyin", "yin"], default="pyin")
    ap.add_argument("--n-fft", type=int, default=512, help="frame length of MFCC, log-mel and RMS (hop stays 160)")
    ap.add_argument("--out", help="also write the tables (markdown) here")
    ap.add_argument("--limit", type=int, help="only time the first N clips of RAVDESS (no tables)")
    a = ap.parse_args(argv)
    global N_FFT
    N_FFT = a.n_fft
    data, cache = Path(a.data), Path(a.cache)

    if a.limit:
        rows = clips(data, "ravdess")[: a.limit]
        t0 = time.perf_counter()
        for p, _, _ in rows:
            mf, ex = features(p, a.pitch)
        print(f"{a.limit} clips: {(time.perf_counter() - t0) / a.limit:.3f} s per clip; dims {mf.shape} {ex.shape}")
        return 0

    t0 = time.perf_counter()
    rm, re_, rs, rl, _ = load(data, "ravdess", cache, a.pitch)
    sm, se, ss, sl, _ = load(data, "savee", cache, a.pitch)
    print(f"features ready in {time.perf_counter() - t0:.0f} s; RAVDESS {rm.shape[0]} clips, SAVEE {sm.shape[0]}")
    sets = {"MFCC 40+Δ+ΔΔ mean/std": (rm, sm),
            "MFCC + extra (64 log-mel mean/std, pitch, RMS, duration)": (np.hstack([rm, re_]), np.hstack([sm, se])),
            "extra only": (re_, se)}
    lines = [f"<!-- made by: python scripts/speech_descriptors.py --pitch {a.pitch} --n-fft {N_FFT} (librosa trim 30 dB, "
             f"n_fft {N_FFT}, hop {HOP}; standardised logistic regression C=1) -->", "",
             "### (a) RAVDESS speech, 6 emotions, speaker-grouped 5-fold (mean ± std over folds)", "",
             "| features | dims | plain | z/speaker |", "|---|---|---|---|"]
    for name, (Xr, _) in sets.items():
        p = grouped_cv(Xr, rl, rs)
        z = grouped_cv(zscore_per_speaker(Xr, rs), rl, rs)
        lines.append(f"| {name} | {Xr.shape[1]} | {p[0]:.3f} ± {p[1]:.3f} | {z[0]:.3f} ± {z[1]:.3f} |")
        print(lines[-1], flush=True)
    lines += ["", "### (b) cross-corpus, 3 classes (happy/sad/surprise): train RAVDESS 01-20, test SAVEE (macro-F1)",
              "", "z/speaker statistics over each speaker's clips of the three classes; "
              "'z/speaker (all 6)' over each speaker's clips of all six emotions (still no labels).", "",
              "| features | dims | plain | z/speaker | z/speaker (all 6) | RAVDESS 5-fold plain | RAVDESS 5-fold z/speaker |",
              "|---|---|---|---|---|---|---|"]
    ri, si = np.isin(rl, THREE), np.isin(sl, THREE)
    for name, (Xr, Xs) in sets.items():
        p = cross(Xr[ri], rl[ri], Xs[si], sl[si])
        z = cross(zscore_per_speaker(Xr[ri], rs[ri]), rl[ri], zscore_per_speaker(Xs[si], ss[si]), sl[si])
        za = cross(zscore_per_speaker(Xr, rs)[ri], rl[ri], zscore_per_speaker(Xs, ss)[si], sl[si])
        cp = grouped_cv(Xr[ri], rl[ri], rs[ri])
        cz = grouped_cv(zscore_per_speaker(Xr[ri], rs[ri]), rl[ri], rs[ri])
        lines.append(f"| {name} | {Xr.shape[1]} | {p:.3f} | {z:.3f} | {za:.3f} | {cp[0]:.3f} | {cz[0]:.3f} |")
        print(lines[-1], flush=True)
    lines.append("")
    lines.append(f"(wall time of this run: {time.perf_counter() - t0:.0f} s)")
    if a.out:
        Path(a.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
