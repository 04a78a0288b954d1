"""Dataset loaders: ground-truth parsers on the real files, loaders on real data and fakes."""

from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path

import numpy as np
import pytest
from fakes import cell, data_dir, savemat, shanghaitech_fake, write_frames, write_video
from hypothesis import given
from hypothesis import strategies as st

from mulde.datasets import (
    DATASETS,
    DatasetError,
    IgnoredFilesWarning,
    LabelsNotFoundWarning,
    MissingVideosWarning,
    avenue,
    check_dataset,
    labels_to_ranges,
    load_dataset,
    ranges_to_labels,
    shanghaitech,
    ubnormal,
    ucf_crime,
    ucsd,
)
from mulde.datasets.folder import ground_truth as folder_ground_truth
from mulde.datasets.folder import read_labels_csv
from mulde.datasets.labels import CsvRange, as_labels
from mulde.datasets.matfile import cell_any, load_mat
from mulde.datasets.ucf_crime import AnnotationClippedWarning

SMALL = (16, 16)
PED2_COUNTS = [180, 180, 150, 180, 150, 180, 180, 180, 120, 150, 180, 180]


# ---------------------------------------------------------------- ranges <-> labels


def test_ranges_to_labels_hand_computed():
    np.testing.assert_array_equal(
        ranges_to_labels([(2, 4), (7, 7)], 10), [0, 0, 1, 1, 1, 0, 0, 1, 0, 0]
    )
    np.testing.assert_array_equal(ranges_to_labels([(1, 2)], 4, first_frame=1), [1, 1, 0, 0])
    np.testing.assert_array_equal(ranges_to_labels([(3, 5), (4, 6)], 7), [0, 0, 0, 1, 1, 1, 1])
    assert ranges_to_labels([], 3).dtype == np.int8


def test_a_range_one_past_the_end_hints_at_frames_counted_from_one(tmp_path):
    """In a user's own file whose frames count from 0 (a folder's labels.csv), a range from
    frame 1 or later that ends one past the last frame is what 1-based numbers give: the error
    says to subtract 1. Not for a range that starts at 0, ends further out, numbers counted
    from 1, or an official file (UBnormal's tracks: there a video decoded a frame short)."""
    hint = "(frames here count from 0: if yours count from 1, subtract 1 from every frame number)"
    with pytest.raises(DatasetError) as caught:
        ranges_to_labels([(3, 10)], 10, source="labels.csv (v)", one_based_hint=True)
    assert str(caught.value) == ("labels.csv (v): range 3..10 lies outside the 10 frames "
                                 f"numbered 0..9 {hint}")
    # the parts a caller listing many videos needs, without parsing the message
    assert caught.value.problem == "range 3..10 lies outside the 10 frames numbered 0..9"
    assert caught.value.one_based is True
    assert caught.value.bad == (3, 10)
    row = CsvRange(3, 10, line=7)  # a labels file's range: equal to the tuple, with its line
    assert row == (3, 10) and row.line == 7 and tuple(row) == (3, 10)
    import copy
    import pickle

    for back in (pickle.loads(pickle.dumps(row)), copy.copy(row), copy.deepcopy(row)):
        assert type(back) is CsvRange and back == (3, 10) and back.line == 7
    with pytest.raises(DatasetError) as caught:
        ranges_to_labels([(0, 1), row], 10)
    assert caught.value.bad is row
    for ranges, first, hinted in (([(0, 10)], 0, True), ([(3, 11)], 0, True),
                                  ([(3, 11)], 1, True), ([(3, 10)], 0, False)):
        with pytest.raises(DatasetError) as caught:
            ranges_to_labels(ranges, 10, first_frame=first, one_based_hint=hinted)
        assert "subtract" not in str(caught.value)
    write_frames(tmp_path / "train" / "a", 4)  # the folder dataset's labels.csv hints
    write_frames(tmp_path / "test" / "v", 5)
    (tmp_path / "labels.csv").write_text("video,start,end\nv,2,5\n")
    with pytest.raises(DatasetError, match=r"range 2..5 lies outside the 5 frames numbered "
                       r"0..4 \(frames here count from 0"):
        load_dataset("folder", tmp_path)
    # every video whose ranges do not fit is named at once, in one line
    write_frames(tmp_path / "test" / "w", 3)
    write_frames(tmp_path / "test" / "x", 3)
    (tmp_path / "labels.csv").write_text("video,start,end\nv,2,5\nw,1,3\nx,0,1\n")
    with pytest.raises(DatasetError) as caught:
        load_dataset("folder", tmp_path)
    assert str(caught.value) == (
        f"{tmp_path / 'labels.csv'}: the ranges of 2 test videos do not fit them: v, row 2: "
        "range 2..5 lies outside the 5 frames numbered 0..4; w, row 3: range 1..3 lies outside "
        "the 3 frames numbered 0..2 (frames here count from 0: if yours count from 1, subtract "
        "1 from every frame number)")


@pytest.mark.parametrize(
    ("ranges", "first_frame", "message"),
    [([(5, 4)], 0, "ends before it starts"), ([(0, 10)], 0, "outside"), ([(0, 3)], 1, "outside")],
)
def test_ranges_to_labels_rejects_bad_ranges(ranges, first_frame, message):
    with pytest.raises(DatasetError, match=f"gt.txt: .*{message}"):
        ranges_to_labels(ranges, 10, first_frame=first_frame, source="gt.txt")


def test_labels_to_ranges_hand_computed():
    assert labels_to_ranges(np.array([0, 1, 1, 0, 1])) == [(1, 2), (4, 4)]
    assert labels_to_ranges(np.array([1, 1]), first_frame=1) == [(1, 2)]
    assert labels_to_ranges(np.zeros(3)) == []


@given(st.lists(st.integers(0, 1), max_size=60), st.integers(0, 2))
def test_labels_round_trip_through_ranges(flags, first_frame):
    labels = np.array(flags, dtype=np.int8)
    ranges = labels_to_ranges(labels, first_frame=first_frame)
    back = ranges_to_labels(ranges, len(labels), first_frame=first_frame)
    np.testing.assert_array_equal(back, labels)
    assert all(e + 1 < s for (_, e), (s, _) in zip(ranges, ranges[1:], strict=False))


