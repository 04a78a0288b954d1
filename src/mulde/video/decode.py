"""Decode a video file (PyAV) or a folder of frame images (Pillow) into RGB uint8 frames.

Policies (one per case, all raising `VideoReadError` naming the path and the cause):

- Video files: the first video stream is decoded with PyAV. A file that cannot be opened,
  has no video stream, decodes to zero frames, or decodes to fewer frames than its
  container declares (a truncated file) is an error; the shortfall is only known at the end
  of iteration, after the frames that could be decoded were yielded.
- Frame folders: files whose suffix is not in `IMAGE_SUFFIXES` and hidden files (name
  starting with ".", e.g. `.DS_Store`, `._001.tif`) are skipped; sub-folders are ignored.
  Frames are ordered by name with digit runs compared by value (`2.jpg` before `10.jpg`).
  An image file that fails to decode is an error naming that file. All frames must have the
  size of the first one; the first frame of another size is named in the error.
- Numbered frame names: when every frame name is `<prefix><number>` with one common prefix,
  the numbers must be consecutive. A gap (or a duplicate number) is an error naming the
  first missing frame, because per-frame labels are indexed by position and a silently
  missing frame would shift every later label. Names that are not all numbered are not
  checked.
- Probing is cheap: a video file's frame count comes from the container header and is only
  counted by decoding when the container declares none; a frame folder is probed from its
  file names and the header of its first image (sizes of later frames are checked when
  decoding, not when probing).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
from PIL import Image, UnidentifiedImageError

IMAGE_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pbm"}
)
VIDEO_SUFFIXES = frozenset(
    {".avi", ".mp4", ".m4v", ".mkv", ".mov", ".webm", ".mpg", ".mpeg", ".wmv", ".flv", ".ts"}
)
class VideoReadError(RuntimeError):
    """A video or frame folder could not be read; the message names the path and the cause."""


DEFAULT_FOLDER_FPS = 25.0
"""Frame rate reported for frame folders, which carry none (override with `probe(fps=...)`)."""

_NUMBERED = re.compile(r"^(.*?)(\d+)$")
_DIGITS = re.compile(r"(\d+)")


@dataclass(frozen=True)
class VideoInfo:
    """What `probe` returns: frame count, frame rate (frames/s) and frame size in pixels."""

    n_frames: int
    fps: float
    width: int
    height: int


def natural_key(name: str) -> tuple[tuple[int, int | str], ...]:
    """Sort key comparing digit runs by value and other text as is ("2" < "10")."""
    return tuple(
        (0, int(part)) if part.isdigit() else (1, part) for part in _DIGITS.split(name) if part
    )


def is_image_file(path: Path) -> bool:
    """True for a non-hidden file whose suffix is an image suffix (case-insensitive)."""
    return not path.name.startswith(".") and path.suffix.lower() in IMAGE_SUFFIXES


def is_video_file(path: Path) -> bool:
    """True for a non-hidden file whose suffix is a video suffix (case-insensitive)."""
    return not path.name.startswith(".") and path.suffix.lower() in VIDEO_SUFFIXES


def list_frame_files(folder: str | os.PathLike[str]) -> list[Path]:
    """Return the frame images of `folder` in frame order, after checking numbered names.

    Raises `VideoReadError` for a missing folder, a folder without image files, or a gap in
    numbered frame names (see the module docstring).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise VideoReadError(f"{folder}: frame folder does not exist")
    try:
        with os.scandir(folder) as entries:
            files = [Path(e.path) for e in entries
                     if e.is_file() and is_image_file(Path(e.name))]
    except OSError as error:  # e.g. no read permission: this video fails, not the whole run
        raise VideoReadError(f"{folder}: cannot list the frame folder ({error})") from error
    if not files:
        raise VideoReadError(
            f"{folder}: no image files (suffixes {', '.join(sorted(IMAGE_SUFFIXES))})"
        )
    files.sort(key=lambda p: natural_key(p.name))
    _check_numbering(folder, files)
    return files


