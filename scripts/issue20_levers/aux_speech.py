"""Issue 20, six emotions, a data lever for speech: SAVEE's six-emotion utterances (4 speakers,
in no fold of a RAVDESS run) as extra training rows, described with the run's own audio front end
and featurizer, z-scored per their own speaker. Logistic regressions on the held-out inner speakers
of each fold's training part (``--inner``) or the test folds.

    python scripts/issue20_levers/aux_speech.py /work/runs/six19 --data DATA --inner
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from six_levers import f1, load_run, network_splits, person_norm  # noqa: E402


def savee_rows(run: Path, data: Path, cache: Path, classes):
    from mer_helpers.data.paired import scan_speech
    from mer_helpers.methods import audio, speech_descriptors
    from mer_helpers.methods.audio_featurizer import AudioFeaturizer
    from mer_helpers.stages.audio_autoencoder import featurizer_params

    if cache.exists():
        z = np.load(cache)
        return z["X"], z["y"], z["g"]
    params = json.loads((run / "run.json").read_text())["parameters"]
    utterances = [u for u in scan_speech(data / "savee")[1] if u.label in set(classes)]  # the run's emotions
    files = [u.path for u in utterances]
    y, g = np.array([u.label for u in utterances]), np.array([u.speaker for u in utterances])
    mf = [d["mfcc"] for d in audio.extract_clips(files, n_jobs=2, progress=False, **params)]
    desc = speech_descriptors.extract_descriptors(files, n_jobs=2, progress=False, **params)
    feat = AudioFeaturizer(**featurizer_params(**params)).fit(mf)
    X, _, _ = feat.featurize(mf, descriptors=desc)
    np.savez(cache, X=X, y=y, g=g)
    return X, y, g


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("run", type=Path)
    ap.add_argument("--data", type=Path, default=Path("../shared/data"))
    ap.add_argument("--inner", action="store_true")
    a = ap.parse_args(argv)
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    labels, A, V, _ = load_run(a.run, None)
    y, g, classes = labels.label.values, labels.speaker.values, sorted(labels.label.unique())
    Az, Vc = person_norm(A, g, "zscore"), person_norm(V, g, "center")
    Xs, ys, gs = savee_rows(a.run, a.data, a.run / "aux_speech_savee.npz", classes)
    if Xs.shape[1] != A.shape[1]:
        sys.exit(f"SAVEE rows have {Xs.shape[1]} columns, the run's speech {A.shape[1]}")
    Xs = person_norm(Xs, gs, "zscore")
    print(f"{len(Xs)} SAVEE rows of {len(set(gs))} speakers", flush=True)

    def lr():
        return make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=3000))

    rows = {"speech": [], "speech + SAVEE": [], "late": [], "late + SAVEE": []}
    for tr, te in network_splits(a.run, labels, a.inner):
        pv = lr().fit(Vc[tr], y[tr]).predict_proba(Vc[te])
        pa = lr().fit(Az[tr], y[tr]).predict_proba(Az[te])
        pb = lr().fit(np.vstack([Az[tr], Xs]), np.r_[y[tr], ys]).predict_proba(Az[te])
        for k, p in (("speech", pa), ("speech + SAVEE", pb), ("late", (pa + pv) / 2), ("late + SAVEE", (pb + pv) / 2)):
            rows[k].append(f1(y[te], p, classes))
    for k, s in rows.items():
        print(f"| {'inner' if a.inner else 'test'} | LR | {k} | {np.mean(s):.3f} ± {np.std(s):.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
