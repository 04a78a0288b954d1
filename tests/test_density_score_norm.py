"""The score-norm probe (benchmarks/density_score_norm.py) differentiates the fitted network
in the estimator's standardised coordinates."""

import numpy as np
from density_score_norm import mean_z, squared_score_norms

from mulde import MULDE


def test_squared_score_norms_match_finite_differences_of_the_energies():
    """||grad_z f||^2 with z = (x - mean) / scale equals sum_j (scale_j df/dx_j)^2, the
    derivative in x taken by central differences of the estimator's own energies."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(80, 3)) * np.array([1.0, 3.0, 0.5])
    model = MULDE(max_steps=5, hidden_sizes=(8, 8), random_state=0, device="cpu").fit(x)
    rows, h = x[:4], 1e-2
    slopes = np.stack([(model.score_samples_multiscale(rows + h * e)
                        - model.score_samples_multiscale(rows - h * e)) / (2 * h)
                       for e in np.eye(3)], axis=2)  # (n, L, d): df/dx_j at each level
    expected = ((slopes * model.scale_) ** 2).sum(axis=2)
    np.testing.assert_allclose(squared_score_norms(model, rows), expected, rtol=2e-2,
                               atol=1e-6)


def test_mean_z_scores_each_column_on_the_training_rows():
    train = np.array([[0.0, 10.0], [2.0, 10.0]])  # column 2 constant: scale 1
    other = np.array([[1.0, 12.0], [4.0, 10.0]])
    got_train, got_other = mean_z(train, other)
    np.testing.assert_allclose(got_train, [-0.5, 0.5])
    np.testing.assert_allclose(got_other, [(0 + 2) / 2, (3 + 0) / 2])
