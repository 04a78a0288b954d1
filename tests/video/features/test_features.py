"""Feature extraction (`mulde.video.features`): each numeric function on hand-computed inputs,
the extractors on synthetic videos, the offline appearance backbone, and real Ped2 frames."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
from fakes import MeanBackbone, data_dir
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from PIL import Image

from mulde.video import backbones as appearance_module
from mulde.video.cache import extractor_key
from mulde.video.features import (
    EXTRACTOR_PRESETS,
    FrameCentricExtractor,
    ObjectCentricExtractor,
    ObjectFeatures,
    RegionMode,
    VideoFeatures,
    box_geometry,
    centred_flows,
    component_regions,
    crop_boxes,
    foreground_mask,
    grid_regions,
    median_background,
    nearest_centre,
    region_histograms,
    scene_background_of,
    square_crop_boxes,
    translation_histogram,
    velocity_histogram,
    window_centres,
    window_indices,
)
from mulde.video.features.flow import dis_flow
from mulde.video.features.objects import box_in_frame
from mulde.video.features.regions import is_whole_frame
from mulde.video.source import VideoMismatchError


# ---------------------------------------------------------------- velocity histogram
@pytest.mark.parametrize(("vector", "bin_", "value"), [
    ((2.0, 0.0), 0, 2.0),            # right: angle 0
    ((0.0, 3.0), 2, 3.0),            # down (image y axis): angle pi/2 -> bin 2 of 8
    ((-1.0, 0.0), 4, 1.0),           # left: angle pi
    ((1.0, -1.0), 7, math.sqrt(2)),  # up-right: angle 7 pi / 4
    ((1.0, -0.01), 0, math.hypot(1, 0.01)),  # just above +x: still bin 0 (centred bins)
    ((1.0, 0.41), 0, math.hypot(1, 0.41)),   # 22.3 degrees < 22.5: bin 0
    ((1.0, 0.42), 1, math.hypot(1, 0.42)),   # 22.8 degrees: bin 1
])
def test_velocity_histogram_uniform_field(vector, bin_, value):
    flow = np.tile(np.array(vector, np.float32), (50, 1))
    h = velocity_histogram(flow, 8)
    expected = np.zeros(8)
    expected[bin_] = value
    np.testing.assert_allclose(h, expected, rtol=1e-6)


def test_velocity_histogram_mixed_field_and_one_bin():
    # half the pixels move right at 2 px, half up at 4 px: bins 0 and 6 hold 2 * 1/2, 4 * 1/2
    flow = np.array([[2.0, 0.0]] * 10 + [[0.0, -4.0]] * 10)
    np.testing.assert_allclose(velocity_histogram(flow, 8), [1, 0, 0, 0, 0, 0, 2, 0])
    np.testing.assert_allclose(velocity_histogram(flow, 1), [3.0])  # the mean speed
    np.testing.assert_allclose(velocity_histogram(flow, 4), [1, 0, 0, 2])
    np.testing.assert_array_equal(velocity_histogram(np.zeros((0, 2)), 8), np.zeros(8))
    with pytest.raises(ValueError, match="n_bins"):
        velocity_histogram(flow, 0)


@settings(max_examples=40, deadline=None)
@given(arrays(np.float64, st.tuples(st.integers(1, 40), st.just(2)),
              elements=st.floats(-20, 20)), st.integers(1, 12))
def test_velocity_histogram_bins_add_up_to_mean_speed(flow, n_bins):
    h = velocity_histogram(flow, n_bins)
    assert h.shape == (n_bins,) and (h >= 0).all()
    assert h.sum() == pytest.approx(np.hypot(flow[:, 0], flow[:, 1]).mean(), rel=1e-5, abs=1e-5)


def test_translation_histogram_cancels_opposite_motion():
    # a leg swinging forward at 2 px and one planted: translation 1 px, mean magnitude 1 px;
    # two halves moving apart at 1 px: no translation, mean magnitude 1 px
    stride = np.array([[2.0, 0.0]] * 10 + [[0.0, 0.0]] * 10)
    np.testing.assert_allclose(translation_histogram(stride, 8), [1, 0, 0, 0, 0, 0, 0, 0])
    apart = np.array([[1.0, 0.0]] * 10 + [[-1.0, 0.0]] * 10)
    np.testing.assert_allclose(translation_histogram(apart, 1), [0.0], atol=1e-12)
    np.testing.assert_allclose(velocity_histogram(apart, 1), [1.0])
    np.testing.assert_array_equal(translation_histogram(np.zeros((0, 2)), 4), np.zeros(4))


@settings(max_examples=40, deadline=None)
@given(arrays(np.float64, st.tuples(st.integers(1, 40), st.just(2)),
              elements=st.floats(-20, 20)), st.integers(1, 12))
def test_translation_speed_never_exceeds_mean_speed(flow, n_bins):
    h = translation_histogram(flow, n_bins)
    assert h.shape == (n_bins,) and (h >= 0).all() and np.count_nonzero(h) <= 1
    assert h.sum() == pytest.approx(np.hypot(*flow.mean(axis=0)), rel=1e-5, abs=1e-5)
    assert h.sum() <= velocity_histogram(flow, n_bins).sum() + 1e-5


def test_motion_option_is_checked_and_keyed_only_when_changed():
    with pytest.raises(ValueError, match="motion"):
        ObjectCentricExtractor(motion="median")
    assert ObjectCentricExtractor().params["velocity"]["motion"] == "magnitude"
    assert ObjectCentricExtractor(motion="translation").params["velocity"]["motion"] == \
        "translation"
    assert extractor_key(ObjectCentricExtractor(motion="translation")) != \
        extractor_key(ObjectCentricExtractor())


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), n_bins=st.sampled_from([1, 4, 8]),
       fraction=st.floats(0.05, 0.9))
def test_region_histograms_are_the_per_region_histograms_bit_for_bit(seed, n_bins, fraction):
    rng = np.random.default_rng(seed)
    flow = rng.normal(0, 3, (40, 56, 2)).astype(np.float32)
    mask = rng.random((40, 56)) < fraction
    regions = grid_regions(mask, 16, 8, 0.1) + component_regions(mask, 5, (0, 0))[:5]
    got = region_histograms(flow, regions, n_bins)
    assert len(got) == len(regions)
    for r, h in zip(regions, got, strict=True):
        x0, y0, x1, y1 = r.box
        np.testing.assert_array_equal(h, velocity_histogram(flow[y0:y1, x0:x1][r.mask], n_bins))


def test_region_histograms_of_an_empty_mask_and_bad_bins():
    flow = np.ones((4, 4, 2), np.float32)
    region = grid_regions(np.ones((4, 4), bool), 2, 2)[0]
    empty = type(region)(region.box, np.zeros_like(region.mask))
    np.testing.assert_array_equal(region_histograms(flow, [empty], 8)[0], np.zeros(8))
    with pytest.raises(ValueError, match="n_bins must be >= 1"):
        region_histograms(flow, [region], 0)



# ---------------------------------------------------------------- geometry and crops
def test_box_geometry_of_a_known_box():
    g = box_geometry(np.array([[10, 20, 30, 60]]), width=100, height=80)
    np.testing.assert_allclose(g, [[0.2, 0.75, 0.2, 0.5, math.log(2)]], rtol=1e-6)


def test_square_crop_boxes_centre_side_and_floor():
    np.testing.assert_allclose(square_crop_boxes(np.array([[10, 10, 20, 40]]), 1.0, 0),
                               [[0, 10, 30, 40]])
    np.testing.assert_allclose(square_crop_boxes(np.array([[0, 0, 2, 2]]), 1.0, 32),
                               [[-15, -15, 17, 17]])
    np.testing.assert_allclose(square_crop_boxes(np.array([[0, 0, 10, 10]]), 1.5, 0),
                               [[-2.5, -2.5, 12.5, 12.5]])


def test_crop_boxes_is_pixel_exact_at_scale_one():
    frame = (np.arange(20 * 30 * 3) % 251).astype(np.uint8).reshape(20, 30, 3)
    crops = crop_boxes(frame, np.array([[4, 6, 12, 14], [0, 0, 8, 8]]), size=8)
    assert crops.shape == (2, 8, 8, 3)
    np.testing.assert_array_equal(crops[0], frame[6:14, 4:12])
    np.testing.assert_array_equal(crops[1], frame[0:8, 0:8])
    gray = frame[..., 0]
    assert crop_boxes(gray, np.array([[4, 6, 12, 14]]), 8).shape == (1, 8, 8)


# ---------------------------------------------------------------- regions
def _square_video(n=9, size=(48, 80), side=10, step=3, textured=False, seed=0):
    """Frames (gray) of a square moving right by `step` px per frame over a static scene."""
    rng = np.random.default_rng(seed)
    h, w = size
    bg = rng.integers(40, 100, size, dtype=np.uint8) if textured else np.full(size, 100, np.uint8)
    patch = rng.integers(160, 256, (side, side), dtype=np.uint8) if textured else 200
    frames, boxes = [], []
    for t in range(n):
        f = bg.copy()
        x, y = 5 + step * t, 15
        f[y:y + side, x:x + side] = patch
        frames.append(f)
        boxes.append((x, y, x + side, y + side))
    return frames, boxes, bg


def test_median_background_removes_a_moving_square():
    frames, _, bg = _square_video()
    np.testing.assert_array_equal(median_background(frames), bg)
    np.testing.assert_array_equal(median_background(frames, max_frames=5), bg)  # 0, 2, .., 8
    with pytest.raises(ValueError, match="at least one frame"):
        median_background([])


def test_foreground_mask_and_components_find_the_square():
    frames, boxes, bg = _square_video()
    mask = foreground_mask(frames[4], bg, threshold=20, blur=1, open_size=3)
    expected = np.zeros_like(mask)
    x0, y0, x1, y1 = boxes[4]
    expected[y0:y1, x0:x1] = True
    np.testing.assert_array_equal(mask, expected)
    regions = component_regions(mask, min_area=30)
    assert len(regions) == 1 and regions[0].box == boxes[4] and regions[0].mask.all()
    assert component_regions(mask, min_area=101) == []  # 100 px square below the minimum
    noisy = mask.copy()
    noisy[40, 70] = True  # one isolated pixel: removed by the opening, dropped by min_area
    assert len(component_regions(noisy, min_area=30)) == 1
    with pytest.raises(ValueError, match="differ"):
        foreground_mask(frames[0], bg[:10])


def test_grid_regions_cells_threshold_and_far_edge():
    mask = np.zeros((32, 40), bool)
    mask[0:8, 0:8] = True  # 64 px = 25 % of the first 16 x 16 cell
    regions = grid_regions(mask, cell=16, stride=16, min_fraction=0.1)
    assert [r.box for r in regions] == [(0, 0, 8, 8)]
    assert regions[0].mask.shape == (8, 8) and regions[0].mask.all()
    assert grid_regions(mask, cell=16, stride=16, min_fraction=0.3) == []
    edge = np.zeros((32, 40), bool)
    edge[20:30, 34:40] = True  # beyond the last regular start (16): a cell flush at x = 24
    boxes = [r.box for r in grid_regions(edge, cell=16, stride=16, min_fraction=0.1)]
    assert boxes == [(34, 20, 40, 30)]
    with pytest.raises(ValueError, match="cell and stride"):
        grid_regions(mask, cell=0)


# ---------------------------------------------------------------- flow and the extractor
def test_centred_flows_measure_a_textured_square_at_every_frame():
    frames, boxes, _ = _square_video(n=8, size=(64, 96), side=16, step=2, textured=True)
    flows = list(centred_flows(frames, baseline=2))
    assert len(flows) == 8 and flows[0].shape == (64, 96, 2) and flows[0].dtype == np.float32
    for t in (0, 4, 7):  # first, middle and last frame (shortened windows at the ends)
        x0, y0, x1, y1 = boxes[t]
        inner = flows[t][y0 + 4:y1 - 4, x0 + 4:x1 - 4].reshape(-1, 2)
        np.testing.assert_allclose(np.median(inner, axis=0), [2.0, 0.0], atol=0.5)
    assert not list(centred_flows(frames[:1], 2))[0].any()  # one frame: zero flow
    with pytest.raises(ValueError, match="baseline"):
        next(centred_flows(frames, 0))


def test_fine_flow_preset_works_at_full_resolution():
    assert dis_flow("medium").getFinestScale() == 1 and dis_flow("fine").getFinestScale() == 0
    errors = {"medium": [], "fine": []}
    for seed in range(3):  # a 6 px object: about one patch wide at half resolution
        frames, boxes, _ = _square_video(n=8, size=(64, 96), side=6, step=2, textured=True,
                                         seed=seed)
        x0, y0, x1, y1 = boxes[4]
        for preset, err in errors.items():
            flow = list(centred_flows(frames, 2, preset))[4][y0:y1, x0:x1].reshape(-1, 2)
            err.append(np.abs(flow.mean(axis=0) - [2.0, 0.0]).sum())
    assert max(errors["fine"]) < 0.15
    assert np.mean(errors["fine"]) <= np.mean(errors["medium"])


def test_object_extractor_on_a_moving_square():
    # each pixel is covered in at most 4 of 12 frames, so the median background is clean
    frames, boxes, _ = _square_video(n=12, size=(64, 96), side=12, step=3, textured=True)
    rgb = [np.repeat(f[..., None], 3, axis=2) for f in frames]
    ex = ObjectCentricExtractor(streams=("velocity", "geometry"), regions="components",
                                n_bins=8, blur=1)
    timings: dict[str, float] = {}
    out = ex.extract(rgb, timings)
    vel, geo = out["velocity"], out["geometry"]
    assert vel.n_frames == 12 and vel.features.shape == (12, 8)  # one object per frame
    np.testing.assert_array_equal(vel.frame_index, np.arange(12))
    np.testing.assert_array_equal(vel.boxes, np.array(boxes, np.float32))
    assert (vel.features.argmax(axis=1) == 0).all()  # rightward
    assert np.median(vel.features.sum(axis=1)) == pytest.approx(3.0, abs=0.6)
    np.testing.assert_allclose(geo.features, box_geometry(vel.boxes, 96, 64))
    assert {"decode", "regions", "flow", "velocity", "geometry"} <= set(timings)
    grid = ObjectCentricExtractor(n_bins=1, blur=1, cell=16, stride=8).extract(rgb)
    cells = grid["velocity"]
    for t, (x0, y0, x1, y1) in enumerate(boxes):  # every frame: grid cells on the square
        mine = cells.boxes[cells.frame_index == t]
        assert len(mine) and not any(is_whole_frame(b, 64, 96) for b in mine), t
        assert ((mine[:, 0] < x1) & (mine[:, 2] > x0) & (mine[:, 1] < y1)
                & (mine[:, 3] > y0)).all(), t


def test_frames_without_foreground_are_one_whole_frame_object():
    still = [np.full((24, 40, 3), 90, np.uint8)] * 5
    out = ObjectCentricExtractor(streams=("velocity", "geometry"), n_bins=8).extract(
        still)
    for stream in out.values():
        np.testing.assert_array_equal(stream.frame_index, np.arange(5))
        np.testing.assert_array_equal(stream.boxes, np.tile([0, 0, 40, 24], (5, 1)))
    np.testing.assert_array_equal(out["velocity"].features, np.zeros((5, 8)))


def test_skip_edges_drops_regions_that_touch_a_frame_edge():
    background = np.zeros((64, 96), np.uint8)
    gray = background.copy()
    gray[20:40, 40:56] = 200  # inside
    gray[0:12, 0:12] = 200  # top-left corner
    gray[30:50, 88:96] = 200  # right edge
    boxes = [r.box for r in ObjectCentricExtractor(blur=1, skip_edges=True,
                                                   regions="components").find_regions(
        gray, background)]
    assert boxes == [(40, 20, 56, 40)]
    all_boxes = ObjectCentricExtractor(blur=1, regions="components",
                                       skip_edges=False).find_regions(gray, background)
    assert len(all_boxes) == 3
    edge_only = background.copy()
    edge_only[0:12, 0:12] = 200
    (whole,) = ObjectCentricExtractor(blur=1, skip_edges=True).find_regions(edge_only,
                                                                           background)
    assert whole.box == (0, 0, 96, 64) and whole.mask.all()  # the whole-frame fallback


def test_scene_background_is_the_median_over_the_training_videos():
    a, _, bg = _square_video(n=8, step=8)  # each pixel covered in at most 2 of 15 frames
    b, _, _ = _square_video(n=7, step=9)
    a, b = ([np.repeat(f[..., None], 3, axis=2) for f in v] for v in (a, b))
    np.testing.assert_array_equal(scene_background_of([a, b]), bg)
    np.testing.assert_array_equal(scene_background_of([a, b], max_frames=3), bg)  # every 5th
    # a video of another size is left out, named, not mixed into the median
    with pytest.warns(UserWarning, match=r"video 1 \(frames 10x10.*one camera view"):
        np.testing.assert_array_equal(
            scene_background_of([a, [np.zeros((10, 10, 3), np.uint8)], b]), bg)
    with pytest.raises(ValueError, match="no frames to learn the scene background"):
        scene_background_of([[]])


def test_a_video_failing_part_way_leaves_the_scene_background_as_without_it():
    """A truncated video (its count says 40 frames; it fails after 7) is named and left
    out as if absent: the frame step and the sampled frames are the other videos' alone."""
    from mulde.video.source import VideoReadError

    rng = np.random.default_rng(0)
    a, b = ([rng.integers(0, 256, (12, 16, 3), np.uint8) for _ in range(n)] for n in (30, 25))

    class Truncated:
        def __len__(self):
            return 40

        def __iter__(self):
            yield from a[:7]
            raise VideoReadError("truncated or corrupt video, decoded 7 of the 40 frames")

    expected = scene_background_of([a, b], max_frames=10)
    with pytest.warns(UserWarning, match=r"left out of the scene background: video 1 "
                      r"\(truncated or corrupt video, decoded 7 of the 40 frames\)$"):
        np.testing.assert_array_equal(
            scene_background_of([a, Truncated(), b], max_frames=10), expected)


