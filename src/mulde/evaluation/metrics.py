"""Frame-level anomaly-detection metrics over per-video scores (higher = more anomalous).

Inputs are mappings from video name to one score per frame and to one 0/1 label per frame
(1 = anomalous). Every function validates its input and raises `EvaluationError` naming the
video (and frame) at fault.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum

import numpy as np
from numpy.typing import ArrayLike
from scipy.stats import rankdata
from sklearn.metrics import average_precision_score, roc_auc_score, roc_curve


class EvaluationError(ValueError):
    """Invalid evaluation input; the message names the video, frame or field at fault."""


class MacroAUC(str, Enum):
    """Definition of the macro AUC (mean over videos of the per-video ROC-AUC), by name.

    PADDED ("padded", the default): every video counts. Before its AUC is taken, each video
    gets one extra normal frame ranked below all of its frames and one extra anomalous frame
    ranked above all of them, so a video of one class only has a defined AUC. With the
    video's n_pos anomalous and n_neg normal frames and U the number of its (anomalous, normal)
    frame pairs in which the anomalous frame scores higher (ties count 1/2), the padded AUC is

        (U + n_pos + n_neg + 1) / ((n_pos + 1) * (n_neg + 1)),

    which depends only on the order of the video's scores: invariant to adding a constant and
    to a positive scale. This is the padding of the AI-VAD reference evaluation (`evaluate.py`,
    `macro_auc`; docs/method.md) that the MULDE paper's numbers follow, which appends a normal
    frame scored 0 and an anomalous frame scored `sys.float_info.max`. For scores >= 0 both
    give bitwise the same AUC whenever no anomalous frame scores exactly 0 (and no score is
    `sys.float_info.max`); each anomalous frame scored exactly 0 ties with AI-VAD's 0 pad and
    costs its video 0.5 / ((n_pos + 1) * (n_neg + 1)) there, a tie this definition does not
    have. No order-only definition can match AI-VAD on every input >= 0: scores [0, 1] with
    labels [1, 0] give 0.625 under AI-VAD's padding but [1, 2] give 0.75, although the second
    is the first plus 1. For scores < 0 AI-VAD's 0 pad is no longer below the video and its
    numbers change with a shift of all scores; this definition does not.

    SKIP_SINGLE_CLASS ("skip_single_class"): the mean of the plain per-video ROC-AUC over the
    videos that hold both normal and anomalous frames; videos of one class are left out (and
    listed). Also order-only.
    """

    PADDED = "padded"
    SKIP_SINGLE_CLASS = "skip_single_class"


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
    definition: MacroAUC | str = MacroAUC.PADDED,
) -> tuple[float, dict[str, float]]:
    """Macro ROC-AUC: mean over videos of the per-video ROC-AUC; returns (mean, {name: auc}).

    `definition` is a `MacroAUC` (see there for the exact formulas): "padded" (default, every
    video counts, AI-VAD's padding made order-only) or "skip_single_class" (videos of a single
    class are left out of the mean and of the returned dict; `EvaluationError` when no video
    holds both classes). Both depend only on the order of each video's scores.
    """
    definition = MacroAUC(definition)
    per_video: dict[str, float] = {}
    for name, s, y in _videos(scores, labels):
        if definition is MacroAUC.SKIP_SINGLE_CLASS:
            if y.min() != y.max():
                per_video[name] = float(roc_auc_score(y, s))
            continue
        # the video's scores replaced by their ranks 1..n (ties averaged), a normal frame
        # ranked 0 before them and an anomalous frame ranked n + 1 after them: the same
        # order as AI-VAD's (0, scores, float max) whenever 0 < scores < float max, so the
        # same ROC points and bitwise the same AUC
        ranks = rankdata(s, method="average")
        s_pad = np.concatenate(([0.0], ranks, [s.size + 1.0]))
        y_pad = np.concatenate(([0], y, [1]))
        per_video[name] = float(roc_auc_score(y_pad, s_pad))
    if not per_video:
        raise EvaluationError(
            f"none of the {len(scores)} video(s) holds both normal and anomalous frames: the "
            "skip_single_class macro AUC is undefined (the padded definition is not)"
        )
    return float(np.mean(list(per_video.values()))), per_video


def single_class_videos(labels: Mapping[str, ArrayLike]) -> list[str]:
    """Names of the videos whose frames are all normal or all anomalous, in mapping order."""
    return [n for n, y in labels.items() if np.min(y) == np.max(y)]


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
