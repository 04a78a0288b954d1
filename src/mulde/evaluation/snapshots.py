"""Where a run saw its anomalies: each video's most anomalous frame, drawn with the box of its
top-scoring object (`mulde.vad.ensemble.TopObjects`), for the report."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import cv2
import numpy as np

from mulde.datasets.base import Dataset
from mulde.evaluation.protocol import EvaluationProtocol
from mulde.evaluation.report import FrameRenderer, Snapshot
from mulde.vad.ensemble import TopObjects
from mulde.video.features.objects import box_in_frame
from mulde.video.features.regions import is_whole_frame
from mulde.video.source import VideoReadError

ZOOM_BELOW = 0.25  # a box whose longer side is under this share of the frame's shorter side
# gets a zoomed panel beside the frame (a grid region of the default extractor is ~25 px in a
# 360 x 240 Ped2 frame: a speck once the report scales the frame down)
MIN_ZOOM_FRAME = 160  # frames shorter than this (px, shorter side) are shown as they are


def _zoom_panel(frame_bgr: np.ndarray, box: tuple[int, int, int, int], color: tuple[int, ...]
                ) -> np.ndarray:
    """A square crop around `box` (2.5 x its longer side, at least 1/8 of the frame's shorter
    side, kept inside the frame), scaled to the frame's height, the box drawn in it."""
    h, w = frame_bgr.shape[:2]
    x0, y0, x1, y1 = box
    side = int(min(min(h, w), max(2.5 * max(x1 - x0, y1 - y0), min(h, w) / 8)))
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    left = int(np.clip(round(cx - side / 2), 0, w - side))
    top = int(np.clip(round(cy - side / 2), 0, h - side))
    crop = frame_bgr[top:top + side, left:left + side]
    zoom = h / side
    panel = cv2.resize(crop, (h, h), interpolation=cv2.INTER_LINEAR)
    thick = max(2, round(h / 120))
    cv2.rectangle(panel, (round((x0 - left) * zoom), round((y0 - top) * zoom)),
                  (round((x1 - left) * zoom) - 1, round((y1 - top) * zoom) - 1), color, thick)
    cv2.putText(panel, f"zoom x{zoom:.1f}", (6, h - 8), cv2.FONT_HERSHEY_SIMPLEX,
                max(0.4, h / 600), (255, 255, 255), 1, cv2.LINE_AA)
    return panel


