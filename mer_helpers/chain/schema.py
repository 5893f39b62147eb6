"""Every parameter of the notebook chain in one place: type, allowed values, meaning.

``mer run`` calls :func:`validate` once, before notebook 00, so a wrong value, a missing data
folder, a missing FFmpeg or unavailable backbone weights stop the run within seconds, all
named in one message (:class:`InvalidParameters`), instead of failing minutes later inside a
notebook. Notebooks keep their own checks and may call :func:`check` / :func:`validate` too.

:data:`SCHEMA` maps a parameter name to a :class:`Rule`. A parameter that a notebook declares
but that has no rule here is checked against the type of its default (see
:func:`chain_parameters`). No TensorFlow is imported: the only check that may load Keras is
the weights check, and only when :func:`mer_helpers.methods.backbones.resolve_weights` downloads.
"""
from __future__ import annotations

import ast
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

from mer_helpers import DEFAULT_CLASSES
from mer_helpers.core import media
from mer_helpers.core.names import (
    AUDIO_FEATURES, AUDIO_STAT_PRESETS, AUDIO_STATS, BACKBONES, DATASET_ALIASES, DATASETS, MODALITY_DROPOUT,
    MODELS, ON_BAD_INPUT, PROTOCOLS
)
from mer_helpers.data import datasets as ds
from mer_helpers.data.labels import parse_classes, resolve_classes
from mer_helpers.data.paired import AUX_FACES, plan_paired
from mer_helpers.methods import backbones
from mer_helpers.methods.person import PERSON_NORM_CHOICES

__all__ = ["InvalidParameters", "Rule", "SCHEMA", "check", "validate", "check_environment",
           "chain_parameters", "chain_names", "notebook_values", "PARAMETER_GROUPS", "needs_of", "describe"]


class InvalidParameters(ValueError):
    """One or more run settings are wrong; ``problems`` holds one line per bad value."""

    def __init__(self, problems: Sequence[str]):
        self.problems = list(problems)
        n = len(self.problems)
        head = f"{n} problem{'s' if n != 1 else ''} with the run's settings (nothing was run):"
        super().__init__("\n".join([head] + [f"  - {p}" for p in self.problems]))


# --------------------------------------------------------------------------------------------
# Rules
# --------------------------------------------------------------------------------------------

def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _split_words(v: str, seps: str) -> list[str]:
    for s in seps[1:]:
        v = v.replace(s, seps[0])
    return [w.strip() for w in v.split(seps[0]) if w.strip()]


@dataclass(frozen=True)
class Rule:
    """``ok(value) -> bool``; ``allowed``: the allowed values in words; ``help``: the meaning;
    ``kind``: int, float, bool, choice, text, path, list or other."""

    ok: Callable[[Any], bool]
    allowed: str
    help: str = ""
    nullable: bool = False
    choices: tuple = field(default=())
    kind: str = "other"

    def problem(self, name: str, value: Any) -> str | None:
        if value is None and self.nullable:
            return None
        try:
            good = bool(self.ok(value))
        except Exception:
            good = False
        if good:
            return None
        allowed = self.allowed + (" (or none)" if self.nullable else "")
        what = f" ({self.help})" if self.help else ""
        return f"{name} = {value!r}{what}: allowed: {allowed}"


def Int(help: str, lo: int = 1, multiple_of: int | None = None, nullable: bool = False) -> Rule:
    text = f"an integer >= {lo}" + (f", a multiple of {multiple_of}" if multiple_of else "")
    return Rule(lambda v: _is_int(v) and v >= lo and (not multiple_of or v % multiple_of == 0),
                text, help, nullable, kind="int")


def Float(help: str, lo: float | None = None, hi: float | None = None, lo_open: bool = True,
          hi_open: bool = True, nullable: bool = False) -> Rule:
    if lo is not None and hi is not None:
        text = f"a number in {'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open else ']'}"
    elif lo is not None:
        text = f"a number {'>' if lo_open else '>='} {lo:g}"
    else:
        text = "a number"

    def ok(v):
        if not _is_number(v) or v != v:
            return False
        if lo is not None and (v <= lo if lo_open else v < lo):
            return False
        if hi is not None and (v >= hi if hi_open else v > hi):
            return False
        return True

    return Rule(ok, text, help, nullable, kind="float")


