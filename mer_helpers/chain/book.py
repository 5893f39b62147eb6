"""`mer book`: build the Jupyter Book (1.x) from a run's executed notebooks.

The book's sources (``_config.yml``, ``_toc.yml``, ``book/``) are staged in ``_build/stage``
together with the executed notebooks of the run (``OUT/notebooks``; the unexecuted source
notebook stands in for any stage the run did not execute), and ``book/run_summary.md`` is
written from the run's ``metrics.json``. ``book/presets.md`` gets a table of this run and of
every run given with ``--compare`` (typically the ``paper`` and ``strong`` presets on the same
data), each number read from that run's ``metrics.json``; ``book/intro.md`` gets the claim table
(paper 1's accuracies beside the random-split and speaker-independent reference runs of each
preset, :func:`claim_markdown`). The HTML lands in ``_build/html``.

Sphinx's warnings are printed (to stderr) also when the build succeeds. ``strict=True`` (or the
environment variable ``MER_BOOK_STRICT=1``) turns them into errors (``jupyter-book build -W
--keep-going``): the build fails after listing all of them. Every page is rebuilt each time
(``--all``), so no warning hides in a page that an earlier build left unchanged.
"""
from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from mer_helpers.chain.config import PRESETS
from mer_helpers.chain.runner import NOTEBOOK_DIR, REPO_ROOT
from mer_helpers.chain.schema import chain_parameters
from mer_helpers.core import environment, fileio
from mer_helpers.core.names import MODEL_LABELS
from mer_helpers.methods.papers import PAPER_TABLE1

#: named reference runs kept with the book (``scripts/save_reference_run.py``): their
#: metrics.json and run.json only, shown beside the run that builds the book
REFERENCE_RUNS = REPO_ROOT / "book" / "reference_runs"

#: Paper 1, Table 1 (three MELD emotions, random 80/20 split), in percent: the same numbers as
#: :data:`mer_helpers.methods.papers.PAPER_TABLE1`, which keeps them as published.
PAPER1_TABLE1 = {m: {k.replace("_weighted", ""): 100 * v for k, v in row.items()} for m, row in PAPER_TABLE1.items()}


def _fmt(v, pct: bool = False) -> str:
    if isinstance(v, (int, float)):
        return f"{100 * v:.1f}" if pct else (f"{v:.3f}" if isinstance(v, float) else str(v))
    return "n/a" if v is None else str(v)


