"""Issue 20, stop 25: how much CPU does the run's Dask cluster take while nobody uses it?

``mer run`` keeps one local cluster (two worker processes) for the whole chain; notebooks 06-07
do not use it, and its servers and workers keep waking up meanwhile. This starts a cluster as
``parallel.start_local_cluster`` does, lets it settle, and prints the CPU seconds each process of
it (this one: scheduler and nannies; then the workers) took over the next ``--seconds``, with
Dask's default settings (``--defaults``) or with ``parallel.QUIET_CLUSTER`` (the chain's).

    python scripts/issue20_levers/idle_cluster_cpu.py --defaults
    python scripts/issue20_levers/idle_cluster_cpu.py
"""
from __future__ import annotations

import argparse
import time


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--defaults", action="store_true", help="Dask's own settings, not QUIET_CLUSTER")
    ap.add_argument("--seconds", type=float, default=30.0)
    args = ap.parse_args()

    import psutil
    from mer_helpers.core import parallel

    if args.defaults:
        parallel.QUIET_CLUSTER = {}
    cluster = parallel.start_local_cluster()
    try:
        time.sleep(5)  # the workers finish starting
        procs = [psutil.Process()] + psutil.Process().children(recursive=True)
        before = {p.pid: sum(p.cpu_times()[:2]) for p in procs}
        time.sleep(args.seconds)
        spent = {p.pid: sum(p.cpu_times()[:2]) - before[p.pid] for p in procs}
    finally:
        cluster.close()
    what = "Dask's defaults" if args.defaults else "QUIET_CLUSTER"
    print(f"{what}: {sum(spent.values()):.2f} s of CPU in {args.seconds:.0f} s idle "
          f"(per process: {', '.join(f'{v:.2f}' for v in spent.values())})")


if __name__ == "__main__":
    main()
