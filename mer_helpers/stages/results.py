"""Notebook 07 (results): the run set beside the papers, the plain yardsticks, other runs.

The metrics and tests themselves are :mod:`mer_helpers.methods.evaluation`; this module reads a run's
artifacts and fragments and makes the notebook's tables: the papers' numbers beside the run's,
the plain-feature references on the same splits, the comparison with other runs and the
``results`` fragment.
"""
from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from mer_helpers.chain.book import CLAIM_RUNS, REFERENCE_RUNS, claim_markdown
from mer_helpers.core import fileio
from mer_helpers.core.fileio import merge_fragments, read_json
from mer_helpers.core.names import MODEL_LABELS
from mer_helpers.data.splits import describe_splits, evaluation_splits
from mer_helpers.methods import frames
from mer_helpers.methods.audio_featurizer import mfcc_summary
from mer_helpers.methods.evaluation import format_mean_std, logreg_per_split, proba_matrix
from mer_helpers.methods.papers import PAPER2_AUC, PAPER_CLASSES, PAPER_TABLE1

#: MELD utterances per label, train / dev / test (the published distribution, Poria et al. 2019;
#: github.com/declare-lab/MELD).
MELD_COUNTS = {"happy": (1743, 163, 402), "sad": (683, 111, 208), "surprise": (1205, 150, 281)}


def paper_comparison_note(classes: Sequence[str], protocol: str | None = None) -> str:
    """Why a run's numbers cannot be set beside the papers' one to one.

    Parameters
    ----------
    classes : sequence of str
        The run's classes (another class set changes chance level 1/k).
    protocol : str, optional
        The run's protocol (``cross-corpus`` is named).

    Returns
    -------
    str
        The note; ``""`` when nothing stands out beyond the protocol and data differences
        discussed in 07_results.
    """
    notes = []
    if sorted(classes) != sorted(PAPER_CLASSES):
        notes.append(f"this run has {len(classes)} classes ({', '.join(classes)}; chance "
                     f"{1 / max(len(classes), 1):.3f}), the papers 3 (happy, sad, surprise; chance 0.333)")
    if protocol == "cross-corpus":
        notes.append("cross-corpus: trained on one corpus pair and tested on another, a harder test "
                     "than any within-corpus split")
    return "; ".join(notes)


def papers_table() -> pd.DataFrame:
    """The papers' Table 1 (rows = models, columns = the four metrics) plus paper 2's AUC.

    Returns
    -------
    pandas.DataFrame
    """
    df = pd.DataFrame(PAPER_TABLE1).T
    df["auc_ovr"] = pd.Series(PAPER2_AUC)
    df.index = [MODEL_LABELS[m] for m in df.index]
    return df


def run_context(out_dir) -> dict:
    """Facts of a run folder that explain its numbers: dataset, protocol, clips, speakers,
    speakers shared between training and test parts, backbone weights, epochs, preset.

    Parameters
    ----------
    out_dir : path-like
        A finished (or partly finished) run.

    Returns
    -------
    dict
        Only the facts found in the run's files.
    """

    out = Path(out_dir)
    a = out / "artifacts"
    frag = merge_fragments(out) if (a / "metrics").is_dir() else {}
    run = read_json(out / "run.json") if (out / "run.json").exists() else {}
    params = run.get("parameters", {})
    ctx = {"dataset": frag.get("dataset", params.get("dataset")), "preset": run.get("preset"),
           "backbone_weights": str(frag.get("backbone_weights", params.get("backbone_weights", "imagenet"))),
           "visual_backbone": frag.get("visual_backbone", params.get("backbone", "resnet50")),
           "epochs": frag.get("classifiers", {}).get("epochs", params.get("epochs")),
           "validation": frag.get("classifiers", {}).get("validation"),
           "early_stopping": frag.get("classifiers", {}).get("early_stopping"),
           "features": frag.get("features"), "sanity": frag.get("sanity")}
    if (a / "splits.json").exists() and (a / "labels.csv").exists():
        sp = read_json(a / "splits.json")
        lab = pd.read_csv(a / "labels.csv", dtype=str)
        ev_splits = [s for s in sp["splits"] if s["name"] != "final"]
        table = describe_splits(sp, lab)
        shared = [int(table.at[s["name"], "shared speakers"]) for s in ev_splits]
        test_clips = sum(len(s["test"]) for s in ev_splits)
        ctx.update(protocol=sp["protocol"], n_splits=len(ev_splits), n_clips=len(lab),
                   n_speakers=lab["speaker"].nunique(), test_clips=test_clips,
                   shared_speakers_per_split=shared,
                   class_counts=lab["label"].value_counts().to_dict())
    updates = {}
    for h in sorted((a / "histories").glob("*/*.json")) if (a / "histories").is_dir() else []:
        if h.parent.name == "final":
            continue
        rec = read_json(h)
        if "n_updates" in rec:
            updates.setdefault(h.stem, []).append(rec["n_updates"])
    if updates:
        ctx["gradient_updates_per_fit"] = {m: int(np.median(v)) for m, v in updates.items()}
    return ctx


