"""The one data type shared by datasets and feature extraction: a video to read (decoded lazily
by `mulde.video.decode`)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mulde.io.hashing import file_sha256, listing_sha256
from mulde.video import decode
from mulde.video.decode import VideoReadError

__all__ = ["Video", "VideoReadError", "source_checksum"]


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
        return decode.iter_frames(self.path)

    @property
    def n_frames(self) -> int:
        """Number of frames (from the labels when known, else probed from the file)."""
        if self.labels is not None:
            return len(self.labels)
        return decode.probe(self.path).n_frames

    @property
    def fps(self) -> float:
        """Frame rate in frames/s (frame folders report `decode.DEFAULT_FOLDER_FPS`)."""
        return decode.probe(self.path).fps


def source_checksum(path: str | Path) -> str:
    """SHA-256 of a video file's bytes, or of a frame folder's frame names and sizes: its
    image files but the strays `mulde.video.decode.list_frame_files` leaves out (other files,
    e.g. a Thumbs.db the file browser adds, are not frames and do not count; nor is a
    cover.jpg among numbered frames, so a folder cached while such an image was read as its
    last frame, before strays were left out, gets another key and is extracted again). A
    file's is read once while its size and modification time stay the same
    (`mulde.io.hashing.file_sha256`): a run asks for it several times per video. A folder
    is listed once, as decoding lists it (`mulde.video.decode.image_files`). Raises
    VideoReadError, with decoding's message, for a folder that cannot be listed, and OSError
    for a file that cannot be read."""
    path = Path(path)
    if path.is_dir():
        images = decode.image_files(path)
        strays = set(decode.stray_files(images))
        return listing_sha256(f for f in images if f not in strays)
    return file_sha256(path)
