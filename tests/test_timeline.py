"""Clips that lack a voice or a face, and emotion over time (issue 24).

Fast tests: :meth:`EmotionModel.predict_rows` routes each row to the fused classifier or one
modality's branch (person-normalised or person-free) on a model built from small seeded parts;
the bundle keeps its branches through save/load; the speech detector; the timeline's table and
figure from feature rows. Slow tests apply a run's real bundle (``MER_TEST_RUN`` or
``runs/ci-sample``) to clips without audio, with silent audio, without video, and to a video
timeline; the acceptance checks on the shared data need the strong three-class bundle
(``MER_STRONG_BUNDLE``) and skip without it.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pandas as pd
import pytest

keras = pytest.importorskip("keras")

from mer_helpers.methods import audio as A  # noqa: E402
from mer_helpers.core import fileio  # noqa: E402
from mer_helpers.methods import models as M  # noqa: E402
from mer_helpers.methods import networks, sequencers  # noqa: E402
from mer_helpers.predict import timeline as T  # noqa: E402
from mer_helpers.predict.emotion_model import EmotionModel  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
CLASSES = ["happy", "sad", "surprise"]
DA, DV = 4, 5
COLS = [f"audio:f:{i}" for i in range(DA)] + [f"visual:f:{i}" for i in range(DV)]


class _Feat:
    """Stands in for a fitted featurizer: only its columns matter to predict_rows."""

    def __init__(self, columns):
        self.columns_ = list(columns)
        self.columns = list(columns)


def _clf(columns, seed, rng, names=("bilstm_sa", "cnn")):
    """A SequenceClassifier of seeded, untrained models on ``columns`` (the routing is under test)."""
    X = rng.normal(size=(20, len(columns)))
    seq = sequencers.FeatureSequencer(steps=2).fit(X)
    keras.utils.set_random_seed(seed)
    models = {m: networks.build_model(m, seq.transform(X).shape[1:], 3, units=4, heads=2) for m in names}
    return M.SequenceClassifier.from_fitted(CLASSES, list(columns), seq, models)


@pytest.fixture(scope="module")
def routed():
    rng = np.random.default_rng(0)
    model = EmotionModel.from_parts(_Feat(COLS[:DA]), _Feat(COLS[DA:]), _clf(COLS, 1, rng), "passthrough", columns=COLS)
    model.with_person_norm("zscore", "center", 3, _clf(COLS, 2, rng))
    branches = {"audio": _clf(COLS[:DA], 3, rng, ["bilstm_sa"]), "visual": _clf(COLS[DA:], 4, rng, ["bilstm_sa"])}
    free = {"audio": _clf(COLS[:DA], 5, rng, ["bilstm_sa"]), "visual": _clf(COLS[DA:], 6, rng, ["bilstm_sa"])}
    return model.with_branches(branches, free, faces={"clips_with_face": 1.0, "n_clips": 20})


def test_predict_rows_routes_each_row(routed):
    rng = np.random.default_rng(1)
    Av, Vv = rng.normal(size=(9, DA)).astype(np.float32), rng.normal(size=(9, DV)).astype(np.float32)
    Av[[0, 1]] = np.nan  # rows 0, 1: no speech
    Vv[[2, 3, 4]] = np.nan  # rows 2-4: no face
    persons = ["p"] * 6 + ["q", "q", None]  # p: 4 rows with speech, 4 with a face (>= 3); q: 2 rows
    probs, answered, modalities = routed.predict_rows(Av, Vv, persons)
    assert list(modalities) == ["visual", "visual", "audio", "audio", "audio"] + ["audio+visual"] * 4
    # p's fused rows (5: both) are normalised: p has 4 speech rows (2-5) and 4 face rows (0, 1, 5)... and 5
    assert list(answered) == ["person"] * 6 + ["person-free"] * 3
    from mer_helpers.methods import person

    # visual-only rows of p: the visual branch on p's face rows centred with p's face rows
    face_p = [0, 1, 5]
    Vn = person.normalize(Vv[face_p], ["p"] * 3, ["center"] * DV)
    np.testing.assert_allclose(probs["bilstm_sa"][[0, 1]],
                               routed.branches_["visual"].predict_proba_all(Vn[:2])["bilstm_sa"], atol=1e-6)
    # audio-only rows of p: the audio branch on p's speech rows z-scored with p's speech rows
    speech_p = [2, 3, 4, 5]
    An = person.normalize(Av[speech_p], ["p"] * 4, ["zscore"] * DA)
    np.testing.assert_allclose(probs["bilstm_sa"][[2, 3, 4]],
                               routed.branches_["audio"].predict_proba_all(An[:3])["bilstm_sa"], atol=1e-6)
    # q (too few rows) and the row without a person: the person-free fused classifier, plain rows
    free = routed.person_free_.predict_proba_all(np.hstack([Av[6:], Vv[6:]]))
    for name in ("bilstm_sa", "cnn"):
        np.testing.assert_allclose(probs[name][6:], free[name], atol=1e-6)
    # a branch has the main model only: the other models did not answer the one-modality rows
    assert np.isnan(probs["cnn"][:5]).all() and not np.isnan(probs["cnn"][5:]).any()


def test_predict_rows_refuses_rows_without_either(routed):
    Av, Vv = np.full((1, DA), np.nan), np.full((1, DV), np.nan)
    with pytest.raises(ValueError, match="neither speech nor a face"):
        routed.predict_rows(Av, Vv)


def test_a_model_without_branches_needs_both(routed):
    rng = np.random.default_rng(2)
    plain = EmotionModel.from_parts(_Feat(COLS[:DA]), _Feat(COLS[DA:]), _clf(COLS, 1, rng), "passthrough", columns=COLS)
    Av, Vv = rng.normal(size=(2, DA)), rng.normal(size=(2, DV))
    Vv[0] = np.nan
    with pytest.raises(ValueError, match="no per-modality classifiers.*rebuild the bundle"):
        plain.predict_rows(Av, Vv)
    probs, answered, modalities = plain.predict_rows(Av[1:], Vv[1:])
    assert list(modalities) == ["audio+visual"] and list(answered) == ["person-free"]


def test_branches_must_read_their_modality(routed):
    rng = np.random.default_rng(3)
    wrong = {"audio": _clf(COLS[DA:], 1, rng, ["bilstm_sa"]), "visual": routed.branches_["visual"]}
    with pytest.raises(ValueError, match="audio classifier does not read"):
        routed.with_branches(wrong, routed.branches_free_)


def test_face_absence_trusted_only_when_the_detector_found_most_training_faces(routed):
    assert routed.face_absence_trusted
    for rate, trusted in ((0.85, False), (0.36, False), (None, False), (0.95, True)):
        routed.faces_ = {"clips_with_face": rate}
        assert routed.face_absence_trusted is trusted
    routed.faces_ = {"clips_with_face": 1.0}


def test_has_speech_is_a_level_test():
    sr = 16000
    t = np.arange(sr) / sr
    tone = (0.1 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)  # about -23 dBFS
    assert A.has_speech(tone)
    assert A.loudest_dbfs(tone) == pytest.approx(20 * np.log10(0.1 / np.sqrt(2)), abs=0.2)
    assert not A.has_speech(np.zeros(sr, np.float32))
    assert not A.has_speech(tone * 1e-3)  # -83 dBFS: silence
    assert not A.has_speech(np.zeros(0, np.float32))


def test_predict_videos_table_and_figure(routed, tmp_path):
    rng = np.random.default_rng(4)
    n = 12
    Av, Vv = rng.normal(size=(n, DA)).astype(np.float32), rng.normal(size=(n, DV)).astype(np.float32)
    Av[3:5] = np.nan  # a pause
    Av[10], Vv[10] = np.nan, np.nan  # neither: no answer, no error
    rows = T.VideoRows("talk", list(np.arange(n, dtype=float)), list(np.arange(n) + 3.0), list(Av), list(Vv))
    short = T.VideoRows("short", [0.0, 1.0], [3.0, 4.0], list(Av[:2]), list(Vv[:2]))
    tables = T.predict_videos(routed, [rows, short])
    t, s = tables
    assert list(t.columns) == T.columns(CLASSES)
    assert list(t.columns) == ["clip_id", "start_s", "end_s", "y_pred", "p_happy", "p_sad", "p_surprise",
                               "modalities", "answered_by"]
    assert t.loc[3, "modalities"] == "visual" and t.loc[10, "modalities"] == "none" and t.loc[10, "y_pred"] == ""
    assert np.isnan(t.loc[10, "p_happy"])
    # a video is one person: its own windows are the reference (3 = min_person_clips of this model)
    assert set(t.drop(index=10)["answered_by"]) == {"person"}
    assert set(s["answered_by"]) == {"person-free"}  # two windows: too few for a reference
    ok = t.drop(index=10)
    assert np.allclose(ok[["p_happy", "p_sad", "p_surprise"]].sum(axis=1), 1, atol=1e-5)
    assert (ok["y_pred"] == ok[["p_happy", "p_sad", "p_surprise"]].idxmax(axis=1).str[2:]).all()
    # the same windows under one --person: pooled, the short video now normalised too
    pooled = T.predict_videos(routed, [rows, short], ["ann", "ann"])
    assert set(pooled[1]["answered_by"]) == {"person"}
    line = T.describe(t, 3)
    assert line.startswith("talk: 12 windows (9 fused, 2 face only, 1 neither)") and "own windows" in line
    fig = T.plot_timeline(tables, CLASSES, out=tmp_path / "t.png",
                          segments=pd.DataFrame({"clip_id": ["talk"], "start_s": [0], "end_s": [6], "label": ["sad"]}))
    assert (tmp_path / "t.png").stat().st_size > 10_000 and len(fig.axes) == 2


def test_bundle_round_trip_keeps_the_branches(routed, tmp_path, monkeypatch):
    """save writes branches/ and model.json's branches and faces; from_dir reads them back."""
    from mer_helpers.predict import model_files

    saved = []
    for clf in [*routed.branches_.values(), *routed.branches_free_.values()]:
        monkeypatch.setattr(clf, "save", lambda d, extra=None, c=clf: saved.append((Path(d).name, extra["modality"])))
    # only the branch part of save is exercised: the featurizers here are stand-ins
    model_dir = tmp_path / "model"
    (model_dir / model_files.BRANCHES_DIR / "stale").mkdir(parents=True)
    monkeypatch.setattr(routed.pipeline_["classify"], "save", lambda d, extra=None: None)
    monkeypatch.setattr(routed.person_free_, "save", lambda d, extra=None: None)
    for _, step in routed.pipeline_["features"].transformer_list:
        monkeypatch.setattr(step.featurizer_, "save", lambda d: None, raising=False)
    routed.save(model_dir)
    assert sorted(saved) == [("audio", "audio"), ("audio_person_free", "audio"),
                             ("visual", "visual"), ("visual_person_free", "visual")]
    assert not (model_dir / model_files.BRANCHES_DIR / "stale").exists()
    meta = fileio.read_json(model_dir / "model.json")
    assert meta["branches"] == ["audio", "visual"] and meta["faces"]["clips_with_face"] == 1.0


