"""The benchmark scripts that time or score an earlier default name every setting in which it
differs from today's, so a later change of a default does not silently change what they
measure under the old name (round 17 turned the regulariser off, beta 0.1 -> 0)."""

import pytest
from digits_nines import SETTINGS
from speed import PREVIOUS_DEFAULT, ROUND1_DEFAULT

from mulde import MULDE

# the defaults as they were: before issue 15 (the paper's aggregate and regulariser at the
# small width) and issue 15's round 1
BEFORE_ISSUE_15 = {"beta": 0.1, "regulariser": "constant", "aggregator": "gmm",
                   "spacing": "linear", "max_steps": 1000}
ROUND_1 = {"beta": 0.1, "regulariser": "sigma2", "aggregator": "mean_energy",
           "spacing": "linear", "max_steps": 1000}


@pytest.mark.parametrize(("overrides", "then"), [
    (PREVIOUS_DEFAULT, BEFORE_ISSUE_15), (ROUND1_DEFAULT, ROUND_1),
    (SETTINGS["MULDE before issue 15"], BEFORE_ISSUE_15),
    (SETTINGS["MULDE round-1 default"], ROUND_1),
])
def test_an_earlier_default_is_rebuilt_with_its_own_settings(overrides, then):
    params = MULDE.from_preset("default", **overrides).get_params()
    assert {k: params[k] for k in then} == then
