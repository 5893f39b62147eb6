"""Where does the chain's cross-corpus audio lose against plain MFCC statistics? (issue 20, item 4)

Not part of the papers' method. Train on RAVDESS speech actors 01-20, test on SAVEE's four
speakers, three classes (happy / sad / surprise); every row is a standardised logistic regression
(``StandardScaler`` + ``LogisticRegression(max_iter=5000)``, fitted on the training corpus only)
on clip statistics of 40 MFCC + delta + delta-delta (``n_fft=512, hop_length=160, n_mels=40``,
16 kHz, the ``strong`` preset's front end), scored by macro-F1 on SAVEE. With ``--cv`` each row
also gets RAVDESS 5-fold speaker-grouped CV (actors 01-20; training data only: the only column a
front-end setting may be chosen on).

The first table walks from the yardstick of issue 20 (FLAC, ``librosa.effects.trim`` 30 dB, no
denoising, no peak normalisation, mean + std) to the chain's own audio path (the paired clip's
AAC track through FFmpeg → WAV, spectral subtraction, peak normalisation, no trim, ``full``
statistics), one change per row; the second changes one thing at a time from the chain's path.

The AAC rows use the paired clips of a run (``--paired-labels OUT/artifacts/labels.csv``, matched
by utterance name) or, without it, the same AAC encoding of each FLAC file
(``-c:a aac -b:a 64k``, as :func:`mer_helpers.core.media.write_clip`), decoded through
:func:`mer_helpers.methods.audio.extract_wav` like the chain. Per-clip statistics are kept in
``--work`` (default ``$MER_CACHE_DIR/audio_cross_corpus``); the package's WAV cache is
``MER_CACHE_DIR`` as usual.

    MER_CACHE_DIR=/work/cache-audio python scripts/audio_cross_corpus.py --data ../shared/data --cv \\
        --out scripts/audio_cross_corpus_table.md

``--zscore`` z-scores each speaker's columns over their own clips first, as the ``strong`` preset's
``person_norm_audio zscore`` does (``scripts/audio_cross_corpus_table_zscore.md``). ``--grid``
replaces the two tables by every front end the chain's parameters can set (``denoise``,
``peak_normalize``, ``trim_db`` none / 30, ``n_mels`` 40 / 128, ``audio_stats`` full / mean_std;
AAC clips), ranked by RAVDESS 5-fold grouped CV with leave-one-actor-out beside it, SAVEE read
only for the report (``scripts/audio_cross_corpus_grid_zscore.md``). ``--classes`` changes the
class list (the default is the three of the papers). ``--descriptors`` compares the MFCC
statistics of the subtraction-free front ends with and without the chain's 144 speech descriptors
(``audio_features mfcc_stats+descriptors``; ``scripts/audio_cross_corpus_descriptors*.md``).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

CLASSES = ("happy", "sad", "surprise")  # --classes replaces it
MFCC = dict(n_mfcc=40, n_fft=512, hop_length=160, deltas=True)
SR = 16000

#: the chain's audio path for the strong preset (FFmpeg WAV of the AAC track, denoise, peak
#: normalisation, no trim, full statistics)
CHAIN = dict(source="aac", trim_db=None, denoise=True, peak=True, stats="full")
#: issue 20's yardstick
YARDSTICK = dict(source="flac", trim_db=30.0, denoise=False, peak=False, stats="mean_std")


def clip_table(data_root: Path):
    """The training (RAVDESS 01-20) and test (SAVEE) utterances of the three classes.

    Parameters
    ----------
    data_root : pathlib.Path
        The shared data folder (``ravdess_speech/``, ``savee/``).

    Returns
    -------
    list of dict
        ``stem, path, speaker, label, domain`` per utterance, training corpus first.
    """
    from mer_helpers.data.paired import scan_speech

    rows = []
    for domain, folder in (("train", "ravdess_speech"), ("test", "savee")):
        _, utts = scan_speech(data_root / folder)
        for u in sorted(utts, key=lambda u: (u.speaker, u.stem)):
            if u.label in CLASSES:
                rows.append(dict(stem=f"{u.speaker}/{u.stem}", path=u.path, speaker=u.speaker,
                                 label=u.label, domain=domain))
    return rows


def aac_clip(flac: Path, work: Path) -> Path:
    """``flac``'s 16 kHz signal encoded as the paired clips' audio track (AAC, 64 kb/s, mono).

    Parameters
    ----------
    flac : pathlib.Path
        The utterance.
    work : pathlib.Path
        Folder of the encoded files (kept; named by the utterance's path).

    Returns
    -------
    pathlib.Path
        The ``.m4a`` file.
    """
    import tempfile

    from mer_helpers.core.media import load_audio, run_ffmpeg

    out = work / "aac" / (hashlib.sha256(str(flac).encode()).hexdigest()[:16] + ".m4a")
    if out.exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    y, sr = load_audio(flac, sr=SR)  # what paired.build_clip muxes
    with tempfile.TemporaryDirectory() as td:
        pcm = Path(td) / "a.f32"
        y.astype(np.float32).tofile(pcm)
        tmp = Path(td) / "a.m4a"
        run_ffmpeg(["-f", "f32le", "-ar", str(sr), "-ac", "1", "-i", str(pcm), "-c:a", "aac", "-b:a", "64k",
                    str(tmp)], what=f"aac {flac.name}")
        os.replace(tmp, out)
    return out


def signal(row: dict, source: str, work: Path, paired: dict | None) -> np.ndarray:
    """The clip's 16 kHz signal as the chosen source gives it.

    ``flac``: the corpus file (soundfile). ``aac``: the paired clip (``paired``) or the AAC
    encoding of the file, through the chain's :func:`mer_helpers.methods.audio.extract_wav` +
    :func:`mer_helpers.methods.audio.read_wav`.
    """
    from mer_helpers.methods.audio import extract_wav, read_wav

    if source == "flac":
        import soundfile as sf

        y, sr = sf.read(str(row["path"]), dtype="float32", always_2d=True)
        assert sr == SR, (row["path"], sr)
        return y.mean(axis=1)
    clip = paired[row["stem"]] if paired else aac_clip(row["path"], work)
    y, sr = read_wav(extract_wav(clip, SR))
    return y


def frames(y: np.ndarray, trim_db: float | None, denoise: bool, peak: bool, level_db: float | None = None,
           trim_stage: str = "clean", n_mels: int = 40) -> np.ndarray:
    """MFCC + deltas of one signal under one front-end setting.

    Order: [trim (``trim_stage='raw'``)] → spectral subtraction (``denoise``) → [trim
    (``trim_stage='clean'``)] → peak normalisation (``peak``) or RMS level normalisation
    (``level_db``) → :func:`mer_helpers.methods.audio.compute_mfcc`.
    """
    import librosa

    from mer_helpers.methods.audio import compute_mfcc, spectral_subtraction

    y = np.asarray(y, dtype=np.float32)
    if trim_db is not None and trim_stage == "raw":
        y = librosa.effects.trim(y, top_db=trim_db)[0]
    if denoise:  # the package's defaults (over-subtraction 2, floor 0.02, 10th percentile)
        y = spectral_subtraction(y, n_fft=MFCC["n_fft"], hop_length=MFCC["hop_length"])
    if trim_db is not None and trim_stage == "clean":
        y = librosa.effects.trim(y, top_db=trim_db)[0]
    if peak and np.any(y):
        y = librosa.util.normalize(y)
    if level_db is not None and np.any(y):
        rms = float(np.sqrt(np.mean(y.astype(np.float64) ** 2)))
        y = y * (10 ** (level_db / 20) / rms)
    return compute_mfcc(y, SR, n_mels=n_mels, **MFCC)


def features(rows, cfg: dict, work: Path, paired: dict | None) -> dict[str, np.ndarray]:
    """Statistics (``mean_std`` and ``full``) of every clip under ``cfg``, kept in ``work``."""
    from mer_helpers.methods.audio_featurizer import summarize

    front = {k: cfg.get(k) for k in ("source", "trim_db", "denoise", "peak", "level_db", "trim_stage", "n_mels")}
    if front["n_mels"] in (None, 40):  # keys of the first tables made stay valid
        front.pop("n_mels")
    if CLASSES != ("happy", "sad", "surprise"):
        front["classes"] = list(CLASSES)
    front["paired"] = bool(paired) and front["source"] == "aac"
    key = hashlib.sha256(json.dumps(front, sort_keys=True, default=str).encode()).hexdigest()[:16]
    f = work / f"stats-{key}.npz"
    if f.exists():
        z = np.load(f)
        return {k: z[k] for k in z.files}
    t0 = time.time()
    ms, full = [], []
    for r in rows:
        m = frames(signal(r, front["source"], work, paired), front["trim_db"], front["denoise"],
                   front["peak"], front.get("level_db"), front.get("trim_stage") or "clean",
                   front.get("n_mels") or 40)
        ms.append(summarize([m], "mean_std")[0][0])
        full.append(summarize([m], "full")[0][0])
    out = {"mean_std": np.stack(ms), "full": np.stack(full)}
    work.mkdir(parents=True, exist_ok=True)
    np.savez(f, **out)
    print(f"  computed {front} in {time.time() - t0:.0f} s", file=sys.stderr)
    return out


def _table(rows, X: np.ndarray, zscore: bool):
    """``X`` (each speaker's columns z-scored over their own clips with ``zscore``, as
    ``person_norm_audio zscore``; no label read), labels, domains and speakers of ``rows``."""
    y = np.array([r["label"] for r in rows])
    dom = np.array([r["domain"] for r in rows])
    groups = np.array([r["speaker"] for r in rows])
    if zscore:
        from mer_helpers.methods.person import normalize

        X = normalize(X, groups, ["zscore"] * X.shape[1])
    return X, y, dom, groups


def _logreg():
    """The standardised logistic regression every row is scored with."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000))


def scores(rows, X: np.ndarray, cv: bool, zscore: bool = False) -> tuple[float, float | None]:
    """Cross-corpus macro-F1 (train RAVDESS, test SAVEE) and, with ``cv``, the mean macro-F1 of
    RAVDESS 5-fold speaker-grouped CV (``zscore``: see :func:`_table`)."""
    from sklearn.metrics import f1_score
    from sklearn.model_selection import GroupKFold

    X, y, dom, groups = _table(rows, X, zscore)

    def fit_score(tr, te):
        return f1_score(y[te], _logreg().fit(X[tr], y[tr]).predict(X[te]), average="macro")

    cc = fit_score(dom == "train", dom == "test")
    if not cv:
        return cc, None
    tr_idx = np.flatnonzero(dom == "train")
    folds = [fit_score(tr_idx[a], tr_idx[b])
             for a, b in GroupKFold(n_splits=5).split(tr_idx, groups=groups[tr_idx])]
    return cc, float(np.mean(folds))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default="../shared/data", help="the shared data folder")
    ap.add_argument("--paired-labels", help="labels.csv of a paired run: use its mp4 clips for the AAC rows")
    ap.add_argument("--work", help="folder of the per-clip statistics and AAC files")
    ap.add_argument("--cv", action="store_true", help="also RAVDESS 5-fold speaker-grouped CV")
    ap.add_argument("--classes", help="comma-separated classes (default happy,sad,surprise; e.g. "
                                       "angry,disgust,fear,happy,sad,surprise)")
    ap.add_argument("--zscore", action="store_true", help="z-score each speaker's columns over their own clips")
    ap.add_argument("--grid", action="store_true",
                    help="instead of the two tables: every front end the chain can set (AAC clips; denoise, "
                         "peak_normalize, trim_db, n_mels, audio_stats), ranked by RAVDESS CV (implies --cv)")
    ap.add_argument("--descriptors", action="store_true",
                    help="instead of the tables: the subtraction-free front ends (peak, trim 30 dB, full statistics, "
                         "40 / 128 mel bands) with and without the chain's 144 speech descriptors (implies --cv)")
    ap.add_argument("--out", help="write the markdown tables here")
    a = ap.parse_args(argv)
    global CLASSES
    if a.classes:
        CLASSES = tuple(c.strip() for c in a.classes.split(",") if c.strip())

    from mer_helpers.core import cache

    work = Path(a.work) if a.work else Path(cache.cache_root()) / "audio_cross_corpus"
    rows = clip_table(Path(a.data))
    paired = None
    if a.paired_labels:
        import pandas as pd

        lab = pd.read_csv(a.paired_labels)
        root = Path(a.paired_labels).parent
        paired = {}
        for _, r in lab.iterrows():
            p = Path(r["path"]) if Path(r["path"]).is_absolute() else root / r["path"]
            paired[f"{r['speaker']}/{p.stem.split('_', 2)[-1]}"] = p
        missing = [r["stem"] for r in rows if r["stem"] not in paired]
        if missing:
            raise SystemExit(f"{len(missing)} utterances have no paired clip, e.g. {missing[:3]}")
    print(f"{sum(r['domain'] == 'train' for r in rows)} training clips, "
          f"{sum(r['domain'] == 'test' for r in rows)} test clips", file=sys.stderr)

    walk = [
        ("yardstick: FLAC, trim 30 dB, MFCC 40 + Δ + ΔΔ (librosa's 128 mel bands), mean + std",
         dict(YARDSTICK, n_mels=128)),
        ("40 mel bands (the strong preset's n_mels)", YARDSTICK),
        ("no trim", dict(YARDSTICK, trim_db=None)),
        ("+ peak normalisation", dict(YARDSTICK, trim_db=None, peak=True)),
        ("+ spectral subtraction (= the chain's front end on the FLAC)", dict(YARDSTICK, trim_db=None, peak=True, denoise=True)),
        ("AAC track through FFmpeg (= the chain's frames)", dict(CHAIN, stats="mean_std")),
        ("'full' statistics (= the chain's audio features, notebook 02)", CHAIN),
    ]
    one = [
        ("the chain (AAC, denoise, peak, no trim, full)", CHAIN),
        ("FLAC instead of AAC", dict(CHAIN, source="flac")),
        ("no spectral subtraction", dict(CHAIN, denoise=False)),
        ("no peak normalisation", dict(CHAIN, peak=False)),
        ("trim 30 dB (after denoising)", dict(CHAIN, trim_db=30.0)),
        ("trim 30 dB (before denoising)", dict(CHAIN, trim_db=30.0, trim_stage="raw")),
        ("mean + std", dict(CHAIN, stats="mean_std")),
        ("trim 30 dB + no spectral subtraction", dict(CHAIN, trim_db=30.0, denoise=False)),
        ("RMS level -25 dBFS instead of peak", dict(CHAIN, peak=False, level_db=-25.0)),
        ("no spectral subtraction + no peak normalisation", dict(CHAIN, denoise=False, peak=False)),
        ("trim 30 dB + no peak normalisation", dict(CHAIN, trim_db=30.0, peak=False)),
        ("trim 30 dB + no spectral subtraction + no peak normalisation (the yardstick's front end)",
         dict(CHAIN, trim_db=30.0, denoise=False, peak=False)),
        ("128 mel bands", dict(CHAIN, n_mels=128)),
        ("trim 30 dB + 128 mel bands (the strong preset's front end, 128 bands)", dict(CHAIN, trim_db=30.0, n_mels=128)),
    ]
    if a.grid or a.descriptors:
        a.cv = True
        return (_grid if a.grid else _descriptor_table)(rows, work, paired, a)
    out = []
    for title, table in (("From the yardstick to the chain (one change per row)", walk),
                         ("One change at a time from the chain", one)):
        lines = [f"### {title}", "",
                 "| row | change | SAVEE macro-F1 (cross-corpus) |" + (" RAVDESS 5-fold grouped |" if a.cv else ""),
                 "|---|---|---|" + ("---|" if a.cv else "")]
        for i, (name, cfg) in enumerate(table, 1):
            X = features(rows, cfg, work, paired)[cfg["stats"]]
            cc, cvs = scores(rows, X, a.cv, a.zscore)
            lines.append(f"| {i} | {name} | {cc:.3f} |" + (f" {cvs:.3f} |" if a.cv else ""))
            print(lines[-1], file=sys.stderr)
        out += lines + [""]
    text = "\n".join(out)
    print(text)
    if a.out:
        Path(a.out).write_text(text + "\n")
    return 0


