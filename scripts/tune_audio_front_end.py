"""Choose the speech front end on inner training speakers (the evidence behind `strong`'s MFCC).

For every evaluation split of a finished run, each candidate front end (MFCC framing, number
of coefficients, deltas, spectral subtraction, statistics over time) turns every clip into a
fixed vector; a logistic regression is fitted on the inner-fit speakers of the split's training
part and scored on its held-out inner speakers (:func:`mer_helpers.methods.tuning.inner_logreg_table`).
Test clips are never read. MFCCs are cached, so a second call is quick.

    python scripts/tune_audio_front_end.py runs/paired-strong
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

#: candidate name -> front-end parameters (the rest are the notebooks' defaults)
CANDIDATES = {
    "MFCC 13, paper framing (2048/512), denoised": dict(n_mfcc=13),
    "MFCC 40+Δ+ΔΔ, paper framing, denoised": dict(n_mfcc=40, mfcc_deltas=True),
    "MFCC 40+Δ+ΔΔ, paper framing, raw": dict(n_mfcc=40, mfcc_deltas=True, denoise=False),
    "MFCC 40+Δ+ΔΔ, 32 ms / 10 ms, denoised": dict(n_mfcc=40, mfcc_deltas=True, n_fft=512, hop_length=160, n_mels=40),
    "MFCC 40+Δ+ΔΔ, 32 ms / 10 ms, raw": dict(n_mfcc=40, mfcc_deltas=True, n_fft=512, hop_length=160, n_mels=40,
                                             denoise=False),
}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("run_dir", help="a finished run folder (OUT): its labels.csv and splits.json are used")
    ap.add_argument("--n-jobs", type=int, default=2)
    ap.add_argument("--seed", type=int, default=42)
    a = ap.parse_args(argv)

    from mer_helpers.core import fileio
    from mer_helpers.methods import audio, tuning
    from mer_helpers.methods import audio_featurizer
    from mer_helpers.data.splits import evaluation_splits

    art = Path(a.run_dir) / "artifacts"
    labels = pd.read_csv(art / "labels.csv", dtype={"clip_id": str, "speaker": str})
    ev = evaluation_splits(fileio.read_json(art / "splits.json"))
    ids = labels["clip_id"].tolist()
    cands = {}
    for name, params in CANDIDATES.items():
        mfcc = audio.extract_mfcc(labels["path"], n_jobs=a.n_jobs, progress=False, **params)
        for stats in ("mean_std", "full"):
            X = audio_featurizer.summarize(mfcc, stats)[0]
            cands[f"{name}, {stats}"] = {s["name"]: dict(zip(ids, X)) for s in ev}
        print(f"[tune_audio_front_end] {name}", flush=True)
    table = tuning.inner_logreg_table(cands, labels, ev, seed=a.seed)
    (art / "tuning").mkdir(exist_ok=True)
    table.to_csv(art / "tuning" / "audio_front_end.csv", index=False)
    print(tuning.summarize_candidates(table).to_string())
    return 0


if __name__ == "__main__":
    sys.exit(main())