def test_static_stream_finds_an_object_that_stays_and_measures_how_long(tmp_path):
    train, _, bg = _square_video(n=12, size=(64, 96), textured=True)
    still = []
    for t in range(30):  # a 12 px block is put down at frame 10 and stays
        f = bg.copy()
        if t >= 10:
            f[30:42, 40:52] = 230
        still.append(f)
    rgb = lambda frames: [np.repeat(f[..., None], 3, axis=2) for f in frames]  # noqa: E731
    ex = ObjectCentricExtractor(streams=("velocity", "static"), blur=1, dwell_frames=50)
    with pytest.raises(ValueError, match="needs scene_background"):
        ex.extract(rgb(still))
    fitted = ex.with_scene([rgb(train)], tmp_path)
    assert fitted.scene_background.startswith(str(tmp_path / "scene_background."))
    assert fitted.with_scene([rgb(still)], tmp_path) is fitted  # already fitted: unchanged
    assert len(fitted.params["static"]["scene_background_sha256"]) == 64
    out = fitted.extract(rgb(still))["static"]
    assert out.features.shape[1] == 3
    before = out.features[out.frame_index < 10]
    np.testing.assert_array_equal(before[:, [0, 2]], 0.0)  # no object: the whole-frame one
    after = out.features[out.frame_index >= 10]
    assert len(after) == 20  # one object a frame
    np.testing.assert_allclose(after[:, 0], 144 / 32**2, rtol=0.1)  # area in cells
    assert after[:2, 1].min() > 1  # the flow window (+-2 frames) spans its arrival ...
    assert after[2:, 1].max() < 0.05  # ... and then it does not move
    np.testing.assert_allclose(after[:, 2], np.arange(1, 21) / 50)  # frames in a row, capped
    np.testing.assert_array_equal(out.boxes[out.frame_index == 29][0], [40, 30, 52, 42])
    velocity_only = ObjectCentricExtractor()
    assert velocity_only.with_scene([rgb(train)], tmp_path) is velocity_only
    assert "static" not in velocity_only.params
    wrong = ObjectCentricExtractor(streams=("static",), scene_background=fitted.scene_background)
    with pytest.raises(VideoMismatchError, match="frames are 20x20, but the model works on "):
        wrong.extract(rgb([np.zeros((20, 20), np.uint8)] * 2))