def run_summary_markdown(run_dir: Path) -> str:
    """The ``run_summary`` page: what the run computed, next to the papers' claims."""
    m = fileio.read_json(run_dir / "metrics.json")
    run = fileio.read_json(run_dir / "run.json") if (run_dir / "run.json").exists() else {}
    lines = ["# Run summary", "",
             f"Written by `mer book` from `{run_dir.name}/metrics.json`. Every number on this page was "
             "computed by that run, except the papers' numbers, which are quoted as published.", ""]
    weights = str(m.get("backbone_weights", "unknown"))
    if weights == "none":
        lines += [":::{warning}", "This run used a **randomly initialised** visual backbone "
                  "(`backbone_weights=none`): its visual features are not the ImageNet transfer-learning "
                  "features of the papers.", ":::", ""]
    lines += ["| setting | value |", "|---|---|"]
    for key in ("dataset", "protocol", "folds", "n_clips", "n_speakers", "classes", "visual_backbone",
                "backbone_weights"):
        if key in m:
            val = ", ".join(m[key]) if isinstance(m[key], list) else m[key]
            lines.append(f"| {key} | {val} |")
    if run:
        lines.append(f"| preset | {run.get('preset', '')} |")
    if run.get("environment"):  # other processors and package versions round differently
        lines.append(f"| ran on | {environment.summary(run['environment'])} |")
    feats = m.get("features", {})
    if feats:
        lines.append("| features | " + ", ".join(f"{k} {v}" for k, v in feats.items()) + " |")
    lines.append("")
    models = {k: v for k, v in m.get("models", {}).items() if isinstance(v, dict) and v}
    if models:
        lines += ["## Classifiers", "",
                  "Ours: mean over the evaluation splits of this run (± std where several folds). Paper 1: "
                  "Table 1, three MELD emotions, random 80/20 split.", "",
                  "| model | accuracy % | macro-F1 % | weighted F1 % | AUC (OvR) | paper 1 accuracy % |",
                  "|---|---|---|---|---|---|"]
        for name, v in models.items():
            acc = _fmt(v.get("accuracy"), True)
            if v.get("accuracy_std") is not None:
                acc += f" ± {100 * v['accuracy_std']:.1f}"
            f1m = _fmt(v.get("f1_macro"), True)
            if v.get("f1_macro_std") is not None:
                f1m += f" ± {100 * v['f1_macro_std']:.1f}"
            paper = PAPER1_TABLE1.get(name, {}).get("accuracy")
            lines.append(f"| {name} | {acc} | {f1m} | {_fmt(v.get('f1_weighted'), True)} | "
                         f"{_fmt(v.get('auc_ovr'))} | {f'{paper:.3f}' if paper is not None else 'n/a'} |")
        lines.append("")
    # one row per entry, with named columns (a reader printing the page sees what each number is)
    for title, key, head, digits in (
            ("Feature selection (macro-F1)", "feature_selection", ("selection method", "macro-F1"), 3),
            ("Ablation (macro-F1)", "ablation", ("BiLSTM-SA input columns", "macro-F1"), 3),
            ("Wall time per stage (s)", "timings_s", ("stage", "seconds"), 1)):
        block = m.get(key)
        if isinstance(block, dict) and block:
            flat = {k: v for k, v in block.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
            if flat:
                lines += [f"## {title}", "", f"| {head[0]} | {head[1]} |", "|---|---:|"]
                lines += [f"| {k.replace('_', ' ')} | {v:.{digits}f} |" for k, v in flat.items()]
                lines.append("")
    skipped = m.get("skipped_clips") or []
    lines += ["## Skipped clips", ""]
    if skipped:
        lines += ["| clip | reason |", "|---|---|"]
        lines += [f"| {s.get('clip_id', s) if isinstance(s, dict) else s} | "
                  f"{s.get('reason', '') if isinstance(s, dict) else ''} |" for s in skipped]
    else:
        lines.append("None: every clip passed validation.")
    lines.append("")
    return "\n".join(lines)


#: rows of the presets table: label, path into metrics.json, format (``pct`` or ``txt``)
_PRESET_ROWS = [
    ("BiLSTM-SA macro-F1", ("models", "bilstm_sa", "f1_macro"), "pct"),
    ("BiLSTM macro-F1", ("models", "bilstm", "f1_macro"), "pct"),
    ("CNN macro-F1", ("models", "cnn", "f1_macro"), "pct"),
    ("BiLSTM-SA without per-person normalisation (plain features)", ("ablation", "fused_no_person_norm"), "pct"),
    ("BiLSTM-SA, skewed reference (each test person's clips of 2 emotions)",
     ("person_norm", "skewed_reference_f1_macro", "bilstm_sa"), "pct"),
    ("logistic regression on the classifiers' columns (yardstick)", ("reference", "logreg_f1_macro"), "pct"),
    ("the same without per-person normalisation", ("reference", "logreg_f1_macro_no_person_norm"), "pct"),
    ("BiLSTM-SA, audio columns only", ("ablation", "audio_only"), "pct"),
    ("BiLSTM-SA, visual columns only", ("ablation", "visual_only"), "pct"),
    ("audio branch: logistic regression", ("sanity", "audio_logreg_f1_macro"), "pct"),
    ("audio yardstick: MFCC 13 mean + std, logistic regression", ("sanity", "mfcc_baseline_logreg_f1_macro"), "pct"),
    ("visual branch: logistic regression", ("sanity", "visual_logreg_f1_macro"), "pct"),
    ("visual yardstick: grey pixels, logistic regression", ("sanity", "pixels_logreg_f1_macro"), "pct"),
    ("audio features", ("audio", "features"), "txt"),
    ("visual backbone", ("visual_backbone",), "txt"),
    ("backbone weights", ("backbone_weights",), "txt"),
    ("classifier columns", ("classifiers", "columns"), "txt"),
    ("fusion", ("classifiers", "fusion"), "txt"),
    ("per-person normalisation (audio / visual)", (), "norm"),
    ("features: audio + visual (classifiers read)", ("features",), "feat"),
    ("wall time, whole chain (min)", ("timings_s", "total"), "min"),
]


def _run_name(r: Path) -> str:
    """`name`, or `name` (reference run) for one kept in :data:`REFERENCE_RUNS`."""
    return f"`{Path(r).name}`" + (" (reference run)" if _is_reference(r) else "")


def reference_runs() -> list[Path]:
    """The reference runs kept with the book, sorted by name."""
    return sorted(p for p in REFERENCE_RUNS.glob("*") if (p / "metrics.json").exists()) if REFERENCE_RUNS.is_dir() else []


def _dig(d, path):
    for k in path:
        if not isinstance(d, dict) or k not in d:
            return None
        d = d[k]
    return d


def _cell(v, kind: str, std=None) -> str:
    if v is None:
        return "n/a"
    if kind == "pct":
        return f"{100 * v:.1f}" + (f" ± {100 * std:.1f}" if std is not None else "")
    if kind == "min":
        return f"{v / 60:.1f}"
    return str(v)


def _feat_cell(m: dict) -> str:
    """``audio + visual (columns the classifiers read)``: the selection, or all of them."""
    f = m.get("features") or {}
    every = _dig(m, ("classifiers", "columns")) == "all" or f.get("selected") is None
    return f"{f.get('audio', '?')} + {f.get('visual', '?')} ({f.get('total') if every else f.get('selected')})"


def _norm_cell(m: dict) -> str:
    """``audio / visual`` per-person normalisation modes (``none`` for runs made before it existed)."""
    n = m.get("person_norm") or {}
    return f"{n.get('audio', 'none')} / {n.get('visual', 'none')}"


def run_command(run_dir: Path) -> str:
    """The ``mer run`` command line that reproduces a run (from its ``run.json``)."""
    run = fileio.read_json(run_dir / "run.json") if (run_dir / "run.json").exists() else {}
    p = dict(run.get("parameters", {}))
    parts = [f"mer run --dataset {p.pop('dataset', '?')}"]
    if "data_root" in p:
        parts.append("--data-root DATA")
        p.pop("data_root")
    parts.append(f"--protocol {p.pop('protocol', 'speaker-cv')} --preset {run.get('preset', '?')}")
    p.pop("out_dir", None)

    preset = PRESETS.get(run.get("preset", ""), {})
    # a setting the preset has gained since the run was made: the run used the notebooks' default
    p.update({k: _notebook_defaults().get(k) for k in preset if k not in p})
    parts += [f"-p {k} {_cli_value(v)}" for k, v in p.items() if preset.get(k) != v]
    return " ".join(parts)


def _cli_value(v) -> str:
    """A parameter value as ``mer run -p`` reads it back (YAML): ``null``, ``"[a, b]"``."""
    if v is None:
        return "null"
    if isinstance(v, (list, tuple)):
        return '"[' + ", ".join(map(str, v)) + ']"'
    return str(v)


@functools.lru_cache(maxsize=1)
def _notebook_defaults() -> dict:
    """Every parameter's default, from the notebooks' ``parameters`` cells."""

    return chain_parameters(sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb")))[1]


def presets_markdown(run_dirs: list[Path]) -> str:
    """The table of ``book/presets.md``: one column per run, every number from its metrics.json."""
    runs = [r for r in run_dirs if (r / "metrics.json").exists()]
    if not runs:
        return "*No run with a `metrics.json` was given to `mer book`.*\n"
    ms = [fileio.read_json(r / "metrics.json") for r in runs]
    pre = [(fileio.read_json(r / "run.json").get("preset", r.name) if (r / "run.json").exists() else r.name) for r in runs]
    head = [f"{p} ({_run_name(r)}: {m.get('dataset')}, {m.get('protocol')}, {m.get('n_clips')} clips)"
            for p, r, m in zip(pre, runs, ms)]
    lines = ["| | " + " | ".join(head) + " |", "|---|" + "---|" * len(runs)]
    for label, path, kind in _PRESET_ROWS:
        std_path = path[:-1] + (path[-1] + "_std",) if kind == "pct" and path[0] in ("models", "sanity") else None
        vals = [_feat_cell(m) if kind == "feat" else _norm_cell(m) if kind == "norm"
                else _cell(_dig(m, path), kind, _dig(m, std_path) if std_path else None) for m in ms]
        lines.append(f"| {label} | " + " | ".join(vals) + " |")
    lines += ["", "Macro-F1 in %, mean ± standard deviation over the evaluation folds (speaker-independent "
              "under `speaker-cv`). The commands that made these runs (`DATA`: the folder of the corpora):", ""]
    lines += [f"- {p}, {_run_name(r)}: `{run_command(r)}`" for p, r in zip(pre, runs)]
    inner = []
    for p, m in zip(pre, ms):
        tun = m.get("tuning", {}) or {}
        for what, key in (("audio features", "audio_inner_f1_macro"), ("visual layer", "visual_inner_f1_macro")):
            for cand, v in sorted((tun.get(key) or {}).items(), key=lambda kv: -kv[1]):
                inner.append(f"| {p} | {what} | {cand} | {100 * v:.1f} |")
        for cand, v in sorted(((m.get("classifiers") or {}).get("inner_f1_macro") or {}).items(), key=lambda kv: -kv[1]):
            inner.append(f"| {p} | classifier | {cand} | {100 * v:.1f} |")
    if inner:
        lines += ["", "### The evidence: inner training speakers", "",
                  "Macro-F1 (%) on speakers held out *inside* each training portion (mean over folds), as computed "
                  "by notebooks 02, 04 and 06 of each run; the test folds were not read to make these.", "",
                  "| run | choice | candidate | inner macro-F1 |", "|---|---|---|---|"] + inner
    return "\n".join(lines) + "\n"


def _per_class_f1(confusion) -> list[float]:
    import numpy as np

    cm = np.asarray(confusion, dtype=float)
    tp = np.diag(cm)
    prec = np.divide(tp, cm.sum(axis=0), out=np.zeros_like(tp), where=cm.sum(axis=0) > 0)
    rec = np.divide(tp, cm.sum(axis=1), out=np.zeros_like(tp), where=cm.sum(axis=1) > 0)
    return list(np.divide(2 * prec * rec, prec + rec, out=np.zeros_like(tp), where=(prec + rec) > 0))


def generalise_markdown(run_dirs: list[Path]) -> str:
    """The tables of ``book/generalise.md``: each run's task (classes, protocol, corpora), the
    classifiers beside the yardsticks on the same split, and per-class F1 and the confusion
    matrix of BiLSTM-SA for runs beyond three classes or across corpora."""
    runs = [r for r in run_dirs if (r / "metrics.json").exists()]
    if not runs:
        return "*No run with a `metrics.json` was given to `mer book`.*\n"
    lines = ["| run | preset | classes | protocol | clips | person norm (audio / visual) | BiLSTM-SA | "
             "BiLSTM-SA, plain | BiLSTM-SA, skewed reference | BiLSTM | CNN | LR, same columns | LR, plain | "
             "LR late fusion, MFCC + pixels |", "|---" * 14 + "|"]
    details = []
    for r in runs:
        m = fileio.read_json(r / "metrics.json")
        preset = fileio.read_json(r / "run.json").get("preset", "?") if (r / "run.json").exists() else "?"
        classes = list(m.get("classes") or [])
        several = (_dig(m, ("models", "bilstm_sa", "n_splits")) or 2) > 1  # one split: no std
        f1 = {k: _cell(_dig(m, ("models", k, "f1_macro")), "pct",
                       _dig(m, ("models", k, "f1_macro_std")) if several else None)
              for k in ("bilstm_sa", "bilstm", "cnn")}
        lines.append(f"| {_run_name(r)} | {preset} | {len(classes)} | {m.get('protocol')} | {m.get('n_clips')} | "
                     f"{_norm_cell(m)} | {f1['bilstm_sa']} | "
                     f"{_cell(_dig(m, ('ablation', 'fused_no_person_norm')), 'pct')} | "
                     f"{_cell(_dig(m, ('person_norm', 'skewed_reference_f1_macro', 'bilstm_sa')), 'pct')} | "
                     f"{f1['bilstm']} | {f1['cnn']} | "
                     f"{_cell(_dig(m, ('reference', 'logreg_f1_macro')), 'pct')} | "
                     f"{_cell(_dig(m, ('reference', 'logreg_f1_macro_no_person_norm')), 'pct')} | "
                     f"{_cell(_dig(m, ('plain_references', 'late_fusion', 'f1_macro')), 'pct')} |")
        cm = _dig(m, ("models", "bilstm_sa", "confusion"))
        if cm and (len(classes) > 3 or m.get("protocol") == "cross-corpus"):
            pcf = _per_class_f1(cm)
            details += ["", f"**{_run_name(r)}** ({preset}, {m.get('protocol')}): BiLSTM-SA, all test clips pooled; "
                        f"audio columns only {_cell(_dig(m, ('ablation', 'audio_only')), 'pct')}, visual columns "
                        f"only {_cell(_dig(m, ('ablation', 'visual_only')), 'pct')}.", "",
                        "| true / predicted | " + " | ".join(classes) + " | F1 |",
                        "|---" * (len(classes) + 2) + "|"]
            details += [f"| {c} | " + " | ".join(str(int(v)) for v in row) + f" | {100 * f:.1f} |"
                        for c, row, f in zip(classes, cm, pcf)]
    lines += ["", "Macro-F1 in % (mean ± std over the evaluation splits; a cross-corpus run has one split, "
              "its clips count both corpus pairs). LR: standardised logistic regression. *Plain*: the same model "
              "on the same columns without per-person normalisation (trained in the same run); *skewed reference*: "
              "the normalised model with each test person's statistics taken from the clips of only two of their "
              "emotions; n/a: the run does not normalise per person. Commands:", ""] + [f"- {_run_name(r)}: `{run_command(r)}`" for r in runs]
    return "\n".join(lines + details) + "\n"


#: the scale benchmark kept with the book (``scripts/bench_scale.py --book``)
BENCH_SCALE = REFERENCE_RUNS / "bench_scale" / "bench.json"


def _hours(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min" if seconds < 5400 else f"{seconds / 3600:.1f} h"


def _mem_cell(r: dict) -> str:
    """Peak memory at the largest N, then its rise above the stage's start at each N in the
    order of the sizes (``·`` where that measurement has none)."""
    extra = r.get("extra_mb") or []
    rise = " / ".join("·" if e is None else f"{e:+.0f}" for e in extra)
    return f"{r['peak_mb'][-1]:.0f}" + (f" ({rise})" if any(e is not None for e in extra) else "")


def scale_markdown(bench_json: Path = BENCH_SCALE) -> str:
    """The tables of ``book/scale.md`` from ``scripts/bench_scale.py``'s ``bench.json``: per preset
    and stage, wall time at each size, clips/s, peak memory, growth exponent, per-clip cost
    ratio (largest vs smallest size) and the MELD projection; then the speed-up from 1 to 2
    Dask workers."""
    if not Path(bench_json).exists():
        return ("*No benchmark is kept with the book: run `python scripts/bench_scale.py --book` "
                "to measure one.*")
    b = fileio.read_json(bench_json)
    out = []
    for preset, stages in b["table"].items():
        sizes = sorted({n for r in stages.values() for n in r["sizes"]})
        head = ["stage", *[f"N = {n:,} (s)" for n in sizes], "clips/s (largest N)", "peak MB, largest N (rise during the stage, each N)",
                "growth b", "cost/clip ratio (wall, CPU)", "MELD 13,708"]
        rows = []
        for stage, r in stages.items():
            by_n = dict(zip(r["sizes"], r["seconds"]))
            ratio = "" if r.get("cost_ratio") is None else f"{r['cost_ratio']:.2f}"
            if r.get("cpu_ratio") is not None:
                ratio += f", {r['cpu_ratio']:.2f}"
            rows.append([f"{stage}" + ("" if r["per_clip"] else " (fit)"),
                         *[f"{by_n[n]:.1f}" if n in by_n else "not run" for n in sizes],
                         f"{r['clips_per_s'][-1]:.1f}", _mem_cell(r), f"{r['growth']:.2f}",
                         ratio, _hours(r["meld_s"])])
        total = sum(r["meld_s"] for r in stages.values())
        chain = b.get("chain", {}).get(preset, {})
        out.append(f"**`{preset}` preset.** MELD's 13,708 clips, projected on 2 cores: every stage once "
                   f"{_hours(total)}; the whole `mer run` with `--protocol official` **{_hours(chain.get('official', 0))}**, "
                   f"with 5-fold `speaker-cv` {_hours(chain.get('speaker-cv', 0))}.\n")
        out.append("| " + " | ".join(head) + " |")
        out.append("|" + "---|" * len(head))
        out += ["| " + " | ".join(r) + " |" for r in rows]
        out.append("")
    sp = b.get("speedup")
    if sp:
        out.append(f"Per-clip stages of the `strong` preset on {min(b['sizes']):,} clips: "
                   f"{sum(v for k, v in sp['1'].items() if k != 'summary'):.0f} s on one Dask worker, "
                   f"{sum(v for k, v in sp['2'].items() if k != 'summary'):.0f} s on two: "
                   f"a speed-up of **{sp['ratio']:.2f}x**.")
    out.append(f"\nSynthetic clips: {b['mean_clip_s']:.2f} s long on average, 128x128 video; frame decoding "
               f"at 1280x720 cost {b.get('hd_factor', 1.0):.2f}x as much per clip "
               f"(measured), which the projection applies to the probe and frames stages.")
    return "\n".join(out)


#: the intro's claim table: for each preset, the reference runs of the paired three-class clips
#: under the papers' protocol (random 80/20 split of the clips) and speaker-independent (speaker-cv)
CLAIM_RUNS = {"paper": ("paired-paper-random", "paired-paper"),
              "strong": ("paired-strong-random", "paired-strong")}
_CLAIM_MODELS = tuple(MODEL_LABELS.items())


def _claim_cells(m: dict | None, model: str) -> list[str]:
    """Accuracy and macro-F1 in % of ``model`` (± std over the evaluation folds where several)."""
    if m is None:
        return ["not kept", "not kept"]
    v = _dig(m, ("models", model)) or {}
    several = (v.get("n_splits") or 2) > 1
    return [_cell(v.get(k), "pct", v.get(f"{k}_std") if several else None) for k in ("accuracy", "f1_macro")]


def claim_markdown(ref_dir: Path | None = None) -> str:
    """The table at the top of ``book/intro.md``: paper 1's accuracies (quoted), then for each
    preset and model the random split beside the speaker-independent split, every number read
    from the ``metrics.json`` of the reference runs in :data:`CLAIM_RUNS`; their commands below."""
    ref_dir = Path(ref_dir) if ref_dir is not None else REFERENCE_RUNS
    lines = ["| | model | random split: accuracy % | random split: macro-F1 % | "
             "speaker-independent: accuracy % | speaker-independent: macro-F1 % |", "|---" * 6 + "|"]
    for key, label in _CLAIM_MODELS:
        lines.append(f"| paper 1 (MELD, as published) | {label} | {PAPER1_TABLE1[key]['accuracy']:.2f} | "
                     f"{PAPER1_TABLE1[key]['f1']:.2f}\\* | not reported | not reported |")
    commands, sizes, gaps, faces, intervals = [], {}, [], [], []
    for preset, names in CLAIM_RUNS.items():
        ms = []
        for name, what in zip(names, ("random split", "speaker-independent")):
            r = ref_dir / name
            m = fileio.read_json(r / "metrics.json") if (r / "metrics.json").exists() else None
            ms.append(m)
            if m is None:
                commands.append(f"- `{preset}`, {what}: `{name}` is not in `book/reference_runs` yet")
                continue
            n_test = _dig(m, ("models", "bilstm_sa", "n_clips"))
            sizes.setdefault(what, set()).add((m.get("protocol"), m.get("n_clips"), n_test))
            commands.append(f"- `{preset}`, {what} (`{name}`, reference run, `{m.get('protocol')}`): "
                            f"`{run_command(r)}`")
        for key, label in _CLAIM_MODELS:
            lines.append(f"| `{preset}` preset (reference runs) | {label} | "
                         + " | ".join(_claim_cells(ms[0], key) + _claim_cells(ms[1], key)) + " |")
        if None in ms:
            continue
        acc = [[_dig(m, ("models", key, "accuracy")) for key, _ in _CLAIM_MODELS] for m in ms]
        if None not in acc[0] + acc[1]:
            gaps.append(f"`{preset}` " + " / ".join(f"{100 * (a - b):+.1f}" for a, b in zip(*acc)))
        ci = _dig(ms[0], ("models", "bilstm_sa", "ci95", "accuracy"))
        if ci:
            intervals.append(f"`{preset}` {_cell(ci[0], 'pct')}–{_cell(ci[1], 'pct')}")
        vis = [_dig(m, ("ablation", "visual_only")) for m in ms]
        if None not in vis:
            faces.append(f"`{preset}` {_cell(vis[0], 'pct')} against {_cell(vis[1], 'pct')}")
    reading = []
    if gaps:
        reading.append("**Random split minus speaker-independent**, accuracy in percentage points "
                       "(BiLSTM-SA / BiLSTM / CNN): " + "; ".join(gaps) + ".")
    if faces:
        reading.append("BiLSTM-SA on the face columns alone, macro-F1 % on the random split against "
                       "speaker-independent: " + "; ".join(faces) + ".")
    if reading:
        lines += ["", " ".join(reading)]
    what_split = []
    for what, got in sizes.items():
        for protocol, n, n_test in sorted(got, key=str):
            what_split.append(f"{what} (`{protocol}`): {n} clips, {n_test} of them scored" if n_test != n
                              else f"{what} (`{protocol}`): {n} clips, each scored once in a test fold")
    lines += ["", "Paper 1: Table 1, three MELD emotions, random 80/20 split of the clips, quoted as published "
              "(\\*: its F1-score, whose averaging, macro or weighted, the paper does not state). "
              "Ours: the paired three-class clips (RAVDESS speech + KDEF faces, happy / sad / surprise; "
              + "; ".join(what_split) + "). Mean ± standard deviation over the speaker-grouped folds; "
              "the random split is one 80/20 split, so it has no spread" + (
                  " (95 % bootstrap interval of BiLSTM-SA's accuracy over its test clips: " + "; ".join(intervals)
                  + ")" if intervals else "") + ". `paper` uses a randomly initialised "
              "ResNet-50 (ImageNet weights cannot be fetched here). The commands (`DATA`: the folder of the "
              "corpora):", ""] + commands
    return "\n".join(lines) + "\n"


def stage_book(run_dir: Path | None, stage: Path, compare: list[Path] | None = None) -> Path:
    if stage.exists():
        shutil.rmtree(stage)
    stage.mkdir(parents=True)
    for name in ("_config.yml", "_toc.yml"):
        shutil.copy2(REPO_ROOT / name, stage / name)
    shutil.copytree(REPO_ROOT / "book", stage / "book")
    (stage / "notebooks").mkdir()
    executed = run_dir / "notebooks" if run_dir else None
    for nb in sorted(NOTEBOOK_DIR.glob("*.ipynb")):
        src = executed / nb.name if executed and (executed / nb.name).exists() else nb
        shutil.copy2(src, stage / "notebooks" / nb.name)
    if run_dir and (run_dir / "metrics.json").exists():
        fileio.atomic_write_text(stage / "book" / "run_summary.md", run_summary_markdown(run_dir))
    runs = ([run_dir] if run_dir else []) + [Path(c).resolve() for c in (compare or [])
                                              if not run_dir or Path(c).name != run_dir.name]
    # the presets page compares presets on people the model has not seen: the random-split
    # reference runs (one split, no spread) are shown in the intro's claim table instead
    three = [r for r in runs if _is_three_class_within_corpus(r)
             and (r == run_dir or not (_is_reference(r) and _protocol(r) == "random-split"))]
    for name, mark, make, which in (("presets.md", PRESETS_MARK, presets_markdown, three),
                                    ("generalise.md", GENERALISE_MARK, generalise_markdown, runs)):
        page = stage / "book" / name
        if page.exists():
            fileio.atomic_write_text(page, page.read_text().replace(mark, make(which)))
    page = stage / "book" / "scale.md"
    if page.exists():
        fileio.atomic_write_text(page, page.read_text().replace(SCALE_MARK, scale_markdown()))
    page = stage / "book" / "intro.md"
    if page.exists():
        fileio.atomic_write_text(page, page.read_text().replace(CLAIM_MARK, claim_markdown()))
    return stage


def _is_reference(run: Path) -> bool:
    return Path(run).resolve().parent == REFERENCE_RUNS.resolve()


def _protocol(run: Path) -> str | None:
    return fileio.read_json(run / "metrics.json").get("protocol") if (run / "metrics.json").exists() else None


def _is_three_class_within_corpus(run: Path) -> bool:
    """Does ``run`` belong on the presets page (at most three classes, not cross-corpus)?"""
    if not (run / "metrics.json").exists():
        return False
    m = fileio.read_json(run / "metrics.json")
    return len(m.get("classes") or []) <= 3 and m.get("protocol") != "cross-corpus"


#: where ``stage_book`` puts the generated table in ``book/presets.md``
PRESETS_MARK = "<!-- presets table: written by mer book -->"
#: ... in ``book/scale.md``
SCALE_MARK = "<!-- scale tables: written by mer book -->"
#: ... in ``book/intro.md`` (the claim table, :func:`claim_markdown`)
CLAIM_MARK = "<!-- claim table: written by mer book -->"
#: ... and in ``book/generalise.md``
GENERALISE_MARK = "<!-- generalisation tables: written by mer book -->"


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_PROBLEM = re.compile(r"\b(WARNING|ERROR|CRITICAL|SEVERE):")


def sphinx_problems(output: str, stage: Path | None = None) -> list[str]:
    """Sphinx's warning and error lines in ``output`` (colours removed; paths made relative to
    the staging folder, e.g. ``book/references.md:3: WARNING: ...``)."""
    out = []
    for line in _ANSI.sub("", output).splitlines():
        if _PROBLEM.search(line):
            if stage is not None:
                line = line.replace(str(stage) + os.sep, "")
            line = line.strip()
            if line not in out:
                out.append(line)
    return out


def _strict_from_env() -> bool:
    return os.environ.get("MER_BOOK_STRICT", "").strip().lower() not in ("", "0", "false", "no")


def build_book(run_dir: str | Path | None = None, strict: bool | None = None, log=None,
               compare: list | None = None) -> Path:
    """Build the HTML book; returns the path of ``_build/html/index.html``.

    ``compare``: other run folders (e.g. the other preset on the same data) whose metrics join
    this run's in the tables of ``book/presets.md`` and ``book/generalise.md``; ``None``: the
    reference runs kept in ``book/reference_runs`` (:func:`reference_runs`).

    ``strict``: Sphinx warnings are errors (default: ``MER_BOOK_STRICT``). ``log``: where the
    warning lines go (default: print to stderr).
    """
    if log is None:
        def log(msg):
            print(msg, file=sys.stderr, flush=True)
    if strict is None:
        strict = _strict_from_env()
    if run_dir is None:
        default = REPO_ROOT / "runs" / "sample"
        run_dir = default if (default / "notebooks").exists() else None
    run = Path(run_dir).resolve() if run_dir else None
    if run is not None and not (run / "notebooks").exists():
        raise FileNotFoundError(f"{run} has no notebooks/ folder: run `mer run --out {run}` first")
    if compare is None:
        compare = reference_runs()
    for c in compare:
        if not (Path(c) / "metrics.json").exists():
            raise FileNotFoundError(f"{c}: no metrics.json (a finished `mer run` folder is needed for --compare)")
    stage = stage_book(run, REPO_ROOT / "_build" / "stage", compare=[Path(c) for c in compare or []])
    exe = Path(sys.executable).with_name("jupyter-book")
    cmd = [str(exe) if exe.exists() else "jupyter-book", "build", str(stage), "--path-output", str(REPO_ROOT),
           "--all"]
    if strict:
        cmd += ["--warningiserror", "--keep-going"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    problems = sphinx_problems(proc.stdout + "\n" + proc.stderr, stage)
    if problems:
        log(f"[mer book] {len(problems)} Sphinx warning{'s' if len(problems) != 1 else ''}"
            f"{' (strict: treated as errors)' if strict else ''}:")
        for line in problems:
            log(f"  {line}")
    if proc.returncode != 0:
        if problems:
            raise RuntimeError(f"jupyter-book build failed with {len(problems)} Sphinx warning(s)/error(s), "
                               "listed above" + (" (strict mode)" if strict else ""))
        raise RuntimeError("jupyter-book build failed:\n" + (proc.stdout[-3000:] + proc.stderr[-3000:]))
    index = REPO_ROOT / "_build" / "html" / "index.html"
    if not index.exists():
        raise RuntimeError(f"jupyter-book finished but {index} is missing:\n{proc.stdout[-2000:]}")
    return index
