"""The one-hot benchmark's tables and anomalies (benchmarks/onehot_groups.py), by count."""

import numpy as np
import pytest
from onehot_groups import CODES, MEANS, PROBS, anomalies, rows


@pytest.mark.parametrize("tie", [1.0, 0.0])
def test_normal_rows_hold_one_category_at_its_probability(tie):
    """Each row's code is one-hot; the categories' shares are PROBS; the tied table's means
    follow the category, the loose one's do not."""
    table = rows(20_000, np.random.default_rng(0), tie)
    codes = table[CODES].to_numpy()
    assert set(np.unique(codes)) == {0.0, 1.0} and (codes.sum(axis=1) == 1).all()
    np.testing.assert_allclose(codes.mean(axis=0), PROBS, atol=0.01)
    c = codes.argmax(axis=1)
    means = np.array([table[["x1", "x2"]].to_numpy()[c == k].mean(axis=0) for k in range(4)])
    np.testing.assert_allclose(means, tie * MEANS, atol=0.1)
    assert set(np.unique(table[["f1", "f2"]])) == {0.0, 1.0}


def test_each_anomaly_changes_a_normal_row_once():
    """two_hot: two categories; zero_hot: none; wrong_means: one category (never the
    rarest, whose means they take) with the continuous columns near the rarest's means."""
    rng = np.random.default_rng(1)
    assert (anomalies("two_hot", 50, rng, 1.0)[CODES].sum(axis=1) == 2).all()
    assert (anomalies("zero_hot", 50, rng, 1.0)[CODES].sum(axis=1) == 0).all()
    moved = anomalies("wrong_means", 400, rng, 1.0)
    codes = moved[CODES].to_numpy()
    assert (codes.sum(axis=1) == 1).all() and (codes[:, -1] == 0).all()
    np.testing.assert_allclose(moved[["x1", "x2"]].mean(axis=0), MEANS[-1], atol=0.15)
