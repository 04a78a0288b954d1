"""UCSD Ped1 / Ped2: the official layout and the frame-folder layout of most VAD code.

Layouts (`root` may also be the folder holding `UCSDped2/`):

- official: `UCSDped2/Train/Train001/001.tif`, `UCSDped2/Test/Test001/` (the `Test001_gt/`
  pixel-mask folders are skipped), ground truth `UCSDped2/Test/UCSDped2.m`;
- frame folders: `training/frames/01/000.jpg`, `testing/frames/01/`, ground truth `ped2.mat`
  (Liu et al. 2018: a (1, N) cell of [start; end] columns) or `UCSDped2.m` in the root.

Both ground-truth files state 1-based inclusive frame ranges, one entry per test video in
video order. `gt_path=` picks a file; by default the `.m` file is preferred, then the `.mat`.
Protocol smoothing sigma: 3 for Ped2 (AI-VAD); Ped1 uses 3 as well (our choice: same camera
set-up and frame rate; no published MULDE protocol).

`ground_truth(root, number=2)` reads the ground-truth file alone (no frames needed). The
ranges fix no frame count, so it uses the official lengths of the test clips
(`TEST_FRAMES`: Ped1 36 clips of 200 frames, Ped2 the 12 clips of 120-180 frames, 2,010 in
all) when the file lists the official number of clips, else it returns ranges only.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from mulde.datasets.base import Dataset
from mulde.datasets.common import DatasetError, list_videos, probed_length, require_dir
from mulde.datasets.formats import LIU_RANGES, UCSD_M, missing_ground_truth, unknown_format
from mulde.datasets.ground_truth import GroundTruth, VideoTruth
from mulde.datasets.labels import Range, ranges_to_labels
from mulde.datasets.matfile import load_mat
from mulde.video.source import Video

SMOOTHING_SIGMA = 3.0
VELOCITY_BINS = {2: 1}
"""Velocity bins of the published object-centric protocol per UCSD set: AI-VAD (Reiss &
Hoshen, feature_extraction.py) uses 1 bin, the mean flow speed, on Ped2; Ped1 has none."""
# frame counts of the official test clips (UCSD Anomaly Detection Dataset; Ped2's as listed in
# ../shared/data/README.md and checked against its frame folders in tests/test_datasets.py)
TEST_FRAMES = {
    1: (200,) * 36,
    2: (180, 180, 150, 180, 150, 180, 180, 180, 120, 150, 180, 180),
}

_GT_LINE = re.compile(
    r"^\s*TestVideoFile\s*\{\s*(?P<index>end\s*\+\s*1|\d+)\s*\}\s*\.\s*gt_frame\s*=\s*"
    r"\[(?P<body>[^\]]*)\]\s*;?\s*$"
)
_RANGE_TOKEN = re.compile(r"(\d+)(?:\s*:\s*(\d+))?")


def parse_gt_m(path: Path) -> list[list[Range]]:
    """Return the 1-based inclusive ranges of each test video from an official `UCSDpedN.m`.

    Reads lines `TestVideoFile{end+1}.gt_frame = [61:180];` (also `[5:90, 140:200]`, single
    frames `[7]`, explicit indices `TestVideoFile{3}`); `%` comments and other statements
    are ignored. A malformed `gt_frame` line, or a range with end < start or a frame number
    below 1, raises `DatasetError` naming file and line.
    """
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError as error:
        raise DatasetError(f"{path}: file not found") from error
    videos: list[list[Range]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        code = line.split("%", 1)[0]
        if "gt_frame" not in code:
            continue
        match = _GT_LINE.match(code)
        if match is None:
            raise DatasetError(f"{path}, line {number}: cannot parse gt_frame statement {line!r}")
        index = match["index"]
        position = len(videos) if index.startswith("end") else int(index) - 1
        if position != len(videos):
            raise DatasetError(
                f"{path}, line {number}: video index {index} out of order "
                f"(expected {len(videos) + 1})"
            )
        body = match["body"]
        leftover = _RANGE_TOKEN.sub("", body).replace(",", "").strip()
        if leftover:
            raise DatasetError(f"{path}, line {number}: bad frame range text {leftover!r}")
        ranges = [
            (int(t[1]), int(t[2]) if t[2] else int(t[1])) for t in _RANGE_TOKEN.finditer(body)
        ]
        for start, end in ranges:
            _check_range(start, end, f"{path}, line {number}")
        videos.append(ranges)
    if not videos:
        raise DatasetError(f"{path}: no TestVideoFile{{...}}.gt_frame statements")
    return videos


def read_gt_mat(path: Path) -> list[list[Range]]:
    """Return the 1-based inclusive ranges per test video from a Liu et al. `pedN.mat` file.

    The variable `gt` is a (1, N) cell; element i is a (2, K) array whose columns are
    [start; end] of the K anomalous ranges of video i. Non-numeric or fractional frame
    numbers, end < start and frames below 1 raise `DatasetError` naming the file and element.
    """
    data = load_mat(path, ["gt"])
    if "gt" not in data or data["gt"].dtype != object:
        raise unknown_format(path, (LIU_RANGES, UCSD_M))
    videos = []
    for index, cell in enumerate(data["gt"].ravel(order="F")):
        where = f"{path}: gt{{{index + 1}}}"
        values = np.asarray(cell)
        if values.size == 0:
            videos.append([])
            continue
        if values.dtype.kind not in "biuf":
            raise DatasetError(f"{where} must hold frame numbers, got dtype {values.dtype}")
        if values.dtype.kind == "f" and not np.all(np.isfinite(values) & (values % 1 == 0)):
            raise DatasetError(f"{where} holds frame numbers that are not whole: {values.tolist()}")
        array = values.astype(np.int64)
        if array.ndim != 2 or array.shape[0] != 2:
            raise DatasetError(
                f"{where} must be a 2 x K array of [start; end], got shape {array.shape}"
            )
        for start, end in array.T:
            _check_range(int(start), int(end), where)
        videos.append([(int(s), int(e)) for s, e in array.T])
    return videos


def _check_range(start: int, end: int, where: str) -> None:
    """Raise `DatasetError` at `where` for a 1-based range with end < start or start < 1."""
    if start < 1:
        raise DatasetError(f"{where}: frame {start} in range {start}..{end} (frames count from 1)")
    if end < start:
        raise DatasetError(f"{where}: range {start}..{end} ends before it starts")


def read_gt(path: Path) -> list[list[Range]]:
    """Return per-video 1-based inclusive ranges from a `.m` or `.mat` ground-truth file."""
    if path.suffix.lower() == ".m":
        return parse_gt_m(path)
    if path.suffix.lower() == ".mat":
        return read_gt_mat(path)
    raise unknown_format(path, (UCSD_M, LIU_RANGES))


def load_ped2(root: Path, *, gt_path: Path | None = None) -> Dataset:
    """Load UCSD Ped2 (16 training, 12 test videos)."""
    return _load(root, number=2, gt_path=gt_path)


def load_ped1(root: Path, *, gt_path: Path | None = None) -> Dataset:
    """Load UCSD Ped1 (34 training, 36 test videos)."""
    return _load(root, number=1, gt_path=gt_path)


def _load(root: Path, *, number: int, gt_path: Path | None) -> Dataset:
    root = Path(root)
    tag = f"UCSDped{number}"
    if (root / tag).is_dir():
        root = root / tag
    if (root / "Train").is_dir() or (root / "Test").is_dir():
        train_dir = require_dir(root / "Train", "training")
        test_dir = require_dir(root / "Test", "test")
        gt_candidates = [test_dir / f"{tag}.m", root / f"{tag}.m"]
    else:
        train_dir = require_dir(root / "training" / "frames", "training frames")
        test_dir = require_dir(root / "testing" / "frames", "test frames")
        gt_candidates = [root / f"{tag}.m", root / f"ped{number}.mat"]
    if gt_path is None:
        gt_path = next((p for p in gt_candidates if p.is_file()), None)
        if gt_path is None:
            raise missing_ground_truth(root, gt_candidates, (UCSD_M, LIU_RANGES),
                                          f"ucsd_ped{number}")
    gt = read_gt(Path(gt_path))
    train = [Video(n, p) for n, p in _videos(train_dir).items()]
    tests = _videos(test_dir)
    if len(gt) != len(tests):
        raise DatasetError(
            f"{gt_path}: ground truth for {len(gt)} test videos but {test_dir} holds {len(tests)}"
        )
    test = []
    for (name, path), ranges in zip(tests.items(), gt, strict=True):
        n_frames = probed_length(path)
        labels = None
        if n_frames is not None:
            labels = ranges_to_labels(
                ranges, n_frames, first_frame=1, source=f"{gt_path} (test video {name})"
            )
        test.append(Video(name, path, labels))
    return Dataset(f"ucsd_ped{number}", root, tuple(train), tuple(test), SMOOTHING_SIGMA,
                   velocity_bins=VELOCITY_BINS.get(number))


def _find_gt(root: Path, tag: str, number: int) -> Path:
    candidates = [
        root / "Test" / f"{tag}.m",
        root / f"{tag}.m",
        root / f"ped{number}.mat",
        root / "testing" / f"ped{number}.mat",
    ]
    for path in candidates:
        if path.is_file():
            return path
    raise missing_ground_truth(root, candidates, (UCSD_M, LIU_RANGES), f"ucsd_ped{number}")


def ground_truth(root: Path, *, number: int = 2, gt_path: Path | None = None) -> GroundTruth:
    """Return the test ground truth of UCSD Ped`number` from its ground-truth file alone.

    Video names: those of the test folder when one exists (`Test/Test001`.. or
    `testing/frames/01`..), else the two-digit names `01`, `02`, ... of the frame-folder
    layout. Labels are complete when the file lists the official number of test clips
    (frame counts `TEST_FRAMES[number]`), else ranges only (0-based inclusive).
    """
    root = Path(root)
    tag = f"UCSDped{number}"
    if (root / tag).is_dir():
        root = root / tag
    gt_path = Path(gt_path) if gt_path is not None else _find_gt(root, tag, number)
    gt = read_gt(gt_path)
    folders = [root / "Test", root / "testing" / "frames"]
    folder = next((f for f in folders if f.is_dir()), None)
    names = list(_videos(folder)) if folder is not None else []
    if folder is not None and len(names) != len(gt):
        raise DatasetError(
            f"{gt_path}: ground truth for {len(gt)} test videos but {folder} holds {len(names)}"
        )
    if folder is None:
        names = [f"{i:02d}" for i in range(1, len(gt) + 1)]
    counts = TEST_FRAMES.get(number)
    videos = {}
    for i, (name, ranges) in enumerate(zip(names, gt, strict=True)):
        zero_based = tuple((s - 1, e - 1) for s, e in ranges)
        if counts is not None and len(counts) == len(gt):
            labels = ranges_to_labels(
                ranges, counts[i], first_frame=1, source=f"{gt_path} (test video {name})"
            )
            videos[name] = VideoTruth(name, str(gt_path), labels)
        else:
            videos[name] = VideoTruth(name, str(gt_path), ranges=zero_based)
    return GroundTruth(f"ucsd_ped{number}", root, videos, SMOOTHING_SIGMA)


def ground_truth_ped2(root: Path, *, gt_path: Path | None = None) -> GroundTruth:
    """Return UCSD Ped2's test ground truth (see `ground_truth`)."""
    return ground_truth(root, number=2, gt_path=gt_path)


def ground_truth_ped1(root: Path, *, gt_path: Path | None = None) -> GroundTruth:
    """Return UCSD Ped1's test ground truth (see `ground_truth`)."""
    return ground_truth(root, number=1, gt_path=gt_path)


def _videos(folder: Path) -> dict[str, Path]:
    return {n: p for n, p in list_videos(folder).items() if not n.endswith("_gt")}
