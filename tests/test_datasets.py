"""Dataset loaders on tiny fake trees that mimic each corpus' real layout, and the download
helpers on local archives (no network here)."""
from __future__ import annotations

import hashlib
import io
import json
import tarfile
import time
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from mer_helpers.data import datasets
from mer_helpers.data import downloads
from mer_helpers.data.datasets import load_labels
from mer_helpers.data.downloads import ChecksumError, DownloadError, download, extract
from mer_helpers.data.labels import normalize_label, resolve_classes
from mer_helpers.data.validate import BadInputError, validate_clips

CLASSES = ["happy", "sad", "surprise"]
INTERFACE = ["clip_id", "path", "label", "speaker"]


# ------------------------------------------------------------------------------------ labels

@pytest.mark.parametrize("raw, canon", [
    ("joy", "happy"), ("Happiness", "happy"), ("HA", "happy"), ("h", "happy"), ("HAP", "happy"),
    ("sadness", "sad"), ("SA", "sad"), ("sa", "sad"), ("Sad", "sad"),
    ("surprised", "surprise"), ("ps", "surprise"), ("SU", "surprise"), ("su", "surprise"),
    ("pleasant surprise", "surprise"), ("anger", "angry"), ("ANG", "angry"), ("fearful", "fear"),
    ("AF", "fear"), ("disgusted", "disgust"), ("NEU", "neutral"), ("calm", "calm"),
    (" Hapy ", "hapy"), (None, ""), (float("nan"), ""),
])
def test_normalize_label(raw, canon):
    assert normalize_label(raw) == canon


def test_resolve_classes():
    assert resolve_classes("joy, sadness,surprised") == ["happy", "sad", "surprise"]
    assert resolve_classes(["HA", "angry"]) == ["happy", "angry"]
    with pytest.raises(ValueError, match="listed twice"):
        resolve_classes(["joy", "happy"])
    with pytest.raises(ValueError, match="unknown dataset"):
        load_labels("iemocap")


# ------------------------------------------------------------------------------------ MELD

MELD_ROWS = {  # split -> (Dialogue_ID, Utterance_ID, Speaker, Emotion)
    "train": [(0, 0, "Chandler", "joy"), (0, 1, "Monica", "neutral"), (1, 0, "Ross", "sadness"),
              (1, 1, "Chandler", "surprise"), (2, 0, "Rachel", "anger")],
    "dev": [(0, 0, "Joey", "joy"), (0, 1, "Phoebe", "sadness")],
    "test": [(0, 0, "Monica", "surprise"), (3, 2, "Ross", "joy"), (3, 3, "Ross", "disgust")],
}
NESTED = {"train": "train/train_splits", "dev": "dev/dev_splits_complete",
          "test": "test/output_repeated_splits_test"}


def make_meld(root: Path, clip, flat: bool = False) -> Path:
    for split, rows in MELD_ROWS.items():
        table = pd.DataFrame([{"Sr No.": i + 1, "Utterance": f"line {i}", "Speaker": spk, "Emotion": emo,
                               "Sentiment": "neutral", "Dialogue_ID": d, "Utterance_ID": u, "Season": 1,
                               "Episode": 1, "StartTime": "00:00:01,000", "EndTime": "00:00:02,000"}
                              for i, (d, u, spk, emo) in enumerate(rows)])
        root.mkdir(parents=True, exist_ok=True)
        table.to_csv(root / f"{split}_sent_emo.csv", index=False)
        folder = root / (split if flat else NESTED[split])
        for d, u, _, _ in rows:
            clip(folder / f"dia{d}_utt{u}.mp4")
    return root


