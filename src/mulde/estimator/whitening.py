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
    from Z alone. Rows whiten as Z @ W. C can still be singular where a is estimated 0 (rows
    exactly on a subspace, e.g. +-v): eigenvalues below largest * eps * d are raised to that
    floor, so W stays finite.

    Columns of Z that are constant (all zero once centred: MULDE's constant training
    columns, centred but not scaled) are left as they are (W's row and column there: the
    identity's): C's shrinkage would give them the variance a mu alone, and a new row that
    moves in such a column would come out multiplied by 1 / sqrt(a mu), many-fold when a is
    small (50-fold at n 5,000 in d 2). The whitening is fitted on the other columns.

    Returns None when Z has no spread at all (every column constant: nothing to whiten), or
    a spread whose squares underflow to 0 (values below about 1e-154: no covariance to
    invert; a standardised column never gets there).
    """
    Z = np.asarray(Z, dtype=np.float64)
    if Z.ndim != 2 or len(Z) < 2:
        raise ValueError(f"whitening needs a (n >= 2, d) array, got shape {Z.shape}")
    varying = (Z != Z[0]).any(axis=0)
    if not varying.any():
        return None
    if not varying.all():
        inner = ledoit_wolf_whitening(Z[:, varying])
        if inner is None:  # the varying columns' spread underflows
            return None
        W = np.eye(Z.shape[1])
        W[np.ix_(varying, varying)] = inner
        return W
    C = LedoitWolf(assume_centered=True).fit(Z).covariance_
    eigenvalues, vectors = np.linalg.eigh((C + C.T) / 2)
    largest = eigenvalues.max(initial=0.0)
    if largest <= 0:
        return None
    floor = largest * np.finfo(np.float64).eps * len(C)  # rounding below 0 stays finite
    inverse_root = 1.0 / np.sqrt(np.maximum(eigenvalues, floor))
    return (vectors * inverse_root) @ vectors.T
