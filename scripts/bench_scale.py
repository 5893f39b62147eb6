#!/usr/bin/env python
"""How each stage's cost grows with the number of clips (issue 12).

Usage (from the repository root)::

    .venv/bin/python scripts/bench_scale.py --out runs/bench --sizes 500 2000 8000
    .venv/bin/python scripts/bench_scale.py --out runs/bench --report-only   # table + plot again

What it does:

1. **A synthetic corpus** of ``max(sizes)`` distinct clips (``OUT/clips``, built once): each clip
   takes one of the 48 committed sample utterances (``data/sample``), changes its rate by a
   random factor in [0.85, 1.15] (pitch and tempo together), its gain, and adds a little noise;
   its video is the sample's rendered face for that utterance under a random per-clip shift,
   zoom, rotation and brightness. No two clips share a byte, so the content-keyed caches cannot
   deduplicate them. Labels do not matter for throughput.
2. **Per-clip stages**, for every preset and size ``N`` (the first ``N`` clips), each with an
   empty cache of its own: probe (FFmpeg decode check), audio (FFmpeg → WAV, spectral
   subtraction, MFCC, statistics), frames (decode, face detection and crops), summary (the
   ``paper`` preset's k-means summary images from the shared convolutional autoencoder) and
   backbone (ResNet-50 or FER2013 mini-Xception features). They run through the package's own
   functions on a Dask ``LocalCluster`` (``--workers``, default 2), in chunks of ``--chunk``
   clips whose outputs are dropped, so the script holds one chunk at a time.
3. **Fitted stages** on arrays of the preset's shapes with 80 % of ``N`` as training clips
   (values random: the cost of a fit does not depend on them): the papers' audio autoencoder
   (``paper``), the shared convolutional autoencoder (``paper``), the zebra feature selection
   (one IZOA fit, the papers' budget) and the BiLSTM-SA classifier (one fit, 10 epochs).
   Epoch-bound fits run ``--fit-epochs`` epochs and are scaled to the preset's epochs (the
   cost of a Keras epoch does not change between epochs).
4. **Per stage**: wall time, clips/s, peak memory (resident memory of this process and all its
   children, the Dask workers included, sampled every 0.1 s), and the growth exponent ``b`` of
   ``time ∝ N^b`` fitted by least squares on log-log axes.
5. **Speed-up** from 1 to 2 Dask workers on the per-clip stages (``strong`` preset, N = the
   smallest size).
6. **Projection** for MELD (13,708 clips): each stage's cost at 13,708 clips from its fitted
   curve, scaled to MELD's mean clip length (3.15 s: about 12 hours of video) and, for frame
   decoding, to 720p (the ratio measured on ``--hd-clips`` clips rendered at 1280x720).

Results: ``OUT/bench.json`` (every measurement), ``OUT/bench.csv`` and ``OUT/bench.png`` (the
log-log plot); ``--book`` copies the JSON and plot to ``book/reference_runs/bench_scale/`` for
the book's "Scale" page.
"""
from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import shutil
import sys
import threading
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

MELD_CLIPS = 13708
MELD_MEAN_S = 12 * 3600 / MELD_CLIPS  # about 12 hours of video (paper 1; MELD's own figures)
PER_CLIP = ("probe", "audio", "frames", "summary", "backbone")
#: How many times ``mer run`` fits each model-fitting stage (counted from notebooks 02-06; a
#: per-clip stage runs once over every clip whatever the protocol). ``official``: one train/test
#: split (MELD's) plus the final model; ``speaker-cv``: 5 folds plus the final model. Notebook 05
#: fits IZOA and ZOA per evaluation split, IZOA on the final split and both again for 2 extra
#: convergence seeds; notebook 06 trains 3 models per split, 3 ablation models and 4 inner-speaker
#: candidates per evaluation split, and 3 final models (counted here at the BiLSTM-SA's cost,
#: the dearest of the three, and at the full training size: an upper bound).
FITS = {"official": {"audio_fit": 2, "summary_fit": 2, "selection": 7, "classifier": 13},
        "speaker-cv": {"audio_fit": 6, "summary_fit": 6, "selection": 15, "classifier": 53}}
