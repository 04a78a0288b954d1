"""The one data type shared by decoding, datasets and feature extraction: a video to read."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


class VideoReadError(RuntimeError):
    """A video or frame folder could not be read; the message names the path and the cause."""


class VideoMismatchError(VideoReadError):
    """A readable video that does not fit the run (its frames are not the size of the scene
    background learned from the training videos); like an unreadable one, it is skipped and
    reported, never stopping the run."""


@dataclass(frozen=True)
class Video:
    """One video of a dataset split, decoded lazily.

    `path` is a video file (decoded with PyAV) or a folder of frame images (sorted by name).
    `labels` holds one 0/1 label per frame (1 = anomalous), or None when unknown.
    """

    name: str
    path: Path
    labels: np.ndarray | None = field(default=None, compare=False, repr=False)

    def frames(self) -> Iterator[np.ndarray]:
        """Yield the frames in order as RGB uint8 arrays of shape (H, W, 3)."""
        from mulde.video.decode import iter_frames

        return iter_frames(self.path)

    @property
    def n_frames(self) -> int:
        """Number of frames (from the labels when known, else probed from the file)."""
        if self.labels is not None:
            return len(self.labels)
        from mulde.video.decode import probe

        return probe(self.path).n_frames

    @property
    def fps(self) -> float:
        """Frame rate in frames/s (frame folders report `decode.DEFAULT_FOLDER_FPS`)."""
        from mulde.video.decode import probe

        return probe(self.path).fps


@dataclass(frozen=True)
class Dataset:
    """A benchmark: normal training videos, test videos with labels, and protocol settings."""

    name: str
    root: Path
    train: tuple[Video, ...]
    test: tuple[Video, ...]
    smoothing_sigma: float = 3.0
    one_view: bool = True  # every video from one static camera view (a scene model applies)
    # with several views: a video name -> its camera view (one scene model per view), or None
    # when the dataset does not say which camera took which video
    view_of: Callable[[str], str] | None = field(default=None, compare=False, repr=False)
