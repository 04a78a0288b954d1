"""Snapshots: the top object's box stays visible (a zoomed panel for small boxes), and the
event renderer decodes the frames asked for."""

from __future__ import annotations

import io

import numpy as np
from fakes import write_square_frames
from PIL import Image

from mulde.datasets import load_dataset
from mulde.evaluation.snapshots import frame_renderer, render_snapshot
from mulde.vad.ensemble import TopObjects


def _rgb(png: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(png)) as im:
        return np.asarray(im.convert("RGB"))


def _red(a: np.ndarray) -> np.ndarray:
    return (a[..., 0] > 200) & (a[..., 1] < 80) & (a[..., 2] < 80)


def test_a_small_box_at_the_frame_edge_gets_a_zoomed_panel():
    frame = np.full((240, 360, 3), 120, np.uint8)  # Ped2's size
    box = (334, 214, 360, 240)  # 26 px, in the bottom right corner (a grid region)
    png, details = render_snapshot(frame, box)
    drawn = _rgb(png)
    assert details == {"box": [334, 214, 360, 240]}
    assert drawn.shape[0] == 240 and drawn.shape[1] > 360 + 200  # frame | gap | zoom panel
    assert _red(drawn[:, :360]).any()  # the box on the frame, at its own coordinates
    assert _red(drawn[214, 334:360]).mean() > 0.9
    panel = _red(drawn[:, 364:])
    rows, cols = np.nonzero(panel)
    # the box drawn in the panel is the zoomed box: several times its 26 px
    assert rows.max() - rows.min() > 3 * 26 and cols.max() - cols.min() > 3 * 26


def test_a_large_box_or_the_whole_frame_needs_no_zoom():
    frame = np.full((240, 360, 3), 120, np.uint8)
    png, details = render_snapshot(frame, (50, 40, 250, 200))
    assert _rgb(png).shape == (240, 360, 3) and details["box"] == [50, 40, 250, 200]
    png, details = render_snapshot(frame, (0, 0, 360, 240))
    assert not _red(_rgb(png)).any() and "box" not in details
    png, details = render_snapshot(frame, (np.nan,) * 4)
    assert not _red(_rgb(png)).any() and "box" not in details


def test_large_frames_are_scaled_down():
    frame = np.full((720, 1280, 3), 120, np.uint8)
    drawn = _rgb(render_snapshot(frame, (600, 300, 640, 340), max_side=640)[0])
    assert drawn.shape[0] == 360 and drawn.shape[1] > 640  # the zoom panel beside


def test_frame_renderer_decodes_the_frames_asked_for(tmp_path):
    for split, name in (("train", "t"), ("test", "a")):
        write_square_frames(tmp_path / split / name, np.ones(10))
    dataset = load_dataset("folder", tmp_path)
    top = TopObjects.empty(10)
    top.update("velocity", np.array([2.0]), np.array([3]), np.array([[2.0, 15, 10, 23]]))
    render = frame_renderer(dataset, {"a": top})
    shots = render("a", [7, 3, 99])
    assert sorted(shots) == [3, 7]  # frame 99 does not exist
    assert shots[3].details == {"top object": "velocity", "box": [2, 15, 10, 23]}
    assert shots[3].score == 2.0 and "box" not in shots[7].details
    assert _red(_rgb(shots[3].png)).any() and not _red(_rgb(shots[7].png)).any()
    assert render("not a test video", [1]) == {}


def test_boxes_of_downscaled_frames_are_drawn_at_the_decoded_frames_pixels(tmp_path):
    """An extractor with max_height scores frames of 40 rows at 20: its boxes are in those
    pixels, and the report draws them on the decoded 40-row frame, twice as large."""
    for split, name in (("train", "t"), ("test", "a")):
        write_square_frames(tmp_path / split / name, np.ones(5))  # 40 x 120, square at y 15
    dataset = load_dataset("folder", tmp_path)
    top = TopObjects.empty(5)
    top.update("velocity", np.array([2.0]), np.array([1]), np.array([[1.5, 7.5, 5.5, 11.5]]))
    shot = frame_renderer(dataset, {"a": top}, max_height=20)("a", [1])[1]
    assert shot.details["box"] == [3, 15, 11, 23]  # where the square is in the 40-row frame
    drawn = _red(_rgb(shot.png))
    assert drawn[15, 3:11].mean() > 0.9 and not drawn[30:].any()
    same = frame_renderer(dataset, {"a": top}, max_height=40)("a", [1])[1]
    assert same.details["box"] == [2, 8, 6, 12]  # not downscaled: the box as it is (rounded)