def leave_one_actor_out(rows, X: np.ndarray, zscore: bool = False) -> float:
    """Mean per-actor macro-F1 of RAVDESS leave-one-actor-out (training corpus only), a
    lower-variance second reading of :func:`scores`' 5-fold CV."""
    from sklearn.metrics import f1_score
    from sklearn.model_selection import LeaveOneGroupOut, cross_val_predict

    X, y, dom, g = _table(rows, X, zscore)  # per speaker, so the same whether SAVEE is in or not
    tr = dom == "train"
    X, y, g = X[tr], y[tr], g[tr]
    pred = cross_val_predict(_logreg(), X, y, groups=g, cv=LeaveOneGroupOut())
    return float(np.mean([f1_score(y[g == s], pred[g == s], average="macro") for s in np.unique(g)]))


def descriptor_rows(rows, cfg: dict, work: Path, paired: dict | None) -> np.ndarray:
    """The chain's speech descriptors (:mod:`mer_helpers.methods.speech_descriptors`) of every clip
    under the front end ``cfg`` (its subtraction, trim and peak), kept in ``work``."""
    from mer_helpers.methods.speech_descriptors import DESCRIPTORS_VERSION, signal_descriptors

    front = {k: cfg.get(k) for k in ("source", "trim_db", "denoise", "peak")}
    front.update(classes=list(CLASSES), paired=bool(paired) and front["source"] == "aac", version=DESCRIPTORS_VERSION)
    key = hashlib.sha256(json.dumps(front, sort_keys=True, default=str).encode()).hexdigest()[:16]
    f = work / f"descriptors-{key}.npy"
    if f.exists():
        return np.load(f)
    t0 = time.time()
    params = dict(n_fft=MFCC["n_fft"], hop_length=MFCC["hop_length"], denoise=front["denoise"],
                  trim_db=front["trim_db"], peak_normalize=front["peak"])
    X = np.stack([signal_descriptors(signal(r, front["source"], work, paired), SR, params) for r in rows])
    work.mkdir(parents=True, exist_ok=True)
    np.save(f, X)
    print(f"  descriptors of {front} in {time.time() - t0:.0f} s", file=sys.stderr)
    return X


