"""Protocol ``cross-corpus`` (issue 15): train on every clip of one corpus pair, test on every
clip of another. Splits on handmade tables, the paired loader with a stand-in builder, the
parameter schema and the single-split reporting; no clip is built and no model trained."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mer_helpers.chain import schema
from mer_helpers.data import datasets, splits
from mer_helpers.methods import evaluation as ev
from mer_helpers.chain.runner import chain_notebooks
from mer_helpers.stages import results

CLASSES = ["happy", "sad", "surprise"]


def two_domains(train_speakers=("ravdess_01", "ravdess_02", "ravdess_03"),
                test_speakers=("savee_DC", "savee_JE"), per_class: int = 2) -> pd.DataFrame:
    rows = []
    for dom, spks, corpus in (("train", train_speakers, "ravdess_speech+kdef"),
                              ("test", test_speakers, "savee+oulu_casia")):
        for spk in spks:
            for c in CLASSES:
                for i in range(per_class):
                    rows.append({"clip_id": f"{spk}_{c}_{i}", "path": f"/x/{spk}_{c}_{i}.mp4", "label": c,
                                 "speaker": spk, "subject": f"face_{spk}", "corpus": corpus, "domain": dom})
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------------------ splits

def test_one_cross_split_plus_final():
    df = two_domains()
    sp = splits.make_splits(df, protocol="cross-corpus", seed=0)
    assert sp["protocol"] == "cross-corpus" and "cross-corpus" in splits.PROTOCOLS
    evals = splits.evaluation_splits(sp)
    assert [s["name"] for s in evals] == ["cross"]
    train_ids = df.loc[df["domain"] == "train", "clip_id"].tolist()
    test_ids = df.loc[df["domain"] == "test", "clip_id"].tolist()
    assert sorted(evals[0]["train"]) == sorted(train_ids) and sorted(evals[0]["test"]) == sorted(test_ids)
    final = [s for s in sp["splits"] if s["name"] == "final"]
    assert len(final) == 1 and sorted(final[0]["train"]) == sorted(train_ids) and final[0]["test"] == []
    spk = dict(zip(df["clip_id"], df["speaker"]))
    assert not {spk[c] for c in evals[0]["train"]} & {spk[c] for c in evals[0]["test"]}
    splits.check_speaker_independent(sp, df)  # checked for this protocol, and passes
    assert sp["domains"]["train"] == {"n_clips": 18, "n_speakers": 3, "corpus": ["ravdess_speech+kdef"]}
    assert sp["domains"]["test"] == {"n_clips": 12, "n_speakers": 2, "corpus": ["savee+oulu_casia"]}
    assert sp["classes"] == CLASSES and sp["n_clips"] == 30 and sp["n_speakers"] == 5
    table = splits.describe_splits(sp, df)
    assert table.loc["cross", "train corpus"] == "ravdess_speech+kdef"
    assert table.loc["cross", "test corpus"] == "savee+oulu_casia"
    assert table.loc["cross", "shared speakers"] == 0 and table.loc["cross", "test happy"] == 4


def _one_line_error(df, match):
    with pytest.raises(ValueError, match=match) as e:
        splits.make_splits(df, protocol="cross-corpus")
    assert "\n" not in str(e.value)
    return str(e.value)


def test_bad_inputs_give_one_clear_line():
    df = two_domains()
    msg = _one_line_error(df[df["domain"] == "train"], "found only domain 'train'")
    assert "-p test_speech savee -p test_faces oulu_casia" in msg
    _one_line_error(df[df["domain"] == "test"], "found only domain 'test'")
    _one_line_error(df.drop(columns="domain"), "needs a 'domain' column")
    _one_line_error(df.assign(domain="valid"), r"holds \['valid'\]")
    leak = df.copy()
    leak.loc[leak.index[-1], "speaker"] = "ravdess_01"
    _one_line_error(leak, r"1 speaker\(s\) in both domains \(e.g. ravdess_01\)")
    no_sad = df[~((df["domain"] == "train") & (df["label"] == "sad"))]
    _one_line_error(no_sad, r"\['sad'\] have test clips but no training clip")


def test_single_split_is_reported_without_a_spread():
    rng = np.random.default_rng(0)
    rows = [{"clip_id": f"c{i}", "split": "cross", "y_true": CLASSES[i % 3], "y_pred": CLASSES[(i + (i % 4 == 0)) % 3],
             **{f"p_{c}": float(rng.random()) for c in CLASSES}} for i in range(30)]
    s = ev.summarize_model(pd.DataFrame(rows), CLASSES, bootstrap=20, seed=0)
    assert s["n_splits"] == 1 and s["accuracy_std"] == 0.0 and list(s["per_split"]) == ["cross"]
    assert ev.format_mean_std(s["accuracy"], s["accuracy_std"], s["n_splits"]).endswith("(1 split)")
    assert ev.format_mean_std(0.5, 0.1, 5) == "0.500 ± 0.100"
    assert ev.format_mean_std(0.5, float("nan")) == "0.500" and ev.format_mean_std(float("nan")) == "n/a"
    assert "cross-corpus" in results.paper_comparison_note(CLASSES, "cross-corpus")


# ------------------------------------------------------------------------------------ loader

@pytest.fixture
def fake_builder(monkeypatch):
    """A stand-in for paired.build_paired: 2 speakers x the classes, speakers named after the
    speech corpus (as the real builder does)."""
    calls = []

    def build_paired(speech_dir, faces_dir, out_dir, classes=CLASSES, seed=0, n_jobs=2, **opts):
        calls.append((Path(speech_dir).name, Path(faces_dir).name, list(classes)))
        sp, fa = Path(speech_dir).name, Path(faces_dir).name
        rows = [{"clip_id": f"{sp}_{k}_{c}", "path": f"clips/{sp}_{k}_{c}.mp4", "label": c,
                 "speaker": f"{sp}_{k}", "subject": f"{fa}_{k}", "corpus": f"{sp}+{fa}"}
                for k in range(2) for c in classes]
        return pd.DataFrame(rows)

    monkeypatch.setattr(datasets, "build_paired", build_paired)
    return calls


@pytest.fixture
def data_root(tmp_path):
    for name in ("ravdess_speech", "kdef", "savee", "oulu_casia"):
        (tmp_path / "data" / name).mkdir(parents=True)
        (tmp_path / "data" / name / "x.bin").write_bytes(b"x")
    return tmp_path / "data"


def test_load_labels_builds_both_pairs_with_a_domain_column(data_root, fake_builder, isolated_cache):
    df = datasets.load_labels("paired", data_root, classes="joy, sadness, surprised", test_speech="savee",
                              test_faces="oulu_casia", verbose=False)
    assert fake_builder == [("ravdess_speech", "kdef", CLASSES), ("savee", "oulu_casia", CLASSES)]
    assert df.groupby("domain").size().to_dict() == {"test": 6, "train": 6}
    assert df.attrs["classes"] == CLASSES
    assert df.attrs["pairs"] == {"train": "ravdess_speech+kdef", "test": "savee+oulu_casia"}
    sp = splits.make_splits(df, protocol="cross-corpus")
    assert [s["name"] for s in sp["splits"]] == ["cross", "final"]
    summary = datasets.domain_summary(df)
    assert summary["train"]["corpus"] == ["ravdess_speech+kdef"] and summary["test"]["n_speakers"] == 2
    assert datasets.domain_summary(df.drop(columns="domain")) is None
    # no test pair: one pair, as before (and cross-corpus then says what is missing)
    one = datasets.load_labels("paired", data_root, test_speech=None, test_faces=None, verbose=False)
    assert "domain" not in one.columns and len(one) == 6


def test_loader_refuses_a_test_pair_that_shares_speakers(data_root, fake_builder, isolated_cache):
    with pytest.raises(ValueError, match="needs another speech corpus than the training pair's 'ravdess_speech'"):
        datasets.load_labels("paired", data_root, test_faces="oulu_casia", verbose=False)
    with pytest.raises(ValueError, match="needs another speech corpus"):
        datasets.load_labels("paired", data_root, test_speech="ravdess_speech", test_faces="oulu_casia")
    assert fake_builder == []  # refused before building anything
    with pytest.raises(ValueError, match="options of dataset 'paired' only"):
        datasets.load_labels("meld", data_root, test_speech="savee")
    with pytest.warns(UserWarning, match="face subject"):  # same face corpus on both sides
        datasets.load_labels("paired", data_root, faces="oulu_casia", test_speech="savee", verbose=False)


# ------------------------------------------------------------------------------------ schema

def test_schema_accepts_cross_corpus_and_the_test_pair():
    assert schema.PROTOCOLS == splits.PROTOCOLS and datasets.DOMAIN_COLUMN == splits.DOMAIN_COLUMN
    good = {"dataset": "paired", "protocol": "cross-corpus", "test_speech": "savee", "test_faces": "oulu_casia"}
    assert schema.check(good) == []
    assert schema.check({**good, "test_faces": None}) == []
    assert schema.check({"dataset": "folder", "protocol": "cross-corpus"}) == []
    assert schema.check({"protocol": "speaker-cv", "test_speech": None, "test_faces": None}) == []


@pytest.mark.parametrize("params, match", [
    ({"dataset": "paired", "protocol": "cross-corpus"}, "needs a test pair with another speech corpus"),
    ({"dataset": "paired", "protocol": "cross-corpus", "test_faces": "oulu_casia"}, "-p test_speech SPEECH"),
    ({"dataset": "paired", "protocol": "cross-corpus", "test_speech": "ravdess_speech"}, "another speech corpus"),
    ({"dataset": "paired", "protocol": "speaker-cv", "test_speech": "savee"}, "only with --protocol cross-corpus"),
    ({"dataset": "meld", "protocol": "cross-corpus"}, "not 'meld'"),
    ({"dataset": "meld", "protocol": "cross-corpus", "test_speech": "savee"}, "dataset 'paired' only"),
    ({"dataset": "paired", "protocol": "cross-corpus", "test_speech": 3}, "test_speech = 3"),
    ({"protocol": "cross corpus"}, "one of speaker-cv, speaker-split, random-split, official, cross-corpus"),
])
def test_schema_names_a_bad_cross_corpus_setting(params, match):
    problems = schema.check(params)
    assert len(problems) == 1 and "\n" not in problems[0]
    assert match in problems[0], problems


def test_schema_checks_the_test_pair_folders(data_root):
    base = {"dataset": "paired", "data_root": str(data_root), "protocol": "cross-corpus"}
    assert schema.check({**base, "test_speech": "savee", "test_faces": "oulu_casia"}, needs=["data"]) == []
    problems = schema.check({**base, "test_speech": "tess", "test_faces": "oulu_casia"}, needs=["data"])
    assert len(problems) == 1 and problems[0].startswith("test_speech = 'tess'") and "does not exist" in problems[0]


def test_notebook_00_declares_the_test_pair():
    nb00 = next(p for p in chain_notebooks() if p.name.startswith("00"))
    declared, defaults = schema.chain_parameters([nb00])
    assert {"test_speech", "test_faces", "protocol"} <= declared[nb00.name]
    assert defaults["test_speech"] is None and defaults["test_faces"] is None
    # the effective chain settings of the documented command pass the checks
    assert schema.check({"dataset": "paired", "protocol": "cross-corpus", "test_speech": "savee",
                         "test_faces": "oulu_casia"}, defaults) == []
