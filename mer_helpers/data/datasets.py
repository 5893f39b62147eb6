"""Datasets → one ``labels.csv`` table (downloads of MELD and RAVDESS: :mod:`mer_helpers.data.downloads`).

Every supported source is turned into the table of the project's interface::

    clip_id,path,label,speaker[,subject,corpus,split]

``path`` is absolute, ``label`` is a normalised emotion name (see :func:`mer_helpers.data.labels.normalize_label`) and
``speaker`` is the group key that speaker-independent splits keep on one side.

=============  ===========================================================================
``sample``     the committed sample ``data/sample/labels.csv`` (paths relative to it)
``folder``     any folder with a ``labels.csv`` (relative paths resolved against the folder)
``meld``       MELD.Raw: ``{train,dev,test}_sent_emo.csv`` + ``diaD_uttU.mp4`` clip folders
``ravdess``    RAVDESS audio-visual ``Actor_NN/01-01-EE-II-SS-RR-NN.mp4`` (modality 01 only)
``crema-d``    CREMA-D ``VideoFlash/AAAA_SSS_EEE_LL.flv`` (no surprise class)
``paired``     speech corpus + face corpus → clips built by :func:`mer_helpers.data.paired.build_paired`
=============  ===========================================================================

Corpus loaders drop clips whose emotion is outside the run's class set (the counts are printed
and kept in ``df.attrs["dropped"]``). ``folder``/``sample`` keep every row: their ``labels.csv``
is meant for the run's classes, so a label outside the class set is reported by
:func:`mer_helpers.data.validate.validate_clips` as an unknown label (stop, or skip and list it).
"""
from __future__ import annotations

import hashlib
import os
import re
import warnings
from pathlib import Path
from typing import Any, Sequence

import pandas as pd

from mer_helpers import DEFAULT_CLASSES
from mer_helpers.core import cache
from mer_helpers.core.cache import cache_root, make_key
from mer_helpers.core.names import DATASETS
from mer_helpers.data.labels import (
    CORPUS_EMOTIONS, CREMAD_EMOTIONS, RAVDESS_EMOTIONS, normalize_label, resolve_classes
)
from mer_helpers.data.paired import build_paired

REPO_ROOT = Path(__file__).resolve().parents[2]
DATA_DIR = REPO_ROOT / "data"
RAW_DIR = DATA_DIR / "raw"

COLUMNS = ["clip_id", "path", "label", "speaker", "subject", "corpus", "split"]
REQUIRED_COLUMNS = ["clip_id", "path", "label", "speaker"]

# --------------------------------------------------------------------------------------------
# Label normalisation
# --------------------------------------------------------------------------------------------


def _effective_classes(corpus: str, classes: list[str]) -> list[str]:
    """Requested classes that ``corpus`` has; warn about the others, raise if fewer than two."""
    have = CORPUS_EMOTIONS[corpus]
    missing = [c for c in classes if c not in have]
    kept = [c for c in classes if c in have]
    if missing:
        fill = [c for c in ("happy", "sad", "angry", "neutral", "fear") if c in have and c not in kept]
        advice = ", ".join(kept + fill[: max(0, 3 - len(kept))])
        msg = (f"{corpus} has no {', '.join(repr(m) for m in missing)} class (its emotions: "
               f"{', '.join(have)})")
        if len(kept) < 2:
            raise ValueError(f"{msg}; at most {len(kept)} of the requested classes {classes} remain. "
                             f"Choose classes it has, e.g. -p classes \"[{advice}]\"")
        warnings.warn(f"{msg}: continuing with {kept}. To choose other classes pass e.g. "
                      f"-p classes \"[{advice}]\"", UserWarning, stacklevel=4)
    return kept


