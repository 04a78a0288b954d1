"""The stream ensemble (`mulde.vad.ensemble`): per-stream fit, empty-frame fill, calibration
(on frames or objects, in-sample or out-of-fold), fusion, and the top-scoring object of each
frame over streams (what the report's snapshots box)."""

import multiprocessing
import os
import signal
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mulde.vad import MULDEStream, StreamEnsemble, TopObjects
from mulde.vad.ensemble import FitJob, run_fit_job
from mulde.video.features import ObjectFeatures, Stream, VideoFeatures


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


# ------------------------------------------------------------------ StreamEnsemble, by hand


class FirstFeature:
    """A stream model whose score is the object's first feature (no fitting to speak of)."""

    name = "first"

    def fit(self, X, groups):
        self.X_ = X
        return self

    def train_scores(self):
        return self.X_[:, 0].copy()

    def score(self, X):
        return X[:, 0].copy()


class DistanceToMean(FirstFeature):
    """|x - mean of the training objects' first feature|: depends on what it was fitted on."""

    name = "distance_to_mean"

    def fit(self, X, groups):
        self.X_, self.mean_ = X, X[:, 0].mean()
        return self

    def train_scores(self):
        return self.score(self.X_)

    def score(self, X):
        return np.abs(X[:, 0] - self.mean_)


class EndsItsWorker(DistanceToMean):
    """DistanceToMean whose fit ends the process it runs in when that is a worker process
    (a worker killed mid-fit, as the out-of-memory killer ends one)."""

    name = "ends_its_worker"

    def fit(self, X, groups):
        if multiprocessing.parent_process() is not None:
            os.kill(os.getpid(), signal.SIGKILL)
        return super().fit(X, groups)


def record(frames: list[list[float]]) -> ObjectFeatures:
    """One stream of 1-D objects, listed per frame ([] = a frame without objects); object j
    of the record gets the box (j, j, j + 1, j + 1)."""
    values = [v for f in frames for v in f]
    index = [t for t, f in enumerate(frames) for _ in f]
    return ObjectFeatures.build(np.reshape(values, (-1, 1)), index,
                                [(j, j, j + 1, j + 1) for j in range(len(values))],
                                len(frames), 1)


def video(**streams: list[list[float]]) -> VideoFeatures:
    return VideoFeatures.of({Stream(s): record(f) for s, f in streams.items()})


# training objects 2 | - and 1000, 3 | 2: min object 2 fills the empty frame; frame scores
# [2, 2, 1000, 2]; 99.9th percentile = 2 + 0.997 * (1000 - 2) (linear, position 2.997)
TRAIN = {"a": video(velocity=[[2.0], []]), "b": video(velocity=[[1000.0, 3.0], [2.0]])}
TEST = video(velocity=[[500.0, 10.0], [], [2.0]])


def test_calibrated_on_training_frames_with_empty_frames_filled():
    ens = StreamEnsemble(FirstFeature).fit(TRAIN)
    fit = ens.fits_[Stream.VELOCITY]
    assert ens.streams == [Stream.VELOCITY] and fit.fill == 2.0
    assert (fit.train_objects, fit.dim) == (4, 1)
    high = 2 + 0.997 * 998
    assert fit.calibration.low == 2.0
    np.testing.assert_allclose(fit.calibration.high, high, rtol=1e-12)
    scores = ens.score({"t": TEST})["t"]
    expected = [(500 - 2) / (high - 2), 0.0, 0.0]  # the empty frame 1 gets the fill: 0
    np.testing.assert_allclose(scores.fused, expected, rtol=1e-12)
    np.testing.assert_array_equal(scores.streams[Stream.VELOCITY], scores.fused)
    np.testing.assert_allclose(scores.top.score[[0, 2]], [expected[0], 0.0], rtol=1e-12)
    assert scores.top.stream == ["velocity", "", "velocity"]
    np.testing.assert_array_equal(scores.top.box[0], [0, 0, 1, 1])  # 500, not 10
    assert ens.fits_[Stream.VELOCITY].test_objects == 3


def test_calibrated_on_training_objects():
    """AI-VAD's reference: training objects [2, 1000, 3, 2] -> low 2, 99.9th percentile
    3 + 0.997 * 997; the fill is still the minimum training object score."""
    ens = StreamEnsemble(FirstFeature, calibrate_on="objects").fit(TRAIN)
    fit = ens.fits_[Stream.VELOCITY]
    high = 3 + 0.997 * 997
    assert (fit.calibration.low, fit.fill) == (2.0, 2.0)
    np.testing.assert_allclose(fit.calibration.high, high, rtol=1e-12)
    np.testing.assert_allclose(ens.score_video(TEST).fused, [498 / (high - 2), 0.0, 0.0],
                               rtol=1e-12)


def test_streams_summed_in_name_order_each_with_its_model():
    """A mapping fits exactly its streams (appearance is left out), each with its model."""
    train = {"a": video(velocity=[[2.0], []], geometry=[[0.0], [1.0]], appearance=[[5.0], []]),
             "b": video(velocity=[[1000.0, 3.0], [2.0]], geometry=[[0.0], [1001.0]],
                        appearance=[[1.0], [1.0]])}
    test = video(velocity=[[500.0, 10.0], [], [2.0]], geometry=[[499.0], [0.0], [998.0]],
                 appearance=[[0.0], [0.0], [0.0]])
    made = []

    def first():
        made.append(FirstFeature())
        return made[-1]

    ens = StreamEnsemble({"velocity": first, Stream.GEOMETRY: first}).fit(train)
    assert ens.streams == [Stream.GEOMETRY, Stream.VELOCITY] and len(made) == 2
    assert made[0] is not made[1] and made[0].X_[:, 0].tolist() == [0, 1, 0, 1001]
    # geometry frames [0, 1, 0, 1001]: low 0, high 1 + 0.997 * 1000 = 998
    np.testing.assert_allclose(ens.fits_[Stream.GEOMETRY].calibration.high, 998, rtol=1e-12)
    scores = ens.score_video(test)
    velocity = np.array([498 / (2 + 0.997 * 998 - 2), 0.0, 0.0])
    np.testing.assert_allclose(scores.streams[Stream.GEOMETRY], [0.5, 0.0, 1.0], rtol=1e-12)
    np.testing.assert_allclose(scores.fused, velocity + [0.5, 0.0, 1.0], rtol=1e-12)
    assert set(scores.streams) == {Stream.GEOMETRY, Stream.VELOCITY}
    assert scores.top.stream == ["velocity", "geometry", "geometry"]  # frame 2: 1 > 0


