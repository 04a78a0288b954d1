"""The benchmark scripts that time or score an earlier default name every setting in which it
differs from today's, so a later change of a default does not silently change what they
measure under the old name (round 17 turned the regulariser off, beta 0.1 -> 0; round 19
added the time-score term, 0 -> 0.25; round 24 set the learning rate from the rows, 1e-3 ->
"auto"; round 28 the first hidden width from the features, (256, 256) -> "auto"; rounds 27
and 30 the networks from the rows and features, one on every row -> "auto"; round 41 a third
layer and the share held out from the rows per feature, a tenth -> "auto"; round 48 early
stopping after 3 evaluations without improvement, 5 -> 3; round 49 an evaluation every 50
steps, 100 -> 50)."""

import pytest
from density_fidelity import VARIANTS, variant_params
from digits_nines import SETTINGS
from speed import PREVIOUS_DEFAULT, ROUND1_DEFAULT

from mulde import MULDE

# the variants of T5 (round 41's winner) that later probes and rounds 42-45 fitted
PROBES_OF_T5 = ("depth3_dropout10", "depth3_dropout05", "depth3_layer_norm",
                "depth3_bag2_halves", "depth3_ens2_full", "depth3_ens2_w180",
                "depth3_ens2_w160", "depth3_ens2_w160_upto160", "pair_from50_per_feature",
                "deep_pair_from50", "deep_trio_w128", "thin_q4_b512",
                "no_direction_rule", "eight_for_one", "thin_eighths", "thin_eighths_patience3",
                "split_draws_eval50", "shares_eval50", "thin_width128", "two_valued_half",
                "two_valued_full", "atom_half", "atom_quarter", "rare_flags_clipped",
                "rare_flags_unbounded", "rare_flags_share1", "deep_pair_from25",
                "deep_pair_from25_over500", "deep_pair_from25_not_thin", "eight_below50",
                "shallow_from50", "steps8000_from50", "atoms_pmf5",
                "modes_reweighted", "separated_modes", "separated_gain10",
                "separated_modes_dequantised", "separated_gain10_dequantised",
                "separated_gain10_principal")
# the variants with round 52's default settings: its challengers, rounds 53-59's and later probes
SINCE_ROUND_52 = ("two_valued_half", "two_valued_full", "atom_half", "atom_quarter",
                  "rare_flags_clipped", "rare_flags_unbounded", "rare_flags_share1",
                  "deep_pair_from25", "deep_pair_from25_over500",
                  "deep_pair_from25_not_thin", "eight_below50", "shallow_from50",
                  "steps8000_from50", "atoms_pmf5",
                  "modes_reweighted", "separated_modes", "separated_gain10",
                "separated_modes_dequantised", "separated_gain10_dequantised",
                "separated_gain10_principal")

# the defaults as they were: before issue 15 (the paper's aggregate and regulariser at the
# small width) and issue 15's round 1
BEFORE_ISSUE_15 = {"beta": 0.1, "regulariser": "constant", "aggregator": "gmm",
                   "spacing": "linear", "max_steps": 1000, "time_score": 0.0, "lr": 1e-3,
                   "hidden_sizes": (256, 256), "n_members": 1, "max_samples": 1.0,
                   "validation_fraction": 0.1, "patience": 5, "eval_every": 100}
ROUND_1 = {"beta": 0.1, "regulariser": "sigma2", "aggregator": "mean_energy",
           "spacing": "linear", "max_steps": 1000, "time_score": 0.0, "lr": 1e-3,
           "hidden_sizes": (256, 256), "n_members": 1, "max_samples": 1.0,
           "validation_fraction": 0.1, "patience": 5, "eval_every": 100}


@pytest.mark.parametrize(("overrides", "then"), [
    (PREVIOUS_DEFAULT, BEFORE_ISSUE_15), (ROUND1_DEFAULT, ROUND_1),
    (SETTINGS["MULDE before issue 15"], BEFORE_ISSUE_15),
    (SETTINGS["MULDE round-1 default"], ROUND_1),
])
def test_an_earlier_default_is_rebuilt_with_its_own_settings(overrides, then):
    params = MULDE.from_preset("default", **overrides).get_params()
    assert {k: params[k] for k in then} == then


