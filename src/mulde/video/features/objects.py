"""Object-centric features (AI-VAD style, METHOD.md): per foreground region, a velocity histogram
of the optical flow, box geometry and an appearance embedding of the crop; and, against a
background of the scene learned from the training videos, what lies still where it should not."""

from __future__ import annotations

import hashlib
import json
import time
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from mulde.video.cache import VideoFeatures, file_sha256, source_checksum
from mulde.video.features.appearance import check_backbone
from mulde.video.features.base import (
    FrameSource,
    ObjectFeatures,
    iter_source,
    to_gray,
    to_video_features,
)
from mulde.video.features.detections import (
    DetectionsError,
    boxes_file,
    boxes_fingerprint,
    read_boxes,
)
from mulde.video.features.flow import FlowPreset, centred_flows
from mulde.video.features.regions import (
    Region,
    RegionMode,
    box_regions,
    component_regions,
    foreground_mask,
    grid_regions,
    is_whole_frame,
    median_background,
    whole_frame_region,
)
from mulde.video.source import Video, VideoMismatchError, VideoReadError

STREAMS = ("velocity", "geometry", "appearance", "static")
GEOMETRY_DIM = 5
STATIC_DIM = 3


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
    mag = np.hypot(flow[:, 0], flow[:, 1])
    width = 2 * np.pi / n_bins
    angle = np.mod(np.arctan2(flow[:, 1], flow[:, 0]) + width / 2, 2 * np.pi)
    bins = np.minimum((angle / width).astype(np.int64), n_bins - 1)
    return (np.bincount(bins, weights=mag, minlength=n_bins) / len(flow)).astype(np.float32)


def translation_histogram(flow: np.ndarray, n_bins: int = 8) -> np.ndarray:
    """Return `velocity_histogram` of the region's mean flow vector: its translation speed in
    the bin of its direction, zeros elsewhere. Flow noise and limbs swinging back and forth
    cancel in the mean, where they add up in the mean of the magnitudes."""
    flow = np.asarray(flow, dtype=np.float64).reshape(-1, 2)
    return velocity_histogram(flow.mean(axis=0, keepdims=True) if len(flow) else flow, n_bins)


# how the velocity stream summarises a region's flow
MOTIONS = {"magnitude": velocity_histogram, "translation": translation_histogram}


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


