"""The scikit-learn estimator `MULDE` over (n, d) feature arrays."""

from __future__ import annotations

import os
import time
import warnings
from dataclasses import asdict
from numbers import Integral, Real
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator, OutlierMixin
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from mulde.aggregation import Aggregation, aggregate, fit_aggregator
from mulde.core import (
    DSMLoss,
    EnergyMLP,
    NoiseSchedule,
    Spacing,
    TrainConfig,
    multiscale_energy,
    train_energy,
)
from mulde.presets import PRESETS


def resolve_device(device: str) -> torch.device:
    """Map 'auto' to CUDA, then MPS, then CPU; pass other names through to torch."""
    if device != "auto":
        return torch.device(device)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


class MULDE(OutlierMixin, BaseEstimator):
    """Multiscale log-density estimation (MULDE) as a one-class anomaly detector.

    Fit on normal samples only. A noise-conditioned MLP f(x, sigma) is trained with
    multiscale denoising score matching (lambda(sigma) = sigma^2, sigma ~ LogUniform
    [sigma_low, sigma_high]) plus the alignment regulariser beta * f(x, sigma)^2 / 2, so that
    f(x, sigma) approximates -log q_sigma(x) + c. At test time f is evaluated at n_levels noise
    levels and the L-vector is aggregated (a Gaussian mixture fitted on the training vectors by
    default).

    Conventions follow scikit-learn's outlier detectors: `score_samples` is higher for more
    normal samples, `decision_function = score_samples - offset_` is negative for outliers,
    `predict` returns +1 (inlier) / -1 (outlier). `anomaly_score = -score_samples`.
    `contamination='auto'` sets `offset_` so that 1 % of the training samples are outliers.
    """

    # scikit-learn's parameter validation: a wrong type or value raises InvalidParameterError
    # (a ValueError) "The 'max_steps' parameter of MULDE must be ... Got -5 instead."
    _parameter_constraints: dict = {
        "hidden_sizes": ["array-like"],
        "layer_norm": ["boolean"],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "beta": [Interval(Real, 0, None, closed="left")],
        "sigma_low": [Interval(Real, 0, None, closed="neither")],
        "sigma_high": [Interval(Real, 0, None, closed="neither")],
        "n_levels": [Interval(Integral, 1, None, closed="left")],
        "spacing": [StrOptions({s.value for s in Spacing})],
        "aggregator": [StrOptions({a.value for a in Aggregation})],
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "covariance_type": [StrOptions({"full", "tied", "diag", "spherical"})],
        "scale_index": [Integral, None],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "n_epochs": [Interval(Real, 0, None, closed="neither"), None],
        "max_steps": [Interval(Integral, 1, None, closed="left"), None],
        "validation_fraction": [Interval(Real, 0, 1, closed="left")],
        "patience": [Interval(Integral, 0, None, closed="left"), None],
        "eval_every": [Interval(Integral, 1, None, closed="left")],
        "ema_decay": [Interval(Real, 0, 1, closed="left"), None],
        "contamination": [StrOptions({"auto"}), Interval(Real, 0, 0.5, closed="right")],
        "device": [str],
        "random_state": ["random_state"],
        "checkpoint_dir": [str, os.PathLike, None],
        "verbose": ["verbose"],
    }

    def __init__(self, *, hidden_sizes: tuple[int, ...] = (256, 256), layer_norm: bool = False,
                 dropout: float = 0.0, beta: float = 0.1, sigma_low: float = 1e-3,
                 sigma_high: float = 1.0, n_levels: int = 16, spacing: str = "linear",
                 aggregator: str = "gmm", n_components: int = 1,
                 covariance_type: str = "full", scale_index: int | None = None,
                 lr: float = 1e-3, batch_size: int = 1024, n_epochs: float | None = None,
                 max_steps: int | None = 1000, validation_fraction: float = 0.1,
                 patience: int | None = 5, eval_every: int = 100,
                 ema_decay: float | None = 0.99, contamination: str | float = "auto",
                 device: str = "auto", random_state: int | None = None,
                 checkpoint_dir: str | None = None, verbose: bool = False) -> None:
        self.hidden_sizes = hidden_sizes
        self.layer_norm = layer_norm
        self.dropout = dropout
        self.beta = beta
        self.sigma_low = sigma_low
        self.sigma_high = sigma_high
        self.n_levels = n_levels
        self.spacing = spacing
        self.aggregator = aggregator
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.scale_index = scale_index
        self.lr = lr
        self.batch_size = batch_size
        self.n_epochs = n_epochs
        self.max_steps = max_steps
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.eval_every = eval_every
        self.ema_decay = ema_decay
        self.contamination = contamination
        self.device = device
        self.random_state = random_state
        self.checkpoint_dir = checkpoint_dir
        self.verbose = verbose

    @classmethod
    def from_preset(cls, name: str = "default", **overrides: Any) -> MULDE:
        """Return an estimator with the named preset's parameters (see `mulde.presets`)."""
        if name not in PRESETS:
            raise ValueError(f"unknown preset {name!r}; choose from {sorted(PRESETS)}")
        return cls(**{**PRESETS[name], **overrides})

    # ----------------------------------------------------------------------------- fitting
    def _check_params(self) -> None:
        """Validate the parameters (types and ranges, then how they relate); ValueError."""
        self._validate_params()
        sizes = list(self.hidden_sizes)
        if not sizes or not all(isinstance(h, Integral) and h >= 1 for h in sizes):
            raise ValueError(f"hidden_sizes must be a non-empty list of positive layer widths, "
                             f"got {self.hidden_sizes!r}")
        if self.sigma_high <= self.sigma_low:
            raise ValueError(f"sigma_high ({self.sigma_high}) must be above sigma_low "
                             f"({self.sigma_low})")

    def fit(self, X: Any, y: None = None) -> MULDE:
        """Fit on normal samples X (n, d); y is ignored. Returns self."""
        self._check_params()
        X = validate_data(self, X, dtype=[np.float64, np.float32], ensure_min_samples=2)
        X = X.astype(np.float64)
        seed = int(check_random_state(self.random_state).randint(2**31 - 1))
        torch.manual_seed(seed)
        device = resolve_device(self.device)
        self.device_ = str(device)

        self.mean_, std = _mean_std(X)
        constant = std == 0
        if constant.any():
            warnings.warn(f"{int(constant.sum())} feature column(s) are constant in the "
                          f"training data (e.g. column {int(np.flatnonzero(constant)[0])}); "
                          "they are centred but not scaled", stacklevel=2)
        self.scale_ = np.where(constant, 1.0, std + 1e-8)

        schedule = NoiseSchedule(self.sigma_low, self.sigma_high)
        self.network_ = EnergyMLP(X.shape[1], tuple(self.hidden_sizes), self.layer_norm,
                                  self.dropout).to(device)
        config = self._train_config(seed)
        start = time.perf_counter()
        result = train_energy(self.network_, self._to_tensor(X), schedule, DSMLoss(self.beta),
                              config, Path(self.checkpoint_dir) if self.checkpoint_dir else None,
                              progress=self.verbose)
        self.fit_seconds_ = time.perf_counter() - start
        self.network_.eval()
        self.train_result_ = result
        self.sigmas_ = schedule.grid(self.n_levels, self.spacing).numpy().astype(np.float32)

        energies = self._energies(X)
        self.aggregator_state_ = fit_aggregator(
            self.aggregator, energies, n_components=self.n_components,
            covariance_type=self.covariance_type, scale_index=self.scale_index, seed=seed)
        self._set_offset(self._aggregate(energies))
        return self

    def _train_config(self, seed: int) -> TrainConfig:
        return TrainConfig(lr=self.lr, batch_size=self.batch_size, n_epochs=self.n_epochs,
                           max_steps=self.max_steps,
                           validation_fraction=self.validation_fraction,
                           eval_every=self.eval_every, patience=self.patience,
                           ema_decay=self.ema_decay, seed=seed)

    def _set_offset(self, train_anomaly: np.ndarray) -> None:
        fraction = 0.01 if self.contamination == "auto" else float(self.contamination)
        self.offset_ = float(np.percentile(-train_anomaly, 100.0 * fraction))

    # ----------------------------------------------------------------------------- scoring
    def _to_tensor(self, X: np.ndarray) -> torch.Tensor:
        with np.errstate(over="ignore"):
            z = X - self.mean_
            z /= self.scale_  # in place: one float64 temporary, not three
        limit = np.finfo(np.float32).max
        if z.size and not (z.max() <= limit and z.min() >= -limit):
            _refuse_rows(np.abs(z) > limit, "lie beyond the float32 range once standardised "
                         "with the training mean and scale")
        return torch.from_numpy(z.astype(np.float32)).to(self.device_)

    def _energies(self, X: np.ndarray) -> np.ndarray:
        sigmas = torch.as_tensor(self.sigmas_)
        energies = multiscale_energy(self.network_, self._to_tensor(X), sigmas)
        energies = energies.cpu().numpy().astype(np.float64)
        _refuse_rows(~np.isfinite(energies), "get non-finite energies (too far from the "
                     "training data for float32)")
        return energies

    def _aggregate(self, energies: np.ndarray) -> np.ndarray:
        return aggregate(self.aggregator, self.aggregator_state_, energies,
                         self.covariance_type)

    def _validated(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "network_")
        X = validate_data(self, X, dtype=[np.float64, np.float32], reset=False)
        return np.asarray(X, dtype=np.float64)  # no copy when already float64

    def score_samples_multiscale(self, X: Any) -> np.ndarray:
        """Return the (n, L) energies f(x, sigma_l) on clean x (higher = more anomalous)."""
        return self._energies(self._validated(X))

    def anomaly_score(self, X: Any) -> np.ndarray:
        """Return the aggregated anomaly score (higher = more anomalous) = -score_samples."""
        return self._aggregate(self.score_samples_multiscale(X))

    def score_samples(self, X: Any) -> np.ndarray:
        """Return the aggregated log-likelihood-like score (higher = more normal)."""
        return -self.anomaly_score(X)

    def decision_function(self, X: Any) -> np.ndarray:
        """Return score_samples - offset_: negative for outliers, positive for inliers."""
        return self.score_samples(X) - self.offset_

    def predict(self, X: Any) -> np.ndarray:
        """Return +1 for inliers and -1 for outliers."""
        return np.where(self.decision_function(X) < 0, -1, 1)

    # ----------------------------------------------------------------------------- persistence
    def save(self, path: str | Path) -> Path:
        """Write the fitted model to one safetensors file (no pickle); return its path."""
        from mulde.persistence import save_model

        return save_model(self, Path(path))

    @classmethod
    def load(cls, path: str | Path, device: str = "cpu") -> MULDE:
        """Load a model written by `save` onto `device` (a GPU-trained model loads on CPU)."""
        from mulde.persistence import load_model

        return load_model(cls, Path(path), device)

    def summary(self) -> dict[str, Any]:
        """Return a JSON-friendly description of the fitted model."""
        check_is_fitted(self, "network_")
        return {"params": self.get_params(), "n_features_in": int(self.n_features_in_),
                "n_parameters": sum(p.numel() for p in self.network_.parameters()),
                "sigmas": [float(s) for s in self.sigmas_], "offset": self.offset_,
                "train": asdict(self.train_result_) | {"history": None}}

    def __sklearn_tags__(self):  # noqa: D105
        tags = super().__sklearn_tags__()
        tags.non_deterministic = self.random_state is None
        return tags


def _mean_std(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return the column means and standard deviations (ddof 1) of float64 X, computed on X
    divided by its column peaks when the direct sums overflow (|x| above about 1e154)."""
    with np.errstate(over="ignore", invalid="ignore"):
        mean, std = X.mean(axis=0), X.std(axis=0, ddof=1)
    if np.isfinite(mean).all() and np.isfinite(std).all():
        return mean, std
    peak = np.abs(X).max(axis=0)
    peak = np.where(peak > 0, peak, 1.0)
    scaled = X / peak
    return scaled.mean(axis=0) * peak, scaled.std(axis=0, ddof=1) * peak


def _refuse_rows(bad: np.ndarray, what: str) -> None:
    """Raise ValueError naming the first rows of a (n, k) mask that has any True in a row."""
    rows = np.flatnonzero(np.asarray(bad).any(axis=1))
    if rows.size:
        shown = ", ".join(str(r) for r in rows[:10]) + (" ..." if rows.size > 10 else "")
        raise ValueError(f"{rows.size} row(s) {what}: rows {shown}; rescale the features")