# ------------------------------------------------------------------------------------ real bundles

def _run_dir() -> Path | None:
    cands = [os.environ.get("MER_TEST_RUN"), REPO / "runs" / "ci-sample", REPO / "runs" / "sample"]
    for c in cands:
        if c and (Path(c) / "model" / "model.json").exists():
            return Path(c)
    return None


def _mer(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "mer_helpers", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, timeout=1800)


@pytest.mark.slow  # a real bundle on five clips (decoding, MFCC, backbone)
def test_mer_predict_answers_clips_without_a_voice(tmp_path):
    run = _run_dir()
    if run is None or not fileio.read_json(run / "model" / "model.json").get("branches"):
        pytest.skip("no run folder whose bundle has branches (run `mer run --dataset sample --out runs/ci-sample` "
                    "or set MER_TEST_RUN)")
    from mer_helpers.core import media

    src = sorted((REPO / "data" / "sample" / "clips").glob("*.mp4"))[0]
    clips = tmp_path / "clips"
    clips.mkdir()
    media.run_ffmpeg(["-i", str(src), "-an", "-c:v", "copy", str(clips / "no_audio.mp4")], what="no_audio")
    media.run_ffmpeg(["-i", str(src), "-af", "volume=0", "-c:v", "copy", "-c:a", "aac", str(clips / "muted.mp4")],
                     what="muted")
    media.run_ffmpeg(["-i", str(src), "-vn", "-c:a", "copy", str(clips / "voice_only.mp4")], what="voice_only")
    (clips / "both.mp4").write_bytes(src.read_bytes())
    r = _mer("predict", run / "model", clips, "--out", tmp_path / "p.csv")
    assert r.returncode == 0, r.stderr
    df = pd.read_csv(tmp_path / "p.csv").set_index("clip_id")
    assert df.loc[["no_audio", "muted", "voice_only", "both"], "modalities"].tolist() == \
        ["visual", "visual", "audio", "audio+visual"]
    assert "2 by the face alone (no speech), 1 by the voice alone (no face)" in r.stderr
    # the face-only answer is the person-free visual branch on the clip's own visual features
    model = EmotionModel.load(run / "model")
    visual = model.pipeline_["features"].transformer_list[1][1]
    V = visual.featurize_paths([str(clips / "no_audio.mp4")])[0]
    branch = (model.branches_free_ or model.branches_)["visual"]
    np.testing.assert_allclose(df.loc["no_audio", ["p_happy", "p_sad", "p_surprise"]].to_numpy(float),
                               branch.predict_proba_all(V)["bilstm_sa"][0], atol=1e-5)
    assert np.allclose(df.loc["no_audio", ["p_happy", "p_sad", "p_surprise"]].to_numpy(float),
                       df.loc["muted", ["p_happy", "p_sad", "p_surprise"]].to_numpy(float), atol=1e-6)
    # neither: a silent track and no video is an error, named in one line (stop mode: exit 2)
    media.run_ffmpeg(["-i", str(clips / "muted.mp4"), "-vn", "-c:a", "copy", str(tmp_path / "nothing.mp4")],
                     what="nothing")
    r = _mer("predict", run / "model", tmp_path / "nothing.mp4")
    assert r.returncode == 2 and "neither speech nor a face" in r.stderr
    assert len([ln for ln in r.stderr.splitlines() if "nothing.mp4" in ln]) == 1


