"""Naming the ground-truth formats: what a label file holds, and what a loader expected.

Loaders read the formats their module docstrings list. For any other file they raise
`unknown_format`, a `DatasetError` that says what the file holds (its MATLAB variables, or
its NumPy array's shape and values) and which formats would have been read, so a user
holding another copy of the labels knows what to convert.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from mulde.datasets.common import DatasetError, nearby_roots, roots_named

LIU_RANGES = ("'gt', a (1, N) MATLAB cell of [start; end] frame ranges per test video, "
              "1-based (Liu et al. 2018: ped1.mat, ped2.mat, avenue.mat)")
AIVAD_VECTORS = ("one 0/1 frame-label vector per test video, named by the video ('01', "
                 "'02', ...; Accurate-Interpretable-VAD's avenue.mat)")
UCSD_M = "the official UCSDpedN.m (TestVideoFile{end+1}.gt_frame = [61:180];)"
AVENUE_MASKS = "the official testing_label_mask/ folder of N_label.mat pixel masks"
FRAME_MASKS = "a test_frame_mask/ folder of <video>.npy 0/1 frame labels (official)"


def describe(path: Path) -> str:
    """Return a short description of what the label file at `path` holds."""
    path = Path(path)
    if path.is_dir():
        names = sorted(p.name for p in path.iterdir())[:5]
        return f"a folder holding {', '.join(names) or 'nothing'}"
    suffix = path.suffix.lower()
    if suffix == ".mat":
        try:
            import scipy.io

            found = scipy.io.whosmat(str(path))
        except (ValueError, TypeError, OSError, NotImplementedError) as error:
            return f"a file scipy cannot read as MATLAB v4-v7.2 ({error})"
        shown = [f"{name} ({'x'.join(map(str, shape))} {kind})" for name, shape, kind
                 in found[:8]]
        more = f" and {len(found) - 8} more" if len(found) > 8 else ""
        return f"MATLAB variables {', '.join(shown) or 'none'}{more}"
    if suffix == ".npy":
        try:
            array = np.load(path, allow_pickle=False, mmap_mode="r")
        except (ValueError, OSError) as error:
            return f"a file NumPy cannot read ({error})"
        what = f"a NumPy {array.dtype} array of shape {array.shape}"
        if array.dtype.kind in "biuf" and array.size and np.isin(array, (0, 1)).all():
            what += " of 0/1 values"
            if array.squeeze().ndim <= 1:
                what += (" (one label per frame of every test video concatenated, as "
                         "MNAD's frame_labels_*.npy?)")
        return what
    return f"a {suffix or 'suffix-less'} file"


def unknown_format(path: Path, expected: Sequence[str]) -> DatasetError:
    """Return the `DatasetError` for a label file in a format the loader does not read."""
    options = "; or ".join(expected)
    return DatasetError(f"{path}: ground-truth format not recognised: found {describe(path)}; "
                        f"expected {options}")


LABEL_SUFFIXES = (".mat", ".npy", ".m")

BENCHMARK_LABEL_FILES = {"ucsdped1.m": "ucsd_ped1", "ped1.mat": "ucsd_ped1",
                         "ucsdped2.m": "ucsd_ped2", "ped2.mat": "ucsd_ped2",
                         "avenue.mat": "avenue"}
"""Official ground-truth files (lower-case names) and the `--dataset` that reads each: found
under another dataset's root, they say which dataset the root holds."""


def missing_ground_truth(root: Path, looked_for: Sequence[Path],
                         expected: Sequence[str], dataset: str | None = None) -> DatasetError:
    """Return the `DatasetError` for ground truth not found at any of `looked_for`; label-like
    files (`LABEL_SUFFIXES`) lying in `root` are named with what they hold, since they are
    most likely the labels in another format, a benchmark's own file (`BENCHMARK_LABEL_FILES`)
    with its dataset (another than `dataset`, the one loading: "did you mean"; the same: where
    to move it), and a folder one level below or above `root` where a looked-for path exists
    is named as the root to use."""
    message = (f"{root}: ground truth not found (looked for "
               f"{', '.join(str(p) for p in looked_for)})")
    root = Path(root)
    relative = [Path(p).relative_to(root) for p in looked_for if Path(p).is_relative_to(root)]
    nearby = nearby_roots(root, lambda folder: any((folder / r).exists() for r in relative))
    if len(nearby) == 1:
        return DatasetError(f"{message}; {nearby[0]} has it: use --root {nearby[0]}")
    if nearby:
        return DatasetError(f"{message}; {roots_named(nearby, '{has} it')}")
    others = sorted(p for p in root.iterdir()
                    if p.is_file() and p.suffix.lower() in LABEL_SUFFIXES) if root.is_dir() else []
    known = [p for p in others if p.name.lower() in BENCHMARK_LABEL_FILES]
    if known:
        owner = BENCHMARK_LABEL_FILES[known[0].name.lower()]
        if owner == dataset:  # its own file, where this layout does not read it
            return DatasetError(f"{message}; {known[0].name} is its ground truth, but this "
                                "layout reads it from the paths above: move or rename it "
                                f"to {looked_for[0]}")
        # another benchmark's own labels: the dataset named is the mistake
        return DatasetError(f"{message}; {known[0].name} is the ground truth of {owner}: did "
                            f"you mean --dataset {owner}?")
    if others:
        message += (f"; {others[0].name} holds {describe(others[0])}, which is not a format "
                    f"read here")
    return DatasetError(f"{message}; expected {'; or '.join(expected)}")