@pytest.mark.parametrize("flat", [False, True])
def test_meld_official_layout_and_flat_folders(tmp_path, tiny_clip_factory, flat):
    root = make_meld(tmp_path / "MELD.Raw", tiny_clip_factory, flat=flat)
    df = load_labels("meld", root, verbose=False)
    assert list(df.columns[:4]) == INTERFACE and "split" in df.columns
    got = list(zip(df["clip_id"], df["label"], df["speaker"], df["split"]))
    assert got == [
        ("train_dia0_utt0", "happy", "Chandler", "train"),
        ("train_dia1_utt0", "sad", "Ross", "train"),
        ("train_dia1_utt1", "surprise", "Chandler", "train"),
        ("dev_dia0_utt0", "happy", "Joey", "dev"),
        ("dev_dia0_utt1", "sad", "Phoebe", "dev"),
        ("test_dia0_utt0", "surprise", "Monica", "test"),
        ("test_dia3_utt2", "happy", "Ross", "test"),
    ]
    sub = NESTED["test"] if not flat else "test"
    assert df["path"].iloc[-1] == str((root / sub / "dia3_utt2.mp4").absolute())
    assert all(Path(p).is_absolute() and Path(p).exists() for p in df["path"])
    assert df.attrs["dropped"] == {"angry": 1, "disgust": 1, "neutral": 1}
    # the parent folder of MELD.Raw works too (as `mer download meld` leaves it)
    assert load_labels("meld", tmp_path, verbose=False)["clip_id"].tolist() == df["clip_id"].tolist()
    # every clip is a valid clip for the validator
    good, skipped = validate_clips(df, CLASSES, on_bad_input="stop", n_jobs=2, progress=False)
    assert len(good) == 7 and skipped == []


def test_meld_reports_what_is_missing(tmp_path, tiny_clip_factory, capsys):
    with pytest.raises(FileNotFoundError, match=r"meld: folder .*nowhere not found. Expected layout"):
        load_labels("meld", tmp_path / "nowhere")
    root = make_meld(tmp_path / "MELD.Raw", tiny_clip_factory)
    (root / "dev_sent_emo.csv").unlink()
    with pytest.raises(FileNotFoundError, match=r"dev_sent_emo.csv not found"):
        load_labels("meld", root)
    df = load_labels("meld", root, splits=["train", "test"])
    assert set(df["split"]) == {"train", "test"}
    assert "dropped 3 clips with other labels (angry 1, disgust 1, neutral 1)" in capsys.readouterr().out
    import shutil
    shutil.rmtree(root / "test")
    with pytest.raises(FileNotFoundError, match=r"no clip folder for split 'test'.*output_repeated_splits_test"):
        load_labels("meld", root, splits=["test"])


# ------------------------------------------------------------------------------------ RAVDESS

def test_ravdess_audio_visual_only(tmp_path, tiny_clip_factory):
    root = tmp_path / "ravdess"
    names = {
        "Actor_01": ["01-01-03-01-01-01-01", "01-01-04-02-01-02-01", "01-01-08-01-02-01-01",
                     "01-01-01-01-01-01-01",   # neutral: dropped
                     "02-01-03-01-01-01-01",   # video-only: ignored
                     "03-01-03-01-01-01-01",   # audio-only: ignored
                     "01-02-03-01-01-01-01"],  # song: ignored by default
        "Actor_12": ["01-01-08-02-02-02-12", "01-01-03-02-01-01-12"],
    }
    for actor, stems in names.items():
        for s in stems:
            tiny_clip_factory(root / actor / f"{s}.mp4")
    df = load_labels("ravdess", root, verbose=False)
    assert list(zip(df["clip_id"], df["label"], df["speaker"])) == [
        ("01-01-03-01-01-01-01", "happy", "ravdess_01"),
        ("01-01-04-02-01-02-01", "sad", "ravdess_01"),
        ("01-01-08-01-02-01-01", "surprise", "ravdess_01"),
        ("01-01-03-02-01-01-12", "happy", "ravdess_12"),
        ("01-01-08-02-02-02-12", "surprise", "ravdess_12"),
    ]
    assert (df["subject"] == df["speaker"]).all() and set(df["corpus"]) == {"ravdess"}
    assert df.attrs["dropped"] == {"neutral": 1}
    song = load_labels("ravdess", root, include_song=True, verbose=False)
    assert "01-02-03-01-01-01-01" in set(song["clip_id"]) and len(song) == 6
    assert load_labels("ravdess", root, classes=["neutral", "happy"], verbose=False)["label"].tolist() == \
        ["neutral", "happy", "happy"]


