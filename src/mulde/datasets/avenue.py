"""CUHK Avenue: `training_videos/01.avi`.., `testing_videos/01.avi`.. (16 + 21 videos).

Ground truth, either source (`gt_path=` picks one; default: the official masks if present):

- official `testing_label_mask/N_label.mat` (also under `ground_truth_demo/`): `volLabel`, a
  (1, T) cell of pixel masks; a frame is anomalous when its mask has any nonzero pixel;
- `avenue.mat` (Accurate-Interpretable-VAD): one (1, T) 0/1 vector per video, keyed '01'..'21'.

Test videos with ground truth but no file are left out with a `MissingVideosWarning` (the
ground truth of only the present videos is read). Protocol smoothing sigma: 3 (AI-VAD).
`ground_truth(root)` reads the labels of all test videos without the videos (both sources
fix each video's frame count).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from mulde.datasets.base import Dataset
from mulde.datasets.common import DatasetError, list_videos, require_dir, warn_missing
from mulde.datasets.ground_truth import GroundTruth, VideoTruth
from mulde.datasets.labels import as_labels
from mulde.datasets.matfile import cell_any, load_mat
from mulde.video.source import Video

SMOOTHING_SIGMA = 3.0
_MASK_FILE = re.compile(r"^(\d+)_label\.mat$")


def gt_names(gt_path: Path) -> list[str]:
    """Return the two-digit names ('01'..) of the videos that `gt_path` has labels for."""
    if gt_path.is_dir():
        names = [f"{int(m[1]):02d}" for p in gt_path.iterdir() if (m := _MASK_FILE.match(p.name))]
    else:
        names = [k for k in load_mat(gt_path) if not k.startswith("__")]
    return sorted(names)


def read_gt(gt_path: Path, names: list[str] | None = None) -> dict[str, np.ndarray]:
    """Return {name: int8 frame labels} from a mask folder or an `avenue.mat` file.

    `names` restricts reading to those videos (reading all 21 mask files takes seconds).
    """
    wanted = gt_names(gt_path) if names is None else names
    labels: dict[str, np.ndarray] = {}
    if gt_path.is_dir():
        for name in wanted:
            path = gt_path / f"{int(name)}_label.mat"
            if not path.is_file():
                raise DatasetError(f"{path}: ground-truth file of test video {name} not found")
            labels[name] = cell_any(path, "volLabel")
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
        raise DatasetError(
            f"{root}: ground truth not found (looked for {', '.join(str(p) for p in candidates)})"
        )
    return gt_path


def ground_truth(root: Path, *, gt_path: Path | None = None) -> GroundTruth:
    """Return the labels of every Avenue test video in the ground truth, videos not needed."""
    root = Path(root)
    gt_path = Path(gt_path) if gt_path is not None else _find_gt(root)
    labels = read_gt(gt_path)
    return GroundTruth(
        "avenue",
        root,
        {n: VideoTruth(n, str(gt_path), y) for n, y in labels.items()},
        SMOOTHING_SIGMA,
    )


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
    warn_missing(available - set(tests), "test", root / "testing_videos")
    labels = read_gt(gt_path, list(tests))
    return Dataset(
        "avenue",
        root,
        tuple(Video(n, p) for n, p in train.items()),
        tuple(Video(n, p, labels[n]) for n, p in tests.items()),
        SMOOTHING_SIGMA,
    )
