"""Constant columns up to float rounding (mulde.estimator.columns)."""

from __future__ import annotations

import numpy as np
import pytest

from mulde.estimator.columns import constant_columns


def test_constant_columns_rule_is_relative_to_the_columns_size():
    """constant_columns: a range max - min of at most 32 float64 eps times the column's
    largest |x| (the exact constants, a zero column too), at any magnitude; a wider one
    varies. The computed std would not do: on 1,654 rows of one value it is 83 eps of it."""
    from mulde.estimator.columns import mean_std

    eps = np.finfo(np.float64).eps
    X = np.zeros((3, 6))
    X[:, 1] = [1e6, 1e6 * (1 - 16 * eps), 1e6]        # 16 eps: rounding
    X[:, 2] = [-1e-12, -1e-12 * (1 - 32 * eps), -1e-12]  # 32 eps: still rounding
    X[:, 3] = [1e-12, 1e-12 * (1 + 64 * eps), 1e-12]  # 64 eps: varies
    X[:, 4] = [5.0, 6.0, 5.0]
    X[:, 5] = [-1e308, 1e308, 0.0]  # a range beyond float64 varies
    np.testing.assert_array_equal(constant_columns(X),
                                  [True, True, True, False, False, False])
    cardio = np.full((1654, 2), -0.061400640063)
    cardio[:, 1] = np.arange(1654)
    assert mean_std(cardio)[1][0] > 32 * eps * 0.0614  # the std's rounding grows with n
    np.testing.assert_array_equal(constant_columns(cardio), [True, False])


def _lattice(X, **kw):
    """`quantisation_steps` with its lattice and two-valued rules alone (no point-mass
    cells, round 54's `atom_cell`: the small columns below repeat their values)."""
    from mulde.estimator.columns import quantisation_steps

    return quantisation_steps(X, **{"atom_cell": 0.0, **kw})


def test_quantisation_steps_finds_lattices_by_hand():
    """quantisation_steps: the smallest gap h where every gap is a whole multiple of it
    (within 1e-3 h) and the column has 3 to n / 2 distinct values; 0 otherwise."""
    X = np.array([
        # counts   binary  codes 0,1,2.5  two decimals  constant  spaced by 2 and 6
        [0.0,      1.0,    0.0,           0.10,         7.0,      -3.0],
        [1.0,      1.0,    1.0,           0.20,         7.0,      -1.0],
        [3.0,      4.0,    2.5,           0.40,         7.0,      5.0],
        [3.0,      4.0,    2.5,           0.10,         7.0,      5.0],
        [0.0,      1.0,    0.0,           0.20,         7.0,      -3.0],
        [1.0,      4.0,    1.0,           0.40,         7.0,      -1.0],
    ])
    np.testing.assert_allclose(_lattice(X, two_valued_cell=0.0),
                               [1.0, 0.0, 0.0, 0.1, 0.0, 2.0])
    # two values lie on a lattice whatever they are: no evidence of one (round 36), unless
    # asked for (round 35's rule); since round 52 they get cells half their gap wide
    assert _lattice(X, min_values=2, two_valued_cell=0.0)[1] == 3.0
    np.testing.assert_allclose(_lattice(X), [1.0, 1.5, 0.0, 0.1, 0.0, 2.0])
    # since round 54 irregular codes each held by a third of the rows are point masses: a
    # cell a quarter of the column's standard deviation (ddof 1)
    from mulde.estimator.columns import quantisation_steps

    np.testing.assert_allclose(quantisation_steps(X), [1.0, 1.5, 0.25 * X[:, 2].std(ddof=1),
                                                       0.1, 0.0, 2.0])
    # more than n / 2 distinct values: no lattice is read into them, even integers
    np.testing.assert_array_equal(_lattice(np.arange(10.0)[:, None]), [0.0])
    assert _lattice(np.repeat(np.arange(5.0), 2)[:, None])[0] == 1.0  # n / 2
    # gaps within 1e-3 of a whole multiple count (float rounding of decimal data); beyond, not
    near = np.array([[0.0], [1.0], [2.0 + 5e-4], [0.0], [1.0], [2.0 + 5e-4]])
    far = near + np.array([[0.0], [0.0], [0.01], [0.0], [0.0], [0.01]])
    assert _lattice(near)[0] == 1.0
    assert _lattice(far)[0] == 0.0


