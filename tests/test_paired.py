"""`mer_helpers.data.paired`: corpus layouts, speaker -> subject mapping and the built clips,
on tiny fake corpora made in tmp_path (plus one test on the real corpora when present)."""
import os
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from mer_helpers.data import paired
from mer_helpers.core.media import ffmpeg_exe, probe

SR = 16000
# each emotion's fake face images have one dominant colour, so a decoded frame tells which
# emotion's images the clip shows (RGB)
COLOURS = {"happy": (220, 40, 40), "sad": (40, 40, 220), "surprise": (40, 200, 40), "neutral": (128, 128, 128)}
SMALL = dict(fps=8, size=(48, 64), n_jobs=1, verbose=False)


def _wav(path: Path, seconds: float, freq: float = 220.0):
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * SR)) / SR
    sf.write(str(path), (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32), SR)


def _img(path: Path, emotion: str, shape=(38, 28), grey=False):
    path.parent.mkdir(parents=True, exist_ok=True)
    img = np.zeros(shape + (3,), np.uint8)
    img[:] = COLOURS[emotion]
    img[shape[0] // 3: shape[0] // 2, :] //= 2  # some structure
    if grey:
        img = img.mean(-1).astype(np.uint8)
        cv2.imwrite(str(path), img)
    else:
        cv2.imwrite(str(path), img[..., ::-1])


RAV_CODES = {"happy": "03", "sad": "04", "surprise": "08", "neutral": "01"}


@pytest.fixture
def ravdess(tmp_path):
    """Actors 01 (M), 02 (F), 03 (M): one utterance per emotion (+ a neutral one), WAV and FLAC."""
    root = tmp_path / "ravdess_speech"
    durs = {}
    for actor in (1, 2, 3):
        for i, (emo, code) in enumerate(RAV_CODES.items()):
            ext = ".flac" if (actor + i) % 2 else ".wav"
            name = f"03-01-{code}-01-01-01-{actor:02d}"
            d = 0.5 + 0.1 * i + 0.05 * actor
            _wav(root / f"Actor_{actor:02d}" / (name + ext), d, 200 + 50 * i)
            durs[f"ravdess_{actor:02d}_{name}"] = d
    return root, durs


@pytest.fixture
def kdef(tmp_path):
    """F01 (sessions A and B), M01, M02 (session A); emotions HA SA SU NE; angles S and HL."""
    root = tmp_path / "kdef"
    for sess, g, nn in (("A", "F", "01"), ("B", "F", "01"), ("A", "M", "01"), ("A", "M", "02")):
        for emo, code in (("happy", "HA"), ("sad", "SA"), ("surprise", "SU"), ("neutral", "NE")):
            for ang in ("S", "HL"):
                _img(root / f"{sess}{g}{nn}" / f"{sess}{g}{nn}{code}{ang}.jpg", emo)
    return root


def _frames(path: Path, w: int, h: int) -> np.ndarray:
    out = subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(path), "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
                         capture_output=True, check=True).stdout
    return np.frombuffer(out, np.uint8).reshape(-1, h, w, 3)


# ------------------------------------------------------------------------------------ layouts

def test_scan_speech_layouts(tmp_path, ravdess):
    corpus, utts = paired.scan_speech(ravdess[0])
    assert corpus == "ravdess_speech" and len(utts) == 12
    assert {u.speaker: u.gender for u in utts} == {"ravdess_01": "M", "ravdess_02": "F", "ravdess_03": "M"}
    assert {u.label for u in utts} == {"happy", "sad", "surprise", "neutral"}

    savee = tmp_path / "savee"
    for spk in ("DC", "JE"):
        for code in ("h01", "sa01", "su01", "n01", "a01"):
            _wav(savee / spk / f"{code}.flac", 0.3)
    corpus, utts = paired.scan_speech(savee)
    assert corpus == "savee" and len(utts) == 10
    assert {(u.speaker, u.stem): u.label for u in utts}[("savee_DC", "su01")] == "surprise"
    assert {u.gender for u in utts} == {"M"}

    tess = tmp_path / "tess"
    _wav(tess / "OAF_happy" / "OAF_back_happy.wav", 0.3)
    _wav(tess / "YAF_pleasant_surprise" / "YAF_back_ps.wav", 0.3)
    _wav(tess / "YAF_sad" / "YAF_bath_sad.wav", 0.3)
    corpus, utts = paired.scan_speech(tess)
    assert corpus == "tess"
    assert sorted((u.speaker, u.label, u.gender) for u in utts) == [
        ("tess_OAF", "happy", "F"), ("tess_YAF", "sad", "F"), ("tess_YAF", "surprise", "F")]


