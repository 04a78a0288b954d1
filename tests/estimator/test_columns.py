"""Constant columns up to float rounding (mulde.estimator.columns)."""

from __future__ import annotations

import numpy as np

from mulde.estimator.columns import constant_columns


def test_constant_columns_rule_is_relative_to_the_columns_size():
    """constant_columns: a range max - min of at most 32 float64 eps times the column's
    largest |x| (the exact constants, a zero column too), at any magnitude; a wider one
    varies. The computed std would not do: on 1,654 rows of one value it is 83 eps of it."""
    from mulde.estimator.model import _mean_std

    eps = np.finfo(np.float64).eps
    X = np.zeros((3, 6))
    X[:, 1] = [1e6, 1e6 * (1 - 16 * eps), 1e6]        # 16 eps: rounding
    X[:, 2] = [-1e-12, -1e-12 * (1 - 32 * eps), -1e-12]  # 32 eps: still rounding
    X[:, 3] = [1e-12, 1e-12 * (1 + 64 * eps), 1e-12]  # 64 eps: varies
    X[:, 4] = [5.0, 6.0, 5.0]
    X[:, 5] = [-1e308, 1e308, 0.0]  # a range beyond float64 varies
    np.testing.assert_array_equal(constant_columns(X),
                                  [True, True, True, False, False, False])
    cardio = np.full((1654, 2), -0.061400640063)
    cardio[:, 1] = np.arange(1654)
    assert _mean_std(cardio)[1][0] > 32 * eps * 0.0614  # the std's rounding grows with n
    np.testing.assert_array_equal(constant_columns(cardio), [True, False])
