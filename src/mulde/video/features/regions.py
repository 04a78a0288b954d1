"""Foreground regions of a static-camera video: a median background, a thresholded and cleaned
difference mask, and regions as connected components or as a grid of occupied cells."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum

import cv2
import numpy as np

from mulde.video.features.records import covers_whole_frame


class RegionMode(str, Enum):
    """How foreground pixels are grouped into objects."""

    GRID = "grid"  # overlapping square cells holding enough foreground (robust in crowds)
    COMPONENTS = "components"  # connected components (merge people walking close together)
    BOXES = "boxes"  # an external detector's boxes (`detections`), foreground pixels inside
    DETECTOR = "detector"  # boxes of a detector run here (`mulde.video.detection`), the same way


@dataclass(frozen=True)
class Region:
    """A region: `box` (x0, y0, x1, y1), x1/y1 exclusive, and its boolean `mask` inside the box
    (shape (y1 - y0, x1 - x0)): the pixels whose flow and appearance describe the object;
    `label` its detector class id (COCO; -1 when not detected or unknown) and `score` the
    detector's confidence in it (0 when not detected)."""

    box: tuple[int, int, int, int]
    mask: np.ndarray
    label: int = -1
    score: float = 0.0


def median_background(grays: Sequence[np.ndarray], max_frames: int = 100) -> np.ndarray:
    """Return the per-pixel median (uint8 (H, W)) of at most `max_frames` evenly spaced frames.

    An offline background model for a static camera: objects that move are absent from most
    frames and drop out of the median.
    """
    if len(grays) == 0:
        raise ValueError("need at least one frame for the background")
    step = max(1, int(np.ceil(len(grays) / max_frames)))
    return np.median(np.stack(grays[::step]), axis=0).astype(np.uint8)


def foreground_mask(gray: np.ndarray, background: np.ndarray, threshold: float = 20,
                    blur: int = 5, open_size: int = 3) -> np.ndarray:
    """Return the boolean foreground mask: |blur(gray) - blur(background)| > threshold, then a
    morphological opening with an open_size square (removes isolated noise pixels)."""
    if gray.shape != background.shape:
        raise ValueError(f"frame {gray.shape} and background {background.shape} differ")
    if blur > 1:
        gray = cv2.GaussianBlur(gray, (blur, blur), 0)
        background = cv2.GaussianBlur(background, (blur, blur), 0)
    mask = (cv2.absdiff(gray, background) > threshold).astype(np.uint8)
    if open_size > 1:
        mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, np.ones((open_size, open_size), np.uint8))
    return mask.astype(bool)


def component_regions(mask: np.ndarray, min_area: int = 30,
                      close_size: tuple[int, int] = (3, 9)) -> list[Region]:
    """Return the 8-connected components of `mask` with at least `min_area` pixels, after a
    closing with a (width, height) elliptic kernel (a tall kernel joins a person's body parts
    while merging side-by-side neighbours less; (0, 0) disables it)."""
    m = mask.astype(np.uint8)
    if min(close_size) > 1:
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, tuple(close_size))
        m = cv2.morphologyEx(m, cv2.MORPH_CLOSE, kernel)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(m, connectivity=8)
    out = []
    for j in range(1, n):
        x, y, w, h, area = (int(v) for v in stats[j])
        if area >= min_area:
            out.append(Region((x, y, x + w, y + h), labels[y:y + h, x:x + w] == j))
    return out


def grid_regions(mask: np.ndarray, cell: int = 32, stride: int = 16,
                 min_fraction: float = 0.1) -> list[Region]:
    """Return one region per grid cell (cell x cell pixels, every `stride` pixels, clipped to
    the frame) whose foreground fraction is >= min_fraction; the box is the tight box of the
    cell's foreground pixels. A fast object then dominates its cells even inside a crowd."""
    if cell < 1 or stride < 1:
        raise ValueError(f"cell and stride must be >= 1, got {cell}, {stride}")
    height, width = mask.shape
    ys = np.array(_starts(height, cell, stride))
    xs = np.array(_starts(width, cell, stride))
    y1s, x1s = np.minimum(ys + cell, height), np.minimum(xs + cell, width)
    # integral image: the foreground count of every cell at once
    ii = cv2.integral(mask.astype(np.uint8), sdepth=cv2.CV_32S)
    counts = ii[y1s][:, x1s] - ii[ys][:, x1s] - ii[y1s][:, xs] + ii[ys][:, xs]
    need = (min_fraction * (y1s - ys))[:, None] * (x1s - xs)[None, :]
    i, j = np.nonzero((counts > 0) & (counts >= need))
    y0, y1, x0, x1 = ys[i], y1s[i], xs[j], x1s[j]
    # the tight box of each kept cell's foreground, from the same integral image: the
    # foreground count of each row (column) of the cell, rows past the cell counting 0
    span = np.arange(cell + 1)
    r = np.minimum(y0[:, None] + span, y1[:, None])
    rows = np.diff(ii[r, x1[:, None]] - ii[r, x0[:, None]], axis=1) > 0
    c = np.minimum(x0[:, None] + span, x1[:, None])
    cols = np.diff(ii[y1[:, None], c] - ii[y0[:, None], c], axis=1) > 0
    top, bottom = rows.argmax(1), cell - rows[:, ::-1].argmax(1)
    left, right = cols.argmax(1), cell - cols[:, ::-1].argmax(1)
    out = []
    for y, x, t, b, le, ri in zip(y0.tolist(), x0.tolist(), top.tolist(), bottom.tolist(),
                                  left.tolist(), right.tolist(), strict=True):
        out.append(Region((x + le, y + t, x + ri, y + b), mask[y + t:y + b, x + le:x + ri]))
    return out


