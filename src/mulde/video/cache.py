"""A per-video feature cache: one compressed .npz and one JSON sidecar per (video, extractor).

The sidecar is written last and marks the entry complete: an entry without it, or whose
sidecar disagrees with the extractor's parameters or the source's checksum, is recomputed.
Both files are written atomically, so a killed run never leaves a half-written entry that
reads as complete, and several shards (processes or machines) can fill one cache at once.
A video that could not be decoded leaves a failure record instead (`.failed.json`: the error,
the file's checksum and the decoder's version), so that a rerun skips it with the same error
without decoding it again, until the file or the decoder changes.

An entry keeps what its extraction warned about the video too (`VIDEO_WARNINGS`: its
timeline's gaps, a file cut short, boxes past the frame; held by `held_video_warnings`, in
the sidecar's `warnings`), and loading it warns them again, same class, same words, so a
run that reads its features from the cache, or from Ray's workers (whose warnings never
reach the driver), says and reports what a fresh extraction says. The warnings of a frame
folder's listing (`StrayImagesWarning`) are not kept: listing, which every run does, says
them.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import importlib.metadata
import json
import re
import sys
import warnings
import zipfile
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mulde.io.atomic import atomic_path, worded_error, write_json
from mulde.recorded import held_warnings
from mulde.video.decode import CutShortWarning, FrameTimelineWarning
from mulde.video.features.base import DamagedCacheEntryWarning, Extractor
from mulde.video.features.detections import BoxesOutsideFrameWarning
from mulde.video.features.records import ObjectFeatures, VideoFeatures
from mulde.video.source import Video, VideoReadError, source_checksum

CACHE_FORMAT = 2
"""Version of the entry layout; entries of another version are recomputed, never read.
2: streams as `ObjectFeatures` (boxes optional); extractors' keys carry explicit versions."""

KNOWN_FAILURE = " (found on an earlier run; the file is unchanged, so it was not decoded again)"
"""What a skipped video's error says when it comes from `FeatureCache.failure`."""


_SOURCE = "<source>"
"""Stands for the video's path in a stored failure's error, so that a record read through
another root (a benchmark's copy moved, or shared through one cache: a user's folder keys its
entries by its root, `Dataset.cache_name`) names the file where it is now."""


VIDEO_WARNINGS: tuple[type[Warning], ...] = (FrameTimelineWarning, CutShortWarning,
                                             BoxesOutsideFrameWarning)
"""The warnings about one video that its extraction raises and its cache entry keeps (the
module docstring): saved by class name, and said again by that class when the entry is
loaded (a name not among these, from another mulde, as a UserWarning with its words)."""
_BY_NAME = {c.__name__: c for c in VIDEO_WARNINGS}


def held_video_warnings() -> contextlib.AbstractContextManager[list[Warning]]:
    """Hold the `VIDEO_WARNINGS` raised inside the block in the list it yields (every one,
    also a repeat or one the filters ignore: the cache keeps what the video is, whatever is
    shown), for `FeatureCache.store`, and warn them again on the way out, an error's too, in
    order, at the lines that raised them (`mulde.recorded.held_warnings`). Every other
    warning is shown as it comes."""
    return held_warnings(VIDEO_WARNINGS, again=True)


def extractor_key(extractor: Extractor) -> str:
    """A file-name-safe key of the extractor's name, version and parameters."""
    blob = json.dumps({"v": extractor.version, "p": extractor.params}, sort_keys=True,
                      default=str)
    return f"{extractor.name}-{hashlib.sha256(blob.encode()).hexdigest()[:10]}"


def shard(items: Iterable[Any], spec: str | None) -> list[Any]:
    """Return the items of shard 'i/n' (0-based i: every n-th item from the i-th); every item
    for None. ValueError for any other spec, an empty one included (a job array's unset task
    variable, `--shard "$TASK/4"` or `--shard "$TASK"`, had run every video in every task)."""
    items = list(items)
    if spec is None:
        return items
    m = re.fullmatch(r"(\d+)/(\d+)", spec)
    if not m or not 0 <= int(m.group(1)) < int(m.group(2)):
        n = int(m.group(2)) if m else 0
        counted = (f" (i counts from 0: the shards are 0/{n} to {n - 1}/{n}; a job array "
                   "numbered from 1 gives its task id minus 1)" if m and n > 0 else "")
        unset = ("; a job array's task variable left unset gives this"
                 if not spec.strip() or spec.startswith("/") else "")
        raise ValueError(f"shard must be 'i/n' with 0 <= i < n, got {spec!r}{counted}{unset}")
    i, n = int(m.group(1)), int(m.group(2))
    return items[i::n]


