"""The record every feature extractor returns, and the frame input helpers they share."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

import numpy as np

from mulde.video.cache import VideoFeatures
from mulde.video.source import Video

FrameSource = Video | Iterable[np.ndarray]


@dataclass(frozen=True)
class ObjectFeatures:
    """One feature stream of one video.

    `features` (n_objects, d) float32; `frame_index` (n_objects,) int64, the 0-based frame of
    each object; `boxes` (n_objects, 4) float32 (x0, y0, x1, y1) in pixels, x1/y1 exclusive;
    `n_frames` the video's frame count. Every frame holds at least one object (a frame without
    regions is one whole-frame object, as in AI-VAD), so object -> frame max never meets a hole.
    """

    features: np.ndarray
    frame_index: np.ndarray
    boxes: np.ndarray
    n_frames: int

    def __post_init__(self) -> None:
        f, idx, b = self.features, self.frame_index, self.boxes
        if f.ndim != 2 or idx.shape != (len(f),) or b.shape != (len(f), 4):
            raise ValueError(f"need features (n, d), frame_index (n,), boxes (n, 4); got "
                             f"{f.shape}, {idx.shape}, {b.shape}")
        if len(idx) and (idx.min() < 0 or idx.max() >= self.n_frames):
            raise ValueError(f"frame_index outside [0, {self.n_frames - 1}]")

    @classmethod
    def build(cls, features: Iterable[np.ndarray] | np.ndarray, frame_index: Iterable[int],
              boxes: Iterable[Iterable[float]], n_frames: int, dim: int) -> ObjectFeatures:
        """Return a record from per-object rows (dtype-normalised; `dim` used when empty)."""
        f = np.asarray(list(features) if not isinstance(features, np.ndarray) else features,
                       dtype=np.float32).reshape(-1, dim)
        return cls(f, np.asarray(list(frame_index), dtype=np.int64),
                   np.asarray(list(boxes), dtype=np.float32).reshape(-1, 4), int(n_frames))

    def as_arrays(self) -> dict[str, np.ndarray]:
        """Return the named arrays stored in the feature cache for this stream."""
        return {"features": self.features, "frame_index": self.frame_index, "boxes": self.boxes}


def to_video_features(streams: Mapping[str, ObjectFeatures]) -> VideoFeatures:
    """Return the cache's `VideoFeatures` for a dict of streams (all of one video)."""
    counts = {s.n_frames for s in streams.values()}
    if len(counts) != 1:
        raise ValueError(f"streams disagree on the frame count: {sorted(counts)}")
    return VideoFeatures({k: v.as_arrays() for k, v in streams.items()}, counts.pop())


def iter_source(source: FrameSource) -> Iterator[np.ndarray]:
    """Yield the RGB uint8 (H, W, 3) frames of a `Video` or of an iterable of frames."""
    frames = source.frames() if isinstance(source, Video) else iter(source)
    for i, frame in enumerate(frames):
        frame = np.asarray(frame)
        if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
            raise ValueError(f"frame {i}: need RGB uint8 (H, W, 3), got {frame.dtype} "
                             f"{frame.shape}")
        yield frame


def to_gray(frame: np.ndarray) -> np.ndarray:
    """Return the uint8 (H, W) luma of an RGB uint8 frame (ITU-R BT.601, as OpenCV)."""
    import cv2

    return cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
