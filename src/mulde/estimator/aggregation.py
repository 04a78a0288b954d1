"""Aggregators: turn the (n, L) multiscale energies into one anomaly score per sample.

MEAN_ENERGY, MEAN_ENERGY_VALIDATED, MEAN_Z, MAX_Z and SINGLE are monotone in the energies (a
higher energy at any level never makes a sample look more normal); GMM is not (it is
two-sided: a sample whose energies are far *below* the training ones is flagged as well).
MEAN_ENERGY keeps each level's own spread (the levels are aligned by the regulariser), MEAN_Z
gives every level unit weight. MEAN_ENERGY_VALIDATED is MEAN_ENERGY over the noise levels at
which the training rows the network never fitted (its validation rows) score like the rows
it fitted (`generalising_levels`): a level at which the fitted rows score lower has
memorised them, and its energies rank new samples by their distance to training rows.

CV_LEVEL and STACKED compare the levels' energies with one another, which is meaningful only
for a network trained with time-score matching (`time_score > 0`): the levels' energies are
then -log q_sigma(x) up to one constant shared by all levels, so the validation rows' energies
are their held-out negative log-likelihoods under each smoothed density, up to that constant.
CV_LEVEL scores with the level of the highest held-out likelihood (the noise level chosen as a
kernel density estimate's bandwidth is, by held-out likelihood); STACKED with the mixture of
the levels' densities whose weights maximise it (Smyth & Wolpert 1999, "Linearly combining
density estimators via stacking"). Both are monotone in the energies.

Every aggregator is fitted on the training samples' energies only (never on test labels) and
returns anomaly scores (higher = more anomalous). Their state is a dict of arrays, so that a
model saves to safetensors without pickle.
"""

from __future__ import annotations

from enum import Enum

import numpy as np
from scipy.stats import rankdata
from sklearn.mixture import GaussianMixture


class Aggregation(str, Enum):
    """How per-scale energies become one score."""

    GMM = "gmm"  # -log-likelihood of a Gaussian mixture fitted on training energy vectors
    MEAN_Z = "mean_z"  # mean over scales of per-scale z-scores (training statistics)
    MAX_Z = "max_z"  # max over scales of per-scale z-scores
    MEAN_ENERGY = "mean_energy"  # mean over scales of the energies, centred per scale
    SINGLE = "single"  # the energy at one scale
    MEAN_ENERGY_VALIDATED = "mean_energy_validated"  # MEAN_ENERGY over generalising levels
    CV_LEVEL = "cv_level"  # the level with the highest held-out likelihood
    STACKED = "stacked"  # mixture of the levels' densities, weights by held-out likelihood


LEVEL_COMPARING = (Aggregation.CV_LEVEL, Aggregation.STACKED)
"""Aggregators that compare the levels' energies with one another: they need time-score
matching (one constant shared by the levels)."""
HELD_OUT_CHOOSING = (Aggregation.MEAN_ENERGY_VALIDATED, *LEVEL_COMPARING)
"""Aggregators that choose their levels (or weights) on the held-out rows, and are
MEAN_ENERGY over every level without them."""


MEMORISATION_Z = 2.0
"""How many null standard errors a level's held-out AUC may exceed 0.5 and still count as
generalising (`generalising_levels`)."""


def _held_rows(n: int, held: np.ndarray | None) -> np.ndarray | None:
    """The unique held-out row indices, or None when they cannot serve (none, or all rows)."""
    held = np.unique(np.asarray(held if held is not None else [], dtype=np.int64))
    return None if held.size == 0 or held.size >= n else held


def generalising_levels(energies: np.ndarray, held: np.ndarray | None,
                        z: float = MEMORISATION_Z) -> np.ndarray:
    """Return the indices (ascending) of the noise levels whose energies generalise: a block
    ending at the largest level, the columns being ordered by noise level (ascending, the
    estimator's `sigmas_`).

    energies: (n, L) of the training rows; held: indices of the rows the network never
    fitted (its validation rows). Per level, the AUC of the held rows against the fitted rows
    (Mann-Whitney U / (n_held n_fitted), ties counted half: the chance that a held row scores
    higher) measures memorisation: 0.5 when both come from one distribution, as they do for a
    network that generalises. A level passes when its AUC is at most 0.5 + z * SE, SE =
    sqrt((n_held + n_fitted + 1) / (12 n_held n_fitted)) the AUC's standard error under that
    null (Hanley & McNeil 1982). Kept: the largest level and every level below it down to the
    first that fails (memorisation grows as the noise shrinks, so the kept levels are one
    block at the top); the largest level alone when it fails too. Without held rows (none,
    or all rows held) every level is kept.
    """
    n, n_levels = energies.shape
    held = _held_rows(n, held)
    if held is None:
        return np.arange(n_levels)
    fitted = np.setdiff1d(np.arange(n), held)
    n_h, n_f = held.size, fitted.size
    se = np.sqrt((n_h + n_f + 1) / (12.0 * n_h * n_f))
    ranks = rankdata(np.concatenate([energies[held], energies[fitted]]), axis=0)
    auc = (ranks[:n_h].sum(axis=0) - n_h * (n_h + 1) / 2) / (n_h * n_f)
    passed = auc <= 0.5 + z * se
    first = n_levels - 1
    while first > 0 and passed[first - 1] and passed[first]:
        first -= 1
    return np.arange(first, n_levels)


STACKING_MAX_ITER = 1000
STACKING_TOL = 1e-9
"""The EM of `stacking_weights` stops after this many iterations, or once the held-out mean
log-likelihood rises by less than STACKING_TOL nats in one."""


