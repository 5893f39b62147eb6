"""Any class set, end to end (issue 15): one parser of class lists, MELD's seven emotions through
the loader, the splits and the evaluation functions, and the paired builder's dry count for six
emotions (RAVDESS speech + Oulu-CASIA faces). No clip is built and no model trained."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mer_helpers.chain import schema
from mer_helpers.data import labels, paired, splits
from mer_helpers.methods import evaluation as ev
from mer_helpers.methods import plots
from mer_helpers.data.datasets import load_labels
from mer_helpers.data.labels import parse_classes
from mer_helpers.stages import results

SEVEN = ["angry", "disgust", "fear", "happy", "neutral", "sad", "surprise"]
SIX = ["angry", "disgust", "fear", "happy", "sad", "surprise"]
#: MELD's own spellings of its seven emotions
MELD_EMOTIONS = ["anger", "disgust", "fear", "joy", "neutral", "sadness", "surprise"]


# ------------------------------------------------------------------------------- one parser

@pytest.mark.parametrize("value, expected", [
    ("happy,sad,surprise", ["happy", "sad", "surprise"]),
    ("joy, Sadness , surprised", ["happy", "sad", "surprise"]),
    ("[angry, disgust, fear, happy, sad, surprise]", SIX),
    ("happy sad", ["happy", "sad"]),
    (["anger", "FEARFUL", "disgusted"], ["angry", "fear", "disgust"]),
    (("pleasant surprise", "neutral"), ["surprise", "neutral"]),
    (MELD_EMOTIONS, SEVEN),
])
def test_parse_classes_accepts(value, expected):
    assert parse_classes(value) == expected


@pytest.mark.parametrize("value, match", [
    ("happy,bored", "unknown class 'bored'"),
    (["joy", "happy"], "listed twice"),
    (["happy"], "at least 2 distinct"),
    ("", "classes is empty"),
    (["happy", 3], "every item must be an emotion name"),
    (3, "expected a list of emotion names"),
])
def test_parse_classes_refuses_with_one_line(value, match):
    with pytest.raises(ValueError, match=match) as e:
        parse_classes(value)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("value", ["happy,sad,surprise", SIX, MELD_EMOTIONS, "happy sad", ["happy"],
                                   "happy,bored", ["joy", "happy"], 3])
def test_loaders_builder_and_schema_share_the_parser(value):
    try:
        expected = parse_classes(value)
    except ValueError as e:
        with pytest.raises(ValueError, match="class"):
            labels.resolve_classes(value)
        with pytest.raises(ValueError):
            paired._classes(value)
        problem = schema.check({"classes": value})
        assert len(problem) == 1 and problem[0].startswith("classes = "), (value, e)
        return
    assert labels.resolve_classes(value) == expected
    assert paired._classes(value) == expected
    assert schema.check({"classes": value}) == []


def test_corpus_spellings_map_to_the_same_names():
    # paired's file-name parser and the loaders' normaliser are one table
    for raw, name in [("Happiness", "happy"), ("Anger", "angry"), ("Sadness", "sad"), ("Fear", "fear"),
                      ("Disgust", "disgust"), ("Surprise", "surprise"), ("su", "surprise"), ("sa", "sad"),
                      ("h", "happy"), ("AF", "fear"), ("calm", "calm"), ("contempt", "contempt")]:
        assert paired.canonical(raw) == labels.normalize_label(raw) == name
    assert paired.canonical("bored") is None


# ------------------------------------------------------------------------------- MELD, 7 classes

def make_meld7(root: Path, speakers=("Chandler", "Monica", "Ross", "Rachel", "Joey", "Phoebe"),
               per_class: int = 2) -> Path:
    """A MELD.Raw tree whose CSVs hold every one of the seven emotions for every speaker (clip
    files are not needed: the loader keeps listed clips and validation reports missing ones)."""
    root.mkdir(parents=True, exist_ok=True)
    folders = {"train": "train/train_splits", "dev": "dev/dev_splits_complete",
               "test": "test/output_repeated_splits_test"}
    for split, folder in folders.items():
        (root / folder).mkdir(parents=True, exist_ok=True)
        rows = []
        n = per_class if split == "train" else 1
        for d, spk in enumerate(speakers):
            for k in range(n):
                for u, emo in enumerate(MELD_EMOTIONS):
                    rows.append({"Sr No.": len(rows) + 1, "Utterance": f"line {len(rows)}", "Speaker": spk,
                                 "Emotion": emo, "Sentiment": "neutral", "Dialogue_ID": d,
                                 "Utterance_ID": k * len(MELD_EMOTIONS) + u, "Season": 1, "Episode": 1,
                                 "StartTime": "00:00:01,000", "EndTime": "00:00:02,000"})
        pd.DataFrame(rows).to_csv(root / f"{split}_sent_emo.csv", index=False)
    return root


@pytest.fixture
def meld7(tmp_path):
    return load_labels("meld", make_meld7(tmp_path / "MELD.Raw"), classes=MELD_EMOTIONS, verbose=False)


def test_meld_seven_classes_through_the_loader(meld7):
    assert meld7.attrs["classes"] == SEVEN and meld7.attrs["dropped"] == {}
    assert sorted(meld7["label"].unique()) == SEVEN
    assert len(meld7) == 6 * 7 * (2 + 1 + 1) and meld7["speaker"].nunique() == 6
    # a subset of the seven in another spelling keeps only those
    five = load_labels("meld", Path(meld7["path"][0]).parents[2], classes="joy, sadness, anger, fear, disgust",
                       verbose=False)
    assert five.attrs["classes"] == ["happy", "sad", "angry", "fear", "disgust"]
    assert five.attrs["dropped"] == {"neutral": 24, "surprise": 24}


@pytest.mark.parametrize("protocol, n_eval", [("speaker-cv", 3), ("speaker-split", 1), ("random-split", 1),
                                              ("official", 1)])
def test_seven_classes_through_make_splits(meld7, protocol, n_eval):
    sp = splits.make_splits(meld7, protocol, n_folds=3, seed=0)
    assert sp["classes"] == SEVEN
    evals = splits.evaluation_splits(sp)
    assert len(evals) == n_eval
    label_of = dict(zip(meld7["clip_id"], meld7["label"]))
    for s in evals:  # every class on both sides: every speaker has every class
        assert {label_of[c] for c in s["train"]} == set(SEVEN), s["name"]
        assert {label_of[c] for c in s["test"]} == set(SEVEN), s["name"]
    splits.check_speaker_independent(sp, meld7)
    table = splits.describe_splits(sp, meld7)
    assert [f"test {c}" for c in SEVEN] == [c for c in table.columns if c.startswith("test ") and c != "test clips"
                                            and c != "test speakers"]


def test_a_class_missing_on_one_side_is_reported(meld7):
    # 'fear' spoken by one speaker only: some fold cannot have it on both sides
    few = meld7[(meld7["label"] != "fear") | (meld7["speaker"] == "Ross")]
    with pytest.warns(UserWarning, match=r"lack a class .*no fear"):
        splits.make_splits(few, "speaker-cv", n_folds=3, seed=0)
    one_fear = pd.concat([meld7[meld7["label"] != "fear"], meld7[meld7["label"] == "fear"].iloc[:1]])
    with pytest.raises(ValueError, match="random-split needs at least 2 clips of every class; fear: 1$"):
        splits.make_splits(one_fear, "random-split")


def _predictions(classes, n_per_class=10, splits_=("fold0", "fold1"), seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for s in splits_:
        for c in classes:
            for i in range(n_per_class):
                p = rng.dirichlet(np.ones(len(classes)))
                p[classes.index(c)] += 0.6 if i % 3 else 0.0  # mostly right
                p /= p.sum()
                rows.append({"clip_id": f"{s}_{c}_{i}", "split": s, "y_true": c,
                             "y_pred": classes[int(p.argmax())], **{f"p_{k}": p[j] for j, k in enumerate(classes)}})
    return pd.DataFrame(rows)


def test_seven_classes_through_the_evaluation(tmp_path):
    df = _predictions(SEVEN)
    path = ev.save_predictions(tmp_path / "bilstm_sa.csv", df)
    df = ev.load_predictions(path, SEVEN)
    cm = ev.confusion(df["y_true"], df["y_pred"], SEVEN)
    assert cm.shape == (7, 7) and cm.sum() == len(df) and (cm.sum(axis=1) == 20).all()
    report = ev.per_class_report(df["y_true"], df["y_pred"], SEVEN)
    assert report.index.tolist() == SEVEN and (report["support"] == 20).all()
    m = ev.classification_metrics(df["y_true"], df["y_pred"], SEVEN)
    assert m["accuracy"] == pytest.approx(np.trace(cm) / cm.sum())
    s = ev.summarize_model(df, SEVEN, bootstrap=50, seed=0, groups=df["clip_id"].str[:5].to_numpy())
    assert np.array(s["confusion"]).shape == (7, 7) and s["n_splits"] == 2
    assert 0 <= s["auc_ovr"] <= 1 and len(ev.roc_curves(df["y_true"], ev.proba_matrix(df, SEVEN), SEVEN)) == 7
    assert "7 classes" in results.paper_comparison_note(SEVEN) and results.paper_comparison_note(["sad", "happy", "surprise"]) == ""

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ax = plots.plot_confusion(cm, SEVEN, "seven", normalize=True)
    assert len(ax.get_xticklabels()) == 7 and len(ax.texts) == 49
    ax = plots.plot_roc(df["y_true"], ev.proba_matrix(df, SEVEN), SEVEN)
    assert len(ax.get_legend().get_texts()) == 7
    with pytest.raises(ValueError, match="for 7 classes"):
        plots.plot_confusion(cm[:3, :3], SEVEN)
    plt.close("all")


# ------------------------------------------------------------------------------- paired, 6 classes

def _fake_ravdess(root: Path, actors=range(1, 5)) -> Path:
    """RAVDESS speech names (scan only: the files are not read)."""
    for a in actors:
        d = root / f"Actor_{a:02d}"
        d.mkdir(parents=True, exist_ok=True)
        for emo in range(1, 9):
            for inten in (1, 2) if emo != 1 else (1,):
                for st in (1, 2):
                    for rep in (1, 2):
                        (d / f"03-01-{emo:02d}-{inten:02d}-{st:02d}-{rep:02d}-{a:02d}.flac").write_bytes(b"x")
    return root


def _fake_oulu(root: Path, subjects=range(10, 16)) -> Path:
    for s in subjects:
        for emo in ("Anger", "Disgust", "Fear", "Happiness", "Sadness", "Surprise"):
            d = root / f"P{s:03d}" / emo
            d.mkdir(parents=True, exist_ok=True)
            for i in range(3):
                (d / f"{i:03d}.jpeg").write_bytes(b"y")
    return root


def test_paired_plan_six_emotions_on_a_fake_tree(tmp_path):
    speech, faces = _fake_ravdess(tmp_path / "ravdess_speech"), _fake_oulu(tmp_path / "oulu_casia")
    c = paired.count_paired(speech, faces, "[angry, disgust, fear, happy, sad, surprise]")
    assert (c["speech_corpus"], c["face_corpus"]) == ("ravdess_speech", "oulu_casia")
    assert c["classes"] == SIX and c["n_clips"] == 4 * 6 * 8 and c["n_speakers"] == 4 and c["n_subjects"] == 4
    assert c["per_class"] == {e: 32 for e in SIX} and c["dropped"] == 0
    plan = paired.plan_paired(speech, faces, SIX, seed=1)
    assert len(set(plan.mapping.values())) == 4  # distinct subjects while there are enough
    with pytest.raises(ValueError, match=r"no image of \['neutral'\]"):
        paired.count_paired(speech, faces, SIX + ["neutral"])
    with pytest.raises(ValueError, match="unknown class 'bored'"):
        paired.count_paired(speech, faces, "happy,bored")


def _shared_data() -> Path:
    return Path(os.environ.get("MER_SHARED_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data")


@pytest.mark.shared_data
def test_paired_dry_count_ravdess_oulu_six_emotions():
    data = _shared_data()
    if not ((data / "ravdess_speech").is_dir() and (data / "oulu_casia").is_dir()):
        pytest.skip(f"../shared/data with ravdess_speech/ and oulu_casia/ not found (looked in {data})")
    c = paired.count_paired(data / "ravdess_speech", data / "oulu_casia", SIX)
    assert c["n_clips"] == 960 and c["n_speakers"] == 20 and c["n_subjects"] == 20
    assert c["per_class"] == {e: 160 for e in SIX} and c["dropped"] == 0