@given(st.lists(st.tuples(st.integers(0, 49), st.integers(0, 49)), max_size=8))
def test_ranges_cover_exactly_their_frames(pairs):
    ranges = [(min(a, b), max(a, b)) for a, b in pairs]
    labels = ranges_to_labels(ranges, 50)
    covered = {f for s, e in ranges for f in range(s, e + 1)}
    assert set(np.flatnonzero(labels)) == covered
    assert ranges_to_labels(labels_to_ranges(labels), 50).tolist() == labels.tolist()


def test_as_labels_accepts_0_1_vectors_only():
    np.testing.assert_array_equal(as_labels(np.array([[0.0, 1.0, 1.0]]), source="x"), [0, 1, 1])
    with pytest.raises(DatasetError, match="x: frame labels must be 0 or 1, frame 1 is 2"):
        as_labels(np.array([0, 2]), source="x")
    with pytest.raises(DatasetError, match="x: expected a vector"):
        as_labels(np.zeros((2, 3)), source="x")


# ---------------------------------------------------------------- registry


def test_registry_names_and_unknown_name(tmp_path):
    assert set(DATASETS) == {
        "ucsd_ped2",
        "ucsd_ped1",
        "avenue",
        "shanghaitech",
        "ubnormal",
        "ucf_crime",
        "folder",
    }
    with pytest.raises(DatasetError, match="unknown dataset 'ped3'; known: ucsd_ped2"):
        load_dataset("ped3", tmp_path)
    with pytest.raises(DatasetError, match="dataset root folder not found"):
        load_dataset("avenue", tmp_path / "missing")


# ---------------------------------------------------------------- UCSD


def test_parse_gt_m_variants(tmp_path):
    path = tmp_path / "UCSDped1.m"
    path.write_text(
        "TestVideoFile = {};\n"
        "% a comment with gt_frame in it\n"
        "TestVideoFile{end+1}.gt_frame = [60:152];\n"
        "TestVideoFile{end+1}.gt_frame = [5 : 90, 140:200]; % two events\n"
        "TestVideoFile{3}.gt_frame = [7 9:10];\n"
    )
    assert ucsd.parse_gt_m(path) == [[(60, 152)], [(5, 90), (140, 200)], [(7, 7), (9, 10)]]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("TestVideoFile{end+1}.gt_frame = [1:2:10];", "line 2: bad frame range text ':'"),
        ("TestVideoFile{end+1}.gt_frame = [a:9];", "line 2: bad frame range text 'a:'"),
        ("TestVideoFile{end+1}.gt_frame = 61:180;", "line 2: cannot parse gt_frame"),
        ("TestVideoFile{5}.gt_frame = [1:3];", "line 2: video index 5 out of order"),
    ],
)
def test_parse_gt_m_errors_name_the_line(tmp_path, line, message):
    path = tmp_path / "UCSDped2.m"
    path.write_text(f"TestVideoFile{{end+1}}.gt_frame = [1:3];\n{line}\n")
    with pytest.raises(DatasetError, match=f"UCSDped2.m, {message}"):
        ucsd.parse_gt_m(path)


def test_ped2_real_ground_truth_files_agree():
    root = data_dir("ucsd_ped2")
    from_m = ucsd.read_gt(root / "UCSDped2.m")
    from_mat = ucsd.read_gt(root / "ped2.mat")
    assert from_m == from_mat
    assert from_m[0] == [(61, 180)] and from_m[11] == [(88, 180)]


def test_ped2_real_loader():
    root = data_dir("ucsd_ped2")
    by_gt = {
        gt: load_dataset("ucsd_ped2", root, gt_path=root / gt) for gt in ("UCSDped2.m", "ped2.mat")
    }
    for a, b in zip(by_gt["UCSDped2.m"].test, by_gt["ped2.mat"].test, strict=True):
        np.testing.assert_array_equal(a.labels, b.labels)
    dataset = load_dataset("ucsd_ped2", root, check=True)
    assert dataset.name == "ucsd_ped2" and dataset.smoothing_sigma == 3.0
    assert dataset.velocity_bins == 1  # AI-VAD's Ped2 velocity: the mean speed
    assert [v.name for v in dataset.test] == [f"{i:02d}" for i in range(1, 13)]
    assert [len(v.labels) for v in dataset.test] == PED2_COUNTS
    assert sum(int(v.labels.sum()) for v in dataset.test) == 1648
    assert all(v.labels.dtype == np.int8 for v in dataset.test)
    assert len(dataset.train) == 16 and all(v.labels is None for v in dataset.train)
    assert sum(v.n_frames for v in dataset.train) == 2550
    frames = list(dataset.test[8].frames())
    assert len(frames) == 120 and frames[0].shape == (240, 360, 3)


def _ucsd_official(root: Path, tests: list[int]) -> Path:
    base = root / "UCSD_Anomaly_Dataset.v1p2" / "UCSDped2"
    for i in (1, 2):
        write_frames(base / "Train" / f"Train{i:03d}", 4, size=SMALL, names=_tifs(4))
    for i, n in enumerate(tests, start=1):
        write_frames(base / "Test" / f"Test{i:03d}", n, size=SMALL, names=_tifs(n))
    write_frames(base / "Test" / "Test001_gt", 2, size=SMALL, suffix=".bmp")
    (base / "Test" / ".DS_Store").write_bytes(b"junk")
    (base / "Test" / "UCSDped2.m").write_text(
        "TestVideoFile = {};\n"
        "TestVideoFile{end+1}.gt_frame = [2:3];\n"
        "TestVideoFile{end+1}.gt_frame = [1:1, 5:6];\n"
    )
    return root / "UCSD_Anomaly_Dataset.v1p2"


def _tifs(n: int) -> list[str]:
    return [f"{i:03d}.tif" for i in range(1, n + 1)]


def test_ucsd_official_layout(tmp_path):
    root = _ucsd_official(tmp_path, [5, 6])
    dataset = load_dataset("ucsd_ped2", root, check=True)
    assert [v.name for v in dataset.train] == ["Train001", "Train002"]
    assert [v.name for v in dataset.test] == ["Test001", "Test002"]
    assert dataset.test[0].labels.tolist() == [0, 1, 1, 0, 0]
    assert dataset.test[1].labels.tolist() == [1, 0, 0, 0, 1, 1]
    assert next(dataset.test[0].frames()).shape == (*SMALL, 3)


