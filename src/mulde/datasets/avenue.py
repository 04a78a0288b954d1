"""CUHK Avenue: `training_videos/01.avi`.., `testing_videos/01.avi`.. (16 + 21 videos).

Ground truth, any of these sources (`gt_path=` picks one; default: the official masks if
present, else `avenue.mat`):

- official `testing_label_mask/N_label.mat` (also under `ground_truth_demo/`): `volLabel`, a
  (1, T) cell of pixel masks; a frame is anomalous when its mask has any nonzero pixel;
- `avenue.mat` of Accurate-Interpretable-VAD: one (1, T) 0/1 vector per video, keyed
  '01'..'21';
- `avenue.mat` of Liu et al. 2018 (future-frame prediction; the format of their ped1.mat and
  ped2.mat): a variable `gt`, a (1, 21) cell whose element i is a (2, K) array of 1-based
  inclusive [start; end] frame ranges of test video i + 1. Ranges become labels with each
  video's probed frame count (a video that cannot be probed keeps labels=None, as for UCSD).

The two `avenue.mat` forms are told apart by their variables; a file holding neither (or a
file of another kind) is a `DatasetError` saying what it holds and which formats are read.

Test videos with ground truth but no file are left out with a `MissingVideosWarning` (the
ground truth of only the present videos is read). Protocol smoothing sigma: 3 (AI-VAD).
`ground_truth(root)` reads the labels of all test videos without the videos (both sources
fix each video's frame count).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from mulde.datasets.base import Dataset
from mulde.datasets.common import (
    DatasetError,
    list_videos,
    probed_length,
    require_dir,
    warn_missing,
)
from mulde.datasets.formats import (
    AIVAD_VECTORS,
    AVENUE_MASKS,
    LIU_RANGES,
    missing_ground_truth,
    unknown_format,
)
from mulde.datasets.ground_truth import GroundTruth, VideoTruth
from mulde.datasets.labels import as_labels, ranges_to_labels
from mulde.datasets.matfile import cell_any, load_mat
from mulde.video.source import Video

SMOOTHING_SIGMA = 3.0
_MASK_FILE = re.compile(r"^(\d+)_label\.mat$")


_EXPECTED = (AVENUE_MASKS, LIU_RANGES, AIVAD_VECTORS)


def gt_format(gt_path: Path) -> str:
    """Return which ground-truth format `gt_path` holds: 'masks', 'liu' or 'aivad'.

    Raises `DatasetError` saying what the file holds when it is none of them."""
    if gt_path.is_dir():
        if any(_MASK_FILE.match(p.name) for p in gt_path.iterdir()):
            return "masks"
        raise unknown_format(gt_path, _EXPECTED)
    if gt_path.suffix.lower() != ".mat":
        raise unknown_format(gt_path, _EXPECTED)
    import scipy.io

    try:
        variables = {name: (shape, kind) for name, shape, kind in scipy.io.whosmat(str(gt_path))}
    except FileNotFoundError as error:
        raise DatasetError(f"{gt_path}: file not found") from error
    except (ValueError, TypeError, OSError, NotImplementedError):
        raise unknown_format(gt_path, _EXPECTED) from None
    if variables.get("gt", (None, None))[1] == "cell":
        return "liu"
    if variables and all(name.isdigit() for name in variables):
        return "aivad"
    raise unknown_format(gt_path, _EXPECTED)


def gt_names(gt_path: Path) -> list[str]:
    """Return the two-digit names ('01'..) of the videos that `gt_path` has labels for."""
    kind = gt_format(gt_path)
    if kind == "masks":
        names = [f"{int(m[1]):02d}" for p in gt_path.iterdir() if (m := _MASK_FILE.match(p.name))]
    elif kind == "liu":
        names = [f"{i + 1:02d}" for i in range(load_mat(gt_path, ["gt"])["gt"].size)]
    else:
        names = [k for k in load_mat(gt_path) if not k.startswith("__")]
    return sorted(names)


def read_gt(gt_path: Path, names: list[str] | None = None,
            n_frames: Mapping[str, int | None] | None = None) -> dict[str, np.ndarray | None]:
    """Return {name: int8 frame labels} from a mask folder or either `avenue.mat`.

    `names` restricts reading to those videos (reading all 21 mask files takes seconds).
    The ranges of Liu et al.'s file need `n_frames`, each video's frame count (None: that
    video's labels are None).
    """
    wanted = gt_names(gt_path) if names is None else names
    kind = gt_format(gt_path)
    labels: dict[str, np.ndarray | None] = {}
    if kind == "masks":
        for name in wanted:
            path = gt_path / f"{int(name)}_label.mat"
            if not path.is_file():
                raise DatasetError(f"{path}: ground-truth file of test video {name} not found")
            labels[name] = cell_any(path, "volLabel")
        return labels
    if kind == "liu":
        from mulde.datasets.ucsd import read_gt_mat

        ranges = read_gt_mat(gt_path)
        for name in wanted:
            index = int(name) - 1
            if not 0 <= index < len(ranges):
                raise DatasetError(f"{gt_path}: no labels for test video {name!r} (gt holds "
                                   f"{len(ranges)} videos)")
            if n_frames is None or name not in n_frames:
                raise DatasetError(f"{gt_path}: the frame ranges of test video {name} need "
                                   "its frame count")
            count = n_frames[name]
            labels[name] = None if count is None else ranges_to_labels(
                ranges[index], count, first_frame=1, source=f"{gt_path} (test video {name})")
        return labels
    data = load_mat(gt_path, wanted)
    for name in wanted:
        if name not in data:
            raise DatasetError(f"{gt_path}: no labels for test video {name!r}")
        labels[name] = as_labels(data[name], source=f"{gt_path}, variable {name!r}")
    return labels


def _find_gt(root: Path) -> Path:
    candidates = [
        root / "testing_label_mask",
        root / "ground_truth_demo" / "testing_label_mask",
        root / "avenue.mat",
    ]
    gt_path = next((p for p in candidates if p.exists()), None)
    if gt_path is None:
        raise missing_ground_truth(root, candidates, _EXPECTED, "avenue")
    return gt_path


def ground_truth(root: Path, *, gt_path: Path | None = None) -> GroundTruth:
    """Return the labels of every Avenue test video in the ground truth, videos not needed."""
    root = Path(root)
    gt_path = Path(gt_path) if gt_path is not None else _find_gt(root)
    if gt_format(gt_path) == "liu":  # ranges only: the frame counts come from the scores
        from mulde.datasets.ucsd import read_gt_mat

        truths = {f"{i + 1:02d}": VideoTruth(f"{i + 1:02d}", str(gt_path), None,
                                             tuple((s - 1, e - 1) for s, e in ranges))
                  for i, ranges in enumerate(read_gt_mat(gt_path))}
    else:
        truths = {n: VideoTruth(n, str(gt_path), y) for n, y in read_gt(gt_path).items()}
    return GroundTruth("avenue", root, truths, SMOOTHING_SIGMA)


def load(root: Path, *, gt_path: Path | None = None) -> Dataset:
    """Load CUHK Avenue with per-frame test labels (see the module docstring)."""
    root = Path(root)
    train = list_videos(require_dir(root / "training_videos", "training_videos"))
    tests = list_videos(require_dir(root / "testing_videos", "testing_videos"))
    gt_path = Path(gt_path) if gt_path is not None else _find_gt(root)
    available = set(gt_names(gt_path))
    unlabelled = sorted(set(tests) - available)
    if unlabelled:
        raise DatasetError(f"{gt_path}: no ground truth for test videos {', '.join(unlabelled)}")
    left_out = warn_missing(available - set(tests), "test", root / "testing_videos")
    counts = ({n: probed_length(p) for n, p in tests.items()}
              if gt_format(gt_path) == "liu" else None)
    labels = read_gt(gt_path, list(tests), counts)
    return Dataset(
        "avenue",
        root,
        tuple(Video(n, p) for n, p in train.items()),
        tuple(Video(n, p, labels[n]) for n, p in tests.items()),
        SMOOTHING_SIGMA,
        left_out=left_out,
    )
