"""Live scoring (mulde.vad.live, mulde.video.features.online): the online features and scores
are the offline ones, and the causal smoothing filter."""

from dataclasses import replace

import numpy as np
import pytest
from fakes import FAST
from hypothesis import given
from hypothesis import strategies as st

from mulde.demo.scene import generate_scene
from mulde.vad.ensemble import StreamEnsemble
from mulde.vad.live import CausalSmoother, LiveScorer, causal_gaussian_weights, causal_smooth
from mulde.video.features.online import OnlineObjectExtractor, frames_to_features
from mulde.video.features.registry import build_extractor
from mulde.video.source import Video, VideoMismatchError


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    """The demo scene (2 training videos, a test video with a runner and a wrong-way walker)
    and the default extractor with the scene background as region background."""
    folder = tmp_path_factory.mktemp("live")
    root = generate_scene(folder / "scene", n_train=2, n_test=1, n_frames=50, seed=1)
    train = [Video(p.stem, p) for p in sorted((root / "train").glob("*.mp4"))]
    test = Video("test_01", root / "test" / "test_01.mp4")
    extractor = build_extractor("objects", settings={
        "region_background": "scene", "streams": ["velocity", "static", "geometry"]})
    return train, test, extractor.with_scene(train, folder)


def _online(extractor, frames):
    online = OnlineObjectExtractor(extractor)
    out = [f for frame in frames for f in online.push(frame)] + online.finish()
    assert [f.index for f in out] == list(range(len(frames)))
    return frames_to_features(out, online.dims), online


def _same(offline, live):
    assert set(offline) == set(live)
    for s in offline:
        a, b = offline[s], live[s]
        np.testing.assert_array_equal(a.features, b.features, err_msg=str(s))
        np.testing.assert_array_equal(a.frame_index, b.frame_index, err_msg=str(s))
        np.testing.assert_array_equal(a.boxes, b.boxes, err_msg=str(s))


@pytest.mark.parametrize("max_height", [None, 100])
def test_online_features_are_the_offline_ones_bit_for_bit(scene, max_height, tmp_path):
    train, test, extractor = scene
    if max_height is not None:  # frames downscaled to 150x100, the scene background too
        extractor = replace(extractor, max_height=max_height, scene_background=None)
        extractor = extractor.with_scene(train, tmp_path)
    frames = list(test.frames())
    live, online = _online(extractor, frames)
    assert online.exact
    offline = extractor.extract(test)
    _same(offline, live)
    if max_height is not None:
        assert offline["velocity"].boxes[:, 3].max() <= max_height


def test_memory_stays_bounded_by_the_flow_window(scene):
    _, test, extractor = scene
    online = OnlineObjectExtractor(extractor)
    b = extractor.flow_baseline
    for i, frame in enumerate(test.frames()):
        done = online.push(frame)
        assert [f.index for f in done] == ([i - b] if i >= b else [])
        assert len(online._grays) <= 2 * b + 1 and len(online._pending) <= b + 1


def test_the_per_video_median_background_is_exact_only_within_the_warm_up(scene):
    _, test, extractor = scene
    frames = list(test.frames())
    video_mode = replace(extractor, region_background="video", background_frames=len(frames))
    live, online = _online(video_mode, frames)
    assert online.exact
    _same(video_mode.extract(test), live)
    short = replace(video_mode, background_frames=10)  # the warm-up sees the first 10 only
    live, online = _online(short, frames)
    assert not online.exact  # offline: the median of all 50 frames, other regions
    offline = short.extract(test)["velocity"]
    assert not (offline.features.shape == live["velocity"].features.shape
                and np.array_equal(offline.features, live["velocity"].features))


def test_live_unsmoothed_scores_are_the_offline_scores(scene):
    train, test, extractor = scene
    ensemble = StreamEnsemble("mulde", mulde_params=FAST).fit(
        {v.name: extractor.extract(v) for v in train})
    offline = ensemble.score_video(extractor.extract(test))
    scorer = LiveScorer(extractor, ensemble, sigmas=3.0)
    scores = [s for frame in test.frames() for s in scorer.push(frame)] + scorer.finish()
    # the network sees the objects a few frames at a time live and all at once offline: in
    # float32 some CPUs' matrix kernels round the two batch sizes differently (1e-8 relative
    # on an AMD EPYC, bit-identical on an Intel Xeon), so the scores agree to float32
    # precision, not bit for bit
    same = {"rtol": 1e-6, "atol": 1e-9}
    np.testing.assert_allclose([s.score for s in scores], offline.fused, **same)
    np.testing.assert_allclose([s.smoothed for s in scores], causal_smooth(offline.fused, 3),
                               **same)
    for name, values in offline.streams.items():
        np.testing.assert_allclose([s.streams[name.value] for s in scores], values, **same)
    assert [s.stream for s in scores] == offline.top.stream
    np.testing.assert_array_equal(np.array([s.box for s in scores]), offline.top.box)
    assert all(s.latency >= 0 for s in scores)


