"""The density-fidelity suite (benchmarks/density_fidelity.py) scores its stored energies
with the aggregates the estimator computes itself."""

import numpy as np
import pytest
from density_fidelity import aggregate_scores, held_rows

from mulde import MULDE


def test_the_suites_validated_aggregate_uses_the_estimators_own_held_rows():
    """mean_energy_validated needs the rows MULDE held out; the suite recomputes them from
    the seed, and must find the levels and scores of the fitted estimator."""
    rng = np.random.default_rng(1)
    for n, fraction in ((90, 0.1), (300, 0.2)):  # "auto": a fifth of three layers from 50
        x, new = rng.normal(size=(n, 2)), rng.normal(size=(7, 2))  # rows per feature
        model = MULDE(aggregator="mean_energy_validated", max_steps=20, hidden_sizes=(8, 8, 8),
                      random_state=5).fit(x)
        assert model.train_result_.validation_fraction == fraction
        assert len(held_rows(len(x), 5, fraction)) == round(fraction * len(x))
        e_train = model.score_samples_multiscale(x)
        _, scores = aggregate_scores("mean_energy_validated", e_train,
                                     [model.score_samples_multiscale(new)], seed=5,
                                     fraction=fraction)
        np.testing.assert_allclose(scores, model.anomaly_score(new), rtol=1e-6, atol=1e-9)


def test_variants_before_round_27_train_one_network_on_every_row():
    """The stored commands of rounds 1-24 keep fitting what they fitted: one network on every
    row, though the default's n_members and max_samples are now "auto"; rounds 25 and 27 set
    theirs from the rows by the library's rule (`members_for_rows`): 3 networks on 300 rows,
    every one on every row (round 25) or each on its own half (round 27), and one network on
    every row of 1,000."""
    from density_fidelity import VARIANTS, variant_params

    from mulde.core.training import resolve_max_samples, resolve_members
    rows_rule = {"ens_rows", "bag_rows", "width_d", "width_2d", "lr_fan_in", "lr_rows_per_feature",
                 "bag_per_feature", "quarters8_per_feature", "quarters4_per_feature",
                 "quarters8_per_direction", "steps8000_per_feature", "dequantise_lattice",
                 "dequantise_lattice3", "dequantise_cells2sd", "depth3_per_feature",
                 "depth3_100_per_feature", "held20_100_per_feature",
                 "depth3_held20_100_per_feature", "depth3_dropout10", "depth3_dropout05",
                 "depth3_layer_norm", "depth3_bag2_halves", "depth3_ens2_full",
                 "depth3_ens2_w180", "depth3_ens2_w160", "depth3_ens2_w160_upto160",
                 "pair_from50_per_feature", "deep_pair_from50", "deep_trio_w128",
                 "thin_q4_b512", "no_direction_rule", "eight_for_one", "thin_eighths",
                 "thin_eighths_patience3", "split_draws_eval50", "shares_eval50",
                 "thin_width128", "two_valued_half", "two_valued_full", "atom_half",
                 "atom_quarter", "rare_flags_clipped", "rare_flags_unbounded",
                 "rare_flags_share1", "deep_pair_from25", "deep_pair_from25_over500",
                 "deep_pair_from25_not_thin", "eight_below50", "shallow_from50",
                 "steps8000_from50", "atoms_pmf5",
                 "modes_reweighted", "separated_modes", "separated_gain10",
                 "separated_modes_dequantised", "separated_gain10_dequantised",
                 "separated_gain10_principal"}
    for name, overrides in VARIANTS.items():  # rounds 4-5's fixed ensembles keep theirs
        if name in rows_rule:
            continue
        assert overrides["max_samples"] == 1.0, name
        assert overrides["n_members"] == (1 if "ens" not in name else
                                          {"ens4_w128": 4, "ens4_w128_cosine": 4,
                                           "ens2_b512": 2, "ens4_b256": 4}.get(name, 1)), name

    def resolved(name, n, d=8):  # what the suite fits: variant_params resolves the members
        m = resolve_members(variant_params(name, d, n)["n_members"], n, d)
        return m, resolve_max_samples(VARIANTS[name]["max_samples"], m)

    assert resolved("ens_rows", 300) == (3, 1.0) and resolved("bag_rows", 300) == (3, 0.5)
    assert resolved("ens_rows", 1000) == resolved("bag_rows", 1000) == (1, 1.0)


