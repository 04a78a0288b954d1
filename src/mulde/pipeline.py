"""The video pipeline: extract (cached) -> train one model per stream -> score every test frame
-> calibrate and fuse the streams -> evaluate and report (METHOD.md, "Video protocol").
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from mulde.atomic import ensure_writable, sweep_stale_temp
from mulde.datasets.common import DatasetError, require_videos
from mulde.evaluation import Calibration, EvaluationProtocol, objects_to_frames, write_report
from mulde.snapshots import TopObjects, most_anomalous_moments
from mulde.stream_models import make_stream_model
from mulde.video.cache import Extractor, FeatureCache, VideoFeatures, shard
from mulde.video.features.detections import DetectionsError
from mulde.video.source import Dataset, Video, VideoReadError


@dataclass
class Extraction:
    """Features per split and video, and the videos that could not be read."""

    features: dict[str, dict[str, VideoFeatures]] = field(default_factory=dict)
    failed: list[dict[str, str]] = field(default_factory=list)
    n_cached: int = 0
    n_extracted: int = 0
    seconds: float = 0.0
    frames_extracted: int = 0
    extractor: Extractor | None = None  # as used: fitted to the scene when it needs that
    # the static stream on several camera views: view -> its scene background image (the
    # `extractor` above is then the first view's)
    scene_backgrounds: dict[str, str] = field(default_factory=dict)


def extract_features(dataset: Dataset, extractor: Extractor, cache: FeatureCache | None = None,
                     shard_spec: str | None = None, progress: bool = True) -> Extraction:
    """Extract (or read from the cache) the features of every training and test video.

    The cache folder is checked first (writable, enough free space: `ensure_writable`) and
    cleared of temp files that writers killed over a day ago left (`sweep_stale_temp`). A
    video that cannot be decoded is skipped and listed in `failed`, never stopping the run.
    With `shard_spec` 'i/n', only every n-th video (from the i-th) is processed. An extractor
    with `with_scene` (the static stream) first learns the scene background from the training
    videos (saved beside the cache entries; every shard computes the same file); on a dataset
    of several camera views (`Dataset.view_of`), one per view, and a test video of a view no
    training video shows is skipped and listed in `failed`.
    """
    if cache is not None:
        ensure_writable(cache.root)
        sweep_stale_temp(cache.root)
    per_view = "static" in getattr(extractor, "streams", ()) and not dataset.one_view
    if per_view and dataset.view_of is None:
        raise DatasetError(f"{dataset.name}: the static stream learns a scene background per "
                           "camera view, but this dataset does not say which camera took which "
                           "video; use the extractor objects:velocity")
    result = Extraction(extractor=extractor)
    fitted: dict[str | None, Extractor] = {None: extractor}
    if hasattr(extractor, "with_scene"):  # learns what the empty scene looks like, if needed
        folder = (Path(cache.root) / dataset.name if cache is not None
                  else Path(tempfile.mkdtemp(prefix="mulde_scene_")))
        if per_view:
            views: dict[str, list[Video]] = {}
            for v in dataset.train:
                views.setdefault(dataset.view_of(v.name), []).append(v)
            fitted = {view: extractor.with_scene(vs, folder) for view, vs in sorted(views.items())}
            result.scene_backgrounds = {view: ex.scene_background for view, ex in fitted.items()}
        else:
            fitted = {None: extractor.with_scene(dataset.train, folder)}
        result.extractor = next(iter(fitted.values()))
    jobs: list[tuple[str, Video]] = [("train", v) for v in dataset.train]
    jobs += [("test", v) for v in dataset.test]
    jobs = shard(jobs, shard_spec)
    start = time.perf_counter()
    bar = tqdm(jobs, disable=not progress, desc=f"features {dataset.name}", unit="video")
    for split, video in bar:
        bar.set_postfix_str(video.name)
        view = dataset.view_of(video.name) if per_view else None
        if view not in fitted:
            result.failed.append({"split": split, "video": video.name, "error": (
                f"no training video shows its camera view {view!r}, so the static stream has "
                "no scene background for it")})
            tqdm.write(f"skipped {split}/{video.name}: no training video of view {view!r}")
            continue
        extractor = fitted[view]
        vf = cache.load(dataset.name, split, video, extractor) if cache else None
        if vf is not None:
            result.n_cached += 1
        else:
            t0 = time.perf_counter()
            try:
                vf = extractor.extract(video)
            except (VideoReadError, DetectionsError) as err:
                result.failed.append({"split": split, "video": video.name, "error": str(err)})
                tqdm.write(f"skipped {split}/{video.name}: {err}")
                continue
            result.n_extracted += 1
            result.frames_extracted += vf.n_frames
            if cache:
                cache.store(dataset.name, split, video, extractor, vf)
            fps = vf.n_frames / max(time.perf_counter() - t0, 1e-9)
            bar.set_postfix_str(f"{video.name} {fps:.0f} frames/s")
        result.features.setdefault(split, {})[video.name] = vf
    result.seconds = time.perf_counter() - start
    return result


def _stack(videos: dict[str, VideoFeatures], stream: str) -> tuple[np.ndarray, np.ndarray]:
    feats, groups = [], []
    for i, vf in enumerate(videos.values()):
        x = vf.streams[stream]["features"]
        feats.append(x)
        groups.append(np.full(len(x), i))
    return np.concatenate(feats).astype(np.float64), np.concatenate(groups)


def _frames(scores: np.ndarray, vf: VideoFeatures, stream: str, fill: float) -> np.ndarray:
    """Frame score = max over the frame's objects; a frame without objects gets `fill` (the
    stream's minimum training object score: as normal as the most normal training object)."""
    return objects_to_frames(scores, vf.streams[stream]["frame_index"], vf.n_frames, empty=fill)