def test_frames_of_the_empty_scene_are_said_without_objects(scene):
    """Frames of the learned scene background have no foreground: each object stream holds
    only the whole-frame object there (`LiveScore.empty`, which the below-calibration count
    leaves out); a frame where someone walks has velocity objects of its own."""
    import cv2

    train, test, extractor = scene
    ensemble = StreamEnsemble("knn").fit({v.name: extractor.extract(v) for v in train})
    empty = cv2.cvtColor(cv2.imread(extractor.scene_background), cv2.COLOR_BGR2RGB)
    frames = [empty] * 4 + list(test.frames())
    scorer = LiveScorer(extractor, ensemble)
    scores = [s for frame in frames for s in scorer.push(frame)] + scorer.finish()
    streams = {s.value for s in ensemble.streams}
    assert [s.empty for s in scores[:4]] == [streams] * 4
    assert any("velocity" not in s.empty for s in scores[4:])


def test_a_gap_restarts_the_features_and_frame_numbers_go_on(scene):
    train, test, extractor = scene
    ensemble = StreamEnsemble("knn").fit({v.name: extractor.extract(v) for v in train})
    frames = list(test.frames())
    first, second = frames[:20], frames[20:]
    scorer = LiveScorer(extractor, ensemble, sigmas=3.0)
    scores = [s for f in first for s in scorer.push(f)] + scorer.restart()
    scores += [s for f in second for s in scorer.push(f)] + scorer.finish()
    assert [s.index for s in scores] == list(range(len(frames)))
    for part, got in ((first, scores[:20]), (second, scores[20:])):  # each side on its own
        alone = ensemble.score_video(extractor.extract(part))
        np.testing.assert_array_equal([s.score for s in got], alone.fused)
        np.testing.assert_array_equal([s.smoothed for s in got], causal_smooth(alone.fused, 3))


def test_the_streams_smoothed_scores_are_the_shares_of_the_smoothed_score(scene):
    """Each stream's score through the same causal filter, started at an equal share of the
    start level (on both sides of a gap): they add up to the smoothed fused score, so the
    largest is the largest share of the score an event is found in."""
    train, test, extractor = scene
    ensemble = StreamEnsemble("knn").fit({v.name: extractor.extract(v) for v in train})
    frames = list(test.frames())
    scorer = LiveScorer(extractor, ensemble, sigmas=3.0, start=0.9)
    scores = [s for f in frames[:20] for s in scorer.push(f)] + scorer.restart()
    scores += [s for f in frames[20:] for s in scorer.push(f)] + scorer.finish()
    np.testing.assert_allclose([sum(s.smoothed_streams.values()) for s in scores],
                               [s.smoothed for s in scores], rtol=1e-12)
    n = len(ensemble.streams)
    for part, got in ((frames[:20], scores[:20]), (frames[20:], scores[20:])):
        alone = ensemble.score_video(extractor.extract(part))
        for stream, values in alone.streams.items():
            np.testing.assert_allclose([s.smoothed_streams[stream.value] for s in got],
                                       causal_smooth(values, 3, start=0.9 / n), rtol=1e-12)


def test_latency_counts_from_the_given_arrival_time(scene):
    train, test, extractor = scene
    ensemble = StreamEnsemble("knn").fit({v.name: extractor.extract(v) for v in train})
    scorer = LiveScorer(extractor, ensemble, sigmas=3.0)
    import time

    arrived = time.perf_counter() - 5.0  # read off the source 5 s ago: the scorer lags
    scores = [s for f in test.frames() for s in scorer.push(f, arrived)] + scorer.finish()
    assert all(s.latency >= 5.0 for s in scores)


def test_settings_that_cannot_run_live_are_refused(scene, tmp_path):
    _, _, extractor = scene
    boxes = tmp_path / "boxes"
    boxes.mkdir()
    with pytest.raises(ValueError, match="from files of recorded videos .regions='boxes'"):
        OnlineObjectExtractor(replace(extractor, regions="boxes", boxes_dir=str(boxes),
                                      max_height=None))
    with pytest.raises(ValueError, match="needs its scene background"):
        OnlineObjectExtractor(replace(extractor, scene_background=None))
    online = OnlineObjectExtractor(extractor)
    with pytest.raises(VideoMismatchError, match="frames are 8x8, but the model works on "):
        online.push(np.zeros((8, 8, 3), np.uint8))


