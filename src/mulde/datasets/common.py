"""Shared pieces of the dataset loaders: errors, warnings, listing videos, checking a dataset.

Policies shared by every loader:

- Loaders are lazy: they list files and parse ground truth, but decode nothing. A video's
  length is probed (container header / file names) only where its labels need it (ranges,
  or all-normal videos); a video that cannot be probed then is kept with labels=None,
  silently: a corrupt file surfaces when it is decoded (the pipeline skips it and says so,
  once) or through `check_dataset`.
- Videos whose ground truth exists but whose file is missing are left out with one
  `MissingVideosWarning` listing them; a test video present without ground truth is an error.
- Training videos are normal by definition and carry labels=None.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from mulde.datasets.base import Dataset
from mulde.video.decode import (
    is_image_file,
    is_video_file,
    list_frame_files,
    natural_key,
    probe,
    stray_images,
)
from mulde.video.source import VideoReadError


class DatasetError(ValueError):
    """A dataset layout or ground-truth file is invalid; the message names the file and field.

    `problems` lists every problem found when a whole dataset was checked.
    """

    def __init__(self, message: str, problems: tuple[VideoProblem, ...] = ()) -> None:
        super().__init__(message)
        self.problems = problems


class MissingVideosWarning(UserWarning):
    """Ground truth names videos that are not on disk; they are left out of the dataset."""


@dataclass(frozen=True)
class VideoProblem:
    """One problem found by `check_dataset`: which split and video, and what is wrong."""

    split: str
    name: str
    path: Path
    message: str

    def __str__(self) -> str:
        return f"{self.split}/{self.name}: {self.message}"


def require_videos(dataset: Dataset) -> None:
    """Raise `DatasetError` when the dataset has no training or no test video, saying where
    they go (the user's own folder: train/ and test/ under its root)."""
    empty = [split for split, videos in (("training", dataset.train), ("test", dataset.test))
             if not videos]
    if not empty:
        return
    where = ""
    if dataset.name == "folder":
        where = (f"; put normal videos (files or folders of frames) in {dataset.root / 'train'}"
                 f" and the videos to score in {dataset.root / 'test'}")
        if empty == ["test"]:  # a model alone needs no test videos
            where += (f", or train a model on the training videos alone with `mulde train "
                      f"{dataset.root / 'train'} --out DIR`")
    raise DatasetError(f"{dataset.root}: no {' and no '.join(empty)} videos{where}")


def require_dir(path: Path, what: str) -> Path:
    """Return `path` if it is a folder, else raise `DatasetError` saying what was expected."""
    if not path.is_dir():
        raise DatasetError(f"{path}: {what} folder not found")
    return path


def first_existing(candidates: Iterable[Path], what: str) -> Path:
    """Return the first existing path of `candidates`, else raise `DatasetError` listing them."""
    candidates = list(candidates)
    for path in candidates:
        if path.exists():
            return path
    tried = ", ".join(str(p) for p in candidates)
    raise DatasetError(f"{what} not found (looked for {tried})")


def nearby_roots(root: Path, holds: Callable[[Path], bool], levels_up: int = 1
                 ) -> list[Path]:
    """The folders the user may have meant as the dataset root when `root` is one level too
    high or too low: the sub-folders of `root` (by name, at most 100 looked at), then its
    `levels_up` parents, for which `holds(folder)` is true, in that order; [] when none is.
    `roots_named` says them."""
    candidates: list[Path] = []
    if root.is_dir():
        try:
            candidates += sorted(p for p in root.iterdir() if p.is_dir())[:100]
        except OSError:
            pass
    candidates += list(root.resolve().parents)[:levels_up]
    return [c for c in candidates if c != root and holds(c)]


def roots_named(found: Sequence[Path], what: str) -> str:
    """The end of a root error for the `nearby_roots` found (not empty), that `what`: "a has
    that layout: use it as the root", or for several "3 folders have that layout: a, b, c;
    use one of them as the root" (the first `MAX_NAMED` named, the others counted)."""
    if len(found) == 1:
        return f"{found[0]} {what.format(has='has')}: use it as the root"
    listed = ", ".join(str(p) for p in found[:MAX_NAMED]) + (
        f" and {len(found) - MAX_NAMED} more" if len(found) > MAX_NAMED else "")
    return (f"{len(found)} folders {what.format(has='have')}: {listed}; use one of them as "
            "the root")


def list_videos(folder: Path, ignored: list[Path] | None = None) -> dict[str, Path]:
    """Return {name: path} of the videos in `folder`, in natural name order.

    A video is a file with a video suffix (name = file stem) or a sub-folder holding at least
    one image file (name = folder name). Other entries, and hidden ones, are ignored (the
    other files and folders, not the hidden ones, are appended to `ignored` when given, and
    so are the stray images of the frame folders, `mulde.video.decode.stray_images`, which
    decoding leaves out; the caller says them). Two videos with the same name (e.g. `a.avi`
    and `a.mp4`) raise `DatasetError`.
    """
    found: dict[str, Path] = {}
    with os.scandir(folder) as entries:
        for entry in entries:
            path = Path(entry.path)
            if entry.name.startswith("."):
                continue
            if entry.is_dir():
                if not _has_image(path):
                    if ignored is not None:
                        ignored.append(path)
                    continue
                if ignored is not None:
                    _strays_of(path, ignored)
                name = path.name
            elif entry.is_file() and is_video_file(path):
                name = path.stem
            else:
                if ignored is not None:
                    ignored.append(path)
                continue
            if name in found:
                raise DatasetError(f"{folder}: two videos named {name!r}: {found[name]}, {path}")
            found[name] = path
    return {name: found[name] for name in sorted(found, key=natural_key)}


def _strays_of(folder: Path, ignored: list[Path]) -> None:
    """Append the stray images of the frame folder `folder` to `ignored`, as said by the
    caller: decoding it leaves them out without a warning of its own."""
    try:
        list_frame_files(folder, left_out=ignored)
    except VideoReadError:  # a gap, an unlistable folder: said when the video is read
        pass


class IgnoredFilesWarning(UserWarning):
    """Files or folders of a user's video folder that are no video were left out."""


class LabelsNotFoundWarning(UserWarning):
    """A user's video folder has no labels file where it is read, but a CSV file elsewhere
    in it (misplaced or misnamed): its test videos are scored without labels."""


MAX_NAMED = 5
"""Ignored entries named in an `IgnoredFilesWarning`; more are counted."""


_IGNORED_KINDS = {  # kind: (one, several, what to do)
    "image": ("image file outside a frame folder", "image files outside a frame folder",
              "the frames of a video go in a sub-folder of their own, one per video"),
    "stray": ("image without a frame number in a folder of numbered frames",
              "images without a frame number in folders of numbered frames",
              "the frames are the numbered images; move these out of the frame folder"),
    "other": ("file that is not a video", "files that are not videos", ""),
    "empty": ("empty folder", "empty folders", ""),
    "frameless": ("folder without frame images", "folders without frame images", ""),
}


def warn_ignored(paths: Iterable[Path], root: Path) -> None:
    """Emit one `IgnoredFilesWarning` per line of `ignored_lines` (nothing when empty)."""
    for line in ignored_lines(paths, root):
        warnings.warn(line, IgnoredFilesWarning, stacklevel=3)


def ignored_lines(paths: Iterable[Path], root: Path) -> list[str]:
    """One sentence per kind of entry that `list_videos` left out of a user's folder
    (`root`: paths are shown relative to it, `shown_path`): image files outside a frame
    folder, other files that are not videos, empty folders, and folders without frame images
    (which hold video files when the videos were put one folder too deep), and stray images
    in frame folders (`mulde.video.decode.stray_images`); each names up to `MAX_NAMED` of
    them."""
    kinds: dict[str, list[str]] = {}
    nested_videos = False
    for path in sorted(paths, key=lambda p: natural_key(str(p))):
        if path.is_dir():
            contents = [p for p in path.iterdir() if not p.name.startswith(".")]
            kind = "frameless" if contents else "empty"
            nested_videos |= any(is_video_file(p) for p in contents)
        elif is_image_file(path):
            kind = "stray" if path in stray_images(path.parent) else "image"
        else:
            kind = "other"
        kinds.setdefault(kind, []).append(shown_path(path, root))
    lines = []
    for kind, names in kinds.items():
        one, several, hint = _IGNORED_KINDS[kind]
        if kind == "frameless" and nested_videos:
            hint = "video files go directly in train/ or test/, not in a sub-folder"
        listed = ", ".join(names[:MAX_NAMED]) + (
            f" and {len(names) - MAX_NAMED} more" if len(names) > MAX_NAMED else "")
        lines.append(f"ignored {len(names)} {one if len(names) == 1 else several}: {listed}"
                     + (f" ({hint})" if hint else ""))
    return lines


def shown_path(path: Path, root: Path) -> str:
    """`path` as messages show it: relative to the dataset's `root` when inside it."""
    return (path.relative_to(root) if path.is_relative_to(root) else path).as_posix()


def _has_image(folder: Path) -> bool:
    with os.scandir(folder) as entries:
        return any(e.is_file() and is_image_file(Path(e.name)) for e in entries)


def warn_missing(names: Iterable[str], what: str, where: Path) -> tuple[str, ...]:
    """Emit one `MissingVideosWarning` listing `names`, and return its message as a 1-tuple
    (a loader keeps it as `Dataset.left_out`, which a run records); () when none is missing."""
    names = sorted(names, key=natural_key)
    if not names:
        return ()
    message = (f"{where}: {len(names)} {what} video(s) with ground truth are missing and left "
               f"out: {', '.join(names)}")
    warnings.warn(message, MissingVideosWarning, stacklevel=3)
    return (message,)


def probed_length(path: Path) -> int | None:
    """Return the probed frame count of `path`, or None when it cannot be probed (no warning:
    decoding the video, or `check_dataset`, reports why, and a warning here would name the
    same file a second time in a run)."""
    try:
        return probe(path).n_frames
    except VideoReadError:
        return None


def check_dataset(dataset: Dataset, *, decode: bool = False) -> list[VideoProblem]:
    """Return every problem of a dataset's videos (empty list = all readable and consistent).

    Each video is probed (cheap); with `decode=True` it is decoded in full, which also finds
    truncated or corrupt payloads. Label vectors must have one entry per (probed or decoded)
    frame.
    """
    problems: list[VideoProblem] = []
    for split, videos in (("train", dataset.train), ("test", dataset.test)):
        for video in videos:
            try:
                if decode:
                    n_frames = sum(1 for _ in video.frames())
                else:
                    n_frames = probe(video.path).n_frames
            except VideoReadError as error:
                problems.append(VideoProblem(split, video.name, video.path, str(error)))
                continue
            if video.labels is not None and len(video.labels) != n_frames:
                problems.append(
                    VideoProblem(
                        split,
                        video.name,
                        video.path,
                        f"ground truth has {len(video.labels)} frame labels but the video has "
                        f"{n_frames} frames",
                    )
                )
    return problems
