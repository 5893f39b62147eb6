"""mer_helpers.predict.clips: the bundle applied to clip files (with stand-in featurizers), bad clips
(named in one line each; `--on-bad-input stop|skip`), a tiny real bundle in skip mode (slow) and
the reproduction of a run's final-model predictions by `mer predict` (slow, needs a run)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pandas as pd
import pytest

keras = pytest.importorskip("keras")

from mer_helpers.core import fileio  # noqa: E402
from mer_helpers.core import media  # noqa: E402
from mer_helpers.methods import models as M  # noqa: E402
from mer_helpers.methods import networks, sequencers  # noqa: E402
from mer_helpers.predict import emotion_model  # noqa: E402
from mer_helpers.predict import model_files  # noqa: E402
from mer_helpers.predict import clips as P  # noqa: E402
from mer_helpers.predict import inputs

REPO = Path(__file__).resolve().parent.parent
CLASSES = ["happy", "sad", "surprise"]
_real_check_clip = inputs.check_clip


class _FakeFeaturizer:
    """Test double of Audio/VisualFeaturizer: a 'clip' is a JSON file holding its features
    (``"fail_audio"`` / ``"fail_visual"``: that branch raises a MediaError for the clip)."""

    modality = "audio"

    def __init__(self, offset=0.0):
        self.offset = offset

    def save(self, directory):
        Path(directory).mkdir(parents=True, exist_ok=True)
        fileio.write_json(Path(directory) / "fake.json", {"offset": self.offset, "modality": self.modality})

    @classmethod
    def load(cls, directory):
        rec = fileio.read_json(Path(directory) / "fake.json")
        assert rec["modality"] == cls.modality, f"{directory}: wrong featurizer folder"
        return cls(rec["offset"])

    def transform_paths(self, paths, n_jobs=1, progress=True):
        recs = [json.loads(Path(p).read_text()) for p in paths]
        for p, rec in zip(paths, recs):
            if f"fail_{self.modality}" in rec:
                raise media.MediaError(f"clip {Path(p).name}: {rec[f'fail_{self.modality}']}")
        rows = [rec[self.modality] for rec in recs]
        X = np.asarray(rows, dtype=np.float32) + self.offset
        cols = [f"{self.modality}:fake_mean:{i}" for i in range(X.shape[1])]
        return X, cols, [np.tile(x, (3, 1)) for x in X]


class _FakeAudio(_FakeFeaturizer):
    modality = "audio"


class _FakeVisual(_FakeFeaturizer):
    modality = "visual"


def _fake_fuse(audio_X, audio_columns, visual_X, visual_columns):
    return np.concatenate([audio_X, visual_X], axis=1), list(audio_columns) + list(visual_columns)


def _fake_check_clip(path, **kwargs):
    """A JSON 'clip' of the fake chain passes the up-front check; anything else is probed."""
    try:
        if "audio" in json.loads(Path(path).read_text()):
            return None
    except (OSError, ValueError, TypeError):
        pass
    return _real_check_clip(path, **kwargs)


@pytest.fixture
def fake_chain(monkeypatch):
    monkeypatch.setattr(inputs, "check_clip", _fake_check_clip)
    # where the model folder's reader and EmotionModel look them up
    for module, name, fake in ((model_files, "AudioFeaturizer", _FakeAudio), (model_files, "VisualFeaturizer", _FakeVisual),
                               (emotion_model, "fuse", _fake_fuse)):
        monkeypatch.setattr(module, name, fake)


def _make_bundle(tmp_path, rng, n=30, mode="features"):
    """Clip files + a bundle trained on them; returns (model_dir, clip paths, labels, fused X, columns)."""
    clips = tmp_path / "clips"
    (clips / "sub").mkdir(parents=True)
    y = np.arange(n) % 3
    paths = []
    for i in range(n):
        a = rng.normal(size=4) + (y[i] == 0) * 3
        v = rng.normal(size=5) - (y[i] == 2) * 3
        p = clips / ("sub" if i % 2 else "") / f"clip{i:02d}.mp4"
        p.write_text(json.dumps({"audio": a.tolist(), "visual": v.tolist()}))
        paths.append(p)
    (clips / "notes.txt").write_text("not a clip")
    model_dir = tmp_path / "model"
    _FakeAudio(0.5).save(model_dir / "audio")
    _FakeVisual(-0.5).save(model_dir / "visual")
    Xa, ca, _ = _FakeAudio(0.5).transform_paths(paths)
    Xv, cv, _ = _FakeVisual(-0.5).transform_paths(paths)
    X, cols = _fake_fuse(Xa, ca, Xv, cv)
    selected = [cols[0], cols[1], cols[4], cols[6], cols[8]]
    fileio.write_json(model_dir / "selection" / "selection.json",
                  {"columns": cols, "support": [c in selected for c in cols], "selected": selected})
    if mode == "temporal":
        _, _, sa = _FakeAudio(0.5).transform_paths(paths)
        _, _, sv = _FakeVisual(-0.5).transform_paths(paths)
        seq = sequencers.TemporalSequencer(4, sequencers.sequence_dims(selected, "audio"), sequencers.sequence_dims(selected, "visual"))
        Xin = seq.fit_transform(sa, sv)
    else:
        seq = sequencers.FeatureSequencer(steps=3).fit(X[:, [cols.index(c) for c in selected]])
        Xin = seq.transform(X[:, [cols.index(c) for c in selected]])
    # untrained (seeded) models: the chain, not the training, is under test here
    keras.utils.set_random_seed(0)
    models = {m: networks.build_model(m, Xin.shape[1:], 3, units=4, heads=2) for m in ("bilstm_sa", "cnn")}
    M.SequenceClassifier.from_fitted(CLASSES, selected, seq, models).save(model_dir)
    labels = pd.DataFrame({"clip_id": [p.stem for p in paths], "path": [str(p) for p in paths],
                           "label": [CLASSES[i] for i in y], "speaker": "s"})
    return model_dir, paths, labels, X, cols


def test_expand_clips(tmp_path):
    (tmp_path / "a").mkdir()
    for name in ("x.mp4", "y.AVI", "z.flv", "w.mkv", "readme.txt"):
        (tmp_path / "a" / name).write_text("-")
    got = inputs.expand_clips([str(tmp_path / "a")])
    assert [p.name for p in got] == ["w.mkv", "x.mp4", "y.AVI", "z.flv"]
    with pytest.raises(FileNotFoundError, match="nope.mp4"):
        inputs.expand_clips([str(tmp_path / "nope.mp4")])
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="empty"):
        inputs.expand_clips([str(tmp_path / "empty")])


@pytest.mark.slow  # builds and trains a small bundle
def test_predict_clips_applies_the_whole_chain(tmp_path, fake_chain):
    model_dir, paths, labels, X, cols = _make_bundle(tmp_path, np.random.default_rng(0))
    df = P.predict_clips(model_dir, paths)
    assert list(df.columns[:5]) == ["clip_id", "path", "y_pred", "p_happy", "p_sad"]
    assert "cnn:p_surprise" in df.columns and "bilstm_sa:y_pred" in df.columns
    assert df.clip_id.tolist() == [p.stem for p in paths]
    # same numbers as the bundle applied to the fused features directly
    bundle = M.SequenceClassifier.load(model_dir)
    expected = bundle.proba_from_inputs(bundle.inputs(X, cols))
    np.testing.assert_allclose(df[["p_happy", "p_sad", "p_surprise"]].to_numpy(), expected["bilstm_sa"], atol=1e-6)
    np.testing.assert_allclose(df[["cnn:p_happy", "cnn:p_sad", "cnn:p_surprise"]].to_numpy(), expected["cnn"], atol=1e-6)
    assert (df.y_pred == [CLASSES[i] for i in expected["bilstm_sa"].argmax(1)]).all()


@pytest.mark.slow  # builds and trains a small bundle
def test_predict_clips_temporal_bundle(tmp_path, fake_chain):
    model_dir, paths, _, _, _ = _make_bundle(tmp_path, np.random.default_rng(4), n=12, mode="temporal")
    meta = fileio.read_json(model_dir / "bundle.json")
    assert meta["sequence_layout"]["mode"] == "temporal" and meta["sequence_layout"]["step_dim"] == 5
    df = P.predict_clips(model_dir, paths)
    bundle = M.SequenceClassifier.load(model_dir)
    _, _, sa = _FakeAudio(0.5).transform_paths(paths)
    _, _, sv = _FakeVisual(-0.5).transform_paths(paths)
    expected = bundle.proba_from_inputs(bundle.inputs(audio_sequences=sa, visual_sequences=sv))["bilstm_sa"]
    np.testing.assert_allclose(df[["p_happy", "p_sad", "p_surprise"]].to_numpy(), expected, atol=1e-6)


@pytest.mark.slow  # builds and trains a small bundle
def test_predict_cli_scores_against_labels(tmp_path, fake_chain, capsys):
    model_dir, paths, labels, _, _ = _make_bundle(tmp_path, np.random.default_rng(1))
    labels.to_csv(tmp_path / "labels.csv", index=False)
    out = tmp_path / "pred.csv"
    rc = P.predict_cli(model_dir, [str(tmp_path / "clips")], labels=str(tmp_path / "labels.csv"), out=str(out))
    assert rc == 0
    lines = capsys.readouterr().out.strip().splitlines()
    pred = pd.read_csv(out)
    assert len(pred) == len(paths)  # notes.txt skipped, sub-folder included
    merged = pred.merge(labels[["clip_id", "label"]], on="clip_id")
    acc = (merged.label == merged.y_pred).mean()
    from sklearn.metrics import f1_score

    f1 = f1_score(merged.label, merged.y_pred, average="macro")
    assert lines[-1] == f"accuracy={acc:.4f} f1_macro={f1:.4f}"
    # printing to stdout: CSV then the score line last
    rc = P.predict_cli(model_dir, [str(paths[0])], labels=str(tmp_path / "labels.csv"))
    lines = capsys.readouterr().out.strip().splitlines()
    assert rc == 0 and lines[0].startswith("clip_id,path,y_pred") and lines[-1].startswith("accuracy=")
    # an inconsistent bundle is refused with the file named
    sel = fileio.read_json(model_dir / "selection" / "selection.json")
    sel["selected"] = sel["selected"][:-1]
    fileio.write_json(model_dir / "selection" / "selection.json", sel)
    assert P.predict_cli(model_dir, [str(paths[0])]) == 1
    assert _problems(capsys.readouterr().err)[0].startswith(f"mer predict: {model_dir / 'selection' / 'selection.json'}: ")


def _bad_clips(folder: Path) -> dict[str, Path]:
    """A text file named .mp4 and a zero-byte .mp4 in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "text.mp4").write_text("this is not a video\n" * 20)
    (folder / "zero.mp4").write_bytes(b"")
    return {"text": folder / "text.mp4", "zero": folder / "zero.mp4"}


