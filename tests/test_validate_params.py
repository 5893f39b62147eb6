"""`mer run` checks every parameter, the data folder, FFmpeg and the backbone weights before
notebook 00, and names every problem in one message within seconds."""
from __future__ import annotations

import subprocess
import sys
import time

import nbformat
import pytest

from mer_helpers.chain import schema
from mer_helpers.chain.config import PRESETS
from mer_helpers.chain.runner import REPO_ROOT, chain_notebooks, run_chain


@pytest.fixture(scope="module")
def param_only_chain(tmp_path_factory):
    """The chain's notebooks with their real ``parameters`` cells and nothing else but a cell
    that leaves a mark: validation sees the real names and defaults, and a run that got past
    validation by mistake takes a second, not minutes."""
    d = tmp_path_factory.mktemp("param_only_chain")
    for src in chain_notebooks():
        nb = nbformat.read(src, as_version=4)
        cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
        out = nbformat.v4.new_notebook()
        out.cells = [cell, nbformat.v4.new_code_cell(f"open(out_dir + '/ran_{src.stem}', 'w').close()")]
        out.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        nbformat.write(out, d / src.name)
    return d


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    monkeypatch.setenv("MER_OFFLINE", "1")  # the ImageNet probe answers at once


def _fails(nbdir, tmp_path, params, dataset="sample", **kw) -> str:
    """run_chain must raise InvalidParameters within 10 s, before any notebook runs."""
    out = tmp_path / "out"
    t0 = time.perf_counter()
    with pytest.raises(schema.InvalidParameters) as e:
        run_chain(dataset, out, params=params, notebook_dir=nbdir, log=lambda *_: None, **kw)
    assert time.perf_counter() - t0 < 10
    assert isinstance(e.value, ValueError)  # the CLI prints it as `mer run: <message>`
    assert not list((out / "notebooks").glob("*.ipynb")) and not list(out.glob("ran_*"))
    return str(e.value)


def _line(msg: str, name: str) -> str:
    lines = [ln for ln in msg.splitlines() if ln.strip().startswith(f"- {name} =")]
    assert len(lines) == 1, msg
    return lines[0]


OK = {"backbone_weights": "none"}


@pytest.mark.parametrize("name,value,allowed", [
    ("n_clusters", 0, "an integer >= 1"),
    ("epochs", -1, "an integer >= 1"),
    ("seq_steps", "abc", "an integer >= 1"),
    ("epochs", 1.5, "an integer >= 1"),
    ("epochs", True, "an integer >= 1"),
    ("dropout", "high", "a number in [0, 1)"),
    ("dropout", 1.0, "a number in [0, 1)"),
    ("frame_size", 100, "a multiple of 8"),
    ("summary_mode", "mean", "shared, per_clip, average, all"),
    ("models", ["cnn", "svm"], "bilstm_sa, bilstm, cnn"),
    ("models", "cnn", "a list"),
    ("audio_features", "ae+mfcc", "ae, mfcc_stats, egemaps"),
    ("classes", ["happy"], "at least two distinct"),
    ("denoise", "maybe", "true or false"),
    ("monitor", "loss", "none, val_loss, val_accuracy"),
    ("aux_faces", "all", "none, unpaired"),
])
def test_one_bad_value_is_named_with_what_is_allowed(param_only_chain, tmp_path, name, value, allowed):
    msg = _fails(param_only_chain, tmp_path, {**OK, name: value})
    line = _line(msg, name)
    assert repr(value) in line and allowed in line
    assert msg.startswith("1 problem ")


NUMERIC = sorted(k for k, r in schema.SCHEMA.items() if r.kind in ("int", "float"))


def test_schema_covers_the_required_numeric_parameters():
    need = {"n_folds", "n_jobs", "epochs", "ae_epochs", "cae_epochs", "batch_size", "ae_batch_size",
            "cae_batch_size", "population", "iterations", "selection_seeds", "n_clusters",
            "frame_interval", "seq_steps", "units", "heads", "patience", "n_mfcc", "n_fft",
            "hop_length", "n_mels", "bootstrap", "frame_size", "validation_split",
            "ae_validation_split", "alpha", "dropout", "learning_rate"}
    assert need <= set(NUMERIC)


@pytest.mark.parametrize("name", NUMERIC)
def test_wrong_type_for_every_numeric_parameter(param_only_chain, tmp_path, name):
    msg = _fails(param_only_chain, tmp_path, {**OK, name: "abc"})
    line = _line(msg, name)
    assert "'abc'" in line and "allowed: " in line and ("integer" in line or "number" in line)


def test_several_bad_values_in_one_message(param_only_chain, tmp_path):
    msg = _fails(param_only_chain, tmp_path, {**OK, "n_clusters": 0, "epochs": -1, "seq_steps": "abc",
                                              "selector": "kbest", "learning_rate": 0, "epoch": 3})
    for name in ("n_clusters", "epochs", "seq_steps", "selector", "learning_rate"):
        _line(msg, name)
    assert "unknown parameter(s) ['epoch']" in msg
    assert msg.startswith("6 problems ")


