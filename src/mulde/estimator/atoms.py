"""Repeated rows (atoms): rows the training samples hold several times, scored by their
empirical probability.

A distribution of flags, codes or counts puts a probability mass on each row value. Where the
n training rows hold a value c times, c / n estimates that mass with a relative error of about
1 / sqrt(c); `ATOM_MIN_COUNT` (5) bounds it near 0.45 on the log scale. On such a row the
score is -log(c / n) + K, on the energy's scale: K, the one constant that puts the two on one
scale, is the median of (energy + log(c / n)) over the training rows so held (energies
approximate -log p up to a constant: time-score matching, docs/method.md). Rows held fewer
times, and rows never seen, keep the network's energy. Continuous data repeat no row, so
nothing changes there.

Issue 15, round 60 (benchmarks/density_fidelity.md, "Repeated rows, and the step cap, at
10,000 rows"; "Round 60"). Rows are compared at float32's precision (24 significant bits, the
precision an exported ONNX graph reads: a row given as float32 or float64 is the same row),
with -0.0 taken as 0.0; values within float32's rounding of each other count as one.
"""

from __future__ import annotations

import numpy as np

ATOM_MIN_COUNT = 5
"""Rows held at least this many times by the training rows are scored by their count."""


FLOAT32_DROPPED_BITS = 29
"""float64's 52 fraction bits less float32's 23: the bits rows are compared without."""


def _row_keys(X: np.ndarray) -> np.ndarray:
    """One opaque key per row of X (n, d): its values rounded to float32's 24 significant
    bits (to nearest; float64's range kept, so that 1e200 is no float32 overflow), -0.0 as
    0.0: rows equal at float32's precision (the precision an exported graph reads) have
    equal keys, the same row given as float32 or float64 among them."""
    bits = np.ascontiguousarray(np.asarray(X, dtype=np.float64) + 0.0).view(np.uint64)
    half = np.uint64(1 << (FLOAT32_DROPPED_BITS - 1))
    bits = (bits + half) & ~np.uint64((1 << FLOAT32_DROPPED_BITS) - 1)
    return bits.view(np.dtype((np.void, 8 * bits.shape[1]))).ravel()


def count_atoms(X: np.ndarray, min_count: int = ATOM_MIN_COUNT
                ) -> tuple[np.ndarray, np.ndarray]:
    """The distinct rows of X (n, d) (equal at float32's precision) held at least min_count
    (>= 1) times: (atoms (k, d) float64, each the first such row as given; counts (k,)
    int64), k >= 0, in no particular order. Raises ValueError for a min_count below 1 or an
    X that is not 2-D."""
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D (n, d), got shape {X.shape}")
    if min_count < 1:
        raise ValueError(f"min_count must be at least 1, got {min_count}")
    if X.shape[0] == 0 or X.shape[1] == 0:
        return np.empty((0, X.shape[1])), np.empty(0, dtype=np.int64)
    _, first, counts = np.unique(_row_keys(X), return_index=True, return_counts=True)
    held = counts >= min_count
    return X[first[held]] + 0.0, counts[held].astype(np.int64)


def atom_index(X: np.ndarray, atoms: np.ndarray) -> np.ndarray:
    """For each row of X (m, d): the index of the row of atoms (k, d) it equals, -1 where it
    equals none: (m,) int64."""
    X = np.asarray(X, dtype=np.float64)
    found = np.full(X.shape[0], -1, dtype=np.int64)
    if len(atoms) == 0 or X.shape[0] == 0:
        return found
    keys = _row_keys(atoms)
    order = np.argsort(keys)
    query = _row_keys(X)
    at = np.minimum(np.searchsorted(keys[order], query), len(keys) - 1)
    hit = keys[order][at] == query
    found[hit] = order[at[hit]]
    return found


def atom_counts(X: np.ndarray, atoms: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """For each row of X (m, d): the count of the atom it equals, 0 where it equals none:
    (m,) int64. atoms (k, d), counts (k,) as `count_atoms` returns them."""
    index = atom_index(X, atoms)
    found = np.zeros(len(index), dtype=np.int64)
    found[index >= 0] = np.asarray(counts, dtype=np.int64)[index[index >= 0]]
    return found


def atom_offset(scores: np.ndarray, counts: np.ndarray, n_rows: int) -> float:
    """K: the median of score + log(c / n_rows) over the rows with a count c > 0; scores and
    counts (n,) of the training rows. Raises ValueError where no row has a count."""
    counts = np.asarray(counts)
    held = counts > 0
    if not held.any():
        raise ValueError("no training row is an atom: there is no offset to fit")
    return float(np.median(np.asarray(scores, dtype=np.float64)[held]
                           + np.log(counts[held] / n_rows)))


def atom_scores(scores: np.ndarray, counts: np.ndarray, n_rows: int,
                offset: float) -> np.ndarray:
    """scores (m,) with each row of count c > 0 replaced by -log(c / n_rows) + offset: (m,)
    float64 (a copy)."""
    out = np.array(scores, dtype=np.float64)
    counts = np.asarray(counts)
    held = counts > 0
    out[held] = -np.log(counts[held] / n_rows) + offset
    return out