def _finish(df: pd.DataFrame, corpus: str, classes: list[str], *, keep_all: bool = False,
            verbose: bool = True) -> pd.DataFrame:
    """Common tail of every loader: column order, absolute paths, class filter and report."""
    df = df.copy()
    df["clip_id"] = df["clip_id"].astype(str)
    df["path"] = [str(Path(p).absolute()) for p in df["path"]]
    df["speaker"] = df["speaker"].astype(str)
    if "corpus" not in df.columns:
        df["corpus"] = corpus
    # folder/sample keep every row: a label outside the class set is a validation error there
    in_set = df["label"].isin(classes) | keep_all
    dropped = df.loc[~in_set, "label"].value_counts().sort_index()
    df = df.loc[in_set]
    cols = [c for c in COLUMNS if c in df.columns] + [c for c in df.columns if c not in COLUMNS]
    df = df[cols].reset_index(drop=True)
    df.attrs["dataset"] = corpus
    df.attrs["classes"] = list(classes)
    df.attrs["dropped"] = {str(k): int(v) for k, v in dropped.items()}
    if verbose:
        msg = f"[{corpus}] {len(df)} clips, {df['speaker'].nunique()} speakers, classes {classes}"
        if len(dropped):
            msg += (f"; dropped {int(dropped.sum())} clips with other labels ("
                    + ", ".join(f"{k} {v}" for k, v in dropped.items()) + ")")
        print(msg)
    return df


def _need_dir(path: Path, what: str, expected: str) -> Path:
    if not path.is_dir():
        raise FileNotFoundError(f"{what}: folder {path} not found. Expected layout: {expected}")
    return path


# --------------------------------------------------------------------------------------------
# Loaders
# --------------------------------------------------------------------------------------------

def load_labels(dataset: str, data_root: str | os.PathLike | None = None,
                classes: str | Sequence[str] = DEFAULT_CLASSES, **options: Any) -> pd.DataFrame:
    """Load ``dataset`` as a ``labels.csv`` table restricted to ``classes``.

    Parameters
    ----------
    dataset : str
        ``sample``, ``paired``, ``meld``, ``ravdess``, ``crema-d`` or ``folder``.
    data_root : path-like, optional
        Defaults to ``data/sample`` (sample), ``data/raw/MELD.Raw`` (meld), ``data/raw/ravdess``
        (ravdess), ``data/raw/crema-d`` (crema-d) and ``../shared/data`` or ``$MER_DATA_ROOT``
        (paired); ``folder`` needs one.
    classes : str or sequence of str
        The class set (see :func:`parse_classes`).
    **options
        ``verbose`` (default True); meld ``splits`` (default train, dev, test); ravdess
        ``include_song`` (default False); paired ``speech``, ``faces``, ``seed``, ``n_jobs`` and
        any option of ``build_paired``, plus ``test_speech`` / ``test_faces``: a second (test)
        corpus pair for protocol ``cross-corpus`` (see :func:`load_cross_corpus`; ``None`` for
        both: one pair, as usual).

    Returns
    -------
    pandas.DataFrame
        Columns ``clip_id, path, label, speaker`` [, ``subject, corpus, split``]. The effective
        class set (CREMA-D has no surprise) is in ``df.attrs["classes"]``, the labels dropped for
        being outside it in ``df.attrs["dropped"]``.
    """
    name = str(dataset).strip().lower().replace("_", "-")
    name = {"cremad": "crema-d", "crema": "crema-d"}.get(name, name)
    cls = resolve_classes(classes)
    root = Path(data_root).expanduser() if data_root not in (None, "") else None
    test_pair = {k: options.pop(k) for k in ("test_speech", "test_faces") if k in options}
    if any(v not in (None, "") for v in test_pair.values()):
        if name != "paired":
            raise ValueError(f"test_speech / test_faces (the test corpus pair of protocol cross-corpus) "
                             f"are options of dataset 'paired' only, not of {dataset!r}; a folder whose "
                             "labels.csv has a 'domain' column (train/test) works with cross-corpus as is")
        return load_cross_corpus(root, cls, **test_pair, **options)
    if name == "sample":
        return load_folder(root or DATA_DIR / "sample", cls, corpus="sample", **options)
    if name == "folder":
        if root is None:
            raise ValueError("dataset 'folder' needs a data_root: a folder with a labels.csv "
                             "(columns clip_id,path,label,speaker); pass --data-root DIR")
        return load_folder(root, cls, **options)
    if name == "meld":
        return load_meld(root or RAW_DIR / "MELD.Raw", cls, **options)
    if name == "ravdess":
        return load_ravdess(root or RAW_DIR / "ravdess", cls, **options)
    if name == "crema-d":
        return load_cremad(root or RAW_DIR / "crema-d", cls, **options)
    if name == "paired":
        return load_paired(root, cls, **options)
    raise ValueError(f"unknown dataset {dataset!r}; choose one of {', '.join(DATASETS)}")