def test_ucsd_range_past_the_video_end_names_the_video(tmp_path):
    root = _ucsd_official(tmp_path, [5, 5])
    with pytest.raises(DatasetError, match=r"UCSDped2.m \(test video Test002\): range 5..6"):
        load_dataset("ucsd_ped2", root)


def test_ped1_frame_folders_with_liu_mat(tmp_path):
    write_frames(tmp_path / "training" / "frames" / "01", 3, size=SMALL, suffix=".jpg")
    write_frames(tmp_path / "testing" / "frames" / "01", 6, size=SMALL, suffix=".jpg")
    write_frames(tmp_path / "testing" / "frames" / "02", 4, size=SMALL, suffix=".jpg")
    gt = cell([np.array([[2], [3]], np.uint8), np.array([[1, 4], [1, 4]], np.uint8)])
    savemat(tmp_path / "ped1.mat", {"gt": gt})
    dataset = load_dataset("ucsd_ped1", tmp_path)
    assert dataset.name == "ucsd_ped1" and dataset.smoothing_sigma == 3.0
    assert dataset.velocity_bins is None  # no published object protocol on Ped1
    assert dataset.test[0].labels.tolist() == [0, 1, 1, 0, 0, 0]
    assert dataset.test[1].labels.tolist() == [1, 0, 0, 1]
    savemat(tmp_path / "ped1.mat", {"gt": cell([np.array([[1], [2]])])})
    with pytest.raises(DatasetError, match="ground truth for 1 test videos but .* holds 2"):
        load_dataset("ucsd_ped1", tmp_path)


# ---------------------------------------------------------------- Avenue


def test_avenue_real_ground_truth_sources_agree():
    root = data_dir("avenue")
    masks = avenue.read_gt(root / "testing_label_mask")
    per_frame = avenue.read_gt(root / "avenue.mat")
    assert sorted(masks) == sorted(per_frame) == [f"{i:02d}" for i in range(1, 22)]
    for name in masks:
        np.testing.assert_array_equal(masks[name], per_frame[name], err_msg=name)
    assert sum(len(v) for v in masks.values()) == 15324
    assert masks["08"].all() and masks["18"].all()
    assert not any(masks[n].all() for n in masks if n not in ("08", "18"))


def test_streaming_mask_reader_matches_scipy_on_real_file():
    path = data_dir("avenue", "testing_label_mask", "21_label.mat")
    expected = [m.any() for m in load_mat(path)["volLabel"].ravel(order="F")]
    assert cell_any(path, "volLabel").tolist() == expected


@pytest.mark.parametrize("compress", [True, False])
def test_mask_reader_on_written_files(tmp_path, compress):
    masks = [np.zeros((4, 6), np.uint8), np.eye(4, 6, dtype=np.uint8), np.zeros((0, 0))]
    masks.append(np.full((4, 6), 0.5))
    path = savemat(
        tmp_path / "1_label.mat", {"other": 3.0, "volLabel": cell(masks)}, compress=compress
    )
    assert cell_any(path, "volLabel").tolist() == [0, 1, 0, 1]
    with pytest.raises(DatasetError, match="no variable 'missing'"):
        cell_any(path, "missing")


def test_avenue_real_partial_loader_warns_missing():
    root = data_dir("avenue")
    with pytest.warns(MissingVideosWarning, match="15 test video.*: 01, 02, .*, 16$") as said:
        dataset = load_dataset("avenue", root, check=True)
    assert dataset.left_out == (str(said[0].message),)  # kept for the run to record
    assert [v.name for v in dataset.test] == ["08", "17", "18", "19", "20", "21"]
    assert [v.name for v in dataset.train] == ["12", "16"]
    assert dataset.test[0].labels.tolist() == [1] * 36
    assert dataset.test[0].n_frames == 36 and dataset.test[0].fps == 25.0


def _avenue_fake(root: Path, lengths: dict[str, int], labels: dict[str, int]) -> Path:
    write_video(root / "training_videos" / "01.avi", 4, size=SMALL)
    for name, n in lengths.items():
        write_video(root / "testing_videos" / f"{name}.avi", n, size=SMALL)
    savemat(root / "avenue.mat", {k: np.ones((1, n), np.int32) for k, n in labels.items()})
    return root


def test_avenue_label_length_mismatch_names_the_video(tmp_path):
    root = _avenue_fake(tmp_path, {"01": 6, "02": 5}, {"01": 6, "02": 7, "03": 4})
    with pytest.warns(MissingVideosWarning, match=": 03$"):
        dataset = load_dataset("avenue", root)  # lazy: no length check by default
    assert [len(v.labels) for v in dataset.test] == [6, 7]
    with pytest.warns(MissingVideosWarning), pytest.raises(DatasetError) as raised:
        load_dataset("avenue", root, check=True)
    assert "test/02: ground truth has 7 frame labels but the video has 5 frames" in str(
        raised.value
    )
    assert [p.name for p in raised.value.problems] == ["02"]


def test_avenue_test_video_without_ground_truth_is_an_error(tmp_path):
    root = _avenue_fake(tmp_path, {"01": 3, "22": 3}, {"01": 3})
    with pytest.raises(DatasetError, match="no ground truth for test videos 22"):
        load_dataset("avenue", root)


# ---------------------------------------------------------------- ShanghaiTech


def test_shanghaitech_real_ground_truth():
    gt = shanghaitech.read_gt(data_dir("shanghaitech", "test_frame_mask"))
    assert len(gt) == 107
    assert sum(len(v) for v in gt.values()) == 40791
    assert sum(int(v.sum()) for v in gt.values()) == 17326
    assert {shanghaitech.scene_of(n) for n in gt} == {f"{i:02d}" for i in range(1, 13)}
    assert all(v.dtype == np.int8 for v in gt.values())


