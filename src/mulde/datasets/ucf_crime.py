"""UCF-Crime: videos anywhere under the root, found by file name.

- Test set: the 290 videos of `Temporal_Anomaly_Annotation_for_Testing_Videos.txt`, lines
  `name class s1 e1 s2 e2` (-1 when an event is absent). Frame numbers are read as 1-based
  with inclusive ends, as in the authors' MATLAB evaluation (`GT(s:e) = 1`); an end past
  the video's last frame is clipped to it with an `AnnotationClippedWarning`; a range that
  starts after the last frame is an error naming the file and the video.
- Training set: the normal training videos only (one-class protocol): the entries under
  `Training_Normal_Videos_Anomaly/` of the official `Anomaly_Train.txt` when found, else every
  video inside a `Training_Normal_Videos_Anomaly` folder.
- Labels of a test video need its frame count, probed from the container header.
- Protocol smoothing sigma: 0 (unsmoothed), the dataset's published protocol: Sultani et al.
  2018, and the weakly supervised works after it, report frame-level AUC on unsmoothed scores.
- `ground_truth(root)` reads the annotation alone (no videos): ranges only, the frame count
  comes from the caller (e.g. the number of frame scores); ends past it are clipped with the
  same warning.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

from mulde.datasets.base import Dataset
from mulde.datasets.common import DatasetError, probed_length, warn_missing
from mulde.datasets.ground_truth import AnnotationClippedWarning, GroundTruth, VideoTruth
from mulde.datasets.labels import Range, ranges_to_labels
from mulde.video.decode import is_video_file, natural_key
from mulde.video.source import Video

SMOOTHING_SIGMA = 0.0
ANNOTATION_NAME = "Temporal_Anomaly_Annotation_for_Testing_Videos.txt"
TRAIN_NORMAL_DIR = "Training_Normal_Videos_Anomaly"
_FIELDS = ("name", "class", "start1", "end1", "start2", "end2")


@dataclass(frozen=True)
class Annotation:
    """One line of the temporal annotation: video file name, class, 1-based inclusive ranges."""

    video: str
    category: str
    ranges: tuple[Range, ...]


def parse_annotation(path: Path) -> list[Annotation]:
    """Return the annotated test videos in file order; errors name file, line and field."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError as error:
        raise DatasetError(f"{path}: file not found") from error
    annotations = []
    for number, line in enumerate(lines, start=1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != len(_FIELDS):
            raise DatasetError(
                f"{path}, line {number}: expected {len(_FIELDS)} fields "
                f"({' '.join(_FIELDS)}), got {len(fields)}"
            )
        frames = []
        for field_name, text in zip(_FIELDS[2:], fields[2:], strict=True):
            try:
                frames.append(int(text))
            except ValueError:
                raise DatasetError(
                    f"{path}, line {number}, field {field_name}: not an integer ({text!r})"
                ) from None
        ranges = []
        for (start, end), names in zip(
            (frames[:2], frames[2:]), (_FIELDS[2:4], _FIELDS[4:]), strict=True
        ):
            if start == -1 and end == -1:
                continue
            if start < 1 or end < start:
                raise DatasetError(
                    f"{path}, line {number}, fields {names[0]}/{names[1]}: invalid range "
                    f"{start}..{end}"
                )
            ranges.append((start, end))
        annotations.append(Annotation(fields[0], fields[1], tuple(ranges)))
    return annotations


def ground_truth(root: Path, *, annotation_path: Path | None = None) -> GroundTruth:
    """Return the 290 annotated test videos (name = file stem) as 0-based ranges, in file order."""
    root = Path(root)
    annotation_path = Path(annotation_path) if annotation_path else _find(root, ANNOTATION_NAME)
    if annotation_path is None:
        raise DatasetError(f"{root}: {ANNOTATION_NAME} not found")
    videos = {}
    for a in parse_annotation(annotation_path):
        name = Path(a.video).stem
        ranges = tuple((s - 1, e - 1) for s, e in a.ranges)
        videos[name] = VideoTruth(name, str(annotation_path), ranges=ranges, clip_ends=True)
    return GroundTruth("ucf_crime", root, videos, SMOOTHING_SIGMA)


def load(
    root: Path, *, annotation_path: Path | None = None, train_list: Path | None = None
) -> Dataset:
    """Load UCF-Crime: normal training videos, the 290 annotated test videos with labels."""
    root = Path(root)
    annotation_path = Path(annotation_path) if annotation_path else _find(root, ANNOTATION_NAME)
    if annotation_path is None:
        raise DatasetError(f"{root}: {ANNOTATION_NAME} (the official temporal annotation of "
                           "the 290 test videos) not found anywhere under this folder")
    train_list = Path(train_list) if train_list else _find(root, "Anomaly_Train.txt")
    index = _video_index(root)
    left_out: tuple[str, ...] = ()
    if train_list is not None:
        entries = [
            line.strip().replace("\\", "/")
            for line in train_list.read_text(encoding="utf-8").splitlines()
        ]
        wanted = [Path(e).name for e in entries if e.split("/", 1)[0] == TRAIN_NORMAL_DIR]
        left_out = warn_missing([n for n in wanted if n not in index], "training", root)
        train_paths = [index[n] for n in wanted if n in index]
    else:
        train_paths = sorted(
            (p for p in index.values() if TRAIN_NORMAL_DIR in p.parts),
            key=lambda p: natural_key(p.name),
        )
    annotations = parse_annotation(annotation_path)
    left_out = left_out + warn_missing([a.video for a in annotations if a.video not in index],
                                       "test", root)
    test = []
    clipped = []
    for annotation in annotations:
        path = index.get(annotation.video)
        if path is None:
            continue
        n_frames = probed_length(path)
        labels = None
        if n_frames is not None:
            late = [(s, e) for s, e in annotation.ranges if s > n_frames]
            if late:
                raise DatasetError(
                    f"{annotation_path} ({annotation.video}): range {late[0][0]}..{late[0][1]} "
                    f"starts after the video's last frame {n_frames}"
                )
            ranges = [(s, min(e, n_frames)) for s, e in annotation.ranges]
            if ranges != list(annotation.ranges):
                clipped.append(f"{annotation.video} ({n_frames} frames)")
            labels = ranges_to_labels(
                ranges, n_frames, first_frame=1, source=f"{annotation_path} ({annotation.video})"
            )
        test.append(Video(Path(annotation.video).stem, path, labels))
    if clipped:
        warnings.warn(AnnotationClippedWarning(str(annotation_path), clipped), stacklevel=2)
    train = tuple(Video(p.stem, p) for p in train_paths)
    return Dataset("ucf_crime", root, train, tuple(test), SMOOTHING_SIGMA, one_view=False,
                   left_out=left_out)


def _find(root: Path, file_name: str) -> Path | None:
    direct = root / file_name
    if direct.is_file():
        return direct
    return next(iter(sorted(root.rglob(file_name))), None)


def _video_index(root: Path) -> dict[str, Path]:
    index: dict[str, Path] = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and is_video_file(path):
            if path.name in index:
                raise DatasetError(
                    f"{root}: two videos named {path.name}: {index[path.name]}, {path}"
                )
            index[path.name] = path
    return index
