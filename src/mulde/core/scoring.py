"""Multiscale scoring: f(x, sigma_l) for a grid of noise levels, batched, without autograd;
each member's energies of an ensemble, and the training rows' out-of-bag energies."""

from __future__ import annotations

import torch

from mulde.core.network import EnergyEnsemble, EnergyNetwork


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


@torch.no_grad()
def member_multiscale_energy(net: EnergyNetwork, x: torch.Tensor, sigmas: torch.Tensor,
                             batch_size: int = 512) -> torch.Tensor:
    """Return each member's (n, L) energies f_m(x_i, sigma_l), stacked: (M, n, L), M the
    `EnergyEnsemble`'s members (1 for an `EnergyMLP`). Their mean over the members,
    `.mean(dim=0)`, is `multiscale_energy(net, x, sigmas, batch_size)`, computed by the same
    operations (so equal to the last bit on one device)."""
    members = list(net.members) if isinstance(net, EnergyEnsemble) else [net]
    sigmas = sigmas.to(device=x.device, dtype=x.dtype)
    was_training = net.training
    net.eval()
    try:
        parts = [torch.stack([m.energy_multiscale(x[i:i + batch_size], sigmas)
                              for m in members])
                 for i in range(0, x.shape[0], batch_size)]
    finally:
        net.train(was_training)
    if not parts:
        return torch.empty(len(members), 0, sigmas.numel(), dtype=x.dtype, device=x.device)
    return torch.cat(parts, dim=1)


def out_of_bag_energies(per_member: torch.Tensor, in_bag: torch.Tensor
                        ) -> tuple[torch.Tensor, torch.Tensor]:
    """Each training row's mean energy over the members that never fitted it.

    per_member: (M, n, L) each member's energies of the n training rows
    (`member_multiscale_energy`); in_bag: (n, M) bool, which members trained on each row
    (`mulde.core.training.training_bags`). Returns (energies (k, L) float64, rows (k,)
    int64): the k rows out of at least one bag, in order, each averaged over the members
    whose bag does not hold it (a row held out for validation, in no bag, over all M); a row
    in every bag was fitted by every member and is left out. As a random forest's out-of-bag
    predictions (Breiman 2001, "Random forests"): such a row scores as a new sample of its
    density does, where a member that fitted it may have memorised it (issue 15, round 47,
    benchmarks/density_fidelity.md). ValueError for shapes that do not match."""
    n_members, n_rows = per_member.shape[:2]
    if tuple(in_bag.shape) != (n_rows, n_members):
        raise ValueError(f"in_bag must be ({n_rows}, {n_members}), got {tuple(in_bag.shape)}")
    out = ~in_bag.to(per_member.device)
    rows = torch.nonzero(out.any(dim=1)).flatten()
    weights = out[rows].double()
    weights = weights / weights.sum(dim=1, keepdim=True)
    return torch.einsum("mnl,nm->nl", per_member[:, rows].double(), weights), rows
