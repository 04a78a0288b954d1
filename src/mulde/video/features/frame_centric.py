"""Frame-centric features (MULDE's frame-centric setting, docs/method.md): a window of `length`
consecutive frames labelled by its centre frame, embedded by a video backbone (Hiera) or by an
image backbone pooled per frame and averaged over the window."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Any

import cv2
import numpy as np

from mulde.video.backbones import check_backbone, load_backbone
from mulde.video.features.base import FrameSource, SceneFree, iter_source
from mulde.video.features.records import ObjectFeatures, Stream, VideoFeatures


class WindowPolicy(str, Enum):
    """How windows near the first/last frames are completed so every frame gets a feature."""

    CLAMP = "clamp"  # window centred on the frame; indices outside the video repeat the edge frame
    SHIFT = "shift"  # window slid inside the video (frame off-centre); clamp if the video is short


def window_indices(n_frames: int, centre: int, length: int = 16,
                   policy: WindowPolicy | str = WindowPolicy.CLAMP) -> np.ndarray:
    """Return the (length,) frame indices of the window labelled by frame `centre`.

    The centre sits at position length // 2 of the window (frames centre - length // 2 ...
    centre + (length - 1) // 2; for length 16: 8 before, 7 after). CLAMP clips the indices to
    [0, n_frames - 1]; SHIFT moves the window inside the video instead.
    """
    if not 0 <= centre < n_frames or length < 1:
        raise ValueError(f"need 0 <= centre < n_frames and length >= 1, got centre {centre}, "
                         f"n_frames {n_frames}, length {length}")
    start = centre - length // 2
    if WindowPolicy(policy) is WindowPolicy.SHIFT:
        start = max(0, min(start, n_frames - length))
    return np.clip(np.arange(start, start + length), 0, n_frames - 1)


def window_centres(n_frames: int, stride: int = 1) -> np.ndarray:
    """Return the centres at which windows are embedded: every `stride` frames from 0, plus the
    last frame when the stride skips it."""
    if stride < 1 or n_frames < 1:
        raise ValueError(f"need stride >= 1 and n_frames >= 1, got {stride}, {n_frames}")
    centres = np.arange(0, n_frames, stride)
    return centres if centres[-1] == n_frames - 1 else np.append(centres, n_frames - 1)


def nearest_centre(n_frames: int, centres: np.ndarray) -> np.ndarray:
    """Return for every frame the position in `centres` of the nearest centre (ties: earlier),
    so a strided extraction still gives every frame a feature."""
    frames = np.arange(n_frames)
    right = np.clip(np.searchsorted(centres, frames), 0, len(centres) - 1)
    left = np.clip(right - 1, 0, len(centres) - 1)
    take_left = np.abs(frames - centres[left]) <= np.abs(centres[right] - frames)
    return np.where(take_left, left, right)


def resize_frame(frame: np.ndarray, size: int, center_crop: bool = True) -> np.ndarray:
    """Return a (size, size, 3) frame: short side resized to `size` then centre-cropped, or the
    whole frame squashed to size x size when center_crop is False."""
    h, w = frame.shape[:2]
    if not center_crop:
        return cv2.resize(frame, (size, size), interpolation=cv2.INTER_AREA)
    scale = size / min(h, w)
    nh, nw = max(size, round(h * scale)), max(size, round(w * scale))
    r = cv2.resize(frame, (nw, nh), interpolation=cv2.INTER_AREA)
    y, x = (nh - size) // 2, (nw - size) // 2
    return r[y:y + size, x:x + size]


@dataclass(frozen=True)
class FrameCentricExtractor(SceneFree):
    """One feature per frame (stream "frame"): the window of `length` frames around it
    (`policy` at the video's ends), each frame resized whole to `size` x `size` (or its short
    side to `size` and centre-cropped: `center_crop`, which drops the sides of a wide view),
    embedded every `stride` frames (other frames take the nearest embedded window).

    `backbone` "hiera" is the video backbone `HieraBackbone(weights_path)`; an image backbone
    (`mulde.video.backbones.BACKBONES`) embeds each frame once and averages the window's
    embeddings.
    """

    backbone: str = "efficientnet-lite0"
    weights_path: str | None = None
    length: int = 16
    stride: int = 1
    size: int = 224
    center_crop: bool = False  # a surveillance view is seen whole (docs/results.md)
    policy: WindowPolicy = WindowPolicy.CLAMP
    batch_size: int = 4
    name: str = field(default="frames", init=False)
    version: str = field(default="1", init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "policy", WindowPolicy(self.policy))
        for name in ("length", "stride", "size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        check_backbone(self.backbone)

    @property
    def streams(self) -> tuple[Stream, ...]:
        """The one stream it computes, `Stream.FRAME` (as an object extractor's `streams`)."""
        return (Stream.FRAME,)

    @property
    def params(self) -> dict[str, Any]:
        """The parameters (JSON-ready) that decide the features; recorded in the cache."""
        p = asdict(self)
        p.pop("name"), p.pop("version"), p.pop("batch_size")
        p["policy"] = self.policy.value
        return p

    def extract(self, source: FrameSource,
                timings: dict[str, float] | None = None) -> VideoFeatures:
        """Return the video's `Stream.FRAME` stream: one whole-frame object per frame."""
        t0 = time.perf_counter()
        frames, shape = [], None
        for f in iter_source(source):
            shape = f.shape
            frames.append(resize_frame(f, self.size, self.center_crop))
        if not frames:
            raise ValueError("the video has no frames")
        n = len(frames)
        centres = window_centres(n, self.stride)
        windows = np.stack([window_indices(n, c, self.length, self.policy) for c in centres])
        if self.backbone == "hiera":
            net = load_backbone("hiera", self.weights_path)
            emb = np.concatenate([
                net.embed_clips(np.stack([np.stack([frames[i] for i in w])
                                          for w in windows[j:j + self.batch_size]]))
                for j in range(0, len(windows), self.batch_size)])
        else:
            net = load_backbone(self.backbone, self.weights_path)
            needed = np.unique(windows)
            per_frame = np.zeros((n, net.dim), np.float32)
            per_frame[needed] = net.embed(np.stack([frames[i] for i in needed]))
            emb = per_frame[windows].mean(axis=1)
        feats = emb[nearest_centre(n, centres)]
        if timings is not None:
            timings["frame"] = timings.get("frame", 0.0) + time.perf_counter() - t0
        h, w = shape[:2]
        return VideoFeatures.of({Stream.FRAME: ObjectFeatures.build(
            feats, np.arange(n), np.tile([0, 0, w, h], (n, 1)), n, feats.shape[1])})
