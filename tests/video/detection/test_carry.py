"""Boxes carried between detections by the optical flow (mulde.video.detection.carry)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from mulde.video.detection import PERSON, DetectionSettings, FrameDetections
from mulde.video.detection.cache import detect_frames
from mulde.video.detection.carry import FlowCarrier, carry_boxes, central_region


def _detections(boxes, classes=None, scores=None):
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    n = len(boxes)
    return FrameDetections(boxes, np.asarray(classes if classes is not None else [PERSON] * n),
                           np.asarray(scores if scores is not None else [0.9] * n, np.float32))


def test_central_region_is_the_box_shrunk_by_a_quarter_each_side():
    assert central_region((10, 20, 30, 60), 100, 100) == (15, 30, 25, 50)
    assert central_region((10.2, 20, 13.8, 24), 100, 100) == (11, 21, 13, 23)  # outwards
    assert central_region((10, 10, 11, 11), 100, 100) == (10, 10, 11, 11)  # >= 1 px
    assert central_region((90, 90, 130, 130), 100, 100) == (100, 100, 100, 100)  # outside
    assert central_region((-40, 0, 20, 8), 100, 100) == (0, 2, 5, 6)  # clipped


def test_boxes_move_by_the_median_flow_of_their_centre():
    flow = np.zeros((100, 100, 2), np.float32)
    flow[30:50, 15:25] = (3.0, -2.0)  # the central half of the first box moves
    flow[20:30, 10:30] = (40.0, 40.0)  # its border rows (background) do not count
    found = _detections([[10, 20, 30, 60], [60, 60, 80, 80]], [PERSON, 3], [0.9, 0.7])
    moved = carry_boxes(found, flow)
    np.testing.assert_allclose(moved.boxes, [[13, 18, 33, 58], [60, 60, 80, 80]])
    assert moved.classes.tolist() == [PERSON, 3]
    np.testing.assert_allclose(moved.scores, [0.9, 0.7])


def test_boxes_are_clipped_to_the_frame_and_dropped_once_outside():
    flow = np.full((50, 100, 2), (8.0, 0.0), np.float32)
    found = _detections([[90, 10, 98, 20], [95, 30, 100, 40], [10, 10, 20, 20]])
    moved = carry_boxes(found, flow)
    np.testing.assert_allclose(moved.boxes, [[98, 10, 100, 20], [18, 10, 28, 20]])
    assert len(carry_boxes(_detections(np.zeros((0, 4))), flow).boxes) == 0


def _textured(shift_x: int, shift_y: int) -> np.ndarray:
    """A gray frame with a textured square at (40 + shift_x, 30 + shift_y), 24 px wide."""
    rng = np.random.default_rng(0)
    frame = np.full((120, 160), 90, np.uint8)
    patch = cv2.GaussianBlur(rng.integers(0, 256, (24, 24)).astype(np.uint8), (3, 3), 0)
    frame[30 + shift_y:54 + shift_y, 40 + shift_x:64 + shift_x] = patch
    return frame


def test_flow_carrier_follows_a_moving_object():
    carried = FlowCarrier().step(_detections([[40, 30, 64, 54]]), _textured(0, 0),
                                 _textured(3, 2))
    np.testing.assert_allclose(carried.boxes, [[43, 32, 67, 56]], atol=0.5)


class ShiftDetector:
    """A fake detector that finds the textured square of `_textured` wherever it is."""

    def __init__(self, settings):
        self.settings, self.sha256, self.name, self.calls = settings, "c" * 64, "shift", 0

    def detect(self, frames):
        self.calls += len(frames)
        out = []
        for f in frames:
            ys, xs = np.nonzero(f[..., 0] != 90)
            out.append(_detections([[xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]]))
        return out


@pytest.mark.parametrize("carry, expected_x", [("hold", [40, 40, 40, 46]),
                                               ("flow", [40, 42, 44, 46])])
def test_detect_frames_carries_boxes_by_the_setting(carry, expected_x):
    frames = [np.repeat(_textured(2 * i, 0)[..., None], 3, 2) for i in range(4)]
    detector = ShiftDetector(DetectionSettings(every=3, carry=carry))
    found = detect_frames(detector, frames)
    assert detector.calls == 2  # frames 0 and 3
    np.testing.assert_allclose([d.boxes[0, 0] for d in found], expected_x, atol=0.5)


def test_carry_is_in_the_cache_key_only_when_it_moves_boxes():
    assert "carry" not in DetectionSettings(every=2).key()  # caches made before it stay
    assert DetectionSettings(every=2, carry="flow").key()["carry"] == "flow"
    assert "carry" not in DetectionSettings(every=1, carry="flow").key()  # every frame detected
    with pytest.raises(ValueError, match="carry must be 'hold' or 'flow', got 'drift'"):
        DetectionSettings(carry="drift")
