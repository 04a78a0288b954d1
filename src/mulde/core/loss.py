"""Multiscale denoising score matching loss with the alignment regulariser (MULDE, Eq. 7-8)
and, optionally, denoising time-score matching in the noise level."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import torch

from mulde.core.network import EnergyEnsemble, EnergyNetwork


class Regulariser(str, Enum):
    """How the alignment regulariser beta * f(x, sigma)^2 / 2 is weighted across sigma.

    CONSTANT: the published form, the same weight at every sigma (MULDE, Eq. 8). At small
        sigma it outweighs the sigma^2-weighted score term (whose gradient with respect to f's
        slope scales with sigma^2) and flattens f there (issue 15: at sigma = 1e-3 the energy
        ranks N(0, I_8) with Pearson 0.61 against 0.99 without it).
    SIGMA2: the regulariser times sigma^2, the score term's own weighting lambda(sigma), so
        the ratio of the two terms is the same at every scale (weight beta at sigma = 1).
    """

    CONSTANT = "constant"
    SIGMA2 = "sigma2"


@dataclass(frozen=True)
class DSMLoss:
    """Mean over the batch of, per sample (lambda(sigma) = sigma^2 weighting):

    0.5 * || eps - sigma * grad_x f(x + sigma eps, sigma) ||^2
        + 0.5 * beta * w(sigma) * f(x, sigma)^2
        + 0.5 * gamma * (sigma * df/dsigma(x + sigma eps, sigma) + ||eps||^2 - d)^2 / (2 d)

    with w(sigma) = 1 (regulariser "constant", the paper) or sigma^2 ("sigma2", see
    `Regulariser`). The regulariser uses the clean x with the same sigma; it pins f's free
    additive constant at every sigma so that the scales are comparable. For an
    `EnergyEnsemble` the loss is the mean of its members' own losses (each member is trained
    as if alone); early stopping therefore validates that mean too, not the loss of the mean
    energy the ensemble scores with (which is never higher, the loss being convex in f's
    gradient).

    The last term (gamma = `time_score` > 0; 0, the paper: absent) is denoising time-score
    matching (Choi et al., "Density ratio estimation via infinitesimal classification",
    AISTATS 2022, there in the diffusion time): for x_noisy = x + sigma eps,
    d/dsigma log q_sigma(x_noisy) = E[(||eps||^2 - d) / sigma | x_noisy], so its minimiser has
    sigma df/dsigma = -E[||eps||^2 - d | x_noisy], the noise level's own score. Score matching
    in x leaves f's dependence on sigma free (a constant per level, and per mode where modes
    are apart compared with sigma: issue 15, round 18); this term ties the levels together so
    that f(x, sigma) - f(x, sigma') is the log-density ratio of the two noise levels, and the
    relative heights of separated modes at small sigma follow those at large sigma, where the
    modes overlap. The residual's irreducible noise, Var(||eps||^2) = 2d, grows with d while
    that of each coordinate of the score term is 1, so the term is divided by 2d: gamma = 1
    weighs it as one more such coordinate (inverse-variance weighting).
    """

    beta: float = 0.1
    regulariser: Regulariser | str = Regulariser.CONSTANT
    time_score: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "regulariser", Regulariser(self.regulariser))

    def __call__(self, net: EnergyNetwork, x: torch.Tensor, sigma: torch.Tensor,
                 eps: torch.Tensor, create_graph: bool = True,
                 rows: torch.Tensor | None = None, antithetic: bool = False) -> torch.Tensor:
        """Return the scalar loss for clean x (n, d), sigma (n, 1) and noise eps (n, d).

        rows: None (every member on every row) or (n, M) bool, member m's loss taken over the
        rows its column marks (`mulde.core.training.member_bags`); a member with none of this
        batch's rows adds nothing (the mean is over the members that have rows).
        antithetic: the loss of the 2n rows `antithetic_batch(x, sigma, eps)` (each row
        with eps and with -eps), the regulariser computed once per clean row:
        it depends on (x, sigma) alone, equal for both rows of a pair, so the mean over the 2n
        rows is the mean over the n (the same loss and gradient up to float rounding, with a
        forward and backward pass over n clean rows instead of 2n)."""
        members = net.members if isinstance(net, EnergyEnsemble) else [net]
        if rows is not None:
            losses = [self(m, x[rows[:, j]], sigma[rows[:, j]], eps[rows[:, j]], create_graph,
                           antithetic=antithetic)
                      for j, m in enumerate(members) if bool(rows[:, j].any())]
            if not losses:  # a zero with a graph for backward; train_energy takes no step
                return sum(0.0 * p.sum() for p in net.parameters())
            return torch.stack(losses).mean()
        if isinstance(net, EnergyEnsemble):
            return torch.stack([self(m, x, sigma, eps, create_graph, antithetic=antithetic)
                                for m in net.members]).mean()
        clean, clean_sigma = x, sigma
        if antithetic:
            x, sigma, eps = antithetic_batch(x, sigma, eps)
        x_noisy = (x + sigma * eps).requires_grad_(True)
        with torch.enable_grad():
            if self.time_score > 0:
                level = sigma.detach().clone().requires_grad_(True)
                f_noisy = net(x_noisy, level)
                grad, grad_sigma = torch.autograd.grad(
                    f_noisy.sum(), (x_noisy, level), create_graph=create_graph,
                    materialize_grads=True)  # an energy without sigma: df/dsigma = 0
            else:
                f_noisy = net(x_noisy, sigma)
                (grad,) = torch.autograd.grad(f_noisy.sum(), x_noisy, create_graph=create_graph)
        loss = 0.5 * (eps - sigma * grad).pow(2).sum(dim=1)
        if self.time_score > 0:
            residual = ((sigma * grad_sigma).reshape(-1) + eps.pow(2).sum(dim=1)
                        - eps.shape[1])
            loss = loss + 0.25 * self.time_score / eps.shape[1] * residual.pow(2)
        if self.beta > 0:  # a separate pass: the double backward need not cover the clean rows
            reg = net(clean, clean_sigma).pow(2)
            if self.regulariser is Regulariser.SIGMA2:
                reg = reg * clean_sigma.reshape(-1).pow(2)
            if antithetic:  # each clean row's term stands for both rows of its pair
                return loss.mean() + 0.5 * self.beta * reg.mean()
            loss = loss + 0.5 * self.beta * reg
        return loss.mean()


def antithetic_batch(x: torch.Tensor, sigma: torch.Tensor, eps: torch.Tensor
                     ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Return rows x (m, d), levels sigma (m, 1) and noise eps (m, d) as 2m rows: each row
    twice, at its own level, with eps and with -eps.

    Per row the DSM loss 0.5 ||eps - sigma grad f(x + sigma eps, sigma)||^2 has a term odd in
    eps, -sigma eps . grad f(x, sigma), of mean 0 whose variance dominates the loss's gradient
    at small sigma (DSM estimates the score poorly at low noise: De Bortoli et al. 2024,
    "Target score matching"). In the pair's mean it cancels exactly (antithetic sampling; the
    same Taylor term as the control variate of Jeha et al. 2024, "Variance reduction of
    diffusion model's gradients with Taylor approximation-based control variate"); the loss's
    expectation is unchanged, eps and -eps being equally likely. Issue 15, round 14 of the
    density-fidelity suite (benchmarks/density_fidelity.md); `DSMLoss(..., antithetic=True)`
    takes the pairs."""
    return torch.cat([x, x]), torch.cat([sigma, sigma]), torch.cat([eps, -eps])
