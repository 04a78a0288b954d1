"""Frame-centric features of a live stream, one frame at a time, with bounded memory.

`OnlineFrameExtractor` wraps a `FrameCentricExtractor` with an image backbone and computes,
frame by frame, the window embeddings its `extract` computes for a whole video: each frame
is resized (`resize_frame`) and embedded once as it arrives, and frame t's feature is the
mean of the embeddings of its window (`window_indices`: `length` frames, t at position
length // 2). Frame t is returned once its window can no longer change (`ready_after`):
under "clamp" when frame t + (length - 1) // 2 has arrived; under "shift", whose windows
near the start slide forward to frames 0 .. length - 1, when frame
max(0, t - length // 2) + length - 1 has; at the stream's end (known at `finish`) the rest.

With a `stride` s above 1, offline embeds the windows centred on frames 0, s, 2s, ... and the
last frame, and each frame takes the nearest centre's window (ties: the earlier;
`window_centres`, `nearest_centre`). Live, frame t's centre is known once no end of the stream
could change it (`centre_of`): the earlier centre c when frame t + (t - c) has arrived (the
last frame could no longer be nearer), the later one when it has arrived; so a frame waits up
to s // 2 frames more than at stride 1. Every frame is still embedded (any of them can fall in
the last frame's window).

Memory: the last `length` embeddings and the window means of the centres whose windows are
fixed and whose frames are not all returned (a few; about length // (2 stride) + 2 near the
start under "shift", where the first windows are fixed together).
Exactness: the same windows and means as offline; the backbone embeds one frame at a time
here and a batch offline, equal to float32 rounding. Not live: the video backbone
(`frames:hiera`, which embeds whole windows).
"""

from __future__ import annotations

import warnings
from collections import deque
from typing import Any

import numpy as np

from mulde.video.backbones import VIDEO_BACKBONES, load_backbone
from mulde.video.features.frame_centric import (
    FrameCentricExtractor,
    WindowPolicy,
    nearest_centre,
    resize_frame,
    window_centres,
    window_indices,
)
from mulde.video.features.online import (
    FrameObjects,
    FrameSizeWarning,
    live_frame,
    size_change,
)
from mulde.video.features.records import Stream


