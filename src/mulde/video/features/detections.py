"""Object boxes from any external detector, one CSV file per video.

Run a detector (YOLO, Mask R-CNN, ...) wherever it runs and write, for each video, a CSV with
the header `frame,x0,y0,x1,y1` and optionally `score`: one row per detected object, `frame`
the 0-based frame index, the box in pixels with x1/y1 exclusive. The files mirror the
videos' paths under one folder (an optional `class` column holds COCO class ids, as the
box cache of `mulde.video.detection` writes them): the file of a video at `.../Train/Train001` is
`BOXES/Train/Train001.csv` or `BOXES/Train001.csv` (the longest mirrored path that exists
wins), so the training and test videos of a dataset with equal names stay apart.

Coordinates are pixels of the frames as displayed: `mulde.video.decode` applies a video's
display rotation, as OpenCV and players do, so boxes a detector found on OpenCV's frames
land on the same pixels. A box that lies entirely outside the frame is an error naming the
file and the row (the boxes were made on frames of another size or orientation); a box that
reaches more than `EDGE_TOLERANCE` pixels past an edge is clipped to the frame, with one
`BoxesOutsideFrameWarning` per file giving the count and the first row.
"""

from __future__ import annotations

import csv
import hashlib
import math
import warnings
from pathlib import Path

import numpy as np

from mulde.io.hashing import file_sha256
from mulde.video.detection.base import UNKNOWN, FrameDetections

COLUMNS = ("frame", "x0", "y0", "x1", "y1")
EDGE_TOLERANCE = 1.0
"""Pixels a box may reach past a frame edge (detector rounding) before it is reported."""


class DetectionsError(ValueError):
    """A video's detections file is missing or malformed; the message names file, row, field."""


class BoxesOutsideFrameWarning(UserWarning):
    """Boxes of a detections file reach past the frame's edges and were clipped to it."""


def boxes_file(boxes_dir: str | Path, video_path: str | Path) -> Path:
    """Return the detections file of the video at `video_path` (see the module docstring)."""
    root, video = Path(boxes_dir), Path(video_path)
    parts = video.parts[1:] if video.anchor else video.parts  # never mirror "/" or "C:\\"
    tried = []
    for k in range(len(parts), 0, -1):
        candidate = root.joinpath(*parts[-k:-1], parts[-1] + ".csv")
        if candidate.is_file():
            return candidate
        tried.append(candidate)
    raise DetectionsError(f"no detections file for {video_path}: expected "
                          f"{tried[-1] if tried else root} (or the video's path mirrored "
                          f"deeper under {root})")


def read_boxes(path: str | Path, n_frames: int, width: int, height: int,
               min_score: float = 0.0) -> list[np.ndarray]:
    """Return one (k, 4) int array of boxes per frame from a detections CSV
    (`read_detections`' boxes)."""
    return [d.boxes.astype(np.int64) for d in read_detections(path, n_frames, width, height,
                                                                min_score)]


