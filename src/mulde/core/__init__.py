"""Pure-PyTorch core of MULDE: noise schedule, noise-conditioned energy network, DSM loss,
training loop and multiscale scoring. No NumPy and no file I/O at this layer."""

from mulde.core.loss import DSMLoss
from mulde.core.network import EnergyMLP
from mulde.core.schedule import NoiseSchedule, Spacing
from mulde.core.scoring import multiscale_energy
from mulde.core.training import TrainConfig, TrainResult, train_energy

__all__ = [
    "DSMLoss",
    "EnergyMLP",
    "NoiseSchedule",
    "Spacing",
    "TrainConfig",
    "TrainResult",
    "multiscale_energy",
    "train_energy",
]
