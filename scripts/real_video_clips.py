"""Real face video + unseen speech: clips for trying a trained bundle with `mer predict`.

The paired training clips are still photographs. This script muxes *real face video* (MEAD,
``<data-root>/video/mead_silent``: 3 speakers, moving faces, no audio track) with speech of the
same emotion from a corpus the model was not trained on (SAVEE, ``<data-root>/savee``; other
speakers, another accent), one clip per MEAD speaker and emotion, and writes ``labels.csv``.
Neither the faces nor the voices appear in the paired RAVDESS + KDEF training data.

    python scripts/real_video_clips.py --data-root ../shared/data --out runs/real_video
    mer predict runs/paired-strong/model runs/real_video/clips --labels runs/real_video/labels.csv
"""
from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

#: our class -> (MEAD emotion name, SAVEE file prefix)
CLASSES = {"happy": ("happy", "h"), "sad": ("sad", "sa"), "surprise": ("surprised", "su"),
           "angry": ("angry", "a"), "fear": ("fear", "f"), "disgust": ("disgusted", "d")}
SAVEE_SPEAKERS = ("DC", "JE", "JK", "KL")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data-root", default="../shared/data", help="folder holding video/mead_silent and savee")
    ap.add_argument("--out", default="runs/real_video", help="output folder (clips/ and labels.csv)")
    ap.add_argument("--classes", default="happy,sad,surprise", help="comma-separated classes")
    a = ap.parse_args(argv)

    from mer_helpers.data.labels import parse_classes
    from mer_helpers.core.media import run_ffmpeg

    root = Path(a.data_root)
    mead, savee = root / "video" / "mead_silent", root / "savee"
    for d in (mead, savee):
        if not d.is_dir():
            print(f"real_video_clips: {d}: folder not found", file=sys.stderr)
            return 2
    out = Path(a.out)
    (out / "clips").mkdir(parents=True, exist_ok=True)
    rows = []
    speakers = sorted({p.name.split("_")[0] for p in mead.glob("*_front_*.mp4")})
    for i, spk in enumerate(speakers):
        voice = SAVEE_SPEAKERS[i % len(SAVEE_SPEAKERS)]
        for cls in parse_classes(a.classes, min_classes=1):  # the package's one class-list parser
            mead_name, prefix = CLASSES[cls]
            video = sorted(mead.glob(f"{spk}_front_{mead_name}_level*_001.mp4"))
            speech = sorted((savee / voice).glob(f"{prefix}[0-9][0-9].flac"))
            if not video or not speech:
                print(f"real_video_clips: no {cls} clip for {spk} / {voice}; skipped", file=sys.stderr)
                continue
            clip_id = f"{spk}_{voice}_{cls}"
            target = out / "clips" / f"{clip_id}.mp4"
            run_ffmpeg(["-y", "-i", str(video[0]), "-i", str(speech[0]), "-map", "0:v:0", "-map", "1:a:0",
                        "-c:v", "copy", "-c:a", "aac", "-b:a", "96k", "-shortest", str(target)],
                       what=f"muxing {clip_id}")
            rows.append({"clip_id": clip_id, "path": f"clips/{clip_id}.mp4", "label": cls, "speaker": voice,
                         "subject": spk, "corpus": "mead+savee"})
    with open(out / "labels.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    print(f"[real_video_clips] {len(rows)} clips -> {out / 'labels.csv'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
