"""The PyOD adapter follows PyOD's conventions, checked against PyOD itself."""

import numpy as np
import pytest

pytest.importorskip("pyod")

from pyod.models.knn import KNN  # noqa: E402

from mulde.estimator.pyod_adapter import PyODMULDE  # noqa: E402


def test_pyod_conventions_match_a_pyod_detector():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((300, 3))
    test = np.vstack([rng.standard_normal((20, 3)), rng.standard_normal((5, 3)) + 6])
    det = PyODMULDE(contamination=0.05, hidden_sizes=(32, 32), max_steps=100,
                    batch_size=128, random_state=0).fit(X)
    knn = KNN(contamination=0.05).fit(X)
    for d in (det, knn):
        assert set(np.unique(d.labels_)) <= {0, 1}
        assert d.labels_.mean() == pytest.approx(0.05, abs=0.01)
        assert d.threshold_ == pytest.approx(np.percentile(d.decision_scores_, 95))
        pred = d.predict(test)
        assert pred[-5:].tolist() == [1] * 5  # far points are outliers (label 1)
        assert d.decision_function(test)[-5:].min() > np.median(d.decision_scores_)
    proba = det.predict_proba(test)
    assert proba.shape == (25, 2) and np.allclose(proba.sum(1), 1)
