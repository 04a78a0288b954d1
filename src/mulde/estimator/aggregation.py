"""Aggregators: turn the (n, L) multiscale energies into one anomaly score per sample.

MEAN_ENERGY, MEAN_Z, MAX_Z and SINGLE are monotone in the energies (a higher energy at any
level never makes a sample look more normal); GMM is not (it is two-sided: a sample whose
energies are far *below* the training ones is flagged as well). MEAN_ENERGY keeps each level's
own spread (the levels are aligned by the regulariser), MEAN_Z gives every level unit weight.

Every aggregator is fitted on the training samples' energies only (never on test labels) and
returns anomaly scores (higher = more anomalous). Their state is a dict of arrays, so that a
model saves to safetensors without pickle.
"""

from __future__ import annotations

from enum import Enum

import numpy as np
from sklearn.mixture import GaussianMixture


class Aggregation(str, Enum):
    """How per-scale energies become one score."""

    GMM = "gmm"  # -log-likelihood of a Gaussian mixture fitted on training energy vectors
    MEAN_Z = "mean_z"  # mean over scales of per-scale z-scores (training statistics)
    MAX_Z = "max_z"  # max over scales of per-scale z-scores
    MEAN_ENERGY = "mean_energy"  # mean over scales of the energies, centred per scale
    SINGLE = "single"  # the energy at one scale


def fit_aggregator(kind: Aggregation | str, energies: np.ndarray, *, n_components: int = 1,
                   covariance_type: str = "full", scale_index: int | None = None,
                   seed: int = 0) -> dict[str, np.ndarray]:
    """Fit the aggregator on training energies (n, L); return its state as arrays."""
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
    if kind is Aggregation.MEAN_ENERGY:
        return {"mean": mu}
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
