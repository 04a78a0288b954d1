"""Events at the alert threshold as the report lists them, and event-level precision/recall,
against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from mulde.evaluation.alerts import describe_events, event_precision_recall
from mulde.vad.events import Event


def test_describe_events_by_hand():
    scores = np.array([0.0, 2.0, 3.0, 0.5, 0.0, 5.0, 0.0])
    streams = {"velocity": np.array([0, 1.5, 1.0, 0, 0, 1.0, 0]),
               "static": np.array([0, 0.5, 2.0, 0, 0, 4.0, 0])}
    labels = np.array([0, 0, 1, 1, 0, 0, 0])
    got = describe_events(scores, 1.0, streams, fps=10.0, labels=labels)
    assert [(d["start"], d["end"], d["peak"], d["score"]) for d in got] == [
        (1, 2, 2, 3.0), (5, 5, 5, 5.0)]
    first, second = got
    assert first["n_frames"] == 2
    # seconds: start at frame 1 -> 0.1 s, the event ends with frame 2, i.e. at 0.3 s
    assert (first["start_s"], first["end_s"], first["peak_s"]) == pytest.approx((0.1, 0.3, 0.2))
    # at the peak (frame 2) static scores 2.0, velocity 1.0: static fired
    assert first["stream"] == "static" and first["stream_scores"] == {"velocity": 1.0,
                                                                     "static": 2.0}
    assert first["overlaps_anomaly"] is True and second["overlaps_anomaly"] is False
    bare = describe_events(scores, 1.0)
    assert {"start_s", "stream", "overlaps_anomaly"}.isdisjoint(bare[0])


def test_stream_ties_go_to_the_first_stream():
    got = describe_events(np.array([2.0]), 1.0, {"b": np.array([1.0]), "a": np.array([1.0])})
    assert got[0]["stream"] == "b"


def test_event_precision_recall_by_hand():
    labels = {
        "v1": np.array([0, 1, 1, 0, 0, 0, 0, 0, 0]),  # one interval (1, 2)
        "v2": np.array([1, 1, 0, 0, 0, 1, 1, 0, 0]),  # intervals (0, 1) and (5, 6)
        "v3": np.zeros(9, int),  # no anomaly
    }
    events = {
        "v1": [Event(1, 2, 2, 3.0), Event(5, 5, 5, 2.0)],  # TP, FP
        "v2": [{"start": 6, "end": 8}],  # TP: recalls (5, 6), not (0, 1)
        "v3": [Event(0, 0, 0, 9.0)],  # FP (a false alarm)
        "unlabelled": [Event(0, 3, 1, 4.0)],  # not counted
    }
    m = event_precision_recall(events, labels)
    assert (m["n_events"], m["true_positive_events"]) == (4, 2)
    assert (m["n_anomalous_intervals"], m["recalled_intervals"]) == (3, 2)
    assert m["precision"] == pytest.approx(2 / 4) and m["recall"] == pytest.approx(2 / 3)
    assert m["per_video"]["v2"] == {"n_events": 1, "true_positive_events": 1,
                                    "n_anomalous_intervals": 2, "recalled_intervals": 1}
    assert "unlabelled" not in m["per_video"]
    assert "nothing is chosen" in m["note"]


def test_event_precision_recall_undefined_without_events_or_intervals():
    m = event_precision_recall({"v": []}, {"v": np.zeros(4, int)})
    assert m["precision"] is None and m["recall"] is None
