"""Mode reweighting (`mulde.estimator.reweighting`): the mixture's log-ratio by hand, the BIC
choice, the weights' effect on the modes' shares, and MULDE(reweight="modes") end to end."""

import math
import re

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from model_files import edit_model_file

from mulde import MULDE
from mulde.estimator.reweighting import MIN_ROWS, ModeMixture, fit_mode_mixture

TINY = dict(hidden_sizes=(16,), n_members=1, n_levels=4, max_steps=30, random_state=0,
            device="cpu")


def _two_modes(n_big=1000, n_small=100, seed=0):
    """Rows (n_big + n_small, 2) of two well-apart unit Gaussians, the second one rare."""
    rng = np.random.default_rng(seed)
    return np.r_[rng.standard_normal((n_big, 2)), rng.standard_normal((n_small, 2)) + 12.0]


def test_log_ratio_matches_a_hand_computation():
    """Two 1-D components, weights 0.8 and 0.2, means 0 and 4, variances 1 and 4, at x = 1:
    p_1 = N(1; 0, 1), p_2 = N(1; 4, 4); log r = log(0.8 p_1 + 0.2 p_2) - log((p_1 + p_2) / 2)."""
    mixture = ModeMixture(np.array([[0.0], [4.0]]), np.array([[1.0], [4.0]]),
                          np.array([0.8, 0.2]))
    p1 = math.exp(-0.5) / math.sqrt(2 * math.pi)
    p2 = math.exp(-0.5 * 9 / 4) / math.sqrt(2 * math.pi * 4)
    expected = math.log(0.8 * p1 + 0.2 * p2) - math.log((p1 + p2) / 2)
    got = mixture.log_ratio(torch.tensor([[1.0]]))
    assert got.dtype == torch.float64 and got.shape == (1,)
    assert float(got[0]) == pytest.approx(expected, rel=1e-12)
    assert float(mixture.row_weights(torch.tensor([[1.0]]))[0]) == pytest.approx(
        math.exp(-expected), rel=1e-12)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.floats(0.05, 1.0), min_size=2, max_size=5),
       st.floats(-5, 5), st.floats(-5, 5))
def test_log_ratio_lies_between_the_log_weights_times_k(raw, a, b):
    """r(x) = K sum_k pi_k post_k(x) with equal-weight posteriors post_k: a convex
    combination, so log(K min pi) <= log r <= log(K max pi); equal weights give log r = 0."""
    weights = np.array(raw) / sum(raw)
    k = len(weights)
    rng = np.random.default_rng(k)
    mixture = ModeMixture(rng.standard_normal((k, 2)), rng.uniform(0.5, 2.0, (k, 2)), weights)
    got = float(mixture.log_ratio(torch.tensor([[a, b]]))[0])
    assert math.log(k * weights.min()) - 1e-9 <= got <= math.log(k * weights.max()) + 1e-9
    flat = ModeMixture(mixture.means, mixture.variances, np.full(k, 1.0 / k))
    assert float(flat.log_ratio(torch.tensor([[a, b]]))[0]) == pytest.approx(0.0, abs=1e-12)


def test_one_gaussian_gets_no_mixture_and_two_apart_modes_get_equal_shares():
    rng = np.random.default_rng(0)
    assert fit_mode_mixture(rng.standard_normal((1500, 3)), seed=0) is None
    x = _two_modes()
    x = (x - x.mean(0)) / x.std(0)
    mixture = fit_mode_mixture(x, seed=0)
    assert mixture is not None and mixture.n_components >= 2
    w = mixture.row_weights(torch.from_numpy(x)).numpy()
    share_small = w[1000:].sum() / w.sum()  # 100 of 1,100 rows: 0.09 unweighted
    assert share_small == pytest.approx(0.5, abs=0.05)


