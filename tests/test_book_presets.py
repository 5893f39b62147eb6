"""The 'Two presets' page: every number comes from the runs' metrics.json."""
from __future__ import annotations

from mer_helpers import book, io


def _run(root, name, preset, f1, extra=None):
    d = root / name
    io.write_json(d / "metrics.json", {"dataset": "paired", "protocol": "speaker-cv", "n_clips": 480,
                                       "models": {"bilstm_sa": {"f1_macro": f1, "f1_macro_std": 0.02}},
                                       "features": {"audio": 720, "visual": 2048, "total": 2768},
                                       "timings_s": {"total": 600.0}, **(extra or {})})
    io.write_json(d / "run.json", {"preset": preset, "parameters": {
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
