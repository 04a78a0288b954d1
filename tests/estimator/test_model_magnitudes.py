"""MULDE on extreme magnitudes: finite scores that keep the ranking, or a refusal naming rows."""

from __future__ import annotations

import numpy as np
import pytest
from fakes import FAST

from mulde import MULDE
from mulde.estimator.model import OutOfRangeRowsError


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
    with pytest.raises(OutOfRangeRowsError, match=r"2 row\(s\) lie beyond the float32 range "
                       r".*rows 3, 4 \(counted from 0; row 3's column \d holds 1e\+39\); "
                       r"such values are usually a placeholder"):
        model.anomaly_score(inputs)
    assert np.isfinite(model.anomaly_score(inputs[:3])).all()


def test_the_refusal_carries_its_rows_reason_and_column_also_through_pickle():
    """A caller that counts the rows otherwise (the video pipeline: objects of videos, fitted
    in worker processes) reads the refusal's parts, which survive the trip back."""
    import pickle

    base = np.random.default_rng(1).standard_normal((200, 3))
    model = MULDE(**FAST).fit(base)
    inputs = np.vstack([base[:3], [[0.0, 1e39, 0.0]], base[:2], [[1e39, 0.0, 0.0]]])
    with pytest.raises(OutOfRangeRowsError) as caught:
        model.anomaly_score(inputs)
    for err in (caught.value, pickle.loads(pickle.dumps(caught.value))):
        assert err.rows.tolist() == [3, 6]
        assert err.reason.startswith("lie beyond the float32 range once standardised")
        assert (err.column, err.value) == (1, 1e39)
        assert str(err) == str(caught.value)
    named = caught.value.said_of("x.npy")
    assert str(named) == f"x.npy: {caught.value}" and named.rows.tolist() == [3, 6]


def test_fit_on_magnitudes_near_the_float64_limit_ranks_or_refuses():
    # the branch taken: fitted (the column statistics are computed without overflow) and
    # ranking as the unit-scale data does
    base = np.random.default_rng(2).standard_normal((200, 3))
    model = MULDE(**FAST).fit(base * 1e200)
    np.testing.assert_allclose(model.mean_ / 1e200, base.mean(axis=0), rtol=1e-9)
    np.testing.assert_allclose(model.scale_ / 1e200, base.std(axis=0, ddof=1), rtol=1e-9)
    scores = model.anomaly_score(np.vstack([base, [[8.0, 8.0, 8.0]]]) * 1e200)
    assert np.isfinite(scores).all() and scores[-1] > scores[:-1].max()


@pytest.mark.parametrize(("scaling", "units"), [
    ("column", [2.0**-40, 1.0, 2.0**60]), ("global", [2.0**-40] * 3)])
def test_the_scores_do_not_depend_on_the_columns_units(scaling, units):
    """Columns rescaled by powers of two (exact in floating point) give bit-identical scores,
    however small or large the unit (each its own with per-column scaling, one for all with
    "global"): the published std + 1e-8 swamped a column of deviation 1e-12 (a newcomer's
    trial: AUC 1.0 fell to 0.5 in units of 1e-11)."""
    rng = np.random.default_rng(3)
    X, new = rng.standard_normal((300, 3)), rng.standard_normal((50, 3)) * 2
    units = np.array(units)
    params = FAST | {"max_steps": 20, "scaling": scaling}
    plain, rescaled = MULDE(**params).fit(X), MULDE(**params).fit(X * units)
    np.testing.assert_array_equal(rescaled.anomaly_score(new * units), plain.anomaly_score(new))
    np.testing.assert_array_equal(rescaled.scale_, plain.scale_ * units)


def test_a_column_of_values_near_1e_minus_160_is_scaled_by_its_deviation():
    """Values whose squares underflow (|x| about 1e-160 and less) still get their deviation,
    not 0 (a division by zero) nor the constant column's 1."""
    from mulde.estimator.columns import mean_std

    rng = np.random.default_rng(4)
    X = rng.standard_normal((200, 2))
    mean, std = mean_std(X * np.array([1.0, 1e-170]))
    np.testing.assert_allclose(std, X.std(axis=0, ddof=1) * np.array([1.0, 1e-170]), rtol=1e-12)
    np.testing.assert_allclose(mean, X.mean(axis=0) * np.array([1.0, 1e-170]), rtol=1e-9)
    model = MULDE(**FAST | {"max_steps": 5}).fit(X * np.array([1.0, 1e-170]))
    np.testing.assert_allclose(model.scale_[1] / 1e-170, X[:, 1].std(ddof=1), rtol=1e-12)
