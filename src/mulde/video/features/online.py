"""Object-centric features of a live stream, one frame at a time, with bounded memory.

`OnlineObjectExtractor` wraps an `ObjectCentricExtractor` and computes, frame by frame, the
features its `extract` computes for a whole video. What a frame's features need, and when
they are ready:

- regions: the frame and the background it is compared with. With
  `region_background="scene"` that is the scene background learnt at training, known from
  the first frame. With the default `"video"` (the per-video median of up to
  `background_frames` frames of the whole video) the live stream cannot see its future:
  its first `background_frames` frames are buffered and their median is the background
  (the offline one for a video of at most that many frames; an approximation for longer
  ones, said by `exact`);
- the flow of frame t: DIS between frames max(0, t - b) and min(n - 1, t + b), b =
  `flow_baseline` (`mulde.video.features.flow.centred_flows`), so frame t is ready when
  frame t + b has arrived, or when the stream ends (then n is known);
- the static stream's dwell: how long each pixel has been foreground, a causal state
  updated on every frame in order;
- geometry: the regions' boxes; appearance: the backbone embedding of the frame's crops;
  pose: MoveNet keypoints of the frame's person boxes;
- regions from a detector run here (`regions="detector"`): frames 0, k, 2k, ... (k =
  `detector_every`) go through the detector one at a time, frames between take the last
  boxes, held or carried by the flow (`detector_carry`; as
  `mulde.video.detection.cache.detect_frames`), and the boxes are rounded outwards to
  whole pixels as the box cache stores them (written with 2 decimals, read back floored /
  ceiled), so they are the boxes the offline pipeline reads from its cache.

Frames are `downscale`d to the extractor's `max_height` first (the grayscale image, and the
RGB frame when a stream needs colour), as offline; boxes are in the downscaled frame's pixels.

Memory: the last 2b + 1 grayscale frames, the regions of the b frames waiting for their
flow (with their RGB frames when the appearance stream is on), one dwell image, and in
"video" mode the warm-up buffer of `background_frames` frames. Nothing grows with the
stream's length.

With `region_background="scene"` the features are those of `extract` on the same frames,
bit for bit (tested), except appearance, whose backbone embeds each frame's crops in its own
batch here and all crops at once offline (equal to float32 rounding), and detector boxes,
which a detector that batches frames may compute with other float rounding. External boxes
(`regions="boxes"`, a file per recorded video) cannot exist for a live stream.
"""

from __future__ import annotations

import math
import warnings
from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np

from mulde.video.detection.base import PERSON
from mulde.video.features.base import to_gray
from mulde.video.features.flow import dis_flow
from mulde.video.features.objects import ObjectCentricExtractor, downscale, downscaled_size
from mulde.video.features.records import ObjectFeatures, Stream, VideoFeatures
from mulde.video.features.regions import Region, RegionMode, median_background
from mulde.video.features.streams import (
    GEOMETRY_DIM,
    POSE_DIM,
    STATIC_DIM,
    box_geometry,
    class_evidence,
    crop_boxes,
    frame_size_rule,
    read_scene_background,
    square_crop_boxes,
)

LIVE_STREAMS = frozenset({Stream.VELOCITY, Stream.GEOMETRY, Stream.STATIC, Stream.APPEARANCE,
                          Stream.POSE, Stream.CLASS})
"""The streams `OnlineObjectExtractor` computes."""


@dataclass
class FrameObjects:
    """The objects of one frame `index` (0-based in the stream): per stream, features
    (k, d) float32 and boxes (k, 4) float32 (x0, y0, x1, y1), k >= 1 but for a stream whose
    frame may hold none (never for these streams)."""

    index: int
    streams: dict[Stream, tuple[np.ndarray, np.ndarray]]


