"""Unit tests of the pure-PyTorch core: schedule, network, loss, training loop."""

import json
import math
import re
import subprocess

import numpy as np
import pytest
import torch
from fakes import ENV, REPO, _cli, _kill_when
from hypothesis import given, settings
from hypothesis import strategies as st
from safetensors.torch import load_file

from mulde import MULDE
from mulde.core import (
    DSMLoss,
    EnergyMLP,
    NoiseSchedule,
    Regulariser,
    TrainConfig,
    largest_distance_sigma,
    multiscale_energy,
    nearest_neighbour_sigma,
    train_energy,
)
from mulde.core.checkpoint import CHECKPOINT_NAME
from mulde.core.network import (
    EnergyEnsemble,
    noise_feature,
    resolve_hidden_sizes,
    widths_for_features,
)
from mulde.core.training import (
    _validation_loss,
    ema_decay_at,
    learning_rate_for_rows,
    member_bags,
    members_for_rows,
    principal_directions,
    resolve_lr,
    resolve_max_samples,
    resolve_members,
    split_validation,
    validation_rows,
)


def test_grid_linear_and_geometric_endpoints():
    s = NoiseSchedule(1e-3, 1.0)
    lin = s.grid(16, "linear")
    geo = s.grid(16, "geometric")
    assert lin.shape == geo.shape == (16,)
    assert lin[0].item() == pytest.approx(1e-3) and lin[-1].item() == pytest.approx(1.0)
    assert geo[0].item() == pytest.approx(1e-3) and geo[-1].item() == pytest.approx(1.0)
    np.testing.assert_allclose(np.diff(lin.numpy()), (1 - 1e-3) / 15, rtol=1e-5)
    np.testing.assert_allclose(np.diff(np.log(geo.numpy())), math.log(1000) / 15, rtol=1e-4)


def test_schedule_rejects_bad_bounds():
    with pytest.raises(ValueError, match="sigma_low"):
        NoiseSchedule(0.0, 1.0)
    with pytest.raises(ValueError, match="n_levels"):
        NoiseSchedule().grid(0)


@given(st.floats(1e-4, 0.5), st.floats(1.0, 10.0))
@settings(max_examples=20, deadline=None)
def test_sample_is_log_uniform_within_bounds(low, factor):
    s = NoiseSchedule(low, low * factor)
    g = torch.Generator().manual_seed(0)
    sig = s.sample(4000, g)
    assert sig.shape == (4000, 1)
    assert sig.min() >= low * (1 - 1e-5) and sig.max() <= low * factor * (1 + 1e-5)
    # log sigma is uniform: its mean is the midpoint of [log low, log high]
    mid = math.log(low) + math.log(factor) / 2
    assert abs(sig.log().mean().item() - mid) < 0.05 * max(math.log(factor), 1e-3) + 0.02


def test_noise_feature_by_hand():
    """'sigma' passes the level through; 'log' is ln(sigma) / 4: ln(1) = 0, ln(e^-4) / 4 = -1,
    ln(1e-3) / 4 = -1.7269."""
    sigma = torch.tensor([1.0, math.exp(-4.0), 1e-3], dtype=torch.float64)
    torch.testing.assert_close(noise_feature(sigma, "sigma"), sigma)
    torch.testing.assert_close(noise_feature(sigma, "log"),
                               torch.tensor([0.0, -1.0, -1.726938820], dtype=torch.float64))
    with pytest.raises(ValueError, match="noise_input must be one of"):
        noise_feature(sigma, "sqrt")
    with pytest.raises(ValueError, match="noise_input must be one of"):
        EnergyMLP(3, (8,), noise_input="sqrt")


def test_log_noise_input_feeds_ln_sigma_over_4_to_the_first_layer():
    """With noise_input='log', f(x, sigma) is the 'sigma' network with the same weights fed
    ln(sigma) / 4 in place of sigma; an ensemble passes the setting to every member."""
    torch.manual_seed(0)
    net = EnergyMLP(3, (16,), noise_input="log")
    raw = EnergyMLP(3, (16,))
    raw.load_state_dict(net.state_dict())
    x, sigma = torch.randn(5, 3), torch.tensor([1e-3, 0.01, 0.1, 0.5, 1.0])
    torch.testing.assert_close(net(x, sigma), raw(x, torch.log(sigma) / 4))
    ens = EnergyEnsemble(3, (8,), n_members=2, noise_input="log")
    assert [m.noise_input for m in ens.members] == ["log", "log"]


@pytest.mark.parametrize("noise_input", ["sigma", "log"])
def test_multiscale_shares_first_layer_and_equals_per_level_forward(noise_input):
    torch.manual_seed(0)
    net = EnergyMLP(5, (32, 16), noise_input=noise_input)
    x = torch.randn(7, 5)
    sig = NoiseSchedule().grid(4)
    multi = net.energy_multiscale(x, sig)
    per_level = torch.stack([net(x, torch.full((7, 1), float(s))) for s in sig], dim=1)
    assert multi.shape == (7, 4)
    torch.testing.assert_close(multi, per_level, rtol=1e-5, atol=1e-6)


def test_multiscale_energy_is_chunk_free_and_leaves_the_network_as_it_was():
    """multiscale_energy equals f(x_i, sigma_l) level by level, whatever the chunk size, runs
    without autograd in eval mode, restores the training flag, and maps 0 rows to (0, L)."""
    torch.manual_seed(0)
    net = EnergyMLP(3, (8, 8), dropout=0.5)  # dropout: train and eval modes differ
    x = torch.randn(10, 3)
    sig = torch.tensor([0.01, 0.5, 1.0])
    net.eval()
    expected = torch.stack([net(x, torch.full((10, 1), float(s))) for s in sig], dim=1)
    net.train()
    for batch_size in (1, 3, 10, 512):
        out = multiscale_energy(net, x, sig, batch_size=batch_size)
        assert out.shape == (10, 3) and not out.requires_grad
        torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-6)
        assert net.training  # the caller's mode is restored
    net.eval()
    multiscale_energy(net, x, sig)
    assert not net.training
    empty = multiscale_energy(net, x[:0], sig)
    assert empty.shape == (0, 3) and empty.dtype == x.dtype


def test_schedule_sample_and_grid_values_by_hand():
    s = NoiseSchedule(0.01, 1.0)
    g = torch.Generator().manual_seed(3)
    u = torch.rand(5, 1, generator=torch.Generator().manual_seed(3))
    # sigma = exp(log low + u (log high - log low)) = 0.01 * 100^u
    torch.testing.assert_close(s.sample(5, g), 0.01 * 100.0**u, rtol=1e-5, atol=0)
    torch.testing.assert_close(s.grid(3, "linear"), torch.tensor([0.01, 0.505, 1.0]))
    torch.testing.assert_close(s.grid(3, "geometric"), torch.tensor([0.01, 0.1, 1.0]))
    assert s.grid(1).tolist() == [1.0] and s.grid(2).dtype == torch.float32
    assert NoiseSchedule(0.5, 0.5).grid(3).tolist() == [0.5, 0.5, 0.5]  # low == high is valid
    with pytest.raises(ValueError, match="n_levels must be >= 1, got 0"):
        s.grid(0)
    with pytest.raises(ValueError, match="need 0 < sigma_low <= sigma_high, got 2.0, 1.0"):
        NoiseSchedule(2.0, 1.0)
    with pytest.raises(ValueError, match="sigma_low"):
        NoiseSchedule(-1e-3, 1.0)
    with pytest.raises(ValueError):
        s.grid(4, "cubic")


@pytest.mark.parametrize("low", [1e-3, 0.05])
def test_grid_is_computed_in_float64_and_rounded_once(low):
    """The grid equals NumPy's float64 grid rounded to float32, element for element (a grid
    computed in float32 is off by an ulp at some levels), whatever torch's default dtype."""
    s = NoiseSchedule(low, 1.0)
    for spacing, ref in (("linear", np.linspace(low, 1.0, 16)),
                         ("geometric", np.geomspace(low, 1.0, 16))):
        assert torch.equal(s.grid(16, spacing), torch.from_numpy(ref.astype(np.float32)))
    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        assert s.grid(1).dtype == s.grid(3).dtype == torch.float32
    finally:
        torch.set_default_dtype(default)


def test_sample_is_drawn_on_the_requested_device():
    sig = NoiseSchedule().sample(4, None, device="meta")  # no data: only device and shape
    assert sig.device.type == "meta" and sig.shape == (4, 1)


def test_dsm_loss_matches_hand_computation_on_a_quadratic_energy():
    a, beta = 0.7, 0.1

    def net(x, sigma):  # f(x) = a |x|^2 / 2, so grad f = a x
        return 0.5 * a * (x**2).sum(dim=1)

    x = torch.tensor([[1.0, -2.0], [0.5, 0.0]])
    sigma = torch.tensor([[0.1], [1.0]])
    eps = torch.tensor([[0.3, 0.2], [-1.0, 0.5]])
    loss = DSMLoss(beta)(net, x, sigma, eps)
    xn = (x + sigma * eps).numpy()
    resid = eps.numpy() - sigma.numpy() * a * xn
    f_clean = 0.5 * a * (x.numpy() ** 2).sum(1)
    expected = np.mean(0.5 * (resid**2).sum(1) + 0.5 * beta * f_clean**2)
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    no_reg = DSMLoss(0.0)(net, x, sigma, eps)
    assert no_reg.item() == pytest.approx(np.mean(0.5 * (resid**2).sum(1)), rel=1e-6)


def test_sigma2_regulariser_weights_f_squared_by_sigma_squared_by_hand():
    # f(x, sigma) = x_1 + 2 (grad f = (1, 0)); x_1 = 1, so f = 3 on both rows
    def net(x, sigma):
        return x[:, 0] + 2.0

    x = torch.tensor([[1.0, 0.0], [1.0, 5.0]])
    sigma = torch.tensor([[0.5], [2.0]])
    eps = torch.tensor([[1.0, 1.0], [0.0, -1.0]])
    # score term: 0.5 * |eps - sigma (1, 0)|^2 = 0.5 * (0.25 + 1) and 0.5 * (4 + 1)
    score = np.array([0.625, 2.5])
    beta = 0.2
    constant = DSMLoss(beta, "constant")(net, x, sigma, eps).item()
    assert constant == pytest.approx(np.mean(score + 0.5 * beta * 9.0), rel=1e-6)
    weighted = DSMLoss(beta, Regulariser.SIGMA2)(net, x, sigma, eps).item()
    # 0.5 * beta * sigma^2 * f^2: 0.1 * 0.25 * 9 and 0.1 * 4 * 9
    assert weighted == pytest.approx(np.mean(score + np.array([0.225, 3.6])), rel=1e-6)
    assert DSMLoss(0.0, "sigma2")(net, x, sigma, eps).item() == pytest.approx(score.mean())
    with pytest.raises(ValueError, match="'cubic' is not a valid Regulariser"):
        DSMLoss(0.1, "cubic")


def test_time_score_term_matches_hand_computation():
    """f(x, sigma) = x_1 + 3 sigma^2: grad_x f = (1, 0), df/dsigma = 6 sigma. The term is
    0.5 gamma (sigma * 6 sigma + |eps|^2 - d)^2 / (2 d), with d = 2."""
    def net(x, sigma):
        return x[:, 0] + 3.0 * sigma.reshape(-1) ** 2

    x = torch.tensor([[1.0, 0.0], [1.0, 5.0]])
    sigma = torch.tensor([[0.5], [2.0]])
    eps = torch.tensor([[1.0, 1.0], [0.0, -1.0]])
    score = np.array([0.625, 2.5])  # 0.5 |eps - sigma (1, 0)|^2, as above
    # residuals: 6 * 0.25 + 2 - 2 = 1.5 and 6 * 4 + 1 - 2 = 23
    gamma = 0.4
    expected = score + 0.5 * gamma * np.array([1.5, 23.0]) ** 2 / 4
    loss = DSMLoss(0.0, "sigma2", time_score=gamma)(net, x, sigma, eps).item()
    assert loss == pytest.approx(expected.mean(), rel=1e-6)
    assert DSMLoss(0.0, "sigma2", time_score=0.0)(net, x, sigma, eps).item() == (
        pytest.approx(score.mean()))


