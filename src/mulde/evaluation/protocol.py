"""The video evaluation protocol: object -> frame scores, stream calibration and fusion,
temporal smoothing, and the full metrics dictionary (docs/method.md, "Video protocol").

Order of operations (AI-VAD / MULDE object-centric protocol):
object scores -> `objects_to_frames` (max per frame, per stream) -> `Calibration.transform`
per stream (fitted on training scores) -> `fuse` (sum of streams) -> `compute_metrics`, which
smooths each test video with `smooth` and reports smoothed and unsmoothed metrics.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy.ndimage import gaussian_filter1d

from mulde.evaluation.metrics import (
    EvaluationError,
    MacroPadding,
    average_precision,
    check_scores,
    equal_error_rate,
    macro_auc,
    micro_auc,
)

SMOOTHING_MODES = ("reflect", "nearest", "mirror", "constant", "wrap")


def _check_smoothing(sigma: float, mode: str, truncate: float) -> None:
    if not np.isfinite(sigma) or sigma < 0:
        raise EvaluationError(f"smoothing sigma must be finite and >= 0, got {sigma}")
    if mode not in SMOOTHING_MODES:
        raise EvaluationError(f"smoothing mode {mode!r} is not one of {SMOOTHING_MODES}")
    if not np.isfinite(truncate) or truncate <= 0:
        raise EvaluationError(f"smoothing truncate must be finite and > 0, got {truncate}")


def smooth(
    scores: ArrayLike, sigma: float, mode: str = "reflect", truncate: float = 4.0
) -> np.ndarray:
    """Return one video's scores filtered with a 1-D Gaussian of std `sigma` frames.

    `scipy.ndimage.gaussian_filter1d` with boundary `mode` ("reflect", scipy's default, is what
    the AI-VAD reference evaluation uses: the video is extended by mirroring it about its edges,
    edge frames repeated) and kernel radius `truncate * sigma`. `sigma == 0` returns the scores
    unchanged (as float64). Applied per video, never across video boundaries.
    """
    _check_smoothing(sigma, mode, truncate)
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim != 1:
        raise EvaluationError(f"scores to smooth must be 1-D, got shape {s.shape}")
    if sigma == 0 or s.size == 0:
        return s.copy()
    return gaussian_filter1d(s, float(sigma), mode=mode, truncate=truncate)


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
        raise EvaluationError(
            f"object_scores {s.shape} and frame_index {idx.shape} must be 1-D of equal length"
        )
    if n_frames < 1:
        raise EvaluationError(f"n_frames must be >= 1, got {n_frames}")
    if idx.size and not np.issubdtype(idx.dtype, np.integer):
        raise EvaluationError(f"frame_index must hold integers, got dtype {idx.dtype}")
    bad = np.flatnonzero((idx < 0) | (idx >= n_frames))
    if bad.size:
        raise EvaluationError(
            f"object {bad[0]}: frame index {idx[bad[0]]} outside [0, {n_frames - 1}]"
        )
    nonfinite = np.flatnonzero(~np.isfinite(s))
    if nonfinite.size:
        o = nonfinite[0]
        raise EvaluationError(f"object {o} (frame {idx[o]}): score is {s[o]}")
    out = np.full(n_frames, -np.inf)
    np.maximum.at(out, idx.astype(np.intp), s)
    holes = np.flatnonzero(out == -np.inf)
    if holes.size:
        if empty is None:
            raise EvaluationError(
                f"{holes.size} frame(s) have no object, first frame {holes[0]}; "
                "pass empty=<score> to give them a score"
            )
        if not np.isfinite(empty):
            raise EvaluationError(f"empty-frame score must be finite, got {empty}")
        out[holes] = float(empty)
    return out


def _spread(low: float, high: float) -> bool:
    """Return whether high exceeds low by more than rounding (1e-12 relative, 1e-12 absolute
    near 0): a smaller spread would turn (s - low) / (high - low) into inf."""
    return high - low > 1e-12 * max(1.0, abs(low))


@dataclass(frozen=True)
class Calibration:
    """Affine map of one stream's scores: training min -> 0, training percentile -> 1.

    AI-VAD's stream calibration (docs/method.md, "Calibration and fusion"):
    s' = (s - low) / (high - low), with low = min and high = the 99.9th percentile (numpy's
    linear interpolation) of the training scores of the stream. (The AI-VAD reference code fits
    on training *object* scores; pass whichever training scores the protocol at hand names.)
    """

    low: float
    high: float
    percentile: float = 99.9

    def __post_init__(self) -> None:
        if not (np.isfinite(self.low) and np.isfinite(self.high)) or not _spread(self.low,
                                                                                  self.high):
            raise EvaluationError(
                f"calibration needs finite low < high (apart by more than rounding), got "
                f"low={self.low}, high={self.high}"
            )

    @classmethod
    def fit(cls, train_scores: ArrayLike, percentile: float = 99.9) -> Calibration:
        """Return the calibration fitted on a stream's training scores (any shape, flattened)."""
        s = np.asarray(train_scores, dtype=np.float64).ravel()
        if s.size == 0:
            raise EvaluationError("calibration: no training scores")
        bad = np.flatnonzero(~np.isfinite(s))
        if bad.size:
            raise EvaluationError(f"calibration: training score {bad[0]} is {s[bad[0]]}")
        if not 0 < percentile <= 100:
            raise EvaluationError(f"calibration percentile must be in (0, 100], got {percentile}")
        low, high = float(s.min()), float(np.percentile(s, percentile))
        if not _spread(low, high):
            raise EvaluationError(
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
            raise EvaluationError(f"calibration dict lacks field {e.args[0]!r}") from None


def fuse(streams: Mapping[str, ArrayLike], calibrations: Mapping[str, Calibration]) -> np.ndarray:
    """Return the fused frame scores of one video: the sum over streams of calibrated scores."""
    if not streams:
        raise EvaluationError("fuse: no streams")
    if set(streams) != set(calibrations):
        raise EvaluationError(
            f"fuse: streams {sorted(streams)} but calibrations for {sorted(calibrations)}"
        )
    total: np.ndarray | None = None
    for name, s in streams.items():
        c = calibrations[name].transform(s)
        if c.ndim != 1:
            raise EvaluationError(f"fuse: stream {name!r} must be 1-D, got shape {c.shape}")
        if total is not None and c.shape != total.shape:
            raise EvaluationError(
                f"fuse: stream {name!r} has {c.shape[0]} frames, others {total.shape[0]}"
            )
        total = c if total is None else total + c
    assert total is not None
    return total


@dataclass(frozen=True)
class EvaluationProtocol:
    """Settings of the frame-level evaluation; defaults follow the MULDE/AI-VAD protocol.

    smoothing_sigma: std (frames) of the per-video Gaussian filter: 3 for Ped2 and Avenue,
    7 for ShanghaiTech (docs/method.md, "Temporal smoothing"); 0 turns smoothing off.
    """

    smoothing_sigma: float = 3.0
    smoothing_mode: str = "reflect"
    smoothing_truncate: float = 4.0
    macro_padding: MacroPadding = MacroPadding.FLOAT_MAX

    def __post_init__(self) -> None:
        object.__setattr__(self, "macro_padding", MacroPadding(self.macro_padding))
        _check_smoothing(self.smoothing_sigma, self.smoothing_mode, self.smoothing_truncate)

    def smooth(self, scores: ArrayLike) -> np.ndarray:
        """Return one video's scores smoothed with this protocol's filter."""
        return smooth(scores, self.smoothing_sigma, self.smoothing_mode, self.smoothing_truncate)

    def describe(self) -> str:
        """One sentence stating the protocol the reported numbers follow."""
        top = (
            "sys.float_info.max (AI-VAD reference code)"
            if self.macro_padding is MacroPadding.FLOAT_MAX
            else "the video's maximum score"
        )
        smoothing = (
            f"each test video's frame scores smoothed with a 1-D Gaussian filter, "
            f"sigma={self.smoothing_sigma:g} frames (scipy gaussian_filter1d, "
            f"mode={self.smoothing_mode}, truncate={self.smoothing_truncate:g}); "
            "the *_unsmoothed numbers use the raw frame scores"
            if self.smoothing_sigma > 0
            else "no temporal smoothing"
        )
        return (
            "Frame-level evaluation (MULDE / AI-VAD protocol): "
            f"{smoothing}. Micro AUC, average precision and EER over all test frames "
            "concatenated; macro AUC = mean of per-video ROC-AUCs, each video padded with a "
            f"(label 0, score 0) frame first and a (label 1, score = {top}) frame last."
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "smoothing_sigma": float(self.smoothing_sigma),
            "smoothing_mode": self.smoothing_mode,
            "smoothing_truncate": float(self.smoothing_truncate),
            "macro_padding": self.macro_padding.value,
            "description": self.describe(),
        }


def compute_metrics(
    scores: Mapping[str, ArrayLike],
    labels: Mapping[str, ArrayLike],
    protocol: EvaluationProtocol | None = None,
) -> dict[str, Any]:
    """Return the metrics dict of raw per-video frame scores under `protocol`.

    Keys: micro_auc, macro_auc, average_precision, eer, per_video_auc (smoothed scores, the
    protocol's headline numbers), the same with suffix `_unsmoothed` (raw scores), n_videos,
    n_frames, n_anomalous_frames and `protocol` (EvaluationProtocol.to_dict()).
    """
    protocol = protocol or EvaluationProtocol()
    raw = {name: check_scores(name, s) for name, s in scores.items()}
    smoothed = {name: protocol.smooth(s) for name, s in raw.items()}
    out: dict[str, Any] = {}
    for suffix, sc in (("", smoothed), ("_unsmoothed", raw)):
        macro, per_video = macro_auc(sc, labels, protocol.macro_padding)
        out["micro_auc" + suffix] = micro_auc(sc, labels)
        out["macro_auc" + suffix] = macro
        out["average_precision" + suffix] = average_precision(sc, labels)
        out["eer" + suffix] = equal_error_rate(sc, labels)
        out["per_video_auc" + suffix] = per_video
    n_anomalous = sum(int(np.count_nonzero(np.asarray(labels[n]))) for n in raw)
    out["n_videos"] = len(raw)
    out["n_frames"] = int(sum(s.size for s in raw.values()))
    out["n_anomalous_frames"] = n_anomalous
    out["protocol"] = protocol.to_dict()
    return out