def load_folder(root: str | os.PathLike, classes: Sequence[str] = DEFAULT_CLASSES, corpus: str = "folder",
                verbose: bool = True) -> pd.DataFrame:
    """A folder with ``labels.csv`` (clip_id,path,label,speaker[,...]); paths relative to it.

    Parameters
    ----------
    root : path-like
        The folder.
    classes : sequence of str
        Kept classes.
    corpus : str
        Value of the ``corpus`` column when the file has none.
    verbose : bool
        Print one line: clips, speakers, classes and the clips dropped for other labels.

    Returns
    -------
    pandas.DataFrame
    """
    root = Path(root).expanduser()
    csv = root / "labels.csv"
    if not csv.is_file():
        if corpus == "sample":
            raise FileNotFoundError(
                f"sample: {csv} not found. The committed sample lives in data/sample "
                "(clips + labels.csv); restore it from git (git checkout -- data/sample) or "
                "use another dataset (--dataset folder --data-root DIR)")
        raise FileNotFoundError(f"{corpus}: {csv} not found. Expected a folder of clips with a "
                                "labels.csv whose columns are clip_id,path,label,speaker "
                                "(paths relative to the folder or absolute)")
    df = pd.read_csv(csv, dtype=str, keep_default_na=False)
    missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"{csv}: missing column(s) {missing}; found {list(df.columns)}. "
                         "labels.csv needs clip_id,path,label,speaker[,subject,corpus,split]")
    base = root.resolve()
    df["path"] = [str(p if Path(p).is_absolute() else base / p) for p in df["path"].astype(str)]
    df["label"] = [normalize_label(v) for v in df["label"]]
    return _finish(df, corpus, list(classes), keep_all=True, verbose=verbose)


MELD_SPLIT_DIRS = {
    "train": ("train/train_splits", "train_splits", "train"),
    "dev": ("dev/dev_splits_complete", "dev_splits_complete", "dev"),
    "test": ("test/output_repeated_splits_test", "output_repeated_splits_test", "test"),
}
MELD_LAYOUT = ("MELD.Raw/{train,dev,test}_sent_emo.csv with clips in train/train_splits/, "
               "dev/dev_splits_complete/, test/output_repeated_splits_test/ (or flat train/, dev/, "
               "test/), named diaD_uttU.mp4 (D = Dialogue_ID, U = Utterance_ID)")


def _meld_root(root: Path) -> Path:
    if not (root / "train_sent_emo.csv").exists() and (root / "MELD.Raw").is_dir():
        return root / "MELD.Raw"
    return root


def _read_csv_any(path: Path) -> pd.DataFrame:
    try:
        return pd.read_csv(path, encoding="utf-8")
    except UnicodeDecodeError:
        return pd.read_csv(path, encoding="cp1252", encoding_errors="replace")