def test_ravdess_without_audio_visual_files(tmp_path, tiny_clip_factory):
    tiny_clip_factory(tmp_path / "Actor_01" / "02-01-03-01-01-01-01.mp4")
    with pytest.raises(FileNotFoundError, match=r"no audio-visual clip.*1 video-only/audio-only"):
        load_labels("ravdess", tmp_path)


@pytest.mark.shared_data
def test_ravdess_loader_on_the_real_clip():
    real = Path(__file__).resolve().parents[2] / "shared" / "data" / "video" / "ravdess_av"
    if not real.is_dir():
        pytest.skip(f"{real} is absent (the shared corpora are not on this machine)")
    df = load_labels("ravdess", real, classes=["neutral", "happy"], verbose=False)
    assert df["clip_id"].tolist() == ["01-01-01-01-01-01-01"] and df["speaker"].tolist() == ["ravdess_01"]
    good, _ = validate_clips(df, ["neutral", "happy"], progress=False, n_jobs=1)
    assert len(good) == 1


# ------------------------------------------------------------------------------------ CREMA-D

def make_cremad(root: Path, clip) -> Path:
    for stem in ["1001_DFA_HAP_XX", "1001_IEO_SAD_HI", "1001_IEO_ANG_MD", "1002_TIE_HAP_LO",
                 "1002_DFA_SAD_XX", "1002_DFA_NEU_XX", "1003_ITS_FEA_HI"]:
        clip(root / "VideoFlash" / f"{stem}.flv")
    (root / "AudioWAV").mkdir()
    return root


def test_cremad_warns_about_surprise_and_keeps_the_rest(tmp_path, tiny_clip_factory):
    root = make_cremad(tmp_path / "CREMA-D", tiny_clip_factory)
    with pytest.warns(UserWarning, match=r"crema-d has no 'surprise' class.*continuing with \['happy', 'sad'\]"):
        df = load_labels("crema-d", root, verbose=False)
    assert list(zip(df["clip_id"], df["label"], df["speaker"])) == [
        ("1001_DFA_HAP_XX", "happy", "1001"), ("1001_IEO_SAD_HI", "sad", "1001"),
        ("1002_DFA_SAD_XX", "sad", "1002"), ("1002_TIE_HAP_LO", "happy", "1002")]
    assert df.attrs["classes"] == ["happy", "sad"]
    assert df.attrs["dropped"] == {"angry": 1, "fear": 1, "neutral": 1}
    # the flv clips are probed like any other
    good, _ = validate_clips(df, df.attrs["classes"], progress=False)
    assert len(good) == 4
    df3 = load_labels("cremad", root / "VideoFlash", classes="happy,sad,angry", verbose=False)
    assert sorted(df3["label"]) == ["angry", "happy", "happy", "sad", "sad"]


def test_cremad_refuses_when_fewer_than_two_classes_remain(tmp_path, tiny_clip_factory):
    root = make_cremad(tmp_path, tiny_clip_factory)
    with pytest.raises(ValueError, match=r"no 'surprise', 'calm' class.*-p classes \"\[happy, sad, angry\]\""):
        load_labels("crema-d", root, classes=["happy", "surprise", "calm"])
    with pytest.raises(FileNotFoundError, match="VideoFlash"):
        load_labels("crema-d", tmp_path / "none")


# ------------------------------------------------------------------------------------ folder

