"""The package functions the notebooks' cells call (issue 14): per-split runners, fragment
builders, the run comparison of notebook 07 and the grey-pixel artifact it reads."""
from __future__ import annotations

import json

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest

from mer_helpers.core import fileio
from mer_helpers.data import splits as splitting
from mer_helpers.methods import frames, fusion
from mer_helpers.stages import audio_autoencoder, feature_selection, results, summary_images
from synthetic import make_synthetic_artifacts


# ----------------------------------------------------------------------------- notebook 07: compare_runs

def _fake_run(root, name, protocol, f1, acc=0.5, ref=None):
    d = root / name
    d.mkdir()
    metrics = {"protocol": protocol, "models": {"bilstm_sa": {"accuracy": acc, "accuracy_std": 0.1, "f1_macro": f1},
                                                 "cnn": {"accuracy": acc - 0.1, "f1_macro": f1 - 0.1}}}
    if ref is not None:
        metrics["reference"] = {"logreg_f1_macro": ref}
    (d / "metrics.json").write_text(json.dumps(metrics))
    return d


def test_compare_runs_reads_only_the_runs_named(tmp_path):
    a = _fake_run(tmp_path, "cv", "speaker-cv", 0.40, ref=0.45)
    b = _fake_run(tmp_path, "random", "random-split", 0.80)
    _fake_run(tmp_path, "sibling", "random-split", 0.99)  # next to the others, never named
    gap = results.compare_runs([a, b], models=["bilstm_sa", "cnn", "bilstm"])
    assert gap["run"].tolist() == ["cv", "cv", "cv", "random", "random"]
    assert "sibling" not in set(gap["run"])
    f1 = gap.set_index(["run", "model"])["f1_macro"]
    assert f1["cv", "BiLSTM-SA"] == 0.40 and f1["random", "BiLSTM-SA"] == 0.80
    assert f1["cv", "CNN"] == pytest.approx(0.30)
    assert f1["cv", "logistic regression (reference)"] == 0.45
    assert np.isnan(gap.set_index(["run", "model"]).loc[("cv", "CNN"), "accuracy_std"])  # not in the file
    assert gap.pivot(index="model", columns=["protocol", "run"], values="f1_macro").shape == (3, 2)


def test_compare_runs_current_run_wins_over_its_file_and_is_taken_once(tmp_path):
    here = _fake_run(tmp_path, "here", "speaker-cv", 0.10, ref=0.99)  # a stale metrics.json
    other = _fake_run(tmp_path, "other", "random-split", 0.70)
    current = {"protocol": "speaker-cv", "models": {"bilstm_sa": {"accuracy": 0.6, "f1_macro": 0.55}},
               "reference": {"logreg_f1_macro": None}}
    gap = results.compare_runs([other, here], models=["bilstm_sa"], current=(here, current))
    assert gap["run"].tolist() == ["here", "other"]
    assert gap["f1_macro"].tolist() == [0.55, 0.70]  # the stale 0.10 and reference 0.99 are not read


def test_compare_runs_names_a_folder_without_metrics(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="empty: no metrics.json"):
        results.compare_runs([tmp_path / "empty"])
    assert results.compare_runs([]).empty


def test_protocol_gap_hint_names_the_other_protocol_and_compare_runs(tmp_path):
    text = results.protocol_gap_hint("paired", "/data", tmp_path / "run", "speaker-cv", "imagenet")
    assert "--protocol random-split" in text and "compare_runs" in text
    assert f"['{tmp_path / 'run-random-split'}']" in text
    assert "--protocol speaker-cv" in results.protocol_gap_hint("sample", None, tmp_path / "r", "random-split", "none")


def _summary(acc=0.5, f1=0.4):
    return {"accuracy": acc, "accuracy_std": 0.05, "f1_macro": f1, "f1_macro_std": 0.02, "n_splits": 5,
            "precision_weighted": 0.51, "recall_weighted": acc, "f1_weighted": 0.45, "auc_ovr": 0.7,
            "confusion": [[1, 0], [0, 1]], "not_kept": 1}