def test_out_of_fold_calibration_scores_each_video_with_the_other_folds_model():
    """Videos a = [0, 2], b = [10, 12] (one object per frame), 2 folds: a is scored by the
    model fitted on b (mean 11): 11, 9; b by a's (mean 1): 9, 11. Calibration (9, 11), fill
    9. Test objects are scored by the model fitted on both (mean 6): 7 -> 1."""
    train = {"a": video(velocity=[[0.0], [2.0]]), "b": video(velocity=[[10.0], [12.0]])}
    test = video(velocity=[[7.0], []])
    oof = StreamEnsemble(DistanceToMean, calibration_folds=2).fit(train)
    fit = oof.fits_[Stream.VELOCITY]
    assert (fit.calibration.low, fit.calibration.high, fit.fill) == (9.0, 11.0, 9.0)
    assert fit.model.mean_ == 6.0
    np.testing.assert_allclose(oof.score_video(test).fused, [(1 - 9) / 2, 0.0])
    # in-sample (the default): training scores [6, 4, 4, 6] -> calibration (4, 6), fill 4
    own = StreamEnsemble(DistanceToMean).fit(train).fits_[Stream.VELOCITY]
    assert (own.calibration.low, own.calibration.high, own.fill) == (4.0, 6.0, 4.0)


class MembersSeen(MULDEStream):
    """A MULDE stream that trains nothing: it scores every object with the n_members its fit
    was given ("auto" when unresolved)."""

    def fit(self, X: np.ndarray, groups: np.ndarray) -> "MembersSeen":
        self.seen = self.params.get("n_members", "auto")
        return self

    def score(self, X: np.ndarray) -> np.ndarray:
        return np.full(len(X), float(self.seen) if self.seen != "auto" else np.nan)


def test_out_of_fold_refits_train_the_deployed_models_networks():
    """600 rows of 13 features train round 58's pair ("auto": 501 rows or more, at least 25
    per feature); each of the two folds' refits fits 300 of them, where "auto" alone would
    train three (fewer than 501 rows). The refits are settled from the whole stream, so the
    held-out fold is scored by two networks too."""
    X = np.random.default_rng(0).normal(size=(600, 13))
    groups = np.arange(600) % 4
    result = run_fit_job(FitJob(MembersSeen, X, groups, folds=2, fold=0))
    np.testing.assert_array_equal(result.scores, np.full(300, 2.0))


def test_progress_counts_every_model_fit_with_the_out_of_fold_refits(capsys):
    """Two streams, 2 folds: each stream's model and its two refits, 6 fits in all."""
    train = {"a": video(velocity=[[0.0], [2.0]], geometry=[[1.0], [1.0]]),
             "b": video(velocity=[[10.0], [12.0]], geometry=[[3.0], [5.0]])}
    fitted: list[str] = []

    class Counted(DistanceToMean):
        def fit(self, X, groups):
            fitted.append("fit")
            return super().fit(X, groups)

    StreamEnsemble(Counted, calibration_folds=2, progress=True).fit(train)
    err = capsys.readouterr().err
    assert len(fitted) == 6 and "model fits" in err and "6/6" in err and "velocity stream" in err


def test_knn_by_name_calibrates_on_leave_one_video_out_scores():
    """Objects 0, 2 | 4, 6 standardised by (mean 3, std sqrt 5): leave-one-video-out
    distances [4, 2, 2, 4] / sqrt 5, so calibration (2, 4) / sqrt 5; test objects 1 and 9
    lie 1 and 3 (/ sqrt 5) from their nearest training object: calibrated -0.5 and 0.5."""
    train = {"a": video(velocity=[[0.0], [2.0]]), "b": video(velocity=[[4.0], [6.0]])}
    ens = StreamEnsemble("knn").fit(train)
    cal = ens.fits_[Stream.VELOCITY].calibration
    np.testing.assert_allclose([cal.low, cal.high], np.array([2, 4]) / np.sqrt(5), rtol=1e-12)
    np.testing.assert_allclose(ens.score_video(video(velocity=[[1.0], [9.0]])).fused,
                               [-0.5, 0.5], rtol=1e-12)


def test_knn_calibrates_a_single_training_video_on_objects_left_out_one_at_a_time():
    """One training video, no other to leave out: objects 0, 1, 3, 7 (one a frame) score
    [1, 1, 2, 4] / std against the others, not 0 each (a constant calibration, refused)."""
    rows = [0.0, 1.0, 3.0, 7.0]
    std = np.std(rows)
    ens = StreamEnsemble("knn").fit({"a": video(velocity=[[v] for v in rows])})
    cal = ens.fits_[Stream.VELOCITY].calibration
    high = 2 + 0.997 * 2  # the 99.9th percentile of [1, 1, 2, 4], position 2.997
    np.testing.assert_allclose([cal.low, cal.high], np.array([1, high]) / std, rtol=1e-12)


def test_bad_settings_and_inputs_are_named():
    with pytest.raises(ValueError, match="calibrate_on must be 'frames' or 'objects'"):
        StreamEnsemble(calibrate_on="videos")
    for folds in (1, 2.0, True):
        with pytest.raises(ValueError, match="calibration_folds must be None or an integer"):
            StreamEnsemble(calibration_folds=folds)
    with pytest.raises(ValueError, match="calibration_folds=3 needs at least as many"):
        StreamEnsemble(FirstFeature, calibration_folds=3).fit(TRAIN)
    with pytest.raises(ValueError, match="at least one readable training video"):
        StreamEnsemble(FirstFeature).fit({})
    with pytest.raises(ValueError, match="unknown detector 'svm'"):
        StreamEnsemble("svm").fit(TRAIN)
    with pytest.raises(ValueError, match="must name streams among .*; got speed"):
        StreamEnsemble({"speed": "knn"}).fit(TRAIN)
    with pytest.raises(ValueError, match="training video a has no geometry stream"):
        StreamEnsemble({"geometry": FirstFeature}).fit(TRAIN)
    with pytest.raises(ValueError, match="not fitted"):
        StreamEnsemble(FirstFeature).score_video(TEST)
    ens = StreamEnsemble(FirstFeature).fit(TRAIN)
    with pytest.raises(ValueError, match="the video has no velocity stream"):
        ens.score_video(video(geometry=[[1.0]]))


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


# ------------------------------------------------------------------ fits in worker processes


def test_fits_in_worker_processes_give_the_hand_computed_out_of_fold_calibration():
    """The out-of-fold example above (calibration (9, 11), fill 9, model mean 6, test object
    7 -> (1 - 9) / 2) with its model and two refits in 2 worker processes; a lambda factory,
    which cannot be sent to a worker, fits in this process and gives the same."""
    train = {"a": video(velocity=[[0.0], [2.0]]), "b": video(velocity=[[10.0], [12.0]])}
    test = video(velocity=[[7.0], []])
    for make in (DistanceToMean, lambda: DistanceToMean()):
        ens = StreamEnsemble(make, calibration_folds=2, n_jobs=2).fit(train)
        fit = ens.fits_[Stream.VELOCITY]
        assert (fit.calibration.low, fit.calibration.high, fit.fill) == (9.0, 11.0, 9.0)
        assert fit.model.mean_ == 6.0 and ens.fit_seconds_ > 0
        np.testing.assert_allclose(ens.score_video(test).fused, [(1 - 9) / 2, 0.0])


