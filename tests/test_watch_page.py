"""mulde.watch_page: the bounded max-pooled timeline, its plot and the overview page of a watch
(end to end with a watcher in tests/test_watch.py)."""

import math
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mulde.watch_page import (
    DASH,
    MAX_EVENT_ROWS,
    PAGE_MARK,
    PAGE_NAME,
    UNFINISHED_NOTE,
    Timeline,
    mark_moved_page,
    page_html,
    timeline_png,
    write_watch_page,
)

T0 = 1_764_966_000.0  # 2025-12-05T20:20:00Z


def test_a_timeline_keeps_one_frame_a_bin_until_it_is_full():
    """Below its capacity every frame is its own bin: first and last arrival its own, the
    highest score its score."""
    t = Timeline(points=8)
    for i, score in enumerate([0.1, 2.0, -1.0]):
        t.add(T0 + i, score)
    first, last, high = t.arrays()
    assert t.width == 1 and t.frames == 3
    assert first.tolist() == [T0, T0 + 1, T0 + 2] == last.tolist()
    assert high.tolist() == [0.1, 2.0, -1.0]


def test_a_full_timeline_merges_bins_in_pairs_keeping_each_pairs_highest():
    """The ninth frame into 8 bins merges them into 4 of 2 frames (a pair's first arrival,
    its second's last, the higher score), then starts a fifth bin."""
    t = Timeline(points=8)
    scores = [0.0, 5.0, 1.0, 0.5, -2.0, -3.0, 7.0, 0.0, 9.0]
    for i, score in enumerate(scores):
        t.add(T0 + i, score)
    first, last, high = t.arrays()
    assert t.width == 2 and t.bins == 5 and t.frames == 9
    assert first.tolist() == [T0, T0 + 2, T0 + 4, T0 + 6, T0 + 8]
    assert last.tolist() == [T0 + 1, T0 + 3, T0 + 5, T0 + 7, T0 + 8]
    assert high.tolist() == [5.0, 1.0, -2.0, 7.0, 9.0]


def test_a_nan_score_counts_as_none_in_its_bin():
    t = Timeline(points=2)
    t.add(T0, float("nan"))
    t.add(T0 + 1, 3.0)
    t.add(T0 + 2, float("nan"))
    _, _, high = t.arrays()  # the two first frames merged, then the NaN's own bin
    assert high.tolist() == [3.0, -math.inf] and t.width == 2


@pytest.mark.parametrize("points", [0, 1, 3])
def test_a_timeline_needs_an_even_capacity_of_two_or_more(points):
    with pytest.raises(ValueError, match="even number of points"):
        Timeline(points=points)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=300),
       st.sampled_from([2, 4, 16, 64]))
def test_a_timeline_is_bounded_and_keeps_the_highest_score_and_the_span(scores, points):
    """Whatever the frames: at most `points` bins, every frame in one (bins of `width`
    frames, the last maybe fewer), the highest score kept, the first and last arrivals."""
    t = Timeline(points=points)
    for i, score in enumerate(scores):
        t.add(T0 + 0.04 * i, score)
    first, last, high = t.arrays()
    assert t.bins <= points and t.frames == len(scores)
    assert (t.bins - 1) * t.width < len(scores) <= t.bins * t.width
    assert high.max() == max(scores)
    assert first[0] == T0 and last[-1] == T0 + 0.04 * (len(scores) - 1)
    assert np.all(first <= last) and np.all(last[:-1] < first[1:])


def _event(k, start, end, score=3.5, **more):
    stamp = "2025-12-05T20:20:{:06.3f}+00:00"
    return {"start": 10 * start, "end": 10 * end, "peak": 10 * start, "score": score,
            "start_s": float(start), "end_s": float(end), "start_at": stamp.format(start),
            "peak_at": stamp.format(start), "end_at": stamp.format(end), "stream": "velocity",
            "snapshot": f"event_{k:04d}.png", "clip": f"event_{k:04d}.mp4", "ongoing": False,
            "cut_short": False, "clip_capped": False, **more}


def _summary(**more):
    return {"source": "rtsp://cam/<b>", "kind": "network", "started_at":
            "2025-12-05T20:20:00.000+00:00", "ended_at": "2025-12-05T20:21:00.000+00:00",
            "stopped": "end of stream", "frames": 600, "flowing_s": 60.0, "fps": 10.0,
            "frames_per_s": 10.0, "threshold": 1.0, "threshold_definition": "the model's",
            "patience": 2, "latency_s": {"mean": 0.02, "p50": 0.02, "p95": 0.03, "max": 0.1},
            "events": 2, "reconnects": 1, "drops": ["x"], "notes": ["a <note>"],
            "model": "/m", "model_digest": "abc", "mulde_version": "0", **more}


