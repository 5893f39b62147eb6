"""Issue 20, six emotions: three more levers measured on a finished run's own features.

Reads a finished six-emotion paired run (``RUN/artifacts``: ``labels.csv``, the audio and visual
columns of ``fold0``, which hold every clip; these columns are not fitted per fold in the
``strong`` preset: MFCC statistics and a frozen face network) and scores, macro-F1:

``faces``
    which crop of the Oulu-CASIA image feeds the FER2013 network: the chain's own summary
    images (Haar box with a 15 % margin, else the centre square of the 3:4 frame) against the
    whole tight crop, its centre square, the square padded with edge pixels, the lower square,
    and the Haar box on the original image. Each clip gets the mean features of its face
    subject's three images of its emotion (what the paired clip shows). Logistic regression
    (speaker-grouped 5-fold, ``GroupKFold``, every clip scored once), faces alone (plain,
    centred per person) and late / early fusion with the run's z-scored speech columns.
``speech``
    the run's speech columns with and without the 144 extra descriptors of
    ``scripts/speech_descriptors.py`` (64 log-mel mean/std, pitch and energy percentiles,
    duration), z-scored per speaker; logistic regression alone and fused with the centred faces.
``network``
    the BiLSTM-SA (:class:`mer_helpers.methods.models.SequenceClassifier`) on the fused,
    person-normalised columns: ``--steps`` (how many blocks the vector is cut into),
    ``--seeds`` (a softmax mean over that many network seeds), ``--extra`` (speech descriptors
    added), ``--settings`` (JSON of other training settings), on the run's own five test folds
    (``splits.json``; mean ± std over folds) or, with ``--inner``, on the held-out inner speakers
    of each fold's training part (:func:`mer_helpers.methods.tuning.inner_splits`, as
    ``scripts/tune_classifiers.py`` and notebook 06 cut them): settings are compared there, the
    test folds only report.

Person statistics come from each person's own clips, no label read
(:func:`mer_helpers.methods.person.normalize`).

    python scripts/issue20_levers/six_levers.py faces /work/runs/six-base --data ../shared/data \\
        --mapping PAIRED_BUILD/mapping.csv
    python scripts/issue20_levers/six_levers.py speech /work/runs/six-base --descriptors /tmp/speech_desc
    python scripts/issue20_levers/six_levers.py network /work/runs/six-base --steps 2 --seeds 3 --extra --inner
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

EMOTIONS = {"angry": "Anger", "disgust": "Disgust", "fear": "Fear", "happy": "Happiness", "sad": "Sadness",
            "surprise": "Surprise"}
CROPS = ("full", "centre", "pad", "lower", "haar")


def load_run(run: Path, descriptors: Path | None):
    """Labels, speakers, the run's speech and face columns and (optionally) the extra descriptors."""
    art = run / "artifacts"
    labels = pd.read_csv(art / "labels.csv", dtype={"clip_id": str, "speaker": str})
    A = np.load(art / "audio" / "fold0" / "features.npz")
    V = np.load(art / "visual" / "fold0" / "features.npz")
    for z in (A, V):
        if list(z["clip_ids"]) != list(labels.clip_id):
            sys.exit(f"{art}: feature rows are not in labels.csv order")
    extra = None
    if descriptors is not None:
        z = np.load(descriptors / "ravdess_yin.npz")
        row = {n: i for i, n in enumerate(z["name"])}
        # paired clip ids are <speaker>_<RAVDESS file stem>
        extra = z["extra"][[row[c.split("_", 2)[2]] for c in labels.clip_id]]
    return labels, A["X"], V["X"], extra


def person_norm(X, persons, mode):
    from mer_helpers.methods.person import normalize

    return normalize(X, persons, [mode] * X.shape[1])