def Bool(help: str) -> Rule:
    return Rule(lambda v: isinstance(v, bool), "true or false", help, kind="bool")


def Choice(help: str, *choices: str, nullable: bool = False) -> Rule:
    return Rule(lambda v: isinstance(v, str) and v in choices, "one of " + ", ".join(choices), help,
                nullable, tuple(choices), kind="choice")


def Str(help: str, nullable: bool = False) -> Rule:
    return Rule(lambda v: isinstance(v, str) and v.strip() != "", "a non-empty text", help, nullable,
                kind="text")


def Path_(help: str, nullable: bool = True) -> Rule:
    return Rule(lambda v: isinstance(v, (str, os.PathLike)) and str(v).strip() != "", "a folder path",
                help, nullable, kind="path")


def Subset(help: str, *choices: str, seps: str | None = None, min_items: int = 1) -> Rule:
    """A list of distinct ``choices`` (with ``seps``: also a string joined by any of them)."""

    def ok(v):
        if isinstance(v, str):
            if not seps:
                return False
            items = _split_words(v, seps)
        elif isinstance(v, (list, tuple)):
            items = list(v)
        else:
            return False
        return (len(items) >= min_items and all(isinstance(i, str) and i in choices for i in items)
                and len(set(items)) == len(items))

    how = "a list" + (f" (or a text joined by {' or '.join(repr(s) for s in seps)})" if seps else "")
    return Rule(ok, f"{how} of distinct names from {', '.join(choices)}", help, False, tuple(choices),
                kind="list")


def _classes_ok(v: Any) -> bool:

    try:
        parse_classes(v)
    except ValueError:
        return False
    return True


def _str_list_ok(v: Any) -> bool:
    return isinstance(v, (list, tuple)) and all(isinstance(x, str) for x in v)


#: the statistics and presets of :func:`mer_helpers.methods.audio_featurizer.parse_stats` (kept equal by a test)


def _audio_stats_ok(v: Any) -> bool:
    if isinstance(v, str):
        if v in AUDIO_STAT_PRESETS:
            return True
        names = [s.strip() for s in v.split(",") if s.strip()]
    elif isinstance(v, (list, tuple)):
        names = list(v)
    else:
        return False
    return bool(names) and all(n in AUDIO_STATS for n in names)




def _dataset_name(v: Any) -> str:
    name = str(v).strip().lower()
    return DATASET_ALIASES.get(name, name.replace("_", "-"))