def test_a_worker_ended_mid_fit_is_said_in_one_sentence_not_a_broken_pool():
    """A worker process killed while fitting (the out-of-memory killer's way) ends the fit
    with `FitWorkerError`, which says what happened and what to do, and which the command
    line shows as one line (a user error); the same fits in this process succeed."""
    from concurrent.futures.process import BrokenProcessPool

    from mulde.cli import _user_errors
    from mulde.vad.ensemble import FitWorkerError

    train = {"a": video(velocity=[[0.0], [2.0]]), "b": video(velocity=[[10.0], [12.0]])}
    with pytest.raises(FitWorkerError) as caught:
        StreamEnsemble(EndsItsWorker, calibration_folds=2, n_jobs=2).fit(train)
    assert not isinstance(caught.value, BrokenProcessPool)
    message = str(caught.value)
    assert "\n" not in message and "a worker process ended" in message
    assert "0 of 3 fits had finished;" in message and "--fit-jobs 1" in message
    assert isinstance(caught.value, _user_errors())
    fit = StreamEnsemble(EndsItsWorker, calibration_folds=2, n_jobs=1).fit(train)
    assert fit.fits_[Stream.VELOCITY].calibration.high == 11.0


def test_mulde_fits_in_worker_processes_equal_the_serial_fits():
    """Two MULDE streams, 2 calibration folds: the 6 fits in 2 workers (one thread each)
    give exactly the serial path's calibrations, training frame scores and test scores when
    this process also runs one thread (conftest): each fit seeds itself."""
    import torch

    assert torch.get_num_threads() == 1
    rng = np.random.default_rng(0)

    def features(n_frames: int) -> VideoFeatures:
        out = {}
        for stream, d in ((Stream.VELOCITY, 1), (Stream.POSE, 4)):
            index = np.repeat(np.arange(n_frames), 2)
            out[stream] = ObjectFeatures.build(rng.normal(size=(len(index), d)), index,
                                               [(0, 0, 1, 1)] * len(index), n_frames, d)
        return VideoFeatures.of(out)

    train = {f"v{i}": features(20) for i in range(4)}
    test = features(20)
    params = {"max_steps": 20, "hidden_sizes": (16, 16), "batch_size": 32}
    serial, parallel = (StreamEnsemble("mulde", 0, params, calibration_folds=2, n_jobs=n)
                        .fit(train) for n in (1, 2))
    for stream in (Stream.POSE, Stream.VELOCITY):
        a, b = serial.fits_[stream], parallel.fits_[stream]
        assert a.calibration == b.calibration and a.fill == b.fill
        for x, y in zip(a.train_frames, b.train_frames, strict=True):
            np.testing.assert_array_equal(x, y)
    np.testing.assert_array_equal(serial.score_video(test).fused,
                                  parallel.score_video(test).fused)


def test_n_jobs_must_be_a_positive_integer():
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="n_jobs must be an integer >= 1"):
            StreamEnsemble(n_jobs=bad)


# ------------------------------------------------------------------ reduced streams (pca)


def flat(rows: list[tuple[float, float]]) -> VideoFeatures:
    """A velocity stream of 2-D objects, one a frame."""
    X = np.asarray(rows, dtype=np.float64)
    return VideoFeatures.of({Stream.VELOCITY: ObjectFeatures.build(
        X, np.arange(len(X)), [(0, 0, 1, 1)] * len(X), len(X), 2)})


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_each_out_of_fold_refit_fits_its_pca_on_its_own_folds(n_jobs):
    """Video a = (0, 0), (4, 0) (spread along x), b = (10, 1), (10, 5) (along y); 2 folds,
    1 component, then |z - mean of the fitted z|. a's refit (fitted on b alone: mean (10, 3),
    component y) scores a's rows |0 - 3| = 3, 3; b's refit (fitted on a: mean (2, 0),
    component x) scores b's |10 - 2| = 8, 8. A PCA fitted on all four rows (mean (6, 1.5),
    mostly x) would score a's rows 10.4 and 6.7 instead. So calibration (3, 8), fill 3; the
    model for new video has its PCA on all four rows."""
    train = {"a": flat([(0, 0), (4, 0)]), "b": flat([(10, 1), (10, 5)])}
    ens = StreamEnsemble(DistanceToMean, calibration_folds=2, pca={"velocity": 1},
                         n_jobs=n_jobs).fit(train)
    fit = ens.fits_[Stream.VELOCITY]
    np.testing.assert_allclose(np.concatenate(fit.train_frames), [3, 3, 8, 8], atol=1e-9)
    np.testing.assert_allclose([fit.calibration.low, fit.calibration.high, fit.fill],
                               [3, 8, 3], atol=1e-9)
    np.testing.assert_allclose(fit.model.mean_, [6.0, 1.5], atol=1e-12)
    assert fit.dim == 2 and fit.model.components_.shape == (1, 2)
    # the test row (6, 1.5) is the training mean: z = 0, and the fitted z average 0
    np.testing.assert_allclose(ens.score_video(flat([(6.0, 1.5)])).fused, [(0 - 3) / 5],
                               atol=1e-9)


def test_pca_must_name_a_fitted_stream_and_a_positive_count():
    train = {"a": video(velocity=[[0.0], [2.0]]), "b": video(velocity=[[10.0], [12.0]])}
    with pytest.raises(ValueError, match="pca names the pose stream, which is not fitted"):
        StreamEnsemble(DistanceToMean, pca={"pose": 2}).fit(train)
    with pytest.raises(ValueError, match="pca: unknown stream 'colour'"):
        StreamEnsemble(pca={"colour": 2})
    for bad in (0, 2.5, True):
        with pytest.raises(ValueError, match="whole number of components >= 1"):
            StreamEnsemble(pca={"velocity": bad})


def test_more_components_than_the_stream_has_warns_and_keeps_all(recwarn):
    """velocity=4 on a 1-d stream (objects:ped2's velocity): the run goes on with the one
    dimension, and a warning names the stream, the 4 asked and the 1 it has; 2 components of
    2-d rows reduce nothing either but are what was asked: no warning. 4 components of 5-d
    rows but 3 training objects: the 2 directions they span kept, a reduction, not warned (a short
    training set is not warned about the `frames` extractor's default 128)."""
    train = {"a": video(velocity=[[0.0], [2.0]]), "b": video(velocity=[[10.0], [12.0]])}
    with pytest.warns(UserWarning, match=r"pca velocity=4: the velocity stream has 1 "
                      r"dimension, fewer than the 4 principal components asked: it keeps at "
                      r"most its 1, as many as its training objects span"):
        ens = StreamEnsemble(DistanceToMean, pca={"velocity": 4}).fit(train)
    assert ens.fits_[Stream.VELOCITY].model.components_.shape == (1, 1)
    recwarn.clear()
    StreamEnsemble(DistanceToMean, pca={"velocity": 2}).fit(
        {"a": flat([(0, 0), (4, 0)]), "b": flat([(10, 1), (10, 5)])})
    assert not [w for w in recwarn if "pca" in str(w.message)]
    def wide(row):  # one 5-d object in one frame
        return VideoFeatures.of({Stream.VELOCITY: ObjectFeatures.build(
            np.array([row], dtype=float), [0], [(0, 0, 1, 1)], 1, 5)})

    wide = {"a": wide([0, 1, 2, 3, 4]), "b": wide([5, 1, 2, 3, 9]), "c": wide([1, 0, 0, 0, 0])}
    recwarn.clear()
    ens = StreamEnsemble(DistanceToMean, pca={"velocity": 4}).fit(wide)
    assert not [w for w in recwarn if "pca" in str(w.message)]
    assert ens.fits_[Stream.VELOCITY].model.components_.shape == (2, 5)  # 3 rows span 2