@pytest.mark.slow  # a real bundle over a 14 s video, window by window
def test_mer_predict_timeline_on_a_video(tmp_path):
    run = _run_dir()
    if run is None or not fileio.read_json(run / "model" / "model.json").get("branches"):
        pytest.skip("no run folder whose bundle has branches (set MER_TEST_RUN)")
    from mer_helpers.core import media
    from mer_helpers.predict.stream import window_grid

    clips = sorted((REPO / "data" / "sample" / "clips").glob("*.mp4"))[:3]
    lst = tmp_path / "list.txt"
    lst.write_text("".join(f"file '{c}'\n" for c in clips))
    video = tmp_path / "talk.mp4"
    media.run_ffmpeg(["-f", "concat", "-safe", "0", "-i", str(lst), "-c", "copy", str(video)], what="concat")
    muted = tmp_path / "pause.mp4"  # the same video with its second half muted
    dur = media.probe(video).duration
    media.run_ffmpeg(["-i", str(video), "-af", f"volume=enable='gte(t,{dur / 2:.2f})':volume=0", "-c:v", "copy",
                      "-c:a", "aac", str(muted)], what="pause")
    r = _mer("predict", run / "model", video, muted, "--timeline", "--out", tmp_path / "t.csv",
             "--plot", tmp_path / "t.png")
    assert r.returncode == 0, r.stderr
    t = pd.read_csv(tmp_path / "t.csv", keep_default_na=False)
    assert list(t.columns) == T.columns(["happy", "sad", "surprise"])
    for name in ("talk", "pause"):
        part = t[t.clip_id == name]
        grid = window_grid(media.probe(tmp_path / f"{name}.mp4").duration, T.WINDOW_S, T.HOP_S)
        assert list(zip(part.start_s, part.end_s)) == [(round(a, 3), round(b, 3)) for a, b in grid]
    pause = t[t.clip_id == "pause"]
    late = pause[pause.start_s >= dur / 2 + 0.1]
    assert len(late) and set(late.modalities) == {"visual"}
    assert set(t[t.clip_id == "talk"].modalities) == {"audio+visual"}
    assert (tmp_path / "t.png").stat().st_size > 10_000
    assert "talk: " in r.stderr and " windows (" in r.stderr
    bad = _mer("predict", run / "model", video, "--timeline", "--hop", "5", "--labels",
               REPO / "data" / "sample" / "labels.csv")
    assert bad.returncode == 1
    lines = bad.stderr.splitlines()
    assert "mer predict: --hop 5: the hop must be above 0 and at most the window (3 s)" in lines
    assert "mer predict: --labels scores whole clips; a timeline has no labels per window (leave out --labels)" in lines
    assert not (tmp_path / "bad.csv").exists()


