"""Input validation: every kind of bad clip, in both ``stop`` and ``skip`` modes."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from mer_helpers.core import cache
from mer_helpers.core import media
from mer_helpers.data.validate import BadInputError, probe_clip, validate_clips

CLASSES = ["happy", "sad", "surprise"]


@pytest.fixture
def bad_set(tmp_path, tiny_clip_factory, isolated_cache):
    """A labels table with 3 good clips and one clip of every bad kind; returns (df, expected)."""
    d = tmp_path / "clips"
    good = [tiny_clip_factory(d / f"good{i}.mp4", freq=300 + 100 * i) for i in range(3)]
    full = good[0].read_bytes()
    (d / "truncated.mp4").write_bytes(full[: len(full) // 2])
    tiny_clip_factory(d / "noaudio.mp4", audio=False)
    tiny_clip_factory(d / "novideo.mp4", video=False)
    (d / "empty.mp4").write_bytes(b"")
    (d / "text.mp4").write_text("this is not a video\n")
    # zero duration: a real mp4 container whose streams hold no sample (stream copy of 0 frames)
    media.run_ffmpeg(["-i", str(good[1]), "-c", "copy", "-frames:v", "0", "-frames:a", "0",
                      str(d / "zerodur.mp4")], what="zerodur")
    rows = [
        ("g0", good[0], "happy", "s1"),
        ("g1", good[1], "sad", "s2"),
        ("g2", good[2], "Surprised", "s3"),       # spelled like RAVDESS: normalised, fine
        ("trunc", d / "truncated.mp4", "happy", "s1"),
        ("noaud", d / "noaudio.mp4", "sad", "s1"),
        ("novid", d / "novideo.mp4", "sad", "s2"),
        ("empty", d / "empty.mp4", "happy", "s2"),
        ("text", d / "text.mp4", "happy", "s3"),
        ("zero", d / "zerodur.mp4", "sad", "s3"),
        ("gone", d / "missing.mp4", "happy", "s3"),
        ("g0", good[1], "sad", "s2"),              # duplicate id of the first row
        ("odd", good[2], "hapy", "s1"),            # unknown label (a typo)
    ]
    df = pd.DataFrame([(c, str(p), lab, s) for c, p, lab, s in rows],
                      columns=["clip_id", "path", "label", "speaker"])
    expected = {  # row index -> words the reason must contain
        3: "truncated", 4: "no audio stream", 5: "no video stream", 6: "zero-byte",
        7: "unreadable", 8: "zero duration", 9: "missing file", 10: "duplicate clip_id",
        11: "unknown label 'hapy'",
    }
    return df, expected


def test_skip_returns_good_rows_and_every_bad_clip_with_its_reason(bad_set):
    df, expected = bad_set
    good, skipped = validate_clips(df, CLASSES, on_bad_input="skip", n_jobs=2, progress=False)
    assert good["clip_id"].tolist() == ["g0", "g1", "g2"]
    assert good["label"].tolist() == ["happy", "sad", "surprise"]
    assert len(skipped) == len(expected)
    by_path = {(s["clip_id"], s["path"]): s["reason"] for s in skipped}
    for i, words in expected.items():
        reason = by_path[(df["clip_id"][i], df["path"][i])]
        assert words in reason, (df["clip_id"][i], reason)
    # one reason per defect: the audio-only clip is not also reported unreadable or empty
    assert by_path[("novid", df["path"][5])] == "no video stream"
    assert by_path[("noaud", df["path"][4])] == "no audio stream"
    # the duplicate names the row it repeats
    assert "row 1" in by_path[("g0", df["path"][10])] and "good0.mp4" in by_path[("g0", df["path"][10])]
    assert json.loads(json.dumps(skipped)) == skipped  # JSON-able for skipped.json


def test_stop_raises_naming_every_bad_clip(bad_set):
    df, expected = bad_set
    with pytest.raises(BadInputError) as ei:
        validate_clips(df, CLASSES, on_bad_input="stop", n_jobs=2, progress=False)
    msg = str(ei.value)
    assert msg.startswith(f"{len(expected)} of {len(df)} clips are unusable")
    for name in ["truncated.mp4", "noaudio.mp4", "novideo.mp4", "empty.mp4", "text.mp4",
                 "zerodur.mp4", "missing.mp4"]:
        assert name in msg
    assert "clip odd (good2.mp4): unknown label 'hapy'" in msg
    assert "clip noaud (noaudio.mp4): no audio stream" in msg
    assert "on_bad_input skip" in msg
    assert len(ei.value.skipped) == len(expected)


def test_stop_passes_clean_input_and_probe_results_are_cached(tmp_path, tiny_clip_factory, isolated_cache):
    p1 = tiny_clip_factory(tmp_path / "a.mp4")
    p2 = tiny_clip_factory(tmp_path / "b.mp4", freq=880)
    df = pd.DataFrame({"clip_id": ["a", "b"], "path": [str(p1), str(p2)], "label": ["joy", "sadness"],
                       "speaker": ["x", "y"]})
    good, skipped = validate_clips(df, CLASSES, n_jobs=1, progress=False)
    assert skipped == [] and good["label"].tolist() == ["happy", "sad"]
    entries = sorted((isolated_cache / "probe").rglob("*.json"))
    assert len(entries) == 2
    info = json.loads(entries[0].read_text())
    assert info["has_audio"] and info["has_video"] and 0.4 < info["duration"] < 0.9
    # a renamed copy with the same bytes reuses the entry (keyed by content, not name)
    p3 = tiny_clip_factory(tmp_path / "renamed.mp4")
    assert probe_clip(p3)["path"] == str(p3)
    assert len(sorted((isolated_cache / "probe").rglob("*.json"))) == 2
    # a cached verdict is what the next run uses: tamper with it to prove it is read back
    # (resealed: an entry whose checksum no longer matches would be discarded and probed again)
    tampered = dict(info, has_audio=False)
    for e in entries:
        e.write_text(json.dumps(tampered))
        cache.write_sidecar(e)
    _, skipped = validate_clips(df, CLASSES, on_bad_input="skip", n_jobs=1, progress=False)
    assert [s["reason"] for s in skipped] == ["no audio stream", "no audio stream"]


def test_bad_arguments(tmp_path):
    df = pd.DataFrame({"clip_id": ["a"], "path": ["x.mp4"], "label": ["happy"]})
    with pytest.raises(ValueError, match="speaker"):
        validate_clips(df, CLASSES, progress=False)
    df["speaker"] = "s"
    with pytest.raises(ValueError, match="on_bad_input"):
        validate_clips(df, CLASSES, on_bad_input="ignore", progress=False)