#: parameter name -> rule. The single description of the chain's parameters.
SCHEMA: dict[str, Rule] = {
    # set by `mer run`
    "dataset": Rule(lambda v: isinstance(v, str) and _dataset_name(v) in DATASETS,
                    "one of " + ", ".join(DATASETS), "the corpus", choices=tuple(DATASETS)),
    "data_root": Path_("where the dataset lives (none: the dataset's default folder)"),
    "out_dir": Path_("the run folder", nullable=False),
    "classes": Rule(_classes_ok, "a list of at least two distinct emotion names (angry, calm, "
                    "contempt, disgust, fear, happy, neutral, sad, surprise, or a corpus spelling "
                    "such as joy, sadness, surprised), or a text 'happy,sad,surprise'",
                    "the run's class set"),
    "protocol": Choice("evaluation protocol", *PROTOCOLS),
    "n_folds": Int("folds of speaker-cv (grouped k-fold needs at least 2)", lo=2),
    "seed": Int("random seed", lo=0),
    "n_jobs": Int("parallel worker processes"),
    "on_bad_input": Choice("what to do with an unreadable clip", *ON_BAD_INPUT),
    "speech": Str("paired: speech corpus folder under data_root"),
    "faces": Str("paired: face corpus folder under data_root"),
    "test_speech": Str("paired, protocol cross-corpus: speech corpus folder of the test pair, "
                       "another than speech", nullable=True),
    "test_faces": Str("paired, protocol cross-corpus: face corpus folder of the test pair "
                      "(none: the training pair's)", nullable=True),
    # 01 audio front end
    "sr": Int("audio sample rate in Hz (none: the clip's own rate)", lo=1000, nullable=True),
    "denoise": Bool("spectral subtraction before the MFCC"),
    "over_subtraction": Float("spectral subtraction factor", lo=0, lo_open=False),
    "spectral_floor": Float("spectral floor of the subtraction", lo=0, hi=1, lo_open=False, hi_open=False),
    "noise_percentile": Float("quietest frames (percent) that estimate the noise", lo=0, hi=100,
                              hi_open=False),
    "n_mfcc": Int("MFCC coefficients"),
    "mfcc_deltas": Bool("append delta and delta-delta MFCC"),
    "n_fft": Int("FFT window length in samples"),
    "hop_length": Int("hop between MFCC frames in samples"),
    "n_mels": Int("mel bands"),
    "trim_db": Float("cut leading/trailing silence this many dB below the loudest frame, after the "
                     "spectral subtraction (none: no trimming)", lo=0, nullable=True),
    "peak_normalize": Bool("scale each clip to peak 1 before the MFCC (false: keep the recorded level)"),
    # 02 audio autoencoder
    "ae_epochs": Int("audio autoencoder epochs"),
    "ae_batch_size": Int("audio autoencoder batch size"),
    "ae_validation_split": Float("share of training frames held out by the audio autoencoder", lo=0, hi=1),
    "ae_l2": Float("weight decay of the audio autoencoder", lo=0, lo_open=False),
    "ae_sparsity": Float("L1 activity term on the audio bottleneck", lo=0, lo_open=False),
    "audio_stats": Rule(_audio_stats_ok, f"one of {', '.join(AUDIO_STAT_PRESETS)}, or a list / "
                        f"comma-separated text of {', '.join(AUDIO_STATS)}",
                        "statistics of the audio bottleneck over time"),
    "audio_features": Subset("audio feature blocks", *AUDIO_FEATURES, seps="+,"),
    # 03 summary images
    "frame_interval": Int("keep every n-th frame"),
    "frame_size": Int("square frame size in pixels", lo=32, multiple_of=8),
    "face_detect": Bool("crop the detected face (false: centre crop)"),
    "face_only": Bool("summary images only from frames with a detected face"),
    "summary_mode": Choice("how summary images are made", "shared", "per_clip", "average", "all"),
    "n_clusters": Int("k-means clusters: summary images per clip"),
    "cae_epochs": Int("convolutional autoencoder epochs"),
    "cae_batch_size": Int("convolutional autoencoder batch size"),
    "cae_max_frames": Int("training frames per split of the shared autoencoder (none: all)", nullable=True),
    "average_segments": Int("average mode: composites per clip"),
    # 04 visual features
    "backbone": Choice("visual feature network", *BACKBONES),
    "backbone_weights": Rule(lambda v: isinstance(v, str) and v.strip() != "",
                             "imagenet, none, fer2013 or the path of a weights file",
                             "weights of the backbone", nullable=True),
    "backbone_batch_size": Int("images per backbone batch"),
    "backbone_layer": Choice("backbone layer the features come from", "block", "pool", "logits"),
    "aux_faces": Choice("paired: extra training faces for every model that reads faces (unpaired: the face "
                        "corpus's subjects no speaker is paired with)", *AUX_FACES),
    # 05 feature selection

    "selector": Choice("feature selector (the other variant is fitted for comparison)", "izoa", "zoa"),
    "population": Int("selector population size"),
    "iterations": Int("selector iterations"),
    "alpha": Float("weight of the error term in the selection fitness", lo=0, hi=1),
    "fitness_classifier": Choice("fast classifier scoring a feature subset", "knn", "logreg", "lda"),
    "n_features_to_select": Int("features to keep (none: chosen by the selector)", nullable=True),
    "selection_seeds": Int("selector seeds of the convergence plot"),
    # 05 per-person normalisation (read by 05, 06 and the model bundle)
    "person_norm_audio": Choice("per-person normalisation of the audio columns with statistics of the "
                                "person's own clips (a person = the speaker of labels.csv); inner: the "
                                "mode held-out inner training speakers prefer in this run", *PERSON_NORM_CHOICES),
    "person_norm_visual": Choice("per-person normalisation of the visual columns (inner: as for audio)",
                                 *PERSON_NORM_CHOICES),
    "min_person_clips": Int("fewest clips of one person that make a reference at prediction time "
                            "(fewer: the bundle's person-free model answers)", lo=2),
    # 06 classifiers
    "fusion": Choice("how the two modalities meet: one model on both (early) or one each, "
                     "probabilities averaged (late)", "early", "late"),
    "classifier_columns": Choice("fused columns the classifiers read", "selected", "all"),
    "inner_tuning": Bool("score alternative settings on inner training speakers"),
    "epochs": Int("classifier training epochs"),
    "batch_size": Int("classifier batch size"),
    "learning_rate": Float("Adam learning rate", lo=0),
    "validation_split": Float("share of the training part held out for validation", lo=0, hi=1),
    "ensemble": Int("networks trained per model (seeds seed, seed+1, ...), softmax outputs averaged"),
    "modality_dropout": Choice("a model of both modalities also trains on copies of its clips with one modality "
                               "at the training mean (early fusion only): none; both (each clip twice more, "
                               "speech blanked and faces blanked); alternate (each clip once more, speech or "
                               "faces blanked by turns)", *MODALITY_DROPOUT),
    "sequence_mode": Choice("classifier input layout", "features", "temporal", "items"),
    "seq_steps": Int("time steps the feature vector is cut into"),
    "units": Int("LSTM units per direction"),
    "heads": Int("self-attention heads (2*units must be divisible by heads)"),
    "dropout": Float("dropout rate", lo=0, hi=1, lo_open=False),
    "monitor": Choice("early stopping on", "none", "val_loss", "val_accuracy"),
    "patience": Int("early-stopping patience in epochs"),
    "models": Subset("classifiers to train", *MODELS),
    "ablation": Bool("also train audio-only, visual-only and no-selection models"),
    "bootstrap": Int("bootstrap resamples of the confidence intervals", lo=0),
    # 07 results
    "compare_runs": Rule(_str_list_ok, "a list of run folders", "other runs to compare with"),
}