def test_constant_features_are_said_in_a_videos_words_naming_the_stream():
    """MULDE's warning about features with one value in every training sample, as a run
    shows it: the stream, how many of its values never change over the training objects,
    the first one, what that does and when it is fine."""
    train = _videos([30, 30], d=3)
    for vf in train.values():
        vf[Stream.VELOCITY].features[:, 2] = 0.5
    with pytest.warns(UserWarning) as caught:
        StreamEnsemble("mulde", mulde_params={"hidden_sizes": (8, 8), "max_steps": 5,
                                              "batch_size": 32}, progress=False).fit(train)
    said = [str(w.message) for w in caught if "feature values" in str(w.message)]
    assert said == [
        "velocity stream: 1 of its 3 feature values is the same for every training object "
        "(feature 2, counting from 0: its flow towards 240 degrees (orientation bin 2 of 3; 0 "
        "rightwards, 90 downwards)), so a test object whose value there differs "
        "scores as more unusual. Expected when the normal video never varies there (e.g. a "
        "direction nobody moves in); if normal activity varies in ways the training video "
        "does not show, train on more of it"]
    assert not [w for w in caught if "column" in str(w.message)]
    from mulde.estimator.model import ConstantFeaturesWarning
    from mulde.vad.ensemble import _for_a_stream

    assert _for_a_stream(ConstantFeaturesWarning(5, 8, 1)).startswith(
        "5 of its 8 feature values are the same for every training object (the first is "
        "feature 1, counting from 0)")
    assert "(feature 0, counting from 0: its area in cells)" in _for_a_stream(
        ConstantFeaturesWarning(1, 3, 0), "static")


def test_a_fit_job_names_its_stream_unless_it_fits_principal_components():
    """A constant-feature warning names the stream's own column (`feature_label`); a stream
    reduced by PCA fits components, which have no such name."""
    from mulde.vad.stream_models import WithPCA

    data = (np.zeros((4, 3)), np.arange(4), False, None)
    ens = StreamEnsemble("mulde", progress=False)
    assert {j.stream for j in ens._jobs(lambda: None, data, Stream.VELOCITY)} == {"velocity"}
    assert {j.stream for j in ens._jobs(WithPCA(lambda: None, 2), data,
                                        Stream.VELOCITY)} == {None}


def test_constant_features_are_said_for_the_saved_model_not_its_calibration_refits():
    """With out-of-fold calibration each refit sees part of the videos, where a feature can
    be constant that varies over all of them: only the full fit's count is said, once."""
    params = {"hidden_sizes": (8, 8), "max_steps": 5, "batch_size": 32}
    train = _videos([30, 30], d=3)
    train["v0"][Stream.VELOCITY].features[:, 2] = 0.5  # constant within each video only
    train["v1"][Stream.VELOCITY].features[:, 2] = 1.5
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        StreamEnsemble("mulde", mulde_params=params, progress=False,
                       calibration_folds=2).fit(train)
    assert not [w for w in caught if "feature values" in str(w.message)]
    train["v1"][Stream.VELOCITY].features[:, 2] = 0.5  # now constant over all: said once
    train["v1"][Stream.VELOCITY].features[:, 1] = 0.25  # and constant in fold 0's refit
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        StreamEnsemble("mulde", mulde_params=params, progress=False,
                       calibration_folds=2).fit(train)
    said = [str(w.message) for w in caught if "feature values" in str(w.message)]
    assert len(said) == 1 and said[0].startswith("velocity stream: 1 of its 3 feature values "
                                                 "is the same for every training object "
                                                 "(feature 2,")