def test_shanghaitech_fake_layout_and_scenes(tmp_path):
    root = shanghaitech_fake(tmp_path)
    with pytest.warns(MissingVideosWarning, match="03_0031"):
        dataset = load_dataset("shanghaitech", root, check=True)
    assert dataset.smoothing_sigma == 7.0
    assert [v.name for v in dataset.train] == ["01_001", "01_002", "02_001"]
    assert [v.labels.tolist() for v in dataset.test] == [[0, 0, 1, 1, 0], [1, 0, 0, 0]]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        scene1 = load_dataset("shanghaitech", root, scenes=[1])
    assert [v.name for v in scene1.train] == ["01_001", "01_002"]
    assert [v.name for v in scene1.test] == ["01_0014"]
    assert scene1.one_view and not dataset.one_view  # 13 cameras: no single scene model
    from mulde.pipeline import extract_features
    from mulde.video.features.registry import build_extractor

    objects = build_extractor("objects")
    with pytest.raises(DatasetError, match="does not say which camera took which video; use "
                                           "the extractor objects:velocity"):
        extract_features(dataclasses.replace(dataset, view_of=None), objects, progress=False)
    assert "static" not in build_extractor("objects:velocity").streams
    with pytest.raises(DatasetError) as err:
        load_dataset("shanghaitech", root, scenes=["05", 1])
    assert str(err.value) == f"{root}: no videos of scene(s) 05; the scenes here are 01, 02"


@pytest.mark.parametrize("bad", ["one", "x1", "1.5", None])
def test_shanghaitech_scenes_that_are_not_numbers_are_named_with_the_scenes_there(tmp_path, bad):
    """`--scenes one` ended in int()'s traceback; the masks' scenes include 03 (no frames)."""
    root = shanghaitech_fake(tmp_path)
    with pytest.raises(DatasetError) as err:
        load_dataset("shanghaitech", root, scenes=[1, bad])
    assert str(err.value) == (f"{root}: --scenes {bad}: not a scene number; the scenes here "
                              "are 01, 02")
    masks = root / "testing" / "test_frame_mask"
    with pytest.raises(DatasetError) as err:
        shanghaitech.ground_truth(root, scenes=[bad])
    assert str(err.value) == (f"{masks}: --scenes {bad}: not a scene number; the scenes here "
                              "are 01, 02, 03")
    with pytest.raises(DatasetError) as err:
        shanghaitech.ground_truth(root, scenes=[99])
    assert str(err.value) == (f"{masks}: no frame masks of scene(s) 99; the scenes here are "
                              "01, 02, 03")


def test_static_stream_learns_one_scene_background_per_camera_view(tmp_path):
    from mulde.pipeline import extract_features
    from mulde.video.features.registry import build_extractor

    root = shanghaitech_fake(tmp_path)
    write_frames(root / "testing" / "frames" / "03_0031", 2, size=SMALL, suffix=".jpg")
    dataset = load_dataset("shanghaitech", root)
    objects = build_extractor("objects")
    result = extract_features(dataset, objects, progress=False)
    assert sorted(result.scene_backgrounds) == ["01", "02"]
    assert len(set(result.scene_backgrounds.values())) == 2
    assert set(result.features["test"]) == {"01_0014", "02_0128"}
    assert [(f["video"], "view '03'" in f["error"]) for f in result.failed] == [("03_0031", True)]
    view2 = [v for v in dataset.train if v.name == "02_001"]
    test2 = next(v for v in dataset.test if v.name == "02_0128")
    alone = objects.with_scene(view2, tmp_path / "alone").extract(test2)
    for stream in ("velocity", "static"):
        np.testing.assert_array_equal(result.features["test"]["02_0128"][stream].features,
            alone[stream].features)


# ---------------------------------------------------------------- UBnormal


def test_ubnormal_real_ground_truth():
    root = data_dir("ubnormal")
    test_names = ubnormal.read_split(root / "splits", "abnormal", "test")
    test_names += ubnormal.read_split(root / "splits", "normal", "test")
    assert len(test_names) == 211
    assert len(ubnormal.read_split(root / "splits", "normal", "training")) == 186
    frames = anomalous = 0
    for name in test_names:
        path = root / "gt" / f"{name}_tracks.txt"
        assert ubnormal.is_npy(path), name  # the redistributed test labels are .npy
        labels = ubnormal.read_labels(path, None)
        frames, anomalous = frames + len(labels), anomalous + int(labels.sum())
        assert labels.any() == name.startswith("abnormal"), name
    assert (frames, anomalous) == (92640, 49650)
    text_files = [p for p in sorted((root / "gt").glob("*_tracks.txt")) if not ubnormal.is_npy(p)]
    assert len(text_files) == 120
    ranges = [r for p in text_files for r in ubnormal.parse_tracks(p)]
    assert len(ranges) == 271 and all(0 <= s <= e for s, e in ranges)


def test_ubnormal_track_text_errors(tmp_path):
    path = tmp_path / "x_tracks.txt"
    path.write_text("1,0,4\r\n2,1.5,3\r\n")
    with pytest.raises(DatasetError, match="x_tracks.txt, line 2, field start: not a whole"):
        ubnormal.parse_tracks(path)
    path.write_text("1,0\n")
    with pytest.raises(DatasetError, match="line 1: expected object_id,start,end"):
        ubnormal.parse_tracks(path)


def _ubnormal_fake(root: Path) -> Path:
    videos = {
        "normal_scene_1_scenario_1": 5,  # training
        "abnormal_scene_1_scenario_2": 6,  # abnormal training: never used
        "normal_scene_1_scenario_3": 4,  # test, no ground-truth file
        "abnormal_scene_1_scenario_4": 8,  # test, official track text
        "abnormal_scene_2_scenario_1": 5,  # test, .npy variant in gt/
        "normal_scene_2_scenario_2_fog": 3,  # validation
    }
    for name, n in videos.items():
        write_video(root / f"Scene{ubnormal.scene_of(name)}" / f"{name}.mp4", n, size=SMALL)
    tracks = root / "Scene1" / "abnormal_scene_1_scenario_4_annotations"
    tracks.mkdir()
    (tracks / "abnormal_scene_1_scenario_4_tracks.txt").write_text(
        "1.000000000000000000e+00,1.000000000000000000e+00,2.000000000000000000e+00\n2,5,6\n"
    )
    (root / "gt").mkdir()
    with (root / "gt" / "abnormal_scene_2_scenario_1_tracks.txt").open("wb") as handle:
        np.save(handle, np.array([1.0, 0.0, 0.0, 1.0, 1.0]))  # 1 = normal in this variant
    splits = root / "splits"
    splits.mkdir()
    lists = {
        "normal_training": ["normal_scene_1_scenario_1", "normal_scene_9_scenario_9"],
        "abnormal_training": ["abnormal_scene_1_scenario_2"],
        "normal_test": ["normal_scene_1_scenario_3"],
        "abnormal_test": ["abnormal_scene_1_scenario_4", "abnormal_scene_2_scenario_1"],
        "normal_validation": ["normal_scene_2_scenario_2_fog"],
        "abnormal_validation": [],
    }
    for key, names in lists.items():
        (splits / f"{key}_video_names.txt").write_text("\n".join(names))
    return root