def test_variants_before_round_30_count_members_from_the_rows_alone():
    """Rounds 25-29's variants keep fitting what they fitted where the library's "auto" now
    trains 4 members (fewer than ten rows per feature): one network on 4,000 rows of 512
    features, 3 on 300 rows of 64; round 30's B3 `bag_per_feature` four on the former, and
    round 31's Q8 `quarters8_per_feature` the library's rule until round 46 (which gives the
    eight an eighth of the rows each instead of a quarter)."""
    from density_fidelity import variant_params

    from mulde.core.training import members_for_rows
    for name in ("ens_rows", "bag_rows", "width_d", "lr_fan_in", "lr_rows_per_feature"):
        assert variant_params(name, 512, 4000)["n_members"] == 1, name
        assert variant_params(name, 64, 300)["n_members"] == 3, name
    for d, n in ((64, 300), (64, 1000), (8, 200), (512, 5120)):
        assert variant_params("bag_per_feature", d, n)["n_members"] == members_for_rows(n, d)
    assert variant_params("bag_per_feature", 512, 4000)["n_members"] == 4  # round 31: 8
    from mulde.core.training import resolve_max_samples
    for d, n in ((512, 4000), (64, 300), (64, 1000), (8, 200), (512, 5120), (64, 501)):
        params = variant_params("quarters8_per_feature", d, n)  # the library's "auto" since
        members = members_for_rows(n, d)
        assert params["n_members"] == members, (d, n)
        assert resolve_max_samples(params["max_samples"], members) == (
            0.25 if members == 8 else resolve_max_samples("auto", members)), (d, n)


def test_round_31s_variants_change_the_bags_of_thin_sets_only():
    """Q8 and Q4 are B3 `bag_per_feature` with 8 or 4 members each on a quarter of the rows
    where 500 < n < 10 d; elsewhere (ten rows per feature or more, or at most 500 rows, where
    the rows alone train several networks) B3 itself."""
    from density_fidelity import variant_params

    for name, members in (("quarters8_per_feature", 8), ("quarters4_per_feature", 4)):
        for d, n in ((512, 4000), (64, 501)):
            params = variant_params(name, d, n)
            assert (params["n_members"], params["max_samples"]) == (members, 0.25), name
        for d, n in ((8, 4000), (64, 1000), (512, 5120), (8, 200), (64, 300), (64, 500)):
            assert variant_params(name, d, n) == variant_params("bag_per_feature", d, n)


def test_round_33s_variant_bags_sets_of_few_rows_per_principal_direction_only():
    """`quarters8_per_direction` is Q8 `quarters8_per_feature` with 8 members each on a
    quarter of the rows also where 500 < n < 50 x the principal directions (and n >= 10 d);
    elsewhere Q8 itself. It refuses to resolve without the directions."""
    import pytest
    from density_fidelity import variant_params

    name = "quarters8_per_direction"
    for d, n, k in ((128, 4000, 111), (64, 1000, 23), (32, 1000, 26), (64, 501, 11)):
        params = variant_params(name, d, n, k)
        assert (params["n_members"], params["max_samples"]) == (8, 0.25), (d, n, k)
    for d, n, k in ((64, 1000, 4), (64, 4000, 22), (8, 4000, 8), (64, 500, 64), (512, 4000, 417),
                    (64, 300, 4), (128, 6400, 128)):
        assert variant_params(name, d, n, k) == variant_params("quarters8_per_feature", d, n)
    with pytest.raises(ValueError, match="principal direction"):
        variant_params(name, 128, 4000)


def test_round_34s_variant_raises_the_step_cap_from_50_rows_per_feature_only():
    """`steps8000_per_feature` is P8 `quarters8_per_direction` with max_steps 8,000 where
    n >= 50 d, and P8 itself below."""
    from density_fidelity import variant_params

    name, default = "steps8000_per_feature", "quarters8_per_direction"
    for d, n, k in ((8, 4000, 8), (64, 4000, 22), (2, 10000, 2), (16, 800, 14)):
        assert variant_params(name, d, n, k) == {**variant_params(default, d, n, k),
                                                 "max_steps": 8000}, (d, n)
    for d, n, k in ((64, 1000, 4), (128, 4000, 111), (16, 799, 14), (512, 4000, 417)):
        assert variant_params(name, d, n, k) == variant_params(default, d, n, k), (d, n)


