"""Keep a finished run's numbers as a named reference run of the book.

Copies ``OUT/metrics.json`` and ``OUT/run.json`` to ``book/reference_runs/NAME/`` with the
machine's paths replaced (``out_dir`` by the run's name, ``data_root`` by ``DATA``), so the
book's "Two presets" and "How far does it generalise?" pages can show the run beside the one
that built the book, labelled as a reference run with the command that made it.

    python scripts/save_reference_run.py runs/paired-strong
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("run_dir", help="a finished run folder (OUT) with metrics.json and run.json")
    ap.add_argument("--name", default=None, help="reference name (default: the folder's name)")
    a = ap.parse_args(argv)

    from mer_helpers.core import fileio
    from mer_helpers.chain.book import REFERENCE_RUNS

    run = Path(a.run_dir)
    for f in ("metrics.json", "run.json"):
        if not (run / f).is_file():
            print(f"save_reference_run: {run / f}: not found (is {run} a finished `mer run` folder?)", file=sys.stderr)
            return 2
    name = a.name or run.resolve().name
    meta = fileio.read_json(run / "run.json")
    params = dict(meta.get("parameters", {}))
    params["out_dir"] = f"runs/{name}"
    if "data_root" in params:
        params["data_root"] = "DATA"
    meta["parameters"] = params
    dest = REFERENCE_RUNS / name
    fileio.write_json(dest / "run.json", meta)
    fileio.write_json(dest / "metrics.json", fileio.read_json(run / "metrics.json"))
    print(f"[save_reference_run] {run} -> {dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
