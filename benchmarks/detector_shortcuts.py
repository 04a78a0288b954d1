"""What the detector's shortcuts cost, label-free, on UCSD Ped2 TRAINING frames only.

Reference: SSD-MobileNet-v2 COCO (`mulde.video.detection`) on every frame at 600 px input
height (Ped2's 360x240 frames upscaled 2.5x to 900x600; the issue 14 probe found all people
of a crowded frame there). Shortcuts: a smaller input (300, 400 px high), and detecting only
every k-th frame with the boxes carried to the frames between. Person recall = the share of
the reference's person boxes (score >= 0.5) matched by a person box of the shortcut at
IoU >= 0.5 (greedy, highest IoU first). Anchors: `--per-video` frames spread evenly over each
training video; the carry is measured from anchor f to the reference at f + 1 .. f + k - 1.
Also seconds per frame of each input size, at batch 1 and 4, on the threads given.

    OMP_NUM_THREADS=2 nice -n 5 python benchmarks/detector_shortcuts.py --threads 2
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import cv2
import numpy as np
from common import DATA_ROOT, RESULTS_DIR, new_header, ped2_training_folders, read_rgb, write_json


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(len(a), len(b)) IoU of (x0, y0, x1, y1) boxes."""
    x0 = np.maximum(a[:, None, 0], b[None, :, 0])
    y0 = np.maximum(a[:, None, 1], b[None, :, 1])
    x1 = np.minimum(a[:, None, 2], b[None, :, 2])
    y1 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area = lambda z: (z[:, 2] - z[:, 0]) * (z[:, 3] - z[:, 1])  # noqa: E731
    return inter / (area(a)[:, None] + area(b)[None, :] - inter + 1e-9)


def matched(reference: np.ndarray, found: np.ndarray, threshold: float = 0.5) -> int:
    """How many reference boxes a greedy one-to-one IoU >= threshold matching covers."""
    if len(reference) == 0 or len(found) == 0:
        return 0
    iou = iou_matrix(reference, found)
    hits = 0
    while True:
        i, j = np.unravel_index(iou.argmax(), iou.shape)
        if iou[i, j] < threshold:
            return hits
        hits += 1
        iou[i, :], iou[:, j] = -1, -1


def persons(d) -> np.ndarray:
    from mulde.video.detection import PERSON

    return d.boxes[d.classes == PERSON]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=DATA_ROOT / "ucsd_ped2")
    parser.add_argument("--per-video", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "detector_shortcuts.json")
    args = parser.parse_args()
    from mulde.video.detection import DetectionSettings
    from mulde.video.detection.ssd import OpenCVSSD

    cv2.setNumThreads(args.threads)
    folders = ped2_training_folders(args.root)
    if folders is None:
        return 2
    heights, carries = (300, 400, 600), (1, 2)
    nets = {h: OpenCVSSD(DetectionSettings(input_height=h, batch=1)) for h in heights}
    hits = {f"height{h}": 0 for h in heights[:-1]} | {f"carry{c}": 0 for c in carries}
    totals = dict.fromkeys(hits, 0)
    seconds = {h: 0.0 for h in heights}
    n_anchor, anchors = 0, []
    for folder in folders:
        files = sorted(folder.glob("*.jpg"))
        for f in np.linspace(0, len(files) - 1 - max(carries), args.per_video).astype(int):
            frames = [read_rgb(files[f + j]) for j in range(max(carries) + 1)]
            ref = [persons(nets[600].detect([x])[0]) for x in frames]
            at = {}
            for h in heights:
                t = time.perf_counter()
                at[h] = persons(nets[h].detect([frames[0]])[0])
                seconds[h] += time.perf_counter() - t
            for h in heights[:-1]:
                hits[f"height{h}"] += matched(ref[0], at[h])
                totals[f"height{h}"] += len(ref[0])
            for c in carries:  # boxes of frame f (400 px) standing in for frame f + c
                hits[f"carry{c}"] += matched(ref[c], at[400])
                totals[f"carry{c}"] += len(ref[c])
            anchors.append(f"{folder.name}/{files[f].name}")
            n_anchor += 1
    recall = {k: hits[k] / max(totals[k], 1) for k in hits}
    batch = {}
    sample = [read_rgb(f) for f in sorted(folders[0].glob("*.jpg"))[:8]]
    for h in heights:
        for b in (1, 4):
            net = OpenCVSSD(DetectionSettings(input_height=h, batch=b))
            net.detect(sample[:b])  # warm-up
            t = time.perf_counter()
            net.detect(sample)
            batch[f"height{h}_batch{b}"] = (time.perf_counter() - t) / len(sample)
    result = new_header("detector_shortcuts", threads=args.threads, anchors=anchors,
                        reference="SSD-MobileNet-v2 at 600 px input height, every frame",
                        person_boxes=totals, person_recall=recall,
                        seconds_per_frame_anchors={str(h): seconds[h] / n_anchor
                                                   for h in heights},
                        seconds_per_frame_batch=batch)
    write_json(args.out, result)
    print({"recall": recall, "batch_s_per_frame": batch})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
