"""Plumbing: config parsing, splits, atomic io, content cache, runner and CLI."""
from __future__ import annotations

import json
import math
import os

import nbformat
import numpy as np
import pandas as pd
import pytest

from mer_helpers.chain import config
from mer_helpers.core import cache, fileio
from mer_helpers.data import splits
from mer_helpers.cli import build_parser


def _labels(n_speakers=6, per_class=4, classes=("happy", "sad", "surprise")):
    rows = []
    for s in range(n_speakers):
        for c in classes:
            for i in range(per_class):
                rows.append({"clip_id": f"s{s}_{c}_{i}", "path": f"/x/s{s}_{c}_{i}.mp4", "label": c,
                             "speaker": f"spk{s}"})
    return pd.DataFrame(rows)


def test_parse_value_yaml():
    assert config.parse_value("3") == 3
    assert config.parse_value("0.5") == 0.5
    assert config.parse_value("false") is False
    assert config.parse_value("[happy, sad]") == ["happy", "sad"]
    assert config.parse_value("none") == "none"  # a string keyword, not Python None
    assert config.parse_value("null") is None


def test_resolve_presets():
    name, p = config.resolve("sample", None, {"epochs": 7})
    assert name == "smoke" and p["epochs"] == 7 and p["ae_epochs"] == config.PRESETS["smoke"]["ae_epochs"]
    name, p = config.resolve("paired", None, {})
    assert name == "paper" and p == {}
    with pytest.raises(ValueError, match="unknown preset"):
        config.resolve("paired", "fast", {})


@pytest.mark.parametrize("protocol", ["speaker-cv", "speaker-split"])
def test_speaker_independent_splits(protocol):
    df = _labels()
    sp = splits.make_splits(df, protocol, n_folds=3, seed=1)
    spk = dict(zip(df.clip_id, df.speaker))
    evals = splits.evaluation_splits(sp)
    assert len(evals) == (3 if protocol == "speaker-cv" else 1)
    for s in evals:
        assert not ({spk[c] for c in s["train"]} & {spk[c] for c in s["test"]})
        assert set(s["train"]).isdisjoint(s["test"])
    if protocol == "speaker-cv":  # every clip tested exactly once
        tested = [c for s in evals for c in s["test"]]
        assert sorted(tested) == sorted(df.clip_id)
    final = sp["splits"][-1]
    assert final["name"] == "final" and final["test"] == [] and len(final["train"]) == len(df)
    splits.check_speaker_independent(sp, df)


def test_random_split_leaks_speakers_and_check_catches_it():
    df = _labels()
    sp = splits.make_splits(df, "random-split", seed=0)
    s = splits.evaluation_splits(sp)[0]
    assert len(s["test"]) == math.ceil(0.2 * len(df))  # sklearn rounds the test part up
    spk = dict(zip(df.clip_id, df.speaker))
    assert {spk[c] for c in s["train"]} & {spk[c] for c in s["test"]}  # speakers leak, as in the papers
    bad = dict(sp, protocol="speaker-cv")
    with pytest.raises(AssertionError, match="speakers on both sides"):
        splits.check_speaker_independent(bad, df)


def test_official_split_needs_column():
    df = _labels()
    with pytest.raises(ValueError, match="split"):
        splits.make_splits(df, "official")
    df["split"] = np.where(df.speaker.isin(["spk0", "spk1"]), "test", np.where(df.speaker == "spk2", "dev", "train"))
    sp = splits.make_splits(df, "official")
    s = splits.evaluation_splits(sp)[0]
    assert len(s["test"]) == (df.split == "test").sum() and len(s["train"]) == (df.split != "test").sum()


def test_features_roundtrip_and_shape_check(tmp_path):
    X = np.arange(6, dtype=np.float64).reshape(2, 3)
    fileio.save_features(tmp_path / "f.npz", ["a", "b"], X, ["c0", "c1", "c2"])
    ids, X2, cols = fileio.load_features(tmp_path / "f.npz")
    assert list(ids) == ["a", "b"] and X2.dtype == np.float32 and np.array_equal(X2, X) and list(cols) == ["c0", "c1", "c2"]
    with pytest.raises(ValueError, match="expected"):
        fileio.save_features(tmp_path / "g.npz", ["a"], X, ["c0", "c1", "c2"])
    assert not list(tmp_path.glob(".*tmp*")), "temporary files left behind"


