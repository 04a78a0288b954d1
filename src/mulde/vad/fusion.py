"""From object scores to one fused score per frame (AI-VAD's protocol, docs/method.md "Video
protocol"): the max over a frame's objects per stream (`objects_to_frames`), an affine
calibration of each stream fitted on training scores (`Calibration`), and the sum of the
calibrated streams (`fuse`)."""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike


class FusionError(ValueError):
    """Scores, frame indices or training scores that cannot be turned into frame scores; the
    message names the object, frame or stream."""


def objects_to_frames(
    object_scores: ArrayLike,
    frame_index: ArrayLike,
    n_frames: int,
    empty: float | None = None,
) -> np.ndarray:
    """Return one score per frame: the max over the scores of the objects in that frame.

    `frame_index[i]` is the 0-based frame of object i within the video. Frames without any
    object get the score `empty`; with `empty=None` (default) such frames are an error, so the
    policy is always the caller's explicit choice. A sensible fill is the minimum training
    score of the stream (an empty frame is as normal as the most normal training frame); the
    AI-VAD reference fills 0 before calibration. (AI-VAD's feature side instead treats a frame
    without detections as one whole-frame object, which leaves no frame empty here.)
    """
    s = np.asarray(object_scores, dtype=np.float64)
    idx = np.asarray(frame_index)
    if s.ndim != 1 or idx.ndim != 1 or s.shape != idx.shape:
        raise FusionError(
            f"object_scores {s.shape} and frame_index {idx.shape} must be 1-D of equal length"
        )
    if n_frames < 1:
        raise FusionError(f"n_frames must be >= 1, got {n_frames}")
    if idx.size and not np.issubdtype(idx.dtype, np.integer):
        raise FusionError(f"frame_index must hold integers, got dtype {idx.dtype}")
    bad = np.flatnonzero((idx < 0) | (idx >= n_frames))
    if bad.size:
        raise FusionError(
            f"object {bad[0]}: frame index {idx[bad[0]]} outside [0, {n_frames - 1}]"
        )
    nonfinite = np.flatnonzero(~np.isfinite(s))
    if nonfinite.size:
        o = nonfinite[0]
        raise FusionError(f"object {o} (frame {idx[o]}): score is {s[o]}")
    out = np.full(n_frames, -np.inf)
    np.maximum.at(out, idx.astype(np.intp), s)
    holes = np.flatnonzero(out == -np.inf)
    if holes.size:
        if empty is None:
            raise FusionError(
                f"{holes.size} frame(s) have no object, first frame {holes[0]}; "
                "pass empty=<score> to give them a score"
            )
        if not np.isfinite(empty):
            raise FusionError(f"empty-frame score must be finite, got {empty}")
        out[holes] = float(empty)
    return out


def sidak_frames(object_scores: ArrayLike, frame_index: ArrayLike, n_frames: int,
                 reference: ArrayLike) -> np.ndarray:
    """Return one score per frame that a crowd alone does not raise: the Sidak-corrected
    maximum of the frame's k object scores, -log(1 - (1 - p_min)^k), where p_min is the
    smallest tail probability among them against the training object scores `reference`
    (n,): p(s) = (1 + #{reference >= s}) / (n + 1). If the k objects were independent draws
    of the reference distribution, the score would follow one distribution whatever k
    (Sidak, "On multivariate normal probabilities of rectangles", 1967: P(min of k uniform
    p <= t) = 1 - (1 - t)^k). A frame without objects scores 0 (the least anomalous). Higher
    = more anomalous, like `objects_to_frames`, whose input checks it shares (FusionError).
    Issue 14, round 7 (docs/results.md).
    """
    scores = sidak_objects(object_scores, frame_index, n_frames, reference)
    out = np.zeros(n_frames)  # a frame without objects: 0; every object's score is >= 0
    np.maximum.at(out, np.asarray(frame_index).astype(np.intp), scores)
    return out