def test_time_score_term_vanishes_in_expectation_for_the_true_noisy_energy():
    """For x ~ N(0, I_d), q_sigma = N(0, (1 + sigma^2) I) and the exact energy
    f = |x|^2 / (2 (1 + sigma^2)) + d/2 ln(1 + sigma^2) has sigma df/dsigma =
    -E[|eps|^2 - d | x~]: the residual averages to 0 over many draws, and its mean square is
    the irreducible noise, smaller than with the sigma-dependence left out."""
    d, n = 3, 200_000
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, d, generator=g)
    eps = torch.randn(n, d, generator=g)
    sigma = torch.full((n, 1), 0.8)

    def exact(z, s):
        v = 1 + s.reshape(-1) ** 2
        return (z**2).sum(1) / (2 * v) + 0.5 * d * torch.log(v)

    def frozen(z, s):  # the same energy at every level as far as d/dsigma sees: no sigma term
        return (z**2).sum(1) / (2 * (1 + 0.64))

    only_score = DSMLoss(0.0, "sigma2")(exact, x, sigma, eps).item()
    with_exact = DSMLoss(0.0, "sigma2", time_score=1.0)(exact, x, sigma, eps).item()
    with_frozen = DSMLoss(0.0, "sigma2", time_score=1.0)(frozen, x, sigma, eps).item()
    assert with_exact < with_frozen
    level = sigma.clone().requires_grad_(True)
    xn = (x + sigma * eps).requires_grad_(True)
    (ds,) = torch.autograd.grad(exact(xn, level).sum(), level)
    residual = (sigma * ds).reshape(-1) + (eps**2).sum(1) - d
    assert abs(residual.mean().item()) < 0.03
    assert with_exact - only_score == pytest.approx(
        (0.25 / d * residual.pow(2)).mean().item(), rel=1e-4)


@pytest.mark.parametrize("kind", ["sigma", "log", "base_and_scaling", "ensemble"])
def test_time_score_term_differentiates_every_path_of_sigma_through_the_network(kind):
    """The term's df/dsigma is the derivative of f at the fixed noisy row through every way
    sigma enters the network: its noise input (raw or ln sigma / 4), the Gaussian base's and
    the input scaling's (C + sigma^2 I), and each member of an ensemble. Checked against
    central differences of the network itself in float64."""
    torch.manual_seed(0)
    d, n = 3, 6
    z = np.random.default_rng(0).normal(size=(200, d)) * [1.0, 2.0, 0.5]
    if kind == "ensemble":
        net = EnergyEnsemble(d, (16,), n_members=2, noise_input="log", base_rank=d)
    else:
        net = EnergyMLP(d, (16,), noise_input="log" if kind == "log" else "sigma",
                        base_rank=d if kind == "base_and_scaling" else None,
                        scaling_rank=d if kind == "base_and_scaling" else None)
    if kind in ("base_and_scaling", "ensemble"):
        net.fit_covariance(z)
    net = net.double()
    g = torch.Generator().manual_seed(1)
    x = torch.randn(n, d, generator=g, dtype=torch.float64)
    eps = torch.randn(n, d, generator=g, dtype=torch.float64)
    sigma = torch.exp(torch.empty(n, 1, dtype=torch.float64).uniform_(-5, 0, generator=g))
    gamma = 0.7
    members = net.members if kind == "ensemble" else [net]
    expected = []
    for m in members:
        x_noisy = (x + sigma * eps).requires_grad_(True)
        (grad,) = torch.autograd.grad(m(x_noisy, sigma).sum(), x_noisy)
        h = 1e-6 * sigma
        with torch.no_grad():
            dfds = (m(x_noisy, sigma + h) - m(x_noisy, sigma - h)) / (2 * h.reshape(-1))
        residual = sigma.reshape(-1) * dfds + eps.pow(2).sum(1) - d
        expected.append((0.5 * (eps - sigma * grad).pow(2).sum(1)
                         + 0.5 * gamma * residual.pow(2) / (2 * d)).mean().item())
    loss = DSMLoss(0.0, "sigma2", time_score=gamma)(net, x, sigma, eps).item()
    assert loss == pytest.approx(np.mean(expected), rel=1e-7)
    assert loss > DSMLoss(0.0, "sigma2")(net, x, sigma, eps).item()


def test_validation_split_is_seeded_and_disjoint():
    tr, va = split_validation(100, 0.2, seed=3)
    tr2, va2 = split_validation(100, 0.2, seed=3)
    assert len(va) == 20 and len(tr) == 80
    assert set(tr.tolist()).isdisjoint(va.tolist())
    assert torch.equal(va, va2) and torch.equal(tr, tr2)
    assert len(split_validation(5, 0.5, 0)[1]) == 0  # too small to hold rows out


@pytest.mark.parametrize("n, fraction, held", [(100, 0.2, 20), (5, 0.5, 0), (10, 0.99, 9),
                                               (178, 0.001, 0), (2000, 0.001, 2),
                                               (40, 0.0, 0)])
def test_validation_rows_counts_the_rows_the_split_holds_out(n, fraction, held):
    assert validation_rows(n, fraction) == held == len(split_validation(n, fraction, 1)[1])


def _train(tmp_path=None, loss_fn=None, steps=60, ema=None, lr_schedule="constant",
           antithetic=False, base=False, scaling=False, checkpoint_every=20):
    torch.manual_seed(1)
    net = EnergyMLP(3, (16, 16), base_rank=3 if base else None,
                    scaling_rank=2 if scaling else None)
    x = torch.randn(300, 3, generator=torch.Generator().manual_seed(2))
    if base or scaling:
        net.fit_covariance(x.numpy())
    cfg = TrainConfig(batch_size=64, max_steps=steps, eval_every=20,
                      checkpoint_every=checkpoint_every,
                      patience=None, ema_decay=ema, seed=5, lr_schedule=lr_schedule,
                      antithetic=antithetic)
    result = train_energy(net, x, NoiseSchedule(), loss_fn or DSMLoss(0.1), cfg, tmp_path)
    return net, result


def test_training_is_deterministic_and_reduces_validation_loss():
    net1, r1 = _train()
    net2, _ = _train()
    for p1, p2 in zip(net1.parameters(), net2.parameters(), strict=True):
        assert torch.equal(p1, p2)
    vals = [h["val_loss"] for h in r1.history]
    assert r1.steps == 60 and len(vals) == 3
    # the untrained network (same seed) on the same validation rows and noise
    torch.manual_seed(1)
    untrained = EnergyMLP(3, (16, 16))
    x = torch.randn(300, 3, generator=torch.Generator().manual_seed(2))
    _, val_idx = split_validation(300, 0.1, seed=5)
    before = _validation_loss(untrained, DSMLoss(0.1), x[val_idx], NoiseSchedule(), seed=5)
    # every evaluation improves on the one before it, and the first on the untrained network
    assert all(b < a for a, b in zip([before, *vals], vals, strict=False)), (before, vals)
    assert r1.best_step == 60 and r1.best_val_loss == vals[-1]
    # the returned weights are the ones that were validated best
    kept = _validation_loss(net1, DSMLoss(0.1), x[val_idx], NoiseSchedule(), seed=5)
    assert kept == pytest.approx(r1.best_val_loss, rel=1e-6)


def test_training_with_ema_keeps_the_average(tmp_path):
    """Replay the EMA from the raw weights of every step: the average after the last step is
    the checkpoint's, and the weights returned are the average at the best validation step."""
    raw = []  # the raw weights before each training step
    base = DSMLoss(0.1)

    def recording(net, x, sigma, eps, create_graph=True):
        if create_graph:  # a training step (validation passes create_graph=False)
            raw.append([p.detach().clone() for p in net.parameters()])
        return base(net, x, sigma, eps, create_graph)

    net, result = _train(tmp_path, recording, ema=0.9)
    saved = load_file(str(tmp_path / CHECKPOINT_NAME))
    names = [name for name, _ in net.named_parameters()]
    raw.append([saved[f"net.{name}"] for name in names])  # after the last step
    assert len(raw) == 61
    average = [w.clone() for w in raw[0]]
    averages = {}
    for t in range(60):  # decay min(0.9, (1 + t) / (10 + t)) after step t (0-based)
        decay = min(0.9, (1 + t) / (10 + t))
        average = [decay * a + (1 - decay) * w for a, w in zip(average, raw[t + 1], strict=True)]
        averages[t + 1] = average
    for name, a in zip(names, averages[60], strict=True):
        torch.testing.assert_close(saved[f"ema.{name}"], a, rtol=1e-5, atol=1e-6)
    assert result.best_step in averages and result.best_val_loss is not None
    for p, a in zip(net.parameters(), averages[result.best_step], strict=True):
        torch.testing.assert_close(p.detach(), a, rtol=1e-5, atol=1e-6)
    # the average is not the last iterate, nor the initialisation
    assert any((p.detach() - w).abs().max() > 1e-4
               for p, w in zip(net.parameters(), raw[result.best_step], strict=True))
    assert any((p.detach() - w).abs().max() > 1e-4
               for p, w in zip(net.parameters(), raw[0], strict=True))


class _Crash(Exception):
    pass


@pytest.mark.parametrize(("lr_schedule", "options"),
                         [("constant", {}), ("cosine", {}),
                          ("constant", {"antithetic": True, "base": True}),
                          ("constant", {"scaling": True})])
def test_interrupted_training_resumes_to_the_same_weights(tmp_path, lr_schedule, options):
    """Also with antithetic pairs and a Gaussian base, or an input scaling of rank 2 < d
    (whose buffers the checkpoint holds)."""
    reference, _ = _train(lr_schedule=lr_schedule, **options)
    calls = {"n": 0}

    class Crashing(DSMLoss):  # DSMLoss(0.1), _train's loss, until its 51st training step
        def __call__(self, net, x, sigma, eps, create_graph=True, **options):
            calls["n"] += create_graph  # count training steps only
            if calls["n"] > 50:
                raise _Crash
            return super().__call__(net, x, sigma, eps, create_graph, **options)

    with pytest.raises(_Crash):
        _train(tmp_path, Crashing(0.1), lr_schedule=lr_schedule, **options)
    assert (tmp_path / CHECKPOINT_NAME).exists()
    resumed, result = _train(tmp_path, lr_schedule=lr_schedule, **options)
    assert result.steps == 60
    for (n1, p1), (n2, p2) in zip(reference.state_dict().items(),
                                  resumed.state_dict().items(), strict=True):
        assert n1 == n2 and torch.equal(p1, p2)
    if options:  # and a checkpoint of each option is never resumed without it
        for without in ({k: False} for k in options):
            with pytest.raises(ValueError, match="another training config"):
                _train(tmp_path, lr_schedule=lr_schedule, **(options | without))


def test_a_resume_that_saves_more_often_trains_the_same_weights(tmp_path):
    """A run interrupted after its step-40 checkpoint (saving every 20 steps) and resumed
    saving every 7 ends with the weights of a run never interrupted."""
    reference, _ = _train()
    calls = {"n": 0}

    class Crashing(DSMLoss):
        def __call__(self, net, x, sigma, eps, create_graph=True):
            calls["n"] += create_graph
            if calls["n"] > 50:
                raise _Crash
            return super().__call__(net, x, sigma, eps, create_graph)

    with pytest.raises(_Crash):
        _train(tmp_path, Crashing(0.1))
    resumed, result = _train(tmp_path, checkpoint_every=7)
    assert result.steps == 60
    assert result.resumed_from == 40 and _train()[1].resumed_from is None  # said by mulde fit
    for p1, p2 in zip(reference.state_dict().values(), resumed.state_dict().values(),
                      strict=True):
        assert torch.equal(p1, p2)


def test_checkpoint_from_another_config_is_refused(tmp_path):
    _train(tmp_path, steps=20)
    with pytest.raises(ValueError, match=r"another training config .*; it differs in "
                                         r"max_steps \(20 in the checkpoint, 40 now\); to resume "
                                         r"it, rerun with the checkpoint's values"):
        _train(tmp_path, steps=40)


@pytest.mark.parametrize("change", ["beta", "regulariser", "time_score", "noise_input",
                                    "noise_range", "data"])