def describe() -> list[tuple[str, str, str]]:
    """``(name, allowed, meaning)`` of every rule (for the docs)."""
    return [(k, r.allowed + (" (or none)" if r.nullable else ""), r.help) for k, r in SCHEMA.items()]


# --------------------------------------------------------------------------------------------
# The chain's parameters (names, defaults) from the notebooks' parameters cells
# --------------------------------------------------------------------------------------------

_MISSING = object()


def _literal(text: Any) -> Any:
    try:
        return ast.literal_eval(str(text))
    except Exception:
        return _MISSING


#: notebook parameters that hold several of the chain's parameters as one dict, so that a
#: notebook's parameters cell stays short (group name → member names). The chain knows only the
#: members: ``mer run -p epochs 30``, the presets and ``run.json`` use them, and
#: :func:`notebook_values` builds the dict a notebook that declares the group receives.
PARAMETER_GROUPS = {
    "denoising": ("denoise", "over_subtraction", "spectral_floor", "noise_percentile"),
    "training": ("epochs", "batch_size", "learning_rate", "validation_split", "ensemble", "modality_dropout"),
    "early_stopping": ("monitor", "patience"),
    "network": ("sequence_mode", "seq_steps", "units", "heads", "dropout"),
}


def chain_parameters(notebooks: Iterable[str | os.PathLike]) -> tuple[dict[str, set[str]], dict[str, Any]]:
    """``({notebook name: declared names}, {name: default})`` from the ``parameters`` cells
    (``papermill.inspect_notebook``). The default of a name is that of its first notebook;
    a default that is not a Python literal is left out. A group of :data:`PARAMETER_GROUPS`
    counts as its members (each with its default from the group's dict); the group's own name
    is kept among the notebook's declared names too, so :func:`notebook_values` knows to pass
    the dict.

    Raises
    ------
    ValueError
        A notebook's group dict does not hold exactly the group's members.
    """
    import papermill as pm

    declared: dict[str, set[str]] = {}
    defaults: dict[str, Any] = {}
    for nb in notebooks:
        info = pm.inspect_notebook(str(nb))
        names = set(info)
        values = {name: _literal(p.get("default")) for name, p in info.items()}
        for group in names & set(PARAMETER_GROUPS):
            members = PARAMETER_GROUPS[group]
            got = values.pop(group)
            if not isinstance(got, dict) or set(got) != set(members):
                raise ValueError(f"{Path(nb).name}: parameter {group!r} must be a dict of {', '.join(members)}")
            names |= set(members)
            values.update(got)
        declared[Path(nb).name] = names
        for name, v in values.items():
            if name not in defaults and v is not _MISSING:
                defaults[name] = v
    return declared, defaults


