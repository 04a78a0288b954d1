"""The benchmark record: normal training videos, labelled test videos and the protocol settings
the benchmark's evaluation follows (METHOD: "Video protocol")."""

from __future__ import annotations

import hashlib
import os
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

    @property
    def cache_name(self) -> str:
        """The folder of this dataset's entries in a feature cache (the `dataset` argument of
        `mulde.video.cache.FeatureCache`): its name, and for a user's folder ("folder") also
        a short hash of its resolved root, "folder/<12 hex digits>", so that two folders
        sharing one cache, with videos of the same names, keep their own entries (they
        replaced each other's, and each run extracted every video again). A folder moved
        elsewhere is another root: its videos are extracted again."""
        if self.name != "folder":
            return self.name
        where = os.path.normcase(str(Path(self.root).resolve()))  # one case on Windows
        return f"folder/{hashlib.sha256(where.encode()).hexdigest()[:12]}"
