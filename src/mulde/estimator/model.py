"""The scikit-learn estimator `MULDE` over (n, d) feature arrays."""

from __future__ import annotations

import contextlib
import functools
import json
import math
import os
import re
import time
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, fields
from numbers import Integral, Real
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator, OutlierMixin
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, InvalidParameterError, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from mulde.core import (
    DSMLoss,
    EnergyNetwork,
    NoiseSchedule,
    Regulariser,
    Spacing,
    TrainConfig,
    TrainResult,
    device_problem,
    energy_network,
    largest_distance_sigma,
    multiscale_energy,
    nearest_neighbour_sigma,
    resolve_device,
    train_energy,
)
from mulde.core.base import BASES, PRECONDITIONS, base_rank
from mulde.core.checkpoint import CHECKPOINT_FOLDER
from mulde.core.device import is_device_name
from mulde.core.network import NOISE_INPUTS, are_widths, resolve_hidden_sizes
from mulde.core.scoring import member_multiscale_energy, out_of_bag_energies
from mulde.core.training import (
    LR_SCHEDULES,
    VALIDATION_MIN_ROWS,
    LatticeCells,
    bag_size,
    is_auto,
    resolve_ensemble,
    resolve_lr,
    resolve_validation_fraction,
    rule_directions,
    split_validation,
    training_bags,
    validation_rows,
    widths_for_members,
)
from mulde.core.training import dequantised as dequantised_rows
from mulde.estimator.aggregation import (
    HELD_OUT_CHOOSING,
    LEVEL_COMPARING,
    Aggregation,
    aggregate,
    fit_aggregator,
)
from mulde.estimator.atoms import (
    ATOM_MIN_COUNT,
    atom_counts,
    atom_index,
    atom_offset,
    atom_scores,
    count_atoms,
)
from mulde.estimator.columns import (
    constant_columns,
    given_precision,
    mean_std,
    named_columns,
    quantisation_steps,
)
from mulde.estimator.persistence import (
    ModelFileError,
    cut,
    model_file,
    read_model_file,
    save_arrays,
    shown,
    whole_number,
)
from mulde.estimator.presets import ESTIMATOR_PRESETS
from mulde.estimator.reweighting import AUTO_MAX_FEATURES as REWEIGHT_AUTO_MAX_FEATURES
from mulde.estimator.reweighting import MAX_MODE_GAIN, ModeMixture, fit_mode_mixture
from mulde.estimator.reweighting import MIN_ROWS as REWEIGHT_MIN_ROWS
from mulde.estimator.tables import dataframe_problem, index_columns, numeric_frame
from mulde.estimator.whitening import WHITENINGS, ledoit_wolf_whitening
from mulde.io.atomic import ensure_writable
from mulde.io.jsonable import json_default
from mulde.suggest import closest

# The training settings' defaults are TrainConfig's: defined there once, read here.
_TRAIN = TrainConfig()


class DeviceFallbackWarning(UserWarning):
    """`MULDE.load` of a model saved with a `device` setting this machine cannot use (a
    "cuda" on a CPU-only machine): the loaded model's setting is "auto" instead, so that a
    refit (`clone(model).fit`, a grid search) runs here rather than being refused."""