def test_fragments_deep_merge(tmp_path):
    fileio.write_fragment(tmp_path, "02_audio", {"features": {"audio": 64}, "x": 1})
    fileio.write_fragment(tmp_path, "04_visual", {"features": {"visual": 2048}})
    m = fileio.merge_fragments(tmp_path)
    assert m == {"features": {"audio": 64, "visual": 2048}, "x": 1}


def test_cache_keys_follow_content_not_name(tmp_path, monkeypatch):
    monkeypatch.setenv("MER_CACHE_DIR", str(tmp_path / "cache"))
    a, b = tmp_path / "a.bin", tmp_path / "b.bin"
    a.write_bytes(b"same bytes")
    b.write_bytes(b"same bytes")
    assert cache.make_key("s", files=[a], p=1) == cache.make_key("s", files=[b], p=1)
    assert cache.make_key("s", files=[a], p=1) != cache.make_key("s", files=[a], p=2)
    calls = []

    def compute():
        calls.append(1)
        return {"x": np.arange(3)}

    k = cache.make_key("s", files=[a])
    r1 = cache.cached_arrays("s", k, compute)
    r2 = cache.cached_arrays("s", k, compute)
    assert len(calls) == 1 and np.array_equal(r1["x"], r2["x"])
    # a corrupt entry is recomputed, not trusted
    cache.entry_path("s", k).write_bytes(b"garbage")
    cache.cached_arrays("s", k, compute)
    assert len(calls) == 2


def _nb(path, cells):
    nb = nbformat.v4.new_notebook()
    p = nbformat.v4.new_code_cell("out_dir = None\nx = 1")
    p.metadata["tags"] = ["parameters"]
    nb.cells = [p] + [nbformat.v4.new_code_cell(c) for c in cells]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


@pytest.mark.slow  # starts Jupyter kernels (papermill)
def test_runner_chains_and_merges(tmp_path):
    from mer_helpers.chain.runner import run_chain

    nbdir = tmp_path / "nbs"
    nbdir.mkdir()
    _nb(nbdir / "00_first.ipynb", ["from mer_helpers.core import fileio\nfileio.write_fragment(out_dir, '00_data', {'n_clips': 3 * x})"])
    _nb(nbdir / "01_second.ipynb", ["from mer_helpers.core import fileio\nfileio.write_fragment(out_dir, '02_audio', {'features': {'audio': x}})"])
    m = run_chain("folder", tmp_path / "out", params={"x": 5}, notebook_dir=nbdir, log=lambda *_: None)
    assert m["n_clips"] == 15 and m["features"] == {"audio": 5}
    assert m["dataset"] == "folder" and m["timings_s"]["total"] > 0 and "audio" in m["timings_s"]
    assert (tmp_path / "out" / "notebooks" / "01_second.ipynb").exists()
    assert json.loads((tmp_path / "out" / "metrics.json").read_text())["n_clips"] == 15
    run = fileio.read_json(tmp_path / "out" / "run.json")
    env = run["environment"]  # what the numbers were computed with
    assert env["packages"]["numpy"] == np.__version__ and env["python"].count(".") == 2
    assert run["python"] == env["python"]  # kept at the top level, where earlier runs have it
    first = m["timings_s"]
    assert first["total"] == pytest.approx(first["data"] + first["audio"], abs=0.02)
    # a partial re-run replaces only that notebook's time; stages and total stay whole-chain
    m2 = run_chain("folder", tmp_path / "out", params={"x": 5}, notebook_dir=nbdir, only=["01"],
                   log=lambda *_: None)
    t2 = m2["timings_s"]
    assert t2["data"] == first["data"] and set(m2["timings_s_notebooks"]) == {"00_first", "01_second"}
    assert t2["total"] == pytest.approx(t2["data"] + t2["audio"], abs=0.02)


def test_runner_rejects_unknown_parameter(tmp_path):
    from mer_helpers.chain.runner import run_chain

    nbdir = tmp_path / "nbs"
    nbdir.mkdir()
    _nb(nbdir / "00_first.ipynb", ["y = x"])
    with pytest.raises(ValueError, match=r"unknown parameter\(s\) \['epoch'\].*known: out_dir, x"):
        run_chain("folder", tmp_path / "out", params={"epoch": 5}, notebook_dir=nbdir, log=lambda *_: None)
    assert not (tmp_path / "out" / "notebooks" / "00_first.ipynb").exists()


