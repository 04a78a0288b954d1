"""Detector boxes from CSV files as the object regions: reading, checking, extracting, caching."""

import warnings

import numpy as np
import pytest
from fakes import write_square_frames
from hypothesis import given, settings
from hypothesis import strategies as st

from mulde.cli import main
from mulde.datasets import load_dataset
from mulde.pipeline import extract_features
from mulde.video.cache import FeatureCache
from mulde.video.features import ObjectCentricExtractor, RegionMode
from mulde.video.features.detections import (
    BoxesOutsideFrameWarning,
    DetectionsError,
    boxes_file,
    boxes_fingerprint,
    read_boxes,
    read_detections,
)
from mulde.video.features.registry import build_extractor


def _csv(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_read_boxes_clips_filters_by_score_and_groups_by_frame(tmp_path):
    f = _csv(tmp_path / "v.csv", "frame,x0,y0,x1,y1,score\n"
             "0,10,5,20.5,15,0.9\n"
             "0,-4,-2,6,8,0.8\n"      # clipped to the frame
             "2,30,10,50,40,0.95\n"   # x1 and y1 beyond a 40 x 30 frame
             "2,1,1,5,5,0.2\n")       # below min_score
    with pytest.warns(BoxesOutsideFrameWarning, match=r"v.csv: 2 box\(es\) reach more than "
                      r"1 px past the edges of the 40x30 frame \(first: row 3\)"):
        boxes = read_boxes(f, n_frames=4, width=40, height=30, min_score=0.5)
    assert [b.tolist() for b in boxes] == [[[10, 5, 21, 15], [0, 0, 6, 8]], [],
                                           [[30, 10, 40, 30]], []]
    with pytest.warns(BoxesOutsideFrameWarning):
        assert len(read_boxes(f, 4, 40, 30)[2]) == 2  # no score threshold: all kept


def test_boxes_within_a_pixel_of_the_edge_are_clipped_without_a_warning(tmp_path):
    f = _csv(tmp_path / "v.csv", "frame,x0,y0,x1,y1\n0,-0.6,0,40.9,30.5\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert read_boxes(f, 1, 40, 30)[0].tolist() == [[0, 0, 40, 30]]


@pytest.mark.parametrize("box", ["45,2,60,9", "1,30,5,38", "-9,1,0,5", "2,-8,5,-1"])
def test_a_box_outside_the_frame_is_an_error_naming_file_and_row(tmp_path, box):
    """Boxes found on frames of another size or orientation (an unrotated phone video) land
    outside the frame: refused, never dropped silently."""
    f = _csv(tmp_path / "rotated.csv", f"frame,x0,y0,x1,y1,score\n0,1,1,5,5,0.9\n0,{box},0.1\n")
    with pytest.raises(DetectionsError, match=r"rotated.csv: row 3: box .* lies outside the "
                       r"40x30 frame.*another size or orientation"):
        read_boxes(f, n_frames=1, width=40, height=30, min_score=0.5)


def test_read_detections_keeps_class_and_score_columns_when_present(tmp_path):
    f = _csv(tmp_path / "v.csv", "frame,x0,y0,x1,y1,score,class\n0,1,2,5.5,8,0.75,8\n")
    got = read_detections(f, 2, 40, 30)
    assert got[0].boxes.tolist() == [[1, 2, 6, 8]] and got[0].classes.tolist() == [8]
    assert got[0].scores.tolist() == [0.75] and len(got[1]) == 0
    plain = read_detections(_csv(tmp_path / "p.csv", "frame,x0,y0,x1,y1\n1,1,2,5,8\n"), 2, 40, 30)
    assert plain[1].classes.tolist() == [-1] and plain[1].scores.tolist() == [1.0]


@pytest.mark.parametrize("text, message", [
    ("frame,x0,y0,x1\n0,1,1,5\n", "missing column.*y1"),
    ("frame,x0,y0,x1,y1\n0,1,one,5,5\n", "row 2, field y0: 'one' is not a number"),
    ("frame,x0,y0,x1,y1\n0,1,1,5,5\n0,1,1,nan,5\n", "row 3, field x1: 'nan' is not finite"),
    ("frame,x0,y0,x1,y1\n9,1,1,5,5\n", "row 2, field frame: 9 is not a frame index"),
    ("frame,x0,y0,x1,y1\n1.5,1,1,5,5\n", "row 2, field frame: 1.5"),
    ("frame,x0,y0,x1,y1\n0,5,1,5,5\n", "row 2: empty box"),
    ("frame,x0,y0,x1,y1\n0,1,1,5\n", "row 2, field y1: None"),
    ("frame,x0,y0,x1,y1,class\n0,1,1,5,5,1.5\n", "row 2, field class: 1.5 is not a whole"),
])
def test_read_boxes_names_file_row_and_field_of_bad_input(tmp_path, text, message):
    f = _csv(tmp_path / "bad.csv", text)
    with pytest.raises(DetectionsError, match=message) as err:
        read_boxes(f, n_frames=3, width=40, height=30)
    assert str(f) in str(err.value)


def test_unreadable_detections_are_a_detections_error(tmp_path):
    with pytest.raises(DetectionsError, match="cannot read"):
        read_boxes(tmp_path / "absent.csv", 3, 40, 30)
    (tmp_path / "binary.csv").write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(DetectionsError, match="not a text CSV"):
        read_boxes(tmp_path / "binary.csv", 3, 40, 30)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 4), st.floats(-50, 90), st.floats(-50, 90),
                          st.floats(0.5, 60), st.floats(0.5, 60)), max_size=12))