def test_the_density_suites_variants_keep_the_settings_of_their_round():
    """Round 19 made time_score 0.25 the default; the variants registered before it (the
    incumbent Z1 `beta0_geometric` of round 19's own rerun among them) were fitted without the
    term and must still be, while the rounds 18-19 challengers keep their own weights."""
    z1 = MULDE.from_preset("default", **variant_params("beta0_geometric", 8, 1000)).get_params()
    assert z1["time_score"] == 0.0 and z1["beta"] == 0.0 and z1["spacing"] == "geometric"
    weights = {name: MULDE.from_preset("default", **variant_params(name, 8, 1000, 8)).get_params()[
        "time_score"] for name in VARIANTS}
    assert weights.pop("timescore1_beta0") == 1.0
    assert weights.pop("timescore0.25_beta0") == 0.25
    assert weights.pop("adam_default") == 0.25  # round 21: H2 with Adam's own betas
    assert weights.pop("lr3e-3") == 0.25  # round 22: H2 with lr 3e-3
    assert weights.pop("lr_rows") == 0.25  # round 24: H2 with lr="auto"
    assert weights.pop("ens_rows") == 0.25  # round 25: R1 with members by the rows
    assert weights.pop("bag_rows") == 0.25  # round 27: E2 with each member on half the rows
    assert weights.pop("width_d") == weights.pop("width_2d") == 0.25  # round 28: B2, wider
    assert weights.pop("lr_fan_in") == weights.pop("lr_rows_per_feature") == 0.25  # round 29
    assert weights.pop("bag_per_feature") == 0.25  # round 30: L2, members when n < 10 d
    # round 31: B3 with smaller bags on thin sets
    assert weights.pop("quarters8_per_feature") == weights.pop("quarters4_per_feature") == 0.25
    assert weights.pop("quarters8_per_direction") == 0.25  # round 33: Q8 by directions too
    assert weights.pop("steps8000_per_feature") == 0.25  # round 34: P8, a higher step cap
    assert weights.pop("dequantise_lattice") == 0.25  # round 35: P8, dequantised
    assert weights.pop("dequantise_lattice3") == 0.25  # round 36: from three values
    assert weights.pop("dequantise_cells2sd") == 0.25  # round 37: cells of two stds at most
    assert weights.pop("depth3_per_feature") == 0.25  # round 39: D3 with a third layer
    assert weights.pop("depth3_100_per_feature") == 0.25  # round 40: from 100 rows per feature
    assert weights.pop("held20_100_per_feature") == 0.25  # round 41: a fifth held out
    assert weights.pop("depth3_held20_100_per_feature") == 0.25
    for name in PROBES_OF_T5:
        assert weights.pop(name) == 0.25
    assert set(weights.values()) == {0.0}


def test_the_density_suites_variants_before_round_35_train_on_the_rows_as_given():
    """Round 35 made dequantise=True the default; every variant before it trained on the
    rows as given and must still (on the continuous cases the two fit alike, but not on the
    quantised ones round 35 added)."""
    flags = {name: MULDE.from_preset("default", **variant_params(name, 8, 1000, 8)).get_params()[
        "dequantise"] for name in VARIANTS}
    assert MULDE().get_params()["dequantise"] is True
    assert flags.pop("dequantise_lattice") is flags.pop("dequantise_lattice3") is True
    assert flags.pop("dequantise_cells2sd") is flags.pop("depth3_per_feature") is True
    assert flags.pop("depth3_100_per_feature") is True
    assert flags.pop("held20_100_per_feature") is flags.pop("depth3_held20_100_per_feature") is True
    for name in PROBES_OF_T5:
        assert flags.pop(name) is True
    assert set(flags.values()) == {False}


def test_the_density_suites_variants_keep_the_learning_rate_of_their_round():
    """Round 24 made lr="auto" the default; every variant before it trained at 1e-3 (H2
    `timescore0.25_beta0`, the incumbent of rounds 19-24, among them) and must still."""
    rates = {name: MULDE.from_preset("default", **variant_params(name, 8, 1000, 8)).get_params()[
        "lr"] for name in VARIANTS}
    assert MULDE().get_params()["lr"] == "auto"
    assert rates.pop("lr3e-3") == 3e-3
    assert rates.pop("lr_rows") == "auto"
    assert rates.pop("ens_rows") == "auto"  # round 25: R1 (lr_rows) with an ensemble
    assert rates.pop("bag_rows") == "auto"  # round 27: bagged members
    assert rates.pop("width_d") == rates.pop("width_2d") == "auto"  # round 28: B2, wider
    # round 29: W1 with the rate lowered past 256 features only ("auto" at these 8)
    assert rates.pop("lr_fan_in") == rates.pop("lr_rows_per_feature") == "auto"
    assert rates.pop("bag_per_feature") == "auto"  # round 30: L2 with members by the features
    # round 31: B3 with smaller bags on thin sets
    assert rates.pop("quarters8_per_feature") == rates.pop("quarters4_per_feature") == "auto"
    assert rates.pop("quarters8_per_direction") == "auto"  # round 33: Q8 by directions too
    assert rates.pop("steps8000_per_feature") == "auto"  # round 34: P8, a higher step cap
    assert rates.pop("dequantise_lattice") == rates.pop("dequantise_lattice3") == "auto"
    assert rates.pop("dequantise_cells2sd") == rates.pop("depth3_per_feature") == "auto"
    assert rates.pop("depth3_100_per_feature") == "auto"
    assert rates.pop("held20_100_per_feature") == rates.pop("depth3_held20_100_per_feature") == (
        "auto")
    for name in PROBES_OF_T5:
        assert rates.pop(name) == "auto"
    assert set(rates.values()) == {1e-3}