def chain_names(declared: Mapping[str, set[str]]) -> set[str]:
    """Every parameter name the chain knows (``mer run -p NAME``): the declared names of all
    notebooks, groups counted as their members."""
    return set().union(*declared.values()) - set(PARAMETER_GROUPS)


def notebook_values(params: Mapping[str, Any], names: set[str], defaults: Mapping[str, Any]) -> dict[str, Any]:
    """What one notebook receives from the run's parameters: the names it declares, and for
    each group it declares (:data:`PARAMETER_GROUPS`) of which the run sets a member, one dict of
    the members, a member the run does not set taking the chain's default.

    Parameters
    ----------
    params : mapping
        The run's parameters (chain names).
    names : set of str
        The notebook's declared names (:func:`chain_parameters`).
    defaults : mapping
        The chain's defaults.

    Returns
    -------
    dict
    """
    groups = [g for g in PARAMETER_GROUPS if g in names]
    grouped = {m for g in groups for m in PARAMETER_GROUPS[g]}
    out = {k: v for k, v in params.items() if k in names and k not in grouped and k not in PARAMETER_GROUPS}
    for g in groups:
        if any(m in params for m in PARAMETER_GROUPS[g]):
            out[g] = {m: params[m] if m in params else defaults.get(m) for m in PARAMETER_GROUPS[g]}
    return out


def _type_problem(name: str, value: Any, default: Any) -> str | None:
    """A parameter without a rule: same type as its notebook default."""
    if default is None or value is None:
        return None
    if isinstance(default, bool):
        ok, what = isinstance(value, bool), "true or false"
    elif isinstance(default, int):
        ok, what = _is_int(value), "an integer"
    elif isinstance(default, float):
        ok, what = _is_number(value), "a number"
    elif isinstance(default, str):
        ok, what = isinstance(value, str), "a text"
    elif isinstance(default, (list, tuple)):
        ok, what = isinstance(value, (list, tuple)), "a list"
    elif isinstance(default, dict):
        ok, what = isinstance(value, dict), "a mapping"
    else:
        return None
    return None if ok else f"{name} = {value!r}: allowed: {what} (like its default {default!r})"


# --------------------------------------------------------------------------------------------
# Checks
# --------------------------------------------------------------------------------------------

def _cross_problems(p: Mapping[str, Any]) -> list[str]:
    """Checks that involve several parameters (effective values, defaults included)."""
    out = []
    units, heads, models = p.get("units"), p.get("heads"), p.get("models")
    if _is_int(units) and _is_int(heads) and heads >= 1 and (2 * units) % heads \
            and (not isinstance(models, (list, tuple)) or "bilstm_sa" in models):
        out.append(f"units = {units!r}, heads = {heads!r}: allowed: heads dividing 2*units = {2 * units} "
                   "(BiLSTM-SA attention width)")
    n_mfcc, n_mels = p.get("n_mfcc"), p.get("n_mels")
    if _is_int(n_mfcc) and _is_int(n_mels) and n_mfcc > n_mels:
        out.append(f"n_mfcc = {n_mfcc!r}, n_mels = {n_mels!r}: allowed: n_mfcc <= n_mels")
    out += _cross_corpus_problems(p)
    norm = {k: p.get(k) for k in ("person_norm_audio", "person_norm_visual") if p.get(k) not in (None, "none")}
    if norm and p.get("sequence_mode") == "temporal":
        out.append(", ".join(f"{k} = {v!r}" for k, v in norm.items()) + ", sequence_mode = 'temporal': "
                   "allowed: per-person normalisation with sequence_mode features (it normalises the fused vectors)")
    if p.get("aux_faces") == "unpaired" and p.get("summary_mode") not in (None, "all"):
        out.append(f"aux_faces = 'unpaired', summary_mode = {p.get('summary_mode')!r}: allowed: aux_faces with "
                   "summary_mode 'all' (a face image set is then described as a clip's frames are)")
    feats = p.get("audio_features")
    if SCHEMA["audio_features"].problem("audio_features", feats) is None and feats is not None:
        names = _split_words(feats, "+,") if isinstance(feats, str) else list(feats)
        import importlib.util

        if "egemaps" in names and importlib.util.find_spec("opensmile") is None:
            out.append(f"audio_features = {feats!r}: egemaps needs the optional opensmile package "
                       "(audEERING research licence): pip install 'mer-book[egemaps]', or leave egemaps out")
    return out