class FieldedWarning(UserWarning):
    """A warning of the estimator that carries its numbers as fields (`FIELDS`, given to its
    constructor, which composes the text). `from_message` makes one that says a text
    already composed, every field None: a warning read back where its fields did not travel
    (a fit cache entry, a trained pipeline's manifest: `mulde.vad.fit_warnings`). Pickled
    and copied with its fields, or with its text alone when made `from_message`."""

    FIELDS: tuple[str, ...] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Let `cls(text)` remake a warning from its text alone where the constructor cannot
        take it (pytest-xdist remakes a worker's warning as `cls(*warning.args)`, the text:
        a format of a number field failed on it and stopped the whole test run)."""
        super().__init_subclass__(**kwargs)
        made = cls.__dict__.get("__init__")
        if made is None:
            return

        @functools.wraps(made)
        def __init__(self, *args: Any, **kw: Any) -> None:
            try:
                made(self, *args, **kw)
            except (TypeError, ValueError):
                if len(args) != 1 or kw or not isinstance(args[0], str):
                    raise
                self._say_only(args[0])

        cls.__init__ = __init__

    @classmethod
    def from_message(cls, message: str) -> FieldedWarning:
        """A warning of this class that says `message`, its fields None."""
        made = cls.__new__(cls, message)
        made._say_only(message)
        return made

    def _say_only(self, message: str) -> None:
        """Make this warning say `message`, every field None (`from_message`)."""
        self.args = (message,)
        for field in self.FIELDS:
            setattr(self, field, None)
        self._message_only = True

    def __reduce__(self):  # pickled (a worker process's warning) with its fields
        if vars(self).get("_message_only"):
            return _said_again, (type(self), str(self))
        return type(self), tuple(getattr(self, field) for field in self.FIELDS)


def _is_flag(dequantise: object) -> bool:
    """Whether a `dequantise` value is the flag (True or False, a numpy bool too), not a
    list of columns (nor one column given alone, which `check_params` refuses)."""
    return isinstance(dequantise, (bool, np.bool_))


def flag_meant(dequantise: object) -> bool | None:
    """The flag a `dequantise` value written as one word or number means where a flag was
    likely meant (0, 1, "false", "true", any case; a config file's or a JSON line's way of
    writing it), else None (a column name, another number, a list, True or False)."""
    if isinstance(dequantise, (list, tuple, np.ndarray)) or _is_flag(dequantise):
        return None
    return {"0": False, "1": True, "false": False, "true": True}.get(str(dequantise).lower())


def _said_again(category: type[FieldedWarning], message: str) -> FieldedWarning:
    """Unpickle a `FieldedWarning` made `from_message`."""
    return category.from_message(message)


class ConstantFeaturesWarning(FieldedWarning):
    """Some features have one value in every training sample: `n_constant` of the
    `n_features`, the first at column `first` (0-based), named `name` when fitted on a
    DataFrame (else None). One value up to float rounding: the values lie within 32 float64
    epsilons (about 7e-15) times the column's largest magnitude of one another
    (`mulde.estimator.columns.constant_columns`). They are centred but not scaled
    (there is no spread to scale by), so a sample that differs there is scored by the raw
    size of the difference."""

    FIELDS = ("n_constant", "n_features", "first", "name")

    def __init__(self, n_constant: int, n_features: int, first: int,
                 name: str | None = None) -> None:
        self.n_constant, self.n_features, self.first = n_constant, n_features, first
        self.name = name
        one = n_constant == 1
        where = f"column {first}, counting from 0" if name is None else f"column {name!r}"
        super().__init__(
            f"{n_constant} of the {n_features} features {'has' if one else 'have'} the same "
            f"value in every training sample ({'' if one else 'the first: '}{where}); they are "
            "centred but not scaled, so a sample that differs there scores as more anomalous "
            "by the raw size of the difference")


class UndequantisedColumnsWarning(FieldedWarning):
    """`dequantise` named columns (a list) that the rule gives no cell, so they train as
    given: `columns`, 0-based, named `names` when fitted on a DataFrame (else None). Cells go
    to columns on a lattice, flags whose rarer value about 7 % of the rows or more hold
    (a rarer flag's half-gap cell is wider than the two-standard-deviation bound) and
    columns with a point mass (`mulde.estimator.columns.quantisation_steps`); continuous
    columns and rare flags get none, named or not."""

    FIELDS = ("columns", "names")

    def __init__(self, columns: Sequence[int], names: Sequence[str] | None = None) -> None:
        if isinstance(columns, str):  # its text alone (`FieldedWarning` remakes it from that)
            raise TypeError("columns must be column indices")
        self.columns, self.names = list(columns), None if names is None else list(names)
        shown = ([repr(n) for n in self.names] if self.names is not None
                 else [f"column {j}" for j in self.columns])
        listed = ", ".join(shown[:5]) + (f", ... ({len(shown)} in all)" if len(shown) > 5
                                         else "")
        super().__init__(
            f"dequantise names {listed}, which the rule gives no cell, so "
            f"{'it trains' if len(shown) == 1 else 'they train'} as given: cells go to "
            "columns on a lattice, flags whose rarer value about 7 % of the rows or more "
            "hold, and columns with a point mass (not to continuous columns or rarer flags); "
            "leave them out of the list to silence this")


class IndexColumnWarning(FieldedWarning):
    """`fit` was given a DataFrame with a column that looks like a row index, not a feature
    (`mulde.estimator.tables.index_columns`): `name`, which counts the `n` rows from `first`
    (0 or 1: a row index or id written as a column), or, not `ordered`, holds each whole
    number from `first` to `first` + n - 1 once in another order (an id of rows shuffled
    since, or numbered from elsewhere), or, `first` None, bears the name pandas
    gives a CSV column without a header name ("Unnamed: 0": the index column that
    `DataFrame.to_csv` writes, read back by `pd.read_csv` without `index_col=0`). It is
    fitted as a feature all the same (a caller may mean it), so new rows would look anomalous
    by their number; `mulde fit` says the same of a CSV file's column."""

    FIELDS = ("name", "first", "n", "ordered")

    def __init__(self, name: Any, first: int | None, n: int, ordered: bool = True) -> None:
        self.name, self.first, self.n, self.ordered = name, first, n, ordered
        what = ("is pandas' name for a column without a header name, such as the index "
                "column that DataFrame.to_csv writes" if first is None else
                f"counts the rows ({first}, {first + 1}, ..., {first + n - 1})" if ordered
                else f"holds each whole number from {first} to {first + n - 1} once")
        super().__init__(
            f"X: column {name!r} {what}: a row index or id, not a feature, yet fitted as one "
            f"(new rows would look anomalous by their number); drop it (X.drop(columns="
            f"{name!r})), or read a CSV written with its index by pd.read_csv(path, "
            "index_col=0)")


class FewSamplesWarning(FieldedWarning):
    """A fit on `n` training samples, fewer than `minimum` (`VALIDATION_MIN_ROWS`, 10): the
    threshold is where training starts to hold rows out for validation, so below it training
    neither validates nor stops early, `threshold_on="validation"` and the aggregators
    "mean_energy_validated", "cv_level" and "stacked" have no held-out rows to work with (the
    threshold falls back to the training rows, the aggregators to "mean_energy"), and a
    density fitted to a handful of points says little about new ones."""

    FIELDS = ("n", "minimum", "aggregator")

    def __init__(self, n: int, minimum: int, aggregator: str | None = None) -> None:
        self.n, self.minimum, self.aggregator = n, minimum, aggregator
        chosen = ("" if aggregator is None else
                  f"; aggregator={aggregator!r} scores as 'mean_energy'")
        super().__init__(
            f"fitting on only {n} training samples, fewer than {minimum}: none is held out "
            "for validation (no early stopping; threshold_on='validation' falls back to the "
            f"training samples{chosen}), a density fitted to so few points says little "
            "about new ones, and predict flags the least normal training sample whatever "
            "the contamination (the quantile of so few scores lies above its score); fit on "
            "more normal samples")


def _held_out_rank(fraction: float, n_held: int) -> int:
    """k of `MULDE._set_offset`'s split-conformal threshold on n_held validation rows (the
    k-th lowest normality): floor(fraction * (n_held + 1)); 0 when too few to flag any."""
    return int(np.floor(fraction * (n_held + 1) + 1e-9))


def smallest_contamination(n_held: int) -> float:
    """The smallest contamination, rounded up to two significant digits, with which n_held
    (>= 1) validation rows flag anything: `_held_out_rank` >= 1 needs fraction >= 1 /
    (n_held + 1)."""
    bound = 1.0 / (n_held + 1)
    scale = 10.0 ** (1 - math.floor(math.log10(bound)))
    return math.ceil(bound * scale - 1e-9) / scale


class FewValidationRowsWarning(FieldedWarning):
    """`threshold_on="validation"` (or "out_of_bag" where every network trains on every row,
    so that the held-out rows are the only ones out of a bag) with fewer validation rows than
    the promise needs (1 / fraction - 1 of them; 99 for the default 1 %): `predict` can flag
    no sample and keep it. Said by `fit` (before training, with the count and `bagged`:
    whether the networks train on bags of the rows already, where the advice is
    threshold_on="out_of_bag" alone) and again by `predict` (with `bagged`, from the
    model's training record). `out_of_bag`: threshold_on="out_of_bag" was asked and fell
    back to the validation rows (no network trained on a bag), which the message says first
    (it read as advice to set what was set)."""

    FIELDS = ("fraction", "n_held", "bagged", "out_of_bag")

    def __init__(self, fraction: float, n_held: int | None = None,
                 bagged: bool = False, out_of_bag: bool = False) -> None:
        self.fraction, self.n_held, self.bagged = fraction, n_held, bagged
        self.out_of_bag = out_of_bag
        bags = ("set threshold_on='out_of_bag' (the networks train on bags of the rows "
                "already)" if bagged else "train on bags of the rows (max_samples < 1)"
                + ("" if out_of_bag else " with threshold_on='out_of_bag'"))
        held = "" if n_held is None else f"{n_held} "
        least = (f" to at least {smallest_contamination(n_held):g} (what {n_held} rows can "
                 "promise)" if n_held else "")
        fell_back = ("threshold_on='out_of_bag' finds no training sample out of a bag but the "
                     "validation rows (each network trains on all the rows not held out), so "
                     "the threshold is set on those; " if out_of_bag else "")
        super().__init__(
            f"{fell_back}the {held}validation rows held out of training are too few to flag "
            f"at most {fraction:g} of new normal samples (it takes "
            f"{int(np.ceil(1 / fraction - 1))} validation rows): predict flags none; fit on "
            "more samples, raise contamination"
            f"{least} or validation_fraction, {bags}, which then thresholds nearly every "
            "training row's out-of-bag score, or threshold the anomaly scores yourself (MULDE's "
            "anomaly_score, PyODMULDE's decision_function; MULDE's decision_function is +inf "
            "for every sample then)")


class NoValidationWarning(FieldedWarning):
    """A fit on 10 or more samples whose `validation_fraction` holds none of them out, with
    settings that need validation rows: `aggregator` "mean_energy_validated", "cv_level" or
    "stacked" then scores as "mean_energy" (every level, none chosen), and/or
    `threshold_on="validation"` sets the threshold on the training samples (in-sample, no
    promise about new ones). Fewer than 10 samples warn with `FewSamplesWarning` instead."""

    FIELDS = ("fraction", "aggregator", "threshold")

    def __init__(self, fraction: float, aggregator: str | None, threshold: bool) -> None:
        self.fraction, self.aggregator, self.threshold = fraction, aggregator, threshold
        lost = []
        if aggregator is not None:
            lost.append(f"aggregator={aggregator!r} has no rows to choose its levels on and "
                        "scores as 'mean_energy'")
        if threshold:
            lost.append("threshold_on='validation' sets the threshold on the training samples")
        super().__init__(
            f"validation_fraction={fraction:g} holds out no training sample, so "
            f"{' and '.join(lost)}; set validation_fraction > 0 (the default \"auto\" holds "
            "out a tenth, or a fifth of three layers from 50 rows per feature, or 25 from "
            "501 rows with 50 per principal direction)")


class NoOutOfBagRowsWarning(FieldedWarning):
    """`threshold_on="out_of_bag"` on a fit where every network trains on every training row
    and no row is held out for validation (said before training): no row is out of any bag,
    so the threshold is set on the training samples (in-sample), as
    `threshold_on="training"` sets it."""

    FIELDS = ("n_members",)

    def __init__(self, n_members: int) -> None:
        self.n_members = n_members
        networks = "the network" if n_members == 1 else f"each of the {n_members} networks"
        super().__init__(
            f"threshold_on='out_of_bag' finds no training sample out of a bag ({networks} "
            "trains on every row and none is held out for validation), so the threshold is "
            "set on the training samples; hold rows out (validation_fraction > 0) or train "
            "on bags of the rows (max_samples < 1)")


class FewRowsToReweightWarning(FieldedWarning):
    """reweight="modes" or "separated_modes" (`reweight`) on `n` rows, fewer than `minimum`
    (`mulde.estimator.reweighting.MIN_ROWS`, 1,000, the validation split counted): the
    modes' masses are not estimated from so few rows, so the fit is the unweighted one
    (`mode_mixture_` None), as reweight=None fits. Said before training, so that the
    setting a user asked for is not dropped unsaid."""

    FIELDS = ("n", "minimum", "reweight")

    def __init__(self, n: int, minimum: int, reweight: str = "modes") -> None:
        self.n, self.minimum, self.reweight = n, minimum, reweight
        super().__init__(
            f"reweight={reweight!r} needs at least {minimum:,} training samples to estimate the "
            f"modes' masses and got {n:,}: this fit is the unweighted one (reweight=None); "
            "fit on more normal samples, or leave reweight at its default 'auto' (which fits "
            "unweighted below that, unsaid)")


class UnseededCheckpointWarning(FieldedWarning):
    """A fit with a `checkpoint_dir` and random_state=None: each fit draws another seed (from
    numpy's global RandomState), so a rerun is refused the checkpoint this one writes (a
    `CheckpointMismatchError` naming random_state) and never resumes it. Said before
    training."""

    FIELDS = ("checkpoint_dir",)

    def __init__(self, checkpoint_dir: str | os.PathLike) -> None:
        self.checkpoint_dir = checkpoint_dir
        super().__init__(
            f"checkpoint_dir {str(checkpoint_dir)!r} with random_state=None: each fit draws "
            "another seed, so a rerun cannot resume the checkpoint this fit writes there; set "
            "random_state to a whole number to make it resumable")


def checkpoint_seed_said(random_state: Any, setting: str = "random_state") -> str:
    """What a refused training checkpoint says of a seed that differs (`train_energy`'s
    seed_said) where the fit's seed was drawn from `random_state`, given by the user as
    `setting` (`mulde fit`: "--seed"): that setting, not the seeds drawn from it, which no
    user could pass."""
    if random_state is None:
        return f"{setting} (None now: each fit draws another seed, never the checkpoint's)"
    shown = random_state if isinstance(random_state, Integral) else "a RandomState"
    return f"{setting} ({shown} now, not the one the checkpoint was written with)"


THRESHOLD_SCORES = ("training", "out_of_bag", "validation")
"""What `MULDE.offset_` can be set on (`MULDE.threshold_scores_`): every training row's score,
the training rows' out-of-bag scores (members on bags), or the held-out validation rows'."""


def _str_options(options: Iterable[str]) -> StrOptions:
    """scikit-learn's `StrOptions` constraint on `options`, whose error text lists them
    sorted: given a set it lists them in the set's order, which string hashing changes
    from one run to the next (the same mistake read differently each time)."""
    return StrOptions(dict.fromkeys(sorted(options)).keys())


class MULDE(OutlierMixin, BaseEstimator):
    """Multiscale log-density estimation (MULDE) as a one-class anomaly detector.

    Fit on normal samples only. A noise-conditioned MLP f(x, sigma) is trained with multiscale
    denoising score matching (lambda(sigma) = sigma^2, sigma ~ LogUniform [sigma_low,
    sigma_high]), with the paper's alignment regulariser beta * f(x, sigma)^2 / 2 off by default
    (beta 0) and, by default (time_score 0.25), denoising time-score matching, which fits f's
    dependence on sigma too, so that f(x, sigma) approximates -log q_sigma(x) + c with one
    constant c for all levels (without it, c_sigma: a constant per level). At test time f is
    evaluated at n_levels noise levels and the L-vector is aggregated: by default the mean over
    levels of the energies centred per level ("mean_energy", monotone: a higher energy at any
    level never makes a sample look more normal); the paper's Gaussian mixture is
    aggregator="gmm" (the `paper` preset). The defaults were chosen on the label-free
    density-fidelity suite (docs/benchmarks.md, "Density fidelity").

    Conventions follow scikit-learn's outlier detectors: `score_samples` is higher for more
    normal samples, `decision_function = score_samples - offset_` is negative for outliers,
    `predict` returns +1 (inlier) / -1 (outlier). `anomaly_score = -score_samples`.
    `contamination='auto'` sets `offset_` so that 1 % of the training samples are outliers
    (scikit-learn's convention), or, with `threshold_on="validation"`, so that at most 1 % of
    new normal samples are (set on the validation rows held out of training), or, with
    `threshold_on="out_of_bag"`, so that about 1 % of new normal samples are (set on the
    training rows' out-of-bag scores).

    Parameters (the method's terms are those of docs/method.md, "The model"):

    hidden_sizes: the MLP's hidden widths: "auto" (the default since issue 15's round 28):
        (min(max(256, d), 2048), 256) for d features, and where the n rows given to `fit`
        are at least 50 per feature (up to 160 features also 25 per feature from 501 rows
        with 50 per principal direction, rounds 58-59) three layers: of 160 up to 160
        features, of which n_members="auto" trains two, and past them (min(max(256, d),
        2048), 256, 256), one network (rounds 41-45); for the eight networks
        n_members="auto" trains on thin rows the layers after the first 128 wide (round 51,
        `mulde.core.training.widths_for_members`)
        (`mulde.core.network.widths_for_features`: a first layer narrower than d leaves the
        energy constant along d - width directions; the 2,048 cap bounds the cost; the third
        layer ranks a density of many modes as exact kNN does); or
        the widths, such as (256, 256) (the default before round 28) or the `paper`
        preset's (4096, 4096). The widths built are `hidden_sizes_` (stored in the model
        file, so a later rule does not change a saved network) and `summary()["hidden_sizes"]`.
    layer_norm, dropout: LayerNorm / dropout per block.
    n_members: "auto" (the default since issue 15's round 27): `members_for_rows(n, d)`
        networks for n rows of d features given to `fit` (4 up to 250 rows, 3 up to 333, 2
        up to 500, one from 501 on; whenever n < 10 d at least 4 (round 30), and 8 from 501
        rows on (round 31); 8 also from 501 rows on where the rows are fewer than 50 per
        principal direction of the standardised rows (round 33; the count, where it was
        needed, is `principal_directions_`, else None);
        `mulde.core.training.members_for_rows`); 2 where hidden_sizes is "auto" too and the
        rows are at least 50 per feature of at most 160 features, or 25 per feature from 501
        rows with 50 per principal direction (rounds 43-45 and 58-59,
        `mulde.core.training.deep_pair`: two networks of three
        layers of 160, each on every row; from 50 per feature below 501 rows too, in place
        of the rows' rule); or 1 (one MLP), or M >= 2: a
        deep ensemble of M MLPs of those widths, each trained on its own DSM loss from its
        own initial weights; the energy is their mean (`mulde.core.EnergyEnsemble`). The
        count trained is `train_result_.n_members`.
    max_samples: the share of the training rows (those not held out for validation) each
        member trains on: "auto" (the default since round 27): min(1/2, 2 / M) of them for
        an ensemble of M < 8 (each member its own draw: a half for 2-4 members), 1 / M from
        8 on (an eighth for the 8 of thin rows, round 46; round 31 gave them a quarter;
        `mulde.core.training.resolve_ensemble`), all of them for one network and
        for round 43's pair; or a number in (0, 1]: 1,
        every row; below 1, each member its own seeded draw of round(max_samples * n) rows
        without replacement (bagging; with one network, a subsample), so that members
        memorise different rows (`mulde.core.training.member_bags`; issue 15, rounds 25 and
        27 of the density-fidelity suite). The share trained with is
        `train_result_.max_samples`.
    noise_input: how the noise level enters the network: "sigma" (the raw level, the paper)
        or "log" (ln(sigma) / 4, Karras et al. 2022's c_noise), which tells the small levels
        apart (`mulde.core.network.noise_feature`); not the default, as those levels then
        memorise single training rows (benchmarks/density_fidelity.md, round 12).
    beta: weight of the regulariser beta * f(x, sigma)^2 / 2: 0 (the default since issue 15's
        round 17 of the density-fidelity suite: fewer held-out false alarms where the
        network memorises) turns it off; the paper's 0.1 is the `paper` preset's.
    regulariser: its weighting across noise levels, "sigma2" (times sigma^2, the score
        term's own weighting; the default since issue 15) or "constant" (the paper); see
        `mulde.core.Regulariser`.
    time_score: weight gamma of the time-score matching term (`mulde.core.DSMLoss`; 1: as
        much as one coordinate of the score term), which fits f's dependence on the noise
        level as well, so that the levels share one additive constant and separated modes keep
        their relative heights at small sigma. 0.25 (the default since issue 15's rounds 18-19
        of the density-fidelity suite: the 2-D toy's fresh samples rank 0.885 -> 0.995 over
        3 seeds); 0 (the paper, the `paper` preset) leaves it out.
    sigma_low, sigma_high: the range of the training noise levels, drawn log-uniformly.
    sigma_low_nn: with a number c, the lower end is set from the standardised training rows:
        sigma_low_ = min(max(sigma_low, c * median nearest-neighbour distance / sqrt(d)),
        sigma_high / 10) (`mulde.core.nearest_neighbour_sigma`), so that the smallest noise
        is not far below the data's own spacing (which only memorises the training rows);
        None: sigma_low_ = sigma_low (the paper).
    sigma_high_span: with a number c, the upper end is raised to the data's spread:
        sigma_high_ = max(sigma_high, c * largest distance between two standardised
        training rows / sqrt(d)) (`mulde.core.largest_distance_sigma`, at most 2,000 seeded
        rows; Song & Ermon 2020's rule for the largest noise level); None: sigma_high_ =
        sigma_high (the paper).
    scaling: how the rows are scaled after centring: "column" (each column by its standard
        deviation, the paper) or "global" (every column by one scale, the root mean square
        of the non-constant columns' standard deviations), which keeps the columns' relative
        spreads, e.g. of principal components (`mulde.vad.stream_models.PCAStream`), where
        per-column scaling would whiten them (not adopted there: docs/results.md, issue 14
        round 11).
    base: None (the paper: the energy is the network's output) or "gaussian": the energy is
        x^T (C + sigma^2 I)^-1 x / 2 plus the network's output, C the Ledoit-Wolf covariance of
        all training rows after scaling (the validation split included, as for `whiten`; so
        held-out rows are not quite unseen by the base) in probabilistic-PCA form
        (`mulde.core.base.GaussianBase`, rank min(d, 64)), so the network learns the
        departure from that Gaussian (issue 15, round 15).
    precondition: None (the paper: the network reads the noisy row x as it is) or
        "covariance": it reads u = (C + sigma^2 I)^(-1/2) x, the noisy row at level sigma
        scaled to unit covariance in every direction, C as for `base`
        (`mulde.core.base.CovarianceScaling`): the matrix form of the input scaling
        c_in(sigma) of Karras et al. 2022 (Table 1). The noise, the loss and the energy's
        meaning are unchanged; thin directions get O(1) inputs (issue 15, round 16).
    whiten: None (the rows are standardised per column, the paper) or "ledoit_wolf": the
        standardised rows are then multiplied by C^(-1/2), C their Ledoit-Wolf shrunk
        covariance on the training rows (`mulde.estimator.whitening`), so the noise levels
        are the same fraction of the data's spread in every direction.
    dequantise: True (the default since issue 15's rounds 35-37 of the density-fidelity suite) or
        False (the paper: training noise is added to the rows as given). With True, each
        quantised column (at least 3 and at most n / 2 distinct values on a lattice of step
        h, h at most two standard deviations of the column: integer counts, ordinal codes,
        pixel values; not wider cells, round 37) and each two-valued column (flags,
        attributes, one-hot codes: h half the gap between its two values, within the same
        bound, round 52; two values are no lattice, round 36, so the cells leave the middle
        of the gap empty) and each column with a point mass among continuous values (one
        value on at least a fifth of the rows: zero counts, empty histogram bins, ReLU
        features; h a quarter of the column's standard deviation, every value spread, round
        54) is spread uniformly over its value's cell [x - h / 2, x + h / 2)
        in every training step before the noise (uniform dequantisation, Uria et al. 2013,
        Theis et al. 2016; `mulde.estimator.columns.quantisation_steps`, recorded in
        `quantisation_steps_`), so that the network learns a density whose values rank the
        rows as their probabilities do instead of spikes at the lattice points. Scoring
        reads the rows as given (the cells' centres); a value off the lattice within the
        training range scores as the cell it falls in, and one just past a common value's
        cell (a count of -1, a negative ReLU output) is smoothed by it (use False where such
        values are the anomalies). A list or tuple of columns (the training DataFrame's
        names, or indices from 0) dequantises those columns alone, by the same rule, and
        trains the others as given (a sensor whose values below its floor are the anomalies
        to catch, beside counts that should be dequantised); an empty one is False.
        ValueError at fit, before training, for a column the data do not have (a name
        without named columns, an index out of range, a negative one or a bool); the
        list is kept as given (`get_params`, the saved file).
    n_levels, spacing: the L scoring levels in [sigma_low, sigma_high], "geometric" (the
        default: log-spaced, where training draws its levels, log-uniformly; issue 15 round
        11 of the density-fidelity suite) or "linear" (the paper, the `paper` preset).
    aggregator: "mean_energy" (the mean over levels of the energies minus their training
        means), "gmm" (-log-likelihood of a Gaussian mixture of n_components with
        covariance_type, fitted on the training L-vectors), "mean_z", "max_z" (per-scale
        z-scores with training statistics), "single" (the level scale_index; default the
        middle one) or "mean_energy_validated" (mean_energy over the levels at which the
        validation rows, never fitted, score like the fitted rows: the levels that have not
        memorised; every level without validation rows), "cv_level" (the one level with
        the highest likelihood of the validation rows) or "stacked" (the mixture of the
        levels' densities whose weights maximise that likelihood); the last two compare
        levels, so they need time_score > 0 (ValueError) and fall back to mean_energy
        without validation rows (density-fidelity round 20: neither beat mean_energy). See
        `mulde.estimator.aggregation`.
    reweight: "auto" (the default since issue 15's round 62 of the density-fidelity suite):
        "separated_modes" from 1,000 training rows (the validation split counted) up to 256
        features (`mulde.estimator.reweighting.AUTO_MAX_FEATURES`) where no column lies on
        a lattice, is two-valued or holds a point mass (the rule of `dequantise`,
        `mulde.estimator.columns.quantisation_steps`, whatever `dequantise` is; since
        round 64: the mixture's components collapse onto such values), the unweighted fit
        otherwise (without a warning); None (the paper: every training row
        alike); or "modes": a diagonal Gaussian
        mixture (K by BIC among 1, 2, 4, ..., 64) fitted on the standardised rows; training
        draws each row in proportion to the equal-weight mixture's density over the fitted
        one's, so that every mode gets the same share of the denoising loss, and the
        energies are raised by the log of the fitted mixture's density over its equal-weight
        twin's, the modes' masses added back (`mulde.estimator.reweighting`; issue 15: a
        mode of few rows is otherwise fitted late and scored too high). The mixture is
        fitted on the training split (the validation rows left out); from fewer than
        1,000 rows (`mulde.estimator.reweighting.MIN_ROWS`, the validation split counted)
        or where BIC chooses one component, the fit is the unweighted one (the first
        warns before training, `FewRowsToReweightWarning`). "separated_modes": the same,
        but the components are first joined into modes where they overlap (a tail, a curve
        or one broad cluster fitted by several components is one mode), and each mode, not
        each component, gets an equal share (`mulde.estimator.reweighting.join_overlapping`;
        unweighted where they make one mode).
    max_mode_gain: 10 (the default since issue 15's round 63 of the density-fidelity suite;
        `mulde.estimator.reweighting.MAX_MODE_GAIN`), None (every separated mode an equal
        share 1 / G, round 62) or any A >= 1: each mode's share min(1 / G, A m_g) / S, m_g
        its mass and S the sum of those minima (truncated importance weights, Ionides 2008;
        `ModeMixture.shares`), so that a mode of few rows no longer gets 1 / G of the
        training draws: its rows are drawn at most A / S times as often as unweighted,
        S >= 1 / G (A where the large modes keep most of the draws, up to G A where the
        others are small too). Used with "separated_modes" (and "auto" where it reweights);
        ignored with reweight None or "modes" (no separated modes to bound) and where "auto"
        fits unweighted. The file keeps the bound the mixture was fitted with (array
        `modes.max_gain`).
    dequantise_modes: False (the mixture of `reweight` fitted on the training rows as given)
        or True: fitted on one draw of them moved uniformly within their lattice cells, as
        each training step moves them (`dequantise`; `mulde.core.training.dequantised`,
        seeded by the fit's seed), so that on a lattice its components model the density
        the network learns instead of collapsing onto single lattice values at the
        mixture's variance floor; the same as False without a quantised column.
    mode_variance_share: None (the mixture of `reweight` fitted on the rows' d coordinates)
        or a share s in (0, 1]: fitted on the rows' coordinates along their leading
        principal directions that hold s of their variance
        (`mulde.estimator.reweighting.principal_basis`; the file keeps the basis, array
        `modes.basis`), so that a connected shape near a few directions of many columns
        (a curve, clusters on a subspace) is not cut into many "separated" modes by the
        columns of noise, in which diagonal components' posteriors turn 0 or 1. The rows are
        those the mixture sees, standardised per column (their directions those of the
        correlations), whitened with `whiten`, which flattens their spectrum so that the
        share keeps most directions (a noisy circle in 64 columns, 1,200 rows, s 0.9: 18
        directions standardised, 58 whitened); s 1 keeps every direction of nonzero
        variance (a rotation where none is zero), on which the diagonal mixture is not the
        one None fits. Ignored where no mixture is fitted
        (reweight None, or "auto" on a lattice or past 256 features). Not the default:
        density-fidelity round 65 (s 0.9) found it level (merit +0.0005, calibration
        -0.0010; one mode on the noisy circle in 64 columns, a loss on clusters on a
        subspace).
    atom_min_count: 5 (the default since issue 15's round 60 of the density-fidelity suite)
        or None (the paper). A row that the training rows hold at least this many times
        (an atom: a flag pattern, a code, a count vector that recurs; rows compared at
        float32's precision, -0.0 as 0.0; at least 2: ValueError)
        is scored by its empirical probability c / n on the energy's scale,
        -log(c / n) + K, K the median of (score + log(c / n)) over the training rows so held
        (with a held-out threshold, `threshold_on` "validation", those rows are not counted),
        instead of the network's energy, which orders such repeated rows worse than their
        counts do (`mulde.estimator.atoms`; a count of 5 or more is within about 0.45 of its
        log-probability). Other rows, and every row of continuous data (which repeats none),
        keep the network's score; the threshold is set on the scores so given. The atoms
        are `atoms_` (k, d), their counts `atom_counts_` and scores `atom_scores_` (k,).
        `score_samples_multiscale` gives the network's energies alone.
    lr, batch_size: Adam's learning rate and the rows per step. lr="auto" (the default since
        issue 15's round 24; 1e-3 before): the rate from the training rows n, 1e-3 up to
        1,000 rows, in proportion to n above, at most 3e-3, the rows counted as n x 256 / d
        for d > 256 features (since round 29)
        (`mulde.core.training.learning_rate_for_rows`; density-fidelity rounds 22-24, 29).
        The rate trained with is `train_result_.lr`.
    adam_betas: Adam's (beta_1, beta_2), a tuple, list or array of two numbers in [0, 1)
        (anything else is refused, ValueError): (0.5, 0.9) as in the authors' code
        (the default and the `paper` preset); (0.9, 0.999) is Adam's own default
        (`mulde.core.training.make_optimizer`).
    lr_schedule: "constant" (lr at every step) or "cosine" (annealed to 0 over the steps;
        `mulde.core.training.learning_rate_at`).
    antithetic: False (the paper): each step draws one noise vector for each of batch_size
        rows; True: batch_size // 2 rows, each with one level and the noise pair (eps, -eps),
        which cancels the DSM loss's noise-odd term at small noise at the same cost a step
        (`mulde.core.loss.antithetic_batch`; issue 15, round 14); an epoch (n_epochs) is
        then twice as many steps.
    n_epochs, max_steps: training stops at whichever comes first (None: no such limit; both
        None is refused by `check_params`, ValueError).
    validation_fraction, eval_every, patience: the share of training rows held out ("auto",
        the default since issue 15's round 41: a tenth, a fifth where the network has three
        or more hidden layers and the n rows given to `fit` are at least 50 per feature (up
        to 160 features also 25 per feature from 501 rows with 50 per principal direction,
        rounds 58-59), as "auto" widths build there;
        `mulde.core.training.validation_fraction_for_network`;
        the share trained with is `train_result_.validation_fraction`), the
        steps between validation evaluations (50 by default, 100 before issue 15's round 49),
        and how many evaluations without improvement stop training (at least 1; None: never
        stop early; 3 by default, 5 before issue 15's round 48, which kept the same weights
        in fewer steps); the best validated weights are kept. The networks of an ensemble are each
        validated on noise draws of their own (`mulde.core.training.VALIDATION_DRAWS`). No
        row is held out of fewer than 10 (`VALIDATION_MIN_ROWS`): such a fit warns
        (`FewSamplesWarning`). A validation_fraction that holds none out of more rows (0,
        as in the `paper` preset) warns when the aggregator or `threshold_on` needs them
        (`NoValidationWarning`).
    ema_decay: decay of the exponential moving average of the weights that is validated and
        kept (None: the raw weights).
    weight_decay: decoupled weight decay w (AdamW: every weight shrinks by a factor
        1 - lr * w per step before Adam's update; `mulde.core.training.make_optimizer`);
        0: plain Adam.
    checkpoint_dir, checkpoint_every: with a folder, training state is saved there every
        checkpoint_every steps and when training ends; a fit finding a checkpoint of the same
        training configuration resumes from it, and refuses one of another (ValueError): other
        training settings (checkpoint_every aside), loss, noise range or noise input, or
        other (or otherwise scaled) training rows, or another random_state (named as such:
        the seed is drawn from it). With random_state None each fit draws another seed, so
        its checkpoint never resumes: such a fit warns (`UnseededCheckpointWarning`). A
        damaged file in the checkpoint's place, one that is no training checkpoint (a saved
        model), or a folder there, is refused naming it
        (`mulde.core.checkpoint.CheckpointFileError`).
    contamination: "auto" (1 %) or a fraction in (0, 0.5] (anything else is refused,
        ValueError), which `threshold_on` gives its meaning.
    threshold_on: where `offset_` is set. "training" (default; scikit-learn's convention for
        `contamination`): `predict` flags that fraction of the training samples; new normal
        samples are flagged more often when the network memorises its training rows
        (benchmarks/predict_held_out.py: held-out normal digits). "out_of_bag": `predict`
        flags about that fraction of NEW normal samples, the threshold set on the training
        rows' out-of-bag scores: each scored by the networks that never fitted it (the rows
        held out for validation by all of them; rows in every bag left out:
        `mulde.core.scoring.out_of_bag_energies`), as a random forest's out-of-bag estimate;
        the training samples are flagged less often than that fraction (scikit-learn's
        contract for `contamination` is "training"'s). It uses all those rows where
        "validation" uses the held-out ones alone, and gives no split-conformal bound; where
        the networks train on bags (the default's several networks below 501 rows and on
        thin rows) nearly every row. Issue 15, round 47 (benchmarks/density_fidelity.md):
        over 27 fits of such cases the held-out false alarms came within 0.8-1.05 % (mean
        |far - 0.01| 0.0105 -> 0.0025). Where the networks train on every row the held-out
        rows are the only ones out of a bag, and the threshold is set on them as
        "validation" sets it (split conformal, `FewValidationRowsWarning` with too few);
        with none held out either it warns (`NoOutOfBagRowsWarning`) and sets the threshold
        on the training samples. Not with aggregator "gmm" of full or tied covariance
        (ValueError): a mean over fewer networks falls outside the mixture fitted on the
        ensemble's energies, so its quantile says little about new samples.
        "validation": `predict`
        flags at most that fraction of NEW normal samples (in expectation), the threshold
        set on the validation rows that training held out (split conformal,
        `_set_offset`); with too few of them (fewer than 1/contamination - 1) it flags none
        and warns. With aggregator="mean_energy_validated", "cv_level" or "stacked" the same
        rows also choose the levels (or their weights), so the promise is no longer exact
        (the rows are not exchangeable with new ones after choosing).
    device: "auto" (CUDA, then MPS, then CPU) or a torch device name.
    random_state: seed of the initialisation, the validation split and every draw of training.
        A fit seeds torch's global generators (the CPU's and the training device's) for its
        own draws and restores them afterwards, so it reseeds and advances no process-wide
        random state; None draws the seed from numpy's global RandomState (scikit-learn's
        convention: `np.random.seed` then repeats such fits), one draw.
    verbose: show a progress bar while training.
    The other training defaults (lr_schedule through ema_decay, checkpoint_every) are
    `TrainConfig`'s.

    Attributes (set by `fit`, and by `load` but for fit_seconds_; d features, L = n_levels):

    n_features_in_: d, the number of columns fitted.
    feature_names_in_: (d,) object array of the column names, only where there are any:
        fitted on a DataFrame whose column names are all strings (scikit-learn's rule), or
        by `mulde fit` on a CSV with a header; scoring refuses other columns.
    mean_: (d,) float64, the training rows' column means (subtracted before scoring).
    scale_: (d,) float64, what the centred columns are divided by: each column's standard
        deviation (ddof 1), so that the scores do not depend on the columns' units (the
        published code adds 1e-8, which swamps deviations of 1e-8 and less); 1.0 for a
        constant column (`ConstantFeaturesWarning`); with scaling="global", one value for
        every column (the root mean square of the deviations).
    whitening_: (d, d) float64, the matrix the standardised rows are multiplied by with
        whiten="ledoit_wolf" (C^(-1/2); the identity where every column is constant); None
        without.
    sigma_low_, sigma_high_: float, the range of the training noise levels (`sigma_low`,
        `sigma_high`, moved by `sigma_low_nn`, `sigma_high_span`).
    sigmas_: (L,) float32, the scoring noise levels, smallest first, in the units of the
        standardised features (each column less `mean_`, divided by `scale_`; whitened
        after, with `whiten`), in which the energies are the negative log-density of the
        noised standardised rows, up to a constant.
    hidden_sizes_: tuple of int, the widths built ("auto" resolved).
    principal_directions_: int or None, the standardised rows' principal directions that
        n_members="auto" or hidden_sizes="auto" counted (round 33; widths since round 59;
        None where not counted).
    quantisation_steps_: (d,) float64, with dequantise=True (or a non-empty list) each
        column's cell width in its own units: its lattice step, half the gap of a two-valued
        column, or a quarter of the standard deviation of a column with a point mass (0: not
        dequantised, or not in the list; `mulde.estimator.columns.quantisation_steps`); None
        without.
    atoms_: (k, d) float64, the rows the training rows hold at least `atom_min_count`
        times (k = 0 with none, or atom_min_count None; `mulde.estimator.atoms`).
    atom_counts_: (k,) int64, how many times the training rows hold each of `atoms_`.
    atom_scores_: (k,) float64, each atom's anomaly score, -log(c / n) + K.
    n_atoms_: int, k (0 also for a model fitted before round 60).
    lattice_columns_: int or None, with reweight="auto" (up to 256 features) the number of
        columns the rule of `dequantise` gives a cell, whatever `dequantise` is: any at all
        and "auto" fits unweighted (round 64); None under another reweight, past 256
        features, or loaded from a file saved before it was recorded.
    mode_mixture_: `mulde.estimator.reweighting.ModeMixture` with reweight="modes" where
        BIC chose more than one component (1,000 rows or more), with reweight=
        "separated_modes" where they make two or more modes (its `labels`, the mode of
        each component), with mode_variance_share on principal coordinates (its `basis`,
        (d, r)); None otherwise.
    network_: the trained torch module (`mulde.core.EnergyMLP`, or `EnergyEnsemble` for
        several members), in eval mode, on `device_`.
    device_: str, the torch device the network is on ("auto" resolved).
    train_result_: `mulde.core.TrainResult`: the steps taken, the best step and validation
        loss, whether training stopped early, the loss history, and the lr, member count,
        max_samples and validation_fraction trained with, and the step a checkpoint resumed
        training from (None if none did).
    aggregator_state_: dict of str to numpy arrays, the `aggregator`'s fitted state (for
        "mean_energy", "mean": (L,) the training rows' mean energy per level).
    offset_: float, the threshold: `decision_function = score_samples - offset_`; -inf
        where threshold_on="validation" had too few validation rows to flag any.
    threshold_scores_: str, the scores `offset_` was set on (`THRESHOLD_SCORES`): "training"
        (every training row's, in-sample), "out_of_bag" (the training rows' out-of-bag
        scores) or "validation" (the held-out rows'): `threshold_on`, or "training" where
        the rows it needs were missing (and the fit warned); a file saved before it was
        recorded loads as "validation" where it held validation rows for
        threshold_on="validation", else "training".
    fit_seconds_: float, the seconds training took (fit only).
    """

    # scikit-learn's parameter validation: a wrong type or value raises InvalidParameterError
    # (a ValueError) "The 'max_steps' parameter of MULDE must be ... Got -5 instead."
    _parameter_constraints: dict = {
        "hidden_sizes": ["array-like", _str_options({"auto"})],
        "n_members": [Interval(Integral, 1, None, closed="left"), _str_options({"auto"})],
        "max_samples": [Interval(Real, 0, 1, closed="right"), _str_options({"auto"})],
        "lr_schedule": [_str_options(LR_SCHEDULES)],
        "adam_betas": "no_validation",  # checked in check_params: one message for every mistake
        "antithetic": ["boolean"],
        "layer_norm": ["boolean"],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "noise_input": [_str_options(NOISE_INPUTS)],
        "scaling": [_str_options({"column", "global"})],
        "beta": [Interval(Real, 0, None, closed="left")],
        "regulariser": [_str_options({r.value for r in Regulariser})],
        "time_score": [Interval(Real, 0, None, closed="left")],
        "sigma_low": [Interval(Real, 0, None, closed="neither")],
        "sigma_high": [Interval(Real, 0, None, closed="neither")],
        "sigma_low_nn": [Interval(Real, 0, None, closed="left"), None],
        "sigma_high_span": [Interval(Real, 0, None, closed="left"), None],
        "whiten": [_str_options(WHITENINGS), None],
        "dequantise": ["boolean", list, tuple],
        "base": [_str_options(BASES), None],
        "precondition": [_str_options(PRECONDITIONS), None],
        "n_levels": [Interval(Integral, 1, None, closed="left")],
        "spacing": [_str_options({s.value for s in Spacing})],
        "aggregator": [_str_options({a.value for a in Aggregation})],
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "covariance_type": [_str_options({"full", "tied", "diag", "spherical"})],
        "scale_index": [Integral, None],
        "atom_min_count": [Interval(Integral, 2, None, closed="left"), None],
        "reweight": [_str_options({"auto", "modes", "separated_modes"}), None],
        "max_mode_gain": [Interval(Real, 1, None, closed="left"), None],
        "dequantise_modes": ["boolean"],
        "mode_variance_share": [Interval(Real, 0, 1, closed="right"), None],
        "lr": [Interval(Real, 0, None, closed="neither"), _str_options({"auto"})],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "n_epochs": [Interval(Real, 0, None, closed="neither"), None],
        "max_steps": [Interval(Integral, 1, None, closed="left"), None],
        "validation_fraction": [Interval(Real, 0, 1, closed="left"), _str_options({"auto"})],
        "patience": [Interval(Integral, 1, None, closed="left"), None],
        "eval_every": [Interval(Integral, 1, None, closed="left")],
        "ema_decay": [Interval(Real, 0, 1, closed="left"), None],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "contamination": [_str_options({"auto"}), Interval(Real, 0, 0.5, closed="right")],
        "threshold_on": [_str_options({"training", "validation", "out_of_bag"})],
        "device": [str],
        "random_state": ["random_state"],
        "checkpoint_dir": [str, os.PathLike, None],
        "checkpoint_every": [Interval(Integral, 1, None, closed="left")],
        "verbose": ["verbose"],
    }

    def __init__(self, *, hidden_sizes: tuple[int, ...] | str = "auto",
                 n_members: int | str = "auto", max_samples: float | str = "auto",
                 layer_norm: bool = False, dropout: float = 0.0,
                 noise_input: str = "sigma", beta: float = 0.0,
                 regulariser: str = "sigma2", time_score: float = 0.25,
                 sigma_low: float = 1e-3,
                 sigma_high: float = 1.0, sigma_low_nn: float | None = None,
                 sigma_high_span: float | None = None, scaling: str = "column",
                 whiten: str | None = None,
                 dequantise: bool | Sequence[str | int] = True,
                 base: str | None = None, precondition: str | None = None,
                 n_levels: int = 16, spacing: str = "geometric",
                 aggregator: str = "mean_energy", n_components: int = 1,
                 covariance_type: str = "full", scale_index: int | None = None,
                 atom_min_count: int | None = ATOM_MIN_COUNT, reweight: str | None = "auto",
                 max_mode_gain: float | None = MAX_MODE_GAIN, dequantise_modes: bool = False,
                 mode_variance_share: float | None = None,
                 lr: float | str = "auto", lr_schedule: str = _TRAIN.lr_schedule,
                 adam_betas: tuple[float, float] = _TRAIN.adam_betas,
                 antithetic: bool = _TRAIN.antithetic, batch_size: int = _TRAIN.batch_size,
                 n_epochs: float | None = _TRAIN.n_epochs,
                 max_steps: int | None = _TRAIN.max_steps,
                 validation_fraction: float | str = "auto",
                 patience: int | None = _TRAIN.patience, eval_every: int = _TRAIN.eval_every,
                 ema_decay: float | None = _TRAIN.ema_decay,
                 weight_decay: float = _TRAIN.weight_decay, contamination: str | float = "auto",
                 threshold_on: str = "training", device: str = "auto",
                 random_state: int | None = None,
                 checkpoint_dir: str | None = None,
                 checkpoint_every: int = _TRAIN.checkpoint_every, verbose: bool = False) -> None:
        self.hidden_sizes = hidden_sizes
        self.n_members = n_members
        self.max_samples = max_samples
        self.layer_norm = layer_norm
        self.dropout = dropout
        self.noise_input = noise_input
        self.beta = beta
        self.regulariser = regulariser
        self.time_score = time_score
        self.sigma_low = sigma_low
        self.sigma_high = sigma_high
        self.sigma_low_nn = sigma_low_nn
        self.sigma_high_span = sigma_high_span
        self.scaling = scaling
        self.whiten = whiten
        self.dequantise = dequantise
        self.base = base
        self.precondition = precondition
        self.n_levels = n_levels
        self.spacing = spacing
        self.aggregator = aggregator
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.scale_index = scale_index
        self.atom_min_count = atom_min_count
        self.reweight = reweight
        self.max_mode_gain = max_mode_gain
        self.dequantise_modes = dequantise_modes
        self.mode_variance_share = mode_variance_share
        self.lr = lr
        self.lr_schedule = lr_schedule
        self.adam_betas = adam_betas
        self.antithetic = antithetic
        self.batch_size = batch_size
        self.n_epochs = n_epochs
        self.max_steps = max_steps
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.eval_every = eval_every
        self.ema_decay = ema_decay
        self.weight_decay = weight_decay
        self.contamination = contamination
        self.threshold_on = threshold_on
        self.device = device
        self.random_state = random_state
        self.checkpoint_dir = checkpoint_dir
        self.checkpoint_every = checkpoint_every
        self.verbose = verbose

    @classmethod
    def from_preset(cls, name: str = "default", **overrides: Any) -> MULDE:
        """Return an estimator with the named preset's parameters
        (`mulde.estimator.presets.ESTIMATOR_PRESETS`), overridden by `overrides`. "paper"
        is a GPU preset: its 4,096 x 2 network trains 1,000 epochs, about 9 h for 10,000
        rows on one CPU thread (docs/detector.md, "Measured here: `paper`"); `fit` draws
        no progress bar unless verbose=True."""
        if name not in ESTIMATOR_PRESETS:
            raise ValueError(f"unknown preset {name!r}; choose from {sorted(ESTIMATOR_PRESETS)}")
        return cls(**{**ESTIMATOR_PRESETS[name], **overrides})

    # ----------------------------------------------------------------------------- fitting
    def _closest_option(self, said: str) -> str:
        """" Did you mean 'mean_energy'?" for the parameter that scikit-learn's message `said`
        names where its value is a word that none of its options is but one is close to
        (`mulde.suggest.closest`: "mean_energie", "GMM", "separate_modes"); ""
        otherwise."""
        for name, value in self.get_params(deep=False).items():
            allowed = self._parameter_constraints.get(name)
            if (not isinstance(value, str) or not isinstance(allowed, list)
                    or f"'{name}' parameter" not in said):
                continue
            options = [w for c in allowed if isinstance(c, StrOptions) for w in c.options]
            meant = closest(value, options) if value not in options else None
            if meant is not None:
                return f" Did you mean {meant!r}?"
        return ""

    def check_params(self) -> None:
        """Refuse parameters `fit` cannot use, before any data is read or training starts (a
        caller such as `mulde fit --params` asks first): their types and ranges
        (scikit-learn's `_parameter_constraints`; a flag given for a number is refused as
        well), then how they relate (sigma_high above sigma_low, an aggregator that compares
        levels needs time_score > 0, scale_index within the levels, ...). ValueError naming
        the parameter (scikit-learn's InvalidParameterError is one)."""
        one = self.dequantise
        if isinstance(one, (str, int, np.integer)) and not _is_flag(one):
            # one column meant as a list of one, or (0, 1, "true" from a config) a flag: a
            # hint of the list alone would dequantise that column where all were meant
            flag = flag_meant(one)
            # written as JSON, which reads as Python too: the hint serves `--params` alike
            shown = json.dumps(str(one) if isinstance(one, str) else int(one))
            raise ValueError(f"dequantise must be True, False or a list of columns, not "
                             f"{shown}; " + ("" if flag is None else f"for a flag write "
                                             f"dequantise={flag} ({json.dumps(flag)} in "
                                             "JSON), ")
                             + f"for that column alone write dequantise=[{shown}]")
        if one is None or (isinstance(one, Real) and not _is_flag(one)):  # JSON's null,
            # 1.5: scikit-learn's own text would name numpy's bool type (other types keep it)
            shown = json.dumps(one)
            raise ValueError(f"dequantise must be True, False or a list of columns, not "
                             f"{shown}")
        try:
            self._validate_params()
        except InvalidParameterError as err:  # a misspelt word: name the option meant
            raise InvalidParameterError(str(err) + self._closest_option(str(err))) from None
        for name, value in self.get_params(deep=False).items():
            allowed = self._parameter_constraints.get(name, [])
            # scikit-learn counts True as the number 1: a numeric setting given a flag (a
            # JSON true for a rate, say) is a mistake, not a request for the value 1
            if (isinstance(value, bool) and isinstance(allowed, list) and "boolean" not in allowed
                    and any(isinstance(c, Interval) for c in allowed)):
                words = sorted(w for c in allowed if isinstance(c, StrOptions) for w in c.options)
                kinds = " or ".join(["a number", *(repr(w) for w in words)])
                raise ValueError(f"{name} must be {kinds}, not {value!r}; give its value "
                                 f"(MULDE().{name} is the default, {getattr(MULDE(), name)!r})")
        if not isinstance(self.hidden_sizes, str) and not are_widths(self.hidden_sizes):
            raise ValueError(f"hidden_sizes must be \"auto\" or a non-empty list of positive "
                             f"layer widths, got {self.hidden_sizes!r}")
        betas = self.adam_betas
        pair = list(betas) if isinstance(betas, (tuple, list, np.ndarray)) else []
        if len(pair) != 2 or not all(isinstance(b, Real) and not isinstance(b, bool)
                                     and 0 <= b < 1 for b in pair):
            raise ValueError(f"adam_betas must be two numbers in [0, 1) (beta_1, beta_2), "
                             f"such as (0.9, 0.999); got {betas!r}")
        check_device(self.device)
        if self.max_steps is None and self.n_epochs is None:
            raise ValueError("max_steps and n_epochs are both None: training needs one limit; "
                             "set max_steps (the default is 2000) or n_epochs")
        if self.sigma_high <= self.sigma_low:
            raise ValueError(f"sigma_high ({self.sigma_high}) must be above sigma_low "
                             f"({self.sigma_low})")
        if self.aggregator in LEVEL_COMPARING and self.time_score == 0:
            raise ValueError(f"aggregator={self.aggregator!r} compares the noise levels' "
                             "energies, which share one constant only when trained with "
                             "time-score matching; set time_score > 0 (the default is "
                             "0.25) or choose another aggregator")
        if (self.threshold_on == "out_of_bag" and self.aggregator == "gmm"
                and self.covariance_type in ("full", "tied")):
            raise ValueError(f"threshold_on='out_of_bag' does not work with aggregator='gmm' "
                             f"and covariance_type={self.covariance_type!r}: out-of-bag "
                             "energies, each a mean over fewer networks, fall outside the "
                             "mixture fitted on the ensemble's, and the threshold flags a "
                             "small part of the share asked; use covariance_type 'diag' or "
                             "'spherical', another aggregator, or threshold_on='validation'")
        if (self.aggregator == "single" and self.scale_index is not None
                and not -self.n_levels <= self.scale_index < self.n_levels):
            raise ValueError(f"scale_index {self.scale_index} out of range for "
                             f"{self.n_levels} noise levels (n_levels)")

    def check_samples(self, n: int) -> None:
        """Refuse a training set of n rows that `fit` cannot use, before any training (a
        caller that reads the rows itself, such as `mulde fit`, asks before it spends time):
        ValueError for n < 2, or for n below `n_components` with the GMM aggregate."""
        if n < 2:
            raise ValueError(f"fitting needs at least 2 samples, got {n}; give more rows "
                             "of normal data")
        if self.aggregator == "gmm" and n < self.n_components:
            raise ValueError(f"GMM with {self.n_components} components needs at least as "
                             f"many training samples, got {n}")

    def fit(self, X: Any, y: None = None) -> MULDE:
        """Fit on normal samples X (n, d); y is ignored. Returns self. At least 2 rows
        (ValueError), every value finite (ValueError naming the rows), a DataFrame's columns
        all numbers (ValueError naming the column and row: `mulde.estimator.tables`), real
        and 2-D (ValueError; a 1-D array is one feature or one sample: reshape it), dense
        (TypeError for a sparse matrix); fewer than 10 fit but warn (`FewSamplesWarning`:
        no validation), and so does a DataFrame's column that looks like a row index
        (`IndexColumnWarning`: "Unnamed: 0", or counting the rows). A `checkpoint_dir` that
        is a file, lies in one, or takes no file (read-only, full) is refused before
        training (OSError naming the file or folder: `mulde.io.atomic.ensure_writable`)."""
        self.check_params()
        table = _refuse_table(X)
        # float32 readings lie a few of its units off their lattice, also where a DataFrame's
        # float64 column widens them on conversion
        precision = given_precision(table)
        X = _finite(_validate_rows(self, table, ensure_min_samples=2), table)
        # the columns a list names, checked before anything is said or fitted (ValueError)
        dequantised = self._dequantised_columns(X.shape[1])
        self.check_samples(len(X))  # before training, not after it
        if self.checkpoint_dir:  # a file there, read-only: said now, not at the first save
            # (a checkpoint is a few MB: no free-space bound)
            ensure_writable(self.checkpoint_dir, min_free=0, what="checkpoint_dir",
                            why="give a writable folder or checkpoint_dir=None",
                            purpose=CHECKPOINT_FOLDER)
            if self.random_state is None:  # a rerun would be refused it: said before training
                warnings.warn(UnseededCheckpointWarning(self.checkpoint_dir), stacklevel=2)
        for name, first, ordered in index_columns(table, X):  # fitted as given, but said
            warnings.warn(IndexColumnWarning(name, first, len(X), ordered), stacklevel=2)
        chooses = self.aggregator in HELD_OUT_CHOOSING  # without held-out rows it says so
        # "auto" members or widths count the rows' principal directions where they can
        # matter (rounds 33 and 59; None where not counted); the networks, their widths and
        # share and the rows held out decided before training
        self.principal_directions_ = (rule_directions(X) if is_auto(self.n_members)
                                      or is_auto(self.hidden_sizes) else None)
        widths = resolve_hidden_sizes(self.hidden_sizes, X.shape[1], len(X),
                                      self.principal_directions_)
        fraction = resolve_validation_fraction(self.validation_fraction, len(X), X.shape[1],
                                               widths, self.principal_directions_)
        n_members, share = resolve_ensemble(self.n_members, self.max_samples, len(X),
                                            X.shape[1], self.principal_directions_,
                                            self.hidden_sizes)
        widths = widths_for_members(widths, n_members, self.hidden_sizes,  # round 51
                                    self.n_members)
        # threshold_on "out_of_bag" without bags: the held-out rows are the only rows out of
        # one, and are thresholded as "validation" thresholds them (split conformal)
        n_train = len(X) - validation_rows(len(X), fraction)
        size = bag_size(n_train, share)
        bagged = size is not None and size < n_train
        held_threshold = (self.threshold_on == "validation"
                          or (self.threshold_on == "out_of_bag" and not bagged))
        if self.reweight in ("modes", "separated_modes") and len(X) < REWEIGHT_MIN_ROWS:
            # asked for by name: said, not dropped ("auto" needs the rows, silently)
            warnings.warn(FewRowsToReweightWarning(len(X), REWEIGHT_MIN_ROWS, self.reweight),
                          stacklevel=2)
        if len(X) < VALIDATION_MIN_ROWS:  # a fit that runs, but on too little to trust
            warnings.warn(FewSamplesWarning(len(X), VALIDATION_MIN_ROWS,
                                            self.aggregator if chooses else None),
                          stacklevel=2)
        elif validation_rows(len(X), fraction) == 0:
            if chooses or self.threshold_on == "validation":  # said before training, not after
                warnings.warn(NoValidationWarning(
                    fraction, self.aggregator if chooses else None,
                    self.threshold_on == "validation"), stacklevel=2)
            if held_threshold and self.threshold_on == "out_of_bag":
                warnings.warn(NoOutOfBagRowsWarning(n_members), stacklevel=2)
        elif held_threshold:  # a threshold that can flag nothing: say so now
            n_held = validation_rows(len(X), fraction)
            if _held_out_rank(self._fraction(), n_held) == 0:
                warnings.warn(FewValidationRowsWarning(
                    self._fraction(), n_held, bagged, self.threshold_on == "out_of_bag"),
                    stacklevel=2)
        X = X.astype(np.float64)
        seed = int(check_random_state(self.random_state).randint(2**31 - 1))
        device = resolve_device(self.device)
        self.device_ = str(device)

        self.mean_, std = mean_std(X)
        constant = constant_columns(X)
        if constant.any():
            first = int(np.flatnonzero(constant)[0])
            names = getattr(self, "feature_names_in_", None)  # fitted on a DataFrame
            warnings.warn(ConstantFeaturesWarning(
                int(constant.sum()), len(constant), first,
                None if names is None else str(names[first])), stacklevel=2)
        # the deviation itself, whatever the column's units: the published +1e-8 swamped
        # columns of deviation 1e-8 or less (tiny units: farads, metres of a microscope), and
        # a constant column, the one it guarded against, is scaled by 1 instead
        scaled = ~constant & (std > 0)  # > 0 but for deviations beyond float64's range
        self.scale_ = np.where(scaled, std, 1.0)
        if self.scaling == "global":
            spread = _root_mean_square(std[scaled])
            self.scale_ = np.full_like(std, spread if spread > 0 else 1.0)
        self.whitening_ = None
        if self.whiten is not None:  # no spread at all, nothing to whiten: the identity
            # (the file stores the matrix whenever whiten is set; None failed to load)
            whitening = ledoit_wolf_whitening((X - self.mean_) / self.scale_)
            self.whitening_ = np.eye(X.shape[1]) if whitening is None else whitening
        self.quantisation_steps_ = None
        if dequantised is not None:
            steps = quantisation_steps(X, precision=precision)
            steps[~dequantised] = 0.0  # a list's columns alone
            self.quantisation_steps_ = steps
            skipped = np.flatnonzero(dequantised & (steps == 0))
            if not _is_flag(self.dequantise) and len(skipped):
                names = getattr(self, "feature_names_in_", None)
                warnings.warn(UndequantisedColumnsWarning(
                    skipped.tolist(), None if names is None else [str(names[j])
                                                                 for j in skipped]),
                    stacklevel=2)

        # the weights' initialisation and dropout draw from torch's global generators (CPU
        # and the training device's), seeded here as before and restored afterwards, so that
        # a fit leaves the caller's random streams as they were
        with _torch_seeded(seed, device):
            x = self._to_tensor(X)
            self.sigma_high_ = float(self.sigma_high)
            if self.sigma_high_span is not None:
                spread = largest_distance_sigma(x, self.sigma_high_span, seed=seed)
                self.sigma_high_ = max(self.sigma_high_, spread)
            self.sigma_low_ = float(self.sigma_low)
            if self.sigma_low_nn is not None:
                spacing = nearest_neighbour_sigma(x, self.sigma_low_nn, seed=seed)
                self.sigma_low_ = min(max(self.sigma_low_, spacing), self.sigma_high_ / 10)
            schedule = NoiseSchedule(self.sigma_low_, self.sigma_high_)
            self.hidden_sizes_ = widths
            self.network_ = self._new_network(X.shape[1], n_members)
            if self.base is not None or self.precondition is not None:
                # on every training row after scaling (the validation split too), as given:
                # without the variance h^2 / 12 that dequantisation adds to a quantised column
                # (as the whitening above)
                self.network_.fit_covariance(x.detach().cpu().numpy())
            self.network_ = self.network_.to(device)
            config = self._train_config(seed, len(X), share, X.shape[1], fraction)
            # the rows training holds out for validation (train_energy's seeded split)
            train_idx, val_idx = split_validation(len(X), config.validation_fraction,
                                                  config.seed)
            start = time.perf_counter()
            # on the training split alone: the rows held out for validation (a split-conformal
            # threshold's) must score as new rows do, the term included
            reweight = self.reweight
            self.lattice_columns_ = None
            if reweight == "auto":  # continuous rows up to 256 features (rounds 62, 64)
                if x.shape[1] <= REWEIGHT_AUTO_MAX_FEATURES:
                    self.lattice_columns_ = self._lattice_columns(X, precision)
                reweight = ("separated_modes" if self.lattice_columns_ == 0 else None)
            self.mode_mixture_ = None
            if reweight is not None:
                # fitted on the rows as given, or (dequantise_modes) on one draw of them
                # moved within their lattice cells, the density the network learns
                cells = self._cells() if self.dequantise_modes else None
                modes_x = dequantised_rows(x, cells,
                                           torch.Generator(device=x.device).manual_seed(seed))
                self.mode_mixture_ = fit_mode_mixture(
                    modes_x.detach().cpu().numpy(), seed, train_idx.numpy(),
                    separated=reweight == "separated_modes", max_gain=self.max_mode_gain,
                    variance_share=self.mode_variance_share)
            loss = DSMLoss(self.beta, self.regulariser, self.time_score)
            result = train_energy(self.network_, x, schedule, loss, config,
                                  Path(self.checkpoint_dir) if self.checkpoint_dir else None,
                                  progress=self.verbose, cells=self._cells(),
                                  seed_said=checkpoint_seed_said(self.random_state),
                                  row_weights=None if self.mode_mixture_ is None
                                  else self.mode_mixture_.row_weights(x))
            self.fit_seconds_ = time.perf_counter() - start
            self.network_.eval()
            result.n_rows = len(X)
            self.train_result_ = result
            self.sigmas_ = schedule.grid(self.n_levels, self.spacing).numpy().astype(np.float32)

            # threshold_on "out_of_bag" with bags: which network fitted which row (round 47)
            bags = (training_bags(len(X), n_members, share, config.validation_fraction,
                                  config.seed)
                    if self.threshold_on == "out_of_bag" and not held_threshold else None)
            if bags is None:
                energies = self._energies(X)
            else:
                z = self._to_tensor(X)
                per_member = member_multiscale_energy(self.network_, z,
                                                      torch.as_tensor(self.sigmas_))
                # the term after the members' mean (a row's alike for every member), so that
                # these are `_energies`' to the last bit
                energies = self._finite_energies(
                    self._with_mode_term(per_member.mean(dim=0), z), X)
            # the rows training held out for validation (`val_idx`): the network never fitted
            # them, so they score like new normal samples
            self.aggregator_state_ = fit_aggregator(
                self.aggregator, energies, n_components=self.n_components,
                covariance_type=self.covariance_type, scale_index=self.scale_index, seed=seed,
                held=val_idx.numpy())
            held = val_idx.numpy() if held_threshold else np.arange(0)
            in_sample = self._aggregate(energies)
            # round 60: repeated rows scored by their counts; counted without the rows a
            # held-out threshold is set on, which then score as new rows do (split conformal)
            counted = np.setdiff1d(np.arange(len(X)), held) if held.size else slice(None)
            self._fit_atoms(X[counted], in_sample[counted])
            scored = X
            if bags is None:
                threshold_scores = in_sample
                self.threshold_scores_ = "validation" if held.size else "training"
            else:  # bagged: nearly every row is out of some bag (those `rows`, in order)
                out_of_bag, rows = out_of_bag_energies(per_member, bags)
                out_of_bag = self._with_mode_term(out_of_bag, z[rows])
                threshold_scores = self._aggregate(out_of_bag.cpu().numpy())
                scored = X[rows.cpu().numpy()]
                self.threshold_scores_ = "out_of_bag"
            self._set_offset(self._atoms_scored(scored, threshold_scores), held)
        return self

    def _dequantised_columns(self, n_features: int, advice: str | None = None
                             ) -> np.ndarray | None:
        """The (n_features,) bool mask of the columns `dequantise` lets the rule spread:
        every one for True (a numpy bool too), those a list or tuple names
        (`mulde.estimator.columns.named_columns`, by `feature_names_in_` where the rows had
        named columns); None for False or an empty list. ValueError naming the first entry
        the data do not have (with `advice`, if given, as what to do)."""
        chosen = self.dequantise
        if _is_flag(chosen):
            return np.ones(n_features, dtype=bool) if chosen else None
        if not len(chosen):
            return None
        return named_columns(chosen, n_features, getattr(self, "feature_names_in_", None),
                             advice)

    def _lattice_columns(self, X: np.ndarray, precision: Any) -> int:
        """How many columns of the rows X (n, d) the rule of `dequantise` gives a cell (on a
        lattice, two-valued or with a point mass), whatever `dequantise` is: reweight "auto"
        leaves rows with any such column unweighted (density-fidelity round 64).
        `quantisation_steps_` where dequantise True computed them for every column, else the
        rule applied to X (`precision`: `given_precision` of the rows given to fit)."""
        steps = (self.quantisation_steps_ if _is_flag(self.dequantise) and self.dequantise
                 else quantisation_steps(X, precision=precision))
        return int(np.count_nonzero(steps > 0))

    def _cells(self) -> LatticeCells | None:
        """The lattice cells of the quantised columns in the network's coordinates
        (`quantisation_steps_` divided by the column's scale, with the whitening's rows of
        those columns when whitened), for `train_energy`'s dequantisation; None without
        `dequantise` or without a quantised column."""
        steps = self.quantisation_steps_
        if steps is None or not (steps > 0).any():
            return None
        cols = np.flatnonzero(steps > 0)
        widths = steps[cols] / self.scale_[cols]
        mixing = None if self.whitening_ is None else self.whitening_[cols]
        return LatticeCells(torch.from_numpy(cols).to(self.device_),
                            torch.from_numpy(widths.astype(np.float32)).to(self.device_),
                            None if mixing is None else
                            torch.from_numpy(mixing.astype(np.float32)).to(self.device_))

    def _new_network(self, n_features: int, n_members: int) -> EnergyNetwork:
        """An untrained energy network of this model's architecture (the widths
        `hidden_sizes_` fit or load set), of n_members networks, for n_features inputs (fit
        trains it; load fills it with the stored weights)."""
        rank = base_rank(n_features)
        return energy_network(n_features, self.hidden_sizes_,
                              self.layer_norm, self.dropout, n_members, self.noise_input,
                              rank if self.base is not None else None,
                              rank if self.precondition is not None else None)

    def _train_config(self, seed: int, n_rows: int, max_samples: float, n_features: int,
                      validation_fraction: float) -> TrainConfig:
        """The training settings of a fit on n_rows rows (all of them, the validation split
        included) of n_features features, lr="auto" resolved by `resolve_lr`, each network
        on `max_samples` of the rows and holding out `validation_fraction` (both "auto"
        resolved by `fit`: `resolve_ensemble`, `resolve_validation_fraction`)."""
        return TrainConfig(lr=resolve_lr(self.lr, n_rows, n_features),
                           lr_schedule=self.lr_schedule,
                           antithetic=self.antithetic,
                           max_samples=max_samples,
                           adam_betas=tuple(float(b) for b in self.adam_betas),
                           batch_size=self.batch_size, n_epochs=self.n_epochs,
                           max_steps=self.max_steps,
                           validation_fraction=validation_fraction,
                           eval_every=self.eval_every, patience=self.patience,
                           ema_decay=self.ema_decay, weight_decay=self.weight_decay,
                           seed=seed,
                           checkpoint_every=self.checkpoint_every)

    def _threshold_scores(self) -> str:
        """`threshold_scores_`, or for a model fitted or saved before it was recorded what
        its settings imply: "validation" where threshold_on="validation" held rows out,
        else "training"."""
        recorded = getattr(self, "threshold_scores_", None)
        if recorded is not None:
            return recorded
        held = (self.threshold_on == "validation"
                and self.train_result_.best_val_loss is not None)
        return "validation" if held else "training"

    def _set_offset(self, train_anomaly: np.ndarray, held: np.ndarray) -> None:
        """Set `offset_`: without `held` rows, the `contamination` quantile of the training
        rows' normality `train_anomaly` gives (scikit-learn's convention; `fit` gives the
        out-of-bag scores for threshold_on="out_of_bag"). With them (threshold_on="validation"),
        so that `predict` flags at most `contamination` of new normal samples: split
        conformal on the `held` validation rows (n of them): the k-th lowest
        of their normality scores, k = floor(fraction * (n + 1)), below which a new normal
        sample falls with probability k / (n + 1) <= fraction (ranks of exchangeable samples;
        Vovk et al. 2005, Lei et al. 2018). With too few rows for k >= 1 (fewer than
        1 / fraction - 1), nothing can be flagged within the promise: offset -inf, and
        `predict` warns. Without validation rows (validation_fraction 0 or n < 10), the
        training rows' quantile, which memorised rows make optimistic."""
        fraction = self._fraction()
        if held.size == 0:
            self.offset_ = float(np.percentile(-train_anomaly, 100.0 * fraction))
            return
        normality = np.sort(-train_anomaly[held])
        k = _held_out_rank(fraction, len(normality))
        self.offset_ = float(normality[k - 1]) if k else -np.inf

    def _fit_atoms(self, X: np.ndarray, scores: np.ndarray) -> None:
        """Set `atoms_` (k, d), `atom_counts_` and `atom_scores_` (k,): the rows of X (n, d)
        held at least `atom_min_count` times and their scores -log(c / n) + K, K fitted on
        the training rows' in-sample `scores` (n,) (`mulde.estimator.atoms`); k = 0 with
        atom_min_count None or no row so held."""
        self.atoms_ = np.empty((0, X.shape[1]))
        self.atom_counts_ = np.empty(0, dtype=np.int64)
        self.atom_scores_ = np.empty(0)
        if self.atom_min_count is None:
            return
        atoms, counts = count_atoms(X, self.atom_min_count)
        if len(atoms) == 0:
            return
        offset = atom_offset(scores, atom_counts(X, atoms, counts), len(X))
        self.atoms_, self.atom_counts_ = atoms, counts
        self.atom_scores_ = atom_scores(np.zeros(len(counts)), counts, len(X), offset)

    @property
    def n_atoms_(self) -> int:
        """k: how many repeated training rows the model scores by their counts (`atoms_`);
        0 with none, with atom_min_count None, unfitted, or fitted before round 60."""
        atoms = getattr(self, "atoms_", None)
        return 0 if atoms is None else len(atoms)

    def _atoms_scored(self, X: np.ndarray, scores: np.ndarray) -> np.ndarray:
        """scores (n,) of the rows X (n, d), each row equal to an atom given its score
        (`atom_scores_`); the scores themselves where the model has no atoms (also a model
        fitted before them)."""
        if not self.n_atoms_:
            return scores
        index = atom_index(X, self.atoms_)
        found = index >= 0
        if not found.any():
            return scores
        scores = np.array(scores, dtype=np.float64)
        scores[found] = self.atom_scores_[index[found]]
        return scores

    def _fraction(self) -> float:
        """The share of samples `predict` flags: `contamination`, 0.01 for "auto"."""
        return 0.01 if self.contamination == "auto" else float(self.contamination)

    # ----------------------------------------------------------------------------- scoring
    def _to_tensor(self, X: np.ndarray) -> torch.Tensor:
        with np.errstate(over="ignore"):
            z = X - self.mean_
            z /= self.scale_  # in place: one float64 temporary, not three
            whitening = getattr(self, "whitening_", None)  # models older than the option
            if whitening is not None:
                z = z @ whitening
        limit = np.finfo(np.float32).max
        if z.size and not (z.max() <= limit and z.min() >= -limit):
            _refuse_rows(np.abs(z) > limit, "lie beyond the float32 range once standardised "
                         "with the training mean and scale", X, self.mean_, self.scale_)
        return torch.from_numpy(z.astype(np.float32)).to(self.device_)

    def _energies(self, X: np.ndarray) -> np.ndarray:
        sigmas = torch.as_tensor(self.sigmas_)
        z = self._to_tensor(X)
        energies = multiscale_energy(self.network_, z, sigmas)
        return self._finite_energies(self._with_mode_term(energies, z), X)

    def _with_mode_term(self, energies: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """The energies (n, L) of the rows z (n, d) (network coordinates) with the term
        reweight adds to every level, -log r(z), r the fitted mixture's density over its
        twin's (equal per component, or per separated mode:
        `mulde.estimator.reweighting.ModeMixture`), in float64; as given without a mixture
        (and for a model saved before the option)."""
        mixture = getattr(self, "mode_mixture_", None)
        if mixture is None:
            return energies
        return energies.double() - mixture.log_ratio(z)[:, None]

    def _finite_energies(self, energies: torch.Tensor, X: np.ndarray) -> np.ndarray:
        """The network's (n, L) energies of the rows X as float64; ValueError naming the rows
        whose energies are not finite."""
        energies = energies.cpu().numpy().astype(np.float64)
        _refuse_rows(~np.isfinite(energies), "get non-finite energies (too far from the "
                     "training data for float32)", X, self.mean_, self.scale_)
        return energies

    def _aggregate(self, energies: np.ndarray) -> np.ndarray:
        return aggregate(self.aggregator, self.aggregator_state_, energies,
                         self.covariance_type)

    def _validated(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "network_")
        X = _refuse_table(X, getattr(self, "feature_names_in_", None))
        X = _finite(_validate_rows(self, X, reset=False), X)
        return np.asarray(X, dtype=np.float64)  # no copy when already float64

    def score_samples_multiscale(self, X: Any) -> np.ndarray:
        """Return the energies f(x, sigma_l) of the clean rows X (n, d) at the model's L noise
        levels (`sigmas_`, smallest first): (n, L) float64, higher = more anomalous (approx.
        -log q_sigma(x) + c, the paper's multiscale log-density up to a constant).
        Raises sklearn's NotFittedError before `fit`; ValueError for X that is not 2-D
        numeric, holds NaN or inf, has another number of columns than the training data, or
        (a DataFrame) other column names; ValueError naming the rows that lie beyond the
        float32 range once standardised, or whose energies are not finite (too far from the
        training data for float32); TypeError (scikit-learn's) for a sparse matrix: the rows
        must be dense (`X.toarray()`)."""
        return self._energies(self._validated(X))

    def anomaly_score(self, X: Any) -> np.ndarray:
        """Return the anomaly score of the rows X (n, d): (n,) float64, higher = more
        anomalous; the `aggregator`'s summary of `score_samples_multiscale` (the default
        "mean_energy": the mean over levels of the energies centred per level), and on a
        row equal to one of `atoms_` that atom's score (`atom_min_count`). Equal to
        -score_samples.
        Raises as `score_samples_multiscale`: NotFittedError before `fit`, ValueError for
        rows it cannot score (not 2-D, NaN/inf, columns, float32 range), TypeError for a
        sparse matrix (dense rows only: `X.toarray()`); the same ValueError naming the rows
        whose aggregated score is not finite (no fitted aggregator gives one for finite
        energies: a guard, should a model's state allow it)."""
        X = self._validated(X)
        scores = self._atoms_scored(X, self._aggregate(self._energies(X)))
        _refuse_rows(~np.isfinite(scores)[:, None], "get non-finite anomaly scores from the "
                     f"{self.aggregator} aggregator", X, self.mean_, self.scale_)
        return scores

    def score_samples(self, X: Any) -> np.ndarray:
        """Return -anomaly_score(X) for the rows X (n, d): (n,) float64, higher = more normal
        (scikit-learn's convention for outlier detectors).
        Raises as `score_samples_multiscale`: NotFittedError before `fit`, ValueError for
        rows it cannot score (not 2-D, NaN/inf, columns, float32 range), TypeError for a
        sparse matrix (dense rows only: `X.toarray()`)."""
        return -self.anomaly_score(X)

    def decision_function(self, X: Any) -> np.ndarray:
        """Return score_samples(X) - offset_ for the rows X (n, d): (n,) float64, negative
        for outliers, positive for inliers (the threshold set by `contamination` and
        `threshold_on`).
        Raises as `score_samples_multiscale`: NotFittedError before `fit`, ValueError for
        rows it cannot score (not 2-D, NaN/inf, columns, float32 range), TypeError for a
        sparse matrix (dense rows only: `X.toarray()`)."""
        return self.score_samples(X) - self.offset_

    def predict(self, X: Any) -> np.ndarray:
        """Return +1 for inliers and -1 for outliers among the rows X (n, d): (n,) int
        (decision_function < 0 is an outlier; `contamination`, `threshold_on`). Warns when
        the validation rows were too few to flag anything within the promise.
        Raises as `score_samples_multiscale`: NotFittedError before `fit`, ValueError for
        rows it cannot score (not 2-D, NaN/inf, columns, float32 range), TypeError for a
        sparse matrix (dense rows only: `X.toarray()`)."""
        check_is_fitted(self, "network_")
        if self.offset_ == -np.inf:
            bagged = self._on_bags()
            warnings.warn(FewValidationRowsWarning(
                self._fraction(), bagged=bagged,
                out_of_bag=self.threshold_on == "out_of_bag" and not bagged), stacklevel=2)
        return np.where(self.decision_function(X) < 0, -1, 1)

    def _on_bags(self) -> bool:
        """Whether the fitted networks trained on bags of the rows (`max_samples` < 1 as
        trained: `train_result_`, stored in the model file)."""
        return float(self.train_result_.max_samples) < 1.0

    def fit_predict(self, X: Any, y: None = None, **kwargs: Any) -> np.ndarray:
        """Fit on the rows X (n, d) and return their `predict` flags: (n,) int, -1 for an
        outlier, +1 for an inlier; with threshold_on="training" (the default) the
        `contamination` share of them is -1 (scikit-learn's contract for outlier detectors).
        X: dense numbers (an array, a list of rows, a DataFrame of numeric columns); a
        sparse matrix is a TypeError (`X.toarray()` first), and `fit`'s errors apply.
        Too few validation rows to flag any are warned of once, by `fit` (with their count;
        `predict`'s warning would repeat it). y is ignored; kwargs go to `fit`."""
        self.fit(X, y, **kwargs)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FewValidationRowsWarning)
            return self.predict(X)

    # ----------------------------------------------------------------------------- persistence
    def save(self, path: str | Path) -> Path:
        """Write the fitted model to one safetensors file (no pickle); return its path.

        path: a file, or a folder that gets model.safetensors. The file holds the network's
        weights (`network.*`), the standardisation (`mean`, `scale`, and `whitening` when
        fitted with `whiten`), the noise levels
        (`sigmas`) and the aggregator's arrays (`aggregator.*`), with `get_params()`, the
        feature count, the column names of a DataFrame it was fitted on (`feature_names`, so
        the loaded model refuses columns in another order, as the fitted one does), the offset,
        the principal directions n_members "auto" counted and the training record as JSON
        metadata (`mulde.estimator.persistence` adds the
        format fields and writes it atomically).
        """
        arrays, meta = self._file_contents()
        return save_arrays(path, arrays, meta)

    def _file_contents(self) -> tuple[dict[str, np.ndarray], dict[str, str]]:
        """The arrays and metadata `save` writes (a wrapper such as the PyOD adapter adds
        its own fields to them and writes one file that `load` still reads)."""
        check_is_fitted(self, "network_")
        arrays: dict[str, np.ndarray] = {
            f"network.{k}": v.detach().cpu().numpy() for k, v in self.network_.state_dict().items()
        }
        arrays |= {"mean": self.mean_, "scale": self.scale_, "sigmas": self.sigmas_}
        whitening = getattr(self, "whitening_", None)  # a model pickled before the option
        if whitening is not None:
            arrays["whitening"] = whitening
        arrays |= {f"aggregator.{k}": np.asarray(v) for k, v in self.aggregator_state_.items()}
        meta = {
            "params": json.dumps(self.get_params(), default=json_default),
            "n_features_in": str(self.n_features_in_),
            "offset": json.dumps(self.offset_),
            "threshold_scores": json.dumps(self._threshold_scores()),
            "train_result": json.dumps(asdict(self.train_result_)),
            "hidden_sizes": json.dumps(list(self.hidden_sizes_)),
            "principal_directions": json.dumps(getattr(self, "principal_directions_", None)),
            "lattice_columns": json.dumps(getattr(self, "lattice_columns_", None)),
        }
        if self.n_atoms_:
            arrays |= {"atoms": self.atoms_, "atom_counts": self.atom_counts_,
                       "atom_scores": self.atom_scores_}
        mixture = getattr(self, "mode_mixture_", None)  # models fitted before the option
        if mixture is not None:
            arrays |= {f"modes.{k}": v for k, v in mixture.arrays().items()}
        steps = getattr(self, "quantisation_steps_", None)  # models fitted before the option
        if steps is not None:
            meta["quantisation_steps"] = json.dumps([float(h) for h in steps])
        names = getattr(self, "feature_names_in_", None)  # fitted on a DataFrame's columns
        if names is not None:
            meta["feature_names"] = json.dumps([str(n) for n in names])
        return arrays, meta

    @classmethod
    def load(cls, path: str | Path, device: str = "cpu") -> MULDE:
        """Load a model written by `save` onto `device` (a GPU-trained model loads on CPU).

        device: where the network is placed and scores (`device_`); "auto" takes this
        machine's GPU if it has one. The `device` parameter (`get_params`, so `clone` and a
        refit) stays the saved setting, such as "auto", whatever device loads it; a saved
        device this machine cannot use (a "cuda" on a CPU-only machine) becomes "auto", with
        a `DeviceFallbackWarning` naming the file and the saved device, so that a refit runs
        here.

        The saved `checkpoint_dir` is not restored (the loaded model's is None): a refit of
        `clone(model)` writes no checkpoints to a folder a file names; set it again to.

        Raises ModelFileError naming the file when it is missing, a pipe, device or folder,
        unreadable, a pickle, foreign, newer, changed since it was saved (the checksum of its
        arrays and settings differs), or inconsistent, naming the field or array: unknown
        parameters, parameters the estimator's own checks refuse (`check_params`), a
        dequantise list naming a column the model lacks or leaving out one with stored
        cells, a metadata field missing or not a whole number in ASCII digits (n_features_in, also
        other than the stored means' length), an offset that is NaN or +inf (-inf is a fit's
        own: too few validation rows to flag any), a training record whose fields are not of
        `TrainResult`'s types, or an array missing, of another dtype kind (floating arrays:
        float32 or float64) or shape than the stored configuration gives (n_features_in,
        n_levels, the aggregator's, the network's), with non-finite values, or with values
        no fit writes: noise levels not > 0 and non-decreasing, column scales not > 0, a
        singular whitening, a GMM aggregator's weights not > 0 summing to 1 or its
        precisions' Cholesky factors not upper triangular with a diagonal > 0 (variances
        > 0), z-score deviations not > 0, stacked weights not >= 0 summing to 1, kept
        levels not strictly increasing; repeated rows (`atoms`, `atom_counts`,
        `atom_scores`) stored in part, of other shapes, non-finite, with a count below
        atom_min_count, or under atom_min_count None. A value check, not the checksum
        (which anyone can recompute), is what stops a crafted file. Files saved before the
        checksum are checked alike. Unknown extra arrays and metadata fields are ignored.
        ValueError, before the file is read, for a device this machine cannot use (as
        `fit`: not a device name, or a GPU that is not there).
        """
        check_device(device)
        meta, arrays = read_model_file(path)
        return cls._from_file_contents(model_file(path), meta, arrays, device)

    @classmethod
    def _from_file_contents(cls, path: Path, meta: dict[str, str],
                            arrays: dict[str, np.ndarray], device: str) -> MULDE:
        """The model that `read_model_file(path)`'s (meta, arrays) describe, on `device`
        (`load`; a wrapper that read the file for its own fields builds its model here)."""
        try:
            params: dict[str, Any] = _json_field(path, meta, "params", dict)
            unknown = sorted(set(params) - set(cls().get_params()))
            if unknown:
                raise ModelFileError(f"{path}: unknown parameter(s) {unknown} in the model "
                                     "config")
            # a list as the estimator holds it (a tuple); anything else is left to
            # `check_params`, which names the parameter and what it must be
            if isinstance(params.get("hidden_sizes"), list):  # "auto" since round 28
                params["hidden_sizes"] = tuple(params["hidden_sizes"])
            # files written before the betas became a parameter were trained with (0.5, 0.9)
            betas = params.get("adam_betas", [0.5, 0.9])
            params["adam_betas"] = tuple(betas) if isinstance(betas, list) else betas
            # a folder a refit would write its checkpoints to: the file's is not trusted
            # (a file from elsewhere could name any folder), so a loaded model has none
            params["checkpoint_dir"] = None
            # the saved setting stays the model's parameter (a refit of `clone(model)` goes
            # where the fit went: "auto" finds this machine's GPU), while its own checks below
            # take the device it is loaded onto, which this machine has (a saved "cuda" need
            # not: one this machine cannot use becomes "auto" once the file is read, below)
            saved_device = params.get("device", "auto")
            params["device"] = device
            # files written before the regulariser became a parameter were trained with the
            # only form there was, the constant one (the default is now "sigma2")
            params.setdefault("regulariser", "constant")
            params.setdefault("sigma_low_nn", None)  # and with the fixed sigma_low
            params.setdefault("weight_decay", 0.0)  # and without weight decay
            params.setdefault("n_members", 1)  # one network
            params.setdefault("max_samples", 1.0)  # on every training row
            params.setdefault("lr_schedule", "constant")
            params.setdefault("antithetic", False)  # and single noise draws
            params.setdefault("whiten", None)  # and standardised per column only
            params.setdefault("dequantise", False)  # and trained on the rows as given
            params.setdefault("sigma_high_span", None)  # and the fixed sigma_high
            params.setdefault("noise_input", "sigma")  # and the raw noise level as input
            params.setdefault("scaling", "column")  # and per-column scaling
            params.setdefault("base", None)  # and no Gaussian base
            params.setdefault("precondition", None)  # and the noisy rows as the input
            params.setdefault("time_score", 0.0)  # and without time-score matching
            params.setdefault("atom_min_count", None)  # and repeated rows scored as others
            params.setdefault("reweight", None)  # and every training row alike
            params.setdefault("max_mode_gain", None)  # and separated modes' equal shares
            params.setdefault("dequantise_modes", False)  # fitted on the rows as given
            params.setdefault("mode_variance_share", None)  # on the rows' d coordinates
            model = cls(**params)
            # the member count first: a huge one is refused before anything is built, and a
            # count that is not a number is named with the number of networks the file holds
            stored = {k.split(".")[2] for k in arrays if k.startswith("network.members.")}
            if params["n_members"] not in ("auto", max(len(stored), 1)):
                raise ModelFileError(f"{path}: the config says n_members="
                                     f"{params['n_members']!r}, the file holds "
                                     f"{max(len(stored), 1)} network(s)")
            try:  # the estimator's own rules: types, ranges, and how the settings relate
                model.check_params()
            except ValueError as err:  # scikit-learn's sentence, read inside ours
                said = str(err).rstrip(".")
                said = said[:1].lower() + said[1:] if said.startswith("The ") else said
                raise ModelFileError(f"{path}: inconsistent MULDE model file: its stored "
                                     f"parameters are not valid: {said}; fit and save it "
                                     "again") from None
            if not is_device_name(saved_device):
                raise ModelFileError(f"{path}: inconsistent MULDE model file: its stored "
                                     f"parameters are not valid: device={saved_device!r} is "
                                     "not a device; fit and save it again")
            model.device = saved_device
            model.n_features_in_ = _whole_field(path, meta, "n_features_in", 1)
            _check_features_count(path, model.n_features_in_, arrays)
            offset = _json_field(path, meta, "offset")
            # -inf is a fit's own: too few validation rows to flag any (`_set_offset`)
            if (isinstance(offset, bool) or not isinstance(offset, int | float)
                    or math.isnan(offset) or offset == math.inf):
                raise ModelFileError(f"{path}: inconsistent MULDE model file: metadata field "
                                     f"'offset' is {shown(meta['offset'])}, not a number "
                                     "(finite, or -Infinity: a threshold that flags none); "
                                     "fit and save it again")
            model.offset_ = float(offset)
            record = _json_field(path, meta, "train_result", dict)
            _check_train_result(path, record)
            # a field a later mulde records (as n_rows was added) is its own to read: the
            # rest of the record still describes the run
            known = {f.name for f in fields(TrainResult)}
            try:
                model.train_result_ = TrainResult(**{k: v for k, v in record.items()
                                                     if k in known})
            except TypeError as err:
                raise ModelFileError(f"{path}: inconsistent MULDE model file: metadata field "
                                     f"'train_result' does not describe a training run "
                                     f"({err}); fit and save it again") from None
            # what the threshold was set on (round 47; files from before it: inferred)
            scores = _json_field(path, meta, "threshold_scores",
                                 default=json.dumps(model._threshold_scores()))
            if scores not in THRESHOLD_SCORES:
                raise ModelFileError(f"{path}: inconsistent MULDE model file: metadata field "
                                     f"'threshold_scores' is {scores!r}, not one of "
                                     f"{THRESHOLD_SCORES}; fit and save it again")
            model.threshold_scores_ = scores
            # the widths built (files from before round 28 name them in hidden_sizes itself);
            # stored, so that a later "auto" rule cannot change the network a file holds
            built = (_json_field(path, meta, "hidden_sizes") if "hidden_sizes" in meta
                     else params["hidden_sizes"])
            if not are_widths(built):
                raise ModelFileError(f"{path}: the network's widths {built!r} are not a list "
                                     "of positive whole numbers")
            if not isinstance(params["hidden_sizes"], str) and tuple(built) != tuple(
                    params["hidden_sizes"]):
                raise ModelFileError(f"{path}: inconsistent MULDE model file: the config says "
                                     f"hidden_sizes={list(params['hidden_sizes'])}, the network "
                                     f"stored has widths {list(built)}")
            model.hidden_sizes_ = tuple(built)
            # what n_members "auto" counted (round 33), and reweight "auto" on a lattice
            # (round 64); files from before either: not counted
            model.principal_directions_ = _stored_count(path, meta, "principal_directions",
                                                        model.n_features_in_)
            lattice = _stored_count(path, meta, "lattice_columns", model.n_features_in_)
            model.lattice_columns_ = lattice
            model.quantisation_steps_ = _stored_steps(path, meta, model)
            _check_arrays(path, model, arrays)
            model.atoms_, model.atom_counts_, model.atom_scores_ = _stored_atoms(
                path, model, arrays)
            model.mode_mixture_ = _stored_modes(path, model, arrays)
            if lattice and model.mode_mixture_ is not None:  # "auto" on a lattice: unweighted
                raise ModelFileError(f"{path}: inconsistent MULDE model file: lattice_columns "
                                     f"{lattice} says reweight \"auto\" fitted unweighted "
                                     f"(columns on a lattice), but the mixture's "
                                     f"{MODE_ARRAYS[0]!r} is stored; fit and save it again")
            model.mean_, model.scale_ = arrays["mean"], arrays["scale"]
            model.whitening_ = arrays.get("whitening")
            model.sigmas_ = arrays["sigmas"]
            model.sigma_low_ = float(model.sigmas_[0]) if len(model.sigmas_) > 1 else float(
                params["sigma_low"])
            model.sigma_high_ = float(model.sigmas_[-1]) if len(model.sigmas_) > 1 else float(
                params["sigma_high"])
            model.aggregator_state_ = {k.split(".", 1)[1]: v for k, v in arrays.items()
                                       if k.startswith("aggregator.")}
            if "feature_names" in meta:  # scikit-learn checks a DataFrame's columns by them
                names = _json_field(path, meta, "feature_names")
                if (not isinstance(names, list) or len(names) != model.n_features_in_
                        or not all(isinstance(n, str) for n in names)):
                    raise ModelFileError(f"{path}: feature_names is not a list of "
                                         f"{model.n_features_in_} column names")
                model.feature_names_in_ = np.asarray(names, dtype=object)
            _check_dequantised(path, model)
            # built without memory (meta device): a tampered config cannot make it allocate;
            # the stored tensors, whose names, shapes and dtypes must be the ones it has,
            # become its weights
            with torch.device("meta"):
                net = model._new_network(model.n_features_in_, max(len(stored), 1))
            state = {k.split(".", 1)[1]: v for k, v in arrays.items()
                     if k.startswith("network.")}
            _check_network(path, net, state)
            net.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in state.items()},
                                strict=True, assign=True)
        except ModelFileError:
            raise
        except KeyError as err:
            raise ModelFileError(f"{path}: inconsistent MULDE model file: its field {err} is "
                                 "missing; fit and save it again") from err
        except (TypeError, ValueError, RuntimeError, json.JSONDecodeError) as err:
            raise ModelFileError(f"{path}: inconsistent MULDE model file: {err}") from err
        model.device_ = str(resolve_device(device))
        model.network_ = net.to(model.device_).eval()
        if device_problem(model.device) is not None:  # a GPU this machine lacks: a refit
            # (clone(model).fit, a grid search) goes where "auto" finds, rather than refused
            warnings.warn(f"{path}: saved with device={model.device!r}, which this machine "
                          "cannot use: its device setting is 'auto' here (this machine's GPU "
                          "if it has one, else its CPU)", DeviceFallbackWarning, stacklevel=3)
            model.device = "auto"
        return model

    def summary(self) -> dict[str, Any]:
        """Return a JSON-friendly description of the fitted model. With an aggregator that
        chooses on the validation rows, "aggregate" says what it chose (`_chosen_levels`);
        fitted on named columns (a DataFrame, or a CSV with a header through `mulde fit`),
        "feature_names" lists them in order (what scoring checks); where n_members "auto"
        counted them, "principal_directions" (round 33); with reweight "auto" (up to 256
        features), "lattice_columns": how many columns have a lattice cell (any, and "auto"
        fitted unweighted: round 64); fitted with dequantise,
        "quantised_columns" (their count) and "quantisation_steps" (column name, or index
        from 0 without names, -> cell width, for the columns dequantised: on a lattice,
        two-valued or with a point mass). "threshold_scores" is what `offset_` was set on
        (`threshold_scores_`). With repeated rows (`atoms_`), "repeated_rows": their count
        "atoms", the training rows on them "rows" and "min_count" (`atom_min_count`). With
        reweight and a mixture fitted, "modes": its "components" and their "weights"
        (largest first), where it was fitted on principal coordinates (mode_variance_share)
        the number of "directions" (r of its basis), and for "separated_modes" the number
        of "modes" they make and their "masses" (largest first), and where their shares are
        bounded the bound the mixture was fitted with, "max_gain" (max_mode_gain at fit
        time), and their "shares" in the twin (in the masses' order).
        "train" is the training record (`train_result_`) without its per-step loss
        history."""
        check_is_fitted(self, "network_")
        out: dict[str, Any] = {"params": self.get_params(),
                               "n_features_in": int(self.n_features_in_),
                               "hidden_sizes": list(self.hidden_sizes_),
                               "n_parameters": sum(p.numel() for p in self.network_.parameters()),
                               "sigmas": [float(s) for s in self.sigmas_], "offset": self.offset_,
                               "threshold_scores": self._threshold_scores(),
                               "train": {key: value for key, value
                                         in asdict(self.train_result_).items()
                                         if key != "history"}}  # per step: too long
        chosen = self._chosen_levels()
        if chosen is not None:
            out["aggregate"] = chosen
        directions = getattr(self, "principal_directions_", None)
        if directions is not None:  # counted by n_members "auto" (round 33)
            out["principal_directions"] = int(directions)
        steps = getattr(self, "quantisation_steps_", None)
        names = getattr(self, "feature_names_in_", None)
        if steps is not None:  # fitted with dequantise: the columns dequantised, and cells
            out["quantised_columns"] = int(np.count_nonzero(steps))
            out["quantisation_steps"] = {
                (str(names[j]) if names is not None else str(j)): float(steps[j])
                for j in np.flatnonzero(steps)}
        lattice = getattr(self, "lattice_columns_", None)
        if lattice is not None:  # reweight "auto": the columns with a cell (round 64)
            out["lattice_columns"] = lattice
        if self.n_atoms_:  # round 60: repeated rows scored by counts
            out["repeated_rows"] = {"atoms": self.n_atoms_,
                                    "rows": int(self.atom_counts_.sum()),
                                    "min_count": int(self.atom_min_count)}
        mixture = getattr(self, "mode_mixture_", None)
        if mixture is not None:  # reweight="modes" or "separated_modes"
            out["modes"] = {"components": mixture.n_components,
                            "weights": sorted((float(w) for w in mixture.weights), reverse=True)}
            if mixture.basis is not None:  # fitted on principal coordinates
                out["modes"]["directions"] = int(mixture.basis.shape[1])
            if mixture.labels is not None:  # separated: the modes the components make
                masses = _modes_of(mixture)
                out["modes"]["modes"] = len(masses)
                out["modes"]["masses"] = masses
                if mixture.max_gain is not None:  # the twin's shares, bounded (round 63)
                    out["modes"]["max_gain"] = float(mixture.max_gain)
                    order = np.argsort(-mixture.masses, kind="stable")
                    out["modes"]["shares"] = [float(s) for s in mixture.shares[order]]
        if names is not None:
            out["feature_names"] = [str(n) for n in names]
        return out

    def _chosen_levels(self) -> dict[str, Any] | None:
        """What a validation-choosing aggregator chose, None for the others: "sigmas", the
        levels it scores with ("cv_level": one; "mean_energy_validated": those kept), and for
        "stacked" the mixture's "weights" on every level; "as": "mean_energy" when
        "cv_level" or "stacked" had no validation rows and score with every level alike."""
        if self.aggregator not in HELD_OUT_CHOOSING:
            return None
        state, sigmas = self.aggregator_state_, [float(s) for s in self.sigmas_]
        if "weights" in state:
            return {"sigmas": sigmas, "weights": [float(w) for w in state["weights"]]}
        levels = [int(i) for i in state["levels"]]
        out: dict[str, Any] = {"sigmas": [sigmas[i] for i in levels]}
        if self.aggregator in LEVEL_COMPARING and len(levels) == len(sigmas) > 1:
            out["as"] = "mean_energy"
        return out

    def __sklearn_tags__(self):  # noqa: D105
        tags = super().__sklearn_tags__()
        tags.non_deterministic = self.random_state is None
        return tags