def test_causal_weights_are_the_gaussian_half_by_hand():
    w = causal_gaussian_weights(1.0, truncate=2.0)  # radius int(2 * 1 + 0.5) = 2
    expected = np.array([1.0, np.exp(-0.5), np.exp(-2.0)])
    np.testing.assert_allclose(w, expected / expected.sum())
    np.testing.assert_array_equal(causal_gaussian_weights(0.0), [1.0])
    with pytest.raises(ValueError, match="sigma must be finite and >= 0"):
        causal_gaussian_weights(-1.0)


def test_the_causal_filter_uses_the_past_only_renormalised_at_the_start():
    w = causal_gaussian_weights(1.0)
    out = causal_smooth([0.0, 6.0, 0.0, 0.0], 1.0)
    assert out[0] == 0.0  # the step at frame 1 is not seen before it
    assert out[1] == pytest.approx(6 * w[0] / w[:2].sum())
    assert out[2] == pytest.approx(6 * w[1] / w[:3].sum())
    # two sigmas: one filter after the other
    np.testing.assert_allclose(causal_smooth([0, 6, 0, 0], [1, 2]),
                               causal_smooth(causal_smooth([0, 6, 0, 0], 1), 2))
    assert CausalSmoother(3.0).lag == pytest.approx(
        (causal_gaussian_weights(3.0) * np.arange(13)).sum())
    # the module docstring's numbers for sigma 3: a 2.1-frame lag, w[0] about 0.23
    assert CausalSmoother(3.0).lag == pytest.approx(2.1, abs=0.05)
    assert causal_gaussian_weights(3.0)[0] == pytest.approx(0.23, abs=0.01)


def test_the_causal_filter_starts_from_the_start_level_by_hand():
    w = causal_gaussian_weights(1.0, truncate=2.0)  # 3 weights
    out = causal_smooth([6.0, 0.0, 0.0, 0.0], 1.0, truncate=2.0, start=1.0)
    np.testing.assert_allclose(out, [6 * w[0] + w[1] + w[2], 6 * w[1] + w[2], 6 * w[2], 0.0])
    assert causal_smooth([6.0], 1.0)[0] == 6.0  # without a start level: judged alone
    assert CausalSmoother(3.0, start=0.25).start == 0.25
    with pytest.raises(ValueError, match="start level must be a finite number, got nan"):
        CausalSmoother(3.0, start=float("nan"))


def test_the_start_level_is_the_median_training_score():
    from types import SimpleNamespace

    from mulde.vad.live import start_level

    model = SimpleNamespace(train_scores=[np.array([0.1, 0.9, 0.2]), np.array([0.3, 5.0])])
    assert start_level(model) == 0.3
    assert start_level(SimpleNamespace(train_scores=[])) is None


@given(st.lists(st.floats(-100, 100), min_size=1, max_size=40), st.floats(0, 4),
       st.floats(-10, 10), st.none() | st.floats(-100, 100))
def test_the_causal_filter_is_a_weighted_mean_of_the_past(scores, sigma, constant, start):
    out = causal_smooth(scores, sigma, start=start)
    x = np.asarray(scores)
    prefix_min, prefix_max = np.minimum.accumulate(x), np.maximum.accumulate(x)
    if start is not None:  # the frames before the start count as the start level
        prefix_min, prefix_max = np.minimum(prefix_min, start), np.maximum(prefix_max, start)
    assert np.all(out >= prefix_min - 1e-9) and np.all(out <= prefix_max + 1e-9)
    # a constant comes back (atol: a subnormal constant such as 5e-324 rounds to its neighbour)
    np.testing.assert_allclose(causal_smooth([constant] * len(scores), sigma), constant,
                               atol=1e-300)


def test_new_extractor_settings_are_checked_and_keep_the_default_cache_key(tmp_path):
    from mulde.video.features.objects import ObjectCentricExtractor

    default = ObjectCentricExtractor().params["regions"]
    assert "max_height" not in default and "background" not in default
    assert ObjectCentricExtractor(max_height=360).params["regions"]["max_height"] == 360
    with pytest.raises(ValueError, match="max_height must be None or a number of rows"):
        ObjectCentricExtractor(max_height=8)
    with pytest.raises(ValueError, match="region_background must be one of video, scene"):
        ObjectCentricExtractor(region_background="median")
    assert ObjectCentricExtractor(region_background="scene").needs_scene


