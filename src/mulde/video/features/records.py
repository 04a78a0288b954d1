"""The records that flow through the video pipeline: `Stream` (the feature streams by name),
`ObjectFeatures` (one stream of objects over consecutive frames) and `VideoFeatures` (a video's
streams), shared by the extractors, the feature cache, the AI-VAD reader and `mulde.vad`."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum

import numpy as np

from mulde.io.features import FeatureFileError


def covers_whole_frame(boxes: np.ndarray | Sequence[Sequence[float]], height: float,
                       width: float) -> np.ndarray:
    """Return (n,) bool: which of the (x0, y0, x1, y1) boxes (n, 4) cover the whole height x
    width frame, as the whole-frame object does that an object extractor gives a frame
    without foreground regions or detector boxes (`regions.whole_frame_region`)."""
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    return (b[:, 0] <= 0) & (b[:, 1] <= 0) & (b[:, 2] >= width) & (b[:, 3] >= height)


class Stream(str, Enum):
    """A feature stream (AI-VAD / MULDE object-centric streams, and the frame-centric one).

    Members are strings (`Stream.VELOCITY == "velocity"`, also in f-strings and JSON)."""

    VELOCITY = "velocity"  # orientation histogram of the optical-flow magnitude per object
    GEOMETRY = "geometry"  # where the object stands, its size and shape
    APPEARANCE = "appearance"  # an image backbone's embedding of the object's crop
    STATIC = "static"  # still objects against the scene background learned from training
    POSE = "pose"  # 17 body keypoints of each detected person, relative to its box (34-d)
    CLASS = "class"  # the detector's class evidence of each box: its score in its class's slot
    FRAME = "frame"  # one whole-frame object per frame: a window embedding (frame-centric)

    def __str__(self) -> str:
        return self.value


STATIC_FEATURES = ("its area in cells", "its mean flow speed",
                   "its dwell (frames foreground in a row, over the cap)")
"""The static stream's columns, in order (`mulde.video.features.objects`)."""
GEOMETRY_FEATURES = ("the x of its centre (over the frame width)",
                     "the y of its foot point (over the frame height)",
                     "its width (over the frame width)", "its height (over the frame height)",
                     "log(height / width)")
"""The geometry stream's columns, in order (`mulde.video.features.streams.box_geometry`)."""


def feature_label(stream: Stream | str, j: int, n_features: int) -> str | None:
    """What column j (from 0) of a stream's n_features features holds, in words, where the
    stream's columns are fixed: the static stream's three, the geometry stream's five, and the
    velocity stream's orientation bins (`velocity_histogram`: bin b of n centred on b x 360 / n
    degrees, 0 rightwards, 90 downwards; one bin: the speed). None for the others (an
    embedding's components, keypoints, class slots) and for a width the stream does not
    have."""
    stream = Stream(stream)
    if stream is Stream.STATIC and n_features == len(STATIC_FEATURES):
        return STATIC_FEATURES[j]
    if stream is Stream.GEOMETRY and n_features == len(GEOMETRY_FEATURES):
        return GEOMETRY_FEATURES[j]
    if stream is Stream.VELOCITY and n_features == 1:
        return "its flow speed (one bin)"
    if stream is Stream.VELOCITY:
        return (f"its flow towards {j * 360 / n_features:g} degrees (orientation bin {j} of "
                f"{n_features}; 0 rightwards, 90 downwards)")
    return None


@dataclass(frozen=True)
class ObjectFeatures:
    """One feature stream of the objects of consecutive frames.

    `features` (n_objects, d) float32, objects in frame order; `frame_index` (n_objects,)
    int64, the 0-based frame of each object; `n_frames` the frame count, frames without
    objects included; `boxes` (n_objects, 4) float32 (x0, y0, x1, y1) in pixels, x1/y1
    exclusive, or None when the source has none (AI-VAD's files); `source` names where the
    record came from, for errors. The extractors give every frame at least one object (a frame
    without regions is one whole-frame object, as in AI-VAD); files may hold empty frames.
    """

    features: np.ndarray
    frame_index: np.ndarray
    n_frames: int
    boxes: np.ndarray | None = None
    source: str = "features"

    def __post_init__(self) -> None:
        f, idx, b = self.features, self.frame_index, self.boxes
        if f.ndim != 2 or idx.shape != (len(f),) or (b is not None and b.shape != (len(f), 4)):
            raise ValueError(f"{self.source}: need features (n, d), frame_index (n,) and boxes "
                             f"(n, 4) or None; got {f.shape}, {idx.shape}, "
                             f"{None if b is None else b.shape}")
        if len(idx) and (idx.min() < 0 or idx.max() >= self.n_frames):
            raise ValueError(f"{self.source}: frame_index outside [0, {self.n_frames - 1}]")

    @classmethod
    def build(cls, features: Iterable[np.ndarray] | np.ndarray, frame_index: Iterable[int],
              boxes: Iterable[Iterable[float]], n_frames: int, dim: int) -> ObjectFeatures:
        """Return a record from per-object rows (dtype-normalised; `dim` used when empty)."""
        f = np.asarray(list(features) if not isinstance(features, np.ndarray) else features,
                       dtype=np.float32).reshape(-1, dim)
        return cls(f, np.asarray(list(frame_index), dtype=np.int64), int(n_frames),
                   np.asarray(list(boxes), dtype=np.float32).reshape(-1, 4))

    @property
    def n_objects(self) -> int:
        return int(self.features.shape[0])

    @property
    def dim(self) -> int:
        return int(self.features.shape[1])

    def objects_per_frame(self) -> np.ndarray:
        """Return the int64 number of objects of every frame, shape (n_frames,)."""
        return np.bincount(self.frame_index, minlength=self.n_frames).astype(np.int64)

    def empty_frames(self) -> np.ndarray:
        """Return the 0-based indices of the frames without any object."""
        return np.flatnonzero(self.objects_per_frame() == 0)

    def split(self, frame_counts: Sequence[int]) -> list[ObjectFeatures]:
        """Return one record per video, given the videos' frame counts in order (objects in
        frame order). Frame indices of each record are local to its video (0-based); the
        counts must sum to `n_frames`."""
        counts = [int(c) for c in frame_counts]
        if any(c < 1 for c in counts) or sum(counts) != self.n_frames:
            raise FeatureFileError(
                f"{self.source}: video frame counts sum to {sum(counts)} (all must be >= 1), "
                f"but the file holds {self.n_frames} frames"
            )
        starts = np.cumsum([0, *counts])
        cuts = np.searchsorted(self.frame_index, starts)
        return [
            ObjectFeatures(
                self.features[cuts[v] : cuts[v + 1]],
                self.frame_index[cuts[v] : cuts[v + 1]] - starts[v],
                counts[v],
                None if self.boxes is None else self.boxes[cuts[v] : cuts[v + 1]],
                f"{self.source} (video {v + 1})",
            )
            for v in range(len(counts))
        ]

    def as_arrays(self) -> dict[str, np.ndarray]:
        """Return the named arrays of this stream (`features`, `frame_index`, and `boxes` when
        known): what the feature cache stores, read back by `from_arrays`."""
        arrays = {"features": self.features, "frame_index": self.frame_index}
        return arrays if self.boxes is None else {**arrays, "boxes": self.boxes}

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray], n_frames: int,
                    source: str = "features") -> ObjectFeatures:
        """Return the record of `as_arrays` output (raises KeyError / ValueError when an array
        is missing or the shapes disagree)."""
        boxes = arrays.get("boxes")
        return cls(np.asarray(arrays["features"]), np.asarray(arrays["frame_index"]),
                   int(n_frames), None if boxes is None else np.asarray(boxes), source)