def test_auxiliary_faces_need_the_summary_mode_that_describes_an_image_set_as_a_clip(param_only_chain, tmp_path):
    msg = _fails(param_only_chain, tmp_path, {**OK, "aux_faces": "unpaired", "summary_mode": "shared"})
    assert "summary_mode 'all'" in _line(msg, "aux_faces") and msg.startswith("1 problem ")


def test_missing_paired_data_root_is_named(param_only_chain, tmp_path):
    missing = tmp_path / "no_such_root"
    msg = _fails(param_only_chain, tmp_path, dict(OK), dataset="paired", data_root=missing)
    assert str(missing) in msg and "data_root" in msg
    # the root exists but the face corpus folder does not
    (missing / "ravdess_speech").mkdir(parents=True)
    msg = _fails(param_only_chain, tmp_path, {**OK, "faces": "ckplus"}, dataset="paired", data_root=missing)
    assert "faces = 'ckplus'" in msg and str(missing / "ckplus") in msg and "speech" not in msg.split("faces")[0]


def test_folder_without_data_root_and_bad_values_together(param_only_chain, tmp_path):
    msg = _fails(param_only_chain, tmp_path, {**OK, "n_folds": 1}, dataset="folder")
    assert "data_root" in msg and "--data-root" in msg
    _line(msg, "n_folds")


def test_default_imagenet_weights_offline_fail_fast(param_only_chain, tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))  # no cached weights
    msg = _fails(param_only_chain, tmp_path, {})
    assert "backbone_weights = 'imagenet'" in msg and "-p backbone_weights none" in msg
    # the weights are checked only when the visual notebook is about to run
    m = run_chain("sample", tmp_path / "out2", notebook_dir=param_only_chain, only=["05"],
                  log=lambda *_: None)
    assert (tmp_path / "out2" / "ran_05_feature_selection").exists() and isinstance(m, dict)


def test_unknown_preset_is_listed_with_the_rest(param_only_chain, tmp_path):
    msg = _fails(param_only_chain, tmp_path, {**OK, "epochs": 0}, preset="fastest")
    assert "unknown preset 'fastest'" in msg
    _line(msg, "epochs")


def test_every_notebook_default_and_preset_passes_the_schema():
    declared, defaults = schema.chain_parameters(chain_notebooks())
    assert schema.check(defaults, defaults) == []
    for name, preset in PRESETS.items():
        assert schema.check(preset, defaults) == [], name


def test_check_and_validate_for_notebooks():
    assert schema.check({"epochs": 3, "classes": "happy,sad", "audio_features": "ae+mfcc_stats",
                         "models": ["cnn"], "sr": None, "backbone_weights": None, "bootstrap": 0}) == []
    assert len(schema.check({"epochs": 0, "units": 64, "heads": 5, "n_mfcc": 40, "n_mels": 20})) == 3
    with pytest.raises(schema.InvalidParameters, match=r"epochs = 0"):
        schema.validate({"epochs": 0})
    # a name without a rule is checked against the type of its default
    assert schema.check({"x": "a"}, {"x": 1}) == ["x = 'a': allowed: an integer (like its default 1)"]
    assert schema.check({"x": 2}, {"x": 1}) == []


def test_audio_stat_names_match_the_audio_module():
    from mer_helpers.methods import audio_featurizer

    # every statistic the parameter check accepts is one the audio module can compute
    assert set(schema.AUDIO_STATS) == set(audio_featurizer._STAT_FUNCS)
    assert all(set(v) <= set(audio_featurizer._STAT_FUNCS) for v in schema.AUDIO_STAT_PRESETS.values())


@pytest.mark.slow  # subprocess `mer run`
def test_cli_prints_the_message_and_fails(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "mer_helpers", "run", "--out", str(tmp_path / "o"),
                           "-p", "epochs", "-1", "-p", "seq_steps", "abc", "-p", "backbone_weights", "none",
                           "--notebooks", "00"], capture_output=True, text=True, cwd=REPO_ROOT, timeout=60)
    assert proc.returncode == 1
    assert proc.stderr.startswith("mer run: 2 problems") and "epochs = -1" in proc.stderr
    assert "seq_steps = 'abc'" in proc.stderr and not (tmp_path / "o" / "notebooks").exists()


# ------------------------------------------------------------------ resume (runner fingerprints)

