"""What the feature extractors share: their record (`ObjectFeatures`, from
`mulde.video.features.records`), its conversion for the cache, and the frame input helpers."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

import numpy as np

from mulde.video.cache import VideoFeatures
from mulde.video.features.records import ObjectFeatures
from mulde.video.source import Video

FrameSource = Video | Iterable[np.ndarray]


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
