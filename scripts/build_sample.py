#!/usr/bin/env python
"""Build the committed sample ``data/sample/`` from RAVDESS speech and rendered faces.

Usage (from the repository root)::

    .venv/bin/python scripts/build_sample.py --speech ../shared/data/ravdess_speech --out data/sample

The sample holds 4 RAVDESS actors (2 male, 2 female) x 3 emotions (happy, sad, surprised)
x 4 utterances = 48 clips. Each clip's audio track is the RAVDESS utterance (16 kHz mono,
AAC); its video track is a face drawn by :mod:`mer_helpers.chain.render` (one identity per actor,
drawn from a fixed seed) showing the same emotion, with a little head motion and a jaw that
follows the utterance's loudness. Only RAVDESS speech is used because its licence
(CC BY-NC-SA 4.0) allows redistribution; no face corpus the project has access to does.

The 4 utterances per actor and emotion are the two statements ("Kids are talking by the
door", "Dogs are sitting by the door") at both intensities (normal, strong), repetition 1.
The script is deterministic: the same inputs and arguments give the same labels.csv and
frames (the H.264 bytes may differ between FFmpeg builds).
"""
from __future__ import annotations

import argparse
import csv
import io
import math
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from mer_helpers.core.fileio import atomic_write, atomic_write_text  # noqa: E402
from mer_helpers.core.media import load_audio, probe, write_clip  # noqa: E402
from mer_helpers.chain.render import audio_envelope, random_identity, render_sequence  # noqa: E402

EMOTIONS = {"03": "happy", "04": "sad", "08": "surprise"}  # RAVDESS code -> project class
RAVDESS_NAMES = {"03": "happy", "04": "sad", "08": "surprised"}


def select_files(speech_dir: Path, actors: list[int]) -> list[dict]:
    """The utterances of the sample, in a fixed order, with their labels."""
    rows = []
    for actor in actors:
        folder = speech_dir / f"Actor_{actor:02d}"
        if not folder.is_dir():
            raise FileNotFoundError(f"{folder}: RAVDESS actor folder not found "
                                    f"(expected Actor_NN/03-01-EE-II-SS-RR-NN.flac|wav under {speech_dir})")
        for code, label in EMOTIONS.items():
            for intensity in ("01", "02"):
                for statement in ("01", "02"):
                    stem = f"03-01-{code}-{intensity}-{statement}-01-{actor:02d}"
                    found = [folder / (stem + ext) for ext in (".flac", ".wav") if (folder / (stem + ext)).exists()]
                    if not found:
                        raise FileNotFoundError(f"{folder / stem}.flac|.wav: RAVDESS utterance missing")
                    rows.append({"source": found[0], "stem": stem, "actor": actor, "label": label,
                                 "ravdess_emotion": RAVDESS_NAMES[code], "intensity": intensity,
                                 "statement": statement})
    return rows


def build_one(row: dict, out_dir: Path, identity: dict, size: int, fps: float, crf: int) -> dict:
    speaker = f"ravdess_{row['actor']:02d}"
    clip_id = f"{speaker}_{row['stem']}"
    rel = Path("clips") / f"{clip_id}.mp4"
    audio, sr = load_audio(row["source"], sr=16000)
    duration = len(audio) / sr
    n_frames = max(1, math.ceil(duration * fps))
    env = audio_envelope(audio, sr, n_frames, fps)
    frames = render_sequence(row["label"], identity, n_frames, fps, size=size, envelope=env)
    target = out_dir / rel
    atomic_write(target, lambda tmp: write_clip(tmp, frames, fps, audio=audio, sr=sr, crf=crf), suffix=".mp4")
    return {"clip_id": clip_id, "path": rel.as_posix(), "label": row["label"], "speaker": speaker,
            "subject": f"rendered_{speaker}", "corpus": "ravdess_speech+rendered",
            "source": row["source"].name, "duration": duration}


