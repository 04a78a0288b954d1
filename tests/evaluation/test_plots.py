"""The report's figures: anomalous runs from labels, and PNGs that decode to real images."""

from __future__ import annotations

import io

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from mulde.evaluation.plots import anomalous_ranges, roc_png, video_png


def test_anomalous_ranges_by_hand():
    assert anomalous_ranges(np.array([0, 1, 1, 0, 1, 0, 0, 1])) == [(1, 2), (4, 4), (7, 7)]
    assert anomalous_ranges(np.zeros(5, int)) == []
    assert anomalous_ranges(np.ones(3, int)) == [(0, 2)]


@given(st.lists(st.integers(0, 1), min_size=1, max_size=60))
def test_anomalous_ranges_cover_exactly_the_label_1_frames(labels):
    labels = np.array(labels)
    covered = np.zeros(len(labels), int)
    for a, b in anomalous_ranges(labels):
        assert 0 <= a <= b < len(labels)
        covered[a:b + 1] += 1
    np.testing.assert_array_equal(covered, labels)  # every run once, nothing else


def _image(png: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(png))
    image.load()
    return image


def test_pngs_are_images_and_show_the_data():
    fpr, tpr = np.array([0.0, 0.2, 1.0]), np.array([0.0, 0.9, 1.0])
    roc = _image(roc_png([("MULDE", fpr, tpr, 0.95), ("chance", fpr, fpr, 0.5)]))
    assert roc.format == "PNG" and min(roc.size) > 100
    scores = np.r_[np.zeros(20), np.ones(10), np.zeros(20)]
    plain = np.asarray(_image(video_png("v$1", scores)).convert("RGB"))
    shaded = np.asarray(_image(video_png("v$1", scores, labels=(scores > 0).astype(int),
                                         raw_scores=scores, auc=1.0)).convert("RGB"))
    assert plain.shape == shaded.shape
    assert (plain != shaded).any()  # the ground-truth shading and the raw curve are drawn


def _peak_heights(png: bytes) -> tuple[int, int]:
    """Pixel heights above the baseline of the score curve's highest point in the left and
    the right half of the image (the curve drawn in SCORE_COLOR)."""
    a = np.asarray(_image(png).convert("RGB")).astype(int)
    curve = np.all(np.abs(a - (0x1F, 0x4E, 0x79)) < 30, axis=-1)
    rows, cols = np.nonzero(curve)
    baseline = np.bincount(rows).argmax()  # the flat part of the curve
    mid = a.shape[1] // 2
    return baseline - rows[cols < mid].min(), baseline - rows[cols >= mid].min()


def test_calibrated_axis_keeps_a_small_event_visible_next_to_a_huge_one():
    scores = np.zeros(100)
    scores[20:23], scores[70:73] = 15.0, 4000.0  # a wrong-way walker and a runner
    small, big = _peak_heights(video_png("v", scores))
    assert small < 0.05 * big  # linear: the walker is lost under the runner
    small, big = _peak_heights(video_png("v", scores, calibrated=True))
    assert small > 0.3 * big  # symlog: the walker keeps a third of the runner's height


def test_a_calibrated_axis_has_ticks_to_read_a_peak_above_1_and_room_for_its_number(
        monkeypatch):
    """Peaks of 2-3.6 had only the ticks 0 and 1 to be read against (a newcomer's report),
    and an event's number at the highest peak was cut at the top: ticks at 1, 2 and 5 of
    each decade now, and the axis ends above the peak."""
    drawn = _drawn(monkeypatch)
    scores = np.zeros(60)
    scores[40:45] = 3.63
    video_png("v", scores, calibrated=True, threshold=0.6, events=[(40, 44, 42, 3.63)])
    ax = drawn[-1].axes[0]
    low, high = ax.get_ylim()
    shown = [t for t in ax.get_yticks() if low <= t <= high]
    assert {0.0, 1.0, 2.0} <= set(shown)
    assert high > 3.63 * 1.2


def _drawn(monkeypatch) -> list:
    """The figures saved from now on (the plots keep no pyplot state to look them up in)."""
    from matplotlib.figure import Figure

    drawn = []
    save = Figure.savefig
    monkeypatch.setattr(Figure, "savefig",
                        lambda self, *a, **k: drawn.append(self) or save(self, *a, **k))
    return drawn


@pytest.mark.parametrize("options", [
    {"auc": 0.5266, "score_label": "smoothed (\u03c3=1, 2, 3, 4, 5, 6)"},
    {"note": "every frame anomalous", "score_label": "smoothed (\u03c3=3)"},
    {"auc": 0.5266, "threshold": 0.9, "events": [(60, 99, 70, 1.0)]},
])
def test_a_video_plot_s_legend_never_covers_its_title(monkeypatch, options):
    """A newcomer's per-video plots drew the legend ("anomalous (ground truth)", ...) over the
    title ("AUC 52.66 %"): the title now has a line of its own."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.text import Text

    drawn = _drawn(monkeypatch)
    scores = np.r_[np.zeros(60), np.ones(40), np.zeros(80)]
    labels = np.ones(180, int) if "note" in options else (scores > 0).astype(int)
    video_png("Shoplifting034_x264", scores, raw_scores=scores, labels=labels, **options)
    fig = drawn[-1]
    canvas = FigureCanvasAgg(fig)  # drawn again, as saved: the layout places both
    canvas.draw()
    renderer = canvas.get_renderer()
    title, = (t for t in fig.findobj(Text) if t.get_text().startswith("video Shoplifting"))
    legend = fig.axes[0].get_legend()
    assert "anomalous (ground truth)" in [t.get_text() for t in legend.get_texts()]
    assert not title.get_window_extent(renderer).overlaps(legend.get_window_extent(renderer))