def _lines_naming(err: str, path) -> list[str]:
    return [line for line in _problems(err) if str(path) in line]


def _problems(err: str) -> list[str]:
    """stderr without progress lines and the note on a bundle saved without checksums."""
    return [line for line in err.strip().splitlines()
            if not line.startswith(("[mer predict]", "mer predict: note: "))]


def test_check_clip_reasons(tmp_path, tiny_clip_factory):
    bad = _bad_clips(tmp_path)
    assert inputs.check_clip(bad["zero"]) == "zero-byte file (empty)"
    reason = inputs.check_clip(bad["text"])
    assert reason.startswith("unreadable: not a media file or corrupt (") and "\n" not in reason
    assert str(tmp_path) not in reason
    assert inputs.check_clip(tiny_clip_factory()) is None
    assert inputs.check_clip(tiny_clip_factory(audio=False)) == "no audio stream"
    assert inputs.check_clip(tiny_clip_factory(video=False)) == "no video stream"
    assert list(inputs.check_clips([bad["text"], tiny_clip_factory(), bad["zero"]])) == [str(bad["text"]), str(bad["zero"])]


@pytest.mark.slow  # builds and trains a small bundle
def test_predict_cli_bad_clips_stop_and_skip(tmp_path, fake_chain, capsys):
    model_dir, paths, labels, _, _ = _make_bundle(tmp_path, np.random.default_rng(2), n=12)
    bad = _bad_clips(tmp_path / "clips")
    late = tmp_path / "clips" / "late.mp4"  # passes the up-front check, fails in the visual branch
    late.write_text(json.dumps({"audio": [0.0] * 4, "visual": [0.0] * 5, "fail_visual": "decoder gave up"}))
    labels.to_csv(tmp_path / "labels.csv", index=False)
    out = tmp_path / "pred.csv"
    args = (model_dir, [str(tmp_path / "clips")])

    # stop: every bad clip named once, status 2, nothing written
    assert P.predict_cli(*args, out=str(out)) == 2
    err = capsys.readouterr().err
    for p in bad.values():
        assert len(_lines_naming(err, p)) == 1
    assert "mer predict: " + str(bad["zero"]) + ": zero-byte file (empty)" in err.splitlines()
    assert len(_problems(err)) == 2 and not out.exists()  # stopped before extraction

    # skip: the others predicted, the bad ones listed in the CSV, status 3, score over the good ones
    rc = P.predict_cli(*args, out=str(out), labels=str(tmp_path / "labels.csv"), on_bad_input="skip")
    cap = capsys.readouterr()
    assert rc == P.EXIT_SOME_FAILED == 3
    assert len(_problems(cap.err)) == 3
    assert _lines_naming(cap.err, late) == [f"mer predict: {late}: decoder gave up"]
    pred = pd.read_csv(out, keep_default_na=False)
    assert len(pred) == len(paths) + 3 and list(pred.columns[:3]) == ["clip_id", "path", "y_pred"]
    assert pred.columns[-1] == "error"
    failed = pred[pred.error != ""]
    assert sorted(failed.clip_id) == ["late", "text", "zero"] and (failed.y_pred == "").all()
    assert (failed.p_happy == "").all()
    good = pred[pred.error == ""]
    assert (good.y_pred != "").all() and len(good) == len(paths)
    # rows keep the order of the clips (sorted folder listing)
    assert pred.path.tolist() == [str(p.resolve()) for p in inputs.expand_clips([str(tmp_path / "clips")])]
    merged = good.merge(labels[["clip_id", "label"]], on="clip_id")
    assert cap.out.strip().splitlines()[-1].startswith(f"accuracy={(merged.label == merged.y_pred).mean():.4f} ")

    # the same clips predicted alone give the same numbers (the clip-by-clip retry is exact)
    alone = P.predict_clips(model_dir, paths)
    np.testing.assert_allclose(good.sort_values("clip_id")["p_sad"].astype(float),
                               alone.sort_values("clip_id")["p_sad"], atol=1e-5)

    # a late failure in stop mode: named, status 2
    assert P.predict_cli(model_dir, [str(paths[0]), str(late)], out=str(tmp_path / "p2.csv")) == 2
    assert _problems(capsys.readouterr().err) == [f"mer predict: {late}: decoder gave up"]
    # every clip bad, skip: the CSV still lists them
    more = pd.concat([labels, pd.DataFrame({"clip_id": ["text", "zero"], "label": ["sad", "happy"]})])
    more.to_csv(tmp_path / "labels2.csv", index=False)
    rc = P.predict_cli(model_dir, [str(bad["text"]), str(bad["zero"])], out=str(tmp_path / "p3.csv"),
                       labels=str(tmp_path / "labels2.csv"), on_bad_input="skip")
    cap = capsys.readouterr()
    assert rc == 3 and cap.out.strip().splitlines()[-1] == "accuracy=nan f1_macro=nan"
    assert pd.read_csv(tmp_path / "p3.csv").clip_id.tolist() == ["text", "zero"]
    # labels that list none of the clips: named before any clip is decoded
    rc = P.predict_cli(model_dir, [str(bad["text"]), str(bad["zero"])], labels=str(tmp_path / "labels.csv"))
    assert rc == 1 and _problems(capsys.readouterr().err) == [
        f"mer predict: {tmp_path / 'labels.csv'}: none of the 2 clips is listed (matched by path, then by "
        "clip_id = file name without extension)"]