def test_round_28s_variants_widen_only_the_first_layer_and_only_past_256_inputs():
    """W1 `width_d` and W2 `width_2d` are B2 `bag_rows` with hidden_sizes (max(256, k d),
    256), k = 1 and 2: the default's (256, 256) on every case of rounds 24-27 (d <= 128)."""
    from density_fidelity import VARIANTS, variant_params

    for name, k in (("width_d", 1), ("width_2d", 2)):
        for d, first in ((8, 256), (128, 256), (512, 512 * k)):
            base = variant_params("bag_rows", d, 4000)
            assert base.pop("hidden_sizes") == (256, 256)  # pinned: the widths until round 28
            params = variant_params(name, d, 4000)
            assert params.pop("hidden_sizes") == (first, 256), (name, d)
            assert params == base, name
        assert "first_width_per_feature" in VARIANTS[name]  # the table itself is not changed
    assert variant_params("width_d", 200, 50)["hidden_sizes"] == (256, 256)
    assert variant_params("width_d", 300, 50)["hidden_sizes"] == (300, 256)
    assert variant_params("width_2d", 129, 50)["hidden_sizes"] == (258, 256)


def test_round_29s_variants_lower_the_rate_only_past_256_features():
    """L1 `lr_fan_in`: learning_rate_for_rows(n) x min(1, 256 / d); L2 `lr_rows_per_feature`:
    learning_rate_for_rows(n x min(1, 256 / d)); both W1 (the default's "auto" widths) with
    lr "auto" itself up to 256 features."""
    from density_fidelity import variant_params

    from mulde import MULDE
    from mulde.core.training import members_for_rows

    for name in ("lr_fan_in", "lr_rows_per_feature", "bag_per_feature"):
        for d, n in ((8, 4000), (256, 200), (128, 4000)):
            params = variant_params(name, d, n)
            assert params["lr"] == "auto" and params.pop("hidden_sizes") == (
                max(256, d), 256), (name, d)  # rounds 29-40's "auto" widths
            assert params.pop("validation_fraction") == 0.1  # rounds 1-40's share
            # n_members resolved from the rows (rounds 25-29's "auto"; test above)
            assert params.pop("n_members") == members_for_rows(n, d if "bag" in name else 1)
            default = MULDE(dequantise=False, patience=5, eval_every=100,  # to 49
                            reweight=None, max_mode_gain=None).get_params()  # to 61, 62
            assert {k: default[k] for k in params} == params, name
    from mulde.core.training import resolve_lr

    assert variant_params("lr_fan_in", 512, 4000)["lr"] == pytest.approx(1.5e-3)
    assert variant_params("lr_fan_in", 1555, 799)["lr"] == pytest.approx(1e-3 * 256 / 1555)
    # L2 is the library's "auto" since it passed
    assert variant_params("lr_rows_per_feature", 512, 4000)["lr"] == "auto"
    assert resolve_lr("auto", 4000, 512) == pytest.approx(2e-3)
    assert resolve_lr("auto", 799, 1555) == pytest.approx(1e-3)
    # the "auto" variants of rounds 24-28 keep the rate from the rows alone past 256 features
    for name in ("lr_rows", "bag_rows", "width_d", "width_2d"):
        assert variant_params(name, 512, 4000)["lr"] == pytest.approx(3e-3), name
        assert variant_params(name, 256, 4000)["lr"] == "auto", name