def read_detections(path: str | Path, n_frames: int, width: int, height: int,
                    min_score: float = 0.0) -> list[FrameDetections]:
    """Return one `FrameDetections` per frame from a detections CSV: boxes rounded outwards
    to whole pixels, classes from the `class` column (`UNKNOWN` without one), scores from the
    `score` column (1 without one).

    `width` x `height` is the frame size in pixels. Rows with `score` below `min_score` are
    dropped. A missing column, a non-numeric or non-finite value, a frame outside
    [0, n_frames), a box with x1 <= x0 or y1 <= y0, or a box entirely outside the frame
    raise `DetectionsError` naming the file, the row (1 = header) and the field. Boxes
    reaching more than `EDGE_TOLERANCE` pixels past an edge are clipped to the frame with a
    `BoxesOutsideFrameWarning` (count and first row); closer ones are clipped silently.
    """
    path = Path(path)
    per_frame: list[list[tuple[int, int, int, int, float, int]]] = [[] for _ in range(n_frames)]
    clipped: list[int] = []  # rows of kept boxes reaching past an edge
    try:
        with open(path, newline="") as f:
            reader = csv.DictReader(f)
            fields = [c.strip() for c in reader.fieldnames or []]
            missing = [c for c in COLUMNS if c not in fields]
            if missing:
                raise DetectionsError(f"{path}: missing column(s) {', '.join(missing)} "
                                      f"(header must hold {','.join(COLUMNS)}[,score])")
            reader.fieldnames = fields
            for row_number, row in enumerate(reader, start=2):
                values = {c: _number(path, row_number, c, row.get(c))
                          for c in (*COLUMNS, *(o for o in ("score", "class") if o in fields))}
                frame = values["frame"]
                if frame != int(frame) or not 0 <= frame < n_frames:
                    raise DetectionsError(f"{path}: row {row_number}, field frame: {frame:g} is "
                                          f"not a frame index of this video (0..{n_frames - 1})")
                x0, y0, x1, y1 = (values[c] for c in COLUMNS[1:])
                if x1 <= x0 or y1 <= y0:
                    raise DetectionsError(f"{path}: row {row_number}: empty box ({x0:g}, "
                                          f"{y0:g}, {x1:g}, {y1:g}); need x1 > x0 and y1 > y0")
                if x0 >= width or y0 >= height or x1 <= 0 or y1 <= 0:
                    raise DetectionsError(
                        f"{path}: row {row_number}: box ({x0:g}, {y0:g}, {x1:g}, {y1:g}) lies "
                        f"outside the {width}x{height} frame; were the boxes made on frames of "
                        "another size or orientation? (mulde applies a video's display "
                        "rotation, as OpenCV does)")
                if values.get("score", math.inf) < min_score:
                    continue
                if (min(x0, y0) < -EDGE_TOLERANCE or x1 > width + EDGE_TOLERANCE
                        or y1 > height + EDGE_TOLERANCE):
                    clipped.append(row_number)
                box = (max(0, math.floor(x0)), max(0, math.floor(y0)),
                       min(width, math.ceil(x1)), min(height, math.ceil(y1)))
                label = values.get("class", UNKNOWN)
                if label != int(label):
                    raise DetectionsError(f"{path}: row {row_number}, field class: {label:g} "
                                          "is not a whole class id")
                if box[2] > box[0] and box[3] > box[1]:
                    per_frame[int(frame)].append((*box, values.get("score", 1.0), int(label)))
    except OSError as err:
        raise DetectionsError(f"{path}: cannot read the detections ({err})") from err
    except UnicodeDecodeError as err:
        raise DetectionsError(f"{path}: not a text CSV file ({err})") from err
    if clipped:
        warnings.warn(f"{path}: {len(clipped)} box(es) reach more than {EDGE_TOLERANCE:g} px "
                      f"past the edges of the {width}x{height} frame (first: row {clipped[0]}); "
                      "clipped to the frame", BoxesOutsideFrameWarning, stacklevel=2)
    out = []
    for rows in per_frame:
        a = np.array(rows, np.float64).reshape(-1, 6)
        out.append(FrameDetections(a[:, :4].astype(np.float32), a[:, 5].astype(np.int64),
                                   a[:, 4].astype(np.float32)))
    return out


def _number(path: Path, row: int, field: str, text: str | None) -> float:
    try:
        value = float(text)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise DetectionsError(f"{path}: row {row}, field {field}: {text!r} is not a number"
                              ) from None
    if not math.isfinite(value):
        raise DetectionsError(f"{path}: row {row}, field {field}: {text!r} is not finite")
    return value


def boxes_fingerprint(boxes_dir: str | Path) -> str:
    """Return a SHA-256 over the relative paths and contents of every CSV under `boxes_dir`:
    the feature cache's key, so that changed detections are extracted again. A file is hashed
    again only when its size or modification time changed (it is asked per video)."""
    root = Path(boxes_dir)
    if not root.is_dir():
        raise DetectionsError(f"{root}: the detections folder does not exist")
    digest = hashlib.sha256()
    for f in sorted(root.rglob("*.csv")):
        digest.update(str(f.relative_to(root)).encode() + b"\0")
        digest.update(bytes.fromhex(file_sha256(f)))
    return digest.hexdigest()