def test_two_valued_columns_get_a_share_of_their_gap_within_the_bound():
    """two_valued_cell s: a column of two values g apart gets the cell s g where s g is at
    most two standard deviations of the column (ddof 1), else 0; s = 0 leaves every
    two-valued column as given (rounds 36-51; the default, 0.5, since round 52); columns of
    three or more values keep their rule."""
    from mulde.estimator.columns import quantisation_steps

    X = np.zeros((8, 4))
    X[:4, 0] = 1.0         # half ones: std 0.5345, half cell 0.5 within 1.069
    X[:1, 1] = 10.0        # one 10 in eight: std 3.536, half cell 5 within 7.07
    X[:, 2] = np.arange(8) % 3  # three values: its lattice, 1
    X[:, 3] = np.r_[-2.0, np.zeros(7)]  # one -2 in eight: std 0.707, half cell 1 within 1.41
    np.testing.assert_array_equal(quantisation_steps(X, two_valued_cell=0.0),
                                  [0.0, 0.0, 1.0, 0.0])
    np.testing.assert_allclose(quantisation_steps(X), [0.5, 5.0, 1.0, 1.0])
    # the whole gap passes the bound only where the column is about balanced: 1 <= 1.069 at
    # 4 in 8; 10 > 7.07 and 2 > 1.41 fail
    np.testing.assert_allclose(quantisation_steps(X, two_valued_cell=1.0), [1.0, 0.0, 1.0, 0.0])
    np.testing.assert_allclose(quantisation_steps(X, two_valued_cell=1.0, max_stds=None),
                               [1.0, 10.0, 1.0, 2.0])
    rare = np.zeros((2000, 1))
    rare[:3] = 1000.0  # a few outlying codes (round 37): a half cell of 37 std is refused
    assert quantisation_steps(rare, two_valued_cell=0.5)[0] == 0.0
    with pytest.raises(ValueError, match="two_valued_cell must be >= 0"):
        quantisation_steps(X, two_valued_cell=-1.0)
    with pytest.raises(ValueError, match="min_values >= 3"):
        quantisation_steps(X, min_values=2)


def test_a_rare_flag_gets_the_widest_cell_the_bound_allows_when_clipped():
    """clip_two_valued: a two-valued column whose cell s g the bound refuses gets two
    standard deviations (ddof 1) instead, where its rarer value is held by two rows or more;
    one row stays as given, balanced flags and other columns keep their cells."""
    from mulde.estimator.columns import CELL_MAX_STDS, quantisation_steps

    X = np.zeros((100, 4))
    X[:5, 0] = 1.0    # 5 in 100: std 0.2190, half gap 0.5 > 0.438
    X[:1, 1] = 1.0    # 1 in 100: a lone row, no cell
    X[:50, 2] = 1.0   # balanced: half gap 0.5 within the bound
    X[:, 3] = np.arange(100) % 4  # a lattice of step 1
    np.testing.assert_allclose(quantisation_steps(X), [0.0, 0.0, 0.5, 1.0])
    sd = np.sqrt(5 * 95 / (100 * 99))
    np.testing.assert_allclose(quantisation_steps(X, clip_two_valued=True),
                               [CELL_MAX_STDS * sd, 0.0, 0.5, 1.0])
    # no bound: nothing to clip, every flag its share of the gap (the lone row too)
    np.testing.assert_allclose(quantisation_steps(X, clip_two_valued=True, max_stds=None),
                               [0.5, 0.5, 0.5, 1.0])
    # flags left as given (s = 0) stay so
    np.testing.assert_array_equal(
        quantisation_steps(X, two_valued_cell=0.0, clip_two_valued=True), [0.0, 0.0, 0.0, 1.0])