@dataclass(frozen=True)
class ObjectCentricExtractor:
    """Foreground regions -> per-object velocity / geometry / appearance streams.

    Background: per-video median of at most `background_frames` frames (offline, static
    camera). Foreground: |frame - background| > `threshold` after a `blur` Gaussian, opened
    with `open_size`. Regions: a grid of `cell` px cells every `stride` px holding at least
    `min_fraction` foreground (default), connected components (`min_area`, `close_size`), or
    the boxes of an external detector (`regions="boxes"`: one CSV per video under
    `boxes_dir`, see `detections`; boxes scoring below `min_box_score` dropped);
    `skip_edges` (default) drops regions whose box touches a frame edge: the flow of an object
    entering or leaving the view is unreliable (on Ped2's training videos such cells are 5 %
    of the moving cells but hold the frame maximum in 46 % of the top 1 % of frames; on the
    demo scene's, 5 % and all of the top 1 %).
    Flow: DIS `flow_preset` over a window of +-`flow_baseline` frames centred on each frame.
    velocity: `velocity_histogram` (`n_bins`) over the region's foreground pixels
    (`motion="magnitude"`), or `translation_histogram`, the speed of their mean flow vector
    (`motion="translation"`);
    geometry: `box_geometry`; appearance: `backbone` embedding of a square crop
    (`crop_size`, `crop_margin`, `crop_min_side`), weights from `weights_path` if given.
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
    backbone: str = "efficientnet-lite0"
    weights_path: str | None = None
    crop_size: int = 64
    crop_margin: float = 1.2
    crop_min_side: int = 32
    scene_background: str | None = None
    dwell_frames: int = 50
    boxes_dir: str | None = None
    min_box_score: float = 0.0
    name: str = field(default="objects", init=False)
    version: str = field(default="1", init=False)

    def __post_init__(self) -> None:
        streams = self.streams  # one stream by name (e.g. from --set streams=static) or several
        object.__setattr__(self, "streams",
                           (streams,) if isinstance(streams, str) else tuple(streams))
        unknown = set(self.streams) - set(STREAMS)
        if unknown or not self.streams:
            raise ValueError(f"streams must be a non-empty subset of {STREAMS}, got "
                             f"{self.streams}")
        object.__setattr__(self, "regions", RegionMode(self.regions))
        object.__setattr__(self, "flow_preset", FlowPreset(self.flow_preset))
        object.__setattr__(self, "close_size", tuple(self.close_size))
        check_backbone(self.backbone)
        if self.motion not in MOTIONS:
            raise ValueError(f"motion must be one of {sorted(MOTIONS)}, got {self.motion!r}")
        if self.regions is RegionMode.BOXES and not (self.boxes_dir and
                                                     Path(self.boxes_dir).is_dir()):
            raise DetectionsError(f"regions='boxes' needs boxes_dir, a folder of detections "
                                  f"files (mulde.video.features.detections); got "
                                  f"{self.boxes_dir!r}")

    @property
    def params(self) -> dict[str, Any]:
        """The parameters (JSON-ready) that decide the features; recorded in the cache."""
        p = asdict(self)
        p.pop("name"), p.pop("version")
        p["regions"], p["flow_preset"] = self.regions.value, self.flow_preset.value
        p["streams"], p["close_size"] = list(self.streams), list(self.close_size)
        if "appearance" not in self.streams:
            for k in ("backbone", "weights_path", "crop_size", "crop_margin", "crop_min_side"):
                p.pop(k)
        if "velocity" not in self.streams:
            p.pop("n_bins"), p.pop("motion")
        elif self.motion == "magnitude":  # absent then: older cache keys still hold
            p.pop("motion")
        if not self.skip_edges:  # absent when off: cache keys from before the option still hold
            p.pop("skip_edges")
        p.pop("scene_background")
        if self.regions is not RegionMode.BOXES:  # absent then: older cache keys still hold
            p.pop("boxes_dir"), p.pop("min_box_score")
        else:  # the detections' content decides the features, not the folder's path
            p["boxes_sha256"] = boxes_fingerprint(p.pop("boxes_dir"))
        if "static" not in self.streams:
            p.pop("dwell_frames")
        else:  # the image's content decides the features, not its path
            p["scene_background_sha256"] = (None if self.scene_background is None else
                                            _sha256(self.scene_background))
        return p

    def with_scene(self, videos: Sequence[FrameSource], folder: str | Path
                   ) -> ObjectCentricExtractor:
        """Return the extractor with `scene_background` set: the median of up to
        `background_frames` frames spread evenly over `videos` (the training videos), saved
        as folder/scene_background.<key>.png. For `Video`s the key hashes their names, source
        checksums and `background_frames`, so a later run over the same videos reuses the
        file instead of decoding them again; for in-memory frames it hashes the image.
        Unchanged when the static stream is off or a background is already set."""
        if "static" not in self.streams or self.scene_background is not None:
            return self
        videos = list(videos)
        key = None
        if videos and all(isinstance(v, Video) for v in videos):
            key = _sha256_text([self.background_frames, *((v.name, source_checksum(v.path))
                                                          for v in videos)])
            path = Path(folder) / f"scene_background.{key[:12]}.png"
            if path.exists():
                return replace(self, scene_background=str(path))
        background = scene_background_of(videos, self.background_frames)
        png = cv2.imencode(".png", background)[1].tobytes()
        key = key or hashlib.sha256(png).hexdigest()
        path = Path(folder) / f"scene_background.{key[:12]}.png"
        if not path.exists():
            from mulde.atomic import write_bytes

            write_bytes(path, png)
        return replace(self, scene_background=str(path))

    def _scene(self, shape: tuple[int, ...], source: FrameSource | None = None) -> np.ndarray:
        if self.scene_background is None:
            raise ValueError("the static stream needs scene_background (an image of the empty "
                             "scene); with_scene(training_videos, folder) makes one")
        image = cv2.imread(self.scene_background, cv2.IMREAD_GRAYSCALE)
        if image is None:
            raise ValueError(f"{self.scene_background}: cannot read the scene background")
        if image.shape != shape:
            what = source.path if isinstance(source, Video) else "the video"
            raise VideoMismatchError(
                f"{what}: frames are {shape[1]}x{shape[0]} but the scene background learned "
                f"from the training videos ({self.scene_background}) is "
                f"{image.shape[1]}x{image.shape[0]}: another camera view or resolution, so the "
                "static stream cannot describe it (put each camera view in its own dataset "
                f"folder, or re-encode the video at {image.shape[1]}x{image.shape[0]})")
        return image

    def find_regions(self, gray: np.ndarray, background: np.ndarray,
                     mode: RegionMode | None = None, boxes: np.ndarray | None = None
                     ) -> list[Region]:
        """Return the frame's regions against `background` (the whole frame when none), by
        `mode` (default: `regions`; the boxes mode takes the frame's detector `boxes`)."""
        mask = foreground_mask(gray, background, self.threshold, self.blur, self.open_size)
        return self.mask_regions(mask, mode, boxes)

    def mask_regions(self, mask: np.ndarray, mode: RegionMode | None = None,
                     boxes: np.ndarray | None = None) -> list[Region]:
        """Return the regions of a foreground mask (the whole frame when none)."""
        mode = mode or self.regions
        if mode is RegionMode.GRID:
            regions = grid_regions(mask, self.cell, self.stride, self.min_fraction)
        elif mode is RegionMode.BOXES:
            if boxes is None:
                raise ValueError("the boxes region mode needs the frame's detector boxes")
            regions = box_regions(mask, boxes)
        else:
            regions = component_regions(mask, self.min_area, self.close_size)
        if self.skip_edges:
            height, width = mask.shape
            regions = [r for r in regions if r.box[0] > 0 and r.box[1] > 0
                       and r.box[2] < width and r.box[3] < height]
        return regions or [whole_frame_region(*mask.shape)]

    def extract(self, video: FrameSource) -> VideoFeatures:
        """Return the video's streams as the feature cache's `VideoFeatures`."""
        return to_video_features(self.extract_objects(video))

    def extract_objects(self, source: FrameSource,
                        timings: dict[str, float] | None = None) -> dict[str, ObjectFeatures]:
        """Return {stream: ObjectFeatures} of a `Video` or an iterable of RGB frames.

        All frames are held in memory as grayscale (1 byte per pixel; RGB as well when the
        appearance stream is on). `timings`, when given, accumulates seconds per stage
        (decode, regions, flow, velocity, appearance).
        """
        t = timings if timings is not None else {}
        clock = time.perf_counter()
        keep_rgb = "appearance" in self.streams
        rgbs, grays = [], []
        for frame in iter_source(source):
            grays.append(to_gray(frame))
            if keep_rgb:
                rgbs.append(frame)
        n = len(grays)
        if n == 0:
            raise ValueError("the video has no frames")
        clock = _lap(t, "decode", clock)
        background = median_background(grays, self.background_frames)
        detected: list[np.ndarray | None] = [None] * n
        if self.regions is RegionMode.BOXES:
            if not isinstance(source, Video):
                raise ValueError("regions='boxes' needs a Video: its path names the "
                                 "detections file")
            detected = read_boxes(boxes_file(self.boxes_dir, source.path), n,
                                  grays[0].shape[1], grays[0].shape[0], self.min_box_score)
        per_frame = [self.find_regions(g, background, boxes=b) for g, b in zip(grays, detected,
                                                                               strict=True)]
        clock = _lap(t, "regions", clock)
        frame_index = np.concatenate([np.full(len(r), i) for i, r in enumerate(per_frame)])
        boxes = np.array([r.box for rs in per_frame for r in rs], np.float32)
        out: dict[str, ObjectFeatures] = {}
        height, width = grays[0].shape
        static = "static" in self.streams
        if static:
            scene = self._scene(grays[0].shape, source)
            still, dwell = [], []
            run = np.zeros(grays[0].shape, np.int32)  # frames in a row each pixel was foreground
            for g in grays:
                fg = foreground_mask(g, scene, self.threshold, self.blur, self.open_size)
                run = np.where(fg, np.minimum(run + 1, self.dwell_frames), 0)
                # connected components: a small still object need not fill a tenth of a cell
                regions = self.mask_regions(fg, RegionMode.COMPONENTS)
                still.append(regions)
                dwell.append([float(np.median(run[r.box[1]:r.box[3], r.box[0]:r.box[2]][r.mask]))
                              / self.dwell_frames for r in regions])
            clock = _lap(t, "regions", clock)
        if "velocity" in self.streams or static:
            rows, still_rows = [], []
            flows = centred_flows(grays, self.flow_baseline, self.flow_preset)
            for i, flow in enumerate(flows):
                clock = _lap(t, "flow", clock)
                if "velocity" in self.streams:
                    for r in per_frame[i]:
                        x0, y0, x1, y1 = r.box
                        rows.append(MOTIONS[self.motion](flow[y0:y1, x0:x1][r.mask], self.n_bins))
                    clock = _lap(t, "velocity", clock)
                if static:
                    for r, d in zip(still[i], dwell[i], strict=True):
                        x0, y0, x1, y1 = r.box
                        speed = velocity_histogram(flow[y0:y1, x0:x1][r.mask], 1)[0]
                        whole = is_whole_frame(r.box, *flow.shape[:2])
                        still_rows.append((0.0, speed, 0.0) if whole else
                                          (r.mask.sum() / self.cell ** 2, speed, d))
                    clock = _lap(t, "static", clock)
            if "velocity" in self.streams:
                out["velocity"] = ObjectFeatures.build(np.array(rows), frame_index, boxes, n,
                                                       self.n_bins)
            if static:
                out["static"] = ObjectFeatures.build(
                    np.array(still_rows), np.concatenate([np.full(len(r), i)
                                                          for i, r in enumerate(still)]),
                    [r.box for rs in still for r in rs], n, STATIC_DIM)
        if "geometry" in self.streams:
            out["geometry"] = ObjectFeatures.build(box_geometry(boxes, width, height),
                                                   frame_index, boxes, n, GEOMETRY_DIM)
            clock = _lap(t, "geometry", clock)
        if "appearance" in self.streams:
            from mulde.video.features.appearance import load_backbone

            backbone = load_backbone(self.backbone, self.weights_path)
            squares = square_crop_boxes(boxes, self.crop_margin, self.crop_min_side)
            crops = np.concatenate([crop_boxes(rgbs[i], squares[frame_index == i],
                                               self.crop_size) for i in range(n)])
            out["appearance"] = ObjectFeatures.build(backbone.embed(crops), frame_index, boxes,
                                                     n, backbone.dim)
            clock = _lap(t, "appearance", clock)
        return out


PRESETS: dict[str, ObjectCentricExtractor] = {
    # 8-bin velocity histograms on grid regions (AI-VAD's histogram for scenes where the
    # direction of motion matters) and still objects against the training scene of each
    # camera view; add "geometry"/"appearance" to `streams` to try them
    "default": ObjectCentricExtractor(streams=("velocity", "static")),
    # the velocity stream alone: for datasets that do not name the camera of each video
    # (UBnormal, UCF-Crime), where no scene background can serve the static stream
    "velocity": ObjectCentricExtractor(),
    # the recommended UCSD Ped2 configuration: speed (1 bin, AI-VAD's Ped2 setting) on grid
    # regions away from the frame edges; benchmarks/ped2_features_ablation.py has the ablation
    # and docs/results.md how each choice was made
    "ped2": ObjectCentricExtractor(streams=("velocity",), n_bins=1),
}


def scene_background_of(videos: Iterable[FrameSource], max_frames: int = 100) -> np.ndarray:
    """Return the uint8 grayscale median of up to `max_frames` frames spread evenly over the
    videos (each video's frames every k-th, k from the videos' total frame count).

    A video that cannot be read (`VideoReadError`), and videos whose frame size is not the
    one most of the sampled frames have (another camera view or resolution), are left out
    with a `UserWarning` naming them; `DatasetError` (a ValueError) when no frame is left."""
    videos = list(videos)
    names = [str(v.path) if isinstance(v, Video) else f"video {i}" for i, v in enumerate(videos)]
    skipped: list[str] = []
    counts = []
    for video, name in zip(videos, names, strict=True):
        try:
            counts.append(video.n_frames if hasattr(video, "n_frames") else len(video))
        except VideoReadError as err:
            counts.append(0)
            skipped.append(f"{name} ({err})")
    step = max(1, int(np.ceil(sum(counts) / max_frames)))
    sampled: list[tuple[str, list[np.ndarray]]] = []
    seen = 0
    for video, name, count in zip(videos, names, counts, strict=True):
        if count == 0 and isinstance(video, Video):
            continue  # could not be probed: already named
        grays = []
        try:
            for frame in iter_source(video):
                if seen % step == 0:
                    grays.append(to_gray(frame))
                seen += 1
        except VideoReadError as err:
            skipped.append(f"{name} ({err})")
            continue
        sampled.append((name, grays))
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
        warnings.warn(f"left out of the scene background: {'; '.join(skipped)}", stacklevel=2)
    if not grays:
        from mulde.datasets.common import DatasetError

        raise DatasetError("no frames to learn the scene background of the static stream "
                           "from: no readable training video")
    return median_background(grays, len(grays))


def _sha256_text(items: list) -> str:
    return hashlib.sha256(json.dumps(items).encode()).hexdigest()


def _sha256(path: str) -> str:
    """SHA-256 of the scene background file (`file_sha256`: the cache key asks for it once
    per video)."""
    try:
        return file_sha256(path)
    except OSError as err:
        raise ValueError(f"{path}: cannot read the scene background ({err})") from err


def _lap(timings: dict[str, float], stage: str, since: float) -> float:
    now = time.perf_counter()
    timings[stage] = timings.get(stage, 0.0) + now - since
    return now
