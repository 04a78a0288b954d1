"""The aggregators (L energies -> one anomaly score), against values computed by hand from
small training energies."""

import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from mulde import MULDE
from mulde.estimator.aggregation import (
    Aggregation,
    aggregate,
    cv_level,
    fit_aggregator,
    generalising_levels,
    stacking_weights,
)

# Training energies (n = 3, L = 2): column means (3, 10), population stds (sqrt(8/3), 0).
TRAIN = np.array([[1.0, 10.0], [3.0, 10.0], [5.0, 10.0]])
TEST = np.array([[3.0, 10.0], [7.0, 12.0], [3.0, 15.0]])
SD0 = math.sqrt(8 / 3)  # so (7 - 3) / SD0 = sqrt(6)


def test_z_statistics_are_the_training_mean_and_population_std_with_zero_std_as_one():
    state = fit_aggregator("mean_z", TRAIN)
    np.testing.assert_allclose(state["mean"], [3.0, 10.0])
    np.testing.assert_allclose(state["std"], [SD0, 1.0])  # a constant level is not scaled
    assert all(isinstance(v, np.ndarray) for v in state.values())  # saves without pickle


def test_mean_z_and_max_z_by_hand():
    # z-scores of TEST: [0, 0], [sqrt(6), 2], [0, 5]
    state = fit_aggregator(Aggregation.MEAN_Z, TRAIN)
    np.testing.assert_allclose(aggregate("mean_z", state, TEST),
                               [0.0, (math.sqrt(6) + 2) / 2, 2.5])
    state = fit_aggregator(Aggregation.MAX_Z, TRAIN)
    np.testing.assert_allclose(aggregate("max_z", state, TEST), [0.0, math.sqrt(6), 5.0])


def test_mean_energy_by_hand():
    # TEST minus the column means (3, 10): [0, 0], [4, 2], [0, 5]; mean over the levels
    state = fit_aggregator(Aggregation.MEAN_ENERGY, TRAIN)
    assert set(state) == {"mean"}
    np.testing.assert_allclose(state["mean"], [3.0, 10.0])
    np.testing.assert_allclose(aggregate("mean_energy", state, TEST), [0.0, 3.0, 2.5])
    # the levels keep their own spread: the first level's 4 counts as 4 (mean_z: sqrt(6))
    np.testing.assert_allclose(aggregate("mean_energy", state, TRAIN), [-1.0, 0.0, 1.0])


def memorised(levels_memorised: list[bool]) -> np.ndarray:
    """Energies (40, L): rows 0-9 are the held rows. At a memorised level the held rows
    score 100-109 and the 30 fitted rows 0-29 (AUC 1); at the others both interleave:
    held rows 0, 4, ..., 36 and fitted rows the other 30 of 0-39 (AUC 0.45)."""
    held_even = np.arange(0, 40, 4)
    fitted_rest = np.setdiff1d(np.arange(40), held_even)
    cols = []
    for m in levels_memorised:
        cols.append(np.concatenate([100.0 + np.arange(10), np.arange(30.0)]) if m
                    else np.concatenate([held_even, fitted_rest]).astype(float))
    return np.stack(cols, axis=1)


HELD = np.arange(10)
# SE = sqrt((10 + 30 + 1) / (12 * 10 * 30)) = 0.1067: a level passes with AUC <= 0.713.
# Interleaved: U = sum over held h = 0, 4, ..., 36 of the fitted rows below h = 3 * k for
# h = 4k (each block of 4 holds 3 fitted rows), so U = 3 * (0 + ... + 9) = 135 and AUC =
# 135 / 300 = 0.45.


def test_generalising_levels_by_hand():
    """Memorisation at the smallest levels drops them; the kept levels are the block at the
    top down to the first failure; the top alone when it fails; all without held rows."""
    e = memorised([True, True, False, False])
    np.testing.assert_array_equal(generalising_levels(e, HELD), [2, 3])
    e = memorised([False, True, False, False])  # a level below a failure is not kept
    np.testing.assert_array_equal(generalising_levels(e, HELD), [2, 3])
    e = memorised([False, False, False, True])
    np.testing.assert_array_equal(generalising_levels(e, HELD), [3])
    e = memorised([False, False, False, False])
    np.testing.assert_array_equal(generalising_levels(e, HELD), [0, 1, 2, 3])
    np.testing.assert_array_equal(generalising_levels(e, None), [0, 1, 2, 3])
    np.testing.assert_array_equal(generalising_levels(e, np.arange(40)), [0, 1, 2, 3])
    # the bound: with z = 0 the interleaved AUC 0.45 still passes; a held row above every
    # fitted row at the top (AUC 0.45 -> 0.45 + 30 / 300 = 0.55 > 0.5) does not
    e = memorised([False, False])
    e[0, 1] = 1000.0  # held row 0 (score 0) now above all 30 fitted rows: U 135 -> 165
    np.testing.assert_array_equal(generalising_levels(e, HELD, z=0.0), [1])
    np.testing.assert_array_equal(generalising_levels(e, HELD), [0, 1])


