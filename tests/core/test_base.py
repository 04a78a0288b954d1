"""The Gaussian base energy and the input scaling (mulde.core.base) by hand values and against
their closed forms."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mulde.core import TrainConfig
from mulde.core.base import BASE_RANK, CovarianceScaling, GaussianBase, base_rank
from mulde.core.network import EnergyEnsemble, EnergyMLP, energy_network
from mulde.core.training import _checkpoint_config


def _base(vectors, variances, rest, kind=GaussianBase):
    b = kind(len(vectors), len(variances))
    b.vectors.copy_(torch.tensor(vectors, dtype=torch.float32))
    b.variances.copy_(torch.tensor(variances, dtype=torch.float32))
    b.rest.fill_(rest)
    return b


def _gaussian_rows(seed, d, ridge, n=20_000):
    """(rng, C, n rows of N(0, C)) for a random covariance C = A A^T + ridge I."""
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((d, d))
    cov = a @ a.T + ridge * np.eye(d)
    return rng, cov, rng.multivariate_normal(np.zeros(d), cov, size=n)


def test_full_rank_energy_by_hand():
    # C = diag(4, 1); at x = (2, 1), sigma = 1: (4 / 5 + 1 / 2) / 2 = 0.65
    b = _base([[1.0, 0.0], [0.0, 1.0]], [4.0, 1.0], 1.0)
    f = b(torch.tensor([[2.0, 1.0]]), torch.tensor([[1.0]]))
    assert f.item() == pytest.approx(0.65)


def test_probabilistic_pca_energy_by_hand():
    # d 3, rank 1: C = 4 e1 e1^T + 0.5 (I - e1 e1^T); at x = (2, 1, 1), sigma 0.5:
    # (4 / 4.25 + (1 + 1) / 0.75) / 2
    b = _base([[1.0], [0.0], [0.0]], [4.0], 0.5)
    f = b(torch.tensor([[2.0, 1.0, 1.0]]), torch.tensor([0.5]))
    assert f.item() == pytest.approx((4 / 4.25 + 2 / 0.75) / 2, rel=1e-6)


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 6), st.integers(0, 2**31 - 1))
def test_multiscale_equals_one_level_at_a_time(d, seed):
    g = torch.Generator().manual_seed(seed)
    k = max(1, d - 1)
    vectors, _ = torch.linalg.qr(torch.randn(d, d, generator=g))
    b = _base(vectors[:, :k].tolist(), (torch.rand(k, generator=g) + 0.1).tolist(), 0.3)
    x, sigmas = torch.randn(7, d, generator=g), torch.tensor([1e-3, 0.1, 1.0])
    many = b.multiscale(x, sigmas)
    for level, s in enumerate(sigmas):
        torch.testing.assert_close(many[:, level], b(x, s.expand(7, 1)), rtol=1e-5, atol=1e-5)


def test_fit_covariance_recovers_a_gaussian_and_its_energy():
    """On 20,000 rows of N(0, C) the base is C's own energy: x^T (C + sigma^2 I)^-1 x / 2."""
    rng, cov, z = _gaussian_rows(0, 4, 0.05)
    b = GaussianBase(4, 4).fit_covariance(z)
    x = rng.standard_normal((50, 4))
    for sigma in (0.01, 0.5):
        exact = 0.5 * np.einsum("ni,ij,nj->n", x, np.linalg.inv(cov + sigma**2 * np.eye(4)), x)
        got = b(torch.tensor(x, dtype=torch.float32), torch.full((50, 1), sigma)).numpy()
        np.testing.assert_allclose(got, exact, rtol=0.1)
    assert (b.variances[:-1] >= b.variances[1:]).all()  # largest first


def test_a_constant_column_gets_unit_variance_and_no_covariance():
    rng = np.random.default_rng(1)
    z = np.c_[rng.standard_normal((500, 2)) * [3.0, 0.5], np.zeros(500)]
    b = GaussianBase(3, 3).fit_covariance(z)
    # moving only in the constant column costs x^2 / (1 + sigma^2) / 2
    f = b(torch.tensor([[0.0, 0.0, 2.0]]), torch.tensor([[0.0]]))
    assert f.item() == pytest.approx(2.0, rel=1e-4)
    with pytest.raises(ValueError, match=r"shape \(n >= 2, 3\)"):
        b.fit_covariance(np.zeros((10, 2)))


def test_rank_is_capped_and_the_rest_shares_one_variance():
    assert base_rank(10) == 10 and base_rank(1000) == BASE_RANK
    rng = np.random.default_rng(2)
    z = rng.standard_normal((400, 6)) * [5, 4, 1, 1, 1, 1]
    b = GaussianBase(6, 2).fit_covariance(z)
    assert b.variances.tolist() == pytest.approx([25, 16], rel=0.25)
    assert b.rest.item() == pytest.approx(1.0, rel=0.25)
    with pytest.raises(ValueError, match="rank"):
        GaussianBase(3, 4)


def test_a_network_with_a_base_adds_it_to_its_output_at_every_level():
    torch.manual_seed(0)
    plain, based = EnergyMLP(3, (8,)), EnergyMLP(3, (8,), base_rank=3)
    based.load_state_dict(plain.state_dict(), strict=False)
    z = np.random.default_rng(3).standard_normal((100, 3))
    based.fit_covariance(z)
    x, sigmas = torch.randn(5, 3), torch.tensor([0.01, 1.0])
    torch.testing.assert_close(based.energy_multiscale(x, sigmas),
                               plain.energy_multiscale(x, sigmas) + based.base.multiscale(x,
                                                                                          sigmas))
    torch.testing.assert_close(based(x, sigmas[:1].expand(5, 1)),
                               plain(x, sigmas[:1].expand(5, 1)) + based.base(x, sigmas[:1]
                                                                             .expand(5, 1)))
    with pytest.raises(ValueError, match="neither a Gaussian base"):
        plain.fit_covariance(z)