def test_the_static_streams_size_error_names_the_sources_own_size(tmp_path):
    """The static stream against each video's median (its own read of the scene background):
    a video of another size is named by its own pixel size, and by the size the extractor
    downscaled it to, which is what the scene background is compared with."""
    path = tmp_path / "scene.png"
    Image.fromarray(np.zeros((40, 40), np.uint8)).save(path)
    extractor = ObjectCentricExtractor(streams=("static",), scene_background=str(path),
                                       max_height=20)
    frames = [np.zeros((40, 80, 3), np.uint8)] * 2
    with pytest.raises(VideoMismatchError, match=r"frames are 80x40 \(40x20 once downscaled\), "
                       r"but the model works on 40x40 frames \(its training videos' size, "
                       r"below the 20 rows it downscales to\) and takes video of that size "
                       r"alone: another camera view or resolution"):
        extractor.extract(frames)


def test_the_scene_size_check_takes_larger_video_of_the_same_shape_not_smaller(tmp_path):
    """What docs/videos.md, "Frame numbers, sizes and frame rates", states: the scene
    background is compared with the frames after the `max_height` downscale, so the same view
    at a higher resolution is extracted; a smaller one (never upscaled) or another aspect
    ratio is refused."""
    path = tmp_path / "scene.png"
    Image.fromarray(np.zeros((20, 40), np.uint8)).save(path)  # 40x20, as trained
    extractor = ObjectCentricExtractor(streams=("static",), scene_background=str(path),
                                       max_height=20)
    for height, width in ((20, 40), (40, 80), (60, 120)):
        extractor.extract([np.zeros((height, width, 3), np.uint8)] * 2)
    for height, width in ((10, 20), (40, 40)):
        with pytest.raises(VideoMismatchError, match="but the model works on"):
            extractor.extract([np.zeros((height, width, 3), np.uint8)] * 2)