@contextlib.contextmanager
def _torch_seeded(seed: int, device: torch.device) -> Iterator[None]:
    """Seed torch's global generators that a fit on `device` draws from, the CPU's and
    `device`'s, with `seed` (as `torch.manual_seed` does: the same draws, so the same fit),
    and restore their states on leaving (`torch.random.fork_rng`): the process's other
    draws are neither reseeded nor advanced. Other devices' generators are not touched."""
    accelerator = device.type not in ("cpu", "meta")
    with torch.random.fork_rng(devices=[device] if accelerator else [],
                               device_type=device.type if accelerator else "cuda"):
        torch.default_generator.manual_seed(seed)
        if device.type == "cuda":
            with torch.cuda.device(device):  # the current one when no index is given
                torch.cuda.manual_seed(seed)
        elif accelerator:
            torch.get_device_module(device.type).manual_seed(seed)
        yield


def _json_field(path: Path, meta: Mapping[str, str], name: str, kind: type | None = None,
                default: str | None = None) -> Any:
    """The metadata field `name` of the model file `path` read as JSON (`default`, itself
    JSON, where the field is absent and may be; KeyError where it may not); ModelFileError
    naming the file and the field when it is not JSON, or not of `kind` (e.g. dict)."""
    raw = meta[name] if default is None else meta.get(name, default)
    try:
        value = json.loads(raw)
    except ValueError:
        raise ModelFileError(f"{path}: inconsistent MULDE model file: metadata field {name!r} "
                             f"is not valid JSON ({raw[:40]!r}); fit and save it "
                             "again") from None
    if kind is not None and not isinstance(value, kind):
        raise ModelFileError(f"{path}: inconsistent MULDE model file: metadata field {name!r} "
                             f"is not a JSON {'object' if kind is dict else kind.__name__} "
                             f"({raw[:40]!r}); fit and save it again")
    return value