def test_a_stream_of_few_training_objects_is_said_once_in_its_words():
    """MULDE's FewSamplesWarning as a run shows it: the stream and its object count, from
    the full fit only (the calibration refits, on fewer objects, would give other counts)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        StreamEnsemble("mulde", mulde_params={"hidden_sizes": (8,), "max_steps": 2},
                       progress=False, calibration_folds=2).fit(_videos([4, 4]))
    said = [str(w.message) for w in caught if "training object" in str(w.message)]
    assert said == ["velocity stream: only 8 training objects, fewer than 10: its model is "
                    "fitted without validation and says little about new objects; train on "
                    "more normal video"]


def test_a_sidak_stream_corrects_each_frame_maximum_for_its_object_count():
    """Videos a = [0, 2], b = [10, 12] in-sample with DistanceToMean (mean 6): training object
    scores [6, 4, 4, 6]; p(s) = (1 + #{>= s}) / 5. Training frames: 6 -> p 0.6, -log 0.6;
    4 -> p 1, 0. Test frame 0 holds 13 and 6 (scores 7 and 0: p_min 0.2, k 2): -log(1 -
    0.8^2); frame 1 none: 0. Calibration on the training frames (low 0, high ~ -log 0.6)."""
    from mulde.vad.fusion import sidak_frames

    train = {"a": video(velocity=[[0.0], [2.0]]), "b": video(velocity=[[10.0], [12.0]])}
    ens = StreamEnsemble(DistanceToMean, sidak=["velocity"]).fit(train)
    fit = ens.fits_[Stream.VELOCITY]
    np.testing.assert_array_equal(fit.reference, [4.0, 4.0, 6.0, 6.0])
    np.testing.assert_allclose(np.concatenate(fit.train_frames),
                               [-np.log(0.6), 0.0, 0.0, -np.log(0.6)], rtol=1e-12)
    raw = ens.score_video(video(velocity=[[13.0, 6.0], []])).streams[Stream.VELOCITY]
    expected = sidak_frames([7.0, 0.0], [0, 0], 2, [6.0, 4.0, 4.0, 6.0])
    np.testing.assert_allclose(expected, [-np.log(1 - 0.8 ** 2), 0.0], rtol=1e-12)
    np.testing.assert_allclose(raw, fit.calibration.transform(expected), rtol=1e-12)
    # the other streams keep the maximum
    assert StreamEnsemble(DistanceToMean).fit(train).fits_[Stream.VELOCITY].reference is None


def test_sidak_must_name_known_fitted_streams():
    train = {"a": video(velocity=[[0.0], [2.0]])}
    with pytest.raises(ValueError, match="sidak: unknown stream 'nose'"):
        StreamEnsemble(DistanceToMean, sidak=["nose"])
    with pytest.raises(ValueError, match="sidak names the pose stream, which is not fitted"):
        StreamEnsemble(DistanceToMean, sidak=["pose"]).fit(train)


def test_sidak_refuses_a_calibration_on_object_scores():
    """calibrate_on="objects" fits the calibration on the energies of the objects, but a
    Sidak stream's frame scores are -log of a probability: the two scales do not meet (with
    DistanceToMean on [0, 2 | 10, 12], objects 4..6 against frames 0..0.51)."""
    with pytest.raises(ValueError, match="sidak needs calibrate_on='frames'"):
        StreamEnsemble(DistanceToMean, calibrate_on="objects", sidak=["velocity"])


def test_a_sidak_streams_top_object_is_ranked_on_its_frame_scores_scale():
    """The calibration of a Sidak stream is fitted on Sidak frame scores (0 .. -log 0.6 on
    the training videos of the test above), so the top object's calibrated score must be
    on that scale too: in test frame 0 (13 and 6, k 2) the object at 13 is the top one and
    its calibrated score is the stream's calibrated frame score, -log(1 - 0.8^2) mapped,
    not the raw distance 7 mapped (about 14)."""
    train = {"a": video(velocity=[[0.0], [2.0]]), "b": video(velocity=[[10.0], [12.0]])}
    ens = StreamEnsemble(DistanceToMean, sidak=["velocity"]).fit(train)
    scores = ens.score_video(video(velocity=[[13.0, 6.0], [], [6.0]]))
    frame = scores.streams[Stream.VELOCITY]
    np.testing.assert_allclose(scores.top.score[[0, 2]], frame[[0, 2]], rtol=1e-12)
    assert scores.top.stream[0] == "velocity" and np.isinf(scores.top.score[1])


class SaysConstant(DistanceToMean):
    """DistanceToMean that warns as MULDE does about constant columns, with the count of
    its own training rows, so the model and each refit say something different."""

    def fit(self, X, groups=None):
        import warnings

        warnings.warn(f"a column is constant ({len(X)} rows)", UserWarning, stacklevel=2)
        warnings.warn("the same every time", UserWarning, stacklevel=2)
        return super().fit(X, groups)


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_a_fits_warnings_name_their_stream_once_each_in_this_process(n_jobs):
    """A model's warnings during the model fit and its 2 refits (also in worker processes,
    whose warnings would otherwise be printed there, unnamed) come back once each, naming
    the stream. They travel as a list through the fit, not as the ensemble's state: a
    second fit of the same ensemble says them once each again, and nothing is left behind."""
    train = {"a": video(velocity=[[0.0], [2.0]]), "b": video(velocity=[[10.0], [12.0]])}
    ens = StreamEnsemble(SaysConstant, calibration_folds=2, n_jobs=n_jobs)
    expected = ["velocity stream: a column is constant (2 rows)",
                "velocity stream: a column is constant (4 rows)",
                "velocity stream: the same every time"]
    for _ in range(2):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")  # each fit's, not only the first's
            ens.fit(train)
        said = sorted(str(w.message) for w in caught if "constant" in str(w.message)
                      or "same" in str(w.message))
        assert said == expected
    assert not [name for name in vars(ens) if "said" in name]


class Foreign(UserWarning):
    """A warning class of neither mulde nor Python: it comes back as a `UserWarning`."""


class SaysItsClasses(FirstFeature):
    """FirstFeature that warns with mulde's own classes (one whose constructor takes a
    message, one that takes counts) and a foreign one."""

    def fit(self, X, groups=None):
        from mulde.estimator.model import FewSamplesWarning
        from mulde.vad.fusion import CalibrationWarning

        warnings.warn(CalibrationWarning("mulde's own class"), stacklevel=2)
        warnings.warn(FewSamplesWarning(len(X), 10), stacklevel=2)
        warnings.warn(Foreign("a foreign class"), stacklevel=2)
        return super().fit(X, groups)


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_a_fits_warnings_keep_their_class_in_this_process_and_from_a_worker(n_jobs):
    """The warnings come out as the class the fit raised them with (a foreign class as
    `UserWarning`), so a filter by category works on them; the spike warning is a
    `CalibrationSpikeWarning`. `fit_warnings_` keeps them, for the saved model."""
    from mulde.estimator.model import FewSamplesWarning
    from mulde.vad.fit_warnings import warning_category
    from mulde.vad.fusion import CalibrationSpikeWarning, CalibrationWarning

    glitch = video(velocity=[[1.5]] * 20 + [[1e6]] + [[1.5]] * 29)
    train = {"a": video(velocity=RAMP), "b": glitch}
    ens = StreamEnsemble(SaysItsClasses, calibration_folds=2, n_jobs=n_jobs)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ens.fit(train)
    said = {str(w.message)[:40]: w.category for w in caught}
    assert said == {"velocity stream: mulde's own class": CalibrationWarning,
                    "velocity stream: only 200 training objec": FewSamplesWarning,
                    "velocity stream: a foreign class": UserWarning,
                    "velocity stream: a few training frames s": CalibrationSpikeWarning}
    assert [(w.message[:40], warning_category(w.category)) for w in ens.fit_warnings_] == list(
        said.items())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.filterwarnings("ignore", category=FewSamplesWarning)
        warnings.filterwarnings("ignore", category=CalibrationSpikeWarning)
        ens.fit(train)
    assert sorted(w.category.__name__ for w in caught) == ["CalibrationWarning", "UserWarning"]


def _spike_warnings(train, **options):
    from mulde.vad.fusion import CalibrationSpikeWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        StreamEnsemble(FirstFeature, **options).fit(train)
    spikes = [w for w in caught if "far above" in str(w.message)]
    assert all(w.category is CalibrationSpikeWarning for w in spikes)
    return [str(w.message) for w in spikes]


RAMP = [[float(v)] for v in np.linspace(1.0, 2.0, 150)]


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_a_calibration_set_by_a_glitch_frame_is_said_naming_its_video_and_frame(n_jobs):
    """A training video's one outlying frame (a decoding glitch) that sets the stream's 99.9th
    percentile is named in the fit's warning (`calibration_spikes`), with out-of-fold
    calibration and in worker processes too; a calibration on the bulk says nothing."""
    glitch = video(velocity=[[1.5]] * 20 + [[1e6]] + [[1.5]] * 29)
    train = {"train/a": video(velocity=RAMP), "train/b": glitch}
    said = _spike_warnings(train, calibration_folds=2, n_jobs=n_jobs)
    assert len(said) == 1 and said[0].startswith("velocity stream: a few training frames")
    assert "train/b frame 20 (1e+06), frames counted from 0; a frame's motion is" in said[0]
    assert not _spike_warnings({"train/a": video(velocity=RAMP)})


def test_the_spike_warning_counts_past_three_and_names_motion_for_velocity_only():
    spikes = [[1.5]] * 20 + [[1e6], [2e6], [3e6], [4e6]] + [[1.5]] * 26
    said = _spike_warnings({"a": video(static=RAMP), "b": video(static=spikes)})
    assert len(said) == 1 and said[0].startswith("static stream: ")
    assert "3 of 4: b frame 23 (4e+06), b frame 22 (3e+06), b frame 21 (2e+06), " in said[0]
    assert "motion" not in said[0]


def test_a_calibration_on_object_scores_is_not_checked_for_spikes():
    glitch = video(velocity=[[1.5]] * 20 + [[1e6]] + [[1.5]] * 29)
    train = {"a": video(velocity=RAMP), "b": glitch}
    assert _spike_warnings(train)
    assert not _spike_warnings(train, calibrate_on="objects")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads Linux's /proc")
def test_fit_workers_end_when_the_run_is_killed(tmp_path):
    """A run killed with SIGKILL (no clean-up runs) takes its fit workers with it: each worker
    watches its parent's pipe and exits when it closes (a reviewer found them left running)."""
    script = tmp_path / "parent.py"
    script.write_text(
        "import os, time\n"
        "from mulde.vad.ensemble import _workers\n"
        "if __name__ == '__main__':\n"
        "    with _workers(1) as pool:\n"
        "        print(pool.submit(os.getpid).result(), flush=True)\n"
        "        pool.submit(time.sleep, 600)\n"
        "        time.sleep(600)\n")
    parent = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        worker = int(parent.stdout.readline())
        os.kill(worker, 0)  # running
    finally:
        parent.kill()
        parent.wait()
    def running() -> bool:  # a zombie (ended, not yet reaped by its new parent) has ended
        try:
            return Path(f"/proc/{worker}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
        except OSError:
            return False

    for _ in range(200):  # the kernel signals at once; allow a loaded machine 10 s
        if not running():
            return
        time.sleep(0.05)
    os.kill(worker, signal.SIGKILL)
    pytest.fail(f"worker {worker} outlived its killed parent")


@pytest.mark.skipif(sys.platform == "win32", reason="process groups are POSIX")
def test_ctrl_c_to_the_process_group_ends_the_fits_quietly(tmp_path):
    """A terminal's Ctrl-C reaches every process of the group: the workers ignore it and the
    parent, interrupted, ends them and cancels the fits not started (an idle worker had
    printed a traceback of its own, and the pool had run every fit left to its end). Two of
    three workers sleep in long jobs, so only ending them lets the parent finish."""
    script = tmp_path / "parent.py"
    script.write_text(
        "import faulthandler, os, signal, sys, time\n"
        "from mulde.vad.ensemble import _completed, _workers\n"
        "if __name__ == '__main__':\n"
        "    # as a terminal's Python has it: a shell without job control starts a\n"
        "    # background command (pytest in CI, say) with Ctrl-C ignored, which is inherited\n"
        "    signal.signal(signal.SIGINT, signal.default_int_handler)\n"
        "    try:\n"
        "        with _workers(3) as pool:\n"
        "            pids = [f.result() for f in [pool.submit(os.getpid) for _ in range(3)]]\n"
        "            jobs = [pool.submit(time.sleep, 600) for _ in range(4)]\n"
        "            time.sleep(1)\n"
        "            # a parent still here 50 s after the Ctrl-C prints its threads' stacks\n"
        "            # (the test shows them) and ends: the hang seen once in CI, unexplained\n"
        "            faulthandler.dump_traceback_later(50, exit=True)\n"
        "            print(*sorted(set(pids)), flush=True)\n"
        "            for _ in _completed(jobs):  # as the fits are waited for\n"
        "                pass\n"
        "    except KeyboardInterrupt:\n"
        "        print('interrupted', flush=True)\n")
    parent = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, start_new_session=True,
                              restore_signals=True)
    try:
        workers = [int(pid) for pid in parent.stdout.readline().split()]
        assert workers and all(os.kill(pid, 0) is None for pid in workers)  # running
        os.killpg(parent.pid, signal.SIGINT)
        out, err = parent.communicate(timeout=60)  # the jobs alone would take 10 minutes
    finally:
        if parent.poll() is None:
            os.killpg(parent.pid, signal.SIGKILL)
            parent.wait()
    # the status and stderr with the output: a whole-suite run (stop 87, -n 2) once got no
    # output, and the message did not say how the parent had ended
    assert (out, parent.returncode) == ("interrupted\n", 0), err
    assert "Traceback" not in err and "leaked" not in err, err


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the fork server is Linux's")
def test_a_ctrl_c_while_the_fork_server_imports_is_not_held_back(tmp_path):
    """The first pool of a process waits for the fork server's imports (seconds); a Ctrl-C
    then ends the wait at once, quietly, not when the server is ready: the parent had
    waited inside its first submission, with SIGINT blocked. A module the server imports
    for two minutes stands for PyTorch's seconds."""
    (tmp_path / "slow_import.py").write_text("import time\ntime.sleep(120)\n")
    script = tmp_path / "parent.py"
    script.write_text(
        "import os, signal\n"
        "import mulde.vad.ensemble as ensemble\n"
        "start = ensemble._start_method\n"
        "def slow_server():\n"
        "    context = start()\n"
        "    context.set_forkserver_preload(['mulde.vad.ensemble', 'slow_import'])\n"
        "    return context\n"
        "ensemble._start_method = slow_server\n"
        "if __name__ == '__main__':\n"
        "    signal.signal(signal.SIGINT, signal.default_int_handler)\n"
        "    print('starting', flush=True)\n"
        "    try:\n"
        "        with ensemble._workers(1) as pool:\n"
        "            with ensemble._sigint_blocked():\n"
        "                job = pool.submit(os.getpid)\n"
        "            job.result()\n"
        "    except KeyboardInterrupt:\n"
        "        print('interrupted', flush=True)\n")
    # the server's sys.path is its own: Python 3.10-3.13 take the parent's for __main__ only
    path = os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])
    parent = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, start_new_session=True,
                              env={**os.environ, "PYTHONPATH": path})
    # ends the parent and the server if still there in a minute (the server, still
    # importing, holds the pipes: the output is read line by line, not to its end)
    watchdog = threading.Timer(60, os.killpg, (parent.pid, signal.SIGKILL))
    watchdog.start()
    try:
        assert parent.stdout.readline() == "starting\n"
        time.sleep(1)  # the server is importing slow_import
        os.killpg(parent.pid, signal.SIGINT)
        said = parent.stdout.readline()  # the server is ready in 2 minutes
        parent.wait()
    finally:
        watchdog.cancel()
        try:
            os.killpg(parent.pid, signal.SIGKILL)  # the server, still importing
        except ProcessLookupError:
            pass
        parent.wait()
    err = parent.stderr.read()
    assert said == "interrupted\n" and parent.returncode == 0, err
    assert "Traceback" not in err, err