def _descriptor_table(rows, work: Path, paired, a) -> int:
    """MFCC statistics with and without the speech descriptors, on the subtraction-free front ends
    (RAVDESS CV chooses, leave-one-actor-out beside it, SAVEE reported)."""
    lines = ["### MFCC statistics with and without the speech descriptors" + (" (z-scored per speaker)" if a.zscore else ""),
             "", f"Classes: {', '.join(CLASSES)}. Front end: AAC clips, no spectral subtraction, peak normalisation, "
             "trim 30 dB, `full` statistics.", "",
             "| features | RAVDESS 5-fold grouped | RAVDESS leave-one-actor-out | SAVEE macro-F1 (cross-corpus) |",
             "|---|---|---|---|"]
    base = dict(CHAIN, denoise=False, peak=True, trim_db=30.0, stats="full")
    D = descriptor_rows(rows, base, work, paired)
    for n_mels in (40, 128):
        M = features(rows, dict(base, n_mels=n_mels), work, paired)["full"]
        for name, X in ((f"MFCC statistics, {n_mels} mel bands", M),
                        (f"MFCC statistics, {n_mels} mel bands + descriptors", np.hstack([M, D]))):
            cc, cvs = scores(rows, X, True, a.zscore)
            lines.append(f"| {name} | {cvs:.4f} | {leave_one_actor_out(rows, X, a.zscore):.4f} | {cc:.3f} |")
            print(lines[-1], file=sys.stderr, flush=True)
    cc, cvs = scores(rows, D, True, a.zscore)
    lines.append(f"| descriptors only | {cvs:.4f} | {leave_one_actor_out(rows, D, a.zscore):.4f} | {cc:.3f} |")
    text = "\n".join(lines)
    print(text)
    if a.out:
        Path(a.out).write_text(text + "\n")
    return 0


