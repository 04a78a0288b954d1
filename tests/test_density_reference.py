"""The density-fidelity suite's reference estimators (benchmarks/density_reference.py): each
fitted form against the truth it should recover, and the samples against the suite's."""

import numpy as np
import pytest
from density_generators import GaussianMixture, NoisyCircle, make_distribution
from density_reference import _ppca, circle_of, main, references, run_case


def test_samples_with_components_are_the_samples_of_the_suite():
    dist = make_distribution("mfa", 8)
    x = dist.sample(500, np.random.default_rng(3))
    y, k = dist.sample_with_components(500, np.random.default_rng(3))
    np.testing.assert_array_equal(x, y)
    counts = np.bincount(k, minlength=len(dist.weights)) / len(k)
    np.testing.assert_allclose(counts, dist.weights, atol=0.05)


def test_ppca_covariance_by_hand():
    """Rank 1 in d 3: the leading eigen-pair kept, the other two eigenvalues replaced by their
    mean (Tipping & Bishop's noise variance)."""
    x = np.array([[3.0, 0, 0], [-3, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 0.5], [0, 0, -0.5]])
    cov = _ppca(1)(x)  # the ML covariance is diag(3, 1/3, 1/12)
    np.testing.assert_allclose(cov, np.diag([3.0, 5 / 24, 5 / 24]), atol=1e-12)


def test_circle_fit_recovers_radius_and_noise():
    basis = np.linalg.qr(np.random.default_rng(0).standard_normal((12, 2)))[0]
    truth = NoisyCircle(basis, radius=2.0, noise=0.1)
    fit = circle_of(truth.sample(20_000, np.random.default_rng(1)))
    assert abs(fit.radius - 2.0) < 0.01 and abs(fit.noise - 0.1) < 0.005
    np.testing.assert_allclose(fit.basis @ fit.basis.T, basis @ basis.T, atol=2e-3)


def test_the_family_with_too_few_rows_per_component_has_no_maximum_likelihood_fit():
    rng = np.random.default_rng(2)
    x, k = rng.standard_normal((30, 8)), np.repeat([0, 1, 2], 10)  # 10 rows, d 8: fine
    assert references("mixture", x, k)["family_ml"] is not None
    k = np.repeat([0, 1, 2], [22, 4, 4])  # 4 rows of d 8: singular
    fitted = references("mixture", x, k)
    assert fitted["family_ml"] is None and isinstance(fitted["family_lw"], GaussianMixture)


def test_a_case_with_the_truth_as_structure_ranks_almost_perfectly():
    case = run_case("gauss_aniso", 4, 2000, seed=0)
    refs = case["references"]
    assert refs["structure"]["rho_fresh"] > 0.99 and refs["family_ml"]["rho_broad"] > 0.99
    assert 0.0 <= refs["gaussian_lw"]["far"] <= 0.05
    assert run_case("student_t", 2, 100, seed=0)["references"]["structure"] is None


def test_a_malformed_case_is_one_line_not_a_traceback(capsys):
    for bad in ("gauss_iso", "lowrank_mix:2:100", "nope:2:10"):
        with pytest.raises(SystemExit) as exit_:
            main(["--cases", bad, "--out", "/dev/null"])
        assert exit_.value.code == 2 and f"--cases {bad!r}" in capsys.readouterr().err
