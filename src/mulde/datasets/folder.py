"""A user's own videos: `root/train/` (normal videos) and `root/test/`.

Each folder holds video files and/or frame folders (see `common.list_videos`); a missing
folder gives an empty split (at least one must exist; the pipeline needs both), a folder
without any video is an error. Other entries (a stray file, an empty folder, a folder
without frame images; hidden ones aside) are left out with one `IgnoredFilesWarning` per
kind naming them. Test labels come from the optional
`root/labels.csv` (or `labels=`), with a header and the columns `video,start,end`: the
video's name (file stem or frame-folder name) and one anomalous frame range per row,
0-based with an inclusive end; a video may have several rows, test videos without rows
are all-normal. Without a CSV the test labels are None. Videos are not decoded when loading;
only test videos named in the CSV (and the others, for their all-normal labels) are probed
for their frame count. Smoothing sigma: 3 (the Ped2/Avenue protocol value; override it with
`load_dataset(..., smoothing_sigma=...)`). `ground_truth(root)` reads `labels.csv` alone:
ranges only (the frame count comes from the caller), the test videos named by `test/` when
it exists, else by the CSV (which then cannot name an all-normal test video: a row is an
anomalous range).
"""

from __future__ import annotations

import csv
import math
import os
import unicodedata
import warnings
from pathlib import Path

import numpy as np

from mulde.datasets.base import Dataset
from mulde.datasets.common import (
    MAX_NAMED,
    DatasetError,
    LabelsNotFoundWarning,
    list_videos,
    probed_length,
    shown_path,
    warn_ignored,
)
from mulde.datasets.ground_truth import GroundTruth, VideoTruth
from mulde.datasets.labels import (
    ONE_BASED_HINT,
    CsvRange,
    Range,
    RangeError,
    ranges_to_labels,
)
from mulde.io.features import other_separator, whole_number
from mulde.video.decode import VIDEO_SUFFIXES
from mulde.video.source import Video

SMOOTHING_SIGMA = 3.0
CSV_COLUMNS = ("video", "start", "end")


def read_labels_csv(path: Path) -> dict[str, list[Range]]:
    """Return {video: [(start, end), ...]} (0-based, inclusive) from a `video,start,end` CSV;
    each range a `CsvRange`, which keeps its line for the errors of the videos' checks.

    Raises `DatasetError` naming file, row (the line number) and field for a missing header,
    an empty video name, a non-integer or negative frame number, or end < start.
    """
    ranges: dict[str, list[Range]] = {}
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            header = [h.strip() for h in reader.fieldnames or []]
            if header != list(CSV_COLUMNS):
                a_range = len(header) == 3 and all(h.isdigit() for h in header[1:])
                # one field holding a semicolon or a tab: another locale's CSV, or a TSV
                other = other_separator(header[0], spaces=False) if len(header) == 1 else None
                raise DatasetError(
                    f"{path}, row 1: header must be {','.join(CSV_COLUMNS)}, got "
                    f"{','.join(header) or 'nothing'}"
                    + (f" (a range: add the line {','.join(CSV_COLUMNS)} above it)"
                       if a_range else f" (one field); {other}" if other else "")
                )
            reader.fieldnames = header
            for row in reader:
                line = reader.line_num
                if None in row or any(row[c] is None for c in CSV_COLUMNS):
                    found = sum(row[c] is not None for c in CSV_COLUMNS) + len(row.get(None) or [])
                    semicolons = any(";" in (row[c] or "") for c in CSV_COLUMNS)
                    raise DatasetError(
                        f"{path}, row {line}: expected 3 fields ({','.join(CSV_COLUMNS)}), "
                        f"found {found}" + ("; separate them with commas, not semicolons"
                                            if semicolons else ""))
                name = row["video"].strip()
                if not name:
                    raise DatasetError(f"{path}, row {line}, field video: empty video name")
                start, end = (_frame(path, line, c, row[c]) for c in ("start", "end"))
                if end < start:
                    raise DatasetError(
                        f"{path}, row {line}, field end: end {end} is before start {start}"
                    )
                ranges.setdefault(name, []).append(CsvRange(start, end, line))
    except FileNotFoundError as error:
        raise DatasetError(f"{path}: file not found") from error
    except (csv.Error, UnicodeDecodeError) as error:
        raise DatasetError(f"{path}: malformed CSV ({error})") from error
    return ranges


