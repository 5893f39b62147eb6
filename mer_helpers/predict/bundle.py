"""Is a model bundle (``OUT/model/``) whole? Checked before anything is loaded or decoded.

:meth:`mer_helpers.predict.emotion_model.EmotionModel.save` ends by listing the size and SHA-256 of every
file of the bundle in ``checksums.json`` (:func:`mer_helpers.core.fileio.write_checksums`);
:func:`check_bundle` compares the files with it and names each one that is missing or changed.
A bundle saved before checksums were written is checked as far as its files allow: the parts
the model needs are there, every JSON file parses, every ``.keras`` / ``.npz`` archive is a whole
zip, every ``.h5`` file opens.

Nothing here imports TensorFlow: `mer predict` runs it before the model is loaded.
"""
from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

from mer_helpers.core.fileio import CHECKSUMS_FILE, read_json, verify_checksums

#: what to do about a damaged or missing bundle file
REBUILD = "rebuild the bundle (`mer run --force` on its run writes RUN/model) or copy it again"


class BundleError(ValueError):
    """A model bundle is missing a file or holds a damaged one; one line per problem, each
    naming the file (``.problems``)."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


def _required(model_dir: Path, meta: dict | None) -> list[Path]:
    """The parts any bundle needs: the featurizers' folders (their own files are named by their
    loaders), ``bundle.json``, the sequencer and the models ``bundle.json`` lists."""
    need = [model_dir / "audio", model_dir / "visual", model_dir / "bundle.json",
            model_dir / "classifiers" / "sequencer.npz"]
    if isinstance(meta, dict):
        need += [model_dir / "classifiers" / f"{m}.keras" for m in meta.get("models") or []]
    return need


def _damage(path: Path) -> str | None:
    """Why a file of a bundle without checksums cannot be read, from its kind (None: it reads)."""
    suffix = path.suffix.lower()
    try:
        if path.stat().st_size == 0:
            return "empty file (0 bytes)"
        if suffix == ".json":
            with open(path, encoding="utf-8") as f:
                json.load(f)
        elif suffix in (".keras", ".npz", ".zip"):
            with zipfile.ZipFile(path) as z:
                bad = z.testzip()
            if bad is not None:
                return f"damaged archive (member {bad} fails its CRC)"
        elif suffix in (".h5", ".hdf5"):
            import h5py

            with h5py.File(path, "r") as f:
                f.visit(lambda name: None)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        return f"damaged: not valid JSON ({type(e).__name__}: {str(e).splitlines()[0]})"
    except zipfile.BadZipFile as e:
        return f"damaged archive ({e})"
    except (OSError, ValueError, RuntimeError, EOFError) as e:
        return f"damaged: cannot be read ({type(e).__name__}: {(str(e).splitlines() or [''])[0][:160]})"
    return None


def check_bundle(model_dir: str | os.PathLike) -> tuple[list[str], str | None]:
    """Every problem of a model bundle, without loading it.

    Parameters
    ----------
    model_dir : path-like
        The bundle folder (``RUN/model``).

    Returns
    -------
    problems : list of str
        One line per problem, ``FILE: what is wrong; what to do`` (empty: the bundle is whole).
    note : str or None
        For a bundle without ``checksums.json``: a line saying that only its structure could be
        checked.
    """
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        what = "is a file, not a model folder" if model_dir.exists() else "model folder not found"
        return [f"{model_dir}: {what} (expected RUN/model, written by `mer run`)"], None
    found = verify_checksums(model_dir)
    if found is not None:
        return [f"{p}: {reason}; {REBUILD}" for p, reason in found], None
    problems = []
    meta = None
    bundle_json = model_dir / "bundle.json"
    if bundle_json.is_file() and _damage(bundle_json) is None:
        meta = read_json(bundle_json)
    for p in _required(model_dir, meta):
        if not (p.is_dir() if p.suffix == "" else p.is_file()):
            problems.append(f"{p}: missing from the model bundle; {REBUILD}")
    for p in sorted(model_dir.rglob("*")):
        if p.is_file() and not p.name.startswith("."):
            reason = _damage(p)
            if reason:
                problems.append(f"{p}: {reason}; {REBUILD}")
    note = (f"{model_dir}: no {CHECKSUMS_FILE} (a bundle saved before checksums were written): "
            "checked that its files are there and readable, not that they are unchanged")
    return problems, note


def verify_bundle(model_dir: str | os.PathLike) -> str | None:
    """:func:`check_bundle`, raising :class:`BundleError` when there is a problem.

    Returns
    -------
    str or None
        The note for a bundle without checksums.
    """
    problems, note = check_bundle(model_dir)
    if problems:
        raise BundleError(problems)
    return note


__all__ = ["check_bundle", "verify_bundle", "BundleError", "REBUILD"]
