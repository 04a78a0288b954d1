"""Test ground truth read from the label files alone, without the videos.

Evaluating a method's scores needs only the labels. Each dataset module has a
`ground_truth(root, ...)` function that reads its official label files (the same parsers the
full loaders use) and returns a `GroundTruth`: the test videos in the dataset's order, each a
`VideoTruth`. Where the label file fixes a video's frame count (per-frame masks and vectors:
Avenue, ShanghaiTech, UBnormal's `.npy` variant; UCSD through the official frame counts of
its test clips) the labels are complete; where it states anomalous ranges only (UBnormal
track text, UCF-Crime, a folder's `labels.csv`, all-normal videos without a label file), the
frame count is the caller's to give (e.g. the number of frame scores), and every range must
lie inside it.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mulde.datasets.common import DatasetError
from mulde.datasets.labels import Range, RangeError, ranges_to_labels


class AnnotationClippedWarning(UserWarning):
    """Annotated anomalies end after the last frame of their videos; they were clipped.
    `source`: the annotation file; `videos`: each video as "<name> (<frames> frames)", the
    first `NAMED_CLIPPED` of them named in the message, the rest counted."""

    def __init__(self, source: str, videos: tuple[str, ...] | list[str]) -> None:
        self.source, self.videos = str(source), tuple(videos)
        more = len(self.videos) - NAMED_CLIPPED
        super().__init__(f"{self.source}: anomalies end after the last frame of "
                         f"{', '.join(self.videos[:NAMED_CLIPPED])}"
                         + (f" and {more} more videos" if more > 0 else "")
                         + "; clipped to the last frame")

    def __reduce__(self):  # pickled (a worker process's warning) with its fields
        return type(self), (self.source, self.videos)


NAMED_CLIPPED = 5
"""The most videos an `AnnotationClippedWarning` names one by one."""


@dataclass(frozen=True)
class VideoTruth:
    """Ground truth of one test video, from its label file.

    `labels`: int8 0/1 per frame (1 = anomalous) when the file fixes the frame count, else
    None and `ranges` holds the anomalous frames as 0-based inclusive (start, end) ranges
    (empty: an all-normal video). `clip_ends`: a range ending after the last frame is clipped
    to it with an `AnnotationClippedWarning` (UCF-Crime's annotation has such ends) instead of
    being an error. `source`: the file the labels come from.
    """

    name: str
    source: str
    labels: np.ndarray | None = None
    ranges: tuple[Range, ...] = ()
    clip_ends: bool = False

    @property
    def n_frames(self) -> int | None:
        """The frame count the label file fixes, or None when it states ranges only."""
        return None if self.labels is None else int(self.labels.shape[0])

    def to_labels(self, n_frames: int | None = None, counted: str | None = None
                  ) -> np.ndarray:
        """Return int8 frame labels; `n_frames` is needed (and used) only for range labels.
        `counted`: where `n_frames` comes from when a user gave it (a frame-count file's row,
        "counts.csv, row 3"), named beside the video in the `AnnotationClippedWarning`.

        Raises `DatasetError` naming the source when `n_frames` is missing for range labels
        or a range starts after the last frame (or ends after it, unless `clip_ends`).
        """
        if self.labels is not None:
            return self.labels
        if n_frames is None:
            raise DatasetError(
                f"{self.source} ({self.name}): the ground truth states ranges only; the frame "
                "count must come from the video or the scores"
            )
        ranges = list(self.ranges)
        if self.clip_ends:
            late = [(s, e) for s, e in ranges if s > n_frames - 1]
            if late:
                raise DatasetError(
                    f"{self.source} ({self.name}): range {late[0][0]}..{late[0][1]} (0-based) "
                    f"starts after the last frame {n_frames - 1}"
                )
            clipped = [(s, min(e, n_frames - 1)) for s, e in ranges]
            if clipped != ranges:
                count = f", the count from {counted}" if counted else ""
                warnings.warn(AnnotationClippedWarning(
                    self.source, [f"{self.name} ({n_frames} frames{count})"]), stacklevel=2)
            ranges = clipped
        try:
            return ranges_to_labels(
                ranges, n_frames, first_frame=0, source=f"{self.source} ({self.name})"
            )
        except RangeError as err:  # a range read from a labels file names its row
            where = err.where(self.name)
            if where == self.name:  # no row to add
                raise
            raise RangeError(f"{self.source} ({where})", err.problem, err.one_based,
                             err.bad) from None


@dataclass(frozen=True)
class GroundTruth:
    """The test ground truth of a dataset: `videos` in the dataset's test order.

    `smoothing_sigma` is the dataset's protocol value (as in `Dataset`). `to_add_a_video`:
    how another video becomes a test video, for an error about scores of a video that is
    not one ("" where the test videos are the dataset's fixed set). `other_order`: a
    sentence on another order of the same test videos that a user may meet and take for
    this one (UBnormal: its official split lists'), said where one array of all test frames
    is split in `videos`' order; "" where there is none.
    """

    dataset: str
    root: Path
    videos: Mapping[str, VideoTruth] = field(default_factory=dict)
    smoothing_sigma: float = 3.0
    to_add_a_video: str = ""
    other_order: str = ""

    def __post_init__(self) -> None:
        if not self.videos:
            raise DatasetError(f"{self.root}: no test videos with ground truth for {self.dataset}")