def _frame(path: Path, line: int, column: str, text: str) -> int:
    """The 0-based frame number of a labels.csv field: a whole number (`whole_number`: 108.0,
    as pandas writes one in a column with gaps, too); DatasetError naming file, row and field
    for anything else (a time in seconds, 4.3, among them)."""
    value = whole_number(text)
    if value is None:
        try:
            seconds = math.isfinite(float(text))  # a time in seconds is a finite fraction
        except ValueError:
            seconds = False
        raise DatasetError(
            f"{path}, row {line}, field {column}: not a whole frame number ({text!r}); "
            "give 0-based frame numbers" + (", not times in seconds" if seconds else ""))
    if value < 0:
        raise DatasetError(f"{path}, row {line}, field {column}: negative frame {value}")
    return value


def ground_truth(root: Path, *, labels: Path | None = None) -> GroundTruth:
    """Return the test videos' anomalous ranges from the labels CSV (no videos decoded)."""
    root = Path(root)
    csv_path = Path(labels) if labels is not None else root / "labels.csv"
    ranges = read_labels_csv(csv_path)
    test_dir = root / "test"
    names = list(list_videos(test_dir)) if test_dir.is_dir() else list(ranges)
    ranges = _spelled_as_files(ranges, names)
    _check_named(csv_path, test_dir, ranges, names)
    if test_dir.is_dir():
        to_add = f"the test videos are those in {test_dir}: put the video there"
    else:  # a labels.csv row is an anomalous range: no row declares an all-normal video
        to_add = (f"{root} has no test/ folder, so the test videos are those {csv_path.name} "
                  "names, and it names only videos with an anomalous range: for all-normal "
                  f"test videos too, put every test video in {test_dir} (video files or "
                  f"frame folders; {csv_path.name} keeps the ranges)")
    return GroundTruth(
        "folder",
        root,
        {n: VideoTruth(n, str(csv_path), ranges=tuple(ranges.get(n, []))) for n in names},
        SMOOTHING_SIGMA,
        to_add_a_video=to_add,
    )


def load(root: Path, *, labels: Path | None = None) -> Dataset:
    """Load a folder of the user's videos (see the module docstring)."""
    root = Path(root)
    train_dir, test_dir = root / "train", root / "test"
    if not train_dir.is_dir() and not test_dir.is_dir():
        raise DatasetError(f"{root}: neither a train/ nor a test/ folder; put normal videos "
                           f"in {train_dir} and the videos to score in {test_dir}")
    ignored: list[Path] = []
    train = list_videos(train_dir, ignored) if train_dir.is_dir() else {}
    tests = list_videos(test_dir, ignored) if test_dir.is_dir() else {}
    for folder, videos in ((train_dir, train), (test_dir, tests)):
        if folder.is_dir() and not videos:
            raise DatasetError(
                f"{folder}: no videos; put video files ({', '.join(sorted(VIDEO_SUFFIXES))}) "
                "or folders of frame images directly in it")
    warn_ignored(ignored, root)
    csv_path = Path(labels) if labels is not None else root / "labels.csv"
    if labels is None and not csv_path.is_file():
        if tests:  # labels for test videos that are there
            _warn_other_csv(root, csv_path)
        test = tuple(Video(n, p) for n, p in tests.items())
    else:
        ranges = _spelled_as_files(read_labels_csv(csv_path), list(tests))
        _check_named(csv_path, test_dir, ranges, list(tests))
        test = _labelled(csv_path, ranges, tests)
    return Dataset(
        "folder", root, tuple(Video(n, p) for n, p in train.items()), test, SMOOTHING_SIGMA,
        ignored=tuple(ignored),
    )


def _warn_other_csv(root: Path, csv_path: Path) -> None:
    """Warn (`LabelsNotFoundWarning`) when `csv_path` is missing but `root`, its train/ or
    its test/ holds a CSV file that looks like labels (its name holds "label", or its first
    line a "video" field): a labels file misplaced or misnamed (test/labels.csv, label.csv)
    would otherwise only show as "no labels were given" after the whole run."""
    found = sorted(p for folder in (root, root / "train", root / "test") if folder.is_dir()
                   for p in folder.iterdir()
                   if p.is_file() and p.suffix.lower() == ".csv" and _looks_like_labels(p))
    if found:
        shown = ", ".join(shown_path(p, root) for p in found[:MAX_NAMED])
        more = f" and {len(found) - MAX_NAMED} more" if len(found) > MAX_NAMED else ""
        warnings.warn(f"{root}: no {csv_path.name}, so the test videos are scored without "
                      f"labels (no AUC); found {shown}{more}: labels are read from "
                      f"{csv_path} only (if that is the labels file, move or rename it there)",
                      LabelsNotFoundWarning, stacklevel=3)