def test_finalize_keeps_stage_times_of_an_older_metrics_json(tmp_path):
    from mer_helpers.chain.runner import finalize_metrics

    (tmp_path / "artifacts").mkdir()
    (tmp_path / "metrics.json").write_text(json.dumps({"timings_s": {"audio": 10.0, "visual": 20.0, "total": 30.0}}))
    for _ in range(2):  # a second partial re-run must not lose them either
        m = finalize_metrics(tmp_path, "folder", "speaker-cv", {"06_classifiers": 5.0})
        assert m["timings_s"] == {"audio": 10.0, "visual": 20.0, "classifiers": 5.0, "total": 35.0}


def test_stage_timings_sums_notebooks_per_stage():
    from mer_helpers.chain.runner import stage_timings

    t = stage_timings({"01_audio_extraction": 2.0, "02_audio_autoencoder": 3.5, "03_summary_images": 1.0})
    assert t == {"audio": 5.5, "visual": 1.0, "total": 6.5}


@pytest.mark.slow  # starts Jupyter kernels (papermill)
def test_runner_names_failing_notebook_and_stops(tmp_path):
    from mer_helpers.chain.runner import NotebookFailed, run_chain

    nbdir = tmp_path / "nbs"
    nbdir.mkdir()
    _nb(nbdir / "00_ok.ipynb", ["y = 2"])
    _nb(nbdir / "01_bad.ipynb", ["y = 2", "raise ValueError('clip dia3_utt1.mp4: no audio stream')"])
    _nb(nbdir / "02_never.ipynb", ["open(out_dir + '/ran', 'w')"])
    with pytest.raises(NotebookFailed) as e:
        run_chain("folder", tmp_path / "out", notebook_dir=nbdir, log=lambda *_: None)
    msg = str(e.value)
    assert "01_bad.ipynb" in msg and "cell" in msg and "no audio stream" in msg
    assert not (tmp_path / "out" / "ran").exists()


def test_cli_parser_interface():
    p = build_parser()
    a = p.parse_args(["run", "--dataset", "paired", "--data-root", "../shared/data", "-p", "epochs", "3",
                      "-p", "faces", "kdef", "--protocol", "random-split"])
    assert a.dataset == "paired" and a.param == [["epochs", "3"], ["faces", "kdef"]] and a.protocol == "random-split"
    a = p.parse_args(["predict", "m", "a.mp4", "dir", "--labels", "l.csv"])
    assert a.clips == ["a.mp4", "dir"] and a.labels == "l.csv"
    with pytest.raises(SystemExit):
        p.parse_args(["run", "--protocol", "leaky"])


def test_every_parameter_line_is_visible_to_papermill():
    """papermill must read each ``name = value  # comment`` line of every parameters cell: a line
    it cannot parse (e.g. `` = `` inside the comment) would make ``mer run -p name ...`` fail."""
    import re

    import papermill as pm

    from mer_helpers.chain.runner import chain_notebooks

    for path in chain_notebooks():
        nb = nbformat.read(path, as_version=4)
        cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
        names = re.findall(r"^(\w+)\s*=", cell.source, flags=re.M)
        assert sorted(pm.inspect_notebook(str(path))) == sorted(names), path.name


def test_read_saved_names_the_missing_file_and_its_writer(tmp_path):
    from mer_helpers.core import fileio

    with pytest.raises(FileNotFoundError, match=r"config\.json: no saved thing here .*written by Thing\.save"):
        fileio.read_saved(tmp_path, "config.json", "thing", "Thing.save")
    fileio.write_json(tmp_path / "config.json", {"a": 1})
    assert fileio.read_saved(tmp_path, "config.json", "thing", "Thing.save") == {"a": 1}


def test_environment_reads_the_processor_and_leaves_out_missing_packages(tmp_path):
    from mer_helpers.core import environment

    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nmodel name\t: Some CPU\nflags\t\t: fpu sse avx avx2 fma avx512f\n\n"
                    "processor\t: 1\nmodel name\t: Some CPU\nflags\t\t: fpu sse avx avx2 fma avx512f\n")
    c = environment.cpu(info)
    assert c == {"model": "Some CPU", "logical_cores": 2, "vector_flags": ["avx", "avx2", "fma", "avx512f"]}
    assert "model" in environment.cpu(tmp_path / "absent")  # not Linux: what platform knows
    versions = environment.package_versions(["numpy", "no-such-distribution-mer"])
    assert versions == {"numpy": np.__version__}
    line = environment.summary({"cpu": c, "packages": versions})
    assert line == f"Some CPU (2 cores; avx, avx2, fma, avx512f); numpy {np.__version__}"