def plain_feature_references(out_dir, size: int = 32, pixels: np.ndarray | None = None) -> dict:
    """Plain-feature references on the run's own evaluation splits (not the papers' method).

    A standardised logistic regression (:func:`logreg_per_split`), fitted on each split's
    training clips only, on ``mfcc`` (each clip's MFCC mean + std, ``audio/mfcc.npz``,
    :func:`mer_helpers.methods.audio_featurizer.mfcc_summary`), ``pixels`` (the mean of the clip's face-only frames
    as ``size`` x ``size`` grey pixels, written by notebook 03 as
    :data:`mer_helpers.methods.frames.GREY_PIXELS`), ``early_fusion`` (both concatenated) and
    ``late_fusion`` (the two models' probabilities averaged). Reads ``OUT/artifacts`` only.

    Parameters
    ----------
    out_dir : path
        A run folder with ``artifacts/`` written by notebooks 00-03.
    size : int
        Side of the grey-pixel image.
    pixels : numpy.ndarray, optional
        One row per clip of ``labels.csv`` (e.g. :func:`grey_pixels_from_clips` for another
        ``size``), used instead of the file.

    Returns
    -------
    dict
        ``{name: {f1_macro, f1_macro_std, per_split}}`` for ``mfcc``, ``pixels``,
        ``early_fusion`` and ``late_fusion``: how far simple features get on the same clips
        and folds, to set beside the chain's numbers.
    """
    from sklearn.metrics import f1_score


    art = Path(out_dir) / "artifacts"
    labels = pd.read_csv(art / "labels.csv", dtype={"clip_id": str, "speaker": str})
    splits = fileio.read_json(art / "splits.json")
    classes = list(splits["classes"])
    ids = labels["clip_id"].tolist()
    label_of = dict(zip(ids, labels["label"].astype(str)))
    mf = np.load(art / "audio" / "mfcc.npz", allow_pickle=True)
    A = mfcc_summary([mf[c] for c in ids], precision=np.float32)[0]  # float32 as these numbers always were
    V = frames.load_grey_pixels(art, ids, size) if pixels is None else np.asarray(pixels)
    ev = [s for s in evaluation_splits(splits) if len(s.get("test", ()))]
    scores, probs = {}, {}
    for name, X in (("mfcc", A), ("pixels", V), ("early_fusion", np.c_[A, V])):
        table, preds = logreg_per_split((ids, X), label_of, ev, classes=classes, seed=None, predictions=True)
        scores[name] = table["f1_macro"].tolist()
        probs[name] = proba_matrix(preds, classes)
    y = np.array([classes.index(label_of[c]) for s in ev for c in s["test"]])
    late = (probs["mfcc"] + probs["pixels"]) / 2
    cuts = np.cumsum([len(s["test"]) for s in ev])[:-1]
    scores["late_fusion"] = [float(f1_score(yt, lt.argmax(1), average="macro", labels=range(len(classes))))
                             for yt, lt in zip(np.split(y, cuts), np.split(late, cuts))]
    return {k: {"f1_macro": float(np.mean(v)), "f1_macro_std": float(np.std(v)), "per_split": v}
            for k, v in scores.items()}


