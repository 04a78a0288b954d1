"""Events above an alert threshold (mulde.vad.events), online and offline."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mulde.vad.events import Event, EventTracker, find_events, leading_stream


def test_runs_above_the_threshold_become_events_with_their_peak():
    scores = [0, 2, 3, 2, 0, 0, 5, 0, 1]
    assert find_events(scores, threshold=1) == [Event(1, 3, 2, 3.0), Event(6, 6, 6, 5.0)]


def test_a_score_equal_to_the_threshold_is_not_an_alert():
    assert find_events([1, 1, 1], threshold=1) == []


def test_patience_bridges_short_dips_and_keeps_the_last_frame_above_as_end():
    scores = [2, 0, 2, 0, 0, 0, 2]
    assert find_events(scores, 1, patience=1) == [Event(0, 0, 0, 2.0), Event(2, 2, 2, 2.0),
                                                  Event(6, 6, 6, 2.0)]
    assert find_events(scores, 1, patience=2) == [Event(0, 2, 0, 2.0), Event(6, 6, 6, 2.0)]
    assert find_events(scores, 1, patience=4) == [Event(0, 6, 0, 2.0)]


def test_an_event_open_at_the_end_of_the_video_is_closed_there():
    assert find_events([0, 3, 4], 1) == [Event(1, 2, 2, 4.0)]
    assert Event(1, 2, 2, 4.0).n_frames == 2
    assert Event(1, 2, 2, 4.0).to_dict() == {"start": 1, "end": 2, "peak": 2, "score": 4.0}


def test_the_tracker_reports_an_event_once_it_has_ended():
    tracker = EventTracker(threshold=0.5, patience=2)
    assert [tracker.update(s) for s in (1, 0)] == [None, None]
    assert tracker.active == Event(0, 0, 0, 1.0)
    assert tracker.update(0) == Event(0, 0, 0, 1.0)
    assert tracker.active is None and tracker.close() is None


def test_bad_settings_and_nan_scores_are_refused():
    with pytest.raises(ValueError, match="threshold must be a finite number"):
        EventTracker(float("nan"))
    with pytest.raises(ValueError, match="patience must be at least 1"):
        EventTracker(0.0, patience=0)
    with pytest.raises(ValueError, match="frame 1: the anomaly score is NaN"):
        find_events([0.0, float("nan")], 0.0)


@given(st.lists(st.floats(-5, 5), max_size=60), st.floats(-2, 2), st.integers(1, 5))
def test_events_cover_exactly_the_frames_above_the_threshold(scores, threshold, patience):
    events = find_events(scores, threshold, patience)
    x = np.asarray(scores, dtype=float)
    covered = np.zeros(x.size, bool)
    for e in events:
        assert x[e.start] > threshold and x[e.end] > threshold
        assert e.score == x[e.start:e.end + 1].max() == x[e.peak]
        covered[e.start:e.end + 1] = True
    assert np.all(covered[x > threshold])
    for a, b in zip(events, events[1:], strict=False):
        assert b.start - a.end > patience  # separated by at least `patience` quiet frames


def test_event_starts_by_hand_with_runs_merged_across_short_gaps():
    s = np.array([2.0, 2.0, 0.0, 2.0, 0.0, 0.0, 0.0, 2.0, 0.0])

    def starts(patience: int) -> list[int]:
        return [e.start for e in find_events(s, 1.0, patience)]

    assert starts(1) == [0, 3, 7]  # every run its own event
    assert starts(2) == [0, 7]  # the 1-frame gap merges the first two
    assert starts(4) == [0]  # the 3-frame gap too
    assert find_events(np.zeros(5), 1.0) == []


def test_the_stream_that_fired_is_the_largest_first_when_tied():
    assert leading_stream({"velocity": 0.876, "static": 0.93}) == "static"
    assert leading_stream({"velocity": 1.0, "static": 1.0}) == "velocity"  # the first
    assert leading_stream({"static": 1.0, "velocity": 1.0}) == "static"
    assert leading_stream({}) == ""


@given(st.lists(st.tuples(st.floats(0, 3), st.sampled_from([0.0, 1.0, 2.0])), min_size=1,
                max_size=40))
def test_the_offline_report_names_the_stream_by_the_same_rule(rows):
    """The report's events (`describe_events`) name the stream `leading_stream` names for
    the streams' scores at the peak, ties included: one rule offline and in mulde watch."""
    from mulde.evaluation.alerts import describe_events

    a = np.array([r[0] for r in rows])
    b = np.array([r[1] for r in rows])  # ties with a at 0, 1 and 2
    for streams in ({"velocity": a, "static": b}, {"static": b, "velocity": a}):
        for d in describe_events(a + b, 0.5, streams):
            assert d["stream"] == leading_stream(d["stream_scores"])
            assert d["stream_scores"] == {k: float(v[d["peak"]]) for k, v in streams.items()}
