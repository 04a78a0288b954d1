"""The out-of-bag probe (benchmarks/density_out_of_bag.py): each training row scored by the
members that never fitted it."""

import numpy as np
import pytest
from density_out_of_bag import member_energies, out_of_bag_energies, training_bags
from sklearn.utils import check_random_state

from mulde import MULDE


def _fit_seed(random_state: int) -> int:
    return int(check_random_state(random_state).randint(2**31 - 1))


def test_out_of_bag_energies_average_the_members_outside_each_rows_bag():
    per_member = np.array([[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]],
                           [[10.0, 20.0], [30.0, 40.0], [50.0, 60.0]],
                           [[100.0, 200.0], [300.0, 400.0], [500.0, 600.0]]])  # (3, 3, 2)
    in_bag = np.array([[True, False, False],   # row 0: members 1 and 2
                       [True, True, True],     # row 1: in every bag, left out
                       [False, False, False]])  # row 2: held out, all three
    energies, rows = out_of_bag_energies(per_member, in_bag)
    np.testing.assert_allclose(energies, [[55.0, 110.0], [185.0, 222.0]])
    np.testing.assert_array_equal(rows, [0, 2])
    with pytest.raises(ValueError, match=r"in_bag must be \(3, 3\)"):
        out_of_bag_energies(per_member, in_bag.T[:2])


def test_training_bags_are_the_fits_and_the_members_energies_average_to_its_own(monkeypatch):
    """Eight members on eighths: the bags are those training drew (captured from
    `member_bags` during the fit, over the rows it kept for training), each of round(n_train
    / 8) rows, the rows held out for validation in none; the members' mean energy is the
    estimator's."""
    import mulde.core.training as training

    drawn = []
    original = training.member_bags
    monkeypatch.setattr(training, "member_bags",
                        lambda *a: drawn.append(original(*a)) or drawn[-1])
    x = np.random.default_rng(0).normal(size=(120, 3))
    model = MULDE(max_steps=3, hidden_sizes=(8, 8), n_members=8, max_samples=0.125,
                  validation_fraction=0.1, random_state=3, device="cpu").fit(x)
    in_bag = training_bags(model, len(x))
    assert in_bag.shape == (120, 8)
    train_idx, _ = training.split_validation(120, 0.1, _fit_seed(3))
    np.testing.assert_array_equal(in_bag[train_idx.numpy()], drawn[0].numpy())
    assert (in_bag.sum(axis=0) == round(0.125 * 108)).all()
    assert (~in_bag.any(axis=1)).sum() >= 12  # the 12 held-out rows at least
    per_member = member_energies(model, x)
    np.testing.assert_allclose(per_member.mean(axis=0), model.score_samples_multiscale(x),
                               rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="int random_state"):
        training_bags(MULDE(random_state=np.random.RandomState(0)), 10)