def _whole_field(path: Path, meta: dict[str, str], name: str, least: int) -> int:
    """The metadata field `name` of the model file `path` as a whole number of at least
    `least`; ModelFileError naming the file and the field when it is not one."""
    raw = meta[name]
    value = whole_number(raw)  # ASCII digits only: int() takes " 2 " and Arabic-Indic digits
    if value is None or value < least:
        raise ModelFileError(f"{path}: inconsistent MULDE model file: metadata field {name!r} "
                             f"is {shown(raw)}, not a whole number of at least {least}; fit "
                             "and save it again")
    return value


def _check_features_count(path: Path, n_features: int, arrays: Mapping[str, np.ndarray]
                          ) -> None:
    """Refuse, naming the field, a stored `n_features_in` other than the length of the
    stored column means (which every other array's shape is then checked against): a wrong
    count was said as a mismatch of whatever array or field came first."""
    mean = arrays.get("mean")
    if mean is not None and mean.shape != (n_features,):
        raise ModelFileError(f"{path}: inconsistent MULDE model file: metadata field "
                             f"'n_features_in' is {n_features}, but array 'mean' has shape "
                             f"{mean.shape} (one value per feature); fit and save it again")


_TRAIN_FIELDS: dict[str, tuple[str, bool]] = {
    "steps": ("int", False), "best_step": ("int", False), "best_val_loss": ("float", True),
    "stopped_early": ("bool", False), "lr": ("float", True), "n_members": ("int", True),
    "max_samples": ("float", True), "validation_fraction": ("float", True),
    "resumed_from": ("int", True), "n_rows": ("count", True)}