def sidak_objects(object_scores: ArrayLike, frame_index: ArrayLike, n_frames: int,
                  reference: ArrayLike) -> np.ndarray:
    """Return (n,) per-object scores on the scale of `sidak_frames`: object i in a frame of
    k objects scores -log(1 - (1 - p_i)^k), p_i its tail probability against `reference`
    (as in `sidak_frames`). The score falls as p_i rises, so the frame's largest is its
    `sidak_frames` score: what a stream's calibration, fitted on those frame scores, can
    rank objects by (the report's top object of a frame). Same inputs and errors as
    `sidak_frames`.
    """
    s = np.asarray(object_scores, dtype=np.float64)
    ref = np.sort(np.asarray(reference, dtype=np.float64).ravel())
    if ref.size == 0 or not np.isfinite(ref).all():
        raise FusionError("the reference (training object scores) must be non-empty and finite")
    idx = np.asarray(frame_index)
    objects_to_frames(s, idx, n_frames, empty=0.0)  # its checks: shapes, frames, finite
    tail = (1.0 + ref.size - np.searchsorted(ref, s, side="left")) / (ref.size + 1.0)
    k = np.bincount(idx.astype(np.intp), minlength=n_frames)[idx.astype(np.intp)]
    below = tail < 1.0
    log_none = np.where(below, k * np.log1p(-np.where(below, tail, 0.0)), -np.inf)
    return -np.log(-np.expm1(log_none)) + 0.0  # + 0.0: no -0.0


def _spread(low: float, high: float) -> bool:
    """Return whether high exceeds low by more than rounding (1e-12 relative, 1e-12 absolute
    near 0): a smaller spread would turn (s - low) / (high - low) into inf."""
    return high - low > 1e-12 * max(1.0, abs(low))


class CalibrationWarning(UserWarning):
    """A stream's calibration does not fit the scores of new video: most of its test frames
    score below every training frame score it saw (`warn_below_calibration`)."""


@dataclass(frozen=True)
class Calibration:
    """Affine map of one stream's scores: training min -> 0, training percentile -> 1.

    AI-VAD's stream calibration (docs/method.md): s' = (s - low) / (high - low), with low = min and
    high = the 99.9th percentile (numpy's linear interpolation) of the training scores of the
    stream. (The AI-VAD reference code fits on training *object* scores; pass whichever training
    scores the protocol at hand names.)
    """

    low: float
    high: float
    percentile: float = 99.9

    def __post_init__(self) -> None:
        if not (np.isfinite(self.low) and np.isfinite(self.high)) or not _spread(self.low,
                                                                                  self.high):
            raise FusionError(
                f"calibration needs finite low < high (apart by more than rounding), got "
                f"low={self.low}, high={self.high}"
            )

    @classmethod
    def fit(cls, train_scores: ArrayLike, percentile: float = 99.9) -> Calibration:
        """Return the calibration fitted on a stream's training scores (any shape, flattened)."""
        s = np.asarray(train_scores, dtype=np.float64).ravel()
        if s.size == 0:
            raise FusionError("calibration: no training scores")
        bad = np.flatnonzero(~np.isfinite(s))
        if bad.size:
            raise FusionError(f"calibration: training score {bad[0]} is {s[bad[0]]}")
        if not 0 < percentile <= 100:
            raise FusionError(f"calibration percentile must be in (0, 100], got {percentile}")
        low, high = float(s.min()), float(np.percentile(s, percentile))
        if not _spread(low, high):
            raise FusionError(
                f"calibration: training scores are constant up to the {percentile}th "
                f"percentile (min = percentile = {low})"
            )
        return cls(low=low, high=high, percentile=float(percentile))

    def transform(self, scores: ArrayLike) -> np.ndarray:
        """Return (scores - low) / (high - low) as float64."""
        return (np.asarray(scores, dtype=np.float64) - self.low) / (self.high - self.low)

    def to_dict(self) -> dict[str, float]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Calibration:
        try:
            return cls(
                low=float(d["low"]), high=float(d["high"]), percentile=float(d["percentile"])
            )
        except KeyError as e:
            raise FusionError(f"calibration dict lacks field {e.args[0]!r}") from None


def fuse(streams: Mapping[str, ArrayLike], calibrations: Mapping[str, Calibration]) -> np.ndarray:
    """Return the fused frame scores of one video: the sum over streams of calibrated scores."""
    if not streams:
        raise FusionError("fuse: no streams")
    if set(streams) != set(calibrations):
        raise FusionError(
            f"fuse: streams {sorted(streams)} but calibrations for {sorted(calibrations)}"
        )
    total: np.ndarray | None = None
    for name, s in streams.items():
        c = calibrations[name].transform(s)
        if c.ndim != 1:
            raise FusionError(f"fuse: stream {name!r} must be 1-D, got shape {c.shape}")
        if total is not None and c.shape != total.shape:
            raise FusionError(
                f"fuse: stream {name!r} has {c.shape[0]} frames, others {total.shape[0]}"
            )
        total = c if total is None else total + c
    assert total is not None
    return total


