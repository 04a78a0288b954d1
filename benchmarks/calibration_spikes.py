"""When a few training frames set a stream's calibration (`mulde.vad.fusion.calibration_spikes`):
the rule's statistic on training video, no labels.

Per stream of each case, the calibration's span (its 99.9th percentile minus the minimum of
the training frame scores) over the span up to the 99th percentile of every training frame
(`ratio_p99`) and up to `spike_reference` (the frames above the minimum without the
`SPIKE_FRAMES` highest: `ratio_rule`, what the rule compares with `SPIKE_RATIO`; null without
a reference), the five highest frames, and the frames the rule names.
Cases: normal training video (UCSD Ped2 with `objects:ped2`, MULDE and kNN; CUHK Avenue's
partial copy with `objects`; the demo scene as `mulde demo` fits it) and short clips of Ped2's
training videos built here (`objects`, MULDE at 200 steps and kNN): training videos 01-03 whole
(120, 150 and 150 frames) as they are, with one frame of the second inverted (`glitch`), and
with it replaced by a frame of another training video (`cut`), and the first 60 frames of
01 and 02 as they are and with the glitch (`clips_clean_short_*`, `clips_glitch_short_*`).

    OMP_NUM_THREADS=1 python benchmarks/calibration_spikes.py [--cases ...] [--work DIR]

Writes benchmarks/results/calibration_spikes.json. Feature caches live under --work (default a
folder in the system's temporary directory), one per case, so a rerun reads them back.
"""

from __future__ import annotations

import argparse
import tempfile
import warnings
from pathlib import Path

import numpy as np
from common import DATA_ROOT, RESULTS_DIR, new_header, set_single_thread, write_json
from PIL import Image, ImageOps

from mulde.datasets import load_dataset
from mulde.pipeline import extract_features, fit_cache_folder, fit_ensemble
from mulde.vad.fusion import SPIKE_FRAMES, SPIKE_RATIO, calibration_spikes, spike_reference
from mulde.video.cache import FeatureCache
from mulde.video.features.registry import build_extractor

PED2 = DATA_ROOT / "ucsd_ped2"
GLITCH = ("t02", 23)  # the clip and frame (from 0) changed in `glitch` and `cut`
CUT_FROM = ("10", 100)  # training video and frame the cut takes its frame from
SHORT = 200  # MULDE steps of the clip cases (seconds a fit)


def _clips(work: Path, kind: str, n_clips: int = 3, frames: int | None = None) -> Path:
    """A folder dataset of Ped2 clips: train/t01.. the first `frames` frames (None: all) of
    training videos 01..; test/c01 60 frames of test video 01; kind "glitch" inverts frame
    GLITCH, "cut" replaces it by frame CUT_FROM of another training video."""
    root = work / f"clips_{kind}_{n_clips}x{frames or 'all'}"
    if (root / "done").exists():
        return root
    source = PED2 / "training" / "frames"
    for i in range(1, n_clips + 1):
        clip = root / "train" / f"t{i:02d}"
        clip.mkdir(parents=True, exist_ok=True)
        names = sorted((source / f"{i:02d}").glob("*.jpg"))[:frames]
        for f, name in enumerate(names):
            image = Image.open(name)
            if (clip.name, f) == GLITCH and kind == "glitch":
                image = ImageOps.invert(image.convert("RGB"))
            elif (clip.name, f) == GLITCH and kind == "cut":
                image = Image.open(source / CUT_FROM[0] / f"{CUT_FROM[1]:03d}.jpg")
            image.save(clip / f"{f:03d}.png")
    test = root / "test" / "c01"
    test.mkdir(parents=True, exist_ok=True)
    for f in range(60):
        Image.open(PED2 / "testing" / "frames" / "01" / f"{f:03d}.jpg").save(test / f"{f:03d}.png")
    (root / "done").write_text("")
    return root


def _demo(work: Path) -> Path:
    from mulde.demo.scene import generate_scene

    root = work / "demo_scene"
    return root if (root / "train").exists() else generate_scene(root, seed=0)


CASES = {
    # name: (dataset, root, extractor, detector, MULDE parameters)
    "ped2_mulde": ("ucsd_ped2", lambda w: PED2, "objects:ped2", "mulde", None),
    "ped2_knn": ("ucsd_ped2", lambda w: PED2, "objects:ped2", "knn", None),
    "avenue_mulde": ("avenue", lambda w: DATA_ROOT / "avenue", "objects", "mulde", None),
    "demo_mulde": ("folder", _demo, "objects", "mulde", {"max_steps": 300}),
    **{f"clips_{kind}_{det}": ("folder", lambda w, k=kind: _clips(w, k), "objects", det,
                               {"max_steps": SHORT} if det == "mulde" else None)
       for kind in ("clean", "glitch", "cut") for det in ("mulde", "knn")},
    **{f"clips_{kind}_short_{det}": ("folder", lambda w, k=kind: _clips(w, k, 2, 60), "objects",
                                     det, {"max_steps": SHORT} if det == "mulde" else None)
       for kind in ("clean", "glitch") for det in ("mulde", "knn")},
}


def _ratio(span: float, reference: float | None, low: float) -> float | None:
    """span / (reference - low); None without a reference or when it is the minimum."""
    return span / (reference - low) if reference is not None and reference > low else None


def _stream_row(videos: list[str], frames: list[np.ndarray], calibration) -> dict:
    every = np.concatenate(frames)
    low, span = calibration.low, calibration.high - calibration.low
    return {"n_frames": int(every.size), "low": low, "high": calibration.high,
            "ratio_p99": _ratio(span, float(np.percentile(every, 99.0)), low),
            "ratio_rule": _ratio(span, spike_reference(every, low), low),
            "top5": [float(v) for v in np.sort(every)[::-1][:5]],
            "named": [f"{videos[v]} frame {f}" for v, f, _ in
                      calibration_spikes(frames, calibration)]}


def run_case(name: str, work: Path) -> dict:
    dataset_name, root_of, extractor_name, detector, params = CASES[name]
    root = root_of(work)
    dataset = load_dataset(dataset_name, root)
    cache = work / "cache" / name
    extraction = extract_features(dataset, build_extractor(extractor_name),
                                  FeatureCache(cache), progress=False)
    train = extraction.features["train"]
    ensemble = fit_ensemble(train, detector, 0, params, False, None, "auto", 1, None, None,
                            fit_cache_folder(FeatureCache(cache)))
    streams = {stream.value: _stream_row(list(train), fit.train_frames, fit.calibration)
               for stream, fit in ensemble.fits_.items()}
    row = {"case": name, "dataset": dataset_name, "extractor": extractor_name,
           "detector": detector, "mulde_params": params,
           "calibration_folds": ensemble.calibration_folds, "streams": streams}
    print(row, flush=True)
    return row


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cases", nargs="*", default=list(CASES), choices=list(CASES))
    p.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "mulde_spikes")
    p.add_argument("--out", type=Path, default=RESULTS_DIR / "calibration_spikes.json")
    args = p.parse_args(argv)
    if not PED2.exists():
        raise SystemExit(f"{PED2} is absent: set MULDE_DATA to the folder holding ucsd_ped2")
    set_single_thread()
    warnings.simplefilter("ignore", UserWarning)  # the rule's own warning: in the rows
    res = new_header("calibration_spikes", cases=args.cases, spike_frames=SPIKE_FRAMES,
                     spike_ratio=SPIKE_RATIO)
    res["rows"] = []
    for name in args.cases:
        res["rows"].append(run_case(name, args.work))
        write_json(args.out, res)


if __name__ == "__main__":
    main()