def test_a_rare_flag_held_by_a_share_of_the_rows_gets_its_share_of_the_gap():
    """rare_flag_share r: a two-valued column whose cell s g the bound refuses gets s g all
    the same where its rarer value is held by at least r of the rows and two or more (a
    category; not a share of one row); round 37's few outlying codes (3 rows in 2,000) keep
    the bound; r outside (0, 0.5] is refused."""
    from mulde.estimator.columns import quantisation_steps

    X = np.zeros((2000, 4))
    X[:40, 0] = 1.0      # 2 %: a category, half gap 0.5 (3.6 standard deviations)
    X[:3, 1] = 1000.0    # 0.15 %: a few codes, no cell
    X[:19, 2] = 1.0      # just under 1 %
    X[:20, 3] = 1.0      # exactly 1 %
    np.testing.assert_array_equal(quantisation_steps(X), [0.0, 0.0, 0.0, 0.0])
    np.testing.assert_array_equal(quantisation_steps(X, rare_flag_share=0.01),
                                  [0.5, 0.0, 0.0, 0.5])
    # with the clip beside it, the rarer ones get the bound's width
    both = quantisation_steps(X, rare_flag_share=0.01, clip_two_valued=True)
    assert both[0] == both[3] == 0.5 and 0 < both[1] < 500.0 and 0 < both[2] < 0.5
    # a share of one row (1 in 100 is 1 %) is no category
    lone = np.r_[np.ones(1), np.zeros(99)][:, None]
    np.testing.assert_array_equal(quantisation_steps(lone, rare_flag_share=0.01), [0.0])
    for bad in (0.0, 0.6, -1.0):
        with pytest.raises(ValueError, match="rare_flag_share must be in"):
            quantisation_steps(X, rare_flag_share=bad)


def test_a_point_mass_beside_continuous_values_gets_a_share_of_a_standard_deviation():
    """atom_cell c: a column of three or more values that is no lattice, one value held by
    at least a fifth of the rows (`ATOM_SHARE`), gets the cell c standard deviations (ddof
    1) wide; just under a fifth, c = 0, lattices and two-valued columns keep their rules."""
    from mulde.estimator.columns import ATOM_SHARE, quantisation_steps

    assert ATOM_SHARE == 0.2
    rng = np.random.default_rng(0)
    X = rng.exponential(1.0, (100, 4))
    X[:20, 0] = 0.0               # a fifth at 0 (censored, a ReLU's zeros)
    X[:19, 1] = 0.0               # just under a fifth: continuous
    X[:, 2] = np.arange(100) % 4  # a lattice: its step, 1
    X[:, 3] = X[:, 0] > 0         # two values: the flag's half gap
    std = X[:, 0].std(ddof=1)
    np.testing.assert_allclose(quantisation_steps(X, atom_cell=0.5), [0.5 * std, 0, 1, 0.5])
    np.testing.assert_allclose(quantisation_steps(X, atom_cell=0.0), [0, 0, 1, 0.5])
    X[:20, 0] = -3.5              # any value, at any place of the column
    assert quantisation_steps(X, atom_cell=1.0)[0] == pytest.approx(X[:, 0].std(ddof=1))
    # a point mass computed two ways (0.3 beside 0.1 + 0.2) is one: 12 rows and 12, a fifth
    # together of 120 rows, neither alone
    split = np.r_[np.full(12, 0.3), np.full(12, 0.1 + 0.2), rng.standard_normal(96)]
    assert quantisation_steps(split[:, None], atom_cell=0.5)[0] == pytest.approx(
        0.5 * split.std(ddof=1))
    assert quantisation_steps(np.r_[np.full(12, 0.3), rng.standard_normal(108)][:, None],
                              atom_cell=0.5)[0] == 0.0
    with pytest.raises(ValueError, match="atom_cell must be >= 0"):
        quantisation_steps(X, atom_cell=-0.5)
    with pytest.raises(ValueError, match="atom_cell must be >= 0"):
        quantisation_steps(X, atom_cell=float("nan"))


