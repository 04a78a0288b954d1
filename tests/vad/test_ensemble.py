"""The top-scoring object of each frame, over streams (what the report's snapshots box)."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from mulde.vad.ensemble import TopObjects


def test_top_object_per_frame_over_two_streams():
    top = TopObjects.empty(4)
    boxes = np.array([[0, 0, 2, 2], [1, 1, 3, 3], [5, 5, 9, 9]], float)
    top.update("velocity", np.array([0.2, 0.9, 0.5]), np.array([0, 0, 2]), boxes)
    top.update("frame", np.array([0.4, 0.6, 0.1, 0.3]), np.arange(4), None)
    np.testing.assert_array_equal(top.score, [0.9, 0.6, 0.5, 0.3])
    assert top.stream == ["velocity", "frame", "velocity", "frame"]
    np.testing.assert_array_equal(top.box[0], [1, 1, 3, 3])
    np.testing.assert_array_equal(top.box[2], [5, 5, 9, 9])
    assert np.isnan(top.box[1]).all() and np.isnan(top.box[3]).all()  # no boxes in "frame"


@settings(max_examples=50, deadline=None)
@given(st.lists(st.lists(st.tuples(st.integers(0, 5), st.floats(-5, 5)), max_size=15),
                min_size=1, max_size=3))
def test_top_score_is_the_maximum_over_all_streams_and_objects(streams):
    top = TopObjects.empty(6)
    best = np.full(6, -np.inf)
    for k, objects in enumerate(streams):
        if not objects:
            continue
        frames = np.array([t for t, _ in objects])
        scores = np.array([s for _, s in objects])
        boxes = np.c_[scores, scores, scores + 1, scores + 1]  # each box encodes its score
        top.update(f"s{k}", scores, frames, boxes)
        np.maximum.at(best, frames, scores)
    np.testing.assert_array_equal(top.score, best)
    seen = np.isfinite(best)
    np.testing.assert_array_equal(top.box[seen, 0], best[seen])
    assert all((stream != "") == s for stream, s in zip(top.stream, seen, strict=True))
