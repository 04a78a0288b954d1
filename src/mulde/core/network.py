"""The noise-conditioned energy network f(x, sigma) of MULDE."""

from __future__ import annotations

from collections.abc import Sequence
from numbers import Integral

import numpy as np
import torch
from torch import nn

from mulde.core.base import CovarianceScaling, GaussianBase

NOISE_INPUTS = ("sigma", "log")
"""How the noise level enters the network: "sigma" the raw level sigma (the paper's [x, sigma]),
"log" c(sigma) = ln(sigma) / 4 (Karras et al. 2022, "Elucidating the design space of
diffusion-based generative models", the c_noise of their Table 1)."""


def noise_feature(sigma: torch.Tensor, noise_input: str) -> torch.Tensor:
    """Return the network's noise input for levels `sigma` (any shape, all > 0), same shape:
    sigma itself ("sigma") or ln(sigma) / 4 ("log"). Over [1e-3, 1] the raw level leaves
    the lower half of a log-uniform draw within 0.03 of 0, where the first layer barely tells
    the levels apart; ln(sigma) / 4 spreads them evenly over [-1.73, 0]. ValueError for
    another `noise_input`."""
    if noise_input == "sigma":
        return sigma
    if noise_input == "log":
        return torch.log(sigma) / 4
    raise ValueError(f"noise_input must be one of {NOISE_INPUTS}, got {noise_input!r}")


