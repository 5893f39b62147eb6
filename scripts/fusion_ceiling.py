"""How high can the features of a run go? A ceiling, not a result.

For a finished run (``OUT/artifacts``), fits the chain's linear yardstick
(:func:`mer_helpers.methods.evaluation.logreg_per_split`) on the audio and on the visual features of
each evaluation split for a grid of regularisation strengths, late-fuses every pair of them with
every audio weight of a grid (weighted sum of log-probabilities), and prints the best mean
macro-F1 over the test folds of each family.

**Every setting here is chosen by looking at the test folds**, which the chain never does: the
numbers are an upper bound on what a linear model of these columns reaches, used on the book
page "How far does it generalise?" to show whether a target is within reach of the features
at all. They are not results and are never reported as such.

``--extra-faces DIR`` (Oulu-CASIA layout ``P###/<Emotion>/NNN.jpeg``) asks a second question:
do more face subjects help? The face images of subjects that no clip of the run uses are passed
through the run's backbone (mean over each subject's images of one emotion, like a paired
clip's mean over its frames) and added to every split's visual training rows.

Usage::

    python scripts/fusion_ceiling.py RUN_DIR [--extra-faces ../shared/data/oulu_casia]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

C_GRID = (0.001, 0.01, 0.1, 1.0)
AUDIO_WEIGHTS = (0.2, 0.3, 0.4, 0.5)
OULU_EMOTIONS = {"Anger": "angry", "Disgust": "disgust", "Fear": "fear", "Happiness": "happy",
                 "Sadness": "sad", "Surprise": "surprise"}


def split_features(art: Path, modality: str, splits) -> dict:
    from mer_helpers.core import fileio

    out = {}
    for s in splits:
        ids, X, _ = fileio.load_features(art / modality / s["name"] / "features.npz")
        out[s["name"]] = ([str(c) for c in ids], np.asarray(X, np.float64))
    return out


def probabilities(features, label_of, splits, classes, C) -> tuple[pd.DataFrame, float]:
    from mer_helpers.methods.evaluation import logreg_per_split

    scores, preds = logreg_per_split(features, label_of, splits, classes=classes, C=C, predictions=True)
    return preds, float(scores["f1_macro"].mean())


def fused_f1(pa: pd.DataFrame, pv: pd.DataFrame, classes, w: float) -> float:
    from sklearn.metrics import f1_score

    cols = [f"p_{c}" for c in classes]
    logp = w * np.log(pa[cols].to_numpy() + 1e-9) + (1 - w) * np.log(pv[cols].to_numpy() + 1e-9)
    pred = np.asarray(classes)[logp.argmax(1)]
    return float(np.mean([f1_score(g["y_true"], pred[g.index], labels=classes, average="macro", zero_division=0)
                          for _, g in pa.reset_index(drop=True).groupby("split")]))


def extra_face_rows(run: Path, face_dir: Path, used_subjects: set[str]):
    """Mean backbone feature of each unused subject's images of one emotion, and its label."""
    from PIL import Image

    from mer_helpers.core import fileio
    from mer_helpers.methods import visual

    params = fileio.read_json(run / "run.json")["parameters"]
    size = int(params.get("frame_size", 96))
    groups: dict[tuple[str, str], list] = {}
    for p in sorted(face_dir.glob("P*/*/*.jpeg")):
        subject, emotion = f"oulu_{p.parent.parent.name.upper()}", OULU_EMOTIONS.get(p.parent.name)
        if emotion and subject not in used_subjects:
            groups.setdefault((subject, emotion), []).append(
                np.asarray(Image.open(p).convert("RGB").resize((size, size))))
    images = [im for ims in groups.values() for im in ims]
    F = visual.backbone_features(images, params["backbone"], params["backbone_weights"],
                                 layer=params.get("backbone_layer"), progress=False)
    rows, start = [], 0
    for ims in groups.values():
        rows.append(F[start:start + len(ims)].mean(0))
        start += len(ims)
    return np.asarray(rows, np.float64), [e for _, e in groups], len({s for s, _ in groups})


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run", type=Path)
    ap.add_argument("--extra-faces", type=Path, help="Oulu-CASIA folder: add its unused subjects to the face rows")
    a = ap.parse_args(argv)

    from mer_helpers.core import fileio
    from mer_helpers.data.splits import evaluation_splits

    art = a.run / "artifacts"
    splits = evaluation_splits(fileio.read_json(art / "splits.json"))
    labels = pd.read_csv(art / "labels.csv", dtype={"clip_id": str, "speaker": str})
    label_of = dict(zip(labels["clip_id"], labels["label"]))
    classes = sorted(labels["label"].unique())
    feats = {m: split_features(art, m, splits) for m in ("audio", "visual")}

    probs = {(m, C): probabilities(feats[m], label_of, splits, classes, C) for m in feats for C in C_GRID}
    print(f"{a.run}: {len(classes)} classes, {len(splits)} splits; every setting below is scored on the "
          "test folds (a ceiling, not a result)")
    for m in feats:
        C, (_, f1) = max(((C, probs[(m, C)]) for C in C_GRID), key=lambda kv: kv[1][1])
        print(f"  {m:6s} logistic regression, best C={C}: macro-F1 {f1:.3f}")
    late = {(Ca, Cv, w): fused_f1(probs[("audio", Ca)][0], probs[("visual", Cv)][0], classes, w)
            for Ca in C_GRID for Cv in C_GRID for w in AUDIO_WEIGHTS}
    (Ca, Cv, w), f1 = max(late.items(), key=lambda kv: kv[1])
    print(f"  late fusion, best of {len(late)} settings (audio C={Ca}, visual C={Cv}, audio weight {w}): "
          f"macro-F1 {f1:.3f}")

    if a.extra_faces:
        from mer_helpers.methods.evaluation import logreg_per_split

        Xe, ye, n_subj = extra_face_rows(a.run, a.extra_faces, set(labels.get("subject", pd.Series(dtype=str))))
        best = 0.0
        for C in C_GRID:
            f1s = []
            for s in splits:
                ids, X = feats["visual"][s["name"]]
                extra_ids = [f"extra_{i}" for i in range(len(Xe))]
                split = {**s, "train": list(s["train"]) + extra_ids}
                lab = {**label_of, **dict(zip(extra_ids, ye))}
                sc = logreg_per_split((ids + extra_ids, np.vstack([X, Xe])), lab, [split], C=C)
                f1s.append(float(sc["f1_macro"].iloc[0]))
            best = max(best, float(np.mean(f1s)))
        print(f"  visual logistic regression with {n_subj} unused face subjects ({len(Xe)} rows) added to "
              f"every training part, best C: macro-F1 {best:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