def test_every_ensemble_member_gets_the_base_and_checkpoints_name_it():
    net = energy_network(4, (8,), n_members=2, base_rank=4)
    assert isinstance(net, EnergyEnsemble)
    net.fit_covariance(np.random.default_rng(4).standard_normal((50, 4)))
    a, b = (m.base for m in net.members)
    assert torch.equal(a.vectors, b.vectors) and a.variances.min() > 0
    assert _checkpoint_config(TrainConfig(), net=net)["base_rank"] == 4
    assert "base_rank" not in _checkpoint_config(TrainConfig(), net=energy_network(4, (8,)))


def test_input_scaling_by_hand():
    # d 3, rank 1: C = 4 e1 e1^T + 0.5 (I - e1 e1^T); at x = (2, 1, -1), sigma 0.5:
    # u = (2 / sqrt(4.25), 1 / sqrt(0.75), -1 / sqrt(0.75))
    s = _base([[1.0], [0.0], [0.0]], [4.0], 0.5, CovarianceScaling)
    u = s(torch.tensor([[2.0, 1.0, -1.0]]), torch.tensor([0.5]))
    expected = [2 / 4.25**0.5, 1 / 0.75**0.5, -1 / 0.75**0.5]
    assert u[0].tolist() == pytest.approx(expected, rel=1e-6)


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 6), st.integers(0, 2**31 - 1))
def test_input_scaling_is_the_inverse_square_root_of_the_noisy_covariance(d, seed):
    """u = (C + sigma^2 I)^-1/2 x against the matrix function from an eigendecomposition, at a
    rank below d (the rest sharing one variance) and at full rank; and the multiscale linear
    layer equals the layer on each level's u."""
    g = torch.Generator().manual_seed(seed)
    k = max(1, d - 1)
    vectors, _ = torch.linalg.qr(torch.randn(d, d, generator=g, dtype=torch.float64))
    variances = torch.rand(k, generator=g, dtype=torch.float64) + 0.1
    s = _base(vectors[:, :k].tolist(), variances.tolist(), 0.3, CovarianceScaling).double()
    v = vectors[:, :k]
    cov = v @ torch.diag(variances) @ v.T + 0.3 * (torch.eye(d, dtype=torch.float64) - v @ v.T)
    x = torch.randn(7, d, generator=g, dtype=torch.float64)
    sigmas = torch.tensor([1e-3, 0.1, 1.0], dtype=torch.float64)
    weight = torch.randn(5, d, generator=g, dtype=torch.float64)
    bias = torch.randn(5, generator=g, dtype=torch.float64)
    layer = s.linear_multiscale(x, sigmas, weight, bias)
    for level, sigma in enumerate(sigmas):
        w, q = torch.linalg.eigh(cov + sigma**2 * torch.eye(d, dtype=torch.float64))
        exact = x @ (q @ torch.diag(w**-0.5) @ q.T)
        u = s(x, sigma.expand(7))
        # the module's buffers are filled in float32 (`_base`), so u carries float32's
        # rounding of the vectors and variances: a float32 tolerance, not float64's 1e-7
        torch.testing.assert_close(u, exact, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(layer[:, level], u @ weight.T + bias)


def test_scaled_rows_of_a_gaussian_have_unit_covariance_at_every_level():
    rng, _, z = _gaussian_rows(5, 3, 0.01)
    s = CovarianceScaling(3, 3).fit_covariance(z)
    for sigma in (1e-3, 0.3):
        noisy = z + sigma * rng.standard_normal(z.shape)
        u = s(torch.tensor(noisy, dtype=torch.float32), torch.full((len(z),), sigma)).numpy()
        np.testing.assert_allclose(np.cov(u.T), np.eye(3), atol=0.05)


def test_a_network_with_input_scaling_reads_the_scaled_rows():
    torch.manual_seed(0)
    plain, scaled = EnergyMLP(3, (8,)), EnergyMLP(3, (8,), scaling_rank=3)
    scaled.load_state_dict(plain.state_dict(), strict=False)
    z = np.random.default_rng(6).standard_normal((100, 3)) * [3.0, 1.0, 0.1]
    scaled.fit_covariance(z)
    x, sigmas = torch.randn(5, 3), torch.tensor([0.01, 1.0])
    for level, sigma in enumerate(sigmas):
        u = scaled.scaling(x, sigma.expand(5))
        torch.testing.assert_close(scaled(x, sigma.expand(5)), plain(u, sigma.expand(5)))
        torch.testing.assert_close(scaled.energy_multiscale(x, sigmas)[:, level],
                                   plain(u, sigma.expand(5)))
    net = energy_network(4, (8,), n_members=2, scaling_rank=4)
    net.fit_covariance(np.random.default_rng(7).standard_normal((50, 4)))
    assert torch.equal(net.members[0].scaling.variances, net.members[1].scaling.variances)
    assert _checkpoint_config(TrainConfig(), net=net)["scaling_rank"] == 4
    assert "scaling_rank" not in _checkpoint_config(TrainConfig(), net=energy_network(4, (8,)))
