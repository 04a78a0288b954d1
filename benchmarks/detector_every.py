"""What detecting only every k-th frame costs, label-free, on UCSD Ped2 TRAINING frames only.

The policy of `objects:detector` detects frames 0, k, 2k, ... and holds each detected frame's
boxes on the k - 1 frames after it (`mulde.video.detection.cache.detect_frames`). Reference:
SSD-MobileNet-v2 COCO at 600 px input height on every frame. For each anchor frame t (spread
over each training video) the detector runs on frames t - 5 .. t; R_j = the share of the
anchor's person boxes matched at IoU >= 0.5 (greedy one-to-one, `detector_shortcuts.matched`)
by the person boxes of frame t - j (boxes held j frames), summed over anchors. Policy k's
recall is the mean of R_0 .. R_{k-1}: in a cycle of k frames one is detected and the others
hold boxes 1 .. k - 1 frames old. The rule that picks k from these numbers was registered in
docs/results.md ("Round 3") before they were measured.

Round 4 (`--carry flow`, registered in docs/results.md before it was measured): the same, with
the boxes of frame t - j moved to the anchor by the optical flow of the frames between
(`mulde.video.detection.carry.FlowCarrier`, one frame at a time, as `detect_frames` does),
instead of held; both carries are measured on the same detections and written side by side.

    OMP_NUM_THREADS=2 nice -n 19 python benchmarks/detector_every.py --threads 2
    OMP_NUM_THREADS=2 nice -n 19 python benchmarks/detector_every.py --threads 2 --carry flow \
        --out benchmarks/results/detector_every_flow.json
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np
from common import DATA_ROOT, RESULTS_DIR, new_header, ped2_training_folders, read_rgb, write_json
from detector_shortcuts import matched, persons

MAX_HOLD = 5
BAR = 0.95  # registered in docs/results.md before the numbers
CANDIDATES = (2, 3, 4, 5, 6)


def policy_recall(hits: list[int], totals: list[int], k: int) -> float:
    """Mean over j = 0..k-1 of hits[j] / totals[j]."""
    return float(np.mean([h / max(t, 1) for h, t in zip(hits[:k], totals[:k], strict=True)]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=DATA_ROOT / "ucsd_ped2")
    parser.add_argument("--per-video", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--carry", choices=("hold", "flow"), default="hold",
                        help="also measure boxes carried by the flow (round 4)")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "detector_every.json")
    args = parser.parse_args()
    from mulde.video.detection import DetectionSettings
    from mulde.video.detection.carry import FlowCarrier
    from mulde.video.detection.ssd import OpenCVSSD
    from mulde.video.features.base import to_gray

    cv2.setNumThreads(args.threads)
    folders = ped2_training_folders(args.root)
    if folders is None:
        return 2
    net = OpenCVSSD(DetectionSettings(input_height=600, batch=1))
    carries = ["hold"] + (["flow"] if args.carry == "flow" else [])
    hits = {c: [0] * (MAX_HOLD + 1) for c in carries}
    totals = [0] * (MAX_HOLD + 1)
    anchors = []
    for folder in folders:
        files = sorted(folder.glob("*.jpg"))
        for t in np.linspace(MAX_HOLD, len(files) - 1, args.per_video).astype(int):
            rgbs = [read_rgb(files[t - j]) for j in range(MAX_HOLD + 1)]  # rgbs[j]: frame t - j
            found = [net.detect([rgb])[0] for rgb in rgbs]
            grays = [to_gray(rgb) for rgb in rgbs]
            reference = persons(found[0])
            for j in range(MAX_HOLD + 1):
                hits["hold"][j] += matched(reference, persons(found[j]))
                totals[j] += len(reference)
                if "flow" in carries:
                    carrier, boxes = FlowCarrier(), found[j]
                    for m in range(j, 0, -1):  # frame t - m to frame t - m + 1
                        boxes = carrier.step(boxes, grays[m], grays[m - 1])
                    hits["flow"][j] += matched(reference, persons(boxes))
            anchors.append(f"{folder.name}/{files[t].name}")
    result = new_header("detector_every", threads=args.threads, anchors=anchors,
                        reference="SSD-MobileNet-v2 at 600 px input height, every frame",
                        person_boxes=totals[0], bar=BAR)
    rules = {"hold": "docs/results.md, Round 3, rule 3: the largest k with recall >= 0.95; "
                     "k = 2 if none larger passes",
             "flow": "docs/results.md, Round 4, detection policy: the largest k with recall "
                     ">= 0.95 is the candidate; it replaces the preset's policy only if k >= 3 "
                     "and an end-to-end run measures it"}
    for c in carries:
        recall = {j: hits[c][j] / max(totals[j], 1) for j in range(MAX_HOLD + 1)}
        policies = {k: policy_recall(hits[c], totals, k) for k in CANDIDATES}
        passing = [k for k in CANDIDATES if policies[k] >= BAR]
        chosen = max(passing) if passing else 2
        key = "" if c == "hold" else "_flow"
        result |= {("recall_held_j_frames" if c == "hold" else "recall_flow_j_frames"): recall,
                   f"policy_recall{key}": policies, f"chosen_every{key}": chosen,
                   f"rule{key}": rules[c]}
        print({"carry": c, "recall_j": recall, "policy": policies, "chosen_every": chosen})
    write_json(args.out, result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
