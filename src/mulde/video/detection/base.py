"""The object-detector contract: frames in, per frame boxes, COCO class ids and scores out,
and the detection policy (inference size, score threshold, class-agnostic NMS, kept classes,
minimum box size) applied the same way to every backend.

Class ids follow the COCO label map of the TensorFlow object-detection model zoo (1-based,
91 ids with gaps: person 1, bicycle 2, car 3, motorcycle 4, bus 6, truck 8); AI-VAD and MULDE
score objects of the classes a street scene shows, everything else is kept as `OTHER`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Protocol

import cv2
import numpy as np

PERSON = 1
OTHER = 0
"""Class id of a kept box whose COCO class is not in `DetectionSettings.classes`."""
UNKNOWN = -1
"""Class id of a box whose class is not known (an external detections CSV without a class)."""

COCO_NAMES = {1: "person", 2: "bicycle", 3: "car", 4: "motorcycle", 6: "bus", 8: "truck",
              OTHER: "other", UNKNOWN: "object"}
"""Names of the classes the policy keeps by default, and of `OTHER` / `UNKNOWN`."""


def class_name(class_id: int) -> str:
    """Return the name of a class id (`COCO_NAMES`), or 'coco<id>' for another COCO id."""
    return COCO_NAMES.get(int(class_id), f"coco{int(class_id)}")


class DetectorError(ValueError):
    """A detector cannot be built or run (missing weights, a wrong output layout)."""


@dataclass(frozen=True)
class DetectionSettings:
    """The detection policy, part of the box cache key.

    `input_height`: the network's input height in px; the width follows the frame's aspect
    ratio (rounded to a multiple of 4), so small frames are upscaled: UCSD Ped2's 360x240
    frames become 900x600 and its 15-40 px people 38-100 px; on Ped2's training frames a
    400 px input finds only 51 % of the person boxes found at 600 px, 300 px 44 %
    (benchmarks/detector_shortcuts.py). `score_threshold`: boxes scoring below are
    dropped. `nms_iou`: class-agnostic non-maximum suppression (`cv2.dnn.NMSBoxes`) at this
    IoU, so one object is one box even when the detector calls it a car and a truck.
    `classes`: the COCO ids kept as themselves; every other class becomes `OTHER`, or is
    dropped when `keep_other` is False. `min_size`: boxes narrower or lower than this many
    frame pixels are dropped. `every`: detect every k-th frame and carry the boxes to the
    frames between (1 = every frame), by `carry`: "hold" (where they were) or "flow" (moved
    by the optical flow, `mulde.video.detection.carry`). `batch`: frames per forward pass.
    """

    input_height: int = 600
    score_threshold: float = 0.5
    nms_iou: float = 0.5
    classes: tuple[int, ...] = (1, 2, 3, 4, 6, 8)
    keep_other: bool = True
    min_size: float = 6.0
    every: int = 1
    carry: str = "hold"
    batch: int = 4

    def __post_init__(self) -> None:
        object.__setattr__(self, "classes", tuple(int(c) for c in self.classes))
        checks = [(self.input_height >= 32, "input_height must be >= 32"),
                  (0.0 <= self.score_threshold <= 1.0, "score_threshold must be in [0, 1]"),
                  (0.0 < self.nms_iou <= 1.0, "nms_iou must be in (0, 1]"),
                  (self.min_size >= 0, "min_size must be >= 0"),
                  (self.every >= 1, "every must be >= 1"), (self.batch >= 1, "batch must be >= 1"),
                  (self.carry in ("hold", "flow"), f"carry must be 'hold' or 'flow', got "
                                                   f"{self.carry!r}")]
        for ok, message in checks:
            if not ok:
                raise ValueError(f"detection settings: {message}")

    def key(self) -> dict[str, Any]:
        """The settings as JSON-ready values (the batch size does not change boxes; `carry`
        is absent when it moves no box, so the keys of caches made before it existed stay)."""
        d = asdict(self)
        d.pop("batch")
        if self.carry == "hold" or self.every == 1:  # nothing is carried
            d.pop("carry")
        d["classes"] = list(self.classes)
        return d

    def input_size(self, height: int, width: int) -> tuple[int, int]:
        """(width, height) of the network input for a height x width frame."""
        w = max(4, int(round(self.input_height * width / height / 4)) * 4)
        return w, self.input_height


@dataclass(frozen=True)
class FrameDetections:
    """One frame's detections: `boxes` (k, 4) float32 (x0, y0, x1, y1) in frame pixels,
    `classes` (k,) int64 (COCO ids, `OTHER`, `UNKNOWN`), `scores` (k,) float32 in [0, 1]."""

    boxes: np.ndarray
    classes: np.ndarray
    scores: np.ndarray

    @classmethod
    def empty(cls) -> FrameDetections:
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.int64), np.zeros(0, np.float32))

    def __len__(self) -> int:
        return len(self.boxes)


class Detector(Protocol):
    """An object detector: `detect(frames)` -> one `FrameDetections` per RGB uint8 (H, W, 3)
    frame, the policy of `settings` applied; `sha256` the weights file's checksum and `name`
    the backend + model (both in the box cache key)."""

    settings: DetectionSettings
    sha256: str
    name: str

    def detect(self, frames: Sequence[np.ndarray]) -> list[FrameDetections]: ...


def apply_policy(boxes: np.ndarray, classes: np.ndarray, scores: np.ndarray, width: int,
                 height: int, settings: DetectionSettings) -> FrameDetections:
    """Return the raw detections of one frame after the policy of `settings`.

    `boxes` (k, 4) in frame pixels; clipped to the width x height frame, then dropped below
    `score_threshold` or `min_size`, suppressed class-agnostically at `nms_iou` (highest score
    wins), and the classes outside `classes` mapped to `OTHER` (or dropped).
    """
    b = np.asarray(boxes, np.float64).reshape(-1, 4).copy()
    c = np.asarray(classes, np.int64).reshape(-1)
    s = np.asarray(scores, np.float64).reshape(-1)
    b[:, [0, 2]] = b[:, [0, 2]].clip(0, width)
    b[:, [1, 3]] = b[:, [1, 3]].clip(0, height)
    keep = ((s >= settings.score_threshold) & (b[:, 2] - b[:, 0] >= max(settings.min_size, 1e-6))
            & (b[:, 3] - b[:, 1] >= max(settings.min_size, 1e-6)))
    b, c, s = b[keep], c[keep], s[keep]
    if len(b):
        xywh = np.column_stack([b[:, :2], b[:, 2:] - b[:, :2]]).tolist()
        kept = np.asarray(cv2.dnn.NMSBoxes(xywh, s.tolist(), 0.0, settings.nms_iou),
                          np.int64).reshape(-1)
        kept = kept[np.argsort(-s[kept], kind="stable")]
        b, c, s = b[kept], c[kept], s[kept]
    known = np.isin(c, settings.classes)
    if not settings.keep_other:
        b, c, s, known = b[known], c[known], s[known], known[known]
    c = np.where(known, c, OTHER)
    return FrameDetections(b.astype(np.float32), c.astype(np.int64), s.astype(np.float32))
