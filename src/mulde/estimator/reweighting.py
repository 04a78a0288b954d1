"""Mode reweighting: each mode of the training data gets an equal share of the denoising loss,
and its log mass is added back to the energies.

Why (issue 15, benchmarks/density_fidelity.md, "Mode heights on many modes"): denoising
score matching fits a mode in proportion to its share of the loss, so a mode of few training
rows is fitted late and left with too high an energy: on 50 Gaussian modes in d 36 (2,500
rows) a mode's energy rose ~19 nats per e-fold fewer rows where the truth rises 1, and drawing
every mode's rows to equal counts (an oracle that knew the modes) brought it to the truth.

How, without labels: a Gaussian mixture with diagonal covariances, p(x) = sum_k pi_k p_k(x),
is fitted on the standardised training rows, its number of components K chosen by BIC over
1, 2, 4, ..., 64 (Schwarz 1978; scikit-learn's `GaussianMixture.bic`). Its equal-weight twin
q(x) = sum_k p_k(x) / K gives every component the same mass. Training draws each row in
proportion to w(x) = q(x) / p(x) (importance weights: the weighted rows are a
sample of the density the data would have with equal modes), and the energies of any row x
are raised by -log r(x), r(x) = p(x) / q(x), so that the network's -log of the equal-mode
density becomes -log p's again (the modes' masses, as the mixture sees them). Where BIC
chooses one component, r = 1: no weights, no term, the unweighted fit exactly.

Separated modes (reweight="separated_modes", density-fidelity round 62): a mixture's
components are not its modes. A heavy tail, a curve or one broad cluster is fitted by several
overlapping components, and equalising those flattens the density inside one mode (round 61:
`student_t`, `circle`, `mixture` d 32 lost). Components are joined into one mode where they
overlap: where the training rows of either hold on average at least `OVERLAP` of their
posterior on the other (`join_overlapping`; connected components of that graph). The twin
then gives each of the G modes the mass 1 / G and keeps the components' proportions inside
it, q(x) = sum_k t_k p_k(x), t_k = pi_k / (G m_g(k)), m_g a mode's mass; with one mode, r = 1
again (no weights, no term). The mixture keeps each component's mode (`ModeMixture.labels`),
from which t follows: the weights and t alone do not give the modes back (two modes of equal
mass have the same pi_k / t_k = G m_g).

Bounded gains (`max_gain`, density-fidelity round 63): a mode of a few outlying rows (a
speck: a tail's far component, a rare lattice value) is as separate as a real mode, and an
equal share 1 / G gives its rows, among few modes, most of the training draws (ADBench's
annthyroid, seed 1: three modes of two rows each took 3/4 of them). Truncated importance
weights (Ionides 2008, "Truncated importance sampling") bound that: each mode's share is
min(1 / G, A m_g), renormalised by their sum S. A mode's gain (its share over its mass, how
many times as often its rows are drawn as unweighted) is then at most A / S, and S >= 1 / G
(the largest mode keeps 1 / G): up to G A where every other mode is bounded too (annthyroid's
three specks at A = 10: a gain of 37.5 each, 6 % of the draws together), and A itself only
where S is near 1. The energies' term uses the same twin (`ModeMixture.targets`), so -log r
gives -log p back whatever the shares.

Principal directions (`variance_share`, density-fidelity round 65): near a curve or a few
directions of many columns, the diagonal components' small differences in fitted variance
over the columns of noise add up until every posterior is 0 or 1, and the join sees many
"separated" modes in one shape (`circle` d 64: 16). Fitted on the rows' coordinates y =
x @ B along their leading principal directions B (d, r) holding a share of their variance
(`principal_basis`), the mixture and the join see the shape. The ratio is then p(y) / q(y)
of the projected rows: the twin q(x) = p(x) q(y) / p(y) reweights along those directions
and leaves the rest of each row's density, given y, as it is, so -log r still gives -log p
back. An option (`MULDE(mode_variance_share=...)`), not the default: round 65 found it level
with the d-coordinate mixture over its thirteen cases.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from scipy.sparse.csgraph import connected_components
from sklearn.mixture import GaussianMixture

COMPONENT_GRID = (1, 2, 4, 8, 16, 32, 64)
"""The numbers of mixture components BIC chooses among."""

BIC_PATIENCE = 2
"""The search stops after this many grid steps in a row without a lower BIC (the larger K are
not fitted). Added after round 62 for speed (a Gaussian of 18,000 rows at d 512: 64.5 s
for the whole grid, 7 s to K = 4, one thread of an AMD EPYC): on the round's 39 fits and
ADBench's 24 training halves of >= 1,000 rows (seed 0) it chose the K the whole grid chose,
every time (benchmarks/density_fidelity.md, "Round 62 outcome")."""

MIN_ROWS_PER_COMPONENT = 5
"""A K is tried only where the rows number at least this many per component."""

MIN_ROWS = 1000
"""Fewer rows than this (those given to fit, the validation split included) are not
reweighted: the modes' masses are not estimated."""