def test_read_boxes_keeps_boxes_inside_the_frame_and_refuses_those_outside(tmp_path_factory,
                                                                          rows):
    f = tmp_path_factory.mktemp("p") / "v.csv"
    f.write_text("frame,x0,y0,x1,y1\n" + "".join(f"{t},{x},{y},{x + w},{y + h}\n"
                                                 for t, x, y, w, h in rows))
    outside = [i for i, (_, x, y, w, h) in enumerate(rows)
               if not (x < 40 and y < 30 and x + w > 0 and y + h > 0)]
    if outside:
        with pytest.raises(DetectionsError, match=f"row {outside[0] + 2}: box"):
            read_boxes(f, n_frames=5, width=40, height=30)
        return
    past = [i for i, (_, x, y, w, h) in enumerate(rows)
            if min(x, y) < -1 or x + w > 41 or y + h > 31]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        boxes = read_boxes(f, n_frames=5, width=40, height=30)
    reported = [w for w in caught if w.category is BoxesOutsideFrameWarning]
    assert len(reported) == (1 if past else 0)
    if past:
        assert f"{len(past)} box(es)" in str(reported[0].message)
        assert f"first: row {past[0] + 2}" in str(reported[0].message)
    assert sum(len(b) for b in boxes) == len(rows)
    for b in boxes:
        if len(b):
            assert (b[:, :2] >= 0).all() and (b[:, 2] <= 40).all() and (b[:, 3] <= 30).all()
            assert (b[:, 2] > b[:, 0]).all() and (b[:, 3] > b[:, 1]).all()


def test_boxes_file_mirrors_the_video_path_longest_match_first(tmp_path):
    video = tmp_path / "data" / "Train" / "Train001"
    flat = _csv(tmp_path / "boxes" / "Train001.csv", "")
    assert boxes_file(tmp_path / "boxes", video) == flat
    nested = _csv(tmp_path / "boxes" / "Train" / "Train001.csv", "")
    assert boxes_file(tmp_path / "boxes", video) == nested
    with pytest.raises(DetectionsError, match="Test001.csv"):
        boxes_file(tmp_path / "boxes", tmp_path / "data" / "Test" / "Test001")


def _square_boxes(video, margin=2):
    """Boxes of the bright square in each frame of a `_write` video: a perfect detector."""
    rows = ["frame,x0,y0,x1,y1,score"]
    for t, frame in enumerate(video.frames()):
        ys, xs = np.nonzero(frame[..., 0] > 128)
        rows.append(f"{t},{xs.min() - margin},{ys.min() - margin},{xs.max() + 1 + margin},"
                    f"{ys.max() + 1 + margin},0.9")
    return "\n".join(rows) + "\n"


@pytest.fixture
def detected(tmp_path):
    """A folder dataset (3 training videos, 2 test videos with a fast stretch in 'a') and a
    detections folder holding the square's box in every frame."""
    rng = np.random.default_rng(0)
    root = tmp_path / "data"
    for i in range(3):
        write_square_frames(root / "train" / f"t{i}", 1.0 + 0.1 * rng.standard_normal(40))
    write_square_frames(root / "test" / "a", np.r_[np.ones(15), np.full(10, 3.0), np.ones(15)])
    write_square_frames(root / "test" / "b", np.ones(40))
    (root / "labels.csv").write_text("video,start,end\na,15,24\n")
    ds = load_dataset("folder", root)
    boxes = tmp_path / "boxes"
    for split in ("train", "test"):
        for v in getattr(ds, split):
            _csv(boxes / split / f"{v.name}.csv", _square_boxes(v))
    return ds, boxes


def test_extractor_describes_each_detected_box_and_keys_the_cache_on_its_content(detected):
    ds, boxes = detected
    ex = ObjectCentricExtractor(regions="boxes", boxes_dir=str(boxes), n_bins=1, blur=1)
    video = next(v for v in ds.test if v.name == "a")
    vel = ex.extract(video)["velocity"]
    np.testing.assert_array_equal(vel.frame_index, np.arange(40))  # one box per frame
    speed = vel.features[:, 0]
    assert speed[17:23].mean() > 1.5 * np.r_[speed[3:13], speed[27:37]].mean()
    key = ex.params["regions"]["boxes_sha256"]
    assert "boxes_dir" not in ex.params["regions"] and key == boxes_fingerprint(boxes)
    _csv(boxes / "test" / "b.csv", "frame,x0,y0,x1,y1\n")  # no detections at all now
    assert ex.params["regions"]["boxes_sha256"] != key
    whole = ex.extract(next(v for v in ds.test if v.name == "b"))["velocity"]
    np.testing.assert_array_equal(whole.boxes, np.tile([0, 0, 120, 40], (40, 1)))
    with pytest.raises(ValueError, match="needs a Video"):
        ex.extract([np.zeros((40, 120, 3), np.uint8)] * 2)
    with pytest.raises(DetectionsError, match="boxes_dir"):
        ObjectCentricExtractor(regions="boxes", boxes_dir=str(boxes / "absent"))


