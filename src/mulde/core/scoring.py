"""Multiscale scoring: f(x, sigma_l) for a grid of noise levels, batched, without autograd."""

from __future__ import annotations

import torch

from mulde.core.network import EnergyNetwork


@torch.no_grad()
def multiscale_energy(net: EnergyNetwork, x: torch.Tensor, sigmas: torch.Tensor,
                      batch_size: int = 512) -> torch.Tensor:
    """Return the (n, L) matrix f(x_i, sigma_l) (energies: higher = more anomalous).

    x must already be standardised and on the network's device. Each batch holds
    batch_size * L rows; 512 samples keep a CPU's working set in cache (benchmarks/speed.py).
    """
    sigmas = sigmas.to(device=x.device, dtype=x.dtype)
    was_training = net.training
    net.eval()
    try:
        parts = [net.energy_multiscale(x[i:i + batch_size], sigmas)
                 for i in range(0, x.shape[0], batch_size)]
    finally:
        net.train(was_training)
    if not parts:
        return torch.empty(0, sigmas.numel(), dtype=x.dtype, device=x.device)
    return torch.cat(parts)