README = """# Committed sample: RAVDESS speech + rendered faces

**For smoke tests only, not for results.** The faces are cartoons drawn by the project; a
model's numbers on this sample say nothing about real faces or about the papers' claims.

## What is here

- `clips/*.mp4`: {n} clips: {n_actors} speakers ({actors_desc}) x {n_emotions} emotions
  ({emotions}) x {per} utterances. Each clip is H.264 video ({size}x{size}, {fps:g} fps,
  CRF {crf}) + AAC audio (16 kHz mono), as long as its utterance ({dmin:.2f}-{dmax:.2f} s).
- `labels.csv`: `clip_id,path,label,speaker,subject,corpus` with `path` relative to this
  folder; `speaker` is the RAVDESS actor (`ravdess_NN`, the group key for speaker-independent
  splits), `subject` the rendered face identity (one per actor), `corpus`
  `ravdess_speech+rendered`. Labels use the project's class names (RAVDESS "surprised" is
  `surprise`).
- `LICENSE`: the licence of this folder (CC BY-NC-SA 4.0).

Total size: {size_mb:.2f} MB.

## Provenance

**Audio.** The audio tracks are utterances of the RAVDESS speech set, used under the Creative
Commons Attribution-NonCommercial-ShareAlike 4.0 International licence:

> Livingstone SR, Russo FA (2018) The Ryerson Audio-Visual Database of Emotional Speech and
> Song (RAVDESS): A dynamic, multimodal set of facial and vocal expressions in North American
> English. PLoS ONE 13(5): e0196391. https://doi.org/10.1371/journal.pone.0196391
> Data: https://zenodo.org/record/1188976 (CC BY-NC-SA 4.0).

Changes made: the original 48 kHz WAV files were resampled to 16 kHz mono and encoded as AAC
inside an mp4 together with a rendered face video. For each actor (01, 02, 03, 04; odd =
male, even = female) and emotion (03 happy, 04 sad, 08 surprised) the four files are both
statements (01 "Kids are talking by the door", 02 "Dogs are sitting by the door") at both
intensities (01 normal, 02 strong), repetition 01: RAVDESS names
`03-01-EE-II-SS-01-NN.wav`. The clip `ravdess_NN_<name>.mp4` comes from the RAVDESS file
`Actor_NN/<name>.wav`:

{file_list}

**Video.** The faces are not recordings of anyone: they are drawn frame by frame by
`mer_helpers.chain.render` (OpenCV shapes; one identity per actor drawn with seed {seed}; mouth,
brows and eyes follow the clip's emotion: happy = smile and raised cheeks, sad = downturned
mouth, raised inner brows and drooping lids, surprise = open round mouth, high brows and wide
eyes; small head motion; the jaw follows the utterance's loudness).

**Rebuild.** From the repository root, with the RAVDESS speech files at `SPEECH_DIR`
(`Actor_NN/03-01-*.flac` or `.wav`):

```
python scripts/build_sample.py --speech SPEECH_DIR --out data/sample --seed {seed}
```

## Licence

This folder (`data/sample/`, clips and labels) is a derivative of RAVDESS and is distributed
under the same licence, **CC BY-NC-SA 4.0**
(https://creativecommons.org/licenses/by-nc-sa/4.0/): you may share and adapt it for
non-commercial purposes, giving credit to Livingstone & Russo (2018) as above and to this
project, and sharing derivatives under the same licence. The project's code is under its own
licence (see the repository's `pyproject.toml`).
"""

