"""The training loop: multiscale DSM with Adam, validation early stopping, EMA, checkpoints
(written and read by `mulde.core.checkpoint`).

Every random draw of step t (the epoch's shuffle, the sigmas, the noise) comes from a generator
seeded by (seed, t), so a run resumed from a checkpoint continues exactly as if uninterrupted.
"""

from __future__ import annotations

import copy
import inspect
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from mulde.core.checkpoint import CHECKPOINT_NAME, load_checkpoint, save_checkpoint
from mulde.core.denormals import flushed_denormals
from mulde.core.loss import DSMLoss
from mulde.core.network import (
    DEEP_ROWS_PER_FEATURE,
    DEEP_WIDTH,
    PAIR_MIN_ROWS,
    PAIR_ROWS_PER_DIRECTION,
    PAIR_ROWS_PER_FEATURE,
    EnergyEnsemble,
    EnergyNetwork,
    deep_enough,
)
from mulde.core.schedule import NoiseSchedule

VALIDATION_DRAWS_KINDS = ("shared", "per_member", "shares")
VALIDATION_DRAWS = "per_member"
"""`TrainConfig.validation_draws`' default (`_validation_loss`): "per_member", each member of
an ensemble of M validated on max(1, VALIDATION_REPEATS // M) noisy copies of the held-out
rows with draws of its own (issue 15, round 49: an evaluation costs half of "shared"'s for
the pair, a quarter for 3-8 networks); "shared" (before round 49), every member on the same
`VALIDATION_REPEATS` copies; "shares" (round 50's candidate, not adopted: 0.97x of the
fit's time at d 512, where round 50 asked 0.95x), each member on its own 1/M
share of the held-out rows, one copy, where they are at least `SHARE_MIN_ROWS` per member,
else as "per_member". One network is validated alike by all three, to the bit."""
VALIDATION_REPEATS = 4
SHARE_MIN_ROWS = 50


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings. Training stops after n_epochs or max_steps, whichever is first.

    These defaults are the `MULDE` estimator's (its signature reads them from here), lr and
    validation_fraction aside: the estimator's defaults are lr="auto" (`learning_rate_for_rows`,
    which gives this 1e-3 up to 1,000 training rows) and validation_fraction="auto"
    (`validation_fraction_for_network`, which gives this 0.1 but for three layers on at
    least 50 rows per feature, or 25 from 501 rows with 50 per principal direction). A small,
    fast CPU setting; the paper's setting is the estimator's `paper` preset.
    eval_every and checkpoint_every count optimiser steps; patience counts evaluations: 3
    without a lower validation loss stop training (5 until issue 15's round 48, which kept
    the same weights in 12 % fewer steps over the density-fidelity suite's 39 fits; in 2 a
    different step, with as good results: benchmarks/density_fidelity.md). eval_every is 50
    since round 49 (100 before; with each member's own draws, `validation_draws`): as good
    results over the suite's 39 fits in 0.85x the steps, and a fit at d 512 in 0.88x the
    seconds.
    lr_schedule: "constant" (lr at every step) or "cosine" (`learning_rate_at`).
    antithetic: each step takes batch_size // 2 rows, each with one noise level and the
    noise pair (eps, -eps) (`mulde.core.loss.antithetic_batch`; the regulariser, equal for
    both rows of a pair, once per row: `DSMLoss`), so a step still evaluates batch_size noisy
    rows (one fewer when odd; at batch_size 1, one row twice) and an epoch (of n_epochs) is
    twice as many steps; False (the paper): batch_size rows with one draw each. Either way a
    step takes at most the n_train training rows (`rows_per_step`), so with fewer rows than
    that an antithetic step evaluates 2 n_train.
    validation_draws: how an ensemble's members share the noise draws of the held-out rows
    (`_validation_loss`); its default is `VALIDATION_DRAWS` when the config is made.
    """

    lr: float = 1e-3
    adam_betas: tuple[float, float] = (0.5, 0.9)
    batch_size: int = 1024
    n_epochs: float | None = None
    max_steps: int | None = 2000  # issue 15, round 2 (density-fidelity suite)
    validation_fraction: float = 0.1
    eval_every: int = 50  # issue 15, round 49 (100 before)
    patience: int | None = 3  # issue 15, round 48 (5 before): the same kept weights in less time
    ema_decay: float | None = 0.99
    weight_decay: float = 0.0
    lr_schedule: str = "constant"
    antithetic: bool = False
    max_samples: float = 1.0
    seed: int = 0
    checkpoint_every: int = 500
    validation_draws: str = field(default_factory=lambda: VALIDATION_DRAWS)

    def rows_per_step(self, n_train: int) -> int:
        """Distinct training rows a step takes: batch_size (batch_size // 2 when antithetic),
        at most n_train and at least 1."""
        rows = self.batch_size // 2 if self.antithetic else self.batch_size
        return max(1, min(rows, n_train))

    def total_steps(self, n_train: int) -> int:
        """Number of optimiser steps for n_train training rows (an epoch: every row once, in
        steps of `rows_per_step`)."""
        if self.n_epochs is None and self.max_steps is None:
            raise ValueError("set n_epochs or max_steps")
        steps = math.inf
        if self.n_epochs is not None:
            steps = math.ceil(self.n_epochs * math.ceil(n_train / self.rows_per_step(n_train)))
        if self.max_steps is not None:
            steps = min(steps, self.max_steps)
        return max(1, int(steps))


@dataclass
class TrainResult:
    """What happened during training: the loss history and where it stopped."""

    steps: int
    best_step: int
    best_val_loss: float | None
    stopped_early: bool
    history: list[dict[str, float]] = field(default_factory=list)
    lr: float | None = None
    """The learning rate trained with (None in files written before it was recorded)."""
    n_members: int | None = None
    """The networks trained (`MULDE(n_members="auto")` resolved; None in older files)."""
    max_samples: float | None = None
    """The share of the fitted rows each trained on (None in files written before it was
    recorded)."""
    validation_fraction: float | None = None
    """The share of the fitted rows held out for validation (`MULDE(validation_fraction=
    "auto")` resolved): the share asked, or 0.0 where it held out no row (fewer than
    `VALIDATION_MIN_ROWS` rows, or a share that rounds to none); None in files written
    before it was recorded."""
    resumed_from: int | None = None
    """The step a checkpoint resumed training from (`train_energy`'s checkpoint_dir); None
    for a run from the first step, or in files written before it was recorded."""
    n_rows: int | None = None
    """The rows given to `MULDE.fit` (the validation split included), which "auto" settings
    are chosen from (`members_reason`); None from `train_energy` alone, or in files written
    before it was recorded."""


def _generator(seed: int, stream: int, device: torch.device) -> torch.Generator:
    g = torch.Generator(device=device)
    g.manual_seed((seed * 1_000_003 + stream) % (2**63 - 1))
    return g


_VALIDATION_DRAWS_STREAM = -999_999
"""The generator stream (`_generator`) that draws the validation rows by their weights
(`train_energy`'s row_weights): none of the others, -1 (the split), -2 - 1000 j (the
validation noise), -3 - m (member m's bag) and the positive ones of the epochs and steps."""


def ema_decay_at(step: int, decay: float) -> float:
    """EMA decay after optimiser step `step` (0-based): min(decay, (1 + t) / (10 + t)), a
    warm-up so that early averages are not dominated by the random initialisation."""
    return min(decay, (1 + step) / (10 + step))


# the fields `_checkpoint_config` leaves out at these values, as older checkpoints hold none
# (named with them when a checkpoint is refused)
_LEFT_OUT = {"weight_decay": 0.0, "lr_schedule": "constant", "antithetic": False,
             "max_samples": 1.0, "loss.time_score": 0.0, "validation_draws": "shared"}


def _checkpoint_config(config: TrainConfig, x: torch.Tensor | None = None,
                       schedule: NoiseSchedule | None = None, loss_fn: Any = None,
                       net: Any = None, cells: LatticeCells | None = None,
                       row_weights: torch.Tensor | None = None) -> dict:
    """The configuration a checkpoint is written with and must match to resume: the training
    settings (those added since, weight_decay, lr_schedule and antithetic, left out at their
    default), and what else decides the trained network: the loss's beta, regulariser and
    time-score weight, the noise range, the network's noise input, Gaussian base and input
    scaling, the lattice cells the rows are dequantised over and the rows' importance
    weights (their sum and sum of squares; each left out without), and the training rows
    (their shape, and their sum and sum of squares to 6 significant digits: other data or
    another standardisation changes them). A resumed fit
    of another model would otherwise continue silently from the wrong weights."""
    out = asdict(config)
    for key, value in _LEFT_OUT.items():
        if key in out and out[key] == value:
            out.pop(key)
    if x is not None:
        rows = x.detach().double()
        out["data"] = {"shape": list(rows.shape),
                       "sum": float(f"{float(rows.sum()):.6g}"),
                       "sum_sq": float(f"{float((rows * rows).sum()):.6g}")}
    if schedule is not None:
        out["noise_range"] = [schedule.low, schedule.high]
    if hasattr(loss_fn, "beta"):
        out["loss"] = {"beta": float(loss_fn.beta),
                       "regulariser": str(getattr(loss_fn.regulariser, "value",
                                                  loss_fn.regulariser))}
        time_score = float(getattr(loss_fn, "time_score", _LEFT_OUT["loss.time_score"]))
        if time_score != _LEFT_OUT["loss.time_score"]:
            out["loss"]["time_score"] = time_score
    if net is not None:
        out["noise_input"] = getattr(net, "noise_input", "sigma")
        first = net.members[0] if hasattr(net, "members") else net
        base = getattr(first, "base", None)
        if base is not None:  # left out without one, as older checkpoints hold no such field
            out["base_rank"] = int(base.vectors.shape[1])
        scaling = getattr(first, "scaling", None)
        if scaling is not None:  # likewise
            out["scaling_rank"] = int(scaling.vectors.shape[1])
    if cells is not None:  # likewise
        out["lattice_cells"] = cells.identity()
    if row_weights is not None:  # likewise
        w = row_weights.detach().double()
        out["row_weights"] = {"sum": float(f"{float(w.sum()):.6g}"),
                              "sum_sq": float(f"{float((w * w).sum()):.6g}")}
    return out


LR_SCHEDULES = ("constant", "cosine")
ROWS_LR = 1e-3
"""`learning_rate_for_rows`: the rate up to `ROWS_LR_FROM` training rows."""
ROWS_LR_FROM = 1000
ROWS_LR_MAX_FACTOR = 3.0


FEATURES_LR_FROM = 256
"""`learning_rate_for_rows`: past this many features the rows count for less."""


def learning_rate_for_rows(n: int, n_features: int = 1) -> float:
    """The learning rate `MULDE(lr="auto")` trains n rows of n_features features with: from
    the rows counted as m = n x min(1, 256 / n_features) (at least 1), 1e-3 up to m = 1,000,
    in proportion to m above that, at most 3e-3 (from m = 3,000 on). Up to 256 features m is
    n itself.

    Why (benchmarks/density_fidelity.md, issue 15): within the 2,000-step cap a rate of 3e-3
    trains sets of thousands of rows further than 1e-3 (they are still improving at the cap,
    as 23 of 24 large ADBench training halves are), while sets of at most 1,000 rows memorise
    sooner at 3e-3 than early stopping can catch (rounds 22-24). What memorises is the rows
    relative to the features: at d 512, 4,000 rows trained at 2e-3 in place of 3e-3 raised
    the suite's merit there 0.829 -> 0.856 at the same calibration (round 29). ValueError for
    n < 1 or n_features < 1."""
    if n < 1:
        raise ValueError(f"need at least 1 training row, got {n}")
    if n_features < 1:
        raise ValueError(f"need at least 1 feature, got {n_features}")
    m = max(1, round(n * min(1.0, FEATURES_LR_FROM / n_features)))
    return ROWS_LR * min(max(m / ROWS_LR_FROM, 1.0), ROWS_LR_MAX_FACTOR)


def resolve_lr(lr: float | str, n: int, n_features: int = 1) -> float:
    """The learning rate a fit on n rows of n_features features trains with, given MULDE's
    `lr` setting: the number itself, or `learning_rate_for_rows(n, n_features)` for "auto"."""
    return learning_rate_for_rows(n, n_features) if lr == "auto" else float(lr)


MEMBERS_MAX = 4  # the most networks the rows alone give (and thin sets of at most 500 rows)
MEMBERS_ROWS = 1000
MEMBERS_ROWS_PER_FEATURE = 10
MEMBERS_THIN = 8
MEMBERS_ROWS_PER_DIRECTION = 50
BAG_SHARE = 0.5
BAGS_PER_ROW = 2


def _few_rows_per_feature(n: int, n_features: int) -> bool:
    """Whether n rows of n_features features are fewer than `MEMBERS_ROWS_PER_FEATURE` per
    feature (round 30's thin set)."""
    return n < MEMBERS_ROWS_PER_FEATURE * n_features


VARIANCE_SHARE = 0.9


def principal_directions(X: np.ndarray, share: float = VARIANCE_SHARE) -> int:
    """How many principal directions of the rows X (n, d) hold `share` of their variance
    once each column is standardised (zero mean, unit variance; constant columns dropped):
    the fewest leading eigenvalues of their correlation matrix whose sum reaches share x
    the trace. Between 1 and min(n, d') for d' varying columns; 0 when no column varies
    (also for fewer than 2 rows). A column is constant when its largest value equals its
    smallest, exactly, so a constant 0.1 counts as constant in any memory layout; columns
    are first divided by their largest absolute value, so values near 1e200 or 1e-300 count
    as values near 1 do. Label-free (the training rows alone): a count of the directions a
    density model of the rows must spread over, d for isotropic data, a few for data near a
    low-dimensional set whatever its column count (issue 15, round 33;
    benchmarks/density_fidelity.md). The eigenvalues come from the smaller of the d' x d'
    and the n x n product of the standardised rows (the same nonzero spectrum); one copy of
    X is made and scaled in place. ValueError for share outside (0, 1]."""
    if not 0 < share <= 1:
        raise ValueError(f"share must be in (0, 1], got {share}")
    Z = np.array(X, dtype=np.float64)  # a copy, scaled in place
    if len(Z) < 2:
        return 0
    varying = Z.max(axis=0) > Z.min(axis=0)
    if not varying.all():
        Z = Z[:, varying]
    if Z.shape[1] == 0:
        return 0
    Z /= np.abs(Z).max(axis=0)  # peaks of 1: the squares below neither overflow nor vanish
    Z -= Z.mean(axis=0)
    norms = np.sqrt(np.einsum("ij,ij->j", Z, Z))
    if not (norms > 0).all():  # values a rounding apart: nothing left to vary
        Z, norms = Z[:, norms > 0], norms[norms > 0]
        if Z.shape[1] == 0:
            return 0
    Z /= norms  # unit columns: the correlation matrix up to the factor n
    small = Z @ Z.T if len(Z) < Z.shape[1] else Z.T @ Z
    eigenvalues = np.clip(np.linalg.eigvalsh(small), 0.0, None)[::-1]
    cumulative = np.cumsum(eigenvalues)
    return int(min(np.searchsorted(cumulative, share * cumulative[-1]) + 1, len(cumulative)))


def is_auto(setting: Any) -> bool:
    """Whether a MULDE setting is the string "auto" (any other value, an array of widths
    included, is not: comparing an array with "auto" would compare each element)."""
    return isinstance(setting, str) and setting == "auto"


def directions_matter(n: int, n_features: int) -> bool:
    """Whether the principal directions of n rows of n_features features can change what
    "auto" settings train (`members_for_rows`; and, with "auto" widths from 25 rows per
    feature, whether the pair trains: `deep_pair`, round 59): only where neither the rows
    alone nor the rows per feature give several networks (n > 500 and n >= 10 d) and n < 50
    d (there are at most d directions)."""
    return (members_for_rows(n, n_features) == 1
            and n < MEMBERS_ROWS_PER_DIRECTION * n_features)


def rule_directions(X: np.ndarray) -> int | None:
    """The principal directions "auto" settings count for the rows X (n, d):
    `principal_directions(X)` where they can change the answer (`directions_matter`), else
    None (not computed: a d x d eigendecomposition saved)."""
    return principal_directions(X) if directions_matter(*np.shape(X)) else None


def members_for_rows(n: int, n_features: int = 1, directions: int | None = None) -> int:
    """The networks `MULDE(n_members="auto")` trains on n rows of n_features features. From
    the rows alone, min(4, max(1, floor(1,000 / n))): 4 up to 250 rows, 3 up to 333, 2 up to
    500, one network from 501 rows on, so that the members on n rows do no more work a step
    than one network on 1,000 rows. Where the rows are fewer than ten per feature (n < 10 d),
    at least `MEMBERS_MAX` (4), and `MEMBERS_THIN` (8) where the rows alone would give one
    network (500 < n < 10 d), each then on an eighth of the rows (`resolve_max_samples`).
    Given the rows' `principal_directions`, `MEMBERS_THIN` also where the rows are more than
    500 but fewer than `MEMBERS_ROWS_PER_DIRECTION` (50) per direction.

    Why (benchmarks/density_fidelity.md, issue 15 rounds 25, 27 and 30): where the rows are
    few, the held-out false alarms are worst (memorisation); members each trained on their own
    half of the rows (`resolve_max_samples`) memorise different rows, and their mean lowered
    the suite's false alarms (round 27, calibration 0.0195 -> 0.0133, at a small cost in
    ranking). Round 30 counts the rows against the features too: fewer than ten per feature
    (the rule of thumb of Jain, Duin & Mao, "Statistical pattern recognition: a review",
    IEEE TPAMI 2000) is a thin set whatever n, e.g. 4,000 rows of 512 features, where one
    network raised 9-10 % false alarms on the Gaussian and the circle; four on halves 5-6 %.
    Round 31: eight members, each on a quarter of the rows, so that a row is still fitted by
    about two of them but weighs a quarter of the mean instead of a half (merit 0.865 ->
    0.881, calibration 0.034 -> 0.030; Gaussian and circle d 512 false alarms 4-6 %). A
    member's loss takes only its bag's rows of a batch, so a training step costs about what
    four members on halves cost (and these fits stopped sooner: 0.86-0.96x round 30's
    seconds); scoring evaluates all eight networks, twice round 30's four. Round 33: the
    same eight also where the rows spread over many directions for their number, fewer
    than 50 per principal direction (Gaussian d 128 n 4,000, circle d 64 n 1,000 and a
    mixture d 32 n 1,000), not where they lie near a few (`lowrank_mix`, `mfa`: there
    bagging lost ranking). Round 46: each of the eight on an eighth of the rows instead of a
    quarter (`resolve_max_samples`).
    ValueError for n < 1 or n_features < 1."""
    if n < 1:
        raise ValueError(f"need at least 1 training row, got {n}")
    if n_features < 1:
        raise ValueError(f"need at least 1 feature, got {n_features}")
    rows = min(MEMBERS_MAX, max(1, MEMBERS_ROWS // n))
    if _few_rows_per_feature(n, n_features):
        return MEMBERS_THIN if rows == 1 else MEMBERS_MAX
    if rows == 1 and directions is not None and n < MEMBERS_ROWS_PER_DIRECTION * directions:
        return MEMBERS_THIN
    return rows


DEEP_MEMBERS = 2
"""The networks `n_members="auto"` trains where "auto" widths are the deeper ones (issue 15,
round 43), each on every row (`max_samples="auto"`)."""


def deep_pair(n: int, n_features: int, hidden_sizes: Sequence[int] | str = "auto",
              directions: int | None = None) -> bool:
    """Whether `MULDE(n_members="auto")` trains round 43's pair on n rows of n_features
    features: `DEEP_MEMBERS` (2) networks, each on every row, where the widths are "auto"
    and the rows enough (`deep_enough`: at least `mulde.core.network.DEEP_ROWS_PER_FEATURE`
    (50) per feature, or 25 per feature from 501 rows with 50 per counted principal
    direction: rounds 58-59) of at most
    `mulde.core.network.DEEP_WIDTH` (160) features, so that the widths are three layers of
    160. Widths given explicitly keep the rows' rule
    (`members_for_rows`): the pair was measured at 160 wide only.

    Why (benchmarks/density_fidelity.md, issue 15 rounds 42-43): the mean of two independently
    initialised networks (a deep ensemble: Lakshminarayanan et al., NeurIPS 2017) keeps what
    both learnt and averages away part of what each memorised on its own; against round
    41's one network of 256 it ranked the suite's broader samples better with fewer held-out
    false alarms (merit +0.0057, calibration 0.0010 better over 33 fits), a training step
    taking about one network's time at the suite's and speed.py's widths. Below 501 rows
    (d <= 10 there) the pair replaces the rows' rule of 2-4 networks on halves: on scratch
    seeds it ranked better there (n 250-480 from 100 rows per feature, d <= 4) and also
    calibrated better (n 120-450 with 50-99 rows per feature, d <= 8; one seed each).
    Past 160 features its layers after the first would be
    narrower than the input: there it ranked below round 41's one network of 256 in more
    time, which keeps those (round 44)."""
    return (is_auto(hidden_sizes) and deep_enough(n, n_features, directions)
            and n_features <= DEEP_WIDTH)


def members_reason(n: int, n_features: int, directions: int | None = None,
                   hidden_sizes: Sequence[int] | str = "auto") -> str:
    """Why `n_members="auto"` trains more than one network on n rows of n_features
    features, in words for a report: "at least 50 rows per feature" or "at least 25 rows
    per feature, 50 per principal direction and 501 rows" (`deep_pair`), "fewer
    than 10 rows per feature" (which wins where it holds with another: it is what gives 4
    or 8), "fewer than 50 rows per principal direction", "fewer than 501 rows" ("... and 50
    per feature" where 50 rows per feature would have trained the pair: "auto" widths, at
    most 160 features), or "" (one network). ValueError as `members_for_rows`."""
    if deep_pair(n, n_features, hidden_sizes, directions):
        if n >= DEEP_ROWS_PER_FEATURE * n_features:
            return f"at least {DEEP_ROWS_PER_FEATURE} rows per feature"
        return (f"at least {PAIR_ROWS_PER_FEATURE} rows per feature, {PAIR_ROWS_PER_DIRECTION} "
                f"per principal direction and {PAIR_MIN_ROWS} rows")
    if members_for_rows(n, n_features, directions) == 1:
        return ""
    if _few_rows_per_feature(n, n_features):
        return f"fewer than {MEMBERS_ROWS_PER_FEATURE} rows per feature"
    if members_for_rows(n) == 1:  # the rows alone give one: the directions gave eight
        return f"fewer than {MEMBERS_ROWS_PER_DIRECTION} rows per principal direction"
    # where 50 rows per feature would have trained the pair, they are the other half of why
    # (250 rows of 6 features: 4 networks; 300 of 6: the pair)
    pair_near = deep_pair(DEEP_ROWS_PER_FEATURE * n_features, n_features, hidden_sizes,
                          directions)
    return (f"fewer than {MEMBERS_ROWS // 2 + 1} rows"
            + (f" and {DEEP_ROWS_PER_FEATURE} per feature" if pair_near else ""))


def resolve_members(n_members: int | str, n: int, n_features: int,
                    directions: int | None = None,
                    hidden_sizes: Sequence[int] | str = "auto") -> int:
    """The networks a fit on n rows of n_features features trains, given MULDE's `n_members`
    and `hidden_sizes` settings: the number itself, or for "auto" `DEEP_MEMBERS` where
    `deep_pair(n, n_features, hidden_sizes)`, else `members_for_rows(n, n_features,
    directions)`."""
    if n_members != "auto":
        return int(n_members)
    if deep_pair(n, n_features, hidden_sizes, directions):
        return DEEP_MEMBERS
    return members_for_rows(n, n_features, directions)


def resolve_max_samples(max_samples: float | str, n_members: int, pair: bool = False) -> float:
    """The share of the fitted rows each of `n_members` networks trains on, given MULDE's
    `max_samples` setting: the number itself, or for "auto" all of them for one network and
    for round 43's pair (`pair`: `deep_pair` chose the members), and for another ensemble
    min(1/2, 2 / n_members) below `MEMBERS_THIN` (8) members: at most half of them
    (`BAG_SHARE`, a row in as many bags as not), a row in about two bags from four members
    on (`BAGS_PER_ROW`), so a half for 2-4 members (density-fidelity rounds 27-30); and
    1 / n_members from `MEMBERS_THIN` on, a row in about one bag: an eighth for 8.

    Why an eighth for the eight (round 46; round 31 had given them a quarter): the eight
    train where the rows are thin for their features or directions, where the held-out
    false alarms were worst; with a row fitted by about one of eight instead of two, its
    memorised part weighs half as much in their mean. Over 18 fits of fresh seeds the
    suite's merit rose 0.9134 -> 0.9169 and its calibration improved 0.0165 -> 0.0090
    (d-512 Gaussian false alarms 5.0 % -> 2.5 %, the d-512 circle's broader samples 0.80 ->
    0.87), at about 0.6x the fit time, since a member's loss takes only its bag's rows."""
    if max_samples == "auto":
        if n_members <= 1 or pair:
            return 1.0
        if n_members >= MEMBERS_THIN:
            return 1.0 / n_members
        return min(BAG_SHARE, BAGS_PER_ROW / n_members)
    return float(max_samples)


def resolve_ensemble(n_members: int | str, max_samples: float | str, n: int, n_features: int,
                     directions: int | None = None,
                     hidden_sizes: Sequence[int] | str = "auto") -> tuple[int, float]:
    """(networks, share of the rows each trains on) of a fit on n rows of n_features
    features, given MULDE's `n_members`, `max_samples` and `hidden_sizes` settings: the
    networks by `resolve_members`, their share by `resolve_max_samples`, with round 43's
    pair (`deep_pair`) decided once for both."""
    pair = n_members == "auto" and deep_pair(n, n_features, hidden_sizes, directions)
    members = resolve_members(n_members, n, n_features, directions, hidden_sizes)
    return members, resolve_max_samples(max_samples, members, pair)


THIN_WIDTH = 128
"""The width of the hidden layers after the first in each of the `MEMBERS_THIN` networks
that "auto" settings train on thin rows (issue 15, round 51; 256 before)."""


def widths_for_members(widths: Sequence[int], n_members: int,
                       hidden_sizes: Sequence[int] | str = "auto",
                       members_setting: int | str = "auto") -> tuple[int, ...]:
    """The hidden widths each of n_members networks is built with, given the widths resolved
    from MULDE's `hidden_sizes` setting (`mulde.core.network.resolve_hidden_sizes`), that
    setting and the `n_members` setting: where both are "auto" and the networks resolved are
    at least `MEMBERS_THIN` (the eight, each on an eighth of thin rows: `members_for_rows`,
    `resolve_max_samples`), the layers after the first `THIN_WIDTH` wide, the first kept (at
    least as wide as the input: round 28); else (networks or widths given, which round 51
    did not measure) the widths as they are.

    Why (benchmarks/density_fidelity.md, issue 15 round 51): of a d-512 fit's seconds the
    eight networks' second layer (512 x 256) took about a third of each training step's
    products and nearly all of scoring the training rows at the 16 noise levels (the first
    layer's product of x is shared by the levels). At 128, over the suite's six cases where
    the eight train on three fresh seeds, merit 0.9132 -> 0.9117 and calibration 0.0061 ->
    0.0063 (within the tolerances of a change made for time), and speed.py's d-512 fit took
    0.86x the seconds (issue 15's fit-time bound). Each network fits an eighth of the rows."""
    widths = tuple(int(w) for w in widths)
    auto = is_auto(hidden_sizes) and is_auto(members_setting)
    if auto and n_members >= MEMBERS_THIN and len(widths) > 1:
        return (widths[0], *(min(w, THIN_WIDTH) for w in widths[1:]))
    return widths


def learning_rate_at(step: int, total: int, config: TrainConfig) -> float:
    """The learning rate of optimiser step `step` (0-based) of `total`: config.lr throughout
    ("constant"), or cosine annealing to 0 over the run, lr (1 + cos(pi t / total)) / 2
    (Loshchilov & Hutter, "SGDR: stochastic gradient descent with warm restarts", ICLR 2017,
    without restarts). A function of the step alone, so a resumed run continues it exactly."""
    if config.lr_schedule == "constant":
        return config.lr
    if config.lr_schedule == "cosine":
        return config.lr * 0.5 * (1.0 + math.cos(math.pi * step / max(total, 1)))
    raise ValueError(f"lr_schedule must be one of {LR_SCHEDULES}, got {config.lr_schedule!r}")


def make_optimizer(params, config: TrainConfig) -> torch.optim.Optimizer:
    """Adam(lr, adam_betas) over params; with config.weight_decay = w > 0, AdamW: the
    decoupled decay p <- p (1 - lr w) at every step before Adam's update (Loshchilov & Hutter,
    "Decoupled weight decay regularization", ICLR 2019), applied to every parameter. Without
    data support a weight shrinks by exp(-lr w t) after t steps; w = 0 is plain Adam."""
    if config.weight_decay < 0:
        raise ValueError(f"weight_decay must be >= 0, got {config.weight_decay}")
    params = list(params)
    kind = torch.optim.AdamW if config.weight_decay else torch.optim.Adam
    return kind(params, lr=config.lr, betas=config.adam_betas,
                weight_decay=config.weight_decay, **_update_kernel(params))


FUSED_DEVICES = ("cpu", "cuda")
"""The devices whose parameters `make_optimizer` updates with PyTorch's fused Adam kernel
(one pass over each tensor's weight, gradient and moments; on a CPU since PyTorch 2.4)."""


def _update_kernel(params: list[torch.Tensor]) -> dict[str, bool]:
    """Adam's implementation for params: fused where every tensor is on a `FUSED_DEVICES`
    device and PyTorch has the kernel, else foreach (one call per operation over all tensors;
    PyTorch picks it by itself only on a GPU, and its per-tensor loop cost a two-member fit at
    d 34 about 7 % of its time). Fused Adam reads and writes each tensor once per step where
    foreach's several calls do so each: a step of the eight networks of d 512 (3.2 M weights)
    took 2.5 ms against 9.9 ms, the same update to float rounding (issue 15, stop 68)."""
    fused_cpu = tuple(int(v) for v in torch.__version__.split(".")[:2]) >= (2, 4)
    devices = {p.device.type for p in params}
    if devices and devices <= set(FUSED_DEVICES) and (fused_cpu or devices == {"cuda"}):
        return {"fused": True}
    return {"foreach": True}


VALIDATION_MIN_ROWS = 10
"""The fewest training rows of which `split_validation` holds any out: with fewer, a tenth
(the default fraction) would round to no row, and a row held out of so few is missed by
training more than it tells about the fit."""


VALIDATION_SHARE = 0.1
VALIDATION_SHARE_DEEP = 0.2


DEEP_DEPTH = 3
"""The hidden layers of round 41's deeper network (`mulde.core.network.widths_for_features`
builds it from 50 rows per feature, 100 before round 45, and up to 160 features from 25
on 501 rows or more with 50 per principal direction since rounds 58-59), with which "auto"
holds a fifth of the rows out."""


def validation_fraction_for_network(n: int, n_features: int, hidden_sizes: Sequence[int],
                                    directions: int | None = None) -> float:
    """The share of n training rows of n_features features that `MULDE(validation_fraction=
    "auto")` holds out for validation, for a network of the hidden widths `hidden_sizes` (the
    widths built: `mulde.core.network.resolve_hidden_sizes`): a fifth
    (`VALIDATION_SHARE_DEEP`) where the network is round 41's deeper one, at least
    `DEEP_DEPTH` (3) hidden layers fitted on enough rows (`deep_enough`: at least
    `mulde.core.network.DEEP_ROWS_PER_FEATURE` (50) per feature, or 25 per feature from 501
    rows up to 160 features with 50 per counted principal direction: rounds 58-59), as
    "auto" widths build there; else a tenth
    (`VALIDATION_SHARE`).

    Why (benchmarks/density_fidelity.md, issue 15 round 41 and its follow-up): the held-out
    rows are never fitted, so they score as new normal samples do, and with more of them the
    validation loss that picks the kept weights is less noisy; the third layer alone raised
    the false-alarm rate of held-out normal samples (round 40), the two together passed the
    suite's rule on fresh seeds (T5). A fifth held out of a two-layer network on the same rows
    cost ranking against a tenth (round 41's V2 against the then default), so two layers keep
    a tenth also on many rows, widths given explicitly too. Three layers given explicitly on
    fewer rows than that keep a tenth: no round ran them with a fifth.
    ValueError for n or n_features < 1."""
    if n < 1 or n_features < 1:
        raise ValueError(f"need at least 1 training row and 1 feature, got {n} rows of "
                         f"{n_features} features")
    deep = len(hidden_sizes) >= DEEP_DEPTH and deep_enough(n, n_features, directions)
    return VALIDATION_SHARE_DEEP if deep else VALIDATION_SHARE


def resolve_validation_fraction(fraction: float | str, n: int, n_features: int,
                                hidden_sizes: Sequence[int],
                                directions: int | None = None) -> float:
    """MULDE's `validation_fraction` for n rows of n_features features (of `directions`
    principal directions, None where not counted) and a network of the hidden widths
    `hidden_sizes` (those built): `validation_fraction_for_network` for "auto", else the
    fraction given. ValueError for any other string."""
    if isinstance(fraction, str):
        if fraction != "auto":
            raise ValueError(f'validation_fraction must be "auto" or a number in [0, 1), got '
                             f"{fraction!r}")
        return validation_fraction_for_network(n, n_features, hidden_sizes, directions)
    return float(fraction)


def validation_rows(n: int, fraction: float) -> int:
    """How many of n training rows `split_validation` holds out: round(n * fraction), at
    most n - 1, and none from fewer than `VALIDATION_MIN_ROWS`."""
    n_val = int(round(n * fraction)) if n >= VALIDATION_MIN_ROWS else 0
    return max(min(n_val, n - 1), 0)


def split_validation(n: int, fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Return (train_idx, val_idx): a seeded random split keeping >= 1 training row; no
    validation rows from fewer than `VALIDATION_MIN_ROWS` (`validation_rows` of them)."""
    n_val = validation_rows(n, fraction)
    perm = torch.randperm(n, generator=_generator(seed, -1, torch.device("cpu")))
    return perm[n_val:], perm[:n_val]


def bag_size(n_train: int, max_samples: float) -> int | None:
    """The rows each member's bag holds of n_train training rows (`member_bags`):
    round(max_samples * n_train), at least 1; None for max_samples 1 (no bags: every member
    trains on every row)."""
    return None if max_samples >= 1.0 else max(1, int(round(max_samples * n_train)))


def member_bags(n_train: int, n_members: int, max_samples: float, seed: int
                ) -> torch.Tensor | None:
    """Which training rows each member of the network trains on: (n_train, n_members) bool,
    member m's column marking round(max_samples * n_train) rows (at least 1) drawn without
    replacement from a generator seeded by (seed, m), so each member gets its own draw; None
    for max_samples 1 (every member trains on every row).

    Subsampled members (bagging: Breiman 1996, "Bagging predictors"; without replacement as
    scikit-learn's `BaggingRegressor(max_samples=..., bootstrap=False)`) memorise different
    rows, so the ensemble's mean energy holds less of what each one memorised than members
    that all see the same rows (issue 15, rounds 25 and 27 of the density-fidelity suite,
    benchmarks/density_fidelity.md)."""
    size = bag_size(n_train, max_samples)
    if size is None:
        return None
    bags = torch.zeros((n_train, n_members), dtype=torch.bool)
    for m in range(n_members):
        g = _generator(seed, -3 - m, torch.device("cpu"))
        bags[torch.randperm(n_train, generator=g)[:size], m] = True
    return bags


def training_bags(n_rows: int, n_members: int, max_samples: float, validation_fraction: float,
                  seed: int) -> torch.Tensor | None:
    """Which of the n_rows rows given to `train_energy` each of `n_members` members trained
    on, (n_rows, n_members) bool: `member_bags` over the rows `split_validation` kept for
    training, in the fitted rows' order (the rows held out for validation in no bag), as
    `train_energy` draws them with `TrainConfig(max_samples, validation_fraction, seed)`;
    None where every member trained on every training row (max_samples 1)."""
    train_idx, _ = split_validation(n_rows, validation_fraction, seed)
    bags = member_bags(len(train_idx), n_members, max_samples, seed)
    if bags is None:
        return None
    in_bag = torch.zeros((n_rows, n_members), dtype=torch.bool)
    in_bag[train_idx] = bags
    return in_bag


@dataclass(frozen=True)
class LatticeCells:
    """The lattice cells of q quantised columns, in the network's coordinates (`MULDE(
    dequantise=True)`, `mulde.estimator.columns.quantisation_steps`): `columns` (q,) int64,
    the columns; `widths` (q,) float, each one's step h_j divided by the column's scale;
    `mixing` (q, d), the rows of the whitening matrix of those columns, or None without
    whitening (each column then moves alone)."""

    columns: torch.Tensor
    widths: torch.Tensor
    mixing: torch.Tensor | None = None

    def identity(self) -> dict:
        """What a checkpoint records of them (`train_energy`): the count and the sums, to 6
        significant digits."""
        out = {"columns": int(self.columns.numel()),
               "sum": float(f"{float(self.widths.double().sum()):.6g}")}
        if self.mixing is not None:
            out["mixing_sum"] = float(f"{float(self.mixing.double().abs().sum()):.6g}")
        return out


def dequantised(x: torch.Tensor, cells: LatticeCells | None, g: torch.Generator
                ) -> torch.Tensor:
    """Rows x (m, d) each moved uniformly within its lattice cells: shift = (u - 1/2) *
    widths, u uniform on [0, 1)^q drawn from g, added to the quantised columns (or shift @
    mixing to every coordinate, when the rows are whitened); a new tensor. x itself when
    cells is None (no quantised column), and g is then not drawn from."""
    if cells is None:
        return x
    u = torch.rand((x.shape[0], cells.widths.numel()), generator=g, device=x.device,
                   dtype=x.dtype)
    shift = (u - 0.5) * cells.widths
    if cells.mixing is not None:
        return x + shift @ cells.mixing
    out = x.clone()
    out[:, cells.columns] += shift
    return out


def systematic_draws(weights: torch.Tensor, m: int, g: torch.Generator) -> torch.Tensor:
    """Indices (m,) int64 of m draws from rows of non-negative `weights` (n,) (not all zero),
    in random order: systematic resampling (one uniform offset u, the draws at (u + j) / m of
    the weights' cumulative share, j = 0..m-1; Kitagawa 1996, "Monte Carlo filter and
    smoother for non-Gaussian nonlinear state space models"), so row i is drawn
    floor(m w_i / sum w) or one more times: each row's expected count is that of m
    independent draws, with far less variance (equal weights and m = n: every row once, a
    permutation). ValueError where the weights are negative, not finite or all zero."""
    w = weights.detach().double().cpu()
    if not (torch.isfinite(w).all() and (w >= 0).all() and w.sum() > 0):
        raise ValueError("row weights must be finite, non-negative and not all zero")
    edges = torch.cumsum(w, 0)
    edges = edges / edges[-1]  # the last edge 1 exactly (a sum in another order: 1 - 3e-15)
    points = (torch.rand(1, generator=g, dtype=torch.float64)
              + torch.arange(m, dtype=torch.float64)) / m
    # a point that rounds to 1 (u near 1, m large) goes to the last row of positive weight,
    # never to a row of weight 0 after it
    last = int(torch.nonzero(w).max())
    idx = torch.searchsorted(edges, points, right=True).clamp_(max=last)
    return idx[torch.randperm(m, generator=g)]


def _validation_loss(net: EnergyNetwork, loss_fn: DSMLoss, x_val: torch.Tensor,
                     schedule: NoiseSchedule, seed: int, repeats: int = VALIDATION_REPEATS,
                     cells: LatticeCells | None = None, draws: str = "shared") -> float:
    """DSM loss on the validation rows with noise (and dequantisation, with `cells`) fixed
    by the seed (comparable across steps).

    draws "shared": `repeats` copies of the rows, each with its own noise draw, every member
    of an ensemble on the same draws (its loss the members' mean, `DSMLoss`). "per_member":
    member j (of M) on max(1, repeats // M) copies with draws of its own (stream -2 - 1000 j:
    member 0's is the shared draws' stream), the loss the mean of the members' losses.
    "shares": member j on rows j, j + M, j + 2M, ... of x_val, one copy, the same streams,
    where x_val has at least `SHARE_MIN_ROWS` rows per member, else as "per_member". One
    network is validated as with "shared", to the bit. ValueError for another `draws`."""
    if draws not in VALIDATION_DRAWS_KINDS:
        raise ValueError(f"validation draws must be one of {VALIDATION_DRAWS_KINDS}, "
                         f"got {draws!r}")
    members = (net.members if draws != "shared" and isinstance(net, EnergyEnsemble)
               else None)
    was_training = net.training
    net.eval()
    try:
        if not members:
            return _noisy_loss(net, loss_fn, x_val, schedule, _generator(seed, -2, x_val.device),
                               repeats, cells)
        m = len(members)
        shares = draws == "shares" and len(x_val) >= SHARE_MIN_ROWS * m
        copies = 1 if shares else max(1, repeats // m)
        return float(np.mean([
            _noisy_loss(member, loss_fn, x_val[j::m] if shares else x_val, schedule,
                        _generator(seed, -2 - 1000 * j, x_val.device), copies, cells)
            for j, member in enumerate(members)]))
    finally:
        net.train(was_training)


def _noisy_loss(net: EnergyNetwork, loss_fn: DSMLoss, x_val: torch.Tensor,
                schedule: NoiseSchedule, g: torch.Generator, repeats: int,
                cells: LatticeCells | None) -> float:
    """`loss_fn` of net on `repeats` copies of x_val, noise levels, noise and dequantisation
    drawn from g in that order, in chunks of 4,096 rows; the mean over the rows."""
    x = x_val.repeat(repeats, 1)
    sigma = schedule.sample(x.shape[0], g, x.device)
    eps = torch.randn(x.shape, generator=g, device=x.device)
    x = dequantised(x, cells, g)
    total, n = 0.0, x.shape[0]
    for i in range(0, n, 4096):
        sl = slice(i, i + 4096)
        loss = loss_fn(net, x[sl], sigma[sl], eps[sl], create_graph=False)
        total += loss.item() * x[sl].shape[0]
    return total / n


def _takes_keyword(fn: Any, name: str) -> bool:
    """Whether the callable fn takes the keyword argument `name` (or any, by **kwargs)."""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):  # no signature to read: assume it does
        return True
    return any(p.name == name or p.kind is p.VAR_KEYWORD for p in params)


def train_energy(net: EnergyNetwork, x: torch.Tensor, schedule: NoiseSchedule, loss_fn: DSMLoss,
                 config: TrainConfig, checkpoint_dir: Path | None = None,
                 progress: bool = False, cells: LatticeCells | None = None,
                 seed_said: str | None = None,
                 row_weights: torch.Tensor | None = None) -> TrainResult:
    """Train net on standardised normal data x (n, d) in place; return the run's history.
    The CPU flushes subnormal floats to zero meanwhile (`flushed_denormals`: a fit ran up to
    twice as slow without).

    cells: the lattice cells of q quantised columns in x's coordinates: every
    step's rows, and the validation rows, are dequantised (`dequantised`) before noise is
    added; None (the default) trains on the rows as given.

    row_weights: None (every row alike: each epoch a permutation of the training rows) or
    (n,) non-negative importance weights of x's rows, not all zero among the training rows
    (`mulde.estimator.reweighting`): each epoch draws its n_train rows in proportion to
    their weights (`systematic_draws`), and the validation rows are drawn once so from
    theirs (the validation loss then estimates the weighted one); the loss stays a plain
    mean over each batch.

    With validation (validation_fraction > 0 and n >= 10), the weights with the lowest
    validation loss (loss_fn on the held-out rows, its time-score term included) are kept
    (early stopping after `patience` evaluations without improvement). With ema_decay, the
    exponential moving average of the weights (decay `ema_decay_at`) is validated and kept.
    With checkpoint_dir, state is saved every checkpoint_every steps and a run finding a
    checkpoint there resumes from it (one of another configuration is refused:
    `mulde.core.checkpoint.load_checkpoint`). seed_said: what that refusal says of a seed
    that differs, where the caller drew config.seed from a setting of its own (`MULDE`: its
    random_state), in place of the two seeds; None: the seeds.
    """
    with flushed_denormals():
        return _train_energy(net, x, schedule, loss_fn, config, checkpoint_dir, progress, cells,
                             seed_said, row_weights)


def _train_energy(net: EnergyNetwork, x: torch.Tensor, schedule: NoiseSchedule,
                  loss_fn: DSMLoss, config: TrainConfig, checkpoint_dir: Path | None,
                  progress: bool, cells: LatticeCells | None,
                  seed_said: str | None, row_weights: torch.Tensor | None = None) -> TrainResult:
    """`train_energy`'s work, with subnormals flushed."""
    device = x.device
    train_idx, val_idx = split_validation(x.shape[0], config.validation_fraction, config.seed)
    x_train, x_val = x[train_idx.to(device)], x[val_idx.to(device)]
    n_train = x_train.shape[0]
    w_train = None
    if row_weights is not None:
        w = row_weights.double().cpu()
        w_train = w[train_idx]
        if len(val_idx):
            pick = systematic_draws(w[val_idx], len(val_idx),
                                    _generator(config.seed, _VALIDATION_DRAWS_STREAM,
                                               torch.device("cpu")))
            x_val = x_val[pick.to(device)]
    batch = config.rows_per_step(n_train)
    steps_per_epoch = math.ceil(n_train / batch)
    total = config.total_steps(n_train)

    opt = make_optimizer(net.parameters(), config)
    ema = copy.deepcopy(net).requires_grad_(False) if config.ema_decay else None
    kept = ema if ema is not None else net  # the weights that are validated and returned
    ema_params = list(ema.parameters()) if ema is not None else []
    net_params = list(net.parameters())  # a deep copy's parameters, in the same order
    trainable = [p for p in net_params if p.requires_grad]
    state = {"step": 0, "best_val": math.inf, "best_step": 0, "bad_evals": 0, "history": []}
    best = copy.deepcopy(kept.state_dict())
    identity = _checkpoint_config(config, x, schedule, loss_fn, net, cells, row_weights)
    resumed_from = None
    if checkpoint_dir is not None:
        ckpt = Path(checkpoint_dir) / CHECKPOINT_NAME
        if ckpt.exists():
            # one network is validated alike by either kind of draws (older files name none)
            alike = () if isinstance(net, EnergyEnsemble) else ("validation_draws",)
            state, best = load_checkpoint(ckpt, net, ema, opt, identity, _LEFT_OUT, alike,
                                          {"seed": seed_said} if seed_said else None,
                                          unsettable=("validation_draws",),
                                          # the cells follow the data, the library's rule
                                          # (round 52 added flags') and the columns a
                                          # dequantise list names; the row weights, MULDE's
                                          # reweight="modes" mixture of the data
                                          set_by={"lattice_cells": "dequantise",
                                                  "row_weights": "reweight"})
            resumed_from = state["step"]

    n_members = len(net.members) if hasattr(net, "members") else 1
    bags = member_bags(n_train, n_members, config.max_samples, config.seed)
    lacking = [name for name, used in (("rows", bags is not None),
                                       ("antithetic", config.antithetic))
               if used and not _takes_keyword(loss_fn, name)]
    if lacking:  # said before training, not as a TypeError at the first step
        raise TypeError(f"loss_fn takes no {' or '.join(lacking)}= keyword, which this "
                        "training passes it (members on bags of the rows: max_samples < 1; "
                        "antithetic draws); use mulde.core.DSMLoss, or a loss that takes it")
    stopped_early = False
    perm = None
    bar = tqdm(total=total, initial=state["step"], disable=not progress, desc="training",
               unit="step", leave=False)
    while state["step"] < total:
        step = state["step"]
        epoch, pos = divmod(step, steps_per_epoch)
        if perm is None or pos == 0:
            gp = _generator(config.seed, 2 * epoch + 1, torch.device("cpu"))
            perm = (torch.randperm(n_train, generator=gp) if w_train is None else
                    systematic_draws(w_train, n_train, gp))
        idx = perm[pos * batch:(pos + 1) * batch].to(device)
        g = _generator(config.seed, 2 * step + 2, device)
        xb = x_train[idx]
        sigma = schedule.sample(xb.shape[0], g, device)
        eps = torch.randn(xb.shape, generator=g, device=device)
        xb = dequantised(xb, cells, g)
        rows = None if bags is None else bags[idx.cpu()].to(device)
        # keywords only where set (`DSMLoss`'s; a loss_fn of (net, x, sigma, eps) alone
        # trains one network on single draws)
        options = {**({"rows": rows} if rows is not None else {}),
                   **({"antithetic": True} if config.antithetic else {})}
        loss = loss_fn(net, xb, sigma, eps, **options)
        for group in opt.param_groups:
            group["lr"] = learning_rate_at(step, total, config)
        opt.zero_grad(set_to_none=True)
        # the weights' gradients only: the noisy rows are a leaf of the graph (the score is
        # f's gradient in them), and a plain backward would also fill theirs, a product the
        # size of the first layer's (about 7 % of a step at d 512), for nothing
        torch.autograd.backward(loss, inputs=trainable)
        if rows is None or bool(rows.any()):  # a batch of no member's rows moves no weight
            opt.step()                         # (Adam's momentum and decay would)
        if ema is not None:
            decay = ema_decay_at(step, config.ema_decay)
            with torch.no_grad():  # one call over all tensors: the same as a lerp_ each
                # (bit for bit on a CPU; the op torch.optim.swa_utils' EMA uses too)
                torch._foreach_lerp_(ema_params, net_params, 1 - decay)
        state["step"] = step = step + 1
        bar.update(1)
        record: dict[str, float] = {}
        if len(x_val) and (step % config.eval_every == 0 or step == total):
            val = _validation_loss(kept, loss_fn, x_val, schedule, config.seed, cells=cells,
                                   draws=config.validation_draws)
            record = {"step": step, "train_loss": loss.item(), "val_loss": val}
            if val < state["best_val"]:
                state.update(best_val=val, best_step=step, bad_evals=0)
                best = copy.deepcopy(kept.state_dict())
            else:
                state["bad_evals"] += 1
            bar.set_postfix(loss=f"{loss.item():.4f}", val=f"{val:.4f}")
        elif step % config.eval_every == 0 or step == total:
            record = {"step": step, "train_loss": loss.item()}
        if record:
            state["history"].append(record)
        if (config.patience is not None and state["bad_evals"] >= config.patience
                and step < total):
            stopped_early = True
        if checkpoint_dir is not None and (step % config.checkpoint_every == 0 or stopped_early
                                           or step == total):
            save_checkpoint(Path(checkpoint_dir) / CHECKPOINT_NAME, net, ema, opt, state,
                            best, identity)
        if stopped_early:
            break
    bar.close()

    if len(x_val):
        net.load_state_dict(best)
    elif ema is not None:
        net.load_state_dict(ema.state_dict())
    best_val = state["best_val"] if len(x_val) else None
    return TrainResult(steps=state["step"], best_step=state["best_step"] if len(x_val)
                       else state["step"], best_val_loss=best_val, stopped_early=stopped_early,
                       history=state["history"], lr=float(config.lr), n_members=n_members,
                       max_samples=float(config.max_samples),
                       validation_fraction=float(config.validation_fraction)
                       if len(x_val) else 0.0, resumed_from=resumed_from)