def test_speed_scores_the_networks_the_default_builds_on_its_rows():
    """speed.py's scoring part measures the model a fit on 20,000 Gaussian rows builds: two
    networks of three layers of 160 at d 34 (issue 15's round 43), eight networks at d 512
    (fewer than 50 rows per direction, round 33; their second layer 128 wide since round
    51), the paper's one; fitted on 256 rows,
    "auto" would have made four of them everywhere (what the table showed before)."""
    from speed import FIT_ROWS, fitted_mulde, members, widths

    assert FIT_ROWS == 20_000
    assert (members("default", 34), widths("default", 34)) == (2, (160, 160, 160))
    assert (members("default", 512), widths("default", 512)) == (8, (512, 128))
    assert members("paper", 512) == 1
    model = fitted_mulde(8, "default")
    assert model.train_result_.n_members == members("default", 8) == 2


def test_every_variant_before_round_48_stops_after_5_evaluations():
    """Round 48 made patience 3 the default; every variant registered before it keeps the 5
    it was fitted with, and round 48's challenger its 3."""
    patience = {name: MULDE.from_preset("default", **variant_params(name, 8, 1000, 8)
                                        ).get_params()["patience"] for name in VARIANTS}
    assert patience.pop("thin_eighths_patience3") == 3
    assert patience.pop("split_draws_eval50") == 3  # round 49's challenger, P3's
    assert patience.pop("shares_eval50") == 3  # round 50's, V1's
    assert patience.pop("thin_width128") == 3  # round 51's, V1's
    assert {patience.pop(name) for name in SINCE_ROUND_52} == {3}  # rounds 52-54
    assert set(patience.values()) == {5}
    assert MULDE().get_params()["patience"] == 3


def test_every_variant_before_round_49_evaluates_every_100_steps_on_shared_draws():
    """Round 49 made an evaluation every 50 steps, each member on its own noise draws, the
    default; every variant registered before it keeps the 100 steps and shared draws it was
    fitted with."""
    spacing = {name: MULDE.from_preset("default", **variant_params(name, 8, 1000, 8)
                                       ).get_params()["eval_every"] for name in VARIANTS}
    draws = {name: overrides["validation_draws"] for name, overrides in VARIANTS.items()}
    assert spacing.pop("split_draws_eval50") == spacing.pop("shares_eval50") == 50
    assert draws.pop("split_draws_eval50") == "per_member"
    assert draws.pop("shares_eval50") == "shares"  # round 50's challenger
    for name in ("thin_width128", *SINCE_ROUND_52):  # rounds 51-54
        assert spacing.pop(name) == 50 and draws.pop(name) == "per_member"
    assert set(spacing.values()) == {100} and set(draws.values()) == {"shared"}
    assert MULDE().get_params()["eval_every"] == 50


def test_round_51_narrows_the_eights_later_layers_and_earlier_variants_keep_theirs():
    """Round 51's W1 builds the eight networks of thin rows with a second layer of 128 (the
    library's "auto" since); V1 and every earlier variant pass their widths explicitly, so
    their eight keep 256; elsewhere W1 is V1."""
    thin = variant_params("thin_width128", 512, 4000, 400)
    assert (thin["n_members"], thin["hidden_sizes"]) == (8, (512, 128))
    assert variant_params("split_draws_eval50", 512, 4000, 400)["hidden_sizes"] == (512, 256)
    assert variant_params("thin_width128", 8, 4000, 8) == variant_params(
        "split_draws_eval50", 8, 4000, 8)
