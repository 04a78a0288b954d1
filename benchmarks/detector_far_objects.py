"""How the SSD scores what `objects:detector` misses on UCSD Ped2: far, slow cyclists.

Issue 14's error analysis (docs/results.md, "What limits `objects:detector`"): the frames of
test video 06 that score lowest while anomalous hold a cyclist riding slowly on the far side
of the walkway. This measures, with the preset's detector (SSD-MobileNet-v2 COCO at 600 px
input height, `mulde.video.detection`) and a score floor of 0.05 instead of the preset's 0.5:

- label-free, on the TRAINING frames (every `--step`-th; no bicycle, car or cart there): per
  non-person class, how many boxes and the highest scores the detector gives where there is
  no such object (what a lower threshold would let in);
- on test frames named by hand after looking at them (declared: they are test frames; this
  chooses nothing): the highest bicycle score among boxes whose centre lies in the marked
  region around the cyclist;
- with `--scores` (a finished run's frame_scores.csv, test labels: an error analysis that
  chooses nothing): per video of `--videos`, the anomalous frames scoring no higher than the
  video's highest normal frame.

    OMP_NUM_THREADS=2 python benchmarks/detector_far_objects.py --scores RUN/frame_scores.csv
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from common import DATA_ROOT, RESULTS_DIR, new_header, ped2_training_folders, read_rgb, write_json

# (test video, frame, (x0, y0, x1, y1) around the cyclist in the 360x240 frame), marked by eye
MARKS = (("06", 5, (230, 100, 280, 140)), ("06", 20, (195, 85, 240, 135)),
         ("06", 30, (175, 95, 215, 135)))
CLASSES = {2: "bicycle", 3: "car", 4: "motorcycle", 6: "bus", 8: "truck", 0: "other"}


def best_in_region(boxes: np.ndarray, classes: np.ndarray, scores: np.ndarray,
                   region: tuple[float, float, float, float], class_id: int) -> float:
    """The highest score of a `class_id` box (x0, y0, x1, y1) whose centre lies in `region`
    (edges included); 0.0 when there is none."""
    x0, y0, x1, y1 = region
    cx, cy = (boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2
    hit = (cx >= x0) & (cx <= x1) & (cy >= y0) & (cy <= y1) & (classes == class_id)
    return float(scores[hit].max()) if hit.any() else 0.0


def missed_frames(csv_path: Path, video: str) -> tuple[list[int], int]:
    """(the anomalous frames of `video` in a run's frame_scores.csv whose smoothed score is at
    most the highest normal frame's, its number of anomalous frames); ([], n) when it has no
    normal frame."""
    import csv

    with open(csv_path, newline="", encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(fh) if r["video"] == video]
    normal = [float(r["score"]) for r in rows if r["label"] == "0"]
    anomalous = [(int(r["frame"]), float(r["score"])) for r in rows if r["label"] == "1"]
    if not normal:
        return [], len(anomalous)
    top = max(normal)
    return [f for f, s in anomalous if s <= top], len(anomalous)


def detector(threads: int):
    """The preset's SSD with every box down to a score of 0.05 kept."""
    import cv2

    from mulde.video.detection.base import DetectionSettings
    from mulde.video.detection.ssd import OpenCVSSD

    cv2.setNumThreads(threads)
    return OpenCVSSD(DetectionSettings(input_height=600, score_threshold=0.05))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=DATA_ROOT / "ucsd_ped2")
    parser.add_argument("--step", type=int, default=10, help="every k-th training frame")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--scores", type=Path, help="a finished run's frame_scores.csv")
    parser.add_argument("--videos", nargs="+", default=["06", "12"])
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "detector_far_objects.json")
    args = parser.parse_args()
    folders = ped2_training_folders(args.root)
    if folders is None:
        return 2
    ssd = detector(args.threads)
    scores: dict[str, list[float]] = {name: [] for name in CLASSES.values()}
    n_frames = 0
    for folder in folders:
        for path in sorted(folder.glob("*"))[::args.step]:
            found = ssd.detect([read_rgb(path)])[0]
            n_frames += 1
            for c, s in zip(found.classes.tolist(), found.scores.tolist(), strict=True):
                if c in CLASSES:
                    scores[CLASSES[c]].append(s)
    training = {name: {"boxes": len(v), "max": max(v, default=0.0),
                       "p99": float(np.percentile(v, 99)) if v else 0.0,
                       "at_least_0.2": int(np.sum(np.asarray(v) >= 0.2))}
                for name, v in scores.items()}
    print(f"training frames: {n_frames} (every {args.step}th)")
    for name, t in training.items():
        print(f"  {name:10s} boxes >= 0.05: {t['boxes']:5d}  >= 0.2: {t['at_least_0.2']:4d}  "
              f"p99 {t['p99']:.2f}  max {t['max']:.2f}")
    marked = []
    for video, frame, region in MARKS:
        path = sorted((args.root / "testing" / "frames" / video).glob("*"))[frame]
        found = ssd.detect([read_rgb(path)])[0]
        best = best_in_region(found.boxes, found.classes, found.scores, region, 2)
        marked.append({"video": video, "frame": frame, "region": list(region),
                       "bicycle": best})
        print(f"test {video} frame {frame}: best bicycle score in the marked region {best:.2f}")
    missed = {}
    for video in args.videos if args.scores else ():
        frames, n_anomalous = missed_frames(args.scores, video)
        missed[video] = {"frames": frames, "anomalous": n_anomalous}
        print(f"test {video}: {len(frames)} of {n_anomalous} anomalous frames at or below its "
              f"highest normal frame: {frames}")
    write_json(args.out, new_header("detector_far_objects", step=args.step,
                                    training_frames=n_frames, training=training,
                                    marked=marked, scores=str(args.scores or ""),
                                    missed=missed))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
