"""Mode reweighting (`mulde.estimator.reweighting`): the mixture's log-ratio by hand, the BIC
choice, the weights' effect on the modes' shares, and MULDE(reweight="modes") end to end."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mulde import MULDE
from mulde.estimator.reweighting import MIN_ROWS, ModeMixture, fit_mode_mixture

TINY = dict(hidden_sizes=(16,), n_members=1, n_levels=4, max_steps=30, random_state=0,
            device="cpu")


def _two_modes(n_big=1000, n_small=100, seed=0):
    """Rows (n_big + n_small, 2) of two well-apart unit Gaussians, the second one rare."""
    rng = np.random.default_rng(seed)
    return np.r_[rng.standard_normal((n_big, 2)), rng.standard_normal((n_small, 2)) + 12.0]


def test_log_ratio_matches_a_hand_computation():
    """Two 1-D components, weights 0.8 and 0.2, means 0 and 4, variances 1 and 4, at x = 1:
    p_1 = N(1; 0, 1), p_2 = N(1; 4, 4); log r = log(0.8 p_1 + 0.2 p_2) - log((p_1 + p_2) / 2)."""
    mixture = ModeMixture(np.array([[0.0], [4.0]]), np.array([[1.0], [4.0]]),
                          np.array([0.8, 0.2]))
    p1 = math.exp(-0.5) / math.sqrt(2 * math.pi)
    p2 = math.exp(-0.5 * 9 / 4) / math.sqrt(2 * math.pi * 4)
    expected = math.log(0.8 * p1 + 0.2 * p2) - math.log((p1 + p2) / 2)
    got = mixture.log_ratio(torch.tensor([[1.0]]))
    assert got.dtype == torch.float64 and got.shape == (1,)
    assert float(got[0]) == pytest.approx(expected, rel=1e-12)
    assert float(mixture.row_weights(torch.tensor([[1.0]]))[0]) == pytest.approx(
        math.exp(-expected), rel=1e-12)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.floats(0.05, 1.0), min_size=2, max_size=5),
       st.floats(-5, 5), st.floats(-5, 5))
def test_log_ratio_lies_between_the_log_weights_times_k(raw, a, b):
    """r(x) = K sum_k pi_k post_k(x) with equal-weight posteriors post_k: a convex
    combination, so log(K min pi) <= log r <= log(K max pi); equal weights give log r = 0."""
    weights = np.array(raw) / sum(raw)
    k = len(weights)
    rng = np.random.default_rng(k)
    mixture = ModeMixture(rng.standard_normal((k, 2)), rng.uniform(0.5, 2.0, (k, 2)), weights)
    got = float(mixture.log_ratio(torch.tensor([[a, b]]))[0])
    assert math.log(k * weights.min()) - 1e-9 <= got <= math.log(k * weights.max()) + 1e-9
    flat = ModeMixture(mixture.means, mixture.variances, np.full(k, 1.0 / k))
    assert float(flat.log_ratio(torch.tensor([[a, b]]))[0]) == pytest.approx(0.0, abs=1e-12)


def test_one_gaussian_gets_no_mixture_and_two_apart_modes_get_equal_shares():
    rng = np.random.default_rng(0)
    assert fit_mode_mixture(rng.standard_normal((1500, 3)), seed=0) is None
    x = _two_modes()
    x = (x - x.mean(0)) / x.std(0)
    mixture = fit_mode_mixture(x, seed=0)
    assert mixture is not None and mixture.n_components >= 2
    w = mixture.row_weights(torch.from_numpy(x)).numpy()
    share_small = w[1000:].sum() / w.sum()  # 100 of 1,100 rows: 0.09 unweighted
    assert share_small == pytest.approx(0.5, abs=0.05)


def test_fewer_rows_than_min_rows_get_none():
    x = _two_modes(n_big=MIN_ROWS // 2, n_small=MIN_ROWS // 2 - 1)
    assert fit_mode_mixture(x, seed=0) is None
    assert fit_mode_mixture(_two_modes(n_big=MIN_ROWS // 2, n_small=MIN_ROWS // 2),
                            seed=0) is not None


def test_reweighted_fit_scores_the_rare_mode_by_its_mass_and_saves(tmp_path):
    X = _two_modes()
    model = MULDE(**TINY, reweight="modes").fit(X)
    mixture = model.mode_mixture_
    assert mixture is not None
    z = model._to_tensor(X)
    term = -mixture.log_ratio(z).numpy()
    # -log r, r = K pi_k over apart modes: the rare mode's rows raised by log(1000 / 100)
    # against the common mode's
    assert term[1000:].mean() - term[:1000].mean() == pytest.approx(
        math.log(1000 / 100), abs=0.2)
    # every level's energy is the network's plus the term
    from mulde.core import multiscale_energy
    raw = multiscale_energy(model.network_, z, torch.as_tensor(model.sigmas_)).double().numpy()
    np.testing.assert_allclose(model.score_samples_multiscale(X), raw + term[:, None],
                               rtol=0, atol=1e-9)
    loaded = MULDE.load(model.save(tmp_path / "m.safetensors"))
    np.testing.assert_array_equal(loaded.anomaly_score(X), model.anomaly_score(X))
    np.testing.assert_array_equal(loaded.mode_mixture_.weights, mixture.weights)


def test_reweight_on_one_mode_is_the_unweighted_fit_to_the_bit():
    X = np.random.default_rng(1).standard_normal((1200, 3))
    plain = MULDE(**TINY).fit(X)
    reweighted = MULDE(**TINY, reweight="modes").fit(X)
    assert reweighted.mode_mixture_ is None
    np.testing.assert_array_equal(reweighted.anomaly_score(X), plain.anomaly_score(X))