AUTO_MAX_FEATURES = 256
"""reweight="auto" (`MULDE`'s default) reweights separated modes up to this many features,
and fits every row alike past them: round 62's cases reach d 128 (no evidence above), and at
d 512 the search (K = 1, 2, 4 on a Gaussian of 18,000 rows: 7 s) would take the default's
fit past issue 15's bound of twice the fit time before it (1.96x already; docs/detector.md,
"Measured here"). reweight="separated_modes" or "modes" reweight at any width."""

MAX_MODE_GAIN = 10.0
"""`MULDE(max_mode_gain=...)`'s default since density-fidelity round 63 (seeds 76-78, 11
cases: merit 0.9035 -> 0.9096, calibration 0.0063 -> 0.0068): each separated mode's share
min(1 / G, 10 m_g), renormalised (`ModeMixture.shares`); written down before the round's
numbers (benchmarks/density_fidelity.md, "Round 63")."""

REG_COVAR = 1e-3
"""Added to each variance (the rows are standardised: a thousandth of a column's variance),
so that a component on a few (or repeated) rows keeps a finite density."""

OVERLAP = 0.01
"""`join_overlapping`: two components are one mode where the rows of either hold on average
at least this share of their posterior on the other (1 %; written down before round 62's
numbers: on well-separated clusters the share is ~1e-10, on components splitting one
Gaussian 0.05-0.3)."""


@dataclass(frozen=True)
class ModeMixture:
    """A fitted diagonal Gaussian mixture in the network's input coordinates (standardised,
    whitened where the model whitens): means (K, d), variances (K, d), weights (K,) summing
    to 1, as float64 arrays; labels (K,) int64, the mode 0..G-1 of each component (each of
    0..G-1 used, G >= 2: reweight="separated_modes"), or None where the twin weighs every
    component 1 / K (reweight="modes"); max_gain A (>= 1), with labels, bounds each mode's
    share (`shares`), None for the equal 1 / G. basis (d, r) float64, orthonormal columns:
    the mixture lives on the rows' coordinates x @ basis along their leading principal
    directions (`principal_basis`; means and variances then (K, r)), None for the rows'
    own d coordinates."""

    means: np.ndarray
    variances: np.ndarray
    weights: np.ndarray
    labels: np.ndarray | None = None
    max_gain: float | None = None
    basis: np.ndarray | None = None

    @property
    def n_components(self) -> int:
        """K, the number of components."""
        return len(self.weights)

    @property
    def targets(self) -> np.ndarray | None:
        """The twin q's weights t (K,) float64 summing to 1, or None for the equal 1 / K (no
        `labels`): t_k = pi_k s_g(k) / m_g(k), m_g the mass of component k's mode
        (`masses`) and s_g its share (`shares`), so that each mode has twin mass s_g and keeps
        its components' proportions."""
        if self.labels is None:
            return None
        return self.weights * (self.shares / self.masses)[self.labels]

    @property
    def shares(self) -> np.ndarray | None:
        """The modes' masses in the twin (G,) float64 summing to 1 (None without `labels`):
        1 / G each, or with `max_gain` A min(1 / G, A m_g) / S, S the sum of those minima
        (truncated importance weights): a mode's gain s_g / m_g is at most A / S <= G A, not
        A (the module docstring)."""
        masses = self.masses
        if masses is None:
            return None
        shares = np.full(len(masses), 1.0 / len(masses))
        if self.max_gain is None:
            return shares
        shares = np.minimum(shares, self.max_gain * masses)
        return shares / shares.sum()

    @property
    def masses(self) -> np.ndarray | None:
        """The modes' masses m_g (G,) float64, sum of their components' weights (None
        without `labels`)."""
        return None if self.labels is None else np.bincount(self.labels, weights=self.weights)

    def log_ratio(self, x: torch.Tensor) -> torch.Tensor:
        """log r(x) = log p(x) - log q(x) of rows x (n, d) as float64 (n,): the log of the
        mixture's density over its twin's (equal weights, or `targets`; zero for one
        component); with `basis`, of x's coordinates x @ basis."""
        x = x.to(torch.float64)
        if self.basis is not None:
            x = x @ torch.as_tensor(self.basis, dtype=torch.float64, device=x.device)
        return mixture_log_ratio(*(torch.as_tensor(a, dtype=torch.float64, device=x.device)
                                   if a is not None else None
                                   for a in (x, self.means, self.variances, self.weights,
                                             self.targets)))

    def row_weights(self, x: torch.Tensor) -> torch.Tensor:
        """The training rows' (n, d) importance weights w = 1 / r, float64 (n,)."""
        return torch.exp(-self.log_ratio(x))

    def arrays(self) -> dict[str, np.ndarray]:
        """The mixture as named arrays (a saved model's; "labels" where it has them, and
        "max_gain" (1,) float64 where its shares are bounded: the bound it was fitted with,
        which a file keeps even where `MULDE.set_params` changed max_mode_gain since;
        "basis" (d, r) where the mixture lives on principal coordinates)."""
        out = {"means": self.means, "variances": self.variances, "weights": self.weights}
        if self.basis is not None:
            out |= {"basis": self.basis}
        if self.labels is None:
            return out
        out |= {"labels": self.labels}
        if self.max_gain is not None:
            out |= {"max_gain": np.array([self.max_gain], dtype=np.float64)}
        return out