def test_fewer_rows_than_min_rows_get_none():
    x = _two_modes(n_big=MIN_ROWS // 2, n_small=MIN_ROWS // 2 - 1)
    assert fit_mode_mixture(x, seed=0) is None
    assert fit_mode_mixture(_two_modes(n_big=MIN_ROWS // 2, n_small=MIN_ROWS // 2),
                            seed=0) is not None


def test_reweighted_fit_scores_the_rare_mode_by_its_mass_and_saves(tmp_path):
    X = _two_modes()
    model = MULDE(**TINY, reweight="modes").fit(X)
    mixture = model.mode_mixture_
    assert mixture is not None
    z = model._to_tensor(X)
    term = -mixture.log_ratio(z).numpy()
    # -log r, r = K pi_k over apart modes: the rare mode's rows raised by log(1000 / 100)
    # against the common mode's
    assert term[1000:].mean() - term[:1000].mean() == pytest.approx(
        math.log(1000 / 100), abs=0.2)
    # every level's energy is the network's plus the term
    from mulde.core import multiscale_energy
    raw = multiscale_energy(model.network_, z, torch.as_tensor(model.sigmas_)).double().numpy()
    np.testing.assert_allclose(model.score_samples_multiscale(X), raw + term[:, None],
                               rtol=0, atol=1e-9)
    loaded = MULDE.load(model.save(tmp_path / "m.safetensors"))
    np.testing.assert_array_equal(loaded.anomaly_score(X), model.anomaly_score(X))
    np.testing.assert_array_equal(loaded.mode_mixture_.weights, mixture.weights)


def test_reweight_on_one_mode_is_the_unweighted_fit_to_the_bit():
    X = np.random.default_rng(1).standard_normal((1200, 3))
    plain = MULDE(**TINY).fit(X)
    reweighted = MULDE(**TINY, reweight="modes").fit(X)
    assert reweighted.mode_mixture_ is None
    np.testing.assert_array_equal(reweighted.anomaly_score(X), plain.anomaly_score(X))


def test_reweight_on_too_few_rows_warns_and_fits_unweighted():
    """Asked for on fewer than MIN_ROWS rows (two apart modes, one rare: a mixture would be
    found), reweight="modes" says so before training and fits as None does, to the bit;
    from MIN_ROWS rows it reweights without that warning (found by a newcomer: the setting
    was dropped unsaid)."""
    import warnings

    from mulde.estimator.model import FewRowsToReweightWarning

    X = _two_modes(n_big=700, n_small=100)
    with pytest.warns(FewRowsToReweightWarning,
                      match=r"^reweight='modes' needs at least 1,000 training samples to "
                            r"estimate the modes' masses and got 800: this fit is the "
                            r"unweighted one \(reweight=None\); fit on more normal samples, "
                            r"or leave reweight at its default 'auto' \(which fits unweighted "
                            r"below that, unsaid\)$"):
        few = MULDE(**TINY, reweight="modes").fit(X)
    assert few.mode_mixture_ is None
    np.testing.assert_array_equal(few.anomaly_score(X), MULDE(**TINY).fit(X).anomaly_score(X))
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        enough = MULDE(**TINY, reweight="modes").fit(_two_modes(n_big=MIN_ROWS - 100,
                                                                  n_small=100))
    assert not [w for w in said if issubclass(w.category, FewRowsToReweightWarning)]
    assert enough.mode_mixture_ is not None


def test_log_ratio_stays_within_its_bounds_far_from_every_mode():
    """A row 1e9 deviations out has log p_k near -1e20, beside which log pi_k vanishes in a
    sum: log r is still K sum_k pi_k post_k's log, between log(K min pi) and log(K max pi)."""
    mixture = ModeMixture(np.array([[0.0, 0.0], [3.0, 1.0]]),
                          np.array([[1e-3, 1.0], [1.0, 1e-3]]), np.array([0.9, 0.1]))
    for far in (1e6, 1e9, 1e15, 3e38):
        x = torch.tensor([[far, -far / 3], [0.7 * far, far]], dtype=torch.float32)
        got = mixture.log_ratio(x).numpy()
        assert np.isfinite(got).all()
        assert (got >= math.log(0.2) - 1e-12).all() and (got <= math.log(1.8) + 1e-12).all()
    # the nearest component's in Mahalanobis terms: row 0 the second's, row 1 the first's
    np.testing.assert_allclose(got, [math.log(0.2), math.log(1.8)], rtol=1e-12)


def test_the_mixture_is_fitted_without_the_validation_rows(monkeypatch):
    """The rows held out for validation (a threshold_on="validation" threshold's) score as
    new rows do: the mixture, part of their energies, never saw them."""
    from sklearn.utils import check_random_state

    import mulde.estimator.model as model_module
    from mulde.core.training import split_validation

    seen = {}

    def spy(x, seed, rows=None, separated=False, max_gain=None, variance_share=None):
        seen.update(n=len(x), rows=rows)
        return fit_mode_mixture(x, seed, rows, separated, max_gain, variance_share)

    monkeypatch.setattr(model_module, "fit_mode_mixture", spy)
    X = _two_modes()
    model = MULDE(**TINY, reweight="modes", validation_fraction=0.2,
                  threshold_on="validation").fit(X)
    seed = int(check_random_state(0).randint(2**31 - 1))  # fit's, from random_state=0
    train_idx, val_idx = split_validation(len(X), 0.2, seed)
    assert seen["n"] == len(X) and len(val_idx) == 220
    np.testing.assert_array_equal(np.sort(seen["rows"]), np.sort(train_idx.numpy()))
    assert model.mode_mixture_ is not None and model.threshold_scores_ == "validation"


def test_bagged_fit_time_energies_are_the_scored_ones_to_the_bit(monkeypatch):
    """threshold_on="out_of_bag" with bags: the energies the aggregator and the atoms are
    fitted on (the members' mean, the term added after it) are `score_samples_multiscale`'s
    to the last bit, as without reweighting."""
    import mulde.estimator.model as model_module

    seen = {}
    fit_aggregator = model_module.fit_aggregator

    def spy(aggregator, energies, **options):
        seen["energies"] = energies.copy()
        return fit_aggregator(aggregator, energies, **options)

    monkeypatch.setattr(model_module, "fit_aggregator", spy)
    X = _two_modes()
    model = MULDE(**TINY | dict(n_members=3), max_samples=0.5, validation_fraction=0.1,
                  threshold_on="out_of_bag", reweight="modes").fit(X)
    assert model.mode_mixture_ is not None and model.threshold_scores_ == "out_of_bag"
    np.testing.assert_array_equal(seen["energies"], model.score_samples_multiscale(X))


def test_a_checkpoint_of_the_unweighted_fit_names_reweight(tmp_path):
    """The row weights are part of a checkpoint's identity: an unweighted run's checkpoint
    is not resumed by reweight="modes", and the refusal names the parameter."""
    X = _two_modes()
    params = TINY | dict(checkpoint_dir=str(tmp_path), checkpoint_every=10)
    MULDE(**params, reweight=None).fit(X)
    with pytest.raises(ValueError, match=r"differs in row_weights .*row_weights follow "
                                         r"reweight .*rerun with the reweight the checkpoint "
                                         r"was written with"):
        MULDE(**params, reweight="modes").fit(X)


def test_info_says_why_a_model_of_few_rows_was_not_reweighted(tmp_path, capsys):
    from mulde.cli import main
    from mulde.estimator.model import FewRowsToReweightWarning

    X = _two_modes(n_big=150, n_small=50)
    with pytest.warns(FewRowsToReweightWarning):
        path = MULDE(**TINY, reweight="modes").fit(X).save(tmp_path / "m.safetensors")
    capsys.readouterr()
    assert main(["info", str(path)]) == 0
    assert ("modes reweighted: no (fewer than 1,000 rows, 200 given: the rows were "
            "fitted unweighted)" in capsys.readouterr().out)


def test_info_names_the_one_reason_a_model_was_not_reweighted(tmp_path, capsys, monkeypatch):
    """`mulde info` of a model fitted without a mixture said "fewer than 1,000 rows, more than
    256 features, or the mixture's components make one mode" of every such model, though the
    file records its rows and features (a newcomer's 1,200 rows of 300 features, and 3,040
    rows of one mode, read alike): it names the reason that applies, and the principal
    directions where `mode_variance_share` fitted the mixture on them."""
    import mulde.estimator.model as model_module
    import mulde.estimator.reweighting as reweighting_module
    from mulde.cli import main

    def info(model: MULDE) -> str:
        path = model.save(tmp_path / "m.safetensors")
        capsys.readouterr()
        assert main(["info", str(path)]) == 0
        return next(line for line in capsys.readouterr().out.splitlines()
                    if line.startswith("modes reweighted:"))

    one = np.random.default_rng(1).standard_normal((1500, 3))  # one Gaussian: one mode
    said = {"one": info(MULDE(**TINY).fit(one)),
            "component": info(MULDE(**TINY, reweight="modes").fit(one)),
            # the mixture fitted on the principal directions says so (it said nothing of them)
            "directions": info(MULDE(**TINY, mode_variance_share=0.9).fit(one))}
    for module in (model_module, reweighting_module):  # so that 3 features are "wide"
        monkeypatch.setattr(module, "REWEIGHT_AUTO_MAX_FEATURES" if module is model_module
                            else "AUTO_MAX_FEATURES", 2)
    said["wide"] = info(MULDE(**TINY).fit(one))
    end = ": the rows were fitted unweighted)"
    assert said == {
        "one": "modes reweighted: no (the mixture's components make one mode" + end,
        "component": "modes reweighted: no (BIC chose one mixture component" + end,
        "directions": ("modes reweighted: no (the mixture's components on the rows' leading "
                       "principal directions holding 0.9 of their variance make one mode" + end),
        "wide": ('modes reweighted: no (3 features, more than the 2 reweight "auto" '
                 'reweights; reweight "separated_modes" reweights them' + end)}


@pytest.mark.parametrize("dequantise", [True, False, [0]])
def test_info_names_the_lattice_columns_auto_left_unweighted(tmp_path, capsys, dequantise):
    """reweight "auto" on rows with two whole-number columns fits unweighted (round 64),
    whatever `dequantise` is; the fit records the count (`lattice_columns_`, kept by the file)
    and `mulde info` gives it as the reason (it read dequantise's count, absent with
    dequantise False, and then said "the mixture's components make one mode")."""
    from mulde.cli import main

    rng = np.random.default_rng(2)
    X = np.c_[np.round(rng.normal(0, 3, (1200, 2))), rng.standard_normal(1200)]
    model = MULDE(**TINY, dequantise=dequantise).fit(X)
    assert model.lattice_columns_ == 2 and model.mode_mixture_ is None
    path = model.save(tmp_path / "m.safetensors")
    assert MULDE.load(path).lattice_columns_ == 2
    capsys.readouterr()
    assert main(["info", str(path)]) == 0
    assert ('modes reweighted: no (2 columns on a lattice, two-valued or with a point mass, '
            'which reweight "auto" leaves unweighted; reweight "separated_modes" reweights '
            'them: the rows were fitted unweighted)' in capsys.readouterr().out)


def test_info_of_a_file_without_the_lattice_count_gives_both_reasons(tmp_path, capsys):
    """A file saved before `lattice_columns` was recorded, fitted with dequantise False (no
    count of quantised columns either) and no mixture: whether its rows had a lattice column
    or made one mode is not on file, and info says both (it said "one mode" alone)."""
    from mulde.cli import main

    X = np.random.default_rng(1).standard_normal((1500, 3))
    path = MULDE(**TINY, dequantise=False).fit(X).save(tmp_path / "m.safetensors")
    edit_model_file(path, tmp_path / "old.safetensors", drop_meta=["lattice_columns"])
    capsys.readouterr()
    assert main(["info", str(tmp_path / "old.safetensors")]) == 0
    assert ("modes reweighted: no (the mixture's components make one mode, or a column on a "
            "lattice, two-valued or with a point mass (the file does not record which: saved "
            "before mulde counted them): the rows were fitted unweighted)"
            in capsys.readouterr().out)


def test_lattice_columns_is_counted_only_under_auto():
    """A continuous fit under "auto" counts 0 lattice columns (and the summary says so);
    under another reweight nothing is counted (None, not in the summary)."""
    X = np.random.default_rng(1).standard_normal((300, 3))
    assert MULDE(**TINY).fit(X).summary()["lattice_columns"] == 0
    model = MULDE(**TINY, reweight=None).fit(X)
    assert model.lattice_columns_ is None and "lattice_columns" not in model.summary()


def test_quadratic_forms_equal_the_direct_sum():
    from mulde.estimator.reweighting import quadratic_forms
    rng = np.random.default_rng(3)
    x, means = torch.tensor(rng.standard_normal((7, 4))), torch.tensor(rng.standard_normal((3, 4)))
    variances = torch.tensor(rng.uniform(0.1, 3.0, (3, 4)))
    direct = (((x[:, None] - means[None]) ** 2 / variances[None]).sum(-1)
              + torch.log(variances).sum(-1)[None])
    torch.testing.assert_close(quadratic_forms(x, means, variances), direct, rtol=1e-12,
                               atol=1e-12)


def test_join_overlapping_joins_components_by_their_rows_posteriors():
    """Hand-made posteriors of 4 components over 6 rows: 0 and 1 share rows (each row of 0
    holds 0.3 of its posterior on 1: M_01 = 0.3), 2 is alone, 3 holds 0.02 of one of its two
    rows on 2 (M_32 ~ 0.0099, below the threshold, but M_23 ~ 0.019 above it: either
    direction joins): modes {0, 1}, {2, 3}; with a threshold of 0.05, three modes."""
    from mulde.estimator.reweighting import join_overlapping

    post = np.array([[0.7, 0.3, 0, 0], [0.7, 0.3, 0, 0], [0.3, 0.7, 0, 0], [0, 0, 1, 0],
                     [0, 0, 0.02, 0.98], [0, 0, 0, 1.0]])
    # M_32 = (0.02 * 0.98) / (0.98 + 1.0) ~ 0.0099; M_23 = 0.0196 / 1.02 ~ 0.019
    modes = join_overlapping(post, overlap=0.01)
    assert modes[0] == modes[1] and modes[2] == modes[3] and modes[0] != modes[2]
    assert len(set(join_overlapping(post, overlap=0.05))) == 3


def test_separated_log_ratio_matches_a_hand_computation():
    """Three 1-D components, weights 0.5, 0.3, 0.2, the first two one mode (mass 0.8), the
    third another (0.2): twin weights t = (0.5, 0.3) / (2 x 0.8), 0.2 / (2 x 0.2); at x = 1,
    log r = log(sum pi_k p_k) - log(sum t_k p_k)."""
    means, variances = np.array([[0.0], [1.0], [6.0]]), np.array([[1.0], [1.0], [2.0]])
    weights = np.array([0.5, 0.3, 0.2])
    targets = np.array([0.5 / 1.6, 0.3 / 1.6, 0.5])
    mixture = ModeMixture(means, variances, weights, np.array([0, 0, 1]))
    np.testing.assert_allclose(mixture.targets, targets, rtol=1e-15)
    np.testing.assert_allclose(mixture.masses, [0.8, 0.2], rtol=1e-15)
    dens = [math.exp(-0.5 * (1 - m) ** 2 / v) / math.sqrt(2 * math.pi * v)
            for m, v in zip(means[:, 0], variances[:, 0], strict=True)]
    expected = (math.log(sum(w * p for w, p in zip(weights, dens, strict=True)))
                - math.log(sum(t * p for t, p in zip(targets, dens, strict=True))))
    assert float(mixture.log_ratio(torch.tensor([[1.0]]))[0]) == pytest.approx(expected,
                                                                            rel=1e-12)


def _three_groups(seed=0):
    """Rows (1,300, 2): a broad elongated group of 1,000 rows (several components fit it),
    and two apart round groups of 200 and 100."""
    rng = np.random.default_rng(seed)
    return np.r_[rng.standard_normal((1000, 2)) * [6.0, 1.0],
                 rng.standard_normal((200, 2)) + [0.0, 20.0],
                 rng.standard_normal((100, 2)) + [0.0, -20.0]]


def test_separated_modes_give_each_apart_group_an_equal_share():
    """The broad group's components are joined into one mode: each of the three groups gets
    a third of the weights (unweighted: 77 %, 15 % and 8 %), the components of the broad one
    keeping their proportions."""
    x = _three_groups()
    x = (x - x.mean(0)) / x.std(0)
    mixture = fit_mode_mixture(x, seed=0, separated=True)
    assert mixture is not None and mixture.targets is not None
    assert mixture.targets.sum() == pytest.approx(1.0)
    w = mixture.row_weights(torch.from_numpy(x)).numpy()
    for rows in (slice(0, 1000), slice(1000, 1200), slice(1200, 1300)):
        assert w[rows].sum() / w.sum() == pytest.approx(1 / 3, abs=0.03)


def test_separated_modes_on_one_connected_shape_get_no_mixture():
    """A ring, fitted by a chain of overlapping components (16 here), is one mode: no
    weights (None), where reweight="modes" equalises its components."""
    rng = np.random.default_rng(2)
    angle, radius = rng.uniform(0, 2 * np.pi, 3000), 5 + 0.5 * rng.standard_normal(3000)
    x = np.c_[radius * np.cos(angle), radius * np.sin(angle)]
    x = (x - x.mean(0)) / x.std(0)
    assert fit_mode_mixture(x, seed=0).n_components >= 4
    assert fit_mode_mixture(x, seed=0, separated=True) is None


def test_separated_fit_saves_loads_and_says_its_modes(tmp_path):
    """MULDE(reweight="separated_modes") end to end: the mixture's targets stored and read
    back (scores equal to the bit), and its summary names the three modes."""
    X = _three_groups()
    model = MULDE(**TINY, reweight="separated_modes").fit(X)
    summary = model.summary()["modes"]
    assert summary["modes"] == 3 and summary["components"] >= 3
    assert sum(summary["masses"]) == pytest.approx(1.0, abs=1e-6)
    loaded = MULDE.load(model.save(tmp_path / "m.safetensors"))
    np.testing.assert_array_equal(loaded.anomaly_score(X), model.anomaly_score(X))
    np.testing.assert_array_equal(loaded.mode_mixture_.labels, model.mode_mixture_.labels)
    np.testing.assert_array_equal(loaded.mode_mixture_.targets, model.mode_mixture_.targets)


def test_modes_of_equal_mass_are_counted_apart():
    """Two modes of equal mass have the same pi_k / t_k (= G m_g), so the weights and the
    twin's weights alone do not give the modes back (the summary once said "1 mode, mass 1"
    of two equal apart groups, and masses 0.375 and 0.75 of groups of 0.25, 0.25 and 0.5);
    the mixture's labels do. Two apart groups of 600 rows each: their posteriors are 0 or 1
    to the last bit, so their weights are equal exactly."""
    from mulde.estimator.model import _modes_of

    rng = np.random.default_rng(0)
    x = np.r_[rng.standard_normal((600, 2)), rng.standard_normal((600, 2)) + 30.0]
    x = (x - x.mean(0)) / x.std(0)
    mixture = fit_mode_mixture(x, seed=0, separated=True)
    assert mixture is not None and mixture.weights[0] == mixture.weights[1]
    assert _modes_of(mixture) == [0.5, 0.5]
    three = ModeMixture(np.zeros((4, 1)), np.ones((4, 1)), np.array([0.1, 0.15, 0.25, 0.5]),
                        np.array([0, 0, 1, 2]))
    assert _modes_of(three) == pytest.approx([0.5, 0.25, 0.25], rel=1e-15)
    assert three.targets.sum() == pytest.approx(1.0, rel=1e-15)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.floats(0.05, 1.0), min_size=2, max_size=6), st.integers(0, 2**32 - 1),
       st.floats(-5, 5), st.floats(1, 1e9))
