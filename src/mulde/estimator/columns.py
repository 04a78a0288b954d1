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