def _cross_corpus_problems(p: Mapping[str, Any]) -> list[str]:
    """Protocol ``cross-corpus`` and its test pair (``test_speech``, ``test_faces``)."""
    protocol = p.get("protocol")
    ts, tf = p.get("test_speech"), p.get("test_faces")
    if any(v is not None and not (isinstance(v, str) and v.strip()) for v in (ts, tf)):
        return []  # reported by their own rules
    given = {k: v for k, v in (("test_speech", ts), ("test_faces", tf)) if v is not None}
    name = _dataset_name(p.get("dataset", "sample"))
    if protocol != "cross-corpus":
        if given and protocol is not None:
            k, v = next(iter(given.items()))
            return [f"{k} = {v!r}: the test corpus pair is used only with --protocol cross-corpus "
                    f"(protocol is {protocol!r})"]
        return []
    if name == "paired":
        speech = p.get("speech", "ravdess_speech")
        if given.get("test_speech", speech) == speech:
            return [f"protocol = 'cross-corpus': dataset 'paired' needs a test pair with another speech corpus "
                    f"than the training pair's {speech!r} (its speakers would be on both sides): "
                    "-p test_speech SPEECH [-p test_faces FACES], e.g. savee and oulu_casia"]
        return []
    if given:
        return [f"{next(iter(given))}: the test corpus pair is an option of dataset 'paired' only"]
    if name != "folder":
        return [f"protocol = 'cross-corpus': allowed for dataset 'paired' (with -p test_speech / "
                f"-p test_faces) or 'folder' (a labels.csv with a domain column train/test), not {name!r}"]
    return []


def check(params: Mapping[str, Any], defaults: Mapping[str, Any] | None = None,
          needs: Iterable[str] = ()) -> list[str]:
    """Problems (one line each, empty when all is well) with ``params``.

    Every name with a rule in :data:`SCHEMA` is checked against it; a name without one
    against the type of its entry in ``defaults`` (the notebooks' defaults, see
    :func:`chain_parameters`). Checks over several parameters use ``{**defaults, **params}``.
    ``needs``: environment checks to add (``data``, ``ffmpeg``, ``weights``, see
    :func:`check_environment`).
    """
    defaults = dict(defaults or {})
    problems: list[str] = []
    for name, value in params.items():
        rule = SCHEMA.get(name)
        if rule is not None:
            msg = rule.problem(name, value)
        elif name in defaults:
            msg = _type_problem(name, value, defaults[name])
        else:
            msg = None
        if msg:
            problems.append(msg)
    bad = {m.split(" ", 1)[0] for m in problems}
    effective = {**defaults, **params}
    problems += _cross_problems(effective)  # each skips values of the wrong type
    if needs:
        problems += check_environment(effective, needs, bad=bad)
    return problems


def validate(params: Mapping[str, Any], defaults: Mapping[str, Any] | None = None,
             needs: Iterable[str] = (), extra: Sequence[str] = ()) -> None:
    """Raise :class:`InvalidParameters` listing ``extra`` and every problem of :func:`check`."""
    problems = list(extra) + check(params, defaults, needs)
    if problems:
        raise InvalidParameters(problems)


