"""Whitening of standardised training rows: the map that makes their covariance the identity.

MULDE's noise levels are one number for every direction of the input; after per-column
standardisation a rotated covariance can still differ many-fold between directions, so a
level that is small for the wide directions swamps the thin ones. Multiplying the
standardised rows by C^(-1/2) makes the training covariance the identity, so each level is
the same fraction of the data's spread in every direction. A linear map changes log p(x) by
a constant only, so the ranking of samples by density is unchanged (issue 15, round 6;
benchmarks/density_fidelity.md).
"""

from __future__ import annotations

import numpy as np
from sklearn.covariance import LedoitWolf

WHITENINGS = ("ledoit_wolf",)


def ledoit_wolf_whitening(Z: np.ndarray) -> np.ndarray | None:
    """Return the symmetric (ZCA) whitening matrix W = C^(-1/2), (d, d) float64, of the
    centred rows Z (n, d), C their Ledoit-Wolf shrunk covariance (Ledoit & Wolf 2004,
    "A well-conditioned estimator for large-dimensional covariance matrices";
    `sklearn.covariance.LedoitWolf` with `assume_centered=True`): C = (1 - a) S + a mu I,
    S the sample covariance (divided by n), mu its mean eigenvalue and a in [0, 1] estimated
    from Z alone, so C is invertible whenever Z is not all zeros. Rows whiten as Z @ W.

    Returns None when Z has no spread at all (every column constant: nothing to whiten).
    """
    Z = np.asarray(Z, dtype=np.float64)
    if Z.ndim != 2 or len(Z) < 2:
        raise ValueError(f"whitening needs a (n >= 2, d) array, got shape {Z.shape}")
    C = LedoitWolf(assume_centered=True).fit(Z).covariance_
    eigenvalues, vectors = np.linalg.eigh((C + C.T) / 2)
    largest = eigenvalues.max(initial=0.0)
    if largest <= 0:
        return None
    floor = largest * np.finfo(np.float64).eps * len(C)  # rounding below 0 stays finite
    inverse_root = 1.0 / np.sqrt(np.maximum(eigenvalues, floor))
    return (vectors * inverse_root) @ vectors.T
