"""Detector boxes carried between detections by the optical flow.

When the detector runs on every k-th frame only (`DetectionSettings.every`), each frame
between takes the boxes of the frame before it, either held where they were
(`carry="hold"`) or moved by the objects' motion (`carry="flow"`): OpenCV DIS optical flow
(its `medium` preset, whatever the extractor's own flow uses) from the previous frame to this
one, each box shifted by
the median flow over its central half (the box shrunk by a quarter of its width and height
on every side, where the object rather than the ground behind it fills the box), its size,
class and score kept. Only the frame and those before it are used, so a live stream gets the
boxes an offline run gets. The rule that judges the policy on UCSD Ped2 training frames is
registered in docs/results.md (issue 14, round 4).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from mulde.video.detection.base import FrameDetections

CARRY_MODES = ("hold", "flow")
"""How boxes reach the frames between detections (module docstring)."""


def central_region(box: Sequence[float], width: int, height: int
                   ) -> tuple[int, int, int, int]:
    """Return the pixel bounds (x0, y0, x1, y1; x1/y1 exclusive) of the central half of `box`
    (x0, y0, x1, y1 in pixels): shrunk by a quarter of its width and height on each side,
    rounded outwards, clipped to the width x height frame; at least one pixel each way for a
    box inside the frame (detector boxes are), possibly empty for one reaching past an edge."""
    x0, y0, x1, y1 = (float(v) for v in box)
    qw, qh = (x1 - x0) / 4, (y1 - y0) / 4
    cx0 = min(max(0, math.floor(x0 + qw)), width)
    cy0 = min(max(0, math.floor(y0 + qh)), height)
    cx1 = max(min(width, math.ceil(x1 - qw)), cx0)
    cy1 = max(min(height, math.ceil(y1 - qh)), cy0)
    if cx1 == cx0 and cx0 < width and x1 > 0:
        cx1 = cx0 + 1
    if cy1 == cy0 and cy0 < height and y1 > 0:
        cy1 = cy0 + 1
    return cx0, cy0, cx1, cy1


def carry_boxes(detections: FrameDetections, flow: np.ndarray) -> FrameDetections:
    """Return `detections` moved by `flow`, the float32 (H, W, 2) optical flow (dx, dy) in
    pixels from their frame to the next: each box shifted by the median flow over its
    central half (`central_region`; unmoved when that is empty), then clipped to the frame;
    boxes left without area are dropped (a thin one at an edge stays: `skip_edges` drops
    regions touching the frame edge downstream). Classes and scores are kept."""
    height, width = flow.shape[:2]
    moved, keep = [], []
    for i, box in enumerate(detections.boxes.tolist()):
        x0, y0, x1, y1 = central_region(box, width, height)
        patch = flow[y0:y1, x0:x1].reshape(-1, 2)
        dx, dy = (np.median(patch, axis=0).tolist() if len(patch) else (0.0, 0.0))
        b = [min(max(box[0] + dx, 0.0), width), min(max(box[1] + dy, 0.0), height),
             min(max(box[2] + dx, 0.0), width), min(max(box[3] + dy, 0.0), height)]
        if b[2] > b[0] and b[3] > b[1]:
            moved.append(b)
            keep.append(i)
    return FrameDetections(np.asarray(moved, np.float32).reshape(-1, 4),
                           detections.classes[keep], detections.scores[keep])


class FlowCarrier:
    """Carries one stream's boxes frame to frame: `step(boxes, previous_gray, gray)` returns
    the boxes of the previous frame moved onto this one (`carry_boxes` with the DIS flow
    between the two uint8 (H, W) grayscale frames)."""

    def __init__(self) -> None:
        from mulde.video.features.flow import FlowPreset, dis_flow

        self._dis = dis_flow(FlowPreset.MEDIUM)

    def step(self, detections: FrameDetections, previous_gray: np.ndarray,
             gray: np.ndarray) -> FrameDetections:
        """Return `detections` (of the previous frame) carried onto the frame `gray`."""
        if len(detections.boxes) == 0:
            return detections
        return carry_boxes(detections, self._dis.calc(previous_gray, gray, None))