def test_mean_energy_validated_is_mean_energy_over_the_kept_levels():
    e = memorised([True, False, False])
    state = fit_aggregator("mean_energy_validated", e, held=HELD)
    np.testing.assert_array_equal(state["levels"], [1, 2])
    np.testing.assert_allclose(state["mean"], e.mean(axis=0))
    row = np.array([[500.0, 30.0, 12.0]])  # the memorised level is ignored
    expected = ((30.0 - e[:, 1].mean()) + (12.0 - e[:, 2].mean())) / 2
    np.testing.assert_allclose(aggregate("mean_energy_validated", state, row), [expected])
    # without held rows it is mean_energy
    plain = fit_aggregator("mean_energy_validated", TRAIN)
    np.testing.assert_allclose(aggregate("mean_energy_validated", plain, TEST),
                               [0.0, 3.0, 2.5])


def test_mulde_validates_its_levels_on_its_own_validation_rows():
    """MULDE(aggregator="mean_energy_validated") keeps the levels `generalising_levels`
    gives for its training energies and the rows its training held out."""
    from sklearn.utils import check_random_state

    from mulde.core.training import split_validation

    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 3))
    model = MULDE(aggregator="mean_energy_validated", max_steps=30, hidden_sizes=(16,),
                  random_state=3).fit(x)
    seed = int(check_random_state(3).randint(2**31 - 1))
    _, val = split_validation(len(x), model.train_result_.validation_fraction, seed)
    np.testing.assert_array_equal(
        model.aggregator_state_["levels"],
        generalising_levels(model.score_samples_multiscale(x), val.numpy()))


MONOTONE = ("mean_energy", "mean_energy_validated", "mean_z", "max_z", "single", "cv_level",
            "stacked")


@settings(max_examples=60, deadline=None)
@given(train=arrays(np.float64, (12, 4), elements=st.floats(-50, 50)),
       row=arrays(np.float64, 4, elements=st.floats(-100, 100)),
       level=st.integers(0, 3), bump=st.floats(0, 100),
       kind=st.sampled_from([MULDE().get_params()["aggregator"], *MONOTONE]))
def test_default_and_monotone_aggregates_never_lower_the_score_when_an_energy_rises(
        train, row, level, bump, kind):
    """A higher energy at any level never makes a sample look more normal (issue 15), for the
    estimator's default aggregate and every aggregate documented as monotone."""
    state = fit_aggregator(kind, train, scale_index=level, held=np.arange(3))
    higher = row.copy()
    higher[level] += bump
    before, after = aggregate(kind, state, np.stack([row, higher]))
    assert after >= before - 1e-9 * (1 + abs(before))


def test_gmm_is_not_monotone():
    """Why the default moved away from it: energies far below the training ones (a sample
    more typical than any training sample) score as anomalous."""
    state = fit_aggregator("gmm", SQUARE)
    low, typical = aggregate("gmm", state, np.array([[-9.0, -9.0], [1.0, 1.0]]))
    assert low > typical


def test_single_takes_one_level_middle_by_default_and_wraps_negative_indices():
    energies = np.array([[1, 2, 3, 4], [5, 6, 7, 8]], dtype=np.float32)
    state = fit_aggregator("single", energies)
    assert state["index"].tolist() == [2]  # L // 2
    out = aggregate("single", state, energies)
    assert out.dtype == np.float64 and out.tolist() == [3.0, 7.0]
    state = fit_aggregator("single", energies, scale_index=-1)
    assert state["index"].tolist() == [3]
    assert aggregate("single", state, energies).tolist() == [4.0, 8.0]
    for bad in (4, -5):
        with pytest.raises(ValueError, match=f"scale_index {bad} out of range for 4"):
            fit_aggregator("single", energies, scale_index=bad)


# Training energies at the corners of a square: mean (1, 1), population covariance I; the
# mixture adds reg_covar = 1e-6 to the diagonal.
SQUARE = np.array([[0.0, 0.0], [2.0, 0.0], [0.0, 2.0], [2.0, 2.0]])


