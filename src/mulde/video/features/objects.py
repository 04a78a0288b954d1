"""Object-centric features (AI-VAD style, docs/method.md): foreground regions of each frame
(grid cells, connected components, an external detector's boxes or those of a detector run
here, `mulde.video.detection`), the optical flow, and the streams of
`mulde.video.features.streams` computed over them: velocity, geometry, appearance, and still
objects against a background of the scene learned from the training videos."""

from __future__ import annotations

import functools
import hashlib
import json
import time
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from mulde.io.hashing import file_sha256
from mulde.video.decode import probe
from mulde.video.features.base import (
    DamagedCacheEntryWarning,
    FrameSource,
    iter_source,
    to_gray,
)
from mulde.video.features.detections import (
    DetectionsError,
    boxes_file,
    boxes_fingerprint,
    read_detections,
)
from mulde.video.features.flow import FlowPreset, centred_flows
from mulde.video.features.records import Stream, VideoFeatures
from mulde.video.features.regions import (
    Region,
    RegionMode,
    box_regions,
    component_regions,
    foreground_mask,
    grid_regions,
    median_background,
    motion_regions,
    whole_frame_region,
)
from mulde.video.features.streams import (
    AppearanceStream,
    ClassStream,
    Clip,
    GeometryStream,
    PoseStream,
    StaticStream,
    VelocityStream,
    read_scene_background,
)
from mulde.video.source import Video, VideoReadError, source_checksum

REGION_BACKGROUNDS = ("video", "scene")
"""What `ObjectCentricExtractor.region_background` can be."""

STREAMS = (Stream.VELOCITY, Stream.GEOMETRY, Stream.APPEARANCE, Stream.STATIC, Stream.POSE,
           Stream.CLASS)
"""The streams the object extractor can compute."""


