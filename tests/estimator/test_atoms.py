"""Repeated rows (`mulde.estimator.atoms`): counts, lookups, the offset and the scores, by
hand and as properties."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mulde.estimator.atoms import (
    ATOM_MIN_COUNT,
    atom_counts,
    atom_offset,
    atom_scores,
    count_atoms,
)


def test_count_atoms_keeps_the_rows_held_at_least_min_count_times():
    X = np.array([[0.0, 1.0], [0.0, 1.0], [-0.0, 1.0], [2.0, 3.0], [2.0, 3.0], [5.0, 5.0]])
    atoms, counts = count_atoms(X, 2)
    held = {tuple(a): int(c) for a, c in zip(atoms, counts, strict=True)}
    assert held == {(0.0, 1.0): 3, (2.0, 3.0): 2}  # -0.0 counted as 0.0
    assert not np.signbit(atoms).any()
    atoms, counts = count_atoms(X, 3)
    assert atoms.tolist() == [[0.0, 1.0]] and counts.tolist() == [3]
    assert count_atoms(X, 4)[0].shape == (0, 2)
    assert ATOM_MIN_COUNT == 5


def test_count_atoms_refuses_what_it_cannot_count():
    with pytest.raises(ValueError, match="2-D"):
        count_atoms(np.zeros(3))
    with pytest.raises(ValueError, match="at least 1"):
        count_atoms(np.zeros((3, 2)), 0)
    atoms, counts = count_atoms(np.zeros((0, 4)))
    assert atoms.shape == (0, 4) and counts.shape == (0,)


def test_atom_counts_finds_each_rows_atom_and_zero_elsewhere():
    atoms = np.array([[2.0, 3.0], [0.0, 1.0]])
    counts = np.array([7, 9])
    X = np.array([[0.0, 1.0], [2.0, 3.0], [9.0, 9.0], [-0.0, 1.0], [2.0, 3.001]])
    assert atom_counts(X, atoms, counts).tolist() == [9, 7, 0, 9, 0]
    # compared as float32: the same row given as float32, or within its rounding, is the atom
    assert atom_counts(X.astype(np.float32), atoms, counts).tolist() == [9, 7, 0, 9, 0]
    assert atom_counts(np.array([[2.0, 3.0000001]]), atoms, counts).tolist() == [7]


def test_a_row_fitted_as_float32_is_found_given_as_float64():
    """A reviewer's case: 0.1 as float32 widened to float64 is not float64's 0.1; rows are
    compared as float32, so fit on one and score on the other finds the atom."""
    X = np.tile([[0.1, 0.7]], (6, 1))
    atoms, counts = count_atoms(X.astype(np.float32))
    assert atom_counts(X, atoms, counts).tolist() == [6] * 6
    atoms, counts = count_atoms(X)
    assert atom_counts(X.astype(np.float32), atoms, counts).tolist() == [6] * 6
    assert atom_counts(X, np.empty((0, 2)), np.empty(0, dtype=int)).tolist() == [0] * 6
    assert atom_counts(np.empty((0, 2)), atoms, counts).shape == (0,)


def test_the_offset_and_the_scores_by_hand():
    # n = 10: rows held 5 and 2 times; energies 1.0 and 3.0 on them, 7.0 on a row never held
    scores = np.array([1.0, 3.0, 7.0])
    counts = np.array([5, 2, 0])
    # K = median(1 + log 0.5, 3 + log 0.2) = mean of the two (two values)
    k = 0.5 * (1.0 + np.log(0.5) + 3.0 + np.log(0.2))
    assert atom_offset(scores, counts, 10) == pytest.approx(k, rel=1e-12)
    out = atom_scores(scores, counts, 10, k)
    np.testing.assert_allclose(out, [-np.log(0.5) + k, -np.log(0.2) + k, 7.0], rtol=1e-12)
    assert scores.tolist() == [1.0, 3.0, 7.0]  # a copy
    with pytest.raises(ValueError, match="no training row"):
        atom_offset(scores, np.zeros(3, dtype=int), 10)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 2), st.integers(0, 2)), min_size=1, max_size=60),
       st.integers(1, 6))
def test_counts_of_the_training_rows_are_their_multiplicities(rows, min_count):
    X = np.array(rows, dtype=np.float64)
    atoms, counts = count_atoms(X, min_count)
    found = atom_counts(X, atoms, counts)
    for row, c in zip(X, found, strict=True):
        held = int((X == row).all(axis=1).sum())
        assert c == (held if held >= min_count else 0)


@settings(max_examples=30, deadline=None)
@given(st.integers(2, 400), st.integers(1, 8), st.integers(0, 2**31),
       st.sampled_from([1e-300, 1e-30, 1.0, 1e30, 1e200]))
def test_continuous_rows_are_never_atoms(n, d, seed, unit):
    """Whatever their magnitude: compared at float32's precision, not as float32 values
    (which overflow past 3.4e38: every row of 1e200s was one atom)."""
    X = np.random.default_rng(seed).standard_normal((n, d)) * unit
    assert len(count_atoms(X, 2)[0]) == 0


@settings(max_examples=30, deadline=None)
@given(st.lists(st.integers(1, 50), min_size=2, max_size=20), st.integers(0, 2**31))
def test_more_copies_score_as_more_normal(count_list, seed):
    """Among atoms the score falls as the count rises, whatever the energies."""
    counts = np.array(count_list)
    scores = np.random.default_rng(seed).normal(size=len(counts))
    n = int(counts.sum()) + 1
    out = atom_scores(scores, counts, n, atom_offset(scores, counts, n))
    order = np.argsort(counts, kind="stable")
    assert np.all(np.diff(out[order]) <= 1e-12)


# ------------------------------------------------------------------ in the estimator (round 60)
TINY = dict(hidden_sizes=(8,), n_members=1, n_levels=4, max_steps=5, random_state=0,
            device="cpu")


@pytest.fixture(scope="module")
def repeated():
    """Rows of three flags and a continuous column, of which the first 160 repeat five flag
    patterns (40, 40, 40, 20, 20 times: the continuous column 0 there), and the models fitted
    on them with atoms (the default 5) and without (None): the same seed, the same network."""
    rng = np.random.default_rng(0)
    patterns = np.array([[0, 0, 0, 0], [1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [1, 1, 0, 0]],
                        dtype=float)
    X = np.r_[np.repeat(patterns, [40, 40, 40, 20, 20], axis=0),
              np.c_[rng.integers(0, 2, (40, 3)), rng.standard_normal(40)]]
    from mulde import MULDE

    return X, MULDE(**TINY).fit(X), MULDE(**TINY, atom_min_count=None).fit(X)


def test_a_fit_scores_repeated_rows_by_their_counts_and_the_rest_as_without(repeated):
    X, model, plain = repeated
    assert model.atom_min_count == ATOM_MIN_COUNT and len(model.atoms_) == 5
    assert model.n_atoms_ == 5 and plain.n_atoms_ == 0
    assert sorted(model.atom_counts_.tolist()) == [20, 20, 40, 40, 40]
    n = len(X)
    scores, energies = model.anomaly_score(X), plain.anomaly_score(X)
    held = atom_counts(X, model.atoms_, model.atom_counts_)
    k = atom_offset(energies, held, n)  # fitted on the network's in-sample scores
    np.testing.assert_allclose(model.atom_scores_, -np.log(model.atom_counts_ / n) + k)
    np.testing.assert_allclose(scores[:160], -np.log(held[:160] / n) + k)
    np.testing.assert_array_equal(scores[160:], energies[160:])  # the same network
    assert scores[0] < scores[150]  # 40 copies score as more normal than 20
    # the threshold is the training scores' 1 % quantile, on the scores so given
    assert model.offset_ == pytest.approx(np.percentile(-scores, 1.0), rel=1e-12)
    assert len(plain.atoms_) == 0 and model.summary()["repeated_rows"] == {
        "atoms": 5, "rows": 160, "min_count": 5}
    np.testing.assert_array_equal(model.score_samples_multiscale(X),
                                  plain.score_samples_multiscale(X))


def test_continuous_rows_fit_and_score_as_without_atoms():
    from mulde import MULDE

    X = np.random.default_rng(1).standard_normal((120, 3))
    model, plain = MULDE(**TINY).fit(X), MULDE(**TINY, atom_min_count=None).fit(X)
    assert model.atoms_.shape == (0, 3) and "repeated_rows" not in model.summary()
    assert model.n_atoms_ == 0 and MULDE().n_atoms_ == 0  # unfitted: none either
    np.testing.assert_array_equal(model.anomaly_score(X), plain.anomaly_score(X))
    assert model.offset_ == plain.offset_
    assert MULDE.from_preset("paper").atom_min_count is None  # the published method


def test_held_out_and_out_of_bag_thresholds_work_with_repeated_rows(repeated):
    """A reviewer's crash: threshold_on="out_of_bag" with bags scored all rows' atoms against
    the out-of-bag rows' scores. And with threshold_on="validation" the held-out rows are not
    counted: they score as new rows do (split conformal)."""
    from mulde import MULDE
    from mulde.core.training import split_validation

    X = repeated[0]
    bagged = MULDE(**TINY | dict(n_members=2, max_samples=0.5),
                   threshold_on="out_of_bag").fit(X)
    assert bagged.threshold_scores_ == "out_of_bag" and np.isfinite(bagged.offset_)
    held = MULDE(**TINY, threshold_on="validation", validation_fraction=0.25).fit(X)
    seed = np.random.RandomState(0).randint(2**31 - 1)  # as `fit` draws it from random_state
    _, val = split_validation(len(X), 0.25, seed)
    assert held.atom_counts_.sum() == np.isin(
        np.arange(160), val.numpy(), invert=True).sum()  # the repeated rows not held out


def test_a_count_of_one_is_refused():
    """atom_min_count=1 would make every training row an atom (continuous rows all tied)."""
    from mulde import MULDE

    with pytest.raises(ValueError, match="atom_min_count"):
        MULDE(atom_min_count=1).fit(np.zeros((20, 2)))