def test_the_sizes_a_scene_model_takes_are_one_rule_said_alike(tmp_path):
    """A model working at 20 rows on 40x20 frames (its training videos downscaled): a
    smaller video is refused, a larger one of the same aspect ratio taken; the refusal states
    the rule that takes it, in the words `mulde run` and `mulde watch` share
    (`frame_size_rule`), with the training videos' size where it is known."""
    from mulde.video.features.streams import frame_size_rule, read_scene_background

    path = tmp_path / "scene.png"
    Image.fromarray(np.zeros((20, 40), np.uint8)).save(path)
    extractor = ObjectCentricExtractor(streams=("static",), scene_background=str(path),
                                       max_height=20)
    assert extractor.extract([np.zeros((40, 80, 3), np.uint8)] * 2).n_frames == 2  # taken
    rule = ("the model works on 40x20 frames (its training videos downscaled to 20 rows) and "
            "takes video of that aspect ratio at 20 rows or more, downscaled to that size "
            "(e.g. 80x40)")
    assert frame_size_rule((40, 20), 20) == rule
    with pytest.raises(VideoMismatchError) as refused:
        extractor.extract([np.zeros((10, 20, 3), np.uint8)] * 2)
    assert str(refused.value).startswith(f"the video: frames are 20x10, but {rule}: another "
                                         "camera view or resolution is not what it learned")
    # a trained model records its training videos' size: named, as in `mulde watch`
    with pytest.raises(VideoMismatchError, match=r"frames are 20x10, but the model works on "
                       r"40x20 frames \(its training videos' 64x32 downscaled to 20 rows\) "
                       r"and takes video of that aspect ratio at 20 rows or more, downscaled "
                       r"to that size \(e.g. 64x32 or 128x64\)"):
        read_scene_background(str(path), (10, 20), "cam", trained_shape=(32, 64),
                              max_height=20)
    assert frame_size_rule((40, 20), None) == ("the model works on 40x20 frames (its training "
                                               "videos' size, not downscaled) and takes video "
                                               "of that size alone")