@dataclass(frozen=True)
class ObjectCentricExtractor:
    """Foreground regions -> per-object velocity / geometry / appearance streams.

    Background: per-video median of at most `background_frames` frames (offline, static
    camera). Foreground: |frame - background| > `threshold` after a `blur` Gaussian, opened
    with `open_size`. Regions: a grid of `cell` px cells every `stride` px holding at least
    `min_fraction` foreground (default), connected components (`min_area`, `close_size`), or
    the boxes of an external detector (`regions="boxes"`: one CSV per video under
    `boxes_dir`, see `detections`; boxes scoring below `min_box_score` dropped), or of the
    detector `detector` run here (`regions="detector"`, `mulde.video.detection.build_detector`:
    weights `detector_weights` (else the wheel, else the download), ONNX `detector_layout`,
    policy `detector_input_height`, `detector_score`, `detector_every`, `detector_carry`
    ("hold" or "flow": how boxes reach the frames between detections,
    `mulde.video.detection.carry`); boxes cached per
    video under `boxes_cache`, which `with_scene` sets beside the scene background);
    `motion_boxes` (boxes modes only; off by default): the foreground components outside
    every box (`motion_regions`: boxes covering at least `motion_min_box` pixels, AI-VAD's
    10 x 10 on UCSD Ped2) become objects too, without a class (no pose; zeros in the class
    stream), as AI-VAD adds such "foreground" boxes to its detector's, so that an object the
    detector misses (a cart, a skateboarder) is still described;
    `skip_edges` (default) drops regions whose box touches a frame edge: the flow of an object
    entering or leaving the view is unreliable (on Ped2's training videos such cells are 5 %
    of the moving cells but hold the frame maximum in 46 % of the top 1 % of frames; on the
    demo scene's, 5 % and all of the top 1 %).
    Flow: DIS `flow_preset` over a window of +-`flow_baseline` frames centred on each frame.
    velocity: `velocity_histogram` (`n_bins`) over the region's foreground pixels
    (`motion="magnitude"`), or `translation_histogram`, the speed of their mean flow vector
    (`motion="translation"`); over the extraction's regions, or with `velocity_regions`
    ("grid" or "components") over regions of that mode of its own, found in the same
    foreground (e.g. grid cells beside the boxes modes' boxes; `VelocityStream.regions`);
    geometry: `box_geometry`; appearance: `backbone` embedding of a square crop
    (`crop_size`, `crop_margin`, `crop_min_side`), weights from `weights_path` if given.
    pose: MoveNet keypoints of each detected person (`regions="detector"` only), from
    `pose_weights` or the wheel; persons whose mean keypoint confidence is below
    `pose_min_confidence` get none (0: every person); `pose_carry_held`: with held boxes
    (`detector_carry="hold"`) MoveNet runs on the detected frames only, and a frame between
    two detections takes the keypoints of the frame whose boxes it holds
    (`PoseStream.carry_every`); boxes moved by the flow get MoveNet on every frame.
    class: `class_evidence`, the detector's score in the slot of each box's class (boxes
    modes only: the regions of the other modes have no class).
    static: connected components (`min_area`, `close_size`) of the foreground against
    `scene_background` (a grayscale image file of the empty scene, made by `with_scene` from
    the training videos: the median of up to `background_frames` of their frames), each
    [area in cells (pixels / cell^2; 0 for a frame without any), mean flow speed over it,
    dwell: the median over its pixels of how many frames in a row they have been foreground,
    capped at `dwell_frames` and divided by it]: an object that stays still where the
    training videos show empty ground (a dropped bag) is foreground without motion that
    dwells, which the per-video median background absorbs when it stays for most of the
    video. One camera view per extractor (the pipeline fits one per view: `Dataset.view_of`).
    A frame without regions is one whole-frame object.
    `region_background`: what the regions' foreground is found against: "video" (default) the
    per-video median above, which looks at frames from the whole video (so it needs the
    video's end: offline only), or "scene": the scene background learnt from the training
    videos (`with_scene`, the image the static stream uses), which every frame has from the
    start, so features of a frame depend on the frames up to `flow_baseline` after it alone
    and a live stream (`mulde.video.features.online`) gets exactly the offline features.
    `max_height`: frames taller than this many rows are first resized to it (aspect kept,
    `downscale`), in training, offline scoring and live alike, so a model trained this way
    sees one resolution (a speed policy: DIS flow and the regions cost about the pixel
    count); None (default) keeps the frames as they are. Not with detector boxes.
    """

    streams: tuple[str, ...] = ("velocity",)
    regions: RegionMode = RegionMode.GRID
    cell: int = 32
    stride: int = 16
    min_fraction: float = 0.1
    min_area: int = 30
    close_size: tuple[int, int] = (3, 9)
    skip_edges: bool = True
    threshold: float = 20.0
    blur: int = 5
    open_size: int = 3
    background_frames: int = 100
    flow_preset: FlowPreset = FlowPreset.MEDIUM
    flow_baseline: int = 2
    n_bins: int = 8
    motion: str = "magnitude"
    velocity_regions: RegionMode | None = None
    backbone: str = "efficientnet-lite0"
    weights_path: str | None = None
    crop_size: int = 64
    crop_margin: float = 1.2
    crop_min_side: int = 32
    scene_background: str | None = None
    dwell_frames: int = 50
    boxes_dir: str | None = None
    min_box_score: float = 0.0
    detector: str = "ssd-mobilenet-v2"
    detector_weights: str | None = None
    detector_layout: str | None = None
    detector_input_height: int = 600
    detector_score: float = 0.5
    detector_every: int = 1
    detector_carry: str = "hold"
    boxes_cache: str | None = None
    pose_weights: str | None = None
    pose_min_confidence: float = 0.0
    pose_carry_held: bool = False
    motion_boxes: bool = False
    motion_min_box: int = 100
    region_background: str = "video"
    max_height: int | None = None
    # set by `with_scene`, not a setting: the (H, W) of the training videos as stored, named
    # by the refusal of a video of another size (`read_scene_background`); None: unknown
    trained_shape: tuple[int, int] | None = field(default=None, init=False, compare=False,
                                                  repr=False)
    name: str = field(default="objects", init=False)
    version: str = field(default="2", init=False)  # 2: settings grouped per stage and stream

    def __post_init__(self) -> None:
        streams = self.streams  # one stream by name (e.g. from --set streams=static) or several
        streams = (streams,) if isinstance(streams, str) else tuple(streams)
        try:
            streams = tuple(Stream(s) for s in streams)
        except ValueError:
            streams = ()
        if not streams or not set(streams) <= set(STREAMS):
            raise ValueError(f"streams must be a non-empty subset of "
                             f"{tuple(s.value for s in STREAMS)}, got {self.streams}")
        object.__setattr__(self, "streams", streams)
        object.__setattr__(self, "regions", RegionMode(self.regions))
        if self.velocity_regions is not None:  # 'grid' or 'components' only
            object.__setattr__(self, "velocity_regions",
                               VelocityStream(regions=self.velocity_regions).regions)
        object.__setattr__(self, "flow_preset", FlowPreset(self.flow_preset))
        object.__setattr__(self, "close_size", tuple(self.close_size))
        if self.max_height is not None and (isinstance(self.max_height, bool)
                                            or not isinstance(self.max_height, int)
                                            or self.max_height < 16):
            raise ValueError(f"max_height must be None or a number of rows >= 16, got "
                             f"{self.max_height!r}")
        if self.max_height is not None and self.regions in (RegionMode.BOXES,
                                                            RegionMode.DETECTOR):
            raise ValueError("max_height does not combine with detector boxes (regions "
                             f"{self.regions.value!r}), which are in the source's pixels")
        if self.region_background not in REGION_BACKGROUNDS:
            raise ValueError(f"region_background must be one of {', '.join(REGION_BACKGROUNDS)}"
                             f", got {self.region_background!r}")
        for make in self._stream_makers().values():
            make()  # each stream checks its own settings (motion, backbone)
        if self.regions is RegionMode.BOXES and not (self.boxes_dir and
                                                     Path(self.boxes_dir).is_dir()):
            raise DetectionsError(f"regions='boxes' needs boxes_dir, a folder of detections "
                                  f"files (mulde.video.features.detections); got "
                                  f"{self.boxes_dir!r}")
        if Stream.POSE in streams and self.regions is not RegionMode.DETECTOR:
            raise ValueError("the pose stream needs regions='detector' (person boxes)")
        if Stream.CLASS in streams and self.regions not in (RegionMode.DETECTOR,
                                                            RegionMode.BOXES):
            raise ValueError("the class stream needs detector boxes (regions='detector' or "
                             "'boxes'): other regions have no class")
        if self.regions is RegionMode.DETECTOR:
            self.detection_settings()  # checks the policy's values
        if self.motion_boxes and self.regions not in (RegionMode.DETECTOR, RegionMode.BOXES):
            raise ValueError("motion_boxes adds foreground outside the detector boxes: it "
                             "needs regions='detector' or 'boxes'")
        if isinstance(self.motion_min_box, bool) or not isinstance(self.motion_min_box, int) \
                or self.motion_min_box < 0:
            raise ValueError(f"motion_min_box must be a whole number of pixels >= 0, got "
                             f"{self.motion_min_box!r}")

    def _stream_makers(self) -> dict[Stream, Any]:
        return {
            Stream.VELOCITY: lambda: VelocityStream(self.n_bins, self.motion,
                                                    self.velocity_regions),
            Stream.GEOMETRY: GeometryStream,
            Stream.APPEARANCE: lambda: AppearanceStream(
                self.backbone, self.weights_path, self.crop_size, self.crop_margin,
                self.crop_min_side),
            Stream.POSE: lambda: PoseStream(self.pose_weights,
                                            min_confidence=self.pose_min_confidence,
                                            carry_every=self._pose_carry_every()),
            Stream.CLASS: ClassStream,
            Stream.STATIC: lambda: StaticStream(self.scene_background, self.threshold,
                                                self.blur, self.open_size, self.cell,
                                                self.dwell_frames),
        }

    def _pose_carry_every(self) -> int:
        """The pose stream's `carry_every`: the detector's `every` with `pose_carry_held` and
        held boxes; 1 (MoveNet on every frame) otherwise: boxes moved by the flow
        (`detector_carry="flow"`) are never the boxes MoveNet saw on the frame before."""
        if self.pose_carry_held and self.detector_carry == "hold":
            return self.detector_every
        return 1

    def _scene_path(self) -> str:
        if self.scene_background is None:
            raise ValueError("region_background='scene' needs scene_background (an image of "
                             "the empty scene); with_scene(training_videos, folder) makes one")
        return self.scene_background

    def detection_settings(self) -> Any:
        """The `DetectionSettings` of `regions="detector"`."""
        from mulde.video.detection import DetectionSettings

        return DetectionSettings(input_height=self.detector_input_height,
                                 score_threshold=self.detector_score, every=self.detector_every,
                                 carry=self.detector_carry)

    def build_detector(self) -> Any:
        """The detector of `regions="detector"` (built once per process and settings)."""
        return _detector(self.detector, self.detection_settings(), self.detector_weights,
                         self.detector_layout)

    def stream_objects(self) -> list[Any]:
        """Return fresh stream objects (`mulde.video.features.streams`) of `streams`."""
        makers = self._stream_makers()
        return [makers[s]() for s in self.streams]

    @property
    def params(self) -> dict[str, Any]:
        """The settings (JSON-ready) that decide the features, recorded in the cache: the
        regions', the flow's (when a stream uses it) and each stream's own share."""
        regions: dict[str, Any] = {
            "mode": self.regions.value, "cell": self.cell, "stride": self.stride,
            "min_fraction": self.min_fraction, "min_area": self.min_area,
            "close_size": list(self.close_size), "skip_edges": self.skip_edges,
            "threshold": self.threshold, "blur": self.blur, "open_size": self.open_size,
            "background_frames": self.background_frames}
        if self.max_height is not None:  # absent by default: the cache keys stay
            regions["max_height"] = self.max_height
        if self.region_background == "scene":  # absent by default: the cache keys stay
            regions |= {"background": "scene", "scene_background_sha256": (
                None if self.scene_background is None else file_sha256(self.scene_background))}
        if self.regions is RegionMode.BOXES:  # the detections' content, not the folder's path
            regions |= {"boxes_sha256": boxes_fingerprint(self.boxes_dir),
                        "min_box_score": self.min_box_score}
        if self.regions is RegionMode.DETECTOR:  # the model file's content and the policy
            detector = self.build_detector()
            regions |= {"detector": detector.name, "detector_sha256": detector.sha256,
                        "detection": detector.settings.key()}
        if self.motion_boxes:  # absent when off: the cache keys stay
            regions |= {"motion_boxes": True, "motion_min_box": self.motion_min_box}
        streams = self.stream_objects()
        p: dict[str, Any] = {"streams": [s.value for s in self.streams], "regions": regions}
        if any(s.needs_flow for s in streams):
            p["flow"] = {"preset": self.flow_preset.value, "baseline": self.flow_baseline}
        return p | {s.stream.value: s.key() for s in streams}

    @property
    def needs_scene(self) -> bool:
        """Whether `with_scene` must run first: the static stream is on and has no scene, or
        a detector runs and its box cache has no folder yet."""
        return (((Stream.STATIC in self.streams or self.region_background == "scene")
                 and self.scene_background is None)
                or (self.regions is RegionMode.DETECTOR and self.boxes_cache is None))

    def with_scene(self, videos: Sequence[FrameSource], folder: str | Path
                   ) -> ObjectCentricExtractor:
        """Return the extractor with `scene_background` set: the median of up to
        `background_frames` frames spread evenly over `videos` (the training videos), saved
        as folder/scene_background.<key>.png. For `Video`s the key hashes their names, source
        checksums and `background_frames`, so a later run over the same videos reuses the
        file instead of decoding them again; for in-memory frames it hashes the image.
        Unchanged when the static stream is off or a background is already set. With
        `regions="detector"`, `boxes_cache` (when unset) becomes folder/boxes. For `Video`s,
        `trained_shape` becomes the (H, W) of the first one whose frames give the background's
        size (`_fitted`), so that the refusal of a video of another size names it, as
        `mulde watch` names a trained model's."""
        if self.regions is RegionMode.DETECTOR and self.boxes_cache is None:
            self = replace(self, boxes_cache=str(Path(folder) / "boxes"))
        if self.scene_background is not None or ("static" not in self.streams
                                                 and self.region_background != "scene"):
            return self
        videos = list(videos)
        key = None
        if videos and all(isinstance(v, Video) for v in videos):
            size = [] if self.max_height is None else [{"max_height": self.max_height}]
            key = _sha256_text([self.background_frames, *size, *(
                (v.name, source_checksum(v.path)) for v in videos)])
            path = Path(folder) / f"scene_background.{key[:12]}.png"
            if path.exists():
                if cv2.imread(str(path), cv2.IMREAD_GRAYSCALE) is not None:
                    return self._fitted(path, videos)
                # the median of the same frames, learnt again, is the same image byte for
                # byte, so the feature entries keyed by it are found again
                warnings.warn(DamagedCacheEntryWarning(
                    f"{path}: a damaged scene background in the cache (no readable image); "
                    "learnt again from the training videos"), stacklevel=2)
        background = scene_background_of(videos, self.background_frames, self.max_height)
        png = cv2.imencode(".png", background)[1].tobytes()
        key = key or hashlib.sha256(png).hexdigest()
        path = Path(folder) / f"scene_background.{key[:12]}.png"
        if not path.exists() or path.read_bytes() != png:
            from mulde.io.atomic import write_bytes

            write_bytes(path, png)
        return self._fitted(path, videos)

    def _fitted(self, path: Path, videos: Sequence[FrameSource]) -> ObjectCentricExtractor:
        """The extractor with the scene background at `path`, learnt from `videos`, and the
        `trained_shape` of the first `Video` among them that gives the background's size
        (once downscaled to `max_height`; one that cannot be probed is passed over)."""
        fitted = replace(self, scene_background=str(path))
        image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        for video in videos if image is not None else ():
            if not isinstance(video, Video):
                break
            try:
                info = probe(video.path)
            except VideoReadError:
                continue
            size = downscaled_size(info.width, info.height, self.max_height)
            if size == (image.shape[1], image.shape[0]):
                object.__setattr__(fitted, "trained_shape", (info.height, info.width))
                break
        return fitted

    def foreground(self, gray: np.ndarray, background: np.ndarray) -> np.ndarray:
        """The frame's boolean foreground mask against `background` with the extractor's
        `threshold`, `blur` and `open_size` (`foreground_mask`)."""
        return foreground_mask(gray, background, self.threshold, self.blur, self.open_size)

    def find_regions(self, gray: np.ndarray, background: np.ndarray,
                     mode: RegionMode | None = None, boxes: np.ndarray | None = None,
                     labels: np.ndarray | None = None, scores: np.ndarray | None = None
                     ) -> list[Region]:
        """Return the frame's regions against `background` (the whole frame when none), by
        `mode` (default: `regions`; the boxes modes take the frame's detector `boxes`, their
        class `labels` and `scores`)."""
        return self.mask_regions(self.foreground(gray, background), mode, boxes, labels, scores)

    def mask_regions(self, mask: np.ndarray, mode: RegionMode | None = None,
                     boxes: np.ndarray | None = None, labels: np.ndarray | None = None,
                     scores: np.ndarray | None = None) -> list[Region]:
        """Return the regions of a foreground mask (the whole frame when none)."""
        mode = mode or self.regions
        if mode is RegionMode.GRID:
            regions = grid_regions(mask, self.cell, self.stride, self.min_fraction)
        elif mode in (RegionMode.BOXES, RegionMode.DETECTOR):
            if boxes is None:
                raise ValueError("the boxes region mode needs the frame's detector boxes")
            regions = box_regions(mask, boxes, labels, scores)
            if self.motion_boxes:
                regions += motion_regions(mask, boxes, self.min_area, self.close_size,
                                          self.motion_min_box)
        else:
            regions = component_regions(mask, self.min_area, self.close_size)
        if self.skip_edges:
            height, width = mask.shape
            regions = [r for r in regions if r.box[0] > 0 and r.box[1] > 0
                       and r.box[2] < width and r.box[3] < height]
        return regions or [whole_frame_region(*mask.shape)]

    def extract(self, source: FrameSource,
                timings: dict[str, float] | None = None) -> VideoFeatures:
        """Return the `VideoFeatures` (one `ObjectFeatures` per stream) of a `Video` or an
        iterable of RGB frames.

        All frames are held in memory as grayscale (1 byte per pixel; RGB as well when the
        appearance stream is on); the flow one frame at a time. `timings`, when given,
        accumulates seconds per stage (decode, regions, flow, and each stream by name).
        """
        t = timings if timings is not None else {}
        clock = time.perf_counter()
        streams = self.stream_objects()
        keep_rgb = any(s.needs_rgb for s in streams) or self.regions is RegionMode.DETECTOR
        rgbs, grays = [], []
        source_shape = None  # the first frame's own size, for an error naming it
        for frame in iter_source(source):
            source_shape = source_shape or frame.shape[:2]
            grays.append(downscale(to_gray(frame), self.max_height))
            if keep_rgb:
                rgbs.append(downscale(frame, self.max_height))
        n = len(grays)
        if n == 0:
            raise ValueError("the video has no frames")
        clock = _lap(t, "decode", clock)
        background = (read_scene_background(self._scene_path(), grays[0].shape,
                                            str(getattr(source, "path", "the video")),
                                            source_shape=source_shape,
                                            trained_shape=self.trained_shape,
                                            max_height=self.max_height)
                      if self.region_background == "scene"
                      else median_background(grays, self.background_frames))
        detected: list[np.ndarray | None] = [None] * n
        labels: list[np.ndarray | None] = [None] * n
        scores: list[np.ndarray | None] = [None] * n
        if self.regions is RegionMode.BOXES:
            if not isinstance(source, Video):
                raise ValueError("regions='boxes' needs a Video: its path names the "
                                 "detections file")
            found = read_detections(boxes_file(self.boxes_dir, source.path), n,
                                    grays[0].shape[1], grays[0].shape[0], self.min_box_score)
            detected, labels = [d.boxes for d in found], [d.classes for d in found]
            scores = [d.scores for d in found]
        elif self.regions is RegionMode.DETECTOR:
            found = self._detect(source, rgbs)
            detected, labels = [d.boxes for d in found], [d.classes for d in found]
            scores = [d.scores for d in found]
            clock = _lap(t, "detection", clock)
        masks = [self.foreground(g, background) for g in grays]
        per_frame = [self.mask_regions(m, boxes=b, labels=c, scores=p)
                     for m, b, c, p in zip(masks, detected, labels, scores, strict=True)]
        own = self.velocity_regions is not None and Stream.VELOCITY in self.streams
        clip = Clip(grays, rgbs, per_frame, self.mask_regions,
                    str(source.path) if isinstance(source, Video) else "the video",
                    masks if self.region_background == "scene" else None,
                    masks if own else None, source_shape, self.max_height,
                    self.trained_shape)
        del masks  # kept by the clip only when the static stream can reuse them
        clock = _lap(t, "regions", clock)
        for s in streams:
            s.start(clip)
            clock = _lap(t, s.stream.value, clock)
        flowing = [s for s in streams if s.needs_flow]
        if flowing:
            for i, flow in enumerate(centred_flows(grays, self.flow_baseline, self.flow_preset)):
                clock = _lap(t, "flow", clock)
                for s in flowing:
                    s.frame(i, flow)
                    clock = _lap(t, s.stream.value, clock)
        out = {}
        for s in streams:
            out[s.stream] = s.finish()
            clock = _lap(t, s.stream.value, clock)
        return VideoFeatures.of(out)

    def cached_detections(self, video: Video) -> list[Any] | None:
        """The `FrameDetections` of a video from the box cache (regions="detector"), or None
        when there is no cache entry (for the report's snapshots: no detector is run)."""
        if self.regions is not RegionMode.DETECTOR or not self.boxes_cache:
            return None
        from mulde.video.detection.cache import cache_file
        from mulde.video.features.detections import read_detections

        path = cache_file(self.boxes_cache, self.build_detector(), video.name,
                          source_checksum(video.path))
        if not path.is_file():
            return None
        first = next(iter_source(video))
        return read_detections(path, video.n_frames, first.shape[1], first.shape[0])

    def _detect(self, source: FrameSource, rgbs: list[np.ndarray]) -> list[Any]:
        """The video's detections, from the box cache when `boxes_cache` is set."""
        from mulde.video.detection.cache import cache_file, cached_detections

        detector = self.build_detector()
        path = (cache_file(self.boxes_cache, detector, source.name, source_checksum(source.path))
                if self.boxes_cache and isinstance(source, Video) else None)
        return cached_detections(detector, rgbs, path)