def test_folder_relative_paths_and_unknown_labels(tmp_path, tiny_clip_factory):
    root = tmp_path / "mine"
    tiny_clip_factory(root / "clips" / "a.mp4")
    tiny_clip_factory(root / "clips" / "b.mp4", freq=660)
    absolute = tiny_clip_factory(tmp_path / "elsewhere" / "c.mp4")
    pd.DataFrame({"clip_id": ["a", "b", "c", "d", "e"],
                  "path": ["clips/a.mp4", "clips/b.mp4", str(absolute), "clips/a.mp4", "clips/b.mp4"],
                  "label": ["Joy", "sadness", "ps", "neutral", "hapy"],
                  "speaker": ["s1", "s2", "s1", "s2", "s1"],
                  "subject": ["f1", "f2", "f1", "f2", "f1"]}).to_csv(root / "labels.csv", index=False)
    df = load_labels("folder", root, verbose=False)
    # every row is kept, labels normalised; labels outside the class set are left to validation
    assert df["clip_id"].tolist() == ["a", "b", "c", "d", "e"]
    assert df["label"].tolist() == ["happy", "sad", "surprise", "neutral", "hapy"]
    assert df["path"].tolist()[:3] == [str((root / "clips" / "a.mp4").resolve()),
                                       str((root / "clips" / "b.mp4").resolve()), str(absolute)]
    assert df["subject"].tolist() == ["f1", "f2", "f1", "f2", "f1"] and set(df["corpus"]) == {"folder"}
    with pytest.raises(BadInputError, match=r"clip e \(b.mp4\): unknown label 'hapy'") as ei:
        validate_clips(df, CLASSES, progress=False)
    assert "clip d (a.mp4): unknown label 'neutral'" in str(ei.value)
    good, skipped = validate_clips(df, CLASSES, on_bad_input="skip", progress=False)
    assert good["clip_id"].tolist() == ["a", "b", "c"] and [s["clip_id"] for s in skipped] == ["d", "e"]


def test_folder_errors_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"labels.csv not found"):
        load_labels("folder", tmp_path)
    with pytest.raises(ValueError, match="needs a data_root"):
        load_labels("folder")
    (tmp_path / "labels.csv").write_text("clip_id,file,label\nx,x.mp4,happy\n")
    with pytest.raises(ValueError, match=r"labels.csv: missing column\(s\) \['path', 'speaker'\]"):
        load_labels("folder", tmp_path)
    with pytest.raises(FileNotFoundError, match=r"sample: .*labels.csv not found"):
        load_labels("sample", tmp_path / "nosample")


def test_committed_sample_if_present():
    csv = datasets.DATA_DIR / "sample" / "labels.csv"
    if not csv.exists():
        pytest.skip(f"{csv} is not built yet")
    df = load_labels("sample", verbose=False)
    assert len(df) >= 36 and df["speaker"].nunique() >= 3
    assert set(df["label"]) <= set(CLASSES)
    assert all(Path(p).is_file() for p in df["path"])


# ------------------------------------------------------------------------------------ paired