def _looks_like_labels(path: Path) -> bool:
    """Whether the CSV file `path` may be a labels file: "label" in its name, or a field
    "video" in its first line (any case, spaces around it)."""
    if "label" in path.name.lower():
        return True
    try:
        with path.open(encoding="utf-8-sig", errors="replace") as f:
            first = f.readline(4096)
    except OSError:
        return False
    return "video" in (field.strip().lower() for field in first.split(","))


def _spelled_as_files(ranges: dict[str, list[Range]], names: list[str]
                      ) -> dict[str, list[Range]]:
    """The labels' video names spelled as the files are where the two differ only in their
    Unicode normal form ("café" typed as one character, "café" in a macOS file name as e and
    a combining accent: NFC and NFD); other names as written."""
    files = {unicodedata.normalize("NFC", n): n for n in names}
    return {n if n in names else files.get(unicodedata.normalize("NFC", n), n): r
            for n, r in ranges.items()}


def _in_subfolders(folder: Path, names: set[str]) -> dict[str, Path]:
    """The videos named `names` (`list_videos`: a video file or a frame folder) found in the
    sub-folders of `folder`, at any depth, which `list_videos(folder)` does not read: name ->
    the first found. Hidden folders and frame folders are not entered."""
    found: dict[str, Path] = {}
    for here, subfolders, _ in os.walk(folder):
        try:
            videos = list_videos(Path(here))
        except (DatasetError, OSError):
            videos = {}
        frame_folders = {p.name for p in videos.values()}
        subfolders[:] = sorted(d for d in subfolders
                               if not d.startswith(".") and d not in frame_folders)
        if Path(here) != folder:
            for name in names & set(videos):
                found.setdefault(name, videos[name])
    return found


def _check_named(csv_path: Path, test_dir: Path, ranges: dict[str, list[Range]],
                 names: list[str]) -> None:
    """Refuse labels of videos that `test_dir` does not hold, naming the ones it does (a
    label row names a video by its file name without the suffix: `cart`, not `cart.avi`)
    and, where such a name is a video of the train/ folder beside it or of a sub-folder of
    `test_dir` (which is not read), saying so."""
    unknown = sorted(set(ranges) - set(names))
    if not unknown:
        return
    train_dir = test_dir.parent / "train"
    try:
        training = set(list_videos(train_dir)) if train_dir.is_dir() else set()
    except (DatasetError, OSError):  # the error names the labels' problem all the same
        training = set()
    nested = _in_subfolders(test_dir, set(unknown) - training) if test_dir.is_dir() else {}
    shown = sorted(names)[:10]
    more = f" and {len(names) - len(shown)} more" if len(names) > len(shown) else ""
    named = [f"{n} (a training video, in {train_dir})" if n in training
             else f"{n} ({nested[n]} exists, but sub-folders of {test_dir} are not read)"
             if n in nested else n for n in unknown]
    advice = ("; training videos are normal video and take no labels: drop their rows, or "
              f"move a video with anomalies into {test_dir}") if training & set(unknown) else ""
    if nested:
        advice += f"; move a video out of its sub-folder into {test_dir} to score it"
    raise DatasetError(
        f"{csv_path}: labels for videos not in {test_dir}: {', '.join(named)}; its videos "
        f"are {', '.join(shown) or 'none'}{more} (a video file's name without its suffix, or "
        f"a frame folder's name){advice}")


def _labelled(csv_path: Path, ranges: dict[str, list[Range]], tests: dict[str, Path]
              ) -> tuple[Video, ...]:
    """The test videos with their labels. Every video whose ranges do not fit it is named in
    one `DatasetError`, the file once and the hint on frames counted from 1 once (a file
    numbered from 1 has a problem in most videos: all are said at once, not one per run)."""
    videos, problems = [], []
    for name, path in tests.items():
        try:
            videos.append(Video(name, path, _labels(path, ranges.get(name, []), name)))
        except RangeError as err:
            problems.append((err.where(name), err))
    hint = f" {ONE_BASED_HINT}" if any(err.one_based for _, err in problems) else ""
    if len(problems) == 1:
        (name, err), = problems
        raise DatasetError(f"{csv_path} ({name}): {err.problem}{hint}")
    if problems:
        listed = "; ".join(f"{name}: {err.problem}" for name, err in problems)
        raise DatasetError(f"{csv_path}: the ranges of {len(problems)} test videos do not fit "
                           f"them: {listed}{hint}")
    return tuple(videos)


def _labels(path: Path, ranges: list[Range], source: str) -> np.ndarray | None:
    n_frames = probed_length(path)
    if n_frames is None:
        return None
    return ranges_to_labels(ranges, n_frames, first_frame=0, source=source,
                            one_based_hint=True)
