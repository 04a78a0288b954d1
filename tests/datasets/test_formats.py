"""Ground-truth files in the forms people hold: Liu et al.'s [start; end] range cells for
Avenue (as for Ped1/Ped2), per-video 0/1 vectors, and, for any other form, an error saying
what the file holds and which formats are read."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from fakes import cell, data_dir, savemat, write_frames, write_video

from mulde.datasets import DatasetError, MissingVideosWarning, load_dataset
from mulde.datasets import avenue as avenue_module
from mulde.datasets.labels import labels_to_ranges

SMALL = (16, 16)


def _liu_cell(labels_per_video):
    """Liu et al.'s `gt`: a (1, N) cell of (2, K) [start; end] 1-based ranges."""
    return cell([np.array(labels_to_ranges(v, first_frame=1), np.float64).reshape(-1, 2).T
                 for v in labels_per_video])


def test_liu_avenue_mat_gives_the_labels_of_the_official_masks(tmp_path):
    """The issue's case on the real Avenue files: Liu et al.'s avenue.mat (made here from the
    official masks) is read, and gives the masks' labels for every present test video."""
    real = data_dir("avenue")
    # the ranges of all 21 videos, from AI-VAD's vectors (equal to the masks:
    # test_datasets.py::test_avenue_real_ground_truth_sources_agree); the present videos'
    # labels are compared with the official masks themselves
    vectors = avenue_module.read_gt(real / "avenue.mat")
    root = tmp_path / "avenue"
    root.mkdir()
    for folder in ("training_videos", "testing_videos"):
        (root / folder).symlink_to(real / folder)
    savemat(root / "avenue.mat", {"gt": _liu_cell([vectors[f"{i:02d}"] for i in range(1, 22)])})
    assert avenue_module.gt_format(root / "avenue.mat") == "liu"
    with pytest.warns(MissingVideosWarning):
        dataset = load_dataset("avenue", root, check=True)
    assert [v.name for v in dataset.test] == ["08", "17", "18", "19", "20", "21"]
    masks = avenue_module.read_gt(real / "testing_label_mask", [v.name for v in dataset.test])
    for video in dataset.test:
        np.testing.assert_array_equal(video.labels, masks[video.name], err_msg=video.name)


def _avenue(root, lengths):
    write_video(root / "training_videos" / "01.avi", 4, size=SMALL)
    for name, n in lengths.items():
        write_video(root / "testing_videos" / f"{name}.avi", n, size=SMALL)
    return root


def test_liu_avenue_mat_hand_computed_labels_and_a_range_past_the_end(tmp_path):
    root = _avenue(tmp_path, {"01": 6, "02": 5})
    ranges = [np.array([[2, 5], [3, 5]]), np.zeros((0, 0)), np.array([[1], [1]])]
    savemat(root / "avenue.mat", {"gt": cell(ranges)})  # frames 2-3 and 5 of 01; 02 normal
    with pytest.warns(MissingVideosWarning, match=": 03$"):
        dataset = load_dataset("avenue", root)
    assert [v.labels.tolist() for v in dataset.test] == [[0, 1, 1, 0, 1, 0], [0] * 5]
    savemat(root / "avenue.mat", {"gt": cell([np.array([[4], [7]]), np.zeros((0, 0))])})
    with pytest.raises(DatasetError, match=r"avenue.mat \(test video 01\): range 4..7 lies "
                       "outside the 6 frames"):
        load_dataset("avenue", root)


@pytest.mark.parametrize("variables, found", [
    ({"labels": np.zeros((1, 5))}, r"MATLAB variables labels \(1x5 double\)"),
    ({"gt": np.zeros((2, 3))}, r"MATLAB variables gt \(2x3 double\)"),
])
def test_an_avenue_mat_of_another_format_says_what_it_holds_and_what_is_read(tmp_path,
                                                                            variables, found):
    root = _avenue(tmp_path, {"01": 3})
    savemat(root / "avenue.mat", variables)
    with pytest.raises(DatasetError, match=f"avenue.mat: ground-truth format not recognised: "
                       f"found {found}; expected .*Liu et al.*Accurate-Interpretable-VAD"):
        load_dataset("avenue", root)


def test_concatenated_labels_next_to_a_dataset_are_named_with_their_format(tmp_path):
    """MNAD's frame_labels_<dataset>.npy (every test frame in one vector) is not read; the
    error says so instead of only 'not found'."""
    root = _avenue(tmp_path, {"01": 3})
    np.save(root / "frame_labels_avenue.npy", np.array([[0, 1, 1]]))
    with pytest.raises(DatasetError, match=r"ground truth not found .*frame_labels_avenue.npy "
                       r"holds a NumPy int64 array of shape \(1, 3\) of 0/1 values \(one label "
                       r"per frame of every test video concatenated.*expected the official "
                       "testing_label_mask"):
        load_dataset("avenue", root)
    sh = tmp_path / "sh"
    write_video(sh / "training" / "videos" / "01_001.avi", 3, size=SMALL)
    write_frames(sh / "testing" / "frames" / "01_0014", 3, size=SMALL)
    np.save(sh / "frame_labels_shanghai.npy", np.zeros(3, np.uint8))
    with pytest.raises(DatasetError, match=r"frame_labels_shanghai.npy holds a NumPy uint8 "
                       r"array of shape \(3,\).*expected a test_frame_mask/ folder"):
        load_dataset("shanghaitech", sh)


