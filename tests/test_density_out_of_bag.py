"""The out-of-bag probe (benchmarks/density_out_of_bag.py): the bags of a fit recomputed
from its settings, and each member's energies."""

import numpy as np
import pytest
from density_out_of_bag import member_energies, training_bags

from mulde import MULDE


def test_the_bags_and_member_energies_are_the_fits():
    """Eight members on eighths: each bag holds round(n_train / 8) rows, the 12 rows held
    out for validation are in none of them (the library's `training_bags`, which
    tests/core checks against training's own draw, given the seed `MULDE.fit` derives), and
    the members' mean energy is the estimator's."""
    x = np.random.default_rng(0).normal(size=(120, 3))
    model = MULDE(max_steps=3, hidden_sizes=(8, 8), n_members=8, max_samples=0.125,
                  validation_fraction=0.1, random_state=3, device="cpu").fit(x)
    in_bag = training_bags(model, len(x))
    assert in_bag.shape == (120, 8) and (in_bag.sum(axis=0) == round(0.125 * 108)).all()
    assert (~in_bag.any(axis=1)).sum() >= 12
    np.testing.assert_allclose(member_energies(model, x).mean(dim=0).numpy(),
                               model.score_samples_multiscale(x), rtol=1e-6, atol=1e-6)
    with pytest.raises(ValueError, match="int random_state"):
        training_bags(MULDE(random_state=np.random.RandomState(0)), 10)