# ------------------------------------------------------------------------- acceptance (shared data)

def _strong_bundle() -> Path:
    d = os.environ.get("MER_STRONG_BUNDLE")
    if not d or not (Path(d) / "model.json").exists():
        pytest.skip("set MER_STRONG_BUNDLE to the model/ folder of a strong three-class paired run with branches "
                    "(`mer run --dataset paired --preset strong`); not built in CI")
    return Path(d)


def _shared() -> Path:
    d = REPO.parent / "shared" / "data"
    if not (d / "video" / "mead_silent").is_dir() or not (d / "savee").is_dir():
        pytest.skip("../shared/data with video/mead_silent and savee is not present")
    return d


@pytest.mark.slow
def test_segments_video_windows_carry_their_segment(tmp_path):
    bundle, data = _strong_bundle(), _shared()
    r = subprocess.run([sys.executable, str(REPO / "scripts" / "make_timeline_video.py"), "--data-root", data,
                        "--out", tmp_path], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    video = next(tmp_path.glob("*_segments.mp4"))
    r = _mer("predict", bundle, video, "--timeline", "--out", tmp_path / "t.csv")
    assert r.returncode == 0, r.stderr
    t = pd.read_csv(tmp_path / "t.csv")
    seg = pd.read_csv(tmp_path / "segments.csv")
    inside = [(row.y_pred, s.label) for row in t.itertuples() for s in seg.itertuples()
              if row.start_s >= s.start_s - 1e-6 and row.end_s <= s.end_s + 1e-6]
    assert len(inside) >= 15
    assert np.mean([p == lab for p, lab in inside]) >= 0.80


@pytest.mark.slow
def test_silent_mead_clips_are_answered_by_the_face(tmp_path):
    bundle, data = _strong_bundle(), _shared()
    names = {"happy": "happy", "sad": "sad", "surprised": "surprise"}
    clips = sorted(p for p in (data / "video" / "mead_silent").glob("*.mp4") if p.name.split("_")[2] in names)
    assert len(clips) == 9
    pd.DataFrame({"clip_id": [p.stem for p in clips], "path": [str(p) for p in clips],
                  "label": [names[p.name.split("_")[2]] for p in clips],
                  "speaker": [p.name.split("_")[0] for p in clips]}).to_csv(tmp_path / "labels.csv", index=False)
    r = _mer("predict", bundle, *clips, "--labels", tmp_path / "labels.csv", "--out", tmp_path / "p.csv")
    assert r.returncode == 0, r.stderr
    df = pd.read_csv(tmp_path / "p.csv")
    assert set(df.modalities) == {"visual"}
    f1 = float(r.stdout.strip().splitlines()[-1].split("f1_macro=")[1])
    assert f1 >= 0.85
