"""check_layout: a dataset root without an accepted layout is named with what is missing."""

from pathlib import Path

import pytest

from mulde.datasets.common import DatasetError
from mulde.datasets.layouts import check_layout


def test_a_folder_in_another_case_is_named_with_its_rename(tmp_path):
    """Train/ and Test/ for the folder dataset's train/ and test/ (a newcomer's layout):
    the loaders match names exactly, so the error says which folder to rename; a correct
    layout passes, and an unrelated folder is not suggested."""
    (tmp_path / "Train").mkdir()
    (tmp_path / "Test").mkdir()
    (tmp_path / "trains").mkdir()
    with pytest.raises(DatasetError) as err:
        check_layout("folder", tmp_path)
    assert str(err.value).endswith("; folder names are case-sensitive: rename Train/ to "
                                   "train/, Test/ to test/")
    avenue = tmp_path / "avenue"
    (avenue / "Training_Videos").mkdir(parents=True)
    (avenue / "testing_videos").mkdir()
    with pytest.raises(DatasetError, match="rename Training_Videos/ to training_videos/$"):
        check_layout("avenue", avenue)
    (tmp_path / "train").mkdir()
    check_layout("folder", tmp_path)


def test_a_folder_under_another_datasets_name_is_named_with_its_rename(tmp_path):
    """training/ and testing_videos/ (the ShanghaiTech and Avenue names) for the folder
    dataset's train/ and test/: the error says which to rename; a present train/ is not
    suggested again."""
    (tmp_path / "training").mkdir()
    (tmp_path / "Testing_Videos").mkdir()
    with pytest.raises(DatasetError) as err:
        check_layout("folder", tmp_path)
    assert str(err.value).endswith("; rename training/ to train/, Testing_Videos/ to test/")
    (tmp_path / "train").mkdir()
    check_layout("folder", tmp_path)  # train/ alone is a layout (a training-only root)


def test_a_folder_of_ones_own_videos_given_as_a_benchmark_points_to_mulde_run_folder(tmp_path):
    """train/ and test/ given as UCSD Ped2's root (a newcomer's trial, stop 54): the way out
    is the folder loader, not renaming train/ to Train/."""
    (tmp_path / "train").mkdir()
    (tmp_path / "test").mkdir()
    with pytest.raises(DatasetError) as err:
        check_layout("ucsd_ped2", tmp_path)
    assert str(err.value).endswith(f"; {tmp_path} holds train/ and test/, the layout of your "
                                   f"own videos: run `mulde run folder --root {tmp_path}`")
    assert "rename" not in str(err.value)
    check_layout("folder", tmp_path)


def test_a_root_one_level_too_high_names_every_folder_with_the_layout(tmp_path, monkeypatch):
    """`--root .` above several datasets named the first alone ("bad1 has that layout"), as
    if it were the one: all are named, up to five, and the others counted."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs").mkdir()  # no layout: not named
    (tmp_path / "bad1" / "train").mkdir(parents=True)
    with pytest.raises(DatasetError, match=r"; bad1 has that layout: use it as the root$"):
        check_layout("folder", Path("."))
    for i in range(2, 8):
        (tmp_path / f"bad{i}" / "test").mkdir(parents=True)
    with pytest.raises(DatasetError) as err:
        check_layout("folder", Path("."))
    assert str(err.value).endswith("; 7 folders have that layout: bad1, bad2, bad3, bad4, bad5 "
                                   "and 2 more; use one of them as the root")
