"""The 'Two presets' page: every number comes from the runs' metrics.json."""
from __future__ import annotations

from mer_helpers.chain import book
from mer_helpers.core import fileio


def _run(root, name, preset, f1, extra=None):
    d = root / name
    fileio.write_json(d / "metrics.json", {"dataset": "paired", "protocol": "speaker-cv", "n_clips": 480,
                                       "models": {"bilstm_sa": {"f1_macro": f1, "f1_macro_std": 0.02}},
                                       "features": {"audio": 720, "visual": 2048, "total": 2768},
                                       "timings_s": {"total": 600.0}, **(extra or {})})
    fileio.write_json(d / "run.json", {"preset": preset, "parameters": {
        "dataset": "paired", "data_root": "/x", "out_dir": str(d), "protocol": "speaker-cv",
        "backbone": "fer_xception", "epochs": 10}})
    return d


def test_presets_table_reads_each_run(tmp_path):
    a = _run(tmp_path, "paired-strong", "strong", 0.9612,
             {"classifiers": {"inner_f1_macro": {"all columns, early fusion (this run)": 0.969}}})
    b = _run(tmp_path, "paired-paper", "paper", 0.5291)
    md = book.presets_markdown([a, b])
    row = next(line for line in md.splitlines() if line.startswith("| BiLSTM-SA macro-F1"))
    assert "96.1 ± 2.0" in row and "52.9 ± 2.0" in row
    assert "| wall time, whole chain (min) | 10.0 | 10.0 |" in md
    assert "all columns, early fusion (this run) | 96.9" in md
    # the command: preset values are not repeated, other parameters are; the data root is a placeholder
    assert "mer run --dataset paired --data-root DATA --protocol speaker-cv --preset strong -p epochs 10" in md
    assert "-p backbone fer_xception" not in md.split("preset strong")[1].splitlines()[0]
    assert "/x" not in md


def test_presets_page_is_filled_when_staged(tmp_path):
    a = _run(tmp_path, "r", "strong", 0.5)
    (a / "notebooks").mkdir()
    stage = book.stage_book(a, tmp_path / "stage", compare=[])
    page = (stage / "book" / "presets.md").read_text()
    assert book.PRESETS_MARK not in page and "| BiLSTM-SA macro-F1 | 50.0 ± 2.0 |" in page


def test_generalise_tables_per_class_f1_and_confusion(tmp_path):
    d = _run(tmp_path, "six", "strong", 0.8, {"classes": ["a", "b", "c", "d"], "protocol": "speaker-cv",
                                               "models": {"bilstm_sa": {"f1_macro": 0.8, "f1_macro_std": 0.1,
                                                                        "confusion": [[8, 2, 0, 0], [0, 10, 0, 0],
                                                                                      [0, 0, 5, 5], [0, 0, 0, 10]]}},
                                               "plain_references": {"late_fusion": {"f1_macro": 0.7}},
                                               "ablation": {"fused_no_person_norm": 0.6},
                                               "reference": {"logreg_f1_macro": 0.75,
                                                             "logreg_f1_macro_no_person_norm": 0.65},
                                               "person_norm": {"audio": "zscore", "visual": "center",
                                                               "skewed_reference_f1_macro": {"bilstm_sa": 0.72}}})
    three = _run(tmp_path, "three", "strong", 0.95)
    md = book.generalise_markdown([three, d])
    # plain and normalised side by side: BiLSTM-SA, plain, skewed reference, ..., LR, LR plain, LR late fusion
    assert "| `six` | strong | 4 | speaker-cv | 480 | zscore / center | 80.0 ± 10.0 | 60.0 | 72.0 |" in md
    assert "| 75.0 | 65.0 | 70.0 |" in md
    assert "| `three` | strong | 0 | speaker-cv | 480 | none / none |" in md  # a run made before it existed
    # class a: precision 8/8, recall 8/10 -> F1 0.889; class c: precision 5/5, recall 0.5 -> 0.667
    assert "| a | 8 | 2 | 0 | 0 | 88.9 |" in md and "| c | 0 | 0 | 5 | 5 | 66.7 |" in md
    assert "**`three`**" not in md          # no matrix for a within-corpus three-class run
    stage = book.stage_book(d, tmp_path / "stage", compare=[three])
    assert book.GENERALISE_MARK not in (stage / "book" / "generalise.md").read_text()
    assert "`six`" not in (stage / "book" / "presets.md").read_text()  # presets: three-class runs only


def test_reference_runs_are_shown_by_default_and_labelled(tmp_path, monkeypatch):
    ref = tmp_path / "reference_runs"
    _run(ref, "paired-paper", "paper", 0.47)
    _run(ref, "paired-strong", "strong", 0.95)
    monkeypatch.setattr(book, "REFERENCE_RUNS", ref)
    assert [p.name for p in book.reference_runs()] == ["paired-paper", "paired-strong"]
    mine = _run(tmp_path, "paired-strong", "strong", 0.96)      # same name as a reference: shown once
    (mine / "notebooks").mkdir()
    stage = book.stage_book(mine, tmp_path / "stage", compare=book.reference_runs())
    page = (stage / "book" / "presets.md").read_text()
    assert "`paired-paper` (reference run)" in page and page.count("`paired-strong`") == 2  # header + command
    assert "96.0 ± 2.0" in page and "95.0 ± 2.0" not in page


def test_save_reference_run_hides_machine_paths(tmp_path, monkeypatch):
    import subprocess
    import sys

    run = _run(tmp_path, "r1", "strong", 0.9)
    out = subprocess.run([sys.executable, str(book.REPO_ROOT / "scripts" / "save_reference_run.py"), str(run),
                          "--name", "unit-test-ref"], capture_output=True, text=True)
    dest = book.REFERENCE_RUNS / "unit-test-ref"
    try:
        assert out.returncode == 0, out.stderr
        meta = fileio.read_json(dest / "run.json")
        assert meta["parameters"]["data_root"] == "DATA" and meta["parameters"]["out_dir"] == "runs/unit-test-ref"
    finally:
        import shutil

        shutil.rmtree(dest, ignore_errors=True)
