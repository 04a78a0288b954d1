"""ONNX Runtime backend for SSD-MobileNet-v2 COCO (model zoo 2018_03_29, Apache-2.0): the same
network as `ssd.OpenCVSSD`, about 1.7x faster on one CPU thread (docs/results.md, round 8).

The ONNX file holds only the network's convolutional part (MobileNetV2 + the 6 box / class
predictor heads, free input height and width; `tools/convert_ssd_onnx.py` makes it from the
frozen graph). What OpenCV's text graph adds after the network is done here in numpy, as
OpenCV does it (`cv2.dnn` PriorBox and DetectionOutput layers):

- anchors (`ssd_anchors`): per feature map of rows x cols cells over a W x H input, centres
  ((c + 0.5) W / cols, (r + 0.5) H / rows) and the text graph's anchor widths / heights
  (`ANCHOR_SIZES`, input pixels, the same at every input size: at 900x600 a Ped2 person of
  40-100 px meets anchors of its size), normalised to the input;
- decoding (`decode_boxes`): TensorFlow's centre-size box coder, scale factors (10, 10, 5, 5)
  (OpenCV's variances 0.1, 0.1, 0.2, 0.2);
- `detection_output`: sigmoid class scores; per class (background 0 excluded) the boxes
  scoring > 0.01, the 100 best, greedy non-maximum suppression at IoU 0.6; then the 100 best
  over all classes.

The detection policy (`apply_policy`) follows as for every backend.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from mulde.video.detection.base import (
    DetectionSettings,
    DetectorError,
    FrameDetections,
    apply_policy,
)
from mulde.video.detection.onnx import cpu_session
from mulde.video.detection.weights import SSD_ONNX, resolve

ANCHOR_SIZES: tuple[tuple[tuple[float, ...], tuple[float, ...]], ...] = (
    ((30.0, 84.8528137207, 42.4264068604),
     (30.0, 42.4264068604, 84.8528137207)),
    ((105.0, 148.492431641, 74.2462158203, 181.865341187, 60.5914611816, 125.499000549),
     (105.0, 74.2462158203, 148.492431641, 60.6217765808, 181.956329346, 125.499000549)),
    ((150.0, 212.132034302, 106.066017151, 259.807617188, 86.5592269897, 171.026306152),
     (150.0, 106.066017151, 212.132034302, 86.6025390625, 259.93762207, 171.026306152)),
    ((195.0, 275.771636963, 137.885818481, 337.749908447, 112.527000427, 216.333084106),
     (195.0, 137.885818481, 275.771636963, 112.583305359, 337.918914795, 216.333084106)),
    ((240.0, 339.411254883, 169.705627441, 415.692199707, 138.494766235, 261.533935547),
     (240.0, 169.705627441, 339.411254883, 138.564071655, 415.90020752, 261.533935547)),
    ((285.0, 403.050872803, 201.525436401, 493.634490967, 164.462539673, 292.403839111),
     (285.0, 201.525436401, 403.050872803, 164.544830322, 493.881469727, 292.403839111)))
"""(widths, heights) in input pixels of the anchors of each of the 6 feature maps, in the
order of a cell's anchors: the `PriorBox_0..5` layers of OpenCV's text graph
ssd_mobilenet_v2_coco_2018_03_29.pbtxt (from the model's multiple-grid anchor generator:
scales 0.2-0.95 of 300 px, aspect ratios 1, 2, 1/2, 3, 1/3 and an interpolated scale; the
first map 0.1 x 300 px at ratio 1 and 0.2 x 300 px at ratios 2, 1/2)."""

SCALE_FACTORS = (10.0, 10.0, 5.0, 5.0)
"""The box coder's (y, x, h, w) scale factors (OpenCV: variances 0.1, 0.1, 0.2, 0.2)."""
N_CLASSES = 91  # background 0 + the 90 ids of the COCO label map