def test_a_checkpoint_of_another_model_is_refused_not_resumed(tmp_path, change):
    """Same training settings, but another loss, noise input, noise range or training rows
    (e.g. another standardisation): resuming would continue from the wrong weights, so the
    checkpoint is refused; the same everything resumes."""
    cfg = TrainConfig(batch_size=64, max_steps=20, eval_every=20, checkpoint_every=20,
                      patience=None, ema_decay=None, seed=5)

    def fit(beta=0.1, regulariser="constant", noise_input="sigma", high=1.0, scale=1.0,
            time_score=0.0):
        torch.manual_seed(1)
        x = torch.randn(300, 3, generator=torch.Generator().manual_seed(2)) * scale
        return train_energy(EnergyMLP(3, (16,), noise_input=noise_input), x,
                            NoiseSchedule(1e-3, high), DSMLoss(beta, regulariser, time_score),
                            cfg, tmp_path)

    first = fit()
    assert fit().steps == first.steps  # resumed from the finished checkpoint
    other = {"beta": {"beta": 0.0}, "regulariser": {"regulariser": "sigma2"},
             "time_score": {"time_score": 1.0},
             "noise_input": {"noise_input": "log"}, "noise_range": {"high": 2.0},
             "data": {"scale": 2.0}}[change]
    with pytest.raises(ValueError, match=r"another training config \(settings, loss, noise "
                                         r"range or training data\)") as refused:
        fit(**other)
    # the message names what differs, a field left out at its default by that default
    named = {"beta": "loss.beta (0.1 in the checkpoint, 0.0 now)",
             "regulariser": 'loss.regulariser ("constant" in the checkpoint, "sigma2" now)',
             "time_score": "loss.time_score (0.0 in the checkpoint, 1.0 now)",
             "noise_input": 'noise_input ("sigma" in the checkpoint, "log" now)',
             "noise_range": "noise_range ([0.001, 1.0] in the checkpoint, [0.001, 2.0] now)",
             "data": "data.sum_sq ("}[change]
    assert named in str(refused.value)


def test_checkpoint_of_another_network_is_refused_with_a_clear_error(tmp_path):
    """A checkpoint of one MLP resumed by a 2-member ensemble of the same training config:
    a ValueError naming the file and what differs, not torch's state-dict traceback."""
    from mulde.core import EnergyEnsemble

    _train(tmp_path, steps=20)
    cfg = TrainConfig(batch_size=64, max_steps=20, eval_every=20, checkpoint_every=20,
                      patience=None, ema_decay=None, seed=5)  # _train's
    x = torch.randn(300, 3, generator=torch.Generator().manual_seed(2))
    with pytest.raises(ValueError, match="checkpoint.safetensors: checkpoint holds another "
                                         "network .*n_members"):
        train_energy(EnergyEnsemble(3, (16, 16)), x, NoiseSchedule(), DSMLoss(0.1), cfg,
                     tmp_path)



def test_one_networks_checkpoint_of_before_round_49_resumes_given_its_eval_every(tmp_path):
    """Issue 15's round 49: one network is validated alike by either kind of draws, so its
    checkpoint written before (every 100 steps, no validation_draws) resumes given
    eval_every=100, as the refusal says; an ensemble's is refused, naming the draws, and
    says to delete its folder: no MULDE parameter sets them (it said to pass them)."""
    from mulde.core import EnergyEnsemble

    x = torch.randn(300, 3, generator=torch.Generator().manual_seed(2))
    old = {"batch_size": 64, "max_steps": 100, "patience": None, "ema_decay": None, "seed": 5}
    for net in (EnergyMLP(3, (16, 16)), EnergyEnsemble(3, (16, 16))):
        folder = tmp_path / type(net).__name__
        train_energy(net, x, NoiseSchedule(), DSMLoss(0.1),  # as before round 49
                     TrainConfig(**old, eval_every=100, validation_draws="shared"), folder)
        if isinstance(net, EnergyEnsemble):
            with pytest.raises(ValueError, match=r"differs in validation_draws \("
                                                 r"\"shared\" in the checkpoint, \"per_member\""
                                                 r" now\); no MULDE parameter or mulde fit "
                                                 r"option sets validation_draws, so no rerun "
                                                 r"resumes it: delete "
                                                 f"{re.escape(str(folder / CHECKPOINT_NAME))}"
                                                 r" \(the training checkpoint\) to train "
                                                 "afresh, or use another one$"):
                train_energy(net, x, NoiseSchedule(), DSMLoss(0.1),
                             TrainConfig(**old, eval_every=100), folder)
            continue
        with pytest.raises(ValueError, match=r"differs in eval_every \(100 in the checkpoint, "
                                             r"50 now\); to resume"):
            train_energy(net, x, NoiseSchedule(), DSMLoss(0.1), TrainConfig(**old), folder)
        resumed = train_energy(net, x, NoiseSchedule(), DSMLoss(0.1),
                               TrainConfig(**old, eval_every=100), folder)
        assert resumed.steps == 100


def test_total_steps_takes_the_first_limit():
    assert TrainConfig(batch_size=100, n_epochs=2, max_steps=None).total_steps(250) == 6
    assert TrainConfig(batch_size=100, n_epochs=2, max_steps=4).total_steps(250) == 4
    # fewer rows than a batch: one step an epoch
    assert TrainConfig(batch_size=100, n_epochs=2, max_steps=None).total_steps(60) == 2
    with pytest.raises(ValueError):
        TrainConfig(n_epochs=None, max_steps=None).total_steps(10)


def test_ema_warm_up_forgets_the_initialisation():
    """The weight the EMA keeps on the initial weights after 100 steps is the product of the
    decays: < 1e-6 with the warm-up (0.99^100 = 37 % without it)."""
    assert ema_decay_at(0, 0.99) == pytest.approx(0.1)
    assert ema_decay_at(10, 0.99) == pytest.approx(11 / 20)
    assert ema_decay_at(5000, 0.99) == 0.99
    assert math.prod(ema_decay_at(t, 0.99) for t in range(100)) < 1e-6


