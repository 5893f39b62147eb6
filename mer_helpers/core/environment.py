"""What a run ran on: the machine's processor and the versions of the packages that set its numbers.

The same command gives other numbers on another machine or with other package versions: the
FFmpeg encoders, OpenCV's face detector and resize, NumPy/SciPy's FFTs and TensorFlow's kernels
round floats differently where the processor's vector instructions differ (AVX-512 or not). The
six-emotion reference run gave BiLSTM-SA 0.922 on one machine and 0.915 on another, a fresh
install on a processor without AVX-512 (``scripts/issue20_levers/README.md``, stop 25). ``mer run`` writes
:func:`describe` into ``run.json`` so that two runs can be compared knowing this.
"""
from __future__ import annotations

import platform
import sys
from importlib import metadata
from pathlib import Path

#: the distributions whose versions a run records: those that compute features or train networks
PACKAGES = ("numpy", "scipy", "scikit-learn", "librosa", "opencv-python-headless", "imageio-ffmpeg",
            "tensorflow-cpu", "tensorflow", "keras", "pandas")

#: the vector-instruction flags of ``/proc/cpuinfo`` that change which kernels run
VECTOR_FLAGS = ("avx", "avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile")


def package_versions(names=PACKAGES) -> dict[str, str]:
    """Installed version of each of ``names`` that is installed (others are left out)."""
    out = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def cpu(cpuinfo: str | Path = "/proc/cpuinfo") -> dict:
    """The processor's model name, logical cores and vector flags (Linux: ``/proc/cpuinfo``;
    elsewhere only what :mod:`platform` knows)."""
    try:
        text = Path(cpuinfo).read_text(errors="replace")
    except OSError:
        return {"model": platform.processor() or platform.machine()}
    model, flags, cores = None, set(), 0
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "processor":
            cores += 1
        elif key == "model name" and model is None:
            model = value.strip()
        elif key in ("flags", "Features") and not flags:
            flags = set(value.split())
    return {"model": model or platform.machine(), "logical_cores": cores or None,
            "vector_flags": [f for f in VECTOR_FLAGS if f in flags]}


def describe() -> dict:
    """``python``, ``platform``, ``cpu`` (:func:`cpu`) and ``packages`` (:func:`package_versions`)."""
    return {"python": sys.version.split()[0], "platform": platform.platform(terse=True), "cpu": cpu(),
            "packages": package_versions()}


def summary(env: dict) -> str:
    """One line of :func:`describe`'s record, for a page: processor, vector flags, packages."""
    c = env.get("cpu") or {}
    cores = f"{c['logical_cores']} cores; " if c.get("logical_cores") else ""
    head = f"{c.get('model', '?')} ({cores}{', '.join(c.get('vector_flags') or []) or 'no vector flags read'})"
    return "; ".join([head, *(f"{k} {v}" for k, v in (env.get("packages") or {}).items())])