def ssd_anchors(grids: Sequence[tuple[int, int]], width: int, height: int,
                sizes: Sequence[tuple[Sequence[float], Sequence[float]]] = ANCHOR_SIZES
                ) -> np.ndarray:
    """Return the (N, 4) float32 anchors (x0, y0, x1, y1), fractions of the width x height
    input, of feature maps of `grids` (rows, cols) each, in the network's output order
    (map, row, col, anchor); `sizes` (widths, heights) in input pixels per map."""
    if len(grids) != len(sizes):
        raise ValueError(f"{len(grids)} feature maps for {len(sizes)} anchor size lists")
    out = []
    for (rows, cols), (widths, heights) in zip(grids, sizes, strict=True):
        w = np.asarray(widths, np.float32)
        h = np.asarray(heights, np.float32)
        cx = (np.arange(cols, dtype=np.float32) + 0.5) * np.float32(width / cols)
        cy = (np.arange(rows, dtype=np.float32) + 0.5) * np.float32(height / rows)
        cy, cx = np.meshgrid(cy, cx, indexing="ij")
        cx, cy = cx[..., None], cy[..., None]
        corners = np.stack([(cx - w / 2) / width, (cy - h / 2) / height,
                            (cx + w / 2) / width, (cy + h / 2) / height], axis=-1)
        out.append(corners.reshape(-1, 4))
    return np.concatenate(out).astype(np.float32)


def decode_boxes(encodings: np.ndarray, anchors: np.ndarray,
                 scale_factors: Sequence[float] = SCALE_FACTORS) -> np.ndarray:
    """Return the (N, 4) boxes (x0, y0, x1, y1) that the (N, 4) `encodings` (ty, tx, th, tw:
    TensorFlow's order) give on the (N, 4) `anchors` (x0, y0, x1, y1): centre = anchor centre
    + t / scale x anchor size, size = anchor size x exp(t / scale) (TensorFlow's
    FasterRcnnBoxCoder, OpenCV's CENTER_SIZE code)."""
    sy, sx, sh, sw = scale_factors
    aw, ah = anchors[:, 2] - anchors[:, 0], anchors[:, 3] - anchors[:, 1]
    acx, acy = anchors[:, 0] + aw / 2, anchors[:, 1] + ah / 2
    cx = encodings[:, 1] / sx * aw + acx
    cy = encodings[:, 0] / sy * ah + acy
    w = np.exp(encodings[:, 3] / sw) * aw
    h = np.exp(encodings[:, 2] / sh) * ah
    return np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)


def greedy_nms(boxes: np.ndarray, scores: np.ndarray, iou: float) -> np.ndarray:
    """Indices of the boxes greedy non-maximum suppression keeps, best first: the best box
    is kept and every box overlapping it at IoU > `iou` dropped, repeatedly (areas without
    the +1 of pixel boxes, as for normalised coordinates)."""
    order = np.argsort(-scores, kind="stable")
    keep = []
    area = np.clip(boxes[:, 2] - boxes[:, 0], 0, None) * np.clip(boxes[:, 3] - boxes[:, 1],
                                                                 0, None)
    while len(order):
        best, rest = order[0], order[1:]
        keep.append(best)
        x0 = np.maximum(boxes[best, 0], boxes[rest, 0])
        y0 = np.maximum(boxes[best, 1], boxes[rest, 1])
        x1 = np.minimum(boxes[best, 2], boxes[rest, 2])
        y1 = np.minimum(boxes[best, 3], boxes[rest, 3])
        inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
        union = area[best] + area[rest] - inter
        overlap = np.where(union > 0, inter / np.where(union > 0, union, 1), 0)
        order = rest[overlap <= iou]
    return np.asarray(keep, np.int64)