def test_one_row_is_no_point_mass():
    """In five rows or fewer a fifth is one row: distinct continuous values hold no point
    mass (each had counted as one, 0.25 standard deviations, on every column of a 3-5 row
    fit); a value on two of five rows does."""
    from mulde.estimator.columns import quantisation_steps

    rng = np.random.default_rng(0)
    for n in (3, 4, 5):
        np.testing.assert_array_equal(quantisation_steps(rng.standard_normal((n, 2))), [0, 0])
    x = np.array([[0.0], [0.0], [0.37], [1.9], [2.6]])
    assert quantisation_steps(x)[0] == pytest.approx(0.25 * x[:, 0].std(ddof=1))


def test_a_flag_is_two_values_once_rounding_counts_as_one():
    """A flag whose value was computed two ways (0.7 beside 0.1 * 7, 1 / 3 beside 1 - 2 / 3)
    holds three floats but two values: it gets its half-gap cell as the exact flag does (it
    trained as given, the lattice rule then finding two values); two floats a rounding apart
    are one value, and no cell."""
    from mulde.estimator.columns import quantisation_steps

    flag = np.random.default_rng(0).integers(0, 2, 400).astype(float)
    sevenths = np.where(flag == 1, 0.7, 0.0)
    sevenths[::5] = np.where(flag[::5] == 1, 0.1 * 7, 0.0)
    thirds = np.where(flag == 1, 1 / 3, 0.0)
    thirds[::3] = np.where(flag[::3] == 1, 1 - 2 / 3, 0.0)
    assert len(np.unique(sevenths)) == len(np.unique(thirds)) == 3
    np.testing.assert_allclose(quantisation_steps(np.c_[sevenths, thirds]), [0.35, 1 / 6])
    one = np.ones(400, np.float32)
    one[::2] = np.nextafter(np.float32(1.0), np.float32(2.0))  # one float32 unit apart
    assert quantisation_steps(one[:, None])[0] == 0.0


def test_the_bound_holds_at_any_magnitude():
    """The bound reads the deviation the model scales by (`mean_std`): a rare flag, or round
    37's outlying codes, at 1e200 or 1e300, whose squares overflow, are refused as they are
    at 1 (the direct std, inf, let them through: cells of 13 deviations, in which a value 5
    deviations out scored as normal); a balanced flag there, or at 1e-300, whose squares
    underflow (a std of 0 refused it), gets its half gap."""
    rare = np.zeros(2000)
    rare[:3] = 1.0
    codes = np.r_[np.zeros(1996), [1.0, 1.0, 2.0, 2.0]]
    balanced = np.arange(2000) % 2.0
    for scale in (1.0, 1e200, 1e300):
        X = np.c_[rare, codes, balanced] * scale
        np.testing.assert_array_equal(_lattice(X), [0.0, 0.0, 0.5 * scale])
    np.testing.assert_array_equal(_lattice(balanced[:, None] * 1e-300), [0.5e-300])


def test_values_a_rounding_apart_count_as_one_lattice_value():
    """0.1 + 0.2 beside 0.3, or c / 100 beside c * 0.01, differ in the last bits: the lattice
    is still seen (the column was skipped, its smallest gap being the rounding)."""
    from mulde.estimator.columns import quantisation_steps

    decimals = np.tile([0.0, 0.1, 0.2, 0.3, 0.1 + 0.2, 0.4], 10)[:, None]
    assert quantisation_steps(decimals)[0] == pytest.approx(0.1)
    c = np.random.default_rng(0).integers(0, 500, 5000)
    assert quantisation_steps(np.r_[c / 100, c * 0.01][:, None])[0] == pytest.approx(0.01)


def test_continuous_and_huge_columns_have_no_quantisation_step(recwarn):
    """Continuous values (by their count), values spread wider than float64 (no warning),
    and three continuous values that are no lattice (by the gaps)."""
    rng = np.random.default_rng(0)
    X = np.c_[rng.standard_normal(200), rng.standard_normal(200) * 1e-9 + 1.0,
              np.round(rng.standard_normal(200), 6)]
    np.testing.assert_array_equal(_lattice(X), [0.0, 0.0, 0.0])
    huge = np.tile([-1e308, 1e308, 1.5e308], 4)[:, None]  # a gap beyond float64
    three = np.tile([0.0, 1.0, 2.7183], 4)[:, None]
    np.testing.assert_array_equal(_lattice(np.c_[huge, three]), [0.0, 0.0])
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]


