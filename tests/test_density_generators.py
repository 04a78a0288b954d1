"""The density-fidelity suite's distributions (benchmarks/density_generators.py): their
log-densities against closed forms and independent computations, their samples against their
densities and moments."""

import math

import numpy as np
import pytest
from density_generators import DISTRIBUTIONS, broader, log_normal_mass, make_distribution
from scipy.stats import multivariate_normal, multivariate_t


def test_gaussians_match_scipy():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((50, 4)) * 3
    iso = make_distribution("gauss_iso", 4)
    np.testing.assert_allclose(iso.log_density(x), multivariate_normal(np.zeros(4)).logpdf(x))
    aniso = make_distribution("gauss_aniso", 4)
    cov = aniso.covariances[0]
    np.testing.assert_allclose(np.sort(np.linalg.eigvalsh(cov)), np.logspace(-2, 2, 4))
    np.testing.assert_allclose(aniso.log_density(x),
                               multivariate_normal(np.zeros(4), cov).logpdf(x), rtol=1e-10)


def test_iso_gaussian_log_density_by_hand():
    x = np.array([[0.0, 0.0], [1.0, 2.0]])
    expected = -math.log(2 * math.pi) - np.array([0.0, 2.5])  # -log(2 pi) - |x|^2 / 2
    np.testing.assert_allclose(make_distribution("gauss_iso", 2).log_density(x), expected)


def test_mixture_and_toy_are_weighted_sums_of_gaussians():
    rng = np.random.default_rng(1)
    mix = make_distribution("mixture", 3)
    x = rng.standard_normal((40, 3)) * 4
    dens = sum(w * multivariate_normal(m, c).pdf(x)
               for w, m, c in zip(mix.weights, mix.means, mix.covariances, strict=True))
    np.testing.assert_allclose(mix.log_density(x), np.log(dens), rtol=1e-10)
    np.testing.assert_allclose(np.linalg.norm(mix.means, axis=1), 4.0)
    toy = make_distribution("toy2d", 2)
    y = rng.standard_normal((40, 2)) * 3
    a = 4 / math.sqrt(2)
    centres = [(a, 0), (-a, 0), (0, a), (0, -a)]
    dens = sum(0.25 * multivariate_normal(c, 0.045 * np.eye(2)).pdf(y) for c in centres)
    np.testing.assert_allclose(toy.log_density(y), np.log(dens), rtol=1e-8)


def _assert_is_its_gaussian_mixture(dist, x):
    """dist.log_density(x) is the log of its components' weighted densities (scipy's)."""
    dens = sum(w * multivariate_normal(m, c).pdf(x)
               for w, m, c in zip(dist.weights, dist.means, dist.covariances, strict=True))
    np.testing.assert_allclose(dist.log_density(x), np.log(dens), rtol=1e-8)


def test_lowrank_mixture_is_a_mixture_of_gaussians_on_a_4d_subspace():
    lr = make_distribution("lowrank_mix", 7)
    np.testing.assert_allclose(lr.weights, [0.4, 0.25, 0.15, 0.12, 0.08])
    for cov in lr.covariances:
        # 4 directions of variation s^2 + 0.01 (s in [0.3, 1]) and 3 of the noise alone, 0.01
        eig = np.sort(np.linalg.eigvalsh(cov))
        np.testing.assert_allclose(eig[:3], 0.01, rtol=1e-9)
        assert np.all((eig[3:] >= 0.09 + 0.01 - 1e-9) & (eig[3:] <= 1.01 + 1e-9))
    # the means lie in the same 4-dimensional subspace as the covariances' variation
    assert np.linalg.matrix_rank(lr.means, tol=1e-8) == 4
    _assert_is_its_gaussian_mixture(lr, np.random.default_rng(3).standard_normal((30, 7)))
    with pytest.raises(ValueError, match="lowrank_mix cannot have d = 3"):
        make_distribution("lowrank_mix", 3)


def test_student_t_matches_scipy():
    x = np.random.default_rng(2).standard_normal((30, 5)) * 5
    t = make_distribution("student_t", 5)
    np.testing.assert_allclose(t.log_density(x),
                               multivariate_t(np.zeros(5), np.eye(5), df=3).logpdf(x))


