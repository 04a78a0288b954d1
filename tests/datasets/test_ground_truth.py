"""Test ground truth from the label files alone (`load_ground_truth`), fakes and real data."""

from __future__ import annotations

import numpy as np
import pytest
from fakes import data_dir

from mulde.datasets import (
    DATASETS,
    GROUND_TRUTH,
    DatasetError,
    VideoTruth,
    load_dataset,
    load_ground_truth,
    ucsd,
)
from mulde.datasets.ground_truth import AnnotationClippedWarning

PED2_COUNTS = [180, 180, 150, 180, 150, 180, 180, 180, 120, 150, 180, 180]


def test_every_dataset_has_a_ground_truth_loader(tmp_path):
    assert set(GROUND_TRUTH) == set(DATASETS)
    with pytest.raises(DatasetError, match="unknown dataset 'ped3'"):
        load_ground_truth("ped3", tmp_path)
    with pytest.raises(DatasetError, match="dataset root folder not found"):
        load_ground_truth("avenue", tmp_path / "missing")


def test_a_misnamed_dataset_and_a_root_that_is_a_file_say_what_was_meant(tmp_path):
    """A dataset name in another case or without its prefix gets the close known one, and a
    --root that is the annotation file itself names its folder (both only listed the known
    names, or said "dataset root folder not found": a newcomer's trials)."""
    for name, meant in (("ShanghaiTech", "shanghaitech"), ("ped2", "ucsd_ped2"),
                        ("UCF-Crime", "ucf_crime")):
        for load in (load_ground_truth, load_dataset):
            with pytest.raises(DatasetError, match=rf"^unknown dataset '{name}' \(did you "
                               rf"mean {meant}\?\); known: ucsd_ped2, "):
                load(name, tmp_path)
    ann = tmp_path / "Temporal_Anomaly_Annotation_for_Testing_Videos.txt"
    ann.write_text("Abuse028_x264.mp4 Abuse 2 3 -1 -1\n")
    with pytest.raises(DatasetError) as err:
        load_ground_truth("ucf_crime", ann)
    assert str(err.value) == (f"{ann}: a file, not a folder; the dataset root is the folder "
                              f"that holds the ground truth, such as this file's folder, "
                              f"{tmp_path}")
    assert list(load_ground_truth("ucf_crime", tmp_path).videos) == ["Abuse028_x264"]


def test_video_truth_labels_and_ranges():
    fixed = VideoTruth("a", "f.npy", np.array([0, 1, 1], np.int8))
    assert fixed.n_frames == 3 and fixed.to_labels().tolist() == [0, 1, 1]
    ranged = VideoTruth("b", "tracks.txt", ranges=((1, 2),))
    assert ranged.n_frames is None
    assert ranged.to_labels(4).tolist() == [0, 1, 1, 0]
    with pytest.raises(DatasetError, match=r"tracks.txt \(b\): the ground truth states ranges"):
        ranged.to_labels()
    with pytest.raises(DatasetError, match=r"range 1..2 lies outside the 2 frames"):
        ranged.to_labels(2)
    clipped = VideoTruth("c", "ann.txt", ranges=((1, 9),), clip_ends=True)
    with pytest.warns(AnnotationClippedWarning, match=r"end after the last frame of c \(4"):
        assert clipped.to_labels(4).tolist() == [0, 1, 1, 1]
    with pytest.raises(DatasetError, match="starts after the last frame 3"):
        VideoTruth("d", "ann.txt", ranges=((5, 9),), clip_ends=True).to_labels(4)


# ---------------------------------------------------------------- fakes


def _gt_m(path, ranges: list[str]) -> None:
    path.write_text("".join(f"TestVideoFile{{end+1}}.gt_frame = [{r}];\n" for r in ranges))


def test_ucsd_ground_truth_without_frames_uses_the_official_clip_lengths(tmp_path):
    _gt_m(tmp_path / "UCSDped2.m", ["61:120"] * 12)  # no frame folders at all
    gt = load_ground_truth("ucsd_ped2", tmp_path)
    assert list(gt.videos) == [f"{i:02d}" for i in range(1, 13)]
    assert [v.n_frames for v in gt.videos.values()] == PED2_COUNTS == list(ucsd.TEST_FRAMES[2])
    assert gt.videos["01"].to_labels().tolist() == [0] * 60 + [1] * 60 + [0] * 60
    assert gt.smoothing_sigma == 3.0 and gt.dataset == "ucsd_ped2"
    _gt_m(tmp_path / "UCSDped2.m", ["61:120"] * 8 + ["61:121"] + ["61:120"] * 3)
    with pytest.raises(DatasetError, match=r"test video 09\): range 61..121 lies outside the 120"):
        load_ground_truth("ucsd_ped2", tmp_path)