"""The fields of `TrainResult` a model file stores (but "history"): kind ("int": a whole
number >= 0; "count": >= 1, the rows of a fit, which `mulde info` counts) and whether null
(None) is allowed (an older file's, or no validation rows: `best_val_loss`)."""


def _check_train_result(path: Path, record: dict[str, Any]) -> None:
    """Refuse, naming the field, a stored training record whose fields are not of
    `TrainResult`'s types (`_TRAIN_FIELDS`; "history": a list of objects of numbers, as
    `train_energy` appends them): `mulde info` printed it with format codes and failed with
    a traceback. Fields missing or unknown are left to `TrainResult` (its TypeError)."""
    for name, value in record.items():
        if name == "history":
            good = isinstance(value, list) and all(
                isinstance(entry, dict) and all(
                    isinstance(v, int | float) and not isinstance(v, bool)
                    for v in entry.values()) for entry in value)
            what = "a list of objects of numbers"
        elif name in _TRAIN_FIELDS:
            kind, nullable = _TRAIN_FIELDS[name]
            if kind == "bool":
                good, what = isinstance(value, bool), "true or false"
            elif kind in ("int", "count"):
                least = 1 if kind == "count" else 0
                good = isinstance(value, int) and not isinstance(value, bool) and value >= least
                what = f"a whole number >= {least}"
            else:
                good = isinstance(value, int | float) and not isinstance(value, bool)
                what = "a number"
            if nullable:
                good, what = good or value is None, f"{what} or null"
        else:
            continue
        if not good:
            raise ModelFileError(f"{path}: inconsistent MULDE model file: metadata field "
                                 f"'train_result' has {name}={cut(json.dumps(value))}, not "
                                 f"{what}; fit and save it again")


