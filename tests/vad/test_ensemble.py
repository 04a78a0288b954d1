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


def _videos(sizes, d=2, seed=0):
    """Training videos of one velocity stream: video i has sizes[i] objects over 5 frames."""
    from mulde.video.features import ObjectFeatures, Stream, VideoFeatures

    rng = np.random.default_rng(seed)
    out = {}
    for i, n in enumerate(sizes):
        X = rng.standard_normal((n, d)).astype(np.float32)
        out[f"v{i}"] = VideoFeatures({Stream.VELOCITY: ObjectFeatures(X, np.arange(n) % 5, 5)},
                                     5)
    return out


def test_subsample_is_seeded_uniform_and_keeps_video_ids():
    from mulde.vad.ensemble import stack_stream, subsample_stream
    from mulde.video.features import Stream

    videos = _videos([30, 50, 20])
    X_all, g_all = stack_stream(videos, Stream.VELOCITY)
    X, g = subsample_stream(videos, Stream.VELOCITY, 40, np.random.default_rng([7, 0]))
    X2, _ = subsample_stream(videos, Stream.VELOCITY, 40, np.random.default_rng([7, 0]))
    X3, _ = subsample_stream(videos, Stream.VELOCITY, 40, np.random.default_rng([8, 0]))
    assert X.shape == (40, 2) and X.dtype == np.float64
    np.testing.assert_array_equal(X, X2)
    assert not np.array_equal(X, X3)
    # every drawn row is a distinct training object, with its own video's id
    rows = [int(np.flatnonzero((X_all == x).all(axis=1))[0]) for x in X]
    assert len(set(rows)) == 40 and rows == sorted(rows)
    np.testing.assert_array_equal(g, g_all[rows])
    full, _ = subsample_stream(videos, Stream.VELOCITY, 500, np.random.default_rng(0))
    np.testing.assert_array_equal(full, X_all)


def test_a_bound_above_the_training_size_changes_nothing():
    from mulde.vad.ensemble import StreamEnsemble
    from mulde.video.features import Stream

    videos = _videos([30, 50, 20])
    for detector in ("knn", "gmm"):
        a = StreamEnsemble(detector).fit(videos)
        b = StreamEnsemble(detector, max_train_objects=100).fit(videos)
        fa, fb = a.fits_[Stream.VELOCITY], b.fits_[Stream.VELOCITY]
        assert fa.fill == fb.fill and fa.calibration == fb.calibration
        np.testing.assert_array_equal(a.score(videos)["v1"].fused, b.score(videos)["v1"].fused)


def test_knn_on_a_subsample_scores_every_training_object_leave_one_video_out():
    from mulde.vad.ensemble import StreamEnsemble, subsample_stream
    from mulde.video.features import Stream

    videos = _videos([30, 50, 20], d=1)
    ens = StreamEnsemble("knn", seed=3, max_train_objects=25).fit(videos)
    fit = ens.fits_[Stream.VELOCITY]
    assert fit.train_objects == 25 and len(fit.model.X_) == 25
    X, g = subsample_stream(videos, Stream.VELOCITY, 25, np.random.default_rng([3, 0]))
    z = (X - fit.model.mean_) / fit.model.scale_
    np.testing.assert_array_equal(fit.model.X_, z)
    # by hand: the 1-NN distance of video 1's objects (all 50) to the other videos' draws
    q = (videos["v1"][Stream.VELOCITY].features.astype(np.float64) - fit.model.mean_) \
        / fit.model.scale_
    expected = np.abs(q - z[g != 1].T).min(axis=1)
    np.testing.assert_allclose(fit.model.score_training_video(
        videos["v1"][Stream.VELOCITY].features.astype(np.float64), 1), expected)
    # the calibration saw every training frame's max over all its objects
    assert fit.fill <= expected.min()
