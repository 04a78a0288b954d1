"""The density-fidelity suite (benchmarks/density_fidelity.py) scores its stored energies
with the aggregates the estimator computes itself."""

import numpy as np
from density_fidelity import aggregate_scores, held_rows

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
