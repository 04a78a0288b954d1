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


def test_pose_confidence_rule_picks_the_smallest_passing_level_by_hand():
    import numpy as np
    from detector_pose_confidence import choose, keep

    from mulde.video.features.records import ObjectFeatures

    levels, kept = [0.0, 0.2, 0.3, 0.4], [1.0, 0.8, 0.3, 0.1]
    assert choose(levels, [0.3, 0.15, 0.05, -0.2], kept) == 0.3  # 0.4 keeps too few
    assert choose(levels, [0.3, 0.1, 0.05, 0.0], kept) == 0.2  # rho <= 0.1 passes
    assert choose(levels, [0.3, 0.2, 0.15, 0.0], kept) is None  # none passes: no rule
    record = ObjectFeatures.build(np.arange(6.0).reshape(3, 2), [0, 0, 2],
                                  [[0, 0, 1, 1]] * 3, 3, 2)
    left = keep(record, np.array([0.5, 0.1, 0.3]), 0.3)
    assert left.features.tolist() == [[0, 1], [4, 5]] and left.frame_index.tolist() == [0, 2]