def test_scan_face_layouts(tmp_path, kdef):
    corpus, subj = paired.scan_faces(kdef)
    assert corpus == "kdef" and sorted(subj) == ["kdef_F01", "kdef_M01", "kdef_M02"]
    assert subj["kdef_F01"].gender == "F" and subj["kdef_M02"].gender == "M"
    # both sessions, angles swept left -> right in A and back in B
    assert [p.name for p in subj["kdef_F01"].images["happy"]] == [
        "AF01HAHL.jpg", "AF01HAS.jpg", "BF01HAS.jpg", "BF01HAHL.jpg"]

    oulu = tmp_path / "oulu"
    for p in ("P001", "P002"):
        for emo, folder in (("happy", "Happiness"), ("sad", "Sadness"), ("surprise", "Surprise")):
            for n in (12, 10, 11):
                _img(oulu / p / folder / f"{n:03d}.jpeg", emo)
    corpus, subj = paired.scan_faces(oulu)
    assert corpus == "oulu_casia" and sorted(subj) == ["oulu_P001", "oulu_P002"]
    assert subj["oulu_P001"].gender is None
    assert [p.name for p in subj["oulu_P002"].images["sad"]] == ["010.jpeg", "011.jpeg", "012.jpeg"]

    ck = tmp_path / "ck"
    for emo, folder in (("happy", "happy"), ("sad", "sadness"), ("surprise", "surprise")):
        _img(ck / folder / "S010_004_00000017.png", emo, (48, 48), grey=True)
        _img(ck / folder / "S010_004_00000016.png", emo, (48, 48), grey=True)
    _img(ck / "happy" / "S011_002_00000009.png", "happy", (48, 48), grey=True)
    corpus, subj = paired.scan_faces(ck)
    assert corpus == "ckplus48" and sorted(subj) == ["ckplus_S010", "ckplus_S011"]
    assert [p.name for p in subj["ckplus_S010"].images["surprise"]] == [
        "S010_004_00000016.png", "S010_004_00000017.png"]
    assert list(subj["ckplus_S011"].images) == ["happy"]


def test_unknown_layout_names_the_folder(tmp_path):
    bad = tmp_path / "not_a_corpus"
    _wav(bad / "hello.wav", 0.2)
    with pytest.raises(paired.LayoutError, match="not_a_corpus.*RAVDESS.*SAVEE.*TESS"):
        paired.scan_speech(bad)
    _img(bad / "face.jpg", "happy")
    with pytest.raises(paired.LayoutError, match="not_a_corpus.*KDEF.*Oulu-CASIA.*CK\\+48"):
        paired.scan_faces(bad)


# ------------------------------------------------------------------------------------ mapping

def _subjects(spec):
    return {name: paired.FaceSubject(name, g, {e: [Path(f"{name}_{e}.jpg")] for e in emos})
            for name, (g, emos) in spec.items()}


ALL = ("happy", "sad", "surprise")


def test_mapping_same_gender_and_distinct():
    subjects = _subjects({"F1": ("F", ALL), "F2": ("F", ALL), "M1": ("M", ALL), "M2": ("M", ALL), "M3": ("M", ALL)})
    speakers = {"s1": ("M", set(ALL)), "s2": ("F", set(ALL)), "s3": ("M", set(ALL)), "s4": ("F", set(ALL))}
    for seed in range(5):
        m = paired.map_speakers(speakers, subjects, seed)
        assert all(subjects[m[s]].gender == speakers[s][0] for s in speakers), m
        assert len(set(m.values())) == 4, m  # distinct while there are enough
    # more female speakers than female subjects: reuse a female subject, never a male one
    speakers = {f"f{i}": ("F", set(ALL)) for i in range(5)}
    m = paired.map_speakers(speakers, subjects, 0)
    assert set(m.values()) == {"F1", "F2"}
    assert sorted(list(m.values()).count(s) for s in ("F1", "F2")) == [2, 3]  # balanced reuse


