"""Tests of mulde.video.features.records: the words for a stream's columns."""

import numpy as np
import pytest

from mulde.video.features.records import (
    GEOMETRY_FEATURES,
    STATIC_FEATURES,
    Stream,
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
