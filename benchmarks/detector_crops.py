"""What detecting only inside motion-guided crops costs, label-free, on UCSD Ped2 TRAINING frames.

Issue 14, round 6 (the rule was registered in docs/results.md, "Round 6: a cheaper detector
pass", before any number): per training video the extractor's background (median of at most
100 evenly spaced gray frames), per anchor frame its foreground components (the extractor's
mask and component settings), each component's box padded by `PAD` px, grown to at least
`MIN_SIDE` x `MIN_SIDE` about its centre, clipped to the frame, overlapping crops merged
(`motion_crops`). Each crop goes through SSD-MobileNet-v2 at the whole frame's scale (input
height = crop height x 600 / frame height), its boxes moved back to frame pixels, and the
frame's boxes pooled and suppressed class-agnostically (`apply_policy`). Reference: the
whole frame at 600 px input height. Person recall at IoU >= 0.5 (greedy one-to-one,
`detector_shortcuts.matched`) over round 3's anchors (`detector_every.py`'s spacing), and
seconds per anchor frame of both passes (the crops' mask and passes; not the background).

    flock /work/helpers/heavy.lock python benchmarks/detector_crops.py --threads 1
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from common import DATA_ROOT, RESULTS_DIR, new_header, ped2_training_folders, read_rgb, write_json
from detector_every import MAX_HOLD
from detector_shortcuts import matched, persons

PAD = 16  # px on every side of a component's box (registered)
MIN_SIDE = 64  # px: a crop's smallest width and height (registered)
REFERENCE_HEIGHT = 600
BAR = 0.95


def motion_crops(boxes: list[tuple[int, int, int, int]], width: int, height: int,
                 pad: int = PAD, min_side: int = MIN_SIDE) -> list[tuple[int, int, int, int]]:
    """Return the crops (x0, y0, x1, y1) in frame pixels around component boxes (x0, y0, x1,
    y1): each padded by `pad`, grown to at least min_side x min_side about its centre, clipped
    to the width x height frame; then any two overlapping crops replaced by their bounding box
    until none overlaps (touching edges do not overlap). Sorted by (y0, x0)."""
    crops = []
    for x0, y0, x1, y1 in boxes:
        a, b, c, d = x0 - pad, y0 - pad, x1 + pad, y1 + pad
        if c - a < min_side:
            mid = (a + c) / 2
            a, c = mid - min_side / 2, mid + min_side / 2
        if d - b < min_side:
            mid = (b + d) / 2
            b, d = mid - min_side / 2, mid + min_side / 2
        crops.append((max(0, int(np.floor(a))), max(0, int(np.floor(b))),
                      min(width, int(np.ceil(c))), min(height, int(np.ceil(d)))))
    merged = True
    while merged:
        merged = False
        for i in range(len(crops)):
            for j in range(i + 1, len(crops)):
                p, q = crops[i], crops[j]
                if p[0] < q[2] and q[0] < p[2] and p[1] < q[3] and q[1] < p[3]:
                    crops[i] = (min(p[0], q[0]), min(p[1], q[1]), max(p[2], q[2]),
                                max(p[3], q[3]))
                    del crops[j]
                    merged = True
                    break
            if merged:
                break
    return sorted(crops, key=lambda c: (c[1], c[0]))


def detect_in_crops(net, rgb: np.ndarray, crops, settings):
    """The frame's detections from the SSD run on each crop at the whole frame's scale."""
    from mulde.video.detection.base import DetectionSettings, FrameDetections, apply_policy

    height, width = rgb.shape[:2]
    boxes, classes, scores = [], [], []
    for x0, y0, x1, y1 in crops:
        scale = REFERENCE_HEIGHT / height
        net.settings = DetectionSettings(input_height=max(32, round((y1 - y0) * scale)),
                                         batch=1)
        found = net.detect([np.ascontiguousarray(rgb[y0:y1, x0:x1])])[0]
        boxes.append(found.boxes + np.array([x0, y0, x0, y0], np.float32))
        classes.append(found.classes)
        scores.append(found.scores)
    if not boxes:
        return FrameDetections.empty()
    return apply_policy(np.concatenate(boxes), np.concatenate(classes),
                        np.concatenate(scores), width, height, settings)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=DATA_ROOT / "ucsd_ped2")
    parser.add_argument("--per-video", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "detector_crops.json")
    args = parser.parse_args()
    import cv2

    from mulde.video.detection import DetectionSettings
    from mulde.video.detection.ssd import OpenCVSSD
    from mulde.video.features.base import to_gray
    from mulde.video.features.regions import (
        component_regions,
        foreground_mask,
        median_background,
    )

    cv2.setNumThreads(args.threads)
    folders = ped2_training_folders(args.root)
    if folders is None:
        return 2
    full_settings = DetectionSettings(input_height=REFERENCE_HEIGHT, batch=1)
    reference_net = OpenCVSSD(full_settings)
    crop_net = OpenCVSSD(full_settings)
    hits = total = n_crops = 0
    seconds = {"whole_frame": 0.0, "crops": 0.0}
    crop_pixels = frame_pixels = 0
    anchors = []
    for folder in folders:
        files = sorted(folder.glob("*.jpg"))
        step = max(1, int(np.ceil(len(files) / 100)))
        background = median_background([to_gray(read_rgb(f)) for f in files[::step]])
        for t in np.linspace(MAX_HOLD, len(files) - 1, args.per_video).astype(int):
            rgb = read_rgb(files[t])
            height, width = rgb.shape[:2]
            t0 = time.perf_counter()
            reference = persons(reference_net.detect([rgb])[0])
            seconds["whole_frame"] += time.perf_counter() - t0
            t0 = time.perf_counter()
            mask = foreground_mask(to_gray(rgb), background, 20, 5, 3)
            regions = component_regions(mask, 30, (3, 9))
            crops = motion_crops([r.box for r in regions], width, height)
            found = detect_in_crops(crop_net, rgb, crops, full_settings)
            seconds["crops"] += time.perf_counter() - t0
            hits += matched(reference, persons(found))
            total += len(reference)
            n_crops += len(crops)
            crop_pixels += sum((c[2] - c[0]) * (c[3] - c[1]) for c in crops)
            frame_pixels += width * height
            anchors.append(f"{folder.name}/{files[t].name}")
    n = len(anchors)
    recall = hits / max(total, 1)
    per_frame = {k: v / n for k, v in seconds.items()}
    passed = recall >= BAR and per_frame["crops"] < per_frame["whole_frame"]
    result = new_header("detector_crops", threads=args.threads, anchors=anchors,
                        reference="SSD-MobileNet-v2 at 600 px input height, whole frame",
                        pad=PAD, min_side=MIN_SIDE, person_boxes=total, person_recall=recall,
                        crops_per_frame=n_crops / n, crop_area_share=crop_pixels / frame_pixels,
                        seconds_per_frame=per_frame, bar=BAR, passed=passed,
                        rule="docs/results.md, Round 6, a cheaper detector pass: recall >= "
                             "0.95 and fewer seconds a frame than the whole frame")
    write_json(args.out, result)
    print({"recall": recall, "seconds_per_frame": per_frame, "crops_per_frame": n_crops / n,
           "crop_area_share": crop_pixels / frame_pixels, "passed": passed})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
