"""UBnormal: `Scene<k>/<video>.mp4` with the official split lists.

- Split lists `{normal,abnormal}_{training,validation,test}_video_names.txt` (one name per
  line), searched in `splits/`, the root, and `scripts/` (their place in the official repo).
- Training set: the *normal* training videos only (one-class protocol). Test set: normal and
  abnormal videos of `split="test"` (or `"validation"`).
- Ground truth per abnormal video, searched at
  `Scene<k>/<video>_annotations/<video>_tracks.txt` (official) then `gt/<video>_tracks.txt`:
  either the official track text, lines `object_id,start,end` with 0-based inclusive frame
  numbers (possibly written as floats, e.g. `2.0e+00,1.3e+02,4.3e+02`), or a NumPy `.npy`
  array of per-frame flags stored under the same `.txt` name (the STG-NF redistribution),
  recognised by its magic bytes. That variant uses the *inverse* polarity, 1 = normal and
  0 = anomalous (every normal test video is all ones; STG-NF's scoring reads UBnormal's
  files as-is but flips the other datasets' to "1 is normal"), so it is flipped on reading.
  Normal videos without a file are all-normal. An abnormal video's file lists its anomalous
  objects: one that marks no anomalous frame (an empty track text, a cut or misplaced file)
  is warned of, naming the files, and its video evaluated as all-normal.
- Protocol smoothing sigma: 7 (our choice, no published MULDE protocol: the ShanghaiTech
  value, UBnormal being a multi-scene 30 fps set).
- Test order: the videos of both split lists sorted by name, numbers by value
  (`natural_key`), not the lists' own order (abnormal list, then the unsorted normal list),
  which `ground_truth`'s `other_order` says.
- `ground_truth(root)` reads the split lists and label files alone (no videos): the `.npy`
  variant fixes each video's frame count; track text and all-normal videos without a file
  give ranges only.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from mulde.datasets.base import Dataset
from mulde.datasets.common import DatasetError, probed_length, warn_missing
from mulde.datasets.ground_truth import GroundTruth, VideoTruth
from mulde.datasets.labels import Range, as_labels, ranges_to_labels
from mulde.io.features import whole_number
from mulde.io.sniff import FileKind, sniff
from mulde.video.decode import is_video_file, natural_key
from mulde.video.source import Video

SMOOTHING_SIGMA = 7.0
SPLITS = ("training", "validation", "test")


def read_split(folder: Path, kind: str, split: str) -> list[str]:
    """Return the video names of `<kind>_<split>_video_names.txt` (kind: normal/abnormal)."""
    path = folder / f"{kind}_{split}_video_names.txt"
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError as error:
        raise DatasetError(f"{path}: split list not found") from error
    return [line.strip() for line in lines if line.strip()]


def is_npy(path: Path) -> bool:
    """True if the file is a NumPy `.npy` array by its first bytes (whatever its suffix:
    `mulde.io.sniff`)."""
    return sniff(path) is FileKind.NPY


def parse_tracks(path: Path) -> list[Range]:
    """Return the 0-based inclusive (start, end) frame ranges of an official `_tracks.txt`.

    Each non-empty line is `object_id,start,end`; numbers may be written as floats but must
    be whole, frames non-negative and end >= start. Raises `DatasetError` naming file, line
    and field.
    """
    ranges = []
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise DatasetError(f"{path}: cannot read track text ({error})") from error
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split(",")
        if len(fields) != 3:
            raise DatasetError(
                f"{path}, line {number}: expected object_id,start,end, got {line.strip()!r}"
            )
        values = []
        for field_name, text_value in zip(("object_id", "start", "end"), fields, strict=True):
            value = whole_number(text_value)
            if value is None:
                raise DatasetError(
                    f"{path}, line {number}, field {field_name}: not a whole number "
                    f"({text_value.strip()!r})"
                )
            values.append(value)
        start, end = values[1], values[2]
        if start < 0:
            raise DatasetError(f"{path}, line {number}, field start: negative frame {start}")
        if end < start:
            raise DatasetError(
                f"{path}, line {number}, field end: end {end} is before start {start}"
            )
        ranges.append((start, end))
    return ranges


def read_labels(path: Path, n_frames: int | None) -> np.ndarray | None:
    """Return int8 frame labels from a `_tracks.txt` file in either format.

    The `.npy` variant holds 1 = normal flags, returned flipped (1 = anomalous); the track
    text needs the video's `n_frames` (None when the video could not be probed, giving None).
    """
    if is_npy(path):
        try:
            values = np.load(path, allow_pickle=False)
        except (ValueError, OSError) as error:
            raise DatasetError(f"{path}: cannot read NumPy labels ({error})") from error
        return 1 - as_labels(values, source=str(path))
    ranges = parse_tracks(path)
    if n_frames is None:
        return None
    return ranges_to_labels(ranges, n_frames, first_frame=0, source=str(path))


def scene_of(name: str) -> str:
    """Return the scene number of a video name ('abnormal_scene_4_scenario_5' -> '4')."""
    parts = name.split("_")
    if len(parts) < 3 or parts[1] != "scene":
        raise DatasetError(f"not a UBnormal video name: {name!r}")
    return parts[2]


def _splits_dir(root: Path, split: str, splits_dir: Path | None) -> Path:
    if split not in ("test", "validation"):
        raise DatasetError(f"UBnormal split must be 'test' or 'validation', got {split!r}")
    if splits_dir is not None:
        return Path(splits_dir)
    candidates = [root / "splits", root, root / "scripts"]
    found = next((d for d in candidates if (d / f"normal_{split}_video_names.txt").is_file()), None)
    if found is None:
        raise DatasetError(
            f"{root}: UBnormal split lists (*_video_names.txt) not found in "
            f"{', '.join(str(d) for d in candidates)}"
        )
    return found


def _listed_names(splits_dir: Path, split: str) -> list[str]:
    """The videos of `split` in the split lists' own order: the abnormal list, then the
    normal one (whose lines are not sorted in the official lists)."""
    return read_split(splits_dir, "abnormal", split) + read_split(splits_dir, "normal", split)


def _test_names(splits_dir: Path, split: str) -> list[str]:
    """The videos of `split` sorted by name, numbers by value (the test order)."""
    return sorted(_listed_names(splits_dir, split), key=natural_key)


NAMED_FILES = 3
"""The most label files `_warn_no_anomaly` names one by one; more are counted."""


def _warn_no_anomaly(files: list[Path], split: str) -> None:
    """Warn that the label files of abnormal videos of `split` mark no anomalous frame."""
    if not files:
        return
    more = len(files) - NAMED_FILES
    named = ", ".join(str(f) for f in files[:NAMED_FILES]) + (
        f" and {more} more" if more > 0 else "")
    warnings.warn(f"{named}: the label file{'s' * (len(files) > 1)} of "
                  f"{len(files)} abnormal {split} video{'s' * (len(files) > 1)} mark"
                  f"{'s' * (len(files) == 1)} no anomalous frame (an abnormal video's file "
                  "lists its anomalous objects: is it cut, or another video's?); evaluated as "
                  "all normal", UserWarning, stacklevel=3)


def ground_truth(
    root: Path, *, split: str = "test", splits_dir: Path | None = None
) -> GroundTruth:
    """Return the labels of the videos of `split` from the split lists and label files.
    An abnormal video's file that marks no anomalous frame is warned of (`UserWarning`)."""
    root = Path(root)
    splits_dir = _splits_dir(root, split, splits_dir)
    videos = {}
    listed = _listed_names(splits_dir, split)
    names = sorted(listed, key=natural_key)  # the test order (`_test_names`)
    for name in names:
        gt = _gt_file(root, name)
        if gt is None:
            if name.startswith("abnormal"):
                raise DatasetError(f"{root}: no ground truth (_tracks.txt) for {name}")
            videos[name] = VideoTruth(name, f"{splits_dir} (normal, no label file)")
        elif is_npy(gt):
            videos[name] = VideoTruth(name, str(gt), read_labels(gt, None))
        else:
            videos[name] = VideoTruth(name, str(gt), ranges=tuple(parse_tracks(gt)))
    _warn_no_anomaly([Path(v.source) for name, v in videos.items()
                      if name.startswith("abnormal") and not v.ranges
                      and (v.labels is None or not v.labels.any())], split)
    other = "" if listed == names else (
        f"not the order of the official split lists (abnormal_{split}_video_names.txt, then "
        f"normal_{split}_video_names.txt, in {splits_dir}), which list these videos in "
        "another order")
    return GroundTruth("ubnormal", root, videos, SMOOTHING_SIGMA, other_order=other)


