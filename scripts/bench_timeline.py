"""Issue 24's measurements of `mer predict --timeline` and of clips without a voice, with one bundle.

1. **Segments video** (``scripts/make_timeline_video.py``: one MEAD face, three emotions one after
   another, SAVEE speech of the same emotion): the share of the windows lying inside one segment
   whose ``y_pred`` is that segment's label, per MEAD speaker.
2. **Silent MEAD clips**: the nine happy / sad / surprised clips of ``video/mead_silent`` (no audio
   track), ``mer predict --labels``: macro-F1, and which branch answered.
3. **Speed and memory**: the segments video looped to ``--minutes`` minutes, `mer predict
   --timeline` timed (wall clock), with the peak resident memory of every process it started
   (``RUSAGE_CHILDREN``: the Python process and the two FFmpeg decoders).
4. **A figure of the committed sample**: one sample speaker's twelve clips (happy, sad, surprise)
   joined into one video, its timeline drawn (``timeline_sample.png``).

Results go to ``--out`` (``timeline.json`` and the figures). The book's "Emotion over time" page
shows them. Shared data stays where it is; the videos are made in a temporary folder.

    python scripts/bench_timeline.py --model runs/paired-strong/model --out book/reference_runs/timeline
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from mer_helpers.core import media  # noqa: E402
from mer_helpers.predict.timeline import plot_timeline  # noqa: E402

MEAD = {"happy": "happy", "sad": "sad", "surprised": "surprise"}


def mer(*args) -> tuple[subprocess.CompletedProcess, float]:
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "mer_helpers", *map(str, args)], capture_output=True, text=True)
    if r.returncode not in (0, 3):
        raise SystemExit(f"bench_timeline: mer {' '.join(map(str, args))} failed ({r.returncode}):\n{r.stderr[-2000:]}")
    return r, time.perf_counter() - t0


def inside_accuracy(table: pd.DataFrame, segments: pd.DataFrame) -> tuple[float, int]:
    """The share of windows wholly inside a segment that carry its label, and how many there are."""
    hits = [row.y_pred == s.label for row in table.itertuples() for s in segments.itertuples()
            if row.clip_id == s.clip_id and row.start_s >= s.start_s - 1e-6 and row.end_s <= s.end_s + 1e-6]
    return float(np.mean(hits)) if hits else float("nan"), len(hits)


def segments_check(model, data_root, work: Path, classes) -> dict:
    out = {}
    for spk in ("M030", "W009", "W011"):
        d = work / f"seg_{spk}"
        subprocess.run([sys.executable, str(REPO / "scripts" / "make_timeline_video.py"), "--data-root", data_root,
                        "--speaker", spk, "--out", d], check=True, capture_output=True)
        video = next(d.glob("*_segments.mp4"))
        r, _ = mer("predict", model, video, "--timeline", "--out", d / "t.csv")
        t, seg = pd.read_csv(d / "t.csv", keep_default_na=False), pd.read_csv(d / "segments.csv")
        acc, n = inside_accuracy(t, seg)
        out[spk] = {"video": video.name, "windows": len(t), "windows_inside_a_segment": n,
                    "inside_accuracy": round(acc, 4), "modalities": t["modalities"].value_counts().to_dict()}
        if spk == "M030":
            plot_timeline([t], classes, out=work / "timeline_segments.png", segments=seg,
                          title="MEAD face M030 + SAVEE voice DC, three segments (bands: the true emotion)")
    return out


def mead_check(model, data_root, work: Path) -> dict:
    clips = sorted(p for p in (Path(data_root) / "video" / "mead_silent").glob("*.mp4") if p.name.split("_")[2] in MEAD)
    pd.DataFrame({"clip_id": [p.stem for p in clips], "path": [str(p) for p in clips],
                  "label": [MEAD[p.name.split("_")[2]] for p in clips],
                  "speaker": [p.name.split("_")[0] for p in clips]}).to_csv(work / "mead.csv", index=False)
    r, _ = mer("predict", model, *clips, "--labels", work / "mead.csv", "--out", work / "mead_pred.csv")
    df = pd.read_csv(work / "mead_pred.csv")
    last = r.stdout.strip().splitlines()[-1]
    return {"clips": len(clips), "score_line": last, "f1_macro": float(last.split("f1_macro=")[1]),
            "modalities": df["modalities"].value_counts().to_dict(),
            "predictions": dict(zip(df["clip_id"], df["y_pred"]))}


def speed_check(model, data_root, work: Path, minutes: float) -> dict:
    d = work / "long"
    subprocess.run([sys.executable, str(REPO / "scripts" / "make_timeline_video.py"), "--data-root", data_root,
                    "--out", d, "--minutes", str(minutes)], check=True, capture_output=True)
    video = next(d.glob(f"*_{minutes:g}min.mp4"))
    duration = media.probe(video).duration
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    r, wall = mer("predict", model, video, "--timeline", "--out", d / "t.csv", "--plot", work / "timeline_long.png")
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t = pd.read_csv(d / "t.csv", keep_default_na=False)
    seg = pd.read_csv(next(d.glob(f"segments_{minutes:g}min.csv")))
    acc, n = inside_accuracy(t, seg)
    return {"video_s": round(duration, 1), "windows": len(t), "wall_s": round(wall, 1),
            "times_real_time": round(duration / wall, 1),
            "peak_rss_mb": round(max(peak_kb, before) / 1024, 1), "inside_accuracy": round(acc, 4),
            "note": "wall clock of the whole command (Python start, model load, decoding, features, CSV, figure); "
                    "peak_rss_mb: the largest resident set of any process it started"}


def sample_figure(model, work: Path, classes) -> dict:
    lab = pd.read_csv(REPO / "data" / "sample" / "labels.csv", dtype=str)
    spk = sorted(lab["speaker"].unique())[1]
    rows = lab[lab["speaker"] == spk].assign(order=lambda x: x["label"].map({c: i for i, c in enumerate(classes)}))
    rows = rows.sort_values(["order", "clip_id"])
    lst = work / "sample_list.txt"
    lst.write_text("".join(f"file '{REPO / 'data' / 'sample' / p}'\n" for p in rows["path"]))
    video = work / f"sample_{spk}.mp4"
    media.run_ffmpeg(["-f", "concat", "-safe", "0", "-i", str(lst), "-c:v", "libx264", "-crf", "20",
                      "-c:a", "aac", str(video)], what="sample video")
    starts, pos = [], 0.0
    for p in rows["path"]:
        starts.append(pos)
        pos += media.probe(REPO / "data" / "sample" / p).duration
    seg = pd.DataFrame({"clip_id": video.stem, "start_s": starts, "end_s": starts[1:] + [pos], "label": rows["label"]})
    mer("predict", model, video, "--timeline", "--out", work / "sample.csv")
    t = pd.read_csv(work / "sample.csv", keep_default_na=False)
    plot_timeline([t], classes, out=work / "timeline_sample.png", segments=seg,
                  title=f"The committed sample, speaker {spk}: twelve clips joined (bands: each clip's label)")
    acc, n = inside_accuracy(t, seg)
    return {"speaker": spk, "clips": len(rows), "windows": len(t), "windows_inside_a_clip": n,
            "inside_accuracy": round(acc, 4)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True, help="the bundle (RUN/model) of a three-class run with branches")
    ap.add_argument("--data-root", default=str(REPO.parent / "shared" / "data"))
    ap.add_argument("--out", default=str(REPO / "book" / "reference_runs" / "timeline"))
    ap.add_argument("--minutes", type=float, default=30.0)
    a = ap.parse_args()
    meta = json.loads((Path(a.model) / "model.json").read_text())
    if not meta.get("branches"):
        raise SystemExit(f"{a.model}: this bundle has no per-modality classifiers; rebuild it with `mer run`")
    classes = [str(c) for c in meta["classes"]]
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as td:
        work = Path(td)
        res = {"model": str(a.model), "command": " ".join(["python scripts/bench_timeline.py", "--model", str(a.model),
                                                           "--minutes", f"{a.minutes:g}"]),
               "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
               "segments": segments_check(a.model, a.data_root, work, classes),
               "mead_silent": mead_check(a.model, a.data_root, work),
               "sample": sample_figure(a.model, work, classes),
               "long_video": speed_check(a.model, a.data_root, work, a.minutes)}
        for png in work.glob("timeline_*.png"):
            (out / png.name).write_bytes(png.read_bytes())
    (out / "timeline.json").write_text(json.dumps(res, indent=2) + "\n")
    print(json.dumps(res, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