def _ped2(root):
    for split, name in (("training", "01"), ("testing", "01")):
        write_frames(root / split / "frames" / name, 4, size=SMALL)
    return root


def test_ped2_label_files_of_another_format_say_what_they_hold(tmp_path):
    root = _ped2(tmp_path)
    savemat(root / "ped2.mat", {"labels": cell([np.array([[1], [2]])])})
    with pytest.raises(DatasetError, match=r"ped2.mat: ground-truth format not recognised: "
                       r"found MATLAB variables labels \(1x1 cell\); expected 'gt', a \(1, N\) "
                       r"MATLAB cell of \[start; end\]"):
        load_dataset("ucsd_ped2", root)
    np.save(tmp_path / "gt.npy", np.zeros(4))
    with pytest.raises(DatasetError, match=r"gt.npy: ground-truth format not recognised: "
                       r"found a NumPy float64 array of shape \(4,\) of 0/1 values.*expected "
                       r"the official UCSDpedN.m"):
        load_dataset("ucsd_ped2", root, gt_path=tmp_path / "gt.npy")
    (root / "ped2.mat").unlink()
    np.save(root / "frame_labels_ped2.npy", np.zeros((1, 4)))
    with pytest.raises(DatasetError, match=r"ground truth not found .*frame_labels_ped2.npy "
                       r"holds a NumPy float64 array"):
        load_dataset("ucsd_ped2", root)


def test_another_benchmarks_ground_truth_under_the_root_names_that_dataset(tmp_path):
    """`--dataset ucsd_ped1` or `avenue` on a Ped2 root said "UCSDped2.m holds a .m file,
    which is not a format read here", the very file ucsd_ped2 reads (a newcomer's trial): it
    now names the dataset the file belongs to."""
    from mulde.datasets import load_ground_truth

    (tmp_path / "UCSDped2.m").write_text("TestVideoFile{end+1}.gt_frame = [61:180];\n")
    for dataset in ("ucsd_ped1", "avenue"):
        with pytest.raises(DatasetError, match=r"ground truth not found .*; UCSDped2.m is the "
                           r"ground truth of ucsd_ped2: did you mean --dataset ucsd_ped2\?$"):
            load_ground_truth(dataset, tmp_path)
    # the dataset's own file where its layout does not read it: where to move it, not "did
    # you mean" the dataset given (review)
    (tmp_path / "UCSDped2.m").rename(tmp_path / "ucsdped2.m")
    (tmp_path / "Test").mkdir()
    with pytest.raises(DatasetError, match=r"; ucsdped2.m is its ground truth, but this layout "
                       r"reads it from the paths above: move or rename it to .*UCSDped2.m$"):
        load_ground_truth("ucsd_ped2", tmp_path)


def test_real_ped2_ranges_and_avenue_vectors_are_still_read():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MissingVideosWarning)
        ped2 = load_dataset("ucsd_ped2", data_dir("ucsd_ped2"), gt_path=data_dir(
            "ucsd_ped2", "ped2.mat"))
        assert sum(int(v.labels.sum()) for v in ped2.test) == 1648
        assert avenue_module.gt_format(data_dir("avenue", "avenue.mat")) == "aivad"


def test_missing_ground_truth_names_the_root_one_level_off(tmp_path):
    from mulde.datasets import load_ground_truth

    masks = tmp_path / "data" / "shanghaitech" / "testing" / "test_frame_mask"
    masks.mkdir(parents=True)
    np.save(masks / "01_0014.npy", np.array([0, 1], np.uint8))
    with pytest.raises(DatasetError, match=r"shanghaitech has it: use --root .*shanghaitech$"):
        load_ground_truth("shanghaitech", tmp_path / "data")  # one level too high
    with pytest.raises(DatasetError, match=r"has it: use --root .*testing$"):
        load_ground_truth("shanghaitech", masks)  # one level too low
    other = tmp_path / "data" / "copy" / "testing" / "test_frame_mask"  # a second copy
    other.mkdir(parents=True)
    np.save(other / "01_0014.npy", np.array([0, 1], np.uint8))
    with pytest.raises(DatasetError, match=r"; 2 folders have it: .*copy, .*shanghaitech; use "
                       "one of them as the root$"):
        load_ground_truth("shanghaitech", tmp_path / "data")
