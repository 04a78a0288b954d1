"""ONNX Runtime backend: any ONNX detector whose output layout the user names.

The model takes one float32 NCHW RGB image batch (pixels times `OnnxLayout.scale`, resized to
its fixed input size or to `DetectionSettings.input_size`) and returns, as its first output,
one row per candidate box (optionally transposed, e.g. a YOLO export's (1, 84, N)). The
layout names the columns of a row (`OnnxLayout.columns`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from mulde.io.hashing import file_sha256
from mulde.video.detection.base import (
    DetectionSettings,
    DetectorError,
    FrameDetections,
    apply_policy,
)

COCO80_TO_91 = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23,
                24, 25, 27, 28, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 46, 47,
                48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63, 64, 65, 67, 70,
                72, 73, 74, 75, 76, 77, 78, 79, 80, 81, 82, 84, 85, 86, 87, 88, 89, 90)
"""The 91-id COCO label map's id of each of the 80 contiguous class indices (YOLO exports)."""

_CORNERS, _CENTRES = ("x0", "y0", "x1", "y1"), ("cx", "cy", "w", "h")


@dataclass(frozen=True)
class OnnxLayout:
    """How to read an ONNX detector's first output.

    `columns`: space-separated names of a row's columns: a box as `x0 y0 x1 y1` or
    `cx cy w h`, then `score` and `class` (one column each), or `scores` last (one score
    column per class: class = the argmax, score = its value); `_` skips a column.
    `transposed`: rows are the last axis ((1, C, N), as YOLO exports). `normalised`: box
    coordinates are fractions of the input, else input pixels. `classes`: `coco91` (ids are
    the COCO label map's) or `coco80` (contiguous 0..79, mapped with `COCO80_TO_91`).
    `scale`: the factor on 0-255 pixels (1/255 for YOLO exports).
    Example, a YOLOv8/11 export: OnnxLayout("cx cy w h scores", transposed=True,
    classes="coco80").
    """

    columns: str = "x0 y0 x1 y1 score class"
    transposed: bool = False
    normalised: bool = False
    classes: str = "coco91"
    scale: float = 1 / 255

    def __post_init__(self) -> None:
        names = self.columns.split()
        box = [n for n in names if n in _CORNERS + _CENTRES]
        ok = (set(box) in (set(_CORNERS), set(_CENTRES)) and len(box) == 4
              and set(names) <= {*_CORNERS, *_CENTRES, "score", "class", "scores", "_"}
              and (("scores" in names and names[-1] == "scores" and "score" not in names
                    and "class" not in names)
                   or ("scores" not in names and names.count("score") == 1
                       and names.count("class") == 1)))
        if not ok:
            raise DetectorError(f"ONNX layout columns {self.columns!r}: need a box (x0 y0 x1 "
                                "y1 or cx cy w h), then 'score class' or a last 'scores'")
        if self.classes not in ("coco91", "coco80"):
            raise DetectorError(f"ONNX layout classes must be coco91 or coco80, got "
                                f"{self.classes!r}")

    def read(self, rows: np.ndarray, width: float, height: float
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Return (boxes (n, 4) in input pixels, classes (n,) COCO ids, scores (n,)) of the
        (n, C) rows of one image."""
        names = self.columns.split()
        need = len(names) - 1 + (2 if names[-1] == "scores" else 1)
        if rows.ndim != 2 or rows.shape[1] < need:
            raise DetectorError(f"ONNX output rows of shape {rows.shape} do not fit the layout "
                                f"{self.columns!r} ({need}+ columns)")
        col = {n: rows[:, i] for i, n in enumerate(names) if n not in ("_", "scores")}
        if "scores" in names:
            per_class = rows[:, len(names) - 1:]
            cls, score = per_class.argmax(1), per_class.max(1)
        else:
            cls, score = col["class"].round().astype(np.int64), col["score"]
        if "cx" in col:
            x0, y0 = col["cx"] - col["w"] / 2, col["cy"] - col["h"] / 2
            x1, y1 = x0 + col["w"], y0 + col["h"]
        else:
            x0, y0, x1, y1 = col["x0"], col["y0"], col["x1"], col["y1"]
        boxes = np.stack([x0, y0, x1, y1], 1).astype(np.float64)
        if self.normalised:
            boxes *= np.array([width, height, width, height])
        cls = np.asarray(cls, np.int64)
        if self.classes == "coco80":
            valid = (cls >= 0) & (cls < 80)
            cls = np.where(valid, np.asarray(COCO80_TO_91)[cls.clip(0, 79)], -2)
        return boxes, cls, np.asarray(score, np.float64)


def cpu_session(path: Path, threads: int | None, what: str) -> tuple[Any, str, int]:
    """Open an ONNX file with ONNX Runtime on the CPU; return (session, the file's SHA-256,
    the intra-op threads). `threads` None: OpenCV's thread count, which the CLI's --threads
    sets for the whole run (ONNX Runtime's own default is every core, whatever --threads
    says); one graph at a time. `what` names the model in the one-line `DetectorError`
    raised when onnxruntime is missing or the file does not load."""
    try:
        import onnxruntime as ort
    except ImportError as err:
        raise DetectorError(f"{what} needs onnxruntime (pip install onnxruntime, or "
                            "mulde[models])") from err
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or max(1, cv2.getNumThreads())
    options.inter_op_num_threads = 1
    try:
        sha256 = file_sha256(path)
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as err:  # onnxruntime raises its own exception types
        raise DetectorError(f"{path}: cannot load {what} "
                            f"({str(err).strip().splitlines()[0]})") from err
    return session, sha256, options.intra_op_num_threads


class OnnxDetector:
    """An ONNX detector run by ONNX Runtime on the CPU, read by `layout` (`OnnxLayout`); the
    model file is the user's (`path`), its SHA-256 goes into the box cache key. A fixed input
    size in the model wins over `settings.input_size`; a batch dimension fixed at 1 runs the
    frames one at a time. `threads`: ONNX Runtime's intra-op threads (None: OpenCV's thread
    count, i.e. the CLI's --threads, rather than ONNX Runtime's every-core default)."""

    def __init__(self, path: str | Path, layout: OnnxLayout | None = None,
                 settings: DetectionSettings | None = None, threads: int | None = None
                 ) -> None:
        self.path, self.layout = Path(path), layout or OnnxLayout()
        self.settings = settings or DetectionSettings()
        if not self.path.is_file():
            raise DetectorError(f"{self.path}: no such ONNX detector file (routes: a local "
                                "file only; pass the .onnx path)")
        self._session, self.sha256, self.threads = cpu_session(
            self.path, threads, "the ONNX detector")
        shape = self._session.get_inputs()[0].shape
        self._input = self._session.get_inputs()[0].name
        self._fixed = (tuple(shape[2:]) if len(shape) == 4 and all(isinstance(s, int)
                                                                   for s in shape[2:]) else None)
        self._batch = shape[0] if len(shape) == 4 and isinstance(shape[0], int) else None
        self.name = f"onnx:{self.path.name}:{self.layout.columns}"

    def detect(self, frames: Sequence[np.ndarray]) -> list[FrameDetections]:
        """Return one `FrameDetections` per RGB uint8 (H, W, 3) frame (all of one size)."""
        out: list[FrameDetections] = []
        step = self._batch or self.settings.batch
        for start in range(0, len(frames), step):
            chunk = list(frames[start:start + step])
            height, width = chunk[0].shape[:2]
            in_w, in_h = ((self._fixed[1], self._fixed[0]) if self._fixed
                          else self.settings.input_size(height, width))
            x = np.stack([cv2.resize(f, (in_w, in_h), interpolation=cv2.INTER_LINEAR)
                          for f in chunk]).astype(np.float32) * self.layout.scale
            result = self._session.run(None, {self._input: x.transpose(0, 3, 1, 2)})[0]
            result = np.asarray(result, np.float64)
            if result.ndim == 2:
                result = result[None]
            if result.ndim != 3 or result.shape[0] != len(chunk):
                raise DetectorError(f"{self.path}: output of shape {result.shape} for a batch "
                                    f"of {len(chunk)}; expected (batch, rows, columns)")
            for rows in result:
                boxes, cls, score = self.layout.read(rows.T if self.layout.transposed else rows,
                                                     in_w, in_h)
                boxes *= np.array([width / in_w, height / in_h] * 2)
                keep = cls != -2
                out.append(apply_policy(boxes[keep], cls[keep], score[keep], width, height,
                                        self.settings))
        return out