def load_meld(root: str | os.PathLike, classes: Sequence[str] = DEFAULT_CLASSES,
              splits: Sequence[str] = ("train", "dev", "test"), verbose: bool = True) -> pd.DataFrame:
    """MELD (Poria et al. 2019): one row per utterance clip.

    ``split`` keeps the official split, ``speaker`` is MELD's ``Speaker``; clip ids are
    ``<split>_diaD_uttU`` (dialogue numbers restart in each split). Clips listed in a CSV but
    absent on disk are kept (validation reports them).

    Parameters
    ----------
    root : path-like
        ``MELD.Raw`` with the three CSVs and the unpacked clip folders.
    classes : sequence of str
        The emotions kept.
    splits : sequence of str
        Which official splits to read.
    verbose : bool
        Print the summary line (with the dropped labels).

    Returns
    -------
    pandas.DataFrame
    """
    root = _meld_root(_need_dir(Path(root).expanduser(), "meld", MELD_LAYOUT))
    classes = _effective_classes("meld", list(classes))
    frames = []
    for split in ([splits] if isinstance(splits, str) else list(splits)):
        if split not in MELD_SPLIT_DIRS:
            raise ValueError(f"meld: unknown split {split!r}; choose from train, dev, test")
        csv = root / f"{split}_sent_emo.csv"
        if not csv.is_file():
            raise FileNotFoundError(f"meld: {csv} not found. Expected layout: {MELD_LAYOUT}. "
                                    "`mer download meld` fetches and unpacks MELD.Raw.tar.gz")
        table = _read_csv_any(csv)
        table.columns = [c.strip() for c in table.columns]
        need = ["Speaker", "Emotion", "Dialogue_ID", "Utterance_ID"]
        if [c for c in need if c not in table.columns]:
            raise ValueError(f"meld: {csv} lacks column(s) {[c for c in need if c not in table.columns]}; "
                             f"found {list(table.columns)}")
        clip_dir = next((root / d for d in MELD_SPLIT_DIRS[split] if (root / d).is_dir()), None)
        if clip_dir is None:
            tried = ", ".join(str(root / d) for d in MELD_SPLIT_DIRS[split])
            raise FileNotFoundError(f"meld: no clip folder for split {split!r} (tried {tried}). "
                                    f"Expected layout: {MELD_LAYOUT}")
        d = table["Dialogue_ID"].astype(int).astype(str)
        u = table["Utterance_ID"].astype(int).astype(str)
        names = "dia" + d + "_utt" + u
        frames.append(pd.DataFrame({
            "clip_id": split + "_" + names,
            "path": [str(clip_dir / f"{n}.mp4") for n in names],
            "label": [normalize_label(e) for e in table["Emotion"]],
            "speaker": table["Speaker"].astype(str).str.strip(),
            "corpus": "meld",
            "split": split,
        }))
    if not frames:
        raise ValueError("meld: no split requested")
    return _finish(pd.concat(frames, ignore_index=True), "meld", classes, verbose=verbose)


_RAVDESS_NAME = re.compile(r"^(\d{2})-(\d{2})-(\d{2})-(\d{2})-(\d{2})-(\d{2})-(\d{2})$")
RAVDESS_LAYOUT = ("Actor_NN/MM-VV-EE-II-SS-RR-NN.mp4 (Video_Speech_Actor_NN.zip from "
                  "https://zenodo.org/records/1188976); MM modality 01 = audio-visual")


def load_ravdess(root: str | os.PathLike, classes: Sequence[str] = DEFAULT_CLASSES,
                 include_song: bool = False, verbose: bool = True) -> pd.DataFrame:
    """RAVDESS audio-visual clips (Livingstone & Russo 2018).

    Only modality 01 (video with speech audio) is used: 02 (video-only) and 03 (audio-only)
    files are ignored. ``speaker`` = ``subject`` = ``ravdess_NN`` (the actor, named as in the
    sample and the paired clips).

    Parameters
    ----------
    root : path-like
        The folder holding ``Actor_NN/``.
    classes : sequence of str
        RAVDESS emotions to keep.
    include_song : bool
        Vocal channel 02 (song) too, besides 01 (speech).
    verbose : bool
        Print how many clips, speakers and dropped labels.

    Returns
    -------
    pandas.DataFrame
    """
    root = _need_dir(Path(root).expanduser(), "ravdess", RAVDESS_LAYOUT)
    classes = _effective_classes("ravdess", list(classes))
    rows, other_modality = [], 0
    for p in sorted(root.rglob("*.mp4")):
        m = _RAVDESS_NAME.match(p.stem)
        if not m or p.name.startswith("._"):
            continue
        modality, vocal, emo, intensity, statement, rep, actor = m.groups()
        if modality != "01":
            other_modality += 1
            continue
        if vocal != "01" and not (include_song and vocal == "02"):
            continue
        rows.append({"clip_id": p.stem, "path": str(p), "label": RAVDESS_EMOTIONS.get(emo, f"code{emo}"),
                     "speaker": f"ravdess_{actor}", "subject": f"ravdess_{actor}", "corpus": "ravdess"})
    if not rows:
        hint = (f" ({other_modality} video-only/audio-only files were ignored)" if other_modality else "")
        raise FileNotFoundError(f"ravdess: no audio-visual clip (01-01-*.mp4) under {root}{hint}. "
                                f"Expected layout: {RAVDESS_LAYOUT}. `mer download ravdess` fetches them")
    return _finish(pd.DataFrame(rows), "ravdess", classes, verbose=verbose)