# --------------------------------------------------------------------------------------------
# Environment: data, FFmpeg, backbone weights
# --------------------------------------------------------------------------------------------

#: notebook number -> what it needs from the machine (checked only for notebooks that
#: declare ``dataset``, i.e. the chain's own notebooks)
NEEDS_OF_NOTEBOOK = {"00": {"data", "ffmpeg"}, "01": {"ffmpeg"}, "03": {"ffmpeg"}}


def needs_of(declared: Mapping[str, set[str]]) -> set[str]:
    """Environment checks for the notebooks about to run (``{name: declared parameters}``)."""
    needs: set[str] = set()
    for name, names in declared.items():
        if "dataset" in names:
            needs |= NEEDS_OF_NOTEBOOK.get(name[:2], set())
        if {"backbone", "backbone_weights"} <= names:
            needs.add("weights")
    return needs


def _data_problems(p: Mapping[str, Any]) -> list[str]:

    name = _dataset_name(p.get("dataset", "sample"))
    raw = p.get("data_root")
    root = Path(str(raw)).expanduser() if raw not in (None, "") else None
    where = f"data_root {str(root)!r}" if root is not None else "the default data_root"
    if name in ("sample", "folder"):
        if root is None and name == "folder":
            return ["data_root: dataset 'folder' needs one: a folder of clips with a labels.csv "
                    "(columns clip_id,path,label,speaker); pass --data-root DIR"]
        base = root or ds.DATA_DIR / "sample"
        if not (base / "labels.csv").is_file():
            hint = (" (the committed sample lives in data/sample: restore it with git)"
                    if name == "sample" else "")
            return [f"data_root = {str(base)!r}: dataset {name!r} needs a folder with a labels.csv "
                    f"(columns clip_id,path,label,speaker); {base / 'labels.csv'} not found{hint}"]
        return []
    if name == "paired":
        base = root or ds._default_paired_root()
        if not base.is_dir():
            return [f"data_root = {str(base)!r}: dataset 'paired' needs a folder holding the speech "
                    "and face corpora (DATA_ROOT/<speech>/ and DATA_ROOT/<faces>/, e.g. ../shared/data); "
                    "it does not exist"]
        out = []
        for key, what in (("speech", "speech corpus (RAVDESS speech, SAVEE or TESS naming)"),
                          ("faces", "face corpus (KDEF, Oulu-CASIA or CK+48 naming)"),
                          ("test_speech", "test pair's speech corpus"),
                          ("test_faces", "test pair's face corpus")):
            sub = p.get(key)
            if not isinstance(sub, str) or not sub.strip():
                continue  # reported by its rule
            if not (base / sub).is_dir():
                have = sorted(d.name for d in base.iterdir() if d.is_dir())[:12]
                out.append(f"{key} = {sub!r}: the {what} folder {base / sub} does not exist "
                           f"(folders in {base}: {', '.join(have) or 'none'}; -p {key} NAME picks another)")
        return out
    defaults = {"meld": ds.RAW_DIR / "MELD.Raw", "ravdess": ds.RAW_DIR / "ravdess",
                "crema-d": ds.RAW_DIR / "crema-d"}
    layouts = {"meld": ds.MELD_LAYOUT, "ravdess": ds.RAVDESS_LAYOUT,
               "crema-d": ds.CREMAD_LAYOUT}
    if name not in defaults:
        return []  # unknown dataset: reported by its rule
    base = root or defaults[name]
    if not base.is_dir():
        return [f"data_root = {str(base)!r}: dataset {name!r} not found there ({where}); expected "
                f"layout: {layouts[name]}; `mer download {name}` fetches it where possible"]
    if name == "meld":
        m = ds._meld_root(base)
        if not any((m / f"{s}_sent_emo.csv").is_file() for s in ("train", "dev", "test")):
            return [f"data_root = {str(base)!r}: no MELD {{train,dev,test}}_sent_emo.csv in {m}; "
                    f"expected layout: {ds.MELD_LAYOUT}"]
    return []