_UNWRITABLE = (errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOSPC, errno.EDQUOT)


def unwritable_cache(err: OSError, root: str | Path) -> OSError | None:
    """What to raise for `err`, met storing an entry in the feature cache at `root`, where
    the cache cannot take it (a folder of it read-only, no permission, a full disk): the
    error's words and what to do, "the entries written so far are kept", its errno kept;
    None for any other error (a name too long for the file system), which is raised as it
    is, its path kept. The local extraction and the Ray workers say it alike."""
    if err.errno not in _UNWRITABLE:
        return None
    full = err.errno in (errno.ENOSPC, errno.EDQUOT)
    return worded_error(err.errno, f"{err.strerror or err}; " + (
        "free some space or give another --cache" if full else
        f"the feature cache {root} must be writable: give a writable --cache")
        + " (the entries written so far are kept)")


@dataclass(frozen=True)
class FeatureCache:
    """Feature files under root/<dataset>/<split>/<video>.<extractor key>.{npz,json}; the
    pipeline's <dataset> is `Dataset.cache_name` (a user's folder: folder/<hash of its root>).

    A video name with characters other than letters, digits, '_', '.' and '-' is written with
    those replaced by '_' plus a hash of the name, so that 'a b' and 'a_b' never share files.
    """

    root: Path

    def _paths(self, dataset: str, split: str, video: Video,
               extractor: Extractor) -> tuple[Path, Path]:
        safe = re.sub(r"[^\w.-]", "_", video.name)
        if safe != video.name:
            safe += "-" + hashlib.sha256(video.name.encode()).hexdigest()[:8]
        base = Path(self.root) / dataset / split / f"{safe}.{extractor_key(extractor)}"
        return base.with_suffix(base.suffix + ".npz"), base.with_suffix(base.suffix + ".json")

    def _failure_path(self, dataset: str, split: str, video: Video,
                      extractor: Extractor) -> Path:
        return self._paths(dataset, split, video, extractor)[0].with_suffix(".failed.json")

    def has(self, dataset: str, split: str, video: Video, extractor: Extractor) -> bool:
        """Whether `load` would find a current entry: its sidecar is there and matches the
        extractor and the source, as `load` checks, without reading the arrays (a damaged
        .npz is only found when loaded). Cheap: a video file's checksum is remembered
        (`mulde.io.hashing.file_sha256`), so the `load` after it does not read it again."""
        return self._current(self._paths(dataset, split, video, extractor), video,
                             extractor) is not None

    def _current(self, paths: tuple[Path, Path], video: Video, extractor: Extractor,
                 say_damaged: bool = False) -> dict[str, Any] | None:
        """The sidecar of the entry at `paths` when both its files are there and it matches
        the extractor and the source (`has`, `load`), else None. A sidecar that is no JSON
        object (truncated, garbled), whose `n_frames` is no whole number >= 1 (missing, a
        string) or whose `warnings` are not a list of {"category", "message"} strings
        (`_kept_warnings`; a sidecar without them, written before they were kept, has none)
        is damaged: with `say_damaged` (`load`, which follows `has` on the same entry) it is
        named in a `DamagedCacheEntryWarning`."""
        npz, side = paths
        if not side.exists() or not npz.exists():
            return None
        try:
            meta = json.loads(side.read_text(encoding="utf-8"))
            if not isinstance(meta, dict):
                raise ValueError(f"a JSON {type(meta).__name__}, not an object")
            n_frames = meta.get("n_frames")
            if isinstance(n_frames, bool) or not isinstance(n_frames, int) or n_frames < 1:
                raise ValueError("no n_frames" if "n_frames" not in meta else
                                 f"n_frames {json.dumps(n_frames)}, not a whole number >= 1")
            _kept_warnings(meta)
        except (OSError, ValueError) as err:  # a JSONDecodeError is a ValueError
            if say_damaged:
                _warn_damaged(side, err, stacklevel=4)
            return None
        try:
            if (meta.get("format") != CACHE_FORMAT
                    or meta.get("video") != video.name
                    or meta.get("params") != _jsonable(extractor.params)
                    or meta.get("version") != extractor.version
                    or meta.get("source_checksum") != source_checksum(video.path)):
                return None
        except (OSError, ValueError, VideoReadError):  # a frame folder that cannot be
            return None  # listed is a VideoReadError
        return meta

    def load(self, dataset: str, split: str, video: Video,
             extractor: Extractor) -> VideoFeatures | None:
        """Return the cached features, or None when missing, stale or unreadable (a corrupt
        or foreign entry is recomputed, never returned). A sidecar whose `n_frames` disagrees
        with the arrays (`_frames_disagree`) is named as damaged, and so are unreadable
        arrays. The warnings the entry keeps (`store`'s `warned`) are warned again, by their
        classes and in their words, the file's path in them read as the video's path now,
        once the entry is read (not for one returned as None, which is extracted again)."""
        paths = self._paths(dataset, split, video, extractor)
        meta = self._current(paths, video, extractor, say_damaged=True)
        if meta is None:
            return None
        n_frames = meta["n_frames"]
        try:
            with np.load(paths[0], allow_pickle=False) as data:
                arrays = {k: data[k] for k in data.files}
            fields: dict[str, dict[str, np.ndarray]] = {}
            for key, value in arrays.items():
                stream, field = key.split("/", 1)
                fields.setdefault(stream, {})[field] = value
            disagree = _frames_disagree(fields, n_frames)
            if disagree:
                _warn_damaged(paths[1], ValueError(disagree), stacklevel=3)
                return None
            features = VideoFeatures({s: ObjectFeatures.from_arrays(a, n_frames,
                                                                     str(paths[0]))
                                      for s, a in fields.items()}, n_frames)
        except (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile,
                zlib.error) as err:
            _warn_damaged(paths[0], err, stacklevel=3)
            return None
        _warn_again(_kept_warnings(meta), video)
        return features

    def store(self, dataset: str, split: str, video: Video, extractor: Extractor,
              features: VideoFeatures, warned: Sequence[Warning] = ()) -> Path:
        """Write one entry atomically (arrays first, sidecar last); return the .npz path.
        `warned`: what extracting the video warned (`held_video_warnings`); those of
        `VIDEO_WARNINGS`' classes are kept in the sidecar's `warnings` ({"category": class
        name, "message": the words, a leading path of the video written as "<source>"}),
        for `load` to warn again."""
        npz, side = self._paths(dataset, split, video, extractor)
        arrays = {f"{s.value}/{k}": np.asarray(v) for s, record in features.items()
                  for k, v in record.as_arrays().items()}
        with atomic_path(npz) as tmp, open(tmp, "wb") as fh:
            np.savez_compressed(fh, **arrays)
        from mulde import __version__

        meta = {"format": CACHE_FORMAT, "extractor": extractor.name,
                "version": extractor.version, "params": _jsonable(extractor.params),
                "video": video.name, "source": str(video.path), "n_frames": int(features.n_frames),
                "source_checksum": source_checksum(video.path), "mulde_version": __version__,
                "warnings": _to_keep(warned, video)}
        write_json(side, meta)
        self._failure_path(dataset, split, video, extractor).unlink(missing_ok=True)
        return npz

    def store_failure(self, dataset: str, split: str, video: Video, extractor: Extractor,
                      error: str) -> None:
        """Record that `video` could not be decoded (`VideoReadError`'s message `error`), so
        that `failure` returns it while the file, the extractor and the decoder stay the
        same (the file's path in it read as the video's path then). Written atomically;
        nothing for a source that is gone or cannot be listed (no checksum)."""
        try:
            checksum = source_checksum(video.path)
        except (OSError, VideoReadError):
            return
        write_json(self._failure_path(dataset, split, video, extractor),
                   {"format": CACHE_FORMAT, **self._failure_key(video, extractor, checksum),
                    "error": error.replace(str(video.path), _SOURCE)})

    def failure(self, dataset: str, split: str, video: Video,
                extractor: Extractor) -> str | None:
        """The error recorded by `store_failure` for this video, or None: none recorded, or
        the file, the extractor's version or parameters, mulde's or PyAV's version changed
        since (then the video is decoded again), or the record is unreadable."""
        path = self._failure_path(dataset, split, video, extractor)
        if not path.exists():
            return None
        try:
            meta = json.loads(path.read_text(encoding="utf-8"))
            key = self._failure_key(video, extractor, source_checksum(video.path))
            if (not isinstance(meta, dict) or meta.get("format") != CACHE_FORMAT
                    or any(meta.get(k) != v for k, v in key.items())
                    or not isinstance(meta.get("error"), str)):
                return None
            return meta["error"].replace(_SOURCE, str(video.path))
        except (OSError, ValueError, VideoReadError):
            return None

    @staticmethod
    def _failure_key(video: Video, extractor: Extractor, checksum: str) -> dict[str, Any]:
        from mulde import __version__

        return {"video": video.name, "version": extractor.version,
                "params": _jsonable(extractor.params), "source_checksum": checksum,
                "mulde_version": __version__, "av_version": _package_version("av")}