def test_rounds_35_to_56_variants_keep_their_lattice_rules():
    """Round 35 counted two-valued columns and cells of any width, round 36 cells of any
    width from three values; the library counts from three values with cells of at most two
    standard deviations since round 37, gives two-valued columns half-gap cells since round
    52 and a column with a point mass (the wide codes' 0 on 96 of 100 rows) a cell a quarter
    of its standard deviation since round 54 (every earlier variant none, round 53's half);
    round 55's challenger gives a rare flag (5 ones in 100) two standard deviations, its
    reported variant, with no bound, half the gap (and the wide codes their lattice), round
    56's half the gap for a flag of 5 % alone: the suite fits each round's variant by its
    rule."""
    from density_fidelity import VARIANTS, _lattice_rule, variant_params

    import mulde.estimator.model as model_module

    wide = np.r_[np.zeros(96), [10.0, 10.0, 20.0, 20.0]]  # cells of 3.2 stds
    rare = np.r_[np.ones(5), np.zeros(95)]  # half a gap is 2.3 stds
    x = np.c_[np.tile([0.0, 1.0], 50), np.tile([0.0, 1.0, 2.0, 3.0], 25), wide, rare]
    assert "lattice_rule" not in variant_params("dequantise_lattice", 3, 100, 3)
    atom, flag = wide.std(ddof=1), rare.std(ddof=1)
    expected = {"dequantise_lattice": [1.0, 1.0, 10.0, 1.0],
                "dequantise_lattice3": [0.0, 1.0, 10.0, 0.0],
                "dequantise_cells2sd": [0.0, 1.0, 0.0, 0.0], "thin_width128": [0.0, 1.0, 0.0, 0.0],
                "two_valued_half": [0.5, 1.0, 0.0, 0.0], "two_valued_full": [1.0, 1.0, 10.0, 1.0],
                "atom_half": [0.5, 1.0, 0.5 * atom, 0.0],
                "atom_quarter": [0.5, 1.0, 0.25 * atom, 0.0],
                "rare_flags_clipped": [0.5, 1.0, 0.25 * atom, 2.0 * flag],
                "rare_flags_unbounded": [0.5, 1.0, 10.0, 0.5],  # no bound: lattices too
                "rare_flags_share1": [0.5, 1.0, 0.25 * atom, 0.5],
                "deep_pair_from25": [0.5, 1.0, 0.25 * atom, 0.0],
                "deep_pair_from25_over500": [0.5, 1.0, 0.25 * atom, 0.0],
                "deep_pair_from25_not_thin": [0.5, 1.0, 0.25 * atom, 0.0],
                "eight_below50": [0.5, 1.0, 0.25 * atom, 0.0],
                "shallow_from50": [0.5, 1.0, 0.25 * atom, 0.0],
                "steps8000_from50": [0.5, 1.0, 0.25 * atom, 0.0],
                "atoms_pmf5": [0.5, 1.0, 0.25 * atom, 0.0]}
    for name, steps in expected.items():
        with _lattice_rule(VARIANTS[name].get("lattice_rule")):
            np.testing.assert_allclose(model_module.quantisation_steps(x), steps, rtol=1e-12)
    np.testing.assert_allclose(model_module.quantisation_steps(x),
                               [0.5, 1.0, 0.25 * atom, 0.0], rtol=1e-12)


def test_round_57s_deeper_pair_comes_from_25_rows_per_feature_and_is_the_default_from_50():
    """deep_pair_from25: the default's pair of three layers of 160, each on every row, with a
    fifth held out, from 25 rows per feature (the boundary included); below, and from 50
    rows per feature, the default's own networks (atom_quarter's)."""
    from density_fidelity import variant_params

    from mulde.core.network import DEEP_ROWS_PER_FEATURE

    assert DEEP_ROWS_PER_FEATURE == 50
    for directions in (20, 40):  # the pair where the default trains one, or the eight
        pair = variant_params("deep_pair_from25", 64, 1600, directions)
        assert (pair["hidden_sizes"], pair["n_members"], pair["max_samples"],
                pair["validation_fraction"]) == ((160, 160, 160), 2, 1.0, 0.2)
    one = variant_params("atom_quarter", 64, 1600, 20)
    eight = variant_params("atom_quarter", 64, 1600, 40)  # fewer than 50 rows per direction
    assert (one["hidden_sizes"], one["n_members"]) == ((256, 256), 1)
    assert (eight["hidden_sizes"], eight["n_members"]) == ((256, 128), 8)
    below = variant_params("deep_pair_from25", 64, 1599, 40)
    assert below == variant_params("atom_quarter", 64, 1599, 40)
    assert below["validation_fraction"] == 0.1
    for n in (3200, 10_000):
        assert (variant_params("deep_pair_from25", 64, n, 40)
                == variant_params("atom_quarter", 64, n, 40))
    for n in (5000, 9000, 10_000):  # past 160 features the default's rule from 50
        assert (variant_params("deep_pair_from25", 200, n, 150)
                == variant_params("atom_quarter", 200, n, 150))


def test_round_58s_pair_from_25_rows_per_feature_needs_501_rows():
    """deep_pair_from25_over500: round 57's pair from 25 rows per feature only from 501 rows
    (the boundary included); below them the default's networks on halves, as from 50 rows
    per feature the default's pair."""
    from density_fidelity import variant_params

    pair = variant_params("deep_pair_from25_over500", 16, 501, 12)
    assert (pair["hidden_sizes"], pair["n_members"], pair["max_samples"],
            pair["validation_fraction"]) == ((160, 160, 160), 2, 1.0, 0.2)
    assert pair == variant_params("deep_pair_from25", 16, 501, 12)
    for n in (400, 500):  # 25-31 rows per feature, below 501 rows: the default's
        below = variant_params("deep_pair_from25_over500", 16, n, 12)
        assert below == variant_params("atom_quarter", 16, n, 12)
        assert below["validation_fraction"] == 0.1
        assert variant_params("deep_pair_from25", 16, n, 12)["n_members"] == 2
    assert (variant_params("deep_pair_from25_over500", 8, 400, 8)  # 50 per feature
            == variant_params("atom_quarter", 8, 400, 8))


