"""The helpers of the detector benchmarks (benchmarks/detector_every.py), by hand values."""

from __future__ import annotations

import pytest

pytest.importorskip("cv2")
from detector_every import policy_recall  # noqa: E402


def test_policy_recall_is_the_mean_recall_over_the_cycle_by_hand():
    hits, totals = [10, 9, 6, 4], [10, 10, 8, 8]  # R_j = 1, 0.9, 0.75, 0.5
    assert policy_recall(hits, totals, 1) == pytest.approx(1.0)
    assert policy_recall(hits, totals, 2) == pytest.approx(0.95)
    assert policy_recall(hits, totals, 4) == pytest.approx((1 + 0.9 + 0.75 + 0.5) / 4)
    assert policy_recall([0, 0], [0, 0], 2) == 0.0  # no reference box: no recall, no error