@pytest.mark.parametrize("region_background", ["video", "scene"])
def test_a_scene_model_refuses_another_size_naming_its_training_videos_size(tmp_path,
                                                                           region_background):
    """`with_scene` on training videos records their own size (the first whose frames give
    the background's; a smaller one left out of it is passed over), so that the refusal of
    a video of another size names it, in the words `mulde watch` gives a trained model's
    refusal, whether read from the scene or reused from its file."""
    from fakes import write_square_frames

    from mulde.video.source import Video, VideoMismatchError

    write_square_frames(tmp_path / "small", np.ones(6), size=(32, 96))
    for i in range(2):
        write_square_frames(tmp_path / f"t{i}", np.ones(6), size=(80, 240))
    videos = [Video(n, tmp_path / n) for n in ("small", "t0", "t1")]
    ex = ObjectCentricExtractor(streams=("velocity", "static"), blur=1, max_height=40,
                                region_background=region_background)
    with pytest.warns(UserWarning, match="left out of the scene background"):
        fitted = ex.with_scene(videos, tmp_path / "scene")
    assert fitted.trained_shape == (80, 240) and ex.trained_shape is None
    assert ex.with_scene(videos[1:], tmp_path / "scene").trained_shape == (80, 240)
    with pytest.raises(VideoMismatchError, match=r"small: frames are 96x32, but the model "
                       r"works on 120x40 frames \(its training videos' 240x80 downscaled to "
                       r"40 rows\) and takes video of that aspect ratio at 40 rows or more, "
                       r"downscaled to that size \(e.g. 240x80 or 480x160\)"):
        fitted.extract(videos[0])
    # in-memory frames have no size on record: the rule without it
    frames = [np.zeros((80, 240, 3), np.uint8)] * 2
    assert ex.with_scene([frames], tmp_path / "mem").trained_shape is None