SPIKE_FRAMES = 5
"""The training frames `spike_reference` sets aside before it takes the 99th percentile of the
rest: a bad frame reaches the frames whose motion is measured against it (two on each side
with the default flow window: a newcomer's inverted frame spiked the frames 2 before and 2
after it), and on a short training set such frames are more than 1 % of them."""

SPIKE_RATIO = 100.0
"""`calibration_spikes`' rule: a stream's calibration is said to be set by a few outlying
training frames when its span (the percentile minus the minimum) is more than this many times
the span up to `spike_reference`. Set from training video without labels
(benchmarks/calibration_spikes.py; docs/benchmarks.md, "Calibration set by a few frames"):
normal video stayed at or below 55 (the demo's velocity stream; MULDE elsewhere 1.3-4.3, kNN
distances on Ped2 26), one inverted training frame gave 272 and 672 on MULDE's velocity
stream; a frame cut in from another video (42) and every kNN case stay below it."""


class CalibrationSpikeWarning(UserWarning):
    """A stream's calibration is set by a few training frames far above all the others
    (`calibration_spikes`): new frames of that stream calibrate near 0 and it adds little to
    the fused score. Said by `StreamEnsemble.fit`, naming the frames, and kept in the trained
    pipeline (`mulde info` shows it)."""


def spike_reference(train_scores: ArrayLike, low: float) -> float | None:
    """Return the 99th percentile of the training scores above `low` (the calibration's
    minimum: frames without objects get it) without their `SPIKE_FRAMES` highest; None when at
    most `SPIKE_FRAMES` scores are above `low`. The bulk a calibration is compared with in
    `calibration_spikes`: frames with objects, less the few a glitch can spike."""
    s = np.sort(np.asarray(train_scores, dtype=np.float64).ravel())
    s = s[s > low]
    if s.size <= SPIKE_FRAMES:
        return None
    return float(np.percentile(s[:-SPIKE_FRAMES], 99.0))


def calibration_spikes(train_frames: Sequence[ArrayLike], calibration: Calibration
                       ) -> list[tuple[int, int, float]]:
    """Return the training frames that set `calibration`'s high end, when a few outliers do.

    train_frames: one stream's training frame scores, one 1-D array per training video (in
    the order of the training videos), the scores `calibration` was fitted on. With
    reference = `spike_reference`: when calibration.high - low > `SPIKE_RATIO` x (reference -
    low), the frames scoring above low + `SPIKE_RATIO` x (reference - low) are returned as
    (video position, frame position, score), the highest first; else [] (also without a
    reference, and when it is within rounding of low). Such a percentile
    (an extreme outlier: an inverted or corrupt frame in one training video) sits far above
    the other training frames, and every new frame of this stream then calibrates near 0: the
    stream adds almost nothing to the fused score. Frames of normal activity that only one
    training video shows can do the same under out-of-fold calibration: the model fitted
    without that video scores them high."""
    scores = [np.asarray(s, dtype=np.float64).ravel() for s in train_frames]
    if not scores:
        return []
    reference = spike_reference(np.concatenate(scores), calibration.low)
    if reference is None or not _spread(calibration.low, reference):
        return []
    bulk = reference - calibration.low
    if calibration.high - calibration.low <= SPIKE_RATIO * bulk:
        return []
    above = calibration.low + SPIKE_RATIO * bulk
    found = [(v, int(f), float(s[f])) for v, s in enumerate(scores)
             for f in np.flatnonzero(s > above)]
    return sorted(found, key=lambda vfs: -vfs[2])


BELOW_CALIBRATION_SHARE = 0.5
"""`warn_below_calibration`'s rule, written down before any measurement: a stream is flagged
when more than this share of the frames with objects it scored calibrate below 0."""

FEW_ROWS_PER_FEATURE = 10
"""Fewer training rows per modelled feature than this are "few" in `warn_below_calibration`'s
explanation and advice: the thin set of MULDE's rule for several networks
(`mulde.core.training.MEMBERS_ROWS_PER_FEATURE`, the same number: tested; not imported here,
where PyTorch is not needed)."""


