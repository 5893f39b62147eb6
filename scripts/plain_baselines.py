"""Plain-feature references for a finished run: how far do simple features get, fused?

Not part of the papers' method. For the run's own evaluation splits (``OUT/artifacts/splits.json``;
every scaler and model is fitted on a split's training clips only) this scores a standardised
logistic regression on

* ``mfcc``: each clip's MFCC mean + std (``audio/mfcc.npz`` of notebook 01),
* ``pixels``: the mean of the clip's face-only frames as 32 x 32 grey pixels
  (``summary/grey_pixels.npz`` of notebook 03; another ``--size`` reads the frames of notebook 03
  back from the cache),
* ``early fusion``: both vectors concatenated,
* ``late fusion``: the two models' class probabilities averaged,

and prints macro-F1 (mean ± std over splits) beside the run's own numbers, written to
``OUT/artifacts/reference/plain_baselines.json``.

    python scripts/plain_baselines.py runs/paired
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("run_dir")
    ap.add_argument("--size", type=int, default=32, help="pixel side of the grey thumbnails")
    a = ap.parse_args(argv)

    from mer_helpers.core import fileio
    from mer_helpers.stages.results import grey_pixels_from_clips, plain_feature_references

    out = Path(a.run_dir)
    art = out / "artifacts"
    pixels = None if a.size == 32 else grey_pixels_from_clips(out, size=a.size, progress=True)
    result = plain_feature_references(out, size=a.size, pixels=pixels)
    for k, v in result.items():
        print(f"{k:13s} macro-F1 {v['f1_macro']:.3f} ± {v['f1_macro_std']:.3f}")
    metrics = fileio.read_json(out / "metrics.json") if (out / "metrics.json").exists() else {}
    result["run"] = {"protocol": fileio.read_json(art / "splits.json").get("protocol"), "bilstm_sa_f1_macro":
                     metrics.get("models", {}).get("bilstm_sa", {}).get("f1_macro"),
                     "logreg_selected_f1_macro": metrics.get("reference", {}).get("logreg_f1_macro")}
    (art / "reference").mkdir(exist_ok=True)
    fileio.write_json(art / "reference" / "plain_baselines.json", result)
    print("this run:", result["run"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
