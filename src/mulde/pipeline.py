"""The video pipeline: extract (cached) -> train one model per stream -> score every test frame
-> calibrate and fuse the streams -> evaluate and report (docs/method.md, "Video protocol").
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import shutil
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from mulde.datasets.base import Dataset
from mulde.datasets.common import DatasetError, ignored_lines, require_videos, shown_path
from mulde.evaluation import EvaluationError, EvaluationProtocol, write_report
from mulde.evaluation.report import (
    earlier_report,
    partial_note,
    single_class,
    single_class_cause,
    single_class_note,
)
from mulde.evaluation.snapshots import frame_renderer, most_anomalous_moments
from mulde.io.atomic import ensure_writable, sweep_stale_temp
from mulde.io.hashing import file_sha256
from mulde.recorded import held_warnings, recorded_warnings, shown_at_caller
from mulde.vad.artifact import PipelineModel, check_model_folder
from mulde.vad.ensemble import StreamEnsemble, VideoScores
from mulde.vad.fit_cache import UNUSED_DAYS, FitCache
from mulde.vad.fusion import warn_below_calibration
from mulde.vad.stream_files import ArtifactError
from mulde.vad.thresholds import (
    DEFAULT_EVENTS_PER_HOUR,
    ThresholdRule,
    rate_text,
    video_length,
)
from mulde.video import unreadable
from mulde.video.cache import (
    KNOWN_FAILURE,
    FeatureCache,
    held_video_warnings,
    shard,
    unwritable_cache,
)
from mulde.video.decode import (
    FrameTimelineWarning,
    distinct_rates,
    natural_key,
    other_rate,
    probe,
    stated_rate,
    strays_said,
)
from mulde.video.distributed import RayOptions, check_engine
from mulde.video.features import Extractor, Stream, VideoFeatures
from mulde.video.features.detections import DetectionsError
from mulde.video.features.objects import (
    ObjectCentricExtractor,
    SceneBackgroundWarning,
    downscaled_size,
)
from mulde.video.features.streams import frame_size_rule
from mulde.video.source import Video, VideoReadError


@dataclass
class Extraction:
    """Features per split and video, and the videos that could not be read."""

    features: dict[str, dict[str, VideoFeatures]] = field(default_factory=dict)
    failed: list[dict[str, str]] = field(default_factory=list)
    n_cached: int = 0
    n_extracted: int = 0
    seconds: float = 0.0
    frames_extracted: int = 0
    # per extraction stage; on Ray the workers' seconds summed (side by side, so the sum can
    # exceed `seconds`)
    stage_seconds: dict[str, float] = field(default_factory=dict)
    extractor: Extractor | None = None  # as used: fitted to the scene when it needs that
    # the static stream on several camera views: view -> its scene background image (the
    # `extractor` above is then the first view's)
    scene_backgrounds: dict[str, str] = field(default_factory=dict)


def scratch_folder() -> Path:
    """A new temporary folder (prefix mulde_scene_) for what an extraction without a cache
    learns (the scene background), removed when the process exits: the extractor reads it
    for as long as the process runs, and a saved model keeps its own copy
    (`mulde.vad.artifact.PipelineModel.save`; a model pickled instead loses it at exit).
    A long-lived process gets one such folder per extraction: give a cache to reuse one."""
    folder = Path(tempfile.mkdtemp(prefix="mulde_scene_"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


@shown_at_caller
@unreadable.remembered()
def extract_features(dataset: Dataset, extractor: Extractor, cache: FeatureCache | None = None,
                     shard_spec: str | None = None, progress: bool | None = None,
                     ray: RayOptions | None = None,
                     note: Callable[[int, int], str | None] | None = None) -> Extraction:
    """Extract (or read from the cache) the features of every training and test video.

    The cache folder is checked first (writable, enough free space: `ensure_writable`) and
    cleared of temp files that writers killed over a day ago left (`sweep_stale_temp`). A
    video that cannot be decoded is skipped and listed in `failed`, never stopping the run,
    and named once, in one printed line (`skip_line`): the scene background's note about
    it is held back, and a loader does not warn when it cannot probe it. It is opened once,
    too: the error of its first probe or decode is given again by every later one
    (`mulde.video.unreadable`, over the whole `run_pipeline` or `train_pipeline` and a
    command's loader), also to the Ray engine, which then does not send it to a worker.
    The stray images of frame folders that the loader said (`Dataset.ignored`) are not named
    again by decoding in the run (`mulde.video.decode.strays_said`). What extracting a video
    warns about it (its timeline's gaps, a file cut short, boxes past the frame:
    `mulde.video.cache.VIDEO_WARNINGS`) is kept in its cache entry and said again, same
    class, same words, whenever the entry is read back, on either engine: a rerun from the
    cache and a Ray run say and report what a fresh extraction says.
    With `shard_spec` 'i/n', only every n-th video (from the i-th) is processed. An extractor
    that `needs_scene` (the static stream) first learns the scene background from the training
    videos (saved beside the cache entries; every shard computes the same file); on a dataset
    of several camera views (`Dataset.view_of`), one per view, and a test video of a view no
    training video shows is skipped and listed in `failed`. With `ray` (options of
    `mulde.video.distributed`), the videos not yet in the cache are extracted on a Ray cluster
    instead of in this process (the scene backgrounds are still learnt here first); `cache` is
    then required, and the result is the same; Ray missing, or nothing answering at the
    cluster's address, is an EngineError before any work (`check_engine`). `note`: given the
    number of videos to extract and the number to read back from the cache (counted from
    the cache's entries, `FeatureCache.has`; the videos to skip are in neither), a line
    printed (to stderr; None: nothing) once the checks and the scene background are done,
    just before the videos (`mulde run` says there what it starts where no progress bar
    shows it). `progress`: a bar of the videos on stderr; None (default) draws it where
    stderr is a terminal (or in a notebook) alone, as `mulde` does, so that a log does not
    fill with its updates.
    """
    if ray is not None and cache is None:
        raise ValueError("the ray engine writes through the feature cache: give a cache")
    if ray is not None:
        check_engine(ray)  # Ray installed, its cluster answering: before any work
    strays_said(dataset.ignored)  # said by the loader, maybe before this run began
    if cache is not None:
        ensure_writable(cache.root, what="the feature cache",
                        why="a run writes each video's features and its model fits (fits/) "
                            "there, even when every video is cached; give a writable --cache "
                            "(a copy of this one: its entries are read back)")
        sweep_stale_temp(cache.root)
    per_view = extractor.needs_scene and not dataset.one_view
    if per_view and dataset.view_of is None:
        raise DatasetError(f"{dataset.name}: the static stream learns a scene background per "
                           "camera view, but this dataset does not say which camera took which "
                           "video; use the extractor objects:velocity")
    result = Extraction(extractor=extractor)
    fitted: dict[str | None, Extractor] = {None: extractor}
    if extractor.needs_scene:  # learns what the empty scene looks like from training videos
        folder = (Path(cache.root) / dataset.name if cache is not None
                  else scratch_folder())
        views: dict[str | None, list[Video]] = {}
        for v in dataset.train:
            views.setdefault(dataset.view_of(v.name) if per_view else None, []).append(v)
        # the videos left out of a background are skipped and named by the loop below:
        # its warning is held back, and shown only when no video is left to extract; so are
        # the timeline notes of those videos (`_said_unless_skipped`)
        with held_warnings(SceneBackgroundWarning) as left_out, \
                held_warnings(FrameTimelineWarning) as timeline:
            try:
                fitted = {view: extractor.with_scene(vs, folder) for view, vs in sorted(
                    views.items(), key=lambda kv: str(kv[0]))}
            except ValueError as err:  # no readable training frame at all
                raise DatasetError(f"{dataset.name}: {err}" + "".join(
                    f"; {note}" for note in left_out)) from err
        _said_unless_skipped(timeline)
        if per_view:
            result.scene_backgrounds = {view: ex.scene_background for view, ex in fitted.items()}
        result.extractor = next(iter(fitted.values()))
    jobs: list[tuple[str, Video]] = [("train", v) for v in dataset.train]
    jobs += [("test", v) for v in dataset.test]
    jobs = shard(jobs, shard_spec)
    if note is not None:
        _say(note(*_to_extract(dataset, jobs, fitted, per_view, cache)))
    if ray is not None:
        return _extract_with_ray(dataset, jobs, fitted, per_view, cache, result, ray, progress)
    start = time.perf_counter()
    entries = dataset.cache_name
    bar = tqdm(jobs, disable=None if progress is None else not progress,  # None: tqdm's test
               desc=f"features {dataset.name}", unit="video")
    for split, video in bar:
        bar.set_postfix_str(video.name)
        view = dataset.view_of(video.name) if per_view else None
        if view not in fitted:
            _skipped(dataset, result, _no_view(split, video, view))
            continue
        extractor = fitted[view]
        vf = cache.load(entries, split, video, extractor) if cache else None
        known = None if vf is not None or not cache else cache.failure(
            entries, split, video, extractor)
        if known is not None:  # undecodable on an earlier run, and the file is unchanged
            _skipped(dataset, result, {"split": split, "video": video.name,
                                       "error": known + KNOWN_FAILURE})
            continue
        if vf is not None:
            result.n_cached += 1
        else:
            t0 = time.perf_counter()
            try:  # its timeline notes are said once it is read, and left unsaid if it is
                # skipped, as its one line says what matters (`_said_unless_skipped`); its
                # warnings are kept in its cache entry, which says them again when loaded
                with held_warnings(FrameTimelineWarning) as timeline, \
                        held_video_warnings() as warned:
                    vf = extractor.extract(video, result.stage_seconds)
            except (VideoReadError, DetectionsError) as err:
                _skipped(dataset, result,
                         {"split": split, "video": video.name, "error": str(err)})
                if cache and isinstance(err, VideoReadError):
                    cache.store_failure(entries, split, video, extractor, str(err))
                continue
            _said_unless_skipped(timeline)
            result.n_extracted += 1
            result.frames_extracted += vf.n_frames
            if cache:
                try:
                    cache.store(entries, split, video, extractor, vf, warned)
                except OSError as err:  # a folder of the cache made read-only, a full disk
                    said = unwritable_cache(err, cache.root)
                    if said is None:  # another (a name too long for the file system): as it
                        raise  # is, its path kept, not said to be a cache to make writable
                    raise said from err
            fps = vf.n_frames / max(time.perf_counter() - t0, 1e-9)
            bar.set_postfix_str(f"{video.name} {fps:.0f} frames/s")
        result.features.setdefault(split, {})[video.name] = vf
    result.seconds = time.perf_counter() - start
    return result


def _to_extract(dataset: Dataset, jobs: list[tuple[str, Video]],
                fitted: dict[str | None, Extractor], per_view: bool,
                cache: FeatureCache | None) -> tuple[int, int]:
    """(videos to extract, videos to read back from the cache) of `extract_features`' `jobs`,
    from the cache's entries (`FeatureCache.has`: nothing decoded or loaded); the videos it
    will skip (a failure the cache recorded, a camera view without a scene background) are
    in neither."""
    extract = cached = 0
    entries = dataset.cache_name
    for split, video in jobs:
        view = dataset.view_of(video.name) if per_view else None
        if view not in fitted:
            continue
        if cache is None:
            extract += 1
        elif cache.has(entries, split, video, fitted[view]):
            cached += 1
        elif cache.failure(entries, split, video, fitted[view]) is None:
            extract += 1
    return extract, cached


def _extract_with_ray(dataset: Dataset, jobs: list[tuple[str, Video]],
                      fitted: dict[str | None, Extractor], per_view: bool, cache: FeatureCache,
                      result: Extraction, options: RayOptions, progress: bool | None
                      ) -> Extraction:
    """`extract_features`'s loop on Ray (`mulde.video.distributed`): same entries, same
    `failed` list (same messages, in the same order)."""
    from mulde.video.distributed import extract_with_ray

    start = time.perf_counter()
    runnable: list[tuple[str, Video, Extractor]] = []
    no_view: dict[int, dict[str, str]] = {}
    for split, video in jobs:
        view = dataset.view_of(video.name) if per_view else None
        if view not in fitted:
            no_view[len(runnable) + len(no_view)] = _no_view(split, video, view)
            continue
        runnable.append((split, video, fitted[view]))
    outcomes = iter(extract_with_ray(dataset.cache_name, runnable, cache, options, progress,
                                     label=dataset.name))
    for i in range(len(jobs)):
        if i in no_view:  # said as the one-process loop says it
            _skipped(dataset, result, no_view[i])
            continue
        o = next(outcomes)
        if o.features is None:
            _skipped(dataset, result,
                     {"split": o.split, "video": o.video.name, "error": o.error})
            continue
        result.n_cached += o.cached
        result.n_extracted += not o.cached
        result.frames_extracted += o.n_frames
        for stage, seconds in o.stage_seconds.items():  # summed over the workers
            result.stage_seconds[stage] = result.stage_seconds.get(stage, 0.0) + seconds
        result.features.setdefault(o.split, {})[o.video.name] = o.features
    result.seconds = time.perf_counter() - start
    return result


def _said_unless_skipped(notes: list[Warning]) -> None:
    """Say the held timeline notes (`FrameTimelineWarning`) of the videos this run can read,
    and leave unsaid those of a video it found unreadable (`mulde.video.unreadable`), which
    it skips, naming it in one line whose error says what matters (a truncated file's
    decodable frames and its dropped cut frame: a note of the video's timeline beside the
    skip read as if the video were used; `mulde watch`, which scores the frames before the
    cut, says them)."""
    for note in notes:
        path = getattr(note, "path", None)
        if path is None or unreadable.known(Path(path)) is None:
            warnings.warn(note, stacklevel=3)


def _no_view(split: str, video: Video, view: Any) -> dict[str, str]:
    """The failure of a video whose camera view no training video shows (`Dataset.view_of`):
    the static stream has no scene background for it."""
    return {"split": split, "video": video.name, "error": (
        f"no training video shows its camera view {view!r}, so the static stream has no scene "
        "background for it")}


def _skipped(dataset: Dataset, result: Extraction, failure: dict[str, str]) -> None:
    """List a video as skipped (`Extraction.failed`) and say so in its one line
    (`skip_line`), past any progress bar."""
    result.failed.append(failure)
    _say(f"mulde: warning: {skip_line(dataset, failure)}")


def skip_line(dataset: Dataset, failure: dict[str, str]) -> str:
    """The one line that tells the user a video was skipped (an entry of
    `Extraction.failed`): the file, relative to the dataset's root, then what is wrong and
    what to do, as the error says it (without repeating the path)."""
    videos = dataset.train if failure["split"] == "train" else dataset.test
    path = next((Path(v.path) for v in videos if v.name == failure["video"]), None)
    if path is None:
        return f"skipped {failure['split']}/{failure['video']}: {failure['error']}"
    shown = path.relative_to(dataset.root) if path.is_relative_to(dataset.root) else path
    return f"skipped {shown.as_posix()}: {failure['error'].removeprefix(f'{path}: ')}"


MODEL_DIR = "model"
"""The trained pipeline's folder inside an output folder (`mulde.vad.artifact`)."""

CALIBRATION_FOLDS = 4
"""Out-of-fold calibration by default (`default_calibration_folds`): on Ped2's training
videos alone (no labels; benchmarks/thresholds_held_out.py, docs/alerts.md) it halved MULDE's
false alarms on left-out normal video (4 -> 2 events in 102 s) at about 1.4x the fit time."""


def default_calibration_folds(detector: str, n_videos: int,
                              max_train_objects: int | None = None,
                              folds: int = CALIBRATION_FOLDS) -> int | None:
    """The `StreamEnsemble.calibration_folds` a run uses unless told: None for kNN (its
    training scores are already leave-one-video-out) and with `max_train_objects` (the two
    do not combine), else `folds` folds of the training videos (default `CALIBRATION_FOLDS`;
    a preset's own in `registry.PRESET_CALIBRATION_FOLDS`; fewer when there are fewer videos;
    None for a single video, whose scores then stay in-sample)."""
    if detector == "knn" or max_train_objects is not None or n_videos < 2:
        return None
    return min(folds, n_videos)


def train_and_score(extraction: Extraction, detector: str = "mulde", seed: int = 0,
                    mulde_params: dict[str, Any] | None = None, progress: bool | None = None,
                    max_train_objects: int | None = None,
                    calibration_folds: int | None | str = "auto", fit_jobs: int = 1,
                    pca: dict[str, int] | None = None,
                    sidak: list[str] | None = None, fit_cache: Path | None = None,
                    fit_note: str | None = None,
                    ) -> tuple[StreamEnsemble, dict[str, VideoScores]]:
    """Fit the `StreamEnsemble` on the training videos and score every test video (each
    stream fitted on at most `max_train_objects`, a seeded subsample; None: all;
    `calibration_folds` "auto": `default_calibration_folds`; the fits `fit_jobs` at a time
    in worker processes, `StreamEnsemble.n_jobs`; `pca` stream -> k: those streams' models
    on their first k principal components, `StreamEnsemble.pca`; `sidak`: streams whose
    frame score is the Sidak-corrected maximum, `StreamEnsemble.sidak`; `fit_cache`: a
    folder of finished fits, `StreamEnsemble.fit_cache`; `fit_note`: `fit_ensemble`'s).

    Returns (the fitted ensemble, `VideoScores` per test video). Raises DatasetError when
    there is no readable training or test video."""
    train = extraction.features.get("train", {})
    test = extraction.features.get("test", {})
    for split, videos in (("training", train), ("test", test)):
        if not videos:
            skipped = sum(f["split"] == split[:5] for f in extraction.failed)
            raise DatasetError(f"no readable {split} video" + (
                f": all {skipped} were skipped (see skipped_videos / the messages above)"
                if skipped else "") + "; the pipeline needs at least one training and one "
                "test video")
    ensemble = fit_ensemble(train, detector, seed, mulde_params, progress, max_train_objects,
                            calibration_folds, fit_jobs, pca, sidak, fit_cache, fit_note)
    return ensemble, ensemble.score(test)


def fit_cache_folder(cache: FeatureCache) -> Path:
    """Where a run keeps its finished model fits (`mulde.vad.fit_cache`): `fits/` in its
    feature cache, so that a rerun with the same cache resumes its fits as its extraction;
    a run whose fits are done prunes it (`FitCache.prune`: the fits no run used for
    `UNUSED_DAYS` days)."""
    return Path(cache.root) / "fits"


def fit_ensemble(train: dict[str, VideoFeatures], detector: str = "mulde", seed: int = 0,
                 mulde_params: dict[str, Any] | None = None, progress: bool | None = None,
                 max_train_objects: int | None = None,
                 calibration_folds: int | None | str = "auto", fit_jobs: int = 1,
                 pca: dict[str, int] | None = None,
                 sidak: list[str] | None = None,
                 fit_cache: Path | None = None,
                 fit_note: str | None = None) -> StreamEnsemble:
    """Return the `StreamEnsemble` fitted on the training videos' features (the settings as
    `train_and_score`; `fit_jobs`: worker processes for the fits, `StreamEnsemble.n_jobs`;
    `pca`: `StreamEnsemble.pca`; `sidak`: `StreamEnsemble.sidak`; `fit_cache`:
    `StreamEnsemble.fit_cache`). Before the fits it says on stderr how many of them an
    earlier run finished (read back from `fit_cache`), and prints `fit_note` (the command
    line's: the streams reduced, the hint on making the fits faster) unless every fit is read
    back."""
    if calibration_folds == "auto":
        calibration_folds = default_calibration_folds(detector, len(train), max_train_objects)
        if calibration_folds is None and default_calibration_folds(
                detector, 2, max_train_objects) is not None:
            # one training video where two would give folds: no fold to leave out (a
            # newcomer's run said nothing)
            _say("mulde: note: one readable training video: the calibration and the alert "
                 "threshold are set on its in-sample scores, not out of fold, so new normal "
                 "video may raise more alarms than the threshold's rate; train on two or "
                 "more videos for out-of-fold calibration")
    elif isinstance(calibration_folds, int) and len(train) < calibration_folds:
        # videos were skipped after the folds were chosen: fewer folds, never a lost run
        fewer = default_calibration_folds(detector, len(train), max_train_objects,
                                          folds=calibration_folds)
        warnings.warn(f"{calibration_folds} calibration folds need {calibration_folds} "
                      f"readable training videos, {len(train)} were read: calibrating on "
                      + (f"{fewer} folds" if fewer else "the models' own training scores"),
                      stacklevel=2)
        calibration_folds = fewer
    if progress is None:  # tqdm's rule: bars on a terminal alone, none in a log
        progress = sys.stderr.isatty()
    ensemble = StreamEnsemble(detector, seed, dict(mulde_params or {}), progress,
                              calibration_folds=calibration_folds,  # type: ignore[arg-type]
                              max_train_objects=max_train_objects, n_jobs=fit_jobs,
                              pca=dict(pca) if pca else None,
                              sidak=list(sidak) if sidak else None,
                              fit_cache=fit_cache)
    found, total = ensemble.stored_fits(train)
    if found < total:
        _say(fit_note)
    if found:
        held = FitCache(Path(fit_cache)).size_bytes() / 2**20 if fit_cache else 0.0
        which = ("the model fit was" if total == 1 else f"all {total} model fits were"
                 if found == total else f"{found} of {total} model fits were")
        _say(f"mulde: note: {which} finished by an earlier run: read back from {fit_cache}, "
             f"not run again (it holds {held:.1f} MB of fits; those no run used for "
             f"{UNUSED_DAYS:g} days go once a run's fits are done; delete it to reclaim them "
             "all)")
    ensemble.fit(train)
    if ensemble.fits_reused_ < found:  # an entry damaged past its JSON (`FitCache.has`)
        lost = found - ensemble.fits_reused_
        _say(f"mulde: note: {lost} of the fits found could not be read back (damaged files) "
             f"and {'was' if lost == 1 else 'were'} fitted again")
    return ensemble


def build_model(extraction: Extraction, ensemble: StreamEnsemble, dataset: Dataset,
                fps: float | None = None, threshold_rule: ThresholdRule = "events_per_hour",
                threshold_target: float = DEFAULT_EVENTS_PER_HOUR) -> PipelineModel:
    """Return the trained pipeline (`PipelineModel`) of a fitted ensemble: the extractor as
    used, its scene backgrounds, the dataset's smoothing, and the alert threshold fitted on
    the ensemble's (out-of-fold) training scores. `fps`: the training videos' frame rate
    (default: probed from the first readable training video; frame folders report 25; the
    pipelines pass `_mixed_training_rate` for files at several rates, said before the fits)."""
    train = extraction.features.get("train", {})
    if fps is None:
        first = next(v for v in dataset.train if v.name in train)
        fps = first.fps
        if Path(first.path).is_dir():
            warnings.warn(f"the training videos are frame folders, which record no frame "
                          f"rate: {fps:g} frames/s assumed for the alert threshold's events "
                          "per hour and its patience; give the real rate with --fps",
                          stacklevel=2)
    return PipelineModel.fit(
        extraction.extractor, train, ensemble, fps=float(fps),
        smoothing_sigma=dataset.smoothing_sigma, threshold_rule=threshold_rule,
        threshold_target=threshold_target, scene_backgrounds=extraction.scene_backgrounds,
        training={"dataset": dataset.name, "root": str(dataset.root),
                  "names": list(train), "skipped": [f for f in extraction.failed
                                                    if f["split"] == "train"],
                  "frame_sizes": _frame_sizes(dataset, train,
                                              bool(extraction.scene_backgrounds)),
                  "frame_rates": _training_rates(dataset, train)})


def _mixed_training_rate(dataset: Dataset, train: dict[str, VideoFeatures]) -> float | None:
    """The training videos' mean frame rate when their files state more than one, warning
    that they do (one line; the run goes on), else None (one rate: the first video's is
    used). The mean is their frames over their seconds, so that the alert threshold's events
    per hour count the hours they last, whatever order their names put them in (the first
    video's rate made 20 s of 10 and 25 frames/s video last 14 s or 35 s by its name).
    Frame folders and files that state no rate are left out of it; the warning names them,
    their frames and the length of all the training video at the mean rate, as the
    threshold counts it (a newcomer read 46 s here and 52 s in the next warning)."""
    stated = [(train[v.name].n_frames, rate) for v in dataset.train
              if v.name in train and (rate := stated_rate(v.path))]
    rates = distinct_rates(rate for _, rate in stated)
    if len(rates) < 2:
        return None
    frames = sum(n for n, _ in stated)
    seconds = sum(n / rate for n, rate in stated)
    mean = frames / seconds
    counted = f"{frames} frames in {seconds:.1f} s"
    unstated = [v for v in dataset.train if v.name in train and not stated_rate(v.path)]
    if unstated:  # timed at the mean too (`build_model`): said, with the length in all
        n, more = len(unstated), len(unstated) > 1
        kind = ("frame folder" if all(Path(v.path).is_dir() for v in unstated)
                else "training video")
        extra = sum(train[v.name].n_frames for v in unstated)
        counted += (f" of the {len(stated)} files that state a rate; the {extra} frames of "
                    f"{n} {kind}{'s' if more else ''} that state{'' if more else 's'} none "
                    f"are timed at it too: {video_length((frames + extra) / mean / 3600)} "
                    "in all")
    warnings.warn(f"the training videos run at {len(rates)} frame rates ("
                  f"{', '.join(rate_text(r) for r in rates)} frames/s): speeds and time "
                  "windows are counted in frames, so the same motion differs between them; "
                  "train on video of one rate (re-encode it) unless these are cameras that "
                  "differ. The alert threshold and its patience use their mean rate, "
                  f"{rate_text(mean)} frames/s ({counted})", stacklevel=3)
    return mean


def _training_rates(dataset: Dataset, train: dict[str, VideoFeatures]) -> list[float]:
    """The distinct frame rates (frames/s, ascending) the trained video files' containers
    state (`stated_rate`, `distinct_rates`), for `mulde watch` to compare a source with
    every training rate; frame folders and files that state none are left out ([] when none
    states one)."""
    return [round(rate, 3) for rate in distinct_rates(stated_rate(video.path)
                                                      for video in dataset.train
                                                      if video.name in train)]


def warn_other_sizes(dataset: Dataset, extraction: Extraction) -> list[str]:
    """Warn (one line; the run goes on) when test videos differ in frame size from the
    training videos, all of one size, of an object extractor without a scene background:
    their objects' sizes and speeds are in pixels, so they do not compare (with a scene
    background such a video is skipped and reported instead). Sizes are compared after the
    extractor's `max_height` downscale, so a video of the same view at twice the resolution
    passes. Returns the '<name> (WxH)' (its size as stored) of each such test video; [] when
    the training videos have more than one size (a dataset of several cameras) or a size
    cannot be probed."""
    extractor = extraction.extractor
    if (not isinstance(extractor, ObjectCentricExtractor) or extraction.scene_backgrounds
            or extractor.scene_background is not None):
        return []

    def size(video: Video) -> tuple[tuple[int, int], tuple[int, int]] | None:
        """The video's (width, height) as stored and as the extractor sees it."""
        try:
            info = probe(video.path)
        except VideoReadError:
            return None
        stored = (int(info.width), int(info.height))
        return stored, downscaled_size(*stored, extractor.max_height)

    # compared as the extractor sees them (downscaled), named as stored (the user's sizes)
    trained = extraction.features.get("train", {})
    sizes: dict[tuple[int, int], tuple[int, int]] = {}
    for video in dataset.train:  # stops at a second size: several cameras, nothing to say
        if video.name in trained:
            got = size(video)
            if got is None:
                return []
            sizes.setdefault(got[1], got[0])
            if len(sizes) > 1:
                return []
    if not sizes:
        return []
    ((expected, stored),) = sizes.items()
    other = []
    for video in dataset.test:
        found = size(video) if video.name in extraction.features.get("test", {}) else None
        if found is not None and found[1] != expected:
            other.append(f"{video.name} ({found[0][0]}x{found[0][1]})")
    if other:
        rule = frame_size_rule(expected, extractor.max_height, stored)
        warnings.warn(f"{len(other)} test video{'s' if len(other) > 1 else ''} of another "
                      f"frame size than the training videos ({stored[0]}x{stored[1]}): "
                      f"{', '.join(other)}; {rule}, but it has no scene background that "
                      "would refuse other sizes, so it scores these, and their objects' sizes "
                      "and speeds in pixels do not compare with the training ones: score "
                      "video it takes, or train on video of these sizes",
                      stacklevel=2)
    return other


def warn_other_rates(dataset: Dataset, extraction: Extraction) -> list[str]:
    """Warn (one line; the run goes on) when test video files run at a frame rate that none
    of the training video files runs at (as their containers state it,
    `mulde.video.decode.stated_rate`; rates within `RATE_TOLERANCE` are one, as
    `distinct_rates` counts them): speeds are measured in pixels per frame and time windows
    in frames, so a video at a third of the rate moves three times as far per frame and
    looks anomalous (a newcomer's 8.3 frames/s copy of normal video raised an event that its
    25 frames/s original did not). Training files at several rates (several cameras) pass a
    test video at any of them, as `mulde watch` does (a newcomer's 10 frames/s test video
    beside training files at 25 and 30 went unnamed). Frame folders and files that state no
    rate are left out. Returns the '<name> (<rate> frames/s)' of each such test video; []
    when no training file states a rate."""

    trained_names = extraction.features.get("train", {})
    rates = distinct_rates(stated_rate(v.path) for v in dataset.train
                           if v.name in trained_names)
    if not rates:
        return []
    scored = extraction.features.get("test", {})
    other = [f"{v.name} ({rate_text(r)} frames/s)" for v in dataset.test
             if v.name in scored and (r := stated_rate(v.path))
             and all(other_rate(r, known) for known in rates)]
    if other:
        trained = (f"the training videos ({rate_text(rates[0])} frames/s)" if len(rates) == 1
                   else f"any of the training videos ({', '.join(map(rate_text, rates))} "
                   "frames/s)")
        warnings.warn(f"{len(other)} test video{'s' if len(other) > 1 else ''} at another "
                      f"frame rate than {trained}: "
                      f"{', '.join(other)}; speeds and time windows are counted in frames, so "
                      "they do not compare with the training ones and normal motion can look "
                      "anomalous: score video at the training rate, or train on such video",
                      stacklevel=2)
    return other


SHORT_VIDEO_FRAMES = 3
"""A test video of fewer frames is named by `warn_short_test_videos`: one frame has no
motion at all (its flow is zero), two give one flow for both, and the per-video background
and the scores' smoothing have as little to go on."""


def warn_short_test_videos(dataset: Dataset, extraction: Extraction) -> list[str]:
    """Warn (one line; the run goes on, their scores as they are) when scored test videos
    have fewer than `SHORT_VIDEO_FRAMES` frames: their motion features measure next to
    nothing, so their scores and events (a newcomer's one-frame clip raised one) say little.
    Returns the '<name> (<n> frame(s))' of each such test video."""
    scored = extraction.features.get("test", {})
    short = [f"{v.name} ({n} frame{'s' if n > 1 else ''})" for v in dataset.test
             if v.name in scored and (n := scored[v.name].n_frames) < SHORT_VIDEO_FRAMES]
    if short:
        warnings.warn(f"{len(short)} test video{'s' if len(short) > 1 else ''} of fewer than "
                      f"{SHORT_VIDEO_FRAMES} frames: {', '.join(short)}; motion is measured "
                      "between frames, so their scores and events rest on next to nothing: "
                      "score longer clips", stacklevel=2)
    return short


def warn_test_frames_below_calibration(ensemble: StreamEnsemble,
                                       video_scores: Mapping[str, VideoScores],
                                       features: Mapping[str, VideoFeatures],
                                       trained: Mapping[str, int]) -> list[str]:
    """Warn (`mulde.vad.fusion.warn_below_calibration`; the run goes on) for each stream most
    of whose test frames with objects calibrate below 0; the frames without an object of
    their own there (`VideoFeatures.objectless_frames` of the test videos' `features`: an
    empty scene, which scores low by design) are counted apart, and so are those of the
    training videos in the rate expected: `trained`, per stream name the training frames
    with objects of their own (`frames_with_objects`, which the model records in its
    `training`). Returns '<stream> (<share> of <frames> frames)' per flagged stream; []
    when none is."""
    counts = {stream.value: [0, 0, 0] for stream in ensemble.fits_}
    for name, scores in video_scores.items():
        holes = features[name].objectless_frames()
        for stream, values in scores.streams.items():
            if stream.value not in counts:
                continue
            hole = holes[stream]
            count = counts[stream.value]
            count[0] += int(np.count_nonzero(values[~hole] < 0))
            count[1] += int(np.count_nonzero(~hole))
            count[2] += int(np.count_nonzero(hole))
    return warn_below_calibration(ensemble, counts, trained, "test frames")


def _byte_copies(videos: list[Video], earlier: list[Video], root: Path) -> list[str]:
    """'<file> (= <twin>)' (paths relative to `root`) for each video file of `videos` with
    the same bytes as a file of `earlier` (the first such), or, where `earlier` is `videos`
    itself, as a file before it in that list. Files are compared by size first, and by
    SHA-256 only where sizes match (each file hashed once), so distinct videos cost one stat
    per file; frame folders (not files) are never compared."""
    same_list = videos is earlier
    by_size: dict[int, list[Video]] = {}
    if not same_list:
        for video in earlier:
            if video.path.is_file():
                by_size.setdefault(video.path.stat().st_size, []).append(video)
    digests: dict[Path, str] = {}

    def digest(video: Video) -> str:
        if video.path not in digests:
            digests[video.path] = file_sha256(video.path)
        return digests[video.path]

    copies = []
    for video in videos:
        if not video.path.is_file():
            continue
        size = video.path.stat().st_size
        candidates = by_size.get(size, [])
        twin = next((t for t in candidates if digest(t) == digest(video)), None)
        if twin is not None:
            copies.append(f"{shown_path(video.path, root)} (= {shown_path(twin.path, root)})")
        elif same_list:  # a copy's own copies are named with the first file
            by_size.setdefault(size, []).append(video)
    return copies


def warn_training_copies(dataset: Dataset, extraction: Extraction) -> list[str]:
    """Warn (one line; the run goes on) when a scored test video file has the same bytes as
    a training video file: its scores, and the AUCs they enter, measure how well the model
    remembers its training data, not how it detects anomalies in unseen video (a newcomer's
    test/ held a copy of a training clip, unflagged). Compared as `_byte_copies` does, the
    training videos trained on against the test videos scored. Returns '<test file> (=
    <training file>)' per such test video, the paths relative to the dataset's root."""
    trained = extraction.features.get("train", {})
    scored = extraction.features.get("test", {})
    copies = _byte_copies([v for v in dataset.test if v.name in scored],
                          [v for v in dataset.train if v.name in trained], dataset.root)
    if copies:
        many = len(copies) > 1
        what = ("s are copies of training videos" if many else " is a copy of a training video")
        warnings.warn(f"{len(copies)} test video{what}: {', '.join(copies)}; "
                      f"{'their' if many else 'its'} scores measure what the model remembers, "
                      f"not detection in unseen video: take {'them' if many else 'it'} out of "
                      "the test videos (or the training ones)", stacklevel=2)
    return copies


def warn_repeated_training_videos(dataset: Dataset, extraction: Extraction) -> list[str]:
    """Warn (one line; training goes on) when a training video file trained on has the same
    bytes as another one trained on: its frames then count again in the model's fit and in
    the threshold's training scores, as if that footage were more common (a newcomer's
    train/ held two copies of a clip, unflagged). Compared as `_byte_copies` does. Returns
    '<file> (= <earlier file>)' per repeated file, the paths relative to the dataset's
    root."""
    trained = extraction.features.get("train", {})
    videos = [v for v in dataset.train if v.name in trained]
    copies = _byte_copies(videos, videos, dataset.root)
    if copies:
        many = len(copies) > 1
        warnings.warn(f"{len(copies)} training video{'s are copies' if many else ' is a copy'} "
                      f"of another: {', '.join(copies)}; {'their' if many else 'its'} frames "
                      "are trained on again, as if that footage were more common: keep one "
                      "copy", stacklevel=2)
    return copies


def _frame_sizes(dataset: Dataset, train: dict[str, VideoFeatures], per_view: bool
                 ) -> dict[str, list[int]]:
    """{camera view ("" for one view): [width, height] of its first readable training
    video}, for a trained model to name the size of its training videos (`mulde watch`
    given a camera of another size); a video that cannot be probed is passed over."""
    sizes: dict[str, list[int]] = {}
    for video in dataset.train:
        view = dataset.view_of(video.name) if per_view and dataset.view_of else ""
        if video.name not in train or view in sizes:
            continue
        try:
            info = probe(video.path)
        except VideoReadError:
            continue
        if info.width and info.height:
            sizes[view] = [int(info.width), int(info.height)]
    return sizes


@shown_at_caller
@unreadable.remembered()
def train_pipeline(dataset: Dataset, extractor: Extractor, out_dir: Path,
                   cache_dir: Path | None = None, detector: str = "mulde", seed: int = 0,
                   mulde_params: dict[str, Any] | None = None, progress: bool | None = None,
                   ray: RayOptions | None = None, max_train_objects: int | None = None,
                   calibration_folds: int | None | str = "auto", fps: float | None = None,
                   threshold_rule: ThresholdRule = "events_per_hour",
                   threshold_target: float = DEFAULT_EVENTS_PER_HOUR,
                   fit_jobs: int = 1, pca: dict[str, int] | None = None,
                   sidak: list[str] | None = None,
                   fit_note: str | None = None,
                   extract_note: Callable[[int, int], str | None] | None = None) -> PipelineModel:
    """Train on the dataset's training videos alone (its test videos, if any, are ignored)
    and write the trained pipeline to out_dir/model; return it. Raises DatasetError when no
    training video is readable, and ArtifactError before any work when out_dir/model holds
    someone's files (`check_model_folder`). `pca`, `calibration_folds`, `mulde_params`,
    `fit_note` and `extract_note` as in `run_pipeline` (a preset's defaults of `mulde train`
    are not applied here)."""
    dataset = dataclasses.replace(dataset, test=())
    if not dataset.train:
        raise DatasetError(f"{dataset.root}: no training videos (video files or folders of "
                           "frames)")
    # before minutes of extraction and fits
    not_a_run_report(out_dir)
    check_model_folder(Path(out_dir) / MODEL_DIR, cache_dir)
    out_dir = ensure_writable(Path(out_dir))
    cache = FeatureCache(cache_dir if cache_dir is not None else out_dir / "cache")
    extraction = extract_features(dataset, extractor, cache, progress=progress, ray=ray,
                                  note=extract_note)
    train = extraction.features.get("train", {})
    if not train:
        raise DatasetError(f"no readable training video: all {len(extraction.failed)} were "
                           "skipped (see the messages above)")
    if fps is None:  # said before the fits
        fps = _mixed_training_rate(dataset, train)
    warn_repeated_training_videos(dataset, extraction)
    ensemble = fit_ensemble(train, detector, seed, mulde_params, progress, max_train_objects,
                            calibration_folds, fit_jobs, pca, sidak, fit_cache_folder(cache),
                            fit_note)
    model = build_model(extraction, ensemble, dataset, fps, threshold_rule, threshold_target)
    with _saved_model(model, out_dir, cache):
        pass
    return model


def not_a_run_report(out_dir: str | Path) -> None:
    """Refuse (ArtifactError, one line) a `train_pipeline` output folder that holds a mulde
    run's report (`earlier_report`): training there would put another model beside the
    report made with the one in out_dir/model (a newcomer's `mulde train --out` of a run
    folder did). A folder of a user's report files is not a run's: nothing here touches
    them."""
    try:
        report = earlier_report(out_dir)
    except EvaluationError:  # a user's files of a report's names: train writes none of them
        return
    if report:
        raise ArtifactError(f"{out_dir}: holds a mulde run's report (metrics.json, "
                            f"report.html), made with the model in {MODEL_DIR}/; training "
                            "into it would leave that report beside another model: give "
                            "another output folder (--out)")


def not_a_trained_model(out_dir: str | Path, root: str | Path | None = None) -> None:
    """Refuse (ArtifactError, one line) a `run_pipeline` output folder whose model/ holds a
    model with no run's report beside it (`mulde train`'s), or, with `root`, one trained on
    another dataset root than `root` (the demo's own scene): the run would replace a model
    someone trained, quietly. A rerun into a run's folder of the same data passes."""
    from mulde.vad.artifact import MANIFEST, read_manifest

    manifest = read_manifest(Path(out_dir) / MODEL_DIR / MANIFEST)
    if manifest is None:
        return
    try:
        report = earlier_report(out_dir)
    except EvaluationError:  # a user's report files: refused by the run's own checks
        report = True
    trained = manifest.get("training")
    trained = trained if isinstance(trained, dict) else {}
    elsewhere = root is not None and Path(str(trained.get("root", ""))).resolve() != Path(
        root).resolve()
    if not report or elsewhere:
        what = (f"a model trained on {trained.get('root')}" if elsewhere
                else "a model `mulde train` wrote (no run's report beside it)")
        raise ArtifactError(f"{out_dir}: holds {what} in {MODEL_DIR}/, which this run would "
                            "replace: give another output folder (--out)")


@contextlib.contextmanager
def _saved_model(model: PipelineModel, out_dir: Path, cache: FeatureCache) -> Iterator[None]:
    """Save `model` into out_dir/model when the block ends without an error
    (`PipelineModel.saving`: written before the block, put in place after it), so that a
    report written in the block and the model are replaced together. The folder was checked
    before the extraction (`check_model_folder`); a refusal now (a file put there during the
    run) says that the features and fits are kept in `cache`, so that the next run reads
    them back."""
    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(model.saving(out_dir / MODEL_DIR))
        except ArtifactError as err:
            raise ArtifactError(f"{err}; the extracted features and the fits are kept in "
                                f"{cache.root}: --cache {cache.root} reads them back") from None
        yield  # the stack's exit puts the model in place, or drops it on an error


@shown_at_caller
@unreadable.remembered()
def run_pipeline(dataset: Dataset, extractor: Extractor, out_dir: Path,
                 cache_dir: Path | None = None, detector: str = "mulde", seed: int = 0,
                 mulde_params: dict[str, Any] | None = None,
                 progress: bool | None = None, ray: RayOptions | None = None,
                 max_train_objects: int | None = None,
                 calibration_folds: int | None | str = "auto", fps: float | None = None,
                 threshold_rule: ThresholdRule = "events_per_hour",
                 threshold_target: float = DEFAULT_EVENTS_PER_HOUR,
                 fit_jobs: int = 1, pca: dict[str, int] | None = None,
                 sidak: list[str] | None = None,
                 fit_note: str | None = None,
                 extract_note: Callable[[int, int], str | None] | None = None) -> dict[str, Any]:
    """Run the whole pipeline on a dataset and write the report into out_dir (features
    extracted on Ray with `ray`, see `extract_features`), and the trained pipeline into
    out_dir/model (`mulde.vad.artifact.PipelineModel`, with its alert threshold).

    `pca` and `calibration_folds` are applied as given ("auto":
    `default_calibration_folds`, `CALIBRATION_FOLDS` folds): what an extractor sets by default
    on the command line (`mulde run --extractor objects:detector`) is
    `registry.preset_pca(name, extractor)` (128 components of EfficientNet-Lite0's
    embedding: an object extractor's appearance stream, the frames extractor's stream),
    `registry.preset_calibration_folds(name)` (2 folds for objects:detector) and, under
    --params, `registry.preset_mulde_params(name)`
    (max_steps 1000 for objects:detector; here `mulde_params` alone, the estimator's 2,000
    steps by default); pass them here to train the same models. The extractor's own
    settings (objects:detector's `pose_carry_held`) come with `build_extractor`.

    When the training videos are too short to check the threshold's events-per-hour target
    (`ThresholdFit.too_short`), a warning says so and the report repeats it beside the
    threshold (metrics.json: `threshold.note`). Videos skipped as unreadable and the entries
    of a user's folders that are no video (`Dataset.ignored`, in the words of the loader's
    `IgnoredFilesWarning`) are listed among the report's warnings and in metrics.json
    (`config.skipped_videos`, `config.ignored_files`), and so are the videos a partial copy
    of a benchmark lacks (`Dataset.left_out`, `config.left_out`), said not to compare with
    results on the complete dataset. Where test videos were skipped and the metrics are
    computed on the others, a note says how many were evaluated and that the numbers are
    not over all of them (`mulde.evaluation.report.partial_note`, as `mulde evaluate
    --partial` says it: metrics.json `notes`, the report's headline; the skipped ones in
    `config.videos_without_scores`). `fit_note`: lines printed (to stderr) once the features
    are there, before the model fits start (the command line's: the streams reduced, the hint
    on making the fits faster), unless every fit is read back from the fit cache
    (`fit_ensemble`); None: nothing. `extract_note`: `extract_features`' `note`.

    Before any work, out_dir/model holding someone's files (`check_model_folder`:
    ArtifactError) and a metrics.json, report.html or frame_scores.csv there that no mulde
    report wrote (`earlier_report`: EvaluationError) are refused. `progress`: bars of the
    extraction and the fits on stderr; None (default) only where stderr is a terminal, so
    that a log does not fill with their updates.

    Returns the metrics.json dict (scores and plots only when the test set has no labels).
    """
    require_videos(dataset)  # before any folder is made
    # a user's files where the model and report go: refused before minutes of work
    check_model_folder(Path(out_dir) / MODEL_DIR, cache_dir)
    earlier_report(out_dir)
    not_a_trained_model(out_dir)
    out_dir = ensure_writable(Path(out_dir))
    cache = FeatureCache(cache_dir if cache_dir is not None else out_dir / "cache")
    with recorded_warnings() as run_warnings:
        extraction = extract_features(dataset, extractor, cache, progress=progress, ray=ray,
                                      note=extract_note)
        warn_other_sizes(dataset, extraction)
        warn_other_rates(dataset, extraction)
        warn_short_test_videos(dataset, extraction)
        # the model's rate of training files at several rates, said before the fits
        # (build_model would say it after them); `fps` stays the user's, for frame folders
        model_fps = fps if fps is not None else _mixed_training_rate(
            dataset, extraction.features.get("train", {}))
        warn_repeated_training_videos(dataset, extraction)
        warn_training_copies(dataset, extraction)
        ensemble, video_scores = train_and_score(extraction, detector, seed, mulde_params,
                                                 progress, max_train_objects,
                                                 calibration_folds, fit_jobs, pca, sidak,
                                                 fit_cache_folder(cache), fit_note)
        model = build_model(extraction, ensemble, dataset, model_fps, threshold_rule,
                            threshold_target)
        warn_test_frames_below_calibration(ensemble, video_scores,
                                           extraction.features.get("test", {}),
                                           model.training["frames_with_objects"])
    # the model is written now and put in place with the report: an interrupt before
    # leaves the earlier run's model and report together (a newcomer found a new model
    # beside the report of the one before)
    with _saved_model(model, out_dir, cache):
        threshold = model.threshold  # the alert threshold (on the smoothed fused scores)
        too_short = None if threshold is None else threshold.too_short()
        if too_short:  # shown now, and in the report beside the threshold (not twice there)
            warnings.warn(f"alert threshold: {too_short}", stacklevel=2)
        scores = {name: s.fused for name, s in video_scores.items()}
        top = {name: s.top for name, s in video_scores.items()}
        timings = {"train": ensemble.fit_seconds_,  # wall time: the fits may run side by side
                   "score": sum(f.score_s for f in ensemble.fits_.values())}
        labels = {v.name: v.labels for v in dataset.test if v.name in scores}
        skipped_tests = [f["video"] for f in extraction.failed if f["split"] == "test"]
        one_class = _one_class_labels(labels, skipped_tests)
        if one_class:  # no AUC to compute: the report of scores and events that unlabelled
            warnings.warn(one_class.warning, stacklevel=2)  # video gets, not no report at all
        evaluated = sum(y is not None for y in labels.values())
        notes = [partial_note(  # metrics over fewer test videos than the dataset has
            evaluated, evaluated + len(skipped_tests),
            f"{len(skipped_tests)} skipped, not scored: the report's warnings say which and why",
            # a user's folder by its name, said to be one ("of the folder lobby")
            (f"the folder {dataset_label(dataset)}" if dataset.name == "folder"
             else dataset_label(dataset)), benchmark=dataset.name != "folder")
        ] if skipped_tests and evaluated and not one_class else []
        # a partial copy of a benchmark: said with the numbers too, not only in the loader's
        # warning before the extraction's minutes
        notes += [f"partial evaluation: {line}: the numbers are not the benchmark's"
                  for line in dataset.left_out if evaluated and not one_class]
        protocol = EvaluationProtocol(smoothing_sigma=dataset.smoothing_sigma, dataset=dataset.name)
        t0 = time.perf_counter()
        detections = _detections_lookup(extraction.extractor, dataset)
        # the objects' boxes are in the pixels of the frames the extractor saw (downscaled to its
        # max_height, where it has one): the report draws them on the decoded frames
        max_height = getattr(extraction.extractor, "max_height", None)
        snapshots = most_anomalous_moments(dataset, scores, top, protocol, detections=detections,
                                           max_height=max_height)
        timings["snapshots"] = time.perf_counter() - t0
        timings = {"extract": extraction.seconds,
                   **{f"extract.{k}": v for k, v in extraction.stage_seconds.items()}, **timings}
        config = {"dataset": dataset.name, "root": str(dataset.root), "detector": detector,
                  "extractor": {"name": extractor.name, "version": extractor.version,
                                "params": extraction.extractor.params,
                                **({"scene_backgrounds": extraction.scene_backgrounds}
                                   if extraction.scene_backgrounds else {})},
                  "mulde_params": mulde_params or {}, "skipped_videos": extraction.failed,
                  "ignored_files": sorted((shown_path(p, dataset.root) for p in dataset.ignored),
                                          key=natural_key),
                  "left_out": list(dataset.left_out),
                  "calibration_folds": ensemble.calibration_folds, "fit_jobs": fit_jobs,
                  "fits_reused": ensemble.fits_reused_,
                  "fps": model.fps,
                  "model": str(out_dir / MODEL_DIR),
                  "threshold": None if threshold is None else threshold.to_dict(),
                  **({"max_train_objects": max_train_objects} if max_train_objects else {}),
                  **({"pca": {s: _pca_record(ensemble.fits_[Stream(s)].model, k)
                              for s, k in pca.items()}} if pca else {}),
                  **({"frame_score": {s: "sidak" for s in sorted(sidak)}} if sidak else {}),
                  "videos_without_scores": skipped_tests,
                  "videos_extracted": extraction.n_extracted, "videos_cached": extraction.n_cached,
                  "engine": "local" if ray is None else {"name": "ray", **asdict(ray)}}
        skipped = [skip_line(dataset, f) for f in extraction.failed] + ignored_lines(
            dataset.ignored, dataset.root) + [
            f"{line}; the metrics cover the videos present and do not compare with results on "
            "the complete dataset" for line in dataset.left_out] + run_warnings + (
            [one_class.warning] if one_class else [])
        # the alert threshold is fitted on the fused calibrated scores smoothed with the dataset's
        # sigma: the report's curve, so its line and events are the model's alerts
        if threshold is not None and threshold.sigma != protocol.smoothing_sigma:
            threshold = None  # never compare a threshold with a curve of another smoothing
        metrics = write_report(
            out_dir, scores, labels, protocol=protocol,
            calibration={s.value: c for s, c in ensemble.calibrations.items()},
            fusion="sum of calibrated streams", config=config, seed=seed, timings=timings,
            title=f"MULDE on {dataset_label(dataset)} with {extractor_label(extractor)}",
            snapshots=snapshots, warnings=skipped, notes=notes,
            threshold=None if threshold is None else threshold.value,
            event_patience=1 if threshold is None else threshold.patience,
            threshold_note=too_short,
            no_metrics_note=one_class.note if one_class else None,
            timings_note=_timings_note(extraction, ensemble.fits_reused_),
            stream_scores={n: s.streams for n, s in video_scores.items()},
            fps=_frame_rates(dataset, scores, fps),
            event_frames=frame_renderer(dataset, top, detections, max_height=max_height))
    return metrics


def _timings_note(extraction: Extraction, fits_reused: int) -> str | None:
    """What a run's timings (metrics.json "timings") cover when it read work back from its
    caches: they are this invocation's seconds, and a resumed run (or one on a cache another
    run filled) did not spend the seconds of the features and fits it read back: an earlier
    invocation did, whose wall time no cache keeps (the feature cache keeps no seconds, and
    the fits' own seconds do not add up to a wall time where they ran side by side); None
    when it read nothing back."""
    read, extracted = [], ""
    if extraction.n_cached:
        total = extraction.n_cached + extraction.n_extracted
        read.append(f"the features of {extraction.n_cached} of {total} videos")
        extracted = (f"; the extraction stages' seconds cover the {extraction.n_extracted} "
                     f"extracted now ({extraction.frames_extracted} frames)")
    if fits_reused:
        read.append(f"{fits_reused} model fit{'s' if fits_reused != 1 else ''}")
    if not read:
        return None
    return (f"seconds of this invocation only: {' and '.join(read)} were read back from the "
            "cache, finished by an earlier run (an interrupted one this run resumes, or "
            f"another on the same cache), whose seconds are not counted{extracted}")


@dataclass(frozen=True)
class _OneClassLabels:
    """What a run says when its test labels hold one class: the `warning` (console, metrics.json
    and the report's warnings: the cause and what to do) and the report's `note` (why it has
    no metrics), both opening with the same `cause`."""

    cause: str
    advice: str

    @property
    def warning(self) -> str:
        return f"{self.cause}: {self.advice}"

    @property
    def note(self) -> str:
        return single_class_note(self.cause)


def _one_class_labels(labels: dict[str, Any],
                      skipped: Sequence[str]) -> _OneClassLabels | None:
    """What to say when the labels of the scored test videos ({video: 0/1 per frame, or None})
    hold one class only, so that no AUC can be computed (a labels.csv of normal videos
    alone, or the labelled ones skipped as unreadable: `skipped`, the names of the test
    videos that were, whose labels go with them, whatever they were: the length of a file
    that cannot be read is unknown, so its labels are); None when they hold both, or none
    is labelled (the report then says no labels were given)."""
    found = single_class(labels)
    if found is None:
        return None
    n, value = found
    other = "normal" if value else "anomalous"
    advice = (f"the report shows the scores and events without metrics; to evaluate, test "
              f"videos need {other} frames too (labels.csv: video,start,end marks the "
              "anomalous ones)")
    if skipped:  # an unreadable file's labels are unknown (its length cannot be probed)
        shown = ", ".join(skipped[:3]) + (f" and {len(skipped) - 3} more"
                                          if len(skipped) > 3 else "")
        advice += (f"; the skipped test video(s) {shown} are not scored: where their labels "
                   f"hold {other} frames, repair or re-encode them (the skip lines above say "
                   "why) and rerun")
    return _OneClassLabels(single_class_cause(n, value, "scored test video(s)"), advice)


def _say(line: str | None) -> None:
    """Print a line for the user to stderr, past any progress bar (nothing for None)."""
    if line:
        tqdm.write(line, file=sys.stderr)


_RUN_FIELDS = frozenset({"weights_path", "scene_background", "boxes_cache"})
"""Extractor settings a run fills in, not part of what a preset chose."""
_BOX_FIELDS = frozenset({"regions", "boxes_dir", "min_box_score", "max_height"})
"""The settings that detector boxes from files (`mulde run --boxes`) change."""


def dataset_label(dataset: Dataset) -> str:
    """The dataset as the report's title names it: a user's folder by its name ("lobby"),
    a benchmark by its name and, when the folder is named otherwise, the folder's
    ("ucsd_ped2 (UCSDped2)")."""
    folder = Path(dataset.root).resolve().name
    if dataset.name == "folder":
        return folder or dataset.name
    return dataset.name if folder in ("", dataset.name) else f"{dataset.name} ({folder})"


def extractor_label(extractor: Extractor) -> str:
    """The extractor as `mulde run --extractor` names it ("objects:detector", "frames:hiera"),
    for the report's title: the object-centric preset whose settings it has, leaving aside
    those a run fills in (weights file, scene background, box cache) and a benchmark
    protocol's velocity bins; else the nearest preset and the settings that differ
    ("objects:ped2 (blur changed)"); " + boxes" with detector boxes from files. Any other
    extractor goes by its `name`."""
    from mulde.video.features import FrameCentricExtractor, ObjectCentricExtractor
    from mulde.video.features.regions import RegionMode
    from mulde.video.features.registry import EXTRACTOR_PRESETS, PROTOCOL_PRESETS

    if isinstance(extractor, FrameCentricExtractor):
        return {"efficientnet-lite0": "frames", "hiera": "frames:hiera"}.get(
            extractor.backbone, f"frames ({extractor.backbone} backbone)")
    if not isinstance(extractor, ObjectCentricExtractor):
        return extractor.name
    boxes = extractor.regions is RegionMode.BOXES
    ignored = _RUN_FIELDS | (_BOX_FIELDS if boxes else frozenset())
    fields = [f.name for f in dataclasses.fields(extractor) if f.init and f.name not in ignored]
    nearest: tuple[str, list[str]] | None = None
    for preset, base in EXTRACTOR_PRESETS.items():
        differ = [f for f in fields if getattr(extractor, f) != getattr(base, f)
                  and not (f == "n_bins" and preset in PROTOCOL_PRESETS)]
        if nearest is None or len(differ) < len(nearest[1]):
            nearest = (preset, differ)
    assert nearest is not None
    preset, differ = nearest
    label = "objects" if preset == "default" else f"objects:{preset}"
    if differ:
        label += f" ({', '.join(differ[:3])}{', ...' if len(differ) > 3 else ''} changed)"
    return label + (" + boxes" if boxes else "")


def _pca_record(model: Any, asked: int) -> dict[str, Any]:
    """metrics.json's `config.pca` entry of one reduced stream (`model`: its fitted
    `PCAStream`): `n_components`, the components asked (the key earlier runs wrote, with
    the same meaning), `kept`, those the PCA kept (fewer when the stream has fewer
    dimensions or training objects than asked, which a warning says), and
    `explained_variance`, the share of the training variance the kept ones hold. `kept` and
    `explained_variance` are None for a model without a fitted projection."""
    components = getattr(model, "components_", None)
    return {"n_components": int(asked),
            "kept": None if components is None else int(components.shape[0]),
            "explained_variance": getattr(model, "explained_variance_", None)}


def _frame_rates(dataset: Dataset, names, folder_fps: float | None = None
                 ) -> dict[str, float | None]:
    """{test video: frames/s of its file, for event times; for a frame folder `folder_fps`
    (the rate the user gave, `mulde run --fps`), else None (its rate is not recorded
    anywhere: a guess would give wrong seconds); None for a file that cannot be probed
    again}."""
    out: dict[str, float | None] = {}
    for video in dataset.test:
        if video.name in names:
            try:
                out[video.name] = folder_fps if Path(video.path).is_dir() else video.fps
            except (VideoReadError, OSError):
                out[video.name] = None
    return out


def _detections_lookup(extractor: Extractor | None, dataset: Dataset):
    """(video name, frame) -> [(box, class name)] from the extractor's box cache, or None
    when the extractor does not run a detector."""
    if not hasattr(extractor, "cached_detections"):
        return None
    from mulde.video.detection import class_name

    videos = {v.name: v for v in dataset.test}

    def lookup(name: str, t: int) -> list:
        found = extractor.cached_detections(videos[name]) if name in videos else None
        if not found or t >= len(found):
            return []
        d = found[t]
        return [(box, class_name(c)) for box, c in zip(d.boxes.tolist(), d.classes.tolist(),
                                                       strict=True)]

    return lookup