def frames_to_features(frames: list[FrameObjects], dims: dict[Stream, int]) -> VideoFeatures:
    """Return the `VideoFeatures` of consecutive frames (frame indices local: 0 = the first
    of `frames`); `dims` is each stream's feature dimension (used when no object)."""
    out = {}
    for stream, dim in dims.items():
        feats = [f.streams[stream][0] for f in frames]
        boxes = [f.streams[stream][1] for f in frames]
        index = np.concatenate([np.full(len(x), i, np.int64) for i, x in enumerate(feats)])
        out[stream] = ObjectFeatures(np.concatenate(feats).reshape(-1, dim).astype(np.float32),
                                     index, len(frames),
                                     np.concatenate(boxes).reshape(-1, 4).astype(np.float32))
    return VideoFeatures(out, len(frames))


def live_frame(frame: np.ndarray, source: str, index: int) -> np.ndarray:
    """The pushed `frame` as an array, or ValueError naming `source` and the frame `index`
    when it is not RGB uint8 (H, W, 3)."""
    frame = np.asarray(frame)
    if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError(f"{source}: frame {index}: need RGB uint8 (H, W, 3), got "
                         f"{frame.dtype} {frame.shape}")
    return frame


def size_change(source: str, index: int, shape: tuple[int, ...],
                first: tuple[int, ...]) -> ValueError:
    """The error of a live stream's frame `index` of (H, W) `shape` after a first frame of
    `first`: one stream must keep one frame size."""
    return ValueError(f"{source}: frame {index} is {shape[1]}x{shape[0]}, the first frame "
                      f"{first[1]}x{first[0]}; one stream must keep one frame size")


class FrameSizeWarning(UserWarning):
    """A live stream's frames are not the size of the model's training videos, and the
    model has no scene background to refuse them by (`OnlineObjectExtractor`), or, for a
    frame-centric model, are of another aspect ratio or narrower
    (`mulde.video.features.online_frames.OnlineFrameExtractor`)."""


@dataclass
class _Pending:
    """A frame whose regions are known, waiting for its flow."""

    index: int
    regions: list[Region]
    still: tuple[list[Region], list[float]] | None
    rgb: np.ndarray | None
    moving: list[Region] | None = None  # the velocity stream's own regions, if it has them


