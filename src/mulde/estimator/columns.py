"""Which feature columns are constant: those that hold one value up to float rounding, which
standardisation centres but does not scale (`mulde.MULDE`, the stream models' standardiser in
`mulde.vad.stream_models`); the columns' means and deviations at any magnitude (`mean_std`);
and each column's dequantisation cell (`quantisation_steps`)."""

from __future__ import annotations

import difflib
import sys
from collections.abc import Sequence
from typing import Any

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


SQUARES_UNDERFLOW = 1e-140
"""A standard deviation below this may have lost its squares to underflow (they vanish below
about 1e-308): `mean_std` computes such a column again on its values divided by its peak."""


def mean_std(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return the column means and standard deviations (ddof 1) of float64 X; a column whose
    direct sums overflow (|x| above about 1e154) or whose squares may underflow (a deviation
    below `SQUARES_UNDERFLOW`, values of about 1e-160) computed on its values divided by its
    peak |x|, where neither happens."""
    with np.errstate(over="ignore", invalid="ignore", under="ignore"):
        mean, std = X.mean(axis=0), X.std(axis=0, ddof=1)
    redo = ~np.isfinite(mean) | ~np.isfinite(std) | (std < SQUARES_UNDERFLOW)
    if not redo.any():
        return mean, std
    peak = np.abs(X[:, redo]).max(axis=0)
    peak = np.where(peak > 0, peak, 1.0)
    scaled = X[:, redo] / peak
    with np.errstate(under="ignore"):
        mean[redo], std[redo] = scaled.mean(axis=0) * peak, scaled.std(axis=0, ddof=1) * peak
    return mean, std


# `quantisation_steps`: a column counts as quantised when its distinct values (values within
# ROUNDING_ULPS units in the last place of the data's precision of one another counting as
# one: 0.1 + 0.2 beside 0.3; a chain of such values spanning more than LATTICE_TOLERANCE of
# the step is no value but a continuum, and the column no lattice) number from
# LATTICE_MIN_VALUES to n / 2 (fewer: any two values lie on a lattice whatever they are, its
# step their whole gap, so only a third can show one, round 36; more: continuous values);
# when its gaps are whole multiples of a reference step h, the gap of least rounding among
# those equal to the smallest within rounding, each to within LATTICE_TOLERANCE of h or,
# where that is more, the gap's own rounding (ROUNDING_ULPS units of the precision at its
# two ends) plus k times h's (round 38: float32 readings k steps out carry k times the
# reference's error; one large value no longer sets the tolerance of every gap); a gap whose
# tolerance is more than LATTICE_MAX_SLACK of h cannot be checked: h is read again over the
# gaps checked, and what stays unchecked makes the column no lattice (whole numbers near
# 1e15 in float64); and when h is at most CELL_MAX_STDS standard deviations of the column,
# so that dequantisation never moves a value by more than one standard deviation (round 37:
# a column of 0 on 1,996 rows and 1,000 and 2,000 on two each has a step of 14 standard
# deviations, and -300 scored as normal as 0).
LATTICE_TOLERANCE = 1e-3
LATTICE_MIN_VALUES = 3
ROUNDING_ULPS = 2
LATTICE_MAX_SLACK = 0.25
CELL_MAX_STDS = 2.0
# A two-valued column (a flag, an attribute, a one-hot code) has no lattice to find (round
# 36), but its two values are cells all the same: with a share s > 0 each is spread over a
# cell s times the gap between them, centred on it, under the same CELL_MAX_STDS bound (a
# share below 1 leaves the middle of the gap empty, so a value between the two still scores
# as never seen). 0: such columns train as given (rounds 36-51); 0.5 since issue 15's round
# 52 (flags, attributes and one-hot codes ranked by their probabilities on the suite's
# latent-class cases, benchmarks/density_fidelity.md).
TWO_VALUED_CELL = 0.5
# A point mass (an atom: one value held by at least ATOM_SHARE of the rows, and by two or
# more, of a column of three or more values that is no lattice: zero counts beside
# continuous values, empty histogram bins, ReLU features, a reading's floor; or one of a few
# irregularly spaced codes, or of codes too far apart for the bound) is as sharp as a flag's
# value: with ATOM_CELL c > 0 the column gets a cell of c of its standard deviations (every
# value spread over it, the continuous ones too), so that the network learns the atom's
# probability per cell instead of a spike. 0: such columns train as given (rounds 1-53); a
# quarter of a standard deviation since issue 15's round 54 (the suite's censored cases:
# round 53's half raised the false alarms too far, benchmarks/density_fidelity.md).
ATOM_SHARE = 0.2
ATOM_CELL = 0.25
# A rare flag (a two-valued column taking its rarer value on under about 7 % of the rows:
# its cell, s times the gap, wider than CELL_MAX_STDS standard deviations) gets no cell
# (False, rounds 52-54); True: the widest cell the bound allows instead, where the rarer
# value is held by two rows or more (issue 15's round 55, benchmarks/density_fidelity.md).
CLIP_TWO_VALUED = False
# A rare flag whose rarer value is held by at least RARE_FLAG_SHARE of the rows (and two rows
# or more) is a category, not a few outlying codes (round 37's 3 rows in 2,000): it gets its
# share of the gap as other flags do, past the bound (at 1 % the half-gap cell is 5 standard
# deviations wide, 2.5 each side). None: rare flags as CLIP_TWO_VALUED says (rounds 52-55);
# issue 15's round 56.
RARE_FLAG_SHARE: float | None = None


def quantisation_steps(X: np.ndarray, min_values: int = LATTICE_MIN_VALUES,
                       precision: np.dtype | type | Sequence[np.dtype | type] | None = None,
                       max_stds: float | None = CELL_MAX_STDS,
                       two_valued_cell: float = TWO_VALUED_CELL,
                       atom_cell: float = ATOM_CELL,
                       clip_two_valued: bool = CLIP_TWO_VALUED,
                       rare_flag_share: float | None = RARE_FLAG_SHARE) -> np.ndarray:
    """The (d,) cell width of each of X's (n, d) columns, in X's units, 0 where none: h > 0
    when the column's distinct values lie on a lattice {a + k h} (every gap between
    consecutive distinct values a whole multiple of h, the smallest gap read where the
    values are finest, within `LATTICE_TOLERANCE` h or the rounding of the values at
    `precision`, which must be at most `LATTICE_MAX_SLACK` h; values closer than
    `ROUNDING_ULPS` units in the last place count as one), number at least `min_values` (3:
    two values are on a lattice whatever they are) and at most n / 2, and h is at most
    `max_stds` standard deviations of the column (None: no bound): integer counts, ordinal
    codes, pixel values, readings rounded to a resolution; the deviation is `mean_std`'s,
    the model's scale, at any magnitude. precision: the float type the data were given in,
    one for all columns or a sequence of d, one per column (`given_precision`, or a
    DataFrame's dtypes; float32 readings are a few of its units off their lattice; default
    `given_precision(X)`: X's own, each column's of a DataFrame, float64 for integers;
    TypeError for a type that is no float, ValueError for a sequence of another length than
    d). With two_valued_cell s > 0 (`TWO_VALUED_CELL`) a column of two values a gap g apart
    (values a rounding apart counting as one, as on a lattice) gets the cell s g, within the
    same bound (min_values must then be 3 or more); with clip_two_valued (`CLIP_TWO_VALUED`)
    one whose cell the bound refuses, and whose rarer value two rows or more hold, gets the
    bound's width instead; with rare_flag_share r (`RARE_FLAG_SHARE`) one whose rarer value
    at least r of the rows and two or more hold gets s g past the bound. With atom_cell
    c > 0 (`ATOM_CELL`) a column of three or more values that gets no lattice cell but whose
    most common value is held by at least `ATOM_SHARE` of the rows and by two or more (a
    point mass beside continuous values, or among irregular codes; one row of five or fewer
    is none) gets the cell c standard deviations wide. Constant columns, two-valued ones
    where s = 0, columns holding NaN or infinity, and columns of continuous values, of
    irregularly spaced codes or of cells wider than that bound that hold no such point mass
    (or where c = 0) give 0.

    `MULDE(dequantise=True)` spreads each training row uniformly over its lattice cell (width
    h, centred on the value) in every training step: uniform dequantisation (Uria, Murray and
    Larochelle, NeurIPS 2013; Theis, van den Oord and Bethge, ICLR 2016), which turns the
    probability of each lattice value into a density of the same ranking, h being one width
    per column (values off the lattice then score as their cell's value; between a
    two-valued column's half-gap cells lies a gap no training row fills)."""
    if precision is None:  # a DataFrame's column types, before conversion widens them
        precision = given_precision(X)
    X = np.asarray(X)
    n, d = X.shape
    one = isinstance(precision, (np.dtype, type, str))  # else one per column: a list,
    precisions = [np.dtype(getattr(kind, "numpy_dtype", kind))  # a DataFrame's dtypes
                  for kind in ([precision] * d if one else list(precision))]
    if len(precisions) != d:
        raise ValueError(f"precision gives {len(precisions)} float types for {d} columns")
    for kind in precisions:
        if kind.kind != "f":
            raise TypeError(f"precision must be a float type (the data's), got {kind}")
    if two_valued_cell < 0 or (two_valued_cell > 0 and min_values < 3):
        raise ValueError(f"two_valued_cell must be >= 0, and min_values >= 3 beside it; got "
                         f"{two_valued_cell} and {min_values}")
    if not atom_cell >= 0:
        raise ValueError(f"atom_cell must be >= 0, got {atom_cell}")
    if rare_flag_share is not None and not 0 < rare_flag_share <= 0.5:
        raise ValueError(f"rare_flag_share must be in (0, 0.5] or None, got {rare_flag_share}")
    X = X.astype(np.float64, copy=False)
    steps = np.zeros(d)
    constant = constant_columns(X)
    with np.errstate(over="ignore", invalid="ignore"):  # ranges beyond float64: no lattice
        # the deviations the model scales by (`mean_std`: also where |x| > 1e154, whose
        # squares overflow, and tiny values, whose squares underflow; the direct std's inf
        # let any cell through the bound there, and its 0 none)
        stds = mean_std(X)[1]
        for j in np.flatnonzero(~constant):
            values, counts = np.unique(X[:, j], return_counts=True)
            if not np.isfinite(values).all():
                continue
            widest = None if max_stds is None else max_stds * stds[j]
            ulp = np.spacing(np.abs(values).astype(precisions[j])).astype(np.float64)
            # a value computed two ways is one value, and one point mass (its rows summed)
            values, ulp, spans, counts = _distinct_values(values, ulp, counts)
            if len(values) == 2 and two_valued_cell > 0:  # two once rounding counts as one
                gap = float(values[1] - values[0])  # inf beyond float64's range: no cell
                cell = two_valued_cell * gap
                # a rare flag: a cell the bound refuses, its rarer value on two rows or more
                rare = widest is not None and cell > widest and counts.min() >= 2
                if rare and rare_flag_share is not None and counts.min() / n >= rare_flag_share:
                    widest = None  # a category, not a few outlying codes: its share of the gap
                elif rare and clip_two_valued:
                    cell = widest  # the widest cell allowed
                # a run of values wider than the tolerance (as on a lattice, the gap its step)
                steps[j] = (cell if np.isfinite(cell) and not _continuum(spans, ulp, gap)
                            and (widest is None or cell <= widest) else 0.0)
                continue
            steps[j] = _lattice_step(values, ulp, spans, n, min_values, widest)
            # a value repeated: in 5 rows or fewer a fifth is one row, and every value of
            # a continuous column would count as a point mass
            if (steps[j] == 0 and atom_cell > 0 and len(values) >= 3
                    and counts.max() >= max(2, ATOM_SHARE * n)):
                cell = atom_cell * stds[j]  # a point mass beside continuous values
                steps[j] = cell if np.isfinite(cell) and cell > 0 else 0.0
    return steps


def named_columns(columns: Sequence[str | int], n_features: int,
                  names: Sequence[str] | None = None, advice: str | None = None
                  ) -> np.ndarray:
    """The (n_features,) bool mask of the columns a list names (`MULDE(dequantise=[...])`):
    each entry one of `names` (a DataFrame's or a CSV header's column names) or an index
    from 0 to n_features - 1 (a Python or numpy integer; not a bool, not negative).
    ValueError naming the first entry the data do not have, with what to give instead
    (their names or indices; indices alone without names), or `advice` in its place."""
    index = {} if names is None else {str(c): i for i, c in enumerate(names)}
    mask = np.zeros(n_features, dtype=bool)
    for column in columns:
        if isinstance(column, str) and column in index:
            mask[index[column]] = True
        elif (isinstance(column, (int, np.integer)) and not isinstance(column, bool)
              and 0 <= column < n_features):
            mask[int(column)] = True
        else:
            shown = ", ".join(map(repr, list(index)[:5])) + (", ..." if len(index) > 5 else "")
            known = f"its columns are {shown}" if index else "it has no column names"
            give = "its column names or indices" if index else "indices"
            near = difflib.get_close_matches(str(column), list(index), n=1)
            raise ValueError(f"dequantise names column {column!r}, which the training data do "
                             f"not have ({known}"
                             + (f"; did you mean {near[0]!r}?" if near else "") + "); "
                             + (advice or f"give {give} from 0 to {n_features - 1}"))
    return mask


def _distinct_values(values: np.ndarray, ulp: np.ndarray, counts: np.ndarray
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One column's sorted distinct finite values (m,), each with its unit in the last place
    ulp (m,) at the data's precision and its count of rows (m,), with the runs of values
    closer than `ROUNDING_ULPS` units of one another counted as one (0.1 + 0.2 beside 0.3):
    (the first value of each run, the run's largest ulp, the run's width max - min, the
    run's rows), each (k,), k <= m."""
    gaps = np.diff(values)
    kept = np.r_[True, gaps >= ROUNDING_ULPS * np.maximum(ulp[1:], ulp[:-1])]
    starts = np.flatnonzero(kept)
    ends = np.r_[starts[1:], len(values)] - 1
    return (values[starts], np.maximum.reduceat(ulp, starts), values[ends] - values[starts],
            np.add.reduceat(counts, starts))


def _continuum(spans: np.ndarray, ulp: np.ndarray, step: float) -> bool:
    """Whether a run of values merged as one (`_distinct_values`: their widths `spans`,
    largest ulps `ulp`) is wider than the tolerance at `step`: a continuum at the data's
    precision, not one value."""
    return bool((spans > np.maximum(LATTICE_TOLERANCE * step, ROUNDING_ULPS * ulp)).any())


def _lattice_step(values: np.ndarray, ulp: np.ndarray, spans: np.ndarray, n: int,
                  min_values: int, widest: float | None) -> float:
    """The lattice step of one column's values as `_distinct_values` gives them (each run's
    first value, largest ulp and width, (k,) each), from n rows; 0.0 where they are no
    lattice or its step is above `widest` (`quantisation_steps` gives the rule).

    The gaps g_i between the values kept are checked against a step h known to within r_h:
    g_i = k_i h within max(LATTICE_TOLERANCE h, r_i + k_i r_h), r_i the gap's own rounding.
    A gap whose tolerance exceeds LATTICE_MAX_SLACK h cannot be checked at that precision of
    h; while some cannot, h is read again over the longest run of checked gaps (its span
    over the K steps it holds, r_h its two ends' rounding over K), and the rest checked
    again; a gap that fails, or no gain in precision, gives 0."""
    if not min_values <= len(values) <= n / 2:
        return 0.0
    gaps = np.diff(values)
    if not np.isfinite(gaps).all():
        return 0.0
    rounding = ROUNDING_ULPS * np.maximum(ulp[1:], ulp[:-1])  # each gap's, at most
    smallest = int(np.argmin(gaps))
    same = np.flatnonzero(gaps - gaps[smallest] <= rounding + rounding[smallest])
    ref = same[np.argmin(rounding[same])]  # the step read where the values are finest
    h, r_h = float(gaps[ref]), float(rounding[ref])
    if widest is not None and h > widest:
        return 0.0
    if (rounding > LATTICE_MAX_SLACK * h).any():  # the precision cannot tell a lattice
        return 0.0
    if _continuum(spans, ulp, h):
        return 0.0
    for _ in range(len(gaps)):  # each pass checks more gaps, or ends
        k = np.rint(gaps / h)
        tolerance = np.maximum(LATTICE_TOLERANCE * h, rounding + k * r_h)
        checked = tolerance <= LATTICE_MAX_SLACK * h
        residual = np.abs(gaps - k * h)
        if (k < 1).any() or (residual[checked] > tolerance[checked]).any():
            return 0.0
        if checked.all():
            return h
        if not checked.any():  # no gap can be checked at the precision: no lattice seen
            return 0.0
        # the step over the longest run of checked gaps, values a to b: K steps apart, each
        # end off by its rounding at most
        edges = np.flatnonzero(np.diff(np.r_[False, checked, False]))
        steps = [k[i:j].sum() for i, j in zip(edges[::2], edges[1::2], strict=True)]
        longest = int(np.argmax(steps))
        a, b, span = edges[2 * longest], edges[2 * longest + 1], steps[longest]
        refined = float(ROUNDING_ULPS * (ulp[a] + ulp[b]) / span)
        if refined >= r_h:
            return 0.0  # the step can be read no finer: the far gaps stay unchecked
        h, r_h = float((values[b] - values[a]) / span), refined
    return 0.0


def given_precision(X: Any) -> np.dtype | list[np.dtype]:
    """The float type X's values were given in, for `quantisation_steps`' precision, read
    before X is converted to one array (which widens float32 to float64 beside a float64
    column, or float16 to float64): a numpy array's own float type; a pandas DataFrame's per
    column, one for each of its d columns (float64 for a column of integers or of another
    kind); float64 for anything else (lists, integer arrays)."""
    pd = sys.modules.get("pandas")
    if pd is not None and isinstance(X, pd.DataFrame):
        return [_float_type(getattr(kind, "numpy_dtype", kind)) for kind in X.dtypes]
    return _float_type(getattr(X, "dtype", None))


def _float_type(kind: Any) -> np.dtype:
    """kind itself where it is a numpy float type, else float64."""
    return kind if isinstance(kind, np.dtype) and kind.kind == "f" else np.dtype(np.float64)
