"""benchmarks/live_start.py: the start frames of the events it counts."""

import numpy as np
from live_start import _events


def test_event_starts_by_hand_with_runs_merged_across_short_gaps():
    s = np.array([2.0, 2.0, 0.0, 2.0, 0.0, 0.0, 0.0, 2.0, 0.0])
    assert _events(s, 1.0, patience=1) == [0, 3, 7]  # every run its own event
    assert _events(s, 1.0, patience=2) == [0, 7]  # the 1-frame gap merges the first two
    assert _events(s, 1.0, patience=4) == [0]  # the 3-frame gap too
    assert _events(np.zeros(5), 1.0, patience=1) == []
