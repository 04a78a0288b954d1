"""The mode-height probe (benchmarks/density_modes.py): per-mode regression of a score on
the modes' training rows and widths, checked on the true -log p."""

import numpy as np
import pytest
from density_generators import GaussianMixture
from density_modes import mode_heights, resampled_rows


@pytest.fixture(scope="module")
def mixture_draws():
    """Six well separated isotropic modes in 3-D of unequal weights and widths; the
    components of 200,000 training rows (so n_k / n is w_k within about 1 %) and 6,000 fresh
    samples with their true -log p."""
    rng = np.random.default_rng(0)
    weights = np.array([0.4, 0.25, 0.15, 0.1, 0.06, 0.04])
    stds = np.array([0.3, 1.0, 0.5, 0.8, 0.4, 0.6])
    means = 20.0 * rng.standard_normal((6, 3))
    mixture = GaussianMixture(weights, means, np.einsum("k,ij->kij", stds ** 2, np.eye(3)))
    train_components = rng.choice(6, size=200_000, p=weights)
    fresh, components = mixture.sample_with_components(6000, rng)
    return mixture, train_components, fresh, components, -mixture.log_density(fresh)


def test_the_true_density_weighs_rows_and_widths_as_they_are(mixture_draws):
    """-log p near mode k is -log w_k + (d / 2) log s_k^2 + a distance term of the same mean
    in every mode: coefficients -1 and 1, and the modes ranked exactly."""
    mixture, train_components, fresh, _, nll = mixture_draws
    found = mode_heights(nll, nll, fresh, mixture, train_components)
    assert found["rows_coef"] == pytest.approx(-1.0, abs=0.1)
    assert found["width_coef"] == pytest.approx(1.0, abs=0.1)
    assert found["between"] == 1.0 and found["within"] == 1.0 and found["modes"] == 6


def test_a_score_that_overweighs_rare_modes_shows_a_larger_rows_coefficient(mixture_draws):
    """Adding -2 log w_k to each sample of mode k (a rare mode three times as unlikely, on
    the log scale, as it is) moves the rows coefficient to about -3, the width's not."""
    mixture, train_components, fresh, components, nll = mixture_draws
    scores = nll - 2.0 * np.log(mixture.weights[components])
    found = mode_heights(scores, nll, fresh, mixture, train_components)
    assert found["rows_coef"] == pytest.approx(-3.0, abs=0.15)
    assert found["width_coef"] == pytest.approx(1.0, abs=0.15)


def test_too_few_modes_to_weigh_are_refused(mixture_draws):
    mixture, _, fresh, _, nll = mixture_draws
    with pytest.raises(ValueError, match="too few to weigh"):
        mode_heights(nll, nll, fresh, mixture, np.zeros(100, dtype=int))  # one mode has rows


def test_the_rows_a_fit_is_given_every_once_bootstrapped_or_balanced_per_mode():
    components = np.repeat([0, 1, 2, 3], [2, 10, 40, 48])  # 100 rows, modes of 2 to 48
    assert (resampled_rows(components, "none", 0) == np.arange(100)).all()
    boot = resampled_rows(components, "bootstrap", 0)
    assert len(boot) == 100 and len(np.unique(boot)) < 100
    balanced = resampled_rows(components, "balanced", 0)
    assert (np.bincount(components[balanced]) == 25).all()  # 100 / 4 each
    assert len(np.unique(balanced[components[balanced] == 3])) == 25  # drawn without