def test_circle_density_is_the_noise_density_averaged_over_the_circle():
    circle = make_distribution("circle", 4)
    rng = np.random.default_rng(3)
    x = circle.sample(5, rng) + 0.05 * rng.standard_normal((5, 4))
    t = np.linspace(0, 2 * math.pi, 20001)[:-1]
    on = np.stack([np.cos(t), np.sin(t)], axis=1) @ circle.basis.T  # (T, 4), radius 1
    sq = ((x[:, None, :] - on[None]) ** 2).sum(axis=2)  # (5, T)
    log_terms = -sq / (2 * 0.05**2) - 2 * math.log(2 * math.pi * 0.05**2)
    numeric = np.log(np.exp(log_terms - log_terms.max(1, keepdims=True)).mean(1)) \
        + log_terms.max(1)
    np.testing.assert_allclose(circle.log_density(x), numeric, rtol=1e-6)


@pytest.mark.parametrize("name", ["gauss_aniso", "mixture", "student_t", "circle", "toy2d"])
def test_samples_follow_the_density_in_2d(name):
    """The share of samples in a box equals the integral of exp(log_density) over it."""
    dist = make_distribution(name, 2)
    x = dist.sample(40_000, np.random.default_rng(4))
    centre = x[0]  # a box around a sample lies where the mass is
    lo, hi = centre - 0.5, centre + 0.5
    g = np.linspace(0, 1, 201)
    gx, gy = np.meshgrid(lo[0] + g * 1.0, lo[1] + g * 1.0, indexing="ij")
    dens = np.exp(dist.log_density(np.stack([gx.ravel(), gy.ravel()], 1))).reshape(gx.shape)
    mass = np.trapezoid(np.trapezoid(dens, g, axis=1), g)
    share = np.mean(np.all((x >= lo) & (x <= hi), axis=1))
    assert share == pytest.approx(mass, abs=4 * math.sqrt(mass / 40_000) + 1e-3)


@pytest.mark.parametrize("name", [n for n in DISTRIBUTIONS if "quantised" not in n
                                  and "binary" not in n and n != "censored"])
def test_mean_cov_and_broader(name):
    d = {"toy2d": 2, "lowrank_mix": 5, "mfa": 5}.get(name, 3)
    dist = make_distribution(name, d)
    x = dist.sample(200_000, np.random.default_rng(5))
    np.testing.assert_allclose(x.mean(0), dist.mean, atol=0.05)
    tol = 0.3 if name == "student_t" else 0.05  # t with 3 dof: infinite fourth moment
    np.testing.assert_allclose(np.cov(x.T), dist.cov, atol=tol * np.abs(dist.cov).max())
    wide = broader(dist)
    np.testing.assert_allclose(wide.covariances[0], 4 * dist.cov)


def test_distributions_are_fixed_by_seed_and_bad_requests_are_refused():
    a, b = make_distribution("mixture", 5, seed=1), make_distribution("mixture", 5, seed=1)
    np.testing.assert_array_equal(a.means, b.means)
    assert not np.allclose(a.means, make_distribution("mixture", 5, seed=2).means)
    with pytest.raises(ValueError, match="unknown distribution 'banana'"):
        make_distribution("banana", 2)
    with pytest.raises(ValueError, match="toy2d cannot have d = 3"):
        make_distribution("toy2d", 3)


def test_mfa_clusters_each_vary_along_their_own_4d_subspace():
    mfa = make_distribution("mfa", 9)
    np.testing.assert_allclose(mfa.weights.sum(), 1.0)
    assert len(mfa.weights) == 8 and np.all(np.diff(mfa.weights) < 0)
    spans = []
    for cov in mfa.covariances:
        values, vectors = np.linalg.eigh(cov)
        # 5 directions of the noise alone (0.01), 4 of variation s^2 + 0.01, s in [0.3, 1]
        np.testing.assert_allclose(values[:5], 0.01, rtol=1e-9)
        assert np.all((values[5:] >= 0.1 - 1e-9) & (values[5:] <= 1.01 + 1e-9))
        spans.append(vectors[:, 5:])
    # unlike lowrank_mix, the clusters do not share one subspace: two spans of 4 directions
    # in R^9 meet at angles above 0 (a shared one would give singular values of 1)
    assert np.linalg.svd(spans[0].T @ spans[1], compute_uv=False).min() < 0.99
    _assert_is_its_gaussian_mixture(mfa, np.random.default_rng(4).standard_normal((30, 9)))
    with pytest.raises(ValueError, match="mfa cannot have d = 3"):
        make_distribution("mfa", 3)