class EnergyMLP(nn.Module):
    """MLP on [x, c(sigma)] -> scalar energy f(x, sigma) (approximately -log q_sigma(x) + c).

    c is `noise_feature` with `noise_input` ("sigma": c(sigma) = sigma, the paper; "log":
    ln(sigma) / 4). The first layer is W [x; c] + b = W_x x + w_sigma c + b;
    `energy_multiscale` computes W_x x once and shares it across all noise levels.
    With `base_rank` k the energy is a `GaussianBase` of rank k plus the MLP's output (the
    MLP learns the departure from that Gaussian); None (the paper): the MLP's output alone.
    With `scaling_rank` k the MLP reads [u, c(sigma)], u = (C + sigma^2 I)^-1/2 x the row
    scaled by a `CovarianceScaling` of rank k, instead of [x, c(sigma)]; None (the paper):
    the row as it is. `fit_covariance` sets C for both from the training rows.
    """

    def __init__(self, n_features: int, hidden: Sequence[int] = (256, 256),
                 layer_norm: bool = False, dropout: float = 0.0,
                 noise_input: str = "sigma", base_rank: int | None = None,
                 scaling_rank: int | None = None) -> None:
        super().__init__()
        if n_features < 1 or not hidden:
            raise ValueError("need n_features >= 1 and at least one hidden layer")
        if noise_input not in NOISE_INPUTS:
            raise ValueError(f"noise_input must be one of {NOISE_INPUTS}, got {noise_input!r}")
        self.n_features = n_features
        self.noise_input = noise_input
        self.first = nn.Linear(n_features + 1, hidden[0])
        blocks: list[nn.Module] = []
        width = hidden[0]
        blocks += self._post(width, layer_norm, dropout)
        for h in hidden[1:]:
            blocks += [nn.Linear(width, h), *self._post(h, layer_norm, dropout)]
            width = h
        blocks.append(nn.Linear(width, 1))
        self.rest = nn.Sequential(*blocks)
        self.base = GaussianBase(n_features, base_rank) if base_rank else None
        self.scaling = CovarianceScaling(n_features, scaling_rank) if scaling_rank else None

    def fit_covariance(self, z: np.ndarray) -> None:
        """Set the covariance of the Gaussian base and of the input scaling from the centred
        rows z (n, d) (`NoisyCovariance.fit_covariance`, computed once for both); ValueError
        with neither."""
        parts = [part for part in (self.base, self.scaling) if part is not None]
        if not parts:
            raise ValueError("this network has neither a Gaussian base nor an input scaling")
        parts[0].fit_covariance(z)
        for part in parts[1:]:  # the same rows give the same covariance
            part.load_state_dict(parts[0].state_dict())

    @staticmethod
    def _post(width: int, layer_norm: bool, dropout: float) -> list[nn.Module]:
        mods: list[nn.Module] = [nn.LayerNorm(width)] if layer_norm else []
        mods.append(nn.GELU())
        if dropout > 0:
            mods.append(nn.Dropout(dropout))
        return mods

    def forward(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        """Return f(x, sigma) of shape (n,) for x (n, d) and sigma (n, 1) or (n,)."""
        c = noise_feature(sigma.reshape(-1, 1), self.noise_input)
        u = x if self.scaling is None else self.scaling(x, sigma)
        out = self.rest(self.first(torch.cat([u, c], dim=1))).squeeze(1)
        return out if self.base is None else out + self.base(x, sigma)

    def energy_multiscale(self, x: torch.Tensor, sigmas: torch.Tensor) -> torch.Tensor:
        """Return f(x, sigma_l) for every row of x and level of sigmas, shape (n, L).

        Equal to calling forward once per level, but the x-part of the first layer
        (W_x x + b) is computed once and shared by all L levels (with an input scaling, its
        projection of x is).
        """
        w_x = self.first.weight[:, : self.n_features]
        w_sigma = self.first.weight[:, self.n_features]
        c = noise_feature(sigmas.reshape(1, -1, 1), self.noise_input)
        if self.scaling is None:
            h = torch.addmm(self.first.bias, x, w_x.t()).unsqueeze(1) + c * w_sigma
        else:
            h = self.scaling.linear_multiscale(x, sigmas, w_x, self.first.bias) + c * w_sigma
        n, n_levels, width = h.shape
        out = self.rest(h.reshape(n * n_levels, width)).reshape(n, n_levels)
        return out if self.base is None else out + self.base.multiscale(x, sigmas)


class EnergyEnsemble(nn.Module):
    """M independently initialised `EnergyMLP` members; the energy is their mean.

    A deep ensemble (Lakshminarayanan et al., "Simple and scalable predictive uncertainty
    estimation using deep ensembles", NeurIPS 2017) of energy networks: `DSMLoss` trains every
    member on its own score-matching loss (the members see the same batches and noise and
    differ by their initial weights), so no member fits the others' errors; the mean of M
    energies has the members' shared trend and less of each one's memorised detail.
    forward and energy_multiscale have `EnergyMLP`'s shapes: (n,) and (n, L).
    """

    def __init__(self, n_features: int, hidden: Sequence[int] = (256, 256),
                 layer_norm: bool = False, dropout: float = 0.0, n_members: int = 2,
                 noise_input: str = "sigma", base_rank: int | None = None,
                 scaling_rank: int | None = None) -> None:
        super().__init__()
        if n_members < 2:
            raise ValueError(f"an ensemble needs n_members >= 2, got {n_members}")
        self.n_features = n_features
        self.noise_input = noise_input
        self.members = nn.ModuleList(EnergyMLP(n_features, hidden, layer_norm, dropout,
                                               noise_input, base_rank, scaling_rank)
                                     for _ in range(n_members))

    def fit_covariance(self, z: np.ndarray) -> None:
        """Set every member's covariance from the centred rows z (`EnergyMLP.fit_covariance`,
        computed once: every member sees the same rows)."""
        first = self.members[0]
        first.fit_covariance(z)
        for member in self.members[1:]:
            for name in ("base", "scaling"):
                part = getattr(member, name)
                if part is not None:
                    part.load_state_dict(getattr(first, name).state_dict())

    def forward(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        """Return the members' mean f(x, sigma), shape (n,), for x (n, d), sigma (n, 1)."""
        return torch.stack([m(x, sigma) for m in self.members]).mean(dim=0)

    def energy_multiscale(self, x: torch.Tensor, sigmas: torch.Tensor) -> torch.Tensor:
        """Return the members' mean f(x, sigma_l), shape (n, L)."""
        return torch.stack([m.energy_multiscale(x, sigmas) for m in self.members]).mean(dim=0)


EnergyNetwork = EnergyMLP | EnergyEnsemble

WIDTH = 256
WIDTH_PER_FEATURE = 1
WIDTH_MAX = 2048
DEEP_ROWS_PER_FEATURE = 50
"""The training rows per feature from which `MULDE(hidden_sizes="auto")` adds a third hidden
layer (and `validation_fraction="auto"` holds a fifth of the rows out of a network of three
or more layers: issue 15, round 41, from 100; `n_members="auto"` trains two of them: round
43; from 50 since round 45)."""
PAIR_ROWS_PER_FEATURE = 25
"""From `PAIR_MIN_ROWS` training rows, the rows per feature from which "auto" builds the
deeper networks up to `DEEP_WIDTH` (160) features, instead of `DEEP_ROWS_PER_FEATURE`
(issue 15, round 58)."""
PAIR_MIN_ROWS = 501
"""The fewest training rows on which `PAIR_ROWS_PER_FEATURE` applies: where the rows alone
give one network (`mulde.core.training.members_for_rows`: `MEMBERS_ROWS // 2 + 1`; a test
ties the two); below it the 2-4 networks on halves stay (round 57)."""
PAIR_ROWS_PER_DIRECTION = 50
"""The rows per principal direction `PAIR_ROWS_PER_FEATURE` needs as well (round 59): where
fewer, the eight networks of thin rows stay (`mulde.core.training.MEMBERS_ROWS_PER_DIRECTION`;
a test ties the two)."""
DEEP_WIDTH = 160
"""The hidden width of the deeper "auto" networks up to as many features (issue 15, rounds
42-44): a training step of two members of three layers of 160 takes about the time of one of
256; past 160 features they would be narrower than the input, and one network of 256 keeps
them (round 44)."""


def deep_enough(n_rows: int, n_features: int, directions: int | None = None) -> bool:
    """Whether n_rows rows of n_features features, of `directions` principal directions
    (`mulde.core.training.principal_directions`; None: not counted), are enough for the
    deeper networks: at least `DEEP_ROWS_PER_FEATURE` (50) per feature, or, up to
    `DEEP_WIDTH` (160) features on at least `PAIR_MIN_ROWS` (501) rows,
    `PAIR_ROWS_PER_FEATURE` (25) per feature (issue 15, round 58) and, counted,
    `PAIR_ROWS_PER_DIRECTION` (50) per direction (round 59): where "auto" widths add a third
    layer and "auto" holds a fifth out of a network of three or more layers."""
    if n_rows >= DEEP_ROWS_PER_FEATURE * n_features:
        return True
    return (n_features <= DEEP_WIDTH and n_rows >= PAIR_MIN_ROWS
            and n_rows >= PAIR_ROWS_PER_FEATURE * n_features
            and directions is not None and n_rows >= PAIR_ROWS_PER_DIRECTION * directions)


def widths_for_features(n_features: int, n_rows: int,
                        directions: int | None = None) -> tuple[int, ...]:
    """The hidden widths `MULDE(hidden_sizes="auto")` gives a network on n_features inputs
    fitted on n_rows rows (the validation rows included): (min(max(256, k n_features),
    2,048), 256) with k = `WIDTH_PER_FEATURE` (1) and the cap `WIDTH_MAX`; where the rows
    are enough (`deep_enough`: n_rows >= `DEEP_ROWS_PER_FEATURE` (50) x n_features, or up
    to 160 features from 501 rows n_rows >= `PAIR_ROWS_PER_FEATURE` (25) x n_features and,
    where `directions` were counted, >= 50 x directions),
    three layers: of `DEEP_WIDTH` (160) up to 160 features, of which `n_members="auto"`
    trains two (`mulde.core.training.deep_pair`), and past them the first two layers above
    with a third of 256 (round 41's, one network).

    Why the first width (benchmarks/density_fidelity.md, issue 15 round 28): the first
    layer's weights on x have shape (width, d), so their rank is at most min(width, d); with a
    first layer narrower than d the energy f(x, sigma) is constant along at least d - width
    directions of x whatever training does, and a sample that departs from the data along them
    is not penalised (at d 512 a 256-wide first layer capped the ranking of fresh Gaussian
    samples near sqrt(256 / 512) = 0.71). A first layer at least as wide as the input removes
    that cap. The first layer's weights, and a step's work on them, grow as d x width, so past
    2,048 features the width stops growing (a cost bound, not a measured optimum: reduce such
    features, e.g. by PCA, for full rank).

    Why the third layer (rounds 39-41): with enough rows per feature a deeper network ranks a
    density of many modes as exact kNN does (50 clusters in 16-D, 10,000 rows: Spearman with
    the true log-density of fresh samples 0.895 -> 0.974, kNN 0.976) at 1.3-1.8x the fit time;
    alone it raised the held-out false alarms, which holding a fifth of the rows out for
    validation (`mulde.core.training.validation_fraction_for_network`) kept within the suite's
    bound.

    Why two of 160 there (rounds 42-43): two networks of three layers (each on every row;
    their energies' mean, a deep ensemble) ranked the suite's cases better than one of 256,
    the broader samples most, with fewer false alarms: at 180 wide (merit +0.0069 over
    three seeds) in 2.2x the fit time of the default before issue 15, over issue 15's bound;
    at 160, whose training step takes one of 256's time, merit +0.0057 and calibration
    0.0010 better on fresh seeds, in 1.80x (round 43). They rank a density of many modes
    below one of 256 (50 clusters in 16-D, 10,000 rows: fresh 0.974 -> 0.954). Past 160
    features the pair's later layers would be narrower than the input; there it ranked below
    round 41's one network in more time, so those keep it (round 44).

    Why from 50 rows per feature (round 45; rounds 41-44 from 100): between 50 and 99 rows
    per feature one network of two layers ranked a density of many modes poorly (50 clusters
    in 16-D, 1,200 rows: fresh 0.655, kNN 0.947); the deeper pair ranked it at 0.909, and
    the suite's cases in that range gained merit 0.8837 -> 0.9063 on fresh seeds at
    calibration 0.0137 -> 0.0150. Round 39's one network of three layers from 50 rows per
    feature had failed there on the false alarms.

    Why from 25 rows per feature on 501 rows or more (round 58): below 50 rows per feature
    the default's one network of two layers (or the eight of thin rows) ranked a density of
    many modes poorly in more dimensions (50 clusters in 64-D, 3,000 rows: fresh 0.818, kNN
    0.981); the pair ranked it at 0.913, and the suite's cases in that range gained merit
    0.8815 -> 0.8964 with calibration 0.0147 -> 0.0132 on fresh seeds. At 500 rows and
    below it replaced the 2-4 networks on halves and doubled the false alarms (round 57),
    so those keep them; where the rows are fewer than 50 per principal direction it replaced
    the eight networks on eighths and raised the false alarms there (round 59), so those
    keep them too.
    ValueError for n_features < 1 or n_rows < 1."""
    if n_features < 1:
        raise ValueError(f"need at least 1 feature, got {n_features}")
    if n_rows < 1:
        raise ValueError(f"need at least 1 training row, got {n_rows}")
    two = (min(max(WIDTH, WIDTH_PER_FEATURE * n_features), WIDTH_MAX), WIDTH)
    if not deep_enough(n_rows, n_features, directions):
        return two
    if n_features <= DEEP_WIDTH:
        return (DEEP_WIDTH, DEEP_WIDTH, DEEP_WIDTH)
    return (*two, WIDTH)


def are_widths(sizes: object) -> bool:
    """Whether `sizes` is a non-empty list, tuple or array of layer widths: whole numbers
    >= 1, booleans not counted (a JSON true is no width)."""
    return (isinstance(sizes, list | tuple | np.ndarray) and len(sizes) > 0
            and all(isinstance(h, Integral) and not isinstance(h, bool) and h >= 1
                    for h in sizes))


def resolve_hidden_sizes(hidden_sizes: Sequence[int] | str, n_features: int,
                         n_rows: int, directions: int | None = None) -> tuple[int, ...]:
    """The widths a network on n_features inputs fitted on n_rows rows (of `directions`
    principal directions, None where not counted) is built with, given MULDE's
    `hidden_sizes` setting: `widths_for_features(n_features, n_rows, directions)` for
    "auto", else the widths given. ValueError for any other string."""
    if isinstance(hidden_sizes, str):
        if hidden_sizes != "auto":
            raise ValueError(f'hidden_sizes must be "auto" or a list of layer widths, got '
                             f'{hidden_sizes!r}')
        return widths_for_features(n_features, n_rows, directions)
    return tuple(int(h) for h in hidden_sizes)


def energy_network(n_features: int, hidden: Sequence[int] = (256, 256), layer_norm: bool = False,
                   dropout: float = 0.0, n_members: int = 1,
                   noise_input: str = "sigma", base_rank: int | None = None,
                   scaling_rank: int | None = None) -> EnergyNetwork:
    """The energy network of a MULDE model: one `EnergyMLP` (n_members 1) or an
    `EnergyEnsemble` of n_members of them, each with the given hidden widths, noise input
    (`NOISE_INPUTS`), Gaussian base of rank `base_rank` and input scaling of rank
    `scaling_rank` (None: none)."""
    if n_members == 1:
        return EnergyMLP(n_features, hidden, layer_norm, dropout, noise_input, base_rank,
                         scaling_rank)
    return EnergyEnsemble(n_features, hidden, layer_norm, dropout, n_members, noise_input,
                          base_rank, scaling_rank)