def test_round_59s_variant_is_the_librarys_auto_networks():
    """The library took round 59's rule: P3 `deep_pair_from25_not_thin` builds the networks
    "auto" builds (widths, members, their share, the share held out) on each side of the
    rule's lines: 25 and 50 rows per feature, 501 rows, 160 features, thin rows, 50 rows per
    principal direction."""
    from density_fidelity import variant_params

    from mulde.core.network import widths_for_features
    from mulde.core.training import (
        resolve_ensemble,
        resolve_max_samples,
        validation_fraction_for_network,
        widths_for_members,
    )

    for d, n, directions in ((32, 800, 28), (32, 800, 16), (32, 800, 17), (32, 799, 28),
                             (16, 501, 14), (16, 501, 10), (16, 500, 14),
                             (8, 400, 8), (8, 399, 8), (64, 3000, 50), (64, 1000, 23),
                             (160, 4000, 100), (161, 4025, 100), (161, 8050, 100),
                             (512, 4000, 400), (2, 50, 2)):
        p2 = variant_params("deep_pair_from25_not_thin", d, n, directions)
        members, share = resolve_ensemble("auto", "auto", n, d, directions)
        widths = widths_for_members(widths_for_features(d, n, directions), members)
        mine = resolve_max_samples(p2["max_samples"], p2["n_members"])
        assert (tuple(p2["hidden_sizes"]), p2["n_members"], mine) == (widths, members,
                                                                      share), (d, n)
        assert p2["validation_fraction"] == validation_fraction_for_network(n, d, widths,
                                                                            directions)


def test_round_59s_pair_from_25_rows_per_feature_needs_50_per_direction_too():
    """deep_pair_from25_not_thin: round 58's pair from 25 rows per feature only where the
    rows are at least 50 per principal direction; below that the eight of the default
    before round 58 (`atom_quarter`), from 50 rows per feature the pair of both."""
    from density_fidelity import held_fraction, variant_params

    one = variant_params("deep_pair_from25_not_thin", 32, 1000, 20)  # 50 per direction
    assert one == variant_params("deep_pair_from25_over500", 32, 1000, 20)
    assert (one["n_members"], one["validation_fraction"]) == (2, 0.2)
    thin = variant_params("deep_pair_from25_not_thin", 32, 1000, 21)
    assert thin == variant_params("atom_quarter", 32, 1000, 21)
    assert (thin["n_members"], thin["validation_fraction"]) == (8, 0.1)
    assert held_fraction("deep_pair_from25_not_thin", 32, 1000, 21) == 0.1
    assert held_fraction("deep_pair_from25_not_thin", 32, 1000, 20) == 0.2
    assert (variant_params("deep_pair_from25_not_thin", 16, 800, 16)  # 50 per feature
            == variant_params("atom_quarter", 16, 800, 16))


def test_round_39s_third_layer_comes_from_fifty_rows_per_feature():
    """depth3_per_feature: rounds 29-40's "auto" widths and a third layer of 256 where
    n >= 50 d, at the boundary included; those two layers elsewhere."""
    from density_fidelity import variant_params

    assert variant_params("depth3_per_feature", 16, 800, 12)["hidden_sizes"] == (256, 256, 256)
    assert variant_params("depth3_per_feature", 16, 799, 12)["hidden_sizes"] == (256, 256)
    assert variant_params("depth3_per_feature", 300, 15_000, 200)["hidden_sizes"] == (
        300, 256, 256)


def test_round_40s_third_layer_comes_from_a_hundred_rows_per_feature():
    """depth3_100_per_feature: as round 39's from n >= 100 d, the boundary included."""
    from density_fidelity import variant_params

    assert variant_params("depth3_100_per_feature", 16, 1600, 12)["hidden_sizes"] == (
        256, 256, 256)
    assert variant_params("depth3_100_per_feature", 16, 1599, 12)["hidden_sizes"] == (256, 256)
    assert variant_params("depth3_100_per_feature", 64, 4000, 20)["hidden_sizes"] == (256, 256)