def box_regions(mask: np.ndarray, boxes: np.ndarray,
                labels: np.ndarray | None = None,
                scores: np.ndarray | None = None) -> list[Region]:
    """Return one region per (x0, y0, x1, y1) box inside the frame: its mask is the box's
    foreground pixels, or the whole box when it holds none (an object standing still);
    `labels` (k,) the boxes' class ids (default -1), `scores` (k,) their detector scores
    (default 1)."""
    out = []
    boxes = np.asarray(boxes, np.int64).reshape(-1, 4)
    labels = np.full(len(boxes), -1) if labels is None else np.asarray(labels).reshape(-1)
    scores = np.ones(len(boxes)) if scores is None else np.asarray(scores).reshape(-1)
    for (x0, y0, x1, y1), label, score in zip(boxes.tolist(), labels.tolist(), scores.tolist(),
                                              strict=True):
        sub = mask[y0:y1, x0:x1]
        out.append(Region((x0, y0, x1, y1), sub.copy() if sub.any() else np.ones_like(sub),
                          int(label), float(score)))
    return out


def motion_regions(mask: np.ndarray, boxes: np.ndarray, min_area: int = 30,
                   close_size: tuple[int, int] = (3, 9), min_box_area: int = 100,
                   margin: int = 2, max_aspect: float = 10.0) -> list[Region]:
    """Return the foreground components that lie outside every detector box: the objects a
    detector missed (AI-VAD's "foreground" boxes, which join its detector's boxes).

    The mask is cleared inside each (x0, y0, x1, y1) box grown by `margin` pixels on every
    side, then split into `component_regions` (`min_area` pixels, `close_size` closing);
    components whose box covers fewer than `min_box_area` pixels (width x height), or whose
    box is more than `max_aspect` times longer one way than the other (a sliver along a
    box's edge), are dropped. The kept regions have no class (`label` -1, `score` 0).
    AI-VAD (Reiss & Hoshen, pre_processing/bboxes.py) finds its blobs in a temporal frame
    difference and on UCSD Ped2 keeps boxes of more than 10 x 10 px beside 2 px grown
    detector boxes; here the blobs come from the extractor's own foreground mask.
    """
    if min_box_area < 0 or margin < 0 or max_aspect < 1:
        raise ValueError(f"motion regions need min_box_area >= 0, margin >= 0 and "
                         f"max_aspect >= 1, got {min_box_area}, {margin}, {max_aspect}")
    free = mask.astype(bool).copy()
    height, width = free.shape
    for x0, y0, x1, y1 in np.asarray(boxes, np.int64).reshape(-1, 4).tolist():
        free[max(0, y0 - margin):min(height, y1 + margin),
             max(0, x0 - margin):min(width, x1 + margin)] = False
    out = []
    for r in component_regions(free, min_area, close_size):
        w, h = r.box[2] - r.box[0], r.box[3] - r.box[1]
        if w * h >= min_box_area and max(w, h) <= max_aspect * min(w, h):
            out.append(r)
    return out


def _starts(length: int, cell: int, stride: int) -> list[int]:
    """Cell starts every `stride` pixels, plus one flush with the far edge if it is uncovered."""
    starts = list(range(0, max(length - cell, 0) + 1, stride))
    if starts[-1] + cell < length:
        starts.append(length - cell)
    return starts


def whole_frame_region(height: int, width: int) -> Region:
    """Return the whole frame as one region (the object of a frame without foreground)."""
    return Region((0, 0, width, height), np.ones((height, width), bool))


def is_whole_frame(box: Sequence[float], height: int, width: int) -> bool:
    """Whether an (x0, y0, x1, y1) box covers the whole height x width frame
    (`records.covers_whole_frame` of one box)."""
    return bool(covers_whole_frame([box], height, width)[0])