def test_a_module_in_the_working_folder_named_as_a_library_is_no_fit_workers_concern(
        tmp_path):
    """`python -c`, the fork server's command line, puts the working folder first on its
    sys.path, and the server imports PyTorch and scikit-learn: a tqdm.py where `mulde run`
    was started had ended it (its traceback, then the pool's EOFError), where spawned
    workers had fitted. The workers see this process's PYTHONSAFEPATH (none here)."""
    work = tmp_path / "work"
    work.mkdir()
    (work / "tqdm.py").write_text("raise RuntimeError('not the tqdm the fits use')\n")
    script = tmp_path / "parent.py"
    script.write_text(
        "import os\n"
        "from mulde.vad.ensemble import _workers\n"
        "if __name__ == '__main__':\n"
        "    with _workers(1) as pool:\n"
        "        print(pool.submit(os.getenv, 'PYTHONSAFEPATH', 'none').result())\n")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONSAFEPATH"}
    done = subprocess.run([sys.executable, str(script)], cwd=work, env=env,
                          capture_output=True, text=True, timeout=120)
    assert (done.stdout, done.returncode) == ("none\n", 0), done.stderr
    assert "Traceback" not in done.stderr, done.stderr


def test_fit_workers_start_from_a_fork_server_on_linux_alone(monkeypatch):
    """Forked from a server on Linux (Python 3.11 and later, `_working_folder_off_the_path`);
    spawned on macOS (a fork after its system libraries loaded can crash, bpo-33725) and
    Windows."""
    from mulde.vad.ensemble import _start_method

    if "forkserver" in multiprocessing.get_all_start_methods():
        monkeypatch.setattr(sys, "platform", "linux")
        expected = "forkserver" if sys.version_info >= (3, 11) else "spawn"
        assert _start_method().get_start_method() == expected
    for platform in ("darwin", "win32"):
        monkeypatch.setattr(sys, "platform", platform)
        assert _start_method().get_start_method() == "spawn"