def grey_pixels_from_clips(out_dir, size: int = 32, progress: bool = False) -> np.ndarray:
    """The ``pixels`` of :func:`plain_feature_references` for another thumbnail ``size``, from the clips.

    Reads the clips of ``labels.csv`` (frames as notebook 03 sampled them, face-only, from the
    frame cache), so it is for scripts, not for the notebooks, which read
    :data:`mer_helpers.methods.frames.GREY_PIXELS`.

    Parameters
    ----------
    out_dir : path
        A run folder with ``artifacts/labels.csv`` and ``artifacts/summary/summary.json``.
    size : int
        Thumbnail side.
    progress : bool
        Show a progress bar while sampling frames.

    Returns
    -------
    ndarray
        ``(n_clips, size * size)`` float64, rows in ``labels.csv`` order.
    """

    art = Path(out_dir) / "artifacts"
    labels = pd.read_csv(art / "labels.csv", dtype={"clip_id": str, "speaker": str})
    made = fileio.read_json(art / "summary" / "summary.json")
    fr, _ = frames.sample_clips(labels["path"].tolist(), made["frame_interval"], made["frame_size"],
                                made["face_detect"], dtype="uint8", face_only=True, progress=progress)
    return frames.grey_means(fr, size)


def _reference_label() -> str:
    return "logistic regression (reference)"


def _run_rows(name: str, metrics: Mapping, models: Sequence[str] = tuple(MODEL_LABELS)) -> list[dict]:
    """Rows of :func:`compare_runs` for one run: one per model, and the logistic-regression reference.

    Parameters
    ----------
    name : str
        The run's label (its folder name).
    metrics : mapping
        Its ``metrics.json`` (``protocol``, ``models``, ``reference.logreg_f1_macro``).
    models : sequence of str
        Model keys to take from ``metrics["models"]`` (those missing are skipped).

    Returns
    -------
    list of dict
        ``run, protocol, model, accuracy, accuracy_std, f1_macro``.
    """
    rows = []
    for m in models:
        s = metrics.get("models", {}).get(m)
        if s:
            rows.append({"run": name, "protocol": metrics.get("protocol"), "model": MODEL_LABELS.get(m, m),
                         "accuracy": s["accuracy"], "accuracy_std": s.get("accuracy_std"), "f1_macro": s["f1_macro"]})
    ref = (metrics.get("reference") or {}).get("logreg_f1_macro")
    if ref is not None:
        rows.append({"run": name, "protocol": metrics.get("protocol"), "model": _reference_label(),
                     "accuracy": None, "accuracy_std": None, "f1_macro": ref})
    return rows


def compare_runs(run_dirs: Sequence, models: Sequence[str] = tuple(MODEL_LABELS),
                 current: tuple | None = None) -> pd.DataFrame:
    """The headline numbers of several runs side by side (e.g. the same clips under two protocols).

    Only the runs named are read: nothing is looked up next to them.

    Parameters
    ----------
    run_dirs : sequence of path
        Finished run folders (each with a ``metrics.json``).
    models : sequence of str
        Model keys (``bilstm_sa``, ``bilstm``, ``cnn``).
    current : (path, mapping), optional
        The run being written (notebook 07) and its metrics so far (``protocol``, ``models``,
        ``reference``): it comes first and its ``metrics.json`` on disk is not read. A run folder
        that is also in ``run_dirs`` is taken once.

    Returns
    -------
    DataFrame
        One row per run and model (:func:`_run_rows`), runs in the order given.

    Raises
    ------
    FileNotFoundError
        A run folder of ``run_dirs`` without ``metrics.json``.
    """

    here = Path(current[0]).resolve() if current is not None else None
    rows: list[dict] = []
    for r in dict.fromkeys(([here] if here else []) + [Path(d).resolve() for d in run_dirs]):
        if r == here:
            rows += _run_rows(r.name, current[1], models)
            continue
        if not (r / "metrics.json").is_file():
            raise FileNotFoundError(f"{r}: no metrics.json (compare_runs needs finished `mer run` folders)")
        rows += _run_rows(r.name, read_json(r / "metrics.json"), models)
    return pd.DataFrame(rows, columns=["run", "protocol", "model", "accuracy", "accuracy_std", "f1_macro"])


