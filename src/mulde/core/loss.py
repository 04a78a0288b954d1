"""Multiscale denoising score matching loss with the alignment regulariser (MULDE, Eq. 7-8)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from mulde.core.network import EnergyMLP


@dataclass(frozen=True)
class DSMLoss:
    """Mean over the batch of, per sample (lambda(sigma) = sigma^2 weighting):

    0.5 * || eps - sigma * grad_x f(x + sigma eps, sigma) ||^2 + 0.5 * beta * f(x, sigma)^2.

    The regulariser uses the clean x with the same sigma; it pins f's free additive constant
    at every sigma so that the scales are comparable.
    """

    beta: float = 0.1

    def __call__(self, net: EnergyMLP, x: torch.Tensor, sigma: torch.Tensor,
                 eps: torch.Tensor, create_graph: bool = True) -> torch.Tensor:
        """Return the scalar loss for clean x (n, d), sigma (n, 1) and noise eps (n, d)."""
        x_noisy = (x + sigma * eps).requires_grad_(True)
        with torch.enable_grad():
            f_noisy = net(x_noisy, sigma)
            (grad,) = torch.autograd.grad(f_noisy.sum(), x_noisy, create_graph=create_graph)
        loss = 0.5 * (eps - sigma * grad).pow(2).sum(dim=1)
        if self.beta > 0:  # a separate pass: the double backward need not cover the clean rows
            loss = loss + 0.5 * self.beta * net(x, sigma).pow(2)
        return loss.mean()