def test_round_41s_fifth_held_out_comes_from_a_hundred_rows_per_feature():
    """held20_100_per_feature: validation_fraction 0.2 from n >= 100 d (the boundary
    included), the default's 0.1 below; the depth-3 variant holds out the same and keeps its
    third layer."""
    from density_fidelity import variant_params

    assert variant_params("held20_100_per_feature", 16, 1600, 12)["validation_fraction"] == 0.2
    assert variant_params("held20_100_per_feature", 16, 1599, 12)["validation_fraction"] == 0.1
    deep = variant_params("depth3_held20_100_per_feature", 16, 1600, 12)
    assert deep["validation_fraction"] == 0.2 and deep["hidden_sizes"] == (256, 256, 256)


def test_variants_before_round_41_keep_two_layers_and_a_tenth_held_out():
    """The library's "auto" widths add a third layer, and its "auto" validation_fraction a
    fifth, from 100 rows per feature since round 41; the earlier variants keep fitting what
    they fitted (two layers, a tenth); T5 keeps round 41's widths (the third layer of 256),
    and round 45's winner E4 is the library's rule itself (round 43's pair up to 160
    features, T5 past them, both from 50 rows per feature)."""
    from density_fidelity import VARIANTS, held_fraction, variant_params

    from mulde.core.network import resolve_hidden_sizes
    from mulde.core.training import (
        resolve_max_samples,
        resolve_members,
        resolve_validation_fraction,
    )

    for d, n in ((16, 4000), (8, 800), (300, 30_000), (64, 4000)):
        default = variant_params("dequantise_cells2sd", d, n, 12)
        assert len(default["hidden_sizes"]) == 2 and default["validation_fraction"] == 0.1
        assert held_fraction("dequantise_cells2sd", d, n) == 0.1
        t5 = variant_params("depth3_held20_100_per_feature", d, n, 12)
        two = (max(256, d), 256)
        assert t5["hidden_sizes"] == (two if n < 100 * d else (*two, 256))
        assert t5["validation_fraction"] == resolve_validation_fraction(
            "auto", n, d, t5["hidden_sizes"])
        assert held_fraction("depth3_held20_100_per_feature", d, n) == t5["validation_fraction"]
        e4 = variant_params("deep_pair_from50", d, n, 12)
        library = resolve_hidden_sizes("auto", d, n)
        members = resolve_members("auto", n, d, d)
        assert e4["hidden_sizes"] == library
        assert e4["validation_fraction"] == resolve_validation_fraction("auto", n, d, library)
        if n >= 50 * d and d <= 160:  # the pair; elsewhere both resolve "auto" alike (as T5)
            assert (e4["n_members"], e4["max_samples"]) == (members, resolve_max_samples(
                "auto", members, pair=True)) == (2, 1.0)
    assert all(v["validation_fraction"] == 0.1 for v in VARIANTS.values())


def test_round42_variants_add_two_networks_only_where_the_third_layer_applies():
    """Round 42's E1 and the probes before it change T5 only where its third layer applies
    (rows >= 100 per feature): two networks, on halves or on every row, E1's capped at 180
    wide (round 43's E2 at 160); elsewhere they fit T5's network."""
    from density_fidelity import variant_params

    t5 = variant_params("depth3_held20_100_per_feature", 16, 1600, 12)
    e1 = variant_params("depth3_ens2_w180", 16, 1600, 12)
    assert (e1["n_members"], e1["max_samples"], e1["hidden_sizes"]) == (2, 1.0, (180, 180, 180))
    e2 = variant_params("depth3_ens2_w160", 16, 1600, 12)
    assert (e2["n_members"], e2["max_samples"], e2["hidden_sizes"]) == (2, 1.0, (160, 160, 160))
    assert e1["validation_fraction"] == t5["validation_fraction"] == 0.2
    halves = variant_params("depth3_bag2_halves", 16, 1600, 12)
    assert (halves["n_members"], halves["max_samples"]) == (2, 0.5)
    assert halves["hidden_sizes"] == variant_params("depth3_ens2_full", 16, 1600, 12)[
        "hidden_sizes"] == (256, 256, 256)
    for name in ("depth3_ens2_w180", "depth3_ens2_w160", "depth3_bag2_halves",
                 "depth3_ens2_full"):
        assert variant_params(name, 16, 1599, 12) == variant_params(
            "depth3_held20_100_per_feature", 16, 1599, 12)


