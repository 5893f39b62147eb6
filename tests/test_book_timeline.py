"""The "Emotion over time" page states what scripts/bench_timeline.py stored (fast: text only)."""
from __future__ import annotations

import json
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PAGE = REPO / "book" / "timeline.md"
STORED = REPO / "book" / "reference_runs" / "timeline"


def test_timeline_page_numbers_are_the_stored_ones():
    page = PAGE.read_text()
    res = json.loads((STORED / "timeline.json").read_text())
    seg = res["segments"]
    assert f"{seg['M030']['inside_accuracy']:.0%}".replace("%", " %") in page
    assert f"{seg['W009']['inside_accuracy'] * 100:.0f} % / {seg['W011']['inside_accuracy'] * 100:.1f} %" in page
    assert f"({seg['M030']['windows_inside_a_segment']} windows wholly inside a segment)" in page
    mead = res["mead_silent"]
    assert f"macro-F1 {mead['f1_macro']:.3f}" in page and mead["modalities"] == {"visual": 9}
    assert "all nine answered by the face branch alone" in page
    long = res["long_video"]
    assert f"{long['windows']:,} windows" in page and f"{long['wall_s']:.0f} s of wall time" in page
    assert f"{long['times_real_time']:.1f} times faster than real time" in page
    assert f"peak memory {long['peak_rss_mb'] / 1000:.2f} GB" in page
    # the targets, on the stored measurements
    assert min(s["inside_accuracy"] for s in seg.values()) >= 0.80 and mead["f1_macro"] >= 0.85
    assert long["times_real_time"] >= 10 and long["peak_rss_mb"] < 2048
    for fig in ("timeline_segments.png", "timeline_sample.png"):
        assert (STORED / fig).stat().st_size > 10_000 and f"reference_runs/timeline/{fig}" in page


def test_timeline_page_is_in_the_toc():
    assert "book/timeline" in (REPO / "_toc.yml").read_text()