def warn_below_calibration(ensemble: Any, counts: Mapping[str, Sequence[int]],
                           training_frames: Mapping[str, int] | int,
                           frames: str = "test frames") -> list[str]:
    """Warn (`CalibrationWarning`, one line per stream) for each stream of which more than
    `BELOW_CALIBRATION_SHARE` of the scored frames with objects score below every training
    frame score its calibration saw (calibrated score < 0: `Calibration` maps the lowest to
    0). Frames without an object of their own in the stream (the caller's count:
    `mulde.video.features.records.VideoFeatures.objectless_frames`) are left out: an empty
    scene scores the stream's fill (the lowest training object score, or 0 in a Sidak
    stream), which calibrates at or below 0, or its one still whole-frame object, below
    training frames that all held people, so it is no sign of a calibration that does not
    fit. For new video of the training scene at most about one frame with objects in as
    many as there are training frames with objects of their own in the stream (plus one)
    falls below: the calibration's 0, the lowest score of all its training frames, is at or
    below the lowest of those, the frames a new frame with objects is like (counting the
    training frames without objects too understated that rate). A larger share means the
    training scores the calibration saw are higher than the deployed model's scores of new
    video: with calibration folds, the models fitted without each fold score their held-out
    training videos higher than the model fitted on all of them scores new video, as happens
    with few training rows per feature (fewer than `FEW_ROWS_PER_FEATURE` per feature the model
    sees: a newcomer's 21 s `frames` run, 210 windows of 128 principal components, every
    test frame below 0, no event though AUC 0.96), or, with more rows, when the training
    videos differ from one another more than new video differs from them, or when the new
    video shows less than any training frame did (a newcomer's still picture of people
    repeated for 4 s: nothing moves, so every frame's velocity objects score below the
    training frames'). The alert threshold then fires too rarely. The advice is more normal
    training video, and only where the rows per feature are few (and the rows at least
    `FEW_ROWS_PER_FEATURE`), a `--pca` reduction of the stream to at most rows /
    `FEW_ROWS_PER_FEATURE` components.

    `ensemble`: the fitted `mulde.vad.ensemble.StreamEnsemble` (its `fits_`, keyed by stream,
    and `calibration_folds`); `counts`: stream name -> (frames with objects below 0, frames
    with objects, frames without objects); `training_frames`: stream name -> how many of the
    training frames the calibration saw hold objects of their own in it
    (`mulde.video.features.records.frames_with_objects`), or one count for every stream (as
    before the count was per stream); `frames`: what the scored frames
    are, for the message ("test frames", "frames watched"). Returns '<stream> (<share> of
    <n> frames)' per flagged stream, n its frames with objects, in name order."""
    flagged = []
    fits = {getattr(stream, "value", stream): fit for stream, fit in ensemble.fits_.items()}
    folds = ensemble.calibration_folds
    for name in sorted(counts):
        below, n, empty = counts[name]
        if n == 0 or below <= BELOW_CALIBRATION_SHARE * n or name not in fits:
            continue
        fit = fits[name]
        flagged.append(f"{name} ({below / n:.0%} of {n} frames)")
        components = getattr(fit.model, "components_", None)
        modelled = fit.dim if components is None else len(components)
        rows = fit.train_objects
        few = rows < FEW_ROWS_PER_FEATURE * modelled
        if not folds:
            cause = ("the training scores the calibration saw are higher than the model's "
                     "scores of new video")
        else:
            cause = (f"the models fitted without each of the {folds} calibration folds score "
                     "their held-out training videos higher than the model fitted on all of "
                     "them scores new video, as happens " + (
                         "with few training rows per feature" if few else
                         "when the training videos differ from one another more than new "
                         "video differs from them, or when the new video shows less than "
                         "any training frame did (objects that do not move, a still or "
                         "frozen picture: check the source)"))
        seen = (f"{modelled} principal components of " if components is not None
                else "") + f"{fit.dim} features"
        if few:
            seen += f": fewer than {FEW_ROWS_PER_FEATURE} per feature"
        which = (f"{frames} with objects (the {empty} without an object of their own, an "
                 "empty scene, are left out)" if empty else frames)
        keep = rows // FEW_ROWS_PER_FEATURE
        seen_frames = (training_frames if isinstance(training_frames, int)
                       else training_frames[name])
        advice = "train on more normal video" + (
            f", or reduce the stream (--pca {name}=K with K at most {keep})"
            if few and keep >= 1 else "")
        warnings.warn(
            f"stream {name}: {below / n:.0%} of the {n} {which} score below every training "
            f"frame its calibration saw (calibrated score < 0; expected about 1 in "
            f"{seen_frames + 1}): {cause} ({rows} training rows of {seen}), so the alert "
            f"threshold fires too rarely; {advice}", CalibrationWarning, stacklevel=3)
    return flagged