#: per-clip stages that notebook 03 or 04 runs again for every split (counted once per split, an
#: upper bound): the paper preset's shared summary is refitted per split, so each split has its
#: own summary images to select and describe; the strong preset's images are the same in every
#: split (read again, their features from the cache)
SPLITS = {"official": 2, "speaker-cv": 6}
PER_SPLIT = {"paper": ("summary", "backbone"), "strong": ("backbone",)}
FITTED = ("audio_fit", "summary_fit", "selection", "classifier")

#: What each preset runs beyond its audio front end, which comes from the preset itself
#: (:func:`front_end`): the stages it has, its backbone and the shapes and epochs of its fits.
PRESET_STAGES = {
    "paper": dict(audio_fit=True, summary_mode="shared", backbone="resnet50", weights="none",
                  layer=None, ae_epochs=100, cae_epochs=50, epochs=10, visual_dim=2048, audio_dim=64,
                  selected="selected"),
    "strong": dict(audio_fit=False, summary_mode="all", backbone="fer_xception", weights="fer2013",
                   layer="block", ae_epochs=0, cae_epochs=0, epochs=10, visual_dim=2048, audio_dim=720,
                   selected="all"),
}


def front_end(preset: str) -> dict:
    """The audio front-end parameters ``mer run --preset PRESET`` uses (config.PRESETS over
    the notebooks' defaults, audio.FRONT_END_DEFAULTS)."""
    from mer_helpers.methods.audio import front_end_params
    from mer_helpers.chain.config import PRESETS

    return front_end_params(**PRESETS[preset])


# ----------------------------------------------------------------------------- corpus
def _sample_sources() -> list[Path]:
    """The committed sample's 48 clips (their utterances and rendered faces are the sources)."""
    import pandas as pd

    labels = pd.read_csv(REPO / "data" / "sample" / "labels.csv")
    return [REPO / "data" / "sample" / p for p in labels["path"]]


def _decode_all(path: Path, size: int):
    import cv2

    cap = cv2.VideoCapture(str(path))
    fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
    frames = []
    while True:
        ok, fr = cap.read()
        if not ok:
            break
        frames.append(cv2.resize(fr[:, :, ::-1], (size, size), interpolation=cv2.INTER_AREA))
    cap.release()
    return np.stack(frames), float(fps)


@functools.lru_cache(maxsize=64)
def _source(src: str, size: int):
    """A sample clip's audio and frames, decoded once per worker process."""
    from mer_helpers.core.media import load_audio

    audio, sr = load_audio(src, sr=16000)
    frames, fps = _decode_all(Path(src), size)
    return audio, sr, frames, fps