def _check_numbering(folder: Path, files: list[Path]) -> None:
    matches = [_NUMBERED.match(p.stem) for p in files]
    if not all(matches) or len({m.group(1) for m in matches}) != 1:
        return
    numbers = [int(m.group(2)) for m in matches]
    for previous, current, path in zip(numbers, numbers[1:], files[1:], strict=False):
        if current == previous:
            raise VideoReadError(f"{folder}: duplicate frame number {current} ({path.name})")
        if current != previous + 1:
            raise VideoReadError(
                f"{folder}: gap in numbered frames, frame {previous + 1} is missing "
                f"(next present: {path.name})"
            )


def probe(path: str | os.PathLike[str], *, fps: float | None = None) -> VideoInfo:
    """Return frame count, fps and size of a video file or frame folder without decoding it all.

    `fps` overrides the frame rate of a frame folder (default `DEFAULT_FOLDER_FPS`); it is
    ignored for video files, whose container states their rate.
    """
    path = Path(path)
    if path.is_dir():
        files = list_frame_files(path)
        width, height = _image_size(files[0])
        return VideoInfo(len(files), float(fps or DEFAULT_FOLDER_FPS), width, height)
    _require_file(path)
    try:
        with av.open(str(path)) as container:
            stream = _video_stream(container, path)
            n_frames = stream.frames
            if n_frames <= 0:
                n_frames = sum(1 for _ in container.decode(stream))
            rate = stream.average_rate or stream.guessed_rate or stream.base_rate
            width, height = stream.codec_context.width, stream.codec_context.height
    except av.FFmpegError as error:
        raise VideoReadError(f"{path}: cannot read video ({error})") from error
    if n_frames == 0:
        raise VideoReadError(f"{path}: video has no frames")
    return VideoInfo(n_frames, float(rate) if rate else DEFAULT_FOLDER_FPS, width, height)


def iter_frames(path: str | os.PathLike[str]) -> Iterator[np.ndarray]:
    """Return an iterator over the frames as RGB uint8 arrays of shape (H, W, 3).

    The path is checked (and a frame folder listed) when called; decoding errors are raised
    by the iterator as `VideoReadError`.
    """
    path = Path(path)
    if path.is_dir():
        return _iter_folder(path, list_frame_files(path))
    _require_file(path)
    return _iter_video_file(path)


def _require_file(path: Path) -> None:
    if not path.exists():
        raise VideoReadError(f"{path}: no such video file or frame folder")
    if not path.is_file():
        raise VideoReadError(f"{path}: not a regular file or folder")


def _video_stream(container: av.container.InputContainer, path: Path) -> av.VideoStream:
    if not container.streams.video:
        raise VideoReadError(f"{path}: no video stream")
    return container.streams.video[0]


def _iter_video_file(path: Path) -> Iterator[np.ndarray]:
    decoded = 0
    try:
        with av.open(str(path)) as container:
            stream = _video_stream(container, path)
            stream.thread_type = "AUTO"  # frame and slice threading; same frames, faster
            declared = stream.frames
            for frame in container.decode(stream):
                decoded += 1
                yield frame.to_ndarray(format="rgb24")
    except av.FFmpegError as error:
        raise VideoReadError(
            f"{path}: corrupt video, decoding failed after {decoded} frames ({error})"
        ) from error
    if decoded == 0:
        raise VideoReadError(f"{path}: video has no frames")
    if declared > 0 and decoded < declared:
        raise VideoReadError(
            f"{path}: truncated or corrupt video, decoded {decoded} of the {declared} frames "
            "its container declares"
        )


def _image_size(path: Path) -> tuple[int, int]:
    try:
        with Image.open(path) as image:
            return image.size
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise VideoReadError(f"{path}: cannot read image ({error})") from error


def _read_image(path: Path) -> np.ndarray:
    try:
        with Image.open(path) as image:
            rgb = image.convert("RGB")
            return np.asarray(rgb, dtype=np.uint8)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise VideoReadError(f"{path}: cannot read image ({error})") from error


def _iter_folder(folder: Path, files: list[Path]) -> Iterator[np.ndarray]:
    shape: tuple[int, ...] | None = None
    for path in files:
        frame = _read_image(path)
        if shape is None:
            shape = frame.shape
        elif frame.shape != shape:
            raise VideoReadError(
                f"{folder}: mixed resolutions, frame {path.name} is "
                f"{frame.shape[1]}x{frame.shape[0]} but {files[0].name} is {shape[1]}x{shape[0]}"
            )
        yield frame
