"""The one-hot benchmark's tables and anomalies (benchmarks/onehot_groups.py), by count."""

import numpy as np
import pytest
from onehot_groups import CODES, MEANS, PROBS, anomalies, rows


@pytest.mark.parametrize("name", ["tied", "loose", "rare_flags"])
def test_normal_rows_hold_one_category_at_its_probability(name):
    """Each row's code is one-hot; the categories' shares are PROBS; the tied table's means
    follow the category, the loose one's do not, rare_flags' x1 alone by 1 in the rarest
    category, beside flags of about 2 % and 4 % and a column 0 on about 80 % of the rows."""
    table = rows(20_000, np.random.default_rng(0), name)
    codes = table[CODES].to_numpy()
    assert set(np.unique(codes)) == {0.0, 1.0} and (codes.sum(axis=1) == 1).all()
    np.testing.assert_allclose(codes.mean(axis=0), PROBS, atol=0.01)
    c = codes.argmax(axis=1)
    means = np.array([table[["x1", "x2"]].to_numpy()[c == k].mean(axis=0) for k in range(4)])
    expected = MEANS if name == "tied" else np.zeros_like(MEANS)
    if name == "rare_flags":
        expected[-1, 0] = 1.0
        np.testing.assert_allclose(table[["rare1", "rare2"]].mean(), [0.02, 0.04], atol=0.005)
        assert (table["zeros"] == 0).mean() == pytest.approx(0.8, abs=0.01)
    np.testing.assert_allclose(means, expected, atol=0.1)
    assert set(np.unique(table[["f1", "f2"]])) == {0.0, 1.0}


def test_each_anomaly_changes_a_normal_row_once():
    """two_hot: two categories; zero_hot: none; wrong_means: one category (never the
    rarest, whose means they take) with the continuous columns near the rarest's means."""
    rng = np.random.default_rng(1)
    assert (anomalies("two_hot", 50, rng, "tied")[CODES].sum(axis=1) == 2).all()
    assert (anomalies("zero_hot", 50, rng, "loose")[CODES].sum(axis=1) == 0).all()
    moved = anomalies("wrong_means", 400, rng, "tied")
    codes = moved[CODES].to_numpy()
    assert (codes.sum(axis=1) == 1).all() and (codes[:, -1] == 0).all()
    np.testing.assert_allclose(moved[["x1", "x2"]].mean(axis=0), MEANS[-1], atol=0.15)


def test_only_the_rare_flag_setting_changes_the_librarys_rule(monkeypatch):
    """run()'s settings fit the library's own rule (flags in half-gap cells, round 52), and
    rare_flag_cells that rule with rare flags in cells too: the cells each setting stores,
    on a small table (a few steps: cells are read before training)."""
    import onehot_groups

    monkeypatch.setattr(onehot_groups, "MULDE", _Fast)
    entries = onehot_groups.run(0, "rare_flags", 400, 50, 10, list(onehot_groups.SETTINGS))
    cells = {e["setting"]: e["cells"] for e in entries}
    assert cells["dequantise_true"]["f1"] == 0.5 and cells["dequantise_true"]["rare1"] == 0
    assert cells["rare_flag_cells"]["rare1"] == 0.5
    assert all(cells["onehot_as_given"][c] == 0 for c in CODES)
    assert not any(cells["dequantise_false"].values())


class _Fast:
    """MULDE.from_preset with a few steps of a small network (cells are what is tested)."""

    @staticmethod
    def from_preset(name, **kw):
        from mulde import MULDE

        return MULDE.from_preset(name, **kw, max_steps=2, hidden_sizes=(8,), n_members=1)