def _timeline(n=600, loud=(100, 130)):
    t = Timeline(points=64)
    for i in range(n):
        t.add(T0 + i / 10, 4.0 if loud[0] <= i < loud[1] else 0.2)
    return t


def test_the_plot_is_a_png_and_none_before_any_frame():
    events = [_event(1, 10, 13)]
    png = timeline_png(_timeline(), 1.0, events, "cam")
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert timeline_png(Timeline(), 1.0, events, "cam") is None
    # a pause in the flow (a reconnection) and an event without clock times still draw
    t = _timeline(50)
    t.add(T0 + 600, 0.3)
    assert timeline_png(t, None, [{"score": 2.0}], "cam")[:4] == b"\x89PNG"


def _drawn(monkeypatch, timeline, threshold):
    """The axes timeline_png draws (its figure kept instead of encoded)."""
    import mulde.evaluation.plots

    figures = []
    monkeypatch.setattr(mulde.evaluation.plots, "_png", lambda fig: figures.append(fig) or b"")
    timeline_png(timeline, threshold, [], "cam")
    (fig,) = figures
    return fig.axes[0]


def test_the_line_breaks_at_a_pause_in_the_flow_not_between_a_slow_cameras_frames(
        monkeypatch):
    """A camera of a frame every 10 s flows: its line is whole (each frame was a point
    between two breaks, and no line was drawn at all); a minute without frames between
    frames 0.1 s apart breaks it once."""
    slow = Timeline(points=64)
    for i in range(6):
        slow.add(T0 + 10 * i, 0.2 + 0.1 * i)
    y = _drawn(monkeypatch, slow, 1.0).lines[0].get_ydata()
    assert len(y) == 6 and not np.isnan(y).any()
    paused = _timeline(50)
    paused.add(T0 + 65, 0.3)
    y = _drawn(monkeypatch, paused, 1.0).lines[0].get_ydata()
    assert len(y) == 52 and np.isnan(y).sum() == 1 and np.isnan(y[50])


def test_the_plots_clock_is_utc_whatever_matplotlibs_time_zone(monkeypatch):
    """The axis says UTC, as the page's table: a matplotlibrc `timezone` (Tokyo here) had
    its ticks read 05:20 on the next day for 20:20 UTC."""
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    monkeypatch.setitem(matplotlib.rcParams, "timezone", "Asia/Tokyo")
    ax = _drawn(monkeypatch, _timeline(), 1.0)  # 20:20:00 to 20:21:00 UTC
    FigureCanvasAgg(ax.figure).draw()
    ticks = [label.get_text() for label in ax.get_xticklabels()]
    assert ticks[0] == "20:20" and ax.xaxis.get_offset_text().get_text().startswith("2025-Dec-05")


def test_an_infinite_score_is_drawn_at_the_top_and_any_threshold_is_drawn(monkeypatch):
    """An infinite smoothed score (a model's overflow) is a peak at the top of the plot, not
    a hole; a threshold below the scores is within the plot; an infinite one (--threshold
    inf: scores without events) is none drawn, where matplotlib refused the plot."""
    t = Timeline(points=8)
    for i, score in enumerate([0.1, math.inf, 0.2]):
        t.add(T0 + i, score)
    ax = _drawn(monkeypatch, t, -5.0)
    assert ax.lines[0].get_ydata()[1] == ax.get_ylim()[1]
    assert ax.get_ylim()[0] < -5.0 and ax.lines[1].get_ydata()[0] == -5.0  # the threshold
    ax = _drawn(monkeypatch, t, math.inf)
    assert len(ax.lines) == 1 and np.isfinite(ax.get_ylim()).all()


def test_the_page_lists_events_newest_first_with_existing_snapshots_and_clips(tmp_path):
    """Each event a row, the newest on top, its snapshot shown and linked and its clip
    linked where the files are in events/ (a running watch's clip not yet in place is "being
    written"), its flags said; the source and notes escaped; the head carries the mark by
    which a new watch knows the page as a watch's (`foreign_outputs`)."""
    (tmp_path / "events").mkdir()
    (tmp_path / "events" / "event_0001.png").write_bytes(b"png")
    (tmp_path / "events" / "event_0001.mp4").write_bytes(b"mp4")
    events = [_event(1, 10, 13), _event(2, 40, 42, ongoing=True, cut_short=True)]
    text = page_html(tmp_path, _summary(stopped="running"), events,
                     timeline_png(_timeline(), 1.0, events, "c"))
    assert PAGE_MARK.search(text[:4096])
    rows = re.findall(r"<tr><td class='n'>(\d+)</td>", text)
    assert rows == ["2", "1"]
    first = text[text.index("<td class='n'>1</td>"):]
    assert '<img src="events/event_0001.png"' in first and 'href="events/event_0001.mp4"' in first
    second = text[text.index("<td class='n'>2</td>"):text.index("<td class='n'>1</td>")]
    assert "<img" not in second and "being written" in second
    assert "ongoing; cut short: the watch stopped" in second
    assert "2025-12-05 20:20:10" in first and "3.0 s" in first and "3.50" in first
    assert "rtsp://cam/&lt;b&gt;" in text and "a &lt;note&gt;" in text and "<b>" not in text
    assert "data:image/png;base64," in text


