"""The noise schedule shared by training (random sigmas) and scoring (a fixed grid)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum

import torch


class Spacing(str, Enum):
    """How the test-time grid of noise levels is spaced."""

    LINEAR = "linear"
    GEOMETRIC = "geometric"


@dataclass(frozen=True)
class NoiseSchedule:
    """Noise levels in [low, high]: log-uniform draws for training, a grid for scoring."""

    low: float = 1e-3
    high: float = 1.0

    def __post_init__(self) -> None:
        if not 0 < self.low <= self.high:
            raise ValueError(f"need 0 < sigma_low <= sigma_high, got {self.low}, {self.high}")

    def sample(self, n: int, generator: torch.Generator | None = None,
               device: torch.device | str = "cpu") -> torch.Tensor:
        """Return n sigmas ~ LogUniform[low, high] as an (n, 1) float32 tensor."""
        u = torch.rand(n, 1, generator=generator, device=device)
        log_low, log_high = math.log(self.low), math.log(self.high)
        return torch.exp(log_low + u * (log_high - log_low))

    def grid(self, n_levels: int, spacing: Spacing | str = Spacing.LINEAR) -> torch.Tensor:
        """Return n_levels sigmas from low to high (inclusive), float32, shape (n_levels,)."""
        if n_levels < 1:
            raise ValueError(f"n_levels must be >= 1, got {n_levels}")
        spacing = Spacing(spacing)
        if n_levels == 1:
            return torch.tensor([self.high], dtype=torch.float32)
        if spacing is Spacing.LINEAR:
            return torch.linspace(self.low, self.high, n_levels, dtype=torch.float64).float()
        return torch.logspace(math.log10(self.low), math.log10(self.high), n_levels,
                              dtype=torch.float64).float()
