"""ShanghaiTech Campus: `training/videos/01_001.avi`.., `testing/frames/01_0014/000.jpg`..

Ground truth: `testing/test_frame_mask/<scene>_<clip>.npy` (official; also accepted at
`test_frame_mask/` in the root), one 0/1 label per frame. Training videos may also be frame
folders under `training/frames/`. `scenes=` keeps only some scenes (e.g. `[1, "04"]`) in
both splits; the paper protocol trains one model on all scenes. Test videos with ground
truth but no frames are left out with a `MissingVideosWarning`. Protocol smoothing
sigma: 7 (AI-VAD). `ground_truth(root)` reads the labels of all 107 test videos from the
masks alone (no training videos or frames needed).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np

from mulde.datasets.base import Dataset
from mulde.datasets.common import DatasetError, first_existing, list_videos, warn_missing
from mulde.datasets.formats import FRAME_MASKS, missing_ground_truth
from mulde.datasets.ground_truth import GroundTruth, VideoTruth
from mulde.datasets.labels import as_labels
from mulde.video.source import Video

SMOOTHING_SIGMA = 7.0


def read_gt(folder: Path, names: Iterable[str] | None = None) -> dict[str, np.ndarray]:
    """Return {video name: int8 frame labels} from a `test_frame_mask` folder of `.npy` files."""
    paths = {p.stem: p for p in sorted(folder.glob("*.npy"))}
    if not paths:
        raise DatasetError(f"{folder}: no .npy frame masks")
    labels = {}
    for name in paths if names is None else names:
        if name not in paths:
            raise DatasetError(f"{folder}: no frame mask {name}.npy")
        try:
            values = np.load(paths[name], allow_pickle=False)
        except (ValueError, OSError) as error:
            raise DatasetError(f"{paths[name]}: cannot read frame mask ({error})") from error
        labels[name] = as_labels(values, source=str(paths[name]))
    return labels


def scene_of(name: str) -> str:
    """Return the two-digit scene of a video name ('01_0014' -> '01')."""
    return name.split("_", 1)[0]


def _scene_keys(scenes: Iterable[int | str] | None, known: Iterable[str], where: Path
                ) -> set[str] | None:
    """The two-digit scenes of `scenes` (None: every scene; `[1, "04"]` -> {"01", "04"}).
    DatasetError naming `where`, the value that is not a scene number and the scenes `known`
    there (two-digit names)."""
    if scenes is None:
        return None
    keys = set()
    for s in scenes:
        try:
            keys.add(f"{int(s):02d}")
        except (TypeError, ValueError):
            raise DatasetError(f"{where}: --scenes {s}: not a scene number"
                               f"{_scenes_here(known)}") from None
    return keys


def _scenes_here(known: Iterable[str]) -> str:
    """"; the scenes here are 01, 04" for the sorted scenes `known` ("" for none)."""
    names = sorted(set(known))
    return f"; the scenes here are {', '.join(names)}" if names else ""


def _gt_dir(root: Path) -> Path:
    candidates = [root / "testing" / "test_frame_mask", root / "test_frame_mask"]
    gt_dir = next((p for p in candidates if p.exists()), None)
    if gt_dir is None:
        raise missing_ground_truth(root, candidates, (FRAME_MASKS,), "shanghaitech")
    return gt_dir


def ground_truth(root: Path, *, scenes: Iterable[int | str] | None = None) -> GroundTruth:
    """Return the labels of the test videos in `test_frame_mask` (optionally some scenes)."""
    root = Path(root)
    gt_dir = _gt_dir(root)
    names = sorted(p.stem for p in gt_dir.glob("*.npy"))
    keep = _scene_keys(scenes, map(scene_of, names), gt_dir)
    selected = [n for n in names if keep is None or scene_of(n) in keep]
    if keep is not None and not selected:
        raise DatasetError(f"{gt_dir}: no frame masks of scene(s) {', '.join(sorted(keep))}"
                           f"{_scenes_here(map(scene_of, names))}")
    labels = read_gt(gt_dir, selected)
    return GroundTruth(
        "shanghaitech",
        root,
        {n: VideoTruth(n, str(gt_dir / f"{n}.npy"), y) for n, y in labels.items()},
        SMOOTHING_SIGMA,
    )


def load(root: Path, *, scenes: Iterable[int | str] | None = None) -> Dataset:
    """Load ShanghaiTech Campus, optionally restricted to some scenes."""
    root = Path(root)
    train_dir = first_existing(
        [root / "training" / "videos", root / "training" / "frames"], "ShanghaiTech training"
    )
    test_dir = first_existing([root / "testing" / "frames"], "ShanghaiTech test frames")
    gt_dir = _gt_dir(root)
    train = list_videos(train_dir)
    tests = list_videos(test_dir)
    present = {scene_of(n) for n in [*train, *tests]}
    keep = _scene_keys(scenes, present, root)

    def selected(names: Iterable[str]) -> list[str]:
        return [n for n in names if keep is None or scene_of(n) in keep]

    available = selected(p.stem for p in gt_dir.glob("*.npy"))
    unlabelled = sorted(set(selected(tests)) - set(available))
    if unlabelled:
        raise DatasetError(f"{gt_dir}: no ground truth for test videos {', '.join(unlabelled)}")
    left_out = warn_missing(set(available) - set(tests), "test", test_dir)
    if keep is not None:
        absent = sorted(keep - present)
        if absent:
            raise DatasetError(f"{root}: no videos of scene(s) {', '.join(absent)}"
                               f"{_scenes_here(present)}")
    labels = read_gt(gt_dir, selected(tests))
    views = {scene_of(n) for n in [*selected(train), *selected(tests)]}
    return Dataset(
        "shanghaitech",
        root,
        tuple(Video(n, train[n]) for n in selected(train)),
        tuple(Video(n, tests[n], labels[n]) for n in selected(tests)),
        SMOOTHING_SIGMA,
        one_view=len(views) <= 1,
        left_out=left_out,
        view_of=scene_of,
    )
