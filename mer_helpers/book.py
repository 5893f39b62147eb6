"""`mer book`: build the Jupyter Book (1.x) from a run's executed notebooks.

The book's sources (``_config.yml``, ``_toc.yml``, ``book/``) are staged in ``_build/stage``
together with the executed notebooks of the run (``OUT/notebooks``; the unexecuted source
notebook stands in for any stage the run did not execute), and ``book/run_summary.md`` is
written from the run's ``metrics.json``. The HTML lands in ``_build/html``.

Sphinx's warnings are printed (to stderr) also when the build succeeds. ``strict=True`` (or the
environment variable ``MER_BOOK_STRICT=1``) turns them into errors (``jupyter-book build -W
--keep-going``): the build fails after listing all of them. Every page is rebuilt each time
(``--all``), so no warning hides in a page that an earlier build left unchanged.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from mer_helpers import io
from mer_helpers.runner import NOTEBOOK_DIR, REPO_ROOT

#: Paper 1, Table 1 (three MELD emotions, random 80/20 split), in percent, quoted as published.
PAPER1_TABLE1 = {
    "bilstm_sa": {"accuracy": 89.834, "precision": 89.83, "recall": 89.8, "f1": 89.80},
    "bilstm": {"accuracy": 85.151, "precision": 85.16, "recall": 85.152, "f1": 85.152},
    "cnn": {"accuracy": 86.870, "precision": 86.8, "recall": 86.867, "f1": 86.867},
}


def _fmt(v, pct: bool = False) -> str:
    if isinstance(v, (int, float)):
        return f"{100 * v:.1f}" if pct else (f"{v:.3f}" if isinstance(v, float) else str(v))
    return "n/a" if v is None else str(v)


def run_summary_markdown(run_dir: Path) -> str:
    """The ``run_summary`` page: what the run computed, next to the papers' claims."""
    m = io.read_json(run_dir / "metrics.json")
    run = io.read_json(run_dir / "run.json") if (run_dir / "run.json").exists() else {}
    lines = ["# Run summary", "",
             f"Written by `mer book` from `{run_dir.name}/metrics.json`. Every number on this page was "
             "computed by that run, except the papers' numbers, which are quoted as published.", ""]
    weights = str(m.get("backbone_weights", "unknown"))
    if weights == "none":
        lines += [":::{warning}", "This run used a **randomly initialised** visual backbone "
                  "(`backbone_weights=none`): its visual features are not the ImageNet transfer-learning "
                  "features of the papers.", ":::", ""]
    lines += ["| | |", "|---|---|"]
    for key in ("dataset", "protocol", "folds", "n_clips", "n_speakers", "classes", "visual_backbone",
                "backbone_weights"):
        if key in m:
            val = ", ".join(m[key]) if isinstance(m[key], list) else m[key]
            lines.append(f"| {key} | {val} |")
    if run:
        lines.append(f"| preset | {run.get('preset', '')} |")
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
                         f"{_fmt(v.get('auc_ovr'))} | {paper if paper is not None else 'n/a'} |")
        lines.append("")
    for title, key in (("Feature selection (macro-F1)", "feature_selection"), ("Ablation (macro-F1)", "ablation"),
                       ("Wall time per stage (s)", "timings_s")):
        block = m.get(key)
        if isinstance(block, dict) and block:
            flat = {k: v for k, v in block.items() if isinstance(v, (int, float))}
            if flat:
                lines += [f"## {title}", "", "| | " + " | ".join(flat) + " |",
                          "|---|" + "---|" * len(flat), "| | " + " | ".join(_fmt(v) for v in flat.values()) + " |", ""]
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


def stage_book(run_dir: Path | None, stage: Path) -> Path:
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
        io.atomic_write_text(stage / "book" / "run_summary.md", run_summary_markdown(run_dir))
    return stage


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


def build_book(run_dir: str | Path | None = None, strict: bool | None = None, log=None) -> Path:
    """Build the HTML book; returns the path of ``_build/html/index.html``.

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
    stage = stage_book(run, REPO_ROOT / "_build" / "stage")
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