def test_results_fragment_and_beside_papers():
    splits = {"splits": [{"name": "fold0"}, {"name": "fold1"}, {"name": "final"}]}
    mcn = pd.DataFrame([{"a": "BiLSTM-SA", "b": "CNN", "p": 0.5}])
    plain = {"mfcc": {"f1_macro": 0.3, "f1_macro_std": 0.1, "per_split": [0.2, 0.4]}}
    frag = results.results_fragment(splits, {"bilstm_sa": _summary()}, mcn, plain, ["bilstm_sa"])
    assert frag["folds"] == 2
    assert "not_kept" not in frag["models"]["bilstm_sa"] and frag["models"]["bilstm_sa"]["f1_macro"] == 0.4
    assert frag["significance"]["mcnemar"] == [{"a": "BiLSTM-SA", "b": "CNN", "p": 0.5}]
    assert frag["plain_references"] == {"mfcc": {"f1_macro": 0.3, "f1_macro_std": 0.1}}
    side = results.beside_papers({"bilstm_sa": _summary(acc=0.5)}, ["bilstm_sa"])
    paper_acc = results.papers_table().loc["BiLSTM-SA", "accuracy"]
    assert side.loc["difference (accuracy)", "BiLSTM-SA"] == round(0.5 - paper_acc, 3)


def test_run_facts_reference_and_sanity_rows():
    ctx = {"backbone_weights": "none", "protocol": "speaker-cv", "n_splits": 2, "shared_speakers_per_split": [0, 0],
           "sanity": {"audio_logreg_f1_macro": 0.41, "audio_logreg_f1_macro_std": 0.1}}
    facts = results.run_facts(ctx, {"bilstm_sa": _summary(f1=0.4)}, reference_f1=0.456)
    assert "speakers in both training and test: [0, 0]" in facts.loc["protocol", "this run"]
    assert facts.loc["features vs classifier", "this run"].startswith("logistic regression")
    assert "0.456 vs BiLSTM-SA 0.400" in facts.loc["features vs classifier", "this run"]
    assert facts.loc["signal per modality", "this run"].endswith("audio_logreg 0.41")
    assert "features vs classifier" not in results.run_facts(ctx, {}, None).index


# ----------------------------------------------------------------------------- grey pixels (03 -> 07)

def test_grey_pixels_round_trip_in_requested_order(tmp_path):
    rng = np.random.default_rng(0)
    clips = [rng.integers(0, 256, (n, 16, 16, 3), dtype=np.uint8) for n in (2, 3, 1)]
    frames.write_grey_pixels(tmp_path, ["a", "b", "c"], frames.grey_means(clips, size=4), size=4)
    X = frames.load_grey_pixels(tmp_path, ["c", "a"], size=4)
    assert X.shape == (2, 16) and X.dtype == np.float64
    assert np.array_equal(X, frames.grey_means([clips[2], clips[0]], size=4))
    flat = np.full((1, 8, 8, 3), 255, np.uint8)
    assert np.allclose(frames.grey_means([flat], size=2), 1.0)
    with pytest.raises(ValueError, match="4 x 4 thumbnails, not 32 x 32"):
        frames.load_grey_pixels(tmp_path, ["a"], size=32)
    with pytest.raises(ValueError, match="no row for 1 clip"):
        frames.load_grey_pixels(tmp_path, ["a", "zz"], size=4)
    with pytest.raises(FileNotFoundError, match="notebook 03"):
        frames.load_grey_pixels(tmp_path / "nowhere", ["a"])


def test_frames_at_picks_fractions_of_the_decoded_frames(tiny_clip_factory):
    clip = tiny_clip_factory(seconds=1.0, fps=10, size=32)
    decoded, n = frames._read_opencv(str(clip), 1)
    got = frames.frames_at(clip, (0.0, 0.5, 1.0))
    assert len(got) == 3 and got[0].shape == decoded[0].shape
    assert np.array_equal(got[1], decoded[int(0.5 * len(decoded))])
    assert np.array_equal(got[2], decoded[-1])  # f = 1: the last frame, not past the end
    assert frames.frames_at(clip.parent / "missing.mp4") == [None, None, None]


