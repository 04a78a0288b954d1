"""Pure-PyTorch core of MULDE: noise schedule, noise-conditioned energy network, DSM loss,
training loop, multiscale scoring and device selection.

No NumPy at this layer. Its only file I/O is the training checkpoint (`mulde.core.checkpoint`,
written atomically through `mulde.io`); from the rest of mulde it imports nothing but `mulde.io`
(tests/test_imports.py checks this)."""

from mulde.core.device import device_problem, resolve_device
from mulde.core.loss import DSMLoss, Regulariser
from mulde.core.network import (
    EnergyEnsemble,
    EnergyMLP,
    EnergyNetwork,
    energy_network,
    resolve_hidden_sizes,
    widths_for_features,
)
from mulde.core.schedule import (
    NoiseSchedule,
    Spacing,
    largest_distance_sigma,
    nearest_neighbour_sigma,
)
from mulde.core.scoring import multiscale_energy
from mulde.core.training import TrainConfig, TrainResult, train_energy

__all__ = [
    "DSMLoss",
    "EnergyEnsemble",
    "EnergyMLP",
    "EnergyNetwork",
    "NoiseSchedule",
    "Regulariser",
    "Spacing",
    "TrainConfig",
    "TrainResult",
    "energy_network",
    "multiscale_energy",
    "largest_distance_sigma",
    "nearest_neighbour_sigma",
    "device_problem",
    "resolve_device",
    "resolve_hidden_sizes",
    "train_energy",
    "widths_for_features",
]