def test_gmm_with_one_component_is_the_gaussian_negative_log_likelihood():
    state = fit_aggregator("gmm", SQUARE, n_components=1)
    var = 1.0 + 1e-6
    np.testing.assert_allclose(state["means"], [[1.0, 1.0]])
    np.testing.assert_allclose(state["covariances"], [np.eye(2) * var], atol=1e-12)
    points = np.array([[1.0, 1.0], [3.0, 1.0], [-1.0, 4.0]])
    sq = ((points - 1.0) ** 2).sum(axis=1)  # 0, 4, 13
    expected = math.log(2 * math.pi) + math.log(var) + 0.5 * sq / var  # -log N(e; mu, var I)
    np.testing.assert_allclose(aggregate("gmm", state, points), expected, rtol=1e-10)


def test_gmm_rebuilt_from_arrays_scores_as_the_fitted_mixture():
    from sklearn.mixture import GaussianMixture

    rng = np.random.default_rng(0)
    energies = np.vstack([rng.normal(0, 1, (60, 3)), rng.normal(5, 0.5, (60, 3))])
    for covariance_type in ("full", "diag"):
        state = fit_aggregator("gmm", energies, n_components=2,
                               covariance_type=covariance_type, seed=3)
        reference = GaussianMixture(n_components=2, covariance_type=covariance_type,
                                    reg_covar=1e-6, random_state=3).fit(energies)
        test = rng.normal(2, 2, (10, 3))
        np.testing.assert_allclose(aggregate("gmm", state, test, covariance_type),
                                   -reference.score_samples(test), rtol=1e-12)


def test_gmm_needs_as_many_samples_as_components_and_unknown_kinds_are_refused():
    with pytest.raises(ValueError, match="3 components needs at least as many"):
        fit_aggregator("gmm", SQUARE[:2], n_components=3)
    with pytest.raises(ValueError, match="median"):
        fit_aggregator("median", SQUARE)


# Held-out energies (3 rows, L = 2) of levels with disjoint support: rows 0 and 1 have
# density only at level 0 (energy 50 nats above at level 1), row 2 only at level 1. The
# stacked weights are the shares of rows each level explains: (2/3, 1/3).
DISJOINT = np.array([[0.0, 50.0], [0.0, 50.0], [50.0, 0.0]])


def test_cv_level_is_the_level_of_lowest_mean_held_out_energy_by_hand():
    energies = np.array([[5.0, 1.0, 3.0], [1.0, 4.0, 0.0], [9.0, 9.0, 9.0]])
    # held rows 0 and 1: means (3, 2.5, 1.5) -> level 2; row 2 (not held) plays no part
    assert cv_level(energies, np.array([0, 1])) == 2
    state = fit_aggregator("cv_level", energies, held=np.array([0, 1]))
    np.testing.assert_array_equal(state["levels"], [2])
    row = np.array([[100.0, 100.0, 6.0]])  # scored by level 2 alone, minus its mean 4
    np.testing.assert_allclose(aggregate("cv_level", state, row), [2.0])
    assert cv_level(np.array([[1.0, 1.0]]), np.array([0])) == 0  # ties: the lowest index


def test_stacking_weights_by_hand_and_invariant_to_the_shared_constant():
    np.testing.assert_allclose(stacking_weights(DISJOINT), [2 / 3, 1 / 3], atol=1e-9)
    np.testing.assert_allclose(stacking_weights(DISJOINT + 17.0), [2 / 3, 1 / 3], atol=1e-9)
    # one row: all the weight on its most likely level (EM converges towards it)
    w = stacking_weights(np.array([[1.0, 0.0, 3.0]]))
    assert w[1] > 0.99 and np.isclose(w.sum(), 1.0)
    # the weights maximise the held-out log-likelihood: no nearby mixture does better
    rng = np.random.default_rng(0)
    held = rng.normal(size=(40, 4)) + np.array([0.0, 0.5, 1.0, 2.0])
    w = stacking_weights(held)

    def loglik(v: np.ndarray) -> float:
        return float(np.log(np.exp(-held) @ v).mean())

    for _ in range(20):
        v = np.clip(w + rng.normal(0, 0.02, 4), 0, None)
        assert loglik(v / v.sum()) <= loglik(w) + 1e-9


def test_stacked_score_is_the_mixtures_negative_log_density_by_hand():
    train = np.vstack([DISJOINT, [[7.0, 7.0]]])  # row 3 is fitted, not held
    state = fit_aggregator("stacked", train, held=np.array([0, 1, 2]))
    np.testing.assert_allclose(state["weights"], [2 / 3, 1 / 3], atol=1e-9)
    row = np.array([[1.0, 2.0]])
    expected = -math.log(2 / 3 * math.exp(-1.0) + 1 / 3 * math.exp(-2.0))
    np.testing.assert_allclose(aggregate("stacked", state, row), [expected], rtol=1e-6)
    # far-off energies do not overflow: the log-sum-exp keeps the score finite
    assert np.isfinite(aggregate("stacked", state, np.array([[2000.0, 3000.0]]))).all()


