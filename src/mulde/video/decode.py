"""Decode a video file (PyAV) or a folder of frame images (Pillow) into RGB uint8 frames.

Policies (one per case, all raising `VideoReadError` naming the path and the cause):

- Video files: the first video stream is decoded with PyAV. A file that cannot be opened,
  has no video stream, decodes to zero frames, or decodes to fewer frames than its
  container declares (a truncated file) is an error; the shortfall is only known at the end
  of iteration, after the frames that could be decoded were yielded. The message of a
  damaged file says to re-encode or remove it and ends with FFmpeg's reason in words,
  without FFmpeg's error number.
- Frame timeline (video files): frames are returned on the constant-rate grid of the
  stream's frame rate, as ffmpeg's constant-frame-rate output (`-fps_mode cfr`, the default
  when ffmpeg extracts frames to images) and AVI's one-chunk-per-frame index count them, so
  frame numbers are the ones annotations index. A frame shown at time t (its timestamp
  relative to the first frame) takes frame number round(t * fps). Numbers with no frame
  (dropped frames: the empty chunks an AVI muxer writes, or a gap in the timestamps) repeat
  the previous frame; a frame whose number is already taken (a duplicate timestamp, or a
  variable frame rate above the nominal one) is dropped; a timestamp that jumps back (or,
  in formats with timestamp discontinuities such as MPEG-TS, more than 10 s forward) starts
  a new segment right after the previous frame. A frame decoded from the cut last packet
  of a truncated file (`decoded_frames`) is dropped too: decoders fill it with garbage.
  Each of these emits one `FrameTimelineWarning` per video naming the file, the count and
  the first frame number; the cut frame of a file refused as truncated (above) is named in
  that error instead.
  Frames without a timestamp follow the previous one.
- Cut short without a frame count: a container that states no frame count but a duration
  (Matroska and WebM state none; a variable-rate MP4's count is not the timeline's) can
  still end early: the demuxer meets the end of the data and decoding stops without an
  error (a Matroska file cut at 60 % of its 8 s at 25 fps decoded 113 frames). When the
  timeline holds fewer than `CUT_SHORT_SHARE` of the frames the duration holds (duration x
  frame rate) and at least `CUT_SHORT_FRAMES` fewer, a `CutShortWarning` says so, once per
  video, and the frames decoded are used. A warning, not the error of a stated frame
  count: a duration is no count (a track's may include its last frame's display time or
  an encoder's padding), hence the margins. The duration is the video stream's own (its
  `duration`, else Matroska's per-track DURATION tag), else the container's where the
  video is its only stream; formats with timestamp discontinuities (MPEG-TS, MPEG-PS),
  whose duration is an estimate, and sources that state none (a live stream, a camera, a
  recording still being written) are never warned about.
- Display rotation: a rotation of the stream's display matrix (phone videos stored
  landscape with a 90-degree display rotation; PyAV's `VideoFrame.rotation`, the
  DISPLAYMATRIX side data, read from the first frame, as OpenCV reads it) is applied as
  players, OpenCV and ffmpeg do, so the frames are
  the ones a viewer (or a detector run through OpenCV) sees. A mirrored display matrix, or
  an angle that is not a multiple of 90 degrees, is refused (re-encode the video with
  ffmpeg, which applies it). Non-square pixels (sample aspect ratio) are not resampled,
  as OpenCV and ffmpeg's frame extraction do not either.
- Frame size: every frame must have the size of the first one, in video files and frame
  folders alike; the first frame of another size is named in the error (a recorder that
  switched resolution midway: cut the video at that frame or re-encode it at one size).
- Frame folders: files whose suffix is not in `IMAGE_SUFFIXES` and hidden files (name
  starting with ".", e.g. `.DS_Store`, `._001.tif`) are skipped; sub-folders are ignored.
  Frames are ordered by name with digit runs compared by value (`2.jpg` before `10.jpg`).
  An image file that fails to decode is an error naming that file.
- Numbered frame names: when every frame name is `<prefix><number>` with one common prefix,
  the numbers must be consecutive. A gap (or a duplicate number) is an error naming the
  first missing frame, because per-frame labels are indexed by position and a silently
  missing frame would shift every later label. Names that are not all numbered are not
  checked.
- Stray images: in a folder of numbered frames (`<prefix><number>`, one prefix), an image
  whose name holds no digit at all (`cover.jpg`, `thumbnail.png`) is not a frame, as long
  as the numbered images outnumber such images: it is left out and named in a
  `StrayImagesWarning` (`stray_images` lists them), and the numbered frames are checked
  for gaps as above. Left out, not refused: a name without a number has no place in the
  numbered order, so the labels, indexed by that order, cannot count it; leaving it out
  keeps every numbered frame at the position its number gives (taken in, it was an extra
  frame that shifted the labels and switched the gap check off), and the video is still
  read.
- Unreadable once, unreadable for the run: within `mulde.video.unreadable.remembered()` (a
  run), a file or frame folder that failed to probe or decode raises the same
  `VideoReadError` again at once, without being opened, while it is unchanged.
- Probing is cheap: a video file's frame count comes from the container header when the
  stream's average rate equals its nominal rate (a constant-rate stream; AVI counts its
  empty chunks), else the timeline is counted by decoding; its size is that of the
  first decoded frame (display rotation applied). A frame folder is probed from its file
  names and the header of its first image (sizes of later frames are checked when decoding,
  not when probing).
"""