def test_a_ctrl_c_another_thread_received_ends_the_wait_for_the_fits(tmp_path):
    """The kernel may hand a process's SIGINT to any thread not blocking it, and Python then
    runs the handler only once the main thread's blocking wait returns: waiting for fits
    that sleep ten minutes with as_completed, the parent ignored a Ctrl-C the pool's manager
    thread received (the hang seen once in CI); `_completed` wakes to act on it."""
    script = tmp_path / "parent.py"
    script.write_text(
        "import signal, threading, time\n"
        "from mulde.vad.ensemble import _completed, _workers\n"
        "if __name__ == '__main__':\n"
        "    signal.signal(signal.SIGINT, signal.default_int_handler)\n"
        "    try:\n"
        "        with _workers(1) as pool:\n"
        "            jobs = [pool.submit(time.sleep, 600)]\n"
        "            other = next(t for t in threading.enumerate()\n"
        "                         if t is not threading.main_thread())\n"
        "            kill = (other.ident, signal.SIGINT)\n"
        "            threading.Timer(1, signal.pthread_kill, kill).start()\n"
        "            for _ in _completed(jobs):\n"
        "                pass\n"
        "    except KeyboardInterrupt:\n"
        "        print('interrupted', flush=True)\n")
    parent = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = parent.communicate(timeout=60)  # the job alone would take 10 minutes
    finally:
        if parent.poll() is None:
            os.killpg(parent.pid, signal.SIGKILL)
            parent.wait()
    assert out == "interrupted\n" and parent.returncode == 0, err


def test_completed_gives_each_future_once_as_it_finishes():
    from concurrent.futures import ThreadPoolExecutor

    from mulde.vad.ensemble import _completed

    gates = [threading.Event() for _ in range(3)]
    with ThreadPoolExecutor(3) as pool:
        futures = [pool.submit(gate.wait) for gate in gates]
        finished = _completed(futures)
        seen = []
        for k in (2, 0, 1):
            gates[k].set()
            seen.append(next(finished))
        assert seen == [futures[2], futures[0], futures[1]]
        assert next(finished, None) is None
    assert list(_completed(futures)) == futures  # finished together: in the order given
    assert list(_completed([])) == []


def test_distinct_frames_points_every_row_to_the_first_of_its_run_in_its_video():
    from mulde.vad.ensemble import distinct_frames

    a, b = [1.0, 2.0], [3.0, 4.0]
    X = np.array([a, a, b, b, b, a])
    groups = np.array([0, 0, 0, 0, 1, 1])  # row 4 repeats row 3 in another video: kept
    assert distinct_frames(X, groups).tolist() == [0, 0, 2, 2, 4, 5]
    assert distinct_frames(X[:1], groups[:1]).tolist() == [0]


@given(st.lists(st.tuples(st.integers(0, 2), st.integers(1, 4)), min_size=1, max_size=12))
@settings(max_examples=40, deadline=None)
def test_distinct_frames_undoes_any_repetition(runs):
    """Runs of copies (value, length) rebuild the rows exactly from the distinct ones."""
    from mulde.vad.ensemble import distinct_frames

    X = np.array([[float(v)] for v, n in runs for _ in range(n)])
    groups = np.zeros(len(X), int)
    objects = distinct_frames(X, groups)
    keep = np.unique(objects)
    np.testing.assert_array_equal(X[keep][np.searchsorted(keep, objects)], X)
    assert (np.diff(objects) >= 0).all()
    assert all(X[i - 1, 0] != X[i, 0] for i in keep[1:])