def test_describe_sampling_counts():
    rep = pd.DataFrame({"n_frames": [4, 6], "n_face": [4, 2], "n_carried": [0, 3], "n_centre": [0, 1],
                        "n_kept": [4, 2]})
    text = summary_images.describe_sampling(rep, 2.0, face_detect=True, face_only=True)
    assert text.splitlines()[0].startswith("10 frames from 2 clips in 2.0 s (100.0 s per 100 clips)")
    assert "6 frames with a detected face, 3 carried" in text
    assert "face_only: 6 of 10 frames" in text
    assert len(summary_images.describe_sampling(rep, 2.0, face_detect=False, face_only=False).splitlines()) == 1


# ----------------------------------------------------------------------------- per-split tables

def test_describe_splits_train_frames_column():
    labels = pd.DataFrame({"clip_id": list("abcd"), "speaker": ["s1", "s1", "s2", "s3"],
                           "label": ["happy", "sad", "happy", "sad"]})
    sp = {"classes": ["happy", "sad"], "splits": [{"name": "fold0", "train": ["a", "b", "c"], "test": ["d"]},
                                                  {"name": "final", "train": list("abcd"), "test": []}]}
    t = splitting.describe_splits(sp, labels, frames={"a": 10, "b": 20, "c": 5, "d": 7})
    assert t.loc["fold0", "train frames"] == 35 and t.loc["final", "train frames"] == 42
    assert t.loc["fold0", "train speakers"] == 2 and t.loc["fold0", "shared speakers"] == 0
    assert "train frames" not in splitting.describe_splits(sp, labels).columns


# ----------------------------------------------------------------------------- notebook 02

def test_audio_run_split_writes_the_split_and_scores(tmp_path):
    rng = np.random.default_rng(0)
    ids = [f"c{i}" for i in range(12)]
    y_of = {c: ("happy" if i % 2 else "sad") for i, c in enumerate(ids)}
    mfcc = {c: rng.normal(1.0 if y_of[c] == "happy" else -1.0, 1.0, (20 + i, 13)).astype(np.float32)
            for i, c in enumerate(ids)}
    splits = [{"name": "fold0", "train": ids[:8], "test": ids[8:]}, {"name": "final", "train": ids, "test": []}]
    params = audio_autoencoder.featurizer_params(audio_features="mfcc_stats", seed=0)
    results = {s["name"]: audio_autoencoder.run_split(tmp_path, s, mfcc, **params) for s in splits}
    r = results["fold0"]
    assert r.clip_ids == ids and r.X.shape[0] == 12
    assert r.info["n_train_clips"] == 8 and r.info["dead_units"] is None and r.alt_features == {}
    got_ids, X, cols = fileio.load_features(tmp_path / "audio" / "fold0" / "features.npz")
    assert list(got_ids) == ids and np.allclose(X, r.X) and list(cols) == r.columns
    assert set(fileio.load_sequences(tmp_path / "audio" / "fold0" / "sequences.npz")) == set(ids)
    assert fileio.read_json(tmp_path / "audio" / "fold0" / "history.json")["n_train_clips"] == 8
    san = audio_autoencoder.sanity_check(mfcc, results, y_of, splits[:1], audio_features="mfcc_stats", seed=0)
    assert san.used == "mfcc_stats (used)"
    assert list(san.per_fold.columns) == [audio_autoencoder.BASELINE, "MFCC full stats", "mfcc_stats (used)"]
    assert san.f1 == pytest.approx(float(san.per_fold["mfcc_stats (used)"].iloc[0]))
    assert san.summary().loc[audio_autoencoder.BASELINE, "n_values"] == 26
    frag = audio_autoencoder.metrics_fragment(results, {"timings_s": {"extraction": 1.0}}, san, None, n_mfcc=13,
                                  audio_features="mfcc_stats", audio_stats="mean_std")
    assert frag["features"]["audio"] == r.X.shape[1] and frag["audio"]["bottleneck"] is None
    assert frag["audio"]["timings_s"]["extraction"] == 1.0 and "ae_fit" in frag["audio"]["timings_s"]
    assert frag["sanity"]["audio_logreg_f1_macro"] == san.f1
    assert frag["sanity"]["mfcc_baseline_logreg_f1_macro"] == san.baseline_f1
    assert audio_autoencoder.metrics_fragment(results, {}, None, n_mfcc=13)["sanity"]["audio_logreg_f1_macro"] is None


