"""The trained pipeline as one artefact: everything needed to score new video, in one folder.

`PipelineModel` holds the feature extractor (its name and settings, rebuilt through
`mulde.video.features.registry`), the scene background(s) of the static stream, the fitted
`StreamEnsemble` (one model per stream, its empty-frame fill and calibration), the fused
out-of-fold scores of the training videos, the smoothing, the frame rate and the alert
threshold (`mulde.vad.thresholds`). `save(folder)` writes:

    pipeline.json              manifest: format, versions, extractor, streams, threshold, ...
    streams/<stream>.safetensors  one model per stream: MULDE's own file (`MULDE.save`), kNN's
                               training arrays, GMM's parameters (format "mulde-stream")
    streams/<stream>.pca.safetensors  a reduced stream's PCA (mean, components: the
                               projection its model was fitted on; `PCAStream`)
    streams/<stream>.reference.safetensors  a Sidak stream's sorted training object scores
                               (`scores`), against which its frame scores are corrected
    scene/<view>.png           the static stream's scene background per camera view
    training_scores.safetensors  the fused frame scores of the training videos (to refit a
                               threshold for another smoothing or rule without retraining)

The manifest also keeps the warnings the fits gave (`fit_warnings`: each message with its
class, `mulde.vad.fit_warnings`; e.g. a calibration set by a few glitch frames), so that
whoever reads the model later (`mulde info`) sees them; a manifest written before it has
none and reads as a model without fit warnings.

safetensors and JSON only, no pickle. The manifest records each file's SHA-256, so a
truncated or changed file is refused with its name; another format, a newer format version,
or an extractor this mulde builds differently are refused with a one-line `ArtifactError`.
The folder is written beside the target first and swapped in at the end: a crash leaves the
previous artefact (or none), never a mix.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import shutil
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

import numpy as np

from mulde._version import __version__
from mulde.io.atomic import atomic_folder, write_json
from mulde.io.hashing import sha256_file
from mulde.vad.ensemble import StreamEnsemble, StreamFit, VideoScores
from mulde.vad.events import Event, find_events
from mulde.vad.fit_warnings import FitWarning
from mulde.vad.fusion import Calibration, FusionError
from mulde.vad.stream_files import (
    STREAM_FORMAT,
    ArtifactError,
    load_stream,
    read_arrays,
    read_side,
    save_stream,
    side_path,
    stream_spec,
    write_arrays,
)
from mulde.vad.stream_models import KNNStream
from mulde.vad.thresholds import (
    DEFAULT_EVENTS_PER_HOUR,
    ThresholdFit,
    ThresholdRule,
    fit_threshold,
    held_out_rate,
    smooth_scores,
)
from mulde.video.features.base import Extractor, FrameSource
from mulde.video.features.records import Stream, VideoFeatures, frames_with_objects

FORMAT = "mulde-pipeline"
FORMAT_VERSION = 2
"""The newest manifest version this mulde reads and writes. Version 2 added the side files
of reduced streams (`streams/<s>.pca.safetensors`) and Sidak frame scores
(`streams/<s>.reference.safetensors`, the manifest's "frame_score"), which a version-1 reader
would ignore and so score wrongly; a model without either is still written as version 1, so
that older mulde reads it."""
MANIFEST = "pipeline.json"
SELF_DIGEST = "manifest_sha256"
"""The manifest's key for the SHA-256 of its own settings (`manifest_digest`); manifests
written before it have none and are read as they are."""
SOURCE_DIGEST = "source_manifest_sha256"
"""The key, in the pipeline.json of an ONNX export (`mulde.vad.export`), "onnx" block, of the
`model_digest` of the model folder the graphs came from (null for a model never saved), by
which `mulde run` and `train` tell whether an earlier export still matches the model they
write, and `export_source` finds that folder (`made_from`; older exports recorded the
model's `SELF_DIGEST` under this key, which the name still says)."""


def manifest_digest(manifest: dict) -> str:
    """The SHA-256 (hex) of a pipeline manifest's settings: of its JSON without the
    `SELF_DIGEST` key, keys sorted, in the values JSON reads back (what `write_json` writes),
    so that an edited calibration, threshold or file digest is refused at load."""
    settings = {k: v for k, v in manifest.items() if k != SELF_DIGEST}
    canonical = json.dumps(json.loads(json.dumps(settings, default=str)), sort_keys=True,
                           separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def model_digest(manifest: dict) -> str:
    """What tells one saved model from another: the `manifest_digest` of its manifest less
    what a run records without it deciding the model (the training root as --root spelled
    it, the skipped videos, whose errors name their paths, and each fit's seconds), so of
    every other setting, the training videos' names and counts, and through the manifest's
    "files" every file's SHA-256 (the weights, the training scores). Two saves of the same
    fitted model, and two runs that fit it again from the same data, give the same digest;
    an ONNX export records its model's (`SOURCE_DIGEST`). A manifest written before
    `SELF_DIGEST` gets its digest alike."""
    same = {k: v for k, v in manifest.items() if k != SELF_DIGEST}
    if isinstance(same.get("training"), dict):
        same["training"] = {k: v for k, v in same["training"].items()
                            if k not in ("root", "skipped")}
    if isinstance(same.get("streams"), dict):
        same["streams"] = {name: {k: v for k, v in s.items() if k != "fit_seconds"}
                           if isinstance(s, dict) else s
                           for name, s in same["streams"].items()}
    return manifest_digest(same)


def _saved_manifest(folder: str | Path) -> dict | None:
    """The manifest (pipeline.json) saved in `folder`; None where there is no readable one
    (none, a folder, or a pipe or device in its place, which reading would wait on forever
    or without end: what this answers, a model's digest, is not there)."""
    path = Path(folder) / MANIFEST
    if not path.is_file():  # a regular file, links followed
        return None
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return manifest if isinstance(manifest, dict) else None


def saved_model_digest(folder: str | Path) -> str | None:
    """`model_digest` of the model saved in `folder` (its pipeline.json), read without
    loading the model; None where there is no readable manifest."""
    manifest = _saved_manifest(folder)
    return None if manifest is None else model_digest(manifest)


def made_from(folder: str | Path, source: str) -> bool:
    """Whether the model saved in `folder` is the one whose digest an ONNX export recorded
    as `source` (`SOURCE_DIGEST`): its `model_digest`, or the `manifest_digest` of its whole
    manifest (its `SELF_DIGEST`), which exports written before the model digest left out the
    root and the fits' seconds recorded; that one matches only the very manifest exported,
    so a rerun says such an export stale once, until it is exported again. False where
    `folder` has no readable manifest."""
    manifest = _saved_manifest(folder)
    return manifest is not None and source in (model_digest(manifest),
                                               manifest_digest(manifest))


def export_source(folder: str | Path) -> Path | None:
    """The model folder that the ONNX export in `folder` was exported from, where it lies
    beside the export (the parent folder's model, `pipeline_folder`: DIR/model for an export
    in DIR/onnx) and it is the model the export recorded (`made_from`); None otherwise (the
    export records its model's digest, not its path)."""
    onnx = (_saved_manifest(folder) or {}).get("onnx")
    source = onnx.get(SOURCE_DIGEST) if isinstance(onnx, dict) else None
    beside = pipeline_folder(Path(folder).parent)
    if not isinstance(source, str) or beside is None or beside == Path(folder):
        return None
    return beside if made_from(beside, source) else None


# settings that point at files of the training run, not at how features are computed
_EPHEMERAL = ("scene_background", "boxes_cache")


def _jsonable(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    return value


def extractor_settings(extractor: Extractor) -> dict[str, Any]:
    """Return the extractor's settable fields (JSON-ready) that `with_settings` takes back,
    without the files of a training run (scene background, detector box cache)."""
    if not dataclasses.is_dataclass(extractor):
        return {}  # not rebuildable by settings: `load` then names the extractor it lacks
    return {f.name: _jsonable(getattr(extractor, f.name))
            for f in dataclasses.fields(extractor)
            if f.init and f.name not in _EPHEMERAL and f.name not in ("name", "version")}


def rebuild_extractor(name: str, version: str, settings: Mapping[str, Any],
                      where: str = "the artefact") -> Extractor:
    """Return the extractor `name` with `settings` (`registry.build_extractor` +
    `with_settings`). Raises ArtifactError naming `where` when this mulde does not know the
    extractor, builds another version of it, or refuses a setting."""
    from mulde.video.features.registry import build_extractor, with_settings

    try:
        extractor = with_settings(build_extractor(name), dict(settings))
    except (ValueError, TypeError) as err:
        raise ArtifactError(f"{where}: extractor {name!r} cannot be rebuilt here: "
                            f"{err}") from None
    if extractor.version != version:
        raise ArtifactError(f"{where}: made with the {name} extractor version {version}; this "
                            f"mulde {__version__} computes version {extractor.version} "
                            "features, which the models were not trained on: retrain "
                            "(`mulde train`)")
    return extractor


def pipeline_folder(path: str | Path) -> Path | None:
    """The model folder `path` names: `path` itself when it holds the manifest, else its
    `model/` sub-folder when that does (the output folder of `mulde run/train --out DIR`),
    or the folder of the manifest file itself; None when none does (e.g. a MULDE model
    file)."""
    path = Path(path)
    if path.name == MANIFEST and path.is_file():  # the manifest itself was named
        return path.parent
    for folder in (path, path / "model"):
        if (folder / MANIFEST).is_file():
            return folder
    return None


def check_model_folder(folder: str | Path, cache: str | Path | None = None) -> None:
    """Refuse (ArtifactError, naming it and what to do) a `folder` that `PipelineModel.save`
    may not replace: a file, a non-empty folder without the manifest (someone's files), or an
    earlier model's folder that also holds files its manifest does not list (`foreign_files`:
    a user's notes put beside the model, which replacing it would delete); a new or empty
    folder, or an earlier model's alone, passes. With `cache`, the feature cache of the run
    that will save there: refused when it lies inside `folder` (saving would delete it, or
    find the folder full of features and refuse only after the fits), or inside another
    model folder (that model's next save would do the same). `save` checks it, and
    `mulde run` / `train` before their minutes of extraction and fitting."""
    folder = Path(folder)
    if cache is not None and Path(cache).resolve().is_relative_to(folder.resolve()):
        raise ArtifactError(f"{cache}: a feature cache inside {folder}, which the new model "
                            "replaces whole: the cached features would be deleted with it; "
                            f"give a cache folder outside it (e.g. {folder.parent / 'cache'})")
    held = None if cache is None else next(
        (p for p in (Path(cache), *Path(cache).parents) if is_manifest(p / MANIFEST)), None)
    if held is not None:  # another run's model: its next save would refuse, or delete it
        raise ArtifactError(f"{cache}: a feature cache inside the model folder {held}, which "
                            "a run or training into its output folder replaces whole; give a "
                            f"cache folder outside it (e.g. {folder.parent / 'cache'})")
    if folder.exists() and (not folder.is_dir() or (any(folder.iterdir())
                                                   and not is_manifest(folder / MANIFEST))):
        raise ArtifactError(f"{folder}: exists and is not a mulde model folder; give a "
                            "new or empty folder (or a model folder to replace)")
    other = foreign_files(folder)
    if other:
        shown = ", ".join(other[:3]) + (f" and {len(other) - 3} more" if len(other) > 3 else "")
        raise ArtifactError(f"{folder}: an earlier model's folder that also holds files a "
                            f"model does not write ({shown}); replacing the model would "
                            "delete them: move them out, or give another output folder")


def read_manifest(path: str | Path) -> dict[str, Any] | None:
    """The mulde pipeline manifest at `path` (a JSON object of format `FORMAT`, any version),
    as read, unchecked; None for anything else: missing, unreadable, or another tool's
    pipeline.json, which does not make its folder a model's. `PipelineModel.load` checks a
    manifest and says what is wrong with it."""
    try:
        m = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    return m if isinstance(m, dict) and m.get("format") == FORMAT else None


def is_manifest(path: str | Path) -> bool:
    """Whether `path` is a mulde pipeline manifest (`read_manifest`)."""
    return read_manifest(path) is not None


BROWSER_FILES = frozenset({".DS_Store", "Thumbs.db", "desktop.ini"})
"""Files a file browser adds to a folder it shows (macOS Finder, Windows Explorer): not a
user's, so `foreign_files` leaves them out (a model folder looked at must stay replaceable)."""


def foreign_files(folder: str | Path) -> list[str]:
    """The files under a model folder (relative paths, sorted) that its manifest neither is
    nor lists among its `files`, but a file browser's (`BROWSER_FILES`): what a user put
    there. [] where there is no mulde manifest (`read_manifest`: nothing to compare with;
    `check_model_folder` judges such folders)."""
    folder = Path(folder)
    listed = (read_manifest(folder / MANIFEST) or {}).get("files")
    if not isinstance(listed, dict):
        return []
    known = {MANIFEST, *listed}
    return sorted(rel for rel in (p.relative_to(folder).as_posix()
                                  for p in folder.rglob("*")
                                  if p.is_file() and p.name not in BROWSER_FILES)
                  if rel not in known)


MAX_SIGMA_SECONDS = 3600.0
"""The longest smoothing a manifest's smoothing.sigma may give, in seconds of frames at its
fps: an hour, and at most `MAX_SIGMA_FRAMES` frames whatever the fps. The filters hold about 4
sigma weights (`causal_gaussian_weights`, scipy's `gaussian_filter1d` twice that), so a
crafted sigma of 1e9 asked for 30 GiB; no event lasts long enough to need more."""
MAX_SIGMA_FRAMES = 1e6
"""The most frames a smoothing.sigma may span at any fps (filters of about 4e6 weights, 32
MB): the frame rate is read from the videos (a variable-rate file may state 90,000 frames/s)
and is not bounded, so the sigma is, in frames too."""
MAX_PATIENCE_SECONDS = 86400.0
"""The longest patience a manifest's threshold.patience may give, in seconds of frames at
its fps: a day, beyond which no event ever ends on a camera's day."""


def most_sigma_frames(fps: float) -> float:
    """The largest smoothing sigma (frames) a model of frame rate `fps` may hold: an hour of
    frames (`MAX_SIGMA_SECONDS`), at most `MAX_SIGMA_FRAMES`."""
    return min(MAX_SIGMA_SECONDS * fps, MAX_SIGMA_FRAMES)


_RESTORE = "restore the model folder, or train the model again"
"""What a refusal of a manifest's value says to do."""


def _number(value: Any, nan: bool = True) -> bool:
    """Whether a manifest's `value` is a JSON number (not a flag), finite; with nan=False,
    any number but NaN (+-inf allowed)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return not math.isnan(value) if not nan else math.isfinite(value)


def _inside(folder: Path, mpath: Path, rel: Any, field: str) -> Path:
    """The file `folder / rel` that the manifest `mpath` names in `field`; ArtifactError
    unless `rel` is a relative path (a string) that stays inside `folder` once resolved
    (no "..", no absolute path, no link out of the folder): a manifest reads only its own
    folder's files."""
    if not isinstance(rel, str) or not rel or Path(rel).is_absolute():
        raise ArtifactError(f"{mpath}: {field} is {rel!r}, not a path relative to the model "
                            f"folder; {_RESTORE}")
    path = folder / rel
    if not path.resolve().is_relative_to(folder.resolve()):
        raise ArtifactError(f"{mpath}: {field} is {rel!r}, which leads out of the model "
                            f"folder; {_RESTORE}")
    return path


def _listed(folder: Path, mpath: Path, manifest: Mapping[str, Any], rel: Any,
            field: str) -> Path:
    """`_inside`, and listed in the manifest's "files" (so that its SHA-256 was checked):
    every file `PipelineModel.save` writes is."""
    path = _inside(folder, mpath, rel, field)
    if rel not in manifest["files"]:
        raise ArtifactError(f"{mpath}: {field} {rel!r} is not among its 'files' (whose "
                            f"SHA-256 is checked); {_RESTORE}")
    return path


def _input_width(model: Any) -> int | None:
    """The feature count a loaded stream model takes: the length of its column means (kNN,
    GMM, a reduced stream's projection: raw features; a MULDE stream: its estimator's);
    None where it has none."""
    mean = getattr(model, "mean_", None)
    if mean is None:
        mean = getattr(getattr(model, "model", None), "mean_", None)
    return None if mean is None or np.ndim(mean) != 1 else len(mean)


def _check_stream_values(mpath: Path, name: str, entry: Mapping[str, Any], model: Any) -> None:
    """Refuse a stream's manifest values that no fit writes: a `fill` (the lowest training
    object score) that is not a finite number, a `dim` other than the feature count of the
    stream's model (features of that width would be refused, others scored wrongly)."""
    if not _number(entry["fill"]):
        raise ArtifactError(f"{mpath}: streams.{name}.fill is {entry['fill']!r}, not a finite "
                            f"number; {_RESTORE}")
    dim, width = entry["dim"], _input_width(model)
    if isinstance(dim, bool) or not isinstance(dim, int) or (width is not None
                                                            and dim != width):
        raise ArtifactError(f"{mpath}: streams.{name}.dim is {dim!r}, but its model takes "
                            f"{width} features; {_RESTORE}")


# ------------------------------------------------------------------------ the artefact
@dataclass
class PipelineModel:
    """A trained video pipeline: extractor, per-stream models and calibrations, smoothing and
    alert threshold (module docstring).

    `extractor`: the feature extractor (for the static stream: with the scene background of
    the first camera view); `ensemble`: the fitted `StreamEnsemble`; `smoothing_sigma`: the
    Gaussian smoothing (frames) of the evaluation protocol, which the threshold assumes;
    `fps`: the training videos' frame rate (frames/s); `threshold`: the alert threshold
    (`ThresholdFit`) or None; `scene_backgrounds`: camera view -> scene background image, when
    the static stream has one per view; `train_scores`: the fused, unsmoothed frame scores of
    each training video (`StreamEnsemble.train_fused`); `training`: a JSON-ready record of the
    training data (videos, frames, ...). Build one with `PipelineModel.fit`, read one with
    `load`.
    """

    extractor: Extractor
    ensemble: StreamEnsemble
    smoothing_sigma: float = 3.0
    fps: float = 25.0
    threshold: ThresholdFit | None = None
    scene_backgrounds: dict[str, str] = field(default_factory=dict)
    train_scores: list[np.ndarray] = field(default_factory=list, repr=False)
    training: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None  # the folder it was loaded from
    digest: str | None = None  # `model_digest` of the folder it was saved to or loaded from

    @classmethod
    def fit(cls, extractor: Extractor, train: Mapping[str, VideoFeatures],
            ensemble: StreamEnsemble, fps: float, smoothing_sigma: float = 3.0,
            threshold_rule: ThresholdRule = "events_per_hour",
            threshold_target: float = DEFAULT_EVENTS_PER_HOUR, patience: int | None = None,
            scene_backgrounds: Mapping[str, str] | None = None,
            training: Mapping[str, Any] | None = None) -> PipelineModel:
        """Fit `ensemble` on the training videos' features (unless already fitted), then the
        alert threshold on its fused training scores (`mulde.vad.thresholds.fit_threshold`:
        out-of-fold when the ensemble has `calibration_folds`), with the false-alarm rate the
        rule gives on held-out training videos (`held_out_rate`, when there are 2 or more).

        extractor: the extractor the features came from (fitted to the scene); fps: the
        training videos' frame rate; patience: frames below the threshold that end an event
        (default: one second of video, round(fps)). ValueError for values `load` would
        refuse, before any fit: fps not > 0, a sigma above an hour of frames
        (`most_sigma_frames`), a patience outside 1 to a day of frames. `training` is
        recorded as given, with the video and frame counts added, and per stream the frames
        with objects of their own (`frames_with_objects`, which `mulde watch`'s calibration
        warning counts)."""
        patience = max(1, round(fps)) if patience is None else int(patience)
        if not (math.isfinite(fps) and fps > 0
                and 0 <= smoothing_sigma <= most_sigma_frames(fps)
                and 1 <= patience <= MAX_PATIENCE_SECONDS * fps):  # what load refuses: before
            raise ValueError(f"fps {fps:g} must be a frame rate > 0, the smoothing sigma "  # fits
                             f"{smoothing_sigma:g} at most an hour of frames (and "
                             f"{MAX_SIGMA_FRAMES:g}) and the patience {patience} from 1 to a "
                             "day of frames")
        if not ensemble.fits_:
            ensemble.fit(train)
        scores = ensemble.train_fused()
        # kNN scores its training objects leave-one-video-out: out of sample without folds
        # (but for a single training video, whose objects each leave only themselves out:
        # the same objects in the next frames stay, as optimistic as in-sample scores)
        oof = ensemble.calibration_folds is not None or (len(train) > 1 and all(
            type(f.model) is KNNStream for f in ensemble.fits_.values()))
        threshold = fit_threshold(scores, fps, smoothing_sigma, threshold_rule,
                                  threshold_target, patience, out_of_sample=oof)
        if len(scores) >= 2:
            held = held_out_rate(scores, threshold, ensemble.calibration_folds or 4)
            threshold = dataclasses.replace(threshold, held_out=held)
        record = {**(training or {}), "videos": len(train),
                  "frames": int(sum(vf.n_frames for vf in train.values())),
                  "frames_with_objects": frames_with_objects(train.values()),
                  "hours": threshold.train_hours}
        return cls(extractor, ensemble, float(smoothing_sigma), float(fps), threshold,
                   dict(scene_backgrounds or {}), scores, record)

    @property
    def streams(self) -> list[Stream]:
        """The streams scored, in name order."""
        return self.ensemble.streams

    def extractor_for(self, view: str | None = None) -> Extractor:
        """The extractor for new video of camera `view` (None: the only or first view; ""
        too for a model of one view). Raises ArtifactError for a view the model does not
        have, naming those it has."""
        if view is None:
            return self.extractor
        if view in self.scene_backgrounds:
            return dataclasses.replace(self.extractor,  # type: ignore[type-var]
                                       scene_background=self.scene_backgrounds[view])
        if self.scene_backgrounds:
            raise ArtifactError(f"the model has no camera view {view!r}: its training videos "
                                f"showed the views {', '.join(sorted(self.scene_backgrounds))}"
                                ", one scene background each; --view must be one of them")
        scene = getattr(self.extractor, "scene_background", None)
        if scene:
            if view == "":  # the one view's own (empty) name
                return self.extractor
            raise ArtifactError(f"the model has no camera view {view!r}: it has one view, the "
                                f"unnamed one of its training videos (scene background "
                                f"{scene}), which is used when --view is left out")
        raise ArtifactError(f"the model has no camera views (its {self.extractor.name} "
                            f"extractor uses no scene background), so view {view!r} does not "
                            "apply: leave --view out")

    def check_features(self, features: VideoFeatures) -> None:
        """Raise ArtifactError when `features` lack a stream of the model or have another
        number of columns than it was trained on (features of another extractor)."""
        for stream, fit in self.ensemble.fits_.items():
            if stream not in features:
                raise ArtifactError(f"the features have no {stream} stream (they have "
                                    f"{', '.join(map(str, features))}); the model was trained "
                                    f"on {self.extractor.name} features with streams "
                                    f"{', '.join(map(str, self.streams))}")
            d = features[stream].features.shape[1]
            if d != fit.dim:
                raise ArtifactError(f"the {stream} features have {d} columns, the model was "
                                    f"trained on {fit.dim}: features of another extractor "
                                    f"setting than the model's ({self.extractor.name})")

    def score(self, features: VideoFeatures) -> VideoScores:
        """Return one video's (or chunk's) `VideoScores`: per-stream calibrated frame scores
        (n_frames,), their sum `fused` (unsmoothed) and each frame's top object. A frame's
        score depends only on its own objects' features, so chunks scored one at a time give
        the scores of the whole video."""
        self.check_features(features)
        return self.ensemble.score_video(features)

    def score_video(self, video: FrameSource, view: str | None = None) -> VideoScores:
        """Extract the features of a video (a `Video` or RGB frames) and `score` them."""
        return self.score(self.extractor_for(view).extract(video))

    def smooth(self, fused: np.ndarray) -> np.ndarray:
        """Return a whole video's fused scores smoothed as the threshold assumes (offline,
        two-sided Gaussian of `smoothing_sigma` frames)."""
        return smooth_scores(fused, self.smoothing_sigma)

    def events(self, fused: np.ndarray) -> list[Event]:
        """Return the events of a whole video's fused (unsmoothed) scores at the alert
        threshold (after `smooth`). Raises ArtifactError when the model has no threshold."""
        if self.threshold is None:
            raise ArtifactError("the model has no alert threshold")
        return find_events(self.smooth(fused), self.threshold.value, self.threshold.patience)

    # -------------------------------------------------------------------- writing
    def manifest(self) -> dict[str, Any]:
        """The JSON-ready description written as pipeline.json (without file hashes)."""
        ex = self.extractor
        try:
            params = ex.params
        except Exception:  # noqa: BLE001 - params may need the detector's weights
            params = None
        streams = {}
        for stream, fit in self.ensemble.fits_.items():
            streams[stream.value] = {
                "model": stream_spec(fit.model), "fill": fit.fill,
                "frame_score": "maximum" if fit.reference is None else "sidak",
                "calibration": fit.calibration.to_dict(), "dim": fit.dim,
                "train_objects": fit.train_objects, "fit_seconds": fit.fit_s}
        side_files = any("pca" in (s["model"] or {}) or s["frame_score"] != "maximum"
                         for s in streams.values())
        return {
            "format": FORMAT, "format_version": FORMAT_VERSION if side_files else 1,
            "mulde_version": __version__,
            "extractor": {"name": ex.name, "version": ex.version,
                          "settings": extractor_settings(ex), "params": params},
            "streams": streams,
            "ensemble": {"calibrate_on": self.ensemble.calibrate_on,
                         "calibration_folds": self.ensemble.calibration_folds,
                         "max_train_objects": self.ensemble.max_train_objects,
                         **({"pca": {str(getattr(k, "value", k)): int(v)
                                     for k, v in self.ensemble.pca.items()}}
                            if self.ensemble.pca else {}),
                         **({"sidak": sorted(s.value for s in self.ensemble.sidak_streams)}
                            if self.ensemble.sidak else {}),
                         "seed": self.ensemble.seed, "fusion": "sum of calibrated streams"},
            "smoothing": {"sigma": self.smoothing_sigma, "kind": "gaussian",
                          "mode": "reflect", "truncate": 4.0},
            "fps": self.fps,
            "threshold": None if self.threshold is None else self.threshold.to_dict(),
            "fit_warnings": [w.to_dict() for w in self.ensemble.fit_warnings_],
            "training": self.training,
        }

    def save(self, folder: str | Path) -> Path:
        """Write the artefact into `folder` (module docstring); return the folder.

        An existing artefact there is replaced; any other non-empty folder is refused
        (ArtifactError: `check_model_folder`), so a typo cannot delete someone's files."""
        with self.saving(folder) as saved:
            pass
        return saved

    @contextmanager
    def saving(self, folder: str | Path) -> Iterator[Path]:
        """`save` in two steps: write the artefact into a temp folder beside `folder`, then
        yield `folder`; only when the caller's block ends without an error does the new
        folder take `folder`'s place (`mulde.io.atomic.atomic_folder`), else `folder` is left
        as it was. `run_pipeline` writes its report inside the block, so that an interrupt
        leaves the earlier model and report together, not a new model beside an old report.
        Errors as `save`'s, before anything is written."""
        folder = Path(folder)
        check_model_folder(folder)
        for stream, fit in self.ensemble.fits_.items():
            if stream_spec(fit.model) is None:
                raise ArtifactError(f"{folder}: the {type(fit.model).__name__} model of stream "
                                    f"{stream} cannot be saved; an artefact holds mulde, knn "
                                    "or gmm stream models")
        with atomic_folder(folder) as tmp:
            manifest = self.manifest()
            files: dict[str, str] = {}
            for stream, fit in self.ensemble.fits_.items():
                rel = f"streams/{stream.value}.safetensors"
                (tmp / "streams").mkdir(parents=True, exist_ok=True)
                manifest["streams"][stream.value]["model"] = save_stream(fit.model, tmp / rel)
                manifest["streams"][stream.value]["file"] = rel
                files[rel] = ""
                if "pca" in manifest["streams"][stream.value]["model"]:
                    files[side_path(Path(rel), "pca").as_posix()] = ""
                if fit.reference is not None:
                    ref = side_path(Path(rel), "reference").as_posix()
                    write_arrays(tmp / ref, {"scores": fit.reference},
                                 {"format": STREAM_FORMAT + "-reference",
                                  "mulde_version": __version__})
                    manifest["streams"][stream.value]["reference_file"] = ref
                    files[ref] = ""
            scenes = dict(self.scene_backgrounds)
            if not scenes and getattr(self.extractor, "scene_background", None):
                scenes = {"": str(self.extractor.scene_background)}  # type: ignore[attr-defined]
            manifest["scene_backgrounds"] = {}
            for i, (view, src) in enumerate(sorted(scenes.items())):
                rel = f"scene/{i}.png"
                (tmp / "scene").mkdir(parents=True, exist_ok=True)
                try:
                    shutil.copyfile(src, tmp / rel)
                except OSError as err:
                    raise ArtifactError(f"{src}: cannot copy the scene background into the "
                                        f"model ({err.strerror or err})") from None
                manifest["scene_backgrounds"][view] = rel
                files[rel] = ""
            if self.train_scores:
                rel = "training_scores.safetensors"
                lengths = np.array([len(s) for s in self.train_scores], np.int64)
                write_arrays(tmp / rel, {"fused": np.concatenate(self.train_scores).astype(
                    np.float64), "lengths": lengths}, {"format": STREAM_FORMAT + "-scores"})
                files[rel] = ""
            manifest["files"] = {rel: sha256_file(tmp / rel) for rel in files}
            manifest[SELF_DIGEST] = manifest_digest(manifest)
            write_json(tmp / MANIFEST, manifest)
            yield folder
        self.path, self.digest = folder, model_digest(manifest)

    # -------------------------------------------------------------------- reading
    @classmethod
    def load(cls, folder: str | Path) -> PipelineModel:
        """Read an artefact written by `save`. Raises ArtifactError naming the file when the
        folder or a file is missing, truncated or changed (SHA-256), of another format or a
        newer version, or made with an extractor this mulde builds differently; naming the
        manifest's field when a path it reads (a `files` entry, a stream's file, reference or
        PCA file, a scene background) is absolute or leads out of the folder, or is not
        listed in `files` (whose SHA-256 is checked), or when a value is not one a fit
        writes: fps not a finite number > 0, smoothing.sigma not a finite
        number >= 0 of at most an hour of frames at that fps (`most_sigma_frames`: the
        filters hold about 4 sigma weights), threshold.value NaN, threshold.patience not a
        whole number >= 1 of at most a day of frames (`MAX_PATIENCE_SECONDS`), a stream's
        fill not finite or its dim other than its model's feature count. The manifest's own
        SHA-256 only catches damage (anyone can compute it again): these checks are what
        stop a crafted manifest. The extractor's weights
        (weights_path, detector_weights, pose_weights) are the user's files and may lie
        anywhere."""
        folder = Path(folder)
        mpath = folder / MANIFEST
        if not folder.is_dir():
            what = "a file, not a model folder" if folder.exists() else "no such model folder"
            raise ArtifactError(f"{folder}: {what} (a folder written by `mulde train` or "
                                "`mulde run --out DIR`: DIR/model)")
        if not mpath.is_file():
            raise ArtifactError(f"{mpath}: missing; {folder} is not a mulde pipeline model: "
                                "give the folder `mulde train` or `mulde run --out DIR` "
                                "wrote (DIR/model), or DIR itself")
        try:
            m = json.loads(mpath.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            raise ArtifactError(f"{mpath}: not readable JSON (truncated?): {err}") from None
        if not isinstance(m, dict) or m.get("format") != FORMAT:
            raise ArtifactError(f"{mpath}: not a mulde pipeline manifest (format "
                                f"{m.get('format') if isinstance(m, dict) else None!r})")
        if "onnx" in m and "files" not in m:
            source = export_source(folder)
            raise ArtifactError(f"{folder} is an ONNX export of a pipeline model (`mulde "
                                "export`): run its graphs with ONNX Runtime; mulde watch, "
                                "info and export take the model folder it came from" + (
                                    f": {source}" if source else " (DIR/model of `mulde "
                                    "run/train --out DIR`)"))
        version = m.get("format_version")
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            raise ArtifactError(f"{mpath}: format version {version!r} is not a whole number "
                                f"from 1 to {FORMAT_VERSION}: the manifest was changed or "
                                "damaged; restore it, or train the model again")
        if version > FORMAT_VERSION:
            raise ArtifactError(f"{mpath}: format version {version!r} from mulde "
                                f"{m.get('mulde_version')}; this mulde {__version__} reads "
                                f"version {FORMAT_VERSION} or older: upgrade mulde")
        if SELF_DIGEST in m and m[SELF_DIGEST] != manifest_digest(m):
            raise ArtifactError(f"{mpath}: its settings do not match their SHA-256 (edited or "
                                "damaged after saving: a changed calibration or threshold "
                                "would score silently otherwise); restore it, or train the "
                                "model again (`mulde watch --threshold` sets another alert "
                                "threshold without editing the model)")
        try:
            if not isinstance(m["files"], dict):
                raise ArtifactError(f"{mpath}: 'files' is not an object of file -> SHA-256; "
                                    f"{_RESTORE}")
            for rel, digest in m["files"].items():
                path = _inside(folder, mpath, rel, "a 'files' entry")
                if not path.is_file():
                    raise ArtifactError(f"{path}: missing from the model folder")
                if sha256_file(path) != digest:
                    raise ArtifactError(f"{path}: its content does not match {MANIFEST} "
                                        "(truncated or changed after saving)")
            ex = m["extractor"]
            extractor = rebuild_extractor(ex["name"], ex["version"], ex["settings"], str(mpath))
            scenes = {view: str(_listed(folder, mpath, m, rel, f"scene_backgrounds[{view!r}]"))
                      for view, rel in m["scene_backgrounds"].items()}
            if scenes and hasattr(extractor, "scene_background"):
                extractor = dataclasses.replace(  # type: ignore[type-var]
                    extractor, scene_background=next(iter(scenes.values())))
            e = m["ensemble"]
            kinds = {name: s["model"]["kind"] for name, s in m["streams"].items()}
            pca = {name: int(s["model"]["pca"]["n_components"])
                   for name, s in m["streams"].items() if "pca" in s["model"]}
            sidak = sorted(name for name, s in m["streams"].items()
                           if s.get("frame_score", "maximum") == "sidak")
            ensemble = StreamEnsemble(kinds, int(e["seed"]), calibrate_on=e["calibrate_on"],
                                      calibration_folds=e["calibration_folds"],
                                      pca=pca or None, sidak=sidak or None)
            fits = {}
            for name, s in sorted(m["streams"].items()):
                file = _listed(folder, mpath, m, s["file"], f"streams.{name}.file")
                if "pca" in s["model"]:  # its projection, beside it
                    _listed(folder, mpath, m, side_path(Path(s["file"]), "pca").as_posix(),
                            f"streams.{name}.file's PCA")
                model = load_stream(s["model"], file)
                _check_stream_values(mpath, name, s, model)
                reference = None
                if name in sidak:
                    what = "the training object scores of a Sidak stream"
                    ref_path = _listed(folder, mpath, m, s["reference_file"],
                                       f"streams.{name}.reference_file")
                    reference = read_side(ref_path, "reference", {"scores"}, what)["scores"]
                    if reference.ndim != 1 or reference.size == 0:
                        raise ArtifactError(f"{ref_path}: not {what} of a mulde artefact")
                fits[Stream(name)] = StreamFit(
                    model, float(s["fill"]), Calibration.from_dict(s["calibration"]),
                    int(s["dim"]), int(s["train_objects"]), float(s.get("fit_seconds", 0)), 0.0,
                    reference=reference)
            ensemble.fits_ = fits
            ensemble.fit_warnings_ = [FitWarning.from_json(w)
                                      for w in m.get("fit_warnings", [])]
            train_scores: list[np.ndarray] = []
            if "training_scores.safetensors" in m["files"]:
                _, a = read_arrays(folder / "training_scores.safetensors")
                train_scores = np.split(a["fused"], np.cumsum(a["lengths"])[:-1])
            threshold = (None if m["threshold"] is None
                         else ThresholdFit.from_dict(m["threshold"]))
            if threshold is not None and not _number(threshold.value, nan=False):
                raise ArtifactError(f"{mpath}: threshold.value is {threshold.value!r}, not a "
                                    f"number; {_RESTORE}")
            fps = m["fps"]
            if not (_number(fps) and fps > 0):
                raise ArtifactError(f"{mpath}: fps is {fps!r}, not a finite frame rate > 0 "
                                    f"(frames/s); {_RESTORE}")
            smoothing = m["smoothing"]["sigma"]
            most = most_sigma_frames(fps)  # the bounds follow the frame rate
            if not (_number(smoothing) and 0 <= smoothing <= most):  # 0: no smoothing
                raise ArtifactError(f"{mpath}: smoothing.sigma is {smoothing!r}, not a finite "
                                    f"number >= 0 and at most {most:g} frames (an hour at "
                                    f"fps {fps:g}, at most {MAX_SIGMA_FRAMES:g}); {_RESTORE}")
            if threshold is not None:
                patience, most = threshold.patience, MAX_PATIENCE_SECONDS * fps
                if (isinstance(patience, bool) or not isinstance(patience, int)
                        or not 1 <= patience <= most):
                    raise ArtifactError(f"{mpath}: threshold.patience is {patience!r}, not a "
                                        f"whole number of frames >= 1 and at most {most:g} (a "
                                        f"day at fps {fps:g}); {_RESTORE}")
            smoothing, fps = float(smoothing), float(fps)
        except ArtifactError:
            raise
        except (KeyError, TypeError, ValueError, AttributeError, FusionError) as err:
            raise ArtifactError(f"{mpath}: inconsistent manifest: "
                                f"{type(err).__name__} {err}") from None
        return cls(extractor, ensemble, smoothing, fps, threshold,
                   scenes if len(scenes) > 1 else {}, train_scores,
                   dict(m.get("training") or {}), folder, model_digest(m))

    def describe(self) -> dict[str, Any]:
        """A JSON-ready summary for `mulde info`: the manifest less its file list."""
        d = self.manifest()
        if self.path is not None:
            d["path"] = str(self.path)
        return d
