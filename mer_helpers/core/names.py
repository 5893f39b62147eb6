"""Every closed list of names in the project, in one place.

The command line (``cli``), the parameter checks (``chain.schema``), the loaders and the
methods all read their choices from here, so a new dataset, protocol or model is added once.
Plain constants only: importing this module costs nothing (``mer --help`` reads it).
"""
from __future__ import annotations

#: dataset name -> what it is (``--dataset``; ``-p dataset``)
DATASETS: dict[str, str] = {
    "sample": "the committed sample under data/sample (default)",
    "paired": "paper-2 style clips built from a speech and a face corpus under --data-root "
              "(default -p speech ravdess_speech -p faces kdef)",
    "meld": "MELD (Friends dialogues)",
    "ravdess": "RAVDESS audio-visual",
    "crema-d": "CREMA-D",
    "folder": "any folder of clips with a labels.csv",
}
#: other spellings of a dataset name
DATASET_ALIASES = {"cremad": "crema-d", "crema": "crema-d", "crema_d": "crema-d"}

#: evaluation protocol -> how it splits the clips (``--protocol``)
PROTOCOLS: dict[str, str] = {
    "speaker-cv": "grouped k-fold over speakers (default k=5; every speaker on one side only; the default)",
    "speaker-split": "one grouped 80/20 split over speakers",
    "random-split": "stratified 80/20 over clips, the papers' protocol: speakers leak between "
                    "training and test, so reported for comparison only",
    "official": "MELD's own train/dev/test splits",
    "cross-corpus": "train on every clip of one corpus pair, test on every clip of another "
                    "(dataset paired: -p test_speech NAME -p test_faces NAME)",
}
#: the protocols that keep every speaker on one side of every split
SPEAKER_INDEPENDENT = ("speaker-cv", "speaker-split", "cross-corpus")

#: ``--preset`` (their settings: :data:`mer_helpers.chain.config.PRESETS`)
PRESETS = ("paper", "strong", "smoke")

#: the three classifiers, the papers' own first; their names in tables and figures
MODELS = ("bilstm_sa", "bilstm", "cnn")
MAIN_MODEL = "bilstm_sa"
MODEL_LABELS = {"bilstm_sa": "BiLSTM-SA", "bilstm": "BiLSTM", "cnn": "CNN"}
#: modality dropout's forms (``-p modality_dropout``; :func:`mer_helpers.methods.models.modality_copies`)
MODALITY_DROPOUT = ("none", "both", "alternate")

#: visual backbones (their specifications: :data:`mer_helpers.methods.backbones.BACKBONES`)
BACKBONES = ("resnet50", "mobilenet_v2", "efficientnet_b0", "fer_xception")
#: audio feature sets (``-p audio_features``; several joined with ``+``)
AUDIO_FEATURES = ("ae", "mfcc_stats", "egemaps", "descriptors")

#: statistics over time of an audio unit (``-p audio_stats``), and the named sets of them
AUDIO_STATS = ("mean", "std", "min", "max", "dmean", "dstd")
AUDIO_STAT_PRESETS: dict[str, tuple[str, ...]] = {
    "mean_std": ("mean", "std"),
    "mean_std_minmax": ("mean", "std", "min", "max"),
    "full": AUDIO_STATS,
}

#: what a batch does with a clip it cannot read (``--on-bad-input``)
ON_BAD_INPUT = ("stop", "skip")
