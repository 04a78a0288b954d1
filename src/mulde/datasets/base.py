"""The benchmark record: normal training videos, labelled test videos and the protocol settings
the benchmark's evaluation follows (METHOD: "Video protocol")."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from mulde.video.source import Video


@dataclass(frozen=True)
class Dataset:
    """A benchmark: normal training videos, test videos with labels, and protocol settings."""

    name: str
    root: Path
    train: tuple[Video, ...]
    test: tuple[Video, ...]
    smoothing_sigma: float = 3.0
    one_view: bool = True  # every video from one static camera view (a scene model applies)
    # with several views: a video name -> its camera view (one scene model per view), or None
    # when the dataset does not say which camera took which video
    view_of: Callable[[str], str] | None = field(default=None, compare=False, repr=False)
    # the velocity histogram's bins in the published object-centric protocol of this
    # benchmark (AI-VAD's feature_extraction.py: 1 on UCSD Ped2, the mean speed; 8 elsewhere),
    # which the extractors that follow that protocol take (`registry.for_dataset`); None:
    # the extractor's own
    velocity_bins: int | None = None
    # entries of a user's train/ or test/ folder that are no video (a stray file, an empty
    # folder), left out with an `IgnoredFilesWarning`; a run records them
    # (`datasets.common.ignored_lines`)
    ignored: tuple[Path, ...] = field(default=(), compare=False)
    # the videos the dataset's ground truth or split lists name but that are not on disk, in
    # the words of the loader's `MissingVideosWarning` (`datasets.common.warn_missing`): a
    # partial copy of a benchmark, whose metrics do not compare with the published ones
    left_out: tuple[str, ...] = field(default=(), compare=False)