def _expected_arrays(model: MULDE) -> dict[str, tuple[tuple[int, ...], str, str]]:
    """The arrays other than the network's that a file of `model`'s configuration (its
    parameters and n_features_in_ set) holds: name -> (shape, "float" or "int", what fixes
    the shape, for messages). The aggregator's depend on what it chose: "stacked" stores
    "weights" or (without validation rows) "mean" and "levels", whose count is its own."""
    d, n_levels = model.n_features_in_, model.n_levels
    by_d, by_l = f"n_features_in={d}", f"n_levels={n_levels}"
    out = {"mean": ((d,), "float", by_d), "scale": ((d,), "float", by_d),
           "sigmas": ((n_levels,), "float", by_l)}
    if model.whiten is not None:
        out["whitening"] = ((d, d), "float", f"whiten={model.whiten!r}, {by_d}")
    kind = Aggregation(model.aggregator)
    level = ((n_levels,), "float", f"{by_l}, aggregator={kind.value!r}")
    if kind is Aggregation.GMM:
        k, how = model.n_components, model.covariance_type
        why = f"{by_l}, n_components={k}, covariance_type={how!r}"
        covariance = {"full": (k, n_levels, n_levels), "tied": (n_levels, n_levels),
                      "diag": (k, n_levels), "spherical": (k,)}[how]
        state = {"weights": ((k,), "float", why), "means": ((k, n_levels), "float", why),
                 "covariances": (covariance, "float", why),
                 "precisions_cholesky": (covariance, "float", why)}
    elif kind is Aggregation.SINGLE:
        state = {"index": ((1,), "int", f"aggregator={kind.value!r}")}
    elif kind in (Aggregation.MEAN_Z, Aggregation.MAX_Z):
        state = {"mean": level, "std": level}
    elif kind is Aggregation.MEAN_ENERGY:
        state = {"mean": level}
    else:  # the held-out choosing ones: the levels kept (their count is theirs), or weights
        state = {"mean": level, "levels": ((-1,), "int", f"aggregator={kind.value!r}")}
    return out | {f"aggregator.{k}": v for k, v in state.items()}