def test_a_page_before_any_frame_or_event_says_so(tmp_path):
    text = page_html(tmp_path, _summary(stopped="running", frames=0, latency_s=None,
                                        frames_per_s=None, events=0), [], None)
    assert "No frame scored yet" in text and "No event" in text
    assert "running: this page shows it at 2025-12-05 20:21:00 UTC and reloads" in text
    assert '<meta http-equiv="refresh" content="30">' in text  # a running watch's only


def test_a_running_watchs_page_says_a_clip_is_being_written_and_how_long_so_far(tmp_path):
    """While the watch runs, an event that ended has its clip written until its post-roll
    is done (it showed a dash, as if there were none), and an ongoing event has lasted so
    far; once stopped, a clip that is not there is a dash and the page does not reload."""
    events = [_event(1, 10, 13), _event(2, 40, 42, ongoing=True)]
    running = page_html(tmp_path, _summary(stopped="running"), events, None)
    assert running.count("being written") == 2 and "2.0 s so far" in running
    stopped = page_html(tmp_path, _summary(), events, None)
    assert "being written" not in stopped and "so far" not in stopped
    assert "refresh" not in stopped


def test_a_recordings_page_places_each_event_in_the_video(tmp_path):
    """A file is read as fast as it decodes, so its clock times say little: the table gives
    each event's place in the video and the card the video's length; a live source's
    gives neither (its card is the time frames flowed)."""
    events = [_event(1, 75, 78)]
    text = page_html(tmp_path, _summary(kind="file", frames=1200), events, None)
    assert "<th>in the video</th>" in text and "<td class='n'>1:15.0</td>" in text
    assert "<div class='k'>Video watched</div><div class='v'>2 min 0 s</div>" in text
    live = page_html(tmp_path, _summary(), events, None)
    assert "in the video" not in live and "<div class='k'>Watched</div>" in live


def test_the_page_links_the_earlier_watchs_page_moved_beside_it(tmp_path):
    (tmp_path / "earlier" / "20251205T201500Z").mkdir(parents=True)
    (tmp_path / "earlier" / "20251205T201500Z" / PAGE_NAME).write_text("<html></html>")
    text = page_html(tmp_path, _summary(earlier_outputs="earlier/20251205T201500Z"), [], None)
    assert 'href="earlier/20251205T201500Z/watch.html"' in text
    assert "href=\"earlier" not in page_html(tmp_path, _summary(earlier_outputs="x"), [], None)


def test_ten_thousand_events_are_drawn():
    """Ten thousand events (a flapping camera over days) are drawn as one collection of
    shades and one line of markers (an artist each took 13 s, in the frame loop of a running
    watch; benchmarks, not this test, time it), their numbers left out."""
    from datetime import datetime, timezone

    def at(t):
        return datetime.fromtimestamp(t, timezone.utc).isoformat(timespec="milliseconds")

    events = [{"start_at": at(T0 + k), "end_at": at(T0 + k + 0.5), "peak_at": at(T0 + k),
               "score": 3.0} for k in range(0, 10_000)]
    timeline = Timeline()
    for i in range(10_000):
        timeline.add(T0 + i, 0.2)
    assert timeline_png(timeline, 1.0, events, "cam")[:4] == b"\x89PNG"


def test_a_page_of_many_events_lists_the_newest_and_says_how_many_there_are(tmp_path):
    events = [_event(k, k % 50, k % 50 + 1) for k in range(1, MAX_EVENT_ROWS + 11)]
    text = page_html(tmp_path, _summary(events=len(events)), events, None)
    rows = re.findall(r"<tr><td class='n'>(\d+)</td>", text)
    assert len(rows) == MAX_EVENT_ROWS and rows[0] == str(len(events)) and rows[-1] == "11"
    assert f"the {MAX_EVENT_ROWS} newest of {len(events)} events" in text