def test_round44_variant_is_the_pair_up_to_160_features_and_t5_past_them():
    """Round 44's E3 fits round 43's pair (E2) up to 160 features and T5's one network of
    three layers past them; where the rows are fewer than 100 per feature, T5's (= E2's)."""
    from density_fidelity import variant_params

    for d, n in ((16, 1600), (160, 16_000), (161, 16_100), (192, 20_000), (192, 1000)):
        e3 = variant_params("depth3_ens2_w160_upto160", d, n, 12)
        same = "depth3_ens2_w160" if d <= 160 else "depth3_held20_100_per_feature"
        assert e3 == variant_params(same, d, n, 12)
    e2 = variant_params("depth3_ens2_w160", 192, 20_000, 12)
    assert (e2["n_members"], e2["hidden_sizes"]) == (2, (192, 160, 160))
    t5 = variant_params("depth3_ens2_w160_upto160", 192, 20_000, 12)
    assert t5["hidden_sizes"] == (256, 256, 256) and t5["max_samples"] == "auto"


def test_stored_energies_are_refitted_when_the_variants_settings_changed(tmp_path, monkeypatch):
    """The energies saved per case and variant are reread only while they record the
    variant's settings of today: a changed definition refits instead of reusing stale
    energies under the same name."""
    import density_fidelity
    from density_fidelity import VARIANTS, fit_mulde_energies

    rng = np.random.default_rng(0)
    x, fresh = rng.normal(size=(60, 2)), rng.normal(size=(5, 2))
    tiny = {**VARIANTS["beta0_geometric"], "max_steps": 3, "hidden_sizes": (4, 4)}
    monkeypatch.setitem(density_fidelity.VARIANTS, "tiny", tiny)
    cache = tmp_path / "case_tiny.npz"
    first = fit_mulde_energies("tiny", x, [fresh], seed=1, cache=cache)
    again = fit_mulde_energies("tiny", x, [fresh], seed=1, cache=cache)
    assert again[1] == first[1]  # the stored fit seconds: reread, not refitted
    monkeypatch.setitem(density_fidelity.VARIANTS, "tiny", {**tiny, "hidden_sizes": (5, 5)})
    changed = fit_mulde_energies("tiny", x, [fresh], seed=1, cache=cache)
    assert changed[1] != first[1]
    assert not np.allclose(changed[0][1], first[0][1])


def test_probes_after_round_44_change_only_the_rows_from_50_per_feature():
    """The probes after round 44: `pair_from50_per_feature` trains two networks of round
    28's widths on every row where the rows are 50-99 per feature and the rows' rule trains
    one; `deep_pair_from50` gives E3's deeper networks from 50 rows per feature; both fit
    E3's networks elsewhere."""
    from density_fidelity import variant_params

    e3 = "depth3_ens2_w160_upto160"
    mid = variant_params("pair_from50_per_feature", 16, 1200, 12)
    assert (mid["n_members"], mid["max_samples"], mid["hidden_sizes"]) == (2, 1.0, (256, 256))
    deep = variant_params("deep_pair_from50", 16, 800, 12)
    assert (deep["n_members"], deep["hidden_sizes"], deep["validation_fraction"]) == (
        2, (160, 160, 160), 0.2)
    for d, n in ((16, 799), (16, 1600), (192, 20_000)):
        for probe in ("pair_from50_per_feature", "deep_pair_from50"):
            assert variant_params(probe, d, n, 12) == variant_params(e3, d, n, 12)
    assert variant_params("pair_from50_per_feature", 16, 800, 12) != variant_params(
        e3, 16, 800, 12)


def test_round46s_f1_is_the_librarys_ensemble_and_e4_with_the_eight_on_eighths():
    """Round 46's F1 `thin_eighths` (the default since): E4 but round 31's eight networks each
    on an eighth of the rows; its members and shares are the library's "auto" on thin rows,
    on rows spread over many directions, and where the eight do not train (below 25 rows
    per feature: from 25 on 501 rows or more the library trains round 58's pair)."""
    from density_fidelity import variant_params

    from mulde.core.training import resolve_ensemble, resolve_max_samples
    for d, n, directions in ((512, 4000, 400), (128, 3000, 111), (64, 1000, 23),
                             (64, 1000, 4), (8, 4000, 8), (16, 800, 12), (8, 300, 8)):
        f1, e4 = (variant_params(v, d, n, directions) for v in ("thin_eighths",
                                                                 "deep_pair_from50"))
        assert (f1["n_members"], resolve_max_samples(f1["max_samples"], f1["n_members"])) == (
            resolve_ensemble("auto", "auto", n, d, directions)), (d, n)
        members = f1["n_members"]
        assert f1 == ({**e4, "max_samples": 0.125} if members == 8 else e4), (d, n)


