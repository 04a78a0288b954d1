"""Benchmark datasets and the user's own folder of videos, by name.

`load_dataset(name, root, **options)` returns a `Dataset` whose training videos are normal
(labels=None) and whose test videos carry int8 per-frame labels parsed from the official
ground-truth files. `DATASETS` maps each name to its loader; the loader modules document
their layouts, options and policies (common policies: `mulde.datasets.common`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from pathlib import Path
from types import MappingProxyType

from mulde.datasets import avenue, folder, shanghaitech, ubnormal, ucf_crime, ucsd
from mulde.datasets.base import Dataset
from mulde.datasets.common import (
    DatasetError,
    IgnoredFilesWarning,
    LabelsNotFoundWarning,
    MissingVideosWarning,
    VideoProblem,
    check_dataset,
)
from mulde.datasets.ground_truth import GroundTruth, VideoTruth
from mulde.datasets.labels import labels_to_ranges, ranges_to_labels
from mulde.datasets.layouts import DESCRIPTION, check_layout
from mulde.recorded import shown_at_caller
from mulde.suggest import suggestion
from mulde.video.source import Video

DATASETS: Mapping[str, Callable[..., Dataset]] = MappingProxyType(
    {
        "ucsd_ped2": ucsd.load_ped2,
        "ucsd_ped1": ucsd.load_ped1,
        "avenue": avenue.load,
        "shanghaitech": shanghaitech.load,
        "ubnormal": ubnormal.load,
        "ucf_crime": ucf_crime.load,
        "folder": folder.load,
    }
)

GROUND_TRUTH: Mapping[str, Callable[..., GroundTruth]] = MappingProxyType(
    {
        "ucsd_ped2": ucsd.ground_truth_ped2,
        "ucsd_ped1": ucsd.ground_truth_ped1,
        "avenue": avenue.ground_truth,
        "shanghaitech": shanghaitech.ground_truth,
        "ubnormal": ubnormal.ground_truth,
        "ucf_crime": ucf_crime.ground_truth,
        "folder": folder.ground_truth,
    }
)


def _unknown(name: str) -> DatasetError:
    """The error for a dataset name that is none of `DATASETS`, with the closest one."""
    return DatasetError(f"unknown dataset {name!r}{suggestion(name, DATASETS)}; known: "
                        f"{', '.join(DATASETS)}")


@shown_at_caller
def load_ground_truth(name: str, root: str | Path, **options: object) -> GroundTruth:
    """Return the test ground truth of dataset `name` from its label files alone.

    No video, frame or training folder is needed (see `mulde.datasets.ground_truth`);
    `options` go to the dataset's `ground_truth` function (e.g. `gt_path=`, `scenes=`,
    `split=`, `annotation_path=`, `labels=`).
    """
    if name not in GROUND_TRUTH:
        raise _unknown(name)
    root = Path(root)
    if root.is_file():  # e.g. the annotation file itself: its folder is likely the root
        raise DatasetError(f"{root}: a file, not a folder; the dataset root is the folder "
                           f"that holds the ground truth, such as this file's folder, "
                           f"{root.parent}")
    if not root.is_dir():
        raise DatasetError(f"{root}: dataset root folder not found")
    return GROUND_TRUTH[name](root, **options)


@shown_at_caller
def load_dataset(
    name: str,
    root: str | Path,
    *,
    check: bool = False,
    smoothing_sigma: float | None = None,
    **options: object,
) -> Dataset:
    """Return the dataset `name` found under `root`; `options` go to its loader.

    `root` must hold one of the dataset's folder layouts (`layouts.check_layout`: the error
    states them, and names a folder nearby that has one). `smoothing_sigma` overrides the
    protocol value. With `check=True` every video is probed
    and label lengths are compared with frame counts; any problem raises one `DatasetError`
    listing all of them (also in its `.problems`). `check_dataset` returns the same list
    without raising.
    """
    if name not in DATASETS:
        raise _unknown(name)
    root = Path(root)
    expected = DESCRIPTION.get(name, "the dataset's folder")
    if root.is_file():
        raise DatasetError(f"{root}: a file, not a folder; the dataset root is the folder that "
                           f"holds the dataset: {expected}")
    if not root.is_dir():
        raise DatasetError(f"{root}: dataset root folder not found; expected {expected}")
    check_layout(name, root)
    dataset = DATASETS[name](root, **options)
    if smoothing_sigma is not None:
        dataset = dataclasses.replace(dataset, smoothing_sigma=float(smoothing_sigma))
    if check:
        problems = check_dataset(dataset)
        if problems:
            listing = "\n  ".join(str(p) for p in problems)
            raise DatasetError(
                f"{name} at {root}: {len(problems)} problem(s):\n  {listing}", tuple(problems)
            )
    return dataset


__all__ = [
    "DATASETS",
    "Dataset",
    "DatasetError",
    "GROUND_TRUTH",
    "GroundTruth",
    "IgnoredFilesWarning",
    "LabelsNotFoundWarning",
    "MissingVideosWarning",
    "Video",
    "VideoProblem",
    "VideoTruth",
    "check_dataset",
    "labels_to_ranges",
    "load_dataset",
    "load_ground_truth",
    "ranges_to_labels",
]