def detection_output(boxes: np.ndarray, logits: np.ndarray, score: float = 0.01,
                     top_k: int = 100, nms_iou: float = 0.6, keep_top_k: int = 100
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """OpenCV's DetectionOutput for one image: (N, 4) decoded `boxes`, (N, C) class
    `logits` (column 0 the background) -> (boxes (k, 4), class ids (k,), scores (k,)), best
    first, k <= `keep_top_k`. Per class c >= 1: sigmoid scores > `score`, the `top_k` best,
    `greedy_nms` at `nms_iou`; then the `keep_top_k` best over all classes."""
    threshold = np.log(score / (1 - score))  # sigmoid(x) > score <=> x > logit(score)
    rows, cols = np.nonzero(logits[:, 1:] > threshold)
    cols = cols + 1
    found_b, found_c, found_s = [], [], []
    for c in np.unique(cols):
        r = rows[cols == c]
        s = 1 / (1 + np.exp(-logits[r, c].astype(np.float64)))
        best = np.argsort(-s, kind="stable")[:top_k]
        r, s = r[best], s[best]
        kept = greedy_nms(boxes[r], s, nms_iou)
        found_b.append(boxes[r[kept]])
        found_c.append(np.full(len(kept), c, np.int64))
        found_s.append(s[kept])
    if not found_b:
        return np.zeros((0, 4)), np.zeros(0, np.int64), np.zeros(0)
    b, c, s = np.concatenate(found_b), np.concatenate(found_c), np.concatenate(found_s)
    best = np.argsort(-s, kind="stable")[:keep_top_k]
    return b[best], c[best], s[best]


class OrtSSD:
    """SSD-MobileNet-v2 COCO on ONNX Runtime (CPU): the network of `ssd.OpenCVSSD` with the
    same detections (box corners within 1e-6 of OpenCV's on Ped2 frames; docs/results.md,
    round 8), run faster.

    `model`: the converted .onnx file (`tools/convert_ssd_onnx.py`), or None for the routes
    of `weights.resolve` (a local file, the weights folder where the conversion writes it);
    verified against the known builds' SHA-256 (`weights.SSD_ONNX_BUILDS`, one per CPU family
    that made it) unless `verify` is False (another file of the same network and outputs, e.g.
    a quantized one: used as it is); the file's own SHA-256 and name enter the box cache key.
    Frames are resized to `settings.input_size` (bilinear, RGB, x * 2/255 - 1 as the graph's
    preprocessor) and go through the network `settings.batch` at a time. `threads`: ONNX
    Runtime's intra-op threads (None: OpenCV's thread count, which the CLI's --threads sets).
    Raises `DetectorError` when the file is missing, corrupt or onnxruntime is absent.
    """

    def __init__(self, settings: DetectionSettings | None = None,
                 model: str | Path | None = None, threads: int | None = None,
                 verify: bool = True) -> None:
        self.settings = settings or DetectionSettings()
        if verify or model is None:
            self.path = resolve(SSD_ONNX, model, download=False)
        elif not Path(model).is_file():
            raise DetectorError(f"{model}: no such ONNX file of the SSD")
        else:
            self.path = Path(model)
        self._session, self.sha256, _ = cpu_session(self.path, threads,
                                                    "the SSD's ONNX file")
        self._input = self._session.get_inputs()[0].name
        self._anchors: dict[tuple, np.ndarray] = {}
        self.name = f"ort-ssd:{self.path.name}"

    def raw(self, frames: Sequence[np.ndarray], width: int, height: int) -> list[np.ndarray]:
        """The network's 12 outputs (box, class for each of the 6 maps; NHWC) for RGB uint8
        frames resized to width x height."""
        x = np.stack([cv2.resize(f, (width, height), interpolation=cv2.INTER_LINEAR)
                      for f in frames]).astype(np.float32)
        x *= np.float32(2 / 255)
        x -= np.float32(1)
        return self._session.run(None, {self._input: x})

    def detect(self, frames: Sequence[np.ndarray]) -> list[FrameDetections]:
        """Return one `FrameDetections` per RGB uint8 (H, W, 3) frame (all of one size)."""
        out: list[FrameDetections] = []
        for start in range(0, len(frames), self.settings.batch):
            chunk = list(frames[start:start + self.settings.batch])
            height, width = chunk[0].shape[:2]
            in_w, in_h = self.settings.input_size(height, width)
            outputs = self.raw(chunk, in_w, in_h)
            grids = tuple(tuple(o.shape[1:3]) for o in outputs[0::2])
            key = (grids, in_w, in_h)
            if key not in self._anchors:
                self._anchors[key] = ssd_anchors(grids, in_w, in_h)
            anchors = self._anchors[key]
            for i in range(len(chunk)):
                encodings = np.concatenate([o[i].reshape(-1, 4) for o in outputs[0::2]])
                logits = np.concatenate([o[i].reshape(-1, N_CLASSES) for o in outputs[1::2]])
                boxes, classes, scores = detection_output(decode_boxes(encodings, anchors),
                                                          logits)
                boxes = boxes * np.array([width, height, width, height])
                out.append(apply_policy(boxes, classes, scores, width, height, self.settings))
        return out
