"""Events: runs of frames whose anomaly score is above an alert threshold.

An event starts at the first frame whose score exceeds the threshold and ends at the last
frame above it before `patience` frames in a row at or below it (so short dips do not split
one event into many). The same rule runs online, one frame at a time (`EventTracker`, for a
live stream), and offline over a whole video (`find_events`, which feeds the tracker), so both
give the same events for the same scores.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass

import numpy as np
from numpy.typing import ArrayLike


@dataclass(frozen=True)
class Event:
    """One event: frames `start`..`end` (0-based, inclusive) above the threshold, its
    highest score `score` at frame `peak` (the first one when tied), in the units of the
    scores it was found in (the calibrated, fused scale in the pipeline)."""

    start: int
    end: int
    peak: int
    score: float

    @property
    def n_frames(self) -> int:
        return self.end - self.start + 1

    def to_dict(self) -> dict[str, int | float]:
        """JSON-ready: {"start", "end", "peak", "score"}."""
        return asdict(self)


class EventTracker:
    """Online event finder: `update(score)` once per frame, in order; it returns the event
    that has just ended (after `patience` frames at or below `threshold`), else None;
    `close()` ends the stream and returns the event still open, if any.

    `threshold`: a score strictly above it is an alert. `patience` (>= 1 frames): how many
    frames in a row at or below the threshold end an event; an event's `end` is its last
    frame above the threshold. Raises ValueError for a non-finite threshold, patience < 1
    or a NaN score.
    """

    def __init__(self, threshold: float, patience: int = 1) -> None:
        if not np.isfinite(threshold):
            raise ValueError(f"the alert threshold must be a finite number, got {threshold}")
        if patience < 1:
            raise ValueError(f"patience must be at least 1 frame, got {patience}")
        self.threshold = float(threshold)
        self.patience = int(patience)
        self.frame = -1
        self._open: list[float | int] | None = None  # [start, end, peak, score]

    @property
    def active(self) -> Event | None:
        """The event in progress (not yet ended), or None."""
        return None if self._open is None else Event(*self._open)

    def update(self, score: float) -> Event | None:
        self.frame += 1
        if np.isnan(score):
            raise ValueError(f"frame {self.frame}: the anomaly score is NaN")
        t = self.frame
        if score > self.threshold:
            if self._open is None:
                self._open = [t, t, t, float(score)]
            else:
                self._open[1] = t
                if score > self._open[3]:
                    self._open[2], self._open[3] = t, float(score)
            return None
        if self._open is not None and t - self._open[1] >= self.patience:
            return self.close()
        return None

    def close(self) -> Event | None:
        event, self._open = self.active, None
        return event


def find_events(scores: ArrayLike, threshold: float, patience: int = 1) -> list[Event]:
    """The events of one video's frame scores (shape (T,), any units): what `EventTracker`
    finds frame by frame, in order. Raises ValueError as `EventTracker` does."""
    tracker = EventTracker(threshold, patience)
    events = [e for s in np.asarray(scores, dtype=float).ravel() if (e := tracker.update(s))]
    last = tracker.close()
    return [*events, last] if last else events


def leading_stream(scores: Mapping[str, float]) -> str:
    """The stream that fired at an event's peak: the one with the largest score there, the
    first in the mapping's order when tied; `scores` ({stream: its calibrated score at the
    peak}) smoothed as the event's fused score is, so the streams' scores add up to it and
    the leader is the largest share. One rule for the offline report's events and `mulde
    watch`'s (events.json, the snapshot's label). "" for no stream."""
    return max(scores, key=lambda k: scores[k]) if scores else ""
