"""The video evaluation protocol: temporal smoothing and the full metrics dictionary
(docs/method.md, "Video protocol").

Order of operations (AI-VAD / MULDE object-centric protocol): the method (`mulde.vad`) turns
object scores into calibrated, fused frame scores; `compute_metrics` smooths each test video
with `smooth` and reports smoothed and unsmoothed metrics.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
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
