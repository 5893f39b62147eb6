"""Downloads of the public corpora (MELD, RAVDESS) into ``data/raw/``, checked and extracted.

:func:`download` fetches a corpus' archives with a progress bar, checks them against the
published checksums (:class:`ChecksumError`), records what it verified, and says in one line
how to get the files by hand when there is no internet (:class:`DownloadError`);
:func:`extract` unpacks an archive without letting a member escape its folder.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import tarfile
import urllib.error
import urllib.request
import zipfile
from pathlib import Path
from typing import Any, Iterable

from mer_helpers.core.fileio import atomic_write, atomic_write_text
from mer_helpers.core.progress import progress as progress_bar
from mer_helpers.data.datasets import RAW_DIR

__all__ = ["download", "extract", "DownloadError", "ChecksumError", "SOURCES"]


class DownloadError(RuntimeError):
    """A download could not start or finish; the message says where to get the files by hand."""


class ChecksumError(DownloadError):
    """A downloaded archive does not match its checksum."""


#: Where the corpora come from. MELD publishes no checksum: the SHA-256 of the first download
#: is recorded in ``<archive>.sha256`` and later downloads are checked against it. Zenodo
#: publishes an MD5 per file in its record metadata (``api``), which is checked.
SOURCES: dict[str, dict[str, Any]] = {
    "meld": {
        "homepage": "https://affective-meld.github.io/",
        "files": {"MELD.Raw.tar.gz": "https://web.eecs.umich.edu/~mihalcea/downloads/MELD.Raw.tar.gz"},
        "folder": "MELD.Raw",
        "licence": "GPL-3.0 (see the MELD repository)",
    },
    "ravdess": {
        "homepage": "https://zenodo.org/records/1188976",
        "api": "https://zenodo.org/api/records/1188976",
        "url": "https://zenodo.org/records/1188976/files/{name}?download=1",
        "pattern": "Video_Speech_Actor_{actor:02d}.zip",
        "actors": tuple(range(1, 25)),
        "folder": "ravdess",
        "licence": "CC BY-NC-SA 4.0",
    },
}


def _offline_message(name: str, url: str, err: Exception, dest: Path) -> str:
    src = SOURCES[name]
    if name == "meld":
        where = (f"Download MELD.Raw.tar.gz from {url} (see {src['homepage']}) on a machine with "
                 f"internet, put it in {dest}/ and run `mer download meld --dest {dest}` again (it then "
                 f"only verifies and extracts), or unpack it yourself so that "
                 f"{dest}/MELD.Raw/train_sent_emo.csv and {dest}/MELD.Raw/train/train_splits/dia0_utt0.mp4 "
                 f"exist (inner train/dev/test.tar.gz extracted too). Then: "
                 f"mer run --dataset meld --data-root {dest}/MELD.Raw")
    else:
        where = (f"Download the Video_Speech_Actor_NN.zip files from {src['homepage']} on a machine "
                 f"with internet, put them in {dest}/ravdess/ and run `mer download ravdess --dest "
                 f"{dest}` again (it then only verifies and extracts), or unzip them yourself so that "
                 f"{dest}/ravdess/Actor_01/01-01-01-01-01-01-01.mp4 exists. Then: "
                 f"mer run --dataset ravdess --data-root {dest}/ravdess")
    return f"cannot download {name}: {url} is not reachable ({err}). {where}"


def _open_url(url: str, timeout: float):
    req = urllib.request.Request(url, headers={"User-Agent": "mer-book/0.1 (+https://github.com)"})
    return urllib.request.urlopen(req, timeout=timeout)


def _hash_file(path: Path) -> tuple[str, str]:
    sha, md5 = hashlib.sha256(), hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            sha.update(block)
            md5.update(block)
    return sha.hexdigest(), md5.hexdigest()


def _read_recorded(path: Path) -> dict[str, str]:
    rec = Path(str(path) + ".sha256")
    out: dict[str, str] = {}
    if rec.is_file():
        for line in rec.read_text().splitlines():
            parts = line.split()
            if len(parts) >= 2 and parts[0].startswith(("sha256:", "md5:")):
                algo, val = parts[0].split(":", 1)
                out[algo] = val.lower()
            elif len(parts) >= 2 and re.fullmatch(r"[0-9a-f]{64}", parts[0].lower()):
                out["sha256"] = parts[0].lower()
    return out


def _record(path: Path, sha: str, md5: str, note: str) -> None:

    atomic_write_text(Path(str(path) + ".sha256"),
                      f"{sha}  {path.name}\n# sha256:{sha} md5:{md5}\n# {note}\n")


def _verify(path: Path, expected_md5: str | None) -> str:
    """Check ``path`` against the official MD5 (if known) and the recorded SHA-256 (if any);
    record the checksums. Returns a one-line report. Raises :class:`ChecksumError`."""
    sha, md5 = _hash_file(path)
    rec = _read_recorded(path)
    if expected_md5 and md5 != expected_md5.lower():
        raise ChecksumError(f"{path}: MD5 {md5} does not match the published {expected_md5}; "
                            "the file is incomplete or corrupt: delete it and download again")
    if rec.get("sha256") and rec["sha256"] != sha:
        raise ChecksumError(f"{path}: SHA-256 {sha} does not match the one recorded in "
                            f"{path.name}.sha256 ({rec['sha256']}); delete the archive (and the "
                            ".sha256 file if the archive was replaced on purpose) and download again")
    if expected_md5:
        note = "MD5 verified against the publisher's record"
    elif rec.get("sha256"):
        note = "SHA-256 verified against the checksum recorded at the first download"
    else:
        note = ("no official checksum is published: this SHA-256 was computed from this download "
                "and is recorded here so that later copies can be checked against it")
    _record(path, sha, md5, note)
    return f"{path.name}: sha256 {sha[:16]}... ({note})"


def _fetch(url: str, path: Path, timeout: float, progress: bool) -> None:
    """Stream ``url`` into ``path`` (through :func:`mer_helpers.core.fileio.atomic_write`: a dropped
    connection leaves no file) with a progress bar."""

    def stream(part: Path) -> None:
        with _open_url(url, timeout) as resp:
            total = int(resp.headers.get("Content-Length") or 0) or None
            with open(part, "wb") as f, progress_bar(total=total, unit="B", unit_scale=True, unit_divisor=1024,
                                                     desc=path.name, disable=not progress) as bar:
                for block in iter(lambda: resp.read(1 << 20), b""):
                    f.write(block)
                    bar.update(len(block))
        if total is not None and part.stat().st_size != total:
            raise DownloadError(f"{path.name}: got {part.stat().st_size} of {total} bytes from {url}; "
                                "the connection dropped: run the download again")

    atomic_write(path, stream)


def _safe_members(names: Iterable[str], dest: Path, archive: Path) -> None:
    base = dest.resolve()
    for n in names:
        target = (dest / n).resolve()
        if target != base and base not in target.parents:
            raise DownloadError(f"{archive}: member {n!r} would be written outside {dest}; refusing")


def extract(archive: str | os.PathLike, dest: str | os.PathLike) -> Path:
    """Unpack a ``.tar.gz``/``.tgz``/``.tar``/``.zip`` archive into ``dest``.

    Members that would escape ``dest`` are refused. A marker file makes a second call a no-op.

    Parameters
    ----------
    archive : path-like
        The archive.
    dest : path-like
        Folder to unpack into (created).

    Returns
    -------
    pathlib.Path
        ``dest``.
    """
    archive, dest = Path(archive), Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    marker = dest / f".{archive.name}.extracted"
    if marker.exists() and marker.read_text().strip() == str(archive.stat().st_size):
        return dest
    try:
        if archive.name.endswith(".zip"):
            with zipfile.ZipFile(archive) as z:
                _safe_members(z.namelist(), dest, archive)
                z.extractall(dest)
        elif archive.name.endswith((".tar.gz", ".tgz", ".tar")):
            with tarfile.open(archive) as t:
                _safe_members(t.getnames(), dest, archive)
                if hasattr(tarfile, "data_filter"):
                    t.extractall(dest, filter="data")
                else:  # pragma: no cover - Python < 3.11.4
                    t.extractall(dest)
        else:
            raise DownloadError(f"{archive}: unknown archive type (expected .zip, .tar.gz, .tgz or .tar)")
    except (tarfile.TarError, zipfile.BadZipFile, EOFError) as e:
        raise DownloadError(f"{archive}: cannot unpack ({e}); the archive is incomplete or corrupt: "
                            "delete it and download again") from None
    marker.write_text(str(archive.stat().st_size))
    return dest


def _zenodo_md5(api: str, timeout: float) -> dict[str, str]:
    with _open_url(api, timeout) as resp:
        meta = json.loads(resp.read().decode("utf-8"))
    out = {}
    for f in meta.get("files", []):
        key = f.get("key") or f.get("filename")
        checksum = str(f.get("checksum", ""))
        if key and checksum.startswith("md5:"):
            out[key] = checksum[4:]
    return out


def download(name: str, dest: str | os.PathLike = RAW_DIR, *, actors: Iterable[int] | None = None,
             timeout: float = 10.0, progress: bool = True, keep_archives: bool = True,
             log=print) -> Path:
    """Download, verify and unpack a corpus.

    * ``meld``: ``MELD.Raw.tar.gz`` (about 10 GB) → ``dest/MELD.Raw/`` with its inner
      ``train/dev/test.tar.gz`` unpacked. No checksum is published: the SHA-256 of the
      download is recorded in ``dest/MELD.Raw.tar.gz.sha256`` and checked on later runs.
    * ``ravdess``: Zenodo record 1188976, ``Video_Speech_Actor_NN.zip`` (about 0.5 GB each)
      → ``dest/ravdess/Actor_NN/``; each zip is checked against the MD5 that the Zenodo record
      publishes, and its SHA-256/MD5 recorded beside it.

    Archives already in place are verified and unpacked without touching the network.

    Parameters
    ----------
    name : str
        ``meld`` or ``ravdess``.
    dest : path-like
        Where archives and corpora go (default ``data/raw``).
    actors : iterable of int, optional
        RAVDESS actors (1-24); default all.
    timeout : float
        Seconds to wait for a server.
    progress : bool
        Show download bars.
    keep_archives : bool
        Keep the archives after unpacking.
    log : callable
        Receives one line per step.

    Returns
    -------
    pathlib.Path
        The folder to pass as ``data_root``.

    Raises
    ------
    DownloadError
        Without network, within ``timeout`` seconds, saying where to download the files and
        where to put them.
    ChecksumError
        When an archive does not match its published or recorded checksum.
    """
    name = name.strip().lower()
    if name not in SOURCES:
        raise ValueError(f"no download helper for {name!r}; available: {', '.join(SOURCES)}")
    dest = Path(dest).expanduser()
    src = SOURCES[name]
    if name == "meld":
        dest.mkdir(parents=True, exist_ok=True)
        (fname, url), = src["files"].items()
        archive = dest / fname
        if not archive.exists():
            try:
                _fetch(url, archive, timeout, progress)
            except (urllib.error.URLError, OSError, TimeoutError) as e:
                raise DownloadError(_offline_message(name, url, e, dest)) from None
        log(_verify(archive, None))
        extract(archive, dest)
        root = dest / src["folder"]
        if not root.is_dir():
            raise DownloadError(f"{archive}: unpacked, but {root} is missing; expected the archive "
                                f"to hold {src['folder']}/")
        for inner in sorted(p for p in root.glob("*.tar.gz") if not p.name.startswith(".")):
            log(f"unpacking {inner.name} ...")
            extract(inner, root)
            if not keep_archives:
                inner.unlink()
        if not keep_archives:
            archive.unlink()
        return root
    # ravdess
    folder = dest / src["folder"]
    folder.mkdir(parents=True, exist_ok=True)
    wanted = sorted(set(int(a) for a in (actors or src["actors"])))
    if bad := [a for a in wanted if a not in src["actors"]]:
        raise ValueError(f"ravdess: actors {bad} do not exist (1-24)")
    files = [src["pattern"].format(actor=a) for a in wanted]
    todo = [f for f in files if not (folder / f).exists()]
    md5s: dict[str, str] = {}
    try:
        md5s = _zenodo_md5(src["api"], timeout)
    except (urllib.error.URLError, OSError, TimeoutError, ValueError) as e:
        if todo:
            raise DownloadError(_offline_message(name, src["api"], e, dest)) from None
        log(f"ravdess: the Zenodo record is not reachable ({e}); checking the archives against "
            "the checksums recorded beside them only")
    for f in files:
        archive = folder / f
        if not archive.exists():
            url = src["url"].format(name=f)
            try:
                _fetch(url, archive, timeout, progress)
            except (urllib.error.URLError, OSError, TimeoutError) as e:
                raise DownloadError(_offline_message(name, url, e, dest)) from None
        if md5s and f not in md5s:
            log(f"ravdess: the Zenodo record lists no checksum for {f}")
        log(_verify(archive, md5s.get(f)))
        extract(archive, folder)
        if not keep_archives:
            archive.unlink()
    return folder