@dataclass(frozen=True)
class VideoFeatures(Mapping[Stream, ObjectFeatures]):
    """The features of one video: a mapping stream -> `ObjectFeatures`, all over the video's
    `n_frames` frames. Streams are kept in name order (the order every consumer iterates, so
    that sums over streams are reproducible)."""

    streams: Mapping[Stream, ObjectFeatures]
    n_frames: int

    def __post_init__(self) -> None:
        streams = {Stream(k): v for k, v in sorted(self.streams.items(), key=lambda kv: kv[0])}
        for name, record in streams.items():
            if record.n_frames != self.n_frames:
                raise ValueError(f"stream {name} covers {record.n_frames} frames, the video "
                                 f"{self.n_frames}")
        object.__setattr__(self, "streams", streams)

    @classmethod
    def of(cls, streams: Mapping[Stream | str, ObjectFeatures]) -> VideoFeatures:
        """Return the record of streams of one video (their frame counts must agree)."""
        counts = {s.n_frames for s in streams.values()}
        if len(counts) != 1:
            raise ValueError(f"streams disagree on the frame count: {sorted(counts)}")
        return cls(streams, counts.pop())

    def __getitem__(self, stream: Stream | str) -> ObjectFeatures:
        try:
            return self.streams[Stream(stream)]
        except ValueError:  # not a stream name: not in the mapping
            raise KeyError(stream) from None

    def __iter__(self) -> Iterator[Stream]:
        return iter(self.streams)

    def objectless_frames(self, shape: tuple[int, int] | None = None
                          ) -> dict[Stream, np.ndarray]:
        """Return per stream (n_frames,) bool: the frames without an object of their own in
        that stream, either none at all (they score the stream's fill) or only the
        whole-frame object that stands in for a frame without foreground regions or detector
        boxes (`covers_whole_frame`): an empty scene. The frame-centric `Stream.FRAME`, whose
        every object is the whole frame, and streams without boxes count frames without any
        object only. `shape`: the (height, width) of the frames the boxes are in (the
        extractor's, after its `max_height` downscale); None: the largest box corner over
        every stream of the video, which is that size wherever a frame is empty, as a box
        never leaves its frame (use it on a whole video: a few frames may lack an empty one
        and hold a lone object that reaches from the corner to every other box's edge)."""
        if shape is None:
            corners = [r.boxes[:, 2:].max(axis=0) for r in self.streams.values()
                       if r.boxes is not None and len(r.boxes)]
            far = np.max(corners, axis=0) if corners else None
            shape = None if far is None else (float(far[1]), float(far[0]))
        out = {}
        for stream, record in self.streams.items():
            idx = record.frame_index.astype(np.intp)
            if stream is not Stream.FRAME and record.boxes is not None and shape is not None:
                idx = idx[~covers_whole_frame(record.boxes, *shape)]  # the frames' own
            out[stream] = np.bincount(idx, minlength=self.n_frames) == 0
        return out

    def __len__(self) -> int:
        return len(self.streams)


def frames_with_objects(videos: Iterable[VideoFeatures]) -> dict[str, int]:
    """Per stream name: the frames of `videos` that hold an object of their own in that
    stream (those `VideoFeatures.objectless_frames` leaves out), summed over the videos; of
    the training videos, the frames `mulde.vad.fusion.warn_below_calibration` compares new
    frames with objects with."""
    counts: dict[str, int] = {}
    for video in videos:
        for stream, holes in video.objectless_frames().items():
            counts[stream.value] = counts.get(stream.value, 0) + int(np.count_nonzero(~holes))
    return counts