def test_the_fit_time_probe_trains_four_networks_on_batches_of_512_where_e4_trains_eight():
    """Stop 60's `thin_q4_b512`: E4 (`deep_pair_from50`) but four networks on quarters with
    batches of 512 rows wherever E4 trains round 31's eight on quarters; E4 elsewhere."""
    from density_fidelity import variant_params

    e4, probe = variant_params("deep_pair_from50", 512, 4000, 400), variant_params(
        "thin_q4_b512", 512, 4000, 400)
    assert (e4["n_members"], e4["max_samples"], e4.get("batch_size")) == (8, 0.25, None)
    assert (probe["n_members"], probe["max_samples"], probe["batch_size"]) == (4, 0.25, 512)
    assert {k: v for k, v in probe.items() if k not in ("n_members", "batch_size")} == {
        k: v for k, v in e4.items() if k != "n_members"}
    for d, n, directions in ((8, 4000, 8), (34, 20000, 30), (512, 300, 200)):
        assert variant_params("thin_q4_b512", d, n, directions) == variant_params(
            "deep_pair_from50", d, n, directions)


def test_round_49s_variant_fits_with_per_member_validation_draws(tmp_path, monkeypatch):
    """`validation_draws` is no MULDE parameter: variant_params leaves it out and
    fit_mulde_energies fits within `common.validation_draws`, which restores the library's."""
    import density_fidelity
    from common import validation_draws
    from density_fidelity import VARIANTS, variant_params

    import mulde.core.training as training

    params = variant_params("split_draws_eval50", 8, 4000, directions=8)
    assert "validation_draws" not in params and params["eval_every"] == 50
    with validation_draws("shared"):
        assert training.TrainConfig().validation_draws == "shared"
    assert training.VALIDATION_DRAWS == "per_member"  # the library's own, restored
    with pytest.raises(ValueError, match="validation draws must be one of"), \
            validation_draws("each"):
        pass
    seen = []
    original = training._validation_loss

    def recording(*args, **kwargs):
        seen.append(kwargs["draws"])
        return original(*args, **kwargs)

    monkeypatch.setattr(training, "_validation_loss", recording)
    monkeypatch.setitem(VARIANTS, "tiny_split", {**VARIANTS["split_draws_eval50"],
                                                 "max_steps": 20, "eval_every": 10})
    x = np.random.default_rng(0).normal(size=(60, 2))
    density_fidelity.fit_mulde_energies("tiny_split", x, [x[:5]], 0, None)
    assert seen and set(seen) == {"per_member"}
    assert training.VALIDATION_DRAWS == "per_member"
    seen.clear()  # a variant before round 49 fits with the draws shared, every 100 steps
    monkeypatch.setitem(VARIANTS, "tiny_shared", {**VARIANTS["thin_eighths_patience3"],
                                                  "max_steps": 20})
    assert variant_params("tiny_shared", 2, 60, directions=2)["eval_every"] == 100
    density_fidelity.fit_mulde_energies("tiny_shared", x, [x[:5]], 0, None)
    assert set(seen) == {"shared"}


def test_round_60s_variant_scores_repeated_rows_by_their_count_on_the_defaults_fit():
    """atoms_pmf5 scores the default's fit (`scores_of`), each row equal to a training row
    held 5 times or more by -log(c / n) + K; rows held fewer times, and every row where the
    variant names no count, keep their scores."""
    from density_fidelity import VARIANTS, repeated_rows, variant_params

    assert VARIANTS["atoms_pmf5"]["scores_of"] == "deep_pair_from25_not_thin"
    assert variant_params("atoms_pmf5", 4, 1000, 4) == variant_params(
        "deep_pair_from25_not_thin", 4, 1000, 4)
    x = np.r_[np.zeros((6, 2)), np.ones((3, 2)), [[0.5, 0.5]]]  # n 10: 6 copies, 3, 1
    fresh = np.array([[0.0, -0.0], [1.0, 1.0], [2.0, 2.0]])
    train_s, fresh_s = np.arange(10.0), np.array([4.0, 5.0, 6.0])
    out_train, out_fresh = repeated_rows(5, x, [fresh])(train_s, fresh_s)
    k = np.median(train_s[:6] + np.log(0.6))
    np.testing.assert_allclose(out_train, np.r_[np.full(6, -np.log(0.6) + k), 6.0, 7.0, 8.0,
                                                9.0], rtol=1e-12)
    np.testing.assert_allclose(out_fresh, [-np.log(0.6) + k, 5.0, 6.0], rtol=1e-12)
    for rescore in (repeated_rows(None, x, [fresh]), repeated_rows(7, x, [fresh])):
        same = rescore(train_s, fresh_s)
        assert same[0] is train_s and same[1] is fresh_s