def test_separated_log_ratio_lies_between_the_log_mode_masses_times_g(raw, seed, a, far):
    """r(x) = sum_k (pi_k / t_k) post_k(x) = sum_k G m_g(k) post_k(x), the twin's posteriors:
    log(G min m) <= log r <= log(G max m) near the modes and far out; with every component a
    mode of its own (G = K) the twin is the equal one, r reweight="modes"'s."""
    weights = np.array(raw) / sum(raw)
    k = len(weights)
    rng = np.random.default_rng(seed)
    labels = np.r_[0, 1, rng.integers(0, 2, k - 2)]
    means, variances = rng.standard_normal((k, 2)), rng.uniform(0.5, 2.0, (k, 2))
    mixture = ModeMixture(means, variances, weights, labels)
    masses = mixture.masses
    x = torch.tensor([[a, -a], [far, -far / 3]], dtype=torch.float64)
    got = mixture.log_ratio(x).numpy()
    assert np.isfinite(got).all()
    assert (got >= math.log(2 * masses.min()) - 1e-9).all()
    assert (got <= math.log(2 * masses.max()) + 1e-9).all()
    own = ModeMixture(means, variances, weights, np.arange(k))
    torch.testing.assert_close(own.log_ratio(x[:1]),
                               ModeMixture(means, variances, weights).log_ratio(x[:1]),
                               rtol=0, atol=1e-12)