def _strided_frames(n_videos=4, n=30, stride=3, dim=4, seed=0):
    """Frame-stream features of the shape a strided `FrameCentricExtractor` gives: runs of
    `stride` frames sharing one window's features, and the last frame its own window (a
    centre too, as offline)."""
    rng = np.random.default_rng(seed)
    out = {}
    for v in range(n_videos):
        windows = rng.normal(size=(-(-n // stride), dim)).astype(np.float32)
        feats = np.repeat(windows, stride, axis=0)[:n]
        feats[-1] = rng.normal(size=dim)
        out[f"v{v}"] = VideoFeatures.of({Stream.FRAME: ObjectFeatures.build(
            feats, np.arange(n), np.tile([0, 0, 8, 8], (n, 1)), n, dim)})
    return out


def test_a_strided_frame_stream_is_fitted_on_its_distinct_windows():
    """Each window once (a newcomer found stride 4 fitting every window 4 times, copies in
    the validation rows so that early stopping never fired); every training frame still gets
    its out-of-fold score, the same as its window's."""
    train = _strided_frames()
    ensemble = StreamEnsemble("knn", calibration_folds=2).fit(train)
    fit = ensemble.fits_[Stream.FRAME]
    assert fit.train_objects == 4 * 11  # 10 windows of 3 frames per 30-frame video, and
    assert [len(s) for s in fit.train_frames] == [30] * 4  # the last frame's own window
    first = [0, 3, 6, 9, 12, 15, 18, 21, 24, 27, 29]  # the first frame of each window
    for scores in fit.train_frames:
        np.testing.assert_array_equal(scores[:27], np.repeat(scores[:27:3], 3))
        assert scores[27] == scores[28]
    once = {name: VideoFeatures.of({Stream.FRAME: ObjectFeatures.build(
        vf[Stream.FRAME].features[first], np.arange(11), np.tile([0, 0, 8, 8], (11, 1)), 11,
        4)}) for name, vf in train.items()}
    alone = StreamEnsemble("knn", calibration_folds=2).fit(once).fits_[Stream.FRAME]
    for scores, window in zip(fit.train_frames, alone.train_frames, strict=True):
        np.testing.assert_array_equal(scores[first], window)


def test_a_strided_frame_streams_cap_counts_and_draws_its_distinct_windows():
    """`max_train_objects` counts the windows, not the frames: 44 windows under a cap of 100
    (120 frames) are all fitted, not a subsample; a cap of 20 draws 20 distinct windows."""
    train = _strided_frames()
    whole = StreamEnsemble("knn", max_train_objects=100)
    data = whole._stream_data(train, Stream.FRAME, 0)
    assert (len(data.X), data.subsampled, len(data.objects)) == (44, False, 120)
    drawn = StreamEnsemble("knn", max_train_objects=20)._stream_data(train, Stream.FRAME, 0)
    assert (len(drawn.X), drawn.subsampled, drawn.objects) == (20, True, None)
    assert len(np.unique(drawn.X, axis=0)) == 20
    fit = StreamEnsemble("knn", max_train_objects=20).fit(train).fits_[Stream.FRAME]
    assert fit.train_objects == 20 and [len(s) for s in fit.train_frames] == [30] * 4


# ------------------------------------------------------------------ objects MULDE refuses


def _far_out(n_far: int, seed: int) -> VideoFeatures:
    """A velocity stream of 12 two-feature objects whose feature 1 barely varies (0 or 1e-30),
    but for the last `n_far`, which hold 1e10 there: beyond float32 once scaled by the
    1e-31 deviation of a fit that never saw them."""
    X = np.random.default_rng(seed).normal(size=(12, 2))
    X[:, 1] = np.where(np.arange(12) % 2, 1e-30, 0.0)
    X[12 - n_far:, 1] = 1e10
    return VideoFeatures.of({Stream.VELOCITY: ObjectFeatures.build(
        X, np.arange(12), [(0, 0, 1, 1)] * 12, 12, 2)})


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_objects_mulde_refuses_are_said_of_their_stream_and_videos(n_jobs):
    """A calibration refit fitted on videos where a feature barely varies refuses the held-out
    videos' objects far out there (OutOfRangeRowsError): said with rows of the stream's
    stacked objects and no stream or video, whatever the worker process it ran in."""
    from fakes import FAST

    from mulde.estimator.model import OutOfRangeRowsError

    # folds: t0, t2 (fold 0) and t1, t3 (fold 1); the refit on fold 0 scores fold 1
    train = {"t0": _far_out(0, 0), "t1": _far_out(2, 1), "t2": _far_out(0, 2),
             "t3": _far_out(3, 3)}
    ens = StreamEnsemble("mulde", mulde_params=dict(FAST), calibration_folds=2, n_jobs=n_jobs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(OutOfRangeRowsError) as err:
            ens.fit(train)
    assert str(err.value) == (
        "velocity stream: 2 object(s) of training video t1 (and 3 of 1 other video) lie "
        "beyond the float32 range once standardised with the training mean and scale; such "
        "values mean damaged features, or a feature that barely varies over the training "
        "objects it is scaled by: check that video's features, or leave the video out")
    assert err.value.rows.tolist() == [22, 23, 45, 46, 47]  # of the 48 stacked objects


def test_test_objects_mulde_refuses_are_said_of_their_stream_and_video():
    from fakes import FAST

    from mulde.estimator.model import OutOfRangeRowsError

    ens = StreamEnsemble("mulde", mulde_params=dict(FAST), calibration_folds=None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ens.fit({"t0": _far_out(0, 0), "t1": _far_out(0, 1)})
    with pytest.raises(OutOfRangeRowsError, match=r"^velocity stream: 4 object\(s\) of video "
                                                  r"new lie beyond the float32 range"):
        ens.score({"new": _far_out(4, 2)})
    with pytest.raises(OutOfRangeRowsError, match=r"^velocity stream: 1 object\(s\) of the "
                                                  r"video lie beyond"):
        ens.score_video(_far_out(1, 3))


def test_a_streams_fits_are_taken_in_fold_order_whatever_order_they_finished_in():
    """Worker processes finish in any order; the warnings (saved in the manifest, under its
    digest) are taken from the model on all objects first, then fold by fold."""
    from mulde.vad.ensemble import FitResult, in_fold_order
    from mulde.vad.fit_warnings import FitWarning

    def result(name):
        return FitResult(None, None, 0.0, (FitWarning(name),))

    done = {2: result("fold 2"), None: result("all"), 0: result("fold 0"), 1: result("fold 1")}
    assert [r.warnings[0].message for r in in_fold_order(done)] == [
        "all", "fold 0", "fold 1", "fold 2"]


def test_nan_or_inf_features_are_said_of_their_stream_and_video():
    """Damaged features (NaN, or inf: 1e300 stored as float32) are refused naming the
    stream and the video, in training and in scoring, not rows of a stacked matrix (a
    reviewer's case: the model's own refusal counted those)."""
    damaged = _far_out(0, 1)
    damaged[Stream.VELOCITY].features[[3, 5], 0] = np.inf
    train = {"t0": _far_out(0, 0), "t1": damaged, "t2": _far_out(0, 2)}
    with pytest.raises(ValueError, match=r"^velocity stream: 2 object\(s\) of training video "
                                         r"t1 hold NaN or inf features"):
        StreamEnsemble("knn", calibration_folds=None).fit(train)
    ens = StreamEnsemble("knn", calibration_folds=None).fit(
        {"t0": _far_out(0, 0), "t2": _far_out(0, 2)})
    damaged[Stream.VELOCITY].features[3, 1] = np.nan
    with pytest.raises(ValueError, match=r"^velocity stream: 2 object\(s\) of video t1 hold "
                                         r"NaN or inf"):
        ens.score({"t1": damaged})


def test_a_script_fitting_in_workers_without_the_main_guard_is_told_so(tmp_path):
    """A script that fits with n_jobs > 1 at its top level, without the `if __name__ ==
    "__main__":` guard, is imported by each worker, which then starts workers of its own and
    fails as it starts: said as that, with the guard to add, not as a worker ended from
    outside for want of memory (a newcomer's script, stop 85)."""
    script = tmp_path / "unguarded.py"
    script.write_text(
        "import numpy as np\n"
        "from mulde.vad.ensemble import FitWorkerError, StreamEnsemble\n"
        "from mulde.video.features.records import ObjectFeatures, Stream, VideoFeatures\n"
        "def video(values):\n"
        "    record = ObjectFeatures.build(np.reshape(values, (-1, 1)), list(range(len(values))),\n"
        "                                  [(0, 0, 1, 1)] * len(values), len(values), 1)\n"
        "    return VideoFeatures.of({Stream.VELOCITY: record})\n"
        "train = {'a': video([0.0, 1.0, 2.0]), 'b': video([3.0, 4.0, 5.0])}\n"
        "try:\n"
        "    StreamEnsemble('knn', calibration_folds=2, n_jobs=2).fit(train)\n"
        "except FitWorkerError as err:\n"
        "    print('said:', err, flush=True)\n")
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True,
                          text=True, timeout=300)
    said = [line for line in done.stdout.splitlines() if line.startswith("said:")]
    assert len(said) == 1, (done.stdout, done.stderr)
    assert 'if __name__ == "__main__":' in said[0] and "memory" not in said[0], said[0]


class _Ended:
    """A pool process as `_failed_as_started` reads it: joined, then its exit code."""

    def __init__(self, exitcode):
        self.exitcode = exitcode

    def join(self, timeout=None):
        pass


@pytest.mark.parametrize(("codes", "expected"), [
    ([1, 1], True),  # each raised as it started
    ([1, None], True),  # one raised, one still ending
    ([1, -15], True),  # one raised, the pool ended the other (SIGTERM)
    ([-9, 1], False),  # a SIGKILL among them (the out-of-memory killer's): from outside
    ([-15, -9], False),
    ([0, None], False),  # none ended with an error of its own
    ([], False),
])
def test_failed_as_started_reads_the_exit_codes(codes, expected):
    from mulde.vad.ensemble import _failed_as_started

    assert _failed_as_started([_Ended(c) for c in codes]) is expected