def test_scene_background_of_the_same_videos_is_reused_not_decoded_again(tmp_path, monkeypatch):
    from fakes import write_frames

    import mulde.video.features.objects as objects_module
    from mulde.video.source import Video

    videos = [Video(f"v{i}", write_frames(tmp_path / f"v{i}", 4)) for i in range(2)]
    ex = ObjectCentricExtractor(streams=("static",))
    first = ex.with_scene(videos, tmp_path / "scene")
    with monkeypatch.context() as m:
        m.setattr(objects_module, "scene_background_of",
                  lambda *a: pytest.fail("the training videos were decoded again"))
        assert ex.with_scene(videos, tmp_path / "scene") == first
    write_frames(tmp_path / "v0", 5)  # a training video changed: a new background file
    assert ex.with_scene(videos, tmp_path / "scene").scene_background != first.scene_background


@pytest.mark.parametrize("damage", [b"", b"garbage", None])
def test_a_damaged_scene_background_is_said_and_learnt_again_the_same(tmp_path, damage):
    """A newcomer's trial: an empty or cut scene_background.*.png in the cache failed every
    later run with a traceback ("cannot read the scene background"). It is said
    (`DamagedCacheEntryWarning`) and learnt again, byte for byte the same image, so the
    feature entries keyed by it are found again."""
    from fakes import write_frames

    from mulde.video.features.base import DamagedCacheEntryWarning
    from mulde.video.source import Video

    videos = [Video(f"v{i}", write_frames(tmp_path / f"v{i}", 4)) for i in range(2)]
    ex = ObjectCentricExtractor(streams=("static",))
    first = ex.with_scene(videos, tmp_path / "scene")
    path = Path(first.scene_background)
    good = path.read_bytes()
    path.write_bytes(good[: len(good) // 2] if damage is None else damage)
    with pytest.warns(DamagedCacheEntryWarning, match=f"^{re.escape(str(path))}: a damaged "
                      "scene background in the cache .*; learnt again from the training"):
        again = ex.with_scene(videos, tmp_path / "scene")
    assert again == first and path.read_bytes() == good


def test_extractor_params_name_version_and_errors():
    ex = EXTRACTOR_PRESETS["ped2"]
    p = ex.params
    assert json.loads(json.dumps(p)) == p and p["regions"]["mode"] == "grid"
    assert p["velocity"] == {"n_bins": 1, "motion": "magnitude"}
    assert set(p) == {"streams", "regions", "flow", "velocity"}  # each stream keys its own
    assert "appearance" not in p  # appearance settings only matter when the stream is on
    assert ex.name == "objects" and ex.version
    assert extractor_key(ex) == extractor_key(ObjectCentricExtractor(n_bins=1))
    assert extractor_key(ex) != extractor_key(ObjectCentricExtractor(n_bins=1, skip_edges=False))
    assert extractor_key(ex) != extractor_key(ObjectCentricExtractor(n_bins=1, cell=24))
    assert ObjectCentricExtractor(regions="components").regions is RegionMode.COMPONENTS
    with pytest.raises(ValueError, match="streams"):
        ObjectCentricExtractor(streams=("gait",))
    with pytest.raises(ValueError, match="no frames"):
        ex.extract([])
    with pytest.raises(ValueError, match="frame 0"):
        ex.extract([np.zeros((8, 8), np.uint8)])


def test_object_features_validation():
    with pytest.raises(ValueError, match="frame_index outside"):
        ObjectFeatures(np.zeros((1, 2), np.float32), np.array([3]), 3, np.zeros((1, 4)))
    with pytest.raises(ValueError, match="need features"):
        ObjectFeatures(np.zeros((2, 2), np.float32), np.array([0]), 3, np.zeros((2, 4)))
    with pytest.raises(ValueError, match="need features"):
        ObjectFeatures(np.zeros((1, 2), np.float32), np.array([0]), 3, np.zeros((1, 3)))


def test_one_object_record_for_extractors_and_aivad_files():
    from mulde.video.features.aivad import ObjectFeatures as AIVADRecord

    assert AIVADRecord is ObjectFeatures
    rec = ObjectFeatures.build(np.arange(6.0).reshape(3, 2), [0, 2, 3], np.ones((3, 4)), 5, 2)
    first, second = rec.split([3, 2])
    np.testing.assert_array_equal(first.boxes, np.ones((2, 4)))
    np.testing.assert_array_equal(second.frame_index, [0])
    np.testing.assert_array_equal(second.features, [[4.0, 5.0]])
    assert set(first.as_arrays()) == {"features", "frame_index", "boxes"}
    no_boxes = ObjectFeatures(rec.features, rec.frame_index, 5)
    assert set(no_boxes.as_arrays()) == {"features", "frame_index"}
    back = ObjectFeatures.from_arrays(no_boxes.as_arrays(), 5)
    assert back.boxes is None and np.array_equal(back.features, rec.features)


# ---------------------------------------------------------------- frame-centric windows
def test_window_policy_at_first_and_last_frames():
    np.testing.assert_array_equal(window_indices(10, 0, 4, "clamp"), [0, 0, 0, 1])
    np.testing.assert_array_equal(window_indices(10, 9, 4, "clamp"), [7, 8, 9, 9])
    np.testing.assert_array_equal(window_indices(10, 5, 4, "clamp"), [3, 4, 5, 6])
    np.testing.assert_array_equal(window_indices(10, 0, 4, "shift"), [0, 1, 2, 3])
    np.testing.assert_array_equal(window_indices(10, 9, 4, "shift"), [6, 7, 8, 9])
    np.testing.assert_array_equal(window_indices(3, 1, 4, "shift"), [0, 1, 2, 2])  # short
    np.testing.assert_array_equal(window_indices(20, 10, 16), np.arange(2, 18))  # 8 before
    with pytest.raises(ValueError, match="centre"):
        window_indices(10, 10, 4)


@given(st.integers(1, 60), st.integers(1, 20), st.data())
def test_clamped_window_is_centred_on_its_frame(n, length, data):
    c = data.draw(st.integers(0, n - 1))
    w = window_indices(n, c, length, "clamp")
    assert len(w) == length and w[length // 2] == c
    assert w.min() >= 0 and w.max() <= n - 1 and (np.diff(w) >= 0).all()


def test_strided_centres_give_every_frame_the_nearest_window():
    centres = window_centres(10, 4)
    np.testing.assert_array_equal(centres, [0, 4, 8, 9])
    np.testing.assert_array_equal(nearest_centre(10, centres), [0, 0, 0, 1, 1, 1, 1, 2, 2, 3])
    np.testing.assert_array_equal(window_centres(9, 4), [0, 4, 8])
    np.testing.assert_array_equal(nearest_centre(3, window_centres(3, 1)), [0, 1, 2])


def test_frame_centric_extractor_averages_the_window(monkeypatch):
    monkeypatch.setitem(appearance_module.BACKBONES, "mean", MeanBackbone)
    appearance_module.load_backbone.cache_clear()
    frames = [np.full((12, 16, 3), 10 * i, np.uint8) for i in range(6)]
    ex = FrameCentricExtractor(backbone="mean", length=4, size=8)
    out = ex.extract(frames)["frame"]
    # frame 0: window [0, 0, 0, 1] -> (0 + 0 + 0 + 10) / 4; frame 5: [3, 4, 5, 5]
    np.testing.assert_allclose(out.features[:, 0], [2.5, 7.5, 15, 25, 35, 42.5])
    np.testing.assert_array_equal(out.frame_index, np.arange(6))
    np.testing.assert_array_equal(out.boxes[0], [0, 0, 16, 12])
    strided = FrameCentricExtractor(backbone="mean", length=4, size=8, stride=4)
    np.testing.assert_allclose(strided.extract(frames)["frame"].features[:, 0],
                               [2.5, 2.5, 2.5, 35, 35, 42.5])  # centres 0, 4, 5
    assert isinstance(ex.extract(frames), VideoFeatures)
    assert ex.params["policy"] == "clamp"
    appearance_module.load_backbone.cache_clear()


def test_the_frame_centric_default_reduction_goes_by_the_backbone_built():
    """Issue 15's cost rule: EfficientNet-Lite0's 1,280-d frame embedding (the appearance
    stream's backbone) is modelled on 128 components, whatever name built it; Hiera's is
    kept whole (the paper's), and so is another image backbone's (the rule was not measured
    there)."""
    from mulde.video.features.registry import build_extractor, preset_pca

    assert preset_pca("frames") == {"frame": 128}  # the name alone (nothing built yet)
    assert preset_pca("frames", build_extractor("frames")) == {"frame": 128}
    assert preset_pca("frames:hiera", build_extractor("frames:hiera")) == {}
    for name, backbone, reduced in (("frames", "hiera", False),
                                    ("frames:hiera", "efficientnet-lite0", True),
                                    ("frames", "clip", False)):
        built = build_extractor(name, settings={"backbone": backbone})
        assert preset_pca(name, built) == ({"frame": 128} if reduced else {})
    # its backbone always runs: --weights is taken (refused only by object extractors
    # without the appearance stream)
    assert build_extractor("frames", weights_path="w.tflite").weights_path == "w.tflite"
    with pytest.raises(ValueError, match="runs no backbone unless the appearance stream"):
        build_extractor("objects", weights_path="w.tflite")


# ---------------------------------------------------------------- real data
def test_end_to_end_on_three_ped2_frames():
    pytest.importorskip("efficientnet_lite_pytorch")
    folder = data_dir("ucsd_ped2", "testing", "frames", "01")
    # frames far apart, so the median of three is the empty walkway
    frames = [np.asarray(Image.open(folder / f"{i:03d}.jpg").convert("RGB")) for i in (0, 60, 120)]
    ex = ObjectCentricExtractor(streams=("velocity", "geometry", "appearance"))
    out = ex.extract(frames)
    assert set(out) == {"velocity", "geometry", "appearance"}
    dims = {"velocity": 8, "geometry": 5, "appearance": 1280}
    for name, s in out.items():
        assert s.n_frames == 3 and s.features.shape[1] == dims[name]
        assert np.isfinite(s.features).all()
        # every frame has objects of its own (not the whole-frame object of an empty frame)
        real = [i for i, b in zip(s.frame_index, s.boxes, strict=True)
                if not is_whole_frame(b, 240, 360)]
        assert set(real) == {0, 1, 2}
        assert (s.boxes[:, :2] >= 0).all() and (s.boxes[:, 2] <= 360).all()
        assert (s.boxes[:, 3] <= 240).all()
    assert len(out["velocity"].features) > 10  # a crowded walkway: many occupied cells
    vf = ex.extract(frames)
    assert vf.n_frames == 3 and set(vf) == {"velocity", "geometry", "appearance"}
    assert vf["velocity"].boxes is not None


def test_a_box_of_a_downscaled_frame_is_taken_back_to_the_source_pixels():
    """640 x 360 scored at 240 rows (427 x 240): x by 640 / 427, y by 360 / 240."""
    box = box_in_frame([100.0, 50, 200, 150], 640, 360, 240)
    np.testing.assert_allclose(box, [100 * 640 / 427, 75, 200 * 640 / 427, 225])
    assert box_in_frame([1.0, 2, 3, 4], 640, 360, None).tolist() == [1, 2, 3, 4]
    assert box_in_frame([1.0, 2, 3, 4], 640, 360, 360).tolist() == [1, 2, 3, 4]
    assert np.isnan(box_in_frame([np.nan] * 4, 640, 360, 240)).all()
