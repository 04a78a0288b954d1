"""MULDE with PyOD's conventions (optional extra: `pip install mulde[pyod]`).

PyOD detectors score higher = more anomalous, label 1 = outlier, and expose
`decision_scores_`, `threshold_` and `labels_` after fit.
"""

from __future__ import annotations

from typing import Any

import numpy as np

try:
    from pyod.models.base import BaseDetector
except ImportError as err:  # pragma: no cover - exercised only without the extra
    raise ImportError("the PyOD adapter needs PyOD: pip install 'mulde[pyod]'") from err

from mulde.detector import MULDE


class PyODMULDE(BaseDetector):
    """PyOD detector wrapping `mulde.MULDE`; extra keyword arguments go to MULDE."""

    def __init__(self, contamination: float = 0.1, **mulde_params: Any) -> None:
        super().__init__(contamination=contamination)
        self.mulde_params = mulde_params

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Return `contamination` and every MULDE parameter given to the constructor, so that
        `sklearn.base.clone`, grid searches and PyOD's combination tools keep them all."""
        return {"contamination": self.contamination, **self.mulde_params}

    def set_params(self, **params: Any) -> PyODMULDE:
        """Set `contamination` and MULDE parameters; an unknown name is a ValueError."""
        unknown = sorted(set(params) - {"contamination"} - set(MULDE().get_params()))
        if unknown:
            raise ValueError(f"PyODMULDE has no parameter {unknown[0]!r}; valid: contamination "
                             "and MULDE's parameters")
        if "contamination" in params:
            self.contamination = params.pop("contamination")
        self.mulde_params = {**self.mulde_params, **params}
        return self

    def fit(self, X: Any, y: None = None) -> PyODMULDE:
        """Fit on X; set decision_scores_, threshold_ and labels_ as PyOD does."""
        self._set_n_classes(y)
        self.detector_ = MULDE(**self.mulde_params).fit(X)
        self.decision_scores_ = self.detector_.anomaly_score(X)
        self._process_decision_scores()
        return self

    def decision_function(self, X: Any) -> np.ndarray:
        """Return anomaly scores, higher = more anomalous."""
        return self.detector_.anomaly_score(X)
