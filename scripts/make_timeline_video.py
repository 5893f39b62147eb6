"""Test videos for `mer predict --timeline`: one person's emotions one after another, and long loops.

(a) The *segments video*: one MEAD speaker's happy, sad and surprised face clips
(``<data-root>/video/mead_silent``, silent) one after another, each looped to ``--segment-s``
seconds (9.6 s by default: seven whole 3 s windows at a 1 s hop lie inside each segment), with
SAVEE speech of the same emotion as the audio track (``<data-root>/savee/<speaker>``: h =
happiness, sa = sadness, su = surprise): the speaker's utterances of that emotion one after
another with ``--gap-s`` of silence between them, the whole utterances that fit (in file order;
one too long for what is left is skipped), the rest of the segment silent. The face and the voice are two different people (MEAD and SAVEE share
nobody); both are unseen by a bundle trained on RAVDESS + KDEF. Written: ``<stem>.mp4``
(H.264 crf 18 + AAC, 25 fps) and ``segments.csv`` with ``clip_id,start_s,end_s,label``
(``clip_id`` is the video's stem, labels ``happy``, ``sad``, ``surprise``).

(b) With ``--minutes N``: also ``<stem>_<N>min.mp4``, the segments video looped to N minutes
with FFmpeg's ``-stream_loop`` (the video stream copied, not re-encoded; the audio re-encoded
from PCM so that every period is exactly as long as the video's: a few seconds for 30
minutes), and ``segments_<N>min.csv`` for it (the last segment cut at the end).

    python scripts/make_timeline_video.py --out runs/timeline_video --minutes 10
    mer predict MODEL runs/timeline_video/M030_DC_segments.mp4 --timeline --out timeline.csv

Uses the FFmpeg of :func:`mer_helpers.core.media.ffmpeg_exe` (imageio-ffmpeg's when no system one).
"""
from __future__ import annotations

import argparse
import csv
import sys
import tempfile
from pathlib import Path

import numpy as np

#: label -> (MEAD emotion name, SAVEE file prefix), in the order of the segments
SEGMENTS = {"happy": ("happy", "h"), "sad": ("sad", "sa"), "surprise": ("surprised", "su")}
FPS = 25
SR = 16000
REPO = Path(__file__).resolve().parents[1]


def _speech(files: list[Path], seconds: float, gap_s: float) -> tuple[np.ndarray, list[str]]:
    """Whole utterances one after another (``gap_s`` apart), in file order, each that still fits
    in ``seconds`` (one that does not is skipped), then silence: float32 mono at :data:`SR`, exactly ``round(seconds * SR)`` samples."""
    import soundfile as sf

    n = int(round(seconds * SR))
    out, pos, used = np.zeros(n, dtype=np.float32), 0, []
    for f in files:
        y, sr = sf.read(str(f), dtype="float32", always_2d=True)
        if sr != SR:
            raise SystemExit(f"make_timeline_video: {f} is {sr} Hz, expected {SR} Hz")
        y = y.mean(axis=1)
        if pos + len(y) > n:
            continue  # too long for what is left: try the next, shorter ones may fit
        out[pos:pos + len(y)] = y
        used.append(f.stem)
        pos += len(y) + int(round(gap_s * SR))
    if not used:
        raise SystemExit(f"make_timeline_video: no utterance of {files[0].parent} fits in {seconds} s")
    return out, used


def build_segments(data_root: Path, speaker: str, savee_speaker: str, out: Path, segment_s: float = 9.6,
                   gap_s: float = 0.4) -> tuple[Path, list[dict]]:
    """Write the segments video and ``segments.csv`` under ``out``; return the video and the rows."""
    from mer_helpers.core.media import run_ffmpeg

    mead, savee = data_root / "video" / "mead_silent", data_root / "savee" / savee_speaker
    for d in (mead, savee):
        if not d.is_dir():
            raise SystemExit(f"make_timeline_video: {d}: folder not found (--data-root {data_root})")
    n_frames = int(round(segment_s * FPS))
    segment_s = n_frames / FPS  # a whole number of frames
    stem = f"{speaker}_{savee_speaker}_segments"
    out.mkdir(parents=True, exist_ok=True)
    video_in, audio, rows = [], [], []
    for i, (label, (mead_name, prefix)) in enumerate(SEGMENTS.items()):
        clips = sorted(mead.glob(f"{speaker}_front_{mead_name}_level*_001.mp4"))
        speech = sorted(savee.glob(f"{prefix}[0-9][0-9].flac"))
        if not clips or not speech:
            raise SystemExit(f"make_timeline_video: no MEAD {mead_name} clip of {speaker} in {mead} "
                             f"or no SAVEE {prefix}NN.flac in {savee}")
        video_in.append(clips[-1])  # the highest intensity level
        y, used = _speech(speech, segment_s, gap_s)
        audio.append(y)
        rows.append({"clip_id": stem, "start_s": round(i * segment_s, 3), "end_s": round((i + 1) * segment_s, 3),
                     "label": label})
        print(f"{label}: {clips[-1].name} looped to {segment_s:g} s + SAVEE {savee_speaker} {', '.join(used)}")
    target = out / f"{stem}.mp4"
    with tempfile.TemporaryDirectory() as td:
        wav = Path(td) / "speech.f32"
        np.concatenate(audio).astype(np.float32).tofile(wav)
        args = []
        for clip in video_in:
            args += ["-stream_loop", "-1", "-i", str(clip)]
        args += ["-f", "f32le", "-ar", str(SR), "-ac", "1", "-i", str(wav)]
        graph = ";".join(f"[{i}:v]fps={FPS},trim=end_frame={n_frames},setpts=PTS-STARTPTS[v{i}]"
                         for i in range(len(video_in)))
        graph += ";" + "".join(f"[v{i}]" for i in range(len(video_in))) + f"concat=n={len(video_in)}:v=1:a=0[v]"
        args += ["-filter_complex", graph, "-map", "[v]", "-map", f"{len(video_in)}:a",
                 "-c:v", "libx264", "-preset", "veryfast", "-crf", "18", "-pix_fmt", "yuv420p", "-r", str(FPS),
                 "-c:a", "aac", "-b:a", "96k", "-t", f"{len(video_in) * segment_s:.3f}",
                 "-movflags", "+faststart", str(target)]
        run_ffmpeg(args, what=f"writing {target.name}")
    _write_csv(out / "segments.csv", rows)
    return target, rows


