"""mer_helpers.methods.models: the three classifiers, the attention block, sequences, training, bundle."""
from __future__ import annotations

import os
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pandas as pd
import pytest

keras = pytest.importorskip("keras")

from mer_helpers.core import fileio  # noqa: E402
from mer_helpers.methods import models as M  # noqa: E402
from mer_helpers.methods import networks, sequencers  # noqa: E402
from mer_helpers.methods import training as T  # noqa: E402
from mer_helpers.data.splits import evaluation_splits, make_splits, validation_carve_out  # noqa: E402
from mer_helpers.stages import classifiers  # noqa: E402


def easy_task(n, rng, T=4, d=3):
    """Three classes; the class shifts feature 0 of every step by ±2 (noise sd 0.5)."""
    y = rng.integers(0, 3, n)
    X = rng.normal(scale=0.5, size=(n, T, d)).astype("float32")
    X[:, :, 0] += 2.0 * (y[:, None] - 1)
    return X, y


@pytest.mark.slow  # trains the three networks
@pytest.mark.parametrize("name", M.MODEL_NAMES)
def test_model_trains_two_epochs_and_beats_chance(name):
    rng = np.random.default_rng(0)
    X, y = easy_task(120, rng)
    Xt, yt = easy_task(60, rng)
    model, rec = T.fit_model(name, X, y, validation_split=0.0, epochs=2, batch_size=8, seed=1,
                             units=8, heads=2, learning_rate=1e-2)
    assert rec["epochs_run"] == 2 and len(rec["history"]["loss"]) == 2
    assert rec["history"]["loss"][1] < rec["history"]["loss"][0]
    p = networks.predict_proba(model, Xt)
    assert p.shape == (60, 3)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-5)
    acc = (p.argmax(axis=1) == yt).mean()
    assert acc > 0.6, f"{name}: held-out accuracy {acc:.2f} not above chance (0.33)"


def test_attention_block_matches_equations_and_has_residual_layernorm():
    model = networks.build_bilstm_sa((5, 3), 3, units=8, heads=4)
    names = {l.name: l for l in model.layers}
    # eq. 4-9 layers are present by name and type
    for n in ("Q_eq4_XWq", "K_eq5_XWk", "V_eq6_XWv", "R_eq8_concat_heads_WO"):
        assert isinstance(names[n], keras.layers.Dense) and names[n].units == 16
    att = names["heads_eq7_softmax_QKt_sqrt_dk_V"]
    assert isinstance(att, networks.ScaledDotProductAttention) and att.heads == 4 and att.d_k == 4
    add = names["residual_X_plus_R"]
    assert isinstance(add, keras.layers.Add)
    assert isinstance(names["S_eq9_layernorm"], keras.layers.LayerNormalization)
    # the residual adds the BiLSTM output X itself
    assert names["X_bilstm"].output in add.input
    # attention output shape (batch, T, d) and values = softmax(Q_i K_i^T / sqrt(d_k)) V_i per head
    rng = np.random.default_rng(3)
    q, k, v = (rng.normal(size=(2, 5, 16)).astype("float32") for _ in range(3))
    out = np.asarray(att([q, k, v]))
    assert out.shape == (2, 5, 16)
    ref = np.zeros_like(out)
    for h in range(4):
        sl = slice(4 * h, 4 * h + 4)
        logits = q[:, :, sl] @ k[:, :, sl].transpose(0, 2, 1) / 2.0
        w = np.exp(logits - logits.max(-1, keepdims=True))
        w /= w.sum(-1, keepdims=True)
        ref[:, :, sl] = w @ v[:, :, sl]
    np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-5)
    A = networks.attention_weights(model, rng.normal(size=(2, 5, 3)))
    assert A.shape == (2, 4, 5, 5)
    np.testing.assert_allclose(A.sum(-1), 1.0, atol=1e-5)


def test_heads_must_divide_width():
    with pytest.raises(ValueError, match="divisible"):
        networks.build_bilstm_sa((4, 3), 3, units=5, heads=4)