_CREMAD_NAME = re.compile(r"^(\d{4})_([A-Z]{3})_([A-Z]{3})_([A-Z]{1,2})$")
CREMAD_LAYOUT = ("VideoFlash/AAAA_SSS_EEE_LL.flv (AAAA actor 1001-1091, SSS sentence, EEE emotion "
                 "ANG DIS FEA HAP NEU SAD, LL level), from https://github.com/CheyneyComputerScience/CREMA-D")


def load_cremad(root: str | os.PathLike, classes: Sequence[str] = DEFAULT_CLASSES,
                verbose: bool = True) -> pd.DataFrame:
    """CREMA-D (Cao et al. 2014) video clips ``VideoFlash/*.flv`` (they carry the audio too).

    Parameters
    ----------
    root : path-like
        The corpus folder.
    classes : sequence of str
        Requested classes; one CREMA-D lacks (surprise) is dropped with a warning, and fewer
        than two remaining is an error.
    verbose : bool
        Print the clip count and the dropped labels.

    Returns
    -------
    pandas.DataFrame
    """
    root = Path(root).expanduser()
    video = root / "VideoFlash" if (root / "VideoFlash").is_dir() else root
    _need_dir(video, "crema-d", CREMAD_LAYOUT)
    classes = _effective_classes("crema-d", list(classes))
    rows = []
    for p in sorted(list(video.glob("*.flv")) + list(video.glob("*.mp4"))):
        m = _CREMAD_NAME.match(p.stem)
        if not m:
            continue
        actor, sentence, emo, level = m.groups()
        rows.append({"clip_id": p.stem, "path": str(p), "label": CREMAD_EMOTIONS.get(emo, emo.lower()),
                     "speaker": actor, "subject": actor, "corpus": "crema-d"})
    if not rows:
        raise FileNotFoundError(f"crema-d: no clip named AAAA_SSS_EEE_LL.flv in {video}. "
                                f"Expected layout: {CREMAD_LAYOUT}")
    return _finish(pd.DataFrame(rows), "crema-d", classes, verbose=verbose)


def _default_paired_root() -> Path:
    env = os.environ.get("MER_DATA_ROOT")
    return Path(env) if env else REPO_ROOT.parent / "shared" / "data"


def _listing_digest(*dirs: Path) -> str:
    """Cheap fingerprint of corpus folders: relative names and sizes of every file."""
    h = hashlib.sha256()
    for d in dirs:
        for p in sorted(d.rglob("*")):
            if p.is_file():
                h.update(f"{p.relative_to(d)}\t{p.stat().st_size}\n".encode())
    return h.hexdigest()


