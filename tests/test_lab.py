"""`mer lab`: the JupyterLab copies of the notebooks in OUT/lab, the checks on the run folder,
the jupyter command line, and a `mer --help` that imports none of the heavy packages.
The browser test is tests/test_lab_browser.py (slow)."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import nbformat

from mer_helpers import cli
from mer_helpers.chain import lab
from mer_helpers.chain.runner import NOTEBOOK_DIR, chain_notebooks

RUN_PARAMS = {"dataset": "sample", "out_dir": "/somewhere/else/run", "protocol": "random-split", "n_folds": 3,
              "ae_epochs": 5, "backbone_weights": "none", "bootstrap": 200, "epochs": 4}


def _run_folder(tmp_path, params=RUN_PARAMS):
    out = tmp_path / "run"
    (out / "notebooks").mkdir(parents=True)
    (out / "notebooks" / "00_data.ipynb").write_text(nbformat.writes(nbformat.v4.new_notebook()))
    (out / "run.json").write_text(json.dumps({"preset": "smoke", "parameters": params}))
    return out


def _injected(nb) -> dict:
    (cell,) = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    values = {}
    exec(cell.source, {}, values)  # literals only, as papermill writes them
    return values


def test_prepare_writes_each_notebook_with_the_runs_parameters(tmp_path):
    out = _run_folder(tmp_path)
    where = lab.prepare(out, log=lambda *_: None)
    assert where == out / "lab"
    names = [p.name for p in chain_notebooks(NOTEBOOK_DIR)]
    assert sorted(p.name for p in where.glob("*.ipynb")) == names and len(names) == 8
    nbs = {n: nbformat.read(where / n, as_version=4) for n in names}
    # the values of run.json that each notebook declares, and the run folder seen from OUT/lab
    assert _injected(nbs["00_data.ipynb"]) == {"dataset": "sample", "out_dir": "..", "protocol": "random-split",
                                               "n_folds": 3}
    assert _injected(nbs["02_audio_autoencoder.ipynb"]) == {"dataset": "sample", "out_dir": "..", "ae_epochs": 5}
    assert _injected(nbs["04_resnet_features.ipynb"])["backbone_weights"] == "none"
    # a group (schema.PARAMETER_GROUPS) arrives as one dict: the run's member, the chain's defaults for the rest
    six = _injected(nbs["06_classifiers.ipynb"])
    assert six["training"] == {"epochs": 4, "batch_size": 32, "learning_rate": 0.001, "validation_split": 0.2,
                                "ensemble": 1, "modality_dropout": "none"}
    assert "epochs" not in six and "early_stopping" not in six  # members never flat; a group the run leaves is not passed
    assert _injected(nbs["07_results.ipynb"])["bootstrap"] == 200
    for n, nb in nbs.items():
        tags = [c.metadata.get("tags", []) for c in nb.cells]
        i = tags.index(["parameters"])
        assert tags[i + 1] == ["injected-parameters"], n  # right after the defaults, as `mer run` has it
        assert 'out_dir = "../runs/sample"' in nb.cells[i].source  # the defaults stay readable
        assert nb.metadata.kernelspec.name == "python3"
        assert all(c.outputs == [] and c.execution_count is None for c in nb.cells if c.cell_type == "code"), n
        assert not any(c.metadata.get("tags", None) == [] for c in nb.cells), n  # none left empty by papermill
        source = nbformat.read(NOTEBOOK_DIR / n, as_version=4)
        assert len(nb.cells) == len(source.cells) + 1


def test_prepare_keeps_edited_copies_until_reset(tmp_path):
    out = _run_folder(tmp_path)
    lab.prepare(out, log=lambda *_: None)
    copy = out / "lab" / "00_data.ipynb"
    nb = nbformat.read(copy, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell("my_edit = 1"))
    nbformat.write(nb, copy)
    said = []
    lab.prepare(out, log=said.append)
    assert "my_edit = 1" in copy.read_text() and "kept the 8 copies" in said[0]
    lab.prepare(out, reset=True, log=said.append)
    assert "my_edit" not in copy.read_text() and "8 notebook(s)" in said[-1]


def test_run_folder_checks_are_one_line(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    no_json = _run_folder(tmp_path)
    (no_json / "run.json").unlink()
    for folder, what in ((tmp_path / "missing", "no such folder"),
                         (empty, "has no executed notebooks (notebooks/NN_*.ipynb): not a `mer run` folder"),
                         (no_json, "has no run.json")):
        assert cli.main(["lab", "--from", str(folder)]) == 1
        err = capsys.readouterr().err
        assert err.startswith(f"mer lab: {folder.resolve()}") and what in err, err
        assert err.count("\n") == 1 and f"mer run --out {folder.resolve()}" in err
    assert not (empty / "lab").exists()


def test_dry_run_prints_the_jupyter_command(tmp_path, capsys):
    out = _run_folder(tmp_path)
    assert cli.main(["lab", "--from", str(out), "--dry-run", "--port", "8899", "--no-browser",
                     "--", "--ServerApp.ip=127.0.0.1"]) == 0
    cmd = capsys.readouterr().out.strip().splitlines()[-1].split()
    root = ["--allow-root"] if os.geteuid() == 0 else []  # JupyterLab refuses root without it
    assert cmd == [sys.executable, "-m", "jupyterlab", f"--ServerApp.root_dir={out.resolve()}",
                   "--LabApp.default_url=/lab/tree/lab", *root, "--ServerApp.port=8899", "--no-browser",
                   "--ServerApp.ip=127.0.0.1"]
    assert (out / "lab" / "07_results.ipynb").exists()
    assert lab.lab_command(out)[5:] == root  # a browser, and JupyterLab's own port


def test_help_imports_no_heavy_package():
    code = ("import sys; from mer_helpers import cli; cli.build_parser().format_help(); "
            "print(sorted({m.split('.')[0] for m in sys.modules}))")
    loaded = set(json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                           check=True).stdout.replace("'", '"')))
    heavy = {"jupyterlab", "jupyter_server", "papermill", "nbformat", "matplotlib", "seaborn", "pandas",
             "tensorflow", "keras", "dask", "mer_helpers.chain.lab"}
    assert not loaded & heavy, loaded & heavy
    assert {"mer_helpers", "argparse"} <= loaded