def _grid(rows, work: Path, paired, a) -> int:
    """Every front end of the chain's parameters, ranked by RAVDESS speaker-grouped CV: the only
    column a setting may be chosen on; SAVEE is read for the winner's report, not for the choice."""
    import itertools

    found = []
    for denoise, peak, trim, n_mels, stats in itertools.product((True, False), (True, False), (None, 30.0),
                                                               (40, 128), ("full", "mean_std")):
        cfg = dict(CHAIN, denoise=denoise, peak=peak, trim_db=trim, n_mels=n_mels, stats=stats)
        X = features(rows, cfg, work, paired)[stats]
        cc, cvs = scores(rows, X, True, a.zscore)
        name = (f"denoise {str(denoise).lower()}, peak_normalize {str(peak).lower()}, "
                f"trim_db {trim if trim is None else int(trim)}, n_mels {n_mels}, audio_stats {stats}")
        found.append((cvs, leave_one_actor_out(rows, X, a.zscore), cc, name))
        print(f"  {found[-1][3]}: CV {cvs:.4f}, LOAO {found[-1][1]:.4f}, SAVEE {cc:.3f}", file=sys.stderr, flush=True)
    found.sort(key=lambda t: -t[0])
    lines = ["### Every front end, ranked by RAVDESS 5-fold grouped CV" + (" (z-scored per speaker)" if a.zscore else ""),
             "", "| rank | front end | RAVDESS 5-fold grouped | RAVDESS leave-one-actor-out | SAVEE macro-F1 (cross-corpus) |",
             "|---|---|---|---|---|"]
    lines += [f"| {i} | {name} | {cvs:.4f} | {lo:.4f} | {cc:.3f} |" for i, (cvs, lo, cc, name) in enumerate(found, 1)]
    text = "\n".join(lines)
    print(text)
    if a.out:
        Path(a.out).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