def load_paired(root: str | os.PathLike | None, classes: Sequence[str] = DEFAULT_CLASSES,
                speech: str = "ravdess_speech", faces: str = "kdef", seed: int = 0, n_jobs: int = 2,
                verbose: bool = True, **opts: Any) -> pd.DataFrame:
    """Seed-paper-2 style clips built from ``root/speech`` (speech corpus) and ``root/faces``
    (face corpus) by :func:`mer_helpers.data.paired.build_paired`, once, into
    ``$MER_CACHE_DIR/paired/<key>/`` (the key covers the corpus listings, classes, seed and
    options).

    Parameters
    ----------
    root : path-like or None
        Holds the corpora (default ``../shared/data`` or ``$MER_DATA_ROOT``).
    classes : sequence of str
        Classes of the pairs.
    speech, faces : str
        Corpus folders under ``root``.
    seed : int
        Seed of the pairing.
    n_jobs : int
        Processes that encode clips.
    verbose : bool
        Print the build's progress and drops.
    **opts
        Options of ``build_paired``.

    Returns
    -------
    pandas.DataFrame
        ``speaker`` is the speech speaker.
    """

    root = Path(root).expanduser() if root is not None else _default_paired_root()
    layout = ("DATA_ROOT/<speech>/ (RAVDESS speech, SAVEE or TESS naming) and DATA_ROOT/<faces>/ "
              "(KDEF, Oulu-CASIA or CK+48 naming); see ../shared/data/README.md")
    speech_dir = _need_dir(root / speech, f"paired (speech={speech!r})", layout)
    faces_dir = _need_dir(root / faces, f"paired (faces={faces!r})", layout)
    classes = list(classes)
    key = make_key("paired", speech=str(speech_dir.resolve()), faces=str(faces_dir.resolve()),
                   classes=classes, seed=int(seed), opts=opts,
                   listing=_listing_digest(speech_dir, faces_dir))
    out = cache_root() / "paired" / key

    # one builder at a time per folder; files that fail the folder's seal (size + SHA-256) are
    # deleted first so that build_paired makes them again; the folder is resealed afterwards
    with cache.entry_lock(out):
        cache.check_tree(out, "paired", key)
        df = build_paired(speech_dir, faces_dir, out, classes=classes, seed=int(seed), n_jobs=n_jobs, **opts)
        cache.seal_tree(out, "paired", key)
    df = pd.DataFrame(df).copy()
    df["path"] = [str(p if Path(p).is_absolute() else out / p) for p in df["path"].astype(str)]
    df["label"] = [normalize_label(v) for v in df["label"]]
    if "corpus" not in df.columns:
        df["corpus"] = "paired"
    return _finish(df, "paired", classes, verbose=verbose)


#: the column that tells the two corpus pairs of protocol ``cross-corpus`` apart
DOMAIN_COLUMN = "domain"