def test_final_losses():
    h = {"fold0": {"loss": [3.0, 2.0], "val_loss": [4.0, 2.5]}, "fold1": {"loss": [1.0]}, "none": {}}
    assert audio_autoencoder.final_losses(h) == {"fold0": {"loss": 2.0, "val_loss": 2.5}, "fold1": {"loss": 1.0, "val_loss": None}}


# ----------------------------------------------------------------------------- notebook 03

def test_summary_stage_report_counts():
    rep = pd.DataFrame({"clip_id": ["a", "b", "c"], "n_frames": [3, 1, 5], "n_face": [3, 0, 2],
                        "n_carried": [0, 0, 3], "n_centre": [0, 1, 0], "padded": [False, True, False]})
    info = {"fold0": {"seconds": 1.25}, "final": {"seconds": 2.5}}
    r = summary_images.stage_report({"frame_interval": 5, "seed": 1}, rep, info, 0.123, face_detect=True)
    assert list(r)[:2] == ["frame_interval", "seed"]
    assert r["n_clips"] == 3 and r["n_frames"] == 9 and r["clips_too_few_frames"] == ["b"]
    assert r["face_fallback"] == {"clips": 2, "frames_carried": 3, "frames_centre": 1, "clips_without_face": 1}
    assert r["timings_s"] == {"frames": 0.12, "summary": 3.75}
    assert summary_images.stage_report({}, rep, info, 0, face_detect=False)["face_fallback"]["clips_without_face"] is None


# ----------------------------------------------------------------------------- notebook 05

def test_selection_run_split_compare_and_fragment(tmp_path):
    art = make_synthetic_artifacts(tmp_path, n_speakers=6, clips_per_class=4, n_audio=8, n_visual=16,
                                       n_folds=3, seed=0)
    labels = pd.read_csv(art / "labels.csv", dtype={"clip_id": str, "speaker": str})
    splits = fileio.read_json(art / "splits.json")
    fused = {s["name"]: fusion.load_fused(art, s["name"]) for s in splits["splits"]}
    common = dict(population=4, iterations=2, max_evaluations=12, n_jobs=1)
    fitted = {}
    for sp in splits["splits"]:
        ids, X, _ = fused[sp["name"]]
        vs = ["izoa", "zoa"] if sp["name"] != "final" else ["izoa"]
        fitted.update({(sp["name"], v): s for v, s in feature_selection.run_split(X, ids, labels, sp, vs, random_state=0, **common).items()})
    ev_splits = splitting.evaluation_splits(splits)
    assert len(fitted) == 2 * len(ev_splits) + 1
    again = feature_selection.fit_selector_on_split(*fused[ev_splits[0]["name"]][1::-1], labels, ev_splits[0], variant="izoa",
                                      random_state=0, **common)
    assert np.array_equal(again.support_, fitted[ev_splits[0]["name"], "izoa"].support_)  # same draws
    table = feature_selection.fit_table(fitted, fused)
    assert table.loc[("final", "izoa"), "kept"] == int(fitted["final", "izoa"].support_.sum())
    label_of = labels.set_index("clip_id")["label"]
    comp = feature_selection.compare_methods(fused, ev_splits, fitted, label_of, "knn", 0)
    assert len(comp) == len(ev_splits) * len(feature_selection.METHODS)
    none = comp[comp["method"] == "none"]
    assert (none["n_features"] == 24).all() and (none["audio"] == 8).all()
    k0 = int(fitted[ev_splits[0]["name"], "izoa"].support_.sum())
    assert comp[(comp["method"] == "random") & (comp["split"] == ev_splits[0]["name"])]["n_features"].item() == k0
    summary = comp.groupby("method")[["f1_macro", "accuracy", "n_features", "audio", "visual"]].agg(["mean", "std"])
    settings = dict(selector="izoa", fitness_classifier="knn", population=4, iterations=2, alpha=0.99, budget=12)
    frag = feature_selection.metrics_fragment(fitted, fused, summary, settings, {"izoa": [0.1]}, {"izoa": 1.0}, folds=3,
                                total_seconds=1.0)
    assert frag["features"] == {"audio": 8, "visual": 16, "total": 24,
                                "selected": int(fitted["final", "izoa"].support_.sum())}
    assert frag["feature_selection"]["none"] == round(float(none["f1_macro"].mean()), 4)
    assert set(frag["timings"]["selection"]["fit_s"]) == {f"{n}/{v}" for n, v in fitted}