@functools.lru_cache(maxsize=4)
def _detector(name: str, settings: Any, weights: str | None, layout: str | None) -> Any:
    from mulde.video.detection import build_detector

    return build_detector(name, settings, weights, layout)


def downscaled_size(width: int, height: int, max_height: int | None) -> tuple[int, int]:
    """The (width, height) in pixels that `downscale` gives a frame of that size:
    (round(W * max_height / H), max_height) when it is taller than `max_height`, else its
    own. For checks that compare sizes without decoding a frame."""
    if max_height is None or height <= max_height:
        return width, height
    return max(1, round(width * max_height / height)), int(max_height)


def box_in_frame(box: Sequence[float] | np.ndarray, width: int, height: int,
                 max_height: int | None) -> np.ndarray:
    """Return an object's box (x0, y0, x1, y1), in the pixels of the frame the extractor saw
    (`downscale` to `max_height` rows), in the pixels of the source frame of `width` x
    `height`: shape (4,) float64. The box itself when the frame was not downscaled."""
    out = np.asarray(box, dtype=np.float64).copy()
    small_w, small_h = downscaled_size(width, height, max_height)
    out[[0, 2]] *= width / small_w
    out[[1, 3]] *= height / small_h
    return out


def downscale(frame: np.ndarray, max_height: int | None) -> np.ndarray:
    """Return the frame resized to `max_height` rows (`downscaled_size`, OpenCV's area
    interpolation) when it is taller, else the frame itself."""
    height, width = frame.shape[:2]
    if max_height is None or height <= max_height:
        return frame
    return cv2.resize(frame, downscaled_size(width, height, max_height),
                      interpolation=cv2.INTER_AREA)