def load_cross_corpus(root: str | os.PathLike | None, classes: Sequence[str] = DEFAULT_CLASSES,
                      speech: str = "ravdess_speech", faces: str = "kdef", test_speech: str | None = None,
                      test_faces: str | None = None, verbose: bool = True, **opts: Any) -> pd.DataFrame:
    """Two paired sets with the same classes for protocol ``cross-corpus``.

    The training pair ``speech`` + ``faces`` and the test pair ``test_speech`` + ``test_faces``
    are each built by :func:`load_paired`. Face subjects shared by the pairs (same face corpus)
    are only warned about.

    Parameters
    ----------
    root : path-like or None
        As for :func:`load_paired`.
    classes : sequence of str
        The classes of both pairs.
    speech, faces : str
        The training pair's corpora.
    test_speech : str
        The test pair's speech corpus (another one than ``speech``).
    test_faces : str, optional
        Defaults to ``faces``.
    verbose : bool
        Passed to both builds.
    **opts
        Passed to both builds.

    Returns
    -------
    pandas.DataFrame
        Both pairs with a ``domain`` column (``train`` / ``test``); ``df.attrs["pairs"]``
        names the pairs.

    Raises
    ------
    ValueError
        Before building anything, when ``test_speech`` is missing or equals ``speech``, and
        when a speaker is in both pairs.
    """
    cls = resolve_classes(classes)
    test_faces = test_faces or faces
    if test_speech in (None, "", speech):
        raise ValueError(f"cross-corpus: the test pair needs another speech corpus than the training pair's "
                         f"{speech!r} (its speakers would be on both sides); pass e.g. "
                         "-p test_speech savee -p test_faces oulu_casia")
    parts = []
    for domain, sp, fa in (("train", speech, faces), ("test", test_speech, test_faces)):
        part = load_paired(root, cls, speech=sp, faces=fa, verbose=verbose, **opts)
        part[DOMAIN_COLUMN] = domain
        parts.append(part)
    train, test = parts
    shared = sorted(set(train["speaker"]) & set(test["speaker"]))
    if shared:
        raise ValueError(f"cross-corpus: {len(shared)} speaker(s) in both pairs (e.g. {shared[0]}): the "
                         f"training pair ({speech}+{faces}) and the test pair ({test_speech}+{test_faces}) "
                         "need different speech corpora")
    subjects = (sorted(set(train["subject"]) & set(test["subject"]))
                if "subject" in train.columns and "subject" in test.columns else [])
    if subjects:
        warnings.warn(f"cross-corpus: {len(subjects)} face subject(s) appear in both pairs (same face corpus "
                      f"{faces}); speakers are apart, faces are not", UserWarning, stacklevel=2)
    df = pd.concat(parts, ignore_index=True)
    df.attrs["dataset"] = "paired"
    df.attrs["classes"] = list(cls)
    dropped: dict[str, int] = {}
    for part in parts:
        for k, v in part.attrs.get("dropped", {}).items():
            dropped[k] = dropped.get(k, 0) + int(v)
    df.attrs["dropped"] = dropped
    df.attrs["pairs"] = {"train": f"{speech}+{faces}", "test": f"{test_speech}+{test_faces}"}
    if verbose:
        print(f"[cross-corpus] train {speech}+{faces}: {len(train)} clips, {train['speaker'].nunique()} speakers; "
              f"test {test_speech}+{test_faces}: {len(test)} clips, {test['speaker'].nunique()} speakers")
    return df


def domain_summary(labels: pd.DataFrame) -> dict | None:
    """Clips, speakers and corpus of each ``domain`` (train / test) of a cross-corpus table, for
    the metrics fragment.

    Parameters
    ----------
    labels : pandas.DataFrame
        A table of :func:`load_cross_corpus`.

    Returns
    -------
    dict or None
        ``None`` without a ``domain`` column.
    """
    if DOMAIN_COLUMN not in labels.columns:
        return None
    out = {}
    for dom, g in labels.groupby(DOMAIN_COLUMN, sort=True):
        out[str(dom)] = {"corpus": sorted(g["corpus"].astype(str).unique()) if "corpus" in g else [],
                         "n_clips": int(len(g)), "n_speakers": int(g["speaker"].nunique()),
                         "class_counts": {str(k): int(v) for k, v in g["label"].value_counts().sort_index().items()}}
    return out




def display_paths(df: pd.DataFrame) -> pd.DataFrame:
    """A copy for display only: each ``path`` relative to the folder above the clips' folder (no
    machine-specific prefix); ``labels.csv`` and every file written keep the full paths.

    Parameters
    ----------
    df : pandas.DataFrame
        A labels table.

    Returns
    -------
    pandas.DataFrame
        ``df`` itself when it has no ``path`` column or no rows.
    """
    if "path" not in df.columns or df.empty:
        return df
    paths = [str(p) for p in df["path"]]
    try:
        base = os.path.dirname(os.path.commonpath([os.path.dirname(p) for p in paths]))
        return df.assign(path=[os.path.relpath(p, base) if base else p for p in paths])
    except ValueError:  # mixed absolute and relative paths, or other drives
        return df.assign(path=[os.path.basename(p) for p in paths])


__all__ = [
    "load_labels", "load_folder", "load_meld", "load_ravdess", "load_cremad", "load_paired",
    "load_cross_corpus", "domain_summary", "DOMAIN_COLUMN", "DATASETS", "display_paths"
]