def test_training_killed_with_sigkill_resumes_from_its_checkpoint(tmp_path):
    from safetensors import safe_open

    from mulde.core.training import CHECKPOINT_NAME

    X = np.random.default_rng(6).standard_normal((400, 4))
    np.save(tmp_path / "x.npy", X)
    # a checkpoint every 100 steps: the kill lands after the first one, at whichever the
    # process has reached by then (on a saturated machine it may be a later one), and 700
    # steps before the end, so the run cannot finish between the file and the kill
    params = {"hidden_sizes": [8], "max_steps": 800, "batch_size": 32, "patience": None,
              "checkpoint_every": 100}
    checkpoint = tmp_path / "ckpt"
    out = tmp_path / "m.safetensors"
    cmd = _cli("fit", str(tmp_path / "x.npy"), "--out", str(out), "--device", "cpu", "--quiet",
               "--seed", "0", "--params", json.dumps(params | {"checkpoint_dir": str(checkpoint)}))
    proc = subprocess.Popen(cmd, env=ENV, cwd=REPO, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    _kill_when(proc, (checkpoint / CHECKPOINT_NAME).exists)  # first written after step 100
    assert not out.exists()
    with safe_open(str(checkpoint / CHECKPOINT_NAME), framework="pt") as f:
        step = json.loads(f.metadata()["state"])["step"]
    assert step in range(100, 800, 100), step  # interrupted mid-training
    # resume as `mulde fit` would (in-process: no second start-up), then an uninterrupted run
    model = MULDE.from_preset("default", random_state=0, device="cpu", verbose=False,
                              **params | {"checkpoint_dir": str(checkpoint)}).fit(X)
    assert model.train_result_.steps == 800
    assert [h["step"] for h in model.train_result_.history] == list(range(50, 801, 50))
    reference = MULDE.from_preset("default", random_state=0, device="cpu", **params).fit(X)
    for (name, a), b in zip(reference.network_.state_dict().items(),
                            model.network_.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
    np.testing.assert_array_equal(model.score_samples(X), reference.score_samples(X))


def test_nearest_neighbour_sigma_by_hand():
    """Rows (0, 0), (3, 4), (3, 4), (0, 1): nearest *different* rows at 1, 4.243, 4.243, 1
    (the duplicate (3, 4) is skipped); torch's median of an even count is the lower middle
    value, 1; divided by sqrt(d) = sqrt(2) and times the fraction."""
    x = torch.tensor([[0.0, 0.0], [3.0, 4.0], [3.0, 4.0], [0.0, 1.0]])
    assert nearest_neighbour_sigma(x, 1.0) == pytest.approx(1 / math.sqrt(2))
    assert nearest_neighbour_sigma(x, 0.5) == pytest.approx(0.5 / math.sqrt(2))
    # three rows on a line at 0, 2, 5: nearest distances 2, 2, 3 -> median 2, d = 1
    line = torch.tensor([[0.0], [2.0], [5.0]])
    assert nearest_neighbour_sigma(line, 0.5) == pytest.approx(1.0)
    # chunking and a query subset give the same value when every row is queried
    assert nearest_neighbour_sigma(line, 0.5, chunk=1) == pytest.approx(1.0)
    # no different row at all: 0
    assert nearest_neighbour_sigma(torch.ones(5, 3), 1.0) == 0.0
    assert nearest_neighbour_sigma(torch.zeros(1, 3), 1.0) == 0.0
    with pytest.raises(ValueError, match="fraction must be >= 0"):
        nearest_neighbour_sigma(x, -1.0)


def test_largest_distance_sigma_by_hand():
    """Rows (0, 0), (3, 4), (0, 1): the largest distance is 5 ((0, 0)-(3, 4)); divided by
    sqrt(d) = sqrt(2) and times the fraction. A subsample of 2 rows is one of the three
    pairs, so at most 5."""
    x = torch.tensor([[0.0, 0.0], [3.0, 4.0], [0.0, 1.0]])
    assert largest_distance_sigma(x, 1.0) == pytest.approx(5 / math.sqrt(2))
    assert largest_distance_sigma(x, 0.5) == pytest.approx(2.5 / math.sqrt(2))
    assert largest_distance_sigma(x, 1.0, max_rows=2) * math.sqrt(2) in (
        pytest.approx(5.0), pytest.approx(math.sqrt(18.0)), pytest.approx(1.0))
    assert largest_distance_sigma(torch.ones(4, 3), 1.0) == 0.0  # all rows equal
    assert largest_distance_sigma(torch.zeros(1, 3), 1.0) == 0.0
    with pytest.raises(ValueError, match="fraction must be >= 0"):
        largest_distance_sigma(x, -1.0)


def test_nearest_neighbour_sigma_skips_the_row_itself_despite_rounding():
    """Regression: cdist's matrix-product form leaves a row ~1e-8 from itself, which was taken
    as its nearest neighbour (the value came out ~1e-8 on 1,000 rows in d 64). Rows on a grid
    of spacing 1 in d 64, offset far from the origin: every nearest distance is exactly 1."""
    base = torch.full((1, 64), 30.0)
    steps = torch.zeros(300, 64)
    steps[torch.arange(300), torch.arange(300) % 64] = (torch.arange(300) // 64 + 1).float()
    x = (base + steps).float()
    # the row pairs differ by 1 in one column (same column, next multiple) or more: the
    # nearest different row is 1 away for every row that has a same-column neighbour
    value = nearest_neighbour_sigma(x, 1.0)
    assert value == pytest.approx(1 / 8)


def test_make_optimizer_decays_weights_decoupled_from_the_gradient():
    """AdamW's decoupled decay by hand: a weight with a zero gradient (Adam's own update is
    0 / (0 + eps) = 0) shrinks by 1 - lr * w per step: 2.0 -> 2.0 * (1 - 0.1 * 0.5) = 1.9,
    then 1.805; with w = 0 (plain Adam) it stays 2.0."""
    from mulde.core.training import make_optimizer

    for w, expected in ((0.5, (1.9, 1.805)), (0.0, (2.0, 2.0))):
        p = torch.nn.Parameter(torch.tensor([2.0]))
        opt = make_optimizer([p], TrainConfig(lr=0.1, weight_decay=w))
        assert isinstance(opt, torch.optim.AdamW if w else torch.optim.Adam)
        for value in expected:
            p.grad = torch.zeros(1)
            opt.step()
            assert p.item() == pytest.approx(value, rel=1e-6)
    with pytest.raises(ValueError, match="weight_decay"):
        make_optimizer([p], TrainConfig(weight_decay=-1.0))


def test_make_optimizer_updates_with_the_fused_kernel_and_the_loops_weights():
    """make_optimizer's Adam and AdamW run PyTorch's fused kernel on a CPU (one pass over
    each tensor, for speed); ten steps of random gradients on a two-member ensemble give the
    weights of the per-tensor loop PyTorch picks by itself there, to float rounding (about
    1e-7 of a weight moved by 10 x lr = 0.1), and every tensor moves."""
    from mulde.core.training import make_optimizer

    for w in (0.0, 0.01):
        torch.manual_seed(0)
        nets = [EnergyEnsemble(4, (8, 8), n_members=2) for _ in range(2)]
        nets[1].load_state_dict(nets[0].state_dict())
        start = [p.detach().clone() for p in nets[0].parameters()]
        cfg = TrainConfig(lr=0.01, weight_decay=w)
        ours = make_optimizer(nets[0].parameters(), cfg)
        kind = torch.optim.AdamW if w else torch.optim.Adam
        loop = kind(nets[1].parameters(), lr=0.01, betas=cfg.adam_betas, weight_decay=w,
                    foreach=False)
        assert ours.defaults["fused"] is True
        g = torch.Generator().manual_seed(1)
        for _ in range(10):
            for p, q in zip(nets[0].parameters(), nets[1].parameters(), strict=True):
                p.grad = torch.randn(p.shape, generator=g)
                q.grad = p.grad.clone()
            ours.step()
            loop.step()
        for p, q in zip(nets[0].parameters(), nets[1].parameters(), strict=True):
            torch.testing.assert_close(p, q, rtol=0, atol=1e-6)
        assert all(not torch.equal(p, p0)  # every tensor moved
                   for p, p0 in zip(nets[0].parameters(), start, strict=True))


def test_update_kernel_is_fused_on_cpu_and_cuda_only():
    """Fused Adam where every tensor is on a CPU or a CUDA device; foreach where one is on
    another device (a meta tensor stands in for an Apple GPU's) or there is none."""
    from mulde.core.training import _update_kernel

    assert _update_kernel([torch.zeros(2)]) == {"fused": True}
    assert _update_kernel([torch.zeros(2), torch.zeros(2, device="meta")]) == {"foreach": True}
    assert _update_kernel([]) == {"foreach": True}


@pytest.mark.parametrize("version, cpu, cuda", [("2.1.2", "foreach", "fused"),
                                                ("2.3.1+cu121", "foreach", "fused"),
                                                ("2.4.0a0+git1234", "fused", "fused"),
                                                ("2.10.0", "fused", "fused")])
def test_update_kernel_falls_back_to_foreach_on_a_cpu_before_pytorch_2_4(monkeypatch, version,
                                                                          cpu, cuda):
    """The package takes PyTorch 2.1 on, whose fused Adam runs on CUDA only (on a CPU from
    2.4, where asking for it is an error): the version is read as a number ('2.10' after
    '2.4'), and an Apple GPU's tensors get foreach whatever the version."""
    from types import SimpleNamespace

    from mulde.core.training import _update_kernel

    def on(kind):
        return [SimpleNamespace(device=torch.device(kind))]

    monkeypatch.setattr(torch, "__version__", version)
    assert _update_kernel(on("cpu")) == {cpu: True}
    assert _update_kernel(on("cuda")) == {cuda: True}
    assert _update_kernel(on("mps")) == {"foreach": True}


def test_a_backward_over_the_weights_alone_gives_their_full_gradients():
    """train_energy's backward asks for the weights' gradients only (the noisy rows, a leaf
    of the double backward's graph, would cost a first layer's product a step): with the
    regulariser and the time-score term, the weights' gradients equal a plain backward's over
    every leaf, bit for bit."""
    torch.manual_seed(0)
    net = EnergyEnsemble(3, (8, 8), n_members=2)
    loss_fn = DSMLoss(beta=0.1, time_score=0.25)
    x, sigma, eps = torch.randn(16, 3), torch.rand(16, 1) + 0.01, torch.randn(16, 3)
    grads = []
    for only_weights in (True, False):
        net.zero_grad(set_to_none=True)
        loss = loss_fn(net, x, sigma, eps)
        if only_weights:
            torch.autograd.backward(loss, inputs=list(net.parameters()))
        else:
            loss.backward()
        grads.append([p.grad.clone() for p in net.parameters()])
    assert all(torch.equal(a, b) for a, b in zip(*grads, strict=True))


def test_weight_decay_reaches_the_optimiser_of_a_fit():
    """MULDE(weight_decay=w) trains with AdamW(w): weight decay is wired through, not ignored
    (the weights of a decayed fit differ from an undecayed one of the same seed)."""
    from mulde import MULDE

    X = np.random.default_rng(3).standard_normal((120, 3))
    kw = {"hidden_sizes": (16,), "max_steps": 30, "random_state": 0, "device": "cpu"}
    a, b = MULDE(**kw).fit(X), MULDE(weight_decay=5.0, **kw).fit(X)
    norm = [sum(p.detach().pow(2).sum().item() for p in m.network_.parameters())
            for m in (a, b)]
    assert norm[1] < norm[0]


def test_an_ensemble_energy_is_the_mean_of_its_members():
    """EnergyEnsemble: forward and energy_multiscale are the members' means (by hand, two
    members); energy_network builds one MLP for n_members 1 and refuses an ensemble of 1."""
    from mulde.core import EnergyEnsemble, energy_network

    torch.manual_seed(0)
    ens = energy_network(3, (8,), n_members=2)
    assert isinstance(ens, EnergyEnsemble) and len(ens.members) == 2
    assert isinstance(energy_network(3, (8,)), EnergyMLP)
    x, sigma = torch.randn(5, 3), torch.full((5, 1), 0.3)
    a, b = (m(x, sigma) for m in ens.members)
    torch.testing.assert_close(ens(x, sigma), (a + b) / 2)
    sigmas = torch.tensor([0.1, 0.5])
    multi = ens.energy_multiscale(x, sigmas)
    assert multi.shape == (5, 2)
    torch.testing.assert_close(multi[:, 1], ens(x, torch.full((5, 1), 0.5)))
    with pytest.raises(ValueError, match="n_members >= 2"):
        EnergyEnsemble(3, (8,), n_members=1)


def test_the_loss_of_an_ensemble_is_the_mean_of_its_members_own_losses():
    """Each member is trained on its own DSM loss (the gradient of its own energy), not on
    the ensemble mean's: the loss of two members is the mean of their separate losses, and
    differs from the loss of the mean energy."""
    from mulde.core import EnergyEnsemble

    torch.manual_seed(1)
    ens = EnergyEnsemble(2, (8,), n_members=2)
    x, sigma, eps = torch.randn(6, 2), torch.full((6, 1), 0.5), torch.randn(6, 2)
    loss = DSMLoss(beta=0.1)
    separate = [loss(m, x, sigma, eps) for m in ens.members]
    torch.testing.assert_close(loss(ens, x, sigma, eps), (separate[0] + separate[1]) / 2)

    class Mean(torch.nn.Module):  # the same weights, trained as one network
        def forward(self, x, sigma):
            return ens(x, sigma)

    assert not torch.isclose(loss(Mean(), x, sigma, eps), loss(ens, x, sigma, eps))


def test_cosine_learning_rate_by_hand():
    """learning_rate_at: lr at step 0, lr / 2 half way, lr (1 + cos(pi / 4)) / 2 a quarter of
    the way, 0 at the end; "constant" keeps lr; an unknown schedule is refused."""
    from mulde.core.training import learning_rate_at

    cos = TrainConfig(lr=0.2, lr_schedule="cosine")
    assert learning_rate_at(0, 100, cos) == pytest.approx(0.2)
    assert learning_rate_at(25, 100, cos) == pytest.approx(0.1 * (1 + math.sqrt(0.5)))
    assert learning_rate_at(50, 100, cos) == pytest.approx(0.1)
    assert learning_rate_at(100, 100, cos) == pytest.approx(0.0, abs=1e-12)
    assert learning_rate_at(70, 100, TrainConfig(lr=0.2)) == 0.2
    with pytest.raises(ValueError, match="lr_schedule must be one of"):
        learning_rate_at(0, 10, TrainConfig(lr_schedule="step"))


def test_the_cosine_schedule_reaches_the_optimiser_and_its_checkpoints():
    """A cosine run ends with other weights than a constant one of the same seed (the
    schedule is applied, not ignored), and its checkpoint config names it, so a constant
    run's checkpoint is never resumed as a cosine one (the constant default is left out, as
    older checkpoints hold no such field)."""
    from mulde.core.training import _checkpoint_config

    (a, _), (b, _) = _train(lr_schedule="cosine"), _train()
    assert any(not torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(),
                                                     strict=True))
    assert _checkpoint_config(TrainConfig(lr_schedule="cosine"))["lr_schedule"] == "cosine"
    assert "lr_schedule" not in _checkpoint_config(TrainConfig())


def test_dequantised_moves_each_row_within_its_cell_by_hand():
    """shift = (u - 1/2) * widths: a row moves by (u_j - 1/2) h_j in each quantised column
    and not at all elsewhere; with a whitening's rows (mixing) the same draw reaches every
    coordinate as shift @ mixing; None returns x itself and draws nothing."""
    from mulde.core.training import LatticeCells, dequantised

    x = torch.tensor([[0.0, 5.0, 1.0], [2.0, -1.0, 3.0]])
    cells = LatticeCells(torch.tensor([0, 2]), torch.tensor([0.5, 2.0]))  # h 0.5 and 2
    u = torch.rand((2, 2), generator=torch.Generator().manual_seed(7))
    out = dequantised(x, cells, torch.Generator().manual_seed(7))
    expected = x.clone()
    expected[:, 0] += (u[:, 0] - 0.5) * 0.5
    expected[:, 2] += (u[:, 1] - 0.5) * 2.0
    torch.testing.assert_close(out, expected)
    assert torch.all((out - x).abs() <= torch.tensor([0.25, 0.0, 1.0]))
    assert torch.equal(x, torch.tensor([[0.0, 5.0, 1.0], [2.0, -1.0, 3.0]]))  # x untouched
    mixing = torch.tensor([[0.6, 0.8, 0.0], [0.0, 0.0, 1.0]])
    mixed = LatticeCells(cells.columns, cells.widths, mixing)
    torch.testing.assert_close(dequantised(x, mixed, torch.Generator().manual_seed(7)),
                               x + ((u - 0.5) * cells.widths) @ mixing)
    g = torch.Generator().manual_seed(3)
    assert dequantised(x, None, g) is x
    assert torch.equal(torch.rand(4, generator=g),
                       torch.rand(4, generator=torch.Generator().manual_seed(3)))


def test_training_with_cells_dequantises_and_is_told_apart_by_checkpoints(tmp_path):
    """cells change the trained weights; training with them is seeded (repeats exactly), and
    a checkpoint written with them is not resumed by a run without them."""
    from mulde.core.training import LatticeCells

    def run(cells, where=None):
        torch.manual_seed(1)
        net = EnergyMLP(3, (16, 16))
        x = torch.randint(0, 3, (300, 3), generator=torch.Generator().manual_seed(2)).float()
        cfg = TrainConfig(batch_size=64, max_steps=40, eval_every=20, patience=None,
                          ema_decay=None, seed=5, checkpoint_every=20)
        train_energy(net, x, NoiseSchedule(), DSMLoss(0.1), cfg, where, cells=cells)
        return net

    cells = LatticeCells(torch.arange(3), torch.full((3,), 0.8))
    a, b, plain = run(cells), run(cells), run(None)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))
    assert any(not torch.equal(p, q)
               for p, q in zip(a.parameters(), plain.parameters(), strict=True))
    run(cells, tmp_path)
    with pytest.raises(ValueError, match="checkpoint"):
        run(None, tmp_path)


def test_antithetic_batch_pairs_each_row_with_its_negated_noise():
    from mulde.core.loss import antithetic_batch

    x, sigma, eps = torch.randn(5, 3), torch.rand(5, 1), torch.randn(5, 3)
    x2, s2, e2 = antithetic_batch(x, sigma, eps)
    assert x2.shape == (10, 3) and s2.shape == (10, 1) and e2.shape == (10, 3)
    assert torch.equal(x2[:5], x) and torch.equal(x2[5:], x)
    assert torch.equal(s2[5:], sigma) and torch.equal(e2[:5], eps) and torch.equal(e2[5:], -eps)


