"""Detections of a whole video, every k-th frame or every frame, cached per video like the
features: one CSV per video (`frame,x0,y0,x1,y1,score,class`, the format of
`mulde.video.features.detections`, which reads it back, so detector boxes and an external
detector's boxes share one downstream path) in a folder named by the detector key (the
backend, the weights file's SHA-256 and the detection settings)."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from mulde.io.atomic import write_text
from mulde.video.detection.base import Detector, FrameDetections


def detector_key(detector: Detector) -> str:
    """Return the hex SHA-256 of the detector's name, weights checksum and settings: any
    change of the model file or of a setting that decides the boxes gives another key."""
    text = json.dumps({"name": detector.name, "sha256": detector.sha256,
                       "settings": detector.settings.key()}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def cache_file(folder: str | Path, detector: Detector, video_name: str, source_sha256: str
               ) -> Path:
    """Return the cache file of a video (by its name and the checksum of its source)."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", video_name) or "video"
    return Path(folder) / detector_key(detector)[:16] / f"{safe}.{source_sha256[:12]}.csv"


def detect_frames(detector: Detector, frames: Sequence[np.ndarray]) -> list[FrameDetections]:
    """Return the detections of every frame: frames 0, k, 2k, ... (k = `settings.every`) go
    through the detector and each frame between takes the boxes of the frame before it, held
    or moved by the optical flow (`settings.carry`, `mulde.video.detection.carry`)."""
    k = detector.settings.every
    found = detector.detect(list(frames[::k]))
    if k == 1 or detector.settings.carry == "hold":
        return [found[i // k] for i in range(len(frames))]
    from mulde.video.detection.carry import FlowCarrier
    from mulde.video.features.base import to_gray

    carrier, out, previous = FlowCarrier(), [], None
    for i, frame in enumerate(frames):
        gray = to_gray(frame)
        out.append(found[i // k] if i % k == 0 else carrier.step(out[-1], previous, gray))
        previous = gray
    return out


def write_detections(path: str | Path, detections: Sequence[FrameDetections]) -> Path:
    """Write a video's detections as a detections CSV (atomically); return the path."""
    lines = ["frame,x0,y0,x1,y1,score,class"]
    for i, d in enumerate(detections):
        for (x0, y0, x1, y1), s, c in zip(d.boxes.tolist(), d.scores.tolist(),
                                          d.classes.tolist(), strict=True):
            lines.append(f"{i},{x0:.2f},{y0:.2f},{x1:.2f},{y1:.2f},{s:.4f},{c}")
    return write_text(path, "\n".join(lines) + "\n")


def cached_detections(detector: Detector, frames: Sequence[np.ndarray],
                      path: str | Path | None = None) -> list[FrameDetections]:
    """Return the video's detections (`detect_frames`), read from `path` when it exists,
    else computed and written there (`cache_file` names it; None: no cache). Boxes read
    back are the written ones rounded outwards to whole pixels, as for external boxes."""
    from mulde.video.features.detections import read_detections

    height, width = frames[0].shape[:2]
    if path is not None and Path(path).is_file():
        return read_detections(path, len(frames), width, height)
    found = detect_frames(detector, frames)
    if path is None:
        return found
    write_detections(path, found)
    return read_detections(path, len(frames), width, height)
