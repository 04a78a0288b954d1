"""Where a run saw its anomalies: each video's most anomalous frame, drawn with the box of its
top-scoring object (`mulde.vad.ensemble.TopObjects`), for the report."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import Any

import cv2
import numpy as np

from mulde.datasets.base import Dataset
from mulde.evaluation.protocol import EvaluationProtocol
from mulde.evaluation.report import Snapshot
from mulde.vad.ensemble import TopObjects
from mulde.video.features.regions import is_whole_frame
from mulde.video.source import VideoReadError


def most_anomalous_moments(dataset: Dataset, scores: dict[str, np.ndarray],
                           top: dict[str, TopObjects], protocol: EvaluationProtocol,
                           limit: int = 24,
                           detections: Callable[[str, int], list[tuple[Sequence[float], str]]]
                           | None = None) -> dict[str, Snapshot]:
    """Return a `Snapshot` of the `limit` test videos with the highest peak final (smoothed)
    score, highest first: the peak frame, decoded again, with the box of its top object, at
    most 640 px on its longer side. A video that cannot be decoded again gets none (its
    scores are reported as usual). `detections(video name, frame)`, when given, returns the
    frame's detector boxes (x0, y0, x1, y1) with their class names, drawn thin in green and
    labelled (the top object's box stays red)."""
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
        thick = max(1, round(max(image.shape[:2]) / 200))
        found = detections(name, t) if detections is not None else []
        for box, label in found:
            x0, y0, x1, y1 = (int(round(v)) for v in box)
            cv2.rectangle(image, (x0, y0), (x1 - 1, y1 - 1), (60, 180, 60), 1)
            cv2.putText(image, label, (x0, max(8, y0 - 2)), cv2.FONT_HERSHEY_PLAIN, 0.7,
                        (60, 180, 60), 1, cv2.LINE_AA)
        if found:
            details["detections"] = ", ".join(sorted({label for _, label in found}))
        objects = top.get(name)
        if objects is not None and objects.stream[t]:
            details["top object"] = objects.stream[t]
            box = objects.box[t]
            if np.isfinite(box).all() and not is_whole_frame(box, *image.shape[:2]):
                x0, y0, x1, y1 = (int(round(v)) for v in box)
                details["box"] = [x0, y0, x1, y1]
                cv2.rectangle(image, (x0, y0), (x1 - 1, y1 - 1), (40, 40, 230), thick)
        scale = 640 / max(image.shape[:2])
        if scale < 1:  # keeps the self-contained report small for HD videos
            image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        ok, png = cv2.imencode(".png", image)
        if ok:
            out[name] = Snapshot(png.tobytes(), t, float(peaks[name][t]), details)
    return out