class FrameDetector:
    """A fake detector: per frame, a person box and a car box at fractional positions that
    depend on the frame's content (so frames detected alone or in a batch agree)."""

    def __init__(self, every: int, carry: str = "hold"):
        from mulde.video.detection import DetectionSettings

        self.settings = DetectionSettings(every=every, carry=carry)
        self.sha256, self.name = "d" * 64, "fd"

    def detect(self, frames):
        from mulde.video.detection import PERSON, FrameDetections

        out = []
        for f in frames:
            dx = float(f[::8, ::8].mean() % 9) + 0.37
            boxes = np.array([[40 + dx, 30.6, 70.2 + dx, 90.5], [150.5, 60 - dx, 200, 100.01]],
                             np.float32)
            scores = np.array([0.87654321, 0.61234987], np.float32)  # cached with 4 decimals
            out.append(FrameDetections(boxes, np.array([PERSON, 2]), scores))
        return out


class CentrePose:
    """A fake MoveNet: every keypoint at the box's centre, its confidence a function of the
    frame in [0, 1)."""

    calls = 0  # keypoints calls, over every instance

    def __init__(self, *args):
        pass

    def keypoints(self, frame, boxes):
        CentrePose.calls += 1
        centre = (boxes[:, :2] + boxes[:, 2:]) / 2 + frame[0, 0, 0] / 255
        confidence = np.full((len(boxes), 1), float(frame[::8, ::8].mean() % 1.0))
        return np.repeat(np.concatenate([centre, confidence], 1)[:, None], 17, 1)


@pytest.mark.parametrize(("every", "carry", "motion_boxes", "min_confidence", "carry_held"), [
    (2, "hold", False, 0.0, False), (3, "flow", False, 0.0, False),
    (2, "hold", True, 0.0, False), (3, "flow", True, 0.5, False), (2, "hold", False, 0.0, True),
    (3, "hold", True, 0.5, True)])