def _tiny_real_bundle(tmp_path, clips: list[Path]) -> Path:
    """A bundle of the real featurizers (small autoencoder, random-init MobileNetV2, untrained
    classifiers) fitted on ``clips``: the chain, not the accuracy, is under test."""
    from mer_helpers.methods.audio import extract_mfcc
    from mer_helpers.methods.audio_featurizer import AudioFeaturizer
    from mer_helpers.methods.fusion import fuse
    from mer_helpers.methods.summary import SummaryImages
    from mer_helpers.methods.visual import VisualFeaturizer

    model_dir = tmp_path / "model"
    audio = AudioFeaturizer(epochs=2, batch_size=64, progress=False, random_state=0)
    audio.fit(extract_mfcc([str(p) for p in clips], n_jobs=1, progress=False, **audio.front_end()))
    visual = VisualFeaturizer(SummaryImages("average", frame_size=32), frame_interval=10, frame_size=32,
                              face_detect=False, backbone="mobilenet_v2", backbone_weights="none", seed=0)
    Xa, ca, _ = audio.transform_paths([str(p) for p in clips], progress=False)
    Xv, cv, _ = visual.transform_paths([str(p) for p in clips], progress=False)
    X, cols = fuse(Xa, ca, Xv, cv)
    selected = cols[:6] + cols[len(ca):len(ca) + 6]
    audio.save(model_dir / "audio")
    visual.save(model_dir / "visual")
    fileio.write_json(model_dir / "selection" / "selection.json", {"selected": selected})
    seq = sequencers.FeatureSequencer(steps=3).fit(X[:, [cols.index(c) for c in selected]])
    Xin = seq.transform(X[:, [cols.index(c) for c in selected]])
    keras.utils.set_random_seed(0)
    models = {m: networks.build_model(m, Xin.shape[1:], 3, units=4, heads=2) for m in ("bilstm_sa", "cnn")}
    M.SequenceClassifier.from_fitted(CLASSES, selected, seq, models).save(model_dir)
    return model_dir