def test_few_rows_to_reweight_names_the_setting_and_pickles_with_it():
    """FewRowsToReweightWarning gained `reweight`: its text names the value asked for, a
    pickle keeps it, one remade from its text (pytest-xdist) or `from_message` has None, and
    one pickled with the former two fields reads as "modes"."""
    import pickle

    from mulde.estimator.model import FewRowsToReweightWarning

    said = FewRowsToReweightWarning(800, 1000, "separated_modes")
    assert str(said).startswith("reweight='separated_modes' needs at least 1,000")
    again = pickle.loads(pickle.dumps(said))
    assert (again.n, again.minimum, again.reweight, str(again)) == (800, 1000,
                                                                    "separated_modes",
                                                                    str(said))
    for remade in (FewRowsToReweightWarning(*said.args),
                   pickle.loads(pickle.dumps(FewRowsToReweightWarning.from_message(str(said))))):
        assert str(remade) == str(said) and remade.reweight is None
    assert FewRowsToReweightWarning(800, 1000).reweight == "modes"


def test_the_default_reweights_separated_modes_from_min_rows_and_silently_below():
    """reweight="auto" (the default since round 62): "separated_modes" from MIN_ROWS rows
    (the same fit to the bit), the unweighted fit below without FewRowsToReweightWarning;
    the paper preset fits every row alike."""
    import warnings

    from mulde.estimator.model import FewRowsToReweightWarning

    assert MULDE().reweight == "auto"
    assert MULDE.from_preset("paper").reweight is None
    X = _three_groups()
    auto = MULDE(**TINY).fit(X)
    named = MULDE(**TINY, reweight="separated_modes").fit(X)
    assert auto.mode_mixture_ is not None and auto.mode_mixture_.labels is not None
    np.testing.assert_array_equal(auto.anomaly_score(X), named.anomaly_score(X))
    few = _two_modes(n_big=700, n_small=100)
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        small = MULDE(**TINY).fit(few)
    assert not [w for w in said if issubclass(w.category, FewRowsToReweightWarning)]
    assert small.mode_mixture_ is None
    np.testing.assert_array_equal(small.anomaly_score(few),
                                  MULDE(**TINY, reweight=None).fit(few).anomaly_score(few))