def grouped_proba(X, y, g, classes):
    """Out-of-fold probabilities of a standardised logistic regression (C=1)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GroupKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    P = np.zeros((len(y), len(classes)))
    for tr, te in GroupKFold(5).split(X, y, g):
        m = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=3000)).fit(X[tr], y[tr])
        P[te] = m.predict_proba(X[te])
    return P


def f1(y, P, classes) -> float:
    from sklearn.metrics import f1_score

    return round(float(f1_score(y, np.asarray(classes)[P.argmax(1)], average="macro")), 3)


def late(*Ps):
    return sum(np.log(P + 1e-9) for P in Ps)


def crop(a: np.ndarray, how: str) -> np.ndarray:
    from mer_helpers.methods import faces

    h, w = a.shape[:2]
    s = min(h, w)
    if how == "full":
        return a
    if how == "centre":
        return a[(h - s) // 2:(h - s) // 2 + s, (w - s) // 2:(w - s) // 2 + s]
    if how == "lower":
        return a[h - s:, :s]
    if how == "pad":
        S = max(h, w)
        return np.pad(a, (((S - h) // 2, S - h - (S - h) // 2), ((S - w) // 2, S - w - (S - w) // 2), (0, 0)),
                      mode="edge")
    if how == "haar":
        box = faces.detect_face(a)
        if box is None:
            return crop(a, "centre")
        y0, x0, side = faces.square_box(box, h, w)
        return a[y0:y0 + side, x0:x0 + side]
    raise ValueError(how)


def face_rows(labels: pd.DataFrame, data: Path, mapping: Path, how: str) -> np.ndarray:
    """Per clip: the mean FER2013 ``block`` features of its subject's three images of its emotion."""
    from PIL import Image

    from mer_helpers.methods import visual

    subject = dict(pd.read_csv(mapping)[["speaker", "subject"]].values)
    keys = sorted(set(zip(labels.speaker, labels.label)))
    images, owner = [], []
    for spk, lab in keys:
        folder = data / "oulu_casia" / subject[spk].split("_", 1)[1] / EMOTIONS[lab]
        for p in sorted(folder.glob("*.jpeg")):
            a = crop(np.asarray(Image.open(p).convert("RGB")), how)
            images.append(np.asarray(Image.fromarray(a).resize((96, 96), Image.BILINEAR)))
            owner.append((spk, lab))
    F = visual.backbone_features(images, backbone="fer_xception", weights="fer2013", layer="block",
                                 use_cache=False, progress=False, local=True)
    owner = np.array([f"{s}|{l}" for s, l in owner])
    mean = {k: F[owner == k].mean(0) for k in np.unique(owner)}
    return np.stack([mean[f"{s}|{l}"] for s, l in zip(labels.speaker, labels.label)])


def cmd_faces(a) -> None:
    labels, A, V, _ = load_run(a.run, None)
    y, g, classes = labels.label.values, labels.speaker.values, sorted(labels.label.unique())
    Az = person_norm(A, g, "zscore")
    Pa = grouped_proba(Az, y, g, classes)
    print(f"speech alone (z-scored per speaker): {f1(y, Pa, classes)}")
    print("| crop | faces plain | faces centred | late fusion | early fusion |\n|---|---|---|---|---|")
    for how in ("chain",) + CROPS:
        X = V if how == "chain" else face_rows(labels, a.data, a.mapping, how)
        Vc = person_norm(X, g, "center")
        Pv = grouped_proba(Vc, y, g, classes)
        print(f"| {how} | {f1(y, grouped_proba(X, y, g, classes), classes)} | {f1(y, Pv, classes)} | "
              f"{f1(y, late(Pa, Pv), classes)} | {f1(y, grouped_proba(np.hstack([Az, Vc]), y, g, classes), classes)} |",
              flush=True)


def cmd_speech(a) -> None:
    labels, A, V, E = load_run(a.run, a.descriptors)
    y, g, classes = labels.label.values, labels.speaker.values, sorted(labels.label.unique())
    Vc = person_norm(V, g, "center")
    Pv = grouped_proba(Vc, y, g, classes)
    print(f"faces alone (centred per subject): {f1(y, Pv, classes)}")
    print("| speech columns | speech alone | late fusion | early fusion |\n|---|---|---|---|")
    for name, X in (("run's MFCC statistics (720)", A), ("+ extra descriptors (864)", np.hstack([A, E]))):
        Az = person_norm(X, g, "zscore")
        Pa = grouped_proba(Az, y, g, classes)
        print(f"| {name} | {f1(y, Pa, classes)} | {f1(y, late(Pa, Pv), classes)} | "
              f"{f1(y, grouped_proba(np.hstack([Az, Vc]), y, g, classes), classes)} |", flush=True)