def test_ubnormal_fake_layout(tmp_path):
    root = _ubnormal_fake(tmp_path)
    with pytest.warns(MissingVideosWarning, match="normal_scene_9_scenario_9"):
        dataset = load_dataset("ubnormal", root, check=True)
    assert [v.name for v in dataset.train] == ["normal_scene_1_scenario_1"]
    labels = {v.name: v.labels.tolist() for v in dataset.test}
    assert labels == {
        "abnormal_scene_1_scenario_4": [0, 1, 1, 0, 0, 1, 1, 0],
        "abnormal_scene_2_scenario_1": [0, 1, 1, 0, 0],
        "normal_scene_1_scenario_3": [0, 0, 0, 0],
    }
    with pytest.warns(MissingVideosWarning):
        validation = load_dataset("ubnormal", root, split="validation")
    assert [(v.name, v.labels.tolist()) for v in validation.test] == [
        ("normal_scene_2_scenario_2_fog", [0, 0, 0])
    ]
    with pytest.raises(DatasetError, match="split must be 'test' or 'validation'"):
        load_dataset("ubnormal", root, split="training")


def test_ubnormal_empty_tracks_of_an_abnormal_video_are_warned_of(tmp_path):
    root = _ubnormal_fake(tmp_path)
    tracks = (root / "Scene1" / "abnormal_scene_1_scenario_4_annotations"
              / "abnormal_scene_1_scenario_4_tracks.txt")
    tracks.write_text("")
    with pytest.warns(UserWarning, match=rf"^{tracks}: the label file of 1 abnormal test "
                      "video marks no anomalous frame"):
        dataset = load_dataset("ubnormal", root)
    assert dataset.test[0].labels.tolist() == [0] * 8


# ---------------------------------------------------------------- UCF-Crime


def test_ucf_crime_real_annotation():
    path = data_dir("ucf_crime", ucf_crime.ANNOTATION_NAME)
    annotations = ucf_crime.parse_annotation(path)
    assert len(annotations) == 290
    normal = [a for a in annotations if a.category == "Normal"]
    assert len(normal) == 150 and all(a.ranges == () for a in normal)
    anomalous = [a for a in annotations if a.category != "Normal"]
    assert all(len(a.ranges) in (1, 2) for a in anomalous)
    assert sum(len(a.ranges) == 2 for a in anomalous) == 16
    first = annotations[0]
    assert (first.video, first.category, first.ranges) == (
        "Abuse028_x264.mp4",
        "Abuse",
        ((165, 240),),
    )


def test_ucf_crime_annotation_errors(tmp_path):
    path = tmp_path / "ann.txt"
    path.write_text("A_x264.mp4 Abuse 1 2 -1 -1\nB_x264.mp4 Abuse 5 x -1 -1\n")
    with pytest.raises(DatasetError, match="ann.txt, line 2, field end1: not an integer"):
        ucf_crime.parse_annotation(path)
    path.write_text("A_x264.mp4 Abuse 9 2 -1 -1\n")
    with pytest.raises(DatasetError, match="line 1, fields start1/end1: invalid range 9..2"):
        ucf_crime.parse_annotation(path)
    path.write_text("A_x264.mp4 Abuse 1 2\n")
    with pytest.raises(DatasetError, match="line 1: expected 6 fields"):
        ucf_crime.parse_annotation(path)


def test_ucf_crime_fake_layout(tmp_path):
    videos = {
        "Training_Normal_Videos_Anomaly/Normal_Videos001_x264.mp4": 3,
        "Training_Normal_Videos_Anomaly/Normal_Videos002_x264.mp4": 3,
        "Anomaly-Videos-Part-1/Abuse/Abuse001_x264.mp4": 3,
        "Anomaly-Videos-Part-1/Abuse/Abuse028_x264.mp4": 8,
        "Testing_Normal_Videos_Anomaly/Normal_Videos_003_x264.mp4": 4,
    }
    for relative, n in videos.items():
        write_video(tmp_path / relative, n, size=SMALL)
    splits = tmp_path / "UCF_Crimes-Train-Test-Split" / "Anomaly_Detection_splits"
    splits.mkdir(parents=True)
    (splits / "Anomaly_Train.txt").write_text(
        "Abuse/Abuse001_x264.mp4\nTraining_Normal_Videos_Anomaly/Normal_Videos001_x264.mp4\n"
    )
    (tmp_path / ucf_crime.ANNOTATION_NAME).write_text(
        "Abuse028_x264.mp4  Abuse  2  3  6  9  \n"
        "Normal_Videos_003_x264.mp4  Normal  -1  -1  -1  -1\n"
        "Arson011_x264.mp4  Arson  150  420  680  1267\n"
    )
    with (
        pytest.warns(MissingVideosWarning, match="Arson011_x264.mp4"),
        pytest.warns(AnnotationClippedWarning, match=r"Abuse028_x264.mp4 \(8 frames\)"),
    ):
        dataset = load_dataset("ucf_crime", tmp_path, check=True)
    assert dataset.smoothing_sigma == 0.0  # unsmoothed, as its benchmark's protocol
    assert [v.name for v in dataset.train] == ["Normal_Videos001_x264"]
    assert [(v.name, v.labels.tolist()) for v in dataset.test] == [
        ("Abuse028_x264", [0, 1, 1, 0, 0, 1, 1, 1]),
        ("Normal_Videos_003_x264", [0, 0, 0, 0]),
    ]


# ---------------------------------------------------------------- folder


def _folder_fake(root: Path) -> Path:
    write_video(root / "train" / "a.mp4", 4, size=SMALL)
    write_frames(root / "train" / "b", 3, size=SMALL)
    (root / "train" / "notes.txt").write_text("ignored")
    write_video(root / "test" / "c.avi", 6, size=SMALL)
    write_frames(root / "test" / "d", 5, size=SMALL)
    return root


def test_folder_without_labels(tmp_path):
    dataset = load_dataset("folder", _folder_fake(tmp_path), smoothing_sigma=5)
    assert [v.name for v in dataset.train] == ["a", "b"]
    assert [(v.name, v.labels) for v in dataset.test] == [("c", None), ("d", None)]
    assert dataset.smoothing_sigma == 5.0
    assert check_dataset(dataset) == []