def test_a_file_saved_before_the_option_loads_as_unweighted(tmp_path):
    """A model file whose params hold no "reweight" (saved before stop 80) was fitted with
    every row alike: it loads with reweight None, not the new default (and max_mode_gain,
    which came at stop 82, None: separated modes' equal shares, as files before it)."""
    X = np.random.default_rng(3).standard_normal((200, 3))
    path = MULDE(**TINY, reweight=None).fit(X).save(tmp_path / "m.safetensors")
    edit_model_file(path, tmp_path / "old.safetensors",
                    drop_params=["reweight", "max_mode_gain"])
    loaded = MULDE.load(tmp_path / "old.safetensors")
    assert loaded.reweight is None and loaded.max_mode_gain is None


def test_the_default_fits_every_row_alike_past_auto_max_features(monkeypatch):
    """reweight="auto" past `AUTO_MAX_FEATURES` features fits no mixture (the search's time);
    reweight="separated_modes" still does."""
    import mulde.estimator.model as model_module

    monkeypatch.setattr(model_module, "REWEIGHT_AUTO_MAX_FEATURES", 1)
    X = _three_groups()
    assert MULDE(**TINY).fit(X).mode_mixture_ is None
    assert MULDE(**TINY, reweight="separated_modes").fit(X).mode_mixture_ is not None


