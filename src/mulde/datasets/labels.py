"""The one conversion between anomalous frame ranges and per-frame 0/1 labels.

Every ground-truth format that states ranges goes through `ranges_to_labels`; what differs
between formats is only the number of the first frame (`first_frame`: 1 for the MATLAB /
UCSD / UCF-Crime files, 0 for UBnormal tracks and the folder CSV). Ends are inclusive.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from mulde.datasets.common import DatasetError

Range = tuple[int, int]
ONE_BASED_HINT = ("(frames here count from 0: if yours count from 1, subtract 1 from every "
                  "frame number)")
"""What `ranges_to_labels(one_based_hint=True)` adds to a range one past a video's end."""


class RangeError(DatasetError):
    """A labelled range that does not fit its video (`ranges_to_labels`). The message is
    "<source>: <problem>" (plus `ONE_BASED_HINT` where it applies); `problem` is the part
    after the source, `one_based` whether the hint applies, so that a caller listing many
    videos can say each problem once and the hint once, and `bad` the range itself as the
    caller gave it (a `CsvRange` says its file's line)."""

    def __init__(self, source: str, problem: str, one_based: bool = False,
                 bad: Range | None = None) -> None:
        super().__init__(f"{source}: {problem}" + (f" {ONE_BASED_HINT}" if one_based else ""))
        self.problem, self.one_based, self.bad = problem, one_based, bad

    def where(self, video: str) -> str:
        """`video`, with the labels file's row of the range when it came from one ("v, row
        4"), for the messages that name the video."""
        line = getattr(self.bad, "line", None)
        return video if line is None else f"{video}, row {line}"


class CsvRange(tuple):
    """An inclusive (start, end) range read from a labels file, equal to the plain tuple,
    that also keeps `line`, the file's line it was read from (1 is the header), so that an
    error about it can name the row."""

    line: int

    def __new__(cls, start: int, end: int, line: int) -> CsvRange:
        made = super().__new__(cls, (start, end))
        made.line = line
        return made

    def __reduce__(self):  # pickled and copied with its line (a tuple's takes no line)
        return type(self), (self[0], self[1], self.line)


def ranges_to_labels(
    ranges: Iterable[Range], n_frames: int, *, first_frame: int = 0, source: str = "",
    one_based_hint: bool = False,
) -> np.ndarray:
    """Return int8 labels of length `n_frames`, 1 inside any inclusive [start, end] range.

    Frame numbers count from `first_frame`. Ranges may overlap. A range with end < start or
    outside [first_frame, first_frame + n_frames - 1] raises `RangeError` (a `DatasetError`)
    naming `source`.
    `one_based_hint` (for a user's own file, whose frames count from 0): a range from frame 1
    on that ends one past the last frame, as numbers counted from 1 do, adds to that error
    to subtract 1 from every frame number (not for an official file, where such a range means
    a video decoded a frame short).
    """
    if n_frames < 0:
        raise DatasetError(f"{source}: negative frame count {n_frames}")
    labels = np.zeros(n_frames, dtype=np.int8)
    last = first_frame + n_frames - 1
    for given in ranges:
        start, end = (int(v) for v in given)
        if end < start:
            raise RangeError(source, f"range {start}..{end} ends before it starts", bad=given)
        if start < first_frame or end > last:
            # one past the last frame, from the second on: numbered from 1 where 0 is asked
            off_by_one = one_based_hint and first_frame == 0 and end == last + 1 and start > 0
            raise RangeError(source, f"range {start}..{end} lies outside the {n_frames} frames "
                             f"numbered {first_frame}..{last}", off_by_one, bad=given)
        labels[start - first_frame : end - first_frame + 1] = 1
    return labels


def labels_to_ranges(labels: np.ndarray, *, first_frame: int = 0) -> list[Range]:
    """Return the maximal inclusive runs of nonzero labels, numbered from `first_frame`."""
    flags = np.asarray(labels).astype(bool).astype(np.int8)
    edges = np.diff(np.concatenate(([0], flags, [0])))
    starts = np.flatnonzero(edges == 1)
    ends = np.flatnonzero(edges == -1) - 1
    return [(int(s) + first_frame, int(e) + first_frame) for s, e in zip(starts, ends, strict=True)]


def as_labels(values: np.ndarray, *, source: str) -> np.ndarray:
    """Return a 1-D array of 0/1 frame labels as int8, or raise `DatasetError` naming `source`.

    Accepts any numeric dtype holding only 0 and 1 (e.g. float64 1.0) and singleton axes
    (MATLAB row vectors).
    """
    array = np.asarray(values)
    if array.ndim != 1:
        squeezed = array.squeeze()
        array = squeezed.reshape(-1) if squeezed.ndim <= 1 else squeezed
    if array.ndim != 1:
        raise DatasetError(f"{source}: expected a vector of frame labels, got shape {array.shape}")
    if array.dtype.kind not in "biuf":
        raise DatasetError(f"{source}: frame labels must be numeric, got dtype {array.dtype}")
    bad = ~np.isin(array, (0, 1))
    if bad.any():
        index = int(np.flatnonzero(bad)[0])
        raise DatasetError(
            f"{source}: frame labels must be 0 or 1, frame {index} is {array[index].item()!r}"
        )
    return array.astype(np.int8)
