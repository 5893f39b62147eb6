"""The intro's claim table: paper 1's accuracies beside the random-split and speaker-independent
reference runs of each preset, every number read from the runs' metrics.json."""
from __future__ import annotations

from pathlib import Path

from mer_helpers.chain import book, config
from mer_helpers.core import fileio


def _model(acc, f1, n_splits, n_clips, std=0.03):
    v = {"accuracy": acc, "f1_macro": f1, "n_splits": n_splits, "n_clips": n_clips}
    if n_splits > 1:
        v.update(accuracy_std=std, f1_macro_std=std)
    return v


def _ref(root: Path, name: str, preset: str, protocol: str, acc: float, extra_params=None) -> Path:
    d = root / name
    n_splits, n_test = (1, 96) if protocol == "random-split" else (5, 480)
    fileio.write_json(d / "metrics.json", {
        "dataset": "paired", "protocol": protocol, "n_clips": 480,
        "models": {k: _model(acc - i / 100, acc - i / 100 - 0.005, n_splits, n_test)
                   for i, k in enumerate(("bilstm_sa", "bilstm", "cnn"))}})
    fileio.write_json(d / "run.json", {"preset": preset, "parameters": {
        "dataset": "paired", "data_root": "DATA", "out_dir": f"runs/{name}", "protocol": protocol,
        **config.PRESETS[preset], **(extra_params or {})}})   # run.json lists the preset's values
    return d


def _row(md: str, who: str, model: str) -> str:
    return next(line for line in md.splitlines() if line.startswith(f"| {who} | {model} |"))


def test_claim_table_random_split_beside_speaker_independent(tmp_path):
    _ref(tmp_path, "paired-paper-random", "paper", "random-split", 0.81, {"backbone_weights": "none"})
    _ref(tmp_path, "paired-paper", "paper", "speaker-cv", 0.50, {"backbone_weights": "none"})
    _ref(tmp_path, "paired-strong-random", "strong", "random-split", 0.999)
    _ref(tmp_path, "paired-strong", "strong", "speaker-cv", 0.985)
    md = book.claim_markdown(tmp_path)
    assert _row(md, "paper 1 (MELD, as published)", "BiLSTM-SA") == (
        "| paper 1 (MELD, as published) | BiLSTM-SA | 89.83 | 89.80\\* | not reported | not reported |")
    assert "| CNN | 86.87 | 86.87\\* |" in _row(md, "paper 1 (MELD, as published)", "CNN")
    # one random split: no spread; five folds: mean ± std
    assert _row(md, "`paper` preset (reference runs)", "BiLSTM-SA").endswith(
        "| 81.0 | 80.5 | 50.0 ± 3.0 | 49.5 ± 3.0 |")
    assert _row(md, "`paper` preset (reference runs)", "CNN").endswith("| 79.0 | 78.5 | 48.0 ± 3.0 | 47.5 ± 3.0 |")
    assert _row(md, "`strong` preset (reference runs)", "BiLSTM").endswith(
        "| 98.9 | 98.4 | 97.5 ± 3.0 | 97.0 ± 3.0 |")
    # each run's command, the preset's values not repeated, the data root a placeholder
    assert ("`paper`, random split (`paired-paper-random`, reference run, `random-split`): "
            "`mer run --dataset paired --data-root DATA --protocol random-split --preset paper "
            "-p backbone_weights none`") in md
    assert "`mer run --dataset paired --data-root DATA --protocol speaker-cv --preset strong`" in md
    assert "random split (`random-split`): 480 clips, 96 of them scored" in md


def test_claim_table_says_when_a_run_is_missing(tmp_path):
    _ref(tmp_path, "paired-paper", "paper", "speaker-cv", 0.50)
    md = book.claim_markdown(tmp_path)
    assert _row(md, "`paper` preset (reference runs)", "BiLSTM-SA").endswith(
        "| not kept | not kept | 50.0 ± 3.0 | 49.5 ± 3.0 |")
    assert "`paired-strong-random` is not in `book/reference_runs` yet" in md


def test_intro_gets_the_claim_table_on_its_first_screen(tmp_path):
    src = (book.REPO_ROOT / "book" / "intro.md").read_text().splitlines()
    # the first screen: before the method's description and within the first 30 lines
    at = src.index(book.CLAIM_MARK)
    assert at < 30 and at < next(i for i, line in enumerate(src) if line.startswith("The method, as both papers"))
    stage = book.stage_book(None, tmp_path / "stage", compare=[])
    page = (stage / "book" / "intro.md").read_text()
    assert book.CLAIM_MARK not in page and "| paper 1 (MELD, as published) | BiLSTM-SA | 89.83 |" in page