def test_the_bic_search_stops_after_bic_patience_steps_without_a_lower_bic(monkeypatch):
    """On one Gaussian BIC is lowest at K = 1 and rises at 2 and 4: the search fits K = 1, 2
    and 4 and none of the larger K."""
    import mulde.estimator.reweighting as reweighting

    fitted = []
    real = reweighting.GaussianMixture

    def spy(k, **kw):
        fitted.append(k)
        return real(k, **kw)

    monkeypatch.setattr(reweighting, "GaussianMixture", spy)
    x = np.random.default_rng(0).standard_normal((2000, 3))
    assert fit_mode_mixture(x, seed=0) is None
    assert fitted == [1, 2, 4]


def test_bounded_shares_match_a_hand_computation():
    """Modes of masses 0.9, 0.099 and 0.001 (three components, one each), max_gain 10: the
    equal share 1/3 is bounded at 10 x 0.001 = 0.01 for the speck, the others keep 1/3, then
    all are renormalised: (1/3, 1/3, 0.01) / (2/3 + 0.01); the twin's weights follow."""
    weights = np.array([0.9, 0.099, 0.001])
    mixture = ModeMixture(np.zeros((3, 1)), np.ones((3, 1)), weights, np.array([0, 1, 2]),
                          max_gain=10.0)
    expected = np.array([1 / 3, 1 / 3, 0.01]) / (2 / 3 + 0.01)
    np.testing.assert_allclose(mixture.shares, expected, rtol=1e-14)
    np.testing.assert_allclose(mixture.targets, expected, rtol=1e-14)  # one component each
    unbounded = ModeMixture(np.zeros((3, 1)), np.ones((3, 1)), weights, np.array([0, 1, 2]))
    np.testing.assert_allclose(unbounded.shares, [1 / 3] * 3, rtol=1e-15)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(1e-4, 1.0), min_size=2, max_size=8), st.floats(1.0, 1e3))
def test_bounded_shares_sum_to_one_and_bound_each_gain(raw, gain):
    """Any masses and max_gain A >= 1: the shares sum to 1, none is below the smaller of its
    mode's mass and the least equal share, and before renormalising none exceeds A m_g, so
    a share over its mass (the gain) is at most A / (sum of the bounded shares) and the
    shares never order two modes against their masses."""
    weights = np.array(raw) / sum(raw)
    mixture = ModeMixture(np.zeros((len(raw), 1)), np.ones((len(raw), 1)), weights,
                          np.arange(len(raw)), max_gain=gain)
    shares, g = mixture.shares, len(raw)
    assert shares.sum() == pytest.approx(1.0, rel=1e-12)
    bounded = np.minimum(1 / g, gain * weights)
    assert np.all(shares >= np.minimum(weights, 1 / g) * (1 - 1e-12))
    assert np.all(shares / weights <= gain / bounded.sum() * (1 + 1e-12))
    assert np.all(shares / weights <= g * gain * (1 + 1e-12))  # A / S, S >= 1 / G
    order = np.argsort(weights, kind="stable")
    assert np.all(np.diff(shares[order]) >= -1e-15)


def test_a_speck_gets_a_share_bounded_at_max_gain_times_its_mass():
    """A group of 1,000 rows and a speck of three far rows: separated modes (2) give the speck
    half the weights; with max_gain 10 its share is 10 m / (0.5 + 10 m), m its mass (about
    3 / 1,003), and the group's the rest."""
    rng = np.random.default_rng(0)
    x = np.r_[rng.standard_normal((1000, 2)), 40.0 + 0.01 * rng.standard_normal((3, 2))]
    x = (x - x.mean(0)) / x.std(0)
    free = fit_mode_mixture(x, seed=0, separated=True)
    assert free is not None and len(free.masses) == 2
    assert free.shares.min() == pytest.approx(0.5)
    bounded = fit_mode_mixture(x, seed=0, separated=True, max_gain=10.0)
    assert bounded.max_gain == 10.0
    speck = np.argmin(bounded.masses)
    assert bounded.masses[speck] == pytest.approx(3 / 1003, rel=1e-3)
    assert bounded.shares[speck] == pytest.approx(10 * bounded.masses[speck]
                                                  / (0.5 + 10 * bounded.masses[speck]))
    assert fit_mode_mixture(x, seed=0, max_gain=10.0).max_gain is None  # "modes": unbounded


