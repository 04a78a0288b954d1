"""Device selection for the core and the layers above it."""

from __future__ import annotations

import torch


def resolve_device(device: str | torch.device) -> torch.device:
    """Return the torch device named by `device`.

    'auto' picks CUDA when available, then Apple's MPS, then the CPU; any other name ('cpu',
    'cuda', 'cuda:1', 'mps', or a torch.device) is passed to `torch.device` unchanged, which
    raises RuntimeError for a malformed name. Availability of an explicit device is not checked
    here: torch reports it when a tensor is first moved there.
    """
    if device != "auto":
        return torch.device(device)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")