def train_and_score(extraction: Extraction, detector: str = "mulde", seed: int = 0,
                    mulde_params: dict[str, Any] | None = None, progress: bool = True,
                    model_dir: Path | None = None,
                    stream_stats: dict[str, dict[str, Any]] | None = None,
                    top_objects: dict[str, TopObjects] | None = None
                    ) -> tuple[dict[str, np.ndarray], dict[str, Calibration], dict[str, float]]:
    """Fit one model per stream on the training videos, score the test videos' frames.

    Returns (fused test frame scores per video, calibration per stream, seconds per stage).
    Each stream is calibrated to [min, 99.9th percentile] of its training frame scores and
    the calibrated streams are summed (AI-VAD's fusion). `stream_stats`, when given, is
    filled per stream with the fitted model, its dimension, object counts and the seconds
    of fitting and of scoring (calibration included); `top_objects`, when given, with each
    test video's `TopObjects` (which object scored highest in each frame, and where).
    """
    train = extraction.features.get("train", {})
    test = extraction.features.get("test", {})
    for split, videos in (("training", train), ("test", test)):
        if not videos:
            skipped = sum(f["split"] == split[:5] for f in extraction.failed)
            raise DatasetError(f"no readable {split} video" + (
                f": all {skipped} were skipped (see skipped_videos / the messages above)"
                if skipped else "") + "; the pipeline needs at least one training and one "
                "test video")
    streams = sorted(next(iter(train.values())).streams)
    fused = {name: np.zeros(vf.n_frames) for name, vf in test.items()}
    calibrations: dict[str, Calibration] = {}
    timings = {"train": 0.0, "score": 0.0}
    for stream in tqdm(streams, disable=not progress, desc="streams"):
        X, groups = _stack(train, stream)
        t0 = time.perf_counter()
        model = make_stream_model(detector, seed, mulde_params).fit(X, groups)
        fit_s = time.perf_counter() - t0
        if model_dir is not None and detector == "mulde":
            model.model.save(Path(model_dir) / f"{stream}.safetensors")
        t0 = time.perf_counter()
        train_obj = model.train_scores()
        fill = float(train_obj.min())
        train_frames = [_frames(train_obj[groups == i], vf, stream, fill)
                        for i, vf in enumerate(train.values())]
        calibrations[stream] = Calibration.fit(np.concatenate(train_frames))
        n_test = 0
        for name, vf in test.items():
            record = vf.streams[stream]
            x = record["features"].astype(np.float64)
            n_test += len(x)
            obj = model.score(x)
            fused[name] += calibrations[stream].transform(_frames(obj, vf, stream, fill))
            if top_objects is not None and len(x):
                top_objects.setdefault(name, TopObjects.empty(vf.n_frames)).update(
                    stream, calibrations[stream].transform(obj),
                    np.asarray(record["frame_index"]), record.get("boxes"))
        score_s = time.perf_counter() - t0
        timings["train"] += fit_s
        timings["score"] += score_s
        if stream_stats is not None:
            stream_stats[stream] = {"model": model, "d": int(X.shape[1]),
                                    "train_objects": int(len(X)), "test_objects": n_test,
                                    "fit_s": fit_s, "score_s": score_s}
    return fused, calibrations, timings


def run_pipeline(dataset: Dataset, extractor: Extractor, out_dir: Path,
                 cache_dir: Path | None = None, detector: str = "mulde", seed: int = 0,
                 mulde_params: dict[str, Any] | None = None,
                 progress: bool = True) -> dict[str, Any]:
    """Run the whole pipeline on a dataset and write the report into out_dir.

    Returns the metrics.json dict (scores and plots only when the test set has no labels).
    """
    require_videos(dataset)  # before any folder is made
    out_dir = ensure_writable(Path(out_dir))
    cache = FeatureCache(cache_dir if cache_dir is not None else out_dir / "cache")
    extraction = extract_features(dataset, extractor, cache, progress=progress)
    top: dict[str, TopObjects] = {}
    scores, calibrations, timings = train_and_score(
        extraction, detector, seed, mulde_params, progress, out_dir / "models",
        top_objects=top)
    labels = {v.name: v.labels for v in dataset.test if v.name in scores}
    protocol = EvaluationProtocol(smoothing_sigma=dataset.smoothing_sigma)
    t0 = time.perf_counter()
    snapshots = most_anomalous_moments(dataset, scores, top, protocol)
    timings["snapshots"] = time.perf_counter() - t0
    timings = {"extract": extraction.seconds, **timings}
    config = {"dataset": dataset.name, "root": str(dataset.root), "detector": detector,
              "extractor": {"name": extractor.name, "version": extractor.version,
                            "params": extraction.extractor.params,
                            **({"scene_backgrounds": extraction.scene_backgrounds}
                               if extraction.scene_backgrounds else {})},
              "mulde_params": mulde_params or {}, "skipped_videos": extraction.failed,
              "videos_extracted": extraction.n_extracted, "videos_cached": extraction.n_cached}
    t0 = time.perf_counter()
    metrics = write_report(
        out_dir, scores, labels, protocol=protocol, calibration=calibrations,
        fusion="sum of calibrated streams", config=config, seed=seed, timings=timings,
        title=f"MULDE on {dataset.name}", snapshots=snapshots)
    timings["report"] = time.perf_counter() - t0
    return metrics