def test_ucsd_ground_truth_of_another_clip_count_gives_ranges(tmp_path):
    base = tmp_path / "UCSDped1" / "Test"
    for name in ("Test001", "Test002"):
        (base / name).mkdir(parents=True)
        (base / name / "001.tif").write_bytes(b"")
    _gt_m(base / "UCSDped1.m", ["2:3", "1:1, 5:6"])
    gt = load_ground_truth("ucsd_ped1", tmp_path)
    assert list(gt.videos) == ["Test001", "Test002"]  # names from the test folder
    assert gt.videos["Test002"].n_frames is None  # not the official 36 clips: ranges only
    assert gt.videos["Test002"].ranges == ((0, 0), (4, 5))
    with pytest.raises(DatasetError, match="ground truth not found"):
        load_ground_truth("ucsd_ped2", tmp_path)


def _ubnormal_splits(root):
    """A UBnormal root's test split lists (one normal, two abnormal videos) and its empty gt/
    folder, which is returned."""
    splits, gt_dir = root / "splits", root / "gt"
    splits.mkdir()
    gt_dir.mkdir()
    (splits / "normal_test_video_names.txt").write_text("normal_scene_1_scenario_3\n")
    (splits / "abnormal_test_video_names.txt").write_text(
        "abnormal_scene_2_scenario_1\nabnormal_scene_1_scenario_4\n")
    return gt_dir


def test_ubnormal_ground_truth_from_split_lists_and_label_files(tmp_path):
    gt_dir = _ubnormal_splits(tmp_path)
    (gt_dir / "abnormal_scene_1_scenario_4_tracks.txt").write_text("1,1,2\n2,5.0,6.0\n")
    with (gt_dir / "abnormal_scene_2_scenario_1_tracks.txt").open("wb") as handle:
        np.save(handle, np.array([1.0, 0.0, 0.0, 1.0]))  # 1 = normal in this variant
    gt = load_ground_truth("ubnormal", tmp_path)  # no Scene*/ videos at all
    assert list(gt.videos) == ["abnormal_scene_1_scenario_4", "abnormal_scene_2_scenario_1",
                               "normal_scene_1_scenario_3"]
    # sorted by name: not the lists' order (abnormal scene 2 listed first), which is said
    assert gt.other_order == (
        "not the order of the official split lists (abnormal_test_video_names.txt, then "
        f"normal_test_video_names.txt, in {tmp_path / 'splits'}), which list these videos in "
        "another order")
    assert gt.videos["abnormal_scene_2_scenario_1"].to_labels().tolist() == [0, 1, 1, 0]
    assert gt.videos["abnormal_scene_1_scenario_4"].ranges == ((1, 2), (5, 6))
    assert gt.videos["normal_scene_1_scenario_3"].to_labels(3).tolist() == [0, 0, 0]
    (gt_dir / "abnormal_scene_1_scenario_4_tracks.txt").unlink()
    with pytest.raises(DatasetError, match="no ground truth .* for abnormal_scene_1_scenario_4"):
        load_ground_truth("ubnormal", tmp_path)


def test_ubnormal_abnormal_videos_whose_files_mark_no_anomaly_are_warned_of(tmp_path):
    """An abnormal test video's empty track text, and its .npy of all-normal flags, are
    warned of in one line naming both files (they were taken as all-normal unsaid: a
    newcomer's trial); the videos stay, all normal. Normal videos need no anomaly."""
    gt_dir = _ubnormal_splits(tmp_path)
    empty = gt_dir / "abnormal_scene_1_scenario_4_tracks.txt"
    empty.write_text("\n")
    flags = gt_dir / "abnormal_scene_2_scenario_1_tracks.txt"
    with flags.open("wb") as handle:
        np.save(handle, np.ones(4))  # 1 = normal in this variant: no anomalous frame
    with pytest.warns(UserWarning) as said:
        gt = load_ground_truth("ubnormal", tmp_path)
    assert [str(w.message) for w in said] == [
        f"{empty}, {flags}: the label files of 2 abnormal test videos mark no anomalous frame "
        "(an abnormal video's file lists its anomalous objects: is it cut, or another "
        "video's?); evaluated as all normal"]
    assert gt.videos["abnormal_scene_1_scenario_4"].to_labels(3).tolist() == [0, 0, 0]
    empty.write_text("1,0,1\n")
    with pytest.warns(UserWarning, match=rf"^{flags}: the label file of 1 abnormal test video "
                      "marks no anomalous frame"):
        load_ground_truth("ubnormal", tmp_path)