@pytest.mark.parametrize("regulariser,time_score", [("constant", 0.0), ("sigma2", 0.25)])
def test_antithetic_loss_is_the_loss_of_the_pairs_with_the_regulariser_once_per_row(
        regulariser, time_score):
    """DSMLoss(..., antithetic=True) on n rows is the loss of antithetic_batch's 2n rows (the
    regulariser, a function of the clean row and its level, taken once per row): the same
    value and weight gradients to float rounding, for an ensemble with members on bags."""
    from mulde.core.loss import antithetic_batch

    torch.manual_seed(0)
    net = EnergyEnsemble(5, (16, 16), n_members=3)
    loss_fn = DSMLoss(beta=0.3, regulariser=regulariser, time_score=time_score)
    x, sigma, eps = torch.randn(12, 5), torch.rand(12, 1) + 0.05, torch.randn(12, 5)
    rows = torch.rand(12, 3) < 0.5
    rows[0] = True  # every member has a row
    results = []
    for antithetic in (False, True):
        net.zero_grad(set_to_none=True)
        if antithetic:
            loss = loss_fn(net, x, sigma, eps, rows=rows, antithetic=True)
        else:
            loss = loss_fn(net, *antithetic_batch(x, sigma, eps), rows=torch.cat([rows, rows]))
        loss.backward()
        results.append((loss.detach(), [p.grad.clone() for p in net.parameters()]))
    (before, grads_before), (after, grads_after) = results
    torch.testing.assert_close(after, before, rtol=1e-6, atol=1e-7)
    for a, b in zip(grads_after, grads_before, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-7)
    assert float(before) > 0 and any(float(g.abs().max()) > 0 for g in grads_before)


