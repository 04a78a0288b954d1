"""benchmarks/held_out_false_alarms.py: its rules set the library's pair rule as each round
left it, and restore it; its digits case is the newcomer's table."""

import pytest
from held_out_false_alarms import RULES, rows, rule

import mulde.core.network as network
from mulde.core.network import deep_enough


def test_each_rule_gives_its_rounds_pair_and_restores_the_library():
    """800 rows of 32 features (25 per feature) with 28 principal directions (fewer than 50
    rows each): the pair before round 58 no, under round 58 yes, under round 59 no; with 16
    directions round 59 yes. The constants are the library's again after each block."""
    saved = (network.PAIR_ROWS_PER_FEATURE, network.PAIR_ROWS_PER_DIRECTION)
    expected = {"before58": (False, False), "round58": (True, True), "round59": (False, True)}
    assert set(RULES) == set(expected)
    for name, (thin, spread) in expected.items():
        with rule(name):
            assert (deep_enough(800, 32, 28), deep_enough(800, 32, 16)) == (thin, spread)
        assert (network.PAIR_ROWS_PER_FEATURE, network.PAIR_ROWS_PER_DIRECTION) == saved
    with pytest.raises(RuntimeError), rule("before58"):
        raise RuntimeError
    assert network.PAIR_ROWS_PER_FEATURE == saved[0]


def test_the_digits_case_is_32_pca_features_of_three_quarters_of_the_normal_rows():
    fit, held = rows("digits", 0)
    assert fit.shape == (1214, 32) and held.shape == (405, 32)