@pytest.mark.parametrize("where", ["test/labels.csv", "label.csv", "train/Labels.CSV"])
def test_folder_says_when_its_labels_file_is_elsewhere(tmp_path, where):
    """A labels file in test/ or misnamed would only show as "no labels were given" after the
    whole run: loading says at once where it was found and where it is read from."""
    root = _folder_fake(tmp_path)
    (root / where).write_text("video,start,end\nc,1,2\n")
    with pytest.warns(LabelsNotFoundWarning) as shown:
        dataset = load_dataset("folder", root)
    (message,) = [str(w.message) for w in shown if w.category is LabelsNotFoundWarning]
    assert message == (f"{root}: no labels.csv, so the test videos are scored without labels "
                       f"(no AUC); found {where}: labels are read from {root / 'labels.csv'} "
                       "only (if that is the labels file, move or rename it there)")
    assert all(v.labels is None for v in dataset.test)
    # another CSV a user keeps (no "label" in its name, no "video" field) is not named
    (root / "camera_log.csv").write_text("time,temperature\n0,21\n")
    (root / where).rename(root / "test" / "events.csv")  # the labels' header: named
    with pytest.warns(LabelsNotFoundWarning, match="found test/events.csv: labels"):
        load_dataset("folder", root)
    (root / "test" / "events.csv").rename(root / where)
    (root / where).rename(root / "labels.csv")
    with warnings.catch_warnings():
        warnings.simplefilter("error", LabelsNotFoundWarning)
        dataset = load_dataset("folder", root)
    assert dataset.test[0].labels is not None


def test_folder_names_what_it_ignores_once_per_kind(tmp_path):
    """Stray files and folders that hold no video are left out with one line per kind; frame
    folders and video files are videos, hidden files are ignored silently."""
    root = _folder_fake(tmp_path)  # with train/notes.txt
    (root / "test" / "notes.txt").write_text("x")
    (root / "test" / "empty").mkdir()
    (root / "train" / ".DS_Store").write_text("x")
    write_frames(root / "train" / "b" / "nested", 2, size=SMALL)  # inside a frame folder
    write_frames(root / "train", 2, size=SMALL, names=["still_1.jpg", "still_2.jpg"])
    write_video(root / "test" / "cam1" / "e.mp4", 3, size=SMALL)  # one folder too deep
    with warnings.catch_warnings(record=True) as shown:
        warnings.simplefilter("always")
        dataset = load_dataset("folder", root)
    assert [v.name for v in dataset.train] == ["a", "b"]
    assert [v.name for v in dataset.test] == ["c", "d"]
    assert all(w.category is IgnoredFilesWarning for w in shown)
    assert sorted(str(w.message) for w in shown) == [
        "ignored 1 empty folder: test/empty",
        "ignored 1 folder without frame images: test/cam1 (video files go directly in train/"
        " or test/, not in a sub-folder)",
        "ignored 2 files that are not videos: test/notes.txt, train/notes.txt",
        "ignored 2 image files outside a frame folder: train/still_1.jpg, train/still_2.jpg "
        "(the frames of a video go in a sub-folder of their own, one per video)",
    ]
    # the dataset keeps them, for a run to record (the hidden file is no news)
    assert sorted(p.relative_to(root).as_posix() for p in dataset.ignored) == [
        "test/cam1", "test/empty", "test/notes.txt", "train/notes.txt", "train/still_1.jpg",
        "train/still_2.jpg"]


def test_folder_names_the_stray_images_of_its_frame_folders_once(tmp_path):
    """An image without a number among numbered frames is no frame: the loader names it
    with the entries it ignores (a run records those), and decoding the folder later in the
    process does not name it again; the labels count the numbered frames."""
    root = _folder_fake(tmp_path)  # test/d: 000.png ... 004.png
    write_frames(root / "test" / "d", 1, size=SMALL, names=["cover.png"])
    (root / "labels.csv").write_text("video,start,end\nd,4,4\n")
    with warnings.catch_warnings(record=True) as shown:
        warnings.simplefilter("always")
        dataset = load_dataset("folder", root)
        d = dataset.test[1]
        assert d.labels.tolist() == [0, 0, 0, 0, 1] and len(list(d.frames())) == 5
    assert [(w.category, str(w.message)) for w in shown if "cover" in str(w.message)] == [
        (IgnoredFilesWarning, "ignored 1 image without a frame number in a folder of numbered "
         "frames: test/d/cover.png (the frames are the numbered images; move these out of the "
         "frame folder)")]
    assert root / "test" / "d" / "cover.png" in dataset.ignored


def test_folder_with_labels_csv(tmp_path):
    root = _folder_fake(tmp_path)
    (root / "labels.csv").write_text("video,start,end\nc,1,2\nc,5,5\n")
    dataset = load_dataset("folder", root, check=True)
    assert dataset.smoothing_sigma == 3.0
    assert [v.labels.tolist() for v in dataset.test] == [[0, 1, 1, 0, 0, 1], [0] * 5]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("video,begin,end\nc,1,2\n", "row 1: header must be video,start,end, got "
                                     "video,begin,end$"),
        ("monday,13,65\n", "row 1: header must be video,start,end, got monday,13,65 "
                          "\\(a range: add the line video,start,end above it\\)"),
        ("video,start,end\nc,1,2\nc,x,3\n", "row 3, field start: not a whole frame number "
                                           "\\('x'\\); give 0-based frame numbers$"),
        ("video,start,end\nc,1,\n", "row 2, field end: not a whole frame number \\(''\\); "
                                 "give 0-based frame numbers$"),
        ("video,start,end\nc,4.3,5\n", "row 2, field start: not a whole frame number "
                                   "\\('4.3'\\); give 0-based frame numbers, not times in "
                                   "seconds$"),
        ("video,start,end\nc,4,2\n", "row 2, field end: end 2 is before start 4"),
        ("video,start,end\nc,-1,2\n", "row 2, field start: negative frame"),
        ("video,start,end\n,1,2\n", "row 2, field video: empty video name"),
        ("video,start,end\nc,1\n", "row 2: expected 3 fields \\(video,start,end\\), found 2$"),
        ("video,start,end\nc,1,2,3\n", "row 2: expected 3 fields \\(video,start,end\\), found 4$"),
        ("video,start,end\nc;1;2\n", "row 2: expected 3 fields \\(video,start,end\\), found 1; "
         "separate them with commas, not semicolons$"),
        # a semicolon or tab separated file: its header is one field, and the separator is said
        ("video;start;end\nc;1;2\n", "row 1: header must be video,start,end, got "
         "video;start;end \\(one field\\); fields are separated by commas, not semicolons: "
         "save the file as CSV with commas"),
        ("video\tstart\tend\nc\t1\t2\n", "row 1: header must be video,start,end, got "
         "video\tstart\tend \\(one field\\); fields are separated by commas, not tabs"),
    ],
)
def test_folder_malformed_csv_names_file_row_and_field(tmp_path, text, message):
    path = tmp_path / "labels.csv"
    path.write_text(text)
    with pytest.raises(DatasetError, match=f"labels.csv, {message}"):
        read_labels_csv(path)