def test_a_bounded_fit_saves_loads_and_says_its_shares(tmp_path):
    """MULDE(reweight="separated_modes", max_mode_gain=2) on three groups of 1,000, 200 and
    100 rows: the smaller groups' shares are bounded (2 x their masses < 1/3), the file
    keeps the bound (scores and targets equal to the bit after loading), and the summary
    gives the shares in the masses' order."""
    X = _three_groups()
    model = MULDE(**TINY, reweight="separated_modes", max_mode_gain=2.0).fit(X)
    modes = model.summary()["modes"]
    assert modes["modes"] == 3 and len(modes["shares"]) == 3
    masses, shares = np.array(modes["masses"]), np.array(modes["shares"])
    np.testing.assert_allclose(shares, np.minimum(1 / 3, 2 * masses)
                               / np.minimum(1 / 3, 2 * masses).sum(), rtol=1e-12)
    loaded = MULDE.load(model.save(tmp_path / "m.safetensors"))
    assert loaded.mode_mixture_.max_gain == 2.0
    np.testing.assert_array_equal(loaded.mode_mixture_.targets, model.mode_mixture_.targets)
    np.testing.assert_array_equal(loaded.anomaly_score(X), model.anomaly_score(X))


def test_a_bounded_gain_can_exceed_the_bound_by_the_renormalisation():
    """Masses 0.999 and 0.001, max_gain 10: the speck's share min(1/2, 0.01) = 0.01 is
    renormalised by 0.51, a gain of 19.6 (up to G A), not 10, as the docstrings say."""
    weights = np.array([0.999, 0.001])
    mixture = ModeMixture(np.zeros((2, 1)), np.ones((2, 1)), weights, np.array([0, 1]),
                          max_gain=10.0)
    assert mixture.shares[1] / weights[1] == pytest.approx(10 / 0.51, rel=1e-12)


def test_bounded_shares_are_the_training_draws_of_the_modes():
    """Three apart groups (1,000, 200 and 100 rows), max_gain 2: the rows' importance weights
    1 / r, summed over each group, are the bounded shares (the draws follow the same twin
    whose -log r the energies add), not the equal thirds."""
    x = _three_groups()
    x = (x - x.mean(0)) / x.std(0)
    mixture = fit_mode_mixture(x, seed=0, separated=True, max_gain=2.0)
    assert mixture is not None and len(mixture.masses) == 3
    w = mixture.row_weights(torch.from_numpy(x)).numpy()
    drawn = [w[rows].sum() / w.sum() for rows in (slice(0, 1000), slice(1000, 1200),
                                                   slice(1200, 1300))]
    # the groups in the masses' order (largest first), as the bounded shares are
    np.testing.assert_allclose(drawn, np.sort(mixture.shares)[::-1], atol=0.01)
    assert np.ptp(mixture.shares) > 0.2  # bounded: far from the equal thirds


def test_a_file_keeps_the_bound_it_was_fitted_with_after_set_params(tmp_path):
    """max_mode_gain changed after the fit (set_params, no refit): the model scores with the
    fitted mixture, and so does the file (array 'modes.max_gain'), not with the new setting,
    which stays the loaded model's parameter for a refit."""
    X = _two_modes()
    model = MULDE(**TINY, reweight="separated_modes", max_mode_gain=2.0).fit(X)
    before = model.anomaly_score(X[::50])
    model.set_params(max_mode_gain=None)
    np.testing.assert_array_equal(model.anomaly_score(X[::50]), before)
    loaded = MULDE.load(model.save(tmp_path / "m.safetensors"))
    assert loaded.max_mode_gain is None and loaded.mode_mixture_.max_gain == 2.0
    np.testing.assert_array_equal(loaded.anomaly_score(X[::50]), before)
    assert loaded.summary()["modes"]["max_gain"] == 2.0



def _lattice_groups(seed=0):
    """Rows (1,500, 3) on the integer lattice: two apart groups of 1,200 and 300 rows, each
    a Gaussian of standard deviation 2 rounded to whole numbers."""
    rng = np.random.default_rng(seed)
    return np.round(np.r_[rng.normal(0.0, 2.0, (1200, 3)), rng.normal(30.0, 2.0, (300, 3))])


def test_dequantised_modes_fit_the_mixture_on_rows_moved_within_their_cells(monkeypatch):
    """dequantise_modes: the mixture sees the training rows moved within their lattice cells
    (each column's whole-number step: no row left on the lattice), the network's rows as
    given otherwise; without it the rows as given."""
    import mulde.estimator.model as model_module

    seen = []

    def spy(x, seed, rows=None, separated=False, max_gain=None, variance_share=None):
        seen.append(x)
        return fit_mode_mixture(x, seed, rows, separated, max_gain, variance_share)

    monkeypatch.setattr(model_module, "fit_mode_mixture", spy)
    X = _lattice_groups()
    plain = MULDE(**TINY, reweight="separated_modes").fit(X)
    moved = MULDE(**TINY, reweight="separated_modes", dequantise_modes=True).fit(X)
    raw = (X - plain.mean_) / plain.scale_  # the network's input coordinates
    np.testing.assert_allclose(seen[0], raw, rtol=1e-6, atol=1e-6)
    shift = (seen[1] - seen[0]) * plain.scale_  # in the data's units
    assert np.all(np.abs(shift) <= 0.5 + 1e-5) and np.abs(shift).mean() > 0.2
    assert plain.mode_mixture_ is not None and moved.mode_mixture_ is not None


def test_dequantise_modes_changes_nothing_without_a_lattice():
    """Continuous rows have no lattice cell: dequantise_modes fits what False fits, to the
    bit."""
    X = _two_modes()
    a = MULDE(**TINY, reweight="separated_modes").fit(X)
    b = MULDE(**TINY, reweight="separated_modes", dequantise_modes=True).fit(X)
    np.testing.assert_array_equal(a.mode_mixture_.means, b.mode_mixture_.means)
    np.testing.assert_array_equal(a.anomaly_score(X), b.anomaly_score(X))


