"""`mer predict` trusts nothing it is given (issue 21): a truncated clip is named by the clip check
`mer run` uses; the bundle, the labels file and the output path are checked before any clip is
decoded, every problem one line naming the file; duplicate clip ids are refused; a damaged or
missing bundle file is named (checksums written at save time; older bundles checked as far as
their files allow); written files get the umask's mode."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mer_helpers.predict import bundle as B
from mer_helpers.core import exitcodes, fileio
from mer_helpers.predict import clips as P
from mer_helpers.predict import inputs

REPO = Path(__file__).resolve().parent.parent
SAMPLE_CLIP = REPO / "data" / "sample" / "clips" / "ravdess_03_03-01-08-01-01-01-03.mp4"
CLASSES = ["happy", "sad", "surprise"]


def _bundle(folder: Path, checksums: bool = True) -> Path:
    """A bundle folder whose files pass the structural check (it is never loaded here)."""
    (folder / "audio").mkdir(parents=True)
    (folder / "visual").mkdir()
    fileio.write_json(folder / "audio" / "config.json", {"class": "AudioFeaturizer"})
    fileio.write_json(folder / "visual" / "visual.json", {"version": 1})
    fileio.write_json(folder / "bundle.json", {"classes": CLASSES, "models": ["bilstm_sa"], "main_model": "bilstm_sa"})
    fileio.save_npz(folder / "classifiers" / "sequencer.npz", mean=np.zeros(4))
    with zipfile.ZipFile(folder / "classifiers" / "bilstm_sa.keras", "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("config.json", '{"layers": []}' + " " * 4000)
        z.writestr("model.weights.h5", os.urandom(20000))
    if checksums:
        fileio.write_checksums(folder)
    return folder


def _no_decoding(monkeypatch):
    """Fail the test if a clip is decoded."""
    def check_clip(path, **kwargs):
        raise AssertionError(f"clip {path} decoded before the inputs were checked")
    monkeypatch.setattr(inputs, "check_clip", check_clip)


def _err_lines(capsys) -> list[str]:
    return capsys.readouterr().err.strip().splitlines()


# -- 1. a truncated clip ------------------------------------------------------------------------

def test_truncated_clip_is_named_by_the_clip_check_of_mer_run(tmp_path, capsys, isolated_cache):
    if not SAMPLE_CLIP.is_file():
        pytest.skip(f"{SAMPLE_CLIP} not in the checkout")
    cut = tmp_path / "t.mp4"
    cut.write_bytes(SAMPLE_CLIP.read_bytes()[:8244])  # the first 30 %: the header is whole
    whole = tmp_path / "whole.mp4"
    whole.write_bytes(SAMPLE_CLIP.read_bytes())
    reason = inputs.check_clip(cut)
    assert reason is not None and reason.startswith("corrupt or truncated: decode error: "), reason
    assert str(cut) not in reason and "\n" not in reason
    assert inputs.check_clip(whole) is None
    from mer_helpers.data.validate import clip_problems

    assert reason == "; ".join(clip_problems(cut))  # the same check as `mer run`
    # a second check reads the cached probe: still named
    assert inputs.check_clip(cut) == reason
    rc = P.predict_cli(_bundle(tmp_path / "model"), [str(cut), str(whole)])
    assert rc == exitcodes.BAD_CLIPS == 2
    assert _err_lines(capsys) == [f"mer predict: {cut}: {reason}"]


# -- 2. every input checked before the first clip is decoded -----------------------------------

def test_labels_and_out_problems_are_named_together_before_any_clip(tmp_path, monkeypatch, capsys):
    model = _bundle(tmp_path / "model")
    clips = tmp_path / "clips"
    clips.mkdir()
    for name in ("a", "b"):
        (clips / f"{name}.mp4").write_bytes(b"x" * 100)
    _no_decoding(monkeypatch)
    cases = {
        "nolabel.csv": ("clip_id,emotion\na,happy\n", "no 'label' column (columns: clip_id, emotion)"),
        "outside.csv": ("clip_id,label\na,happy\nb,angry\n",
                        "label(s) not among the model's classes ['happy', 'sad', 'surprise']: 'angry' (line 3)"),
        "latin1.csv": ("clip_id,label\na,happy\nb,sad\xe9\n".encode("latin-1"), "not UTF-8 text (byte 0xe9"),
        "empty.csv": ("", "empty file"),
        "blank_and_unknown.csv": ("clip_id,label\na,\nb,angry\n", "1 row(s) with an empty label (line 2)"),
        "twice.csv": ("clip_id,label\na,happy\nb,sad\na,sad\n", "clip_id listed more than once: 'a' (lines 2, 4)"),
        "none_listed.csv": ("clip_id,label\nx,happy\n", "none of the 2 clips is listed"),
    }
    for name, (content, expected) in cases.items():
        f = tmp_path / name
        f.write_bytes(content if isinstance(content, bytes) else content.encode())
        rc = P.predict_cli(model, [str(clips)], labels=str(f), out=str(tmp_path))  # --out: a folder
        lines = _err_lines(capsys)
        assert rc == exitcodes.INPUT_ERROR == 1, name
        assert any(line.startswith(f"mer predict: {f}: ") and expected in line for line in lines), (name, lines)
        assert f"mer predict: {tmp_path}: is a folder; --out needs a file name (e.g. " \
               f"{tmp_path / 'predictions.csv'})" in lines, lines
    # an empty label and an unknown one: both named, no TypeError
    f = tmp_path / "blank_and_unknown.csv"
    P.predict_cli(model, [str(clips)], labels=str(f))
    lines = _err_lines(capsys)
    assert len(lines) == 2 and "empty label" in lines[0] and "'angry' (line 3)" in lines[1]


def test_out_that_cannot_be_written_and_out_that_is_an_input(tmp_path, monkeypatch, capsys):
    model = _bundle(tmp_path / "model")
    clip = tmp_path / "a.mp4"
    clip.write_bytes(b"x" * 10)
    labels = tmp_path / "labels.csv"
    labels.write_text("clip_id,label\na,happy\n")
    _no_decoding(monkeypatch)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert P.predict_cli(model, [str(clip)], out=str(blocker / "pred.csv")) == 1
    assert _err_lines(capsys) == [f"mer predict: {blocker / 'pred.csv'}: cannot be created: {blocker} is a file, "
                                  "not a folder"]
    assert P.predict_cli(model, [str(clip)], labels=str(labels), out=str(labels)) == 1
    assert _err_lines(capsys)[0].startswith(f"mer predict: {labels}: is one of the inputs")
    if os.geteuid() != 0:  # root writes anywhere
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o500)
        try:
            assert P.predict_cli(model, [str(clip)], out=str(ro / "pred.csv")) == 1
            assert _err_lines(capsys) == [f"mer predict: {ro / 'pred.csv'}: cannot be written: no permission "
                                          f"to write in {ro}"]
        finally:
            ro.chmod(0o700)


def test_read_labels_normalises_and_keeps_other_columns(tmp_path):
    f = tmp_path / "l.csv"
    f.write_text("\ufeffclip_id, label ,speaker\n a ,Joy,s1\nb,Sadness,s2\n", encoding="utf-8")
    lab, problems = inputs.read_labels(f)
    assert problems == []
    assert lab.to_dict("list") == {"clip_id": ["a", "b"], "label": ["happy", "sad"], "speaker": ["s1", "s2"]}


# -- 3. duplicate clip ids ---------------------------------------------------------------------

def test_duplicate_clips_are_refused(tmp_path, monkeypatch, capsys):
    model = _bundle(tmp_path / "model")
    for d in ("x", "y"):
        (tmp_path / d).mkdir()
        (tmp_path / d / "same.mp4").write_bytes(b"x" * 10)
    one = tmp_path / "x" / "same.mp4"
    _no_decoding(monkeypatch)
    assert P.predict_cli(model, [str(one), str(one)]) == 1
    assert _err_lines(capsys) == [f"mer predict: {one}: given 2 times"]
    assert P.predict_cli(model, [str(tmp_path / "x"), str(tmp_path / "y")]) == 1
    lines = _err_lines(capsys)
    assert lines == [f"mer predict: {one}: clip id 'same' is also the name of {tmp_path / 'y' / 'same.mp4'}; "
                     "clip ids are file names without extension, so rename one or predict the folders one at "
                     "a time"]


# -- 5. a damaged or missing bundle file -------------------------------------------------------

def test_checksummed_bundle_names_each_damaged_or_missing_file(tmp_path, monkeypatch, capsys):
    model = _bundle(tmp_path / "model")
    assert set(fileio.read_json(model / "checksums.json")["files"]) == {
        "audio/config.json", "visual/visual.json", "bundle.json", "classifiers/sequencer.npz",
        "classifiers/bilstm_sa.keras"}
    assert B.check_bundle(model) == ([], None)
    keras_file = model / "classifiers" / "bilstm_sa.keras"
    data = keras_file.read_bytes()
    keras_file.write_bytes(data[: len(data) // 2])  # cut in half
    cfg = model / "bundle.json"
    cfg.write_text(cfg.read_text()[:-5])  # a cut bundle.json
    (model / "classifiers" / "sequencer.npz").unlink()
    clip = tmp_path / "a.mp4"
    clip.write_bytes(b"x")
    _no_decoding(monkeypatch)
    assert P.predict_cli(model, [str(clip)]) == 1
    lines = _err_lines(capsys)
    assert lines == [
        f"mer predict: {cfg}: damaged: {len(cfg.read_bytes())} bytes, {len(cfg.read_bytes()) + 5} when it was "
        f"saved; {B.REBUILD}",
        f"mer predict: {keras_file}: damaged: {len(data) // 2} bytes, {len(data)} when it was saved; {B.REBUILD}",
        f"mer predict: {model / 'classifiers' / 'sequencer.npz'}: missing (listed in checksums.json); {B.REBUILD}",
    ]
    # same size, other bytes: the SHA-256 tells
    scrambled = bytearray(data)
    scrambled[len(data) // 2] ^= 0xFF
    keras_file.write_bytes(bytes(scrambled))
    assert any(line == f"{keras_file}: damaged: its SHA-256 differs from the one written when it was saved; "
                       f"{B.REBUILD}" for line in B.check_bundle(model)[0])


def test_bundle_without_checksums_is_checked_as_far_as_its_files_allow(tmp_path):
    model = _bundle(tmp_path / "model", checksums=False)
    problems, note = B.check_bundle(model)
    assert problems == [] and note.startswith(f"{model}: no checksums.json (a bundle saved before checksums")
    keras_file = model / "classifiers" / "bilstm_sa.keras"
    data = keras_file.read_bytes()
    keras_file.write_bytes(data[: len(data) // 2])
    (model / "bundle.json").write_text('{"classes": ["happy", "sad"')
    h5 = model / "visual" / "summary.h5"
    h5.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 40)  # an HDF5 signature, then nothing
    problems, _ = B.check_bundle(model)
    assert len(problems) == 3, problems
    assert problems[0].startswith(f"{model / 'bundle.json'}: damaged: not valid JSON (JSONDecodeError: ")
    assert problems[1].startswith(f"{keras_file}: damaged archive (")
    assert problems[2].startswith(f"{h5}: damaged: cannot be read (OSError: ")
    assert all(p.endswith(B.REBUILD) for p in problems)
    shutil.rmtree(model / "visual")
    assert f"{model / 'visual'}: missing from the model bundle; {B.REBUILD}" in B.check_bundle(model)[0]
    assert B.check_bundle(tmp_path / "nope")[0] == [f"{tmp_path / 'nope'}: model folder not found (expected "
                                                    "RUN/model, written by `mer run`)"]


def test_emotion_model_load_refuses_a_damaged_bundle(tmp_path):
    from mer_helpers.predict.emotion_model import EmotionModel

    model = _bundle(tmp_path / "model")
    (model / "audio" / "config.json").write_text("{}")
    with pytest.raises(B.BundleError) as e:
        EmotionModel.load(model)
    assert e.value.problems == [f"{model / 'audio' / 'config.json'}: damaged: 2 bytes, "
                                f"{fileio.read_json(model / 'checksums.json')['files']['audio/config.json']['size']} "
                                f"when it was saved; {B.REBUILD}"]


# -- written files, exit statuses ----------------------------------------------------------------

def test_written_files_get_the_umask_mode(tmp_path):
    code = ("import sys; from mer_helpers.core import fileio; fileio.atomic_write_text(sys.argv[1], 'a,b\\n'); "
            "fileio.save_npz(sys.argv[2], x=[1])")
    for umask, mode in (("022", 0o644), ("027", 0o640), ("002", 0o664)):
        a, b = tmp_path / f"{umask}.csv", tmp_path / f"{umask}.npz"
        subprocess.run(["sh", "-c", f'umask {umask} && exec "$0" -c "$1" "$2" "$3"', sys.executable, code,
                        str(a), str(b)], check=True, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})
        assert (a.stat().st_mode & 0o777, b.stat().st_mode & 0o777) == (mode, mode), umask
    a = tmp_path / "022.csv"
    a.chmod(0o600)  # an existing file keeps its mode
    fileio.atomic_write_text(a, "new")
    assert a.stat().st_mode & 0o777 == 0o600 and a.read_text() == "new"


def test_exit_status_table_is_the_same_in_help_readme_and_book(capsys):
    from mer_helpers import cli

    assert list(exitcodes.TABLE) == [0, 1, 2, 3, 130]
    for command in ("run", "predict"):
        with pytest.raises(SystemExit):
            cli.main([command, "--help"])
        out = capsys.readouterr().out
        for code in exitcodes.TABLE:
            assert f"\n  {code:<5}" in out, (command, code)
    for page in (REPO / "README.md", REPO / "book" / "developers.md"):
        text = page.read_text()
        rows = [line for line in text.splitlines() if line.startswith("| `") and "` |" in line[:12]]
        codes = [int(r.split("`")[1]) for r in rows if r.split("`")[1].isdigit()]
        assert codes == list(exitcodes.TABLE), page
    with pytest.raises(SystemExit) as e:
        cli.main(["predict"])  # a usage error
    assert e.value.code == exitcodes.INPUT_ERROR == 1
    capsys.readouterr()


def test_a_wrong_argument_is_named_before_tensorflow_is_imported(tmp_path):
    """`mer predict` checks its inputs in a module that imports no TensorFlow: a missing bundle
    is a one-line error, exit status 1, and TensorFlow was never loaded."""
    clip = tmp_path / "a.mp4"
    clip.write_bytes(b"")
    code = ("import sys; from mer_helpers import cli; "
            f"rc = cli.main(['predict', {str(tmp_path / 'no_model')!r}, {str(clip)!r}]); "
            "print(rc, 'tensorflow' in sys.modules, 'keras' in sys.modules)")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert p.stdout.split() == ["1", "False", "False"], p.stdout + p.stderr
    assert "no_model" in p.stderr and all(line.startswith("mer predict: ") for line in p.stderr.splitlines())