def test_cells_wider_than_two_standard_deviations_are_not_counted():
    """Round 37: a few outlying codes (0 on 1,996 rows, 1,000 and 2,000 on two each: a step
    of about 14 standard deviations) are no resolution; a count column's step is."""
    codes = np.r_[np.zeros(1996), [1000.0, 1000.0, 2000.0, 2000.0]]
    counts = np.random.default_rng(1).poisson(0.3, 2000).astype(float)  # std ~0.55, step 1
    assert counts.std(ddof=1) < 1.0
    np.testing.assert_array_equal(_lattice(np.c_[codes, counts]), [0.0, 1.0])
    np.testing.assert_array_equal(_lattice(np.c_[codes, counts], max_stds=None),
                                  [1000.0, 1.0])
    # since round 54 the codes' 0 is a point mass: a quarter of a standard deviation
    from mulde.estimator.columns import quantisation_steps

    np.testing.assert_allclose(quantisation_steps(np.c_[codes, counts]),
                               [0.25 * codes.std(ddof=1), 1.0])


def test_the_lattice_is_seen_at_the_datas_own_precision():
    """Whole numbers near 1e13 stay distinct (the rounding rule was 32 eps of the largest
    value, 7 units at 1e15) and on their lattice; near 1e15, two units in the last place are
    a quarter step, so a gap of two steps cannot be checked and no lattice is claimed
    (round 38); two-decimal readings stored as float32 lie a few float32 units off their
    lattice and are still seen, at float32's step."""
    rng = np.random.default_rng(2)
    counts = rng.poisson(3.0, 1000).astype(float)
    assert _lattice((1e13 + counts)[:, None])[0] == 1.0
    assert _lattice((1e15 + counts)[:, None])[0] == 0.0
    cents = (1000 + rng.integers(0, 50, 1000) * 0.01)
    assert _lattice(cents[:, None])[0] == pytest.approx(0.01)
    as32 = cents.astype(np.float32)[:, None]
    assert _lattice(as32)[0] == pytest.approx(0.01, rel=1e-2)
    assert _lattice(as32.astype(np.float64), precision=np.float32)[0] > 0
    assert _lattice(as32.astype(np.float64))[0] == 0.0  # read as float64: missed


def test_non_finite_columns_and_non_float_precisions_are_refused():
    """A column holding NaN has no lattice (NaN sorted last merged into the largest value and
    passed every comparison); a precision that is no float type is a TypeError (bool read as
    float16's units merged a whole lattice)."""
    from mulde.estimator.columns import quantisation_steps

    with_nan = np.r_[np.repeat([0.0, 1.0, 2.0, 3.0], 3), np.nan][:, None]
    assert quantisation_steps(with_nan)[0] == 0.0
    with pytest.raises(TypeError, match="precision must be a float type"):
        quantisation_steps(np.repeat(np.arange(20) * 0.001, 3)[:, None], precision=bool)


def test_a_sparse_float32_tail_keeps_its_lattice():
    """Round 38: two-decimal float32 readings spread over many steps (a log-normal tail up to
    hundreds of steps out) and one large reading 10^5 steps out lie on their lattice; the
    smallest gap's float32 error, k times over, had hidden it (step 0). 10^6 steps out
    float32 cannot check it, and no lattice is claimed."""
    from mulde.estimator.columns import quantisation_steps

    rng = np.random.default_rng(0)
    tail = np.round(np.exp(rng.normal(1.0, 1.0, 5000)), 2).astype(np.float32)[:, None]
    assert quantisation_steps(tail)[0] == pytest.approx(0.01, rel=1e-5)
    k = rng.integers(0, 40, 2000)
    one_far = np.r_[k * 0.001, 100.0].astype(np.float32)[:, None]
    assert quantisation_steps(one_far)[0] == pytest.approx(0.001, rel=1e-5)
    assert quantisation_steps(np.r_[k * 0.001, 1000.0].astype(np.float32)[:, None])[0] == 0
    # one reading off the lattice among the small values is still seen, beside the far one
    off = np.r_[k * 0.001, 0.1003, 100.0].astype(np.float32)[:, None]
    assert quantisation_steps(off)[0] == 0.0
    # far gaps are checked by a step refitted on the near ones: the tail 1,000 steps out
    for offset in (100.0, 1000.0):
        shifted = np.round(offset + np.exp(rng.normal(1.0, 1.0, 5000)), 2)
        assert quantisation_steps(shifted.astype(np.float32)[:, None])[0] == pytest.approx(
            0.01, rel=1e-4)