def test_a_video_without_detections_is_skipped_and_reported_not_fatal(detected, tmp_path):
    ds, boxes = detected
    (boxes / "test" / "b.csv").unlink()
    ex = build_extractor("objects:ped2", boxes_dir=str(boxes))
    out = extract_features(ds, ex, FeatureCache(tmp_path / "cache"), progress=False)
    assert out.n_extracted == 4 and [f["video"] for f in out.failed] == ["b"]
    assert "no detections file" in out.failed[0]["error"]
    with pytest.raises(ValueError, match="object extractors"):
        build_extractor("frames", boxes_dir=str(boxes))


def test_the_default_extractor_takes_boxes_at_the_sources_resolution(detected):
    _, boxes = detected
    default = build_extractor("objects")  # works at 240 rows: boxes are in the source's pixels
    assert default.max_height == 240 and default.region_background == "scene"
    with_boxes = build_extractor("objects", boxes_dir=str(boxes))
    assert with_boxes.regions is RegionMode.BOXES and with_boxes.max_height is None
    set_boxes = build_extractor("objects", settings={"regions": "boxes",
                                                     "boxes_dir": str(boxes)})
    assert set_boxes.max_height is None
    with pytest.raises(ValueError, match="max_height does not combine with detector boxes"):
        build_extractor("objects", settings={"regions": "boxes", "boxes_dir": str(boxes),
                                             "max_height": 240})


def test_cli_takes_boxes_and_refuses_a_missing_folder(detected, tmp_path, capsys):
    ds, boxes = detected
    args = ["extract", "folder", "--root", str(ds.root), "--cache", str(tmp_path / "c"),
            "--extractor", "objects:ped2", "--threads", "1"]
    assert main([*args, "--boxes", str(boxes), "--min-box-score", "0.5"]) == 0
    assert "5 videos extracted" in capsys.readouterr().out
    assert main([*args, "--boxes", str(tmp_path / "nowhere")]) == 2
    assert f"--boxes {tmp_path / 'nowhere'}: no such folder" in capsys.readouterr().err
    assert main([*args, "--extractor", "nonsense"]) == 2
    assert "unknown extractor" in capsys.readouterr().err


def test_fingerprint_hashes_the_files_again_only_when_they_change(tmp_path):
    from mulde.io import hashing

    f = _csv(tmp_path / "boxes" / "v.csv", "frame,x0,y0,x1,y1\n0,1,1,5,5\n")
    first = boxes_fingerprint(tmp_path / "boxes")
    misses = hashing._remembered_sha256.cache_info().misses
    assert boxes_fingerprint(tmp_path / "boxes") == first  # asked once per video: no rehash
    assert hashing._remembered_sha256.cache_info().misses == misses
    f.write_text("frame,x0,y0,x1,y1\n0,1,1,5,16\n")  # new size: coarse mtimes too
    assert boxes_fingerprint(tmp_path / "boxes") != first


def test_boxes_of_a_rotated_phone_video_land_on_the_displayed_frames(tmp_path):
    """A video stored 64x48 with a 90-degree display rotation: frames are decoded 48 wide and
    64 high, as OpenCV shows them, so a box a detector drew low in the portrait frame (y up
    to 60) is inside the frame; the same box against the stored 64x48 frame lies outside it
    and is refused naming the row, never dropped silently."""
    from fakes import write_timed_video

    from mulde.video.source import Video

    video = write_timed_video(tmp_path / "videos" / "phone.mp4", list(range(6)), rotation=90)
    _csv(tmp_path / "boxes" / "phone.mp4.csv", "frame,x0,y0,x1,y1\n" +
         "".join(f"{t},10,50,30,60\n" for t in range(6)))
    ex = ObjectCentricExtractor(regions="boxes", boxes_dir=str(tmp_path / "boxes"),
                                skip_edges=False, blur=1)
    out = ex.extract(Video("phone", video))["velocity"]
    np.testing.assert_array_equal(out.boxes, np.tile([10, 50, 30, 60], (6, 1)))
    with pytest.raises(DetectionsError, match=r"phone.mp4.csv: row 2: box .* lies outside "
                       "the 64x48 frame"):
        read_boxes(tmp_path / "boxes" / "phone.mp4.csv", 6, 64, 48)