def test_folder_csv_takes_frame_numbers_as_pandas_writes_them_with_gaps(tmp_path):
    path = tmp_path / "labels.csv"
    path.write_text("video,start,end\nc,108.0,247.0\n")
    assert read_labels_csv(path)["c"] == [(108, 247)]


def test_folder_csv_errors_against_the_videos(tmp_path):
    root = _folder_fake(tmp_path)
    (root / "labels.csv").write_text("video,start,end\nzz,1,2\n")
    with pytest.raises(DatasetError, match="labels for videos not in .*test: zz"):
        load_dataset("folder", root)
    names = ", ".join(sorted(p.stem for p in (root / "test").iterdir()))
    (root / "labels.csv").write_text("video,start,end\nd.avi,1,2\n")  # a file name
    with pytest.raises(DatasetError, match=rf"test: d\.avi; its videos are {names} \(a "
                       r"video file's name without its suffix, or a frame folder's name\)"):
        load_dataset("folder", root)
    # a training video's name is said to be one: training videos take no labels
    (root / "labels.csv").write_text("video,start,end\nb,1,2\nzz,1,2\n")
    with pytest.raises(DatasetError, match=r"test: b \(a training video, in .*train\), zz; its "
                       r"videos are .*; training videos are normal video and take no labels: "
                       r"drop their rows, or move a video with anomalies into .*test$"):
        load_dataset("folder", root)
    with pytest.raises(DatasetError, match=r"test: b \(a training video, in .*train\), zz;"):
        folder_ground_truth(root)  # `mulde evaluate --dataset folder` reads labels alone
    (root / "labels.csv").write_text("video,start,end\nd,0,1\n\nd,3,5\n")  # the row is named
    with pytest.raises(DatasetError, match=r"labels.csv \(d, row 4\): range 3..5 lies outside "
                       "the 5"):
        load_dataset("folder", root)


def test_folder_labels_of_a_video_in_a_subfolder_say_where_it_is(tmp_path):
    """test/sub/20.avi and a row for 20 had been only "not in test/": the video is named
    where it lies, at any depth, a file or a frame folder, with what to do."""
    root = _folder_fake(tmp_path)
    write_video(root / "test" / "sub" / "20.avi", 3, size=SMALL)
    write_frames(root / "test" / "cam" / "day" / "x", 3, size=SMALL)
    (root / "labels.csv").write_text("video,start,end\n20,1,2\nx,0,1\nzz,1,2\n")
    test = root / "test"
    expected = (f"labels.csv: labels for videos not in {test}: 20 ({test / 'sub' / '20.avi'} "
                f"exists, but sub-folders of {test} are not read), x ({test / 'cam' / 'day' / 'x'} "
                f"exists, but sub-folders of {test} are not read), zz; its videos are c, d (a "
                "video file's name without its suffix, or a frame folder's name); move a video "
                f"out of its sub-folder into {test} to score it")
    with pytest.warns(IgnoredFilesWarning), pytest.raises(DatasetError) as err:
        load_dataset("folder", root)
    assert str(err.value).endswith(expected)
    with pytest.raises(DatasetError) as err:
        folder_ground_truth(root)
    assert str(err.value).endswith(expected)


def test_folder_labels_match_names_in_another_unicode_normal_form(tmp_path):
    """A macOS file name spells "café" as e and a combining accent (NFD), a typed labels.csv
    as one character (NFC): the label is the file's, named as the file is (it had been
    refused as "not in test/", listing a name that looked the same)."""
    import unicodedata

    root = tmp_path / "plaza"
    write_video(root / "train" / "a.mp4", 4, size=SMALL)
    write_frames(root / "test" / unicodedata.normalize("NFD", "café"), 5, size=SMALL)
    (root / "labels.csv").write_text("video,start,end\n" + unicodedata.normalize(
        "NFC", "café") + ",1,2\n", encoding="utf-8")
    (video,) = load_dataset("folder", root).test
    assert video.name == unicodedata.normalize("NFD", "café")
    assert video.labels.tolist() == [0, 1, 1, 0, 0]
    from mulde.datasets.folder import ground_truth  # what `mulde evaluate` reads

    assert list(ground_truth(root).videos) == [unicodedata.normalize("NFD", "café")]


def test_folder_corrupt_video_is_found_by_check_not_by_loading(tmp_path):
    root = _folder_fake(tmp_path)
    (root / "test" / "broken.mp4").write_bytes(b"\x00" * 2000)
    dataset = load_dataset("folder", root)  # lazy: nothing decoded
    assert [v.name for v in dataset.test] == ["broken", "c", "d"]
    problems = check_dataset(dataset)
    assert [(p.split, p.name) for p in problems] == [("test", "broken")]
    assert "broken.mp4: cannot read video" in problems[0].message
    with pytest.raises(DatasetError, match="1 problem"):
        load_dataset("folder", root, check=True)
    (root / "labels.csv").write_text("video,start,end\nc,0,0\n")
    with warnings.catch_warnings(record=True) as shown:
        warnings.simplefilter("always")
        labelled = load_dataset("folder", root)
    # silent about it: extraction names it once, when it skips it
    assert not [w for w in shown if "broken" in str(w.message)]
    assert labelled.test[0].labels is None and labelled.test[1].labels.tolist()[:2] == [1, 0]