def test_claim_table_of_the_kept_reference_runs_matches_their_metrics():
    """The table the book shows: every reference run it names is kept, and each of its cells is
    that run's metrics.json value (formatted here independently of mer_helpers.chain.book)."""
    md = book.claim_markdown()
    assert "not kept" not in md and "is not in" not in md
    for preset, (random_name, cv_name) in book.CLAIM_RUNS.items():
        rnd = fileio.read_json(book.REFERENCE_RUNS / random_name / "metrics.json")
        cv = fileio.read_json(book.REFERENCE_RUNS / cv_name / "metrics.json")
        assert rnd["protocol"] == "random-split" and cv["protocol"] == "speaker-cv"
        assert rnd["dataset"] == cv["dataset"] == "paired" and rnd["classes"] == cv["classes"]
        assert fileio.read_json(book.REFERENCE_RUNS / random_name / "run.json")["preset"] == preset
        assert fileio.read_json(book.REFERENCE_RUNS / cv_name / "run.json")["preset"] == preset
        for key, label in (("bilstm_sa", "BiLSTM-SA"), ("bilstm", "BiLSTM"), ("cnn", "CNN")):
            r, c = rnd["models"][key], cv["models"][key]
            want = (f"| {100 * r['accuracy']:.1f} | {100 * r['f1_macro']:.1f} | "
                    f"{100 * c['accuracy']:.1f} ± {100 * c['accuracy_std']:.1f} | "
                    f"{100 * c['f1_macro']:.1f} ± {100 * c['f1_macro_std']:.1f} |")
            assert _row(md, f"`{preset}` preset (reference runs)", label).endswith(want), (preset, key)
        assert f"--protocol random-split --preset {preset}" in md


def test_random_split_reference_runs_stay_off_the_presets_page(tmp_path, monkeypatch):
    """The presets page compares presets on unseen people: a random-split *reference* run is in
    the intro's claim table and on the generalise page (with its protocol), not in the presets
    table; a random-split run the book is built from is still shown there."""
    ref = tmp_path / "reference_runs"
    _ref(ref, "paired-strong-random", "strong", "random-split", 0.999)
    _ref(ref, "paired-strong", "strong", "speaker-cv", 0.985)
    monkeypatch.setattr(book, "REFERENCE_RUNS", ref)
    mine = _ref(tmp_path, "mine-random", "paper", "random-split", 0.8)
    (mine / "notebooks").mkdir()
    stage = book.stage_book(mine, tmp_path / "stage", compare=book.reference_runs())
    presets = (stage / "book" / "presets.md").read_text()
    assert "`paired-strong` (reference run)" in presets and "`mine-random`" in presets
    assert "paired-strong-random" not in presets
    generalise = (stage / "book" / "generalise.md").read_text()
    assert "| `paired-strong-random` (reference run) | strong | 0 | random-split | 480 |" in generalise
    intro = (stage / "book" / "intro.md").read_text()
    assert "| `strong` preset (reference runs) | BiLSTM-SA | 99.9 | 99.4 | 98.5 ± 3.0 | 98.0 ± 3.0 |" in intro


def test_the_intros_reading_of_the_claim_table_holds_for_the_kept_runs():
    """What book/intro.md says in words under the table, checked against the kept runs: near the
    papers' figures on a random split (within 10 points, every model), the face columns alone at
    least as good as BiLSTM-SA there, about half the clips right when speakers are kept apart
    (chance: a third), and the strong preset holding up on new speakers."""
    intro = (book.REPO_ROOT / "book" / "intro.md").read_text()
    assert "comes near the papers'" in intro and "about half" in intro and "only the `strong` preset holds up" in intro

    def m(name):
        return fileio.read_json(book.REFERENCE_RUNS / name / "metrics.json")

    rnd, cv = m(book.CLAIM_RUNS["paper"][0]), m(book.CLAIM_RUNS["paper"][1])
    for key in ("bilstm_sa", "bilstm", "cnn"):
        assert abs(100 * rnd["models"][key]["accuracy"] - book.PAPER1_TABLE1[key]["accuracy"]) < 10, key
        assert 0.4 <= cv["models"][key]["accuracy"] <= 0.6, key
        assert rnd["models"][key]["accuracy"] - cv["models"][key]["accuracy"] > 0.2, key
    assert rnd["ablation"]["visual_only"] >= rnd["models"]["bilstm_sa"]["f1_macro"]
    strong_cv = m(book.CLAIM_RUNS["strong"][1])
    assert all(strong_cv["models"][k]["accuracy"] >= 0.95 for k in ("bilstm_sa", "bilstm", "cnn"))


def test_notebook_07_labels_the_reference_runs_as_such(tmp_path):
    """Notebook 07 with an empty ``compare_runs`` shows the same claim table, headed as the
    reference runs kept with the book (not this run's numbers)."""
    from mer_helpers.stages import results

    _ref(tmp_path, "paired-paper-random", "paper", "random-split", 0.81, {"backbone_weights": "none"})
    _ref(tmp_path, "paired-paper", "paper", "speaker-cv", 0.50, {"backbone_weights": "none"})
    md = results.reference_claim_markdown(tmp_path)
    head, table = md.split("\n\n", 1)
    assert head.startswith("**Reference runs, not this run**") and "`paired-strong-random`" in head
    assert table == book.claim_markdown(tmp_path)
    assert _row(md, "`paper` preset (reference runs)", "BiLSTM-SA").endswith("| 81.0 | 80.5 | 50.0 ± 3.0 | 49.5 ± 3.0 |")
