"""MULDE with PyOD's conventions (optional extra: `pip install mulde[pyod]`).

PyOD detectors score higher = more anomalous, label 1 = outlier, and expose
`decision_scores_`, `threshold_` and `labels_` after fit.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable, Sequence
from numbers import Real
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from sklearn.utils._param_validation import InvalidParameterError
from sklearn.utils.validation import check_is_fitted

try:
    from pyod.models.base import BaseDetector
except ImportError as err:  # pragma: no cover - exercised only without the extra
    raise ImportError(f"the PyOD adapter needs PyOD: pip install 'mulde[pyod]' ({err}; a "
                      "script or folder of your own named pyod would shadow it)") from err

from mulde.estimator.atoms import ATOM_MIN_COUNT
from mulde.estimator.model import MULDE, FewValidationRowsWarning, check_device
from mulde.estimator.persistence import (
    PYOD_META,
    ModelFileError,
    model_file,
    pyod_fields,
    read_model_file,
    save_arrays,
)
from mulde.estimator.reweighting import MAX_MODE_GAIN

# the array names the adapter adds to a MULDE model file (and its metadata field PYOD_META)
_SCORES, _LABELS = "pyod.decision_scores", "pyod.labels"

# the phrases of scikit-learn's and MULDE's checks that name the class they validate: the
# wrapped MULDE, where the user made a PyODMULDE (warnings of MULDE's own classes, which name
# MULDE's methods, have none of them)
_CLASS_NAMED = ("parameter of MULDE must", "(MULDE().", "but MULDE is expecting",
                "but MULDE was fitted", "required by MULDE.", "; MULDE takes a 2-D")

_T = TypeVar("_T")


def _adapter_said(text: str) -> str:
    """`text` with each phrase of `_CLASS_NAMED` naming PyODMULDE instead of MULDE."""
    for phrase in _CLASS_NAMED:
        text = text.replace(phrase, phrase.replace("MULDE", "PyODMULDE"))
    return text


def _as_adapter(call: Callable[..., _T], *args: Any) -> _T:
    """call(*args), a method of the wrapped MULDE, with its errors and warnings that name
    the class (`_CLASS_NAMED`: "X has 3 features, but MULDE is expecting 2", "X does not
    have valid feature names, but MULDE was fitted with feature names") naming PyODMULDE,
    the class the user called. The error keeps its type (a ValueError or scikit-learn's
    InvalidParameterError; any other is raised as it is); the warnings, recorded while it
    runs, are given again afterwards, through the caller's filters, from the line that
    called the adapter's method."""
    said: list[warnings.WarningMessage] = []
    try:
        with warnings.catch_warnings(record=True) as said:
            warnings.simplefilter("always")  # every one recorded: the caller's filters follow
            return call(*args)
    except ValueError as err:  # scikit-learn's InvalidParameterError is one
        text = _adapter_said(str(err))
        if text == str(err) or type(err) not in (ValueError, InvalidParameterError):
            raise
        raise type(err)(text) from None
    finally:  # out of catch_warnings: the caller's filters decide what is shown
        for w in said:
            text = _adapter_said(str(w.message))
            warnings.warn(w.message if text == str(w.message) else w.category(text),
                          stacklevel=3)


class PyODMULDE(BaseDetector):
    """PyOD detector wrapping `mulde.MULDE` (higher `decision_function` = more anomalous).

    Every MULDE setting is a parameter of its own, with MULDE's default (see `mulde.MULDE`
    for their meaning), so `get_params`, `set_params` and `sklearn.base.clone` carry all of
    them: grid searches and PyOD's ensembles (e.g. `FeatureBagging`, which imports PyOD's
    optional `combo` package: `pip install combo`, not among mulde's extras), which clone
    the detector, train the configured network. `contamination` is PyOD's: the fraction of
    training samples labelled 1 (`threshold_` is the (1 - contamination) quantile of
    `decision_scores_`), by default PyOD's 0.1, so `labels_` and `predict` flag 10 % of the
    training rows where `MULDE.predict` flags 1 % (pass contamination=0.01 for MULDE's
    rate). `threshold_on="validation"` sets `threshold_` instead on the rows that training
    held out for validation (split conformal, as `MULDE(threshold_on="validation")` sets its
    `offset_`): new normal samples then score above it at most `contamination` of the time
    (in expectation), where the quantile of the training scores, which the network has
    memorised, is exceeded more often; `labels_` are the training scores above it, so they
    may flag fewer than `contamination` of the training rows. The wrapped MULDE's own
    `contamination` is then this detector's (so `MULDE.load` of a saved file predicts as
    this detector does); with "training" it is left at 'auto' and plays no part in PyOD's
    labels. PyOD's `predict_confidence` still ranks a score among the training scores at
    `contamination`, so with "validation" (or "out_of_bag") a row between the two
    thresholds may be labelled 1 with a confidence below 0.5. `threshold_on="out_of_bag"`
    likewise sets `threshold_` as `MULDE(threshold_on="out_of_bag")` sets its `offset_`, on
    the training rows' out-of-bag scores. `mulde_params` returns the MULDE settings as a dict.
    `save` / `load` keep a fitted detector in one MULDE model file (no pickle), which
    `MULDE.load` and the `mulde` command read as the wrapped MULDE. Fitted, it has
    scikit-learn's `n_features_in_` and, where `fit` was given a DataFrame, its column names
    `feature_names_in_` (the wrapped MULDE's, in `detector_`); the errors and warnings of
    its input checks name PyODMULDE ("X has 3 features, but PyODMULDE is expecting 2").
    """

    def __init__(self, contamination: float = 0.1, *,
                 hidden_sizes: tuple[int, ...] | str = "auto", n_members: int | str = "auto",
                 max_samples: float | str = "auto", layer_norm: bool = False,
                 dropout: float = 0.0, noise_input: str = "sigma", beta: float = 0.0,
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
                 lr: float | str = "auto", lr_schedule: str = "constant", antithetic: bool = False,
                 adam_betas: tuple[float, float] = (0.5, 0.9), batch_size: int = 1024,
                 n_epochs: float | None = None,
                 max_steps: int | None = 2000, validation_fraction: float | str = "auto",
                 patience: int | None = 3, eval_every: int = 50,
                 ema_decay: float | None = 0.99, weight_decay: float = 0.0,
                 threshold_on: str = "training",
                 device: str = "auto",
                 random_state: int | None = None, checkpoint_dir: str | None = None,
                 checkpoint_every: int = 500, verbose: bool = False) -> None:
        super().__init__(contamination=contamination)
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
        self.antithetic = antithetic
        self.adam_betas = adam_betas
        self.batch_size = batch_size
        self.n_epochs = n_epochs
        self.max_steps = max_steps
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.eval_every = eval_every
        self.ema_decay = ema_decay
        self.weight_decay = weight_decay
        self.threshold_on = threshold_on
        self.device = device
        self.random_state = random_state
        self.checkpoint_dir = checkpoint_dir
        self.checkpoint_every = checkpoint_every
        self.verbose = verbose

    @property
    def mulde_params(self) -> dict[str, Any]:
        """The keyword arguments this detector passes to `MULDE` (every parameter but
        PyOD's `contamination`)."""
        params = self.get_params(deep=False)
        contamination = params.pop("contamination")
        if self.threshold_on != "training" and isinstance(contamination, (int, float)):
            params["contamination"] = float(contamination)  # threshold_ is MULDE's offset_
        return params

    @property
    def n_features_in_(self) -> int:
        """The number of features `fit` saw (the wrapped MULDE's); AttributeError before
        `fit`, as scikit-learn's estimators have none then."""
        return int(self._fitted_detector("n_features_in_").n_features_in_)

    @property
    def feature_names_in_(self) -> np.ndarray:
        """The (d,) column names of the DataFrame `fit` was given, in its order (the wrapped
        MULDE's), which `decision_function` checks a DataFrame's columns against; as in
        scikit-learn, only where `fit` was given named columns: AttributeError before `fit`
        and after a fit on an array."""
        detector = self._fitted_detector("feature_names_in_")
        if not hasattr(detector, "feature_names_in_"):
            raise AttributeError("PyODMULDE was fitted on columns without names (an array): "
                                 "it has no feature_names_in_; fit it on a DataFrame to "
                                 "have its columns' names checked")
        return detector.feature_names_in_

    def _fitted_detector(self, attribute: str) -> MULDE:
        """The wrapped MULDE that `fit` or `load` set; AttributeError naming `attribute`
        (which getattr and hasattr take for its absence) before."""
        detector = self.__dict__.get("detector_")
        if detector is None:
            raise AttributeError(f"this PyODMULDE is not fitted yet, so it has no {attribute}: "
                                 "call fit first")
        return detector

    def check_params(self) -> None:
        """Refuse MULDE settings that `fit` cannot use, before any data is read
        (`MULDE.check_params`: ValueError naming the parameter and what it must be, and
        this class: "The 'max_steps' parameter of PyODMULDE must be ..."); PyOD checks
        `contamination` itself when the detector is made, but for a NumPy number
        (np.float32, np.int64: no Python float or int), which PyOD would take for a PyThresh
        object: it is checked here and becomes the Python float it holds (so `get_params()`
        after fit gives that float, equal in value: PyOD's fit reads the attribute itself,
        and scikit-learn's `clone` forbids changing it in `__init__`). A PyThresh object
        as contamination with threshold_on="validation" or "out_of_bag": ValueError (the
        threshold is either the held-out or out-of-bag rows' or PyThresh's)."""
        if isinstance(self.contamination, str):  # PyOD would take it for a PyThresh object
            raise ValueError(f"contamination must be a number in (0, 0.5], PyOD's share of "
                             f"samples labelled 1, or a PyThresh object, not "
                             f"{self.contamination!r} (MULDE's 'auto' is 0.01)")
        if (isinstance(self.contamination, Real)
                and not isinstance(self.contamination, (int, float))):  # PyOD's own test
            contamination = float(self.contamination)
            if not 0.0 < contamination <= 0.5:  # as PyOD checks a float when made
                raise ValueError(f"contamination must be in (0, 0.5], got {contamination:g}")
            self.contamination = contamination
        if self.threshold_on != "training" and not isinstance(self.contamination,
                                                               (int, float)):
            rows = "held-out" if self.threshold_on == "validation" else "out-of-bag"
            raise ValueError(f"threshold_on={self.threshold_on!r} sets threshold_ on the "
                             f"{rows} rows at a fraction: give contamination as a number in "
                             f"(0, 0.5], not {type(self.contamination).__name__}, or use "
                             "threshold_on='training' with a PyThresh object")
        _as_adapter(MULDE(**self.mulde_params).check_params)

    def fit(self, X: Any, y: None = None) -> PyODMULDE:
        """Fit on X (n, d) normal samples; set decision_scores_, threshold_ and labels_ as
        PyOD does, or with threshold_on="validation" threshold_ = -offset_ of the wrapped
        MULDE (its held-out rows' split-conformal threshold at `contamination`; +inf, so
        that nothing is flagged, with too few of them, which MULDE warns of), or with
        "out_of_bag" its training rows' out-of-bag quantile. y is ignored.
        Raises ValueError as `check_params` for a setting it cannot use (naming
        PyODMULDE), and as `MULDE.fit` for samples it cannot fit on."""
        self.check_params()
        self._set_n_classes(y)
        self.detector_ = _as_adapter(MULDE(**self.mulde_params).fit, X)
        self.decision_scores_ = self.decision_function(X)
        self._process_decision_scores()
        if self.threshold_on != "training":
            # MULDE flags score_samples < offset_, i.e. anomaly_score > -offset_
            self.threshold_ = -float(self.detector_.offset_)
            self.labels_ = (self.decision_scores_ > self.threshold_).astype(int).ravel()
        return self

    def predict(self, X: Any, return_confidence: bool = False) -> Any:
        """PyOD's `predict` (0/1 labels: decision score above `threshold_`), which with
        threshold_on="validation" (or "out_of_bag" thresholding the validation rows) and too
        few validation rows (`threshold_` +inf) flags none and warns again, as
        `MULDE.predict` does (`FewValidationRowsWarning`)."""
        if self.threshold_on != "training" and getattr(self, "threshold_", 0.0) == np.inf:
            warnings.warn(FewValidationRowsWarning(float(self.contamination),
                                                   bagged=self.detector_._on_bags()),
                          stacklevel=2)
        return super().predict(X, return_confidence=return_confidence)

    def decision_function(self, X: Any) -> np.ndarray:
        """Return the (n,) anomaly scores of X (n, d), higher = more anomalous
        (`MULDE.anomaly_score` of the fitted model). Raises sklearn's NotFittedError before
        `fit`; ValueError for rows it cannot score (not 2-D, NaN or inf, another number of
        columns than fitted or, for a DataFrame, other column names, values beyond float32
        once standardised); TypeError for a sparse matrix (dense rows only: `X.toarray()`)."""
        check_is_fitted(self, "detector_")
        return _as_adapter(self.detector_.anomaly_score, X)

    def save(self, path: str | Path) -> Path:
        """Write the fitted detector to one safetensors file (no pickle); return its path.

        path: a file, or a folder that gets model.safetensors. The file is a MULDE model file
        (`MULDE.save`: network weights, standardisation, noise levels, aggregator, MULDE's
        parameters and training record), so `MULDE.load` and `mulde score` / `mulde info`
        read it as the wrapped MULDE. The adapter adds what PyOD's attributes need: the
        training scores `decision_scores_` (array `pyod.decision_scores`) and `labels_`
        (`pyod.labels`), and JSON metadata `pyod` with PyOD's `contamination`, `threshold_`
        and the class count. A PyThresh object as contamination cannot be stored: ValueError.
        """
        check_is_fitted(self, "detector_")
        if not isinstance(self.contamination, (int, float)):  # PyOD's own test
            raise ValueError(f"save stores a numeric contamination, not "
                             f"{type(self.contamination).__name__}; refit with a fraction "
                             "in (0, 0.5] to save")
        arrays, meta = self.detector_._file_contents()
        arrays |= {_SCORES: np.asarray(self.decision_scores_, dtype=np.float64),
                   _LABELS: np.asarray(self.labels_, dtype=np.int64)}
        meta[PYOD_META] = json.dumps({"contamination": float(self.contamination),
                                  "threshold": float(self.threshold_),
                                  "n_classes": int(getattr(self, "_classes", 2))})
        return save_arrays(path, arrays, meta)

    @classmethod
    def load(cls, path: str | Path, device: str = "cpu") -> PyODMULDE:
        """Load a detector written by `save` onto `device` (a GPU-trained one loads on CPU).

        The detector's parameters are the saved ones, the `device` setting included (one this
        machine cannot use becomes "auto", with a warning, as `MULDE.load` does), and its
        networks are placed on the `device` given (as `MULDE.load`); `decision_scores_`,
        `labels_`, `threshold_` and `contamination` are the saved values, so
        `decision_function`, `predict` and `predict_proba` answer as before saving. Raises
        ModelFileError naming the file when it is missing, unreadable, foreign, newer or
        inconsistent (as `MULDE.load` refuses; PyOD's fields as
        `mulde.estimator.persistence.pyod_fields` checks them: a contamination outside
        (0, 0.5] or a threshold that is NaN or -inf, which no fit gives: +inf is a
        validation threshold that flags none), or a MULDE model
        saved without the adapter (`MULDE.save`, `mulde fit`: load it with `MULDE.load`).
        ValueError, before the file is read, for a device this machine cannot use (as
        `MULDE.load`).
        """
        check_device(device)
        path = model_file(path)
        meta, arrays = read_model_file(path)
        if PYOD_META not in meta:
            raise ModelFileError(f"{path}: a MULDE model without the PyOD adapter's fields "
                                 "(saved by MULDE.save or `mulde fit`, not PyODMULDE.save): "
                                 "load it with MULDE.load")
        detector = MULDE._from_file_contents(path, meta, arrays, device)
        # contamination in (0, 0.5], threshold not NaN or -inf (+inf is a fit's own: -offset_
        # of a validation threshold that flags none): the checks `mulde export` makes too
        contamination, threshold, n_classes = pyod_fields(path, meta)  # type: ignore[misc]
        try:
            scores = np.asarray(arrays[_SCORES], dtype=np.float64)
            labels = np.asarray(arrays[_LABELS], dtype=np.int64)
            params = detector.get_params()
            params.pop("contamination")  # MULDE's own: 'auto', or PyOD's (mulde_params)
            model = cls(contamination=contamination, **params)
        except (KeyError, TypeError, ValueError) as err:
            raise ModelFileError(f"{path}: inconsistent PyODMULDE model file: {err}") from err
        if scores.ndim != 1 or labels.shape != scores.shape:
            raise ModelFileError(f"{path}: inconsistent PyODMULDE model file: "
                                 f"{scores.shape} training scores but {labels.shape} labels")
        if model.threshold_on == "validation" and detector.contamination == "auto":
            warnings.warn(f"{path}: saved by an earlier mulde, in which threshold_on="
                          "'validation' did not reach PyOD: threshold_ and labels_ are the "
                          "training scores' (1 - contamination) quantile, as saved; refit to "
                          "set them on the validation rows", UserWarning, stacklevel=2)
        model.detector_ = detector
        model.decision_scores_, model.labels_ = scores, labels
        model.threshold_, model._classes = threshold, n_classes
        model._mu, model._sigma = np.mean(scores), np.std(scores)  # as PyOD's fit sets them
        return model