def mixture_log_ratio(x: torch.Tensor, means: torch.Tensor, variances: torch.Tensor,
                      weights: torch.Tensor, targets: torch.Tensor | None = None
                      ) -> torch.Tensor:
    """log r(x) (n,) of float64 rows x (n, d) for a diagonal mixture of means and variances
    (K, d) and weights (K,) over its twin of weights `targets` (K,), None for the equal 1 / K
    (float64 tensors): `ModeMixture.log_ratio`'s work, in torch operations alone, which the
    ONNX graph traces too (`mulde.estimator.export`)."""
    # log p_k(x) up to the constant -d/2 log 2 pi, which cancels in the ratio: (n, K); the
    # quadratic form expanded into products of (n, d) and (d, K), so that no (n, K, d) array
    # is built (20,000 rows, 64 components and 512 features: 5 GB)
    log_p = -0.5 * quadratic_forms(x, means, variances)
    # r = K sum_k pi_k post_k, post the equal-weight twin's posteriors: a convex combination,
    # so log(K min pi) <= log r <= log(K max pi) to the last bits however far x lies (the
    # difference of two logsumexps lost log pi_k beside a log p_k of -1e20, which a row 1e9
    # deviations out has, and gave log K)
    if targets is None:
        return torch.log(torch.softmax(log_p, dim=1) @ weights) + math.log(weights.shape[0])
    # likewise r = sum_k (pi_k / t_k) post_k, post the twin's posteriors: log r between the
    # log of the least and the greatest pi_k / t_k
    return torch.log(torch.softmax(log_p + torch.log(targets), dim=1) @ (weights / targets))


def quadratic_forms(x: torch.Tensor, means: torch.Tensor, variances: torch.Tensor
                    ) -> torch.Tensor:
    """sum_j (x_ij - m_kj)^2 / v_kj + sum_j log v_kj for rows x (n, d), means and variances
    (K, d), as (n, K): minus twice the log-density of a diagonal Gaussian, its constant
    d log 2 pi left out; computed as x^2 @ (1 / v)^T - 2 x @ (m / v)^T + sum (m^2 / v +
    log v), without an (n, K, d) array (used by `ModeMixture.log_ratio` and the ONNX graph)."""
    precision = 1.0 / variances
    return ((x * x) @ precision.T - 2.0 * x @ (means * precision).T
            + (means * means * precision + torch.log(variances)).sum(-1)[None])


def join_overlapping(posteriors: np.ndarray, overlap: float = OVERLAP) -> np.ndarray:
    """The mode (int labels 0..G-1, (K,)) of each of K components, from the posteriors (n, K)
    of the rows they were fitted on: components i and j are joined where M_ij or M_ji is at
    least `overlap`, M_ij = sum_n post_ni post_nj / sum_n post_ni (the mean posterior on j of
    i's rows), and the modes are the connected components of that graph (a component no row
    holds is a mode of its own)."""
    post = np.asarray(posteriors, dtype=np.float64)
    held = post.sum(axis=0)
    shares = (post.T @ post) / np.where(held > 0, held, 1.0)[:, None]
    joined = np.maximum(shares, shares.T) >= overlap
    return connected_components(joined, directed=False)[1]


