"""Synthetic distributions with an exactly computable log-density, for the density-fidelity
suite (benchmarks/density_fidelity.py, docs/benchmarks.md "Density fidelity").

Each distribution draws samples (`sample(n, rng)` -> (n, d) float64) and evaluates its exact
log-density (`log_density(x)` -> (n,) float64, natural log, per unit volume of R^d), and knows
its mean and covariance, from which the suite builds the "broader" distribution
N(mean, 4 * cov) whose samples should score as anomalies. Every parameter that is random (a
rotation, the mixture means) is drawn from `seed`, so a distribution is a pure function of
(name, d, seed).

Densities: a Gaussian mixture (isotropic, anisotropic, unequal mixture, and the MULDE authors'
2-D toy) in closed form; the multivariate Student-t in closed form; the noisy circle (a curved
1-D manifold in a random plane of R^d plus isotropic Gaussian noise) by integrating the noise
density over the circle, which has the closed form of a modified Bessel function I_0;
quantised columns (a latent-class model of rounded Gaussians, `QuantisedMixture`) by
differences of normal CDFs, per unit volume of the dequantised variable, their broader
samples rounded to the same lattice; binary columns (attributes, one-hot codes: a latent-class
model of Bernoulli columns, `BinaryMixture`) by sums over the classes, a probability mass over
them; censored columns (a point mass at 0 beside a continuous part, as counts of zero,
histogram bins and ReLU features hold: `CensoredMixture`) by normal CDFs at the point mass, per
unit of a stated width there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import gammaln, ive, log_ndtr, logsumexp, ndtr

DISTRIBUTIONS = ("gauss_iso", "gauss_aniso", "mixture", "student_t", "circle", "toy2d",
                 "lowrank_mix", "mfa", "quantised", "mixed_quantised", "clusters", "binary",
                 "mixed_binary", "censored", "rare_binary")


def _orthogonal(d: int, rng: np.random.Generator) -> np.ndarray:
    """A random d x d orthogonal matrix (QR of a Gaussian matrix, signs fixed)."""
    q, r = np.linalg.qr(rng.standard_normal((d, d)))
    return q * np.sign(np.diag(r))


@dataclass(frozen=True)
class GaussianMixture:
    """sum_k w_k N(mu_k, C_k) in R^d; weights (K,), means (K, d), covariances (K, d, d)."""

    weights: np.ndarray
    means: np.ndarray
    covariances: np.ndarray

    @property
    def d(self) -> int:
        return self.means.shape[1]

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """Return n samples, (n, d)."""
        return self.sample_with_components(n, rng)[0]

    def sample_with_components(self, n: int, rng: np.random.Generator
                               ) -> tuple[np.ndarray, np.ndarray]:
        """Return n samples (n, d) and the component each was drawn from (n,) int: the same
        samples `sample` draws from the same rng state. Each component's rows are drawn
        with its own Cholesky factor (memory O(n d + K d^2); gathering a factor per row took
        n d^2, 16 GB for 2,000 samples at d 1,024), bit for bit what the gathered form gave
        on every case of the suite (checked on rounds 24 and 28's)."""
        k = rng.choice(len(self.weights), size=n, p=self.weights)
        chol = np.linalg.cholesky(self.covariances)
        z = rng.standard_normal((n, self.d))
        x = np.empty((n, self.d))
        for c in range(len(self.weights)):
            rows = np.flatnonzero(k == c)
            x[rows] = self.means[c] + np.einsum("ij,nj->ni", chol[c], z[rows])
        return x, k

    def log_density(self, x: np.ndarray) -> np.ndarray:
        """Return log p(x) for x (n, d)."""
        chol = np.linalg.cholesky(self.covariances)
        parts = []
        for w, mu, lo in zip(self.weights, self.means, chol, strict=True):
            sol = np.linalg.solve(lo, (x - mu).T)  # (d, n): L^-1 (x - mu)
            logdet = 2.0 * np.log(np.diag(lo)).sum()
            parts.append(math.log(w) - 0.5 * (self.d * math.log(2 * math.pi) + logdet
                                               + (sol ** 2).sum(axis=0)))
        return logsumexp(np.stack(parts), axis=0)

    @property
    def mean(self) -> np.ndarray:
        return self.weights @ self.means

    @property
    def cov(self) -> np.ndarray:
        m = self.mean
        spread = np.einsum("k,ki,kj->ij", self.weights, self.means - m, self.means - m)
        return np.einsum("k,kij->ij", self.weights, self.covariances) + spread


@dataclass(frozen=True)
class StudentT:
    """Multivariate Student-t with nu degrees of freedom, location 0 and scale matrix I_d."""

    d: int
    nu: float = 3.0

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        g = rng.chisquare(self.nu, size=(n, 1)) / self.nu
        return rng.standard_normal((n, self.d)) / np.sqrt(g)

    def log_density(self, x: np.ndarray) -> np.ndarray:
        nu, d = self.nu, self.d
        return (gammaln((nu + d) / 2) - gammaln(nu / 2) - d / 2 * math.log(nu * math.pi)
                - (nu + d) / 2 * np.log1p((x ** 2).sum(axis=1) / nu))

    @property
    def mean(self) -> np.ndarray:
        return np.zeros(self.d)

    @property
    def cov(self) -> np.ndarray:
        return np.eye(self.d) * self.nu / (self.nu - 2)


@dataclass(frozen=True)
class NoisyCircle:
    """x = r (cos t, sin t) in the plane spanned by the columns of basis (d, 2), t ~ U[0, 2 pi),
    plus N(0, noise^2 I_d). Exact density: with u = basis^T x (in-plane, 2-D) and w the rest,

        p(x) = N(w; 0, noise^2 I_{d-2}) * exp(-(|u|^2 + r^2) / (2 noise^2)) / (2 pi noise^2)
               * I_0(r |u| / noise^2),

    the average over t of the 2-D Gaussian N(u; r (cos t, sin t), noise^2 I) (I_0: modified
    Bessel function of the first kind, evaluated as ive(0, z) * e^z for stability)."""

    basis: np.ndarray
    radius: float = 1.0
    noise: float = 0.05

    @property
    def d(self) -> int:
        return self.basis.shape[0]

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        t = rng.uniform(0, 2 * math.pi, size=n)
        on = self.radius * np.stack([np.cos(t), np.sin(t)], axis=1) @ self.basis.T
        return on + self.noise * rng.standard_normal((n, self.d))

    def log_density(self, x: np.ndarray) -> np.ndarray:
        s2 = self.noise ** 2
        u = x @ self.basis
        u2 = (u ** 2).sum(axis=1)
        w2 = (x ** 2).sum(axis=1) - u2
        z = self.radius * np.sqrt(u2) / s2
        log_w = -0.5 * (self.d - 2) * math.log(2 * math.pi * s2) - 0.5 * np.maximum(w2, 0) / s2
        log_u = (-(u2 + self.radius ** 2) / (2 * s2) - math.log(2 * math.pi * s2)
                 + np.log(ive(0, z)) + z)
        return log_w + log_u

    @property
    def mean(self) -> np.ndarray:
        return np.zeros(self.d)

    @property
    def cov(self) -> np.ndarray:
        return 0.5 * self.radius ** 2 * self.basis @ self.basis.T + self.noise ** 2 * np.eye(self.d)


def log_normal_mass(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """log(Phi(b) - Phi(a)) for a < b elementwise (Phi the standard normal CDF), accurate in
    either tail: an interval above 0 is mirrored below it (Phi(b) - Phi(a) = Phi(-a) -
    Phi(-b)), then log Phi(b) + log(1 - Phi(a) / Phi(b)) with log_ndtr."""
    flip = a > 0
    a, b = np.where(flip, -b, a), np.where(flip, -a, b)
    lb, la = log_ndtr(b), log_ndtr(a)
    return lb + np.log1p(-np.exp(la - lb))


def _normal_columns(x: np.ndarray, mu: np.ndarray, s: np.ndarray) -> np.ndarray:
    """sum_j log N(x_j; mu_j, s_j^2) over the columns of x (n, c): (n,)."""
    z = (x - mu) / s
    return (-0.5 * z ** 2 - np.log(s) - 0.5 * math.log(2 * math.pi)).sum(axis=1)


def _latent_class_normals(weights: np.ndarray, means: np.ndarray, stds: np.ndarray, n: int,
                          rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """n draws of a latent-class model's components k (n,) (weights (K,)) and of its
    columns' normals z (n, d), N(means[k], stds[k]^2) each: what `QuantisedMixture`,
    `BinaryMixture` and `CensoredMixture` round, replace or censor."""
    k = rng.choice(len(weights), size=n, p=weights)
    return k, means[k] + stds[k] * rng.standard_normal((n, means.shape[1]))


@dataclass(frozen=True)
class QuantisedMixture:
    """A latent-class model of K components, each a product over the d columns: column j is
    N(mu_kj, s_kj^2), rounded to the nearest multiple of steps[j] where steps[j] > 0 (a
    quantised column: counts, codes) and left continuous where steps[j] = 0. Columns depend
    on one another through the component. Exact log-density, per unit volume of the
    dequantised variable (each quantised value's probability spread over its cell of width
    h_j, as uniform dequantisation makes it):

        p(x) = sum_k w_k prod_{continuous j} N(x_j; mu_kj, s_kj^2)
                         prod_{quantised j} (Phi((x_j + h_j/2 - mu_kj) / s_kj)
                                             - Phi((x_j - h_j/2 - mu_kj) / s_kj)) / h_j.

    weights (K,), means (K, d), stds (K, d), steps (d,)."""

    weights: np.ndarray
    means: np.ndarray
    stds: np.ndarray
    steps: np.ndarray

    @property
    def d(self) -> int:
        return self.means.shape[1]

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """Return n samples, (n, d): quantised columns on their lattices."""
        k, z = _latent_class_normals(self.weights, self.means, self.stds, n, rng)
        q = self.steps > 0
        z[:, q] = np.round(z[:, q] / self.steps[q]) * self.steps[q]
        return z

    def log_density(self, x: np.ndarray) -> np.ndarray:
        """Return log p(x) for x (n, d) (quantised columns on their lattices)."""
        q = self.steps > 0
        h = self.steps[q]
        parts = []
        for w, mu, s in zip(self.weights, self.means, self.stds, strict=True):
            cont = _normal_columns(x[:, ~q], mu[~q], s[~q])
            lo = (x[:, q] - h / 2 - mu[q]) / s[q]
            hi = (x[:, q] + h / 2 - mu[q]) / s[q]
            disc = (log_normal_mass(lo, hi) - np.log(h)).sum(axis=1)
            parts.append(math.log(w) + cont + disc)
        return logsumexp(np.stack(parts), axis=0)

    @property
    def mean(self) -> np.ndarray:
        """The mean of the unrounded variable (rounding to a symmetric lattice moves it by
        less than h / 2)."""
        return self.weights @ self.means

    @property
    def cov(self) -> np.ndarray:
        """The covariance of the unrounded variable."""
        m = self.mean
        spread = np.einsum("k,ki,kj->ij", self.weights, self.means - m, self.means - m)
        return np.diag(self.weights @ self.stds ** 2) + spread


@dataclass(frozen=True)
class BinaryMixture:
    """A latent-class model of K components, each a product over the d columns: a binary
    column j (binary[j]) is Bernoulli(probs_kj) on {0, 1}, any other N(mu_kj, s_kj^2).
    Columns depend on one another through the component (the latent-class model of binary
    attributes: Lazarsfeld & Henry 1968; Goodman 1974). Exact log-density, a probability
    mass over the binary columns times a density over the others:

        p(x) = sum_k w_k prod_{binary j} probs_kj^x_j (1 - probs_kj)^(1 - x_j)
                         prod_{other j} N(x_j; mu_kj, s_kj^2).

    weights (K,), probs (K, d) in (0, 1), means and stds (K, d) (read in the continuous
    columns only), binary (d,) bool."""

    weights: np.ndarray
    probs: np.ndarray
    means: np.ndarray
    stds: np.ndarray
    binary: np.ndarray

    @property
    def d(self) -> int:
        return self.probs.shape[1]

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """Return n samples, (n, d): binary columns 0.0 or 1.0."""
        k, z = _latent_class_normals(self.weights, self.means, self.stds, n, rng)
        ones = rng.random((n, self.d)) < self.probs[k]
        return np.where(self.binary, ones.astype(np.float64), z)

    def log_density(self, x: np.ndarray) -> np.ndarray:
        """Return log p(x) for x (n, d) (binary columns 0 or 1)."""
        b = self.binary
        parts = []
        for w, p, mu, s in zip(self.weights, self.probs, self.means, self.stds, strict=True):
            cont = _normal_columns(x[:, ~b], mu[~b], s[~b])
            disc = (x[:, b] * np.log(p[b]) + (1 - x[:, b]) * np.log1p(-p[b])).sum(axis=1)
            parts.append(math.log(w) + cont + disc)
        return logsumexp(np.stack(parts), axis=0)

    def _within(self) -> tuple[np.ndarray, np.ndarray]:
        """Each component's column means and variances, (K, d) each."""
        m = np.where(self.binary, self.probs, self.means)
        v = np.where(self.binary, self.probs * (1 - self.probs), self.stds ** 2)
        return m, v

    @property
    def mean(self) -> np.ndarray:
        return self.weights @ self._within()[0]

    @property
    def cov(self) -> np.ndarray:
        m, v = self._within()
        c = m - self.mean
        return np.diag(self.weights @ v) + np.einsum("k,ki,kj->ij", self.weights, c, c)


@dataclass(frozen=True)
class CensoredMixture:
    """A latent-class model of K components, each a product over the d columns: column j is
    max(z_j, 0) with z_j ~ N(mu_kj, s_kj^2), a point mass at 0 (the probability of z_j <= 0)
    beside a continuous part on (0, inf), as zero counts, empty histogram bins and ReLU
    features are (Tobin 1958's censored variable). A point mass has no density per unit
    length; its probability is counted per unit of `cells[j]` (the column's standard
    deviation, `make_distribution`: a stated convention, as a quantised value's per unit of
    its step), so that

        p(x) = sum_k w_k prod_{j: x_j = 0} Phi(-mu_kj / s_kj) / cells_j
                         prod_{j: x_j > 0} N(x_j; mu_kj, s_kj^2).

    The ranking of rows with different numbers of zeros depends on that convention (a wider
    unit makes the zeros rarer per unit); the suite states it rather than hiding it.
    weights (K,), means and stds (K, d), cells (d,) > 0."""

    weights: np.ndarray
    means: np.ndarray
    stds: np.ndarray
    cells: np.ndarray

    @property
    def d(self) -> int:
        return self.means.shape[1]

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """Return n samples, (n, d): non-negative, exactly 0 where censored."""
        k, z = _latent_class_normals(self.weights, self.means, self.stds, n, rng)
        return np.maximum(z, 0.0)

    def log_density(self, x: np.ndarray) -> np.ndarray:
        """Return log p(x) for x (n, d): exact zeros the point mass, positive values the
        continuous part; -inf for a row with a negative value (no mass there)."""
        zero = x == 0
        parts = []
        for w, mu, s in zip(self.weights, self.means, self.stds, strict=True):
            z = (x - mu) / s
            cont = -0.5 * z ** 2 - np.log(s) - 0.5 * math.log(2 * math.pi)
            mass = log_ndtr(-mu / s) - np.log(self.cells)
            parts.append(math.log(w) + np.where(zero, mass, cont).sum(axis=1))
        return np.where((x < 0).any(axis=1), -np.inf, logsumexp(np.stack(parts), axis=0))

    @property
    def mean(self) -> np.ndarray:
        """E[max(z, 0)] per column: mu Phi(mu / s) + s phi(mu / s), weighted over the
        components."""
        a = self.means / self.stds
        return self.weights @ (self.means * ndtr(a) + self.stds * _phi(a))

    @property
    def variances(self) -> np.ndarray:
        """Var[max(z, 0)] per column, (d,): E[x^2] = (mu^2 + s^2) Phi(mu / s) + mu s
        phi(mu / s) per component, less the squared mean."""
        mu, s = self.means, self.stds
        a = mu / s
        second = self.weights @ ((mu ** 2 + s ** 2) * ndtr(a) + mu * s * _phi(a))
        return second - self.mean ** 2

    def latent(self) -> tuple[np.ndarray, np.ndarray]:
        """The uncensored z's mean and variance per column, (d,) each."""
        m = self.weights @ self.means
        return m, self.weights @ (self.stds ** 2 + self.means ** 2) - m ** 2


def _phi(a: np.ndarray) -> np.ndarray:
    """The standard normal density."""
    return np.exp(-0.5 * a * a) / math.sqrt(2 * math.pi)


Distribution = (GaussianMixture | StudentT | NoisyCircle | QuantisedMixture | BinaryMixture
                | CensoredMixture)
CLUSTERS = 50  # the modes of the `clusters` case


def make_distribution(name: str, d: int, seed: int = 0) -> Distribution:
    """Return the named distribution in R^d (toy2d is always 2-D; circle needs d >= 2).

    gauss_iso   N(0, I_d)
    gauss_aniso N(0, Q diag(s^2) Q^T), s log-spaced from 0.1 to 10, Q a random rotation
    mixture     three Gaussians, weights (0.6, 0.3, 0.1), isotropic std (1, 0.5, 0.25), means
                at distance 4 from the origin in random directions
    student_t   Student-t, nu = 3, scale I_d (heavy tails)
    circle      a circle of radius 1 in a random plane plus N(0, 0.05^2 I_d)
    toy2d       the MULDE authors' toy: (0.3 z + 4 c) / sqrt(2), z ~ N(0, I_2), c uniform on
                (1, 0), (-1, 0), (0, 1), (0, -1)
    lowrank_mix clusters on a 4-dimensional subspace (like real features: few directions of
                variation in many columns): five Gaussians with weights (0.4, 0.25, 0.15,
                0.12, 0.08), means B m_k with m_k ~ N(0, 4 I_4), covariances
                B diag(s_k^2) B^T + 0.1^2 I_d with s_k ~ U[0.3, 1]^4, B a random orthonormal
                (d, 4) basis (needs d >= 4); a Gaussian mixture, so its density is exact
    mfa         a mixture of factor analysers (Ghahramani & Hinton 1996): eight clusters, each
                varying along its own 4-dimensional subspace (as classes of digits or
                objects do in image features), weights (0.25, 0.2, 0.15, 0.12, 0.1, 0.08,
                0.06, 0.04), means m_k ~ N(0, 0.3^2 I_d), covariances
                B_k diag(s_k^2) B_k^T + 0.1^2 I_d with s_k ~ U[0.3, 1]^4 and B_k a random
                orthonormal (d, 4) basis per cluster (needs d >= 4); a Gaussian mixture
    quantised   integer-valued columns (counts, codes): a latent-class model
                (`QuantisedMixture`) of four components, weights (0.4, 0.3, 0.2, 0.1), each
                column N(mu, s^2) rounded to an integer, mu ~ N(0, 2^2), s log-uniform in
                [0.25, 2] per component and column (small s: columns of two or three values)
    mixed_quantised the same with the first half of the columns (d // 2) continuous
    clusters    many modes (as the objects of ALOI, the digits of mnist or the land covers of
                landsat form): 50 isotropic Gaussians with weights ~ Dirichlet(1, ..., 1),
                means ~ N(0, 3^2 I_d), standard deviations ~ U[0.3, 1]
    binary      binary attributes (as celeba's 39 face attributes, or one-hot codes): a
                latent-class model (`BinaryMixture`) of eight components, weights
                ~ Dirichlet(2, ..., 2), each column Bernoulli(p) with p ~ Beta(0.4, 0.4) clipped
                to [0.02, 0.98] per component and column (most columns nearly decided within
                a component, as attributes are)
    mixed_binary the same with the first half of the columns (d // 2) continuous, N(mu, s^2)
                per component with mu ~ N(0, 2^2) and s log-uniform in [0.25, 2] (as
                `quantised`'s): numbers beside flags, as in campaign's
    rare_binary `binary` with the first half of the columns (d // 2) rare: their p scaled by
                0.1 (0.002 to 0.098 per component), flags most rows leave unset (as 10 of
                celeba's 39 attributes, and campaign's rare one-hot codes, are set on under
                7 % of the training rows)
    censored    columns with a point mass at 0 (as ALOI's colour-histogram bins, donors'
                and smtp's counts or ReLU features hold): a latent-class model
                (`CensoredMixture`) of four components, weights (0.4, 0.3, 0.2, 0.1), each
                column max(z, 0) with z ~ N(mu, s^2), mu ~ N(0, 1.5^2) and s log-uniform in
                [0.25, 2] per component and column (the suite's d 8, 16 and 32 hold
                0.04 to 0.86 of a column's rows at 0, most a fifth to three quarters; one
                column of each under a fifth, which `quantisation_steps` gives no
                point-mass cell); the point mass counted per unit of the column's standard
                deviation
    Raises ValueError for an unknown name or a d the distribution cannot have.
    """
    rng = np.random.default_rng([seed, d, DISTRIBUTIONS.index(name) if name in DISTRIBUTIONS
                                 else 99])
    if name not in DISTRIBUTIONS:
        raise ValueError(f"unknown distribution {name!r}; choose from {DISTRIBUTIONS}")
    if d < 1 or (name == "circle" and d < 2) or (name == "toy2d" and d != 2) or (
            name in ("lowrank_mix", "mfa") and d < 4):
        raise ValueError(f"{name} cannot have d = {d}")
    eye = np.eye(d)
    if name == "gauss_iso":
        return GaussianMixture(np.ones(1), np.zeros((1, d)), eye[None])
    if name == "gauss_aniso":
        q = _orthogonal(d, rng)
        s = np.logspace(-1, 1, d) if d > 1 else np.ones(1)
        return GaussianMixture(np.ones(1), np.zeros((1, d)), (q * s ** 2 @ q.T)[None])
    if name == "mixture":
        dirs = rng.standard_normal((3, d))
        dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
        stds = np.array([1.0, 0.5, 0.25])
        return GaussianMixture(np.array([0.6, 0.3, 0.1]), 4.0 * dirs,
                               stds[:, None, None] ** 2 * eye)
    if name == "student_t":
        return StudentT(d)
    if name == "circle":
        return NoisyCircle(_orthogonal(d, rng)[:, :2])
    if name == "lowrank_mix":
        basis = _orthogonal(d, rng)[:, :4]
        latent_means = 2.0 * rng.standard_normal((5, 4))
        latent_stds = rng.uniform(0.3, 1.0, size=(5, 4))
        covs = np.einsum("ia,ka,ja->kij", basis, latent_stds ** 2, basis) + 0.01 * eye
        return GaussianMixture(np.array([0.4, 0.25, 0.15, 0.12, 0.08]),
                               latent_means @ basis.T, covs)
    if name == "mfa":
        bases = np.stack([_orthogonal(d, rng)[:, :4] for _ in range(8)])  # (8, d, 4)
        latent_stds = rng.uniform(0.3, 1.0, size=(8, 4))
        covs = np.einsum("kia,ka,kja->kij", bases, latent_stds ** 2, bases) + 0.01 * eye
        weights = np.array([0.25, 0.2, 0.15, 0.12, 0.1, 0.08, 0.06, 0.04])
        return GaussianMixture(weights, 0.3 * rng.standard_normal((8, d)), covs)
    if name in ("quantised", "mixed_quantised"):
        means = 2.0 * rng.standard_normal((4, d))
        stds = np.exp(rng.uniform(math.log(0.25), math.log(2.0), size=(4, d)))
        steps = np.ones(d)
        if name == "mixed_quantised":
            steps[:d // 2] = 0.0
        return QuantisedMixture(np.array([0.4, 0.3, 0.2, 0.1]), means, stds, steps)
    if name == "clusters":
        weights = rng.dirichlet(np.ones(CLUSTERS))
        means = 3.0 * rng.standard_normal((CLUSTERS, d))
        stds = rng.uniform(0.3, 1.0, CLUSTERS)
        return GaussianMixture(weights, means, np.einsum("k,ij->kij", stds ** 2, eye))
    if name in ("binary", "mixed_binary", "rare_binary"):
        weights = rng.dirichlet(np.full(8, 2.0))
        probs = rng.beta(0.4, 0.4, size=(8, d)).clip(0.02, 0.98)
        if name == "rare_binary":
            probs[:, :d // 2] *= 0.1
        means = 2.0 * rng.standard_normal((8, d))
        stds = np.exp(rng.uniform(math.log(0.25), math.log(2.0), size=(8, d)))
        binary = np.ones(d, dtype=bool)
        if name == "mixed_binary":
            binary[:d // 2] = False
        return BinaryMixture(weights, probs, means, stds, binary)
    if name == "censored":
        weights = np.array([0.4, 0.3, 0.2, 0.1])
        means = 1.5 * rng.standard_normal((4, d))
        stds = np.exp(rng.uniform(math.log(0.25), math.log(2.0), size=(4, d)))
        unit = CensoredMixture(weights, means, stds, np.ones(d))
        return CensoredMixture(weights, means, stds, np.sqrt(unit.variances))
    centres = np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, -1.0]])
    return GaussianMixture(np.full(4, 0.25), 4 * centres / math.sqrt(2),
                           np.tile(eye * 0.09 / 2, (4, 1, 1)))


def broader(dist: Distribution
            ) -> GaussianMixture | QuantisedMixture | BinaryMixture | CensoredMixture:
    """N(mean, 4 cov) of the distribution: twice its spread, samples that should look
    anomalous (scored against the *original* density). For a `QuantisedMixture`, whose
    density is defined on its lattices only, the product of N(mean_j, 4 var_j) with its
    quantised columns rounded the same way (one component: the columns' dependence is not
    kept). For a `BinaryMixture` likewise one component, its binary columns Bernoulli((m_j +
    1/2) / 2), halfway from the column's mean m_j to a fair coin (more uncertain flags). For
    a `CensoredMixture` one component censored at 0 likewise, its latent z ~ N(m_j, 4 v_j)
    with z's own mean m_j and variance v_j (a point mass of another size, a continuous part
    twice as spread)."""
    if isinstance(dist, CensoredMixture):
        m, v = dist.latent()
        return CensoredMixture(np.ones(1), m[None], 2.0 * np.sqrt(v)[None], dist.cells)
    if isinstance(dist, BinaryMixture):
        m, sd = dist.mean, np.sqrt(np.diag(dist.cov))
        probs = np.where(dist.binary, (m + 0.5) / 2, 0.5)
        return BinaryMixture(np.ones(1), probs[None], m[None], 2.0 * sd[None], dist.binary)
    if isinstance(dist, QuantisedMixture):
        return QuantisedMixture(np.ones(1), dist.mean[None],
                                2.0 * np.sqrt(np.diag(dist.cov))[None], dist.steps)
    return GaussianMixture(np.ones(1), dist.mean[None], 4.0 * dist.cov[None])