def reference_claim_markdown(ref_dir: Path | None = None) -> str:
    """Markdown for notebook 07 when ``compare_runs`` is empty: the claim table of the reference
    runs kept with the book (random split beside speaker-independent, each preset, with the
    commands; :func:`mer_helpers.chain.book.claim_markdown`), headed so that nobody takes them
    for this run.

    Parameters
    ----------
    ref_dir : path, optional
        The folder of the reference runs (default ``book/reference_runs``).

    Returns
    -------
    str
    """
    ref_dir = Path(ref_dir) if ref_dir is not None else REFERENCE_RUNS
    names = ", ".join(f"`{n}`" for pair in CLAIM_RUNS.values() for n in pair)
    return (f"**Reference runs, not this run**: the runs kept with the book in `{ref_dir.name}` "
            f"({names}), the paired three-class clips under both protocols for each preset. "
            "Pass run folders as `compare_runs` to set your own runs beside this one instead.\n\n"
            + claim_markdown(ref_dir))


def protocol_gap_hint(dataset: str, data_root, out_dir, protocol: str | None, backbone_weights: str) -> str:
    """Markdown: the two commands that add the other protocol's run to notebook 07's comparison.

    Parameters
    ----------
    dataset, data_root, out_dir, protocol, backbone_weights
        This run's settings.

    Returns
    -------
    str
    """
    other = "speaker-cv" if protocol == "random-split" else "random-split"
    here = Path(out_dir).resolve()
    twin = here.parent / f"{here.name}-{other}"
    root = f" --data-root {data_root}" if dataset != "sample" else ""
    return (f"Only one protocol is available here. To measure the gap, run the chain again on the same clips "
            f"with the `{other}` protocol and list that run folder in `compare_runs`:\n\n"
            f"```\nmer run --dataset {dataset}{root} --protocol {other} --out {twin} "
            f"-p backbone_weights {backbone_weights}\n"
            f"mer run --dataset {dataset}{root} --out {out_dir} --notebooks 07 -p compare_runs \"['{twin}']\"\n```")


def beside_papers(summary: Mapping[str, Mapping], models: Sequence[str]) -> pd.DataFrame:
    """This run's metrics beside the papers' Table 1 (and paper 2's AUC), one column per model.

    Parameters
    ----------
    summary : mapping
        Model -> :func:`summarize_model` of this run.
    models : sequence of str
        Models to show (those not in the papers' table are left out).

    Returns
    -------
    DataFrame
    """
    paper = papers_table()
    out = {}
    for m in models:
        lab, s = MODEL_LABELS[m], summary[m]
        if lab not in paper.index:
            continue
        p = paper.loc[lab]
        out[lab] = {
            "papers: accuracy": p["accuracy"],
            "ours: accuracy (mean ± std)": format_mean_std(s["accuracy"], s["accuracy_std"], s["n_splits"]),
            "difference (accuracy)": round(s["accuracy"] - p["accuracy"], 3),
            "papers: precision (w)": p["precision_weighted"], "ours: precision (w)": round(s["precision_weighted"], 3),
            "papers: recall (w)": p["recall_weighted"], "ours: recall (w)": round(s["recall_weighted"], 3),
            "papers: F1 (w)": p["f1_weighted"], "ours: F1 (w)": round(s["f1_weighted"], 3),
            "paper 2: AUC": p["auc_ovr"], "ours: AUC (OvR)": round(s["auc_ovr"], 3),
            "ours: macro-F1 (mean ± std)": format_mean_std(s["f1_macro"], s["f1_macro_std"], s["n_splits"]),
        }
    return pd.DataFrame(out)