def test_mixture_samples_per_component_equal_the_gathered_factor_form():
    """Drawing each component's rows with its own Cholesky factor gives, bit for bit, what
    gathering a factor per row (n d^2 memory) gave for the same rng state."""
    import numpy as np
    from density_generators import make_distribution

    for name, d in (("mixture", 8), ("lowrank_mix", 16), ("mfa", 12)):
        dist = make_distribution(name, d, seed=0)
        x, k = dist.sample_with_components(500, np.random.default_rng(1))
        rng = np.random.default_rng(1)
        k_old = rng.choice(len(dist.weights), size=500, p=dist.weights)
        z = rng.standard_normal((500, d))
        chol = np.linalg.cholesky(dist.covariances)
        gathered = dist.means[k_old] + np.einsum("nij,nj->ni", chol[k_old], z)
        np.testing.assert_array_equal(k, k_old)
        np.testing.assert_array_equal(x, gathered)


def test_log_normal_mass_is_the_cdf_difference_in_either_tail():
    from scipy.stats import norm

    a = np.array([-1.0, 0.5, -3.0, 2.0, -0.2])
    b = np.array([1.0, 1.5, -2.0, 4.0, 0.3])
    np.testing.assert_allclose(log_normal_mass(a, b), np.log(norm.cdf(b) - norm.cdf(a)),
                               rtol=1e-12)
    far = log_normal_mass(np.array([40.0, -41.0]), np.array([41.0, -40.0]))
    np.testing.assert_allclose(far, [norm.logsf(40.0)] * 2, rtol=1e-6)  # not -inf


@pytest.mark.parametrize("name", ["quantised", "mixed_quantised"])
def test_quantised_densities_sum_and_integrate_to_one_on_their_lattice(name):
    """Per unit volume of the dequantised variable: summed over the integer lattice (and
    integrated over the continuous column) exp(log_density) totals 1; samples lie on the
    lattice in the quantised columns, as do the broader samples."""
    dist = make_distribution(name, 2)
    grid = np.arange(-40, 41, dtype=float)
    if name == "quantised":
        pts = np.array([(u, v) for u in grid for v in grid])
        total = np.exp(dist.log_density(pts)).sum()
    else:
        t = np.linspace(-40, 40, 16001)
        total = sum(np.trapezoid(np.exp(dist.log_density(np.c_[t, np.full_like(t, v)])), t)
                    for v in grid)
    assert total == pytest.approx(1.0, abs=1e-9)
    q = dist.steps > 0
    for x in (dist.sample(500, np.random.default_rng(8)),
              broader(dist).sample(500, np.random.default_rng(9))):
        np.testing.assert_array_equal(x[:, q], np.round(x[:, q]))
        assert np.isfinite(dist.log_density(x)).all()
    if name == "mixed_quantised":
        assert len(np.unique(dist.sample(500, np.random.default_rng(8))[:, 0])) == 500


def test_quantised_density_is_its_latent_class_sum_by_hand():
    """One quantised and one continuous column: sum_k w_k N(x0; mu, s^2) P(round = x1)."""
    from density_generators import QuantisedMixture
    from scipy.stats import norm

    dist = QuantisedMixture(np.array([0.7, 0.3]), np.array([[0.0, 1.0], [2.0, -1.0]]),
                            np.array([[1.0, 0.5], [0.5, 2.0]]), np.array([0.0, 1.0]))
    x = np.array([[0.3, 1.0], [1.8, -2.0]])
    expected = sum(w * norm.pdf(x[:, 0], m[0], s[0])
                   * (norm.cdf(x[:, 1] + 0.5, m[1], s[1]) - norm.cdf(x[:, 1] - 0.5, m[1], s[1]))
                   for w, m, s in zip(dist.weights, dist.means, dist.stds, strict=True))
    np.testing.assert_allclose(dist.log_density(x), np.log(expected), rtol=1e-12)
    x_mean = dist.sample(200_000, np.random.default_rng(10)).mean(0)
    np.testing.assert_allclose(x_mean, dist.mean, atol=0.03)