def _stored_count(path: Path, meta: Mapping[str, str], name: str, n_features: int
                  ) -> int | None:
    """A count of columns or directions a file stores as metadata `name` (JSON; None where
    absent or null: a file from before it was recorded), counted among the n_features
    standardised columns; ModelFileError naming the file and the field for anything but a
    whole number from 0 to n_features."""
    count = _json_field(path, meta, name, default="null")
    if count is not None and (isinstance(count, bool) or not isinstance(count, int)
                              or not 0 <= count <= n_features):
        raise ModelFileError(f"{path}: {name} {cut(repr(count))} is not a whole number from "
                             f"0 to n_features_in ({n_features}); fit and save it again")
    return count


def _stored_steps(path: Path, meta: Mapping[str, str], model: MULDE) -> np.ndarray | None:
    """The quantisation steps a file stores (metadata "quantisation_steps": a JSON list of
    n_features_in_ numbers >= 0, written with dequantise=True), None where it stores none;
    ModelFileError naming the file for anything else, or for steps without dequantise."""
    if "quantisation_steps" not in meta:
        return None
    stored = _json_field(path, meta, "quantisation_steps")
    try:
        steps = np.asarray(stored, dtype=np.float64)
    except (ValueError, TypeError):  # not numbers
        steps = None
    if (steps is None or steps.shape != (model.n_features_in_,)
            or not np.all(np.isfinite(steps) & (steps >= 0))):
        raise ModelFileError(f"{path}: inconsistent MULDE model file: 'quantisation_steps' "
                             f"is not a list of {model.n_features_in_} numbers >= 0; fit and "
                             "save it again")
    if not model.dequantise:
        raise ModelFileError(f"{path}: inconsistent MULDE model file: 'quantisation_steps' "
                             f"is stored, but the config says dequantise="
                             f"{cut(repr(model.dequantise))}; fit and save it again")
    return steps


ATOM_ARRAYS = ("atoms", "atom_counts", "atom_scores")
"""The arrays a file of a model with repeated rows (`atom_min_count`) holds: all or none."""


