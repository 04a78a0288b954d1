"""Evaluation protocol (micro/macro AUC, smoothing) and
reports (frame_scores.csv, metrics.json, PNG plots, a self-contained report.html), with the
events at an alert threshold and their event-level precision/recall."""

from mulde.evaluation.alerts import describe_events, event_precision_recall
from mulde.evaluation.metrics import (
    EvaluationError,
    MacroAUC,
    average_precision,
    equal_error_rate,
    macro_auc,
    micro_auc,
    micro_roc_curve,
)
from mulde.evaluation.protocol import (
    EvaluationProtocol,
    compute_metrics,
    normalize,
    orient,
    replace_nonfinite,
    smooth,
)
from mulde.evaluation.report import Snapshot, library_versions, read_frame_scores, write_report

__all__ = [
    "EvaluationError",
    "EvaluationProtocol",
    "MacroAUC",
    "Snapshot",
    "average_precision",
    "compute_metrics",
    "describe_events",
    "equal_error_rate",
    "event_precision_recall",
    "library_versions",
    "macro_auc",
    "micro_auc",
    "micro_roc_curve",
    "normalize",
    "orient",
    "read_frame_scores",
    "replace_nonfinite",
    "smooth",
    "write_report",
]
