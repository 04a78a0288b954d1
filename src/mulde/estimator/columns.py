"""Which feature columns are constant: those that hold one value up to float rounding, which
standardisation centres but does not scale (`mulde.MULDE`, the stream models' standardiser in
`mulde.vad.stream_models`)."""

from __future__ import annotations

import numpy as np

# A column counts as constant when its values lie within this many float64 epsilons of its
# largest magnitude of one another (max - min <= 32 eps max |x|, about 32 units in the last
# place): one value, or one value computed along slightly different float paths, which differ
# by a few units in the last place. The range, not the computed std, is compared: numpy's
# column sums add row by row, so the std of a column of one value is the mean's rounding
# error, which grows with the rows (1.1e-15, 83 eps of the value, on 1,654 rows of ADBench
# cardio's column 5) where the range stays exactly 0. A column that varies by more than
# about 7e-15 of its own size, at any magnitude (1e-9 * randn, say), is scaled.
CONSTANT_EPS = 32


def constant_columns(X: np.ndarray) -> np.ndarray:
    """The (d,) mask of X's columns that hold one value up to float rounding: their range
    max - min at most `CONSTANT_EPS` float64 epsilons times their largest |x|. Exact
    comparison of the std with 0 missed a column of one value whose computed mean is
    rounded, leaving a std of about 1e-17 to 1e-15 and a scale of 1e-8, so that a new sample
    1e-6 away there scored as far out."""
    low, high = X.min(axis=0), X.max(axis=0)
    with np.errstate(over="ignore"):  # a range beyond float64 is no constant
        spread = high - low
    return spread <= CONSTANT_EPS * np.finfo(np.float64).eps * np.maximum(-low, high)


# `quantisation_steps`: a column counts as quantised only when its rows repeat its values at
# least twice on average (distinct values <= n / 2), so that continuous values are not taken
# for a lattice; when it holds at least LATTICE_MIN_VALUES distinct values, since any two
# values lie on a lattice (its step the whole gap between them) and only a third can show
# one (issue 15, round 36); and when its gaps are whole multiples of the smallest to within
# LATTICE_TOLERANCE of it. Values closer than the float rounding of the column's magnitude
# (0.1 + 0.2 beside 0.3) count as one.
LATTICE_TOLERANCE = 1e-3
LATTICE_MIN_VALUES = 3


def quantisation_steps(X: np.ndarray, min_values: int = LATTICE_MIN_VALUES) -> np.ndarray:
    """The (d,) quantisation step of each of X's (n, d) columns, in X's units, 0 where none:
    h > 0 when the column's distinct values lie on a lattice {a + k h} (every gap between
    consecutive distinct values a whole multiple of the smallest gap h, within
    `LATTICE_TOLERANCE` h; values a float rounding apart count as one), number at least
    `min_values` (3: two values are on a lattice whatever they are) and at most n / 2
    (integer counts, ordinal codes, pixel values, readings rounded to a resolution).
    Constant columns, two-valued columns, columns of continuous values and columns of
    irregularly spaced codes give 0.

    `MULDE(dequantise=True)` spreads each training row uniformly over its lattice cell (width
    h, centred on the value) in every training step: uniform dequantisation (Uria, Murray and
    Larochelle, NeurIPS 2013; Theis, van den Oord and Bethge, ICLR 2016), which turns the
    probability of each lattice value into a density of the same ranking, h being one width
    per column (values off the lattice then score as their cell's value)."""
    X = np.asarray(X, dtype=np.float64)
    n, d = X.shape
    steps = np.zeros(d)
    constant = constant_columns(X)
    for j in np.flatnonzero(~constant):
        values = np.unique(X[:, j])
        if len(values) > n / 2:
            continue
        with np.errstate(over="ignore", invalid="ignore"):  # ranges beyond float64: none
            gaps = np.diff(values)
            rounding = CONSTANT_EPS * np.finfo(np.float64).eps * np.abs(values).max()
            gaps = gaps[gaps > rounding]  # values a rounding apart are one value
            if len(gaps) + 1 < min_values or not np.isfinite(gaps).all():
                continue
            h = gaps.min()
            ratio = gaps / h
            if np.all(np.abs(ratio - np.rint(ratio)) <= LATTICE_TOLERANCE):
                steps[j] = h
    return steps
