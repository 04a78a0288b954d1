"""Protocol: smoothing and the metrics dict."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mulde.evaluation import (
    EvaluationError,
    EvaluationProtocol,
    compute_metrics,
    macro_auc,
    micro_auc,
    smooth,
)

# normalised weights of a sigma=1 Gaussian kernel truncated at 4 sigma (scipy's default)
W = [math.exp(-(k**2) / 2) for k in range(5)]
W0 = 1 / (W[0] + 2 * sum(W[1:]))  # 0.398942...


# ----------------------------------------------------------------------------- smoothing


def test_smooth_sigma_zero_is_identity_copy():
    x = np.array([3, 1, 4, 1, 5], dtype=np.int64)
    out = smooth(x, 0)
    np.testing.assert_array_equal(out, x)
    assert out.dtype == np.float64
    out[0] = 99
    assert x[0] == 3


def test_smooth_impulse_hand_computed():
    out = smooth([0, 0, 0, 0, 1, 0, 0, 0, 0], 1.0)
    assert out[4] == pytest.approx(W0)
    assert out[3] == pytest.approx(W0 * W[1])
    assert out[2] == pytest.approx(W0 * W[2])


def test_smooth_reflect_boundary_hand_computed():
    # mode "reflect" extends [1, 0, 0, ...] as [..., 0, 1 | 1, 0, ...]: out[0] = w0 + w1
    x = np.zeros(12)
    x[0] = 1
    assert smooth(x, 1.0)[0] == pytest.approx(W0 * (W[0] + W[1]))  # 0.640913
    # "nearest" repeats the edge value: out[0] = w0 + w1 + w2 + w3 + w4
    assert smooth(x, 1.0, mode="nearest")[0] == pytest.approx(W0 * sum(W))


def test_smooth_rejects_bad_settings():
    for kwargs in ({"sigma": -1}, {"sigma": float("nan")}, {"sigma": 1, "mode": "edge"}):
        with pytest.raises(EvaluationError):
            smooth([1.0, 2.0], **kwargs)
    with pytest.raises(EvaluationError, match="1-D"):
        smooth(np.zeros((2, 2)), 1)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.floats(-1e3, 1e3, allow_subnormal=False), min_size=1, max_size=60),
    st.floats(0.1, 20),
)
def test_smooth_reflect_preserves_sum_and_constants(xs, sigma):
    # true for mode "reflect" (its filter matrix is symmetric with unit row sums), not "nearest"
    x = np.array(xs)
    assert smooth(x, sigma).sum() == pytest.approx(x.sum(), abs=1e-8 * (1 + np.abs(x).sum()))
    np.testing.assert_allclose(smooth(np.full_like(x, xs[0]), sigma), xs[0], rtol=1e-12)


# ----------------------------------------------------------------------------- object -> frame


def _toy():
    rng = np.random.default_rng(1)
    labels = {"a": np.r_[np.zeros(30), np.ones(20)], "b": np.zeros(40), "c": np.ones(25)}
    scores = {n: y + rng.normal(0, 0.8, y.size) for n, y in labels.items()}
    return scores, labels


def test_compute_metrics_smoothed_and_unsmoothed():
    scores, labels = _toy()
    m = compute_metrics(scores, labels, EvaluationProtocol(smoothing_sigma=3))
    smoothed = {n: smooth(s, 3) for n, s in scores.items()}  # per video, no leak across videos
    assert m["micro_auc"] == pytest.approx(micro_auc(smoothed, labels))
    assert m["micro_auc_unsmoothed"] == pytest.approx(micro_auc(scores, labels))
    mean, per_video = macro_auc(smoothed, labels)
    assert m["macro_auc"] == pytest.approx(mean)
    assert m["per_video_auc"] == pytest.approx(per_video)
    assert (m["n_videos"], m["n_frames"], m["n_anomalous_frames"]) == (3, 115, 45)
    assert m["protocol"]["smoothing_sigma"] == 3.0
    assert "sigma=3" in m["protocol"]["description"]
    json.dumps(m, allow_nan=False)


def test_compute_metrics_sigma_zero_twins_are_equal():
    scores, labels = _toy()
    m = compute_metrics(scores, labels, EvaluationProtocol(smoothing_sigma=0))
    for key in ("micro_auc", "macro_auc", "average_precision", "eer", "per_video_auc"):
        assert m[key] == m[key + "_unsmoothed"]
    assert "no temporal smoothing" in m["protocol"]["description"]


def test_protocol_validates_and_describes_padding():
    with pytest.raises(EvaluationError):
        EvaluationProtocol(smoothing_sigma=-1)
    with pytest.raises(ValueError):
        EvaluationProtocol(macro_padding="nope")
    p = EvaluationProtocol(macro_padding="video_max")
    assert p.to_dict()["macro_padding"] == "video_max"
    assert "the video's maximum score" in p.describe()
    assert "sys.float_info.max" in EvaluationProtocol().describe()