def _tiny_nb(path, params: str, body: str) -> None:
    nb = nbformat.v4.new_notebook()
    p = nbformat.v4.new_code_cell(params)
    p.metadata["tags"] = ["parameters"]
    nb.cells = [p, nbformat.v4.new_code_cell(body)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


@pytest.mark.slow  # runs notebooks twice
def test_resume_skips_unchanged_notebooks_and_reruns_from_a_change(tmp_path):
    nbdir = tmp_path / "nbs"
    nbdir.mkdir()
    mark = "open(out_dir + '/ran.log', 'a').write('{}\\n')"
    _tiny_nb(nbdir / "00_a.ipynb", "out_dir = None\nx = 1", mark.format("00"))
    _tiny_nb(nbdir / "01_b.ipynb", "out_dir = None\ny = 2", "assert y != 99\n" + mark.format("01"))
    _tiny_nb(nbdir / "02_c.ipynb", "out_dir = None\nx = 1", mark.format("02"))
    out = tmp_path / "out"
    ran = out / "ran.log"

    def run(params=None, **kw):
        lines: list[str] = []
        m = run_chain("folder", out, params=params or {}, notebook_dir=nbdir, log=lines.append, **kw)
        return m, lines

    m1, _ = run({"x": 5})
    assert ran.read_text().split() == ["00", "01", "02"]
    fps = __import__("json").loads((out / "artifacts" / "fingerprints.json").read_text())["notebooks"]
    assert set(fps) == {"00_a.ipynb", "01_b.ipynb", "02_c.ipynb"}
    m2, lines = run({"x": 5})
    assert ran.read_text().split() == ["00", "01", "02"]  # nothing ran again
    assert [ln for ln in lines if "skipped" in ln] == [f"[mer run] {n} skipped (unchanged)"
                                                      for n in ("00_a.ipynb", "01_b.ipynb", "02_c.ipynb")]
    assert m2["timings_s_notebooks"] == m1["timings_s_notebooks"]  # earlier wall times kept
    # a parameter only 01 declares: 01 and everything after it rerun, 00 does not
    run({"x": 5, "y": 3})
    assert ran.read_text().split()[3:] == ["01", "02"]
    # a changed notebook reruns it (here the last one)
    _tiny_nb(nbdir / "02_c.ipynb", "out_dir = None\nx = 1", "z = 0\n" + mark.format("02"))
    run({"x": 5, "y": 3})
    assert ran.read_text().split()[5:] == ["02"]
    # force reruns all
    run({"x": 5, "y": 3}, force=True)
    assert ran.read_text().split()[6:] == ["00", "01", "02"]
    # a notebook that failed is not recorded as done: the same run fails again
    from mer_helpers.chain.runner import NotebookFailed

    for _ in range(2):
        with pytest.raises(NotebookFailed, match="01_b.ipynb"):
            run({"x": 5, "y": 99})
    assert ran.read_text().split()[9:] == []
    # back to the earlier value: 01 and 02 run again (their records were dropped or differ)
    _, lines = run({"x": 5, "y": 3})
    assert ran.read_text().split()[9:] == ["01", "02"] and "00_a.ipynb skipped" in " ".join(lines)


def test_strong_preset_without_fer_weights_fails_fast(param_only_chain, tmp_path, monkeypatch):
    """The strong preset's face network is missing: stop before notebook 00, naming the fetch."""
    monkeypatch.setenv("MER_WEIGHTS_DIR", str(tmp_path / "no-weights"))
    msg = _fails(param_only_chain, tmp_path, {}, preset="strong")
    assert "mer weights fetch fer_xception" in _line(msg, "backbone_weights")


def test_grouped_parameters_are_chain_parameters_by_their_members(param_only_chain, tmp_path):
    """Notebook 06 declares ``training``, ``early_stopping`` and ``network`` as dicts
    (schema.PARAMETER_GROUPS): the chain knows their members (``-p epochs``, presets, defaults),
    never the group names, and a notebook receives the group as one dict."""
    declared, defaults = schema.chain_parameters(chain_notebooks())
    six = declared["06_classifiers.ipynb"]
    assert {"training", "network", "early_stopping", "epochs", "seq_steps", "monitor"} <= six
    assert (defaults["epochs"], defaults["seq_steps"], defaults["monitor"]) == (10, 4, "none")
    assert defaults["denoise"] is True and "denoising" not in defaults  # notebook 01's group
    names = schema.chain_names(declared)
    assert "epochs" in names and not names & set(schema.PARAMETER_GROUPS)
    got = schema.notebook_values({"epochs": 3, "units": 8, "seed": 1, "alpha": 0.5}, six, defaults)
    assert got == {"seed": 1, "training": {"epochs": 3, "batch_size": 32, "learning_rate": 0.001, "validation_split": 0.2,
                                           "ensemble": 1, "modality_dropout": "none"},
                   "network": {"sequence_mode": "features", "seq_steps": 4, "units": 8, "heads": 4, "dropout": 0.3}}
    # a group name is not a chain parameter
    assert "unknown parameter(s) ['training']" in _fails(param_only_chain, tmp_path, {**OK, "training": {"epochs": 3}})


def test_a_group_dict_must_hold_exactly_its_members(tmp_path):
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell('out_dir = "x"\ntraining = {"epochs": 10, "batch_size": 32}')
    cell.metadata["tags"] = ["parameters"]
    nb.cells = [cell]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, tmp_path / "06_x.ipynb")
    with pytest.raises(ValueError, match="parameter 'training' must be a dict of epochs, batch_size"):
        schema.chain_parameters([tmp_path / "06_x.ipynb"])