def _stored_atoms(path: Path, model: MULDE, arrays: Mapping[str, np.ndarray]
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The repeated rows a file stores: (atoms (k, d) float64, atom_counts (k,) int64,
    atom_scores (k,) float64), k = 0 where it stores none (also every file written before
    round 60). ModelFileError naming the file and the array where only some are stored, or
    they are not k rows of n_features_in_ finite numbers with k whole counts of at least
    `atom_min_count` and k finite scores, or stored under atom_min_count None."""
    d = model.n_features_in_
    group = _stored_group(path, arrays, ATOM_ARRAYS, "atom_min_count=None",
                          model.atom_min_count is None)
    if group is None:
        return np.empty((0, d)), np.empty(0, dtype=np.int64), np.empty(0)
    start, end = f"{path}: inconsistent MULDE model file: ", "; fit and save it again"
    atoms, counts, scores = group
    k = len(atoms)
    if not (atoms.ndim == 2 and atoms.shape[1] == d and atoms.dtype.kind == "f"):
        raise ModelFileError(f"{start}array 'atoms' has shape {atoms.shape} ({atoms.dtype}), "
                             f"expected rows of {d} floating-point numbers (n_features_in="
                             f"{d}){end}")
    for name, a, kind in (("atom_counts", counts, "iu"), ("atom_scores", scores, "f")):
        if a.shape != (k,) or a.dtype.kind not in kind:
            said = "whole numbers" if kind == "iu" else "floating-point numbers"
            raise ModelFileError(f"{start}array {name!r} has shape {a.shape} ({a.dtype}), "
                                 f"expected {k} {said}, one per row of 'atoms'{end}")
    if not (np.isfinite(atoms).all() and np.isfinite(scores).all()):
        raise ModelFileError(f"{start}array 'atoms' or 'atom_scores' holds non-finite values "
                             f"(NaN or infinite){end}")
    if k and counts.min() < model.atom_min_count:
        raise ModelFileError(f"{start}array 'atom_counts' holds a count below atom_min_count="
                             f"{model.atom_min_count}{end}")
    return atoms.astype(np.float64), counts.astype(np.int64), scores.astype(np.float64)


def _stored_group(path: Path, arrays: Mapping[str, np.ndarray], names: Sequence[str],
                  setting: str, off: bool) -> list[np.ndarray] | None:
    """The arrays `names` (a group a fit stores all or none of) from a file's `arrays`, in
    that order; None where it stores none. ModelFileError naming the file and the first
    array missing where only some are stored, or naming the first where the config's
    `setting` (such as "reweight=None") stores none (`off` True)."""
    stored = [name for name in names if name in arrays]
    if not stored:
        return None
    start, end = f"{path}: inconsistent MULDE model file: ", "; fit and save it again"
    if len(stored) < len(names):
        missing = next(name for name in names if name not in arrays)
        raise ModelFileError(f"{start}array {missing!r} is missing beside {stored[0]!r}{end}")
    if off:
        raise ModelFileError(f"{start}array {names[0]!r} is stored, but the config says "
                             f"{setting}{end}")
    return [arrays[name] for name in names]


MODE_ARRAYS = ("modes.means", "modes.variances", "modes.weights")
"""The arrays of reweight="modes"'s mixture in a saved model (`ModeMixture.arrays`)."""

MODE_LABELS = "modes.labels"
"""reweight="separated_modes"'s array beside `MODE_ARRAYS` in a saved model: the mode of each
component (`ModeMixture.labels`), from which its twin's weights follow."""

MODE_BASIS = "modes.basis"
"""Beside `MODE_ARRAYS` where the mixture lives on principal coordinates
(mode_variance_share): the basis (d, r) the rows are projected on (`ModeMixture.basis`)."""

BASIS_TOLERANCE = 1e-6
"""How far from the identity (largest entry of |B^T B - I|) a stored `MODE_BASIS` B may be:
a fit's eigenvectors are orthonormal to ~1e-15, and a basis stored as float32 (which
`_check_arrays` accepts) stays within ~1.2e-7, its columns of unit length."""

MODE_GAIN = "modes.max_gain"
"""Beside `MODE_LABELS` where the shares are bounded (max_mode_gain): the bound the mixture
was fitted with (`ModeMixture.max_gain`), as (1,) float64."""


def _modes_of(mixture: ModeMixture) -> list[float]:
    """The masses (G,) of reweight="separated_modes"'s modes, largest first: the sums of
    their components' weights (`ModeMixture.masses`; two modes of equal mass are two)."""
    return sorted((float(m) for m in mixture.masses), reverse=True)


def _stored_modes(path: Path, model: MULDE, arrays: Mapping[str, np.ndarray]
                  ) -> ModeMixture | None:
    """The mixture reweight="modes" or "separated_modes" fitted, from a file's `MODE_ARRAYS`
    (and, for "separated_modes", `MODE_LABELS`); None where it stores none (one component
    or one mode chosen, reweight None, or a file from before the option).
    ModelFileError naming the file and the array where only some are stored, they are
    stored under reweight None, 'modes.labels' is stored under any reweight but
    "separated_modes" or missing under it, 'modes.max_gain' is stored without
    'modes.labels' or is not one number >= 1 (`_stored_gain`), 'modes.basis' (`MODE_BASIS`)
    is stored without the mixture or is not (n_features_in_, r) finite float32 or float64
    numbers, 1 <= r <= n_features_in_, with orthonormal columns (within `BASIS_TOLERANCE`),
    or they are not K means and K variances of
    r (n_features_in_ without a basis) finite float32 or float64 numbers (variances
    positive), K >= 2 positive
    finite weights summing to 1 (a vector) and K whole-number labels 0..G-1, each used,
    G >= 2."""
    start, end = f"{path}: inconsistent MULDE model file: ", "; fit and save it again"
    group = _stored_group(path, arrays, MODE_ARRAYS, "reweight=None", model.reweight is None)
    if MODE_GAIN in arrays and MODE_LABELS not in arrays:
        raise ModelFileError(f"{start}array {MODE_GAIN!r} is stored without "
                             f"{MODE_LABELS!r}: a bound on separated modes' shares needs "
                             f"the modes{end}")
    if group is None:
        for name in (MODE_LABELS, MODE_BASIS):
            if name in arrays:
                raise ModelFileError(f"{start}array {name!r} is stored without the "
                                     f"mixture's {MODE_ARRAYS[0]!r}{end}")
        return None
    means, variances, weights = group
    separated = model.reweight in ("auto", "separated_modes")
    if (MODE_LABELS in arrays) != separated:  # each value stores its modes so, or not
        raise ModelFileError(f"{start}array {MODE_LABELS!r} is "
                             f"{'missing' if separated else 'stored'}, but the config says "
                             f"reweight={model.reweight!r}{end}")
    if weights.ndim != 1:  # K is read from them (a scalar has no len: a TypeError's text)
        raise ModelFileError(f"{start}array 'modes.weights' has shape {weights.shape}, "
                             f"expected (K,): one weight per mixture component{end}")
    d, k = model.n_features_in_, len(weights)
    basis = arrays.get(MODE_BASIS)
    if basis is not None and (basis.ndim != 2 or basis.shape[0] != d
                              or not 1 <= basis.shape[1] <= d):
        raise ModelFileError(f"{start}array {MODE_BASIS!r} has shape {basis.shape}, expected "
                             f"(n_features_in, r) = ({d}, r) with 1 <= r <= {d}{end}")
    r = d if basis is None else basis.shape[1]  # the mixture's coordinates
    for name, a, shape in (("modes.weights", weights, (k,)), ("modes.means", means, (k, r)),
                           ("modes.variances", variances, (k, r)),
                           *(() if basis is None else ((MODE_BASIS, basis, (d, r)),))):
        # float32 or float64, as `_check_arrays` (float16 and bfloat16 are no dtype save
        # writes)
        if a.shape != shape or a.dtype not in (np.float32, np.float64):
            raise ModelFileError(f"{start}array {name!r} has shape {a.shape} ({a.dtype}), "
                                 f"expected {shape} float32 or float64 numbers "
                                 f"(n_features_in={d}, {k} components"
                                 + ("" if basis is None else f" on {r} principal directions")
                                 + f"){end}")
        if not np.isfinite(a).all():
            raise ModelFileError(f"{start}array {name!r} holds non-finite values (NaN or "
                                 f"infinite){end}")
    if k < 2 or variances.min() <= 0 or weights.min() <= 0 or abs(weights.sum() - 1) > 1e-6:
        raise ModelFileError(f"{start}arrays 'modes.*' are not a mixture of two or more "
                             "components with positive variances and positive weights "
                             f"summing to 1{end}")
    if basis is not None:  # principal directions: orthonormal columns (`principal_basis`)
        gram = basis.astype(np.float64).T @ basis.astype(np.float64)
        off = float(np.abs(gram - np.eye(r)).max())
        if off > BASIS_TOLERANCE:
            raise ModelFileError(f"{start}array {MODE_BASIS!r} holds no principal "
                                 "directions: its columns are not orthonormal (basis^T basis "
                                 f"differs from the identity by up to {off:.3g}){end}")
    labels = _stored_labels(start, end, arrays[MODE_LABELS], k) if separated else None
    return ModeMixture(means.astype(np.float64), variances.astype(np.float64),
                       weights.astype(np.float64), labels,
                       _stored_gain(start, end, arrays, model) if separated else None,
                       None if basis is None else basis.astype(np.float64))


def _stored_gain(start: str, end: str, arrays: Mapping[str, np.ndarray], model: MULDE
                 ) -> float | None:
    """The bound on the separated modes' shares that a file's mixture was fitted with: its
    `MODE_GAIN` (1,) float (>= 1), else None (equal shares: a fit with max_mode_gain None,
    or a file from before the option). Read from the array, not the config, whose
    max_mode_gain a `set_params` after the fit may have changed. ModelFileError, its text
    between `start` and `end`, for an array of another shape or kind or a value not a
    number >= 1."""
    if MODE_GAIN not in arrays:
        return None
    gain = arrays[MODE_GAIN]
    if gain.shape != (1,) or gain.dtype not in (np.float32, np.float64):
        raise ModelFileError(f"{start}array {MODE_GAIN!r} has shape {gain.shape} "
                             f"({gain.dtype}), expected (1,) float32 or float64: the bound "
                             f"max_mode_gain the mixture was fitted with{end}")
    if not gain[0] >= 1 or not np.isfinite(gain[0]):  # NaN fails the first test
        raise ModelFileError(f"{start}array {MODE_GAIN!r} holds {float(gain[0])!r}, not a "
                             f"finite bound >= 1 (max_mode_gain){end}")
    return float(gain[0])


def _stored_labels(start: str, end: str, labels: np.ndarray, k: int) -> np.ndarray:
    """A file's `MODE_LABELS` as int64 (K,), checked: K whole numbers that use each of 0..G-1,
    G >= 2 (one mode would be no reweighting, which fit stores as no mixture); else
    ModelFileError, its text between `start` and `end`."""
    if labels.shape != (k,) or not np.issubdtype(labels.dtype, np.integer):
        raise ModelFileError(f"{start}array {MODE_LABELS!r} has shape {labels.shape} "
                             f"({labels.dtype}), expected ({k},) whole numbers: the mode of "
                             f"each of the {k} components{end}")
    # the range first: np.unique and bincount of a label of 1e12 would allocate for it
    if labels.min() < 0 or labels.max() >= k or len(np.unique(labels)) != labels.max() + 1:
        raise ModelFileError(f"{start}array {MODE_LABELS!r} holds {cut(repr(labels.tolist()))}"
                             ", not modes numbered 0, 1, ... G-1 each used once or more"
                             f"{end}")
    if labels.max() == 0:
        raise ModelFileError(f"{start}array {MODE_LABELS!r} puts every component in one mode, "
                             f"which is no reweighting (fit stores no mixture then){end}")
    return labels.astype(np.int64)


def _check_dequantised(path: Path, model: MULDE) -> None:
    """Refuse, naming the file, a stored `dequantise` list naming a column the model does
    not have (by its `feature_names`, or an index from 0 below n_features_in), or cells
    stored for a column it does not name: no fit writes either (ModelFileError)."""
    if _is_flag(model.dequantise):
        return
    start = f"{path}: inconsistent MULDE model file: "
    try:
        named = model._dequantised_columns(model.n_features_in_, "fit and save it again")
    except ValueError as err:
        raise ModelFileError(f"{start}{err}") from None
    steps = model.quantisation_steps_
    if steps is not None and named is not None and (steps[~named] > 0).any():
        j = int(np.flatnonzero(~named & (steps > 0))[0])
        names = getattr(model, "feature_names_in_", None)
        said = repr(str(names[j])) if names is not None else str(j)
        raise ModelFileError(f"{start}'quantisation_steps' holds a cell for column {said}, "
                             f"which dequantise={cut(repr(model.dequantise))} does not name; "
                             "fit and save it again")


def _check_arrays(path: Path, model: MULDE, arrays: dict[str, np.ndarray]) -> None:
    """Refuse, naming the file and the array, stored arrays other than the network's that do
    not fit `model`'s configuration (`_expected_arrays`): missing, of another dtype kind
    (floating, or whole numbers for level indices), another shape, non-finite values, or
    level indices outside the noise levels. Whatever the checksum says: a file can be
    consistent and still wrong (a rewritten one, or one saved before the checksum)."""
    expected = _expected_arrays(model)
    if model.aggregator == Aggregation.STACKED and "aggregator.weights" in arrays:
        expected = {k: v for k, v in expected.items() if not k.startswith("aggregator.")}
        expected["aggregator.weights"] = ((model.n_levels,), "float",
                                          f"n_levels={model.n_levels}, aggregator='stacked'")
    end = "; fit and save it again"
    if model.whiten is None and "whitening" in arrays:  # it would whiten what fit did not
        raise ModelFileError(f"{path}: inconsistent MULDE model file: array 'whitening' is "
                             f"stored, but the config says whiten=None{end}")
    for name, (shape, kind, why) in expected.items():
        start = f"{path}: inconsistent MULDE model file: array {name!r}"
        if name not in arrays:
            raise ModelFileError(f"{start} is missing ({why}){end}")
        a = arrays[name]
        good = (a.dtype in (np.float32, np.float64) if kind == "float"
                else np.issubdtype(a.dtype, np.integer))
        if not good:  # float16 and bfloat16 are no dtype save writes
            said = ("whole numbers" if kind == "int" else "float32 or float64"
                    if np.issubdtype(a.dtype, np.floating) else "floating-point numbers")
            raise ModelFileError(f"{start} holds {a.dtype} values, not {said}{end}")
        if shape == (-1,):  # levels kept: one to all of them
            if a.ndim != 1 or not 1 <= len(a) <= model.n_levels:
                raise ModelFileError(f"{start} has shape {a.shape}, expected 1 to "
                                     f"{model.n_levels} level indices ({why}){end}")
        elif a.shape != shape:
            raise ModelFileError(f"{start} has shape {a.shape}, expected {shape} ({why}){end}")
        if kind == "float" and not np.isfinite(a).all():
            raise ModelFileError(f"{start} holds non-finite values (NaN or infinite){end}")
        if kind == "int" and a.size and not (0 <= a.min() and a.max() < model.n_levels):
            raise ModelFileError(f"{start} holds level indices outside 0 to "
                                 f"{model.n_levels - 1} (n_levels={model.n_levels}){end}")
    problem = next(_value_problems(model, arrays), None)
    if problem is not None:
        name, said = problem
        raise ModelFileError(f"{path}: inconsistent MULDE model file: array {name!r} {said}"
                             f"{end}")


WEIGHTS_SUM_TOLERANCE = 1e-6
"""How far from 1 a stored mixture's weights may sum (a fit's sum to rounding, ~1e-16)."""


def _value_problems(model: MULDE, arrays: Mapping[str, np.ndarray]
                    ) -> Iterator[tuple[str, str]]:
    """(array name, what is wrong with its values) for each stored array (of the shapes and
    dtypes `_check_arrays` checked, finite) whose values no fit writes, lazily. The ranges
    are the fits' own: `sigmas` a grid from sigma_low to sigma_high (`NoiseSchedule.grid`:
    > 0, non-decreasing, equal levels where sigma_low and sigma_high round alike in
    float32), `scale` a deviation > 0 (1.0 for a constant column), `whitening` C^(-1/2)
    (invertible); the aggregator's (`fit_aggregator`): a GMM's weights > 0 summing to 1,
    its precisions' Cholesky factors upper triangular (scikit-learn's stored form: the
    transposed inverse of the covariance's lower factor) with a diagonal > 0 and its
    variances > 0, the z-scores' deviations > 0, the stacked weights >= 0 summing to 1, the
    levels kept strictly increasing (each level once)."""
    sigmas = arrays["sigmas"]
    if not (sigmas.min() > 0 and np.all(np.diff(sigmas) >= 0)):
        yield ("sigmas", "holds noise levels that are not all > 0 and non-decreasing (a grid "
                         "from sigma_low to sigma_high)")
    if not (arrays["scale"] > 0).all():
        yield "scale", "holds column scales that are not all > 0"
    whitening = arrays.get("whitening")
    if whitening is not None and np.linalg.matrix_rank(whitening) < len(whitening):
        yield "whitening", "is a singular matrix (the whitening C^(-1/2) is invertible)"
    kind = Aggregation(model.aggregator)
    state = {k.split(".", 1)[1]: v for k, v in arrays.items() if k.startswith("aggregator.")}
    if kind is Aggregation.GMM:
        weights = state["weights"]
        if not ((weights > 0).all() and abs(weights.sum() - 1) <= WEIGHTS_SUM_TOLERANCE):
            yield "aggregator.weights", "holds mixture weights that are not all > 0 summing to 1"
        how = model.covariance_type
        for name in ("covariances", "precisions_cholesky"):
            a = state[name]
            if how in ("full", "tied"):
                square = a.reshape(-1, *a.shape[-2:])
                diagonal = np.diagonal(square, axis1=1, axis2=2)
                if name == "precisions_cholesky" and np.tril(square, -1).any():
                    yield (f"aggregator.{name}", "holds factors that are not upper triangular "
                                                 "(Cholesky factors of the precisions)")
            else:  # diag, spherical: the variances or their factors themselves
                diagonal = a
            if not (diagonal > 0).all():
                yield (f"aggregator.{name}", "holds variances or factors whose diagonal is "
                                             "not all > 0")
    elif kind in (Aggregation.MEAN_Z, Aggregation.MAX_Z):
        if not (state["std"] > 0).all():
            yield "aggregator.std", "holds deviations that are not all > 0"
    elif "weights" in state:  # stacked, with validation rows
        weights = state["weights"]
        if not ((weights >= 0).all() and abs(weights.sum() - 1) <= WEIGHTS_SUM_TOLERANCE):
            yield ("aggregator.weights", "holds mixture weights that are not all >= 0 summing "
                                         "to 1")
    elif "levels" in state and not np.all(np.diff(state["levels"]) > 0):
        yield ("aggregator.levels", "holds level indices that are not strictly increasing "
                                    "(each level once)")


def _check_network(path: Path, net: torch.nn.Module, state: dict[str, np.ndarray]) -> None:
    """Refuse, naming the file and the array, stored network arrays that are not the ones
    of `net` (built on the meta device from the stored configuration): a missing or extra
    one, another shape, another dtype (torch would assign an int64 array as a weight), or
    a floating one holding NaN or inf (every score would be NaN, or refused row by row as
    "too far from the training data")."""
    wanted = net.state_dict()
    start = f"{path}: inconsistent MULDE model file"
    missing = sorted(set(wanted) - set(state))
    if missing:
        raise ModelFileError(f"{start}: array 'network.{missing[0]}' is missing (the network "
                             f"the config describes has it); fit and save it again")
    extra = sorted(set(state) - set(wanted))
    if extra:
        raise ModelFileError(f"{start}: array 'network.{extra[0]}' is not one of the network "
                             "the config describes; fit and save it again")
    for name, tensor in wanted.items():
        a, dtype = state[name], str(tensor.dtype).removeprefix("torch.")
        # a 0-d tensor is stored with shape (1,) (np.ascontiguousarray), and torch loads it
        if a.shape != tuple(tensor.shape) and not (tensor.dim() == 0 and a.shape == (1,)):
            raise ModelFileError(f"{start}: array 'network.{name}' has shape {a.shape}, the "
                                 f"network the config describes {tuple(tensor.shape)}; fit "
                                 "and save it again")
        if a.dtype.name != dtype:
            raise ModelFileError(f"{start}: array 'network.{name}' holds {a.dtype} values, "
                                 f"not {dtype}; fit and save it again")
        if tensor.is_floating_point() and not np.isfinite(a).all():
            raise ModelFileError(f"{start}: array 'network.{name}' holds non-finite values "
                                 "(NaN or infinite); fit and save it again")


def check_device(device: Any) -> None:
    """Refuse a device this machine cannot use (`mulde.core.device.device_problem`: not a
    device name, a GPU that is not there): ValueError "device='cuda': this PyTorch sees no
    CUDA GPU ...", before `fit` trains or `load` reads a file."""
    problem = device_problem(device)
    if problem is not None:
        raise ValueError(f"device={device!r}{problem}")


def _refuse_table(X: Any, fitted_names: Any = None) -> Any:
    """X, its columns of numbers written as text converted (`numeric_frame`); ValueError in
    one line when X is a DataFrame whose columns cannot be the model's input
    (`mulde.estimator.tables.dataframe_problem`: their types, or other names than
    `fitted_names`)."""
    problem = dataframe_problem(X, fitted_names)
    if problem:
        raise ValueError(problem)
    return numeric_frame(X)


def _validate_rows(model: MULDE, X: Any, **checks: Any) -> np.ndarray:
    """scikit-learn's `validate_data(model, X, **checks)` as float64 or float32 (NaN and inf
    are left to `_finite`), with a one-line ValueError where scikit-learn's message prints
    every value of X: a 1-D array (one feature or one sample? as `mulde fit` says of a
    1-D file) or one number, complex numbers, and rows of another number of columns than
    the fitted ones, with what to give (the messages keep the phrases scikit-learn's
    estimator checks match). A sparse matrix stays scikit-learn's TypeError."""
    try:
        return validate_data(model, X, dtype=[np.float64, np.float32], ensure_all_finite=False,
                             **checks)
    except ValueError as err:
        said = str(err)
        if said.startswith(("Expected 2D array, got 1D array", "Expected 2D array, got scalar")):
            what = (f"a 1-D array of {len(X)} values" if np.ndim(X) == 1 else "one number")
            raise ValueError(
                f"X is {what}; {type(model).__name__} takes a 2-D (n_samples, n_features) "
                "array. Reshape your data: x.reshape(-1, 1) for samples of one feature, or "
                "x.reshape(1, -1) for one sample") from None
        if re.match(r"X has \d+ features, but \w+ is expecting \d+ features", said):
            raise ValueError(f"{said.rstrip('.')}; give rows of the {model.n_features_in_} "
                             "columns it was fitted on, in their training order") from None
        if said.startswith("Complex data not supported"):
            raise ValueError(f"Complex data not supported: X holds complex numbers (dtype "
                             f"{np.asarray(X).dtype}); features must be real") from None
        if said.startswith("could not convert") and (cell := _first_text_cell(X)):
            row, column, value = cell
            raise ValueError(f"X: row {row}, column {column} (counted from 0) holds "
                             f"{value!r}, not a number; give numbers only (encode text "
                             "columns as numbers or drop them)") from None
        raise


def _first_text_cell(X: Any) -> tuple[int, int, Any] | None:
    """(row, column, value) of the first cell that is not a number (float() refuses it) in
    the first column of a 2-D array-like X that holds one, positions from 0; None when there
    is none or X is not 2-D. Each column is converted at once; only the failing one is
    searched cell by cell."""
    cells = np.asarray(X)
    if cells.ndim != 2:
        return None
    for j in range(cells.shape[1]):
        column = cells[:, j]
        try:
            column.astype(np.float64)
            continue
        except (TypeError, ValueError):
            pass
        for i, value in enumerate(column):
            try:
                float(value)
            except (TypeError, ValueError):
                return i, j, value.item() if isinstance(value, np.generic) else value
    return None


def _finite(X: np.ndarray, given: Any = None) -> np.ndarray:
    """X itself when every value is finite, else ValueError naming the rows that hold NaN or
    inf (`mulde.io.features.nonfinite_rows`; scikit-learn's own message points a supervised
    learner at HistGradientBoosting): by their index labels and column names when the data
    were `given` as a DataFrame (anything with `index` and `columns` of X's lengths), else by
    their positions."""
    from mulde.io.features import nonfinite_rows

    if np.isfinite(X).all():  # the common case: no labels listed
        return X
    index, columns = getattr(given, "index", None), getattr(given, "columns", None)
    labelled = (index is not None and columns is not None and len(index) == len(X)
                and len(columns) == X.shape[1])
    problem = nonfinite_rows(X, "X", list(index) if labelled else None,
                             list(columns) if labelled else None)
    if problem:
        raise ValueError(problem)
    return X


def _root_mean_square(values: np.ndarray) -> float:
    """sqrt(mean(values ** 2)) of non-negative values, computed relative to their largest so
    that neither tiny nor huge ones overflow or underflow; 0.0 for none."""
    if not values.size or not values.max() > 0:
        return 0.0
    top = float(values.max())
    return top * float(np.sqrt(np.mean((values / top) ** 2)))


class OutOfRangeRowsError(ValueError):
    """Rows `MULDE` cannot score: so far from the training data, in units of its columns'
    scale, that they leave float32 (about 3.4e38), which the network computes in. The
    message names the rows (0-based) and, of the first, the column that is furthest out and
    its value: usually a placeholder for a missing reading (1e300, -9.99e9) or a unit error.

    Its parts, for a caller that says it in its own terms (the video pipeline names its
    streams' objects): `rows`, the 0-based rows refused (int64, ascending); `reason`, what
    they do ("lie beyond the float32 range ..."); `column` and `value`, the first row's
    column furthest out (0-based) and its value, or None where unknown."""

    ADVICE = ("such values are usually a placeholder for a missing reading or a unit error: "
              "impute or drop those rows")
    """What every wording of this refusal ends with (`mulde fit`/`score` say it by CSV line)."""

    def __init__(self, message: str, rows: Any = (), reason: str = "",
                 column: int | None = None, value: float | None = None) -> None:
        super().__init__(message)
        self.rows = np.asarray(rows, dtype=np.int64)
        self.reason, self.column, self.value = reason, column, value

    def said_of(self, where: str) -> OutOfRangeRowsError:
        """The same refusal, its message after "<where>: " (the file the rows came from)."""
        return OutOfRangeRowsError(f"{where}: {self}", self.rows, self.reason, self.column,
                                   self.value)


def _refuse_rows(bad: np.ndarray, what: str, X: np.ndarray | None = None,
                 centre: np.ndarray | None = None, scale: np.ndarray | None = None) -> None:
    """Raise OutOfRangeRowsError naming the first rows of a (n, k) mask that has any True in a
    row; given the rows X (n, d) and the training columns' centre and scale (d,), also the
    first row's column furthest out and its value."""
    rows = np.flatnonzero(np.asarray(bad).any(axis=1))
    if rows.size:
        shown = ", ".join(str(r) for r in rows[:10]) + (" ..." if rows.size > 10 else "")
        where, column, value = "", None, None
        if X is not None and centre is not None and scale is not None:
            with np.errstate(over="ignore", invalid="ignore"):
                out = np.abs((np.asarray(X[rows[0]], dtype=np.float64) - centre) / scale)
            column = int(np.nanargmax(np.where(np.isnan(out), -1.0, out)))
            value = float(X[rows[0], column])
            where = f"; row {rows[0]}'s column {column} holds {value:.6g}"
        raise OutOfRangeRowsError(
            f"{rows.size} row(s) {what}: rows {shown} (counted from 0{where}); "
            f"{OutOfRangeRowsError.ADVICE}", rows, what, column, value)