LICENSE = """data/sample/ - RAVDESS speech + rendered faces (mer-book committed sample)

Licensed under the Creative Commons Attribution-NonCommercial-ShareAlike 4.0 International
licence (CC BY-NC-SA 4.0). Full legal code: https://creativecommons.org/licenses/by-nc-sa/4.0/legalcode

The audio tracks are derived from the RAVDESS speech set:
  Livingstone SR, Russo FA (2018) The Ryerson Audio-Visual Database of Emotional Speech and
  Song (RAVDESS): A dynamic, multimodal set of facial and vocal expressions in North American
  English. PLoS ONE 13(5): e0196391. https://doi.org/10.1371/journal.pone.0196391
  Original data: https://zenodo.org/record/1188976, licensed CC BY-NC-SA 4.0.
Changes: resampled to 16 kHz mono, encoded as AAC, muxed with face video rendered by the
mer-book project (mer_helpers/render.py). See README.md for the exact list of source files.

You are free to share (copy and redistribute) and adapt this material, under these terms:
  Attribution - give appropriate credit (the citation above and the mer-book project),
    provide a link to the licence, and indicate if changes were made.
  NonCommercial - you may not use the material for commercial purposes.
  ShareAlike - if you remix, transform, or build upon the material, you must distribute
    your contributions under the same licence as the original.
  No additional restrictions - you may not apply legal terms or technological measures that
    legally restrict others from doing anything the licence permits.
"""


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--speech", default=str(REPO.parent / "shared" / "data" / "ravdess_speech"),
                   help="RAVDESS speech folder (Actor_NN/03-01-*.flac|wav)")
    p.add_argument("--out", default=str(REPO / "data" / "sample"))
    p.add_argument("--actors", type=int, nargs="+", default=[1, 2, 3, 4],
                   help="RAVDESS actor numbers (odd = male, even = female)")
    p.add_argument("--seed", type=int, default=0, help="seed of the face identities")
    p.add_argument("--size", type=int, default=160, help="frame width = height in pixels")
    p.add_argument("--fps", type=float, default=10.0)
    p.add_argument("--crf", type=int, default=30)
    p.add_argument("--n-jobs", type=int, default=2)
    a = p.parse_args(argv)

    from joblib import Parallel, delayed
    from tqdm.auto import tqdm

    speech_dir, out_dir = Path(a.speech), Path(a.out)
    rows = select_files(speech_dir, a.actors)
    (out_dir / "clips").mkdir(parents=True, exist_ok=True)
    identities = {actor: random_identity(np.random.default_rng([a.seed, actor]), gender="MF"[actor % 2 == 0])
                  for actor in a.actors}
    jobs = (delayed(build_one)(r, out_dir, identities[r["actor"]], a.size, a.fps, a.crf) for r in rows)
    results = list(tqdm(Parallel(n_jobs=a.n_jobs, return_as="generator")(jobs), total=len(rows),
                        desc="sample clips"))

    expected = {r["path"] for r in results}
    for old in (out_dir / "clips").glob("*.mp4"):  # clips of an earlier selection
        if f"clips/{old.name}" not in expected:
            old.unlink()
    for r in results:
        info = probe(out_dir / r["path"])
        if not (info.has_audio and info.has_video) or abs(info.duration - r["duration"]) > 0.25:
            raise RuntimeError(f"{r['path']}: bad clip after writing: audio={info.has_audio} "
                               f"video={info.has_video} duration={info.duration} (utterance {r['duration']:.2f} s)")

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    cols = ["clip_id", "path", "label", "speaker", "subject", "corpus"]
    w.writerow(cols)
    for r in results:
        w.writerow([r[c] for c in cols])
    atomic_write_text(out_dir / "labels.csv", buf.getvalue())

    file_list = "\n".join(f"- `{r['clip_id']}.mp4` <- `Actor_{r['speaker'][-2:]}/{Path(r['source']).stem}.wav` "
                          f"({r['label']})" for r in results)
    atomic_write_text(out_dir / "LICENSE", LICENSE)
    durs = [r["duration"] for r in results]
    sexes = ["male" if x % 2 else "female" for x in a.actors]
    actors_desc = "RAVDESS actors " + ", ".join(f"{x:02d} {s}" for x, s in zip(a.actors, sexes))

    def folder_mb() -> float:
        return sum(f.stat().st_size for f in out_dir.rglob("*") if f.is_file()) / 1e6

    text = ""
    for _ in range(2):  # the README states the folder's size, including itself
        text = README.format(n=len(results), n_actors=len(a.actors), actors_desc=actors_desc,
                             n_emotions=len(EMOTIONS), emotions=", ".join(EMOTIONS.values()),
                             per=len(results) // (len(a.actors) * len(EMOTIONS)), size=a.size, fps=a.fps,
                             crf=a.crf, dmin=min(durs), dmax=max(durs), size_mb=folder_mb(),
                             file_list=file_list, seed=a.seed)
        atomic_write_text(out_dir / "README.md", text)
    print(f"[build_sample] {len(results)} clips, {len(a.actors)} speakers -> {out_dir} ({folder_mb():.2f} MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