from __future__ import annotations

import errno
import math
import os
import re
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from av.video.reformatter import VideoReformatter
from PIL import Image, UnidentifiedImageError

from mulde.video import unreadable

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

DISCONTINUITY_SECONDS = 10.0
"""A forward timestamp jump longer than this starts a new segment in formats with timestamp
discontinuities (MPEG-TS, MPEG-PS), as ffmpeg's `-dts_delta_threshold` default does."""
_TS_DISCONT = 0x0200  # AVFMT_TS_DISCONT

_NUMBERED = re.compile(r"^(.*?)(\d+)$")
_DIGITS = re.compile(r"(\d+)")


class StrayImagesWarning(UserWarning):
    """A folder of numbered frames held images whose name has no number; they were left out
    of its frames (the module docstring, "Stray images")."""


class FrameTimelineWarning(UserWarning):
    """A video's timestamps had gaps, duplicates or jumps, or its cut last frame was
    dropped; the message says how its frames were placed on the constant-rate timeline (see
    the module docstring). `path`: the video file (None when not given), so that a caller
    that skips the video can leave its notes unsaid (the skip's error says what matters)."""

    def __init__(self, message: str, path: Path | None = None) -> None:
        super().__init__(message)
        self.path = path


class CutShortWarning(FrameTimelineWarning):
    """A video file whose container states no frame count decoded to well fewer frames than
    its stated duration holds (the module docstring, "Cut short without a frame count"): a
    file cut short (a copy or download stopped early) or damaged; the frames decoded are
    used. A `FrameTimelineWarning`, so that whoever holds back or leaves out a video's
    timeline notes (`mulde.pipeline`, `probe`) does the same with this one."""


CUT_SHORT_SHARE = 0.9
"""A video whose timeline holds fewer than this share of the frames its stated duration
holds (and at least `CUT_SHORT_FRAMES` fewer) is said to be cut short (`CutShortWarning`)."""
CUT_SHORT_FRAMES = 10
"""The fewest frames missing from a stated duration that a `CutShortWarning` is said for
(a short clip a few frames short is rounding, not a cut)."""


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


def list_frame_files(folder: str | os.PathLike[str],
                     left_out: list[Path] | None = None) -> list[Path]:
    """Return the frame images of `folder` in frame order, after checking numbered names.

    Stray images (images whose name has no number among numbered frames: the module
    docstring) are not frames: they are appended to `left_out` when it is given (the caller
    then says so), else named in a `StrayImagesWarning`, once per folder and set of strays
    in a run (a run lists a folder several times; `mulde.video.unreadable.first_said`).
    Raises `VideoReadError` for a missing folder, a folder without image files, or a gap in
    numbered frame names (see the module docstring).
    """
    folder = Path(folder)
    files = image_files(folder)
    if not files:
        videos = sorted(p.name for p in folder.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES)
        # the example: one that holds bytes (an empty one is no video to give)
        example = next((folder / v for v in videos if _holds_bytes(folder / v)), None)
        hint = (f"; it holds {len(videos)} video file(s): give one of them"
                f"{f' (e.g. {example})' if example else ''}, not the folder" if videos else "")
        raise VideoReadError(
            f"{folder}: no image files (suffixes {', '.join(sorted(IMAGE_SUFFIXES))}){hint}"
        )
    strays = stray_files(files)
    if strays:
        left = set(strays)
        files = [p for p in files if p not in left]
        if left_out is not None:  # the caller's, even when the frames' numbering fails
            left_out.extend(strays)
    _check_numbering(folder, files)
    if strays:  # after the check: a gap's error comes alone
        _say_strays(folder, strays, warn=left_out is None)
    return files