def build_long(segments_video: Path, rows: list[dict], minutes: float, out: Path) -> Path:
    """Loop the segments video to ``minutes``; write ``segments_<N>min.csv``.

    The H.264 video is looped without re-encoding (``-stream_loop``, ``-c:v copy``) from a
    video-only copy, the audio from its decoded PCM (re-encoded to AAC, cheap): looping the
    muxed file directly would make each period one AAC frame (64 ms) longer than the video
    (the encoder's priming), a gap in the video's timestamps that adds up to seconds over
    half an hour, so frame n would no longer be at n / 25 s.
    """
    from mer_helpers.core.media import load_audio, probe, run_ffmpeg

    seconds = float(minutes) * 60.0
    period = float(rows[-1]["end_s"])
    loops = int(np.ceil(seconds / period))
    tag = f"{minutes:g}min"
    target = out / f"{segments_video.stem}_{tag}.mp4"
    with tempfile.TemporaryDirectory() as td:
        video_only, pcm = Path(td) / "video.mp4", Path(td) / "audio.f32"
        run_ffmpeg(["-i", str(segments_video), "-map", "0:v:0", "-c", "copy", str(video_only)],
                   what=f"copying the video of {segments_video.name}")
        y, _ = load_audio(segments_video, sr=SR)
        n = int(round(period * SR))
        np.pad(y[:n], (0, max(0, n - len(y)))).astype(np.float32).tofile(pcm)
        run_ffmpeg(["-stream_loop", str(loops - 1), "-i", str(video_only),
                    "-stream_loop", str(loops - 1), "-f", "f32le", "-ar", str(SR), "-ac", "1", "-i", str(pcm),
                    "-map", "0:v", "-map", "1:a", "-c:v", "copy", "-c:a", "aac", "-b:a", "96k",
                    "-t", f"{seconds:.3f}", "-movflags", "+faststart", str(target)], what=f"writing {target.name}")
    duration = probe(target).duration or seconds
    long_rows = []
    for k in range(loops):
        for r in rows:
            start, end = k * period + r["start_s"], min(duration, k * period + r["end_s"])
            if end - start > 0.5:
                long_rows.append({"clip_id": target.stem, "start_s": round(start, 3), "end_s": round(end, 3),
                                  "label": r["label"]})
    _write_csv(out / f"segments_{tag}.csv", long_rows)
    print(f"{target.name}: {duration:.1f} s ({loops} loops of {period:g} s)")
    return target


def _write_csv(path: Path, rows: list[dict]) -> None:
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["clip_id", "start_s", "end_s", "label"])
        w.writeheader()
        w.writerows(rows)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data-root", default=str(REPO.parent / "shared" / "data"),
                    help="folder holding video/mead_silent and savee (default: ../shared/data from the repository)")
    ap.add_argument("--speaker", default="M030", help="MEAD speaker (M030, W009, W011)")
    ap.add_argument("--savee-speaker", default="DC", help="SAVEE speaker (DC, JE, JK, KL)")
    ap.add_argument("--out", required=True, help="output folder")
    ap.add_argument("--segment-s", type=float, default=9.6, help="seconds per emotion segment (default 9.6)")
    ap.add_argument("--gap-s", type=float, default=0.4, help="silence between utterances (default 0.4 s)")
    ap.add_argument("--minutes", type=float, action="append", default=[],
                    help="also write the video looped to this many minutes (repeatable)")
    a = ap.parse_args(argv)
    if a.segment_s < 1 or any(m <= 0 for m in a.minutes):
        ap.error("--segment-s must be >= 1 and --minutes > 0")
    out = Path(a.out)
    video, rows = build_segments(Path(a.data_root), a.speaker, a.savee_speaker, out, a.segment_s, a.gap_s)
    print(f"wrote {video} and {out / 'segments.csv'}")
    for m in a.minutes:
        build_long(video, rows, m, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