class OnlineObjectExtractor:
    """`push(frame)` one RGB uint8 (H, W, 3) frame at a time, in order; it returns the
    `FrameObjects` of the frames now complete (those b = `flow_baseline` frames back, or a
    batch at the end of a "video"-mode warm-up); `finish()` ends the stream and returns the
    rest. See the module docstring for what is exact and what is buffered.

    Raises ValueError for an extractor setting not supported live (detector regions, the
    pose stream, a missing scene background), a frame of another size than the first, or a
    frame that is not RGB uint8; `VideoMismatchError` when the frames are not the size of
    the scene background. `source` names the stream in errors, `trained_shape` (H, W) the
    training videos' frame size (in that error, or, for a model without a scene background,
    in a `FrameSizeWarning` when the frames are of another size; None: unknown).
    """

    def __init__(self, extractor: ObjectCentricExtractor, source: str = "the stream",
                 trained_shape: tuple[int, int] | None = None) -> None:
        if extractor.regions is RegionMode.BOXES:
            raise ValueError("live scoring finds regions in the frames (regions 'grid', "
                             "'components' or 'detector'); this model's extractor reads "
                             "them from files of recorded videos (regions='boxes')")
        unsupported = sorted(s.value for s in set(extractor.streams) - LIVE_STREAMS)
        if unsupported:
            raise ValueError(f"live scoring does not compute the {', '.join(unsupported)} "
                             f"stream; supported: "
                             f"{', '.join(sorted(s.value for s in LIVE_STREAMS))}")
        self.extractor = extractor
        self.trained_shape = trained_shape
        self.source = source
        self.streams = extractor.stream_objects()
        self._by_stream = {s.stream: s for s in self.streams}
        self.b = int(extractor.flow_baseline)
        if self.b < 1:
            raise ValueError(f"flow_baseline must be >= 1 frame, got {self.b}")
        self.scene_mode = extractor.region_background == "scene"
        needs_scene = self.scene_mode or Stream.STATIC in self._by_stream
        if needs_scene and extractor.scene_background is None:
            raise ValueError("this extractor needs its scene background (learnt from the "
                             "training videos); none is set")
        self.detecting = extractor.regions is RegionMode.DETECTOR
        self.keep_rgb = (Stream.APPEARANCE in self._by_stream or Stream.POSE in self._by_stream
                         or self.detecting)
        self._detector: Any = extractor.build_detector() if self.detecting else None
        self._found: Any = None  # the last frame's detections, as detected or carried
        self._boxes: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # ... rounded
        self._found_gray: np.ndarray | None = None  # the frame they belong to
        self._carrier: Any = None
        if self.detecting and self._detector.settings.carry == "flow":
            from mulde.video.detection.carry import FlowCarrier

            self._carrier = FlowCarrier()
        self._pose: Any = None
        # the person boxes, keypoints and index of the last frame given keypoints
        # (PoseStream.carry_every)
        self._pose_before: tuple[np.ndarray, np.ndarray, int] | None = None
        self._dis = dis_flow(extractor.flow_preset)
        self._shape: tuple[int, int] | None = None
        self._scene: np.ndarray | None = None
        self._background: np.ndarray | None = None
        self._warmup: list[tuple[np.ndarray, np.ndarray | None]] = []
        self._grays: deque[np.ndarray] = deque(maxlen=2 * self.b + 1)  # frames n-1-2b..n-1
        self._pending: deque[_Pending] = deque()
        self._run: np.ndarray | None = None
        self._backbone: Any = None
        self.n_in = 0  # frames pushed
        self.n_regioned = 0  # frames whose regions are found
        self.n_out = 0  # frames returned

    @property
    def frame_shape(self) -> tuple[int, int] | None:
        """The (height, width) of the frames the features are computed on (after the
        extractor's `max_height` downscale), from the first frame pushed; None before it."""
        return None if self._shape is None else (int(self._shape[0]), int(self._shape[1]))

    @property
    def exact(self) -> bool:
        """Whether the features are the offline ones of the same frames: always with the
        scene background; with the per-video median, while the stream is no longer than the
        warm-up (`background_frames`)."""
        return self.scene_mode or self.n_in <= self.extractor.background_frames

    @property
    def dims(self) -> dict[Stream, int]:
        """The feature dimension of each stream."""
        out = {}
        for s in self.streams:
            if s.stream is Stream.VELOCITY:
                out[s.stream] = s.n_bins
            elif s.stream is Stream.GEOMETRY:
                out[s.stream] = GEOMETRY_DIM
            elif s.stream is Stream.STATIC:
                out[s.stream] = STATIC_DIM
            elif s.stream is Stream.POSE:
                out[s.stream] = POSE_DIM
            elif s.stream is Stream.CLASS:
                out[s.stream] = len(s.classes) + 1
            else:
                out[s.stream] = self._load_backbone().dim
        return out

    def _load_backbone(self) -> Any:
        if self._backbone is None:
            from mulde.video.backbones import load_backbone

            s = self._by_stream[Stream.APPEARANCE]
            self._backbone = load_backbone(s.backbone, s.weights_path)
        return self._backbone

    def push(self, frame: np.ndarray) -> list[FrameObjects]:
        frame = live_frame(frame, self.source, self.n_in)
        gray = downscale(to_gray(frame), self.extractor.max_height)  # as `extract` does
        if self._shape is None:
            self._shape = gray.shape
            self._start(self._shape, frame.shape[:2])
        elif gray.shape != self._shape:
            raise size_change(self.source, self.n_in, gray.shape, self._shape)
        self.n_in += 1
        rgb = downscale(frame, self.extractor.max_height) if self.keep_rgb else None
        if self._background is None:  # "video" mode, warming up
            self._warmup.append((gray, rgb))
            if len(self._warmup) < self.extractor.background_frames:
                return []
            return self._end_warmup()
        return self._arrive(gray, rgb)

    def finish(self) -> list[FrameObjects]:
        """End the stream: the frames still waiting get the flow of the shortened window."""
        out = self._end_warmup() if self._background is None and self._warmup else []
        n = self.n_regioned
        while self._pending:
            t = self._pending[0].index
            out.append(self._complete(t, min(n - 1, t + self.b)))
        return out

    def _start(self, shape: tuple[int, int], source_shape: tuple[int, int]) -> None:
        ex = self.extractor
        if ex.scene_background is not None:
            self._scene = read_scene_background(ex.scene_background, shape, self.source,
                                                source_shape=source_shape,
                                                trained_shape=self.trained_shape,
                                                max_height=ex.max_height)
        elif self.trained_shape is not None:
            self._warn_size(shape, source_shape)
        if self.scene_mode:
            self._background = self._scene
        self._run = np.zeros(shape, np.int32)

    def _warn_size(self, shape: tuple[int, int], source_shape: tuple[int, int]) -> None:
        """Without a scene background nothing refuses frames of another size than the
        training videos' (`read_scene_background` does for the models that have one): say
        it, with the sizes the user knows, since the pixel-sized settings and speeds were
        learnt at the training size."""
        assert self.trained_shape is not None
        height, width = self.trained_shape
        max_height = self.extractor.max_height
        works = downscaled_size(width, height, max_height)
        if works == (shape[1], shape[0]):
            return
        frames = f"frames are {source_shape[1]}x{source_shape[0]}"
        if tuple(source_shape) != tuple(shape):
            frames += f" ({shape[1]}x{shape[0]} once downscaled)"
        warnings.warn(FrameSizeWarning(
            f"{self.source}: {frames}, but {frame_size_rule(works, max_height, (width, height))}"
            "; it has no scene background that would refuse them, so it scores them, but its "
            "sizes in pixels (cells, minimum regions, speeds in pixels per frame) were learnt "
            "at that size and these scores may not compare: train a model on this camera's "
            "video"), stacklevel=4)

    def _end_warmup(self) -> list[FrameObjects]:
        grays = [g for g, _ in self._warmup]
        self._background = median_background(grays, self.extractor.background_frames)
        out: list[FrameObjects] = []
        warmup, self._warmup = self._warmup, []
        for gray, rgb in warmup:
            out += self._arrive(gray, rgb)
        return out

    def _arrive(self, gray: np.ndarray, rgb: np.ndarray | None) -> list[FrameObjects]:
        """Find the frame's regions (and still objects), then complete the frame b back."""
        t = self.n_regioned
        self.n_regioned += 1
        boxes = labels = scores = None
        if self.detecting:
            found = None
            if t % self._detector.settings.every == 0:
                found = self._detector.detect([rgb])[0]
            elif self._carrier is not None:
                found = self._carrier.step(self._found, self._found_gray, gray)
            if found is not None:  # held boxes keep their rounding
                self._found, self._boxes = found, _rounded(found, *gray.shape)
            self._found_gray = gray
            boxes, labels, scores = self._boxes
        ex = self.extractor
        mask = ex.foreground(gray, self._background)
        regions = ex.mask_regions(mask, boxes=boxes, labels=labels, scores=scores)
        still = None
        static = self._by_stream.get(Stream.STATIC)
        if static is not None:
            regions_s, dwell, self._run = static.step(gray, self._scene, self._run,
                                                      ex.mask_regions,
                                                      mask if self.scene_mode else None)
            still = (regions_s, dwell)
        velocity = self._by_stream.get(Stream.VELOCITY)
        moving = (ex.mask_regions(mask, velocity.regions)
                  if velocity is not None and velocity.regions is not None else None)
        self._grays.append(gray)
        self._pending.append(_Pending(t, regions, still, rgb, moving))
        ready = t - self.b
        return [self._complete(ready, t)] if ready >= 0 else []

    def _gray(self, index: int) -> np.ndarray:
        return self._grays[index - (self.n_regioned - len(self._grays))]

    def _complete(self, t: int, t1: int) -> FrameObjects:
        """Frame t (the oldest pending) with the flow over [max(0, t - b), t1]."""
        p = self._pending.popleft()
        assert p.index == t
        t0 = max(0, t - self.b)
        if t1 == t0:
            flow = np.zeros((*self._shape, 2), np.float32)
        else:
            flow = self._dis.calc(self._gray(t0), self._gray(t1), None) / np.float32(t1 - t0)
        height, width = self._shape
        boxes = np.array([r.box for r in p.regions], np.float32).reshape(-1, 4)
        out: dict[Stream, tuple[np.ndarray, np.ndarray]] = {}
        for s in self.streams:
            if s.stream is Stream.VELOCITY:
                moving = p.regions if p.moving is None else p.moving
                feats = np.array(s.rows(moving, flow), np.float32).reshape(-1, s.n_bins)
                out[s.stream] = (feats, boxes if p.moving is None else np.array(
                    [r.box for r in moving], np.float32).reshape(-1, 4))
            elif s.stream is Stream.GEOMETRY:
                out[s.stream] = (box_geometry(boxes, width, height), boxes)
            elif s.stream is Stream.STATIC:
                regions, dwell = p.still
                feats = np.array(s.rows(regions, dwell, flow), np.float32).reshape(-1, STATIC_DIM)
                out[s.stream] = (feats, np.array([r.box for r in regions],
                                                 np.float32).reshape(-1, 4))
            elif s.stream is Stream.POSE:
                person = np.array([r.label == PERSON for r in p.regions], bool)
                people = boxes[person]
                feats = np.zeros((0, POSE_DIM), np.float32)
                if len(people):
                    if self._pose is None:
                        from mulde.video.detection.pose import MoveNetPose

                        self._pose = MoveNetPose(s.weights_path, s.margin)
                    keypoints = s.keypoints(self._pose, t, p.rgb, people, self._pose_before)
                    self._pose_before = (people, keypoints, t)
                    feats, kept = s.select(keypoints, people)
                    people = people[kept]
                out[s.stream] = (np.asarray(feats, np.float32), people)
            elif s.stream is Stream.CLASS:
                out[s.stream] = (class_evidence([r.label for r in p.regions],
                                                [r.score for r in p.regions], s.classes), boxes)
            else:
                squares = square_crop_boxes(boxes, s.crop_margin, s.crop_min_side)
                crops = crop_boxes(p.rgb, squares, s.crop_size)
                out[s.stream] = (np.asarray(self._load_backbone().embed(crops), np.float32),
                                 boxes)
        self.n_out += 1
        return FrameObjects(t, out)


def _rounded(found: Any, height: int, width: int
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(boxes (k, 4) float32, classes (k,), scores (k,) float32) of one frame's
    `FrameDetections` as the box cache gives them back: coordinates written with 2 decimals,
    then rounded outwards to whole pixels and clipped to the frame, scores with 4 decimals;
    boxes left empty dropped (`mulde.video.features.detections.read_detections`)."""
    rows = []
    for (x0, y0, x1, y1), c, p in zip(found.boxes.tolist(), found.classes.tolist(),
                                      found.scores.tolist(), strict=True):
        x0, y0, x1, y1 = (float(f"{v:.2f}") for v in (x0, y0, x1, y1))
        box = (max(0, math.floor(x0)), max(0, math.floor(y0)), min(width, math.ceil(x1)),
               min(height, math.ceil(y1)))
        if box[2] > box[0] and box[3] > box[1]:
            rows.append((*box, int(c), float(f"{p:.4f}")))
    a = np.array(rows, np.float64).reshape(-1, 6)
    return a[:, :4].astype(np.float32), a[:, 4].astype(np.int64), a[:, 5].astype(np.float32)