def stray_images(folder: str | os.PathLike[str]) -> list[Path]:
    """The images of the frame folder `folder` that `list_frame_files` leaves out as stray
    (names without a number among numbered frames), in name order; [] when it has none, or
    when `folder` cannot be listed. Nothing is warned."""
    try:
        return stray_files(image_files(Path(folder)))
    except VideoReadError:
        return []


def strays_said(paths: Iterable[Path]) -> None:
    """Count the stray images among `paths` as said in this run (a dataset's `ignored`,
    which its loader said: `mulde.datasets.common.list_videos`), so that decoding their
    folders does not name them again; a folder's strays count only when `paths` holds them
    all (one added since is said with the others). Nothing is warned."""
    paths = set(paths)
    for folder in {p.parent for p in paths}:
        strays = stray_images(folder)
        if strays and paths.issuperset(strays):
            _say_strays(folder, strays, warn=False)


def image_files(folder: Path) -> list[Path]:
    """The image files of `folder` (`is_image_file`), in natural name order: the one listing
    of a frame folder (`list_frame_files`, `stray_images`,
    `mulde.video.source.source_checksum`). Raises `VideoReadError` naming the folder when it
    does not exist or cannot be listed."""
    if not folder.is_dir():
        raise VideoReadError(f"{folder}: frame folder does not exist")
    try:
        with os.scandir(folder) as entries:
            files = [Path(e.path) for e in entries
                     if e.is_file() and is_image_file(Path(e.name))]
    except OSError as error:  # e.g. no read permission: this video fails, not the whole run
        raise VideoReadError(f"{folder}: cannot list the frame folder "
                             f"({ffmpeg_reason(error)})") from error
    return sorted(files, key=lambda p: natural_key(p.name))


def stray_files(files: list[Path]) -> list[Path]:
    """The `files` (the image files of one folder) whose name holds no digit, when all the
    others are numbered frames of one prefix and outnumber them; [] otherwise (module
    docstring, "Stray images")."""
    unnumbered = [p for p in files if not _DIGITS.search(p.stem)]
    numbered = [m for p in files if (m := _NUMBERED.match(p.stem))]
    if (not unnumbered or len(numbered) <= len(unnumbered)
            or len(numbered) + len(unnumbered) != len(files)
            or len({m.group(1) for m in numbered}) != 1):
        return []
    return unnumbered


def _say_strays(folder: Path, strays: list[Path], warn: bool) -> None:
    """Warn (`StrayImagesWarning`, when `warn`) about the `strays` of `folder` unless this
    run said them already (`mulde.video.unreadable.first_said`); either way they count as
    said in the run from now on."""
    if not unreadable.first_said(("strays", str(folder.resolve()),
                                  tuple(p.name for p in strays))):
        return
    if warn:
        named = ", ".join(p.name for p in strays[:5]) + (
            f" and {len(strays) - 5} more" if len(strays) > 5 else "")
        warnings.warn(
            f"{folder}: left out {len(strays)} image(s) without a frame number among its "
            f"numbered frames: {named}; they are not frames (move them out of the folder to "
            "silence this)", StrayImagesWarning, stacklevel=3)


def _check_numbering(folder: Path, files: list[Path]) -> None:
    matches = [_NUMBERED.match(p.stem) for p in files]
    if not all(matches) or len({m.group(1) for m in matches}) != 1:
        return
    numbers = [int(m.group(2)) for m in matches]
    for previous, current, path in zip(numbers, numbers[1:], files[1:], strict=False):
        if current == previous:
            raise VideoReadError(f"{folder}: duplicate frame number {current} ({path.name}); "
                                 "keep one image per number")
        if current != previous + 1:
            raise VideoReadError(
                f"{folder}: gap in numbered frames, the image numbered {previous + 1} is "
                f"missing (next present: {path.name}); add it, or renumber the images "
                "without gaps (the frames' times and speeds assume every frame)"
            )