def network_splits(run: Path, labels: pd.DataFrame, inner: bool, inner_seed: int = 42):
    """``(fit rows, scored rows)`` per evaluation split of the run (``splits.json``): its training
    and test clips, or with ``inner`` the inner-fit and held-out inner speakers of its training
    part (:func:`mer_helpers.methods.tuning.inner_splits`, the test clips never read)."""
    from mer_helpers.core import fileio
    from mer_helpers.data.splits import evaluation_splits
    from mer_helpers.methods.tuning import inner_splits, positions

    splits = evaluation_splits(fileio.read_json(run / "artifacts" / "splits.json"))
    ids = labels.clip_id.tolist()
    if inner:
        return [(positions(ids, f), positions(ids, v)) for _, f, v in inner_splits(splits, labels, inner_seed)]
    return [(positions(ids, sp["train"]), positions(ids, sp["test"])) for sp in splits]


def cmd_network(a) -> None:
    from sklearn.metrics import f1_score

    from mer_helpers.methods import networks
    from mer_helpers.methods.models import SequenceClassifier

    networks.set_threads(a.threads)
    labels, A, V, E = load_run(a.run, a.descriptors if a.extra else None)
    y, g, classes = labels.label.values, labels.speaker.values, sorted(labels.label.unique())
    A = np.hstack([A, E]) if a.extra else A
    X = np.hstack([person_norm(A, g, "zscore"), person_norm(V, g, "center")])
    cols = [f"audio:stats:{i}" for i in range(A.shape[1])] + [f"visual:block:{i}" for i in range(V.shape[1])]
    settings = json.loads(a.settings)
    t0, scores, single = time.perf_counter(), [], []
    for tr, te in network_splits(a.run, labels, a.inner):
        Ps = []
        for k in range(a.seeds):
            m = SequenceClassifier(model_names=["bilstm_sa"], classes=classes, columns=cols, steps=a.steps,
                                   seed=42 + k, **settings).fit(X[tr], y[tr], groups=g[tr])
            Ps.append(m.predict_proba(X[te]))
            single.append(f1_score(y[te], np.asarray(classes)[Ps[-1].argmax(1)], average="macro"))
        scores.append(f1(y[te], np.mean(Ps, axis=0), classes))
    print(f"| {'inner' if a.inner else 'test'} | {'+ extra' if a.extra else 'run'} | {a.steps} | {a.seeds} | "
          f"{a.settings} | {np.mean(scores):.3f} ± {np.std(scores):.3f} | {np.mean(single):.3f} | "
          f"{time.perf_counter() - t0:.0f} s |", flush=True)


def main(argv=None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name in ("faces", "speech", "network"):
        p = sub.add_parser(name)
        p.add_argument("run", type=Path, help="a finished six-emotion paired run folder")
        p.add_argument("--descriptors", type=Path, default=Path("/tmp/speech_desc"),
                       help="cache folder of scripts/speech_descriptors.py (ravdess_yin.npz)")
    sub.choices["faces"].add_argument("--data", type=Path, default=Path("../shared/data"))
    sub.choices["faces"].add_argument("--mapping", type=Path, required=True,
                                      help="mapping.csv of the paired build (speaker -> face subject)")
    net = sub.choices["network"]
    net.add_argument("--steps", type=int, default=16)
    net.add_argument("--seeds", type=int, default=1)
    net.add_argument("--extra", action="store_true")
    net.add_argument("--settings", default="{}")
    net.add_argument("--threads", type=int, default=1)
    net.add_argument("--inner", action="store_true", help="score on inner training speakers, not the test folds")
    a = ap.parse_args(argv)
    {"faces": cmd_faces, "speech": cmd_speech, "network": cmd_network}[a.cmd](a)
    return 0


if __name__ == "__main__":
    sys.exit(main())