def test_ucf_crime_and_folder_ground_truth_are_ranges(tmp_path):
    (tmp_path / "Temporal_Anomaly_Annotation_for_Testing_Videos.txt").write_text(
        "Abuse028_x264.mp4  Abuse  2  3  6  9\nNormal_Videos_003_x264.mp4 Normal -1 -1 -1 -1\n")
    gt = load_ground_truth("ucf_crime", tmp_path)
    assert list(gt.videos) == ["Abuse028_x264", "Normal_Videos_003_x264"]
    assert gt.videos["Abuse028_x264"].ranges == ((1, 2), (5, 8))  # 1-based -> 0-based
    with pytest.warns(AnnotationClippedWarning):
        assert gt.videos["Abuse028_x264"].to_labels(8).tolist() == [0, 1, 1, 0, 0, 1, 1, 1]
    (tmp_path / "labels.csv").write_text("video,start,end\nc,1,2\n")
    folder = load_ground_truth("folder", tmp_path)
    assert list(folder.videos) == ["c"] and folder.videos["c"].to_labels(4).tolist() == [
        0, 1, 1, 0]
    with pytest.raises(DatasetError, match=r"labels.csv \(c, row 2\): range 1..2 lies outside "
                       r"the 2 frames numbered 0..1$"):  # scores of 2 frames
        folder.videos["c"].to_labels(2)
    assert folder.to_add_a_video.startswith(  # labels.csv cannot name an all-normal video
        f"{tmp_path} has no test/ folder, so the test videos are those labels.csv names, and "
        "it names only videos with an anomalous range: for all-normal test videos too, put "
        f"every test video in {tmp_path / 'test'}")
    assert gt.to_add_a_video == ""  # UCF-Crime's test set is fixed
    (tmp_path / "test" / "d").mkdir(parents=True)
    (tmp_path / "test" / "d" / "0.png").write_bytes(b"")
    (tmp_path / "test" / "c.mp4").write_bytes(b"")
    folder = load_ground_truth("folder", tmp_path)  # names from test/, d all normal
    assert list(folder.videos) == ["c", "d"] and folder.videos["d"].ranges == ()
    assert folder.to_add_a_video == (f"the test videos are those in {tmp_path / 'test'}: put "
                                     "the video there")


# ---------------------------------------------------------------- real data


def test_real_ped2_ground_truth_equals_the_full_loader_and_the_frame_folders():
    root = data_dir("ucsd_ped2")
    gt = load_ground_truth("ucsd_ped2", root)
    dataset = load_dataset("ucsd_ped2", root)
    assert list(gt.videos) == [v.name for v in dataset.test]
    for video in dataset.test:
        np.testing.assert_array_equal(gt.videos[video.name].to_labels(), video.labels)
    counts = [len(list(p.iterdir())) for p in sorted((root / "testing" / "frames").iterdir())]
    assert counts == list(ucsd.TEST_FRAMES[2])
    for source in ("UCSDped2.m", "ped2.mat"):
        other = load_ground_truth("ucsd_ped2", root, gt_path=root / source)
        assert all(np.array_equal(other.videos[n].labels, v.labels)
                   for n, v in gt.videos.items())


def test_real_avenue_ground_truth_covers_all_21_test_videos_without_their_files():
    root = data_dir("avenue")
    gt = load_ground_truth("avenue", root, gt_path=root / "avenue.mat")  # the fast source
    assert list(gt.videos) == [f"{i:02d}" for i in range(1, 22)]
    assert sum(v.n_frames for v in gt.videos.values()) == 15324
    assert gt.videos["08"].to_labels().all() and gt.videos["18"].to_labels().all()


def test_real_shanghaitech_ground_truth_needs_no_training_folder():
    root = data_dir("shanghaitech")
    with pytest.raises(DatasetError, match="not the root of the shanghaitech dataset"):
        load_dataset("shanghaitech", root)
    gt = load_ground_truth("shanghaitech", root)
    assert len(gt.videos) == 107 and list(gt.videos)[0] == "01_0014"
    assert sum(v.n_frames for v in gt.videos.values()) == 40791
    assert gt.smoothing_sigma == 7.0
    scene_2 = load_ground_truth("shanghaitech", root, scenes=[2])
    assert scene_2.videos and all(n.startswith("02_") for n in scene_2.videos)


def test_real_ubnormal_and_ucf_crime_ground_truth():
    ub = load_ground_truth("ubnormal", data_dir("ubnormal"))
    assert len(ub.videos) == 211 and all(v.labels is not None for v in ub.videos.values())
    ucf = load_ground_truth("ucf_crime", data_dir("ucf_crime"))
    assert len(ucf.videos) == 290 and ucf.videos["Abuse028_x264"].ranges == ((164, 239),)
    assert ucf.smoothing_sigma == 0.0
