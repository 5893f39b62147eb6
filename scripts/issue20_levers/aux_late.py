"""Issue 20, six emotions, the data lever with the BiLSTM-SA: late fusion whose face half also
trains on the face corpus's unpaired subjects (:mod:`mer_helpers.methods.aux_faces`).

On a finished six-emotion paired run (its fold0 columns hold every clip; the ``strong`` preset's
columns are not fitted per fold): speech z-scored per speaker, faces centred per person, the
auxiliary samples centred per their own subject. Per split, a BiLSTM-SA (``--steps`` blocks,
``--seeds`` networks) on each modality; their softmax outputs averaged. ``--inner``: scored on
the held-out inner speakers of each fold's training part (test clips never read).

    python scripts/issue20_levers/aux_late.py /work/runs/six [--inner] [--no-aux]
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from six_levers import f1, load_run, network_splits, person_norm  # noqa: E402


def aux_rows(run: Path, data: Path, labels, cache: Path, faces: str = "oulu_casia"):
    from mer_helpers.core import fileio
    from mer_helpers.methods import aux_faces

    if cache.exists():
        z = np.load(cache, allow_pickle=False)
        return z["X"], z["y"], z["g"]
    made = fileio.read_json(run / "artifacts" / "summary" / "summary.json")
    samples = aux_faces.auxiliary_samples(data / faces, labels.subject.unique(), sorted(labels.label.unique()))
    X = aux_faces.sample_features(samples, made["frame_size"], made["face_detect"], made.get("face_only", False),
                                  "fer_xception", "fer2013", layer="block")
    y, g = np.array([s.label for s in samples]), np.array([s.subject for s in samples])
    np.savez(cache, X=X, y=y, g=g)
    return X, y, g


def main(argv=None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("run", type=Path)
    ap.add_argument("--data", type=Path, default=Path("../shared/data"))
    ap.add_argument("--inner", action="store_true")
    ap.add_argument("--inner-seed", type=int, default=42, help="with --inner: which speakers are held out")
    ap.add_argument("--faces", default="oulu_casia", help="the training face corpus (folder under --data)")
    ap.add_argument("--no-aux", action="store_true")
    ap.add_argument("--lr", action="store_true", help="logistic regressions instead of networks")
    ap.add_argument("--scaler-on-clips", action="store_true",
                    help="with --early: the scaler fitted on the clips only, as the chain does (else on every row)")
    ap.add_argument("--early", action="store_true",
                    help="early fusion; the outside faces' rows get the training clips' mean speech columns")
    ap.add_argument("--steps", type=int, default=2)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--n-jobs", type=int, default=2)
    ap.add_argument("--moddrop", choices=["faces", "both", "alternate"],
                    help="with --early: modality dropout, each training clip also once with its speech at the "
                         "training mean (faces) and, with both, once with its faces at the mean; alternate: one "
                         "copy per clip, every other clip's speech or faces at the mean (2x rows, not 3x)")
    ap.add_argument("--more-faces", action="append", default=[],
                    help="another face corpus (folder under --data; every subject is outside the run), repeatable")
    ap.add_argument("--min-emotions", type=int, default=1,
                    help="--more-faces: keep subjects with at least this many of the run's emotions (centring on "
                         "fewer is a skewed reference)")
    a = ap.parse_args(argv)
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from mer_helpers.methods.models import SequenceClassifier, modality_copies

    labels, A, V, _ = load_run(a.run, None)
    y, g, classes = labels.label.values, labels.speaker.values, sorted(labels.label.unique())
    Az, Vc = person_norm(A, g, "zscore"), person_norm(V, g, "center")
    Xa, ya, ga = aux_rows(a.run, a.data, labels, a.run / "aux_faces.npz", a.faces)
    Xa = person_norm(Xa, ga, "center")
    for corpus in a.more_faces:
        Xm, ym, gm = aux_rows(a.run, a.data, labels, a.run / f"aux_faces_{corpus}.npz", corpus)
        n = pd.Series(ym).groupby(gm).nunique()
        keep = np.isin(gm, n.index[n >= a.min_emotions])
        Xm, ym, gm = person_norm(Xm[keep], gm[keep], "center"), ym[keep], gm[keep]
        print(f"{corpus}: {len(Xm)} rows of {len(set(gm))} subjects with >= {a.min_emotions} emotions", flush=True)
        Xa, ya, ga = np.vstack([Xa, Xm]), np.r_[ya, ym], np.r_[ga, gm]
    print(f"{len(Xa)} auxiliary face samples of {len(set(ga))} subjects", flush=True)
    t0, scores, halves = time.perf_counter(), [], []

    def model(cols, k):
        if a.lr:
            return make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=3000))
        return SequenceClassifier(model_names=["bilstm_sa"], classes=classes, columns=cols, steps=a.steps,
                                  ensemble=a.seeds, seed=42, n_jobs=a.n_jobs)

    if a.early:  # one model on both modalities; the outside faces' speech columns at the training mean
        cols = [f"audio:s:{i}" for i in range(Az.shape[1])] + [f"visual:s:{i}" for i in range(Vc.shape[1])]
        X = np.hstack([Az, Vc])
        for tr, te in network_splits(a.run, labels, a.inner, a.inner_seed):
            Xt, yt, gt = X[tr], y[tr], g[tr]
            if a.moddrop in ("both", "alternate"):  # the chain's copies (models.modality_copies)
                Xt, yt, gt = modality_copies(Xt, yt, gt, cols, a.moddrop)
            elif a.moddrop:  # faces: one copy per clip, its speech at the training mean
                fill_a = np.repeat(Az[tr].mean(0, keepdims=True), len(tr), axis=0)
                copy = np.hstack([fill_a, Vc[tr]])
                Xt, yt, gt = np.vstack([Xt, copy]), np.r_[yt, y[tr]], np.r_[gt, g[tr]]
            if a.scaler_on_clips and not a.no_aux:  # the chain's SequenceClassifier.fit(visual_extra=...)
                m = model(cols, 0).fit(Xt, yt, groups=gt, visual_extra=(Xa, ya, ga))
                scores.append(f1(y[te], m.predict_proba(X[te]), classes))
                print(scores[-1], flush=True)
                continue
            if not a.no_aux:
                fill = np.repeat(Az[tr].mean(0, keepdims=True), len(Xa), axis=0)
                Xt, yt, gt = np.vstack([Xt, np.hstack([fill, Xa])]), np.r_[yt, ya], np.r_[gt, ga]
            m = model(cols, 0)
            m = m.fit(Xt, yt) if a.lr else m.fit(Xt, yt, groups=gt)
            scores.append(f1(y[te], m.predict_proba(X[te]), classes))
            print(scores[-1], flush=True)
        print(f"| {'inner' if a.inner else 'test'} | {'LR' if a.lr else 'BiLSTM-SA'} early | "
              f"{'no aux' if a.no_aux else '+ aux, speech at the mean'}{', scaler on clips' if a.scaler_on_clips else ''}{', moddrop ' + a.moddrop if a.moddrop else ''} | {np.mean(scores):.3f} ± {np.std(scores):.3f} | "
              f"{time.perf_counter() - t0:.0f} s |", flush=True)
        return 0
    for tr, te in network_splits(a.run, labels, a.inner, a.inner_seed):
        ma = model([f"audio:s:{i}" for i in range(Az.shape[1])], 0)
        ma = ma.fit(Az[tr], y[tr]) if a.lr else ma.fit(Az[tr], y[tr], groups=g[tr])
        Xv, yv, gv = Vc[tr], y[tr], g[tr]
        if not a.no_aux:
            Xv, yv, gv = np.vstack([Xv, Xa]), np.r_[yv, ya], np.r_[gv, ga]
        mv = model([f"visual:s:{i}" for i in range(Vc.shape[1])], 0)
        mv = mv.fit(Xv, yv) if a.lr else mv.fit(Xv, yv, groups=gv)
        Pa, Pv = ma.predict_proba(Az[te]), mv.predict_proba(Vc[te])
        scores.append(f1(y[te], (Pa + Pv) / 2, classes))
        halves.append((f1(y[te], Pa, classes), f1(y[te], Pv, classes)))
        print(scores[-1], halves[-1], flush=True)
    h = np.mean(halves, axis=0)
    print(f"| {'inner' if a.inner else 'test'} | {'LR' if a.lr else 'BiLSTM-SA'} | {'no aux' if a.no_aux else '+ aux'} | "
          f"{np.mean(scores):.3f} ± {np.std(scores):.3f} | speech {h[0]:.3f} | faces {h[1]:.3f} | "
          f"{time.perf_counter() - t0:.0f} s |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