@pytest.mark.slow
def test_mer_predict_skip_mode_with_a_real_bundle(tmp_path, isolated_cache):
    sample = sorted((REPO / "data" / "sample" / "clips").glob("*.mp4"))
    if len(sample) < 3:
        pytest.skip("data/sample/clips holds fewer than 3 clips")
    model_dir = _tiny_real_bundle(tmp_path, sample[:3])
    folder = tmp_path / "new"
    good = folder / sample[0].name
    folder.mkdir()
    good.write_bytes(sample[0].read_bytes())
    bad = _bad_clips(folder)
    expected = [f"mer predict: {p}: {inputs.check_clip(p)}" for p in (bad["text"], bad["zero"])]
    out = tmp_path / "pred.csv"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "MER_CACHE_DIR": str(isolated_cache)}
    res = subprocess.run([sys.executable, "-m", "mer_helpers", "predict", str(model_dir), str(folder),
                          "--out", str(out), "--on-bad-input", "skip"],
                         capture_output=True, text=True, env=env, cwd=REPO, timeout=600)
    assert res.returncode == 3, res.stderr[-3000:]
    assert "Traceback" not in res.stderr
    assert [line for line in _problems(res.stderr) if "mer predict:" in line] == expected
    pred = pd.read_csv(out, keep_default_na=False)
    assert pred.clip_id.tolist() == [good.stem, "text", "zero"]
    assert pred.y_pred[0] in CLASSES and pred.error[0] == ""
    assert (pred.y_pred[1:] == "").all() and pred.error[1].startswith("unreadable: not a media file")
    assert pred.error[2] == "zero-byte file (empty)"
    # stop mode: named, status 2, no model work
    res = subprocess.run([sys.executable, "-m", "mer_helpers", "predict", str(model_dir), str(folder)],
                         capture_output=True, text=True, env=env, cwd=REPO, timeout=600)
    assert res.returncode == 2 and _problems(res.stderr) == expected