def _frames_disagree(fields: dict[str, dict[str, np.ndarray]], n_frames: int) -> str | None:
    """Why a sidecar's `n_frames` cannot be the frame count of the entry's arrays (`fields`:
    per stream name, its arrays): an object beyond it; else None. A count larger than the
    arrays' last object is not told apart from frames without objects, which any stream may
    have (`ObjectFeatures`)."""
    for name, arrays in fields.items():
        end = int(np.max(arrays["frame_index"], initial=-1)) + 1
        if end > n_frames:
            return f"n_frames {n_frames}, but the {name} stream has objects in frame {end} " \
                   "(counted from 1)"
    return None


def _to_keep(warned: Sequence[Warning], video: Video) -> list[dict[str, str]]:
    """The sidecar's `warnings` of `warned` (`FeatureCache.store`): those of
    `VIDEO_WARNINGS`' classes, each once, in order; their words' leading path of the video
    (`str(path): `) written as `_SOURCE`, so that an entry read through another root names
    the file where it is now."""
    kept: list[dict[str, str]] = []
    lead = f"{Path(video.path)}: "
    for warning in warned:
        if not isinstance(warning, VIDEO_WARNINGS):
            continue
        text = str(warning)
        if text.startswith(lead):
            text = f"{_SOURCE}: " + text.removeprefix(lead)
        entry = {"category": type(warning).__name__, "message": text}
        if entry not in kept:
            kept.append(entry)
    return kept