def principal_basis(x: np.ndarray, share: float) -> np.ndarray:
    """The leading principal directions (d, r) float64 (orthonormal columns, largest variance
    first) of rows x (n, d): the eigenvectors of their covariance (n - 1 divisor) whose
    eigenvalues, largest first, are the fewest to reach `share` (0 < share <= 1) of its
    trace (Pearson 1901; Jolliffe 2002, "Principal Component Analysis", sec. 6.1.1, the
    cumulative percentage of total variation). On standardised rows this counts as
    `mulde.core.training.principal_directions` does. r is 1 for rows whose trace is 0
    (constant rows). ValueError for share outside (0, 1] or fewer than 2 rows."""
    if not 0 < share <= 1:
        raise ValueError(f"share must be in (0, 1], got {share}")
    x = np.asarray(x, dtype=np.float64)
    if len(x) < 2:
        raise ValueError(f"principal directions need at least 2 rows, got {len(x)}")
    values, vectors = np.linalg.eigh(np.cov(x, rowvar=False).reshape(x.shape[1], -1))
    values, vectors = np.clip(values[::-1], 0.0, None), vectors[:, ::-1]
    total = values.sum()
    if total <= 0:
        return np.ascontiguousarray(vectors[:, :1])
    # the fewest leading values reaching the share (a rounding's margin, so that share 1
    # keeps no direction of zero variance beyond those needed)
    r = int(np.searchsorted(np.cumsum(values), share * total * (1 - 1e-12))) + 1
    return np.ascontiguousarray(vectors[:, :min(r, len(values))])


def fit_mode_mixture(x: np.ndarray, seed: int, rows: np.ndarray | None = None,
                     separated: bool = False, max_gain: float | None = None,
                     variance_share: float | None = None) -> ModeMixture | None:
    """Fit the mixture on rows x (n, d) (standardised), or on those of them that the indices
    `rows` (int, in 0..n-1) name (`MULDE.fit`: the training split, the validation rows left
    out, which then score as new rows do); None where x has fewer than `MIN_ROWS` rows or
    BIC chooses one component (nothing to reweight). Each K of `COMPONENT_GRID` with at
    least `MIN_ROWS_PER_COMPONENT` of the fitted rows per component is fitted once (k-means
    initialisation, random_state=seed), in increasing order until `BIC_PATIENCE` in a row
    have no lower BIC than the best so far, and the lowest BIC kept. With `separated`, its
    components are joined into modes (`join_overlapping`, on the fitted rows; kept as
    `ModeMixture.labels`) and the twin gives each mode an equal mass (the module docstring,
    `ModeMixture.targets`), with `max_gain` bounding each mode's share
    (`ModeMixture.shares`); None where they make one mode. With `variance_share`, the
    mixture is fitted on the fitted rows' coordinates along their leading principal
    directions holding that share of their variance (`principal_basis`, kept as
    `ModeMixture.basis`), not on their d coordinates."""
    x = np.asarray(x, dtype=np.float64)
    if len(x) < MIN_ROWS:
        return None
    if rows is not None:
        x = x[rows]
    basis = None
    if variance_share is not None:
        basis = principal_basis(x, variance_share)
        x = x @ basis
    best: tuple[float, GaussianMixture] | None = None
    worse = 0  # grid steps in a row whose BIC is above the best so far
    for k in COMPONENT_GRID:
        if k * MIN_ROWS_PER_COMPONENT > len(x) or worse == BIC_PATIENCE:
            break
        gmm = GaussianMixture(k, covariance_type="diag", reg_covar=REG_COVAR,
                              random_state=seed).fit(x)
        bic = gmm.bic(x)
        if best is None or bic < best[0]:
            best, worse = (bic, gmm), 0
        else:
            worse += 1
    if best is None or best[1].n_components == 1:
        return None
    gmm = best[1]
    labels = None
    if separated:
        labels = join_overlapping(gmm.predict_proba(x)).astype(np.int64)
        if labels.max() == 0:
            return None
    return ModeMixture(gmm.means_.astype(np.float64), gmm.covariances_.astype(np.float64),
                       gmm.weights_.astype(np.float64), labels, max_gain if separated else None,
                       basis)
