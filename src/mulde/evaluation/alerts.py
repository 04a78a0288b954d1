"""What the report says about alerts: the events of each video at the alert threshold, with
their times, peak and the stream that fired, and event-level precision and recall against
ground-truth anomalous intervals (for information: nothing is chosen from them).

Events come from `mulde.vad.events.find_events` (the same rule `mulde watch` runs online).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from mulde.evaluation.plots import anomalous_ranges
from mulde.vad.events import Event, find_events, leading_stream

EVENT_PR_DEFINITION = (
    "an event is a true positive when it overlaps a ground-truth anomalous interval (a run "
    "of anomalous frames) by at least one frame; a ground-truth interval is recalled when "
    "some event overlaps it. Precision = true-positive events / events; recall = recalled "
    "intervals / intervals; both over all labelled videos together"
)
FOR_INFORMATION = "for information; nothing is chosen from it"


def _overlaps(a: tuple[int, int], b: tuple[int, int]) -> bool:
    """Whether the inclusive frame ranges a and b share at least one frame."""
    return a[0] <= b[1] and b[0] <= a[1]


def describe_events(
    scores: np.ndarray,
    threshold: float,
    streams: Mapping[str, np.ndarray] | None = None,
    fps: float | None = None,
    labels: np.ndarray | None = None,
    patience: int = 1,
) -> list[dict[str, Any]]:
    """Return the events of one video's scores (T,) at `threshold` as JSON-ready dicts.

    Each dict: `start`, `end` (0-based inclusive frames), `peak` (frame of the highest score,
    the first when tied), `score` (the peak score, in the units of `scores`), `n_frames`;
    with `fps` (frames/s) also `start_s`, `end_s` (end of the last frame: (end + 1) / fps)
    and `peak_s` in seconds from the video's start; with `streams` ({stream: (T,) calibrated
    scores on the scale of `scores`}) `stream`, the stream with the largest score at the
    peak frame (the first in the mapping's order when tied), and `stream_scores` there; with
    `labels` (T,) 0/1, `overlaps_anomaly` (whether the event shares a frame with a
    ground-truth anomalous frame). Events follow `find_events(scores, threshold, patience)`.
    """
    out = []
    runs = anomalous_ranges(labels) if labels is not None else []
    for e in find_events(scores, threshold, patience):
        d: dict[str, Any] = {**e.to_dict(), "n_frames": e.n_frames}
        if fps:
            d.update(start_s=e.start / fps, end_s=(e.end + 1) / fps, peak_s=e.peak / fps)
        if streams:
            at_peak = {str(k): float(v[e.peak]) for k, v in streams.items()}
            d["stream"] = leading_stream(at_peak)
            d["stream_scores"] = at_peak
        if labels is not None:
            d["overlaps_anomaly"] = any(_overlaps((e.start, e.end), r) for r in runs)
        out.append(d)
    return out


def event_precision_recall(
    events: Mapping[str, Sequence[Event | Mapping[str, Any]]],
    labels: Mapping[str, np.ndarray],
) -> dict[str, Any]:
    """Event-level precision and recall of the events of labelled videos (`EVENT_PR_DEFINITION`).

    `events`: {video: events (`Event`s or dicts with `start`, `end`)}; `labels`: {video: (T,)
    0/1 frame labels}; only videos in both count. Returns {"n_events", "true_positive_events",
    "precision" (None without events), "n_anomalous_intervals", "recalled_intervals",
    "recall" (None without intervals), "per_video" ({video: the same counts}),
    "definition", "note"}.
    """
    per_video = {}
    for name, y in labels.items():
        if name not in events:
            continue
        spans = [(e.start, e.end) if isinstance(e, Event) else (int(e["start"]), int(e["end"]))
                 for e in events[name]]
        runs = anomalous_ranges(y)
        per_video[name] = {
            "n_events": len(spans),
            "true_positive_events": sum(any(_overlaps(s, r) for r in runs) for s in spans),
            "n_anomalous_intervals": len(runs),
            "recalled_intervals": sum(any(_overlaps(s, r) for s in spans) for r in runs),
        }
    total = {k: sum(v[k] for v in per_video.values()) for k in (
        "n_events", "true_positive_events", "n_anomalous_intervals", "recalled_intervals")}
    return {
        **total,
        "precision": (total["true_positive_events"] / total["n_events"]
                      if total["n_events"] else None),
        "recall": (total["recalled_intervals"] / total["n_anomalous_intervals"]
                   if total["n_anomalous_intervals"] else None),
        "per_video": per_video,
        "definition": EVENT_PR_DEFINITION,
        "note": FOR_INFORMATION,
    }