def render_snapshot(frame: np.ndarray, box: Sequence[float] | None = None,
                    detections: Sequence[tuple[Sequence[float], str]] = (),
                    max_side: int = 640) -> tuple[bytes, dict[str, Any]] | None:
    """Return (PNG bytes, details) of one RGB frame (H, W, 3) uint8 with the top object's
    `box` (x0, y0, x1, y1, pixels; None, non-finite or the whole frame: no box) drawn in red
    with a white outline, and `detections` (box, class name) thin in green and labelled.

    A box whose longer side is below `ZOOM_BELOW` of the frame's shorter side (frames of at
    least `MIN_ZOOM_FRAME` px) gets a zoomed crop around it as a square panel to the right of
    the frame (the frame keeps its pixel coordinates). The frame is scaled down so that its
    longer side is at most `max_side` px (the zoom panel with it). `details` holds "box" (the
    drawn box, integers, frame pixels) and "detections" (the class names). None when the PNG
    cannot be encoded."""
    image = np.ascontiguousarray(frame[..., ::-1])  # RGB -> BGR for OpenCV
    clean = image.copy()
    h, w = image.shape[:2]
    details: dict[str, Any] = {}
    for b, label in detections:
        x0, y0, x1, y1 = (int(round(v)) for v in b)
        cv2.rectangle(image, (x0, y0), (x1 - 1, y1 - 1), (60, 180, 60), 1)
        cv2.putText(image, label, (x0, max(8, y0 - 2)), cv2.FONT_HERSHEY_PLAIN, 0.7,
                    (60, 180, 60), 1, cv2.LINE_AA)
    if detections:
        details["detections"] = ", ".join(sorted({label for _, label in detections}))
    panel = None
    if box is not None and np.isfinite(box).all() and not is_whole_frame(box, h, w):
        x0, y0, x1, y1 = (int(round(v)) for v in box)
        details["box"] = [x0, y0, x1, y1]
        thick = max(2, round(max(h, w) / 160))
        cv2.rectangle(image, (x0, y0), (x1 - 1, y1 - 1), (255, 255, 255), thick + 2)
        cv2.rectangle(image, (x0, y0), (x1 - 1, y1 - 1), (40, 40, 230), thick)
        if min(h, w) >= MIN_ZOOM_FRAME and max(x1 - x0, y1 - y0) < ZOOM_BELOW * min(h, w):
            panel = _zoom_panel(clean, (x0, y0, x1, y1), (40, 40, 230))
    if panel is not None:
        gap = np.full((h, max(2, w // 160), 3), 255, np.uint8)
        image = np.concatenate([image, gap, panel], axis=1)
    scale = max_side / max(h, w)
    if scale < 1:  # keeps the self-contained report small for HD videos
        image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    ok, png = cv2.imencode(".png", image)
    return (png.tobytes(), details) if ok else None


def frame_renderer(dataset: Dataset, top: Mapping[str, TopObjects],
                   detections: Callable[[str, int], list[tuple[Sequence[float], str]]]
                   | None = None, max_side: int = 480,
                   max_height: int | None = None) -> FrameRenderer:
    """Return a `FrameRenderer` for `write_report`'s event thumbnails: (test video name,
    frames) -> {frame: Snapshot}, each frame decoded again (one pass over the video up to
    the last frame asked for) and drawn by `render_snapshot` with the frame's top object
    (`top`) and detector boxes (`detections`). `max_height`: the extractor's (frames taller
    than it were scored at that height, `mulde.video.features.objects.downscale`), so the top
    object's box is taken back to the decoded frame's pixels (`box_in_frame`); None: the
    boxes are in the frame's pixels already. Snapshot.score is the top object's calibrated
    score (NaN without objects). A video that is not a test video of `dataset` or cannot be
    decoded again gives {}."""
    videos = {v.name: v for v in dataset.test}

    def render(name: str, frames: Sequence[int]) -> dict[int, Snapshot]:
        wanted = set(int(t) for t in frames)
        if name not in videos or not wanted:
            return {}
        out: dict[int, Snapshot] = {}
        objects = top.get(name)
        try:
            for t, frame in enumerate(itertools.islice(videos[name].frames(),
                                                       max(wanted) + 1)):
                if t not in wanted:
                    continue
                box = None
                details: dict[str, Any] = {}
                if objects is not None and t < len(objects.stream) and objects.stream[t]:
                    details["top object"] = objects.stream[t]
                    box = box_in_frame(objects.box[t], frame.shape[1], frame.shape[0],
                                       max_height)
                drawn = render_snapshot(frame, box, detections(name, t) if detections else (),
                                        max_side)
                if drawn is None:
                    continue
                score = float(objects.score[t]) if objects is not None and t < len(
                    objects.score) else float("nan")
                out[t] = Snapshot(drawn[0], t, score, {**details, **drawn[1]})
        except VideoReadError:
            pass  # the frames decoded so far are kept
        return out

    return render


def most_anomalous_moments(dataset: Dataset, scores: dict[str, np.ndarray],
                           top: dict[str, TopObjects], protocol: EvaluationProtocol,
                           limit: int = 24,
                           detections: Callable[[str, int], list[tuple[Sequence[float], str]]]
                           | None = None, max_height: int | None = None
                           ) -> dict[str, Snapshot]:
    """Return a `Snapshot` of the `limit` test videos with the highest peak final (smoothed)
    score, highest first: the peak frame, decoded again, with the box of its top object
    (`render_snapshot`: a zoomed panel beside the frame when the box is small), at most 640 px
    on the frame's longer side. A video that cannot be decoded again gets none (its scores
    are reported as usual). `detections(video name, frame)`, when given, returns the frame's
    detector boxes (x0, y0, x1, y1) with their class names, drawn thin in green and labelled
    (the top object's box stays red). `max_height`: as for `frame_renderer`."""
    peaks = {name: protocol.smooth(s) for name, s in scores.items()}
    videos = {v.name: v for v in dataset.test}
    ranked = sorted((n for n in peaks if n in videos), key=lambda n: -float(peaks[n].max()))
    render = frame_renderer(dataset, top, detections, max_side=640, max_height=max_height)
    out: dict[str, Snapshot] = {}
    for name in ranked[:limit]:
        t = int(np.argmax(peaks[name]))
        shot = render(name, [t]).get(t)
        if shot is None:
            continue
        details: dict[str, Any] = {}
        labels = videos[name].labels
        if labels is not None and t < len(labels):
            details["ground truth"] = "anomalous" if labels[t] else "normal"
        out[name] = Snapshot(shot.png, t, float(peaks[name][t]), {**details, **shot.details})
    return out
