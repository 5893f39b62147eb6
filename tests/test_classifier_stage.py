"""Notebook 06's stage helpers: run_eval_splits, training_table, ablation_variants, run_ablation,
metrics_fragment (run_splits replaced by a stub: these test the bookkeeping, not the training)."""
import json

import numpy as np
import pandas as pd
import pytest

from mer_helpers.stages import classifiers

CLASSES = ["happy", "sad"]


def _pred(split, y_true, y_pred):
    df = pd.DataFrame({"clip_id": [f"{split}-{i}" for i in range(len(y_true))], "split": split,
                       "y_true": y_true, "y_pred": y_pred})
    df["p_happy"] = [1.0 if y == "happy" else 0.0 for y in y_pred]
    df["p_sad"] = 1.0 - df["p_happy"]
    return df


def _record(i):
    return {"epochs_run": 3 + i, "best_epoch": 2, "n_updates": 10 * (i + 1), "n_fit": 8, "n_val": 2,
            "val_speakers": ["s1"], "validation": "speakers" if i == 0 else "stratified"}


SPLITS = [{"name": "fold0"}, {"name": "fold1"}]
# fold0: all right; fold1: one of two wrong
TRUTH = {"fold0": (["happy", "sad"], ["happy", "sad"]), "fold1": (["happy", "sad"], ["happy", "happy"])}


@pytest.fixture
def stub(monkeypatch):
    calls = []

    def fake_run_split(split, model_names, columns="selected", **kw):
        calls.append((split["name"], tuple(model_names), columns, kw.get("sequence_mode")))
        yt, yp = TRUTH[split["name"]]
        i = [s["name"] for s in SPLITS].index(split["name"])
        return classifiers.SplitResult(split["name"], {m: _pred(split["name"], yt, yp) for m in model_names},
                             {m: _record(i) for m in model_names}, None, [], 2, 2)

    def fake_run_splits(artifacts, jobs, labels, classes, progress=None, n_jobs=1):
        return [fake_run_split(**job) for job in jobs]

    monkeypatch.setattr(classifiers, "run_splits", fake_run_splits)
    return calls


def test_run_eval_splits_collects_and_writes(tmp_path, stub):
    frames, records = classifiers.run_eval_splits(tmp_path, SPLITS, None, CLASSES, ["bilstm_sa", "cnn"], columns="all",
                                        sequence_mode="features")
    assert stub == [("fold0", ("bilstm_sa", "cnn"), "all", "features"), ("fold1", ("bilstm_sa", "cnn"), "all", "features")]
    assert list(records) == ["fold0", "fold1"] and [len(frames[m]) for m in frames] == [2, 2]
    assert json.loads((tmp_path / "histories" / "fold1" / "cnn.json").read_text())["epochs_run"] == 4
    csv = pd.read_csv(tmp_path / "predictions" / "bilstm_sa.csv")
    assert list(csv["split"]) == ["fold0", "fold0", "fold1", "fold1"]

    table = classifiers.training_table(records, frames, CLASSES)
    assert table.loc[("fold0", "bilstm_sa"), "test accuracy"] == 1.0
    assert table.loc[("fold1", "cnn"), "test accuracy"] == 0.5
    assert table.loc[("fold1", "cnn"), "updates"] == 20
    assert table.loc[("fold0", "cnn"), "fit / val clips"] == "8 / 2"


def test_ablation_variants():
    assert classifiers.ablation_variants("selected") == {"audio_only": "audio", "visual_only": "visual", "fused": "selected",
                                               "fused_no_selection": "all"}
    assert classifiers.ablation_variants("all") == {"audio_only": "audio", "visual_only": "visual", "fused": "all",
                                          "fused_selected": "selected"}


def test_run_ablation_reuses_fused(tmp_path, stub):
    variants = classifiers.ablation_variants("selected")
    fused = pd.concat([_pred("fold0", ["happy", "sad"], ["sad", "happy"]),
                       _pred("fold1", ["happy", "sad"], ["sad", "happy"])], ignore_index=True)
    f1 = classifiers.run_ablation(tmp_path, SPLITS, None, CLASSES, variants, fused=fused, sequence_mode="features")
    # the fused variant is not trained: 3 variants x 2 splits, main model only
    assert [c[2] for c in stub] == ["audio", "audio", "visual", "visual", "all", "all"]
    assert {c[1] for c in stub} == {("bilstm_sa",)}
    assert f1["fused"] == 0.0  # every reused prediction is wrong
    # fold0 macro-F1 1, fold1 (happy right, sad predicted happy): F1 happy 2/3, sad 0 -> 1/3; mean 2/3
    assert f1["audio_only"] == pytest.approx((1.0 + 1 / 3) / 2)
    assert sorted(p.name for p in (tmp_path / "predictions" / "ablation").iterdir()) == \
        ["audio_only.csv", "fused.csv", "fused_no_selection.csv", "visual_only.csv"]


def test_metrics_fragment():
    records = {"fold0": {"bilstm_sa": _record(0)}, "fold1": {"bilstm_sa": _record(1)}}
    settings = dict(models=("bilstm_sa",), columns="selected", sequence_mode="features", fusion="early", epochs=10,
                    batch_size=32, validation_split=0.2, monitor="none", units=64, heads=4, dropout=0.3, patience=3,
                    seed=42, learning_rate=1e-3, steps=4, ensemble=3, modality_dropout="alternate")
    frag = classifiers.metrics_fragment({"fused": 0.5}, 0.25, "the selected columns", records, settings, {"steps": 4}, None,
                              {"fused": "selected"}, 12.345)
    c = frag["classifiers"]
    assert frag["reference"]["logreg_f1_macro"] == 0.25
    assert "on the selected columns, same splits" in frag["reference"]["what"]
    assert c["validation"] == ["speakers", "stratified"] and c["n_eval_splits"] == 2 and c["wall_s"] == 12.3
    assert c["early_stopping"] == "none (paper 2, Algorithm 5)" and c["models"] == ["bilstm_sa"]
    assert c["ensemble"] == 3 and c["modality_dropout"] == "alternate"
    assert "steps" not in c  # only the documented settings
    frag2 = classifiers.metrics_fragment({}, np.nan, "x", records, {**settings, "monitor": "val_loss"}, {}, {"a": 0.1}, {}, 0)
    assert frag2["classifiers"]["early_stopping"].startswith("val_loss on the validation part")
    assert frag2["classifiers"]["inner_f1_macro"] == {"a": 0.1}


def test_upstream_settings_stops_at_once_without_the_featurizers_of_02_and_04(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"model/audio: missing \(written by notebook 02_audio_autoencoder\)"):
        classifiers.upstream_settings(tmp_path)
    (tmp_path / "model" / "audio").mkdir(parents=True)
    (tmp_path / "model" / "audio" / "config.json").write_text("{}")
    (tmp_path / "model" / "visual").mkdir()  # empty: notebook 04 did not finish
    with pytest.raises(FileNotFoundError, match=r"model/visual: missing \(written by notebook 04_resnet_features\)"):
        classifiers.upstream_settings(tmp_path)
    (tmp_path / "model" / "visual" / "visual.json").write_text("{}")
    with pytest.raises(FileNotFoundError, match="00_data"):  # past the bundle check: the fragments come next
        classifiers.upstream_settings(tmp_path)