def test_write_watch_page_writes_the_page_into_the_folder(tmp_path):
    path = write_watch_page(tmp_path, _summary(), [_event(1, 10, 13)], _timeline())
    assert path == tmp_path / PAGE_NAME
    text = path.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>") and text.rstrip().endswith("</html>")
    assert not [p for p in tmp_path.iterdir() if p != path]  # no temp file left


def test_durations_read_as_a_person_says_them():
    from mulde.watch_page import _duration

    assert [_duration(s) for s in (3.25, 45, 725, 12_000, None, math.nan)] == [
        "3.2 s", "45 s", "12 min 5 s", "3 h 20 min", DASH, DASH]


def test_a_moved_page_links_the_watch_before_it_from_its_new_place(tmp_path):
    """A page moved from out/ to out/earlier/B/ linked earlier/A/watch.html, which is
    ../A/watch.html from there; a killed watch's page (unfinished) stops reloading and says
    why its open event is still ongoing; a finished one is left as it was."""
    summary = _summary(stopped="running", earlier_outputs="earlier/A")
    (tmp_path / "earlier" / "A").mkdir(parents=True)
    (tmp_path / "earlier" / "A" / PAGE_NAME).write_text("<html></html>")
    moved = tmp_path / "earlier" / "B"
    moved.mkdir()
    (moved / PAGE_NAME).write_text(page_html(tmp_path, summary, [], None), encoding="utf-8")
    mark_moved_page(moved, unfinished=True)
    text = (moved / PAGE_NAME).read_text(encoding="utf-8")
    assert 'class="earlier" href="../A/watch.html"' in text
    assert (moved / "../A/watch.html").is_file()
    assert "refresh" not in text and text.index(UNFINISHED_NOTE) > text.index("</h1>")
    mark_moved_page(moved, unfinished=True)  # once only
    assert (moved / PAGE_NAME).read_text(encoding="utf-8").count(UNFINISHED_NOTE) == 1
    done = tmp_path / "earlier" / "C"
    done.mkdir()
    (done / PAGE_NAME).write_text(page_html(tmp_path, _summary(), [], None), encoding="utf-8")
    before = (done / PAGE_NAME).read_text(encoding="utf-8")
    mark_moved_page(done, unfinished=False)
    assert (done / PAGE_NAME).read_text(encoding="utf-8") == before  # no earlier link
    (done / PAGE_NAME).write_text("<html>mine</html>")
    mark_moved_page(done, unfinished=True)  # not a watch's page: left alone
    assert (done / PAGE_NAME).read_text() == "<html>mine</html>"


@pytest.mark.parametrize(("value", "definition", "shown"), [
    (0.8959, "0.8959 on the fused score (offline threshold 0.8354)",
     "0.8959 on the fused score (offline threshold 0.8354)"),
    (0.36, "set by hand (--threshold)", "0.36: set by hand (--threshold)"),
    (1.0, "", "1"),
])
def test_the_threshold_row_says_the_value_once(tmp_path, value, definition, shown):
    text = page_html(tmp_path, _summary(threshold=value, threshold_definition=definition),
                     [], None)
    assert f"<tr><th>threshold</th><td>{shown}</td></tr>" in text


def test_a_recordings_plot_is_drawn_over_the_time_into_the_video():
    """A file read as fast as it decodes spans seconds of clock time for minutes of video:
    its plot's x axis is the time into the video (frame / fps), where the table places the
    events; bins and events alike."""
    from mulde.watch_page import _merged, _video_time

    t = Timeline(points=4)
    for i in range(10):  # merged into bins of 4, 4, 2 frames
        t.add(T0 + 0.001 * i, float(i))
    assert t.counts().tolist() == [4, 4, 2] and t.width == 4
    events = [_event(1, 1, 2)]
    assert timeline_png(t, 1.0, events, "clip.mp4", fps=10.0)[:4] == b"\x89PNG"
    assert [_video_time(s) for s in (0, 65.4, 3723)] == ["0:00", "1:05", "1:02:03"]
    starts, ends = _merged(np.array([5.0, 0.0, 1.05, 9.0]), np.array([6.0, 1.0, 2.0, 9.5]), 0.1)
    assert starts.tolist() == [0.0, 5.0, 9.0] and ends.tolist() == [2.0, 6.0, 9.5]


def test_a_place_in_the_video_reads_as_a_players():
    from mulde.watch_page import _position

    assert [_position(s) for s in (0.04, 75.3, 119.97, 3723.0, -1.0)] == [
        "0:00.0", "1:15.3", "2:00.0", "1:02:03.0", "0:00.0"]