def _class_counts(p: Mapping[str, Any]) -> tuple[dict[str, int], list[str], str] | None:
    """``(clips per label, the run's classes, where)`` of the run's data, counted without
    building or decoding anything (``paired``: the dry plan of the pairing); ``None`` when the
    data cannot be read that way (notebook 00 then reports why)."""
    import warnings


    name = _dataset_name(p.get("dataset", "sample"))
    raw = p.get("data_root")
    root = Path(str(raw)).expanduser() if raw not in (None, "") else None
    try:
        classes = resolve_classes(p.get("classes", DEFAULT_CLASSES))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if name == "paired":

                base = root or ds._default_paired_root()
                plan = plan_paired(base / str(p.get("speech")), base / str(p.get("faces")), classes,
                                   int(p.get("seed", 0)))
                return ({str(k): int(v) for k, v in plan.counts()["per_class"].items()}, plan.classes,
                        f"the pairs of {base / str(p.get('speech'))} and {base / str(p.get('faces'))}")
            if name not in ("sample", "folder", "meld", "ravdess", "crema-d"):
                return None
            labels = ds.load_labels(name, root, classes=classes, verbose=False)
    except Exception:  # noqa: BLE001 - notebook 00 reports it with its context
        return None
    where = f"dataset {name!r}" + (f" ({root})" if root is not None else "")
    counts = {str(k): int(v) for k, v in labels["label"].value_counts().items()}
    return counts, list(labels.attrs.get("classes", classes)), where


def _class_problems(p: Mapping[str, Any]) -> list[str]:
    """One line per class of the run with no clip in its data (a one-class fit would fail
    notebooks later, in either ``on_bad_input`` mode)."""
    found = _class_counts(p)
    if found is None:
        return []
    counts, classes, where = found
    empty = [c for c in classes if counts.get(c, 0) == 0]
    ranked = [k for k, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])) if k]
    have = ", ".join(f"{k} {counts[k]}" for k in ranked) or "none"
    hint = f' (e.g. -p classes "[{", ".join(ranked[:3])}]")' if len(ranked) >= 2 else ""
    return [f"classes: no clip of class {c!r} in {where} (clips per label there: {have}); choose "
            f"classes the data has{hint}" for c in empty]


def _ffmpeg_problems() -> list[str]:

    try:
        exe = media.ffmpeg_exe()
    except Exception as e:
        return [f"FFmpeg: {e}"]
    found = shutil.which(exe) if os.sep not in str(exe) else (exe if os.access(exe, os.X_OK) else None)
    if not found:
        return [f"FFmpeg: {exe!r} is not an executable file (MER_FFMPEG or PATH); install ffmpeg "
                "or `pip install imageio-ffmpeg`"]
    return []


def _weights_problems(p: Mapping[str, Any]) -> list[str]:

    backbone = p.get("backbone", "resnet50")
    weights = p.get("backbone_weights", "imagenet")
    try:
        backbones.resolve_weights(backbone, weights)
    except backbones.BackboneWeightsError as e:
        return [f"backbone_weights = {weights!r}: {e}"]
    except Exception as e:  # e.g. a backbone this version of visual.py does not know yet
        return [f"backbone = {backbone!r}, backbone_weights = {weights!r}: {type(e).__name__}: {e}"]
    return []


def check_environment(params: Mapping[str, Any], needs: Iterable[str],
                      bad: set[str] = frozenset()) -> list[str]:
    """``data``: the dataset's folder (and, for ``paired``, its ``speech`` and ``faces``
    subfolders) exists and holds clips of every class of the run; ``ffmpeg``: an FFmpeg binary is found; ``weights``: the backbone
    weights can be loaded (:func:`mer_helpers.methods.backbones.resolve_weights`). Checks whose
    parameters are already reported in ``bad`` are left out."""
    needs = set(needs)
    out: list[str] = []
    if "data" in needs and not bad & {"dataset", "data_root", "speech", "faces", "test_speech", "test_faces"}:
        data = _data_problems(params)
        out += data
        if not data and "classes" not in bad:
            out += _class_problems(params)
    if "ffmpeg" in needs:
        out += _ffmpeg_problems()
    if "weights" in needs and not bad & {"backbone", "backbone_weights"}:
        out += _weights_problems(params)
    return out
