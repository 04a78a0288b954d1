"""MULDE on extreme magnitudes: finite scores that keep the ranking, or a refusal naming rows."""

from __future__ import annotations

import numpy as np
import pytest
from fakes import FAST

from mulde import MULDE


def test_huge_magnitudes_give_finite_scores_and_keep_the_ranking():
    base = np.random.default_rng(0).standard_normal((300, 3))
    model = MULDE(**FAST).fit(base * 1e30)
    far = np.array([[8.0, 8.0, 8.0]]) * 1e30
    scores = model.anomaly_score(np.vstack([base * 1e30, far]))
    assert np.isfinite(scores).all()
    assert scores[-1] > np.median(scores[:-1])
    unit = MULDE(**FAST).fit(base)  # a 1e30 input to a unit-scale model: still finite
    assert np.isfinite(unit.anomaly_score(np.full((2, 3), 1e30))).all()


def test_scores_beyond_the_float32_range_are_finite_or_refused_naming_rows():
    # the branch taken: refused, naming the rows (1e39 standardised does not fit in float32)
    base = np.random.default_rng(1).standard_normal((200, 3))
    model = MULDE(**FAST | {"aggregator": "mean_z"}).fit(base)
    inputs = np.vstack([base[:3], np.full((2, 3), 1e39)])
    with pytest.raises(ValueError, match=r"2 row\(s\) lie beyond the float32 range .*rows 3, 4;"):
        model.anomaly_score(inputs)
    assert np.isfinite(model.anomaly_score(inputs[:3])).all()


def test_fit_on_magnitudes_near_the_float64_limit_ranks_or_refuses():
    # the branch taken: fitted (the column statistics are computed without overflow) and
    # ranking as the unit-scale data does
    base = np.random.default_rng(2).standard_normal((200, 3))
    model = MULDE(**FAST).fit(base * 1e200)
    np.testing.assert_allclose(model.mean_ / 1e200, base.mean(axis=0), rtol=1e-9)
    np.testing.assert_allclose(model.scale_ / 1e200, base.std(axis=0, ddof=1), rtol=1e-9)
    scores = model.anomaly_score(np.vstack([base, [[8.0, 8.0, 8.0]]]) * 1e200)
    assert np.isfinite(scores).all() and scores[-1] > scores[:-1].max()
