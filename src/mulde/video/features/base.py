"""The extractor contract (`Extractor`: what the pipeline and the feature cache need of a
feature extractor) and the frame input helpers every extractor uses."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from mulde.video.features.records import VideoFeatures
from mulde.video.source import Video

FrameSource = Video | Iterable[np.ndarray]


class DamagedCacheEntryWarning(UserWarning):
    """A cached file that cannot be read (truncated by an interrupted copy, damaged on a
    shared file system, a pickle): a feature entry whose sidecar is no JSON object or whose
    frame count cannot be the arrays', or whose sidecar is current but whose arrays fail
    (`mulde.video.cache.FeatureCache.load`), or a scene background that is no image
    (`ObjectCentricExtractor.with_scene`). Named, and its work done again, where a damaged
    entry had been redone without a word and a damaged background had failed every run."""


class Extractor(Protocol):
    """A feature extractor: a frozen settings object that turns a video into `VideoFeatures`.

    `name` and `version` (bumped whenever the same settings would give other features) and
    `params` (the JSON-ready settings that decide the features) make its feature-cache key.
    """

    name: str
    version: str

    @property
    def params(self) -> dict[str, Any]: ...

    @property
    def needs_scene(self) -> bool:
        """Whether `with_scene` must be called with the training videos before `extract`."""
        ...

    def with_scene(self, videos: Iterable[FrameSource], folder: str | Path) -> Extractor:
        """Return the extractor fitted to the scene of `videos` (the training videos of one
        camera view), with any file it learns written into `folder`; itself when it needs
        no scene. Raises ValueError when no frame of the videos can be read."""
        ...

    def extract(self, video: FrameSource,
                timings: dict[str, float] | None = None) -> VideoFeatures:
        """Return the video's features (raise VideoReadError when it cannot be decoded);
        `timings`, when given, accumulates seconds per stage."""
        ...


class SceneFree:
    """Mixin of the `Extractor` contract's scene part for extractors that learn no scene."""

    needs_scene = False

    def with_scene(self, videos: Iterable[FrameSource], folder: str | Path) -> SceneFree:
        """Return self: nothing to learn from the training videos."""
        return self


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