def test_paired_calls_build_paired_once_per_key(tmp_path, tiny_clip_factory, isolated_cache, monkeypatch):
    data = tmp_path / "data"
    (data / "ravdess_speech" / "Actor_01").mkdir(parents=True)
    (data / "ravdess_speech" / "Actor_01" / "03-01-03-01-01-01-01.flac").write_bytes(b"x" * 10)
    (data / "kdef" / "AF01").mkdir(parents=True)
    (data / "kdef" / "AF01" / "AF01HAS.jpg").write_bytes(b"y" * 10)
    calls = []

    def build_paired(speech_dir, faces_dir, out_dir, classes=("happy", "sad", "surprise"), seed=0,
                     n_jobs=2, limit=None, **opts):
        calls.append((Path(speech_dir), Path(faces_dir), Path(out_dir), list(classes), seed, opts))
        tiny_clip_factory(Path(out_dir) / "a.mp4")
        return pd.DataFrame({"clip_id": ["a", "b"], "path": ["a.mp4", str(Path(out_dir) / "b.mp4")],
                             "label": ["happy", "neutral"], "speaker": ["Actor_01", "Actor_01"],
                             "subject": ["AF01", "AF01"]})

    monkeypatch.setattr(datasets, "build_paired", build_paired)
    df = load_labels("paired", data, seed=3, verbose=False)
    assert df["clip_id"].tolist() == ["a"] and df["label"].tolist() == ["happy"]
    speech, faces, out, cls, seed, opts = calls[0]
    assert (speech, faces) == (data / "ravdess_speech", data / "kdef")
    assert out.parent == isolated_cache / "paired" and cls == CLASSES and seed == 3 and opts == {}
    assert df["path"].tolist() == [str(out / "a.mp4")]
    load_labels("paired", data, seed=3, verbose=False)
    load_labels("paired", data, seed=4, verbose=False)
    assert calls[1][2] == out and calls[2][2] != out      # same inputs, same folder; new seed, new one
    (data / "kdef" / "AF01" / "AF01HAS.jpg").write_bytes(b"y" * 11)   # corpus changed: new folder
    load_labels("paired", data, seed=3, verbose=False)
    assert calls[3][2] not in (calls[0][2], calls[2][2])
    with pytest.raises(FileNotFoundError, match=r"paired \(faces='oulu'\): folder .*oulu not found"):
        load_labels("paired", data, faces="oulu")


# ------------------------------------------------------------------------------------ downloads