@pytest.mark.parametrize("name", ["binary", "mixed_binary", "rare_binary"])
def test_binary_densities_sum_and_integrate_to_one(name):
    """Summed over {0, 1}^b (and integrated over the continuous column) exp(log_density)
    totals 1; samples and broader samples are 0 or 1 in the binary columns, and their mean
    and covariance are the distribution's."""
    dist = make_distribution(name, 2 if name == "mixed_binary" else 6)
    if name != "mixed_binary":
        pts = np.array(np.meshgrid(*[[0.0, 1.0]] * 6, indexing="ij")).reshape(6, -1).T
        total = np.exp(dist.log_density(pts)).sum()
    else:
        t = np.linspace(-40, 40, 16001)
        total = sum(np.trapezoid(np.exp(dist.log_density(np.c_[t, np.full_like(t, v)])), t)
                    for v in (0.0, 1.0))
    assert total == pytest.approx(1.0, abs=1e-9)
    b = dist.binary
    for x in (dist.sample(500, np.random.default_rng(8)),
              broader(dist).sample(500, np.random.default_rng(9))):
        assert set(np.unique(x[:, b])) <= {0.0, 1.0}
        assert np.isfinite(dist.log_density(x)).all()
    x = dist.sample(200_000, np.random.default_rng(5))
    np.testing.assert_allclose(x.mean(0), dist.mean, atol=0.03)
    np.testing.assert_allclose(np.cov(x.T), dist.cov, atol=0.05 * np.abs(dist.cov).max())
    wide = broader(dist)  # flags halfway to a fair coin, numbers twice as spread
    np.testing.assert_allclose(wide.mean, np.where(b, (dist.mean + 0.5) / 2, dist.mean))
    np.testing.assert_allclose(np.diag(wide.cov)[~b], 4 * np.diag(dist.cov)[~b])


def test_rare_binary_is_binary_with_its_first_half_rare():
    """rare_binary: `binary`'s model with the first d // 2 columns' p a tenth of binary's
    (0.002 to 0.098 per component), the rest binary's; on the suite's d 32 every rare
    column's marginal share is under 10 % (2-7 %), as the docstring says."""
    rare = make_distribution("rare_binary", 6, seed=3)
    assert rare.binary.all() and rare.probs.shape == (8, 6)
    assert (rare.probs[:, :3] >= 0.002 - 1e-12).all() and (rare.probs[:, :3] <= 0.098).all()
    assert (rare.probs[:, 3:] >= 0.02).all() and (rare.probs[:, 3:] <= 0.98).all()
    wide = make_distribution("rare_binary", 32)
    shares = wide.mean[:16]
    assert (shares > 0.02).all() and (shares < 0.1).all()


def test_binary_density_is_its_latent_class_sum_by_hand():
    """One binary and one continuous column: sum_k w_k p_k^x1 (1 - p_k)^(1 - x1) N(x0)."""
    from density_generators import BinaryMixture
    from scipy.stats import norm

    dist = BinaryMixture(np.array([0.7, 0.3]), np.array([[0.5, 0.9], [0.5, 0.2]]),
                         np.array([[0.0, 0.0], [2.0, 0.0]]), np.array([[1.0, 1.0], [0.5, 1.0]]),
                         np.array([False, True]))
    x = np.array([[0.3, 1.0], [1.8, 0.0]])
    expected = (0.7 * norm.pdf(x[:, 0], 0.0, 1.0) * np.where(x[:, 1] == 1, 0.9, 0.1)
                + 0.3 * norm.pdf(x[:, 0], 2.0, 0.5) * np.where(x[:, 1] == 1, 0.2, 0.8))
    np.testing.assert_allclose(dist.log_density(x), np.log(expected), rtol=1e-12)