class SceneBackgroundWarning(UserWarning):
    """Training videos were left out of the scene background (unreadable, or of another
    size); the pipeline, whose extraction then skips and reports each of them, holds it back
    so that a video is named once."""


def scene_background_of(videos: Iterable[FrameSource], max_frames: int = 100,
                        max_height: int | None = None) -> np.ndarray:
    """Return the uint8 grayscale median of up to `max_frames` frames spread evenly over the
    videos (each video's frames every k-th, k from the videos' total frame count), each
    frame's grayscale `downscale`d to `max_height` first (as `extract` does).

    A video that cannot be read (`VideoReadError`), and videos whose frame size is not the
    one most of the sampled frames have (another camera view or resolution), are left out
    with a `SceneBackgroundWarning` naming them; ValueError when no frame is left. A video
    that fails part-way (a truncated file) is left out as if it were not there: the frames
    are sampled again over the others, so the background is the one they alone give (a
    newcomer's truncated clip, skipped from training, still changed the background's frame
    step and so the model)."""
    videos = list(videos)
    names = [str(v.path) if isinstance(v, Video) else f"video {i}" for i, v in enumerate(videos)]
    skipped: list[str] = []
    counts = []
    for video, name in zip(videos, names, strict=True):
        try:
            # one probe: hasattr would read the property (probing the file) a first time
            n_frames = getattr(video, "n_frames", None)
            counts.append(len(video) if n_frames is None else n_frames)
        except VideoReadError as err:
            counts.append(0)
            skipped.append(_failure(name, err))
    # a probed count of 0 on a `Video`: could not be probed, already named
    kept = [i for i, (video, count) in enumerate(zip(videos, counts, strict=True))
            if count or not isinstance(video, Video)]
    while True:
        sampled, failed = _sampled_grays([videos[i] for i in kept], [names[i] for i in kept],
                                         [counts[i] for i in kept], max_frames, max_height)
        if failed is None:
            break
        skipped.append(failed[1])
        del kept[failed[0]]  # sampled again without it: the others' frames, the others' step
    by_shape: dict[tuple[int, ...], int] = {}
    for _, grays in sampled:
        for g in grays:
            by_shape[g.shape] = by_shape.get(g.shape, 0) + 1
    if by_shape:
        shape = max(by_shape, key=lambda s: by_shape[s])  # ties: the first video's size
        for name, grays in sampled:
            if grays and grays[0].shape != shape:
                skipped.append(f"{name} (frames {grays[0].shape[1]}x{grays[0].shape[0]}, the "
                               f"other training videos {shape[1]}x{shape[0]}: one scene "
                               "background needs one camera view)")
        grays = [g for _, gs in sampled for g in gs if g.shape == shape]
    else:
        grays = []
    if skipped:
        warnings.warn(f"left out of the scene background: {'; '.join(skipped)}",
                      SceneBackgroundWarning, stacklevel=2)
    if not grays:
        raise ValueError("no frames to learn the scene background of the static stream "
                         "from: no readable training video")
    return median_background(grays, len(grays))


