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


def test_variants_before_round_27_train_one_network_on_every_row():
    """The stored commands of rounds 1-24 keep fitting what they fitted: one network on every
    row, though the default's n_members and max_samples are now "auto"; rounds 25 and 27 set
    theirs from the rows (`members_for_rows`, the library's rule)."""
    from density_fidelity import MEMBERS_BY_ROWS, VARIANTS

    from mulde.core.training import members_for_rows as library_rule
    assert members_for_rows is library_rule
    for name, overrides in VARIANTS.items():  # rounds 4-5's fixed ensembles keep theirs
        assert overrides["max_samples"] == 1.0, name
        assert overrides["n_members"] == (1 if "ens" not in name else
                                          {"ens4_w128": 4, "ens4_w128_cosine": 4,
                                           "ens2_b512": 2, "ens4_b256": 4}.get(name, 1)), name
    assert MEMBERS_BY_ROWS == {"ens_rows": 1.0, "bag_rows": 0.5}
