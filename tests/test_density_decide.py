"""The decision rule of the density-fidelity rounds (benchmarks/density_decide.py), by hand."""

import pytest
from density_decide import decide

KW = {"margin": 0.003, "cal_slack": 0.002, "cal_gain": 0.005}


def test_a_better_merit_wins_only_within_the_calibration_slack():
    table = {"inc": (0.900, 0.030, 13), "a": (0.905, 0.031, 13), "b": (0.910, 0.040, 13)}
    assert decide(table, "inc", ["a", "b"], **KW) == ("a", ["a"])  # b calibrates too badly


def test_a_slightly_lower_merit_wins_on_much_better_calibration():
    table = {"inc": (0.900, 0.030, 13), "a": (0.898, 0.020, 13), "b": (0.896, 0.010, 13)}
    assert decide(table, "inc", ["a", "b"], **KW) == ("a", ["a"])  # b is 0.004 below


def test_ties_within_the_margin_go_to_the_best_calibration_and_nothing_may_pass():
    table = {"inc": (0.900, 0.030, 13), "a": (0.910, 0.029, 13), "b": (0.908, 0.020, 13)}
    assert decide(table, "inc", ["a", "b"], **KW) == ("b", ["a", "b"])
    table = {"inc": (0.900, 0.030, 13), "a": (0.902, 0.029, 13)}
    assert decide(table, "inc", ["a"], **KW) == ("inc", [])


@pytest.mark.parametrize("merit", [0.9031, 0.90301])
def test_the_margin_is_strict(merit):
    table = {"inc": (0.900, 0.030, 13), "a": (merit, 0.030, 13)}
    assert decide(table, "inc", ["a"], **KW)[0] == "a"
    table["a"] = (0.9029, 0.030, 13)
    assert decide(table, "inc", ["a"], **KW)[0] == "inc"
