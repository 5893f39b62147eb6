"""Run parameters: the one namespace shared by all notebooks, and named presets.

The papers' values are the notebooks' defaults (their ``parameters`` cells). A preset
overrides a few of them at once; ``-p KEY VALUE`` on the command line overrides a preset.
"""
from __future__ import annotations

from typing import Any

import yaml

#: Preset name -> parameter overrides. ``paper`` is empty on purpose: the notebooks' own
#: defaults are the papers' values.
PRESETS: dict[str, dict[str, Any]] = {
    "paper": {},
    # What works on unseen people (issue 10): each value chosen on inner *training* speakers
    # only; the evidence is in notebooks 02, 04 and 06 and book/strong.md.
    "strong": {
        "n_mfcc": 40,                   # 01: MFCC 40 + delta + delta-delta (120 per frame) ...
        "mfcc_deltas": True,
        "n_fft": 512,                   # ... from 32 ms frames every 10 ms ...
        "hop_length": 160,
        "n_mels": 40,
        "trim_db": 30,                  #     silence trimmed 30 dB below the loudest frame (RAVDESS grouped
                                        #     CV 0.706 vs 0.671, scripts/audio_cross_corpus.py; issue 20)
        "denoise": False,               #     no spectral subtraction once speakers are z-scored (three and six
                                        #     classes, scripts/audio_cross_corpus_descriptors*_zscore.md)
        "audio_features": "mfcc_stats+descriptors",  # 02: six statistics over time of each coefficient (720)
        "audio_stats": "full",          #     + 144 speech descriptors (log-mel, pitch, energy, duration); no autoencoder
        "summary_mode": "all",          # 03: every sampled face frame, no k-means
        "backbone": "fer_xception",     # 04: FER2013 mini-Xception (mer weights fetch fer_xception)
        "backbone_weights": "fer2013",
        "backbone_layer": "block",
        "population": 10,               # 05: the zebra selection is still run and scored, with a small budget
        "iterations": 10,               #     (110 evaluations, not 620): the classifiers do not read it
        "selection_seeds": 2,
        "classifier_columns": "all",    # 06: every fused column (the selection loses on inner speakers)
        "seq_steps": 2,                 #     the fused vector in 2 blocks (inner: 0.806 vs 0.774 for 4, six classes)
        "ensemble": 3,                  #     3 networks per model, softmax mean (inner: 0.818 vs 0.807)
        "person_norm_audio": "zscore",  # 05: each speaker's audio columns z-scored with their own clips'
        "person_norm_visual": "center",  #     statistics, face columns centred (05's inner table on the six-emotion
                                         #     run; "inner" per run was measured across corpora and lost, issue 20)
        "aux_faces": "unpaired",        # 04: the face corpus's subjects no speaker is paired with: more training faces
                                        #     (inner, six emotions, 3 networks: early 0.853 -> 0.886; aux_late.py)
        "modality_dropout": "both",     # 06: each clip also once with its speech and once with its faces at the
    },                                  #     training mean (inner, six emotions, two cuts: none 0.884 / 0.915,
                                        #     both 0.904 / 0.920, alternate 0.899 / 0.919; alternate, a third fewer
                                        #     rows, was the preset while the time target needed it: issue 20)
    # Few epochs and small search budgets: for the committed sample and CI, not for results.
    "smoke": {
        "ae_epochs": 5,
        "cae_epochs": 3,
        "n_folds": 3,
        "population": 6,
        "iterations": 4,
        "selection_seeds": 2,
        "epochs": 4,
        "bootstrap": 200,
        "person_norm_audio": "inner",   # the sample run goes through the person-normalised bundle (person-free
        "person_norm_visual": "inner",  # model beside it) in CI; too few speakers for an inner table, so inner
                                        # falls back to strong's zscore / center (person.INNER_FALLBACK)
    },
}


def parse_value(text: str) -> Any:
    """Parse a command-line value as YAML: ``3`` → 3, ``false`` → False, ``[a, b]`` → list."""
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    return text if value is None and text.strip().lower() not in ("null", "none", "~") else value


def resolve(dataset: str, preset: str | None, overrides: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """Pick the preset (``smoke`` for the sample, ``paper`` otherwise) and apply overrides."""
    name = preset or ("smoke" if dataset == "sample" else "paper")
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}")
    params = dict(PRESETS[name])
    params.update(overrides)
    return name, params
