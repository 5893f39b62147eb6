"""The ``mer`` command line (also ``python -m mer_helpers``)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mer_helpers import __version__


def _kv(pairs: list[list[str]] | None) -> dict:
    from mer_helpers.config import parse_value

    return {k: parse_value(v) for k, v in (pairs or [])}


def cmd_run(a: argparse.Namespace) -> int:
    from mer_helpers.runner import NotebookFailed, run_chain

    out = a.out or f"runs/{a.dataset}"
    params = _kv(a.param)
    if a.on_bad_input:
        params["on_bad_input"] = a.on_bad_input
    try:
        metrics = run_chain(dataset=a.dataset, out_dir=out, data_root=a.data_root, protocol=a.protocol,
                            params=params, preset=a.preset, only=a.notebooks)
    except (NotebookFailed, ValueError) as e:
        print(f"mer run: {e}", file=sys.stderr)
        return 1
    print(f"[mer run] wrote {Path(out) / 'metrics.json'}")
    models = metrics.get("models", {})
    for name, m in models.items():
        if isinstance(m, dict) and "f1_macro" in m:
            print(f"  {name:10s} accuracy={m.get('accuracy', float('nan')):.3f} f1_macro={m['f1_macro']:.3f}")
    if metrics.get("skipped_clips"):
        print(f"  skipped clips: {len(metrics['skipped_clips'])} (listed in metrics.json)")
    return 0


def cmd_paired_build(a: argparse.Namespace) -> int:
    from mer_helpers.paired import build_paired

    df = build_paired(a.speech, a.faces, a.out, classes=a.classes, seed=a.seed, n_jobs=a.n_jobs,
                      limit=a.limit)
    print(f"[mer paired-build] {len(df)} clips, {df['speaker'].nunique()} speakers -> {Path(a.out) / 'labels.csv'}")
    return 0


def cmd_predict(a: argparse.Namespace) -> int:
    from mer_helpers.predict import predict_cli

    return predict_cli(a.model_dir, a.clips, labels=a.labels, out=a.out)


def cmd_book(a: argparse.Namespace) -> int:
    from mer_helpers.book import build_book

    html = build_book(a.run_dir)
    print(f"[mer book] {html}")
    return 0


def cmd_download(a: argparse.Namespace) -> int:
    from mer_helpers.datasets import DownloadError, download

    try:
        download(a.name, a.dest, **({"actors": a.actors} if a.actors else {}))
    except DownloadError as e:
        print(f"mer download: {e}", file=sys.stderr)
        return 1
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="mer", description="Multimodal (speech + face) emotion recognition book.")
    p.add_argument("--version", action="version", version=f"mer-book {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    r = sub.add_parser("run", help="execute the numbered notebooks in order (papermill)")
    r.add_argument("--dataset", default="sample",
                   choices=["sample", "paired", "meld", "ravdess", "crema-d", "folder"])
    r.add_argument("--data-root", default=None, help="where the dataset lives (default per dataset)")
    r.add_argument("--out", default=None, help="run folder (default runs/DATASET)")
    r.add_argument("--protocol", default="speaker-cv",
                   choices=["speaker-cv", "speaker-split", "random-split", "official"])
    r.add_argument("--preset", default=None, help="parameter preset: paper or smoke "
                   "(default: smoke for the sample, paper otherwise)")
    r.add_argument("-p", "--param", nargs=2, action="append", metavar=("KEY", "VALUE"),
                   help="notebook parameter (YAML value), repeatable")
    r.add_argument("--on-bad-input", choices=["stop", "skip"], default=None,
                   help="stop at the first validation (listing every bad clip) or skip bad clips and list "
                   "them in metrics.json (same as -p on_bad_input ...; default stop)")
    r.add_argument("--notebooks", nargs="+", default=None, help="run only these notebook numbers, e.g. 00 01")
    r.set_defaults(func=cmd_run)

    b = sub.add_parser("paired-build", help="build paper-2 style clips from a speech and a face corpus")
    b.add_argument("--speech", required=True, help="speech corpus folder (RAVDESS speech, SAVEE or TESS layout)")
    b.add_argument("--faces", required=True, help="face corpus folder (KDEF, Oulu-CASIA or CK+48 layout)")
    b.add_argument("--out", required=True)
    b.add_argument("--classes", default="happy,sad,surprise")
    b.add_argument("--seed", type=int, default=0)
    b.add_argument("--n-jobs", type=int, default=2)
    b.add_argument("--limit", type=int, default=None, help="build at most this many clips (for trials)")
    b.set_defaults(func=cmd_paired_build)

    pr = sub.add_parser("predict", help="apply a trained model bundle to clips")
    pr.add_argument("model_dir")
    pr.add_argument("clips", nargs="+", help="clip files or folders")
    pr.add_argument("--labels", default=None, help="labels.csv for scoring")
    pr.add_argument("--out", default=None, help="predictions CSV (default: print)")
    pr.set_defaults(func=cmd_predict)

    bk = sub.add_parser("book", help="build the Jupyter Book (HTML in _build/html)")
    bk.add_argument("--from", dest="run_dir", default=None, help="run folder whose executed notebooks to use")
    bk.set_defaults(func=cmd_book)

    d = sub.add_parser("download", help="download a corpus (needs internet)")
    d.add_argument("name", choices=["meld", "ravdess"])
    d.add_argument("--dest", default="data/raw")
    d.add_argument("--actors", type=int, nargs="+", default=None, help="RAVDESS: only these actors (1-24)")
    d.set_defaults(func=cmd_download)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