def load(root: Path, *, split: str = "test", splits_dir: Path | None = None) -> Dataset:
    """Load UBnormal: normal training videos, and the videos of `split` with labels."""
    root = Path(root)
    splits_dir = _splits_dir(root, split, splits_dir)
    index = _video_index(root)
    names_train = read_split(splits_dir, "normal", "training")
    names_test = _test_names(splits_dir, split)
    missing = [n for n in [*names_train, *names_test] if n not in index]
    left_out = warn_missing(missing, f"training or {split}", root)
    train = tuple(Video(n, index[n]) for n in names_train if n in index)
    test = []
    no_anomaly = []
    for name in names_test:
        if name not in index:
            continue
        gt = _gt_file(root, name)
        if gt is None and name.startswith("abnormal"):
            raise DatasetError(f"{root}: no ground truth (_tracks.txt) for {name}")
        if gt is not None and is_npy(gt):
            labels = read_labels(gt, None)
        else:
            n_frames = probed_length(index[name])
            if gt is None:
                labels = None if n_frames is None else np.zeros(n_frames, dtype=np.int8)
            else:
                labels = read_labels(gt, n_frames)
        if name.startswith("abnormal") and labels is not None and not labels.any():
            no_anomaly.append(gt)
        test.append(Video(name, index[name], labels))
    _warn_no_anomaly(no_anomaly, split)
    return Dataset("ubnormal", root, train, tuple(test), SMOOTHING_SIGMA, one_view=False,
                   left_out=left_out)


def _video_index(root: Path) -> dict[str, Path]:
    index: dict[str, Path] = {}
    for scene in sorted(root.glob("Scene*")):
        if scene.is_dir():
            index.update({p.stem: p for p in scene.iterdir() if is_video_file(p)})
    if not index:
        raise DatasetError(f"{root}: no videos in Scene*/ folders")
    return index


def _gt_file(root: Path, name: str) -> Path | None:
    candidates = [
        root / f"Scene{scene_of(name)}" / f"{name}_annotations" / f"{name}_tracks.txt",
        root / "gt" / f"{name}_tracks.txt",
    ]
    return next((p for p in candidates if p.is_file()), None)
