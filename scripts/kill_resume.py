"""Measure what a killed run costs: start `mer run`, SIGKILL its whole process group a few
seconds into a chosen notebook, run the same command again (it resumes at the first unfinished
notebook) and print both times.

    python scripts/kill_resume.py --notebook 04 -- --dataset paired --data-root DATA --out runs/kr --preset strong
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--notebook", default="04", help="kill inside this notebook (number)")
    ap.add_argument("--after", type=float, default=8.0, help="seconds into that notebook")
    ap.add_argument("--log", default="kill_resume.log", help="where the first run's output goes")
    ap.add_argument("mer_run_args", nargs=argparse.REMAINDER, help="-- then the arguments of `mer run`")
    a = ap.parse_args(argv)
    args = [x for x in a.mer_run_args if x != "--"]
    cmd = [sys.executable, "-m", "mer_helpers", "run", *args]
    log = Path(a.log)
    t0 = time.time()
    with open(log, "w") as out:
        p = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    mark = f"] {a.notebook.zfill(2)}_"
    while p.poll() is None:
        time.sleep(0.5)
        if any(mark in line and "..." in line for line in log.read_text().splitlines()):
            time.sleep(a.after)
            os.killpg(p.pid, signal.SIGKILL)
            break
    p.wait()
    killed = time.time() - t0
    t1 = time.time()
    r = subprocess.run(cmd, capture_output=True, text=True)
    skipped = [line.split("] ")[1].split()[0] for line in r.stdout.splitlines() if "skipped (unchanged)" in line]
    print(json.dumps({"killed_after_s": round(killed, 1), "resume_s": round(time.time() - t1, 1),
                      "resume_exit": r.returncode, "skipped": skipped}))
    return r.returncode


if __name__ == "__main__":
    sys.exit(main())
