"""The PyOD adapter follows PyOD's conventions, checked against PyOD itself."""

import numpy as np
import pytest

pytest.importorskip("pyod")

from pyod.models.knn import KNN  # noqa: E402
from sklearn.base import clone  # noqa: E402

from mulde.pyod_adapter import PyODMULDE  # noqa: E402


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


def test_clone_and_params_keep_every_mulde_setting():
    """Grid searches, PyOD's combination tools and SUOD clone: a clone must train the same
    model, not the default one."""
    det = PyODMULDE(contamination=0.05, hidden_sizes=(16, 16), max_steps=30, sigma_high=2.0,
                    batch_size=64, random_state=0)
    params = {"contamination": 0.05, "hidden_sizes": (16, 16), "max_steps": 30,
              "sigma_high": 2.0, "batch_size": 64, "random_state": 0}
    assert det.get_params() == params
    twin = clone(det)
    assert twin is not det and twin.get_params() == params
    X = np.random.default_rng(1).standard_normal((200, 3))
    np.testing.assert_array_equal(twin.fit(X).decision_scores_, det.fit(X).decision_scores_)
    assert twin.detector_.sigma_high == 2.0 and twin.detector_.train_result_.steps == 30
    det.set_params(max_steps=10, contamination=0.1)
    assert det.get_params() == params | {"max_steps": 10, "contamination": 0.1}
    with pytest.raises(ValueError, match="no parameter 'hidden_size'"):
        det.set_params(hidden_size=(8,))
