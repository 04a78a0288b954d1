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


# `quantisation_steps`: a column counts as quantised when its distinct values (values within
# ROUNDING_ULPS units in the last place of the data's precision of one another counting as
# one: 0.1 + 0.2 beside 0.3) number from LATTICE_MIN_VALUES to n / 2 (fewer: any two values
# lie on a lattice whatever they are, its step their whole gap, so only a third can show one,
# round 36; more: continuous values); when its gaps are whole multiples of the smallest, h,
# to within LATTICE_TOLERANCE of h (or ROUNDING_ULPS units of the data's precision, where
# that is more: float32 readings; not at all where that is more than LATTICE_MAX_SLACK of h,
# whole numbers beyond about 1e15 in float64); and when h is at most CELL_MAX_STDS standard
# deviations of the column, so that dequantisation never moves a value by more than one
# standard deviation (round 37: a column of 0 on 1,996 rows and 1,000 and 2,000 on two each has a
# step of 14 standard deviations, and -300 scored as normal as 0).
LATTICE_TOLERANCE = 1e-3
LATTICE_MIN_VALUES = 3
ROUNDING_ULPS = 2
LATTICE_MAX_SLACK = 0.25
CELL_MAX_STDS = 2.0


def quantisation_steps(X: np.ndarray, min_values: int = LATTICE_MIN_VALUES,
                       precision: np.dtype | type | None = None,
                       max_stds: float | None = CELL_MAX_STDS) -> np.ndarray:
    """The (d,) quantisation step of each of X's (n, d) columns, in X's units, 0 where none:
    h > 0 when the column's distinct values lie on a lattice {a + k h} (every gap between
    consecutive distinct values a whole multiple of the smallest gap h, within
    `LATTICE_TOLERANCE` h or `ROUNDING_ULPS` units in the last place of `precision`, at most
    `LATTICE_MAX_SLACK` h; values closer than those units count as one), number at least
    `min_values` (3: two values are on a lattice whatever they are) and at most n / 2, and
    h is at most `max_stds` standard deviations of the column (None: no bound): integer
    counts, ordinal codes, pixel values, readings rounded to a resolution. precision: the
    float type the data were given in (float32 readings are a few of its units off their
    lattice; default X's own, float64 for integers; TypeError for a type that is no float).
    Constant and two-valued columns, columns holding NaN or infinity, columns of continuous
    values, of irregularly spaced codes and of cells wider than that bound give 0.

    `MULDE(dequantise=True)` spreads each training row uniformly over its lattice cell (width
    h, centred on the value) in every training step: uniform dequantisation (Uria, Murray and
    Larochelle, NeurIPS 2013; Theis, van den Oord and Bethge, ICLR 2016), which turns the
    probability of each lattice value into a density of the same ranking, h being one width
    per column (values off the lattice then score as their cell's value)."""
    X = np.asarray(X)
    if precision is None:
        precision = X.dtype if np.issubdtype(X.dtype, np.floating) else np.float64
    precision = np.dtype(precision)
    if precision.kind != "f":
        raise TypeError(f"precision must be a float type (the data's), got {precision}")
    X = X.astype(np.float64, copy=False)
    n, d = X.shape
    steps = np.zeros(d)
    constant = constant_columns(X)
    with np.errstate(over="ignore", invalid="ignore"):  # ranges beyond float64: no lattice
        for j in np.flatnonzero(~constant):
            values = np.unique(X[:, j])
            if len(values) < min_values or not np.isfinite(values).all():
                continue
            ulp = np.spacing(np.abs(values).astype(precision)).astype(np.float64)
            gaps = np.diff(values)
            values = values[np.r_[True, gaps >= ROUNDING_ULPS * np.maximum(ulp[1:], ulp[:-1])]]
            if not min_values <= len(values) <= n / 2:
                continue
            gaps = np.diff(values)
            if not np.isfinite(gaps).all():
                continue
            h = gaps.min()
            if max_stds is not None and h > max_stds * X[:, j].std(ddof=1):
                continue
            slack = max(LATTICE_TOLERANCE, ROUNDING_ULPS * float(ulp.max()) / h)
            if slack > LATTICE_MAX_SLACK:  # the precision cannot tell a lattice from others
                continue
            ratio = gaps / h
            if np.all(np.abs(ratio - np.rint(ratio)) <= slack):
                steps[j] = h
    return steps
