"""Scoring a live stream frame by frame: the online features (`mulde.video.features.online`)
scored by the fitted `StreamEnsemble`, a causal smoothing filter, and events above the alert
threshold (`mulde.vad.events.EventTracker`).

The offline protocol smooths each video's frame scores with a two-sided Gaussian of std
sigma frames (`mulde.evaluation.protocol.smooth`), which needs 4 sigma frames of the future.
Live, the filter is its causal half: `causal_gaussian_weights`, the Gaussian's weights on the
current and the past ceil(4 sigma) frames (the same truncation, `truncate=4`), renormalised
to sum to 1. It lags by the weights' mean, about 0.7 sigma frames (2.1 frames, 0.08 s at 25
frames/s for sigma 3), and needs no future frame. At the start of a stream the filter has no
past: with a model's `start_level` (the median fused score of its normal training frames) it
starts as if the stream had been at that level before, so one high first frame counts with
its weight w[0] (about 0.23 for sigma 3) instead of being judged alone; without one, the
weights of the frames that exist are renormalised. The live threshold is refitted on training
scores filtered the same way. Several sigmas (STG-NF's protocol) apply one causal
filter after another, as offline.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mulde.vad.ensemble import StreamEnsemble
from mulde.video.features.frame_centric import FrameCentricExtractor
from mulde.video.features.objects import ObjectCentricExtractor
from mulde.video.features.online import FrameObjects, frames_to_features
from mulde.video.features.online_frames import online_extractor


def causal_gaussian_weights(sigma: float, truncate: float = 4.0) -> np.ndarray:
    """Return the (r + 1,) weights w[k] of the score k frames back, k = 0..r,
    r = int(truncate * sigma + 0.5) (scipy's radius), w[k] proportional to
    exp(-k^2 / (2 sigma^2)), summing to 1. sigma = 0: [1.0]. ValueError for sigma < 0."""
    if not np.isfinite(sigma) or sigma < 0:
        raise ValueError(f"smoothing sigma must be finite and >= 0, got {sigma}")
    if sigma == 0:
        return np.ones(1)
    r = int(truncate * float(sigma) + 0.5)
    w = np.exp(-0.5 * (np.arange(r + 1) / float(sigma)) ** 2)
    return w / w.sum()


def causal_smooth(scores: Sequence[float] | np.ndarray, sigmas: Sequence[float] | float,
                  truncate: float = 4.0, start: float | None = None) -> np.ndarray:
    """Return the (T,) scores filtered causally by `CausalSmoother` (offline, for the AUC
    comparison, the live threshold and the tests: the same numbers as the live filter)."""
    smoother = CausalSmoother(sigmas, truncate, start)
    return np.array([smoother.update(float(s)) for s in np.ravel(scores)], dtype=np.float64)


def start_level(model: Any) -> float | None:
    """Return the level the live filter starts from (`CausalSmoother`'s `start`): the median
    of the model's fused, unsmoothed frame scores on its normal training videos (out-of-fold
    when it was fitted with calibration folds), a typical normal score; None for a model
    saved without training scores (the filter then renormalises at the start)."""
    scores = getattr(model, "train_scores", None)
    if not scores or not sum(len(s) for s in scores):
        return None
    return float(np.median(np.concatenate([np.ravel(s) for s in scores])))


def trained_frame_shape(model: Any, view: str | None = None) -> tuple[int, int] | None:
    """Return the (H, W) of the model's training videos of camera `view` (None: the only or
    first view, as `PipelineModel.extractor_for`), from its record `training["frame_sizes"]`
    (view -> [width, height], "" for a model of one view); None when it has none."""
    sizes = (getattr(model, "training", None) or {}).get("frame_sizes") or {}
    if view is None:
        view = "" if "" in sizes else min(sizes, default=None)
    size = sizes.get(view)
    return None if not size else (int(size[1]), int(size[0]))


def live_threshold(model: Any, override: float | None = None) -> tuple[float, str]:
    """Return (the alert threshold on the causally smoothed score, its definition).

    `override`: a value given by hand. Else the model's threshold rule (`ThresholdFit`) is
    refitted on the model's out-of-fold training scores smoothed by the causal filter, each
    video started from `start_level(model)` as a live stream is
    (`mulde.vad.thresholds.fit_threshold` with sigma 0 on pre-filtered scores), so that its
    meaning (e.g. one false alarm per hour of normal video) holds for the live scores; a
    model without training scores keeps its offline value. ValueError when the model has no
    threshold and none is given."""
    from mulde.vad.thresholds import fit_threshold

    if override is not None:
        return float(override), "set by hand (--threshold)"
    fit = model.threshold
    if fit is None:
        raise ValueError("the model has no alert threshold; give one with --threshold")
    if not model.train_scores or fit.rule == "value":
        return float(fit.value), (fit.describe() + "; applied to the causally smoothed score")
    start = start_level(model)
    causal = [causal_smooth(s, model.smoothing_sigma, start=start) for s in model.train_scores]
    refit = fit_threshold(causal, fit.fps, 0.0, fit.rule, fit.target, fit.patience,
                          fit.out_of_sample)
    what = {"events_per_hour": f"at most {fit.target:g} false alarm(s) per hour of normal "
                               "training video",
            "quantile": f"the {fit.target:g} quantile of the training frame scores"}[fit.rule]
    return refit.value, (f"{refit.value:.4g} on the fused calibrated score smoothed by the "
                         f"causal half-Gaussian filter (sigma {model.smoothing_sigma:g} "
                         f"frames, started at the training median {start:.4g}): {what}, "
                         "refitted on the causally smoothed "
                         f"{'out-of-fold' if fit.out_of_sample else 'in-sample'} training "
                         f"scores (offline threshold {fit.value:.4g})")


class CausalSmoother:
    """`update(score)` once per frame, in order; returns the smoothed score of that frame:
    the weighted mean of it and the past frames' (`causal_gaussian_weights`). At the start,
    `start` None: the weights of missing frames are left out and the rest renormalised; a
    number: the missing frames count as scores of that value (`start_level`: a typical
    normal score), so the first frames are not judged alone. Several sigmas: one filter
    after another (a constant start passes through each unchanged). Holds the last r + 1
    values per filter. ValueError for a start that is not a finite number."""

    def __init__(self, sigmas: Sequence[float] | float, truncate: float = 4.0,
                 start: float | None = None) -> None:
        sigmas = [sigmas] if np.ndim(sigmas) == 0 else list(sigmas)
        if start is not None and not np.isfinite(start):
            raise ValueError(f"the filter's start level must be a finite number, got {start}")
        self.start = None if start is None else float(start)
        self.weights = [causal_gaussian_weights(float(s), truncate) for s in sigmas]
        self._past = [deque([] if start is None else [self.start] * len(w), maxlen=len(w))
                      for w in self.weights]

    @property
    def lag(self) -> float:
        """The filters' mean delay in frames (sum of the weights' means)."""
        return float(sum((w * np.arange(len(w))).sum() for w in self.weights))

    def update(self, score: float) -> float:
        value = float(score)
        for w, past in zip(self.weights, self._past, strict=True):
            past.appendleft(value)  # past[k]: k frames back
            k = len(past)
            value = float(np.dot(w[:k], np.asarray(past)) / w[:k].sum())
        return value


@dataclass
class LiveScore:
    """The score of one frame of a live stream: `index` (0-based in the stream), `score` the
    fused calibrated frame score (the offline pipeline's unsmoothed score), `smoothed` after
    the causal filter, `streams` each stream's calibrated score, the top object's `stream`
    and `box` (x0, y0, x1, y1; NaN when none; in the pixels of the frame the extractor saw,
    downscaled to its `max_height` when taller: `mulde.video.features.objects.box_in_frame`
    takes it to the source frame's), and `latency` in seconds: from the frame's
    arrival (the `arrived` time given to `LiveScorer.push`, e.g. when it was decoded; else
    the push) to its score, so a scorer that falls behind its source shows it.
    `smoothed_streams`: each stream's score after the same causal filter, started at an equal
    share of its start level, so that they add up to `smoothed` (to rounding): the shares of
    the smoothed score, from which `mulde.vad.events.leading_stream` names the stream that
    fired. `empty`: the streams in which the frame has no object of its own, none or only
    the whole-frame stand-in of an empty scene
    (`mulde.video.features.records.VideoFeatures.objectless_frames`)."""

    index: int
    score: float
    smoothed: float
    streams: dict[str, float]
    stream: str
    box: np.ndarray
    latency: float
    smoothed_streams: dict[str, float] = field(default_factory=dict)
    empty: frozenset[str] = frozenset()


class LiveScorer:
    """Score a stream frame by frame with a fitted ensemble: `push(frame)` returns the
    `LiveScore`s of the frames now complete (`OnlineObjectExtractor`: flow_baseline frames
    back; `OnlineFrameExtractor` for a frame-centric model: (length - 1) // 2 frames back, up to
    stride // 2 more),
    `finish()` the rest. The unsmoothed scores are those of
    `ensemble.score_video(extractor.extract(video))` on the same frames, to float32
    precision (a MULDE network scores a few frames' objects at a time live, where some CPUs
    round differently than for the whole video at once; tested; see
    `OnlineObjectExtractor.exact` for the features). `sigmas`: the causal smoothing
    (`CausalSmoother`).

    `start`: the causal filter's start level (`start_level(model)`; None: renormalised at
    the start). `trained_shape`: the training videos' (H, W), named when the stream's frames
    do not fit the model (`trained_frame_shape(model)`; None: unknown). Raises ValueError
    when the extractor cannot run live or the ensemble is not fitted to the extractor's
    streams. `seconds` accumulates the time spent on features and on scoring (the models,
    calibration and smoothing).
    """

    def __init__(self, extractor: ObjectCentricExtractor | FrameCentricExtractor,
                 ensemble: StreamEnsemble,
                 sigmas: Sequence[float] | float = 3.0, source: str = "the stream",
                 start: float | None = None,
                 trained_shape: tuple[int, int] | None = None) -> None:
        if not ensemble.fits_:
            raise ValueError("the ensemble is not fitted")
        self.online = online_extractor(extractor, source, trained_shape)
        missing = sorted(s.value for s in set(ensemble.streams) - set(extractor.streams))
        if missing:
            have = ", ".join(map(str, extractor.streams))
            raise ValueError(f"the model scores the {', '.join(missing)} stream(s), which its "
                             f"extractor does not compute ({have})")
        self.ensemble = ensemble
        self._sigmas = sigmas
        self._base = 0  # frames of the stream before the last `restart`
        self.smoother = CausalSmoother(sigmas, start=start)
        self._stream_smoothers = self._split_smoothers()
        self._dims: dict | None = None
        self._arrival: deque[float] = deque()
        self.seconds = {"features": 0.0, "scoring": 0.0}

    def push(self, frame: np.ndarray, arrived: float | None = None) -> list[LiveScore]:
        """Push the next frame; `arrived`: its `time.perf_counter()` arrival time (default:
        now). Returns the scores of the frames now complete."""
        now = time.perf_counter()
        self._arrival.append(now if arrived is None else arrived)
        frames = self.online.push(frame)
        self.seconds["features"] += time.perf_counter() - now
        return self._score(frames)

    def finish(self) -> list[LiveScore]:
        """End the stream: score the frames still waiting for their flow window."""
        now = time.perf_counter()
        frames = self.online.finish()
        self.seconds["features"] += time.perf_counter() - now
        return self._score(frames)

    def restart(self) -> list[LiveScore]:
        """A gap in the stream (a dropped connection): `finish` the frames before it, then
        start afresh, so no flow is computed across the gap and the causal filter does not
        mix both sides; frame indices go on counting. Returns the finished frames' scores."""
        out = self.finish()
        self._base += self.online.n_out
        self.online = online_extractor(self.online.extractor, self.online.source,
                                       self.online.trained_shape)
        self.smoother = CausalSmoother(self._sigmas, start=self.smoother.start)
        self._stream_smoothers = self._split_smoothers()
        return out

    def _split_smoothers(self) -> dict[str, CausalSmoother]:
        """One causal filter per stream, each started at an equal share of the fused one's
        start level: the filter is linear, so the streams' smoothed scores add up to the
        smoothed fused score."""
        start, n = self.smoother.start, len(self.ensemble.streams)
        return {s.value: CausalSmoother(self._sigmas, start=None if start is None else start / n)
                for s in self.ensemble.streams}

    def _score(self, frames: list[FrameObjects]) -> list[LiveScore]:
        if not frames:
            return []
        start = time.perf_counter()
        if self._dims is None:
            self._dims = {s: d for s, d in self.online.dims.items() if s in self.ensemble.fits_}
        for f in frames:  # the ensemble scores only its own streams
            f.streams = {s: v for s, v in f.streams.items() if s in self._dims}
        features = frames_to_features(frames, self._dims)
        scored = self.ensemble.score_video(features)
        holes = features.objectless_frames(self.online.frame_shape)
        now = time.perf_counter()
        out = []
        for i, f in enumerate(frames):
            fused = float(scored.fused[i])
            streams = {s.value: float(v[i]) for s, v in scored.streams.items()}
            out.append(LiveScore(
                self._base + f.index, fused, self.smoother.update(fused), streams,
                scored.top.stream[i], scored.top.box[i].copy(),
                now - self._arrival.popleft(),
                {k: self._stream_smoothers[k].update(v) for k, v in streams.items()},
                frozenset(s.value for s, hole in holes.items() if hole[i])))
        self.seconds["scoring"] += time.perf_counter() - start
        return out