def _find_run() -> Path | None:
    cands = [os.environ.get("MER_TEST_RUN"), REPO / "runs" / "ci-sample", REPO / "runs" / "sample"]
    for c in cands:
        if c and (Path(c) / "artifacts" / "predictions" / "final_train.csv").exists() \
                and (Path(c) / "model" / "bundle.json").exists():
            return Path(c)
    return None


@pytest.mark.slow
def test_mer_predict_reproduces_final_train_predictions(tmp_path):
    run = _find_run()
    if run is None:
        pytest.skip("no run folder with model/ and artifacts/predictions/final_train.csv "
                    "(run `mer run --dataset sample --out runs/sample` or set MER_TEST_RUN)")
    for sub in ("audio", "visual", "selection"):
        if not (run / "model" / sub).is_dir():
            pytest.skip(f"{run / 'model' / sub}: missing from the bundle (stage not written yet)")
    ref = pd.read_csv(run / "artifacts" / "predictions" / "final_train.csv", dtype={"clip_id": str})
    labels = pd.read_csv(run / "artifacts" / "labels.csv", dtype={"clip_id": str})
    paths = labels.set_index("clip_id").loc[ref.clip_id, "path"].tolist()
    out = tmp_path / "pred.csv"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    # grouped by speaker, as the run's final split was normalised (every clip of a person)
    res = subprocess.run([sys.executable, "-m", "mer_helpers", "predict", str(run / "model"), *paths,
                          "--labels", str(run / "artifacts" / "labels.csv"), "--out", str(out),
                          "--person-column", "speaker"],
                         capture_output=True, text=True, env=env, cwd=REPO, timeout=1200)
    assert res.returncode == 0, res.stderr[-3000:]
    assert res.stdout.strip().splitlines()[-1].startswith("accuracy=")
    got = pd.read_csv(out, dtype={"clip_id": str})
    # clip ids of the run may differ from file stems: align by path order
    assert len(got) == len(ref)
    pcols = [c for c in ref.columns if c.startswith("p_") or ":p_" in c]
    np.testing.assert_allclose(got[pcols].to_numpy(), ref[pcols].to_numpy(), atol=2e-3)
    assert (got["y_pred"].to_numpy() == ref["y_pred"].to_numpy()).mean() >= 0.98
    last = dict(kv.split("=") for kv in res.stdout.strip().splitlines()[-1].split())
    acc = (ref.y_true.astype(str) == ref.y_pred.astype(str)).mean()
    assert abs(float(last["accuracy"]) - acc) <= 0.02 + 1e-9