class OnlineFrameExtractor:
    """`push(frame)` one RGB uint8 (H, W, 3) frame at a time, in order; it returns the
    `FrameObjects` of the frames now complete (`ready_after`, `centre_of`; with the default
    clamped 16-frame window at stride 1, the frame 7 frames back); `finish()` ends the stream
    and returns the rest. Each frame holds one object of `Stream.FRAME`: its window embedding
    (1, dim) float32 and the whole frame as its box (0, 0, W, H), as
    `FrameCentricExtractor.extract` (strided: the nearest centre's window).

    Raises ValueError for the Hiera video backbone (not run live), a frame that is not RGB
    uint8, or one of another size than the first (the module docstring says what is
    exact). `source` names the stream in errors; `trained_shape` (H, W), the training
    videos' frame size: a first frame of another aspect ratio (by more than
    `ASPECT_TOLERANCE`) gives a `FrameSizeWarning`, since every frame is resized to the
    backbone's square input (or cropped to it) and the scene is then stretched (or cut)
    otherwise than in training; so does a smaller one of the same aspect ratio (by more than
    `SMALLER_TOLERANCE`), which holds less detail; a larger one is resized alike.
    """

    ASPECT_TOLERANCE = 0.02
    """The relative difference of width / height from the training videos' that is warned
    about (a 640x480 camera against 320x240 training video is not; 640x360 is)."""
    SMALLER_TOLERANCE = 0.1
    """How much narrower than the training videos (same aspect ratio) frames may be before
    it is warned about: a newcomer measured 180x120 frames of a view trained at 360x240
    moving scores by half the alert threshold, 720x480 ones not at all."""

    def __init__(self, extractor: FrameCentricExtractor, source: str = "the stream",
                 trained_shape: tuple[int, int] | None = None) -> None:
        if extractor.backbone in VIDEO_BACKBONES:
            raise ValueError(f"live scoring embeds one frame at a time with an image backbone; "
                             f"this model's extractor embeds whole windows with the "
                             f"{extractor.backbone} video backbone, which is not run live")
        self.extractor = extractor
        self.source = source
        self.trained_shape = trained_shape
        self.length = int(extractor.length)
        self.stride = int(extractor.stride)
        self._after = (self.length - 1) // 2  # frames after the centre in its window
        self._embedded: deque[np.ndarray] = deque(maxlen=self.length)  # frames n - length..n-1
        self._means: dict[int, np.ndarray] = {}  # centre -> its window's mean, once fixed
        self._next_centre = 0  # the next multiple of the stride whose mean is not yet taken
        self._backbone: Any = None
        self._shape: tuple[int, int] | None = None
        self.n_in = 0  # frames pushed
        self.n_out = 0  # frames returned

    @property
    def frame_shape(self) -> tuple[int, int] | None:
        """The (height, width) of the frames pushed, from the first one; None before it
        (`OnlineObjectExtractor.frame_shape`'s counterpart: this extractor's boxes are the
        whole frame)."""
        return None if self._shape is None else (int(self._shape[0]), int(self._shape[1]))

    @property
    def exact(self) -> bool:
        """Always: the features are those of `extract` on the same frames (to float32
        rounding of the backbone)."""
        return True

    @property
    def dims(self) -> dict[Stream, int]:
        """The feature dimension of the frame stream: the backbone's."""
        return {Stream.FRAME: int(self._load_backbone().dim)}

    def _load_backbone(self) -> Any:
        if self._backbone is None:
            self._backbone = load_backbone(self.extractor.backbone, self.extractor.weights_path)
        return self._backbone

    def push(self, frame: np.ndarray) -> list[FrameObjects]:
        """Embed the next frame; return the frame whose window it completes, if any."""
        frame = live_frame(frame, self.source, self.n_in)
        if self._shape is None:
            self._shape = frame.shape[:2]
            self._warn_size(self._shape)
        elif frame.shape[:2] != self._shape:
            raise size_change(self.source, self.n_in, frame.shape[:2], self._shape)
        image = resize_frame(frame, self.extractor.size, self.extractor.center_crop)
        self._embedded.append(self._load_backbone().embed(image[None])[0])
        self.n_in += 1
        while self.ready_after(self._next_centre) <= self.n_in:
            self._means[self._next_centre] = self._mean(self._next_centre, self.n_in)
            self._next_centre += self.stride
        out = []
        while self.n_out < self.n_in:
            centre = self.centre_of(self.n_out)
            if centre is None or centre not in self._means:
                break
            out.append(self._complete(self.n_out, centre))
        return out

    def _warn_size(self, shape: tuple[int, int]) -> None:
        """Warn (`FrameSizeWarning`) when the stream's frames are not of the training videos'
        aspect ratio, or are smaller than them by more than `SMALLER_TOLERANCE` (nothing when
        the training size is unknown)."""
        if self.trained_shape is None:
            return
        height, width = self.trained_shape
        aspect, trained = shape[1] / shape[0], width / height
        said = (f"{self.source}: frames are {shape[1]}x{shape[0]} (aspect {aspect:.3g}) but "
                f"the model was trained on {width}x{height} video (aspect {trained:.3g}); ")
        if abs(aspect / trained - 1) > self.ASPECT_TOLERANCE:
            how, changed = (("centre-cropped to a square", "cut") if self.extractor.center_crop
                            else ("resized whole to a square", "stretched"))
            said += (f"each frame is {how} for the backbone, so this view is {changed} "
                     "otherwise than in training")
        elif shape[1] < (1 - self.SMALLER_TOLERANCE) * width:
            said += ("the frames hold less detail than the training ones (the backbone sees "
                     "them enlarged)")
        else:
            return
        warnings.warn(FrameSizeWarning(
            said + " and the scores may not compare: train a model on this camera's video"),
            stacklevel=3)

    def centre_of(self, t: int) -> int | None:
        """The centre whose window frame t takes (`nearest_centre`, ties to the earlier), once
        no later end of the stream can change it, else None: frame t itself at stride 1; the
        multiple c of the stride at or before t when frame 2 t - c has arrived (a last frame
        at or after it is no nearer), the next multiple when that frame has arrived."""
        earlier = t - t % self.stride
        later = earlier + self.stride
        if t - earlier <= later - t:
            return earlier if self.n_in > 2 * t - earlier else None
        return later if self.n_in > later else None

    def ready_after(self, t: int) -> int:
        """The frames that must have arrived before frame t's window is fixed: t + (length -
        1) // 2 + 1 under "clamp", max(0, t - length // 2) + length under "shift"."""
        if self.extractor.policy is WindowPolicy.CLAMP:
            return t + self._after + 1
        return max(0, t - self.length // 2) + self.length

    def finish(self) -> list[FrameObjects]:
        """End the stream: the last frames get the centres and windows of a stream of this
        length (the last frame a centre too, as offline)."""
        n = self.n_in
        if self.n_out >= n:
            return []
        centres = window_centres(n, self.stride)
        nearest = centres[nearest_centre(n, centres)]
        out = []
        for t in range(self.n_out, n):
            centre = int(nearest[t])
            if centre not in self._means:  # its window reaches the end: taken at this n
                self._means[centre] = self._mean(centre, n)
            out.append(self._complete(t, centre))
        return out

    def _mean(self, centre: int, n: int) -> np.ndarray:
        """The mean embedding of the window of `centre` in a stream of n frames (the oldest
        kept embedding is frame n - len(kept))."""
        window = window_indices(n, centre, self.length, self.extractor.policy)
        first = n - len(self._embedded)
        return np.mean([self._embedded[i - first] for i in window], axis=0)

    def _complete(self, t: int, centre: int) -> FrameObjects:
        """Frame t's feature, the window mean of `centre`; the means of earlier centres,
        which no later frame takes, are dropped."""
        feature = self._means[centre]
        for old in [c for c in self._means if c < centre]:
            del self._means[old]
        height, width = self._shape  # type: ignore[misc]
        self.n_out = t + 1
        return FrameObjects(t, {Stream.FRAME: (
            feature.astype(np.float32)[None],
            np.array([[0, 0, width, height]], np.float32))})


def online_extractor(extractor: Any, source: str = "the stream",
                     trained_shape: tuple[int, int] | None = None) -> Any:
    """The live form of a model's extractor: `OnlineFrameExtractor` for a
    `FrameCentricExtractor`, else `mulde.video.features.online.OnlineObjectExtractor`
    (which raises ValueError for what it cannot run live)."""
    if isinstance(extractor, FrameCentricExtractor):
        return OnlineFrameExtractor(extractor, source, trained_shape)
    from mulde.video.features.online import OnlineObjectExtractor

    return OnlineObjectExtractor(extractor, source, trained_shape)