def _sampled_grays(videos: list[FrameSource], names: list[str], counts: list[int],
                   max_frames: int, max_height: int | None
                   ) -> tuple[list[tuple[str, list[np.ndarray]]], tuple[int, str] | None]:
    """Every k-th frame over the videos, k = ceil(sum(counts) / max_frames), in grayscale
    downscaled to max_height, per video: ([(name, grays)], None); at the first video that
    fails to decode, (what was sampled, (its place in `videos`, "<name> (<error>)"))."""
    step = max(1, int(np.ceil(sum(counts) / max_frames)))
    sampled: list[tuple[str, list[np.ndarray]]] = []
    seen = 0
    for k, (video, name) in enumerate(zip(videos, names, strict=True)):
        grays = []
        try:
            for frame in iter_source(video):
                if seen % step == 0:
                    grays.append(downscale(to_gray(frame), max_height))
                seen += 1
        except VideoReadError as err:
            return sampled, (k, _failure(name, err))
        sampled.append((name, grays))
    return sampled, None


def _failure(name: str, err: Exception) -> str:
    """"<name> (<error>)", or the error alone when it starts with the name (a
    `VideoReadError` names its file)."""
    return str(err) if str(err).startswith(name) else f"{name} ({err})"


def _sha256_text(items: list) -> str:
    return hashlib.sha256(json.dumps(items).encode()).hexdigest()


def _lap(timings: dict[str, float], stage: str, since: float) -> float:
    now = time.perf_counter()
    timings[stage] = timings.get(stage, 0.0) + now - since
    return now
