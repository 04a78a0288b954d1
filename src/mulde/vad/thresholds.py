"""Alert thresholds in a user's units, fitted on scores that behave like new video's.

A threshold is picked on the fused frame scores of the *training* videos (normal by
definition), smoothed as the scores it will be applied to, and it is worth only as much as
those scores resemble the scores of unseen normal video. A model's scores of its own training
objects are optimistic (MULDE can memorise them; issue 16 measured 11-36 % of held-out normal
digits above `MULDE.predict`'s 1 % training threshold), so the scores used here are the
out-of-fold ones of `StreamEnsemble(calibration_folds=k)` (`StreamEnsemble.train_fused`):
training video i scored by models fitted without its fold.

Rules (`ThresholdRule`):
- "events_per_hour" (the default, target 1): the lowest score level such that no higher level
  gives more than `target` events per hour of training video (events as `mulde.vad.events`
  finds them: runs above the threshold, merged across dips shorter than `patience` frames).
  With less training video than 1/target hours no event is allowed, so the threshold is the
  highest training score: the finest rate that the training video can vouch for is one event
  per its length, which `ThresholdFit.resolution_per_hour` states.
- "quantile": the `target` quantile (0..1) of the smoothed training frame scores.
- "value": `target` itself, on the fused calibrated scale.

`held_out_rate` says what the threshold really gives on normal video it was not fitted on:
the training videos are split into folds (video i in fold i mod k, as the calibration folds),
the threshold is refitted without each fold and applied to that fold's (out-of-fold) scores;
the events found over all folds per hour of their video is the realised false-alarm rate.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
from scipy.ndimage import gaussian_filter1d

ThresholdRule = Literal["events_per_hour", "quantile", "value"]
RULES = ("events_per_hour", "quantile", "value")
DEFAULT_EVENTS_PER_HOUR = 1.0
"""The default target: one false alarm per hour of normal video (someone watching a camera
can check one alert an hour; a rate stated in events per hour does not depend on the frame
rate or the length of the training videos, unlike a score quantile)."""


def video_length(hours: float) -> str:
    """A length of video as people say it: "12 s" under a minute, else "1.7 min" (a short
    training set read "0.0 min" before)."""
    minutes = float(hours) * 60
    return f"{minutes:.1f} min" if minutes >= 1 else f"{minutes * 60:.0f} s"


def rate_text(fps: float) -> str:
    """A frame rate (frames/s) as messages give it: at most two decimals, no trailing zeros
    ("25", "29.97", "25.87"); the mean rate of training files at several rates printed
    "25.8696" while files keep it in full."""
    return f"{round(float(fps), 2):g}"


def smooth_scores(scores: np.ndarray, sigma: float) -> np.ndarray:
    """Return one video's (T,) scores filtered with a Gaussian of std `sigma` frames (scipy's
    `gaussian_filter1d`, mode "reflect", truncate 4: the evaluation protocol's smoothing);
    sigma 0 returns a float64 copy."""
    s = np.asarray(scores, dtype=np.float64)
    if sigma == 0 or s.size == 0:
        return s.copy()
    return gaussian_filter1d(s, float(sigma), mode="reflect", truncate=4.0)


def count_events(scores: np.ndarray, threshold: float, patience: int = 1) -> int:
    """Return how many events `mulde.vad.events.find_events(scores, threshold, patience)`
    finds in one video's (T,) scores, vectorised: the runs of frames strictly above the
    threshold, less the gaps between runs shorter than `patience` frames (which merge)."""
    above = np.asarray(scores, dtype=np.float64) > threshold
    if not above.any():
        return 0
    edges = np.diff(np.r_[0, above.astype(np.int8), 0])
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)  # end: exclusive
    gaps = starts[1:] - ends[:-1]
    return int(len(starts) - np.count_nonzero(gaps < patience))


def events_per_hour(videos: Sequence[np.ndarray], threshold: float, fps: float,
                    patience: int = 1) -> float:
    """Return the events per hour of video that `threshold` gives on videos' (smoothed)
    scores at `fps` frames/s."""
    frames = sum(len(v) for v in videos)
    if frames == 0:
        raise ValueError("no frames to count events on")
    events = sum(count_events(v, threshold, patience) for v in videos)
    return events / (frames / fps / 3600.0)


@dataclass(frozen=True)
class ThresholdFit:
    """An alert threshold and how it was fitted.

    `value`: alert when the smoothed fused score is strictly above it. `rule`, `target`:
    the rule (module docstring) and its target (events per hour, a quantile or the value).
    `patience`: frames at or below the threshold that end an event. `sigma`: the smoothing
    (frames) of the scores it applies to. `train_hours`, `train_events_per_hour`: the
    training video it was fitted on and the rate it gives there; `resolution_per_hour`: one
    event per that much video (the smallest non-zero rate it can measure). `out_of_sample`:
    whether the training scores were out-of-fold. `held_out`: the realised false-alarm rate
    on held-out normal video (`held_out_rate`) or None when not measured.
    """

    value: float
    rule: str
    target: float
    patience: int
    sigma: float
    fps: float
    train_hours: float
    train_events_per_hour: float
    resolution_per_hour: float
    out_of_sample: bool
    held_out: dict[str, Any] | None = None

    def describe(self) -> str:
        """One line: the value and its definition."""
        what = {"events_per_hour": f"at most {self.target:g} false alarm(s) per hour of normal "
                                   "training video",
                "quantile": f"the {self.target:g} quantile of the training frame scores",
                "value": "set by hand"}[self.rule]
        return (f"{self.value:.4g} on the fused calibrated score smoothed with sigma "
                f"{self.sigma:g} frames ({what}; "
                f"{'out-of-fold' if self.out_of_sample else 'in-sample'} training scores)")

    def too_short(self) -> str | None:
        """A sentence when the training video is too short to check an events-per-hour
        target (one false alarm on it is already more than the target: the threshold is then
        the lowest that raises none there), else None."""
        if (self.rule != "events_per_hour" or self.target == 0
                or self.target >= self.resolution_per_hour):
            return None  # a target of 0 is checked on any length: no alarm on the training
        length = video_length(self.train_hours)
        rate = self.resolution_per_hour
        per_hour = f"{rate:.0f}" if rate >= 100 else f"{rate:.3g}"
        return (f"the training videos last {length} in all: one false alarm there is already "
                f"{per_hour} per hour, above the target of {self.target:g}, so the rate cannot "
                f"be checked; train on at least {math.ceil(60.0 / self.target)} min of normal "
                "video for a threshold that keeps it")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"definition": self.describe()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ThresholdFit:
        fields = {k: d[k] for k in cls.__dataclass_fields__ if k in d}
        return cls(**fields)


def _threshold(videos: Sequence[np.ndarray], rule: str, target: float, fps: float,
               patience: int) -> float:
    if rule == "value":
        return float(target)
    flat = np.concatenate(videos)
    if rule == "quantile":
        return float(np.quantile(flat, target))
    hours = len(flat) / fps / 3600.0
    allowed = int(np.floor(target * hours + 1e-9))
    levels = np.unique(flat)[::-1]  # highest first; above the top level nothing fires
    chosen = float(levels[0])
    for level in levels[1:]:  # lower the threshold until a level fires too often
        if sum(count_events(v, level, patience) for v in videos) > allowed:
            break
        chosen = float(level)
    return chosen


def fit_threshold(videos: Sequence[np.ndarray], fps: float, sigma: float,
                  rule: ThresholdRule = "events_per_hour",
                  target: float = DEFAULT_EVENTS_PER_HOUR, patience: int = 1,
                  out_of_sample: bool = True) -> ThresholdFit:
    """Fit an alert threshold on normal videos' fused (unsmoothed) frame scores.

    videos: one (T_i,) array per training video; fps: their frame rate; sigma: the Gaussian
    smoothing (frames) applied per video first, as the scores alerts will use; rule, target:
    module docstring; patience: `mulde.vad.events`' patience. Raises ValueError for an
    unknown rule, a target outside its range (events per hour >= 0, quantile in [0, 1]),
    fps <= 0 or no frames.
    """
    if rule not in RULES:
        raise ValueError(f"threshold rule must be one of {', '.join(RULES)}, got {rule!r}")
    if not (np.isfinite(fps) and fps > 0):
        raise ValueError(f"fps must be a positive number of frames per second, got {fps}")
    if rule == "events_per_hour" and not target >= 0:
        raise ValueError(f"a false-alarm target is events per hour >= 0, got {target}")
    if rule == "quantile" and not 0 <= target <= 1:
        raise ValueError(f"a score quantile is in [0, 1], got {target}")
    if patience < 1:
        raise ValueError(f"patience must be at least 1 frame, got {patience}")
    smoothed = [smooth_scores(v, sigma) for v in videos if len(v)]
    if not smoothed:
        raise ValueError("no training frames to fit a threshold on")
    value = _threshold(smoothed, rule, float(target), fps, patience)
    hours = sum(len(v) for v in smoothed) / fps / 3600.0
    return ThresholdFit(value=value, rule=rule, target=float(target), patience=int(patience),
                        sigma=float(sigma), fps=float(fps), train_hours=hours,
                        train_events_per_hour=events_per_hour(smoothed, value, fps, patience),
                        resolution_per_hour=1.0 / hours, out_of_sample=out_of_sample)


def held_out_rate(videos: Sequence[np.ndarray], fit: ThresholdFit, folds: int = 4
                  ) -> dict[str, Any]:
    """Return the false-alarm rate `fit`'s rule really gives on normal video left out of
    the threshold's fit: per fold of the training videos (video i in fold i mod `folds`,
    at most one fold per video), the threshold is refitted on the other folds and its
    events counted on the fold; returns {"events", "hours", "events_per_hour", "folds",
    "frames_above", "definition"} (frames_above: the fraction of held-out frames above their
    threshold; definition: a sentence saying so, and whether the models were held out too).
    `folds` are the folds of this check, not the calibration's: they are there also without
    calibration folds. The scores should be out-of-fold (`StreamEnsemble(
    calibration_folds=...)`), so that the held-out videos are new to the models too; with
    in-sample scores (`fit.out_of_sample` False) only the threshold is held out and the rate
    is optimistic, which the definition says. Raises ValueError with fewer than 2 videos.
    """
    videos = [np.asarray(v, dtype=np.float64) for v in videos if len(v)]
    if len(videos) < 2:
        raise ValueError("a held-out false-alarm rate needs at least 2 training videos")
    folds = min(folds, len(videos))
    events = frames = above = 0
    for f in range(folds):
        held = [v for i, v in enumerate(videos) if i % folds == f]
        rest = [v for i, v in enumerate(videos) if i % folds != f]
        refit = fit_threshold(rest, fit.fps, fit.sigma, fit.rule, fit.target, fit.patience,  # type: ignore[arg-type]
                              fit.out_of_sample)
        for v in held:
            s = smooth_scores(v, fit.sigma)
            events += count_events(s, refit.value, fit.patience)
            frames += len(s)
            above += int(np.count_nonzero(s > refit.value))
    hours = frames / fit.fps / 3600.0
    models = ("the models' scores are out-of-fold, so those videos are new to the models too"
              if fit.out_of_sample else "the models' scores are in-sample (fitted on every "
              "training video, e.g. --calibration-folds none), so only the threshold is held "
              "out and the rate is optimistic")
    definition = (f"false alarms on held-out training videos: the threshold refitted without "
                  f"each of {folds} folds of the training videos (the folds of this check, not "
                  f"the calibration's) and its events counted on that fold; {models}")
    return {"events": int(events), "hours": hours, "events_per_hour": events / hours,
            "folds": folds, "frames_above": above / frames, "definition": definition}
