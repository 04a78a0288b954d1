"""Frame-level anomaly-detection metrics over per-video scores (higher = more anomalous).

Inputs are mappings from video name to one score per frame and to one 0/1 label per frame
(1 = anomalous). Every function validates its input and raises `EvaluationError` naming the
video (and frame) at fault.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from enum import Enum

import numpy as np
from numpy.typing import ArrayLike
from sklearn.metrics import average_precision_score, roc_auc_score, roc_curve


class EvaluationError(ValueError):
    """Invalid evaluation input; the message names the video, frame or field at fault."""


class MacroPadding(str, Enum):
    """Score of the label-1 frame appended to every video for the macro AUC.

    FLOAT_MAX: `sys.float_info.max`, above every score, as in the AI-VAD reference evaluation
    (`evaluate.py`, `macro_auc`) that the MULDE paper's numbers follow. VIDEO_MAX: the largest
    score of that video, so the appended frame ties with the video's top-scored frame.
    """

    FLOAT_MAX = "float_max"
    VIDEO_MAX = "video_max"


def check_scores(name: str, scores: ArrayLike) -> np.ndarray:
    """Return one video's scores as a finite 1-D float64 array, or raise naming video and frame."""
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim != 1:
        raise EvaluationError(f"video {name!r}: scores must be 1-D, got shape {s.shape}")
    if s.size == 0:
        raise EvaluationError(f"video {name!r}: no frames")
    bad = np.flatnonzero(~np.isfinite(s))
    if bad.size:
        raise EvaluationError(
            f"video {name!r}: score of frame {bad[0]} is {s[bad[0]]} "
            f"({bad.size} non-finite score(s) in this video)"
        )
    return s


def check_labels(name: str, labels: ArrayLike, n_frames: int) -> np.ndarray:
    """Return one video's labels as a 1-D int8 array of 0/1 with `n_frames` entries."""
    y = np.asarray(labels)
    if y.ndim != 1:
        raise EvaluationError(f"video {name!r}: labels must be 1-D, got shape {y.shape}")
    if y.shape[0] != n_frames:
        raise EvaluationError(
            f"video {name!r}: {n_frames} scores but {y.shape[0]} labels (length mismatch)"
        )
    bad = np.flatnonzero((y != 0) & (y != 1))
    if bad.size:
        raise EvaluationError(f"video {name!r}: label of frame {bad[0]} is {y[bad[0]]}, not 0/1")
    return y.astype(np.int8)


def _videos(
    scores: Mapping[str, ArrayLike], labels: Mapping[str, ArrayLike]
) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """Validated (name, scores, labels) per video, in the order of `scores`."""
    if len(scores) == 0:
        raise EvaluationError("no videos to evaluate (empty scores)")
    missing = [n for n in scores if n not in labels]
    if missing:
        raise EvaluationError(f"no labels for video {missing[0]!r} ({len(missing)} video(s))")
    extra = [n for n in labels if n not in scores]
    if extra:
        raise EvaluationError(f"labels for video {extra[0]!r} which has no scores")
    out = []
    for name, s in scores.items():
        s = check_scores(name, s)
        out.append((name, s, check_labels(name, labels[name], s.shape[0])))
    return out


def _concatenated(
    scores: Mapping[str, ArrayLike], labels: Mapping[str, ArrayLike]
) -> tuple[np.ndarray, np.ndarray]:
    """All frames of all videos concatenated; raises when the labels hold a single class."""
    videos = _videos(scores, labels)
    s = np.concatenate([v[1] for v in videos])
    y = np.concatenate([v[2] for v in videos])
    if y.min() == y.max():
        kind = "anomalous (1)" if y[0] == 1 else "normal (0)"
        raise EvaluationError(
            f"all {y.size} frames of the {len(videos)} video(s) are {kind}: "
            "micro metrics need both classes"
        )
    return s, y


def micro_auc(scores: Mapping[str, ArrayLike], labels: Mapping[str, ArrayLike]) -> float:
    """Micro (frame-level) ROC-AUC: one ROC-AUC over all frames of all videos concatenated."""
    s, y = _concatenated(scores, labels)
    return float(roc_auc_score(y, s))


def micro_roc_curve(
    scores: Mapping[str, ArrayLike], labels: Mapping[str, ArrayLike]
) -> tuple[np.ndarray, np.ndarray]:
    """Return (fpr, tpr) of the micro ROC, from (0, 0) to (1, 1), all thresholds kept."""
    s, y = _concatenated(scores, labels)
    fpr, tpr, _ = roc_curve(y, s, drop_intermediate=False)
    return fpr, tpr


def macro_auc(
    scores: Mapping[str, ArrayLike],
    labels: Mapping[str, ArrayLike],
    padding: MacroPadding | str = MacroPadding.FLOAT_MAX,
) -> tuple[float, dict[str, float]]:
    """Macro ROC-AUC: mean over videos of the per-video ROC-AUC; returns (mean, {name: auc}).

    Each video is padded with one frame (label 0, score 0) before its first frame and one frame
    (label 1, score "max") after its last, so all-normal and all-anomalous videos are defined
    (docs/method.md, "Macro AUC"). "max" is `sys.float_info.max` by default (the AI-VAD reference
    code) or the video's own maximum score with `padding="video_max"`.
    """
    padding = MacroPadding(padding)
    per_video: dict[str, float] = {}
    for name, s, y in _videos(scores, labels):
        top = sys.float_info.max if padding is MacroPadding.FLOAT_MAX else float(s.max())
        s_pad = np.concatenate(([0.0], s, [top]))
        y_pad = np.concatenate(([0], y, [1]))
        per_video[name] = float(roc_auc_score(y_pad, s_pad))
    return float(np.mean(list(per_video.values()))), per_video


def average_precision(scores: Mapping[str, ArrayLike], labels: Mapping[str, ArrayLike]) -> float:
    """Micro average precision (sklearn's step-wise AP, anomalous = positive) over all frames."""
    s, y = _concatenated(scores, labels)
    return float(average_precision_score(y, s))


def equal_error_rate(scores: Mapping[str, ArrayLike], labels: Mapping[str, ArrayLike]) -> float:
    """Micro equal error rate: the FPR where FPR = FNR (= 1 - TPR) on the micro ROC.

    The ROC is the piecewise-linear curve through all (FPR, TPR) points (the curve whose area
    is the AUC). d = FPR + TPR - 1 rises from -1 at (0, 0) to 1 at (1, 1); the EER is the FPR
    at the point of that curve where d = 0, linearly interpolated inside the crossing segment.
    """
    fpr, tpr = micro_roc_curve(scores, labels)
    d = fpr + tpr - 1.0
    i = int(np.argmax(d >= 0.0))  # first point on or past the crossing; i >= 1 as d[0] = -1
    if d[i] == 0.0:
        return float(fpr[i])
    t = -d[i - 1] / (d[i] - d[i - 1])
    return float(fpr[i - 1] + t * (fpr[i] - fpr[i - 1]))