def make_clip(i: int, src: str, out: str, seed: int = 0, size: int = 128, wide: bool = False) -> str:
    """Write synthetic clip ``i`` (deterministic in ``i`` and ``seed``) to ``out``; return it."""
    import cv2

    from mer_helpers.core.media import write_clip

    rng = np.random.default_rng([seed, i])
    audio, sr, frames, fps = _source(src, size)
    rate = rng.uniform(0.85, 1.15)  # > 1: faster and higher
    n_out = max(1, int(len(audio) / rate))
    audio = np.interp(np.arange(n_out) * rate, np.arange(len(audio)), audio).astype(np.float32)
    audio = audio * rng.uniform(0.5, 1.0) + rng.normal(0, 0.003, n_out).astype(np.float32)
    n_frames = max(1, int(round(len(audio) / sr * fps)))
    pick = np.minimum((np.arange(n_frames) * rate).astype(int), len(frames) - 1)
    angle, zoom = rng.uniform(-6, 6), rng.uniform(0.92, 1.08)
    shift = rng.uniform(-5, 5, 2) * size / 128
    M = cv2.getRotationMatrix2D((size / 2, size / 2), angle, zoom)
    M[:, 2] += shift
    gain = rng.uniform(0.85, 1.15)
    video = np.stack([np.clip(cv2.warpAffine(frames[j], M, (size, size), borderMode=cv2.BORDER_REPLICATE)
                              * gain, 0, 255).astype(np.uint8) for j in pick])
    if wide:  # 16:9 like MELD's 1280x720: the square face frame in the middle of a wider picture
        pad = (size * 16 // 9 - size) // 2
        video = np.pad(video, ((0, 0), (0, 0), (pad, pad), (0, 0)), mode="edge")
    write_clip(out, video, fps, audio=np.clip(audio, -1, 1), sr=sr)
    return out


def build_corpus(out: Path, n: int, client, size: int = 128, name: str = "clips", wide: bool = False) -> list[str]:
    """The first ``n`` synthetic clips under ``out/name`` (existing ones are kept)."""
    from mer_helpers.core.progress import progress

    sources = _sample_sources()
    folder = out / name
    folder.mkdir(parents=True, exist_ok=True)
    paths = [str(folder / f"clip_{i:05d}.mp4") for i in range(n)]
    todo = [i for i, p in enumerate(paths) if not Path(p).exists()]
    if todo:
        from distributed import as_completed

        futs = [client.submit(make_clip, i, str(sources[i % len(sources)]), paths[i] + ".tmp.mp4", 0, size,
                              wide, pure=False) for i in todo]
        for f in progress(as_completed(futs), total=len(futs), desc=f"synthetic clips ({name})", unit="clip"):
            done = f.result()
            os.replace(done, done[: -len(".tmp.mp4")])
    return paths


# ----------------------------------------------------------------------------- measuring
class PeakRSS:
    """Peak memory (MB) and CPU seconds of this process and all its children (the Dask
    workers and their FFmpeg subprocesses) while the block runs, sampled every ``interval`` s.

    Memory is the sum of each process's proportional set size (PSS): a page shared by k
    processes counts 1/k in each, so the sum is what the processes hold together. Summing
    resident sizes instead counts a worker's pages twice in the instant between its fork of
    FFmpeg and the exec, and a 2 GB worker forking then looks like a 2 GB rise.

    CPU seconds are what a stage costs whatever else runs on the machine; wall time is what a
    user waits. A child that lives shorter than one sample interval is counted through its
    parent's ``children_*`` times once the parent has waited for it.
    """

    def __init__(self, interval: float = 0.1):
        self.interval, self.peak_mb, self.base_mb = interval, 0.0, None
        self._stop = threading.Event()
        self._first: dict[int, float] = {}
        self._last: dict[int, float] = {}

    def _sample(self) -> None:
        import psutil

        me = psutil.Process()
        total = 0
        for p in [me, *me.children(recursive=True)]:
            with contextlib.suppress(psutil.Error):
                with p.oneshot():
                    total += p.memory_full_info().pss
                    t = p.cpu_times()
                    cpu = t.user + t.system + t.children_user + t.children_system
                self._first.setdefault(p.pid, cpu if self._started else 0.0)
                self._last[p.pid] = cpu
        self.peak_mb = max(self.peak_mb, total / 2**20)
        if self.base_mb is None:
            self.base_mb = total / 2**20  # what the processes held when the block started

    @property
    def cpu_s(self) -> float:
        return sum(self._last[p] - self._first[p] for p in self._last)

    def _loop(self):
        while not self._stop.is_set():
            self._sample()
            self._stop.wait(self.interval)

    def __enter__(self):
        self._started = True
        self._sample()  # baseline of the processes alive now
        self._started = False
        self._t = threading.Thread(target=self._loop, daemon=True)
        self._t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join()
        self._sample()


#: resident memory (MB) at the start of the last :func:`timed` block
LAST_BASE_MB = [0.0]


def timed(fn, *args, **kwargs):
    """``(result, seconds, peak_mb, cpu_s)`` of ``fn(*args, **kwargs)``; the memory at the start
    of the block is left in :data:`LAST_BASE_MB`."""
    with PeakRSS() as mem:
        t0 = time.perf_counter()
        out = fn(*args, **kwargs)
        dt = time.perf_counter() - t0
    LAST_BASE_MB[0] = mem.base_mb or 0.0
    return out, dt, mem.peak_mb, mem.cpu_s


@contextlib.contextmanager
def fresh_cache(root: Path):
    """An empty ``MER_CACHE_DIR`` for the block (removed afterwards)."""
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    old = os.environ.get("MER_CACHE_DIR")
    os.environ["MER_CACHE_DIR"] = str(root)
    try:
        yield root
    finally:
        if old is None:
            os.environ.pop("MER_CACHE_DIR", None)
        else:
            os.environ["MER_CACHE_DIR"] = old
        shutil.rmtree(root, ignore_errors=True)


# ----------------------------------------------------------------------------- per-clip stages
def per_clip_stages(paths: list[str], preset: str, chunk: int, weights_path: str | None) -> dict[str, dict]:
    """Run the per-clip stages of ``preset`` over ``paths`` (the cache must be empty) through the
    functions the notebooks call: 00's probe, 01's ``audio.extract_to_npz`` (then 02's per-clip
    statistics), 03's ``frames.sample_stream`` and ``summary_files.stream_summary``, 04's
    ``resnet_features.stream_split_features``. They stream, so memory should not grow with N."""
    from mer_helpers.data import validate
    from mer_helpers.methods import audio, frames
    from mer_helpers.methods import summary_files
    from mer_helpers.methods import audio_featurizer
    from mer_helpers.core.parallel import chunked
    from mer_helpers.stages import resnet_features, summary_images

    cfg = PRESET_STAGES[preset]
    front = front_end(preset)
    ids = [Path(p).stem for p in paths]
    art = Path(os.environ["MER_CACHE_DIR"]) / "artifacts"  # removed with the cache
    out, state = {}, {}

    def probe_all():
        import pandas as pd

        for part in chunked(paths, chunk):
            lab = pd.DataFrame({"clip_id": [Path(p).stem for p in part], "path": part,
                                "label": "happy", "speaker": "s"})
            validate.validate_clips(lab, classes=["happy", "sad"], progress=False)

    def audio_all():  # notebook 01's streaming write of mfcc.npz, then 02's per-clip statistics
        npz = art / "mfcc.npz"
        audio.extract_to_npz(paths, ids, npz, progress=False, chunk=chunk, **front)
        with np.load(npz) as z:
            for part in chunked(z.files, chunk):
                audio_featurizer.summarize([z[k] for k in part], "full" if preset == "strong" else "mean_std")

    def frames_all():
        state["store"] = frames.sample_stream(paths, ids, frame_interval=5, frame_size=96, face_detect=True,
                                              face_only=True, progress=False).store

    # the summary model is fitted (untimed: fits are the fitted stages; 1 epoch for the shared
    # autoencoder) between the frames stage and the summary stage
    def fit_summary():
        state["model"] = summary_images.fit_split(state["store"], ids[:chunk], summary_mode=cfg["summary_mode"],
                                           cae_epochs=1, progress=False)

    def summary_all():  # strong (summary_mode "all"): every face frame becomes a PNG
        store, model = state["store"], state["model"]
        summary_files.stream_summary(art, "bench", zip(ids, model.iter_select((store[c] for c in ids), clip_ids=ids)))

    def backbone_all():
        resnet_features.stream_split_features(art, "bench", ids, cfg["backbone"], weights_path or cfg["weights"],
                                     layer=cfg["layer"], chunk=chunk, progress=False)

    for name, fn in (("probe", probe_all), ("audio", audio_all), ("frames", frames_all),
                     ("summary", summary_all), ("backbone", backbone_all)):
        if name == "summary":
            fit_summary()
        _, dt, mb, cpu = timed(fn)
        out[name] = {"seconds": dt, "peak_mb": mb, "cpu_s": cpu, "base_mb": LAST_BASE_MB[0]}
        print(f"[bench] {preset} N={len(paths)} {name}: {dt:.1f} s ({cpu:.1f} CPU s), "
              f"{len(paths) / max(dt, 1e-9):.1f} clips/s, peak {mb:.0f} MB", flush=True)
    return out


# ----------------------------------------------------------------------------- fitted stages
def fitted_stages(n: int, preset: str, fit_epochs: int, seed: int = 0) -> dict[str, dict]:
    """One fit of each model-fitting stage of ``preset`` on ``0.8 n`` random training rows."""
    from mer_helpers.methods import selection, summary, training
    from mer_helpers.methods.audio_featurizer import AudioFeaturizer

    cfg = PRESET_STAGES[preset]
    rng = np.random.default_rng(seed)
    n_tr = int(0.8 * n)
    y = rng.integers(0, 3, n_tr)
    groups = np.arange(n_tr) % max(2, n_tr // 24)  # about 24 clips a speaker, as in RAVDESS
    out = {}

    def scaled(fit, epochs_full):
        """``fit(e)`` trains ``e`` epochs. Timed at 1 and ``1 + fit_epochs`` epochs: the first
        epoch carries the graph tracing, later ones cost the same, so the full cost is
        ``t1 + (epochs_full - 1) * per_epoch``."""
        _, t1, mb1, c1 = timed(fit, 1)
        _, t2, mb2, c2 = timed(fit, 1 + fit_epochs)
        per_epoch, cpu_epoch = max(t2 - t1, 0.0) / fit_epochs, max(c2 - c1, 0.0) / fit_epochs
        return {"seconds": t1 + (epochs_full - 1) * per_epoch, "first_epoch_s": t1, "per_epoch_s": per_epoch,
                "cpu_s": c1 + (epochs_full - 1) * cpu_epoch, "epochs": epochs_full, "peak_mb": max(mb1, mb2)}

    if cfg["audio_fit"]:  # the papers' dense autoencoder on every training MFCC frame
        fe = front_end(preset)
        frames_per_clip = int(3.5 * fe["sr"] / fe["hop_length"])
        mfcc = [rng.normal(size=(frames_per_clip, fe["n_mfcc"])).astype(np.float32) for _ in range(n_tr)]
        out["audio_fit"] = scaled(lambda e: AudioFeaturizer(epochs=e, progress=False).fit(mfcc),
                                  cfg["ae_epochs"])
        del mfcc
    if cfg["summary_mode"] == "shared":  # capped at cae_max_frames (512) training frames
        fr = [rng.integers(0, 255, (15, 96, 96, 3), dtype=np.uint8) for _ in range(n_tr)]
        out["summary_fit"] = scaled(lambda e: summary.SummaryImages("shared", cae_epochs=e,
                                                                  progress=False).fit(fr), cfg["cae_epochs"])
        del fr
    d = cfg["audio_dim"] + cfg["visual_dim"]
    X = rng.normal(size=(n_tr, d)).astype(np.float32)
    zs = selection.ZebraFeatureSelector("izoa", population=20, iterations=30, random_state=seed, n_jobs=2)
    _, dt, mb, cpu = timed(zs.fit, X, y, groups=groups)
    out["selection"] = {"seconds": dt, "peak_mb": mb, "cpu_s": cpu, "fitness_rows": int(getattr(zs, "n_fitness_rows_", n_tr))}
    cols = [f"audio:ae:{i}" for i in range(cfg["audio_dim"])] + [f"visual:bb:{i}" for i in range(cfg["visual_dim"])]
    use = cols if cfg["selected"] == "all" else list(np.array(cols)[zs.support_])
    Xs = X[:, [cols.index(c) for c in use]] if cfg["selected"] != "all" else X
    seq = models.features_sequencer(use, 4, "early").fit(Xs)
    Xseq = seq.transform(Xs)
    out["classifier"] = scaled(lambda e: training.fit_sequence_model("bilstm_sa", Xseq, y, groups=groups,
                                                                   epochs=e, seed=seed),
                               cfg["epochs"])
    for name, r in out.items():
        print(f"[bench] {preset} N={n} {name}: {r['seconds']:.1f} s ({r['cpu_s']:.1f} CPU s), "
              f"peak {r['peak_mb']:.0f} MB", flush=True)
    return out


# ----------------------------------------------------------------------------- report
def growth(sizes, seconds) -> float:
    """Least-squares slope of log(seconds) on log(N)."""
    x, y = np.log(np.asarray(sizes, float)), np.log(np.maximum(np.asarray(seconds, float), 1e-6))
    return float(np.polyfit(x, y, 1)[0]) if len(x) > 1 else float("nan")


def runs_per_chain(preset: str, stage: str, per_clip: bool, protocol: str) -> int:
    """How often one ``mer run --protocol PROTOCOL`` runs a stage: fitted stages :data:`FITS`,
    per-clip stages once, or once per split (:data:`PER_SPLIT`)."""
    if not per_clip:
        return FITS[protocol].get(stage, 1)
    return SPLITS[protocol] if stage in PER_SPLIT.get(preset, ()) else 1


def analyse(res: dict) -> dict:
    """Per preset and stage: sizes, seconds, clips/s, peak MB, growth exponent, cost ratio, MELD projection."""
    table = {}
    hd = res.get("hd_factor", 1.0)
    for preset, by_n in res["runs"].items():
        rows = {}
        for stage in (*PER_CLIP, *FITTED):
            pts = [(int(n), r[stage]) for n, r in sorted(by_n.items(), key=lambda kv: int(kv[0])) if stage in r]
            if not pts:
                continue
            ns = [n for n, _ in pts]
            secs = [p["seconds"] for _, p in pts]
            if max(secs) < 0.01:  # nothing to do in this preset (strong: summary_mode "all")
                continue
            b = growth(ns, secs)
            row = {"sizes": ns, "seconds": secs, "clips_per_s": [n / max(s, 1e-9) for n, s in zip(ns, secs)],
                   "peak_mb": [p["peak_mb"] for _, p in pts], "growth": b,
                   "cpu_s": [p.get("cpu_s") for _, p in pts], "per_clip": stage in PER_CLIP,
                   "extra_mb": [p["peak_mb"] - p["base_mb"] if "base_mb" in p else None for _, p in pts]}
            if stage in PER_CLIP and len(ns) > 1 and secs[0] > 0.5:
                row["cost_ratio"] = (secs[-1] / ns[-1]) / (secs[0] / ns[0])
                cpu = row["cpu_s"]
                if cpu[0] and cpu[-1]:
                    row["cpu_ratio"] = (cpu[-1] / ns[-1]) / (cpu[0] / ns[0])
            # projection from the largest size: per-clip stages linearly (their cost per clip is
            # what cost_ratio checks; a fitted slope there mostly reflects fixed start-up costs);
            # fitted stages along the slope between the two largest sizes (the asymptotic one)
            if stage in PER_CLIP:
                proj = secs[-1] * MELD_CLIPS / ns[-1] * MELD_MEAN_S / res["mean_clip_s"]
                if stage in ("frames", "probe"):
                    proj *= hd
            else:
                tail = growth(ns[-2:], secs[-2:]) if len(ns) > 1 else 1.0
                row["growth_tail"] = tail
                proj = secs[-1] * (MELD_CLIPS / ns[-1]) ** max(tail, 0.0)
            row["meld_s"] = proj
            rows[stage] = row
        table[preset] = rows
        res.setdefault("chain", {})[preset] = {proto: sum(r["meld_s"] * runs_per_chain(preset, st, r["per_clip"], proto)
                                                          for st, r in rows.items()) for proto in FITS}
    return table


def plot(table: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(table), figsize=(6 * len(table), 4.5), squeeze=False)
    for ax, (preset, rows) in zip(axes[0], table.items()):
        for stage, r in rows.items():
            if max(r["seconds"]) < 0.5:
                continue
            ax.loglog(r["sizes"], r["seconds"], "o-" if r["per_clip"] else "s--",
                      label=f"{stage} (b = {r['growth']:.2f})")
        ax.set(title=f"{preset} preset, 2 cores", xlabel="clips (N)", ylabel="wall time (s)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.0, 0.5))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_report(out: Path, res: dict) -> dict:
    import pandas as pd

    table = analyse(res)
    res["table"] = table
    rows = []
    for preset, stages in table.items():
        for stage, r in stages.items():
            for n, s, c, m in zip(r["sizes"], r["seconds"], r["clips_per_s"], r["peak_mb"]):
                rows.append(dict(preset=preset, stage=stage, n=n, seconds=round(s, 2), clips_per_s=round(c, 2),
                                 peak_mb=round(m), growth=round(r["growth"], 3)))
    pd.DataFrame(rows).to_csv(out / "bench.csv", index=False)
    (out / "bench.json").write_text(json.dumps(res, indent=1))
    plot(table, out / "bench.png")
    for preset, stages in table.items():
        total = sum(r["meld_s"] for r in stages.values())
        chain = res["chain"][preset]
        print(f"[bench] {preset}: MELD ({MELD_CLIPS} clips), each stage once: {total / 3600:.2f} h on 2 cores; "
              f"mer run --protocol official {chain['official'] / 3600:.2f} h, speaker-cv {chain['speaker-cv'] / 3600:.2f} h")
    return res


# ----------------------------------------------------------------------------- main
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="runs/bench")
    ap.add_argument("--sizes", type=int, nargs="+", default=[500, 2000, 8000])
    ap.add_argument("--presets", nargs="+", default=["strong", "paper"], choices=sorted(PRESET_STAGES))
    ap.add_argument("--max-size", nargs="+", default=[], metavar="PRESET=N",
                    help="largest N to run for a preset's per-clip stages, e.g. paper=2000 (ResNet-50 at "
                         "8,000 clips takes about half an hour on 2 cores)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--chunk", type=int, default=250)
    ap.add_argument("--fit-epochs", type=int, default=2)
    ap.add_argument("--hd-clips", type=int, default=48, help="clips rendered at 1280x720 for the decode ratio")
    ap.add_argument("--speedup", action=argparse.BooleanOptionalAction, default=True)
    ap.add_argument("--corpus-only", action="store_true", help="build the synthetic clips and stop")
    ap.add_argument("--report-only", action="store_true")
    ap.add_argument("--book", action="store_true", help="copy bench.json and bench.png to book/reference_runs")
    a = ap.parse_args(argv)

    out = Path(a.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    if a.report_only:
        res = write_report(out, json.loads((out / "bench.json").read_text()))
        return _to_book(out) if a.book else 0

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("MER_PROGRESS", "plain")
    from distributed import Client, LocalCluster

    from mer_helpers.core import weights

    caps = {k: int(v) for k, v in (s.split("=") for s in a.max_size)}
    res_path = out / "bench.json"
    res = json.loads(res_path.read_text()) if res_path.exists() else {}
    res.setdefault("runs", {})
    res.update(sizes=a.sizes, workers=a.workers, chunk=a.chunk, fit_epochs=a.fit_epochs, cores=os.cpu_count())

    def cluster(n_workers):
        c = LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True, dashboard_address=None)
        return c, Client(c)

    cl, client = cluster(a.workers)
    os.environ["MER_DASK_SCHEDULER"] = cl.scheduler_address
    try:
        t0 = time.perf_counter()
        paths = build_corpus(out, max(a.sizes), client)
        res["corpus_build_s"] = res.get("corpus_build_s") or time.perf_counter() - t0
        from mer_helpers.core.media import probe

        res["mean_clip_s"] = float(np.mean([probe(p).duration for p in paths[:200]]))
        if a.corpus_only:
            res_path.write_text(json.dumps(res, indent=1))
            return 0
        if "hd_factor" not in res and a.hd_clips:
            res["hd_factor"] = hd_factor(out, client, a.hd_clips)
        fer = weights.require("fer_xception") if "strong" in a.presets else None
        for preset in a.presets:
            wpath = str(fer) if PRESET_STAGES[preset]["backbone"] == "fer_xception" else None
            runs = res["runs"].setdefault(preset, {})
            for n in a.sizes:
                key = str(n)
                r = runs.setdefault(key, {})
                if n <= caps.get(preset, n) and "backbone" not in r:
                    client.restart()  # fresh workers: each N starts from the same memory
                    with fresh_cache(out / "cache"):
                        r.update(per_clip_stages(paths[:n], preset, a.chunk, wpath))
                if "classifier" not in r:
                    r.update(fitted_stages(n, preset, a.fit_epochs))
                res_path.write_text(json.dumps(res, indent=1))
        if a.speedup and "speedup" not in res:
            res["speedup"] = speedup(paths[:min(a.sizes)], a.chunk, str(fer) if fer else None, cluster, client)
            res_path.write_text(json.dumps(res, indent=1))
    finally:
        client.close()
        cl.close()
    write_report(out, res)
    return _to_book(out) if a.book else 0


def hd_factor(out: Path, client, n: int) -> float:
    """Frames-stage seconds per clip at 1280x720 over the same clips at the corpus's 128x128."""
    from mer_helpers.methods import frames

    small = build_corpus(out, n, client)
    hd = build_corpus(out, n, client, size=720, name="clips_720p", wide=True)  # 1280x720
    secs = []
    for ps in (small, hd):
        with fresh_cache(out / "cache"):
            _, _, _, cpu = timed(frames.sample_clips, ps, dtype="uint8", progress=False, face_only=True)
            secs.append(cpu)
    print(f"[bench] frames stage, {n} clips: 128x128 {secs[0]:.1f} CPU s, 1280x720 {secs[1]:.1f} CPU s", flush=True)
    return secs[1] / secs[0]


def speedup(paths, chunk, fer, cluster, client2) -> dict:
    """Per-clip stages (strong) on 1 worker vs 2 workers, same clips, empty caches."""
    out = {}
    for w in (1, 2):
        if w == 1:
            c, cl = cluster(1)
            os.environ["MER_DASK_SCHEDULER"] = c.scheduler_address
        with fresh_cache(Path(paths[0]).parents[1] / "cache"):
            r = per_clip_stages(paths, "strong", chunk, fer)
        out[str(w)] = {k: v["seconds"] for k, v in r.items()}
        if w == 1:
            cl.close()
            c.close()
            os.environ["MER_DASK_SCHEDULER"] = client2.scheduler.address
    tot = {w: sum(v for k, v in out[w].items() if k != "summary") for w in out}
    out["ratio"] = tot["1"] / tot["2"]
    print(f"[bench] speed-up 1 → 2 workers on the per-clip stages: {out['ratio']:.2f}x", flush=True)
    return out


def _to_book(out: Path) -> int:
    dst = REPO / "book" / "reference_runs" / "bench_scale"
    dst.mkdir(parents=True, exist_ok=True)
    for f in ("bench.json", "bench.png"):
        shutil.copy2(out / f, dst / f)
    print(f"[bench] copied to {dst.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