def _person_norm_bundle(tmp_path, rng, n=30):
    """:func:`_make_bundle` turned into a person-normalised bundle: its classifier reads features
    z-scored per person (audio) and centred (visual); a second, differently seeded bundle is the
    person-free classifier. Returns (model_dir, paths, X plain, cols, main bundle, person-free bundle)."""
    from mer_helpers.predict.model_files import PERSON_FREE_DIR

    model_dir, paths, _, X, cols = _make_bundle(tmp_path, rng, n=n)
    meta = fileio.read_json(model_dir / "bundle.json")
    bundle = M.SequenceClassifier.load(model_dir)
    keras.utils.set_random_seed(7)
    free_models = {m: networks.build_model(m, (3, 2), 3, units=4, heads=2) for m in ("bilstm_sa", "cnn")}
    free = M.SequenceClassifier.from_fitted(CLASSES, meta["selected_columns"], bundle.sequencer_, free_models)
    free.save(model_dir / PERSON_FREE_DIR)
    fileio.write_json(model_dir / "model.json", {
        "format": "mer-emotion-model", "version": 1, "classes": CLASSES, "select": "zebra",
        "sequence_mode": "features", "n_columns": len(cols),
        "person_norm": {"audio": "zscore", "visual": "center", "min_person_clips": 4}})
    return model_dir, paths, X, cols, bundle, free