def test_the_default_leaves_rows_with_a_lattice_column_unweighted(tmp_path):
    """reweight "auto" (round 64): two apart groups whose first column is whole numbers get
    no mixture (the unweighted fit), the same groups continuous get one, and "auto" decides
    by the lattice rule also with dequantise False; "separated_modes" reweights either."""
    from mulde.cli import _why_not_reweighted

    rng = np.random.default_rng(0)
    X = np.r_[rng.normal(0, 2, (1000, 2)), rng.normal(30, 2, (200, 2))]
    lattice = X.copy()
    lattice[:, 0] = np.round(lattice[:, 0])
    assert MULDE(**TINY).fit(X).mode_mixture_ is not None
    model = MULDE(**TINY).fit(lattice)
    assert model.mode_mixture_ is None
    assert "1 column on a lattice" in _why_not_reweighted(model.summary())
    assert _why_not_reweighted(model.summary()).endswith('"separated_modes" reweights it')
    assert MULDE(**TINY, dequantise=False).fit(lattice).mode_mixture_ is None
    assert MULDE(**TINY, reweight="separated_modes").fit(lattice).mode_mixture_ is not None


def test_principal_basis_keeps_the_fewest_directions_reaching_the_share():
    """Rows of variances 9, 4, 1 and 0 along the columns of a rotation Q (total 14): shares
    up to 9/14 keep Q's first column, up to 13/14 the first two, up to 1 the first three
    (the direction of zero variance is never needed); the columns are orthonormal and span
    Q's leading columns (up to sign)."""
    from mulde.estimator.reweighting import principal_basis

    rng = np.random.default_rng(0)
    q = np.linalg.qr(rng.standard_normal((4, 4)))[0]
    z = rng.standard_normal((4000, 3))
    z = (z - z.mean(0)) @ np.linalg.inv(np.linalg.cholesky(np.cov(z, rowvar=False))).T
    x = (z * [3.0, 2.0, 1.0]) @ q[:, :3].T  # covariance exactly Q diag(9, 4, 1, 0) Q^T
    for share, r in ((0.5, 1), (9 / 14, 1), (0.7, 2), (13 / 14, 2), (0.95, 3), (1.0, 3)):
        basis = principal_basis(x, share)
        assert basis.shape == (4, r), share
        np.testing.assert_allclose(basis.T @ basis, np.eye(r), atol=1e-12)
        np.testing.assert_allclose(np.abs(basis.T @ q[:, :r]), np.eye(r), atol=1e-9)
    assert principal_basis(np.ones((5, 3)), 0.9).shape == (3, 1)  # no variance: one
    for bad in (0.0, 1.5):
        with pytest.raises(ValueError, match="share must be in"):
            principal_basis(x, bad)


def test_a_curve_in_many_noisy_columns_is_one_mode_on_its_principal_directions():
    """A noisy circle (radius 1, noise 0.05) in a random plane of 64 columns, 1,000 rows,
    standardised: on the 64 coordinates the diagonal mixture cuts it into many "separated"
    modes (the noise columns make every posterior 0 or 1); on the leading principal
    directions holding 90 % of the variance (the plane and some noise) it is one mode, so
    nothing is reweighted (benchmarks/density_fidelity.md, "Principal directions")."""
    rng = np.random.default_rng(5)
    plane = np.linalg.qr(rng.standard_normal((64, 2)))[0]
    angle = rng.uniform(0, 2 * np.pi, 1000)
    x = np.c_[np.cos(angle), np.sin(angle)] @ plane.T + 0.05 * rng.standard_normal((1000, 64))
    x = (x - x.mean(0)) / x.std(0)
    full = fit_mode_mixture(x, seed=5, separated=True, max_gain=10.0)
    assert full is not None and len(full.masses) >= 5
    assert fit_mode_mixture(x, seed=5, separated=True, max_gain=10.0,
                            variance_share=0.9) is None


def test_a_mixture_on_principal_directions_scores_the_projected_rows(tmp_path, capsys):
    """With a basis, log r of rows x is the log ratio of the mixture at x @ basis (two
    modes on a line in 3 columns, standardised: one direction holds 2/3 of the variance,
    the noise column the rest), and the model
    file keeps the basis: scores equal to the bit after loading; the summary and `mulde info`
    name the directions."""
    from mulde.cli import main

    rng = np.random.default_rng(0)
    t = np.r_[rng.standard_normal(1000), rng.standard_normal(200) + 12.0]
    X = np.c_[t, 0.5 * t, 0.1 * rng.standard_normal(1200)]
    model = MULDE(**TINY, reweight="separated_modes", mode_variance_share=0.6).fit(X)
    mixture = model.mode_mixture_
    assert mixture is not None and mixture.basis.shape == (3, 1)
    assert mixture.means.shape == (mixture.n_components, 1)
    z = torch.tensor(np.random.default_rng(1).standard_normal((5, 3)))
    direct = ModeMixture(mixture.means, mixture.variances, mixture.weights, mixture.labels,
                         mixture.max_gain).log_ratio(z @ torch.tensor(mixture.basis))
    torch.testing.assert_close(mixture.log_ratio(z), direct, rtol=1e-12, atol=1e-12)
    assert model.summary()["modes"]["directions"] == 1
    path = model.save(tmp_path / "m.safetensors")
    loaded = MULDE.load(path)
    np.testing.assert_array_equal(loaded.mode_mixture_.basis, mixture.basis)
    np.testing.assert_array_equal(loaded.anomaly_score(X), model.anomaly_score(X))
    capsys.readouterr()
    assert main(["info", str(path)]) == 0
    assert re.search(r"modes reweighted: 2 separated modes \(of \d+ mixture components on the "
                     r"rows' 1 leading principal direction, joined where they overlap\)",
                     capsys.readouterr().out)