def probe(path: str | os.PathLike[str], *, fps: float | None = None) -> VideoInfo:
    """Return frame count, fps and size of a video file or frame folder without decoding it all.

    `fps` overrides the frame rate of a frame folder (default `DEFAULT_FOLDER_FPS`); it is
    ignored for video files, whose container states their rate. A video file's count is
    that of its constant-rate timeline (what `iter_frames` yields) and its size the
    displayed one (rotation applied); see the module docstring. A path this run found
    unreadable raises its error again without being opened (`mulde.video.unreadable`).
    """
    path = Path(path)
    failed = unreadable.known(path)
    if failed is not None:
        raise failed
    before = unreadable.identity(path)
    try:
        return _probe(path, fps)
    except VideoReadError as error:
        unreadable.remember(before, error)
        raise


def _probe(path: Path, fps: float | None) -> VideoInfo:
    """`probe`, every time."""
    if path.is_dir():
        files = list_frame_files(path)
        width, height = _image_size(files[0])
        return VideoInfo(len(files), float(fps or DEFAULT_FOLDER_FPS), width, height)
    _require_file(path)
    try:
        with av.open(str(path)) as container:
            stream = _video_stream(container, path)
            n_frames = _header_count(stream)
            rate = _frame_rate(stream)
            first = next(container.decode(stream), None)
            height, width = (None, None) if first is None else _display_shape(first, path)
    except av.FFmpegError as error:
        raise _unreadable(path, error) from error
    if n_frames is None:  # no count, or one the rate does not explain: count the timeline
        with warnings.catch_warnings():  # decoding warns about the timeline, probing not
            warnings.simplefilter("ignore", FrameTimelineWarning)
            n_frames = sum(1 for _ in _timeline(path, convert=False))
    if n_frames == 0 or first is None:
        raise VideoReadError(f"{path}: video has no frames")
    return VideoInfo(n_frames, float(rate) if rate else DEFAULT_FOLDER_FPS, width, height)


def iter_frames(path: str | os.PathLike[str]) -> Iterator[np.ndarray]:
    """Return an iterator over the frames as RGB uint8 arrays of shape (H, W, 3).

    A video file's frames follow its constant-rate timeline with the display rotation
    applied (module docstring: repeated, dropped or re-anchored frames are reported with a
    `FrameTimelineWarning`). The path is checked (and a frame folder listed) when called;
    decoding errors, and a frame of another size than the first, are raised by the iterator
    as `VideoReadError`; so is the error of a path this run found unreadable, before it is
    opened again (`mulde.video.unreadable`).
    """
    path = Path(path)
    if path.is_dir():
        return _remembered(path, _iter_folder(path, list_frame_files(path)))
    _require_file(path)
    return _remembered(path, _iter_video_file(path))