def _tar_gz(path: Path, files: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as t:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    return path


def _meld_archive(tmp_path: Path, tiny_clip_factory) -> Path:
    """A miniature MELD.Raw.tar.gz: CSVs + inner train/dev/test.tar.gz, as the real one is."""
    stage = make_meld(tmp_path / "stage", tiny_clip_factory)
    files = {f"MELD.Raw/{s}_sent_emo.csv": (stage / f"{s}_sent_emo.csv").read_bytes() for s in MELD_ROWS}
    for split, sub in NESTED.items():
        inner = {f"{sub}/{p.name}": p.read_bytes() for p in sorted((stage / sub).glob("*.mp4"))}
        files[f"MELD.Raw/{split}.tar.gz"] = _tar_gz(tmp_path / f"{split}.tar.gz", inner).read_bytes()
    src = tmp_path / "server"
    src.mkdir()
    return _tar_gz(src / "MELD.Raw.tar.gz", files)


def test_download_offline_fails_at_once_with_instructions(tmp_path, monkeypatch):
    monkeypatch.setitem(downloads.SOURCES["meld"], "files",
                        {"MELD.Raw.tar.gz": "http://127.0.0.1:9/MELD.Raw.tar.gz"})
    t0 = time.perf_counter()
    with pytest.raises(DownloadError) as ei:
        download("meld", tmp_path / "raw", progress=False, log=lambda *a: None)
    assert time.perf_counter() - t0 < 15
    msg = str(ei.value)
    assert "http://127.0.0.1:9/MELD.Raw.tar.gz is not reachable" in msg
    assert f"put it in {tmp_path / 'raw'}/" in msg and "MELD.Raw/train/train_splits/dia0_utt0.mp4" in msg
    assert "--data-root" in msg
    assert not [p for p in (tmp_path / "raw").glob("*") if ".tmp" in p.name or p.suffix == ".part"]
    monkeypatch.setitem(downloads.SOURCES["ravdess"], "api", "http://nonexistent.invalid/api/records/1188976")
    with pytest.raises(DownloadError, match=r"Video_Speech_Actor_NN.zip files from https://zenodo.org/records/1188976"):
        download("ravdess", tmp_path / "raw", actors=[1], progress=False, log=lambda *a: None)


def test_download_meld_streams_records_checksum_and_extracts(tmp_path, tiny_clip_factory, monkeypatch):
    archive = _meld_archive(tmp_path, tiny_clip_factory)
    monkeypatch.setitem(downloads.SOURCES["meld"], "files", {"MELD.Raw.tar.gz": archive.as_uri()})
    dest = tmp_path / "raw"
    logs = []
    root = download("meld", dest, progress=False, log=logs.append)
    assert root == dest / "MELD.Raw"
    sha = hashlib.sha256(archive.read_bytes()).hexdigest()
    recorded = (dest / "MELD.Raw.tar.gz.sha256").read_text()
    assert recorded.startswith(f"{sha}  MELD.Raw.tar.gz\n") and "computed from this download" in recorded
    assert (root / "train" / "train_splits" / "dia1_utt1.mp4").read_bytes() == \
        (tmp_path / "stage" / "train" / "train_splits" / "dia1_utt1.mp4").read_bytes()
    df = load_labels("meld", root, verbose=False)
    assert len(df) == 7 and df["split"].value_counts().to_dict() == {"train": 3, "dev": 2, "test": 2}
    # second call: no network needed (the server copy is gone), checked against the recorded sum
    archive.unlink()
    logs.clear()
    download("meld", dest, progress=False, log=logs.append)
    assert "verified against the checksum recorded" in logs[0]
    # a damaged archive is refused, naming the file
    data = bytearray((dest / "MELD.Raw.tar.gz").read_bytes())
    data[100] ^= 0xFF
    (dest / "MELD.Raw.tar.gz").write_bytes(bytes(data))
    with pytest.raises(ChecksumError, match=r"MELD.Raw.tar.gz: SHA-256 .* does not match"):
        download("meld", dest, progress=False, log=logs.append)


def test_download_ravdess_checks_zenodo_md5(tmp_path, tiny_clip_factory, monkeypatch):
    server = tmp_path / "server"
    server.mkdir()
    clip = tiny_clip_factory().read_bytes()
    md5 = {}
    for a in (1, 2):
        z = server / f"Video_Speech_Actor_{a:02d}.zip"
        with zipfile.ZipFile(z, "w") as zf:
            zf.writestr(f"Actor_{a:02d}/01-01-03-01-01-01-{a:02d}.mp4", clip)
            zf.writestr(f"Actor_{a:02d}/02-01-03-01-01-01-{a:02d}.mp4", clip)
        md5[z.name] = hashlib.md5(z.read_bytes()).hexdigest()
    api = server / "record.json"
    api.write_text(json.dumps({"files": [{"key": k, "checksum": f"md5:{v}"} for k, v in md5.items()]}))
    monkeypatch.setitem(downloads.SOURCES["ravdess"], "api", api.as_uri())
    monkeypatch.setitem(downloads.SOURCES["ravdess"], "url", server.as_uri() + "/{name}")
    folder = download("ravdess", tmp_path / "raw", actors=[2, 1], progress=False, log=lambda *a: None)
    assert "MD5 verified against the publisher" in (folder / "Video_Speech_Actor_01.zip.sha256").read_text()
    df = load_labels("ravdess", folder, classes=["happy", "sad"], verbose=False)
    assert df["speaker"].tolist() == ["ravdess_01", "ravdess_02"]
    # a wrong published MD5 is refused
    api.write_text(json.dumps({"files": [{"key": "Video_Speech_Actor_01.zip", "checksum": "md5:" + "0" * 32}]}))
    with pytest.raises(ChecksumError, match=r"Video_Speech_Actor_01.zip: MD5 .* does not match the published"):
        download("ravdess", tmp_path / "raw", actors=[1], progress=False, log=lambda *a: None)


def test_extract_refuses_paths_outside_dest(tmp_path):
    bad = _tar_gz(tmp_path / "evil.tar.gz", {"../escape.txt": b"x"})
    with pytest.raises(DownloadError, match="outside"):
        extract(bad, tmp_path / "out")
    assert not (tmp_path / "escape.txt").exists()