def _kept_warnings(meta: dict[str, Any]) -> list[tuple[str, str]]:
    """(class name, words) of each warning a sidecar keeps (`_to_keep`); none for a sidecar
    without the field (one written before warnings were kept). ValueError, said as a damaged
    entry (`FeatureCache._current`), for a field that is not a list of objects whose
    "category" and "message" are strings."""
    kept = meta.get("warnings", [])
    if not isinstance(kept, list) or not all(
            isinstance(w, dict) and isinstance(w.get("category"), str)
            and isinstance(w.get("message"), str) for w in kept):
        raise ValueError(f"warnings {json.dumps(kept)[:80]}, not a list of "
                         '{"category", "message"} strings')
    return [(w["category"], w["message"]) for w in kept]


def _warn_again(kept: list[tuple[str, str]], video: Video) -> None:
    """Warn the `kept` warnings of a loaded entry again (`FeatureCache.load`): by their
    classes (`VIDEO_WARNINGS`; a name not among them as a UserWarning), `_SOURCE` read as
    the video's path, a `FrameTimelineWarning` with that path; at the line that called
    `load` (no registry: said however often the same words were said before in this process,
    as a fresh extraction says them)."""
    if not kept:
        return
    caller = sys._getframe(2)  # `load`'s caller
    path = Path(video.path)
    for name, text in kept:
        if text.startswith(f"{_SOURCE}: "):
            text = f"{path}: " + text.removeprefix(f"{_SOURCE}: ")
        category = _BY_NAME.get(name, UserWarning)
        warning = (category(text, path) if issubclass(category, FrameTimelineWarning)
                   else category(text))
        warnings.warn_explicit(warning, category, caller.f_code.co_filename,
                               caller.f_lineno, module=caller.f_globals.get("__name__"))


def _warn_damaged(path: Path, err: Exception, stacklevel: int) -> None:
    """Say that the entry's file `path` cannot be read (`err`) and is extracted again (the
    error's own leading `path: `, as `ObjectFeatures` gives it, left out)."""
    said = str(err).removeprefix(f"{path}: ")
    warnings.warn(DamagedCacheEntryWarning(
        f"{path}: a damaged feature cache entry ({type(err).__name__}: {said[:200]}); "
        "the video's features are extracted again"), stacklevel=stacklevel)


def _package_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def _jsonable(obj: Any) -> Any:
    return json.loads(json.dumps(obj, sort_keys=True, default=str))