@pytest.mark.slow  # builds two small bundles
def test_predict_person_reference_and_fallback(tmp_path, fake_chain, capsys):
    from mer_helpers.methods import person

    model_dir, paths, X, cols, bundle, free = _person_norm_bundle(tmp_path, np.random.default_rng(5))
    who = ["ann"] * 6 + ["bob"] * 3 + [None] * 21  # ann has a reference, bob too few clips, the rest unknown
    df = P.predict_clips(model_dir, paths, persons=who)
    assert df["answered_by"].tolist() == ["person"] * 6 + ["person-free"] * 24
    assert df["person"].tolist()[:9] == ["ann"] * 6 + ["bob"] * 3 and set(df["person"][9:]) == {""}
    pcols = ["p_happy", "p_sad", "p_surprise"]
    Z = person.normalize_fused(X[:6], cols, ["ann"] * 6, "zscore", "center")
    np.testing.assert_allclose(df[pcols].to_numpy()[:6],
                               bundle.proba_from_inputs(bundle.inputs(Z, cols))["bilstm_sa"], atol=1e-6)
    np.testing.assert_allclose(df[pcols].to_numpy()[6:],
                               free.proba_from_inputs(free.inputs(X[6:], cols))["bilstm_sa"], atol=1e-6)
    # one clip of a stranger: the person-free model answers, and the command says so
    rc = P.predict_cli(model_dir, [str(paths[0])], person="carol")
    cap = capsys.readouterr()
    pred = pd.read_csv(StringIO(cap.out))
    assert rc == 0 and pred["answered_by"].tolist() == ["person-free"] and pred["person"].tolist() == ["carol"]
    assert "0 clip(s) answered with their person's own statistics, 1 by the person-free model" in cap.err
    assert "fewer than 4 clips: carol" in cap.err
    np.testing.assert_allclose(pred[pcols].to_numpy()[0],
                               free.proba_from_inputs(free.inputs(X[:1], cols))["bilstm_sa"][0], atol=1e-5)
    # --person-column from the labels file: every clip of one speaker (30 >= 4) has a reference
    lab = pd.DataFrame({"clip_id": [p.stem for p in paths], "label": "happy", "speaker": "dan"})
    lab.to_csv(tmp_path / "labels.csv", index=False)
    out = tmp_path / "pred.csv"
    rc = P.predict_cli(model_dir, [str(p) for p in paths], labels=str(tmp_path / "labels.csv"), out=str(out),
                       person_column="speaker")
    got = pd.read_csv(out)
    assert rc == 0 and set(got["answered_by"]) == {"person"} and set(got["person"]) == {"dan"}
    # a column the labels file does not have is named before anything is predicted
    assert P.predict_cli(model_dir, [str(paths[0])], labels=str(tmp_path / "labels.csv"),
                         person_column="subject") == 1
    assert "labels.csv: no 'subject' column for --person-column" in capsys.readouterr().err
    assert P.predict_cli(model_dir, [str(paths[0])], person_column="speaker") == 1
    assert "--person-column 'speaker' needs --labels" in capsys.readouterr().err