def test_antithetic_pairs_remove_the_noise_odd_term_of_the_dsm_gradient():
    """For a linear energy f = a . x (score -a everywhere) a row's DSM loss is
    0.5 ||eps||^2 - sigma eps . a + 0.5 sigma^2 ||a||^2: the gradient in a, -sigma eps +
    sigma^2 a, varies with the noise draw; over a pair (eps, -eps) it is sigma^2 a for every
    draw, the expected gradient."""
    from mulde.core.loss import antithetic_batch

    class Linear(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.a = torch.nn.Parameter(torch.tensor([0.5, -1.0, 2.0]))

        def forward(self, x, sigma):
            return x @ self.a

    net, loss_fn = Linear(), DSMLoss(beta=0.0)
    x, sigma = torch.randn(1, 3), torch.full((1, 1), 0.01)
    single, paired = [], []
    for seed in range(20):
        eps = torch.randn(1, 3, generator=torch.Generator().manual_seed(seed))
        for grads, batch in ((single, (x, sigma, eps)), (paired, antithetic_batch(x, sigma,
                                                                                  eps))):
            net.zero_grad()
            loss_fn(net, *batch).backward()
            grads.append(net.a.grad.clone())
    expected = 0.01 ** 2 * net.a.detach()
    for g in paired:
        torch.testing.assert_close(g, expected, rtol=1e-4, atol=1e-9)
    assert torch.stack(single).std(dim=0).min() > 1e-3  # about sigma, 100x the expected size


def test_antithetic_training_takes_half_the_rows_a_step_and_its_checkpoint_says_so(tmp_path):
    """With antithetic draws a step gives the loss batch_size // 2 rows to take twice, with
    eps and -eps (`DSMLoss(..., antithetic=True)`: the same number of noisy rows; an epoch's
    last step its remainder), the run differs from single draws of the same seed, and its
    checkpoint config names the setting (left out when off, as older checkpoints hold no such
    field), so a single-draw checkpoint is never resumed as an antithetic run."""
    from mulde.core.training import _checkpoint_config

    sizes = []
    base = DSMLoss(0.1)

    def recording(net, x, sigma, eps, create_graph=True, antithetic=False):
        if create_graph:
            assert antithetic
            sizes.append(2 * x.shape[0])  # the noisy rows the loss evaluates
        return base(net, x, sigma, eps, create_graph, antithetic=antithetic)

    torch.manual_seed(1)
    net = EnergyMLP(3, (16, 16))
    x = torch.randn(300, 3, generator=torch.Generator().manual_seed(2))
    cfg = TrainConfig(batch_size=64, max_steps=20, eval_every=20, patience=None,
                      ema_decay=None, seed=5, antithetic=True)
    train_energy(net, x, NoiseSchedule(), recording, cfg)
    # 270 fitted rows (30 held out) in steps of 32 rows: 8 full steps and one of 14 an epoch
    assert sizes == ([64] * 8 + [28]) * 2 + [64, 64]
    single, _ = _train(steps=20)
    assert any(not torch.equal(p, q) for p, q in zip(net.parameters(), single.parameters(),
                                                     strict=True))
    assert _checkpoint_config(cfg)["antithetic"] is True
    assert "antithetic" not in _checkpoint_config(TrainConfig())


def test_an_antithetic_epoch_is_every_row_once_in_steps_of_half_a_batch():
    """Antithetic steps take batch_size // 2 rows, so n_epochs counts twice as many steps as
    with single draws (every training row once an epoch, as the loop reshuffles), at least
    one row a step and never more rows than there are."""
    pairs = TrainConfig(batch_size=100, n_epochs=2, max_steps=None, antithetic=True)
    assert pairs.rows_per_step(250) == 50 and pairs.total_steps(250) == 10
    assert pairs.rows_per_step(30) == 30 and pairs.total_steps(30) == 2
    assert TrainConfig(batch_size=1, antithetic=True).rows_per_step(30) == 1
    assert TrainConfig(batch_size=100).rows_per_step(250) == 100
    sizes = []
    base = DSMLoss(0.1)

    def recording(net, x, sigma, eps, create_graph=True, antithetic=False):
        if create_graph:
            sizes.append(2 * x.shape[0] if antithetic else x.shape[0])
        return base(net, x, sigma, eps, create_graph, antithetic=antithetic)

    torch.manual_seed(1)
    x = torch.randn(300, 3, generator=torch.Generator().manual_seed(2))
    cfg = TrainConfig(batch_size=64, n_epochs=1, max_steps=None, patience=None,
                      ema_decay=None, antithetic=True)
    result = train_energy(EnergyMLP(3, (8,)), x, NoiseSchedule(), recording, cfg)
    # 270 fitted rows (30 held out): 8 steps of 32 rows and one of 14, each row twice
    assert result.steps == 9 and sizes == [64] * 8 + [28]


def test_learning_rate_for_rows_by_hand():
    """1e-3 up to 1,000 rows, in proportion to the rows above, 3e-3 from 3,000 on."""
    assert learning_rate_for_rows(1) == pytest.approx(1e-3)
    assert learning_rate_for_rows(1000) == pytest.approx(1e-3)
    assert learning_rate_for_rows(2000) == pytest.approx(2e-3)
    assert learning_rate_for_rows(3000) == pytest.approx(3e-3)
    assert learning_rate_for_rows(50_000) == pytest.approx(3e-3)
    with pytest.raises(ValueError, match="at least 1 training row, got 0"):
        learning_rate_for_rows(0)


def test_resolve_lr_keeps_a_number_and_resolves_auto_by_the_rows():
    assert resolve_lr(0.002, 10) == 0.002
    assert resolve_lr(0.002, 50_000) == 0.002
    assert resolve_lr("auto", 1500) == pytest.approx(1.5e-3)
    assert resolve_lr("auto", 500) == pytest.approx(1e-3)
    assert resolve_lr(0.002, 4000, 512) == 0.002
    assert resolve_lr("auto", 4000, 512) == pytest.approx(2e-3)


def test_learning_rate_counts_the_rows_for_less_past_256_features_by_hand():
    """Round 29: the rows counted as n x min(1, 256 / d): 4,000 rows of 512 features count as
    2,000 (2e-3), of 1,024 as 1,000 (1e-3); up to 256 features nothing changes; never below
    1e-3."""
    assert learning_rate_for_rows(4000, 256) == learning_rate_for_rows(4000) == 3e-3
    assert learning_rate_for_rows(4000, 512) == pytest.approx(2e-3)
    assert learning_rate_for_rows(4000, 1024) == pytest.approx(1e-3)
    assert learning_rate_for_rows(12_000, 1024) == pytest.approx(3e-3)
    assert learning_rate_for_rows(1, 100_000) == pytest.approx(1e-3)
    with pytest.raises(ValueError, match="at least 1 feature"):
        learning_rate_for_rows(10, 0)


@given(st.integers(1, 100_000), st.integers(1, 5000), st.integers(1, 5000))
@settings(max_examples=60, deadline=None)
def test_learning_rate_never_rises_with_the_features(n, d1, d2):
    lo, hi = sorted((d1, d2))
    assert 1e-3 - 1e-15 <= learning_rate_for_rows(n, hi) <= learning_rate_for_rows(n, lo)


@given(st.integers(1, 10**7), st.integers(1, 10**7))
def test_learning_rate_for_rows_grows_with_the_rows_within_its_bounds(a, b):
    lo, hi = sorted((a, b))
    assert 1e-3 - 1e-15 <= learning_rate_for_rows(lo) <= learning_rate_for_rows(hi) <= 3e-3


def test_member_bags_give_each_member_its_own_seeded_draw():
    """member_bags: round(max_samples * n) rows per member (at least 1), without
    replacement, another draw per member, the same for the same seed; None at 1."""
    bags = member_bags(10, 3, 0.5, seed=4)
    assert bags.shape == (10, 3) and bags.dtype == torch.bool
    assert bags.sum(dim=0).tolist() == [5, 5, 5]
    assert len({tuple(bags[:, m].tolist()) for m in range(3)}) == 3
    assert torch.equal(bags, member_bags(10, 3, 0.5, seed=4))
    assert not torch.equal(bags, member_bags(10, 3, 0.5, seed=5))
    assert member_bags(10, 2, 0.01, seed=0).sum(dim=0).tolist() == [1, 1]
    assert member_bags(10, 3, 1.0, seed=4) is None


def test_the_loss_of_bagged_members_takes_each_over_its_own_rows():
    """With rows, member j's loss is its DSM loss over the rows its column marks (by hand,
    two members); a member without rows in the batch adds nothing."""
    torch.manual_seed(1)
    ens = EnergyEnsemble(2, (8,), n_members=2)
    x, sigma, eps = torch.randn(6, 2), torch.full((6, 1), 0.5), torch.randn(6, 2)
    rows = torch.tensor([[1, 0], [1, 1], [0, 1], [1, 0], [0, 0], [0, 1]], dtype=torch.bool)
    loss = DSMLoss(beta=0.0, time_score=0.25)
    own = [loss(m, x[rows[:, j]], sigma[rows[:, j]], eps[rows[:, j]])
           for j, m in enumerate(ens.members)]
    torch.testing.assert_close(loss(ens, x, sigma, eps, rows=rows), (own[0] + own[1]) / 2)
    only_first = rows.clone()
    only_first[:, 1] = False
    torch.testing.assert_close(loss(ens, x, sigma, eps, rows=only_first), own[0])
    none = torch.zeros_like(rows)
    zero = loss(ens, x, sigma, eps, rows=none)
    assert zero.item() == 0.0 and zero.requires_grad


def test_bagged_training_shows_each_member_only_its_rows_and_its_checkpoint_says_so():
    """train_energy with max_samples < 1: every batch passes each member's rows of its bag
    (the bags drawn over the fitted rows, after the validation split), so a member never
    fits a row outside its bag; the checkpoint config names the setting (left out at 1, as
    older checkpoints hold none)."""
    from mulde.core.training import _checkpoint_config

    seen: list[tuple[torch.Tensor, torch.Tensor]] = []
    base = DSMLoss(0.0)

    def recording(net, x, sigma, eps, create_graph=True, rows=None):
        if create_graph:
            seen.append((x.clone(), rows.clone()))
        return base(net, x, sigma, eps, create_graph, rows=rows)

    torch.manual_seed(1)
    ens = EnergyEnsemble(3, (8,), n_members=2)
    x = torch.randn(100, 3, generator=torch.Generator().manual_seed(2))
    cfg = TrainConfig(batch_size=32, max_steps=8, eval_every=4, patience=None,
                      ema_decay=None, seed=5, max_samples=0.5)
    train_energy(ens, x, NoiseSchedule(), recording, cfg)
    train_idx, _ = split_validation(100, cfg.validation_fraction, cfg.seed)
    bags = member_bags(len(train_idx), 2, 0.5, cfg.seed)
    for j in range(2):
        bag_rows = {tuple(r) for r in x[train_idx][bags[:, j]].tolist()}
        given = [tuple(r) for xb, rows in seen for r in xb[rows[:, j]].tolist()]
        assert given and set(given) <= bag_rows
    assert len(seen) == 8 and all(r.any(dim=0).all() for _, r in seen)
    assert _checkpoint_config(cfg)["max_samples"] == 0.5
    assert "max_samples" not in _checkpoint_config(TrainConfig())


def test_a_batch_of_no_members_rows_moves_no_weight():
    """A batch holding none of the bagged members' rows (possible with tiny bags and
    batches) leaves every weight as it was, weight decay included: the optimiser does not
    step on a zero loss."""
    from mulde.core.training import _generator

    x = torch.randn(20, 3, generator=torch.Generator().manual_seed(2))
    for seed in range(100):  # a seed whose first batch (one row) is in no bag
        train_idx, _ = split_validation(20, 0.1, seed)
        bags = member_bags(len(train_idx), 2, 0.05, seed)
        first = torch.randperm(len(train_idx), generator=_generator(seed, 1,
                                                                    torch.device("cpu")))[0]
        if not bags[first].any():
            break
    torch.manual_seed(1)
    ens = EnergyEnsemble(3, (8,), n_members=2)
    before = [p.detach().clone() for p in ens.parameters()]
    cfg = TrainConfig(batch_size=1, max_steps=1, eval_every=1, patience=None, ema_decay=None,
                      seed=seed, max_samples=0.05, weight_decay=0.3)
    train_energy(ens, x, NoiseSchedule(), DSMLoss(0.0), cfg)
    assert all(torch.equal(p, q) for p, q in zip(ens.parameters(), before, strict=True))
    cfg = TrainConfig(batch_size=1, max_steps=1, eval_every=1, patience=None, ema_decay=None,
                      seed=seed, weight_decay=0.3)  # the same batch, unbagged, moves them
    train_energy(ens, x, NoiseSchedule(), DSMLoss(0.0), cfg)
    assert any(not torch.equal(p, q) for p, q in zip(ens.parameters(), before, strict=True))


def test_principal_directions_by_hand():
    """Two uncorrelated columns of equal variance: one direction holds half the variance,
    both hold all of it. Two identical columns: one direction holds all. A constant column
    adds none."""
    square = np.array([[1.0, 0], [-1, 0], [0, 1], [0, -1]])
    assert principal_directions(square, 0.5) == 1
    assert principal_directions(square, 0.9) == principal_directions(square, 1.0) == 2
    a = np.array([0.0, 1, 3, 7])
    assert principal_directions(np.c_[a, 2 * a + 5], 0.9) == 1
    assert principal_directions(np.c_[square, np.full(4, 3.0)], 0.9) == 2
    assert principal_directions(np.ones((5, 3))) == 0
    with pytest.raises(ValueError, match="share"):
        principal_directions(square, 0.0)


def test_principal_directions_drop_constants_exactly_at_any_scale_and_layout():
    """A constant 0.1 (not exact in binary) is constant whatever the memory layout (a
    DataFrame's values are Fortran-ordered), and the count does not depend on the scale of
    the values, even near the ends of float64's range. Fewer than 2 rows: 0."""
    rng = np.random.default_rng(0)
    X = np.c_[rng.normal(size=(1000, 22)), np.full(1000, 0.1)]
    assert principal_directions(X) == principal_directions(np.asfortranarray(X)) \
        == principal_directions(X[:, :22])
    Y = rng.normal(size=(600, 16))
    assert principal_directions(Y) == principal_directions(Y * 1e200) \
        == principal_directions(Y * 1e-300) == 14
    assert principal_directions(Y[:1]) == principal_directions(Y[:0]) == 0


@settings(max_examples=25, deadline=None)
@given(st.integers(2, 12), st.integers(2, 12), st.integers(0, 2**16))
def test_principal_directions_agree_with_the_correlation_spectrum(n, d, seed):
    """Fewer rows than columns (the Gram matrix) or more (the covariance): the count is the
    one read off the correlation matrix's own eigenvalues, and at most min(n, d)."""
    X = np.random.default_rng(seed).normal(size=(n, d))
    eigenvalues = np.sort(np.linalg.eigvalsh(np.corrcoef(X, rowvar=False)))[::-1]
    expected = int(np.searchsorted(np.cumsum(eigenvalues), 0.9 * d - 1e-9) + 1)
    assert principal_directions(X) == min(expected, d)
    assert 1 <= principal_directions(X) <= min(n, d)


def test_members_for_rows_keep_a_small_fit_within_the_work_of_1000_rows():
    """M = min(4, max(1, floor(1,000 / n))): 4 up to 250 rows, 3 up to 333, 2 up to 500,
    one network from 501; "auto" resolves to it, a number stays; an ensemble's "auto" share
    is a half, one network's every row."""
    got = {n: members_for_rows(n) for n in (1, 10, 50, 250, 251, 333, 334, 500, 501, 4000)}
    assert got == {1: 4, 10: 4, 50: 4, 250: 4, 251: 3, 333: 3, 334: 2, 500: 2, 501: 1,
                   4000: 1}
    assert resolve_members("auto", 300, 8) == 3 and resolve_members(2, 4000, 8) == 2
    assert resolve_max_samples("auto", 3) == 0.5 and resolve_max_samples("auto", 1) == 1.0
    assert resolve_max_samples(0.7, 1) == 0.7
    with pytest.raises(ValueError, match="at least 1 training row"):
        members_for_rows(0)


def test_the_pairs_fewest_rows_are_where_the_rows_alone_give_one_network():
    """Round 58's PAIR_MIN_ROWS is the first row count the rows' rule gives one network."""
    from mulde.core.network import PAIR_MIN_ROWS, PAIR_ROWS_PER_DIRECTION
    from mulde.core.training import MEMBERS_ROWS, MEMBERS_ROWS_PER_DIRECTION

    assert PAIR_MIN_ROWS == MEMBERS_ROWS // 2 + 1
    assert PAIR_ROWS_PER_DIRECTION == MEMBERS_ROWS_PER_DIRECTION  # round 59: the eight's line
    assert members_for_rows(PAIR_MIN_ROWS) == 1 and members_for_rows(PAIR_MIN_ROWS - 1) == 2


def test_members_for_rows_bag_every_fit_of_fewer_than_ten_rows_per_feature():
    """Rounds 30-31: n < 10 d trains 8 members where the rows alone give one (500 < n: 4,000
    rows of 512 features, a thin set) and 4 where they give several (n <= 500); from 10 rows
    per feature on, the rows alone decide, as before; "auto" passes d."""
    assert members_for_rows(4000, 512) == 8 and members_for_rows(5119, 512) == 8
    assert members_for_rows(501, 64) == 8 and members_for_rows(500, 64) == 4
    assert members_for_rows(5120, 512) == 1 and members_for_rows(4000, 128) == 1
    assert members_for_rows(300, 64) == 4 and members_for_rows(300, 8) == 3
    assert members_for_rows(1000, 64) == 1 and members_for_rows(50, 1) == 4
    assert resolve_members("auto", 799, 1555) == 8 and resolve_members(1, 799, 1555) == 1
    with pytest.raises(ValueError, match="at least 1 feature"):
        members_for_rows(10, 0)
    from mulde.core.training import members_reason
    assert members_reason(4000, 512) == "fewer than 10 rows per feature"
    assert members_reason(300, 64) == "fewer than 10 rows per feature"  # 4, not the rows' 3
    # 50 rows per feature would have trained the pair: both halves of why (a newcomer's 250
    # rows of 6 features read "fewer than 501 rows" beside 300 rows' pair)
    assert members_reason(300, 8) == members_reason(399, 8) == ("fewer than 501 rows and 50 "
                                                                "per feature")
    assert members_reason(250, 6) == "fewer than 501 rows and 50 per feature"
    assert members_reason(300, 8, hidden_sizes=(16, 16)) == "fewer than 501 rows"  # no pair
    assert members_reason(300, 200) == "fewer than 10 rows per feature"
    assert members_reason(501, 21) == members_reason(5120, 512) == ""
    assert members_reason(400, 8) == "at least 50 rows per feature"  # the pair
    # rounds 58-59: from 25 rows per feature and 501 rows with 50 per direction counted
    pair25 = "at least 25 rows per feature, 50 per principal direction and 501 rows"
    assert members_reason(501, 11, 10) == pair25
    assert members_reason(501, 11) == ""  # not counted: the rows' rule
    with pytest.raises(ValueError, match="at least 1 training row"):
        members_reason(0, 1)


def test_auto_bags_put_a_row_in_about_two_members_below_eight_and_one_from_eight():
    """min(1/2, 2 / M) for 2 <= M < 8 members: a half for 2-4 (rounds 27-30), 2/7 for 7;
    1 / M from the 8 of a thin set on (round 46; round 31 gave them a quarter): an eighth
    for 8, a sixteenth for 16; round 43's pair and a number given stay."""
    assert [resolve_max_samples("auto", m) for m in (1, 2, 3, 4, 7, 8, 16)] == [
        1.0, 0.5, 0.5, 0.5, 2 / 7, 0.125, 0.0625]
    assert resolve_max_samples("auto", 2, pair=True) == 1.0
    assert resolve_max_samples(0.5, 8) == 0.5


def test_the_eight_networks_later_layers_are_128_wide_where_the_widths_are_auto():
    """Round 51: with "auto" widths and networks, 8 or more networks keep the first layer (as
    wide as the input, round 28) and narrow every later one to 128 (none widened); fewer
    networks, one layer, widths given or networks given are built as resolved."""
    from mulde.core.training import THIN_WIDTH, widths_for_members

    assert THIN_WIDTH == 128
    assert widths_for_members((512, 256), 8) == (512, 128)
    assert widths_for_members((256, 256), 8) == (256, 128)
    assert widths_for_members((1152, 256, 256), 16) == (1152, 128, 128)
    assert widths_for_members((256, 64), 8) == (256, 64)
    assert widths_for_members((512, 256), 4) == (512, 256)
    assert widths_for_members((512,), 8) == (512,)
    assert widths_for_members([512, 256], 8, hidden_sizes=[512, 256]) == (512, 256)
    assert widths_for_members((160, 160, 160), 8, members_setting=8) == (160, 160, 160)


def test_a_fit_on_thin_rows_builds_eight_networks_with_later_layers_of_128():
    """600 rows of 64 features (fewer than ten per feature) train the eight networks: each
    (256, 128), saved as built; widths or networks given stay as given."""
    X = np.random.default_rng(0).standard_normal((600, 64))
    model = MULDE(random_state=0, max_steps=1).fit(X)
    assert model.train_result_.n_members == 8 and model.hidden_sizes_ == (256, 128)
    assert all(m.rest[1].in_features == 256 and m.rest[1].out_features == 128
               for m in model.network_.members)
    given = MULDE(random_state=0, max_steps=1, hidden_sizes=(256, 256)).fit(X)
    assert given.train_result_.n_members == 8 and given.hidden_sizes_ == (256, 256)
    counted = MULDE(random_state=0, max_steps=1, n_members=8).fit(X)  # networks given
    assert counted.train_result_.n_members == 8 and counted.hidden_sizes_ == (256, 256)


def test_members_for_rows_bag_fits_of_fewer_than_50_rows_per_principal_direction():
    """Round 33: from 501 rows on, eight networks where the rows are fewer than 50 per
    principal direction (Gaussian d 128 n 4,000: 111 directions; circle d 64 n 1,000: 23),
    one where they are not (`lowrank_mix` d 64 n 1,000: 4; `mfa` d 64 n 4,000: 22); the
    directions are counted only where they can matter, and change no smaller fit."""
    from mulde.core.training import directions_matter, members_reason

    assert members_for_rows(4000, 128, 111) == 8 and members_for_rows(1000, 64, 23) == 8
    assert members_for_rows(1000, 64, 4) == 1 and members_for_rows(4000, 64, 22) == 1
    assert members_for_rows(4000, 128) == 1  # not counted: the features alone
    assert members_for_rows(300, 8, 8) == 3 and members_for_rows(500, 64, 64) == 4
    assert members_reason(3000, 128, 111) == "fewer than 50 rows per principal direction"
    # round 59: from 25 rows per feature, the pair only with 50 rows per direction as well
    assert members_reason(4000, 128, 111) == "fewer than 50 rows per principal direction"
    assert members_reason(4000, 128, 80) == (
        "at least 25 rows per feature, 50 per principal direction and 501 rows")
    assert members_reason(4000, 512, 417) == "fewer than 10 rows per feature"
    assert directions_matter(3000, 128) and directions_matter(501, 21)
    assert directions_matter(4000, 128) and directions_matter(501, 11)
    assert not directions_matter(4000, 64)  # 50 rows per feature: never fewer per direction
    assert not directions_matter(4000, 512) and not directions_matter(500, 64)


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 100_000), st.integers(1, 4096), st.none() | st.integers(1, 4096))
def test_members_reason_is_given_exactly_when_several_networks_are_trained(n, d, k):
    from mulde.core.training import members_reason, resolve_members
    assert (members_reason(n, d, k) != "") == (resolve_members("auto", n, d, k) > 1)
    assert (members_reason(n, d, k, (256, 256)) != "") == (members_for_rows(n, d, k) > 1)
    assert resolve_members("auto", n, d, k, (256, 256)) == members_for_rows(n, d, k)


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 20_000), st.integers(1, 400), st.integers(1, 400),
       st.sampled_from(["auto", (256, 256), (160, 160, 160)]))
