"""PNG plots of an evaluation (matplotlib, Agg, no pyplot state): ROC curve, per-video scores."""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure

SCORE_COLOR = "#1f4e79"
RAW_COLOR = "#9aa5b1"
ANOMALY_COLOR = "#e4572e"


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


def _style(ax) -> None:
    ax.grid(True, color="#e6e9ed", linewidth=0.8)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    for side in ("left", "bottom"):
        ax.spines[side].set_color("#8a94a0")
    ax.tick_params(colors="#3c4650", labelsize=8)


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
) -> bytes:
    """Return a PNG of one video's frame scores over time, ground-truth anomalies shaded.

    `scores` are the final (smoothed) scores, `raw_scores` the unsmoothed ones (drawn faintly
    when given), `auc` the per-video (macro-padded) AUC shown in the title, `score_label` the
    legend entry of `scores`.
    """
    fig = Figure(figsize=(7.2, 2.3), layout="constrained")
    ax = fig.add_subplot()
    frames = np.arange(len(scores))
    if labels is not None:
        for k, (a, b) in enumerate(anomalous_ranges(labels)):
            ax.axvspan(
                a - 0.5,
                b + 0.5,
                color=ANOMALY_COLOR,
                alpha=0.16,
                linewidth=0,
                label="anomalous (ground truth)" if k == 0 else None,
            )
    if raw_scores is not None:
        ax.plot(frames, raw_scores, color=RAW_COLOR, linewidth=0.8, label="unsmoothed")
    ax.plot(frames, scores, color=SCORE_COLOR, linewidth=1.6, label=score_label)
    ax.set_xlim(-0.5, max(len(scores) - 0.5, 0.5))
    ax.set_xlabel("frame", fontsize=8)
    ax.set_ylabel("anomaly score", fontsize=8)
    title = f"video {_text(name)}" + (f"  \u00b7  AUC {100 * auc:.2f} %" if auc is not None else "")
    ax.set_title(title, fontsize=10, loc="left")
    ax.legend(
        loc="lower right",
        bbox_to_anchor=(1.0, 1.0),
        ncol=3,
        fontsize=7,
        frameon=False,
        borderaxespad=0.2,
        handlelength=1.5,
    )
    _style(ax)
    return _png(fig)