def test_a_gap_the_precision_cannot_check_is_no_evidence():
    """Where a gap k steps out carries more than a quarter step of the reference step's
    rounding, k times over, it is not checked but refused (it had been accepted within a
    quarter step: a coin flip), unless a step refitted on the near gaps checks it."""
    found = [_lattice(np.repeat(np.array([1.0, 1.0004, c], np.float32), 2)[:, None])[0]
             for c in np.linspace(2.0, 100.0, 200)]
    assert np.count_nonzero(found) == 0
    found = [_lattice(np.repeat([1.0, 1.001, 1.002, c], 2)[:, None])[0]
             for c in np.linspace(1e9, 2e9, 200)]
    assert np.count_nonzero(found) == 0


def test_a_run_of_values_wider_than_the_tolerance_is_no_lattice_value():
    """Values a unit in the last place apart merge as a chain of neighbours; the run is one
    value while it spans at most the lattice tolerance (1e-3 of the step: one sum of
    decimals spelled four ways, 40 float64 units at 3.0), and a continuum beyond it (ten
    float16 units at 3.0 span 0.018 steps: round 37 took them for one value)."""
    base = np.repeat([0.0, 1.0, 2.0], 50)
    run64 = np.r_[base, 3.0 + np.arange(40) * np.spacing(3.0)][:, None]
    assert _lattice(run64)[0] == 1.0
    cents = np.r_[np.repeat(np.arange(60) / 100, 10), 0.03 + 0.41 + 0.04, 0.02 + 0.46,
                  0.03 + 0.28 + 0.17][:, None]
    assert len(np.unique(cents[-4:])) == 1 or _lattice(cents)[0] == 0.01
    assert _lattice(cents)[0] == pytest.approx(0.01)
    run16 = np.r_[base, 3 + np.arange(10) * np.spacing(np.float16(3))].astype(np.float16)
    assert _lattice(run16[:, None])[0] == 0.0
    assert _lattice(run16[:-8, None])[0] == 1.0  # two units: one value


def test_the_precision_is_read_per_column():
    """A DataFrame's float32 column beside a float64 one is widened to float64 on conversion;
    given_precision reads each column's type before that, and quantisation_steps takes one
    type per column (ValueError for another count)."""
    import pandas as pd

    from mulde.estimator.columns import given_precision, quantisation_steps

    rng = np.random.default_rng(4)
    cents = (1000 + rng.integers(0, 50, 1000) * 0.01).astype(np.float32)
    frame = pd.DataFrame({"reading": cents, "other": rng.standard_normal(1000),
                          "count": rng.poisson(2.0, 1000)})
    assert given_precision(frame) == [np.float32, np.float64, np.float64]
    assert given_precision(cents[:, None]) == np.float32
    assert given_precision([[1, 2], [3, 4]]) == np.float64
    X = frame.to_numpy(dtype=np.float64)
    steps = quantisation_steps(X, precision=given_precision(frame))
    assert steps[0] == pytest.approx(0.01, rel=1e-3) and steps[1] == 0 and steps[2] == 1
    assert quantisation_steps(X)[0] == 0.0  # read at float64's precision: missed
    assert quantisation_steps(frame)[0] == pytest.approx(0.01, rel=1e-3)  # its own types
    with pytest.raises(ValueError, match="2 float types for 3 columns"):
        quantisation_steps(X, precision=[np.float32, np.float64])
