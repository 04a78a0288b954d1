"""The density-fidelity suite (benchmarks/density_fidelity.py) scores its stored energies
with the aggregates the estimator computes itself."""

import numpy as np
from density_fidelity import aggregate_scores, held_rows, members_for_rows

from mulde import MULDE


def test_the_suites_validated_aggregate_uses_the_estimators_own_held_rows():
    """mean_energy_validated needs the rows MULDE held out; the suite recomputes them from
    the seed, and must find the levels and scores of the fitted estimator."""
    rng = np.random.default_rng(1)
    x, new = rng.normal(size=(120, 2)), rng.normal(size=(7, 2))
    model = MULDE(aggregator="mean_energy_validated", max_steps=20, hidden_sizes=(8,),
                  random_state=5).fit(x)
    assert len(held_rows(len(x), 5)) == round(0.1 * len(x))
    e_train = model.score_samples_multiscale(x)
    _, scores = aggregate_scores("mean_energy_validated", e_train,
                                 [model.score_samples_multiscale(new)], seed=5)
    np.testing.assert_allclose(scores, model.anomaly_score(new), rtol=1e-6, atol=1e-9)


def test_round_25_members_keep_a_small_fit_within_the_work_of_1000_rows():
    """M = min(4, max(1, floor(1,000 / n))): 4 up to 250 rows, 3 up to 333, 2 up to 500."""
    got = {n: members_for_rows(n) for n in (10, 50, 250, 251, 333, 334, 500, 501, 4000)}
    assert got == {10: 4, 50: 4, 250: 4, 251: 3, 333: 3, 334: 2, 500: 2, 501: 1, 4000: 1}
