"""PNG plots of an evaluation (matplotlib, Agg, no pyplot state): ROC curve, per-video scores."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, SymmetricalLogLocator

SCORE_COLOR = "#1f4e79"
RAW_COLOR = "#9aa5b1"
ANOMALY_COLOR = "#e4572e"
THRESHOLD_COLOR = "#c0392b"
STREAM_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2")


def anomalous_ranges(labels: np.ndarray) -> list[tuple[int, int]]:
    """Return the runs of label 1 as 0-based inclusive (first, last) frame pairs."""
    y = np.concatenate(([0], np.asarray(labels, dtype=np.int8) != 0, [0])).astype(np.int8)
    edges = np.diff(y)
    starts = np.flatnonzero(edges == 1)
    ends = np.flatnonzero(edges == -1) - 1
    return [(int(a), int(b)) for a, b in zip(starts, ends, strict=True)]


def _text(s: str) -> str:
    """Escape `$` so matplotlib shows names literally instead of parsing mathtext."""
    return s.replace("$", r"\$")


def _tick(v: float, _pos: object = None) -> str:
    """A y tick in plain numbers: 0.4, 1, 10, 4,000 (not 10^3 or 0.402151)."""
    return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.3g}"


def _style(ax) -> None:
    ax.grid(True, color="#e6e9ed", linewidth=0.8)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    for side in ("left", "bottom"):
        ax.spines[side].set_color("#8a94a0")
    ax.tick_params(colors="#3c4650", labelsize=8)


def symlog_scores(axis) -> None:
    """Give `axis` the y scale of calibrated scores (1 = a stream's training p99.9):
    symmetric-log, linear in [-1, 1] and logarithmic beyond, so an event at 15 stays visible
    next to one at 4,000; ticks at 1, 2 and 5 of each decade in plain numbers (a peak of 3.6
    can be read, not only 0 and 1). Used by `video_png` and `mulde.watch_page`."""
    axis.set_yscale("symlog", linthresh=1.0, linscale=0.6)
    axis.yaxis.set_major_locator(SymmetricalLogLocator(linthresh=1.0, base=10,
                                                       subs=(1.0, 2.0, 5.0)))
    axis.yaxis.set_major_formatter(FuncFormatter(_tick))


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, facecolor="white")
    return buf.getvalue()


def roc_png(curves: Sequence[tuple[str, np.ndarray, np.ndarray, float]]) -> bytes:
    """Return a PNG of ROC curves; each curve is (label, fpr, tpr, auc), the first one bold."""
    fig = Figure(figsize=(4.6, 4.4), layout="constrained")
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1], color="#b8c0c8", linestyle=":", linewidth=1, label="chance (50 %)")
    for i, (label, fpr, tpr, auc) in enumerate(curves):
        ax.plot(
            fpr,
            tpr,
            color=SCORE_COLOR if i == 0 else RAW_COLOR,
            linewidth=2.0 if i == 0 else 1.3,
            linestyle="-" if i == 0 else "--",
            label=f"{_text(label)} (AUC {100 * auc:.2f} %)",
        )
    ax.set(xlim=(-0.01, 1.01), ylim=(-0.01, 1.01), aspect="equal")
    ax.set_xlabel("false positive rate", fontsize=9)
    ax.set_ylabel("true positive rate", fontsize=9)
    ax.set_title("Micro ROC (all test frames)", fontsize=10, loc="left")
    ax.legend(loc="lower right", fontsize=8, frameon=False)
    _style(ax)
    return _png(fig)


def video_png(
    name: str,
    scores: np.ndarray,
    raw_scores: np.ndarray | None = None,
    labels: np.ndarray | None = None,
    auc: float | None = None,
    score_label: str = "score",
    *,
    threshold: float | None = None,
    events: Sequence[tuple[int, int, int, float]] = (),
    streams: Mapping[str, np.ndarray] | None = None,
    calibrated: bool = False,
    note: str | None = None,
) -> bytes:
    """Return a PNG of one video's frame scores over time, ground-truth anomalies shaded.

    `scores` (T,) are the final (smoothed) scores, `raw_scores` the unsmoothed ones (drawn
    faintly when given), `auc` the per-video (macro-padded) AUC shown in the title (`note`,
    when given, is shown instead: e.g. a video without anomalies and its false alarms),
    `score_label` the legend entry of `scores`. `threshold`: the alert threshold, in the units
    of `scores`, drawn as a dashed line; `events`: (start, end, peak, score) per event found at
    it (0-based inclusive frames), drawn as a bar at the threshold from start to end and a
    numbered marker at the peak (numbers from 1, as in the report's event table).
    `streams` ({stream: (T,) scores on the scale of `scores`}) adds a lower panel with one line
    per stream (their sum is `scores` for the pipeline's sum fusion).
    `calibrated=True`: the scores are calibrated (1 = the training 99.9th percentile of a
    stream): the y axis is symmetric-log (linear in [-1, 1], logarithmic beyond), so an event
    at 15 stays visible next to one at 4,000; otherwise linear.
    """
    two = bool(streams)
    fig = Figure(figsize=(7.2, 3.9 if two else 2.5), layout="constrained")
    if two:
        ax, ax_s = fig.subplots(2, 1, sharex=True, height_ratios=[3, 2])
    else:
        ax, ax_s = fig.add_subplot(), None
    frames = np.arange(len(scores))
    if labels is not None:
        for k, (a, b) in enumerate(anomalous_ranges(labels)):
            for axis in (ax, ax_s) if two else (ax,):
                axis.axvspan(
                    a - 0.5,
                    b + 0.5,
                    color=ANOMALY_COLOR,
                    alpha=0.16,
                    linewidth=0,
                    label="anomalous (ground truth)" if k == 0 and axis is ax else None,
                )
    if raw_scores is not None:
        ax.plot(frames, raw_scores, color=RAW_COLOR, linewidth=0.8, label="unsmoothed")
    ax.plot(frames, scores, color=SCORE_COLOR, linewidth=1.6, label=score_label)
    if threshold is not None:
        ax.axhline(threshold, color=THRESHOLD_COLOR, linewidth=1.1, linestyle="--",
                   label=f"threshold {threshold:.3g}")
        for k, (start, end, peak, score) in enumerate(events, start=1):
            ax.plot([start - 0.5, end + 0.5], [threshold, threshold], color=THRESHOLD_COLOR,
                    linewidth=4, solid_capstyle="butt", alpha=0.8,
                    label="event (above threshold)" if k == 1 else None)
            ax.plot([peak], [score], marker="v", color=THRESHOLD_COLOR, markersize=5)
            if k <= 40:
                ax.annotate(str(k), (peak, score), xytext=(0, 5), textcoords="offset points",
                            ha="center", fontsize=7, color=THRESHOLD_COLOR)
    if two:
        for i, (stream, s) in enumerate(streams.items()):
            ax_s.plot(frames, s, color=STREAM_COLORS[i % len(STREAM_COLORS)], linewidth=1.2,
                      label=_text(str(stream)))
        ax_s.set_ylabel("by stream", fontsize=8)
        ax_s.legend(loc="upper left", fontsize=7, frameon=False, ncol=len(streams))
    lows = [float(np.min(scores))] if len(scores) else [0.0]
    if raw_scores is not None and len(raw_scores):
        lows.append(float(np.min(raw_scores)))
    stream_low = min((float(np.min(s)) for s in (streams or {}).values() if len(s)), default=0)
    for axis, low in ((ax, min(lows)), (ax_s, stream_low)) if two else ((ax, min(lows)),):
        if calibrated:
            symlog_scores(axis)
            # autoscaling mirrors the log decades below 0; keep only what the data reach,
            # with room above the highest peak for an event's number
            high = axis.get_ylim()[1]
            axis.set_ylim(bottom=min(low, 0.0) - 0.1, top=high + 0.25 * abs(high) + 0.1)
        axis.set_xlim(-0.5, max(len(scores) - 0.5, 0.5))
        _style(axis)
    (ax_s if two else ax).set_xlabel("frame", fontsize=8)
    ax.set_ylabel("calibrated score\n(symlog; 1 = train p99.9)" if calibrated
                  else "anomaly score", fontsize=8)
    if note is not None:
        title = f"video {_text(name)}  \u00b7  {_text(note)}"
    else:
        title = f"video {_text(name)}" + (
            f"  \u00b7  AUC {100 * auc:.2f} %" if auc is not None else "")
    # the title on its own line above the legend's: side by side, a long name or note ran
    # into the legend's entries
    fig.suptitle(title, fontsize=10, x=0.01, ha="left")
    ax.legend(
        loc="lower right",
        bbox_to_anchor=(1.0, 1.0),
        ncol=5,
        fontsize=7,
        frameon=False,
        borderaxespad=0.2,
        handlelength=1.5,
    )
    return _png(fig)