def test_directions_are_counted_only_where_they_change_the_networks(n, d, k, widths):
    """Where `directions_matter` says no (the count is then not computed, and a fit's
    `principal_directions_` is None), any count (at most d) gives the networks, widths and
    share held out that no count gives."""
    from mulde.core.network import resolve_hidden_sizes
    from mulde.core.training import (
        directions_matter,
        resolve_members,
        validation_fraction_for_network,
    )
    k = min(k, d)
    if not directions_matter(n, d):
        assert (resolve_members("auto", n, d, k, widths)
                == resolve_members("auto", n, d, None, widths))
        built = resolve_hidden_sizes(widths, d, n, k)
        assert built == resolve_hidden_sizes(widths, d, n, None)
        assert (validation_fraction_for_network(n, d, built, k)
                == validation_fraction_for_network(n, d, built, None))


def test_auto_trains_two_networks_of_160_where_the_rows_are_50_per_feature():
    """Rounds 43-45 and 58: with "auto" widths and members, from 50 rows per feature of at
    most 160 features (from 25 on 501 rows or more) two networks of three layers of 160,
    each on every row; one fewer row, round 28's two layers and the rows' rule; past 160
    features round 41's one network of three layers; explicit widths keep the rows' rule."""
    from mulde.core.network import widths_for_features
    from mulde.core.training import (
        deep_pair,
        members_reason,
        resolve_ensemble,
        resolve_max_samples,
        resolve_members,
    )

    assert widths_for_features(8, 400) == (160, 160, 160)
    assert widths_for_features(8, 399) == (256, 256)  # below 501 rows: from 50 per feature
    # rounds 58-59: 25 per feature with 50 per principal direction counted
    assert widths_for_features(32, 800, 16) == (160, 160, 160)
    assert widths_for_features(32, 800, 17) == widths_for_features(32, 800) == (256, 256)
    assert widths_for_features(32, 799, 1) == (256, 256)
    assert widths_for_features(300, 15_000) == (300, 256, 256)
    assert deep_pair(400, 8) and not deep_pair(399, 8)
    assert deep_pair(800, 32, "auto", 16) and not deep_pair(799, 32, "auto", 1)
    assert deep_pair(501, 16, "auto", 10) and not deep_pair(500, 16, "auto", 1)  # 501 rows
    assert deep_pair(4_000, 160, "auto", 80) and not deep_pair(8_049, 161, "auto", 1)
    assert deep_pair(8_000, 160) and not deep_pair(8_050, 161)
    assert resolve_ensemble("auto", "auto", 20_000, 192) == (1, 1.0)
    assert not deep_pair(1600, 16, (160, 160, 160))  # widths given: the rows' rule
    assert resolve_members("auto", 1600, 16) == 2
    assert resolve_members("auto", 1600, 16, None, [256, 256, 256]) == 1
    assert resolve_members(3, 1600, 16) == 3
    assert resolve_max_samples("auto", 2, pair=True) == 1.0
    assert resolve_max_samples("auto", 2) == 0.5  # another ensemble of two: halves
    assert resolve_max_samples(0.3, 2, pair=True) == 0.3
    # the networks and their share resolved together: the pair only for "auto" members
    assert resolve_ensemble("auto", "auto", 1600, 16) == (2, 1.0)
    assert resolve_ensemble(2, "auto", 1600, 16) == (2, 0.5)
    assert resolve_ensemble("auto", "auto", 1600, 16, None, (256, 256, 256)) == (1, 1.0)
    assert resolve_ensemble("auto", "auto", 300, 8) == (3, 0.5)
    assert resolve_ensemble("auto", 0.3, 1600, 16) == (2, 0.3)
    assert members_reason(1600, 16) == "at least 50 rows per feature"
    assert members_reason(300, 2) == "at least 50 rows per feature"  # the pair, not 3
    assert members_reason(300, 6) == "at least 50 rows per feature"  # 50 per feature


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 100_000), st.integers(1, 4096), st.none() | st.integers(1, 4096))
def test_members_for_rows_never_trains_fewer_networks_than_the_rows_alone_ask(n, d, k):
    """The per-feature and per-direction rules only add members: M(n, d, k) >= M(n, d) >=
    M(n), and M(n, 1) is the rows' rule up to 10 rows (where both give 4)."""
    assert members_for_rows(n, d, k) >= members_for_rows(n, d) >= members_for_rows(n)
    assert members_for_rows(n, 1) == members_for_rows(n)


def test_widths_for_features_widen_only_the_first_layer_and_only_past_256_inputs():
    """(max(256, k d), 256), k = WIDTH_PER_FEATURE, on fewer than 50 rows per feature; "auto"
    resolves to it, widths given stay."""
    from mulde.core.network import WIDTH_PER_FEATURE as K

    assert widths_for_features(1, 49) == widths_for_features(34, 849) == (256, 256)
    assert widths_for_features(512, 1000) == (512 * K, 256)
    assert widths_for_features(1280, 1000) == (1280 * K, 256)
    assert resolve_hidden_sizes("auto", 600, 1000) == (600 * K, 256)
    assert resolve_hidden_sizes([64, 32], 600, 10**6) == (64, 32)
    assert resolve_hidden_sizes(np.array([16]), 600, 10**6) == (16,)
    assert widths_for_features(2048 // K, 1000) == (2048, 256)
    assert widths_for_features(12_288, 1000) == (2048, 256)  # the cap: a bound on the cost
    with pytest.raises(ValueError, match="at least 1 feature"):
        widths_for_features(0, 100)
    with pytest.raises(ValueError, match='hidden_sizes must be "auto" or a list'):
        resolve_hidden_sizes("wide", 8, 100)


def test_widths_for_features_add_a_third_layer_from_fifty_rows_per_feature():
    """Issue 15's rounds 41-45: three layers from n >= 50 d (the boundary included): of
    160 up to 160 features, past them round 41's (max(256, d), 256, 256) (the first as wide
    as d, round 28's rule, up to the cap); up to 160 features also from n >= 25 d on 501
    rows or more with 50 per principal direction counted (rounds 58-59); ValueError naming
    the rows for n < 1."""
    assert widths_for_features(8, 400) == (160, 160, 160)
    assert widths_for_features(8, 399) == (256, 256)
    assert widths_for_features(16, 501, 10) == (160, 160, 160)
    assert widths_for_features(16, 501, 11) == (256, 256)
    assert widths_for_features(16, 500, 1) == (256, 256)
    assert widths_for_features(160, 4_000, 80) == (160, 160, 160)
    assert widths_for_features(160, 3_999, 1) == (256, 256)
    assert widths_for_features(161, 8_049, 1) == (256, 256)
    assert widths_for_features(160, 8_000) == (160, 160, 160)
    assert widths_for_features(161, 8_050) == (256, 256, 256)
    assert widths_for_features(300, 15_000) == (300, 256, 256)
    assert widths_for_features(4096, 204_800) == (2048, 256, 256)
    assert widths_for_features(1, 50) == (160, 160, 160)
    assert resolve_hidden_sizes("auto", 34, 20_000) == (160, 160, 160)
    with pytest.raises(ValueError, match="at least 1 training row"):
        widths_for_features(16, 0)


@given(st.integers(1, 5000), st.integers(1, 10**6))
def test_the_third_layer_and_the_fifth_held_out_come_together(d, n):
    """With "auto" widths, `validation_fraction_for_network` holds a fifth out exactly where
    they have a third layer, else a tenth; the first layer is never narrower than d (up to
    the cap of 2,048)."""
    from mulde.core.training import validation_fraction_for_network

    widths = widths_for_features(d, n)
    assert validation_fraction_for_network(n, d, widths) == (0.2 if len(widths) == 3 else 0.1)
    assert widths[0] >= min(d, 2048)


def test_the_fifth_held_out_follows_the_depth_built_and_the_rows():
    """Round 41's follow-up: a fifth only for three or more layers on at least 50 rows per
    feature (100 before round 45; up to 160 features 25 from 501 rows since round 58); two
    layers keep a tenth on any rows (round 41's V2 lost to it), three layers on fewer rows
    too (no round ran them with a fifth)."""
    from mulde.core.training import validation_fraction_for_network

    assert validation_fraction_for_network(800, 16, (256, 256, 256)) == 0.2
    assert validation_fraction_for_network(800, 16, (64, 64, 64, 64)) == 0.2
    assert validation_fraction_for_network(10**6, 16, (256, 256)) == 0.1
    assert validation_fraction_for_network(399, 8, (256, 256, 256)) == 0.1
    assert validation_fraction_for_network(501, 16, (256, 256, 256), 10) == 0.2
    assert validation_fraction_for_network(501, 16, (256, 256, 256), 11) == 0.1
    assert validation_fraction_for_network(501, 16, (256, 256, 256)) == 0.1  # not counted
    assert validation_fraction_for_network(500, 16, (256, 256, 256), 1) == 0.1
    with pytest.raises(ValueError, match="at least 1 training row"):
        validation_fraction_for_network(0, 16, (256, 256))


def test_resolve_validation_fraction_keeps_a_number_and_refuses_other_strings():
    """"auto" resolves by the depth and the rows per feature; a number is kept; another
    string is refused by name."""
    from mulde.core.training import resolve_validation_fraction

    deep = (256, 256, 256)
    assert resolve_validation_fraction("auto", 800, 16, deep) == 0.2
    assert resolve_validation_fraction("auto", 399, 8, deep) == 0.1
    assert resolve_validation_fraction("auto", 800, 16, (256, 256)) == 0.1
    assert resolve_validation_fraction(0.0, 10**6, 1, deep) == 0.0
    with pytest.raises(ValueError, match='validation_fraction must be "auto"'):
        resolve_validation_fraction("half", 100, 1, deep)


def test_a_first_layer_narrower_than_the_input_leaves_the_energy_flat_along_some_directions():
    """The reason for `widths_for_features`: f(x, sigma) = g(W [x; c] + b) cannot change along
    the null space of W_x, which a (256, d) first layer has for d > 256 (a move along it leaves
    every energy equal), and a first layer of the "auto" width has not (its W_x has full rank
    d at initialisation)."""
    torch.manual_seed(0)
    d = 300
    x, sigma = torch.randn(5, d), torch.full((5, 1), 0.5)
    narrow, wide = EnergyMLP(d, (256, 256)), EnergyMLP(d, widths_for_features(d, 1))
    w_narrow = narrow.first.weight[:, :d].detach()
    null = torch.linalg.svd(w_narrow, full_matrices=True).Vh[-1]  # W_x null = 0
    assert torch.linalg.norm(w_narrow @ null) < 1e-4
    with torch.no_grad():
        torch.testing.assert_close(narrow(x + 3.0 * null, sigma), narrow(x, sigma))
        assert torch.linalg.matrix_rank(wide.first.weight[:, :d]) == d
        assert not torch.allclose(wide(x + 3.0 * null, sigma), wide(x, sigma))


def test_member_energies_stack_each_members_and_average_to_the_ensembles_to_the_bit():
    """member_multiscale_energy: (M, n, L), member m's energy_multiscale in row m, batched
    as multiscale_energy is; their mean is multiscale_energy's exactly; one MLP is one
    member; no rows give (M, 0, L)."""
    from mulde.core.scoring import member_multiscale_energy

    torch.manual_seed(0)
    ens = EnergyEnsemble(3, (8,), n_members=3)
    x, sigmas = torch.randn(11, 3), torch.tensor([0.1, 0.4])
    per = member_multiscale_energy(ens, x, sigmas, batch_size=4)
    assert per.shape == (3, 11, 2)
    torch.testing.assert_close(per[1], ens.members[1].energy_multiscale(x, sigmas))
    assert torch.equal(per.mean(dim=0), multiscale_energy(ens, x, sigmas, batch_size=4))
    one = EnergyMLP(3, (8,))
    assert torch.equal(member_multiscale_energy(one, x, sigmas)[0],
                       multiscale_energy(one, x, sigmas))
    assert member_multiscale_energy(ens, x[:0], sigmas).shape == (3, 0, 2)


def test_out_of_bag_energies_average_the_members_that_never_fitted_each_row():
    """By hand, three members: a row in member 0's bag averages members 1 and 2; a row in
    every bag is left out; a row in none (held out) averages all three."""
    from mulde.core.scoring import out_of_bag_energies

    per = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]],
                        [[10.0, 20.0], [30.0, 40.0], [50.0, 60.0]],
                        [[100.0, 200.0], [300.0, 400.0], [500.0, 600.0]]])
    in_bag = torch.tensor([[True, False, False], [True, True, True], [False, False, False]])
    energies, rows = out_of_bag_energies(per, in_bag)
    assert energies.dtype == torch.float64 and rows.tolist() == [0, 2]
    torch.testing.assert_close(energies, torch.tensor([[55.0, 110.0], [185.0, 222.0]],
                                                      dtype=torch.float64))
    with pytest.raises(ValueError, match=r"in_bag must be \(3, 3\)"):
        out_of_bag_energies(per, in_bag[:2])


