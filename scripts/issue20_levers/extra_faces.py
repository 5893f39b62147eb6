"""Issue 20, six emotions, the data lever: faces of Oulu-CASIA subjects the run never pairs.

The six-emotion paired run uses 20 of Oulu-CASIA's 61 subjects (one per RAVDESS actor). The
other 41 are never in any test fold, so their images are fair training data for the face side.
This script measures, with the lever tables' protocol (standardised logistic regression,
speaker-grouped 5-fold ``GroupKFold``, every clip scored once, macro-F1), what they add:

``base``
    faces alone trained on the training fold's clips only (as the chain does), centred per person.
``+extra``
    the same, plus the 41 other subjects' images (each centred on its own subject's mean).
``head``
    a fixed face "expression head": a logistic regression fitted on the 41 other subjects only
    (no clip of the run), whose six log-probabilities become six extra face columns.

Each clip's face row is the mean FER2013 ``block`` features of its subject's three images of its
emotion (what the paired clip shows; ``six_levers.py faces``' ``full`` crop). Speech: the run's
own columns, z-scored per speaker. Person statistics never read a label.

    python scripts/issue20_levers/extra_faces.py /work/runs/six --data ../shared/data \\
        --mapping PAIRED_BUILD/mapping.csv
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from six_levers import EMOTIONS, f1, grouped_proba, late, load_run, person_norm  # noqa: E402

FOLDER = {v: k for k, v in EMOTIONS.items()}


def subject_images(data: Path) -> pd.DataFrame:
    """Every Oulu-CASIA image of the six emotions: ``subject``, ``label``, ``path``."""
    rows = [(p.parent.parent.name, FOLDER[p.parent.name], p) for p in sorted((data / "oulu_casia").glob("P*/*/*.jpeg"))
            if p.parent.name in FOLDER]
    return pd.DataFrame(rows, columns=["subject", "label", "path"])


def features(paths) -> np.ndarray:
    from PIL import Image

    from mer_helpers.methods import visual

    images = [np.asarray(Image.open(p).convert("RGB").resize((96, 96), Image.BILINEAR)) for p in paths]
    return visual.backbone_features(images, backbone="fer_xception", weights="fer2013", layer="block",
                                    use_cache=False, progress=False, local=True)


def main(argv=None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("run", type=Path)
    ap.add_argument("--data", type=Path, default=Path("../shared/data"))
    ap.add_argument("--mapping", type=Path, required=True)
    a = ap.parse_args(argv)
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GroupKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    labels, A, _, _ = load_run(a.run, None)
    y, g, classes = labels.label.values, labels.speaker.values, sorted(labels.label.unique())
    subject = dict(pd.read_csv(a.mapping)[["speaker", "subject"]].values)
    imgs = subject_images(a.data)
    F = features(imgs.path)
    # each image centred on its own subject's mean (all its images; no label read)
    Fc = person_norm(F, imgs.subject.values, "center")
    paired = {s.split("_", 1)[1] for s in subject.values()}
    extra = ~imgs.subject.isin(paired).values
    key = imgs.subject + "|" + imgs.label
    mean = {k: Fc[(key == k).values].mean(0) for k in key.unique()}
    V = np.stack([mean[f"{subject[s].split('_', 1)[1]}|{l}"] for s, l in zip(g, y)])
    print(f"{len(imgs)} images, {imgs.subject.nunique()} subjects, {extra.sum()} images of "
          f"{imgs.subject[extra].nunique()} unpaired subjects")

    def lr():
        return make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=3000))

    head = lr().fit(Fc[extra], imgs.label.values[extra])
    H = np.log(head.predict_proba(V) + 1e-9)
    Pv, Pvx = np.zeros((len(y), 6)), np.zeros((len(y), 6))
    for tr, te in GroupKFold(5).split(V, y, g):
        Pv[te] = lr().fit(V[tr], y[tr]).predict_proba(V[te])
        # training fold's clips + the unpaired subjects' images
        Pvx[te] = lr().fit(np.vstack([V[tr], Fc[extra]]), np.r_[y[tr], imgs.label.values[extra]]).predict_proba(V[te])
    Az = person_norm(A, g, "zscore")
    Pa = grouped_proba(Az, y, g, classes)
    print(f"speech alone {f1(y, Pa, classes)}")
    print("| faces | faces alone | late fusion | early fusion |\n|---|---|---|---|")
    print(f"| base | {f1(y, Pv, classes)} | {f1(y, late(Pa, Pv), classes)} | "
          f"{f1(y, grouped_proba(np.hstack([Az, V]), y, g, classes), classes)} |")
    print(f"| +extra | {f1(y, Pvx, classes)} | {f1(y, late(Pa, Pvx), classes)} | n/a |")
    print(f"| head (fixed, 41 subjects) | {f1(y, np.exp(H), classes)} | {f1(y, late(Pa, np.exp(H)), classes)} | "
          f"{f1(y, grouped_proba(np.hstack([Az, V, H]), y, g, classes), classes)} |")
    # the head fitted on raw (uncentred) features, its log-probabilities then centred per person
    raw = {k: F[(key == k).values].mean(0) for k in key.unique()}
    Vr = np.stack([raw[f"{subject[s].split('_', 1)[1]}|{l}"] for s, l in zip(g, y)])
    Hr = np.log(lr().fit(F[extra], imgs.label.values[extra]).predict_proba(Vr) + 1e-9)
    Hrc = person_norm(Hr, g, "center")
    for name, Hx in (("head on raw features", Hr), ("head on raw features, centred", Hrc)):
        print(f"| {name} | {f1(y, Hx, classes)} | {f1(y, late(Pa, np.exp(Hx)), classes)} | "
              f"{f1(y, grouped_proba(np.hstack([Az, V, Hx]), y, g, classes), classes)} |")
    print("early fusion, speech + head only:",
          {n: f1(y, grouped_proba(np.hstack([Az, Hx]), y, g, classes), classes)
           for n, Hx in (("centred-feature head", H), ("raw head centred", Hrc))})
    print("early fusion, speech + faces + head x10:",
          f1(y, grouped_proba(np.hstack([Az, V, np.repeat(H, 10, axis=1)]), y, g, classes), classes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
