"""Where a run saw its anomalies: the top-scoring object of each test frame, and each video's
most anomalous frame drawn with that object's box for the report."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from mulde.datasets.base import Dataset
from mulde.evaluation import EvaluationProtocol, Snapshot
from mulde.video.features.regions import is_whole_frame
from mulde.video.source import VideoReadError


@dataclass
class TopObjects:
    """Per frame of one test video: the calibrated score, stream and box (x0, y0, x1, y1) of
    its highest-scoring object over all streams (box NaN when the stream has no boxes)."""

    score: np.ndarray
    stream: list[str]
    box: np.ndarray

    @classmethod
    def empty(cls, n_frames: int) -> TopObjects:
        return cls(np.full(n_frames, -np.inf), [""] * n_frames, np.full((n_frames, 4), np.nan))

    def update(self, stream: str, scores: np.ndarray, frame_index: np.ndarray,
               boxes: np.ndarray | None) -> None:
        """Take the stream's objects (calibrated scores) where they beat the current best."""
        order = np.lexsort((scores, frame_index))  # by frame, then score: last one is best
        last = np.r_[frame_index[order][1:] != frame_index[order][:-1], True]
        best = order[last]
        frames = frame_index[best]
        better = scores[best] > self.score[frames]
        for obj, t in zip(best[better], frames[better], strict=True):
            self.score[t] = scores[obj]
            self.stream[t] = stream
            self.box[t] = np.nan if boxes is None else boxes[obj]


def most_anomalous_moments(dataset: Dataset, scores: dict[str, np.ndarray],
                           top: dict[str, TopObjects], protocol: EvaluationProtocol,
                           limit: int = 24) -> dict[str, Snapshot]:
    """Return a `Snapshot` of the `limit` test videos with the highest peak final (smoothed)
    score, highest first: the peak frame, decoded again, with the box of its top object, at
    most 640 px on its longer side. A video that cannot be decoded again gets none (its
    scores are reported as usual)."""
    peaks = {name: protocol.smooth(s) for name, s in scores.items()}
    videos = {v.name: v for v in dataset.test}
    ranked = sorted((n for n in peaks if n in videos), key=lambda n: -float(peaks[n].max()))
    out: dict[str, Snapshot] = {}
    for name in ranked[:limit]:
        t = int(np.argmax(peaks[name]))
        try:
            frame = next(itertools.islice(videos[name].frames(), t, None), None)
        except VideoReadError:
            frame = None
        if frame is None:
            continue
        image = np.ascontiguousarray(frame[..., ::-1])  # RGB -> BGR for OpenCV
        details: dict[str, Any] = {}
        labels = videos[name].labels
        if labels is not None and t < len(labels):
            details["ground truth"] = "anomalous" if labels[t] else "normal"
        objects = top.get(name)
        if objects is not None and objects.stream[t]:
            details["top object"] = objects.stream[t]
            box = objects.box[t]
            if np.isfinite(box).all() and not is_whole_frame(box, *image.shape[:2]):
                x0, y0, x1, y1 = (int(round(v)) for v in box)
                details["box"] = [x0, y0, x1, y1]
                thick = max(1, round(max(image.shape[:2]) / 200))
                cv2.rectangle(image, (x0, y0), (x1 - 1, y1 - 1), (40, 40, 230), thick)
        scale = 640 / max(image.shape[:2])
        if scale < 1:  # keeps the self-contained report small for HD videos
            image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        ok, png = cv2.imencode(".png", image)
        if ok:
            out[name] = Snapshot(png.tobytes(), t, float(peaks[name][t]), details)
    return out
