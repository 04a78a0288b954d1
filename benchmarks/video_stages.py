"""Frames per second of each stage of the video pipeline on UCSD Ped2, on one thread.

Stages (as `mulde.pipeline.run_pipeline` runs them): feature extraction, timed per stage by
`ObjectCentricExtractor.extract(video, timings)` (decode: read the JPEG frames and
convert to grayscale; scene: the static stream's scene background from the training videos;
regions: median background, foreground mask and grid cells (and the static stream's
components); flow: DIS optical flow; velocity: per-object flow histograms; static: still
objects' area, speed and dwell; geometry: box features; appearance: square crops embedded by
EfficientNet-Lite0); then, per stream of the pipeline's `StreamEnsemble`, train
(`MULDEStream.fit`: MULDE fit plus scoring of the training objects), score (calibration on the
training frames, scoring of the test objects, object -> frame max) and, once, report writing
(`mulde.evaluation.write_report`: metrics, CSV, plots, HTML).

Extractors: `objects:ped2` (the recommended Ped2 pipeline: 1-bin speed on grid regions),
`objects` (the default: 8-bin velocity histograms and the static stream) and `objects` with
every stream (velocity, geometry, appearance, static). Each runs on a subset of Ped2 (the first
training and test videos, recorded in the JSON) to keep the run to a few minutes; a stage's
frames/s is the subset's frame count over the stage's seconds. Training of the default MULDE
preset costs at most its `max_steps` (recorded in the JSON) whatever the number of training
objects, so its frames/s grows
with the number of training frames; steps/s is the size-independent number. The appearance
configuration's MULDE training is capped (`--appearance-max-steps`) and labelled as such.

    OMP_NUM_THREADS=1 nice -n 5 python benchmarks/video_stages.py
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from common import (
    DATA_ROOT,
    RESULTS_DIR,
    load_ped2,
    new_header,
    set_single_thread,
    write_json,
)

from mulde import MULDE
from mulde.evaluation import EvaluationProtocol, write_report
from mulde.pipeline import Extraction, train_and_score
from mulde.vad import Calibration
from mulde.video.features import ObjectCentricExtractor, VideoFeatures
from mulde.video.features.registry import build_extractor

STAGES = ("decode", "scene", "regions", "flow", "velocity", "static", "geometry", "appearance")
EVERY_STREAM = ("velocity", "geometry", "appearance", "static")  # of the object extractor


def configurations(train_videos: int, test_videos: int, app_train: int, app_test: int,
                   app_max_steps: int) -> dict[str, dict[str, Any]]:
    """Return {name: extractor, MULDE overrides, number of train/test videos, note}."""
    full = dataclasses.replace(build_extractor("objects"), streams=EVERY_STREAM)
    return {
        "objects:ped2": {"extractor": build_extractor("objects:ped2"), "mulde": {},
                         "train": train_videos, "test": test_videos, "note": ""},
        "objects": {"extractor": build_extractor("objects"), "mulde": {},
                    "train": train_videos, "test": test_videos, "note": ""},
        "objects+appearance": {
            "extractor": full, "mulde": {"max_steps": app_max_steps},
            "train": app_train, "test": app_test,
            "note": f"MULDE trained for at most {app_max_steps} steps per stream (the default "
                    f"preset: at most {MULDE().get_params()['max_steps']}), so train frames/s "
                    "is not that of a full fit; steps/s is; one training video, so the "
                    "streams are calibrated on their models' own scores, without refits"},
    }


def extract(extractor: ObjectCentricExtractor, videos: list) -> tuple[dict[str, VideoFeatures],
                                                                     dict[str, float]]:
    """Return {video: features} and the seconds per extraction stage, summed over videos."""
    stages: dict[str, float] = {}
    feats = {v.name: extractor.extract(v, stages) for v in videos}
    return feats, stages


CALIBRATION_REFITS_S = 0.5
"""Calibration seconds above which a stream's out-of-fold refits ran (a percentile of its own
scores takes milliseconds): below, the calibrate stage is left out of the frames/s."""


def stream_runs(train: dict[str, VideoFeatures], test: dict[str, VideoFeatures],
                params: dict[str, Any], seed: int
                ) -> tuple[dict[str, np.ndarray], dict[str, Calibration], dict[str, Any]]:
    """Fit MULDE per stream and score the test frames with `mulde.pipeline.train_and_score`
    (the pipeline's `StreamEnsemble`); return (fused frame scores, calibrations, per-stream
    timings and training steps)."""
    ensemble, scores = train_and_score(Extraction(features={"train": train, "test": test}),
                                       "mulde", seed, dict(params), progress=False)
    n_train = sum(vf.n_frames for vf in train.values())
    n_test = sum(vf.n_frames for vf in test.values())
    per: dict[str, Any] = {}
    for stream, fit in ensemble.fits_.items():
        res, net_s = fit.model.model.train_result_, fit.model.model.fit_seconds_
        fit_s, calibrate_s, score_s = fit.fit_s, fit.calibrate_s, fit.score_s
        per[stream.value] = {
            "d": fit.dim, "train_objects": fit.train_objects,
            "test_objects": fit.test_objects, "fit_s": fit_s, "network_training_s": net_s,
            "steps": res.steps, "best_step": res.best_step, "stopped_early": res.stopped_early,
            "steps_per_s": res.steps / net_s, "train_frames_per_s": n_train / fit_s,
            "calibrate_s": calibrate_s, "score_s": score_s,
            "test_frames_per_s": n_test / score_s,
            "test_objects_per_s": fit.test_objects / score_s}
        print(f"  {stream}: d={fit.dim} {fit.train_objects} objects, {res.steps} steps "
              f"{res.steps / net_s:.1f} steps/s, fit {fit_s:.1f} s, calibrate "
              f"{calibrate_s:.1f} s, score {score_s:.2f} s", flush=True)
    return ({name: s.fused for name, s in scores.items()},
            {s.value: c for s, c in ensemble.calibrations.items()}, per)


def run_config(name: str, cfg: dict[str, Any], dataset, seed: int) -> dict[str, Any]:
    """Measure one configuration; return its JSON entry."""
    ex: ObjectCentricExtractor = cfg["extractor"]
    train_v, test_v = dataset.train[:cfg["train"]], dataset.test[:cfg["test"]]
    print(f"{name}: train {[v.name for v in train_v]}, test {[v.name for v in test_v]}",
          flush=True)
    with tempfile.TemporaryDirectory(prefix="mulde_scene_") as scene_dir:
        t0 = time.perf_counter()  # the static stream's scene background, from training videos
        ex = ex.with_scene(train_v, scene_dir)
        scene_s = time.perf_counter() - t0
        train, st_train = extract(ex, train_v)
        test, st_test = extract(ex, test_v)
        params = ex.params  # names the scene background by its hash, so read it while it exists
    if "static" in ex.streams:
        st_train["scene"] = scene_s
    stages = {k: st_train.get(k, 0.0) + st_test.get(k, 0.0) for k in STAGES
              if k in st_train or k in st_test}
    n_train = sum(vf.n_frames for vf in train.values())
    n_test = sum(vf.n_frames for vf in test.values())
    n_frames = n_train + n_test
    n_obj = sum(vf[ex.streams[0]].n_objects for vf in (*train.values(), *test.values()))
    print(f"  extraction: {n_frames} frames, " + ", ".join(
        f"{k} {n_frames / s:.0f} f/s" for k, s in stages.items()), flush=True)
    fused, cals, per = stream_runs(train, test, cfg["mulde"], seed)
    fit_s = sum(p["fit_s"] for p in per.values())
    calibrate_s = sum(p["calibrate_s"] for p in per.values())
    score_s = sum(p["score_s"] for p in per.values())
    labels = {v.name: v.labels for v in test_v}
    with tempfile.TemporaryDirectory(prefix="mulde_video_stages_") as tmp:
        t0 = time.perf_counter()
        write_report(tmp, fused, labels, protocol=EvaluationProtocol(
            smoothing_sigma=dataset.smoothing_sigma), calibration=cals,
            fusion="sum of calibrated streams", config={"extractor": name}, seed=seed,
            title=f"video_stages {name}")
        report_s = time.perf_counter() - t0
    fps = {k: n_frames / s for k, s in stages.items() if s > 0}
    fps |= {"train": n_train / fit_s, "score": n_test / score_s, "report": n_test / report_s}
    if any(p["calibrate_s"] > CALIBRATION_REFITS_S for p in per.values()):  # refits ran
        fps["calibrate"] = n_train / calibrate_s
    return {
        "extractor": ex.name, "params": params, "mulde_overrides": cfg["mulde"],
        "note": cfg["note"],
        "videos": {"train": [v.name for v in train_v], "test": [v.name for v in test_v]},
        "frames": {"train": n_train, "test": n_test, "extracted": n_frames},
        "objects_per_frame": n_obj / n_frames,
        "extraction_seconds": stages,
        "extraction_frames_per_s": n_frames / sum(stages.values()),
        "streams": per, "train_s": fit_s, "calibrate_s": calibrate_s, "score_s": score_s,
        "report_s": report_s,
        "frames_per_s": fps,
        "frames_per_s_basis": {**{k: "train + test frames extracted" for k in stages},
                               "train": "training frames / MULDE fit seconds (all streams)",
                               "calibrate": "training frames / calibration seconds, its "
                                            "out-of-fold refits included (all streams)",
                               "score": "test frames / scoring seconds (all streams)",
                               "report": "test frames / write_report seconds"}}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, default=DATA_ROOT / "ucsd_ped2")
    p.add_argument("--train-videos", type=int, default=2, help="first N training videos")
    p.add_argument("--test-videos", type=int, default=1, help="first N test videos")
    p.add_argument("--appearance-train-videos", type=int, default=1)
    p.add_argument("--appearance-test-videos", type=int, default=1)
    p.add_argument("--appearance-max-steps", type=int, default=100)
    p.add_argument("--configs", nargs="*", default=None,
                   help="subset of: objects:ped2 objects objects+appearance")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=RESULTS_DIR / "video_stages.json")
    args = p.parse_args(argv)
    set_single_thread()
    dataset = load_ped2(args.data)
    if dataset is None:
        return 2
    configs = configurations(args.train_videos, args.test_videos, args.appearance_train_videos,
                             args.appearance_test_videos, args.appearance_max_steps)
    unknown = set(args.configs or []) - set(configs)
    if unknown:
        raise SystemExit(f"unknown configs {sorted(unknown)}; choose from {list(configs)}")
    names = args.configs or list(configs)
    import cv2

    payload = new_header("video_stages", dataset="ucsd_ped2", threads=1,
                         cv2_threads=cv2.getNumThreads(), seed=args.seed,
                         max_steps=MULDE().get_params()["max_steps"], configs={})
    if "objects+appearance" in names:  # weights loaded once per process, outside the stages
        from mulde.video.backbones import load_backbone

        ex = configs["objects+appearance"]["extractor"]
        t0 = time.perf_counter()
        load_backbone(ex.backbone, ex.weights_path)
        payload["backbone_load_s"] = time.perf_counter() - t0
    for name in names:
        payload["configs"][name] = run_config(name, configs[name], dataset, args.seed)
        write_json(args.out, payload)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