def test_folder_without_train_or_test(tmp_path):
    with pytest.raises(DatasetError, match=r"not the root of the folder dataset \(train/ or "
                       r"test/ is missing\); expected ROOT/train/ \(normal videos"):
        load_dataset("folder", tmp_path)
    from mulde.datasets import folder

    with pytest.raises(DatasetError, match="neither a train/ nor a test/ folder; put normal "
                       "videos in"):
        folder.load(tmp_path)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("[90:5]", "line 2: range 90..5 ends before it starts"),
        ("[0:5]", r"line 2: frame 0 in range 0..5 \(frames count from 1\)"),
        ("[-5:10]", "line 2: bad frame range text '-'"),
        ("[5:x]", "line 2: bad frame range text ':x'"),
    ],
)
def test_ucsd_m_malformed_ranges_name_file_and_line(tmp_path, body, message):
    path = tmp_path / "UCSDped2.m"
    path.write_text(f"TestVideoFile{{end+1}}.gt_frame = [1:3];\n"
                    f"TestVideoFile{{end+1}}.gt_frame = {body};\n")
    with pytest.raises(DatasetError, match=f"UCSDped2.m, {message}"):
        ucsd.parse_gt_m(path)


@pytest.mark.parametrize(
    ("element", "message"),
    [
        (np.array([[5], [2]]), r"gt\{2\}: range 5..2 ends before it starts"),
        (np.array([[0], [3]]), r"gt\{2\}: frame 0 in range 0..3"),
        (np.array([[-4], [3]]), r"gt\{2\}: frame -4"),
        (np.array([[1.5], [3.0]]), r"gt\{2\} holds frame numbers that are not whole"),
        (np.array(["61:180"]), r"gt\{2\} must hold frame numbers, got dtype <U6"),
    ],
)
def test_ucsd_mat_malformed_ranges_name_file_and_element(tmp_path, element, message):
    path = savemat(tmp_path / "ped2.mat", {"gt": cell([np.array([[1], [2]]), element])})
    with pytest.raises(DatasetError, match=f"ped2.mat: {message}"):
        ucsd.read_gt(path)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("2,-3,5", "line 2, field start: negative frame -3"),
        ("2,9,4", "line 2, field end: end 4 is before start 9"),
        ("2,x,4", "line 2, field start: not a whole number"),
    ],
)
def test_ubnormal_malformed_tracks_name_file_and_line(tmp_path, line, message):
    path = tmp_path / "v_tracks.txt"
    path.write_text(f"1,0,2\n{line}\n")
    with pytest.raises(DatasetError, match=f"v_tracks.txt, {message}"):
        ubnormal.parse_tracks(path)


def test_ubnormal_track_beyond_the_video_names_the_file(tmp_path):
    path = tmp_path / "v_tracks.txt"
    path.write_text("1,2,9\n")
    with pytest.raises(DatasetError, match="v_tracks.txt: range 2..9 lies outside the 5 frames"):
        ubnormal.read_labels(path, 5)


def test_ucf_crime_range_starting_after_the_video_names_file_and_video(tmp_path):
    write_video(tmp_path / "Abuse" / "Abuse001_x264.mp4", 4, size=SMALL)
    (tmp_path / ucf_crime.ANNOTATION_NAME).write_text("Abuse001_x264.mp4 Abuse 6 9 -1 -1\n")
    with pytest.raises(DatasetError, match=r"Annotation_for_Testing_Videos.txt \(Abuse001_x264"
                       r".mp4\): range 6..9 starts after the video's last frame 4"):
        load_dataset("ucf_crime", tmp_path)


def _ucsd_without_gt(root: Path) -> tuple[str, dict, str]:
    write_frames(root / "UCSDped2" / "Train" / "Train001", 3, size=SMALL)
    write_frames(root / "UCSDped2" / "Test" / "Test001", 3, size=SMALL)
    return "ucsd_ped2", {}, "ground truth not found .*UCSDped2.m"


def _avenue_without_mask_file(root: Path) -> tuple[str, dict, str]:
    write_video(root / "training_videos" / "01.avi", 3, size=SMALL)
    for name in ("01", "02"):
        write_video(root / "testing_videos" / f"{name}.avi", 3, size=SMALL)
    savemat(root / "testing_label_mask" / "1_label.mat", {"volLabel": cell([np.zeros((2, 2))])})
    return "avenue", {}, "testing_label_mask: no ground truth for test videos 02"


def _shanghaitech_without_masks(root: Path) -> tuple[str, dict, str]:
    write_video(root / "training" / "videos" / "01_001.avi", 3, size=SMALL)
    write_frames(root / "testing" / "frames" / "01_0014", 3, size=SMALL)
    return "shanghaitech", {}, r"ground truth not found \(looked for .*test_frame_mask"


def _ubnormal_without_tracks(root: Path) -> tuple[str, dict, str]:
    for name in ("normal_scene_1_scenario_1", "abnormal_scene_1_scenario_2"):
        write_video(root / "Scene1" / f"{name}.mp4", 3, size=SMALL)
    lists = {"normal_training": "normal_scene_1_scenario_1", "normal_test": "",
             "abnormal_test": "abnormal_scene_1_scenario_2"}
    for key, names in lists.items():
        (root / f"{key}_video_names.txt").write_text(names)
    return "ubnormal", {}, r"no ground truth \(_tracks.txt\) for abnormal_scene_1_scenario_2"


def _ucf_crime_without_annotation(root: Path) -> tuple[str, dict, str]:
    write_video(root / "Abuse" / "Abuse001_x264.mp4", 3, size=SMALL)
    return "ucf_crime", {}, (r"Temporal_Anomaly_Annotation_for_Testing_Videos.txt \(the "
                             r"official .*\) not found")


def _folder_with_missing_labels_file(root: Path) -> tuple[str, dict, str]:
    write_frames(root / "test" / "a", 3, size=SMALL)
    return "folder", {"labels": root / "gone.csv"}, "gone.csv: file not found"


@pytest.mark.parametrize("build", [_ucsd_without_gt, _avenue_without_mask_file,
                                   _shanghaitech_without_masks, _ubnormal_without_tracks,
                                   _ucf_crime_without_annotation,
                                   _folder_with_missing_labels_file])
def test_missing_ground_truth_is_an_error_naming_what_is_missing(tmp_path, build):
    name, options, message = build(tmp_path)
    with pytest.raises(DatasetError, match=message):
        load_dataset(name, tmp_path, **options)