def _remembered(path: Path, frames: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
    """Yield `frames` (not started when `path` is known unreadable: its error is raised
    instead); a `VideoReadError` they raise is kept for the run (`unreadable.remember`)."""
    failed = unreadable.known(path)
    if failed is not None:
        raise failed
    before = unreadable.identity(path)
    try:
        yield from frames
    except VideoReadError as error:
        unreadable.remember(before, error)
        raise


def _require_file(path: Path) -> None:
    if not path.exists():
        raise VideoReadError(f"{path}: no such video file or frame folder{_did_you_mean(path)}")
    if not path.is_file():
        raise VideoReadError(f"{path}: not a regular file or folder")
    if not _holds_bytes(path):  # FFmpeg says it as invalid data: "damaged ... or not a video"
        raise VideoReadError(f"{path}: the file is empty (0 bytes), not a video: copy or record "
                             "it again, or remove it")


def _holds_bytes(path: Path) -> bool:
    """Whether the file at `path` is not empty (False where it cannot be read: a broken link)."""
    try:
        return path.stat().st_size > 0
    except OSError:
        return False


def _did_you_mean(path: Path) -> str:
    """"; did you mean P?" for a missing `path` with a video file beside it that is the same
    name with a (another) video suffix (cam/train/12 or cam/train/12.mp4 for
    cam/train/12.avi), "" otherwise."""
    try:
        found = sorted(p for p in path.parent.iterdir()
                       if is_video_file(p) and p.stem in (path.name, path.stem))
    except OSError:  # no such folder either
        return ""
    return f"; did you mean {found[0]}?" if found else ""


def _video_stream(container: av.container.InputContainer, path: Path) -> av.VideoStream:
    if not container.streams.video:
        raise VideoReadError(f"{path}: no video stream")
    return container.streams.video[0]


def _iter_video_file(path: Path) -> Iterator[np.ndarray]:
    return _timeline(path, convert=True)


def _frame_rate(stream: av.VideoStream) -> Fraction | None:
    """The stream's nominal frame rate: ffmpeg's guess (r_frame_rate, else the average)."""
    rate = stream.guessed_rate or stream.average_rate or stream.base_rate
    return Fraction(rate) if rate else None


def _header_count(stream: av.VideoStream) -> int | None:
    """The container's frame count when it can be taken as the length of the constant-rate
    timeline: declared, and the stream's average rate (count / duration) equals its nominal
    rate. None for a variable-rate stream or one without a count (then the timeline is
    counted by decoding)."""
    declared = stream.frames
    if declared <= 0:
        return None
    nominal, average = stream.guessed_rate, stream.average_rate
    if nominal and average and Fraction(nominal) != Fraction(average):
        return None
    return declared


def _display_turns(frame: av.VideoFrame, path: Path) -> int:
    """Quarter turns counter-clockwise (np.rot90's k) that the frame's display matrix asks
    for; 0 without one. Refuses mirrored matrices and angles off a multiple of 90 degrees."""
    # by its type's name, which every PyAV since 13 maps to the entry: iterating differs
    # (PyAV <= 18 yields the entries, 19 their Type keys) and so does len (19 counts the
    # distinct types, so positions past it are unreachable when a type repeats)
    data = frame.side_data.get("DISPLAYMATRIX")
    if data is None:
        return 0
    m = np.frombuffer(bytes(data), dtype=np.int32)[:9].astype(np.float64) / 65536.0
    a, b, c, d = m[0], m[1], m[3], m[4]
    if math.hypot(a, c) == 0 or math.hypot(b, d) == 0:
        return 0  # a degenerate matrix states no rotation (libavutil: NaN)
    if a * d - b * c < 0:
        raise VideoReadError(f"{path}: the display matrix mirrors the picture, which is "
                             "not supported; re-encode the video with ffmpeg, which "
                             "applies it (ffmpeg -i IN OUT.mp4)")
    # the angle libavutil's av_display_rotation_get reports (counter-clockwise, degrees)
    angle = -math.degrees(math.atan2(b / math.hypot(b, d), a / math.hypot(a, c)))
    turns = round(angle / 90)
    if abs(angle - 90 * turns) > 1:
        raise VideoReadError(f"{path}: display rotation of {angle:.1f} degrees is not a "
                             "multiple of 90; re-encode the video with ffmpeg, which "
                             "applies it (ffmpeg -i IN OUT.mp4)")
    return turns % 4


def _display_shape(frame: av.VideoFrame, path: Path) -> tuple[int, int]:
    """(height, width) of the frame as displayed (rotation applied)."""
    turns = _display_turns(frame, path)
    return (frame.width, frame.height) if turns % 2 else (frame.height, frame.width)


def _timeline(path: Path, *, convert: bool) -> Iterator[np.ndarray]:
    """Yield the frames of a video file on its constant-rate timeline (module docstring);
    with `convert=False` the frames are not converted to RGB (counting) and None is yielded."""
    number = 0  # the next frame number to fill
    decoded = 0
    origin: int | None = None  # timestamp of frame number `base` in the current segment
    base = 0
    previous_pts: int | None = None
    previous: np.ndarray | None = None
    shape: tuple[int, int] | None = None
    turns: int | None = None  # the display rotation, read from the first whole frame
    events: dict[str, list[int]] = {}  # kind -> [count, first frame number]

    def note(kind: str, count: int) -> None:
        entry = events.setdefault(kind, [0, number])
        entry[0] += count

    try:
        with av.open(str(path)) as container:
            stream = _video_stream(container, path)
            stream.thread_type = "AUTO"  # frame and slice threading; same frames, faster
            # one colour converter for the video: each frame's own (`to_ndarray`) starts the
            # scaler's threads, one per core, and holds them until the frame is collected,
            # which reading its side data leaves to the garbage collector (the frame and
            # its side data refer to each other): 248 frames peaked at 351 threads
            rgb = VideoReformatter()
            expected = _header_count(stream)
            rate, time_base = _frame_rate(stream), stream.time_base
            discontinuous = bool(container.format.flags & _TS_DISCONT)
            stated = (None if expected is not None or discontinuous
                      else _stated_seconds(container, stream))
            for frame, damaged in decoded_frames(container, stream):
                decoded += 1
                if damaged:  # concealed garbage: a truncated file's cut last frame
                    note("damaged", 1)
                    continue
                if turns is None:
                    # once per video, from the first frame (the container's track matrix, as
                    # OpenCV applies it; an orientation an H.264 stream's own messages set on
                    # a later frame is not applied, as OpenCV does not): a frame whose side
                    # data was read refers to it and it to the frame, so each waited for the
                    # garbage collector (122 frames of a 640x360 video at once; 1.5 GB at 4K)
                    turns = _display_turns(frame, path)
                size = (frame.width, frame.height) if turns % 2 else (frame.height, frame.width)
                if shape is None:
                    shape = size
                elif size != shape:
                    raise VideoReadError(
                        f"{path}: frame size changes at frame {number} (decoded frame "
                        f"{decoded - 1}): {size[1]}x{size[0]}, but frame 0 is "
                        f"{shape[1]}x{shape[0]}; cut the video there or re-encode it at one "
                        "size (ffmpeg -i IN -vf scale=W:H OUT)")
                pts = frame.pts
                if pts is None or rate is None or time_base is None:
                    slot = number
                else:
                    if origin is None:
                        origin, base = pts, number
                    elif pts < previous_pts:
                        note("back", 1)
                        origin, base = pts, number
                    elif pts == previous_pts:
                        note("duplicate", 1)
                        continue
                    slot = base + math.floor(Fraction(pts - origin) * time_base * rate
                                             + Fraction(1, 2))
                    if (discontinuous and slot > number
                            and slot - number > DISCONTINUITY_SECONDS * rate):
                        note("jump", 1)
                        origin, base, slot = pts, number, number
                    previous_pts = pts
                if slot < number:
                    note("crowded", 1)
                    continue
                image = None
                if convert:
                    image = rgb.reformat(frame, format="rgb24").to_ndarray()
                    if turns:
                        image = np.ascontiguousarray(np.rot90(image, turns))
                if slot > number:
                    note("missing", slot - number)
                    for _ in range(slot - number):
                        yield previous if previous is not None else image
                    number = slot
                yield image
                previous = image
                number += 1
    except av.FFmpegError as error:
        raise _unreadable(path, error, decoded) from error
    if decoded == 0:
        raise VideoReadError(f"{path}: video has no frames")
    # a truncated file's dropped cut frame is said by its error alone (below), not again in
    # the timeline warning (`mulde watch` said both); a run that skips the file leaves the
    # rest of that warning unsaid (`mulde.pipeline.extract_features`)
    cut_said = expected is not None and number < expected and "damaged" in events
    _warn_timeline(path, {kind: entry for kind, entry in events.items()
                          if not (cut_said and kind == "damaged")}, rate)
    if expected is not None and number != expected:
        cut = (("; the next" if number else "; the last") + " cut off mid-frame, dropped"
               if cut_said else "")
        whole = f"none after frame {number - 1}" if number else "none whole"
        raise VideoReadError(
            f"{path}: truncated or corrupt video, decoded {number} of the {expected} frames "
            f"its container declares ({whole}{cut}); "
            f"{CUT_SHORT}" if number < expected else
            f"{path}: the timestamps place {number} frames, but the container declares "
            f"{expected}; re-encode the video at a constant rate (ffmpeg -i IN -fps_mode cfr "
            "OUT.mp4)"
        )
    if stated is not None and rate:
        _warn_cut_short(path, number, stated, rate)


def _stated_seconds(container: av.container.InputContainer,
                    stream: av.VideoStream) -> Fraction | None:
    """The duration in seconds the container states for the video `stream` (module
    docstring, "Cut short without a frame count"): the stream's own, else its DURATION tag
    (Matroska, WebM: "HH:MM:SS.fraction"), else the container's when the video is its only
    stream (else the container's covers the others too); None when it states none."""
    if stream.duration and stream.time_base:
        return Fraction(stream.duration) * stream.time_base
    tag = next((v for k, v in stream.metadata.items() if k.upper() == "DURATION"), None)
    m = re.fullmatch(r"\s*(\d+):(\d{1,2}):(\d{1,2}(?:\.\d+)?)\s*", str(tag or ""))
    if m:
        seconds = int(m.group(1)) * 3600 + int(m.group(2)) * 60 + Fraction(m.group(3))
        return seconds or None
    if container.duration and container.duration > 0 and len(container.streams) == 1:
        return Fraction(container.duration, av.time_base)
    return None


def _warn_cut_short(path: Path, number: int, seconds: Fraction, rate: Fraction) -> None:
    """Warn (`CutShortWarning`) when the `number` frames of the timeline fall short of the
    frames that `seconds` (the stated duration) holds at `rate` by the margins of
    `CUT_SHORT_SHARE` and `CUT_SHORT_FRAMES`."""
    stated = round(seconds * rate)
    if number >= CUT_SHORT_SHARE * stated or stated - number < CUT_SHORT_FRAMES:
        return
    # said at the line that iterates `iter_frames`, as `_warn_timeline`
    warnings.warn(CutShortWarning(
        f"{path}: decoded {number} of the {stated} frames its container states "
        f"({float(seconds):g} s at {float(rate):g} fps), so it may be cut short or damaged; "
        f"the {number} frames decoded are used; if the file was cut short (a copy or "
        "download stopped early), copy it again whole, and if it is whole, re-encode it "
        "(ffmpeg -i IN OUT.mp4) so that its container states its true length", path),
        stacklevel=4)


def decoded_frames(container: av.container.InputContainer, stream: av.VideoStream
                   ) -> Iterator[tuple[av.VideoFrame, bool]]:
    """Yield (frame, cut) for each frame `stream` decodes to, in decoding order; cut when the
    frame came from the file's last packet and the demuxer marks that packet corrupt
    (FFmpeg's AV_PKT_FLAG_CORRUPT): the end of a truncated file, which the decoder conceals
    with whatever it has (a truncated AVI's last frame decoded mostly solid green, and
    `mulde watch` raised an alert on it). A corrupt packet that another follows is taken as
    intact (MPEG-TS marks the packet before a junction of two recordings, whose frame is
    whole). A frame is matched to its packet by timestamp, which survives the decoder's
    reordering and threading; the frames of a corrupt packet are held back until the next
    packet (or the end) tells which it was."""
    suspect: set[int] = set()  # timestamps of corrupt packets no packet has followed yet
    held: list[av.VideoFrame] = []  # their frames
    for packet in container.demux(stream):  # ends with an empty packet, which flushes
        if packet.size and suspect:  # a packet followed them: not the end of a cut file
            suspect.clear()
            yield from ((frame, False) for frame in held)
            held.clear()
        if packet.size and packet.is_corrupt and packet.pts is not None:
            suspect.add(packet.pts)
        for frame in packet.decode():
            if frame.pts is not None and frame.pts in suspect:
                held.append(frame)
            else:
                yield frame, False
    yield from ((frame, True) for frame in held)


REENCODE_OR_REMOVE = "re-encode it (ffmpeg -i IN OUT.mp4) or remove it"
"""What to do about a video file that does not decode, in `VideoReadError` messages."""
CUT_SHORT = ("if the file was cut short (a copy or download stopped early), copy it again "
             f"whole; else {REENCODE_OR_REMOVE}")
"""What to do about a video with fewer frames than its container declares: re-encoding
keeps only the frames there are, a whole copy brings back the rest."""


def ffmpeg_reason(error: BaseException) -> str:
    """The reason of a PyAV (FFmpeg) or OS error for a message that names its source itself:
    its `strerror`, without the error number (the "[Errno 1094995529]" of str(error), a code
    that says nothing to a user) or the path or URL that str(error) quotes; str(error) for an
    error without one."""
    return getattr(error, "strerror", None) or str(error)


def _unreadable(path: Path, error: av.FFmpegError, decoded: int = 0) -> VideoReadError:
    """The `VideoReadError` of a PyAV error: what failed, what to do about a damaged file, and
    FFmpeg's reason last (`ffmpeg_reason`: the path is said once)."""
    reason = ffmpeg_reason(error)
    if decoded:
        return VideoReadError(f"{path}: corrupt video, decoding failed after {decoded} frames; "
                              f"{REENCODE_OR_REMOVE} ({reason})")
    if isinstance(error, av.InvalidDataError) or _from_a_codec(error, path):
        return VideoReadError(f"{path}: cannot read video, the file is damaged, incomplete or "
                              f"not a video; {REENCODE_OR_REMOVE} ({reason})")
    return VideoReadError(f"{path}: cannot read video ({reason})")


def _from_a_codec(error: av.FFmpegError, path: Path) -> bool:
    """Whether FFmpeg's error came from a codec call on the file's data (its `filename` is
    the function, "avcodec_send_packet()" or "avcodec_receive_frame()", not the path): the
    content is at fault whatever errno the decoder returns, but for ENOMEM, the machine's
    memory, not the file's ("cannot read video (Cannot allocate memory)"). A newcomer's
    random bytes, probed as a raw H.263 stream, were refused by that decoder with EPERM and
    said as "cannot read video (Operation not permitted)", a permissions problem the file
    did not have. The file's own errors (opening, reading: EACCES, EIO) carry its path."""
    name = getattr(error, "filename", None)
    return (isinstance(name, str) and name != str(path)
            and re.fullmatch(r"avcodec_\w+\(\)", name) is not None
            and getattr(error, "errno", None) != errno.ENOMEM)


_TIMELINE_EVENTS = {
    "missing": "missing from the timeline (dropped frames or a gap in the timestamps), "
               "each filled with the frame before it",
    "duplicate": "with the timestamp of the frame before, dropped",
    "crowded": "closer than one frame interval to the frame before (a variable frame rate "
               "above the nominal one), dropped",
    "back": "whose timestamp jumps back, each starting a new segment right after the frame "
            "before",
    "jump": f"whose timestamp jumps more than {DISCONTINUITY_SECONDS:g} s ahead (a "
            "discontinuity), each starting a new segment right after the frame before",
    "damaged": "decoded from the cut last packet of a truncated file, dropped (the "
               "decoder fills such a frame with garbage)",
}


def _warn_timeline(path: Path, events: dict[str, list[int]], rate: Fraction | None) -> None:
    if not events:
        return
    parts = [f"{count} frame(s) {_TIMELINE_EVENTS[kind]} (first at frame {first})"
             for kind, (count, first) in events.items()]
    fps = f"{float(rate):g} fps " if rate else ""
    # a damaged last frame is no matter of timing: the timeline is said where one moved
    timeline = (f"; frame numbers follow the constant {fps}timeline, as ffmpeg's "
                "constant-frame-rate output does" if set(events) - {"damaged"} else "")
    # said at the line that iterates `iter_frames` (above: `_timeline`, then `_remembered`)
    warnings.warn(FrameTimelineWarning(f"{path}: {'; '.join(parts)}{timeline}", path),
                  stacklevel=4)


def _image_reason(error: BaseException) -> str:
    """Why Pillow could not read an image, for a message that names the file itself: its
    "cannot identify image file '<path>'" in words that say what to check, an OS error's
    `strerror` (`ffmpeg_reason`), else the error's own text (a truncated JPEG's, say)."""
    if isinstance(error, UnidentifiedImageError):
        return "not an image format Pillow reads, or a damaged file"
    return ffmpeg_reason(error)


def _image_size(path: Path) -> tuple[int, int]:
    try:
        with Image.open(path) as image:
            return image.size
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise VideoReadError(f"{path}: cannot read image ({_image_reason(error)})") from error


def _read_image(path: Path) -> np.ndarray:
    try:
        with Image.open(path) as image:
            rgb = image.convert("RGB")
            return np.asarray(rgb, dtype=np.uint8)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise VideoReadError(f"{path}: cannot read image ({_image_reason(error)})") from error


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


def stated_rate(path: str | os.PathLike[str]) -> float | None:
    """The frame rate (frames/s) a video file's container states, read from its header
    without decoding (`probe` may decode a whole file to count its frames); None for a frame
    folder, a file that states none, or one that cannot be opened."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                return None
            rate = _frame_rate(container.streams.video[0])
    except av.FFmpegError:
        return None
    return float(rate) if rate else None


RATE_TOLERANCE = 0.01
"""The relative difference of two frame rates that `other_rate` lets pass (rates a
container rounds, 29.97 against 30, are one rate)."""


def other_rate(rate: float | None, trained: float | None) -> bool:
    """Whether a video's frame rate `rate` (frames/s) differs from the training videos'
    `trained` by more than `RATE_TOLERANCE`; False when either is unknown (None or 0)."""
    if not rate or not trained:
        return False
    return abs(rate - trained) > RATE_TOLERANCE * trained


def distinct_rates(rates: Iterable[float | None]) -> list[float]:
    """The known frame rates among `rates` (frames/s; None and 0 left out), each once and
    ascending: a rate that is not `other_rate` to one kept before it is the same rate."""
    kept: list[float] = []
    for rate in rates:
        if rate and all(other_rate(rate, known) for known in kept):
            kept.append(float(rate))
    return sorted(kept)