@pytest.mark.parametrize("kind", ["cv_level", "stacked"])
def test_level_comparing_aggregates_are_mean_energy_without_held_rows(kind):
    state = fit_aggregator(kind, TRAIN)
    np.testing.assert_allclose(aggregate(kind, state, TEST), [0.0, 3.0, 2.5])


def test_mulde_refuses_level_comparing_aggregates_without_time_score_matching():
    x = np.random.default_rng(0).normal(size=(40, 2))
    with pytest.raises(ValueError, match="time_score > 0"):
        MULDE(aggregator="stacked", time_score=0.0).fit(x)
    model = MULDE(aggregator="cv_level", max_steps=20, hidden_sizes=(16,),
                  random_state=0).fit(x)
    assert model.aggregator_state_["levels"].shape == (1,)


def test_a_stacked_model_saves_and_loads_with_its_weights(tmp_path):
    x = np.random.default_rng(1).normal(size=(60, 3))
    model = MULDE(aggregator="stacked", max_steps=20, hidden_sizes=(16,), n_levels=4,
                  random_state=0, device="cpu").fit(x)  # where it loads back: equal scores
    loaded = MULDE.load(model.save(tmp_path / "m.safetensors"))
    np.testing.assert_array_equal(loaded.aggregator_state_["weights"],
                                  model.aggregator_state_["weights"])
    np.testing.assert_array_equal(loaded.anomaly_score(x), model.anomaly_score(x))
    assert loaded.summary()["aggregate"] == {
        "sigmas": [float(s) for s in model.sigmas_],
        "weights": [float(w) for w in model.aggregator_state_["weights"]]}
    assert "aggregate" not in MULDE(max_steps=2, hidden_sizes=(8,)).fit(x).summary()


@pytest.mark.parametrize("fraction", [0.0, 0.001])
def test_a_level_choosing_aggregate_without_validation_rows_warns_and_is_mean_energy(fraction):
    """validation_fraction 0 (the paper preset's) or one that rounds to no row of 40: the
    level-choosing aggregate has nothing to choose on, scores as mean_energy, and says so."""
    import pickle
    import warnings

    from mulde.estimator.model import FewSamplesWarning, NoValidationWarning

    x = np.random.default_rng(2).normal(size=(40, 2))
    fast = {"max_steps": 10, "hidden_sizes": (16,), "n_levels": 4, "random_state": 0,
            "validation_fraction": fraction}
    with pytest.warns(NoValidationWarning) as caught:
        model = MULDE(aggregator="stacked", **fast).fit(x)
    assert len(caught) == 1
    assert str(caught[0].message) == (
        f"validation_fraction={fraction:g} holds out no training sample, so "
        "aggregator='stacked' has no rows to choose its levels on and scores as "
        "'mean_energy'; set validation_fraction > 0 (the default \"auto\" holds out a tenth, "
        "or a fifth of three layers from 50 rows per feature, or 25 from 501 rows with 50 per "
        "principal direction)")
    # a worker process's fit (mulde run --fit-jobs) sends it back pickled, intact
    assert str(pickle.loads(pickle.dumps(caught[0].message))) == str(caught[0].message)
    plain = MULDE(aggregator="mean_energy", **fast)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing to say for an aggregate that needs no rows
        plain.fit(x)
    np.testing.assert_allclose(model.anomaly_score(x), plain.anomaly_score(x))
    with pytest.warns(NoValidationWarning, match="aggregator='cv_level' .* and "
                      "threshold_on='validation' sets the threshold on the training"):
        MULDE(aggregator="cv_level", threshold_on="validation", **fast).fit(x)
    with warnings.catch_warnings(record=True) as few:  # 5 rows: FewSamplesWarning alone
        warnings.simplefilter("always")
        MULDE(aggregator="stacked", **fast).fit(x[:5])
    assert [w.category for w in few] == [FewSamplesWarning]
    assert "aggregator='stacked' scores as 'mean_energy'" in str(few[0].message)
    assert str(pickle.loads(pickle.dumps(few[0].message))) == str(few[0].message)


def test_a_stacked_weight_that_underflows_to_zero_leaves_the_weights_and_scores_finite():
    """Levels 800 nats apart on every held row: the far level's weight underflows to exactly
    0 (log 0 = -inf inside the EM and the score), yet the weights still sum to 1, raise no
    warning, and the score is the remaining level's energy whatever the zero-weight level's."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        w = stacking_weights(np.array([[0.0, 800.0], [3.0, 803.0]]))
        np.testing.assert_array_equal(w, [1.0, 0.0])
        scores = aggregate("stacked", {"weights": w}, np.array([[2.0, -1e5], [2.0, 1e5]]))
    np.testing.assert_allclose(scores, [2.0, 2.0])