def cv_level(energies: np.ndarray, held: np.ndarray) -> int:
    """Return the index of the level whose held-out rows have the lowest mean energy, i.e.
    the highest mean held-out log-likelihood when the levels share one constant (time-score
    matching). energies: (n, L) of the training rows; held: indices (m,) of the rows the
    network never fitted. Ties go to the lowest index."""
    return int(np.argmin(energies[held].mean(axis=0)))


def stacking_weights(held_energies: np.ndarray, max_iter: int = STACKING_MAX_ITER,
                     tol: float = STACKING_TOL) -> np.ndarray:
    """Return the mixture weights w (L,), w >= 0 summing to 1, that maximise the mean of
    log sum_l w_l exp(-f_l) over the held-out rows' energies f (m, L): stacked density
    estimation (Smyth & Wolpert 1999) of the levels' densities exp(-f_l), which share one
    unknown constant that leaves w unchanged. EM from equal weights (the objective is concave
    in w): responsibilities r_il = w_l exp(-f_il) / sum_k w_k exp(-f_ik), then w_l = mean_i
    r_il; stops after max_iter iterations or when the objective rises by less than tol."""
    log_p = -np.asarray(held_energies, dtype=np.float64)
    log_p = log_p - log_p.max()  # the shared constant: any shift leaves w unchanged
    m, n_levels = log_p.shape
    w = np.full(n_levels, 1.0 / n_levels)
    previous = -np.inf
    for _ in range(max_iter):
        with np.errstate(divide="ignore"):
            joint = log_p + np.log(w)
        top = joint.max(axis=1, keepdims=True)
        mix = top[:, 0] + np.log(np.exp(joint - top).sum(axis=1))
        objective = float(mix.mean())
        if objective - previous < tol:
            break
        previous = objective
        w = np.exp(joint - mix[:, None]).mean(axis=0)
        w = w / w.sum()
    return w


def fit_aggregator(kind: Aggregation | str, energies: np.ndarray, *, n_components: int = 1,
                   covariance_type: str = "full", scale_index: int | None = None,
                   seed: int = 0, held: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Fit the aggregator on training energies (n, L); return its state as arrays. `held`:
    the indices of the rows the network never fitted (MEAN_ENERGY_VALIDATED only)."""
    kind = Aggregation(kind)
    n_levels = energies.shape[1]
    if kind is Aggregation.GMM:
        if energies.shape[0] < n_components:
            raise ValueError(f"GMM with {n_components} components needs at least as many "
                             f"training samples, got {energies.shape[0]}")
        gmm = GaussianMixture(n_components=n_components, covariance_type=covariance_type,
                              reg_covar=1e-6, random_state=seed, n_init=1)
        gmm.fit(energies)
        return {"weights": gmm.weights_, "means": gmm.means_,
                "covariances": gmm.covariances_, "precisions_cholesky": gmm.precisions_cholesky_}
    if kind is Aggregation.SINGLE:
        index = n_levels // 2 if scale_index is None else scale_index
        if not -n_levels <= index < n_levels:
            raise ValueError(f"scale_index {index} out of range for {n_levels} noise levels")
        return {"index": np.array([index % n_levels])}
    mu = energies.mean(axis=0)
    if kind in LEVEL_COMPARING:
        rows = _held_rows(energies.shape[0], held)
        if rows is None:  # nothing held out: MEAN_ENERGY
            return {"mean": mu, "levels": np.arange(n_levels)}
        if kind is Aggregation.CV_LEVEL:
            return {"mean": mu, "levels": np.array([cv_level(energies, rows)])}
        return {"weights": stacking_weights(energies[rows])}
    if kind is Aggregation.MEAN_ENERGY:
        return {"mean": mu}
    if kind is Aggregation.MEAN_ENERGY_VALIDATED:
        return {"mean": mu, "levels": generalising_levels(energies, held)}
    sd = energies.std(axis=0)
    return {"mean": mu, "std": np.where(sd > 0, sd, 1.0)}


def aggregate(kind: Aggregation | str, state: dict[str, np.ndarray], energies: np.ndarray,
              covariance_type: str = "full") -> np.ndarray:
    """Return one anomaly score per row of energies (n, L), higher = more anomalous."""
    kind = Aggregation(kind)
    if kind is Aggregation.GMM:
        return -_gmm(state, covariance_type).score_samples(energies)
    if kind is Aggregation.SINGLE:
        return energies[:, int(state["index"][0])].astype(np.float64)
    if kind is Aggregation.MEAN_ENERGY:
        return (energies - state["mean"]).mean(axis=1)
    if kind is Aggregation.STACKED and "weights" in state:
        with np.errstate(divide="ignore"):
            joint = np.log(state["weights"]) - np.asarray(energies, dtype=np.float64)
        top = joint.max(axis=1, keepdims=True)
        return -(top[:, 0] + np.log(np.exp(joint - top).sum(axis=1)))
    if kind in HELD_OUT_CHOOSING:
        levels = state["levels"]
        return (energies[:, levels] - state["mean"][levels]).mean(axis=1)
    z = (energies - state["mean"]) / state["std"]
    return z.mean(axis=1) if kind is Aggregation.MEAN_Z else z.max(axis=1)


def _gmm(state: dict[str, np.ndarray], covariance_type: str) -> GaussianMixture:
    """Rebuild a fitted GaussianMixture from its arrays (no pickle)."""
    weights = state["weights"]
    gmm = GaussianMixture(n_components=len(weights), covariance_type=covariance_type)
    gmm.weights_ = weights
    gmm.means_ = state["means"]
    gmm.covariances_ = state["covariances"]
    gmm.precisions_cholesky_ = state["precisions_cholesky"]
    gmm.n_features_in_ = state["means"].shape[1]
    gmm.converged_ = True
    return gmm