def test_censored_density_is_its_latent_class_sum_by_hand():
    """Two columns: sum_k w_k prod (Phi(-mu/s) / cell at 0, N(x; mu, s^2) above)."""
    from density_generators import CensoredMixture
    from scipy.stats import norm

    dist = CensoredMixture(np.array([0.6, 0.4]), np.array([[0.5, -1.0], [2.0, 1.0]]),
                           np.array([[1.0, 0.5], [0.5, 2.0]]), np.array([0.7, 1.3]))
    x = np.array([[0.0, 0.0], [1.2, 0.0], [0.3, 2.5]])

    def column(v, mu, s, cell):
        return np.where(v == 0, norm.cdf(-mu / s) / cell, norm.pdf(v, mu, s))

    expected = sum(w * column(x[:, 0], m[0], s[0], 0.7) * column(x[:, 1], m[1], s[1], 1.3)
                   for w, m, s in zip(dist.weights, dist.means, dist.stds, strict=True))
    np.testing.assert_allclose(dist.log_density(x), np.log(expected), rtol=1e-12)
    # a negative value has no mass (it was read as the point mass before)
    assert dist.log_density(np.array([[-0.1, 0.0], [0.0, -1e-12]])).tolist() == [-np.inf] * 2


def test_censored_mass_totals_one_and_moments_match_samples():
    """The point mass times its cell plus the integral above 0 totals 1 over every pattern
    of zeros (d 2); samples are >= 0 with exact zeros; their means and variances are the
    closed forms; broader samples are one latent Gaussian twice as spread, censored alike."""
    dist = make_distribution("censored", 2)
    t = np.linspace(0.0, 40.0, 40001)[1:]
    w = t[1] - t[0]
    zero = np.zeros_like(t)

    def integral(x):
        return np.exp(dist.log_density(x)).sum() * w  # rectangle rule on a fine grid

    total = (np.exp(dist.log_density(np.zeros((1, 2))))[0] * dist.cells.prod()
             + integral(np.c_[t, zero]) * dist.cells[1] + integral(np.c_[zero, t]) * dist.cells[0])
    grid = np.linspace(0.0, 20.0, 1001)[1:]
    a, b = np.meshgrid(grid, grid, indexing="ij")
    total += np.exp(dist.log_density(np.c_[a.ravel(), b.ravel()])).sum() * (grid[1] - grid[0]) ** 2
    assert total == pytest.approx(1.0, abs=5e-3)
    x = dist.sample(200_000, np.random.default_rng(5))
    assert (x >= 0).all() and 0.05 < (x == 0).mean() < 0.95
    np.testing.assert_allclose(x.mean(0), dist.mean, atol=0.02)
    np.testing.assert_allclose(x.var(0), dist.variances, rtol=0.03)
    np.testing.assert_allclose(dist.cells, np.sqrt(dist.variances))
    wide = broader(dist)
    m, v = dist.latent()
    np.testing.assert_allclose(wide.means[0], m)
    np.testing.assert_allclose(wide.stds[0] ** 2, 4 * v)
    assert np.isfinite(dist.log_density(wide.sample(500, np.random.default_rng(9)))).all()


def test_censored_zero_shares_are_as_its_docstring_says():
    """make_distribution's censored: on the suite's d 8, 16 and 32 (seed 0), 0.04 to 0.86 of
    a column's rows at 0 (Phi(-mu / s) weighted), one column of each under a fifth."""
    from scipy.special import ndtr

    shares = []
    for d in (8, 16, 32):
        dist = make_distribution("censored", d)
        share = dist.weights @ ndtr(-dist.means / dist.stds)
        assert np.count_nonzero(share < 0.2) == 1
        shares.append(share)
    shares = np.concatenate(shares)
    assert 0.03 < shares.min() < 0.05 and 0.85 < shares.max() < 0.87
    assert np.mean((shares >= 0.2) & (shares <= 0.75)) > 0.8