def test_training_bags_are_the_bags_training_drew_over_the_rows_given(monkeypatch):
    """training_bags(n, M, share, fraction, seed): the bags train_energy drew (captured from
    member_bags during training) placed at the rows split_validation kept for training,
    the held-out rows in no bag; None at share 1."""
    import mulde.core.training as training

    drawn = []
    original = training.member_bags
    monkeypatch.setattr(training, "member_bags",
                        lambda *a: drawn.append(original(*a)) or drawn[-1])
    ens = EnergyEnsemble(3, (8,), n_members=4)
    x = torch.randn(90, 3, generator=torch.Generator().manual_seed(2))
    cfg = TrainConfig(batch_size=32, max_steps=2, patience=None, ema_decay=None, seed=7,
                      max_samples=0.25, validation_fraction=0.2)
    train_energy(ens, x, NoiseSchedule(), DSMLoss(0.0), cfg)
    monkeypatch.setattr(training, "member_bags", original)
    in_bag = training.training_bags(90, 4, 0.25, 0.2, seed=7)
    train_idx, val_idx = split_validation(90, 0.2, 7)
    assert in_bag.shape == (90, 4)
    assert torch.equal(in_bag[train_idx], drawn[0]) and not in_bag[val_idx].any()
    assert training.training_bags(90, 4, 1.0, 0.2, seed=7) is None


def _validation_case(n_members: int):
    torch.manual_seed(3)
    net = (EnergyMLP(3, (8, 8)) if n_members == 1
           else EnergyEnsemble(3, (8, 8), n_members=n_members))
    x = torch.randn(50, 3, generator=torch.Generator().manual_seed(4))
    return net, x


def test_per_member_validation_draws_leave_one_network_as_it_was_to_the_bit():
    net, x = _validation_case(1)
    shared = _validation_loss(net, DSMLoss(0.1), x, NoiseSchedule(), seed=5)
    assert _validation_loss(net, DSMLoss(0.1), x, NoiseSchedule(), seed=5,
                            draws="per_member") == shared


@pytest.mark.parametrize("n_members, copies", [(2, 2), (3, 1), (8, 1)])
def test_per_member_validation_draws_give_each_member_its_own_noise(n_members, copies):
    """Member j's loss on max(1, 4 // M) copies of the rows with draws of generator stream
    -2 - 1000 j (member 0's are the shared draws), the mean over the members."""
    from mulde.core.training import _generator

    net, x = _validation_case(n_members)
    schedule, loss_fn = NoiseSchedule(), DSMLoss(0.1)
    expected = []
    for j, member in enumerate(net.members):
        g = torch.Generator().manual_seed((5 * 1_000_003 - 2 - 1000 * j) % (2**63 - 1))
        assert torch.equal(torch.randn(3, generator=g),
                           torch.randn(3, generator=_generator(5, -2 - 1000 * j, x.device)))
        g = torch.Generator().manual_seed((5 * 1_000_003 - 2 - 1000 * j) % (2**63 - 1))
        rows = x.repeat(copies, 1)
        sigma = schedule.sample(rows.shape[0], g, x.device)
        eps = torch.randn(rows.shape, generator=g)
        expected.append(loss_fn(member.eval(), rows, sigma, eps, create_graph=False).item())
    net.train()
    got = _validation_loss(net, loss_fn, x, schedule, seed=5, draws="per_member")
    assert got == pytest.approx(float(np.mean(expected)), rel=1e-6)
    assert net.training  # the mode is restored
    # shared: every member on the same four copies (the ensemble's mean loss)
    shared = _validation_loss(net, loss_fn, x, schedule, seed=5)
    assert shared != pytest.approx(got, rel=1e-9)


def test_validation_draws_refuse_an_unknown_kind_and_follow_the_module_default(monkeypatch):
    import mulde.core.training as training
    from mulde.core.training import _checkpoint_config

    net, x = _validation_case(2)
    with pytest.raises(ValueError, match="validation draws must be one of"):
        _validation_loss(net, DSMLoss(0.1), x, NoiseSchedule(), seed=5, draws="each")
    assert TrainConfig().validation_draws == "per_member"  # issue 15, round 49
    assert _checkpoint_config(TrainConfig())["validation_draws"] == "per_member"
    monkeypatch.setattr(training, "VALIDATION_DRAWS", "shared")
    assert TrainConfig().validation_draws == "shared"  # read when a config is made
    assert "validation_draws" not in _checkpoint_config(TrainConfig())  # as older files


def test_per_member_validation_draws_split_an_energy_ensemble_only():
    """A network that is no `EnergyEnsemble` is validated as one network whatever it holds
    under `members` (`DSMLoss` takes the members' mean for an ensemble only)."""
    net, x = _validation_case(1)
    net.members = [EnergyMLP(3, (8, 8))]  # a plain attribute, not an ensemble's members
    shared = _validation_loss(net, DSMLoss(0.1), x, NoiseSchedule(), seed=5)
    assert _validation_loss(net, DSMLoss(0.1), x, NoiseSchedule(), seed=5,
                            draws="per_member") == shared


@pytest.mark.parametrize("n_rows, shared_out", [(100, True), (99, False)])
def test_validation_shares_give_each_member_its_own_rows_from_50_per_member(n_rows, shared_out):
    """"shares": member j of M on rows j, j + M, ... once, with stream -2 - 1000 j's draws,
    where the held-out rows are at least SHARE_MIN_ROWS (50) per member; else "per_member"."""
    from mulde.core.training import SHARE_MIN_ROWS, _generator

    assert SHARE_MIN_ROWS == 50
    net = EnergyEnsemble(3, (8, 8), n_members=2)
    x = torch.randn(n_rows, 3, generator=torch.Generator().manual_seed(4))
    schedule, loss_fn = NoiseSchedule(), DSMLoss(0.1)
    expected = []
    for j, member in enumerate(net.members):
        g = _generator(5, -2 - 1000 * j, x.device)
        rows = x[j::2] if shared_out else x.repeat(2, 1)
        sigma = schedule.sample(rows.shape[0], g, x.device)
        eps = torch.randn(rows.shape, generator=g)
        expected.append(loss_fn(member.eval(), rows, sigma, eps, create_graph=False).item())
    got = _validation_loss(net, loss_fn, x, schedule, seed=5, draws="shares")
    assert got == pytest.approx(float(np.mean(expected)), rel=1e-6)
    if not shared_out:
        assert got == _validation_loss(net, loss_fn, x, schedule, seed=5, draws="per_member")
    one = EnergyMLP(3, (8, 8))
    assert (_validation_loss(one, loss_fn, x, schedule, seed=5, draws="shares")
            == _validation_loss(one, loss_fn, x, schedule, seed=5))


def test_a_loss_without_the_keywords_training_passes_is_refused_before_training():
    """A loss_fn of (net, x, sigma, eps) alone trains one network on single draws; with
    antithetic draws or members on bags the loop passes antithetic= / rows=, and such a loss
    is refused before any step, naming the keyword, not by a TypeError from inside it."""
    base = DSMLoss(0.1)
    steps = []

    def plain(net, x, sigma, eps, create_graph=True):
        steps.append(create_graph)
        return base(net, x, sigma, eps, create_graph)

    x = torch.randn(200, 3, generator=torch.Generator().manual_seed(0))
    cfg = {"batch_size": 32, "max_steps": 3, "patience": None, "ema_decay": None}
    train_energy(EnergyMLP(3, (8,)), x, NoiseSchedule(), plain, TrainConfig(**cfg))
    assert steps.count(True) == 3
    for net, extra, named in ((EnergyMLP(3, (8,)), {"antithetic": True}, "antithetic="),
                              (EnergyEnsemble(3, (8,), n_members=2), {"max_samples": 0.5},
                               "rows=")):
        steps.clear()
        with pytest.raises(TypeError, match=f"loss_fn takes no {named} keyword"):
            train_energy(net, x, NoiseSchedule(), plain, TrainConfig(**cfg, **extra))
        assert steps == []


def test_systematic_draws_give_each_row_its_expected_count_within_one():
    from mulde.core.training import systematic_draws
    g = torch.Generator().manual_seed(0)
    w = torch.tensor([1.0, 3.0, 0.0, 6.0])
    idx = systematic_draws(w, 25, g)
    counts = torch.bincount(idx, minlength=4)
    expected = 25 * w / w.sum()  # 2.5, 7.5, 0, 15
    assert idx.shape == (25,) and counts.sum() == 25 and counts[2] == 0
    assert ((counts - expected).abs() < 1).all()
    same = systematic_draws(torch.ones(7), 7, g)  # equal weights: a permutation
    assert sorted(same.tolist()) == list(range(7))
    with pytest.raises(ValueError, match="not all zero"):
        systematic_draws(torch.zeros(3), 3, g)


def test_systematic_draws_never_give_a_row_of_weight_zero_after_the_last_one(monkeypatch):
    """An offset u that rounds (u + m - 1) / m up to 1 (u = 1 - 2^-53, m = 2^21) lies past
    every edge: it is the last row of positive weight's draw, not the row of weight 0 after
    it that clamping to the last row gave."""
    from mulde.core.training import systematic_draws
    u = torch.tensor([1 - 2.0**-53], dtype=torch.float64)
    monkeypatch.setattr(torch, "rand", lambda *args, **kwargs: u.clone())
    m = 2**21
    w = torch.tensor([1.0, 2.0, 0.0, 0.0], dtype=torch.float64)
    counts = torch.bincount(systematic_draws(w, m, torch.Generator().manual_seed(0)),
                            minlength=4)
    assert counts[2:].sum() == 0 and counts.sum() == m
    assert abs(int(counts[1]) - 2 * m / 3) <= 1


def test_training_draws_rows_by_their_weights():
    """Rows of weight 0 never reach the loss; the others reach it in proportion to theirs."""
    from mulde.core import NoiseSchedule
    from mulde.core.training import train_energy

    seen = []
    loss = DSMLoss(beta=0.0, time_score=0.0)

    def spy(net, x, sigma, eps, **kw):
        seen.append(x.detach().clone())
        return loss(net, x, sigma, eps, **kw)

    x = torch.cat([torch.zeros(30, 2), torch.ones(30, 2) * 5, torch.ones(40, 2) * -5])
    weights = torch.cat([torch.zeros(30), torch.ones(30), torch.full((40,), 0.25)])
    net = EnergyMLP(2, (8,))
    config = TrainConfig(batch_size=20, max_steps=50, validation_fraction=0.0, seed=0,
                         ema_decay=None, patience=None)
    train_energy(net, x, NoiseSchedule(0.01, 1.0), spy, config, row_weights=weights)
    rows = torch.cat(seen)
    assert not (rows == 0).all(dim=1).any()  # the zero-weight rows
    fives = (rows == 5).all(dim=1).sum().item()
    minus = (rows == -5).all(dim=1).sum().item()
    # 30 rows of weight 1 against 40 of 0.25: 3 to 1
    assert fives + minus == len(rows) and fives / minus == pytest.approx(3.0, rel=0.1)