def test_detector_regions_live_are_the_offline_cached_boxes(scene, tmp_path, monkeypatch,
                                                            every, carry, motion_boxes,
                                                            min_confidence, carry_held):
    import mulde.video.detection.pose as pose_module
    from mulde.video.features import objects as objects_module

    _, test, extractor = scene
    monkeypatch.setattr(objects_module, "_detector", lambda *a: FrameDetector(every, carry))
    monkeypatch.setattr(pose_module, "MoveNetPose", CentrePose)
    detecting = replace(extractor, regions="detector", streams=("velocity", "pose", "class"),
                        max_height=None, boxes_cache=str(tmp_path / "boxes"),
                        motion_boxes=motion_boxes, pose_min_confidence=min_confidence,
                        pose_carry_held=carry_held, detector_every=every,
                        detector_carry=carry)
    offline = detecting.extract(test)  # boxes through the cache: rounded outwards
    assert list((tmp_path / "boxes").rglob("*.csv"))
    CentrePose.calls = 0
    live, _ = _online(detecting, list(test.frames()))
    _same(offline, live)
    # with pose_carry_held, MoveNet runs on the detected frames only
    assert CentrePose.calls == (-(-live.n_frames // every) if carry_held else live.n_frames)
    if min_confidence == 0:
        assert live["pose"].n_objects == live.n_frames  # one person per frame
    else:  # the persons of the frames MoveNet is unsure in dropped, live as offline
        assert 0 < live["pose"].n_objects < live.n_frames
    # the class stream: the scores as the cache holds them (4 decimals), live as offline
    assert {tuple(np.round(r, 4)) for r in live["class"].features.tolist()} <= {
        (0.8765, 0, 0, 0, 0, 0, 0), (0, 0.6123, 0, 0, 0, 0, 0), (0,) * 7}
    # the foreground outside the boxes: unlabelled objects beside the two boxes of a frame
    # (the demo's walkers and runner), live as offline
    extra = live["velocity"].objects_per_frame() > 2
    assert extra.any() if motion_boxes else not extra.any()


def test_velocity_on_grid_cells_beside_detector_boxes_live_and_offline(scene, tmp_path,
                                                                       monkeypatch):
    """velocity_regions='grid' with detector boxes: the velocity stream's objects are the grid
    extractor's cells and features (the same foreground), the class stream keeps the boxes,
    and live scoring gives the offline features bit for bit."""
    from mulde.video.features import objects as objects_module

    _, test, extractor = scene
    monkeypatch.setattr(objects_module, "_detector", lambda *a: FrameDetector(2, "hold"))
    detecting = replace(extractor, regions="detector", streams=("velocity", "class"),
                        max_height=None, boxes_cache=str(tmp_path / "boxes"),
                        detector_every=2, velocity_regions="grid")
    offline = detecting.extract(test)
    grid = replace(extractor, streams=("velocity",), max_height=None).extract(test)
    _same({"velocity": grid["velocity"]}, {"velocity": offline["velocity"]})
    assert offline["class"].objects_per_frame().max() == 2  # the two boxes
    live, _ = _online(detecting, list(test.frames()))
    _same(offline, live)
    assert detecting.params["velocity"]["regions"] == "grid"
    assert "regions" not in replace(detecting, velocity_regions=None).params["velocity"]
    with pytest.raises(ValueError, match=r"velocity_regions must be 'grid' or 'components' "
                       r"\(regions of its own in the foreground\) or null .*got 'detector'"):
        replace(detecting, velocity_regions="detector")
    # the user who wants the boxes back is told the value that does it
    with pytest.raises(ValueError, match=r"or null \(the extraction's regions, e.g. the "
                       r"detector's boxes\), got 'boxes'$"):
        replace(detecting, velocity_regions="boxes")


def test_the_live_threshold_is_the_model_rule_on_causally_smoothed_training_scores():
    from types import SimpleNamespace

    from mulde.vad.live import causal_smooth, live_threshold
    from mulde.vad.thresholds import fit_threshold

    rng = np.random.default_rng(0)
    train = [rng.gamma(2.0, 0.2, 300) for _ in range(3)]
    offline = fit_threshold(train, fps=25.0, sigma=3.0, rule="quantile", target=0.99)
    model = SimpleNamespace(threshold=offline, train_scores=train, smoothing_sigma=3.0)
    value, definition = live_threshold(model)
    start = float(np.median(np.concatenate(train)))  # each video starts at the median
    causal = [causal_smooth(s, 3.0, start=start) for s in train]
    assert value == float(np.quantile(np.concatenate(causal), 0.99)) != offline.value
    assert "causal half-Gaussian" in definition and "0.99 quantile" in definition
    assert live_threshold(model, 2.5) == (2.5, "set by hand (--threshold)")
    with pytest.raises(ValueError, match="no alert threshold; give one with --threshold"):
        live_threshold(SimpleNamespace(threshold=None, train_scores=train))


def test_the_training_videos_frame_size_is_read_per_view_from_the_model():
    """`trained_frame_shape`: (H, W) from the model's record (width, height per view), the
    only or first view by default; None for a model without the record."""
    from types import SimpleNamespace

    from mulde.vad.live import trained_frame_shape

    one = SimpleNamespace(training={"frame_sizes": {"": [360, 240]}})
    assert trained_frame_shape(one) == (240, 360)
    views = SimpleNamespace(training={"frame_sizes": {"south": [856, 480], "north": [640, 360]}})
    assert trained_frame_shape(views) == (360, 640)  # the first view, as extractor_for
    assert trained_frame_shape(views, "south") == (480, 856)
    assert trained_frame_shape(views, "east") is None
    assert trained_frame_shape(SimpleNamespace(training={})) is None
    assert trained_frame_shape(SimpleNamespace()) is None


def test_frames_of_another_size_are_said_by_a_model_without_scene_background(scene):
    """The scene background refuses frames of another size (`VideoMismatchError`); a model
    without one (the per-video median, e.g. objects:detector) scores them but warns with
    the source's and the training videos' sizes, unless the downscale makes them equal."""
    import warnings

    from mulde.video.features.online import FrameSizeWarning

    _, test, extractor = scene
    plain = replace(extractor, region_background="video", streams=("velocity",),
                    scene_background=None)
    frames = list(test.frames())[:3]
    h, w = frames[0].shape[:2]
    online = OnlineObjectExtractor(plain, "cam", trained_shape=(2 * h, 2 * w))
    # the default extractor works at 240 rows: 480x320 training video on 360x240 frames
    assert (h, w, plain.max_height) == (160, 240, 240)
    with pytest.warns(FrameSizeWarning, match=r"^cam: frames are 240x160, but the model works "
                      r"on 360x240 frames \(its training videos' 480x320 downscaled to 240 "
                      r"rows\) and takes video of that aspect ratio at 240 rows or more, "
                      r"downscaled to that size \(e.g. 480x320 or 960x640\); it has no scene "
                      r"background .* train a model on this camera"):
        online.push(frames[0])
    for trained, rows in (((h, w), None), ((2 * h, 2 * w), h)):
        online = OnlineObjectExtractor(replace(plain, max_height=rows), "cam",
                                       trained_shape=trained)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            online.push(frames[0])
