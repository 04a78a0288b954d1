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


def _seeded_rows(x: torch.Tensor, fraction: float, limit: int, seed: int
                 ) -> torch.Tensor | None:
    """The indices (on x's device) of at most `limit` rows of x (n, d) drawn without
    replacement with `seed`, for the data-relative noise levels below; None when x has fewer
    than 2 rows or no column. ValueError for a negative `fraction`."""
    if fraction < 0:
        raise ValueError(f"fraction must be >= 0, got {fraction}")
    n, d = x.shape
    if n < 2 or d < 1:
        return None
    g = torch.Generator().manual_seed(seed)
    return torch.randperm(n, generator=g)[:limit].to(x.device)


def nearest_neighbour_sigma(x: torch.Tensor, fraction: float, max_queries: int = 1000,
                            seed: int = 0, chunk: int = 256) -> float:
    """Return fraction * median_i(nearest-neighbour distance of row i) / sqrt(d) (torch's
    median: the lower middle value for an even count): the per-coordinate noise level whose
    expected norm (sigma sqrt(d) for isotropic noise in R^d) is that fraction of the typical
    distance between a training row and its closest other row. A noise level well below it
    only teaches the network the neighbourhoods of single training rows (memorisation on
    small sets; issue 15, round 2), which is why it serves as a data-relative lower end of
    the noise range (`MULDE(sigma_low_nn=...)`), in the spirit of choosing the noise range
    from the data's distances (Song & Ermon, "Improved Techniques for Training Score-Based
    Generative Models", NeurIPS 2020, technique 1, there for sigma_max).

    x: (n, d) float tensor (standardised training rows). Distances are Euclidean, in float64;
    a row's distance to itself and to its duplicates is skipped (a duplicate: squared
    distance <= 1e-9 (|a|^2 + |b|^2), the rounding of the matrix-product form of cdist), so
    heavily duplicated data measure the distance to the nearest *different* row. Queries: at
    most max_queries rows drawn without replacement (seeded), each against all n rows, in
    chunks of `chunk`. Returns 0.0 when no query row has a different row (n < 2 or all rows
    equal).
    """
    queries = _seeded_rows(x, fraction, max_queries, seed)
    if queries is None:
        return 0.0
    d = x.shape[1]
    ref = x.double()
    ref_sq = ref.pow(2).sum(dim=1)
    nearest = []
    for i in range(0, len(queries), chunk):
        q = queries[i:i + chunk]
        sq = ref_sq[q, None] + ref_sq[None, :] - 2.0 * ref[q] @ ref.T  # (q, n)
        same = sq <= 1e-9 * (ref_sq[q, None] + ref_sq[None, :])
        same[torch.arange(len(q), device=x.device), q] = True  # the row itself
        sq = torch.where(same, torch.full_like(sq, math.inf), sq.clamp_min(0.0))
        nearest.append(sq.min(dim=1).values.sqrt())
    nn = torch.cat(nearest)
    nn = nn[torch.isfinite(nn)]
    if nn.numel() == 0:
        return 0.0
    return float(fraction * nn.median().item() / math.sqrt(d))


def largest_distance_sigma(x: torch.Tensor, fraction: float, max_rows: int = 2000,
                           seed: int = 0) -> float:
    """Return fraction * D_max / sqrt(d), D_max the largest Euclidean distance between two
    rows of x: the per-coordinate noise level whose expected norm (sigma sqrt(d) for
    isotropic noise in R^d) is that fraction of the data's largest distance. It serves as a
    data-relative upper end of the noise range (`MULDE(sigma_high_span=...)`; issue 15,
    round 7), after Song & Ermon, "Improved Techniques for Training Score-Based Generative
    Models", NeurIPS 2020, technique 1 (sigma_max as large as the largest pairwise distance;
    there without the sqrt(d), for sampling).

    x: (n, d) float tensor (standardised training rows); at most max_rows rows drawn
    without replacement (seeded) enter, so on larger sets D_max is that subsample's (a lower
    bound of the whole set's). Distances in float64 (the matrix-product form of cdist,
    clamped at 0). Returns 0.0 for n < 2.
    """
    picked = _seeded_rows(x, fraction, max_rows, seed)
    if picked is None:
        return 0.0
    d = x.shape[1]
    rows = x.double()[picked]
    sq = rows.pow(2).sum(dim=1)
    largest = (sq[:, None] + sq[None, :] - 2.0 * rows @ rows.T).clamp_min(0.0).max()
    return float(fraction * largest.sqrt().item() / math.sqrt(d))
