"""The folder layouts a dataset root must have, checked before a loader runs.

`check_layout(name, root)` raises one `DatasetError` when `root` holds none of the accepted
layouts of dataset `name`: it names what is missing, states every accepted layout, and, when
folders one level below `root` or up to two above it hold a complete layout (a `--root`
one level too high or too low), names them (`roots_named`: a few, and how many). The
loaders then check the rest (ground truth, file names) with their own errors.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from mulde.datasets.common import DatasetError, nearby_roots, roots_named

# per dataset: the accepted layouts, each a list of requirements; a requirement is a list of
# relative folders of which one must exist ('*' matches as in glob)
REQUIRED: dict[str, list[list[list[str]]]] = {
    "ucsd_ped2": [[["Train"], ["Test"]], [["training/frames"], ["testing/frames"]]],
    "ucsd_ped1": [[["Train"], ["Test"]], [["training/frames"], ["testing/frames"]]],
    "avenue": [[["training_videos"], ["testing_videos"]]],
    "shanghaitech": [[["training/videos", "training/frames"], ["testing/frames"]]],
    "ubnormal": [[["Scene*"]]],
    "folder": [[["train", "test"]]],
}

DESCRIPTION: dict[str, str] = {
    "ucsd_ped2": ("ROOT/Train/Train001/001.tif.. and ROOT/Test/Test001/.. with "
                  "ROOT/Test/UCSDped2.m (official; ROOT may also hold UCSDped2/), or "
                  "ROOT/training/frames/01/000.jpg.. and ROOT/testing/frames/01/.. with "
                  "ROOT/ped2.mat or ROOT/UCSDped2.m (frame folders)"),
    "ucsd_ped1": ("ROOT/Train/Train001/001.tif.. and ROOT/Test/Test001/.. with "
                  "ROOT/Test/UCSDped1.m (official; ROOT may also hold UCSDped1/), or "
                  "ROOT/training/frames/01/.. and ROOT/testing/frames/01/.. with "
                  "ROOT/ped1.mat or ROOT/UCSDped1.m (frame folders)"),
    "avenue": ("ROOT/training_videos/01.avi.., ROOT/testing_videos/01.avi.., and "
               "ROOT/testing_label_mask/ or ROOT/avenue.mat"),
    "shanghaitech": ("ROOT/training/videos/01_001.avi.. (or ROOT/training/frames/), "
                     "ROOT/testing/frames/01_0014/000.jpg.., and "
                     "ROOT/testing/test_frame_mask/01_0014.npy.."),
    "ubnormal": ("ROOT/Scene1/<video>.mp4.. with the split lists "
                 "(*_video_names.txt) in ROOT/splits/, ROOT or ROOT/scripts/"),
    "ucf_crime": ("the videos anywhere under ROOT, normal training videos in a "
                  "Training_Normal_Videos_Anomaly/ folder, and "
                  "Temporal_Anomaly_Annotation_for_Testing_Videos.txt under ROOT"),
    "folder": ("ROOT/train/ (normal videos: video files or folders of frame images) and "
               "ROOT/test/ (the videos to score), optionally ROOT/labels.csv with the "
               "columns video,start,end"),
}


# other names a user's own folders go by (other datasets' layouts): a rename hint for them
OTHER_NAMES: dict[str, dict[str, tuple[str, ...]]] = {
    "folder": {"train": ("training", "training_videos", "train_videos"),
               "test": ("testing", "testing_videos", "test_videos")},
}


def _exists(root: Path, relative: str) -> bool:
    if "*" in relative:
        return any(p.is_dir() for p in root.glob(relative))
    return (root / relative).is_dir()


def _missing(root: Path, layout: Sequence[Sequence[str]]) -> list[str]:
    """The requirements of `layout` that `root` does not meet (as 'a/ or b/' texts)."""
    return [" or ".join(f"{r}/" for r in options) for options in layout
            if not any(_exists(root, r) for r in options)]


def _holds(name: str, root: Path) -> bool:
    layouts = REQUIRED[name]
    roots = [root]
    if name.startswith("ucsd_ped"):  # the loader also accepts the folder above UCSDpedN/
        roots.append(root / f"UCSDped{name[-1]}")
    return any(not _missing(r, layout) for r in roots for layout in layouts)


def check_layout(name: str, root: Path) -> None:
    """Raise `DatasetError` when `root` holds no accepted layout of dataset `name`."""
    if name not in REQUIRED or _holds(name, root):
        return
    layouts = REQUIRED[name]
    missing = min((_missing(root, layout) for layout in layouts), key=len)
    message = (f"{root}: not the root of the {name} dataset ({' and '.join(missing)} "
               f"{'is' if len(missing) == 1 else 'are'} missing); expected "
               f"{DESCRIPTION[name]}")
    near = nearby_roots(root, lambda folder: _holds(name, folder), levels_up=2)
    if near:
        message += "; " + roots_named(near, "{has} that layout")
    if name != "folder" and "folder" in REQUIRED and _holds("folder", root):
        # a folder of one's own videos given as a benchmark: the loader, not the names
        held = " and ".join(f"{d}/" for d in ("train", "test") if (root / d).is_dir())
        raise DatasetError(message + f"; {root} holds {held}, the layout of your own videos: "
                           f"run `mulde run folder --root {root}`")
    cased = _other_case(root, [r for layout in layouts for options in layout for r in options])
    if cased:
        message += ("; folder names are case-sensitive: rename "
                    + ", ".join(f"{have}/ to {want}/" for have, want in cased))
    named = _other_name(root, OTHER_NAMES.get(name, {}))
    if named:
        message += "; rename " + ", ".join(f"{have}/ to {want}/" for have, want in named)
    raise DatasetError(message)


def _other_name(root: Path, names: dict[str, tuple[str, ...]]) -> list[tuple[str, str]]:
    """(folder found, name required) for each required folder that `root` lacks but holds
    under one of its other names (`OTHER_NAMES`: training/ for train/), in any case."""
    return _renames(root, names)


def _renames(root: Path, accepted: Mapping[str, Sequence[str]]) -> list[tuple[str, str]]:
    """(folder found, name required), in order, for each required name that `root` lacks
    and each of its folders whose lower-case name is among that name's `accepted` ones."""
    try:
        here = [p.name for p in root.iterdir() if p.is_dir()]
    except OSError:
        return []
    return [(have, want) for want, names in accepted.items() if not _exists(root, want)
            for have in here if have.lower() in names]


def _other_case(root: Path, required: Sequence[str]) -> list[tuple[str, str]]:
    """(folder found, name required) for each required folder of one level that `root`
    lacks but holds in another case (Train/ for train/): the loaders match names exactly,
    on every system alike."""
    return _renames(root, {name: (name.lower(),) for name in required  # in order, once each
                           if "/" not in name and "*" not in name})
