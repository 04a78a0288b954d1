"""The training rows' covariance under noise, C + sigma^2 I, and what the network does with it.

C is the covariance of the training rows after scaling, in probabilistic-PCA form
(`NoisyCovariance`). Two uses, each an option of `MULDE` (issue 15, benchmarks/
density_fidelity.md):
* a Gaussian base energy under the network, f(x, sigma) = x^T (C + sigma^2 I)^-1 x / 2 + g:
  the exact energy of N(0, C) convolved with the noise N(0, sigma^2 I), so the network g
  learns only the data's departure from that Gaussian (`GaussianBase`, round 15);
* the network's input scaled to unit covariance at every level, u = (C + sigma^2 I)^-1/2 x,
  the matrix form of the input scaling c_in(sigma) = 1 / sqrt(sigma_data^2 + sigma^2) of
  Karras et al. 2022, "Elucidating the design space of diffusion-based generative models",
  Table 1 (`CovarianceScaling`, round 16).
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.covariance import LedoitWolf
from torch import nn

BASES = ("gaussian",)
PRECONDITIONS = ("covariance",)
BASE_RANK = 64
"""The eigen-directions a base keeps apart (k = min(d, BASE_RANK)); the others share their
mean variance (a probabilistic-PCA covariance), so the base costs about one 64-wide layer at
any d."""


class NoisyCovariance(nn.Module):
    """The probabilistic-PCA covariance C = V diag(lambda) V^T + rest (I - V V^T) (Tipping &
    Bishop 1999, "Probabilistic principal component analysis"): V (d, k) orthonormal,
    lambda (k,) > 0, rest > 0; at noise level sigma the rows' covariance is C + sigma^2 I.

    Buffers (saved with the network): `vectors` V, `variances` lambda, `rest`. Built with
    zeros (unit variances) for `n_features` and `rank`; `fit_covariance` sets them from rows.
    With k = d the `rest` term is 0 for every x (nothing outside V's span).
    """

    def __init__(self, n_features: int, rank: int) -> None:
        super().__init__()
        if not 1 <= rank <= n_features:
            raise ValueError(f"need 1 <= rank <= n_features, got {rank} and {n_features}")
        self.register_buffer("vectors", torch.zeros(n_features, rank))
        self.register_buffer("variances", torch.ones(rank))
        self.register_buffer("rest", torch.ones(()))

    def fit_covariance(self, z: np.ndarray) -> NoisyCovariance:
        """Set C from the centred rows z (n >= 2, d): their Ledoit-Wolf shrunk covariance
        (Ledoit & Wolf 2004; `sklearn.covariance.LedoitWolf`, `assume_centered=True`), with
        the columns that are constant (0 once centred) given variance 1 and no covariance (a
        new row that moves there is scored by the raw size of the move, as MULDE scores
        constant columns), as its k largest eigen-pairs and the mean of the others. Raises
        ValueError for another shape. Returns self."""
        z = np.asarray(z, dtype=np.float64)
        d, k = self.vectors.shape
        if z.ndim != 2 or z.shape[1] != d or len(z) < 2:
            raise ValueError(f"need rows of shape (n >= 2, {d}), got {z.shape}")
        varying = (z != z[0]).any(axis=0)
        cov = np.eye(d)
        if varying.any():
            sub = LedoitWolf(assume_centered=True).fit(z[:, varying]).covariance_
            cov[np.ix_(varying, varying)] = (sub + sub.T) / 2
        values, vectors = np.linalg.eigh(cov)
        order = np.argsort(values)[::-1]
        values, vectors = values[order], vectors[:, order]
        floor = max(values[0], 1.0) * np.finfo(np.float64).eps * d
        values = np.maximum(values, floor)
        rest = float(values[k:].mean()) if k < d else 1.0
        dtype = self.vectors.dtype
        self.vectors.copy_(torch.as_tensor(vectors[:, :k], dtype=dtype))
        self.variances.copy_(torch.as_tensor(values[:k], dtype=dtype))
        self.rest.fill_(rest)
        return self

    def _parts(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(n, k) squared coordinates along V and (n,) squared norm outside V's span."""
        inside = (x @ self.vectors).pow(2)
        outside = (x.pow(2).sum(dim=1) - inside.sum(dim=1)).clamp_min(0.0)
        return inside, outside


class GaussianBase(NoisyCovariance):
    """f_0(x, sigma) = x^T (C + sigma^2 I)^-1 x / 2 for the `NoisyCovariance` C: the energy of
    N(0, C + sigma^2 I) up to its constant."""

    def forward(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        """Return f_0(x, sigma), shape (n,), for x (n, d) and sigma (n, 1) or (n,)."""
        s2 = sigma.reshape(-1, 1).pow(2)
        inside, outside = self._parts(x)
        return 0.5 * ((inside / (self.variances + s2)).sum(dim=1)
                      + outside / (self.rest + s2.squeeze(1)))

    def multiscale(self, x: torch.Tensor, sigmas: torch.Tensor) -> torch.Tensor:
        """Return f_0(x, sigma_l) for every row of x (n, d) and level of sigmas (L,): (n, L)."""
        s2 = sigmas.reshape(1, -1).pow(2)
        inside, outside = self._parts(x)
        return 0.5 * (inside @ (1.0 / (self.variances.reshape(-1, 1) + s2))
                      + outside.reshape(-1, 1) / (self.rest + s2))


class CovarianceScaling(NoisyCovariance):
    """u = (C + sigma^2 I)^-1/2 x for the `NoisyCovariance` C: a noisy row at level sigma
    scaled to unit covariance in every direction, V diag((lambda + sigma^2)^-1/2) V^T x +
    (rest + sigma^2)^-1/2 (I - V V^T) x. The matrix form of the input scaling
    c_in(sigma) = 1 / sqrt(sigma_data^2 + sigma^2) (Karras et al. 2022, Table 1)."""

    def forward(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        """Return u, shape (n, d), for x (n, d) and sigma (n, 1) or (n,)."""
        s2 = sigma.reshape(-1, 1).pow(2)
        coords = x @ self.vectors  # (n, k)
        u = (coords / (self.variances + s2).sqrt()) @ self.vectors.t()
        if self.vectors.shape[1] == self.vectors.shape[0]:
            return u
        return u + (x - coords @ self.vectors.t()) / (self.rest + s2).sqrt()

    def linear_multiscale(self, x: torch.Tensor, sigmas: torch.Tensor, weight: torch.Tensor,
                          bias: torch.Tensor) -> torch.Tensor:
        """Return weight u_l + bias for every row of x (n, d) and level sigma_l of sigmas (L,),
        shape (n, L, H), for weight (H, d) and bias (H,): a linear layer on the scaled rows
        of all L levels, from one projection of x on V (the scaling is linear in x)."""
        s2 = sigmas.reshape(-1, 1).pow(2)  # (L, 1)
        coords = x @ self.vectors  # (n, k)
        mixed = weight @ self.vectors  # (H, k)
        per_level = coords.unsqueeze(1) / (self.variances + s2).sqrt()  # (n, L, k)
        out = per_level @ mixed.t() + bias  # (n, L, H)
        if self.vectors.shape[1] == self.vectors.shape[0]:
            return out
        outside = x @ weight.t() - coords @ mixed.t()  # (n, H): W (I - V V^T) x
        return out + outside.unsqueeze(1) / (self.rest + s2).sqrt().unsqueeze(0)


def base_rank(n_features: int) -> int:
    """k = min(n_features, BASE_RANK)."""
    return min(n_features, BASE_RANK)