def test_feature_sequencer_uses_training_statistics_and_pads():
    rng = np.random.default_rng(0)
    Xtr = rng.normal(loc=5.0, scale=2.0, size=(40, 10))
    Xte = rng.normal(loc=-3.0, size=(7, 10))
    s = sequencers.FeatureSequencer(steps=4).fit(Xtr)
    assert s.input_shape == (4, 3)  # ceil(10 / 4) = 3, two zero pads
    Z = s.transform(Xtr)
    assert Z.shape == (40, 4, 3)
    flat = Z.reshape(40, 12)
    np.testing.assert_allclose(flat[:, :10].mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(flat[:, 10:], 0.0)
    # test rows are scaled with the training mean / sd, not their own
    Zt = s.transform(Xte).reshape(7, 12)[:, :10]
    np.testing.assert_allclose(Zt, (Xte - Xtr.mean(0)) / Xtr.std(0), rtol=1e-5)
    assert sequencers.FeatureSequencer(steps=16).fit(Xtr).input_shape == (10, 1)


def test_temporal_sequencer_resamples_and_keeps_selected_dims():
    r = sequencers.resample_sequence(np.array([[0.0, 10.0], [1.0, 20.0]]), 3)
    np.testing.assert_allclose(r, [[0, 10], [0.5, 15], [1, 20]])
    assert sequencers.sequence_dims(["audio:ae_mean:3", "audio:ae_std:3", "visual:resnet50_mean:7", "audio:ae_mean:0"], "audio") == [0, 3]
    rng = np.random.default_rng(1)
    a = [rng.normal(size=(rng.integers(5, 9), 32)) for _ in range(6)]
    v = [rng.normal(size=(3, 50)) for _ in range(6)]
    s = sequencers.TemporalSequencer(steps=4, audio_dims=[0, 3], visual_dims=[7]).fit(a, v)
    out = s.transform(a, v)
    assert out.shape == (6, 4, 3)
    # dimension 2 of the output is visual dim 7 resampled and standardised
    raw = np.stack([sequencers.resample_sequence(x, 4)[:, 7] for x in v])
    np.testing.assert_allclose(out[:, :, 2], (raw - raw.mean()) / raw.std(), rtol=1e-4, atol=1e-5)


def labels_frame(n_speakers=9, per_class=3, classes=("happy", "sad", "surprise")):
    rows = [{"clip_id": f"s{s}_{c}_{i}", "path": f"/x/s{s}_{c}_{i}.mp4", "label": c, "speaker": f"s{s}"}
            for s in range(n_speakers) for c in classes for i in range(per_class)]
    return pd.DataFrame(rows)


def test_no_speaker_on_both_sides_of_folds_or_validation_carve_out():
    labels = labels_frame()
    spk = dict(zip(labels.clip_id, labels.speaker))
    sp = make_splits(labels, "speaker-cv", n_folds=3, seed=0)
    for s in evaluation_splits(sp):
        tr_spk = {spk[c] for c in s["train"]}
        te_spk = {spk[c] for c in s["test"]}
        assert not tr_spk & te_spk
        # the validation part carved out of the training portion holds whole speakers
        y = labels.set_index("clip_id").loc[s["train"], "label"].to_numpy()
        g = np.array([spk[c] for c in s["train"]])
        fit_idx, val_idx, how = validation_carve_out(y, g, 0.2, seed=0)
        assert len(val_idx) > 0 and "grouped" in how
        assert not set(g[fit_idx]) & set(g[val_idx])
        assert set(g[val_idx]) <= tr_spk and not set(g[val_idx]) & te_spk
        assert len(fit_idx) + len(val_idx) == len(s["train"])


def test_validation_carve_out_with_few_speakers_stays_inside_training_rows():
    y = np.repeat([0, 1, 2], 8)
    g = np.tile(["a", "b"], 12)
    fit_idx, val_idx, how = validation_carve_out(y, g, 0.2, seed=0)
    assert "too few" in how and len(val_idx) == 5  # 20 % of 24, not one speaker = 50 %
    assert sorted(np.concatenate([fit_idx, val_idx]).tolist()) == list(range(24))
    assert sorted(np.bincount(y[val_idx]).tolist()) == [1, 2, 2]  # stratified
    assert validation_carve_out(y, g, 0.0)[1].size == 0


def write_tiny_run(root, labels, rng, n_audio=4, n_visual=6):
    A = fileio.artifacts_dir(root)
    labels.to_csv(A / "labels.csv", index=False)
    sp = make_splits(labels, "speaker-cv", n_folds=3, seed=0)
    fileio.write_json(A / "splits.json", sp)
    y = labels.label.map({"happy": 0, "sad": 1, "surprise": 2}).to_numpy()
    cols = [f"audio:ae_mean:{i}" for i in range(n_audio)] + [f"visual:resnet50_mean:{i}" for i in range(n_visual)]
    X = rng.normal(size=(len(labels), len(cols)))
    X[:, 0] += 3 * y
    X[:, n_audio] -= 3 * y
    for s in sp["splits"]:
        fileio.save_features(A / "fused" / s["name"] / "features.npz", labels.clip_id, X, cols)
        sel = [cols[0], cols[1], cols[n_audio], cols[n_audio + 2]]
        fileio.write_json(A / "selection" / s["name"] / "selection.json",
                      {"columns": cols, "support": [c in sel for c in cols], "selected": sel})
    return sp, X, cols


@pytest.mark.slow  # trains the networks of a split
def test_run_split_fits_on_training_rows_only_and_bundle_round_trips(tmp_path):
    rng = np.random.default_rng(0)
    labels = labels_frame()
    sp, X, cols = write_tiny_run(tmp_path, labels, rng)
    A = tmp_path / "artifacts"
    s = evaluation_splits(sp)[0]
    classes = ["happy", "sad", "surprise"]
    r = classifiers.run_split(A, s, labels, classes, ["cnn"], steps=2, epochs=2, batch_size=8, units=8, heads=2,
                    validation_split=0.2, seed=0, keep_models=True)
    assert r.columns == ["audio:ae_mean:0", "audio:ae_mean:1", "visual:resnet50_mean:0", "visual:resnet50_mean:2"]
    tr = labels.clip_id.isin(s["train"]).to_numpy()
    sel_idx = [cols.index(c) for c in r.columns]
    np.testing.assert_allclose(r.sequencer.mean_, X[tr][:, sel_idx].mean(axis=0), rtol=1e-5)
    df = r.predictions["cnn"]
    assert sorted(df.clip_id) == sorted(s["test"]) and set(df.split) == {s["name"]}
    assert set(r.records["cnn"]["val_speakers"]).isdisjoint({c.split("_")[0] for c in s["test"]})
    # the bundle saved to disk predicts exactly what the in-memory model predicts
    bundle = M.SequenceClassifier.from_fitted(classes, r.columns, r.sequencer, r.classifier.networks_,
                                             parameters={"epochs": 2})
    bundle.save(tmp_path / "model")
    meta = fileio.read_json(tmp_path / "model" / "bundle.json")
    assert meta["classes"] == classes and meta["models"] == ["cnn"] and meta["selected_columns"] == r.columns
    assert meta["sequence_layout"]["steps"] == 2 and meta["sequence_layout"]["step_dim"] == 2
    back = M.SequenceClassifier.load(tmp_path / "model")
    Xin = back.inputs(X, cols)
    np.testing.assert_allclose(back.proba_from_inputs(Xin)["cnn"], networks.predict_proba(r.classifier.networks_["cnn"], Xin), atol=1e-6)
    with pytest.raises(ValueError, match="missing from the fused features"):
        back.inputs(X[:, 1:], cols[1:])


def test_linear_reference_uses_training_rows_and_finds_the_signal(tmp_path):
    labels = labels_frame()
    sp, _, _ = write_tiny_run(tmp_path, labels, np.random.default_rng(5))
    s = evaluation_splits(sp)[1]
    df = classifiers.linear_reference_split(tmp_path / "artifacts", s, labels, ["happy", "sad", "surprise"])
    assert sorted(df.clip_id) == sorted(s["test"])
    np.testing.assert_allclose(df[["p_happy", "p_sad", "p_surprise"]].sum(axis=1), 1.0, atol=1e-9)
    assert (df.y_true == df.y_pred).mean() > 0.8  # the class shifts two selected columns by 3 sd


def test_missing_selection_names_the_file(tmp_path):
    labels = labels_frame(3, 1)
    sp, _, _ = write_tiny_run(tmp_path, labels, np.random.default_rng(0))
    sel = tmp_path / "artifacts" / "selection" / "fold0" / "selection.json"
    sel.unlink()
    with pytest.raises(FileNotFoundError, match="selection.json"):
        classifiers.run_split(tmp_path / "artifacts", evaluation_splits(sp)[0], labels, ["happy", "sad", "surprise"], ["cnn"])


@pytest.mark.slow  # trains one network per modality
def test_late_fusion_trains_one_model_per_modality_and_round_trips(tmp_path):
    from mer_helpers.methods import models as M

    rng = np.random.default_rng(0)
    n, cols = 60, [f"audio:mfcc_mean:{i}" for i in range(6)] + [f"visual:fer_xception_block:{i}" for i in range(10)]
    y = np.arange(n) % 3
    X = rng.normal(size=(n, len(cols)))
    X[:, 0] += 2 * y                      # audio carries the class, and so does visual
    X[:, 8] -= 2 * y
    seq = sequencers.LateFusionSequencer.from_columns(2, cols).fit(X)
    Xa, Xv = seq.transform(X)
    assert Xa.shape == (n, 2, 3) and Xv.shape == (n, 2, 5)
    model, rec = T.fit_late_fusion("bilstm_sa", [Xa, Xv], y, epochs=3, units=8, heads=2, n_classes=3)
    assert rec["fusion"] == "late" and set(rec["late_fusion"]) == {"audio", "visual"}
    assert len(rec["history"]["loss"]) == 3
    p = networks.predict_proba(model, [Xa, Xv])
    pa = networks.predict_proba(model.get_layer("bilstm_sa_audio"), Xa)
    pv = networks.predict_proba(model.get_layer("bilstm_sa_visual"), Xv)
    np.testing.assert_allclose(p, (pa + pv) / 2, rtol=1e-5, atol=1e-6)   # the mean of the two
    bundle = M.SequenceClassifier.from_fitted(["a", "b", "c"], cols, seq, {"bilstm_sa": model})
    bundle.save(tmp_path / "model")
    again = M.SequenceClassifier.load(tmp_path / "model")
    np.testing.assert_allclose(again.proba_from_inputs(again.inputs(X, cols))["bilstm_sa"], p, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="both modalities"):
        sequencers.LateFusionSequencer.from_columns(2, cols[:6]).fit(X[:, :6])  # checked at fit (scikit-learn: __init__ only stores)


def _three_class_rows(rng, n=48):
    cols = [f"audio:mfcc_mean:{i}" for i in range(4)] + [f"visual:fer_xception_block:{i}" for i in range(4)]
    y = np.array(["a", "b", "c"])[np.arange(n) % 3]
    X = rng.normal(size=(n, len(cols)))
    X[:, 0] += 2 * (np.arange(n) % 3)
    return X, y, cols


def test_ensemble_is_the_mean_of_networks_with_consecutive_seeds_and_round_trips(tmp_path):
    X, y, cols = _three_class_rows(np.random.default_rng(0))
    kw = dict(model_names=["bilstm_sa"], columns=cols, steps=2, epochs=2, units=4, heads=2, validation_split=0.0)
    ens = M.SequenceClassifier(seed=3, ensemble=2, **kw).fit(X, y)
    singles = [M.SequenceClassifier(seed=s, **kw).fit(X, y).predict_proba(X) for s in (3, 4)]
    p = ens.predict_proba(X)
    np.testing.assert_allclose(p, (singles[0] + singles[1]) / 2, rtol=1e-4, atol=1e-5)
    assert not np.allclose(singles[0], singles[1])          # two different networks, not one twice
    rec = ens.records_["bilstm_sa"]
    assert [r["seed"] for r in rec["ensemble"]] == [3, 4] and len(rec["history"]["loss"]) == 2
    ens.save(tmp_path / "model")
    again = M.SequenceClassifier.load(tmp_path / "model")
    assert again.ensemble == 2
    np.testing.assert_allclose(again.predict_proba(X), p, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="ensemble must be >= 1"):
        M.SequenceClassifier(ensemble=0, **kw).fit(X, y)


def test_fit_classifiers_in_one_batch_equals_each_fit_alone():
    X, y, cols = _three_class_rows(np.random.default_rng(2))
    kw = dict(columns=cols, steps=2, epochs=2, units=4, heads=2, validation_split=0.0)
    make = lambda: [M.SequenceClassifier(model_names=["bilstm_sa", "cnn"], seed=1, ensemble=2, **kw),  # noqa: E731
                    M.SequenceClassifier(model_names=["bilstm"], seed=7, fusion="late", **kw)]
    ticks = []
    bar = type("Bar", (), {"update": lambda self, n=1: ticks.append(n)})()
    batch = M.fit_classifiers([(c, X[:40], y[:40], None) for c in make()], progress=bar)
    alone = [c.fit(X[:40], y[:40]) for c in make()]
    assert sum(ticks) == 3  # one per model of each classifier, though seven networks were trained
    for b, a in zip(batch, alone):
        assert list(b.networks_) == list(a.networks_)
        for m in a.networks_:
            np.testing.assert_allclose(b.predict_proba_all(X[40:])[m], a.predict_proba_all(X[40:])[m], atol=1e-6)
    assert [r["seed"] for r in batch[0].records_["cnn"]["ensemble"]] == [1, 2]
    assert "late_fusion" in batch[1].records_["bilstm"] and "n_jobs" not in batch[0].parameters_


@pytest.mark.slow  # starts worker processes that import TensorFlow
def test_networks_trained_in_worker_processes_are_the_networks_trained_here(tmp_path):
    rng = np.random.default_rng(0)
    X, y = easy_task(60, rng, T=2, d=8)
    g = np.repeat(np.arange(6), 10)
    specs = [("bilstm_sa", X, y, dict(ensemble=2, seed=1, epochs=2, units=8, heads=2, groups=g, n_classes=3)),
             ("cnn", [X[:, :, :4], X[:, :, 4:]], y, dict(seed=5, epochs=2, units=8, groups=g, n_classes=3))]
    here = T.fit_networks(specs, n_jobs=1)
    there = T.fit_networks(specs, n_jobs=2)  # MER_DASK_SCHEDULER=none (conftest): three joblib processes
    for (spec, (mh, rh), (mt, rt)) in zip(specs, here, there):
        assert mt.name == mh.name and rt["history"] == rh["history"]
        np.testing.assert_allclose(networks.predict_proba(mt, spec[1]), networks.predict_proba(mh, spec[1]), atol=1e-6)
    ens = there[0][0]  # rebuilt here from a worker's weights: its optimizer never took a step
    ens.save(tmp_path / "ens.keras")
    with pytest.warns(UserWarning, match=M._OPTIMIZER_NOT_SAVED):  # what Keras says of that when it loads it
        keras.models.load_model(tmp_path / "ens.keras", compile=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a bundle's loader says nothing of it
        back = M.load_network(tmp_path / "ens.keras")
    np.testing.assert_allclose(networks.predict_proba(back, X), networks.predict_proba(ens, X), atol=1e-6)


def test_a_network_trained_through_the_traced_twin_is_the_fresh_network_to_the_last_bit():
    rng = np.random.default_rng(4)
    X, y = easy_task(64, rng, T=2, d=6)
    kw = dict(groups=np.repeat(np.arange(8), 8), epochs=3, batch_size=8, units=4, heads=2, n_classes=3)
    runs = [dict(seed=1), dict(seed=2), dict(seed=2, monitor="val_loss", patience=1)]  # dropout and shuffles
    T.clear_runners()                                                             # differ by seed
    fresh = [T.fit_model("bilstm_sa", X, y, reuse=False, **r, **kw) for r in runs]
    twin = [T.fit_model("bilstm_sa", X, y, **r, **kw) for r in runs]  # the first builds the twin, the others reuse it
    assert len(T._RUNNERS) == 1 and all(r["reused_graph"] for _, r in twin)
    assert not any(r["reused_graph"] for _, r in fresh) and len({m for m, _ in twin} | set(T._RUNNERS.values())) == 4
    for (mf, rf), (mt, rt) in zip(fresh, twin):  # compared after all were trained: no model shares the twin's state
        assert rt["history"] == rf["history"] and rt["epochs_run"] == rf["epochs_run"]
        for a, b in zip(mf.get_weights(), mt.get_weights()):
            np.testing.assert_array_equal(a, b)
    assert not np.array_equal(fresh[0][0].get_weights()[0], fresh[1][0].get_weights()[0])
    X4, _ = easy_task(64, rng, T=4, d=6)  # four steps: the LSTM loops, and such a network trains fresh
    assert not T.fit_model("bilstm", X4, y, **runs[0], **kw)[1]["reused_graph"]
    assert T.fit_model("cnn", X4, y, **runs[0], **kw)[1]["reused_graph"] and len(T._RUNNERS) == 2


def test_replayed_batches_train_the_network_keras_fit_trains_from_the_arrays():
    rng = np.random.default_rng(6)
    X, y = easy_task(70, rng, T=2, d=6)  # a partial last batch, both in the fit part and in the validation part
    kw = dict(groups=np.repeat(np.arange(7), 10), epochs=3, batch_size=8, units=4, heads=2, n_classes=3)
    for name, seed in (("bilstm_sa", 1), ("cnn", 2)):
        keras_own, rk = T.fit_model(name, X, y, seed=seed, replay=False, reuse=False, **kw)
        replayed, rr = T.fit_model(name, X, y, seed=seed, reuse=False, **kw)
        twin, rt = T.fit_model(name, X, y, seed=seed, **kw)
        assert rk["n_fit"] % 8 and rk["n_val"] % 8 and not rk["run_eagerly"]
        assert rr["history"] == rk["history"] == rt["history"] and len(rk["history"]["val_loss"]) == 3
        for a, b, c in zip(keras_own.get_weights(), replayed.get_weights(), twin.get_weights()):
            np.testing.assert_array_equal(a, b)
            np.testing.assert_array_equal(a, c)
    keras.utils.set_random_seed(5)
    stream, steps = T.replayed_batches(X[:, 0, :1], np.arange(70), 8, shuffle=True)
    rows = np.concatenate([b[1].numpy() for b in stream.take(3 * steps)])  # one iterator over three epochs
    assert steps == 9 and sorted(rows[:70]) == list(range(70)) and list(rows[:70]) != list(range(70))
    assert np.array_equal(rows[:70], rows[70:140]) and np.array_equal(rows[:70], rows[140:])
    stream, steps = T.replayed_batches(X, y, 32)  # validation: in order
    assert steps == 3 and np.array_equal(np.concatenate([b[1].numpy() for b in stream.take(3)]), y)


def test_unread_curves_leave_the_validation_part_out_unscored_and_the_weights_as_they_were():
    rng = np.random.default_rng(7)
    X, y = easy_task(60, rng, T=2, d=5)
    kw = dict(groups=np.repeat(np.arange(6), 10), epochs=3, batch_size=8, units=4, heads=2, n_classes=3)
    specs = [("bilstm_sa", X, y, dict(seed=1, **kw)), ("cnn", X, y, dict(seed=1, monitor="val_loss", **kw))]
    scored = T.fit_networks(specs)
    with T.curves_unread():
        unscored = T.fit_networks(specs)
    (_, r0), (_, r1) = scored
    (_, u0), (_, u1) = unscored
    assert "val_loss" in r0["history"] and "val_loss" not in u0["history"] and not u0["validation_scored"]
    assert u0["n_val"] == r0["n_val"] > 0 and u0["history"]["loss"] == r0["history"]["loss"]
    assert u1["validation_scored"] and u1["history"] == r1["history"]  # early stopping watches it: still scored
    for (ms, _), (mu, _) in zip(scored, unscored):
        for a, b in zip(ms.get_weights(), mu.get_weights()):
            np.testing.assert_array_equal(a, b)
    assert "val_loss" in T.fit_networks(specs[:1])[0][1]["history"]  # only inside the block


def test_a_network_worker_is_not_restarted_for_the_memory_its_traces_take():
    from joblib.externals.loky import process_executor

    T._keep_worker()
    assert process_executor._MAX_MEMORY_LEAK_SIZE >= T.WORKER_GROWTH > 300e6


def test_short_sequences_unroll_the_lstm_and_train_the_same_network(monkeypatch):
    rng = np.random.default_rng(5)
    X, y = easy_task(48, rng, T=2, d=5)
    lstm = lambda m: m.get_layer("X_bilstm").forward_layer  # noqa: E731
    assert lstm(networks.build_bilstm((2, 5), 3, units=4)).unroll
    assert not lstm(networks.build_bilstm((3, 5), 3, units=4)).unroll  # longer sequences keep TensorFlow's loop
    kw = dict(epochs=3, batch_size=8, seed=3, units=4, heads=2, n_classes=3, reuse=False)
    unrolled, _ = T.fit_model("bilstm_sa", X, y, **kw)
    monkeypatch.setattr(networks, "UNROLL_STEPS", 0)
    looped, _ = T.fit_model("bilstm_sa", X, y, **kw)
    assert not lstm(looped).unroll and lstm(unrolled).unroll
    for a, b in zip(unrolled.get_weights(), looped.get_weights()):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-6)


@pytest.mark.slow  # trains a network per candidate and split
def test_inner_classifier_table_never_reads_test_clips(tmp_path):
    rng = np.random.default_rng(1)
    labels = labels_frame(n_speakers=12)
    sp, X, cols = write_tiny_run(tmp_path, labels, rng)
    s = evaluation_splits(sp)[0]
    # poison the test clips: if the table read them, NaNs would break every fit
    A = tmp_path / "artifacts"
    Xp = X.copy()
    Xp[labels.clip_id.isin(s["test"]).to_numpy()] = np.nan
    fileio.save_features(A / "fused" / s["name"] / "features.npz", labels.clip_id, Xp, cols)
    cands = {"sel": {"columns": "selected", "epochs": 2, "units": 8, "heads": 2, "seq_steps": 2},
             "all-late": {"columns": "all", "fusion": "late", "epochs": 2, "units": 8, "heads": 2, "seq_steps": 2}}
    t = classifiers.inner_classifier_table(A, [s], labels, ["happy", "sad", "surprise"], cands, seed=0)
    assert set(t.candidate) == {"sel", "all-late", "logistic regression (selected columns)",
                                "logistic regression (all columns)"}
    assert t.f1_macro.between(0, 1).all() and (t.n_fit + t.n_val == len(s["train"])).all()
    assert t.set_index("candidate").loc["logistic regression (selected columns)", "f1_macro"] > 0.8


def test_modality_copies_blank_one_modality_at_a_time_and_keep_the_means():
    X, y, cols = _three_class_rows(np.random.default_rng(4), n=12)
    g = np.repeat(["s1", "s2", "s3", "s4"], 3)
    Xc, yc, gc = M.modality_copies(X, y, g, cols)
    mean = X.mean(axis=0)
    assert Xc.shape == (36, 8) and list(yc) == list(y) * 3 and list(gc) == list(g) * 3
    np.testing.assert_array_equal(Xc[:12], X)
    np.testing.assert_allclose(Xc[12:24, :4], np.tile(mean[:4], (12, 1)))  # speech blanked, faces kept
    np.testing.assert_array_equal(Xc[12:24, 4:], X[:, 4:])
    np.testing.assert_array_equal(Xc[24:, :4], X[:, :4])                  # faces blanked, speech kept
    np.testing.assert_allclose(Xc[24:, 4:], np.tile(mean[4:], (12, 1)))
    np.testing.assert_allclose(Xc.mean(axis=0), mean)
    one, y1, g1 = M.modality_copies(X[:, :4], y, None, cols[:4])  # one modality: nothing to blank
    assert one.shape == (12, 4) and g1 is None and len(y1) == 12
    Xa, ya, ga = M.modality_copies(X, y, g, cols, "alternate")  # one copy: speech or faces, by turns
    assert Xa.shape == (24, 8) and list(ya) == list(y) * 2 and list(ga) == list(g) * 2
    np.testing.assert_array_equal(Xa[:12], X)
    np.testing.assert_allclose(Xa[12::2, :4], np.tile(mean[:4], (6, 1)))  # rows 0, 2, ...: speech blanked
    np.testing.assert_array_equal(Xa[12::2, 4:], X[0::2, 4:])
    np.testing.assert_array_equal(Xa[13::2, :4], X[1::2, :4])             # rows 1, 3, ...: faces blanked
    np.testing.assert_allclose(Xa[13::2, 4:], np.tile(mean[4:], (6, 1)))
    with pytest.raises(ValueError, match="mode = 'half'"):
        M.modality_copies(X, y, g, cols, "half")
    with pytest.raises(ValueError, match="mode = 'half'"):  # also with one modality, nothing to blank
        M.modality_copies(X[:, :4], y, None, cols[:4], "half")


def test_modality_dropout_trains_early_fusion_on_the_copies_and_leaves_late_fusion_alone(tmp_path):
    X, y, cols = _three_class_rows(np.random.default_rng(5))
    kw = dict(model_names=["bilstm_sa"], columns=cols, steps=2, epochs=1, units=4, heads=2, validation_split=0.0)
    drop = M.SequenceClassifier(modality_dropout="both", **kw).fit(X, y)
    plain = M.SequenceClassifier(**kw).fit(X, y)
    assert drop.records_["bilstm_sa"]["n_fit"] == 3 * len(X) and plain.records_["bilstm_sa"]["n_fit"] == len(X)
    alternate = M.SequenceClassifier(modality_dropout="alternate", **kw).fit(X, y)
    assert alternate.records_["bilstm_sa"]["n_fit"] == 2 * len(X)
    np.testing.assert_allclose(alternate.sequencer_.mean_, M.modality_copies(X, y, None, cols, "alternate")[0].mean(0))
    # the scaler saw the copies: each column's spread shrinks by sqrt(2/3), its mean stays
    s_drop, s_plain = drop.sequencer_.transform(X), plain.sequencer_.transform(X)
    np.testing.assert_allclose(s_drop, s_plain * np.sqrt(3 / 2), rtol=1e-5, atol=1e-6)
    late = M.SequenceClassifier(modality_dropout="both", fusion="late", **kw).fit(X, y)
    assert late.records_["bilstm_sa"]["n_fit"] == len(X)
    alternate.save(tmp_path / "model")
    assert M.SequenceClassifier.load(tmp_path / "model").modality_dropout == "alternate"
    assert M.modality_dropout_mode(True) == "both" and M.modality_dropout_mode(False) == "none"  # older bundles
    with pytest.raises(ValueError, match="modality_dropout = 'yes'"):
        M.SequenceClassifier(modality_dropout="yes", **kw).fit(X, y)