def run_facts(ctx: Mapping, summary: Mapping[str, Mapping], reference_f1: float | None = None) -> pd.DataFrame:
    """What separates this run from the papers' setting, factor by factor (notebook 07).

    Parameters
    ----------
    ctx : mapping
        :func:`run_context` of the run.
    summary : mapping
        Model -> :func:`summarize_model`.
    reference_f1 : float, optional
        Macro-F1 of the logistic regression on the selected columns (``predictions/reference/logreg.csv``).

    Returns
    -------
    DataFrame
        Indexed by factor; columns ``papers`` and ``this run``.
    """
    random_init = ctx["backbone_weights"] == "none"
    facts = [
        ("protocol", "random 80/20 split of samples (speakers and near-duplicates leak)",
         f"{ctx.get('protocol')}: {ctx.get('n_splits')} evaluation split(s); speakers in both training and test: "
         f"{ctx.get('shared_speakers_per_split', [])}"),
        ("data", "MELD (TV series, spontaneous speech), 3,374 test samples",
         f"{ctx.get('dataset')}: {ctx.get('n_clips')} clips, {ctx.get('n_speakers')} speakers, classes {ctx.get('class_counts')}"),
        ("visual backbone weights", "ImageNet (transfer learning)",
         ("none: random-init ResNet, its features carry no learned visual knowledge" if random_init
          else str(ctx["backbone_weights"]))),
        ("classifier training", "10 epochs, batch 32, validation_split 0.2 (Algorithm 5): about 3,400 "
         "gradient updates (3,374 test samples = 20 % → ~10,800 fit samples / 32 × 10)",
         f"{ctx.get('epochs')} epochs (preset {ctx.get('preset')}); early stopping: {ctx.get('early_stopping')}; validation part of the "
         f"training portion: {ctx.get('validation')}; median gradient updates per fit: {ctx.get('gradient_updates_per_fit')}"),
        ("features", "not stated", str(ctx.get("features"))),
    ]
    if reference_f1 is not None:
        facts.append(("features vs classifier", "not examined",
                      f"logistic regression on the same selected columns and splits: macro-F1 "
                      f"{reference_f1:.3f} vs BiLSTM-SA {summary['bilstm_sa']['f1_macro']:.3f}"
                      if "bilstm_sa" in summary else ""))
    if ctx.get("sanity"):
        facts.append(("signal per modality", "not reported (no ablation)",
                      "linear probes of earlier stages (macro-F1): " + ", ".join(
                          f"{k.replace('_f1_macro', '')} {v:.2f}" for k, v in ctx["sanity"].items() if k.endswith("f1_macro"))))
    return pd.DataFrame(facts, columns=["factor", "papers", "this run"]).set_index("factor")


#: the per-model entries of the ``07_results`` fragment
FRAGMENT_KEYS = ("accuracy", "accuracy_std", "precision_weighted", "recall_weighted", "f1_weighted", "f1_macro",
                 "f1_macro_std", "auc_ovr", "confusion", "ci95", "ci95_speakers", "precision_macro", "recall_macro",
                 "pooled", "n_clips", "n_splits", "per_split")


def results_fragment(splits: Mapping, summary: Mapping[str, Mapping], mcnemar_table: pd.DataFrame,
                     plain: Mapping[str, Mapping], models: Sequence[str]) -> dict:
    """The ``07_results`` metrics fragment.

    Parameters
    ----------
    splits : mapping
        ``splits.json``.
    summary : mapping
        Model -> :func:`summarize_model`.
    mcnemar_table : DataFrame
        :func:`pairwise_mcnemar`.
    plain : mapping
        :func:`plain_feature_references`.
    models : sequence of str
        The models of the run.

    Returns
    -------
    dict
        ``folds``, ``models`` (the :data:`FRAGMENT_KEYS` of each), ``significance`` and ``plain_references``.
    """
    return {"folds": len([s for s in splits["splits"] if s["name"] != "final"]),
            "models": {m: {k: summary[m][k] for k in FRAGMENT_KEYS if k in summary[m]} for m in models},
            "significance": {"mcnemar": mcnemar_table.to_dict(orient="records")},
            "plain_references": {k: {"f1_macro": v["f1_macro"], "f1_macro_std": v["f1_macro_std"]}
                                 for k, v in plain.items()}}