def test_mapping_prefers_subjects_with_every_emotion_and_unknown_gender():
    subjects = _subjects({"A": (None, ("happy",)), "B": (None, ALL), "C": (None, ("sad", "happy"))})
    m = paired.map_speakers({"s1": ("M", set(ALL))}, subjects, 0)
    assert m == {"s1": "B"}
    # unknown face gender is compatible with either speaker gender
    m = paired.map_speakers({"s1": ("M", {"happy"}), "s2": ("F", {"happy"})}, subjects, 1)
    assert len(set(m.values())) == 2


def test_mapping_is_deterministic_for_a_seed():
    subjects = _subjects({f"M{i}": ("M", ALL) for i in range(8)})
    speakers = {f"s{i}": ("M", set(ALL)) for i in range(3)}
    maps = [paired.map_speakers(speakers, subjects, s) for s in range(6)]
    assert maps[0] == paired.map_speakers(speakers, subjects, 0)
    assert len({tuple(sorted(m.items())) for m in maps}) > 1  # the seed matters


# ------------------------------------------------------------------------------------ frames

def test_letterbox_and_slideshow():
    img = np.full((40, 20, 3), 200, np.uint8)
    out = paired.letterbox(img, (40, 40))
    assert out.shape == (40, 40, 3)
    assert out[:, :10].max() == 0 and out[:, 30:].max() == 0 and out[:, 12:28].min() == 200
    a, b = np.zeros((4, 4, 3), np.uint8), np.full((4, 4, 3), 100, np.uint8)
    seq = paired.slideshow([a, b], n_frames=10, fade=0.4)
    v = seq[:, 0, 0, 0].astype(int)
    assert list(v[:3]) == [0, 0, 0] and list(v[5:]) == [100] * 5   # held
    assert 0 < v[3] < v[4] < 100                                       # cross-fade, monotone


# ------------------------------------------------------------------------------------ building

def test_build_paired_clips_labels_and_mapping(tmp_path, ravdess, kdef):
    speech, durs = ravdess
    out = tmp_path / "out"
    df = paired.build_paired(speech, kdef, out, seed=0, **SMALL)
    # 3 actors x 3 emotions (neutral left out)
    assert len(df) == 9 and list(df.columns) == paired.LABEL_COLUMNS
    on_disk = pd.read_csv(out / "labels.csv", dtype=str)
    assert on_disk.equals(df.astype(str))
    assert sorted(df["speaker"].unique()) == ["ravdess_01", "ravdess_02", "ravdess_03"]
    assert set(df["label"]) == set(ALL)
    assert (df["corpus"] == "ravdess_speech+kdef").all()
    for r in df.itertuples():
        assert r.clip_id.startswith(r.speaker + "_03-01-" + RAV_CODES[r.label])
        assert not Path(r.path).is_absolute() and (out / r.path).is_file()
    # same gender: actor 02 is female, the only female subject is F01
    subj = dict(zip(df["speaker"], df["subject"]))
    assert subj["ravdess_02"] == "kdef_F01"
    assert {subj["ravdess_01"], subj["ravdess_03"]} == {"kdef_M01", "kdef_M02"}
    mapping = pd.read_csv(out / "mapping.csv")
    assert dict(zip(mapping["speaker"], mapping["subject"])) == subj
    assert set(mapping["n_clips"]) == {3}

    for r in df.itertuples():
        info = probe(out / r.path, decode=True)
        assert info.errors == [] and info.has_audio and info.has_video, info
        assert (info.width, info.height) == (48, 64) and info.fps == 8
        assert info.audio_rate == 16000 and info.audio_channels == 1
        assert abs(info.duration - durs[r.clip_id]) < 0.15, (r.clip_id, info.duration, durs[r.clip_id])
        # the frames show the subject's images of the clip's emotion (dominant colour)
        frames = _frames(out / r.path, 48, 64).astype(float)
        centre = frames[:, 20:44, 14:34].reshape(-1, 3).mean(0)
        want = int(np.argmax(COLOURS[r.label]))
        assert int(np.argmax(centre)) == want, (r.clip_id, r.label, centre)


