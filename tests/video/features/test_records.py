"""Tests of mulde.video.features.records: the words for a stream's columns, and the frames
without objects of their own."""

import numpy as np
import pytest

from mulde.video.features.records import (
    GEOMETRY_FEATURES,
    STATIC_FEATURES,
    ObjectFeatures,
    Stream,
    VideoFeatures,
    covers_whole_frame,
    feature_label,
)
from mulde.video.features.streams import box_geometry, velocity_histogram


def test_the_fixed_columns_are_named_as_their_streams_compute_them():
    """The static stream's three columns and the geometry stream's five, in order; as many
    as `box_geometry` and the static stream compute."""
    assert box_geometry(np.array([[0, 0, 10, 20]]), 100, 100).shape[1] == len(GEOMETRY_FEATURES)
    assert feature_label(Stream.STATIC, 0, 3) == "its area in cells"
    assert feature_label("static", 2, 3) == STATIC_FEATURES[2]
    assert feature_label(Stream.GEOMETRY, 4, 5) == "log(height / width)"


def test_velocity_bins_are_named_by_their_direction():
    """Bin b of n is centred on b x 360 / n degrees (`velocity_histogram`: 0 along +x); one
    bin is the mean speed."""
    flow = np.zeros((4, 4, 2), dtype=np.float32)
    flow[..., 1] = 1.0  # every pixel moves along +y (down the image): 90 degrees
    hist = velocity_histogram(flow.reshape(-1, 2), 4)
    assert int(np.argmax(hist)) == 1
    assert feature_label(Stream.VELOCITY, 1, 4).startswith("its flow towards 90 degrees")
    assert feature_label(Stream.VELOCITY, 0, 1) == "its flow speed (one bin)"


@pytest.mark.parametrize("stream, j, d", [(Stream.APPEARANCE, 3, 1280), (Stream.POSE, 0, 34),
                                          (Stream.STATIC, 0, 4), (Stream.GEOMETRY, 0, 3)])
def test_columns_without_fixed_meaning_are_not_named(stream, j, d):
    """An embedding's components, keypoints, or a width the stream does not have: None."""
    assert feature_label(stream, j, d) is None


def _objects(per_frame, dim=2):
    """A record of one object per box, listed per frame ([] = no object)."""
    boxes = [b for frame in per_frame for b in frame]
    index = [t for t, frame in enumerate(per_frame) for _ in frame]
    return ObjectFeatures.build(np.zeros((len(boxes), dim)), index, boxes, len(per_frame), dim)


WHOLE = (0, 0, 32, 24)  # the whole-frame object of a 32 x 24 frame without foreground


def test_frames_without_objects_of_their_own_are_said_per_stream():
    """Frame 0 holds only the whole-frame stand-in, frame 1 a person, frame 2 nothing (a
    pose stream without a person): both 0 and 2 are without objects of their own. The
    frame-centric stream's whole-frame windows are its objects."""
    video = VideoFeatures.of({
        Stream.VELOCITY: _objects([[WHOLE], [(3, 4, 9, 20)], [WHOLE]]),
        Stream.POSE: _objects([[], [(3, 4, 9, 20)], []]),
        Stream.FRAME: _objects([[WHOLE], [WHOLE], [WHOLE]])})
    for shape in [(24, 32), None]:  # given, or read off the stand-in's corner
        holes = video.objectless_frames(shape)
        assert holes[Stream.VELOCITY].tolist() == [True, False, True]
        assert holes[Stream.POSE].tolist() == [True, False, True]
        assert holes[Stream.FRAME].tolist() == [False, False, False]
    # a box that only touches the corner is an object; frames of another size say so
    assert video.objectless_frames((24, 40))[Stream.VELOCITY].tolist() == [False] * 3
    assert covers_whole_frame([(0, 0, 32, 24), (0, 0, 31, 24), (1, 0, 32, 24)], 24,
                              32).tolist() == [True, False, False]


def test_frames_of_a_stream_without_boxes_are_empty_only_without_objects():
    """AI-VAD's files have no boxes: a frame is without objects when it has none."""
    record = ObjectFeatures(np.zeros((2, 3), np.float32), np.array([0, 2]), 4)
    holes = VideoFeatures.of({Stream.VELOCITY: record}).objectless_frames()
    assert holes[Stream.VELOCITY].tolist() == [False, True, False, True]