def test_build_paired_is_deterministic_and_idempotent(tmp_path, ravdess, kdef):
    speech, _ = ravdess
    a = paired.build_paired(speech, kdef, tmp_path / "a", seed=3, classes="happy,sad", **SMALL)
    b = paired.build_paired(speech, kdef, tmp_path / "b", seed=3, classes=["happy", "sad"], **SMALL)
    assert a.equals(b) and set(a["label"]) == {"happy", "sad"} and len(a) == 6
    assert (tmp_path / "a" / "mapping.csv").read_text() == (tmp_path / "b" / "mapping.csv").read_text()

    clips = sorted((tmp_path / "a" / "clips").glob("*.mp4"))
    before = {p.name: p.stat().st_mtime_ns for p in clips}
    again = paired.build_paired(speech, kdef, tmp_path / "a", seed=3, classes="happy,sad", **SMALL)
    assert again.equals(a)
    assert {p.name: p.stat().st_mtime_ns for p in clips} == before  # reused, not rewritten
    # a truncated clip is detected and rebuilt; the others stay
    victim = clips[0]
    victim.write_bytes(victim.read_bytes()[:300])
    paired.build_paired(speech, kdef, tmp_path / "a", seed=3, classes="happy,sad", **SMALL)
    assert probe(victim).has_video and victim.stat().st_size > 300
    assert all(p.stat().st_mtime_ns == before[p.name] for p in clips[1:])
    assert not list((tmp_path / "a" / "clips").glob(".*tmp*"))  # no temporary left behind


def test_build_paired_limit_spreads_over_speakers(tmp_path, ravdess, kdef):
    df = paired.build_paired(ravdess[0], kdef, tmp_path / "o", limit=3, **SMALL)
    assert len(df) == 3 and df["speaker"].nunique() == 3 and df["label"].nunique() == 3
    assert len(list((tmp_path / "o" / "clips").glob("*.mp4"))) == 3


def test_build_paired_errors(tmp_path, ravdess, kdef):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        paired.build_paired(tmp_path / "nowhere", kdef, tmp_path / "o", **SMALL)
    with pytest.raises(ValueError, match="unknown class 'bored'"):
        paired.build_paired(ravdess[0], kdef, tmp_path / "o", classes=("happy", "bored"), **SMALL)
    with pytest.raises(ValueError, match="no image of \\['angry'\\]"):
        paired.build_paired(ravdess[0], kdef, tmp_path / "o", classes=("happy", "angry"), **SMALL)


# ------------------------------------------------------------------------------------ real data

def _shared_data() -> Path:
    return Path(os.environ.get("MER_SHARED_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data")


@pytest.mark.shared_data
def test_build_paired_on_real_corpora(tmp_path):
    root = _shared_data()
    if not (root / "ravdess_speech").is_dir() or not (root / "kdef").is_dir():
        pytest.skip(f"real corpora not found under {root} (set MER_SHARED_DATA)")
    df = paired.build_paired(root / "ravdess_speech", root / "kdef", tmp_path / "p", limit=3, n_jobs=1,
                             verbose=False)
    assert len(df) == 3 and df["speaker"].nunique() == 3 and set(df["label"]) == set(ALL)
    mapping = pd.read_csv(tmp_path / "p" / "mapping.csv")
    assert len(mapping) == 20 and mapping["subject"].nunique() == 20
    assert (mapping["speaker_gender"] == mapping["subject_gender"]).all()
    for r in df.itertuples():
        actor = int(r.speaker.split("_")[1])
        src = root / "ravdess_speech" / f"Actor_{actor:02d}" / (r.clip_id.split("_", 2)[2] + ".flac")
        info = probe(tmp_path / "p" / r.path, decode=True)
        assert info.errors == [] and info.has_audio and info.has_video
        assert abs(info.duration - sf.info(str(src)).duration) < 0.15
        assert r.subject[5] == ("M" if actor % 2 else "F")
